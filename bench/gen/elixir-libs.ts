// Hand-shaped modules of the smaller Elixir packages of the synthetic closure: a media-type
// table built at compile time from compile-time configuration, a status table, a JSON
// library, HTML escaping, template embedding, pubsub over Registry, a WebSocket behaviour
// and its adapter (part of it compiled only when an optional dependency is loadable).
import type { ExModule } from "./elixir.ts";
import { modulePath } from "./elixir.ts";
import type { Rng } from "./rng.ts";
import { NameScope } from "./rng.ts";
import { MIME_TOPS, syllables, wrap } from "./words.ts";

const mod = (name: string, source: string): ExModule => ({ name, path: modulePath(name), source, callees: [] });

// Like mime: a built-in table extended by `config :APP, :types / :extensions / :suffixes`,
// compiled into one function clause per type and per extension.
export function mimeModule(r: Rng, M: string, app: string, entries: number): ExModule {
  const exts = new NameScope();
  const types = new NameScope();
  const rows: string[] = [];
  for (let i = 0; i < entries; i++) {
    const type = types.take(`${r.pick(MIME_TOPS)}/${r.chance(0.3) ? "x-" : r.chance(0.2) ? "vnd." : ""}${syllables(r, r.int(1, 3))}`);
    if (type.includes("_")) continue;
    const list: string[] = [];
    for (let k = r.int(1, 3); k > 0; k--) {
      const e = exts.take(syllables(r, r.int(1, 2)));
      if (!e.includes("_")) list.push(e);
    }
    if (list.length > 0) rows.push(`    "${type}" => [${list.map((e) => `"${e}"`).join(", ")}]`);
  }
  return mod(
    M,
    `defmodule ${M} do
  @moduledoc """
  Media types and file extensions. The built-in table is extended at compile time:

      config :${app}, :types, %{"application/x-thing" => ["thing"]}

  Changing this configuration requires recompiling ${app}.
  """

  @default_types %{
${rows.join(",\n")}
  }

  @custom_types Application.compile_env(:${app}, :types, %{})
  @types Map.merge(@default_types, @custom_types)
  @extensions Application.compile_env(:${app}, :extensions, %{})
  @suffixes Application.compile_env(:${app}, :suffixes, %{"json" => ["json"], "xml" => ["xml"], "zip" => ["zip"]})

  @ext_to_type @types
               |> Enum.flat_map(fn {type, exts} -> Enum.map(exts, &{&1, type}) end)
               |> Enum.sort()
               |> Enum.dedup_by(&elem(&1, 0))
               |> Map.new()
               |> Map.merge(@extensions)

  @doc "Returns the extensions of a media type (parameters are ignored)."
  @spec extensions(String.t()) :: [String.t()]
  def extensions(type) do
    mime = type |> strip_params() |> downcase("")
    mime_to_ext(mime) || suffix(mime) || []
  end

  @doc "Returns the media type of an extension, or application/octet-stream."
  @spec type(String.t()) :: String.t()
  def type(extension) when is_binary(extension) do
    ext_to_mime(extension) || "application/octet-stream"
  end

  @doc "Whether the extension is known."
  @spec has_type?(String.t()) :: boolean()
  def has_type?(extension) when is_binary(extension), do: ext_to_mime(extension) != nil

  @doc "Whether the media type is known."
  @spec valid?(String.t()) :: boolean()
  def valid?(type) when is_binary(type), do: mime_to_ext(type) != nil

  @doc "Guesses the media type of a path from its extension."
  @spec from_path(Path.t()) :: String.t()
  def from_path(path) do
    case Path.extname(path) do
      "." <> ext -> type(downcase(ext, ""))
      _ -> "application/octet-stream"
    end
  end

  defp suffix(type) do
    case String.split(type, "+") do
      [_type, suffix] -> Map.get(@suffixes, suffix)
      _ -> nil
    end
  end

  defp strip_params(string), do: string |> :binary.split(";") |> hd()

  defp downcase(<<h, t::binary>>, acc) when h in ?A..?Z, do: downcase(t, <<acc::binary, h + 32>>)
  defp downcase(<<h, t::binary>>, acc), do: downcase(t, <<acc::binary, h>>)
  defp downcase(<<>>, acc), do: acc

  for {type, exts} <- Enum.sort(@types) do
    defp mime_to_ext(unquote(type)), do: unquote(exts)
  end

  defp mime_to_ext(_type), do: nil

  for {ext, type} <- Enum.sort(@ext_to_type) do
    defp ext_to_mime(unquote(ext)), do: unquote(type)
  end

  defp ext_to_mime(_ext), do: nil
end
`,
  );
}

