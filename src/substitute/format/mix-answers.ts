// Mix's answers about a project, shared through a binary cache: what `beamix deps` learnt from
// evaluating a project's mix.exs and config and its dependencies' mix.exs in an Elixir VM
// (src/deps/mix-answers.ts), published by `beamix deps --push` so that a machine that never ran
// the project asks no VM either. One JSON file per key:
//
//   mix-answers/<key>.json   {"format": "beamix-shared-mix-answers/1", "key": "<key>",
//                             "body": "<the answers, as JSON text>", "signatures": ["name:base64", …]}
//
// The key is the SHA-256 of everything the answers depend on before a file is read (the
// project's mix.exs, MIX_ENV, the MIX_* and HEX_* variables, the Elixir and OTP versions,
// beamix's helper sources: deps/mix-answers.ts sharedKey); the body lists, for every answer, the
// files Mix read for it with their SHA-256, and a client uses an answer only when its own files
// hash the same.
//
// Unlike a compile-env hint, answers are signed: they say which dependencies a project has, where
// they go and with which config they are built, which no other signed object checks. A signature
// covers the key and the body's hash:
//   beamix-mix-answers-1;<key>;sha256:<SHA-256 of body>
// and a client wants as many signatures by distinct trusted keys as it wants on an item's record.
import { BeamixError } from "../../errors.ts";
import { signText, verifySignatures, type PublicKey, type SecretKey, type SignaturesTrust } from "../../signing/keys.ts";
import { sha256Hex } from "../../util/sha256.ts";
import { getBytes, type CacheBackend, type GetOptions } from "../backends/backend.ts";
import { contentTypeOf } from "./layout.ts";
import { parseFormatJson } from "./format-json.ts";

export const MIX_ANSWERS_DIR = "mix-answers";
export const SHARED_ANSWERS_FORMAT = "beamix-shared-mix-answers/1";
const FINGERPRINT_PREFIX = "beamix-mix-answers-1";
// A project with a few hundred dependencies has answers of a few hundred KiB.
export const MAX_SHARED_ANSWERS_BYTES = 4 * 1024 * 1024;
const MAX_SIGNATURES = 16;
const KEY_RE = /^[0-9a-f]{64}$/;

export interface SharedAnswers {
  key: string;
  body: string; // JSON text; what it says is src/deps/mix-answers.ts's to read
  signatures: string[];
}

export function mixAnswersKey(key: string): string {
  if (!KEY_RE.test(key)) throw new BeamixError(`invalid Mix answers key ${JSON.stringify(key)}`);
  return `${MIX_ANSWERS_DIR}/${key}.json`;
}

export const isMixAnswersKey = (key: string): boolean => /^mix-answers\/[0-9a-f]{64}\.json$/.test(key);

const fingerprint = (a: Pick<SharedAnswers, "key" | "body">) => `${FINGERPRINT_PREFIX};${a.key};sha256:${sha256Hex(Buffer.from(a.body, "utf8"))}`;

export function formatSharedAnswers(a: SharedAnswers): string {
  return JSON.stringify({ format: SHARED_ANSWERS_FORMAT, key: a.key, body: a.body, signatures: a.signatures }) + "\n";
}

// The answers with one more signature by `secret` (one by the same key is replaced).
export function signSharedAnswers(a: SharedAnswers, secret: SecretKey): SharedAnswers {
  const others = a.signatures.filter((s) => !s.startsWith(`${secret.name}:`));
  return { ...a, signatures: [...others, signText(fingerprint(a), secret)] };
}

// Answers as read from a cache; throws a BeamixError naming `origin` on anything malformed,
// including answers filed under another key than the one asked for.
export function parseSharedAnswers(text: string, origin: string, key: string): SharedAnswers {
  const bad = (what: string) => new BeamixError(`${origin}: ${what}`);
  const o = parseFormatJson(text, origin, SHARED_ANSWERS_FORMAT);
  if (o.key !== key) throw bad(`the answers are filed under key ${JSON.stringify(String(o.key).slice(0, 80))}, not ${key}`);
  if (typeof o.body !== "string") throw bad("no body");
  if (!Array.isArray(o.signatures) || o.signatures.length > MAX_SIGNATURES || !o.signatures.every((s) => typeof s === "string")) {
    throw bad(`signatures is not a list of at most ${MAX_SIGNATURES} strings`);
  }
  return { key, body: o.body, signatures: o.signatures as string[] };
}

// Enough signatures by distinct trusted keys? As verifyRecord for an item's record.
export function verifySharedAnswers(a: SharedAnswers, trusted: readonly PublicKey[], required: number): SignaturesTrust {
  return verifySignatures(fingerprint(a), a.signatures, trusted, required, "the answers are");
}

// A cache's answers under `key`; undefined when it has none.
export async function readSharedAnswers(backend: CacheBackend, key: string, options?: GetOptions): Promise<SharedAnswers | undefined> {
  const k = mixAnswersKey(key);
  const bytes = await getBytes(backend, k, MAX_SHARED_ANSWERS_BYTES, options);
  return bytes && parseSharedAnswers(bytes.toString("utf8"), `${backend.url}/${k}`, key);
}

// Writes signed answers under their key (one PUT, or temp + rename on a directory: atomic).
// Returns false, writing nothing, when the cache already holds the same body signed by this key.
export async function publishSharedAnswers(backend: CacheBackend, key: string, body: string, secret: SecretKey): Promise<boolean> {
  const k = mixAnswersKey(key);
  if (Buffer.byteLength(body, "utf8") > MAX_SHARED_ANSWERS_BYTES - 4096) return false; // no reader would take it
  const there = await readSharedAnswers(backend, key).catch(() => undefined);
  const mine = signSharedAnswers({ key, body, signatures: there?.body === body ? there.signatures : [] }, secret);
  if (there?.body === body && there.signatures.includes(mine.signatures.at(-1)!)) return false;
  await backend.put(k, Buffer.from(formatSharedAnswers(mine), "utf8"), { contentType: contentTypeOf(k) });
  return true;
}
