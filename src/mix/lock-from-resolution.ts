// The mix.lock entries `mix deps.get` writes for a resolution: each release's checksums, build
// tools (managers) and dependencies, as Hex's SCM writes them (lib/hex/scm.ex): managers are the
// metadata's build_tools (or, without any, guessed from the top-level files), deduplicated and
// sorted; dependencies are the registry's, sorted as Erlang sorts the `{app, req, opts}` tuples.
// Each entry names the repository its package came from.
import type { HexRepo } from "../hex/registry/client.ts";
import type { HexMetadata } from "../hex/metadata.ts";
import { compareTerms } from "../erlang/order.ts";
import { hexPackageSource, resolve, type Resolution, type ResolvedPackage, type ResolveOptions, type RootRequirement } from "../resolve/resolve.ts";
import { lockDepToTerm, type HexLockEntry, type LockDep, type MixLock } from "./lock.ts";

// Hex's guess_build_tools, file name -> tool, in its order.
const BUILD_TOOL_FILES: [string, string][] = [
  ["mix.exs", "mix"],
  ["rebar.config", "rebar"],
  ["rebar", "rebar"],
  ["Makefile", "make"],
  ["Makefile.win", "make"],
];

export function lockManagers(metadata: Pick<HexMetadata, "buildTools" | "files">): string[] {
  const top = new Set(metadata.files.filter((f) => !f.includes("/")));
  const tools = metadata.buildTools.length ? metadata.buildTools : BUILD_TOOL_FILES.filter(([f]) => top.has(f)).map(([, t]) => t);
  return [...new Set(tools)].sort(); // atoms: ASCII names, code point order
}

export function sortLockDeps(deps: LockDep[]): LockDep[] {
  return [...deps].sort((a, b) => compareTerms(lockDepToTerm(a), lockDepToTerm(b)));
}

// The lock entries of every package in the resolution (tarballs are fetched, verified, for
// their metadata), keyed by the app name dependents know it by. `kept` gives an entry to keep as
// it is (a locked one), whose tarball is then not needed.
export async function lockForResolution(
  res: Resolution,
  repos: ReadonlyMap<string, HexRepo>,
  kept: (p: ResolvedPackage) => HexLockEntry | undefined = () => undefined,
): Promise<Map<string, HexLockEntry>> {
  const entries = await Promise.all(
    [...res.packages.values()].map(async (p): Promise<HexLockEntry> => {
      const keep = kept(p);
      if (keep) return keep;
      const t = await repos.get(p.repo)!.tarball(p.name, p.version);
      return {
        kind: "hex",
        app: p.app,
        package: p.name,
        version: p.version,
        innerChecksum: t.innerChecksum,
        managers: lockManagers(t.metadata),
        deps: sortLockDeps(p.release.dependencies.map((d) => ({ app: d.app, requirement: d.requirement, package: d.package, repo: d.repository, optional: d.optional }))),
        repo: p.repo,
        outerChecksum: t.outerChecksum,
      };
    }),
  );
  return new Map(entries.map((e) => [e.app, e]));
}

// Resolved against the repositories (one HexRepo: that one, as "hexpm" or its own name).
export async function lockForRequirements(
  repos: HexRepo | ReadonlyMap<string, HexRepo>,
  roots: RootRequirement[],
  opts: ResolveOptions = {},
): Promise<MixLock> {
  const byName = "tarball" in repos ? new Map([[repos.name, repos as HexRepo]]) : (repos as ReadonlyMap<string, HexRepo>);
  const single = "tarball" in repos ? (repos as HexRepo).name : undefined;
  const rooted = single ? roots.map((r) => ({ ...r, repo: r.repo ?? single })) : roots;
  const res = await resolve(rooted, hexPackageSource([...byName.values()]), opts);
  return lockForResolution(res, byName);
}