const STATUSES: [number, string][] = [
  [100, "Continue"], [101, "Switching Protocols"], [102, "Processing"], [103, "Early Hints"],
  [200, "OK"], [201, "Created"], [202, "Accepted"], [203, "Non-Authoritative Information"], [204, "No Content"],
  [205, "Reset Content"], [206, "Partial Content"], [207, "Multi-Status"], [208, "Already Reported"], [226, "IM Used"],
  [300, "Multiple Choices"], [301, "Moved Permanently"], [302, "Found"], [303, "See Other"], [304, "Not Modified"],
  [305, "Use Proxy"], [307, "Temporary Redirect"], [308, "Permanent Redirect"],
  [400, "Bad Request"], [401, "Unauthorized"], [402, "Payment Required"], [403, "Forbidden"], [404, "Not Found"],
  [405, "Method Not Allowed"], [406, "Not Acceptable"], [407, "Proxy Authentication Required"], [408, "Request Timeout"],
  [409, "Conflict"], [410, "Gone"], [411, "Length Required"], [412, "Precondition Failed"], [413, "Content Too Large"],
  [414, "URI Too Long"], [415, "Unsupported Media Type"], [416, "Range Not Satisfiable"], [417, "Expectation Failed"],
  [421, "Misdirected Request"], [422, "Unprocessable Content"], [423, "Locked"], [424, "Failed Dependency"],
  [425, "Too Early"], [426, "Upgrade Required"], [428, "Precondition Required"], [429, "Too Many Requests"],
  [431, "Request Header Fields Too Large"], [451, "Unavailable For Legal Reasons"],
  [500, "Internal Server Error"], [501, "Not Implemented"], [502, "Bad Gateway"], [503, "Service Unavailable"],
  [504, "Gateway Timeout"], [505, "HTTP Version Not Supported"], [506, "Variant Also Negotiates"],
  [507, "Insufficient Storage"], [508, "Loop Detected"], [511, "Network Authentication Required"],
];

// Status codes and reason phrases, extended by `config :APP, :statuses`.
export function statusModule(name: string, app: string): ExModule {
  return mod(
    name,
    `defmodule ${name} do
  @moduledoc """
  HTTP status codes, their reason phrases and atoms. Custom statuses come from
  \`config :${app}, :statuses, %{code => phrase}\` at compile time.
  """

  @statuses %{
${STATUSES.map(([c, p]) => `    ${c} => "${p}"`).join(",\n")}
  }

  @custom Application.compile_env(:${app}, :statuses, %{})
  @all Enum.sort(Map.merge(@statuses, @custom))

  @atoms for {code, phrase} <- @all,
             do: {code, phrase |> String.downcase() |> String.replace(~r/[^a-z0-9]+/, "_") |> String.to_atom()}

  @doc "The code of a status atom or code."
  @spec code(integer() | atom()) :: integer()
  def code(integer_or_atom)

  for {code, _atom} <- @atoms do
    def code(unquote(code)), do: unquote(code)
  end

  for {code, atom} <- @atoms do
    def code(unquote(atom)), do: unquote(code)
  end

  def code(other), do: raise(ArgumentError, "unknown status #{inspect(other)}")

  @doc "The atom of a status code."
  @spec reason_atom(integer()) :: atom()
  for {code, atom} <- @atoms do
    def reason_atom(unquote(code)), do: unquote(atom)
  end

  def reason_atom(code), do: raise(ArgumentError, "unknown status code #{inspect(code)}")

  @doc "The reason phrase of a status code."
  @spec reason_phrase(integer()) :: String.t()
  for {code, phrase} <- @all do
    def reason_phrase(unquote(code)), do: unquote(phrase)
  end

  def reason_phrase(code), do: raise(ArgumentError, "unknown status code #{inspect(code)}")
end
`,
  );
}

