// Signed substitutes as a library: keys, records, cache-info, archives, the file:// backend,
// publishing a closure, substituting it into another store (directly and over HTTP), and every way
// a cache can lie or fail, with nothing unverified reaching the store.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { zstdCompressSync } from "node:zlib";
import { openStore, type Store, type StoreItem } from "../src/store/store.ts";
import { hashTree } from "../src/store/nar.ts";
import { checkSignature, generateKeyPair, parsePublicKey, parseSecretKey, readSecretKeyFile, signText, writeKeyPair, type SecretKey } from "../src/signing/keys.ts";
import { fingerprint, formatRecord, parseRecord, signRecord, verifyRecord, type SubstituteRecord } from "../src/substitute/format/record.ts";
import { formatCacheInfo, parseCacheInfo } from "../src/substitute/format/cache-info.ts";
import { packTree, unpackArchive } from "../src/substitute/format/archive.ts";
import { FileBackend } from "../src/substitute/backends/file-backend.ts";
import { getBytes } from "../src/substitute/backends/backend.ts";
import { publishClosure } from "../src/substitute/server/publish.ts";
import { Substituters } from "../src/substitute/client/substituters.ts";
import { isSafeKey } from "../src/substitute/format/layout.ts";
import { keyOfPath, startSubstituteServer, type SubstituteServer } from "../src/substitute/server/serve.ts";
import { authorizeKeys, configDir, readConfiguredSubstituters, readTrustedKeys } from "../src/config/trust.ts";
import { makeItem, startMisbehavingServer, writeTreeSpec, type MisbehavingServer } from "./support/substitute-cache.ts";

let work: string;
let key: SecretKey;
let otherKey: SecretKey;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-substitute-"));
  key = parseSecretKey(generateKeyPair("cache-a-1").secretText);
  otherKey = parseSecretKey(generateKeyPair("cache-a-1").secretText); // same name, different key
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
const H = (c: string) => c.repeat(64);

// ---- keys ----

test("keys: generated pairs sign and verify; other keys, edits and malformed signatures do not", async () => {
  const pair = generateKeyPair("cache.example.org-1");
  assert.match(pair.publicText, /^cache\.example\.org-1:[A-Za-z0-9+/]{43}=$/);
  assert.match(pair.secretText, /^cache\.example\.org-1:[A-Za-z0-9+/]{86}==$/);
  const secret = parseSecretKey(pair.secretText);
  const pub = parsePublicKey(pair.publicText);
  assert.equal(secret.publicKey.text, pair.publicText);
  const sig = signText("hello", secret);
  assert.match(sig, /^cache\.example\.org-1:[A-Za-z0-9+/]{86}==$/);
  assert.deepEqual(checkSignature("hello", sig, [pub]), { ok: true, keyName: "cache.example.org-1" });
  assert.deepEqual(checkSignature("hellO", sig, [pub]), { ok: false, reason: "signature by cache.example.org-1 does not verify" });
  const stranger = parsePublicKey(generateKeyPair("stranger").publicText);
  assert.deepEqual(checkSignature("hello", sig, [stranger]), { ok: false, reason: "signed by cache.example.org-1, which is not a trusted key" });
  const impostor = parsePublicKey(generateKeyPair("cache.example.org-1").publicText);
  assert.equal(checkSignature("hello", sig, [impostor]).ok, false);
  assert.equal(checkSignature("hello", sig, [impostor, pub]).ok, true, "any trusted key of that name may verify");
  assert.equal(checkSignature("hello", "nocolon", [pub]).ok, false);
  assert.equal(checkSignature("hello", "cache.example.org-1:AAAA", [pub]).ok, false);
  // Ed25519 is deterministic: the same text and key give the same signature.
  assert.equal(signText("hello", secret), sig);
});

test("keys: malformed key files are refused with a message naming the file", () => {
  assert.throws(() => parsePublicKey("no colon here", "k.pub"), /k\.pub: not a beamix public key/);
  assert.throws(() => parsePublicKey("bad name!:AAAA", "k.pub"), /k\.pub: invalid key name/);
  assert.throws(() => parsePublicKey("n:AAAA", "k.pub"), /k\.pub: public key n is not 32 bytes of base64/);
  const pair = generateKeyPair("n");
  assert.throws(() => parseSecretKey(pair.publicText, "k.sec"), /not 64 bytes/);
  // A secret key whose public half belongs to another key.
  const raw = Buffer.from(pair.secretText.split(":")[1], "base64");
  const otherPub = Buffer.from(generateKeyPair("n").publicText.split(":")[1], "base64");
  const spliced = `n:${Buffer.concat([raw.subarray(0, 32), otherPub]).toString("base64")}`;
  assert.throws(() => parseSecretKey(spliced, "k.sec"), /public half does not match its seed/);
  assert.throws(() => generateKeyPair("../evil"), /invalid key name/);
});

test("keys: writeKeyPair writes a 0600 secret and a public file, and never overwrites", async () => {
  const dir = join(work, "keys");
  const { secretPath, publicPath } = await writeKeyPair("mycache-1", dir);
  assert.equal((await stat(secretPath)).mode & 0o777, 0o600);
  const secret = await readSecretKeyFile(secretPath);
  assert.equal((await readFile(publicPath, "utf8")).trim(), secret.publicKey.text);
  await assert.rejects(writeKeyPair("mycache-1", dir), /already exists; not overwriting a key/);
});

