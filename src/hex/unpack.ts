// Verifying and unpacking a Hex package tarball into a fresh directory, safely.
//
// Everything is checked before the first byte is written: both checksums, the gzip and
// unpacked-size limits (enforced while inflating), and every entry of contents.tar.gz.
// Refused: absolute paths, ".." components, duplicate entries, device/fifo/other entry types,
// non-UTF-8 names, entries below a symlink or a file, and links that lead outside the
// package. Symlinks are allowed when they resolve inside the package: refusing them all would
// refuse packages that ship a link (e.g. under priv/), and nothing is ever written through
// one. The check follows the archive's own symlinks the way the kernel would, so a chain of
// links that each look harmless cannot climb out either. Hard links are allowed only to an
// earlier regular file of the archive and are written as copies. Only the executable bit of
// a mode is kept (0755 or 0644); mtimes are not restored.
//
// Extraction goes to a temporary directory beside the destination, renamed into place at
// the end; on any failure it is removed, so the destination and its parent end as they were.
import { chmod, lstat, mkdir, mkdtemp, readdir, rename, rm, rmdir, symlink, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { BeamixError } from "../errors.ts";
import { gunzip } from "./gzip.ts";
import type { HexMetadata } from "./metadata.ts";
import { MAX_UNPACKED_BYTES, readTarball, type ReadTarballOptions } from "./tarball.ts";
import { readTar, type TarEntry } from "./tar.ts";

export type ContentEntry =
  | { path: string; type: "file"; mode: 0o644 | 0o755; data: Buffer }
  | { path: string; type: "directory" }
  | { path: string; type: "symlink"; target: string };

export interface ReadContentsOptions {
  label?: string; // names the archive in error messages
  maxUnpackedBytes?: number; // default 128 MiB
}

// Symlink hops allowed while resolving one path, as Linux's MAXSYMLINKS.
const MAX_SYMLINK_HOPS = 40;
// Path components all symlinks of an archive may take to resolve: 40 hops through long targets,
// for each of many links, could otherwise keep the check busy for hours.
export const MAX_SYMLINK_STEPS = 1 << 22;

const TYPE_NAMES: Record<string, string> = {
  "3": "character device",
  "4": "block device",
  "6": "FIFO",
  "7": "contiguous file",
};

// Inflates contents.tar.gz under the size limit and checks every entry; returns the entries
// to create, in archive order, with normalized paths ("a/b", no "." or trailing "/").
export function readContents(contentsGz: Uint8Array, opts: ReadContentsOptions = {}): ContentEntry[] {
  const label = opts.label ?? "contents.tar.gz";
  const limit = opts.maxUnpackedBytes ?? MAX_UNPACKED_BYTES;
  const fail = (what: string): never => {
    throw new BeamixError(`${label}: ${what}`);
  };
  const tar = gunzip(contentsGz, limit, label);
  const entries = readTar(tar, { label });

  const out: ContentEntry[] = [];
  const byPath = new Map<string, ContentEntry>();
  const symlinks = new Map<string, string>();
  let total = 0;
  const count = (n: number, name: string) => {
    total += n;
    if (total > limit) fail(`entry ${name}: unpacked contents exceed the limit of ${limit} bytes`);
  };

  for (const e of entries) {
    const shown = JSON.stringify(e.name);
    if (e.type === "other") {
      fail(`entry ${shown}: unsupported entry type ${TYPE_NAMES[e.typeflag] ?? JSON.stringify(e.typeflag)}`);
    }
    const path = normalize(e.name, `entry ${shown}`, fail);
    if (path === "") {
      if (e.type === "directory") continue; // "./": the package root itself
      fail(`entry ${shown}: empty path`);
    }
    if (byPath.has(path)) fail(`entry ${shown}: duplicate entry for ${path}`);
    let entry: ContentEntry;
    if (e.type === "file") {
      count(e.data.length, shown);
      entry = { path, type: "file", mode: executable(e) ? 0o755 : 0o644, data: e.data };
    } else if (e.type === "directory") {
      entry = { path, type: "directory" };
    } else if (e.type === "symlink") {
      if (e.linkname === "") fail(`symlink ${shown}: empty target`);
      if (e.linkname.startsWith("/")) fail(`symlink ${shown} -> ${JSON.stringify(e.linkname)}: absolute target`);
      entry = { path, type: "symlink", target: e.linkname };
      symlinks.set(path, e.linkname);
    } else {
      // A hard link's name is relative to the archive root, not to the link.
      const target = normalize(e.linkname, `hard link ${shown} -> ${JSON.stringify(e.linkname)}`, fail);
      const original = byPath.get(target);
      if (!original || original.type !== "file") {
        fail(`hard link ${shown} -> ${JSON.stringify(e.linkname)}: target is not an earlier regular file of the archive`);
      }
      const file = original as Extract<ContentEntry, { type: "file" }>;
      count(file.data.length, shown);
      entry = { path, type: "file", mode: file.mode, data: file.data };
    }
    byPath.set(path, entry);
    out.push(entry);
  }

  // Nothing may be written through a symlink or below a file. Parents are found in a tree of
  // path components: a name of n components costs n steps, not n joins of up to n parts.
  const tree = pathTree(out);
  for (const entry of out) {
    let node: PathNode | undefined = tree;
    const parts = entry.path.split("/");
    for (let i = 0; i < parts.length - 1; i++) {
      node = node!.children.get(parts[i])!;
      const parent = node.entry;
      if (parent && parent.type !== "directory") {
        fail(`entry ${JSON.stringify(entry.path)}: its parent ${parent.path} is a ${parent.type === "file" ? "file" : "symlink"}`);
      }
    }
  }
  const budget = { steps: MAX_SYMLINK_STEPS };
  for (const [path, target] of symlinks) {
    const problem = resolveInside(path, tree, budget);
    if (problem) fail(`symlink ${JSON.stringify(path)} -> ${JSON.stringify(target)}: ${problem}`);
  }
  return out;
}

// The entries' paths as a tree of components.
interface PathNode {
  children: Map<string, PathNode>;
  entry?: ContentEntry;
}

function pathTree(entries: ContentEntry[]): PathNode {
  const root: PathNode = { children: new Map() };
  for (const e of entries) {
    let node = root;
    for (const part of e.path.split("/")) {
      let child = node.children.get(part);
      if (!child) node.children.set(part, (child = { children: new Map() }));
      node = child;
    }
    node.entry = e;
  }
  return root;
}

const executable = (e: TarEntry): boolean => (e.mode & 0o111) !== 0;

// "a/./b/" → "a/b"; refuses absolute paths and "..".
function normalize(name: string, what: string, fail: (what: string) => never): string {
  if (name.startsWith("/")) fail(`${what}: absolute path`);
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) fail(`${what}: path contains ".."`);
  return parts.join("/");
}

