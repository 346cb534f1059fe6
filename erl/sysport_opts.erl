%% @doc Options of the services: one declarative schema per service (key,
%% default, type, one line of doc), checked as a whole before anything
%% starts. Options are a map, a proplist or an Elixir keyword list; an
%% error names the service and every key with the value that was refused:
%%
%% ```
%% {error, {invalid_option, kv, #{timeout => "30000"}}} =
%%     sysport_opts:check(kv, sysport_kv:options(), [{timeout, "30000"}]).
%% '''
-module(sysport_opts).

-export([check/3, to_map/1, defaults/1, describe/1, valid/2, path/1]).
-export_type([schema/0, type/0, error/0]).

-type type() :: boolean | pos_integer | non_neg_integer | integer | atom | pid | path
              | chardata | level
              | {int, integer(), integer() | infinity}
              | {enum, [term()]}
              | {list, type()}
              | {any_of, [type()]}
              | {opts, schema()}
              | {check, fun((term()) -> boolean())}.
%% `path': non-empty `unicode:chardata()' without NUL; `level': a logger
%% level; `{opts, Schema}': a nested map or proplist checked by Schema
%% (no defaults merged); `{check, Fun}': what Fun accepts.
-type schema() :: [{Key :: atom(), Default :: term(), type(), Doc :: binary()}].
-type error() :: {invalid_option, atom(), #{term() => term()}}.

-define(LEVELS, [emergency, alert, critical, error, warning, notice, info, debug]).

%% @doc Given (map, proplist or keyword list) checked against Schema and
%% merged over its defaults. Every unknown key and every value of the
%% wrong type is named in the error.
-spec check(atom(), schema(), term()) -> {ok, map()} | {error, error()}.
check(Service, Schema, Given) ->
    case to_map(Given) of
        {ok, Map} ->
            Bad = maps:filter(fun(K, V) ->
                                      case lists:keyfind(K, 1, Schema) of
                                          {K, _, Type, _} -> not valid(Type, V);
                                          false -> true
                                      end
                              end, Map),
            case map_size(Bad) of
                0 -> {ok, maps:merge(defaults(Schema), maps:map(fun(K, V) -> as_given(Schema, K, V) end, Map))};
                _ -> {error, {invalid_option, Service, Bad}}
            end;
        error ->
            {error, {invalid_option, Service, #{options => Given}}}
    end.

%% A path given as a deep list (`["/tmp/", <<"x">>]', valid chardata) is
%% handed on as a binary: filename and port functions take only flat
%% strings and binaries. Nested options come back as a map.
as_given(Schema, K, V) ->
    {K, _, Type, _} = lists:keyfind(K, 1, Schema),
    as_type(Type, V).

as_type({opts, Schema}, V) ->
    {ok, Map} = to_map(V),
    maps:map(fun(K, E) -> as_given(Schema, K, E) end, Map);
as_type(Type, V) when is_list(V) ->
    case path_type(Type) andalso path(V) of
        {ok, Bin} -> Bin;
        _ -> V
    end;
as_type(_, V) ->
    V.

path_type(path) -> true;
path_type({any_of, Types}) -> lists:member(path, Types);
path_type(_) -> false.

%% @doc A map as it is; a proplist or keyword list as a map (the first
%% occurrence of a key wins, a bare atom is `{Atom, true}').
-spec to_map(term()) -> {ok, map()} | error.
to_map(Map) when is_map(Map) -> {ok, Map};
%% length/1 fails in the guard for an improper list: error, like any non-list.
to_map(List) when is_list(List), length(List) >= 0 ->
    try {ok, maps:from_list(lists:reverse([pair(E) || E <- List]))}
    catch throw:bad -> error
    end;
to_map(_) -> error.

pair({K, V}) -> {K, V};
pair(K) when is_atom(K) -> {K, true};
pair(_) -> throw(bad).

%% @doc The defaults of a schema.
-spec defaults(schema()) -> map().
defaults(Schema) ->
    maps:from_list([{K, D} || {K, D, _, _} <- Schema]).

%% @doc Each option's name, default and doc line, in schema order (what
%% the README's option tables say).
-spec describe(schema()) -> [#{name := atom(), default := term(), doc := binary()}].
describe(Schema) ->
    [#{name => K, default => D, doc => Doc} || {K, D, _, Doc} <- Schema].

%% @doc Whether V is of Type.
-spec valid(type(), term()) -> boolean().
valid(boolean, V) -> is_boolean(V);
valid(pos_integer, V) -> is_integer(V) andalso V > 0;
valid(non_neg_integer, V) -> is_integer(V) andalso V >= 0;
valid(integer, V) -> is_integer(V);
valid(atom, V) -> is_atom(V);
valid(pid, V) -> is_pid(V);
valid(level, V) -> lists:member(V, ?LEVELS);
valid(path, V) -> path(V) =/= error;
valid(chardata, V) -> chardata(V) =/= error;
valid({int, Min, Max}, V) -> is_integer(V) andalso V >= Min andalso (Max =:= infinity orelse V =< Max);
valid({enum, Values}, V) -> lists:member(V, Values);
valid({list, Type}, V) -> is_list(V) andalso lists:all(fun(E) -> valid(Type, E) end, V);
valid({any_of, Types}, V) -> lists:any(fun(T) -> valid(T, V) end, Types);
valid({opts, Schema}, V) -> element(1, check(nested, Schema, V)) =:= ok;
valid({check, Fun}, V) -> Fun(V).

%% @doc V as a path, a binary: non-empty chardata without NUL (a deep list
%% too, which filename and port functions refuse as it is).
-spec path(term()) -> {ok, binary()} | error.
path(V) ->
    case chardata(V) of
        {ok, B} when B =/= <<>> ->
            case binary:match(B, <<0>>) of
                nomatch -> {ok, B};
                _ -> error
            end;
        _ -> error
    end.

chardata(V) when is_binary(V); is_list(V) ->
    try unicode:characters_to_binary(V) of
        B when is_binary(B) -> {ok, B};
        _ -> error
    catch error:badarg -> error
    end;
chardata(_) -> error.
