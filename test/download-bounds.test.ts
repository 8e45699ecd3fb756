// How much a cache or a registry can make beamix download, and for how long (issue 12): every
// archive is bounded by the signed tree size, zstd skippable frames (bytes that decompress to
// nothing) are refused, and every request has a deadline besides its idle time-out, so a server
// dripping a byte a second cannot hold a build. All through real servers on 127.0.0.1; the
// deadlines are made short here, and the tests check outcomes, never elapsed times.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BeamixError } from "../src/errors.ts";
import { HexRepo } from "../src/hex/registry/client.ts";
import { openStore, type Store, type StoreItem } from "../src/store/store.ts";
import { maxArchiveBytes, unpackArchive } from "../src/substitute/format/archive.ts";
import { hashTree } from "../src/store/nar.ts";
import { FileBackend } from "../src/substitute/backends/file-backend.ts";
import { generateKeyPair, parseSecretKey, type SecretKey } from "../src/signing/keys.ts";
import { publishClosure } from "../src/substitute/server/publish.ts";
import { formatRecord, parseRecord, verifyRecord } from "../src/substitute/format/record.ts";
import { startSubstituteServer } from "../src/substitute/server/serve.ts";
import { Substituters } from "../src/substitute/client/substituters.ts";
import { makeItem } from "./support/substitute-cache.ts";

const VEC_PUBLIC = "test/vectors/hex/registry/public";
const VEC_KEY = readFileSync(join(VEC_PUBLIC, "public_key"), "utf8");

let work: string;
let key: SecretKey;
let storeA: Store;
let item: StoreItem;
let cacheDir: string;

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const H = (c: string) => c.repeat(64);

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-download-bounds-"));
  key = parseSecretKey(generateKeyPair("bounds-1").secretText);
  storeA = await openStore(join(work, "store-a"));
  item = await makeItem(storeA, H("7"), "bounded", "1.0.0", {
    "lib/erlang/lib/bounded-1.0.0/ebin/bounded.beam": "bounded code ".repeat(200),
    "lib/erlang/lib/bounded-1.0.0/priv/data": Buffer.alloc(20_000, 7).toString("latin1"),
  });
  cacheDir = join(work, "cache");
  await publishClosure(storeA, [item.path], new FileBackend(cacheDir), { signWith: key, priority: 30 });
});

after(async () => {
  await storeA?.close();
  await rm(work, { recursive: true, force: true });
});

// A copy of the published cache whose archive is replaced by `archive`. The record keeps its
// signatures: the URL, file hash and file size are not signed, so any cache may set them.
async function cacheWithArchive(name: string, archive: Buffer): Promise<string> {
  const dir = join(work, name);
  await rm(dir, { recursive: true, force: true });
  const fb = new FileBackend(dir);
  const original = parseRecord(await readFile(join(cacheDir, `${item.drvHash}.beamixinfo`), "utf8"), "record");
  const fileHash = sha(archive);
  const record = { ...original, url: `archives/${fileHash}.nar.zst`, fileHash, fileSize: archive.length };
  assert.equal(verifyRecord(record, [key.publicKey], 1).ok, true, "still signed");
  await fb.put("beamix-cache-info", Buffer.from("Format: 1\nPriority: 30\n"));
  await fb.put(record.url, archive);
  await fb.put(`${item.drvHash}.beamixinfo`, Buffer.from(formatRecord(record)));
  return dir;
}

async function originalArchive(): Promise<Buffer> {
  const r = parseRecord(await readFile(join(cacheDir, `${item.drvHash}.beamixinfo`), "utf8"), "record");
  return readFile(join(cacheDir, r.url));
}

// A zstd skippable frame (RFC 8878 3.1.2) with `size` bytes of user data.
function skippable(size: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(0x184d2a50, 0);
  head.writeUInt32LE(size, 4);
  return Buffer.concat([head, Buffer.alloc(size, 0x5a)]);
}

