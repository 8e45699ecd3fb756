// Permissions of store trees: read-only once registered, and made writable again only to delete them
// (a non-root user cannot remove entries of a 0555 directory, nor move such a directory to another
// parent, since that rewrites its "..").
import { chmod, lstat, readdir, rm } from "node:fs/promises";
import { join } from "node:path";

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === "ENOENT";

// Files become 0444 (0555 if owner-executable), directories 0555. Symlinks have no mode of their own.
// With skipRoot the top directory stays writable so it can still be renamed into place.
export async function makeReadOnly(path: string, options: { skipRoot?: boolean } = {}): Promise<void> {
  await walkReadOnly(path, options.skipRoot ?? false);
}

async function walkReadOnly(path: string, skip: boolean): Promise<void> {
  const st = await lstat(path);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) {
    // Make sure we may list it (a build could leave a 0300 directory behind).
    if ((st.mode & 0o700) !== 0o700) await chmod(path, 0o755);
    for (const name of await readdir(path)) await walkReadOnly(join(path, name), false);
    if (!skip) await chmod(path, 0o555);
  } else {
    await chmod(path, st.mode & 0o100 ? 0o555 : 0o444);
  }
}

// Gives every directory of the tree 0755 so its entries can be removed. Files keep their modes.
export async function makeWritable(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if (isMissing(err)) return;
    throw err;
  }
  if (!st.isDirectory()) return;
  await chmod(path, 0o755);
  for (const name of await readdir(path)) await makeWritable(join(path, name));
}

export async function removeTree(path: string): Promise<void> {
  await makeWritable(path);
  await rm(path, { recursive: true, force: true });
}

// Apparent size of a tree: bytes of file contents and symlink targets.
export async function treeBytes(path: string): Promise<number> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if (isMissing(err)) return 0;
    throw err;
  }
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of await readdir(path)) total += await treeBytes(join(path, name));
  return total;
}
