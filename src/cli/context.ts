// What store-using commands share: the store, the toolchain and the repositories, from options.
import { availableParallelism } from "node:os";
import type { Command } from "commander";
import { openStore, defaultStoreDir, type Store } from "../store/store.ts";
import { detectToolchain, type Toolchain } from "../toolchain/detect.ts";
import { sandboxAvailable, sandboxUnavailableMessage } from "../sandbox/bwrap.ts";
import type { HexRepo } from "../hex/registry/client.ts";
import { BeamixError, UsageError } from "../errors.ts";
import { repoFromOptions, type RepoOptions } from "./repo-options.ts";

export interface StoreOptions {
  store?: string;
}

export function addStoreOption(cmd: Command): Command {
  return cmd.option("--store <dir>", "the store directory (default: BEAMIX_STORE, else the user's data directory)");
}

export function addRepoOptions(cmd: Command): Command {
  return cmd
    .option("--repo <url>", "Hex repository URL (http, https or file); default: HEX_MIRROR or https://repo.hex.pm")
    .option("--repo-name <name>", "the repository's name, checked against every signed resource", "hexpm")
    .option("--public-key <pem>", "the repository's public key (default: the hexpm key)");
}

export interface BuildOptions {
  jobs?: string;
  keepGoing?: boolean;
  keepFailed?: boolean;
  sandbox: boolean; // --no-sandbox sets false
  timeout: string;
}

export function addBuildOptions(cmd: Command): Command {
  return cmd
    .option("-j, --jobs <n>", "builds to run at once (default: the number of cores)")
    .option("-k, --keep-going", "go on with other builds after one fails")
    .option("-K, --keep-failed", "keep the build directory of a failed build and print its path")
    .option("--no-sandbox", "build without bubblewrap (outputs are then not guaranteed reproducible)")
    .option("--timeout <seconds>", "time limit of one package build", "1800");
}

export async function openStoreFromOptions(opts: StoreOptions): Promise<Store> {
  return openStore(opts.store ?? defaultStoreDir());
}

export async function reposFromOptions(opts: RepoOptions): Promise<Map<string, HexRepo>> {
  const repo = await repoFromOptions(opts);
  return new Map([[repo.name, repo]]);
}

export function jobsFromOptions(opts: BuildOptions): number {
  if (opts.jobs === undefined) return availableParallelism();
  const n = Number(opts.jobs);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--jobs must be a positive integer, not ${JSON.stringify(opts.jobs)}`);
  return n;
}

export function timeoutFromOptions(opts: BuildOptions): number {
  const s = Number(opts.timeout);
  if (!(s > 0)) throw new UsageError(`--timeout must be a positive number of seconds, not ${JSON.stringify(opts.timeout)}`);
  return s * 1000;
}

// Builds run sandboxed unless the user said --no-sandbox; where bubblewrap cannot run, say so.
export async function checkSandbox(opts: BuildOptions): Promise<void> {
  if (!opts.sandbox) return;
  const check = await sandboxAvailable();
  if (!check.available) throw new BeamixError(sandboxUnavailableMessage(check.reason));
}

export async function toolchain(): Promise<Toolchain> {
  return detectToolchain();
}
