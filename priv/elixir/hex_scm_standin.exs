# beamix's stand-in for the Hex SCM. This is NOT Hex and it talks to no
# repository.
#
# Why it exists: Mix refuses to read a dependency given only by version
# (`{:dep, "~> 1.0"}`) unless some SCM accepts it, and normally the Hex
# archive provides that SCM. beamix builds a package with its dependencies
# already compiled and reachable through ERL_LIBS, so nothing has to be
# fetched; Mix only has to read `mix.exs` (to compute the `.app`
# `applications` list, among others) and then compile with
# `--no-deps-check`. This file gives Mix just enough to do that:
#
#   * a module `Hex` whose `start/0` (called by Mix when no other SCM accepts
#     a dependency) appends `Beamix.HexSCM` to the available SCMs;
#   * `Beamix.HexSCM`, which accepts version-only dependencies (also with
#     `hex:`, `repo:` or `organization:`), is never fetchable, reports every
#     lock as `:ok` and every dependency as checked out.
#
# Load it before Mix reads the project, e.g.
#   elixir -r priv/elixir/hex_scm_standin.exs -S mix compile --no-deps-check
# with an empty MIX_HOME, so that a real Hex archive is not loaded as well.

defmodule Hex do
  @moduledoc false

  # Mix.Hex.ensure_updated?/0 only checks this against ">= 0.19.0"; the build
  # metadata says what this really is.
  # A version every supported Mix accepts (Mix 1.17+ asks to update a Hex older than 2.0.6).
  def version, do: "2.1.1+beamix.standin"

  def start do
    # Mix calls start/0 once per dependency that no SCM accepted: append once.
    unless Beamix.HexSCM in Mix.SCM.available() do
      Mix.SCM.append(Beamix.HexSCM)
    end

    :ok
  end
end

defmodule Beamix.HexSCM do
  @moduledoc false
  @behaviour Mix.SCM

  # Options that belong to Mix's own SCMs (Git, Path); such deps are theirs.
  @other_scm_keys [:git, :github, :path, :in_umbrella]

  @impl true
  def fetchable?, do: false

  @impl true
  def format(opts), do: "Hex package #{opts[:hex]}, repo #{opts[:repo]}, beamix stand-in"

  @impl true
  def format_lock(opts) do
    case opts[:lock] do
      {:hex, _package, version, _inner, _managers, _deps, _repo, _outer} -> version
      {:hex, _package, version, _inner, _managers, _deps, _repo} -> version
      _ -> nil
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
    end
  end

  # The compiled dependency is on ERL_LIBS; there is nothing to check out.
  @impl true
  def checked_out?(_opts), do: true

  @impl true
  def lock_status(_opts), do: :ok

  @impl true
  def equal?(opts1, opts2) do
    opts1[:hex] == opts2[:hex] and opts1[:repo] == opts2[:repo]
  end

  # Always empty: a manager taken from the lock would make Mix look for the
  # dependency's sources in deps/, which do not exist here. With no manager
  # Mix infers one from deps/APP if that directory happens to exist.
  @impl true
  def managers(_opts), do: []

  @impl true
  def checkout(opts), do: refuse(opts)

  @impl true
  def update(opts), do: refuse(opts)

  defp refuse(opts) do
    Mix.raise(
      "dependency #{inspect(opts[:hex])} cannot be fetched: the beamix Hex stand-in " <>
        "only reads mix.exs; dependencies must be supplied precompiled on ERL_LIBS"
    )
  end
end
