%% @doc The device table of {@link sysport_uevent}: an ETS set of
%% `{DevPath, Props, Subsystem}' and a bag of `{Subsystem, DevPath}' to find a
%% subsystem's devices without a scan. The service process owns and writes
%% them; anyone reads.
%%
%% Props are what a uevent for the device carries (DEVPATH, SUBSYSTEM and
%% the lines of its sysfs `uevent' file) without the keys that belong to
%% one event: ACTION, SEQNUM, DEVPATH_OLD, SYNTH_UUID, SYNTH_ARG_*.
%%
%% ```
%% {ok, #{<<"SUBSYSTEM">> := <<"net">>, <<"INTERFACE">> := <<"lo">>}} =
%%     sysport_uevent_table:lookup(<<"/devices/virtual/net/lo">>).
%% '''
-module(sysport_uevent_table).

-export([new/0, lookup/1, select/1, size/0, apply_event/4, reconcile/1, device_props/1]).
-export_type([props/0, diff/0]).

-define(DEVICES, sysport_uevent_devices).
-define(BY_SUBSYSTEM, sysport_uevent_subsystems).

-type props() :: #{binary() => binary()}.
-type diff() :: {add | remove | change, binary(), props()}.

%% @doc Creates the tables, owned by the calling process.
-spec new() -> ok.
new() ->
    ?DEVICES = ets:new(?DEVICES, [named_table, set, protected, {read_concurrency, true}]),
    ?BY_SUBSYSTEM = ets:new(?BY_SUBSYSTEM, [named_table, bag, protected, {read_concurrency, true}]),
    ok.

%% @doc The properties of the device at DevPath.
-spec lookup(binary()) -> {ok, props()} | {error, not_found | not_running}.
lookup(DevPath) ->
    try ets:lookup(?DEVICES, DevPath) of
        [{_, Props, _}] -> {ok, Props};
        [] -> {error, not_found}
    catch
        error:badarg -> {error, not_running}
    end.

%% @doc The devices a compiled filter passes, as a map by devpath.
-spec select(sysport_uevent_filter:compiled()) -> {ok, #{binary() => props()}} | {error, not_running}.
select(Filter) ->
    try
        Candidates = case sysport_uevent_filter:subsystem(Filter) of
                         {ok, Subsystem} ->
                             lists:append([ets:lookup(?DEVICES, D)
                                           || {_, D} <- ets:lookup(?BY_SUBSYSTEM, Subsystem)]);
                         any ->
                             ets:tab2list(?DEVICES)
                     end,
        {ok, maps:from_list([{DevPath, Props} || {DevPath, Props, _} <- Candidates,
                                                 sysport_uevent_filter:match(Filter, DevPath, Props)])}
    catch
        error:badarg -> {error, not_running}
    end.

%% @doc How many devices the table holds.
-spec size() -> non_neg_integer().
size() ->
    ets:info(?DEVICES, size).

%% @doc Applies one kernel event. Table is false for kobjects that are not
%% devices (modules, drivers, network queues): they never enter the table.
%% For a device it is true, or the values that hold a newline as the
%% device's uevent file shows them (cut at the newline), so that the table
%% always says what an enumeration would.
-spec apply_event(atom(), binary(), props(), boolean() | props()) -> ok.
apply_event(remove, DevPath, _Props, _Table) ->
    _ = delete(DevPath),
    ok;
apply_event(move, DevPath, #{<<"DEVPATH_OLD">> := Old} = Props, Table) ->
    _ = delete(Old),
    apply_event(change, DevPath, Props, Table);
apply_event(_Action, DevPath, Props, true) ->
    store(DevPath, device_props(Props));
apply_event(_Action, DevPath, Props, FileForm) when is_map(FileForm) ->
    store(DevPath, maps:merge(device_props(Props), FileForm));
apply_event(_Action, _DevPath, _Props, false) ->
    ok.

%% @doc Makes the table equal to a fresh enumeration and returns what
%% changed: removals first, then additions and changes.
-spec reconcile(#{binary() => props()}) -> [diff()].
reconcile(Snapshot) ->
    Removed = ets:foldl(fun({DevPath, Props, _}, Acc) ->
                                case maps:is_key(DevPath, Snapshot) of
                                    true -> Acc;
                                    false -> [{remove, DevPath, Props} | Acc]
                                end
                        end, [], ?DEVICES),
    [delete(DevPath) || {remove, DevPath, _} <- Removed],
    Updated = maps:fold(fun(DevPath, Props, Acc) ->
                                case ets:lookup(?DEVICES, DevPath) of
                                    [{_, Props, _}] -> Acc;
                                    [_] -> store(DevPath, Props), [{change, DevPath, Props} | Acc];
                                    [] -> store(DevPath, Props), [{add, DevPath, Props} | Acc]
                                end
                        end, [], Snapshot),
    lists:sort(Removed) ++ lists:sort(Updated).

%% @doc An event's properties without the keys that describe the event.
-spec device_props(props()) -> props().
device_props(Event) ->
    %% Removes only what is there: this runs for every event.
    Props = maps:remove(<<"SEQNUM">>, maps:remove(<<"ACTION">>, Event)),
    case Props of
        #{<<"SYNTH_UUID">> := <<"0">>} ->
            drop_devpath_old(maps:remove(<<"SYNTH_UUID">>, Props));
        #{<<"SYNTH_UUID">> := _} ->
            %% Only a write of "ACTION UUID KEY=VALUE..." adds SYNTH_ARG_KEY.
            drop_devpath_old(maps:filter(fun(<<"SYNTH_ARG_", _/binary>>, _) -> false; (_, _) -> true end,
                                         maps:remove(<<"SYNTH_UUID">>, Props)));
        _ ->
            drop_devpath_old(Props)
    end.

drop_devpath_old(#{<<"DEVPATH_OLD">> := _} = Props) -> maps:remove(<<"DEVPATH_OLD">>, Props);
drop_devpath_old(Props) -> Props.

store(DevPath, Props) ->
    Subsystem = maps:get(<<"SUBSYSTEM">>, Props, <<>>),
    case subsystem_of(DevPath) of
        Subsystem -> ok;
        missing -> true = ets:insert(?BY_SUBSYSTEM, {Subsystem, DevPath});
        Old -> ets:delete_object(?BY_SUBSYSTEM, {Old, DevPath}),
               true = ets:insert(?BY_SUBSYSTEM, {Subsystem, DevPath})
    end,
    true = ets:insert(?DEVICES, {DevPath, Props, Subsystem}),
    ok.

subsystem_of(DevPath) ->
    try ets:lookup_element(?DEVICES, DevPath, 3)
    catch error:badarg -> missing
    end.

delete(DevPath) ->
    case ets:take(?DEVICES, DevPath) of
        [{_, _, Subsystem}] -> ets:delete_object(?BY_SUBSYSTEM, {Subsystem, DevPath});
        [] -> true
    end.
