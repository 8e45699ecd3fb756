// The typed view of a Hex package's metadata.config.
import type { Term } from "../erlang/term.ts";

export interface HexRequirement {
  name: string; // Hex package name
  app: string; // OTP application name (often equal to name)
  requirement: string; // Elixir version requirement, e.g. "~> 1.0"
  optional: boolean;
  repository: string; // "hexpm" unless the dependency lives elsewhere
}

export interface HexMetadata {
  name: string;
  version: string;
  app: string;
  description?: string;
  elixir?: string;
  files: string[];
  licenses: string[];
  buildTools: string[];
  requirements: HexRequirement[];
  links: [string, string][];
  // Keys beamix does not model (extra, maintainers, ...), kept so a read/write round-trips.
  other: [string, Term][];
}
