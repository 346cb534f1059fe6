%% eunit: the pure parts of sysport_kmsg - the dmesg-style formatting and
%% the seq file.
-module(sysport_kmsg_tests).
-include_lib("eunit/include/eunit.hrl").

rec(Ts, Message) ->
    #{seq => 1, facility => kern, level => info, ts_usec => Ts, flags => <<"-">>, message => Message}.

line(Ts, Message) ->
    iolist_to_binary(sysport_kmsg_format:line(rec(Ts, Message), #{})).

timestamp_test_() ->
    [?_assertEqual(<<"[    0.000000] ">>, iolist_to_binary(sysport_kmsg_format:timestamp(0))),
     ?_assertEqual(<<"[    1.234567] ">>, iolist_to_binary(sysport_kmsg_format:timestamp(1234567))),
     ?_assertEqual(<<"[99999.999999] ">>, iolist_to_binary(sysport_kmsg_format:timestamp(99999999999))),
     %% Past 27 hours the field grows, as printf's %5ld does (no asterisks).
     ?_assertEqual(<<"[1234567.890123] ">>, iolist_to_binary(sysport_kmsg_format:timestamp(1234567890123)))].

line_test_() ->
    [?_assertEqual(<<"[    1.000000] hello\n">>, line(1000000, <<"hello">>)),
     %% An empty message is an empty line, as util-linux prints it.
     ?_assertEqual(<<"\n">>, line(1, <<>>)),
     %% Continuation lines go under the text; a trailing newline adds no indent.
     ?_assertEqual(<<"[    0.000001] a\n               b\n">>, line(1, <<"a\nb">>)),
     ?_assertEqual(<<"[    0.000001] a\n\n">>, line(1, <<"a\n">>)),
     %% Whitespace passes, other controls, DEL, C1 controls and bytes that
     %% are not UTF-8 are escaped; printable UTF-8 passes.
     ?_assertEqual(<<"[    0.000001] \t\r\\x01\\x1b[31m\\x7f\\xc2\\x85 \xc3\xa9 \\xff\\xc3\n">>,
                   line(1, <<"\t\r\x01\e[31m\x7f\xc2\x85 \xc3\xa9 \xff\xc3">>)),
     %% Surrogates are not UTF-8.
     ?_assertEqual(<<"[    0.000001] \\xed\\xa0\\x80\n">>, line(1, <<16#ed, 16#a0, 16#80>>))].

color_test_() ->
    Colored = fun(Level) ->
                      iolist_to_binary(sysport_kmsg_format:line((rec(1, <<"m">>))#{level := Level},
                                                                #{color => true}))
              end,
    [?_assertEqual(<<"\e[32m[    0.000001] \e[0mm\n">>, Colored(info)),
     ?_assertEqual(<<"\e[32m[    0.000001] \e[0m\e[1mm\e[0m\n">>, Colored(warning)),
     ?_assertEqual(<<"\e[32m[    0.000001] \e[0m\e[31mm\e[0m\n">>, Colored(error)),
     ?_assertEqual(<<"\e[32m[    0.000001] \e[0m\e[1m\e[31mm\e[0m\n">>, Colored(critical)),
     ?_assertEqual(<<"\e[32m[    0.000001] \e[0m\e[7m\e[31mm\e[0m\n">>, Colored(emergency))].

text_test_() ->
    [?_assertEqual(<<"plain \xc3\xa9">>, sysport_kmsg_format:text(<<"plain \xc3\xa9">>)),
     ?_assertEqual(<<"two\nlines">>, sysport_kmsg_format:text(<<"two\nlines">>)),
     ?_assertEqual(<<"\\x1b[0m">>, sysport_kmsg_format:text(<<"\e[0m">>)),
     ?_assertEqual(<<"bad \\xff">>, sysport_kmsg_format:text(<<"bad \xff">>)),
     ?_assertEqual(<<"c1 \\xc2\\x9b">>, sysport_kmsg_format:text(<<"c1 \xc2\x9b">>))].

seq_file_test_() ->
    {setup,
     fun() ->
             Dir = filename:join(["/tmp", "sysport_kmsg_tests_" ++ os:getpid()]),
             ok = filelib:ensure_dir(filename:join(Dir, "x")),
             Dir
     end,
     fun(Dir) -> file:del_dir_r(Dir) end,
     fun(Dir) ->
             Path = filename:join([Dir, "sub", "kmsg.seq"]),
             {ok, BootId} = sysport_kmsg_resume:boot_id(),
             [fun() ->
                      %% New (directory created), then resumed with what was saved.
                      {ok, H1, none, fresh} = sysport_kmsg_resume:open(Path),
                      ok = sysport_kmsg_resume:save(H1, 41),
                      ok = sysport_kmsg_resume:save(H1, 18446744073709551615),
                      ok = sysport_kmsg_resume:save(H1, 42),
                      ok = sysport_kmsg_resume:close(H1),
                      {ok, Saved} = file:read_file(Path),
                      ?assertEqual(byte_size(BootId) + 22, byte_size(Saved)),
                      {ok, H2, 42, resumed} = sysport_kmsg_resume:open(Path),
                      ok = sysport_kmsg_resume:close(H2)
              end,
              fun() ->
                      ok = file:write_file(Path, <<"11111111-2222-3333-4444-555555555555 7\n">>),
                      {ok, H, none, other_boot} = sysport_kmsg_resume:open(Path),
                      ok = sysport_kmsg_resume:close(H),
                      %% Emptied, so the next save is the whole file.
                      ?assertEqual({ok, <<>>}, file:read_file(Path))
              end,
              fun() ->
                      [begin
                           ok = file:write_file(Path, Bad),
                           {ok, H, none, corrupt} = sysport_kmsg_resume:open(Path),
                           ok = sysport_kmsg_resume:close(H)
                       end || Bad <- [<<"junk">>, <<BootId/binary, " -5\n">>, <<BootId/binary, " x\n">>,
                                      <<BootId/binary, "\n">>, <<0, 0, 0>>]]
              end,
              fun() ->
                      ?assertMatch({error, {_, _}}, sysport_kmsg_resume:open("/proc/nope/kmsg.seq"))
              end]
     end}.
