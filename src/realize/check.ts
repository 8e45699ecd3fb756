// `beamix build --check`: build a package again, outside the store, and compare the result with
// the store item: bit-identical, identical except debug info, or different (which files, chunks).
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compareTrees, formatComparison, type Comparison } from "../builder/compare.ts";
import { buildOne } from "./build-one.ts";
import { label, type RealizeOptions } from "./realize.ts";
import { identified, type Plan } from "./plan.ts";

export interface CheckResult {
  name: string;
  version: string;
  path: string;
  comparison: Comparison;
}

export async function checkBuilds(plan: Plan, names: readonly string[], opts: RealizeOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const name of names) {
    const p = identified(plan, name);
    const tmp = await mkdtemp(join(opts.workRoot ?? tmpdir(), `beamix-check-${p.name}-`));
    try {
      const rebuilt = join(tmp, "out");
      await mkdir(rebuilt);
      await buildOne(plan, p, rebuilt, opts, true);
      results.push({ name: p.name, version: p.version, path: p.itemPath, comparison: await compareTrees(p.itemPath, rebuilt) });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  return results;
}

export function formatCheck(c: CheckResult): string[] {
  return [`${label(c)}: ${formatComparison(c.comparison).join("\n  ")}`];
}
