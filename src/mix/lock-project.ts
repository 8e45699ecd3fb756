// `beamix lock`: the mix.lock `mix deps.get` writes for a Mix project's declared dependencies,
// resolved against the configured repositories (each dependency's `repo:`), without Hex.
// - A package the lock already pins keeps its entry as it is (Hex changes a locked entry only
//   when the dependency is updated), unless `update` names it or a declared requirement no longer
//   matches the locked version (then Mix unlocks it).
// - Entries of packages no longer used are kept, as Mix keeps them (`unlock` removes them, as
//   `mix deps.unlock` does).
// - Git dependencies keep their entries (fetching a commit is mix deps.get's); one not locked yet
//   is an error. Path dependencies have none.
import { BeamixError } from "../errors.ts";
import type { HexRepo } from "../hex/registry/client.ts";
import { matches, tryParseRequirement } from "../elixir/requirement.ts";
import { hexPackageSource, resolve, type ResolvedPackage, type RootRequirement } from "../resolve/resolve.ts";
import { lockEntryRepo, type HexLockEntry, type MixLock } from "./lock.ts";
import { lockForResolution } from "./lock-from-resolution.ts";

export interface DeclaredDep {
  app: string;
  requirement: string | null;
  scm: string; // "hex", "git", "path", ...
  hex?: { package: string; repo: string };
}

export interface LockChange {
  lock: MixLock;
  added: string[]; // apps newly locked
  changed: string[]; // apps whose locked version or repository changed
  removed: string[]; // apps unlocked by `unlock`
}

export async function lockProject(
  project: { dir: string; app: string; deps: DeclaredDep[] },
  existing: MixLock,
  repos: ReadonlyMap<string, HexRepo>,
  opts: { update?: string[]; unlock?: string[]; resolve?: boolean } = {},
): Promise<LockChange> {
  const lock: MixLock = new Map(existing);
  const removed = (opts.unlock ?? []).filter((app) => lock.delete(app));
  // `mix deps.unlock` alone only removes entries.
  if (opts.resolve === false) return { lock, added: [], changed: [], removed };
  for (const d of project.deps) {
    if (d.scm === "git" && !lock.has(d.app)) throw new BeamixError(`${project.dir}: ${d.app} is a git dependency that mix.lock does not pin yet: run mix deps.get for it`);
  }
  const hexDeps = project.deps.filter((d) => d.scm === "hex");
  const roots: RootRequirement[] = hexDeps.map((d) => ({
    name: d.hex?.package ?? d.app,
    app: d.app,
    repo: d.hex?.repo ?? "hexpm",
    ...(d.requirement !== null ? { requirement: d.requirement } : {}),
  }));
  const update = new Set(opts.update ?? []);
  const locked = new Map<string, string>();
  for (const e of lock.values()) {
    if (e.kind !== "hex" || update.has(e.app)) continue;
    const declared = hexDeps.find((d) => d.app === e.app);
    if (declared && !stillMatches(declared, e.version, lockEntryRepo(e))) continue;
    locked.set(e.package, e.version);
  }
  for (const app of update) {
    if (!lock.has(app) && !hexDeps.some((d) => d.app === app)) throw new BeamixError(`${project.dir}: no dependency ${app} to update`);
  }
  const res = await resolve(roots, hexPackageSource([...repos.values()]), { locked, rootName: project.app });
  const keptEntry = (p: ResolvedPackage): HexLockEntry | undefined => {
    const before = lock.get(p.app);
    return before?.kind === "hex" && sameRelease(before, { package: p.name, version: p.version, repo: p.repo }) ? before : undefined;
  };
  const fresh = await lockForResolution(res, repos, keptEntry);
  const added: string[] = [];
  const changed: string[] = [];
  for (const [app, entry] of fresh) {
    const before = lock.get(app);
    if (before === entry) continue;
    if (before === undefined) added.push(app);
    else changed.push(app);
    lock.set(app, entry);
  }
  return { lock, added, changed, removed };
}

// The same release, with the details Hex adds at fetch time (a locked entry is kept as it is).
function sameRelease(before: HexLockEntry, entry: Pick<HexLockEntry, "package" | "version" | "repo">): boolean {
  return before.package === entry.package && before.version === entry.version && lockEntryRepo(before) === (entry.repo ?? "hexpm") && (before.managers?.length ?? 0) > 0;
}

function stillMatches(d: DeclaredDep, version: string, repo: string): boolean {
  if ((d.hex?.repo ?? "hexpm") !== repo) return false;
  if (d.requirement === null) return true;
  const req = tryParseRequirement(d.requirement);
  return req !== undefined && matches(version, req);
}
