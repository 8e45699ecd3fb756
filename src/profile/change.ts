// `beamix install | remove | upgrade`: change what a profile asks for, resolve ALL of its requests
// together (one closure, one version of each package), realize the closure, and make it the next
// generation. Versions already installed stay as they are (resolver pins) unless the change names
// the package (install, upgrade) or, for dependencies only, keeping them is impossible. A failed
// resolution or build leaves the profile as it was.
import { BeamixError } from "../errors.ts";
import { identified, runtimePackageNames, type Plan } from "../realize/plan.ts";
import type { RealizeResult } from "../realize/realize.ts";
import { hexPackageSource } from "../resolve/source.ts";
import { planClosure, realizeClosure, type ClosureOptions } from "./closure.ts";
import { createGeneration } from "./commit.ts";
import { currentGeneration, generationNumbers, generationPath, removeLeftovers, type Profile } from "./location.ts";
import { manifestToolchain, newManifest, readManifest, type ProfileManifest, type ProfilePackage, type RequestedPackage } from "./manifest.ts";
import type { Toolchain } from "../toolchain/detect.ts";
import { withProfileLock } from "./roots.ts";
import { matchInstalled, requestFromSpec } from "./spec-name.ts";

export type ProfileChange =
  | { kind: "install"; specs: readonly string[] }
  | { kind: "remove"; packages: readonly string[] }
  | { kind: "upgrade"; packages: readonly string[] }; // none: every package

export interface ProfileChangeOptions extends ClosureOptions {
  now?: () => Date;
  onWait?: (pid: number) => void; // another process is changing the profile
}

export interface VersionChange {
  name: string;
  from?: string; // absent: added
  to?: string; // absent: removed
}

export interface RequestChange {
  name: string;
  from?: string; // the spec before; absent: newly asked for
  to?: string; // absent: no longer asked for
}

export interface ChangeResult {
  profile: string;
  generation: number | undefined; // current after the change (undefined: still no profile)
  previous: number | undefined;
  created: boolean; // false when the result equals the current generation: nothing was made
  changes: VersionChange[]; // by name
  requestChanges: RequestChange[]; // what is asked for, by name
  rebuilt: string[]; // same version, different derivation (an input changed)
  unpinned: boolean; // keeping every installed version was impossible: dependencies were resolved again
  built: number;
  present: number; // already in the store
  substituted: number; // fetched from a binary cache
}

export async function changeProfile(p: Profile, change: ProfileChange, opts: ProfileChangeOptions): Promise<ChangeResult> {
  const { store } = opts;
  return withProfileLock(
    store,
    p,
    async () => {
      await removeLeftovers(p);
      const previous = await currentGeneration(p);
      const before = previous === undefined ? undefined : await readManifest(generationPath(p, previous));
      if (before && before.store !== store.dir) {
        throw new BeamixError(`profile ${p.path} links to the store ${before.store}; use --store ${before.store} (or another profile)`);
      }
      const installed = new Map((before?.packages ?? []).map((x) => [x.name, x]));
      const requested = new Map((before?.requested ?? []).map((r) => [r.name, r]));
      const unpin = new Set<string>();
      await applyChange(p, change, opts, requested, installed, unpin);

      const specs = [...requested.values()].map((r) => r.spec);
      const planned = specs.length ? await planWithPins(specs, installed, requested, unpin, opts) : undefined;
      const plan = planned?.plan;
      const unpinned = planned?.unpinned ?? false;
      const result = plan ? await realizeClosure(plan, opts, `profile ${p.path} not changed, a build failed`) : undefined;
      const packages = plan ? profilePackages(plan, requested) : [];

      const common = {
        profile: p.path,
        previous,
        changes: versionChanges(before?.packages ?? [], packages),
        requestChanges: requestChanges(before?.requested ?? [], [...requested.values()]),
        rebuilt: packages.filter((x) => installed.has(x.name) && installed.get(x.name)!.version === x.version && installed.get(x.name)!.drvHash !== x.drvHash).map((x) => x.name),
        unpinned,
        ...realizedCounts(result),
      };
      if (before && sameContents(before, [...requested.values()], packages) && sameToolchainPaths(before, opts.toolchain)) return { ...common, generation: previous, created: false };

      const n = ((await generationNumbers(p)).at(-1) ?? 0) + 1;
      const manifest = newManifest({
        generation: n,
        created: (opts.now?.() ?? new Date()).toISOString(),
        store: store.dir,
        toolchain: manifestToolchain(opts.toolchain),
        requested: [...requested.values()],
        packages,
      });
      await createGeneration(p, manifest, opts);
      return { ...common, generation: n, created: true };
    },
    opts.onWait,
  );
}

// Installed versions are pins: all of them if possible. If not, dependencies may move, but the
// packages the user asked for keep their versions unless this change names them: a package the
// user installed never changes version behind their back (the resolver's explanation then names
// the conflict; naming the package in install or upgrade lets it move).
async function planWithPins(
  specs: string[],
  installed: ReadonlyMap<string, ProfilePackage>,
  requested: ReadonlyMap<string, RequestedPackage>,
  unpin: ReadonlySet<string>,
  opts: ProfileChangeOptions,
): Promise<{ plan: Plan; unpinned: boolean }> {
  const pinsOf = (keep: (x: ProfilePackage) => boolean) => new Map([...installed.values()].filter((x) => !x.local && !unpin.has(x.name) && keep(x)).map((x) => [x.name, x.version]));
  const all = pinsOf(() => true);
  const held = pinsOf((x) => requested.has(x.name));
  if (all.size > held.size) {
    try {
      return { plan: await planClosure(specs, opts, all), unpinned: false };
    } catch (err) {
      if (!(err instanceof BeamixError)) throw err;
    }
  }
  try {
    return { plan: await planClosure(specs, opts, held), unpinned: all.size > held.size };
  } catch (err) {
    if (!(err instanceof BeamixError) || held.size === 0) throw err;
    const mentioned = [...held].filter(([n]) => new RegExp(`\\b${n}\\b`).test(err.message));
    const names = (mentioned.length ? mentioned : [...held]).map(([n, v]) => `${n} ${v}`).join(", ");
    throw new BeamixError(`${err.message}\n(installed packages keep their versions: ${names}; name one in install or upgrade to let it change)`, { cause: err });
  }
}

