%% Issue 19: the ring log's start and its queries about an earlier boot as
%% the spool grows (4, 64 and 256 MiB), beside `dd' reading the same file.
%%
%% Each spool file is full: one boot's ordinary log lines, logged through
%% logger into the real service until the ring wrapped. It is made once per
%% size and helper build and kept in _build/bench/spool/; every round
%% copies it afresh (a start writes to it), then, with the page cache
%% dropped before each step:
%%   dd of the copy (cold, then warm): the peer, the cost of reading it all;
%%   sysport_ringlog:start_link/1 as a new boot (the boot id is a
%%   persistent_term: erasing it is what a reboot does): how long it
%%   blocks, when status says the spool is up, and what the helper read by
%%   then (/proc/PID/io); when it has read the rest in the background;
%%   then, on the summaries that reading leaves:
%%   boots() and tail(100): time and what the helper read for them;
%%   get(#{boot => previous, count => 100}) cold, then warm: time, what the
%%   helper read, the BEAM's memory (peak of erlang:memory(total) sampled
%%   every 1 ms, less the value before) and the querying process's (a
%%   fresh process; peak of process_info(memory) sampled alike), and that
%%   it answered the previous boot's last 100 records.
%% Figures are medians of 3 rounds. A query still running after ?CAP_S
%% seconds (SPOOL_BENCH_CAP_S) is stopped and reported as over the cap,
%% and not run again at that size. SPOOL_BENCH_MIB="4 64" picks sizes.
-module(spool_bench).
-export([rows/1]).

-define(SIZES_MIB, [4, 64, 256]).
-define(ROUNDS, 3).
-define(CAP_S, 10).
-define(COUNT, 100).
-define(MIB, 1048576).
-define(BOOT_KEY, {sysport_ringlog, boot_id}).
%% Generation: no drops, no sync until the end.
-define(GEN_OPTS, #{sync_interval => 3600000, sync_bytes => 1 bsl 40, sync_level => emergency,
                    burst_limit_enable => false, sync_mode_qlen => 10, drop_mode_qlen => 100000000,
                    flush_qlen => 100000001}).

rows(#{root := Root, helper_dir := HelperDir}) ->
    io:format("spool_bench: spools full of one earlier boot, copied afresh each round, page cache dropped "
              "before each step; sysport = the ring log, peer = dd of the same file, ratio = sysport/peer; "
              "medians of ~b rounds~n", [?ROUNDS]),
    application:set_env(sysport, helper_dir, HelperDir),
    Dir = filename:join([Root, "_build", "bench", "spool"]),
    ok = filelib:ensure_path(Dir),
    ok = file:change_mode(Dir, 8#700),
    _ = sysport_ringlog:stop(),
    sysport_bench:without_console_logger(
      fun() ->
              try
                  Helper = filename:join(HelperDir, "sysport_ringlog"),
                  Baseline = exec_baseline(Dir),
                  Cap = cap_ms(),
                  Sized = [{Mib, prepared(Dir, Helper, Mib)} || Mib <- sizes()],
                  Results = [{Mib, Meta, measure(Dir, Mib, Meta, Cap)} || {Mib, Meta} <- Sized],
                  Ref = case lists:keyfind(4, 1, Results) of
                            {4, _, R4} -> #{start => median(start_ms, R4), ready => median(ready_ms, R4)};
                            false -> #{}
                        end,
                  lists:append([size_rows(Mib, Meta, Rounds, Ref, Baseline, Cap) || {Mib, Meta, Rounds} <- Results])
              after
                  _ = sysport_ringlog:stop()
              end
      end).

sizes() ->
    case os:getenv("SPOOL_BENCH_MIB") of
        false -> ?SIZES_MIB;
        S -> [list_to_integer(X) || X <- string:lexemes(S, " ,")]
    end.

cap_ms() ->
    1000 * list_to_integer(os:getenv("SPOOL_BENCH_CAP_S", integer_to_list(?CAP_S))).

%%% The prepared spools

%% A spool of Mib MiB full of one boot, made by this helper build; its
%% boot, first and last seq are kept beside it.
prepared(Dir, Helper, Mib) ->
    {ok, Bin} = file:read_file(Helper),
    Build = binary:encode_hex(erlang:md5(Bin)),
    Base = filename:join(Dir, sysport_bench:fmt("prev-~b", [Mib])),
    case file:consult(Base ++ ".meta") of
        {ok, [#{build := Build} = Meta]} ->
            case filelib:file_size(Base ++ ".spool") of
                Size when Size >= Mib * ?MIB -> Meta#{file => Base ++ ".spool"};
                _ -> generate(Base, Mib, Build)
            end;
        _ -> generate(Base, Mib, Build)
    end.

generate(Base, Mib, Build) ->
    Tmp = Base ++ ".tmp",
    _ = file:delete(Tmp),
    _ = file:delete(Base ++ ".meta"),
    io:format("spool_bench: making a full ~b MiB spool (once per helper build)...~n", [Mib]),
    T0 = erlang:monotonic_time(millisecond),
    persistent_term:erase(?BOOT_KEY),
    logger:set_primary_config(level, info),
    {ok, Pid} = sysport_ringlog:start_link(?GEN_OPTS#{spool_file => Tmp, spool_size => Mib * ?MIB}),
    unlink(Pid),
    fill(Mib * ?MIB + Mib * ?MIB div 8, 0),
    {ok, _} = sysport_ringlog:sync(),
    %% Nothing more is logged: the file's last record is the boot's last.
    ok = sysport_ringlog:config(#{level => none}),
    logger:set_primary_config(level, notice),
    {ok, _} = sysport_ringlog:sync(),
    {ok, Boots} = sysport_ringlog:boots(),
    ok = sysport_ringlog:stop(),
    [#{boot := Hex, first_seq := First, last_seq := Last, records := N}] =
        [B || #{current := true} = B <- Boots],
    %% Wrapped: the boot's first records were overwritten.
    true = First > 1,
    Meta = #{build => Build, boot => Hex, first_seq => First, last_seq => Last, records => N},
    ok = file:rename(Tmp, Base ++ ".spool"),
    ok = file:write_file(Base ++ ".meta", io_lib:format("~p.~n", [Meta])),
    io:format("spool_bench: ~b records of boot ~s (seq ~b..~b kept) in ~b ms~n",
              [N, Hex, First, Last, erlang:monotonic_time(millisecond) - T0]),
    Meta#{file => Base ++ ".spool"}.

%% Two processes log ordinary lines until the helper has written Bytes.
fill(Bytes, I) ->
    {ok, #{spool := #{write_bytes := Written}}} = sysport_ringlog:status(),
    case Written >= Bytes of
        true -> ok;
        false ->
            Self = self(),
            Batch = 5000,
            Pids = [spawn_link(fun() -> [line(W, I + K) || K <- lists:seq(1, Batch)], Self ! {filled, self()} end)
                    || W <- [1, 2]],
            [receive {filled, P} -> ok end || P <- Pids],
            fill(Bytes, I + Batch)
    end.

line(W, I) ->
    case I rem 4 of
        0 -> logger:notice("eth~b: link up, 1000 Mbit/s full duplex, flow control rx/tx (event ~b)", [W, I]);
        1 -> logger:info("worker ~b: request ~b handled in ~b us, ~b bytes out", [W, I, I rem 977, I rem 65536]);
        2 -> logger:notice("sensor poll ~b: cpu_thermal 48.~b C, fan 2400 rpm, in0 1.~b V", [I, I rem 10, I rem 100]);
        3 -> logger:warning("worker ~b: retrying upload ~b to https://example.invalid/api/v1/logs: "
                            "connection timed out after 5000 ms", [W, I])
    end.

%%% Rounds

measure(Dir, Mib, #{file := Cached} = Meta, Cap) ->
    Work = filename:join(Dir, sysport_bench:fmt("work-~b.spool", [Mib])),
    Rounds = lists:foldl(fun(R, Acc) ->
                                 io:format("spool_bench: ~b MiB round ~b~n", [Mib, R]),
                                 Acc ++ [round(Cached, Work, Meta, skip(Acc, Cap), Cap)]
                         end, [], lists:seq(1, ?ROUNDS)),
    ok = file:delete(Work),
    Rounds.

%% A query that went over the cap, or whose rounds together did, is not
%% run again.
skip(Rounds, Cap) ->
    [K || K <- [q_cold, q_warm],
          lists:any(fun(#{K := #{killed := true}}) -> true; (_) -> false end, Rounds) orelse
              lists:sum([Ms || #{K := #{ms := Ms}} <- Rounds]) > Cap].

round(Cached, Work, Meta, Skip, Cap) ->
    _ = file:delete(Work),
    "" = sysport_bench:sh("cp --sparse=never '" ++ Cached ++ "' '" ++ Work ++ "' 2>&1"),
    Drops = [drop()],
    DdCold = dd(Work),
    DdWarm = dd(Work),
    Size = filelib:file_size(Work),
    Drops1 = [drop() | Drops],
    persistent_term:erase(?BOOT_KEY),
    T0 = erlang:monotonic_time(microsecond),
    {ok, Pid} = sysport_ringlog:start_link(#{spool_file => Work, spool_size => Size}),
    T1 = erlang:monotonic_time(microsecond),
    unlink(Pid),
    {OsPid, Io} = wait_up(T0 div 1000 + 60000),
    T2 = erlang:monotonic_time(microsecond),
    %% The helper reads the rest of the file after it is up; the queries
    %% below run on the summaries that reading leaves.
    ok = wait_read(T0 div 1000 + 120000),
    T3 = erlang:monotonic_time(microsecond),
    Drops2 = [drop() | Drops1],
    Boots = timed(OsPid, fun sysport_ringlog:boots/0),
    Drops3 = [drop() | Drops2],
    Tail = timed(OsPid, fun() -> sysport_ringlog:tail(?COUNT) end),
    Drops4 = [drop() | Drops3],
    QCold = case lists:member(q_cold, Skip) of
                true -> skipped;
                false -> query(OsPid, Meta, Cap)
            end,
    QWarm = case lists:member(q_warm, Skip) of
                true -> skipped;
                false -> query(OsPid, Meta, Cap)
            end,
    ok = sysport_ringlog:stop(),
    R = #{start_ms => (T1 - T0) / 1000, ready_ms => (T2 - T0) / 1000, read_ms => (T3 - T0) / 1000,
          rchar => maps:get(<<"rchar">>, Io), read_bytes => maps:get(<<"read_bytes">>, Io),
          ready_read_bytes => maps:get(ready_read_bytes, Io),
          dd_cold => DdCold, dd_warm => DdWarm, size => Size,
          boots => Boots#{ok => prev_listed(maps:get(value, Boots), Meta)},
          tail => Tail#{ok => tail_ok(maps:get(value, Tail), Meta)},
          drops => lists:usort([E || E <- Drops4, E =/= ok])},
    maps:merge(R, maps:from_list([{K, V} || {K, V} <- [{q_cold, QCold}, {q_warm, QWarm}], V =/= skipped])).

prev_listed({ok, Boots}, #{boot := Hex, last_seq := Last}) ->
    lists:any(fun(#{boot := B, last_seq := L}) -> B =:= Hex andalso L =:= Last; (_) -> false end, Boots);
prev_listed(_Error, _Meta) ->
    false.

%% The last 100: the few records of the new boot, after the end of the
%% previous one.
tail_ok({ok, Recs}, #{boot := Hex, last_seq := Last}) when length(Recs) =:= ?COUNT ->
    case [S || #{boot := B, seq := S} <- Recs, B =:= Hex] of
        [] -> false;
        Prev -> lists:last(Prev) =:= Last andalso Prev =:= lists:seq(hd(Prev), Last)
    end;
tail_ok(_Other, _Meta) ->
    false.

%% Until status says the spool takes records (polled every 1 ms); what
%% the helper had read by then.
wait_up(Deadline) ->
    {ok, #{spool := Spool, helper := Helper}} = sysport_ringlog:status(),
    case {Spool, Helper} of
        {#{up := true, recovery := Rec}, #{os_pid := OsPid}} when is_integer(OsPid) ->
            %% The helper's own count of the bytes it read before it was
            %% ready, beside /proc's when status saw it up (by then its
            %% background read has begun).
            {OsPid, (proc_io(OsPid))#{ready_read_bytes => maps:get(ready_read_bytes, Rec, undefined)}};
        _ ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> error({spool_not_up, Spool});
                false -> timer:sleep(1), wait_up(Deadline)
            end
    end.

wait_read(Deadline) ->
    case sysport_ringlog:status() of
        {ok, #{spool := #{recovery := #{scan_done := true}}}} -> ok;
        _ ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> error(spool_never_read);
                false -> timer:sleep(5), wait_read(Deadline)
            end
    end.

timed(OsPid, Fun) ->
    Io0 = proc_io(OsPid),
    T0 = erlang:monotonic_time(microsecond),
    V = Fun(),
    T1 = erlang:monotonic_time(microsecond),
    Io1 = proc_io(OsPid),
    #{ms => (T1 - T0) / 1000, value => V, rchar => maps:get(<<"rchar">>, Io1) - maps:get(<<"rchar">>, Io0),
      read_bytes => maps:get(<<"read_bytes">>, Io1) - maps:get(<<"read_bytes">>, Io0)}.

%% get(#{boot => previous, count => 100}) in a fresh process, with a
%% sampler beside it; stopped at Cap ms.
query(OsPid, #{boot := Hex, last_seq := Last}, Cap) ->
    Self = self(),
    Io0 = proc_io(OsPid),
    Mem0 = erlang:memory(total),
    {Q, MRef} = spawn_monitor(fun() ->
                                      receive go -> ok end,
                                      T0 = erlang:monotonic_time(microsecond),
                                      R = sysport_ringlog:get(#{boot => previous, count => ?COUNT}),
                                      T1 = erlang:monotonic_time(microsecond),
                                      Self ! {answer, self(), (T1 - T0) / 1000, answer_ok(R, Hex, Last)}
                              end),
    Sampler = spawn_link(fun() -> sample(Q, Mem0, 0) end),
    T0 = erlang:monotonic_time(microsecond),
    Q ! go,
    {Ms, Ok, Killed} = receive
                           {answer, Q, M, A} -> {M, A, false};
                           {'DOWN', MRef, process, Q, Why} -> {0, {crashed, Why}, false}
                       after Cap ->
                               exit(Q, kill),
                               {(erlang:monotonic_time(microsecond) - T0) / 1000, false, true}
                       end,
    erlang:demonitor(MRef, [flush]),
    Sampler ! {stop, self()},
    {PeakMem, PeakProc} = receive {peak, Sampler, P1, P2} -> {P1, P2} end,
    Io1 = proc_io(OsPid),
    #{ms => Ms, ok => Ok =:= true, why => Ok, killed => Killed, beam => PeakMem - Mem0, proc => PeakProc,
      rchar => maps:get(<<"rchar">>, Io1) - maps:get(<<"rchar">>, Io0)}.

answer_ok({ok, Recs}, Hex, Last) ->
    Seqs = [S || #{seq := S} <- Recs],
    case {[B || #{boot := B} <- Recs, B =/= Hex], Seqs =:= lists:seq(Last - ?COUNT + 1, Last)} of
        {[], true} -> true;
        {[], false} -> {wrong_records, length(Recs)};
        {Other, _} -> {other_boot, hd(Other)}
    end;
answer_ok(Error, _, _) ->
    Error.

sample(Q, MaxTotal, MaxProc) ->
    Total = max(MaxTotal, erlang:memory(total)),
    Proc = case erlang:process_info(Q, memory) of
               {memory, M} -> max(MaxProc, M);
               undefined -> MaxProc
           end,
    receive {stop, From} -> From ! {peak, self(), Total, Proc}
    after 1 -> sample(Q, Total, Proc)
    end.

%%% The peer and the machine

%% dd's own figures: {Seconds, Bytes}.
dd(File) ->
    Out = sysport_bench:sh("LC_ALL=C dd if='" ++ File ++ "' of=/dev/null bs=1M 2>&1"),
    {match, [B, S]} = re:run(Out, "^(\\d+) bytes.* copied, ([0-9.e+-]+) s", [multiline, {capture, all_but_first, list}]),
    {to_float(S), list_to_integer(B)}.

to_float(S) ->
    try list_to_float(S) catch error:badarg -> float(list_to_integer(S)) end.

%% ok, or why the page cache could not be dropped.
drop() ->
    _ = os:cmd("sync"),
    case file:write_file("/proc/sys/vm/drop_caches", "3") of
        ok -> ok;
        {error, Reason} -> Reason
    end.

proc_io(OsPid) ->
    {ok, Io} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/io"),
    maps:from_list([{K, binary_to_integer(V)} || L <- binary:split(Io, <<"\n">>, [global, trim_all]),
                                                 [K, V] <- [binary:split(L, <<": ">>)]]).

%% What the helper reads from disk to start at all (its program and
%% libraries, cache dropped) on a new 16 KiB spool: read_bytes beyond it is
%% the spool's.
exec_baseline(Dir) ->
    File = filename:join(Dir, "baseline.spool"),
    _ = file:delete(File),
    _ = drop(),
    persistent_term:erase(?BOOT_KEY),
    {ok, Pid} = sysport_ringlog:start_link(#{spool_file => File, spool_size => 16384}),
    unlink(Pid),
    {_, Io} = wait_up(erlang:monotonic_time(millisecond) + 60000),
    ok = sysport_ringlog:stop(),
    maps:get(<<"read_bytes">>, Io).

%%% Rows

median(Key, Rounds) when is_list(Rounds) ->
    mid([V || #{Key := V} <- Rounds]).

mid([]) -> undefined;
mid(Vs) -> lists:nth((length(Vs) + 1) div 2, lists:sort(Vs)).

sub(Key, Sub, Rounds) ->
    mid([maps:get(Sub, M) || #{Key := M} <- Rounds]).

size_rows(Mib, Meta, Rounds, Ref, Baseline, Cap) ->
    F = fun sysport_bench:fmt/2,
    N = length(Rounds),
    Size = median(size, Rounds),
    DdCold = mid([S * 1000 || #{dd_cold := {S, _}} <- Rounds]),
    DdWarm = mid([S * 1000 || #{dd_warm := {S, _}} <- Rounds]),
    DdBytes = mid([B || #{dd_cold := {_, B}} <- Rounds]),
    Dd = F("dd ~s (~s)", [ms(DdCold), mib(DdBytes)]),
    Drops = lists:usort(lists:append([D || #{drops := D} <- Rounds])),
    Note = case Drops of
               [] -> "";
               _ -> F(" [page cache NOT dropped: ~p]", [Drops])
           end,
    Label = fun(What) -> F("spool ~b MiB: ~s", [Mib, What]) end,
    Med = F("median of ~b", [N]),
    Start = median(start_ms, Rounds),
    Ready = median(ready_ms, Rounds),
    Vs4 = fun(_, undefined) -> {"(the reference)", true};
             (_, _) when Mib =:= 4 -> {"(the reference for 1.2x)", true};
             (V, R4) -> {F("<= 1.2x the 4 MiB one (~.2fx)", [V / R4]), V =< 1.2 * R4}
          end,
    {StartGoal, StartOk} = Vs4(Start, maps:get(start, Ref, undefined)),
    {ReadyGoal, ReadyOk} = Vs4(Ready, maps:get(ready, Ref, undefined)),
    Rchar = median(rchar, Rounds),
    ReadyRead = median(ready_read_bytes, Rounds),
    ReadBytes = median(read_bytes, Rounds),
    Spool = max(0, ReadBytes - Baseline),
    Records = F("~b records of boot ~s, seq ~b..~b",
                [maps:get(records, Meta), maps:get(boot, Meta), maps:get(first_seq, Meta), maps:get(last_seq, Meta)]),
    [#{bench => Label("sysport_ringlog:start_link/1 blocks, cache dropped (app start waits)"),
       sysport => ms(Start), peer => Dd, ratio => Start / DdCold, goal => StartGoal, ok => StartOk,
       cmd => F("start_link as a new boot on a copy of a full spool (~s); ~s~s", [Records, Med, Note])},
     #{bench => Label("until status says the spool is up (takes records)"),
       sysport => ms(Ready), peer => Dd, ratio => Ready / DdCold, goal => ReadyGoal, ok => ReadyOk,
       cmd => F("status() polled every 1 ms from the start_link call; ~s~s", [Med, Note])},
     #{bench => Label("until the helper has read the rest (in the background)"),
       sysport => ms(median(read_ms, Rounds)), peer => Dd, ratio => median(read_ms, Rounds) / DdCold,
       goal => "-", ok => true,
       cmd => F("status() polled every 5 ms until recovery says scan_done; ~s~s", [Med, Note])},
     #{bench => Label("bytes the helper read before it took records"),
       sysport => F("~s (helper's count at ready); when status saw it up: rchar ~s, read_bytes ~s "
                    "(~s beyond the exec's ~s)",
                    [bytes(ReadyRead), mib(Rchar), mib(ReadBytes), mib(Spool), mib(Baseline)]),
       peer => F("dd ~s of ~s", [mib(DdBytes), mib(Size)]), ratio => ReadyRead / Size,
       goal => "<= 1 MiB", ok => ReadyRead =< ?MIB,
       cmd => F("ready_read_bytes under spool, recovery in status(); /proc/PID/io of sysport_ringlog when "
                "status says up; exec = a new 16 KiB spool's read_bytes; ~s~s", [Med, Note])}]
        ++ query_rows(Label, q_cold, "cache dropped", Rounds, F("dd ~s", [ms(DdCold)]), DdCold, Cap, Note)
        ++ query_rows(Label, q_warm, "warm", Rounds, F("dd ~s (warm)", [ms(DdWarm)]), DdWarm, Cap, Note)
        ++ memory_row(Label, Rounds, Note)
        ++ [call_row(Label, boots, "boots() once read, cache dropped", Rounds, Note),
            call_row(Label, tail, "tail(100) once read, cache dropped", Rounds, Note)].

query_rows(Label, Key, How, Rounds, Peer, PeerMs, Cap, Note) ->
    F = fun sysport_bench:fmt/2,
    Runs = [Q || #{Key := Q} <- Rounds],
    Bench = Label("get(#{boot => previous, count => 100}), " ++ How),
    Cmd = "sysport_ringlog:get(#{boot => previous, count => 100}) in a fresh process",
    case Runs of
        [] -> [];
        _ ->
            Killed = [Q || #{killed := true} = Q <- Runs],
            Ms = mid([M || #{ms := M} <- Runs]),
            Rchar = mid([R || #{rchar := R} <- Runs]),
            Wrong = [W || #{ok := false, killed := false, why := W} <- Runs],
            Answer = case Wrong of
                         [] -> "";
                         [W | _] -> F(", WRONG ANSWER ~0p", [W])
                     end,
            {Shown, Peer1} = case Killed of
                                 [] -> {F("~s (helper read ~s)~s", [ms(Ms), mib(Rchar), Answer]), Peer};
                                 _ -> {F("> ~s: stopped at the cap (helper read ~s by then)", [ms(Cap), mib(Rchar)]),
                                       Peer ++ " (ratio: at least)"}
                             end,
            [#{bench => Bench, sysport => Shown, peer => Peer1, ratio => Ms / PeerMs, goal => "<= 50 ms",
               ok => Killed =:= [] andalso Wrong =:= [] andalso Ms =< 50,
               cmd => F("~s; ~b of ~b rounds (cap ~b s, SPOOL_BENCH_CAP_S)~s",
                        [Cmd, length(Runs), length(Rounds), Cap div 1000, Note])}]
    end.

memory_row(Label, Rounds, Note) ->
    F = fun sysport_bench:fmt/2,
    Runs = [Q || K <- [q_cold, q_warm], #{K := Q} <- Rounds],
    case Runs of
        [] -> [];
        _ ->
            Beam = lists:max([B || #{beam := B} <- Runs]),
            Proc = lists:max([P || #{proc := P} <- Runs]),
            Killed = [Q || #{killed := true} = Q <- Runs],
            Over = case Killed of [] -> ""; _ -> ">= " end,
            [#{bench => Label("BEAM memory for that query"),
               sysport => F("~s+~s total, ~s~s in the querying process", [Over, mb(Beam), Over, mb(Proc)]),
               peer => "-", ratio => undefined, goal => "<= 4 MB (a few)", ok => Killed =:= [] andalso Beam =< 4.0e6,
               cmd => F("peaks of erlang:memory(total) - before and process_info(Q, memory), sampled every 1 ms; "
                        "the worst of ~b runs~s", [length(Runs), Note])}]
    end.

%% boots() reads no records but those of a block where one boot's records
%% end inside an older lap's (one here); tail(100) only the blocks holding
%% the records it returns.
call_row(Label, Key, What, Rounds, Note) ->
    F = fun sysport_bench:fmt/2,
    {Goal, Limit} = case Key of
                        boots -> {"no file read but one block holding two boots (4 KiB + frames)", 8192};
                        tail -> {"only the blocks of the 100 records, read to find them and again to send them (<= 64 KiB)", 65536}
                    end,
    Ms = sub(Key, ms, Rounds),
    Rchar = sub(Key, rchar, Rounds),
    Wrong = [K || #{Key := #{ok := false}} = K <- Rounds],
    #{bench => Label(What),
      sysport => F("~s, helper read ~s (read_bytes ~s)~s",
                   [ms(Ms), bytes(Rchar), bytes(sub(Key, read_bytes, Rounds)),
                    case Wrong of [] -> ""; _ -> ", WRONG ANSWER" end]),
      peer => "-", ratio => undefined, goal => Goal,
      ok => Rchar =< Limit andalso Wrong =:= [],
      cmd => F("sysport_ringlog:~s; /proc/PID/io rchar before and after; median of ~b~s",
               [case Key of boots -> "boots()"; tail -> "tail(100)" end, length(Rounds), Note])}.

ms(Ms) when Ms >= 1000 -> sysport_bench:fmt("~.2f s", [Ms / 1000]);
ms(Ms) -> sysport_bench:fmt("~.1f ms", [Ms]).

mib(B) when B >= ?MIB -> sysport_bench:fmt("~.1f MiB", [B / ?MIB]);
mib(B) -> sysport_bench:fmt("~b KiB", [round(B / 1024)]).

bytes(B) when B >= 10240 -> mib(B);
bytes(B) -> sysport_bench:fmt("~b B", [B]).

mb(B) -> sysport_bench:fmt("~.1f MB", [B / 1.0e6]).
