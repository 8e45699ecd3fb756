// Hex's own configuration, read as the Hex client reads it (lib/hex/config.ex, lib/hex/state.ex),
// so that a machine where `mix hex.repo add` or `mix hex.organization auth` ran needs no flag:
//   $HEX_HOME/hex.config (default ~/.hex/hex.config; MIX_XDG=1: ~/.config/hex/hex.config), one
//   `{Key, Value}.` term a line as io_lib:print writes them. `{'$repos', #{<<"name">> =>
//   #{url => <<..>>, public_key => <<"PEM">>, auth_key => <<..>> | nil, ...}}}` holds the
//   repositories; `offline`, `repos_key`, `cacerts_path` and `mirror_url` are the settings
//   `mix hex.config KEY VALUE` stores.
// The environment wins over the file, as in Hex: HEX_OFFLINE, HEX_REPOS_KEY, HEX_CACERTS_PATH,
// HEX_MIRROR_URL / HEX_MIRROR.
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { BeamixError, errorMessage } from "../errors.ts";
import { parseTerms } from "../erlang/parse.ts";
import type { Term } from "../erlang/term.ts";

export interface HexConfigRepo {
  url?: string;
  publicKey?: string; // PEM text
  authKey?: string;
}

export interface HexSettings {
  file: string; // the hex.config path, whether or not it exists
  repos: Map<string, HexConfigRepo>;
  offline: boolean;
  reposKey?: string; // the auth key of hexpm (and of its organizations without their own)
  cacertsPath?: string;
  mirrorUrl?: string;
}

type Env = Record<string, string | undefined>;

export function hexConfigFile(env: Env = process.env): string {
  const home = env.HOME || homedir();
  if (env.HEX_HOME) return join(env.HEX_HOME, "hex.config");
  if (env.MIX_XDG === "1" || env.MIX_XDG === "true") return join(env.XDG_CONFIG_HOME || join(home, ".config"), "hex", "hex.config");
  return join(home, ".hex", "hex.config");
}

export async function readHexSettings(env: Env = process.env): Promise<HexSettings> {
  const file = hexConfigFile(env);
  const terms = await readTermsFile(file);
  const settings = new Map<string, Term>();
  for (const t of terms) {
    if (t.type === "tuple" && t.items.length === 2 && t.items[0].type === "atom") settings.set(t.items[0].value, t.items[1]);
  }
  const textSetting = (key: string) => textOf(settings.get(key));
  const offlineEnv = env.HEX_OFFLINE === undefined ? undefined : booleanOf(env.HEX_OFFLINE, "HEX_OFFLINE");
  const offlineFile = settings.get("offline");
  const result: HexSettings = {
    file,
    repos: reposOf(settings.get("$repos"), file),
    offline: offlineEnv ?? (offlineFile?.type === "atom" && offlineFile.value === "true"),
  };
  const reposKey = env.HEX_REPOS_KEY || textSetting("repos_key");
  if (reposKey) result.reposKey = reposKey;
  const cacertsPath = env.HEX_CACERTS_PATH || textSetting("cacerts_path");
  if (cacertsPath) result.cacertsPath = cacertsPath;
  const mirrorUrl = env.HEX_MIRROR_URL || env.HEX_MIRROR || textSetting("mirror_url");
  if (mirrorUrl) result.mirrorUrl = mirrorUrl.replace(/\/+$/, "");
  return result;
}

// Hex's to_boolean: 1/0, true/false (any case Hex accepts), empty is false.
function booleanOf(value: string, variable: string): boolean {
  if (["1", "true", "TRUE"].includes(value)) return true;
  if (["0", "false", "FALSE", ""].includes(value)) return false;
  throw new BeamixError(`${variable}=${JSON.stringify(value)} is not a boolean (use 1 or 0)`);
}

async function readTermsFile(file: string): Promise<Term[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return [];
    throw new BeamixError(`cannot read ${file}: ${code ?? errorMessage(err)}`);
  }
  try {
    return parseTerms(text, file);
  } catch (err) {
    throw new BeamixError(`${file}: not Hex's configuration as Hex writes it (${errorMessage(err)})`);
  }
}

function textOf(t: Term | undefined): string | undefined {
  if (t === undefined) return undefined;
  if (t.type === "binary") return t.value.toString("utf8");
  if (t.type === "string") return t.value;
  return undefined; // nil, or a value Hex would not have written
}

function reposOf(t: Term | undefined, file: string): Map<string, HexConfigRepo> {
  const repos = new Map<string, HexConfigRepo>();
  if (t === undefined) return repos;
  if (t.type !== "map") throw new BeamixError(`${file}: '$repos' is a ${t.type}, not a map of repositories`);
  for (const [k, v] of t.entries) {
    const name = textOf(k);
    if (name === undefined || v.type !== "map") throw new BeamixError(`${file}: '$repos' has an entry that is not <<"name">> => #{...}`);
    const fields = new Map(v.entries.flatMap(([fk, fv]): [string, Term][] => (fk.type === "atom" ? [[fk.value, fv]] : [])));
    const repo: HexConfigRepo = {};
    const url = textOf(fields.get("url"));
    const publicKey = textOf(fields.get("public_key"));
    const authKey = textOf(fields.get("auth_key"));
    if (url) repo.url = url.replace(/\/+$/, "");
    if (publicKey) repo.publicKey = publicKey;
    if (authKey) repo.authKey = authKey;
    repos.set(name, repo);
  }
  return repos;
}