// Serves a cache over `beamix serve --cache` and substitutes the item into a fresh store.
async function substituteFrom(dir: string, name: string, config: { deadlineMs?: number } = {}) {
  const server = await startSubstituteServer({ source: { kind: "cache", dir }, log: (l) => log.push(l) });
  const log: string[] = [];
  const store = await openStore(join(work, `store-${name}`));
  const lines: string[] = [];
  try {
    const subs = new Substituters({ urls: [server.url], trustedKeys: [key.publicKey], report: (l) => lines.push(l), ...config });
    const got = await subs.substitute(store, item.drvHash).catch((err: Error) => err);
    return { got, lines, log, items: store.listItems().length };
  } finally {
    await store.close();
    await server.close();
  }
}

test("an archive padded with a zstd skippable frame is refused, though its tree is right", async () => {
  const archive = await originalArchive();
  for (const [where, bytes] of [
    ["after", Buffer.concat([archive, skippable(64)])],
    ["before", Buffer.concat([skippable(64), archive])],
  ] as const) {
    const r = await substituteFrom(await cacheWithArchive(`skippable-${where}`, bytes), `skippable-${where}`);
    assert.ok(r.got instanceof Error, `${where}: not substituted`);
    assert.equal(r.lines.length, 1, r.lines.join("\n"));
    assert.match(r.lines[0], /^cannot substitute bounded 1\.0\.0 from http:\/\/127\.0\.0\.1:\d+: the archive cannot be read: a zstd skippable frame \(refused: it decompresses to nothing\) at byte \d+$/);
    assert.equal(r.items, 0, "nothing reached the store");
  }
});

test("the frame check follows archives split at every byte, and several frames", async () => {
  const archive = await originalArchive();
  const record = parseRecord(await readFile(join(cacheDir, `${item.drvHash}.beamixinfo`), "utf8"), "record");
  async function* bytewise(b: Buffer) {
    for (let i = 0; i < b.length; i++) yield b.subarray(i, i + 1);
  }
  await unpackArchive(bytewise(archive), record, join(work, "bytewise"));
  assert.equal((await hashTree(join(work, "bytewise"))).hash, item.narHash);
  // The same tree as two zstd frames, one after the other: valid zstd, the right tree.
  const { zstdCompressSync, zstdDecompressSync } = await import("node:zlib");
  const nar = zstdDecompressSync(archive);
  const cut = Math.floor(nar.length / 3);
  const two = Buffer.concat([zstdCompressSync(nar.subarray(0, cut)), zstdCompressSync(nar.subarray(cut))]);
  await unpackArchive(bytewise(two), { ...record, fileHash: sha(two), fileSize: two.length }, join(work, "two-frames"));
  assert.equal((await hashTree(join(work, "two-frames"))).hash, item.narHash);
});

test("an archive larger than its signed tree allows is refused before it is downloaded", async () => {
  const archive = await originalArchive();
  // Skippable padding far beyond what a zstd archive of the signed tree can take.
  const padded = Buffer.concat([archive, skippable(3 * item.narSize)]);
  assert.ok(padded.length > maxArchiveBytes(item.narSize, "zstd"));
  const r = await substituteFrom(await cacheWithArchive("oversized", padded), "oversized");
  assert.ok(r.got instanceof Error);
  assert.equal(r.lines.length, 1, r.lines.join("\n"));
  assert.match(r.lines[0], new RegExp(`: the record's archive size ${padded.length} is more than a zstd archive of its signed ${item.narSize}-byte tree can take \\(\\d+\\)$`));
  assert.deepEqual(r.log.filter((l) => l.includes("archives/")), [], "the archive was never asked for");
  assert.equal(r.items, 0);
});

