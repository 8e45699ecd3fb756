// Running the reader scripts in priv/: Elixir for mix.exs, an escript for Erlang term files.
// Both print "BEAMIX-JSON <tagged terms>" or "BEAMIX-ERROR <message>" lines (see the scripts).
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BeamixError } from "../errors.ts";
import type { Term } from "../erlang/term.ts";
import { termFromJson } from "./term-json.ts";

export const PRIV_DIR = fileURLToPath(new URL("../../priv/", import.meta.url));

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

function results(out: Output, what: string): ScriptResult[] {
  const lines = out.stdout.split("\n");
  const found: ScriptResult[] = [];
  for (const line of lines) {
    if (line.startsWith("BEAMIX-JSON ")) {
      found.push({ ok: true, term: termFromJson(JSON.parse(line.slice("BEAMIX-JSON ".length)), what) });
    } else if (line.startsWith("BEAMIX-ERROR ")) {
      found.push({ ok: false, message: line.slice("BEAMIX-ERROR ".length).trim() });
    }
  }
  return found;
}

export const firstLine = (s: string): string => s.split("\n").find((l) => l.trim() !== "")?.trim() ?? "";

// Loads DIR/mix.exs in a fresh Elixir VM with MIX_ENV=prod, an empty temporary MIX_HOME and
// HEX_HOME (so no installed archive such as Hex is loaded) and HEX_OFFLINE=1.
export async function readMixConfig(dir: string): Promise<ScriptResult> {
  const home = await mkdtemp(join(tmpdir(), "beamix-mixhome-"));
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, MIX_ENV: "prod", MIX_HOME: home, HEX_HOME: home, HEX_OFFLINE: "1", MIX_TARGET: "host" };
    delete env.MIX_EXS;
    delete env.MIX_LOCKFILE;
    delete env.MIX_DEPS_PATH;
    delete env.MIX_BUILD_PATH;
    const out = await runTool("elixir", [join(PRIV_DIR, "elixir", "read_mix_project.exs"), dir], env);
    const found = results(out, `${dir}/mix.exs`);
    if (found.length === 0) {
      return { ok: false, message: `elixir exited with ${out.code}: ${firstLine(out.stderr) || firstLine(out.stdout)}` };
    }
    return found[found.length - 1];
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

// file:consult/1 of each file, in one Erlang VM.
export async function consultFiles(files: string[]): Promise<ScriptResult[]> {
  if (files.length === 0) return [];
  const out = await runTool("escript", [join(PRIV_DIR, "erlang", "consult_json.escript"), ...files], process.env);
  const found = results(out, files.join(", "));
  if (found.length !== files.length) {
    throw new BeamixError(`reading ${files.join(", ")} failed: ${firstLine(out.stderr) || `escript exited with ${out.code}`}`);
  }
  return found;
}
