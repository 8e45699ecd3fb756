// What a user may type for a package: `phoenix`, `phoenix@~> 1.7`, `phoenix@1.7.14`, and the
// names Guix gives Hex packages: `elixir-phoenix`, `erlang-telemetry`, `elixir-phoenix-pubsub`.
//
// A Hex name is a lowercase letter followed by letters, digits and underscores, so a name with
// a hyphen can never be a Hex package itself: it is an alias, read with hyphens as
// underscores. Its `elixir-`/`erlang-` prefix is dropped only when the package with the
// prefix does not exist: `elixir-make` is the Hex package elixir_make, `erlang-telemetry` is
// telemetry (there is no erlang_telemetry).
import { tryParseRequirement } from "../elixir/requirement.ts";
import { BeamixError } from "../errors.ts";
import { isValidPackageName } from "../hex/registry/paths.ts";
import { DEFAULT_REPO, type PackageSource } from "./source.ts";
import type { RootRequirement } from "./resolve.ts";

const ALIAS = /^[a-z][a-z0-9_]*(-[a-z0-9_]+)+$/;
const GUIX_PREFIX = /^(elixir|erlang)-(.+)$/;

export function isPackageAlias(name: string): boolean {
  return !isValidPackageName(name) && ALIAS.test(name);
}

// The Hex names NAME may stand for, in the order they are tried.
export function packageNameCandidates(name: string): string[] {
  if (isValidPackageName(name)) return [name];
  if (!ALIAS.test(name)) return [];
  const candidates = [name.replaceAll("-", "_")];
  const m = GUIX_PREFIX.exec(name);
  if (m) candidates.push(m[2].replaceAll("-", "_"));
  return candidates.filter(isValidPackageName);
}

// `NAME` or `NAME@REQUIREMENT`. A bare version is an exact requirement (Elixir reads `1.2.0`
// as `== 1.2.0`). The name may be an alias: resolve() looks it up.
export function parsePackageSpec(spec: string): RootRequirement {
  const text = spec.trim();
  const at = text.indexOf("@");
  const name = at < 0 ? text : text.slice(0, at).trim();
  const requirement = at < 0 ? undefined : text.slice(at + 1).trim();
  if (name === "") throw new BeamixError(`${JSON.stringify(spec)}: no package name`);
  if (packageNameCandidates(name).length === 0) {
    throw new BeamixError(
      `${JSON.stringify(spec)}: ${JSON.stringify(name)} is neither a Hex package name (a lowercase letter, then letters, digits and underscores) nor an alias like elixir-NAME`,
    );
  }
  if (requirement === undefined) return { name };
  if (requirement === "") throw new BeamixError(`${JSON.stringify(spec)}: nothing after "@" (write ${name}@~> 1.0 or ${name}@1.0.0)`);
  if (!tryParseRequirement(requirement)) throw new BeamixError(`${JSON.stringify(spec)}: ${JSON.stringify(requirement)} is not a valid version requirement`);
  return { name, requirement };
}

export interface ResolvedName {
  requested: string;
  name: string; // the Hex package
  // Another candidate that exists too but lost to the first (elixir-make: "make").
  shadowed?: string;
}

// The Hex package NAME stands for in REPO: NAME itself when it is a Hex name (not looked up:
// the resolver reports unknown packages), else the first alias candidate that exists.
export async function resolvePackageName(name: string, source: PackageSource, repo = DEFAULT_REPO): Promise<ResolvedName> {
  if (isValidPackageName(name)) return { requested: name, name };
  const candidates = packageNameCandidates(name);
  if (candidates.length === 0) throw new BeamixError(`${JSON.stringify(name)} is not a Hex package name`);
  const found = await Promise.all(candidates.map(async (c) => ((await source.releases(repo, c)) === null ? null : c)));
  const existing = found.filter((c): c is string => c !== null);
  if (existing.length === 0) {
    throw new BeamixError(`${name}: no such package in repository ${repo} (looked for ${candidates.join(" and ")})`);
  }
  const resolved: ResolvedName = { requested: name, name: existing[0] };
  if (existing.length > 1) resolved.shadowed = existing[1];
  return resolved;
}
