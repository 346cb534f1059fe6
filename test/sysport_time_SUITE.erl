%% The time keeper end to end: the service and its helper (the ASan+UBSan
%% build under `make ct') against chronyd, against a scripted gen_udp
%% server, with sane-time floors, and against a fake RTC (an LD_PRELOAD
%% shim, test/c/fake_rtc.c, built here).
%%
%% Every case runs the recording clock backend: nothing here can move the
%% host's clock (init_per_suite also sets SYSPORT_TIME_CLOCK=recording,
%% which the helper obeys whatever it is asked).
-module(sysport_time_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").
-include_lib("kernel/include/file.hrl").

-export([all/0, groups/0, init_per_suite/1, end_per_suite/1, init_per_group/2, end_per_group/2,
         init_per_testcase/2, end_per_testcase/2]).
-export([chronyd_ipv4/1, chronyd_ipv6/1,
         skew_5s_steps_once/1, skew_100ms_slews/1, kod_rate_backs_off/1, kod_deny_fails_over/1,
         bad_replies_rejected/1, failover_to_next_address/1, silence_loses_sync/1,
         spike_waits_for_stepout/1,
         liar_of_four_never_selected/1, one_server_years_behind_refused/1,
         one_server_30_years_ahead_refused/1, big_step_after_sync_needs_three/1,
         reply_across_a_step_dropped/1, negative_delay_rejected/1,
         floor_from_time_file/1, clock_at_epoch_moves_to_build_time/1,
         far_future_time_file_ignored/1, clock_beyond_window_moves_back/1, time_file_follows_sync/1,
         rtc_read_ioctl/1, rtc_torn_read/1, rtc_write_aligned/1, rtc_write_aligned_cmos/1,
         rtc_battery_low_not_trusted/1, rtc_invalid_reported/1, rtc_ebusy_retried/1,
         rtc_sysfs_fallback/1, rtc_sane_raises_floor/1, rtc_written_after_step/1,
         bad_options/1, set_time_by_hand/1, set_servers/1, helper_killed_service_survives/1,
         recording_forced_by_env/1, absent_rtc_reported/1, facade_prints_status/1,
         valgrind_clean/1]).

-define(S, 1000000000).

all() ->
    [{group, chronyd}, {group, scripted}, {group, agreement}, {group, sane_time}, {group, rtc},
     {group, misc}].

groups() ->
    [{chronyd, [], [chronyd_ipv4, chronyd_ipv6]},
     {scripted, [], [skew_5s_steps_once, skew_100ms_slews, kod_rate_backs_off, kod_deny_fails_over,
                     bad_replies_rejected, failover_to_next_address, silence_loses_sync,
                     spike_waits_for_stepout]},
     {agreement, [], [liar_of_four_never_selected, one_server_years_behind_refused,
                      one_server_30_years_ahead_refused, big_step_after_sync_needs_three,
                      reply_across_a_step_dropped, negative_delay_rejected]},
     {sane_time, [], [floor_from_time_file, clock_at_epoch_moves_to_build_time,
                      far_future_time_file_ignored, clock_beyond_window_moves_back,
                      time_file_follows_sync]},
     {rtc, [], [rtc_read_ioctl, rtc_torn_read, rtc_write_aligned, rtc_write_aligned_cmos,
                rtc_battery_low_not_trusted, rtc_invalid_reported, rtc_ebusy_retried,
                rtc_sysfs_fallback, rtc_sane_raises_floor, rtc_written_after_step]},
     {misc, [], [bad_options, set_time_by_hand, set_servers, helper_killed_service_survives,
                 recording_forced_by_env, absent_rtc_reported, facade_prints_status,
                 valgrind_clean]}].

init_per_suite(Config) ->
    os:putenv("SYSPORT_TIME_CLOCK", "recording"),
    Config.

end_per_suite(_Config) ->
    ok.

init_per_group(chronyd, Config) ->
    case os:find_executable("chronyd") of
        false -> ct:fail("chronyd not installed (apt-get install chrony)");
        Exe -> start_chronyd(Exe, Config)
    end;
init_per_group(rtc, Config) ->
    So = filename:join(?config(priv_dir, Config), "fake_rtc.so"),
    Src = filename:join([sysport_test_lib:project_root(), "test", "c", "fake_rtc.c"]),
    {0, _} = sysport_test_lib:os_cmd("cc -shared -fPIC -O1 -Wall -Werror -o " ++ So ++ " " ++ Src ++ " -ldl"),
    [{shim, So} | Config];
init_per_group(_, Config) ->
    Config.

end_per_group(chronyd, Config) ->
    OsPid = ?config(chronyd_pid, Config),
    _ = sysport_test_lib:os_cmd("kill " ++ integer_to_list(OsPid)),
    ok;
end_per_group(_, _Config) ->
    ok.

init_per_testcase(Case, Config) ->
    process_flag(trap_exit, true),
    Dir = filename:join(?config(priv_dir, Config), atom_to_list(Case)),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    [{dir, Dir} | Config].

end_per_testcase(_Case, _Config) ->
    catch sysport_time:stop(),
    [catch sysport_time_responder:stop(P) || {responder, P} <- get()],
    erase(),
    ok.

%%% Starting the service

%% Quick polls so the cases take seconds: poll 1 s, bursts 50 ms apart.
start(Config, Opts) ->
    Defaults = #{clock => recording, rtc => none, servers => [],
                 time_file => filename:join(?config(dir, Config), "stamp"),
                 poll_min => 1000, poll_max => 1000, burst_interval => 50, query_timeout => 300,
                 sync_lost_after => 3000, stepout => 60000},
    {ok, Pid} = sysport_time:start_link(maps:merge(Defaults, Opts)),
    Pid.

%% Subscribed from the start, so events of the start itself arrive too.
subscribed(Config, Opts) ->
    start(Config, Opts#{subscribers => [self()]}).

responder(Behaviour) -> responder({127, 0, 0, 1}, Behaviour).

responder(Ip, Behaviour) ->
    {ok, R} = sysport_time_responder:start(Ip, Behaviour),
    put({responder, R}, true),
    {R, sysport_time_responder:port(R)}.

wait_event(Event, Timeout) ->
    receive {sysport_time, Event, Info} -> Info
    after Timeout -> ct:fail({no_event, Event, Timeout})
    end.

no_event(Event, Ms) ->
    receive {sysport_time, Event, Info} -> ct:fail({unexpected, Event, Info})
    after Ms -> ok
    end.

recorded(Op) ->
    {ok, All} = sysport_time:recorded(),
    [R || #{op := O} = R <- All, O =:= Op].

status() ->
    {ok, S} = sysport_time:status(),
    S.

server(Port) ->
    {ok, Servers} = sysport_time:servers(),
    [S] = [S || #{port := P} = S <- Servers, P =:= Port],
    S.

rejected(Reason) ->
    maps:get(Reason, maps:get(rejected_reasons, status()), 0).

wait_until(Fun, Timeout) ->
    ok = sysport_test_lib:wait_until(Fun, Timeout, 20).

%%% Against chronyd

start_chronyd(Exe, Config) ->
    Dir = filename:join(?config(priv_dir, Config), "chronyd"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Port = free_udp_port(),
    Conf = filename:join(Dir, "chronyd.conf"),
    ok = file:write_file(Conf, io_lib:format(
                                 "local stratum 10\nallow 127.0.0.1\nallow ::1\nport ~b\n"
                                 "bindaddress 127.0.0.1\nbindaddress ::1\ncmdport 0\n"
                                 "pidfile ~s/chronyd.pid\ndriftfile ~s/drift\n", [Port, Dir, Dir])),
    %% -x: never touch the clock; -d: stay in the foreground, our child.
    P = open_port({spawn_executable, Exe}, [{args, ["-x", "-d", "-f", Conf]}, exit_status,
                                           stderr_to_stdout, {line, 1000}]),
    {os_pid, OsPid} = erlang:port_info(P, os_pid),
    ok = sysport_test_lib:wait_until(fun() -> ntp_answers({127, 0, 0, 1}, Port) end, 10000, 200),
    [{chronyd_port, Port}, {chronyd_pid, OsPid} | Config].

free_udp_port() ->
    {ok, S} = gen_udp:open(0, [{ip, {127, 0, 0, 1}}]),
    {ok, Port} = inet:port(S),
    gen_udp:close(S),
    Port.

ntp_answers(Ip, Port) ->
    {ok, S} = gen_udp:open(0, [binary, {active, false}]),
    ok = gen_udp:send(S, Ip, Port, <<16#23, 0:(47 * 8)>>),
    R = gen_udp:recv(S, 0, 200),
    gen_udp:close(S),
    element(1, R) =:= ok.

%% chronyd's own measurement of the same server, as a client that never
%% sets the clock (-Q), in seconds: "System clock wrong by X seconds".
chronyd_measure(Host, Port) ->
    Cmd = io_lib:format("chronyd -Q -t 20 -f /dev/null 'server ~s port ~b iburst minpoll -6 maxpoll -6' 2>&1",
                        [Host, Port]),
    Out = os:cmd(lists:flatten(Cmd)),
    case re:run(Out, "System clock wrong by (-?[0-9.]+) seconds", [{capture, all_but_first, list}]) of
        {match, [X]} -> list_to_float(X);
        nomatch -> ct:fail({chronyd_q, Out})
    end.

against_chronyd(Host, Config) ->
    Port = ?config(chronyd_port, Config),
    %% Our clock is 0.2 s behind: a slew of +0.2 s is the expected answer,
    %% and what we measure minus 0.2 s is what chronyd measures.
    Behind = 200000000,
    subscribed(Config, #{servers => [{Host, Port}], clock => {recording, -Behind}}),
    #{offset := Offset, stratum := 10} = wait_event(sync_acquired, 5000),
    ?assertEqual({ok, true}, sysport_time:synchronized()),
    Chrony = chronyd_measure(Host, Port),
    ct:pal("sysport ~.6f s - 0.2 s vs chronyd -Q ~.6f s", [Offset, Chrony]),
    ?assert(abs((Offset - Behind / ?S) - Chrony) < 0.0001),
    [#{ns := Slew}] = recorded(slew),
    ?assert(abs(Slew - Behind) < 100000),
    ?assertEqual([], recorded(step)),
    ?assertMatch(#{synchronized := true, stratum := 10, server := _}, status()),
    %% What the kernel would say: synchronized, the PLL's time constant
    %% log2 of the 1 s poll.
    ?assertMatch(#{kernel := #{synchronized := true, constant := 0}}, status()).

chronyd_ipv4(Config) -> against_chronyd("127.0.0.1", Config).

chronyd_ipv6(Config) -> against_chronyd("::1", Config).

%%% Against a scripted server

skew_5s_steps_once(Config) ->
    {_, Port} = responder(#{skew => 5 * ?S}),
    subscribed(Config, #{servers => [{"127.0.0.1", Port}]}),
    #{reason := ntp, ns := Step} = wait_event(clock_step, 5000),
    wait_event(sync_acquired, 1000),
    ?assert(abs(Step - 5 * ?S) =< 1000000),
    %% Polls after the step see the clock right: no second step.
    Samples = maps:get(samples, maps:get(counters, status())),
    wait_until(fun() -> maps:get(samples, maps:get(counters, status())) >= Samples + 3 end, 10000),
    ?assertMatch([#{ns := Step}], recorded(step)),
    ?assert(abs(maps:get(offset, server(Port))) < 0.001).

skew_100ms_slews(Config) ->
    {_, Port} = responder(#{skew => 100000000}),
    subscribed(Config, #{servers => [{"127.0.0.1", Port}]}),
    #{ns := Slew} = wait_event(clock_slew, 5000),
    wait_event(sync_acquired, 1000),
    ?assert(abs(Slew - 100000000) =< 1000000),
    ?assertEqual([], recorded(step)),
    no_event(clock_step, 2500),
    ?assertEqual([], recorded(step)).

kod_rate_backs_off(Config) ->
    {R, Port} = responder(#{}),
    subscribed(Config, #{servers => [{"127.0.0.1", Port}]}),
    wait_event(sync_acquired, 5000),
    ?assertEqual(1.0, maps:get(poll, server(Port))),
    ok = sysport_time_responder:set(R, #{reply => {kod, <<"RATE">>}}),
    wait_until(fun() -> rejected({kod, <<"RATE">>}) >= 1 end, 5000),
    %% 4 times the poll (past poll_max: the server asked), and no query
    %% before it is up.
    ?assertMatch(#{poll := 4.0, kod := <<"RATE">>, state := active}, server(Port)),
    N = sysport_time_responder:requests(R),
    timer:sleep(2500),
    ?assertEqual(N, sysport_time_responder:requests(R)).

kod_deny_fails_over(Config) ->
    %% A is the better server (stratum 1, less dispersion) until it says DENY.
    {A, PortA} = responder(#{stratum => 1, root_dispersion => 16#10}),
    {_, PortB} = responder(#{stratum => 3, root_dispersion => 16#2000}),
    subscribed(Config, #{servers => [{"127.0.0.1", PortA}, {"127.0.0.1", PortB}]}),
    wait_event(sync_acquired, 5000),
    wait_until(fun() -> maps:get(selected, server(PortA)) end, 3000),
    ok = sysport_time_responder:set(A, #{reply => {kod, <<"DENY">>}}),
    wait_until(fun() -> maps:get(selected, server(PortB)) end, 5000),
    ?assertMatch(#{state := denied, kod := <<"DENY">>, selected := false}, server(PortA)),
    ?assertEqual(1, rejected({kod, <<"DENY">>})),
    %% Dropped for good: A hears nothing more.
    N = sysport_time_responder:requests(A),
    timer:sleep(2500),
    ?assertEqual(N, sysport_time_responder:requests(A)),
    ?assertEqual({ok, true}, sysport_time:synchronized()).

bad_replies_rejected(Config) ->
    {R, Port} = responder(#{reply => silent}),
    start(Config, #{servers => [{"127.0.0.1", Port}]}),
    Cases = [{#{reply => wrong_origin}, bogus_origin}, {#{reply => wrong_port}, wrong_source},
             {#{reply => short}, short_packet}, {#{mode => 3}, bad_mode},
             {#{reply => zero_tx}, zero_timestamp}, {#{version => 0}, bad_version},
             {#{li => 3}, unsynchronized}, {#{mode => 5}, bad_mode},
             {#{stratum => 16}, bad_stratum}, {#{reply => zero_rx}, zero_timestamp},
             {#{root_dispersion => 16#18000}, root_distance}],
    lists:foreach(
      fun({Behaviour, Reason}) ->
              Before = rejected(Reason),
              ok = sysport_time_responder:set(R, Behaviour),
              wait_until(fun() -> rejected(Reason) > Before end, 5000)
      end, Cases),
    ?assertEqual({ok, []}, sysport_time:recorded()),
    ?assertMatch(#{synchronized := false, offset_ms := undefined}, status()),
    ?assertEqual(0, maps:get(samples, maps:get(counters, status()), 0)).

failover_to_next_address(Config) ->
    %% A name with two addresses, 127.0.0.1 and ::1 (in the VM's own host
    %% table): the first is silent, so after four misses the name is
    %% resolved again and the next address used.
    Name = "sysport-time-failover.test",
    Lookup = inet_db:res_option(lookup),
    ok = inet_db:set_lookup([file, native]),
    ok = inet_db:add_host({127, 0, 0, 1}, [Name]),
    ok = inet_db:add_host({0, 0, 0, 0, 0, 0, 0, 1}, [Name]),
    try
        {Silent, Port} = responder(#{reply => silent}),
        {ok, Answering} = sysport_time_responder:start({0, 0, 0, 0, 0, 0, 0, 1}, Port, #{}),
        put({responder, Answering}, true),
        subscribed(Config, #{servers => [{Name, Port}]}),
        wait_event(sync_acquired, 10000),
        ?assertMatch(#{address := <<"::1">>, state := active, selected := true}, server(Port)),
        ?assert(sysport_time_responder:requests(Silent) >= 4)
    after
        inet_db:del_host({127, 0, 0, 1}),
        inet_db:del_host({0, 0, 0, 0, 0, 0, 0, 1}),
        inet_db:set_lookup(Lookup)
    end.

silence_loses_sync(Config) ->
    {R, Port} = responder(#{}),
    subscribed(Config, #{servers => [{"127.0.0.1", Port}], sync_lost_after => 3000}),
    wait_event(sync_acquired, 5000),
    ok = sysport_time_responder:set(R, #{reply => silent}),
    T0 = erlang:monotonic_time(millisecond),
    wait_event(sync_lost, 8000),
    Elapsed = erlang:monotonic_time(millisecond) - T0,
    %% 3 s after the last answer; the last one came at most one poll
    %% (1 s) before the silence began.
    ?assert(Elapsed >= 3000 - 1000 - 50),
    ?assertEqual({ok, false}, sysport_time:synchronized()),
    %% Four misses make the server unreachable (and it is resolved again).
    wait_until(fun() -> maps:get(state, server(Port)) =:= unreachable end, 5000),
    %% When it answers again, it is used again.
    ok = sysport_time_responder:set(R, #{}),
    wait_event(sync_acquired, 8000).

spike_waits_for_stepout(Config) ->
    {R, Port} = responder(#{}),
    subscribed(Config, #{servers => [{"127.0.0.1", Port}], stepout => 2500}),
    wait_event(sync_acquired, 5000),
    ok = sysport_time_responder:set(R, #{skew => 2 * ?S}),
    T0 = erlang:monotonic_time(millisecond),
    %% Synchronized, 2 s off is a spike until it has lasted stepout.
    #{ns := Step} = wait_event(clock_step, 15000),
    ?assert(erlang:monotonic_time(millisecond) - T0 >= 2500),
    ?assert(abs(Step - 2 * ?S) =< 1000000),
    ?assert(maps:get(spikes, maps:get(counters, status())) >= 1).

%%% No single server decides

-define(YEAR, 31556952).

liar_of_four_never_selected(Config) ->
    %% Three honest servers 5 s ahead of the host, and one a year ahead
    %% that looks best of all: stratum 1, the smallest root distance.
    Honest = [element(2, responder(#{skew => 5 * ?S})) || _ <- [1, 2, 3]],
    {Liar, LiarPort} = responder(#{skew => ?YEAR * ?S, stratum => 1, root_dispersion => 1}),
    subscribed(Config, #{servers => [{"127.0.0.1", P} || P <- [LiarPort | Honest]]}),
    #{reason := ntp, ns := Step} = wait_event(clock_step, 5000),
    wait_event(sync_acquired, 1000),
    ?assert(abs(Step - 5 * ?S) =< 1000000),
    %% The liar keeps answering; it is found out and never followed.
    N = sysport_time_responder:requests(Liar),
    wait_until(fun() -> sysport_time_responder:requests(Liar) >= N + 3 end, 10000),
    wait_until(fun() -> maps:get(falseticker, server(LiarPort)) end, 5000),
    ?assertMatch(#{selected := false, falseticker := true}, server(LiarPort)),
    %% Right after the step the samples from before it are dropped: the
    %% honest three are truechimers again once each has answered since.
    wait_until(fun() -> maps:get(truechimers, status()) =:= 3 end, 10000),
    ?assertMatch(#{truechimers := 3, falsetickers := [<<"127.0.0.1">>]}, status()),
    ?assert(lists:any(fun(P) -> maps:get(selected, server(P)) end, Honest)),
    ?assertMatch([#{ns := Step}], recorded(step)),
    ?assertEqual([], [R || #{ns := Ns} = R <- recorded(slew), abs(Ns) > ?S]),
    %% Counted each time it is found out again (after it had no estimate).
    ?assert(maps:get(falsetickers, maps:get(counters, status())) >= 1).

%% One server whose time is below the floor (the build time: no stamp
%% file here) is refused however it answers; the clock stays.
one_server_years_behind_refused(Config) ->
    lists:foreach(
      fun(Years) ->
              {R, Port} = responder(#{skew => -Years * ?YEAR * ?S}),
              start(Config, #{servers => [{"127.0.0.1", Port}]}),
              wait_until(fun() -> rejected(below_floor) >= 5 end, 10000),
              ?assertMatch(#{synchronized := false, server := undefined}, status()),
              ?assertEqual({ok, []}, sysport_time:recorded()),
              ?assertEqual(0, maps:get(samples, maps:get(counters, status()), 0)),
              ok = sysport_time:stop(),
              sysport_time_responder:stop(R)
      end, [5, 40]).

one_server_30_years_ahead_refused(Config) ->
    {_, Port} = responder(#{skew => 30 * ?YEAR * ?S}),
    start(Config, #{servers => [{"127.0.0.1", Port}]}),
    wait_until(fun() -> rejected(beyond_window) >= 5 end, 10000),
    ?assertMatch(#{synchronized := false}, status()),
    ?assertEqual({ok, []}, sysport_time:recorded()),
    %% The ceiling is the build time plus the sane window.
    #{ceiling := Ceiling} = status(),
    Build = maps:get(build_time, sysport_port:info(port_of())),
    ?assertEqual(Build + 20 * ?YEAR, Ceiling).

%% After the first sync, one server (or two) cannot step the clock by more
%% than the panic threshold; three that agree can.
big_step_after_sync_needs_three(Config) ->
    {R, Port} = responder(#{}),
    subscribed(Config, #{servers => [{"127.0.0.1", Port}], stepout => 500, panic_threshold => 1000}),
    wait_event(sync_acquired, 5000),
    ok = sysport_time_responder:set(R, #{skew => 2000 * ?S}),
    wait_until(fun() -> rejected(panic) >= 1 end, 30000),
    ?assertEqual([], recorded(step)),
    ?assertEqual({ok, true}, sysport_time:synchronized()),
    %% Below the threshold a single server still steps (after stepout).
    ok = sysport_time_responder:set(R, #{skew => 900 * ?S}),
    #{ns := Step} = wait_event(clock_step, 15000),
    ?assert(abs(Step - 900 * ?S) =< 1000000),
    ok = sysport_time:stop(),
    flush_events(),
    [sysport_time_responder:stop(P) || {responder, P} <- get()],
    erase(),
    %% A fresh node: the time file the first one touched 900 s ahead would
    %% put the floor above these servers' time.
    Rs = [responder(#{}) || _ <- [1, 2, 3]],
    subscribed(Config, #{servers => [{"127.0.0.1", P} || {_, P} <- Rs], stepout => 500,
                         panic_threshold => 1000, time_file => none}),
    wait_event(sync_acquired, 5000),
    [ok = sysport_time_responder:set(Ri, #{skew => 2000 * ?S}) || {Ri, _} <- Rs],
    #{ns := Big} = wait_event(clock_step, 15000),
    ?assert(abs(Big - 2000 * ?S) =< 1000000).

flush_events() ->
    receive {sysport_time, _, _} -> flush_events() after 0 -> ok end.

%% The helper itself: an answer that comes back after the clock was stepped
%% mixes two clocks and is refused; the same exchange without a step is
%% fine.
reply_across_a_step_dropped(_Config) ->
    {_, Port} = responder(#{delay => 1000}),
    Helper = sysport_env:helper_path("sysport_time"),
    {ok, P} = sysport_port:start_link(#{helper => Helper, args => ["--clock=recording", "--rtc=none"]}),
    Query = {sntp, <<"127.0.0.1">>, Port, 5000},
    ?assertMatch({ok, #{offset := _}}, sysport_port:call(P, Query, 10000)),
    ok = sysport_port:request(P, Query, 10000, across),
    ok = sysport_port:call(P, {step, 3 * ?S}),
    receive {sysport_port, P, {reply, across, Result}} -> ?assertEqual({error, clock_changed}, Result)
    after 10000 -> ct:fail(no_reply)
    end,
    sysport_port:stop(P).

negative_delay_rejected(Config) ->
    %% The server says it held the request a second; the round trip took a
    %% millisecond.
    {_, Port} = responder(#{hold => ?S}),
    start(Config, #{servers => [{"127.0.0.1", Port}]}),
    wait_until(fun() -> rejected(negative_delay) >= 2 end, 10000),
    ?assertEqual({ok, []}, sysport_time:recorded()),
    ?assertMatch(#{synchronized := false}, status()).

%%% Sane time

set_mtime(Path, Secs) ->
    ok = file:write_file(Path, <<>>),
    ok = file:write_file_info(Path, #file_info{mtime = Secs, atime = Secs}, [{time, posix}]).

mtime(Path) ->
    {ok, #file_info{mtime = M}} = file:read_file_info(Path, [{time, posix}]),
    M.

floor_from_time_file(Config) ->
    Stamp = filename:join(?config(dir, Config), "stamp"),
    Stored = os:system_time(second) + 86400,
    set_mtime(Stamp, Stored),
    subscribed(Config, #{time_file => Stamp}),
    #{floor := Stored, source := time_file, reason := below_floor, step_ns := Step} =
        wait_event(floor_applied, 1000),
    #{floor := Stored, floor_source := time_file, time_file := #{state := ok}} = status(),
    [#{ns := Step}] = recorded(step),
    %% Up to the stored second (the clock was a fraction into its second).
    ?assert(abs(Step - 86400 * ?S) < 2 * ?S),
    ?assertEqual(1, maps:get(floor_steps, maps:get(counters, status()))).

clock_at_epoch_moves_to_build_time(Config) ->
    %% A board without RTC battery boots in 1970.
    subscribed(Config, #{clock => {recording, -os:system_time(nanosecond)}, time_file => none}),
    #{floor := Floor, source := build_time} = wait_event(floor_applied, 1000),
    #{floor := Floor, floor_source := build_time} = status(),
    ?assertEqual(maps:get(build_time, sysport_port:info(port_of())), Floor),
    [#{ns := Step}] = recorded(step),
    ?assert(abs(Step - Floor * ?S) < 2 * ?S),
    {ok, Now} = sysport_port:call(port_of(), now),
    ?assert(Now >= Floor * ?S).

%% The service's sysport_port process.
port_of() ->
    {links, Links} = process_info(whereis(sysport_time), links),
    [P] = [P || P <- Links, is_pid(P),
                proc_lib:initial_call(P) =:= {sysport_port, init, ['Argument__1']}],
    P.

far_future_time_file_ignored(Config) ->
    Stamp = filename:join(?config(dir, Config), "stamp"),
    Corrupt = os:system_time(second) + 30 * 31556952,
    set_mtime(Stamp, Corrupt),
    subscribed(Config, #{time_file => Stamp}),
    #{floor_source := build_time, time_file := #{state := corrupt}} = status(),
    ?assertEqual([], recorded(step)),
    no_event(floor_applied, 200),
    %% On stop the corrupt time is replaced by a sane one.
    sysport_time:stop(),
    ?assert(abs(mtime(Stamp) - os:system_time(second)) < 5).

clock_beyond_window_moves_back(Config) ->
    Ahead = 25 * 31556952 * ?S,
    subscribed(Config, #{clock => {recording, Ahead}, time_file => none}),
    #{reason := beyond_window} = wait_event(floor_applied, 1000),
    #{floor := Floor} = status(),
    [#{ns := Step}] = recorded(step),
    ?assert(Step < 0),
    {ok, Now} = sysport_port:call(port_of(), now),
    ?assert(Now >= Floor * ?S andalso Now < (Floor + 60) * ?S).

time_file_follows_sync(Config) ->
    Stamp = filename:join(?config(dir, Config), "stamp"),
    {_, Port} = responder(#{skew => 3 * ?S}),
    subscribed(Config, #{servers => [{"127.0.0.1", Port}], time_file => Stamp,
                         time_file_interval => 500}),
    wait_event(sync_acquired, 5000),
    %% The stamp follows the stepped clock, 3 s ahead of the host's.
    wait_until(fun() -> mtime(Stamp) >= os:system_time(second) + 2 end, 3000),
    ok = file:write_file_info(Stamp, #file_info{mtime = 1000, atime = 1000}, [{time, posix}]),
    wait_until(fun() -> mtime(Stamp) > 1000 end, 3000).

%%% The RTC, faked

%% State for the shim: the RTC Offset seconds from the real clock.
rtc_env(Config, Offset, Extra) ->
    Dir = ?config(dir, Config),
    Now = os:system_time(nanosecond),
    State = [io_lib:format("~s ~b~n", [K, V])
             || {K, V} <- [{rtc, Now div ?S + Offset}, {base_ns, (Now div ?S) * ?S} | Extra]],
    ok = file:write_file(filename:join(Dir, "state"), State),
    Sysfs = filename:join(Dir, "sysfs"),
    ok = filelib:ensure_dir(filename:join(Sysfs, "x")),
    #{rtc => filename:join(Dir, "rtc0"), rtc_sysfs => Sysfs,
      helper => #{env => [{"LD_PRELOAD", ?config(shim, Config)},
                        {"FAKE_RTC_DEV", filename:join(Dir, "rtc0")},
                        {"FAKE_RTC_STATE", filename:join(Dir, "state")},
                        {"FAKE_RTC_LOG", filename:join(Dir, "log")}]}}.

%% Changes the fake RTC from now on (later lines win), and starts a new log.
rtc_change(Config, Lines) ->
    Dir = ?config(dir, Config),
    ok = file:write_file(filename:join(Dir, "log"), <<>>),
    ok = file:write_file(filename:join(Dir, "state"), Lines, [append]).

rtc_log(Config) ->
    case file:read_file(filename:join(?config(dir, Config), "log")) of
        {ok, B} -> [string:split(L, " ", all) || L <- string:split(B, "\n", all), L =/= <<>>];
        {error, enoent} -> []
    end.

rtc_read_ioctl(Config) ->
    start(Config, rtc_env(Config, -100, [])),
    %% Reads until two agree: two, or one more when a second ticks between.
    {ok, #{time := T, valid := true, flags := [], source := ioctl, reads := R}} = sysport_time:rtc_read(),
    ?assert(R =:= 2 orelse R =:= 3),
    ?assert(abs(T - (os:system_time(second) - 100)) =< 1),
    ?assertMatch(#{state := ok, source := ioctl, trusted := true}, maps:get(rtc, status())).

rtc_torn_read(Config) ->
    start(Config, rtc_env(Config, 0, [])),
    rtc_change(Config, "torn 1\n"),
    {ok, #{time := T, reads := R}} = sysport_time:rtc_read(),
    %% The torn read (59 s ahead) was not believed.
    ?assert(abs(T - os:system_time(second)) =< 1),
    Reads = [binary_to_integer(X) || [<<"rd">>, X] <- rtc_log(Config)],
    ?assertEqual(R, length(Reads)),
    %% The torn one, then reads until two agree (one more when a second
    %% ticks between them).
    ?assertMatch([Torn | _] when Torn =:= T + 59 orelse Torn =:= T + 58, Reads),
    ?assertMatch([T, T], lists:nthtail(R - 2, Reads)),
    ?assert(R =:= 3 orelse R =:= 4).

write_alignment(Config, Driver, ExpectedFractionNs) ->
    Env = rtc_env(Config, 0, [{delay_ns, ExpectedFractionNs}]),
    ok = file:write_file(filename:join(maps:get(rtc_sysfs, Env), "name"), [Driver, "\n"]),
    %% Our clock is 2.25 s ahead of the host's: alignment follows our clock.
    Offset = 2250000000,
    start(Config, Env#{clock => {recording, Offset}}),
    {ok, #{time := V}} = sysport_time:rtc_write(),
    [[<<"set">>, Set, Real]] = [L || [<<"set">> | _] = L <- rtc_log(Config)],
    ?assertEqual(V, binary_to_integer(Set)),
    Error = binary_to_integer(Real) + Offset - V * ?S - ExpectedFractionNs,
    ct:pal("~s: written ~.3f ms after the instant", [Driver, Error / 1.0e6]),
    ?assert(Error >= 0 andalso Error < 50000000),
    %% And the RTC now reads what our clock says.
    {ok, #{time := T}} = sysport_time:rtc_read(),
    {ok, Now} = sysport_port:call(port_of(), now),
    ?assert(abs(T - Now div ?S) =< 1).

rtc_write_aligned(Config) -> write_alignment(Config, "rv3028", 0).

rtc_write_aligned_cmos(Config) -> write_alignment(Config, "rtc_cmos", 500000000).

rtc_battery_low_not_trusted(Config) ->
    %% 1 day ahead and a low battery: reported, not used for the floor.
    subscribed(Config, rtc_env(Config, 86400, [{vl, 2}])),
    #{flags := [backup_low]} = wait_event(rtc_battery_low, 1000),
    ?assertMatch(#{rtc := #{state := battery_low, flags := [backup_low], trusted := false},
                   floor_source := build_time}, status()),
    ?assertEqual([], recorded(step)),
    no_event(floor_applied, 200),
    {ok, #{flags := [backup_low]}} = sysport_time:rtc_read(),
    #{flags := [backup_low]} = wait_event(rtc_battery_low, 1000).

rtc_invalid_reported(Config) ->
    subscribed(Config, rtc_env(Config, 86400, [{vl, 1}])),
    #{flags := [data_invalid]} = wait_event(rtc_invalid, 1000),
    ?assertMatch(#{rtc := #{state := invalid, trusted := false}}, status()),
    ?assertEqual([], recorded(step)),
    {ok, #{valid := false, time := undefined, flags := [data_invalid]}} = sysport_time:rtc_read(),
    wait_event(rtc_invalid, 1000),
    %% Drivers that say EINVAL on a lost time count as invalid too.
    rtc_change(Config, "vl 0\nrd_errno 22\n"),
    {ok, #{valid := false, flags := []}} = sysport_time:rtc_read(),
    wait_event(rtc_invalid, 1000),
    %% Writing the RTC makes it good again.
    {ok, _} = sysport_time:rtc_write().

rtc_ebusy_retried(Config) ->
    start(Config, rtc_env(Config, 0, [])),
    rtc_change(Config, "busy 3\n"),
    {ok, #{source := ioctl}} = sysport_time:rtc_read(),
    ?assertMatch([[<<"open_busy">>], [<<"open_busy">>], [<<"open_busy">>], [<<"open">>] | _],
                 rtc_log(Config)),
    %% Held for longer than the retries: the read goes to sysfs, a write fails.
    ok = file:write_file(filename:join(maps:get(rtc_sysfs, rtc_paths(Config)), "since_epoch"),
                         integer_to_list(os:system_time(second) - 7)),
    rtc_change(Config, "busy 100\n"),
    {ok, #{source := sysfs, time := T}} = sysport_time:rtc_read(),
    ?assert(abs(T - (os:system_time(second) - 7)) =< 1),
    ?assertEqual({error, ebusy}, sysport_time:rtc_write()).

rtc_paths(Config) ->
    #{rtc_sysfs => filename:join(?config(dir, Config), "sysfs")}.

rtc_sysfs_fallback(Config) ->
    Env = rtc_env(Config, 0, []),
    ok = file:write_file(filename:join(maps:get(rtc_sysfs, Env), "since_epoch"), <<"1700000000\n">>),
    %% No device node at all (a driver without the char device, or no permission).
    start(Config, Env#{rtc => filename:join(?config(dir, Config), "rtc9")}),
    {ok, #{source := sysfs, time := 1700000000, valid := true}} = sysport_time:rtc_read(),
    {error, enoent} = sysport_time:rtc_write().

rtc_sane_raises_floor(Config) ->
    %% A good RTC a day ahead of the clock: the clock follows it up (what
    %% hwclock --hctosys does at boot, but never backwards).
    subscribed(Config, (rtc_env(Config, 86400, []))#{time_file => none}),
    #{source := rtc} = wait_event(floor_applied, 1000),
    ?assertMatch(#{floor_source := rtc, rtc := #{state := ok, trusted := true}}, status()),
    [#{ns := Step}] = recorded(step),
    ?assert(abs(Step - 86400 * ?S) < 2 * ?S).

rtc_written_after_step(Config) ->
    {_, Port} = responder(#{skew => 5 * ?S}),
    subscribed(Config, (rtc_env(Config, 0, []))#{servers => [{"127.0.0.1", Port}],
                                                  rtc_sync_interval => 1500}),
    wait_event(clock_step, 5000),
    Sets = fun() -> [V || [<<"set">>, V, _] <- rtc_log(Config)] end,
    wait_until(fun() -> Sets() =/= [] end, 3000),
    [V | _] = Sets(),
    %% The RTC got the stepped time, 5 s ahead of the host's...
    ?assert(abs(binary_to_integer(V) - (os:system_time(second) + 5)) =< 1),
    %% ...and gets it again every rtc_sync_interval while synchronized.
    wait_until(fun() -> length(Sets()) >= 3 end, 5000).

%%% Misc

bad_options(Config) ->
    ?assertEqual({error, {invalid_option, time, #{pool => 1}}}, sysport_time:start_link(#{pool => 1})),
    ?assertEqual({error, {invalid_option, time, #{poll_min => -1}}}, sysport_time:start_link([{poll_min, -1}])),
    ?assertEqual({error, {invalid_option, time, #{servers => [{"x", 0}]}}},
                 sysport_time:start_link(#{servers => [{"x", 0}]})),
    ?assertEqual({error, {invalid_option, time, #{clock => fast}}}, sysport_time:start_link(#{clock => fast})),
    ?assertEqual(undefined, whereis(sysport_time)),
    _ = Config.

set_time_by_hand(Config) ->
    subscribed(Config, #{}),
    #{floor := Floor} = status(),
    Target = os:system_time(second) + 3600,
    ?assertEqual(ok, sysport_time:set_time(Target)),
    #{reason := manual} = wait_event(clock_step, 1000),
    [#{ns := Set}] = recorded(set),
    ?assertEqual(Target * ?S, Set),
    ?assertEqual(ok, sysport_time:set_time({{2030, 1, 1}, {0, 0, 0}})),
    ?assertEqual({error, {below_floor, Floor}}, sysport_time:set_time(Floor - 10)),
    ?assertEqual({error, badarg}, sysport_time:set_time({{2030, 2, 30}, {0, 0, 0}})),
    ?assertEqual({error, badarg}, sysport_time:set_time(<<"tomorrow">>)),
    %% Beyond what int64 nanoseconds hold (raised badarith in the server).
    Server = whereis(sysport_time),
    [?assertEqual({error, badarg}, sysport_time:set_time(T))
     || T <- [1.0e300, 1.7976931348623157e308, 1 bsl 64, {{10000, 1, 1}, {0, 0, 0}}]],
    ?assertEqual(Server, whereis(sysport_time)),
    ?assertEqual({ok, false}, sysport_time:synchronized()).

set_servers(Config) ->
    {_, Port} = responder(#{}),
    subscribed(Config, #{}),
    ?assertMatch(#{ntp := disabled, server := undefined}, status()),
    ?assertEqual(ok, sysport_time:set_servers([{<<"127.0.0.1">>, Port}])),
    wait_event(sync_acquired, 5000),
    {ok, [#{host := <<"127.0.0.1">>, port := Port, state := active}]} = sysport_time:servers(),
    ?assertMatch({error, {bad_server, _}}, sysport_time:set_servers([{"127.0.0.1", 70000}])),
    ?assertMatch({error, {bad_server, _}}, sysport_time:set_servers(nope)),
    ?assertEqual(ok, sysport_time:set_servers([])),
    ?assertMatch(#{ntp := disabled}, status()),
    {ok, []} = sysport_time:servers().

helper_killed_service_survives(Config) ->
    {_, Port} = responder(#{}),
    subscribed(Config, #{servers => [{"127.0.0.1", Port}]}),
    wait_event(sync_acquired, 5000),
    #{helper := #{os_pid := OsPid}} = status(),
    sysport_test_lib:kill9(OsPid),
    wait_until(fun() -> case status() of
                            #{helper := #{state := up, restarts := 1}} -> true;
                            _ -> false
                        end
               end, 5000),
    %% Polling goes on with the new helper.
    #{counters := #{samples := N}} = status(),
    wait_until(fun() -> maps:get(samples, maps:get(counters, status())) > N end, 5000).

recording_forced_by_env(Config) ->
    %% The guard make test relies on: even clock => system records, and
    %% the RTC and time file meant for the real clock are left alone.
    Stamp = filename:join(?config(dir, Config), "stamp"),
    start(Config, #{clock => system, rtc => "/dev/rtc0", time_file => Stamp}),
    ?assertMatch(#{clock := recording, clock_forced := true, rtc := #{device := none, state := absent},
                   time_file := #{path := none}}, status()),
    {ok, []} = sysport_time:recorded(),
    sysport_time:stop(),
    ?assertEqual({error, enoent}, file:read_file_info(Stamp)),
    %% The recording clock's defaults are no RTC and no time file either.
    start(Config, #{clock => recording, rtc => default, time_file => default}),
    ?assertMatch(#{clock_forced := false, rtc := #{device := none}, time_file := #{path := none}},
                 status()).

absent_rtc_reported(Config) ->
    start(Config, #{rtc => filename:join(?config(dir, Config), "no-rtc"),
                    rtc_sysfs => filename:join(?config(dir, Config), "no-sysfs")}),
    ?assertMatch(#{rtc := #{state := absent, error := enoent}}, status()),
    ?assertEqual({error, enoent}, sysport_time:rtc_read()).

facade_prints_status(Config) ->
    {_, Port} = responder(#{}),
    subscribed(Config, #{servers => [{"127.0.0.1", Port}]}),
    wait_event(sync_acquired, 5000),
    Out = capture(fun sysport:time/0),
    ct:pal("~ts", [Out]),
    [?assertNotEqual(nomatch, string:find(Out, S))
     || S <- ["synchronized", "yes", "127.0.0.1", "offset", "rtc", "floor"]],
    sysport_time:stop(),
    ?assertNotEqual(nomatch, string:find(capture(fun sysport:time/0), "not running")).

capture(Fun) ->
    Leader = group_leader(),
    {ok, Pid} = start_capture(),
    group_leader(Pid, self()),
    try ok = Fun() after group_leader(Leader, self()) end,
    Pid ! {get, self()},
    receive {captured, Text} -> Text after 2000 -> ct:fail(no_capture) end.

%% A minimal io server collecting what is printed.
start_capture() ->
    {ok, spawn_link(fun() -> capture_loop([]) end)}.

capture_loop(Acc) ->
    receive
        {io_request, From, Ref, Req} ->
            {Reply, Text} = io_text(Req),
            From ! {io_reply, Ref, Reply},
            capture_loop([Text | Acc]);
        {get, Pid} ->
            Pid ! {captured, unicode:characters_to_list(lists:reverse(Acc))}
    end.

io_text({put_chars, _Enc, Chars}) -> {ok, Chars};
io_text({put_chars, _Enc, M, F, A}) -> {ok, apply(M, F, A)};
io_text({put_chars, Chars}) -> {ok, Chars};
io_text(_) -> {{error, enotsup}, []}.

valgrind_clean(Config) ->
    case os:find_executable("valgrind") of
        false -> ct:fail("valgrind not installed");
        _ -> ok
    end,
    Release = filename:join([sysport_test_lib:project_root(), "priv", "sysport_time"]),
    {_, Port} = responder(#{skew => 5 * ?S}),
    Wrapper = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
               "--errors-for-leak-kinds=definite"],
    subscribed(Config, #{servers => [{"127.0.0.1", Port}], query_timeout => 3000,
                         helper => #{program => Release, wrapper => Wrapper, ready_timeout => 30000,
                                     backoff_min => 60000}}),
    wait_event(clock_step, 20000),
    wait_event(sync_acquired, 5000),
    {error, no_rtc} = sysport_time:rtc_read(),
    {ok, _} = sysport_time:servers(),
    %% SIGTERM: the helper exits through its shutdown path, and valgrind
    %% turns any error or definite leak into exit 99.
    #{helper := #{os_pid := OsPid}} = status(),
    {ok, Exe} = file:read_link("/proc/" ++ integer_to_list(OsPid) ++ "/exe"),
    ?assertNotEqual(nomatch, string:find(Exe, "memcheck")),
    _ = sysport_test_lib:os_cmd("kill -TERM " ++ integer_to_list(OsPid)),
    wait_until(fun() -> maps:get(state, maps:get(helper, status())) =:= down end, 20000),
    ?assertMatch(#{helper := #{last_exit := {exit, 0}}}, status()).
