// Where beamix keeps things by default, following the XDG base directory spec. A directory that
// is a file (or lies under one) is said in one line naming the variable, before anything tries
// to write there.
import { statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { BeamixError } from "../errors.ts";

const home = () => process.env.HOME || homedir();

// `path`, unless something that is not a directory stands where it, or where one of its parents,
// should be. A path that does not exist yet is fine: it is made when first needed.
function checkedDir(path: string, variable: string): string {
  const shown = process.env[variable] ? `${variable} (${path})` : `the default of ${variable}, ${path},`;
  // stat gives nothing for a missing path and for one under a file alike: find the nearest
  // ancestor that exists.
  for (let p = path; ; p = dirname(p)) {
    let st;
    try {
      st = statSync(p, { throwIfNoEntry: false });
    } catch {
      return path; // unreadable: said by whatever uses it
    }
    if (st) {
      if (st.isDirectory()) return path;
      throw new BeamixError(p === path ? `${shown} is not a directory` : `${shown} is not a directory: ${p} is a file`);
    }
    if (dirname(p) === p) return path;
  }
}

// The configuration (trusted keys, substituters, repositories): not checked here, only read.
export function configDir(): string {
  if (process.env.BEAMIX_CONFIG_DIR) return process.env.BEAMIX_CONFIG_DIR;
  return join(process.env.XDG_CONFIG_HOME || join(home(), ".config"), "beamix");
}

export const substitutersFile = (dir = configDir()) => join(dir, "substituters");

// The URLs a substituters file lists: whitespace-separated, `#` starts a comment.
export function parseSubstitutersFile(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.replace(/(^|\s)#.*/, "").trim())
    .filter((l) => l !== "")
    .flatMap((l) => l.split(/\s+/));
}

export function cacheDir(): string {
  return checkedDir(process.env.BEAMIX_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(home(), ".cache"), "beamix"), "BEAMIX_CACHE_DIR");
}

export function dataDir(): string {
  return checkedDir(process.env.BEAMIX_DATA_DIR || join(process.env.XDG_DATA_HOME || join(home(), ".local", "share"), "beamix"), "BEAMIX_DATA_DIR");
}

// The store: --store, else BEAMIX_STORE, else under the data directory.
export function defaultStoreDir(): string {
  return process.env.BEAMIX_STORE || join(dataDir(), "store");
}
