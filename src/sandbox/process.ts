// Running one build command: its output (stdout and stderr through one pipe, so interleaved
// exactly as written) goes to a log sink, a timeout or an abort kills every process it started,
// and nothing it started outlives it. The sandboxed and unsandboxed runners share this.
import { spawn } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync, statSync } from "node:fs";
import { BeamixError } from "../errors.ts";
import type { SandboxLimits } from "./limits.ts";
import type { Writable } from "node:stream";

export interface LogSink {
  write(chunk: Buffer): unknown; // a fs.WriteStream or any object with write()
}

// A read-only bind of a host path at another path inside the sandbox.
export interface Bind {
  source: string;
  target: string;
}

export interface RunSpec {
  command: string; // looked up in env.PATH unless absolute
  args: readonly string[];
  buildDir: string; // host directory, the only writable one (see Runner.buildPath)
  cwd?: string; // relative to the build directory; default: the build directory
  readOnlyBinds: readonly (string | Bind)[]; // a string is bound at the same path
  env: Readonly<Record<string, string>>; // the whole environment (plus PWD): nothing is inherited
  timeoutMs: number;
  network: false; // builds never have network access
  logSink: LogSink;
  signal?: AbortSignal; // aborting kills the build like a timeout
  limits?: SandboxLimits; // none when absent; see limits.ts for what each runner enforces
}

export interface RunResult {
  exitCode: number | null; // null when killed by a signal
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  durationMs: number;
  // null on success (exit code 0), else one line for the user, e.g. "build timed out after 30 s",
  // or the limit the build exceeded.
  failure: string | null;
}

export interface Runner {
  readonly sandboxed: boolean;
  // The path at which the build sees `buildDir` (what env values such as HOME should use).
  buildPath(buildDir: string): string;
  run(spec: RunSpec): Promise<RunResult>;
}

export interface ChildSpec {
  argv: readonly string[]; // executed by /bin/sh's `exec`, with stderr joined to stdout
  env: Record<string, string>; // environment of argv[0]
  cwd: string;
  timeoutMs: number;
  logSink: LogSink;
  signal?: AbortSignal;
  fdData?: Buffer[]; // written to the child's fds 3, 4, ... (e.g. for bwrap --ro-bind-data)
  killTree(pid: number): void; // kills the process and everything it started
}

export function checkBuildDir(dir: string): void {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) throw new BeamixError(`build directory ${dir} does not exist or is not a directory`);
}

const seconds = (ms: number): string => String(Math.round(ms / 100) / 10);

// Processes whose parent chain leads to `root`, found through /proc (Linux).
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, "latin1");
    } catch {
      continue; // exited meanwhile
    }
    // pid (comm) state ppid ...: comm may contain spaces and parentheses, so split after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(e));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    for (const c of children.get(stack.pop()!) ?? []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

// Descriptors this process inherited without close-on-exec (a shell's or make's jobserver
// pipes, for instance): a child would inherit them too, and bwrap passes them into the
// sandbox, so they are overwritten with /dev/null in the child.
function inheritedFds(): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync("/proc/self/fd");
  } catch {
    return out;
  }
  for (const e of entries) {
    const fd = Number(e);
    if (!(fd > 2)) continue;
    try {
      const m = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "latin1"));
      if (m && (parseInt(m[1], 8) & 0o2000000) === 0) out.push(fd); // no O_CLOEXEC
    } catch {
      // closed meanwhile (the directory listing's own descriptor)
    }
  }
  return out;
}

export function killQuietly(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

export function runChild(spec: ChildSpec): Promise<RunResult> {
  const start = performance.now();
  const extra = spec.fdData ?? [];
  return new Promise((resolve, reject) => {
    const leaked = inheritedFds().filter((fd) => fd >= 3 + extra.length);
    const devNull = leaked.length > 0 ? openSync("/dev/null", "r") : -1;
    const stdio: ("ignore" | "pipe" | number)[] = ["ignore", "pipe", "pipe", ...extra.map(() => "pipe" as const)];
    for (const fd of leaked) {
      while (stdio.length < fd) stdio.push("ignore");
      stdio[fd] = devNull;
    }
    let child;
    try {
      // `exec "$@" 2>&1`: one pipe for both streams keeps their interleaving; exec keeps the
      // pid, so the command (or bwrap) is our direct child and the leader of a new process group.
      child = spawn("/bin/sh", ["-c", 'exec "$@" 2>&1', "sh", ...spec.argv], {
        cwd: spec.cwd,
        env: spec.env,
        detached: true,
        stdio,
      });
    } catch (err) {
      reject(err);
      return;
    } finally {
      if (devNull >= 0) closeSync(devNull);
    }
    const pid = child.pid;
    let timedOut = false;
    let aborted = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let settled = false;

    const kill = () => {
      if (pid !== undefined && exited === null) spec.killTree(pid);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      spec.logSink.write(Buffer.from(`\nbeamix: build timed out after ${seconds(spec.timeoutMs)} s, killing it\n`));
      kill();
    }, spec.timeoutMs);
    const onAbort = () => {
      aborted = true;
      kill();
    };
    if (spec.signal?.aborted) onAbort();
    else spec.signal?.addEventListener("abort", onAbort, { once: true });

    child.stdout!.on("data", (c: Buffer) => spec.logSink.write(c));
    child.stderr!.on("data", (c: Buffer) => spec.logSink.write(c));
    extra.forEach((data, i) => {
      const w = child.stdio[3 + i] as Writable;
      w.on("error", () => {}); // the child may exit before reading it
      w.end(data);
    });

    let graceTimer: NodeJS.Timeout | undefined;
    const finish = () => {
      if (settled || !exited) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      spec.signal?.removeEventListener("abort", onAbort);
      const { code, signal } = exited;
      let failure: string | null = null;
      if (timedOut) failure = `build timed out after ${seconds(spec.timeoutMs)} s`;
      else if (aborted) failure = "build cancelled";
      else if (signal) failure = `build killed by signal ${signal}`;
      else if (code !== 0) failure = `build failed with exit status ${code}`;
      resolve({ exitCode: code, signal, timedOut, aborted, durationMs: performance.now() - start, failure });
    };
    child.on("error", (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      spec.signal?.removeEventListener("abort", onAbort);
      reject(err);
    });
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      clearTimeout(timer); // from here on the pid may be reused: never kill it again
      // Whatever it left running in its process group goes with it.
      if (pid !== undefined) killQuietly(-pid, "SIGKILL");
      // 'close' follows once the pipes drain; a process that escaped the group could hold
      // them open forever, so stop waiting after a moment.
      graceTimer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish();
      }, 2000);
    });
    child.on("close", finish);
  });
}
