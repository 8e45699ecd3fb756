// The Hex package tarball, format 3: an uncompressed tar of exactly
//   VERSION          "3"
//   CHECKSUM         inner checksum, 64 upper-case hex digits
//   metadata.config  the metadata as Erlang terms
//   contents.tar.gz  the package files
// inner checksum = sha256(VERSION ‖ metadata.config ‖ contents.tar.gz);
// outer checksum = sha256(whole tarball), the one mix.lock and the registry record.
import { BeamixError } from "../errors.ts";
import { gzipHexTarball } from "./gzip.ts";
import type { HexMetadata } from "./metadata.ts";
import { formatMetadataConfig, parseMetadataConfig } from "./metadata-terms.ts";
import { readTar, writeTar, type TarEntry } from "./tar.ts";
import { sha256Hex } from "../util/sha256.ts";

export const TARBALL_VERSION = "3";
// hex_core's limits.
export const MAX_TARBALL_BYTES = 16 * 1024 * 1024;
export const MAX_UNPACKED_BYTES = 128 * 1024 * 1024;
export const MAX_METADATA_BYTES = 1024 * 1024;

const MEMBERS = ["VERSION", "CHECKSUM", "metadata.config", "contents.tar.gz"] as const;
const OUTER_MODE = 0o100644;


export interface TarballFile {
  path: string; // "/"-separated, relative to the package root
  mode: number; // the file's mode on disk; Hex records it as is (0644, 0755, 0600, ...)
  data?: Uint8Array; // absent for an empty directory, which Hex packs as an entry of its own
}

const isDirectoryMode = (mode: number) => (mode & 0o170000) === 0o040000;

export interface BuiltTarball {
  tarball: Buffer;
  innerChecksum: string; // lowercase hex
  outerChecksum: string; // lowercase hex
}

// Packs files in the given order, the way `mix hex.build` does: given the same files in the
// same order with the same modes, the bytes (and so the checksums) are Hex's.
export function buildTarball(input: { metadata: HexMetadata; files: TarballFile[] }): BuiltTarball {
  const label = `${input.metadata.name}-${input.metadata.version}`;
  const seen = new Set<string>();
  for (const f of input.files) {
    const parts = f.path.split("/");
    if (f.path.startsWith("/") || parts.some((p) => p === "" || p === "." || p === "..")) {
      throw new BeamixError(`${label}: cannot pack ${JSON.stringify(f.path)}: not a plain relative path`);
    }
    if (seen.has(f.path)) throw new BeamixError(`${label}: ${f.path} is listed twice`);
    seen.add(f.path);
  }
  const contents = writeTar(
    input.files.map((f) =>
      isDirectoryMode(f.mode) ? { name: f.path, mode: f.mode, type: "directory" as const } : { name: f.path, mode: f.mode, data: f.data ?? new Uint8Array() },
    ),
  );
  if (contents.length > MAX_UNPACKED_BYTES) {
    throw new BeamixError(`${label}: package contents are ${contents.length} bytes, more than the limit of ${MAX_UNPACKED_BYTES}`);
  }
  const contentsGz = gzipHexTarball(contents);
  const metadataText = Buffer.from(formatMetadataConfig(input.metadata), "utf8");
  if (metadataText.length > MAX_METADATA_BYTES) {
    throw new BeamixError(`${label}: metadata.config is ${metadataText.length} bytes, more than the limit of ${MAX_METADATA_BYTES}`);
  }
  const version = Buffer.from(TARBALL_VERSION);
  const innerChecksum = sha256Hex(version, metadataText, contentsGz);
  const tarball = writeTar([
    { name: "VERSION", mode: OUTER_MODE, data: version },
    { name: "CHECKSUM", mode: OUTER_MODE, data: Buffer.from(innerChecksum.toUpperCase()) },
    { name: "metadata.config", mode: OUTER_MODE, data: metadataText },
    { name: "contents.tar.gz", mode: OUTER_MODE, data: contentsGz },
  ]);
  if (tarball.length > MAX_TARBALL_BYTES) {
    throw new BeamixError(`${label}: tarball is ${tarball.length} bytes, more than the limit of ${MAX_TARBALL_BYTES}`);
  }
  return { tarball, innerChecksum, outerChecksum: sha256Hex(tarball) };
}

