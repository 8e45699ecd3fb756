// erlang.mk packages (a Makefile, no rebar.config, usually a committed ebin/APP.app).
//
// - The committed ebin/*.app is deleted first: it is stale (often another version), and when
//   its timestamp equals the sources' (a freshly unpacked tarball) make sees nothing to do.
// - `make SKIP_DEPS=1`: erlang.mk then neither fetches nor builds $(DEPS) (its `deps`,
//   `test-deps`, `doc-deps` and `rel-deps` targets become empty) while the generated .app still
//   lists kernel, stdlib, $(LOCAL_DEPS) and $(DEPS). The dependencies are found through ERL_LIBS,
//   which erlang.mk keeps (it only appends its own deps directory). Overriding DEPS= or
//   LOCAL_DEPS= on the command line instead would replace the Makefile's own lists and drop
//   applications (crypto, ssl, the dependencies) from the .app.
import { SOURCE_DIR } from "../layout.ts";
import { sh, type RecipeContext, type SystemRecipe } from "../phases.ts";

export function makeRecipe(_ctx: RecipeContext): SystemRecipe {
  return {
    configure: [sh("rm -f ebin/*.app")],
    build: [{ argv: ["make", "SKIP_DEPS=1"], cwd: SOURCE_DIR }],
    check: [{ argv: ["make", "SKIP_DEPS=1", "eunit"], cwd: SOURCE_DIR }],
    installFrom: ["."],
  };
}
