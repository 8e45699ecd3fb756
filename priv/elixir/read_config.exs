# Evaluates a project's config file the way Mix does (Elixir's own Config.Reader, with its
# imports) and prints one line: BEAMIX-ETF <base64 of term_to_binary({config, imported files})>.
# Usage: elixir read_config.exs CONFIG_FILE MIX_ENV
[file, env] = System.argv()

try do
  {config, imports} = Config.Reader.read_imports!(file, env: String.to_atom(env), target: :host)
  IO.puts("BEAMIX-ETF " <> Base.encode64(:erlang.term_to_binary({config, imports})))
rescue
  e -> IO.puts("BEAMIX-ERROR " <> (Exception.message(e) |> String.split("\n") |> hd()))
end
