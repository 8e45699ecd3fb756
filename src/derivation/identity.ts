// The one identity of a package build, whatever the command (build, install, publish, deps):
// the same definition, toolchain, inputs and configured values give the same derivation hash.
//
// A build's output depends on the compile-time config only at the keys it reads
// (compile-env.ts), so the identity is found in two steps: the basis (everything but the
// configured values) and then, once the read set is known, the final derivation with the
// configured values at exactly those reads. When nothing is configured at all (the usual
// `beamix build` and `install`), every read set gives the same final derivation, so the
// identity is known before anything is built or looked up.
import { mergeConfig, type CompileConfig } from "./config.ts";
import { basisHashOf, restrictConfig, sortReads, type ConfigRead } from "./compile-env.ts";
import { createDerivation, derivationHash, derivationIdentity, type Derivation } from "./derivation.ts";
import type { Definition } from "./definition.ts";
import type { ToolchainFacts } from "../toolchain/detect.ts";
import type { SystemInputFound } from "../native/system-inputs.ts";

export interface FinalIdentity {
  derivation: Derivation;
  drvHash: string;
  reads: ConfigRead[];
}

export interface PackageIdentity {
  basis: Derivation; // compileConfig empty
  basisHash: string; // names the compile-env read sets and the build lock
  configured: CompileConfig; // the definition's own config with the project's merged over it
  // True when some value is configured: the final identity then depends on the read set.
  configDependent: boolean;
  // What a build runs with (all configured values, since the reads are not known before).
  build: { derivation: Derivation; drvHash: string };
  final(reads: readonly ConfigRead[]): FinalIdentity;
}

export interface IdentityOptions {
  definition: Definition;
  toolchain: ToolchainFacts;
  inputs: ReadonlyMap<string, string>; // final derivation hashes of the inputs present
  buildInputs?: ReadonlyMap<string, string>; // final derivation hashes of the build-only inputs
  projectConfig?: CompileConfig;
  system?: readonly SystemInputFound[]; // the definition's system inputs as found on this host
}

export function packageIdentity(opts: IdentityOptions): PackageIdentity {
  const created = createDerivation({ definition: opts.definition, toolchain: opts.toolchain, inputs: opts.inputs, system: opts.system, ...(opts.buildInputs ? { buildInputs: opts.buildInputs } : {}) });
  const basis: Derivation = { ...created, compileConfig: {} };
  const configured = mergeConfig(created.definition.arguments.compileConfig, opts.projectConfig ?? {});
  for (const app of Object.keys(configured)) if (Object.keys(configured[app]).length === 0) delete configured[app];
  const configDependent = Object.keys(configured).length > 0;
  const buildDerivation: Derivation = { ...basis, compileConfig: configured };
  return {
    basis,
    basisHash: basisHashOf(derivationIdentity(basis)),
    configured,
    configDependent,
    build: { derivation: buildDerivation, drvHash: derivationHash(buildDerivation) },
    final(reads) {
      const sorted = sortReads(reads);
      const derivation: Derivation = { ...basis, compileConfig: restrictConfig(configured, sorted) };
      return { derivation, drvHash: derivationHash(derivation), reads: sorted };
    },
  };
}

// The basis of a final derivation (its configured values dropped): what a store item's
// compile-env record names, found again from the derivation alone.
export function basisHashOfDerivation(d: Derivation): string {
  return basisHashOf(derivationIdentity({ ...d, compileConfig: {} }));
}
