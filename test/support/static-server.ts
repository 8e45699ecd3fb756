// A tiny HTTP server for tests: serves the files under `root` on 127.0.0.1 (a free port), with
// per-path overrides to simulate a misbehaving repository. GET/HEAD only, paths cannot leave
// `root`, files larger than `maxBytes` are refused, and close() drops every open connection,
// including requests left hanging on purpose. Files are served with an ETag (their SHA-256) and a
// matching If-None-Match gets 304, as repo.hex.pm and its CDN do. With `authKey`, it is a private
// repository: a request whose `authorization` header is not exactly that key gets 401, as
// repo.hex.pm answers for an organization (only under `authUnder`, e.g. "/repos/", when given).
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { readFile, stat } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { join, resolve, sep } from "node:path";

export type Route =
  | { status: number; body?: Buffer | string } // answer with this status (and body)
  | { body: Buffer | string } // 200 with these bytes instead of the file
  | { hang: true }; // accept the request, never answer

export interface StaticServer {
  url: string; // http://127.0.0.1:PORT, no trailing slash
  requests: string[]; // paths asked for, in order
  statuses: number[]; // the status of each answer, in the order they were given
  routes: Map<string, Route>; // may be changed while running
  close(): Promise<void>;
}

export async function startStaticServer(opts: {
  root: string;
  routes?: Record<string, Route>;
  maxBytes?: number;
  authKey?: string;
  authUnder?: string;
}): Promise<StaticServer> {
  const root = resolve(opts.root);
  const maxBytes = opts.maxBytes ?? 32 * 1024 * 1024;
  const routes = new Map(Object.entries(opts.routes ?? {}));
  const requests: string[] = [];
  const statuses: number[] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    requests.push(path);
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "method not allowed");
    const guarded = opts.authKey !== undefined && (opts.authUnder === undefined || path.startsWith(opts.authUnder));
    if (guarded && req.headers.authorization !== opts.authKey) return send(res, 401, "unauthorized");
    const route = routes.get(path);
    if (route && "hang" in route) return; // left open until close()
    if (route && "status" in route) return send(res, route.status, route.body ?? "");
    if (route) return send(res, 200, route.body);

    const file = resolve(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) return send(res, 403, "outside root");
    try {
      const st = await stat(file);
      if (!st.isFile()) return send(res, 404, "not found");
      if (st.size > maxBytes) return send(res, 500, "file too large for the test server");
      const bytes = await readFile(file);
      const etag = `"${createHash("sha256").update(bytes).digest("hex")}"`;
      if (req.headers["if-none-match"] === etag) {
        res.writeHead(304, { etag });
        return void res.end();
      }
      return send(res, 200, bytes, { etag });
    } catch {
      return send(res, 404, "not found");
    }
  };

  const server = createServer((req, res) => {
    const writeHead = res.writeHead.bind(res) as (status: number, ...rest: unknown[]) => ServerResponse;
    res.writeHead = ((status: number, ...rest: unknown[]) => {
      statuses.push(status);
      return writeHead(status, ...rest);
    }) as typeof res.writeHead;
    handle(req, res).catch(() => send(res, 500, "test server error"));
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => ok());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    statuses,
    routes,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

function send(res: ServerResponse, status: number, body: Buffer | string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  res.writeHead(status, { ...headers, "content-length": bytes.length, "content-type": "application/octet-stream" });
  res.end(bytes);
}
