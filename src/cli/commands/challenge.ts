// `beamix challenge`: compare what the local store and binary caches hold for the same derivations.
import type { Command } from "commander";
import { UsageError } from "../../errors.ts";
import { label, realize } from "../../realize/realize.ts";
import { isIdentified } from "../../realize/plan.ts";
import { failureLines } from "../../realize/failure-report.ts";
import { defaultProgress } from "../progress-display.ts";
import { challenge, formatChallengeItem, formatChallengeSummary } from "../../substitute/client/challenge.ts";
import { addBuildOptions, addRepoOptions, addStoreOption, jobsFromOptions, substitutersFromOptions, timeoutFromOptions, toolchain, type BuildOptions } from "../context.ts";
import { addProjectOptions, planFromOptions, rootsOf, SPEC_HELP, type PlanCliOptions } from "./build.ts";
import { printJson, printLines } from "../output.ts";
import { integerOption, secondsOption } from "../options.ts";
import { limitsFromOptions } from "../limit-options.ts";

type ChallengeCliOptions = PlanCliOptions &
  BuildOptions & {
    substituters: string[];
    trustedKey: string[];
    requireSigs: number;
    substituteTimeout: number;
    rootsOnly?: boolean;
    build?: boolean;
    diff: boolean; // --no-diff sets false
  };

const collect = (v: string, acc: string[]) => [...acc, v];

export function registerChallengeCommands(program: Command): void {
  const cmd = program
    .command("challenge")
    .description("compare the local store's items with what binary caches serve for the same derivations (exit 1 when any differ)")
    .argument("<spec...>", SPEC_HELP)
    .option("--substituters <urls>", "the binary caches to challenge (space-separated or repeated), besides those in the config file", collect, [] as string[])
    .option("--trusted-key <file>", "trust the public key(s) in FILE, besides the config file's trusted-keys (repeatable)", collect, [] as string[])
    .option("--require-sigs <k>", "distinct trusted signatures a record needs to count", integerOption("--require-sigs", 0), 1)
    .option("--substitute-timeout <seconds>", "give up on a cache request after this long without data", secondsOption("--substitute-timeout"), 30)
    .option("--roots-only", "challenge only the given packages, not their dependencies")
    .option("--build", "first build locally what the store lacks (never substituted), so there is a local build to compare")
    .option("--no-diff", "only compare hashes; do not fetch differing trees to say which files differ")
    .option("--json", "print the result as JSON");
  addStoreOption(cmd);
  addRepoOptions(cmd);
  addProjectOptions(cmd);
  addBuildOptions(cmd);
  cmd.action(async (specs: string[], opts: ChallengeCliOptions) => {
    const report = (line: string) => process.stderr.write(line + "\n");
    const substituters = await substitutersFromOptions({ ...opts, substitutes: true, fallback: true }, report);
    if (!substituters) throw new UsageError("no binary cache to challenge: give --substituters URL (or list caches in the config file)");
    const { store, plan } = await planFromOptions(specs, opts);
    try {
      const wanted = () => (opts.rootsOnly ? rootsOf(plan) : [...plan.packages.values()]);
      if (opts.build) {
        // Built here and nowhere else: substituting would compare a cache with itself.
        const result = await realize(plan, {
          store,
          toolchain: await toolchain(),
          jobs: jobsFromOptions(opts),
          keepGoing: true,
          keepFailed: opts.keepFailed,
          sandbox: opts.sandbox,
          timeoutMs: timeoutFromOptions(opts),
          limits: limitsFromOptions(opts),
          progress: await defaultProgress(),
        });
        for (const f of result.failed) failureLines(f).forEach(report);
        if (result.failed.length || result.skipped.length) process.exitCode = 1;
      }
      // Identities are known once realized, or when nothing configured can change them.
      const targets = wanted().filter(isIdentified);
      for (const p of wanted()) if (!isIdentified(p)) report(`${label(p)}: not in the store, and its identity depends on config it was never built with; challenge with --build`);
      const r = await challenge(targets, {
        store,
        substituters,
        diff: opts.diff,
        jobs: opts.jobs === undefined ? undefined : jobsFromOptions(opts),
        timeoutMs: opts.substituteTimeout * 1000,
      });
      if (opts.json) printJson(r);
      else printLines(r.items.flatMap(formatChallengeItem));
      report(formatChallengeSummary(r.summary));
      if (r.summary.differs > 0) process.exitCode = 1;
    } finally {
      await store.close();
    }
  });
}
