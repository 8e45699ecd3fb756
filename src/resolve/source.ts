// Where the resolver reads releases from: one or more Hex repositories, or in-memory data (tests,
// definition files). The resolver only needs each package's releases with their dependencies.
import { BeamixError } from "../errors.ts";
import type { HexRepo } from "../hex/registry/client.ts";
import { hexInfo } from "../hex/registry/info.ts";
import { isValidPackageName } from "../hex/registry/paths.ts";

export interface ReleaseDependency {
  package: string; // Hex package name
  app: string; // the OTP application the dependent expects it to provide
  requirement: string;
  optional: boolean;
  repository: string; // "hexpm", or "hexpm:ORG" for an organization
}

export interface ReleaseInfo {
  version: string;
  retired?: { reason: string; message?: string };
  dependencies: ReleaseDependency[];
  innerChecksum: string; // lowercase hex
  outerChecksum?: string; // lowercase hex; absent in registries written before Hex 0.20
}

export interface PackageSource {
  // All releases of NAME in repository REPO (any order), or null when the repository has no
  // such package. Other failures (network, signature) throw.
  releases(repo: string, name: string): Promise<ReleaseInfo[] | null>;
}

export const DEFAULT_REPO = "hexpm";

// Packages from signed Hex registries, one HexRepo per repository name. A dependency on
// "hexpm:acme" is read from the HexRepo named "hexpm:acme".
export function hexPackageSource(repos: readonly HexRepo[]): PackageSource {
  const byName = new Map(repos.map((r) => [r.name, r]));
  const names = new Map<string, Promise<Set<string>>>();
  // A failed package read is "unknown package" only if the repository's name list agrees;
  // anything else (a bad signature, a network error) must surface as it is.
  const listed = (repo: HexRepo): Promise<Set<string>> => {
    let p = names.get(repo.name);
    if (!p) {
      p = repo.names().then((n) => new Set(n.packages.map((e) => e.name)));
      names.set(repo.name, p);
      p.catch(() => names.delete(repo.name));
    }
    return p;
  };
  return {
    async releases(repoName, name) {
      const repo = byName.get(repoName);
      if (!repo) {
        const known = [...byName.keys()].join(", ") || "none";
        throw new BeamixError(`package ${name} is wanted from repository ${repoName}, which is not configured (configured: ${known})`);
      }
      if (!isValidPackageName(name)) return null;
      try {
        return (await hexInfo(repo, name)).releases;
      } catch (err) {
        let exists: boolean;
        try {
          exists = (await listed(repo)).has(name);
        } catch {
          throw err;
        }
        if (exists) throw err;
        return null;
      }
    },
  };
}

// repository name -> package name -> releases.
export type MemoryRegistry = Record<string, Record<string, ReleaseInfo[]>>;

export function memoryPackageSource(data: MemoryRegistry): PackageSource {
  return {
    async releases(repo, name) {
      return Object.hasOwn(data, repo) && Object.hasOwn(data[repo], name) ? data[repo][name] : null;
    },
  };
}
