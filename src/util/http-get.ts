// A GET (or HEAD) over node:http/https, for the registry client and binary caches. Not the global
// fetch: its first use costs ~15 ms of start-up and each loopback request ~2 ms, against 0.5 ms
// here, and a no-op build makes dozens of requests. The idle time-out covers the wait for the
// headers and every gap between body chunks; the caller's signal (for example a whole-request
// time-out) aborts at any moment.
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { createRequire } from "node:module";

// Loaded with require on purpose: importing node:http as an ES module evaluates every export
// getter of it, which loads undici (~10 ms of start-up) for its WebSocket export.
const require = createRequire(import.meta.url);
const http = require("node:http") as typeof import("node:http");
const https = require("node:https") as typeof import("node:https");
import { BeamixError, errorMessage } from "../errors.ts";

export interface HttpGetOptions {
  method?: "GET" | "HEAD";
  idleTimeoutMs: number;
  signal?: AbortSignal;
  maxRedirects?: number;
  headers?: Record<string, string>; // added to the request's own
}

export interface HttpResponse {
  url: string; // after redirects
  status: number;
  headers: IncomingHttpHeaders;
  // The body, chunk by chunk; it throws a BeamixError when the connection fails, stalls, or
  // closes before the declared length.
  body: AsyncIterable<Buffer>;
  cancel(): void;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export async function httpGet(url: string, opts: HttpGetOptions): Promise<HttpResponse> {
  let current = url;
  for (let hops = opts.maxRedirects ?? 5; ; hops--) {
    const { res, state } = await once(current, opts);
    const location = res.headers.location;
    if (!REDIRECTS.has(res.statusCode ?? 0) || !location) return wrap(current, res, state, opts);
    res.destroy();
    if (hops === 0) throw new BeamixError(`${opts.method ?? "GET"} ${url}: too many redirects`);
    current = new URL(location, current).href;
  }
}

interface RequestState {
  timedOut: boolean;
}

function once(url: string, opts: HttpGetOptions): Promise<{ res: IncomingMessage; state: RequestState }> {
  const method = opts.method ?? "GET";
  const state: RequestState = { timedOut: false };
  return new Promise((resolve, reject) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return reject(new BeamixError(`${url}: not a valid URL`));
    }
    const request = parsed.protocol === "https:" ? https.request : parsed.protocol === "http:" ? http.request : undefined;
    if (!request) return reject(new BeamixError(`${url}: unsupported URL scheme`));
    const req = request(parsed, { method, headers: { ...opts.headers, "user-agent": "beamix", "accept-encoding": "identity" }, signal: opts.signal });
    req.setTimeout(opts.idleTimeoutMs, () => {
      state.timedOut = true;
      req.destroy();
    });
    req.on("response", (res) => resolve({ res, state }));
    req.on("error", (err) => reject(failure(`${method} ${url}`, err, state, opts)));
    req.end();
  });
}

function failure(what: string, err: unknown, state: RequestState, opts: HttpGetOptions, received?: number): BeamixError {
  const after = received === undefined ? "" : ` after ${received} bytes`;
  if (state.timedOut) return new BeamixError(`${what}: no data for ${opts.idleTimeoutMs / 1000} s${after} (time-out)`);
  if (opts.signal?.aborted) {
    const reason = opts.signal.reason;
    return new BeamixError(`${what}: ${reason instanceof Error && reason.name !== "AbortError" ? reason.message : "aborted"}${after}`);
  }
  return new BeamixError(`${what}: the connection failed${after}: ${errorMessage(err)}`);
}

function wrap(url: string, res: IncomingMessage, state: RequestState, opts: HttpGetOptions): HttpResponse {
  const what = `${opts.method ?? "GET"} ${url}`;
  const declared = res.headers["content-length"];
  const size = declared !== undefined && /^[0-9]+$/.test(declared) && !res.headers["content-encoding"] ? Number(declared) : undefined;
  async function* chunks(): AsyncGenerator<Buffer> {
    let received = 0;
    try {
      for await (const chunk of res) {
        received += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
    } catch (err) {
      throw failure(what, err, state, opts, received);
    }
    if (state.timedOut || opts.signal?.aborted) throw failure(what, new Error("aborted"), state, opts, received);
    if (!res.complete || (opts.method !== "HEAD" && size !== undefined && received !== size)) {
      throw new BeamixError(`${what}: the body ended after ${received}${size === undefined ? "" : ` of ${size}`} bytes`);
    }
  }
  return { url, status: res.statusCode ?? 0, headers: res.headers, body: { [Symbol.asyncIterator]: chunks }, cancel: () => res.destroy() };
}
