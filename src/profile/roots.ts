// A profile's hold on the store: every generation roots every item of its closure, with roots named
// `profile-<profile id>-<generation>-<drv hash>`, so deleting a generation removes exactly its own.
// Roots are direct (they name the items), added before the generation is renamed into place: a
// crash can leave roots for a generation that never appeared (it keeps items alive, never lets a
// visible generation lose one); they are cleared when that number is made again or by
// delete-generations.
import { createHash } from "node:crypto";
import type { Store } from "../store/store.ts";
import type { Profile } from "./location.ts";

const prefix = (p: Profile, n: number) => `profile-${p.id}-${n}-`;
const ROOT_RE = /^profile-([0-9a-f]{16})-(\d+)-/;

export async function addGenerationRoots(store: Store, p: Profile, n: number, items: readonly { drvHash: string; path: string }[]): Promise<void> {
  await removeGenerationRoots(store, p, n); // a crashed attempt at generation n may have left some
  for (const item of items) await store.addRoot(`${prefix(p, n)}${item.drvHash}`, item.path);
}

export async function removeGenerationRoots(store: Store, p: Profile, n: number): Promise<number> {
  let removed = 0;
  for (const r of await store.listRoots()) if (r.name.startsWith(prefix(p, n)) && (await store.removeRoot(r.name))) removed++;
  return removed;
}

// Generation numbers of this profile that have roots in the store.
export async function rootedGenerations(store: Store, p: Profile): Promise<Set<number>> {
  const out = new Set<number>();
  for (const r of await store.listRoots()) {
    const m = ROOT_RE.exec(r.name);
    if (m && m[1] === p.id) out.add(Number(m[2]));
  }
  return out;
}

// Changes of one profile exclude each other, across processes: they read the current generation,
// build, and make the next one. The store's locks (a database row whose holder is checked for
// liveness atomically) survive a killed holder, which a lock file cannot do safely; the profile's
// lock is the build lock of a key that is a hash of the profile path, which no derivation has.
export function withProfileLock<T>(store: Store, p: Profile, fn: () => Promise<T>, onWait?: (pid: number) => void): Promise<T> {
  const key = createHash("sha256").update(`beamix profile lock\0${p.path}`).digest("hex");
  return store.withBuildLock(key, () => fn(), onWait ? { onWait } : undefined);
}
