// `beamix serve`: a cache over HTTP, from a cache directory (files served as they are) or straight
// from a store (records made and signed on request, archives compressed once and kept on disk,
// archive-cache.ts).
//
// Only the cache layout is served (layout.ts): beamix-cache-info, <drv hash>.beamixinfo,
// archives/…, compile-env/<basis>.json (compile-env-hints.ts) and, from a cache directory,
// mix-answers/<key>.json (mix-answers.ts); any other path is 404, and a path that tries to
// climb (.., encoded slashes or dots, backslashes, NUL) is 400 before anything touches the file
// system. A cache directory's files are resolved without leaving it through symlinks. Responses
// carry strong content-based ETags (the SHA-256 of a record's text, the file hash of an archive)
// and honour If-None-Match with 304; HEAD gives the headers of GET. close() lets running downloads finish for a moment before dropping them.
//
// Against clients that hold connections open (slowloris): a connection must send its whole request
// head within a few seconds, and Node checks that deadline every fraction of it (by default only
// every 30 s); a socket idle too long is closed; and one address may hold only so many
// connections, so that it cannot take all of them.
import { createHash } from "node:crypto";
import { constants as fsc } from "node:fs";
import { mkdtemp, open, realpath, rm, stat, type FileHandle } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join, sep } from "node:path";
import { BeamixError, errorMessage } from "../../errors.ts";
import type { Store, StoreItem } from "../../store/store.ts";
import { ArchiveCache } from "./archive-cache.ts";
import { sendFile } from "./send-file.ts";
import { CACHE_FORMAT, DEFAULT_PRIORITY, formatCacheInfo } from "../format/cache-info.ts";
import { recordForItem } from "../format/item-record.ts";
import type { SecretKey } from "../../signing/keys.ts";
import { ARCHIVES_DIR, CACHE_INFO_KEY, cacheControlOf, contentTypeOf, RECORD_SUFFIX } from "../format/layout.ts";
import { formatRecord, MAX_RECORD_BYTES, signRecord } from "../format/record.ts";
import { formatHint, isCompileEnvKey, MAX_HINT_BYTES } from "../format/compile-env-hints.ts";
import { isMixAnswersKey, MAX_SHARED_ANSWERS_BYTES } from "../format/mix-answers.ts";
import { isDepsRecordKey, isPackKey, MAX_DEPS_RECORD_BYTES, packHashOf } from "../format/deps-record.ts";
import { CompileEnvIndex } from "../../store/compile-env-index.ts";
import { sha256Hex } from "../../util/sha256.ts";
import { HttpError, notModified, requestSegments } from "../../util/request-path.ts";

export type ServeSource =
  | { kind: "cache"; dir: string }
  | {
      kind: "store";
      store: Store;
      signWith?: SecretKey;
      priority?: number;
      archiveDir?: string; // where compressed archives are kept (default: a temporary directory, removed on close)
      compressJobs?: number; // archives compressed at once (default: half the cores, 1 to 4)
    };

export interface ServeOptions {
  source: ServeSource;
  host?: string; // default 127.0.0.1
  port?: number; // default 0: any free port
  maxConnections?: number; // from all addresses (default 2048)
  maxConnectionsPerAddress?: number; // from one address (default 512)
  headersTimeoutMs?: number; // a connection's request head must arrive within this (default 5 s)
  idleTimeoutMs?: number; // a socket with no traffic either way is closed (default 60 s)
  keepAliveTimeoutMs?: number; // an idle kept-alive connection is closed (default 5 s)
  log?: (line: string) => void; // one line per request
  // Answers requests outside the cache layout (a dashboard, src/view/dashboard/): the status it
  // sent, or undefined to leave the request to the cache.
  pages?: (req: IncomingMessage, res: ServerResponse) => Promise<number | undefined>;
}

