// Getting the bytes of one repository file over http(s):// or from a file:// URL, with a size
// bound and a time-out. Nothing here is trusted: callers verify signatures and checksums.
import { open } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { BeamixError, errorMessage } from "../../errors.ts";
import { httpGet } from "../../util/http-get.ts";

export interface GetOptions {
  timeoutMs: number; // for the whole request, body included
  maxBytes: number;
  headers?: Record<string, string>; // sent over http(s) only (a repository's auth key)
}

// The server refused the request for want of (valid) credentials: HTTP 401, or 403 to a request
// that carried an auth key. Its own class, so the client can say which key is missing.
export class RequestRefused extends BeamixError {
  override name = "RequestRefused";
  readonly url: string;
  readonly status: number;
  constructor(url: string, status: number) {
    super(`GET ${url} returned HTTP ${status}`);
    this.url = url;
    this.status = status;
  }
}

// A missing file is a normal answer (an unknown package), so it is a value, not an error.
export type GetResult = { found: true; body: Buffer } | { found: false; status: string };

// With a validator from an earlier answer (its ETag), the server may answer "not modified".
export type RevalidateResult = (GetResult & { etag?: string }) | { notModified: true };

export async function getUrl(url: string, opts: GetOptions): Promise<GetResult> {
  const scheme = url.slice(0, url.indexOf(":") + 1).toLowerCase();
  if (scheme === "file:") return getFile(url, opts.maxBytes);
  if (scheme === "http:" || scheme === "https:") return getHttp(url, opts);
  throw new BeamixError(`${url}: unsupported URL scheme (use http://, https:// or file://)`);
}

// A GET that sends If-None-Match with the ETag of a copy the caller kept (over http(s) only: a
// file:// URL is read again). The answer's ETag comes back with a body.
export async function getUrlRevalidating(url: string, opts: GetOptions, etag: string | undefined): Promise<RevalidateResult> {
  const scheme = url.slice(0, url.indexOf(":") + 1).toLowerCase();
  if (scheme !== "http:" && scheme !== "https:") return getUrl(url, opts);
  return getHttp(url, opts, etag);
}

async function getFile(url: string, maxBytes: number): Promise<GetResult> {
  let path: string;
  try {
    path = fileURLToPath(url);
  } catch (err) {
    throw new BeamixError(`${url}: not a valid file URL (${errorMessage(err)})`);
  }
  let fh;
  try {
    fh = await open(path, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return { found: false, status: "no such file" };
    throw new BeamixError(`${url}: cannot read (${errorMessage(err)})`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new BeamixError(`${url}: not a regular file`);
    if (st.size > maxBytes) throw new BeamixError(`${url}: ${st.size} bytes is more than the limit of ${maxBytes}`);
    // Read one byte past the limit so a file that grew since stat is still caught.
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > maxBytes) throw new BeamixError(`${url}: more than the limit of ${maxBytes} bytes`);
    }
    return { found: true, body: Buffer.from(buf.subarray(0, n)) };
  } finally {
    await fh.close();
  }
}

async function getHttp(url: string, opts: GetOptions): Promise<GetResult>;
async function getHttp(url: string, opts: GetOptions, etag: string | undefined): Promise<RevalidateResult>;
async function getHttp(url: string, opts: GetOptions, etag?: string): Promise<RevalidateResult> {
  // The time-out is the deadline of the whole request, body included; a stall is caught by the
  // same bound.
  const headers = { ...opts.headers, ...(etag === undefined ? {} : { "if-none-match": etag }) };
  const res = await httpGet(url, { idleTimeoutMs: opts.timeoutMs, deadlineMs: opts.timeoutMs, headers });
  if (res.status === 304 && etag !== undefined) {
    for await (const _ of res.body); // none: read to the end so the connection is kept for the next request
    return { notModified: true };
  }
  if (res.status === 401 || (res.status === 403 && opts.headers?.authorization !== undefined)) {
    res.cancel();
    throw new RequestRefused(url, res.status);
  }
  if (res.status === 404 || res.status === 403 || res.status === 410) {
    // S3-backed repositories (repo.hex.pm among them) answer 403 for a missing key.
    res.cancel();
    return { found: false, status: `HTTP ${res.status}` };
  }
  if (res.status < 200 || res.status > 299) {
    res.cancel();
    throw new BeamixError(`GET ${url} returned HTTP ${res.status}`);
  }
  const declared = Number(res.headers["content-length"]);
  if (Number.isFinite(declared) && declared > opts.maxBytes) {
    res.cancel();
    throw new BeamixError(`GET ${url}: ${declared} bytes is more than the limit of ${opts.maxBytes}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += chunk.length;
    if (total > opts.maxBytes) {
      res.cancel();
      throw new BeamixError(`GET ${url}: more than the limit of ${opts.maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  const answered = res.headers.etag;
  return { found: true, body: Buffer.concat(chunks, total), ...(typeof answered === "string" ? { etag: answered } : {}) };
}

