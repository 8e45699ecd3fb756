// Garbage collection: every item no root leads to (following references) is deleted, and item
// directories without a row (see the contract in store-core.ts).
import { join } from "node:path";
import { treeBytes } from "./perms.ts";
import { removeLeftovers } from "./recover.ts";
import { scanRoots } from "./roots.ts";
import type { StoreCore, Trashed } from "./store-core.ts";

export interface FreedItem {
  path: string;
  bytes: number; // apparent size: file contents and symlink targets
  registered: boolean; // false for a directory that had no row
}

export interface GcResult {
  dryRun: boolean;
  roots: string[]; // items kept because a root leads to them
  kept: number; // items kept in all (the closure of the roots)
  freed: FreedItem[];
  bytesFreed: number;
  staleTempRoots: string[]; // temporary roots of dead processes (removed unless dryRun)
}

// Deletes every item not reachable from a root (following references), and item directories that
// have no row. Roots are read and items deleted under the gc lock; the slow removal of the
// trashed trees happens after it is released.
export async function gc(s: StoreCore, options: { dryRun?: boolean } = {}): Promise<GcResult> {
  const dryRun = options.dryRun ?? false;
  if (!dryRun) s.requireWritable("collect garbage");
  return s.guard(dryRun ? "look for garbage" : "collect garbage", () => gcGuarded(s, dryRun));
}

async function gcGuarded(s: StoreCore, dryRun: boolean): Promise<GcResult> {
  const trash: Trashed[] = [];
  const result = await s.underGcLock(async () => {
    const { roots, stale } = await scanRoots(s, !dryRun);
    const rows = new Set(s.db.items().map((r) => r.path));
    const refs = new Map<string, string[]>();
    for (const [from, to] of s.db.edges()) refs.set(from, [...(refs.get(from) ?? []), to]);
    const live = new Set<string>();
    const queue = [...roots].filter((b) => rows.has(b));
    for (const b of queue) live.add(b);
    while (queue.length > 0) {
      for (const next of refs.get(queue.pop()!) ?? []) {
        if (!live.has(next)) {
          live.add(next);
          queue.push(next);
        }
      }
    }
    const dead = [...rows].filter((b) => !live.has(b));
    const unregistered = (await s.itemDirs()).items.filter((b) => !rows.has(b) && !s.db.item(b));
    if (!dryRun) {
      await s.removeItemsLocked(dead, trash);
      for (const b of unregistered) {
        const t = await s.moveToTrash(b);
        if (t) trash.push(t);
      }
    }
    return { dead, unregistered, roots: [...roots].filter((b) => rows.has(b)).sort(), kept: live.size, stale: stale.sort() };
  });
  // Sizes are measured outside the lock: on the trashed copy, or in place for a dry run.
  const where = new Map(trash.map((t) => [t.base, t.path]));
  const freed: FreedItem[] = [];
  for (const [list, registered] of [[result.dead, true], [result.unregistered, false]] as const) {
    for (const b of list) freed.push({ path: join(s.dir, b), bytes: await treeBytes(where.get(b) ?? join(s.dir, b)), registered });
  }
  freed.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  await s.discard(trash);
  if (!dryRun) await removeLeftovers(s);
  return {
    dryRun,
    roots: result.roots.map((b) => join(s.dir, b)),
    kept: result.kept,
    freed,
    bytesFreed: freed.reduce((n, f) => n + f.bytes, 0),
    staleTempRoots: result.stale,
  };
}
