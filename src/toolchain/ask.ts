// Asking the toolchain's tools about themselves (erl for the Erlang facts, elixir where it is
// installed, rebar3 its version), with none of the variables that change what a VM does set.
// What detect.ts asks, and what early-erl.ts asks before detection does: the same question.
import type { ChildProcess } from "node:child_process";
import { delimiter } from "node:path";
import { BeamixError, errorMessage } from "../errors.ts";

// Variables that change what erl or elixir do, not wanted while asking them about themselves.
export const VM_ENV = ["ERL_FLAGS", "ERL_AFLAGS", "ERL_ZFLAGS", "ERL_LIBS", "ERL_COMPILER_OPTIONS", "ELIXIR_ERL_OPTIONS", "ERL_CRASH_DUMP"];

export function toolEnv(extraPath?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of VM_ENV) delete env[k];
  if (extraPath) env.PATH = env.PATH ? `${extraPath}${delimiter}${env.PATH}` : extraPath;
  return env;
}

export interface Asking {
  child: ChildProcess;
  output: Promise<string>; // its stdout; rejected with what failed
}

const TIMEOUT_MS = 60_000;

export function ask(file: string, args: string[], env: NodeJS.ProcessEnv, what: string): Asking {
  // Loaded when first asked (~10 ms): the replay of an unchanged `beamix deps` loads this file
  // and asks nothing. The time limit is a signal, whose timer does not keep Node running: an
  // early erl nobody waits for must not delay the exit (early-erl.ts).
  const { execFile } = process.getBuiltinModule("node:child_process");
  let child!: ChildProcess;
  const output = new Promise<string>((resolvePromise, reject) => {
    child = execFile(file, args, { env, signal: AbortSignal.timeout(TIMEOUT_MS), maxBuffer: 1 << 20, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err) {
        const failure = err.name === "AbortError" ? `no answer in ${TIMEOUT_MS / 1000} s` : errorMessage(err);
        const detail = (stderr || stdout || failure).trim().split("\n").slice(-3).join(" | ");
        reject(new BeamixError(`${what} failed (${file}): ${detail}`));
      } else resolvePromise(stdout);
    });
  });
  return { child, output };
}

// What the Erlang facts are: erl prints them so, and priv/elixir/deps_session.exs prints the
// same text (the same io_lib format of the same calls) for detect.ts's offeredFacts.
export const ERL_EVAL = [
  "io:format(\"~ts~n~ts~n~ts~n~ts~n~ts~n~b~n\", [",
  "erlang:system_info(otp_release), erlang:system_info(version), erlang:system_info(nif_version),",
  "erlang:system_info(system_architecture), code:root_dir(), erlang:system_info(wordsize)]),",
  "halt().",
].join(" ");

export function askErl(erl: string): Asking {
  // no_dot_erlang: a user's ~/.erlang must not run (or print) during detection. `-mode minimal`
  // (what erlc uses: the code path is not built from every OTP library) boots ~15 ms faster;
  // releases that do not know that mode take it as the default, interactive.
  const args = ["-noshell", "-noinput", "-mode", "minimal", "-boot", "no_dot_erlang", "-eval", ERL_EVAL];
  return ask(erl, args, toolEnv(), "asking erl for its release");
}