export function jsonCore(J: string): ExModule[] {
  const main = mod(
    J,
    `defmodule ${J} do
  @moduledoc """
  A JSON library: \`encode!/2\` goes through the \`${J}.Encoder\` protocol, \`decode!/2\`
  through a binary-matching parser.
  """

  alias ${J}.{Decoder, EncodeError}

  @doc "Parses JSON."
  @spec decode(iodata(), keyword()) :: {:ok, term()} | {:error, Exception.t()}
  def decode(input, opts \\\\ []), do: Decoder.parse(IO.iodata_to_binary(input), opts)

  @doc "Parses JSON, raising on error."
  @spec decode!(iodata(), keyword()) :: term()
  def decode!(input, opts \\\\ []) do
    case decode(input, opts) do
      {:ok, value} -> value
      {:error, error} -> raise error
    end
  end

  @doc "Encodes a term."
  @spec encode(term(), keyword()) :: {:ok, String.t()} | {:error, Exception.t()}
  def encode(input, opts \\\\ []) do
    {:ok, encode!(input, opts)}
  rescue
    e in [EncodeError, Protocol.UndefinedError] -> {:error, e}
  end

  @doc "Encodes a term, raising on error."
  @spec encode!(term(), keyword()) :: String.t()
  def encode!(input, opts \\\\ []), do: IO.iodata_to_binary(encode_to_iodata!(input, opts))

  @doc "Encodes a term to iodata."
  @spec encode_to_iodata!(term(), keyword()) :: iodata()
  def encode_to_iodata!(input, opts \\\\ []), do: ${J}.Encoder.encode(input, opts)
end
`,
  );
  const decoder = mod(
    `${J}.Decoder`,
    `defmodule ${J}.Decoder do
  @moduledoc false

  alias ${J}.DecodeError

  def parse(data, opts) when is_binary(data) do
    keys = Keyword.get(opts, :keys, :strings)

    try do
      {value, rest} = value(skip_ws(data), keys)

      case skip_ws(rest) do
        "" -> {:ok, value}
        <<c, _::binary>> -> {:error, %DecodeError{message: "unexpected byte #{c}", reason: :trailing}}
      end
    catch
      {:gen_json_error, reason} -> {:error, %DecodeError{message: "invalid JSON: #{inspect(reason)}", reason: reason}}
    end
  end

  defp skip_ws(<<c, rest::binary>>) when c in ~c" \\t\\r\\n", do: skip_ws(rest)
  defp skip_ws(rest), do: rest

  defp value("null" <> rest, _keys), do: {nil, rest}
  defp value("true" <> rest, _keys), do: {true, rest}
  defp value("false" <> rest, _keys), do: {false, rest}
  defp value(<<?", rest::binary>>, _keys), do: string(rest, [])
  defp value(<<?[, rest::binary>>, keys), do: array(skip_ws(rest), keys, [])
  defp value(<<?{, rest::binary>>, keys), do: object(skip_ws(rest), keys, [])
  defp value(<<c, _::binary>> = data, _keys) when c in ~c"-0123456789", do: number(data, [])
  defp value(other, _keys), do: throw({:gen_json_error, {:unexpected, String.slice(other, 0, 10)}})

  defp string(<<?", rest::binary>>, acc), do: {acc |> Enum.reverse() |> IO.iodata_to_binary(), rest}
  defp string(<<?\\\\, e, rest::binary>>, acc), do: string(rest, [escape(e) | acc])
  defp string(<<c::utf8, rest::binary>>, acc), do: string(rest, [<<c::utf8>> | acc])
  defp string(_, _acc), do: throw({:gen_json_error, :unterminated_string})

  for {char, value} <- [{?", ?"}, {?\\\\, ?\\\\}, {?/, ?/}, {?b, ?\\b}, {?f, ?\\f}, {?n, ?\\n}, {?r, ?\\r}, {?t, ?\\t}] do
    defp escape(unquote(char)), do: unquote(value)
  end

  defp escape(other), do: throw({:gen_json_error, {:escape, other}})

  defp array(<<?], rest::binary>>, _keys, acc), do: {Enum.reverse(acc), rest}

  defp array(data, keys, acc) do
    {v, rest} = value(data, keys)

    case skip_ws(rest) do
      <<?,, rest::binary>> -> array(skip_ws(rest), keys, [v | acc])
      <<?], rest::binary>> -> {Enum.reverse([v | acc]), rest}
      _ -> throw({:gen_json_error, :array})
    end
  end

  defp object(<<?}, rest::binary>>, _keys, acc), do: {Map.new(acc), rest}

  defp object(<<?", rest::binary>>, keys, acc) do
    {key, rest} = string(rest, [])
    key = if keys == :atoms, do: String.to_atom(key), else: key

    case skip_ws(rest) do
      <<?:, rest::binary>> ->
        {v, rest} = value(skip_ws(rest), keys)

        case skip_ws(rest) do
          <<?,, rest::binary>> -> object(skip_ws(rest), keys, [{key, v} | acc])
          <<?}, rest::binary>> -> {Map.new([{key, v} | acc]), rest}
          _ -> throw({:gen_json_error, :object})
        end

      _ ->
        throw({:gen_json_error, :colon})
    end
  end

  defp object(_, _keys, _acc), do: throw({:gen_json_error, :object_key})

  defp number(<<c, rest::binary>>, acc) when c in ~c"-+0123456789.eE", do: number(rest, [c | acc])

  defp number(rest, acc) do
    text = acc |> Enum.reverse() |> List.to_string()

    value =
      case Integer.parse(text) do
        {int, ""} ->
          int

        _ ->
          case Float.parse(text) do
            {float, ""} -> float
            _ -> throw({:gen_json_error, {:number, text}})
          end
      end

    {value, rest}
  end
end
`,
  );
  const codegen = mod(
    `${J}.Codegen`,
    `defmodule ${J}.Codegen do
  @moduledoc false
  # Escape tables generated at compile time: one clause per byte.

  import Bitwise

  for byte <- 0..127 do
    escaped =
      case byte do
        ?" -> "\\\\\\""
        ?\\\\ -> "\\\\\\\\"
        ?\\n -> "\\\\n"
        ?\\r -> "\\\\r"
        ?\\t -> "\\\\t"
        b when b < 0x20 -> "\\\\u" <> String.pad_leading(Integer.to_string(b, 16), 4, "0")
        b -> <<b>>
      end

    def escape_byte(unquote(byte)), do: unquote(escaped)
  end

  def escape_byte(byte) when byte in 128..255, do: <<byte>>

  @doc false
  def escape(binary) when is_binary(binary) do
    for <<byte <- binary>>, into: "", do: escape_byte(byte)
  end

  for shift <- 0..15 do
    def mask(value, unquote(shift)), do: band(bsr(value, unquote(shift * 4)), 0xF)
  end
end
`,
  );
  return [main, decoder, codegen];
}

