%% @doc The in-memory ring: records in four ETS tables, one per level class
%% (error and worse, warning, notice and info, debug), bounded together in
%% bytes and in records. Each class has a share of both budgets; a class
%% may use space the others leave free, but when the ring is full the
%% record evicted is the oldest of the class furthest over its share. So a
%% debug flood evicts debug records, never the errors logged before it.
%%
%% The owner (the sysport_ringlog server) inserts; any process reads the
%% tables directly, so queries never wait behind logging.
-module(sysport_ringlog_ring).

-export([new/1, configure/2, insert/6, stats/1, last/2, from/3, all/1]).
-export_type([ring/0, entry/0, opts/0]).

-type entry() :: {Seq :: pos_integer(), Level :: 0..7, Wall :: integer(), Mono :: integer(),
                  Payload :: binary()}.
-type opts() :: #{ring_bytes := pos_integer(), ring_records := pos_integer(),
                  ring_shares := #{class() => number()}, atom() => term()}.
-type class() :: error | warning | info | debug.

%% What a record costs beyond its payload: the ETS tuple and tree node and
%% the binary's header (measured in the bench, `ring memory per 10,000').
-define(OVERHEAD, 120).
-define(TABLES, {sysport_ringlog_error, sysport_ringlog_warning, sysport_ringlog_info,
                 sysport_ringlog_debug}).

-record(ring, {max_bytes :: pos_integer(),
               max_records :: pos_integer(),
               %% per class (error, warning, info, debug): {Bytes, Records}
               quota = {{0, 0}, {0, 0}, {0, 0}, {0, 0}} :: tuple(),
               used = {{0, 0}, {0, 0}, {0, 0}, {0, 0}} :: tuple(),
               bytes = 0 :: non_neg_integer(),
               records = 0 :: non_neg_integer(),
               evicted = 0 :: non_neg_integer()}).
-opaque ring() :: #ring{}.

