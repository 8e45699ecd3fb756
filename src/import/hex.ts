// `beamix import hex NAME[@REQ]`: definition modules for Hex releases, one per package, that a
// definition directory (-L DIR) loads in place of the automatic definitions.
//
// The version is the one `beamix build NAME[@REQ]` would pick: the resolver chooses it for the
// whole closure (and with `recursive`, every package of that closure is imported). Each
// module holds exactly the automatic definition, built the way the planner builds it, so an
// unedited import gives the same derivations, hashes and store paths as no import at all;
// whatever the user then edits changes that package and its dependents only.
import { readFileSync } from "node:fs";
import { systemInputsOfTarball } from "../native/detect.ts";
import { rebar3PluginInputs } from "../realize/build-inputs.ts";
import { precompiledKindOfFiles } from "../native/precompiled.ts";
import { fileURLToPath } from "node:url";
import { type Definition } from "../derivation/definition.ts";
import { definitionFromHexRelease } from "../derivation/definition-from-hex.ts";
import type { HexMetadata } from "../hex/metadata.ts";
import type { HexRepo } from "../hex/registry/client.ts";
import { tarballResource } from "../hex/registry/paths.ts";
import { parsePackageSpec } from "../resolve/names.ts";
import { resolve, type ResolvedPackage } from "../resolve/resolve.ts";
import { hexPackageSource } from "../resolve/source.ts";
import { renderDefinitionModule } from "./render.ts";

export interface HexImportOptions {
  repos: ReadonlyMap<string, HexRepo>; // by repository name; "hexpm" is the default
  recursive?: boolean; // import every package of the closure, not only the one asked for
  // Where the modules' `import type { Definition }` points (default: this beamix's
  // src/derivation/definition.ts); null writes modules with no import at all.
  typesPath?: string | null;
}

export interface ImportedPackage {
  name: string;
  version: string;
  repo: string;
  definition: Definition; // what the module's default export validates to
  sourceUrl: string; // where the tarball was fetched from
  text: string; // the module
}

export const DEFINITION_TYPES_PATH = fileURLToPath(new URL("../derivation/definition.ts", import.meta.url));
const BEAMIX_VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

// The planner's default MIX_ENV (`beamix build --mix-env`, default prod). A whole definition
// carries its own, so the import writes the one an unedited build would use.
const DEFAULT_MIX_ENV = "prod";

// What the packaged files say about native code. The build runs make and the C compiler found
// on the build's PATH whether or not nativeInputs names them; naming them only changes the
// hash, so the import leaves nativeInputs as the automatic definition has it and says so.
export function nativeToolsNote(metadata: Pick<HexMetadata, "files">, buildSystem: Definition["buildSystem"]): string | undefined {
  const files = metadata.files.map((f) => f.replace(/^\.\//, ""));
  const has = (name: string) => files.some((f) => f === name || f.startsWith(`${name}/`));
  const shipped: string[] = [];
  const tools: string[] = [];
  if (has("c_src")) {
    shipped.push("c_src/");
    tools.push("a C compiler");
  }
  const makefile = ["Makefile", "GNUmakefile", "makefile"].find((m) => files.includes(m));
  if (makefile && (buildSystem !== "make" || shipped.length > 0)) {
    shipped.push(makefile);
    tools.unshift("make");
  }
  if (files.includes("CMakeLists.txt")) {
    shipped.push("CMakeLists.txt");
    tools.unshift("cmake");
  }
  if (shipped.length === 0) return undefined;
  return (
    `Native code: the package ships ${shipped.join(" and ")}, so its build likely runs ${tools.join(" and ")} ` +
    `from the build's PATH (the toolchain's bin directories, /usr/bin, /bin). The automatic definition ` +
    `names no native inputs and neither does this one; naming tools here (e.g. "make", "gcc") records ` +
    `them in the derivation and so changes its hash.`
  );
}

async function moduleFor(p: ResolvedPackage, metadata: HexMetadata, tarball: Uint8Array, repo: HexRepo, typesPath: string | null): Promise<ImportedPackage> {
  // Exactly what planBuild derives for this release.
  const definition = definitionFromHexRelease(metadata, {
    repo: p.repo,
    innerChecksum: p.release.innerChecksum,
    outerChecksum: p.release.outerChecksum,
    dependencies: p.release.dependencies,
  });
  definition.arguments.mixEnv = DEFAULT_MIX_ENV;
  // As planBuild adds them (src/native/): the system libraries its C sources include, and
  // whether it installs a precompiled NIF.
  const system = systemInputsOfTarball(tarball, metadata);
  if (system.length > 0) definition.systemInputs = system;
  if (precompiledKindOfFiles(metadata.files)) definition.precompiledNif = "download";
  // As planBuild adds them: the rebar3 plugins its configuration names.
  if (definition.buildSystem === "rebar3") {
    const plugins = await rebar3PluginInputs(tarball, `${p.name} ${p.version}`, p.repo);
    if (plugins.length > 0) definition.buildInputs = plugins;
  }
  const sourceUrl = repo.resourceUrl(tarballResource(p.name, p.version));
  const text = renderDefinitionModule(definition, {
    title: `${p.name} ${p.version}, a Hex package (repository ${p.repo}), as a beamix definition.`,
    description: metadata.description,
    licenses: metadata.licenses,
    links: metadata.links,
    sourceUrl,
    buildTools: metadata.buildTools,
    requirements: new Map(p.release.dependencies.map((d) => [d.package, d.requirement])),
    nativeToolsNote: nativeToolsNote(metadata, definition.buildSystem),
    generatedBy:
      `Generated by beamix ${BEAMIX_VERSION} (beamix import hex). Edit freely, then build with ` +
      `\`beamix build -L DIR ${p.name}\`; unedited, it gives the same derivation as beamix's automatic definition.`,
    typesPath,
  });
  return { name: p.name, version: p.version, repo: p.repo, definition, sourceUrl, text };
}

// Resolves SPEC (NAME, NAME@REQ, or an alias such as elixir-NAME), fetches each release's
// tarball (verified against the signed registry, cached) for its metadata, and returns the
// modules, by package name. Nothing is written.
export async function importHex(spec: string, opts: HexImportOptions): Promise<ImportedPackage[]> {
  const root = parsePackageSpec(spec);
  const resolution = await resolve([root], hexPackageSource([...opts.repos.values()]));
  const rootName = resolution.aliases.get(root.name) ?? root.name;
  const wanted = opts.recursive ? [...resolution.packages.values()] : [resolution.packages.get(rootName)!];
  const typesPath = opts.typesPath === undefined ? DEFINITION_TYPES_PATH : opts.typesPath;
  const imported = await Promise.all(
    wanted.map(async (p) => {
      const repo = opts.repos.get(p.repo)!; // the resolver read the release from it
      const fetched = await repo.tarball(p.name, p.version);
      return moduleFor(p, fetched.metadata, fetched.bytes, repo, typesPath);
    }),
  );
  return imported.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
