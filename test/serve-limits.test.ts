// `beamix serve` under abuse (issue 12): half-open connections (slowloris) are dropped at the
// header deadline, a client that stops reading at the idle deadline, one address cannot take every
// connection, and serving a store compresses each archive once, keeps it on disk and streams it
// from there. Real servers and raw sockets on loopback (127.0.0.2 stands for another client's
// address); deadlines are made short and the tests check outcomes, not elapsed times.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore, type Store, type StoreItem } from "../src/store/store.ts";
import { FileBackend } from "../src/substitute/backends/file-backend.ts";
import { generateKeyPair, parseSecretKey, type SecretKey } from "../src/signing/keys.ts";
import { publishClosure } from "../src/substitute/server/publish.ts";
import { parseRecord } from "../src/substitute/format/record.ts";
import { startSubstituteServer } from "../src/substitute/server/serve.ts";
import { makeItem } from "./support/substitute-cache.ts";
import { startServeProcess } from "../bench/serve-load.ts";

let work: string;
let key: SecretKey;
let store: Store;
let items: StoreItem[];
let cacheDir: string;

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const H = (c: string) => c.repeat(64);

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-serve-limits-"));
  key = parseSecretKey(generateKeyPair("limits-1").secretText);
  store = await openStore(join(work, "store"));
  const a = await makeItem(store, H("a"), "alpha", "1.0.0", { "lib/erlang/lib/alpha-1.0.0/ebin/alpha.beam": "alpha ".repeat(5000) });
  const b = await makeItem(store, H("b"), "beta", "2.0.0", { "lib/erlang/lib/beta-2.0.0/ebin/beta.beam": "beta ".repeat(9000) }, [a]);
  items = [a, b];
  cacheDir = join(work, "cache");
  await publishClosure(store, [b.path], new FileBackend(cacheDir), { signWith: key });
});

after(async () => {
  await store?.close();
  await rm(work, { recursive: true, force: true });
});

interface Held {
  socket: Socket;
  closed: Promise<void>;
  isClosed(): boolean;
}

// A connection from `from` that sends `send` (part of a request head, or nothing) and holds on.
function hold(url: string, from: string, send = ""): Promise<Held> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), localAddress: from });
    let closed = false;
    const closedP = new Promise<void>((ok) => socket.on("close", () => ((closed = true), ok())));
    socket.on("error", () => {}); // a reset is one of the outcomes looked for
    socket.on("data", () => {}); // read (a 408, say), so that the server's close is seen
    socket.on("connect", () => {
      if (send) socket.write(send);
      resolve({ socket, closed: closedP, isClosed: () => closed });
    });
    socket.on("close", () => reject(new Error("closed before connecting")));
  });
}

