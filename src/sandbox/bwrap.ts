// The build sandbox, made with bubblewrap. A build sees:
// - its build directory, read-write, always at /build (outputs embed the build path, so a
//   fixed one makes them reproducible whatever the host path);
// - /usr and the system library directories, the read-only binds it is given (store items,
//   toolchain), and a few files of /etc it needs (dynamic linker cache, alternatives);
// - a generated /etc/passwd, /etc/group, /etc/hosts and /etc/nsswitch.conf, so user and
//   localhost lookups work without the host's;
// - fresh /proc, a minimal /dev, an empty tmpfs /tmp, hostname "localhost"; everything but
//   /build and /tmp is read-only;
// - exactly the environment it is given, plus PWD (bwrap sets it to the working directory);
// - no network: its own network namespace with only a loopback interface, no capabilities,
//   its own pid, ipc, uts and user namespaces, a new session (no terminal to inject into).
// When bwrap (the parent of everything inside) is killed, the kernel kills the whole pid
// namespace, so a timeout leaves nothing behind. Given limits (./limits.ts), /tmp is a tmpfs of
// the disk limit's size, the command runs under prlimit, and a pids cgroup (./cgroup.ts) holds
// the whole sandbox where one can be made.
import { execFile } from "node:child_process";
import { lstat, readlink } from "node:fs/promises";
import { isAbsolute, normalize, resolve } from "node:path";
import { BeamixError } from "../errors.ts";
import { findExecutable } from "../toolchain/locate.ts";
import { makePidsCgroup } from "./cgroup.ts";
import { limitHitIn, limitMessage, prlimitPrefix, tailKeeper, type LimitName } from "./limits.ts";
import { checkBuildDir, killQuietly, runChild, type Bind, type RunResult, type RunSpec, type Runner } from "./process.ts";

export type { Bind, LogSink, RunResult, RunSpec, Runner } from "./process.ts";

export const SANDBOX_BUILD_DIR = "/build";

// Top-level directories that are symlinks into /usr on merged-/usr systems and real
// directories elsewhere; each is recreated as it is on the host.
const SYSTEM_DIRS = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
const ETC_FILES = ["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/protocols", "/etc/services"];
// Paths the sandbox sets up itself, which a bind must not cover or replace. Binds below /tmp
// are fine: they are mounted on top of the tmpfs.
const RESERVED = [SANDBOX_BUILD_DIR, "/proc", "/dev", "/etc"];
const RESERVED_EXACT = ["/", "/tmp"];

let systemArgsMemo: Promise<string[]> | undefined;

function systemArgs(): Promise<string[]> {
  systemArgsMemo ??= (async () => {
    const args = ["--ro-bind", "/usr", "/usr"];
    for (const d of SYSTEM_DIRS) {
      try {
        const s = await lstat(d);
        if (s.isSymbolicLink()) args.push("--symlink", await readlink(d), d);
        else if (s.isDirectory()) args.push("--ro-bind", d, d);
      } catch {
        // not on this system
      }
    }
    for (const f of ETC_FILES) args.push("--ro-bind-try", f, f);
    return args;
  })();
  return systemArgsMemo;
}

function etcFiles(): { path: string; data: Buffer }[] {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const passwd = ["root:x:0:0:root:/build:/bin/sh"];
  const group = ["root:x:0:"];
  if (uid !== 0) passwd.push(`beamix:x:${uid}:${gid}:beamix build:/build:/bin/sh`);
  if (gid !== 0) group.push(`beamix:x:${gid}:`);
  return [
    { path: "/etc/passwd", data: Buffer.from(passwd.join("\n") + "\n") },
    { path: "/etc/group", data: Buffer.from(group.join("\n") + "\n") },
    { path: "/etc/hosts", data: Buffer.from("127.0.0.1 localhost\n::1 localhost\n") },
    { path: "/etc/nsswitch.conf", data: Buffer.from("passwd: files\ngroup: files\nhosts: files\n") },
  ];
}

const inside = (p: string, dir: string): boolean => p === dir || p.startsWith(dir.endsWith("/") ? dir : dir + "/");

function checkBind(b: Bind): void {
  if (!isAbsolute(b.source) || !isAbsolute(b.target)) throw new BeamixError(`sandbox bind ${b.source} -> ${b.target}: paths must be absolute`);
  const t = normalize(b.target);
  if (RESERVED_EXACT.includes(t) || RESERVED.some((r) => inside(t, r) || inside(r, t))) {
    throw new BeamixError(`sandbox bind ${b.source} -> ${b.target}: ${t} is reserved inside the sandbox`);
  }
}

function relativeCwd(cwd: string | undefined): string {
  if (cwd === undefined || cwd === "" || cwd === ".") return "";
  const n = normalize(cwd);
  if (isAbsolute(n) || n === ".." || n.startsWith("../")) throw new BeamixError(`build working directory ${cwd} is not inside the build directory`);
  return n.replace(/\/$/, "");
}

