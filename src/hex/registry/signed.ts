// Signing and verifying Hex registry resources: gzip(Signed{payload, signature}) where the
// signature is RSASSA-PKCS1-v1_5 with SHA-512 over the payload bytes.
import { createHash, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { BeamixError, errorMessage } from "../../errors.ts";
import { gunzip, gzipRegistry } from "../gzip.ts";
import { decodeSigned, encodeSigned } from "./proto.ts";

// Unpacked size limit of one registry resource. repo.hex.pm's `versions`, the largest, is a
// few MiB unpacked; this leaves ample room while still refusing a gzip bomb.
export const REGISTRY_MAX_UNPACKED_BYTES = 128 * 1024 * 1024;

export interface SignedResource {
  repository: string; // the repository name, for error messages
  resource: string; // "names", "versions", "packages/NAME"
}

export function signPayload(payload: Uint8Array, privateKeyPem: string): Buffer {
  return sign("sha512", payload, privateKeyPem);
}

// payload → the bytes of a registry file (Signed message, gzipped like Erlang's zlib:gzip/1).
export function signResource(payload: Uint8Array, privateKeyPem: string): Buffer {
  const signed = encodeSigned({ payload: Buffer.from(payload), signature: signPayload(payload, privateKeyPem) });
  return Buffer.from(gzipRegistry(signed));
}

function publicKey(pem: string, repository: string): KeyObject {
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== "rsa") throw new Error(`a ${key.asymmetricKeyType} key, not RSA`);
    return key;
  } catch (err) {
    throw new BeamixError(`registry ${repository}: the repository's public key is not a valid RSA public key (${errorMessage(err)})`);
  }
}

// Gunzips (bounded), decodes and verifies one registry file; returns the signed payload.
export function verifySigned(gz: Uint8Array, publicKeyPem: string, what: SignedResource): Buffer {
  const key = publicKey(publicKeyPem, what.repository);
  const prefix = `registry ${what.repository}: ${what.resource}`;
  const raw = gunzip(gz, REGISTRY_MAX_UNPACKED_BYTES, prefix);
  let signed;
  try {
    signed = decodeSigned(raw);
  } catch (err) {
    throw new BeamixError(`${prefix} is not a signed registry resource (${errorMessage(err)})`);
  }
  let ok: boolean;
  try {
    ok = verify("sha512", signed.payload, key, signed.signature);
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new BeamixError(
      `registry ${what.repository}: signature of ${what.resource} does not verify with the repository's public key`,
    );
  }
  return signed.payload;
}

// The public key as PKCS#1 PEM followed by a blank line: the `public_key` file Hex writes.
export function publicKeyFileText(privateOrPublicKeyPem: string): string {
  const pem = createPublicKey(privateOrPublicKeyPem).export({ type: "pkcs1", format: "pem" }) as string;
  return pem.endsWith("\n") ? `${pem}\n` : `${pem}\n\n`;
}

// SSH-style fingerprint, as `mix hex.repo list` and `ssh-keygen -lf` print it:
// "SHA256:" + unpadded base64 of sha256 over the key's SSH wire encoding
// (string "ssh-rsa", mpint e, mpint n).
export function publicKeyFingerprint(pem: string): string {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== "rsa") throw new BeamixError(`public key fingerprint: expected an RSA key, got ${key.asymmetricKeyType}`);
  const jwk = key.export({ format: "jwk" });
  const wire = Buffer.concat([
    sshString(Buffer.from("ssh-rsa")),
    sshString(mpint(Buffer.from(jwk.e!, "base64url"))),
    sshString(mpint(Buffer.from(jwk.n!, "base64url"))),
  ]);
  return `SHA256:${createHash("sha256").update(wire).digest("base64").replace(/=+$/, "")}`;
}

function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

// Big-endian magnitude, no leading zero bytes, plus one zero byte when the top bit is set
// (so the number does not read as negative).
function mpint(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length && magnitude[i] === 0) i++;
  const trimmed = magnitude.subarray(i);
  return trimmed.length > 0 && trimmed[0] & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
}
