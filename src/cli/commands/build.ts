// `beamix build`, `beamix path`, `beamix log`: realize packages and look at what was realized.
import { addToolchainOptions } from "../toolchain-options.ts";
import type { Command } from "commander";
import { BeamixError } from "../../errors.ts";
import { planBuild, type Plan } from "../../realize/plan.ts";
import { realize, label, type RealizeResult } from "../../realize/realize.ts";
import { defaultProgress } from "../progress-display.ts";
import { failureLines } from "../../realize/failure-report.ts";
import { addLoadPathOption } from "../definition-options.ts";
import type { RepoOptions } from "../repo-options.ts";
import {
  addBuildOptions,
  addRepoOptions,
  addStoreOption,
  addSubstituterOptions,
  jobsFromOptions,
  openStoreFromOptions,
  reposFromOptions,
  substitutersFromOptions,
  timeoutFromOptions,
  toolchain,
  type BuildOptions,
  type StoreOptions,
  type SubstituterOptions,
} from "../context.ts";
import { printJson, printLines } from "../output.ts";
import { readConfigFile } from "../../project/config-reader.ts";
import { limitsFromOptions, type LimitOptions } from "../limit-options.ts";

// The project a build is for: its compile-time config reaches exactly the packages that read it.
export function addProjectOptions(cmd: Command): Command {
  cmd
    .option("--config <file>", "a Mix config file (config/config.exs) whose values packages read at compile time")
    .option("--mix-env <env>", "MIX_ENV of the builds (deps build with prod, as Mix does)", "prod");
  return addLoadPathOption(cmd);
}

export type PlanCliOptions = StoreOptions & RepoOptions & { json?: boolean; config?: string; mixEnv: string; loadPath: string[] };
export const SPEC_HELP = "a Hex name (beacon, beacon@~> 1.1, erlang-beacon), a package directory, a .tar or a definition file";

export async function planFromOptions(specs: string[], opts: PlanCliOptions) {
  // Independent steps, each of which may start a process (toolchain probe, config reader) or
  // wait for the disk: they run at once.
  const inputs = Promise.all([opts.config ? readConfigFile(opts.config, opts.mixEnv) : undefined, reposFromOptions(opts), toolchain()]);
  inputs.catch(() => {}); // awaited below, once the store is open
  const store = await openStoreFromOptions(opts);
  try {
    const [projectConfig, repos, tc] = await inputs;
    const plan = await planBuild(specs, { repos, toolchain: tc, store, mixEnv: opts.mixEnv, projectConfig, definitionDirs: opts.loadPath });
    return { store, plan };
  } catch (err) {
    await store.close();
    throw err;
  }
}

export function rootsOf(plan: Plan) {
  return plan.roots.map((n) => plan.packages.get(n)!);
}

