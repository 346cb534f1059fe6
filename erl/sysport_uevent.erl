%% @doc Kernel uevents and a live device table that never silently diverges
%% from sysfs.
%%
%% The helper `sysport_uevent' listens on NETLINK_KOBJECT_UEVENT and fills
%% the table from libudev's enumeration at start. Any loss (ENOBUFS, a
%% truncated datagram, a SEQNUM that never came, a helper restart) is
%% reported as `overrun' and repaired by enumerating again and reconciling:
%% devices gone are removed, new ones added, changed ones updated, each
%% with an event to subscribers.
%%
%% Subscribers receive
%% ```
%% {sysport_uevent, Action, #{devpath := DevPath, props := Props}}
%%     Action: add | remove | change | move | bind | unbind | online | offline
%%     Props: the event's properties (SEQNUM and ACTION included); an event
%%     made up by a reconciliation has no SEQNUM
%% {sysport_uevent, coldplug_complete, #{devices := N}}
%% {sysport_uevent, overrun, #{missed := N, reason := kernel | helper_restart, ...}}
%% {sysport_uevent, resync_complete, #{added := A, removed := R, changed := C}}
%% '''
%% The last three go to every subscriber whatever its filter. After a
%% restart of the service the table is filled again, and subscribers get
%% the differences from an empty table (an `add' per device) and
%% `coldplug_complete'. The service contract (options, calls,
%% subscriptions, status) is {@link sysport_service}'s.
-module(sysport_uevent).
-behaviour(sysport_service).

-export([start_link/0, start_link/1, child_spec/1, stop/0, options/0,
         get/1, devices/0, devices/1, subscribe/0, subscribe/1, subscribe/2, unsubscribe/0,
         unsubscribe/1, settle/1, settle/2, status/0]).
-export([helper/1, init/2, handle_call/3, handle_info/2, status/1, filter/1]).

-export_type([action/0, props/0]).

-type action() :: add | remove | change | move | bind | unbind | online | offline.
-type props() :: sysport_uevent_table:props().
-define(COLDPLUG_WAIT_MS, 10000).
-define(SETTLE_TIMEOUT_MS, 120000).
-define(MAX_TIMER_MS, 16#FFFFFFFF).
-define(LOG_EVERY_MS, 10000).

-record(st, {opts :: map(),
             port :: pid(),
             info = #{} :: map(),
             subs :: sysport_subs:subs(),
             coldplug = pending :: pending | triggering | complete,
             snapshot :: undefined | {start | resync, non_neg_integer(), [[{binary(), props()}]]},
             last_seq = 0 :: non_neg_integer(),
             quiet_since :: integer(),
             waiters = [] :: [{gen_server:from(), non_neg_integer(), integer()}],
             settle_timer :: reference() | undefined,
             received = 0 :: non_neg_integer(),
             counters = #{} :: #{atom() => non_neg_integer()},
             rejected = #{} :: #{atom() => non_neg_integer()},
             logged = #{} :: #{atom() => integer()},
             %% runs: how many batches ended with each status
             modprobe = #{runs => #{}, aliases => 0, dropped => 0}
                 :: #{runs := #{term() => pos_integer()}, aliases | dropped := non_neg_integer()},
             trigger :: undefined | map()}).

%%% API

%% @doc A child spec that starts the service under your own supervisor.
-spec child_spec(map() | list()) -> supervisor:child_spec().
child_spec(Opts) ->
    sysport_service:child_spec(?MODULE, Opts).

%% @doc Starts the service with the app env options.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    start_link(#{}).

%% @doc Starts the service; returns once the table holds the first
%% enumeration (or after 10 s, the table then filling in the background).
%% Opts (a map or proplist, see {@link options/0}) are merged over the app
%% env `{uevent, Opts}' and the defaults.
-spec start_link(map() | list()) -> {ok, pid()} | {error, term()}.
start_link(Opts) ->
    sysport_service:start_link(?MODULE, Opts).

