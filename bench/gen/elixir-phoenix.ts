// The phoenix-like framework of the synthetic closure, written out in full: a router with
// pipelines, scopes and resources that generates match clauses and a path-helpers module at
// compile time, controllers, an endpoint, sockets and channels. `X` is the framework prefix
// (e.g. "GenPhoenix"), `P` the plug-like package's prefix, `PS` the pubsub's.
import type { ExModule } from "./elixir.ts";
import { modulePath } from "./elixir.ts";

const mod = (name: string, source: string): ExModule => ({ name, path: modulePath(name), source, callees: [] });

export function phxRoute(X: string, P: string): ExModule {
  return mod(
    `${X}.Router.Route`,
    `defmodule ${X}.Router.Route do
  @moduledoc """
  One route of a router, and the compile-time functions that turn routes into match
  clauses and path helpers.
  """

  defstruct [:method, :path, :controller, :action, :pipe_through, :helper]

  @type t :: %__MODULE__{}

  @resource_actions %{
    index: {"GET", ""},
    new: {"GET", "/new"},
    create: {"POST", ""},
    show: {"GET", "/:id"},
    edit: {"GET", "/:id/edit"},
    update: {"PUT", "/:id"},
    delete: {"DELETE", "/:id"}
  }

  @doc "Builds a route from the scope stack (innermost first)."
  @spec build(list(), [atom()], String.t(), String.t(), module(), atom(), keyword()) :: t()
  def build(scopes, pipe_through, method, path, controller, action, opts) do
    scopes = Enum.reverse(scopes)
    prefix = Enum.map_join(scopes, "", fn {scope_path, _alias} -> scope_path end)
    aliases = for {_path, scope_alias} <- scopes, scope_alias != nil, do: scope_alias
    controller = Module.concat(aliases ++ [controller])

    %__MODULE__{
      method: method,
      path: normalize(prefix <> "/" <> path),
      controller: controller,
      action: action,
      pipe_through: pipe_through,
      helper: Keyword.get_lazy(opts, :as, fn -> helper_name(controller) end)
    }
  end

  defp normalize(path) do
    case String.split(path, "/", trim: true) do
      [] -> "/"
      segments -> "/" <> Enum.join(segments, "/")
    end
  end

  @doc "The helper name of a controller: MyApp.UserController -> \\"user\\"."
  @spec helper_name(module()) :: String.t()
  def helper_name(controller) do
    controller
    |> Module.split()
    |> List.last()
    |> String.replace_suffix("Controller", "")
    |> Macro.underscore()
  end

  @doc "The method and path suffix of a resource action."
  @spec resource_action(atom(), String.t()) :: {String.t(), String.t()}
  def resource_action(action, param) do
    {method, suffix} = Map.fetch!(@resource_actions, action)
    {method, String.replace(suffix, ":id", ":" <> param)}
  end

  @doc false
  def match_clause(%__MODULE__{} = route) do
    {params, match} = ${P}.Router.Utils.build_path_match(route.path)
    params_map = ${P}.Router.Utils.params_map(params)

    quote do
      def __match_route__(unquote(route.method), unquote(match)) do
        {:ok, unquote(route.pipe_through), unquote(route.controller), unquote(route.action),
         unquote(params_map)}
      end
    end
  end

  @doc false
  def helper_clause(%__MODULE__{} = route) do
    segments = ${P}.Router.Utils.split(route.path)

    vars =
      for segment <- segments, String.starts_with?(segment, [":", "*"]) do
        segment |> binary_part(1, byte_size(segment) - 1) |> String.to_atom() |> Macro.var(__MODULE__)
      end

    parts =
      Enum.map(segments, fn
        ":" <> name -> quote(do: ${X}.Param.to_param(unquote(Macro.var(String.to_atom(name), __MODULE__)), []))
        "*" <> name -> quote(do: Enum.join(unquote(Macro.var(String.to_atom(name), __MODULE__)), "/"))
        literal -> literal
      end)

    name = String.to_atom(route.helper <> "_path")

    body =
      case parts do
        [] -> "/"
        _ -> quote(do: "/" <> Enum.join(unquote(parts), "/"))
      end

    {{name, route.action, length(vars)},
     quote do
       def unquote(name)(_conn_or_endpoint, unquote(route.action), unquote_splicing(vars)) do
         unquote(body)
       end
     end}
  end
end
`,
  );
}

