// `beamix repo add|set|remove|list`: the Hex repositories every command uses (src/repos/), as
// `mix hex.repo` and `mix hex.organization auth` keep them for Hex.
import type { Command } from "commander";
import { publicKeyFingerprint } from "../../hex/registry/signed.ts";
import { addRepo, removeRepo, setRepo, type RepoChange } from "../../repos/edit.ts";
import { reposFile } from "../../repos/repos-file.ts";
import { configuredRepos } from "../repo-options.ts";
import { printJson, printLines } from "../output.ts";

interface ChangeOptions {
  url?: string;
  publicKey?: string;
  authKey?: string;
}

const changeOf = (opts: ChangeOptions, url?: string): RepoChange => ({
  ...((url ?? opts.url) !== undefined ? { url: url ?? opts.url } : {}),
  ...(opts.publicKey !== undefined ? { publicKeyFile: opts.publicKey } : {}),
  ...(opts.authKey !== undefined ? { authKey: opts.authKey } : {}),
});

function fingerprintOf(pem: string): string {
  try {
    return publicKeyFingerprint(pem);
  } catch {
    return "(not an RSA public key)";
  }
}

export function registerRepoCommands(program: Command): void {
  const repo = program.command("repo").description(`the Hex repositories commands use (kept in ${reposFile()}, besides Hex's hex.config)`);

  repo
    .command("add")
    .description("add a repository (an organization: hexpm:ORG, with --auth-key; its URL and key are hexpm's)")
    .argument("<name>", "the name its records carry (mix.lock's repository field)")
    .argument("[url]", "its URL (http, https or file); not needed for an organization")
    .option("--public-key <file>", "the PEM public key its registry is signed with (required but for organizations)")
    .option("--auth-key <key>", "sent with every request, as Hex sends it (authorization header)")
    .action(async (name: string, url: string | undefined, opts: ChangeOptions) => {
      await addRepo(name, changeOf(opts, url));
      printLines([`added repository ${name} to ${reposFile()}`]);
    });

  repo
    .command("set")
    .description("change a repository's URL, public key or auth key")
    .argument("<name>")
    .option("--url <url>", "its URL")
    .option("--public-key <file>", "its PEM public key")
    .option("--auth-key <key>", "its auth key (empty: none)")
    .action(async (name: string, opts: ChangeOptions) => {
      await setRepo(name, changeOf(opts));
      printLines([`changed repository ${name} in ${reposFile()}`]);
    });

  repo
    .command("remove")
    .description("remove a repository from beamix's configuration (hex.config is Hex's: mix hex.repo remove)")
    .argument("<name>")
    .action(async (name: string) => {
      await removeRepo(name);
      printLines([`removed repository ${name} from ${reposFile()}`]);
    });

  repo
    .command("list")
    .description("every repository commands use, with its public key's fingerprint and where its settings come from")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const { repos, hex } = await configuredRepos();
      const rows = [...repos.values()]
        .sort((a, b) => (a.name < b.name ? -1 : 1))
        .map((r) => ({
          name: r.name,
          url: r.url,
          publicKey: r.publicKeyPem ? fingerprintOf(r.publicKeyPem) : null,
          authKey: r.authKey !== undefined,
          from: r.from,
        }));
      if (opts.json) return printJson({ offline: hex.offline, repositories: rows });
      const table = [["Name", "URL", "Public key", "Auth key"], ...rows.map((r) => [r.name, r.url, r.publicKey ?? "(none: unusable)", r.authKey ? "yes" : ""])];
      const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
      printLines([...table.map((row) => row.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()), ...(hex.offline ? ["offline (HEX_OFFLINE or hex.config)"] : [])]);
    });
}
