%% @doc The checks of the QEMU system test that concern the machine itself:
%% the VM, the foundation's port owner, and the hardware the services use,
%% seen without them. One function per check, run in the guest in the
%% order plan.config lists them (sysport_system_guest finds a check in
%% this module or in sysport_system_services, sysport_system_kv,
%% sysport_system_power). A check returns `ok' or `{fail, Why}'; a crash
%% or a timeout is a FAIL too. Checks may leave workers running (the
%% power-cut checks do) and may tell later boots something with
%% sysport_system_guest:fact/2 (they read it in `maps:get(facts, Ctx)',
%% keys and values as binaries).
-module(sysport_system_checks).

-export([vm_boots/1, sysport_starts/1, helpers_confined/1, testhelper_port/1, rtc_hwclock/1,
         lm75_hwmon/1, mtdram/1, uboot_env/1]).

-include_lib("kernel/include/file.hrl").

-import(sysport_system_lib, [sh_ok/1, read_trimmed/1, all_true/1]).

-define(TESTHELPER, "/usr/lib/sysport_system_test/sysport_testhelper").

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

%% On the real kernel, as root with every capability: each helper holds
%% exactly its service's capabilities (bounding set too), NoNewPrivs 1,
%% Seccomp 2 with one filter, as its ready info says
%% (sysport_sandbox_expect, shared with sysport_sandbox_SUITE); uevent's
%% autoload process CAP_SYS_MODULE alone.
-spec helpers_confined(sysport_system_guest:ctx()) -> result().
helpers_confined(_Ctx) ->
    Helpers = [{S, Pid, Sandbox} || #{service := S, status := #{helper := #{os_pid := Pid, sandbox := Sandbox}}}
                                        <- sysport:services()],
    {ok, Services} = application:get_env(sysport, services),
    {ok, #{helper := #{os_pid := Reader}}} = sysport_uevent:status(),
    R = integer_to_list(Reader),
    {ok, Children} = file:read_file("/proc/" ++ R ++ "/task/" ++ R ++ "/children"),
    all_true([{every_service_has_a_helper, length(Helpers) =:= length(Services)}]
             ++ [{S, sysport_sandbox_expect:check(S, Pid, {Sandbox, production})} || {S, Pid, Sandbox} <- Helpers]
             ++ [{autoload, case string:lexemes(binary_to_list(Children), " \n") of
                                [A] -> sysport_sandbox_expect:check_autoload(list_to_integer(A));
                                Other -> {children, Other}
                            end}]).

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
    Rtc = sysport_system_lib:hwclock(),
    System = os:system_time(second),
    sysport_system_guest:info("rtc0 ~ts reads ~b, the system clock ~b", [Name, Rtc, System]),
    all_true([{rtc_cmos, binary:match(Name, <<"rtc_cmos">>) =/= nomatch},
              {agrees_with_system_clock, abs(Rtc - System) =< 2}]).

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

%%% Helpers

is_device(Path) ->
    case file:read_file_info(Path) of
        {ok, #file_info{type = device}} -> true;
        _ -> false
    end.
