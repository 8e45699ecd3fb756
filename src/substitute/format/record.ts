// The record of one store item in a binary cache (`<drv hash>.beamixinfo`), like Nix's .narinfo:
// UTF-8 text, one `Key: value` line each, "\n"-terminated, in this order when written:
//
//   Name: beacon                                   store item name
//   Version: 1.2.0
//   DrvHash: 5d1c…                                 derivation hash: the item is <DrvHash>-<Name>-<Version>
//   URL: archives/<file hash>.nar.zst              the archive, relative to the cache
//   Compression: zstd                              zstd | none
//   FileHash: sha256:<hex>                         SHA-256 and size of the archive file as stored
//   FileSize: 1234
//   NarHash: sha256:<hex>                          SHA-256 and size of the uncompressed tree
//   NarSize: 5678                                  serialization (src/store/nar.ts): the store's narHash
//   References: <item> <item>                      items it needs, as <drv hash>-<name>-<version>, sorted
//   Toolchain: otp=25 otp-version=25.2.3 …         optional, informative
//   Needed: libyaml-0.so.2 libc.so.6               optional: shared libraries its native code needs
//   Glibc: 2.14                                    optional: the highest glibc symbol version it needs
//   Deriver: {"definition":…}                      optional: the derivation as JSON, informative
//   Sig: <key name>:<base64>                       zero or more Ed25519 signatures
//
// A signature covers the fingerprint, which binds everything a client relies on — which item this
// is, what its tree hashes to, and what it needs — and nothing that may legitimately differ
// between caches holding the same item (URL, compression, file hash):
//   beamix-substitute-1;<item>;sha256:<NarHash hex>;<NarSize>;<References sorted, comma-joined>
// The archive's file hash is not signed: the client checks it against the record to fail early,
// and then checks the decompressed tree against the signed NarHash and NarSize. Needed and Glibc
// are not signed either: they let a client refuse native code that cannot load on its host
// before downloading it, and the client checks the downloaded tree's own ELF files again.
//
// Readers ignore keys they do not know (later formats may add some) and refuse duplicates,
// malformed values and missing required keys.
import { BeamixError } from "../../errors.ts";
import { signText, verifySignatures, type PublicKey, type SecretKey, type SignaturesTrust } from "../../signing/keys.ts";
import { isSafeKey, type Compression } from "./layout.ts";

export const FINGERPRINT_PREFIX = "beamix-substitute-1";
export const MAX_RECORD_BYTES = 64 * 1024;

export interface SubstituteRecord {
  name: string;
  version: string;
  drvHash: string;
  url: string;
  compression: Compression;
  fileHash: string; // lowercase hex, without "sha256:"
  fileSize: number;
  narHash: string; // lowercase hex, without "sha256:"
  narSize: number;
  references: string[]; // item names, sorted
  toolchain?: string;
  needed?: string[]; // shared libraries (ELF DT_NEEDED) from outside the item, sorted
  glibc?: string;
  deriver?: string;
  signatures: string[];
}

