// Running the reader scripts in priv/: Elixir for mix.exs, an escript for Erlang term files.
// Both print "BEAMIX-JSON <tagged terms>" or "BEAMIX-ERROR <message>" lines (see the scripts).
// A package's files are read inside the build sandbox (./reader-sandbox.ts); runTool runs a
// tool on the host, for the user's own project (its config, `beamix deps`).
import { spawn } from "node:child_process";
import { BeamixError } from "../errors.ts";
import type { Term } from "../erlang/term.ts";
import { PRIV_DIR, runReader, type ReaderOutput } from "./reader-sandbox.ts";
import { termFromJson } from "./term-json.ts";

export { PRIV_DIR };

export type ScriptResult = { ok: true; term: Term } | { ok: false; message: string };

export interface Output {
  stdout: string;
  stderr: string;
  code: number | null;
}

// A project file that never finishes loading (a mix.exs waiting on something) is killed.
const TIMEOUT_MS = 120_000;

export function runTool(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Output> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"], timeout: TIMEOUT_MS, killSignal: "SIGKILL" });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (e: NodeJS.ErrnoException) =>
      reject(
        e.code === "ENOENT"
          ? new BeamixError(`${cmd} was not found on PATH; it is needed to read this project`)
          : e,
      ),
    );
    child.on("close", (code, signal) =>
      resolve({ stdout, stderr: signal === null ? stderr : `${cmd} was stopped after ${TIMEOUT_MS / 1000} s\n${stderr}`, code }),
    );
  });
}

function results(out: ReaderOutput, what: string): ScriptResult[] {
  const lines = out.output.split("\n");
  const found: ScriptResult[] = [];
  for (const line of lines) {
    if (line.startsWith("BEAMIX-JSON ")) {
      let json: Parameters<typeof termFromJson>[0];
      try {
        json = JSON.parse(line.slice("BEAMIX-JSON ".length));
      } catch {
        throw new BeamixError(`${what}: the reader's answer is not JSON (did something else print on its line?)`);
      }
      found.push({ ok: true, term: termFromJson(json, what) });
    } else if (line.startsWith("BEAMIX-ERROR ")) {
      found.push({ ok: false, message: out.hostPaths(line.slice("BEAMIX-ERROR ".length).trim()) });
    }
  }
  return found;
}

export const firstLine = (s: string): string => s.split("\n").find((l) => l.trim() !== "")?.trim() ?? "";

// Loads DIR/mix.exs in a fresh Elixir VM with MIX_ENV=prod, an empty MIX_HOME and HEX_HOME (so
// no installed archive such as Hex is loaded) and HEX_OFFLINE=1, in the sandbox.
export async function readMixConfig(dir: string): Promise<ScriptResult> {
  const what = `${dir}/mix.exs`;
  const out = await runReader(dir, what, (p) => ["elixir", `${p.priv}/elixir/read_mix_project.exs`, p.pkg], { MIX_ENV: "prod", MIX_TARGET: "host" });
  const found = results(out, what);
  if (found.length === 0) return { ok: false, message: `${out.failure ?? `elixir exited with ${out.code}`}: ${out.hostPaths(firstLine(out.output))}`.replace(/: $/, "") };
  return found[found.length - 1];
}

// file:consult/1 of each file (paths relative to the package directory DIR), in one Erlang VM,
// in the sandbox.
export async function consultFiles(dir: string, files: string[]): Promise<ScriptResult[]> {
  if (files.length === 0) return [];
  const what = files.map((f) => `${dir}/${f}`).join(", ");
  const out = await runReader(dir, what, (p) => ["escript", `${p.priv}/erlang/consult_json.escript`, ...files.map((f) => `${p.pkg}/${f}`)]);
  const found = results(out, what);
  if (found.length !== files.length) throw new BeamixError(`reading ${what} failed: ${out.failure ?? `escript exited with ${out.code}`}: ${out.hostPaths(firstLine(out.output))}`.replace(/: $/, ""));
  return found;
}

// A text file of the package directory DIR (path relative to it), read in the sandbox like the
// rest, so a symlink cannot make it a file of the host's.
export async function readPackageFile(dir: string, file: string): Promise<string> {
  const what = `${dir}/${file}`;
  const out = await runReader(dir, what, (p) => ["cat", "--", `${p.pkg}/${file}`]);
  if (out.failure) throw new BeamixError(`${what}: cannot be read: ${out.hostPaths(firstLine(out.output)).replace(/^cat: /, "") || out.failure}`);
  return out.output;
}
