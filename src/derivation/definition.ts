// A definition: what to build and how, as plain data. Derived automatically from Hex metadata
// (definition-from-hex.ts) or read from a definition file and checked (definition-validate.ts),
// which overrides the automatic one.
import type { CompileConfig } from "./config.ts";
import type { BuildSystem } from "../build-system/registry.ts";
import type { SystemInput } from "../native/system-inputs.ts";

export type Source =
  // innerChecksum (SHA-256 of VERSION ‖ metadata.config ‖ contents.tar.gz) is what the build
  // consumes; outerChecksum (of the whole .tar) is checked when fetching and is absent for
  // releases from very old registries.
  | { type: "hex"; repo: string; url?: string; innerChecksum: string; outerChecksum?: string }
  // treeHash: the content hash of the directory, computed by whoever reads it.
  | { type: "dir"; path: string; treeHash: string }
  | { type: "git"; url: string; commit: string };

// A runtime dependency, named by Hex package. An optional one is an input only when something
// else puts it in the closure (Mix semantics).
export interface Input {
  name: string;
  app: string;
  optional: boolean;
  repo: string;
}

// Exactly one of `run` (an argv, no shell) or `shell` (a /bin/sh script).
export interface PhaseStep {
  run?: string[];
  shell?: string;
}

export type PhaseOverride =
  | ({ op: "add"; name: string; before?: string; after?: string } & PhaseStep)
  | ({ op: "replace"; name: string } & PhaseStep)
  | { op: "remove"; name: string };

// A patch applied to the unpacked source before building. Its identity is its SHA-256; `file`
// (relative to the definition file) or `text` says where the bytes are.
export interface Patch {
  sha256: string;
  strip: number; // patch -pN
  file?: string;
  text?: string;
}

export interface BuildArguments {
  mixEnv: string;
  compileConfig: CompileConfig; // per app: key -> Erlang term
  env: Record<string, string>;
  check: boolean; // run the package's tests after building
  phases: PhaseOverride[]; // applied in order to the build system's phases
  patches: Patch[]; // applied in order
}

export interface Definition {
  name: string; // Hex package name
  version: string;
  app: string; // OTP application name
  source: Source;
  buildSystem: BuildSystem;
  inputs: Input[];
  // Build-only packages: rebar3 plugins (read from the package's rebar.config at plan time, or
  // named by a definition file). Realized like any package and handed to the build tool, they
  // are part of the derivation but never a runtime input, a reference or a profile member.
  // Absent when there are none.
  buildInputs?: Input[];
  nativeInputs: string[]; // build-only tools, e.g. "make", "gcc", or "elixir"/"rebar3" for phases that call them
  // Host libraries the C code builds against (src/native/system-inputs.ts); absent when none.
  systemInputs?: SystemInput[];
  // For a package that installs a precompiled NIF while it compiles (elixir_make's
  // precompiler, rustler_precompiled; src/native/precompiled.ts): "download" fetches the archive
  // for the build's target before the build, "build" builds the NIF from source. Absent for
  // every other package.
  precompiledNif?: "download" | "build";
  arguments: BuildArguments;
}

