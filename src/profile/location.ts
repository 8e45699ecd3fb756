// Where a profile lives, laid out as Nix and Guix do it: PROFILE is a symlink to PROFILE-N-link,
// and each PROFILE-N-link is one generation (here a directory of its own). A generation is made
// under a temporary name and renamed into place; switching replaces the PROFILE symlink by
// renaming a new symlink over it. So readers see the old generation or the new one, never a
// half-made one, whatever kills the process.
import { createHash, randomBytes } from "node:crypto";
import { lstat, mkdir, readdir, readlink, realpath, rename, rm, symlink, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { BeamixError } from "../errors.ts";
import { dataDir } from "../config/paths.ts";
import { formatId, isAlive, parseId, selfId } from "../store/process-id.ts";

export interface Profile {
  path: string; // absolute path of the PROFILE symlink (its directory's real path + its name)
  dir: string;
  base: string;
  id: string; // short hash of `path`: names the profile's GC roots in the store
}

export function defaultProfilePath(): string {
  return join(dataDir(), "profiles", "default");
}

const TMP_RE = /^\.(.+)\.tmp-(\d+-\d+)-[0-9a-f]+$/;

export async function locateProfile(path: string = defaultProfilePath()): Promise<Profile> {
  const abs = resolve(path);
  const base = basename(abs);
  if (base === "" || base === "." || base === "..") throw new BeamixError(`${path}: not a usable profile name`);
  await mkdir(dirname(abs), { recursive: true });
  const dir = await realpath(dirname(abs));
  const full = join(dir, base);
  return { path: full, dir, base, id: createHash("sha256").update(full).digest("hex").slice(0, 16) };
}

export function generationPath(p: Profile, n: number): string {
  return join(p.dir, `${p.base}-${n}-link`);
}

function generationNumber(p: Profile, entry: string): number | undefined {
  const prefix = `${p.base}-`;
  if (!entry.startsWith(prefix) || !entry.endsWith("-link")) return undefined;
  const middle = entry.slice(prefix.length, -"-link".length);
  return /^[1-9][0-9]{0,8}$/.test(middle) ? Number(middle) : undefined;
}

// The generation numbers present, ascending.
export async function generationNumbers(p: Profile): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir(p.dir)) {
    const n = generationNumber(p, entry);
    if (n !== undefined) out.push(n);
  }
  return out.sort((a, b) => a - b);
}

// The generation PROFILE points to; undefined when the profile does not exist yet.
export async function currentGeneration(p: Profile): Promise<number | undefined> {
  const st = await lstat(p.path).catch(() => undefined);
  if (!st) return undefined;
  if (!st.isSymbolicLink()) throw new BeamixError(`${p.path}: exists and is not a beamix profile (a symlink to a generation)`);
  const target = await readlink(p.path);
  const n = generationNumber(p, target);
  if (n === undefined || resolve(p.dir, target) !== generationPath(p, n)) {
    throw new BeamixError(`${p.path}: points to ${target}, not to a generation ${p.base}-N-link beside it`);
  }
  return n;
}

// A name beside the profile for something being made; owned by this process, so a later run can
// tell leftovers of a dead one (removeLeftovers).
export function temporaryPath(p: Profile, what: string): string {
  return join(p.dir, `.${p.base}-${what}.tmp-${formatId(selfId())}-${randomBytes(4).toString("hex")}`);
}

export async function removeLeftovers(p: Profile): Promise<void> {
  for (const entry of await readdir(p.dir)) {
    const m = TMP_RE.exec(entry);
    if (!m || !m[1].startsWith(`${p.base}-`)) continue;
    const owner = parseId(m[2]);
    if (owner && isAlive(owner)) continue;
    await rm(join(p.dir, entry), { recursive: true, force: true });
  }
}

// Moves a finished generation directory into place as generation N. Fails if N exists: the
// caller holds the profile lock, so that only happens when something else wrote it.
export async function commitGeneration(p: Profile, staging: string, n: number): Promise<string> {
  const final = generationPath(p, n);
  if (await lstat(final).catch(() => undefined)) throw new BeamixError(`${final} already exists: generation ${n} of profile ${p.path} was made by something else`);
  await rename(staging, final);
  return final;
}

// Points PROFILE at generation N, atomically (a relative link, so the profile can be moved whole).
export async function switchLink(p: Profile, n: number): Promise<void> {
  const st = await lstat(p.path).catch(() => undefined);
  if (st && !st.isSymbolicLink()) throw new BeamixError(`${p.path}: exists and is not a beamix profile (a symlink to a generation)`);
  const tmp = temporaryPath(p, "link");
  await symlink(`${p.base}-${n}-link`, tmp);
  try {
    await rename(tmp, p.path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
