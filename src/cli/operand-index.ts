// Where a command's first operand (its first argument that is not an option or an option's
// value) is in its arguments, read with the command's own option table: null when there is
// none, undefined when the arguments cannot be read for sure (an option the command does not
// know). `beamix deps` uses it to record which argument named the project directory.
import type { Command } from "commander";

export function operandIndex(argv: readonly string[], command: Command): number | null | undefined {
  const takesValue = new Map<string, boolean>();
  for (const o of command.options) {
    for (const flag of [o.long, o.short]) if (flag) takesValue.set(flag, o.required || o.optional);
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") return i + 1 < argv.length ? i + 1 : null;
    if (!a.startsWith("-") || a === "-") return i;
    const flag = a.startsWith("--") ? a.split("=")[0] : a.slice(0, 2);
    const value = takesValue.get(flag);
    if (value === undefined) return undefined;
    if (value && a === flag) i++; // the value is the next argument
  }
  return null;
}
