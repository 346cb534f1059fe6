%% @doc The in-memory ring: records of four level classes (error and
%% worse, warning, notice and info, debug), bounded together in bytes and
%% in records. Each class has a share of both budgets; a class may use
%% space the others leave free, but when the ring is full the records
%% evicted are the oldest of the class furthest over its share. So a debug
%% flood evicts debug records, never the errors logged before it.
%%
%% Each class keeps its newest records loose (one ETS row each) and packs
%% every ?PACK of them into one binary segment (another table), so a record
%% costs its payload plus a 27-byte header rather than an ETS row and a
%% binary of its own.
%%
%% The owner (the sysport_ringlog server) writes; any process reads the
%% tables directly, so queries never wait behind logging. The owner packs
%% by inserting the segment before deleting the loose rows, and readers
%% read the loose rows before the segments and drop duplicates: a query
%% running during a pack sees every record once.
%% @private
-module(sysport_ringlog_ring).

-export([new/1, configure/2, insert/6, stats/1, last/2, from/3, all/1]).
-export_type([ring/0, entry/0, opts/0]).

-type entry() :: {Seq :: pos_integer(), Level :: 0..7, Wall :: integer(), Mono :: integer(),
                  Payload :: binary()}.
-type opts() :: #{ring_bytes := pos_integer(), ring_records := pos_integer(),
                  ring_shares := #{class() => number()}, atom() => term()}.
-type class() :: error | warning | info | debug.

