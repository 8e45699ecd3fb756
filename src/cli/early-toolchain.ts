// `beamix deps` needs the toolchain's Erlang facts, and on a machine whose toolchain cache has
// none, erl takes about as long to give them as the CLI takes to load: it is started first
// (src/toolchain/early-erl.ts), for the toolchain the command line seems to choose (the options
// of ./toolchain-options.ts, read here without commander), when the run may ask binary caches
// (which may spare it Mix's VM). Only a guess: detection uses the answer only for the erl it
// would itself run, so a misread command line costs a VM, never a wrong answer.
import { detectOptionsFor, elixirOption, erlangDirOption, rebar3Option, toolchainDirOption, type ToolchainChoice } from "../toolchain/choice.ts";
import { startEarlyErl } from "../toolchain/early-erl.ts";
import { readFileSync } from "node:fs";
import { parseSubstitutersFile, substitutersFile } from "../config/paths.ts";

const OPTIONS = new Map<string, [keyof ToolchainChoice, (text: string) => string]>([
  ["--toolchain", ["toolchain", toolchainDirOption]],
  ["--erlang", ["erlang", erlangDirOption]],
  ["--elixir", ["elixir", elixirOption]],
  ["--rebar3", ["rebar3", rebar3Option]],
]);

// `args`: what follows `deps`.
export function startDepsToolchainProbe(args: string[]): void {
  // `deps tree` detects nothing; help runs nothing.
  if (args.some((a) => a === "tree" || a === "-h" || a === "--help")) return;
  // Without a binary cache to give Mix's answers, a machine that has none kept starts Mix's
  // VM, which reports the same facts: an erl beside it would only take a core from it.
  if (!mayAskCaches(args)) return;
  const choice: ToolchainChoice = {};
  for (let i = 0; i < args.length && args[i] !== "--"; i++) {
    const [name, inline] = args[i].split(/=(.*)/s, 2);
    const option = OPTIONS.get(name);
    if (!option) continue;
    const text = inline ?? args[++i];
    if (text === undefined) return;
    try {
      choice[option[0]] = option[1](text);
    } catch {
      return; // a usage error, which commander reports
    }
  }
  try {
    startEarlyErl(detectOptionsFor(choice));
  } catch {
    // BEAMIX_TOOLCHAIN naming no toolchain: detection says so
  }
}

// Whether the run may ask binary caches (src/cli/context.ts substitutersFromOptions).
function mayAskCaches(args: string[]): boolean {
  if (args.some((a) => a === "--no-substitutes" || a === "--check")) return false;
  if (args.some((a) => a === "--substituters" || a.startsWith("--substituters="))) return true;
  try {
    return parseSubstitutersFile(readFileSync(substitutersFile(), "utf8")).length > 0;
  } catch {
    return false; // no substituters file
  }
}