export const DEFAULT_MAX_CONNECTIONS = 2048;
// Generous: a CI fleet behind one NAT address is one address. Slowloris connections from it are
// dropped at the header deadline, so they hold slots for seconds, not forever.
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 512;
export const DEFAULT_HEADERS_TIMEOUT_MS = 5_000;

export interface SubstituteServer {
  url: string; // http://host:port, no trailing slash
  server: Server;
  archives?: ArchiveCache; // serving a store
  close(graceMs?: number): Promise<void>;
}

const RECORD_KEY_RE = /^[0-9a-z]{16,64}\.beamixinfo$/;
const ARCHIVE_KEY_RE = /^archives\/([0-9a-z][0-9a-z-]{15,199})\.nar(\.zst)?$/;
// In a store there are no archive files: the archive of an item is named by its derivation hash
// and tree hash, so a name always means the same bytes.
const STORE_ARCHIVE_RE = /^archives\/([0-9a-z]{16,64})-([0-9a-f]{64})\.nar\.zst$/;

// The cache key a request path names, or an HttpError (request-path.ts checks the path).
export function keyOfPath(rawUrl: string): string {
  const segments = requestSegments(rawUrl);
  const key = segments.join("/");
  if (key === CACHE_INFO_KEY || RECORD_KEY_RE.test(key) || ARCHIVE_KEY_RE.test(key) || isCompileEnvKey(key) || isMixAnswersKey(key) || isDepsRecordKey(key) || isPackKey(key)) return key;
  throw new HttpError(404, "not found");
}

function quoteEtag(hex: string): string {
  return `"${hex}"`;
}

interface Answer {
  key: string;
  etag: string; // hex
  size: number;
  body: Buffer | ((res: ServerResponse) => Promise<void>);
  release?: () => Promise<void>; // when the body function is not used (HEAD, 304)
}

// Fixed-size memo of promises, oldest evicted first.
class Memo<T> {
  private readonly map = new Map<string, Promise<T>>();
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  get(key: string, make: () => Promise<T>): Promise<T> {
    let p = this.map.get(key);
    if (!p) {
      p = make();
      p.catch(() => this.map.delete(key));
      this.map.set(key, p);
      if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
    }
    return p;
  }
}


// ---- a cache directory ----

// What a client would take of a file that is not an archive (it refuses more).
const smallFileLimit = (key: string): number =>
  isCompileEnvKey(key) ? MAX_HINT_BYTES : isMixAnswersKey(key) ? MAX_SHARED_ANSWERS_BYTES : isDepsRecordKey(key) ? MAX_DEPS_RECORD_BYTES : MAX_RECORD_BYTES;

async function cacheDirSource(dir: string): Promise<(key: string) => Promise<Answer>> {
  const root = await realpath(dir).catch((err: NodeJS.ErrnoException) => {
    throw new BeamixError(`${dir}: cannot serve it (${err.code ?? errorMessage(err)})`);
  });
  if (!(await stat(root)).isDirectory()) throw new BeamixError(`${dir}: not a directory`);
  const hashes = new Memo<string>(10_000);
  return async (key) => {
    let real: string;
    try {
      real = await realpath(join(root, ...key.split("/")));
    } catch {
      throw new HttpError(404, "not found");
    }
    if (!real.startsWith(root + sep)) throw new HttpError(404, "not found"); // a symlink out of the cache
    let fh: FileHandle;
    try {
      fh = await open(real, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    } catch {
      throw new HttpError(404, "not found");
    }
    const handle = fh;
    let handedOver = false;
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new HttpError(404, "not found");
      if (!key.startsWith(`${ARCHIVES_DIR}/`) && !isPackKey(key)) {
        if (st.size > smallFileLimit(key)) throw new HttpError(500, "record too large");
        const bytes = await fh.readFile();
        return { key, etag: sha256Hex(bytes), size: bytes.length, body: bytes };
      }
      // Archives written by beamix, and packs, are named by their file hash; anything else is hashed once.
      const named = /^archives\/([0-9a-f]{64})\.nar(\.zst)?$/.exec(key)?.[1] ?? packHashOf(key);
      const etag =
        named ??
        (await hashes.get(`${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`, async () => {
          const h = createHash("sha256");
          for await (const c of handle.createReadStream({ start: 0, autoClose: false })) h.update(c);
          return h.digest("hex");
        }));
      handedOver = true;
      return {
        key,
        etag,
        size: st.size,
        // sendFile closes the file when it ends or fails.
        body: (res) => sendFile(handle, res, st.size),
        release: () => handle.close(),
      };
    } finally {
      if (!handedOver) await handle.close();
    }
  };
}

