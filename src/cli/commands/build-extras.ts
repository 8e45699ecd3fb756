// What `beamix build -n`, `--root` and `--timeline` (and `beamix deps --timeline`) add to a
// build, loaded only when asked for.
import type { Plan, PlannedPackage } from "../../realize/plan.ts";
import type { RealizeResult } from "../../realize/realize.ts";
import type { Store } from "../../store/store.ts";
import type { Toolchain } from "../../toolchain/detect.ts";
import { dryRun } from "../../inspect/dry-run.ts";
import { formatBytes } from "../../inspect/closure.ts";
import { addResultLinks } from "../../inspect/result-links.ts";
import { TimelineRecorder } from "../../view/timeline.ts";
import { timelinePage } from "../../view/timeline-page.ts";
import type { Progress } from "../../realize/progress.ts";
import { substitutersFromOptions, type SubstituterOptions } from "../context.ts";
import { printJson, printLines } from "../output.ts";
import { checkOutputPath, writeOutputFile } from "../output-file.ts";

export async function printDryRun(plan: Plan, store: Store, toolchain: Toolchain, opts: SubstituterOptions & { json?: boolean }): Promise<void> {
  const say = (line: string) => void process.stderr.write(`beamix: ${line}\n`);
  const subs = await substitutersFromOptions(opts, say);
  const r = await dryRun(plan, { store, toolchain }, subs, say);
  if (opts.json) return printJson(r);
  const group = (action: string, heading: string, detail: (e: (typeof r.entries)[number]) => string) => {
    const es = r.entries.filter((e) => e.action === action);
    return es.length ? [heading, ...es.map((e) => `  ${e.name} ${e.version}${detail(e)}`)] : [];
  };
  printLines([
    ...group("substitute", `would download ${r.substitute} item${r.substitute === 1 ? "" : "s"} (${formatBytes(r.downloadBytes)}):`, (e) => `  ${formatBytes(e.downloadBytes!)} from ${e.from} (${formatBytes(e.narSize!)} unpacked)`),
    ...group("build", `would build ${r.build} item${r.build === 1 ? "" : "s"}:`, (e) => (e.path ? `  ${e.path}` : "")),
    ...group("present", `already present: ${r.present}`, (e) => `  ${e.path}`),
  ]);
}

export async function checkRootPath(path: string): Promise<void> {
  await checkOutputPath(path, "--root");
}

export async function linkRoots(store: Store, path: string, roots: readonly PlannedPackage[], result: RealizeResult): Promise<void> {
  const items = roots.flatMap((p) => (result.items.has(p.name) ? [{ name: p.name, path: result.items.get(p.name)!.path }] : []));
  for (const link of await addResultLinks(store, path, items)) process.stderr.write(`${link} is a GC root (remove it to let beamix gc collect the item)\n`);
}

// Checks where the page goes first: a build is not run for a page that cannot be written.
export async function timelineRecorder(file: string) {
  await checkOutputPath(file, "--timeline");
  const recorder = new TimelineRecorder();
  return {
    wrap: (p: Progress) => recorder.wrap(p),
    async write(store: Store, items: readonly { name: string; version: string; drvHash: string; status: string }[], title: string) {
      await writeOutputFile(file, timelinePage(await recorder.finish(title, store, items)));
      process.stderr.write(`timeline written to ${file}\n`);
    },
  };
}
