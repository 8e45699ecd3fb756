// End to end through the CLI: the fixture corpus is served as a signed registry on loopback and
// built with `beamix build` into fresh stores, in the sandbox.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile, access } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beamix, runCommand, type CliResult } from "./support/cli.ts";
import { fixturesDir, makeFixtureRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { openStore } from "../src/store/store.ts";
import { compareVersions } from "../src/elixir/version.ts";
import { detectToolchain } from "../src/toolchain/detect.ts";

const standin = fileURLToPath(new URL("../priv/elixir/hex_scm_standin.exs", import.meta.url));
const mainJs = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

let work: string;
let registry: FixtureRegistry;
let server: StaticServer;

let elixirVersion: string; // of the Elixir on PATH, which the consumers' Mix runs

before(async () => {
  elixirVersion = (await detectToolchain({ cacheDir: null })).elixirVersion!;
  work = await mkdtemp(join(tmpdir(), "beamix-build-e2e-"));
  registry = await makeFixtureRegistry(join(work, "repo"));
  server = await startStaticServer({ root: registry.dir });
});

after(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

const repoArgs = () => ["--repo", server.url, "--public-key", registry.publicKeyPath];
const env = () => ({ BEAMIX_CACHE_DIR: join(work, "cache"), HEX_MIRROR: "", HEX_MIRROR_URL: "" });

async function build(store: string, specs: string[], extra: string[] = []): Promise<CliResult & { json: BuildJson }> {
  const r = await beamix(["build", ...specs, "--store", store, ...repoArgs(), "--json", ...extra], { env: env(), timeoutMs: 600_000 });
  let json: BuildJson;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw new Error(`beamix build ${specs.join(" ")} printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { ...r, json };
}

interface BuildJson {
  roots: { name: string; version: string; path: string | null }[];
  built: number;
  present: number;
  failed: { name: string; message: string; logPath?: string; keptDir?: string }[];
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return runCommand(cmd, args, { ...opts, timeoutMs: 300_000 });
}

// lib/erlang/lib/<app>-<vsn> of every item in the store's closure of `paths`.
async function libDirs(storeDir: string, paths: string[]): Promise<string[]> {
  const store = await openStore(storeDir);
  try {
    return store.closure(paths).map((p) => join(p, "lib", "erlang", "lib"));
  } finally {
    await store.close();
  }
}

async function appDirs(libs: string[]): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const l of libs) for (const d of await readdir(l)) m.set(d.replace(/-[^-]+$/, ""), join(l, d));
  return m;
}

const storeA = () => join(work, "store-a");

test("the fixture corpus builds from the loopback registry; a second build finds it all present", async () => {
  const r = await build(storeA(), ["trellis", "nifsum", "confetti", "wirecodec"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.json.failed, []);
  assert.equal(r.json.built, 8); // jsonish and wireserve are optional: nothing requires them here
  for (const root of r.json.roots) assert.ok(root.path && root.path.startsWith(storeA()), JSON.stringify(root));
  assert.match(r.stderr, /built, 0 already present, 0 failed/);

  const again = await build(storeA(), ["trellis", "nifsum", "confetti", "wirecodec"]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.json.built, 0);
  assert.deepEqual(again.json.roots, r.json.roots);

  // beacon 2.0.0 cannot share a closure with trellis (which needs ~> 1.2), so it is its own build.
  const b2 = await build(storeA(), ["beacon@~> 2.0"]);
  assert.equal(b2.code, 0, b2.stderr);
  assert.match(b2.json.roots[0].path!, /-beacon-2\.0\.0$/);
});

test("sockadapt compiles its adapter exactly when the optional wireserve is in the closure", async () => {
  const without = await build(storeA(), ["trellis"]);
  const withWs = await build(storeA(), ["trellis", "wireserve"]);
  assert.equal(withWs.code, 0, withWs.stderr);
  const find = async (paths: string[]) => (await appDirs(await libDirs(storeA(), paths))).get("sockadapt")!;
  const a = await find(without.json.roots.map((x) => x.path!));
  const b = await find(withWs.json.roots.map((x) => x.path!));
  assert.notEqual(a, b, "sockadapt must be a different item when wireserve is an input");
  const adapter = "Elixir.Sockadapt.WireserveAdapter.beam";
  assert.ok(!(await readdir(join(a, "ebin"))).includes(adapter));
  assert.ok((await readdir(join(b, "ebin"))).includes(adapter));
});

test("consumer apps compile against the store items through ERL_LIBS only and pass their tests; the NIF loads", async () => {
  // webapp's config sets mimetable's compile-time types: mimetable (and what depends on it) is
  // built for that config, as Mix would compile it as a dependency of webapp.
  const webConfig = join(fixturesDir, "consumers", "webapp", "config", "config.exs");
  const r = await build(storeA(), ["trellis", "sockadapt", "wireserve", "jsonish", "nifsum", "confetti"], ["--config", webConfig]);
  assert.equal(r.code, 0, r.stderr);
  const webLibs = await libDirs(storeA(), r.json.roots.map((x) => x.path!));
  const hb = await build(storeA(), ["beacon@~> 1.1"]);
  const hbLibs = await libDirs(storeA(), hb.json.roots.map((x) => x.path!));

  for (const [name, libs] of [["webapp", webLibs], ["hello_beacon", hbLibs]] as const) {
    const dir = join(work, "consumers", name);
    await cp(join(fixturesDir, "consumers", name), dir, { recursive: true });
    const envs = {
      PATH: process.env.PATH,
      HOME: join(work, "home"),
      MIX_HOME: join(work, "mixhome"),
      HEX_HOME: join(work, "hexhome"),
      LANG: "C.UTF-8",
      MIX_ENV: "test",
      ERL_LIBS: libs.join(":"),
    };
    // Mix 1.15+ drops the code paths that are not its dependencies' (here ERL_LIBS's) unless the
    // project says not to (`mix test` takes no --no-prune-code-paths).
    if (compareVersions(elixirVersion, "1.15.0") >= 0) {
      const mixExs = join(dir, "mix.exs");
      await writeFile(mixExs, (await readFile(mixExs, "utf8")).replace(/(\n\s+)app: /, "$1prune_code_paths: false,$1app: "));
    }
    const t = await run("elixir", ["-r", standin, "-S", "mix", "test", "--no-deps-check"], { cwd: dir, env: envs });
    assert.equal(t.code, 0, `${name}: mix test\n${t.stdout}\n${t.stderr}`);
    assert.match(t.stdout, /\d+ tests?, 0 failures/);
    // Only the project itself was compiled: no dependency was.
    assert.doesNotMatch(t.stdout + t.stderr, /==> (beacon|trellis|plugboard|mimetable|nifsum)/);
  }

  const apps = await appDirs(webLibs);
  assert.ok(apps.has("confetti_app"));
  const nif = await run("erl", ["-noshell", "-eval", "io:format(\"~p~n\", [code:priv_dir(nifsum)]), halt()."], { env: { ...process.env, ERL_LIBS: webLibs.join(":") } });
  assert.equal(nif.code, 0);
  await access(join(apps.get("nifsum")!, "priv"));
});

test("two stores at different paths get identical output hashes; --check says bit-identical", async () => {
  const storeB = join(work, "elsewhere", "deeper", "store-b");
  const specs = ["trellis", "nifsum", "confetti", "wirecodec"];
  const a = await build(storeA(), specs);
  const b = await build(storeB, specs);
  assert.equal(b.code, 0, b.stderr);
  const items = async (dir: string) => {
    const s = await openStore(dir);
    try {
      return new Map(s.listItems().map((i) => [`${i.drvHash}-${i.name}-${i.version}`, i.narHash]));
    } finally {
      await s.close();
    }
  };
  const ia = await items(storeA());
  const ib = await items(storeB);
  assert.equal(ib.size, 8);
  for (const [k, h] of ib) assert.equal(ia.get(k), h, `output of ${k}`);
  assert.deepEqual(a.json.roots.map((r) => r.path!.split("/").pop()), b.json.roots.map((r) => r.path!.split("/").pop()));

  const check = await beamix(["build", "--check", "beacon@~> 1.2", "wirecodec", "mimetable", "--store", storeB, ...repoArgs()], { env: env(), timeoutMs: 300_000 });
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /beacon 1\.2\.0: bit-identical/);
  assert.match(check.stdout, /wirecodec 1\.0\.0: bit-identical/);
  assert.match(check.stdout, /mimetable 1\.0\.0: bit-identical/);
});

test("a failing build leaves nothing in the store, keeps its directory on request, and stores its log", async () => {
  const broken = join(work, "broken_pkg");
  await mkdir(join(broken, "lib"), { recursive: true });
  await writeFile(
    join(broken, "mix.exs"),
    `defmodule BrokenPkg.MixProject do
  use Mix.Project
  def project, do: [app: :broken_pkg, version: "0.1.0", deps: [{:beacon, "~> 1.1"}], package: [licenses: ["Apache-2.0"]], description: "fails"]
end
`,
  );
  await writeFile(join(broken, "lib", "broken.ex"), "defmodule Broken do\n  def oops(, do: 1\nend\n");
  const store = join(work, "store-fail");
  const r = await build(store, [broken], ["--keep-failed"]);
  assert.equal(r.code, 1);
  assert.equal(r.json.failed.length, 1);
  assert.match(r.json.failed[0].message, /broken_pkg/);
  const kept = r.json.failed[0].keptDir!;
  assert.match(await readFile(join(kept, "environment-variables"), "utf8"), /ERL_COMPILER_OPTIONS=/);
  assert.match(r.stderr, /build directory kept: /);
  const log = await beamix(["log", broken, "--store", store, ...repoArgs()], { env: env() });
  assert.equal(log.code, 0, log.stderr);
  // Elixir 1.14 says SyntaxError, 1.18 (seen here) MismatchedDelimiterError ... on lib/broken.ex.
  assert.match(log.stdout, /(SyntaxError\)|MismatchedDelimiterError\) .*) lib\/broken\.ex/);
  const s = await openStore(store);
  try {
    assert.deepEqual(s.listItems().map((i) => i.name), ["beacon"]);
  } finally {
    await s.close();
  }
  assert.ok(!(await readdir(store)).some((e) => e.includes("broken_pkg")));
  await rm(kept, { recursive: true, force: true });
});

test("killing beamix mid-build and running it again completes with no stale state", async () => {
  const store = join(work, "store-kill");
  const child = spawn(process.execPath, [mainJs, "build", "trellis", "--store", store, ...repoArgs(), "-j", "2"], {
    env: { ...process.env, ...env() },
    stdio: ["ignore", "ignore", "pipe"],
  });
  // Wait until some build has started (and ideally finished), then SIGKILL the whole thing.
  await new Promise<void>((resolve) => {
    let seen = "";
    child.stderr.on("data", (d) => {
      seen += d;
      if (/built .* in /.test(seen)) resolve();
    });
    child.on("close", () => resolve());
  });
  child.kill("SIGKILL");
  await new Promise((r) => child.on("close", r));
  const r = await build(store, ["trellis"]);
  assert.equal(r.code, 0, r.stderr);
  const v = await beamix(["verify", "--store", store, "--json"]);
  assert.equal(v.code, 0, v.stderr);
  const report = JSON.parse(v.stdout) as { problems: unknown[]; checked: number };
  assert.deepEqual(report.problems, []);
  assert.equal(report.checked, r.json.built + r.json.present);
});

test("path, log, gc and verify", async () => {
  const store = join(work, "store-a");
  const p = await beamix(["path", "beacon@~> 1.2", "--store", store, ...repoArgs()], { env: env() });
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /-beacon-1\.2\.0\n$/);
  const log = await beamix(["log", "beacon@~> 1.2", "--store", store, ...repoArgs()], { env: env() });
  assert.equal(log.code, 0, log.stderr);
  assert.match(log.stdout, /rebar3/);

  const missing = await beamix(["path", "beacon@~> 1.1", "--store", join(work, "empty-store"), ...repoArgs()], { env: env() });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /not in the store yet: beacon 1\.2\.0/);

  // Nothing roots the items of store-a: gc frees them all, and verify then checks nothing.
  const dry = await beamix(["gc", "--dry-run", "--store", store, "--json"]);
  const plan = JSON.parse(dry.stdout) as { freed: unknown[] };
  assert.ok(plan.freed.length >= 8);
  const gc = await beamix(["gc", "--store", store, "--json"]);
  assert.equal((JSON.parse(gc.stdout) as { freed: unknown[] }).freed.length, plan.freed.length);
  const v = await beamix(["verify", "--store", store]);
  assert.match(v.stdout, /0 items checked/);
});
