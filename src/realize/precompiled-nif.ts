// What a build of a precompiled-NIF package (src/native/precompiled.ts) gets before it starts:
// with `precompiledNif: "download"`, the archive for its target, fetched outside the sandbox and
// verified against the package's checksum file, in the directory the package's Mix code reads
// first; with "build", what makes the package build from source instead (elixir_make's
// force_build for its app; rustler_precompiled would need cargo and vendored crates).
import { lstat, readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { BeamixError } from "../errors.ts";
import { cacheDir } from "../config/paths.ts";
import type { CompileConfig } from "../derivation/config.ts";
import type { Term } from "../erlang/term.ts";
import type { Definition } from "../derivation/definition.ts";
import { CACHE_ENV, chooseArchive, fetchArchive, parseChecksumFile, precompiledKindOfFiles } from "../native/precompiled.ts";
import { firstLine } from "../project/run-script.ts";
import { runReader } from "../project/reader-sandbox.ts";
import type { ToolchainFacts } from "../toolchain/detect.ts";

export interface PrecompiledForBuild {
  archiveDir?: { dir: string; envVar: string }; // bound read-only into the build, named by envVar
  compileConfig?: CompileConfig; // merged into the build's config
}

// The package's answers about its precompiled NIF (priv/elixir/read_precompiled.exs), read in
// the sandbox like any package file.
async function readPrecompiled(sourceDir: string, kind: string, where: string): Promise<Map<string, string>> {
  const out = await runReader(sourceDir, where, (p) => ["elixir", `${p.priv}/elixir/read_precompiled.exs`, p.pkg, kind], { MIX_ENV: "prod", MIX_TARGET: "host" });
  const values = new Map<string, string>();
  for (const line of out.output.split("\n")) {
    const m = /^BEAMIX-PRECOMPILED ([a-z_]+) ([A-Za-z0-9+/=]*)$/.exec(line);
    if (m) values.set(m[1], Buffer.from(m[2], "base64").toString("utf8"));
    else if (line.startsWith("BEAMIX-ERROR ")) throw new BeamixError(`${where}: cannot tell where its precompiled NIF comes from: ${out.hostPaths(line.slice(13).trim())}`);
  }
  if (values.size === 0) throw new BeamixError(`${where}: cannot tell where its precompiled NIF comes from: ${out.failure ?? "no answer"}: ${out.hostPaths(firstLine(out.output))}`);
  return values;
}

export async function precompiledForBuild(def: Definition, sourceDir: string, toolchain: ToolchainFacts): Promise<PrecompiledForBuild> {
  const mode = def.precompiledNif;
  if (mode === undefined) return {};
  const where = `${def.name} ${def.version}`;
  const found = precompiledKindOfFiles(await readdir(sourceDir));
  if (!found) throw new BeamixError(`${where}: precompiledNif is ${JSON.stringify(mode)}, but the package has no checksum.exs or checksum-Elixir.MODULE.exs beside its mix.exs`);
  if (mode === "build") {
    if (found.kind === "rustler_precompiled") {
      throw new BeamixError(`${where}: building a rustler_precompiled NIF from source needs a Rust toolchain and its vendored crates, which beamix does not provide; use precompiledNif "download"`);
    }
    // config :elixir_make, :force_build, APP: true
    const forceBuild: Term = { type: "list", items: [{ type: "tuple", items: [{ type: "atom", value: def.app }, { type: "atom", value: "true" }] }] };
    return { compileConfig: { elixir_make: { force_build: forceBuild } } };
  }
  const checksumPath = join(sourceDir, found.checksumFile);
  if (!(await lstat(checksumPath)).isFile()) throw new BeamixError(`${where}: ${found.checksumFile} is not a regular file`);
  const checksums = parseChecksumFile(await readFile(checksumPath, "utf8"), `${where}: ${found.checksumFile}`);
  const answers = await readPrecompiled(sourceDir, found.kind, where);
  const choice = chooseArchive(
    checksums,
    { kind: found.kind, app: answers.get("app") ?? def.app, version: answers.get("version") ?? def.version, crate: answers.get("crate"), triple: toolchain.targetTriple, nifVersion: toolchain.nifVersion },
    `${where}: ${found.checksumFile}`,
  );
  const template = found.kind === "elixir_make" ? answers.get("url") : answers.get("base_url");
  if (!template) throw new BeamixError(`${where}: its ${found.kind === "elixir_make" ? "make_precompiler_url" : "base_url"} is not a string`);
  const url = found.kind === "elixir_make" ? template.replaceAll("@{artefact_filename}", choice.file) : `${template.replace(/\/+$/, "")}/${choice.file}`;
  const path = await fetchArchive(cacheDir(), choice, url, where);
  return { archiveDir: { dir: dirname(path), envVar: CACHE_ENV[found.kind] } };
}
