// `beamix lock`: write a Mix project's mix.lock as `mix deps.get` would, from the configured
// repositories, without the Hex client (src/mix/lock-project.ts). --update and --unlock are
// `mix deps.update` and `mix deps.unlock`. And what one asks of a lock: `beamix deps tree`
// (mix deps.tree), `beamix outdated` (mix hex.outdated), `beamix audit` (mix hex.audit).
import { join } from "node:path";
import type { Command } from "commander";
import { writeFileAtomic } from "../../util/atomic-write.ts";
import { addRepoOptions, reposFromOptions } from "../context.ts";
import type { RepoOptions } from "../repo-options.ts";
import { printJson, printLines } from "../output.ts";
import { BeamixError } from "../../errors.ts";

// The project's declared dependencies and its mix.lock (a missing lock is an error here: these
// commands report on one).
async function projectAndLock(dir: string) {
  const [{ readMixProject }, { readMixLockFile }] = await Promise.all([import("../../deps/mix-query.ts"), import("../../mix/lock.ts")]);
  const project = await readMixProject(dir, "dev");
  const lock = await readMixLockFile(join(project.dir, "mix.lock"));
  if (lock.size === 0) throw new BeamixError(`${join(project.dir, "mix.lock")}: no lock (beamix lock writes it)`);
  return { project, lock };
}

async function sourceFromOptions(opts: RepoOptions) {
  const { hexPackageSource } = await import("../../resolve/source.ts");
  return hexPackageSource([...(await reposFromOptions(opts)).values()]);
}

interface LockOptions extends RepoOptions {
  update?: string[];
  unlock?: string[];
  json?: boolean;
}

export function registerLockCommands(program: Command): void {
  const cmd = program
    .command("lock")
    .description("write the Mix project's mix.lock as mix deps.get would: its Hex dependencies resolved against the configured repositories")
    .argument("[dir]", "the Mix project", ".")
    .option("--update <apps...>", "resolve these again instead of keeping their locked versions (mix deps.update)")
    .option("--unlock <apps...>", "remove these entries from the lock (mix deps.unlock)")
    .option("--json", "print what was locked as JSON");
  addRepoOptions(cmd);
  cmd.action(async (dir: string, opts: LockOptions) => {
    // Loaded here: reading a Mix project starts a VM.
    const [{ readMixProject }, { formatMixLock, readMixLockFile }, { lockProject }] = await Promise.all([
      import("../../deps/mix-query.ts"),
      import("../../mix/lock.ts"),
      import("../../mix/lock-project.ts"),
    ]);
    // Read in dev, the env mix deps.get runs in; it locks the dependencies of every env.
    const [project, repos] = await Promise.all([readMixProject(dir, "dev"), reposFromOptions(opts)]);
    const path = join(project.dir, "mix.lock");
    const existing = await readMixLockFile(path);
    const onlyUnlock = opts.unlock !== undefined && opts.update === undefined;
    const change = await lockProject(project, existing, repos, { unlock: opts.unlock, update: opts.update, resolve: !onlyUnlock });
    await writeFileAtomic(path, formatMixLock(change.lock));
    const locked = [...change.lock.values()].flatMap((e) => (e.kind === "hex" ? [{ app: e.app, package: e.package, version: e.version, repo: e.repo ?? "hexpm" }] : []));
    if (opts.json) return printJson({ path, packages: locked, added: change.added, changed: change.changed, removed: change.removed });
    const mark = (app: string) => (change.added.includes(app) ? " (new)" : change.changed.includes(app) ? " (changed)" : "");
    printLines([
      `${path}: ${locked.length} packages`,
      ...locked.map((p) => `  ${p.package} ${p.version}${p.repo === "hexpm" ? "" : ` (${p.repo})`}${mark(p.app)}`),
      ...change.removed.map((app) => `  ${app} unlocked`),
    ]);
  });
}

export function registerLockReports(program: Command): void {
  const outdatedCmd = program
    .command("outdated")
    .description("for each locked Hex package: the newest release its requirements allow and the newest overall (as mix hex.outdated)")
    .argument("[dir]", "the Mix project", ".")
    .option("--json", "print JSON");
  addRepoOptions(outdatedCmd).action(async (dir: string, opts: RepoOptions & { json?: boolean }) => {
    const { outdated } = await import("../../mix/outdated.ts");
    const [{ project, lock }, source] = await Promise.all([projectAndLock(dir), sourceFromOptions(opts)]);
    const rows = await outdated(project, lock, source);
    if (opts.json) return printJson({ packages: rows });
    const table = [["Dependency", "Current", "Allowed", "Latest", "Status"], ...rows.map((r) => [r.app, r.current, r.allowed, r.latest, r.status])];
    printTable(table);
  });

  const audit = program
    .command("audit")
    .description("list the locked Hex releases that are retired, with the reason (as mix hex.audit); exit 1 if any")
    .argument("[dir]", "the Mix project", ".")
    .option("--json", "print JSON");
  addRepoOptions(audit).action(async (dir: string, opts: RepoOptions & { json?: boolean }) => {
    const { retiredInLock } = await import("../../mix/retired.ts");
    const [{ lock }, source] = await Promise.all([projectAndLock(dir), sourceFromOptions(opts)]);
    const rows = await retiredInLock(lock, source);
    if (opts.json) printJson({ retired: rows });
    else if (rows.length === 0) printLines(["No retired packages found"]);
    else printTable([["Dependency", "Version", "Retirement reason"], ...rows.map((r) => [r.app, r.version, `(${r.reason})${r.message ? ` ${r.message}` : ""}`])]);
    if (rows.length > 0) process.exitCode = 1;
  });
}

// `beamix deps tree`, a subcommand of `beamix deps` (registered beside it, src/cli/program.ts).
export function registerDepsTree(program: Command): void {
  const deps = program.commands.find((c) => c.name() === "deps");
  if (!deps) return;
  deps
    .command("tree")
    .description("the project's dependencies and theirs, as mix.lock pins them (as mix deps.tree)")
    .argument("[dir]", "the Mix project", ".")
    .option("--json", "print JSON")
    .action(async (dir: string, _opts: unknown, cmd: Command) => {
      // `beamix deps` has a --json of its own, which commander gives it wherever it stands.
      const opts = cmd.optsWithGlobals() as { json?: boolean };
      const { depsTree, formatDepsTree } = await import("../../mix/deps-tree.ts");
      const { project, lock } = await projectAndLock(dir);
      const tree = depsTree(project.deps, lock);
      if (opts.json) return printJson({ app: project.app, deps: tree });
      printLines(formatDepsTree(project.app, tree));
    });
}

function printTable(rows: string[][]): void {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  printLines(rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()));
}
