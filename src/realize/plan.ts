// From what the user asked for to a plan: specs → resolution against Hex repositories →
// definitions (automatic, from each release's metadata), in dependency order, with each
// package's identity where it can be known before realizing (src/derivation/identity.ts).
// Nothing is built here. `beamix deps` makes the same kind of plan from a mix.lock
// (src/deps/plan-from-lock.ts); both are realized by realize.ts.
import { stat } from "node:fs/promises";
import { resolve as resolvePath } from "node:path";
import { BeamixError } from "../errors.ts";
import { readFile } from "node:fs/promises";
import type { HexRepo } from "../hex/registry/client.ts";
import { readTarball } from "../hex/tarball.ts";
import type { HexMetadata } from "../hex/metadata.ts";
import { resolve, type PackageSource, type ReleaseInfo, type ResolvedPackage, type RootRequirement } from "../resolve/resolve.ts";
import { rebar3PluginInputs } from "./build-inputs.ts";
import { hexPackageSource } from "../resolve/source.ts";
import { parsePackageSpec } from "../resolve/names.ts";
import { type Definition } from "../derivation/definition.ts";
import { definitionFromHexRelease } from "../derivation/definition-from-hex.ts";
import { applyOverride, isDefinitionFile, loadDefinitionDirs, loadDefinitionFile, overridePackage, type DefinitionOverride } from "../derivation/definition-file.ts";
import type { Derivation } from "../derivation/derivation.ts";
import type { CompileConfig } from "../derivation/config.ts";
import type { ConfigRead } from "../derivation/compile-env.ts";
import { packageIdentity } from "../derivation/identity.ts";
import { CompileEnvIndex } from "../store/compile-env-index.ts";
import type { Toolchain } from "../toolchain/detect.ts";
import { probeSystemInputs } from "../native/system-inputs.ts";
import { systemInputsOfTarball } from "../native/detect.ts";
import { precompiledKindOfFiles } from "../native/precompiled.ts";
import type { Store } from "../store/store.ts";
import { buildSystemsOfHexRelease, type BuildSystem } from "../build-system/registry.ts";

// Where a package's source comes from: a repository (fetched and verified on demand) or bytes
// the user gave us (a tarball, or a directory packed the way `beamix hex pack` does).
export type SourceRef = { kind: "hex"; repo: HexRepo } | { kind: "local"; tarball: Buffer; origin: string };

// What realizing a package needs, whichever command planned it.
export interface PackageToRealize {
  name: string;
  version: string;
  app: string;
  repo: string;
  definition: Definition;
  deps: string[]; // package names of the direct inputs present in the closure
  buildDeps?: string[]; // package names of its build-only inputs (rebar3 plugins), when it has some
  buildOnly?: true; // only some package's build input: never a runtime input or profile member
  // The other build systems its release's build_tools name, after the definition's own, tried in
  // turn when a build fails (an automatic definition's only; `deps` keeps Mix's one choice).
  fallbackBuildSystems?: BuildSystem[];
  source: SourceRef;
}

// The final identity of a package: known before realizing when nothing configured can change
// it, or when the store holds an item for one of the read sets it knows; otherwise set by
// realize once the package is found, substituted or built.
export interface Identified {
  derivation: Derivation;
  drvHash: string;
  itemPath: string;
  reads?: ConfigRead[]; // the compile-time config the build read, when known
}

export type PlannedPackage = PackageToRealize & Partial<Identified>;
export type IdentifiedPackage = PackageToRealize & Identified;

export interface Plan {
  roots: string[]; // package names the user asked for
  packages: Map<string, PlannedPackage>; // in dependency order (inputs first)
  projectConfig: CompileConfig; // the configured values packages may read at compile time
}

export const isIdentified = (p: PlannedPackage): p is IdentifiedPackage => p.drvHash !== undefined;

// A package of a realized plan (realize sets every identity it realizes).
export function identified(plan: Plan, name: string): IdentifiedPackage {
  const p = plan.packages.get(name);
  if (!p || !isIdentified(p)) throw new Error(`internal: ${name} has not been realized`);
  return p;
}

export interface PlanOptions {
  repos: ReadonlyMap<string, HexRepo>; // by repository name; "hexpm" is the default
  toolchain: Toolchain;
  store: Store;
  mixEnv?: string;
  projectConfig?: CompileConfig;
  definitionDirs?: readonly string[]; // -L DIR: definition modules that override automatic ones
  // Versions to keep (a profile's installed packages): hard pins for the resolver, applied to a
  // package only when it is in the closure. Definition files given as specs pin their own.
  locked?: ReadonlyMap<string, string>;
}

