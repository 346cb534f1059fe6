%% README.md's Erlang examples, run as a reader would run them: each
%% `erlang' block in a shell-like evaluator (prompts stripped, shell
%% commands such as h/1 from c) on a node where sysport runs with a scratch
%% data dir, a recording clock and a fake hwmon with the README's lm75
%% chip; `erlang-remote' blocks with Dev bound to that node (through erpc
%% to it; sysport_dist_SUITE is where nodes really differ);
%% `erlang-config' blocks set as the app env and checked as at start.
%% Blocks run in README order, so one may build on an earlier one.
-module(sysport_readme_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([erlang_blocks_run/1, config_blocks_are_accepted/1, a_failing_example_is_reported/1]).

all() -> [a_failing_example_is_reported, erlang_blocks_run, config_blocks_are_accepted].

init_per_suite(Config) ->
    {Tree, DataDir} = sysport_test_lib:start_sysport(?config(priv_dir, Config), fun env/2),
    {ok, Text} = file:read_file(sysport_readme:path()),
    [{blocks, sysport_readme:blocks(Text)}, {env_keys, [K || {K, _} <- env(Tree, DataDir)]} | Config].

env(Tree, DataDir) ->
    [{data_dir, DataDir},
     {kmsg, [{logger, false}]},
     {kv, [{lock_file, filename:join(DataDir, "fw_printenv.lock")}]},
     {time, [{servers, []}, {clock, recording}]},
     {sensors, #{helper => #{wrapper => sysport_sensors_fake:wrapper(Tree)},
                 config => sysport_sensors_fake:config(Tree), uevent => false}}].

end_per_suite(Config) ->
    _ = application:stop(sysport),
    [application:unset_env(sysport, K) || K <- ?config(env_keys, Config)],
    ok.

%%% Cases

erlang_blocks_run(Config) ->
    Blocks = [B || #{kind := K} = B <- ?config(blocks, Config),
                   lists:member(K, [<<"erlang">>, <<"erlang-remote">>])],
    ?assert(length(Blocks) >= 8),
    Failed = [{Line, Why} || #{line := Line, kind := Kind, text := Text} <- Blocks,
                             {error, Why} <- [run(Text, bindings(Kind))]],
    ?assertEqual([], Failed).

config_blocks_are_accepted(Config) ->
    Blocks = [B || #{kind := <<"erlang-config">>} = B <- ?config(blocks, Config)],
    ?assertNotEqual([], Blocks),
    Saved = application:get_all_env(sysport),
    try
        Failed = [{Line, Why} || #{line := Line, text := Text} <- Blocks,
                                 Why <- [check_config(Text)], Why =/= ok],
        ?assertEqual([], Failed)
    after
        [application:unset_env(sysport, K) || {K, _} <- application:get_all_env(sysport)],
        [application:set_env(sysport, K, V) || {K, V} <- Saved]
    end.

%% The runner itself: a wrong match, an exception, a typo and a bad
%% config are each reported, not passed over.
a_failing_example_is_reported(_Config) ->
    ?assertMatch({error, {error, {badmatch, _}, _}}, run(<<"1> {ok, _} = sysport_kv:get(\"absent-key\").\n">>, #{})),
    ?assertMatch({error, {error, undef, _}}, run(<<"sysport_kv:gte(\"k\").\n">>, #{})),
    ?assertMatch({error, {parse, _}}, run(<<"ok = = ok.\n">>, #{})),
    ?assertMatch({error, {error, {unbound, 'Dev'}, _}}, run(<<"erpc:call(Dev, erlang, node, []).\n">>, #{})),
    ?assertEqual(ok, run(<<"1> X = 1 + 1,\n2 = X.\n2> h(sysport_kv).\n">>, #{})),
    Saved = application:get_all_env(sysport),
    try
        ?assertEqual({error, {invalid_option, kv, #{timeout => "30000"}}},
                     check_config(<<"{sysport, [{kv, [{timeout, \"30000\"}]}]}.">>))
    after
        [application:set_env(sysport, K, V) || {K, V} <- Saved]
    end.

%%% Helpers

bindings(<<"erlang-remote">>) -> #{'Dev' => node()};
bindings(<<"erlang">>) -> #{}.

%% Evaluates a block's forms in order in a new process, as the shell
%% would: ok, or the first form's failure.
run(Text, Bindings0) ->
    Source = re:replace(Text, <<"^[0-9]+> ?">>, <<>>, [global, multiline, {return, list}]),
    case forms(Source, 1, []) of
        {ok, Forms} ->
            Self = self(),
            {Pid, Ref} = spawn_monitor(fun() -> Self ! {self(), eval(Forms, maps:to_list(Bindings0))} end),
            receive
                {Pid, Result} -> erlang:demonitor(Ref, [flush]), Result;
                {'DOWN', Ref, process, Pid, Why} -> {error, {died, Why}}
            after 60000 -> exit(Pid, kill), {error, timeout}
            end;
        {error, _} = Error -> Error
    end.

forms(Source, Line, Acc) ->
    case erl_scan:tokens([], Source, Line) of
        {done, {ok, Tokens, End}, Rest} ->
            case erl_parse:parse_exprs(Tokens) of
                {ok, Exprs} -> forms(Rest, End, [Exprs | Acc]);
                {error, Why} -> {error, {parse, Why}}
            end;
        {done, {eof, _}, _} -> {ok, lists:reverse(Acc)};
        {done, {error, Why, _}, _} -> {error, {parse, Why}};
        {more, _} ->
            %% What is left after the last full stop: comments, or a form
            %% without its full stop.
            case erl_scan:string(Source, Line) of
                {ok, [], _} -> {ok, lists:reverse(Acc)};
                _ -> {error, {parse, {unterminated, Line}}}
            end
    end.

eval([], _Bindings) -> ok;
eval([Exprs | Rest], Bindings) ->
    try erl_eval:exprs(Exprs, Bindings, {value, fun shell_command/2}) of
        {value, _, NewBindings} -> eval(Rest, NewBindings)
    catch Class:Reason:Stack -> {error, {Class, Reason, lists:sublist(Stack, 3)}}
    end.

%% h/1, c/1... as the shell has them.
shell_command(Name, Args) -> apply(c, Name, Args).

%% A sys.config entry set over the .app file's env and checked as the
%% application checks it when it starts.
check_config(Text) ->
    Source = case re:run(Text, <<"\\.\\s*$">>) of
                 nomatch -> binary_to_list(Text) ++ ".";
                 _ -> binary_to_list(Text)
             end,
    {ok, Tokens, _} = erl_scan:string(Source),
    {ok, Term} = erl_parse:parse_term(Tokens),
    Entries = case Term of
                  {sysport, _} -> [Term];
                  List when is_list(List) -> List
              end,
    {sysport, Env} = lists:keyfind(sysport, 1, Entries),
    {ok, [{application, sysport, App}]} = file:consult(code:where_is_file("sysport.app")),
    [application:unset_env(sysport, K) || {K, _} <- application:get_all_env(sysport)],
    [application:set_env(sysport, K, V) || {K, V} <- proplists:get_value(env, App, []) ++ Env],
    sysport_sup:check_env().
