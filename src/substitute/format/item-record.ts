// The record of a store item as a publisher or a server describes it: names from the store,
// hashes from packing the item (which must agree with what the store recorded when registering
// it), the toolchain and derivation from how it was made.
import { basename } from "node:path";
import { BeamixError } from "../../errors.ts";
import type { StoreItem } from "../../store/store.ts";
import type { ArchiveInfo } from "./archive.ts";
import { formatRecord, GLIBC_RE, LIBRARY_RE, MAX_RECORD_BYTES, type SubstituteRecord } from "./record.ts";

// Past this, the (informative) Deriver line is left out so records stay small.
const MAX_DERIVER_BYTES = 32 * 1024;
// Room kept in a record for the signatures added once it is made (each is about 150 bytes).
const SIGNATURES_ROOM = 1024;

interface DeriverShape {
  derivation?: { toolchain?: Record<string, unknown> };
  native?: { needed?: unknown; glibc?: unknown }; // src/native/native-facts.ts
}

const TOOLCHAIN_KEYS: [string, string][] = [
  ["otpRelease", "otp"],
  ["otpVersion", "otp-version"],
  ["ertsVersion", "erts"],
  ["nifVersion", "nif"],
  ["targetTriple", "target"],
  ["elixirVersion", "elixir"],
  ["rebar3Version", "rebar3"],
];

// `otp=25 otp-version=25.2.3 erts=13.1.5 nif=2.16 target=x86_64-pc-linux-gnu elixir=1.14.0`
// Values are printable ASCII without spaces or '=': anything else (a control character from an odd
// tool's version) would make a record nobody can read, so it is left out.
export function toolchainLine(toolchain: Record<string, unknown> | undefined): string | undefined {
  if (!toolchain) return undefined;
  const parts = TOOLCHAIN_KEYS.filter(([k]) => typeof toolchain[k] === "string" && /^[\x21-\x3c\x3e-\x7e]+$/.test(toolchain[k] as string)).map(([k, label]) => `${label}=${toolchain[k]}`);
  return parts.length ? parts.join(" ") : undefined;
}

export function recordForItem(item: StoreItem, archive: ArchiveInfo, url: string): SubstituteRecord {
  if (archive.narHash !== item.narHash || archive.narSize !== item.narSize) {
    throw new BeamixError(`${item.path}: the item no longer matches the hash recorded when it was registered (run beamix verify --repair)`);
  }
  const deriver = (item.deriver ?? {}) as DeriverShape;
  const derivation = deriver.derivation && typeof deriver.derivation === "object" ? JSON.stringify(deriver.derivation) : undefined;
  const record: SubstituteRecord = {
    name: item.name,
    version: item.version,
    drvHash: item.drvHash,
    url,
    compression: archive.compression,
    fileHash: archive.fileHash,
    fileSize: archive.fileSize,
    narHash: archive.narHash,
    narSize: archive.narSize,
    references: item.references.map((p) => basename(p)),
    signatures: [],
  };
  const tc = toolchainLine(deriver.derivation?.toolchain);
  if (tc) record.toolchain = tc;
  const native = deriver.native;
  if (native && Array.isArray(native.needed) && native.needed.every((n) => typeof n === "string" && LIBRARY_RE.test(n))) record.needed = [...native.needed].sort();
  if (native && typeof native.glibc === "string" && GLIBC_RE.test(native.glibc)) record.glibc = native.glibc;
  if (derivation && Buffer.byteLength(derivation) <= MAX_DERIVER_BYTES) record.deriver = derivation;
  // Clients refuse a record over MAX_RECORD_BYTES: leave the Deriver out when it would not fit,
  // and refuse here, with the reason, a record that cannot fit at all.
  const fits = () => Buffer.byteLength(formatRecord(record)) <= MAX_RECORD_BYTES - SIGNATURES_ROOM;
  if (record.deriver !== undefined && !fits()) delete record.deriver;
  if (!fits()) {
    throw new BeamixError(`${item.path}: its ${record.references.length} references do not fit in a substitute record (at most ${MAX_RECORD_BYTES} bytes)`);
  }
  return record;
}
