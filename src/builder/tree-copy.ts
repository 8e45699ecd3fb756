// The two copies the host makes: the package source into the build directory, and the
// installed output out of it. The second reads a tree a build wrote, so it trusts nothing in
// it: it never follows a symlink (a build could point one at a host file) and accepts only
// directories and regular files.
import { constants as fsc } from "node:fs";
import { chmod, copyFile, lstat, mkdir, open, readdir, readlink, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BeamixError } from "../errors.ts";

// Copies a source tree: symlinks as they are (inside the sandbox they resolve to what the build
// sees), modes plus owner write (a store copy is read-only), timestamps kept (make compares them;
// a Hex tarball gives every file the same time). Sockets, FIFOs and devices are refused.
export async function copySourceTree(from: string, to: string): Promise<void> {
  const st = await lstat(from);
  if (!st.isDirectory()) throw new BeamixError(`package source ${from} is not a directory`);
  await copySourceEntry(from, to, "");
}

async function copySourceEntry(from: string, to: string, rel: string): Promise<void> {
  const st = await lstat(from);
  if (st.isSymbolicLink()) {
    await symlink(await readlink(from), to);
    return;
  }
  if (st.isDirectory()) {
    await mkdir(to);
    for (const name of (await readdir(from)).sort()) await copySourceEntry(join(from, name), join(to, name), rel ? `${rel}/${name}` : name);
    await chmod(to, (st.mode & 0o7777) | 0o700);
  } else if (st.isFile()) {
    await copyFile(from, to);
    await chmod(to, (st.mode & 0o777) | 0o600);
  } else {
    throw new BeamixError(`package source: ${rel} is neither a file, a directory nor a symlink`);
  }
  await utimes(to, st.atime, st.mtime);
}

// Copies an installed tree into `to` (an existing directory): directories 0755, files 0644 or
// 0755 when any execute bit is set. A symlink or special file fails the copy, naming it.
export async function collectOutputTree(from: string, to: string): Promise<{ files: number; bytes: number }> {
  const st = await lstat(from).catch(() => null);
  if (!st || st.isSymbolicLink() || !st.isDirectory()) throw new BeamixError(`the install phase left no directory at ${from}`);
  const totals = { files: 0, bytes: 0 };
  await collectDir(from, to, "", totals);
  return totals;
}

async function collectDir(from: string, to: string, rel: string, totals: { files: number; bytes: number }): Promise<void> {
  for (const name of (await readdir(from)).sort()) {
    const src = join(from, name);
    const dest = join(to, name);
    const r = rel ? `${rel}/${name}` : name;
    const st = await lstat(src);
    if (st.isSymbolicLink()) throw new BeamixError(`installed output ${r} is a symbolic link; outputs must be plain files`);
    if (st.isDirectory()) {
      await mkdir(dest, { mode: 0o755 });
      await chmod(dest, 0o755);
      await collectDir(src, dest, r, totals);
    } else if (st.isFile()) {
      // O_NOFOLLOW: the entry was a file when looked at; refuse it if it has become a link.
      const fh = await open(src, fsc.O_RDONLY | fsc.O_NOFOLLOW);
      let data: Buffer;
      try {
        data = await fh.readFile();
      } finally {
        await fh.close();
      }
      const mode = st.mode & 0o111 ? 0o755 : 0o644;
      await writeFile(dest, data, { flag: "wx", mode });
      await chmod(dest, mode);
      totals.files++;
      totals.bytes += data.length;
    } else {
      throw new BeamixError(`installed output ${r} is neither a file nor a directory`);
    }
  }
}
