%% Issue 5: the uevent watcher against `udevadm monitor --kernel --property'.
%%
%% A storm of ?STORM `change' uevents written to /sys/class/net/lo/uevent as
%% fast as bench/uevent_storm can, seen at the same time by udevadm (output
%% to /dev/null) and by a sysport_uevent subscriber: CPU per 10,000 events
%% and events lost by each (the kernel's drop counter of each socket in
%% /proc/net/netlink). Then the same storm with loss forced (a 16 KiB
%% buffer and the helper stopped) and the table compared with a fresh
%% `udevadm info --export-db'; the
%% helper's RSS and its wakeups while idle.
-module(uevent_bench).
-export([rows/1]).

-define(STORM, 20000).
-define(ROUNDS, 3).
-define(LO, <<"/devices/virtual/net/lo">>).
-define(LO_UEVENT, "/sys/class/net/lo/uevent").

rows(#{helper_dir := HelperDir, bin := Bin}) ->
    Helper = filename:join(HelperDir, "sysport_uevent"),
    Storm = filename:join(Bin, "uevent_storm"),
    Side = side_by_side(Helper, Storm),
    Forced = forced_loss(Helper, Storm),
    Side ++ Forced ++ footprint(Helper).

%%% The storm seen by both

side_by_side(Helper, Storm) ->
    {ok, _} = sysport_uevent:start_link(#{helper => #{program => Helper}}),
    {ok, #{helper := #{os_pid := HelperPid}}} = sysport_uevent:status(),
    Udevadm = start_udevadm(),
    timer:sleep(500),
    Counter = start_counter(),
    Vm = list_to_integer(os:getpid()),
    Pids = [HelperPid, Vm, Udevadm],
    Drops0 = [netlink_drops(P) || P <- [HelperPid, Udevadm]],
    %% Several storms, so that a busy moment of the shared host weighs less.
    Rounds = [storm_round(Storm, Counter, Pids, Udevadm) || _ <- lists:seq(1, ?ROUNDS)],
    [HelperDrops, UdevDrops] = [netlink_drops(P) - D0 || {P, D0} <- lists:zip([HelperPid, Udevadm], Drops0)],
    Sum = fun(I) -> lists:sum([element(I, R) || R <- Rounds]) end,
    {Events, Got, StormSecs} = {Sum(1), Sum(2), Sum(3)},
    [HelperCpu, VmCpu, UdevCpu] = [Sum(4), Sum(5), Sum(6)],
    UdevRss = sysport_bench:proc_status_kb(Udevadm, <<"VmRSS">>),
    _ = os:cmd("kill " ++ integer_to_list(Udevadm)),
    HelperRss = sysport_bench:proc_status_kb(HelperPid, <<"VmRSS">>),
    HelperAnon = sysport_bench:proc_status_kb(HelperPid, <<"RssAnon">>),
    exit(Counter, kill),
    sysport_uevent:stop(),
    Per10k = fun(Ns) -> Ns / 1.0e9 * 10000 / Events end,
    Ours = Per10k(HelperCpu + VmCpu),
    Theirs = Per10k(UdevCpu),
    Ratios = [(H + V) / U || {_, _, _, H, V, U} <- Rounds],
    Cmd = sysport_bench:fmt("~s ~b ~s & udevadm monitor --kernel --property > /dev/null",
                            [Storm, ?STORM, ?LO_UEVENT]),
    [#{bench => sysport_bench:fmt("CPU s per 10k uevents (~b storms of ~b, ~.2f s of writes): helper + VM vs udevadm",
                                  [?ROUNDS, ?STORM, StormSecs]),
       sysport => sysport_bench:fmt("~.3f (helper ~.3f, VM ~.3f; storms ~s)",
                                    [Ours, Per10k(HelperCpu), Per10k(VmCpu),
                                     lists:join("/", [sysport_bench:fmt("~.2fx", [R]) || R <- Ratios])]),
       peer => sysport_bench:fmt("~.3f", [Theirs]),
       ratio => Ours / Theirs, goal => "<= 1.0x", ok => Ours =< Theirs,
       cmd => Cmd ++ "; CPU from /proc/PID/task/*/schedstat"},
     #{bench => "uevents lost in those storms at the default buffer (8 MiB vs udevadm's 128 MiB)",
       sysport => sysport_bench:fmt("~b (kernel drops ~b)", [Events - Got, HelperDrops]),
       peer => sysport_bench:fmt("~b (kernel drops)", [UdevDrops]),
       ratio => undefined, goal => "0 where udevadm loses 0",
       ok => UdevDrops > 0 orelse (Events - Got =:= 0 andalso HelperDrops =:= 0),
       cmd => "subscriber count vs SEQNUMs written; Drops in /proc/net/netlink"},
     #{bench => "helper RSS after the storms (peer: udevadm monitor)",
       sysport => sysport_bench:fmt("~b KiB (~b KiB anonymous)", [HelperRss, HelperAnon]),
       peer => sysport_bench:fmt("~b KiB", [UdevRss]),
       ratio => HelperRss / UdevRss, goal => "<= 1536 KiB", ok => HelperRss =< 1536,
       cmd => "VmRSS in /proc/PID/status"}].

%% One storm: {Events, Received, Seconds, HelperNs, VmNs, UdevadmNs}.
storm_round(Storm, Counter, [HelperPid, Vm, Udevadm] = Pids, Udevadm) ->
    Cpu0 = [cpu_ns(P) || P <- Pids],
    First = seqnum() + 1,
    Secs = list_to_float(sysport_bench:sh(sysport_bench:fmt("~s ~b ~s", [Storm, ?STORM, ?LO_UEVENT]))),
    Last = seqnum(),
    Got = wait_count(Counter, First, Last),
    ok = sysport_uevent:settle(200, 60000),
    wait_drained(Udevadm),
    [H, V, U] = [cpu_ns(P) - C0 || {P, C0} <- lists:zip([HelperPid, Vm, Udevadm], Cpu0)],
    {Last - First + 1, Got, Secs, H, V, U}.

%% Counts the subscriber's lo change events by SEQNUM.
start_counter() ->
    Self = self(),
    Pid = spawn(fun() ->
                        ok = sysport_uevent:subscribe(#{devpath => ?LO}),
                        Self ! {counter_ready, self()},
                        count_loop(#{})
                end),
    receive {counter_ready, Pid} -> Pid end.

count_loop(Seen) ->
    receive
        {sysport_uevent, change, #{devpath := ?LO, props := #{<<"SEQNUM">> := S}}} ->
            count_loop(Seen#{binary_to_integer(S) => true});
        {count, From, First, Last} ->
            From ! {count, length([x || S <- maps:keys(Seen), S >= First, S =< Last])},
            count_loop(Seen);
        _ ->
            count_loop(Seen)
    end.

count(Counter, First, Last) ->
    Counter ! {count, self(), First, Last},
    receive {count, N} -> N end.

%% Waits until the subscriber has every event or none came for a second.
wait_count(Counter, First, Last) ->
    wait_count(Counter, First, Last, -1).

wait_count(Counter, First, Last, Before) ->
    case count(Counter, First, Last) of
        N when N =:= Last - First + 1 -> N;
        Before -> Before;
        N -> timer:sleep(1000), wait_count(Counter, First, Last, N)
    end.

%%% Forced loss and the repair

forced_loss(Helper, Storm) ->
    {ok, _} = sysport_uevent:start_link(#{rcvbuf => 16384, helper => #{program => Helper}}),
    Names = [sysport_bench:fmt("spubench~b", [I]) || I <- lists:seq(1, 5)],
    [sysport_bench:sh("ip link add " ++ N ++ " type veth peer name " ++ N ++ "p") || N <- tl(Names)],
    ok = sysport_uevent:settle(200, 30000),
    ok = sysport_uevent:subscribe(#{}),
    {ok, #{helper := #{os_pid := HelperPid}}} = sysport_uevent:status(),
    sysport_bench:sh("kill -STOP " ++ integer_to_list(HelperPid)),
    %% Devices come and go while nobody listens.
    [sysport_bench:sh("ip link del " ++ N) || N <- tl(Names)],
    sysport_bench:sh("ip link add " ++ hd(Names) ++ " type veth peer name " ++ hd(Names) ++ "p"),
    _ = sysport_bench:sh(sysport_bench:fmt("~s ~b ~s", [Storm, ?STORM, ?LO_UEVENT])),
    sysport_bench:sh("kill -CONT " ++ integer_to_list(HelperPid)),
    {Missed, Drops} = wait_overrun(),
    receive {sysport_uevent, resync_complete, _} -> ok after 30000 -> ok end,
    ok = sysport_uevent:settle(300, 30000),
    {Same, Total} = compare_with_udevadm(3),
    sysport_bench:sh("ip link del " ++ hd(Names)),
    sysport_uevent:stop(),
    [#{bench => sysport_bench:fmt("forced loss (16 KiB buffer, helper stopped, ~b uevents): devices "
                                  "equal to a fresh enumeration after the resync", [?STORM]),
       sysport => sysport_bench:fmt("~b/~b (~.1f%), ~b missed = ~b kernel drops", [Same, Total, 100 * Same / Total,
                                                                                 Missed, Drops]),
       peer => "udevadm: no repair",
       ratio => undefined, goal => "100%", ok => Same =:= Total andalso Missed >= Drops andalso Drops > 0,
       cmd => "uevent_bench:forced_loss vs udevadm info --export-db"}].

wait_overrun() ->
    receive
        {sysport_uevent, overrun, #{kernel_drops := D, missed := M}} when D > 0 -> {M, D};
        {sysport_uevent, _, _} -> wait_overrun()
    after 30000 -> {0, 0}
    end.

%% Devices whose properties equal what a fresh `udevadm info --export-db'
%% says, of all devices either knows.
compare_with_udevadm(Tries) ->
    {ok, Table} = sysport_uevent:devices(),
    Db = udevadm_db(),
    Keys = lists:usort(maps:keys(Table) ++ maps:keys(Db)),
    Same = length([K || K <- Keys, maps:find(K, Table) =:= maps:find(K, Db)]),
    case Same =:= length(Keys) orelse Tries =< 1 of
        true -> {Same, length(Keys)};
        false -> timer:sleep(500), compare_with_udevadm(Tries - 1)
    end.