test("trust config: BEAMIX_CONFIG_DIR, authorizing keys once, configured substituters", async () => {
  const saved = process.env.BEAMIX_CONFIG_DIR;
  process.env.BEAMIX_CONFIG_DIR = join(work, "config");
  try {
    assert.equal(configDir(), join(work, "config"));
    assert.deepEqual(await readTrustedKeys(), []);
    const a = parsePublicKey(generateKeyPair("a").publicText);
    const b = parsePublicKey(generateKeyPair("b").publicText);
    assert.deepEqual((await authorizeKeys([a])).map((k) => k.name), ["a"]);
    assert.deepEqual((await authorizeKeys([a, b, b])).map((k) => k.name), ["b"]);
    assert.deepEqual((await readTrustedKeys()).map((k) => k.text), [a.text, b.text]);
    assert.equal(await readFile(join(work, "config", "trusted-keys"), "utf8"), `${a.text}\n${b.text}\n`);
    await writeFile(join(work, "config", "substituters"), "# caches\nhttp://a.example  file:///srv/c # local\n\nhttps://b.example\n");
    assert.deepEqual(await readConfiguredSubstituters(), ["http://a.example", "file:///srv/c", "https://b.example"]);
  } finally {
    if (saved === undefined) delete process.env.BEAMIX_CONFIG_DIR;
    else process.env.BEAMIX_CONFIG_DIR = saved;
  }
});

// ---- records ----

const sampleRecord = (): SubstituteRecord => ({
  name: "beacon",
  version: "1.2.0",
  drvHash: H("a"),
  url: `archives/${H("b")}.nar.zst`,
  compression: "zstd",
  fileHash: H("b"),
  fileSize: 1234,
  narHash: H("c"),
  narSize: 5678,
  references: [`${H("e")}-zeta-1.0.0`, `${H("d")}-alpha-2.0.0`],
  toolchain: "otp=25 erts=13.1.5",
  deriver: '{"x":1}',
  signatures: [],
});

test("records: exact text, fingerprint and round trip", () => {
  const r = sampleRecord();
  assert.equal(
    fingerprint(r),
    `beamix-substitute-1;${H("a")}-beacon-1.2.0;sha256:${H("c")};5678;${H("d")}-alpha-2.0.0,${H("e")}-zeta-1.0.0`,
  );
  const signed = signRecord(r, key);
  const text = formatRecord(signed);
  assert.equal(
    text,
    [
      "Name: beacon",
      "Version: 1.2.0",
      `DrvHash: ${H("a")}`,
      `URL: archives/${H("b")}.nar.zst`,
      "Compression: zstd",
      `FileHash: sha256:${H("b")}`,
      "FileSize: 1234",
      `NarHash: sha256:${H("c")}`,
      "NarSize: 5678",
      `References: ${H("d")}-alpha-2.0.0 ${H("e")}-zeta-1.0.0`,
      "Toolchain: otp=25 erts=13.1.5",
      'Deriver: {"x":1}',
      `Sig: ${signed.signatures[0]}`,
      "",
    ].join("\n"),
  );
  const back = parseRecord(text, "x.beamixinfo");
  assert.deepEqual(back, { ...signed, references: [...r.references].sort() });
  assert.equal(formatRecord(back), text);
  // Re-signing with the same key replaces its signature rather than adding one.
  assert.equal(signRecord(signed, key).signatures.length, 1);
  // Unknown keys are ignored (later formats may add some).
  assert.deepEqual(parseRecord(text.replace("Compression", "Future: yes\nCompression"), "x"), back);
});

test("records: malformed records are refused, naming what is wrong", () => {
  const text = formatRecord(signRecord(sampleRecord(), key));
  const cases: [string, RegExp][] = [
    [text.slice(0, -1), /does not end with a newline/],
    [text.replace(/^NarSize.*\n/m, ""), /no NarSize line/],
    [text.replace("Name: beacon", "Name: beacon\nName: other"), /Name appears twice/],
    [text.replace(/NarHash: sha256:c+/, "NarHash: md5:abc"), /invalid NarHash/],
    [text.replace(/URL: .*/, "URL: ../../etc/passwd"), /not a relative path inside the cache/],
    [text.replace(/URL: .*/, "URL: http://evil.example/x"), /not a relative path inside the cache/],
    [text.replace("FileSize: 1234", "FileSize: 01234"), /invalid FileSize/],
    [text.replace("Compression: zstd", "Compression: xz"), /unsupported compression/],
    [text.replace(/References: .*/, "References: ../x"), /invalid reference/],
    [text.replace(/References: .*/, `References: ${H("a")}-beacon-1.2.0`), /references itself/],
    [text.replace("Version: 1.2.0", "Version 1.2.0"), /line 2 is not a "Key: value" line/],
  ];
  for (const [bad, re] of cases) assert.throws(() => parseRecord(bad, "r.beamixinfo"), re);
});

