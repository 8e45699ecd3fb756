// Mix packages: `mix compile --no-deps-check` with beamix's Hex SCM stand-in (so Mix reads the
// version-only dependencies of mix.exs without Hex) and the inputs on ERL_LIBS.
//
// - The package's own config/ is replaced by the compile-time config of the build (see
//   ../compile-config.ts): Mix never evaluates a dependency's config/.
// - Each input is also linked at _build/ENV/lib/APP: Mix 1.14 reads a direct dependency's .app
//   from there, not from ERL_LIBS; without it Mix warns that modules belong to an application
//   the project does not depend on, and does not validate the inputs' recorded compile-time
//   config against this build's.
// - A shipped _build or deps/ is removed: stale outputs must not be installed, and a deps/APP
//   directory would make Mix look for the dependency's sources.
// - Elixir 1.15+ prunes code paths Mix does not know about (the ERL_LIBS entries) unless told not to.
// - The build does not consolidate protocols (`--no-protocol-consolidation`), as `mix deps.compile`
//   does not for a dependency (Mix.Project.deps_config/1 sets consolidate_protocols: false):
//   consolidation only writes _build/ENV/consolidated (Elixir 1.18+: _build/ENV/lib/APP/consolidated),
//   which is never installed, and costs ~0.12 s of CPU per package (it loads and recompiles every
//   protocol on the code path). Installed outputs are byte-identical either way.
// - Warnings are not errors (`--no-warnings-as-errors`), as `mix deps.compile` passes for every
//   dependency: a package whose own elixirc_options say warnings_as_errors still builds.
import { compareVersions } from "../../elixir/version.ts";
import { BeamixError } from "../../errors.ts";
import { CONFIG_TERMS_FILE } from "../compile-config.ts";
import { shellQuote } from "../environment.ts";
import { SOURCE_DIR } from "../layout.ts";
import { sh, type Command, type RecipeContext, type SystemRecipe } from "../phases.ts";

export const STANDIN_FILE = "hex_scm_standin.exs";
export const CONFIG_EXS_FILE = "config.exs";

export function mixRecipe(ctx: RecipeContext): SystemRecipe {
  const tc = ctx.toolchain;
  if (!tc.paths.elixir || !tc.elixirVersion) throw new BeamixError(`${ctx.app} ${ctx.version} is a Mix package, but the toolchain has no Elixir`);
  const elixir = tc.paths.elixir;
  const helpers = ctx.layout.helpers;
  const envs = ctx.check && ctx.mixEnv !== "test" ? [ctx.mixEnv, "test"] : [ctx.mixEnv];
  const q = shellQuote;
  const configure = [
    "rm -rf config _build deps",
    "mkdir config",
    `cp ${q(`${helpers}/${CONFIG_EXS_FILE}`)} config/config.exs`,
    `cp ${q(`${helpers}/${CONFIG_TERMS_FILE}`)} config/${q(CONFIG_TERMS_FILE)}`,
    ...envs.flatMap((env) => [
      `mkdir -p ${q(`_build/${env}/lib`)}`,
      ...ctx.inputs.map((i) => `ln -s ${q(i.libDir)} ${q(`_build/${env}/lib/${i.app}`)}`),
    ]),
  ].join("\n");

  const mixArgs = (task: string, ...extra: string[]): string[] => {
    const args = [elixir, "-r", `${helpers}/${STANDIN_FILE}`, "-S", "mix", task, "--no-deps-check", ...extra];
    if (compareVersions(tc.elixirVersion!, "1.15.0") >= 0) args.push("--no-prune-code-paths");
    return args;
  };
  const check: Command = { argv: mixArgs("test"), cwd: SOURCE_DIR, env: { MIX_ENV: "test" } };
  return {
    configure: [sh(configure)],
    build: [{ argv: mixArgs("compile", "--no-protocol-consolidation", "--no-warnings-as-errors"), cwd: SOURCE_DIR }],
    check: [check],
    // build_per_environment: false builds into _build/shared.
    installFrom: [`_build/${ctx.mixEnv}/lib/${ctx.app}`, `_build/shared/lib/${ctx.app}`],
  };
}
