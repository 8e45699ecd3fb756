// The beamix side of the build benchmark: the corpus is packed into a signed registry served on
// loopback (as hex.pm would serve it), then `beamix build` of every package of the closure runs
// through the CLI into a fresh store (cold), and again when everything is built (no-op).
import { access, readdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeRegistry, type FixtureRegistry } from "../test/support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "../test/support/static-server.ts";
import { cleanEnv, run, type RunResult } from "./mix-baseline.ts";

export const BEAMIX_MAIN = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

export interface CorpusRegistry {
  registry: FixtureRegistry;
  server: StaticServer;
  packages: string[]; // package names, from the tarballs
}

export async function serveCorpus(packageDirs: readonly string[], dir: string): Promise<CorpusRegistry> {
  const registry = await makeRegistry(dir, packageDirs);
  const server = await startStaticServer({ root: registry.dir });
  const tarballs = await readdir(join(dir, "tarballs"));
  const packages = [...new Set(tarballs.map((t) => t.replace(/-[^-]+\.tar$/, "")))].sort();
  return { registry, server, packages };
}

// How beamix is run: the command line before its own arguments, and what it adds to the
// environment (the sources by default; bench/startup.ts packedForm installs the npm package).
export interface BeamixForm {
  name: string;
  command: string[];
  env: Record<string, string>;
}

// Runs the beamix CLI with a clean environment of its own (cache, config: no user substituters).
export function beamixCli(args: string[], workDir: string, extraEnv: Record<string, string> = {}, form?: BeamixForm): Promise<RunResult> {
  const env = cleanEnv({ BEAMIX_CACHE_DIR: join(workDir, "cache"), BEAMIX_CONFIG_DIR: join(workDir, "config"), HOME: join(workDir, "home"), ...form?.env, ...extraEnv });
  const [cmd, ...pre] = form?.command ?? [process.execPath, BEAMIX_MAIN];
  return run(cmd, [...pre, ...args], workDir, env);
}

export function repoArgs(c: CorpusRegistry): string[] {
  return ["--repo", c.server.url, "--public-key", c.registry.publicKeyPath];
}

export async function consumerConfigArgs(consumerDir: string): Promise<string[]> {
  const config = join(consumerDir, "config", "config.exs");
  return (await access(config).then(() => true, () => false)) ? ["--config", config] : [];
}

export function checked(r: RunResult, what: string): RunResult {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.output.slice(-4000)}`);
  return r;
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export interface BeamixBuildTimes {
  coldSeconds: number;
  noopSeconds: number; // median
  noopRuns: number[];
  builtItems: number;
}

export async function measureBeamixBuild(
  corpus: { packageDirs: string[]; consumerDir: string },
  workDir: string,
  noopRuns: number,
): Promise<BeamixBuildTimes> {
  const served = await serveCorpus(corpus.packageDirs, join(workDir, "repo"));
  try {
    const args = ["build", ...served.packages, "--store", join(workDir, "store"), ...repoArgs(served), ...(await consumerConfigArgs(corpus.consumerDir)), "--no-substitutes", "--json"];
    // The compile cache of the CLI itself is warmed first, as on any machine that ran beamix once.
    checked(await beamixCli(["--version"], workDir), "beamix --version");
    const cold = checked(await beamixCli(args, workDir), "cold beamix build");
    const builtItems = (JSON.parse(cold.output.slice(cold.output.indexOf("{"), cold.output.lastIndexOf("}") + 1)) as { built: number }).built;
    const runs: number[] = [];
    for (let i = 0; i < noopRuns; i++) runs.push(checked(await beamixCli(args, workDir), "no-op beamix build").seconds);
    return { coldSeconds: cold.seconds, noopSeconds: median(runs), noopRuns: runs, builtItems };
  } finally {
    await served.server.close();
  }
}
