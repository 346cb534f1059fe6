%% The sensors service against a fake hwmon tree (sysport_sensors_fake),
%% with `sensors -j' reading the same tree as the peer. Under `make ct' the
%% helper is the ASan+UBSan build; one case runs the release build under
%% valgrind.
-module(sysport_sensors_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, groups/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([values_match_sensors_j/1, values_match_with_default_config/1, chips_without_values/1,
         read_one_feature/1, set_limits/1, threshold_hysteresis/1, below_threshold/1,
         kernel_alarm/1, thresholds_on_absent_chips/1, hotplug_rescan/1, hotplug_uevent/1, kill9_while_polling/1,
         idle_means_no_polling/1, no_hwmon/1, bad_config/1, bad_requests_to_helper/1,
         bad_arguments/1, shell_prints_like_sensors/1, valgrind_clean/1]).

-define(LM75, <<"lm75-i2c-1-48">>).
-define(VIRT, <<"fakehw-virtual-0">>).
-define(CORE, <<"coretemp-isa-0000">>).

all() ->
    [values_match_sensors_j, values_match_with_default_config, chips_without_values,
     read_one_feature, set_limits, threshold_hysteresis, below_threshold, kernel_alarm,
     thresholds_on_absent_chips,
     hotplug_rescan, hotplug_uevent, kill9_while_polling, idle_means_no_polling, no_hwmon,
     bad_config, bad_requests_to_helper, bad_arguments, shell_prints_like_sensors,
     {group, valgrind}].

groups() ->
    [{valgrind, [], [valgrind_clean]}].

init_per_suite(Config) ->
    case sysport_test_lib:os_cmd("unshare -m --propagation private true 2>&1") of
        {0, _} -> ok;
        {_, Why} -> ct:fail("the fake hwmon tree needs unshare -m (root): ~s", [Why])
    end,
    case os:find_executable("sensors") of
        false -> ct:fail("sensors (lm-sensors) is not installed");
        _ -> Config
    end.

end_per_suite(_Config) ->
    ok.

init_per_testcase(Case, Config) ->
    process_flag(trap_exit, true),
    Dir = filename:join(?config(priv_dir, Config), atom_to_list(Case)),
    sysport_sensors_fake:tree(Dir),
    [{tree, Dir} | Config].

end_per_testcase(_Case, _Config) ->
    sysport_sensors:stop(),
    sysport_test_lib:stop_capture_logs(),
    ok.

start(Config) ->
    start(Config, #{}).

start(Config, Opts) ->
    Tree = ?config(tree, Config),
    Defaults = #{config => sysport_sensors_fake:config(Tree), interval => 50, uevent => false},
    Helper = maps:merge(#{wrapper => sysport_sensors_fake:wrapper(Tree)}, maps:get(helper, Opts, #{})),
    {ok, Pid} = sysport_sensors:start_link(maps:merge(Defaults, Opts#{helper => Helper})),
    Pid.

helper_os_pid() ->
    {ok, #{helper := #{os_pid := OsPid}}} = sysport_test_lib:flat_status(sysport_sensors),
    OsPid.

feature(Chip, Ref) ->
    {ok, F} = sysport_sensors:read(Chip, Ref),
    F.

%% Waits (5 s at most) for a reading of Chip in which Label's value
%% satisfies Pred.
await_value(Chip, Label, Pred) ->
    await_value(Chip, Label, Pred, erlang:monotonic_time(millisecond) + 5000).

await_value(Chip, Label, Pred, Deadline) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {sysport_sensors, reading, #{name := Chip} = C} ->
            {ok, #{value := V}} = sysport_sensors_snapshot:find_feature(Label, C),
            case Pred(V) of
                true -> V;
                false -> await_value(Chip, Label, Pred, Deadline)
            end
    after Left -> ct:fail({no_reading, Chip, Label})
    end.

%% Alarm and chip messages received so far (readings dropped).
events() ->
    receive
        {sysport_sensors, reading, _} -> events();
        {sysport_sensors, Event, Info} -> [{Event, Info} | events()]
    after 0 -> []
    end.

set_and_see(Config, Hwmon, Attr, Value, Chip, Label) ->
    sysport_sensors_fake:write_attr(?config(tree, Config), Hwmon, Attr, Value),
    Expected = Value / 1000,
    await_value(Chip, Label, fun(V) -> V == Expected end).

%%% Cases

values_match_sensors_j(Config) ->
    Tree = ?config(tree, Config),
    start(Config),
    {ok, Chips} = sysport_sensors:read_all(),
    {ok, Peer, PeerErr} = sysport_sensors_fake:peer(Tree, sysport_sensors_fake:config(Tree)),
    ?assertEqual([], sysport_sensors_fake:compare(Peer, Chips)),
    ?assertEqual([?LM75, ?VIRT, ?CORE], [N || #{name := N} <- Chips]),
    ?assert(sysport_sensors_fake:subfeature_count(Chips) >= 50),
    %% The chip the way sensors names it, from the device and subsystem links.
    {ok, Lm75} = sysport_sensors_snapshot:find_chip(?LM75, Chips),
    ?assertMatch(#{prefix := <<"lm75">>, bus := i2c, bus_nr := 1, address := 16#48,
                   adapter := <<"SMBus stub driver">>, path := <<"/sys/class/hwmon/hwmon0">>}, Lm75),
    %% Labels from the config file (Board) and from the driver (CPU).
    {ok, Board} = sysport_sensors_snapshot:find_feature(<<"Board">>, Lm75),
    ?assertMatch(#{name := <<"temp1">>, type := temp, value := 45.5, unit := <<"°C"/utf8>>,
                   limits := #{max := 80.0, max_hyst := 75.0}}, Board),
    {ok, Virt} = sysport_sensors_snapshot:find_chip(?VIRT, Chips),
    ?assertMatch({ok, #{name := <<"temp1">>, value := 27.8, limits := #{max := 80.0, crit := 105.0},
                        alarms := #{alarm := false, crit_alarm := false}}},
                 sysport_sensors_snapshot:find_feature(<<"CPU">>, Virt)),
    ?assertMatch({ok, #{name := <<"in1">>, value := 6.6, unit := <<"V">>}},
                 sysport_sensors_snapshot:find_feature(<<"+5V">>, Virt)),
    {ok, #{value := Vcore}} = sysport_sensors_snapshot:find_feature(<<"Vcore">>, Virt),
    ?assertEqual(math:exp(1.234), Vcore),  % compute in0 ^@ (libm's exp)
    ?assertMatch({ok, #{type := fan, unit := <<"RPM">>, limits := #{min := 500.0}}},
                 sysport_sensors_snapshot:find_feature(<<"CPU Fan">>, Virt)),
    ?assertEqual(error, sysport_sensors_snapshot:find_feature(<<"fan2">>, Virt)),  % ignored
    %% The attributes that cannot be read: sensors said so on stderr, sysport
    %% says so in the subfeature, and the snapshot is whole.
    ?assertNotEqual(nomatch, binary:match(PeerErr, <<"temp2_input">>)),
    {ok, Temp2} = sysport_sensors_snapshot:find_feature(<<"temp2">>, Virt),
    ?assertMatch(#{value := {error, unreadable}, limits := #{max := 70.0}}, Temp2),
    ?assertMatch([#{name := <<"temp2_input">>, readable := true, value := {error, unreadable}} | _],
                 maps:get(subfeatures, Temp2)),
    %% and one that fails as a sensor that does not answer
    ?assertNotEqual(nomatch, binary:match(PeerErr, <<"temp3_input: I/O error">>)),
    ?assertMatch({ok, #{value := {error, eio}}}, sysport_sensors_snapshot:find_feature(<<"temp3">>, Virt)).

values_match_with_default_config(Config) ->
    Tree = ?config(tree, Config),
    start(Config, #{config => default}),
    {ok, Chips} = sysport_sensors:read_all(),
    {ok, Peer, _} = sysport_sensors_fake:peer(Tree, default),
    ?assertEqual([], sysport_sensors_fake:compare(Peer, Chips)),
    ?assertMatch({ok, #{init := ok, config := default}}, sysport_test_lib:flat_status(sysport_sensors)).

chips_without_values(Config) ->
    start(Config),
    {ok, Chips} = sysport_sensors:chips(),
    {ok, Read} = sysport_sensors:read_all(),
    ?assertEqual([N || #{name := N} <- Read], [N || #{name := N} <- Chips]),
    Subs = [S || #{features := Fs} <- Chips, #{subfeatures := Ss} <- Fs, S <- Ss],
    ?assertEqual([], [S || S <- Subs, is_map_key(value, S)]),
    ?assert(lists:all(fun(#{readable := R, writable := W}) -> is_boolean(R) andalso is_boolean(W) end,
                      Subs)).

read_one_feature(Config) ->
    start(Config),
    ByLabel = feature(?LM75, "Board"),
    ?assertEqual(ByLabel, feature(?LM75, <<"temp1">>)),
    ?assertEqual(ByLabel, feature(?LM75, temp1)),
    ?assertMatch({error, {badarg, _}}, sysport_sensors:read(?LM75, {temp, 1})),
    ?assertEqual(45.5, maps:get(value, ByLabel)),
    sysport_sensors_fake:write_attr(?config(tree, Config), "hwmon0", "temp1_input", 51250),
    ?assertEqual(51.25, maps:get(value, feature(?LM75, "Board"))),
    ?assertEqual({error, {no_such_chip, <<"lm75-i2c-9-48">>}}, sysport_sensors:read("lm75-i2c-9-48", "temp1")),
    ?assertEqual({error, {no_such_feature, <<"temp9">>}}, sysport_sensors:read(?LM75, "temp9")).

set_limits(Config) ->
    Tree = ?config(tree, Config),
    start(Config),
    ?assertEqual(ok, sysport_sensors:set(?LM75, "temp1_max", 85.5)),
    {ok, Raw} = file:read_file(filename:join(sysport_sensors_fake:hwmon_dir(Tree, "hwmon0"), "temp1_max")),
    ?assertEqual(<<"85500">>, string:trim(Raw)),
    ?assertMatch(#{limits := #{max := 85.5}}, feature(?LM75, "Board")),
    {ok, Peer, _} = sysport_sensors_fake:peer(Tree, sysport_sensors_fake:config(Tree)),
    ?assertEqual(85.5, proplists:get_value(<<"temp1_max">>,
                                           proplists:get_value(<<"Board">>, proplists:get_value(?LM75, Peer)))),
    %% A limit the driver does not let anyone write (mode 0444).
    ok = file:change_mode(filename:join(sysport_sensors_fake:hwmon_dir(Tree, "hwmon0"), "temp1_max_hyst"), 8#444),
    {ok, _} = sysport_sensors:rescan(),
    ?assertEqual({error, not_writable}, sysport_sensors:set(?LM75, "temp1_max_hyst", 70)),
    ?assertEqual({error, out_of_range}, sysport_sensors:set(?LM75, "temp1_max", 1.0e12)),
    ?assertEqual({error, no_such_subfeature}, sysport_sensors:set(?LM75, "temp1_nope", 1)),
    ?assertEqual({error, no_such_chip}, sysport_sensors:set("nochip-i2c-0-10", "temp1_max", 1)),
    ?assertEqual({error, {badarg, high}}, sysport_sensors:set(?LM75, "temp1_max", high)).

threshold_hysteresis(Config) ->
    start(Config),
    ok = sysport_sensors:subscribe(#{chips => [?LM75]}),
    ok = sysport_sensors:set_threshold(?LM75, "Board", #{above => 50, clear_below => 45.0}),
    await_value(?LM75, <<"Board">>, fun(V) -> V == 45.5 end),
    %% Over the limit, then about inside the band, then under the clear
    %% level, then inside the band again.
    Values = [55000, 48000, 52000, 49000, 44000, 47000, 49500, 46000],
    [set_and_see(Config, "hwmon0", "temp1_input", V, ?LM75, <<"Board">>) || V <- Values],
    ?assertMatch([{alarm_raised, #{chip := ?LM75, feature := <<"temp1">>, label := <<"Board">>,
                                   source := threshold, kind := above, value := 55.0,
                                   limit := 50.0, clear := 45.0}},
                  {alarm_cleared, #{source := threshold, kind := above, value := 44.0}}],
                 events()),
    %% Once more over: a new alarm; clearing the threshold clears it.
    set_and_see(Config, "hwmon0", "temp1_input", 60000, ?LM75, <<"Board">>),
    ?assertMatch({ok, #{active_alarms := [#{chip := ?LM75, kind := above}]}}, sysport_test_lib:flat_status(sysport_sensors)),
    ok = sysport_sensors:clear_threshold(?LM75, "Board"),
    ?assertMatch([{alarm_raised, #{value := 60.0}},
                  {alarm_cleared, #{reason := threshold_removed}}], events()),
    ?assertMatch({ok, #{active_alarms := [], thresholds := 0}}, sysport_test_lib:flat_status(sysport_sensors)).

below_threshold(Config) ->
    start(Config, #{config => default}),  % in0 as the driver gives it
    ok = sysport_sensors:subscribe(#{chips => [?VIRT], events => [alarm_raised, alarm_cleared, reading]}),
    ok = sysport_sensors:set_threshold(?VIRT, <<"in0">>, #{below => 1.0, clear_above => 1.1}),
    [set_and_see(Config, "hwmon1", "in0_input", V, ?VIRT, <<"Vcore">>) || V <- [950, 1050, 990, 1150, 1050]],
    ?assertMatch([{alarm_raised, #{kind := below, value := 0.95, label := <<"Vcore">>}},
                  {alarm_cleared, #{kind := below, value := 1.15}}], events()).

kernel_alarm(Config) ->
    start(Config),
    ok = sysport_sensors:subscribe(#{events => [alarm_raised, alarm_cleared, reading]}),
    await_value(?VIRT, <<"CPU">>, fun(_) -> true end),
    sysport_sensors_fake:write_attr(?config(tree, Config), "hwmon1", "temp1_alarm", 1),
    Raised = receive {sysport_sensors, alarm_raised, I1} -> I1 after 5000 -> ct:fail(no_alarm) end,
    ?assertMatch(#{chip := ?VIRT, feature := <<"temp1">>, label := <<"CPU">>, source := kernel,
                   kind := alarm, subfeature := <<"temp1_alarm">>}, Raised),
    ?assertMatch(#{alarms := #{alarm := true, crit_alarm := false}}, feature(?VIRT, "CPU")),
    sysport_sensors_fake:write_attr(?config(tree, Config), "hwmon1", "temp1_alarm", 0),
    Cleared = receive {sysport_sensors, alarm_cleared, I2} -> I2 after 5000 -> ct:fail(no_clear) end,
    ?assertMatch(#{subfeature := <<"temp1_alarm">>, source := kernel}, Cleared),
    timer:sleep(200),
    ?assertEqual([], events()).

%% Thresholds naming chips that are not there (300 of them, with the
%% longest names) used to go into every poll's request: over the helper's
%% 256 names it answered badarg, over its 64 KiB frame it exited, and every
%% alarm was silently dead. Polls now ask only for chips present; the
%% others' thresholds are listed as waiting, and armed when the chip comes.
thresholds_on_absent_chips(Config) ->
    Tree = ?config(tree, Config),
    start(Config),
    %% Alarms of these two chips only: no subscriber asks for every chip.
    ok = sysport_sensors:subscribe(#{chips => [?LM75, <<"jc42-i2c-1-18">>],
                                     events => [alarm_raised, alarm_cleared]}),
    Absent = [iolist_to_binary([binary:copy(<<"x">>, 240), io_lib:format("-i2c-9-~3..0b", [I])])
              || I <- lists:seq(1, 300)],
    [ok = sysport_sensors:set_threshold(C, "temp1", #{above => 1.0}) || C <- Absent],
    ok = sysport_sensors:set_threshold(?LM75, "Board", #{above => 50.0, clear_below => 45.0}),
    ok = sysport_sensors:set_threshold(?LM75, "no_such", #{above => 1.0}),
    ok = sysport_sensors:set_threshold(<<"jc42-i2c-1-18">>, "temp1", #{above => 30.0}),
    sysport_sensors_fake:write_attr(Tree, "hwmon0", "temp1_input", 55000),
    receive {sysport_sensors, alarm_raised, #{chip := ?LM75, value := 55.0}} -> ok
    after 5000 -> ct:fail(no_alarm)
    end,
    {ok, S} = sysport_test_lib:flat_status(sysport_sensors),
    ?assertMatch(#{thresholds := 303, poll_errors := 0, helper := #{restarts := 0}}, S),
    Waiting = maps:get(thresholds_waiting, S),
    ?assertEqual(302, length(Waiting)),
    ?assert(lists:member(#{chip => ?LM75, feature => <<"no_such">>, reason => no_such_feature}, Waiting)),
    ?assert(lists:member(#{chip => <<"jc42-i2c-1-18">>, feature => <<"temp1">>, reason => no_such_chip}, Waiting)),
    %% The chip comes: its threshold is armed and fires.
    add_jc42(Tree),
    {ok, _} = sysport_sensors:rescan(),
    receive {sysport_sensors, alarm_raised, #{chip := <<"jc42-i2c-1-18">>, value := 33.0}} -> ok
    after 5000 -> ct:fail(no_alarm_after_chip_came)
    end,
    {ok, #{thresholds_waiting := Left}} = sysport_test_lib:flat_status(sysport_sensors),
    ?assertEqual(301, length(Left)),
    %% A bounded number of thresholds; replacing one is always allowed.
    [ok = sysport_sensors:set_threshold(<<"more-i2c-0-", (integer_to_binary(I))/binary>>, "t", #{above => 1})
     || I <- lists:seq(1, 1024 - 303)],
    ?assertEqual({error, too_many_thresholds}, sysport_sensors:set_threshold(<<"one-more-i2c-0-1">>, "t", #{above => 1})),
    ok = sysport_sensors:set_threshold(?LM75, "Board", #{above => 60.0}),
    ?assertMatch({ok, #{poll_errors := 0, helper := #{restarts := 0}}}, sysport_test_lib:flat_status(sysport_sensors)).

hotplug_rescan(Config) ->
    Tree = ?config(tree, Config),
    start(Config),
    ok = sysport_sensors:subscribe(#{events => [chip_added, chip_removed]}),
    add_jc42(Tree),
    {ok, Chips} = sysport_sensors:rescan(),
    ?assert(lists:member(<<"jc42-i2c-1-18">>, [N || #{name := N} <- Chips])),
    ?assertMatch([{chip_added, #{name := <<"jc42-i2c-1-18">>, bus := i2c, address := 16#18,
                                 adapter := <<"SMBus stub driver">>}}], events()),
    ?assertMatch(#{value := 33.0}, feature(<<"jc42-i2c-1-18">>, "temp1")),
    %% A chip that leaves takes its alarms with it.
    ok = sysport_sensors:subscribe(#{events => [chip_added, chip_removed, alarm_raised, alarm_cleared]}),
    ok = sysport_sensors:set_threshold(<<"jc42-i2c-1-18">>, "temp1", #{above => 30.0}),
    receive {sysport_sensors, alarm_raised, #{chip := <<"jc42-i2c-1-18">>}} -> ok
    after 5000 -> ct:fail(no_alarm)
    end,
    sysport_sensors_fake:remove_chip(Tree, "hwmon3"),
    {ok, _} = sysport_sensors:rescan(),
    ?assertMatch([{chip_removed, #{name := <<"jc42-i2c-1-18">>}},
                  {alarm_cleared, #{chip := <<"jc42-i2c-1-18">>, reason := chip_removed}}], events()),
    ?assertMatch({ok, #{active_alarms := []}}, sysport_test_lib:flat_status(sysport_sensors)),
    ok = sysport_sensors:clear_threshold(<<"jc42-i2c-1-18">>, "temp1"),
    %% Nothing changed, nothing said.
    {ok, _} = sysport_sensors:rescan(),
    ?assertEqual([], events()).

add_jc42(Tree) ->
    sysport_sensors_fake:add_chip(Tree, #{hwmon => "hwmon3", name => "jc42", device => {i2c, 1, 16#18},
                                         attrs => [{"temp1_input", 33000}, {"temp1_max", 60000}]}).

hotplug_uevent(Config) ->
    Tree = ?config(tree, Config),
    %% A stand-in for sysport_uevent, registered under the module's name,
    %% and started after the sensors service.
    start(Config, #{uevent => sysport_sensors_fake}),
    Service = whereis(sysport_sensors),
    ?assertMatch({ok, #{uevent := not_running}}, sysport_test_lib:flat_status(sysport_sensors)),
    register(sysport_sensors_fake, self()),
    try
        ok = sysport_sensors:subscribe(#{events => [chip_added, chip_removed]}),
        receive {uevent_subscribed, Service, Filter} -> ?assertEqual(#{subsystem => <<"hwmon">>}, Filter)
        after 5000 -> ct:fail(did_not_subscribe)
        end,
        ?assertMatch({ok, #{uevent := subscribed}}, sysport_test_lib:flat_status(sysport_sensors)),
        add_jc42(Tree),
        Service ! {sysport_uevent, add, #{devpath => <<"/devices/i2c-1/1-0018/hwmon/hwmon3">>,
                                          props => #{<<"SUBSYSTEM">> => <<"hwmon">>}}},
        receive {sysport_sensors, chip_added, #{name := <<"jc42-i2c-1-18">>}} -> ok
        after 5000 -> ct:fail(no_chip_added)
        end,
        sysport_sensors_fake:remove_chip(Tree, "hwmon3"),
        %% Other actions do not rescan: the chip stays known until the remove.
        Service ! {sysport_uevent, change, #{devpath => <<"/devices/i2c-1/1-0018/hwmon/hwmon3">>, props => #{}}},
        receive {sysport_sensors, chip_removed, _} -> ct:fail(change_rescanned) after 300 -> ok end,
        Service ! {sysport_uevent, remove, #{devpath => <<"/devices/i2c-1/1-0018/hwmon/hwmon3">>,
                                             props => #{<<"SUBSYSTEM">> => <<"hwmon">>}}},
        receive {sysport_sensors, chip_removed, #{name := <<"jc42-i2c-1-18">>}} -> ok
        after 5000 -> ct:fail(no_chip_removed)
        end
    after
        unregister(sysport_sensors_fake)
    end.

kill9_while_polling(Config) ->
    start(Config, #{helper => #{backoff_min => 20}}),
    ok = sysport_sensors:subscribe(),
    ok = sysport_sensors:set_threshold(?LM75, "temp1", #{above => 50.0, clear_below => 45.0}),
    await_value(?LM75, <<"Board">>, fun(V) -> V == 45.5 end),
    OsPid = helper_os_pid(),
    sysport_test_lib:kill9(OsPid),
    ok = sysport_test_lib:wait_until(
           fun() -> case sysport_test_lib:flat_status(sysport_sensors) of
                        {ok, #{helper := #{state := up, restarts := R}}} -> R >= 1;
                        _ -> false
                    end
           end, 10000),
    ?assertNotEqual(OsPid, helper_os_pid()),
    ?assertMatch({ok, #{subscribers := 1, thresholds := 1, polling := true}}, sysport_test_lib:flat_status(sysport_sensors)),
    %% The same chips came back: no chip_added or chip_removed.
    set_and_see(Config, "hwmon0", "temp1_input", 56000, ?LM75, <<"Board">>),
    ?assertMatch([{alarm_raised, #{chip := ?LM75, value := 56.0}}], events()),
    {ok, #{helper := #{last_exit := LastExit}}} = sysport_test_lib:flat_status(sysport_sensors),
    ?assertEqual({signal, sigkill}, LastExit).

idle_means_no_polling(Config) ->
    start(Config, #{interval => 20}),
    Service = whereis(sysport_sensors),
    OsPid = helper_os_pid(),
    ?assertMatch({ok, #{polling := false}}, sysport_test_lib:flat_status(sysport_sensors)),
    %% Idle: the helper is not scheduled and the service runs no code
    %% (once the helper has gone back to sleep after answering its start).
    timer:sleep(200),
    Ctx0 = ctx_switches(OsPid),
    {reductions, R0} = process_info(Service, reductions),
    timer:sleep(1000),
    {reductions, R1} = process_info(Service, reductions),
    ?assertEqual(Ctx0, ctx_switches(OsPid)),
    ?assertEqual(R0, R1),
    %% Chip events alone need no polling; readings and alarms do, and stop
    %% with their subscriber.
    ok = sysport_sensors:subscribe(#{events => [chip_added]}),
    ?assertMatch({ok, #{polling := false}}, sysport_test_lib:flat_status(sysport_sensors)),
    Sub = spawn(fun() -> ok = sysport_sensors:subscribe(#{events => [alarm_raised]}),
                         receive stop -> ok end
                end),
    ok = sysport_test_lib:wait_until(fun() -> polls() >= 3 end, 5000),
    Sub ! stop,
    ok = sysport_test_lib:wait_until(fun() -> {ok, #{polling := P}} = sysport_test_lib:flat_status(sysport_sensors), not P end, 2000),
    Polls = polls(),
    timer:sleep(200),
    ?assertEqual(Polls, polls()).

polls() ->
    {ok, #{polls := N}} = sysport_test_lib:flat_status(sysport_sensors),
    N.

ctx_switches(OsPid) ->
    {ok, S} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/status"),
    [binary_to_integer(lists:last(binary:split(L, [<<"\t">>, <<" ">>], [global, trim_all])))
     || L <- binary:split(S, <<"\n">>, [global]), binary:match(L, <<"ctxt_switches">>) =/= nomatch].

no_hwmon(Config) ->
    Empty = sysport_sensors_fake:empty(filename:join(?config(priv_dir, Config), "empty")),
    start(Config, #{helper => #{wrapper => sysport_sensors_fake:wrapper(Empty)}, config => default}),
    ?assertEqual({ok, []}, sysport_sensors:read_all()),
    ?assertEqual({ok, []}, sysport_sensors:chips()),
    ?assertEqual({ok, []}, sysport_sensors:rescan()),
    ?assertEqual({error, {no_such_chip, ?LM75}}, sysport_sensors:read(?LM75, "temp1")),
    ?assertMatch({ok, #{hwmon := false, chips := [], init := ok,
                        helper := #{state := up, restarts := 0}}}, sysport_test_lib:flat_status(sysport_sensors)).

bad_config(Config) ->
    Tree = ?config(tree, Config),
    sysport_test_lib:capture_logs(),
    %% Missing: the service runs and says why it has nothing.
    start(Config, #{config => filename:join(Tree, "missing.conf")}),
    ?assertMatch({ok, #{init := {error, enoent}, helper := #{state := up}}}, sysport_test_lib:flat_status(sysport_sensors)),
    ?assertEqual({error, {sensors_init, enoent}}, sysport_sensors:read_all()),
    ?assertEqual({error, {sensors_init, enoent}}, sysport_sensors:set(?LM75, "temp1_max", 80)),
    sysport_sensors:stop(),
    %% Unparsable statements: libsensors reports them and goes on with the
    %% rest, as sensors does; the report is logged with file and line, and
    %% a rescan picks up the fixed file.
    Bad = filename:join(Tree, "bad.conf"),
    %% (A misspelt keyword: some other syntax errors make libsensors 3.6
    %% leak the tokens it parsed, which the sanitizer build would report.)
    ok = file:write_file(Bad, "chip \"lm75-*\"\n    labl temp1 \"Broken\"\nchip \"fakehw-*\"\n    ignore fan1\n"),
    start(Config, #{config => Bad}),
    {ok, error, Why, _} = sysport_test_lib:wait_log("Invalid keyword", 5000),
    ?assertNotEqual(nomatch, binary:match(Why, <<"bad.conf:">>)),
    {ok, Chips} = sysport_sensors:read_all(),
    {ok, Peer, _} = sysport_sensors_fake:peer(Tree, Bad),
    ?assertEqual([], sysport_sensors_fake:compare(Peer, Chips)),
    ?assertEqual({error, {no_such_feature, <<"fan1">>}}, sysport_sensors:read(?VIRT, "fan1")),
    ok = file:write_file(Bad, "chip \"lm75-*\"\n    label temp1 \"Fixed\"\n"),
    {ok, _} = sysport_sensors:rescan(),
    ?assertMatch(#{label := <<"Fixed">>}, feature(?LM75, "temp1")),
    ?assertMatch(#{label := <<"CPU Fan">>}, feature(?VIRT, "fan1")),
    ?assertMatch({ok, #{init := ok, helper := #{restarts := 0}}}, sysport_test_lib:flat_status(sysport_sensors)).

bad_requests_to_helper(Config) ->
    {ok, P} = sysport_port:start_link(#{helper => "sysport_sensors",
                                        wrapper => sysport_sensors_fake:wrapper(?config(tree, Config))}),
    ?assertMatch(#{capabilities := [chips, read_all, read, set, rescan], init := ok,
                   libsensors := <<"3.", _/binary>>}, sysport_port:info(P)),
    Bad = [{read, not_a_list}, {read, [<<>>]}, {read, [42]}, {read, [<<"a", 0, "b">>]},
           {read, [binary:copy(<<"x">>, 300)]}, {read, lists:duplicate(300, ?LM75)},
           {read, [?LM75], extra}, read, {chips, 1}, {set, ?LM75, <<"temp1_max">>, <<"80">>},
           {set, ?LM75, temp1_max, 80}, {set, ?LM75, <<"temp1_max">>}],
    [?assertEqual({Req, {error, badarg}}, {Req, sysport_port:call(P, Req)}) || Req <- Bad],
    ?assertEqual({error, {unknown_request, reboot}}, sysport_port:call(P, reboot)),
    %% Readings come as values only, stamped with the chip list they fit.
    #{pid := OsPid} = sysport_port:info(P),
    {ok, {{OsPid, 1} = Stamp, [#{name := ?LM75, features := [#{subfeatures := Subs}]} | _]}} =
        sysport_port:call(P, chips),
    ?assertEqual([<<"temp1_input">>, <<"temp1_max">>, <<"temp1_max_hyst">>], [N || #{name := N} <- Subs]),
    ?assertEqual({ok, {Stamp, [{?LM75, [45.5, 80.0, 75.0]}]}},
                 sysport_port:call(P, {read, [?LM75, <<"nochip-isa-0000">>]})),
    ?assertEqual({ok, {Stamp, []}}, sysport_port:call(P, {read, []})),
    ?assertMatch({ok, {{OsPid, 2}, [_, _, _]}}, sysport_port:call(P, rescan)),
    %% A frame over the helper's 64 KiB cap would end it: it is refused
    %% before it is sent.
    ?assertEqual({error, too_large}, sysport_port:call(P, {read, [binary:copy(<<"x">>, 70000)]})),
    ?assertEqual({error, too_large},
                 sysport_port:call(P, {set, ?LM75, binary:copy(<<"x">>, 1 bsl 20), 1.0})),
    ?assertMatch({ok, {_, [_, _, _]}}, sysport_port:call(P, read_all)),
    ?assertMatch(#{restarts := 0}, sysport_port:stats(P)),
    sysport_port:stop(P).

bad_arguments(Config) ->
    ?assertEqual({error, {invalid_option, sensors, #{colour => red}}}, sysport_sensors:start_link(#{colour => red})),
    ?assertEqual({error, {invalid_option, sensors, #{interval => 0}}}, sysport_sensors:start_link([{interval, 0}])),
    ?assertEqual({error, not_running}, sysport_sensors:read_all()),
    start(Config),
    [?assertMatch({error, {bad_threshold, _}}, sysport_sensors:set_threshold(?LM75, "temp1", Spec))
     || Spec <- [#{}, #{above => hot}, #{clear_below => 40}, #{above => 50, clear_below => 60},
                 #{below => 5, clear_above => 4}, #{above => 50, bogus => 1}, [above, 50]]],
    ?assertEqual({ok, #{}}, sysport_sensors:thresholds()),
    %% Names longer than libsensors takes (a 1 MB subfeature name once
    %% ended the helper) are refused before the helper.
    ?assertEqual({error, too_large}, sysport_sensors:set(?LM75, binary:copy(<<"x">>, 1 bsl 20), 80.0)),
    ?assertEqual({error, too_large}, sysport_sensors:read(?LM75, binary:copy(<<"x">>, 256))),
    ?assertEqual({error, too_large}, sysport_sensors:set_threshold(?LM75, binary:copy(<<"x">>, 256), #{above => 1})),
    ?assertMatch({ok, #{helper := #{restarts := 0}}}, sysport_test_lib:flat_status(sysport_sensors)),
    [?assertMatch({error, {bad_filter, _}}, sysport_sensors:subscribe(F))
     || F <- [#{events => [explosion]}, #{chips => lm75}, #{chips => [binary:copy(<<"x">>, 256)]},
              #{colour => red}, nope, #{chips => [<<"lm75">> | x]}, #{events => [reading | x]}]],
    ?assertMatch({error, {badarg, _}}, sysport_sensors:read(<<255>>, "temp1")),
    %% A chip name the helper could not take is refused here, so no poll
    %% ever sends one.
    [?assertMatch({error, {badarg, _}}, sysport_sensors:set_threshold(Name, "temp1", #{above => 1}))
     || Name <- [<<>>, <<"a", 0, "b">>]],
    ?assertEqual({error, too_large}, sysport_sensors:set_threshold(binary:copy(<<"x">>, 256), "temp1", #{above => 1})),
    ok = sysport_sensors:set_threshold(<<"later-i2c-0-10">>, "temp1", #{above => 1}),
    ?assertEqual({ok, #{{<<"later-i2c-0-10">>, <<"temp1">>} => #{above => 1.0, clear_below => 1.0}}},
                 sysport_sensors:thresholds()).

shell_prints_like_sensors(Config) ->
    start(Config),
    ct:capture_start(),
    ok = sysport:sensors(),
    ct:capture_stop(),
    %% sysport:sensors() writes UTF-8 whatever the group leader's encoding.
    Captured = lists:flatten(ct:capture_get()),
    Text = case proplists:get_value(encoding, io:getopts()) of
               unicode -> unicode:characters_to_binary(Captured);
               _ -> list_to_binary(Captured)
           end,
    [?assertNotEqual({Expected, nomatch}, {Expected, binary:match(Text, Expected)})
     || Expected <- [?LM75, <<"Adapter: SMBus stub driver">>, <<"Board:">>, <<"+45.5°C"/utf8>>,
                     <<"high = +80.0°C"/utf8>>, <<"2000 RPM">>, <<"6.60 V">>, <<"N/A">>,
                     <<"Core 7:">>]].

valgrind_clean(Config) ->
    case os:find_executable("valgrind") of
        false -> ct:fail("valgrind not installed");
        _ -> ok
    end,
    Release = filename:join([sysport_test_lib:project_root(), "priv", "sysport_sensors"]),
    Wrapper = sysport_sensors_fake:wrapper(?config(tree, Config)) ++
        ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite"],
    start(Config, #{helper => #{program => Release, wrapper => Wrapper, backoff_min => 60000, ready_timeout => 30000},
                    timeout => 30000}),
    {ok, Comm} = file:read_file("/proc/" ++ integer_to_list(helper_os_pid()) ++ "/comm"),
    ?assertMatch(<<"memcheck", _/binary>>, Comm),  % really under valgrind
    {ok, Chips} = sysport_sensors:read_all(),
    ?assertEqual(3, length(Chips)),
    ok = sysport_sensors:set(?LM75, "temp1_max", 82),
    ?assertEqual({error, out_of_range}, sysport_sensors:set(?LM75, "temp1_max", 1.0e12)),
    add_jc42(?config(tree, Config)),
    {ok, [_, _, _, _]} = sysport_sensors:rescan(),
    {ok, _} = sysport_sensors:read(?VIRT, "CPU"),
    {ok, _} = sysport_sensors:chips(),
    %% SIGTERM: the helper cleans up and exits 0, and valgrind turns any
    %% error or definite leak into 99.
    _ = os:cmd("kill -TERM " ++ integer_to_list(helper_os_pid())),
    ok = sysport_test_lib:wait_until(
           fun() -> {ok, #{helper := #{state := S}}} = sysport_test_lib:flat_status(sysport_sensors), S =:= down end, 30000),
    ?assertMatch({ok, #{helper := #{last_exit := {exit, 0}}}}, sysport_test_lib:flat_status(sysport_sensors)).
