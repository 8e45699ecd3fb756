// The plug-like core of the synthetic closure, written out in full: a connection struct, a
// behaviour, a pipeline builder and a router whose macros compile paths into function
// clauses at compile time (the compile-time work that dominates real web libraries).
// `P` is the package's module prefix (e.g. "GenPlug").
import type { ExModule } from "./elixir.ts";
import { modulePath } from "./elixir.ts";

const mod = (name: string, source: string): ExModule => ({ name, path: modulePath(name), source, callees: [] });

export function plugBehaviour(P: string): ExModule {
  return mod(
    P,
    `defmodule ${P} do
  @moduledoc """
  The specification for composable modules between web applications.

  A module plug implements \`init/1\`, called once (at compile time when the plug is
  part of a builder pipeline), and \`call/2\`, called on every request with the result.
  """

  @type opts :: binary | tuple | atom | integer | float | [opts] | %{optional(opts) => opts} | MapSet.t()

  @callback init(opts) :: opts
  @callback call(${P}.Conn.t(), opts) :: ${P}.Conn.t()

  @doc """
  Runs a list of plugs (\`{module, opts}\` or one-argument functions) in order, stopping at
  the first one that halts the connection.
  """
  @spec run(${P}.Conn.t(), [{module, opts} | (${P}.Conn.t() -> ${P}.Conn.t())], keyword()) :: ${P}.Conn.t()
  def run(conn, plugs, opts \\\\ [])

  def run(%${P}.Conn{halted: true} = conn, _plugs, _opts), do: conn

  def run(%${P}.Conn{} = conn, plugs, opts) do
    do_run(conn, plugs, Keyword.get(opts, :init, true))
  end

  defp do_run(conn, [], _init?), do: conn

  defp do_run(conn, [{mod, opts} | rest], init?) when is_atom(mod) do
    opts = if init?, do: mod.init(opts), else: opts

    case mod.call(conn, opts) do
      %${P}.Conn{halted: true} = conn -> conn
      %${P}.Conn{} = conn -> do_run(conn, rest, init?)
      other -> raise "expected #{inspect(mod)} to return ${P}.Conn, got: #{inspect(other)}"
    end
  end

  defp do_run(conn, [fun | rest], init?) when is_function(fun, 1) do
    case fun.(conn) do
      %${P}.Conn{halted: true} = conn -> conn
      %${P}.Conn{} = conn -> do_run(conn, rest, init?)
      other -> raise "expected #{inspect(fun)} to return ${P}.Conn, got: #{inspect(other)}"
    end
  end
end
`,
  );
}

