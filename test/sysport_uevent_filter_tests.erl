-module(sysport_uevent_filter_tests).
-include_lib("eunit/include/eunit.hrl").

-define(LO, <<"/devices/virtual/net/lo">>).
-define(LO_PROPS, #{<<"SUBSYSTEM">> => <<"net">>, <<"INTERFACE">> => <<"lo">>, <<"DEVPATH">> => ?LO}).
-define(SDA, <<"/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda">>).
-define(SDA_PROPS, #{<<"SUBSYSTEM">> => <<"block">>, <<"DEVTYPE">> => <<"disk">>, <<"DEVNAME">> => <<"sda">>}).

matches(Filter, DevPath, Props) ->
    {ok, C} = sysport_uevent_filter:compile(Filter),
    sysport_uevent_filter:match(C, DevPath, Props).

empty_filter_passes_everything_test() ->
    ?assert(matches(#{}, ?LO, ?LO_PROPS)),
    ?assert(matches(#{}, ?SDA, #{})).

named_keys_test_() ->
    [?_assert(matches(#{subsystem => <<"net">>}, ?LO, ?LO_PROPS)),
     ?_assert(matches(#{subsystem => "net"}, ?LO, ?LO_PROPS)),
     ?_assertNot(matches(#{subsystem => <<"block">>}, ?LO, ?LO_PROPS)),
     ?_assert(matches(#{devtype => "disk", subsystem => "block"}, ?SDA, ?SDA_PROPS)),
     ?_assertNot(matches(#{devtype => "partition"}, ?SDA, ?SDA_PROPS)),
     ?_assertNot(matches(#{driver => "ahci"}, ?SDA, ?SDA_PROPS)),
     ?_assert(matches(#{driver => "ahci"}, ?SDA, ?SDA_PROPS#{<<"DRIVER">> => <<"ahci">>}))].

any_property_test_() ->
    [?_assert(matches(#{<<"INTERFACE">> => <<"lo">>}, ?LO, ?LO_PROPS)),
     ?_assert(matches(#{"INTERFACE" => ["l", <<"o">>]}, ?LO, ?LO_PROPS)),
     ?_assertNot(matches(#{<<"INTERFACE">> => <<"eth0">>}, ?LO, ?LO_PROPS)),
     ?_assertNot(matches(#{<<"ABSENT">> => <<>>}, ?LO, ?LO_PROPS))].

devpath_prefix_and_glob_test_() ->
    [?_assert(matches(#{devpath => "/devices/virtual/"}, ?LO, #{})),
     ?_assert(matches(#{devpath => ?LO}, ?LO, #{})),
     ?_assertNot(matches(#{devpath => "/devices/pci"}, ?LO, #{})),
     ?_assert(matches(#{devpath => "/devices/*/net/lo"}, ?LO, #{})),
     ?_assert(matches(#{devpath => "/devices/pci*/block/sd?"}, ?SDA, #{})),   % * crosses '/', as fnmatch without flags
     ?_assert(matches(#{devpath => "*/block/sd[a-c]"}, ?SDA, #{})),
     ?_assertNot(matches(#{devpath => "*/block/sd[!a]"}, ?SDA, #{})),
     ?_assertNot(matches(#{devpath => "/devices/*/net"}, ?LO, #{})),          % anchored at both ends
     ?_assert(matches(#{devpath => "/devices/virtual/net/l[o"}, <<"/devices/virtual/net/l[o">>, #{})),
     ?_assert(matches(#{devpath => "/a.b/*"}, <<"/a.b/c">>, #{})),
     ?_assertNot(matches(#{devpath => "/a.b/*"}, <<"/axb/c">>, #{}))].          % regex characters are literal

bad_filters_test_() ->
    [?_assertEqual({error, {bad_filter, colour}}, sysport_uevent_filter:compile(#{colour => <<"red">>})),
     ?_assertMatch({error, {bad_filter, {subsystem, 42}}}, sysport_uevent_filter:compile(#{subsystem => 42})),
     ?_assertMatch({error, {bad_filter, _}}, sysport_uevent_filter:compile(#{<<>> => <<"x">>})),
     ?_assertMatch({error, {bad_filter, _}}, sysport_uevent_filter:compile([{subsystem, <<"net">>}])),
     ?_assertMatch({error, {bad_filter, _}}, sysport_uevent_filter:compile(#{devpath => <<255>>}))].

subsystem_for_the_index_test() ->
    {ok, C} = sysport_uevent_filter:compile(#{subsystem => "net", devpath => "/devices/virtual"}),
    ?assertEqual({ok, <<"net">>}, sysport_uevent_filter:subsystem(C)),
    {ok, Any} = sysport_uevent_filter:compile(#{devtype => "disk"}),
    ?assertEqual(any, sysport_uevent_filter:subsystem(Any)).