export function phxRouter(X: string, P: string): ExModule {
  return mod(
    `${X}.Router`,
    `defmodule ${X}.Router do
  @moduledoc """
  Routes with pipelines and scopes. Every route becomes a clause of \`__match_route__/2\`
  and a clause of a path helper in the \`Helpers\` module the router defines.
  """

  alias ${X}.Router.Route

  @doc false
  defmacro __using__(opts) do
    quote do
      @behaviour ${P}
      import ${X}.Router
      Module.register_attribute(__MODULE__, :gen_phx_routes, accumulate: true)
      @gen_phx_scopes []
      @gen_phx_pipe_through []
      @gen_phx_pipe_stack []
      @gen_phx_pipeline nil
      @gen_phx_pipelines %{}
      @gen_phx_router_opts unquote(opts)
      @before_compile ${X}.Router

      @impl true
      def init(opts), do: opts

      @impl true
      def call(conn, _opts) do
        case __match_route__(conn.method, conn.segments) do
          {:ok, pipes, controller, action, params} ->
            conn = ${P}.Conn.merge_path_params(conn, params)

            conn =
              Enum.reduce_while(pipes, conn, fn pipe, conn ->
                case apply(__MODULE__, pipe, [conn, []]) do
                  %${P}.Conn{halted: true} = conn -> {:halt, conn}
                  conn -> {:cont, conn}
                end
              end)

            if conn.halted, do: conn, else: controller.call(conn, controller.init(action))

          :error ->
            ${P}.Conn.send_resp(conn, 404, "no route for #{conn.method} #{${P}.Conn.request_path(conn)}")
        end
      end
    end
  end

  @doc false
  defmacro __before_compile__(env) do
    routes = env.module |> Module.get_attribute(:gen_phx_routes) |> Enum.reverse()
    opts = Module.get_attribute(env.module, :gen_phx_router_opts)
    matches = Enum.map(routes, &Route.match_clause/1)

    if Keyword.get(opts, :helpers, true) do
      helpers =
        routes
        |> Enum.map(&Route.helper_clause/1)
        |> Enum.uniq_by(fn {key, _} -> key end)
        |> Enum.map(fn {_, clause} -> clause end)

      Module.create(Module.concat(env.module, Helpers), [quote(do: @moduledoc(false)) | helpers], Macro.Env.location(env))
    end

    quote do
      @doc false
      def __routes__, do: unquote(Macro.escape(routes))

      unquote(matches)

      def __match_route__(_method, _segments), do: :error
    end
  end

  @doc "Defines a pipeline of plugs, callable as a function plug named \`name\`."
  defmacro pipeline(name, do: block) when is_atom(name) do
    compiler =
      quote bind_quoted: [name: name] do
        {conn, body} = ${P}.Builder.compile(__ENV__, @gen_phx_pipeline, [])

        def unquote(name)(unquote(conn), _) do
          unquote(body)
        end

        @gen_phx_pipeline nil
        @gen_phx_pipelines Map.put(@gen_phx_pipelines, name, true)
      end

    quote do
      @gen_phx_pipeline []
      unquote(block)
      unquote(compiler)
    end
  end

  @doc "Adds a plug to the pipeline being defined."
  defmacro plug(plug, opts \\\\ []) do
    plug = Macro.expand(plug, %{__CALLER__ | function: {:init, 1}})

    quote do
      if pipeline = @gen_phx_pipeline do
        @gen_phx_pipeline [{unquote(plug), unquote(opts), true} | pipeline]
      else
        raise "plug must be inside a pipeline"
      end
    end
  end

  @doc "Runs the given pipelines before the routes of the current scope."
  defmacro pipe_through(pipes) do
    quote do
      for pipe <- List.wrap(unquote(pipes)) do
        Map.has_key?(@gen_phx_pipelines, pipe) || raise ArgumentError, "unknown pipeline #{inspect(pipe)}"
      end

      @gen_phx_pipe_through @gen_phx_pipe_through ++ List.wrap(unquote(pipes))
    end
  end

  @doc "Scopes routes under a path and an alias."
  defmacro scope(path, alias, do: block) do
    alias = Macro.expand(alias, __CALLER__)

    quote do
      @gen_phx_scopes [{unquote(path), unquote(alias)} | @gen_phx_scopes]
      @gen_phx_pipe_stack [@gen_phx_pipe_through | @gen_phx_pipe_stack]
      unquote(block)
      @gen_phx_pipe_through hd(@gen_phx_pipe_stack)
      @gen_phx_pipe_stack tl(@gen_phx_pipe_stack)
      @gen_phx_scopes tl(@gen_phx_scopes)
    end
  end

  for verb <- [:get, :post, :put, :patch, :delete, :options, :head] do
    method = verb |> Atom.to_string() |> String.upcase()

    @doc "A #{method} route to a controller action."
    defmacro unquote(verb)(path, controller, action, opts \\\\ []) do
      add_route(unquote(method), path, controller, action, opts)
    end
  end

  defp add_route(method, path, controller, action, opts) do
    quote do
      @gen_phx_routes Route.build(
                        @gen_phx_scopes,
                        @gen_phx_pipe_through,
                        unquote(method),
                        unquote(path),
                        unquote(controller),
                        unquote(action),
                        unquote(opts)
                      )
    end
  end

  @doc "The seven routes of a resource (or those given in \`:only\`)."
  defmacro resources(path, controller, opts \\\\ []) do
    quote bind_quoted: [path: path, controller: controller, opts: opts] do
      param = Keyword.get(opts, :param, "id")

      for action <- Keyword.get(opts, :only, [:index, :new, :create, :show, :edit, :update, :delete]) do
        {method, suffix} = Route.resource_action(action, param)

        @gen_phx_routes Route.build(@gen_phx_scopes, @gen_phx_pipe_through, method, path <> suffix, controller, action, [])
      end
    end
  end
end
`,
  );
}

