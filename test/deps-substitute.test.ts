// `beamix deps` with binary substitutes, end to end through the CLI, on the fixture webapp: store A
// builds the project's dependencies and pushes them (with their compile-env hints) to a file://
// cache; fresh stores trusting A's key then realize them with zero builds, Mix compiles only the
// project and its tests pass. A compile-time config no cache has seen builds exactly the packages
// that read it and their dependents; a hint that lies or is damaged only costs a build; and
// `beamix install` / `beamix shell` substitute too.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, readdir, readFile, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { machineEnv } from "./support/machine-env.ts";
import { beamix, runCommand, type CliResult } from "./support/cli.ts";
import { makeFixtureRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { HexRepo } from "../src/hex/registry/client.ts";
import { openStore } from "../src/store/store.ts";
import { parseHint } from "../src/substitute/format/compile-env-hints.ts";
import { formatSharedAnswers, signSharedAnswers } from "../src/substitute/format/mix-answers.ts";
import { DEPS_RECORD } from "../src/substitute/format/deps-record.ts";
import { formatDocument, signDocument } from "../src/substitute/format/signed-document.ts";
import { readSecretKeyFile } from "../src/signing/keys.ts";
import { cleanEnv } from "../bench/mix-baseline.ts";
import { treeListing } from "./support/tree-listing.ts";
import { depsStateFile } from "../src/deps/deps-state.ts";
import { LOCK_STANDIN, webappProject } from "../bench/deps-bench.ts";


let work: string;
let registry: FixtureRegistry;
let server: StaticServer;
let repo: HexRepo;
let secretKey: string;
let publicKey: string;
let template: string; // the webapp with its mix.lock
let cacheDir: string;
let pushedA: DepsJson;

const storeDir = (name: string) => join(work, "stores", name);
const repoArgs = () => ["--repo", server.url, "--public-key", registry.publicKeyPath];
const env = (machine: string) => machineEnv(work, machine);
const trust = (cache = cacheDir) => ["--substituters", `file://${cache}`, "--trusted-key", publicKey];

interface DepsJson {
  packages: { app: string; name: string; status: string; item: string | null; substitutedFrom?: string; reads: { app: string; key: string }[] | null }[];
  changed: boolean;
  push?: { cache: string; pushed: string[]; present: string[]; hints: string[]; mixAnswers: boolean; restoreRecord: boolean };
}

// `extraEnv`: BEAMIX_REPLAY=off keeps a fresh checkout on the full path, which a cache's restore
// record would otherwise fill (shared-restore.ts); trace says which way it went.
async function deps(machine: string, dir: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<CliResult & { json: DepsJson }> {
  const r = await beamix(["deps", dir, "--env", "test", "--store", storeDir(machine), "--json", ...repoArgs(), ...args], { env: { ...env(machine), ...extraEnv }, timeoutMs: 900_000 });
  let json: DepsJson;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw new Error(`beamix deps ${dir} ${args.join(" ")} printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { ...r, json };
}

const withStatus = (j: DepsJson, status: string) => j.packages.filter((p) => p.status === status).map((p) => p.name).sort();

async function project(as: string, edit?: (config: string) => string): Promise<string> {
  const dir = join(work, "projects", as);
  await cp(template, dir, { recursive: true });
  if (edit) {
    const config = join(dir, "config", "config.exs");
    await writeFile(config, edit(await readFile(config, "utf8")));
  }
  return dir;
}

// mimetable reads `types` at compile time; this changes it.
const LOG_TYPES = (text: string) => {
  const changed = text.replace(`"text/x-webapp-log" => ["text"]`, `"text/x-webapp-log" => ["text", "log"]`);
  assert.notEqual(changed, text);
  return changed;
};

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return runCommand(cmd, args, { cwd, env, timeoutMs: 600_000 });
}

// Mix as a user runs it, with the stand-in that checks dependencies as Hex does.
async function mix(dir: string, args: string[]): Promise<CliResult> {
  const home = await mkdtemp(join(work, "home-"));
  return run("elixir", ["-r", LOCK_STANDIN, "-S", "mix", ...args], dir, cleanEnv({ HOME: home, MIX_HOME: join(home, "mix"), HEX_HOME: join(home, "hex"), MIX_ENV: "test", LANG: "C.UTF-8" }));
}

async function storeItems(dir: string) {
  const s = await openStore(dir);
  try {
    return new Map(s.listItems().map((i) => [basename(i.path), i]));
  } finally {
    await s.close();
  }
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-deps-substitute-"));
  registry = await makeFixtureRegistry(join(work, "repo"));
  server = await startStaticServer({ root: registry.dir });
  repo = new HexRepo({ name: "hexpm", url: server.url, publicKeyPem: registry.publicKeyPem, cacheDir: join(work, "lock-cache") });
  template = await webappProject(join(work, "template", "webapp"), repo);
  const keys = await beamix(["key", "generate", "deps-cache-1", "-o", join(work, "keys")], { env: env("keys") });
  assert.equal(keys.code, 0, keys.stderr);
  [secretKey, publicKey] = keys.stdout.trim().split("\n");
  cacheDir = join(work, "cache");

  // Store A (CI): builds everything, pushes what the project uses.
  const a = await deps("a", await project("a"), ["--no-substitutes", "--push", "--to", `file://${cacheDir}`, "--sign-with", secretKey]);
  assert.equal(a.code, 0, a.stderr);
  pushedA = a.json;
});

after(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

test("--push publishes every dependency the project uses, signed, with one compile-env hint per package", async () => {
  const names = pushedA.packages.map((p) => p.name).sort();
  assert.equal(names.length, 10);
  assert.deepEqual(withStatus(pushedA, "built"), names);
  assert.deepEqual(pushedA.push!.pushed.sort(), pushedA.packages.map((p) => p.item!).sort());
  assert.deepEqual(pushedA.push!.present, []);
  assert.equal(pushedA.push!.hints.length, 10);
  const records = (await readdir(cacheDir)).filter((f) => f.endsWith(".beamixinfo"));
  assert.equal(records.length, 10);
  const hints = await readdir(join(cacheDir, "compile-env"));
  assert.deepEqual(hints.sort(), pushedA.push!.hints.map((b) => `${b}.json`).sort());
  const byName = new Map<string, string[][][]>();
  for (const f of hints) {
    const h = parseHint(await readFile(join(cacheDir, "compile-env", f), "utf8"), f, f.slice(0, -".json".length));
    byName.set(h.name, h.readSets.map((s) => s.map((x) => [x.app, x.key])));
  }
  assert.deepEqual(byName.get("mimetable"), [[["mimetable", "statuses"], ["mimetable", "types"]]]);
  assert.deepEqual(byName.get("plugboard"), [[]]);

  // Pushing again: everything is there, no hint needs writing.
  const again = await deps("a", join(work, "projects", "a"), ["--push", "--to", `file://${cacheDir}`, "--sign-with", secretKey]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.json.push!.pushed.length, 0);
  assert.equal(again.json.push!.present.length, 10);
  assert.deepEqual(again.json.push!.hints, []);
  assert.match(again.stderr, /^0 pushed, 10 already in file:\/\/.*; 0 compile-env hints written; Mix's answers about the project; the project's restore record$/m);

  // --push is checked before anything runs.
  const noKey = await beamix(["deps", join(work, "projects", "a"), "--push", "--to", `file://${cacheDir}`], { env: env("a") });
  assert.equal(noKey.code, 2, noKey.stderr);
  assert.match(noKey.stderr, /--push needs --to URL and --sign-with KEY/);
});

const FULL_PATH = { BEAMIX_REPLAY: "off" };

test("a fresh store trusting the key: zero builds, all substituted; mix compile compiles only the project and mix test passes", async () => {
  const dir = await project("b");
  const b = await deps("b", dir, trust(), FULL_PATH);
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual(withStatus(b.json, "substituted"), pushedA.packages.map((p) => p.name).sort());
  assert.ok(b.json.packages.every((p) => p.substitutedFrom === `file://${cacheDir}`));
  assert.match(b.stderr, /^0 built, 10 substituted, 0 already present, 10 written, 0 unchanged/m);
  assert.doesNotMatch(b.stderr, /building |cannot substitute|ignoring/);
  // The very items of store A, by name and by content.
  const itemsA = await storeItems(storeDir("a"));
  const itemsB = await storeItems(storeDir("b"));
  assert.deepEqual([...itemsB.keys()].sort(), b.json.packages.map((p) => basename(p.item!)).sort());
  for (const [name, item] of itemsB) assert.equal(item.narHash, itemsA.get(name)?.narHash, name);
  const v = await beamix(["verify", "--store", storeDir("b"), "--json"]);
  assert.deepEqual(JSON.parse(v.stdout).problems, []);

  const compile = await mix(dir, ["compile"]);
  assert.equal(compile.code, 0, compile.stdout + compile.stderr);
  const out = compile.stdout + compile.stderr;
  assert.doesNotMatch(out, /==> /, out);
  assert.equal(out.match(/Compiling \d+ files? \(/g)?.length, 1, out);
  assert.match(out, /Compiling 6 files \(\.ex\)\n/);
  const t = await mix(dir, ["test"]);
  assert.equal(t.code, 0, t.stdout + t.stderr);
  assert.match(t.stdout, /\d+ tests?, 0 failures/);

  // Store B now knows the read sets itself: no cache needed to find its items again.
  const again = await deps("b", await project("b2"), ["--no-substitutes"]);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(again.json.packages.every((p) => p.status === "present"), JSON.stringify(again.json.packages));
});

// An Elixir install that notes every start of its elixir (the VM that would read the project)
// and then runs the real one: lib/ is the real install's, so it is a real install to beamix.
async function loggedElixir(name: string): Promise<{ elixir: string; log: string }> {
  const which = await run("sh", ["-c", "command -v elixir"], work, process.env);
  const real = await realpath(which.stdout.trim());
  const dir = join(work, name);
  const log = join(dir, "started.log");
  await mkdir(join(dir, "bin"), { recursive: true });
  await symlink(join(real, "..", "..", "lib"), join(dir, "lib"));
  for (const tool of ["mix", "iex"]) await symlink(join(real, "..", tool), join(dir, "bin", tool));
  const elixir = join(dir, "bin", "elixir");
  await writeFile(elixir, `#!/bin/sh\necho "$*" >> '${log}'\nexec '${real}' "$@"\n`, { mode: 0o755 });
  return { elixir, log };
}

const startsOf = (log: string) => readFile(log, "utf8").then((t) => t.split("\n").filter(Boolean), () => [] as string[]);

test("Mix's answers come with the items: a machine that never ran the project starts no Elixir VM; answers whose signature fails, or that name a path with '..', are not used", async () => {
  assert.equal(pushedA.push!.mixAnswers, true);
  const [answers] = await readdir(join(cacheDir, "mix-answers"));
  assert.match(answers, /^[0-9a-f]{64}\.json$/);

  const { elixir, log } = await loggedElixir("logged-elixir");
  const dir = await project("h");
  const h = await deps("h", dir, [...trust(), "--elixir", elixir], FULL_PATH);
  assert.equal(h.code, 0, h.stderr);
  assert.deepEqual(await startsOf(log), [], "no Elixir VM started");
  assert.doesNotMatch(h.stderr, /ignoring/);
  assert.deepEqual(withStatus(h.json, "substituted"), pushedA.packages.map((p) => p.name).sort());
  assert.deepEqual(h.json.packages.map((p) => [p.app, basename(p.item!)]).sort(), pushedA.packages.map((p) => [p.app, basename(p.item!)]).sort());
  const compile = await mix(dir, ["compile"]);
  assert.equal(compile.code, 0, compile.stdout + compile.stderr);
  assert.doesNotMatch(compile.stdout + compile.stderr, /==> /);
  assert.match(compile.stdout + compile.stderr, /Generated webapp app/);

  // A cache whose answers were changed after they were signed: said, passed, and Mix is asked.
  const damaged = join(work, "cache-damaged-answers");
  await cp(cacheDir, damaged, { recursive: true });
  const file = join(damaged, "mix-answers", answers);
  const shared = JSON.parse(await readFile(file, "utf8"));
  await writeFile(file, JSON.stringify({ ...shared, body: shared.body.replace('"rebar":{', '"rebar":{"x":"eA=="') }));
  const i = await deps("i", await project("i"), [...trust(damaged), "--elixir", elixir], FULL_PATH);
  assert.equal(i.code, 0, i.stderr);
  assert.match(i.stderr, /^ignoring the Mix answers of file:\/\/.*cache-damaged-answers: signature by deps-cache-1 does not verify$/m);
  assert.ok((await startsOf(log)).length > 0, "Mix was asked");
  assert.deepEqual(i.json.packages.map((p) => [p.app, basename(p.item!)]).sort(), pushedA.packages.map((p) => [p.app, basename(p.item!)]).sort());

  // Signed answers naming a path with "..": once moved it would lead out of the project, and
  // Mix never answers so. Not used: Mix is asked.
  const climbing = join(work, "cache-climbing-answers");
  await cp(cacheDir, climbing, { recursive: true });
  const body = JSON.parse(shared.body);
  body.project.files.push(["/.beamix-shared-project/../no-such-file", null]); // absent here too
  const resigned = signSharedAnswers({ key: shared.key, body: JSON.stringify(body), signatures: [] }, await readSecretKeyFile(secretKey));
  await writeFile(join(climbing, "mix-answers", answers), formatSharedAnswers(resigned));
  const starts = (await startsOf(log)).length;
  const j = await deps("j", await project("j"), [...trust(climbing), "--elixir", elixir], FULL_PATH);
  assert.equal(j.code, 0, j.stderr);
  assert.ok((await startsOf(log)).length > starts, "Mix was asked");
  assert.equal(withStatus(j.json, "substituted").length, 10);
});

test("a checkout on a machine that never ran the project is filled from the cache's restore record: the same files; Mix compiles only the project", async () => {
  assert.equal(pushedA.push!.restoreRecord, true);
  const records = (await readdir(join(cacheDir, "deps-records"))).filter((f) => f.endsWith(".json"));
  assert.equal(records.length, 1);
  assert.ok((await readdir(join(cacheDir, "deps-records", "packs"))).length >= 10);

  // (The toolchain as found on PATH: a run that names one, e.g. with --elixir, is never answered from a record.)
  const dir = await project("r");
  const r = await deps("r", dir, trust(), { BEAMIX_REPLAY: "trace" });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^beamix: restored a fresh checkout from a cache's record$/m);
  assert.doesNotMatch(r.stderr, /ignoring|cannot substitute|building /);
  const names = pushedA.packages.map((p) => p.name).sort();
  assert.deepEqual(withStatus(r.json, "substituted"), names);
  assert.ok(r.json.packages.every((p) => p.substitutedFrom === `file://${cacheDir}`));
  assert.deepEqual(r.json.packages.map((p) => [p.app, basename(p.item!)]).sort(), pushedA.packages.map((p) => [p.app, basename(p.item!)]).sort());
  // What the full path wrote on the machine that pushed, file for file.
  const a = join(work, "projects", "a");
  for (const sub of ["deps", "_build/test/lib"]) assert.deepEqual(await treeListing(dir, sub), await treeListing(a, sub), sub);
  const v = await beamix(["verify", "--store", storeDir("r"), "--json"]);
  assert.deepEqual(JSON.parse(v.stdout).problems, []);
  const compile = await mix(dir, ["compile"]);
  assert.equal(compile.code, 0, compile.stdout + compile.stderr);
  assert.doesNotMatch(compile.stdout + compile.stderr, /==> /);
  assert.match(compile.stdout + compile.stderr, /Generated webapp app/);

  // Then as after any run: nothing changed is replayed, another checkout is restored locally,
  // and the store finds its items by their read sets without a cache.
  const same = await deps("r", dir, trust(), { BEAMIX_REPLAY: "trace" });
  assert.equal(same.code, 0, same.stderr);
  assert.match(same.stderr, /^beamix: replayed: nothing changed$/m);
  // The state it left has the key the full path computes here.
  const stateFile = depsStateFile(env("r").BEAMIX_CACHE_DIR!, dir, "test");
  const keyOf = async () => (JSON.parse(await readFile(stateFile, "utf8")) as { key: string }).key;
  const restoredKey = await keyOf();
  const full = await deps("r", dir, trust(), FULL_PATH);
  assert.equal(full.code, 0, full.stderr);
  assert.match(full.stderr, /^0 built, 0 substituted, 10 already present, 0 written, 10 unchanged/m);
  assert.equal(await keyOf(), restoredKey);
  const own = await deps("r", await project("r2"), trust(), { BEAMIX_REPLAY: "trace" });
  assert.equal(own.code, 0, own.stderr);
  assert.match(own.stderr, /^beamix: restored a fresh checkout from its record$/m);
  const offline = await deps("r", await project("r3"), ["--no-substitutes"]);
  assert.equal(offline.code, 0, offline.stderr);
  assert.ok(offline.json.packages.every((p) => p.status === "present"), JSON.stringify(offline.json.packages));
});

test("a cache's restore record is used only as signed, for the same files and toolchain: else the full path runs", async () => {
  const [record] = (await readdir(join(cacheDir, "deps-records"))).filter((f) => f.endsWith(".json"));
  // Changed after it was signed: said, passed.
  const damaged = join(work, "cache-damaged-record");
  await cp(cacheDir, damaged, { recursive: true });
  const file = join(damaged, "deps-records", record);
  const doc = JSON.parse(await readFile(file, "utf8"));
  await writeFile(file, JSON.stringify({ ...doc, body: doc.body.replace('"mixEnv":"test"', '"mixEnv":"prod"') }));
  const d = await deps("d1", await project("d1"), trust(damaged), { BEAMIX_REPLAY: "trace" });
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stderr, /^ignoring the restore record of file:\/\/.*cache-damaged-record: signature by deps-cache-1 does not verify$/m);
  assert.doesNotMatch(d.stderr, /from a cache's record/);
  assert.equal(withStatus(d.json, "substituted").length, 10);

  // Signed, but made with another toolchain (here: another Elixir): the items would not be this
  // toolchain's. The full path.
  const otherTool = join(work, "cache-other-toolchain");
  await cp(cacheDir, otherTool, { recursive: true });
  const body = JSON.parse(doc.body);
  body.toolchain[4] = `${body.toolchain[4]}-other`;
  const resigned = signDocument(DEPS_RECORD, { key: doc.key, body: JSON.stringify(body), signatures: [] }, await readSecretKeyFile(secretKey));
  await writeFile(join(otherTool, "deps-records", record), formatDocument(DEPS_RECORD, resigned));
  const t = await deps("d0", await project("d0"), trust(otherTool), { BEAMIX_REPLAY: "trace" });
  assert.equal(t.code, 0, t.stderr);
  assert.doesNotMatch(t.stderr, /from a cache's record|ignoring/);
  // (What it fetched while erl was asked is in the store, as what the items' identities say.)
  assert.deepEqual(withStatus(t.json, "built"), []);

  // A pack that is not the one the signed record names: said, passed, nothing of the project written by it.
  const badPack = join(work, "cache-bad-pack");
  await cp(cacheDir, badPack, { recursive: true });
  const [pack] = await readdir(join(badPack, "deps-records", "packs"));
  const packFile = join(badPack, "deps-records", "packs", pack);
  const bytes = await readFile(packFile);
  bytes[0] ^= 1;
  await writeFile(packFile, bytes);
  const p = await deps("d2", await project("d2"), trust(badPack), { BEAMIX_REPLAY: "trace" });
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stderr, /^ignoring the restore record of file:\/\/.*cache-bad-pack: .*not the pack the record names/m);
  assert.doesNotMatch(p.stderr, /from a cache's record/);

  // A config file that config.exs imports, changed: the key (mix.exs, config.exs, mix.lock) is
  // the same, the files Mix read are not. The full path; with the pushed file, the record.
  const importing = (config: string) => `${config}\nimport_config "extra.exs"\n`;
  const extra = (dir: string, n: number) => writeFile(join(dir, "config", "extra.exs"), `import Config\nconfig :webapp, extra: ${n}\n`);
  const ci = await project("d3-ci", importing);
  await extra(ci, 1);
  const pushed = await deps("a", ci, ["--push", "--to", `file://${cacheDir}`, "--sign-with", secretKey]);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.equal(pushed.json.push!.restoreRecord, true);
  const edited = await project("d3", importing);
  await extra(edited, 2);
  const e = await deps("d3", edited, trust(), { BEAMIX_REPLAY: "trace" });
  assert.equal(e.code, 0, e.stderr);
  assert.doesNotMatch(e.stderr, /from a cache's record/);
  assert.equal(withStatus(e.json, "substituted").length, 10);
  const same = await project("d4", importing);
  await extra(same, 1);
  const f = await deps("d4", same, trust(), { BEAMIX_REPLAY: "trace" });
  assert.equal(f.code, 0, f.stderr);
  assert.match(f.stderr, /^beamix: restored a fresh checkout from a cache's record$/m);
});

test("answers that read an environment variable are kept on the machine, never pushed: the config they hold may carry a secret", async () => {
  const before = await readdir(join(cacheDir, "mix-answers"));
  const dir = await project("env", (config) => `${config}\nconfig :webapp, token: System.get_env("WEBAPP_TOKEN", "none")\n`);
  const r = await deps("a", dir, ["--push", "--to", `file://${cacheDir}`, "--sign-with", secretKey]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.push!.mixAnswers, false);
  assert.match(r.stderr, /; Mix's answers not pushed \(they depend on more than the project's files\)$/m);
  assert.deepEqual(await readdir(join(cacheDir, "mix-answers")), before);
});

test("a compile-time config no cache has seen: mimetable and its dependents build, the rest substitute; once pushed, nothing builds", async () => {
  const c = await deps("c", await project("c", LOG_TYPES), trust());
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(withStatus(c.json, "built"), ["mimetable", "plugboard", "trellis"]);
  assert.deepEqual(withStatus(c.json, "substituted"), pushedA.packages.map((p) => p.name).filter((n) => !["mimetable", "plugboard", "trellis"].includes(n)).sort());
  const probe = await mix(join(work, "projects", "c"), ["run", "--no-start", "-e", `IO.puts(Mimetable.type("log"))`]);
  assert.equal(probe.stdout.trim().split("\n").pop(), "text/x-webapp-log", probe.stdout + probe.stderr);

  // Store C pushes: three new items; mimetable's basis already lists its read set, the new
  // bases of plugboard and trellis (their input mimetable changed) get hints.
  const push = await deps("c", join(work, "projects", "c"), ["--push", "--to", `file://${cacheDir}`, "--sign-with", secretKey]);
  assert.equal(push.code, 0, push.stderr);
  assert.equal(push.json.push!.pushed.length, 3);
  assert.equal(push.json.push!.present.length, 7);
  assert.equal(push.json.push!.hints.length, 2);

  const d = await deps("d", await project("d", LOG_TYPES), trust());
  assert.equal(d.code, 0, d.stderr);
  assert.equal(withStatus(d.json, "substituted").length, 10, JSON.stringify(d.json.packages));
  assert.deepEqual(
    d.json.packages.map((p) => basename(p.item!)),
    c.json.packages.map((p) => basename(p.item!)),
  );
});

test("a hint that lies or is damaged only costs a build: the item built is the one the cache has", async () => {
  const liar = join(work, "cache-liar");
  await cp(cacheDir, liar, { recursive: true });
  const hintOf = async (name: string) => {
    for (const f of await readdir(join(liar, "compile-env"))) {
      const path = join(liar, "compile-env", f);
      if (parseHint(await readFile(path, "utf8"), f, f.slice(0, -".json".length)).name === name) return path;
    }
    throw new Error(`no hint for ${name}`);
  };
  // mimetable "reads nothing", and also a key of another app; jsonish's hint is not JSON.
  const mime = await hintOf("mimetable");
  const h = JSON.parse(await readFile(mime, "utf8"));
  await writeFile(mime, JSON.stringify({ ...h, readSets: [[], [["webapp", "socket_port"]]] }));
  await writeFile(await hintOf("jsonish"), "{ not json");

  const e = await deps("e", await project("e"), trust(liar), FULL_PATH);
  assert.equal(e.code, 0, e.stderr);
  assert.deepEqual(withStatus(e.json, "built"), ["jsonish", "mimetable"]);
  assert.equal(withStatus(e.json, "substituted").length, 8);
  assert.match(e.stderr, /ignoring the compile-env hint of file:\/\/.*cache-liar: .*not JSON/);
  // Built here, they are the items A built (deterministic builds, same identity): so
  // mimetable's dependents found their substitutes under the hashes it leads to.
  assert.deepEqual(
    e.json.packages.map((p) => basename(p.item!)).sort(),
    pushedA.packages.map((p) => basename(p.item!)).sort(),
  );
  assert.deepEqual(e.json.packages.find((p) => p.name === "mimetable")!.reads, [{ app: "mimetable", key: "statuses" }, { app: "mimetable", key: "types" }]);
  const itemsA = await storeItems(storeDir("a"));
  const itemsE = await storeItems(storeDir("e"));
  for (const name of ["jsonish", "mimetable"]) {
    const item = basename(e.json.packages.find((p) => p.name === name)!.item!);
    assert.equal(itemsE.get(item)!.narHash, itemsA.get(item)!.narHash, `${name}: same bytes as A's build`);
    assert.equal((itemsE.get(item)!.deriver as { substitutedFrom?: string }).substitutedFrom, undefined);
  }
});

test("beamix install and beamix shell substitute from a cache: zero builds in a fresh store", async () => {
  const installCache = join(work, "cache-install");
  const pub = await beamix(["publish", "trellis", "--store", storeDir("a"), ...repoArgs(), "--to", `file://${installCache}`, "--sign-with", secretKey, "--no-substitutes"], {
    env: env("a"),
    timeoutMs: 600_000,
  });
  assert.equal(pub.code, 0, pub.stderr);

  const profile = join(work, "profiles", "web");
  const i = await beamix(["install", "trellis", "--profile", profile, "--store", storeDir("f"), ...repoArgs(), ...trust(installCache), "--json"], { env: env("f"), timeoutMs: 600_000 });
  assert.equal(i.code, 0, i.stdout + i.stderr);
  const json = JSON.parse(i.stdout);
  assert.equal(json.built, 0);
  assert.equal(json.substituted, 5);
  assert.match(i.stderr, /^0 built, 5 substituted, 0 already present$/m);
  const ex = await run(join(profile, "bin", "elixir"), ["-e", "IO.inspect({Trellis.__info__(:module), :beacon.module_info(:module)})"], work, { ...process.env, ERL_LIBS: "" });
  assert.equal(ex.stdout.trim(), "{Trellis, :beacon}", ex.stderr);

  await mkdir(join(work, "shell"), { recursive: true });
  const sh = await beamix(["shell", "trellis", "--store", storeDir("g"), ...repoArgs(), ...trust(installCache), "--", "erl", "-noshell", "-eval", "io:format(\"~s~n\", [code:which(beacon)]), halt()."], {
    env: env("g"),
    cwd: join(work, "shell"),
    timeoutMs: 600_000,
  });
  assert.equal(sh.code, 0, sh.stderr);
  assert.match(sh.stdout, /\/lib\/erlang\/lib\/beacon-1\.2\.0\/ebin\/beacon\.beam\n$/);
  const items = await storeItems(storeDir("g"));
  assert.equal(items.size, 5);
  for (const item of items.values()) assert.equal((item.deriver as { substitutedFrom?: string }).substitutedFrom, `file://${installCache}`, item.path);
  assert.doesNotMatch(sh.stderr, /building /);
});
