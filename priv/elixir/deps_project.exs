# Usage:
#   elixir -r priv/elixir/hex_scm_standin.exs priv/elixir/deps_project.exs project DIR
#   elixir -r priv/elixir/hex_scm_standin.exs priv/elixir/deps_project.exs children APP DIR
#   elixir priv/elixir/deps_project.exs rebar-config APP DIR
#
# What `beamix deps` asks Mix about a project, answered by Mix itself so that nothing is
# guessed: the project's paths and its dependency declarations as Mix's dependency loader
# normalizes them (SCM, dest and build paths, env, only, override, optional, manager, ...),
# the declarations of a git or path dependency's own mix.exs, and the `mix.rebar.config` Mix
# writes before compiling a rebar3 dependency. MIX_ENV is taken from the environment.
#
# Loaded with beamix's Hex SCM stand-in (and an empty MIX_HOME), so that Hex dependencies
# are accepted without Hex and without any network access; nothing is fetched or compiled.
#
# Prints one line "BEAMIX-ETF <base64 of term_to_binary(result)>", or
# "BEAMIX-ERROR <message>" and exits with 1. Values that are not plain data (functions,
# regexes) are replaced by their inspect/1 text.

defmodule BeamixDepsProject do
  def main(["project", dir]), do: reply(fn -> project(dir) end)
  def main(["children", app, dir]), do: reply(fn -> children(String.to_atom(app), dir) end)
  def main(["rebar-config", app, dir]), do: reply(fn -> rebar_config(String.to_atom(app), dir) end)
  def main(_), do: fail("usage: deps_project.exs project DIR | children APP DIR | rebar-config APP DIR")

  defp reply(fun) do
    result = fun.()
    IO.puts(["BEAMIX-ETF ", Base.encode64(:erlang.term_to_binary(result))])
  rescue
    e -> fail(Exception.message(e))
  catch
    kind, reason -> fail(Exception.format_banner(kind, reason, __STACKTRACE__))
  end

  defp fail(message) do
    line = message |> String.split("\n", trim: true) |> List.first() || ""
    IO.puts(["BEAMIX-ERROR ", line])
    System.halt(1)
  end

  defp project(dir) do
    Mix.start()

    Mix.Project.in_project(:beamix_deps_project, dir, fn _module ->
      config = Mix.Project.config()

      if config[:apps_path] do
        Mix.raise("umbrella projects are not supported by beamix deps")
      end

      %{
        app: config[:app],
        version: config[:version],
        mix_env: Mix.env(),
        build_path: Mix.Project.build_path(),
        deps_path: Mix.Project.deps_path(),
        lockfile: Path.expand(config[:lockfile] || "mix.lock"),
        config_path: Path.expand(config[:config_path] || "config/config.exs"),
        elixir_version: System.version(),
        otp_release: List.to_string(:erlang.system_info(:otp_release)),
        deps: Enum.map(loader_children(), &dep/1)
      }
    end)
  end

  # A dependency's own declarations, as Mix reads them when it loads that dependency: in its
  # env (prod unless it says otherwise), with the parent's deps and build paths.
  defp children(app, dir) do
    Mix.start()
    Mix.env(String.to_atom(System.get_env("MIX_ENV") || "prod"))

    Mix.Project.in_project(app, dir, fn _module ->
      %{app: Mix.Project.config()[:app], version: Mix.Project.config()[:version], deps: Enum.map(loader_children(), &dep/1)}
    end)
  end

  # The project's declarations as Mix.Dep structs; the loader takes a `locked?` flag since
  # Elixir 1.15 (false: nothing may be installed or fetched).
  defp loader_children do
    Code.ensure_loaded!(Mix.Dep.Loader)

    if function_exported?(Mix.Dep.Loader, :children, 1),
      do: apply(Mix.Dep.Loader, :children, [false]),
      else: apply(Mix.Dep.Loader, :children, [])
  end

  # What Mix.Tasks.Deps.Compile writes to _build/ENV/lib/APP/mix.rebar.config.
  defp rebar_config(app, dir) do
    dir
    |> Mix.Rebar.load_config()
    |> then(&Mix.Rebar.apply_overrides(app, &1, []))
    |> Mix.Rebar.dependency_config()
    |> Mix.Rebar.serialize_config()
    |> IO.iodata_to_binary()
  end

  defp dep(%Mix.Dep{} = d) do
    %{
      app: d.app,
      requirement: plain(d.requirement),
      scm: d.scm,
      manager: d.manager,
      system_env: plain(d.system_env),
      from: d.from,
      opts: plain(d.opts)
    }
  end

  defp plain(%Regex{} = r), do: inspect(r)
  defp plain(%_{} = s), do: inspect(s)
  defp plain(m) when is_map(m), do: Map.new(m, fn {k, v} -> {plain(k), plain(v)} end)
  defp plain(l) when is_list(l), do: Enum.map(l, &plain/1)
  defp plain(t) when is_tuple(t), do: t |> Tuple.to_list() |> Enum.map(&plain/1) |> List.to_tuple()

  defp plain(x) when is_atom(x) or is_binary(x) or is_number(x), do: x
  defp plain(x), do: inspect(x)
end

BeamixDepsProject.main(System.argv())
