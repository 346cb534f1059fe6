%% @doc Pure functions over U-Boot environments held as maps, for
%% {@link sysport_kv}: argument checking, the text format of defaults
%% files, the changes subscribers are told about, and the A/B firmware
%% conventions of Nerves and fwup.
%%
%% ```
%% #{<<"k">> := {<<"1">>, <<"2">>}} = sysport_kv_data:diff(#{<<"k">> => <<"1">>}, #{<<"k">> => <<"2">>}),
%% [{<<"bootdelay">>, <<"2">>}] = sysport_kv_data:parse_defaults(<<"# defaults\nbootdelay=2\n">>).
%% '''
-module(sysport_kv_data).

-export([key/1, value/2, keys/1, pairs/1, data_size/1, parse_defaults/1, diff/2,
         active_prefix/1, strip_prefix/2, firmware_status/1, validate_updates/1]).

-export_type([env/0, changes/0]).

-type env() :: #{binary() => binary()}.
-type changes() :: #{binary() => {binary() | undefined, binary() | undefined}}.

%% @doc A key as a binary: `{error, {invalid_key, Key}}' for anything that
%% is not chardata. (Emptiness, `=', NUL, a newline and a leading `#' are
%% the helper's to refuse, as they are properties of the env's formats.)
-spec key(term()) -> {ok, binary()} | {error, {invalid_key, term()}}.
key(Key) ->
    case to_binary(Key) of
        {ok, Bin} -> {ok, Bin};
        error -> {error, {invalid_key, Key}}
    end.

%% @doc A value as a binary; `{error, {invalid_value, Key}}' for non-chardata.
-spec value(term(), term()) -> {ok, binary()} | {error, {invalid_value, term()}}.
value(Key, Value) ->
    case to_binary(Value) of
        {ok, Bin} -> {ok, Bin};
        error -> {error, {invalid_value, Key}}
    end.

to_binary(B) when is_binary(B) -> {ok, B};
to_binary(L) when is_list(L) ->
    try unicode:characters_to_binary(L) of
        B when is_binary(B) -> {ok, B};
        _ -> error
    catch error:_ -> error
    end;
to_binary(_) -> error.

%% @doc One key or a list of keys, as `delete/1' takes them: a list whose
%% elements are all binaries or lists is a list of keys; any other chardata
%% (a string, or chardata ending in a binary tail) is one key.
-spec keys(term()) -> {ok, [binary()]} | {error, {invalid_key, term()}}.
keys(Keys) when is_list(Keys), length(Keys) > 0 ->
    case lists:all(fun(K) -> is_binary(K) orelse is_list(K) end, Keys) of
        true -> collect([key(K) || K <- Keys]);
        false -> one_key(Keys)
    end;
keys([]) -> {ok, []};
keys(Key) -> one_key(Key).

one_key(Key) ->
    case key(Key) of
        {ok, K} -> {ok, [K]};
        Error -> Error
    end.

%% @doc A map of chardata keys and values as binary pairs.
-spec pairs(map()) -> {ok, [{binary(), binary()}]} | {error, term()}.
pairs(Map) when is_map(Map) ->
    collect([case key(K) of
                 {ok, KB} -> case value(K, V) of
                                 {ok, VB} -> {ok, {KB, VB}};
                                 E -> E
                             end;
                 E -> E
             end || {K, V} <- lists:sort(maps:to_list(Map))]).

collect(Results) ->
    case [E || {error, _} = E <- Results] of
        [] -> {ok, [X || {ok, X} <- Results]};
        [E | _] -> E
    end.

%% @doc The bytes these pairs take in an env's data area, the final NUL
%% included: `key=value\0' each.
-spec data_size([{binary(), binary()}]) -> pos_integer().
data_size(Pairs) ->
    lists:foldl(fun({K, V}, Acc) -> Acc + byte_size(K) + byte_size(V) + 2 end, 1, Pairs).

%% @doc The defaults file: U-Boot's `u-boot-initial-env' text, which
%% `mkenvimage' reads too: one `key=value' per line; blank lines and lines
%% starting with `#' are skipped, and so are lines without `=' or with an
%% empty key. A later line for the same key wins.
-spec parse_defaults(binary()) -> [{binary(), binary()}].
parse_defaults(Text) ->
    Lines = binary:split(Text, <<"\n">>, [global]),
    Pairs = [split_line(strip_cr(L)) || L <- Lines],
    maps:to_list(maps:from_list([P || {K, _} = P <- Pairs, K =/= <<>>])).

