// A cache behind an HTTP server (beamix serve, or any static file server): read-only. Every
// request has an idle time-out covering the wait for headers and every gap between body chunks,
// and a deadline for the whole request (src/util/http-get.ts), so a server that stalls mid-body,
// or drips a byte now and then, is given up on rather than waited for.
import { BeamixError } from "../../errors.ts";
import { httpGet, type HttpResponse } from "../../util/http-get.ts";
import { ARCHIVES_DIR, isSafeKey } from "../format/layout.ts";
import { readOnly, type CacheBackend, type CacheBody, type GetOptions } from "./backend.ts";

export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
// Records, cache-info and hints are at most a few dozen KiB: a minute is plenty.
export const DEFAULT_DEADLINE_MS = 60_000;
// An archive's size is not known here; callers that know it (substituters.ts) pass a deadline
// scaled to it, and this is the backstop for those that do not.
export const DEFAULT_ARCHIVE_DEADLINE_MS = 30 * 60_000;

export class HttpBackend implements CacheBackend {
  readonly url: string;
  readonly writable = false;

  constructor(url: string) {
    this.url = url.replace(/\/+$/, "");
  }

  private keyUrl(key: string): string {
    if (!isSafeKey(key)) throw new BeamixError(`${this.url}: invalid cache key ${JSON.stringify(key)}`);
    return `${this.url}/${key}`;
  }

  private async request(method: "GET" | "HEAD", key: string, options: GetOptions): Promise<HttpResponse | undefined> {
    const url = this.keyUrl(key);
    const deadlineMs = options.deadlineMs ?? (key.startsWith(`${ARCHIVES_DIR}/`) ? DEFAULT_ARCHIVE_DEADLINE_MS : DEFAULT_DEADLINE_MS);
    const res = await httpGet(url, { method, idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, deadlineMs, signal: options.signal });
    if (res.status === 404 || res.status === 410 || res.status === 403) {
      // Object stores answer 403 for a missing key.
      res.cancel();
      return undefined;
    }
    if (res.status < 200 || res.status > 299) {
      res.cancel();
      throw new BeamixError(`${method} ${url} returned HTTP ${res.status}`);
    }
    return res;
  }

  async get(key: string, options: GetOptions = {}): Promise<CacheBody | undefined> {
    const res = await this.request("GET", key, options);
    if (!res) return undefined;
    const length = res.headers["content-length"];
    const size = length !== undefined && /^[0-9]+$/.test(length) && !res.headers["content-encoding"] ? Number(length) : undefined;
    return { size, cancel: () => res.cancel(), [Symbol.asyncIterator]: () => res.body[Symbol.asyncIterator]() };
  }

  async exists(key: string, options: GetOptions = {}): Promise<boolean> {
    const res = await this.request("HEAD", key, options);
    res?.cancel();
    return res !== undefined;
  }

  async put(): Promise<void> {
    readOnly(this.url);
  }

  async list(): Promise<string[]> {
    throw new BeamixError(`${this.url}: an HTTP cache cannot be listed`);
  }
}
