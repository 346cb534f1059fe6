%% What the U-Boot env service promises about durability, shown against
%% fw_printenv/fw_setenv: the helper killed with SIGKILL at random points
%% while writing never leaves a redundant env that reads corrupt or holds
%% anything but the last acknowledged write or the one in flight; and
%% sysport and fw_setenv writing at the same time never lose an update,
%% because both hold the fw_printenv lock around read-modify-write, nor
%% when a put trusts what it read before (another writer always changes a
%% copy's header); and a write the device takes but does not keep fails
%% the put, the env left as it was.
-module(sysport_kv_durability_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).
-export([kill9_during_1000_writes/1, kill9_single_env/1, concurrent_with_fw_setenv/1,
         puts_between_fw_setenv_runs/1, dropped_write_fails_verify/1]).

-import(sysport_kv_test_lib, [redundant_pair/3, mkenvimage/4, write_config/2, fw_printenv/1, start/2,
                              keys/2]).

-define(SIZE, 16#20000).
%% libubootenv 0.3.2 always locks this file; sysport must use the same one.
-define(FW_LOCK, "/var/lock/fw_printenv.lock").

all() ->
    [kill9_during_1000_writes, kill9_single_env, concurrent_with_fw_setenv, puts_between_fw_setenv_runs,
     dropped_write_fails_verify].

init_per_suite(Config) ->
    sysport_kv_test_lib:require(["mkenvimage", "fw_printenv", "fw_setenv"]),
    Config.

end_per_suite(_Config) ->
    ok.

init_per_testcase(Case, Config) ->
    sysport_kv_test_lib:init_case(Case, Config).

end_per_testcase(_Case, _Config) ->
    sysport_kv_test_lib:stop().

%%% Kill -9

kill9_during_1000_writes(Config) ->
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, keys("k", 100), ?SIZE),
    start(Cfg, #{}),
    Stats = kill_run(Cfg, Dir, redundant, 1000, 8),
    ct:pal("kill -9 outcomes over 1000 writes: ~p", [Stats]),
    ?assertEqual(0, maps:get(corrupt, Stats, 0)),
    %% The kills did land inside writes, not only between them.
    ?assert(maps:get(written_not_acked, Stats, 0) + maps:get(torn_copy, Stats, 0) > 0),
    ?assert(maps:get(kills, Stats) >= 50).

%% A single env is written in place: a kill in the middle of the write can
%% leave it corrupt. That is reported (corrupt_env, fw_printenv fails too),
%% never read as garbage, and recover() brings it back.
kill9_single_env(Config) ->
    Dir = ?config(dir, Config),
    File = filename:join(Dir, "env0"),
    ok = mkenvimage(File, keys("k", 100), ?SIZE, []),
    Cfg = write_config(Dir, [{File, 0, ?SIZE}]),
    start(Cfg, #{}),
    Stats = kill_run(Cfg, Dir, single, 200, 4),
    ct:pal("kill -9 outcomes over 200 writes to a single env: ~p", [Stats]),
    ?assert(maps:get(kills, Stats) >= 20).

%% Writes generation 1..N, each changing `gen' and one of the k_ keys. One
%% write in Every (on average) has a SIGKILL sent at a random moment while
%% it runs; after each kill fw_printenv must read the env as of the last
%% acknowledged write or as of the one that was in flight.
kill_run(Cfg, Dir, Kind, N, Every) ->
    Killer = start_killer(),
    {ok, Model0} = fw_printenv(Cfg),
    try
        Acc0 = #{model => Model0, kills => 0, avg_us => 2000},
        Acc = lists:foldl(fun(I, A) -> write_maybe_kill(I, A, Killer, Cfg, Dir, Kind, Every) end,
                          Acc0, lists:seq(1, N)),
        maps:without([model, avg_us], Acc)
    after
        port_close(Killer)
    end.

write_maybe_kill(I, #{model := Model} = Acc, Killer, Cfg, Dir, Kind, Every) ->
    G = integer_to_binary(I),
    Write = #{<<"gen">> => G, <<"k_", (integer_to_binary(I rem 100 + 1))/binary>> => G},
    Inflight = maps:merge(Model, Write),
    case rand:uniform(Every) of
        1 ->
            OsPid = sysport_kv_test_lib:helper_os_pid(),
            {ok, #{helper := #{starts := Starts}}} = sysport_test_lib:flat_status(sysport_kv),
            %% Anywhere from before the write starts to after it ends.
            Delay = rand:uniform(round(1.5 * maps:get(avg_us, Acc))),
            Self = self(),
            spawn_link(fun() -> spin(Delay), kill(Killer, OsPid), Self ! killed end),
            Result = sysport_kv:put(Write),
            receive killed -> ok after 5000 -> ct:fail(killer_stuck) end,
            receive {Killer, {data, <<"k\n">>}} -> ok after 5000 -> ct:fail(no_kill_ack) end,
            case sysport_test_lib:wait_until(fun() -> not sysport_test_lib:proc_alive(OsPid) end, 5000) of
                ok -> ok;
                timeout -> ct:fail({survived_kill, OsPid, Result, diag(OsPid)})
            end,
            Torn = lists:member(bad, sysport_kv_test_lib:copy_crcs(Dir, ?SIZE, Kind)),
            Printed = fw_printenv(Cfg),
            sysport_kv_test_lib:wait_helper_up(Starts),
            Outcome = outcome(Result, Printed, Model, Inflight, Torn, I),
            New = case Printed of {ok, P} -> P; _ -> recovered(Kind) end,
            %% The restarted helper reread the env: sysport agrees with fw_printenv.
            ?assertEqual({ok, New}, sysport_kv:get_all()),
            bump(Outcome, bump(kills, Acc#{model := New}));
        _ ->
            T0 = erlang:monotonic_time(microsecond),
            ok = sysport_kv:put(Write),
            Us = erlang:monotonic_time(microsecond) - T0,
            Acc#{model := Inflight, avg_us := 0.9 * maps:get(avg_us, Acc) + 0.1 * Us}
    end.

%% Classifies a kill, failing the test on a read that is neither state.
outcome(ok, {ok, Inflight}, _, Inflight, _, _) -> after_ack;
outcome(ok, Printed, _, _, _, I) -> ct:fail({acked_write_lost, I, Printed});
outcome({error, {helper_exited, _}}, {ok, Inflight}, _, Inflight, _, _) -> written_not_acked;
outcome({error, {helper_exited, _}}, {ok, Model}, Model, _, true, _) -> torn_copy;
outcome({error, _}, {ok, Model}, Model, _, _, _) -> before_write;
outcome({error, _}, {error, Out}, _, _, _, _) -> ct:pal("corrupt after kill: ~s", [Out]), corrupt;
outcome(Result, Printed, _, _, _, I) -> ct:fail({unexpected_env_after_kill, I, Result, Printed}).

%% A single env left corrupt by a kill: sysport says so, and recovers it.
recovered(redundant) ->
    ct:fail(redundant_env_read_corrupt);
recovered(single) ->
    {error, {corrupt_env, _}} = sysport_kv:get_all(),
    {ok, defaults} = sysport_kv:recover(),
    #{}.

bump(Key, Acc) ->
    maps:update_with(Key, fun(X) -> X + 1 end, 1, Acc).

spin(Us) ->
    Until = erlang:monotonic_time(microsecond) + Us,
    spin_until(Until).

spin_until(Until) ->
    case erlang:monotonic_time(microsecond) >= Until of
        true -> ok;
        false -> spin_until(Until)
    end.

%% A shell that kills the pids it reads, without forking for each: the
%% kill lands within microseconds of the request.
start_killer() ->
    open_port({spawn_executable, "/bin/sh"},
              [{args, ["-c", "while read p; do kill -9 $p; echo k; done"]}, binary, use_stdio]).

kill(Killer, OsPid) ->
    port_command(Killer, [integer_to_list(OsPid), "\n"]).

%%% Concurrent writers

concurrent_with_fw_setenv(Config) ->
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, keys("k", 500), ?SIZE),
    start(Cfg, #{lock_file => ?FW_LOCK}),
    Self = self(),
    Script = "for i in $(seq 1 100); do fw_setenv -c " ++ Cfg ++ " f_$i $i || exit 1; done",
    spawn_link(fun() ->
                       T0 = erlang:monotonic_time(millisecond),
                       {Rc, Out} = sysport_kv_test_lib:run("/bin/sh", ["-c", Script]),
                       Self ! {fw_setenv_done, Rc, Out, T0, erlang:monotonic_time(millisecond)}
               end),
    S0 = erlang:monotonic_time(millisecond),
    [ok = sysport_kv:put(<<"s_", (integer_to_binary(I))/binary>>, integer_to_binary(I)) || I <- lists:seq(1, 200)],
    S1 = erlang:monotonic_time(millisecond),
    {F0, F1} = receive
                   {fw_setenv_done, 0, _, A, B} -> {A, B};
                   {fw_setenv_done, Rc, Out, _, _} -> ct:fail({fw_setenv_failed, Rc, Out})
               after 120000 -> ct:fail(fw_setenv_loop_stuck)
               end,
    Overlap = min(S1, F1) - max(S0, F0),
    ct:pal("sysport writes ~b ms, fw_setenv loop ~b ms, overlapping ~b ms", [S1 - S0, F1 - F0, Overlap]),
    ?assert(Overlap > 0),
    {ok, Printed} = fw_printenv(Cfg),
    Lost = [K || {K, V} <- [{<<"s_", (integer_to_binary(I))/binary>>, I} || I <- lists:seq(1, 200)] ++
                               [{<<"f_", (integer_to_binary(I))/binary>>, I} || I <- lists:seq(1, 100)],
                 maps:get(K, Printed, undefined) =/= integer_to_binary(V)],
    ?assertEqual([], Lost),
    ok = sysport_kv:reload(),
    ?assertEqual({ok, Printed}, sysport_kv:get_all()).

diag(OsPid) ->
    P = "/proc/" ++ integer_to_list(OsPid),
    [{F, case file:read_file(P ++ "/" ++ F) of {ok, B} -> B; E -> E end} || F <- ["stat", "wchan", "syscall", "stack"]].

%% sysport's puts and fw_setenv's (one or two runs, so that one copy or
%% both change behind sysport) take turns, with no reload between: each
%% put finds what fw_setenv wrote and keeps it, on a redundant and a
%% single env, and sysport then holds what fw_printenv prints.
puts_between_fw_setenv_runs(Config) ->
    Dir = ?config(dir, Config),
    Single = filename:join(Dir, "single"),
    ok = mkenvimage(Single, keys("k", 50), ?SIZE, []),
    SingleDir = filename:join(Dir, "s"),
    ok = filelib:ensure_dir(filename:join(SingleDir, "x")),
    SingleCfg = write_config(SingleDir, [{Single, 0, ?SIZE}]),
    RedundantCfg = redundant_pair(Dir, keys("k", 50), ?SIZE),
    lists:foreach(
      fun(Cfg) ->
              start(Cfg, #{lock_file => ?FW_LOCK}),
              lists:foreach(
                fun(I) ->
                        N = integer_to_binary(I),
                        ok = sysport_kv:put(<<"s_", N/binary>>, N),
                        sysport_kv_test_lib:fw_setenv(Cfg, [<<"f_", N/binary>>, N]),
                        I rem 3 =:= 0 andalso sysport_kv_test_lib:fw_setenv(Cfg, [<<"k_", N/binary>>, N])
                end, lists:seq(1, 30)),
              ok = sysport_kv:put("last", "sysport"),
              {ok, Printed} = fw_printenv(Cfg),
              Lost = [K || I <- lists:seq(1, 30), K <- [<<"s_", (integer_to_binary(I))/binary>>,
                                                         <<"f_", (integer_to_binary(I))/binary>>],
                           maps:get(K, Printed, undefined) =/= binary:part(K, 2, byte_size(K) - 2)],
              ?assertEqual([], Lost),
              ?assertEqual(<<"sysport">>, maps:get(<<"last">>, Printed)),
              ?assertEqual({ok, Printed}, sysport_kv:get_all()),
              sysport_kv_test_lib:stop()
      end, [RedundantCfg, SingleCfg]).

%% A device that takes a write and does not keep it (pwrite preloaded to
%% drop writes while a flag file exists): the copy read back after the
%% sync differs, the put fails at verify, and the env, sysport's view of it
%% and fw_printenv's stay as they were. The next put, with the device
%% honest again, goes through.
dropped_write_fails_verify(Config) ->
    Dir = ?config(dir, Config),
    Shim = filename:join([sysport_test_lib:c_build(), "release", "kv_drop_writes.so"]),
    filelib:is_regular(Shim) orelse ct:fail("~s not built (make testhelpers)", [Shim]),
    Flag = filename:join(Dir, "drop"),
    Cfg = redundant_pair(Dir, keys("k", 100), ?SIZE),
    %% The release helper: a preloaded library does not go with ASan's.
    Helper = filename:join([sysport_test_lib:project_root(), "priv", "sysport_kv"]),
    start(Cfg, #{helper => #{program => Helper, backoff_min => 10, backoff_max => 40,
                             env => [{"LD_PRELOAD", Shim}, {"KV_DROP_WRITES", Flag}]}}),
    ok = sysport_kv:put("gen", "1"),
    ok = sysport_kv:put("gen", "2"),
    {ok, Before} = fw_printenv(Cfg),
    Files = [filename:join(Dir, F) || F <- ["env0", "env1"]],
    Bytes = [file:read_file(F) || F <- Files],
    ok = file:write_file(Flag, ""),
    lists:foreach(
      fun(_) ->
              ?assertMatch({error, {write_failed, #{step := verify, reason := _}}}, sysport_kv:put("gen", "3")),
              ?assertEqual({ok, <<"2">>}, sysport_kv:get("gen")),
              ?assertEqual({ok, Before}, sysport_kv:get_all()),
              ?assertEqual({ok, Before}, fw_printenv(Cfg)),
              ?assertEqual(Bytes, [file:read_file(F) || F <- Files])
      end, lists:seq(1, 3)),
    ok = file:delete(Flag),
    ok = sysport_kv:put("gen", "4"),
    {ok, After} = fw_printenv(Cfg),
    ?assertEqual(Before#{<<"gen">> => <<"4">>}, After),
    ?assertEqual({ok, After}, sysport_kv:get_all()),
    ?assertEqual([valid, valid], sysport_kv_test_lib:copy_crcs(Dir, ?SIZE, redundant)).
