// Hand-shaped Erlang modules of the synthetic closure: the telemetry-like event library
// (an ETS handler table owned by a gen_server) and the entry points of the listener and
// HTTP server packages, which other packages call by name.
import type { ErlModule } from "./erlang.ts";

const mod = (name: string, source: string): ErlModule => ({ name, source, callees: [] });

export function telemetryHeader(T: string): string {
  return `%% Records and macros shared by ${T}'s modules.
-record(${T}_handler, {
    id :: term(),
    event_name :: [atom()],
    function :: function(),
    config :: term()
}).

-define(${T.toUpperCase()}_TABLE, ${T}_handler_table).
`;
}

export function telemetryModules(T: string): ErlModule[] {
  const TABLE = `?${T.toUpperCase()}_TABLE`;
  const main = mod(
    T,
    `%% ${T}: dispatches events to the handlers attached to their names.
-module(${T}).
-include("${T}.hrl").

-export([attach/4, attach_many/4, detach/1, execute/3, span/3, list_handlers/1]).

-spec attach(term(), [atom()], fun((...) -> any()), term()) -> ok | {error, already_exists}.
attach(HandlerId, EventName, Function, Config) ->
    attach_many(HandlerId, [EventName], Function, Config).

-spec attach_many(term(), [[atom()]], fun((...) -> any()), term()) -> ok | {error, already_exists}.
attach_many(HandlerId, EventNames, Function, Config) when is_function(Function, 4) ->
    ${T}_handler_table:insert(HandlerId, EventNames, Function, Config).

-spec detach(term()) -> ok | {error, not_found}.
detach(HandlerId) ->
    ${T}_handler_table:delete(HandlerId).

-spec execute([atom()], map(), map()) -> ok.
execute(EventName, Measurements, Metadata) when is_map(Measurements), is_map(Metadata) ->
    Handlers = ${T}_handler_table:list_for_event(EventName),
    lists:foreach(
        fun(#${T}_handler{id = Id, function = Fun, config = Config}) ->
            try
                Fun(EventName, Measurements, Metadata, Config)
            catch
                Class:Reason:Stacktrace ->
                    _ = detach(Id),
                    logger:error("handler ~p failed: ~p:~p ~p", [Id, Class, Reason, Stacktrace])
            end
        end,
        Handlers
    ).

-spec span([atom()], map(), fun(() -> {term(), map()})) -> term().
span(EventPrefix, StartMetadata, SpanFunction) ->
    StartTime = erlang:monotonic_time(),
    execute(EventPrefix ++ [start], #{monotonic_time => StartTime, system_time => erlang:system_time()}, StartMetadata),
    try SpanFunction() of
        {Result, StopMetadata} ->
            StopTime = erlang:monotonic_time(),
            execute(EventPrefix ++ [stop], #{duration => StopTime - StartTime, monotonic_time => StopTime}, StopMetadata),
            Result
    catch
        Class:Reason:Stacktrace ->
            FailTime = erlang:monotonic_time(),
            execute(
                EventPrefix ++ [exception],
                #{duration => FailTime - StartTime, monotonic_time => FailTime},
                StartMetadata#{kind => Class, reason => Reason, stacktrace => Stacktrace}
            ),
            erlang:raise(Class, Reason, Stacktrace)
    end.

-spec list_handlers([atom()]) -> [map()].
list_handlers(EventPrefix) ->
    [#{id => Id, event_name => Name, config => Config}
     || #${T}_handler{id = Id, event_name = Name, config = Config} <- ${T}_handler_table:list_by_prefix(EventPrefix)].
`,
  );
  const table = mod(
    `${T}_handler_table`,
    `%% ${T}_handler_table: owns the ETS table of attached handlers.
-module(${T}_handler_table).
-behaviour(gen_server).
-include("${T}.hrl").

-export([start_link/1, insert/4, delete/1, list_for_event/1, list_by_prefix/1]).
-export([init/1, handle_call/3, handle_cast/2]).

start_link(_Opts) ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

insert(Id, EventNames, Function, Config) ->
    gen_server:call(?MODULE, {insert, Id, EventNames, Function, Config}).

delete(Id) ->
    gen_server:call(?MODULE, {delete, Id}).

list_for_event(EventName) ->
    try ets:lookup(${TABLE}, EventName) of
        Rows -> [H || {_, H} <- Rows]
    catch
        error:badarg -> []
    end.

list_by_prefix(Prefix) ->
    [H || {Name, H} <- ets:tab2list(${TABLE}), lists:prefix(Prefix, Name)].

init([]) ->
    _ = ets:new(${TABLE}, [duplicate_bag, protected, named_table, {read_concurrency, true}]),
    {ok, []}.

handle_call({insert, Id, EventNames, Function, Config}, _From, State) ->
    case ets:match(${TABLE}, {'_', #${T}_handler{id = Id, _ = '_'}}) of
        [] ->
            Objects = [{E, #${T}_handler{id = Id, event_name = E, function = Function, config = Config}} || E <- EventNames],
            true = ets:insert(${TABLE}, Objects),
            {reply, ok, State};
        _ ->
            {reply, {error, already_exists}, State}
    end;
handle_call({delete, Id}, _From, State) ->
    case ets:select_delete(${TABLE}, [{{'_', #${T}_handler{id = Id, _ = '_'}}, [], [true]}]) of
        0 -> {reply, {error, not_found}, State};
        _ -> {reply, ok, State}
    end.

handle_cast(_Msg, State) ->
    {noreply, State}.
`,
  );
  return [main, table];
}

