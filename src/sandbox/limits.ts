// The limits a build runs under, so that one package cannot take the machine down: a fork bomb,
// a runaway allocation or a file that never stops growing fails the build with one line naming
// the limit, instead of exhausting the host. Applied inside the sandbox by prlimit(1):
// - memory: RLIMIT_DATA, per process: heap and private writable mappings (what malloc and the
//   BEAM's allocators take; address space only reserved is not counted, so a BEAM starts fine);
// - processes: RLIMIT_NPROC, processes and threads together. Set inside the sandbox's user
//   namespace, it counts only the build's own (Linux 5.14 or later); the kernel exempts root, so
//   a pids cgroup (./cgroup.ts) enforces it too where one can be made. Not applied without a
//   sandbox: there it would count every process of the user;
// - disk: RLIMIT_FSIZE, the largest file a build may write, and the size of the sandbox's /tmp
//   (a tmpfs, in memory). The build directory itself is on the host's disk and is bounded only
//   file by file.
import { totalmem } from "node:os";
import { BeamixError } from "../errors.ts";
import { findExecutable } from "../toolchain/locate.ts";
import type { LogSink } from "./process.ts";

export interface SandboxLimits {
  memoryBytes: number; // per process
  processes: number; // processes and threads of the whole build
  diskBytes: number; // per file, and the size of /tmp
}

export type LimitName = "memory" | "processes" | "disk";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

// Half the RAM (at least 1 GiB) per process; as many processes and threads as a BEAM on a large
// machine starts several times over; files and /tmp far larger than any package build needs.
export function defaultLimits(): SandboxLimits {
  return { memoryBytes: Math.max(GiB, Math.floor(totalmem() / 2 / MiB) * MiB), processes: 4096, diskBytes: 4 * GiB };
}

export function withDefaults(limits: Partial<SandboxLimits> | undefined): SandboxLimits {
  const d = defaultLimits();
  return { memoryBytes: limits?.memoryBytes ?? d.memoryBytes, processes: limits?.processes ?? d.processes, diskBytes: limits?.diskBytes ?? d.diskBytes };
}

export function formatBytes(n: number): string {
  for (const [unit, size] of [["GiB", GiB], ["MiB", MiB], ["KiB", 1024]] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  }
  return n >= MiB ? `${(n / MiB).toFixed(1)} MiB` : `${n} bytes`;
}

export function describeLimits(l: SandboxLimits, applied: readonly LimitName[]): string {
  const parts: string[] = [];
  if (applied.includes("memory")) parts.push(`${formatBytes(l.memoryBytes)} of memory per process`);
  if (applied.includes("processes")) parts.push(`${l.processes} processes and threads`);
  if (applied.includes("disk")) parts.push(`${formatBytes(l.diskBytes)} per file and for /tmp`);
  return parts.join(", ");
}

// The one-line failure of a build that hit a limit.
export function limitMessage(which: LimitName, l: SandboxLimits): string {
  switch (which) {
    case "memory":
      return `build exceeded its memory limit of ${formatBytes(l.memoryBytes)} per process (--max-build-memory)`;
    case "processes":
      return `build exceeded its limit of ${l.processes} processes and threads (--max-build-processes)`;
    case "disk":
      return `build exceeded its disk limit of ${formatBytes(l.diskBytes)} per file and for /tmp (--max-build-disk)`;
  }
}

let prlimitMemo: Promise<string | undefined> | undefined;

// Only where the sandbox has it: it binds /usr and the system directories.
export async function prlimitPath(): Promise<string> {
  prlimitMemo ??= findExecutable("prlimit", "/usr/bin:/bin:/usr/sbin:/sbin");
  const found = await prlimitMemo;
  if (!found) throw new BeamixError("prlimit (util-linux) is not installed; beamix needs it to set the limits of a build");
  return found;
}

// prlimit(1) arguments up to the command: prlimit sets each limit, soft and hard, then executes
// the command (looked up in the build's PATH).
export async function prlimitPrefix(l: SandboxLimits, applied: readonly LimitName[]): Promise<string[]> {
  const args = [await prlimitPath()];
  if (applied.includes("memory")) args.push(`--data=${l.memoryBytes}`);
  if (applied.includes("processes")) args.push(`--nproc=${l.processes}`);
  if (applied.includes("disk")) args.push(`--fsize=${l.diskBytes}`);
  return [...args, "--"];
}

// What tools print when a limit refuses them (glibc's strerror texts, the shells' fork errors,
// the BEAM's allocator and thread messages). A failed build whose output ends with one of these
// hit that limit.
const SIGNS: [LimitName, RegExp][] = [
  ["processes", /\b(can(no|')t fork|fork: retry|(fork|clone|vfork|spawn)[^\n]*Resource temporarily unavailable|Resource temporarily unavailable[^\n]*(fork|thread)|failed to create thread|pthread_create[^\n]*(EAGAIN|Resource temporarily unavailable))/i],
  ["memory", /(Cannot allocate \d+ bytes of memory|Cannot allocate memory|out of memory|memory exhausted|std::bad_alloc|MemoryError|\bENOMEM\b)/i],
  ["disk", /(File size limit exceeded|File too large|No space left on device|\bEFBIG\b|\bENOSPC\b)/i],
];

export function limitHitIn(output: string, signal: NodeJS.Signals | null, applied: readonly LimitName[]): LimitName | undefined {
  if (signal === "SIGXFSZ" && applied.includes("disk")) return "disk";
  return SIGNS.find(([name, re]) => applied.includes(name) && re.test(output))?.[0];
}

// A log sink that also keeps the last `max` characters written, for limitHitIn.
export function tailKeeper(sink: LogSink, max = 16_000): { sink: LogSink; text(): string } {
  let tail = "";
  return {
    sink: {
      write(chunk: Buffer) {
        tail = (tail + chunk.toString("latin1")).slice(-max);
        return sink.write(chunk);
      },
    },
    text: () => tail,
  };
}
