#!/usr/bin/env escript
%% Usage: escript priv/erlang/consult_json.escript FILE...
%%        escript priv/erlang/consult_json.escript --rebar-config DIR
%%
%% Reads each FILE with file:consult/1 (the way rebar3 reads rebar.config, rebar.lock and
%% *.app.src files) and prints one line per file, in order: "BEAMIX-JSON <json>" with the list of
%% terms, or "BEAMIX-ERROR <reason>". With --rebar-config, prints one line for DIR's configuration
%% as rebar3 reads it: rebar.config's terms (none when it is absent), then, when
%% rebar.config.script exists, the value of that script evaluated with CONFIG bound to those
%% terms and SCRIPT to its path, in DIR (rebar_config:consult_file/1). Terms are tagged as in priv/elixir/read_mix_project.exs:
%%   {"atom": "a"} {"bin": "utf-8 text"} {"bin64": "base64"} {"int": "123"} {"float": 1.5}
%%   {"list": [..], "tail": T} {"tuple": [..]} {"map": [[k, v], ..]} {"opaque": "~p output"}

-mode(compile).

main([]) ->
    io:put_chars(standard_error, "usage: consult_json.escript FILE...\n"),
    halt(2);
main(["--rebar-config", Dir]) ->
    ok = io:setopts(standard_io, [{encoding, unicode}]),
    rebar_config(Dir);
main(Files) ->
    ok = io:setopts(standard_io, [{encoding, unicode}]),
    lists:foreach(fun consult/1, Files).

rebar_config(Dir) ->
    ok = file:set_cwd(Dir),
    Config = case file:consult("rebar.config") of
                 {ok, Terms} -> {ok, Terms};
                 {error, enoent} -> {ok, []};
                 {error, Reason} -> {error, "rebar.config: " ++ file:format_error(Reason)}
             end,
    Script = filename:join(Dir, "rebar.config.script"),
    Result = case {Config, filelib:is_regular(Script)} of
                 {{ok, _}, false} -> Config;
                 {{ok, C}, true} ->
                     Bindings = erl_eval:add_binding('SCRIPT', Script, erl_eval:add_binding('CONFIG', C, erl_eval:new_bindings())),
                     try file:script(Script, Bindings) of
                         {ok, New} when is_list(New) -> {ok, New};
                         {ok, Other} -> {error, lists:flatten(io_lib:format("rebar.config.script: its value is not a list of terms: ~tP", [Other, 8]))};
                         {error, R} -> {error, "rebar.config.script: " ++ file:format_error(R)}
                     catch
                         C2:R2 -> {error, lists:flatten(io_lib:format("rebar.config.script: ~p:~tP", [C2, R2, 8]))}
                     end;
                 {Error, _} -> Error
             end,
    case Result of
        {ok, Final} -> io:put_chars(["BEAMIX-JSON ", encode(Final), "\n"]);
        {error, Message} -> io:put_chars(["BEAMIX-ERROR ", lists:flatten(string:replace(Message, "\n", " ", all)), "\n"])
    end.

consult(File) ->
    case file:consult(File) of
        {ok, Terms} ->
            io:put_chars(["BEAMIX-JSON ", encode(Terms), "\n"]);
        {error, Reason} ->
            Message = unicode:characters_to_list(file:format_error(Reason)),
            io:put_chars(["BEAMIX-ERROR ", lists:flatten(string:replace(Message, "\n", " ", all)), "\n"])
    end.

encode(T) when is_atom(T) -> ["{\"atom\":", string(atom_to_list(T)), "}"];
encode(T) when is_integer(T) -> ["{\"int\":\"", integer_to_list(T), "\"}"];
encode(T) when is_float(T) -> ["{\"float\":", float_to_list(T, [short]), "}"];
encode(T) when is_binary(T) ->
    case unicode:characters_to_list(T) of
        Chars when is_list(Chars) -> ["{\"bin\":", string(Chars), "}"];
        _ -> ["{\"bin64\":\"", base64:encode_to_string(T), "\"}"]
    end;
encode(T) when is_tuple(T) -> ["{\"tuple\":", items(tuple_to_list(T)), "}"];
encode(T) when is_map(T) ->
    Entries = [["[", encode(K), ",", encode(V), "]"] || {K, V} <- maps:to_list(T)],
    ["{\"map\":[", lists:join(",", Entries), "]}"];
encode(T) when is_list(T) -> list(T, []);
encode(T) -> ["{\"opaque\":", string(io_lib:format("~tp", [T])), "}"].

list([H | T], Acc) when is_list(T) -> list(T, [H | Acc]);
list([], Acc) -> ["{\"list\":", items(lists:reverse(Acc)), "}"];
list([H | T], Acc) -> ["{\"list\":", items(lists:reverse([H | Acc])), ",\"tail\":", encode(T), "}"].

items(L) -> ["[", lists:join(",", [encode(E) || E <- L]), "]"].

string(Chars) ->
    ["\"", [escape(C) || C <- lists:flatten(Chars)], "\""].

escape($") -> "\\\"";
escape($\\) -> "\\\\";
escape(C) when C < 16#20 -> io_lib:format("\\u~4.16.0B", [C]);
escape(C) -> C.
