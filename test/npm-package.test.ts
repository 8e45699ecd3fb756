// The published form, as a user gets it: `npm pack` (which runs scripts/build.ts) makes the
// tarball, `npm install -g --prefix` installs it offline into a scratch prefix, and the installed
// `beamix`, run with the user's `node` from a directory that has nothing to do with this
// repository, packs the fixture corpus into a registry, serves it (hex serve), builds from it,
// installs a profile, fills a Mix project's deps, and publishes, serves and substitutes binaries.
// Everything the bundle must find at run time (priv/, package.json, pako, the AWS SDK chunk, the
// definition types) is reached. The store it fills is then a no-op for the sources: both forms
// compute the same derivations.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { access, cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { beamix, runCommand, type CliResult } from "./support/cli.ts";
import { fixturesDir, fixturePackageDirs } from "./support/fixture-registry.ts";
import { startS3Server } from "./support/s3-server.ts";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));
const pkg = JSON.parse(await readFile(join(repoRoot, "package.json"), "utf8")) as { name: string; version: string };

let work: string;
let tarball: string;
let prefix: string;
let elsewhere: string; // the working directory of every installed-beamix command
let pathEnv: string;
let hexServe: Background | undefined;
let cacheServe: Background | undefined;
let packedFiles: string[];

// The environment of a user with beamix installed: its own home, data, cache and config
// directories, PATH with the prefix's bin and a `node` that is this Node (the machine's own may
// be older), and none of the variables the tests of the sources set.
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(BEAMIX_|HEX_|MIX_|ERL_|XDG_|NODE_|npm_)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, PATH: pathEnv, HOME: join(work, "home"), ...extra };
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return runCommand(cmd, args, { cwd: opts.cwd ?? elsewhere, env: opts.env ?? userEnv(), timeoutMs: opts.timeoutMs ?? 600_000 });
}

// The installed command, by name through PATH, as a user types it.
function installed(args: string[], extra: Record<string, string> = {}): Promise<CliResult> {
  return run("beamix", args, { env: userEnv(extra) });
}

function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.code, 0, `${what} (exit ${r.code})\n${r.stdout}\n${r.stderr}`);
  return r;
}

interface Background {
  url: string;
  stop(): Promise<number | null>;
}

// A server command of the installed beamix, until it prints its URL.
function background(args: string[]): Promise<Background> {
  const child = spawn("beamix", args, { cwd: elsewhere, env: userEnv(), stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("\n")) resolve({ url: out.trim(), stop: () => (child.kill("SIGTERM"), exited) });
    });
    child.on("error", reject);
    exited.then((code) => reject(new Error(`beamix ${args.join(" ")} exited with ${code}: ${err}`)));
  });
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-npm-package-"));
  elsewhere = join(work, "elsewhere");
  prefix = join(work, "prefix");
  await mkdir(elsewhere, { recursive: true });
  await mkdir(join(work, "home"), { recursive: true });
  // `node` on PATH is the Node running the tests: a user's Node 24 or later.
  const nodeBin = join(work, "node-bin");
  await mkdir(nodeBin);
  await symlink(process.execPath, join(nodeBin, "node"));
  pathEnv = [join(prefix, "bin"), nodeBin, process.env.PATH ?? ""].join(delimiter);

  const packed = await runCommand("npm", ["pack", "--json", "--pack-destination", work], { cwd: repoRoot, env: process.env, timeoutMs: 300_000 });
  assert.equal(packed.code, 0, packed.stderr);
  const info = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, info[0].filename);
  packedFiles = info[0].files.map((f) => f.path);
});

after(async () => {
  await hexServe?.stop();
  await cacheServe?.stop();
  await rm(work, { recursive: true, force: true });
});

test("the tarball holds what runs: the bundle, its launcher, priv/, and a manifest with nothing to install", async () => {
  assert.ok(packedFiles.includes("bin/beamix.js"));
  assert.ok(packedFiles.includes("dist/cli/main.js"));
  assert.ok(packedFiles.includes("priv/elixir/hex_scm_standin.exs"));
  assert.ok(packedFiles.includes("dist/derivation/definition.d.ts"));
  const stray = packedFiles.filter((f) => !/^(bin\/beamix\.js|dist\/|priv\/|package\.json$|README\.md$|LICENSE)/.test(f));
  assert.deepEqual(stray, [], "no sources, tests or benchmarks");
  const manifest = JSON.parse((await run("tar", ["-xOzf", tarball, "package/package.json"])).stdout) as Record<string, unknown>;
  assert.equal(manifest.private, undefined);
  assert.equal(manifest.dependencies, undefined, "the bundle holds every dependency");
  assert.equal(manifest.optionalDependencies, undefined, "installing beamix downloads no Node");
  assert.deepEqual(manifest.bin, { beamix: "bin/beamix.js" });
});

