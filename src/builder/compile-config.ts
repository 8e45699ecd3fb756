// The compile-time configuration a Mix build gets, as the project's config. Mix compiles a
// dependency with the top-level project's config and never evaluates the dependency's own
// config/; here the package is the project, so its config/ is replaced by these two files.
// The values travel as Erlang terms (file:consult), not as Elixir source: every term, including
// binaries that are not text and charlists, reads back exactly.
import { compareCodePoints } from "../derivation/canonical.ts";
import type { CompileConfig } from "../derivation/config.ts";
import { writeTerm } from "../erlang/write.ts";
import { atom, list, tuple } from "../erlang/term.ts";

export const CONFIG_TERMS_FILE = "beamix-compile-config.eterm";

// One term: [{App, [{Key, Value}, ...]}, ...], apps and keys sorted so equal configs give equal files.
export function compileConfigTermsText(config: CompileConfig): string {
  const apps = Object.keys(config).sort(compareCodePoints);
  const term = list(
    apps.map((app) => {
      const keys = Object.keys(config[app]).sort(compareCodePoints);
      return tuple([atom(app), list(keys.map((k) => tuple([atom(k), config[app][k]])))]);
    }),
  );
  return `%% -*- coding: utf-8 -*-\n%% Written by beamix: the compile-time configuration of this build.\n${writeTerm(term)}.\n`;
}

export const CONFIG_EXS_TEXT = `# Written by beamix. A Mix dependency is compiled with the configuration of the project that
# uses it, never with its own config/: this is that configuration (the package's own and that
# of its inputs), read from ${CONFIG_TERMS_FILE} next to this file.
import Config

{:ok, [apps]} = :file.consult(Path.join(__DIR__, ${JSON.stringify(CONFIG_TERMS_FILE)}))

for {app, entries} <- apps do
  config(app, entries)
end
`;
