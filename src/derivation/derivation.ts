// A derivation: a definition resolved against a toolchain, the derivations of its inputs and
// the compile-time config it is built with. Its hash (derivationHash) is the package's
// identity everywhere: store item name, cache key, log name.
//
// What is hashed is exactly what can change the build output, and nothing else:
// - the source's content identity (Hex inner checksum, directory tree hash, git commit), not
//   where it comes from (repository name, mirror URL, local path, git URL);
// - the toolchain facts (OTP, ERTS, NIF version, target triple, and the Elixir or rebar3
//   version when the build uses them), never where the toolchain is installed;
// - the inputs' derivation hashes (so any change below changes everything above);
// - build arguments, the effective compile-time config and environment, and the build
//   system's phases version.
// No time, no store path, no host path.
import { BeamixError } from "../errors.ts";
import { canonicalSha256, type CanonicalValue } from "./canonical.ts";
import { canonicalConfig, mergeConfig, type CompileConfig } from "./config.ts";
import { type Definition, type Source } from "./definition.ts";
import { validateDefinition } from "./definition-validate.ts";
import { buildSystemModule } from "../build-system/registry.ts";
import type { ToolchainFacts } from "../toolchain/detect.ts";
import type { SystemInputFound } from "../native/system-inputs.ts";

export type { ToolchainFacts };

// The part of the toolchain a given derivation depends on.
export interface ToolchainSummary {
  otpRelease: string;
  otpVersion: string;
  ertsVersion: string;
  nifVersion: string;
  targetTriple: string;
  elixirVersion?: string;
  rebar3Version?: string;
}

export interface Derivation {
  definition: Definition;
  toolchain: ToolchainSummary;
  inputs: Record<string, string>; // package name -> derivation hash, for the inputs present in the closure
  buildInputs?: Record<string, string>; // the same for the definition's buildInputs; absent when it has none
  compileConfig: CompileConfig; // effective
  env: Record<string, string>; // declared environment of the build
  phasesVersion: number;
  // The definition's system inputs as found on the host (src/native/system-inputs.ts), in
  // its order; absent when it declares none.
  system?: SystemInputFound[];
}

export function toolchainSummary(tc: ToolchainFacts, def: Pick<Definition, "name" | "version" | "buildSystem" | "nativeInputs">): ToolchainSummary {
  const s: ToolchainSummary = {
    otpRelease: tc.otpRelease,
    otpVersion: tc.otpVersion,
    ertsVersion: tc.ertsVersion,
    nifVersion: tc.nifVersion,
    targetTriple: tc.targetTriple,
  };
  // The tools the build system runs; a definition whose phases call another one names it in
  // nativeInputs ("elixir", "rebar3"), which brings its version into the hash.
  const tools = new Set<string>(buildSystemModule(def.buildSystem).tools);
  for (const n of def.nativeInputs) if (n === "elixir" || n === "rebar3") tools.add(n);
  if (tools.has("elixir")) {
    if (tc.elixirVersion === null) throw new BeamixError(`${def.name} ${def.version} needs Elixir to build, but the toolchain has none`);
    s.elixirVersion = tc.elixirVersion;
  }
  if (tools.has("rebar3")) {
    if (tc.rebar3Version === null) throw new BeamixError(`${def.name} ${def.version} needs rebar3 to build, but the toolchain has none`);
    s.rebar3Version = tc.rebar3Version;
  }
  return s;
}

// The compile-time config a package is built with: the definition's own config for its app
// (and any other app it configures), with the project's config for those apps merged on top,
// as Mix compiles dependencies with the top-level project's config. Only the listed apps
// count, so unrelated project config does not change this package's identity. Apps left
// with no keys are dropped.
export function effectiveCompileConfig(def: Definition, projectConfig: CompileConfig = {}, extraApps: readonly string[] = []): CompileConfig {
  const apps = new Set([def.app, ...Object.keys(def.arguments.compileConfig), ...extraApps]);
  const own: CompileConfig = {};
  const project: CompileConfig = {};
  for (const app of apps) {
    if (def.arguments.compileConfig[app]) own[app] = def.arguments.compileConfig[app];
    if (projectConfig[app]) project[app] = projectConfig[app];
  }
  const merged = mergeConfig(own, project);
  for (const app of Object.keys(merged)) if (Object.keys(merged[app]).length === 0) delete merged[app];
  return merged;
}

const HASH = /^[0-9a-f]{64}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface DerivationOptions {
  definition: Definition;
  toolchain: ToolchainFacts;
  // Derivation hashes of the inputs present in the closure, by package name: every required
  // input of the definition, and each optional one that the closure contains.
  inputs: Readonly<Record<string, string>> | ReadonlyMap<string, string>;
  // Derivation hashes of the definition's build-only inputs (every one is required).
  buildInputs?: Readonly<Record<string, string>> | ReadonlyMap<string, string>;
  projectConfig?: CompileConfig;
  configApps?: readonly string[]; // more apps whose project config this package reads
  env?: Readonly<Record<string, string>>; // added to (and overriding) the definition's env
  system?: readonly SystemInputFound[]; // the definition's system inputs as found, in its order
}

