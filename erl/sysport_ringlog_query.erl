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
-define(MAX_SEQ, 16#ffffffffffffffff).

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
        {ok, Boots} ->
            case last_records(Ctx, lists:reverse([B || #{boot := B} <- Boots, B =/= Boot]), 7, N, []) of
                {ok, Recs} -> Recs;
                {error, _} -> []
            end;
        {error, _} -> []
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
%% Earlier boots are read from the spool a chunk at a time, from the end
%% when the last records are asked for.
-spec get(map()) -> {ok, [record()]} | {error, term()}.
get(Opts) when is_map(Opts) ->
    case check(Opts) of
        {ok, #{boot := Sel, level := Level, count := Count} = O} ->
            Min = sysport_ringlog_codec:level_to_int(Level),
            with_context(
              fun(Ctx) ->
                      case {selected(Ctx, Sel), O} of
                          {{ok, Boots}, #{from_seq := From}} -> first_records(Ctx, Boots, From, Min, Count, []);
                          {{ok, Boots}, _} -> last_records(Ctx, lists:reverse(Boots), Min, Count, []);
                          {Error, _} -> Error
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
            Grep = sysport_ringlog_text:grep_start(M, {maps:get(before, O, 0), maps:get('after', O, 0)}),
            with_context(
              fun(Ctx) ->
                      Each = fun(Recs, G) -> {cont, sysport_ringlog_text:grep_chunk(Recs, G)} end,
                      case each_chunk(Ctx, Sel, Min, Each, Grep) of
                          {ok, G} -> {ok, sysport_ringlog_text:grep_result(G)};
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
              %% Written as read: a chunk of records at a time.
              sysport_file:write(
                Path,
                fun(Fd) ->
                        Each = fun(Recs, Prev) ->
                                       {Text, Boot} = sysport_ringlog_text:lines(Recs, F, Prev),
                                       case file:write(Fd, unicode:characters_to_binary(Text)) of
                                           ok -> {cont, Boot};
                                           Error -> {halt, Error}
                                       end
                               end,
                        case each_chunk(Ctx, all, 7, Each, undefined) of
                            {ok, {error, _} = Error} -> Error;
                            {ok, _} -> ok;
                            Error -> Error
                        end
                end)
      end).

%%% Gathering records

%% Which boots a selector means, oldest first, `current' for the one the
%% ring holds.
selected(Ctx, current) -> {ok, select(current, [], Ctx)};
selected(Ctx, Sel) ->
    case spool_boots(Ctx) of
        {ok, Boots} -> {ok, select(Sel, [B || #{boot := B} <- Boots], Ctx)};
        {error, _} when Sel =:= all -> {ok, [current]};
        {error, _} = E -> E
    end.

select(current, _Boots, _Ctx) -> [current];
select(all, Boots, #{boot := {Boot, _}}) -> [B || B <- Boots, B =/= Boot] ++ [current];
select(previous, Boots, #{boot := {Boot, _}}) ->
    case [B || B <- Boots, B =/= Boot] of
        [] -> [];
        Earlier -> [lists:last(Earlier)]
    end;
select(Hex, _Boots, #{boot := {_, Hex}}) when is_binary(Hex) -> [current];
select(Hex, Boots, _Ctx) when is_binary(Hex) ->
    [B || B <- Boots, hex(B) =:= Hex].

%% The first Count records from seq From on of each boot in turn.
first_records(_Ctx, _Boots, _From, _Min, 0, Acc) ->
    {ok, lists:append(lists:reverse(Acc))};
first_records(_Ctx, [], _From, _Min, _Count, Acc) ->
    {ok, lists:append(lists:reverse(Acc))};
first_records(#{boot := {_, Hex}} = Ctx, [current | Rest], From, Min, Count, Acc) ->
    Recs = [from_ring(E, Hex) || E <- sysport_ringlog_ring:from(From, count(Count), Min)],
    first_records(Ctx, Rest, From, Min, left(Count, Recs), [Recs | Acc]);
first_records(Ctx, [Boot | Rest], From, Min, Count, Acc) ->
    Q = #{boot => Boot, from => From, until => ?MAX_SEQ, min => Min, newest => false, count => Count},
    Keep = fun(Recs, {Left, Chunks}) ->
                   Kept = lists:sublist(Recs, count(Left)),
                   {case left(Left, Kept) of 0 -> halt; _ -> cont end, {left(Left, Kept), [Kept | Chunks]}}
           end,
    case fold(Ctx, Q, Keep, {Count, []}) of
        {ok, {Left, Chunks}} ->
            Recs = [from_spool(E, hex(Boot)) || E <- lists:append(lists:reverse(Chunks))],
            first_records(Ctx, Rest, From, Min, Left, [Recs | Acc]);
        Error -> Error
    end.

%% The last Count records of the boots, Boots newest first.
last_records(_Ctx, _Boots, _Min, 0, Acc) ->
    {ok, lists:append(Acc)};
last_records(_Ctx, [], _Min, _Count, Acc) ->
    {ok, lists:append(Acc)};
last_records(#{boot := {_, Hex}} = Ctx, [current | Rest], Min, Count, Acc) ->
    Recs = [from_ring(E, Hex) || E <- last(sysport_ringlog_ring:all(Min), Count)],
    last_records(Ctx, Rest, Min, left(Count, Recs), [Recs | Acc]);
last_records(Ctx, [Boot | Rest], Min, Count, Acc) ->
    Q = #{boot => Boot, from => 0, until => ?MAX_SEQ, min => Min, newest => true, count => Count},
    Keep = fun(Recs, {Left, Chunks}) ->
                   Kept = last(Recs, Left),
                   {case left(Left, Kept) of 0 -> halt; _ -> cont end, {left(Left, Kept), [Kept | Chunks]}}
           end,
    case fold(Ctx, Q, Keep, {Count, []}) of
        {ok, {Left, Chunks}} ->
            Recs = [from_spool(E, hex(Boot)) || E <- lists:append(Chunks)],
            last_records(Ctx, Rest, Min, Left, [Recs | Acc]);
        Error -> Error
    end.

%% Fun(Records, Acc) -> {cont | halt, Acc} over every record of the boots
%% Sel means, oldest first, a chunk at a time.
each_chunk(Ctx, Sel, Min, Fun, Acc) ->
    case selected(Ctx, Sel) of
        {ok, Boots} -> each_boot(Ctx, Boots, Min, Fun, {cont, Acc});
        Error -> Error
    end.

each_boot(_Ctx, _Boots, _Min, _Fun, {halt, Acc}) -> {ok, Acc};
each_boot(_Ctx, [], _Min, _Fun, {cont, Acc}) -> {ok, Acc};
each_boot(#{boot := {_, Hex}} = Ctx, [current | Rest], Min, Fun, {cont, Acc}) ->
    each_boot(Ctx, Rest, Min, Fun, Fun([from_ring(E, Hex) || E <- sysport_ringlog_ring:all(Min)], Acc));
each_boot(Ctx, [Boot | Rest], Min, Fun, {cont, Acc}) ->
    Q = #{boot => Boot, from => 0, until => ?MAX_SEQ, min => Min, newest => false, count => infinity},
    Decoded = fun(Entries, {_, A}) ->
                      Next = Fun([from_spool(E, hex(Boot)) || E <- Entries], A),
                      {element(1, Next), Next}
              end,
    case fold(Ctx, Q, Decoded, {cont, Acc}) of
        {ok, Next} -> each_boot(Ctx, Rest, Min, Fun, Next);
        Error -> Error
    end.

fold(#{port := undefined}, _Q, _Fun, _Acc) -> {error, spool_down};
fold(#{port := Port}, Q, Fun, Acc) -> sysport_ringlog_spool:fold(Port, Q, Fun, Acc, sysport_service:timeout(sysport_ringlog)).

left(infinity, _) -> infinity;
left(N, Recs) -> N - length(Recs).

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
