%% @doc The system test's checks across a power cut and an orderly stop:
%% the data partition itself (a synced file, records appended and synced
%% until the cut, a file only an orderly stop can save), and the services
%% that must not lose or corrupt what they had acknowledged: the U-Boot env
%% written in a loop when the power goes, and the ring log's spool.
-module(sysport_system_power).

-export([data_before_power_cut/1, data_after_power_cut/1, data_before_stop/1, data_after_stop/1,
         power_cut_load/1, power_cut_kv/1]).

-import(sysport_system_lib, [sh_ok/1, read_trimmed/1, all_true/1]).

-type result() :: sysport_system_guest:result().

-define(RECORD_BYTES, 14).     % "record 000001\n"
-define(SYNC_EVERY, 10).
-define(COUNTER, <<"power_cut_counter">>).

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
%% each acknowledged put told to the host (FACT kv_acked N). The check
%% returns once they run; the guest then says POWER-CUT and the host kills
%% QEMU while they still write. The env's other keys are told too (as a
%% hash), to be found unchanged.
-spec power_cut_load(sysport_system_guest:ctx()) -> result().
power_cut_load(_Ctx) ->
    {ok, Env} = sysport_kv:get_all(),
    sysport_system_guest:fact(kv_others, env_hash(Env)),
    Self = self(),
    _ = spawn(fun() -> kv_writer(Self, 1) end),
    receive {kv_acked, 10} -> ok
    after 20000 -> {fail, kv_writer_stalled}
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
    {ok, #{state := State}} = sysport_kv:status(),
    Printed = catch sysport_system_lib:fw_printenv(),
    Copies = [{C, F, maps:get(?COUNTER, V, none)} || #{crc_ok := C, flags := F, vars := V}
                                                        <- sysport_system_lib:env_copies()],
    sysport_system_guest:info("power_cut_kv: ~b puts acknowledged before the cut; copies (crc ok, flags, counter): ~0p",
                              [Acked, Copies]),
    case Read of
        {ok, Env} ->
            Counter = binary_to_integer(maps:get(?COUNTER, Env, <<"-1">>)),
            all_true([{state_ok, State =:= ok orelse State},
                      {acked_or_in_flight, Counter =:= Acked orelse Counter =:= Acked + 1 orelse {Counter, Acked}},
                      {other_keys_unchanged, env_hash(Env) =:= Others},
                      {fw_printenv_agrees, Printed =:= Env orelse Printed}]);
        Error ->
            {fail, {get_all, Error, Copies}}
    end.

%%% Helpers

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
