// `beamix hex info NAME`: a package's releases, retirements and dependencies, from the
// signed registry record (one request: packages/NAME).
import { compareParsed, tryParseVersion } from "../../elixir/version.ts";
import type { HexRepo } from "./client.ts";
import { packageResource } from "./paths.ts";

export interface HexInfoDependency {
  package: string; // Hex package name
  app: string;
  requirement: string;
  optional: boolean;
  repository: string;
}

export interface HexInfoRelease {
  version: string;
  retired?: { reason: string; message?: string };
  dependencies: HexInfoDependency[];
  innerChecksum: string;
  outerChecksum?: string;
}

export interface HexInfo {
  name: string;
  repository: string;
  url: string; // where the record came from
  releases: HexInfoRelease[]; // newest first, as `mix hex.info` lists them
}

export async function hexInfo(repo: HexRepo, name: string): Promise<HexInfo> {
  const pkg = await repo.package(name);
  const releases = pkg.releases.map((r): HexInfoRelease => {
    const info: HexInfoRelease = {
      version: r.version,
      dependencies: r.dependencies.map((d) => ({
        package: d.package,
        app: d.app,
        requirement: d.requirement,
        optional: d.optional,
        repository: d.repository,
      })),
      innerChecksum: r.innerChecksum.toString("hex"),
    };
    if (r.outerChecksum) info.outerChecksum = r.outerChecksum.toString("hex");
    if (r.retired) info.retired = { ...r.retired };
    return info;
  });
  releases.sort((a, b) => newestFirst(a.version, b.version));
  return { name: pkg.name, repository: pkg.repository, url: repo.resourceUrl(packageResource(name)), releases };
}

// Descending by version; a version Elixir cannot parse (none should be in a signed registry)
// goes last rather than failing the whole listing.
function newestFirst(a: string, b: string): number {
  const va = tryParseVersion(a);
  const vb = tryParseVersion(b);
  if (va && vb) return compareParsed(vb, va);
  return va ? -1 : vb ? 1 : 0;
}