strip_cr(Line) ->
    case byte_size(Line) of
        N when N > 0, binary_part(Line, N - 1, 1) =:= <<"\r">> -> binary_part(Line, 0, N - 1);
        _ -> Line
    end.

split_line(<<"#", _/binary>>) -> skip;
split_line(Line) ->
    case binary:split(Line, <<"=">>) of
        [K, V] -> {K, V};
        _ -> skip
    end.

%% @doc What changed from Old to New: `{OldValue, NewValue}' per key, with
%% `undefined' for a key that was added or removed.
-spec diff(env(), env()) -> changes().
diff(Old, New) ->
    Changed = maps:fold(fun(K, V, Acc) ->
                                case Old of
                                    #{K := V} -> Acc;
                                    #{K := O} -> Acc#{K => {O, V}};
                                    _ -> Acc#{K => {undefined, V}}
                                end
                        end, #{}, New),
    maps:fold(fun(K, O, Acc) ->
                      case is_map_key(K, New) of
                          true -> Acc;
                          false -> Acc#{K => {O, undefined}}
                      end
              end, Changed, Old).

%% @doc The prefix of the active firmware's keys (`<<"a.">>'), from
%% `nerves_fw_active'.
-spec active_prefix(env()) -> {ok, binary()} | {error, no_active_firmware}.
active_prefix(#{<<"nerves_fw_active">> := Active}) when Active =/= <<>> ->
    {ok, <<Active/binary, ".">>};
active_prefix(_) ->
    {error, no_active_firmware}.

%% @doc The keys starting with Prefix, without it.
-spec strip_prefix(binary(), env()) -> env().
strip_prefix(Prefix, Env) ->
    N = byte_size(Prefix),
    maps:fold(fun(<<P:N/binary, Rest/binary>>, V, Acc) when P =:= Prefix -> Acc#{Rest => V};
                 (_, _, Acc) -> Acc
              end, #{}, Env).

%% @doc The A/B state: which slot runs, whether it was validated, and the
%% U-Boot boot-counting variables when they are in use (`undefined' when not).
-spec firmware_status(env()) ->
          {ok, #{active := binary(), validated := boolean(),
                 upgrade_available := boolean() | undefined,
                 bootcount := integer() | undefined}} | {error, no_active_firmware}.
firmware_status(Env) ->
    case active_prefix(Env) of
        {ok, Prefix} ->
            {ok, #{active => maps:get(<<"nerves_fw_active">>, Env),
                   validated => maps:get(<<Prefix/binary, "nerves_fw_validated">>, Env, <<"0">>) =:= <<"1">>,
                   upgrade_available => flag(maps:get(<<"upgrade_available">>, Env, undefined)),
                   bootcount => integer(maps:get(<<"bootcount">>, Env, undefined))}};
        Error -> Error
    end.

flag(undefined) -> undefined;
flag(<<"0">>) -> false;
flag(<<>>) -> false;
flag(_) -> true.

integer(undefined) -> undefined;
integer(Bin) ->
    try binary_to_integer(string:trim(Bin)) catch error:badarg -> undefined end.

%% @doc The writes that mark the running firmware good: its
%% `nerves_fw_validated=1' and, when U-Boot's boot counting is in use,
%% `upgrade_available=0' and `bootcount=0'.
-spec validate_updates(env()) -> {ok, [{binary(), binary()}]} | {error, no_active_firmware}.
validate_updates(Env) ->
    case active_prefix(Env) of
        {ok, Prefix} ->
            Counting = case is_map_key(<<"upgrade_available">>, Env) of
                           true -> [{<<"upgrade_available">>, <<"0">>}, {<<"bootcount">>, <<"0">>}];
                           false -> []
                       end,
            {ok, [{<<Prefix/binary, "nerves_fw_validated">>, <<"1">>} | Counting]};
        Error -> Error
    end.
