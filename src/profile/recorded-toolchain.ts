// A profile remembers the toolchain its generations were made with (manifest.json, toolchain.paths):
// `beamix install | remove | upgrade` on an existing profile builds with that toolchain again
// unless the command line or BEAMIX_TOOLCHAIN names one, so that a change does not silently
// rebuild everything with whatever Erlang and Elixir happen to come first on PATH today.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { chooseToolchain, toolchainGiven } from "../toolchain/choice.ts";
import { currentGeneration, generationPath, type Profile } from "./location.ts";
import { readManifest } from "./manifest.ts";

export type ToolchainReuse =
  | { kind: "given" } // chosen on the command line or with BEAMIX_TOOLCHAIN
  | { kind: "none" } // a new profile, or one from before profiles recorded paths: PATH's
  | { kind: "recorded"; erlRoot: string }
  | { kind: "gone"; erlRoot: string }; // recorded, but no longer there: PATH's

// Chooses the profile's recorded toolchain for this run when none was given.
export async function reuseProfileToolchain(p: Profile): Promise<ToolchainReuse> {
  if (toolchainGiven()) return { kind: "given" };
  const n = await currentGeneration(p);
  if (n === undefined) return { kind: "none" };
  const paths = (await readManifest(generationPath(p, n))).toolchain?.paths;
  if (!paths) return { kind: "none" };
  const there = existsSync(join(paths.erlRoot, "bin", "erl")) && (paths.elixir === null || existsSync(paths.elixir)) && (paths.rebar3 === null || existsSync(paths.rebar3));
  if (!there) return { kind: "gone", erlRoot: paths.erlRoot };
  chooseToolchain({ erlang: paths.erlRoot, elixir: paths.elixir ?? undefined, rebar3: paths.rebar3 ?? undefined });
  return { kind: "recorded", erlRoot: paths.erlRoot };
}
