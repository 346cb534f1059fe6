%% Issue 8: sysport_sensors on a fake hwmon tree (test/sysport_sensors_fake,
%% >= 50 subfeatures) against `sensors -j' reading the same tree.
-module(sensors_bench).
-export([rows/1]).

-define(SNAPSHOTS, 2000).
-define(PEER_RUNS, 100).
-define(IDLE_MS, 10000).
-define(POLL_MS, 30000).

rows(#{root := Root, helper_dir := HelperDir}) ->
    Fake = load_fake(Root),
    Tree = Fake:tree(tmp_dir()),
    Helper = filename:join(HelperDir, "sysport_sensors"),
    process_flag(trap_exit, true),
    {ok, _} = sysport_sensors:start_link(#{helper => #{program => Helper, wrapper => Fake:wrapper(Tree)},
                                           interval => 1000, uevent => false}),
    Svc = whereis(sysport_sensors),
    try
        Snapshot = snapshot(Fake, Tree),
        Footprint = footprint(Svc),
        Polling = polling(),
        Snapshot ++ Footprint ++ Polling
    after
        sysport_sensors:stop(),
        os:cmd("rm -rf " ++ Tree)
    end.

%% The fake tree module lives with the tests; the bench builds it too.
load_fake(Root) ->
    Src = filename:join([Root, "test", "sysport_sensors_fake.erl"]),
    {ok, Mod, Bin} = compile:file(Src, [binary, return_errors]),
    {module, Mod} = code:load_binary(Mod, Src, Bin),
    Mod.

tmp_dir() ->
    string:trim(os:cmd("mktemp -d /tmp/sysport_sensors_bench.XXXXXX")).

snapshot(Fake, Tree) ->
    {ok, Chips} = sysport_sensors:read_all(),
    Subfeatures = Fake:subfeature_count(Chips),
    [{ok, _} = sysport_sensors:read_all() || _ <- lists:seq(1, 200)],
    Times = lists:sort([begin
                            T0 = erlang:monotonic_time(nanosecond),
                            {ok, _} = sysport_sensors:read_all(),
                            (erlang:monotonic_time(nanosecond) - T0) / 1000
                        end || _ <- lists:seq(1, ?SNAPSHOTS)]),
    Ours = lists:sum(Times) / length(Times),
    %% The peer: a loop of sensors -j inside the same namespace, so the
    %% namespace set-up is not counted against it.
    Loop = sysport_bench:fmt("s=$(date +%s%N); i=0; while [ $i -lt ~b ]; do sensors -j >/dev/null 2>&1; "
                             "i=$((i+1)); done; echo $(( ($(date +%s%N) - s) / 1000 ))", [?PEER_RUNS]),
    Cmd = lists:flatten([lists:join(" ", Fake:wrapper(Tree)), " sh -c '", Loop, "'"]),
    PeerUs = list_to_integer(sysport_bench:sh(Cmd)) / ?PEER_RUNS,
    {ok, Peer, _} = Fake:peer(Tree, default),
    {ok, Now} = sysport_sensors:read_all(),
    Diffs = Fake:compare(Peer, Now),
    Ratio = PeerUs / Ours,
    [#{bench => sysport_bench:fmt("read_all() snapshot, ~b chips / ~b subfeatures (vs one sensors -j)",
                                  [length(Chips), Subfeatures]),
       sysport => sysport_bench:fmt("~.1f us (p50 ~.1f)", [Ours, sysport_bench:percentile(Times, 0.5)]),
       peer => sysport_bench:fmt("~.1f us", [PeerUs]),
       ratio => Ours / PeerUs, goal => ">= 10x faster",
       ok => Ratio >= 10 andalso Subfeatures >= 50 andalso Diffs =:= [],
       cmd => "sysport_sensors:read_all() x " ++ integer_to_list(?SNAPSHOTS) ++ " | " ++ Cmd},
     #{bench => "values: read_all() vs sensors -j, label for label",
       sysport => case Diffs of [] -> "identical"; _ -> sysport_bench:fmt("~b differences", [length(Diffs)]) end,
       peer => "-", ratio => undefined, goal => "identical", ok => Diffs =:= [],
       cmd => "sysport_sensors_fake:compare/2"}].

footprint(Svc) ->
    {ok, #{helper := #{os_pid := OsPid}}} = sysport_sensors:status(),
    Rss = sysport_bench:proc_status_kb(OsPid, <<"VmRSS">>),
    Hwm = sysport_bench:proc_status_kb(OsPid, <<"VmHWM">>),
    timer:sleep(200),
    Ctx0 = sysport_bench:proc_ctx_switches(OsPid),
    {reductions, R0} = process_info(Svc, reductions),
    Cpu0 = cpu_ms(OsPid),
    timer:sleep(?IDLE_MS),
    Ctx1 = sysport_bench:proc_ctx_switches(OsPid),
    {reductions, R1} = process_info(Svc, reductions),
    Cpu1 = cpu_ms(OsPid),
    [#{bench => "helper RSS after 2000 snapshots (peak)",
       sysport => sysport_bench:fmt("~b KiB (~b KiB)", [Rss, Hwm]), peer => "-", ratio => undefined,
       goal => "<= 2048 KiB", ok => Rss =< 2048, cmd => "VmRSS, VmHWM in /proc/PID/status"},
     #{bench => sysport_bench:fmt("idle ~b s, nobody subscribed: helper / service process", [?IDLE_MS div 1000]),
       sysport => sysport_bench:fmt("~b ctx switches, ~.3f ms CPU / ~b reductions", [Ctx1 - Ctx0, Cpu1 - Cpu0, R1 - R0]),
       peer => "-", ratio => undefined, goal => "0 wakeups",
       ok => Ctx1 =:= Ctx0 andalso R1 =:= R0,
       cmd => "ctxt switches in /proc/PID/status, process_info(Service, reductions)"}].

%% A threshold on one chip makes the service poll that chip every second.
polling() ->
    {ok, #{helper := #{os_pid := OsPid}}} = sysport_sensors:status(),
    Vm = list_to_integer(os:getpid()),
    Idle = cpu_ms(Vm),
    timer:sleep(?IDLE_MS),
    VmIdle = (cpu_ms(Vm) - Idle) / ?IDLE_MS,
    ok = sysport_sensors:set_threshold(<<"lm75-i2c-1-48">>, <<"temp1">>, #{above => 90.0}),
    {ok, #{counters := #{polls := P0}}} = sysport_sensors:status(),
    H0 = cpu_ms(OsPid),
    V0 = cpu_ms(Vm),
    T0 = erlang:monotonic_time(millisecond),
    timer:sleep(?POLL_MS),
    H1 = cpu_ms(OsPid),
    V1 = cpu_ms(Vm),
    Wall = erlang:monotonic_time(millisecond) - T0,
    {ok, #{counters := #{polls := P1}}} = sysport_sensors:status(),
    ok = sysport_sensors:clear_threshold(<<"lm75-i2c-1-48">>, <<"temp1">>),
    Share = (H1 - H0 + V1 - V0) / Wall,
    [#{bench => sysport_bench:fmt("polling 1 chip at 1 Hz for ~b s (~b polls): helper + VM CPU",
                                  [Wall div 1000, P1 - P0]),
       sysport => sysport_bench:fmt("~.4f% of one CPU (helper ~.2f ms, VM ~.2f ms)",
                                    [100 * Share, H1 - H0, V1 - V0]),
       peer => sysport_bench:fmt("VM idle, no polling: ~.4f%", [100 * VmIdle]),
       ratio => undefined, goal => "< 0.1%", ok => Share < 0.001,
       cmd => "se.sum_exec_runtime of every thread in /proc/PID/task/*/sched"}].

%% CPU time of every thread of a process, in ms (ns resolution).
cpu_ms(OsPid) ->
    Dir = "/proc/" ++ integer_to_list(OsPid) ++ "/task",
    {ok, Tids} = file:list_dir(Dir),
    lists:sum([thread_ms(filename:join([Dir, T, "sched"])) || T <- Tids]).

thread_ms(Path) ->
    case file:read_file(Path) of
        {ok, Text} ->
            [Line] = [L || L <- binary:split(Text, <<"\n">>, [global]),
                           binary:match(L, <<"se.sum_exec_runtime">>) =/= nomatch],
            [_, V] = binary:split(Line, <<":">>),
            binary_to_float(string:trim(V));
        {error, _} -> 0.0   % a thread that just ended
    end.
