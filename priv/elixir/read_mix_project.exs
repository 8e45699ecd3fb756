# Usage: elixir priv/elixir/read_mix_project.exs DIR
#
# Loads DIR/mix.exs with Mix.Project.in_project/3 and prints the parts of its configuration that
# Hex puts into a package's metadata, as one line "BEAMIX-JSON <json>" on stdout. Nothing is
# compiled and no dependency is resolved or fetched, so neither Hex nor the network is needed.
# On failure it prints "BEAMIX-ERROR <first line of Elixir's message>" and exits with 1.
#
# Values are printed as tagged terms so that nothing is lost on the way to TypeScript:
#   {"atom": "a"}  {"bin": "utf-8 text"}  {"bin64": "base64"}  {"int": "123"}  {"float": 1.5}
#   {"list": [..], "tail": T}  {"tuple": [..]}  {"map": [[k, v], ..]}
#   {"regex": "source", "opts": "flags"}  {"opaque": "inspect output"}  (pids, funs, ...)
# (Elixir 1.14 has no JSON module, hence the small encoder below.)

defmodule BeamixReadMixProject do
  @keys [:app, :version, :elixir, :description, :package, :deps, :apps_path]

  def main([dir]) do
    Mix.start()

    config =
      Mix.Project.in_project(:beamix_package_reader, dir, fn _module ->
        Mix.Project.config()
      end)

    subset = for key <- @keys, Keyword.has_key?(config, key), do: {key, Keyword.fetch!(config, key)}
    IO.puts(["BEAMIX-JSON ", encode(subset)])
  rescue
    e -> fail(Exception.message(e), e.__struct__)
  catch
    kind, reason -> fail(Exception.format_banner(kind, reason, __STACKTRACE__), nil)
  end

  def main(_) do
    fail("usage: elixir read_mix_project.exs DIR", nil)
  end

  defp fail(message, module) do
    line = message |> String.split("\n", trim: true) |> List.first() || ""
    prefix = if module, do: "(#{inspect(module)}) ", else: ""
    IO.puts(["BEAMIX-ERROR ", prefix, line])
    System.halt(1)
  end

  defp encode(%Regex{source: source, opts: opts}),
    do: ["{\"regex\":", string(source), ",\"opts\":", string(to_string(opts)), "}"]

  defp encode(term) when is_map(term) do
    entries = for {k, v} <- :maps.to_list(term), do: ["[", encode(k), ",", encode(v), "]"]
    ["{\"map\":[", Enum.intersperse(entries, ","), "]}"]
  end

  defp encode(term) when is_atom(term), do: ["{\"atom\":", string(Atom.to_string(term)), "}"]
  defp encode(term) when is_integer(term), do: ["{\"int\":\"", Integer.to_string(term), "\"}"]
  defp encode(term) when is_float(term), do: ["{\"float\":", Float.to_string(term), "}"]

  defp encode(term) when is_binary(term) do
    if String.valid?(term),
      do: ["{\"bin\":", string(term), "}"],
      else: ["{\"bin64\":\"", Base.encode64(term), "\"}"]
  end

  defp encode(term) when is_tuple(term), do: ["{\"tuple\":", items(Tuple.to_list(term)), "}"]
  defp encode(term) when is_list(term), do: list(term, [])
  defp encode(term), do: ["{\"opaque\":", string(inspect(term)), "}"]

  defp list([head | tail], acc) when is_list(tail), do: list(tail, [head | acc])
  defp list([], acc), do: ["{\"list\":", items(Enum.reverse(acc)), "}"]

  defp list([head | tail], acc),
    do: ["{\"list\":", items(Enum.reverse([head | acc])), ",\"tail\":", encode(tail), "}"]

  defp items(list), do: ["[", Enum.intersperse(Enum.map(list, &encode/1), ","), "]"]

  defp string(s) do
    escaped =
      for <<c::utf8 <- s>> do
        case c do
          ?" -> "\\\""
          ?\\ -> "\\\\"
          c when c < 0x20 -> "\\u" <> String.pad_leading(Integer.to_string(c, 16), 4, "0")
          c -> <<c::utf8>>
        end
      end

    ["\"", escaped, "\""]
  end
end

BeamixReadMixProject.main(System.argv())
