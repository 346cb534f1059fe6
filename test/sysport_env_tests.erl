-module(sysport_env_tests).
-include_lib("eunit/include/eunit.hrl").

with_env(AppEnv, OsEnv, Fun) ->
    Saved = [{K, os:getenv(K)} || {K, _} <- OsEnv],
    SavedApp = application:get_env(sysport, data_dir),
    [case V of false -> os:unsetenv(K); _ -> os:putenv(K, V) end || {K, V} <- OsEnv],
    case AppEnv of
        undefined -> application:unset_env(sysport, data_dir);
        _ -> application:set_env(sysport, data_dir, AppEnv)
    end,
    try Fun()
    after
        [case V of false -> os:unsetenv(K); _ -> os:putenv(K, V) end || {K, V} <- Saved],
        case SavedApp of
            undefined -> application:unset_env(sysport, data_dir);
            {ok, D} -> application:set_env(sysport, data_dir, D)
        end
    end.

data_dir_precedence_test_() ->
    NoData = not filelib:is_dir("/data"),
    [?_assertEqual(<<"/x/app">>,
                   with_env("/x/app", [{"SYSPORT_DATA_DIR", "/x/os"}], fun sysport_env:data_dir/0)),
     ?_assertEqual(<<"/x/os">>,
                   with_env(undefined, [{"SYSPORT_DATA_DIR", "/x/os"}], fun sysport_env:data_dir/0))] ++
    %% The XDG fallbacks apply where /data does not exist (as on CI hosts).
    [?_assertEqual(<<"/x/state/sysport">>,
                   with_env(undefined, [{"SYSPORT_DATA_DIR", false}, {"XDG_STATE_HOME", "/x/state"}],
                            fun sysport_env:data_dir/0)) || NoData] ++
    [?_assertEqual(<<"/home/u/.local/state/sysport">>,
                   with_env(undefined, [{"SYSPORT_DATA_DIR", false}, {"XDG_STATE_HOME", false},
                                        {"HOME", "/home/u"}], fun sysport_env:data_dir/0)) || NoData].

ensure_data_dir_creates_private_dir_test() ->
    %% Below the project's own _build: directories only root (or the VM's
    %% user) can change, all the way up.
    Top = filename:absname(filename:join(["_build", "sysport_env_test_" ++ os:getpid()])),
    Dir = filename:join([Top, "a", "b"]),
    try
        {ok, Bin} = with_env(Dir, [], fun sysport_env:ensure_data_dir/0),
        ?assertEqual(list_to_binary(Dir), Bin),
        ?assert(filelib:is_dir(Dir)),
        {ok, Info} = file:read_file_info(Dir),
        ?assertEqual(8#700, element(8, Info) band 8#777)
    after
        os:cmd("rm -rf " ++ Top)
    end.

%% /tmp (or anything others can write to) is refused before anything is
%% created there: another user could have planted the directory, or a
%% symlink in its place.
ensure_data_dir_refuses_shared_dirs_test() ->
    Dir = filename:join(["/tmp", "sysport_env_test_" ++ os:getpid(), "a"]),
    ?assertEqual({error, {data_dir, list_to_binary(Dir), {writable_by_others, <<"/tmp">>}}},
                 with_env(Dir, [], fun sysport_env:ensure_data_dir/0)),
    ?assertNot(filelib:is_dir(filename:dirname(Dir))).

%% Without HOME the fallback is system state, never /tmp.
data_dir_without_home_is_not_tmp_test() ->
    NoData = not filelib:is_dir("/data"),
    [?assertEqual(<<"/var/lib/sysport">>,
                  with_env(undefined, [{"SYSPORT_DATA_DIR", false}, {"XDG_STATE_HOME", false}, {"HOME", false}],
                           fun sysport_env:data_dir/0)) || NoData].

exit_status_test_() ->
    [?_assertEqual({exit, 0}, sysport_port:exit_status(0)),
     ?_assertEqual({exit, 65}, sysport_port:exit_status(65)),
     ?_assertEqual({signal, sigkill}, sysport_port:exit_status(137)),
     ?_assertEqual({signal, sigsegv}, sysport_port:exit_status(139)),
     ?_assertEqual({signal, 40}, sysport_port:exit_status(168))].

subs_test() ->
    Pid = spawn(fun() -> receive stop -> ok end end),
    S = sysport_subs:new(),
    ok = sysport_subs:add(S, Pid, all),
    ok = sysport_subs:add(S, Pid, #{subsystem => <<"net">>}),
    ?assertEqual(1, sysport_subs:count(S)),
    ?assertEqual([{Pid, #{subsystem => <<"net">>}}],
                 sysport_subs:fold(fun(P, F, Acc) -> [{P, F} | Acc] end, [], S)),
    Pid ! stop,
    receive {'DOWN', _, process, Pid, _} -> ok after 1000 -> error(no_down) end,
    ok = sysport_subs:remove(S, Pid),
    ?assertEqual(0, sysport_subs:count(S)).

%% Options: maps, proplists and keyword lists alike; every bad key and
%% value named, in one shape; defaults merged.
opts_test() ->
    Schema = [{timeout, 100, pos_integer, <<"t">>}, {file, none, {any_of, [path, {enum, [none]}]}, <<"f">>},
              {helper, #{}, {opts, [{wrapper, [], {list, chardata}, <<"w">>}]}, <<"h">>}],
    ?assertEqual({ok, #{timeout => 5, file => none, helper => #{}}}, sysport_opts:check(s, Schema, [{timeout, 5}])),
    ?assertEqual(sysport_opts:check(s, Schema, [{timeout, 5}, {timeout, 6}]),
                 sysport_opts:check(s, Schema, #{timeout => 5})),
    ?assertEqual({error, {invalid_option, s, #{timeout => "5", colour => red}}},
                 sysport_opts:check(s, Schema, #{timeout => "5", colour => red})),
    ?assertEqual({error, {invalid_option, s, #{file => ""}}}, sysport_opts:check(s, Schema, #{file => ""})),
    ?assertEqual({error, {invalid_option, s, #{helper => [{wrapper, 1}]}}},
                 sysport_opts:check(s, Schema, #{helper => [{wrapper, 1}]})),
    ?assertMatch({ok, #{helper := #{wrapper := ["strace"]}}}, sysport_opts:check(s, Schema, [{helper, [{wrapper, ["strace"]}]}])),
    ?assertMatch({ok, #{file := <<"/tmp/x">>}}, sysport_opts:check(s, Schema, [{file, ["/tmp/", <<"x">>]}])),
    ?assertEqual({error, {invalid_option, s, #{options => 42}}}, sysport_opts:check(s, Schema, 42)),
    %% An improper list is not a proplist (raised bad_generator in the caller).
    ?assertEqual({error, {invalid_option, s, #{options => [timeout | 0]}}},
                 sysport_opts:check(s, Schema, [timeout | 0])),
    ?assertEqual([#{name => timeout, default => 100, doc => <<"t">>}], lists:sublist(sysport_opts:describe(Schema), 1)).

%% Every service's schema: a default for each key that its own check accepts
%% (or a placeholder resolved at start), and a doc line.
service_schemas_test() ->
    [begin
         {ok, _} = sysport_service:check(M, #{}),
         [?assert(is_binary(Doc) andalso Doc =/= <<>>) || {_, _, _, Doc} <- sysport_service:options(M)]
     end || M <- [sysport_kv, sysport_kmsg, sysport_uevent, sysport_time, sysport_sensors, sysport_ringlog]].
