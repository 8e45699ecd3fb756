// `beamix toolchain show`: the toolchain this run would use (chosen with --toolchain and its kin,
// BEAMIX_TOOLCHAIN, or found on PATH), its versions and paths, and which of its facts go into
// derivation hashes (src/derivation/derivation.ts toolchainSummary) for each build system.
import type { Command } from "commander";
import { BUILD_SYSTEMS } from "../../build-system/registry.ts";
import { toolchainSummary } from "../../derivation/derivation.ts";
import { errorMessage } from "../../errors.ts";
import { describeToolchain, type Toolchain } from "../../toolchain/detect.ts";
import { chosenToolchain, type ToolchainChoice } from "../../toolchain/choice.ts";
import { printJson, printLines } from "../output.ts";
import { addToolchainOptions } from "../toolchain-options.ts";

// Per build system: the facts its derivations hash, or why it cannot build with this toolchain.
function hashedFacts(tc: Toolchain): Record<string, Record<string, string> | { error: string }> {
  const out: Record<string, Record<string, string> | { error: string }> = {};
  for (const buildSystem of BUILD_SYSTEMS) {
    try {
      out[buildSystem] = { ...toolchainSummary(tc, { name: `a ${buildSystem} package`, version: "", buildSystem, nativeInputs: [] }) } as Record<string, string>;
    } catch (err) {
      out[buildSystem] = { error: errorMessage(err).replace(/ +needs/, " needs") };
    }
  }
  return out;
}

function chosenBy(o: ToolchainChoice): string {
  const base = o.toolchain !== undefined ? "--toolchain" : process.env.BEAMIX_TOOLCHAIN ? "BEAMIX_TOOLCHAIN" : "PATH";
  const parts = (["erlang", "elixir", "rebar3"] as const).filter((k) => o[k] !== undefined).map((k) => `--${k}`);
  return [base, ...parts].join(", ");
}

export function registerToolchainCommands(program: Command): void {
  const group = program.command("toolchain").description("the Erlang/OTP, Elixir and rebar3 that builds and project reading use");
  const show = group.command("show").description("print the toolchain detected, its paths, and what derivation hashes cover").option("--json", "print JSON");
  addToolchainOptions(show);
  show.action(async (opts: ToolchainChoice & { json?: boolean }) => {
    const tc = await chosenToolchain();
    const hashed = hashedFacts(tc);
    const source = chosenBy(opts);
    if (opts.json) {
      printJson({
        chosenBy: source,
        otpRelease: tc.otpRelease,
        otpVersion: tc.otpVersion,
        ertsVersion: tc.ertsVersion,
        nifVersion: tc.nifVersion,
        targetTriple: tc.targetTriple,
        wordSize: tc.wordSize,
        elixirVersion: tc.elixirVersion,
        rebar3Version: tc.rebar3Version,
        paths: tc.paths,
        binDirs: tc.binDirs,
        hashed,
      });
      return;
    }
    const p = tc.paths;
    const lines = [
      describeToolchain(tc),
      `  chosen by  ${source}`,
      `  erlang     ${p.erlRoot} (erl ${p.erl})`,
      `  elixir     ${p.elixir ?? "none"}`,
      `  rebar3     ${p.rebar3 ?? "none"}`,
      `  PATH       ${tc.binDirs.join(":")} (first, for builds and the VMs beamix starts)`,
      "derivation hashes cover (paths never):",
    ];
    for (const [system, facts] of Object.entries(hashed)) {
      lines.push(`  ${system.padEnd(7)} ${"error" in facts ? facts.error : Object.entries(facts).map(([k, v]) => `${k}=${v}`).join(" ")}`);
    }
    printLines(lines);
  });
}
