// `beamix shell PKG... [-- CMD ARGS]`: a throw-away environment laid out like a generation (in a
// temporary directory) with the packages realized as needed, and CMD run in it (default: the
// user's shell) with the wrappers first on PATH and the packages on ERL_LIBS. While CMD runs, the
// items are held by this process's temporary GC roots (realize adds them; the caller releases them
// by closing the store afterwards). CMD's exit status is the result.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { constants, tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { BeamixError } from "../errors.ts";
import { closureItems, planClosure, realizeClosure, type ClosureOptions } from "./closure.ts";
import { LIB_DIR } from "../store/item-layout.ts";
import { writeGeneration } from "./generation.ts";

export interface ShellOptions extends ClosureOptions {
  command?: readonly string[]; // default: $SHELL, else /bin/sh
  env?: NodeJS.ProcessEnv; // the environment CMD starts from (default: this process's)
  tmpRoot?: string;
}

export interface ShellEnvironment {
  dir: string;
  env: NodeJS.ProcessEnv;
}

// Realizes the packages and lays out the environment; remove `dir` when done.
export async function prepareShell(specs: readonly string[], opts: ShellOptions): Promise<ShellEnvironment> {
  const plan = await planClosure(specs, opts);
  await realizeClosure(plan, opts, "cannot make the environment, a build failed");
  const dir = await mkdtemp(join(opts.tmpRoot ?? tmpdir(), "beamix-shell-"));
  try {
    await writeGeneration(dir, { items: closureItems(plan), toolchain: opts.toolchain, home: dir, envHome: dir });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const base = opts.env ?? process.env;
  const prepend = (value: string, rest: string | undefined) => (rest ? `${value}${delimiter}${rest}` : value);
  const env: NodeJS.ProcessEnv = {
    ...base,
    PATH: prepend(join(dir, "bin"), base.PATH),
    ERL_LIBS: prepend(join(dir, LIB_DIR), base.ERL_LIBS),
    BEAMIX_SHELL: dir, // lets a prompt or a script tell it runs inside one
  };
  return { dir, env };
}

export async function runShell(specs: readonly string[], opts: ShellOptions): Promise<number> {
  const { dir, env } = await prepareShell(specs, opts);
  try {
    const command = opts.command?.length ? opts.command : [env.SHELL || "/bin/sh"];
    return await runForeground(command, env);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Runs CMD attached to the terminal. Ctrl-C and Ctrl-\ reach CMD from the terminal (same process
// group): beamix ignores them, so it stays to clean up and pass on CMD's status. A SIGTERM or
// SIGHUP sent to beamix alone is passed on to CMD.
function runForeground(command: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const handlers = new Map<NodeJS.Signals, () => void>();
  return new Promise<number>((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), { stdio: "inherit", env });
    for (const s of ["SIGINT", "SIGQUIT"] as const) handlers.set(s, () => {});
    for (const s of ["SIGTERM", "SIGHUP"] as const) handlers.set(s, () => child.kill(s));
    for (const [s, h] of handlers) process.on(s, h);
    child.on("error", (err: NodeJS.ErrnoException) => {
      reject(new BeamixError(`cannot run ${command[0]}: ${err.code === "ENOENT" ? "no such command" : err.message}`));
    });
    child.on("close", (code, signal) => {
      resolve(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1));
    });
  }).finally(() => {
    for (const [s, h] of handlers) process.off(s, h);
  });
}