export function ranchModules(R: string): ErlModule[] {
  const main = mod(
    R,
    `%% ${R}: starts and stops listeners.
-module(${R}).

-export([start_listener/5, stop_listener/1, get_port/1, info/0]).

-spec start_listener(term(), module(), term(), module(), term()) -> supervisor:startchild_ret() | {error, term()}.
start_listener(Ref, Transport, TransOpts, Protocol, ProtoOpts) when is_atom(Transport), is_atom(Protocol) ->
    _ = code:ensure_loaded(Transport),
    case erlang:function_exported(Transport, name, 0) of
        false ->
            {error, {badarg, Transport}};
        true ->
            supervisor:start_child(${R}_sup, #{
                id => {${R}_listener_sup, Ref},
                start => {${R}_listener_sup, start_link, [Ref, Transport, TransOpts, Protocol, ProtoOpts]},
                type => supervisor
            })
    end.

-spec stop_listener(term()) -> ok | {error, term()}.
stop_listener(Ref) ->
    case supervisor:terminate_child(${R}_sup, {${R}_listener_sup, Ref}) of
        ok ->
            _ = supervisor:delete_child(${R}_sup, {${R}_listener_sup, Ref}),
            ok;
        {error, _} = Error ->
            Error
    end.

-spec get_port(term()) -> inet:port_number() | undefined.
get_port(Ref) ->
    case ets:lookup(${R}_server, {port, Ref}) of
        [{_, Port}] -> Port;
        [] -> undefined
    end.

-spec info() -> [tuple()].
info() ->
    ets:tab2list(${R}_server).
`,
  );
  const listenerSup = mod(
    `${R}_listener_sup`,
    `%% ${R}_listener_sup: one listener's connection supervisor.
-module(${R}_listener_sup).
-behaviour(supervisor).

-export([start_link/5, init/1]).

start_link(Ref, Transport, TransOpts, Protocol, ProtoOpts) ->
    supervisor:start_link(?MODULE, {Ref, Transport, TransOpts, Protocol, ProtoOpts}).

init({Ref, Transport, TransOpts, Protocol, ProtoOpts}) ->
    Opts = [{ref, Ref}, {transport, Transport}, {transport_opts, TransOpts}, {protocol, Protocol}, {opts, ProtoOpts}],
    ChildSpecs = [#{id => ${R}_conns_sup, start => {${R}_conns_sup, start_link, [Opts]}, type => worker}],
    {ok, {#{strategy => rest_for_one, intensity => 1, period => 5}, ChildSpecs}}.
`,
  );
  return [main, listenerSup];
}

export function cowboyMain(C: string, R: string): ErlModule {
  return mod(
    C,
    `%% ${C}: HTTP listeners on top of ${R}.
-module(${C}).

-export([start_clear/3, start_tls/3, stop_listener/1, set_env/3, get_env/2]).

-spec start_clear(term(), term(), map()) -> {ok, pid()} | {error, term()}.
start_clear(Ref, TransOpts, ProtoOpts) when is_map(ProtoOpts) ->
    ${R}:start_listener(Ref, ${R}_tcp, TransOpts, ${C}_clear, ProtoOpts).

-spec start_tls(term(), term(), map()) -> {ok, pid()} | {error, term()}.
start_tls(Ref, TransOpts, ProtoOpts) when is_map(ProtoOpts) ->
    ${R}:start_listener(Ref, ${R}_ssl, TransOpts, ${C}_tls, ProtoOpts#{alpn => true}).

-spec stop_listener(term()) -> ok | {error, term()}.
stop_listener(Ref) ->
    ${R}:stop_listener(Ref).

-spec set_env(term(), atom(), term()) -> ok.
set_env(Ref, Name, Value) ->
    persistent_term:put({?MODULE, Ref, Name}, Value).

-spec get_env(term(), atom()) -> term().
get_env(Ref, Name) ->
    persistent_term:get({?MODULE, Ref, Name}, undefined).
`,
  );
}
