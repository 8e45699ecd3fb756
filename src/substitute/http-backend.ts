// A cache behind an HTTP server (beamix serve, or any static file server): read-only. Every
// request has an idle time-out covering the wait for headers and every gap between body chunks,
// so a server that stalls mid-body is given up on rather than waited for.
import { BeamixError, errorMessage } from "../errors.ts";
import { isSafeKey } from "./layout.ts";
import { readOnly, type CacheBackend, type CacheBody, type GetOptions } from "./backend.ts";

export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

export class HttpBackend implements CacheBackend {
  readonly url: string;
  readonly writable = false;
  private readonly fetchImpl: typeof fetch;

  constructor(url: string, options: { fetch?: typeof fetch } = {}) {
    this.url = url.replace(/\/+$/, "");
    this.fetchImpl = options.fetch ?? fetch;
  }

  private keyUrl(key: string): string {
    if (!isSafeKey(key)) throw new BeamixError(`${this.url}: invalid cache key ${JSON.stringify(key)}`);
    return `${this.url}/${key}`;
  }

  private async request(method: "GET" | "HEAD", key: string, options: GetOptions): Promise<{ res: Response; idle: IdleTimer } | undefined> {
    const url = this.keyUrl(key);
    const idle = new IdleTimer(options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, options.signal);
    let res: Response;
    try {
      res = await this.fetchImpl(url, { method, signal: idle.signal, redirect: "follow" });
    } catch (err) {
      idle.stop();
      throw idle.error(`${method} ${url}`, err);
    }
    if (res.status === 404 || res.status === 410 || res.status === 403) {
      // Object stores answer 403 for a missing key.
      idle.stop();
      await res.body?.cancel().catch(() => {});
      return undefined;
    }
    if (!res.ok) {
      idle.stop();
      await res.body?.cancel().catch(() => {});
      throw new BeamixError(`${method} ${url} returned HTTP ${res.status}`);
    }
    return { res, idle };
  }

  async get(key: string, options: GetOptions = {}): Promise<CacheBody | undefined> {
    const got = await this.request("GET", key, options);
    if (!got) return undefined;
    const { res, idle } = got;
    const url = `${this.url}/${key}`;
    const length = res.headers.get("content-length");
    const encoded = res.headers.get("content-encoding");
    const size = length !== null && /^[0-9]+$/.test(length) && !encoded ? Number(length) : undefined;
    const reader = res.body?.getReader();
    const cancel = () => {
      idle.stop();
      reader?.cancel().catch(() => {});
    };
    async function* chunks(): AsyncGenerator<Uint8Array> {
      if (!reader) return;
      let received = 0;
      try {
        for (;;) {
          idle.touch();
          let next;
          try {
            next = await reader.read();
          } catch (err) {
            throw idle.error(`GET ${url}`, err, received);
          }
          if (next.done) break;
          received += next.value.byteLength;
          yield next.value;
        }
        if (size !== undefined && received !== size) {
          throw new BeamixError(`GET ${url}: the body ended after ${received} of ${size} bytes`);
        }
      } finally {
        cancel();
      }
    }
    return { size, cancel, [Symbol.asyncIterator]: chunks };
  }

  async exists(key: string, options: GetOptions = {}): Promise<boolean> {
    const got = await this.request("HEAD", key, options);
    got?.idle.stop();
    return got !== undefined;
  }

  async put(): Promise<void> {
    readOnly(this.url);
  }

  async list(): Promise<string[]> {
    throw new BeamixError(`${this.url}: an HTTP cache cannot be listed`);
  }
}

// Aborts a request after `ms` without progress, or when the caller's signal fires.
class IdleTimer {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private timedOut = false;
  private readonly ms: number;
  readonly signal: AbortSignal;

  constructor(ms: number, outer?: AbortSignal) {
    this.ms = ms;
    this.signal = outer ? AbortSignal.any([this.controller.signal, outer]) : this.controller.signal;
    this.touch();
  }
  touch(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
    }, this.ms);
    this.timer.unref();
  }
  stop(): void {
    clearTimeout(this.timer);
  }
  error(what: string, err: unknown, received?: number): BeamixError {
    this.stop();
    const after = received === undefined ? "" : ` after ${received} bytes`;
    if (this.timedOut) return new BeamixError(`${what}: no data for ${this.ms / 1000} s${after} (time-out)`);
    const cause = (err as { cause?: unknown }).cause;
    return new BeamixError(`${what}: the connection failed${after}: ${errorMessage(err)}${cause ? ` (${errorMessage(cause)})` : ""}`);
  }
}