export function plugConn(P: string): ExModule {
  return mod(
    `${P}.Conn`,
    `defmodule ${P}.Conn do
  @moduledoc """
  The connection: request fields, response fields and the assigns and private storage
  that plugs pass along.
  """

  @type t :: %__MODULE__{}

  defstruct adapter: {${P}.Conn.Unset, nil},
            assigns: %{},
            halted: false,
            host: "localhost",
            method: "GET",
            owner: nil,
            params: %{},
            path_params: %{},
            segments: [],
            port: 80,
            private: %{},
            query: "",
            req_headers: [],
            resp_body: nil,
            resp_headers: [{"cache-control", "max-age=0, private, must-revalidate"}],
            scheme: :http,
            state: :unset,
            status: nil,
            peer: nil

  @doc "Builds a connection for \`method\` and \`path\` (used by tests and adapters)."
  @spec new(String.t(), String.t(), keyword()) :: t()
  def new(method, path, opts \\\\ []) when is_binary(method) and is_binary(path) do
    {path, query} =
      case String.split(path, "?", parts: 2) do
        [path, query] -> {path, query}
        [path] -> {path, ""}
      end

    %__MODULE__{
      method: String.upcase(method),
      segments: String.split(path, "/", trim: true),
      query: query,
      host: Keyword.get(opts, :host, "localhost"),
      port: Keyword.get(opts, :port, 80),
      req_headers: Keyword.get(opts, :headers, []),
      owner: self()
    }
  end

  @spec assign(t(), atom(), term()) :: t()
  def assign(%__MODULE__{assigns: assigns} = conn, key, value) when is_atom(key) do
    %{conn | assigns: Map.put(assigns, key, value)}
  end

  @spec put_private(t(), atom(), term()) :: t()
  def put_private(%__MODULE__{private: private} = conn, key, value) when is_atom(key) do
    %{conn | private: Map.put(private, key, value)}
  end

  @spec put_status(t(), integer() | atom()) :: t()
  def put_status(%__MODULE__{} = conn, status) when is_integer(status), do: %{conn | status: status}
  def put_status(%__MODULE__{} = conn, status) when is_atom(status), do: %{conn | status: ${P}.Conn.Status.code(status)}

  @spec put_resp_header(t(), String.t(), String.t()) :: t()
  def put_resp_header(%__MODULE__{resp_headers: headers} = conn, key, value)
      when is_binary(key) and is_binary(value) do
    %{conn | resp_headers: List.keystore(headers, key, 0, {key, value})}
  end

  @spec put_resp_content_type(t(), String.t()) :: t()
  def put_resp_content_type(conn, type), do: put_resp_header(conn, "content-type", type <> "; charset=utf-8")

  @spec get_req_header(t(), String.t()) :: [String.t()]
  def get_req_header(%__MODULE__{req_headers: headers}, key) when is_binary(key) do
    for {^key, value} <- headers, do: value
  end

  @spec send_resp(t(), integer() | atom(), iodata()) :: t()
  def send_resp(%__MODULE__{state: :sent}, _status, _body), do: raise(${P}.Conn.AlreadySentError)

  def send_resp(%__MODULE__{} = conn, status, body) do
    conn = put_status(conn, status)
    %{conn | resp_body: IO.iodata_to_binary(body), state: :sent}
  end

  @spec halt(t()) :: t()
  def halt(%__MODULE__{} = conn), do: %{conn | halted: true}

  @spec merge_path_params(t(), map()) :: t()
  def merge_path_params(%__MODULE__{path_params: path_params, params: params} = conn, new) do
    %{conn | path_params: Map.merge(path_params, new), params: Map.merge(params, new)}
  end

  @spec fetch_query_params(t(), keyword()) :: t()
  def fetch_query_params(%__MODULE__{query: query, params: params} = conn, _opts \\\\ []) do
    %{conn | params: Map.merge(URI.decode_query(query), params)}
  end

  @spec request_path(t()) :: String.t()
  def request_path(%__MODULE__{segments: segments}), do: "/" <> Enum.join(segments, "/")
end
`,
  );
}

export function plugBuilder(P: string): ExModule {
  return mod(
    `${P}.Builder`,
    `defmodule ${P}.Builder do
  @moduledoc """
  Compiles a pipeline of plugs into nested case expressions at compile time. Module plugs
  are initialized while the pipeline is compiled; function plugs are local calls.
  """

  @type plug :: module | atom

  @doc false
  defmacro __using__(opts) do
    quote do
      @behaviour ${P}
      @plug_builder_opts unquote(opts)

      @impl true
      def init(opts), do: opts

      @impl true
      def call(conn, opts), do: plug_builder_call(conn, opts)

      defoverridable init: 1, call: 2

      import ${P}.Conn
      import ${P}.Builder, only: [plug: 1, plug: 2]

      Module.register_attribute(__MODULE__, :plugs, accumulate: true)
      @before_compile ${P}.Builder
    end
  end

  @doc false
  defmacro __before_compile__(env) do
    plugs = Module.get_attribute(env.module, :plugs)
    builder_opts = Module.get_attribute(env.module, :plug_builder_opts)
    {conn, body} = ${P}.Builder.compile(env, plugs, builder_opts)

    quote do
      defp plug_builder_call(unquote(conn), opts) do
        _ = opts
        unquote(body)
      end
    end
  end

  @doc "Adds a plug to the pipeline."
  defmacro plug(plug, opts \\\\ []) do
    plug = Macro.expand(plug, %{__CALLER__ | function: {:init, 1}})

    quote do
      @plugs {unquote(plug), unquote(opts), true}
    end
  end

  @doc """
  Compiles a pipeline (last plug first, as an accumulated attribute holds it) into the
  variable the body expects and the body.
  """
  @spec compile(Macro.Env.t(), [{plug, term, term}], keyword()) :: {Macro.t(), Macro.t()}
  def compile(_env, pipeline, builder_opts) do
    conn = quote do: conn
    init_mode = Keyword.get(builder_opts, :init_mode, :compile)

    body =
      Enum.reduce(pipeline, conn, fn {plug, opts, _guards}, acc ->
        {plug, opts}
        |> init_plug(init_mode)
        |> quote_plug(acc)
      end)

    {conn, body}
  end

  defp init_plug({plug, opts}, init_mode) do
    case Atom.to_charlist(plug) do
      ~c"Elixir." ++ _ -> init_module_plug(plug, opts, init_mode)
      _ -> {:function, plug, Macro.escape(opts)}
    end
  end

  defp init_module_plug(plug, opts, :compile) do
    initialized = plug.init(opts)
    {:module, plug, Macro.escape(initialized)}
  end

  defp init_module_plug(plug, opts, :runtime) do
    {:module, plug, quote(do: unquote(plug).init(unquote(Macro.escape(opts))))}
  end

  defp quote_plug({:module, plug, opts}, acc) do
    call = quote do: unquote(plug).call(conn, unquote(opts))
    wrap(call, plug, acc)
  end

  defp quote_plug({:function, plug, opts}, acc) do
    call = {plug, [], [quote(do: conn), opts]}
    wrap(call, plug, acc)
  end

  defp wrap(call, plug, acc) do
    quote do
      case unquote(call) do
        %${P}.Conn{halted: true} = conn ->
          conn

        %${P}.Conn{} = conn ->
          unquote(acc)

        other ->
          raise "expected #{unquote(inspect(plug))} to return a ${P}.Conn, got: #{inspect(other)}"
      end
    end
  end
end
`,
  );
}

