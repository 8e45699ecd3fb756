// Documents about a project that a binary cache keeps beside its records, signed like them:
// Mix's answers (mix-answers.ts) and the whole-project restore record (deps-record.ts). One JSON
// file per key under the kind's directory:
//
//   <dir>/<key>.json   {"format": "<format>", "key": "<key>", "body": "<JSON text>",
//                       "signatures": ["name:base64", …]}
//
// The key is a SHA-256 the client computes from its own files before it asks; what the body says
// is the reader's to check. A signature covers the key and the body's hash:
//   <fingerprint prefix>;<key>;sha256:<SHA-256 of body>
// and a client wants as many signatures by distinct trusted keys as it wants on an item's record.
// Unlike a compile-env hint, these say what no other signed object checks (which dependencies a
// project has, which items and files fill its checkout), so they are signed.
import { BeamixError } from "../../errors.ts";
import { signText, verifySignatures, type PublicKey, type SecretKey, type SignaturesTrust } from "../../signing/keys.ts";
import { sha256Hex } from "../../util/sha256.ts";
import { getBytes, type CacheBackend, type GetOptions } from "../backends/backend.ts";
import { contentTypeOf } from "./layout.ts";
import { parseFormatJson } from "./format-json.ts";

export interface DocumentKind {
  dir: string; // the cache's directory for them
  format: string; // the "format" field
  fingerprint: string; // what signatures are made over, before ";<key>;sha256:…"
  maxBytes: number; // the most a client reads of one
  what: string; // "the answers", in messages
}

export interface SignedDocument {
  key: string;
  body: string; // JSON text
  signatures: string[];
}

const MAX_SIGNATURES = 16;
const KEY_RE = /^[0-9a-f]{64}$/;

export function documentKey(kind: DocumentKind, key: string): string {
  if (!KEY_RE.test(key)) throw new BeamixError(`invalid key ${JSON.stringify(key)} of ${kind.what}`);
  return `${kind.dir}/${key}.json`;
}

export const isDocumentKey = (kind: DocumentKind, key: string): boolean => key.startsWith(`${kind.dir}/`) && /^[0-9a-f]{64}\.json$/.test(key.slice(kind.dir.length + 1));

const fingerprint = (kind: DocumentKind, d: Pick<SignedDocument, "key" | "body">) => `${kind.fingerprint};${d.key};sha256:${sha256Hex(Buffer.from(d.body, "utf8"))}`;

export function formatDocument(kind: DocumentKind, d: SignedDocument): string {
  return JSON.stringify({ format: kind.format, key: d.key, body: d.body, signatures: d.signatures }) + "\n";
}

// The document with one more signature by `secret` (one by the same key is replaced).
export function signDocument(kind: DocumentKind, d: SignedDocument, secret: SecretKey): SignedDocument {
  const others = d.signatures.filter((s) => !s.startsWith(`${secret.name}:`));
  return { ...d, signatures: [...others, signText(fingerprint(kind, d), secret)] };
}

// A document as read from a cache; throws a BeamixError naming `origin` on anything malformed,
// including one filed under another key than the one asked for.
export function parseDocument(kind: DocumentKind, text: string, origin: string, key: string): SignedDocument {
  const bad = (what: string) => new BeamixError(`${origin}: ${what}`);
  const o = parseFormatJson(text, origin, kind.format);
  if (o.key !== key) throw bad(`${kind.what} are filed under key ${JSON.stringify(String(o.key).slice(0, 80))}, not ${key}`);
  if (typeof o.body !== "string") throw bad("no body");
  if (!Array.isArray(o.signatures) || o.signatures.length > MAX_SIGNATURES || !o.signatures.every((s) => typeof s === "string")) {
    throw bad(`signatures is not a list of at most ${MAX_SIGNATURES} strings`);
  }
  return { key, body: o.body, signatures: o.signatures as string[] };
}

// Enough signatures by distinct trusted keys? As verifyRecord for an item's record.
export function verifyDocument(kind: DocumentKind, d: SignedDocument, trusted: readonly PublicKey[], required: number): SignaturesTrust {
  return verifySignatures(fingerprint(kind, d), d.signatures, trusted, required, `${kind.what} are`);
}

// A cache's document under `key`; undefined when it has none.
export async function readDocument(kind: DocumentKind, backend: CacheBackend, key: string, options?: GetOptions): Promise<SignedDocument | undefined> {
  const k = documentKey(kind, key);
  const bytes = await getBytes(backend, k, kind.maxBytes, options);
  return bytes && parseDocument(kind, bytes.toString("utf8"), `${backend.url}/${k}`, key);
}

// Writes a signed document under its key (one PUT, or temp + rename on a directory: atomic).
// Returns false, writing nothing, when the cache already holds the same body signed by this key,
// or when the body is larger than any client would read.
export async function publishDocument(kind: DocumentKind, backend: CacheBackend, key: string, body: string, secret: SecretKey): Promise<boolean> {
  const k = documentKey(kind, key);
  if (Buffer.byteLength(body, "utf8") > kind.maxBytes - 4096) return false;
  const there = await readDocument(kind, backend, key).catch(() => undefined);
  const mine = signDocument(kind, { key, body, signatures: there?.body === body ? there.signatures : [] }, secret);
  if (there?.body === body && there.signatures.includes(mine.signatures.at(-1)!)) return false;
  await backend.put(k, Buffer.from(formatDocument(kind, mine), "utf8"), { contentType: contentTypeOf(k) });
  return true;
}
