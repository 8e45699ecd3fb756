// The registry's records as beamix reads them (decoded by proto.ts, or read back from the
// revalidation cache, package-cache.ts). Types and constants only: importing them does not load
// the protobuf library.

// The retirement reasons, in wire order (0 = other).
export const RETIREMENT_REASONS = ["other", "invalid", "security", "deprecated", "renamed"] as const;
export type RetirementReason = (typeof RETIREMENT_REASONS)[number];

export interface Signed {
  payload: Buffer;
  signature: Buffer;
}

export interface Timestamp {
  seconds: number;
  nanos: number;
}

export interface NamesEntry {
  name: string;
  updatedAt?: Timestamp;
}

export interface Names {
  repository: string;
  packages: NamesEntry[];
}

export interface VersionsEntry {
  name: string;
  versions: string[];
  retired: number[]; // indexes into `versions`
}

export interface Versions {
  repository: string;
  packages: VersionsEntry[];
}

export interface RetirementStatus {
  reason: RetirementReason;
  message?: string;
}

export interface Dependency {
  package: string;
  requirement: string;
  optional: boolean;
  app: string;
  // Always filled in when decoded: a dependency without one lives in the package's own repository.
  repository: string;
}

export interface Release {
  version: string;
  innerChecksum: Buffer;
  outerChecksum?: Buffer; // absent only in very old registries
  dependencies: Dependency[];
  retired?: RetirementStatus;
}

export interface Package {
  name: string;
  repository: string;
  releases: Release[];
}
