%% @doc The interactive face of sysport, for IEx and the Erlang shell: short
%% functions that print tables and return `ok'. Programs call the service
%% modules (sysport_kv, sysport_time, ...), which return data.
-module(sysport).

-export([status/0, services/0, help/0]).
%% Each service adds its shell functions on an -export line of its own here.
-export([tail/0, tail/1, grep/1, attach/0, detach/0]).

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
      "  sysport:tail()      the last 20 log records (sysport:tail(N) for N)~n"
      "  sysport:grep(P)     log records whose message contains P (a string, or {re, Regex})~n"
      "  sysport:attach()    print new log records here as they come; sysport:detach() stops~n"
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

%%% ringlog

%% @doc Prints the last 20 log records.
-spec tail() -> ok.
tail() -> tail(20).

-spec tail(non_neg_integer()) -> ok.
tail(N) -> print_records(sysport_ringlog:tail(N)).

%% @doc Prints the log records whose message matches P.
-spec grep(term()) -> ok.
grep(P) -> print_records(sysport_ringlog:grep(P)).

%% @doc Prints new log records in this shell as they arrive.
-spec attach() -> ok.
attach() ->
    case sysport_ringlog:attach() of
        ok -> io:format("ringlog: attached; sysport:detach() to stop~n");
        {error, Reason} -> io:format("ringlog: ~0tp~n", [Reason])
    end.

-spec detach() -> ok.
detach() ->
    case sysport_ringlog:detach() of
        ok -> ok;
        {error, Reason} -> io:format("ringlog: ~0tp~n", [Reason])
    end.

print_records({ok, Records}) ->
    Formatter = case sysport_ringlog_query:context() of
                    {ok, #{formatter := F}} -> F;
                    _ -> sysport_ringlog_text:default_formatter()
                end,
    io:put_chars(sysport_ringlog_text:lines(Records, Formatter));
print_records({error, Reason}) ->
    io:format("ringlog: ~0tp~n", [Reason]).
