// `beamix hex serve DIR`: a static Hex repository (as `beamix hex registry build` writes it) over
// HTTP, read-only, for a local or team mirror and for trying beamix without hex.pm.
//
// Only the repository's own resources are served: /names, /versions, /public_key,
// /packages/NAME and /tarballs/NAME-VERSION.tar, with NAME and VERSION checked as Hex names
// and versions (paths.ts); any other path is 404, and a path that tries to climb (.., encoded
// slashes or dots, backslashes, NUL) is 400 before anything touches the file system. So a
// private key or anything else kept beside the repository is never served. Files are resolved
// without leaving DIR through symlinks and must be regular files within a size bound.
// Responses carry a strong ETag (the file's SHA-256, computed once per file version) and a
// matching If-None-Match gets 304, as repo.hex.pm answers; `no-cache` makes clients revalidate
// since a rebuilt registry changes in place. Connections, header and idle times are bounded.
import { createHash } from "node:crypto";
import { constants as fsc } from "node:fs";
import { open, realpath, stat, type FileHandle } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import { BeamixError, errorMessage } from "../../errors.ts";
import { tryParseVersion } from "../../elixir/version.ts";
import { isValidPackageName } from "./paths.ts";
import { HttpError, notModified, requestSegments } from "../../util/request-path.ts";

export interface HexServeOptions {
  dir: string; // the repository root: names, versions, public_key, packages/, tarballs/
  host?: string; // default 127.0.0.1
  port?: number; // default 0: any free port
  maxConnections?: number; // default 128
  maxFileBytes?: number; // default 64 MiB (Hex's own tarball limit is 16 MiB)
  log?: (line: string) => void; // one line per request
}

export interface HexServer {
  url: string; // http://host:port, no trailing slash
  server: Server;
  close(graceMs?: number): Promise<void>;
}

export const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;
const REGISTRY_FILES = new Set(["names", "versions", "public_key"]);

// The repository file a request path names (relative, "/"-separated), or an HttpError
// (request-path.ts checks the path).
export function repoFileOfPath(rawUrl: string): string {
  const segments = requestSegments(rawUrl);
  const path = segments.join("/");
  if (segments.length === 1 && REGISTRY_FILES.has(segments[0])) return path;
  if (segments.length === 2 && segments[0] === "packages" && isValidPackageName(segments[1])) return path;
  if (segments.length === 2 && segments[0] === "tarballs") {
    const m = /^([a-z][A-Za-z0-9_]*)-(.+)\.tar$/.exec(segments[1]);
    if (m && tryParseVersion(m[2])) return path;
  }
  throw new HttpError(404, "not found");
}

const contentTypeOf = (file: string): string => (file === "public_key" ? "application/x-pem-file" : file.startsWith("tarballs/") ? "application/x-tar" : "application/octet-stream");

// File hashes by file version (device, inode, size, mtime), oldest dropped first.
class HashMemo {
  readonly #map = new Map<string, Promise<string>>();
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  get(key: string, make: () => Promise<string>): Promise<string> {
    let p = this.#map.get(key);
    if (!p) {
      p = make();
      p.catch(() => this.#map.delete(key));
      this.#map.set(key, p);
      if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value!);
    }
    return p;
  }
}

export async function startHexServer(opts: HexServeOptions): Promise<HexServer> {
  const root = await realpath(opts.dir).catch((err: NodeJS.ErrnoException) => {
    throw new BeamixError(`${opts.dir}: cannot serve it (${err.code ?? errorMessage(err)})`);
  });
  if (!(await stat(root)).isDirectory()) throw new BeamixError(`${opts.dir}: not a directory`);
  if (!(await stat(join(root, "names")).then((s) => s.isFile(), () => false))) {
    throw new BeamixError(`${opts.dir}: not a Hex repository (no names file; beamix hex registry build writes one)`);
  }
  const maxFileBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const hashes = new HashMemo(10_000);
  const log = opts.log ?? (() => {});

  const openFile = async (file: string): Promise<FileHandle> => {
    let real: string;
    try {
      real = await realpath(join(root, ...file.split("/")));
    } catch {
      throw new HttpError(404, "not found");
    }
    if (!real.startsWith(root + sep)) throw new HttpError(404, "not found"); // a symlink out of DIR
    try {
      return await open(real, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    } catch {
      throw new HttpError(404, "not found");
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
      res.end("method not allowed\n");
      return 405;
    }
    const file = repoFileOfPath(req.url ?? "/");
    const fh = await openFile(file);
    let streaming = false;
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new HttpError(404, "not found");
      if (st.size > maxFileBytes) throw new HttpError(500, "file too large to serve");
      const hash = await hashes.get(`${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`, async () => {
        const h = createHash("sha256");
        for await (const chunk of fh.createReadStream({ start: 0, autoClose: false })) h.update(chunk);
        return h.digest("hex");
      });
      const etag = `"${hash}"`;
      const headers = { etag, "cache-control": "no-cache", "x-content-type-options": "nosniff" };
      if (notModified(req, etag)) {
        res.writeHead(304, headers);
        res.end();
        return 304;
      }
      res.writeHead(200, { ...headers, "content-type": contentTypeOf(file), "content-length": st.size });
      if (req.method === "HEAD") {
        res.end();
        return 200;
      }
      // The read stream closes the file when it ends or fails; a file that changed size while
      // streaming ends short, and the client's length check refuses it.
      streaming = true;
      await pipeline(fh.createReadStream({ start: 0, end: st.size - 1, highWaterMark: 256 * 1024 }), res);
      return 200;
    } finally {
      if (!streaming) await fh.close();
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).then(
      (status) => log(`${req.method} ${req.url} ${status}`),
      (err) => {
        const status = err instanceof HttpError ? err.status : 500;
        // Details of a server-side failure (paths, errno) go to the log, not to clients.
        const message = err instanceof HttpError ? err.message : "internal error";
        log(status === 500 ? `${req.method} ${req.url} 500: ${errorMessage(err)}` : `${req.method} ${req.url} ${status}`);
        if (res.headersSent) {
          res.destroy(); // mid-body: the client sees a short body, never a wrong one
          return;
        }
        res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
        res.end(req.method === "HEAD" ? undefined : message + "\n");
      },
    );
  });
  server.maxConnections = opts.maxConnections ?? 128;
  server.headersTimeout = 15_000;
  server.requestTimeout = 30_000; // to receive a request; responses may take longer
  server.setTimeout(60_000, (socket) => socket.destroy()); // a client that stops reading

  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((ok, fail) => {
    server.once("error", (err) => fail(new BeamixError(`cannot listen on ${host}:${opts.port ?? 0}: ${errorMessage(err)}`)));
    server.listen(opts.port ?? 0, host, () => ok());
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shownHost}:${addr.port}`,
    server,
    close: (graceMs = 2000) =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), graceMs).unref();
      }),
  };
}