async function applyChange(
  p: Profile,
  change: ProfileChange,
  opts: ProfileChangeOptions,
  requested: Map<string, RequestedPackage>,
  installed: ReadonlyMap<string, ProfilePackage>,
  unpin: Set<string>,
): Promise<void> {
  if (change.kind !== "install" && installed.size === 0 && requested.size === 0) {
    throw new BeamixError(`profile ${p.path} has no packages: nothing to ${change.kind}`);
  }
  if (change.kind === "install") {
    if (change.specs.length === 0) throw new BeamixError("nothing to install: give at least one package");
    const source = hexPackageSource([...opts.repos.values()]);
    for (const spec of change.specs) {
      const r = await requestFromSpec(spec, source);
      requested.set(r.name, r); // replaces an earlier request for the same package
      unpin.add(r.name);
    }
  } else if (change.kind === "remove") {
    if (change.packages.length === 0) throw new BeamixError("nothing to remove: give at least one package");
    for (const what of change.packages) {
      const name = matchInstalled(what, requested);
      if (name === undefined) {
        const dep = matchInstalled(what, installed);
        const why = dep ? `${dep} is only a dependency there (of ${dependents(installed, dep).join(", ")})` : `asked for there: ${[...requested.keys()].join(", ") || "nothing"}`;
        throw new BeamixError(`${what} is not installed in profile ${p.path}: ${why}`);
      }
      requested.delete(name);
    }
  } else {
    const names = change.packages.length ? change.packages : [...installed.keys()];
    for (const what of names) {
      const name = matchInstalled(what, installed);
      if (name === undefined) throw new BeamixError(`${what} is not in profile ${p.path}; install it instead`);
      // A package's inputs may have to move with it: free its whole closure.
      const walk = (n: string) => {
        if (unpin.has(n)) return;
        unpin.add(n);
        for (const d of installed.get(n)?.deps ?? []) walk(d);
      };
      walk(name);
    }
  }
}

function realizedCounts(result: RealizeResult | undefined): { built: number; present: number; substituted: number } {
  const items = [...(result?.items.values() ?? [])];
  const built = items.filter((i) => i.status === "built").length;
  const present = items.filter((i) => i.status === "present").length;
  return { built, present, substituted: items.length - built - present };
}

function dependents(installed: ReadonlyMap<string, ProfilePackage>, name: string): string[] {
  return [...installed.values()].filter((x) => x.deps.includes(name)).map((x) => x.name);
}

function profilePackages(plan: Plan, requested: ReadonlyMap<string, RequestedPackage>): ProfilePackage[] {
  for (const name of requested.keys()) {
    if (!plan.packages.has(name)) throw new Error(`internal: requested package ${name} is not in the planned closure`);
  }
  return runtimePackageNames(plan).map((name) => identified(plan, name)).map((x) => ({
    name: x.name,
    version: x.version,
    app: x.app,
    repo: x.repo,
    drvHash: x.drvHash,
    path: x.itemPath,
    deps: [...x.deps],
    local: x.source.kind === "local",
    requested: requested.has(x.name),
  }));
}

function versionChanges(before: readonly ProfilePackage[], after: readonly ProfilePackage[]): VersionChange[] {
  return changesByName(before.map((x) => [x.name, x.version]), after.map((x) => [x.name, x.version]));
}

function requestChanges(before: readonly RequestedPackage[], after: readonly RequestedPackage[]): RequestChange[] {
  return changesByName(before.map((r) => [r.name, r.spec]), after.map((r) => [r.name, r.spec]));
}

// Every name whose value differs between before and after, sorted; from/to absent where the name is.
function changesByName(before: [string, string][], after: [string, string][]): { name: string; from?: string; to?: string }[] {
  const a = new Map(before);
  const b = new Map(after);
  const out: { name: string; from?: string; to?: string }[] = [];
  for (const name of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const from = a.get(name);
    const to = b.get(name);
    if (from === to) continue;
    out.push({ name, ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) });
  }
  return out;
}

// The wrappers run the toolchain's programs by path: another toolchain at other paths (or a
// generation from before manifests recorded them) is a new generation, even with the same items.
function sameToolchainPaths(before: ProfileManifest, tc: Toolchain): boolean {
  return JSON.stringify(before.toolchain.paths) === JSON.stringify(manifestToolchain(tc).paths);
}

function sameContents(before: ProfileManifest, requested: readonly RequestedPackage[], packages: readonly ProfilePackage[]): boolean {
  const req = (xs: readonly RequestedPackage[]) => JSON.stringify([...xs].map((r) => [r.name, r.spec]).sort());
  const pkgs = (xs: readonly ProfilePackage[]) => JSON.stringify([...xs].map((x) => [x.name, x.drvHash]).sort());
  return req(before.requested) === req(requested) && pkgs(before.packages) === pkgs(packages);
}