%% @doc Stops the service; `ok' also when it is not running.
-spec stop() -> ok.
stop() ->
    sysport_service:stop(?MODULE).

%% @doc The options: name, default, type and doc of each.
-spec options() -> sysport_opts:schema().
options() ->
    [{rcvbuf, 8 * 1024 * 1024, {int, 1024, 1 bsl 30}, <<"the netlink receive buffer in bytes (SO_RCVBUFFORCE)">>},
     {trigger, false, boolean, <<"replay add for every device after the first enumeration (udevadm trigger)">>},
     {autoload, false, boolean, <<"run modprobe for the MODALIAS of each add event">>},
     {modprobe, <<"/sbin/modprobe">>, path, <<"the program autoload runs">>}].

%% @doc The properties of one device, by devpath (`/devices/...'; a
%% `/sys/devices/...' path is accepted too).
-spec get(unicode:chardata()) -> {ok, props()} | {error, not_found | not_running | badarg}.
get(DevPath) ->
    case devpath(DevPath) of
        {ok, Path} -> sysport_uevent_table:lookup(Path);
        error -> {error, badarg}
    end.

%% @doc Every device, as a map by devpath.
-spec devices() -> {ok, #{binary() => props()}} | {error, not_running}.
devices() ->
    devices(#{}).

%% @doc The devices that pass a filter (a map or proplist, see
%% {@link sysport_uevent_filter}).
-spec devices(sysport_uevent_filter:filter() | list()) ->
          {ok, #{binary() => props()}} | {error, not_running | {bad_filter, term()}}.
devices(Filter) ->
    case filter(Filter) of
        {ok, Compiled} -> sysport_uevent_table:select(Compiled);
        {error, _} = Error -> Error
    end.

%% @doc Sends the caller every event (see {@link subscribe/2}).
-spec subscribe() -> ok | {error, term()}.
subscribe() ->
    sysport_service:subscribe(?MODULE).

%% @doc Subscribes Pid (on any node: through erpc, name your own pid) to
%% every event, or the caller to the events of devices that pass Filter.
-spec subscribe(pid() | sysport_uevent_filter:filter() | list()) -> ok | {error, term()}.
subscribe(PidOrFilter) ->
    sysport_service:subscribe(?MODULE, PidOrFilter).

%% @doc Sends Pid the events of devices that pass Filter (a map or
%% proplist; subscribing again replaces it). If the table is already
%% whole, `coldplug_complete' follows at once.
-spec subscribe(pid(), sysport_uevent_filter:filter() | list()) -> ok | {error, term()}.
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

%% @doc Returns once the first enumeration is complete (with trigger, once
%% every device was replayed) and no uevent arrived for QuietMs; like
%% `udevadm settle', gives up after 120 s. A quiet period longer than the
%% wait can never be met: `{error, badarg}' at once.
-spec settle(non_neg_integer()) -> ok | {error, timeout | not_running | badarg}.
settle(QuietMs) ->
    settle(QuietMs, ?SETTLE_TIMEOUT_MS).

%% @doc {@link settle/1}, giving up after TimeoutMs (at most about 49
%% days, the longest an Erlang timer runs).
-spec settle(non_neg_integer(), non_neg_integer()) -> ok | {error, timeout | not_running | badarg}.
settle(QuietMs, TimeoutMs) when is_integer(QuietMs), QuietMs >= 0, is_integer(TimeoutMs),
                                TimeoutMs >= 0, QuietMs =< TimeoutMs,
                                TimeoutMs + 1000 =< ?MAX_TIMER_MS ->
    sysport_service:call(?MODULE, {settle, QuietMs, TimeoutMs}, TimeoutMs + 1000);
settle(_, _) ->
    {error, badarg}.

