// The resolver on in-memory registries (each rule in isolation), on the registry and mix.lock
// the real Hex wrote (test/vectors/hex), and on generated registries for speed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { matches } from "../src/elixir/requirement.ts";
import { BeamixError } from "../src/errors.ts";
import { HexRepo } from "../src/hex/registry/client.ts";
import { parseMixLock, type HexLockEntry } from "../src/mix/lock.ts";
import {
  hexPackageSource,
  memoryPackageSource,
  resolve,
  type MemoryRegistry,
  type PackageSource,
  type ReleaseDependency,
  type ReleaseInfo,
  type Resolution,
  type ResolveOptions,
  type RootRequirement,
} from "../src/resolve/resolve.ts";
import { packageNameCandidates, parsePackageSpec, resolvePackageName } from "../src/resolve/names.ts";
import { startStaticServer } from "./support/static-server.ts";
import { rng } from "./support/rng.ts";

// registry({ pkg: { "1.0.0": { dep: "~> 1.0", opt: "? ~> 0.3", retired: "security" } } }):
// a value starting with "? " is an optional dependency; the key "retired" retires the release
// (value: reason, or "reason: message").
type Spec = Record<string, Record<string, Record<string, string>>>;

function registry(spec: Spec): MemoryRegistry {
  const hexpm: Record<string, ReleaseInfo[]> = {};
  for (const [name, versions] of Object.entries(spec)) {
    hexpm[name] = Object.entries(versions).map(([version, deps]) => {
      const release: ReleaseInfo = { version, dependencies: [], innerChecksum: "ab".repeat(32), outerChecksum: "cd".repeat(32) };
      for (const [dep, text] of Object.entries(deps)) {
        if (dep === "retired") {
          const [reason, message] = text.split(": ");
          release.retired = message === undefined ? { reason } : { reason, message };
          continue;
        }
        const optional = text.startsWith("? ");
        release.dependencies.push({ package: dep, app: dep, requirement: optional ? text.slice(2) : text, optional, repository: "hexpm" });
      }
      return release;
    });
  }
  return { hexpm };
}

const source = (spec: Spec): PackageSource => memoryPackageSource(registry(spec));

function picked(r: Resolution): Record<string, string> {
  return Object.fromEntries([...r.packages.values()].map((p) => [p.name, p.version]));
}

async function solve(spec: Spec, roots: (string | RootRequirement)[], opts?: ResolveOptions): Promise<Record<string, string>> {
  const rs = roots.map((r) => (typeof r === "string" ? parsePackageSpec(r) : r));
  return picked(await resolve(rs, source(spec), opts));
}

async function failure(spec: Spec, roots: (string | RootRequirement)[], opts?: ResolveOptions): Promise<string> {
  const rs = roots.map((r) => (typeof r === "string" ? parsePackageSpec(r) : r));
  try {
    await resolve(rs, source(spec), opts);
  } catch (err) {
    assert.ok(err instanceof BeamixError, `expected a BeamixError, got ${(err as Error).stack}`);
    return err.message;
  }
  assert.fail("resolution succeeded");
}

const BEACONS = { "1.1.0": {}, "1.2.0": {}, "2.0.0": {} };

// ---- highest versions ----

test("picks the highest release satisfying every requirement, transitively", async () => {
  const spec: Spec = {
    beacon: BEACONS,
    plugboard: { "0.3.0": { beacon: "~> 1.0" }, "0.4.0": { beacon: "~> 1.1", mimetable: "~> 1.0" } },
    mimetable: { "0.9.0": {}, "1.0.0": {}, "1.0.1": {}, "1.1.0": {}, "2.0.0": {} },
  };
  assert.deepEqual(await solve(spec, ["beacon"]), { beacon: "2.0.0" });
  assert.deepEqual(await solve(spec, ["beacon@~> 1.1"]), { beacon: "1.2.0" });
  assert.deepEqual(await solve(spec, ["beacon@1.1.0"]), { beacon: "1.1.0" });
  assert.deepEqual(await solve(spec, ["plugboard"]), { plugboard: "0.4.0", beacon: "1.2.0", mimetable: "1.1.0" });
  assert.deepEqual(await solve(spec, ["plugboard", "mimetable@~> 1.0.0"]), { plugboard: "0.4.0", beacon: "1.2.0", mimetable: "1.0.1" });
  assert.deepEqual(await solve(spec, ["plugboard", "beacon@== 1.1.0"]), { plugboard: "0.4.0", beacon: "1.1.0", mimetable: "1.1.0" });
});

