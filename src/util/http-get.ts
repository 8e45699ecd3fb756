// A GET (or HEAD) over node:http/https, for the registry client and binary caches. Not the global
// fetch: its first use costs ~15 ms of start-up and each loopback request ~2 ms, against 0.5 ms
// here, and a no-op build makes dozens of requests. Two bounds: the idle time-out covers the wait
// for the headers and every gap between body chunks, and the deadline covers the whole request,
// body included, so that a server dripping a byte now and then cannot hold a caller either. The
// caller's signal aborts at any moment.
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
  deadlineMs?: number; // the whole request, redirects and body included (default: none)
  signal?: AbortSignal;
  maxRedirects?: number;
  headers?: Record<string, string>; // added to the request's own
}

export interface HttpResponse {
  url: string; // after redirects
  status: number;
  headers: IncomingHttpHeaders;
  // The body, chunk by chunk; it throws a BeamixError when the connection fails, stalls, misses
  // the deadline, or closes before the declared length.
  body: AsyncIterable<Buffer>;
  cancel(): void;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

// What ended a request early, for the message.
interface RequestState {
  timedOut: boolean; // the idle time-out
  pastDeadline: boolean;
  current?: { destroy(): void }; // what the deadline destroys: the request, then the response
}

export async function httpGet(url: string, opts: HttpGetOptions): Promise<HttpResponse> {
  const state: RequestState = { timedOut: false, pastDeadline: false };
  // One timer for the whole request; unref'd so a body nobody reads does not keep the process up.
  const deadline =
    opts.deadlineMs === undefined
      ? undefined
      : setTimeout(() => {
          state.pastDeadline = true;
          state.current?.destroy();
        }, opts.deadlineMs).unref();
  let current = url;
  let headers = opts.headers;
  try {
    for (let hops = opts.maxRedirects ?? 5; ; hops--) {
      const res = await once(current, { ...opts, headers }, state);
      const location = res.headers.location;
      if (!REDIRECTS.has(res.statusCode ?? 0) || !location) return wrap(current, res, state, opts, () => clearTimeout(deadline));
      res.destroy();
      if (hops === 0) throw new BeamixError(`${opts.method ?? "GET"} ${url}: too many redirects`);
      const next = new URL(location, current);
      // Credentials (a repository's auth key) go to the origin they were given for only, as
      // browsers and curl do: a redirect elsewhere (a CDN, or a hostile mirror) never sees them.
      if (next.origin !== new URL(current).origin) headers = withoutCredentials(headers);
      current = next.href;
    }
  } catch (err) {
    clearTimeout(deadline);
    throw err;
  }
}

const CREDENTIALS = new Set(["authorization", "cookie", "proxy-authorization"]);

function withoutCredentials(headers: Record<string, string> | undefined): Record<string, string> | undefined {
  return headers && Object.fromEntries(Object.entries(headers).filter(([k]) => !CREDENTIALS.has(k.toLowerCase())));
}

function once(url: string, opts: HttpGetOptions, state: RequestState): Promise<IncomingMessage> {
  const method = opts.method ?? "GET";
  return new Promise((resolve, reject) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return reject(new BeamixError(`${url}: not a valid URL`));
    }
    const request = parsed.protocol === "https:" ? https.request : parsed.protocol === "http:" ? http.request : undefined;
    if (!request) return reject(new BeamixError(`${url}: unsupported URL scheme`));
    if (state.pastDeadline) return reject(failure(`${method} ${url}`, new Error("deadline"), state, opts));
    const req = request(parsed, { method, headers: { ...opts.headers, "user-agent": "beamix", "accept-encoding": "identity" }, signal: opts.signal });
    state.current = req;
    req.setTimeout(opts.idleTimeoutMs, () => {
      state.timedOut = true;
      req.destroy();
    });
    req.on("response", (res) => {
      state.current = res;
      resolve(res);
    });
    req.on("error", (err) => reject(failure(`${method} ${url}`, err, state, opts)));
    req.end();
  });
}

// `received`/`size`: how much of the body came, and how much was announced.
function failure(what: string, err: unknown, state: RequestState, opts: HttpGetOptions, received?: number, size?: number): BeamixError {
  const of = received === undefined ? "" : `${received}${size === undefined ? "" : ` of ${size}`} bytes`;
  if (state.pastDeadline) return new BeamixError(`${what}: no complete answer within ${opts.deadlineMs} ms${of ? ` (${of} came)` : ""}`);
  if (state.timedOut) return new BeamixError(`${what}: no data for ${opts.idleTimeoutMs / 1000} s${received === undefined ? "" : ` after ${received} bytes`} (time-out)`);
  if (opts.signal?.aborted) {
    const reason = opts.signal.reason;
    return new BeamixError(`${what}: ${reason instanceof Error && reason.name !== "AbortError" ? reason.message : "aborted"}${of ? ` after ${of}` : ""}`);
  }
  // Node reports a peer that closed mid-body as "aborted" (ECONNRESET): say what that means.
  if (received !== undefined && (err as NodeJS.ErrnoException).code === "ECONNRESET") {
    return new BeamixError(`${what}: the body ended early: the connection closed after ${of}`);
  }
  return new BeamixError(`${what}: the connection failed${of ? ` after ${of}` : ""}: ${errorMessage(err)}`);
}

function wrap(url: string, res: IncomingMessage, state: RequestState, opts: HttpGetOptions, done: () => void): HttpResponse {
  const what = `${opts.method ?? "GET"} ${url}`;
  const declared = res.headers["content-length"];
  const size = declared !== undefined && /^[0-9]+$/.test(declared) && !res.headers["content-encoding"] ? Number(declared) : undefined;
  async function* chunks(): AsyncGenerator<Buffer> {
    let received = 0;
    try {
      try {
        for await (const chunk of res) {
          received += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
      } catch (err) {
        throw failure(what, err, state, opts, received, size);
      }
      if (state.pastDeadline || state.timedOut || opts.signal?.aborted) throw failure(what, new Error("aborted"), state, opts, received, size);
      if (!res.complete || (opts.method !== "HEAD" && size !== undefined && received !== size)) {
        throw new BeamixError(`${what}: the body ended early: the connection closed after ${received}${size === undefined ? "" : ` of ${size}`} bytes`);
      }
    } finally {
      done();
    }
  }
  return {
    url,
    status: res.statusCode ?? 0,
    headers: res.headers,
    body: { [Symbol.asyncIterator]: chunks },
    cancel: () => {
      done();
      res.destroy();
    },
  };
}
