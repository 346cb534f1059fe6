%% Issue 6: the ring log against OTP's logger_std_h (writing a file) and
%% logger_disk_log_h, with the same messages, the same overload settings
%% and the same sync interval (1 s): every handler keeps every record
%% (overload only switches callers to sync mode, never drops), and each
%% makes its records durable once a second.
-module(ringlog_bench).
-export([rows/1]).

-define(PROCS, 8).
-define(ROUNDS, 3). % interleaved; each figure is the median of the rounds
-define(CALLS, 20000).
-define(OLP, #{sync_mode_qlen => 10, drop_mode_qlen => 100000000, flush_qlen => 100000001,
               burst_limit_enable => false}).

rows(#{root := Root, helper_dir := HelperDir, testhelper := TestHelper}) ->
    application:set_env(sysport, helper_dir, HelperDir),
    Dir = filename:join([Root, "_build", "bench", "ringlog"]),
    _ = file:del_dir_r(Dir),
    ok = filelib:ensure_path(Dir),
    sysport_bench:without_console_logger(
      fun() ->
              Rounds = [{run_std(Dir, R), run_disk_log(Dir, R), run_ringlog(Dir, R, TestHelper ++ ".stripped")}
                        || R <- lists:seq(1, ?ROUNDS)],
              Std = median([S || {S, _, _} <- Rounds]),
              Disk = median([D || {_, D, _} <- Rounds]),
              Ring = median([R || {_, _, {R, _, _}} <- Rounds]),
              {_, _, {_, Memory, Rss}} = lists:last(Rounds),
              Wa = write_amplification(Dir),
              Idle = idle(Dir),
              throughput_rows(Ring, Std, Disk) ++ Memory ++ Wa ++ Rss ++ Idle
      end).

%%% The three handlers, one at a time

run_std(Dir, Round) ->
    File = filename:join(Dir, "std" ++ integer_to_list(Round) ++ ".log"),
    ok = logger:add_handler(bench_std, logger_std_h,
                            #{config => ?OLP#{file => File, filesync_repeat_interval => 1000}}),
    R = measure(),
    logger_std_h:filesync(bench_std),
    ok = logger:remove_handler(bench_std),
    R#{stored => lines(File)}.

run_disk_log(Dir, Round) ->
    File = filename:join(Dir, "disk" ++ integer_to_list(Round) ++ ".log"),
    ok = logger:add_handler(bench_disk, logger_disk_log_h,
                            #{config => ?OLP#{file => File, type => wrap, max_no_files => 10,
                                              max_no_bytes => 100 bsl 20, filesync_repeat_interval => 1000}}),
    R = measure(),
    logger_disk_log_h:filesync(bench_disk),
    ok = logger:remove_handler(bench_disk),
    R#{stored => lists:sum([lines(F) || F <- filelib:wildcard(File ++ ".[0-9]*")])}.

run_ringlog(Dir, Round, TestHelper) ->
    {ok, Pid} = sysport_ringlog:start_link(
                  ?OLP#{spool_file => filename:join(Dir, "ring" ++ integer_to_list(Round) ++ ".spool")}),
    unlink(Pid),
    #{last_seq := Seq0} = status(),
    Helper = helper_pid(),
    RssStart = rss(Helper),
    R = measure(),
    {ok, _} = sysport_ringlog:sync(),
    #{last_seq := Seq1, counters := #{total := Dropped}} = status(),
    RssLoaded = rss(Helper),
    Private = private_kb(Helper),
    Memory = ring_memory(),
    %% An empty helper, for scale: most of a helper's RSS is libc's shared
    %% pages, and how many of them are mapped depends on the page cache.
    {ok, Empty} = sysport_port:start_link(#{helper => TestHelper}),
    timer:sleep(200),
    EmptyRss = rss(maps:get(os_pid, sysport_port:stats(Empty))),
    sysport_port:stop(Empty),
    sysport_ringlog:stop(),
    Rss = [#{bench => "spool helper RSS after start / after the throughput run (private part)",
             sysport => sysport_bench:fmt("~b / ~b KiB (~b KiB)", [RssStart, RssLoaded, Private]),
             peer => sysport_bench:fmt("~b KiB (empty test helper)", [EmptyRss]),
             ratio => RssLoaded / EmptyRss, goal => "<= 1536 KiB", ok => max(RssStart, RssLoaded) =< 1536,
             cmd => "VmRSS in /proc/PID/status; Private_* in /proc/PID/smaps_rollup"}],
    {R#{stored => Seq1 - Seq0, dropped => Dropped}, Memory, Rss}.

%% The median of each figure over the rounds; what was kept, the worst.
median(Runs) ->
    Mid = fun(K) -> lists:nth((length(Runs) + 1) div 2, lists:sort([maps:get(K, R) || R <- Runs])) end,
    Kept = lists:min([maps:get(stored, R) || R <- Runs]),
    (hd(Runs))#{rate => Mid(rate), p50 => Mid(p50), p99 => Mid(p99), stored => Kept,
                dropped => lists:max([maps:get(dropped, R, 0) || R <- Runs])}.

%% 8 processes log ?CALLS records each, as fast as they can; each call is
%% timed in the caller.
measure() ->
    Text = "some ordinary text for a log line, about sixty characters.",
    Worker = fun(W, N) -> [begin
                               T0 = erlang:monotonic_time(nanosecond),
                               logger:notice("bench worker ~b message ~b: ~s", [W, I, Text]),
                               erlang:monotonic_time(nanosecond) - T0
                           end || I <- lists:seq(1, N)]
             end,
    _ = Worker(0, 2000), % warm up
    Self = self(),
    T0 = erlang:monotonic_time(microsecond),
    Pids = [spawn_link(fun() -> Self ! {done, self(), Worker(W, ?CALLS)} end) || W <- lists:seq(1, ?PROCS)],
    Lat = lists:sort(lists:append([receive {done, P, L} -> L end || P <- Pids])),
    Secs = (erlang:monotonic_time(microsecond) - T0) / 1.0e6,
    #{rate => ?PROCS * ?CALLS / Secs, p50 => sysport_bench:percentile(Lat, 0.5) / 1000,
      p99 => sysport_bench:percentile(Lat, 0.99) / 1000, calls => ?PROCS * ?CALLS + 2000}.

