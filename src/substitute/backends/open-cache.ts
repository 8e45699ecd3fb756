// From a cache URL to its backend: file:///dir (or a plain absolute path), http://, https://,
// s3://bucket/prefix. Other schemes can register a factory here.
import { isAbsolute } from "node:path";
import { fileURLToPath } from "node:url";
import { BeamixError, errorMessage } from "../../errors.ts";
import type { CacheBackend } from "./backend.ts";
import { FileBackend } from "./file-backend.ts";
import { HttpBackend } from "./http-backend.ts";
import { S3Backend } from "./s3-backend.ts";

export type BackendFactory = (url: string) => CacheBackend;

const factories = new Map<string, BackendFactory>([
  ["file:", (url) => {
    try {
      return new FileBackend(fileURLToPath(url));
    } catch (err) {
      throw new BeamixError(`${url}: not a valid file URL (${errorMessage(err)})`);
    }
  }],
  ["http:", (url) => new HttpBackend(url)],
  ["https:", (url) => new HttpBackend(url)],
  ["s3:", (url) => new S3Backend(url)],
]);

export function registerBackend(scheme: string, factory: BackendFactory): void {
  factories.set(scheme.endsWith(":") ? scheme : `${scheme}:`, factory);
}

export function openCache(url: string): CacheBackend {
  if (isAbsolute(url)) return new FileBackend(url);
  const m = /^([a-z][a-z0-9+.-]*:)/i.exec(url);
  const factory = m && factories.get(m[1].toLowerCase());
  if (!factory) throw new BeamixError(`${url}: unsupported cache URL (use file:///dir, http://, https:// or s3://bucket/prefix)`);
  return factory(url);
}
