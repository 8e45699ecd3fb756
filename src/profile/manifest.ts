// A generation's manifest.json: what the user asked for (one request per package) and what that
// resolved to (the whole closure, with store paths). The next change of the profile starts from
// it: its requests are re-resolved together, its versions are the pins.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { BeamixError, errorMessage } from "../errors.ts";
import type { Toolchain } from "../toolchain/detect.ts";

export const MANIFEST_FILE = "manifest.json";
const FORMAT = 1;

export interface RequestedPackage {
  name: string; // the Hex package
  spec: string; // what planBuild is given: `name`, `name@REQUIREMENT`, or an absolute path
  requirement?: string;
  path?: string; // a local package directory, tarball or definition file
}

export interface ProfilePackage {
  name: string;
  version: string;
  app: string;
  repo: string;
  drvHash: string;
  path: string; // the store item
  deps: string[]; // package names of its inputs in the closure
  local: boolean; // built from a path the user gave, not from a repository: never pinned
  requested: boolean;
}

// The toolchain the generation was made with: its versions and (since issue 16; absent in older
// manifests) the paths its wrappers run and put first on PATH.
export interface ManifestToolchain {
  otpRelease: string;
  ertsVersion: string;
  elixirVersion: string | null;
  paths?: ManifestToolchainPaths;
}

export interface ManifestToolchainPaths {
  erlRoot: string;
  elixir: string | null;
  rebar3: string | null;
  binDirs: string[];
}

export function manifestToolchain(tc: Toolchain): ManifestToolchain {
  return {
    otpRelease: tc.otpRelease,
    ertsVersion: tc.ertsVersion,
    elixirVersion: tc.elixirVersion,
    paths: { erlRoot: tc.paths.erlRoot, elixir: tc.paths.elixir, rebar3: tc.paths.rebar3, binDirs: [...tc.binDirs] },
  };
}

export interface ProfileManifest {
  format: number;
  generation: number;
  created: string; // ISO 8601; delete-generations --older-than reads it
  store: string; // the store whose items the generation links to (and which holds its roots)
  toolchain: ManifestToolchain;
  requested: RequestedPackage[]; // sorted by name
  packages: ProfilePackage[]; // sorted by name
}

export function manifestJson(m: ProfileManifest): string {
  return JSON.stringify(m, null, 2) + "\n";
}

export async function readManifest(generationDir: string): Promise<ProfileManifest> {
  const file = join(generationDir, MANIFEST_FILE);
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, "utf8"));
  } catch (err) {
    throw new BeamixError(`${file}: cannot read the generation's manifest: ${errorMessage(err)}`);
  }
  const m = value as Partial<ProfileManifest>;
  if (m === null || typeof m !== "object" || m.format !== FORMAT) {
    throw new BeamixError(`${file}: not a beamix profile manifest of format ${FORMAT}`);
  }
  if (typeof m.generation !== "number" || typeof m.store !== "string" || !Array.isArray(m.requested) || !Array.isArray(m.packages)) {
    throw new BeamixError(`${file}: malformed profile manifest (generation, store, requested and packages are required)`);
  }
  return m as ProfileManifest;
}

export function newManifest(fields: Omit<ProfileManifest, "format">): ProfileManifest {
  const byName = <T extends { name: string }>(xs: T[]) => [...xs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { format: FORMAT, ...fields, requested: byName(fields.requested), packages: byName(fields.packages) };
}