export function htmlCore(H: string): ExModule {
  return mod(
    H,
    `defmodule ${H} do
  @moduledoc """
  Safe HTML: values are escaped unless marked \`{:safe, iodata}\`.
  """

  @type safe :: {:safe, iodata}

  for {char, entity} <- [{?<, "&lt;"}, {?>, "&gt;"}, {?&, "&amp;"}, {?", "&quot;"}, {?', "&#39;"}] do
    defp escape_char(unquote(char)), do: unquote(entity)
  end

  defp escape_char(char), do: <<char>>

  @doc "Escapes a value for HTML."
  @spec html_escape(term()) :: safe()
  def html_escape({:safe, _} = safe), do: safe
  def html_escape(nil), do: {:safe, ""}
  def html_escape(binary) when is_binary(binary), do: {:safe, for(<<c <- binary>>, into: "", do: escape_char(c))}
  def html_escape(other), do: {:safe, ${H}.Safe.to_iodata(other, [])}

  @doc "Marks a value as safe."
  @spec raw(iodata() | safe() | nil) :: safe()
  def raw({:safe, value}), do: {:safe, value}
  def raw(nil), do: {:safe, ""}
  def raw(value) when is_binary(value) or is_list(value), do: {:safe, value}

  @doc "Converts a safe value to a string."
  @spec safe_to_string(safe()) :: String.t()
  def safe_to_string({:safe, iodata}), do: IO.iodata_to_binary(iodata)

  @doc "Builds a tag with escaped attributes."
  @spec content_tag(atom(), term(), keyword()) :: safe()
  def content_tag(name, content, attrs \\\\ []) when is_atom(name) do
    {:safe, attrs_iodata} = attributes(attrs)
    {:safe, inner} = html_escape(content)
    {:safe, [?<, Atom.to_string(name), attrs_iodata, ?>, inner, "</", Atom.to_string(name), ?>]}
  end

  defp attributes(attrs) do
    {:safe,
     for {key, value} <- attrs, value != nil and value != false do
       {:safe, escaped} = html_escape(if value == true, do: to_string(key), else: value)
       [?\\s, key |> to_string() |> String.replace("_", "-"), "=\\"", escaped, ?"]
     end}
  end
end
`,
  );
}

