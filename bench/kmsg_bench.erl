%% Issue 4: the kmsg reader against util-linux dmesg and against the rate
%% records are written. Writes to the real /dev/kmsg (printk_devkmsg is set
%% to `on' for the run and restored): the kernel ring is filled first.
-module(kmsg_bench).
-export([rows/1]).
-export([log/2]).  % the logger handler counting forwarded kernel records

-define(DEVKMSG, "/proc/sys/kernel/printk_devkmsg").
-define(READS, 50).
-define(FLOOD, 200000).
-define(PACED_RATE, 20000).
-define(HANDLER, kmsg_bench_counter).

rows(#{bin := Bin}) ->
    {ok, Saved} = file:read_file(?DEVKMSG),
    ok = file:write_file(?DEVKMSG, "on\n"),
    Handlers = logger:get_handler_ids(),
    #{level := Primary} = logger:get_primary_config(),
    %% The forwarded kernel records go to a counter, not to the terminal.
    [ok = logger:add_handler_filter(H, ?MODULE, {fun logger_filters:domain/2, {stop, equal, [kernel]}})
     || H <- Handlers],
    ok = logger:set_primary_config(level, all),
    Counter = counters:new(2, []),
    ok = logger:add_handler(?HANDLER, ?MODULE, #{config => #{counter => Counter}}),
    try
        Flood = filename:join(Bin, "kmsg_flood"),
        %% Varied lengths, like a real log: about 1500 records fill 128 KiB.
        [sysport_bench:sh(sysport_bench:fmt("~s 1000 ~b sysport-kmsg-bench-fill", [Flood, Size]))
         || Size <- [20, 60, 100, 140]],
        {ok, _} = sysport_kmsg:start_link(#{seq_file => none, logger_level => debug,
                                             logger_burst_limit => infinity}),
        ok = wait_quiet(Counter),
        Read = read_rows(),
        Follow = follow_rows(Flood, Counter),
        Footprint = footprint_rows(),
        Read ++ lists:append(Follow) ++ Footprint
    after
        catch sysport_kmsg:stop(),
        _ = logger:remove_handler(?HANDLER),
        [logger:remove_handler_filter(H, ?MODULE) || H <- Handlers],
        logger:set_primary_config(level, Primary),
        file:write_file(?DEVKMSG, Saved)
    end.

-spec log(logger:log_event(), logger:handler_config()) -> ok.
log(#{meta := #{domain := [kernel]}}, #{config := #{counter := C}}) ->
    counters:add(C, 1, 1),
    counters:put(C, 2, erlang:monotonic_time(microsecond));
log(_, _) ->
    ok.

%% Until no record has been forwarded for half a second.
wait_quiet(Counter) ->
    N = counters:get(Counter, 1),
    timer:sleep(500),
    case counters:get(Counter, 1) of
        N -> ok;
        _ -> wait_quiet(Counter)
    end.

read_rows() ->
    {ok, Records} = sysport_kmsg:dmesg(),
    Bytes = lists:sum([byte_size(M) || #{message := M} <- Records]),
    [{ok, _} = sysport_kmsg:dmesg() || _ <- lists:seq(1, 5)],
    {Ours, _} = timer:tc(fun() -> [{ok, _} = sysport_kmsg:dmesg() || _ <- lists:seq(1, ?READS)] end),
    PeerCmd = sysport_bench:fmt("i=0; while [ $i -lt ~b ]; do dmesg --json > /dev/null; i=$((i+1)); done",
                                [?READS]),
    Peer = shell_time(PeerCmd),
    StartCmd = sysport_bench:fmt("i=0; while [ $i -lt ~b ]; do dmesg --version > /dev/null; i=$((i+1)); done",
                                 [?READS]),
    Start = shell_time(StartCmd),
    OursMs = Ours / ?READS / 1000,
    PeerMs = Peer / ?READS / 1000,
    StartMs = Start / ?READS / 1000,
    [#{bench => sysport_bench:fmt("full ring (~b records, ~b KiB of text) read into Erlang terms: "
                                  "sysport_kmsg:dmesg() vs dmesg --json > /dev/null",
                                  [length(Records), Bytes div 1024]),
       sysport => sysport_bench:fmt("~.2f ms", [OursMs]), peer => sysport_bench:fmt("~.2f ms", [PeerMs]),
       ratio => OursMs / PeerMs, goal => "<= 1.0x", ok => OursMs =< PeerMs,
       cmd => "timer:tc of sysport_kmsg:dmesg() x" ++ integer_to_list(?READS) ++ " vs sh -c '" ++ PeerCmd ++ "'"},
     #{bench => "  of which the peer's process start (dmesg --version)",
       sysport => "-", peer => sysport_bench:fmt("~.2f ms", [StartMs]), ratio => undefined,
       goal => "(reported)", ok => true, cmd => "sh -c '" ++ StartCmd ++ "'"}].

shell_time(Cmd) ->
    {Us, _} = timer:tc(fun() -> os:cmd("sh -c '" ++ Cmd ++ "'") end),
    Us.

%% Unpaced, the writer's tight loop holds a core and the reader (helper,
%% port owner, service, logger) shares the other with everything else: what
%% does not keep up is lost in the ring and counted. Paced at a rate far
%% above what a busy kernel logs, nothing may be lost.
follow_rows(Flood, Counter) ->
    [follow_row(Flood, Counter, ?FLOOD, unpaced, "(reported)", fun(_Rate, _Written, _Missed) -> true end),
     follow_row(Flood, Counter, ?PACED_RATE * 5, ?PACED_RATE, ">= 0.99x, 0 missed",
                fun(Rate, Written, Missed) -> Missed =:= 0 andalso Rate >= 0.99 * Written end)].

follow_row(Flood, Counter, Count, Pace, Goal, Met) ->
    Before = counters:get(Counter, 1),
    {ok, #{counters := #{missed := Missed0}}} = sysport_kmsg:status(),
    Cmd = case Pace of
              unpaced -> sysport_bench:fmt("~s ~b 100 sysport-kmsg-bench-flood", [Flood, Count]);
              _ -> sysport_bench:fmt("~s ~b 100 sysport-kmsg-bench-paced ~b", [Flood, Count, Pace])
          end,
    T0 = erlang:monotonic_time(microsecond),
    [_, _, Written] = string:lexemes(sysport_bench:sh(Cmd), " "),
    ok = wait_quiet(Counter),
    Logged = counters:get(Counter, 1) - Before,
    Last = counters:get(Counter, 2),
    {ok, #{counters := #{missed := Missed1}}} = sysport_kmsg:status(),
    Missed = Missed1 - Missed0,
    Rate = Logged / ((Last - T0) / 1.0e6),
    WrittenRate = list_to_integer(Written),
    [#{bench => sysport_bench:fmt("follow: ~b records of 100 bytes written to /dev/kmsg ~s, delivered "
                                  "into logger (~b missed, counted)",
                                  [Count, case Pace of
                                              unpaced -> "as fast as it takes them";
                                              _ -> sysport_bench:fmt("at ~b/s", [Pace])
                                          end, Missed]),
       sysport => sysport_bench:fmt("~b records/s", [round(Rate)]),
       peer => sysport_bench:fmt("~b records/s written", [WrittenRate]),
       ratio => Rate / WrittenRate, goal => Goal, ok => Met(Rate, WrittenRate, Missed),
       cmd => Cmd ++ " (bench/kmsg_flood.c), counted by a logger handler"}].

footprint_rows() ->
    {ok, #{helper := #{os_pid := Pid}, counters := #{delivered := D0}}} = sysport_kmsg:status(),
    Rss = sysport_bench:proc_status_kb(Pid, <<"VmRSS">>),
    Hwm = sysport_bench:proc_status_kb(Pid, <<"VmHWM">>),
    {Ticks, Ctx} = sysport_bench:idle_wakeups(Pid, 10000),
    {ok, #{counters := #{delivered := D1}}} = sysport_kmsg:status(),
    %% Another program on this host may log meanwhile: each record is a
    %% legitimate wakeup.
    %% The peak includes the reply to dmesg() while it is built: the whole
    %% ring, encoded.
    [#{bench => "sysport_kmsg helper RSS after the reads and the floods (peak while replying to dmesg())",
       sysport => sysport_bench:fmt("~b KiB (peak ~b KiB)", [Rss, Hwm]), peer => "-", ratio => undefined,
       goal => "<= 1536 KiB", ok => Rss =< 1536, cmd => "VmRSS, VmHWM in /proc/PID/status"},
     #{bench => sysport_bench:fmt("sysport_kmsg helper wakeups over 10 s idle (~b records arrived)", [D1 - D0]),
       sysport => sysport_bench:fmt("~b ticks, ~b ctx switches", [Ticks, Ctx]),
       peer => "-", ratio => undefined, goal => "0 and 0 (one per record arrived)",
       ok => Ticks =< D1 - D0 andalso Ctx =< D1 - D0,
       cmd => "utime+stime in /proc/PID/stat, ctxt switches in /proc/PID/status"}].
