// Getting the bytes of one repository file over http(s):// or from a file:// URL, with a size
// bound and a time-out. Nothing here is trusted: callers verify signatures and checksums.
import { open } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { BeamixError, errorMessage } from "../../errors.ts";

export interface GetOptions {
  fetch?: typeof fetch; // defaults to the global fetch
  timeoutMs: number; // for the whole request, body included
  maxBytes: number;
}

// A missing file is a normal answer (an unknown package), so it is a value, not an error.
export type GetResult = { found: true; body: Buffer } | { found: false; status: string };

export async function getUrl(url: string, opts: GetOptions): Promise<GetResult> {
  const scheme = url.slice(0, url.indexOf(":") + 1).toLowerCase();
  if (scheme === "file:") return getFile(url, opts.maxBytes);
  if (scheme === "http:" || scheme === "https:") return getHttp(url, opts);
  throw new BeamixError(`${url}: unsupported URL scheme (use http://, https:// or file://)`);
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

async function getHttp(url: string, opts: GetOptions): Promise<GetResult> {
  const fetchImpl = opts.fetch ?? fetch;
  const signal = AbortSignal.timeout(opts.timeoutMs);
  const failed = (err: unknown): BeamixError => {
    if (signal.aborted) return new BeamixError(`GET ${url}: no complete answer within ${opts.timeoutMs} ms`);
    const cause = (err as { cause?: unknown }).cause;
    return new BeamixError(`GET ${url} failed: ${errorMessage(err)}${cause ? ` (${errorMessage(cause)})` : ""}`);
  };

  let res: Response;
  try {
    res = await fetchImpl(url, { signal, redirect: "follow" });
  } catch (err) {
    throw failed(err);
  }
  if (res.status === 404 || res.status === 403 || res.status === 410) {
    // S3-backed repositories (repo.hex.pm among them) answer 403 for a missing key.
    await res.body?.cancel().catch(() => {});
    return { found: false, status: `HTTP ${res.status}` };
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    throw new BeamixError(`GET ${url} returned HTTP ${res.status}`);
  }
  const declared = Number(res.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > opts.maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw new BeamixError(`GET ${url}: ${declared} bytes is more than the limit of ${opts.maxBytes}`);
  }
  if (!res.body) return { found: true, body: Buffer.alloc(0) };

  const chunks: Buffer[] = [];
  let total = 0;
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > opts.maxBytes) {
        await reader.cancel().catch(() => {});
        throw new BeamixError(`GET ${url}: more than the limit of ${opts.maxBytes} bytes`);
      }
      chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    }
  } catch (err) {
    if (err instanceof BeamixError) throw err;
    throw failed(err);
  }
  return { found: true, body: Buffer.concat(chunks, total) };
}
