// rebar3 packages: `rebar3 bare compile --paths A/ebin:B/ebin`, the command Mix uses for rebar3
// dependencies. Plain `rebar3 compile` would resolve and fetch the dependencies itself; `bare`
// takes them as given and writes the package's ebin/ in the source directory. As with Mix and
// rebar3 for a dependency, the prod profile applies. REBAR_CACHE_DIR and HOME are inside the
// build directory (see ../environment.ts).
//
// Plugins (the definition's build inputs) go to _checkouts/APP, each a copy of its store item
// with a rebar.config naming its own inputs: rebar3 (rebar_app_utils:dep_to_app, 3.19 to 3.25)
// takes an application found there as a checkout, whose source it never resolves or fetches
// from a repository, and loads the plugin from it. Nothing of _checkouts is installed.
import { BeamixError } from "../../errors.ts";
import { shellQuote } from "../environment.ts";
import { SOURCE_DIR } from "../layout.ts";
import { sh, type Command, type RecipeBuildInput, type RecipeContext, type SystemRecipe } from "../phases.ts";

function checkoutsCommand(plugins: readonly RecipeBuildInput[]): Command {
  // A shipped _checkouts would stand in for the plugins.
  const lines = ["rm -rf _checkouts", "mkdir _checkouts"];
  for (const p of plugins) {
    const dir = shellQuote(`_checkouts/${p.app}`);
    const config = `{deps, [${p.requires.map((a) => `'${a}'`).join(", ")}]}.\n`;
    lines.push(`cp -RL ${shellQuote(p.libDir)} ${dir}`, `chmod -R u+w ${dir}`, `printf '%s' ${shellQuote(config)} > ${dir}/rebar.config`);
  }
  return sh(lines.join("\n"));
}

export function rebar3Recipe(ctx: RecipeContext): SystemRecipe {
  const rebar3 = ctx.toolchain.paths.rebar3;
  if (!rebar3) throw new BeamixError(`${ctx.app} ${ctx.version} is a rebar3 package, but the toolchain has no rebar3`);
  const paths = ctx.inputs.map((i) => `${i.libDir}/ebin`).join(":");
  const plugins = ctx.buildInputs ?? [];
  return {
    // A shipped _build holds another machine's rebar3 state.
    configure: [{ argv: ["rm", "-rf", "_build"], cwd: SOURCE_DIR }, ...(plugins.length > 0 ? [checkoutsCommand(plugins)] : [])],
    build: [{ argv: [rebar3, "bare", "compile", "--paths", paths], cwd: SOURCE_DIR, env: { REBAR_PROFILE: "prod" } }],
    check: [{ argv: [rebar3, "eunit"], cwd: SOURCE_DIR }],
    installFrom: ["."],
  };
}
