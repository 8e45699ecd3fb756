// Permissions of store trees: read-only once registered, and made writable again only to delete them
// (a non-root user cannot remove entries of a 0555 directory, nor move such a directory to another
// parent, since that rewrites its "..").
//
// The walks use blocking calls: they only read and change metadata, one quick system call per
// entry, where a thread-pool round trip per entry made them 10-30x slower (a 183-file item: 1 ms
// against 11-34 ms).
import { chmodSync, lstatSync, readdirSync, type Stats } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === "ENOENT";

// Files become 0444 (0555 if owner-executable), directories 0555. Symlinks have no mode of their own.
// With skipRoot the top directory stays writable so it can still be renamed into place.
export async function makeReadOnly(path: string, options: { skipRoot?: boolean } = {}): Promise<void> {
  walkReadOnly(path, options.skipRoot ?? false);
}

function walkReadOnly(path: string, skip: boolean): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) {
    // Make sure we may list it (a build could leave a 0300 directory behind).
    if ((st.mode & 0o700) !== 0o700) chmodSync(path, 0o755);
    for (const name of readdirSync(path)) walkReadOnly(join(path, name), false);
    if (!skip) chmodSync(path, 0o555);
  } else {
    chmodSync(path, st.mode & 0o100 ? 0o555 : 0o444);
  }
}

// lstat, or undefined when nothing is there.
function lstatOrMissing(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

// Gives every directory of the tree 0755 so its entries can be removed. Files keep their modes.
export async function makeWritable(path: string): Promise<void> {
  walkWritable(path);
}

function walkWritable(path: string): void {
  if (!lstatOrMissing(path)?.isDirectory()) return;
  chmodSync(path, 0o755);
  for (const name of readdirSync(path)) walkWritable(join(path, name));
}

export async function removeTree(path: string): Promise<void> {
  await makeWritable(path);
  await rm(path, { recursive: true, force: true });
}

// Apparent size of a tree: bytes of file contents and symlink targets.
export async function treeBytes(path: string): Promise<number> {
  return walkBytes(path);
}

function walkBytes(path: string): number {
  const st = lstatOrMissing(path);
  if (st === undefined) return 0;
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of readdirSync(path)) total += walkBytes(join(path, name));
  return total;
}
