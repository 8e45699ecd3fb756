# `beamix deps`'s one Elixir VM: BeamixDepsProject.main(["session" | ...]) (deps_project.ex)
# with beamix's Hex SCM stand-in loaded, as
#   elixir -r hex_scm_standin.exs deps_project.exs session DIR MIX_ENV
# would run it, but with both compiled only once per Elixir and ERTS version and kept in the
# CLI's compile cache: compiling them loads the Erlang compiler and costs about as much as
# starting the VM. (mix.exs is still compiled, as Mix does, on every run.)
#
# This file is evaluated, not compiled (Elixir compiles a script file before running it):
#   elixir -e "$(cat deps_session.exs)" -- CACHE STANDIN MODULE session DIR MIX_ENV
# CACHE is the cache file's path without its version suffix, or "" for no cache; STANDIN and
# MODULE are hex_scm_standin.exs and deps_project.ex. A cache file that cannot be read or
# loaded is replaced.
# First of all, the facts beamix's toolchain detection asks erl for, as the same text (the format
# and calls of ERL_EVAL in src/toolchain/ask.ts), so that a run whose toolchain cache has no
# answer need not start erl as well. beamix checks by the root that this VM is the toolchain's,
# and says "go" (a line, or the end of stdin) before the VM reads anything of the project; a VM
# that is not the toolchain's is stopped instead.
facts =
  :io_lib.format(~c"~ts~n~ts~n~ts~n~ts~n~ts~n~b~n", [
    :erlang.system_info(:otp_release),
    :erlang.system_info(:version),
    :erlang.system_info(:nif_version),
    :erlang.system_info(:system_architecture),
    :code.root_dir(),
    :erlang.system_info(:wordsize)
  ])

IO.puts(["BEAMIX-FACTS ", Base.encode64(:unicode.characters_to_binary(facts))])

[cache, standin, module | args] = System.argv()

file =
  if cache != "",
    do: "#{cache}-elixir-#{System.version()}-erts-#{:erlang.system_info(:version)}.etf"

cached =
  try do
    modules = :erlang.binary_to_term(File.read!(file))
    true = Enum.all?(modules, &match?({m, b} when is_atom(m) and is_binary(b), &1))
    modules
  rescue
    _ -> nil
  end

loaded =
  cached != nil and
    Enum.all?(cached, fn {m, b} -> match?({:module, ^m}, :code.load_binary(m, String.to_charlist(file), b)) end)

if not loaded do
  modules = Code.require_file(standin) ++ Code.require_file(module)

  if file do
    tmp = "#{file}.#{System.pid()}.tmp"

    with :ok <- File.write(tmp, :erlang.term_to_binary(modules)),
         :ok <- File.rename(tmp, file) do
      :ok
    else
      _ -> File.rm(tmp)
    end
  end
end

_go = IO.binread(:stdio, :line)
BeamixDepsProject.main(args)
