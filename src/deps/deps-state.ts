// What the last complete `beamix deps` of a project left, so that a run in which nothing changed
// ends at once: no registry request, no tarball read, no tree compared file by file. Kept in
// <cache dir>/deps-state/, one file per project directory and MIX_ENV.
//
// A state holds a key over every input of the run (mix.lock's bytes, Mix's answers about the
// project and its config, the toolchain, the store and how _build gets its files), the store
// items the project uses, the identity (inode, size, mtime, ctime) of every file and directory
// the run left in deps/APP and _build/ENV/lib/APP, and the report it printed. A run may end early
// only when the key is the same, every item is still valid, and every one of those files and
// directories is exactly as it was left: a directory's mtime changes when an entry is added or
// removed, a file's when it is written, so anything Mix, a user or an editor did there sends the
// run down the full path, which then records a new state. Anything unreadable is a miss.
import { lstatSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomicSync } from "../util/atomic-write.ts";
import { sha256Hex } from "../util/sha256.ts";
import { movePath, PROJECT_MARK } from "./moved-path.ts";

const FORMAT = "beamix-deps-state/1";
const DIR = "deps-state";

// [path, kind, ino, size, mtimeNs, ctimeNs]
export type Stamp = [string, "f" | "d" | "l", string, string, string, string];

export interface DepsState<R> {
  format: typeof FORMAT;
  key: string;
  items: string[]; // store paths
  stamps: Stamp[];
  report: R;
}

export function depsStateFile(cacheRoot: string, projectDir: string, mixEnv: string): string {
  return join(cacheRoot, DIR, `${sha256Hex(`${projectDir}\0${mixEnv}`)}.json`);
}

// The key is the same for the same project in any directory: every path under `projectDir` is
// keyed relative to it (as relocate-answers.ts moves Mix's answers), so that a fresh checkout
// filled from another checkout's record (checkout-restore.ts) keeps the key a run there computes.
export function depsStateKey(parts: unknown, projectDir: string): string {
  return sha256Hex(keyedJson({ format: FORMAT, parts }, projectDir));
}

// JSON as the key sees it: paths under `projectDir` marked, big integers as text.
export function keyedJson(value: unknown, projectDir: string): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : typeof v === "string" ? movePath(v, projectDir, PROJECT_MARK) : v));
}

// Synchronous on purpose: a few hundred lstat calls of cached inodes take well under a
// millisecond this way, and tens of milliseconds through the thread pool one await at a time.
export function stampOf(path: string): Stamp | undefined {
  const s = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  if (!s) return undefined;
  const kind = s.isDirectory() ? "d" : s.isSymbolicLink() ? "l" : "f";
  return [path, kind, s.ino.toString(), s.size.toString(), s.mtimeNs.toString(), s.ctimeNs.toString()];
}

// Every file, link and directory under the roots (each root included), as it is now.
export function stampTrees(roots: readonly string[]): Stamp[] {
  const out: Stamp[] = [];
  const walk = (path: string): void => {
    const st = stampOf(path);
    if (!st) return;
    out.push(st);
    if (st[1] !== "d") return;
    for (const name of readdirSync(path).sort()) walk(join(path, name));
  };
  for (const root of roots) walk(root);
  return out;
}

// Whether every file, link and directory is exactly as stamped.
export function stampsUnchanged(stamps: readonly Stamp[]): boolean {
  for (const s of stamps) {
    const now = stampOf(s[0]);
    if (!now || now.some((v, i) => v !== s[i])) return false;
  }
  return true;
}

// The store items the last complete run left in _build (whatever changed since); undefined when
// no state is kept.
export async function lastItems(file: string): Promise<ReadonlySet<string> | undefined> {
  try {
    const state = JSON.parse(await readFile(file, "utf8")) as DepsState<unknown>;
    return state?.format === FORMAT && Array.isArray(state.items) ? new Set(state.items) : undefined;
  } catch {
    return undefined;
  }
}

// The state of the last run (readDepsState), when this run would change nothing; else undefined.
export async function unchangedState<R>(state: DepsState<R> | undefined, key: string, isValid: (item: string) => boolean): Promise<DepsState<R> | undefined> {
  if (state?.key !== key || !state.items.every(isValid)) return undefined;
  return stampsUnchanged(state.stamps) ? state : undefined;
}

// The state in `file`, whatever it says; undefined when missing or malformed.
export function readDepsState<R>(file: string): DepsState<R> | undefined {
  try {
    const state = JSON.parse(readFileSync(file, "utf8")) as DepsState<R>;
    if (state?.format !== FORMAT || typeof state.key !== "string" || !Array.isArray(state.items) || !Array.isArray(state.stamps)) return undefined;
    return state;
  } catch {
    return undefined;
  }
}

// Best effort: a state that cannot be written only costs the next run its shortcut. Says
// whether it was written.
export async function saveDepsState<R>(file: string, state: Omit<DepsState<R>, "format">): Promise<boolean> {
  try {
    mkdirSync(join(file, ".."), { recursive: true, mode: 0o700 });
    writeFileAtomicSync(file, JSON.stringify({ format: FORMAT, ...state }) + "\n");
    return true;
  } catch {
    return false; // the next run takes the full path
  }
}