%% Its "P: devpath" and "E: KEY=VALUE" lines; sd-device prefixes DEVNAME
%% with /dev/, which the kernel's (and our) DEVNAME is not.
udevadm_db() ->
    Lines = binary:split(list_to_binary(os:cmd("udevadm info --export-db")), <<"\n">>, [global, trim_all]),
    {Db, _} = lists:foldl(
                fun(<<"P: ", DevPath/binary>>, {Acc, _}) -> {Acc#{DevPath => #{}}, DevPath};
                   (<<"E: DEVNAME=/dev/", Name/binary>>, {Acc, D}) -> {put_prop(D, <<"DEVNAME">>, Name, Acc), D};
                   (<<"E: ", KV/binary>>, {Acc, D}) ->
                        [K, V] = binary:split(KV, <<"=">>),
                        {put_prop(D, K, V, Acc), D};
                   (_, AccD) -> AccD
                end, {#{}, none}, Lines),
    Db.

put_prop(DevPath, K, V, Db) ->
    maps:update_with(DevPath, fun(P) -> P#{K => V} end, Db).

%%% Footprint

footprint(Helper) ->
    {ok, _} = sysport_uevent:start_link(#{helper => #{program => Helper}}),
    {ok, #{helper := #{os_pid := Pid}}} = sysport_uevent:status(),
    Rss = sysport_bench:proc_status_kb(Pid, <<"VmRSS">>),
    Anon = sysport_bench:proc_status_kb(Pid, <<"RssAnon">>),
    {Ticks, Ctx, Events} = quiet_window(Pid, 3),
    sysport_uevent:stop(),
    [#{bench => "helper RSS after start (libudev loaded only in the enumeration child)",
       sysport => sysport_bench:fmt("~b KiB (~b KiB anonymous)", [Rss, Anon]), peer => "-", ratio => undefined,
       goal => "<= 1536 KiB", ok => Rss =< 1536, cmd => "VmRSS in /proc/PID/status"},
     #{bench => "helper wakeups over 10 s idle",
       sysport => sysport_bench:fmt("~b ticks, ~b ctx switches, ~b uevents", [Ticks, Ctx, Events]),
       peer => "-", ratio => undefined, goal => "0 and 0 (with 0 uevents)",
       ok => Events > 0 orelse (Ticks =:= 0 andalso Ctx =:= 0),
       cmd => "utime+stime in /proc/PID/stat, ctxt switches in /proc/PID/status"}].

%% 10 s of the helper's CPU and context switches; retried when other
%% activity on the host sent uevents meanwhile.
quiet_window(Pid, Tries) ->
    {ok, #{counters := #{received := R0}}} = sysport_uevent:status(),
    timer:sleep(200),  % status/0 asked the helper for its counters: let it sleep again
    {Ticks, Ctx} = sysport_bench:idle_wakeups(Pid, 10000),
    {ok, #{counters := #{received := R1}, socket := {ok, #{stale := Stale}}}} = sysport_uevent:status(),
    Events = R1 - R0 + Stale,
    case Events > 0 andalso Tries > 1 of
        true -> quiet_window(Pid, Tries - 1);
        false -> {Ticks, Ctx, Events}
    end.

%% CPU time of every thread of a process, in ns (schedstat's first field):
%% a storm takes a fraction of a second, finer than /proc/PID/stat's ticks.
cpu_ns(OsPid) ->
    lists:sum([begin
                   {ok, B} = file:read_file(F),
                   binary_to_integer(hd(binary:split(B, <<" ">>)))
               end || F <- filelib:wildcard("/proc/" ++ integer_to_list(OsPid) ++ "/task/*/schedstat")]).

%%% udevadm and the kernel's view of each socket

start_udevadm() ->
    list_to_integer(sysport_bench:sh("udevadm monitor --kernel --property > /dev/null 2>&1 & echo $!")).

%% The Drops column of /proc/net/netlink for the process's uevent socket.
netlink_drops(OsPid) ->
    case netlink_row(OsPid) of
        [_Sk, _Eth, _Pid, _Groups, _Rmem, _Wmem, _Dump, _Locks, Drops, _Inode] -> list_to_integer(Drops);
        _ -> 0
    end.

netlink_row(OsPid) ->
    Fds = filelib:wildcard("/proc/" ++ integer_to_list(OsPid) ++ "/fd/*"),
    Inodes = [I || F <- Fds, {ok, "socket:[" ++ Rest} <- [file:read_link(F)], I <- [lists:droplast(Rest)]],
    {ok, Table} = file:read_file("/proc/net/netlink"),
    Rows = [string:lexemes(binary_to_list(L), " ") || L <- tl(binary:split(Table, <<"\n">>, [global, trim_all]))],
    case [R || R <- Rows, length(R) =:= 10, lists:nth(2, R) =:= "15", lists:member(lists:last(R), Inodes)] of
        [Row | _] -> Row;
        [] -> []
    end.

%% udevadm has read everything once its socket holds no bytes.
wait_drained(OsPid) ->
    case netlink_row(OsPid) of
        [_, _, _, _, "0" | _] -> timer:sleep(200);
        [] -> ok;
        _ -> timer:sleep(100), wait_drained(OsPid)
    end.

seqnum() ->
    {ok, B} = file:read_file("/sys/kernel/uevent_seqnum"),
    binary_to_integer(string:trim(B)).
