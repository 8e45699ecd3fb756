// Looking at and moving between a profile's generations: list, switch, roll back, delete.
import { rename, rm } from "node:fs/promises";
import { BeamixError } from "../errors.ts";
import type { Store } from "../store/store.ts";
import { currentGeneration, generationNumbers, generationPath, removeLeftovers, switchLink, temporaryPath, type Profile } from "./location.ts";
import { readManifest, type ProfileManifest } from "./manifest.ts";
import { removeGenerationRoots, rootedGenerations, withProfileLock } from "./roots.ts";

export interface GenerationInfo {
  number: number;
  path: string;
  current: boolean;
  created: string;
  manifest: ProfileManifest;
}

export async function listGenerations(p: Profile): Promise<GenerationInfo[]> {
  const current = await currentGeneration(p);
  const out: GenerationInfo[] = [];
  for (const n of await generationNumbers(p)) {
    const path = generationPath(p, n);
    const manifest = await readManifest(path);
    out.push({ number: n, path, current: n === current, created: manifest.created, manifest });
  }
  return out;
}

// The store a profile's generations link to: recorded in the current generation (else the newest).
export async function profileStoreDir(p: Profile): Promise<string | undefined> {
  const current = await currentGeneration(p);
  const n = current ?? (await generationNumbers(p)).at(-1);
  return n === undefined ? undefined : (await readManifest(generationPath(p, n))).store;
}

export interface Switch {
  from: number | undefined;
  to: number;
}

export async function switchGeneration(store: Store, p: Profile, n: number): Promise<Switch> {
  return withProfileLock(store, p, async () => {
    if (!(await generationNumbers(p)).includes(n)) throw new BeamixError(`profile ${p.path} has no generation ${n}`);
    await readManifest(generationPath(p, n)); // only a complete generation becomes current
    const from = await currentGeneration(p);
    await switchLink(p, n);
    return { from, to: n };
  });
}

// To the newest generation older than the current one.
export async function rollBack(store: Store, p: Profile): Promise<Switch> {
  return withProfileLock(store, p, async () => {
    const from = await currentGeneration(p);
    if (from === undefined) throw new BeamixError(`profile ${p.path} does not exist yet: nothing to roll back`);
    const older = (await generationNumbers(p)).filter((n) => n < from);
    if (older.length === 0) throw new BeamixError(`profile ${p.path}: generation ${from} is the oldest; there is nothing to roll back to`);
    const to = older[older.length - 1];
    await readManifest(generationPath(p, to));
    await switchLink(p, to);
    return { from, to };
  });
}

export interface DeleteSelection {
  numbers?: readonly number[]; // these generations (none of them current)
  olderThanMs?: number; // every generation but the current one created longer ago than this
  now?: number;
}

// Deletes generations (all but the current one when nothing is selected) and their GC roots;
// `beamix gc` then frees what no other generation or root uses. Returns the numbers deleted.
export async function deleteGenerations(store: Store, p: Profile, sel: DeleteSelection = {}): Promise<number[]> {
  return withProfileLock(store, p, async () => {
    await removeLeftovers(p);
    const current = await currentGeneration(p);
    const present = await generationNumbers(p);
    let doomed: number[];
    if (sel.numbers && sel.numbers.length > 0) {
      for (const n of sel.numbers) {
        if (!present.includes(n)) throw new BeamixError(`profile ${p.path} has no generation ${n}`);
        if (n === current) throw new BeamixError(`generation ${n} is the current generation of ${p.path}: switch to another one first`);
      }
      doomed = [...new Set(sel.numbers)].sort((a, b) => a - b);
    } else {
      doomed = present.filter((n) => n !== current);
      if (sel.olderThanMs !== undefined) {
        const limit = (sel.now ?? Date.now()) - sel.olderThanMs;
        const old: number[] = [];
        for (const n of doomed) if (Date.parse((await readManifest(generationPath(p, n))).created) < limit) old.push(n);
        doomed = old;
      }
    }
    for (const n of doomed) {
      const manifest = await readManifest(generationPath(p, n));
      if (manifest.store !== store.dir) throw new BeamixError(`generation ${n} of ${p.path} links to the store ${manifest.store}, not ${store.dir}`);
      // Gone from view first, then unrooted: a crash in between leaves roots, never a visible
      // generation whose items may be collected.
      const trash = temporaryPath(p, `${n}-deleted`);
      await rename(generationPath(p, n), trash);
      await removeGenerationRoots(store, p, n);
      await rm(trash, { recursive: true, force: true });
    }
    // Roots left by a crash (a generation that never appeared, or one half deleted).
    const remaining = new Set(await generationNumbers(p));
    for (const n of await rootedGenerations(store, p)) if (!remaining.has(n)) await removeGenerationRoots(store, p, n);
    return doomed;
  });
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

// `30d`, `12h`, `2w` (s, m, h, d, w) for --older-than.
export function parseDuration(text: string): number {
  const m = /^(\d+)([smhdw])$/.exec(text.trim());
  if (!m) throw new BeamixError(`${JSON.stringify(text)} is not a duration: write a number and a unit, e.g. 30d, 12h, 2w (units s, m, h, d, w)`);
  return Number(m[1]) * UNITS[m[2]];
}