interface LocalPackage {
  metadata: HexMetadata;
  tarball: Buffer;
  innerChecksum: string;
  outerChecksum: string;
  origin: string;
}

// A spec names a path (package directory, tarball, definition file) rather than a Hex package.
export function looksLikePath(spec: string): boolean {
  return spec.includes("/") || spec.endsWith(".tar") || isDefinitionFile(spec) || spec === "." || spec === "..";
}

interface ReadSpec {
  root: RootRequirement;
  local?: LocalPackage;
  override?: DefinitionOverride;
}

// A spec is a path (package directory, tarball or definition file) when one exists by that name,
// else a Hex name with an optional requirement: `beacon`, `beacon@~> 1.1`, `erlang-beacon`.
async function readSpec(spec: string): Promise<ReadSpec> {
  const isPath = looksLikePath(spec);
  const st = isPath ? await stat(spec).catch(() => undefined) : undefined;
  if (isPath && !st) throw new BeamixError(`${spec}: no such file or directory`);
  if (!st) return { root: parsePackageSpec(spec) };
  const origin = resolvePath(spec);
  if (st.isFile() && isDefinitionFile(origin)) {
    const override = await loadDefinitionFile(origin);
    if (override.kind === "edit") return { root: { name: override.package }, override };
    const def = override.definition;
    if (def.source.type !== "hex") {
      throw new BeamixError(`${origin}: a definition file given as a spec must build a Hex release (source type hex); give a package directory itself to build it`);
    }
    return { root: { name: def.name, requirement: `== ${def.version}`, repo: def.source.repo }, override };
  }
  let local: LocalPackage;
  if (st.isDirectory()) {
    // Packing (and the project readers it needs) is loaded only for a package directory.
    const { packDirectory } = await import("../project/hex-pack.ts");
    const packed = await packDirectory(origin);
    local = { metadata: packed.metadata, tarball: packed.tarball, innerChecksum: packed.innerChecksum, outerChecksum: packed.outerChecksum, origin };
  } else {
    const tarball = await readFile(origin);
    const read = readTarball(tarball, { file: origin });
    local = { metadata: read.metadata, tarball, innerChecksum: read.innerChecksum, outerChecksum: read.outerChecksum, origin };
  }
  return { root: { name: local.metadata.name, requirement: `== ${local.metadata.version}` }, local };
}

function localRelease(p: LocalPackage): ReleaseInfo {
  return {
    version: p.metadata.version,
    innerChecksum: p.innerChecksum,
    outerChecksum: p.outerChecksum,
    dependencies: p.metadata.requirements.map((r) => ({ package: r.name, app: r.app, requirement: r.requirement, optional: r.optional, repository: r.repository })),
  };
}

// The resolver's view of the repositories, with the user's local packages in front of them.
function packageSource(repos: ReadonlyMap<string, HexRepo>, locals: ReadonlyMap<string, LocalPackage>): PackageSource {
  const remote = hexPackageSource([...repos.values()]);
  return {
    async releases(repoName, name) {
      const local = locals.get(name);
      return local ? [localRelease(local)] : remote.releases(repoName, name);
    },
  };
}

