// Ed25519 signing keys for substitutes, as one-line text files `NAME:BASE64`:
//   public key  NAME:base64(32-byte public key)
//   secret key  NAME:base64(32-byte seed ‖ 32-byte public key)
// The name says which key made a signature (`NAME:base64(64-byte signature)`), so a client can
// look the key up among the ones it trusts; it is not a secret and not authenticated by itself.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { BeamixError, errorMessage } from "../errors.ts";

// Key names end up in file names and in `NAME:...` text: keep them to a safe alphabet.
export const KEY_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const B64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

export interface PublicKey {
  name: string;
  key: KeyObject;
  text: string; // NAME:base64, as written in files
}

export interface SecretKey {
  name: string;
  key: KeyObject;
  publicKey: PublicKey;
}

const b64url = (b: Buffer) => b.toString("base64url");
// PKCS#8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410).
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

function publicFromRaw(name: string, raw: Buffer): PublicKey {
  const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: b64url(raw) }, format: "jwk" });
  return { name, key, text: `${name}:${raw.toString("base64")}` };
}

// `NAME:BASE64` → name and decoded bytes, or a message saying what is wrong.
function splitKeyText(text: string, what: string, origin: string, bytes: number): { name: string; raw: Buffer } {
  const line = text.trim();
  const colon = line.indexOf(":");
  if (colon < 0) throw new BeamixError(`${origin}: not a beamix ${what} (expected NAME:BASE64)`);
  const name = line.slice(0, colon);
  const b64 = line.slice(colon + 1);
  if (!KEY_NAME_RE.test(name)) throw new BeamixError(`${origin}: invalid key name ${JSON.stringify(name)}`);
  const raw = B64_RE.test(b64) ? Buffer.from(b64, "base64") : Buffer.alloc(0);
  if (raw.length !== bytes || raw.toString("base64") !== b64) {
    throw new BeamixError(`${origin}: ${what} ${name} is not ${bytes} bytes of base64`);
  }
  return { name, raw };
}

export function parsePublicKey(text: string, origin = "public key"): PublicKey {
  const { name, raw } = splitKeyText(text, "public key", origin, 32);
  try {
    return publicFromRaw(name, raw);
  } catch (err) {
    throw new BeamixError(`${origin}: invalid Ed25519 public key ${name} (${errorMessage(err)})`);
  }
}

export function parseSecretKey(text: string, origin = "secret key"): SecretKey {
  const { name, raw } = splitKeyText(text, "secret key", origin, 64);
  const seed = raw.subarray(0, 32);
  const pub = raw.subarray(32);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
  } catch (err) {
    throw new BeamixError(`${origin}: invalid Ed25519 secret key ${name} (${errorMessage(err)})`);
  }
  // A secret key whose public half was edited would sign with a key nobody trusts: catch it here.
  const derived = Buffer.from(createPublicKey(key).export({ format: "jwk" }).x!, "base64url");
  if (!derived.equals(pub)) throw new BeamixError(`${origin}: secret key ${name}: its public half does not match its seed`);
  return { name, key, publicKey: publicFromRaw(name, pub) };
}

export function generateKeyPair(name: string): { secretText: string; publicText: string } {
  if (!KEY_NAME_RE.test(name)) {
    throw new BeamixError(`invalid key name ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-' (e.g. cache.example.org-1)`);
  }
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const seed = Buffer.from(privateKey.export({ format: "jwk" }).d!, "base64url");
  const pub = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
  return { secretText: `${name}:${Buffer.concat([seed, pub]).toString("base64")}`, publicText: `${name}:${pub.toString("base64")}` };
}

// Writes DIR/NAME.secret (mode 0600) and DIR/NAME.public; never overwrites an existing key.
export async function writeKeyPair(name: string, dir: string): Promise<{ secretPath: string; publicPath: string }> {
  const { secretText, publicText } = generateKeyPair(name);
  const abs = resolve(dir);
  await mkdir(abs, { recursive: true });
  const secretPath = join(abs, `${name}.secret`);
  const publicPath = join(abs, `${name}.public`);
  const create = async (path: string, text: string, mode: number) => {
    try {
      await writeFile(path, text + "\n", { mode, flag: "wx" });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new BeamixError(`${path}: already exists; not overwriting a key`);
      throw err;
    }
  };
  await create(secretPath, secretText, 0o600);
  await create(publicPath, publicText, 0o644);
  return { secretPath, publicPath };
}

async function readKeyText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new BeamixError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
}

export async function readSecretKeyFile(path: string): Promise<SecretKey> {
  return parseSecretKey(await readKeyText(path, "secret key"), path);
}

// A public key file may hold several keys, one a line; blank lines and # comments are skipped.
export function parsePublicKeys(text: string, origin: string): PublicKey[] {
  const keys: PublicKey[] = [];
  text.split("\n").forEach((line, i) => {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) return;
    keys.push(parsePublicKey(t, `${origin}:${i + 1}`));
  });
  return keys;
}

export async function readPublicKeyFile(path: string): Promise<PublicKey[]> {
  const keys = parsePublicKeys(await readKeyText(path, "public key"), path);
  if (keys.length === 0) throw new BeamixError(`${path}: no public key in the file`);
  return keys;
}

// `NAME:base64(signature)` over the given text.
export function signText(text: string, secret: SecretKey): string {
  return `${secret.name}:${sign(null, Buffer.from(text, "utf8"), secret.key).toString("base64")}`;
}

export type SignatureCheck = { ok: true; keyName: string } | { ok: false; reason: string };

// Checks one `NAME:base64` signature against the trusted keys of that name.
export function checkSignature(text: string, signature: string, trusted: readonly PublicKey[]): SignatureCheck {
  const colon = signature.indexOf(":");
  const name = colon < 0 ? "" : signature.slice(0, colon);
  const b64 = signature.slice(colon + 1);
  if (!KEY_NAME_RE.test(name)) return { ok: false, reason: `malformed signature ${JSON.stringify(signature.slice(0, 40))}` };
  const sig = B64_RE.test(b64) ? Buffer.from(b64, "base64") : Buffer.alloc(0);
  if (sig.length !== 64) return { ok: false, reason: `malformed signature by ${name}` };
  const candidates = trusted.filter((k) => k.name === name);
  if (candidates.length === 0) return { ok: false, reason: `signed by ${name}, which is not a trusted key` };
  const data = Buffer.from(text, "utf8");
  if (candidates.some((k) => verify(null, data, k.key, sig))) return { ok: true, keyName: name };
  return { ok: false, reason: `signature by ${name} does not verify` };
}

export type SignaturesTrust = { ok: true; keys: string[] } | { ok: false; reason: string };

// Enough signatures of `text` by distinct trusted keys? The reason names what was wrong with each
// signature; `what` names the signed object in it ("the record is not signed").
export function verifySignatures(text: string, signatures: readonly string[], trusted: readonly PublicKey[], required: number, what: string): SignaturesTrust {
  if (required <= 0) return { ok: true, keys: [] };
  const keys = new Set<string>();
  const problems: string[] = [];
  for (const s of signatures) {
    const c = checkSignature(text, s, trusted);
    if (c.ok) keys.add(c.keyName);
    else problems.push(c.reason);
  }
  if (keys.size >= required) return { ok: true, keys: [...keys].sort() };
  if (signatures.length === 0) return { ok: false, reason: `${what} not signed` };
  const have = keys.size ? `only ${keys.size} trusted signature${keys.size === 1 ? "" : "s"} of the ${required} required; ` : "";
  return { ok: false, reason: `${have}${[...new Set(problems)].join("; ") || "no trusted signature"}` };
}
