%% @doc The interactive face of sysport, for IEx and the Erlang shell: short
%% functions that print tables and return `ok'. Programs call the service
%% modules (sysport_kv, sysport_time, ...), which return data.
-module(sysport).

-export([status/0, services/0, help/0]).
%% Each service adds its shell functions on an -export line of its own here.
-export([time/0]).

-type service_info() :: #{service := atom(), pid := pid() | undefined,
                          status := map() | {error, term()}}.
-export_type([service_info/0]).

%% @doc Every running service with its status map. A service's status map
%% carries its helper's `sysport_port:stats()' under `helper'.
-spec services() -> [service_info()].
services() ->
    Children = try supervisor:which_children(sysport_sup) catch exit:_ -> [] end,
    [#{service => service_name(Mod), pid => pid_or_undefined(Pid), status => service_status(Mod)}
     || {Mod, Pid, _, _} <- lists:reverse(Children), is_atom(Mod)].

%% @doc Prints the services, their helpers and restarts.
-spec status() -> ok.
status() ->
    case services() of
        [] ->
            io:format("sysport: no services running (application env `services' is empty "
                      "or sysport is not started)~n");
        Services ->
            Header = ["service", "state", "helper", "os pid", "restarts", "last exit", "uptime"],
            Rows = [status_row(S) || S <- Services],
            print_table(Header, Rows)
    end,
    io:format("data_dir: ~ts~n", [sysport_env:data_dir()]).

%% @doc Lists the shell functions.
-spec help() -> ok.
help() ->
    io:format(
      "sysport shell functions (each prints and returns ok):~n"
      "  sysport:status()    services, helper pids, restarts~n"
      "  sysport:help()      this text~n"
      "  sysport:time()      clock synchronization, NTP servers, RTC, time floor~n"
      "Programs use the service modules, which return {ok, _} | {error, _}.~n").

status_row(#{service := Name, status := {error, Reason}}) ->
    [atom_to_list(Name), io_lib:format("~0p", [Reason]), "", "", "", "", ""];
status_row(#{service := Name, status := Status}) ->
    case maps:get(helper, Status, undefined) of
        #{} = H ->
            [atom_to_list(Name), atom_to_list(maps:get(state, H)), maps:get(helper, H),
             case maps:get(os_pid, H) of undefined -> "-"; P -> integer_to_list(P) end,
             integer_to_list(maps:get(restarts, H)),
             io_lib:format("~0p", [maps:get(last_exit, H)]),
             format_uptime(maps:get(uptime_ms, H))];
        _ ->
            [atom_to_list(Name), "up", "-", "-", "-", "-", "-"]
    end.

service_status(Mod) ->
    try Mod:status() of
        {ok, #{} = Map} -> Map;
        #{} = Map -> Map;
        Other -> {error, {bad_status, Other}}
    catch
        Class:Reason -> {error, {Class, Reason}}
    end.

service_name(Mod) ->
    case atom_to_list(Mod) of
        "sysport_" ++ Name -> list_to_atom(Name);
        _ -> Mod
    end.

pid_or_undefined(Pid) when is_pid(Pid) -> Pid;
pid_or_undefined(_) -> undefined.

format_uptime(Ms) ->
    S = Ms div 1000,
    case S of
        _ when S < 60 -> io_lib:format("~bs", [S]);
        _ when S < 3600 -> io_lib:format("~bm~2..0bs", [S div 60, S rem 60]);
        _ -> io_lib:format("~bh~2..0bm", [S div 3600, (S rem 3600) div 60])
    end.

print_table(Header, Rows) ->
    Cells = [[unicode:characters_to_list(C) || C <- R] || R <- [Header | Rows]],
    Widths = lists:foldl(fun(R, W) -> [max(string:length(C), X) || {C, X} <- lists:zip(R, W)] end,
                         [0 || _ <- Header], Cells),
    [io:format("~ts~n", [string:trim(lists:join("  ", [string:pad(C, W) || {C, W} <- lists:zip(R, Widths)]),
                                     trailing)])
     || R <- Cells],
    ok.

%%% time

%% @doc Prints the time keeper's status: synchronization, servers, RTC, floor.
-spec time() -> ok.
time() ->
    case catch sysport_time:status() of
        {ok, S} ->
            {ok, Servers} = sysport_time:servers(),
            print_time(S, Servers);
        _ ->
            io:format("sysport_time is not running~n")
    end.

print_time(S, Servers) ->
    #{synchronized := Sync, rtc := Rtc} = S,
    io:format("synchronized  ~s~n", [case Sync of true -> "yes"; false -> "no" end]),
    io:format("server        ~ts  stratum ~s  poll ~s s~n",
              [opt(maps:get(server, S)), opt(maps:get(stratum, S)), opt(maps:get(poll, S))]),
    io:format("offset        ~s  delay ~s  jitter ~s~n",
              [seconds(maps:get(offset, S)), magnitude(maps:get(delay, S)), magnitude(maps:get(jitter, S))]),
    io:format("last sync     ~s~n", [utc(maps:get(last_sync, S))]),
    io:format("clock         ~p~n", [maps:get(clock, S)]),
    io:format("floor         ~s (~p)~n", [utc(maps:get(floor, S)), maps:get(floor_source, S)]),
    io:format("rtc           ~ts: ~p~s~n",
              [opt(maps:get(device, Rtc, none)), maps:get(state, Rtc, unknown),
               case Rtc of #{time := T} when is_integer(T) -> ", " ++ utc(T); _ -> "" end]),
    [io:format("rejected      ~0p~n", [R]) || R <- [maps:get(rejected, S)], map_size(R) > 0],
    case Servers of
        [] -> io:format("NTP servers   none~n");
        _ ->
            print_table(["server", "address", "state", "st", "poll", "reach", "offset", "delay", "sel"],
                        [[opt(H), opt(A), atom_to_list(St), opt(Str), opt(P), io_lib:format("~.8.0b", [Re]),
                          seconds(O), magnitude(D), case Sel of true -> "*"; false -> "" end]
                         || #{host := H, address := A, state := St, stratum := Str, poll := P, reach := Re,
                              offset := O, delay := D, selected := Sel} <- Servers])
    end,
    ok.

opt(undefined) -> "-";
opt(B) when is_binary(B) -> B;
opt(A) when is_atom(A) -> atom_to_list(A);
opt(F) when is_float(F), F == trunc(F) -> integer_to_list(trunc(F));
opt(F) when is_float(F) -> io_lib:format("~.3f", [F]);
opt(I) when is_integer(I) -> integer_to_list(I).

magnitude(undefined) -> "-";
magnitude(X) -> io_lib:format("~.6f s", [X]).

seconds(undefined) -> "-";
seconds(X) when X >= 0 -> io_lib:format("+~.6f s", [X]);
seconds(X) -> io_lib:format("~.6f s", [X]).

utc(undefined) -> "-";
utc(Secs) -> calendar:system_time_to_rfc3339(Secs, [{offset, "Z"}]).
