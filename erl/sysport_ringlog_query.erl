%% @doc Ring log queries, run in the calling process: the current boot from
%% the in-memory ring (read straight from its ETS tables), earlier boots
%% from the spool file (through the helper). Logging never waits behind a
%% query, and a query never waits behind logging.
%% @private
-module(sysport_ringlog_query).

-export([tail/1, next/1, get/1, grep/2, boots/0, save/1, context/0, hex/1, from_ring/2]).

-type record() :: sysport_ringlog_codec:record().

-define(INFO, sysport_ringlog_context).
-define(ALL, 16#7ffffff).

%% @doc What queries need from the running service: its boot, the spool
%% helper's owner and the display formatter.
-spec context() -> {ok, #{boot := {pos_integer(), binary()}, port := pid() | undefined,
                          formatter := {module(), map()}, subs := sysport_subs:subs()}}
                 | {error, not_running}.
context() ->
    try maps:from_list(ets:tab2list(?INFO)) of
        Ctx -> {ok, Ctx}
    catch error:badarg -> {error, not_running}
    end.

-spec tail(non_neg_integer()) -> {ok, [record()]} | {error, term()}.
tail(N) ->
    with_context(
      fun(#{boot := {_, Hex}} = Ctx) ->
              Current = [from_ring(E, Hex) || E <- sysport_ringlog_ring:last(N, 7)],
              Earlier = case N - length(Current) of
                            Missing when Missing > 0 -> earlier_tail(Ctx, Missing);
                            _ -> []
                        end,
              {ok, Earlier ++ Current}
      end).

%% Right after a restart the ring is nearly empty: the rest of a tail comes
%% from the previous boots in the spool, across the boot boundary.
earlier_tail(#{port := undefined}, _N) ->
    [];
earlier_tail(#{boot := {Boot, _}} = Ctx, N) ->
    case spool_boots(Ctx) of
        {ok, Boots} -> earlier_tail(Ctx, lists:reverse([B || #{boot := Id} = B <- Boots, Id =/= Boot]), N, []);
        {error, _} -> []
    end.

earlier_tail(_Ctx, [], _N, Acc) -> Acc;
earlier_tail(_Ctx, _Boots, N, Acc) when N =< 0 -> Acc;
earlier_tail(#{port := Port} = Ctx, [#{boot := B, first_seq := First, last_seq := Last} | Older], N, Acc) ->
    case sysport_ringlog_spool:read(Port, B, max(First, Last - N + 1), N, sysport_service:timeout(sysport_ringlog)) of
        {ok, Entries} ->
            Recs = [from_spool(E, hex(B)) || E <- Entries],
            earlier_tail(Ctx, Older, N - length(Recs), Recs ++ Acc);
        {error, _} -> Acc
    end.

%% @doc What arrived since the caller's last next/1 (its cursor lives in
%% the caller's process dictionary).
-spec next(non_neg_integer() | infinity) -> {ok, [record()]} | {error, term()}.
next(N) ->
    with_context(
      fun(#{boot := {_, Hex}}) ->
              Key = {?MODULE, cursor},
              From = case erlang:get(Key) of
                         {Hex, Seq} -> Seq + 1;
                         _ -> 1
                     end,
              Recs = [from_ring(E, Hex) || E <- sysport_ringlog_ring:from(From, count(N), 7)],
              case Recs of
                  [] -> ok;
                  _ -> erlang:put(Key, {Hex, maps:get(seq, lists:last(Recs))})
              end,
              {ok, Recs}
      end).

%% @doc Records by options: `boot' (current | previous | all | a boot id
%% from boots/0), `from_seq' (the first `count' from there, per boot;
%% without it, the last `count'), `count', `level' (that and more severe).
-spec get(map()) -> {ok, [record()]} | {error, term()}.
get(Opts) when is_map(Opts) ->
    case check(Opts) of
        {ok, #{boot := Sel, level := Level, count := Count} = O} ->
            Min = sysport_ringlog_codec:level_to_int(Level),
            with_context(
              fun(Ctx) ->
                      case records(Ctx, Sel, maps:get(from_seq, O, undefined), Min) of
                          {ok, Recs} when is_map_key(from_seq, O) -> {ok, lists:sublist(Recs, count(Count))};
                          {ok, Recs} -> {ok, last(Recs, Count)};
                          Error -> Error
                      end
              end);
        Error -> Error
    end;
get(_) ->
    {error, badarg}.

check(Opts) ->
    O = maps:merge(#{boot => current, level => debug, count => infinity}, Opts),
    maps:fold(fun(_, _, {error, _} = E) -> E;
                 (K, V, Acc) -> case valid(K, V) of true -> Acc; false -> {error, {bad_option, K}} end
              end, {ok, O}, O).

valid(boot, B) -> lists:member(B, [current, previous, all]) orelse (is_binary(B) andalso byte_size(B) =:= 16);
valid(level, L) -> lists:member(L, [emergency, alert, critical, error, warning, notice, info, debug]);
valid(count, C) -> C =:= infinity orelse (is_integer(C) andalso C >= 0);
valid(from_seq, S) -> is_integer(S) andalso S >= 0;
valid(before, N) -> is_integer(N) andalso N >= 0;
valid('after', N) -> is_integer(N) andalso N >= 0;
valid(_, _) -> false.

%% @doc Records whose message matches Pattern (a string matches
%% literally; a compiled regex, an Elixir Regex or `{re, Pattern}' as a
%% regex), with options `before' and `after' (context records), `level'
%% and `boot' as in get/1.
-spec grep(term(), map()) -> {ok, [record()]} | {error, term()}.
grep(Pattern, Opts) when is_map(Opts) ->
    case {sysport_ringlog_text:matcher(Pattern), check(Opts)} of
        {{ok, M}, {ok, #{boot := Sel, level := Level} = O}} ->
            Min = sysport_ringlog_codec:level_to_int(Level),
            with_context(
              fun(Ctx) ->
                      case records(Ctx, Sel, undefined, Min) of
                          {ok, Recs} ->
                              {ok, sysport_ringlog_text:grep(Recs, M, maps:get(before, O, 0),
                                                             maps:get('after', O, 0))};
                          Error -> Error
                      end
              end);
        {{error, _} = E, _} -> E;
        {_, E} -> E
    end;
grep(_, _) ->
    {error, badarg}.

%% @doc The boots the spool holds, then the current one, oldest first.
-spec boots() -> {ok, [map()]} | {error, term()}.
boots() ->
    with_context(
      fun(#{boot := {Boot, Hex}} = Ctx) ->
              Spooled = case spool_boots(Ctx) of
                            {ok, Bs} -> Bs;
                            {error, _} -> []
                        end,
              Earlier = [B#{boot := hex(Id), current => false} || #{boot := Id} = B <- Spooled, Id =/= Boot],
              Ring = sysport_ringlog_ring:all(7),
              Current = case {[B || #{boot := Id} = B <- Spooled, Id =:= Boot], Ring} of
                            {[S], _} -> S#{boot := Hex, current => true};
                            {[], []} -> #{boot => Hex, current => true, records => 0};
                            {[], _} ->
                                {F, _, TF, _, _} = hd(Ring),
                                {L, _, TL, _, _} = lists:last(Ring),
                                #{boot => Hex, current => true, first_seq => F, last_seq => L,
                                  first_time => TF, last_time => TL, records => length(Ring)}
                        end,
              {ok, Earlier ++ [Current]}
      end).

%% @doc Every record available (all boots) as text.
-spec save(file:filename_all()) -> ok | {error, term()}.
save(Path) ->
    case sysport_opts:path(Path) of
        {ok, Bin} -> save_valid(Bin);
        error -> {error, badarg}
    end.

save_valid(Path) ->
    with_context(
      fun(#{formatter := F} = Ctx) ->
              case records(Ctx, all, undefined, 7) of
                  {ok, Recs} -> sysport_ringlog_text:save(Path, Recs, F);
                  Error -> Error
              end
      end).

%%% Gathering records

records(#{boot := {_, Hex}}, current, From, Min) ->
    {ok, [from_ring(E, Hex) || E <- ring(From, Min)]};
records(Ctx, Sel, From, Min) ->
    case spool_boots(Ctx) of
        {ok, Boots} -> gather(Ctx, select(Sel, Boots, Ctx), From, Min, []);
        {error, _} when Sel =:= all -> records(Ctx, current, From, Min);
        {error, _} = E -> E
    end.

ring(undefined, Min) -> sysport_ringlog_ring:all(Min);
ring(From, Min) -> sysport_ringlog_ring:from(From, ?ALL, Min).

%% Which boots a selector means, oldest first; the current boot is read
%% from the ring (`current').
select(current, _Boots, _Ctx) -> [current];
select(all, Boots, #{boot := {Boot, _}}) -> [B || #{boot := B} <- Boots, B =/= Boot] ++ [current];
select(previous, Boots, #{boot := {Boot, _}}) ->
    case [B || #{boot := B} <- Boots, B =/= Boot] of
        [] -> [];
        Earlier -> [lists:last(Earlier)]
    end;
select(Hex, Boots, #{boot := {_, Hex}}) when is_binary(Hex), is_list(Boots) -> [current];
select(Hex, Boots, _Ctx) when is_binary(Hex) ->
    [B || #{boot := B} <- Boots, hex(B) =:= Hex].

gather(_Ctx, [], _From, _Min, Acc) ->
    {ok, lists:append(lists:reverse(Acc))};
gather(Ctx, [current | Rest], From, Min, Acc) ->
    {ok, Recs} = records(Ctx, current, From, Min),
    gather(Ctx, Rest, From, Min, [Recs | Acc]);
gather(#{port := Port} = Ctx, [Boot | Rest], From, Min, Acc) ->
    case sysport_ringlog_spool:read(Port, Boot, case From of undefined -> 0; _ -> From end, infinity,
                                    sysport_service:timeout(sysport_ringlog)) of
        {ok, Entries} ->
            Recs = [from_spool(E, hex(Boot)) || {_, _, _, L, _} = E <- Entries, L =< Min],
            gather(Ctx, Rest, From, Min, [Recs | Acc]);
        {error, _} = E -> E
    end.

spool_boots(#{port := undefined}) -> {error, spool_down};
spool_boots(#{port := Port}) -> sysport_ringlog_spool:boots(Port).

with_context(Fun) ->
    case context() of
        {ok, Ctx} ->
            try Fun(Ctx)
            catch error:badarg -> {error, not_running} % the service stopped under us
            end;
        Error -> Error
    end.

%% @doc A ring entry as a record.
-spec from_ring({pos_integer(), 0..7, integer(), integer(), binary()}, binary()) -> record().
from_ring({Seq, L, Wall, Mono, Payload}, Hex) ->
    sysport_ringlog_codec:decode({Seq, Hex, Wall, Mono, L, Payload}).

from_spool({Seq, Wall, Mono, L, Payload}, Hex) ->
    sysport_ringlog_codec:decode({Seq, Hex, Wall, Mono, L, Payload}).

-spec hex(non_neg_integer()) -> binary().
hex(Id) -> iolist_to_binary(io_lib:format("~16.16.0b", [Id])).

last(Recs, infinity) -> Recs;
last(Recs, N) -> lists:nthtail(max(0, length(Recs) - N), Recs).

count(infinity) -> ?ALL;
count(N) -> N.
