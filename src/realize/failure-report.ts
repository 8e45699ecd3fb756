// How a failed build is told to a person, the same for every command: the message, then where
// its log is and, with --keep-failed, its build directory.
import type { FailedBuild } from "./realize.ts";

// Several lines, for a command's summary on stderr.
export function failureLines(f: FailedBuild): string[] {
  const lines = [`failed: ${f.message}`];
  if (f.logPath) lines.push(`  log: ${f.logPath}`);
  if (f.keptDir) lines.push(`  build directory kept: ${f.keptDir}`);
  return lines;
}

// One line, for an error message that names the failure.
export function failureLine(f: FailedBuild): string {
  return `${f.message}${f.logPath ? ` (log: ${f.logPath})` : ""}${f.keptDir ? ` (build directory kept: ${f.keptDir})` : ""}`;
}
