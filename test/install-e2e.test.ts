// `beamix install | remove | upgrade`, `beamix profile …` and `beamix shell` through the CLI, on the
// fixture corpus served as a signed registry on loopback, into one fresh store. The tests run in
// order and build on each other's store (each package is built once).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beamix, runCommand, type CliResult } from "./support/cli.ts";
import { fixturesDir, makeFixtureRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { openStore } from "../src/store/store.ts";

const mainJs = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

let work: string;
let registry: FixtureRegistry;
let server: StaticServer;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-install-e2e-"));
  registry = await makeFixtureRegistry(join(work, "repo"));
  server = await startStaticServer({ root: registry.dir });
});

after(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

const store = () => join(work, "store");
const profilesDir = () => join(work, "profiles");
const prof = (name: string) => join(profilesDir(), name);
const env = () => ({ BEAMIX_CACHE_DIR: join(work, "cache"), BEAMIX_DATA_DIR: join(work, "data"), HEX_MIRROR: "", HEX_MIRROR_URL: "", ERL_LIBS: "" });
const repoArgs = () => ["--store", store(), "--repo", server.url, "--public-key", registry.publicKeyPath];

function bx(args: string[]): Promise<CliResult> {
  return beamix(args, { env: env(), timeoutMs: 300_000 });
}

// install/remove/upgrade on a profile, with --json; fails the test unless told otherwise.
async function change(verb: "install" | "remove" | "upgrade", profile: string, args: string[], expectCode = 0): Promise<CliResult & { json?: any }> {
  const r = await bx([verb, ...args, "--profile", profile, ...repoArgs(), "--json"]);
  assert.equal(r.code, expectCode, `beamix ${verb} ${args.join(" ")}\n${r.stdout}\n${r.stderr}`);
  return { ...r, json: r.code === 0 ? JSON.parse(r.stdout) : undefined };
}

function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return runCommand(cmd, args, { env: opts.env ?? { ...process.env, ERL_LIBS: "" }, input: opts.input ?? "", timeoutMs: 120_000 });
}

