%% sysport_kmsg against the real /dev/kmsg of this host (records injected by
%% writing to it, with kernel.printk_devkmsg raised to `on' and restored),
%% against util-linux dmesg, and against kmsg files (util-linux -K format)
%% holding what userspace cannot inject. Under `make ct' the helper is the
%% ASan+UBSan build.
%%
%% Other test runs share this kernel log and may write to it at any moment:
%% injected records carry a unique marker, comparisons with dmesg align the
%% two snapshots, and expected counts are the seq gaps actually observed.
-module(sysport_kmsg_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).
-export([records_have_the_right_fields/1, agrees_with_util_linux/1, dmesg_options/1,
         subscriber_filters/1, logger_levels_and_metadata/1, logger_time_is_kernel_time/1,
         logger_burst_limit/1, kmsg_file_records/1, kmsg_file_malformed/1,
         kmsg_file_oversized_record/1, kmsg_file_seq_backwards/1, shell_dmesg/1,
         overrun_reports_exact_gap/1, kill9_delivers_every_seq_once/1,
         resumes_across_vm_restart/1, seq_file_of_another_boot_or_corrupt/1,
         absent_device_reported/1, bad_options/1, helper_valgrind_clean/1]).

-define(PEER, sysport_kmsg_peer).
-define(FILTER_ID, sysport_kmsg_suite_no_kernel).

all() ->
    [records_have_the_right_fields, agrees_with_util_linux, dmesg_options, subscriber_filters,
     logger_levels_and_metadata, logger_time_is_kernel_time, logger_burst_limit,
     kmsg_file_records, kmsg_file_malformed, kmsg_file_oversized_record, kmsg_file_seq_backwards,
     shell_dmesg, overrun_reports_exact_gap,
     kill9_delivers_every_seq_once, resumes_across_vm_restart,
     seq_file_of_another_boot_or_corrupt, absent_device_reported, bad_options,
     helper_valgrind_clean].

init_per_suite(Config) ->
    case file:open("/dev/kmsg", [read, write, raw]) of
        {ok, Fd} -> ok = file:close(Fd);
        {error, Reason} -> ct:fail("/dev/kmsg must be readable and writable: ~p", [Reason])
    end,
    Fixtures = filename:join([sysport_test_lib:project_root(), "test", "fixtures", "kmsg"]),
    %% The kernel records forwarded to logger stay out of the ct logs.
    Handlers = logger:get_handler_ids(),
    [ok = logger:add_handler_filter(H, ?FILTER_ID, {fun logger_filters:domain/2, {stop, equal, [kernel]}})
     || H <- Handlers],
    #{level := PrimaryLevel} = logger:get_primary_config(),
    ok = logger:set_primary_config(level, all),
    Devkmsg = ?PEER:devkmsg(),
    ok = ?PEER:set_devkmsg("on"),
    [{devkmsg, Devkmsg}, {primary_level, PrimaryLevel}, {handlers, Handlers},
     {fixtures, Fixtures} | Config].

end_per_suite(Config) ->
    ok = ?PEER:set_devkmsg(?config(devkmsg, Config)),
    ok = logger:set_primary_config(level, ?config(primary_level, Config)),
    [logger:remove_handler_filter(H, ?FILTER_ID) || H <- ?config(handlers, Config)],
    ok.

init_per_testcase(_Case, Config) ->
    process_flag(trap_exit, true),
    Config.

end_per_testcase(_Case, Config) ->
    sysport_test_lib:stop_capture_logs(),
    catch sysport_kmsg:stop(),
    %% A test that failed with its helper stopped must not leave it so.
    _ = ?PEER:devkmsg() =:= ?config(devkmsg, Config) orelse ?PEER:set_devkmsg("on"),
    ok.

%%% Helpers

%% The service on the real /dev/kmsg, with a seq file of the test's own.
start(Config) ->
    start(Config, #{}).

start(Config, Opts) ->
    SeqFile = filename:join(?config(priv_dir, Config), "kmsg.seq"),
    Defaults = #{seq_file => SeqFile, logger_burst_limit => infinity},
    {ok, Pid} = sysport_kmsg:start_link(maps:merge(Defaults, Opts)),
    Pid.

marker() ->
    iolist_to_binary(io_lib:format("sysport-kmsg-test-~b-~b",
                                   [os:system_time(millisecond), erlang:unique_integer([positive])])).

helper_pid() ->
    {ok, #{helper := #{os_pid := OsPid}}} = sysport_test_lib:flat_status(sysport_kmsg),
    OsPid.

status(Key) ->
    {ok, Status} = sysport_test_lib:flat_status(sysport_kmsg),
    maps:get(Key, Status).

%% Subscriber messages up to and including the record whose message
%% contains Marker: [Record | {missed, N}].
collect_until(Marker) ->
    collect_until(Marker, 20000, []).

collect_until(Marker, Timeout, Acc) ->
    receive
        {sysport_kmsg, missed, N} ->
            collect_until(Marker, Timeout, [{missed, N} | Acc]);
        {sysport_kmsg, record, #{message := Message} = Record} ->
            case binary:match(Message, Marker) of
                nomatch -> collect_until(Marker, Timeout, [Record | Acc]);
                _ -> lists:reverse([Record | Acc])
            end
    after Timeout ->
            ct:fail({marker_never_arrived, Marker, length(Acc)})
    end.

%% Subscribes and waits until the service has caught up with the kernel
%% log (a marker written now has come back), then drops what came before.
subscribe_caught_up() ->
    ok = sysport_kmsg:subscribe(),
    Sync = <<(marker())/binary, " sync">>,
    ?PEER:inject([<<"<14>", Sync/binary, "\n">>]),
    _ = collect_until(Sync),
    ok.

with_marker(Marker, Records) ->
    [R || #{message := M} = R <- Records, binary:match(M, Marker) =/= nomatch].

ok({mismatch, Why}) -> ct:fail({mismatch, Why});
ok(Aligned) -> Aligned.

flush_records() ->
    receive {sysport_kmsg, record, _} -> flush_records() after 0 -> ok end.

%% Records of every kind userspace can write: {Line, Facility, Level, Message}.
variety(M) ->
    Default = lists:nth(?PEER:default_level() + 1, levels()),
    %% The longest write /dev/kmsg takes is 1024 bytes.
    Long = binary:copy(<<"L">>, 1024 - byte_size(<<"<14>", M/binary, " long \n">>)),
    Escaped = binary:copy(<<1>>, 400),
    [{<<"<14>", M/binary, " semi;colon;in=the,message\n">>, user, info,
      <<M/binary, " semi;colon;in=the,message">>},
     {<<"<14>", M/binary, " escaped: \\ \x01 \x7f \t tab \xc3\xa9 \xff end\n">>, user, info,
      <<M/binary, " escaped: \\ \x01 \x7f \t tab \xc3\xa9 \xff end">>},
     {<<"<13>", M/binary, " multi\nline two\nline three\n">>, user, notice,
      <<M/binary, " multi\nline two\nline three">>},
     {<<"<14>", M/binary, " long ", Long/binary, "\n">>, user, info, <<M/binary, " long ", Long/binary>>},
     {<<"<14>", M/binary, " escaped long ", Escaped/binary, "\n">>, user, info,
      <<M/binary, " escaped long ", Escaped/binary>>},
     {<<M/binary, " without a priority\n">>, user, Default, <<M/binary, " without a priority">>},
     {<<"<2047>", M/binary, " facility 255\n">>, 255, debug, <<M/binary, " facility 255">>}] ++
        [{<<"<", (integer_to_binary(8 + L))/binary, ">", M/binary, " level ", (integer_to_binary(L))/binary, "\n">>,
          user, lists:nth(L + 1, levels()), <<M/binary, " level ", (integer_to_binary(L))/binary>>}
         || L <- lists:seq(0, 7)] ++
        [{<<"<", (integer_to_binary(F * 8 + 6))/binary, ">", M/binary, " facility ", (integer_to_binary(F))/binary, "\n">>,
          lists:nth(F + 1, facilities()), info, <<M/binary, " facility ", (integer_to_binary(F))/binary>>}
         || F <- lists:seq(1, 23)].

levels() -> [emergency, alert, critical, error, warning, notice, info, debug].

facilities() ->
    [kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp,
     res0, res1, res2, res3, local0, local1, local2, local3, local4, local5, local6, local7].

%%% Cases

records_have_the_right_fields(Config) ->
    start(Config),
    subscribe_caught_up(),
    M = marker(),
    Variety = variety(M),
    Before = os:system_time(microsecond),
    %% An empty message cannot carry a marker: it sits between two that do.
    ?PEER:inject([<<"<14>", M/binary, " before empty\n">>, <<"<14>\n">>, <<"<14>", M/binary, " after empty\n">>]
                 ++ [Line || {Line, _, _, _} <- Variety] ++ [<<"<14>", M/binary, " last\n">>]),
    Received = collect_until(<<M/binary, " last">>),
    ?assertEqual([], [X || {missed, _} = X <- Received]),
    Ours = with_marker(M, Received),
    [BeforeEmpty, AfterEmpty | Injected] = Ours,
    ?assertEqual(length(Variety) + 1, length(Injected)),
    lists:foreach(
      fun({{_, Facility, Level, Message}, Record}) ->
              ?assertMatch(#{facility := Facility, level := Level, message := Message, flags := <<"-">>},
                           Record, Message)
      end, lists:zip(Variety, lists:droplast(Injected))),
    ?assertEqual(1019, byte_size(maps:get(message, lists:nth(4, Injected)))),
    ?assert(byte_size(maps:get(message, lists:nth(5, Injected))) >= 400),
    %% The empty record between its neighbours (unless another writer
    %% slipped in between, the seq right after "before empty").
    [Empty] = [R || #{seq := S} = R <- Received, S > maps:get(seq, BeforeEmpty),
                    S < maps:get(seq, AfterEmpty), maps:get(message, R) =:= <<>>],
    ?assertMatch(#{facility := user, level := info}, Empty),
    %% Seqs increase, timestamps are the kernel's and do not go back.
    Seqs = [S || #{seq := S} <- Received],
    ?assertEqual(lists:seq(hd(Seqs), hd(Seqs) + length(Seqs) - 1), Seqs),
    Stamps = [T || #{ts_usec := T} <- Ours],
    ?assertEqual(lists:sort(Stamps), Stamps),
    ?assert(hd(Stamps) > 0),
    %% dmesg() returns the very same records.
    {ok, All} = sysport_kmsg:dmesg(),
    ?assertEqual(Ours, with_marker(M, All)),
    ct:pal("~b records injected and read back (~b us)", [length(Ours), os:system_time(microsecond) - Before]).

agrees_with_util_linux(Config) ->
    start(Config, #{logger => false}),
    M = marker(),
    ?PEER:inject([Line || {Line, _, _, _} <- variety(M)] ++ [<<"<14>\n">>]),
    timer:sleep(50),
    %% Ours first, then util-linux's: theirs can only have lost the oldest
    %% records to the ring and gained new ones at the end.
    {ok, Ours} = sysport_kmsg:dmesg(),
    Json = ?PEER:util_json(),
    Raw = ?PEER:util_raw(),
    Plain = ?PEER:util_plain(),
    ?assert(length(with_marker(M, Ours)) >= length(variety(M))),

    %% --json leaves out records with an empty message, and the facility and
    %% level when it has no name for the facility (util-linux 2.38 names
    %% only 0..11: kern..ftp); --raw below checks those by number.
    NonEmpty = [R || #{message := Msg} = R <- Ours, Msg =/= <<>>],
    Named = lists:sublist(facilities(), 12),
    Unnamed = fun(F) -> not lists:member(F, Named) end,
    SameJson = fun(#{ts_usec := T, message := Msg, facility := F},
                   #{time_usec := T, msg := Msg, pri := undefined, fac := undefined}) ->
                       Unnamed(F);
                  (#{ts_usec := T, message := Msg, level := L, facility := F},
                   #{time_usec := T, msg := Msg, pri := P, fac := Fac}) ->
                       not is_integer(F) andalso ?PEER:util_level(P) =:= L andalso
                           Fac =:= atom_to_binary(F);
                  (_, _) -> false
               end,
    {SkippedJ, ComparedJ} = ok(?PEER:align(NonEmpty, Json, SameJson)),
    ?assertEqual(length(NonEmpty), SkippedJ + ComparedJ),
    ?assert(ComparedJ >= length(with_marker(M, NonEmpty))),

    %% --raw: every record, empty ones as empty lines. util-linux 2.38 knows
    %% 12 facilities (-1 for the others) and prints PRI as facility | level;
    %% syslog's PRI, facility << 3 | level, is what a fixed one prints.
    PriFuns = [fun(F, _L) when F > 12 -> -1; (F, L) -> F bor L end,
               fun(F, L) when F > 23 -> (-1 bsl 3) bor L; (F, L) -> (F bsl 3) bor L end],
    RawAligned = [?PEER:align_text([?PEER:render_raw(R, Pri) || R <- Ours], Raw) || Pri <- PriFuns],
    {SkippedR, ComparedR} = case [A || {Skipped, _} = A <- RawAligned, is_integer(Skipped)] of
                                [Aligned | _] -> Aligned;
                                [] -> ct:fail({raw_mismatch, RawAligned})
                            end,
    ?assertEqual(length(Ours), SkippedR + ComparedR),
    ?assert(ComparedR >= length(with_marker(M, Ours)) + 1),

    %% Plain dmesg in a UTF-8 locale: sysport's shell format, byte for byte.
    {SkippedP, ComparedP} = ok(?PEER:align_text([?PEER:render_plain(R) || R <- Ours], Plain)),
    ?assertEqual(length(Ours), SkippedP + ComparedP),
    ct:pal("compared with dmesg --json: ~b records, --raw: ~b, plain: ~b (skipped ~b/~b/~b)",
           [ComparedJ, ComparedR, ComparedP, SkippedJ, SkippedR, SkippedP]).

dmesg_options(Config) ->
    start(Config, #{logger => false}),
    M = marker(),
    ?PEER:inject([<<"<12>", M/binary, " user warning\n">>, <<"<14>", M/binary, " user info\n">>,
                  <<"<155>", M/binary, " local3 err\n">>, <<"<158>", M/binary, " local3 info\n">>,
                  <<"<2046>", M/binary, " facility 255 info\n">>]),
    timer:sleep(50),
    Names = fun(Opts) ->
                    {ok, Records} = sysport_kmsg:dmesg(Opts),
                    [binary:part(Msg, byte_size(M) + 1, byte_size(Msg) - byte_size(M) - 1)
                     || #{message := Msg} <- with_marker(M, Records)]
            end,
    ?assertEqual([<<"user warning">>, <<"user info">>, <<"local3 err">>, <<"local3 info">>,
                  <<"facility 255 info">>], Names(#{})),
    ?assertEqual([<<"user warning">>, <<"local3 err">>], Names(#{level => warning})),
    ?assertEqual([<<"local3 err">>], Names(#{level => error})),
    ?assertEqual([<<"local3 err">>, <<"local3 info">>], Names(#{facility => local3})),
    ?assertEqual([<<"local3 err">>, <<"local3 info">>], Names(#{facility => 19})),
    ?assertEqual([<<"user warning">>, <<"user info">>, <<"facility 255 info">>],
                 Names(#{facility => [user, 255]})),
    ?assertEqual([<<"local3 err">>], Names(#{facility => [local3], level => error})),
    {ok, Mine} = sysport_kmsg:dmesg(),
    [_, #{seq := Second} | _] = with_marker(M, Mine),
    {ok, [#{seq := Second} | _]} = sysport_kmsg:dmesg(#{since_seq => Second}),
    ?assertEqual({ok, []}, sysport_kmsg:dmesg(#{since_seq => 1 bsl 62})),
    %% Wrong options are refused before anything is read.
    ?assertEqual({error, {bad_value, level, loud}}, sysport_kmsg:dmesg(#{level => loud})),
    ?assertEqual({error, {bad_value, facility, nope}}, sysport_kmsg:dmesg(#{facility => nope})),
    ?assertEqual({error, {bad_value, facility, 256}}, sysport_kmsg:dmesg(#{facility => 256})),
    ?assertEqual({error, {bad_value, since_seq, -1}}, sysport_kmsg:dmesg(#{since_seq => -1})),
    ?assertEqual({error, {bad_value, timeout, soon}}, sysport_kmsg:dmesg(#{timeout => soon})),
    ?assertEqual({error, {bad_option, colour}}, sysport_kmsg:dmesg(#{colour => true})),
    sysport_kmsg:stop(),
    ?assertEqual({error, not_running}, sysport_kmsg:dmesg()),
    ?assertEqual({error, not_running}, sysport_test_lib:flat_status(sysport_kmsg)).

subscriber_filters(Config) ->
    start(Config, #{logger => false}),
    Self = self(),
    M = marker(),
    Filtered = spawn_link(fun() ->
                                  ok = sysport_kmsg:subscribe(#{level => warning, facility => [user, local0]}),
                                  Self ! subscribed,
                                  Self ! {filtered, collect_until(<<M/binary, " end">>)}
                          end),
    receive subscribed -> ok end,
    subscribe_caught_up(),
    ?assertEqual(2, status(subscribers)),
    ?PEER:inject([<<"<12>", M/binary, " user warning\n">>, <<"<14>", M/binary, " user info\n">>,
                  <<"<131>", M/binary, " local0 err\n">>, <<"<155>", M/binary, " local3 err\n">>,
                  <<"<9>", M/binary, " end\n">>]),
    All = with_marker(M, collect_until(<<M/binary, " end">>)),
    ?assertEqual(5, length(All)),
    receive
        {filtered, Got} ->
            ?assertEqual([<<" user warning">>, <<" local0 err">>, <<" end">>],
                         [binary:part(Msg, byte_size(M), byte_size(Msg) - byte_size(M))
                          || #{message := Msg} <- with_marker(M, Got)])
    after 10000 -> ct:fail(filtered_subscriber_got_nothing)
    end,
    %% A subscriber that exits is dropped; one that unsubscribes gets no more.
    unlink(Filtered),
    ok = sysport_test_lib:wait_until(fun() -> status(subscribers) =:= 1 end, 2000),
    ok = sysport_kmsg:unsubscribe(),
    ?assertEqual(0, status(subscribers)),
    flush_records(),
    ?PEER:inject([<<"<14>", M/binary, " unheard\n">>]),
    receive {sysport_kmsg, record, _} = Stray -> ct:fail({after_unsubscribe, Stray}) after 300 -> ok end.

logger_levels_and_metadata(Config) ->
    sysport_test_lib:capture_logs(),
    start(Config, #{logger_level => notice}),
    subscribe_caught_up(),
    M = marker(),
    T0 = os:system_time(microsecond),
    ?PEER:inject([<<"<", (integer_to_binary(8 + L))/binary, ">", M/binary, " level ",
                   (integer_to_binary(L))/binary, "\n">> || L <- lists:seq(0, 7)] ++
                     [<<"<13>", M/binary, " done\n">>]),
    Records = with_marker(M, collect_until(<<M/binary, " done">>)),
    Logged = [Log || {_, Text, #{domain := [kernel]}} = Log <- logs_until(<<M/binary, " done">>),
                     binary:match(Text, M) =/= nomatch],
    T1 = os:system_time(microsecond),
    %% Kernel levels 0..5 arrive at the matching logger level; info and
    %% debug are below the configured notice.
    ?assertEqual(lists:sublist(levels(), 6) ++ [notice], [L || {L, _, _} <- Logged]),
    lists:foreach(
      fun({_Level, Text, Meta}) ->
              [#{seq := Seq, ts_usec := Ts}] = [R || #{message := Msg} = R <- Records, Msg =:= Text],
              ?assertMatch(#{domain := [kernel], kmsg_seq := Seq, kmsg_facility := user,
                             kmsg_ts_usec := Ts, time := _}, Meta),
              ?assert(maps:get(time, Meta) >= T0 - 50000 andalso maps:get(time, Meta) =< T1 + 50000)
      end, Logged).

%% The captured log events up to and including the first whose text
%% contains Pattern: [{Level, Text, Meta}].
logs_until(Pattern) ->
    logs_until(Pattern, []).

logs_until(Pattern, Acc) ->
    receive
        {captured_log, Level, Text, Meta} ->
            Acc1 = [{Level, Text, Meta} | Acc],
            case binary:match(Text, iolist_to_binary(Pattern)) of
                nomatch -> logs_until(Pattern, Acc1);
                _ -> lists:reverse(Acc1)
            end
    after 10000 ->
            ct:fail({not_logged, Pattern, length(Acc)})
    end.

logger_time_is_kernel_time(Config) ->
    sysport_test_lib:capture_logs(),
    start(Config),
    subscribe_caught_up(),
    M = marker(),
    %% The helper cannot read while stopped: the record is read 1.5 s
    %% after the kernel logged it.
    Helper = helper_pid(),
    os:cmd("kill -STOP " ++ integer_to_list(Helper)),
    T0 = os:system_time(microsecond),
    ?PEER:inject([<<"<13>", M/binary, " stamped\n">>]),
    T1 = os:system_time(microsecond),
    timer:sleep(1500),
    os:cmd("kill -CONT " ++ integer_to_list(Helper)),
    {ok, notice, _, #{time := Time}} = sysport_test_lib:wait_log(M, 10000),
    ct:pal("written between ~b and ~b, logger time ~b (~.3f ms after the write began)",
           [T0, T1, Time, (Time - T0) / 1000]),
    %% The printk clock and CLOCK_MONOTONIC differ by a few ms at most.
    ?assert(Time >= T0 - 50000),
    ?assert(Time =< T1 + 50000).

logger_burst_limit(Config) ->
    sysport_test_lib:capture_logs(),
    start(Config, #{logger_burst_limit => 20, logger_burst_window_ms => 2000}),
    subscribe_caught_up(),
    %% The backlog at start was exempt; the sync marker and anything after
    %% counts. Start from a fresh window.
    timer:sleep(2100),
    _ = sysport_test_lib:logs(),
    M = marker(),
    Before = status(not_forwarded),
    ?PEER:inject([<<"<14>", M/binary, " flood ", (integer_to_binary(I))/binary, "\n">> || I <- lists:seq(1, 100)]),
    %% Subscribers get everything...
    ?assertEqual(100, length(with_marker(M, collect_until(<<M/binary, " flood 100">>)))),
    %% ...logger the first 20 of the window, then one warning with the count.
    Logs = logs_until(<<"not forwarded to logger">>),
    {warning, Warning, _} = lists:last(Logs),
    Kernel = [T || {_, T, #{domain := [kernel]}} <- Logs],
    Forwarded = [T || T <- Kernel, binary:match(T, M) =/= nomatch],
    ct:pal("~ts; ~b kernel events logged, ~b of them ours", [Warning, length(Kernel), length(Forwarded)]),
    ?assert(length(Kernel) =< 20),
    ?assert(length(Forwarded) =< 20 andalso length(Forwarded) >= 15),
    Dropped = status(not_forwarded) - Before,
    ?assert(Dropped >= 100 - length(Forwarded)),
    {match, [Count]} = re:run(Warning, "^kmsg: ([0-9]+) ", [{capture, all_but_first, binary}]),
    ?assertEqual(Dropped, binary_to_integer(Count)).

kmsg_file_records(Config) ->
    sysport_test_lib:capture_logs(),
    start(Config, #{device => filename:join(?config(fixtures, Config), "kernel.kmsg"),
                    seq_file => none}),
    {ok, Records} = sysport_kmsg:dmesg(),
    ?assertEqual(lists:seq(193, 207), [S || #{seq := S} <- Records]),
    [Acpi, Usb, Fragment, Escaped, Net, Empty | _] = Records,
    ?assertEqual(#{seq => 193, facility => kern, level => info, ts_usec => 299242, flags => <<"-">>,
                   message => <<"acpi PNP0A08:00: _OSC: OS supports [ExtendedConfig ASPM ClockPM "
                                "Segments MSI HPX-Type3]">>,
                   subsystem => <<"acpi">>, device => <<"+acpi:PNP0A08:00">>}, Acpi),
    ?assertMatch(#{level := warning, caller := <<"T123">>, subsystem := <<"usb">>,
                   device := <<"c189:1">>,
                   message := <<"usb 1-1: new high-speed USB device; number 2">>}, Usb),
    ?assertMatch(#{flags := <<"c">>, caller := <<"C1">>}, Fragment),
    ?assertEqual(<<"escaped: backslash \\ newline \n control \x01 del \x7f utf8 \xc3\xa9 byte \xff end">>,
                 maps:get(message, Escaped)),
    ?assertMatch(#{subsystem := <<"net">>, device := <<"n2">>}, Net),
    ?assertMatch(#{message := <<>>, facility := user}, Empty),
    ?assertEqual([{kern, emergency}, {user, alert}, {mail, critical}, {daemon, error}, {auth, warning},
                  {syslog, notice}, {local7, info}, {local7, debug}],
                 [{F, L} || #{facility := F, level := L} <- lists:sublist(Records, 7, 8)]),
    ?assertMatch(#{ts_usec := 1234567890123, message := <<"semi;colons;in;the;message">>},
                 lists:last(Records)),
    %% Followed into logger with the dictionary in the metadata.
    {ok, info, _, Meta} = sysport_test_lib:wait_log("acpi PNP0A08:00", 5000),
    ?assertMatch(#{domain := [kernel], kmsg_seq := 193, kmsg_facility := kern,
                   subsystem := <<"acpi">>, device := <<"+acpi:PNP0A08:00">>}, Meta),
    ok = sysport_test_lib:wait_until(fun() -> status(last_seq) =:= 207 end, 5000),
    ?assertMatch(#{delivered := 15, missed := 0, rejected := 0, available := true}, element(2, sysport_test_lib:flat_status(sysport_kmsg))),
    %% The other fixture: what the kernel may add one day.
    sysport_kmsg:stop(),
    start(Config, #{device => filename:join(?config(fixtures, Config), "extensions.kmsg"),
                    seq_file => none, logger => false}),
    {ok, Ext} = sysport_kmsg:dmesg(),
    ?assertEqual(9, length(Ext)),
    [Unknown, NoFlags, Dict, Fac255, Backslashes | _] = Ext,
    ?assertMatch(#{caller := <<"T7">>, message := <<"unknown header fields are ignored">>}, Unknown),
    ?assertMatch(#{flags := <<>>}, NoFlags),
    ?assertMatch(#{subsystem := <<"pci">>, device := <<"+pci:0000:00:02.0">>}, Dict),
    ?assertMatch(#{facility := 255, level := debug}, Fac255),
    ?assertMatch(#{message := <<"lone \\ and truncated \\x4 escapes\\x">>}, Backslashes),
    ?assertEqual(7000 + byte_size(<<>>), byte_size(maps:get(message, lists:nth(8, Ext)))).

kmsg_file_malformed(Config) ->
    sysport_test_lib:capture_logs(),
    start(Config, #{device => filename:join(?config(fixtures, Config), "malformed.kmsg"),
                    seq_file => none}),
    ok = sysport_test_lib:wait_until(fun() -> status(rejected) =:= 11 end, 5000),
    {ok, Status} = sysport_test_lib:flat_status(sysport_kmsg),
    %% Rejected and counted, the valid records around them delivered, the
    %% helper still the first one.
    ?assertMatch(#{rejected := 11, delivered := 2, last_seq := 9,
                   helper := #{restarts := 0, state := up}}, Status),
    %% The seqs missing between the valid records are reported as missed
    %% (not those before the first: there was nothing to resume from).
    ?assertEqual(7, maps:get(missed, Status)),
    Rejections = [T || {warning, T, _} <- sysport_test_lib:logs(),
                       binary:match(T, <<"rejected a record">>) =/= nomatch],
    ?assertEqual(11, length(Rejections)),
    [?assert(lists:any(fun(T) -> binary:match(T, atom_to_binary(Why)) =/= nomatch end, Rejections))
     || Why <- [no_terminator, bad_priority, bad_seq, bad_timestamp, missing_fields]],
    {ok, Valid} = sysport_kmsg:dmesg(),
    ?assertEqual([<<"valid before">>, <<"valid after">>], [Msg || #{message := Msg} <- Valid]).

%% A record longer than the kernel ever writes (8 KiB) in a kmsg file: it
%% used to overflow the helper's decode buffer (ASan: a global buffer
%% overflow, then a SIGSEGV restart loop). It is rejected as too_long and
%% counted; the records around it are delivered by the first helper.
kmsg_file_oversized_record(Config) ->
    sysport_test_lib:capture_logs(),
    File = filename:join(?config(priv_dir, Config), "oversized.kmsg"),
    Long = binary:copy(<<"0123456789abcdef">>, 1500),
    ok = file:write_file(File, [<<"6,1,100,-;before\n">>, 0,
                                <<"6,2,200,-;">>, Long, <<"\n SUBSYSTEM=">>, Long, <<"\n">>, 0,
                                <<"6,3,300,-;after\n">>, 0]),
    start(Config, #{device => File, seq_file => none}),
    ok = sysport_test_lib:wait_until(fun() -> status(last_seq) =:= 3 end, 5000),
    {ok, Status} = sysport_test_lib:flat_status(sysport_kmsg),
    ?assertMatch(#{rejected := 1, delivered := 2, missed := 1,
                   helper := #{restarts := 0, state := up}}, Status),
    {ok, warning, Text, _} = sysport_test_lib:wait_log("rejected a record", 5000),
    ?assertNotEqual(nomatch, binary:match(Text, <<"too_long">>)),
    {ok, Valid} = sysport_kmsg:dmesg(),
    ?assertEqual([<<"before">>, <<"after">>], [Msg || #{message := Msg} <- Valid]),
    ?assertMatch(#{state := up, restarts := 0}, status(helper)).

%% Seqs that go back in a kmsg file (records repeated, or out of order):
%% each seq is delivered at most once, in increasing order; the others are
%% counted as out_of_order, and `missed' counts only forward gaps, also
%% after a seq near 2^64. A new helper (after a kill) delivers nothing again.
kmsg_file_seq_backwards(Config) ->
    sysport_test_lib:capture_logs(),
    File = filename:join(?config(priv_dir, Config), "backwards.kmsg"),
    Seqs = [10, 11, 12, 5, 6, 13, 12, 15, 14, 16, 18446744073709551615, 17, 3],
    ok = file:write_file(File, [[<<"6,">>, integer_to_binary(S), <<",1000,-;m">>, integer_to_binary(S),
                                 <<"\n">>, 0] || S <- Seqs]),
    start(Config, #{device => File, seq_file => none, logger => false, subscribers => [self()]}),
    Received = receive_records(18446744073709551615),
    ?assertEqual([10, 11, 12, 13, {missed, 1}, 15, 16, {missed, 18446744073709551615 - 17}, 18446744073709551615],
                 [case R of #{seq := S} -> S; Missed -> Missed end || R <- Received]),
    ok = sysport_test_lib:wait_until(fun() -> status(out_of_order) =:= 6 end, 5000),
    ?assertMatch(#{delivered := 7, last_seq := 18446744073709551615},
                 element(2, sysport_test_lib:flat_status(sysport_kmsg))),
    {ok, warning, _, _} = sysport_test_lib:wait_log("out of order", 5000),
    %% A new helper resumes after the last seq delivered, even one this large.
    sysport_test_lib:kill9(helper_pid()),
    ok = sysport_test_lib:wait_until(fun() -> maps:get(restarts, status(helper)) =:= 1 andalso
                                                  maps:get(state, status(helper)) =:= up end, 10000),
    receive {sysport_kmsg, _, _} = Again -> ct:fail({delivered_again, Again})
    after 1000 -> ok
    end,
    ?assertEqual(7, status(delivered)).

receive_records(Last) ->
    receive
        {sysport_kmsg, record, #{seq := Last} = R} -> [R];
        {sysport_kmsg, record, R} -> [R | receive_records(Last)];
        {sysport_kmsg, missed, N} -> [{missed, N} | receive_records(Last)]
    after 10000 -> ct:fail(no_records)
    end.

shell_dmesg(Config) ->
    start(Config, #{device => filename:join(?config(fixtures, Config), "kernel.kmsg"),
                    seq_file => none, logger => false}),
    Plain = capture_io(fun() -> sysport:dmesg(#{color => false}) end),
    Lines = binary:split(Plain, <<"\n">>, [global]),
    ?assertEqual(<<"[    0.299242] acpi PNP0A08:00: _OSC: OS supports [ExtendedConfig ASPM ClockPM "
                   "Segments MSI HPX-Type3]">>, hd(Lines)),
    %% Control bytes and bytes that are not UTF-8 escaped, a new line
    %% indented under the message, an empty message an empty line.
    ?assert(lists:member(<<"[    0.300002] escaped: backslash \\ newline ">>, Lines)),
    ?assert(lists:member(<<(binary:copy(<<" ">>, 16))/binary, "control \\x01 del \\x7f utf8 \xc3\xa9 byte \\xff end">>,
                         Lines)),
    ?assert(lists:member(<<>>, lists:droplast(Lines))),
    ?assert(lists:member(<<"[1234567.890123] semi;colons;in;the;message">>, Lines)),
    %% Coloured: the timestamp green, a warning bold, an emergency reversed.
    Color = capture_io(fun() -> sysport:dmesg(#{color => true, level => warning}) end),
    ?assertNotEqual(nomatch, binary:match(Color, <<"\e[32m[    0.300000] \e[0m\e[1musb 1-1">>)),
    ?assertNotEqual(nomatch, binary:match(Color, <<"\e[7m\e[31mlevel 0 kern\e[0m">>)),
    ?assertEqual(nomatch, binary:match(Color, <<"acpi">>)),
    %% In a non-terminal `auto' means no colour.
    ?assertEqual(Plain, capture_io(fun() -> sysport:dmesg() end)).

%% Runs Fun with a group leader that collects what it prints (as UTF-8).
capture_io(Fun) ->
    Self = self(),
    Collector = spawn_link(fun() -> io_collector(Self, []) end),
    Old = group_leader(),
    group_leader(Collector, self()),
    try ok = Fun()
    after group_leader(Old, self())
    end,
    Collector ! {done, Self},
    receive {collected, Collector, Bin} -> Bin after 5000 -> ct:fail(no_output) end.

io_collector(Owner, Acc) ->
    receive
        {io_request, From, ReplyAs, {put_chars, Encoding, Chars}} ->
            From ! {io_reply, ReplyAs, ok},
            io_collector(Owner, [unicode:characters_to_binary(Chars, Encoding, unicode) | Acc]);
        {io_request, From, ReplyAs, {put_chars, Encoding, M, F, A}} ->
            From ! {io_reply, ReplyAs, ok},
            io_collector(Owner, [unicode:characters_to_binary(apply(M, F, A), Encoding, unicode) | Acc]);
        {io_request, From, ReplyAs, getopts} ->
            From ! {io_reply, ReplyAs, [{encoding, unicode}]},
            io_collector(Owner, Acc);
        {io_request, From, ReplyAs, _} ->
            From ! {io_reply, ReplyAs, {error, enotsup}},
            io_collector(Owner, Acc);
        {done, Owner} ->
            Owner ! {collected, self(), iolist_to_binary(lists:reverse(Acc))}
    end.

overrun_reports_exact_gap(Config) ->
    sysport_test_lib:capture_logs(),
    start(Config, #{logger => false}),
    subscribe_caught_up(),
    M = marker(),
    ?PEER:inject([<<"<14>", M/binary, " before\n">>]),
    #{seq := BeforeSeq} = lists:last(collect_until(<<M/binary, " before">>)),
    MissedBefore = status(missed),
    %% More records than the ring can hold (one per 32 bytes of it at most)
    %% while the helper cannot read.
    {ok, #{buffer_size := RingBytes}} = sysport_test_lib:flat_status(sysport_kmsg),
    Flood = 2 * (RingBytes div 32) + 100,
    Helper = helper_pid(),
    os:cmd("kill -STOP " ++ integer_to_list(Helper)),
    ?PEER:inject([<<"<14>", M/binary, " flood ", (integer_to_binary(I))/binary, "\n">>
                  || I <- lists:seq(1, Flood)]),
    Oldest = ?PEER:oldest_seq(),
    ?assert(Oldest > BeforeSeq + 1),
    os:cmd("kill -CONT " ++ integer_to_list(Helper)),
    Last = <<M/binary, " flood ", (integer_to_binary(Flood))/binary>>,
    Received = collect_until(Last),
    %% Exactly one gap report, and N is the seq gap: from the last record
    %% delivered before (ours, or another writer's read before the stop)
    %% to the first after.
    {Pre, [{missed, N} | Post]} = lists:splitwith(fun(X) -> not is_tuple(X) end, Received),
    ?assertEqual([], [X || {missed, _} = X <- Post]),
    LastBefore = lists:max([BeforeSeq | [S || #{seq := S} <- Pre]]),
    [#{seq := FirstAfter} | _] = Post,
    ?assertEqual(FirstAfter - LastBefore - 1, N),
    ?assert(FirstAfter >= Oldest),
    ?assertEqual(MissedBefore + N, status(missed)),
    %% Then every record from there on, in order, none twice.
    Seqs = [S || #{seq := S} <- Post],
    ?assertEqual(lists:seq(FirstAfter, FirstAfter + length(Seqs) - 1), Seqs),
    ?assertEqual(Last, maps:get(message, lists:last(Received))),
    {ok, warning, _, #{kmsg_missed := N}} = sysport_test_lib:wait_log("were overwritten", 5000),
    %% And normal delivery after it.
    ?PEER:inject([<<"<14>", M/binary, " after\n">>]),
    [#{seq := AfterSeq} | _] = lists:reverse(collect_until(<<M/binary, " after">>)),
    ?assert(AfterSeq > lists:last(Seqs)),
    ct:pal("ring of ~b bytes; ~b written while stopped; missed ~b (seq ~b..~b)",
           [RingBytes, Flood, N, LastBefore + 1, FirstAfter - 1]).

kill9_delivers_every_seq_once(Config) ->
    sysport_test_lib:capture_logs(),
    start(Config),
    subscribe_caught_up(),
    M = marker(),
    Total = 1500,
    Self = self(),
    %% About one record a millisecond, killing the helper twice on the way.
    Writer = spawn_link(fun() ->
                                [begin
                                     ?PEER:inject([<<"<13>", M/binary, " n=", (integer_to_binary(I))/binary, ";\n">>]),
                                     I rem 500 =:= 0 andalso (Self ! {written, I}),
                                     timer:sleep(1)
                                 end || I <- lists:seq(1, Total)],
                                Self ! writer_done
                        end),
    Kill = fun() -> sysport_test_lib:kill9(helper_pid()) end,
    receive {written, 500} -> Kill() end,
    receive {written, 1000} -> Kill() end,
    receive writer_done -> ok after 60000 -> ct:fail(writer_stuck) end,
    unlink(Writer),
    Received = collect_until(<<M/binary, " n=", (integer_to_binary(Total))/binary, ";">>),
    ?assertEqual([], [X || {missed, _} = X <- Received]),
    Seqs = [S || #{seq := S} <- Received],
    ?assertEqual(lists:seq(hd(Seqs), hd(Seqs) + length(Seqs) - 1), Seqs),
    Numbers = [N || #{message := Msg} <- with_marker(M, Received),
                    {match, [N]} <- [re:run(Msg, " n=([0-9]+);", [{capture, all_but_first, binary}])]],
    ?assertEqual([integer_to_binary(I) || I <- lists:seq(1, Total)], Numbers),
    ?assertMatch(#{restarts := 2, last_exit := {signal, sigkill}}, status(helper)),
    %% Into logger exactly once each as well.
    timer:sleep(200),
    Logged = [T || {notice, T, #{domain := [kernel]}} <- sysport_test_lib:logs(),
                   binary:match(T, M) =/= nomatch],
    ?assertEqual(Total, length(Logged)),
    ?assertEqual(Total, length(lists:usort(Logged))).

resumes_across_vm_restart(Config) ->
    SeqFile = filename:join(?config(priv_dir, Config), "resume.seq"),
    _ = file:delete(SeqFile),
    sysport_test_lib:capture_logs(),
    start(Config, #{seq_file => SeqFile}),
    ?assertEqual(fresh, status(resume)),
    M = marker(),
    ?PEER:inject([<<"<13>", M/binary, " before the restart\n">>]),
    {ok, notice, _, #{kmsg_seq := SeqA}} = sysport_test_lib:wait_log(<<M/binary, " before">>, 10000),
    sysport_kmsg:stop(),
    {ok, BootId} = sysport_kmsg_resume:boot_id(),
    {ok, Saved} = file:read_file(SeqFile),
    [BootId, SavedText] = binary:split(string:trim(Saved), <<" ">>),
    SavedSeq = binary_to_integer(string:trim(SavedText)),
    ?assert(SavedSeq >= SeqA),
    ?PEER:inject([<<"<13>", M/binary, " while stopped\n">>]),
    _ = sysport_test_lib:logs(),
    %% A new VM: nothing before the saved seq is logged again.
    start(Config, #{seq_file => SeqFile}),
    {ok, notice, _, #{kmsg_seq := SeqB}} = sysport_test_lib:wait_log(<<M/binary, " while stopped">>, 10000),
    ?assert(SeqB > SavedSeq),
    {ok, Status} = sysport_test_lib:flat_status(sysport_kmsg),
    ?assertMatch(#{resume := resumed, resumed_after_seq := SavedSeq}, Status),
    timer:sleep(200),
    Again = [S || {_, _, #{domain := [kernel], kmsg_seq := S}} <- sysport_test_lib:logs()],
    ?assertEqual([], [S || S <- Again, S =< SavedSeq]),
    %% Only what came after the saved seq was delivered.
    ?assertEqual(maps:get(last_seq, Status) - SavedSeq, maps:get(delivered, Status)).

seq_file_of_another_boot_or_corrupt(Config) ->
    SeqFile = filename:join(?config(priv_dir, Config), "other.seq"),
    Oldest = ?PEER:oldest_seq(),
    lists:foreach(
      fun({Content, Why}) ->
              ok = file:write_file(SeqFile, Content),
              sysport_test_lib:capture_logs(),
              start(Config, #{seq_file => SeqFile}),
              ?assertEqual(Why, status(resume)),
              %% Not trusted: the whole buffer is read, from the oldest record.
              {ok, notice, _, _} = sysport_test_lib:wait_log("not resuming", 5000),
              ok = sysport_test_lib:wait_until(fun() -> status(delivered) > 100 end, 5000),
              {ok, #{missed := 0, delivered := Delivered, last_seq := LastSeq}} = sysport_test_lib:flat_status(sysport_kmsg),
              ?assert(LastSeq - Delivered + 1 =< Oldest + 10),
              sysport_kmsg:stop(),
              %% And the file now holds this boot's line.
              {ok, BootId} = sysport_kmsg_resume:boot_id(),
              {ok, Now} = file:read_file(SeqFile),
              ?assertMatch([BootId, _], binary:split(string:trim(Now), <<" ">>))
      end,
      [{<<"00000000-0000-0000-0000-000000000000                99999999\n">>, other_boot},
       {<<"garbage\nmore garbage that is longer than any line sysport writes to it\n">>, corrupt},
       {binary:copy(<<0>>, 200), corrupt}]).

absent_device_reported(Config) ->
    sysport_test_lib:capture_logs(),
    start(Config, #{device => "/nonexistent/kmsg", seq_file => none}),
    {ok, warning, _, _} = sysport_test_lib:wait_log("is not readable", 5000),
    ?assertMatch(#{available := false, error := enoent}, element(2, sysport_test_lib:flat_status(sysport_kmsg))),
    ?assertEqual({error, enoent}, sysport_kmsg:dmesg()),
    timer:sleep(500),
    ?assertMatch(#{state := up, restarts := 0}, status(helper)).

bad_options(_Config) ->
    Bad = fun(Opts) -> {error, {invalid_option, kmsg, Opts}} end,
    ?assertEqual(Bad(#{bogus => 1}), sysport_kmsg:start_link(#{bogus => 1})),
    ?assertEqual(Bad(#{logger_level => loud}), sysport_kmsg:start_link([{logger_level, loud}])),
    ?assertEqual(Bad(#{logger_burst_limit => 0}), sysport_kmsg:start_link(#{logger_burst_limit => 0})),
    ?assertEqual(Bad(#{seq_file => ""}), sysport_kmsg:start_link(#{seq_file => ""})),
    ?assertEqual(Bad(#{device => [dev]}), sysport_kmsg:start_link(#{device => [dev]})),
    ?assertEqual(Bad(#{device => 42}), sysport_kmsg:start_link(#{device => 42})),
    ?assertEqual(Bad(#{logger => yes}), sysport_kmsg:start_link(#{logger => yes})),
    ?assertEqual(undefined, whereis(sysport_kmsg)),
    ?assertEqual({error, {bad_option, colour}}, sysport_kmsg:subscribe(#{colour => red})),
    ?assertEqual({error, {bad_value, level, 3}}, sysport_kmsg:subscribe(#{level => 3})).

%% The release build of the helper under valgrind, on the real log and on
%% the fixtures: any error or definite leak makes it exit 99.
helper_valgrind_clean(Config) ->
    case os:find_executable("valgrind") of
        false -> ct:fail("valgrind not installed");
        _ -> ok
    end,
    Helper = filename:join([sysport_test_lib:project_root(), "priv", "sysport_kmsg"]),
    Fixture = fun(Name) -> filename:join(?config(fixtures, Config), Name) end,
    M = marker(),
    lists:foreach(
      fun(Device) ->
              {ok, P} = sysport_port:start_link(
                          #{helper => Helper, args => ["--device=" ++ Device], ready_timeout => 30000,
                            backoff_min => 60000,
                            wrapper => ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
                                        "--errors-for-leak-kinds=definite"]}),
              {ok, All} = sysport_port:call(P, {dmesg, {0, 7, all}}, 30000),
              ?assert(length(binary_to_term(All)) > 1),
              {ok, _} = sysport_port:call(P, {dmesg, {0, 4, <<0, 1, 23>>}}, 30000),
              ?assertEqual({error, badarg}, sysport_port:call(P, {dmesg, {0, 8, all}}, 30000)),
              ok = sysport_port:cast(P, {follow, 0}),
              Device =:= "/dev/kmsg" andalso ?PEER:inject([<<"<14>", M/binary, " valgrind\n">>]),
              receive {sysport_port, P, {event, {records, _, _}}} -> ok
              after 30000 -> ct:fail({no_records, Device})
              end,
              #{os_pid := OsPid} = sysport_port:stats(P),
              os:cmd("kill -TERM " ++ integer_to_list(OsPid)),
              receive {sysport_port, P, {exited, Status}} -> ?assertEqual({exit, 0}, Status)
              after 30000 -> ct:fail({no_exit, Device})
              end,
              sysport_port:stop(P)
      end, ["/dev/kmsg", Fixture("kernel.kmsg"), Fixture("malformed.kmsg"), Fixture("extensions.kmsg")]).
