%% Issue 2: the port runtime against the raw pipe limits.
-module(port_bench).
-export([rows/1]).

-define(CALLS, 20000).
-define(EVENTS, 500000).

rows(#{testhelper := Helper, bin := Bin}) ->
    Stripped = Helper ++ ".stripped",
    {ok, P} = sysport_port:start_link(#{helper => Stripped}),
    RoundTrip = round_trip(P, Bin),
    Events = events(P, Helper, Bin),
    Footprint = footprint(Stripped),
    sysport_port:stop(P),
    RoundTrip ++ Events ++ Footprint.

round_trip(P, Bin) ->
    [ok = sysport_port:call(P, ping) || _ <- lists:seq(1, 1000)],
    Lat = lists:sort([begin
                          T0 = erlang:monotonic_time(nanosecond),
                          ok = sysport_port:call(P, ping),
                          (erlang:monotonic_time(nanosecond) - T0) / 1000
                      end || _ <- lists:seq(1, ?CALLS)]),
    Req = byte_size(term_to_binary({call, 1000, ping})),
    Reply = byte_size(term_to_binary({reply, 1000, ok})),
    Cmd = sysport_bench:fmt("~s/bench_pipe pingpong ~b ~b ~b", [Bin, Req, Reply, ?CALLS]),
    [RawP50, RawP99] = [list_to_float(X) || X <- string:lexemes(sysport_bench:sh(Cmd), " ")],
    P50 = sysport_bench:percentile(Lat, 0.5),
    P99 = sysport_bench:percentile(Lat, 0.99),
    [#{bench => "call round trip p50 (owner + helper vs C ping-pong over 2 pipes)",
       sysport => sysport_bench:fmt("~.1f us", [P50]), peer => sysport_bench:fmt("~.1f us", [RawP50]),
       ratio => P50 / RawP50, goal => "<= 1.5x", ok => P50 / RawP50 =< 1.5,
       cmd => "port_bench:round_trip + " ++ Cmd},
     #{bench => "call round trip p99",
       sysport => sysport_bench:fmt("~.1f us", [P99]), peer => sysport_bench:fmt("~.1f us", [RawP99]),
       ratio => P99 / RawP99, goal => "(reported)", ok => true, cmd => Cmd}].

events(P, Helper, Bin) ->
    ok = sysport_port:cast(P, {events, 1000, 100}),
    drain(1000),
    T0 = erlang:monotonic_time(microsecond),
    ok = sysport_port:cast(P, {events, ?EVENTS, 100}),
    drain(?EVENTS),
    Rate = ?EVENTS / ((erlang:monotonic_time(microsecond) - T0) / 1.0e6),
    Cmd = sysport_bench:fmt("~s/bench_pipe reader ~s ~b 100", [Bin, Helper, ?EVENTS]),
    [_, Raw] = string:lexemes(sysport_bench:sh(Cmd), " "),
    RawRate = list_to_integer(Raw),
    [#{bench => "100-byte events helper -> Erlang process (vs a C reader of the same pipe)",
       sysport => sysport_bench:fmt("~b frames/s", [round(Rate)]),
       peer => sysport_bench:fmt("~b frames/s", [RawRate]),
       ratio => Rate / RawRate, goal => ">= 200000 frames/s", ok => Rate >= 200000,
       cmd => "port_bench:events + " ++ Cmd}].

drain(0) -> ok;
drain(N) -> receive {sysport_port, _, {event, _}} -> drain(N - 1) end.

footprint(Stripped) ->
    {ok, P2} = sysport_port:start_link(#{helper => Stripped}),
    Fresh = maps:get(os_pid, sysport_port:stats(P2)),
    Rss = sysport_bench:proc_status_kb(Fresh, <<"VmRSS">>),
    Size = filelib:file_size(Stripped),
    {Ticks, Ctx} = sysport_bench:idle_wakeups(Fresh, 10000),
    sysport_port:stop(P2),
    [#{bench => "test helper stripped size", sysport => sysport_bench:fmt("~b KiB", [Size div 1024]),
       peer => "-", ratio => undefined, goal => "(reported)", ok => true, cmd => "stat " ++ Stripped},
     #{bench => "test helper RSS after start", sysport => sysport_bench:fmt("~b KiB", [Rss]),
       peer => "-", ratio => undefined, goal => "<= 1536 KiB", ok => Rss =< 1536,
       cmd => "VmRSS in /proc/PID/status"},
     #{bench => "test helper wakeups over 10 s idle",
       sysport => sysport_bench:fmt("~b ticks, ~b ctx switches", [Ticks, Ctx]),
       peer => "-", ratio => undefined, goal => "0 and 0", ok => Ticks =:= 0 andalso Ctx =:= 0,
       cmd => "utime+stime in /proc/PID/stat, ctxt switches in /proc/PID/status"}].
