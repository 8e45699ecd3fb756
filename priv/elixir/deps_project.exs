# Usage:
#   elixir -r priv/elixir/hex_scm_standin.exs priv/elixir/deps_project.exs project DIR
#   elixir -r priv/elixir/hex_scm_standin.exs priv/elixir/deps_project.exs children APP DIR
#   elixir priv/elixir/deps_project.exs rebar-config APP DIR
#   elixir -r priv/elixir/hex_scm_standin.exs priv/elixir/deps_project.exs session DIR MIX_ENV
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
#
# The module is in deps_project.ex. `beamix deps` runs `session` through deps_session.exs,
# which can load it already compiled.
#
# `session` answers all of a `beamix deps` run in this one VM (an Elixir VM costs more to
# start than the rest of a run from a warm cache): first the project (as `project`), then its
# compile-time configuration (the file Mix would read, config_path, evaluated by Elixir's own
# Config.Reader for MIX_ENV and the host target, as read_config.exs does), then one answer per
# request line read from stdin until it closes:
#   ID children APP ENV DIR       (as `children`, in the dependency's ENV)
#   ID rebar-config APP DIR       (as `rebar-config`)
# where every field after ID is base64. Each answer is one line
#   BEAMIX-REPLY ID ETF <base64 of term_to_binary(result)>
#   BEAMIX-REPLY ID ERROR <message>    (an exception: the first line of its message)
#   BEAMIX-REPLY ID CRASH <message>    (a throw or exit, which a script run alone dies of)
# with IDs "project" and "config" for the first two (config: {config, imported files}, or
# {[], []} when there is no such file). When the project cannot be read, its ERROR line
# is the last and the VM exits with 1.

Code.require_file("deps_project.ex", __DIR__)
BeamixDepsProject.main(System.argv())
