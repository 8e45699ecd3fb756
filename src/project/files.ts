// Which files of a directory go into a package, in a fixed order.
//
// Hex (mix hex.build) takes each pattern of `files` in turn, expands it with Path.wildcard
// (matches sorted), and lists every match followed by its contents, depth-first; it walks a
// directory in readdir order, so its order depends on the filesystem. We walk in name order
// (by code point) instead, so the result depends only on the names. Directories appear in the
// list (Hex's metadata `files` has them); see packageEntries for what goes into the tarball.
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { BeamixError } from "../errors.ts";

export interface PackageFile {
  path: string; // relative, "/"-separated
  // The mode the tarball records: permission bits of the file on disk with the file type,
  // 0o100000 for a regular file (0o100644, 0o100755). An empty directory (Hex gives those an
  // entry of their own) has 0o040000 | its permissions.
  mode: number;
}

export interface GlobOptions {
  // Whether `*`, `?` and `**` match names that start with a dot. Elixir's Path.wildcard does
  // not (Hex); Erlang's filelib:wildcard does (rebar3_hex).
  matchDot: boolean;
}

const byName = (a: string, b: string): number => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

async function kind(path: string): Promise<"dir" | "file" | "symlink" | "other" | null> {
  try {
    const st = await lstat(path);
    return st.isDirectory() ? "dir" : st.isFile() ? "file" : st.isSymbolicLink() ? "symlink" : "other";
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ENOTDIR") return null;
    throw e;
  }
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function names(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort(byName);
  } catch {
    return [];
  }
}

// `{a,b}` alternatives are expanded first, as filelib does.
function expandBraces(pattern: string): string[] {
  const open = pattern.indexOf("{");
  if (open < 0) return [pattern];
  let depth = 0;
  const commas: number[] = [];
  for (let i = open; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "{") depth++;
    else if (c === "}" && --depth === 0) {
      const parts: string[] = [];
      let from = open + 1;
      for (const k of commas) {
        parts.push(pattern.slice(from, k));
        from = k + 1;
      }
      parts.push(pattern.slice(from, i));
      const rest = pattern.slice(i + 1);
      return parts.flatMap((p) => expandBraces(pattern.slice(0, open) + p + rest));
    } else if (c === "," && depth === 1) commas.push(i);
  }
  return [pattern]; // unbalanced: taken literally
}

const hasWildcard = (segment: string): boolean => /[*?[]/.test(segment);

function segmentRegex(segment: string): RegExp {
  let re = "";
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const close = segment.indexOf("]", i + 1);
      if (close < 0) re += "\\[";
      else {
        const body = segment.slice(i + 1, close).replace(/\\/g, "\\\\").replace(/^\^/, "\\^");
        re += `[${body}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${re}$`, "su");
}

// Matches of one pattern, relative to dir, sorted by path (filelib:wildcard sorts its result).
export async function glob(dir: string, pattern: string, opts: GlobOptions): Promise<string[]> {
  const found = new Set<string>();
  for (const alt of expandBraces(pattern)) {
    const segments = alt.split("/").filter((s) => s !== "" && s !== ".");
    if (alt.startsWith("/") || segments.includes("..")) {
      throw new BeamixError(`package file pattern ${JSON.stringify(pattern)} points outside the package directory`);
    }
    await matchFrom(dir, "", segments, opts, found);
  }
  return [...found].sort(byName);
}

async function matchFrom(dir: string, base: string, segs: string[], opts: GlobOptions, out: Set<string>): Promise<void> {
  if (segs.length === 0) {
    if (base !== "" && (await kind(join(dir, base))) !== null) out.add(base);
    return;
  }
  const [seg, ...rest] = segs;
  const here = base === "" ? dir : join(dir, base);
  const child = (name: string): string => (base === "" ? name : `${base}/${name}`);
  const visible = (name: string): boolean => opts.matchDot || !name.startsWith(".");
  if (seg === "**") {
    // Zero or more directory levels.
    await matchFrom(dir, base, rest, opts, out);
    for (const name of await names(here)) {
      if (!visible(name)) continue;
      if (rest.length === 0) out.add(child(name));
      if (await isDir(join(here, name))) await matchFrom(dir, child(name), segs, opts, out);
    }
    return;
  }
  if (!hasWildcard(seg)) {
    if (rest.length === 0 || (await isDir(join(here, seg)))) await matchFrom(dir, child(seg), rest, opts, out);
    return;
  }
  const re = segmentRegex(seg);
  for (const name of await names(here)) {
    if (!visible(name) || !re.test(name)) continue;
    if (rest.length === 0) out.add(child(name));
    else if (await isDir(join(here, name))) await matchFrom(dir, child(name), rest, opts, out);
  }
}

// A path followed by everything under it, depth-first in name order (what Hex's dir_files
// does, but sorted). Directories are not followed through symlinks. Dot files inside a
// directory are included, as File.ls!/1 lists them.
export async function walk(dir: string, rel: string): Promise<string[]> {
  const out = [rel];
  if ((await kind(join(dir, rel))) === "dir") {
    for (const name of await names(join(dir, rel))) out.push(...(await walk(dir, `${rel}/${name}`)));
  }
  return out;
}

// Hex's expansion of `files`: each pattern's matches, each walked; first occurrence kept.
export async function expandFiles(dir: string, patterns: string[], opts: GlobOptions): Promise<string[]> {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const pattern of patterns) {
    for (const match of await glob(dir, pattern, opts)) {
      for (const p of await walk(dir, match)) {
        if (!seen.has(p)) {
          seen.add(p);
          out.push(p);
        }
      }
    }
  }
  return out;
}

// The tarball members for a `files` list, in its order: regular files, and directories that
// are empty on disk (Hex gives only those an entry). Symlinks and special files are refused:
// beamix does not pack them.
export async function packageEntries(dir: string, paths: string[]): Promise<PackageFile[]> {
  const out: PackageFile[] = [];
  for (const path of paths) {
    const full = join(dir, path);
    const st = await lstat(full).catch(() => null);
    if (st === null) throw new BeamixError(`${full}: no such file`);
    if (st.isFile()) out.push({ path, mode: 0o100000 | (st.mode & 0o777) });
    else if (st.isDirectory()) {
      if ((await readdir(full)).length === 0) out.push({ path, mode: 0o040000 | (st.mode & 0o777) });
    } else if (st.isSymbolicLink()) {
      throw new BeamixError(`${full} is a symbolic link: beamix does not put symlinks into packages`);
    } else {
      throw new BeamixError(`${full} is not a regular file or directory`);
    }
  }
  return out;
}
