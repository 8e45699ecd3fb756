// The build systems beamix knows, in Mix's order of preference (a dependency several of them
// could build is built by the first), and the choices made from them.
import { make } from "./make.ts";
import { mix } from "./mix.ts";
import { rebar3 } from "./rebar3.ts";
import type { BuildSystemModule, HasFile } from "./build-system.ts";

export const BUILD_SYSTEM_MODULES = [mix, rebar3, make] as const;
export type BuildSystem = (typeof BUILD_SYSTEM_MODULES)[number]["name"];
export const BUILD_SYSTEMS: readonly BuildSystem[] = BUILD_SYSTEM_MODULES.map((m) => m.name);

const BY_NAME = new Map<string, BuildSystemModule<BuildSystem>>(BUILD_SYSTEM_MODULES.map((m) => [m.name, m]));

export function isBuildSystem(name: unknown): name is BuildSystem {
  return typeof name === "string" && BY_NAME.has(name);
}

export function buildSystemModule(name: BuildSystem): BuildSystemModule<BuildSystem> {
  return BY_NAME.get(name)!;
}

// A Mix `manager:` atom's build system; undefined for one beamix cannot build with.
export function buildSystemOfMixManager(manager: string): BuildSystem | undefined {
  return BUILD_SYSTEM_MODULES.find((m) => m.mixManagers.includes(manager))?.name;
}

const topLevel = (files: readonly string[]): Set<string> => new Set(files.map((f) => f.replace(/^\.\//, "")).filter((f) => !f.includes("/")));

// Mix's guess for a dependency that names no manager, from its top-level files.
export function buildSystemGuessedByMix(files: readonly string[]): BuildSystem | undefined {
  const top = topLevel(files);
  return BUILD_SYSTEM_MODULES.find((m) => m.guessedByMix(top))?.name;
}

// Mix's choice for a Hex release: the first build system its `build_tools` names; old releases
// may lack build_tools, and then the packaged files tell, as for any dependency.
export function buildSystemOfHexRelease(buildTools: readonly string[], files: readonly string[] = []): BuildSystem | undefined {
  const tools = new Set(buildTools);
  return BUILD_SYSTEM_MODULES.find((m) => m.namedByHexBuildTools(tools))?.name ?? buildSystemGuessedByMix(files);
}

// Every build system a Hex release's build_tools name, in Mix's order (Mix's choice first);
// without build_tools, Mix's guess from the files.
export function buildSystemsOfHexRelease(buildTools: readonly string[], files: readonly string[] = []): BuildSystem[] {
  const tools = new Set(buildTools);
  const named = BUILD_SYSTEM_MODULES.filter((m) => m.namedByHexBuildTools(tools)).map((m) => m.name);
  const guessed = buildSystemGuessedByMix(files);
  return named.length > 0 ? named : guessed ? [guessed] : [];
}

// The build system of a project directory being packed for Hex: the strongest evidence.
export async function buildSystemForPacking(has: HasFile): Promise<BuildSystem | undefined> {
  let best: { name: BuildSystem; strength: number } | undefined;
  for (const m of BUILD_SYSTEM_MODULES) {
    const strength = await m.packingEvidence(has);
    if (strength > 0 && (best === undefined || strength > best.strength)) best = { name: m.name, strength };
  }
  return best?.name;
}
