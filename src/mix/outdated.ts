// `beamix outdated`: for each Hex package in mix.lock, the newest release every requirement on it
// allows (the project's and those of the other locked packages) and the newest release overall,
// as `mix hex.outdated` reports them. Retired releases are not offered, and a pre-release only
// to a package locked at one (as Hex does).
import { BeamixError } from "../errors.ts";
import { compareVersions, parseVersion } from "../elixir/version.ts";
import { matches, tryParseRequirement } from "../elixir/requirement.ts";
import type { PackageSource, ReleaseInfo } from "../resolve/source.ts";
import { lockEntryRepo, type MixLock } from "./lock.ts";
import type { DeclaredDep } from "./lock-project.ts";

export interface OutdatedRow {
  app: string;
  package: string;
  repo: string;
  current: string;
  allowed: string; // the newest release every requirement on it allows (at least `current`)
  latest: string; // the newest release
  status: "up-to-date" | "update possible" | "update not possible";
  requirements: { by: string; requirement: string }[];
}

export async function outdated(project: { app: string; deps: DeclaredDep[] }, lock: MixLock, source: PackageSource): Promise<OutdatedRow[]> {
  const requirementsOn = new Map<string, { by: string; requirement: string }[]>();
  const add = (app: string, by: string, requirement: string | null) => {
    if (requirement !== null) requirementsOn.set(app, [...(requirementsOn.get(app) ?? []), { by, requirement }]);
  };
  for (const d of project.deps) add(d.app, project.app, d.requirement);
  for (const e of lock.values()) if (e.kind === "hex") for (const d of e.deps ?? []) add(d.app, e.app, d.requirement);

  const hexEntries = [...lock.values()].flatMap((e) => (e.kind === "hex" ? [e] : []));
  const rows = await Promise.all(
    hexEntries.map(async (e): Promise<OutdatedRow> => {
      const repo = lockEntryRepo(e);
      const releases = await source.releases(repo, e.package);
      if (releases === null) throw new BeamixError(`mix.lock: ${e.app} is package ${e.package} of repository ${repo}, which has no such package`);
      const pre = parseVersion(e.version).pre.length > 0;
      const offered = releases.filter((r) => !r.retired && (pre || parseVersion(r.version).pre.length === 0)).map((r: ReleaseInfo) => r.version);
      const requirements = requirementsOn.get(e.app) ?? [];
      const parsed = requirements.map((r) => tryParseRequirement(r.requirement));
      const allowedAll = offered.filter((v) => parsed.every((req) => req === undefined || matches(v, req)));
      const newest = (vs: string[]) => vs.reduce((a, b) => (compareVersions(a, b) >= 0 ? a : b), e.version);
      const allowed = newest(allowedAll);
      const latest = newest(offered);
      const status = compareVersions(latest, e.version) <= 0 ? "up-to-date" : compareVersions(allowed, e.version) > 0 ? "update possible" : "update not possible";
      return { app: e.app, package: e.package, repo, current: e.version, allowed, latest, status, requirements };
    }),
  );
  return rows.sort((a, b) => (a.app < b.app ? -1 : a.app > b.app ? 1 : 0));
}
