// One number per build system, part of every derivation's identity. Bump it whenever that
// build system's phases change in a way that can change outputs (flags, environment, install
// layout), so everything built with the old phases gets a new hash and is rebuilt.
import type { BuildSystem } from "./definition.ts";

export const PHASES_VERSION: Readonly<Record<BuildSystem, number>> = {
  mix: 1,
  rebar3: 1,
  make: 1,
};
