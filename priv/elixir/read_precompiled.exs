# Usage: elixir priv/elixir/read_precompiled.exs DIR elixir_make|rustler_precompiled
#
# Says where a package's precompiled NIF comes from, without compiling or fetching anything:
# - elixir_make: the project's app, version, make_precompiler_url (and filename), from mix.exs;
# - rustler_precompiled: the options of `use RustlerPrecompiled, ...` in lib/, evaluated as the
#   module body evaluates them (a stand-in RustlerPrecompiled throws them instead of
#   downloading), so `version = Mix.Project.config()[:version]` and interpolations work.
# Prints one "BEAMIX-PRECOMPILED KEY BASE64-VALUE" line per value, or "BEAMIX-ERROR <line>" and
# exits with 1.

defmodule BeamixReadPrecompiled do
  def main([dir, kind]) do
    Mix.start()

    values =
      Mix.Project.in_project(:beamix_precompiled_reader, dir, fn _module ->
        config = Mix.Project.config()
        base = [app: to_string(config[:app]), version: to_string(config[:version])]

        case kind do
          "elixir_make" ->
            url = config[:make_precompiler_url] || fail("mix.exs sets no make_precompiler_url")
            base ++ [url: url, filename: to_string(config[:make_precompiler_filename] || config[:app])]

          "rustler_precompiled" ->
            base ++ rustler_options(dir)
        end
      end)

    for {key, value} <- values, is_binary(value) do
      IO.puts(["BEAMIX-PRECOMPILED ", Atom.to_string(key), " ", Base.encode64(value)])
    end
  rescue
    e -> fail(Exception.message(e))
  catch
    kind, reason -> fail(Exception.format_banner(kind, reason, __STACKTRACE__))
  end

  defp rustler_options(dir) do
    Code.compile_string("""
    defmodule RustlerPrecompiled do
      defmacro __using__(opts) do
        quote do
          throw({:beamix_rustler_precompiled, __MODULE__, unquote(opts)})
        end
      end
    end
    """)

    files = dir |> Path.join("lib/**/*.ex") |> Path.wildcard() |> Enum.filter(&(File.read!(&1) =~ "use RustlerPrecompiled"))

    Enum.find_value(files, fn file ->
      try do
        Code.compile_file(file)
        nil
      catch
        :throw, {:beamix_rustler_precompiled, module, opts} ->
          base_url = with {url, _headers} <- opts[:base_url], do: url
          [module: to_string(module), crate: to_string(opts[:crate] || opts[:otp_app]), base_url: base_url, version: to_string(opts[:version])]
      end
    end) || fail("no module of lib/ says use RustlerPrecompiled")
  end

  defp fail(message) do
    line = message |> String.split("\n", trim: true) |> List.first() || ""
    IO.puts(["BEAMIX-ERROR ", line])
    System.halt(1)
  end
end

BeamixReadPrecompiled.main(System.argv())
