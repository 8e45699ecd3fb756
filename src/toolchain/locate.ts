// Where the toolchain's tools are, and the files whose identity stands for it: found on PATH (or
// named), without starting anything. Apart from detect.ts, which asks the tools about themselves,
// so that callers which only compare (the toolchain cache, the replay of an unchanged
// \`beamix deps\`) load no process or compression code.
// Synchronous on purpose: each is a cached stat of a few files, and dozens of them one await at
// a time through the thread pool cost more than all of them done at once; and `beamix deps` can
// then start erl before its CLI loads, with nothing queued behind the loading (early-erl.ts).
import { accessSync, constants, realpathSync, statSync } from "node:fs";
import { basename, delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { BeamixError } from "../errors.ts";
import type { FileStamp } from "./cache.ts";

export interface DetectOptions {
  erlRoot?: string; // an OTP installation root (the directory with bin/erl and releases/)
  elixirBin?: string; // the elixir executable
  rebar3?: string; // the rebar3 executable
  searchPath?: string; // PATH used to find tools not named above (default: process.env.PATH)
  cacheDir?: string | null; // where toolchains.json lives; null disables the cache
}

export function isExecutableFile(p: string): boolean {
  try {
    const s = statSync(p);
    if (!s.isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, searchPath: string): string | undefined {
  for (const dir of searchPath.split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue; // a relative PATH entry would depend on the cwd
    const p = join(dir, name);
    if (isExecutableFile(p)) return p;
  }
  return undefined;
}

// A promise, for the callers that keep one (the sandbox's tools).
export async function findExecutable(name: string, searchPath: string): Promise<string | undefined> {
  return onPath(name, searchPath);
}

function explicitExecutable(p: string, what: string): string {
  const abs = resolve(p);
  if (!isExecutableFile(abs)) throw new BeamixError(`${what} ${abs} is not an executable file`);
  return realpathSync(abs);
}

// A file's identity (inode, size, mtime, ctime), which changes whenever the file does.
export function fileStamp(path: string): FileStamp {
  try {
    const s = statSync(path, { bigint: true });
    return { path, ino: s.ino.toString(), size: s.size.toString(), mtimeNs: s.mtimeNs.toString(), ctimeNs: s.ctimeNs.toString() };
  } catch {
    return { path, ino: "", size: "", mtimeNs: "", ctimeNs: "" }; // absent: recorded as such
  }
}

export const elixirAppFile = (root: string) => join(root, "lib", "elixir", "ebin", "elixir.app");

// The {vsn, "…"} of an OTP application resource file's text (elixir.app, rebar.app).
export const appFileVersion = (text: string): string | undefined => /\{\s*vsn\s*,\s*"([^"]+)"\s*\}/.exec(text)?.[1];

export interface Located {
  erl: string; // as found (may be a shim)
  erlReal: string;
  erlRootGuess: string | null; // the OTP root when erl is <root>/bin/erl of a real install
  elixirReal: string | null;
  rebar3Real: string | null;
}

export function locate(opts: DetectOptions, searchPath: string): Located {
  let erl: string;
  if (opts.erlRoot) {
    erl = join(resolve(opts.erlRoot), "bin", "erl");
    if (!isExecutableFile(erl)) throw new BeamixError(`${resolve(opts.erlRoot)} is not an Erlang/OTP installation: no executable bin/erl`);
  } else {
    const found = onPath("erl", searchPath);
    if (!found) throw new BeamixError("no erl on PATH: install Erlang/OTP or name an installation with its root directory");
    erl = found;
  }
  const erlReal = realpathSync(erl);
  const rootGuess = dirname(dirname(erlReal));
  const erlRootGuess = basename(dirname(erlReal)) === "bin" && exists(join(rootGuess, "releases")) ? rootGuess : null;

  let elixirReal: string | null = null;
  if (opts.elixirBin) elixirReal = explicitExecutable(opts.elixirBin, "elixir executable");
  else {
    const found = onPath("elixir", searchPath);
    elixirReal = found ? realpathSync(found) : null;
  }
  let rebar3Real: string | null = null;
  if (opts.rebar3) rebar3Real = explicitExecutable(opts.rebar3, "rebar3 executable");
  else {
    const found = onPath("rebar3", searchPath);
    rebar3Real = found ? realpathSync(found) : null;
  }
  return { erl, erlReal, erlRootGuess, elixirReal, rebar3Real };
}

// The files whose change means the toolchain may have changed. Only possible when every tool
// is a real install: a version manager's shim can switch versions without any file changing.
export function cacheKey(loc: Located): FileStamp[] | null {
  if (!loc.erlRootGuess) return null;
  const files = [loc.erlReal, join(loc.erlRootGuess, "releases")];
  if (loc.elixirReal) {
    const root = dirname(dirname(loc.elixirReal));
    if (basename(dirname(loc.elixirReal)) !== "bin" || !exists(elixirAppFile(root))) return null;
    files.push(loc.elixirReal, elixirAppFile(root));
  }
  if (loc.rebar3Real) files.push(loc.rebar3Real);
  return files.map(fileStamp);
}

// The OTP root and the bin directories (erl's, elixir's, rebar3's, as Toolchain.binDirs) that
// detection will find, known from the files alone when every tool is a real install (as for
// cacheKey): <root>/bin/erl for the root erl reports, which the caller checks. A VM can then
// start with them first on its PATH before detection ends. Null for a version manager's shim.
export function expectedLayout(loc: Located): { erlRoot: string; binDirs: string[] } | null {
  if (!loc.erlRootGuess || cacheKey(loc) === null) return null;
  const dirs = [join(loc.erlRootGuess, "bin")];
  if (loc.elixirReal) dirs.push(dirname(loc.elixirReal)); // <elixir root>/bin, as cacheKey checked
  if (loc.rebar3Real) dirs.push(dirname(loc.rebar3Real));
  return { erlRoot: loc.erlRootGuess, binDirs: [...new Set(dirs)] };
}

// The files whose identity stands for the toolchain `opts` would detect (as its cache keys it),
// or null when none can (a version manager's shim). A caller that keeps an answer derived from
// the toolchain compares these instead of detecting it again.
export async function toolchainFileStamps(opts: DetectOptions = {}): Promise<FileStamp[] | null> {
  return cacheKey(locate(opts, opts.searchPath ?? process.env.PATH ?? ""));
}
