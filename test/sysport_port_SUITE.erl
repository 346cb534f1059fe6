%% The port owner against the test helper (the ASan+UBSan build under
%% `make test', and the release build under valgrind).
-module(sysport_port_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, groups/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([ready_info/1, calls_from_100_concurrent_callers/1, slow_call_does_not_delay_fast/1,
         call_timeout_and_late_reply/1, kill9_50_times/1, exit_status_visible/1,
         pending_callers_answered_on_exit/1, garbage_restarts_helper/1, incomplete_frame_then_exit/1,
         frame_over_cap/1, huge_reply/1, logs_forwarded/1, events_to_owner/1, ready_timeout/1, progress_holds_off_ready_timeout/1,
         helper_not_found/1, stop_closes_and_reaps/1, owner_exit_stops_helper/1,
         backoff_resets_after_healthy/1, vm_killed_leaves_no_orphans/1, stats_count_traffic/1,
         calls_while_down/1, killed_with_output_queued/1, valgrind_clean/1]).

all() ->
    [ready_info, calls_from_100_concurrent_callers, slow_call_does_not_delay_fast,
     call_timeout_and_late_reply, kill9_50_times, exit_status_visible,
     pending_callers_answered_on_exit, garbage_restarts_helper, incomplete_frame_then_exit,
     frame_over_cap, huge_reply, logs_forwarded, events_to_owner, ready_timeout,
     progress_holds_off_ready_timeout,
     helper_not_found, stop_closes_and_reaps, owner_exit_stops_helper,
     backoff_resets_after_healthy, vm_killed_leaves_no_orphans, stats_count_traffic,
     calls_while_down, killed_with_output_queued, {group, valgrind}].

groups() ->
    [{valgrind, [], [valgrind_clean]}].

init_per_suite(Config) ->
    Helper = sysport_test_lib:testhelper(),
    case filelib:is_regular(Helper) of
        true -> [{helper, Helper} | Config];
        false -> ct:fail("test helper not built (make testhelpers): ~s", [Helper])
    end.

end_per_suite(_Config) ->
    ok.

init_per_testcase(_Case, Config) ->
    process_flag(trap_exit, true),
    Config.

end_per_testcase(_Case, _Config) ->
    sysport_test_lib:stop_capture_logs(),
    ok.

start(Config) ->
    start(Config, #{}).

start(Config, Opts) ->
    {ok, P} = sysport_port:start_link(maps:merge(#{helper => ?config(helper, Config)}, Opts)),
    P.

os_pid(P) ->
    maps:get(os_pid, sysport_port:stats(P)).

wait_up(P, Restarts) ->
    ok = sysport_test_lib:wait_until(
           fun() -> case sysport_port:stats(P) of
                        #{state := up, restarts := R} -> R >= Restarts;
                        _ -> false
                    end
           end, 10000).

%%% Cases

ready_info(Config) ->
    P = start(Config),
    Info = sysport_port:info(P),
    ?assertMatch(#{name := <<"sysport_testhelper">>, version := <<"1">>,
                   max_frame := 1048576, capabilities := [echo, sleep, misbehave]}, Info),
    ?assertEqual(maps:get(pid, Info), os_pid(P)),
    receive {sysport_port, P, {ready, Info}} -> ok after 1000 -> ct:fail(no_ready_message) end,
    sysport_port:stop(P).

calls_from_100_concurrent_callers(Config) ->
    P = start(Config),
    Self = self(),
    Callers = [spawn_link(fun() ->
                                  Results = [begin
                                                 %% Short sleeps make replies
                                                 %% overtake each other.
                                                 Req = case N rem 7 of
                                                           0 -> {sleep, N rem 5};
                                                           _ -> {echo, {I, N, <<I:32, N:32>>}}
                                                       end,
                                                 {Req, sysport_port:call(P, Req)}
                                             end || N <- lists:seq(1, 100)],
                                  Self ! {done, self(), Results}
                          end) || I <- lists:seq(1, 100)],
    lists:foreach(
      fun(C) ->
              receive
                  {done, C, Results} ->
                      lists:foreach(fun({{echo, T}, R}) -> ?assertEqual({ok, T}, R);
                                       ({{sleep, _}, R}) -> ?assertEqual({ok, slept}, R)
                                    end, Results)
              after 60000 -> ct:fail(caller_stuck)
              end
      end, Callers),
    ?assertMatch(#{pending := 0, late_replies := 0, restarts := 0}, sysport_port:stats(P)),
    sysport_port:stop(P).

slow_call_does_not_delay_fast(Config) ->
    P = start(Config),
    Self = self(),
    Slow = spawn_link(fun() -> Self ! {slow, sysport_port:call(P, {sleep, 3000}, 10000)} end),
    ok = sysport_test_lib:wait_until(fun() -> maps:get(pending, sysport_port:stats(P)) =:= 1 end, 2000),
    %% 200 fast calls all complete while the slow one is still pending.
    [ok = sysport_port:call(P, ping) || _ <- lists:seq(1, 200)],
    ?assertEqual(1, maps:get(pending, sysport_port:stats(P))),
    receive {slow, _} -> ct:fail(slow_call_finished_first) after 0 -> ok end,
    receive {slow, R} -> ?assertEqual({ok, slept}, R) after 10000 -> ct:fail(slow_never_replied) end,
    unlink(Slow),
    sysport_port:stop(P).

call_timeout_and_late_reply(Config) ->
    P = start(Config),
    ?assertEqual({error, timeout}, sysport_port:call(P, {sleep, 300}, 20)),
    ok = sysport_test_lib:wait_until(fun() -> maps:get(late_replies, sysport_port:stats(P)) =:= 1 end, 3000),
    ?assertMatch(#{pending := 0}, sysport_port:stats(P)),
    %% Nothing stray reaches the caller's mailbox.
    receive Stray when element(1, Stray) =/= sysport_port -> ct:fail({stray, Stray}) after 100 -> ok end,
    ?assertEqual(ok, sysport_port:call(P, ping)),
    sysport_port:stop(P).

kill9_50_times(Config) ->
    P = start(Config, #{backoff_min => 10, backoff_max => 80}),
    OsPids = lists:map(
               fun(I) ->
                       OsPid = os_pid(P),
                       sysport_test_lib:kill9(OsPid),
                       wait_up(P, I),
                       ?assertNotEqual(OsPid, os_pid(P)),
                       ?assertEqual(ok, sysport_port:call(P, ping)),
                       OsPid
               end, lists:seq(1, 50)),
    Stats = sysport_port:stats(P),
    ?assertMatch(#{restarts := 50, starts := 51, last_exit := {signal, sigkill}, state := up}, Stats),
    %% Doubling from 10 ms, capped at 80 ms (never healthy long enough to reset).
    ?assertEqual([10, 20, 40, 80] ++ lists:duplicate(46, 80), maps:get(recent_backoffs_ms, Stats)),
    [?assertNot(sysport_test_lib:proc_alive(O)) || O <- OsPids],
    ?assertEqual([], sysport_test_lib:zombies_of(list_to_integer(os:getpid()))),
    sysport_port:stop(P).

%% A helper that dies while the VM still has frames queued for it: the
%% write fails with EPIPE and the port closes without an exit status. The
%% owner must see the helper gone (and answer callers), not keep it "up".
killed_with_output_queued(Config) ->
    P = start(Config, #{backoff_min => 10}),
    OsPid = os_pid(P),
    _ = os:cmd("kill -STOP " ++ integer_to_list(OsPid)),
    %% The first frame fills most of the pipe, the second waits in the port queue.
    Frame = binary:copy(<<"q">>, 60000),
    ok = sysport_port:cast(P, {echo, Frame}),
    ok = sysport_port:cast(P, {echo, Frame}),
    sysport_test_lib:kill9(OsPid),
    receive {sysport_port, P, {exited, {port_closed, epipe}}} -> ok
    after 5000 -> ct:fail({no_exited_message, sysport_port:stats(P)})
    end,
    wait_up(P, 1),
    ?assertMatch(#{last_exit := {port_closed, epipe}, restarts := 1}, sysport_port:stats(P)),
    ?assertEqual(ok, sysport_port:call(P, ping)),
    sysport_port:stop(P).

exit_status_visible(Config) ->
    P = start(Config, #{backoff_min => 10}),
    ?assertEqual({error, {helper_exited, {exit, 3}}}, sysport_port:call(P, {exit, 3})),
    receive {sysport_port, P, {exited, {exit, 3}}} -> ok after 2000 -> ct:fail(no_exited_message) end,
    wait_up(P, 1),
    ?assertMatch(#{last_exit := {exit, 3}, restarts := 1}, sysport_port:stats(P)),
    %% A crash shows as the signal.
    ?assertEqual({error, {helper_exited, {signal, sigabrt}}}, sysport_port:call(P, crash)),
    sysport_port:stop(P).

pending_callers_answered_on_exit(Config) ->
    P = start(Config),
    Self = self(),
    [spawn_link(fun() -> Self ! {answer, sysport_port:call(P, {sleep, 60000}, infinity)} end)
     || _ <- lists:seq(1, 10)],
    ok = sysport_test_lib:wait_until(fun() -> maps:get(pending, sysport_port:stats(P)) =:= 10 end, 3000),
    sysport_test_lib:kill9(os_pid(P)),
    [receive {answer, A} -> ?assertEqual({error, {helper_exited, {signal, sigkill}}}, A)
     after 5000 -> ct:fail(caller_left_hanging)
     end || _ <- lists:seq(1, 10)],
    sysport_port:stop(P).

garbage_restarts_helper(Config) ->
    sysport_test_lib:capture_logs(),
    P = start(Config, #{backoff_min => 10}),
    lists:foldl(
      fun(Kind, N) ->
              R = sysport_port:call(P, {garbage, Kind}),
              ?assertMatch({error, {helper_exited, {protocol_error, _}}}, R),
              {ok, error, _, #{sysport_helper := <<"sysport_testhelper">>}} =
                  sysport_test_lib:wait_log("protocol error", 2000),
              wait_up(P, N),
              ?assertEqual(ok, sysport_port:call(P, ping)),
              N + 1
      end, 1, [not_a_term, bad_version, bad_shape]),
    ?assertMatch(#{protocol_errors := 3, restarts := 3}, sysport_port:stats(P)),
    sysport_port:stop(P).

incomplete_frame_then_exit(Config) ->
    P = start(Config, #{backoff_min => 10}),
    ?assertEqual({error, {helper_exited, {exit, 9}}}, sysport_port:call(P, {garbage, bad_length})),
    wait_up(P, 1),
    ?assertEqual(ok, sysport_port:call(P, ping)),
    sysport_port:stop(P).

%% A request over the helper's cap would make it exit (the C side refuses
%% such a frame: test_lib) and fail every other caller: it is refused
%% before it is sent, calls and casts alike, while a call in flight and
%% the next ones go on with the same helper.
frame_over_cap(Config) ->
    P = start(Config, #{args => ["--max-frame=1024"], backoff_min => 10}),
    #{max_frame := 1024} = sysport_port:info(P),
    Self = self(),
    Slow = spawn_link(fun() -> Self ! {slow, sysport_port:call(P, {sleep, 300}, 5000)} end),
    Fits = binary:copy(<<1>>, 1024 - erlang:external_size({call, 1, {echo, <<>>}})),
    ?assertMatch({ok, _}, sysport_port:call(P, {echo, Fits})),
    ?assertEqual({error, too_large}, sysport_port:call(P, {echo, <<Fits/binary, 1>>})),
    ?assertEqual({error, too_large}, sysport_port:call(P, {echo, binary:copy(<<1>>, 10 bsl 20)})),
    ?assertEqual({error, too_large}, sysport_port:cast(P, {events, 1, binary:copy(<<1>>, 2000)})),
    ok = sysport_port:request(P, {echo, binary:copy(<<1>>, 2000)}, 5000, big),
    receive {sysport_port, P, {reply, big, Reply}} -> ?assertEqual({error, too_large}, Reply)
    after 5000 -> ct:fail(no_reply)
    end,
    receive {slow, R} -> ?assertEqual({ok, slept}, R) after 5000 -> ct:fail({slow_call, Slow}) end,
    ?assertEqual(ok, sysport_port:call(P, ping)),
    ?assertMatch(#{restarts := 0, too_large := 4, state := up}, sysport_port:stats(P)),
    sysport_port:stop(P).

huge_reply(Config) ->
    P = start(Config),
    {ok, Bin} = sysport_port:call(P, {huge, 16 * 1024 * 1024}, 30000),
    ?assertEqual(16 * 1024 * 1024, byte_size(Bin)),
    ?assertEqual(<<"hhhh">>, binary:part(Bin, byte_size(Bin) - 4, 4)),
    sysport_port:stop(P).

logs_forwarded(Config) ->
    sysport_test_lib:capture_logs(),
    P = start(Config),
    ok = sysport_port:call(P, {log, warning, <<"disk nearly full">>}),
    {ok, warning, Text, Meta} = sysport_test_lib:wait_log("disk nearly full", 2000),
    ?assertEqual(<<"sysport_testhelper: disk nearly full">>, Text),
    ?assertMatch(#{sysport_helper := <<"sysport_testhelper">>, domain := [sysport, helper]}, Meta),
    ?assertEqual(os_pid(P), maps:get(os_pid, Meta)),
    %% An unknown level is logged at notice rather than dropped.
    ok = sysport_port:call(P, {log, shouting, <<"odd level">>}),
    {ok, notice, _, _} = sysport_test_lib:wait_log("odd level", 2000),
    sysport_port:stop(P).

events_to_owner(Config) ->
    P = start(Config),
    ?assertEqual({ok, 1000}, sysport_port:call(P, {events, 1000, 100})),
    Ticks = [receive {sysport_port, P, {event, {tick, I, Payload}}} -> byte_size(Payload)
             after 2000 -> ct:fail({missing_event, I})
             end || I <- lists:seq(0, 999)],
    ?assertEqual(lists:duplicate(1000, 100), Ticks),
    %% Casts are not answered but run.
    ok = sysport_port:cast(P, {events, 2, 1}),
    receive {sysport_port, P, {event, {tick, 1, <<"e">>}}} -> ok after 2000 -> ct:fail(cast_lost) end,
    sysport_port:stop(P).

ready_timeout(Config) ->
    Setup = erl_child_setup(),
    Before = sysport_test_lib:children_of(Setup),
    ?assertEqual({error, ready_timeout},
                 sysport_port:start_link(#{helper => ?config(helper, Config), args => ["--no-ready"],
                                           ready_timeout => 300})),
    %% The hung helper was killed, not left behind.
    ok = sysport_test_lib:wait_until(
           fun() -> sysport_test_lib:children_of(Setup) -- Before =:= [] end, 3000).

%% A helper that says it is busy (a long recovery) outlives the ready
%% timeout many times over; with await_ready false, start_link returns
%% while it is still busy, and requests wait for its ready.
progress_holds_off_ready_timeout(Config) ->
    {ok, P} = sysport_port:start_link(#{helper => ?config(helper, Config), args => ["--busy-start=1500"],
                                        ready_timeout => 300, await_ready => false}),
    ?assertMatch(#{state := starting}, sysport_port:stats(P)),
    Self = self(),
    spawn_link(fun() -> Self ! {pinged, sysport_port:call(P, ping, 10000)} end),
    Progress = progress_until_ready(P, []),
    ?assertEqual(lists:seq(100, 1500, 100), Progress),
    receive {pinged, Pong} -> ?assertEqual(ok, Pong) after 5000 -> ct:fail(no_pong) end,
    ?assertMatch(#{state := up, starts := 1, restarts := 0}, sysport_port:stats(P)),
    sysport_port:stop(P).

progress_until_ready(P, Acc) ->
    receive
        {sysport_port, P, {progress, #{ms := Ms}}} -> progress_until_ready(P, [Ms | Acc]);
        {sysport_port, P, {ready, _}} -> lists:reverse(Acc)
    after 5000 -> ct:fail({no_ready, lists:reverse(Acc)})
    end.

helper_not_found(_Config) ->
    ?assertEqual({error, {helper_not_found, <<"/nonexistent/sysport_nothing">>}},
                 sysport_port:start_link(#{helper => "/nonexistent/sysport_nothing"})).

stop_closes_and_reaps(Config) ->
    %% A well-behaved helper exits on stdin EOF at once...
    P1 = start(Config),
    Os1 = os_pid(P1),
    sysport_port:stop(P1),
    ok = sysport_test_lib:wait_until(fun() -> not sysport_test_lib:proc_alive(Os1) end, 1000),
    %% ...and one that ignores stdin and SIGTERM is killed after stop_timeout.
    P2 = start(Config, #{stop_timeout => 200}),
    Os2 = os_pid(P2),
    ok = sysport_port:call(P2, ignore_stdin),
    sysport_port:stop(P2),
    ?assert(sysport_test_lib:proc_alive(Os2)),
    ok = sysport_test_lib:wait_until(fun() -> not sysport_test_lib:proc_alive(Os2) end, 3000).

owner_exit_stops_helper(Config) ->
    Self = self(),
    Owner = spawn(fun() ->
                          {ok, P} = sysport_port:start_link(#{helper => ?config(helper, Config)}),
                          Self ! {os_pid, os_pid(P)},
                          receive stop -> exit(owner_gone) end
                  end),
    OsPid = receive {os_pid, O} -> O after 5000 -> ct:fail(no_start) end,
    Owner ! stop,
    ok = sysport_test_lib:wait_until(fun() -> not sysport_test_lib:proc_alive(OsPid) end, 2000).

backoff_resets_after_healthy(Config) ->
    P = start(Config, #{backoff_min => 10, backoff_max => 1000, healthy_after => 300}),
    sysport_test_lib:kill9(os_pid(P)),
    wait_up(P, 1),
    sysport_test_lib:kill9(os_pid(P)),
    wait_up(P, 2),
    %% Up for longer than healthy_after: the next delay starts over.
    timer:sleep(400),
    sysport_test_lib:kill9(os_pid(P)),
    wait_up(P, 3),
    ?assertEqual([10, 20, 10], maps:get(recent_backoffs_ms, sysport_port:stats(P))),
    sysport_port:stop(P).

vm_killed_leaves_no_orphans(Config) ->
    %% A second VM runs three helpers; it is killed with SIGKILL, and every
    %% helper must be gone within 1 s.
    Ebin = filename:dirname(code:which(sysport_port)),
    Helper = ?config(helper, Config),
    Eval = lists:flatten(io_lib:format(
             "Os = [begin {ok, P} = sysport_port:start_link(#{helper => ~p}), "
             "maps:get(os_pid, sysport_port:stats(P)) end || _ <- [1,2,3]], "
             "io:format(\"helpers ~~w~~n\", [Os]), receive after infinity -> ok end.", [Helper])),
    Erl = os:find_executable("erl"),
    Port = open_port({spawn_executable, Erl},
                     [{args, ["-noshell", "-pa", Ebin, "-eval", Eval]}, {line, 1000}, exit_status,
                      stderr_to_stdout]),
    {os_pid, VmPid} = erlang:port_info(Port, os_pid),
    Helpers = receive {Port, {data, {eol, "helpers " ++ L}}} ->
                          {ok, T, _} = erl_scan:string(L ++ "."),
                          {ok, Pids} = erl_parse:parse_term(T),
                          Pids
              after 20000 -> ct:fail(second_vm_did_not_start)
              end,
    ?assertEqual(3, length(Helpers)),
    [?assert(sysport_test_lib:proc_alive(H)) || H <- Helpers],
    sysport_test_lib:kill9(VmPid),
    ok = sysport_test_lib:wait_until(
           fun() -> not lists:any(fun sysport_test_lib:proc_alive/1, Helpers) end, 1000),
    receive {Port, {exit_status, _}} -> ok after 5000 -> ok end.

stats_count_traffic(Config) ->
    P = start(Config),
    #{frames_in := In0, frames_out := Out0, bytes_in := BIn0} = sysport_port:stats(P),
    [ok = sysport_port:call(P, ping) || _ <- lists:seq(1, 10)],
    {ok, 5} = sysport_port:call(P, {events, 5, 10}),
    [receive {sysport_port, P, {event, _}} -> ok end || _ <- lists:seq(1, 5)],
    #{frames_in := In1, frames_out := Out1, bytes_in := BIn1, uptime_ms := Up} = sysport_port:stats(P),
    ?assertEqual(11, Out1 - Out0),
    ?assertEqual(10 + 5 + 1, In1 - In0),
    ?assert(BIn1 - BIn0 > 5 * 10),
    ?assert(Up >= 0),
    sysport_port:stop(P).

calls_while_down(Config) ->
    P = start(Config, #{backoff_min => 2000}),
    sysport_test_lib:kill9(os_pid(P)),
    receive {sysport_port, P, {exited, _}} -> ok after 2000 -> ct:fail(no_exit) end,
    ?assertEqual({error, {helper_down, {signal, sigkill}}}, sysport_port:call(P, ping)),
    ?assertEqual({error, {helper_down, {signal, sigkill}}}, sysport_port:cast(P, ping)),
    ?assertMatch(#{state := down, os_pid := undefined}, sysport_port:stats(P)),
    sysport_port:stop(P),
    ?assertEqual({error, closed}, sysport_port:call(P, ping)).

valgrind_clean(_Config) ->
    case os:find_executable("valgrind") of
        false -> ct:fail("valgrind not installed");
        _ -> ok
    end,
    Wrapper = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
               "--errors-for-leak-kinds=definite"],
    {ok, P} = sysport_port:start_link(#{helper => sysport_test_lib:release_testhelper(),
                                        wrapper => Wrapper, ready_timeout => 30000,
                                        backoff_min => 60000}),
    ?assertMatch({ok, #{a := [1, 2]}}, sysport_port:call(P, {echo, #{a => [1, 2], b => <<"x">>}}, 30000)),
    ?assertEqual({ok, slept}, sysport_port:call(P, {sleep, 10}, 30000)),
    ?assertEqual({ok, 500}, sysport_port:call(P, {events, 500, 100}, 30000)),
    ?assertEqual(ok, sysport_port:call(P, {log, info, <<"x">>}, 30000)),
    ?assertMatch({ok, _}, sysport_port:call(P, {huge, 100000}, 30000)),
    ?assertEqual({error, badarg}, sysport_port:call(P, {sleep, nope}, 30000)),
    %% Exit through the normal path: valgrind turns any error into 99.
    ?assertEqual({error, {helper_exited, {exit, 0}}}, sysport_port:call(P, {exit, 0}, 30000)),
    ?assertMatch(#{last_exit := {exit, 0}}, sysport_port:stats(P)),
    sysport_port:stop(P).

erl_child_setup() ->
    [Setup] = [C || C <- sysport_test_lib:children_of(list_to_integer(os:getpid())),
                    comm(C) =:= "erl_child_setup"],
    Setup.

comm(OsPid) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/comm") of
        {ok, C} -> string:trim(binary_to_list(C));
        _ -> ""
    end.
