%% Issues 3 and 19: the U-Boot env service against fw_printenv/fw_setenv
%% (libubootenv) on redundant envs of 8 KiB, 128 KiB and 1 MiB holding 100,
%% 2,000 and 20,000 keys, with the same lock file and the same durability
%% (each write synced before it returns; sysport also reads the copy back
%% from the device). A combination whose keys do not fit the env is skipped
%% and says so. The helper's footprint is measured after the 128 KiB x
%% 2,000 keys runs.
-module(kv_bench).
-export([rows/1]).

-define(SIZES, [16#2000, 16#20000, 16#100000]).
-define(KEYS, [100, 2000, 20000]).
-define(FOOTPRINT, {16#20000, 2000}).

rows(#{root := Root, bin := Bin, helper_dir := HelperDir}) ->
    application:set_env(sysport, helper_dir, HelperDir),
    Top = filename:join([Root, "_build", "bench", "kv"]),
    _ = os:cmd("rm -rf '" ++ Top ++ "'"),
    lists:append([grid(Bin, Top, Size, Keys) || Size <- ?SIZES, Keys <- ?KEYS]).

grid(Bin, Top, Size, Keys) ->
    Name = sysport_bench:fmt("~s x ~b keys", [size_name(Size), Keys]),
    Text = [io_lib:format("key_~b=value_number_~b~n", [I, I]) || I <- lists:seq(1, Keys)],
    %% key=value\0 each, a final \0, after the CRC and flags byte
    case iolist_size(Text) + 1 > Size - 5 of
        true ->
            [#{bench => "kv " ++ Name, sysport => "skipped", peer => "-", ratio => undefined,
               goal => "(does not fit)", ok => true,
               cmd => sysport_bench:fmt("~b keys take ~b bytes, the env holds ~b",
                                        [Keys, iolist_size(Text) + 1, Size - 5])}];
        false ->
            Cfg = setup(filename:join(Top, sysport_bench:fmt("~b_~b", [Size, Keys])), Text, Size),
            {ok, Pid} = sysport_kv:start_link(#{config => Cfg}),
            unlink(Pid),
            try
                {ok, Env} = sysport_kv:get_all(),
                Keys = map_size(Env),
                Runs = runs(Size),
                Rows = get_all(Bin, Cfg, Name, Runs, Size, Keys) ++ reload(Bin, Cfg, Name, Runs)
                    ++ put_row(Bin, Cfg, Name, Runs, Size, Keys),
                case {Size, Keys} of
                    ?FOOTPRINT -> Rows ++ footprint();
                    _ -> Rows
                end
            after
                sysport_kv:stop()
            end
    end.

size_name(Size) when Size >= 16#100000 -> sysport_bench:fmt("~b MiB", [Size div 16#100000]);
size_name(Size) -> sysport_bench:fmt("~b KiB", [Size div 1024]).

%% Samples per measurement: the whole grid stays within a minute or two.
runs(Size) when Size >= 16#100000 -> 60;
runs(_) -> 200.

setup(Dir, Text, Size) ->
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    In = filename:join(Dir, "env.txt"),
    ok = file:write_file(In, Text),
    [A, B] = [filename:join(Dir, F) || F <- ["env0", "env1"]],
    "" = os:cmd(sysport_bench:fmt("mkenvimage -r -s 0x~.16b -o ~s ~s", [Size, A, In])),
    {ok, _} = file:copy(A, B),
    Cfg = filename:join(Dir, "fw_env.config"),
    ok = file:write_file(Cfg, io_lib:format("~s 0x0 0x~.16b~n~s 0x0 0x~.16b~n", [A, Size, B, Size])),
    Cfg.

time_us(Fun, N) ->
    [Fun() || _ <- lists:seq(1, min(20, N))],
    Lat = lists:sort([begin
                          T0 = erlang:monotonic_time(nanosecond),
                          Fun(),
                          (erlang:monotonic_time(nanosecond) - T0) / 1000
                      end || _ <- lists:seq(1, N)]),
    sysport_bench:percentile(Lat, 0.5).

%% fw_printenv and fw_setenv take the same lock as the service (its default,
%% /var/lock/fw_printenv.lock). Runs at most Runs times and for about 3 s:
%% libubootenv takes a second a run at 20,000 keys.
peer_us(Bin, Runs, Args) ->
    {Once, _} = exec(Bin, 1, Args),
    exec(Bin, max(5, min(Runs, round(3.0e6 / Once))), Args).

exec(Bin, Runs, Args) ->
    Cmd = sysport_bench:fmt("~s/bench_exec ~b ~s", [Bin, Runs, Args]),
    [P50, _P99] = [list_to_float(X) || X <- string:lexemes(sysport_bench:sh(Cmd), " ")],
    {P50, Cmd}.

row(Bench, Us, PeerUs, Goal, Max, Cmd) ->
    Ratio = Us / PeerUs,
    #{bench => Bench, sysport => sysport_bench:fmt("~.1f us", [Us]),
      peer => sysport_bench:fmt("~.1f us", [PeerUs]), ratio => Ratio, goal => Goal,
      ok => Max =:= undefined orelse Ratio =< Max, cmd => Cmd}.

get_all(Bin, Cfg, Name, Runs, Size, Keys) ->
    Us = time_us(fun() -> {ok, _} = sysport_kv:get_all() end, 10 * Runs),
    {PeerUs, Cmd} = peer_us(Bin, Runs, "fw_printenv -c " ++ Cfg),
    {Goal, Max} = case {Size, Keys} of
                      ?FOOTPRINT -> {"<= 0.10x (10x faster)", 0.10};
                      _ -> {"(reported)", undefined}
                  end,
    [row("kv get_all, " ++ Name ++ " (vs one fw_printenv run)", Us, PeerUs, Goal, Max,
         "sysport_kv:get_all() + " ++ Cmd)].

%% Re-reading after another program might have written: the helper reads
%% both copies from the files, checks them as fw_printenv does on every run
%% (and, the env being unchanged, does not send the keys again).
reload(Bin, Cfg, Name, Runs) ->
    Us = time_us(fun() -> ok = sysport_kv:reload() end, Runs),
    {PeerUs, Cmd} = peer_us(Bin, Runs, "fw_printenv -c " ++ Cfg),
    [row("kv reload of an unchanged env, " ++ Name ++ " (vs one fw_printenv run)", Us, PeerUs, "(reported)",
         undefined, "sysport_kv:reload() + " ++ Cmd)].

put_row(Bin, Cfg, Name, Runs, Size, Keys) ->
    Counter = counters:new(1, []),
    Us = time_us(fun() ->
                         counters:add(Counter, 1, 1),
                         ok = sysport_kv:put("key_7", integer_to_list(counters:get(Counter, 1)))
                 end, Runs),
    {PeerUs, Cmd} = peer_us(Bin, Runs, "fw_setenv -c " ++ Cfg ++ " key_7 peer"),
    {Goal, Max} = case {Size, Keys} of
                      ?FOOTPRINT -> {"<= 0.20x (5x faster)", 0.20};
                      {16#100000, _} -> {"<= 0.50x (2x faster)", 0.50};
                      _ -> {"(reported)", undefined}
                  end,
    [row("kv put/2 synced and verified, " ++ Name ++ " (vs one fw_setenv run)", Us, PeerUs, Goal, Max,
         "sysport_kv:put/2 + " ++ Cmd)].

footprint() ->
    {ok, #{helper := #{os_pid := OsPid}}} = sysport_kv:status(),
    Rss = sysport_bench:proc_status_kb(OsPid, <<"VmRSS">>),
    Anon = sysport_bench:proc_status_kb(OsPid, <<"RssAnon">>),
    Hwm = sysport_bench:proc_status_kb(OsPid, <<"VmHWM">>),
    Pss = pss_kb(OsPid),
    {Ticks, Ctx} = sysport_bench:idle_wakeups(OsPid, 10000),
    [#{bench => "kv helper RSS, idle after the 128 KiB x 2000 keys runs", sysport => sysport_bench:fmt("~b KiB", [Rss]),
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
