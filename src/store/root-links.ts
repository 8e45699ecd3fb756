// Where a store keeps its GC roots, and how one is put there: a symlink under
// <store>/.beamix/roots, made under a temporary name in <store>/.beamix/tmp and renamed into
// place, so that a root of that name is replaced atomically and never seen half-made. Apart from
// roots.ts so that `beamix deps` filling a fresh checkout (src/deps/checkout-restore.ts) can add
// its project's roots without opening the store's database.
import { randomBytes } from "node:crypto";
import { renameSync, symlinkSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { formatId, selfId } from "./process-id.ts";

export const rootsDirOf = (storeDir: string): string => join(storeDir, ".beamix", "roots");
export const tmpDirOf = (storeDir: string): string => join(storeDir, ".beamix", "tmp");

// A name in the store's temporary directory owned by this process (recovery removes those of
// dead processes).
export const tmpNameIn = (storeDir: string, kind: string): string => join(tmpDirOf(storeDir), `${kind}-${formatId(selfId())}-${randomBytes(6).toString("hex")}`);

// Makes (or replaces) the root `name` leading to `target`; returns the link's path.
export function placeRootLink(storeDir: string, name: string, target: string): string {
  const link = join(rootsDirOf(storeDir), name);
  const tmp = tmpNameIn(storeDir, "link");
  symlinkSync(target, tmp);
  try {
    renameSync(tmp, link);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw err;
  }
  return link;
}
