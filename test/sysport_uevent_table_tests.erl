-module(sysport_uevent_table_tests).
-include_lib("eunit/include/eunit.hrl").

-define(LO, <<"/devices/virtual/net/lo">>).

%% Each test owns fresh tables: protected, so made by the process that
%% writes them; named, so one at a time.
table_test_() ->
    [fun() ->
             ok = sysport_uevent_table:new(),
             try Test()
             after ets:delete(sysport_uevent_devices), ets:delete(sysport_uevent_subsystems)
             end
     end || Test <- [fun events_update_the_table/0, fun moves_rekey/0, fun non_devices_stay_out/0,
                     fun reconcile_reports_each_difference/0, fun select_by_subsystem_uses_the_index/0]].

props(DevPath, Subsystem, Extra) ->
    maps:merge(#{<<"DEVPATH">> => DevPath, <<"SUBSYSTEM">> => Subsystem}, Extra).

event(Action, DevPath, Subsystem, Seq, Extra) ->
    props(DevPath, Subsystem, Extra#{<<"ACTION">> => atom_to_binary(Action),
                                     <<"SEQNUM">> => integer_to_binary(Seq)}).

events_update_the_table() ->
    Add = event(add, ?LO, <<"net">>, 1, #{<<"INTERFACE">> => <<"lo">>}),
    ok = sysport_uevent_table:apply_event(add, ?LO, Add, true),
    %% The table keeps the device's properties, not the event's.
    ?assertEqual({ok, props(?LO, <<"net">>, #{<<"INTERFACE">> => <<"lo">>})}, sysport_uevent_table:lookup(?LO)),
    Change = event(change, ?LO, <<"net">>, 2, #{<<"INTERFACE">> => <<"lo">>, <<"SYNTH_UUID">> => <<"0">>,
                                                <<"NEW">> => <<"1">>}),
    ok = sysport_uevent_table:apply_event(change, ?LO, Change, true),
    ?assertEqual({ok, props(?LO, <<"net">>, #{<<"INTERFACE">> => <<"lo">>, <<"NEW">> => <<"1">>})},
                 sysport_uevent_table:lookup(?LO)),
    Args = event(change, ?LO, <<"net">>, 3, #{<<"INTERFACE">> => <<"lo">>, <<"SYNTH_UUID">> => <<"a-b">>,
                                              <<"SYNTH_ARG_A">> => <<"b">>}),
    ok = sysport_uevent_table:apply_event(change, ?LO, Args, true),
    ?assertEqual({ok, props(?LO, <<"net">>, #{<<"INTERFACE">> => <<"lo">>})}, sysport_uevent_table:lookup(?LO)),
    %% A value with a newline goes in as the uevent file shows it.
    ok = sysport_uevent_table:apply_event(change, ?LO, Change#{<<"M">> => <<"x\n">>}, #{<<"M">> => <<"x">>}),
    ?assertMatch({ok, #{<<"M">> := <<"x">>}}, sysport_uevent_table:lookup(?LO)),
    ok = sysport_uevent_table:apply_event(remove, ?LO, event(remove, ?LO, <<"net">>, 3, #{}), true),
    ?assertEqual({error, not_found}, sysport_uevent_table:lookup(?LO)),
    ?assertEqual([], ets:tab2list(sysport_uevent_subsystems)).

moves_rekey() ->
    Old = <<"/devices/virtual/net/eth0">>,
    New = <<"/devices/virtual/net/wan">>,
    ok = sysport_uevent_table:apply_event(add, Old, event(add, Old, <<"net">>, 1, #{}), true),
    Move = event(move, New, <<"net">>, 2, #{<<"DEVPATH_OLD">> => Old}),
    ok = sysport_uevent_table:apply_event(move, New, Move, true),
    ?assertEqual({error, not_found}, sysport_uevent_table:lookup(Old)),
    ?assertEqual({ok, props(New, <<"net">>, #{})}, sysport_uevent_table:lookup(New)),
    ?assertEqual([{<<"net">>, New}], ets:tab2list(sysport_uevent_subsystems)).

non_devices_stay_out() ->
    Queue = <<"/devices/virtual/net/lo/queues/rx-0">>,
    ok = sysport_uevent_table:apply_event(add, Queue, event(add, Queue, <<"queues">>, 1, #{}), false),
    ?assertEqual({error, not_found}, sysport_uevent_table:lookup(Queue)),
    ?assertEqual(0, sysport_uevent_table:size()).

reconcile_reports_each_difference() ->
    [ok = sysport_uevent_table:apply_event(add, D, event(add, D, <<"s">>, 1, #{<<"V">> => <<"1">>}), true)
     || D <- [<<"/devices/a">>, <<"/devices/b">>, <<"/devices/c">>]],
    Snapshot = #{<<"/devices/a">> => props(<<"/devices/a">>, <<"s">>, #{<<"V">> => <<"1">>}),
                 <<"/devices/b">> => props(<<"/devices/b">>, <<"t">>, #{<<"V">> => <<"2">>}),
                 <<"/devices/d">> => props(<<"/devices/d">>, <<"s">>, #{})},
    Diffs = sysport_uevent_table:reconcile(Snapshot),
    ?assertEqual([{remove, <<"/devices/c">>, props(<<"/devices/c">>, <<"s">>, #{<<"V">> => <<"1">>})},
                  {add, <<"/devices/d">>, props(<<"/devices/d">>, <<"s">>, #{})},
                  {change, <<"/devices/b">>, props(<<"/devices/b">>, <<"t">>, #{<<"V">> => <<"2">>})}],
                 Diffs),
    {ok, All} = sysport_uevent_table:select(element(2, sysport_uevent_filter:compile(#{}))),
    ?assertEqual(Snapshot, All),
    %% The index follows a device whose subsystem changed.
    ?assertEqual(lists:sort([{<<"s">>, <<"/devices/a">>}, {<<"t">>, <<"/devices/b">>}, {<<"s">>, <<"/devices/d">>}]),
                 lists:sort(ets:tab2list(sysport_uevent_subsystems))),
    ?assertEqual([], sysport_uevent_table:reconcile(Snapshot)).

select_by_subsystem_uses_the_index() ->
    [ok = sysport_uevent_table:apply_event(add, D, event(add, D, S, 1, #{}), true)
     || {D, S} <- [{<<"/devices/n1">>, <<"net">>}, {<<"/devices/n2">>, <<"net">>}, {<<"/devices/b1">>, <<"block">>}]],
    {ok, C} = sysport_uevent_filter:compile(#{subsystem => <<"net">>}),
    {ok, Net} = sysport_uevent_table:select(C),
    ?assertEqual([<<"/devices/n1">>, <<"/devices/n2">>], lists:sort(maps:keys(Net))).

not_running_test() ->
    ?assertEqual({error, not_running}, sysport_uevent_table:lookup(?LO)),
    ?assertEqual({error, not_running}, sysport_uevent_table:select(element(2, sysport_uevent_filter:compile(#{})))).
