// The profile library without a registry: generations made from hand-registered store items, the
// wrapper scripts (run for real, with a stand-in for erl), switching, rolling back, deleting,
// GC roots and what gc then frees, crash leftovers, and how specs name packages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, mkdir, mkdtemp, readdir, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore, type Store } from "../src/store/store.ts";
import type { Toolchain } from "../src/toolchain/detect.ts";
import { createGeneration } from "../src/profile/commit.ts";
import { deleteGenerations, listGenerations, parseDuration, profileStoreDir, rollBack, switchGeneration } from "../src/profile/generations.ts";
import { currentGeneration, generationPath, locateProfile, removeLeftovers, type Profile } from "../src/profile/location.ts";
import { newManifest, readManifest, type ProfileManifest, type ProfilePackage } from "../src/profile/manifest.ts";
import { rootedGenerations } from "../src/profile/roots.ts";
import { matchInstalled, requestFromSpec } from "../src/profile/spec-name.ts";
import { shQuote } from "../src/profile/wrappers.ts";
import { memoryPackageSource, type ReleaseInfo } from "../src/resolve/source.ts";
import { fixturesDir } from "./support/fixture-registry.ts";

type Ctx = { after: (fn: () => Promise<void> | void) => void };

async function scratch(t: Ctx): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "beamix-profile-"));
  t.after(async () => {
    spawnSync("chmod", ["-R", "u+w", d]);
    await rm(d, { recursive: true, force: true });
  });
  return d;
}

// A toolchain whose erl prints its environment and arguments instead of starting a VM.
async function fakeToolchain(dir: string): Promise<Toolchain> {
  const erl = join(dir, "otp bin", "erl");
  await mkdir(join(dir, "otp bin"), { recursive: true });
  await writeFile(erl, '#!/bin/sh\nprintf "ERL_LIBS=%s\\n" "$ERL_LIBS"\nfor a in "$@"; do printf "arg=%s\\n" "$a"; done\n');
  await chmod(erl, 0o755);
  return {
    otpRelease: "25",
    otpVersion: "25.2.3",
    ertsVersion: "13.1.5",
    nifVersion: "2.16",
    targetTriple: "x86_64-pc-linux-gnu",
    elixirVersion: null,
    rebar3Version: null,
    wordSize: 8,
    paths: { erlRoot: dir, erl, erlc: erl, escript: erl, ertsInclude: null, elixirRoot: null, elixir: null, mix: null, rebar3: null },
    binDirs: [join(dir, "otp bin")],
    readOnlyBinds: [],
  };
}

interface Fixture {
  dir: string;
  store: Store;
  toolchain: Toolchain;
  p: Profile;
  items: Map<string, ProfilePackage>;
}

const drv = (label: string) => createHash("sha256").update(label).digest("hex");

async function setup(t: Ctx): Promise<Fixture> {
  const dir = await scratch(t);
  const store = await openStore(join(dir, "store"));
  t.after(() => store.close());
  const items = new Map<string, ProfilePackage>();
  // b needs a; c stands alone.
  for (const [name, deps] of [["a", []], ["b", ["a"]], ["c", []]] as const) {
    const staging = await store.createStagingDir();
    const app = join(staging, "lib", "erlang", "lib", `${name}-1.0.0`, "ebin");
    await mkdir(app, { recursive: true });
    await writeFile(join(app, `${name}.app`), `{application,${name},[{vsn,"1.0.0"}]}.\n`);
    const references = deps.map((d) => items.get(d)!.path);
    const item = await store.register({ drvHash: drv(name), name, version: "1.0.0", stagingDir: staging, references });
    items.set(name, { name, version: "1.0.0", app: name, repo: "hexpm", drvHash: drv(name), path: item.path, deps: [...deps], local: false, requested: true });
  }
  await store.releaseTempRoots(); // only the profile's roots hold the items from here on
  return { dir, store, toolchain: await fakeToolchain(dir), p: await locateProfile(join(dir, "profiles", "my profile")), items };
}