export function phxController(X: string, P: string): ExModule {
  return mod(
    `${X}.Controller`,
    `defmodule ${X}.Controller do
  @moduledoc """
  Controllers: \`use ${X}.Controller\` makes a module a plug whose pipeline ends with the
  action named by the router.
  """

  import ${P}.Conn

  @doc false
  defmacro __using__(opts) do
    quote bind_quoted: [opts: opts] do
      import ${P}.Conn
      import ${X}.Controller
      import ${P}.Builder, only: [plug: 1, plug: 2]

      @behaviour ${P}
      @gen_phx_controller_opts opts
      Module.register_attribute(__MODULE__, :plugs, accumulate: true)
      @before_compile ${X}.Controller

      @impl true
      def init(action) when is_atom(action), do: action

      @impl true
      def call(conn, action) do
        conn
        |> put_private(:gen_phx_action, action)
        |> put_private(:gen_phx_controller, __MODULE__)
        |> put_private(:gen_phx_layout, Keyword.get(@gen_phx_controller_opts, :layout, false))
        |> gen_phx_pipeline(action)
      end

      @doc false
      def action(%${P}.Conn{private: %{gen_phx_action: action}} = conn, _opts) do
        apply(__MODULE__, action, [conn, conn.params])
      end

      defoverridable action: 2
    end
  end

  @doc false
  defmacro __before_compile__(env) do
    plugs = [{:action, [], true} | Module.get_attribute(env.module, :plugs)]
    {conn, body} = ${P}.Builder.compile(env, plugs, [])

    quote do
      defp gen_phx_pipeline(unquote(conn), action) do
        _ = action
        unquote(body)
      end
    end
  end

  @doc "The action name of the current request."
  def action_name(conn), do: conn.private.gen_phx_action

  @doc "The controller module of the current request."
  def controller_module(conn), do: conn.private.gen_phx_controller

  @doc "Sends text."
  def text(conn, data), do: conn |> put_resp_content_type("text/plain") |> send_resp(conn.status || 200, to_string(data))

  @doc "Sends HTML."
  def html(conn, data), do: conn |> put_resp_content_type("text/html") |> send_resp(conn.status || 200, data)

  @doc "Encodes \`data\` with the configured JSON library and sends it."
  def json(conn, data) do
    library = Application.get_env(:gen_phoenix, :json_library, ${X}.Json)
    conn |> put_resp_content_type("application/json") |> send_resp(conn.status || 200, library.encode_to_iodata!(data))
  end

  @doc "Redirects to a local path or an external URL."
  def redirect(conn, opts) when is_list(opts) do
    url =
      case {Keyword.fetch(opts, :to), Keyword.fetch(opts, :external)} do
        {{:ok, "/" <> _ = to}, :error} -> to
        {{:ok, to}, :error} -> raise ArgumentError, "the :to option must be a local path, got: #{inspect(to)}"
        {:error, {:ok, url}} -> url
        _ -> raise ArgumentError, "expected :to or :external"
      end

    conn
    |> put_resp_header("location", url)
    |> send_resp(conn.status || 302, "<html><body>You are being <a href=\\"#{url}\\">redirected</a>.</body></html>")
  end

  @doc "Renders \`template\` of the view module with the assigns."
  def render(conn, view, template, assigns \\\\ []) do
    assigns = Map.merge(conn.assigns, Map.new(assigns))
    html(conn, view.render(template, assigns))
  end
end
`,
  );
}

