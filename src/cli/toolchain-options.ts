// --toolchain DIR (or BEAMIX_TOOLCHAIN), --erlang DIR, --elixir DIR, --rebar3 FILE: the one place
// every command that starts an Erlang or Elixir VM (builds, package reading, `beamix deps`, the
// config reader, packing) gets them from. Paths are checked as the command line is parsed (a wrong
// one is a usage error naming it); the choice is made before the command's action runs.
import type { Command } from "commander";
import { chooseToolchain, elixirOption, erlangDirOption, rebar3Option, toolchainDirOption, type ToolchainChoice } from "../toolchain/choice.ts";

export function addToolchainOptions(cmd: Command): Command {
  return cmd
    .option("--toolchain <dir>", "the Erlang/Elixir toolchain: an install prefix (bin/erl, bin/elixir, bin/rebar3) or an OTP root (default: BEAMIX_TOOLCHAIN, else the tools on PATH)", toolchainDirOption)
    .option("--erlang <dir>", "the Erlang/OTP installation (root or prefix with bin/erl)", erlangDirOption)
    .option("--elixir <dir>", "the Elixir installation (a directory with bin/elixir, or the elixir executable)", elixirOption)
    .option("--rebar3 <file>", "the rebar3 executable", rebar3Option)
    .hook("preAction", (_cmd, action) => {
      const o = action.opts() as ToolchainChoice;
      chooseToolchain({ toolchain: o.toolchain, erlang: o.erlang, elixir: o.elixir, rebar3: o.rebar3 });
    });
}