export function plugRouterUtils(P: string): ExModule {
  return mod(
    `${P}.Router.Utils`,
    `defmodule ${P}.Router.Utils do
  @moduledoc """
  Turns route paths into match patterns at compile time: \`:name\` segments bind variables,
  a final \`*name\` segment binds the rest of the path.
  """

  @doc "Splits a path into segments."
  @spec split(String.t()) :: [String.t()]
  def split(path) when is_binary(path), do: String.split(path, "/", trim: true)

  @doc """
  Returns \`{params, match}\`: the names of the variables the pattern binds (in the
  context \`${P}.Router\`) and the list pattern.
  """
  @spec build_path_match(String.t()) :: {[atom()], Macro.t()}
  def build_path_match(path) when is_binary(path) do
    path
    |> split()
    |> Enum.reverse()
    |> Enum.reduce({[], []}, fn
      "*" <> name, {params, []} ->
        var = String.to_atom(name)
        {[var | params], Macro.var(var, ${P}.Router)}

      "*" <> _name, _acc ->
        raise ArgumentError, "a glob must be the last segment of #{inspect(path)}"

      ":" <> name, {params, match} ->
        var = String.to_atom(name)
        {[var | params], prepend(Macro.var(var, ${P}.Router), match)}

      segment, {params, match} ->
        {params, prepend(segment, match)}
    end)
  end

  defp prepend(item, match) when is_list(match), do: [item | match]
  defp prepend(item, tail), do: [{:|, [], [item, tail]}]

  @doc "The map of path parameters a pattern from build_path_match/1 binds."
  @spec params_map([atom()]) :: Macro.t()
  def params_map(params) do
    {:%{}, [], Enum.map(params, &{Atom.to_string(&1), Macro.var(&1, ${P}.Router)})}
  end
end
`,
  );
}

export function plugRouter(P: string): ExModule {
  return mod(
    `${P}.Router`,
    `defmodule ${P}.Router do
  @moduledoc """
  A router: \`get\`, \`post\` and friends compile each route into a clause of a private
  match function. Use \`plug :match\` and \`plug :dispatch\` in the pipeline.
  """

  @doc false
  defmacro __using__(opts) do
    quote location: :keep do
      import ${P}.Router
      use ${P}.Builder, unquote(opts)
      @before_compile ${P}.Router

      @doc false
      def match(conn, _opts), do: do_match(conn, conn.method, conn.segments)

      @doc false
      def dispatch(%${P}.Conn{private: %{${P.toLowerCase()}_route: {_path, fun}}} = conn, opts), do: fun.(conn, opts)
      def dispatch(conn, _opts), do: ${P}.Conn.send_resp(conn, 404, "not found")

      defoverridable match: 2, dispatch: 2
    end
  end

  @doc false
  defmacro __before_compile__(_env) do
    quote do
      defp do_match(conn, _method, _segments) do
        ${P}.Conn.put_private(conn, :${P.toLowerCase()}_route, {"*", fn conn, _opts -> ${P}.Conn.send_resp(conn, 404, "not found") end})
      end
    end
  end

  for verb <- [:get, :post, :put, :patch, :delete, :options, :head] do
    method = verb |> Atom.to_string() |> String.upcase()

    @doc "Dispatches to the path only if the request is a #{method} request."
    defmacro unquote(verb)(path, options, contents \\\\ []) do
      compile(unquote(method), path, options, contents)
    end
  end

  # Not \`match\`: the router's own \`match/2\` plug is a local call in the pipeline, and an
  # imported macro of the same name and arity would take its place.
  @doc "Dispatches to the path whatever the method."
  defmacro any(path, options, contents \\\\ []) do
    compile(nil, path, options, contents)
  end

  @doc false
  def compile(method, path, options, contents) do
    body =
      cond do
        Keyword.has_key?(contents, :do) ->
          contents[:do]

        Keyword.has_key?(options, :do) ->
          options[:do]

        Keyword.has_key?(options, :to) ->
          to = options[:to]
          init_opts = Keyword.get(options, :init_opts, [])

          quote do
            unquote(to).call(var!(conn), unquote(to).init(unquote(init_opts)))
          end

        true ->
          raise ArgumentError, "expected :do or :to in the route for #{inspect(path)}"
      end

    {params, match} = ${P}.Router.Utils.build_path_match(path)
    params_map = ${P}.Router.Utils.params_map(params)
    method_match = method || Macro.var(:_method, nil)

    quote do
      defp do_match(conn, unquote(method_match), unquote(match)) do
        conn = ${P}.Conn.merge_path_params(conn, unquote(params_map))

        ${P}.Conn.put_private(
          conn,
          :${P.toLowerCase()}_route,
          {unquote(path), fn var!(conn), _opts -> unquote(body) end}
        )
      end
    end
  end
end
`,
  );
}

