%% Runs every bench/*_bench.erl module and prints one table. Each module
%% exports rows(Ctx) -> [Row] where Row is a map:
%%   #{bench := iodata(), sysport := iodata(), peer := iodata(),
%%     ratio := float() | undefined, goal := iodata(), ok := boolean(),
%%     cmd := iodata()}
%% `ratio' is sysport / peer; `goal' says which way is good.
-module(sysport_bench).
-export([main/1]).
-export([without_console_logger/1, percentile/2, proc_status_kb/2, proc_cpu_ticks/1, proc_ctx_switches/1, idle_wakeups/2,
         fmt/2, sh/1]).

main(Filter) ->
    Dir = filename:dirname(code:which(?MODULE)),
    Mods = lists:sort([list_to_atom(filename:basename(F, ".beam"))
                       || F <- filelib:wildcard(filename:join(Dir, "*_bench.beam"))]),
    Selected = [M || M <- Mods, M =/= ?MODULE, Filter =:= [] orelse
                                lists:any(fun(F) -> string:find(atom_to_list(M), F) =/= nomatch end, Filter)],
    Ctx = #{root => root(), helper_dir => filename:join(root(), "priv"),
            bin => filename:join([root(), "_build", "bench"]),
            testhelper => filename:join([root(), "_build", "c", "release", "sysport_testhelper"])},
    Rows = lists:append([run(M, Ctx) || M <- Selected]),
    print(Rows),
    Failed = [R || #{ok := false} = R <- Rows],
    io:format("~n~b rows, ~b meet their goal, ~b do not~n",
              [length(Rows), length(Rows) - length(Failed), length(Failed)]),
    halt(0).

run(Mod, Ctx) ->
    io:format("running ~s...~n", [Mod]),
    try Mod:rows(Ctx)
    catch C:R:St ->
            io:format("~s failed: ~p:~p~n~p~n", [Mod, C, R, St]),
            [#{bench => atom_to_list(Mod), sysport => "crashed", peer => "", ratio => undefined,
               goal => "", ok => false, cmd => ""}]
    end.

root() ->
    filename:dirname(filename:dirname(filename:dirname(code:which(?MODULE)))).

print(Rows) ->
    Header = ["benchmark", "sysport", "peer", "ratio", "goal", "met", "command"],
    Cells = [Header | [[b(maps:get(bench, R)), b(maps:get(sysport, R)), b(maps:get(peer, R)),
                        case maps:get(ratio, R) of undefined -> "-"; X -> fmt("~.2fx", [X]) end,
                        b(maps:get(goal, R)), case maps:get(ok, R) of true -> "yes"; false -> "NO" end,
                        b(maps:get(cmd, R))] || R <- Rows]],
    Widths = lists:foldl(fun(Row, W) -> [max(string:length(C), X) || {C, X} <- lists:zip(Row, W)] end,
                         [0 || _ <- Header], Cells),
    io:format("~n"),
    [io:format("~ts~n", [string:trim(lists:join(" | ", [string:pad(C, W) || {C, W} <- lists:zip(Row, Widths)]),
                                     trailing)]) || Row <- Cells],
    ok.

b(X) -> unicode:characters_to_list(X).

fmt(F, A) -> lists:flatten(io_lib:format(F, A)).

%% Runs Fun with the primary level at notice and OTP's default handler
%% removed (the benches log floods), then puts both back.
without_console_logger(Fun) ->
    #{level := Primary} = logger:get_primary_config(),
    logger:set_primary_config(level, notice),
    Default = logger:get_handler_config(default),
    _ = logger:remove_handler(default),
    try Fun()
    after
        case Default of
            {ok, C} -> logger:add_handler(default, maps:get(module, C), C);
            _ -> ok
        end,
        logger:set_primary_config(level, Primary)
    end.

percentile(Sorted, P) ->
    lists:nth(max(1, min(length(Sorted), round(P * length(Sorted)))), Sorted).

%% A "Key:   N kB" line of /proc/PID/status.
proc_status_kb(OsPid, Key) ->
    {ok, S} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/status"),
    [Line] = [L || L <- binary:split(S, <<"\n">>, [global]), binary:match(L, Key) =:= {0, byte_size(Key)}],
    [_, V | _] = binary:split(Line, [<<" ">>, <<"\t">>], [global, trim_all]),
    binary_to_integer(V).

proc_cpu_ticks(OsPid) ->
    {ok, Stat} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/stat"),
    [_, After] = string:split(Stat, <<")">>, trailing),
    F = binary:split(After, <<" ">>, [global, trim_all]),
    binary_to_integer(lists:nth(12, F)) + binary_to_integer(lists:nth(13, F)).

proc_ctx_switches(OsPid) ->
    proc_status_kb(OsPid, <<"voluntary_ctxt_switches">>) +
        proc_status_kb(OsPid, <<"nonvoluntary_ctxt_switches">>).

%% CPU ticks and context switches OsPid spends over Ms of waiting: what
%% every helper must keep at zero while idle.
idle_wakeups(OsPid, Ms) ->
    Cpu0 = proc_cpu_ticks(OsPid),
    Ctx0 = proc_ctx_switches(OsPid),
    timer:sleep(Ms),
    {proc_cpu_ticks(OsPid) - Cpu0, proc_ctx_switches(OsPid) - Ctx0}.

sh(Cmd) ->
    string:trim(os:cmd(Cmd)).
