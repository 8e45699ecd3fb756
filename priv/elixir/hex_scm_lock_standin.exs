# A stand-in for the Hex SCM that checks dependencies the way Hex does, for running Mix in a
# project whose deps/ and _build/ were filled by `beamix deps`, on a machine without the Hex
# archive. This is NOT Hex: it talks to no repository and cannot fetch anything.
#
#   elixir -r priv/elixir/hex_scm_lock_standin.exs -S mix compile
#
# Unlike priv/elixir/hex_scm_standin.exs (made for building one package with
# `--no-deps-check`), this one lets Mix run its full dependency check:
#
#   * `fetchable?/0` is true, as for Hex. (An SCM that is not fetchable makes Mix treat the
#     dependency as a local one, like a path dependency, and compile it again on every
#     `mix compile`.) So Mix compares deps/APP/.fetch with _build/ENV/lib/APP/.mix/compile.fetch;
#   * `lock_status/1` reads deps/APP/.hex and compares it with the mix.lock entry: name,
#     version, both checksums and repository must agree, else the dependency is out of date;
#   * the module is called `Hex.SCM`, as Hex's is, so the SCM Mix records in
#     _build/ENV/lib/APP/.mix/compile.elixir_scm is the one a real Hex would record;
#   * `managers/1` returns the managers of the lock entry, as Hex does;
#   * `Hex.RemoteConverger` gives a Hex dependency its children from its mix.lock entry, as
#     Hex's remote converger does: Mix then never reads a Hex package's own rebar.config or
#     mix.exs for its dependencies (cowboy's rebar.config names cowlib and ranch as git
#     dependencies; its Hex release and the lock name them as Hex packages). It resolves
#     nothing: the lock is taken as it is.
#
# Load it with an empty MIX_HOME (or without a Hex archive installed): a real Hex would
# define the same modules.

defmodule Hex do
  @moduledoc false

  # A version every supported Mix accepts (Mix 1.17+ asks to update a Hex older than 2.0.6).
  def version, do: "2.1.1+beamix.lock-standin"

  def start do
    unless Hex.SCM in Mix.SCM.available() do
      Mix.SCM.append(Hex.SCM)
    end

    Mix.RemoteConverger.register(Hex.RemoteConverger)
    :ok
  end
end

defmodule Hex.RemoteConverger do
  @moduledoc false
  @behaviour Mix.RemoteConverger

  @impl true
  def remote?(dep), do: !!dep.opts[:hex]

  # Called inside deps.get and deps.update only: there is nothing to resolve against.
  @impl true
  def converge(_deps, lock), do: lock

  # The children the lock entry lists, as {app, requirement, opts}.
  @impl true
  def deps(%Mix.Dep{app: app}, lock) do
    case lock[app] do
      {:hex, _name, _version, _inner, _managers, deps, _repo, _outer} when is_list(deps) -> deps
      _ -> []
    end
  end

  @impl true
  def post_converge, do: :ok
end

defmodule Hex.SCM do
  @moduledoc false
  @behaviour Mix.SCM

  @other_scm_keys [:git, :github, :path, :in_umbrella]

  @impl true
  def fetchable?, do: true

  @impl true
  def format(opts), do: "Hex package #{opts[:hex]} (beamix lock-checking stand-in)"

  @impl true
  def format_lock(opts) do
    case locked(opts[:lock]) do
      %{version: version} -> version
      nil -> nil
    end
  end

  @impl true
  def accepts_options(app, opts) do
    if Enum.any?(@other_scm_keys, &Keyword.has_key?(opts, &1)) do
      nil
    else
      repo =
        case {opts[:repo], opts[:organization]} do
          {nil, nil} -> "hexpm"
          {nil, org} -> "hexpm:#{org}"
          {repo, _} -> repo
        end

      opts
      |> Keyword.put_new(:hex, app)
      |> Keyword.put(:repo, repo)
      |> Keyword.update(:hex, app, &to_atom/1)
    end
  end

  @impl true
  def checked_out?(opts), do: File.dir?(opts[:dest])

  @impl true
  def lock_status(opts) do
    with %{} = lock <- locked(opts[:lock]),
         {:ok, manifest} <- read_manifest(opts[:dest]) do
      same? =
        manifest[:name] == Atom.to_string(lock.name) and
          manifest[:version] == lock.version and
          manifest[:inner_checksum] == lock.inner_checksum and
          manifest[:outer_checksum] == lock.outer_checksum and
          manifest[:repo] == lock.repo

      if same?, do: :ok, else: :mismatch
    else
      _ -> :mismatch
    end
  end

  @impl true
  def equal?(opts1, opts2), do: opts1[:hex] == opts2[:hex] and opts1[:repo] == opts2[:repo]

  @impl true
  def managers(opts) do
    case locked(opts[:lock]) do
      %{managers: managers} when is_list(managers) -> managers
      _ -> []
    end
  end

  @impl true
  def checkout(opts), do: refuse(opts)

  @impl true
  def update(opts), do: refuse(opts)

  # mix.lock's hex entry: {:hex, name, version, inner, managers, deps, repo, outer}.
  defp locked({:hex, name, version, inner, managers, _deps, repo, outer}),
    do: %{name: name, version: version, inner_checksum: inner, managers: managers, repo: repo, outer_checksum: outer}

  defp locked(_), do: nil

  # deps/APP/.hex: term_to_binary({{:hex, 2, 0}, %{name, version, inner_checksum, ...}}).
  defp read_manifest(dest) do
    with {:ok, bin} <- File.read(Path.join(dest, ".hex")),
         {{:hex, 2, 0}, %{} = manifest} <- safe_binary_to_term(bin) do
      {:ok, manifest}
    else
      _ -> :error
    end
  end

  defp safe_binary_to_term(bin) do
    :erlang.binary_to_term(bin, [:safe])
  rescue
    ArgumentError -> :error
  end

  defp to_atom(a) when is_atom(a), do: a
  defp to_atom(s) when is_binary(s), do: String.to_atom(s)

  defp refuse(opts) do
    Mix.raise(
      "dependency #{inspect(opts[:hex])} cannot be fetched: the beamix lock-checking Hex stand-in " <>
        "has no repository; run beamix deps to fill deps/ and _build/"
    )
  end
end