test("records: trust needs enough signatures by distinct trusted keys over the signed fields", () => {
  const trusted = [key.publicKey];
  const signed = signRecord(sampleRecord(), key);
  assert.deepEqual(verifyRecord(signed, trusted, 1), { ok: true, keys: ["cache-a-1"] });
  assert.deepEqual(verifyRecord(sampleRecord(), trusted, 1), { ok: false, reason: "the record is not signed" });
  assert.deepEqual(verifyRecord(sampleRecord(), trusted, 0), { ok: true, keys: [] });
  // Signed fields: editing any of them breaks the signature.
  for (const edit of [{ narHash: H("f") }, { narSize: 5679 }, { references: [] }, { version: "1.2.1" }, { drvHash: H("9") }]) {
    const v = verifyRecord({ ...signed, ...edit }, trusted, 1);
    assert.deepEqual(v, { ok: false, reason: "signature by cache-a-1 does not verify" }, JSON.stringify(edit));
  }
  // Unsigned fields may differ between caches holding the same item.
  assert.equal(verifyRecord({ ...signed, url: "archives/x.nar", compression: "none", fileHash: H("0") }, trusted, 1).ok, true);
  const third = parseSecretKey(generateKeyPair("cache-b").secretText);
  assert.match((verifyRecord(signed, trusted, 2) as { reason: string }).reason, /^only 1 trusted signature of the 2 required/);
  const twice = signRecord(signRecord(sampleRecord(), key), third);
  assert.equal(verifyRecord(twice, [key.publicKey, third.publicKey], 2).ok, true);
  assert.equal(verifyRecord(signRecord(sampleRecord(), otherKey), trusted, 1).ok, false);
});

test("cache-info: format, defaults and refusals", () => {
  assert.equal(formatCacheInfo({ format: 1, priority: 30 }), "Format: 1\nPriority: 30\n");
  assert.deepEqual(parseCacheInfo("Format: 1\nPriority: 30\nFuture: x\n", "c"), { format: 1, priority: 30 });
  assert.deepEqual(parseCacheInfo("Format: 1\n", "c"), { format: 1, priority: 50 });
  assert.throws(() => parseCacheInfo("Format: 2\n", "c"), /cache format "2" is not supported/);
  assert.throws(() => parseCacheInfo("StoreDir: /nix/store\n", "c"), /no Format line/);
  assert.throws(() => parseCacheInfo("<html>", "c"), /not a beamix cache-info file/);
});

test("keys of the cache layout cannot leave it", () => {
  for (const ok of ["beamix-cache-info", `${H("a")}.beamixinfo`, `archives/${H("b")}.nar.zst`]) assert.ok(isSafeKey(ok), ok);
  for (const bad of ["", "/etc/passwd", "../x", "a/../b", "archives/.tmp-1", "a//b", "a\\b", "x y", "archives/..", "http://e/x"]) assert.ok(!isSafeKey(bad), bad);
});

// ---- archives ----

async function sampleTree(name: string): Promise<string> {
  const dir = join(work, "trees", name);
  await mkdir(dir, { recursive: true });
  await writeTreeSpec(dir, {
    "lib/erlang/lib/app-1.0.0/ebin/app.app": "{application,app,[]}.\n",
    "lib/erlang/lib/app-1.0.0/ebin/app.beam": Buffer.alloc(100_000, 7).toString("latin1"),
    "lib/erlang/lib/app-1.0.0/priv/run.sh": { exec: "#!/bin/sh\necho hi\n" },
    "lib/erlang/lib/app-1.0.0/priv/current": { link: "run.sh" },
    "lib/erlang/lib/app-1.0.0/include/empty.hrl": "",
  });
  return dir;
}

async function packToBuffer(path: string): Promise<{ bytes: Buffer; info: Awaited<ReturnType<typeof packTree>> }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  const info = await packTree(path, out);
  return { bytes: Buffer.concat(chunks), info };
}

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

test("archives: deterministic, hashed like the store, and restored identically", async () => {
  const tree = await sampleTree("a");
  const a = await packToBuffer(tree);
  const b = await packToBuffer(tree);
  assert.ok(a.bytes.equals(b.bytes), "packing twice gives the same bytes");
  const h = await hashTree(tree);
  assert.equal(a.info.narHash, h.hash);
  assert.equal(a.info.narSize, h.size);
  assert.equal(a.info.fileHash, sha(a.bytes));
  assert.equal(a.info.fileSize, a.bytes.length);
  assert.ok(a.info.fileSize < a.info.narSize / 10, "compressed");
  assert.equal(a.bytes.readUInt32LE(0), 0xfd2fb528, "a zstd frame");

  // Chunking and timing do not change the bytes: several megabytes packed five times at once.
  const big = join(work, "trees", "big");
  await writeTreeSpec(big, Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`f${i}`, createHash("sha512").update(String(i)).digest("hex").repeat(4000 + i * 1000)])));
  const packs = await Promise.all(Array.from({ length: 5 }, () => packToBuffer(big)));
  assert.equal(new Set(packs.map((p) => p.info.fileHash)).size, 1);
  assert.ok(packs[0].info.narSize > 3_000_000);

  const dest = join(work, "restored-a");
  await unpackArchive(once(a.bytes), a.info, dest);
  assert.equal((await hashTree(dest)).hash, h.hash);
  assert.equal((await stat(join(dest, "lib/erlang/lib/app-1.0.0/priv/run.sh"))).mode & 0o777, 0o755);
  assert.equal(await readlink(join(dest, "lib/erlang/lib/app-1.0.0/priv/current")), "run.sh");
});

