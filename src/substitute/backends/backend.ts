// What a binary cache is to beamix: a flat store of keys (layout.ts) that can be read, tested,
// written and listed. A directory (file://) and an HTTP server (read-only) are backends; an
// object store (S3) is one more, with the same four operations.
//
// Writers must make every key appear atomically with its complete contents (a reader sees the
// old value, the new one, or nothing), because publishers may race and readers never lock.
import { BeamixError } from "../../errors.ts";

export interface GetOptions {
  // Give up when no byte arrives for this long (the request included).
  idleTimeoutMs?: number;
  // Give up when the whole request, body included, takes longer (backends choose a default).
  deadlineMs?: number;
  signal?: AbortSignal;
}

// An object being read. Iterate it once; cancel() when stopping early.
export interface CacheBody extends AsyncIterable<Uint8Array> {
  size?: number; // when the backend knows it up front
  cancel(): void;
}

// A body to write: its size up front (object stores want it) and a way to (re)read it.
export interface PutBody {
  size: number;
  open(): AsyncIterable<Uint8Array>;
}

export interface PutOptions {
  contentType?: string; // for backends that serve what they store (object stores)
}

export interface CacheBackend {
  readonly url: string; // for messages
  readonly writable: boolean;
  get(key: string, options?: GetOptions): Promise<CacheBody | undefined>; // undefined: no such key
  exists(key: string, options?: GetOptions): Promise<boolean>;
  put(key: string, body: Buffer | PutBody, options?: PutOptions): Promise<void>;
  list(prefix?: string): Promise<string[]>; // keys starting with prefix, sorted
}

// Reads a small object whole, refusing more than maxBytes.
export async function getBytes(backend: CacheBackend, key: string, maxBytes: number, options?: GetOptions): Promise<Buffer | undefined> {
  const body = await backend.get(key, options);
  if (!body) return undefined;
  if (body.size !== undefined && body.size > maxBytes) {
    body.cancel();
    throw new BeamixError(`${backend.url}/${key}: ${body.size} bytes is more than the limit of ${maxBytes}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const c of body) {
      total += c.byteLength;
      if (total > maxBytes) throw new BeamixError(`${backend.url}/${key}: more than the limit of ${maxBytes} bytes`);
      chunks.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    }
  } catch (err) {
    body.cancel();
    throw err;
  }
  return Buffer.concat(chunks, total);
}

export function readOnly(url: string): never {
  throw new BeamixError(`${url}: this cache is read-only here (publish to a file:// directory and serve it)`);
}
