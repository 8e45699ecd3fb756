// `beamix challenge` on the fixture closure. Store A builds trellis and nifsum and publishes them
// (key 1); a second cache holds the same items signed by key 2, so three sources agree. Two more
// caches hold a genuinely different build of beacon under the same derivation hash: a store made
// from A's trees with one .beam rewritten (only its Dbgi chunk; or its Code chunk), registered
// through the Store API and published signed by the trusted key 1. Records that are unsigned or
// signed by a stranger are reported and left out.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chmod, cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { beamix, type CliResult } from "./support/cli.ts";
import { makeFixtureRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { openStore, type StoreItem } from "../src/store/store.ts";
import { makeWritable } from "../src/store/perms.ts";
import { beamModuleName, parseBeam, writeBeam } from "../src/erlang/beam.ts";
import { termToBinary } from "../src/erlang/etf.ts";
import { atom, list, tuple } from "../src/erlang/term.ts";
import { FileBackend } from "../src/substitute/backends/file-backend.ts";
import { closureInOrder, publishClosure } from "../src/substitute/server/publish.ts";
import { generateKeyPair, parseSecretKey, readPublicKeyFile, readSecretKeyFile, writeKeyPair } from "../src/signing/keys.ts";
import { formatRecord, parseRecord, signRecord } from "../src/substitute/format/record.ts";
import { Substituters } from "../src/substitute/client/substituters.ts";
import { challenge, formatChallengeItem, LOCAL, type ChallengeItem, type ChallengeReport } from "../src/substitute/client/challenge.ts";

let work: string;
let registry: FixtureRegistry;
let hexServer: StaticServer;
const keys: { secret: string; public: string }[] = [];
const caches: Record<string, string> = {}; // name → directory
let beaconItem: StoreItem;
let debugModule: string; // the module whose Dbgi chunk the "debug" build changed
let codeBeam: string; // the file whose Code chunk the "code" build changed, relative to the item
const SPECS = ["trellis", "nifsum"];

const storeDir = (name: string) => join(work, "stores", name);
const url = (name: string) => `file://${caches[name]}`;
const env = () => ({ BEAMIX_CACHE_DIR: join(work, "dl"), BEAMIX_CONFIG_DIR: join(work, "config-empty"), HEX_MIRROR: "", HEX_MIRROR_URL: "" });
const repoArgs = () => ["--repo", hexServer.url, "--public-key", registry.publicKeyPath];
const trustBoth = () => ["--trusted-key", keys[0].public, "--trusted-key", keys[1].public];

function run(args: string[], store = storeDir("a")): Promise<CliResult> {
  return beamix(["challenge", ...SPECS, ...args, "--store", store, ...repoArgs()], { env: env(), timeoutMs: 600_000 });
}

async function runJson(args: string[], store?: string): Promise<CliResult & { json: ChallengeReport }> {
  const r = await run([...args, "--json"], store);
  try {
    return { ...r, json: JSON.parse(r.stdout) };
  } catch {
    throw new Error(`beamix challenge printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

const byName = (report: ChallengeReport, name: string) => report.items.find((i) => i.name === name)!;

// A new store holding A's closure, the same items under the same names, with beacon's tree
// changed by `change` before it is registered.
async function storeWithChangedBeacon(name: string, change: (tree: string) => Promise<void>): Promise<string> {
  const a = await openStore(storeDir("a"));
  const d = await openStore(storeDir(name));
  try {
    for (const item of closureInOrder(a, a.listItems().map((i) => i.path))) {
      const stage = await d.createStagingDir();
      await cp(item.path, stage, { recursive: true });
      await makeWritable(stage);
      if (item.name === "beacon") await change(stage);
      await d.register({ drvHash: item.drvHash, name: item.name, version: item.version, stagingDir: stage, references: item.references.map((r) => join(d.dir, basename(r))), deriver: item.deriver });
    }
  } finally {
    await a.close();
    await d.close();
  }
  return storeDir(name);
}

async function publishStore(store: string, cacheName: string, key: string): Promise<void> {
  const s = await openStore(store);
  try {
    caches[cacheName] = join(work, "caches", cacheName);
    await publishClosure(s, s.listItems().map((i) => i.path), new FileBackend(caches[cacheName]), { signWith: await readSecretKeyFile(key) });
  } finally {
    await s.close();
  }
}

// Rewrites one chunk of the first .beam (by name) under ebin/ that has it.
async function rewriteChunk(tree: string, id: string, rewrite: (data: Buffer) => Buffer): Promise<{ rel: string; module: string }> {
  const ebin = join(tree, "lib", "erlang", "lib", `beacon-${beaconItem.version}`, "ebin");
  for (const f of (await readdir(ebin)).filter((n) => n.endsWith(".beam")).sort()) {
    const path = join(ebin, f);
    const beam = parseBeam(await readFile(path), path);
    const chunk = beam.chunks.find((c) => c.id === id);
    if (!chunk) continue;
    chunk.data = rewrite(chunk.data);
    await chmod(path, 0o644);
    await writeFile(path, writeBeam(beam.chunks));
    return { rel: path.slice(tree.length + 1), module: beamModuleName(beam)! };
  }
  throw new Error(`no .beam of beacon has a ${id} chunk`);
}

// A copy of cache "a" whose beacon record is replaced by `edit` of it.
async function cacheWithBeaconRecord(name: string, edit: (text: string) => string): Promise<void> {
  caches[name] = join(work, "caches", name);
  await cp(caches.a, caches[name], { recursive: true });
  const rec = join(caches[name], `${beaconItem.drvHash}.beamixinfo`);
  await writeFile(rec, edit(await readFile(rec, "utf8")));
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-challenge-"));
  registry = await makeFixtureRegistry(join(work, "repo"));
  hexServer = await startStaticServer({ root: registry.dir });
  for (const name of ["challenge-a-1", "challenge-b-1"]) {
    const k = await writeKeyPair(name, join(work, "keys"));
    keys.push({ secret: k.secretPath, public: k.publicPath });
  }
  caches.a = join(work, "caches", "a");
  const pub = await beamix(["publish", ...SPECS, "--store", storeDir("a"), ...repoArgs(), "--to", url("a"), "--sign-with", keys[0].secret], { env: env(), timeoutMs: 600_000 });
  assert.equal(pub.code, 0, pub.stderr);
  const a = await openStore(storeDir("a"));
  beaconItem = a.listItems().find((i) => i.name === "beacon")!;
  await a.close();

  await publishStore(storeDir("a"), "b", keys[1].secret); // the same items, another key
  const debugStore = await storeWithChangedBeacon("debug", async (tree) => {
    // Debug info that says "none": a different term, the code untouched.
    const none = termToBinary(tuple([atom("debug_info_v1"), atom("erl_abstract_code"), tuple([atom("none"), list([])])]));
    debugModule = (await rewriteChunk(tree, "Dbgi", () => none)).module;
  });
  await publishStore(debugStore, "debug", keys[0].secret);
  const codeStore = await storeWithChangedBeacon("code", async (tree) => {
    codeBeam = (await rewriteChunk(tree, "Code", (d) => {
      const c = Buffer.from(d);
      c[c.length - 1] ^= 0x01;
      return c;
    })).rel;
  });
  await publishStore(codeStore, "code", keys[0].secret);

  const stranger = parseSecretKey(generateKeyPair("stranger-1").secretText);
  await cacheWithBeaconRecord("untrusted", (t) => formatRecord(signRecord({ ...parseRecord(t, "r"), signatures: [] }, stranger)));
  await cacheWithBeaconRecord("unsigned", (t) => formatRecord({ ...parseRecord(t, "r"), signatures: [] }));
});

after(async () => {
  await hexServer?.close();
  await rm(work, { recursive: true, force: true });
});

const OK_LINE = /^[a-z]+ \d+\.\d+\.\d+: ok: 3 sources agree on sha256:[0-9a-f]{16}…$/;

test("two caches that agree with the local store: every item of the closure is ok", async () => {
  const r = await run(["--substituters", `${url("a")} ${url("b")}`, ...trustBoth()]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.length, 6, r.stdout);
  for (const l of lines) assert.match(l, OK_LINE);
  assert.match(r.stderr, /^6 items: 6 consistent, 0 differ, 0 inconclusive$/m);

  const j = await runJson(["--substituters", url("a"), "--substituters", url("b"), ...trustBoth()]);
  assert.equal(j.code, 0);
  assert.deepEqual(j.json.summary, { items: 6, consistent: 6, differs: 0, debugInfoOnly: 0, inconclusive: 0 });
  const beacon = byName(j.json, "beacon");
  assert.equal(beacon.item, basename(beaconItem.path));
  assert.deepEqual(beacon.sources.map((s) => [s.origin, s.state, s.narHash]), [
    [LOCAL, "present", beaconItem.narHash],
    [url("a"), "present", beaconItem.narHash],
    [url("b"), "present", beaconItem.narHash],
  ]);
  assert.deepEqual(beacon.diffs, []);

  // --roots-only: just the given packages.
  const roots = await run(["--roots-only", "--substituters", url("a"), ...trustBoth()]);
  assert.deepEqual(roots.stdout.trim().split("\n").map((l) => l.split(":")[0]), ["trellis 0.9.0", "nifsum 0.2.0"]);
  assert.match(roots.stderr, /^2 items: 2 consistent, 0 differ, 0 inconclusive$/m);
});

test("a cache whose beacon differs only in a Dbgi chunk: identical except debug info, naming the module", async () => {
  const r = await run(["--substituters", `${url("a")} ${url("debug")}`, ...trustBoth()]);
  assert.equal(r.code, 1, "a difference exits 1");
  assert.match(r.stderr, /^6 items: 5 consistent, 1 differ \(1 only in debug info\), 0 inconclusive$/m);
  const text = r.stdout.split("\n");
  const at = text.indexOf("beacon 1.2.0: differs");
  assert.ok(at >= 0, r.stdout);
  assert.match(text[at + 1], new RegExp(`^  local store: sha256:${beaconItem.narHash.slice(0, 16)}… \\(\\d+ bytes\\)$`));
  assert.match(text[at + 2], new RegExp(`^  ${url("a")}: sha256:${beaconItem.narHash.slice(0, 16)}…`));
  assert.match(text[at + 3], new RegExp(`^  ${url("debug")}: sha256:(?!${beaconItem.narHash.slice(0, 16)})[0-9a-f]{16}…`));
  assert.equal(text[at + 4], `  ${url("debug")} against local store: identical except debug info of 1 module: ${debugModule}`);
  assert.match(text[at + 5], new RegExp(`^    ${debugModule} \\(lib/erlang/lib/beacon-1\\.2\\.0/ebin/${debugModule}\\.beam\\): Dbgi \\(different terms\\)$`));

  const j = await runJson(["--substituters", `${url("a")} ${url("debug")}`, ...trustBoth()]);
  const beacon = byName(j.json, "beacon");
  assert.equal(beacon.verdict, "differs");
  assert.equal(beacon.diffs.length, 1);
  assert.equal(beacon.diffs[0].a, LOCAL);
  assert.equal(beacon.diffs[0].b, url("debug"));
  const c = beacon.diffs[0].comparison!;
  assert.equal(c.verdict, "identical-except-debug-info");
  assert.deepEqual(c.verdict === "identical-except-debug-info" && c.modules, [debugModule]);
  for (const other of j.json.items.filter((i) => i.name !== "beacon")) assert.equal(other.verdict, "consistent", other.name);

  // --no-diff: the hashes only, nothing fetched.
  const quick = await runJson(["--no-diff", "--substituters", `${url("a")} ${url("debug")}`, ...trustBoth()]);
  assert.equal(quick.code, 1);
  assert.equal(byName(quick.json, "beacon").verdict, "differs");
  assert.deepEqual(byName(quick.json, "beacon").diffs, []);
});

test("a cache whose beacon differs in a Code chunk: differs, naming the file and the chunk", async () => {
  const r = await run(["--substituters", `${url("a")} ${url("code")}`, ...trustBoth()]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^6 items: 5 consistent, 1 differ \(0 only in debug info\), 0 inconclusive$/m);
  const text = r.stdout.split("\n");
  const at = text.indexOf(`  ${url("code")} against local store: differs: 1 path`);
  assert.ok(at >= 0, r.stdout);
  assert.equal(text[at + 1], `    content: ${codeBeam} (chunks Code)`);

  // Without a local item the reference is the first cache: the two caches are compared.
  const fresh = await runJson(["--substituters", `${url("code")} ${url("a")}`, ...trustBoth()], storeDir("empty-1"));
  const beacon = byName(fresh.json, "beacon");
  assert.equal(beacon.sources[0].state, "absent");
  assert.equal(beacon.verdict, "differs");
  assert.deepEqual([beacon.diffs[0].a, beacon.diffs[0].b], [url("code"), url("a")]);
  const c = beacon.diffs[0].comparison!;
  assert.equal(c.verdict, "differs");
  assert.deepEqual(c.verdict === "differs" && c.files.map((f) => [f.path, f.kind, f.chunks]), [[codeBeam, "content", ["Code"]]]);
  // Nothing was put into the store by fetching trees to compare.
  const s = await openStore(storeDir("empty-1"));
  assert.equal(s.listItems().length, 0);
  assert.deepEqual(await readdir(join(storeDir("empty-1"), ".beamix", "tmp")), []);
  await s.close();
});

test("untrusted and unsigned records are reported as such and not counted", async () => {
  const r = await run(["--substituters", `${url("a")} ${url("untrusted")} ${url("unsigned")}`, "--trusted-key", keys[0].public]);
  assert.equal(r.code, 0, r.stderr);
  const text = r.stdout.split("\n");
  const at = text.findIndex((l) => l.startsWith("beacon 1.2.0: "));
  assert.match(text[at], /^beacon 1\.2\.0: ok: 2 sources agree on sha256:[0-9a-f]{16}…$/);
  assert.match(text[at + 1], new RegExp(`^  ${url("untrusted")}: untrusted record \\(signed by stranger-1, which is not a trusted key\\), claims sha256:${beaconItem.narHash.slice(0, 16)}…$`));
  assert.match(text[at + 2], new RegExp(`^  ${url("unsigned")}: untrusted record \\(the record is not signed\\), claims sha256:`));
  const others = text.filter((l) => /^[a-z]+ [\d.]+: /.test(l) && !l.startsWith("beacon "));
  assert.equal(others.length, 5);
  for (const l of others) assert.match(l, /: ok: 4 sources agree on /);
});

test("not built locally: agreement between caches, inconclusive with one, --build builds it here first", async () => {
  const empty = storeDir("empty-2");
  const two = await run(["--roots-only", "--substituters", `${url("a")} ${url("b")}`, ...trustBoth()], empty);
  assert.equal(two.code, 0, two.stderr);
  assert.match(two.stdout, /^trellis 0\.9\.0: ok: 2 sources agree on sha256:[0-9a-f]{16}… \(not built locally\)$/m);
  const one = await run(["--roots-only", "--substituters", url("a"), ...trustBoth()], empty);
  assert.equal(one.code, 0);
  assert.match(one.stdout, new RegExp(`^trellis 0\\.9\\.0: inconclusive: only ${url("a")} has it \\(not built locally\\)$`, "m"));
  assert.match(one.stderr, /^2 items: 0 consistent, 0 differ, 2 inconclusive$/m);

  const built = await run(["--roots-only", "--build", "--substituters", url("debug"), ...trustBoth()], storeDir("built"));
  assert.equal(built.code, 0, built.stderr);
  assert.match(built.stderr, /^building beacon 1\.2\.0$/m);
  assert.doesNotMatch(built.stderr, /substitut/);
  // Built here, beacon among the rest; the roots agree with the cache (its beacon is not a root).
  assert.match(built.stdout, /^trellis 0\.9\.0: ok: 2 sources agree on sha256:[0-9a-f]{16}…$/m);
  assert.match(built.stdout, /^nifsum 0\.2\.0: ok: 2 sources agree on /m);
});

test("the library: a trusted record whose archive is broken is a difference that cannot be shown; a substituted local item is noted", async () => {
  caches.broken = join(work, "caches", "broken");
  await cp(caches.debug, caches.broken, { recursive: true });
  const rec = parseRecord(await readFile(join(caches.broken, `${beaconItem.drvHash}.beamixinfo`), "utf8"), "r");
  const archive = join(caches.broken, rec.url);
  await writeFile(archive, (await readFile(archive)).subarray(0, 100));

  const store = await openStore(storeDir("a"));
  try {
    const subs = new Substituters({ urls: [url("broken")], trustedKeys: await readPublicKeyFile(keys[0].public) });
    const r = await challenge([{ drvHash: beaconItem.drvHash, name: "beacon", version: "1.2.0" }], { store, substituters: subs });
    const item = r.items[0];
    assert.equal(item.verdict, "differs");
    assert.equal(item.diffs.length, 1);
    assert.equal(item.diffs[0].comparison, undefined);
    assert.match(item.diffs[0].error!, new RegExp(`^cannot fetch ${url("broken")}'s tree: the archive file size is 100, the record says ${rec.fileSize}$`));
    assert.deepEqual(r.summary, { items: 1, consistent: 0, differs: 1, debugInfoOnly: 0, inconclusive: 0 });
    assert.ok(formatChallengeItem(item).includes(`  ${url("broken")} against local store: ${item.diffs[0].error}`));
  } finally {
    await store.close();
  }

  // A store that got its items from cache a: its "local" hashes are cache a's, and the output says so.
  const sub = await beamix(["build", "trellis", "--store", storeDir("substituted"), ...repoArgs(), "--substituters", url("a"), "--trusted-key", keys[0].public], { env: env(), timeoutMs: 600_000 });
  assert.equal(sub.code, 0, sub.stderr);
  const s = await openStore(storeDir("substituted"));
  try {
    const subs = new Substituters({ urls: [url("b")], trustedKeys: await readPublicKeyFile(keys[1].public) });
    const r = await challenge([{ drvHash: beaconItem.drvHash, name: "beacon", version: "1.2.0" }], { store: s, substituters: subs });
    const item: ChallengeItem = r.items[0];
    assert.equal(item.sources[0].substitutedFrom, url("a"));
    assert.match(formatChallengeItem(item)[0], new RegExp(`^beacon 1\\.2\\.0: ok: 2 sources agree on sha256:[0-9a-f]{16}… \\(the local item was substituted from ${url("a")}\\)$`));
  } finally {
    await s.close();
  }
});

test("no usable cache: no --substituters is a usage error; caches without a trusted key are refused", async () => {
  const none = await run([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^beamix: no binary cache to challenge: give --substituters URL/m);
  const untrusted = await run(["--substituters", url("a")]);
  assert.equal(untrusted.code, 1);
  assert.match(untrusted.stderr, /^not using substituters \(.*\): no trusted public keys/m);
  assert.match(untrusted.stderr, /^beamix: no usable binary cache to challenge/m);
});