function manifest(f: Fixture, n: number, names: string[], created = new Date()): ProfileManifest {
  return newManifest({
    generation: n,
    created: created.toISOString(),
    store: f.store.dir,
    toolchain: { otpRelease: "25", ertsVersion: "13.1.5", elixirVersion: null },
    requested: names.map((name) => ({ name, spec: name })),
    packages: names.map((name) => f.items.get(name)!),
  });
}

function sh(script: string, env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync("sh", ["-c", script], { env: { PATH: process.env.PATH, ...env }, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function gcFreed(store: Store): Promise<string[]> {
  return (await store.gc()).freed.map((x) => x.path).sort();
}

test("a generation links the closure's libraries and wraps erl: ERL_LIBS has the generation's first, the user's after", async (t) => {
  const f = await setup(t);
  const path = await createGeneration(f.p, manifest(f, 1, ["a", "b"]), f);
  assert.equal(path, generationPath(f.p, 1));
  assert.equal(await readlink(f.p.path), "my profile-1-link");
  const lib = join(f.p.path, "lib", "erlang", "lib");
  assert.deepEqual((await readdir(lib)).sort(), ["a-1.0.0", "b-1.0.0"]);
  assert.equal(await readlink(join(lib, "b-1.0.0")), join(f.items.get("b")!.path, "lib", "erlang", "lib", "b-1.0.0"));
  assert.deepEqual(await readdir(join(f.p.path, "bin")), ["erl"]); // no Elixir in this toolchain
  assert.deepEqual(await readManifest(f.p.path), manifest(f, 1, ["a", "b"], new Date((await readManifest(f.p.path)).created)));

  const genLib = join(generationPath(f.p, 1), "lib", "erlang", "lib");
  const erl = shQuote(join(f.p.path, "bin", "erl"));
  assert.equal(sh(`${erl} -eval 'x' "two words"`).stdout, `ERL_LIBS=${genLib}\narg=-eval\narg=x\narg=two words\n`);
  assert.equal(sh(erl, { ERL_LIBS: "/mine:/other" }).stdout, `ERL_LIBS=${genLib}:/mine:/other\n`);
  assert.equal(sh(erl, { ERL_LIBS: `${genLib}:/mine` }).stdout, `ERL_LIBS=${genLib}:/mine\n`, "not repeated when already first");

  // etc/profile names the profile link (it follows switches), and sourcing it twice changes nothing.
  const profileLib = join(f.p.path, "lib", "erlang", "lib");
  const env = sh(`. ${shQuote(join(f.p.path, "etc", "profile"))}; . ${shQuote(join(f.p.path, "etc", "profile"))}; echo "$PATH"; echo "$ERL_LIBS"; command -v erl`, { PATH: "/usr/bin:/bin" });
  assert.equal(env.stdout, `${join(f.p.path, "bin")}:/usr/bin:/bin\n${profileLib}\n${join(f.p.path, "bin", "erl")}\n`);
});

test("switch, roll back, delete: generations keep their own contents; gc frees exactly what no generation links", async (t) => {
  const f = await setup(t);
  const day = 86_400_000;
  const now = Date.now();
  await createGeneration(f.p, manifest(f, 1, ["a", "b"], new Date(now - 10 * day)), f);
  await createGeneration(f.p, manifest(f, 2, ["a", "b", "c"], new Date(now - 5 * day)), f);
  await createGeneration(f.p, manifest(f, 3, ["a"], new Date(now)), f);
  assert.equal(await profileStoreDir(f.p), f.store.dir);

  const listed = await listGenerations(f.p);
  assert.deepEqual(listed.map((g) => [g.number, g.current, g.manifest.packages.map((x) => x.name)]), [
    [1, false, ["a", "b"]],
    [2, false, ["a", "b", "c"]],
    [3, true, ["a"]],
  ]);
  assert.deepEqual([...(await rootedGenerations(f.store, f.p))].sort(), [1, 2, 3]);
  assert.deepEqual(await gcFreed(f.store), []);

  assert.deepEqual(await rollBack(f.store, f.p), { from: 3, to: 2 });
  assert.deepEqual(await readdir(join(f.p.path, "lib", "erlang", "lib")), ["a-1.0.0", "b-1.0.0", "c-1.0.0"]);
  assert.deepEqual(await rollBack(f.store, f.p), { from: 2, to: 1 });
  await assert.rejects(rollBack(f.store, f.p), /generation 1 is the oldest/);
  assert.deepEqual(await switchGeneration(f.store, f.p, 3), { from: 1, to: 3 });
  await assert.rejects(switchGeneration(f.store, f.p, 4), /has no generation 4/);
  await assert.rejects(deleteGenerations(f.store, f.p, { numbers: [3] }), /generation 3 is the current generation/);
  await assert.rejects(deleteGenerations(f.store, f.p, { numbers: [9] }), /has no generation 9/);

  // Older than a week: generation 1 only.
  assert.deepEqual(await deleteGenerations(f.store, f.p, { olderThanMs: parseDuration("1w"), now }), [1]);
  assert.deepEqual(await gcFreed(f.store), [], "generation 2 still links a, b and c");
  assert.deepEqual(await deleteGenerations(f.store, f.p, { numbers: [2] }), [2]);
  assert.deepEqual(await gcFreed(f.store), [f.items.get("b")!.path, f.items.get("c")!.path].sort());
  assert.deepEqual((await listGenerations(f.p)).map((g) => g.number), [3]);
  assert.deepEqual([...(await rootedGenerations(f.store, f.p))], [3]);
  assert.deepEqual(await deleteGenerations(f.store, f.p), []);
  assert.equal(f.store.isValid(f.items.get("a")!.path), true);

  // Items gc took cannot be linked again (changeProfile realizes them first); numbers go on.
  await assert.rejects(createGeneration(f.p, manifest(f, 4, ["c"]), f), /does not lead to a valid item/);
  assert.equal(await currentGeneration(f.p), 3);
  await createGeneration(f.p, manifest(f, 4, ["a"]), f);
  assert.equal(await currentGeneration(f.p), 4);
});

test("a generation that fails to be written leaves the profile, its links and the store's roots as they were", async (t) => {
  const f = await setup(t);
  await createGeneration(f.p, manifest(f, 1, ["a"]), f);
  const rootsBefore = (await f.store.listRoots()).map((r) => r.name);
  const entriesBefore = (await readdir(f.p.dir)).sort();
  // Two items providing the same application directory cannot share a generation.
  const clash = { ...f.items.get("c")!, name: "c2", path: f.items.get("a")!.path, drvHash: drv("c2") };
  const bad = newManifest({ ...manifest(f, 2, ["b"]), packages: [f.items.get("a")!, clash] });
  await assert.rejects(createGeneration(f.p, bad, f), /a and c2 both provide lib\/erlang\/lib\/a-1\.0\.0/);
  assert.equal(await currentGeneration(f.p), 1);
  assert.deepEqual((await readdir(f.p.dir)).sort(), entriesBefore);
  assert.deepEqual((await f.store.listRoots()).map((r) => r.name), rootsBefore);
  await assert.rejects(createGeneration(f.p, manifest(f, 1, ["b"]), f), /generation 1 of profile .* exists already/);
});

test("leftovers of a killed process are cleared; a profile path that is not a link is refused", async (t) => {
  const f = await setup(t);
  await createGeneration(f.p, manifest(f, 1, ["a"]), f);
  // A half-written generation of a dead process (pid 2^22+1 is beyond Linux's pid_max) ...
  const dead = join(f.p.dir, `.${f.p.base}-2-link.tmp-4194305-1-00aa`);
  await mkdir(join(dead, "bin"), { recursive: true });
  // ... and roots it added for generation 2 before dying.
  await f.store.addRoot(`profile-${f.p.id}-2-${f.items.get("c")!.drvHash}`, f.items.get("c")!.path);
  const mine = join(f.p.dir, `.${f.p.base}-5-link.tmp-${process.pid}-0-00bb`);
  await mkdir(mine);
  await removeLeftovers(f.p);
  assert.deepEqual((await readdir(f.p.dir)).filter((e) => e.startsWith(".")), [`.${f.p.base}-5-link.tmp-${process.pid}-0-00bb`]);
  assert.deepEqual([...(await rootedGenerations(f.store, f.p))].sort(), [1, 2]);
  assert.deepEqual(await deleteGenerations(f.store, f.p), []);
  assert.deepEqual([...(await rootedGenerations(f.store, f.p))], [1], "roots of a generation that never appeared are swept");
  assert.deepEqual(await gcFreed(f.store), [f.items.get("b")!.path, f.items.get("c")!.path].sort());

  const plain = await locateProfile(join(f.dir, "profiles", "plain"));
  await mkdir(plain.path);
  await assert.rejects(currentGeneration(plain), /exists and is not a beamix profile/);
  const elsewhere = await locateProfile(join(f.dir, "profiles", "elsewhere"));
  await symlink("/tmp", elsewhere.path);
  await assert.rejects(listGenerations(elsewhere), /points to \/tmp, not to a generation/);
});

test("specs name packages: Hex names, requirements, Guix-style aliases, package paths", async (t) => {
  const rel = (version: string): ReleaseInfo => ({ version, dependencies: [], innerChecksum: "ab".repeat(32) });
  const source = memoryPackageSource({ hexpm: { trellis: [rel("0.9.0")], beacon: [rel("1.2.0")], elixir_make: [rel("0.1.0")], make: [rel("1.0.0")] } });
  assert.deepEqual(await requestFromSpec("trellis", source), { name: "trellis", spec: "trellis" });
  assert.deepEqual(await requestFromSpec("erlang-beacon@~> 1.1", source), { name: "beacon", spec: "beacon@~> 1.1", requirement: "~> 1.1" });
  assert.deepEqual(await requestFromSpec("elixir-trellis", source), { name: "trellis", spec: "trellis" });
  assert.deepEqual(await requestFromSpec("elixir-make", source), { name: "elixir_make", spec: "elixir_make" });
  await assert.rejects(requestFromSpec("elixir-nothing", source), /no such package in repository hexpm/);
  const dir = join(fixturesDir, "consumers", "hello_beacon");
  assert.deepEqual(await requestFromSpec(dir, source), { name: "hello_beacon", spec: dir, path: dir });
  await assert.rejects(requestFromSpec(join(await scratch(t), "missing"), source), /no such file or directory/);

  const installed = new Map<string, { path?: string }>([["trellis", {}], ["hello_beacon", { path: dir }]]);
  assert.equal(matchInstalled("elixir-trellis", installed), "trellis");
  assert.equal(matchInstalled("trellis@~> 0.9", installed), "trellis");
  assert.equal(matchInstalled(dir + "/", installed), "hello_beacon");
  assert.equal(matchInstalled("beacon", installed), undefined);
});

test("durations for --older-than", () => {
  assert.equal(parseDuration("30d"), 30 * 86_400_000);
  assert.equal(parseDuration("12h"), 12 * 3_600_000);
  assert.throws(() => parseDuration("30"), /not a duration/);
  assert.throws(() => parseDuration("1y"), /not a duration/);
});

test("manifests are checked when read", async (t) => {
  const d = await scratch(t);
  await writeFile(join(d, "manifest.json"), JSON.stringify({ format: 9 }));
  await assert.rejects(readManifest(d), /not a beamix profile manifest of format 1/);
  await writeFile(join(d, "manifest.json"), "{");
  await assert.rejects(readManifest(d), /cannot read the generation's manifest/);
  await writeFile(join(d, "manifest.json"), JSON.stringify({ format: 1, generation: 1, store: "/s", requested: {} }));
  await assert.rejects(readManifest(d), /malformed profile manifest/);
});