test("archives: every mismatch is refused and leaves nothing at the destination", async () => {
  const tree = await sampleTree("b");
  const { bytes, info } = await packToBuffer(tree);
  const flipped = Buffer.from(bytes);
  flipped[Math.floor(bytes.length / 2)] ^= 0x40;
  const other = await sampleTree("c");
  await writeFile(join(other, "extra"), "x");
  const otherPacked = await packToBuffer(other);
  const cases: [string, AsyncIterable<Buffer>, typeof info, RegExp][] = [
    ["flipped byte", once(flipped), info, /zstd|hash does not match/],
    ["truncated", once(bytes.subarray(0, bytes.length - 100)), info, /zstd|size|truncated|ended/],
    ["extra bytes", once(Buffer.concat([bytes, Buffer.from("junk")])), info, /longer than the \d+ bytes the record says/],
    ["a different archive, file fields edited to match", once(otherPacked.bytes), { ...info, fileHash: otherPacked.info.fileHash, fileSize: otherPacked.info.fileSize }, /tree|longer/],
    ["tree hash differs", once(bytes), { ...info, narHash: H("0") }, /the tree hash does not match the record's sha256:0{64}/],
    ["file hash differs", once(bytes), { ...info, fileHash: H("0") }, /the archive file hash does not match/],
    ["not zstd", once(Buffer.from("plain text, not an archive")), { ...info, fileSize: 26 }, /cannot be read/],
  ];
  for (const [what, src, expect, re] of cases) {
    const dest = join(work, `bad-${what.replace(/\W+/g, "-")}`);
    await assert.rejects(unpackArchive(src, expect, dest), re, what);
    await assert.rejects(lstat(dest), { code: "ENOENT" }, `${what}: nothing left behind`);
  }
  // A valid zstd stream of something that is not a tree.
  const junk = zstdCompressSync(Buffer.from("not a tree"));
  await assert.rejects(unpackArchive(once(junk), { compression: "zstd", fileHash: sha(junk), fileSize: junk.length, narHash: H("0"), narSize: 10 }, join(work, "bad-junk")), /tree archive: /);
});

// ---- the file:// backend ----

test("file backend: atomic puts, racing writers, listing ignores temporaries", async () => {
  const dir = join(work, "fb");
  const fb = new FileBackend(dir);
  assert.equal(await fb.get("nothing.beamixinfo"), undefined);
  assert.equal(await fb.exists("nothing.beamixinfo"), false);
  const big = Buffer.alloc(3_000_000, 1);
  await Promise.all(Array.from({ length: 8 }, () => fb.put("archives/x.nar.zst", { size: big.length, open: () => once(big) })));
  assert.ok((await getBytes(fb, "archives/x.nar.zst", 4_000_000))!.equals(big));
  await fb.put("a.beamixinfo", Buffer.from("hello"));
  await writeFile(join(dir, "archives", ".tmp-123-abc"), "partial");
  assert.deepEqual(await fb.list(), ["a.beamixinfo", "archives/x.nar.zst"]);
  assert.deepEqual(await fb.list("archives/"), ["archives/x.nar.zst"]);
  assert.deepEqual(await readdir(join(dir, "archives")), [".tmp-123-abc", "x.nar.zst"], "racing writers left no temporaries");
  await assert.rejects(fb.put("../escape", Buffer.from("x")), /invalid cache key/);
  await assert.rejects(fb.put("archives/y", { size: 10, open: () => once(Buffer.from("short")) }), /wrote 5 bytes, expected 10/);
  assert.equal(await fb.exists("archives/y"), false);
  await assert.rejects(getBytes(fb, "archives/x.nar.zst", 100), /more than the limit of 100/);
});

// ---- publish and substitute ----

interface Fixture {
  storeA: Store;
  items: StoreItem[]; // base, mid (→ base), top (→ mid, base)
  cacheDir: string;
}

let fx: Fixture | undefined;

async function fixture(): Promise<Fixture> {
  if (fx) return fx;
  const storeA = await openStore(join(work, "store-a"));
  const base = await makeItem(storeA, H("1"), "base", "1.0.0", { "lib/erlang/lib/base-1.0.0/ebin/base.beam": "base code" });
  const mid = await makeItem(storeA, H("2"), "mid", "2.0.0-rc.1", { "lib/erlang/lib/mid-2.0.0-rc.1/ebin/mid.beam": Buffer.alloc(50_000, 3).toString("latin1"), "lib/erlang/lib/mid-2.0.0-rc.1/priv/tool": { exec: "#!/bin/sh\n" } }, [base]);
  const top = await makeItem(storeA, H("3"), "top", "0.1.0", { "lib/erlang/lib/top-0.1.0/ebin/top.beam": "top code", "lib/erlang/lib/top-0.1.0/priv/link": { link: "../ebin/top.beam" } }, [mid, base]);
  const cacheDir = join(work, "cache");
  const events: string[] = [];
  const first = await publishClosure(storeA, [top.path], new FileBackend(cacheDir), { signWith: key, priority: 30, onItem: (e) => events.push(`${e.status} ${e.item.name}`) });
  assert.deepEqual(first.pushed.map((i) => i.name), ["base", "mid", "top"]);
  assert.deepEqual(events, ["pushed base", "pushed mid", "pushed top"], "references are pushed before their referrers");
  fx = { storeA, items: [base, mid, top], cacheDir };
  return fx;
}

after(async () => {
  await fx?.storeA.close();
});

test("publish: the cache holds cache-info, signed records and content-addressed archives; a second publish skips it all", async () => {
  const { storeA, items, cacheDir } = await fixture();
  const fb = new FileBackend(cacheDir);
  assert.equal(await readFile(join(cacheDir, "beamix-cache-info"), "utf8"), "Format: 1\nPriority: 30\n");
  const keys = await fb.list();
  assert.equal(keys.filter((k) => k.endsWith(".beamixinfo")).length, 3);
  assert.equal(keys.filter((k) => k.startsWith("archives/")).length, 3);
  for (const item of items) {
    const r = parseRecord(await readFile(join(cacheDir, `${item.drvHash}.beamixinfo`), "utf8"), "r");
    assert.equal(r.narHash, item.narHash);
    assert.equal(r.narSize, item.narSize);
    assert.deepEqual(r.references, item.references.map((p) => p.split("/").pop()).sort());
    assert.equal(verifyRecord(r, [key.publicKey], 1).ok, true);
    const archive = await readFile(join(cacheDir, r.url));
    assert.equal(sha(archive), r.fileHash);
    assert.equal(r.url, `archives/${r.fileHash}.nar.zst`);
  }
  const again = await publishClosure(storeA, [items[2].path], fb, { signWith: key });
  assert.deepEqual(again.pushed, []);
  assert.equal(again.present.length, 3);
});

test("publish: two publishers racing into one cache leave it complete and consistent", async () => {
  const { storeA, items } = await fixture();
  const dir = join(work, "race-cache");
  await Promise.all([
    publishClosure(storeA, [items[2].path], new FileBackend(dir), { signWith: key }),
    publishClosure(storeA, [items[2].path], new FileBackend(dir), { signWith: key }),
    publishClosure(storeA, [items[1].path], new FileBackend(dir), { signWith: key }),
  ]);
  const names = (await readdir(dir)).sort();
  assert.deepEqual(names.filter((n) => n.startsWith(".")), []);
  assert.equal(names.filter((n) => n.endsWith(".beamixinfo")).length, 3);
  assert.deepEqual((await readdir(join(dir, "archives"))).length, 3, (await readdir(join(dir, "archives"))).join(" "));
  const store = await openStore(join(work, "store-race"));
  try {
    const got = await new Substituters({ urls: [new FileBackend(dir).url], trustedKeys: [key.publicKey] }).substitute(store, items[2].drvHash);
    assert.equal(got?.narHash, items[2].narHash);
  } finally {
    await store.close();
  }
});

async function freshStore(name: string): Promise<Store> {
  return openStore(join(work, "stores", name));
}

async function storeState(store: Store): Promise<{ items: string[]; tmp: string[] }> {
  return { items: store.listItems().map((i) => `${i.name}:${i.narHash}`).sort(), tmp: await readdir(join(store.dir, ".beamix", "tmp")) };
}

test("substitute: a fresh store gets the whole closure from file://, identical to the publisher's", async () => {
  const { items, cacheDir } = await fixture();
  const store = await freshStore("b-file");
  try {
    const lines: string[] = [];
    const subs = new Substituters({ urls: [`file://${cacheDir}`], trustedKeys: [key.publicKey], report: (l) => lines.push(l) });
    const top = await subs.substitute(store, items[2].drvHash);
    assert.ok(top);
    assert.equal(top.path, join(store.dir, `${H("3")}-top-0.1.0`));
    assert.deepEqual(lines, []);
    const state = await storeState(store);
    assert.deepEqual(state.items, items.map((i) => `${i.name}:${i.narHash}`).sort());
    assert.deepEqual(state.tmp, []);
    assert.deepEqual(store.references(top.path), [...items[2].references].map((p) => join(store.dir, p.split("/").pop()!)).sort());
    assert.equal((await store.verify()).problems.length, 0);
    const deriver = top.deriver as { substitutedFrom: string; drvHash: string };
    assert.equal(deriver.substitutedFrom, `file://${cacheDir}`);
    // Nothing is downloaded for what is present.
    assert.equal((await subs.substitute(store, items[2].drvHash))?.path, top.path);
  } finally {
    await store.close();
  }
});

// Tampered copies of the cache: each must be refused with one line naming the item and the reason.
async function tamperedCache(name: string, tamper: (dir: string, rec: (drv: string) => string) => Promise<void>): Promise<string> {
  const { cacheDir } = await fixture();
  const dir = join(work, "tampered", name);
  await cp(cacheDir, dir, { recursive: true });
  await tamper(dir, (drv) => join(dir, `${drv}.beamixinfo`));
  return dir;
}

const editRecord = async (path: string, f: (text: string) => string) => writeFile(path, f(await readFile(path, "utf8")));

test("substitute: tampered caches are refused, one line each, and nothing unverified enters the store", async () => {
  const { items } = await fixture();
  const mid = items[1];
  const midArchive = async (dir: string) => join(dir, parseRecord(await readFile(join(dir, `${mid.drvHash}.beamixinfo`), "utf8"), "r").url);
  const cases: [string, (dir: string, rec: (drv: string) => string) => Promise<void>, RegExp][] = [
    ["flipped archive byte", async (dir) => {
      const p = await midArchive(dir);
      const b = await readFile(p);
      b[b.length >> 1] ^= 1;
      await writeFile(p, b);
    }, /zstd|hash does not match/],
    ["truncated archive file", async (dir) => {
      const p = await midArchive(dir);
      const b = await readFile(p);
      await writeFile(p, b.subarray(0, b.length - 10));
    }, /the archive file size is \d+, the record says \d+/],
    ["edited record", (_d, rec) => editRecord(rec(mid.drvHash), (t) => t.replace(/NarSize: \d+/, "NarSize: 1")), /signature by cache-a-1 does not verify/],
    ["edited references", (_d, rec) => editRecord(rec(mid.drvHash), (t) => t.replace(/References: .*/, "References: ")), /signature by cache-a-1 does not verify/],
    ["untrusted key", (_d, rec) => editRecord(rec(mid.drvHash), (t) => {
      const r = parseRecord(t, "r");
      const stranger = parseSecretKey(generateKeyPair("stranger").secretText);
      return formatRecord(signRecord({ ...r, signatures: [] }, stranger));
    }), /signed by stranger, which is not a trusted key/],
    ["same key name, other key", (_d, rec) => editRecord(rec(mid.drvHash), (t) => formatRecord(signRecord({ ...parseRecord(t, "r"), signatures: [] }, otherKey))), /signature by cache-a-1 does not verify/],
    ["unsigned", (_d, rec) => editRecord(rec(mid.drvHash), (t) => t.replace(/^Sig: .*\n/m, "")), /the record is not signed/],
    ["archive missing", async (dir) => rm(await midArchive(dir)), /the archive archives\/\w+\.nar\.zst is missing/],
    ["garbled record", (_d, rec) => editRecord(rec(mid.drvHash), (t) => t.replace("NarHash: sha256:", "NarHash: sha1:")), /invalid NarHash/],
    ["record names another item", (_d, rec) => editRecord(rec(mid.drvHash), (t) => formatRecord(signRecord({ ...parseRecord(t, "r"), version: "9.9.9", signatures: [] }, key))), /the record describes .*-mid-9\.9\.9, not .*-mid-2\.0\.0-rc\.1/],
  ];
  for (const [what, tamper, reason] of cases) {
    const dir = await tamperedCache(what.replace(/\W+/g, "-"), tamper);
    const store = await freshStore(`t-${what.replace(/\W+/g, "-")}`);
    try {
      const lines: string[] = [];
      const subs = new Substituters({ urls: [`file://${dir}`], trustedKeys: [key.publicKey], report: (l) => lines.push(l) });
      await assert.rejects(subs.substitute(store, items[2].drvHash), /cannot be substituted|no trusted substitute|failed/, what);
      const midLines = lines.filter((l) => /^cannot substitute (mid |2{64}-mid-)/.test(l));
      assert.equal(midLines.length, 1, `${what}: ${lines.join("\n")}`);
      assert.ok(midLines[0].includes(` from file://${dir}: `), midLines[0]);
      assert.match(midLines[0], reason, what);
      assert.ok(!midLines[0].includes("\n"));
      const state = await storeState(store);
      // base is untouched by the tampering and may be substituted; mid and top never are.
      assert.ok(state.items.every((i) => i.startsWith("base:")), `${what}: ${state.items}`);
      assert.deepEqual(state.tmp, [], `${what}: no staging left`);
    } finally {
      await store.close();
    }
  }
});

test("substitute: the next cache takes over after a rejection, in priority order", async () => {
  const { items, cacheDir } = await fixture();
  const bad = await tamperedCache("prio-bad", async (dir) => {
    await writeFile(join(dir, "beamix-cache-info"), "Format: 1\nPriority: 10\n");
    for (const i of items) await editRecord(join(dir, `${i.drvHash}.beamixinfo`), (t) => t.replace(/NarSize: \d+/, "NarSize: 7"));
  });
  const store = await freshStore("prio");
  try {
    const lines: string[] = [];
    // The good cache is listed first but has priority 30; the bad one (priority 10) is tried first.
    const subs = new Substituters({ urls: [`file://${cacheDir}`, `file://${bad}`], trustedKeys: [key.publicKey], report: (l) => lines.push(l) });
    const top = await subs.substitute(store, items[2].drvHash);
    assert.equal(top?.narHash, items[2].narHash);
    assert.equal(lines.length, 3, lines.join("\n"));
    for (const l of lines) assert.match(l, new RegExp(`^cannot substitute \\S+ \\S+ from file://${bad}: signature by cache-a-1 does not verify$`));
    const looked = await subs.lookup(items[1].drvHash);
    assert.deepEqual(looked.map((l) => [l.url, l.priority, l.trusted, l.record?.narSize]), [
      [`file://${bad}`, 10, false, 7],
      [`file://${cacheDir}`, 30, true, items[1].narSize],
    ]);
  } finally {
    await store.close();
  }
});

test("substitute: no trusted keys, or no cache-info, disables a cache with one line", async () => {
  const { items, cacheDir } = await fixture();
  const store = await freshStore("nokeys");
  try {
    const lines: string[] = [];
    const none = new Substituters({ urls: [`file://${cacheDir}`], trustedKeys: [], report: (l) => lines.push(l) });
    assert.equal(await none.substitute(store, items[0].drvHash), undefined);
    assert.equal(lines.length, 1);
    assert.match(lines.join("\n"), /^not using substituters \(file:\/\/.*\): no trusted public keys/);
    lines.length = 0;
    const notCache = join(work, "not-a-cache");
    await mkdir(notCache, { recursive: true });
    const subs = new Substituters({ urls: [`file://${notCache}`], trustedKeys: [key.publicKey], report: (l) => lines.push(l) });
    assert.equal(await subs.substitute(store, items[0].drvHash), undefined);
    assert.equal(await subs.substitute(store, items[1].drvHash), undefined);
    assert.deepEqual(lines, [`not using substituter file://${notCache}: no beamix-cache-info: not a beamix cache`]);
    lines.length = 0;
    // Nothing listens there (a server we started and stopped): one line, then the other cache serves.
    const gone = await startSubstituteServer({ source: { kind: "cache", dir: cacheDir } });
    await gone.close();
    const mixed = new Substituters({ urls: [gone.url, `file://${cacheDir}`], trustedKeys: [key.publicKey], report: (l) => lines.push(l) });
    assert.equal(await mixed.has({ drvHash: items[0].drvHash, name: "base", version: "1.0.0" }), true);
    assert.equal(await mixed.has({ drvHash: items[0].drvHash, name: "base", version: "9" }), false);
    assert.equal((await mixed.substitute(store, items[0].drvHash))?.narHash, items[0].narHash);
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0], new RegExp(`^not using substituter ${gone.url}: GET ${gone.url}/beamix-cache-info: the connection failed`));
  } finally {
    await store.close();
  }
});

