%% @doc The guest side of the QEMU system test: PID 1 starts the VM with
%% `-run sysport_system_guest main'. It runs the checks of this boot (named
%% on the kernel command line, listed in plan.config) and reports to the
%% host on the second serial port, one line each:
%%
%% ```
%% BOOT <name> <uptime>     the VM is up (uptime from /proc/uptime, seconds)
%% PASS <check>
%% FAIL <check>: <why>
%% FACT <key> <value>       remembered by the host, given to later boots
%% INFO <text>              shown by the host
%% END                      every check reported
%% POWER-CUT                the host kills QEMU (End = {power_cut, Ms})
%% '''
%%
%% PID 1 adds `EXIT <status>' when the VM exits. Facts of earlier boots come
%% back through QEMU's fw_cfg (opt/sysport/facts, "key value" lines).
-module(sysport_system_guest).

-export([main/0, fact/2, info/2]).

-define(PLAN, "/etc/sysport-test/plan.config").
-define(FACTS, "/sys/firmware/qemu_fw_cfg/by_name/opt/sysport/facts/raw").
-define(CHECK_TIMEOUT, 60000).

-type ctx() :: #{boot := atom(), facts := #{binary() => binary()}}.
-export_type([ctx/0]).

-spec main() -> no_return().
main() ->
    try run() of
        {power_cut, _Ms} -> power_cut();
        stop -> init:stop(), timer:sleep(infinity);
        halt -> erlang:halt(0)
    catch
        Class:Reason:Stack ->
            io:format("sysport_system_guest crashed: ~p:~p~n~p~n", [Class, Reason, Stack]),
            emit("INFO guest crashed: ~0p:~0p", [Class, Reason]),
            erlang:halt(3)
    end.

run() ->
    Tty = os:getenv("SYSPORT_RESULTS_TTY", "/dev/ttyS1"),
    %% Not raw: the io server lets every check process write its lines.
    {ok, Out} = file:open(Tty, [write, binary]),
    persistent_term:put(?MODULE, Out),
    Boot = list_to_atom(os:getenv("sysport_boot", "fresh")),
    {ok, Uptime} = file:read_file("/proc/uptime"),
    emit("BOOT ~s ~s", [Boot, hd(string:split(Uptime, " "))]),
    {ok, Plan} = file:consult(?PLAN),
    {Checks, End} = case lists:keyfind(Boot, 2, Plan) of
                        {boot, Boot, C, E} -> {C, E};
                        false -> error({boot_not_in_plan, Boot})
                    end,
    Ctx = #{boot => Boot, facts => read_facts()},
    [run_check(Check, Ctx) || Check <- Checks],
    emit("END", []),
    End.

%% Each check runs in its own process so that a crash, an exit or a hang
%% is a FAIL line, never a silent stop of the whole run.
run_check(Check, Ctx) ->
    Runner = self(),
    {Pid, Ref} = spawn_monitor(fun() -> Runner ! {self(), sysport_system_checks:Check(Ctx)} end),
    Result = receive
                 {Pid, R} -> erlang:demonitor(Ref, [flush]), R;
                 {'DOWN', Ref, process, _, Crash} -> {fail, Crash}
             after ?CHECK_TIMEOUT ->
                 exit(Pid, kill),
                 {fail, {timeout_ms, ?CHECK_TIMEOUT}}
             end,
    report(Check, Result).

report(Check, ok) ->
    emit("PASS ~s", [Check]);
report(Check, {fail, Why}) ->
    emit("FAIL ~s: ~ts", [Check, oneline(Why)]);
report(Check, Other) ->
    emit("FAIL ~s: check returned ~ts", [Check, oneline(Other)]).

oneline(Why) ->
    Text = case is_binary(Why) of
               true -> Why;
               false -> unicode:characters_to_binary(io_lib:format("~0tp", [Why], [{chars_limit, 1000}]))
           end,
    binary:replace(Text, [<<"\n">>, <<"\r">>], <<" ">>, [global]).

%% After POWER-CUT the VM keeps running (the checks' workers keep writing)
%% until the host pulls the plug.
power_cut() ->
    emit("POWER-CUT", []),
    timer:sleep(infinity).

%% @doc Tells the host a fact that later boots receive in their ctx().
-spec fact(atom() | string() | binary(), term()) -> ok.
fact(Key, Value) ->
    emit("FACT ~ts ~ts", [Key, to_text(Value)]).

%% @doc A line the host prints beside the check results.
-spec info(io:format(), [term()]) -> ok.
info(Format, Args) ->
    emit("INFO " ++ Format, Args).

to_text(V) when is_integer(V) -> integer_to_list(V);
to_text(V) when is_atom(V) -> atom_to_list(V);
to_text(V) -> V.

emit(Format, Args) ->
    Line = unicode:characters_to_binary([io_lib:format(Format, Args), $\n]),
    ok = file:write(persistent_term:get(?MODULE), Line),
    io:put_chars(standard_io, ["[guest] ", Line]).

read_facts() ->
    case file:read_file(?FACTS) of
        {ok, Text} ->
            maps:from_list([list_to_tuple(string:split(L, " "))
                            || L <- binary:split(Text, <<"\n">>, [global, trim_all]),
                               binary:match(L, <<" ">>) =/= nomatch]);
        {error, _} ->
            #{}
    end.
