-module(sysport_sensors_alarms_tests).
-include_lib("eunit/include/eunit.hrl").

%% A chip as the service makes it from a reading of temp1 (input, max and
%% an alarm subfeature).
chip(Value, Alarm) ->
    {ok, [Chip]} = sysport_sensors_snapshot:with_readings(structure(),
                                                          [{<<"lm75-i2c-1-48">>, [Value, 80.0, Alarm]}]),
    Chip.

structure() ->
    sysport_sensors_snapshot:chips(
      [#{name => <<"lm75-i2c-1-48">>, prefix => <<"lm75">>, bus => i2c, bus_nr => 1,
         address => 72, adapter => <<"a">>, path => <<"/sys/class/hwmon/hwmon0">>,
         features => [#{name => <<"temp1">>, label => <<"Board">>, type => temp,
                        subfeatures => [sub(<<"temp1_input">>, input),
                                        sub(<<"temp1_max">>, max),
                                        sub(<<"temp1_alarm">>, alarm)]}]}]).

sub(Name, Type) ->
    #{name => Name, type => Type, readable => true, writable => true}.

%% Feeds readings one by one; returns the event kinds.
run(Thresholds, Readings) ->
    {Events, _} = lists:foldl(
                    fun({V, A}, {Acc, S}) ->
                            {Es, S1} = sysport_sensors_alarms:evaluate([chip(V, A)], Thresholds, S),
                            {Acc ++ [{E, maps:get(value, I)} || {E, I} <- Es], S1}
                    end, {[], sysport_sensors_alarms:new()}, Readings),
    Events.

