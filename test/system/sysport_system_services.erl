%% @doc The system test's checks of the services against the real machine:
%% the kernel log of this boot, the RTC and the real clock (set by hand and
%% stepped by NTP), kernel uevents while modules load, and a hwmon chip that
%% appears after boot. The U-Boot env is in sysport_system_kv, the power cut
%% and the reboot in sysport_system_power.
-module(sysport_system_services).

-export([kmsg_linux_version/1, rtc_time/1, ntp_step/1, uevent_seqnum/1, sensors_lm75/1]).

-import(sysport_system_lib, [all_true/1, wait_until/2, clock_offset_ms/0]).

-define(DAY_MS, 86400000).
-define(HOUR_MS, 3600000).
%% How far a step may miss: the set_time call itself, a burst's delay.
-define(STEP_SLACK_MS, 500).
%% busybox hwclock against the system clock: both truncate to the second.
-define(RTC_SLACK_S, 2).
-define(NTP_PORT, 12123).

%%% kmsg

%% The kernel's banner of this boot ("Linux version ...", what /proc/version
%% prints too) is the first record of /dev/kmsg, at notice, and
%% sysport_kmsg:dmesg() returns it as such; sysport_kmsg forwarded it to
%% logger, so the ring log holds it for this boot with the kernel's domain
%% and seq (sys.config keeps the kmsg_seq metadata).
-spec kmsg_linux_version(sysport_system_guest:ctx()) -> sysport_system_guest:result().
kmsg_linux_version(_Ctx) ->
    {ok, Version} = file:read_file("/proc/version"),
    Banner = string:trim(Version, trailing, "\n"),
    {ok, Records} = sysport_kmsg:dmesg(),
    Logged = wait_until(fun() ->
                                case sysport_ringlog:grep(<<"Linux version">>, #{boot => current}) of
                                    {ok, [_ | _] = Found} -> {ok, Found};
                                    _ -> false
                                end
                        end, 10000),
    case [R || #{message := <<"Linux version ", _/binary>>} = R <- Records] of
        [#{seq := Seq, level := Level, facility := Facility, message := Message}] ->
            all_true([{first_record, Seq =:= 0}, {level_notice, Level =:= notice},
                      {facility_kern, Facility =:= kern},
                      {same_as_proc_version, Message =:= Banner orelse {Message, Banner}},
                      {in_ring_log, case Logged of
                                        {ok, [#{msg := Banner, level := notice, domain := [<<"kernel">>],
                                                meta := #{<<"kmsg_seq">> := <<"0">>}}]} -> true;
                                        _ -> Logged
                                    end}]);
        Found ->
            {fail, {linux_version_records, Found, length(Records)}}
    end.

%%% time

%% The RTC agrees with the system clock, and set_time/1 moves the real
%% clock (clock_settime: the guest's sysport_time runs the system backend,
%% whatever the host's environment said) and writes the RTC, which busybox
%% hwclock reads back. The clock is put back at the end.
-spec rtc_time(sysport_system_guest:ctx()) -> sysport_system_guest:result().
rtc_time(_Ctx) ->
    {ok, Status} = sysport_time:status(),
    {ok, #{time := Rtc}} = sysport_time:rtc_read(),
    System = os:system_time(second),
    ok = sysport_time:subscribe(),
    True = true_time(),
    Writes0 = rtc_writes(Status),
    Moved = step_by_hand(True, ?DAY_MS),
    Step = receive {sysport_time, clock_step, #{reason := manual} = S} -> S
           after 5000 -> no_clock_step end,
    RtcAhead = rtc_follows(Writes0),
    Writes1 = rtc_writes(),
    MovedBack = step_by_hand(True, 0),
    RtcBack = rtc_follows(Writes1),
    forget_time_file(),
    sysport_system_guest:info("rtc_time: set_time moved the clock by ~b ms and back by ~b ms",
                              [Moved, MovedBack]),
    all_true([{system_clock_backend, maps:get(clock, Status) =:= system orelse Status},
              {not_forced_to_recording, maps:get(clock_forced, Status) =:= false},
              {no_clock_env, os:getenv("SYSPORT_TIME_CLOCK") =:= false},
              {rtc_trusted, case maps:get(rtc, Status) of
                                #{device := <<"/dev/rtc0">>, state := ok, trusted := true} -> true;
                                Rtc0 -> Rtc0
                            end},
              {rtc_read_agrees, abs(Rtc - System) =< 1 orelse {Rtc, System}},
              {moved_one_day, abs(Moved - ?DAY_MS) =< ?STEP_SLACK_MS orelse Moved},
              {clock_step_event, is_map(Step) orelse Step},
              {rtc_written_ahead, RtcAhead},
              {moved_back, abs(MovedBack + ?DAY_MS) =< ?STEP_SLACK_MS orelse MovedBack},
              {rtc_written_back, RtcBack}]).

%% The real time, in ms, by the monotonic clock from when the check began:
%% what the clock must read once the test's own steps are undone.
true_time() ->
    Offset = clock_offset_ms(),
    fun() -> erlang:monotonic_time(millisecond) + Offset end.

%% Sets the clock to the true time plus Ahead; how far it moved (ms).
step_by_hand(True, AheadMs) ->
    Before = clock_offset_ms(),
    ok = sysport_time:set_time((True() + AheadMs) / 1000),
    clock_offset_ms() - Before.

%% true once the RTC, written after a step, reads the system time (the
%% write waits for the second's edge; busybox hwclock reads it back) and
%% sysport_time counts one more RTC write than Before. The kernel writes
%% the RTC itself only while adjtimex says synchronized (its 11-minute
%% mode); a step leaves that off, so the write was sysport's.
rtc_follows(Before) ->
    Agrees = fun() -> abs(sysport_system_lib:hwclock() - os:system_time(second)) =< ?RTC_SLACK_S end,
    case wait_until(fun() -> rtc_writes() > Before andalso Agrees() end, 5000) of
        {ok, true} ->
            {ok, #{kernel := Kernel}} = sysport_time:status(),
            maps:get(synchronized, Kernel) =:= false orelse {kernel_rtc_sync, Kernel};
        timeout ->
            {rtc_writes, rtc_writes(), before, Before,
             hwclock, sysport_system_lib:hwclock(), system, os:system_time(second)}
    end.

rtc_writes() ->
    {ok, Status} = sysport_time:status(),
    rtc_writes(Status).

rtc_writes(#{counters := Counters}) ->
    maps:get(rtc_writes, Counters, 0).

%% The time file never goes back, so the test's excursion into the future
%% would become the next boot's floor: remove it (the service writes it
%% again at its next update).
forget_time_file() ->
    {ok, #{time_file := #{path := Path}}} = sysport_time:status(),
    _ = file:delete(Path),
    ok.

%% A real NTP exchange inside the guest: a server on 127.0.0.1 whose clock
%% is an hour ahead makes sysport_time step the real clock by +1 h, write
%% the RTC, and say sync_acquired. The clock is put back at the end.
-spec ntp_step(sysport_system_guest:ctx()) -> sysport_system_guest:result().
ntp_step(_Ctx) ->
    True = true_time(),
    {ok, Server} = sysport_time_responder:start({127, 0, 0, 1}, ?NTP_PORT,
                                                #{skew => ?HOUR_MS * 1000000, anchored => true,
                                                  stratum => 2}),
    ok = sysport_time:subscribe(),
    Before = clock_offset_ms(),
    Writes0 = rtc_writes(),
    ok = sysport_time:set_servers([{"127.0.0.1", ?NTP_PORT}]),
    Step = receive {sysport_time, clock_step, #{reason := ntp} = S} -> S after 10000 -> no_clock_step end,
    Acquired = receive {sysport_time, sync_acquired, A} -> A after 10000 -> no_sync_acquired end,
    Moved = clock_offset_ms() - Before,
    RtcFollowed = rtc_follows(Writes0),
    Synchronized = sysport_time:synchronized(),
    {ok, Status} = sysport_time:status(),
    Requests = sysport_time_responder:requests(Server),
    ok = sysport_time:set_servers([]),
    ok = sysport_time_responder:stop(Server),
    Writes1 = rtc_writes(),
    MovedBack = step_by_hand(True, 0),
    RtcBack = rtc_follows(Writes1),
    forget_time_file(),
    sysport_system_guest:info("ntp_step: ~b requests, stepped by ~b ms (~0p), then back by ~b ms",
                              [Requests, Moved, Step, MovedBack]),
    all_true([{clock_step, is_map(Step) orelse Step},
              {sync_acquired, is_map(Acquired) orelse Acquired},
              {from_our_server, maps:get(server, Acquired, none) =:= <<"127.0.0.1">> orelse Acquired},
              {stratum_2, maps:get(stratum, Status) =:= 2 orelse Status},
              {synchronized, Synchronized =:= {ok, true} orelse Synchronized},
              {stepped_one_hour, abs(Moved - ?HOUR_MS) =< ?STEP_SLACK_MS orelse Moved},
              {rtc_followed, RtcFollowed},
              {moved_back, abs(MovedBack + ?HOUR_MS) =< ?STEP_SLACK_MS orelse MovedBack},
              {rtc_back, RtcBack}]).

%%% uevent

%% Loading a module that makes devices (mtdram: the mtd core, then
%% /dev/mtd0 and mtd0ro) sends uevents whose SEQNUMs run without a gap up to
%% the kernel's own counter, each delivered once; afterwards the table is
%% exactly what sysfs shows.
-spec uevent_seqnum(sysport_system_guest:ctx()) -> sysport_system_guest:result().
uevent_seqnum(_Ctx) ->
    ok = sysport_uevent:subscribe(#{}),
    Start = sysport_system_lib:kernel_seqnum(),
    #{dev := Dev} = sysport_system_lib:mtdram(),
    End = sysport_system_lib:kernel_seqnum(),
    Events = uevents_up_to(End, 5000),
    Seqs = [binary_to_integer(S) || {_, _, #{<<"SEQNUM">> := S}} <- Events],
    MtdPath = <<"/devices/virtual/mtd/", (filename:basename(Dev))/binary>>,
    ok = sysport_uevent:unsubscribe(),
    ok = sysport_uevent:settle(300, 10000),
    {ok, Table} = sysport_uevent:devices(),
    Sysfs = sysport_sysfs:devices(),
    Differs = [{D, maps:get(D, Table, absent), maps:get(D, Sysfs, absent)}
               || D <- lists:usort(maps:keys(Table) ++ maps:keys(Sysfs)),
                  maps:get(D, Table, absent) =/= maps:get(D, Sysfs, absent)],
    sysport_system_guest:info("uevent_seqnum: SEQNUM ~b..~b, ~b events, table of ~b devices",
                              [Start + 1, End, length(Events), map_size(Table)]),
    all_true([{events_came, End > Start},
              {contiguous_to_kernel_seqnum, Seqs =:= lists:seq(Start + 1, End) orelse Seqs},
              {module_add, has_event(add, <<"/module/mtdram">>, <<"module">>, Events)},
              {mtd_device_add, has_event(add, MtdPath, <<"mtd">>, Events)},
              {table_is_sysfs, Differs =:= [] orelse Differs}]).

%% Every event with a SEQNUM up to Last, in arrival order.
uevents_up_to(Last, Ms) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    uevents_up_to(Last, Deadline, []).

uevents_up_to(Last, Deadline, Acc) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {sysport_uevent, Action, #{devpath := DevPath, props := #{<<"SEQNUM">> := S} = Props}} ->
            Acc1 = [{Action, DevPath, Props} | Acc],
            case binary_to_integer(S) >= Last of
                true -> lists:reverse(Acc1);
                false -> uevents_up_to(Last, Deadline, Acc1)
            end
    after Left ->
        lists:reverse(Acc)
    end.

has_event(Action, DevPath, Subsystem, Events) ->
    lists:any(fun({A, P, #{<<"SUBSYSTEM">> := S}}) -> {A, P, S} =:= {Action, DevPath, Subsystem};
                 (_) -> false
              end, Events).

%%% sensors

%% An LM75 that appears after boot: i2c-stub and a new_device write make
%% the i2c client; sysport_uevent's autoload loads lm75 for its MODALIAS
%% (nobody else here loads modules); its hwmon add reaches subscribers and
%% makes sysport_sensors rescan by itself; readings follow what i2cset
%% writes into the chip; a threshold raises and clears exactly one alarm
%% each, with no chatter inside the hysteresis band.
-spec sensors_lm75(sysport_system_guest:ctx()) -> sysport_system_guest:result().
sensors_lm75(_Ctx) ->
    LoadedBefore = filelib:is_dir("/sys/module/lm75"),
    ok = sysport_uevent:subscribe(#{subsystem => <<"hwmon">>}),
    ok = sysport_sensors:subscribe(#{events => [chip_added, alarm_raised, alarm_cleared]}),
    #{bus := Bus, hwmon := Hwmon} = sysport_system_lib:lm75_autoloaded(),
    Chip = sysport_system_lib:lm75_chip(Bus),
    %% The devpath: the real directory, without /sys.
    <<"/sys", HwmonPath/binary>> = string:trim(sysport_system_lib:sh_ok(["readlink -f ", Hwmon])),
    Uevent = receive {sysport_uevent, add, #{devpath := D, props := #{<<"SUBSYSTEM">> := <<"hwmon">>}}} -> D
             after 10000 -> no_hwmon_add end,
    Added = receive {sysport_sensors, chip_added, #{name := Chip}} -> true
            after 10000 -> no_chip_added end,
    %% lm75 is loaded before modprobe exits: its status comes a little later.
    _ = wait_until(fun() -> {ok, #{modprobe := #{runs := R}}} = sysport_uevent:status(),
                            maps:is_key({exit, 0}, R)
                   end, 5000),
    {ok, #{modprobe := Modprobe}} = sysport_uevent:status(),
    ok = sysport_system_lib:lm75_set_millicelsius(Bus, 42000),
    Read = sysport_sensors:read(Chip, <<"temp1">>),
    ok = sysport_sensors:set_threshold(Chip, temp1, #{above => 60.0, clear_below => 55.0}),
    Raised = alarms_at(Bus, 65000),
    Inside = alarms_at(Bus, 57000),
    Cleared = alarms_at(Bus, 50000),
    ok = sysport_sensors:clear_threshold(Chip, temp1),
    ok = sysport_sensors:unsubscribe(),
    ok = sysport_uevent:unsubscribe(),
    sysport_system_guest:info("sensors_lm75: ~ts at ~ts, modprobe ~0p", [Chip, Hwmon, Modprobe]),
    all_true([{lm75_not_loaded_before, not LoadedBefore},
              {autoloaded, filelib:is_dir("/sys/module/lm75")},
              {modprobe_ran_and_succeeded, case Modprobe of
                                               #{runs := #{{exit, 0} := _} = Runs} when map_size(Runs) =:= 1 -> true;
                                               _ -> Modprobe
                                           end},
              {hwmon_add, Uevent =:= HwmonPath orelse {Uevent, HwmonPath}},
              {chip_added_without_rescan, Added},
              {reads_42, element(1, Read) =:= ok andalso maps:get(value, element(2, Read)) == 42.0 orelse Read},
              {one_alarm_raised, match_alarms([alarm_raised], Raised)},
              {none_inside_band, Inside =:= [] orelse Inside},
              {one_alarm_cleared, match_alarms([alarm_cleared], Cleared)}]).

%% Writes a temperature and collects the alarms of the next three polls.
alarms_at(Bus, MilliC) ->
    {ok, #{counters := #{polls := P0}}} = sysport_sensors:status(),
    ok = sysport_system_lib:lm75_set_millicelsius(Bus, MilliC),
    {ok, true} = wait_until(fun() -> {ok, #{counters := #{polls := P}}} = sysport_sensors:status(), P >= P0 + 3 end, 10000),
    collect_alarms().

collect_alarms() ->
    receive {sysport_sensors, Event, Info} when Event =:= alarm_raised; Event =:= alarm_cleared ->
                [{Event, maps:get(value, Info, undefined)} | collect_alarms()]
    after 0 -> []
    end.

match_alarms(Expected, Got) ->
    [E || {E, _} <- Got] =:= Expected orelse Got.