test("the resolution reports repo, release, app names and the dependencies inside the closure", async () => {
  const spec: Spec = {
    webapp_lib: { "1.0.0": { confetti: "~> 0.3", jsonish: "? ~> 0.3" } },
    confetti: { "0.3.0": {} },
    jsonish: { "0.3.1": {} },
  };
  // A dependent names the OTP application confetti_app for package confetti.
  const reg = registry(spec);
  reg.hexpm.webapp_lib[0].dependencies[0].app = "confetti_app";
  const r = await resolve([{ name: "webapp_lib" }], memoryPackageSource(reg));
  const lib = r.packages.get("webapp_lib")!;
  assert.equal(lib.version, "1.0.0");
  assert.equal(lib.repo, "hexpm");
  assert.equal(lib.app, "webapp_lib");
  assert.equal(lib.release, reg.hexpm.webapp_lib[0]);
  assert.deepEqual(lib.deps, [{ name: "confetti", app: "confetti_app", optional: false }], "jsonish is optional and not in the closure");
  assert.equal(r.packages.get("confetti")!.app, "confetti_app");
  assert.deepEqual([...r.packages.keys()], ["confetti", "webapp_lib"]);

  // The request can say the application itself; it must agree with the dependents.
  const direct = await resolve([{ name: "confetti", app: "confetti_app" }], memoryPackageSource(reg));
  assert.equal(direct.packages.get("confetti")!.app, "confetti_app");
  await assert.rejects(
    resolve([{ name: "webapp_lib" }, { name: "confetti", app: "confetti" }], memoryPackageSource(reg)),
    (err: Error) => err instanceof BeamixError && /confetti/.test(err.message) && /confetti_app \(webapp_lib 1\.0\.0\)/.test(err.message) && /confetti \(the request\)/.test(err.message),
  );
});

// ---- backtracking ----

test("backtracks to an older release when the newest leads to a conflict", async () => {
  const spec: Spec = {
    app: { "1.0.0": { left: "~> 1.0", right: "~> 1.0" } },
    left: { "1.0.0": { shared: "~> 1.0" }, "1.1.0": { shared: "~> 2.0" } },
    right: { "1.0.0": { shared: "~> 1.0" } },
    shared: { "1.0.0": {}, "1.5.0": {}, "2.0.0": {} },
  };
  assert.deepEqual(await solve(spec, ["app"]), { app: "1.0.0", left: "1.0.0", right: "1.0.0", shared: "1.5.0" });
});

test("backtracks across several levels: the newest parent needs a child that needs something impossible", async () => {
  const spec: Spec = {
    top: { "1.0.0": { mid: "~> 1.0" }, "2.0.0": { mid: "~> 2.0" }, "3.0.0": { mid: "~> 3.0" } },
    mid: { "1.0.0": { leaf: "~> 1.0" }, "2.0.0": { leaf: "~> 2.0" }, "2.1.0": { leaf: "~> 2.1" }, "3.0.0": { leaf: "~> 3.0", gone: "~> 1.0" } },
    leaf: { "1.0.0": {}, "2.0.0": {} },
  };
  assert.deepEqual(await solve(spec, ["top"]), { top: "2.0.0", mid: "2.0.0", leaf: "2.0.0" });
  assert.deepEqual(await solve(spec, ["top", "leaf@~> 1.0"]), { top: "1.0.0", mid: "1.0.0", leaf: "1.0.0" });
});

test("learns from conflicts instead of retrying every combination of unrelated packages", { timeout: 120_000 }, async () => {
  // Twenty independent packages with two releases each are decided before top (fewer
  // candidates, earlier names); a search without learning would revisit their 2^20
  // combinations for each release of top that fails further down, and not end within the
  // test's time-out (a guard against a hang, not a measure of speed).
  const spec: Spec = {
    top: { "2.0.0": {}, "3.0.0": { mid: "~> 1.0" }, "3.1.0": { mid: "~> 1.1" } },
    mid: { "1.0.0": { leaf: "~> 2.0" }, "1.1.0": { leaf: "~> 2.0" }, "1.2.0": { leaf: "~> 2.1" } },
    leaf: { "1.0.0": {}, "1.1.0": {}, "1.2.0": {} },
  };
  const roots: RootRequirement[] = [];
  for (let i = 0; i < 20; i++) {
    const name = `a${String(i).padStart(2, "0")}`;
    spec[name] = { "1.0.0": {}, "1.1.0": {} };
    roots.push({ name });
  }
  roots.push({ name: "top" });
  const r = await resolve(roots, source(spec));
  assert.equal(picked(r).top, "2.0.0");
  assert.equal(picked(r).a07, "1.1.0");
  assert.equal(r.packages.has("mid"), false);

  roots[20] = { name: "top", requirement: "~> 3.0" };
  const message = await failure(spec, roots);
  assert.match(message, /mid <= 1\.1\.0 depends on leaf ~> 2\.0/);
  assert.match(message, /leaf ~> 2\.0 \(no release matches; leaf has 1\.2\.0, 1\.1\.0, 1\.0\.0\)/);
  assert.match(message, /you require top ~> 3\.0/);
  assert.doesNotMatch(message, /a\d\d/, "the explanation leaves unrelated packages out");
});