// ---- over HTTP ----

async function get(url: string, init?: RequestInit): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

test("serve a cache directory: content types, ETags and 304, HEAD, Cache-Control", async () => {
  const { items, cacheDir } = await fixture();
  const server = await startSubstituteServer({ source: { kind: "cache", dir: cacheDir } });
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const info = await get(`${server.url}/beamix-cache-info`);
    assert.equal(info.status, 200);
    assert.equal(info.headers.get("content-type"), "text/x-beamix-cache-info; charset=utf-8");
    assert.equal(info.body.toString(), "Format: 1\nPriority: 30\n");

    const recText = await readFile(join(cacheDir, `${items[1].drvHash}.beamixinfo`));
    const rec = await get(`${server.url}/${items[1].drvHash}.beamixinfo`);
    assert.equal(rec.status, 200);
    assert.ok(rec.body.equals(recText));
    assert.equal(rec.headers.get("content-type"), "text/x-beamix-info; charset=utf-8");
    assert.equal(rec.headers.get("etag"), `"${sha(recText)}"`);
    assert.equal(rec.headers.get("cache-control"), "public, max-age=60");
    const r304 = await get(`${server.url}/${items[1].drvHash}.beamixinfo`, { headers: { "if-none-match": `"nope", W/"${sha(recText)}"` } });
    assert.equal(r304.status, 304);
    assert.equal(r304.body.length, 0);
    assert.equal(r304.headers.get("etag"), `"${sha(recText)}"`);

    const r = parseRecord(recText.toString(), "r");
    const archive = await get(`${server.url}/${r.url}`);
    assert.equal(archive.status, 200);
    assert.equal(sha(archive.body), r.fileHash);
    assert.equal(archive.headers.get("content-type"), "application/zstd");
    assert.equal(archive.headers.get("content-length"), String(r.fileSize));
    assert.equal(archive.headers.get("etag"), `"${r.fileHash}"`);
    assert.equal(archive.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.equal((await get(`${server.url}/${r.url}`, { headers: { "if-none-match": `"${r.fileHash}"` } })).status, 304);
    assert.equal((await get(`${server.url}/${r.url}`, { headers: { "if-none-match": "*" } })).status, 304);

    const head = await get(`${server.url}/${r.url}`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.headers.get("content-length"), String(r.fileSize));
    assert.equal(head.headers.get("etag"), `"${r.fileHash}"`);

    assert.equal((await get(`${server.url}/${H("9")}.beamixinfo`)).status, 404);
    assert.equal((await get(`${server.url}/`)).status, 404);
    const post = await get(`${server.url}/beamix-cache-info`, { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
  } finally {
    await server.close();
  }
});

// Raw requests: fetch would normalize "..".
async function rawGet(url: string, path: string): Promise<number> {
  const { request } = await import("node:http");
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method: "GET" }, (res) => {
      res.resume();
      ok(res.statusCode!);
    });
    req.on("error", fail);
    req.end();
  });
}

