// `beamix gc` and `beamix verify`: store maintenance.
import type { Command } from "commander";
import { addStoreOption, openStoreFromOptions, type StoreOptions } from "../context.ts";
import { printJson, printLines } from "../output.ts";

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
    .description("re-hash every store item and report (with --repair: remove) the corrupt ones")
    .option("--repair", "remove corrupt items and what references them, so they are built again")
    .option("--json", "print JSON");
  addStoreOption(verify);
  verify.action(async (opts: StoreOptions & { repair?: boolean; json?: boolean }) => {
    const store = await openStoreFromOptions(opts);
    try {
      const r = await store.verify({ repair: opts.repair });
      if (opts.json) printJson(r);
      else {
        printLines([
          ...r.problems.map((p) => `${p.problem}: ${p.path}: ${p.detail}`),
          ...r.removed.map((p) => `removed ${p}`),
          `${r.checked} items checked, ${r.ok} ok, ${r.problems.length} with problems`,
        ]);
      }
      if (r.problems.length && !opts.repair) process.exitCode = 1;
    } finally {
      await store.close();
    }
  });
}