// ---- optional dependencies ----

test("an optional dependency stays out of the closure unless something requires it", async () => {
  const spec: Spec = {
    sockadapt: { "0.1.2": { jsonish: "? ~> 0.1", wireserve: "? ~> 1.0" } },
    jsonish: { "0.1.0": {}, "0.3.1": {}, "1.0.0": {} },
    wireserve: { "1.0.0": { wirecodec: "~> 1.0" } },
    wirecodec: { "1.0.0": {} },
    server: { "1.0.0": { wireserve: "~> 1.0" } },
  };
  assert.deepEqual(await solve(spec, ["sockadapt"]), { sockadapt: "0.1.2" });
  // Required by the request: it joins, and the optional requirement ~> 0.1 applies (not 1.0.0).
  assert.deepEqual(await solve(spec, ["sockadapt", "jsonish"]), { sockadapt: "0.1.2", jsonish: "0.3.1" });
  // Required by another package of the closure: it joins with its own dependencies.
  assert.deepEqual(await solve(spec, ["sockadapt", "server"]), { sockadapt: "0.1.2", server: "1.0.0", wireserve: "1.0.0", wirecodec: "1.0.0" });
  // Without sockadapt, nothing constrains jsonish.
  assert.deepEqual(await solve(spec, ["jsonish"]), { jsonish: "1.0.0" });
  // An optional dependency on a package that does not exist is fine while it stays out.
  const ghost: Spec = { lib: { "1.0.0": { ghost: "? ~> 1.0" } } };
  assert.deepEqual(await solve(ghost, ["lib"]), { lib: "1.0.0" });
});

test("once an optional dependency is in, its requirement forces backtracking or explains the failure", async () => {
  const spec: Spec = {
    trellis: { "0.8.0": { jsonish: "? ~> 0.2" }, "0.9.0": { jsonish: "? ~> 0.3.0" } },
    jsonish: { "0.2.0": {}, "0.3.1": {}, "0.4.0": {}, "1.0.0": {} },
  };
  assert.deepEqual(await solve(spec, ["trellis"]), { trellis: "0.9.0" });
  assert.deepEqual(await solve(spec, ["trellis", "jsonish"]), { trellis: "0.9.0", jsonish: "0.3.1" });
  // jsonish ~> 0.4 is outside 0.9.0's optional ~> 0.3.0 but inside 0.8.0's ~> 0.2.
  assert.deepEqual(await solve(spec, ["trellis", "jsonish@~> 0.4"]), { trellis: "0.8.0", jsonish: "0.4.0" });
  const message = await failure(spec, ["trellis", "jsonish@~> 1.0"]);
  assert.match(message, /trellis 0\.8\.0 optionally depends on jsonish ~> 0\.2/);
  assert.match(message, /trellis 0\.9\.0 optionally depends on jsonish ~> 0\.3\.0/);
  assert.match(message, /you require jsonish ~> 1\.0/);
});

// ---- retired releases ----

