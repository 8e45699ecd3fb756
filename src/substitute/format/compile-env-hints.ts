// Compile-env hints: a cache's answer to "which compile-time config keys did builds of this
// package read?", so that a machine that never built a package can still compute the identity
// of the item it wants and ask caches for it.
//
// A dependency of a Mix project is stored under the hash of its derivation restricted to the
// config it read (src/derivation/compile-env.ts): basis hash + read set + the project's values at
// those reads → final derivation hash. The read set is only known after a build; a store keeps
// the sets it has seen per basis. A cache keeps the same, one small JSON file per basis:
//
//   compile-env/<basis>.json   {"format": "beamix-compile-env-hint/1", "basis": …, "name": …,
//                               "version": …, "readSets": [[["app", "key"], …], …]}
//
// written by the publisher of items whose deriver records a basis and read set, merged with
// what is there, each write atomic (temp + rename on a directory, a single PUT on an object
// store).
//
// A hint is not signed, and needs not be: it is only ever used to compute candidate derivation
// hashes, and an item is accepted only through the normal signed record of such a hash, which a
// trusted key signed for an item registered under exactly that derivation. The final hash covers
// the basis (so the package, version, source, toolchain and inputs) and the client's own values
// at the hinted reads. So a lying hint can do two things only: name read sets whose hashes have
// no trusted record (a miss: the client builds), or name a set whose hash a trusted publisher
// did register — and then that item was built by a build that read exactly those keys with
// exactly the client's values at them, which is the same build the client would run (the
// argument of compile-env.ts). It cannot make the client accept an item for another package or
// another config. The limits below only bound the work a hostile hint can cause.
import { BeamixError, errorMessage } from "../../errors.ts";
import { sortReads, type CompileEnvRecord, type ConfigRead } from "../../derivation/compile-env.ts";
import type { StoreItem } from "../../store/store.ts";
import { getBytes, type CacheBackend, type GetOptions } from "../backends/backend.ts";
import { contentTypeOf } from "./layout.ts";
import { parseFormatJson } from "./format-json.ts";

export const COMPILE_ENV_DIR = "compile-env";
export const HINT_FORMAT = "beamix-compile-env-hint/1";
export const MAX_HINT_BYTES = 256 * 1024;
// Each set costs the client one record lookup per cache; past this the oldest are dropped.
export const MAX_HINT_SETS = 32;
const MAX_READS_PER_SET = 256;

const BASIS_RE = /^[0-9a-f]{64}$/;
// An application or a top-level key: any atom text, but no control characters and bounded.
const ATOM_RE = /^[^\x00-\x1f\x7f]{1,255}$/;

export interface CompileEnvHint {
  basis: string;
  name: string;
  version: string;
  readSets: ConfigRead[][]; // each sorted, no two equal, oldest first
}

export function compileEnvKey(basis: string): string {
  if (!BASIS_RE.test(basis)) throw new BeamixError(`invalid compile-env basis ${JSON.stringify(basis)}`);
  return `${COMPILE_ENV_DIR}/${basis}.json`;
}

export const isCompileEnvKey = (key: string): boolean => /^compile-env\/[0-9a-f]{64}\.json$/.test(key);

const setKey = (reads: readonly ConfigRead[]) => JSON.stringify(reads.map((r) => [r.app, r.key]));

export function formatHint(h: CompileEnvHint): string {
  return (
    JSON.stringify({
      format: HINT_FORMAT,
      basis: h.basis,
      name: h.name,
      version: h.version,
      readSets: h.readSets.map((s) => sortReads(s).map((r) => [r.app, r.key])),
    }) + "\n"
  );
}

