// The build side of each build system (src/build-system/ is the host side): the phases that
// build a package of that kind inside the sandbox.
import type { BuildSystem } from "../../build-system/registry.ts";
import type { RecipeContext, SystemRecipe } from "../phases.ts";
import { makeRecipe } from "./make.ts";
import { mixRecipe } from "./mix.ts";
import { rebar3Recipe } from "./rebar3.ts";

export const RECIPES: Readonly<Record<BuildSystem, (ctx: RecipeContext) => SystemRecipe>> = {
  mix: mixRecipe,
  rebar3: rebar3Recipe,
  make: makeRecipe,
};