test("retired releases are avoided unless locked or allowed", async () => {
  const spec: Spec = {
    beacon: { "1.1.0": {}, "1.2.0": { retired: "security: CVE-2099-0001" }, "2.0.0": { retired: "deprecated" } },
    plugboard: { "0.4.0": { beacon: "~> 1.1" } },
  };
  assert.deepEqual(await solve(spec, ["beacon"]), { beacon: "1.1.0" });
  assert.deepEqual(await solve(spec, ["plugboard"]), { plugboard: "0.4.0", beacon: "1.1.0" });
  assert.deepEqual(await solve(spec, ["plugboard"], { locked: new Map([["beacon", "1.2.0"]]) }), { plugboard: "0.4.0", beacon: "1.2.0" });
  assert.deepEqual(await solve(spec, ["beacon"], { allowRetired: ["beacon"] }), { beacon: "2.0.0" });
  assert.deepEqual(await solve(spec, ["beacon"], { allowRetired: ["beacon@1.2.0"] }), { beacon: "1.2.0" });
  assert.deepEqual(await solve(spec, ["beacon"], { allowRetired: ["plugboard"] }), { beacon: "1.1.0" });

  const message = await failure(spec, ["plugboard", "beacon@~> 1.2"]);
  assert.match(message, /beacon 1\.2\.0 is retired for a security issue: CVE-2099-0001/);
  const direct = await failure(spec, ["beacon@~> 2.0"]);
  assert.match(direct, /you require beacon ~> 2\.0, but no usable release matches: beacon 2\.0\.0 is retired as deprecated/);
});

// ---- pre-releases ----

test("pre-releases: stable first, a pre-release only when no stable release fits", async () => {
  const spec: Spec = {
    foo: { "1.0.0": {}, "1.1.0": {}, "1.2.0-dev": {}, "2.0.0-rc.0": {} },
    bar: { "0.9.0": {}, "1.0.0-rc.1": {}, "1.0.0-rc.2": {} },
    baz: { "1.0.0": { foo: "~> 2.0.0-rc.0" } },
  };
  // Hex 2 prefers every stable release to any pre-release.
  assert.deepEqual(await solve(spec, ["foo"]), { foo: "1.1.0" });
  assert.deepEqual(await solve(spec, ["foo@~> 1.0"]), { foo: "1.1.0" });
  // A range admits the pre-releases inside it: here nothing stable fits, so the newest of them.
  assert.deepEqual(await solve(spec, ["foo@>= 1.1.1 and < 1.3.0"]), { foo: "1.2.0-dev" });
  assert.deepEqual(await solve(spec, ["foo@>= 1.1.1 and < 2.0.0"]), { foo: "2.0.0-rc.0" });
  // `~> 1.0` ends at 2.0.0-0, so 2.0.0-rc.0 is never inside it.
  assert.deepEqual(await solve(spec, ["foo@~> 1.0 and >= 1.2.0-dev"]), { foo: "1.2.0-dev" });
  assert.match(await failure(spec, ["foo@~> 1.0 and > 1.2.0-dev"]), /no release matches; foo has 2\.0\.0-rc\.0, 1\.2\.0-dev, 1\.1\.0, 1\.0\.0/);
  // A requirement on a pre-release, from the request or a dependency.
  assert.deepEqual(await solve(spec, ["bar@~> 1.0.0-rc.0"]), { bar: "1.0.0-rc.2" });
  assert.deepEqual(await solve(spec, ["baz"]), { baz: "1.0.0", foo: "2.0.0-rc.0" });
  // With allowPre, the request takes the newest release, pre-release or not.
  assert.deepEqual(await solve(spec, [{ name: "foo", allowPre: true }]), { foo: "2.0.0-rc.0" });
  assert.deepEqual(await solve(spec, [{ name: "bar", allowPre: true }]), { bar: "1.0.0-rc.2" });
  assert.deepEqual(await solve(spec, ["bar"]), { bar: "0.9.0" });
});

test("a pre-release is taken when every stable release leads to a conflict", async () => {
  const spec: Spec = {
    lib: { "1.0.0": { core: "~> 1.0" }, "1.1.0-rc.1": { core: "~> 2.0" } },
    core: { "1.0.0": {}, "2.0.0": {} },
  };
  assert.deepEqual(await solve(spec, ["lib"]), { lib: "1.0.0", core: "1.0.0" });
  assert.deepEqual(await solve(spec, ["lib", "core@~> 2.0"]), { lib: "1.1.0-rc.1", core: "2.0.0" });
});

// ---- locks ----

