%% The ring log end to end: the logger handler, the ring and the spool
%% helper (the ASan+UBSan build under `make ct'), including a second VM
%% killed with SIGKILL while it logs, and spool files damaged on purpose.
-module(sysport_ringlog_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").
-include_lib("kernel/include/file.hrl").
-include_lib("kernel/include/logger.hrl").

-export([all/0, groups/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).
-export([kill9_vm_keeps_synced_records/1, bit_flips/1, zeroed_block/1, truncated_to_half/1,
         debug_flood_keeps_errors/1, hostile_messages/1, odd_metadata/1, write_amplification/1,
         queries/1, boots_and_boundary/1, save_to_file/1, attach_prints_to_shell/1, config_at_runtime/1,
         bad_options/1, overload_drops_counted/1, burst_limit_spares_errors/1,
         helper_killed_nothing_lost/1, stalled_helper_blocks_nobody/1, spool_geometry_said/1,
         spool_unwritable/1, opening_spool_blocks_nobody/1, answered_while_reading/1,
         restarted_service_syncs/1,
         file_mode_0600/1, facade_prints/1,
         helper_under_valgrind/1, full_disk_sync_is_honest/1]).

-define(MAX_SEQ, 16#ffffffffffffffff).
-define(SVC, sysport_ringlog).

all() ->
    [kill9_vm_keeps_synced_records, {group, corruption}, debug_flood_keeps_errors, hostile_messages,
     odd_metadata, write_amplification, queries, boots_and_boundary, save_to_file,
     attach_prints_to_shell, config_at_runtime, bad_options, overload_drops_counted,
     burst_limit_spares_errors, helper_killed_nothing_lost, stalled_helper_blocks_nobody,
     spool_geometry_said, spool_unwritable, opening_spool_blocks_nobody, answered_while_reading, restarted_service_syncs, file_mode_0600,
     facade_prints, helper_under_valgrind, full_disk_sync_is_honest].

groups() ->
    [{corruption, [], [bit_flips, zeroed_block, truncated_to_half]}].

init_per_suite(Config) ->
    %% Every level reaches the ring; the other handlers (CT's among them)
    %% only see errors, or the floods below would flood the CT logs too.
    #{level := Primary} = logger:get_primary_config(),
    logger:set_primary_config(level, all),
    Others = [{Id, L} || #{id := Id, level := L} <- logger:get_handler_config(), Id =/= ?SVC],
    [logger:set_handler_config(Id, level, error) || {Id, _} <- Others],
    [{primary_level, Primary}, {handler_levels, Others} | Config].

end_per_suite(Config) ->
    [logger:set_handler_config(Id, level, L) || {Id, L} <- ?config(handler_levels, Config)],
    logger:set_primary_config(level, ?config(primary_level, Config)),
    ok.

init_per_testcase(_Case, Config) ->
    stop(),
    %% Each case is a VM run of its own: sequence numbers start at 1.
    new_boot(),
    Config.

end_per_testcase(_Case, _Config) ->
    stop(),
    ok.

%%% Helpers

spool_file(Config, Name) ->
    filename:join(?config(priv_dir, Config), Name ++ ".spool").

%% The spool opens in the background; a case starts from a spool that is
%% open and read (or down).
start(Opts) ->
    {ok, Pid} = ?SVC:start_link(Opts),
    unlink(Pid),
    ok = sysport_test_lib:wait_until(fun() -> settled(status()) end, 30000),
    Pid.

settled(#{spool := #{up := true, recovery := #{scan_done := true}}}) -> true;
settled(#{spool := #{up := false, error := Error}}) -> Error =/= undefined;
settled(_) -> false.

stop() ->
    ?SVC:stop().

%% A VM restart, without restarting this VM: the service takes its boot id
%% from here once per VM.
new_boot() ->
    persistent_term:erase({?SVC, boot_id}).

status() ->
    {ok, S} = sysport_test_lib:flat_status(sysport_ringlog),
    S.

helper_pid() ->
    #{helper := #{os_pid := P}} = status(),
    P.

wait_seq(Seq) ->
    ok = sysport_test_lib:wait_until(fun() -> maps:get(last_seq, status()) >= Seq end, 60000, 20).

msgs(Records) -> [M || #{msg := M} <- Records].

%%% kill -9 of a whole VM while 50 processes log

kill9_vm_keeps_synced_records(Config) ->
    Spool = spool_file(Config, "kill9"),
    Ebin = filename:dirname(code:which(?SVC)),
    Logger = lists:flatten(io_lib:format(
        "logger:remove_handler(default), logger:set_primary_config(level, all), "
        "{ok, _} = sysport_ringlog:start_link(#{spool_file => ~p, spool_size => 64 bsl 20, "
        "burst_limit_enable => false}), "
        "Pad = fun(W, I) -> base64:encode(erlang:md5(term_to_binary({W, I}))) end, "
        "Loop = fun L(W, I) -> logger:notice(\"kill9 w~~b i~~b ~~s\", [W, I, Pad(W, I)]), L(W, I + 1) end, "
        "[spawn(fun() -> Loop(W, 1) end) || W <- lists:seq(1, 50)], "
        "Report = fun R() -> {ok, #{synced_seq := S}} = sysport_ringlog:status(), "
        "io:format(\"synced ~~b~~n\", [S]), timer:sleep(20), R() end, Report().", [Spool])),
    Port = erl_vm(Ebin, Logger),
    {os_pid, VmPid} = erlang:port_info(Port, os_pid),
    %% Kill it once plenty is synced and logging is in full swing.
    Synced = wait_synced(Port, 20000, 0, erlang:monotonic_time(millisecond) + 60000),
    sysport_test_lib:kill9(VmPid),
    Last = drain_synced(Port, Synced),
    ct:log("killed the VM with records up to ~b reported synced", [Last]),
    ok = sysport_test_lib:wait_until(fun() -> spool_users(Spool) =:= [] end, 10000),

    %% A new VM on the same spool reads the previous boot back.
    Dump = filename:join(?config(priv_dir, Config), "kill9.previous"),
    Reader = lists:flatten(io_lib:format(
        "logger:remove_handler(default), "
        "{ok, _} = sysport_ringlog:start_link(#{spool_file => ~p, spool_size => 64 bsl 20}), "
        "{ok, Recs} = sysport_ringlog:get(#{boot => previous}), "
        "ok = file:write_file(~p, term_to_binary(Recs)), io:format(\"done~~n\"), halt().", [Spool, Dump])),
    Port2 = erl_vm(Ebin, Reader),
    receive {Port2, {exit_status, 0}} -> ok
    after 120000 -> ct:fail(reader_vm_did_not_finish)
    end,
    {ok, Bin} = file:read_file(Dump),
    Records = binary_to_term(Bin),
    Seqs = [S || #{seq := S} <- Records],
    ct:log("previous boot: ~b records, seq ~b..~b", [length(Seqs), hd(Seqs), lists:last(Seqs)]),
    %% In order, each once, and nothing synced is missing.
    ?assertEqual(Seqs, lists:usort(Seqs)),
    ?assertEqual(lists:seq(1, Last), lists:sublist(Seqs, Last)),
    %% Intact and nothing invented: each worker's records are exactly what
    %% it logged, in the order it logged them.
    PerWorker = lists:foldl(fun check_kill9_record/2, #{}, Records),
    ?assertEqual(50, maps:size(PerWorker)),
    ?assert(length(Records) >= Last).

check_kill9_record(#{msg := <<"kill9 ", _/binary>> = Msg}, Acc) ->
    {ok, [W, I, Pad], []} = io_lib:fread("kill9 w~d i~d ~s", binary_to_list(Msg)),
    ?assertEqual(binary_to_list(base64:encode(erlang:md5(term_to_binary({W, I})))), Pad),
    case Acc of
        #{W := Prev} -> ?assert(I > Prev);
        _ -> ok
    end,
    Acc#{W => I};
check_kill9_record(#{msg := <<"ringlog: ", _/binary>>}, Acc) ->
    Acc;
check_kill9_record(#{domain := [<<"sysport">> | _]}, Acc) ->
    Acc;
check_kill9_record(Other, _Acc) ->
    ct:fail({invented_record, Other}).

erl_vm(Ebin, Eval) ->
    open_port({spawn_executable, os:find_executable("erl")},
              [{args, ["-noshell", "-pa", Ebin, "-eval", Eval]}, {line, 4096}, exit_status,
               stderr_to_stdout]).

wait_synced(Port, Want, Seen, Deadline) ->
    case erlang:monotonic_time(millisecond) > Deadline of
        true -> ct:fail({not_enough_synced, Seen});
        false -> ok
    end,
    receive
        {Port, {data, {eol, "synced " ++ N}}} ->
            S = list_to_integer(N),
            case S >= Want of
                true -> S;
                false -> wait_synced(Port, Want, S, Deadline)
            end;
        {Port, {data, {eol, Line}}} ->
            ct:log("second VM: ~s", [Line]),
            wait_synced(Port, Want, Seen, Deadline);
        {Port, {exit_status, St}} ->
            ct:fail({second_vm_exited, St})
    after 30000 ->
            ct:fail({no_synced_report, Seen})
    end.

%% The last synced seq the VM printed before it died.
drain_synced(Port, Last) ->
    receive
        {Port, {data, {eol, "synced " ++ N}}} -> drain_synced(Port, max(Last, list_to_integer(N)));
        {Port, {data, _}} -> drain_synced(Port, Last);
        {Port, {exit_status, _}} -> Last
    after 10000 -> Last
    end.

%% Processes whose command line names the spool (the killed VM's helper,
%% still flushing).
spool_users(Spool) ->
    Arg = list_to_binary("--file=" ++ Spool),
    [P || P <- all_pids(), case file:read_file("/proc/" ++ integer_to_list(P) ++ "/cmdline") of
                               {ok, C} -> lists:member(Arg, binary:split(C, <<0>>, [global]));
                               _ -> false
                           end].

all_pids() ->
    {ok, Names} = file:list_dir("/proc"),
    [list_to_integer(N) || N <- Names, lists:all(fun(C) -> C >= $0 andalso C =< $9 end, N)].

%%% Damaged spool files

%% 256 KiB spool, 64 blocks: about 1500 records fill most of it.
corruption_setup(Config, Name) ->
    File = spool_file(Config, Name),
    Opts = #{spool_file => File, spool_size => 256 * 1024, burst_limit_enable => false, sync_mode_qlen => 0},
    new_boot(),
    start(Opts),
    [logger:notice("record ~b of the corruption test, padded ~s", [I, lists:duplicate(I rem 50, $.)])
     || I <- lists:seq(1, 1500)],
    {ok, _} = ?SVC:sync(),
    #{boot := Boot} = status(),
    stop(),
    {ok, Image} = file:read_file(File),
    Pristine = [R || {_, _, #{boot := B}} = R <- oracle(Image), B =:= Boot],
    %% The independent parser finds every record the service wrote.
    Seqs = [S || {_, _, #{seq := S}} <- Pristine],
    ?assertEqual(lists:seq(1, length(Seqs)), Seqs),
    ?assertEqual(1500, length([M || {_, _, #{msg := <<"record ", _/binary>> = M}} <- Pristine])),
    {File, Opts, Image, Pristine}.

%% After the damage: the service starts, every record it returns is one
%% that was written (byte for byte), and every record the damage did not
%% touch is returned.
corruption_check(Opts, Pristine, Touched) ->
    new_boot(),
    start(Opts),
    {ok, Back} = ?SVC:get(#{boot => previous}),
    Written = maps:from_list([{S, M} || {_, _, #{seq := S, msg := M}} <- Pristine]),
    [?assertEqual({S, maps:get(S, Written, invented)}, {S, M}) || #{seq := S, msg := M} <- Back],
    Seqs = [S || #{seq := S} <- Back],
    ?assertEqual(Seqs, lists:usort(Seqs)),
    Intact = [S || {Off, Size, #{seq := S}} <- Pristine, not Touched(Off, Size)],
    ?assertEqual([], Intact -- Seqs),
    wait_recovered(),
    #{spool := #{recovery := Rec}, helper := #{restarts := 0, state := up}} = status(),
    ct:log("recovery ~p; ~b of ~b records back, ~b intact", [Rec, length(Seqs), length(Pristine), length(Intact)]),
    Rec.

bit_flips(Config) ->
    {File, Opts, Image, Pristine} = corruption_setup(Config, "flips"),
    rand:seed(exsss, {6, 6, 6}),
    Flips = [{rand:uniform(byte_size(Image)) - 1, rand:uniform(8) - 1} || _ <- lists:seq(1, 100)],
    Damaged = lists:foldl(fun({Off, Bit}, Img) ->
                                  <<A:Off/binary, B, C/binary>> = Img,
                                  <<A/binary, (B bxor (1 bsl Bit)), C/binary>>
                          end, Image, Flips),
    ok = file:write_file(File, Damaged),
    Touched = fun(Off, Size) -> lists:any(fun({F, _}) -> F >= Off andalso F < Off + Size end, Flips) end,
    Rec = corruption_check(Opts, Pristine, Touched),
    ?assert(maps:get(discarded_bytes, Rec) > 0 orelse maps:get(bad_headers, Rec) > 0).

zeroed_block(Config) ->
    {File, Opts, Image, Pristine} = corruption_setup(Config, "zeroed"),
    Block = 20 * 4096,
    <<A:Block/binary, _:4096/binary, C/binary>> = Image,
    ok = file:write_file(File, <<A/binary, 0:(4096 * 8), C/binary>>),
    Touched = fun(Off, _) -> Off >= Block andalso Off < Block + 4096 end,
    Rec = corruption_check(Opts, Pristine, Touched),
    ?assertMatch(#{lost_blocks := 1}, Rec),
    ?assert(maps:get(discarded_bytes, Rec) >= 4096).

truncated_to_half(Config) ->
    {File, Opts, Image, Pristine} = corruption_setup(Config, "half"),
    Half = byte_size(Image) div 2,
    {ok, Fd} = file:open(File, [read, write, raw]),
    {ok, _} = file:position(Fd, Half),
    ok = file:truncate(Fd),
    ok = file:close(Fd),
    Touched = fun(Off, Size) -> Off + Size > Half end,
    Rec = corruption_check(Opts, Pristine, Touched),
    ?assertEqual(Half, maps:get(short_bytes, Rec)),
    ?assertEqual(byte_size(Image), filelib:file_size(File)).

%% An independent reader of the spool format (ports/ringlog/ringlog_format.h), so the
%% tests do not take the helper's word for what the file holds:
%% [{Offset, Size, #{seq, boot, msg}}].
oracle(Image) ->
    Blocks = [binary:part(Image, Off, 4096) || Off <- lists:seq(0, byte_size(Image) - 4096, 4096)],
    lists:append([oracle_block(B, I * 4096) || {I, B} <- lists:zip(lists:seq(0, length(Blocks) - 1), Blocks)]).

oracle_block(<<"SPLB", 1, 12, 0:16, _Gen:64/little, FileId:64/little, 0:32, Crc:32/little, Rest/binary>> = B, Base) ->
    case erlang:crc32(binary:part(B, 0, 28)) of
        Crc -> oracle_records(Rest, FileId, Base + 32);
        _ -> []
    end;
oracle_block(_, _) ->
    [].

oracle_records(<<"SR", Len:16/little, Level, 0, 0:16, Seq:64/little, Boot:64/little, Wall:64/little-signed,
                 Mono:64/little-signed, _/binary>> = Bin, FileId, Off) ->
    Body = (40 + Len + 3) band (bnot 3),
    case Bin of
        <<Rec:Body/binary, Crc:32/little, Rest/binary>> ->
            Crc = erlang:crc32(<<FileId:64/little, Rec/binary>>),
            <<_:40/binary, Payload:Len/binary, _/binary>> = Rec,
            Hex = sysport_ringlog_query:hex(Boot),
            R = sysport_ringlog_codec:decode({Seq, Hex, Wall, Mono, Level, Payload}),
            [{Off, Body + 4, R} | oracle_records(Rest, FileId, Off + Body + 4)];
        _ -> []
    end;
oracle_records(_, _, _) ->
    [].

%%% The ring

debug_flood_keeps_errors(Config) ->
    %% Always sync: every record of the flood reaches the ring (overload is
    %% overload_drops_counted's business).
    start(#{spool_file => spool_file(Config, "flood"), burst_limit_enable => false, sync_mode_qlen => 0}),
    [logger:error("error ~b before the flood", [I]) || I <- lists:seq(1, 10)],
    [logger:debug("debug flood ~b", [I]) || I <- lists:seq(1, 100000)],
    wait_seq(100011),
    {ok, Errors} = ?SVC:get(#{level => error}),
    ?assertEqual([iolist_to_binary(io_lib:format("error ~b before the flood", [I])) || I <- lists:seq(1, 10)],
                 msgs(Errors)),
    #{ring := #{bytes := Bytes, records := Records, evicted := Evicted, max_bytes := Max,
                classes := #{debug := #{records := Debug}}}} = status(),
    ct:log("ring: ~b records, ~b bytes, ~b evicted", [Records, Bytes, Evicted]),
    ?assert(Bytes =< Max),
    ?assert(Evicted > 90000),
    ?assert(Debug > 1000),
    {ok, [#{msg := Newest}]} = ?SVC:tail(1),
    ?assertEqual(<<"debug flood 100000">>, Newest).

hostile_messages(Config) ->
    start(#{spool_file => spool_file(Config, "hostile")}),
    Big = binary:copy(<<"x">>, 1 bsl 20),
    logger:notice("unicode ~ts", [<<"κόσμε 日本語 🎉"/utf8>>]),
    logger:notice(<<"bad ", 16#ff, 16#fe, " bytes">>),
    logger:notice(Big),
    logger:notice("~s", [lists:duplicate(1 bsl 20, $y)]),
    logger:notice(#{what => report, n => 1}),
    logger:notice(#{what => cb}, #{report_cb => fun(R) -> {"cb1 ~p", [R]} end}),
    logger:notice(#{what => cb2}, #{report_cb => fun(_, _) -> "cb2 text" end}),
    logger:notice(#{what => crashing}, #{report_cb => fun(_) -> error(boom) end}),
    logger:notice("plain charlist"),
    logger:notice([<<"deep ">>, ["chardata ", 16#110000], 228]),
    logger:notice("~p ~p", [one]),
    logger:notice("~q", [x]),
    logger:notice(<<"binary format ~p">>, [x]),
    logger:notice(fun(_) -> {"from a fun ~p", [1]} end, #{}),
    {ok, _} = ?SVC:sync(),
    ?assertMatch({ok, #{module := ?SVC}}, logger:get_handler_config(?SVC)),
    {ok, Recs} = ?SVC:tail(14),
    [Uni, Bad, BigR, Ys, Report, Cb1, Cb2, Crash, Plain, Deep, Fmt1, Fmt2, BinFmt, Fun] = msgs(Recs),
    ?assertEqual(<<"unicode κόσμε 日本語 🎉"/utf8>>, Uni),
    ?assertEqual(<<"bad ", 16#FFFD/utf8, 16#FFFD/utf8, " bytes">>, Bad),
    MaxPayload = 4020,
    [?assert(byte_size(M) =< MaxPayload) || M <- [BigR, Ys]],
    ?assertMatch({_, _}, binary:match(BigR, <<"...(1048576 bytes)">>)),
    %% io_lib's chars_limit cut this one already, with its own "...".
    ?assertEqual(<<"...">>, binary:part(Ys, byte_size(Ys), -3)),
    ?assertMatch({_, _}, binary:match(Report, <<"what: report">>)),
    ?assertMatch(<<"cb1 ", _/binary>>, Cb1),
    ?assertEqual(<<"cb2 text">>, Cb2),
    ?assertMatch(<<"UNRENDERABLE", _/binary>>, Crash),
    ?assertEqual(<<"plain charlist">>, Plain),
    ?assertEqual(<<"deep chardata ", 16#FFFD/utf8, "ä"/utf8>>, Deep),
    ?assertMatch(<<"FORMAT ERROR: ", _/binary>>, Fmt1),
    ?assertMatch(<<"FORMAT ERROR: ", _/binary>>, Fmt2),
    ?assertEqual(<<"binary format x">>, BinFmt),
    ?assertEqual(<<"from a fun 1">>, Fun),
    [?assert(is_binary(M) andalso unicode:characters_to_binary(M) =:= M) || M <- msgs(Recs)],
    %% Shown to a human without trouble, and the same after a restart.
    {Lines, _} = sysport_ringlog_text:lines(Recs, sysport_ringlog_text:default_formatter(), undefined),
    Text = unicode:characters_to_binary(Lines),
    ?assertMatch({_, _}, binary:match(Text, <<"日本語"/utf8>>)),
    stop(),
    new_boot(),
    start(#{spool_file => spool_file(Config, "hostile")}),
    {ok, Again} = ?SVC:get(#{boot => previous, count => 14}),
    ?assertEqual(msgs(Recs), msgs(Again)).

%% Kernel records (from sysport_kmsg) and anything else people put in
%% metadata: whatever it holds, the record is stored.
odd_metadata(Config) ->
    start(#{spool_file => spool_file(Config, "meta"), metadata => [facility, request_id]}),
    logger:notice("kernel says hi", #{domain => [kernel], facility => kern, syslog_seq => 12}),
    logger:notice("odd meta", #{pid => not_a_pid, mfa => bogus, file => 123, line => "x",
                                application => <<"bin">>, domain => not_a_list, request_id => {a, "b", 1}}),
    logger:notice("long meta", #{request_id => binary:copy(<<"r">>, 1000), domain => lists:seq(1, 100)}),
    {ok, _} = ?SVC:sync(),
    {ok, [K, O, L]} = ?SVC:tail(3),
    ?assertMatch(#{msg := <<"kernel says hi">>, domain := [<<"kernel">>], meta := #{<<"facility">> := <<"kern">>}}, K),
    ?assertMatch(#{msg := <<"odd meta">>, pid := undefined, mfa := undefined, domain := [],
                   file := <<"123">>, meta := #{<<"request_id">> := <<"{a,\"b\",1}">>}}, O),
    #{meta := #{<<"request_id">> := Long}, domain := D} = L,
    ?assert(byte_size(Long) =< 255),
    ?assertEqual(8, length(D)).

%% Bytes the helper writes over bytes of records, at steady state with the
%% default spool settings (4 MiB file, 4 KiB blocks, 1 s sync).
write_amplification(Config) ->
    start(#{spool_file => spool_file(Config, "wa")}),
    Helper = helper_pid(),
    Logger = spawn_link(fun() -> steady_logging(0) end),
    timer:sleep(2000),
    {W0, C0} = proc_io(Helper),
    #{spool := #{record_bytes := R0}} = status(),
    timer:sleep(6000),
    {W1, C1} = proc_io(Helper),
    #{spool := #{record_bytes := R1}} = status(),
    unlink(Logger),
    exit(Logger, kill),
    Records = R1 - R0,
    ct:log("records ~b bytes; write_bytes ~b (~.3fx), wchar ~b (~.3fx)",
           [Records, W1 - W0, (W1 - W0) / Records, C1 - C0, (C1 - C0) / Records]),
    ?assert(Records > 100000),
    ?assert((C1 - C0) / Records =< 1.25),
    %% write_bytes is counted by page when a page is dirtied (0 where the
    %% kernel does not account I/O, e.g. tmpfs).
    ?assert(W1 - W0 =:= 0 orelse (W1 - W0) / Records =< 1.25).

%% 400 records a second: under the default burst limit (500 a second).
steady_logging(I) ->
    logger:notice("steady record ~b with a payload of ordinary length, like most log lines ~s",
                  [I, lists:duplicate(40, $-)]),
    timer:sleep(case I rem 4 of 0 -> 10; _ -> 2 end),
    steady_logging(I + 1).

proc_io(OsPid) ->
    {ok, Io} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/io"),
    Fields = maps:from_list([{K, binary_to_integer(V)} || Line <- binary:split(Io, <<"\n">>, [global, trim_all]),
                                                        [K, V] <- [binary:split(Line, <<": ">>)]]),
    {maps:get(<<"write_bytes">>, Fields), maps:get(<<"wchar">>, Fields)}.

queries(Config) ->
    start(#{spool_file => spool_file(Config, "queries")}),
    #{last_seq := Base} = status(),
    [logger:notice("query ~b ~s", [I, case I rem 10 of 0 -> "tenth"; _ -> "plain" end]) || I <- lists:seq(1, 50)],
    logger:warning("query warning"),
    ?LOG_ERROR("query error"),
    wait_seq(Base + 52),
    {ok, T5} = ?SVC:tail(5),
    ?assertEqual([<<"query 48 plain">>, <<"query 49 plain">>, <<"query 50 tenth">>, <<"query warning">>,
                  <<"query error">>], msgs(T5)),
    {ok, T20} = ?SVC:tail(),
    ?assertEqual(20, length(T20)),
    %% next: everything once, then only what is new.
    {ok, First} = ?SVC:next(),
    ?assertEqual(Base + 52, length(First)),
    {ok, []} = ?SVC:next(),
    logger:notice("query new"),
    wait_seq(Base + 53),
    {ok, [#{msg := <<"query new">>}]} = ?SVC:next(),
    %% next's cursor is per process.
    Self = self(),
    spawn(fun() -> Self ! {other, ?SVC:next(3)} end),
    receive {other, {ok, Other}} -> ?assertEqual(3, length(Other)) end,
    %% get
    {ok, Range} = ?SVC:get(#{from_seq => Base + 10, count => 3}),
    ?assertEqual([Base + 10, Base + 11, Base + 12], [S || #{seq := S} <- Range]),
    {ok, Warn} = ?SVC:get(#{level => warning}),
    ?assertEqual([<<"query warning">>, <<"query error">>], msgs(Warn)),
    {ok, Last2} = ?SVC:get(#{count => 2}),
    ?assertEqual([<<"query error">>, <<"query new">>], msgs(Last2)),
    %% grep: literal, regex, context, level
    {ok, Tenth} = ?SVC:grep("tenth"),
    ?assertEqual(5, length(Tenth)),
    {ok, Re} = ?SVC:grep({re, "^query [0-9]+0 "}),
    ?assertEqual(msgs(Tenth), msgs(Re)),
    {ok, MP} = re:compile("warn"),
    {ok, [#{msg := <<"query warning">>}]} = ?SVC:grep(MP),
    {ok, Ctx} = ?SVC:grep("query 20 ", #{before => 1, 'after' => 2}),
    ?assertEqual([<<"query 19 plain">>, <<"query 20 tenth">>, <<"query 21 plain">>, <<"query 22 plain">>], msgs(Ctx)),
    {ok, []} = ?SVC:grep("tenth", #{level => warning}),
    {ok, []} = ?SVC:grep("no such text anywhere"),
    ?assertMatch({error, {bad_regex, _}}, ?SVC:grep({re, "("})),
    ?assertEqual({error, {bad_option, colour}}, ?SVC:get(#{colour => red})),
    ?assertEqual({error, {bad_option, level}}, ?SVC:get(#{level => loud})),
    ?assertEqual({error, badarg}, ?SVC:tail(-1)),
    %% Records are plain data: maps with binaries.
    [#{seq := _, boot := <<_:16/binary>>, time := _, mono := _, level := notice, pid := <<"<", _/binary>>,
       mfa := undefined} | _] = T5,
    %% The macros add the location.
    #{level := error, mfa := <<"sysport_ringlog_SUITE:queries/1">>, file := File, line := Line} = lists:last(T5),
    ?assertMatch({_, _}, binary:match(File, <<"sysport_ringlog_SUITE.erl">>)),
    ?assert(binary_to_integer(Line) > 0).

boots_and_boundary(Config) ->
    File = spool_file(Config, "boots"),
    new_boot(),
    start(#{spool_file => File}),
    #{boot := Boot1} = status(),
    [logger:notice("first boot ~b", [I]) || I <- lists:seq(1, 30)],
    stop(),
    new_boot(),
    start(#{spool_file => File}),
    #{boot := Boot2} = status(),
    ?assertNotEqual(Boot1, Boot2),
    logger:notice("second boot"),
    wait_seq(3),
    %% Each boot: its own record, the spool's report, then what was logged.
    {ok, Boots} = ?SVC:boots(),
    [#{boot := Boot1, current := false, first_seq := 1, last_seq := 32, records := 32},
     #{boot := Boot2, current := true}] = Boots,
    %% The tail crosses the boot boundary, and shows it.
    {ok, Tail} = ?SVC:tail(6),
    ?assertEqual([Boot1, Boot1, Boot1, Boot2, Boot2, Boot2], [B || #{boot := B} <- Tail]),
    ?assertMatch([<<"first boot 28">>, <<"first boot 29">>, <<"first boot 30">>, <<"ringlog: boot ", _/binary>>,
                  <<"ringlog: spool ", _/binary>>, <<"second boot">>], msgs(Tail)),
    {Lines, _} = sysport_ringlog_text:lines(Tail, sysport_ringlog_text:default_formatter(), undefined),
    Text = iolist_to_binary(Lines),
    ?assertMatch({_, _}, binary:match(Text, <<"---- boot ", Boot2/binary, " ----">>)),
    {ok, Prev} = ?SVC:get(#{boot => previous}),
    ?assertEqual(32, length(Prev)),
    {ok, ByIdLast} = ?SVC:get(#{boot => Boot1, count => 2}),
    ?assertEqual([<<"first boot 29">>, <<"first boot 30">>], msgs(ByIdLast)),
    {ok, ByIdFrom} = ?SVC:get(#{boot => Boot1, from_seq => 31}),
    ?assertEqual([<<"first boot 29">>, <<"first boot 30">>], msgs(ByIdFrom)),
    {ok, All} = ?SVC:get(#{boot => all}),
    ?assertEqual(35, length(All)),
    {ok, Grep} = ?SVC:grep("first boot 1", #{boot => all}),
    ?assertEqual([<<"first boot 1">>] ++ [iolist_to_binary(["first boot 1", integer_to_list(I)]) || I <- lists:seq(0, 9)],
                 msgs(Grep)).

save_to_file(Config) ->
    new_boot(),
    File = spool_file(Config, "save"),
    start(#{spool_file => File}),
    logger:notice("saved line one"),
    stop(),
    new_boot(),
    start(#{spool_file => File}),
    logger:error("saved line two ~ts", [<<"ü"/utf8>>]),
    wait_seq(3),
    Out = filename:join(?config(priv_dir, Config), "saved.txt"),
    ok = ?SVC:save(Out),
    {ok, Text} = file:read_file(Out),
    {ok, #file_info{mode = Mode}} = file:read_file_info(Out),
    ?assertEqual(8#600, Mode band 8#777),
    Lines = binary:split(Text, <<"\n">>, [global, trim_all]),
    [One] = [L || L <- Lines, binary:match(L, <<"saved line one">>) =/= nomatch],
    [Two] = [L || L <- Lines, binary:match(L, <<"saved line two">>) =/= nomatch],
    ?assertMatch({_, _}, binary:match(One, <<"notice">>)),
    ?assertMatch({_, _}, binary:match(Two, <<"error">>)),
    ?assertMatch({_, _}, binary:match(Two, <<"ü"/utf8>>)),
    ?assertMatch([_], [L || <<"---- boot ", _/binary>> = L <- Lines]),
    ?assertMatch({error, _}, ?SVC:save("/nonexistent/dir/x.txt")).

%% attach prints to the caller's group leader; detach stops it.
attach_prints_to_shell(Config) ->
    start(#{spool_file => spool_file(Config, "attach")}),
    Self = self(),
    GL = spawn_link(fun() -> fake_io(Self) end),
    Shell = spawn_link(fun() ->
                               group_leader(GL, self()),
                               ok = ?SVC:attach(#{level => warning}),
                               Self ! attached,
                               receive detach -> Self ! {detached, ?SVC:detach()} end,
                               receive stop -> ok end
                       end),
    receive attached -> ok end,
    logger:notice("not printed: below warning"),
    logger:warning("printed in the shell"),
    receive {printed, Text} -> ?assertMatch({_, _}, binary:match(Text, <<"printed in the shell">>))
    after 5000 -> ct:fail(nothing_printed)
    end,
    ?assertMatch(#{attached := 1}, status()),
    Shell ! detach,
    receive {detached, ok} -> ok end,
    logger:error("not printed: detached"),
    receive {printed, T} -> ct:fail({printed_after_detach, T}) after 500 -> ok end,
    ?assertEqual({error, not_attached}, ?SVC:detach()),
    ?assertEqual({error, {bad_option, level}}, ?SVC:attach(#{level => loud})),
    Shell ! stop.

fake_io(Test) ->
    receive
        {io_request, From, Ref, {put_chars, unicode, Chars}} ->
            Test ! {printed, unicode:characters_to_binary(Chars)},
            From ! {io_reply, Ref, ok},
            fake_io(Test);
        {io_request, From, Ref, _} ->
            From ! {io_reply, Ref, {error, enotsup}},
            fake_io(Test)
    end.

config_at_runtime(Config) ->
    start(#{spool_file => spool_file(Config, "config")}),
    ok = ?SVC:config(#{level => warning, ring_records => 20, sync_interval => 200, sync_level => critical}),
    logger:notice("below the new level"),
    logger:warning("at the new level"),
    wait_seq(3),
    {ok, [#{msg := <<"at the new level">>}]} = ?SVC:tail(1),
    [logger:warning("fill ~b", [I]) || I <- lists:seq(1, 50)],
    wait_seq(53),
    #{ring := #{records := 20}, spool := #{synced_seq := _}} = status(),
    %% sync_interval 200 ms: synced without asking.
    ok = sysport_test_lib:wait_until(fun() -> maps:get(synced_seq, status()) =:= 53 end, 3000),
    ?assertEqual({error, {not_changeable, spool_file}}, ?SVC:config(#{spool_file => "/tmp/x"})),
    ?assertEqual({error, {invalid_option, ringlog, #{nope => 1}}}, ?SVC:config(#{nope => 1})),
    ?assertEqual({error, {invalid_option, ringlog, #{ring_bytes => -1}}}, ?SVC:config([{ring_bytes, -1}])),
    %% logger's own API changes the handler's level too.
    ok = logger:set_handler_config(?SVC, level, all),
    logger:debug("debug after logger:set_handler_config"),
    wait_seq(53).

bad_options(Config) ->
    ?assertEqual({error, {invalid_option, ringlog, #{colour => red}}}, ?SVC:start_link(#{colour => red})),
    ?assertEqual({error, {invalid_option, ringlog, #{block_size => 1000}}}, ?SVC:start_link(#{block_size => 1000})),
    ?assertEqual({error, {invalid_option, ringlog, #{sync_mode_qlen => 10, drop_mode_qlen => 5, flush_qlen => 2}}},
                 ?SVC:start_link(#{drop_mode_qlen => 5, flush_qlen => 2})),
    ?assertEqual({error, not_running}, ?SVC:tail()),
    ?assertEqual({error, not_running}, sysport_test_lib:flat_status(sysport_ringlog)),
    start(#{spool_file => spool_file(Config, "bad")}),
    ?assertMatch({error, {already_started, _}}, ?SVC:start_link(#{})),
    %% Adding the handler by hand is refused: it needs the service.
    ?assertMatch({error, _}, logger:add_handler(ringlog_by_hand, ?SVC, #{})).

%%% Overload

overload_drops_counted(Config) ->
    start(#{spool_file => spool_file(Config, "overload"), sync_mode_qlen => 2, drop_mode_qlen => 5,
            flush_qlen => 40, burst_limit_enable => false, ring_records => 1000000, ring_bytes => 1 bsl 28}),
    Self = self(),
    Ws = [spawn_link(fun() -> [logger:notice("overload ~b ~b", [W, I]) || I <- lists:seq(1, 1000)],
                              Self ! {done, self()} end) || W <- lists:seq(1, 50)],
    [receive {done, W} -> ok end || W <- Ws],
    %% Every drop ends up in a warning record saying how many.
    ok = sysport_test_lib:wait_until(
           fun() -> Total = maps:get(total, status()),
                    Total > 0 andalso reported_drops() =:= Total
           end, 10000),
    #{total := Dropped, overload := O, flushed := F} = status(),
    {ok, Stored} = ?SVC:grep("overload "),
    ct:log("stored ~b, dropped ~b (overload ~b, flushed ~b)", [length(Stored), Dropped, O, F]),
    %% Every call is accounted for: stored or counted as dropped.
    ?assertEqual(50000, length(Stored) + Dropped),
    {ok, [#{level := warning} | _]} = ?SVC:grep("ringlog: dropped").

reported_drops() ->
    {ok, Reports} = ?SVC:grep("ringlog: dropped"),
    lists:sum([begin {ok, [N], _} = io_lib:fread("ringlog: dropped ~d", binary_to_list(M)), N end
               || M <- msgs(Reports)]).

burst_limit_spares_errors(Config) ->
    start(#{spool_file => spool_file(Config, "burst"), burst_limit_max_count => 100,
            burst_limit_window_time => 60000}),
    [logger:info("burst ~b", [I]) || I <- lists:seq(1, 300)],
    [logger:error("burst error ~b", [I]) || I <- lists:seq(1, 5)],
    ok = sysport_test_lib:wait_until(fun() -> maps:get(burst, status()) >= 200 end, 5000),
    {ok, Errors} = ?SVC:get(#{level => error}),
    ?assertEqual(5, length([M || <<"burst error", _/binary>> = M <- msgs(Errors)])).

%%% The helper

helper_killed_nothing_lost(Config) ->
    File = spool_file(Config, "killed"),
    new_boot(),
    start(#{spool_file => File, burst_limit_enable => false}),
    Logger = spawn_link(fun() -> [begin logger:notice("survivor ~b", [I]), timer:sleep(1) end
                                  || I <- lists:seq(1, 3000)] end),
    timer:sleep(500),
    sysport_test_lib:kill9(helper_pid()),
    timer:sleep(500),
    sysport_test_lib:kill9(helper_pid()),
    ok = sysport_test_lib:wait_until(fun() -> not is_process_alive(Logger) end, 60000),
    ok = sysport_test_lib:wait_until(fun() -> maps:get(state, maps:get(helper, status())) =:= up end, 10000),
    #{last_seq := Seq, helper := #{restarts := 2}} = status(),
    {ok, Synced} = ?SVC:sync(),
    ?assertEqual(Seq, Synced),
    stop(),
    new_boot(),
    start(#{spool_file => File}),
    {ok, Prev} = ?SVC:get(#{boot => previous}),
    ?assertEqual(lists:seq(1, Seq), [S || #{seq := S} <- Prev]),
    ?assertEqual([iolist_to_binary(["survivor ", integer_to_list(I)]) || I <- lists:seq(1, 3000)],
                 [M || <<"survivor ", _/binary>> = M <- msgs(Prev)]).

%% A spool helper that stops reading (SIGSTOP here; one stuck in fdatasync
%% on a hung SD card looks the same) blocked the server, and with it every
%% logging caller, while its mailbox grew without bound. Now: loggers all
%% finish, the server keeps answering and drains its mailbox, what waits
%% for the helper is bounded, sync() does not claim what is not on disk;
%% once the helper reads again the spool catches up, and every record
%% synced is on disk except those counted as never reaching it.
stalled_helper_blocks_nobody(Config) ->
    File = spool_file(Config, "stalled"),
    new_boot(),
    start(#{spool_file => File, burst_limit_enable => false, timeout => 3000}),
    Os = helper_pid(),
    {0, _} = sysport_test_lib:os_cmd("kill -STOP " ++ integer_to_list(Os)),
    try
        Pad = lists:duplicate(60, $.),
        Self = self(),
        Loggers = [spawn_link(fun() -> [logger:notice("stalled ~b ~b ~s", [W, I, Pad]) || I <- lists:seq(1, 20000)],
                                       Self ! {logged, self()} end) || W <- lists:seq(1, 4)],
        [receive {logged, L} -> ok after 120000 -> ct:fail({logger_blocked, L}) end || L <- Loggers],
        %% The server drains its mailbox and answers with the helper stopped.
        ok = sysport_test_lib:wait_until(
               fun() -> element(2, process_info(whereis(?SVC), message_queue_len)) < 100 end, 60000),
        {ok, [_]} = ?SVC:tail(1),
        #{spool := #{stalled := true}, helper := #{backlog_bytes := Backlog, busy := Busy}} = status(),
        ct:log("helper stopped: backlog ~b bytes, ~b batches refused", [Backlog, Busy]),
        ?assert(Backlog =< (1 bsl 20) + 65536),
        ?assert(Busy > 0),
        ?assertMatch({error, _}, ?SVC:sync())
    after
        sysport_test_lib:os_cmd("kill -CONT " ++ integer_to_list(Os))
    end,
    ok = sysport_test_lib:wait_until(fun() -> not maps:get(stalled, maps:get(spool, status())) end, 30000),
    logger:notice("after the stall"),
    {ok, Synced} = ?SVC:sync(),
    #{last_seq := Last, spool := #{unspooled_records := Unspooled}} = status(),
    ct:log("synced ~b of ~b, ~b never reached the spool", [Synced, Last, Unspooled]),
    %% sync() answers up to the first record that never reached the spool.
    case Unspooled of
        0 -> ?assertEqual(Last, Synced);
        _ -> ?assert(Synced < Last)
    end,
    stop(),
    new_boot(),
    start(#{spool_file => File}),
    {ok, Prev} = ?SVC:get(#{boot => previous}),
    Found = [S || #{seq := S} <- Prev],
    ?assertEqual([], lists:seq(1, Synced) -- Found),
    ?assertEqual(Unspooled, length(lists:seq(1, Last) -- Found)),
    ?assertMatch([_], [M || <<"after the stall">> = M <- msgs(Prev)]),
    case Unspooled of
        0 -> ok;
        _ -> ?assertMatch([_ | _], [M || <<"ringlog: ", _/binary>> = M <- msgs(Prev),
                                         binary:match(M, <<"never reached the spool">>) =/= nomatch])
    end.

%% What the spool file turns out to be is said at boot, in its first
%% record: random bytes where the spool should be (overwritten, as damage);
%% a spool configured larger than the whole ring it was (grown, nothing
%% missing); one configured smaller, or with another block size (kept as it
%% is, records are not thrown away, and the option not applied is a
%% warning).
spool_geometry_said(Config) ->
    File = spool_file(Config, "geometry"),
    ok = file:write_file(File, crypto:strong_rand_bytes(65536)),
    Small = #{spool_file => File, spool_size => 65536, block_size => 4096},
    new_boot(),
    start(Small),
    #{spool := #{recovery := #{foreign_bytes := 65536}}} = status(),
    ?assertMatch(#{level := warning}, spool_record()),
    ?assertMatch({match, _}, re:run(maps:get(msg, spool_record()), "it held no spool: 65536 bytes of other data overwritten")),
    [logger:notice("geometry record ~b", [I]) || I <- lists:seq(1, 50)],
    {ok, _} = ?SVC:sync(),
    stop(),
    new_boot(),
    start(Small#{spool_size => 131072}),
    #{spool := #{file_size := 131072, recovery := #{grown_from := 65536, short_bytes := 0}}} = status(),
    ?assertMatch(#{level := notice}, spool_record()),
    ?assertMatch({match, _}, re:run(maps:get(msg, spool_record()), "grown from 65536 to 131072 bytes")),
    {ok, Prev} = ?SVC:get(#{boot => previous}),
    ?assertEqual(50, length([M || <<"geometry record ", _/binary>> = M <- msgs(Prev)])),
    stop(),
    new_boot(),
    start(Small#{block_size => 8192}),
    #{spool := #{file_size := 131072, block_size := 4096}} = status(),
    ?assertMatch(#{level := warning}, spool_record()),
    Msg = maps:get(msg, spool_record()),
    ?assertMatch({match, _}, re:run(Msg, "kept at 131072 bytes \\(spool_size 65536: delete the file to shrink it\\)")),
    ?assertMatch({match, _}, re:run(Msg, "kept its block size 4096 \\(block_size 8192: delete the file to change it\\)")),
    {ok, Earlier} = ?SVC:get(#{boot => all}),
    ?assertEqual(50, length([M || <<"geometry record ", _/binary>> = M <- msgs(Earlier)])).

%% The spool's report, once its helper has read the whole file.
spool_record() ->
    wait_recovered(),
    {ok, [R]} = ?SVC:grep("ringlog: spool ", #{boot => current}),
    R.

wait_recovered() ->
    ok = sysport_test_lib:wait_until(fun() -> #{spool := #{recovery := #{scan_done := D}}} = status(), D end, 30000).

%% No spool (a path that cannot be created): the ring still works, the
%% status says why, and the helper is retried with backoff.
spool_unwritable(_Config) ->
    start(#{spool_file => "/proc/sysport-ringlog-test/x.spool"}),
    logger:notice("only in memory"),
    ok = sysport_test_lib:wait_until(fun() -> ?SVC:grep("only in memory") =/= {ok, []} end, 5000),
    {ok, [#{msg := <<"only in memory">>}]} = ?SVC:grep("only in memory"),
    #{spool := #{up := false, error := Error}} = status(),
    ct:log("spool error: ~p", [Error]),
    ?assertNotEqual(undefined, Error),
    ?assertEqual({error, spool_down}, ?SVC:sync()),
    {ok, [#{current := true}]} = ?SVC:boots(),
    {ok, All} = ?SVC:get(#{boot => all}),
    ?assertMatch([<<"ringlog: boot ", _/binary>> | _], msgs(All)),
    ?assertEqual({error, spool_down}, ?SVC:get(#{boot => previous})),
    ?assert(is_process_alive(whereis(?SVC))),
    %% Restarted in the same VM, with no spool to tell where numbering
    %% stopped: it goes on from there, sequence numbers stay unique.
    #{last_seq := Seq} = status(),
    stop(),
    start(#{spool_file => "/proc/sysport-ringlog-test/x.spool"}),
    {ok, [#{seq := Next}]} = ?SVC:grep("ringlog: boot "),
    ?assert(Next > Seq).

%% The spool is held by another process (a killed VM's helper still
%% flushing): the service starts at once and takes records, status says the
%% spool is opening, sync/0 waits for the file, and every record logged
%% meanwhile is in it.
opening_spool_blocks_nobody(Config) ->
    File = spool_file(Config, "opening"),
    ok = file:write_file(File, <<>>),
    Holder = open_port({spawn_executable, os:find_executable("flock")},
                       [{args, ["--exclusive", File, "-c", "echo locked; sleep 2"]}, exit_status, stderr_to_stdout]),
    receive {Holder, {data, "locked\n"}} -> ok after 5000 -> ct:fail(no_lock) end,
    {ok, Pid} = ?SVC:start_link(#{spool_file => File}),
    unlink(Pid),
    ?assertMatch(#{spool := #{up := false, error := undefined}}, status()),
    [logger:notice("while opening ~b", [I]) || I <- lists:seq(1, 100)],
    ?assertMatch(#{spool := #{up := false}}, status()),
    {ok, Synced} = ?SVC:sync(),
    receive {Holder, {exit_status, 0}} -> ok after 5000 -> ct:fail(holder_still_running) end,
    ?assert(Synced >= 101),
    wait_recovered(),
    stop(),
    new_boot(),
    start(#{spool_file => File}),
    {ok, Prev} = ?SVC:get(#{boot => previous}),
    ?assertEqual([iolist_to_binary(io_lib:format("while opening ~b", [I])) || I <- lists:seq(1, 100)],
                 [M || <<"while opening ", _/binary>> = M <- msgs(Prev)]).

%% The helper reads a 64 MiB spool after ready, a slice at a time: a
%% request sent meanwhile is answered before the reading is done, and the
%% queries that need it all finish it.
answered_while_reading(Config) ->
    File = spool_file(Config, "reading"),
    Args = fun(Boot) -> ["--file=" ++ File, "--boot=" ++ integer_to_list(Boot), "--size=67108864"] end,
    {ok, W} = sysport_port:start_link(#{helper => "sysport_ringlog", args => Args(1)}),
    Payload = binary:copy(<<"r">>, 200),
    [begin
         Batch = iolist_to_binary([[<<S:64, 1:64, 2:64, 6, 200:16>>, Payload] || S <- lists:seq(C, C + 999)]),
         ok = cast_when_taken(W, {append, Batch})
     end || C <- lists:seq(1, 300000, 1000)],
    {ok, 300000} = sysport_port:call(W, sync, 60000),
    sysport_port:stop(W),
    {ok, R} = sysport_port:start_link(#{helper => "sysport_ringlog", args => Args(2), await_ready => false}),
    Total = receive {sysport_port, R, {ready, #{full_scan := false, unscanned_blocks := T}}} -> T
            after 10000 -> ct:fail(no_ready)
            end,
    Left = [begin {ok, #{unscanned_blocks := L}} = sysport_port:call(R, status, 10000), L end || _ <- [1, 2, 3]],
    ct:log("~w of ~b blocks still to read at three status calls in a row", [Left, Total]),
    ?assert(lists:last(Left) > 0),
    {ok, {Last, true}} = sysport_port:call(R, {read_last, 1, 0, ?MAX_SEQ, 3, 255}, 10000),
    ?assertEqual([299998, 299999, 300000], [S || {S, _, _, _, _} <- Last]),
    {ok, #{unscanned_blocks := 0}} = sysport_port:call(R, status, 10000),
    receive {sysport_port, R, {event, {recovered, #{lost_blocks := 0, bad_records := 0}}}} -> ok
    after 10000 -> ct:fail(no_recovered_event)
    end,
    sysport_port:stop(R).

cast_when_taken(Port, Msg) ->
    case sysport_port:cast(Port, Msg) of
        {error, busy} -> timer:sleep(5), cast_when_taken(Port, Msg);
        Other -> Other
    end.

%% The service restarted in the same VM (its supervisor does that after a
%% crash) numbers on from where it was; a spool opened in the background
%% is sent only this run's records, so nothing counts as missing and
%% sync/0 covers what was logged, on a new file and on the old one.
restarted_service_syncs(Config) ->
    Old = spool_file(Config, "restart_old"),
    start(#{spool_file => Old}),
    [logger:notice("first run ~b", [I]) || I <- lists:seq(1, 50)],
    {ok, _} = ?SVC:sync(),
    stop(),
    [begin
         start(#{spool_file => File}),
         logger:notice("after restart on ~s", [File]),
         ok = sysport_test_lib:wait_until(fun() -> ?SVC:grep("after restart on") =/= {ok, []} end, 5000),
         {ok, [#{seq := Seq}]} = ?SVC:grep("after restart on"),
         ?assert(Seq > 52),
         {ok, Synced} = ?SVC:sync(),
         ?assert(Synced >= Seq),
         ?assertMatch(#{spool := #{unspooled_records := 0}}, status()),
         stop()
     end || File <- [spool_file(Config, "restart_new"), Old]].

file_mode_0600(Config) ->
    Fresh = spool_file(Config, "mode_fresh"),
    start(#{spool_file => Fresh}),
    ?assertEqual(8#600, mode(Fresh)),
    ?assertEqual(4 bsl 20, filelib:file_size(Fresh)),
    stop(),
    Loose = spool_file(Config, "mode_loose"),
    ok = file:write_file(Loose, <<>>),
    ok = file:change_mode(Loose, 8#644),
    start(#{spool_file => Loose}),
    ?assertEqual(8#600, mode(Loose)),
    #{spool := #{recovery := #{mode_fixed := true}}} = status().

mode(File) ->
    {ok, #file_info{mode = M}} = file:read_file_info(File),
    M band 8#7777.

facade_prints(Config) ->
    start(#{spool_file => spool_file(Config, "facade")}),
    logger:notice("facade line"),
    wait_seq(3),
    Self = self(),
    GL = spawn_link(fun() -> fake_io(Self) end),
    spawn_link(fun() -> group_leader(GL, self()), ok = sysport:tail(), ok = sysport:grep("facade") end),
    Printed = collect_printed(2),
    ?assertMatch({_, _}, binary:match(Printed, <<"facade line">>)),
    ?assertMatch({_, _}, binary:match(Printed, <<"ringlog: boot">>)).

collect_printed(0) -> <<>>;
collect_printed(N) ->
    receive {printed, T} -> <<T/binary, (collect_printed(N - 1))/binary>>
    after 5000 -> ct:fail(not_printed)
    end.

%% The release helper under valgrind, through its whole protocol.
helper_under_valgrind(Config) ->
    case os:find_executable("valgrind") of
        false -> ct:fail("valgrind not installed");
        _ -> ok
    end,
    Helper = filename:join([sysport_test_lib:project_root(), "priv", "sysport_ringlog"]),
    File = spool_file(Config, "valgrind"),
    Log = filename:join(?config(priv_dir, Config), "valgrind.log"),
    {ok, P} = sysport_port:start_link(
                #{helper => Helper, args => ["--file=" ++ File, "--boot=77", "--size=65536", "--block=1024"],
                  wrapper => ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
                              "--errors-for-leak-kinds=definite", "--log-file=" ++ Log],
                  ready_timeout => 30000, backoff_min => 60000}),
    receive {sysport_port, P, {ready, #{created := true, full_scan := true}}} -> ok
    after 1000 -> ct:fail(no_ready)
    end,
    receive {sysport_port, P, {event, {recovered, #{recovered := 0, lost_blocks := 0}}}} -> ok
    after 5000 -> ct:fail(no_recovered_event)
    end,
    Batch = iolist_to_binary([[<<S:64, 1:64, 2:64, 6, 5:16>>, <<"hello">>] || S <- lists:seq(1, 200)]),
    ok = sysport_port:cast(P, {append, Batch}),
    ok = sysport_port:cast(P, {append, <<1, 2, 3>>}),
    {ok, 200} = sysport_port:call(P, sync, 30000),
    {ok, [#{boot := 77, first_seq := 1, last_seq := 200, records := 200}]} = sysport_port:call(P, boots, 30000),
    {ok, {Recs, false}} = sysport_port:call(P, {read, 77, 150, ?MAX_SEQ, 100, 255}, 30000),
    ?assertEqual(lists:seq(150, 200), [S || {S, 1, 2, 6, <<"hello">>} <- Recs]),
    {ok, {Last, true}} = sysport_port:call(P, {read_last, 77, 0, 190, 10, 255}, 30000),
    ?assertEqual(lists:seq(181, 190), [S || {S, 1, 2, 6, <<"hello">>} <- Last]),
    {ok, {[], false}} = sysport_port:call(P, {read_last, 77, 0, 190, 10, 2#111111}, 30000),
    {ok, #{rejected := 1, records := 200}} = sysport_port:call(P, status, 30000),
    {error, badarg} = sysport_port:call(P, {read, x, 1, 1, 1, 1}, 30000),
    {error, badarg} = sysport_port:call(P, {read, 77, 1, 1, 1, 256}, 30000),
    ok = sysport_port:call(P, {set_sync, 10, 4096, 3}, 30000),
    receive {sysport_port, P, {event, {synced, 200}}} -> ok after 1000 -> ok end,
    %% stdin EOF: the helper syncs and exits; valgrind logs any error.
    Os = maps:get(os_pid, sysport_port:stats(P)),
    sysport_port:stop(P),
    ok = sysport_test_lib:wait_until(fun() -> not sysport_test_lib:proc_alive(Os) end, 30000),
    ?assertEqual({ok, <<>>}, file:read_file(Log)),
    {ok, Image} = file:read_file(File),
    ?assertEqual(200, length(oracle_1024(Image))).

oracle_1024(Image) ->
    [R || Off <- lists:seq(0, byte_size(Image) - 1024, 1024),
          <<"SPLB", 1, 10, 0:16, _:64, FileId:64/little, 0:32, _:32, Rest/binary>> <- [binary:part(Image, Off, 1024)],
          R <- oracle_records(Rest, FileId, Off + 32)].

%%% A full disk under a sparse spool

%% The spool's blocks alternate between allocated ones and holes (punched
%% with fallocate -p) on a full tmpfs, mounted in a mount namespace of the
%% helper's own: every write into a hole fails with ENOSPC. Whatever sync()
%% returned must be in the file when it is opened again; a failed block is
%% retried, and written once space is freed; blocks given up are counted.
full_disk_sync_is_honest(Config) ->
    Dir = filename:join(?config(priv_dir, Config), "fullfs"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Script = "set -e; d=$1; shift; mount -t tmpfs -o size=256k tmpfs \"$d\"; "
             "fallocate -l 131072 \"$d/s.spool\"; "
             "for i in 1 3 5 7 9 11 13 15 17 19 21 23 25 27 29 31; do "
             "fallocate -p -o $((i * 4096)) -l 4096 \"$d/s.spool\"; done; "
             "dd if=/dev/zero of=\"$d/fill\" bs=4096 2>/dev/null || true; exec \"$@\"",
    {ok, P} = sysport_port:start_link(
                #{helper => "sysport_ringlog",
                  args => ["--file=" ++ filename:join(Dir, "s.spool"), "--boot=77", "--size=131072",
                           "--block=4096", "--sync-ms=3600000", "--sync-bytes=100000000", "--sync-level=0"],
                  wrapper => ["unshare", "-m", "--propagation", "private", "sh", "-c", Script, "sh", Dir],
                  backoff_min => 60000}),
    #{os_pid := Os} = sysport_port:stats(P),
    Inside = "/proc/" ++ integer_to_list(Os) ++ "/root" ++ Dir,
    Append = fun(From, N) ->
                     Batch = iolist_to_binary([[<<S:64, S:64, S:64, 6, 200:16>>, binary:copy(<<(S rem 251)>>, 200)]
                                               || S <- lists:seq(From, From + N - 1)]),
                     ok = sysport_port:cast(P, {append, Batch}),
                     sysport_port:call(P, sync, 10000)
             end,
    %% Phase 1: log and sync until a sync fails (a block landed in a hole).
    {Failed, Synced1} = until_sync_fails(Append, 1, 0),
    ct:log("first failed sync after seq ~b (synced ~b)", [Failed, Synced1]),
    {ok, #{block_waiting := Waiting}} = sysport_port:call(P, status),
    %% Space comes back: the waiting block is retried and everything syncs.
    ok = file:delete(filename:join(Inside, "fill")),
    ?assertEqual({ok, Failed}, sysport_port:call(P, sync, 10000)),
    ct:log("block waiting before space came back: ~p", [Waiting]),
    %% Phase 2: the disk is full again; the blocks not yet written are holes.
    {0, _} = sysport_test_lib:os_cmd("dd if=/dev/zero of=" ++ Inside ++ "/fill bs=4096 2>/dev/null; true"),
    Results = [Append(S, 4) || S <- lists:seq(Failed + 1, Failed + 240, 4)],
    Synced = lists:max([Synced1, Failed | [S || {ok, S} <- Results]]),
    {ok, #{lost_records := Lost, lost_first_seq := LostFirst, io_errors := Errors}} = sysport_port:call(P, status),
    ct:log("phase 2: ~b syncs failed, synced ~b, lost ~b from ~b, io_errors ~b",
           [length([E || {error, _} = E <- Results]), Synced, Lost, LostFirst, Errors]),
    %% The file as the disk holds it, opened again (a power cut now).
    {ok, Image} = file:read_file(filename:join(Inside, "s.spool")),
    sysport_port:stop(P),
    Copy = filename:join(?config(priv_dir, Config), "fullfs.spool"),
    ok = file:write_file(Copy, Image),
    {ok, Q} = sysport_port:start_link(#{helper => "sysport_ringlog",
                                        args => ["--file=" ++ Copy, "--boot=78", "--size=131072", "--block=4096"]}),
    {ok, {Recs, _}} = sysport_port:call(Q, {read, 77, 1, ?MAX_SEQ, 1024, 255}, 10000),
    sysport_port:stop(Q),
    Found = [S || {S, _, _, 6, _} <- Recs],
    ct:log("found ~b records after the restart, up to ~p", [length(Found), lists:max([0 | Found])]),
    ?assertEqual([], lists:seq(1, Synced) -- Found),
    %% What could not be written is said out loud.
    ?assert(Errors > 0),
    ?assert(Lost > 0),
    ?assert(Synced < LostFirst),
    receive {sysport_port, P, {event, {lost, Lost, LostFirst, _}}} -> ok
    after 5000 -> ct:fail(no_lost_event)
    end.

until_sync_fails(Append, From, Synced) when From < 400 ->
    case Append(From, 4) of
        {ok, S} -> until_sync_fails(Append, From + 4, S);
        {error, _} -> {From + 3, Synced}
    end;
until_sync_fails(_Append, From, _Synced) ->
    ct:fail({no_sync_failed, From}).