// A module plug with compile-time option checking: init/1 validates and normalizes once,
// call/2 pattern-matches the connection.
export function plugModule(P: string, name: string, key: string, header: string, status: number): ExModule {
  return mod(
    name,
    `defmodule ${name} do
  @moduledoc """
  Sets the \`${header}\` response header from the \`:${key}\` option, or halts with
  ${status} when the request carries a conflicting \`${header}\` header.
  """
  @behaviour ${P}

  import ${P}.Conn

  @impl true
  def init(opts) do
    opts = Keyword.validate!(opts, [${key}: "${key}-default", strict: false, halt_status: ${status}])

    %{
      value: opts |> Keyword.fetch!(:${key}) |> to_string(),
      strict: Keyword.fetch!(opts, :strict),
      status: Keyword.fetch!(opts, :halt_status)
    }
  end

  @impl true
  def call(%${P}.Conn{} = conn, %{value: value, strict: strict, status: status}) do
    case get_req_header(conn, "${header}") do
      [] ->
        put_resp_header(conn, "${header}", value)

      [^value | _] ->
        conn

      [_other | _] when strict ->
        conn |> send_resp(status, "conflicting ${header}") |> halt()

      [_other | _] ->
        put_resp_header(conn, "${header}", value)
    end
  end
end
`,
  );
}

// A pipeline built with the builder: function plugs defined here and module plugs given.
export function builderUser(P: string, name: string, modulePlugs: { module: string; key: string }[], functionPlugs: string[]): ExModule {
  const plugs = [
    ...functionPlugs.map((f) => `  plug :${f}`),
    ...modulePlugs.map((m, i) => `  plug ${m.module}, ${m.key}: "${name.split(".").pop()!.toLowerCase()}-${i}", strict: ${i % 2 === 0}`),
  ];
  const fns = functionPlugs.map(
    (f, i) => `  defp ${f}(conn, opts) do
    conn
    |> assign(:${f}, Keyword.get(opts, :value, ${i}))
    |> put_private(:${f}_at, System.monotonic_time())
  end`,
  );
  return mod(
    name,
    `defmodule ${name} do
  @moduledoc false
  use ${P}.Builder

${plugs.join("\n")}

${fns.join("\n\n")}
end
`,
  );
}

// A router with literal, parameterized and glob routes.
export function routerUser(P: string, name: string, routes: { method: string; path: string; to?: string }[]): ExModule {
  const lines = routes.map((rt) => {
    const verb = rt.method.toLowerCase();
    if (rt.to !== undefined) return `  ${verb} "${rt.path}", to: ${rt.to}, init_opts: [${rt.path.length % 3 === 0 ? "strict: true" : ""}]`;
    const params = [...rt.path.matchAll(/[:*]([a-z_]+)/g)].map((m) => m[1]);
    return `  ${verb} "${rt.path}" do
    conn
    |> assign(:route, ${JSON.stringify(rt.path)})
    |> send_resp(200, "${rt.method} ${rt.path} #{inspect(conn.path_params)}${params.length > 0 ? ` ${params.join(",")}` : ""}")
  end`;
  });
  return mod(
    name,
    `defmodule ${name} do
  @moduledoc false
  use ${P}.Router

  plug :match
  plug :dispatch

${lines.join("\n\n")}
end
`,
  );
}
