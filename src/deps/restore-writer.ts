// The writes of a fresh checkout's restore (checkout-restore.ts): each tree of a record built
// beside its place from its entries, then renamed into it, exactly as the full path writes it
// (materialize.ts FreshTrees). All or nothing: a tree that cannot be written removes every tree
// written before it.
//
// One thread, blocking calls: measured on two cores, a worker thread writing half the trees (or
// the thread pool copying _build's files while deps/ is written) finished no sooner, its own start
// and the contention of two threads of one process creating files costing what it saved.
import { chmodSync, constants, copyFileSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { tmpSibling } from "./dir-tree.ts";

// One entry of a tree, in the order a walk meets them (a directory before what it holds).
export type Entry =
  | [kind: "d", path: string, mode: number]
  | [kind: "f", path: string, offset: number, length: number, mode: number] // bytes in the tree's pack
  | [kind: "s", path: string, from: string, mode: number] // a store item's file, copied with that mode or hard-linked
  | [kind: "l", path: string, target: string];

export interface TreeJob {
  dest: string; // where the tree goes (it does not exist)
  mode: number; // of its root
  pack: string | null; // the file holding the bytes of its "f" entries
  packSize: number;
  entries: Entry[];
  late: number; // entries from this index on are written after the others
  // deps/APP as Hex unpacks it: its own files and directories with their modes exact (whatever
  // the umask) and one whole-second mtime, given before the late entries (the markers).
  hex: boolean;
}

// Writes every tree, in order; returns their places, or undefined (nothing left behind).
export function writeTrees(trees: readonly TreeJob[], link: "copy" | "hardlink"): string[] | undefined {
  const done: string[] = [];
  try {
    // Hex's unpacking gives every file and directory of a package one whole-second mtime.
    const now = Math.floor(Date.now() / 1000);
    const umask = process.umask();
    for (const t of trees) {
      const pack = t.pack ? readFileSync(t.pack) : Buffer.alloc(0);
      if (t.pack && pack.length !== t.packSize) throw new Error(`${t.pack}: not the size recorded`);
      mkdirSync(dirname(t.dest), { recursive: true });
      const fresh = tmpSibling(t.dest, "new");
      done.push(fresh);
      mkdirSync(fresh, { mode: t.mode });
      if (t.hex && (t.mode & ~umask) !== t.mode) chmodSync(fresh, t.mode);
      const early = t.entries.slice(0, t.late);
      for (const e of early) putEntry(fresh, e, pack, { umask, link, exact: t.hex });
      if (t.hex) for (const e of early) if (e[0] !== "l") utimesSync(join(fresh, e[1]), now, now);
      for (const e of t.entries.slice(t.late)) putEntry(fresh, e, pack, { umask, link, exact: false });
      renameSync(fresh, t.dest);
      done[done.length - 1] = t.dest;
    }
    return done;
  } catch {
    removeAll(done);
    return undefined;
  }
}

// Modes as the full path leaves them (materialize.ts FreshTrees): `exact` (a package's own files and
// directories in deps/, as Hex's unpacking sets them) whatever the umask, otherwise under it; a
// copy from the store always exactly.
function putEntry(root: string, e: Entry, pack: Buffer, o: { umask: number; link: "copy" | "hardlink"; exact: boolean }): void {
  const at = join(root, e[1]);
  const { umask, link } = o;
  switch (e[0]) {
    case "d":
      mkdirSync(at, { mode: e[2] });
      if (o.exact && (e[2] & ~umask) !== e[2]) chmodSync(at, e[2]);
      return;
    case "l":
      symlinkSync(e[2], at);
      return;
    case "f":
      writeFileSync(at, pack.subarray(e[2], e[2] + e[3]), { mode: e[4], flag: "wx" });
      if (o.exact && (e[4] & ~umask) !== e[4]) chmodSync(at, e[4]);
      return;
    case "s":
      if (link === "hardlink") linkSync(e[2], at);
      else {
        copyFileSync(e[2], at, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
        chmodSync(at, e[3]); // a writable copy, as the full path leaves it
      }
  }
}

export function removeAll(paths: readonly string[]): void {
  for (const p of paths) rmSync(p, { recursive: true, force: true });
}
