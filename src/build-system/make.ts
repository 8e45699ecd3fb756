// make packages: erlang.mk ones above all (cowboy, ranch, cowlib), or a plain Makefile with a
// committed ebin/APP.app.
import type { BuildSystemModule } from "./build-system.ts";

export const make: BuildSystemModule<"make"> = {
  name: "make",
  phasesVersion: 1,
  tools: [],
  mixManagers: ["make"],
  namedByHexBuildTools: (tools) => tools.has("make") || tools.has("erlang.mk"),
  guessedByMix: (files) => files.has("Makefile") || files.has("Makefile.win"),
  // erlang.mk is stronger evidence than rebar.config (erlang.mk packages often carry one for
  // rebar3 users); a bare Makefile counts only with the ebin/APP.app it builds from.
  packingEvidence: async (has) => {
    if (await has("erlang.mk")) return 4;
    return (await has("Makefile")) && (await has("ebin/*.app")) ? 2 : 0;
  },
  deps: {
    needsMixRebarConfig: false,
    // Mix's make manager runs `make` inside deps/APP (and links _build/ENV/lib/APP/ebin to its
    // ebin/), so an erlang.mk package's packaged ebin/APP.app may be rewritten there by a Mix
    // build for any environment. That is build output, not a changed source: rewriting deps/APP
    // for it would give it a new .fetch and make every other environment rebuild it.
    builtInPlace: (path) => path.startsWith("ebin/"),
  },
};