// Template embedding (like phoenix_template): files matched at compile time become
// functions, each file an @external_resource. The HTML engine exists only when the
// optional HTML package is loadable.
export function templateCore(T: string, H: string): ExModule[] {
  const main = mod(
    T,
    `defmodule ${T} do
  @moduledoc """
  Embeds templates as functions: \`embed_templates "pages/*"\` defines one function per
  file, named after the file, taking the assigns.
  """

  @engines %{"eex" => ${T}.EExEngine, "exs" => ${T}.ExsEngine}

  @doc "The engine for a template file, by its last extension."
  @spec engine_for(Path.t()) :: module()
  def engine_for(path) do
    ext = path |> Path.extname() |> String.trim_leading(".")

    cond do
      ext == "heex" and Code.ensure_loaded?(${T}.HTMLEngine) -> ${T}.HTMLEngine
      Map.has_key?(@engines, ext) -> Map.fetch!(@engines, ext)
      true -> raise ArgumentError, "no template engine for #{path}"
    end
  end

  @doc "Defines a function for each template matching \`pattern\` (relative to the caller)."
  defmacro embed_templates(pattern) do
    root = Path.dirname(__CALLER__.file)
    files = pattern |> Path.expand(root) |> Path.wildcard() |> Enum.sort()

    defs =
      for file <- files do
        name = file |> Path.basename() |> String.split(".") |> hd() |> String.to_atom()
        quoted = engine_for(file).compile(file, name)

        quote do
          @external_resource unquote(file)

          def unquote(name)(var!(assigns)) do
            _ = var!(assigns)
            unquote(quoted)
          end
        end
      end

    names = Enum.map(files, &Path.basename/1)

    quote do
      unquote(defs)

      @doc false
      def __templates__, do: unquote(names)
    end
  end
end
`,
  );
  const engine = mod(
    `${T}.Engine`,
    `defmodule ${T}.Engine do
  @moduledoc "Template engines compile a file to quoted code."
  @callback compile(path :: Path.t(), name :: atom) :: Macro.t()
end
`,
  );
  const eex = mod(
    `${T}.EExEngine`,
    `defmodule ${T}.EExEngine do
  @moduledoc false
  @behaviour ${T}.Engine

  @impl true
  def compile(path, _name), do: EEx.compile_file(path, engine: EEx.SmartEngine, line: 1, trim: true)
end
`,
  );
  const exs = mod(
    `${T}.ExsEngine`,
    `defmodule ${T}.ExsEngine do
  @moduledoc false
  @behaviour ${T}.Engine

  @impl true
  def compile(path, _name), do: path |> File.read!() |> Code.string_to_quoted!(file: path)
end
`,
  );
  const html = mod(
    `${T}.HTMLEngine`,
    `if Code.ensure_loaded?(${H}) do
  defmodule ${T}.HTMLEngine do
    @moduledoc false
    @behaviour ${T}.Engine

    @impl true
    def compile(path, _name) do
      compiled = EEx.compile_file(path, engine: EEx.SmartEngine, line: 1, trim: true)
      quote do: ${H}.raw(unquote(compiled))
    end
  end
end
`,
  );
  return [main, engine, eex, exs, html];
}

