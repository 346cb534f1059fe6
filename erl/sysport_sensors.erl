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
%% rescan or poll when it starts later); otherwise call rescan/0.
-module(sysport_sensors).
-behaviour(gen_server).

-export([start_link/0, start_link/1, child_spec/1, stop/0,
         chips/0, read_all/0, read/2, set/3, rescan/0,
         set_threshold/3, clear_threshold/2, thresholds/0,
         subscribe/0, subscribe/1, subscribe/2, unsubscribe/0, unsubscribe/1, status/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).
-export_type([opts/0, event/0, filter/0]).

-type opts() :: #{config => file:filename_all() | undefined,
                  interval => pos_integer(),
                  uevent => module() | false,
                  helper => file:filename_all(),
                  wrapper => [file:filename_all()],
                  call_timeout => timeout(),
                  backoff_min => pos_integer()}.
%% `config': a libsensors configuration file (undefined: libsensors'
%% default, /etc/sensors3.conf and /etc/sensors.d). `interval': ms between
%% polls. `uevent': the service that reports hwmon add/remove
%% (false: rescan/0 only). `helper', `wrapper' and `backoff_min' go to
%% sysport_port (tests run the helper under valgrind or in a namespace).

-type event() :: alarm_raised | alarm_cleared | chip_added | chip_removed | reading.
-type filter() :: #{chips => [unicode:chardata()], events => [event()]}.

-define(DEFAULTS, #{config => undefined, interval => 5000, uevent => sysport_uevent,
                    helper => "sysport_sensors", wrapper => [], call_timeout => 10000,
                    backoff_min => 100}).
-define(EVENTS, [alarm_raised, alarm_cleared, chip_added, chip_removed, reading]).
-define(POLLED_EVENTS, [alarm_raised, alarm_cleared, reading]).

-record(st, {opts :: map(),
             port :: pid(),
             info = #{} :: map(),
             chips = [] :: [sysport_sensors_snapshot:chip()],
             stamp :: term(),    % the helper's name for that chip list
             subs = sysport_subs:new() :: sysport_subs:subs(),
             thresholds = #{} :: sysport_sensors_alarms:thresholds(),
             alarms = sysport_sensors_alarms:new() :: sysport_sensors_alarms:state(),
             poll_timer :: reference() | undefined,
             polls = 0 :: non_neg_integer(),
             poll_errors = 0 :: non_neg_integer(),
             uevent :: reference() | undefined}).

%%% API

%% @doc Starts the service with the app env options (see {@link start_link/1}).
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    start_link(#{}).

%% @doc Starts the service; Opts are merged over the app env `{sensors, #{...}}'
%% and the defaults.
-spec start_link(opts()) -> {ok, pid()} | {error, term()}.
start_link(Opts) when is_map(Opts) ->
    case options(Opts) of
        {ok, Full} -> gen_server:start_link({local, ?MODULE}, ?MODULE, Full, []);
        {error, _} = Error -> Error
    end.

%% @doc A child spec that starts the service under your own supervisor.
-spec child_spec(opts()) -> supervisor:child_spec().
child_spec(Opts) ->
    #{id => ?MODULE, start => {?MODULE, start_link, [Opts]}, type => worker,
      shutdown => 5000}.

%% @doc Stops the service; `ok' also when it is not running.
-spec stop() -> ok.
stop() ->
    sysport_service:stop(?MODULE).

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
%% in the units sysport reports (libsensors scales it back).
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
%% `clear_below' (over `clear_above'). The chip need not exist yet.
-spec set_threshold(unicode:chardata(), unicode:chardata(), sysport_sensors_alarms:threshold()) ->
          ok | {error, {bad_threshold, term()} | term()}.
