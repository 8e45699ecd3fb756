// Where things are during a build. The build directory (seen at /build in the sandbox) holds
// the package copy and everything the tools write; inputs are bound read-only at fixed paths.
// Every path a build can observe is the same whatever the host paths, so outputs that embed
// paths (Elixir debug info, __ENV__, @external_resource) are the same on every machine.
import { join } from "node:path";
import { appLibDir } from "../store/item-layout.ts";

// Inside the sandbox, each input's `lib/erlang/lib/<app>-<version>` is bound below this
// directory, which is the one ERL_LIBS entry: the store's location never reaches the build.
export const SANDBOX_INPUTS_DIR = "/inputs";
// Build-only inputs (rebar3 plugins) are bound below this one, which is not on ERL_LIBS.
export const SANDBOX_BUILD_INPUTS_DIR = "/build-inputs";

// Names inside the build directory.
export const SOURCE_DIR = "source"; // the package copy; the working directory of every tool
export const HOME_DIR = "home";
export const MIX_HOME_DIR = "mix-home";
export const HEX_HOME_DIR = "hex-home";
export const REBAR_CACHE_DIR = "rebar-cache";
export const TMP_DIR = "tmp";
export const HELPERS_DIR = "beamix"; // files beamix puts there: the Hex SCM stand-in, the config, patches
export const OUT_DIR = "out"; // the install phase fills out/lib/erlang/lib/<app>-<version>

export interface BuildLayout {
  root: string; // the build directory as the build sees it
  source: string;
  home: string;
  mixHome: string;
  hexHome: string;
  rebarCache: string;
  tmp: string;
  helpers: string;
  out: string;
  appOut: string; // out/lib/erlang/lib/<app>-<version>
}

export function buildLayout(root: string, app: string, version: string): BuildLayout {
  const out = join(root, OUT_DIR);
  return {
    root,
    source: join(root, SOURCE_DIR),
    home: join(root, HOME_DIR),
    mixHome: join(root, MIX_HOME_DIR),
    hexHome: join(root, HEX_HOME_DIR),
    rebarCache: join(root, REBAR_CACHE_DIR),
    tmp: join(root, TMP_DIR),
    helpers: join(root, HELPERS_DIR),
    out,
    appOut: appLibDir(out, app, version),
  };
}