export function phxEndpoint(X: string, P: string): ExModule[] {
  const endpoint = mod(
    `${X}.Endpoint`,
    `defmodule ${X}.Endpoint do
  @moduledoc """
  The endpoint: the plug pipeline every request goes through, the application
  configuration and the sockets.
  """

  @callback config(atom, term) :: term
  @callback url() :: String.t()
  @callback static_path(String.t()) :: String.t()

  @doc false
  defmacro __using__(opts) do
    quote do
      @behaviour ${X}.Endpoint
      unquote(config(opts))
      unquote(plug())
      unquote(server())
      Module.register_attribute(__MODULE__, :gen_phx_sockets, accumulate: true)
      @before_compile ${X}.Endpoint
    end
  end

  defp config(opts) do
    quote do
      @otp_app unquote(opts)[:otp_app] || raise("the endpoint expects :otp_app")

      @impl true
      def config(key, default \\\\ nil), do: ${X}.Endpoint.Config.get(@otp_app, __MODULE__, key, default)

      @impl true
      def url, do: ${X}.Endpoint.Config.url(config(:url, []))

      @impl true
      def static_path(path), do: config(:static_url_path, "") <> path

      def host, do: Keyword.get(config(:url, []), :host, "localhost")
    end
  end

  defp plug do
    quote location: :keep do
      use ${P}.Builder
      import ${X}.Endpoint

      plug :socket_dispatch

      @doc false
      def socket_dispatch(conn, _opts), do: do_socket_dispatch(conn.segments, conn)
    end
  end

  defp server do
    quote location: :keep do
      @doc false
      def child_spec(opts) do
        %{id: __MODULE__, start: {__MODULE__, :start_link, [opts]}, type: :supervisor}
      end

      @doc "Starts the endpoint supervision tree."
      def start_link(opts \\\\ []) do
        ${X}.Endpoint.Supervisor.start_link(@otp_app, __MODULE__, opts)
      end
    end
  end

  @doc "Mounts a socket at \`path\`."
  defmacro socket(path, module, opts \\\\ []) do
    module = Macro.expand(module, %{__CALLER__ | function: {:__sockets__, 0}})

    quote do
      @gen_phx_sockets {unquote(path), unquote(module), unquote(opts)}
    end
  end

  @doc false
  defmacro __before_compile__(env) do
    sockets = env.module |> Module.get_attribute(:gen_phx_sockets) |> Enum.reverse()

    dispatches =
      for {path, socket, opts} <- sockets do
        {[], match} = ${P}.Router.Utils.build_path_match(path <> "/websocket")

        quote do
          defp do_socket_dispatch(unquote(match), conn) do
            ${X}.Socket.Transport.upgrade(conn, unquote(socket), unquote(Macro.escape(opts)))
          end
        end
      end

    quote do
      unquote(dispatches)
      defp do_socket_dispatch(_segments, conn), do: conn

      @doc false
      def __sockets__, do: unquote(Macro.escape(sockets))
    end
  end
end
`,
  );
  const config = mod(
    `${X}.Endpoint.Config`,
    `defmodule ${X}.Endpoint.Config do
  @moduledoc false

  @doc "Reads an endpoint's configuration (cached in persistent_term)."
  def get(otp_app, endpoint, key, default) do
    config =
      case :persistent_term.get({__MODULE__, endpoint}, nil) do
        nil ->
          config = Application.get_env(otp_app, endpoint, [])
          :persistent_term.put({__MODULE__, endpoint}, config)
          config

        config ->
          config
      end

    Keyword.get(config, key, default)
  end

  @doc "Builds the base URL from the :url configuration."
  def url(opts) do
    scheme = Keyword.get(opts, :scheme, "http")
    host = Keyword.get(opts, :host, "localhost")

    case {scheme, Keyword.get(opts, :port)} do
      {"http", port} when port in [nil, 80] -> "http://" <> host
      {"https", port} when port in [nil, 443] -> "https://" <> host
      {scheme, port} -> "#{scheme}://#{host}:#{port}"
    end
  end
end
`,
  );
  const sup = mod(
    `${X}.Endpoint.Supervisor`,
    `defmodule ${X}.Endpoint.Supervisor do
  @moduledoc false
  use Supervisor

  def start_link(otp_app, endpoint, opts) do
    Supervisor.start_link(__MODULE__, {otp_app, endpoint, opts}, name: endpoint)
  end

  @impl true
  def init({otp_app, endpoint, opts}) do
    config = Keyword.merge(Application.get_env(otp_app, endpoint, []), opts)

    children =
      for {_path, socket, socket_opts} <- endpoint.__sockets__(),
          Keyword.get(socket_opts, :websocket, true) != false do
        Supervisor.child_spec({Task, fn -> :ok end}, id: {socket, Keyword.get(config, :url, [])})
      end

    Supervisor.init(children, strategy: :one_for_one)
  end
end
`,
  );
  return [endpoint, config, sup];
}