test("serve never reads outside its root: .., encoded traversal, symlinks out", async () => {
  const { cacheDir } = await fixture();
  const root = join(work, "serve-root");
  await cp(cacheDir, root, { recursive: true });
  await writeFile(join(work, "secret.beamixinfo"), "SECRET\n");
  await symlink(join(work, "secret.beamixinfo"), join(root, `${H("8")}.beamixinfo`));
  await mkdir(join(work, "outside-archives"), { recursive: true });
  await writeFile(join(work, "outside-archives", `${H("7")}.nar.zst`), "SECRET");
  await symlink(join(work, "outside-archives", `${H("7")}.nar.zst`), join(root, "archives", `${H("7")}.nar.zst`));
  const server: SubstituteServer = await startSubstituteServer({ source: { kind: "cache", dir: root } });
  try {
    const attempts: [string, number][] = [
      ["/../secret.beamixinfo", 400],
      ["/archives/../../secret.beamixinfo", 400],
      ["/%2e%2e/secret.beamixinfo", 400],
      ["/archives%2f..%2f..%2fsecret.beamixinfo", 400],
      ["/archives/%2E%2E/x", 400],
      ["/..%5csecret.beamixinfo", 400],
      ["/%00", 400],
      ["/%zz", 400],
      ["//etc/passwd", 404],
      ["/etc/passwd", 404],
      [`/${H("8")}.beamixinfo`, 404], // a symlink out of the root
      [`/archives/${H("7")}.nar.zst`, 404],
    ];
    for (const [path, want] of attempts) assert.equal(await rawGet(server.url, path), want, path);
    assert.equal(await rawGet(server.url, "/beamix-cache-info"), 200);
  } finally {
    await server.close();
  }
  assert.throws(() => keyOfPath("/a/./b"), { status: 400 });
});