throughput_rows(Ring, Std, Disk) ->
    Cmd = "ringlog_bench:measure (8 procs x 20000 logger:notice, sync 1 s, no drops; median of 3)",
    Kept = fun(#{stored := S, calls := C}) -> sysport_bench:fmt("~b/~b kept", [S, C]) end,
    [#{bench => "log calls/s from 8 processes vs logger_std_h (file)",
       sysport => sysport_bench:fmt("~b/s (~s)", [round(maps:get(rate, Ring)), Kept(Ring)]),
       peer => sysport_bench:fmt("~b/s (~s)", [round(maps:get(rate, Std)), Kept(Std)]),
       ratio => maps:get(rate, Ring) / maps:get(rate, Std), goal => ">= 2x",
       ok => maps:get(rate, Ring) >= 2 * maps:get(rate, Std) andalso maps:get(dropped, Ring) =:= 0,
       cmd => Cmd},
     #{bench => "log calls/s from 8 processes vs logger_disk_log_h",
       sysport => sysport_bench:fmt("~b/s", [round(maps:get(rate, Ring))]),
       peer => sysport_bench:fmt("~b/s (~s)", [round(maps:get(rate, Disk)), Kept(Disk)]),
       ratio => maps:get(rate, Ring) / maps:get(rate, Disk), goal => "(reported)", ok => true, cmd => Cmd},
     #{bench => "caller latency p50 vs logger_std_h",
       sysport => sysport_bench:fmt("~.1f us", [maps:get(p50, Ring)]),
       peer => sysport_bench:fmt("~.1f us", [maps:get(p50, Std)]),
       ratio => maps:get(p50, Ring) / maps:get(p50, Std), goal => "<= 1x",
       ok => maps:get(p50, Ring) =< maps:get(p50, Std), cmd => Cmd},
     #{bench => "caller latency p99 vs logger_std_h",
       sysport => sysport_bench:fmt("~.1f us", [maps:get(p99, Ring)]),
       peer => sysport_bench:fmt("~.1f us", [maps:get(p99, Std)]),
       ratio => maps:get(p99, Ring) / maps:get(p99, Std), goal => "<= 1x",
       ok => maps:get(p99, Ring) =< maps:get(p99, Std), cmd => Cmd},
     #{bench => "caller latency p50 / p99 vs logger_disk_log_h",
       sysport => sysport_bench:fmt("~.1f / ~.1f us", [maps:get(p50, Ring), maps:get(p99, Ring)]),
       peer => sysport_bench:fmt("~.1f / ~.1f us", [maps:get(p50, Disk), maps:get(p99, Disk)]),
       ratio => maps:get(p50, Ring) / maps:get(p50, Disk), goal => "(reported)", ok => true, cmd => Cmd}].

