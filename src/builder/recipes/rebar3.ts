// rebar3 packages: `rebar3 bare compile --paths A/ebin:B/ebin`, the command Mix uses for rebar3
// dependencies. Plain `rebar3 compile` would resolve and fetch the dependencies itself; `bare`
// takes them as given and writes the package's ebin/ in the source directory. As with Mix and
// rebar3 for a dependency, the prod profile applies. REBAR_CACHE_DIR and HOME are inside the
// build directory (see ../environment.ts).
import { BeamixError } from "../../errors.ts";
import { SOURCE_DIR } from "../layout.ts";
import type { RecipeContext, SystemRecipe } from "../phases.ts";

export function rebar3Recipe(ctx: RecipeContext): SystemRecipe {
  const rebar3 = ctx.toolchain.paths.rebar3;
  if (!rebar3) throw new BeamixError(`${ctx.app} ${ctx.version} is a rebar3 package, but the toolchain has no rebar3`);
  const paths = ctx.inputs.map((i) => `${i.libDir}/ebin`).join(":");
  return {
    // A shipped _build holds another machine's rebar3 state.
    configure: [{ argv: ["rm", "-rf", "_build"], cwd: SOURCE_DIR }],
    build: [{ argv: [rebar3, "bare", "compile", "--paths", paths], cwd: SOURCE_DIR, env: { REBAR_PROFILE: "prod" } }],
    check: [{ argv: [rebar3, "eunit"], cwd: SOURCE_DIR }],
    installFrom: ["."],
  };
}
