// The user's substitute settings: which public keys are trusted and which substituters are used
// by default. Both live in the configuration directory, one entry a line, # comments allowed:
//   <config>/trusted-keys   NAME:base64 public keys (beamix key authorize appends to it)
//   <config>/substituters   cache URLs (file://, http://, https://)
// <config> is BEAMIX_CONFIG_DIR, else $XDG_CONFIG_HOME/beamix, else ~/.config/beamix.
import { configDir, parseSubstitutersFile, substitutersFile } from "./paths.ts";
import { join } from "node:path";
import { mkdir, readFile } from "node:fs/promises";
import { BeamixError, errorMessage } from "../errors.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { parsePublicKeys, type PublicKey } from "../signing/keys.ts";

export { configDir, substitutersFile };
export const trustedKeysFile = (dir = configDir()) => join(dir, "trusted-keys");

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    throw new BeamixError(`cannot read ${path}: ${code ?? errorMessage(err)}`);
  }
}

export async function readTrustedKeys(file = trustedKeysFile()): Promise<PublicKey[]> {
  const text = await readOptional(file);
  return text === undefined ? [] : parsePublicKeys(text, file);
}

// Adds keys to the trusted-keys file (created if needed); returns those that were not there yet.
// A different key under a name already trusted is added too: a cache may rotate keys.
export async function authorizeKeys(keys: readonly PublicKey[], file = trustedKeysFile()): Promise<PublicKey[]> {
  const text = (await readOptional(file)) ?? "";
  const have = new Set(parsePublicKeys(text, file).map((k) => k.text));
  const added = keys.filter((k, i) => !have.has(k.text) && keys.findIndex((o) => o.text === k.text) === i);
  if (added.length === 0) return [];
  await mkdir(join(file, ".."), { recursive: true });
  const prefix = text === "" || text.endsWith("\n") ? text : text + "\n";
  await writeFileAtomic(file, prefix + added.map((k) => k.text + "\n").join(""), 0o644);
  return added;
}

export async function readConfiguredSubstituters(file = substitutersFile()): Promise<string[]> {
  const text = await readOptional(file);
  return text === undefined ? [] : parseSubstitutersFile(text);
}
