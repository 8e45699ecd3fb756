// The dashboard's routes beside a served cache (src/substitute/server/serve.ts answers the cache
// layout; these answer everything else it is given):
//   GET  /                    the page (?q= filters)
//   GET  /api/packages        the items with toolchain, sizes, signers and verdicts (?q= filters)
//   GET  /api/challenges      every recorded verdict
//   POST /challenges          a `beamix challenge --json` report, with "Authorization: Bearer
//                             <admin token>"; refused when the server has no admin token
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { BeamixError, errorMessage } from "../../errors.ts";
import type { ServeSource } from "../../substitute/server/serve.ts";
import { ChallengeBook } from "./challenges.ts";
import { cacheContents } from "./packages.ts";
import { dashboardPage, matches } from "./page.ts";

export interface DashboardOptions {
  source: ServeSource;
  adminToken?: string; // enables POST /challenges
  challengesFile?: string; // where verdicts are kept across restarts
  title?: string;
}

const MAX_UPLOAD_BYTES = 8 * 1024 * 1024;

export type PageHandler = (req: IncomingMessage, res: ServerResponse) => Promise<number | undefined>;

function send(res: ServerResponse, status: number, type: string, body: string): number {
  res.writeHead(status, { "content-type": `${type}; charset=utf-8`, "cache-control": "no-store", "x-content-type-options": "nosniff", "content-security-policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'self'" });
  res.end(body);
  return status;
}

const json = (res: ServerResponse, status: number, value: unknown) => send(res, status, "application/json", JSON.stringify(value, null, 1) + "\n");

function authorized(req: IncomingMessage, token: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "");
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_UPLOAD_BYTES) return undefined;
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export async function dashboardRoutes(opts: DashboardOptions): Promise<PageHandler> {
  const book = await ChallengeBook.open(opts.challengesFile);
  const title = opts.title ?? "beamix binary cache";
  return async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const q = (url.searchParams.get("q") ?? "").slice(0, 200);
    const route = `${req.method} ${url.pathname}`;
    if (route === "GET /" || route === "HEAD /") return send(res, 200, "text/html", dashboardPage(await cacheContents(opts.source), book, q, title));
    if (route === "GET /api/packages") {
      const c = await cacheContents(opts.source);
      return json(res, 200, { ...c, items: c.items.filter((i) => matches(i, q)).map((i) => ({ ...i, challenge: book.get(i.drvHash) ?? null })) });
    }
    if (route === "GET /api/challenges") return json(res, 200, { items: book.all() });
    if (url.pathname === "/challenges") {
      if (req.method !== "POST") {
        res.setHeader("allow", "POST");
        return send(res, 405, "text/plain", "method not allowed\n");
      }
      if (!opts.adminToken) return send(res, 403, "text/plain", "uploads are off: this server has no admin token (beamix serve --admin-token-file)\n");
      if (!authorized(req, opts.adminToken)) return send(res, 401, "text/plain", "a valid Authorization: Bearer <admin token> is needed\n");
      const body = await readBody(req);
      if (body === undefined) return send(res, 413, "text/plain", `an upload is at most ${MAX_UPLOAD_BYTES} bytes\n`);
      try {
        return json(res, 200, { recorded: await book.upload(body) });
      } catch (err) {
        if (!(err instanceof BeamixError)) throw err;
        return send(res, 400, "text/plain", `not recorded: ${errorMessage(err)}\n`);
      }
    }
    return undefined;
  };
}
