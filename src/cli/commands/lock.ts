// `beamix lock`: write a Mix project's mix.lock as `mix deps.get` would, from the configured
// repositories, without the Hex client (src/mix/lock-project.ts). --update and --unlock are
// `mix deps.update` and `mix deps.unlock`.
import { join } from "node:path";
import type { Command } from "commander";
import { writeFileAtomic } from "../../util/atomic-write.ts";
import { addRepoOptions, reposFromOptions } from "../context.ts";
import type { RepoOptions } from "../repo-options.ts";
import { printJson, printLines } from "../output.ts";

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