%% @doc Creates the tables (named, owned by the caller).
-spec new(opts()) -> ring().
new(Opts) ->
    _ = [ets:new(T, [ordered_set, protected, named_table]) || T <- tuple_to_list(?TABLES)],
    configure(#ring{max_bytes = 1, max_records = 1}, Opts).

%% @doc New budgets; the ring shrinks to them at once.
-spec configure(ring(), opts()) -> ring().
configure(Ring, #{ring_bytes := Bytes, ring_records := Records, ring_shares := Shares}) ->
    Total = lists:sum([maps:get(C, Shares, 0) || C <- classes()]),
    Quota = list_to_tuple([{Bytes * maps:get(C, Shares, 0) / Total, Records * maps:get(C, Shares, 0) / Total}
                           || C <- classes()]),
    evict(Ring#ring{max_bytes = Bytes, max_records = Records, quota = Quota}).

-spec insert(ring(), pos_integer(), 0..7, integer(), integer(), binary()) -> ring().
insert(#ring{used = Used} = Ring, Seq, Level, Wall, Mono, Payload) ->
    C = class(Level),
    Size = byte_size(Payload) + ?OVERHEAD,
    true = ets:insert(element(C, ?TABLES), {Seq, Level, Wall, Mono, Payload}),
    {B, R} = element(C, Used),
    evict(Ring#ring{used = setelement(C, Used, {B + Size, R + 1}),
                    bytes = Ring#ring.bytes + Size, records = Ring#ring.records + 1}).

evict(#ring{bytes = B, records = R, max_bytes = MaxB, max_records = MaxR} = Ring)
  when B =< MaxB, R =< MaxR ->
    Ring;
evict(#ring{used = Used} = Ring) ->
    C = furthest_over(Ring),
    T = element(C, ?TABLES),
    [{_, _, _, _, Payload}] = ets:take(T, ets:first(T)),
    Size = byte_size(Payload) + ?OVERHEAD,
    {B, R} = element(C, Used),
    evict(Ring#ring{used = setelement(C, Used, {B - Size, R - 1}), bytes = Ring#ring.bytes - Size,
                    records = Ring#ring.records - 1, evicted = Ring#ring.evicted + 1}).

%% The non-empty class using the most of its share (of bytes or records).
furthest_over(#ring{used = Used, quota = Quota}) ->
    Ratios = [{ratio(element(C, Used), element(C, Quota)), C}
              || C <- [1, 2, 3, 4], element(2, element(C, Used)) > 0],
    {_, C} = lists:max(Ratios),
    C.

ratio({B, R}, {QB, QR}) ->
    max(over(B, QB), over(R, QR)).

over(_, Q) when Q == 0 -> infinity_ratio();
over(N, Q) -> N / Q.

infinity_ratio() -> 1.0e300.

-spec stats(ring()) -> map().
stats(#ring{} = Ring) ->
    Classes = maps:from_list(
                [{Name, #{bytes => B, records => R, share_bytes => round(QB), share_records => round(QR)}}
                 || {I, Name} <- lists:zip([1, 2, 3, 4], classes()),
                    {B, R} <- [element(I, Ring#ring.used)], {QB, QR} <- [element(I, Ring#ring.quota)]]),
    #{bytes => Ring#ring.bytes, records => Ring#ring.records, max_bytes => Ring#ring.max_bytes,
      max_records => Ring#ring.max_records, evicted => Ring#ring.evicted, classes => Classes}.

%%% Reading (any process)

%% @doc The last N entries at MinLevel or more severe, oldest first.
-spec last(non_neg_integer(), 0..7) -> [entry()].
last(N, MinLevel) ->
    Lists = [last_of(T, ets:last(T), N, MinLevel, []) || T <- tables(MinLevel)],
    Newest = lists:sort(fun(A, B) -> element(1, A) >= element(1, B) end, lists:append(Lists)),
    lists:reverse(lists:sublist(Newest, N)).

last_of(_T, '$end_of_table', _N, _Min, Acc) -> lists:reverse(Acc);
last_of(_T, _Key, 0, _Min, Acc) -> lists:reverse(Acc);
last_of(T, Key, N, Min, Acc) ->
    case ets:lookup(T, Key) of
        [{_, L, _, _, _} = E] when L =< Min -> last_of(T, ets:prev(T, Key), N - 1, Min, [E | Acc]);
        _ -> last_of(T, ets:prev(T, Key), N, Min, Acc)
    end.

%% @doc Up to N entries with seq >= Seq at MinLevel or more severe, in order.
-spec from(non_neg_integer(), non_neg_integer(), 0..7) -> [entry()].
from(Seq, N, MinLevel) ->
    Lists = [from_of(T, ets:next(T, Seq - 1), N, MinLevel, []) || T <- tables(MinLevel)],
    lists:sublist(lists:merge(Lists), N).

from_of(_T, '$end_of_table', _N, _Min, Acc) -> lists:reverse(Acc);
from_of(_T, _Key, 0, _Min, Acc) -> lists:reverse(Acc);
from_of(T, Key, N, Min, Acc) ->
    case ets:lookup(T, Key) of
        [{_, L, _, _, _} = E] when L =< Min -> from_of(T, ets:next(T, Key), N - 1, Min, [E | Acc]);
        _ -> from_of(T, ets:next(T, Key), N, Min, Acc)
    end.

%% @doc Every entry at MinLevel or more severe, in order.
-spec all(0..7) -> [entry()].
all(MinLevel) ->
    lists:merge([[E || {_, L, _, _, _} = E <- ets:tab2list(T), L =< MinLevel] || T <- tables(MinLevel)]).

%% Only the tables that can hold records at MinLevel or more severe.
tables(MinLevel) ->
    [element(C, ?TABLES) || C <- lists:seq(1, class(MinLevel))].

class(L) when L =< 3 -> 1;
class(4) -> 2;
class(L) when L =< 6 -> 3;
class(_) -> 4.

classes() -> [error, warning, info, debug].