export function pubsubCore(PS: string): ExModule[] {
  const main = mod(
    PS,
    `defmodule ${PS} do
  @moduledoc """
  Publish/subscribe over a Registry, with an adapter that carries broadcasts to other
  nodes.
  """

  @doc false
  def child_spec(opts) do
    name = Keyword.fetch!(opts, :name)
    %{id: name, start: {${PS}.Supervisor, :start_link, [opts]}, type: :supervisor}
  end

  @doc "Subscribes the caller to \`topic\`."
  @spec subscribe(atom(), binary(), keyword()) :: :ok | {:error, term()}
  def subscribe(pubsub, topic, opts \\\\ []) when is_atom(pubsub) and is_binary(topic) do
    case Registry.register(pubsub, topic, opts[:metadata]) do
      {:ok, _} -> :ok
      {:error, _} = error -> error
    end
  end

  @doc "Unsubscribes the caller from \`topic\`."
  @spec unsubscribe(atom(), binary()) :: :ok
  def unsubscribe(pubsub, topic) when is_atom(pubsub) and is_binary(topic), do: Registry.unregister(pubsub, topic)

  @doc "Broadcasts to every subscriber on every node."
  @spec broadcast(atom(), binary(), term(), module()) :: :ok | {:error, term()}
  def broadcast(pubsub, topic, message, dispatcher \\\\ __MODULE__) when is_atom(pubsub) and is_binary(topic) do
    {:ok, {adapter, name}} = Registry.meta(pubsub, :pubsub)

    with :ok <- adapter.broadcast(name, topic, message, dispatcher) do
      dispatch(pubsub, :none, topic, message, dispatcher)
    end
  end

  @doc "Broadcasts to the subscribers on this node."
  @spec local_broadcast(atom(), binary(), term(), module()) :: :ok
  def local_broadcast(pubsub, topic, message, dispatcher \\\\ __MODULE__) when is_atom(pubsub) and is_binary(topic) do
    dispatch(pubsub, :none, topic, message, dispatcher)
  end

  @doc false
  def dispatch(entries, from, message) do
    Enum.each(entries, fn
      {pid, _} when pid == from -> :ok
      {pid, _} -> send(pid, message)
    end)
  end

  defp dispatch(pubsub, from, topic, message, dispatcher) do
    Registry.dispatch(pubsub, topic, {dispatcher, :dispatch, [from, message]})
    :ok
  end
end
`,
  );
  const adapter = mod(
    `${PS}.Adapter`,
    `defmodule ${PS}.Adapter do
  @moduledoc "Adapters carry broadcasts between nodes."
  @callback node_name(adapter_name :: atom) :: node()
  @callback broadcast(adapter_name :: atom, topic :: binary, message :: term, dispatcher :: module) :: :ok | {:error, term}
  @callback direct_broadcast(adapter_name :: atom, node :: node(), topic :: binary, message :: term, dispatcher :: module) ::
              :ok | {:error, term}
  @callback child_spec(keyword) :: Supervisor.child_spec()
end
`,
  );
  const pg = mod(
    `${PS}.PG`,
    `defmodule ${PS}.PG do
  @moduledoc "An adapter over Erlang's :pg process groups."
  @behaviour ${PS}.Adapter
  use GenServer

  @impl ${PS}.Adapter
  def node_name(_adapter_name), do: node()

  @impl ${PS}.Adapter
  def broadcast(adapter_name, topic, message, dispatcher) do
    for pid <- :pg.get_members(group(adapter_name)), node(pid) != node() do
      send(pid, {:forward, topic, message, dispatcher})
    end

    :ok
  end

  @impl ${PS}.Adapter
  def direct_broadcast(adapter_name, node_name, topic, message, dispatcher) do
    send({adapter_name, node_name}, {:forward, topic, message, dispatcher})
    :ok
  end

  @impl ${PS}.Adapter
  def child_spec(opts), do: %{id: __MODULE__, start: {__MODULE__, :start_link, [opts]}}

  def start_link(opts) do
    name = Keyword.fetch!(opts, :adapter_name)
    GenServer.start_link(__MODULE__, {name, Keyword.fetch!(opts, :name)}, name: name)
  end

  @impl GenServer
  def init({name, pubsub}) do
    :ok = :pg.join(group(name), self())
    {:ok, pubsub}
  end

  @impl GenServer
  def handle_info({:forward, topic, message, dispatcher}, pubsub) do
    ${PS}.local_broadcast(pubsub, topic, message, dispatcher)
    {:noreply, pubsub}
  end

  defp group(adapter_name), do: {__MODULE__, adapter_name}
end
`,
  );
  const sup = mod(
    `${PS}.Supervisor`,
    `defmodule ${PS}.Supervisor do
  @moduledoc false
  use Supervisor

  def start_link(opts) do
    name = Keyword.fetch!(opts, :name)
    Supervisor.start_link(__MODULE__, opts, name: Module.concat(name, "Supervisor"))
  end

  @impl true
  def init(opts) do
    name = Keyword.fetch!(opts, :name)
    adapter = Keyword.get(opts, :adapter, ${PS}.PG)
    adapter_name = Module.concat(name, "Adapter")

    children = [
      {Registry, keys: :duplicate, name: name, partitions: Keyword.get(opts, :pool_size, 1), meta: [pubsub: {adapter, adapter_name}]},
      {adapter, Keyword.merge(opts, adapter_name: adapter_name)}
    ]

    Supervisor.init(children, strategy: :rest_for_one)
  end
end
`,
  );
  return [main, adapter, pg, sup];
}