test("a locked version is the only candidate; a lock that contradicts a requirement is explained", async () => {
  const spec: Spec = { beacon: BEACONS, plugboard: { "0.4.0": { beacon: "~> 1.1" } } };
  assert.deepEqual(await solve(spec, ["plugboard"], { locked: new Map([["beacon", "1.1.0"]]) }), { plugboard: "0.4.0", beacon: "1.1.0" });
  // A lock on a package outside the closure changes nothing.
  assert.deepEqual(await solve(spec, ["beacon@~> 1.1"], { locked: new Map([["plugboard", "0.4.0"]]) }), { beacon: "1.2.0" });
  const message = await failure(spec, ["plugboard"], { locked: new Map([["beacon", "2.0.0"]]) });
  assert.match(message, /plugboard 0\.4\.0 depends on beacon ~> 1\.1 \(no usable release matches: beacon is locked at 2\.0\.0\)/);
  assert.match(await failure(spec, ["beacon"], { locked: new Map([["beacon", "9.9.9"]]) }), /beacon is locked at 9\.9\.9/);
});

// ---- explanations ----

test("a conflict is explained PubGrub style, naming both sides", async () => {
  const spec: Spec = {
    beacon: BEACONS,
    trellis: { "0.9.0": { beacon: "~> 1.2", plugboard: "~> 0.4" } },
    plugboard: { "0.4.0": { beacon: "~> 1.1" } },
  };
  const message = await failure(spec, ["trellis", "beacon@~> 2.0"], { rootName: "hello_beacon" });
  assert.match(message, /^cannot resolve dependencies:\n/);
  const lines = message.split("\n").slice(1);
  assert.ok(lines.length >= 2 && lines.length <= 4, `a few lines:\n${message}`);
  assert.match(lines[0], /^Because /);
  assert.match(message, /trellis 0\.9\.0 depends on beacon ~> 1\.2/);
  assert.match(message, /hello_beacon requires beacon ~> 2\.0/);
  assert.match(message, /hello_beacon requires trellis/);
  assert.match(lines.at(-1)!, /^So, because .*version solving failed\.$/);
  assert.doesNotMatch(message, /plugboard/, "only what matters is named");
});

test("a failure deep in the graph names every fact on the way", async () => {
  const spec: Spec = {
    root: { "1.0.0": { foo: "~> 1.0", target: "~> 2.0" } },
    foo: { "1.0.0": { left: "~> 1.0", right: "~> 1.0" }, "1.1.0": { right: "~> 2.0" } },
    left: { "1.0.0": { shared: ">= 1.0.0" } },
    right: { "1.0.0": { shared: "< 1.0.0" }, "2.0.0": { target: "~> 1.0" } },
    shared: { "0.9.0": {}, "1.0.0": {} },
    target: { "1.0.0": {}, "2.0.0": {} },
  };
  const message = await failure(spec, ["root"]);
  for (const fact of [
    "left 1.0.0 depends on shared >= 1.0.0",
    "right 1.0.0 depends on shared < 1.0.0",
    "foo 1.1.0 depends on right ~> 2.0",
    "right 2.0.0 depends on target ~> 1.0",
    "root 1.0.0 depends on target ~> 2.0",
    "you require root",
  ]) {
    assert.ok(message.includes(fact), `names "${fact}":\n${message}`);
  }
});

test("a conclusion used twice gets a line number that a later line cites", async () => {
  // Both releases of foo fail, each for its own reason; the first reason is cited at the end.
  const spec: Spec = {
    foo: { "1.0.0": { a: "~> 1.0", b: "~> 1.0" }, "1.1.0": { x: "~> 1.0", y: "~> 1.0" } },
    a: { "1.0.0": { b: "~> 2.0" } },
    b: { "1.0.0": {}, "2.0.0": {} },
    x: { "1.0.0": { y: "~> 2.0" } },
    y: { "1.0.0": {}, "2.0.0": {} },
  };
  const message = await failure(spec, ["foo@~> 1.0"]);
  const lines = message.split("\n").slice(1);
  const numbered = lines.findIndex((l) => l.endsWith(" (1)"));
  assert.ok(numbered >= 0, `a numbered line:\n${message}`);
  assert.match(lines[numbered], /foo 1\.0\.0 is forbidden/);
  const cites = lines.findIndex((l, i) => i > numbered && l.includes("foo 1.0.0 is forbidden (1)"));
  assert.ok(cites > numbered, `a later line cites (1):\n${message}`);
  assert.match(message, /foo 1\.1\.0 is forbidden/);
  assert.match(lines.at(-1)!, /^So, because you require foo ~> 1\.0, version solving failed\.$/);
});

