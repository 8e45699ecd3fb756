// Who owns a lock, a temporary root or a staging directory, and whether that owner still runs.
// A pid alone is not enough once pids get reused, so on Linux the owner is (pid, start time in clock
// ticks since boot from /proc/PID/stat); elsewhere the start time is "0" and only the pid is checked.
// Both are host-local: a store shared between hosts or pid namespaces is not supported.
import { readFileSync } from "node:fs";

export interface ProcessId {
  pid: number;
  start: string;
}

// Field 22 of /proc/PID/stat, and the state (field 3). The command name (field 2) may hold spaces
// and parentheses, so fields are counted after its last ")".
function procStat(pid: number): { state: string; start: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0], start: fields[19] };
}

const hasProc = (() => {
  try {
    readFileSync("/proc/self/stat");
    return true;
  } catch {
    return false;
  }
})();

let self: ProcessId | undefined;

export function selfId(): ProcessId {
  if (!self || self.pid !== process.pid) {
    self = { pid: process.pid, start: (hasProc && procStat(process.pid)?.start) || "0" };
  }
  return self;
}

export function isAlive(id: ProcessId): boolean {
  if (!Number.isSafeInteger(id.pid) || id.pid <= 0) return false;
  try {
    process.kill(id.pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  if (!hasProc) return true;
  const st = procStat(id.pid);
  if (!st) return false;
  // A killed child its parent has not reaped yet is a zombie: it holds nothing any more.
  if (st.state === "Z" || st.state === "X") return false;
  return id.start === "0" || st.start === id.start;
}

// "<pid>-<start>" as used in file names, and back.
export function formatId(id: ProcessId): string {
  return `${id.pid}-${id.start}`;
}

export function parseId(text: string): ProcessId | undefined {
  const m = /^(\d+)-(\d+)$/.exec(text);
  return m ? { pid: Number(m[1]), start: m[2] } : undefined;
}