export async function planBuild(specs: readonly string[], opts: PlanOptions): Promise<Plan> {
  if (specs.length === 0) throw new BeamixError("nothing to build: give at least one package");
  const read = await Promise.all(specs.map(readSpec));
  const locals = new Map<string, LocalPackage>();
  for (const r of read) if (r.local) locals.set(r.local.metadata.name, r.local);
  // Definition files given as specs win over those found in definition directories. A whole
  // definition pins its package to its version.
  const overrides = await loadDefinitionDirs(opts.definitionDirs ?? []);
  for (const r of read) if (r.override) overrides.set(overridePackage(r.override), r.override);
  const locked = new Map<string, string>(opts.locked ?? []);
  for (const [name, o] of overrides) if (o.kind === "definition") locked.set(name, o.definition.version);
  const resolution = await resolve(
    read.map((r) => r.root),
    packageSource(opts.repos, locals),
    { locked },
  );

  // Every definition needs its release's metadata (build tools, files), which lives in the tarball.
  const metadata = new Map<string, { metadata: HexMetadata; source: SourceRef; tarball: () => Promise<Uint8Array> }>();
  const fetchMetadata = (ps: Iterable<ResolvedPackage>) =>
    Promise.all(
      [...ps].map(async (p) => {
        const local = locals.get(p.name);
        if (local) return metadata.set(p.name, { metadata: local.metadata, source: { kind: "local", tarball: local.tarball, origin: local.origin }, tarball: async () => local.tarball });
        const repo = opts.repos.get(p.repo)!;
        const fetched = await repo.tarball(p.name, p.version);
        metadata.set(p.name, { metadata: fetched.metadata, source: { kind: "hex", repo }, tarball: async () => (await repo.tarball(p.name, p.version)).bytes });
      }),
    );
  await fetchMetadata(resolution.packages.values());

  // Each package's definition: the automatic one (with the rebar3 plugins its configuration
  // names as build inputs), or what a definition file makes of it.
  const definitions = new Map<string, Definition>();
  const fallbacks = new Map<string, BuildSystem[]>();
  const define = async (r: ResolvedPackage): Promise<void> => {
    const { metadata: meta, tarball } = metadata.get(r.name)!;
    const automatic = definitionFromHexRelease(meta, {
      repo: r.repo,
      innerChecksum: r.release.innerChecksum,
      outerChecksum: r.release.outerChecksum,
      dependencies: r.release.dependencies,
    });
    if (opts.mixEnv) automatic.arguments.mixEnv = opts.mixEnv;
    const override = overrides.get(r.name);
    if (automatic.buildSystem === "rebar3" && override?.kind !== "definition") {
      const plugins = await rebar3PluginInputs(await tarball(), `${r.name} ${r.version}`, r.repo, { foreignDecidedElsewhere: override !== undefined });
      if (plugins.length > 0) automatic.buildInputs = plugins;
    }
    if (override?.kind !== "definition") {
      const system = systemInputsOfTarball(await tarball(), meta);
      if (system.length > 0) automatic.systemInputs = system;
      if (precompiledKindOfFiles(meta.files)) automatic.precompiledNif = "download";
    }
    const definition = override ? await applyOverride(override, automatic) : automatic;
    if (!override) {
      const others = buildSystemsOfHexRelease(meta.buildTools, meta.files).filter((b) => b !== definition.buildSystem);
      if (others.length > 0) fallbacks.set(r.name, others);
    }
    if (definition.source.type === "hex" && automatic.source.type === "hex" && definition.source.innerChecksum !== automatic.source.innerChecksum) {
      throw new BeamixError(`${override!.file}: source checksum ${definition.source.innerChecksum} does not match the registry's ${automatic.source.innerChecksum} for ${r.name} ${r.version}`);
    }
    definitions.set(r.name, definition);
  };
  await Promise.all([...resolution.packages.values()].map(define));

  // Build-only inputs are resolved apart from the runtime closure (as rebar3 installs plugins
  // apart from dependencies), with the versions already chosen pinned, until nothing new turns
  // up (a plugin may itself name plugins). They need not be named by the user.
  const all = new Map(resolution.packages);
  const buildOnly = new Set<string>();
  for (let fresh = [...resolution.packages.values()]; fresh.length > 0; ) {
    const wanted = new Map<string, RootRequirement>();
    for (const p of fresh) {
      for (const b of definitions.get(p.name)!.buildInputs ?? []) if (!all.has(b.name) && !wanted.has(b.name)) wanted.set(b.name, { name: b.name, app: b.app, repo: b.repo });
    }
    if (wanted.size === 0) break;
    const pins = new Map(locked);
    for (const q of all.values()) pins.set(q.name, q.version);
    const more = await resolve([...wanted.values()], packageSource(opts.repos, locals), { locked: pins });
    fresh = [...more.packages.values()].filter((q) => !all.has(q.name));
    for (const q of fresh) {
      all.set(q.name, q);
      buildOnly.add(q.name);
    }
    await fetchMetadata(fresh);
    await Promise.all(fresh.map(define));
  }

  const packages = new Map<string, PlannedPackage>();
  const visit = async (name: string, path: string[]): Promise<PlannedPackage> => {
    const done = packages.get(name);
    if (done) return done;
    if (path.includes(name)) throw new BeamixError(`dependency cycle: ${[...path, name].join(" → ")}`);
    const r = all.get(name)!;
    const { source } = metadata.get(name)!;
    const definition = definitions.get(name)!;
    const override = overrides.get(name);
    // The definition's inputs say what the build gets: optional ones only when in the closure.
    const closure = buildOnly.has(name) ? all : resolution.packages;
    const deps: PlannedPackage[] = [];
    for (const input of definition.inputs) {
      if (closure.has(input.name)) deps.push(await visit(input.name, [...path, name]));
      else if (!input.optional) {
        throw new BeamixError(`${override?.file ?? `${name} ${r.version}`}: input ${input.name} is not in the closure; add it to what you build`);
      }
    }
    const buildDeps: PlannedPackage[] = [];
    for (const input of definition.buildInputs ?? []) buildDeps.push(await visit(input.name, [...path, name]));
    const planned: PlannedPackage = { name, version: r.version, app: definition.app, repo: r.repo, definition, deps: deps.map((d) => d.name), source };
    if (buildDeps.length > 0) planned.buildDeps = buildDeps.map((d) => d.name);
    if (buildOnly.has(name)) planned.buildOnly = true;
    if (fallbacks.has(name)) planned.fallbackBuildSystems = fallbacks.get(name);
    packages.set(name, planned);
    return planned;
  };
  for (const name of [...resolution.packages.keys()].sort()) await visit(name, []);
  const roots = read.map((r) => resolution.aliases.get(r.root.name) ?? r.root.name);
  const plan: Plan = { roots, packages, projectConfig: opts.projectConfig ?? {} };
  await identifyKnown(plan, opts.toolchain, opts.store);
  return plan;
}