above(Above, Clear) ->
    {ok, T} = sysport_sensors_alarms:validate(#{above => Above, clear_below => Clear}),
    #{{<<"lm75-i2c-1-48">>, <<"Board">>} => T}.

validate_test_() ->
    V = fun sysport_sensors_alarms:validate/1,
    [?_assertEqual({ok, #{above => 80.0, clear_below => 75.0}}, V(#{above => 80, clear_below => 75})),
     ?_assertEqual({ok, #{above => 80.0, clear_below => 80.0}}, V(#{above => 80})),
     ?_assertEqual({ok, #{below => 5.0, clear_above => 5.0, above => 9.0, clear_below => 9.0}},
                   V(#{below => 5, above => 9})),
     [?_assertMatch({error, {bad_threshold, _}}, V(S))
      || S <- [#{}, #{clear_below => 3}, #{clear_above => 3}, #{above => 5, clear_below => 6},
               #{below => 5, clear_above => 4}, #{above => x}, #{above => 1, other => 2}, 42]]].

hysteresis_test() ->
    Readings = [{V, 0.0} || V <- [70.0, 81.0, 79.0, 85.0, 76.0, 74.9, 79.0, 80.0, 80.1, 74.0]],
    ?assertEqual([{alarm_raised, 81.0}, {alarm_cleared, 74.9}, {alarm_raised, 80.1},
                  {alarm_cleared, 74.0}], run(above(80.0, 75.0), Readings)).

no_hysteresis_test() ->
    %% Exactly at the level is neither over nor under it.
    ?assertEqual([{alarm_raised, 80.5}, {alarm_cleared, 79.5}],
                 run(above(80.0, 80.0), [{V, 0.0} || V <- [80.0, 80.5, 80.0, 79.5, 80.0]])).

below_test() ->
    {ok, T} = sysport_sensors_alarms:validate(#{below => 10.0, clear_above => 12.0}),
    ?assertEqual([{alarm_raised, 9.0}, {alarm_cleared, 12.5}],
                 run(#{{<<"lm75-i2c-1-48">>, <<"temp1">>} => T},
                     [{V, 0.0} || V <- [11.0, 9.0, 11.9, 8.0, 12.5, 11.0]])).

failed_reading_changes_nothing_test() ->
    ?assertEqual([{alarm_raised, 90.0}, {alarm_cleared, 70.0}],
                 run(above(80.0, 75.0), [{90.0, 0.0}, {{error, eio}, 0.0}, {{error, unreadable}, 0.0},
                                         {70.0, 0.0}])).

kernel_alarm_test() ->
    ?assertEqual([{alarm_raised, 1.0}, {alarm_cleared, 0.0}],
                 run(#{}, [{50.0, A} || A <- [0.0, 1.0, 1.0, {error, eio}, 0.0, 0.0]])).

absent_chip_keeps_alarm_test() ->
    {[{alarm_raised, _}], S1} = sysport_sensors_alarms:evaluate([chip(90.0, 0.0)], above(80.0, 75.0),
                                                                sysport_sensors_alarms:new()),
    {[], S2} = sysport_sensors_alarms:evaluate([], above(80.0, 75.0), S1),
    ?assertMatch([#{kind := above, value := 90.0}], sysport_sensors_alarms:active(S2)).

drop_threshold_test() ->
    Ts = above(80.0, 75.0),
    {_, S1} = sysport_sensors_alarms:evaluate([chip(90.0, 1.0)], Ts, sysport_sensors_alarms:new()),
    ?assertEqual(2, length(sysport_sensors_alarms:active(S1))),
    %% By name or label; the kernel's alarm stays.
    {[{alarm_cleared, #{reason := threshold_removed, kind := above}}], S2} =
        sysport_sensors_alarms:drop_threshold(<<"lm75-i2c-1-48">>, <<"temp1">>, S1),
    ?assertMatch([#{source := kernel}], sysport_sensors_alarms:active(S2)),
    ?assertEqual({[], S2}, sysport_sensors_alarms:drop_threshold(<<"lm75-i2c-1-48">>, <<"Board">>, S2)).

readings_must_fit_test() ->
    S = structure(),
    _ = [?assertEqual(error, sysport_sensors_snapshot:with_readings(S, R))
     || R <- [[{<<"lm75-i2c-1-48">>, [1.0, 2.0]}], [{<<"lm75-i2c-1-48">>, [1.0, 2.0, 3.0, 4.0]}],
              [{<<"other-isa-0000">>, [1.0, 2.0, 3.0]}]]],
    ?assertEqual({ok, []}, sysport_sensors_snapshot:with_readings(S, [])),
    ?assertMatch([#{features := [#{unit := <<"°C"/utf8>>, subfeatures := [#{unit := _} | _]} = F]}]
                 when not is_map_key(value, F), S).

drop_chips_test() ->
    {_, S1} = sysport_sensors_alarms:evaluate([chip(90.0, 1.0)], above(80.0, 75.0), sysport_sensors_alarms:new()),
    ?assertEqual({[], S1}, sysport_sensors_alarms:drop_chips([<<"jc42-i2c-1-18">>], S1)),
    {Cleared, S2} = sysport_sensors_alarms:drop_chips([<<"lm75-i2c-1-48">>], S1),
    ?assertMatch([{alarm_cleared, #{reason := chip_removed}}, {alarm_cleared, #{reason := chip_removed}}],
                 Cleared),
    ?assertEqual([], sysport_sensors_alarms:active(S2)).

snapshot_test() ->
    C = chip(45.5, 0.0),
    {ok, F} = sysport_sensors_snapshot:find_feature(<<"Board">>, C),
    ?assertMatch(#{value := 45.5, unit := <<"°C"/utf8>>, limits := #{max := 80.0},
                   alarms := #{alarm := false}}, F),
    ?assertEqual({ok, F}, sysport_sensors_snapshot:find_feature(<<"temp1">>, C)),
    ?assertEqual(error, sysport_sensors_snapshot:find_feature(<<"temp2">>, C)),
    [#{unit := <<"°C"/utf8>>}, #{unit := <<"°C"/utf8>>}, #{unit := <<>>}] = maps:get(subfeatures, F),
    Other = C#{name := <<"jc42-i2c-1-18">>},
    ?assertEqual({[Other], [C]}, sysport_sensors_snapshot:diff([C], [Other])),
    ?assertEqual({[], []}, sysport_sensors_snapshot:diff([C], [C])),
    ?assert(sysport_sensors_snapshot:alarm_kind(crit_alarm)),
    ?assert(sysport_sensors_snapshot:alarm_kind(fault)),
    ?assertNot(sysport_sensors_snapshot:alarm_kind(beep)),
    Text = unicode:characters_to_binary(sysport_sensors_snapshot:format([C])),
    ?assertNotEqual(nomatch, binary:match(Text, <<"+45.5°C  (high = +80.0°C)"/utf8>>)),
    ?assertEqual(<<"No sensors found!\n">>, iolist_to_binary(sysport_sensors_snapshot:format([]))).

%% The peer comparison of the suite finds what differs.
compare_test() ->
    C = chip(45.5, 0.0),
    Peer = [{<<"lm75-i2c-1-48">>, [{<<"Adapter">>, <<"a">>},
                                  {<<"Board">>, [{<<"temp1_input">>, 45.5}, {<<"temp1_max">>, 80.0},
                                                 {<<"temp1_alarm">>, 0.0}]}]}],
    ?assertEqual([], sysport_sensors_fake:compare(Peer, [C])),
    ?assertMatch([{value, _, <<"Board">>, <<"temp1_input">>, 45.5, 46.5}],
                 sysport_sensors_fake:compare(Peer, [chip(46.5, 0.0)])),
    ?assertMatch([{{subfeatures, _, <<"Board">>}, _, _}, {unread_elsewhere, _, _, <<"temp1_input">>}],
                 sysport_sensors_fake:compare(Peer, [chip({error, eio}, 0.0)])),
    ?assertMatch([{chips, _, _}], sysport_sensors_fake:compare([], [C])).
