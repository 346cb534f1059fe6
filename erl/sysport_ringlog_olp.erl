%% @doc Overload protection for the ring log handler, as OTP's logger
%% handlers do it (logger_olp) and with the same option names and
%% defaults (but for the burst limit's count, see sysport_ringlog): the
%% server's message queue length switches logging processes
%% between async (send and go on), sync (wait until the record is stored)
%% and drop (do not send at all); over flush_qlen the server discards the
%% log messages queued; a burst limit caps records per time window.
%%
%% Unlike logger_olp (whose drop counters are compiled out of production
%% builds), every record not stored is counted here, so the server can
%% log how many were lost. Records at error level and above are exempt
%% from the burst limit: a flood of debug must not hide the error that
%% explains it.
%% @private
-module(sysport_ringlog_olp).

-export([new/1, configure/2, refs/1, caller_mode/1, caller_dropped/1, check/2, burst/3,
         flush_mailbox/1, counts/1, unreported/1, reported/1]).
-export_type([olp/0, refs/0, opts/0]).

-type opts() :: #{sync_mode_qlen := non_neg_integer(), drop_mode_qlen := pos_integer(),
                  flush_qlen := pos_integer(), burst_limit_enable := boolean(),
                  burst_limit_max_count := pos_integer(), burst_limit_window_time := pos_integer(),
                  atom() => term()}.
-type mode() :: async | sync | drop.
-opaque refs() :: {atomics:atomics_ref(), counters:counters_ref()}.

-define(FLUSH_MAX, 5000).

-record(olp, {refs :: refs(),
              mode = async :: mode(),
              opts :: opts(),
              window_start = 0 :: integer(),
              window_count = 0 :: non_neg_integer(),
              flushed = 0 :: non_neg_integer(),
              burst = 0 :: non_neg_integer(),
              reported = 0 :: non_neg_integer()}).
-opaque olp() :: #olp{}.

-spec new(opts()) -> olp().
new(Opts) ->
    #olp{refs = {atomics:new(1, []), counters:new(1, [write_concurrency])}, opts = Opts,
         window_start = erlang:monotonic_time(millisecond)}.

-spec configure(olp(), opts()) -> olp().
configure(Olp, Opts) ->
    Olp#olp{opts = Opts}.

%% @doc What the logging processes need: they live in the handler config.
-spec refs(olp()) -> refs().
refs(#olp{refs = Refs}) -> Refs.

%%% In the logging process

-spec caller_mode(refs()) -> mode().
caller_mode({Mode, _}) ->
    case atomics:get(Mode, 1) of
        0 -> async;
        1 -> sync;
        _ -> drop
    end.

-spec caller_dropped(refs()) -> ok.
caller_dropped({_, Dropped}) ->
    counters:add(Dropped, 1, 1).

%%% In the server

%% @doc Sets the mode from the queue length; `flush' means: discard the
%% queued log messages now (flush_mailbox/1). Callers drop while the
%% server flushes: were they sending, the queue would refill as fast as
%% it is emptied and nothing would be stored at all.
-spec check(non_neg_integer(), olp()) -> {mode() | flush, olp()}.
check(QLen, #olp{opts = #{flush_qlen := F}} = Olp) when QLen >= F ->
    {flush, set_mode(drop, Olp)};
check(QLen, #olp{opts = #{drop_mode_qlen := D}} = Olp) when QLen >= D ->
    {drop, set_mode(drop, Olp)};
check(QLen, #olp{opts = #{sync_mode_qlen := S}} = Olp) when QLen >= S ->
    {sync, set_mode(sync, Olp)};
check(_QLen, Olp) ->
    {async, set_mode(async, Olp)}.

set_mode(Mode, #olp{mode = Mode} = Olp) ->
    Olp;
set_mode(Mode, #olp{refs = {Ref, _}} = Olp) ->
    atomics:put(Ref, 1, case Mode of async -> 0; sync -> 1; drop -> 2 end),
    Olp#olp{mode = Mode}.

%% @doc Whether a record at Level may be stored within the burst limit.
-spec burst(0..7, integer(), olp()) -> {boolean(), olp()}.
burst(_Level, _Now, #olp{opts = #{burst_limit_enable := false}} = Olp) ->
    {true, Olp};
burst(Level, Now, #olp{opts = #{burst_limit_window_time := Window, burst_limit_max_count := Max},
                       window_start = Start, window_count = Count} = Olp) ->
    if
        Now - Start >= Window -> {true, Olp#olp{window_start = Now, window_count = 1}};
        Count < Max -> {true, Olp#olp{window_count = Count + 1}};
        Level =< 3 -> {true, Olp};
        true -> {false, Olp#olp{burst = Olp#olp.burst + 1}}
    end.

%% @doc Discards queued log messages (answering waiting callers), at most
%% a bounded number so the server stays responsive; returns how many, and
%% the mode set from what is left in the queue.
-spec flush_mailbox(olp()) -> {non_neg_integer(), olp()}.
flush_mailbox(Olp) ->
    N = flush(0),
    {message_queue_len, QLen} = process_info(self(), message_queue_len),
    {_, Olp1} = check(min(QLen, maps:get(flush_qlen, Olp#olp.opts) - 1), Olp),
    {N, Olp1#olp{flushed = Olp1#olp.flushed + N}}.

flush(?FLUSH_MAX) -> ?FLUSH_MAX;
flush(N) ->
    receive
        {'$ringlog', _, _, _, _} -> flush(N + 1);
        {'$gen_call', From, {'$ringlog', _, _, _, _}} ->
            gen_server:reply(From, dropped),
            flush(N + 1)
    after 0 -> N
    end.

%% @doc Records not stored, by cause.
-spec counts(olp()) -> #{overload := non_neg_integer(), flushed := non_neg_integer(),
                         burst := non_neg_integer(), total := non_neg_integer(), mode := mode()}.
counts(#olp{refs = {_, Dropped}, flushed = F, burst = B, mode = Mode}) ->
    O = counters:get(Dropped, 1),
    #{overload => O, flushed => F, burst => B, total => O + F + B, mode => Mode}.

%% @doc Drops not yet reported in a warning record.
-spec unreported(olp()) -> non_neg_integer().
unreported(#olp{reported = R} = Olp) ->
    maps:get(total, counts(Olp)) - R.

-spec reported(olp()) -> olp().
reported(Olp) ->
    Olp#olp{reported = maps:get(total, counts(Olp))}.
