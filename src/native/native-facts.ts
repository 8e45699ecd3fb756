// The native code of a built tree (a store item, or a tree about to become one): which of its
// files are ELF objects, the shared libraries they need from outside the tree (ELF DT_NEEDED),
// and the highest C library (glibc) symbol version they need. Recorded with every item (its
// deriver's `native`) and in its substitute record, so a host can tell before and after
// downloading whether the code can load there (loadProblems).
import { lstat, open, readdir } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { compareDotted, ElfError, isElf, readElf, type ElfFacts } from "./elf.ts";
import { findLibrary, hostElf, hostGlibc } from "./loader.ts";

export interface NativeFacts {
  objects: string[]; // the tree's ELF files, relative paths, sorted
  needed: string[]; // libraries they need from outside the tree, sorted, each once
  glibc?: string; // the highest GLIBC_ version any of them needs
  builtWithGlibc?: string; // the C library of the host that made the tree (informative)
}

const MAX_OBJECT_BYTES = 256 * 1024 * 1024; // a NIF larger than this is not read (and not a NIF)
const MAX_DEPTH = 64;

async function elfFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > MAX_DEPTH) return;
    for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p, depth + 1);
      else if (e.isFile()) {
        const fh = await open(p, "r");
        try {
          const b = Buffer.alloc(4);
          const { bytesRead } = await fh.read(b, 0, 4, 0);
          if (bytesRead === 4 && isElf(b)) out.push(p);
        } finally {
          await fh.close();
        }
      }
    }
  };
  await walk(root, 0);
  return out;
}

async function readObject(path: string): Promise<ElfFacts> {
  const size = (await lstat(path)).size;
  if (size > MAX_OBJECT_BYTES) throw new ElfError(`${size} bytes: too large to read`);
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(size);
    await fh.read(buf, 0, size, 0);
    return readElf(buf);
  } finally {
    await fh.close();
  }
}

const inside = (p: string, root: string) => p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);

// Each ELF object of the tree with what it reads as. An object that is not valid ELF (a test
// fixture, a foreign core file) is reported with `error` instead of failing the caller.
export async function treeObjects(root: string): Promise<{ path: string; rel: string; facts?: ElfFacts; error?: string }[]> {
  return Promise.all(
    (await elfFiles(root)).map(async (path) => {
      const rel = relative(root, path).split(sep).join("/");
      try {
        return { path, rel, facts: await readObject(path) };
      } catch (err) {
        if (!(err instanceof ElfError)) throw err;
        return { path, rel, error: err.message };
      }
    }),
  );
}

export async function nativeFactsOfTree(root: string): Promise<NativeFacts | undefined> {
  const objects = await treeObjects(root);
  if (objects.length === 0) return undefined;
  const needed = new Set<string>();
  let glibc: string | undefined;
  for (const o of objects) {
    if (!o.facts) continue;
    if (o.facts.glibc && (glibc === undefined || compareDotted(o.facts.glibc, glibc) > 0)) glibc = o.facts.glibc;
    for (const name of o.facts.needed) {
      // A library the object finds through its own RPATH/RUNPATH inside the tree travels with it.
      const local = await findLibrary(name, { ...o.facts, runpath: o.facts.runpath.filter((d) => d.includes("ORIGIN")), rpath: o.facts.rpath.filter((d) => d.includes("ORIGIN")) }, o.path);
      if (!(local && inside(local, root))) needed.add(name);
    }
  }
  const facts: NativeFacts = { objects: objects.map((o) => o.rel).sort(), needed: [...needed].sort() };
  if (glibc) facts.glibc = glibc;
  const host = hostGlibc();
  if (host) facts.builtWithGlibc = host;
  return facts;
}

// Why native code needing `needed` and `glibc` cannot load on this host, one reason per
// problem (empty: it can, as far as the loader's search and the C library's version tell).
export async function loadProblems(needed: readonly string[], glibc: string | undefined): Promise<string[]> {
  const problems: string[] = [];
  const host = hostGlibc();
  if (glibc && host && compareDotted(glibc, host) > 0) problems.push(`its native code needs glibc ${glibc}, this host has ${host}`);
  const self = hostElf();
  const missing: string[] = [];
  for (const name of needed) if (!(await findLibrary(name, self, "/"))) missing.push(name);
  if (missing.length > 0) problems.push(`its native code needs ${missing.join(", ")}, which this host's dynamic loader does not find`);
  return problems;
}

// The same for a tree itself: each object is searched for as the loader would (its own
// RPATH/RUNPATH and $ORIGIN included).
export async function treeLoadProblems(root: string): Promise<string[]> {
  const problems: string[] = [];
  const host = hostGlibc();
  for (const o of await treeObjects(root)) {
    if (!o.facts) continue;
    if (o.facts.glibc && host && compareDotted(o.facts.glibc, host) > 0) problems.push(`${o.rel} needs glibc ${o.facts.glibc}, this host has ${host}`);
    const missing: string[] = [];
    for (const name of o.facts.needed) if (!(await findLibrary(name, o.facts, o.path))) missing.push(name);
    if (missing.length > 0) problems.push(`${o.rel} needs ${missing.join(", ")}, which this host's dynamic loader does not find`);
  }
  return problems;
}
