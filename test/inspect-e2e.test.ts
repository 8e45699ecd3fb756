// Closure queries through the CLI on the fixture corpus: size, graph, why-depends, weather,
// roots, build --root and build --dry-run, each as text and as --json.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beamix, type CliResult } from "./support/cli.ts";
import { fixturesDir, makeFixtureRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";

let work: string;
let registry: FixtureRegistry;
let hexServer: StaticServer;
let secretKey: string;
let publicKey: string;
const CLOSURE = ["beacon", "mimetable", "plugboard", "sockadapt", "trellis"];

const storeA = () => join(work, "store-a");
const repoArgs = () => ["--repo", hexServer.url, "--public-key", registry.publicKeyPath];
const env = () => ({ BEAMIX_CACHE_DIR: join(work, "dl"), BEAMIX_CONFIG_DIR: join(work, "config"), HEX_MIRROR: "", HEX_MIRROR_URL: "", MIX_ENV: "" });
const run = (args: string[]) => beamix(args, { env: env(), timeoutMs: 600_000 });
const inA = (args: string[]) => run([...args, "--store", storeA(), ...repoArgs()]);

function json<T>(r: CliResult): T {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-inspect-e2e-"));
  registry = await makeFixtureRegistry(join(work, "repo"));
  hexServer = await startStaticServer({ root: registry.dir });
  const keys = await run(["key", "generate", "inspect-test", "-o", join(work, "keys")]);
  assert.equal(keys.code, 0, keys.stderr);
  [secretKey, publicKey] = keys.stdout.trim().split("\n");
  const built = await inA(["build", "trellis", "--root", join(work, "result"), "--timeline", join(work, "timeline.html")]);
  assert.equal(built.code, 0, built.stderr);
  assert.match(built.stderr, /result is a GC root/);
  assert.match(built.stderr, /timeline written to /);
  const pub = await inA(["publish", "trellis", "--to", `file://${join(work, "cache-full")}`, "--sign-with", secretKey]);
  assert.equal(pub.code, 0, pub.stderr);
  const part = await inA(["publish", "beacon@~> 1.2", "--to", `file://${join(work, "cache-part")}`, "--sign-with", secretKey]);
  assert.equal(part.code, 0, part.stderr);
});

after(async () => {
  await hexServer?.close();
  await rm(work, { recursive: true, force: true });
});

interface SizeJson {
  items: { path: string; name: string; version: string; own: number; closure: number }[];
  total: number;
}

test("size: every item of trellis's closure with its own and closure size, the root first; a store path works as well as a spec", async () => {
  const r = json<SizeJson>(await inA(["size", "trellis", "--json"]));
  assert.deepEqual(r.items.map((i) => i.name).sort(), CLOSURE);
  assert.equal(r.items[0].name, "trellis");
  assert.equal(r.items[0].closure, r.total);
  assert.equal(r.total, r.items.reduce((s, i) => s + i.own, 0));
  const beacon = r.items.find((i) => i.name === "beacon")!;
  assert.equal(beacon.closure, beacon.own, "beacon needs nothing");
  for (const i of r.items) assert.ok(i.own > 0 && i.closure >= i.own, i.name);

  const text = await inA(["size", beacon.path]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^beacon 1\.2\.0 +\d+\.\d KiB +\d+\.\d KiB$/m);
  assert.match(text.stdout, /^total: .* in 1 items$/m);

  const missing = await run(["size", "trellis", "--store", join(work, "store-empty"), ...repoArgs()]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr.trim(), "beamix: trellis 0.9.0: not in the store yet (run beamix build)");
});