%%% Memory of the ring per 10,000 records, against what a ring of
%%% formatted lines (RingLogger's way) takes for the same records.

ring_memory() ->
    Entries = sysport_ringlog_ring:all(7),
    N = length(Entries),
    Tables = [sysport_ringlog_error, sysport_ringlog_warning, sysport_ringlog_info, sysport_ringlog_debug],
    Words = lists:sum([ets:info(T, memory) || T <- Tables]),
    %% Payloads over 64 bytes live outside the table (shared binaries).
    OffHeap = lists:sum([byte_size(P) || {_, _, _, _, P} <- Entries, byte_size(P) > 64]),
    Ours = (Words * erlang:system_info(wordsize) + OffHeap) * 10000 / max(1, N),
    {ok, Boot} = sysport_ringlog_query:context(),
    {_, Hex} = maps:get(boot, Boot),
    Lines = [iolist_to_binary(logger_formatter:format(event(sysport_ringlog_codec:decode({S, Hex, W, M, L, P})), #{}))
             || {S, L, W, M, P} <- Entries],
    Q = queue:from_list(Lines),
    Peer = (erts_debug:size(Q) * erlang:system_info(wordsize) +
                lists:sum([byte_size(B) || B <- Lines, byte_size(B) > 64])) * 10000 / max(1, N),
    [#{bench => "ring memory per 10,000 records vs a queue of formatted lines",
       sysport => sysport_bench:fmt("~b KiB", [round(Ours / 1024)]),
       peer => sysport_bench:fmt("~b KiB", [round(Peer / 1024)]),
       ratio => Ours / Peer, goal => "(reported)", ok => true,
       cmd => "ets:info(memory) + payloads vs erts_debug:size(queue of logger_formatter lines)"}].

event(#{level := L, msg := Msg, time := T}) ->
    #{level => L, msg => {string, Msg}, meta => #{time => T}}.

%%% Write amplification at steady state with the defaults

write_amplification(Dir) ->
    {ok, Pid} = sysport_ringlog:start_link(#{spool_file => filename:join(Dir, "wa.spool")}),
    unlink(Pid),
    Helper = helper_pid(),
    Counter = counters:new(1, []),
    Logger = spawn_link(fun() -> steady(0, Counter) end),
    timer:sleep(2000),
    {W0, C0} = proc_io(Helper),
    #{spool := #{record_bytes := R0}} = status(),
    Msg0 = counters:get(Counter, 1),
    timer:sleep(6000),
    {W1, C1} = proc_io(Helper),
    #{spool := #{record_bytes := R1}} = status(),
    Msg1 = counters:get(Counter, 1),
    unlink(Logger),
    exit(Logger, kill),
    sysport_ringlog:stop(),
    Rec = R1 - R0,
    [#{bench => "write amplification, steady 250 records/s, defaults (device bytes / record bytes)",
       sysport => sysport_bench:fmt("~.3fx (write_bytes ~b, wchar ~b, records ~b B)",
                                    [(W1 - W0) / Rec, W1 - W0, C1 - C0, Rec]),
       peer => "-", ratio => undefined, goal => "<= 1.25x", ok => (W1 - W0) / Rec =< 1.25 andalso (C1 - C0) / Rec =< 1.25,
       cmd => "/proc/PID/io of sysport_ringlog; record bytes as framed in the file"},
     #{bench => "  same, over the bytes of message text alone (framing and metadata counted as overhead)",
       sysport => sysport_bench:fmt("~.3fx", [(W1 - W0) / (Msg1 - Msg0)]), peer => "-", ratio => undefined,
       goal => "(reported)", ok => true, cmd => "sum of byte_size(msg) of the records logged"}].

steady(I, Counter) ->
    Args = [I, lists:duplicate(40, $-)],
    Format = "steady record ~b with a payload of ordinary length, like most log lines ~s",
    logger:notice(Format, Args),
    counters:add(Counter, 1, iolist_size(io_lib:format(Format, Args))),
    timer:sleep(case I rem 4 of 0 -> 10; _ -> 2 end),
    steady(I + 1, Counter).

%%% Idle: no timers, no wakeups

idle(Dir) ->
    {ok, Pid} = sysport_ringlog:start_link(#{spool_file => filename:join(Dir, "idle.spool")}),
    unlink(Pid),
    logger:notice("one record, then silence"),
    {ok, _} = sysport_ringlog:sync(),
    timer:sleep(1500),
    Helper = helper_pid(),
    {Ticks, Ctx} = sysport_bench:idle_wakeups(Helper, 10000),
    sysport_ringlog:stop(),
    [#{bench => "spool helper wakeups over 10 s idle",
       sysport => sysport_bench:fmt("~b ticks, ~b ctx switches", [Ticks, Ctx]),
       peer => "-", ratio => undefined, goal => "0 and 0", ok => Ticks =:= 0 andalso Ctx =:= 0,
       cmd => "utime+stime in /proc/PID/stat, ctxt switches in /proc/PID/status"}].

%%% Helpers

status() ->
    {ok, S} = sysport_ringlog:status(),
    S.

helper_pid() ->
    #{helper := #{os_pid := P}} = status(),
    P.

rss(OsPid) ->
    sysport_bench:proc_status_kb(OsPid, <<"VmRSS">>).

private_kb(OsPid) ->
    {ok, S} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/smaps_rollup"),
    lists:sum([binary_to_integer(V) || L <- binary:split(S, <<"\n">>, [global]),
                                       [<<"Private_", _/binary>>, Rest] <- [binary:split(L, <<":">>)],
                                       [V | _] <- [binary:split(Rest, [<<" ">>, <<"\t">>], [global, trim_all])]]).

proc_io(OsPid) ->
    {ok, Io} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/io"),
    F = maps:from_list([{K, binary_to_integer(V)} || L <- binary:split(Io, <<"\n">>, [global, trim_all]),
                                                   [K, V] <- [binary:split(L, <<": ">>)]]),
    {maps:get(<<"write_bytes">>, F), maps:get(<<"wchar">>, F)}.

lines(File) ->
    case file:read_file(File) of
        {ok, B} -> length(binary:matches(B, <<"\n">>));
        _ -> 0
    end.
