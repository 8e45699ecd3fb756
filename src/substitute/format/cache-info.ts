// `beamix-cache-info`, at the root of every cache: which format the cache is in and how much a
// client should prefer it (lower priority = asked first, as in Nix). There is no store directory:
// store items are relocatable, so any store can use any cache.
//   Format: 1
//   Priority: 50
import { BeamixError } from "../../errors.ts";

export const CACHE_FORMAT = 1;
export const DEFAULT_PRIORITY = 50;
export const MAX_CACHE_INFO_BYTES = 4096;

export interface CacheInfo {
  format: number;
  priority: number;
}

export function formatCacheInfo(info: CacheInfo): string {
  return `Format: ${info.format}\nPriority: ${info.priority}\n`;
}

export function parsePriority(text: string, origin: string): number {
  const n = Number(text);
  if (!/^[0-9]{1,6}$/.test(text) || !Number.isInteger(n)) throw new BeamixError(`${origin}: priority must be an integer from 0 to 999999, not ${JSON.stringify(text)}`);
  return n;
}

export function parseCacheInfo(text: string, origin: string): CacheInfo {
  if (Buffer.byteLength(text) > MAX_CACHE_INFO_BYTES) throw new BeamixError(`${origin}: larger than ${MAX_CACHE_INFO_BYTES} bytes`);
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const m = /^([A-Za-z][A-Za-z0-9-]*): *(.*?)\s*$/.exec(line);
    if (!m) throw new BeamixError(`${origin}: not a beamix cache-info file (line ${JSON.stringify(line.slice(0, 40))})`);
    fields.set(m[1], m[2]);
  }
  const format = fields.get("Format");
  if (format === undefined) throw new BeamixError(`${origin}: not a beamix cache-info file (no Format line)`);
  if (format !== String(CACHE_FORMAT)) throw new BeamixError(`${origin}: cache format ${JSON.stringify(format)} is not supported (this beamix reads format ${CACHE_FORMAT})`);
  const priority = fields.has("Priority") ? parsePriority(fields.get("Priority")!, `${origin}: Priority`) : DEFAULT_PRIORITY;
  return { format: CACHE_FORMAT, priority };
}
