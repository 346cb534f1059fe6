%% Any argument, every export: PropEr throws arbitrary and nasty terms at
%% every function of the six services and the `sysport' facade
%% (enumerated with module_info(exports), so a new export is covered
%% without a line here), and checks after each call that
%%
%% - it returned (never raised) a result of its shape: `ok | {ok, _} |
%%   {error, _}' (see shape/3 for the few that return data by design);
%% - every service process, its keeper and each helper's owner is the same
%%   process as before, no helper was restarted, and the service called
%%   still answers.
%%
%% The terms: integers small and huge, floats (1.0e300, -0.0...), atoms,
%% binaries (invalid UTF-8, 1 and 10 MB), strings, chardata, deep and
%% improper lists, tuples, maps with odd keys and with the option keys the
%% API takes, pids (live, dead), refs, funs, ports. Each call runs in a
%% process of its own (so subscriptions and attached printers end with
%% it) whose group leader swallows the facade's output.
%%
%% Cases per export: PROPER_NUMTESTS (default 25, a few minutes in all;
%% `PROPER_NUMTESTS=500 make ct ...' for a longer hunt). Durations
%% (uevent's settle) are drawn from short, invalid or absurd values only:
%% a valid hour-long wait is not a hostile argument.
-module(sysport_args_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").
-include_lib("proper/include/proper.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([services/1, facade/1]).

-define(SERVICES, [sysport_kv, sysport_kmsg, sysport_uevent, sysport_ringlog, sysport_time,
                   sysport_sensors]).
-define(NUMTESTS, 25).
%% Longer than any service's timeout below (and their helpers'), so a call
%% that does not return in time is a hang, not a slow answer.
-define(CALL_LIMIT, 20000).
%% The keys of the option maps and filters the API takes (a map with them
%% reaches further than one of random keys).
-define(KNOWN_KEYS, [level, facility, since_seq, timeout, color, chips, events, boot, count,
                     from_seq, before, 'after', above, below, clear_below, clear_above,
                     subsystem, devtype, driver, devpath, helper, args, owner, name, env,
                     wrapper, ready_timeout, stop_timeout, backoff_min, backoff_max,
                     healthy_after, program, config, interval, ring_bytes, ring_records,
                     sync_interval, sync_bytes, max_record_bytes, formatter, metadata,
                     servers, printer_for, device, locations, lock_file, rcvbuf]).

all() ->
    [services, facade].

init_per_suite(Config) ->
    Priv = ?config(priv_dir, Config),
    _ = sysport_test_lib:start_sysport(Priv, fun env/2),
    persistent_term:put({?MODULE, huge}, [binary:copy(<<"x">>, 1 bsl 20),
                                          binary:copy(<<"y">>, 10 bsl 20),
                                          binary:copy(<<0>>, 70000)]),
    %% Files a call might create (a save/1 to a random name) land here.
    Scratch = filename:join(Priv, "cwd"),
    ok = filelib:ensure_dir(filename:join(Scratch, "x")),
    {ok, Cwd} = file:get_cwd(),
    ok = file:set_cwd(Scratch),
    [{cwd, Cwd}, {sink, spawn(fun sink/0)} | Config].

env(Tree, DataDir) ->
    [{data_dir, DataDir},
     {kmsg, #{logger => false, timeout => 3000}},
     {kv, #{lock_file => filename:join(DataDir, "fw_printenv.lock"), timeout => 3000}},
     {time, #{servers => [], clock => recording, timeout => 3000}},
     {ringlog, #{timeout => 3000}},
     {uevent, #{timeout => 3000}},
     {sensors, #{helper => #{wrapper => sysport_sensors_fake:wrapper(Tree)},
                 config => sysport_sensors_fake:config(Tree), interval => 100,
                 uevent => false, timeout => 3000}}].

end_per_suite(Config) ->
    ok = file:set_cwd(?config(cwd, Config)),
    exit(?config(sink, Config), kill),
    _ = persistent_term:erase({?MODULE, huge}),
    _ = application:stop(sysport),
    [application:unset_env(sysport, K) || K <- [data_dir, kmsg, kv, time, sensors, ringlog, uevent]],
    ok.

%%% Cases

services(Config) ->
    check([{M, FA} || M <- ?SERVICES, FA <- targets(M)], Config).

facade(Config) ->
    check([{sysport, FA} || FA <- targets(sysport)], Config).

%% Exports with an argument to vary; not the callbacks OTP, logger or
%% sysport_service make (they are not the API).
targets(M) ->
    Callbacks = sysport_service:behaviour_info(callbacks) ++ gen_server:behaviour_info(callbacks)
        ++ [{log, 2}, {adding_handler, 1}, {removing_handler, 1}, {changing_config, 3},
            {module_info, 1}],
    [{F, A} || {F, A} <- M:module_info(exports), A > 0, not lists:member({F, A}, Callbacks)].

check(Targets, Config) ->
    N = numtests(),
    Failures = lists:filtermap(
                 fun({M, {F, A}}) ->
                         T0 = erlang:monotonic_time(millisecond),
                         Result = proper:counterexample(prop_any_args(M, F, A, Config),
                                                        [{numtests, N}, quiet, long_result]),
                         ct:pal("~p:~p/~b: ~b cases in ~b ms: ~p",
                                [M, F, A, N, erlang:monotonic_time(millisecond) - T0,
                                 Result =:= true]),
                         case Result of
                             true -> false;
                             CounterExample -> {true, {M, F, A, CounterExample}}
                         end
                 end, Targets),
    ?assertEqual([], Failures).

numtests() ->
    case os:getenv("PROPER_NUMTESTS") of
        false -> ?NUMTESTS;
        "" -> ?NUMTESTS;
        S -> list_to_integer(S)
    end.

%%% The property

prop_any_args(M, F, A, Config) ->
    ?FORALL(Args, args(M, F, A),
            begin
                Before = watch(),
                Outcome = run(M, F, Args, ?config(sink, Config)),
                After = watch(),
                Answering = answering(M),
                ?WHENFAIL(ct:pal("~p:~p(~0P)~n -> ~0P~n before ~0p~n after ~0p~n answering ~0p",
                                 [M, F, Args, 12, Outcome, 30, Before, After, Answering]),
                          shape(M, {F, A}, Outcome) andalso Before =:= After andalso Answering)
            end).

%% The call, in a process of its own: {returned, R} | {raised, C, R, Stack} | hung.
run(M, F, Args, Sink) ->
    Self = self(),
    Ref = make_ref(),
    {Pid, Mon} = spawn_monitor(fun() ->
                                       group_leader(Sink, self()),
                                       Outcome = try {returned, apply(M, F, Args)}
                                                 catch C:R:S -> {raised, C, R, S}
                                                 end,
                                       Self ! {Ref, Outcome}
                               end),
    receive
        {Ref, Outcome} ->
            receive {'DOWN', Mon, process, Pid, _} -> ok end,
            Outcome;
        {'DOWN', Mon, process, Pid, Why} ->
            {died, Why}
    after ?CALL_LIMIT ->
            exit(Pid, kill),
            hung
    end.

%% What each export returns for any argument.
shape(_, {child_spec, 1}, {returned, Spec}) -> is_map(Spec);
shape(sysport, _, {returned, R}) -> R =:= ok;      % the facade prints, returns ok
shape(_, _, {returned, R}) -> R =:= ok orelse is_error(R) orelse (is_tuple(R) andalso tuple_size(R) =:= 2 andalso element(1, R) =:= ok);
shape(_, _, _) -> false.

is_error({error, _}) -> true;
is_error(_) -> false.

%% Every service, its keeper, and the owner of each helper with its start
%% count: the same before and after a call.
watch() ->
    [{S, whereis(S), whereis(sysport_keeper:name(S)), owners(whereis(S))} || S <- ?SERVICES].

owners(undefined) -> none;
owners(Pid) ->
    {links, Links} = process_info(Pid, links),
    lists:sort([{P, maps:get(starts, sysport_port:stats(P))} || P <- Links, is_pid(P), is_owner(P)]).

is_owner(P) ->
    case process_info(P, dictionary) of
        {dictionary, D} -> proplists:get_value('$initial_call', D) =:= {sysport_port, init, 1};
        undefined -> false
    end.

answering(M) ->
    case lists:member(M, ?SERVICES) of
        true -> element(1, M:status()) =:= ok;
        false -> lists:all(fun(S) -> element(1, S:status()) =:= ok end, ?SERVICES)
    end.

%%% Generators

args(sysport_uevent, settle, A) -> vector(A, duration());
args(_M, _F, A) -> vector(A, nasty()).

%% A duration: short, invalid, or absurd.
duration() ->
    oneof([range(0, 50), neg_integer(), exactly(infinity), exactly(1 bsl 32), exactly(1 bsl 64),
           exactly(-(1 bsl 64)), exactly(1.5), nasty()]).

nasty() ->
    ?SIZED(Size, nasty(Size)).

nasty(Size) when Size =< 1 ->
    leaf();
nasty(Size) ->
    Sub = Size div 3,
    frequency([{8, leaf()},
               {2, ?LAZY(list(nasty(Sub)))},
               {1, ?LAZY(?LET(L, list(nasty(Sub)), list_to_tuple(L)))},
               {2, ?LAZY(?LET(Pairs, list({key(), nasty(Sub)}), maps:from_list(Pairs)))},
               {1, ?LAZY(?LET(Pairs, list({key(), nasty(Sub)}), Pairs))},
               {1, ?LAZY(?LET({L, T}, {non_empty(list(leaf())), leaf()}, improper(L, T)))},
               {1, ?LAZY(?LET(X, leaf(), deep(X, 1000)))}]).

key() ->
    oneof([elements(?KNOWN_KEYS), leaf()]).

leaf() ->
    oneof([integer(), big_integer(), float(), special_float(), atom(), special_atom(),
           binary(), bad_utf8(), text(), huge_binary(), string(), chardata(),
           exactly(self()), dead_pid(), exactly(make_ref()), exactly(fun() -> ok end),
           exactly(fun erlang:self/0), a_port(), exactly([]), exactly({}), exactly(#{})]).

big_integer() ->
    oneof([exactly(1 bsl 31), exactly(1 bsl 32), exactly(1 bsl 63), exactly((1 bsl 64) - 1),
           exactly(1 bsl 64), exactly(-(1 bsl 63)), exactly(1 bsl 1000), exactly(-(1 bsl 1000)),
           largeint()]).

special_float() ->
    elements([1.0e300, -1.0e300, -0.0, 0.0, 1.0e-300, 5.0e-324, 1.7976931348623157e308, 0.5, -1.5]).

special_atom() ->
    elements([ok, error, undefined, true, false, all, none, default, infinity, nil, '',
              'with space', 'ünïcödé', debug, emergency, kern, previous, current]).

bad_utf8() ->
    elements([<<255>>, <<16#c0, 16#80>>, <<16#ed, 16#a0, 16#80>>, <<"a", 0, "b">>, <<0>>,
              <<"\n">>, <<"a=b">>, <<"#x">>, <<16#f4, 16#90, 16#80, 16#80>>, <<"abc", 16#e2, 16#82>>]).

text() ->
    elements([<<"lm75-i2c-1-48">>, <<"temp1">>, <<"net">>, <<"/devices/virtual/net/lo">>,
              <<"nerves_fw_active">>, <<"a">>, <<"grüße"/utf8>>, "pool.ntp.org", "127.0.0.1",
              <<"/nonexistent/x">>, <<"..">>, ".*", "(", <<"[">>]).

%% Made once (init_per_suite): built in the generator, 11 MB were copied
%% for every leaf drawn.
huge_binary() ->
    elements(persistent_term:get({?MODULE, huge})).

chardata() ->
    ?LET({A, B, C}, {string(), binary(), list(oneof([integer(0, 16#10ffff), neg_integer()]))},
         [A, B | C]).

dead_pid() ->
    ?LAZY(begin
              P = spawn(fun() -> ok end),
              Ref = monitor(process, P),
              receive {'DOWN', Ref, process, P, _} -> P end
          end).

a_port() ->
    ?LAZY(hd([P || P <- erlang:ports()] ++ [undefined])).

improper([X], T) -> [X | T];
improper([X | Xs], T) -> [X | improper(Xs, T)].

deep(X, 0) -> X;
deep(X, N) -> deep([X], N - 1).

%% The facade's output goes nowhere.
sink() ->
    receive
        {io_request, From, ReplyAs, _} ->
            From ! {io_reply, ReplyAs, ok},
            sink();
        _ ->
            sink()
    end.