test("serve a store: records signed on request, archives compressed on the fly; a fresh store substitutes over HTTP", async () => {
  const { storeA, items } = await fixture();
  const server = await startSubstituteServer({ source: { kind: "store", store: storeA, signWith: key, priority: 20 } });
  const store = await freshStore("b-http-store");
  try {
    assert.equal((await get(`${server.url}/beamix-cache-info`)).body.toString(), "Format: 1\nPriority: 20\n");
    const rec = await get(`${server.url}/${items[1].drvHash}.beamixinfo`);
    const r = parseRecord(rec.body.toString(), "r");
    assert.equal(verifyRecord(r, [key.publicKey], 1).ok, true);
    assert.equal(r.url, `archives/${items[1].drvHash}-${items[1].narHash}.nar.zst`);
    assert.equal(rec.headers.get("etag"), `"${sha(rec.body)}"`);
    assert.ok((await get(`${server.url}/${items[1].drvHash}.beamixinfo`)).body.equals(rec.body), "records are stable");
    const archive = await get(`${server.url}/${r.url}`);
    assert.equal(sha(archive.body), r.fileHash);
    assert.equal(archive.headers.get("etag"), `"${r.fileHash}"`);
    assert.equal((await get(`${server.url}/${r.url}`, { headers: { "if-none-match": `"${r.fileHash}"` } })).status, 304);
    assert.equal((await get(`${server.url}/archives/${items[1].drvHash}-${H("0")}.nar.zst`)).status, 404);

    const lines: string[] = [];
    const subs = new Substituters({ urls: [server.url], trustedKeys: [key.publicKey], report: (l) => lines.push(l) });
    const top = await subs.substitute(store, items[2].drvHash);
    assert.equal(top?.narHash, items[2].narHash);
    assert.deepEqual(lines, []);
    assert.equal(store.listItems().length, 3);
  } finally {
    await store.close();
    await server.close();
  }
});

