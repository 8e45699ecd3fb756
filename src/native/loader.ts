// Where this host's dynamic loader finds a shared library, searched as ld.so searches
// (ld.so(8)): the object's DT_RPATH (when it has no DT_RUNPATH), its DT_RUNPATH, the loader's
// cache /etc/ld.so.cache, then the default directories. $ORIGIN is the object's own directory.
// LD_LIBRARY_PATH is left out on purpose: it is the environment of one shell, not of the host.
// A candidate counts only when it is an ELF object of the same class and machine as the object
// that needs it, as the loader skips the others.
import { open, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { isElf, type ElfFacts } from "./elf.ts";

const LD_SO_CACHE = "/etc/ld.so.cache";
const CACHE_MAGIC = "glibc-ld.so.cache1.1";
const MAX_CACHE_BYTES = 64 * 1024 * 1024;
const DEFAULT_DIRS = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"];

// The library names and paths the loader's cache lists (the new format, which glibc has written
// since 2.32 alone and before that after the old one). An unreadable cache lists nothing.
export function parseLdSoCache(buf: Buffer): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const start = buf.indexOf(CACHE_MAGIC);
  if (start < 0) return out;
  const header = start + CACHE_MAGIC.length;
  if (header + 28 > buf.length) return out;
  const nlibs = buf.readUInt32LE(header);
  const entries = header + 28; // nlibs, len_strings, flags + padding, extension offset, 3 unused words
  if (entries + nlibs * 24 > buf.length) return out;
  const cstr = (off: number): string | undefined => {
    const at = start + off;
    const end = buf.indexOf(0, at);
    return at < buf.length && end > at ? buf.toString("latin1", at, end) : undefined;
  };
  for (let i = 0; i < nlibs; i++) {
    const e = entries + i * 24;
    const key = cstr(buf.readUInt32LE(e + 4));
    const value = cstr(buf.readUInt32LE(e + 8));
    if (key === undefined || value === undefined) continue;
    const list = out.get(key) ?? [];
    list.push(value);
    out.set(key, list);
  }
  return out;
}

let cacheMemo: Promise<Map<string, string[]>> | undefined;
function ldSoCache(): Promise<Map<string, string[]>> {
  cacheMemo ??= (async () => {
    try {
      const fh = await open(LD_SO_CACHE, "r");
      try {
        const size = (await fh.stat()).size;
        if (size > MAX_CACHE_BYTES) return new Map();
        return parseLdSoCache(await readFile(fh));
      } finally {
        await fh.close();
      }
    } catch {
      return new Map();
    }
  })();
  return cacheMemo;
}

// The first bytes of a file: enough for the ELF identification, class and machine. Not kept
// between calls: a tree being checked may change.
async function head(path: string): Promise<Buffer | undefined> {
  try {
    const fh = await open(path, "r");
    try {
      const b = Buffer.alloc(20);
      const { bytesRead } = await fh.read(b, 0, b.length, 0);
      return b.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
}

async function compatible(path: string, of: ElfFacts): Promise<boolean> {
  const b = await head(path);
  if (!b || !isElf(b) || b.length < 20) return false;
  const bits = b[4] === 2 ? 64 : 32;
  const le = b[5] === 1;
  const machine = le ? b.readUInt16LE(18) : b.readUInt16BE(18);
  return bits === of.bits && le === of.littleEndian && machine === of.machine;
}

// The path the loader would load `name` from for `object` (an ELF object at `objectPath`), or
// undefined when it finds none.
export async function findLibrary(name: string, object: ElfFacts, objectPath: string): Promise<string | undefined> {
  const origin = dirname(objectPath);
  const expand = (d: string) => d.replace(/\$(ORIGIN|\{ORIGIN\})/g, origin);
  if (name.includes("/")) return (await compatible(expand(name), object)) ? expand(name) : undefined;
  const dirs = [...(object.runpath.length === 0 ? object.rpath : []), ...object.runpath].map(expand);
  for (const d of dirs) if (await compatible(join(d, name), object)) return join(d, name);
  for (const p of (await ldSoCache()).get(name) ?? []) if (await compatible(p, object)) return p;
  for (const d of DEFAULT_DIRS) if (await compatible(join(d, name), object)) return join(d, name);
  return undefined;
}

// The version of the C library this process runs with ("2.36"), or undefined when it is not
// glibc (musl has no symbol versions to compare).
let glibcMemo: { version: string | undefined } | undefined;
export function hostGlibc(): string | undefined {
  glibcMemo ??= { version: (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime };
  return glibcMemo.version;
}

// This process's own ELF class and machine: what a library loaded into the VM must match.
export function hostElf(): ElfFacts {
  const machine = process.arch === "arm64" ? 183 : process.arch === "x64" ? 62 : process.arch === "ia32" ? 3 : 0;
  return { bits: process.arch === "ia32" ? 32 : 64, littleEndian: true, machine, type: 3, needed: [], rpath: [], runpath: [] };
}