// The bwrap arguments for a run (without the bwrap executable itself). `data` holds the bytes
// for the --ro-bind-data descriptors, to be written to fds 3, 4, ... in order.
export async function bwrapArgs(spec: RunSpec): Promise<{ args: string[]; data: Buffer[] }> {
  const args = [
    "--unshare-all", // user, ipc, pid, net, uts, cgroup: net leaves only a loopback interface
    "--die-with-parent",
    "--new-session",
    "--cap-drop", "ALL",
    "--hostname", "localhost",
    ...(await systemArgs()),
  ];
  const data: Buffer[] = [];
  for (const f of etcFiles()) {
    args.push("--ro-bind-data", String(3 + data.length), f.path);
    data.push(f.data);
  }
  args.push("--proc", "/proc", "--dev", "/dev");
  // Without a size a tmpfs may take half the RAM; bwrap before 0.7 cannot set one.
  if (spec.limits && (await tmpfsSizeSupported())) args.push("--size", String(spec.limits.diskBytes));
  args.push("--tmpfs", "/tmp");
  for (const b of spec.readOnlyBinds) {
    const bind = typeof b === "string" ? { source: b, target: b } : b;
    checkBind(bind);
    args.push("--ro-bind", bind.source, bind.target);
  }
  const cwd = relativeCwd(spec.cwd);
  args.push("--bind", resolve(spec.buildDir), SANDBOX_BUILD_DIR);
  args.push("--chdir", cwd ? `${SANDBOX_BUILD_DIR}/${cwd}` : SANDBOX_BUILD_DIR);
  // The root is a tmpfs bwrap builds the tree on; once built, nothing more may be written
  // there (/etc, /, parents of binds). /build and /tmp are their own mounts and stay writable.
  args.push("--remount-ro", "/");
  args.push("--clearenv");
  for (const [k, v] of Object.entries(spec.env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new BeamixError(`build environment: ${JSON.stringify(k)} is not a valid variable name`);
    args.push("--setenv", k, v);
  }
  args.push("--", ...(spec.limits ? await prlimitPrefix(spec.limits, ALL_LIMITS) : []), spec.command, ...spec.args);
  return { args, data };
}

const ALL_LIMITS: LimitName[] = ["memory", "processes", "disk"];
// bwrap's own processes in the sandbox's cgroup: the one outside the pid namespace and the init
// inside it, which is not the build's.
const BWRAP_PROCESSES = 2;
// Moves the shell into the cgroup, then becomes bwrap: everything the build starts is counted.
const JOIN_CGROUP = 'echo $$ > "$1" || exit 125; shift; exec "$@"';

let bwrapMemo: Promise<string | undefined> | undefined;
const findBwrap = (): Promise<string | undefined> => (bwrapMemo ??= findExecutable("bwrap", process.env.PATH ?? "/usr/bin:/bin"));

let sizeMemo: Promise<boolean> | undefined;
function tmpfsSizeSupported(): Promise<boolean> {
  sizeMemo ??= findBwrap().then(
    (bwrap) =>
      new Promise((res) => {
        if (!bwrap) return res(false);
        execFile(bwrap, ["--help"], { env: {}, timeout: 10_000, encoding: "utf8" }, (_err, stdout, stderr) => res(/--size\b/.test(stdout + stderr)));
      }),
  );
  return sizeMemo;
}

export async function runSandboxed(spec: RunSpec): Promise<RunResult> {
  const bwrap = await findBwrap();
  if (!bwrap) throw new BeamixError("bubblewrap (bwrap) is not installed; install it or use --no-sandbox to build without it");
  checkBuildDir(spec.buildDir);
  const { args, data } = await bwrapArgs(spec);
  const limits = spec.limits;
  const cgroup = limits ? makePidsCgroup(limits.processes + BWRAP_PROCESSES) : undefined;
  const tail = tailKeeper(spec.logSink);
  let r: RunResult;
  let refused = false;
  try {
    r = await runChild({
      argv: cgroup ? ["/bin/sh", "-c", JOIN_CGROUP, "sh", cgroup.procsFile, bwrap, ...args] : [bwrap, ...args],
      env: {}, // bwrap gets nothing; the build gets spec.env through --setenv
      cwd: "/",
      timeoutMs: spec.timeoutMs,
      logSink: tail.sink,
      signal: spec.signal,
      fdData: data,
      // bwrap leads the process group; killing it makes the kernel kill the pid namespace.
      killTree: (pid) => killQuietly(-pid, "SIGKILL"),
    });
    refused = cgroup?.hit() ?? false;
  } finally {
    await cgroup?.remove();
  }
  if (!limits || r.failure === null || r.timedOut || r.aborted) return r;
  const which = refused ? "processes" : limitHitIn(tail.text(), r.signal, ALL_LIMITS);
  return which ? { ...r, failure: limitMessage(which, limits) } : r;
}

export type SandboxCheck = { available: true; bwrap: string } | { available: false; reason: string };

let availableMemo: Promise<SandboxCheck> | undefined;

// Whether bwrap can make the namespaces a build needs here (it cannot in many containers).
// The probe uses the same namespace and mount flags as a build.
export function sandboxAvailable(): Promise<SandboxCheck> {
  availableMemo ??= (async (): Promise<SandboxCheck> => {
    const bwrap = await findBwrap();
    if (!bwrap) return { available: false, reason: "bwrap is not installed (no bwrap on PATH)" };
    const probe = ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--", "true"];
    return new Promise((res) => {
      execFile(bwrap, probe, { env: {}, timeout: 10_000, encoding: "utf8" }, (err, _stdout, stderr) => {
        if (!err) res({ available: true, bwrap });
        else res({ available: false, reason: stderr.trim().split("\n").pop() || err.message });
      });
    });
  })();
  return availableMemo;
}

export function sandboxUnavailableMessage(reason: string): string {
  return `bubblewrap cannot run here: ${reason}; use --no-sandbox to build without it`;
}

export const sandboxRunner: Runner = {
  sandboxed: true,
  buildPath: () => SANDBOX_BUILD_DIR,
  run: runSandboxed,
};
