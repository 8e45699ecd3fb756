// A directory as it should be, and the means to make it so without a half-written state ever
// being visible: compare a directory with what it should hold, write the new tree beside it,
// swap it in, and clean up what an interrupted run left. `beamix deps` keeps deps/APP and
// _build/ENV/lib/APP this way (materialize.ts).
import { constants } from "node:fs";
import { chmod, copyFile, link, lstat, mkdir, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { Semaphore } from "../util/semaphore.ts";

const MAX_REASONS = 3;
const FILES_AT_ONCE = 8; // within one tree

export async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined)) !== undefined;
}

// What a directory should hold: paths relative to its root. Directories are implied.
export type Want =
  | { type: "file"; data: Buffer; exec: boolean; mode?: number } // mode: a package's own file, as its tarball has it
  | { type: "copy"; from: string; exec: boolean } // a file of a store item
  | { type: "symlink"; target: string };

export type Tree = Map<string, Want>;

const LEFTOVER = /^\..+\.beamix-(new|old)-[0-9a-f]{8}$/;

// Trees an interrupted run left beside the directories it was replacing.
export async function removeLeftovers(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) if (LEFTOVER.test(name)) await rm(join(dir, name), { recursive: true, force: true });
}

// Differences between a directory and what it should hold. `exact`: anything else in it is a
// difference too. `builtInPlace`: paths a build may rewrite, which need only exist.
export async function diffTree(root: string, want: Tree, opts: { exact: boolean; link?: "copy" | "hardlink"; builtInPlace?: (path: string) => boolean }): Promise<string[]> {
  const diffs: string[] = [];
  for (const [path, w] of want) {
    if (diffs.length >= MAX_REASONS) return diffs;
    if (opts.builtInPlace?.(path)) {
      if (!(await exists(join(root, path)))) diffs.push(`${path}: missing`);
      continue;
    }
    const at = join(root, path);
    const st = await lstat(at).catch(() => undefined);
    if (!st) {
      diffs.push(`${path}: missing`);
      continue;
    }
    if (w.type === "symlink") {
      if (!st.isSymbolicLink() || (await readlink(at)) !== w.target) diffs.push(`${path}: not a link to ${w.target}`);
      continue;
    }
    if (!st.isFile()) {
      diffs.push(`${path}: not a file`);
      continue;
    }
    const data = w.type === "file" ? w.data : await readFile(w.from);
    if (st.size !== data.length || !(await readFile(at)).equals(data)) diffs.push(`${path}: content differs`);
    else if (((st.mode & 0o100) !== 0) !== w.exec) diffs.push(`${path}: mode differs`);
    else if (w.type === "copy") {
      const item = await stat(w.from);
      const linked = item.ino === st.ino && item.dev === st.dev;
      if (linked !== (opts.link === "hardlink")) diffs.push(`${path}: ${linked ? "a hard link to the store, not a copy" : "a copy, not a hard link to the store"}`);
    }
  }
  if (opts.exact) {
    const wantDirs = new Set(impliedDirs(want.keys()));
    const walk = async (relDir: string) => {
      for (const name of await readdir(join(root, relDir))) {
        const path = relDir === "" ? name : `${relDir}/${name}`;
        if (want.has(path)) continue;
        const st = await lstat(join(root, path));
        if (st.isDirectory() && wantDirs.has(path)) await walk(path);
        else if (diffs.length < MAX_REASONS) diffs.push(`${path}: not expected here`);
      }
    };
    const st = await lstat(root).catch(() => undefined);
    if (st?.isDirectory()) await walk("");
    else diffs.push("not a directory");
  }
  return diffs;
}

// Every directory holding one of the relative paths, sorted (a directory before what it holds).
export function impliedDirs(paths: Iterable<string>): string[] {
  const dirs = new Set<string>();
  for (const path of paths) for (let d = dirname(path); d !== "."; d = dirname(d)) dirs.add(d);
  return [...dirs].sort();
}

export const tmpSibling = (path: string, what: string) => join(dirname(path), `.${basename(path)}.beamix-${what}-${randomBytes(4).toString("hex")}`);

// Puts `fresh` at `dest`, replacing whatever is there; the old tree is removed afterwards.
export async function replaceDir(fresh: string, dest: string): Promise<void> {
  const old = tmpSibling(dest, "old");
  const had = await rename(dest, old).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return false;
      throw err;
    },
  );
  await rename(fresh, dest);
  if (had) await rm(old, { recursive: true, force: true });
}

// Writes the tree `dest` should hold beside it; returns it, to be renamed into place
// (replaceDir). Files of store items are copied (reflinked where the file system can) or
// hard-linked; `last` is written after every other file, for a marker whose mtime a reader
// compares with the rest.
export async function writeTreeBeside(dest: string, want: Tree, how: "copy" | "hardlink", last?: string): Promise<string> {
  await mkdir(dirname(dest), { recursive: true });
  const fresh = tmpSibling(dest, "new");
  try {
    await mkdir(fresh, { mode: 0o755 });
    const made = new Set<string>([fresh]);
    for (const path of want.keys()) {
      const at = join(fresh, path);
      if (!made.has(dirname(at))) {
        await mkdir(dirname(at), { recursive: true, mode: 0o755 });
        for (let d = dirname(at); d.length > fresh.length; d = dirname(d)) made.add(d);
      }
    }
    const put = async (path: string, w: Want) => {
      const at = join(fresh, path);
      if (w.type === "symlink") await symlink(w.target, at);
      else if (w.type === "file") await writeFile(at, w.data, { mode: w.exec ? 0o755 : 0o644 });
      else if (how === "hardlink") await link(w.from, at);
      else {
        await copyFile(w.from, at, constants.COPYFILE_FICLONE);
        await chmod(at, w.exec ? 0o755 : 0o644); // a writable copy, as Mix would have written it
      }
    };
    // Several files at once: creating files is the slow part.
    const files = new Semaphore(FILES_AT_ONCE);
    await Promise.all([...want].filter(([path]) => path !== last).map(([path, w]) => files.use(() => put(path, w))));
    const lastWant = last === undefined ? undefined : want.get(last);
    if (lastWant) await put(last!, lastWant);
    return fresh;
  } catch (err) {
    await rm(fresh, { recursive: true, force: true });
    throw err;
  }
}