test("an archive that decompresses beyond the signed tree size is cut off and refused", async () => {
  // 16 MiB of zeros compress to a few hundred bytes: well within the file bound, far beyond the tree.
  const { zstdCompressSync } = await import("node:zlib");
  const bomb = zstdCompressSync(Buffer.alloc(16 * 1024 * 1024));
  assert.ok(bomb.length <= maxArchiveBytes(item.narSize, "zstd"));
  const r = await substituteFrom(await cacheWithArchive("bomb", bomb), "bomb");
  assert.ok(r.got instanceof Error);
  assert.equal(r.lines.length, 1, r.lines.join("\n"));
  assert.match(r.lines[0], new RegExp(`the archive's tree is longer than the ${item.narSize} bytes the record says|a zstd frame of \\d+ bytes of content, more than the ${item.narSize} the record signs`));
  assert.equal(r.items, 0);
});

// A server that serves `dir`, but sends the files `drip` names one byte a second.
async function startDripServer(dir: string, drip: (path: string) => boolean): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname).slice(1);
    readFile(join(dir, path)).then(
      (body) => {
        res.writeHead(200, { "content-length": body.length });
        if (!drip(path)) return void res.end(body);
        let sent = 0;
        const tick = () => {
          if (res.destroyed || sent === body.length) return void res.end();
          res.write(body.subarray(sent, ++sent));
          setTimeout(tick, 1000).unref();
        };
        tick();
      },
      () => {
        res.writeHead(404);
        res.end();
      },
    );
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", () => ok()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

test("a record dripped at 1 byte/s fails at the deadline with one line; the next cache takes over", { timeout: 20_000 }, async () => {
  const dripping = await startDripServer(cacheDir, (p) => p.endsWith(".beamixinfo"));
  const good = await startSubstituteServer({ source: { kind: "cache", dir: cacheDir } });
  const store = await openStore(join(work, "store-drip"));
  try {
    const lines: string[] = [];
    // The idle time-out never fires (a byte comes every second); only the deadline can.
    const subs = new Substituters({ urls: [dripping.url, good.url], trustedKeys: [key.publicKey], timeoutMs: 5000, deadlineMs: 300, report: (l) => lines.push(l) });
    const got = await subs.substitute(store, item.drvHash);
    assert.equal(got?.narHash, item.narHash, "substituted from the second cache");
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0], new RegExp(`^cannot substitute ${H("7")} from ${dripping.url}: GET ${dripping.url}/${H("7")}\\.beamixinfo: no complete answer within 300 ms \\(\\d+ of \\d+ bytes came\\)$`));
  } finally {
    await store.close();
    await good.close();
    await dripping.close();
  }
});

test("a registry record dripped at 1 byte/s fails at the deadline, naming the URL", { timeout: 20_000 }, async () => {
  const dripping = await startDripServer(VEC_PUBLIC, (p) => p === "packages/vec_core");
  const cache = await mkdtemp(join(work, "hex-"));
  try {
    const repo = new HexRepo({ name: "vectors", url: dripping.url, publicKeyPem: VEC_KEY, cacheDir: cache, timeoutMs: 300 });
    await assert.rejects(repo.package("vec_core"), (err: Error) => {
      assert.ok(err instanceof BeamixError);
      assert.match(err.message, new RegExp(`^GET ${dripping.url}/packages/vec_core: no complete answer within 300 ms \\(\\d+ of \\d+ bytes came\\)$`));
      return true;
    });
    assert.deepEqual(await readdir(cache), [], "nothing kept");
  } finally {
    await dripping.close();
  }
});

test("a body cut off mid-way is reported as such, not as a time-out", async () => {
  const record = readFileSync(join(VEC_PUBLIC, "packages/vec_core"));
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-length": record.length });
    res.write(record.subarray(0, 100), () => setTimeout(() => res.socket?.destroy(), 20));
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", () => ok()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const cache = await mkdtemp(join(work, "hex-"));
  try {
    const repo = new HexRepo({ name: "vectors", url, publicKeyPem: VEC_KEY, cacheDir: cache, timeoutMs: 60_000 });
    await assert.rejects(repo.package("vec_core"), (err: Error) => {
      assert.ok(err instanceof BeamixError);
      assert.equal(err.message, `GET ${url}/packages/vec_core: the body ended early: the connection closed after 100 of ${record.length} bytes`);
      return true;
    });
  } finally {
    await new Promise<void>((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    });
  }
});
