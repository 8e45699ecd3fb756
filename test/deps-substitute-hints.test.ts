// Compile-env hints as a library: their format and limits, how publishing merges them into a
// cache, how Substituters reads them from several caches, how `beamix serve` serves them (from a
// cache directory and from a store's own index), and that a read set from a cache cannot reach
// anything but the project's own config.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore, type Store, type StoreItem } from "../src/store/store.ts";
import { generateKeyPair, parsePublicKey, parseSecretKey, type SecretKey } from "../src/signing/keys.ts";
import { FileBackend } from "../src/substitute/backends/file-backend.ts";
import { formatCacheInfo } from "../src/substitute/format/cache-info.ts";
import { publishClosure } from "../src/substitute/server/publish.ts";
import { Substituters } from "../src/substitute/client/substituters.ts";
import { keyOfPath, startSubstituteServer } from "../src/substitute/server/serve.ts";
import { compileEnvKey, formatHint, hintsOfItems, MAX_HINT_SETS, mergeReadSets, parseHint, publishHint, readHint, type CompileEnvHint } from "../src/substitute/format/compile-env-hints.ts";
import { restrictConfig, type ConfigRead } from "../src/derivation/compile-env.ts";
import { CompileEnvIndex } from "../src/store/compile-env-index.ts";
import { atom, bin } from "../src/erlang/term.ts";
import { writeTreeSpec } from "./support/substitute-cache.ts";

let work: string;
let key: SecretKey;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-deps-hints-"));
  key = parseSecretKey(generateKeyPair("hints-test-1").secretText);
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

const B = (c: string) => c.repeat(64); // a basis
const r = (app: string, k: string): ConfigRead => ({ app, key: k });
const hint = (basis: string, readSets: ConfigRead[][]): CompileEnvHint => ({ basis, name: "mimetable", version: "1.0.0", readSets });

async function cache(name: string, priority = 40): Promise<FileBackend> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "beamix-cache-info"), formatCacheInfo({ format: 1, priority }));
  return new FileBackend(dir);
}

// A store item as `beamix deps` registers it: its deriver records the basis and the reads.
async function depItem(store: Store, drvHash: string, name: string, basis: string, reads: ConfigRead[]): Promise<StoreItem> {
  const stage = await store.createStagingDir();
  await writeTreeSpec(stage, { [`lib/erlang/lib/${name}-1.0.0/ebin/${name}.app`]: `{application,${name},[]}.\n` });
  return store.register({ drvHash, name, version: "1.0.0", stagingDir: stage, deriver: { drvHash, compileEnv: { basis, reads } } });
}

test("a hint round-trips; sets come out sorted and without duplicates", () => {
  const h = hint(B("a"), [[r("mimetable", "types"), r("mimetable", "extensions")], [r("mimetable", "extensions"), r("mimetable", "types")], []]);
  const text = formatHint(h);
  assert.ok(text.endsWith("\n"));
  const back = parseHint(text, "x", B("a"));
  assert.deepEqual(back.readSets, [[r("mimetable", "extensions"), r("mimetable", "types")], []]);
  assert.equal(back.name, "mimetable");
  assert.equal(compileEnvKey(B("a")), `compile-env/${B("a")}.json`);
  assert.throws(() => compileEnvKey("../x"), /invalid compile-env basis/);
});

test("malformed hints, hints about another basis and oversized ones are refused with the origin named", () => {
  const ok = JSON.parse(formatHint(hint(B("a"), [[r("a", "k")]])));
  const bad = (x: unknown, re: RegExp) => assert.throws(() => parseHint(typeof x === "string" ? x : JSON.stringify(x), "file:///c/compile-env/a.json", B("a")), re);
  bad("{", /file:\/\/\/c\/compile-env\/a\.json: not JSON/);
  bad({ ...ok, format: "other" }, /not a beamix-compile-env-hint\/1 file/);
  bad({ ...ok, basis: B("b") }, /the hint is about basis "b+", not a+/);
  bad({ ...ok, readSets: "x" }, /readSets is not a list/);
  bad({ ...ok, readSets: [[["a"]]] }, /invalid read/);
  bad({ ...ok, readSets: [[["a", 1]]] }, /invalid read/);
  bad({ ...ok, readSets: [[["a\u0000", "k"]]] }, /invalid read/);
  bad({ ...ok, readSets: Array.from({ length: MAX_HINT_SETS + 1 }, (_, i) => [["a", `k${i}`]]) }, /more than 32 read sets/);
  bad({ ...ok, name: 3 }, /no name or version/);
});