// A hint as read from a cache; throws a BeamixError naming `origin` on anything malformed,
// including a hint about another basis than the one asked for.
export function parseHint(text: string, origin: string, basis: string): CompileEnvHint {
  const bad = (what: string) => new BeamixError(`${origin}: ${what}`);
  const o = parseFormatJson(text, origin, HINT_FORMAT);
  if (o.basis !== basis) throw bad(`the hint is about basis ${JSON.stringify(o.basis)}, not ${basis}`);
  if (typeof o.name !== "string" || typeof o.version !== "string") throw bad("no name or version");
  if (!Array.isArray(o.readSets)) throw bad("readSets is not a list");
  if (o.readSets.length > MAX_HINT_SETS) throw bad(`more than ${MAX_HINT_SETS} read sets`);
  const seen = new Set<string>();
  const readSets: ConfigRead[][] = [];
  for (const set of o.readSets as unknown[]) {
    if (!Array.isArray(set) || set.length > MAX_READS_PER_SET) throw bad("a read set is not a list of at most 256 reads");
    const reads = set.map((r: unknown) => {
      if (!Array.isArray(r) || r.length !== 2 || typeof r[0] !== "string" || typeof r[1] !== "string" || !ATOM_RE.test(r[0]) || !ATOM_RE.test(r[1])) {
        throw bad(`invalid read ${JSON.stringify(r)?.slice(0, 80)}`);
      }
      return { app: r[0], key: r[1] };
    });
    const sorted = sortReads(reads);
    const k = setKey(sorted);
    if (!seen.has(k)) readSets.push(sorted);
    seen.add(k);
  }
  return { basis, name: o.name, version: o.version, readSets };
}

// The read sets of `base` followed by those of `more` it lacks, the oldest dropped past the limit.
export function mergeReadSets(base: readonly ConfigRead[][], more: readonly ConfigRead[][]): ConfigRead[][] {
  const out = new Map<string, ConfigRead[]>();
  for (const s of [...base, ...more]) {
    const sorted = sortReads(s);
    const k = setKey(sorted);
    if (!out.has(k)) out.set(k, sorted);
  }
  return [...out.values()].slice(-MAX_HINT_SETS);
}

const covers = (have: readonly ConfigRead[][], want: readonly ConfigRead[][]) => {
  const keys = new Set(have.map((s) => setKey(sortReads(s))));
  return want.every((s) => keys.has(setKey(sortReads(s))));
};

// The basis and read set a store item's deriver records (items built or substituted by `beamix
// deps`), if any.
export function compileEnvOf(item: StoreItem): CompileEnvRecord | undefined {
  const rec = (item.deriver as { compileEnv?: CompileEnvRecord } | null)?.compileEnv;
  if (!rec || typeof rec.basis !== "string" || !BASIS_RE.test(rec.basis) || !Array.isArray(rec.reads)) return undefined;
  return rec;
}

// The hints the given items call for, one per basis.
export function hintsOfItems(items: readonly StoreItem[]): CompileEnvHint[] {
  const byBasis = new Map<string, CompileEnvHint>();
  for (const item of items) {
    const rec = compileEnvOf(item);
    if (!rec) continue;
    const h = byBasis.get(rec.basis);
    if (h) h.readSets = mergeReadSets(h.readSets, [rec.reads]);
    else byBasis.set(rec.basis, { basis: rec.basis, name: item.name, version: item.version, readSets: mergeReadSets([], [rec.reads]) });
  }
  return [...byBasis.values()];
}

// A cache's hint about a basis; undefined when it has none.
export async function readHint(backend: CacheBackend, basis: string, options?: GetOptions): Promise<CompileEnvHint | undefined> {
  const key = compileEnvKey(basis);
  const bytes = await getBytes(backend, key, MAX_HINT_BYTES, options);
  return bytes && parseHint(bytes.toString("utf8"), `${backend.url}/${key}`, basis);
}

// Adds a hint's read sets to the cache's hint of its basis. Returns whether anything was
// written (nothing is when the cache already lists every set). Two publishers racing on one
// basis could each write a merge the other lacks; the write is read back and redone, a few
// times, until it holds our sets. A set lost anyway only costs a client a build.
export async function publishHint(backend: CacheBackend, hint: CompileEnvHint, onProblem: (line: string) => void = () => {}): Promise<boolean> {
  const key = compileEnvKey(hint.basis);
  let wrote = false;
  for (let attempt = 0; ; attempt++) {
    let existing: CompileEnvHint | undefined;
    try {
      existing = await readHint(backend, hint.basis);
    } catch (err) {
      onProblem(`replacing the unreadable ${backend.url}/${key}: ${errorMessage(err)}`); // ours to fix
    }
    const have = existing?.readSets ?? [];
    if (covers(have, hint.readSets)) return wrote;
    if (attempt === 3) break;
    const merged: CompileEnvHint = { ...hint, readSets: mergeReadSets(have, hint.readSets) };
    await backend.put(key, Buffer.from(formatHint(merged)), { contentType: contentTypeOf(key) });
    wrote = true;
  }
  onProblem(`${backend.url}/${key}: another publisher keeps replacing it; some read sets may be missing from it`);
  return wrote;
}