test("graph: dot with an edge per reference; html is one self-contained page with the graph's data; --json", async () => {
  const dot = await inA(["graph", "trellis"]);
  assert.equal(dot.code, 0, dot.stderr);
  assert.match(dot.stdout, /^digraph beamix \{/);
  assert.match(dot.stdout, /"[0-9a-z]+-trellis-0\.9\.0" -> "[0-9a-z]+-beacon-1\.2\.0";/);
  const g = json<{ nodes: { name: string; root: boolean }[]; edges: unknown[] }>(await inA(["graph", "trellis", "--json"]));
  assert.deepEqual(g.nodes.map((n) => n.name).sort(), CLOSURE);
  assert.deepEqual(g.nodes.filter((n) => n.root).map((n) => n.name), ["trellis"]);
  assert.equal(dot.stdout.split("\n").filter((l) => l.includes(" -> ")).length, g.edges.length);

  const page = join(work, "graph.html");
  const html = await inA(["graph", "trellis", "--format", "html", "-o", page]);
  assert.equal(html.code, 0, html.stderr);
  const text = await readFile(page, "utf8");
  assert.match(text, /^<!doctype html>/);
  assert.doesNotMatch(text, /<script[^>]+src=|<link |https?:\/\/(?!www\.w3\.org\/2000\/svg)/, "nothing is loaded from elsewhere");
  assert.match(text, /"name":"sockadapt"/);

  const bad = await inA(["graph", "trellis", "--format", "png"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--format must be dot or html/);
  const nowhere = await inA(["graph", "trellis", "-o", join(work, "no-such-dir", "g.dot")]);
  assert.equal(nowhere.code, 1);
  assert.equal(nowhere.stderr.trim(), `beamix: cannot write ${join(work, "no-such-dir", "g.dot")} (ENOENT)`);
});

test("why-depends: the chain from trellis to beacon; none from beacon to trellis (exit 1)", async () => {
  const r = json<{ chain: { name: string }[] }>(await inA(["why-depends", "trellis", "beacon@~> 1.2", "--json"]));
  assert.equal(r.chain[0].name, "trellis");
  assert.equal(r.chain.at(-1)!.name, "beacon");
  const text = await inA(["why-depends", "trellis", "beacon@~> 1.2"]);
  assert.match(text.stdout, /^trellis 0\.9\.0 /);
  assert.match(text.stdout, /└───> beacon 1\.2\.0 /);
  const none = await inA(["why-depends", "beacon@~> 1.2", "trellis"]);
  assert.equal(none.code, 1);
  assert.equal(none.stdout, "");
  assert.equal(none.stderr.trim(), "beamix: beacon 1.2.0 does not depend on trellis 0.9.0");
});

test("weather: a full cache holds 5 of 5, a partial one 1 of 5 and names the rest, built or not; an untrusting client counts nothing", async () => {
  const caches = [`file://${join(work, "cache-full")}`, `file://${join(work, "cache-part")}`];
  const args = ["weather", "trellis", "--substituters", caches[0], "--substituters", caches[1], "--trusted-key", publicKey];
  const r = json<{ url: string; available: number; total: number; downloadBytes: number; items: { name: string; state: string }[] }[]>(await inA([...args, "--json"]));
  assert.deepEqual(r.map((c) => [c.url, c.available, c.total]), [[caches[0], 5, 5], [caches[1], 1, 5]]);
  assert.ok(r[0].downloadBytes > 0);
  assert.deepEqual(r[1].items.filter((i) => i.state === "absent").map((i) => i.name).sort(), ["mimetable", "plugboard", "sockadapt", "trellis"]);
  const text = await inA(args);
  assert.match(text.stdout, /^  5 of 5 items available \(100\.0%\), .* to download/m);
  assert.match(text.stdout, /^  1 of 5 items available \(20\.0%\)/m);
  assert.match(text.stdout, /^  absent: trellis 0\.9\.0$/m);

  const untrusting = await inA(["weather", "trellis", "--substituters", caches[0]]);
  assert.equal(untrusting.code, 0, untrusting.stderr);
  assert.match(untrusting.stderr, /no trusted public keys/);
  assert.match(untrusting.stdout, /not usable/);
  // Before building anything: a fresh store asks about the planned closure (identities known beforehand).
  const unbuilt = json<{ available: number; total: number }[]>(await run(["weather", "trellis", "--store", join(work, "store-unbuilt"), ...repoArgs(), "--substituters", caches[1], "--trusted-key", publicKey, "--json"]));
  assert.deepEqual(unbuilt.map((c) => [c.available, c.total]), [[1, 5]]);
  // A store path's closure works as well.
  const beaconPath = json<{ path: string }[]>(await inA(["path", "beacon@~> 1.2", "--json"]))[0].path;
  const byPath = json<{ available: number; total: number }[]>(await inA(["weather", beaconPath, "--substituters", caches[1], "--trusted-key", publicKey, "--json"]));
  assert.deepEqual(byPath.map((c) => [c.available, c.total]), [[1, 1]]);
  const none = await inA(["weather", "trellis"]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no binary cache to ask/);
});

test("build --dry-run: present in the built store; downloads with sizes from a cache; builds without one; nothing changes", async () => {
  // A page or a link that cannot be written is said before anything is built.
  for (const option of ["--timeline", "--root"]) {
    const r = await run(["build", "trellis", option, join(work, "no-such-dir", "x"), "--store", join(work, "store-unwritten"), ...repoArgs()]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^beamix: ${option} .*no-such-dir/x: cannot write in .*no-such-dir \\(ENOENT\\)\n$`));
  }
  const present = json<{ present: number; build: number }>(await inA(["build", "trellis", "-n", "--json"]));
  assert.deepEqual([present.present, present.build], [5, 0]);

  const fresh = join(work, "store-fresh");
  const viaCache = await run(["build", "trellis", "--dry-run", "--store", fresh, ...repoArgs(), "--substituters", `file://${join(work, "cache-part")}`, "--trusted-key", publicKey]);
  assert.equal(viaCache.code, 0, viaCache.stderr);
  assert.match(viaCache.stdout, /^would download 1 item \(.*\):\n  beacon 1\.2\.0  .* from file:\/\//m);
  assert.match(viaCache.stdout, /^would build 4 items:$/m);
  const j = json<{ entries: { name: string; action: string; downloadBytes?: number }[]; downloadBytes: number }>(
    await run(["build", "trellis", "-n", "--json", "--store", fresh, ...repoArgs(), "--substituters", `file://${join(work, "cache-full")}`, "--trusted-key", publicKey]),
  );
  assert.deepEqual(j.entries.map((e) => e.action), ["substitute", "substitute", "substitute", "substitute", "substitute"]);
  assert.equal(j.downloadBytes, j.entries.reduce((s, e) => s + e.downloadBytes!, 0));
  const after = await run(["gc", "--dry-run", "--store", fresh, "--json"]);
  assert.equal(JSON.parse(after.stdout).kept, 0, "a dry run registers nothing");
});

interface RootsJson {
  roots: { name: string; kind: string; item: string | null; link?: string; project?: { dir: string | null }; stale: string | null }[];
  removed: string[];
}

test("build --root and roots: the link keeps trellis alive; removing the link makes the root stale; --remove-stale removes it", async () => {
  const link = join(work, "result");
  const r = json<RootsJson>(await run(["roots", "--store", storeA(), "--json"]));
  const root = r.roots.find((x) => x.kind === "link")!;
  assert.equal(root.link, link);
  assert.match(root.item!, /-trellis-0\.9\.0$/);
  assert.equal(root.stale, null);
  const gc = json<{ freed: unknown[] }>(await run(["gc", "--dry-run", "--store", storeA(), "--json"]));
  assert.equal(gc.freed.length, 0, "the whole closure is kept through the link");

  await rm(link);
  const text = await run(["roots", "--store", storeA()]);
  assert.match(text.stdout, new RegExp(`^${root.name}  link ${link}  -> \\(nothing\\)  \\[stale: ${link} is gone\\]$`, "m"));
  const removed = json<RootsJson>(await run(["roots", "--store", storeA(), "--remove-stale", "--json"]));
  assert.deepEqual(removed.removed, [root.name]);
  assert.equal(removed.roots.filter((x) => x.kind === "link").length, 0);
  const unknown = await run(["roots", "--store", storeA(), "--remove", "no-such-root"]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^beamix: no GC root named no-such-root in the store /);
  // The build made it again: back for the next tests.
  await symlink(root.item!, link);
});

test("roots of a Mix project (beamix deps): listed with the project's directory; stale once the project is gone", async () => {
  const project = join(work, "hello_beacon");
  await cp(join(fixturesDir, "consumers", "hello_beacon"), project, { recursive: true });
  const lock = await beamix(["hex", "lock", ...repoArgs()], { env: env(), cwd: project, timeoutMs: 600_000 });
  assert.equal(lock.code, 0, lock.stderr);
  const deps = await run(["deps", project, "--store", storeA(), ...repoArgs(), "--timeline", join(work, "deps-timeline.html")]);
  assert.equal(deps.code, 0, deps.stderr);
  assert.match(await readFile(join(work, "deps-timeline.html"), "utf8"), /data-package="beacon 1\.2\.0"/);

  const r = json<RootsJson>(await run(["roots", "--store", storeA(), "--json"]));
  const mine = r.roots.filter((x) => x.kind === "project");
  assert.equal(mine.length, 1);
  assert.equal(mine[0].project!.dir, project);
  assert.match(mine[0].item!, /-beacon-1\.2\.0$/);
  assert.equal(mine[0].stale, null);

  await rm(project, { recursive: true });
  const gone = json<RootsJson>(await run(["roots", "--store", storeA(), "--remove-stale", "--json"]));
  assert.deepEqual(gone.removed, [mine[0].name]);
});
