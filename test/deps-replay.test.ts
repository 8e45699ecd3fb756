// `beamix deps` when nothing changed is answered from a record before the CLI loads
// (src/deps/unchanged-replay.ts). What a user relies on: the answer is exactly what the full
// path would print, and any change to what it rests on (a file in _build, mix.exs, MIX_ENV, a
// command line with effects) sends the run down the full path, which repairs what changed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readdir, rm, writeFile, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beamix, type CliResult } from "./support/cli.ts";
import { fixturesDir, makeFixtureRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { HexRepo } from "../src/hex/registry/client.ts";
import { formatMixLock } from "../src/mix/lock.ts";
import { lockForRequirements } from "../src/mix/lock-from-resolution.ts";
import { replayUnchangedRun, type RunCall } from "../src/deps/unchanged-replay.ts";

let work: string;
let registry: FixtureRegistry;
let server: StaticServer;
let project: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-deps-replay-"));
  registry = await makeFixtureRegistry(join(work, "repo"));
  server = await startStaticServer({ root: registry.dir });
  const repo = new HexRepo({ name: "hexpm", url: server.url, publicKeyPem: registry.publicKeyPem, cacheDir: join(work, "lock-cache") });
  project = join(work, "hello_beacon");
  await cp(join(fixturesDir, "consumers", "hello_beacon"), project, { recursive: true });
  await writeFile(join(project, "mix.lock"), formatMixLock(await lockForRequirements(repo, [{ name: "beacon", requirement: "~> 1.1" }])));
});

after(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

const env = (extra: NodeJS.ProcessEnv = {}) => ({ BEAMIX_CACHE_DIR: join(work, "cache"), HEX_MIRROR: "", HEX_MIRROR_URL: "", MIX_ENV: "", ...extra });
const args = (more: string[] = []) => [project, "--env", "prod", "--store", join(work, "store"), "--repo", server.url, "--public-key", registry.publicKeyPath, ...more];
const deps = (more: string[] = [], extraEnv: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
  beamix(["deps", ...args(more)], { env: env(extraEnv), timeoutMs: 600_000 });
// The call the CLI child sees: this process's cwd and environment with the test's, pipes for output.
const call = (more: string[] = [], extraEnv: NodeJS.ProcessEnv = {}): RunCall => ({ argv: args(more), cwd: process.cwd(), env: { ...process.env, ...env(extraEnv) } });

function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.code, 0, `${what} failed:\n${r.stdout}\n${r.stderr}`);
  return r;
}

test("an unchanged run prints exactly what the full path prints, from the record the last run left", async () => {
  ok(await deps(["--json"]), "first beamix deps");
  // Another command line has no record: the full path runs and ends early (nothing changed).
  const full = ok(await deps(["--json", "-j", "1"]), "beamix deps -j 1");
  assert.equal(JSON.parse(full.stdout).changed, false);
  const recorded = await replayUnchangedRun(call(["--json"]));
  assert.ok(recorded, "the first run left a record for its command line");
  const replayed = ok(await deps(["--json"]), "beamix deps again");
  assert.equal(replayed.stdout, full.stdout);
  assert.equal(replayed.stderr, full.stderr);
  assert.equal(replayed.stdout, recorded.stdout);
  // The text form has its own record.
  ok(await deps(), "beamix deps (text)");
  const text = await replayUnchangedRun(call());
  assert.ok(text);
  assert.match(text.stderr, /0 built, .*1 already present, 0 written, 1 unchanged/);
});

test("a changed file in _build, a changed mix.exs or another MIX_ENV is never answered from the record", async () => {
  ok(await deps(["--json"]), "beamix deps");
  assert.ok(await replayUnchangedRun(call(["--json"])));

  // A file Mix or a user removed from _build: the full path puts it back.
  const ebin = join(project, "_build", "prod", "lib", "beacon", "ebin");
  const beam = (await readdir(ebin)).find((f) => f.endsWith(".beam"))!;
  await rm(join(ebin, beam));
  assert.equal(await replayUnchangedRun(call(["--json"])), undefined);
  const repaired = JSON.parse(ok(await deps(["--json"]), "beamix deps after a removed .beam").stdout);
  assert.equal(repaired.changed, true);
  assert.ok((await stat(join(ebin, beam))).isFile());
  assert.ok(await replayUnchangedRun(call(["--json"])), "the repairing run recorded again");

  // mix.exs with other content (a comment is enough: its answers are read again).
  const mixExs = join(project, "mix.exs");
  await writeFile(mixExs, (await readFile(mixExs, "utf8")) + "\n# changed\n");
  assert.equal(await replayUnchangedRun(call(["--json"])), undefined);
  ok(await deps(["--json"]), "beamix deps after mix.exs changed");
  assert.ok(await replayUnchangedRun(call(["--json"])));

  // The environment is part of the call.
  assert.equal(await replayUnchangedRun(call(["--json"], { MIX_ENV: "test" })), undefined);
});

test("runs with --check or --timeline leave no record, and --push or -L are never replayed", async () => {
  ok(await deps(["--json"]), "beamix deps");
  for (const more of [["--check"], ["--timeline", join(work, "timeline.html")]]) {
    ok(await deps(["--json", ...more]), `beamix deps ${more.join(" ")}`);
    assert.equal(await replayUnchangedRun(call(["--json", ...more])), undefined, more.join(" "));
  }
  // A record could only come from an older beamix; it is not even read for these.
  for (const more of [["--push", "--to", "file:///nowhere", "--sign-with", "k"], ["-L", work]]) {
    assert.equal(await replayUnchangedRun(call(["--json", ...more])), undefined, more.join(" "));
  }
});