export function createDerivation(opts: DerivationOptions): Derivation {
  const def = validateDefinition(opts.definition, `definition of ${opts.definition.name} ${opts.definition.version}`);
  const where = `${def.name} ${def.version}`;
  const given = new Map(opts.inputs instanceof Map ? opts.inputs : Object.entries(opts.inputs));
  const inputs: Record<string, string> = {};
  for (const input of def.inputs) {
    const h = given.get(input.name);
    if (h === undefined) {
      if (!input.optional) throw new BeamixError(`${where}: no derivation given for its input ${input.name}`);
      continue;
    }
    if (!HASH.test(h)) throw new BeamixError(`${where}: the derivation hash given for ${input.name} is not 64 lowercase hex digits`);
    inputs[input.name] = h;
    given.delete(input.name);
  }
  if (given.size > 0) throw new BeamixError(`${where}: ${[...given.keys()].sort().join(", ")} given as inputs but not declared by the definition`);
  const givenBuild = new Map(opts.buildInputs instanceof Map ? opts.buildInputs : Object.entries(opts.buildInputs ?? {}));
  const buildInputs: Record<string, string> = {};
  for (const input of def.buildInputs ?? []) {
    const h = givenBuild.get(input.name);
    if (h === undefined) throw new BeamixError(`${where}: no derivation given for its build input ${input.name}`);
    if (!HASH.test(h)) throw new BeamixError(`${where}: the derivation hash given for ${input.name} is not 64 lowercase hex digits`);
    buildInputs[input.name] = h;
    givenBuild.delete(input.name);
  }
  if (givenBuild.size > 0) throw new BeamixError(`${where}: ${[...givenBuild.keys()].sort().join(", ")} given as build inputs but not declared by the definition`);

  const env: Record<string, string> = { ...def.arguments.env };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (!ENV_NAME.test(k) || k === "MIX_ENV" || typeof v !== "string" || v.includes("\0")) {
      throw new BeamixError(`${where}: cannot set environment variable ${JSON.stringify(k)} for the build`);
    }
    env[k] = v;
  }
  const d: Derivation = {
    definition: def,
    toolchain: toolchainSummary(opts.toolchain, def),
    inputs,
    ...(Object.keys(buildInputs).length > 0 ? { buildInputs } : {}),
    compileConfig: effectiveCompileConfig(def, opts.projectConfig, opts.configApps),
    env,
    phasesVersion: buildSystemModule(def.buildSystem).phasesVersion,
  };
  const declared = def.systemInputs ?? [];
  if (declared.length > 0) {
    const found = opts.system ?? [];
    const same = (a: object, b: object) => JSON.stringify(Object.entries(a).filter(([k]) => k !== "version").sort()) === JSON.stringify(Object.entries(b).sort());
    if (found.length !== declared.length || !found.every((f, i) => same(f, declared[i]))) throw new BeamixError(`${where}: its system inputs have not been looked for on this host`);
    d.system = found.map((f) => ({ ...f }));
  }
  return d;
}

function sourceIdentity(s: Source): CanonicalValue {
  switch (s.type) {
    case "hex":
      return { type: "hex", innerChecksum: s.innerChecksum };
    case "dir":
      return { type: "dir", treeHash: s.treeHash };
    case "git":
      return { type: "git", commit: s.commit };
  }
}

// The value whose canonical JSON is hashed. Lists that are sets (inputs, native inputs) are
// sorted; lists whose order means something (phase overrides, patches) are kept in order.
// Build-only inputs appear only when there are some, so every other identity stays as it was.
export function derivationIdentity(d: Derivation): CanonicalValue {
  const def = d.definition;
  const a = def.arguments;
  const byName = (x: { name: string }, y: { name: string }) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0);
  return {
    format: "beamix-derivation/2",
    name: def.name,
    version: def.version,
    app: def.app,
    source: sourceIdentity(def.source),
    buildSystem: def.buildSystem,
    phasesVersion: d.phasesVersion,
    // Only the inputs present: an optional dependency the closure lacks changes nothing the
    // build sees, so every command (build, install, deps) gives the same build one identity.
    declaredInputs: [...def.inputs].filter((i) => Object.hasOwn(d.inputs, i.name)).sort(byName).map((i) => ({ name: i.name, app: i.app, optional: i.optional })),
    nativeInputs: [...def.nativeInputs].sort(),
    mixEnv: a.mixEnv,
    check: a.check,
    phases: a.phases.map((p) => ({ ...p }) as CanonicalValue),
    patches: a.patches.map((p) => ({ sha256: p.sha256, strip: p.strip })),
    toolchain: { ...d.toolchain },
    inputs: { ...d.inputs },
    // The definition's own config always counts (its reads may bypass compile_env); the
    // effective config counts at the keys the build reads (compile-env.ts).
    definitionConfig: canonicalConfig(a.compileConfig),
    compileConfig: canonicalConfig(d.compileConfig),
    env: { ...d.env },
    // Present only when declared, so a derivation without any keeps its hash.
    ...(d.system ? { systemInputs: d.system.map((f) => ({ ...f })) } : {}),
    ...(def.precompiledNif ? { precompiledNif: def.precompiledNif } : {}),
    ...(def.buildInputs && def.buildInputs.length > 0
      ? { declaredBuildInputs: [...def.buildInputs].sort(byName).map((i) => ({ name: i.name, app: i.app })), buildInputs: { ...d.buildInputs } }
      : {}),
  };
}

// SHA-256 (lowercase hex) of the canonical JSON (src/derivation/canonical.ts) of the identity.
export function derivationHash(d: Derivation): string {
  return canonicalSha256(derivationIdentity(d));
}
