// beamix's own list of Hex repositories (`beamix repo add|set|remove`): <config>/repositories.json,
//   {"repositories": {"NAME": {"url": "...", "publicKey": "PEM", "authKey": "..."}}}
// every field optional (an organization "hexpm:acme" needs only its auth key). Public keys are
// kept as text, as Hex keeps them in hex.config, so the file alone says what is trusted. It holds
// auth keys: written atomically, mode 0600.
import { mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { BeamixError, errorMessage } from "../errors.ts";
import { configDir } from "../config/trust.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";

export interface RepoEntry {
  url?: string;
  publicKey?: string;
  authKey?: string;
}

export type RepoEntries = Map<string, RepoEntry>;

export const reposFile = (dir = configDir()) => join(dir, "repositories.json");

const FIELDS = ["url", "publicKey", "authKey"] as const;

export async function readRepoEntries(file = reposFile()): Promise<RepoEntries> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return new Map();
    throw new BeamixError(`cannot read ${file}: ${code ?? errorMessage(err)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BeamixError(`${file}: not JSON (${errorMessage(err)})`);
  }
  const repos = (json as { repositories?: unknown })?.repositories;
  if (typeof repos !== "object" || repos === null || Array.isArray(repos)) throw new BeamixError(`${file}: expected {"repositories": {NAME: {...}}}`);
  const entries: RepoEntries = new Map();
  for (const [name, value] of Object.entries(repos)) {
    const entry: RepoEntry = {};
    for (const field of FIELDS) {
      const v = (value as Record<string, unknown>)?.[field];
      if (v === undefined) continue;
      if (typeof v !== "string") throw new BeamixError(`${file}: repository ${name}: ${field} is not a string`);
      entry[field] = v;
    }
    entries.set(name, entry);
  }
  return entries;
}

export async function writeRepoEntries(entries: RepoEntries, file = reposFile()): Promise<void> {
  const repositories = Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  await mkdir(dirname(file), { recursive: true });
  await writeFileAtomic(file, JSON.stringify({ repositories }, null, 2) + "\n", 0o600);
}
