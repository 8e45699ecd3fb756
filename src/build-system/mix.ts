// Mix packages: a mix.exs at the top.
import type { BuildSystemModule } from "./build-system.ts";

export const mix: BuildSystemModule<"mix"> = {
  name: "mix",
  phasesVersion: 1,
  tools: ["elixir"],
  mixManagers: ["mix"],
  namedByHexBuildTools: (tools) => tools.has("mix"),
  guessedByMix: (files) => files.has("mix.exs"),
  packingEvidence: async (has) => ((await has("mix.exs")) ? 5 : 0),
  deps: { needsMixRebarConfig: false },
};