// Fails instead of hanging when `p` does not settle within a (generous) bound.
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, fail) => (timer = setTimeout(() => fail(new Error(`${what}: still waiting after ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

const tick = () => new Promise((r) => setTimeout(r, 50));

async function getStatus(url: string): Promise<number> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  await res.arrayBuffer();
  return res.status;
}

test("half-open connections are dropped at the header deadline; legitimate requests go on", async () => {
  const server = await startSubstituteServer({ source: { kind: "cache", dir: cacheDir }, headersTimeoutMs: 300 });
  const held: Held[] = [];
  try {
    for (let i = 0; i < 6; i++) held.push(await hold(server.url, "127.0.0.1", i % 2 ? "GET /beamix-cache-info HTTP/1.1\r\nHost: x\r\nX-Slow: " : ""));
    assert.equal(await getStatus(`${server.url}/beamix-cache-info`), 200);
    // The header deadline must really fire: Node checks it only as often as it is told to.
    await within(Promise.all(held.map((h) => h.closed)), 5000, "half-open connections");
    assert.equal(await getStatus(`${server.url}/beamix-cache-info`), 200);
  } finally {
    for (const h of held) h.socket.destroy();
    await server.close(0);
  }
});

test("one address cannot take every connection: the others' requests still succeed", async () => {
  const server = await startSubstituteServer({ source: { kind: "cache", dir: cacheDir }, maxConnections: 16, maxConnectionsPerAddress: 4, headersTimeoutMs: 10_000 });
  const held: Held[] = [];
  try {
    // 20 half-open connections from 127.0.0.2, more than the whole server allows.
    for (let i = 0; i < 20; i++) held.push(await hold(server.url, "127.0.0.2", "GET / HTTP/1.1\r\n"));
    await tick();
    assert.equal(held.filter((h) => h.isClosed()).length, 16, "beyond 4, the address's connections are closed at once");
    // 127.0.0.1 is another client: its requests are served while 127.0.0.2 holds its four.
    for (let i = 0; i < 5; i++) assert.equal(await getStatus(`${server.url}/beamix-cache-info`), 200);
    assert.equal(held.filter((h) => !h.isClosed()).length, 4);
    // Once one of them goes, the address may connect again.
    held.find((h) => !h.isClosed())!.socket.destroy();
    await tick();
    const again = await hold(server.url, "127.0.0.2", "GET / HTTP/1.1\r\n");
    held.push(again);
    await tick();
    assert.equal(again.isClosed(), false);
  } finally {
    for (const h of held) h.socket.destroy();
    await server.close(0);
  }
});

test("a client that stops reading, or idles on a kept-alive connection, is closed at the idle deadline", async () => {
  // A big file, so that the answer does not fit in the socket buffers of a client not reading.
  const dir = join(work, "big-cache");
  const big = `archives/${H("d")}.nar.zst`;
  await mkdir(join(dir, "archives"), { recursive: true });
  await writeFile(join(dir, big), randomBytes(16 * 1024 * 1024));
  const server = await startSubstituteServer({ source: { kind: "cache", dir }, idleTimeoutMs: 300, keepAliveTimeoutMs: 300 });
  const connections = () => new Promise<number>((ok, fail) => server.server.getConnections((err, n) => (err ? fail(err) : ok(n))));
  const held: Held[] = [];
  try {
    const reader = await hold(server.url, "127.0.0.1", `GET /${big} HTTP/1.1\r\nHost: x\r\n\r\n`);
    reader.socket.pause(); // never reads the answer
    held.push(reader, await hold(server.url, "127.0.0.1", `GET /beamix-cache-info HTTP/1.1\r\nHost: x\r\n\r\n`)); // reads it, then idles
    await tick();
    assert.equal(await connections(), 2);
    // The server's side is what counts: a paused client would not notice its socket closing.
    await within(
      (async () => {
        while ((await connections()) > 0) await tick();
      })(),
      5000,
      "idle connections",
    );
  } finally {
    for (const h of held) h.socket.destroy();
    await server.close(0);
  }
});

test("serve --store compresses each archive once, keeps it keyed by its tree hash, and streams it from disk", async () => {
  const archiveDir = join(work, "serve-archives");
  const first = await startSubstituteServer({ source: { kind: "store", store, signWith: key, archiveDir, compressJobs: 1 } });
  let body: Buffer;
  let r;
  try {
    r = parseRecord(await (await fetch(`${first.url}/${items[1].drvHash}.beamixinfo`)).text(), "r");
    // Many clients at once, records and archives: one compression of the item.
    const bodies = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        if (i % 3 === 0) await (await fetch(`${first.url}/${items[1].drvHash}.beamixinfo`)).text();
        return Buffer.from(await (await fetch(`${first.url}/${r!.url}`)).arrayBuffer());
      }),
    );
    body = bodies[0];
    for (const b of bodies) assert.ok(b.equals(body));
    assert.equal(sha(body), r.fileHash);
    assert.equal(body.length, r.fileSize);
    assert.equal(first.archives?.compressed, 1);
  } finally {
    await first.close();
  }
  const files = (await readdir(archiveDir)).sort();
  assert.deepEqual(files, [`${items[1].narHash}.json`, `${items[1].narHash}.nar.zst`], "a complete entry, no temporaries");
  const inode = (await stat(join(archiveDir, files[1]))).ino;

  // A new server over the same directory: the kept archive is served as it is.
  const second = await startSubstituteServer({ source: { kind: "store", store, signWith: key, archiveDir } });
  try {
    const again = Buffer.from(await (await fetch(`${second.url}/${r.url}`)).arrayBuffer());
    assert.ok(again.equals(body));
    assert.equal(second.archives?.compressed, 0);
    assert.equal((await stat(join(archiveDir, files[1]))).ino, inode);
    // An entry that went missing is made again.
    await rm(join(archiveDir, files[1]));
    const third = Buffer.from(await (await fetch(`${second.url}/${r.url}`)).arrayBuffer());
    assert.ok(third.equals(body));
    assert.equal(second.archives?.compressed, 1);
  } finally {
    await second.close();
  }
});

test("beamix serve --store keeps its archives in BEAMIX_CACHE_DIR; --max-connections-per-address caps one address", async () => {
  const env = { ...process.env, BEAMIX_CACHE_DIR: join(work, "cli-cache"), BEAMIX_CONFIG_DIR: join(work, "cli-config") };
  const server = await startServeProcess({ store: join(work, "store"), args: ["--max-connections-per-address", "3"] }, env);
  const held: Held[] = [];
  try {
    const r = parseRecord(await (await fetch(`${server.url}/${items[0].drvHash}.beamixinfo`)).text(), "r");
    const body = Buffer.from(await (await fetch(`${server.url}/${r.url}`)).arrayBuffer());
    assert.equal(sha(body), r.fileHash);
    assert.deepEqual((await readdir(join(work, "cli-cache", "serve-archives"))).sort(), [`${items[0].narHash}.json`, `${items[0].narHash}.nar.zst`]);
    for (let i = 0; i < 5; i++) held.push(await hold(server.url, "127.0.0.2", "GET / HTTP/1.1\r\n"));
    await within(
      (async () => {
        while (held.filter((h) => h.isClosed()).length < 2) await tick();
      })(),
      5000,
      "connections beyond the cap",
    );
    await tick();
    assert.equal(held.filter((h) => !h.isClosed()).length, 3);
  } finally {
    for (const h of held) h.socket.destroy();
    assert.equal(await server.stop(), 0);
  }
  const bad = await startServeProcess({ store: join(work, "store"), args: ["--max-connections-per-address", "lots"] }, env).catch((err: Error) => err);
  assert.ok(bad instanceof Error && /--max-connections-per-address must be a positive integer, not "lots"/.test(bad.message), String(bad));
});
