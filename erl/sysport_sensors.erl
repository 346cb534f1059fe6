%% @doc hwmon sensors through libsensors: what `sensors' shows, as Erlang
%% data, plus polling, thresholds with hysteresis, kernel alarms as
%% messages, and chips that come and go.
%%
%% Subscribers receive `{sysport_sensors, Event, Info}':
%% ```
%% alarm_raised | alarm_cleared   Info: #{chip, feature, label, source => threshold | kernel,
%%                                        kind, value, limit, clear | subfeature}
%% chip_added | chip_removed      Info: the chip map (without values)
%% reading                        Info: the chip map with values, each poll
%% '''
%% The service polls only while someone subscribes to readings or alarms, or
%% a threshold is set; otherwise neither it nor its helper ever wakes up.
%% When the `sysport_uevent' service runs, a hwmon add or remove rescans
%% the chips (it is subscribed to at start, or at the next subscribe,
%% rescan or poll when it starts later); otherwise call rescan/0. The
%% service contract (options, calls, subscriptions, status) is
%% {@link sysport_service}'s.
-module(sysport_sensors).
-behaviour(sysport_service).

-export([start_link/0, start_link/1, child_spec/1, stop/0, options/0,
         chips/0, read_all/0, read/2, set/3, rescan/0,
         set_threshold/3, clear_threshold/2, thresholds/0,
         subscribe/0, subscribe/1, subscribe/2, unsubscribe/0, unsubscribe/1, status/0]).
-export([helper/1, init/2, handle_call/3, handle_info/2, status/1, filter/1]).
-export_type([event/0, filter/0]).

-type event() :: alarm_raised | alarm_cleared | chip_added | chip_removed | reading.
-type filter() :: #{chips => [unicode:chardata()], events => [event()]}.

-define(EVENTS, [alarm_raised, alarm_cleared, chip_added, chip_removed, reading]).
-define(POLLED_EVENTS, [alarm_raised, alarm_cleared, reading]).
%% libsensors names chips and subfeatures in NAME_MAX buffers; the helper
%% takes nothing longer, and labels are kept to the same bound.
-define(NAME_MAX, 255).
-define(MAX_THRESHOLDS, 1024).
%% A poll asks for its chips by name while the names fit in half the
%% helper's 64 KiB frame and its 256-name list; beyond, it reads them all.
-define(MAX_READ_NAMES, 256).
-define(MAX_READ_BYTES, 32768).

-record(st, {opts :: map(),
             port :: pid(),
             subs :: sysport_subs:subs(),
             info = #{} :: map(),
             chips = [] :: [sysport_sensors_snapshot:chip()],
             stamp :: term(),    % the helper's name for that chip list
             thresholds = #{} :: sysport_sensors_alarms:thresholds(),
             alarms = sysport_sensors_alarms:new() :: sysport_sensors_alarms:state(),
             %% inflight: a poll's readings are on their way
             poll_timer :: reference() | inflight | undefined,
             polls = 0 :: non_neg_integer(),
             poll_errors = 0 :: non_neg_integer(),
             uevent :: reference() | undefined}).

%%% API