export function phxSocket(X: string, P: string, PS: string): ExModule[] {
  const socket = mod(
    `${X}.Socket`,
    `defmodule ${X}.Socket do
  @moduledoc """
  Sockets multiplex channels over one connection; \`channel\` routes topics to channel
  modules at compile time.
  """

  @callback connect(map, t) :: {:ok, t} | :error
  @callback id(t) :: String.t() | nil

  defstruct assigns: %{}, channel: nil, endpoint: nil, id: nil, joined: false, pubsub_server: nil, topic: nil, transport: nil

  @type t :: %__MODULE__{}

  @doc false
  defmacro __using__(opts) do
    quote do
      @behaviour ${X}.Socket
      import ${X}.Socket
      Module.register_attribute(__MODULE__, :gen_phx_channels, accumulate: true)
      @gen_phx_socket_options unquote(opts)
      @before_compile ${X}.Socket

      @impl true
      def id(_socket), do: nil

      defoverridable id: 1
    end
  end

  @doc "Routes topics matching \`topic_pattern\` (a trailing * matches any suffix) to \`module\`."
  defmacro channel(topic_pattern, module, opts \\\\ []) do
    module = Macro.expand(module, %{__CALLER__ | function: {:__channel__, 1}})

    quote do
      @gen_phx_channels {unquote(topic_pattern), unquote(module), unquote(opts)}
    end
  end

  @doc false
  defmacro __before_compile__(env) do
    channels = env.module |> Module.get_attribute(:gen_phx_channels) |> Enum.reverse()
    opts = Module.get_attribute(env.module, :gen_phx_socket_options)

    clauses =
      for {topic, module, chan_opts} <- channels do
        match =
          case String.split(topic, "*") do
            [prefix, ""] -> quote(do: unquote(prefix) <> _rest)
            [exact] -> exact
          end

        quote do
          def __channel__(unquote(match)), do: {unquote(module), unquote(Macro.escape(chan_opts))}
        end
      end

    quote do
      def __socket_options__, do: unquote(Macro.escape(opts))
      unquote(clauses)
      def __channel__(_topic), do: nil
    end
  end

  @doc "Stores a value in the socket's assigns."
  def assign(%__MODULE__{assigns: assigns} = socket, key, value), do: %{socket | assigns: Map.put(assigns, key, value)}
end
`,
  );
  const transport = mod(
    `${X}.Socket.Transport`,
    `defmodule ${X}.Socket.Transport do
  @moduledoc false

  @doc "Marks the connection for a WebSocket upgrade to \`socket\`."
  def upgrade(%${P}.Conn{} = conn, socket, opts) do
    case ${P}.Conn.get_req_header(conn, "upgrade") do
      ["websocket" | _] ->
        conn
        |> ${P}.Conn.put_private(:gen_phx_upgrade, {:websocket, socket, opts})
        |> ${P}.Conn.halt()

      _ ->
        conn |> ${P}.Conn.send_resp(400, "expected a websocket upgrade") |> ${P}.Conn.halt()
    end
  end
end
`,
  );
  const channel = mod(
    `${X}.Channel`,
    `defmodule ${X}.Channel do
  @moduledoc """
  Channels: \`use ${X}.Channel\` gives default callbacks and the functions to push,
  reply and broadcast over ${PS}.
  """

  @callback join(topic :: binary, payload :: map, socket :: ${X}.Socket.t()) ::
              {:ok, ${X}.Socket.t()} | {:ok, map, ${X}.Socket.t()} | {:error, map}
  @callback handle_in(event :: String.t(), payload :: map, socket :: ${X}.Socket.t()) ::
              {:noreply, ${X}.Socket.t()} | {:reply, term, ${X}.Socket.t()}
  @callback handle_info(msg :: term, socket :: ${X}.Socket.t()) :: {:noreply, ${X}.Socket.t()}
  @callback terminate(reason :: term, socket :: ${X}.Socket.t()) :: term
  @optional_callbacks handle_in: 3, handle_info: 2, terminate: 2

  @doc false
  defmacro __using__(opts) do
    quote do
      @behaviour ${X}.Channel
      import ${X}.Channel
      import ${X}.Socket, only: [assign: 3]
      @gen_phx_channel_opts unquote(opts)

      @doc false
      def __channel_opts__, do: @gen_phx_channel_opts

      @impl true
      def handle_in(event, _payload, socket), do: {:reply, {:error, %{reason: "unhandled event #{event}"}}, socket}

      @impl true
      def handle_info(_msg, socket), do: {:noreply, socket}

      @impl true
      def terminate(_reason, _socket), do: :ok

      defoverridable handle_in: 3, handle_info: 2, terminate: 2
    end
  end

  @doc "Broadcasts an event to every subscriber of the socket's topic."
  def broadcast!(%${X}.Socket{pubsub_server: server, topic: topic}, event, payload) do
    :ok = ${PS}.broadcast(server, topic, {:gen_phx_broadcast, event, payload})
  end

  @doc "Pushes an event to the socket's client."
  def push(%${X}.Socket{transport: pid, topic: topic}, event, payload) when is_pid(pid) do
    send(pid, {:gen_phx_push, topic, event, payload})
    :ok
  end

  @doc "Subscribes the caller to the socket's topic."
  def subscribe(%${X}.Socket{pubsub_server: server, topic: topic}), do: ${PS}.subscribe(server, topic)
end
`,
  );
  return [socket, transport, channel];
}
