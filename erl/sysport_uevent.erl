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
%% {sysport_uevent, Action, DevPath, Props}
%%     Action: add | remove | change | move | bind | unbind | online | offline
%%     Props: the event's properties (SEQNUM and ACTION included); an event
%%     made up by a reconciliation has no SEQNUM
%% {sysport_uevent, coldplug_complete, <<>>, #{devices := N}}
%% {sysport_uevent, overrun, <<>>, #{missed := N, reason := kernel | helper_restart, ...}}
%% {sysport_uevent, resync_complete, <<>>, #{added := A, removed := R, changed := C}}
%% '''
%% The last three go to every subscriber whatever its filter.
-module(sysport_uevent).
-behaviour(gen_server).

-export([start_link/0, start_link/1, child_spec/1, stop/0,
         get/1, devices/0, devices/1, subscribe/1, subscribe/2, unsubscribe/1, unsubscribe/2,
         settle/1, settle/2, status/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-export_type([options/0, action/0, props/0]).

-type action() :: add | remove | change | move | bind | unbind | online | offline.
-type props() :: sysport_uevent_table:props().
-type options() :: #{rcvbuf => pos_integer(),
                     trigger => boolean(),
                     autoload => boolean(),
                     modprobe => file:filename_all(),
                     port_opts => map()}.
%% `rcvbuf': the netlink receive buffer in bytes (SO_RCVBUFFORCE).
%% `trigger': replay `add' for every device after the first enumeration,
%% as `udevadm trigger --action=add' does.
%% `autoload': run `modprobe' for the MODALIAS of each `add' event.
%% `modprobe': the program autoload runs.
%% `port_opts': merged into the {@link sysport_port:opts()} of the helper.

-define(DEFAULTS, #{rcvbuf => 8 * 1024 * 1024, trigger => false, autoload => false,
                    modprobe => <<"/sbin/modprobe">>, port_opts => #{}}).
-define(COLDPLUG_WAIT_MS, 10000).
-define(SETTLE_TIMEOUT_MS, 120000).
-define(LOG_EVERY_MS, 10000).
-define(RETRY_MS, 30000).

-record(st, {opts :: map(),
             port :: pid() | undefined,
             helper_error :: term(),
             info = #{} :: map(),
             subs = sysport_subs:new() :: sysport_subs:subs(),
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
-spec child_spec(options()) -> supervisor:child_spec().
child_spec(Opts) ->
    #{id => ?MODULE, start => {?MODULE, start_link, [Opts]}, type => worker, shutdown => 5000}.

%% @doc Starts the service with the app env options (see {@link start_link/1}).
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    start_link(#{}).

%% @doc Starts the service; returns once the table holds the first
%% enumeration (or after 10 s, the table then filling in the background).
-spec start_link(options()) -> {ok, pid()} | {error, term()}.
start_link(Opts) when is_map(Opts) ->
    Merged = maps:merge(maps:merge(?DEFAULTS, sysport_env:service_opts(uevent)), Opts),
    case check_opts(maps:to_list(Merged)) of
        ok -> gen_server:start_link({local, ?MODULE}, ?MODULE, Merged, []);
        {error, _} = Error -> Error
    end.

%% @doc Stops the service; `ok' also when it is not running.
-spec stop() -> ok.
stop() ->
    sysport_service:stop(?MODULE).

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

%% @doc The devices that pass a filter (see {@link sysport_uevent_filter}).
-spec devices(sysport_uevent_filter:filter()) ->
          {ok, #{binary() => props()}} | {error, not_running | {bad_filter, term()}}.
devices(Filter) ->
    case sysport_uevent_filter:compile(Filter) of
        {ok, Compiled} -> sysport_uevent_table:select(Compiled);
        {error, _} = Error -> Error
    end.

%% @doc Sends the calling process the events of devices that pass Filter.
%% A process may hold several filters; an event passing more than one is
%% sent once. If the table is already whole, `coldplug_complete' follows
%% at once.
-spec subscribe(sysport_uevent_filter:filter()) -> ok | {error, not_running | {bad_filter, term()}}.
subscribe(Filter) ->
    subscribe(self(), Filter).

%% @doc Subscribes Pid, which may be on another node: a caller through
%% erpc names its own pid (erpc runs the call in a short-lived process).
-spec subscribe(pid(), sysport_uevent_filter:filter()) ->
          ok | {error, not_running | badarg | {bad_filter, term()}}.
subscribe(Pid, Filter) when is_pid(Pid) ->
    case sysport_uevent_filter:compile(Filter) of
        {ok, Compiled} -> call({subscribe, Pid, Compiled});
        {error, _} = Error -> Error
    end;
subscribe(_, _) ->
    {error, badarg}.

%% @doc Drops one filter of the calling process, or all of them.
-spec unsubscribe(sysport_uevent_filter:filter() | all) -> ok | {error, not_running | {bad_filter, term()}}.
unsubscribe(Filter) ->
    unsubscribe(self(), Filter).

%% @doc Drops one filter of Pid, or all of them.
-spec unsubscribe(pid(), sysport_uevent_filter:filter() | all) ->
          ok | {error, not_running | badarg | {bad_filter, term()}}.
unsubscribe(Pid, all) when is_pid(Pid) ->
    call({unsubscribe, Pid, all});
unsubscribe(Pid, Filter) when is_pid(Pid) ->
    case sysport_uevent_filter:compile(Filter) of
        {ok, Compiled} -> call({unsubscribe, Pid, Compiled});
        {error, _} = Error -> Error
    end;
unsubscribe(_, _) ->
    {error, badarg}.

%% @doc Returns once the first enumeration is complete (with trigger, once
%% every device was replayed) and no uevent arrived for QuietMs; like
%% `udevadm settle', gives up after 120 s.
-spec settle(non_neg_integer()) -> ok | {error, timeout | not_running | badarg}.
settle(QuietMs) ->
    settle(QuietMs, ?SETTLE_TIMEOUT_MS).

%% @doc {@link settle/1}, giving up after TimeoutMs.
-spec settle(non_neg_integer(), non_neg_integer()) -> ok | {error, timeout | not_running | badarg}.
settle(QuietMs, TimeoutMs) when is_integer(QuietMs), QuietMs >= 0, is_integer(TimeoutMs), TimeoutMs >= 0 ->
    call({settle, QuietMs, TimeoutMs});
settle(_, _) ->
    {error, badarg}.

%% @doc Counters, the helper's state and its socket's view.
-spec status() -> {ok, map()} | {error, not_running}.
status() ->
    case call(status) of
        {ok, Status, undefined} ->
            {ok, Status};
        {ok, Status, Port} ->
            {ok, Status#{socket => sysport_port:call(Port, stats, 2000)}};
        {error, _} = Error ->
            Error
    end.

call(Request) ->
    try gen_server:call(?MODULE, Request, infinity)
    catch exit:_ -> {error, not_running}
    end.

%%% gen_server

%% @private
-spec init(map()) -> {ok, #st{}}.
init(Opts) ->
    process_flag(trap_exit, true),
    ok = sysport_uevent_table:new(),
    {ok, start_helper(#st{opts = Opts, quiet_since = now_ms()})}.

%% @private
-spec handle_call(term(), gen_server:from(), #st{}) -> {reply, term(), #st{}} | {noreply, #st{}}.
handle_call({subscribe, Pid, Filter}, _From, #st{subs = Subs} = St) ->
    Filters = filters_of(Pid, Subs),
    St1 = St#st{subs = sysport_subs:add(Pid, [Filter | lists:delete(Filter, Filters)], Subs)},
    case St#st.coldplug of
        complete -> notify_one(Pid, coldplug_complete, #{devices => sysport_uevent_table:size()});
        _ -> ok
    end,
    {reply, ok, St1};
handle_call({unsubscribe, Pid, all}, _From, #st{subs = Subs} = St) ->
    {reply, ok, St#st{subs = sysport_subs:remove(Pid, Subs)}};
handle_call({unsubscribe, Pid, Filter}, _From, #st{subs = Subs} = St) ->
    Subs1 = case lists:delete(Filter, filters_of(Pid, Subs)) of
                [] -> sysport_subs:remove(Pid, Subs);
                Left -> sysport_subs:add(Pid, Left, Subs)
            end,
    {reply, ok, St#st{subs = Subs1}};
handle_call({settle, Quiet, Timeout}, From, St) ->
    Waiter = {From, Quiet, now_ms() + Timeout},
    {noreply, check_waiters(St#st{waiters = [Waiter | St#st.waiters]})};
handle_call(status, _From, St) ->
    {reply, {ok, status_map(St), St#st.port}, St};
handle_call(_Other, _From, St) ->
    {reply, {error, badarg}, St}.

%% @private
-spec handle_cast(term(), #st{}) -> {noreply, #st{}}.
handle_cast(_Msg, St) ->
    {noreply, St}.

%% @private
-spec handle_info(term(), #st{}) -> {noreply, #st{}} | {stop, term(), #st{}}.
handle_info({sysport_port, Port, {event, Event}}, #st{port = Port} = St) ->
    {noreply, event(Event, St)};
handle_info({sysport_port, Port, {ready, Info}}, #st{port = Port} = St) ->
    {noreply, St#st{info = Info}};
handle_info({sysport_port, Port, {exited, _Status}}, #st{port = Port} = St) ->
    %% A half-received snapshot is of no use: the next helper sends a whole one.
    {noreply, St#st{snapshot = undefined}};
handle_info(settle_check, St) ->
    {noreply, check_waiters(St#st{settle_timer = undefined})};
handle_info(start_helper, #st{port = undefined} = St) ->
    {noreply, start_helper(St)};
handle_info({'DOWN', _, process, Pid, _}, #st{subs = Subs} = St) ->
    {noreply, St#st{subs = sysport_subs:down(Pid, Subs)}};
handle_info({'EXIT', Port, Reason}, #st{port = Port} = St) ->
    {stop, {helper_owner_exited, Reason}, St#st{port = undefined}};
handle_info(_Msg, St) ->
    {noreply, St}.

%% @private
-spec terminate(term(), #st{}) -> ok.
terminate(_Reason, #st{port = Port}) ->
    case Port of
        undefined -> ok;
        _ -> sysport_port:stop(Port)
    end.

%%% The helper

start_helper(#st{opts = Opts} = St) ->
    case sysport_port:start_link(port_opts(Opts)) of
        {ok, Port} ->
            await_coldplug(St#st{port = Port, helper_error = undefined},
                           now_ms() + ?COLDPLUG_WAIT_MS);
        {error, Reason} ->
            logger:error("sysport_uevent: helper did not start (~0p); retrying in ~b s",
                         [Reason, ?RETRY_MS div 1000], #{domain => [sysport, uevent]}),
            erlang:send_after(?RETRY_MS, self(), start_helper),
            St#st{helper_error = Reason}
    end.

port_opts(#{rcvbuf := Rcvbuf, autoload := Autoload, modprobe := Modprobe, port_opts := Extra}) ->
    Args = ["--rcvbuf=" ++ integer_to_list(Rcvbuf)] ++
        case Autoload of
            true -> [["--modprobe=", Modprobe]];
            false -> []
        end,
    maps:merge(#{helper => "sysport_uevent", args => Args}, Extra).

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
    sysport_subs:fold(fun(Pid, Filters, ok) ->
                              case lists:any(fun(F) -> sysport_uevent_filter:match(F, DevPath, Props) end,
                                             Filters) of
                                  true -> sysport_subs:send(Pid, {sysport_uevent, Action, DevPath, Props});
                                  false -> ok
                              end
                      end, ok, Subs).

notify_all(Event, Info, Subs) ->
    lists:foreach(fun(Pid) -> notify_one(Pid, Event, Info) end, sysport_subs:pids(Subs)).

notify_one(Pid, Event, Info) ->
    sysport_subs:send(Pid, {sysport_uevent, Event, <<>>, Info}).

filters_of(Pid, Subs) ->
    sysport_subs:fold(fun(P, Filters, _) when P =:= Pid -> Filters;
                         (_, _, Acc) -> Acc
                      end, [], Subs).

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

status_map(#st{port = Port} = St) ->
    Base = #{devices => sysport_uevent_table:size(),
             subscribers => sysport_subs:count(St#st.subs),
             remote_dropped => sysport_subs:dropped(),
             coldplug => St#st.coldplug,
             last_seqnum => St#st.last_seq,
             received => St#st.received,
             rejected => St#st.rejected,
             overruns => 0, missed => 0, kernel_drops => 0, resyncs => 0, stale => 0,
             modprobe => St#st.modprobe,
             trigger => St#st.trigger,
             ready => St#st.info},
    Status = maps:merge(Base, St#st.counters),
    case Port of
        undefined -> Status#{helper_error => St#st.helper_error};
        _ -> Status#{helper => sysport_port:stats(Port)}
    end.

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

check_opts([]) -> ok;
check_opts([{rcvbuf, N} | T]) when is_integer(N), N >= 1024, N =< 1 bsl 30 -> check_opts(T);
check_opts([{trigger, B} | T]) when is_boolean(B) -> check_opts(T);
check_opts([{autoload, B} | T]) when is_boolean(B) -> check_opts(T);
check_opts([{modprobe, P} | T]) when is_binary(P); is_list(P) -> check_opts(T);
check_opts([{port_opts, M} | T]) when is_map(M) -> check_opts(T);
check_opts([{Key, _} | _]) -> {error, {bad_option, Key}}.

cancel(undefined) -> ok;
cancel(Ref) -> _ = erlang:cancel_timer(Ref), ok.

now_ms() ->
    erlang:monotonic_time(millisecond).
