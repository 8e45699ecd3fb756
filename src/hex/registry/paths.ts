// Names of the files in a static Hex repository, and the checks that keep a package name or
// version from turning into some other path (`../x`, `a/b`) before it becomes one.
import { BeamixError } from "../../errors.ts";
import { tryParseVersion } from "../../elixir/version.ts";

// hex.pm's rule: a lowercase letter, then letters, digits and underscores.
const PACKAGE_NAME = /^[a-z][A-Za-z0-9_]*$/;

export function isValidPackageName(name: string): boolean {
  return PACKAGE_NAME.test(name);
}

export function checkPackageName(name: string, context: string): void {
  if (!isValidPackageName(name)) throw new BeamixError(`${context}: ${JSON.stringify(name)} is not a valid Hex package name`);
}

// A valid Elixir version only contains [0-9A-Za-z.+-], so it is safe in a path and a URL.
export function checkVersion(version: string, context: string): void {
  if (!tryParseVersion(version)) throw new BeamixError(`${context}: ${JSON.stringify(version)} is not a valid version`);
}

export function packageResource(name: string): string {
  return `packages/${name}`;
}

export function tarballFileName(name: string, version: string): string {
  return `${name}-${version}.tar`;
}

export function tarballResource(name: string, version: string): string {
  return `tarballs/${tarballFileName(name, version)}`;
}
