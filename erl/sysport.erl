%% @doc The interactive face of sysport, for IEx and the Erlang shell: short
%% functions that print tables and return `ok'. Programs call the service
%% modules (sysport_kv, sysport_time, ...), which return data.
%%
%% ```
%% 1> sysport:status().
%% 2> sysport:dmesg(#{level => warning}).
%% 3> sysport:devices("net").
%% '''
-module(sysport).

-export([status/0, services/0, help/0]).
%% Each service adds its shell functions on an -export line of its own here.
-export([dmesg/0, dmesg/1]).
-export([kv/0]).
-export([sensors/0]).
-export([devices/0, devices/1]).
-export([time/0]).
-export([tail/0, tail/1, next/0, grep/1, attach/0, detach/0]).

-type service_info() :: #{service := atom(), pid := pid() | undefined,
                          status := map() | {error, term()}}.
-export_type([service_info/0]).

%% @doc Every running service with its status map. A service's status map
%% carries its helper's `sysport_port:stats()' under `helper'.
-spec services() -> [service_info()].
services() ->
    Children = try supervisor:which_children(sysport_sup) catch exit:_ -> [] end,
    [#{service => sysport_service:name(Mod), pid => whereis(Mod), status => service_status(Mod)}
     || {Mod, _, _, _} <- lists:reverse(Children), is_atom(Mod)].

%% @doc Prints the services, their helpers and restarts.
-spec status() -> ok.
status() ->
    case services() of
        [] ->
            io:format("sysport: no services running (application env `services' is empty "
                      "or sysport is not started)~n");
        Services ->
            Header = ["service", "state", "helper", "os pid", "restarts", "last exit", "uptime", "sandbox"],
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
      "  sysport:dmesg()     the kernel log, like dmesg; dmesg(#{level => warning,~n"
      "                      facility => kern, since_seq => N, color => true | false | auto})~n"
      "  sysport:kv()        the U-Boot environment, sorted by key~n"
      "  sysport:sensors()   every hwmon chip and reading, as `sensors' prints them~n"
      "  sysport:devices()   the device table (sysport:devices(\"net\") for one subsystem)~n"
      "  sysport:time()      clock synchronization, NTP servers, RTC, time floor~n"
      "  sysport:tail()      the last 20 log records (sysport:tail(N) for N)~n"
      "  sysport:next()      the log records since this shell's last next()~n"
      "  sysport:grep(P)     log records whose message contains P (a string, or {re, Regex})~n"
      "  sysport:attach()    print new log records here as they come; sysport:detach() stops~n"
      "Programs use the service modules, which return {ok, _} | {error, _}.~n").

%% @doc Prints every chip and reading the way `sensors' does.
-spec sensors() -> ok.
sensors() ->
    case sysport_sensors:read_all() of
        {ok, Chips} -> put_utf8(unicode:characters_to_binary(sysport_sensors_snapshot:format(Chips)));
        {error, Reason} -> io:format("sensors: ~0p~n", [Reason])
    end.

%% @doc Prints the kernel log like `dmesg': `[    1.234567] message', with
%% warnings and worse coloured when the terminal supports it.
-spec dmesg() -> ok.
dmesg() ->
    dmesg(#{}).

%% @doc {@link dmesg/0} for the records {@link sysport_kmsg:dmesg/1} selects
%% with `Opts' (`level', `facility', `since_seq'); `color' is `auto' (a
%% terminal that is not dumb, and NO_COLOR unset), `true' or `false'.
%% Opts is a map or a proplist (`sysport.dmesg(level: :warning)').
-spec dmesg(map() | list()) -> ok.
dmesg(Opts0) ->
    Opts = case sysport_opts:to_map(Opts0) of
               {ok, M} -> M;
               error -> #{bad => Opts0}
           end,
    {Color, Select} = case maps:take(color, Opts) of
                          {C, Rest} -> {C, Rest};
                          error -> {auto, Opts}
                      end,
    case sysport_kmsg:dmesg(Select) of
        {ok, Records} ->
            UseColor = case Color of
                           auto -> color_terminal();
                           _ -> Color =:= true
                       end,
            put_utf8(iolist_to_binary([sysport_kmsg_format:line(R, #{color => UseColor})
                                       || R <- Records]));
        {error, Reason} ->
            io:format("dmesg: ~p~n", [Reason])
    end.

color_terminal() ->
    case {io:columns(), os:getenv("TERM"), os:getenv("NO_COLOR")} of
        {{ok, _}, Term, false} when Term =/= false, Term =/= "dumb" -> true;
        _ -> false
    end.

%% UTF-8 bytes to the group leader, whichever encoding it is set to.
put_utf8(Bin) ->
    case io:getopts() of
        Opts when is_list(Opts) ->
            case proplists:get_value(encoding, Opts) of
                unicode -> io:put_chars(Bin);
                _ -> file:write(group_leader(), Bin)  % bytes as they are
            end;
        _ ->
            io:put_chars(Bin)
    end.


%% @doc Prints the U-Boot environment as a table sorted by key. Values that
%% are not printable text are shown as Erlang binaries.
-spec kv() -> ok.
kv() ->
    case sysport_kv:get_all() of
        {ok, Env} when map_size(Env) =:= 0 ->
            io:format("kv: the env is empty~n");
        {ok, Env} ->
            print_table(["key", "value"], [[printable(K), printable(V)] || {K, V} <- lists:sort(maps:to_list(Env))]);
        {error, Reason} ->
            io:format("kv: ~0p~n", [Reason])
    end,
    case sysport_kv:status() of
        {ok, #{source := Source} = S} ->
            io:format("~b keys; ~ts; current copy ~0p (~0p flags ~0p)~n",
                      [maps:get(keys, S), format_source(Source), maps:get(current, S, none),
                       maps:get(scheme, S, none), maps:get(flags, S, none)]);
        _ -> ok
    end.

%% Text as it is; text with line breaks as a quoted string; other bytes as
%% an Erlang binary.
printable(Bin) ->
    case unicode:characters_to_list(Bin) of
        L when is_list(L) ->
            case {io_lib:printable_unicode_list(L), lists:any(fun(C) -> C < $\s end, L)} of
                {true, false} -> L;
                {true, true} -> io_lib:write_string(L);
                {false, _} -> io_lib:format("~w", [Bin])
            end;
        _ -> io_lib:format("~w", [Bin])
    end.

format_source({config, File}) -> ["config ", File];
format_source({data_dir, File}) -> ["file-backed env in data_dir (fw_printenv -c ", File, ")"];
format_source(Other) -> io_lib:format("~0p", [Other]).
%% @doc Prints the device table of sysport_uevent.
-spec devices() -> ok.
devices() ->
    print_devices(sysport_uevent:devices()).

%% @doc Prints the devices of one subsystem (`"net"', `<<"block">>').
-spec devices(unicode:chardata()) -> ok.
devices(Subsystem) ->
    print_devices(sysport_uevent:devices(#{subsystem => Subsystem})).

print_devices({ok, Devices}) ->
    Rows = [[maps:get(<<"SUBSYSTEM">>, P, <<>>), device_name(D, P), maps:get(<<"DRIVER">>, P, <<>>), D]
            || {D, P} <- maps:to_list(Devices)],
    print_table(["subsystem", "name", "driver", "devpath"], lists:sort(Rows)),
    io:format("~b devices~n", [length(Rows)]);
print_devices({error, Reason}) ->
    io:format("sysport_uevent: ~0p~n", [Reason]).

device_name(_, #{<<"DEVNAME">> := Name}) -> Name;
device_name(_, #{<<"INTERFACE">> := Name}) -> Name;
device_name(DevPath, _) -> filename:basename(DevPath).

status_row(#{service := Name, status := {error, Reason}}) ->
    [atom_to_list(Name), io_lib:format("~0p", [Reason]), "", "", "", "", "", ""];
status_row(#{service := Name, status := #{state := failed} = Status}) ->
    [atom_to_list(Name), "failed", "-", "-", integer_to_list(maps:get(restarts, Status)),
     io_lib:format("~0tP", [maps:get(last_error, Status), 8]), format_uptime(maps:get(uptime_ms, Status)), "-"];
status_row(#{service := Name, status := Status}) ->
    case maps:get(helper, Status, undefined) of
        #{} = H ->
            [atom_to_list(Name), atom_to_list(maps:get(state, H)), maps:get(helper, H),
             case maps:get(os_pid, H) of undefined -> "-"; P -> integer_to_list(P) end,
             integer_to_list(maps:get(restarts, H)),
             format_exit(maps:get(last_exit, H)),
             format_uptime(maps:get(uptime_ms, H)),
             format_sandbox(maps:get(sandbox, H, none))];
        _ ->
            [atom_to_list(Name), "up", "-", "-", "-", "-", "-", "-"]
    end.

%% One cell: "uid 0, caps sys_time, seccomp" (the list named when it is not
%% the production one), or what is missing.
format_sandbox(#{uid := Uid, caps := Caps, no_new_privs := Nnp, seccomp := Seccomp, syscalls := List}) ->
    CapsText = case Caps of
                   [] -> "no caps";
                   _ -> ["caps ", lists:join("+", [atom_to_list(C) || C <- Caps])]
               end,
    SeccompText = case {Seccomp, List} of
                      {filter, production} -> "seccomp";
                      {filter, _} -> ["seccomp (", atom_to_list(List), " list)"];
                      {{unavailable, Why}, _} -> ["no seccomp: ", Why]
                  end,
    NnpText = case Nnp of true -> []; false -> [", new privileges possible"] end,
    lists:flatten(io_lib:format("uid ~b, ~ts, ~ts~ts", [Uid, CapsText, SeccompText, NnpText]));
format_sandbox(_) ->
    "none".

%% Words rather than Erlang terms: the table is read in IEx too.
format_exit({exit, Status}) -> io_lib:format("exit ~b", [Status]);
format_exit({signal, Signal}) -> io_lib:format("signal ~w", [Signal]);
format_exit(Other) -> io_lib:format("~0tp", [Other]).

service_status(Mod) ->
    try Mod:status() of
        {ok, #{} = Map} -> Map;
        #{} = Map -> Map;
        Other -> {error, {bad_status, Other}}
    catch
        Class:Reason -> {error, {Class, Reason}}
    end.

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
    Secs = fun(Key) -> case maps:get(Key, S) of undefined -> undefined; Ms -> Ms / 1000 end end,
    io:format("server        ~ts  stratum ~s  poll ~s s~n",
              [opt(maps:get(server, S)), opt(maps:get(stratum, S)), opt(Secs(poll_ms))]),
    io:format("offset        ~s  delay ~s  jitter ~s~n",
              [seconds(Secs(offset_ms)), magnitude(Secs(delay_ms)), magnitude(Secs(jitter_ms))]),
    io:format("last sync     ~s~n", [utc(maps:get(last_sync, S))]),
    io:format("clock         ~p~n", [maps:get(clock, S)]),
    io:format("floor         ~s (~p)~n", [utc(maps:get(floor, S)), maps:get(floor_source, S)]),
    io:format("rtc           ~ts: ~p~s~n",
              [opt(maps:get(device, Rtc, none)), maps:get(state, Rtc, unknown),
               case Rtc of #{time := T} when is_integer(T) -> ", " ++ utc(T); _ -> "" end]),
    [io:format("rejected      ~0p~n", [R]) || R <- [maps:get(rejected_reasons, S)], map_size(R) > 0],
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

%%% ringlog

%% @doc Prints the last 20 log records.
-spec tail() -> ok.
tail() -> tail(20).

%% @doc Prints the last N log records.
-spec tail(non_neg_integer()) -> ok.
tail(N) -> print_records(sysport_ringlog:tail(N)).

%% @doc Prints the log records that arrived since this process's last
%% next() (the first: all of this boot's still in the ring).
-spec next() -> ok.
next() -> print_records(sysport_ringlog:next()).

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

%% @doc Stops printing new log records in this shell.
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
    {Text, _} = sysport_ringlog_text:lines(Records, Formatter, undefined),
    put_utf8(unicode:characters_to_binary(Text));
print_records({error, Reason}) ->
    io:format("ringlog: ~0tp~n", [Reason]).