// The version of beacon (and whether hello_beacon is there) as a generation's bin/erl sees it.
async function erlVersions(binDir: string): Promise<string> {
  const r = await run(join(binDir, "erl"), [
    "-noshell",
    "-eval",
    'Vsn = fun(A) -> case application:load(A) of ok -> {ok, V} = application:get_key(A, vsn), V; _ -> "none" end end, io:format("beacon=~s hello_beacon=~s~n", [Vsn(beacon), Vsn(hello_beacon)]), halt().',
  ]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

async function generations(profile: string): Promise<{ number: number; current: boolean; packages: { name: string; version: string; path: string }[] }[]> {
  const r = await bx(["profile", "list-generations", "--profile", profile, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test("install trellis: bin/elixir, bin/erl and bin/iex see the framework and its Erlang dependency", async () => {
  const p = prof("web");
  const r = await change("install", p, ["trellis"]);
  assert.equal(r.json.generation, 1);
  assert.deepEqual(
    r.json.changes.map((c: { name: string; to: string }) => `${c.name} ${c.to}`),
    ["beacon 1.2.0", "mimetable 1.0.0", "plugboard 0.4.0", "sockadapt 0.1.2", "trellis 0.9.0"],
  );
  assert.equal(r.json.built, 5);
  assert.equal(await readlink(p), "web-1-link");
  assert.deepEqual((await readdir(join(p, "lib", "erlang", "lib"))).sort(), ["beacon-1.2.0", "mimetable-1.0.0", "plugboard-0.4.0", "sockadapt-0.1.2", "trellis-0.9.0"]);
  assert.deepEqual((await readdir(join(p, "bin"))).sort(), ["elixir", "elixirc", "erl", "iex", "mix"]);

  const ex = await run(join(p, "bin", "elixir"), ["-e", "IO.inspect({Trellis.__info__(:module), :beacon.module_info(:module), Code.ensure_loaded?(Plugboard)})"]);
  assert.equal(ex.code, 0, ex.stderr);
  assert.equal(ex.stdout.trim(), "{Trellis, :beacon, true}");

  assert.equal(await erlVersions(join(p, "bin")), "beacon=1.2.0 hello_beacon=none");

  const iex = await run(join(p, "bin", "iex"), [], { input: "IO.puts(:beacon.module_info(:module))\nIO.puts(Trellis.__info__(:module))\n" });
  assert.equal(iex.code, 0, iex.stderr);
  assert.match(iex.stdout, /> beacon\n:ok\n/);
  assert.match(iex.stdout, /> Elixir\.Trellis\n:ok\n/);

  // The user's own ERL_LIBS stays, after the profile's.
  const mine = join(work, "my-libs");
  const libs = await run(join(p, "bin", "erl"), ["-noshell", "-eval", 'io:format("~s", [os:getenv("ERL_LIBS")]), halt().'], { env: { ...process.env, ERL_LIBS: mine } });
  assert.equal(libs.stdout, `${join(profilesDir(), "web-1-link", "lib", "erlang", "lib")}:${mine}`);

  // etc/profile puts the profile's wrappers first on PATH.
  const sh = await run("sh", ["-c", `. '${join(p, "etc", "profile")}' && command -v elixir && elixir -e 'IO.puts Trellis.__info__(:module)'`]);
  assert.equal(sh.code, 0, sh.stderr);
  assert.deepEqual(sh.stdout.trim().split("\n"), [join(p, "bin", "elixir"), "Elixir.Trellis"]);

  // A Guix-style alias names the same package: nothing to change.
  const again = await change("install", p, ["elixir-trellis"]);
  assert.equal(again.json.created, false);
  assert.equal(again.json.generation, 1);
});

test("hello_beacon builds as a package with beacon as its input; installed versions stay pinned until upgrade", async () => {
  const p = prof("hello");
  await change("install", p, ["beacon@1.1.0"]);
  const g2 = await change("install", p, [join(fixturesDir, "consumers", "hello_beacon")]);
  assert.deepEqual(g2.json.changes, [{ name: "hello_beacon", to: "0.1.0" }]);
  // beacon is no longer asked for, but hello_beacon needs it: it stays at its installed 1.1.0
  // although 1.2.0 is allowed by hello_beacon's ~> 1.1.
  const g3 = await change("remove", p, ["erlang-beacon"]);
  assert.deepEqual(g3.json.changes, []);
  assert.deepEqual(g3.json.requestChanges, [{ name: "beacon", from: "beacon@1.1.0" }]);
  const g4 = await change("upgrade", p, []);
  assert.deepEqual(g4.json.changes, [{ name: "beacon", from: "1.1.0", to: "1.2.0" }]);
  assert.deepEqual(g4.json.rebuilt, ["hello_beacon"]);
  assert.equal(g4.json.generation, 4);

  const hello = "Application.ensure_all_started(:hello_beacon); IO.inspect(HelloBeacon.collect(fn -> HelloBeacon.hello(\"Guix\") end))";
  for (const bin of [join(p, "bin"), join(profilesDir(), "hello-3-link", "bin")]) {
    const r = await run(join(bin, "elixir"), ["-e", hello]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '{"Hello, Guix!", [{%{length: 12}, %{name: "Guix"}}]}');
  }
  assert.equal(await erlVersions(join(p, "bin")), "beacon=1.2.0 hello_beacon=0.1.0");
  assert.equal(await erlVersions(join(profilesDir(), "hello-3-link", "bin")), "beacon=1.1.0 hello_beacon=0.1.0");
  assert.equal(await erlVersions(join(profilesDir(), "hello-1-link", "bin")), "beacon=1.1.0 hello_beacon=none");

  // From generation 3 (beacon 1.1.0, a dependency), trellis needs beacon ~> 1.2: the pin of a
  // dependency gives way, and the result says so.
  const back = await bx(["profile", "switch-generation", "3", "--profile", p]);
  assert.equal(back.code, 0, back.stderr);
  const g5 = await change("install", p, ["trellis"]);
  assert.equal(g5.json.generation, 5);
  assert.equal(g5.json.unpinned, true);
  assert.equal(g5.json.built, 0);
  assert.deepEqual(g5.json.changes.find((c: { name: string }) => c.name === "beacon"), { name: "beacon", from: "1.1.0", to: "1.2.0" });
  assert.equal(await erlVersions(join(p, "bin")), "beacon=1.2.0 hello_beacon=0.1.0");

  // Removing what is only a dependency is refused, naming who needs it.
  const dep = await bx(["remove", "beacon", "--profile", p, ...repoArgs()]);
  assert.equal(dep.code, 1);
  assert.match(dep.stderr, /beacon is not installed in profile .*only a dependency there \(of hello_beacon, plugboard, trellis\)/);
});

test("upgrade and roll back: each generation sees exactly its own versions; a conflicting install is refused", async () => {
  const p = prof("versions");
  const g1 = await change("install", p, ["beacon@~> 1.1"]);
  assert.deepEqual(g1.json.changes, [{ name: "beacon", to: "1.2.0" }]);
  const g2 = await change("install", p, ["beacon@~> 2.0"]);
  assert.deepEqual(g2.json.changes, [{ name: "beacon", from: "1.2.0", to: "2.0.0" }]);
  assert.deepEqual(g2.json.requestChanges, [{ name: "beacon", from: "beacon@~> 1.1", to: "beacon@~> 2.0" }]);
  assert.equal(await erlVersions(join(p, "bin")), "beacon=2.0.0 hello_beacon=none");

  // trellis needs beacon ~> 1.2: one closure cannot hold both.
  const conflict = await change("install", p, ["trellis"], 1);
  assert.match(conflict.stderr, /trellis 0\.9\.0 depends on beacon ~> 1\.2 .*beacon is locked at 2\.0\.0/);
  assert.match(conflict.stderr, /installed packages keep their versions: beacon 2\.0\.0/);
  // Naming beacon lets it move, but its requirement (~> 2.0) still cannot meet trellis's.
  const named = await change("install", p, ["trellis", "beacon@~> 2.0"], 1);
  assert.match(named.stderr, /trellis 0\.9\.0 depends on beacon ~> 1\.2/);
  assert.match(named.stderr, /you require beacon ~> 2\.0/);
  assert.equal(await readlink(p), "versions-2-link");
  assert.deepEqual((await generations(p)).map((g) => g.number), [1, 2]);

  const back = await bx(["profile", "roll-back", "--profile", p]);
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stdout, /switched from generation 2 to 1/);
  assert.equal(await readlink(p), "versions-1-link");
  assert.equal(await erlVersions(join(p, "bin")), "beacon=1.2.0 hello_beacon=none");
  assert.equal(await erlVersions(join(profilesDir(), "versions-2-link", "bin")), "beacon=2.0.0 hello_beacon=none");
  const gens = await generations(p);
  assert.deepEqual(gens.map((g) => [g.number, g.current, g.packages.map((x) => `${x.name} ${x.version}`)]), [
    [1, true, ["beacon 1.2.0"]],
    [2, false, ["beacon 2.0.0"]],
  ]);

  const oldest = await bx(["profile", "roll-back", "--profile", p]);
  assert.equal(oldest.code, 1);
  assert.match(oldest.stderr, /generation 1 is the oldest/);
  const sw = await bx(["profile", "switch-generation", "2", "--profile", p]);
  assert.equal(sw.code, 0, sw.stderr);
  assert.equal(await erlVersions(join(p, "bin")), "beacon=2.0.0 hello_beacon=none");
  const missing = await bx(["profile", "switch-generation", "7", "--profile", p]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /has no generation 7/);
});

test("a failed build during install leaves the current generation untouched", async () => {
  const p = prof("versions");
  const broken = join(work, "broken");
  await mkdir(join(broken, "lib"), { recursive: true });
  await writeFile(join(broken, "mix.exs"), 'defmodule Broken.MixProject do\n  use Mix.Project\n  def project, do: [app: :broken, version: "0.1.0", deps: [{:beacon, "~> 2.0"}]]\nend\n');
  await writeFile(join(broken, "lib", "broken.ex"), "defmodule Broken do\n  def oops(, do: 1\nend\n");
  const entriesBefore = (await readdir(profilesDir())).sort();
  const rootsBefore = (await readdir(join(store(), ".beamix", "roots"))).sort();

  const r = await change("install", p, [broken], 1);
  assert.match(r.stderr, /profile .*versions not changed, a build failed: .*broken 0\.1\.0/);
  assert.match(r.stderr, /log: /);
  assert.equal(await readlink(p), "versions-2-link");
  assert.deepEqual((await readdir(profilesDir())).sort(), entriesBefore);
  assert.deepEqual((await readdir(join(store(), ".beamix", "roots"))).sort(), rootsBefore);
  assert.equal(await erlVersions(join(p, "bin")), "beacon=2.0.0 hello_beacon=none");
});

test("beamix shell runs a command with the packages, held by temporary roots, and returns its exit status", async () => {
  const shellArgs = ["shell", ...repoArgs()];
  const r = await bx([...shellArgs, "beacon@~> 2.0", "--", "erl", "-noshell", "-eval", 'application:load(beacon), {ok, V} = application:get_key(beacon, vsn), io:format("~s~n", [V]), halt(3).']);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout.trim(), "2.0.0");

  // jsonish is in no profile: while the shell runs, a gc must leave it alone; afterwards it goes.
  const inner = `"${process.execPath}" --no-warnings "${mainJs}" gc --store "${store()}" --json > "${join(work, "gc-inside.json")}" && elixir -e 'IO.puts Jsonish.__info__(:module)' && echo "$BEAMIX_SHELL"`;
  const s = await bx([...shellArgs, "elixir-jsonish", "--", "sh", "-c", inner]);
  assert.equal(s.code, 0, s.stderr);
  const [mod, shellDir] = s.stdout.trim().split("\n");
  assert.equal(mod, "Elixir.Jsonish");
  await assert.rejects(readdir(shellDir), { code: "ENOENT" }, "the environment directory is removed afterwards");
  const inside = JSON.parse(await readFile(join(work, "gc-inside.json"), "utf8"));
  assert.deepEqual(inside.freed, [], "a gc while the shell runs frees nothing of it");
  const gc = await bx(["gc", "--store", store(), "--json"]);
  assert.equal(gc.code, 0, gc.stderr);
  const freed = JSON.parse(gc.stdout).freed.map((f: { path: string }) => f.path);
  assert.equal(freed.length, 1, JSON.stringify(freed));
  assert.match(freed[0], /-jsonish-0\.3\.1$/);

  const bad = await bx([...shellArgs, "beacon", "--", "no-such-command-here"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /cannot run no-such-command-here/);
});

// Every store item no generation of any test profile links to: what gc must free, exactly.
async function unreferenced(): Promise<string[]> {
  const live = new Set<string>();
  for (const name of ["web", "hello", "versions"]) for (const g of await generations(prof(name))) for (const x of g.packages) live.add(x.path);
  const s = await openStore(store());
  try {
    return s.listItems().map((i) => i.path).filter((path) => !live.has(path)).sort();
  } finally {
    await s.close();
  }
}

async function gcFreed(): Promise<string[]> {
  const r = await bx(["gc", "--store", store(), "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).freed.map((f: { path: string }) => f.path).sort();
}

test("gc after remove and delete-generations frees exactly the items nothing references any more", async () => {
  const p = prof("web");
  const add = await change("install", p, ["wirecodec"]);
  assert.deepEqual(add.json.changes, [{ name: "wirecodec", to: "1.0.0" }]);
  const wirecodec = (await generations(p)).find((g) => g.current)!.packages.find((x) => x.name === "wirecodec")!.path;
  const rm1 = await change("remove", p, ["wirecodec"]);
  assert.deepEqual(rm1.json.changes, [{ name: "wirecodec", from: "1.0.0" }]);

  // Generation 2 still has wirecodec: nothing is freed.
  assert.deepEqual(await unreferenced(), []);
  assert.deepEqual(await gcFreed(), []);

  const refused = await bx(["profile", "delete-generations", "3", "--profile", p]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /generation 3 is the current generation/);

  const del = await bx(["profile", "delete-generations", "--profile", p, "--json"]);
  assert.equal(del.code, 0, del.stderr);
  assert.deepEqual(JSON.parse(del.stdout).deleted, [1, 2]);
  assert.deepEqual((await readdir(profilesDir())).filter((e) => e.startsWith("web")).sort(), ["web", "web-3-link"]);
  assert.deepEqual(await unreferenced(), [wirecodec]);
  assert.deepEqual(await gcFreed(), [wirecodec]);
  assert.deepEqual(await gcFreed(), []);

  // What remains still works.
  assert.equal(await erlVersions(join(p, "bin")), "beacon=1.2.0 hello_beacon=none");
  const older = await bx(["profile", "delete-generations", "--older-than", "1d", "--profile", prof("hello"), "--json"]);
  assert.equal(older.code, 0, older.stderr);
  assert.deepEqual(JSON.parse(older.stdout).deleted, []);
});

test("without --profile, the profile is <data dir>/profiles/default", async () => {
  const r = await bx(["install", "erlang-beacon@~> 2.0", ...repoArgs()]);
  assert.equal(r.code, 0, r.stderr);
  const p = join(work, "data", "profiles", "default");
  assert.equal(await readlink(p), "default-1-link");
  assert.equal(await erlVersions(join(p, "bin")), "beacon=2.0.0 hello_beacon=none");
  const list = await bx(["profile", "list-generations"]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^ {3}1 {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}beacon 2\.0\.0 {2}\(current\)$/m);
});
