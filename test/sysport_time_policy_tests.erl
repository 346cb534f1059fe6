%% The time keeper's pure policy: clock filter, spikes, selection,
%% discipline, poll adaptation (sysport_time_ntp) and the sane-time floor
%% (sysport_time_floor).
-module(sysport_time_policy_tests).
-include_lib("eunit/include/eunit.hrl").

-define(MS, 1000000).
-define(LIMITS, #{poll_min => 16000, poll_max => 1024000}).

server() -> sysport_time_ntp:new_server(<<"ntp.example">>, 123, ?LIMITS).

sample(Offset, Delay, At) ->
    #{offset => Offset, delay => Delay, root_delay => 0, root_dispersion => 0,
      stratum => 2, leap => 0, refid => <<"GPS", 0>>, at => At}.

add(S, Offset, Delay, At) ->
    sysport_time_ntp:add_sample(S, sample(Offset, Delay, At), 16000).

sync() ->
    #{synchronized => false, spike_since => undefined, last_update => undefined,
      step_threshold => 400 * ?MS, stepout => 300000}.

first_sample_is_the_estimate_test() ->
    {accepted, S} = add(server(), 5 * ?MS, 2 * ?MS, 1000),
    ?assertMatch(#{offset := 5000000, jitter := 0, delay := 2000000},
                 sysport_time_ntp:estimate(S, 1000)),
    ?assertMatch(#{state := active, reach := 1}, S).

lowest_delay_wins_test() ->
    {accepted, S1} = add(server(), 1 * ?MS, 1 * ?MS, 0),
    %% A slower round trip a second later does not displace it...
    {held, S2} = add(S1, 9 * ?MS, 10 * ?MS, 1000),
    ?assertEqual(1 * ?MS, maps:get(offset, sysport_time_ntp:estimate(S2, 1000))),
    %% ...a faster one does.
    {accepted, S3} = add(S2, 2 * ?MS, 500000, 2000),
    ?assertEqual(2 * ?MS, maps:get(offset, sysport_time_ntp:estimate(S3, 2000))).

old_samples_age_out_test() ->
    {accepted, S1} = add(server(), 0, 1000, 0),
    %% 100 s later 15 ppm of age (1.5 ms) outweighs 1 us of delay.
    {accepted, S2} = add(S1, 7 * ?MS, 2000, 100000),
    ?assertEqual(7 * ?MS, maps:get(offset, sysport_time_ntp:estimate(S2, 100000))).

filter_keeps_eight_test() ->
    S = lists:foldl(fun(I, Acc) -> element(2, add(Acc, I, 1000, I)) end, server(), lists:seq(1, 20)),
    ?assertEqual(8, length(maps:get(samples, S))),
    ?assertEqual(255, maps:get(reach, S)).

popcorn_spike_held_then_accepted_test() ->
    %% A steady server: offsets within a few us.
    S0 = lists:foldl(fun({O, T}, Acc) -> element(2, add(Acc, O, 100000, T)) end, server(),
                     [{1000, 0}, {-1000, 16000}, {2000, 32000}, {0, 48000}]),
    Jitter = maps:get(jitter, sysport_time_ntp:estimate(S0, 48000)),
    ?assert(Jitter > 0),
    %% One sample 50 ms off with a fast round trip, within two polls: held.
    {held, S1} = add(S0, 50 * ?MS, 50000, 64000),
    ?assertEqual(1, maps:get(spikes, S1)),
    ?assertEqual(0, maps:get(offset, sysport_time_ntp:estimate(S1, 64000))),
    %% Two polls after the last accepted one, it is believed.
    {accepted, S2} = add(S1, 50 * ?MS, 40000, 96001),
    ?assertEqual(50 * ?MS, maps:get(offset, sysport_time_ntp:estimate(S2, 96001))).

misses_make_unreachable_test() ->
    {accepted, S0} = add(server(), 0, 1000, 0),
    S3 = lists:foldl(fun(_, Acc) -> sysport_time_ntp:miss(Acc) end, S0, [1, 2, 3]),
    ?assertMatch(#{state := active, reach := 2#1000}, S3),
    S4 = sysport_time_ntp:miss(S3),
    ?assertMatch(#{state := unreachable, reach := 2#10000}, S4),
    ?assertEqual(undefined, sysport_time_ntp:estimate(S4, 0)),
    %% An answer brings it back.
    {_, S5} = add(S4, 0, 1000, 1000),
    ?assertMatch(#{state := active, misses := 0}, S5).

kiss_of_death_test() ->
    {accepted, S} = add(server(), 0, 1000, 0),
    ?assertMatch(#{state := denied, kod := <<"DENY">>}, sysport_time_ntp:kod(S, <<"DENY">>)),
    ?assertMatch(#{state := denied}, sysport_time_ntp:kod(S, <<"RSTR">>)),
    ?assertEqual(undefined, sysport_time_ntp:estimate(sysport_time_ntp:kod(S, <<"DENY">>), 0)),
    ?assertMatch(#{poll := 64000, min_poll := 64000, state := active}, sysport_time_ntp:kod(S, <<"RATE">>)),
    %% RATE wins over poll_max, but not forever.
    Slow = S#{poll := 1024000},
    ?assertMatch(#{poll := 4096000}, sysport_time_ntp:kod(Slow, <<"RATE">>)),
    ?assertMatch(#{poll := 131072000}, sysport_time_ntp:kod(S#{poll := 100000000}, <<"RATE">>)),
    %% A code we do not act on is a miss.
    ?assertMatch(#{misses := 1, state := active, kod := <<"XYZ">>}, sysport_time_ntp:kod(S, <<"XYZ">>)).

selection_by_root_distance_test() ->
    Far = element(2, sysport_time_ntp:add_sample(server(), (sample(0, 40 * ?MS, 0))#{root_dispersion => 10 * ?MS}, 16000)),
    Near = element(2, add(server(), 0, 2 * ?MS, 0)),
    ?assertEqual(b, sysport_time_ntp:select(#{a => Far, b => Near}, undefined, 0)),
    ?assertEqual(b, sysport_time_ntp:select(#{a => Far, b => Near}, a, 0)),
    %% Within 10% of the best, the current choice stays.
    Near2 = element(2, add(server(), 0, 2100000, 0)),
    ?assertEqual(c, sysport_time_ntp:select(#{b => Near, c => Near2}, c, 0)),
    ?assertEqual(undefined, sysport_time_ntp:select(#{a => server()}, undefined, 0)),
    ?assertEqual(undefined, sysport_time_ntp:select(#{}, undefined, 0)).

distance_grows_with_age_test() ->
    {accepted, S} = add(server(), 0, 2 * ?MS, 0),
    E = sysport_time_ntp:estimate(S, 0),
    ?assertEqual(1 * ?MS, sysport_time_ntp:distance(E, 0)),
    ?assertEqual(1 * ?MS + 15000, sysport_time_ntp:distance(E, 1000)).

first_sync_steps_or_slews_test() ->
    {{step, O}, Sync} = sysport_time_ntp:discipline(sync(), (sample(5000 * ?MS, 0, 10))#{jitter => 0}, 10),
    ?assertEqual(5000 * ?MS, O),
    ?assertMatch(#{synchronized := true, last_update := 10}, Sync),
    ?assertMatch({{slew, 100000000}, #{synchronized := true}},
                 sysport_time_ntp:discipline(sync(), (sample(100 * ?MS, 0, 10))#{jitter => 0}, 10)),
    %% The threshold is strict: exactly 0.4 s slews.
    ?assertMatch({{slew, _}, _}, sysport_time_ntp:discipline(sync(), (sample(-400 * ?MS, 0, 10))#{jitter => 0}, 10)),
    ?assertMatch({{step, _}, _}, sysport_time_ntp:discipline(sync(), (sample(-401 * ?MS, 0, 10))#{jitter => 0}, 10)).

synchronized_big_offset_waits_for_stepout_test() ->
    Sync0 = (sync())#{synchronized := true, last_update := 0},
    Est = fun(At) -> (sample(2000 * ?MS, 0, At))#{jitter => 0} end,
    {spike, Sync1} = sysport_time_ntp:discipline(Sync0, Est(1000), 1000),
    {spike, Sync2} = sysport_time_ntp:discipline(Sync1, Est(200000), 200000),
    {{step, _}, Sync3} = sysport_time_ntp:discipline(Sync2, Est(301000), 301000),
    ?assertMatch(#{spike_since := undefined, last_update := 301000}, Sync3),
    %% A small offset in between ends the spike.
    {{slew, _}, #{spike_since := undefined}} =
        sysport_time_ntp:discipline(Sync1, (sample(1 * ?MS, 0, 2000))#{jitter => 0}, 2000).

stale_estimate_is_not_used_twice_test() ->
    Sync = (sync())#{synchronized := true, last_update := 5000},
    ?assertMatch({stale, Sync}, sysport_time_ntp:discipline(Sync, (sample(1, 0, 5000))#{jitter => 0}, 9000)).

poll_adapts_test() ->
    {accepted, S0} = add(server(), 0, 1000, 0),
    Good = fun(S) -> sysport_time_ntp:adapt_poll(S, 50000, ?LIMITS) end,
    S3 = Good(Good(Good(S0))),
    ?assertEqual(16000, maps:get(poll, S3)),
    S4 = Good(S3),
    ?assertEqual(32000, maps:get(poll, S4)),
    %% A bad offset halves it, never below the minimum.
    Bad = sysport_time_ntp:adapt_poll(S4, 50 * ?MS, ?LIMITS),
    ?assertEqual(16000, maps:get(poll, Bad)),
    ?assertEqual(16000, maps:get(poll, sysport_time_ntp:adapt_poll(Bad, 50 * ?MS, ?LIMITS))),
    %% Never above the maximum.
    Top = lists:foldl(fun(_, S) -> Good(S) end, S0, lists:seq(1, 100)),
    ?assertEqual(1024000, maps:get(poll, Top)).

time_constant_test() ->
    ?assertEqual(0, sysport_time_ntp:time_constant(1000)),
    ?assertEqual(4, sysport_time_ntp:time_constant(16000)),
    ?assertEqual(6, sysport_time_ntp:time_constant(64000)),
    ?assertEqual(10, sysport_time_ntp:time_constant(1024000)),
    ?assertEqual(10, sysport_time_ntp:time_constant(131072000)).

floor_is_the_latest_sane_time_test() ->
    W = 20 * 31556952,
    FW = 2 * 31556952,
    Windows = #{sane_window => W, time_file_window => FW},
    Floor = fun(File, Rtc) -> sysport_time_floor:compute(1000, File, Rtc, Windows) end,
    ?assertEqual(#{floor => 1000, ceiling => 1000 + W, source => build_time, ignored => []},
                 Floor(undefined, undefined)),
    ?assertMatch(#{floor := 2000, source := time_file, ignored := []}, Floor(2000, 1500)),
    ?assertMatch(#{floor := 3000, source := rtc, ignored := []}, Floor(2000, 3000)),
    %% Beyond its window after the build: corrupt, ignored. The time file's
    %% window is the shorter one.
    ?assertMatch(#{floor := 1500, source := rtc, ignored := [time_file]}, Floor(1000 + FW + 1, 1500)),
    ?assertMatch(#{floor := FloorT, source := time_file, ignored := []} when FloorT =:= 1000 + FW,
                 Floor(1000 + FW, undefined)),
    ?assertMatch(#{floor := FloorR, source := rtc, ignored := [time_file]} when FloorR =:= 1000 + W,
                 Floor(1000 + FW + 1, 1000 + W)),
    ?assertMatch(#{floor := 1000, source := build_time, ignored := [time_file, rtc]},
                 Floor(1000 + W + 1, 1000 + W + 5)).

clock_against_floor_test() ->
    S = 1000000000,
    ?assertEqual({step, 10 * S, below_floor}, sysport_time_floor:check_clock(990 * S, 1000, 1100)),
    ?assertEqual(ok, sysport_time_floor:check_clock(1000 * S, 1000, 1100)),
    ?assertEqual(ok, sysport_time_floor:check_clock(1100 * S, 1000, 1100)),
    ?assertEqual({step, -101 * S, beyond_window}, sysport_time_floor:check_clock(1101 * S, 1000, 1100)),
    ?assertEqual(below_floor, sysport_time_floor:check_time(999999999999, 1000, 1100)),
    ?assertEqual(beyond_window, sysport_time_floor:check_time(1100 * S + 1, 1000, 1100)).

%% Servers with one sample each: offset O ms, root distance D ms.
servers(Specs) ->
    maps:from_list([{K, element(2, sysport_time_ntp:add_sample(
                                       server(), (sample(O * ?MS, 0, 0))#{root_dispersion => D * ?MS}, 16000))}
                    || {K, O, D} <- Specs]).

truechimers_are_the_majority_test() ->
    True = fun(Specs) -> sysport_time_ntp:truechimers(servers(Specs), 0) end,
    %% One liar a year off, with the smallest root distance, among three.
    Year = 31556952000,
    ?assertEqual([b, c, d], True([{a, Year, 1}, {b, 0, 10}, {c, 3, 10}, {d, -2, 10}])),
    %% Overlapping, not identical: 0 +- 5 and 8 +- 5 share [3, 5].
    ?assertEqual([a, b, c], True([{a, 0, 5}, {b, 8, 5}, {c, 4, 1}])),
    %% Two against two: no majority, nothing moves the clock.
    ?assertEqual([], True([{a, 0, 1}, {b, 0, 1}, {c, 1000, 1}, {d, 1000, 1}])),
    %% Configured three or more, one answering: not enough on its own...
    ?assertEqual([], sysport_time_ntp:truechimers((servers([{a, 0, 1}]))#{b => server(), c => server()}, 0)),
    %% ...two that agree are.
    ?assertEqual([a, b], sysport_time_ntp:truechimers((servers([{a, 0, 1}, {b, 1, 1}]))#{c => server()}, 0)),
    %% And two configured that disagree: neither.
    ?assertEqual([], True([{a, 0, 1}, {b, 1000, 1}])),
    %% One configured, one answering: it is the majority.
    ?assertEqual([a], True([{a, 0, 1}])),
    ?assertEqual([], True([])).

panic_needs_three_test() ->
    P = 1000 * 1000000000,
    ?assertEqual(ok, sysport_time_ntp:step_allowed(2 * P, 1, false, P)),
    ?assertEqual({refused, panic}, sysport_time_ntp:step_allowed(2 * P, 2, true, P)),
    ?assertEqual({refused, panic}, sysport_time_ntp:step_allowed(-2 * P, 1, true, P)),
    ?assertEqual(ok, sysport_time_ntp:step_allowed(P, 1, true, P)),
    ?assertEqual(ok, sysport_time_ntp:step_allowed(2 * P, 3, true, P)).

time_file_round_trip_test() ->
    Path = filename:join(os:getenv("TMPDIR", "/tmp"),
                         "sysport_time_stamp_" ++ integer_to_list(erlang:unique_integer([positive]))),
    try
        ?assertEqual({error, enoent}, sysport_time_floor:read_file(Path)),
        ?assertEqual(ok, sysport_time_floor:touch(Path, 1700000000)),
        ?assertEqual({ok, 1700000000}, sysport_time_floor:read_file(Path)),
        ?assertEqual(ok, sysport_time_floor:touch(Path, 1800000000)),
        ?assertEqual({ok, 1800000000}, sysport_time_floor:read_file(Path)),
        ?assertEqual({ok, <<>>}, file:read_file(Path))
    after
        file:delete(Path)
    end,
    ?assertEqual({error, eisdir}, sysport_time_floor:read_file("/")).

%% A symlink or a hard link planted where the time file goes: the time
%% is not stored through it, the file it points at keeps its time.
time_file_never_touched_through_links_test() ->
    Dir = filename:join(os:getenv("TMPDIR", "/tmp"),
                        "sysport_time_links_" ++ integer_to_list(erlang:unique_integer([positive]))),
    ok = file:make_dir(Dir),
    Victim = filename:join(Dir, "victim"),
    Stamp = filename:join(Dir, "stamp"),
    try
        ok = file:write_file(Victim, <<"root's">>),
        ok = sysport_time_floor:touch(Victim, 1600000000),
        ok = file:make_symlink(Victim, Stamp),
        ?assertMatch({error, {symlink, _}}, sysport_time_floor:touch(Stamp, 1800000000)),
        ok = file:delete(Stamp),
        ok = file:make_link(Victim, Stamp),
        ?assertMatch({error, {hard_linked, _}}, sysport_time_floor:touch(Stamp, 1800000000)),
        ?assertEqual({ok, 1600000000}, sysport_time_floor:read_file(Victim)),
        ?assertEqual({ok, <<"root's">>}, file:read_file(Victim))
    after
        os:cmd("rm -rf " ++ Dir)
    end.

%% Server lists as set_servers/1 gets them, absurd ones included (an
%% improper list once crashed the service: found by sysport_args_SUITE).
parse_servers_test() ->
    ?assertEqual({ok, [{<<"ntp.example.com">>, 123}, {<<"10.0.0.1">>, 1123}]},
                 sysport_time_opts:parse_servers(["ntp.example.com", {<<"10.0.0.1">>, 1123}])),
    ?assertEqual({error, {bad_server, 223}}, sysport_time_opts:parse_servers([<<"IK">>, [0] | 223])),
    ?assertEqual({error, {bad_server, nope}}, sysport_time_opts:parse_servers(nope)),
    ?assertEqual({error, {bad_server, {"h", 0}}}, sysport_time_opts:parse_servers([{"h", 0}])),
    ?assertEqual({error, {bad_server, {[<<"a">> | b], 123}}}, sysport_time_opts:parse_servers([[<<"a">> | b]])).