test("misbehaving servers: truncated, cut mid-body, stalled and failing downloads are refused; nothing partial stays", async () => {
  const { items, cacheDir } = await fixture();
  const mis: MisbehavingServer = await startMisbehavingServer(cacheDir);
  try {
    const cases: [string, (key: string) => "truncate" | "close" | "hang" | "error" | "normal", RegExp][] = [
      ["truncate", (k) => (k.startsWith("archives/") ? "truncate" : "normal"), /the archive file size is \d+, the record says \d+/],
      ["close", (k) => (k.startsWith("archives/") ? "close" : "normal"), /connection failed after \d+ bytes|ended early|ended after/],
      ["hang", (k) => (k.startsWith("archives/") ? "hang" : "normal"), /no data for 0\.5 s after 0 bytes \(time-out\)/],
      ["error", (k) => (k.endsWith(".beamixinfo") ? "error" : "normal"), /returned HTTP 500/],
    ];
    for (const [what, behave, reason] of cases) {
      mis.setBehaviour(behave);
      const store = await freshStore(`mis-${what}`);
      try {
        const lines: string[] = [];
        const subs = new Substituters({ urls: [mis.url], trustedKeys: [key.publicKey], timeoutMs: 500, report: (l) => lines.push(l) });
        const got = await subs.substitute(store, items[0].drvHash).catch((e: Error) => e);
        assert.ok(got === undefined || got instanceof Error, what);
        assert.equal(lines.length, 1, `${what}: ${lines.join("\n")}`);
        // Without a record there is no name to show: the derivation hash stands for the item.
        assert.ok(lines[0].startsWith(`cannot substitute ${what === "error" ? H("1") : "base 1.0.0"} from ${mis.url}: `), lines[0]);
        assert.match(lines[0], reason, what);
        assert.deepEqual(await storeState(store), { items: [], tmp: [] }, what);
      } finally {
        await store.close();
      }
    }
  } finally {
    await mis.close();
  }
});
