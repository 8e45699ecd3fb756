// `beamix toolchain show`: the toolchain this run would use (chosen with --toolchain and its kin,
// BEAMIX_TOOLCHAIN, or found on PATH), its versions and paths, and which of its facts go into
// derivation hashes (src/derivation/derivation.ts toolchainSummary) for each build system.
// `beamix toolchain list`: every toolchain known (PATH, the chosen one, profiles' recorded ones,
// those detected before) with what its hashes cover, and the toolchains the store's items were
// built with.
import { existsSync } from "node:fs";
import type { Command } from "commander";
import { BUILD_SYSTEMS } from "../../build-system/registry.ts";
import { toolchainSummary } from "../../derivation/derivation.ts";
import { errorMessage } from "../../errors.ts";
import { describeToolchain, type Toolchain } from "../../toolchain/detect.ts";
import { chosenDetectOptions, chosenToolchain, toolchainGiven, type ToolchainChoice } from "../../toolchain/choice.ts";
import { knownToolchains, type ToolchainSource } from "../../toolchain/known.ts";
import { profileToolchainSources } from "../../profile/recorded-toolchain.ts";
import { itemToolchains, type ItemToolchain } from "../../store/item-toolchains.ts";
import { defaultStoreDir, openStore } from "../../store/store.ts";
import { addStoreOption, type StoreOptions } from "../context.ts";
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

  const list = group
    .command("list")
    .description("list the toolchains known (PATH, the chosen one, profiles, detected before), what their hashes cover, and those the store's items were built with")
    .option("--json", "print JSON");
  addToolchainOptions(list);
  addStoreOption(list);
  list.action(async (opts: ToolchainChoice & StoreOptions & { json?: boolean }) => {
    const sources: ToolchainSource[] = [];
    if (toolchainGiven()) sources.push({ source: chosenBy(opts), options: chosenDetectOptions() });
    sources.push({ source: "PATH", options: {} });
    sources.push(...(await profileToolchainSources()));
    const known = await knownToolchains(sources);
    const built = await storeToolchains(opts.store ?? defaultStoreDir());
    if (opts.json) {
      printJson({
        toolchains: known.map((k) => (k.toolchain ? { sources: k.sources, description: describeToolchain(k.toolchain), paths: k.toolchain.paths, hashed: hashedFacts(k.toolchain) } : { sources: k.sources, error: k.error })),
        store: built,
      });
      return;
    }
    const lines: string[] = [];
    for (const k of known) {
      if (!k.toolchain) {
        lines.push(`${k.sources.join(", ")}: ${k.error}`);
        continue;
      }
      const p = k.toolchain.paths;
      lines.push(describeToolchain(k.toolchain), `  from       ${k.sources.join(", ")}`, `  erlang     ${p.erlRoot}`, `  elixir     ${p.elixir ?? "none"}`, `  rebar3     ${p.rebar3 ?? "none"}`);
      for (const [system, facts] of Object.entries(hashedFacts(k.toolchain))) {
        lines.push(`  ${system.padEnd(10)} ${"error" in facts ? facts.error : Object.entries(facts).map(([key, v]) => `${key}=${v}`).join(" ")}`);
      }
    }
    if (built === null) lines.push("store: none yet");
    else if (built.length === 0) lines.push("store: no built items");
    else {
      lines.push("store items built with:");
      for (const b of built) {
        const extra = [b.elixirVersions.length ? `Elixir ${b.elixirVersions.join(", ")}` : "", b.rebar3Versions.length ? `rebar3 ${b.rebar3Versions.join(", ")}` : ""].filter(Boolean);
        lines.push(`  Erlang/OTP ${b.otpVersion} (erts ${b.ertsVersion})${extra.length ? `, ${extra.join(", ")}` : ""}: ${b.items} item${b.items === 1 ? "" : "s"}`);
      }
    }
    printLines(lines);
  });
}

// null: there is no store at that path (listing does not make one).
async function storeToolchains(dir: string): Promise<ItemToolchain[] | null> {
  if (!existsSync(dir)) return null;
  const store = await openStore(dir);
  try {
    return itemToolchains(store.listItems());
  } finally {
    await store.close();
  }
}
