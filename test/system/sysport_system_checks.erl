%% @doc The checks of the QEMU system test, one function per check, run in
%% the guest in the order plan.config lists them. A check returns `ok' or
%% `{fail, Why}'; a crash or a timeout is a FAIL too. Checks may leave
%% workers running (the power-cut checks do) and may tell later boots
%% something with sysport_system_guest:fact/2 (they read it in
%% `maps:get(facts, Ctx)', keys and values as binaries).
%%
%% The service checks of issue 9 (kmsg, time, NTP, sensors, uevent, kv,
%% power cut, reboot) are added here as the services land; what each must
%% do is written down in test/system/PENDING.md.
-module(sysport_system_checks).

-export([vm_boots/1, sysport_starts/1, testhelper_port/1, rtc_hwclock/1,
         lm75_hwmon/1, mtdram/1, uboot_env/1,
         data_before_power_cut/1, data_after_power_cut/1,
         data_before_stop/1, data_after_stop/1]).

-include_lib("kernel/include/file.hrl").

-import(sysport_system_lib, [sh_ok/1, read_trimmed/1]).

-define(TESTHELPER, "/usr/lib/sysport-test/sysport_testhelper").
-define(RECORD_BYTES, 14).     % "record 000001\n"
-define(SYNC_EVERY, 10).

-type result() :: ok | {fail, term()}.

%%% The machine

%% The guest is the machine we built: our PID 1, the initramfs as root,
%% the data partition on the virtio disk mounted read-write at /data, the
%% VM's environment and the loopback interface up.
-spec vm_boots(sysport_system_guest:ctx()) -> result().
vm_boots(_Ctx) ->
    {ok, Init} = read_trimmed("/proc/1/comm"),
    {ok, Mounts} = file:read_file("/proc/mounts"),
    {ok, LoFlags} = read_trimmed("/sys/class/net/lo/flags"),
    {ok, Host} = inet:gethostname(),
    Checks = [{pid1_is_our_init, Init =:= <<"init">>},
              {data_mounted_rw, re:run(Mounts, "^/dev/vda1 /data ext4 rw[, ]", [multiline]) =/= nomatch},
              {lo_up, binary_to_integer(binary:part(LoFlags, 2, byte_size(LoFlags) - 2), 16) band 1 =:= 1},
              {hostname, Host =:= "sysport-qemu"},
              {home, os:getenv("HOME") =:= "/root"},
              {fsck_ran, filelib:is_regular("/run/sysport-init/fsck")}],
    all_true(Checks).

%% The application starts with the foundation's defaults (data_dir on the
%% data partition) and every service named in its env is running.
-spec sysport_starts(sysport_system_guest:ctx()) -> result().
sysport_starts(_Ctx) ->
    {ok, _} = application:ensure_all_started(sysport),
    {ok, Services} = application:get_env(sysport, services),
    Running = [S || #{service := S, pid := Pid, status := #{}} <- sysport:services(), is_pid(Pid)],
    all_true([{data_dir, sysport_env:data_dir() =:= <<"/data/sysport">>},
              {data_dir_exists, filelib:is_dir("/data/sysport")},
              {services_running, lists:sort(Running) =:= lists:sort(Services)}]).

%% The foundation's port owner drives a real helper inside the guest: a
%% call, an echo, events, and a restart after kill -9.
-spec testhelper_port(sysport_system_guest:ctx()) -> result().
testhelper_port(_Ctx) ->
    process_flag(trap_exit, true),
    {ok, P} = sysport_port:start_link(#{helper => ?TESTHELPER, owner => self(), backoff_min => 50}),
    ok = receive {sysport_port, P, {ready, _}} -> ok after 5000 -> no_ready end,
    ok = sysport_port:call(P, ping),
    Term = {<<"κόσμε"/utf8>>, [1, 2.5, #{a => b}]},
    {ok, Term} = sysport_port:call(P, {echo, Term}),
    {ok, 3} = sysport_port:call(P, {events, 3, 8}),
    Ticks = [receive {sysport_port, P, {event, {tick, I, _}}} -> I after 2000 -> missing end
             || _ <- [1, 2, 3]],
    #{os_pid := Os} = sysport_port:stats(P),
    _ = sh_ok(["kill -9 ", integer_to_list(Os)]),
    Exit = receive {sysport_port, P, {exited, S}} -> S after 5000 -> no_exit end,
    Again = receive {sysport_port, P, {ready, _}} -> ok after 5000 -> no_restart end,
    Ping = sysport_port:call(P, ping),
    #{restarts := Restarts} = sysport_port:stats(P),
    sysport_port:stop(P),
    all_true([{events, Ticks =:= [0, 1, 2]}, {killed, Exit =:= {signal, sigkill} orelse Exit},
              {restarted, Again}, {ping_after_restart, Ping}, {restarts, Restarts =:= 1}]).

%%% Hardware the services will use

%% /dev/rtc0 is QEMU's CMOS clock, and what busybox hwclock reads from it
%% (UTC) agrees with the system clock (set from it at boot) within 2 s.
-spec rtc_hwclock(sysport_system_guest:ctx()) -> result().
rtc_hwclock(_Ctx) ->
    {ok, Name} = read_trimmed("/sys/class/rtc/rtc0/name"),
    Out = sh_ok("TZ=UTC0 hwclock -r -u -f /dev/rtc0"),
    System = os:system_time(second),
    Rtc = parse_ctime(Out),
    sysport_system_guest:info("rtc0 ~ts reads ~ts (system ~b, rtc ~b)",
                              [Name, string:trim(Out), System, Rtc]),
    all_true([{rtc_cmos, binary:match(Name, <<"rtc_cmos">>) =/= nomatch},
              {agrees_with_system_clock, abs(Rtc - System) =< 2}]).

%% "Sun Nov 24 21:03:00 2024  0.000000 seconds" (ctime, UTC here).
parse_ctime(Text) ->
    Re = "([A-Z][a-z]{2}) +([0-9]{1,2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([0-9]{4})",
    {match, [Mon, D, H, Mi, S, Y]} = re:run(Text, Re, [{capture, all_but_first, list}]),
    Month = string:str("JanFebMarAprMayJunJulAugSepOctNovDec", Mon) div 3 + 1,
    [Day, Hour, Min, Sec, Year] = [list_to_integer(X) || X <- [D, H, Mi, S, Y]],
    calendar:datetime_to_gregorian_seconds({{Year, Month, Day}, {Hour, Min, Sec}})
        - calendar:datetime_to_gregorian_seconds({{1970, 1, 1}, {0, 0, 0}}).

%% i2c-stub at 0x48 with lm75: new_device makes a hwmon chip whose
%% temp1_input follows what busybox i2cset writes into the stub.
-spec lm75_hwmon(sysport_system_guest:ctx()) -> result().
lm75_hwmon(_Ctx) ->
    #{bus := Bus, hwmon := Hwmon} = sysport_system_lib:lm75(),
    Input = filename:join(Hwmon, "temp1_input"),
    Follows = [begin
                   ok = sysport_system_lib:lm75_set_millicelsius(Bus, MilliC),
                   {ok, Read} = read_trimmed(Input),
                   {MilliC, binary_to_integer(Read)}
               end || MilliC <- [25500, -10000, 87000]],
    sysport_system_guest:info("lm75 on i2c-~b at ~ts: ~0p", [Bus, Hwmon, Follows]),
    all_true([{{temp1_input, M}, M =:= R} || {M, R} <- Follows]).

%% mtdram makes an MTD device with the geometry we asked for, /dev/mtdN
%% exists, and its last erase block takes a write and reads it back.
-spec mtdram(sysport_system_guest:ctx()) -> result().
mtdram(_Ctx) ->
    #{dev := Dev, size := Size, erasesize := Erase,
      expected_size := ExpSize, expected_erasesize := ExpErase} = sysport_system_lib:mtdram(),
    {ok, Type} = read_trimmed(filename:join(["/sys/class/mtd", filename:basename(Dev), "type"])),
    Block = sysport_system_lib:seeded_bytes(erlang:unique_integer(), Erase),
    {ok, Fd} = file:open(Dev, [read, write, raw, binary]),
    ok = file:pwrite(Fd, Size - Erase, Block),
    {ok, Back} = file:pread(Fd, Size - Erase, Erase),
    ok = file:close(Fd),
    all_true([{size, Size =:= ExpSize}, {erasesize, Erase =:= ExpErase},
              {type_ram, Type =:= <<"ram">>}, {char_device, is_device(Dev)},
              {write_read_back, Back =:= Block}]).

%% The redundant env made on the host with mkenvimage -r is on the disk at
%% 0x100000: both copies' CRCs hold, the flags say copy 1 is the newer, and
%% libubootenv's fw_printenv in the guest prints exactly the host's text.
-spec uboot_env(sysport_system_guest:ctx()) -> result().
uboot_env(_Ctx) ->
    Expected = sysport_system_lib:env_text(),
    [New, Old] = sysport_system_lib:env_copies(),
    Printed = sysport_system_lib:fw_printenv(),
    all_true([{copy1_crc, maps:get(crc_ok, New)}, {copy2_crc, maps:get(crc_ok, Old)},
              {flags, {maps:get(flags, New), maps:get(flags, Old)} =:= {1, 0}},
              {copy1_is_host_text, maps:get(vars, New) =:= Expected},
              {copy2_is_older, maps:get(<<"sysport_test_generation">>, maps:get(vars, Old)) =:= <<"1">>},
              {fw_printenv_reads_newer, Printed =:= Expected}]).

%%% The data partition across a power cut and an orderly stop

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

%%% Helpers

is_device(Path) ->
    case file:read_file_info(Path) of
        {ok, #file_info{type = device}} -> true;
        _ -> false
    end.

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

%% ok, or the names of the sub-checks that did not hold.
all_true(Checks) ->
    case [Name || {Name, Value} <- Checks, Value =/= true andalso Value =/= ok] of
        [] -> ok;
        Failed -> {fail, [{Name, V} || {Name, V} <- Checks, lists:member(Name, Failed)]}
    end.
