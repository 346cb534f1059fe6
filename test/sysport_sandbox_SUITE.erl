%% Every helper confined (issue 18, item 1): what /proc says of each
%% running helper, what its ready info and the statuses say, that a
%% syscall outside its list kills it with SIGSYS, that the autoload
%% process alone holds CAP_SYS_MODULE and starts modprobe with nothing
%% else, and that each helper still does its job once confined.
%%
%% Two groups: `sanitizer' runs the ASan builds `make ct' points
%% SYSPORT_HELPER_DIR at (their wider `sanitizer' list, and the test-only
%% request sandbox_violate); `release' runs the release helpers of priv/
%% (the `production' list; no sandbox_violate in them); `fallback' runs
%% release helpers built without libcap-ng and libseccomp (`make
%% helpers-fallback', SP_SANDBOX_LIBS=fallback): the same capabilities
%% dropped through capset, no_new_privs, no filter, and saying so.
-module(sysport_sandbox_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, groups/0, init_per_group/2, end_per_group/2, init_per_testcase/2, end_per_testcase/2]).
-export([helpers_confined/1, helpers_work_confined/1, forbidden_syscall_kills/1,
         no_test_request_in_release/1, autoload_process_alone_loads_modules/1,
         status_shows_sandbox/1]).

-define(SERVICES, [ringlog, kmsg, uevent, time, kv, sensors]).

all() -> [{group, sanitizer}, {group, release}, {group, fallback}].

groups() ->
    Common = [helpers_confined, helpers_work_confined, autoload_process_alone_loads_modules, status_shows_sandbox],
    [{sanitizer, [sequence], Common ++ [forbidden_syscall_kills]},
     {release, [sequence], Common ++ [no_test_request_in_release]},
     {fallback, [sequence], Common}].

init_per_group(sanitizer, Config) ->
    case os:getenv("SYSPORT_HELPER_DIR") of
        Dir when is_list(Dir), Dir =/= "" -> [{helper_dir, Dir}, {list, sanitizer} | Config];
        _ -> {skip, "SYSPORT_HELPER_DIR (make ct) names no sanitizer build"}
    end;
init_per_group(release, Config) ->
    [{helper_dir, filename:join(sysport_test_lib:project_root(), "priv")}, {list, production} | Config];
init_per_group(fallback, Config) ->
    Dir = filename:join([sysport_test_lib:c_build(), "fallback", "priv"]),
    case {filelib:is_regular(filename:join(Dir, "sysport_kv")), os:getenv("SYSPORT_TEST_BIN")} of
        {true, _} -> [{helper_dir, Dir}, {list, fallback} | Config];
        {false, false} -> {skip, "no fallback build: make helpers-fallback (make ct builds it)"};
        {false, _} -> ct:fail({no_fallback_build, Dir})
    end.

end_per_group(_, _Config) -> ok.

init_per_testcase(Case, Config) ->
    Data = filename:join(?config(priv_dir, Config), atom_to_list(Case)),
    ok = filelib:ensure_path(Data),
    {ok, Ntp} = sysport_time_responder:start(#{}),
    _ = application:load(sysport),
    [ok = application:set_env(sysport, K, V)
     || {K, V} <- [{services, ?SERVICES}, {helper_dir, ?config(helper_dir, Config)}, {data_dir, Data},
                   {time, #{servers => [{"127.0.0.1", sysport_time_responder:port(Ntp)}], clock => recording,
                            rtc => none}},
                   {uevent, case Case of
                                autoload_process_alone_loads_modules ->
                                    #{autoload => true, modprobe => fake_modprobe(Data)};
                                _ -> #{}
                            end}]],
    {ok, _} = application:ensure_all_started(sysport),
    [{data, Data}, {ntp, Ntp} | Config].

end_per_testcase(_Case, Config) ->
    _ = application:stop(sysport),
    [application:unset_env(sysport, K) || K <- [services, helper_dir, data_dir, time, uevent]],
    sysport_time_responder:stop(?config(ntp, Config)),
    ok.

%%% Cases

%% /proc/PID/status of each helper: the exact capability masks, NoNewPrivs
%% 1, Seccomp 2; and the ready info's sandbox map agrees.
helpers_confined(Config) ->
    List = ?config(list, Config),
    [begin
         #{os_pid := Pid, sandbox := Sandbox} = helper(S),
         ?assertEqual(ok, sysport_sandbox_expect:check(S, Pid, {Sandbox, List}))
     end || S <- ?SERVICES].

%% Confined, each helper still does what its service needs, and none of
%% them was killed doing it.
helpers_work_confined(Config) ->
    Before = maps:from_list([{S, maps:get(os_pid, helper(S))} || S <- ?SERVICES]),
    %% kmsg: dmesg opens the log again and reads it.
    Line = <<"sysport-sandbox ", (integer_to_binary(erlang:unique_integer([positive])))/binary>>,
    ok = file:write_file("/dev/kmsg", [<<"<5>">>, Line, $\n]),
    ok = sysport_test_lib:wait_until(
           fun() -> {ok, Recs} = sysport_kmsg:dmesg(), [M || #{message := M} <- Recs, M =:= Line] =/= [] end, 10000),
    %% kv: a write and a read of the env file, with its lock.
    ok = sysport_kv:put("sandbox", Line),
    ?assertEqual({ok, Line}, sysport_kv:get("sandbox")),
    %% ringlog: a record written and synced.
    logger:notice("~ts", [Line]),
    ok = sysport_test_lib:wait_until(
           fun() -> {ok, Recs} = sysport_ringlog:grep(Line), {ok, Synced} = sysport_ringlog:sync(),
                    [S || #{seq := S} <- Recs, S =< Synced] =/= [] end, 10000),
    %% time: SNTP exchanges with the server on loopback (socket, sendto,
    %% recvmsg with kernel timestamps) and the clock read.
    Ntp = ?config(ntp, Config),
    ok = sysport_test_lib:wait_until(
           fun() -> {ok, Servers} = sysport_time:servers(),
                    [S || #{state := active} = S <- Servers] =/= [] end, 20000),
    ?assert(sysport_time_responder:requests(Ntp) >= 1),
    %% sensors: libsensors' detection again (sysfs, its config file).
    {ok, Chips} = sysport_sensors:rescan(),
    ?assert(is_list(Chips)),
    %% uevent: a kernel event received, and a new enumeration (the forked
    %% child under its narrower filter).
    ok = sysport_uevent:subscribe(),
    ok = file:write_file("/sys/class/net/lo/uevent", "change"),
    receive {sysport_uevent, change, #{devpath := <<"/devices/virtual/net/lo">>}} -> ok
    after 10000 -> ct:fail(no_change_event)
    end,
    {ok, Devices} = sysport_uevent:devices(),
    ?assert(map_size(Devices) > 0),
    [?assertMatch(#{os_pid := P, restarts := 0, last_exit := none}, helper(S)) || {S, P} <- maps:to_list(Before)].

%% The test-only request makes each helper call acct(2), in no list: the
%% kernel kills it with SIGSYS, its owner says so and starts it again.
forbidden_syscall_kills(_Config) ->
    [begin
         #{os_pid := Pid} = helper(S),
         Port = port_of(S),
         ?assertMatch({error, _}, sysport_port:call(Port, sandbox_violate, 10000)),
         ok = sysport_test_lib:wait_until(
                fun() -> #{last_exit := E, os_pid := P} = helper(S), E =:= {signal, sigsys} andalso is_integer(P) andalso P =/= Pid end,
                10000),
         #{os_pid := New, restarts := 1, sandbox := #{seccomp := filter}} = helper(S),
         ?assertNotEqual(Pid, New)
     end || S <- ?SERVICES].

%% Release helpers have no such request.
no_test_request_in_release(_Config) ->
    [?assertEqual({error, {unknown_request, sandbox_violate}}, sysport_port:call(port_of(S), sandbox_violate, 10000))
     || S <- ?SERVICES].

%% The netlink reader holds nothing; the autoload process CAP_SYS_MODULE
%% alone; modprobe (here a script that reports itself) is started with
%% that, no_new_privs, and an environment of PATH only.
autoload_process_alone_loads_modules(Config) ->
    Data = ?config(data, Config),
    #{os_pid := Reader} = helper(uevent),
    {ok, Info} = sysport_port:call(port_of(uevent), stats, 5000),
    ?assertMatch(#{modprobe_running := false}, Info),
    [Autoload] = sysport_test_lib:children_of(Reader),
    ?assertEqual(ok, sysport_sandbox_expect:check_autoload(Autoload)),
    %% An add event with a MODALIAS runs the fake modprobe.
    {ok, WithAlias} = sysport_uevent:devices(#{}),
    [{Dev, _} | _] = lists:sort([{D, A} || {D, #{<<"MODALIAS">> := A}} <- maps:to_list(WithAlias)]),
    ok = file:write_file(<<"/sys", Dev/binary, "/uevent">>, "add"),
    Report = filename:join(Data, "modprobe.report"),
    ok = sysport_test_lib:wait_until(fun() -> filelib:is_regular(Report) end, 10000),
    ok = sysport_test_lib:wait_until(
           fun() -> {ok, #{modprobe := #{runs := R}}} = sysport_test_lib:flat_status(sysport_uevent),
                    maps:get({exit, 0}, R, 0) >= 1 end, 10000),
    {ok, Text} = file:read_file(Report),
    [Env, Status] = binary:split(Text, <<"--\n">>),
    ?assertEqual([<<"PATH=/usr/sbin:/usr/bin:/sbin:/bin">>], binary:split(Env, <<"\n">>, [global, trim_all])),
    Module = mask_of_module(),
    Want = #{'CapEff' => Module, 'CapPrm' => Module, 'CapBnd' => Module, 'CapInh' => 0, 'CapAmb' => 0,
             'NoNewPrivs' => 1, 'Seccomp' => 0},
    Got = maps:with(maps:keys(Want), sysport_sandbox_expect:parse_status(Status)),
    ?assertEqual(Want, Got).

%% sysport:status() has a sandbox cell per helper, and each service's
%% status() the map.
status_shows_sandbox(Config) ->
    Text = capture(fun sysport:status/0),
    Rows = [R || R <- string:split(Text, "\n", all), lists:any(fun(S) -> string:prefix(R, atom_to_list(S)) =/= nomatch end, ?SERVICES)],
    ?assertEqual(length(?SERVICES), length(Rows)),
    {Cell, Seccomp} = case ?config(list, Config) of
                          production -> {"seccomp", filter};
                          sanitizer -> {"seccomp (sanitizer list)", filter};
                          fallback -> {"no seccomp: built without libseccomp",
                                       {unavailable, <<"built without libseccomp">>}}
                      end,
    [?assertNotEqual(nomatch, string:find(R, Cell), R) || R <- Rows],
    [?assertNotEqual(nomatch, string:find(R, "uid 0"), R) || R <- Rows, os:cmd("id -u") =:= "0\n"],
    {ok, #{helper := #{sandbox := KvSandbox}}} = sysport_kv:status(),
    ?assertMatch(#{seccomp := Seccomp, caps := [], no_new_privs := true}, KvSandbox).

%%% Helpers

helper(S) ->
    {ok, #{helper := H}} = (list_to_atom("sysport_" ++ atom_to_list(S))):status(),
    H.

%% The sysport_port process running service S's helper.
port_of(S) ->
    Mod = list_to_atom("sysport_" ++ atom_to_list(S)),
    Ports = [P || P <- erlang:processes(), proc_lib:initial_call(P) =:= {sysport_port, init, ['Argument__1']},
                  {links, Links} <- [erlang:process_info(P, links)], lists:member(whereis(Mod), Links)],
    case Ports of
        [P] -> P;
        _ -> ct:fail({no_port_of, S, Ports})
    end.

mask_of_module() ->
    #{'CapPrm' := Vm} = sysport_sandbox_expect:proc_status(list_to_integer(os:getpid())),
    Vm band (1 bsl 16).

fake_modprobe(Data) ->
    Fake = filename:join(Data, "fake-modprobe"),
    Report = filename:join(Data, "modprobe.report"),
    ok = file:write_file(Fake, ["#!/bin/sh\n",
                                %% /proc/$$: this process, as the autoload process started it
                                "{ tr '\\0' '\\n' < /proc/$$/environ; echo --; cat /proc/$$/status; } > '", Report, ".new'\n",
                                "mv '", Report, ".new' '", Report, "'\n"]),
    ok = file:change_mode(Fake, 8#755),
    Fake.

capture(F) ->
    ct:capture_start(),
    try F() after ct:capture_stop() end,
    lists:flatten(ct:capture_get()).
