#!/usr/bin/env escript
%% Usage: escript priv/erlang/consult_json.escript FILE...
%%
%% Reads each FILE with file:consult/1 (the way rebar3 reads rebar.config, rebar.lock and
%% *.app.src files) and prints one line per file, in order: "BEAMIX-JSON <json>" with the list of
%% terms, or "BEAMIX-ERROR <reason>". Terms are tagged as in priv/elixir/read_mix_project.exs:
%%   {"atom": "a"} {"bin": "utf-8 text"} {"bin64": "base64"} {"int": "123"} {"float": 1.5}
%%   {"list": [..], "tail": T} {"tuple": [..]} {"map": [[k, v], ..]} {"opaque": "~p output"}

-mode(compile).

main([]) ->
    io:put_chars(standard_error, "usage: consult_json.escript FILE...\n"),
    halt(2);
main(Files) ->
    ok = io:setopts(standard_io, [{encoding, unicode}]),
    lists:foreach(fun consult/1, Files).

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