// ---- a store ----

function storeSource(store: Store, signWith: SecretKey | undefined, priority: number, archives: ArchiveCache): (key: string) => Promise<Answer> {
  const infoOf = async (item: StoreItem) => (await archives.get(item)).info;
  // An item's record, and the item an archive name stands for, are the same every time: looked up
  // (and signed) once, not per request. A miss is not remembered: the item may be built later.
  const records = new Memo<{ text: Buffer; etag: string }>(1000);
  const archiveItems = new Memo<StoreItem>(1000);
  const lookUp = (drvHash: string, narHash?: string): StoreItem => {
    const item = store.queryByDrvHash(drvHash);
    if (!item || (narHash !== undefined && item.narHash !== narHash)) throw new HttpError(404, "not found");
    return item;
  };
  const cacheInfo = Buffer.from(formatCacheInfo({ format: CACHE_FORMAT, priority }));
  const compileEnv = new CompileEnvIndex(store);
  return async (key) => {
    if (key === CACHE_INFO_KEY) return { key, etag: sha256Hex(cacheInfo), size: cacheInfo.length, body: cacheInfo };
    if (isCompileEnvKey(key)) {
      // The store's own index of read sets, as a hint.
      const basis = key.slice(key.indexOf("/") + 1, -".json".length);
      const entry = await compileEnv.entry(basis);
      if (!entry) throw new HttpError(404, "not found");
      const text = Buffer.from(formatHint({ basis, ...entry }));
      return { key, etag: sha256Hex(text), size: text.length, body: text };
    }
    if (key.endsWith(RECORD_SUFFIX)) {
      const { text, etag } = await records.get(key, async () => {
        const item = lookUp(key.slice(0, -RECORD_SUFFIX.length));
        let record = recordForItem(item, await infoOf(item), `${ARCHIVES_DIR}/${item.drvHash}-${item.narHash}.nar.zst`);
        if (signWith) record = signRecord(record, signWith);
        const text = Buffer.from(formatRecord(record));
        return { text, etag: sha256Hex(text) };
      });
      return { key, etag, size: text.length, body: text };
    }
    const m = STORE_ARCHIVE_RE.exec(key);
    if (!m) throw new HttpError(404, "not found");
    return openArchive(key, archives, await archiveItems.get(key, async () => lookUp(m[1], m[2])));
  };
}