test("merging keeps the existing order, adds new sets last and drops the oldest past the limit", () => {
  const one = [r("a", "x")];
  const two = [r("a", "y")];
  assert.deepEqual(mergeReadSets([one], [two, one]), [one, two]);
  const many = Array.from({ length: MAX_HINT_SETS }, (_, i) => [r("a", `k${i}`)]);
  const merged = mergeReadSets(many, [two]);
  assert.equal(merged.length, MAX_HINT_SETS);
  assert.deepEqual(merged.at(-1), two);
  assert.deepEqual(merged[0], [r("a", "k1")]);
});

test("publishHint merges into what the cache has, writes nothing when every set is there, and replaces a damaged hint", async () => {
  const c = await cache("merge");
  const basis = B("c");
  assert.equal(await publishHint(c, hint(basis, [[r("mimetable", "types")]])), true);
  assert.equal(await publishHint(c, hint(basis, [[r("mimetable", "types")]])), false, "nothing new: no write");
  assert.equal(await publishHint(c, hint(basis, [[r("mimetable", "types"), r("mimetable", "suffixes")]])), true);
  assert.deepEqual((await readHint(c, basis))!.readSets, [[r("mimetable", "types")], [r("mimetable", "suffixes"), r("mimetable", "types")]]);
  // Written whole through a temporary file: no temporaries are left beside it.
  assert.deepEqual(await readdir(join(c.dir, "compile-env")), [`${basis}.json`]);

  await writeFile(join(c.dir, "compile-env", `${basis}.json`), "garbage");
  const problems: string[] = [];
  assert.equal(await publishHint(c, hint(basis, [[]]), (l) => problems.push(l)), true);
  assert.match(problems[0], /replacing the unreadable .*compile-env\/c+\.json: .*not JSON/);
  assert.deepEqual((await readHint(c, basis))!.readSets, [[]]);
});

test("publishing a closure writes one hint per basis for items that record one, after their records", async () => {
  const store = await openStore(join(work, "store-publish"));
  try {
    const a1 = await depItem(store, "1".repeat(64), "mimetable", B("d"), [r("mimetable", "types")]);
    const a2 = await depItem(store, "2".repeat(64), "mimetable", B("d"), [r("mimetable", "types"), r("mimetable", "suffixes")]);
    const other = await depItem(store, "3".repeat(64), "plugboard", B("e"), []);
    const plain = await (async () => {
      const stage = await store.createStagingDir();
      await writeTreeSpec(stage, { "lib/erlang/lib/beacon-1.0.0/ebin/beacon.app": "{application,beacon,[]}.\n" });
      return store.register({ drvHash: "4".repeat(64), name: "beacon", version: "1.0.0", stagingDir: stage, deriver: { drvHash: "4".repeat(64) } });
    })();
    assert.deepEqual(
      hintsOfItems([a1, a2, other, plain]).map((h) => [h.basis, h.name, h.readSets]),
      [
        [B("d"), "mimetable", [[r("mimetable", "types")], [r("mimetable", "suffixes"), r("mimetable", "types")]]],
        [B("e"), "plugboard", [[]]],
      ],
    );
    const c = new FileBackend(join(work, "published"));
    const first = await publishClosure(store, [a1.path, a2.path, other.path, plain.path], c, { signWith: key });
    assert.equal(first.pushed.length, 4);
    assert.deepEqual(first.hints, [B("d"), B("e")]);
    assert.deepEqual((await readdir(join(c.dir, "compile-env"))).sort(), [`${B("d")}.json`, `${B("e")}.json`]);
    assert.equal((await readHint(c, B("d")))!.readSets.length, 2);
    // Again: records present, hints complete: nothing written.
    const again = await publishClosure(store, [a1.path, other.path], c, { signWith: key });
    assert.equal(again.present.length, 2);
    assert.deepEqual(again.hints, []);
  } finally {
    await store.close();
  }
});

