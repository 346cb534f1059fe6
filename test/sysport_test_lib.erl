%% Shared by the test suites: where things are, logger capture, and
%% questions about OS processes answered from /proc.
-module(sysport_test_lib).

-export([project_root/0, c_build/0, testhelper/0, release_testhelper/0,
         capture_logs/0, stop_capture_logs/0, wait_log/2, logs/0,
         proc_alive/1, proc_state/1, zombies_of/1, children_of/1,
         wait_until/2, wait_until/3, kill9/1, os_cmd/1, flat_status/1, start_sysport/2]).
%% logger handler callback
-export([log/2]).

-define(HANDLER, sysport_test_capture).

%% The checkout: the Makefile exports SYSPORT_TEST_BIN (= _build/c); run
%% by hand, the application's build directory tells.
-spec project_root() -> string().
project_root() ->
    case os:getenv("SYSPORT_TEST_BIN") of
        V when is_list(V), V =/= "" -> filename:dirname(filename:dirname(V));
        _ ->
            %% _build/test/lib/sysport -> the checkout
            Lib = code:lib_dir(sysport),
            filename:dirname(filename:dirname(filename:dirname(filename:dirname(Lib))))
    end.

-spec c_build() -> string().
c_build() ->
    filename:join([project_root(), "_build", "c"]).

%% The test helper the suites run: the ASan+UBSan build when `make ct' made
%% it, else the release build.
-spec testhelper() -> string().
testhelper() ->
    San = filename:join([c_build(), "san", "sysport_testhelper"]),
    case filelib:is_regular(San) of
        true -> San;
        false -> release_testhelper()
    end.

-spec release_testhelper() -> string().
release_testhelper() ->
    filename:join([c_build(), "release", "sysport_testhelper"]).

%% Logger events are copied to the calling process as
%% {captured_log, Level, Text, Meta} (and kept for logs/0).
-spec capture_logs() -> ok.
capture_logs() ->
    _ = logger:remove_handler(?HANDLER),
    ok = logger:add_handler(?HANDLER, ?MODULE, #{config => #{pid => self()}, level => all}).

-spec stop_capture_logs() -> ok.
stop_capture_logs() ->
    _ = logger:remove_handler(?HANDLER),
    ok.

-spec log(logger:log_event(), logger:handler_config()) -> ok.
log(#{level := Level, msg := Msg, meta := Meta}, #{config := #{pid := Pid}}) ->
    Text = try
               case Msg of
                   {string, S} -> unicode:characters_to_binary(S);
                   {report, R} -> iolist_to_binary(io_lib:format("~0p", [R]));
                   {Format, Args} -> iolist_to_binary(io_lib:format(Format, Args))
               end
           catch _:_ -> <<"(unformattable)">>
           end,
    Pid ! {captured_log, Level, Text, Meta},
    ok.

%% Waits for a captured log line containing Substring.
-spec wait_log(iodata(), timeout()) -> {ok, logger:level(), binary(), map()} | timeout.
wait_log(Substring, Timeout) ->
    Pattern = iolist_to_binary(Substring),
    receive
        {captured_log, Level, Text, Meta} ->
            case binary:match(Text, Pattern) of
                nomatch -> wait_log(Substring, Timeout);
                _ -> {ok, Level, Text, Meta}
            end
    after Timeout -> timeout
    end.

-spec logs() -> [{logger:level(), binary(), map()}].
logs() ->
    receive {captured_log, L, T, M} -> [{L, T, M} | logs()]
    after 0 -> []
    end.

-spec proc_alive(non_neg_integer()) -> boolean().
proc_alive(OsPid) ->
    case proc_state(OsPid) of
        undefined -> false;
        "Z" -> false;
        _ -> true
    end.

%% The state letter of /proc/PID/stat (R, S, Z...), or undefined.
-spec proc_state(non_neg_integer()) -> string() | undefined.
proc_state(OsPid) ->
    case stat_fields(OsPid) of
        [State | _] -> binary_to_list(State);
        _ -> undefined
    end.

%% Direct children of OsPid.
-spec children_of(non_neg_integer()) -> [non_neg_integer()].
children_of(OsPid) ->
    Ppid = integer_to_binary(OsPid),
    [P || P <- all_pids(), case stat_fields(P) of [_, Ppid | _] -> true; _ -> false end].

%% Zombie (defunct) processes anywhere below OsPid.
-spec zombies_of(non_neg_integer()) -> [non_neg_integer()].
zombies_of(OsPid) ->
    Children = children_of(OsPid),
    [C || C <- Children, proc_state(C) =:= "Z"] ++ lists:append([zombies_of(C) || C <- Children]).

all_pids() ->
    {ok, Names} = file:list_dir("/proc"),
    [list_to_integer(N) || N <- Names, lists:all(fun(C) -> C >= $0 andalso C =< $9 end, N)].

%% Fields after "(comm)": state, ppid, ...
stat_fields(OsPid) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/stat") of
        {ok, Stat} ->
            [_, After] = string:split(Stat, <<")">>, trailing),
            binary:split(After, <<" ">>, [global, trim_all]);
        {error, _} -> []
    end.

-spec wait_until(fun(() -> boolean()), timeout()) -> ok | timeout.
wait_until(Fun, Timeout) ->
    wait_until(Fun, Timeout, 10).

-spec wait_until(fun(() -> boolean()), non_neg_integer(), pos_integer()) -> ok | timeout.
wait_until(Fun, Timeout, Step) ->
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    wait_loop(Fun, Deadline, Step).

wait_loop(Fun, Deadline, Step) ->
    case Fun() of
        true -> ok;
        false ->
            case erlang:monotonic_time(millisecond) >= Deadline of
                true -> timeout;
                false -> timer:sleep(Step), wait_loop(Fun, Deadline, Step)
            end
    end.

-spec kill9(non_neg_integer()) -> ok.
kill9(OsPid) ->
    _ = os_cmd("kill -9 " ++ integer_to_list(OsPid)),
    ok.

%% os:cmd with the exit status: {Status, Output}.
-spec os_cmd(string()) -> {non_neg_integer(), string()}.
os_cmd(Cmd) ->
    Out = os:cmd(Cmd ++ "; echo \"__rc=$?\""),
    [Rest, Rc] = string:split(Out, "__rc=", trailing),
    {list_to_integer(string:trim(Rc)), Rest}.

%% A service's status with its counters beside the other keys, as the
%% suites' assertions were written before counters moved under one key.
-spec flat_status(module()) -> {ok, map()} | {error, term()}.
flat_status(Mod) ->
    case Mod:status() of
        {ok, S} -> {ok, maps:merge(maps:get(counters, S, #{}), S)};
        Error -> Error
    end.

%% sysport started afresh as a suite runs it: a fake hwmon tree and a data
%% dir under Priv, the application env EnvOf(Tree, DataDir).
-spec start_sysport(file:filename(), fun((file:filename(), file:filename()) -> [{atom(), term()}])) ->
          {Tree :: file:filename(), DataDir :: file:filename()}.
start_sysport(Priv, EnvOf) ->
    DataDir = filename:join(Priv, "data"),
    Tree = filename:join(Priv, "hwmon"),
    sysport_sensors_fake:tree(Tree),
    _ = application:stop(sysport),
    _ = application:load(sysport),
    [ok = application:set_env(sysport, K, V) || {K, V} <- EnvOf(Tree, DataDir)],
    {ok, _} = application:ensure_all_started(sysport),
    {Tree, DataDir}.
