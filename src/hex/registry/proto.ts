// The protobuf messages of a Hex static registry (`names`, `versions`, `packages/NAME`) and
// plain TypeScript views of them. The schema is written from the field table in
// test/vectors/hex/README.md ("Static registry") and parsed once at load: no codegen step.
//
// Every field is declared `optional` (not proto2 `required`) so that a message missing a
// field reaches our own checks, which name the resource, instead of a generic protobufjs
// error. protobufjs writes fields in field-number order, writes an optional field whenever it
// is set (so `optional: false` and `nanos: 0` are written, as Hex does), omits empty repeated
// fields, and skips unknown fields when decoding.
import protobuf from "protobufjs";
export { RETIREMENT_REASONS } from "./records.ts";
export type { Dependency, Names, NamesEntry, Package, Release, RetirementReason, RetirementStatus, Signed, Timestamp, Versions, VersionsEntry } from "./records.ts";
import { RETIREMENT_REASONS, type Dependency, type Names, type NamesEntry, type Package, type Release, type RetirementReason, type RetirementStatus, type Signed, type Versions } from "./records.ts";

const SCHEMA = `
syntax = "proto2";

message Signed {
  optional bytes payload = 1;
  optional bytes signature = 2;
}

message Timestamp {
  optional int64 seconds = 1;
  optional int32 nanos = 2;
}

message NamesPackage {
  optional string name = 1;
  optional Timestamp updated_at = 3;
}

message Names {
  repeated NamesPackage packages = 1;
  optional string repository = 2;
}

message VersionsPackage {
  optional string name = 1;
  repeated string versions = 2;
  repeated int32 retired = 3 [packed = true];
}

message Versions {
  repeated VersionsPackage packages = 1;
  optional string repository = 2;
}

message RetirementStatus {
  optional int32 reason = 1;
  optional string message = 2;
}

message Dependency {
  optional string package = 1;
  optional string requirement = 2;
  optional bool optional = 3;
  optional string app = 4;
  optional string repository = 5;
}

message Release {
  optional string version = 1;
  optional bytes inner_checksum = 2;
  repeated Dependency dependencies = 3;
  optional RetirementStatus retired = 4;
  optional bytes outer_checksum = 5;
}

message Package {
  repeated Release releases = 1;
  optional string name = 2;
  optional string repository = 3;
}
`;
// RetirementStatus.reason is declared int32 rather than an enum: the wire encoding is the
// same varint, and reading a number lets us map values we do not know to "other" ourselves.

const root = protobuf.parse(SCHEMA, { keepCase: true }).root;
const SignedType = root.lookupType("Signed");
const NamesType = root.lookupType("Names");
const VersionsType = root.lookupType("Versions");
const PackageType = root.lookupType("Package");

// Thrown for bytes that are not a well-formed message; callers wrap it with the resource name.
export class RegistryDecodeError extends Error {
  override name = "RegistryDecodeError";
}

type Obj = Record<string, unknown>;

function has(m: Obj, key: string): boolean {
  return Object.hasOwn(m, key) && m[key] !== null && m[key] !== undefined;
}

function reqString(m: Obj, key: string, where: string): string {
  if (!has(m, key)) throw new RegistryDecodeError(`${where}: missing ${key}`);
  return m[key] as string;
}

function optString(m: Obj, key: string): string | undefined {
  return has(m, key) ? (m[key] as string) : undefined;
}

function bytes(m: Obj, key: string): Buffer | undefined {
  return has(m, key) ? Buffer.from(m[key] as Uint8Array) : undefined;
}

function list(m: Obj, key: string): Obj[] {
  return (m[key] as Obj[] | undefined) ?? [];
}

// int64 comes back as a Long (the `long` package is installed) or a number.
function int64(v: unknown): number {
  if (typeof v === "number") return v;
  const l = v as { toNumber(): number };
  return l.toNumber();
}

function decode(type: protobuf.Type, buf: Uint8Array, what: string): Obj {
  try {
    return type.decode(buf) as unknown as Obj;
  } catch (err) {
    throw new RegistryDecodeError(`not a valid ${what} message (${(err as Error).message})`, { cause: err });
  }
}

