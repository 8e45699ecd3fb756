// Turns the --repo / --repo-name / --public-key options shared by commands into a HexRepo.
// Without options: hexpm (HEX_MIRROR honored). A URL alone is a hexpm mirror: its records must
// still carry the name "hexpm" and verify with the hexpm key, unless another key is given:
// --public-key, else BEAMIX_HEX_PUBLIC_KEY (a file), so that a shell or CI job pointed at a
// repository of its own with HEX_MIRROR need not repeat the key on every command.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { HexRepo, hexpmRepoConfig } from "../hex/registry/client.ts";
import { BeamixError } from "../errors.ts";
import { cacheDir } from "../config/paths.ts";

export interface RepoOptions {
  repo?: string;
  repoName?: string;
  publicKey?: string;
  allowRegistryRollback?: boolean;
}

export async function repoFromOptions(opts: RepoOptions): Promise<HexRepo> {
  const config = hexpmRepoConfig({ cacheDir: join(cacheDir(), "hex") });
  if (opts.repo) config.url = opts.repo.replace(/\/+$/, "");
  if (opts.repoName) config.name = opts.repoName;
  const publicKey = opts.publicKey || process.env.BEAMIX_HEX_PUBLIC_KEY;
  if (publicKey) {
    config.publicKeyPem = await readFile(publicKey, "utf8").catch((err) => {
      throw new BeamixError(`cannot read public key ${publicKey}${opts.publicKey ? "" : " (BEAMIX_HEX_PUBLIC_KEY)"}: ${err.code ?? err.message}`);
    });
  } else if (config.name !== "hexpm") {
    throw new BeamixError(`repository ${config.name} needs --public-key FILE: beamix never trusts a key served by the repository itself`);
  }
  if (opts.allowRegistryRollback) config.allowRollback = true;
  return new HexRepo(config);
}