test("unknown packages and unmatched requirements say what exists", async () => {
  const spec: Spec = { beacon: BEACONS, plugboard: { "0.4.0": { beacon: "~> 3.0" }, "0.3.0": { ghost: "~> 1.0" } } };
  assert.equal(
    await failure(spec, ["nosuch"]),
    "cannot resolve dependencies:\nyou require nosuch, but there is no package nosuch in repository hexpm.",
  );
  assert.equal(
    await failure(spec, ["beacon@~> 3.0"]),
    "cannot resolve dependencies:\nyou require beacon ~> 3.0, but no release matches; beacon has 2.0.0, 1.2.0, 1.1.0.",
  );
  const deep = await failure(spec, ["plugboard"]);
  assert.match(deep, /plugboard 0\.4\.0 depends on beacon ~> 3\.0 \(no release matches; beacon has 2\.0\.0, 1\.2\.0, 1\.1\.0\)/);
  assert.match(deep, /plugboard 0\.3\.0 depends on ghost ~> 1\.0 \(there is no package ghost in repository hexpm\)/);
  await assert.rejects(resolve([{ name: "beacon", requirement: "~> one" }], source(spec)), /beacon: "~> one" is not a valid requirement/);
});

test("a dependency's repository is honoured", async () => {
  const reg: MemoryRegistry = {
    hexpm: { app: [{ version: "1.0.0", innerChecksum: "00", dependencies: [{ package: "secret", app: "secret", requirement: "~> 1.0", optional: false, repository: "hexpm:acme" }] }] },
    "hexpm:acme": { secret: [{ version: "1.0.0", innerChecksum: "00", dependencies: [] }] },
  };
  const r = await resolve([{ name: "app" }], memoryPackageSource(reg));
  assert.equal(r.packages.get("secret")!.repo, "hexpm:acme");
  await assert.rejects(resolve([{ name: "secret" }], memoryPackageSource(reg)), /no package secret in repository hexpm/);
  await assert.rejects(resolve([{ name: "app" }, { name: "app", repo: "other" }], memoryPackageSource(reg)), /two repositories/);
});

// ---- names ----

test("specs: name, name@requirement, name@version", () => {
  assert.deepEqual(parsePackageSpec("phoenix"), { name: "phoenix" });
  assert.deepEqual(parsePackageSpec("phoenix@~> 1.7"), { name: "phoenix", requirement: "~> 1.7" });
  assert.deepEqual(parsePackageSpec("phoenix@1.7.14"), { name: "phoenix", requirement: "1.7.14" });
  assert.deepEqual(parsePackageSpec(" phoenix @ >= 1.7.0 and < 1.8.0 "), { name: "phoenix", requirement: ">= 1.7.0 and < 1.8.0" });
  assert.deepEqual(parsePackageSpec("elixir-phoenix@~> 1.7"), { name: "elixir-phoenix", requirement: "~> 1.7" });
  assert.throws(() => parsePackageSpec("phoenix@"), /nothing after "@"/);
  assert.throws(() => parsePackageSpec("phoenix@~> 1.x"), /not a valid version requirement/);
  assert.throws(() => parsePackageSpec("@1.0.0"), /no package name/);
  assert.throws(() => parsePackageSpec("Phoenix"), /neither a Hex package name/);
  assert.throws(() => parsePackageSpec("phoenix--pubsub"), /neither a Hex package name/);
  assert.deepEqual(packageNameCandidates("elixir-phoenix-pubsub"), ["elixir_phoenix_pubsub", "phoenix_pubsub"]);
  assert.deepEqual(packageNameCandidates("erlang-telemetry"), ["erlang_telemetry", "telemetry"]);
  assert.deepEqual(packageNameCandidates("telemetry"), ["telemetry"]);
  assert.deepEqual(packageNameCandidates("plug-cowboy"), ["plug_cowboy"]);
});

test("Guix-style aliases: the prefix is dropped only when the prefixed package does not exist", async () => {
  const spec: Spec = {
    phoenix: { "1.7.14": { telemetry: "~> 1.0" } },
    phoenix_pubsub: { "2.1.3": {} },
    telemetry: { "1.2.1": {} },
    elixir_make: { "0.8.4": {} },
    make: { "0.1.0": {} },
  };
  const src = source(spec);
  assert.deepEqual(await resolvePackageName("elixir-phoenix", src), { requested: "elixir-phoenix", name: "phoenix" });
  assert.deepEqual(await resolvePackageName("erlang-telemetry", src), { requested: "erlang-telemetry", name: "telemetry" });
  assert.deepEqual(await resolvePackageName("elixir-phoenix-pubsub", src), { requested: "elixir-phoenix-pubsub", name: "phoenix_pubsub" });
  assert.deepEqual(await resolvePackageName("elixir-make", src), { requested: "elixir-make", name: "elixir_make", shadowed: "make" });
  assert.deepEqual(await resolvePackageName("phoenix-pubsub", src), { requested: "phoenix-pubsub", name: "phoenix_pubsub" });
  await assert.rejects(resolvePackageName("elixir-nosuch", src), /elixir-nosuch: no such package in repository hexpm \(looked for elixir_nosuch and nosuch\)/);

  const r = await resolve([parsePackageSpec("elixir-phoenix@~> 1.7")], src);
  assert.deepEqual(picked(r), { phoenix: "1.7.14", telemetry: "1.2.1" });
  assert.deepEqual([...r.aliases], [["elixir-phoenix", "phoenix"]]);
});