// Follows a symlink the way the kernel would inside the unpacked tree, using the archive's
// own symlinks (the destination starts empty, so there is nothing else). Returns why it
// leaves the tree, or undefined when it stays inside (a dangling link inside is fine).
// The resolved path is kept as the tree nodes it passes (undefined once off the archive's
// paths), and the components still to walk as a stack, so each step is constant work.
function resolveInside(path: string, tree: PathNode, budget: { steps: number }): string | undefined {
  const resolved: (PathNode | undefined)[] = [];
  const pending = path.split("/").reverse();
  let hops = 0;
  while (pending.length > 0) {
    if (--budget.steps < 0) return `too many symbolic link steps to check (over ${MAX_SYMLINK_STEPS} in the archive)`;
    const part = pending.pop()!;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (resolved.length === 0) return "points outside the package";
      resolved.pop();
      continue;
    }
    const parent = resolved.length === 0 ? tree : resolved[resolved.length - 1];
    const node = parent?.children.get(part);
    const link = node?.entry?.type === "symlink" ? node.entry : undefined;
    if (link === undefined) {
      resolved.push(node);
      continue;
    }
    if (++hops > MAX_SYMLINK_HOPS) return "too many levels of symbolic links";
    if (link.target.startsWith("/")) return "points outside the package";
    // The target is relative to the link's directory: its components come next.
    const parts = link.target.split("/");
    for (let k = parts.length - 1; k >= 0; k--) pending.push(parts[k]);
  }
  return undefined;
}