export interface ReadTarballOptions {
  file?: string; // names the tarball in error messages
  expectedOuterChecksum?: string; // hex, either case: from mix.lock or the registry
  // How to turn the verified metadata.config text into metadata (default: parse it).
  parseMetadata?: (text: string, where: string) => HexMetadata;
}

export interface ReadTarball {
  metadata: HexMetadata;
  metadataText: string;
  innerChecksum: string; // lowercase hex
  outerChecksum: string; // lowercase hex
  contentsGz: Buffer; // still compressed: unpack.ts inflates it under a limit
}

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

// What readTarball found in bytes it read before in this process (a tarball is verified by the
// registry client, then read again by the plan, the materializer and plugin and native checks):
// by the identity of the buffer, which nothing here writes to once read.
const readBefore = new WeakMap<Uint8Array, ReadTarball>();

// Verifies a tarball's structure and both checksums and decodes its metadata. Each failure
// is a BeamixError naming the tarball and what did not match.
export function readTarball(buf: Uint8Array, opts: ReadTarballOptions = {}): ReadTarball {
  const label = opts.file ?? "package tarball";
  const fail = (what: string): never => {
    throw new BeamixError(`${label}: ${what}`);
  };
  if (buf.length > MAX_TARBALL_BYTES) fail(`tarball is ${buf.length} bytes, more than the limit of ${MAX_TARBALL_BYTES}`);

  const known = readBefore.get(buf);
  const outerChecksum = known?.outerChecksum ?? sha256Hex(buf);
  if (opts.expectedOuterChecksum !== undefined) {
    if (!SHA256_HEX.test(opts.expectedOuterChecksum)) {
      fail(`expected outer checksum ${JSON.stringify(opts.expectedOuterChecksum)} is not 64 hex digits`);
    }
    const expected = opts.expectedOuterChecksum.toLowerCase();
    if (expected !== outerChecksum) fail(`outer checksum mismatch: expected ${expected}, got ${outerChecksum}`);
  }
  if (known) return known;

  const members = new Map<string, TarEntry>();
  for (const entry of readTar(buf, { label })) {
    if (!(MEMBERS as readonly string[]).includes(entry.name)) fail(`unexpected member ${JSON.stringify(entry.name)}`);
    if (members.has(entry.name)) fail(`member ${entry.name} appears twice`);
    if (entry.type !== "file") fail(`member ${entry.name} is not a regular file`);
    members.set(entry.name, entry);
  }
  for (const name of MEMBERS) if (!members.has(name)) fail(`member ${name} is missing`);
  const data = (name: (typeof MEMBERS)[number]): Buffer => members.get(name)!.data;

  const version = data("VERSION");
  if (version.toString("latin1") !== TARBALL_VERSION) {
    fail(`unsupported tarball version ${JSON.stringify(version.toString("latin1"))} (only ${TARBALL_VERSION} is supported)`);
  }
  const metadataBytes = data("metadata.config");
  if (metadataBytes.length > MAX_METADATA_BYTES) {
    fail(`metadata.config is ${metadataBytes.length} bytes, more than the limit of ${MAX_METADATA_BYTES}`);
  }
  const stored = data("CHECKSUM").toString("latin1");
  if (!SHA256_HEX.test(stored)) fail(`CHECKSUM is not 64 hex digits: ${JSON.stringify(stored.slice(0, 80))}`);
  const contentsGz = data("contents.tar.gz");
  const innerChecksum = sha256Hex(version, metadataBytes, contentsGz);
  if (stored.toLowerCase() !== innerChecksum) {
    fail(`inner checksum mismatch: CHECKSUM says ${stored.toLowerCase()}, contents give ${innerChecksum}`);
  }

  const metadataText = decodeMetadata(metadataBytes);
  const metadata = (opts.parseMetadata ?? parseMetadataConfig)(metadataText, `${label}: metadata.config`);
  const read = { metadata, metadataText, innerChecksum, outerChecksum, contentsGz };
  readBefore.set(buf, read);
  return read;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// Hex writes UTF-8. Tarballs from old clients may hold Latin-1, which every byte decodes as.
function decodeMetadata(b: Buffer): string {
  try {
    return utf8.decode(b);
  } catch {
    return b.toString("latin1");
  }
}