%% @doc The base keys of {@link sysport_service} and `devices',
%% `coldplug', `last_seq' (the last SEQNUM), `rejected_reasons', `modprobe',
%% `trigger', `ready' (the helper's ready info) and `socket' (the helper's
%% view of its socket); under `counters': `received', `rejected',
%% `overruns', `missed', `kernel_drops', `resyncs', `stale'.
-spec status() -> {ok, map()} | {error, term()}.
status() ->
    case sysport_service:status(?MODULE) of
        {ok, #{state := running} = Status} ->
            %% Asked here, not in the service: a stuck helper delays only this caller.
            case sysport_service:call(?MODULE, port) of
                {ok, Port} -> {ok, Status#{socket => sysport_port:call(Port, stats, 2000)}};
                _ -> {ok, Status}
            end;
        Other ->
            Other
    end.

%% @private
-spec filter(term()) -> {ok, sysport_uevent_filter:compiled()} | {error, {bad_filter, term()}}.
filter(Filter) ->
    case sysport_opts:to_map(Filter) of
        {ok, Map} -> sysport_uevent_filter:compile(Map);
        error -> {error, {bad_filter, Filter}}
    end.

%%% sysport_service

%% @private
-spec helper(map()) -> {ok, string(), [iodata()]}.
helper(#{rcvbuf := Rcvbuf, autoload := Autoload, modprobe := Modprobe}) ->
    {ok, "sysport_uevent", ["--rcvbuf=" ++ integer_to_list(Rcvbuf) |
                            [["--modprobe=", Modprobe] || Autoload]]}.

%% @private
-spec init(map(), sysport_service:ctx()) -> {ok, #st{}}.
init(Opts, #{port := Port, subs := Subs}) ->
    ok = sysport_uevent_table:new(),
    St = #st{opts = Opts, port = Port, subs = Subs, quiet_since = now_ms()},
    {ok, await_coldplug(St, now_ms() + ?COLDPLUG_WAIT_MS)}.

%% @private
-spec handle_call(term(), gen_server:from(), #st{}) -> {reply, term(), #st{}} | {noreply, #st{}}.
handle_call({settle, Quiet, Timeout}, From, St) ->
    Waiter = {From, Quiet, now_ms() + Timeout},
    {noreply, check_waiters(St#st{waiters = [Waiter | St#st.waiters]})};
handle_call(port, _From, St) ->
    {reply, {ok, St#st.port}, St};
handle_call(_Other, _From, St) ->
    {reply, {error, badarg}, St}.

%% @private
-spec handle_info(term(), #st{}) -> {noreply, #st{}}.
handle_info({sysport_port, Port, {event, Event}}, #st{port = Port} = St) ->
    {noreply, event(Event, St)};
handle_info({sysport_port, Port, {ready, Info}}, #st{port = Port} = St) ->
    {noreply, St#st{info = Info}};
handle_info({sysport_port, Port, {exited, _Status}}, #st{port = Port} = St) ->
    %% A half-received snapshot is of no use: the next helper sends a whole one.
    {noreply, St#st{snapshot = undefined}};
handle_info({sysport_subs, subscribed, Pid, _Filter}, #st{coldplug = complete} = St) ->
    notify_one(Pid, coldplug_complete, #{devices => sysport_uevent_table:size()}),
    {noreply, St};
handle_info(reconciled, St) ->
    %% The snapshot is garbage now that the table has it; the state that
    %% held it was dropped when the last callback returned.
    true = erlang:garbage_collect(),
    {noreply, St};
handle_info(settle_check, St) ->
    {noreply, check_waiters(St#st{settle_timer = undefined})};
handle_info(_Msg, St) ->
    {noreply, St}.

%%% The helper

%% The first enumeration arrives as events right after ready: init waits
%% for it so the table is whole when start_link returns.
await_coldplug(#st{port = Port, coldplug = Coldplug} = St, Deadline) when Coldplug =/= complete ->
    receive
        {sysport_port, Port, _} = Msg ->
            {noreply, St1} = handle_info(Msg, St),
            await_coldplug(St1, Deadline)
    after max(0, Deadline - now_ms()) ->
            St
    end;
await_coldplug(St, _Deadline) ->
    St.

event({uevents, Events}, St) ->
    St1 = lists:foldl(fun uevent/2, St, Events),
    St1#st{quiet_since = now_ms()};
event({snapshot_begin, Reason, Seq}, St) ->
    St1 = case {Reason, St#st.coldplug} of
              {start, pending} -> St;
              {start, _} -> overrun(max(0, Seq - St#st.last_seq), #{reason => helper_restart}, St);
              {resync, _} -> St
          end,
    St1#st{snapshot = {Reason, Seq, []}};
event({snapshot, Devices}, #st{snapshot = {Reason, Seq, Chunks}} = St) ->
    St#st{snapshot = {Reason, Seq, [Devices | Chunks]}};
event({snapshot_end, _Count}, #st{snapshot = {Reason, Seq, Chunks}} = St) ->
    Diffs = sysport_uevent_table:reconcile(maps:from_list(lists:append(lists:reverse(Chunks)))),
    self() ! reconciled,
    lists:foreach(fun({Action, DevPath, Props}) -> notify(Action, DevPath, Props, St#st.subs) end, Diffs),
    St1 = St#st{snapshot = undefined, last_seq = max(Seq, St#st.last_seq), quiet_since = now_ms()},
    case {Reason, St#st.coldplug} of
        {start, pending} ->
            coldplug_enumerated(St1);
        {start, triggering} ->
            %% The helper died while replaying: replay again.
            coldplug_enumerated(St1);
        _ ->
            Count = fun(A) -> length([x || {Action, _, _} <- Diffs, Action =:= A]) end,
            notify_all(resync_complete, #{added => Count(add), removed => Count(remove),
                                          changed => Count(change)}, St1#st.subs),
            check_waiters(bump(resyncs, 1, St1))
    end;
event({overrun, Missed, Drops, Seq}, St) ->
    overrun(Missed, #{reason => kernel, kernel_drops => Drops, seqnum => Seq},
            bump(kernel_drops, Drops, St));
event({rejected, Reason, Detail}, #st{rejected = Rejected} = St) ->
    N = maps:get(Reason, Rejected, 0) + 1,
    log_sometimes(Reason, "sysport_uevent: rejected a datagram (~s, ~b so far): ~ts",
                  [Reason, N, Detail], St#st{rejected = Rejected#{Reason => N}});
event({stale, N}, St) ->
    bump(stale, N, St);
event({triggered, Devices, Failed, Uuid, _Seq}, St) ->
    case Failed of
        0 -> ok;
        _ -> logger:warning("sysport_uevent: trigger could not write ~b of ~b uevent files",
                            [Failed, Devices], #{domain => [sysport, uevent]})
    end,
    St1 = St#st{trigger = #{devices => Devices, failed => Failed, uuid => Uuid}},
    case St#st.coldplug of
        triggering -> coldplug_complete(St1);
        _ -> St1
    end;
event({modprobe, Status, Aliases}, #st{modprobe = #{runs := Runs, aliases := A} = M} = St) ->
    St#st{modprobe = M#{runs := Runs#{Status => maps:get(Status, Runs, 0) + 1}, aliases := A + Aliases}};
event({modprobe_dropped, Alias}, #st{modprobe = #{dropped := Dropped} = M} = St) ->
    N = Dropped + 1,
    log_sometimes(modprobe_dropped, "sysport_uevent: modprobe queue full, ~b alias(es) dropped, last ~ts",
                  [N, Alias], St#st{modprobe = M#{dropped => N}});
event(Other, St) ->
    logger:warning("sysport_uevent: unexpected helper event ~0P", [Other, 10],
                   #{domain => [sysport, uevent]}),
    St.

uevent({Seq, Action, DevPath, Props, Table}, #st{received = Received, subs = Subs} = St) ->
    ok = sysport_uevent_table:apply_event(Action, DevPath, Props, Table),
    notify(Action, DevPath, Props, Subs),
    St#st{last_seq = max(Seq, St#st.last_seq), received = Received + 1}.

overrun(Missed, Info, St) ->
    notify_all(overrun, Info#{missed => Missed}, St#st.subs),
    bump(missed, Missed, bump(overruns, 1, St)).

coldplug_enumerated(#st{opts = #{trigger := true}, port = Port} = St) ->
    ok = sysport_port:cast(Port, trigger),
    St#st{coldplug = triggering};
coldplug_enumerated(St) ->
    coldplug_complete(St).

coldplug_complete(St) ->
    notify_all(coldplug_complete, #{devices => sysport_uevent_table:size()}, St#st.subs),
    check_waiters(St#st{coldplug = complete}).

%%% Subscribers

notify(Action, DevPath, Props, Subs) ->
    sysport_service:notify(Subs, {sysport_uevent, Action, #{devpath => DevPath, props => Props}},
                           fun(Filter) -> sysport_uevent_filter:match(Filter, DevPath, Props) end).

notify_all(Event, Info, Subs) ->
    sysport_service:notify(Subs, {sysport_uevent, Event, Info}, fun(_) -> true end).

notify_one(Pid, Event, Info) ->
    sysport_subs:send(Pid, {sysport_uevent, Event, Info}).

%%% settle

check_waiters(#st{waiters = Waiters, coldplug = Coldplug, snapshot = Snapshot, quiet_since = Since} = St) ->
    Now = now_ms(),
    %% A snapshot being received (a resync after an overrun) means the
    %% table is known to be stale, however quiet the socket is.
    Settled = Coldplug =:= complete andalso Snapshot =:= undefined,
    Left = lists:filter(
             fun({From, Quiet, Deadline}) ->
                     if
                         Settled, Now - Since >= Quiet ->
                             gen_server:reply(From, ok), false;
                         Now >= Deadline ->
                             gen_server:reply(From, {error, timeout}), false;
                         true ->
                             true
                     end
             end, Waiters),
    cancel(St#st.settle_timer),
    Timer = case Left of
                [] -> undefined;
                _ ->
                    Next = lists:min([case Settled of
                                          true -> min(Deadline, Since + Quiet);
                                          false -> Deadline
                                      end || {_, Quiet, Deadline} <- Left]),
                    erlang:send_after(max(1, Next - Now), self(), settle_check)
            end,
    St#st{waiters = Left, settle_timer = Timer}.

%%% Status and helpers

%% @private
-spec status(#st{}) -> map().
status(#st{} = St) ->
    Counters = #{received => St#st.received,
                 rejected => lists:sum(maps:values(St#st.rejected)),
                 overruns => 0, missed => 0, kernel_drops => 0, resyncs => 0, stale => 0},
    #{devices => sysport_uevent_table:size(),
      coldplug => St#st.coldplug,
      last_seq => St#st.last_seq,
      rejected_reasons => St#st.rejected,
      counters => maps:merge(Counters, St#st.counters),
      modprobe => St#st.modprobe,
      trigger => St#st.trigger,
      ready => St#st.info}.

bump(Key, N, #st{counters = C} = St) ->
    St#st{counters = C#{Key => maps:get(Key, C, 0) + N}}.

%% Logs the first occurrence of a kind, then at most once per LOG_EVERY_MS.
log_sometimes(Kind, Format, Args, #st{logged = Logged} = St) ->
    Now = now_ms(),
    case maps:get(Kind, Logged, undefined) of
        Last when is_integer(Last), Now - Last < ?LOG_EVERY_MS ->
            St;
        _ ->
            logger:warning(Format, Args, #{domain => [sysport, uevent]}),
            St#st{logged = Logged#{Kind => Now}}
    end.

devpath(DevPath) ->
    try unicode:characters_to_binary(DevPath) of
        <<"/sys/", Rest/binary>> -> {ok, <<"/", Rest/binary>>};
        Path when is_binary(Path) -> {ok, Path};
        _ -> error
    catch
        error:badarg -> error
    end.

cancel(undefined) -> ok;
cancel(Ref) -> _ = erlang:cancel_timer(Ref), ok.

now_ms() ->
    erlang:monotonic_time(millisecond).