// ---- against the real Hex ----

test("resolves the vectors consumer exactly as the real Hex locked it (test/vectors/hex/consumer/vec_app/mix.lock)", async () => {
  const publicDir = "test/vectors/hex/registry/public";
  const repo = new HexRepo({
    name: "vectors",
    url: pathToFileURL(publicDir).href,
    publicKeyPem: await readFile(join(publicDir, "public_key"), "utf8"),
    cacheDir: join(tmpdir(), "beamix-resolve-unused-cache"),
  });
  const lock = parseMixLock(await readFile("test/vectors/hex/consumer/vec_app/mix.lock", "utf8"));
  // vec_app's mix.exs: {:vec_core, "~> 0.3"}, {:vec_opt, "~> 0.1"}, {:vec_aliased, "~> 0.2", hex: :vec_alias}, all repo: "vectors".
  const r = await resolve(
    [
      { name: "vec_core", requirement: "~> 0.3", repo: "vectors" },
      { name: "vec_opt", requirement: "~> 0.1", repo: "vectors" },
      { name: "vec_alias", requirement: "~> 0.2", repo: "vectors", app: "vec_aliased" },
    ],
    hexPackageSource([repo]),
  );
  const entries = [...lock.values()].filter((e): e is HexLockEntry => e.kind === "hex");
  assert.equal(entries.length, 4);
  assert.deepEqual([...r.packages.keys()].sort(), entries.map((e) => e.package).sort());
  for (const e of entries) {
    const p = r.packages.get(e.package)!;
    assert.equal(p.version, e.version, e.package);
    assert.equal(p.app, e.app, e.package);
    assert.equal(p.repo, e.repo, e.package);
    assert.equal(p.release.innerChecksum, e.innerChecksum, e.package);
    assert.equal(p.release.outerChecksum, e.outerChecksum, e.package);
    assert.deepEqual(
      p.deps.map((d) => ({ app: d.app, package: d.name, optional: d.optional })),
      (e.deps ?? []).map((d) => ({ app: d.app, package: d.package, optional: d.optional })),
      e.package,
    );
  }
  // Without vec_opt in the request, the optional dependency of vec_core stays out.
  const alone = await resolve([{ name: "vec_core", repo: "vectors" }], hexPackageSource([repo]));
  assert.deepEqual(picked(alone), { vec_core: "0.3.0", vec_erl: "1.1.0" });
});

test("hexPackageSource: an unknown package is null, a broken read is an error", async (t) => {
  const publicDir = "test/vectors/hex/registry/public";
  const server = await startStaticServer({ root: publicDir, routes: { "/packages/vec_erl": { status: 500 } } });
  t.after(() => server.close());
  const cacheDir = await mkdtemp(join(tmpdir(), "beamix-resolve-cache-"));
  t.after(() => rm(cacheDir, { recursive: true, force: true }));
  const repo = new HexRepo({ name: "vectors", url: server.url, publicKeyPem: await readFile(join(publicDir, "public_key"), "utf8"), cacheDir, timeoutMs: 5000 });
  const src = hexPackageSource([repo]);
  assert.equal(await src.releases("vectors", "nosuch"), null);
  assert.equal(await src.releases("vectors", "Not-A-Name"), null);
  assert.deepEqual((await src.releases("vectors", "vec_opt"))!.map((r) => r.version), ["0.1.0"]);
  await assert.rejects(src.releases("vectors", "vec_erl"), /HTTP 500/);
  await assert.rejects(src.releases("hexpm", "vec_opt"), /repository hexpm, which is not configured/);
});

// ---- speed ----


