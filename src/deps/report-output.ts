// What `beamix deps` prints about a run: the report on stdout (one line per package, or JSON with
// --json) and the summary on stderr. Shared by the CLI and by the paths that answer without
// running (unchanged-replay.ts, checkout-restore.ts), so that they print what a run would.
import { join } from "node:path";
import { failureLines } from "../realize/failure-report.ts";
import type { DepsReport } from "./report.ts";

// What a run prints: the report on stdout (text or JSON), the summary on stderr.
export interface OutputOptions {
  json: boolean;
  check: boolean;
  substituting: boolean; // substituters were asked: the summary counts the substituted
}

export function depsOutput(report: DepsReport, opts: OutputOptions, push?: unknown): { stdout: string; stderr: string } {
  const lines = reportLines(report);
  const stdout = opts.json
    ? JSON.stringify(
        {
          ...report,
          items: report.items.map(({ name, version, app, path, drvHash, status }) => ({ name, version, app, path, drvHash, status })),
          ...(push ? { push } : {}),
        },
        null,
        2,
      ) + "\n"
    : lines.length
      ? lines.join("\n") + "\n"
      : "";
  return { stdout, stderr: summary(report, opts.check, opts.substituting) + "\n" };
}

function reportLines(r: DepsReport): string[] {
  const lines: string[] = [];
  for (const p of r.packages) {
    const what = [`${p.name} ${p.version}`, p.substitutedFrom !== undefined ? `substituted from ${p.substitutedFrom}` : p.status];
    if (p.deps !== null) what.push(`deps: ${p.deps}`);
    if (p.build !== null) what.push(`_build: ${p.build}`);
    if (p.reads && p.reads.length > 0) what.push(`reads ${p.reads.map((x) => `${x.app}.${x.key}`).join(", ")}`);
    lines.push(what.join("  "));
    for (const reason of p.reasons) lines.push(`  ${reason}`);
  }
  for (const d of r.pathDeps) lines.push(`${d}: path dependency, compiled by Mix`);
  return lines;
}

function summary(r: DepsReport, check: boolean, substituting: boolean): string {
  const count = (f: (p: DepsReport["packages"][number]) => boolean) => r.packages.filter(f).length;
  const written = count((p) => (p.deps !== null && p.deps !== "unchanged") || (p.build !== null && p.build !== "unchanged") || p.status === "missing");
  const where = join(r.project.buildPath, "lib");
  const lines = check
    ? [`${count((p) => p.status === "missing")} to build, ${written} to write in ${where} and deps/ (--check: nothing changed)`]
    : [
        `${count((p) => p.status === "built")} built, ${substituting ? `${count((p) => p.status === "substituted")} substituted, ` : ""}${count((p) => p.status === "present")} already present, ${written} written, ${r.packages.length - written} unchanged (${where})`,
      ];
  for (const f of r.failed) lines.push(...failureLines(f));
  for (const s of r.skipped) lines.push(`not built: ${s.name} (${s.reason})`);
  return lines.join("\n");
}
