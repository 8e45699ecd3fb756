// One package build, one identity, whatever the command: `beamix install` and `beamix deps` of a
// project locking the same versions share every store item, a cache filled by `publish` serves
// `deps`, `deps --push` publishes a compile-env hint for every item whoever built it, and
// compile-time config of any Erlang term (integer keys included) rebuilds exactly the packages that
// read it. End to end through the CLI on the fixture registry served on loopback.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { machineEnv } from "./support/machine-env.ts";
import { beamix, type CliResult } from "./support/cli.ts";
import { makeFixtureRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { HexRepo } from "../src/hex/registry/client.ts";
import { openStore } from "../src/store/store.ts";
import { detectToolchain } from "../src/toolchain/detect.ts";
import { planBuild } from "../src/realize/plan.ts";
import { realize } from "../src/realize/realize.ts";
import type { ProgressEvent } from "../src/realize/progress.ts";
import { WEBAPP_ROOTS, webappProject } from "../bench/deps-bench.ts";

let work: string;
let registry: FixtureRegistry;
let server: StaticServer;
let repo: HexRepo;
let template: string;
let secretKey: string;
let publicKey: string;

const ROOTS = WEBAPP_ROOTS.map((r) => r.name);
const CLOSURE_SIZE = 10; // the roots with plugboard, mimetable and beacon 1.2.0
const storeDir = (machine: string) => join(work, "machines", machine, "store");
const repoArgs = () => ["--repo", server.url, "--public-key", registry.publicKeyPath];
const env = (machine: string) => machineEnv(work, machine);

interface DepsJson {
  packages: { name: string; status: string; item: string | null; reads: { app: string; key: string }[] | null }[];
  push?: { pushed: string[]; present: string[]; hints: string[] };
}

async function cli(machine: string, args: string[]): Promise<CliResult> {
  return beamix([...args, "--store", storeDir(machine), ...repoArgs()], { env: env(machine), timeoutMs: 900_000 });
}

async function deps(machine: string, dir: string, args: string[] = []): Promise<CliResult & { json: DepsJson }> {
  const r = await cli(machine, ["deps", dir, "--env", "test", "--json", ...args]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return { ...r, json: JSON.parse(r.stdout) as DepsJson };
}

async function install(machine: string, args: string[] = []): Promise<{ built: number; substituted: number; present: number }> {
  const r = await cli(machine, ["install", ...ROOTS, "--profile", join(work, "machines", machine, "profile"), "--json", ...args]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout);
}

const named = (j: DepsJson, status: string) => j.packages.filter((p) => p.status === status).map((p) => p.name).sort();

// The webapp with a config that sets only what no dependency reads (as most projects' config).
async function project(name: string, config = ""): Promise<string> {
  const dir = join(work, "projects", name);
  await cp(template, dir, { recursive: true });
  await writeFile(join(dir, "config", "config.exs"), `import Config\n\nconfig :webapp, socket_port: 0\n${config}`);
  return dir;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-identity-"));
  registry = await makeFixtureRegistry(join(work, "repo"));
  server = await startStaticServer({ root: registry.dir });
  repo = new HexRepo({ name: "hexpm", url: server.url, publicKeyPem: registry.publicKeyPem, cacheDir: join(work, "lock-cache") });
  template = await webappProject(join(work, "template", "webapp"), repo);
  const keys = await beamix(["key", "generate", "identity-test-1", "-o", join(work, "keys")], { env: env("keys") });
  assert.equal(keys.code, 0, keys.stderr);
  [secretKey, publicKey] = keys.stdout.trim().split("\n");
});

after(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

test("install, then deps of a project locking the same versions: nothing is built twice", async () => {
  const first = await install("a", ["--no-substitutes"]);
  assert.equal(first.built, CLOSURE_SIZE);
  const d = await deps("a", await project("after-install"));
  assert.deepEqual(named(d.json, "built"), []);
  assert.equal(named(d.json, "present").length, CLOSURE_SIZE);
  // sockadapt has optional dependencies; the webapp's closure holds them, as the install's did.
  assert.ok(d.json.packages.every((p) => p.item !== null && p.reads !== null));

  // deps --push from that store: every item, whoever registered it, gets its compile-env hint.
  const cache = join(work, "cache-push");
  const pushed = await deps("a", await project("push"), ["--push", "--to", `file://${cache}`, "--sign-with", secretKey]);
  assert.equal(pushed.json.push!.pushed.length, CLOSURE_SIZE);
  assert.equal(pushed.json.push!.hints.length, CLOSURE_SIZE);
});

test("deps, then install of the same packages: nothing is built twice", async () => {
  const d = await deps("b", await project("before-install"), ["--no-substitutes"]);
  assert.equal(named(d.json, "built").length, CLOSURE_SIZE);
  const i = await install("b", ["--no-substitutes"]);
  assert.deepEqual({ built: i.built, present: i.present }, { built: 0, present: CLOSURE_SIZE });
});

test("publish a closure, then a fresh store's deps substitutes every package", async () => {
  const cache = join(work, "cache-publish");
  const pub = await cli("c", ["publish", ...ROOTS, "--to", `file://${cache}`, "--sign-with", secretKey, "--no-substitutes"]);
  assert.equal(pub.code, 0, pub.stderr);
  const d = await deps("d", await project("from-publish"), ["--substituters", `file://${cache}`, "--trusted-key", publicKey]);
  assert.equal(named(d.json, "substituted").length, CLOSURE_SIZE, d.stderr);
  assert.doesNotMatch(d.stderr, /^building /m);
});

test("integer-keyed compile-time config: registered, and only the packages that read it rebuild", async () => {
  // Store "a" holds the closure built without config (first test); plug-style statuses are read
  // by mimetable only, so it and its dependents (plugboard, trellis) build, nothing else.
  const teapot = `config :mimetable, statuses: %{418 => "I'm a teapot", 599 => "Network connect timeout"}\n`;
  const dir = await project("teapot", teapot);
  const d = await deps("a", dir);
  assert.deepEqual(named(d.json, "built"), ["mimetable", "plugboard", "trellis"]);
  assert.deepEqual(d.json.packages.find((p) => p.name === "mimetable")!.reads, [{ app: "mimetable", key: "statuses" }, { app: "mimetable", key: "types" }]);
  const again = await deps("a", dir);
  assert.deepEqual(named(again.json, "built"), []);

  // beamix build of the same closure with the same config file finds the same items.
  const b = await cli("a", ["build", ...ROOTS, "--config", join(dir, "config", "config.exs"), "--json"]);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(JSON.parse(b.stdout).built, 0);
  const store = await openStore(storeDir("a"));
  try {
    const items = store.listItems().filter((i) => i.name === "mimetable");
    assert.equal(items.length, 2, "one item without config, one with the statuses");
  } finally {
    await store.close();
  }
});

test("progress: with -j 1, three packages report their wait for a build slot apart from their build time", async () => {
  const store = await openStore(storeDir("progress"));
  try {
    const toolchain = await detectToolchain();
    const plan = await planBuild(["beacon@~> 1.2", "wirecodec", "jsonish"], { repos: new Map([["hexpm", repo]]), toolchain, store });
    const events: { at: number; e: ProgressEvent }[] = [];
    const progress = { total() {}, event: (e: ProgressEvent) => events.push({ at: performance.now(), e }), finish() {} };
    const result = await realize(plan, { store, toolchain, jobs: 1, sandbox: true, timeoutMs: 600_000, progress });
    assert.equal(result.failed.length, 0);
    const of = (label: string) => events.filter((x) => "label" in x.e && x.e.label === label);
    let building = 0;
    let maxBuilding = 0;
    for (const { e } of events) {
      if (e.type === "start") maxBuilding = Math.max(maxBuilding, ++building);
      if (e.type === "done" || e.type === "failed") building -= e.type === "done" && e.result === "built" ? 1 : 0;
    }
    assert.equal(maxBuilding, 1, "one build at a time");
    const labels = ["beacon 1.2.0", "wirecodec 1.0.0", "jsonish 0.3.1"];
    for (const label of labels) {
      assert.deepEqual(of(label).map((x) => x.e.type), ["queued", "start", "done"], label);
      const [queued, start, done] = of(label);
      assert.ok(done.e.type === "done" && done.e.queuedMs !== undefined);
      // The build time covers the build only: never more than from its start to its end.
      assert.ok(done.e.ms <= Math.ceil(done.at - start.at) + 1, `${label}: ${done.e.ms} ms`);
      assert.ok(done.e.queuedMs! <= Math.ceil(start.at - queued.at) + 1);
    }
    // Two of the three waited for the first one's whole build.
    const starts = labels.map((l) => of(l)[1].at).sort((a, b) => a - b);
    const firstDone = Math.min(...labels.map((l) => of(l)[2].at));
    assert.ok(starts[1] >= firstDone && starts[2] >= firstDone);
  } finally {
    await store.close();
  }
});
