%% The contract Gleam and LFE bindings rely on, checked against every
%% export of the service modules (neither compiler is installable here, so
%% this is what stands in for their type checkers):
%%
%% - an export's spec says what it returns, and that is `{ok, T} |
%%   {error, E}' (a query) or `ok | {error, E}' (a command): never both,
%%   never a bare value;
%% - called with valid arguments it returns what its spec says; called with
%%   wrong arguments, unknown keys, absent hardware, or with the service
%%   stopped, it returns `{error, _}' (or `ok', for a command with nothing
%%   to do) and never raises;
%% - text in returned terms and messages is UTF-8 binaries, never charlists
%%   (`message' of kmsg records is the kernel's bytes as they are);
%% - subscription messages are flat tuples tagged with the service's module
%%   name: `{Tag, Payload}' or `{Tag, Event, ...}', no element a tuple;
%% - no records anywhere: not in the specs and exported types (from the
%%   abstract code), not in returned terms or messages (any tuple whose
%%   first element and size match a record defined in a sysport module,
%%   which includes the headers they include).
%%
%% Exports are enumerated with Module:module_info(exports): a new export
%% without an entry in contract/1 or ?EXCLUDED fails the suite.
%%
%% In scope: the six services and the `sysport' shell facade, whose rule is
%% different by design (it prints, for people): every export returns `ok'
%% whether or not the services run, except services/0, which returns a
%% list of maps. Out of scope: sysport_port, the helper owner that service
%% modules are built on; its call/3 returns whatever the helper replies.
-module(sysport_contract_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([every_export_has_a_contract/1, specs_are_results/1, no_records_in_specs_or_types/1,
         walk_running/1, subscription_messages/1, walk_without_hwmon/1, walk_stopped/1,
         config_forms_honoured/1, bad_config_refused_at_start/1, subscribers_survive_restart/1,
         stopped_helper_bounds_calls/1, crash_loop_isolated/1]).

-define(SERVICES, [sysport_kv, sysport_kmsg, sysport_uevent, sysport_ringlog, sysport_time,
                   sysport_sensors]).
-define(MODULES, [sysport | ?SERVICES]).

%% Called by OTP or sysport_service, not by programs: gen_server,
%% sysport_service and logger handler callbacks, the supervision entry
%% points (start_link returns OTP's `{ok, Pid} | {error, _}' and child_spec
%% a map; sysport_sup calls them), and options/0, the schema (data for
%% tools and docs).
-define(EXCLUDED, [{init, 1}, {init, 2}, {handle_call, 3}, {handle_cast, 2}, {handle_info, 2},
                   {terminate, 2}, {code_change, 3}, {helper, 1}, {status, 1}, {filter, 1},
                   {check, 1}, {options, 0},
                   {log, 2}, {adding_handler, 1}, {removing_handler, 1}, {changing_config, 3},
                   {start_link, 0}, {start_link, 1}, {child_spec, 1},
                   {module_info, 0}, {module_info, 1}]).

-define(CHIP, <<"lm75-i2c-1-48">>).
-define(TIMEOUTS(M), maps:get(M, #{sysport_kv => 2000, sysport_kmsg => 3000, sysport_uevent => 2500,
                                    sysport_time => 2100, sysport_sensors => 2200, sysport_ringlog => 2300})).
%% What a caller may wait beyond a service's timeout on a busy 2-core box.
-define(MARGIN, 3000).

all() ->
    [every_export_has_a_contract, specs_are_results, no_records_in_specs_or_types,
     config_forms_honoured, subscribers_survive_restart, stopped_helper_bounds_calls,
     walk_running, subscription_messages, walk_without_hwmon, crash_loop_isolated, walk_stopped,
     bad_config_refused_at_start].

init_per_suite(Config) ->
    {Tree, DataDir} = sysport_test_lib:start_sysport(?config(priv_dir, Config), fun env/2),
    [{tree, Tree}, {data, DataDir} | Config].

%% Half the services configured with proplists (keyword lists, as Elixir's
%% config writes them), half with maps; each with a timeout of its own,
%% which its status must show.
env(Tree, DataDir) ->
    [{data_dir, DataDir},
     {kmsg, [{logger, false}, {timeout, ?TIMEOUTS(sysport_kmsg)}]},
     {kv, [{lock_file, filename:join(DataDir, "fw_printenv.lock")}, {timeout, ?TIMEOUTS(sysport_kv)}]},
     {time, [{servers, []}, {clock, recording}, {timeout, ?TIMEOUTS(sysport_time)}]},
     {ringlog, #{timeout => ?TIMEOUTS(sysport_ringlog)}},
     {uevent, #{timeout => ?TIMEOUTS(sysport_uevent)}},
     {sensors, #{helper => #{wrapper => sysport_sensors_fake:wrapper(Tree)},
                 config => sysport_sensors_fake:config(Tree), interval => 50,
                 uevent => false, timeout => ?TIMEOUTS(sysport_sensors)}}].

end_per_suite(_Config) ->
    _ = application:stop(sysport),
    [application:unset_env(sysport, K) || K <- [data_dir, kmsg, kv, time, sensors, ringlog, uevent]],
    ok.

%%% The contract table

%% Per module, in the order the walk calls them: {Function, Valid, Invalid}.
%% Valid: [{Args, ok | error}], `error' where valid arguments meet an
%% expected failure (no RTC, no active firmware...). Invalid: [Args], each
%% must give `{error, _}'. Args may be a fun returning them.
contract(sysport_kv) ->
    [{subscribe, [{[], ok}], []},
     {subscribe, [{fun self_args/0, ok}, {[[]], ok}], [[42]]},
     {subscribe, [{fun() -> [self(), #{}] end, ok}], [[42, #{}], fun() -> [self(), #{bogus => 1}] end]},
     {put, [{["contract.key", "grüße, 世界"], ok}, {[<<"contract.bin">>, <<"v">>], ok}],
      [[42, "v"], ["k", {v}], ["k", [16#110000]], ["a=b", "v"], ["", "v"]]},
     {put, [{[#{"contract.map" => "1", <<"contract.other">> => <<"2">>}], ok}],
      [[42], [[{"k", "v"}]], [#{1 => 2}], [#{"k" => self()}]]},
     {get, [{["contract.key"], ok}, {["contract.absent"], error}], [[42], [{k}], [[-1]]]},
     {get_all, [{[], ok}], []},
     {delete, [{["contract.other"], ok}, {[["contract.map", <<"contract.bin">>]], ok}],
      [[42], [[a, b]], [#{}]]},
     {get_active, [{["version"], error}], [[42]]},
     {get_all_active, [{[], error}], []},
     {put_active, [{["version", "1"], error}], [[42, "1"], ["version", 1.5]]},
     {firmware_status, [{[], error}], []},
     {validate_firmware, [{[], error}], []},
     {reload, [{[], ok}], []},
     {recover, [{[], ok}], []},
     {status, [{[], ok}], []},
     {unsubscribe, [{fun self_args/0, ok}], [[42]]},
     {unsubscribe, [{[], ok}], []},
     {stop, [], []}];
contract(sysport_kmsg) ->
    [{subscribe, [{[], ok}], []},
     {subscribe, [{fun() -> [self(), #{}] end, ok}], [[42, #{}], fun() -> [self(), 42] end]},
     {subscribe, [{[#{level => info}], ok}, {[#{facility => [kern, user]}], ok}],
      [[42], [#{level => loud}], [#{facility => nope}], [#{bogus => 1}]]},
     {dmesg, [{[], ok}], []},
     {dmesg, [{[#{level => warning, since_seq => 0}], ok}, {[[{level, warning}]], ok}],
      [[42], [#{level => loud}], [#{since_seq => -1}], [#{bogus => 1}], [#{facility => {kern}}]]},
     {status, [{[], ok}], []},
     {unsubscribe, [{fun self_args/0, ok}], [[42]]},
     {unsubscribe, [{[], ok}], []},
     {stop, [], []}];
contract(sysport_uevent) ->
    [{subscribe, [{[], ok}], []},
     {subscribe, [{[#{subsystem => "net"}], ok}, {[#{}], ok}, {[[{subsystem, "net"}]], ok}],
      [[42], [#{subsystem => 42}], [#{devpath => {x}}]]},
     {subscribe, [{fun() -> [self(), #{subsystem => "net"}] end, ok}],
      [[42, #{}], fun() -> [self(), 42] end]},
     {get, [{["/devices/virtual/net/lo"], ok}, {["/sys/devices/virtual/net/lo"], ok},
            {["/devices/contract-absent"], error}],
      [[42], [{x}], [[-1]]]},
     {devices, [{[], ok}], []},
     {devices, [{[#{subsystem => <<"net">>, <<"INTERFACE">> => "lo"}], ok}, {[[{subsystem, "net"}]], ok}],
      [[42], [#{subsystem => 42}], [[{subsystem, 42}]]]},
     {settle, [{[0], ok}], [[-1], [foo], [1.5]]},
     {settle, [{[0, 5000], ok}], [[foo, 10], [0, -1], [0, infinity]]},
     {status, [{[], ok}], []},
     {unsubscribe, [{fun self_args/0, ok}], [[42], [all]]},
     {unsubscribe, [{[], ok}], []},
     {stop, [], []}];
contract(sysport_ringlog) ->
    [{tail, [{[], ok}], []},
     {tail, [{[5], ok}], [[-1], [foo]]},
     {next, [{[], ok}], []},
     {next, [{[10], ok}, {[infinity], ok}], [[-1], [foo]]},
     {grep, [{["contract"], ok}, {[{re, "con.ract"}], ok}], [[42], [{re, "("}]]},
     {grep, [{["contract", #{level => info, before => 1}], ok}],
      [["contract", 42], ["contract", #{bogus => 1}], [42, #{}]]},
     {get, [{[#{boot => current, count => 5}], ok}, {[#{boot => all}], ok}],
      [[42], [#{boot => bogus}], [#{count => -1}]]},
     {boots, [{[], ok}], []},
     {save, [{fun save_path/0, ok}, {["/nonexistent-contract-dir/log.txt"], error}], [[42]]},
     {attach, [{[], ok}], []},
     {detach, [{[], ok}], []},
     {attach, [{[#{level => warning}], ok}], [[42], [#{level => loud}], [#{bogus => 1}]]},
     {detach, [{[], ok}], []},
     {attach, [{fun() -> [self(), #{level => warning}] end, ok}],
      [[42, #{}], fun() -> [self(), 42] end]},
     {detach, [{fun self_args/0, ok}], [[42]]},
     {subscribe, [{[], ok}], []},
     {subscribe, [{[#{level => error}], ok}, {fun self_args/0, ok}], [[42], [#{level => loud}]]},
     {subscribe, [{fun() -> [self(), [{level, info}]] end, ok}], [[42, #{}]]},
     {unsubscribe, [{fun self_args/0, ok}], [[42]]},
     {unsubscribe, [{[], ok}], []},
     {status, [{[], ok}], []},
     {sync, [{[], ok}], []},
     {config, [{[#{level => all}], ok}, {[[{level, all}]], ok}],
      [[42], [#{bogus => 1}], [#{spool_size => 1}], [#{level => loud}]]},
     {stop, [], []}];
contract(sysport_time) ->
    [{subscribe, [{[], ok}], []},
     {subscribe, [{fun self_args/0, ok}], [[42]]},
     {subscribe, [{fun() -> [self(), []] end, ok}], [[42, #{}], fun() -> [self(), #{bogus => 1}] end]},
     {status, [{[], ok}], []},
     {synchronized, [{[], ok}], []},
     {servers, [{[], ok}], []},
     {set_servers, [{[[]], ok}], [[42], [[{"x", 0}]], [[42]], ["pool.ntp.org"]]},
     {set_time, [{fun() -> [os:system_time(second)] end, ok}],
      [["yesterday"], [{{2020, 13, 45}, {0, 0, 0}}], [0], [-1.5]]},
     {rtc_read, [{[], error}], []},
     {rtc_write, [{[], error}], []},
     {recorded, [{[], ok}], []},
     {unsubscribe, [{fun self_args/0, ok}], [[42]]},
     {unsubscribe, [{[], ok}], []},
     {stop, [], []}];
contract(sysport_sensors) ->
    [{subscribe, [{[], ok}], []},
     {subscribe, [{fun() -> [self(), #{}] end, ok}], [[42, #{}], fun() -> [self(), 42] end]},
     {subscribe, [{[#{events => [reading, alarm_raised], chips => [?CHIP]}], ok}],
      [[42], [#{events => [bogus]}], [#{chips => 42}], [#{bogus => 1}]]},
     {chips, [{[], ok}], []},
     {read_all, [{[], ok}], []},
     {read, [{[?CHIP, <<"temp1">>], ok}, {["lm75-i2c-1-48", "Board"], ok},
             {[?CHIP, <<"contract-absent">>], error}, {[<<"absent-chip">>, <<"temp1">>], error}],
      [[42, 42], [{}, "temp1"], [?CHIP, [-1]], [<<>>, "temp1"]]},
     {set, [{[?CHIP, <<"temp1_max">>, 85.0], ok}],
      [[?CHIP, <<"temp1_max">>, "hot"], [42, 42, 1], [?CHIP, <<"contract-absent">>, 1]]},
     {rescan, [{[], ok}], []},
     {set_threshold, [{[?CHIP, "temp1", #{above => 90, clear_below => 85.0}], ok}],
      [[?CHIP, "temp1", 42], [?CHIP, "temp1", #{bogus => 1}], [42, 42, #{above => 1.0}],
       [?CHIP, "temp1", #{above => "hot"}]]},
     {thresholds, [{[], ok}], []},
     {clear_threshold, [{[?CHIP, "temp1"], ok}], [[42, 42], [{}, "temp1"]]},
     {status, [{[], ok}], []},
     {unsubscribe, [{fun self_args/0, ok}], [[42]]},
     {unsubscribe, [{[], ok}], []},
     {stop, [], []}];
contract(sysport) ->
    [{help, [{[], ok}], []},
     {services, [{[], ok}], []},
     {status, [{[], ok}], []},
     {kv, [{[], ok}], []},
     {dmesg, [{[], ok}], []},
     {dmesg, [{[#{level => error, color => false}], ok}], [[#{level => loud}], [#{bogus => 1}]]},
     {devices, [{[], ok}], []},
     {devices, [{["net"], ok}], [[42]]},
     {sensors, [{[], ok}], []},
     {time, [{[], ok}], []},
     {tail, [{[], ok}], []},
     {tail, [{[3], ok}], [[-1]]},
     {next, [{[], ok}], []},
     {grep, [{["contract"], ok}], [[42]]},
     {attach, [{[], ok}], []},
     {detach, [{[], ok}], []}].

self_args() -> [self()].

save_path() ->
    [filename:join(os:getenv("TMPDIR", "/tmp"),
                   "sysport-contract-" ++ os:getpid() ++ ".log")].

%%% Static checks

every_export_has_a_contract(_Config) ->
    Problems = lists:append([export_problems(M) || M <- ?MODULES]),
    ?assertEqual([], Problems).

export_problems(M) ->
    Exports = [FA || FA <- M:module_info(exports), not lists:member(FA, ?EXCLUDED)],
    Covered = lists:usort([{F, arity(Valid, Invalid, M, F)} || {F, Valid, Invalid} <- contract(M)]),
    [{M, no_contract, FA} || FA <- Exports -- Covered] ++
        [{M, not_exported, FA} || FA <- Covered -- Exports].

%% stop/0 has no argument lists: it is called by walk_stopped.
arity([], [], _, stop) -> 0;
arity([{Args, _} | _], _, _, _) -> length(args(Args));
arity([], [Args | _], _, _) -> length(args(Args)).

args(F) when is_function(F, 0) -> F();
args(Args) -> Args.

%% The spec of every contracted export returns ok-or-error or
%% {ok,_}-or-error (the facade: `ok'; services/0: a list).
specs_are_results(_Config) ->
    Problems = [{M, FA, Shape}
                || M <- ?MODULES, FA <- contracted(M),
                   Shape <- [spec_shape(M, FA)], not expected_shape(M, FA, Shape)],
    ?assertEqual([], Problems).

contracted(M) ->
    M:module_info(exports) -- ?EXCLUDED.

expected_shape(sysport, {services, 0}, _) -> true;
expected_shape(sysport, _, Shape) -> Shape =:= bare_ok;
expected_shape(_, {stop, 0}, Shape) -> Shape =:= bare_ok;   % stopped already: ok too
expected_shape(_, _, Shape) -> Shape =:= command orelse Shape =:= query.

%% command: ok | {error, _}; query: {ok, _} | {error, _}; bare_ok: ok.
spec_shape(M, {F, A}) ->
    case [T || {attribute, _, spec, {{F1, A1}, [T]}} <- forms(M), {F1, A1} =:= {F, A}] of
        [] -> no_spec;
        [Type] ->
            Kinds = lists:usort([member_kind(R) || R <- union(return_type(Type))]),
            case Kinds of
                [ok] -> bare_ok;
                [error_tuple, ok] -> command;
                [error_tuple, ok_tuple] -> query;
                _ -> {not_a_result, Kinds}
            end
    end.

return_type({type, _, bounded_fun, [Fun, _]}) -> return_type(Fun);
return_type({type, _, 'fun', [_, Ret]}) -> Ret.

union({type, _, union, Ts}) -> lists:append([union(T) || T <- Ts]);
union(T) -> [T].

member_kind({atom, _, ok}) -> ok;
member_kind({type, _, tuple, [{atom, _, ok}, _]}) -> ok_tuple;
member_kind({type, _, tuple, [{atom, _, error}, _]}) -> error_tuple;
member_kind(Other) -> {bare, Other}.

%% Records in the specs of exports and in exported types: a Gleam or LFE
%% binding would have to mirror the record's field order. Opaque types
%% (the ring log's internal state) are no one's to look into.
no_records_in_specs_or_types(_Config) ->
    {ok, Mods} = application:get_key(sysport, modules),
    Problems = [{M, What} || M <- Mods, What <- record_uses(M)],
    ?assertEqual([], Problems).

record_uses(M) ->
    Forms = forms(M),
    Exported = M:module_info(exports) -- ?EXCLUDED,
    ExportedTypes = lists:append([Ts || {attribute, _, export_type, Ts} <- Forms]),
    [{spec, FA} || {attribute, _, spec, {FA, Types}} <- Forms, lists:member(FA, Exported),
                   has_record_type(Types)] ++
        [{type, {N, length(Ps)}} || {attribute, _, type, {N, Def, Ps}} <- Forms,
                                    lists:member({N, length(Ps)}, ExportedTypes),
                                    has_record_type(Def)].

has_record_type({type, _, record, _}) -> true;
has_record_type(T) when is_tuple(T) -> has_record_type(tuple_to_list(T));
has_record_type(L) when is_list(L) -> lists:any(fun has_record_type/1, L);
has_record_type(_) -> false.

forms(M) ->
    {ok, {M, [{abstract_code, {raw_abstract_v1, Forms}}]}} =
        beam_lib:chunks(code:which(M), [abstract_code]),
    Forms.

%% {Name, Size} of every record a sysport module defines or includes.
records() ->
    {ok, Mods} = application:get_key(sysport, modules),
    lists:usort([{Name, length(Fields) + 1}
                 || M <- Mods, {attribute, _, record, {Name, Fields}} <- forms(M)]).

%%% The walk

walk_running(_Config) ->
    Problems = lists:append([walk(M, running) || M <- ?MODULES]),
    ?assertEqual([], Problems).

%% Subscribes (in a process of its own per service), makes each service
%% produce events, and checks every message.
subscription_messages(_Config) ->
    Triggers = #{sysport_kv => fun() -> ok = sysport_kv:put("contract.event", "ü") end,
                 sysport_kmsg => fun write_kmsg/0,
                 sysport_uevent => fun() -> ok end,   % coldplug_complete on subscribe
                 sysport_time => fun() -> ok = sysport_time:set_time(os:system_time(second)) end,
                 sysport_ringlog => fun() -> logger:notice("contract: ü") end,
                 sysport_sensors => fun() -> ok end}, % readings every 50 ms
    Subscribe = #{sysport_kv => fun sysport_kv:subscribe/0,
                  sysport_kmsg => fun sysport_kmsg:subscribe/0,
                  sysport_uevent => fun() -> sysport_uevent:subscribe(#{}) end,
                  sysport_time => fun sysport_time:subscribe/0,
                  sysport_ringlog => fun sysport_ringlog:subscribe/0,
                  sysport_sensors => fun sysport_sensors:subscribe/0},
    Records = records(),
    Problems = lists:append(
                 [begin
                      Self = self(),
                      Pid = spawn_link(fun() ->
                                               ok = (maps:get(M, Subscribe))(),
                                               Self ! {subscribed, self()},
                                               Self ! {messages, self(), collect(M, [])}
                                       end),
                      receive {subscribed, Pid} -> ok end,
                      (maps:get(M, Triggers))(),
                      Msgs = receive {messages, Pid, Ms} -> Ms end,
                      ct:log("~p: ~b messages, first ~0tp", [M, length(Msgs), hd(Msgs ++ [none])]),
                      [{M, no_message} || Msgs =:= []] ++
                          [{M, Msg, Why} || Msg <- Msgs, Why <- message_problems(M, Msg, Records)]
                  end || M <- maps:keys(Subscribe)]),
    ?assertEqual([], Problems).

%% The messages of one service that arrive within a second of the first.
collect(M, Acc) ->
    Timeout = case Acc of [] -> 10000; _ -> 1000 end,
    receive Msg when element(1, Msg) =:= M, length(Acc) < 200 -> collect(M, [Msg | Acc])
    after Timeout -> lists:reverse(Acc)
    end.

write_kmsg() ->
    {ok, Fd} = file:open("/dev/kmsg", [write, raw, binary]),
    ok = file:write(Fd, <<"<14>sysport contract test: ü\n"/utf8>>),
    ok = file:close(Fd).

message_problems(M, Msg, Records) when is_tuple(Msg), tuple_size(Msg) =:= 3 ->
    [_Tag | Elements] = tuple_to_list(Msg),
    [{not_flat, E} || E <- Elements, is_tuple(E)] ++
        [{tag, element(1, Msg)} || element(1, Msg) =/= M] ++
        term_problems(M, Msg, Records);
message_problems(_, _, _) ->
    [not_a_tagged_tuple].

%% Absent hardware: sensors on the host's own /sys, which has no hwmon
%% here (started outside the supervisor, whose child spec holds the fake
%% tree), and the facade with it.
walk_without_hwmon(_Config) ->
    {ok, Fake} = application:get_env(sysport, sensors),
    ok = supervisor:terminate_child(sysport_sup, sysport_sensors),
    ok = application:set_env(sysport, sensors, #{uevent => false}),
    {ok, Pid} = sysport_sensors:start_link(),
    unlink(Pid),
    try
        ?assertEqual({ok, []}, sysport_sensors:chips()),
        ?assertEqual([], walk(sysport_sensors, no_hwmon) ++ walk(sysport, no_hwmon))
    after
        ok = sysport_sensors:stop(),
        ok = application:set_env(sysport, sensors, Fake),
        {ok, _} = supervisor:restart_child(sysport_sup, sysport_sensors)
    end.

%%% The service contract, the same checks against every service

%% The app env of init_per_suite: proplists and maps alike are in effect
%% (each service's status shows the timeout it was given; time runs the
%% recording clock with no servers, as its proplist says), and a proplist
%% and a map check to the same options.
config_forms_honoured(_Config) ->
    Problems =
        [{M, timeout_ms, T} || M <- ?SERVICES,
                               {ok, #{timeout_ms := T}} <- [M:status()], T =/= ?TIMEOUTS(M)] ++
        [{M, status, S} || M <- ?SERVICES, {ok, #{state := St} = S} <- [M:status()], St =/= running] ++
        [{M, forms_differ} || M <- ?SERVICES,
                              sysport_service:check(M, [{timeout, 1234}]) =/= sysport_service:check(M, #{timeout => 1234})],
    ?assertEqual([], Problems),
    ?assertMatch({ok, #{clock := recording, ntp := disabled}}, sysport_time:status()).

%% Every option of every service, given a value of no type any option
%% takes, is refused by start_link and by the application's start with
%% the one error shape, and nothing starts; so are an unknown key and an
%% unknown service.
bad_config_refused_at_start(Config) ->
    _ = application:stop(sysport),
    Bad = {bad},
    Cases = [{sysport_service:name(M), M, K} || M <- ?SERVICES, {K, _, _, _} <- sysport_service:options(M)]
        ++ [{sysport_service:name(M), M, colour} || M <- ?SERVICES],
    ct:log("~b options", [length(Cases)]),
    Problems =
        lists:append(
          [begin
               Want = {invalid_option, Name, #{K => Bad}},
               ok = application:set_env(sysport, Name, [{K, Bad}]),
               App = application:start(sysport),
               ok = application:set_env(sysport, Name, #{}),
               Direct = M:start_link(#{K => Bad}),
               [{app, Name, K, App} || not (element(1, App) =:= error andalso element(1, element(2, App)) =:= Want)]
                   ++ [{start_link, Name, K, Direct} || Direct =/= {error, Want}]
                   ++ [{started, Name, K} || whereis(sysport_sup) =/= undefined orelse whereis(M) =/= undefined]
           end || {Name, M, K} <- Cases]),
    ok = application:set_env(sysport, services, [kv, bogus]),
    ?assertMatch({error, {{invalid_option, sysport, #{services := bogus}}, _}}, application:start(sysport)),
    ok = application:unset_env(sysport, services),
    ok = application:unload(sysport),
    ok = application:load(sysport),
    [ok = application:set_env(sysport, K, V) || {K, V} <- env(?config(tree, Config), ?config(data, Config))],
    ?assertEqual([], Problems).

%% Kill each service process: its keeper starts it again, the subscriber
%% (subscribed before) hears the next event without subscribing again.
subscribers_survive_restart(_Config) ->
    Problems = lists:append([restart_problems(M) || M <- ?SERVICES]),
    ?assertEqual([], Problems).

restart_problems(M) ->
    Self = self(),
    Sub = spawn_link(fun() ->
                             ok = M:subscribe(),
                             Self ! {subscribed, self()},
                             receive go -> ok end,
                             Self ! {heard, self(), collect(M, [])}
                     end),
    receive {subscribed, Sub} -> ok end,
    {ok, #{restarts := R0}} = M:status(),
    Old = whereis(M),
    exit(Old, kill),
    ok = sysport_test_lib:wait_until(
           fun() -> case M:status() of
                        {ok, #{state := running, restarts := R}} -> R > R0 andalso whereis(M) =/= Old;
                        _ -> false
                    end
           end, 10000),
    {ok, #{subscribers := Subs}} = M:status(),
    (trigger(M))(),
    Sub ! go,
    Heard = receive {heard, Sub, Msgs} -> [Msg || Msg <- Msgs, element(2, Msg) =/= subscription_ended] end,
    ct:log("~p after a restart: ~b messages, first ~0tP", [M, length(Heard), hd(Heard ++ [none]), 10]),
    [{M, subscribers, Subs} || Subs < 1] ++ [{M, deaf_after_restart} || Heard =:= []].

trigger(sysport_kv) -> fun() -> ok = sysport_kv:put("contract.restart", integer_to_list(erlang:unique_integer([positive]))) end;
trigger(sysport_kmsg) -> fun write_kmsg/0;
trigger(sysport_uevent) -> fun() -> ok = file:write_file("/sys/class/net/lo/uevent", "change") end;
trigger(sysport_time) -> fun() -> ok = sysport_time:set_time(os:system_time(second)) end;
trigger(sysport_ringlog) -> fun() -> logger:notice("contract: after a restart") end;
trigger(sysport_sensors) -> fun() -> ok end.   % readings every 50 ms

%% SIGSTOP each helper (as a helper stuck in I/O looks): N callers of a
%% call that needs it, at once, each get an answer within the service's
%% timeout and a margin (not N times the timeout: nobody waits behind
%% another caller), and a call answered from memory answers meanwhile.
stopped_helper_bounds_calls(_Config) ->
    Problems = lists:append([stopped_problems(M) || M <- ?SERVICES]),
    ?assertEqual([], Problems).

%% {call that needs the helper, call answered without it}
calls(sysport_kv) -> {fun() -> sysport_kv:put("contract.stopped", "1") end, fun sysport_kv:get_all/0};
calls(sysport_kmsg) -> {fun sysport_kmsg:dmesg/0, fun sysport_kmsg:status/0};
calls(sysport_uevent) -> {fun sysport_uevent:status/0, fun sysport_uevent:devices/0};
calls(sysport_time) -> {fun sysport_time:recorded/0, fun sysport_time:synchronized/0};
calls(sysport_sensors) -> {fun sysport_sensors:read_all/0, fun sysport_sensors:thresholds/0};
calls(sysport_ringlog) -> {fun sysport_ringlog:sync/0, fun() -> sysport_ringlog:get(#{boot => current}) end}.

stopped_problems(M) ->
    {ok, #{helper := #{os_pid := OsPid}}} = M:status(),
    Pids = [OsPid | descendants(OsPid)],
    {NeedsHelper, FromMemory} = calls(M),
    Timeout = ?TIMEOUTS(M),
    Self = self(),
    signal("STOP", Pids),
    try
        Callers = [spawn_link(fun() -> Self ! {answer, self(), timed(NeedsHelper)} end) || _ <- lists:seq(1, 5)],
        timer:sleep(100),
        {MemMs, MemResult} = timed(FromMemory),
        Answers = [receive {answer, C, A} -> A after Timeout + 2 * ?MARGIN -> {no_answer, C} end || C <- Callers],
        ct:log("~p, helper stopped: from memory ~b ms (~0tP); needing it ~0tP", [M, MemMs, MemResult, 6, Answers, 10]),
        [{M, memory_call_waited, MemMs, MemResult} || MemMs > ?MARGIN orelse element(1, MemResult) =/= ok] ++
            [{M, A} || A <- Answers, not bounded(A, Timeout)]
    after
        signal("CONT", Pids)
    end.

timed(Fun) ->
    T0 = erlang:monotonic_time(millisecond),
    Result = Fun(),
    {erlang:monotonic_time(millisecond) - T0, Result}.

bounded({Ms, _}, Timeout) -> Ms =< Timeout + ?MARGIN;
bounded(_, _) -> false.

descendants(OsPid) ->
    Children = sysport_test_lib:children_of(OsPid),
    Children ++ lists:append([descendants(C) || C <- Children]).

signal(Sig, Pids) ->
    [sysport_test_lib:os_cmd("kill -" ++ Sig ++ " " ++ integer_to_list(P)) || P <- Pids],
    ok.

%% A service that cannot start (its helper is missing) is failed in the
%% status and retried with backoff; the application, the node and the
%% other services run on. Put right, it runs again.
crash_loop_isolated(_Config) ->
    {ok, Env} = application:get_env(sysport, kv),
    ok = supervisor:terminate_child(sysport_sup, sysport_kv),
    ok = application:set_env(sysport, kv, Env ++ [{helper, [{program, "/nonexistent/sysport_kv"}]}]),
    {ok, _} = supervisor:restart_child(sysport_sup, sysport_kv),
    try
        ok = sysport_test_lib:wait_until(fun() -> case sysport_kv:status() of
                                                       {ok, #{state := failed, restarts := R}} -> R >= 3;
                                                       _ -> false
                                                   end
                                         end, 20000),
        {ok, #{state := failed, last_error := {helper_not_found, _}}} = sysport_kv:status(),
        ?assertEqual({error, not_running}, sysport_kv:get("x")),
        ?assertMatch({ok, #{state := running}}, sysport_kmsg:status()),
        ?assertMatch({ok, _}, sysport_ringlog:tail(1)),
        ?assert(lists:keymember(sysport, 1, application:which_applications())),
        ct:capture_start(),
        ok = sysport:status(),
        ct:capture_stop(),
        ?assertMatch([_ | _], [L || L <- string:split(lists:flatten(ct:capture_get()), "\n", all),
                                    string:prefix(L, "kv") =/= nomatch, string:find(L, "failed") =/= nomatch])
    after
        ok = supervisor:terminate_child(sysport_sup, sysport_kv),
        ok = application:set_env(sysport, kv, Env),
        {ok, _} = supervisor:restart_child(sysport_sup, sysport_kv)
    end.

%% Every export with sysport stopped: still a result, never an exception.
walk_stopped(_Config) ->
    ok = application:stop(sysport),
    Problems = lists:append([walk(M, stopped) || M <- ?MODULES]),
    ?assertEqual([], Problems).

%% Calls every contracted export of M, valid arguments then invalid ones.
%% running: valid calls must succeed unless marked `error'; no_hwmon and
%% stopped: any result of the right shape (stopped: stop/0 too).
walk(M, Mode) ->
    Records = records(),
    Calls = [{F, args(Args), expect(Mode, Expect)} || {F, Valid, Invalid} <- contract(M),
                                                      {Args, Expect} <- Valid ++ [{I, error} || I <- Invalid]]
        ++ [{stop, [], stop} || Mode =:= stopped, lists:member({stop, 0}, M:module_info(exports))],
    lists:append([call_problems(M, F, Args, Expect, Records) || {F, Args, Expect} <- Calls]).

expect(running, E) -> E;
expect(_, _) -> any.

call_problems(M, F, Args, Expect, Records) ->
    Shape = spec_shape(M, {F, length(Args)}),
    Where = {M, F, Args},
    try apply(M, F, Args) of
        Result ->
            ct:log("~p:~p~0tp -> ~0tP", [M, F, Args, Result, 12]),
            [{Where, Why} || Why <- result_problems(M, F, Shape, Expect, Result)
                                 ++ term_problems(M, Result, subterms(Args), Records)]
    catch
        Class:Reason:Stack ->
            [{Where, {raised, Class, Reason, hd(Stack)}}]
    end.

result_problems(sysport, services, _, _, L) when is_list(L) -> [];
result_problems(sysport, _, _, _, ok) -> [];
result_problems(_, stop, _, stop, ok) -> [];
result_problems(_, _, Shape, Expect, Result) ->
    Kind = case Result of
               ok when Shape =:= command -> success;
               {ok, _} when Shape =:= query -> success;
               {error, _} -> failure;
               _ -> {not_in_spec, Shape}
           end,
    case {Kind, Expect} of
        {{not_in_spec, _}, _} -> [Kind];
        {success, error} -> [expected_an_error];
        {failure, ok} -> [expected_success];
        _ -> []
    end.

%%% Returned terms: UTF-8 binaries, no charlists, no records

%% An error may quote the caller's argument back (`{error, {badarg,
%% "temp1"}}'): what the caller gave is not text the service returns.
term_problems(M, Term, Records) ->
    term_problems(M, Term, [], Records).

term_problems(M, Term, Echo, Records) ->
    term_problems(M, Term, [], Echo, Records).

subterms(T) when is_list(T) -> [T | lists:append([subterms(E) || E <- T, is_list(E) orelse is_tuple(E) orelse is_map(E)])];
subterms(T) when is_tuple(T) -> [T | subterms(tuple_to_list(T))];
subterms(T) when is_map(T) -> [T | subterms(maps:keys(T) ++ maps:values(T))];
subterms(_) -> [].

term_problems(M, B, Path, _, _) when is_binary(B) ->
    case unicode:characters_to_binary(B) of
        B -> [];
        _ when M =:= sysport_kmsg, hd(Path) =:= message -> [];   % the kernel's bytes
        _ -> [{not_utf8, lists:reverse(Path), B}]
    end;
term_problems(M, L, Path, Echo, Records) when is_list(L) ->
    case L =/= [] andalso lists:all(fun is_integer/1, L) andalso io_lib:printable_unicode_list(L) of
        true ->
            [{charlist, lists:reverse(Path), L} || not lists:member(L, Echo)];
        false ->
            lists:append([term_problems(M, E, [I | Path], Echo, Records)
                          || {I, E} <- lists:enumerate(L)])
    end;
term_problems(M, T, Path, Echo, Records) when is_tuple(T) ->
    Record = [{record, lists:reverse(Path), element(1, T)}
              || tuple_size(T) > 0, lists:member({element(1, T), tuple_size(T)}, Records)],
    Record ++ lists:append([term_problems(M, E, [I | Path], Echo, Records)
                            || {I, E} <- lists:enumerate(tuple_to_list(T))]);
term_problems(M, Map, Path, Echo, Records) when is_map(Map) ->
    lists:append([term_problems(M, K, [key | Path], Echo, Records)
                  ++ term_problems(M, V, [K | Path], Echo, Records)
                  || {K, V} <- maps:to_list(Map)]);
term_problems(_, _, _, _, _) ->
    [].
