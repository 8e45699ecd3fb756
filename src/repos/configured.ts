// The Hex repositories a run uses: hexpm, those in Hex's hex.config, those in beamix's own
// repositories.json (which win field by field), and organizations "SOURCE:ORG", as Hex merges them
// (lib/hex/repo.ex):
// - hexpm: hex.pm's URL unless a mirror is set (HEX_MIRROR_URL / HEX_MIRROR / mirror_url), always
//   hex.pm's key unless beamix's configuration names another, HEX_REPOS_KEY as its auth key.
// - an organization: <source URL>/repos/ORG, the source's key, its own auth key or else the
//   source's; its records name the organization alone.
// A mirror is only ever a transport: no key is ever taken from a repository.
import { HEXPM_URL } from "../hex/registry/client.ts";
import { HEXPM_PUBLIC_KEY_PEM } from "../hex/hexpm-key.ts";
import type { HexSettings } from "./hex-config.ts";
import type { RepoEntries, RepoEntry } from "./repos-file.ts";

export interface ConfiguredRepo {
  name: string;
  url: string;
  publicKeyPem?: string; // absent: the repository cannot be used until one is set
  authKey?: string;
  recordRepository?: string; // an organization's records say ORG, not SOURCE:ORG
  from: string[]; // where its settings came from: "default", a hex.config path, a repositories.json path
}

export function mergeRepos(hex: HexSettings, beamix: RepoEntries, beamixFile: string): Map<string, ConfiguredRepo> {
  const plain = new Map<string, ConfiguredRepo>();
  const orgs = new Map<string, { entry: RepoEntry; from: string[] }>();
  const add = (name: string, entry: RepoEntry, from: string) => {
    if (name.includes(":")) {
      const o = orgs.get(name) ?? { entry: {}, from: [] };
      orgs.set(name, { entry: { ...o.entry, ...entry }, from: [...o.from, from] });
      return;
    }
    const r = plain.get(name);
    if (!r) {
      plain.set(name, { name, url: entry.url ?? "", ...keys(entry), from: [from] });
      return;
    }
    Object.assign(r, entry.url ? { url: entry.url } : {}, keys(entry));
    r.from.push(from);
  };
  plain.set("hexpm", { name: "hexpm", url: HEXPM_URL, publicKeyPem: HEXPM_PUBLIC_KEY_PEM, from: ["default"] });
  for (const [name, entry] of hex.repos) add(name, entry, hex.file);
  for (const [name, entry] of beamix) add(name, entry, beamixFile);
  const hexpm = plain.get("hexpm")!;
  if (hex.mirrorUrl) hexpm.url = hex.mirrorUrl;
  if (hex.reposKey) hexpm.authKey = hex.reposKey;

  const all = new Map(plain);
  for (const [name, { entry, from }] of orgs) all.set(name, organizationRepo(name, plain, entry, from));
  return all;
}

// SOURCE:ORG, configured (entry) or not (Hex's fetch_organization_fallback: all from the source).
export function organizationRepo(name: string, repos: ReadonlyMap<string, ConfiguredRepo>, entry: RepoEntry = {}, from: string[] = []): ConfiguredRepo {
  const [sourceName, org] = splitOnce(name);
  const source = repos.get(sourceName);
  const orgUrl = source ? `${source.url}/repos/${org}` : undefined;
  const url = entry.url ?? orgUrl ?? "";
  const repo: ConfiguredRepo = { name, url, from: from.length ? from : [`organization of ${sourceName}`] };
  const publicKeyPem = entry.publicKey ?? source?.publicKeyPem;
  const authKey = entry.authKey ?? source?.authKey;
  if (publicKeyPem) repo.publicKeyPem = publicKeyPem;
  if (authKey) repo.authKey = authKey;
  // At the source's /repos/ORG, records name the organization; at a URL of its own, they name
  // the source (hex_core checks repo_organization if set, else repo_name).
  repo.recordRepository = url === orgUrl ? org : sourceName;
  return repo;
}

function keys(entry: RepoEntry): { publicKeyPem?: string; authKey?: string } {
  return { ...(entry.publicKey ? { publicKeyPem: entry.publicKey } : {}), ...(entry.authKey ? { authKey: entry.authKey } : {}) };
}

function splitOnce(name: string): [string, string] {
  const i = name.indexOf(":");
  return [name.slice(0, i), name.slice(i + 1)];
}
