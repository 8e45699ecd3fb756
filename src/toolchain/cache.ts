// The toolchain cache: <cacheDir>/toolchains.json maps the identity of the files that define a
// toolchain (inode, size, mtime, ctime) to what detection found, so detection is a few stats
// instead of starting a VM. Best effort: an unreadable or corrupt file is a miss, and a failure
// to write is ignored (the next call detects again). Read synchronously: it is one small file,
// and `beamix deps` looks it up before its CLI loads (early-erl.ts).
import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { cacheDir } from "../config/paths.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";
import type { Toolchain } from "./detect.ts";
import { cacheKey, locate, type DetectOptions, type Located } from "./locate.ts";

export interface FileStamp {
  path: string;
  ino: string; // "" when the file does not exist
  size: string;
  mtimeNs: string;
  ctimeNs: string;
}

interface CacheFile {
  format: 1;
  entries: { key: string; toolchain: Toolchain }[];
}

const MAX_ENTRIES = 8;
const FILE = "toolchains.json";

const keyString = (stamps: FileStamp[]): string => JSON.stringify(stamps.map((s) => [s.path, s.ino, s.size, s.mtimeNs, s.ctimeNs]));

function readCache(dir: string): CacheFile {
  try {
    const data = JSON.parse(readFileSync(join(dir, FILE), "utf8"));
    if (data && data.format === 1 && Array.isArray(data.entries)) return data as CacheFile;
  } catch {
    // missing or corrupt: start afresh
  }
  return { format: 1, entries: [] };
}

// Enough of a shape check that a cache written by another version cannot hand back garbage.
function plausible(t: unknown): t is Toolchain {
  const x = t as Toolchain;
  return (
    typeof x === "object" && x !== null &&
    typeof x.otpRelease === "string" && typeof x.otpVersion === "string" && typeof x.ertsVersion === "string" &&
    typeof x.nifVersion === "string" && typeof x.targetTriple === "string" && typeof x.wordSize === "number" &&
    (x.elixirVersion === null || typeof x.elixirVersion === "string") &&
    (x.rebar3Version === null || typeof x.rebar3Version === "string") &&
    typeof x.paths === "object" && x.paths !== null && typeof x.paths.erlRoot === "string" &&
    Array.isArray(x.binDirs) && Array.isArray(x.readOnlyBinds)
  );
}

function loadCachedToolchain(dir: string, key: FileStamp[]): Toolchain | undefined {
  const k = keyString(key);
  const hit = readCache(dir).entries.find((e) => e.key === k);
  return hit && plausible(hit.toolchain) ? hit.toolchain : undefined;
}

// The toolchain `opts` names as the cache knows it: where its tools are, the key and directory
// its answer is kept under (null: not kept, e.g. for a version manager's shim) and that answer.
export interface CacheLookup {
  loc: Located;
  key: FileStamp[] | null;
  dir: string | null;
  hit: Toolchain | undefined;
}

export function lookUpToolchain(opts: DetectOptions): CacheLookup {
  const loc = locate(opts, opts.searchPath ?? process.env.PATH ?? "");
  const key = cacheKey(loc);
  const dir = opts.cacheDir === undefined ? cacheDir() : opts.cacheDir;
  return { loc, key, dir, hit: key && dir ? loadCachedToolchain(dir, key) : undefined };
}

export async function saveCachedToolchain(dir: string, key: FileStamp[], toolchain: Toolchain): Promise<void> {
  const k = keyString(key);
  try {
    const cache = readCache(dir);
    cache.entries = [{ key: k, toolchain }, ...cache.entries.filter((e) => e.key !== k)].slice(0, MAX_ENTRIES);
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(join(dir, FILE), JSON.stringify(cache, null, 1) + "\n");
  } catch {
    // a cache that cannot be written only costs time
  }
}

// Every toolchain detected before and still cached (newest first), for `beamix toolchain list`.
export async function cachedToolchains(dir: string): Promise<Toolchain[]> {
  return readCache(dir).entries.map((e) => e.toolchain).filter(plausible);
}
