// Running a build without a sandbox (`--no-sandbox`), for hosts where bubblewrap cannot make
// namespaces. Same interface and same clean environment (nothing inherited; PWD is the working
// directory, as in the sandbox), but much is lost:
// - the build directory is seen at its host path, not /build, so outputs that embed the build
//   path (Elixir debug info, __ENV__, @external_resource, Erlang ?FILE) differ from sandboxed
//   builds and from each other when the path differs: they are not reproducible;
// - nothing is read-only: `readOnlyBinds` are only documentation, the build can read and
//   write anything the user can (home directory, store, toolchain);
// - the network is reachable (`network: false` cannot be enforced);
// - /tmp, /etc, the hostname and the user database are the host's;
// - of the limits, memory and the size of files hold; processes do not (RLIMIT_NPROC would
//   count every process of the user) and /tmp is the host's;
// - killing is best effort: the process group and every descendant found through /proc are
//   killed, but a process that leaves the group (setsid) and whose parent has already exited
//   is out of reach.
import { isAbsolute, join, normalize, resolve } from "node:path";
import { BeamixError } from "../errors.ts";
import { limitHitIn, limitMessage, prlimitPrefix, tailKeeper, type LimitName } from "./limits.ts";
import { checkBuildDir, descendants, killQuietly, runChild, type RunResult, type RunSpec, type Runner } from "./process.ts";

const LIMITS: LimitName[] = ["memory", "disk"];

// What the user is told, on the terminal and in the log, when building this way.
export const UNSANDBOXED_WARNING =
  "building WITHOUT a sandbox: the build runs at its host path (outputs that embed the build path are not reproducible), " +
  "can reach the network, and can read and write anything this user can";

// Stops the tree first, round by round, so nothing forks while it is being collected, then
// kills the process group and everything stopped.
function killTree(root: number): void {
  const stopped = new Set<number>([root]);
  killQuietly(root, "SIGSTOP");
  for (let round = 0; round < 10; round++) {
    const fresh = descendants(root).filter((p) => !stopped.has(p));
    if (fresh.length === 0) break;
    for (const p of fresh) {
      stopped.add(p);
      killQuietly(p, "SIGSTOP");
    }
  }
  killQuietly(-root, "SIGKILL");
  for (const p of stopped) killQuietly(p, "SIGKILL");
}

export async function runUnsandboxed(spec: RunSpec): Promise<RunResult> {
  const buildDir = resolve(spec.buildDir);
  checkBuildDir(buildDir);
  let cwd = buildDir;
  if (spec.cwd !== undefined && spec.cwd !== "" && spec.cwd !== ".") {
    const n = normalize(spec.cwd);
    if (isAbsolute(n) || n === ".." || n.startsWith("../")) throw new BeamixError(`build working directory ${spec.cwd} is not inside the build directory`);
    cwd = join(buildDir, n);
  }
  // PWD as a sandboxed build gets it from bwrap; anything else only from spec.env.
  const assignments: string[] = [`PWD=${cwd}`];
  for (const [k, v] of Object.entries(spec.env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new BeamixError(`build environment: ${JSON.stringify(k)} is not a valid variable name`);
    if (k === "PWD") continue;
    assignments.push(`${k}=${v}`);
  }
  if (spec.command.includes("=")) throw new BeamixError(`build command ${spec.command}: a command name cannot contain "="`);
  const limits = spec.limits;
  const tail = tailKeeper(spec.logSink);
  const r = await runChild({
    // `env -i` clears what /bin/sh adds (PWD) and looks the command up in the build's PATH.
    argv: ["/usr/bin/env", "-i", ...assignments, ...(limits ? await prlimitPrefix(limits, LIMITS) : []), spec.command, ...spec.args],
    env: {},
    cwd,
    timeoutMs: spec.timeoutMs,
    logSink: tail.sink,
    signal: spec.signal,
    killTree,
  });
  if (!limits || r.failure === null || r.timedOut || r.aborted) return r;
  const which = limitHitIn(tail.text(), r.signal, LIMITS);
  return which ? { ...r, failure: limitMessage(which, limits) } : r;
}

export const unsandboxedRunner: Runner = {
  sandboxed: false,
  buildPath: (buildDir) => resolve(buildDir),
  run: runUnsandboxed,
};
