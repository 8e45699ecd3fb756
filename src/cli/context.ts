// What store-using commands share: the store, the toolchain and the repositories, from options.
import { availableParallelism } from "node:os";
import type { Command } from "commander";
import { openStore, defaultStoreDir, type Store } from "../store/store.ts";
import type { Toolchain } from "../toolchain/detect.ts";
import { chosenToolchain } from "../toolchain/choice.ts";
import { addToolchainOptions } from "./toolchain-options.ts";
import type { HexRepo } from "../hex/registry/client.ts";
import { reposFromOptions as configuredReposFromOptions, type RepoOptions } from "./repo-options.ts";
import { integerOption, secondsOption } from "./options.ts";
import { addLimitOptions, type LimitOptions } from "./limit-options.ts";
import { Substituters } from "../substitute/client/substituters.ts";
import { readPublicKeyFile, type PublicKey } from "../signing/keys.ts";
import { readConfiguredSubstituters, readTrustedKeys } from "../config/trust.ts";

export interface StoreOptions {
  store?: string;
}

export function addStoreOption(cmd: Command): Command {
  return cmd.option("--store <dir>", "the store directory (default: BEAMIX_STORE, else the user's data directory)");
}

export function addRepoOptions(cmd: Command): Command {
  return cmd
    .option("--repo <url>", "the URL of repository --repo-name for this command (http, https or file); default: as configured (beamix repo list)")
    .option("--repo-name <name>", "the repository --repo and --public-key apply to, checked against every signed resource", "hexpm")
    .option("--public-key <pem>", "that repository's public key (default: as configured; hexpm: hex.pm's key)")
    .option("--offline", "use only verified registry records and tarballs cached before (also HEX_OFFLINE=1)")
    .option("--allow-registry-rollback", "accept a package record that lost releases or retirements since the one verified before");
}

export interface BuildOptions extends LimitOptions {
  jobs?: number;
  keepGoing?: boolean;
  keepFailed?: boolean;
  sandbox: boolean; // --no-sandbox sets false
  timeout: number; // seconds
}

// Every command that may build: the same options, limits and sandbox choice.
export function addBuildOptions(cmd: Command): Command {
  cmd
    .option("-j, --jobs <n>", "builds to run at once (default: the number of cores)", integerOption("--jobs", 1))
    .option("-k, --keep-going", "go on with other builds after one fails")
    .option("-K, --keep-failed", "keep the build directory of a failed build and print its path")
    .option("--no-sandbox", "build (and read package directories) without bubblewrap (outputs are then not guaranteed reproducible)")
    .option("--timeout <seconds>", "time limit of one package build", secondsOption("--timeout"), 1800);
  addLimitOptions(cmd);
  addToolchainOptions(cmd);
  // A package directory's mix.exs is read in the sandbox its build runs in, or without one.
  return cmd.hook("preAction", async (_cmd, action) => {
    if ((action.opts() as BuildOptions).sandbox === false) (await import("../project/reader-sandbox.ts")).readWithoutSandbox();
  });
}

// Recovery says on stderr what it removed (a line each); verify opens without it, to report.
export async function openStoreFromOptions(opts: StoreOptions, options: { recover?: boolean } = {}): Promise<Store> {
  return openStore(opts.store ?? defaultStoreDir(), { recover: options.recover, report: (line) => process.stderr.write(`beamix: ${line}\n`) });
}

// Every configured repository (./repo-options.ts).
export function reposFromOptions(opts: RepoOptions): Promise<Map<string, HexRepo>> {
  return configuredReposFromOptions(opts);
}

// Both checked as the command line was parsed (options.ts).
export function jobsFromOptions(opts: BuildOptions): number {
  return opts.jobs ?? availableParallelism();
}

export function timeoutFromOptions(opts: BuildOptions): number {
  return opts.timeout * 1000;
}


// Detected once per run (the one --toolchain and its kin chose, see ./toolchain-options.ts):
// commands ask for it from several places at once.
export function toolchain(): Promise<Toolchain> {
  return chosenToolchain();
}

// Binary caches to ask before building (src/substitute/client/substituters.ts).
export interface SubstituterOptions {
  substituters: string[];
  trustedKey: string[];
  requireSigs: number;
  substitutes: boolean; // --no-substitutes sets false
  fallback: boolean; // --no-fallback sets false
  substituteTimeout: number; // seconds
}

const collect = (v: string, acc: string[]) => [...acc, v];

export function addSubstituterOptions(cmd: Command): Command {
  return cmd
    .option("--substituters <urls>", "binary caches to try before building (file://, http://; space-separated or repeated), besides those in the config file", collect, [] as string[])
    .option("--trusted-key <file>", "trust the public key(s) in FILE, besides the config file's trusted-keys (repeatable)", collect, [] as string[])
    .option("--require-sigs <k>", "distinct trusted signatures a substitute needs (0: accept unsigned)", integerOption("--require-sigs", 0), 1)
    .option("--no-substitutes", "build everything missing; ask no binary cache")
    .option("--no-fallback", "when a trusted substitute exists but cannot be fetched or verified, fail instead of building")
    .option("--substitute-timeout <seconds>", "give up on a cache request after this long without data", secondsOption("--substitute-timeout"), 30);
}

// The substituters to use, or undefined when there are none (or --no-substitutes).
export async function substitutersFromOptions(opts: SubstituterOptions, report?: (line: string) => void): Promise<Substituters | undefined> {
  if (!opts.substitutes) return undefined;
  const urls = [...new Set([...opts.substituters.flatMap((s) => s.split(/\s+/)).filter((s) => s !== ""), ...(await readConfiguredSubstituters())])];
  if (urls.length === 0) return undefined;
  const keys: PublicKey[] = [...(await readTrustedKeys())];
  for (const f of opts.trustedKey) keys.push(...(await readPublicKeyFile(f)));
  return new Substituters({ urls, trustedKeys: keys, requireSigs: opts.requireSigs, timeoutMs: opts.substituteTimeout * 1000, report });
}