test("npx runs it from the tarball, offline", async () => {
  const r = ok(await run("npx", ["--yes", "--offline", "--no-update-notifier", "--package", tarball, "beamix", "--version"]), "npx beamix --version");
  assert.equal(r.stdout.trim(), pkg.version);
});

test("npm install -g installs it offline; beamix runs from any directory with the user's node", async () => {
  // A fresh HOME (an empty npm cache) and --offline: the package needs nothing from a registry.
  ok(await run("npm", ["install", "-g", "--offline", "--no-audit", "--no-fund", "--no-update-notifier", "--prefix", prefix, tarball]), "npm install -g");
  const v = ok(await installed(["--version"]), "beamix --version");
  assert.equal(v.stdout.trim(), pkg.version);
  const help = ok(await installed(["build", "--help"]), "beamix build --help");
  assert.match(help.stdout, /Usage: beamix build/);
  // Not the sources: the installed command runs the bundle in the prefix.
  const modules = await readdir(join(prefix, "lib", "node_modules", pkg.name));
  assert.deepEqual(modules.filter((m) => m === "src" || m === "node_modules"), []);
});

const repoDir = () => join(work, "repo");
const hexEnv = () => ({ HEX_MIRROR: hexServe!.url, BEAMIX_HEX_PUBLIC_KEY: join(repoDir(), "public_key") });

test("hex pack, hex registry build --generate-key and hex serve: a repository of the fixture corpus", async () => {
  for (const dir of await fixturePackageDirs()) ok(await installed(["hex", "pack", dir, "-o", join(repoDir(), "tarballs") + "/"]), `hex pack ${dir}`);
  ok(await installed(["hex", "registry", "build", repoDir(), "--private-key", join(work, "registry-key.pem"), "--generate-key"]), "hex registry build");
  hexServe = await background(["hex", "serve", repoDir(), "--port", "0"]);
  const info = ok(await installed(["hex", "info", "trellis", "--json"], hexEnv()), "hex info");
  assert.equal(JSON.parse(info.stdout).name, "trellis");
});

const store = () => join(work, "store");

test("beamix build from the served repository, in the sandbox; the sources then find everything built", async () => {
  const r = ok(await installed(["build", "trellis", "--store", store(), "--json"], hexEnv()), "beamix build trellis");
  const json = JSON.parse(r.stdout) as { built: number; roots: { path: string }[] };
  assert.ok(json.built >= 5, r.stdout);
  assert.match(json.roots[0].path, /-trellis-0\.9\.0$/);

  // Same derivations in both forms: the sources build nothing more.
  const again = await beamix(["build", "trellis", "--store", store(), "--json"], { env: { ...hexEnv(), BEAMIX_CACHE_DIR: join(work, "src-cache"), HEX_MIRROR_URL: "" } });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).built, 0);
  assert.deepEqual(JSON.parse(again.stdout).roots, json.roots);
});

test("beamix install: a profile whose erl loads the installed packages", async () => {
  const profile = join(work, "profile");
  ok(await installed(["install", "trellis", "--store", store(), "--profile", profile], hexEnv()), "beamix install trellis");
  const erl = await run(join(profile, "bin", "erl"), ["-noshell", "-eval", 'ok = application:load(trellis), ok = application:load(beacon), {ok, V} = application:get_key(beacon, vsn), io:format("~s~n", [V]), halt().']);
  assert.equal(erl.code, 0, erl.stderr);
  assert.equal(erl.stdout.trim(), "1.2.0");
});

test("beamix hex lock and beamix deps fill a Mix project's deps/ and _build/", async () => {
  const project = join(work, "hello_beacon");
  await cp(join(fixturesDir, "consumers", "hello_beacon"), project, { recursive: true });
  ok(await installed(["hex", "lock", project], hexEnv()), "beamix hex lock");
  assert.match(await readFile(join(project, "mix.lock"), "utf8"), /"beacon": \{:hex, :beacon, "1\.2\.0"/);
  ok(await installed(["deps", project, "--store", store(), "--env", "prod"], hexEnv()), "beamix deps");
  await access(join(project, "deps", "beacon", ".hex"));
  await access(join(project, "_build", "prod", "lib", "beacon", "ebin", "beacon.app"));
  // A fresh checkout of it is filled from the record that run left, by the bundle's own chunk.
  const checkout = join(work, "checkout", "hello_beacon");
  await cp(project, checkout, { recursive: true, filter: (src) => !/\/(deps|_build)$/.test(src) });
  const restored = ok(await installed(["deps", checkout, "--store", store(), "--env", "prod"], { ...hexEnv(), BEAMIX_REPLAY: "trace" }), "beamix deps in a fresh checkout");
  assert.match(restored.stderr, /^beamix: restored a fresh checkout from its record\n/);
  await access(join(checkout, "_build", "prod", "lib", "beacon", "ebin", "beacon.app"));
});

test("beamix import hex writes definitions whose types the package ships; -L builds with them", async () => {
  const defs = join(work, "defs");
  ok(await installed(["import", "hex", "trellis", "--recursive", "-o", defs], hexEnv()), "beamix import hex");
  const text = await readFile(join(defs, "trellis.ts"), "utf8");
  const typesPath = /import type \{ Definition \} from "([^"]+)"/.exec(text)?.[1];
  assert.ok(typesPath, text);
  await access(typesPath.replace(/\.ts$/, ".d.ts"));
  const r = ok(await installed(["build", "trellis", "-L", defs, "--store", store(), "--json"], hexEnv()), "beamix build -L");
  assert.equal(JSON.parse(r.stdout).built, 0, "an unedited definition is the automatic one");
});