export function websockBehaviour(W: string): ExModule {
  return mod(
    W,
    `defmodule ${W} do
  @moduledoc """
  The WebSocket handler behaviour: servers call these callbacks for every frame and
  message.
  """

  @type state :: term()
  @type opcode :: :text | :binary
  @type message :: {binary(), opcode: opcode()}
  @type messages :: {opcode(), iodata()} | [{opcode(), iodata()}]
  @type handle_result ::
          {:push, messages(), state()}
          | {:reply, term(), messages(), state()}
          | {:ok, state()}
          | {:stop, term(), state()}

  @callback init(term()) :: handle_result()
  @callback handle_in(message(), state()) :: handle_result()
  @callback handle_info(term(), state()) :: handle_result()
  @callback handle_control(message(), state()) :: handle_result()
  @callback terminate(reason :: term(), state()) :: any()
  @optional_callbacks handle_control: 2, terminate: 2
end
`,
  );
}

// The adapter's server-specific module, compiled only when the server's websocket
// behaviour (an Erlang module of an optional dependency) is loadable.
export function websockAdapterOptional(WA: string, W: string, erlBehaviour: string, callbacks: string[]): ExModule {
  const name = `${WA}.CowboyAdapter`;
  return mod(
    name,
    `if Code.ensure_loaded?(:${erlBehaviour}) do
  defmodule ${name} do
    @moduledoc false
    @behaviour :${erlBehaviour}

${callbacks
  .map(
    (cb) => `    @impl true
    def ${cb}({handler, state}, opts) when is_atom(handler) and is_list(opts) do
      case handler.handle_info({:${cb}, opts}, state) do
        {:ok, state} -> {:ok, {handler, state}}
        {:push, messages, state} -> {:ok, {handler, state, List.wrap(messages)}}
        {:reply, _status, messages, state} -> {:ok, {handler, state, List.wrap(messages)}}
        {:stop, reason, state} -> {:error, {:stop, reason, {handler, state}}}
      end
    end

    def ${cb}(other, _opts), do: {:error, {:bad_state, other}}`,
  )
  .join("\n\n")}

    @doc false
    def handler_behaviour, do: ${W}
  end
end
`,
  );
}