// Same rules as the store's item names (src/store/store.ts).
export const DRV_HASH_RE = /^[0-9a-z]{16,64}$/;
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,99}$/;
const VERSION_RE = /^[A-Za-z0-9_.+-]{1,100}$/;
export const ITEM_NAME_RE = /^([0-9a-z]{16,64})-[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;
const HASH_RE = /^sha256:([0-9a-f]{64})$/;
const SIZE_RE = /^(0|[1-9][0-9]{0,15})$/;
export const LIBRARY_RE = /^[A-Za-z0-9_.+-]{1,200}$/;
export const GLIBC_RE = /^[0-9]{1,4}(\.[0-9]{1,4}){1,3}$/;

export const itemName = (r: Pick<SubstituteRecord, "drvHash" | "name" | "version">): string => `${r.drvHash}-${r.name}-${r.version}`;

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

export function fingerprint(r: Pick<SubstituteRecord, "drvHash" | "name" | "version" | "narHash" | "narSize" | "references">): string {
  return [FINGERPRINT_PREFIX, itemName(r), `sha256:${r.narHash}`, String(r.narSize), [...r.references].sort(byBytes).join(",")].join(";");
}

export function formatRecord(r: SubstituteRecord): string {
  const lines = [
    `Name: ${r.name}`,
    `Version: ${r.version}`,
    `DrvHash: ${r.drvHash}`,
    `URL: ${r.url}`,
    `Compression: ${r.compression}`,
    `FileHash: sha256:${r.fileHash}`,
    `FileSize: ${r.fileSize}`,
    `NarHash: sha256:${r.narHash}`,
    `NarSize: ${r.narSize}`,
    `References: ${[...r.references].sort(byBytes).join(" ")}`,
  ];
  if (r.toolchain !== undefined) lines.push(`Toolchain: ${r.toolchain}`);
  if (r.needed !== undefined) lines.push(`Needed: ${r.needed.join(" ")}`);
  if (r.glibc !== undefined) lines.push(`Glibc: ${r.glibc}`);
  if (r.deriver !== undefined) lines.push(`Deriver: ${r.deriver}`);
  for (const s of r.signatures) lines.push(`Sig: ${s}`);
  for (const l of lines) {
    if (/[\x00-\x1f\x7f]/.test(l)) throw new BeamixError(`record of ${itemName(r)}: a value contains a control character`);
  }
  return lines.join("\n") + "\n";
}

const REQUIRED = ["Name", "Version", "DrvHash", "URL", "Compression", "FileHash", "FileSize", "NarHash", "NarSize", "References"] as const;

export function parseRecord(text: string, origin: string): SubstituteRecord {
  const bad = (what: string) => new BeamixError(`${origin}: ${what}`);
  if (Buffer.byteLength(text) > MAX_RECORD_BYTES) throw bad(`record larger than ${MAX_RECORD_BYTES} bytes`);
  if (!text.endsWith("\n")) throw bad("record does not end with a newline (truncated?)");
  const fields = new Map<string, string>();
  const signatures: string[] = [];
  const lines = text.slice(0, -1).split("\n");
  lines.forEach((line, i) => {
    // dotAll: a value may hold U+2028 or U+2029 (JSON in Deriver does not escape them), which
    // a plain `.` would not match. Control characters are refused just below.
    const m = /^([A-Za-z][A-Za-z0-9-]*): ?(.*)$/s.exec(line);
    if (!m || /[\x00-\x1f\x7f]/.test(line)) throw bad(`line ${i + 1} is not a "Key: value" line`);
    const [, key, value] = m;
    if (key === "Sig") signatures.push(value);
    else if (fields.has(key)) throw bad(`${key} appears twice`);
    else fields.set(key, value);
  });
  for (const k of REQUIRED) if (!fields.has(k)) throw bad(`no ${k} line`);
  const get = (k: string) => fields.get(k)!;
  const check = (k: string, re: RegExp) => {
    const v = get(k);
    if (!re.test(v)) throw bad(`invalid ${k} ${JSON.stringify(v.slice(0, 80))}`);
    return v;
  };
  const hash = (k: string) => HASH_RE.exec(check(k, HASH_RE))![1];
  const size = (k: string) => {
    const n = Number(check(k, SIZE_RE));
    if (!Number.isSafeInteger(n)) throw bad(`${k} too large`);
    return n;
  };
  const url = get("URL");
  if (!isSafeKey(url)) throw bad(`URL ${JSON.stringify(url.slice(0, 80))} is not a relative path inside the cache`);
  const compression = get("Compression");
  if (compression !== "zstd" && compression !== "none") throw bad(`unsupported compression ${JSON.stringify(compression)}`);
  const refsText = get("References").trim();
  const references = refsText === "" ? [] : refsText.split(/ +/);
  for (const r of references) if (!ITEM_NAME_RE.test(r)) throw bad(`invalid reference ${JSON.stringify(r.slice(0, 80))}`);
  if (new Set(references).size !== references.length) throw bad("a reference appears twice");
  const record: SubstituteRecord = {
    name: check("Name", NAME_RE),
    version: check("Version", VERSION_RE),
    drvHash: check("DrvHash", DRV_HASH_RE),
    url,
    compression,
    fileHash: hash("FileHash"),
    fileSize: size("FileSize"),
    narHash: hash("NarHash"),
    narSize: size("NarSize"),
    references: references.sort(byBytes),
    signatures,
  };
  if (fields.has("Toolchain")) record.toolchain = get("Toolchain");
  if (fields.has("Needed")) {
    const text = get("Needed").trim();
    const needed = text === "" ? [] : text.split(/ +/);
    for (const n of needed) if (!LIBRARY_RE.test(n)) throw bad(`invalid Needed library ${JSON.stringify(n.slice(0, 80))}`);
    record.needed = needed;
  }
  if (fields.has("Glibc")) record.glibc = check("Glibc", GLIBC_RE);
  if (fields.has("Deriver")) record.deriver = get("Deriver");
  if (record.references.includes(itemName(record))) throw bad("the item references itself");
  return record;
}

// The record with one more signature by `secret` (a signature by the same key is replaced).
export function signRecord(r: SubstituteRecord, secret: SecretKey): SubstituteRecord {
  const others = r.signatures.filter((s) => !s.startsWith(`${secret.name}:`));
  return { ...r, signatures: [...others, signText(fingerprint(r), secret)] };
}

export type RecordTrust = SignaturesTrust;

// Enough signatures by distinct trusted keys? The reason names what was wrong with each signature.
export function verifyRecord(r: SubstituteRecord, trusted: readonly PublicKey[], required: number): RecordTrust {
  return verifySignatures(fingerprint(r), r.signatures, trusted, required, "the record is");
}
