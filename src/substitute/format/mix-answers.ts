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
// They are signed (signed-document.ts): they say which dependencies a project has, where they go
// and with which config they are built, which no other signed object checks. A signature covers
// the key and the body's hash: beamix-mix-answers-1;<key>;sha256:<SHA-256 of body>.
import { BeamixError } from "../../errors.ts";
import type { PublicKey, SecretKey, SignaturesTrust } from "../../signing/keys.ts";
import type { CacheBackend, GetOptions } from "../backends/backend.ts";
import { documentKey, formatDocument, isDocumentKey, parseDocument, publishDocument, readDocument, signDocument, verifyDocument, type DocumentKind, type SignedDocument } from "./signed-document.ts";

export const MIX_ANSWERS_DIR = "mix-answers";
export const SHARED_ANSWERS_FORMAT = "beamix-shared-mix-answers/1";
// A project with a few hundred dependencies has answers of a few hundred KiB.
export const MAX_SHARED_ANSWERS_BYTES = 4 * 1024 * 1024;

const ANSWERS: DocumentKind = { dir: MIX_ANSWERS_DIR, format: SHARED_ANSWERS_FORMAT, fingerprint: "beamix-mix-answers-1", maxBytes: MAX_SHARED_ANSWERS_BYTES, what: "the answers" };

export type SharedAnswers = SignedDocument; // body: what src/deps/mix-answers.ts reads

export function mixAnswersKey(key: string): string {
  if (!/^[0-9a-f]{64}$/.test(key)) throw new BeamixError(`invalid Mix answers key ${JSON.stringify(key)}`);
  return documentKey(ANSWERS, key);
}

export const isMixAnswersKey = (key: string): boolean => isDocumentKey(ANSWERS, key);
export const formatSharedAnswers = (a: SharedAnswers): string => formatDocument(ANSWERS, a);
export const signSharedAnswers = (a: SharedAnswers, secret: SecretKey): SharedAnswers => signDocument(ANSWERS, a, secret);
export const parseSharedAnswers = (text: string, origin: string, key: string): SharedAnswers => parseDocument(ANSWERS, text, origin, key);
export const verifySharedAnswers = (a: SharedAnswers, trusted: readonly PublicKey[], required: number): SignaturesTrust => verifyDocument(ANSWERS, a, trusted, required);
export const readSharedAnswers = (backend: CacheBackend, key: string, options?: GetOptions): Promise<SharedAnswers | undefined> => readDocument(ANSWERS, backend, key, options);
export const publishSharedAnswers = (backend: CacheBackend, key: string, body: string, secret: SecretKey): Promise<boolean> => publishDocument(ANSWERS, backend, key, body, secret);
