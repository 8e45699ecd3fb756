// Where things are in a binary cache, whatever holds it (a directory, an HTTP server, a bucket):
//   beamix-cache-info                    format version and priority (cache-info.ts)
//   <drv hash>.beamixinfo                the signed record of one store item (record.ts)
//   archives/<file hash>.nar.zst         its archive: the item's tree serialization, zstd-compressed
//   compile-env/<basis>.json             compile-time config reads per package build (compile-env-hints.ts)
//   mix-answers/<key>.json               Mix's signed answers about a project (mix-answers.ts)
// Keys are relative, '/'-separated, and drawn from a small alphabet, so no key can name anything
// outside the cache (no "..", no absolute path, no URL of its own).

export const CACHE_INFO_KEY = "beamix-cache-info";
export const RECORD_SUFFIX = ".beamixinfo";
export const ARCHIVES_DIR = "archives";

export type Compression = "zstd" | "none";
export const COMPRESSION_SUFFIX: Record<Compression, string> = { zstd: ".nar.zst", none: ".nar" };

const SEGMENT_RE = /^[A-Za-z0-9_][A-Za-z0-9._+-]{0,199}$/;

// A key every backend and the server accept: 1–4 safe segments, none starting with a dot.
export function isSafeKey(key: string): boolean {
  const parts = key.split("/");
  return parts.length <= 4 && parts.every((p) => SEGMENT_RE.test(p) && !p.includes(".."));
}

export const recordKey = (drvHash: string): string => `${drvHash}${RECORD_SUFFIX}`;
export const archiveKey = (fileHash: string, compression: Compression): string => `${ARCHIVES_DIR}/${fileHash}${COMPRESSION_SUFFIX[compression]}`;

export function isRecordKey(key: string): boolean {
  return !key.includes("/") && key.endsWith(RECORD_SUFFIX);
}

export function contentTypeOf(key: string): string {
  if (key === CACHE_INFO_KEY) return "text/x-beamix-cache-info; charset=utf-8";
  if (key.endsWith(RECORD_SUFFIX)) return "text/x-beamix-info; charset=utf-8";
  if (key.endsWith(".zst")) return "application/zstd";
  if (key.endsWith(".json")) return "application/json";
  return "application/octet-stream";
}

// Archives and restore packs are named by their content: once there, they never change. Records
// may be re-signed.
export function cacheControlOf(key: string): string {
  if (key.startsWith(`${ARCHIVES_DIR}/`) || /^deps-records\/packs\//.test(key)) return "public, max-age=31536000, immutable";
  return "public, max-age=60";
}