export interface UnpackOptions extends ReadTarballOptions {
  maxUnpackedBytes?: number; // default 128 MiB
}

export interface Unpacked {
  metadata: HexMetadata;
  innerChecksum: string;
  outerChecksum: string;
  files: string[]; // paths created (files, directories, symlinks), in archive order
}

// Verifies `buf` and unpacks contents.tar.gz into destDir, which must not exist or be an
// empty directory. Returns the metadata and checksums.
export async function unpackTarball(buf: Uint8Array, destDir: string, opts: UnpackOptions = {}): Promise<Unpacked> {
  const label = opts.file ?? "package tarball";
  const tarball = readTarball(buf, opts);
  const entries = readContents(tarball.contentsGz, {
    label: `${label}: contents.tar.gz`,
    maxUnpackedBytes: opts.maxUnpackedBytes,
  });

  const dest = resolve(destDir);
  await checkDestination(dest);
  const parent = dirname(dest);
  const createdParent = await mkdir(parent, { recursive: true });
  let tmp: string | undefined;
  try {
    tmp = await mkdtemp(join(parent, `.${basename(dest)}.unpack-`));
    await writeEntries(tmp, entries);
    await rename(tmp, dest).catch((err: NodeJS.ErrnoException) => {
      // rename replaces dest only while it is an empty directory
      if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST" && err.code !== "ENOTDIR") throw err;
      throw new BeamixError(`${dest}: something else was written there meanwhile; not unpacking ${label} over it`);
    });
    tmp = undefined;
  } catch (err) {
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
    if (createdParent !== undefined) await removeEmptyDirs(parent, createdParent);
    if (err instanceof BeamixError) throw err;
    throw new BeamixError(`${label}: cannot unpack into ${dest}: ${(err as Error).message}`, { cause: err });
  }
  return {
    metadata: tarball.metadata,
    innerChecksum: tarball.innerChecksum,
    outerChecksum: tarball.outerChecksum,
    files: entries.map((e) => e.path),
  };
}

async function checkDestination(dest: string): Promise<void> {
  let st;
  try {
    st = await lstat(dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  if (!st.isDirectory()) throw new BeamixError(`${dest}: exists and is not a directory`);
  if ((await readdir(dest)).length > 0) throw new BeamixError(`${dest}: directory is not empty`);
}

async function writeEntries(root: string, entries: ContentEntry[]): Promise<void> {
  const dirs = new Set<string>([root]);
  const ensureDir = async (dir: string) => {
    if (dirs.has(dir)) return;
    await ensureDir(dirname(dir));
    await mkdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
    });
    dirs.add(dir);
  };
  for (const e of entries) {
    const target = join(root, e.path);
    if (e.type === "directory") {
      await ensureDir(target);
      continue;
    }
    await ensureDir(dirname(target));
    if (e.type === "symlink") {
      await symlink(e.target, target);
    } else {
      // "wx": never write through something already there.
      await writeFile(target, e.data, { flag: "wx", mode: e.mode });
      await chmod(target, e.mode); // the umask may have cleared bits
    }
  }
  // mkdtemp makes 0700 and mkdir is subject to the umask: give every directory 0755.
  for (const dir of dirs) await chmod(dir, 0o755);
}

// Removes `from` and its parents up to and including `upTo`, while they are empty.
async function removeEmptyDirs(from: string, upTo: string): Promise<void> {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      await rmdir(dir);
    } catch {
      return;
    }
    if (dir === upTo || dirname(dir) === dir) return;
  }
}
