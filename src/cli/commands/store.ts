// `beamix gc` and `beamix verify`: store maintenance.
import { addToolchainOptions } from "../toolchain-options.ts";
import type { Command } from "commander";
import {
  addRepoOptions,
  addStoreOption,
  addSubstituterOptions,
  openStoreFromOptions,
  reposFromOptions,
  substitutersFromOptions,
  toolchain,
  type StoreOptions,
  type SubstituterOptions,
} from "../context.ts";
import { secondsOption } from "../options.ts";
import { printJson, printLines } from "../output.ts";
import type { RepoOptions } from "../repo-options.ts";
import { rebuildRestorer, substituteRestorer } from "../restorers.ts";
import type { Restorer } from "../../store/store.ts";

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

export function registerStoreCommands(program: Command): void {
  const gc = program
    .command("gc")
    .description("delete store items no root reaches (profiles, and the inputs and outputs of running builds, are roots)")
    .option("-n, --dry-run", "only say what would be deleted")
    .option("--json", "print JSON");
  addStoreOption(gc);
  gc.action(async (opts: StoreOptions & { dryRun?: boolean; json?: boolean }) => {
    const store = await openStoreFromOptions(opts);
    try {
      const r = await store.gc({ dryRun: opts.dryRun });
      if (opts.json) return printJson(r);
      const verb = r.dryRun ? "would delete" : "deleted";
      printLines([...r.freed.map((f) => `${verb} ${f.path}`), `${verb} ${r.freed.length} items, ${mib(r.bytesFreed)}; kept ${r.kept}`]);
    } finally {
      await store.close();
    }
  });

  const verify = program
    .command("verify")
    .description("re-hash every store item, check the store database against the directories, and report (with --repair: restore) what is wrong")
    .option("--repair", "restore damaged items from substitutes or by rebuilding them; remove those that cannot be, what references them, and directories the database has no record of")
    .option("--no-sandbox", "with --repair: rebuild without bubblewrap")
    .option("--timeout <seconds>", "with --repair: time limit of one rebuild", secondsOption("--timeout"), 1800)
    .option("--json", "print JSON");
  addStoreOption(verify);
  addRepoOptions(verify);
  addSubstituterOptions(verify);
  addToolchainOptions(verify);
  verify.action(async (opts: StoreOptions & RepoOptions & SubstituterOptions & { repair?: boolean; json?: boolean; sandbox: boolean; timeout: number }) => {
    // Without recovery: rows without directories and directories without rows are reported here,
    // not removed on the way in.
    const store = await openStoreFromOptions(opts, { recover: false });
    try {
      const say = (line: string) => void process.stderr.write(`beamix: ${line}\n`);
      const restorers: Restorer[] = [];
      if (opts.repair) {
        const subs = await substitutersFromOptions(opts, say);
        if (subs) restorers.push(substituteRestorer(store, subs, say));
        restorers.push(rebuildRestorer({ store, repos: () => reposFromOptions(opts), toolchain, sandbox: opts.sandbox, timeoutMs: opts.timeout * 1000 }));
      }
      const r = await store.verify({ repair: opts.repair, restorers, report: say });
      if (opts.json) printJson(r);
      else {
        printLines([
          ...r.problems.map((p) => `${p.problem}: ${p.path}: ${p.detail}`),
          ...r.restored.map((x) => `restored ${x.path} from ${x.from}`),
          ...r.removed.map((p) => `removed ${p}`),
          `${r.checked} items checked, ${r.ok} ok, ${r.problems.length} with problems` +
            (opts.repair && r.problems.length ? `; ${r.restored.length} restored` : "") +
            (r.unrestored.length ? `, ${r.unrestored.length} could not be (removed: build them again)` : ""),
        ]);
      }
      // Problems remain unless every damaged item was restored (removed ones are gone).
      if (r.problems.length && (!opts.repair || r.unrestored.length)) process.exitCode = 1;
    } finally {
      await store.close();
    }
  });
}
