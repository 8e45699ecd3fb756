// Reading a package directory for packing: the metadata Hex would put into metadata.config and
// the files that go into the tarball, in a fixed order.
//
// Which reader applies, first match wins:
//   mix.exs                                  -> mix    (authoritative when present, e.g. a
//                                                       packaging shim next to rebar.config)
//   erlang.mk                                -> make
//   rebar.config or rebar.config.script      -> rebar3
//   Makefile and ebin/*.app                  -> make
//   src/*.app.src                            -> rebar3
// `buildTool` names the reader that was used; metadata.buildTools says what builds the package
// (vec_erl's shim is read as "mix" and packs a rebar3 package). When a mix.exs or an erlang.mk
// Makefile wins over a rebar.config whose src/APP.app.src says another version, one of them is
// stale (eredis and fast_xml were packed with their mix.exs's old version): refused.
import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { BeamixError } from "../errors.ts";
import type { HexMetadata } from "../hex/metadata.ts";
import { readErlangMkPackage } from "./erlang-mk-project.ts";
import { glob, packageEntries, type PackageFile } from "./files.ts";
import { readMixPackage } from "./mix-project.ts";
import { appSrcVersion, readRebar3Package } from "./rebar3-project.ts";
import { buildSystemForPacking, type BuildSystem } from "../build-system/registry.ts";

// How each build system's project directory is read into Hex metadata and a file list.
const PROJECT_READERS: Record<BuildSystem, (dir: string) => ReturnType<typeof readMixPackage>> = {
  mix: readMixPackage,
  rebar3: readRebar3Package,
  make: readErlangMkPackage,
};

export type { PackageFile } from "./files.ts";

export interface PackageSource {
  metadata: HexMetadata;
  // Tarball members in metadata.files order: every regular file, plus directories that are
  // empty on disk (mode 0o040xxx; see PackageFile). Non-empty directories are in
  // metadata.files only.
  files: PackageFile[];
  buildTool: BuildSystem;
}

async function has(dir: string, pattern: string): Promise<boolean> {
  return (await glob(dir, pattern, { matchDot: false })).length > 0;
}

export async function detectBuildTool(dir: string): Promise<BuildSystem> {
  const buildSystem = await buildSystemForPacking((pattern) => has(dir, pattern));
  if (buildSystem !== undefined) return buildSystem;
  throw new BeamixError(
    `${dir} is not a package directory: no mix.exs, rebar.config, erlang.mk Makefile with ebin/APP.app, or src/APP.app.src`,
  );
}

export async function readPackageDir(dir: string): Promise<PackageSource> {
  const abs = resolve(dir);
  const st = await stat(abs).catch(() => null);
  if (st === null || !st.isDirectory()) throw new BeamixError(`${dir} is not a directory`);
  const buildTool = await detectBuildTool(abs);
  const read = PROJECT_READERS[buildTool];
  const { metadata, paths } = await read(abs);
  if (buildTool !== "rebar3" && ((await has(abs, "rebar.config")) || (await has(abs, "rebar.config.script")))) {
    const other = await appSrcVersion(abs);
    if (other !== undefined && other !== metadata.version) {
      const by = buildTool === "mix" ? "mix.exs" : "the Makefile";
      throw new BeamixError(`${dir}: ${by} says version ${metadata.version}, but rebar.config's src/${metadata.app}.app.src says ${other}; one of them is stale: make them agree`);
    }
  }
  const files = await packageEntries(abs, paths);
  if (files.length === 0) throw new BeamixError(`${join(dir)}: the package has no files`);
  return { metadata, files, buildTool };
}