// 50 packages x 10 releases over two majors, each release depending on up to seven others
// (cycles included) with requirements that often conflict.
function generated(seed: number): MemoryRegistry {
  const rnd = rng(seed);
  const names = Array.from({ length: 50 }, (_, i) => `pkg${String(i).padStart(2, "0")}`);
  const versions = ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "2.0.0-rc.1", "2.0.0", "2.1.0", "2.2.0", "2.3.0"];
  const reqs = ["~> 1.0", "~> 1.2", "~> 1.4", "~> 2.0", "~> 2.2", "== 1.3.0", "~> 2.3", "~> 1.1.0", "~> 2.0.0-rc.0", ">= 1.3.0", "< 2.1.0", "~> 1.1 or ~> 2.1"];
  const hexpm: Record<string, ReleaseInfo[]> = {};
  names.forEach((name, i) => {
    hexpm[name] = versions.map((version) => {
      const deps: ReleaseDependency[] = [];
      const n = Math.floor(rnd() * 8);
      for (let k = 0; k < n; k++) {
        // Mostly towards later packages, sometimes back (cycles).
        const j = rnd() < 0.85 ? i + 1 + Math.floor(rnd() * Math.min(10, 49 - i)) : Math.floor(rnd() * 50);
        if (j >= 50 || j === i || deps.some((d) => d.package === names[j])) continue;
        deps.push({ package: names[j], app: names[j], requirement: reqs[Math.floor(rnd() * reqs.length)], optional: rnd() < 0.15, repository: "hexpm" });
      }
      const release: ReleaseInfo = { version, dependencies: deps, innerChecksum: "00" };
      if (rnd() < 0.03) release.retired = { reason: "invalid" };
      return release;
    });
  });
  return { hexpm };
}

// An independent check: every requirement holds (Elixir semantics), the closure is exactly
// what the request and the non-optional dependencies reach.
function checkSolution(reg: MemoryRegistry, roots: RootRequirement[], r: Resolution): void {
  const version = (n: string): string | undefined => r.packages.get(n)?.version;
  const reachable = new Set<string>();
  const visit = (n: string): void => {
    if (reachable.has(n)) return;
    reachable.add(n);
    const p = r.packages.get(n);
    assert.ok(p, `${n} is required but missing`);
    assert.equal(p.release.retired, undefined, `${n} ${p.version} is retired`);
    for (const d of p.release.dependencies) {
      const v = version(d.package);
      if (v !== undefined) assert.ok(matches(v, d.requirement), `${n} ${p.version} needs ${d.package} ${d.requirement}, got ${v}`);
      if (!d.optional) visit(d.package);
    }
  };
  for (const root of roots) {
    const v = version(root.name);
    assert.ok(v !== undefined && (root.requirement === undefined || matches(v, root.requirement)), `root ${root.name}`);
    visit(root.name);
  }
  assert.deepEqual([...r.packages.keys()].sort(), [...reachable].sort(), "the closure is exactly what is required");
  assert.ok(reg.hexpm);
}

test("generated registries of 50 packages x 10 releases resolve (or fail with an explanation) quickly", async (t) => {
  let solved = 0;
  let failed = 0;
  let slowest = 0;
  for (let seed = 1; seed <= 12; seed++) {
    const reg = generated(seed);
    const rnd = rng(seed * 7919);
    for (let k = 0; k < 4; k++) {
      const roots: RootRequirement[] = [];
      for (let i = 0; i < 4; i++) {
        const name = `pkg${String(Math.floor(rnd() * 20)).padStart(2, "0")}`;
        if (!roots.some((r) => r.name === name)) roots.push(rnd() < 0.5 ? { name } : { name, requirement: rnd() < 0.5 ? "~> 1.0" : "~> 2.0" });
      }
      const started = performance.now();
      try {
        const r = await resolve(roots, memoryPackageSource(reg));
        checkSolution(reg, roots, r);
        solved++;
      } catch (err) {
        if (!(err instanceof BeamixError)) throw err;
        assert.match(err.message, /^cannot resolve dependencies:\n.*(Because|but)/s);
        failed++;
      }
      slowest = Math.max(slowest, performance.now() - started);
    }
  }
  t.diagnostic(`${solved} solved, ${failed} failed, slowest ${Math.round(slowest)} ms`);
  assert.ok(slowest < 3000, `slowest resolution took ${Math.round(slowest)} ms`);
  assert.ok(solved >= 10 && failed >= 3, `both outcomes occur (${solved} solved, ${failed} failed)`);
});
