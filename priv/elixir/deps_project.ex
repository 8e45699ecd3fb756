# The module behind deps_project.exs (see there for what it answers) and deps_session.exs,
# which runs `beamix deps`'s one Elixir VM. Only a module, so that it can be compiled once and
# loaded from the CLI's compile cache (deps_session.exs).

defmodule BeamixDepsProject do
  def main(["project", dir]), do: reply(fn -> project(dir) end)
  def main(["children", app, dir]), do: reply(fn -> children(String.to_atom(app), dir) end)
  def main(["rebar-config", app, dir]), do: reply(fn -> rebar_config(String.to_atom(app), dir) end)
  def main(["session", dir, env]), do: session(dir, env)
  def main(_), do: fail("usage: deps_project.exs project DIR | children APP DIR | rebar-config APP DIR | session DIR MIX_ENV")

  defp reply(fun) do
    case run(fun) do
      {:ok, result} -> IO.puts(["BEAMIX-ETF ", Base.encode64(:erlang.term_to_binary(result))])
      {_, message} -> fail(message)
    end
  end

  defp run(fun) do
    {:ok, fun.()}
  rescue
    e -> {:error, Exception.message(e)}
  catch
    kind, reason -> {:crash, Exception.format_banner(kind, reason, __STACKTRACE__)}
  end

  defp session(dir, env) do
    case run(fn -> project(dir) end) do
      {:ok, project} ->
        answer("project", {:ok, project})
        answer("config", run(fn -> config(project.config_path, env) end), &first_line_of_message/1)
        serve()

      {_, message} ->
        answer("project", {:error, message})
        System.halt(1)
    end
  end

  defp serve do
    case IO.binread(:stdio, :line) do
      line when is_binary(line) ->
        [id | fields] = line |> String.trim_trailing("\n") |> String.split(" ")
        answer(id, run(fn -> request(Enum.map(fields, &Base.decode64!/1)) end))
        serve()

      _eof_or_error ->
        :ok
    end
  end

  defp request(["children", app, env, dir]) do
    old_env = Mix.env()
    old_var = System.get_env("MIX_ENV")
    System.put_env("MIX_ENV", env)

    try do
      children(String.to_atom(app), dir)
    after
      if old_var, do: System.put_env("MIX_ENV", old_var), else: System.delete_env("MIX_ENV")
      Mix.env(old_env)
    end
  end

  defp request(["rebar-config", app, dir]), do: rebar_config(String.to_atom(app), dir)

  defp answer(id, result, first_line \\ &first_line/1)

  defp answer(id, {:ok, result}, _first_line),
    do: IO.puts(["BEAMIX-REPLY ", id, " ETF ", Base.encode64(:erlang.term_to_binary(result))])

  defp answer(id, {:error, message}, first_line), do: IO.puts(["BEAMIX-REPLY ", id, " ERROR ", first_line.(message)])
  defp answer(id, {:crash, message}, _first_line), do: IO.puts(["BEAMIX-REPLY ", id, " CRASH ", first_line(message)])

  defp first_line(message), do: message |> String.split("\n", trim: true) |> List.first() || ""

  # As read_config.exs reports an exception.
  defp first_line_of_message(message), do: message |> String.split("\n") |> hd()

  # The project's compile-time configuration, as read_config.exs reads it.
  defp config(path, env) do
    if File.regular?(path) do
      Config.Reader.read_imports!(path, env: String.to_atom(env), target: :host)
    else
      {[], []}
    end
  end

  defp fail(message) do
    IO.puts(["BEAMIX-ERROR ", first_line(message)])
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

