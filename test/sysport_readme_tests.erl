%% README.md against the code, without running anything: every block says
%% which test runs it, the option tables are the schemas, the commands a
%% block says a script runs are in that script, and the Gleam and LFE
%% examples (no compiler for either in Debian 12) call functions that
%% exist with that arity. The blocks themselves run in
%% sysport_readme_SUITE (Erlang) and test/interop (Elixir).
-module(sysport_readme_tests).
-include_lib("eunit/include/eunit.hrl").

readme() ->
    {ok, Text} = file:read_file(sysport_readme:path()),
    Text.

every_block_says_which_test_runs_it_test() ->
    ?assertEqual([], sysport_readme:untagged(sysport_readme:blocks(readme()))).

option_tables_are_the_schemas_test() ->
    %% On a difference this prints the table the code gives (make readme-options).
    ?assertEqual([], sysport_readme:tables_differ(readme())).

by_blocks_are_in_their_scripts_test_() ->
    Root = filename:dirname(sysport_readme:path()),
    [{"README line " ++ integer_to_list(N),
      fun() ->
              {ok, Script} = file:read_file(filename:join(Root, File)),
              ?assertEqual([], sysport_readme:by_file_problems(Text, Script))
      end}
     || #{line := N, kind := <<"by">>, args := [File], text := Text} <- sysport_readme:blocks(readme())].

from_blocks_are_read_by_their_scripts_test_() ->
    Root = filename:dirname(sysport_readme:path()),
    [{"README line " ++ integer_to_list(N),
      fun() ->
              {ok, Script} = file:read_file(filename:join(Root, File)),
              ?assertNotEqual(nomatch, binary:match(Script, <<"README.md">>)),
              ?assertNotEqual(nomatch, binary:match(Script, <<"test: from">>))
      end}
     || #{line := N, kind := <<"from">>, args := [File]} <- sysport_readme:blocks(readme())].

gleam_and_lfe_call_what_exists_test_() ->
    [{"README line " ++ integer_to_list(N),
      fun() ->
              Calls = sysport_readme:externals(binary_to_atom(Kind), Text),
              %% A block of types only (no @external) calls nothing.
              ?assertEqual(binary:match(Text, [<<"@external">>, <<":">>]) =:= nomatch, Calls =:= []),
              ?assertEqual([], [C || {M, F, A} = C <- Calls,
                                     not (code:ensure_loaded(M) =:= {module, M}
                                          andalso erlang:function_exported(M, F, A))])
      end}
     || #{line := N, kind := Kind, text := Text} <- sysport_readme:blocks(readme()),
        lists:member(Kind, [<<"gleam">>, <<"lfe">>])].

%% The checks themselves catch what they are for.
checks_catch_mistakes_test() ->
    Blocks = sysport_readme:blocks(<<"<!-- test: erlang -->\n```erlang\nok.\n```\n\n```sh\nls\n```\n"
                                     "<!-- test: bogus -->\n```\nx\n```\n">>),
    ?assertMatch([#{line := 2, kind := <<"erlang">>, text := <<"ok.\n">>}, _, _], Blocks),
    ?assertEqual([{6, none}, {10, <<"bogus">>}], sysport_readme:untagged(Blocks)),
    Script = <<"timeout 60 make -C \"$src/ports\" O=\"$work/o\"\n\"$reldir/bin/sysport\" foreground &\n">>,
    ?assertEqual([], sysport_readme:by_file_problems(<<"make -C ports O=x   # build\nbin/sysport foreground\n">>, Script)),
    ?assertEqual([<<"make -C ports PRIV=x">>, <<"bin/sysport stop">>],
                 sysport_readme:by_file_problems(<<"make -C ports \\\n  PRIV=x\nbin/sysport stop\n">>, Script)),
    ?assertEqual([{sysport_kv, get, 1}, {sysport_kmsg, dmesg, 1}, {lists, map, 2}],
                 sysport_readme:externals(lfe, <<"(sysport_kv:get #\"a b\") ; (x:y)\n"
                                                 "(let ((r (sysport_kmsg:dmesg (map 'level 'warning))))\n"
                                                 "  (lists:map (lambda (r) r) r))">>)),
    ?assertEqual([{sysport_kv, put, 2}],
                 sysport_readme:externals(gleam, <<"@external(erlang, \"sysport_kv\", \"put\")\n"
                                                   "pub fn kv_put(key: String, value: String) -> Done\n">>)),
    Table = sysport_readme:option_table(kv),
    ?assertMatch({_, _}, binary:match(Table, <<"| `lock_timeout` | `5000` | ">>)),
    Stale = <<"<!-- options: kv -->\n| old |\n<!-- /options -->\n">>,
    ?assertMatch([{ringlog, missing} | _], sysport_readme:tables_differ(Stale)),
    ?assertEqual({kv, Table}, lists:keyfind(kv, 1, sysport_readme:tables_differ(Stale))).
