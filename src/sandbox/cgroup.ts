// A pids cgroup for one sandboxed run, where this process may make one. The kernel exempts root
// from RLIMIT_NPROC, so for root only a cgroup's pids.max holds a build's processes; it also
// says (pids.events) that it refused a fork, which no output has to be read for. Made below this
// process's own cgroup in the pids hierarchy (cgroup v1), or in the unified hierarchy (v2) when
// pids is enabled for this process's children there. Anywhere else there is none, and the
// rlimit alone applies (./limits.ts).
//
// Each cgroup is named after its owner (beamix-<pid>-<start>-<n>), so one left behind by a killed
// process is removed by the next that makes one.
import { mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { formatId, isAlive, parseId, selfId } from "../store/process-id.ts";

export interface PidsCgroup {
  procsFile: string; // writing a pid here moves that process (and its future children) in
  hit(): boolean; // whether pids.max refused a fork or a thread
  remove(): Promise<void>;
}

// mountinfo escapes blanks and backslashes as octal.
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

// The directory of this process's cgroup in a hierarchy that has the pids controller.
function findPidsParent(): string | undefined {
  const mounts = readText("/proc/self/mountinfo")?.split("\n") ?? [];
  const groups = readText("/proc/self/cgroup")?.split("\n") ?? [];
  const pathIn = (match: (controllers: string) => boolean): string | undefined => {
    const line = groups.find((l) => match(l.split(":")[1] ?? ""));
    return line === undefined ? undefined : line.split(":").slice(2).join(":");
  };
  for (const line of mounts) {
    const [pre, post] = line.split(" - ");
    if (post === undefined) continue;
    const fields = pre.split(" ");
    const [fstype, , superOptions] = post.split(" ");
    const root = unescape(fields[3] ?? "/");
    const mountPoint = unescape(fields[4] ?? "");
    if (fstype === "cgroup" && (superOptions ?? "").split(",").includes("pids")) {
      const path = pathIn((c) => c.split(",").includes("pids"));
      if (path !== undefined) return join(mountPoint, relative(root, path));
    }
    if (fstype === "cgroup2") {
      const path = pathIn((c) => c === "");
      if (path === undefined) continue;
      const dir = join(mountPoint, relative(root, path));
      if ((readText(join(dir, "cgroup.subtree_control")) ?? "").split(/\s+/).includes("pids")) return dir;
    }
  }
  return undefined;
}

let parentMemo: string | null | undefined;
let counter = 0;

function sweep(parent: string): void {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^beamix-(\d+-\d+)-\d+$/.exec(name);
    const owner = m ? parseId(m[1]) : undefined;
    if (!owner || isAlive(owner)) continue;
    try {
      rmdirSync(join(parent, name));
    } catch {
      // still has processes, or not ours to remove
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// A fresh cgroup allowing `max` processes and threads, or undefined where none can be made.
export function makePidsCgroup(max: number): PidsCgroup | undefined {
  if (parentMemo === undefined) {
    parentMemo = findPidsParent() ?? null;
    if (parentMemo !== null) sweep(parentMemo);
  }
  if (parentMemo === null) return undefined;
  const dir = join(parentMemo, `beamix-${formatId(selfId())}-${++counter}`);
  try {
    mkdirSync(dir);
  } catch {
    parentMemo = null; // not writable for this process: the same next time
    return undefined;
  }
  try {
    writeFileSync(join(dir, "pids.max"), String(max));
  } catch {
    rmdirSync(dir);
    return undefined;
  }
  return {
    procsFile: join(dir, "cgroup.procs"),
    hit: () => Number(/^max (\d+)/m.exec(readText(join(dir, "pids.events")) ?? "")?.[1] ?? 0) > 0,
    // The kernel empties it as the sandbox's processes exit, which may take a moment after the
    // sandbox's leader is gone; one left non-empty is swept by a later run.
    async remove() {
      for (let i = 0; i < 40; i++) {
        try {
          rmdirSync(dir);
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EBUSY") return;
        }
        await sleep(50);
      }
    },
  };
}