test("beamix publish, serve and a build that substitutes everything", async () => {
  ok(await installed(["key", "generate", "ci", "-o", join(work, "keys")]), "beamix key generate");
  const cache = join(work, "cache");
  ok(await installed(["publish", "trellis", "--store", store(), "--to", `file://${cache}`, "--sign-with", join(work, "keys", "ci.secret")], hexEnv()), "beamix publish");
  cacheServe = await background(["serve", "--cache", cache, "--port", "0"]);
  const r = ok(
    await installed(["build", "trellis", "--store", join(work, "store-2"), "--substituters", cacheServe.url, "--trusted-key", join(work, "keys", "ci.public"), "--json"], hexEnv()),
    "beamix build --substituters",
  );
  const json = JSON.parse(r.stdout) as { built: number; substituted: number };
  assert.equal(json.built, 0, r.stderr);
  assert.ok(json.substituted >= 5, r.stdout);
});

// The `run` script of a step of action.yml, as GitHub runs it (bash -eo pipefail).
async function actionStep(name: string): Promise<string> {
  const text = await readFile(join(repoRoot, "action.yml"), "utf8");
  const m = new RegExp(`\\n    - name: ${name}\\n(?:      (?!run:).*\\n|\\n)*?      run: \\|\\n((?:        .*\\n|\\n)+)`).exec(text);
  assert.ok(m, `action.yml has no step ${name} with a run script`);
  return m[1].replace(/^ {8}/gm, "");
}

test("action.yml's beamix deps step: substitutes from the served cache, pushes what the project uses", async () => {
  const project = join(work, "action-project");
  await cp(join(fixturesDir, "consumers", "hello_beacon"), project, { recursive: true });
  ok(await installed(["hex", "lock", project], hexEnv()), "beamix hex lock");
  const script = join(work, "action-deps.sh");
  await writeFile(script, await actionStep("beamix deps"));
  const pushed = join(work, "pushed-cache");
  const trustedKey = (await readFile(join(work, "keys", "ci.public"), "utf8")).trim();
  const signingKey = (await readFile(join(work, "keys", "ci.secret"), "utf8")).trim();
  const runStep = (extra: Record<string, string>) =>
    runCommand("bash", ["--noprofile", "--norc", "-eo", "pipefail", script], {
      cwd: project,
      timeoutMs: 600_000,
      env: userEnv({
        ...hexEnv(),
        BEAMIX_STORE: join(work, "store-action"),
        RUNNER_TEMP: join(work, "runner-temp"),
        MIX_ENV_INPUT: "prod",
        SUBSTITUTERS: `${cacheServe!.url}\nfile://${join(work, "no-such-cache")}`,
        TRUSTED_KEYS: trustedKey,
        PUSH_TO: `file://${pushed}`,
        SIGNING_KEY: signingKey,
        SANDBOX: "true",
        ...extra,
      }),
    });
  await mkdir(join(work, "runner-temp"));
  const feature = ok(await runStep({ PUSH_WHEN: "default-branch", ON_DEFAULT_BRANCH: "false" }), "the step on a feature branch");
  assert.match(feature.stderr, /substituted/);
  await assert.rejects(access(pushed), "no push from another branch");
  await access(join(project, "_build", "prod", "lib", "beacon", "ebin", "beacon.app"));

  ok(await runStep({ PUSH_WHEN: "default-branch", ON_DEFAULT_BRANCH: "true" }), "the step on the default branch");
  assert.ok((await readdir(pushed)).some((f) => f.endsWith(".beamixinfo")));
  await assert.rejects(access(join(work, "runner-temp", "beamix-signing.secret")), "the secret key is removed");
});

test("beamix publish to S3 (s3rver on loopback): the bundled AWS SDK loads and signs its requests", async () => {
  const s3 = await startS3Server(join(work, "s3"));
  try {
    const r = ok(
      await installed(["publish", "trellis", "--store", store(), "--to", `s3://${s3.bucket}/beamix`, "--sign-with", join(work, "keys", "ci.secret"), "--json"], { ...hexEnv(), ...s3.env }),
      "beamix publish --to s3://",
    );
    assert.ok((JSON.parse(r.stdout) as { pushed: string[] }).pushed.length >= 5, r.stdout);
  } finally {
    await s3.close();
  }
});