%% @doc Starts the service with the app env options.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    start_link(#{}).

%% @doc Starts the service; Opts (a map or proplist, see {@link options/0})
%% are merged over the app env `{sensors, Opts}' and the defaults.
-spec start_link(map() | list()) -> {ok, pid()} | {error, term()}.
start_link(Opts) ->
    sysport_service:start_link(?MODULE, Opts).

%% @doc A child spec that starts the service under your own supervisor.
-spec child_spec(map() | list()) -> supervisor:child_spec().
child_spec(Opts) ->
    sysport_service:child_spec(?MODULE, Opts).

%% @doc Stops the service; `ok' also when it is not running.
-spec stop() -> ok.
stop() ->
    sysport_service:stop(?MODULE).

%% @doc The options: name, default, type and doc of each.
-spec options() -> sysport_opts:schema().
options() ->
    [{config, default, {any_of, [path, {enum, [default]}]},
      <<"a libsensors configuration file (default: libsensors' own, /etc/sensors3.conf and /etc/sensors.d)">>},
     {interval, 5000, pos_integer, <<"between polls (ms)">>},
     {uevent, sysport_uevent, atom, <<"the service that reports hwmon add/remove; false: rescan/0 only">>}].

%% @doc The chips libsensors found, with their features and subfeatures
%% but without reading them.
-spec chips() -> {ok, [sysport_sensors_snapshot:chip()]} | {error, term()}.
chips() ->
    call(chips).

%% @doc Every chip, every feature, every readable subfeature, in one
%% snapshot. A subfeature that cannot be read has `value => {error, Reason}'.
-spec read_all() -> {ok, [sysport_sensors_snapshot:chip()]} | {error, term()}.
read_all() ->
    call(read_all).

%% @doc One feature of one chip, by the feature's name (`<<"temp1">>') or
%% label (`<<"CPU">>').
-spec read(unicode:chardata(), unicode:chardata()) ->
          {ok, sysport_sensors_snapshot:feature()}
              | {error, {no_such_chip, binary()} | {no_such_feature, binary()} | term()}.
read(Chip, Feature) ->
    with_binaries([Chip, Feature], fun([C, F]) -> call({read, C, F}) end).

%% @doc Writes a limit, e.g. `set(<<"lm75-i2c-1-48">>, <<"temp1_max">>, 85.0)',
%% in the units sysport reports (libsensors scales it back). Names over
%% 255 bytes (what libsensors takes) are `{error, too_large}'.
-spec set(unicode:chardata(), unicode:chardata(), number()) -> ok | {error, term()}.
set(Chip, Subfeature, Value) when is_number(Value) ->
    with_binaries([Chip, Subfeature], fun([C, S]) -> call({set, C, S, Value}) end);
set(_, _, Value) ->
    {error, {badarg, Value}}.

%% @doc Re-reads the chip list (libsensors re-initialised): subscribers get
%% chip_added / chip_removed for the difference.
-spec rescan() -> {ok, [sysport_sensors_snapshot:chip()]} | {error, term()}.
rescan() ->
    call(rescan).

%% @doc Raises `alarm_raised' when the feature's value goes above `above'
%% (or below `below') and `alarm_cleared' once it is back under
%% `clear_below' (over `clear_above'), given as a map or a proplist. The
%% chip need not exist yet: until it (and the feature) appears, the
%% threshold is listed under `thresholds_waiting' in the status, and it is
%% armed when the chip comes. At most 1024 thresholds
%% (`{error, too_many_thresholds}').
-spec set_threshold(unicode:chardata(), unicode:chardata(), sysport_sensors_alarms:threshold() | list()) ->
          ok | {error, {bad_threshold, term()} | too_many_thresholds | too_large | term()}.
set_threshold(Chip, Feature, Spec0) ->
    Spec = case sysport_opts:to_map(Spec0) of
               {ok, Map} -> Map;
               error -> Spec0
           end,
    case sysport_sensors_alarms:validate(Spec) of
        {ok, T} -> with_binaries([Chip, Feature], fun([C, F]) -> call({set_threshold, C, F, T}) end);
        {error, _} = Error -> Error
    end.

%% @doc Drops the threshold of a feature (its alarm clears).
-spec clear_threshold(unicode:chardata(), unicode:chardata()) -> ok | {error, term()}.
clear_threshold(Chip, Feature) ->
    with_binaries([Chip, Feature], fun([C, F]) -> call({clear_threshold, C, F}) end).

%% @doc The thresholds set, by `{Chip, Feature}'.
-spec thresholds() -> {ok, sysport_sensors_alarms:thresholds()} | {error, term()}.
thresholds() ->
    call(thresholds).

%% @doc Sends the caller `{sysport_sensors, Event, Info}' for every chip and event.
-spec subscribe() -> ok | {error, term()}.
subscribe() ->
    sysport_service:subscribe(?MODULE).

%% @doc Subscribes Pid (on any node: through erpc, name your own pid), or
%% the caller with a filter (`chips', `events'; a map or proplist).
-spec subscribe(pid() | filter() | list()) -> ok | {error, term()}.
subscribe(PidOrFilter) ->
    sysport_service:subscribe(?MODULE, PidOrFilter).

%% @doc Subscribes Pid with a filter.
-spec subscribe(pid(), filter() | list()) -> ok | {error, term()}.
subscribe(Pid, Filter) ->
    sysport_service:subscribe(?MODULE, Pid, Filter).

%% @doc Stops the caller's messages.
-spec unsubscribe() -> ok | {error, term()}.
unsubscribe() ->
    sysport_service:unsubscribe(?MODULE).

%% @doc Stops Pid's messages.
-spec unsubscribe(pid()) -> ok | {error, term()}.
unsubscribe(Pid) ->
    sysport_service:unsubscribe(?MODULE, Pid).

%% @doc The base keys of {@link sysport_service} and `libsensors',
%% `config', `init', `hwmon', `chips', `interval_ms', `polling',
%% `thresholds' (how many), `thresholds_waiting' (those that cannot fire
%% now: `#{chip, feature, reason => no_such_chip | no_such_feature}'),
%% `active_alarms', `uevent'; `polls' and `poll_errors' under `counters'.
-spec status() -> {ok, map()} | {error, term()}.
status() ->
    sysport_service:status(?MODULE).

call(Request) ->
    sysport_service:call(?MODULE, Request).

%% [ChipName, Name]: binaries (atoms are taken too: `temp1'), names the
%% helper can take; else `{badarg, TheFirstBadOne}', or `too_large' for
%% one longer than any name can be.
with_binaries(Texts, Fun) ->
    Bins = [to_binary(T) || T <- Texts],
    case [{T, B} || {T, B} <- lists:zip(Texts, Bins), not name_ok(B)] of
        [] -> Fun(Bins);
        [{_, B} | _] when is_binary(B), byte_size(B) > ?NAME_MAX -> {error, too_large};
        [{Bad, _} | _] -> {error, {badarg, Bad}}
    end.

to_binary(A) when is_atom(A) -> atom_to_binary(A, utf8);
to_binary(T) ->
    try unicode:characters_to_binary(T)
    catch error:_ -> error
    end.

%% libsensors prints chip names into NAME_MAX buffers and the helper takes
%% nothing longer: a poll must never ask it for one.
name_ok(Name) ->
    is_binary(Name) andalso byte_size(Name) > 0 andalso byte_size(Name) =< ?NAME_MAX
        andalso binary:match(Name, <<0>>) =:= nomatch.

%% @private
-spec filter(map()) -> {ok, #{chips := all | [binary()], events := [event()]}} | {error, term()}.
filter(Filter) when is_map(Filter) ->
    Chips = maps:get(chips, Filter, all),
    Events = maps:get(events, Filter, ?EVENTS),
    Known = maps:without([chips, events], Filter) =:= #{},
    ChipBins = case Chips of
                   all -> all;
                   L when is_list(L) -> chip_names(L, []);
                   _ -> bad
               end,
    case Known andalso ChipBins =/= bad
        andalso lists:all(fun name_ok/1, listify(ChipBins))
        andalso known_events(Events) of
        true -> {ok, #{chips => ChipBins, events => Events}};
        false -> {error, {bad_filter, Filter}}
    end;
filter(Filter) ->
    {error, {bad_filter, Filter}}.

listify(all) -> [];
listify(L) -> L.

%% An improper list is refused, not raised on.
chip_names([C | Rest], Acc) -> chip_names(Rest, [to_binary(C) | Acc]);
chip_names([], Acc) -> lists:reverse(Acc);
chip_names(_, _) -> bad.

known_events([E | Rest]) -> lists:member(E, ?EVENTS) andalso known_events(Rest);
known_events([]) -> true;
known_events(_) -> false.

%%% sysport_service

%% @private
-spec helper(map()) -> {ok, string(), [iodata()]}.
helper(#{config := default}) -> {ok, "sysport_sensors", []};
helper(#{config := Config}) -> {ok, "sysport_sensors", [["--config=", Config]]}.

%% @private
-spec init(map(), sysport_service:ctx()) -> {ok, #st{}}.
init(Opts, #{port := Port, subs := Subs}) ->
    %% The chips are known before the first call or subscriber: they are
    %% not news to anyone.
    Info = receive {sysport_port, Port, {ready, I}} -> I after 0 -> #{} end,
    St = #st{opts = Opts, port = Port, subs = Subs, info = Info},
    {_, St1} = chip_list(sysport_port:call(Port, chips, maps:get(timeout, Opts)), St),
    {ok, polling(subscribe_uevent(St1))}.

%% @private
-spec handle_call(term(), gen_server:from(), #st{}) -> {reply, term(), #st{}} | {noreply, #st{}}.
handle_call(chips, From, St) ->
    {noreply, ask(chips, {chips, From}, St)};
handle_call(read_all, From, St) ->
    {noreply, read(read_all, {From, all}, St)};
handle_call({read, Chip, Feature}, From, St) ->
    {noreply, read({read, [Chip]}, {From, {Chip, Feature}}, St)};
handle_call({set, Chip, Sub, Value}, From, #st{port = Port, opts = #{timeout := Timeout}} = St) ->
    ok = sysport_port:forward(Port, {set, Chip, Sub, Value}, Timeout, From),
    {noreply, St};
handle_call(rescan, From, St) ->
    {noreply, ask(rescan, {chips, From}, subscribe_uevent(St))};
handle_call({set_threshold, Chip, Feature, T}, _From, #st{thresholds = Ts} = St)
  when map_size(Ts) < ?MAX_THRESHOLDS; is_map_key({Chip, Feature}, Ts) ->
    _ = waiting(Chip, Feature, St) =:= armed orelse
        logger:notice("sysport_sensors: threshold on ~ts ~ts waits for it (~p)",
                      [Chip, Feature, waiting(Chip, Feature, St)], #{domain => [sysport, sensors]}),
    {reply, ok, polling(St#st{thresholds = Ts#{{Chip, Feature} => T}})};
handle_call({set_threshold, _, _, _}, _From, St) ->
    {reply, {error, too_many_thresholds}, St};
handle_call({clear_threshold, Chip, Feature}, _From, #st{thresholds = Ts} = St) ->
    {Events, Alarms} = sysport_sensors_alarms:drop_threshold(Chip, Feature, St#st.alarms),
    St1 = St#st{thresholds = maps:remove({Chip, Feature}, Ts), alarms = Alarms},
    notify_alarms(Events, St1),
    {reply, ok, polling(St1)};
handle_call(thresholds, _From, St) ->
    {reply, {ok, St#st.thresholds}, St};
handle_call(_Other, _From, St) ->
    {reply, {error, badarg}, St}.

%% @private
-spec handle_info(term(), #st{}) -> {noreply, #st{}}.
handle_info({sysport_port, Port, {reply, Tag, Result}}, #st{port = Port} = St) ->
    {noreply, replied(Tag, Result, St)};
handle_info({sysport_port, Port, {ready, Info}}, #st{port = Port} = St) ->
    %% A (re)started helper: chips may have come or gone while it was down.
    {noreply, ask(chips, {chips, none}, subscribe_uevent(St#st{info = Info}))};
handle_info({poll, Ref}, #st{poll_timer = Ref} = St) ->
    {noreply, poll(subscribe_uevent(St#st{poll_timer = undefined}))};
handle_info({sysport_uevent, Action, _}, St) when Action =:= add; Action =:= remove ->
    flush_uevents(),
    {noreply, ask(rescan, {chips, none}, St)};
handle_info({sysport_subs, subscribed, _, _}, St) ->
    {noreply, polling(subscribe_uevent(St))};
handle_info({sysport_subs, unsubscribed, _}, St) ->
    {noreply, polling(St)};
handle_info({'DOWN', Ref, process, _, _}, #st{uevent = Ref} = St) ->
    {noreply, St#st{uevent = undefined}};
handle_info(_Msg, St) ->
    {noreply, St}.

%%% Talking to the helper

%% Requests go out without waiting; the result continues in replied/3.
ask(Request, Tag, #st{port = Port, opts = #{timeout := Timeout}} = St) ->
    ok = sysport_port:request(Port, Request, Timeout, Tag),
    St.

%% Readings come without their structure: this side holds the chip list
%% they were read from (the stamp says which), and fetches it anew, then
%% reads again, when the helper has changed lists (rescanned, restarted).
read(Request, For, St) ->
    ask(Request, {readings, Request, For, 1}, St).

replied({chips, From}, Result, St0) ->
    {Reply, St} = chip_list(Result, St0),
    answer(From, Reply),
    St;
replied({readings, Request, For, Retries}, {ok, {Stamp, Readings}}, #st{stamp = Known} = St) ->
    case Stamp =:= Known andalso sysport_sensors_snapshot:with_readings(St#st.chips, Readings) of
        {ok, Chips} -> readings(For, {ok, Chips}, St);
        _ when Retries > 0 -> ask(chips, {chips_then, Request, For, Retries - 1}, St);
        _ -> readings(For, {error, chips_changed}, St)
    end;
replied({readings, _, For, _}, Error, St) ->
    readings(For, Error, St);
replied({chips_then, Request, For, Retries}, Result, St0) ->
    {_, St} = chip_list(Result, St0),
    ask(Request, {readings, Request, For, Retries}, St).

answer(none, _) -> ok;
answer(From, Reply) -> gen_server:reply(From, Reply).

readings({From, all}, Reply, St) ->
    answer(From, Reply),
    St;
readings({From, {Chip, Feature}}, Reply, St) ->
    answer(From, one_feature(Reply, Chip, Feature)),
    St;
readings(poll, Reply, St) ->
    polled(Reply, St).

%% A chip list from the helper (after a rescan, or as it is): subscribers
%% hear what changed since the last list. The alarms of a chip that left
%% are cleared: nothing will ever clear them otherwise. Once libsensors
%% cannot initialise (a config file gone), there are no chips.
chip_list({ok, {Stamp, Raw}}, St) ->
    New = sysport_sensors_snapshot:chips(Raw),
    {{ok, New}, new_chips(New, St#st{stamp = Stamp})};
chip_list({error, {sensors_init, _}} = Error, St) ->
    {Error, new_chips([], St#st{stamp = undefined})};
chip_list(Error, St) ->
    {Error, St}.

new_chips(New, #st{chips = Old} = St) ->
    {Added, Removed} = sysport_sensors_snapshot:diff(Old, New),
    _ = [notify(chip_added, Name, C, St) || #{name := Name} = C <- Added],
    _ = [notify(chip_removed, Name, C, St) || #{name := Name} = C <- Removed],
    {Cleared, Alarms} = sysport_sensors_alarms:drop_chips([N || #{name := N} <- Removed], St#st.alarms),
    notify_alarms(Cleared, St),
    %% A chip that came may be what a threshold waited for.
    polling(St#st{chips = New, alarms = Alarms}).

one_feature({ok, [Chip]}, _, Feature) ->
    case sysport_sensors_snapshot:find_feature(Feature, Chip) of
        {ok, F} -> {ok, F};
        error -> {error, {no_such_feature, Feature}}
    end;
one_feature({ok, []}, Chip, _) ->
    {error, {no_such_chip, Chip}};
one_feature(Error, _, _) ->
    Error.

%% Adds and removes come in bursts (a driver bound to several devices);
%% one rescan answers them all.
flush_uevents() ->
    receive {sysport_uevent, Action, _} when Action =:= add; Action =:= remove -> flush_uevents()
    after 0 -> ok
    end.

subscribe_uevent(#st{uevent = undefined, opts = #{uevent := Mod}} = St) when Mod =/= false ->
    %% The uevent service may not be part of this release: it is called
    %% only when it runs, through the module named in the options.
    case whereis(Mod) of
        Pid when is_pid(Pid) ->
            try Mod:subscribe(#{subsystem => <<"hwmon">>}) of
                {error, _} -> St;
                _ -> St#st{uevent = erlang:monitor(process, Pid)}
            catch
                _:_ -> St
            end;
        _ -> St
    end;
subscribe_uevent(St) ->
    St.

%%% Polling

%% Starts or stops the poll timer: it runs only while something needs
%% readings. The first poll after a quiet spell comes at once.
polling(#st{poll_timer = Timer} = St) ->
    case {poll_targets(St), Timer} of
        {_, inflight} -> St;   % the next poll is scheduled when this one is done
        {none, undefined} -> St;
        {none, _} -> St#st{poll_timer = undefined};  % its {poll, Ref} is ignored
        {_, undefined} -> schedule_poll(St, 0);
        {_, _} -> St
    end.

schedule_poll(St, Delay) ->
    Ref = make_ref(),
    erlang:send_after(Delay, self(), {poll, Ref}),
    St#st{poll_timer = Ref}.

%% all | none | [ChipName]: the chips present that subscribers or
%% thresholds need. Chips named but absent are not asked for (they could be
%% any number of names, of any length): they are polled once they come
%% (new_chips/2), and their thresholds are reported as waiting meanwhile.
poll_targets(#st{subs = Subs, thresholds = Ts, chips = Chips}) ->
    FromSubs = sysport_subs:fold(
                 fun(_, #{chips := Cs, events := Events}, Acc) ->
                         case Events -- ?POLLED_EVENTS =:= Events of
                             true -> Acc;          % chip_added/removed only
                             false -> [Cs | Acc]
                         end
                 end, [], Subs),
    Wanted = case lists:member(all, FromSubs) of
                 true -> all;
                 false -> lists:usort(lists:append(FromSubs) ++ [C || {C, _} <- maps:keys(Ts)])
             end,
    Present = [N || #{name := N} <- Chips, Wanted =:= all orelse lists:member(N, Wanted)],
    if
        Wanted =:= all -> all;
        Present =:= [] -> none;
        length(Present) > ?MAX_READ_NAMES -> all;
        true ->
            case lists:sum([byte_size(N) + 8 || N <- Present]) > ?MAX_READ_BYTES of
                true -> all;
                false -> Present
            end
    end.

poll(St) ->
    case poll_targets(St) of
        none -> St;
        all -> read(read_all, poll, St#st{poll_timer = inflight});
        Names -> read({read, Names}, poll, St#st{poll_timer = inflight})
    end.

polled(Reply, St0) ->
    St = case Reply of
             {ok, Chips} ->
                 {Events, Alarms} = sysport_sensors_alarms:evaluate(Chips, St0#st.thresholds, St0#st.alarms),
                 St1 = St0#st{alarms = Alarms, polls = St0#st.polls + 1},
                 notify_alarms(Events, St1),
                 _ = [notify(reading, Name, C, St1) || #{name := Name} = C <- Chips],
                 St1;
             {error, _} ->
                 St0#st{poll_errors = St0#st.poll_errors + 1}
         end,
    case poll_targets(St) of
        none -> St#st{poll_timer = undefined};
        _ -> schedule_poll(St, maps:get(interval, St#st.opts))
    end.

notify_alarms(Events, St) ->
    _ = [notify(Event, Chip, Info, St) || {Event, #{chip := Chip} = Info} <- Events],
    ok.

notify(Event, Chip, Info, #st{subs = Subs}) ->
    sysport_service:notify(Subs, {sysport_sensors, Event, Info},
                           fun(#{chips := Chips, events := Events}) ->
                                   lists:member(Event, Events) andalso (Chips =:= all orelse lists:member(Chip, Chips))
                           end).

%% armed, or why the threshold on Chip's Feature cannot fire now.
waiting(Chip, Feature, #st{chips = Chips}) ->
    case sysport_sensors_snapshot:find_chip(Chip, Chips) of
        {ok, C} ->
            case sysport_sensors_snapshot:find_feature(Feature, C) of
                {ok, _} -> armed;
                error -> no_such_feature
            end;
        error -> no_such_chip
    end.

%% @private
-spec status(#st{}) -> map().
status(#st{} = St) ->
    #{libsensors => maps:get(libsensors, St#st.info, undefined),
      config => maps:get(config, St#st.info, undefined),
      init => maps:get(init, St#st.info, undefined),
      hwmon => St#st.chips =/= [],
      chips => [N || #{name := N} <- St#st.chips],
      interval_ms => maps:get(interval, St#st.opts),
      polling => St#st.poll_timer =/= undefined,
      counters => #{polls => St#st.polls, poll_errors => St#st.poll_errors},
      thresholds => map_size(St#st.thresholds),
      thresholds_waiting => [#{chip => C, feature => F, reason => W}
                             || {C, F} <- lists:sort(maps:keys(St#st.thresholds)),
                                W <- [waiting(C, F, St)], W =/= armed],
      active_alarms => sysport_sensors_alarms:active(St#st.alarms),
      uevent => case {St#st.uevent, maps:get(uevent, St#st.opts)} of
                    {_, false} -> disabled;
                    {undefined, _} -> not_running;
                    _ -> subscribed
                end}.
