%% Files sysport writes, against a local user who plants links: played
%% by uid 65534 (setpriv) in a sticky, world-writable directory as /tmp.
-module(sysport_file_tests).
-include_lib("eunit/include/eunit.hrl").
-include_lib("kernel/include/file.hrl").

as_nobody(Cmd) ->
    "ok\n" = os:cmd("setpriv --reuid=65534 --regid=65534 --clear-groups sh -c '" ++ Cmd ++ "' && echo ok").

with_shared_dir(Fun) ->
    Top = filename:absname(filename:join("_build", "sysport_file_test_" ++ os:getpid())),
    Shared = filename:join(Top, "shared"),
    ok = filelib:ensure_dir(filename:join(Shared, "x")),
    ok = file:change_mode(Top, 8#755),
    "" = os:cmd("chmod 1777 " ++ Shared),  % file:change_mode/2 drops the sticky bit
    Victim = filename:join(Top, "root-only"),
    ok = file:write_file(Victim, <<"secret">>),
    ok = file:change_mode(Victim, 8#600),
    try Fun(Shared, Victim)
    after os:cmd("rm -rf " ++ Top)
    end.

%% A streamed write (as sysport_ringlog:save/1 does) to a path where a
%% symlink to a root-only file was planted: the file is written in its
%% place, the target untouched.
streamed_write_replaces_a_planted_symlink_test() ->
    with_shared_dir(
      fun(Shared, Victim) ->
              Out = filename:join(Shared, "saved.txt"),
              as_nobody("ln -s " ++ Victim ++ " " ++ Out),
              ok = sysport_file:write(Out, fun(Fd) -> file:write(Fd, <<"chunk one, ">>),
                                                      file:write(Fd, <<"chunk two">>) end),
              ?assertEqual({ok, <<"chunk one, chunk two">>}, file:read_file(Out)),
              ?assertEqual({ok, <<"secret">>}, file:read_file(Victim)),
              {ok, #file_info{type = regular, mode = Mode, uid = Uid}} = file:read_link_info(Out),
              ?assertEqual(8#600, Mode band 8#777),
              ?assertEqual(sysport_file:euid(), Uid),
              ?assertEqual([], [F || F <- element(2, file:list_dir(Shared)), F =/= "saved.txt"])
      end).

%% A directory others may write to without the sticky bit: refused.
write_refuses_a_dir_others_control_test() ->
    with_shared_dir(
      fun(Shared, _Victim) ->
              ok = file:change_mode(Shared, 8#777),
              Out = filename:join(Shared, "f"),
              ?assertMatch({error, {writable_by_others, _}}, sysport_file:write(Out, <<"x">>)),
              ?assertEqual({error, enoent}, file:read_file_info(Out))
      end).

%% open/2 refuses a file another user planted, and a symlink.
open_refuses_others_files_and_symlinks_test() ->
    with_shared_dir(
      fun(Shared, Victim) ->
              Theirs = filename:join(Shared, "theirs"),
              as_nobody("touch " ++ Theirs),
              ?assertMatch({error, {not_owner, _}}, sysport_file:open(Theirs, [write])),
              Link = filename:join(Shared, "link"),
              as_nobody("ln -s " ++ Victim ++ " " ++ Link),
              ?assertMatch({error, {symlink, _}}, sysport_file:open(Link, [write])),
              New = filename:join(Shared, "new"),
              {ok, Fd} = sysport_file:open(New, [write]),
              ok = file:close(Fd),
              {ok, #file_info{mode = Mode}} = file:read_file_info(New),
              ?assertEqual(8#600, Mode band 8#777),
              ?assertEqual({ok, <<"secret">>}, file:read_file(Victim))
      end).