test("Substituters.compileEnvHints: every cache asked, merged in priority order; a bad hint is reported and left out", async () => {
  const basis = B("f");
  const low = await cache("prio-low", 10); // preferred
  const high = await cache("prio-high", 50);
  const broken = await cache("prio-broken", 5);
  await publishHint(high, hint(basis, [[r("a", "z")], [r("a", "x")]]));
  await publishHint(low, hint(basis, [[r("a", "x")], [r("a", "y")]]));
  await mkdir(join(broken.dir, "compile-env"), { recursive: true });
  await writeFile(join(broken.dir, "compile-env", `${basis}.json`), formatHint(hint(B("9"), [[r("evil", "k")]])));
  const lines: string[] = [];
  const subs = new Substituters({ backends: [high, broken, low], trustedKeys: [parsePublicKey(key.publicKey.text)], report: (l) => lines.push(l) });
  assert.deepEqual(await subs.compileEnvHints(basis), [[r("a", "x")], [r("a", "y")], [r("a", "z")]]);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /ignoring the compile-env hint of file:\/\/.*prio-broken: .*the hint is about basis "9+"/);
  assert.deepEqual(await subs.compileEnvHints(B("0")), [], "no cache has one");
  // Without trusted keys no cache is used, hints included.
  const untrusting = new Substituters({ backends: [low], trustedKeys: [], report: () => {} });
  assert.deepEqual(await untrusting.compileEnvHints(basis), []);
});

test("beamix serve serves hints from a cache directory and from a store's own index; nothing else under compile-env/", async () => {
  assert.equal(keyOfPath(`/compile-env/${B("a")}.json`), `compile-env/${B("a")}.json`);
  assert.throws(() => keyOfPath("/compile-env/a.json"), /not found/);
  assert.throws(() => keyOfPath(`/compile-env/${B("a")}.txt`), /not found/);
  assert.throws(() => keyOfPath(`/compile-env/..%2f${B("a")}.json`), /bad request path/);

  const dirCache = await cache("served");
  await publishHint(dirCache, hint(B("a"), [[r("mimetable", "types")]]));
  const fromDir = await startSubstituteServer({ source: { kind: "cache", dir: dirCache.dir } });
  const store = await openStore(join(work, "store-serve"));
  const index = new CompileEnvIndex(store);
  await index.record(B("b"), [r("plug", "mimes")], { name: "plug", version: "1.0.0" });
  const fromStore = await startSubstituteServer({ source: { kind: "store", store } });
  try {
    const res = await fetch(`${fromDir.url}/compile-env/${B("a")}.json`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.deepEqual(parseHint(await res.text(), "served", B("a")).readSets, [[r("mimetable", "types")]]);
    assert.equal((await fetch(`${fromDir.url}/compile-env/${B("c")}.json`)).status, 404);

    const s = await fetch(`${fromStore.url}/compile-env/${B("b")}.json`);
    assert.equal(s.status, 200);
    const h = parseHint(await s.text(), "store", B("b"));
    assert.equal(h.name, "plug");
    assert.deepEqual(h.readSets, [[r("plug", "mimes")]]);
    assert.equal((await fetch(`${fromStore.url}/compile-env/${B("c")}.json`)).status, 404);
  } finally {
    await fromDir.close(0);
    await fromStore.close(0);
    await store.close();
  }
});

test("a read set from a cache reaches only the project's own config entries, never an object's prototype", () => {
  const config = { mimetable: { types: bin("x") }, plain: { key: atom("v") } };
  assert.deepEqual(restrictConfig(config, [r("mimetable", "types"), r("plain", "other")]), { mimetable: { types: bin("x") } });
  const sneaky = restrictConfig(config, [r("__proto__", "polluted"), r("constructor", "prototype"), r("mimetable", "__proto__"), r("toString", "length")]);
  assert.deepEqual(Object.keys(sneaky), []);
  assert.equal(Object.getPrototypeOf(sneaky), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
