%% The pure parts of the U-Boot env service.
-module(sysport_kv_data_tests).
-include_lib("eunit/include/eunit.hrl").

key_test() ->
    ?assertEqual({ok, <<"a">>}, sysport_kv_data:key("a")),
    ?assertEqual({ok, <<"é"/utf8>>}, sysport_kv_data:key([16#e9])),
    ?assertEqual({ok, <<"ab">>}, sysport_kv_data:key([<<"a">>, $b])),
    ?assertEqual({error, {invalid_key, 42}}, sysport_kv_data:key(42)),
    ?assertEqual({error, {invalid_key, [-1]}}, sysport_kv_data:key([-1])),
    ?assertEqual({error, {invalid_value, k}}, sysport_kv_data:value(k, foo)),
    ?assertEqual({ok, <<255>>}, sysport_kv_data:value(k, <<255>>)).

keys_test() ->
    ?assertEqual({ok, [<<"abc">>]}, sysport_kv_data:keys("abc")),
    ?assertEqual({ok, [<<"abc">>]}, sysport_kv_data:keys(<<"abc">>)),
    ?assertEqual({ok, [<<"a">>, <<"b">>]}, sysport_kv_data:keys([<<"a">>, "b"])),
    ?assertEqual({ok, [<<"ab">>]}, sysport_kv_data:keys([$a, <<"b">>])),
    ?assertEqual({ok, []}, sysport_kv_data:keys([])),
    ?assertEqual({error, {invalid_key, 7}}, sysport_kv_data:keys(7)),
    %% Chardata with a binary tail is one key; with any other tail, no key
    %% (both raised function_clause in the caller).
    ?assertEqual({ok, [<<"ab">>]}, sysport_kv_data:keys([<<"a">> | <<"b">>])),
    ?assertMatch({error, {invalid_key, _}}, sysport_kv_data:keys([<<"a">> | 0])).

pairs_test() ->
    {ok, Pairs} = sysport_kv_data:pairs(#{"b" => <<"2">>, <<"a">> => "1"}),
    ?assertEqual([{<<"a">>, <<"1">>}, {<<"b">>, <<"2">>}], lists:sort(Pairs)),
    ?assertEqual({error, {invalid_value, "b"}}, sysport_kv_data:pairs(#{"a" => "1", "b" => 2})).

parse_defaults_test() ->
    Text = <<"# comment\nbootdelay=3\r\n\nbootcmd=run a; b=c\nnoequals\n=empty\nbootdelay=5\nlast=no newline">>,
    ?assertEqual([{<<"bootcmd">>, <<"run a; b=c">>}, {<<"bootdelay">>, <<"5">>}, {<<"last">>, <<"no newline">>}],
                 lists:sort(sysport_kv_data:parse_defaults(Text))),
    ?assertEqual([], sysport_kv_data:parse_defaults(<<>>)).

diff_test() ->
    Old = #{<<"a">> => <<"1">>, <<"b">> => <<"2">>, <<"c">> => <<"3">>},
    New = #{<<"a">> => <<"1">>, <<"b">> => <<"20">>, <<"d">> => <<"4">>},
    ?assertEqual(#{<<"b">> => {<<"2">>, <<"20">>}, <<"c">> => {<<"3">>, undefined}, <<"d">> => {undefined, <<"4">>}},
                 sysport_kv_data:diff(Old, New)),
    ?assertEqual(#{}, sysport_kv_data:diff(Old, Old)).

active_test() ->
    Env = #{<<"nerves_fw_active">> => <<"a">>, <<"a.x">> => <<"1">>, <<"b.x">> => <<"2">>, <<"a.">> => <<"e">>,
            <<"ax">> => <<"3">>},
    ?assertEqual({ok, <<"a.">>}, sysport_kv_data:active_prefix(Env)),
    ?assertEqual(#{<<"x">> => <<"1">>, <<>> => <<"e">>}, sysport_kv_data:strip_prefix(<<"a.">>, Env)),
    ?assertEqual({error, no_active_firmware}, sysport_kv_data:active_prefix(#{})),
    ?assertEqual({error, no_active_firmware}, sysport_kv_data:active_prefix(#{<<"nerves_fw_active">> => <<>>})).

firmware_status_test() ->
    Env = #{<<"nerves_fw_active">> => <<"b">>, <<"b.nerves_fw_validated">> => <<"1">>,
            <<"upgrade_available">> => <<"0">>, <<"bootcount">> => <<" 3 ">>},
    ?assertEqual({ok, #{active => <<"b">>, validated => true, upgrade_available => false, bootcount => 3}},
                 sysport_kv_data:firmware_status(Env)),
    ?assertEqual({ok, #{active => <<"a">>, validated => false, upgrade_available => undefined, bootcount => undefined}},
                 sysport_kv_data:firmware_status(#{<<"nerves_fw_active">> => <<"a">>, <<"bootcount">> => <<"x">>})),
    ?assertMatch({ok, #{upgrade_available := true}},
                 sysport_kv_data:firmware_status(#{<<"nerves_fw_active">> => <<"a">>,
                                                   <<"upgrade_available">> => <<"1">>})).

validate_updates_test() ->
    ?assertEqual({ok, [{<<"a.nerves_fw_validated">>, <<"1">>}]},
                 sysport_kv_data:validate_updates(#{<<"nerves_fw_active">> => <<"a">>})),
    ?assertEqual({ok, [{<<"b.nerves_fw_validated">>, <<"1">>}, {<<"upgrade_available">>, <<"0">>},
                       {<<"bootcount">>, <<"0">>}]},
                 sysport_kv_data:validate_updates(#{<<"nerves_fw_active">> => <<"b">>,
                                                    <<"upgrade_available">> => <<"1">>})),
    ?assertEqual({error, no_active_firmware}, sysport_kv_data:validate_updates(#{})).