// The kept archive of an item, open: a file removed since it was made is made again, once.
async function openArchive(key: string, archives: ArchiveCache, item: StoreItem, again = true): Promise<Answer> {
  const { path, info } = await archives.get(item);
  let fh: FileHandle;
  try {
    fh = await open(path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT" || !again) throw err;
    archives.forget(item);
    return openArchive(key, archives, item, false);
  }
  const handle = fh;
  return {
    key,
    etag: info.fileHash,
    size: info.fileSize,
    body: (res) => sendFile(handle, res, info.fileSize),
    release: () => handle.close(),
  };
}

export async function startSubstituteServer(opts: ServeOptions): Promise<SubstituteServer> {
  const src = opts.source;
  const ownArchiveDir = src.kind === "store" && src.archiveDir === undefined ? await mkdtemp(join(tmpdir(), "beamix-serve-")) : undefined;
  const archives =
    src.kind === "store"
      ? new ArchiveCache(src.archiveDir ?? ownArchiveDir!, src.compressJobs ?? Math.min(4, Math.max(1, Math.floor(availableParallelism() / 2))))
      : undefined;
  const answer = src.kind === "cache" ? await cacheDirSource(src.dir) : storeSource(src.store, src.signWith, src.priority ?? DEFAULT_PRIORITY, archives!);
  const log = opts.log ?? (() => {});

  const idleTimeout = opts.idleTimeoutMs ?? 60_000;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    const page = await opts.pages?.(req, res);
    if (page !== undefined) return page;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
      res.end("method not allowed\n");
      return 405;
    }
    // While the server makes the answer (compressing an archive, waiting its turn) the socket is
    // quiet through no fault of the client's: the idle clock starts again with the answer.
    req.socket.setTimeout(0);
    const a = await answer(keyOfPath(req.url ?? "/")).finally(() => req.socket.setTimeout(idleTimeout));
    const etag = quoteEtag(a.etag);
    const headers = { etag, "cache-control": cacheControlOf(a.key), "x-content-type-options": "nosniff" };
    if (notModified(req, etag)) {
      await a.release?.();
      res.writeHead(304, headers);
      res.end();
      return 304;
    }
    res.writeHead(200, { ...headers, "content-type": contentTypeOf(a.key), "content-length": a.size });
    if (req.method === "HEAD") {
      await a.release?.();
      res.end();
    } else if (typeof a.body === "function") await a.body(res);
    else res.end(a.body);
    return 200;
  };

  const headersTimeout = opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  const serverOptions = {
    headersTimeout,
    requestTimeout: Math.max(headersTimeout, 30_000), // to receive a request; responses may take longer
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? 5_000,
    // Node enforces the two time-outs above only when it checks its connections (default: every 30 s).
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeout / 4))),
  };
  const server = createServer(serverOptions, (req, res) => {
    handle(req, res).then(
      (status) => log(`${req.method} ${req.url} ${status}`),
      (err) => {
        const status = err instanceof HttpError ? err.status : 500;
        // Details of a server-side failure (store paths, errno) go to the log, not to clients.
        const message = err instanceof HttpError ? err.message : "internal error";
        if (status === 500) log(`${req.method} ${req.url} 500: ${errorMessage(err)}`);
        else log(`${req.method} ${req.url} ${status}`);
        if (res.headersSent) {
          res.destroy(); // mid-body: the client sees a short body, never a wrong one
          return;
        }
        res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
        res.end(req.method === "HEAD" ? undefined : message + "\n");
      },
    );
  });
  server.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  server.setTimeout(idleTimeout, (socket) => socket.destroy()); // a client that stops reading
  limitPerAddress(server, opts.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, log);

  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((ok, fail) => {
    server.once("error", (err) => fail(new BeamixError(`cannot listen on ${host}:${opts.port ?? 0}: ${errorMessage(err)}`)));
    server.listen(opts.port ?? 0, host, () => ok());
  }).catch(async (err: unknown) => {
    if (ownArchiveDir) await rm(ownArchiveDir, { recursive: true, force: true });
    throw err;
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shownHost}:${addr.port}`,
    server,
    ...(archives ? { archives } : {}),
    close: async (graceMs = 2000) => {
      await new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), graceMs).unref();
      });
      if (ownArchiveDir) await rm(ownArchiveDir, { recursive: true, force: true });
    },
  };
}

// Closes a new connection at once when its address already holds `max`.
function limitPerAddress(server: Server, max: number, log: (line: string) => void): void {
  const open = new Map<string, number>();
  let refused = 0;
  server.on("connection", (socket: Socket) => {
    const address = socket.remoteAddress ?? "";
    const n = open.get(address) ?? 0;
    if (n >= max) {
      // One line per burst, not per connection: a flood must not flood the log too.
      if (refused++ % 1000 === 0) log(`refusing connections from ${address}: it holds ${max} already (${refused} refused so far)`);
      socket.destroy();
      return;
    }
    open.set(address, n + 1);
    socket.once("close", () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
}
