// rebar3 packages: rebar.config (or rebar.config.script), or just src/APP.app.src, which rebar3
// builds with its defaults.
import type { BuildSystemModule } from "./build-system.ts";

const REBAR_FILES = ["rebar", "rebar.config", "rebar.config.script", "rebar.lock"];

export const rebar3: BuildSystemModule<"rebar3"> = {
  name: "rebar3",
  phasesVersion: 1,
  tools: ["rebar3"],
  // Mix still accepts the old `rebar` manager and builds such packages with rebar3.
  mixManagers: ["rebar3", "rebar"],
  namedByHexBuildTools: (tools) => tools.has("rebar3") || tools.has("rebar"),
  // Mix.Dep.Loader: any of rebar's files at the top.
  guessedByMix: (files) => REBAR_FILES.some((f) => files.has(f)),
  packingEvidence: async (has) => {
    if ((await has("rebar.config")) || (await has("rebar.config.script"))) return 3;
    return (await has("src/*.app.src")) ? 1 : 0;
  },
  deps: { needsMixRebarConfig: true },
};
