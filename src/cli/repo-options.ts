// The Hex repositories a command uses: every configured one (src/repos/: hexpm, Hex's hex.config,
// beamix's repositories.json, HEX_MIRROR, HEX_REPOS_KEY, HEX_OFFLINE, HEX_CACERTS_PATH), with the
// --repo / --repo-name / --public-key options overriding one of them for this command alone.
// --repo URL alone is a hexpm mirror: its records must still carry the name "hexpm" and verify
// with the hexpm key, unless another key is given: --public-key, else BEAMIX_HEX_PUBLIC_KEY (a
// file), so that a shell or CI job pointed at a repository of its own need not repeat it.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { HexRepo } from "../hex/registry/client.ts";
import { BeamixError } from "../errors.ts";
import { cacheDir } from "../config/paths.ts";
import { mergeRepos, organizationRepo, type ConfiguredRepo } from "../repos/configured.ts";
import { readHexSettings, type HexSettings } from "../repos/hex-config.ts";
import { readRepoEntries, reposFile } from "../repos/repos-file.ts";
import { useCaCertificates } from "../repos/ca-certificates.ts";

export interface RepoOptions {
  repo?: string;
  repoName?: string;
  publicKey?: string;
  allowRegistryRollback?: boolean;
  offline?: boolean;
}

export interface ConfiguredRepos {
  repos: Map<string, ConfiguredRepo>;
  hex: HexSettings;
}

// Every repository as configured, before any option.
export async function configuredRepos(): Promise<ConfiguredRepos> {
  const [hex, entries] = await Promise.all([readHexSettings(), readRepoEntries()]);
  return { repos: mergeRepos(hex, entries, reposFile()), hex };
}

// Every usable repository, by name. One without a public key or URL is left out (using it says
// so); the one the options name must be usable.
export async function reposFromOptions(opts: RepoOptions): Promise<Map<string, HexRepo>> {
  const { repos, hex } = await configuredRepos();
  if (hex.cacertsPath) await useCaCertificates(hex.cacertsPath);
  const name = opts.repoName || "hexpm";
  const target: ConfiguredRepo = repos.get(name) ?? (name.includes(":") ? organizationRepo(name, repos) : { name, url: "", from: [] });
  if (opts.repo) target.url = opts.repo.replace(/\/+$/, "");
  const publicKey = opts.publicKey || process.env.BEAMIX_HEX_PUBLIC_KEY;
  if (publicKey) {
    target.publicKeyPem = await readFile(publicKey, "utf8").catch((err) => {
      throw new BeamixError(`cannot read public key ${publicKey}${opts.publicKey ? "" : " (BEAMIX_HEX_PUBLIC_KEY)"}: ${err.code ?? err.message}`);
    });
  }
  repos.set(name, target);
  if (!target.publicKeyPem) throw new BeamixError(`repository ${name} needs --public-key FILE (or beamix repo add ${name} URL --public-key FILE): beamix never trusts a key served by the repository itself`);
  if (!target.url) throw new BeamixError(`repository ${name} has no URL: use --repo URL or beamix repo add ${name} URL`);
  const offline = opts.offline === true || hex.offline;
  const out = new Map<string, HexRepo>();
  for (const r of repos.values()) {
    if (!r.publicKeyPem || !r.url) continue;
    out.set(
      r.name,
      new HexRepo({
        name: r.name,
        url: r.url,
        publicKeyPem: r.publicKeyPem,
        cacheDir: join(cacheDir(), "hex"),
        ...(r.authKey !== undefined ? { authKey: r.authKey } : {}),
        ...(r.recordRepository !== undefined ? { recordRepository: r.recordRepository } : {}),
        ...(offline ? { offline } : {}),
        ...(opts.allowRegistryRollback ? { allowRollback: true } : {}),
      }),
    );
  }
  return out;
}

// The one repository the options name (default hexpm), for commands that read one.
export async function repoFromOptions(opts: RepoOptions): Promise<HexRepo> {
  return (await reposFromOptions(opts)).get(opts.repoName || "hexpm")!;
}