-define(PACK, 32).
%% Bytes a loose record costs beyond its payload (ETS row, tuple, binary
%% header), and a segment beyond its binary; measured with the bench's
%% `ring memory per 10,000 records'.
-define(LOOSE_OVERHEAD, 160).
-define(SEGMENT_OVERHEAD, 160).
-define(ENTRY_HEADER, 27).
-define(LOOSE, {sysport_ringlog_error, sysport_ringlog_warning, sysport_ringlog_info, sysport_ringlog_debug}).
-define(PACKED, {sysport_ringlog_error_p, sysport_ringlog_warning_p, sysport_ringlog_info_p,
                 sysport_ringlog_debug_p}).

-record(ring, {max_bytes :: pos_integer(),
               max_records :: pos_integer(),
               %% per class (error, warning, info, debug): {Bytes, Records}
               quota = {{0, 0}, {0, 0}, {0, 0}, {0, 0}} :: tuple(),
               used = {{0, 0}, {0, 0}, {0, 0}, {0, 0}} :: tuple(),
               loose = {0, 0, 0, 0} :: tuple(),
               bytes = 0 :: non_neg_integer(),
               records = 0 :: non_neg_integer(),
               evicted = 0 :: non_neg_integer()}).
-opaque ring() :: #ring{}.

%% @doc Creates the tables (named, owned by the caller).
-spec new(opts()) -> ring().
new(Opts) ->
    _ = [ets:new(T, [ordered_set, protected, named_table])
         || T <- tuple_to_list(?LOOSE) ++ tuple_to_list(?PACKED)],
    configure(#ring{max_bytes = 1, max_records = 1}, Opts).

%% @doc New budgets; the ring shrinks to them at once.
-spec configure(ring(), opts()) -> ring().
configure(Ring, #{ring_bytes := Bytes, ring_records := Records, ring_shares := Shares}) ->
    Total = lists:sum([maps:get(C, Shares, 0) || C <- classes()]),
    Quota = list_to_tuple([{Bytes * maps:get(C, Shares, 0) / Total, Records * maps:get(C, Shares, 0) / Total}
                           || C <- classes()]),
    evict(Ring#ring{max_bytes = Bytes, max_records = Records, quota = Quota}).

-spec insert(ring(), pos_integer(), 0..7, integer(), integer(), binary()) -> ring().
insert(#ring{used = Used, loose = Loose} = Ring, Seq, Level, Wall, Mono, Payload) ->
    C = class(Level),
    Size = byte_size(Payload) + ?LOOSE_OVERHEAD,
    true = ets:insert(element(C, ?LOOSE), {Seq, Level, Wall, Mono, Payload}),
    Ring1 = Ring#ring{used = add(C, Used, Size, 1), loose = setelement(C, Loose, element(C, Loose) + 1),
                      bytes = Ring#ring.bytes + Size, records = Ring#ring.records + 1},
    evict(case element(C, Loose) + 1 of
              ?PACK -> pack(C, Ring1);
              _ -> Ring1
          end).

%% The class's loose records become one segment: inserted first, then the
%% loose rows go (see the module doc for why in that order).
pack(C, #ring{used = Used, loose = Loose} = Ring) ->
    LooseT = element(C, ?LOOSE),
    Rows = ets:tab2list(LooseT),
    Bin = << <<S:64, L:8, W:64/signed, M:64/signed, (byte_size(P)):16, P/binary>> || {S, L, W, M, P} <- Rows >>,
    {Last, _, _, _, _} = lists:last(Rows),
    true = ets:insert(element(C, ?PACKED), {Last, length(Rows), Bin}),
    true = ets:delete_all_objects(LooseT),
    Was = lists:sum([byte_size(P) + ?LOOSE_OVERHEAD || {_, _, _, _, P} <- Rows]),
    Now = byte_size(Bin) + ?SEGMENT_OVERHEAD,
    Ring#ring{used = add(C, Used, Now - Was, 0), loose = setelement(C, Loose, 0),
              bytes = Ring#ring.bytes + Now - Was}.

add(C, Used, Bytes, Records) ->
    {B, R} = element(C, Used),
    setelement(C, Used, {B + Bytes, R + Records}).

evict(#ring{bytes = B, records = R, max_bytes = MaxB, max_records = MaxR} = Ring)
  when B =< MaxB, R =< MaxR ->
    Ring;
evict(#ring{used = Used} = Ring) ->
    C = furthest_over(Ring),
    {Bytes, Records, Ring1} = evict_oldest(C, Ring),
    evict(Ring1#ring{used = add(C, Used, -Bytes, -Records), bytes = Ring#ring.bytes - Bytes,
                     records = Ring#ring.records - Records, evicted = Ring#ring.evicted + Records}).

%% Segments are older than the loose rows: the oldest segment goes whole.
evict_oldest(C, #ring{loose = Loose} = Ring) ->
    PackedT = element(C, ?PACKED),
    case ets:first(PackedT) of
        '$end_of_table' ->
            LooseT = element(C, ?LOOSE),
            [{_, _, _, _, P}] = ets:take(LooseT, ets:first(LooseT)),
            {byte_size(P) + ?LOOSE_OVERHEAD, 1, Ring#ring{loose = setelement(C, Loose, element(C, Loose) - 1)}};
        Key ->
            [{_, Count, Bin}] = ets:take(PackedT, Key),
            {byte_size(Bin) + ?SEGMENT_OVERHEAD, Count, Ring}
    end.

%% The non-empty class using the most of its share (of bytes or records).
furthest_over(#ring{used = Used, quota = Quota}) ->
    Ratios = [{ratio(element(C, Used), element(C, Quota)), C}
              || C <- [1, 2, 3, 4], element(2, element(C, Used)) > 0],
    {_, C} = lists:max(Ratios),
    C.

ratio({B, R}, {QB, QR}) ->
    max(over(B, QB), over(R, QR)).

over(_, Q) when Q == 0 -> 1.0e300;
over(N, Q) -> N / Q.

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
    Newest = lists:append([last_of(C, N, MinLevel) || C <- classes_for(MinLevel)]),
    lists:reverse(lists:sublist(lists:sort(fun(A, B) -> element(1, A) >= element(1, B) end, Newest), N)).

last_of(C, N, Min) ->
    LooseT = element(C, ?LOOSE),
    Loose = walk(LooseT, ets:last(LooseT), fun ets:prev/2, N, Min, []),
    Oldest = case Loose of [] -> infinity; _ -> element(1, lists:last(Loose)) end,
    Loose ++ back_packed(element(C, ?PACKED), ets:last(element(C, ?PACKED)), N - length(Loose), Min, Oldest).

%% Up to N loose rows at Min or more severe, from Key on, in the direction
%% Step (ets:next/2 or ets:prev/2) takes.
walk(_T, '$end_of_table', _Step, _N, _Min, Acc) -> lists:reverse(Acc);
walk(_T, _Key, _Step, 0, _Min, Acc) -> lists:reverse(Acc);
walk(T, Key, Step, N, Min, Acc) ->
    case ets:lookup(T, Key) of
        [{_, L, _, _, _} = E] when L =< Min -> walk(T, Step(T, Key), Step, N - 1, Min, [E | Acc]);
        _ -> walk(T, Step(T, Key), Step, N, Min, Acc)
    end.

%% Newest first, only records older than Below (those not seen loose).
back_packed(_T, '$end_of_table', _N, _Min, _Below) -> [];
back_packed(_T, _Key, N, _Min, _Below) when N =< 0 -> [];
back_packed(T, Key, N, Min, Below) ->
    Es = case ets:lookup(T, Key) of
             [{_, _, Bin}] -> lists:reverse([E || {S, L, _, _, _} = E <- unpack(Bin), L =< Min, S < Below]);
             [] -> []
         end,
    Took = lists:sublist(Es, N),
    Took ++ back_packed(T, ets:prev(T, Key), N - length(Took), Min, Below).

%% @doc Up to N entries with seq >= Seq at MinLevel or more severe, in order.
-spec from(non_neg_integer(), non_neg_integer(), 0..7) -> [entry()].
from(Seq, N, MinLevel) ->
    lists:sublist(lists:merge([from_class(C, Seq, N, MinLevel) || C <- classes_for(MinLevel)]), N).

from_class(C, Seq, N, Min) ->
    LooseT = element(C, ?LOOSE),
    Loose = walk(LooseT, ets:next(LooseT, Seq - 1), fun ets:next/2, N, Min, []),  % loose first: see the module doc
    PackedT = element(C, ?PACKED),
    Packed = forward_packed(PackedT, ets:next(PackedT, Seq - 1), Seq, N, Min),
    lists:sublist(dedup(lists:merge(Loose, Packed)), N).

%% Segments are keyed by their last seq: the first with a key >= Seq holds
%% the first record wanted.
forward_packed(_T, '$end_of_table', _Seq, _N, _Min) -> [];
forward_packed(_T, _Key, _Seq, N, _Min) when N =< 0 -> [];
forward_packed(T, Key, Seq, N, Min) ->
    Es = case ets:lookup(T, Key) of
             [{_, _, Bin}] -> [E || {S, L, _, _, _} = E <- unpack(Bin), S >= Seq, L =< Min];
             [] -> []
         end,
    Took = lists:sublist(Es, N),
    Took ++ forward_packed(T, ets:next(T, Key), Seq, N - length(Took), Min).

%% @doc Every entry at MinLevel or more severe, in order.
-spec all(0..7) -> [entry()].
all(MinLevel) ->
    lists:merge([begin
                     Loose = ets:tab2list(element(C, ?LOOSE)),
                     Packed = lists:append([unpack(B) || {_, _, B} <- ets:tab2list(element(C, ?PACKED))]),
                     [E || {_, L, _, _, _} = E <- dedup(lists:merge(Loose, Packed)), L =< MinLevel]
                 end || C <- classes_for(MinLevel)]).

unpack(<<S:64, L:8, W:64/signed, M:64/signed, Len:16, P:Len/binary, Rest/binary>>) ->
    [{S, L, W, M, P} | unpack(Rest)];
unpack(<<>>) ->
    [].

%% A record seen both loose and packed (read during a pack) counts once.
dedup([{S, _, _, _, _} = E, {S, _, _, _, _} | Rest]) -> dedup([E | Rest]);
dedup([E | Rest]) -> [E | dedup(Rest)];
dedup([]) -> [].

%% Only the classes that can hold records at MinLevel or more severe.
classes_for(MinLevel) ->
    lists:seq(1, class(MinLevel)).

class(L) when L =< 3 -> 1;
class(4) -> 2;
class(L) when L =< 6 -> 3;
class(_) -> 4.

classes() -> [error, warning, info, debug].
