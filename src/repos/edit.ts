// `beamix repo add|set|remove`: changes to beamix's repositories.json (repos-file.ts), checked
// before anything is written: a name Hex would accept, an http(s)/file URL, a readable RSA public
// key. A repository other than an organization needs a key: beamix never takes one from the
// repository itself (what `mix hex.repo add` does without --public-key).
import { createPublicKey } from "node:crypto";
import { readFile } from "node:fs/promises";
import { BeamixError, errorMessage } from "../errors.ts";
import { readRepoEntries, reposFile, writeRepoEntries, type RepoEntry } from "./repos-file.ts";

export interface RepoChange {
  url?: string;
  publicKeyFile?: string;
  authKey?: string;
}

const NAME = /^[a-z0-9_-]+(:[a-z0-9_-]+)?$/;

export const isOrganization = (name: string) => name.includes(":");

export async function addRepo(name: string, change: RepoChange, file = reposFile()): Promise<RepoEntry> {
  if (!NAME.test(name)) throw new BeamixError(`${JSON.stringify(name)} is not a repository name (lowercase letters, digits, _ and -; an organization is SOURCE:ORG, e.g. hexpm:acme)`);
  const entries = await readRepoEntries(file);
  if (entries.has(name)) throw new BeamixError(`repository ${name} is already in ${file} (beamix repo set changes it)`);
  if (!isOrganization(name) && name !== "hexpm") {
    if (!change.url) throw new BeamixError(`repository ${name} needs a URL`);
    if (!change.publicKeyFile) throw new BeamixError(`repository ${name} needs --public-key FILE: beamix never trusts a key served by the repository itself`);
  }
  const entry = await entryOf({}, change);
  entries.set(name, entry);
  await writeRepoEntries(entries, file);
  return entry;
}

export async function setRepo(name: string, change: RepoChange, file = reposFile()): Promise<RepoEntry> {
  const entries = await readRepoEntries(file);
  const before = entries.get(name);
  if (!before && !(name === "hexpm" || isOrganization(name))) throw new BeamixError(`repository ${name} is not in ${file} (beamix repo add adds it)`);
  const entry = await entryOf(before ?? {}, change);
  entries.set(name, entry);
  await writeRepoEntries(entries, file);
  return entry;
}

export async function removeRepo(name: string, file = reposFile()): Promise<void> {
  const entries = await readRepoEntries(file);
  if (!entries.delete(name)) throw new BeamixError(`repository ${name} is not in ${file}`);
  await writeRepoEntries(entries, file);
}

async function entryOf(before: RepoEntry, change: RepoChange): Promise<RepoEntry> {
  const entry = { ...before };
  if (change.url !== undefined) {
    if (!/^(https?|file):\/\/./i.test(change.url)) throw new BeamixError(`${JSON.stringify(change.url)} is not an http://, https:// or file:// URL`);
    entry.url = change.url.replace(/\/+$/, "");
  }
  if (change.publicKeyFile !== undefined) entry.publicKey = await readPublicKeyPem(change.publicKeyFile);
  if (change.authKey !== undefined) {
    if (change.authKey === "") delete entry.authKey;
    else entry.authKey = change.authKey;
  }
  return entry;
}

async function readPublicKeyPem(path: string): Promise<string> {
  const pem = await readFile(path, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw new BeamixError(`cannot read public key ${path}: ${err.code ?? err.message}`);
  });
  try {
    // createPublicKey accepts a private key too (deriving the public one): never store that.
    if (/PRIVATE KEY/.test(pem)) throw new Error("a private key: give the public one");
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== "rsa") throw new Error(`a ${key.asymmetricKeyType} key, not RSA`);
  } catch (err) {
    throw new BeamixError(`${path}: not an RSA public key (${errorMessage(err)})`);
  }
  return pem;
}
