// A project's whole restore record, shared through a binary cache: what `beamix deps` wrote into
// deps/ and _build/ENV/lib of a project (src/deps/shared-restore.ts says what the body holds),
// published by `beamix deps --push` so that a machine that never ran the project fills a fresh
// checkout in one pass: the items substituted as usual, every other file from packs, without the
// Hex registry, the tarballs or Mix's answers.
//
//   deps-records/<key>.json       a signed document (signed-document.ts), fingerprint
//                                 beamix-deps-record-1;<key>;sha256:<SHA-256 of body>
//   deps-records/packs/<sha>.pack the bytes of one tree's files, named by their SHA-256, which the
//                                 signed body lists with their size
//
// `beamix serve` serves them from a cache directory; a store served directly has none.
import { BeamixError } from "../../errors.ts";
import type { PublicKey, SecretKey, SignaturesTrust } from "../../signing/keys.ts";
import { sha256Hex } from "../../util/sha256.ts";
import { getBytes, type CacheBackend, type GetOptions } from "../backends/backend.ts";
import { isDocumentKey, publishDocument, readDocument, verifyDocument, type DocumentKind, type SignedDocument } from "./signed-document.ts";

export const DEPS_RECORDS_DIR = "deps-records";
const PACKS_DIR = `${DEPS_RECORDS_DIR}/packs`;
// About 250 bytes a file: 16 MiB is a closure of some 60 000 files.
export const MAX_DEPS_RECORD_BYTES = 16 * 1024 * 1024;
// A pack holds the files of one package's deps/ tree: a Hex package unpacks to at most 128 MiB.
export const MAX_PACK_BYTES = 128 * 1024 * 1024;

export const DEPS_RECORD: DocumentKind = { dir: DEPS_RECORDS_DIR, format: "beamix-deps-record/1", fingerprint: "beamix-deps-record-1", maxBytes: MAX_DEPS_RECORD_BYTES, what: "the restore record's contents" };

const PACK_KEY_RE = /^deps-records\/packs\/([0-9a-f]{64})\.pack$/;
// The SHA-256 a pack is named by; undefined for any other key.
export const packHashOf = (key: string): string | undefined => PACK_KEY_RE.exec(key)?.[1];

export const packKey = (sha256: string): string => `${PACKS_DIR}/${sha256}.pack`;
export const isDepsRecordKey = (key: string): boolean => isDocumentKey(DEPS_RECORD, key);
export const isPackKey = (key: string): boolean => PACK_KEY_RE.test(key);

export const readDepsRecord = (backend: CacheBackend, key: string, options?: GetOptions): Promise<SignedDocument | undefined> => readDocument(DEPS_RECORD, backend, key, options);
export const verifyDepsRecord = (d: SignedDocument, trusted: readonly PublicKey[], required: number): SignaturesTrust => verifyDocument(DEPS_RECORD, d, trusted, required);
export const publishDepsRecord = (backend: CacheBackend, key: string, body: string, secret: SecretKey): Promise<boolean> => publishDocument(DEPS_RECORD, backend, key, body, secret);

// A pack the signed record names: exactly `size` bytes hashing to `sha256`, or a BeamixError.
export async function readPack(backend: CacheBackend, sha256: string, size: number, options?: GetOptions): Promise<Buffer> {
  const key = packKey(sha256);
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_PACK_BYTES) throw new BeamixError(`${backend.url}/${key}: the record's size ${size} is not one a pack can have`);
  const bytes = await getBytes(backend, key, size, options);
  if (!bytes) throw new BeamixError(`${backend.url}/${key}: missing`);
  if (bytes.length !== size || sha256Hex(bytes) !== sha256) throw new BeamixError(`${backend.url}/${key}: not the pack the record names (${bytes.length} bytes, sha256 ${sha256Hex(bytes)})`);
  return bytes;
}

// Uploads a pack unless the cache has it (a pack is named by its content).
export async function publishPack(backend: CacheBackend, bytes: Buffer): Promise<boolean> {
  const key = packKey(sha256Hex(bytes));
  if (await backend.exists(key)) return false;
  await backend.put(key, bytes, { contentType: "application/octet-stream" });
  return true;
}
