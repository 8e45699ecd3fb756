// The limits of each build, from the command line (see src/sandbox/limits.ts for what each one
// holds and src/builder/build-log.ts for the log). Sizes are bytes, or a number with a binary unit:
// 512M, 2G, 64KiB. Read as the command line is parsed, like every numeric option (./options.ts).
import type { Command } from "commander";
import { UsageError } from "../errors.ts";
import type { BuildLimits } from "../builder/build-package.ts";
import { integerOption } from "./options.ts";

const UNITS: Record<string, number> = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

export function sizeOption(flag: string): (text: string) => number {
  return (text) => {
    const m = /^([0-9]{1,16})\s?([KMGT]?)(i?B)?$/i.exec(text);
    const n = m ? Number(m[1]) * UNITS[m[2].toUpperCase()] : NaN;
    if (!(n >= 1 && n <= Number.MAX_SAFE_INTEGER)) throw new UsageError(`${flag} must be a size in bytes, or with a unit as in 512M or 2G, not ${JSON.stringify(text)}`);
    return n;
  };
}

export interface LimitOptions {
  maxBuildMemory?: number;
  maxBuildProcesses?: number;
  maxBuildDisk?: number;
  maxBuildLog?: number;
}

export function addLimitOptions(cmd: Command): Command {
  return cmd
    .option("--max-build-memory <size>", "memory each process of a build may take (default: half the RAM)", sizeOption("--max-build-memory"))
    .option("--max-build-processes <n>", "processes and threads a build may run at once (default: 4096)", integerOption("--max-build-processes", 1))
    .option("--max-build-disk <size>", "the largest file a build may write, and the size of its /tmp (default: 4G)", sizeOption("--max-build-disk"))
    .option("--max-build-log <size>", "how much of a build's log is kept: its beginning and its end (default: 16M)", sizeOption("--max-build-log"));
}

export function limitsFromOptions(opts: LimitOptions): BuildLimits {
  return { memoryBytes: opts.maxBuildMemory, processes: opts.maxBuildProcesses, diskBytes: opts.maxBuildDisk, logBytes: opts.maxBuildLog };
}