export function registerBuildCommands(program: Command): void {
  const build = program
    .command("build")
    .description("build packages and their dependencies into the store (or find them there); print their store paths")
    .argument("<spec...>", SPEC_HELP)
    .option("--check", "rebuild the given packages and compare with the store items")
    .option("-n, --dry-run", "only say what would be substituted (with download sizes), built, or is present")
    .option("-r, --root <path>", "make PATH a symlink to the item, kept alive by gc while the link exists (PATH-<package> for several)")
    .option("--timeline <file>", "write a page showing each package's wait, download, build phases and registration over time")
    .option("--json", "print the result as JSON");
  addStoreOption(build);
  addRepoOptions(build);
  addProjectOptions(build);
  addBuildOptions(build);
  addSubstituterOptions(build);
  build.action(async (specs: string[], opts: PlanCliOptions & BuildOptions & LimitOptions & SubstituterOptions & { check?: boolean; dryRun?: boolean; root?: string; timeline?: string }) => {
    const tc = await toolchain();
    const { store, plan } = await planFromOptions(specs, opts);
    try {
      if (opts.dryRun) return await (await import("./build-extras.ts")).printDryRun(plan, store, tc, opts);
      const timeline = opts.timeline ? await (await import("./build-extras.ts")).timelineRecorder(opts.timeline) : undefined;
      if (opts.root) await (await import("./build-extras.ts")).checkRootPath(opts.root);
      const common = { store, toolchain: tc, jobs: jobsFromOptions(opts), keepFailed: opts.keepFailed, sandbox: opts.sandbox, timeoutMs: timeoutFromOptions(opts), limits: limitsFromOptions(opts) };
      const progress = timeline ? timeline.wrap(await defaultProgress()) : await defaultProgress();
      const substituters = await substitutersFromOptions(opts, (message) => progress.event({ type: "warning", message }));
      const result = await realize(plan, { ...common, keepGoing: opts.keepGoing, progress, substituters, fallback: opts.fallback });
      reportRealize(plan, result, opts.json, substituters !== undefined);
      if (timeline) await timeline.write(store, [...result.items.values()], `beamix build ${specs.join(" ")}`);
      if (opts.root) await (await import("./build-extras.ts")).linkRoots(store, opts.root, rootsOf(plan), result);
      if (result.failed.length || result.skipped.length) process.exitCode = 1;
      if (opts.check && !result.failed.length) {
        const { checkBuilds, formatCheck } = await import("../../realize/check.ts");
        const checks = await checkBuilds(plan, plan.roots, common);
        if (opts.json) printJson(checks);
        else printLines(checks.flatMap(formatCheck));
        if (checks.some((c) => c.comparison.verdict === "differs")) process.exitCode = 1;
      }
    } finally {
      await store.close();
    }
  });

  const path = program
    .command("path")
    .description("print the store path of a package (exit 1 when it is not built yet)")
    .argument("<spec...>", SPEC_HELP)
    .option("--json", "print JSON");
  addStoreOption(path);
  addRepoOptions(path);
  addProjectOptions(path);
  addToolchainOptions(path);
  path.action(async (specs: string[], opts: PlanCliOptions) => {
    const { store, plan } = await planFromOptions(specs, opts);
    try {
      // A package whose identity depends on a read set nobody has recorded yet was never built.
      const roots = rootsOf(plan).map((p) => ({ name: p.name, version: p.version, path: p.itemPath ?? null, valid: p.itemPath !== undefined && store.isValid(p.itemPath) }));
      if (opts.json) printJson(roots);
      else printLines(roots.flatMap((r) => (r.path === null ? [] : [r.path])));
      const missing = roots.filter((r) => !r.valid);
      if (missing.length) throw new BeamixError(`not in the store yet: ${missing.map(label).join(", ")} (run beamix build)`);
    } finally {
      await store.close();
    }
  });

  const log = program.command("log").description("print the stored build log of a package").argument("<spec>", SPEC_HELP);
  addStoreOption(log);
  addRepoOptions(log);
  addProjectOptions(log);
  log.action(async (spec: string, opts: PlanCliOptions) => {
    const { store, plan } = await planFromOptions([spec], opts);
    try {
      const p = rootsOf(plan)[0];
      const text = p.drvHash === undefined ? undefined : await store.readLog(p.drvHash);
      if (text === undefined) throw new BeamixError(`no build log for ${label(p)}: it was never built in this store`);
      process.stdout.write(text);
    } finally {
      await store.close();
    }
  });
}

// The summary line says how many items were substituted whenever substituters were in use.
export function reportRealize(plan: Plan, result: RealizeResult, json?: boolean, substituting = false): void {
  const count = (s: string) => [...result.items.values()].filter((i) => i.status === s).length;
  const built = count("built");
  const substituted = count("substituted");
  const present = count("present");
  if (json) {
    printJson({
      roots: rootsOf(plan).map((p) => ({ name: p.name, version: p.version, path: result.items.get(p.name)?.path ?? null })),
      built,
      substituted,
      present,
      failed: result.failed,
      skipped: result.skipped,
    });
  } else {
    printLines(rootsOf(plan).flatMap((p) => (result.items.has(p.name) ? [result.items.get(p.name)!.path] : [])));
  }
  const lines = [`${built} built, ${substituting || substituted ? `${substituted} substituted, ` : ""}${present} already present, ${result.failed.length} failed${result.skipped.length ? `, ${result.skipped.length} not built` : ""}`];
  for (const f of result.failed) lines.push(...failureLines(f));
  process.stderr.write(lines.join("\n") + "\n");
}