function encode(type: protobuf.Type, obj: Obj): Buffer {
  const bytes = type.encode(type.fromObject(obj)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function encodeSigned(s: Signed): Buffer {
  return encode(SignedType, { payload: s.payload, signature: s.signature });
}

export function decodeSigned(buf: Uint8Array): Signed {
  const m = decode(SignedType, buf, "Signed");
  const payload = bytes(m, "payload");
  const signature = bytes(m, "signature");
  if (!payload) throw new RegistryDecodeError("Signed: missing payload");
  if (!signature) throw new RegistryDecodeError("Signed: missing signature");
  return { payload, signature };
}

export function encodeNames(n: Names): Buffer {
  return encode(NamesType, {
    packages: n.packages.map((p) => ({
      name: p.name,
      ...(p.updatedAt ? { updated_at: { seconds: p.updatedAt.seconds, nanos: p.updatedAt.nanos } } : {}),
    })),
    repository: n.repository,
  });
}

export function decodeNames(buf: Uint8Array): Names {
  const m = decode(NamesType, buf, "Names");
  return {
    repository: reqString(m, "repository", "Names"),
    packages: list(m, "packages").map((p) => {
      const entry: NamesEntry = { name: reqString(p, "name", "Names.package") };
      if (has(p, "updated_at")) {
        const t = p.updated_at as Obj;
        entry.updatedAt = { seconds: int64(t.seconds ?? 0), nanos: (t.nanos as number | undefined) ?? 0 };
      }
      return entry;
    }),
  };
}

export function encodeVersions(v: Versions): Buffer {
  return encode(VersionsType, {
    packages: v.packages.map((p) => ({ name: p.name, versions: p.versions, retired: p.retired })),
    repository: v.repository,
  });
}

export function decodeVersions(buf: Uint8Array): Versions {
  const m = decode(VersionsType, buf, "Versions");
  return {
    repository: reqString(m, "repository", "Versions"),
    packages: list(m, "packages").map((p) => {
      const name = reqString(p, "name", "Versions.package");
      const versions = [...((p.versions as string[] | undefined) ?? [])];
      const retired = [...((p.retired as number[] | undefined) ?? [])];
      for (const i of retired) {
        if (!Number.isInteger(i) || i < 0 || i >= versions.length) {
          throw new RegistryDecodeError(`Versions.package ${name}: retired index ${i} is out of range`);
        }
      }
      return { name, versions, retired };
    }),
  };
}

// A dependency in the package's own repository is written without `repository`, as Hex does.
export function encodePackage(p: Package): Buffer {
  return encode(PackageType, {
    releases: p.releases.map((r) => ({
      version: r.version,
      inner_checksum: r.innerChecksum,
      dependencies: r.dependencies.map((d) => ({
        package: d.package,
        requirement: d.requirement,
        optional: d.optional,
        app: d.app,
        ...(d.repository !== p.repository ? { repository: d.repository } : {}),
      })),
      ...(r.retired
        ? {
            retired: {
              reason: RETIREMENT_REASONS.indexOf(r.retired.reason),
              ...(r.retired.message !== undefined ? { message: r.retired.message } : {}),
            },
          }
        : {}),
      ...(r.outerChecksum ? { outer_checksum: r.outerChecksum } : {}),
    })),
    name: p.name,
    repository: p.repository,
  });
}

export function decodePackage(buf: Uint8Array): Package {
  const m = decode(PackageType, buf, "Package");
  const name = reqString(m, "name", "Package");
  const repository = reqString(m, "repository", "Package");
  const releases = list(m, "releases").map((r): Release => {
    const version = reqString(r, "version", `Package ${name} release`);
    const where = `Package ${name} release ${version}`;
    const innerChecksum = bytes(r, "inner_checksum");
    if (!innerChecksum) throw new RegistryDecodeError(`${where}: missing inner_checksum`);
    const release: Release = {
      version,
      innerChecksum,
      dependencies: list(r, "dependencies").map((d) => {
        const pkg = reqString(d, "package", `${where} dependency`);
        return {
          package: pkg,
          requirement: reqString(d, "requirement", `${where} dependency ${pkg}`),
          optional: has(d, "optional") ? (d.optional as boolean) : false,
          // Hex always writes `app`; an old record without it means app = package.
          app: optString(d, "app") ?? pkg,
          repository: optString(d, "repository") ?? repository,
        };
      }),
    };
    const outer = bytes(r, "outer_checksum");
    if (outer) release.outerChecksum = outer;
    if (has(r, "retired")) {
      const s = r.retired as Obj;
      const code = (s.reason as number | undefined) ?? 0;
      // An unknown reason reads as "other" (proto2 keeps unknown enum values out of the field).
      const status: RetirementStatus = { reason: RETIREMENT_REASONS[code] ?? "other" };
      const message = optString(s, "message");
      if (message !== undefined) status.message = message;
      release.retired = status;
    }
    return release;
  });
  return { name, repository, releases };
}
