// Where a package directory's files are read: inside the same sandbox as a build (bubblewrap, see
// ../sandbox/bwrap.ts). A mix.exs is code: loading one runs whatever it says, so it must not run
// with the user's environment, home directory, files and network. The reader sees:
// - the package directory, read-only, at /package (a symlink in it that points elsewhere
//   leads nowhere), and beamix's reader scripts at /beamix-priv;
// - the toolchain and the system, read-only, as a build does;
// - a scratch directory at /build, with HOME, MIX_HOME, HEX_HOME and TMPDIR inside it;
// - a clean environment, no network, the build limits' defaults and a time limit.
// Where bubblewrap cannot run, reading fails as a build does; --no-sandbox (readWithoutSandbox)
// reads at the host paths, still with the clean environment, scratch home and time limit.
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BeamixError } from "../errors.ts";
import { sandboxAvailable, sandboxRunner, sandboxUnavailableMessage, type Runner } from "../sandbox/bwrap.ts";
import { defaultLimits } from "../sandbox/limits.ts";
import { makeScratchDir } from "../sandbox/scratch-dir.ts";
import { unsandboxedRunner } from "../sandbox/unsandboxed.ts";
import { removeTree } from "../store/perms.ts";
import { findExecutable } from "../toolchain/locate.ts";
import { chosenToolchain } from "../toolchain/choice.ts";

export const PRIV_DIR = fileURLToPath(new URL("../../priv/", import.meta.url));

const PACKAGE_PATH = "/package";
const PRIV_PATH = "/beamix-priv";
// A project file that never finishes loading (a mix.exs waiting on something) is stopped.
const TIMEOUT_MS = 120_000;
// More output than any reader script prints for a package; the rest is dropped.
const MAX_OUTPUT = 16 * 1024 * 1024;

let sandboxed = true;

// For --no-sandbox: package directories are read as builds then run, without bubblewrap.
export function readWithoutSandbox(): void {
  sandboxed = false;
}

export interface ReaderPaths {
  pkg: string; // the package directory, as the reader sees it
  priv: string; // beamix's priv/ directory, as the reader sees it
}

export interface ReaderOutput {
  output: string; // stdout and stderr, interleaved as written
  code: number | null;
  failure: string | null; // one line: a time-out, a limit, or the exit status
  hostPaths(text: string): string; // the text with the reader's paths of package files turned into the host's
}

// Runs argv (argv[0] looked up in the toolchain's PATH) on the package directory `dir`.
export async function runReader(dir: string, what: string, argv: (p: ReaderPaths) => string[], env: Record<string, string> = {}): Promise<ReaderOutput> {
  let runner: Runner = unsandboxedRunner;
  if (sandboxed) {
    const check = await sandboxAvailable();
    if (!check.available) throw new BeamixError(`cannot read ${what}: ${sandboxUnavailableMessage(check.reason)}`);
    runner = sandboxRunner;
  }
  const tc = await chosenToolchain();
  const host = resolve(dir);
  const paths: ReaderPaths = runner.sandboxed ? { pkg: PACKAGE_PATH, priv: PRIV_PATH } : { pkg: host, priv: resolve(PRIV_DIR) };
  const scratch = await makeScratchDir(tmpdir(), "read", "package");
  try {
    const buildDir = join(scratch, "build");
    for (const d of ["home", "mix-home", "hex-home", "tmp"]) await mkdir(join(buildDir, d), { recursive: true });
    const root = runner.buildPath(buildDir);
    const chunks: Buffer[] = [];
    let size = 0;
    const [command, ...args] = argv(paths);
    const path = [...tc.binDirs, "/usr/bin", "/bin"].filter((d, i, all) => all.indexOf(d) === i).join(":");
    if (!(await findExecutable(command, path))) throw new BeamixError(`cannot read ${what}: ${command} was not found on PATH`);
    const r = await runner.run({
      command,
      args,
      buildDir,
      readOnlyBinds: [...tc.readOnlyBinds, { source: host, target: PACKAGE_PATH }, { source: resolve(PRIV_DIR), target: PRIV_PATH }],
      env: {
        PATH: path,
        HOME: `${root}/home`,
        MIX_HOME: `${root}/mix-home`, // empty: no archive (Hex) is loaded
        HEX_HOME: `${root}/hex-home`,
        HEX_OFFLINE: "1",
        TMPDIR: `${root}/tmp`,
        LANG: "C.UTF-8",
        ...env,
      },
      timeoutMs: TIMEOUT_MS,
      network: false,
      limits: defaultLimits(),
      logSink: {
        write(chunk: Buffer) {
          if (size >= MAX_OUTPUT) return;
          chunks.push(chunk.subarray(0, MAX_OUTPUT - size));
          size += chunk.length;
        },
      },
    });
    const failure = r.failure?.replace(/^build /, "reading it ") ?? null;
    const hostPaths = (text: string) => (paths.pkg === host ? text : text.split(`${paths.pkg}/`).join(`${host}/`));
    return { output: Buffer.concat(chunks).toString("utf8"), code: r.exitCode, failure, hostPaths };
  } finally {
    await removeTree(scratch);
  }
}
