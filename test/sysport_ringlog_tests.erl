%% eunit tests of the ring log's pure parts: the codec, the ring's budgets,
%% overload decisions and the text side.
-module(sysport_ringlog_tests).
-include_lib("eunit/include/eunit.hrl").

-define(FFFD, 16#FFFD/utf8).

%%% codec

to_utf8_test_() ->
    F = fun sysport_ringlog_codec:to_utf8/2,
    [?_assertEqual(<<"plain">>, F(<<"plain">>, 100)),
     ?_assertEqual(<<"a", ?FFFD, "b">>, F(<<"a", 255, "b">>, 100)),
     ?_assertEqual(<<"x", ?FFFD>>, F(<<"x", 16#e2, 16#82>>, 100)), % cut inside a character
     ?_assertEqual(<<"charlist ä"/utf8>>, F("charlist ä", 100)),
     ?_assertEqual(<<"a", ?FFFD, "b">>, F([$a, 16#110000, $b], 100)),
     ?_assertEqual(<<"a", ?FFFD, "b">>, F([$a, -1, $b], 100)),
     ?_assertEqual(<<"deep", ?FFFD, "!">>, F([<<"deep">>, [<<255>>], "!"], 100)),
     %% Cut at a character boundary, with the size said.
     ?_assertEqual(<<"xxxxxx...(1000 bytes)">>, F(binary:copy(<<"x">>, 1000), 21)),
     ?_assertEqual(<<"...(1000 bytes)">>, F(binary:copy(<<"é"/utf8>>, 500), 16)),
     ?_assert(byte_size(F(binary:copy(<<255>>, 1 bsl 20), 4000)) =< 4000),
     ?_assert(byte_size(F(lists:duplicate(100000, 16#110000), 100)) =< 100)].

render_test_() ->
    R = fun(Msg, Meta) -> sysport_ringlog_codec:render(Msg, Meta, 1000) end,
    [?_assertEqual(<<"hello 1">>, R({"hello ~p", [1]}, #{})),
     ?_assertEqual(<<"FORMAT ERROR: \"~p ~p\" - [x]">>, R({"~p ~p", [x]}, #{})),
     ?_assertEqual(<<"atom format">>, R({'atom format', []}, #{})),
     ?_assertEqual(<<"s">>, R({string, "s"}, #{})),
     ?_assertMatch(<<"    a: 1", _/binary>>, R({report, #{a => 1}}, #{})),
     ?_assertEqual(<<"cb">>, R({report, #{}}, #{report_cb => fun(_) -> {"cb", []} end})),
     ?_assertEqual(<<"cb2">>, R({report, #{}}, #{report_cb => fun(_, _) -> "cb2" end})),
     ?_assertMatch(<<"UNRENDERABLE: ", _/binary>>, R({report, #{}}, #{report_cb => fun(_) -> exit(x) end})),
     %% OTP's reports (here a supervisor's progress) come out on one line
     ?_assertEqual(nomatch, binary:match(R({report, progress_report()}, #{report_cb => fun supervisor:format_log/2}),
                                         <<"\n">>)),
     ?_assertMatch(<<"UNRENDERABLE: ", _/binary>>, R(not_a_message, #{})),
     ?_assert(byte_size(R({"~p", [lists:seq(1, 100000)]}, #{})) =< 1000)].

progress_report() ->
    Args = [#{lock_file => <<"/tmp/a/path/long/enough/to/break/the/line/of/a/pretty/printed/term/lock">>}],
    #{label => {supervisor, progress},
      report => [{supervisor, {local, sysport_sup}},
                 {started, [{pid, self()}, {id, sysport_kv}, {mfargs, {sysport_kv, start_link, Args}},
                            {restart_type, permanent}, {significant, false}, {shutdown, 5000},
                            {child_type, worker}]}]}.

encode_decode_test() ->
    Meta = #{pid => self(), mfa => {m, f, 2}, domain => [otp, sasl], application => app,
             file => "f.erl", line => 7, extra => <<"x">>},
    Payload = sysport_ringlog_codec:encode(#{level => info, msg => {"m ~p", [1]}, meta => Meta}, 200, [extra]),
    R = sysport_ringlog_codec:decode({5, <<"b">>, 10, 20, 6, Payload}),
    ?assertMatch(#{seq := 5, boot := <<"b">>, time := 10, mono := 20, level := info, msg := <<"m 1">>,
                   mfa := <<"m:f/2">>, domain := [<<"otp">>, <<"sasl">>], application := <<"app">>,
                   file := <<"f.erl">>, line := <<"7">>, meta := #{<<"extra">> := <<"x">>}}, R),
    ?assertEqual(list_to_binary(pid_to_list(self())), maps:get(pid, R)),
    %% The whole payload stays within its budget.
    Big = sysport_ringlog_codec:encode(#{level => info, msg => {string, binary:copy(<<"y">>, 5000)}, meta => Meta},
                                       200, [extra]),
    ?assert(byte_size(Big) =< 200).

decode_foreign_payload_test() ->
    %% Bytes another writer left: shown, not fatal.
    ?assertMatch(#{msg := <<_/binary>>}, sysport_ringlog_codec:decode({1, <<"b">>, 0, 0, 3, <<9, 200, 1, 2>>})),
    ?assertMatch(#{msg := <<>>}, sysport_ringlog_codec:decode({1, <<"b">>, 0, 0, 3, <<>>})).

levels_test() ->
    Levels = [emergency, alert, critical, error, warning, notice, info, debug],
    ?assertEqual(lists:seq(0, 7), [sysport_ringlog_codec:level_to_int(L) || L <- Levels]),
    ?assertEqual(Levels, [sysport_ringlog_codec:int_to_level(I) || I <- lists:seq(0, 7)]).

%%% ring

ring_test_() ->
    {foreach, fun() -> ok end, fun(_) -> [catch ets:delete(T) || T <- tables()] end,
     [fun flood_evicts_its_own_class/0, fun budgets_hold/0, fun queries_merge_classes/0,
      fun shrinking_evicts_at_once/0, fun packed_and_loose_read_alike/0]}.

tables() ->
    [list_to_atom(atom_to_list(T) ++ S) || T <- [sysport_ringlog_error, sysport_ringlog_warning, sysport_ringlog_info,
                                                 sysport_ringlog_debug], S <- ["", "_p"]].

opts(Bytes, Records) ->
    #{ring_bytes => Bytes, ring_records => Records, ring_shares => #{error => 1, warning => 1, info => 1, debug => 1}}.

fill(Ring, From, To, Level) ->
    lists:foldl(fun(S, R) -> sysport_ringlog_ring:insert(R, S, Level, S, S, <<"payload">>) end, Ring,
                lists:seq(From, To)).

flood_evicts_its_own_class() ->
    R0 = sysport_ringlog_ring:new(opts(1 bsl 20, 1000)),
    R1 = fill(R0, 1, 10, 3),
    R2 = fill(R1, 11, 100010, 7),
    %% Whole segments of 32 go at once: the ring stays within a segment of full.
    #{records := N, classes := #{error := #{records := 10}, debug := #{records := Debug}}} =
        sysport_ringlog_ring:stats(R2),
    ?assert(N =< 1000 andalso N > 1000 - 32),
    ?assertEqual(N - 10, Debug),
    %% What is left of the flood is its newest part, in order.
    ?assertEqual(lists:seq(100010 - Debug + 1, 100010), [S || {S, _, _, _, _} <- sysport_ringlog_ring:all(7), S > 10]),
    ?assertEqual(lists:seq(1, 10), [S || {S, _, _, _, _} <- sysport_ringlog_ring:all(3)]).

budgets_hold() ->
    R = fill(sysport_ringlog_ring:new(opts(20000, 100000)), 1, 1000, 6),
    #{bytes := B, records := N, evicted := E} = sysport_ringlog_ring:stats(R),
    ?assert(B =< 20000),
    ?assertEqual(1000, N + E).

queries_merge_classes() ->
    _ = lists:foldl(fun(S, Acc) -> sysport_ringlog_ring:insert(Acc, S, S rem 8, S, S, <<>>) end,
                    sysport_ringlog_ring:new(opts(1 bsl 20, 1000)), lists:seq(1, 40)),
    ?assertEqual([36, 37, 38, 39, 40], [S || {S, _, _, _, _} <- sysport_ringlog_ring:last(5, 7)]),
    ?assertEqual([10, 11, 12], [S || {S, _, _, _, _} <- sysport_ringlog_ring:from(10, 3, 7)]),
    ?assertEqual([34, 35, 36, 40], [S || {S, _, _, _, _} <- sysport_ringlog_ring:last(4, 4)]),
    ?assertEqual(lists:seq(1, 40), [S || {S, _, _, _, _} <- sysport_ringlog_ring:all(7)]).

packed_and_loose_read_alike() ->
    %% 100 records in one class: three segments and four loose rows.
    R = fill(sysport_ringlog_ring:new(opts(1 bsl 20, 1000)), 1, 100, 6),
    ?assertEqual(lists:seq(1, 100), [S || {S, _, _, _, _} <- sysport_ringlog_ring:all(7)]),
    ?assertEqual(lists:seq(61, 100), [S || {S, _, _, _, _} <- sysport_ringlog_ring:last(40, 7)]),
    ?assertEqual(lists:seq(30, 69), [S || {S, _, _, _, _} <- sysport_ringlog_ring:from(30, 40, 7)]),
    [{50, 6, 50, 50, <<"payload">>}] = sysport_ringlog_ring:from(50, 1, 7),
    %% Packed records cost their payload and a small header, not a row each.
    #{bytes := B} = sysport_ringlog_ring:stats(R),
    ?assert(B < 100 * (7 + 27) + 3 * 160 + 4 * 200).

shrinking_evicts_at_once() ->
    R = fill(sysport_ringlog_ring:new(opts(1 bsl 20, 1000)), 1, 500, 6),
    R1 = sysport_ringlog_ring:configure(R, opts(1 bsl 20, 100)),
    #{records := N} = sysport_ringlog_ring:stats(R1),
    ?assert(N =< 100 andalso N > 100 - 32),
    ?assertEqual(lists:seq(501 - N, 500), [S || {S, _, _, _, _} <- sysport_ringlog_ring:all(7)]).

%%% overload decisions

olp_opts() ->
    #{sync_mode_qlen => 10, drop_mode_qlen => 200, flush_qlen => 1000, burst_limit_enable => true,
      burst_limit_max_count => 3, burst_limit_window_time => 1000}.

olp_modes_test() ->
    O = sysport_ringlog_olp:new(olp_opts()),
    Refs = sysport_ringlog_olp:refs(O),
    {async, O1} = sysport_ringlog_olp:check(9, O),
    ?assertEqual(async, sysport_ringlog_olp:caller_mode(Refs)),
    {sync, O2} = sysport_ringlog_olp:check(10, O1),
    ?assertEqual(sync, sysport_ringlog_olp:caller_mode(Refs)),
    {drop, O3} = sysport_ringlog_olp:check(500, O2),
    ?assertEqual(drop, sysport_ringlog_olp:caller_mode(Refs)),
    %% Callers drop while the server flushes...
    {flush, O4} = sysport_ringlog_olp:check(1000, O3),
    ?assertEqual(drop, sysport_ringlog_olp:caller_mode(Refs)),
    ok = sysport_ringlog_olp:caller_dropped(Refs),
    ?assertMatch(#{overload := 1, total := 1}, sysport_ringlog_olp:counts(O4)),
    ?assertEqual(1, sysport_ringlog_olp:unreported(O4)),
    ?assertEqual(0, sysport_ringlog_olp:unreported(sysport_ringlog_olp:reported(O4))).

olp_burst_test() ->
    O = sysport_ringlog_olp:new(olp_opts()),
    Step = fun(L, T, {Acc, S}) -> {Ok, S1} = sysport_ringlog_olp:burst(L, T, S), {[Ok | Acc], S1} end,
    {Oks, O1} = lists:foldl(fun({L, T}, Acc) -> Step(L, T, Acc) end, {[], O},
                            [{6, 1}, {6, 2}, {6, 3}, {6, 4}, {3, 5}, {7, 6}, {6, 2000}]),
    %% Three per window; the fourth info is dropped, the error is not; a new
    %% window starts afresh.
    ?assertEqual([true, true, true, false, true, false, true], lists:reverse(Oks)),
    ?assertMatch(#{burst := 2}, sysport_ringlog_olp:counts(O1)).

olp_flush_test() ->
    O = sysport_ringlog_olp:new(olp_opts()),
    [self() ! {'$ringlog', 6, 0, 0, <<>>} || _ <- lists:seq(1, 5)],
    self() ! keep_me,
    {flush, O0} = sysport_ringlog_olp:check(1000, O),
    {5, O1} = sysport_ringlog_olp:flush_mailbox(O0),
    ?assertMatch(#{flushed := 5}, sysport_ringlog_olp:counts(O1)),
    %% ...and go back to async once the queue is short again.
    ?assertEqual(async, sysport_ringlog_olp:caller_mode(sysport_ringlog_olp:refs(O1))),
    ?assertEqual(keep_me, receive M -> M after 0 -> none end).

%%% text

%% Records fed Chunk at a time, as queries read them from the spool.
grep(Recs, M, Before, After, Chunk) ->
    G = lists:foldl(fun sysport_ringlog_text:grep_chunk/2, sysport_ringlog_text:grep_start(M, {Before, After}),
                    chunks(Recs, Chunk)),
    [X || #{msg := X} <- sysport_ringlog_text:grep_result(G)].

chunks([], _N) -> [];
chunks(L, N) when length(L) =< N -> [L];
chunks(L, N) -> {H, T} = lists:split(N, L), [H | chunks(T, N)].

grep_context_test() ->
    Recs = [#{msg => integer_to_binary(I)} || I <- lists:seq(1, 20)],
    {ok, M} = sysport_ringlog_text:matcher("5"),
    {ok, Re} = sysport_ringlog_text:matcher({re, "^1[0-2]$"}),
    {ok, Ones} = sysport_ringlog_text:matcher({re, "^1"}),
    [begin
         ?assertEqual([<<"4">>, <<"5">>, <<"6">>, <<"14">>, <<"15">>, <<"16">>], grep(Recs, M, 1, 1, Chunk)),
         ?assertEqual([<<"10">>, <<"11">>, <<"12">>, <<"13">>], grep(Recs, Re, 0, 1, Chunk)),
         %% Contexts that overlap matches and each other: each record once, in order.
         ?assertEqual([integer_to_binary(I) || I <- [1, 2, 3] ++ lists:seq(7, 20)], grep(Recs, Ones, 3, 2, Chunk)),
         ?assertEqual([], grep(Recs, M, 0, 0, Chunk) -- [<<"5">>, <<"15">>])
     end || Chunk <- [1, 2, 3, 7, 20]],
    ?assertEqual({error, empty_pattern}, sysport_ringlog_text:matcher("")),
    ?assertMatch({error, {bad_regex, _}}, sysport_ringlog_text:matcher({re, "("})),
    {ok, MP} = re:compile("x"),
    ?assertEqual({ok, {re, MP}}, sysport_ringlog_text:matcher(#{'__struct__' => 'Elixir.Regex', re_pattern => MP})).

lines_test() ->
    R = fun(Boot, Seq) -> #{seq => Seq, boot => Boot, time => 0, mono => 0, level => notice,
                            msg => <<"m">>, pid => undefined, mfa => undefined, domain => [],
                            application => undefined} end,
    {Lines, <<"b">>} = sysport_ringlog_text:lines([R(<<"a">>, 1), R(<<"a">>, 2), R(<<"b">>, 1)],
                                                  sysport_ringlog_text:default_formatter(), undefined),
    ?assertMatch([_, _, <<"---- boot b ----">>, _], binary:split(iolist_to_binary(Lines), <<"\n">>, [global, trim_all])),
    %% Lines written a chunk at a time mark the boot changing between chunks.
    {More, <<"c">>} = sysport_ringlog_text:lines([R(<<"c">>, 1)], sysport_ringlog_text:default_formatter(), <<"b">>),
    ?assertMatch([<<"---- boot c ----">>, _], binary:split(iolist_to_binary(More), <<"\n">>, [global, trim_all])),
    %% A formatter that fails gives a plain line.
    ?assertMatch([_], binary:split(iolist_to_binary(sysport_ringlog_text:format(R(<<"a">>, 1), {no_such_module, #{}})),
                                   <<"\n">>, [global, trim_all])).
