// `beamix deps`: fill a Mix project's deps/ and _build/ENV/lib/ with its locked dependencies,
// compiled through the store.
import type { Command } from "commander";
import { join } from "node:path";
import { cacheDir } from "../../config/paths.ts";
import { syncDeps, type DepsReport } from "../../deps/deps.ts";
import { defaultProgress } from "../../realize/progress.ts";
import type { RepoOptions } from "../repo-options.ts";
import {
  addBuildOptions,
  addRepoOptions,
  addStoreOption,
  jobsFromOptions,
  openStoreFromOptions,
  reposFromOptions,
  timeoutFromOptions,
  toolchain,
  type BuildOptions,
  type StoreOptions,
} from "../context.ts";
import { printJson, printLines } from "../output.ts";

type DepsCliOptions = StoreOptions &
  RepoOptions &
  BuildOptions & { env?: string; check?: boolean; json?: boolean; hardLinks?: boolean; loadPath: string[] };

export function registerDepsCommands(program: Command): void {
  const deps = program
    .command("deps")
    .description("build (or find) a Mix project's locked dependencies and put them in deps/ and _build/, so mix compile compiles only the project")
    .argument("[dir]", "the Mix project", ".")
    .option("--env <env>", "the MIX_ENV to prepare _build for (default: MIX_ENV, else dev)")
    .option("--check", "report what would be built or written, change nothing; exit 1 if anything would change")
    .option("--hard-links", "hard-link _build files to the store instead of copying them (Mix must then never write them)")
    .option("--json", "print the result as JSON")
    .option("-L, --load-path <dir>", "a directory of definition modules overriding automatic definitions (repeatable)", (d: string, acc: string[]) => [...acc, d], [] as string[]);
  addStoreOption(deps);
  addRepoOptions(deps);
  addBuildOptions(deps);
  // Seam: `--push` (upload the realized items to a cache) goes here once substitutes exist;
  // DepsReport.items lists exactly the items to push.
  deps.action(async (dir: string, opts: DepsCliOptions) => {
    const store = await openStoreFromOptions(opts);
    try {
      const report = await syncDeps({
        projectDir: dir,
        mixEnv: opts.env,
        store,
        toolchain: await toolchain(),
        repos: await reposFromOptions(opts),
        cacheDir: cacheDir(),
        jobs: jobsFromOptions(opts),
        keepGoing: opts.keepGoing,
        keepFailed: opts.keepFailed,
        sandbox: opts.sandbox,
        timeoutMs: timeoutFromOptions(opts),
        progress: opts.json ? undefined : await defaultProgress(),
        check: opts.check,
        link: opts.hardLinks ? "hardlink" : "copy",
        definitionDirs: opts.loadPath,
      });
      if (opts.json) printJson({ ...report, items: report.items.map(({ name, version, app, path, drvHash, status }) => ({ name, version, app, path, drvHash, status })) });
      else printLines(reportLines(report));
      process.stderr.write(summary(report, opts.check ?? false) + "\n");
      if (report.failed.length > 0 || report.skipped.length > 0 || (opts.check && report.changed)) process.exitCode = 1;
    } finally {
      await store.close();
    }
  });
}

function reportLines(r: DepsReport): string[] {
  const lines: string[] = [];
  for (const p of r.packages) {
    const what = [`${p.name} ${p.version}`, p.status];
    if (p.deps !== null) what.push(`deps: ${p.deps}`);
    if (p.build !== null) what.push(`_build: ${p.build}`);
    if (p.reads && p.reads.length > 0) what.push(`reads ${p.reads.map((x) => `${x.app}.${x.key}`).join(", ")}`);
    lines.push(what.join("  "));
    for (const reason of p.reasons) lines.push(`  ${reason}`);
  }
  for (const d of r.pathDeps) lines.push(`${d}: path dependency, compiled by Mix`);
  return lines;
}

function summary(r: DepsReport, check: boolean): string {
  const count = (f: (p: DepsReport["packages"][number]) => boolean) => r.packages.filter(f).length;
  const written = count((p) => (p.deps !== null && p.deps !== "unchanged") || (p.build !== null && p.build !== "unchanged") || p.status === "missing");
  const where = join(r.project.buildPath, "lib");
  const lines = check
    ? [`${count((p) => p.status === "missing")} to build, ${written} to write in ${where} and deps/ (--check: nothing changed)`]
    : [`${count((p) => p.status === "built")} built, ${count((p) => p.status === "present")} already present, ${written} written, ${r.packages.length - written} unchanged (${where})`];
  for (const f of r.failed) {
    lines.push(`failed: ${f.message}`);
    if (f.logPath) lines.push(`  log: ${f.logPath}`);
    if (f.keptDir) lines.push(`  build directory kept: ${f.keptDir}`);
  }
  for (const s of r.skipped) lines.push(`not built: ${s.name} (${s.reason})`);
  return lines.join("\n");
}