export function websockAdapterCore(WA: string, P: string, W: string): ExModule {
  return mod(
    WA,
    `defmodule ${WA} do
  @moduledoc """
  Upgrades a connection to a WebSocket served by a \`${W}\` handler.
  """

  @doc "Validates the upgrade request and marks the connection for the upgrade."
  @spec upgrade(${P}.Conn.t(), module(), term(), keyword()) :: ${P}.Conn.t()
  def upgrade(%${P}.Conn{} = conn, websock, state, opts) when is_atom(websock) do
    case validate(conn) do
      :ok ->
        conn
        |> ${P}.Conn.put_private(:websock_upgrade, {websock, state, Keyword.validate!(opts, timeout: 60_000, compress: false, max_frame_size: :infinity)})
        |> ${P}.Conn.halt()

      {:error, reason} ->
        raise ${WA}.UpgradeError, message: reason
    end
  end

  @doc false
  def validate(conn) do
    cond do
      conn.method != "GET" -> {:error, "HTTP method #{conn.method} unsupported"}
      ${P}.Conn.get_req_header(conn, "upgrade") != ["websocket"] -> {:error, "'upgrade' header must be 'websocket'"}
      ${P}.Conn.get_req_header(conn, "sec-websocket-version") != ["13"] -> {:error, "'sec-websocket-version' header must be 13"}
      true -> :ok
    end
  end
end
`,
  );
}

// A fake CA bundle: PEM-shaped blocks of random base64 (no real certificates).
export function caBundle(r: Rng, blocks: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const out: string[] = [];
  for (let b = 0; b < blocks; b++) {
    out.push(`${syllables(r, 3)} ${r.int(1, 9)}`, "=".repeat(20), "-----BEGIN CERTIFICATE-----");
    for (let l = r.int(18, 30); l > 0; l--) {
      let line = "";
      for (let i = 0; i < 64; i++) line += alphabet[r.int(0, 63)];
      out.push(line);
    }
    out.push("-----END CERTIFICATE-----", "");
  }
  return out.join("\n");
}

export function castoreCore(C: string, app: string): ExModule {
  return mod(
    C,
    `defmodule ${C} do
  @moduledoc """
${wrap("A bundle of certificate authorities, as a file in priv/ and its path.", "  ")}
  """

  @doc "The path of the bundle."
  @spec file_path() :: Path.t()
  def file_path, do: Application.app_dir(:${app}, "priv/cacerts.pem")

  @doc "The number of certificates in the bundle."
  @spec count() :: non_neg_integer()
  def count do
    file_path()
    |> File.read!()
    |> String.split("-----BEGIN CERTIFICATE-----")
    |> length()
    |> Kernel.-(1)
  end
end
`,
  );
}
