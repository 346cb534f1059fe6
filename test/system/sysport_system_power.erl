%% @doc The system test's checks across a power cut and an orderly stop:
%% the data partition itself (a synced file, records appended and synced
%% until the cut, a file only an orderly stop can save), and the services
%% that must not lose or corrupt what they had acknowledged: the U-Boot env
%% written in a loop when the power goes, and the ring log's spool.
-module(sysport_system_power).

-export([data_before_power_cut/1, data_after_power_cut/1, data_before_stop/1, data_after_stop/1,
         power_cut_load/1, power_cut_kv/1, power_cut_ringlog/1, reboot_prepare/1, reboot_records/1]).

-import(sysport_system_lib, [sh_ok/1, read_trimmed/1, all_true/1]).

-type result() :: sysport_system_guest:result().

-define(RECORD_BYTES, 14).     % "record 000001\n"
-define(SYNC_EVERY, 10).
-define(COUNTER, <<"power_cut_counter">>).
%% The test's own log records: kept off the console (sys.config).
-define(DOMAIN, #{domain => [sysport_system_test]}).
-define(REBOOT_RECORDS, 1000).

%% A file written and synced, then records appended and synced every
%% ?SYNC_EVERY records by a worker that keeps going until the host cuts
%% the power; each sync is reported as a fact.
-spec data_before_power_cut(sysport_system_guest:ctx()) -> result().
data_before_power_cut(_Ctx) ->
    Dir = sysport_system_lib:test_dir(),
    Seed = erlang:unique_integer([positive]) bxor os:system_time(),
    ok = write_synced(filename:join(Dir, "before-power-cut"), sysport_system_lib:seeded_bytes(Seed, 65536)),
    _ = sh_ok("sync"),
    sysport_system_guest:fact(power_cut_seed, Seed),
    Self = self(),
    _ = spawn(fun() -> append_records(filename:join(Dir, "appended"), Self) end),
    receive {synced, N} when N >= ?SYNC_EVERY -> ok after 10000 -> {fail, appender_never_synced} end.

append_records(Path, Tell) ->
    {ok, Fd} = file:open(Path, [write, raw, binary]),
    append_records(Fd, Tell, 1).

append_records(Fd, Tell, N) ->
    ok = file:write(Fd, io_lib:format("record ~6..0b~n", [N])),
    case N rem ?SYNC_EVERY of
        0 ->
            ok = file:datasync(Fd),
            sysport_system_guest:fact(appended_synced, N),
            Tell ! {synced, N},
            ok;
        _ -> ok
    end,
    timer:sleep(5),
    append_records(Fd, Tell, N + 1).

%% After the power cut: it really was one (e2fsck, run by PID 1 before
%% mounting, replayed the journal), the partition mounts read-write, the
%% synced file is intact, and the appended records are whole and in order
%% up to at least the last sync the guest reported before the cut.
-spec data_after_power_cut(sysport_system_guest:ctx()) -> result().
data_after_power_cut(#{facts := Facts}) ->
    Dir = sysport_system_lib:test_dir(),
    {Fsck, Replayed} = fsck_result(),
    Seed = binary_to_integer(maps:get(<<"power_cut_seed">>, Facts)),
    Synced = binary_to_integer(maps:get(<<"appended_synced">>, Facts)),
    {ok, File} = file:read_file(filename:join(Dir, "before-power-cut")),
    {ok, Appended} = file:read_file(filename:join(Dir, "appended")),
    {Whole, Tail} = whole_records(Appended),
    sysport_system_guest:info("after the power cut: e2fsck -p exited ~b (journal replayed: ~p); "
                              "~b records synced, ~b whole records and ~b tail bytes found",
                              [Fsck, Replayed, Synced, Whole, byte_size(Tail)]),
    all_true([{fsck_fixed_or_clean, Fsck =< 1},
              {cut_was_unclean, Replayed},
              {writable, file:write_file(filename:join(Dir, "probe"), <<"x">>) =:= ok},
              {synced_file_intact, File =:= sysport_system_lib:seeded_bytes(Seed, 65536)},
              {records_up_to_last_sync, Whole >= Synced},
              {tail_is_a_partial_record, Tail =:= binary:part(record(Whole + 1), 0, byte_size(Tail))}]).

record(N) ->
    iolist_to_binary(io_lib:format("record ~6..0b~n", [N])).

%% The number of whole records in order from 1, and what follows them.
whole_records(Bin) ->
    whole_records(Bin, 0).

whole_records(Bin, N) ->
    Next = record(N + 1),
    case Bin of
        <<Next:?RECORD_BYTES/binary, Rest/binary>> -> whole_records(Rest, N + 1);
        _ -> {N, Bin}
    end.

%% A file written without any sync: only the orderly shutdown (init:stop,
%% then PID 1's sync and unmount) can bring it to the next boot.
-spec data_before_stop(sysport_system_guest:ctx()) -> result().
data_before_stop(_Ctx) ->
    Seed = erlang:unique_integer([positive]) bxor os:system_time(),
    ok = file:write_file(filename:join(sysport_system_lib:test_dir(), "before-stop"),
                         sysport_system_lib:seeded_bytes(Seed, 65536)),
    sysport_system_guest:fact(stop_seed, Seed).

%% After init:stop(): the unsynced file is there and the partition was
%% unmounted cleanly (e2fsck -p had no journal to replay, nothing to fix).
-spec data_after_stop(sysport_system_guest:ctx()) -> result().
data_after_stop(#{facts := Facts}) ->
    Seed = binary_to_integer(maps:get(<<"stop_seed">>, Facts)),
    {Fsck, Replayed} = fsck_result(),
    Read = file:read_file(filename:join(sysport_system_lib:test_dir(), "before-stop")),
    all_true([{fsck_clean, Fsck =:= 0}, {unmounted_cleanly, not Replayed},
              {file_intact, Read =:= {ok, sysport_system_lib:seeded_bytes(Seed, 65536)}}]).
%%% Services under load when the power goes

%% Workers that never stop: sysport_kv:put/2 of an ever larger counter,
%% each acknowledged put told to the host (FACT kv_acked N), and a logger
%% writing "power cut N" about every millisecond while a watcher tells the
%% host each new synced seq of the ring log (FACT ringlog_synced_seq S).
%% The check returns once they run; the guest then says POWER-CUT and the
%% host kills QEMU while they still write. The env's other keys are told
%% too (as a hash), to be found unchanged.
-spec power_cut_load(sysport_system_guest:ctx()) -> result().
power_cut_load(_Ctx) ->
    {ok, Env} = sysport_kv:get_all(),
    sysport_system_guest:fact(kv_others, env_hash(Env)),
    Self = self(),
    _ = spawn(fun() -> kv_writer(Self, 1) end),
    _ = spawn(fun() -> power_cut_logger(1) end),
    _ = spawn(fun() -> sync_watcher(Self, 0) end),
    Kv = receive {kv_acked, 10} -> ok after 20000 -> kv_writer_stalled end,
    %% Two syncs while it logs: the cut comes in the middle of the flood.
    Synced = [receive {synced, S} -> S after 10000 -> ringlog_never_synced end || _ <- [1, 2]],
    all_true([{kv_writes, Kv}, {ringlog_syncs, lists:all(fun is_integer/1, Synced) orelse Synced}]).

power_cut_logger(N) ->
    logger:notice("power cut ~b", [N], ?DOMAIN),
    timer:sleep(1),
    power_cut_logger(N + 1).

sync_watcher(Tell, Last) ->
    timer:sleep(20),
    case sysport_ringlog:status() of
        {ok, #{synced_seq := S}} when S > Last ->
            sysport_system_guest:fact(ringlog_synced_seq, S),
            Tell ! {synced, S},
            sync_watcher(Tell, S);
        _ ->
            sync_watcher(Tell, Last)
    end.

kv_writer(Tell, N) ->
    case sysport_kv:put(?COUNTER, integer_to_binary(N)) of
        ok ->
            sysport_system_guest:fact(kv_acked, N),
            N =< 10 andalso (Tell ! {kv_acked, N}),
            kv_writer(Tell, N + 1);
        Error ->
            sysport_system_guest:info("power_cut_load: put ~b failed: ~0p", [N, Error])
    end.

env_hash(Env) ->
    erlang:phash2(lists:sort(maps:to_list(maps:remove(?COUNTER, Env)))).

%% After the cut: the env is valid for sysport and for fw_printenv alike
%% (a copy torn by the cut is allowed; both torn is not), its counter is
%% the last acknowledged put or the one in flight, and nothing else moved.
-spec power_cut_kv(sysport_system_guest:ctx()) -> result().
power_cut_kv(#{facts := Facts}) ->
    Acked = binary_to_integer(maps:get(<<"kv_acked">>, Facts)),
    Others = binary_to_integer(maps:get(<<"kv_others">>, Facts)),
    Read = sysport_kv:get_all(),
    {ok, #{env_state := State}} = sysport_kv:status(),
    Printed = catch sysport_system_lib:fw_printenv(),
    Copies = [{C, F, maps:get(?COUNTER, V, none)} || #{crc_ok := C, flags := F, vars := V}
                                                        <- sysport_system_lib:env_copies()],
    sysport_system_guest:info("power_cut_kv: ~b puts acknowledged before the cut; copies (crc ok, flags, counter): ~0p",
                              [Acked, Copies]),
    case Read of
        {ok, Env} ->
            Counter = binary_to_integer(maps:get(?COUNTER, Env, <<"-1">>)),
            %% The counters of the copies whose CRC holds (none: no counter).
            Valid = [C || {true, _, C} <- Copies],
            ValidCounters = [binary_to_integer(C) || C <- Valid, C =/= none],
            campaign_add(Facts, [{campaign_cuts, 1}, {campaign_puts_acked, Acked},
                                 {campaign_puts_found, min(Counter, Acked)}]),
            all_true([{state_ok, State =:= ok orelse State},
                      {acked_or_in_flight, Counter =:= Acked orelse Counter =:= Acked + 1 orelse {Counter, Acked}},
                      {a_copy_crc_ok, Valid =/= [] orelse Copies},
                      %% Each copy whose CRC holds has a put that was made,
                      %% and the one sysport reads is the newest of them.
                      {no_copy_invented, lists:all(fun(C) -> C =< Acked + 1 end, ValidCounters) orelse Copies},
                      {newest_copy_read, lists:all(fun(C) -> C =< Counter end, ValidCounters) orelse Copies},
                      {other_keys_unchanged, env_hash(Env) =:= Others},
                      {fw_printenv_agrees, Printed =:= Env orelse Printed}]);
        Error ->
            {fail, {get_all, Error, Copies}}
    end.

%% After the cut: the previous boot's records are all there, without a
%% gap, up to at least the last synced seq told before the cut; its
%% "power cut N" records run 1, 2, 3... in order, none invented; and this
%% boot's spool record, the recovery report, counts the records of
%% every earlier boot the spool holds (one after the first cut, more in the
%% campaign).
%% The spool's recovery report: a record of this boot once its helper has
%% read the whole file.
spool_report() ->
    Read = fun() -> case sysport_ringlog:grep("ringlog: spool ", #{boot => current}) of
                        {ok, [R | _]} -> R;
                        _ -> none
                    end
           end,
    Deadline = erlang:monotonic_time(millisecond) + 30000,
    spool_report(Read, Deadline).

spool_report(Read, Deadline) ->
    case Read() of
        none ->
            case erlang:monotonic_time(millisecond) < Deadline of
                true -> timer:sleep(50), spool_report(Read, Deadline);
                false -> #{msg => <<"no spool report">>}
            end;
        R -> R
    end.

-spec power_cut_ringlog(sysport_system_guest:ctx()) -> result().
power_cut_ringlog(#{facts := Facts}) ->
    Synced = binary_to_integer(maps:get(<<"ringlog_synced_seq">>, Facts)),
    {ok, Previous} = sysport_ringlog:get(#{boot => previous}),
    Seqs = [S || #{seq := S} <- Previous],
    Last = lists:max([0 | Seqs]),
    Numbers = [binary_to_integer(N) || #{msg := <<"power cut ", N/binary>>} <- Previous],
    Report = spool_report(),
    Recovered = case re:run(maps:get(msg, Report), "recovered ([0-9]+) records, discarded ([0-9]+) bytes",
                            [{capture, all_but_first, binary}]) of
                    {match, [R, D]} -> {binary_to_integer(R), binary_to_integer(D)};
                    nomatch -> {no_recovery_report, Report}
                end,
    sysport_system_guest:info("power_cut_ringlog: synced seq ~b told before the cut, ~b records found (last seq ~b), "
                              "~b \"power cut\" records; recovery (records, discarded bytes): ~0p",
                              [Synced, length(Previous), Last, length(Numbers), Recovered]),
    campaign_add(Facts, [{campaign_records_synced, Synced},
                         {campaign_records_found, length([S || S <- Seqs, S =< Synced])}]),
    {ok, Boots} = sysport_ringlog:boots(),
    Earlier = lists:sum([R || #{current := false, records := R} <- Boots]),
    all_true([{up_to_synced_seq, Last >= Synced orelse {Last, Synced}},
              {no_gap, Seqs =:= lists:seq(1, Last) orelse first_gap(Seqs, 1)},
              {power_cut_records_in_order, Numbers =/= [] andalso Numbers =:= lists:seq(1, length(Numbers))
                                           orelse first_gap(Numbers, 1)},
              {recovery_counts_them, element(1, Recovered) =:= Earlier orelse {Recovered, Earlier}}]).

first_gap([N | Rest], N) -> first_gap(Rest, N + 1);
first_gap([], _) -> none;
first_gap([Got | _], Expected) -> {expected, Expected, got, Got}.

%% Records below the immediate-sync level (info), as fast as the handler
%% takes them; the seq of the last one is told to the host. The boot then
%% ends with init:stop(): the handler and the spool helper must write and
%% sync them on the way down.
-spec reboot_prepare(sysport_system_guest:ctx()) -> result().
reboot_prepare(_Ctx) ->
    [logger:info("reboot record ~b", [N], ?DOMAIN) || N <- lists:seq(1, ?REBOOT_RECORDS)],
    %% The handler hands records to the server without waiting (unless it
    %% is behind): a call from this process comes after all of them.
    {ok, #{synced_seq := Synced}} = sysport_ringlog:status(),
    {ok, Recs} = sysport_ringlog:grep(<<"reboot record ">>, #{boot => current}),
    case [S || #{seq := S, msg := M} <- Recs, M =:= iolist_to_binary(io_lib:format("reboot record ~b", [?REBOOT_RECORDS]))] of
        [Last] ->
            sysport_system_guest:fact(stop_last_seq, Last),
            sysport_system_guest:info("reboot_prepare: ~b records, the last at seq ~b, synced so far ~b",
                                      [length(Recs), Last, Synced]),
            all_true([{all_in_ring, length(Recs) =:= ?REBOOT_RECORDS orelse length(Recs)}]);
        Found ->
            {fail, {last_reboot_record, Found, length(Recs), logger:get_primary_config()}}
    end.

%% After the orderly stop: the previous boot's records run without a gap
%% up to stop_last_seq, and the 1,000 records logged just before it are
%% all there, in order.
-spec reboot_records(sysport_system_guest:ctx()) -> result().
reboot_records(#{facts := Facts}) ->
    LastSeq = binary_to_integer(maps:get(<<"stop_last_seq">>, Facts)),
    {ok, Previous} = sysport_ringlog:get(#{boot => previous}),
    Seqs = [S || #{seq := S} <- Previous],
    Numbers = [binary_to_integer(N) || #{msg := <<"reboot record ", N/binary>>} <- Previous],
    sysport_system_guest:info("reboot_records: ~b records of the previous boot, last seq ~b (stop_last_seq ~b)",
                              [length(Previous), lists:max([0 | Seqs]), LastSeq]),
    all_true([{no_gap_up_to_last, lists:sublist(Seqs, LastSeq) =:= lists:seq(1, LastSeq)
                                  orelse first_gap(Seqs, 1)},
              {reboot_records, Numbers =:= lists:seq(1, ?REBOOT_RECORDS) orelse first_gap(Numbers, 1)}]).

%%% Helpers

%% The campaign's running totals, told to the host as facts: what the
%% earlier boots told, plus this cut's.
campaign_add(Facts, Adds) ->
    [sysport_system_guest:fact(K, binary_to_integer(maps:get(atom_to_binary(K), Facts, <<"0">>)) + N)
     || {K, N} <- Adds],
    ok.

%% PID 1 ran e2fsck -p before mounting /data: its exit status and whether
%% it had to replay the journal (the filesystem was not unmounted).
fsck_result() ->
    {ok, Status} = read_trimmed("/run/sysport-init/fsck"),
    {ok, Log} = file:read_file("/run/sysport-init/fsck.log"),
    {binary_to_integer(Status), binary:match(Log, <<"recovering journal">>) =/= nomatch}.

write_synced(Path, Data) ->
    {ok, Fd} = file:open(Path, [write, raw, binary]),
    ok = file:write(Fd, Data),
    ok = file:sync(Fd),
    file:close(Fd).
