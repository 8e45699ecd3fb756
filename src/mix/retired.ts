// `beamix audit`: the Hex packages of a mix.lock whose locked release is retired, with the reason
// and message the registry records, as `mix hex.audit` reports them.
import { BeamixError } from "../errors.ts";
import type { PackageSource } from "../resolve/source.ts";
import { lockEntryRepo, type MixLock } from "./lock.ts";

export interface RetiredRow {
  app: string;
  package: string;
  repo: string;
  version: string;
  reason: string;
  message?: string;
}

export async function retiredInLock(lock: MixLock, source: PackageSource): Promise<RetiredRow[]> {
  const hexEntries = [...lock.values()].flatMap((e) => (e.kind === "hex" ? [e] : []));
  const rows = await Promise.all(
    hexEntries.map(async (e): Promise<RetiredRow | undefined> => {
      const repo = lockEntryRepo(e);
      const releases = await source.releases(repo, e.package);
      const release = releases?.find((r) => r.version === e.version);
      if (!release) throw new BeamixError(`mix.lock: ${e.app} ${e.version} is not a release of package ${e.package} in repository ${repo}`);
      if (!release.retired) return undefined;
      return { app: e.app, package: e.package, repo, version: e.version, reason: release.retired.reason, ...(release.retired.message ? { message: release.retired.message } : {}) };
    }),
  );
  return rows.filter((r): r is RetiredRow => r !== undefined).sort((a, b) => (a.app < b.app ? -1 : 1));
}