// Sets the identity of every package whose identity can be known without realizing anything
// (see Identified), in dependency order: a package whose input is unknown is unknown too.
export async function identifyKnown(plan: Plan, toolchain: Toolchain, store: Store): Promise<void> {
  const index = new CompileEnvIndex(store);
  for (const p of plan.packages.values()) {
    if (isIdentified(p)) continue;
    const inputs = p.deps.map((d) => plan.packages.get(d)!);
    const buildInputs = (p.buildDeps ?? []).map((d) => plan.packages.get(d)!);
    if (!inputs.every(isIdentified) || !buildInputs.every(isIdentified)) continue;
    // A missing system input leaves the package unidentified; realizing it says which is missing.
    const declared = p.definition.systemInputs;
    const system = declared ? await probeSystemInputs(declared, p.name).catch(() => undefined) : undefined;
    if (declared && !system) continue;
    const id = packageIdentity({ definition: p.definition, toolchain, inputs: new Map(inputs.map((d) => [d.name, d.drvHash])), projectConfig: plan.projectConfig, system, buildInputs: new Map(buildInputs.map((d) => [d.name, d.drvHash])) });
    const candidates = id.configDependent ? await index.readSets(id.basisHash) : [[]];
    for (const reads of candidates) {
      const f = id.final(reads);
      const itemPath = store.itemPath(f.drvHash, p.name, p.version);
      if (id.configDependent && !store.isValid(itemPath)) continue;
      plan.packages.set(p.name, { ...p, derivation: f.derivation, drvHash: f.drvHash, itemPath, ...(id.configDependent ? { reads: f.reads } : {}) });
      break;
    }
  }
}

// The packages a profile or a closure holds: all but those that are only build inputs.
export function runtimePackageNames(plan: Plan): string[] {
  return [...plan.packages.values()].filter((p) => !p.buildOnly).map((p) => p.name);
}

// What a package's build tool gets besides its inputs: each build input (rebar3 plugin) with its
// own input closure, each once, inputs before dependents.
export function buildInputClosure(plan: Plan, name: string): PlannedPackage[] {
  const seen = new Map<string, PlannedPackage>();
  for (const b of plan.packages.get(name)!.buildDeps ?? []) {
    for (const d of [...inputClosure(plan, b), plan.packages.get(b)!]) if (!seen.has(d.name)) seen.set(d.name, d);
  }
  return [...seen.values()];
}

// The whole input closure of a planned package, each once, inputs before dependents.
export function inputClosure(plan: Plan, name: string): PlannedPackage[] {
  const seen = new Map<string, PlannedPackage>();
  const walk = (n: string) => {
    for (const d of plan.packages.get(n)!.deps) {
      if (seen.has(d)) continue;
      walk(d);
      seen.set(d, plan.packages.get(d)!);
    }
  };
  walk(name);
  return [...seen.values()];
}
