// A profile remembers the toolchain its generations were made with (manifest.json, toolchain.paths):
// `beamix install | remove | upgrade` on an existing profile builds with that toolchain again
// unless the command line or BEAMIX_TOOLCHAIN names one, so that a change does not silently
// rebuild everything with whatever Erlang and Elixir happen to come first on PATH today.
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { chooseToolchain, toolchainGiven } from "../toolchain/choice.ts";
import type { ToolchainSource } from "../toolchain/known.ts";
import { currentGeneration, defaultProfilePath, generationPath, locateProfile, type Profile } from "./location.ts";
import { readManifest, type ManifestToolchainPaths } from "./manifest.ts";

export type ToolchainReuse =
  | { kind: "given" } // chosen on the command line or with BEAMIX_TOOLCHAIN
  | { kind: "none" } // a new profile, or one from before profiles recorded paths: PATH's
  | { kind: "recorded"; erlRoot: string }
  | { kind: "gone"; erlRoot: string }; // recorded, but no longer there: PATH's

// Chooses the profile's recorded toolchain for this run when none was given.
export async function reuseProfileToolchain(p: Profile): Promise<ToolchainReuse> {
  if (toolchainGiven()) return { kind: "given" };
  const paths = await recordedPaths(p);
  if (!paths) return { kind: "none" };
  const there = existsSync(join(paths.erlRoot, "bin", "erl")) && (paths.elixir === null || existsSync(paths.elixir)) && (paths.rebar3 === null || existsSync(paths.rebar3));
  if (!there) return { kind: "gone", erlRoot: paths.erlRoot };
  chooseToolchain({ erlang: paths.erlRoot, elixir: paths.elixir ?? undefined, rebar3: paths.rebar3 ?? undefined });
  return { kind: "recorded", erlRoot: paths.erlRoot };
}

async function recordedPaths(p: Profile): Promise<ManifestToolchainPaths | undefined> {
  const n = await currentGeneration(p);
  return n === undefined ? undefined : (await readManifest(generationPath(p, n))).toolchain?.paths;
}

// The toolchains the profiles beside the default one (<data dir>/profiles/*) were made with.
export async function profileToolchainSources(): Promise<ToolchainSource[]> {
  const dir = dirname(defaultProfilePath());
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => !n.startsWith(".") && !/-\d+-link$/.test(n)).sort();
  const out: ToolchainSource[] = [];
  for (const name of names) {
    const paths = await recordedPaths(await locateProfile(join(dir, name))).catch(() => undefined);
    if (paths) out.push({ source: `profile ${name}`, options: { erlRoot: paths.erlRoot, elixirBin: paths.elixir ?? undefined, rebar3: paths.rebar3 ?? undefined, searchPath: "" } });
  }
  return out;
}
