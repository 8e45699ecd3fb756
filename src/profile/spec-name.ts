// Which package a spec the user typed stands for, before anything is resolved: a profile keeps one
// request per package, so `install 'beacon@~> 2.0'` must replace an earlier `beacon@~> 1.1` (and
// `install elixir-trellis` an earlier `trellis`) rather than add a second, conflicting root.
// Paths are told from names the way planBuild tells them (src/realize/plan.ts).
import { stat, readFile } from "node:fs/promises";
import { resolve as resolvePath } from "node:path";
import { BeamixError } from "../errors.ts";
import { readPackageDir } from "../project/package-dir.ts";
import { readTarball } from "../hex/tarball.ts";
import { isDefinitionFile, loadDefinitionFile } from "../derivation/definition-file.ts";
import { looksLikePath } from "../realize/plan.ts";
import { isPackageAlias, packageNameCandidates, parsePackageSpec, resolvePackageName } from "../resolve/names.ts";
import type { PackageSource } from "../resolve/source.ts";
import type { RequestedPackage } from "./manifest.ts";

// The request a spec makes, with the package name it stands for. Path specs are kept as absolute
// paths so the profile can be changed again from any directory.
export async function requestFromSpec(spec: string, source: PackageSource): Promise<RequestedPackage> {
  if (looksLikePath(spec)) {
    const path = resolvePath(spec);
    const st = await stat(path).catch(() => undefined);
    if (!st) throw new BeamixError(`${spec}: no such file or directory`);
    return { name: await nameAtPath(path, st.isDirectory()), spec: path, path };
  }
  const root = parsePackageSpec(spec);
  const name = isPackageAlias(root.name) ? (await resolvePackageName(root.name, source)).name : root.name;
  // The stored spec names the real package, so later changes need no alias lookup.
  return root.requirement === undefined ? { name, spec: name } : { name, spec: `${name}@${root.requirement}`, requirement: root.requirement };
}

async function nameAtPath(path: string, isDir: boolean): Promise<string> {
  if (isDir) return (await readPackageDir(path)).metadata.name;
  if (isDefinitionFile(path)) {
    const override = await loadDefinitionFile(path);
    return override.kind === "edit" ? override.package : override.definition.name;
  }
  return readTarball(await readFile(path), { file: path }).metadata.name;
}

// The entry of `names` that WHAT designates: a package name, an alias (elixir-trellis) or the path
// a local package was installed from. No registry is asked: only names already there can match.
export function matchInstalled(what: string, names: ReadonlyMap<string, { path?: string }>): string | undefined {
  if (looksLikePath(what)) {
    const abs = resolvePath(what);
    for (const [name, p] of names) if (p.path === abs) return name;
    return undefined;
  }
  const bare = what.includes("@") ? what.slice(0, what.indexOf("@")).trim() : what;
  return packageNameCandidates(bare).find((c) => names.has(c));
}
