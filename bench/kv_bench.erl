%% Issue 3: the U-Boot env service against fw_printenv/fw_setenv
%% (libubootenv) on a redundant 128 KiB env holding 2,000 keys, with the
%% same lock file and the same durability (each write synced before it
%% returns; sysport also reads the copy back from the device).
-module(kv_bench).
-export([rows/1]).

-define(KEYS, 2000).
-define(SIZE, 16#20000).
-define(RUNS, 200).

rows(#{root := Root, bin := Bin, helper_dir := HelperDir}) ->
    Dir = filename:join([Root, "_build", "bench", "kv"]),
    Cfg = setup(Dir),
    application:set_env(sysport, helper_dir, HelperDir),
    {ok, Pid} = sysport_kv:start_link(#{config => Cfg}),
    unlink(Pid),
    try
        {ok, Env} = sysport_kv:get_all(),
        ?KEYS = map_size(Env),
        get_all(Bin, Cfg) ++ reload(Bin, Cfg) ++ put_row(Bin, Cfg) ++ footprint()
    after
        sysport_kv:stop()
    end.

setup(Dir) ->
    _ = os:cmd("rm -rf '" ++ Dir ++ "'"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    In = filename:join(Dir, "env.txt"),
    ok = file:write_file(In, [io_lib:format("key_~b=value_number_~b~n", [I, I]) || I <- lists:seq(1, ?KEYS)]),
    [A, B] = [filename:join(Dir, F) || F <- ["env0", "env1"]],
    "" = os:cmd(sysport_bench:fmt("mkenvimage -r -s 0x~.16b -o ~s ~s", [?SIZE, A, In])),
    {ok, _} = file:copy(A, B),
    Cfg = filename:join(Dir, "fw_env.config"),
    ok = file:write_file(Cfg, io_lib:format("~s 0x0 0x~.16b~n~s 0x0 0x~.16b~n", [A, ?SIZE, B, ?SIZE])),
    Cfg.

time_us(Fun, N) ->
    [Fun() || _ <- lists:seq(1, 20)],
    Lat = lists:sort([begin
                          T0 = erlang:monotonic_time(nanosecond),
                          Fun(),
                          (erlang:monotonic_time(nanosecond) - T0) / 1000
                      end || _ <- lists:seq(1, N)]),
    sysport_bench:percentile(Lat, 0.5).

peer_us(Bin, Args) ->
    Cmd = sysport_bench:fmt("~s/bench_exec ~b ~s", [Bin, ?RUNS, Args]),
    [P50, _P99] = [list_to_float(X) || X <- string:lexemes(sysport_bench:sh(Cmd), " ")],
    {P50, Cmd}.

row(Bench, Us, PeerUs, Goal, Max, Cmd) ->
    Ratio = Us / PeerUs,
    #{bench => Bench, sysport => sysport_bench:fmt("~.1f us", [Us]),
      peer => sysport_bench:fmt("~.1f us", [PeerUs]), ratio => Ratio, goal => Goal,
      ok => Max =:= undefined orelse Ratio =< Max, cmd => Cmd}.

get_all(Bin, Cfg) ->
    Us = time_us(fun() -> {ok, _} = sysport_kv:get_all() end, 2000),
    {PeerUs, Cmd} = peer_us(Bin, "fw_printenv -c " ++ Cfg),
    [row("kv get_all, 2000 keys (vs one fw_printenv run)", Us, PeerUs, "<= 0.10x (10x faster)", 0.10,
         "sysport_kv:get_all() + " ++ Cmd)].

%% Re-reading after another program might have written: the helper reads
%% both copies from the files, checks and parses them as fw_printenv does on
%% every run (and, the env being unchanged, does not send the keys again).
reload(Bin, Cfg) ->
    Us = time_us(fun() -> ok = sysport_kv:reload() end, 500),
    {PeerUs, Cmd} = peer_us(Bin, "fw_printenv -c " ++ Cfg),
    [row("kv reload of an unchanged env (vs one fw_printenv run)", Us, PeerUs, "(reported)",
         undefined, "sysport_kv:reload() + " ++ Cmd)].

put_row(Bin, Cfg) ->
    Counter = counters:new(1, []),
    Us = time_us(fun() ->
                         counters:add(Counter, 1, 1),
                         ok = sysport_kv:put("key_7", integer_to_list(counters:get(Counter, 1)))
                 end, 300),
    {PeerUs, Cmd} = peer_us(Bin, "fw_setenv -c " ++ Cfg ++ " key_7 peer"),
    [row("kv put/2 synced and read back (vs one fw_setenv run)", Us, PeerUs, "<= 0.20x (5x faster)", 0.20,
         "sysport_kv:put/2 + " ++ Cmd)].

footprint() ->
    {ok, #{helper := #{os_pid := OsPid}}} = sysport_kv:status(),
    Rss = sysport_bench:proc_status_kb(OsPid, <<"VmRSS">>),
    Anon = sysport_bench:proc_status_kb(OsPid, <<"RssAnon">>),
    Hwm = sysport_bench:proc_status_kb(OsPid, <<"VmHWM">>),
    Pss = pss_kb(OsPid),
    {Ticks, Ctx} = sysport_bench:idle_wakeups(OsPid, 10000),
    [#{bench => "kv helper RSS, idle after the runs above", sysport => sysport_bench:fmt("~b KiB", [Rss]),
       peer => "-", ratio => undefined, goal => "<= 1536 KiB", ok => Rss =< 1536,
       cmd => "VmRSS in /proc/PID/status"},
     #{bench => "kv helper private memory (RssAnon) and PSS, idle",
       sysport => sysport_bench:fmt("~b KiB anon, ~b KiB PSS", [Anon, Pss]),
       peer => "-", ratio => undefined, goal => "(reported)", ok => true,
       cmd => "RssAnon in /proc/PID/status, Pss in /proc/PID/smaps_rollup"},
     #{bench => "kv helper peak RSS during them", sysport => sysport_bench:fmt("~b KiB", [Hwm]),
       peer => "-", ratio => undefined, goal => "(reported)", ok => true, cmd => "VmHWM in /proc/PID/status"},
     #{bench => "kv helper wakeups over 10 s idle",
       sysport => sysport_bench:fmt("~b ticks, ~b ctx switches", [Ticks, Ctx]),
       peer => "-", ratio => undefined, goal => "0 and 0", ok => Ticks =:= 0 andalso Ctx =:= 0,
       cmd => "utime+stime in /proc/PID/stat, ctxt switches in /proc/PID/status"}].

%% Proportional set size: shared library pages divided among their users.
pss_kb(OsPid) ->
    {ok, S} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/smaps_rollup"),
    {match, [Kb]} = re:run(S, "^Pss:\\s+(\\d+) kB", [multiline, {capture, all_but_first, binary}]),
    binary_to_integer(Kb).
