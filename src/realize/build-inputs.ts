// Build-only inputs of a plan: the rebar3 plugins a package's configuration names become its
// definition's buildInputs (src/derivation/definition.ts), resolved from the package's own
// repository; realized like any package, they reach only the build that names them (the
// rebar3 recipe puts them where rebar3 finds plugins without fetching), never a profile,
// a `deps` tree or an item's references.
import { BeamixError } from "../errors.ts";
import type { Input } from "../derivation/definition.ts";
import { pluginsOfTarball } from "../project/rebar3-plugins.ts";

export async function rebar3PluginInputs(tarball: Uint8Array, where: string, repo: string): Promise<Input[]> {
  const plugins = await pluginsOfTarball(tarball, where);
  if (plugins.other.length > 0) {
    throw new BeamixError(
      `${where}: rebar3 plugin${plugins.other.length > 1 ? "s" : ""} ${plugins.other.join(", ")} ${plugins.other.length > 1 ? "are" : "is"} not a Hex package; write a definition file whose buildInputs name Hex packages`,
    );
  }
  return plugins.hex.map((p) => ({ name: p.name, app: p.app, optional: false, repo }));
}