set_threshold(Chip, Feature, Spec) ->
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
    subscribe(#{}).

%% @doc Subscribes the caller, optionally to some chips or some events only.
-spec subscribe(filter()) -> ok | {error, term()}.
subscribe(Filter) ->
    subscribe(self(), Filter).

%% @doc Subscribes Pid, which may be on another node: a caller through
%% erpc names its own pid (erpc runs the call in a short-lived process).
-spec subscribe(pid(), filter()) -> ok | {error, term()}.
subscribe(Pid, Filter) when is_pid(Pid) ->
    case filter(Filter) of
        {ok, F} -> call({subscribe, Pid, F});
        {error, _} = Error -> Error
    end;
subscribe(_, _) ->
    {error, badarg}.

%% @doc Stops the caller's messages.
-spec unsubscribe() -> ok | {error, term()}.
unsubscribe() ->
    unsubscribe(self()).

%% @doc Stops Pid's messages.
-spec unsubscribe(pid()) -> ok | {error, term()}.
unsubscribe(Pid) when is_pid(Pid) ->
    call({unsubscribe, Pid});
unsubscribe(_) ->
    {error, badarg}.

%% @doc The helper's stats, chips, polls, thresholds and alarms.
-spec status() -> {ok, #{helper := sysport_port:stats() | {error, term()}, atom() => term()}}
                      | {error, term()}.
status() ->
    call(status).

call(Request) ->
    sysport_service:call(?MODULE, Request, 60000).

%% [ChipName, Name]: binaries (atoms are taken too: `temp1'), the chip's
%% one a name the helper can take; else `{badarg, TheFirstBadOne}'.
with_binaries([Chip | _] = Texts, Fun) ->
    Bins = [to_binary(T) || T <- Texts],
    case [T || {T, B} <- lists:zip(Texts, Bins), not is_binary(B)] of
        [] ->
            case chip_name_ok(hd(Bins)) of
                true -> Fun(Bins);
                false -> {error, {badarg, Chip}}
            end;
        [Bad | _] ->
            {error, {badarg, Bad}}
    end.

to_binary(A) when is_atom(A) -> atom_to_binary(A, utf8);
to_binary(T) ->
    try unicode:characters_to_binary(T)
    catch error:_ -> error
    end.

%% libsensors prints chip names into NAME_MAX buffers and the helper takes
%% nothing longer: a poll must never ask it for one.
chip_name_ok(Name) ->
    byte_size(Name) > 0 andalso byte_size(Name) < 256 andalso binary:match(Name, <<0>>) =:= nomatch.

options(Opts) ->
    case [K || K <- maps:keys(Opts), not is_map_key(K, ?DEFAULTS)] of
        [Bad | _] -> {error, {bad_option, Bad}};
        [] ->
            Full = maps:merge(maps:merge(?DEFAULTS, sysport_env:service_opts(sensors)), Opts),
            case [K || {K, V} <- maps:to_list(Full), not valid_option(K, V)] of
                [] -> {ok, Full};
                [Bad | _] -> {error, {bad_option, {Bad, maps:get(Bad, Full)}}}
            end
    end.

valid_option(config, V) -> V =:= undefined orelse is_binary(unicode:characters_to_binary(V));
valid_option(interval, V) -> is_integer(V) andalso V > 0;
valid_option(uevent, V) -> is_atom(V);
valid_option(wrapper, V) -> is_list(V);
valid_option(call_timeout, V) -> V =:= infinity orelse (is_integer(V) andalso V > 0);
valid_option(backoff_min, V) -> is_integer(V) andalso V > 0;
valid_option(helper, V) -> is_binary(unicode:characters_to_binary(V)).

filter(Filter) when is_map(Filter) ->
    Chips = maps:get(chips, Filter, all),
    Events = maps:get(events, Filter, ?EVENTS),
    Known = maps:without([chips, events], Filter) =:= #{},
    ChipBins = case Chips of
                   all -> all;
                   L when is_list(L) -> [to_binary(C) || C <- L];
                   _ -> bad
               end,
    case Known andalso ChipBins =/= bad
        andalso lists:all(fun(C) -> is_binary(C) andalso chip_name_ok(C) end, listify(ChipBins))
        andalso is_list(Events) andalso Events -- ?EVENTS =:= [] of
        true -> {ok, #{chips => ChipBins, events => Events}};
        false -> {error, {bad_filter, Filter}}
    end;
filter(Filter) ->
    {error, {bad_filter, Filter}}.

listify(all) -> [];
listify(L) -> L.

%%% gen_server

%% @private
-spec init(map()) -> {ok, #st{}} | {stop, term()}.
init(Opts) ->
    process_flag(trap_exit, true),
    Args = case maps:get(config, Opts) of
               undefined -> [];
               Config -> [["--config=", Config]]
           end,
    PortOpts = #{helper => maps:get(helper, Opts), args => Args, owner => self(),
                 wrapper => maps:get(wrapper, Opts), backoff_min => maps:get(backoff_min, Opts),
                 ready_timeout => 30000},
    case sysport_port:start_link(PortOpts) of
        {ok, Port} -> {ok, subscribe_uevent(#st{opts = Opts, port = Port})};
        {error, Reason} -> {stop, Reason}
    end.

%% @private
-spec handle_call(term(), gen_server:from(), #st{}) -> {reply, term(), #st{}}.
handle_call(chips, _From, St) ->
    {Reply, St1} = chip_list(chips, St),
    {reply, Reply, St1};
handle_call(read_all, _From, St) ->
    {Reply, St1} = readings(read_all, St),
    {reply, Reply, St1};
handle_call({read, Chip, Feature}, _From, St) ->
    {Reply, St1} = readings({read, [Chip]}, St),
    {reply, one_feature(Reply, Chip, Feature), St1};
handle_call({set, Chip, Sub, Value}, _From, St) ->
    {reply, helper({set, Chip, Sub, Value}, St), St};
handle_call(rescan, _From, St) ->
    {Reply, St1} = chip_list(rescan, subscribe_uevent(St)),
    {reply, Reply, St1};
handle_call({set_threshold, Chip, Feature, T}, _From, #st{thresholds = Ts} = St) ->
    {reply, ok, polling(St#st{thresholds = Ts#{{Chip, Feature} => T}})};
handle_call({clear_threshold, Chip, Feature}, _From, #st{thresholds = Ts} = St) ->
    {Events, Alarms} = sysport_sensors_alarms:drop_threshold(Chip, Feature, St#st.alarms),
    St1 = St#st{thresholds = maps:remove({Chip, Feature}, Ts), alarms = Alarms},
    notify_alarms(Events, St1),
    {reply, ok, polling(St1)};
handle_call(thresholds, _From, St) ->
    {reply, {ok, St#st.thresholds}, St};
handle_call({subscribe, Pid, Filter}, _From, St) ->
    Subs = sysport_subs:add(Pid, Filter, St#st.subs),
    {reply, ok, polling(subscribe_uevent(St#st{subs = Subs}))};
handle_call({unsubscribe, Pid}, _From, St) ->
    {reply, ok, polling(St#st{subs = sysport_subs:remove(Pid, St#st.subs)})};
handle_call(status, _From, St) ->
    {reply, {ok, status_map(St)}, St};
handle_call(_Other, _From, St) ->
    {reply, {error, badarg}, St}.

%% @private
-spec handle_cast(term(), #st{}) -> {noreply, #st{}}.
handle_cast(_Msg, St) ->
    {noreply, St}.

%% @private
-spec handle_info(term(), #st{}) -> {noreply, #st{}} | {stop, term(), #st{}}.
handle_info({sysport_port, Port, {ready, Info}}, #st{port = Port} = St) ->
    %% A (re)started helper: chips may have come or gone while it was down.
    {_, St1} = chip_list(chips, subscribe_uevent(St#st{info = Info})),
    {noreply, St1};
handle_info({sysport_port, Port, _}, #st{port = Port} = St) ->
    {noreply, St};
handle_info({poll, Ref}, #st{poll_timer = Ref} = St) ->
    {noreply, polling(poll(subscribe_uevent(St#st{poll_timer = undefined})))};
handle_info({poll, _Stale}, St) ->
    {noreply, St};
handle_info({sysport_uevent, Action, _DevPath, _Props}, St) when Action =:= add; Action =:= remove ->
    flush_uevents(),
    {_, St1} = chip_list(rescan, St),
    {noreply, St1};
handle_info({sysport_uevent, _, _, _}, St) ->
    {noreply, St};
handle_info({'DOWN', Ref, process, _, _}, #st{uevent = Ref} = St) ->
    {noreply, St#st{uevent = undefined}};
handle_info({'DOWN', _, process, Pid, _}, St) ->
    {noreply, polling(St#st{subs = sysport_subs:down(Pid, St#st.subs)})};
handle_info({'EXIT', Port, Reason}, #st{port = Port} = St) ->
    {stop, Reason, St};
handle_info(_Msg, St) ->
    {noreply, St}.

%% @private
-spec terminate(term(), #st{}) -> ok.
terminate(_Reason, #st{port = Port}) ->
    sysport_port:stop(Port).

%%% Talking to the helper

helper(Request, #st{port = Port, opts = #{call_timeout := Timeout}}) ->
    sysport_port:call(Port, Request, Timeout).

%% Asks the helper for its chips (after a rescan, or as they are) and tells
%% subscribers what changed since the last list. The alarms of a chip that
%% left are cleared: nothing will ever clear them otherwise. Once
%% libsensors cannot initialise (a config file gone), there are no chips.
chip_list(Request, St) ->
    case helper(Request, St) of
        {ok, {Stamp, Raw}} ->
            New = sysport_sensors_snapshot:chips(Raw),
            {{ok, New}, new_chips(New, St#st{stamp = Stamp})};
        {error, {sensors_init, _}} = Error ->
            {Error, new_chips([], St#st{stamp = undefined})};
        Error ->
            {Error, St}
    end.

new_chips(New, #st{chips = Old} = St) ->
    {Added, Removed} = sysport_sensors_snapshot:diff(Old, New),
    _ = [notify(chip_added, Name, C, St) || #{name := Name} = C <- Added],
    _ = [notify(chip_removed, Name, C, St) || #{name := Name} = C <- Removed],
    {Cleared, Alarms} = sysport_sensors_alarms:drop_chips([N || #{name := N} <- Removed], St#st.alarms),
    notify_alarms(Cleared, St),
    St#st{chips = New, alarms = Alarms}.

%% Readings come without their structure: this side holds the chip list
%% they were read from (the stamp says which), and fetches it anew when
%% the helper has changed lists (rescanned, restarted) since.
readings(Request, St) ->
    readings(Request, St, 1).

readings(Request, #st{stamp = Known} = St0, Retries) ->
    case helper(Request, St0) of
        {ok, {Stamp, Readings}} ->
            St = case Stamp of
                     Known -> St0;
                     _ -> element(2, chip_list(chips, St0))
                 end,
            case Stamp =:= St#st.stamp andalso
                sysport_sensors_snapshot:with_readings(St#st.chips, Readings) of
                {ok, Chips} -> {{ok, Chips}, St};
                _ when Retries > 0 -> readings(Request, St, Retries - 1);
                _ -> {{error, chips_changed}, St}
            end;
        Error ->
            {Error, St0}
    end.

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
    receive {sysport_uevent, _, _, _} -> flush_uevents()
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
        {none, undefined} -> St;
        {none, _} -> _ = erlang:cancel_timer(Timer), St#st{poll_timer = undefined};
        {_, undefined} -> schedule_poll(St, 0);
        {_, _} -> St
    end.

schedule_poll(St, Delay) ->
    Ref = make_ref(),
    erlang:send_after(Delay, self(), {poll, Ref}),
    St#st{poll_timer = Ref}.

%% all | none | [ChipName]
poll_targets(#st{subs = Subs, thresholds = Ts}) ->
    FromSubs = sysport_subs:fold(
                 fun(_, #{chips := Chips, events := Events}, Acc) ->
                         case Events -- ?POLLED_EVENTS =:= Events of
                             true -> Acc;          % chip_added/removed only
                             false -> [Chips | Acc]
                         end
                 end, [], Subs),
    case lists:member(all, FromSubs) of
        true -> all;
        false ->
            case lists:usort(lists:append(FromSubs) ++ [C || {C, _} <- maps:keys(Ts)]) of
                [] -> none;
                Names -> Names
            end
    end.

poll(St) ->
    St1 = case poll_targets(St) of
              none -> St;
              all -> poll_with(read_all, St);
              Names -> poll_with({read, Names}, St)
          end,
    case poll_targets(St1) of
        none -> St1;
        _ -> schedule_poll(St1, maps:get(interval, St1#st.opts))
    end.

poll_with(Request, St0) ->
    case readings(Request, St0) of
        {{ok, Chips}, St} ->
            {Events, Alarms} = sysport_sensors_alarms:evaluate(Chips, St#st.thresholds, St#st.alarms),
            St1 = St#st{alarms = Alarms, polls = St#st.polls + 1},
            notify_alarms(Events, St1),
            _ = [notify(reading, Name, C, St1) || #{name := Name} = C <- Chips],
            St1;
        {{error, _}, St} ->
            St#st{poll_errors = St#st.poll_errors + 1}
    end.

notify_alarms(Events, St) ->
    _ = [notify(Event, Chip, Info, St) || {Event, #{chip := Chip} = Info} <- Events],
    ok.

notify(Event, Chip, Info, #st{subs = Subs}) ->
    sysport_subs:fold(
      fun(Pid, #{chips := Chips, events := Events}, _) ->
              case lists:member(Event, Events) andalso (Chips =:= all orelse lists:member(Chip, Chips)) of
                  true -> sysport_subs:send(Pid, {sysport_sensors, Event, Info});
                  false -> ok
              end
      end, ok, Subs).

status_map(#st{} = St) ->
    #{helper => sysport_port:stats(St#st.port),
      libsensors => maps:get(libsensors, St#st.info, undefined),
      config => maps:get(config, St#st.info, undefined),
      init => maps:get(init, St#st.info, undefined),
      hwmon => St#st.chips =/= [],
      chips => [N || #{name := N} <- St#st.chips],
      interval_ms => maps:get(interval, St#st.opts),
      polling => St#st.poll_timer =/= undefined,
      polls => St#st.polls, poll_errors => St#st.poll_errors,
      subscribers => sysport_subs:count(St#st.subs),
      remote_dropped => sysport_subs:dropped(),
      thresholds => map_size(St#st.thresholds),
      active_alarms => sysport_sensors_alarms:active(St#st.alarms),
      uevent => case {St#st.uevent, maps:get(uevent, St#st.opts)} of
                    {_, false} -> disabled;
                    {undefined, _} -> not_running;
                    _ -> subscribed
                end}.
