%% @doc The time keeper: SNTP, the RTC and a clock that never runs
%% backwards. Owns the helper `sysport_time' (the mechanism: exchanges,
%% ioctls, clock calls) and makes every decision here.
%%
%% At start the clock is brought up to the floor (see
%% {@link sysport_time_floor}); then each server gets a burst of 4 queries
%% and the first complete burst synchronizes the clock (within about 1 s
%% when a server answers). After that each server is polled on its own
%% adaptive interval (16 s to 1024 s by default) and the clock follows the
%% server with the lowest root distance among those that agree (see
%% {@link sysport_time_ntp}): with three or more servers configured, no
%% single one can move the clock. An answer below the floor or beyond the
%% ceiling (see {@link sysport_time_floor}) is refused; so is one whose
%% exchange spanned a step of the clock, or whose round trip comes out
%% negative.
%% Without a usable answer for `sync_lost_after' the clock is no longer
%% synchronized. While synchronized the time file is touched every minute
%% and the RTC written every 11 minutes (and after every step).
%%
%% Subscribers get `{sysport_time, Event, Info}' with Event one of
%% `sync_acquired | sync_lost | clock_step | clock_slew | rtc_invalid |
%% rtc_battery_low | floor_applied' and Info a map. The service contract
%% (options, calls, subscriptions, status) is {@link sysport_service}'s;
%% the options are {@link sysport_time_opts}'s.
%%
%% ```
%% ok = sysport_time:set_servers(["192.168.1.1", {"ntp.example.com", 123}]),
%% ok = sysport_time:subscribe(),
%% receive {sysport_time, sync_acquired, #{server := Server}} -> Server end,
%% {ok, true} = sysport_time:synchronized().
%% '''
-module(sysport_time).
-behaviour(sysport_service).

-export([start_link/0, start_link/1, child_spec/1, stop/0, options/0]).
-export([status/0, synchronized/0, servers/0, set_servers/1, set_time/1, rtc_read/0,
         rtc_write/0, subscribe/0, subscribe/1, subscribe/2, unsubscribe/0, unsubscribe/1, recorded/0]).
-export([helper/1, init/2, handle_call/3, handle_info/2, terminate/2, status/1]).

-export_type([event/0]).

-type event() :: sync_acquired | sync_lost | clock_step | clock_slew | rtc_invalid
               | rtc_battery_low | floor_applied.
-define(SERVER, ?MODULE).
-define(YEAR, 31556952).
%% The latest time the clock takes: int64 nanoseconds (2262-04-11).
-define(MAX_NS, 16#7fffffffffffffff).
%% Replies that mean "a packet came that was not for us" were counted
%% already, when the helper reported each one.
-define(STRAY, [short_packet, bad_version, bad_mode, bogus_origin, wrong_source]).
%% The server's answer said no (RFC 5905's sanity tests).
-define(REFUSED, [unsynchronized, bad_stratum, zero_timestamp, bad_timestamps, root_distance,
                  too_many_strays, negative_delay, below_floor, beyond_window]).

-record(st, {opts :: map(),
             port :: pid(),
             info = #{} :: map(),
             subs :: sysport_subs:subs(),
             gen = 0 :: non_neg_integer(),
             servers = #{} :: #{non_neg_integer() => sysport_time_ntp:server()},
             bursts = #{} :: #{non_neg_integer() => non_neg_integer()},
             inflight = #{} :: #{non_neg_integer() => true},
             poll_timers = #{} :: #{non_neg_integer() => reference()},
             selected :: non_neg_integer() | undefined,
             truechimers = [] :: [non_neg_integer()],
             falsetickers = [] :: [non_neg_integer()],
             insane = #{} :: #{non_neg_integer() => below_floor | beyond_window},
             refused_step :: panic | undefined,
             ever_synchronized = false :: boolean(),
             sync :: sysport_time_ntp:sync(),
             used :: sysport_time_ntp:estimate() | undefined,
             last_sync :: integer() | undefined,
             floor = 0 :: integer(),
             ceiling = 0 :: integer(),
             floor_source = build_time :: sysport_time_floor:source(),
             floor_applied :: map() | undefined,
             unresolved = #{} :: #{non_neg_integer() => true},
             time_file :: binary() | none,
             time_file_state = unknown :: atom(),
             rtc = #{} :: map(),
             counters = #{} :: map(),
             rejected = #{} :: map(),
             timers = #{} :: #{atom() => reference()}}).

%%% API

%% @doc Starts the service with the app env options.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() -> start_link(#{}).

%% @doc Starts the service, registered as `sysport_time'; Opts (a map or
%% proplist, see {@link options/0}) are merged over the app env `{time,
%% Opts}' and the defaults.
-spec start_link(map() | list()) -> {ok, pid()} | {error, term()}.
start_link(Opts) -> sysport_service:start_link(?MODULE, Opts).

%% @doc A child spec that starts the service under your own supervisor.
-spec child_spec(map() | list()) -> supervisor:child_spec().
child_spec(Opts) -> sysport_service:child_spec(?MODULE, Opts).

%% @doc Stops the service; `ok' also when it is not running.
-spec stop() -> ok.
stop() -> sysport_service:stop(?MODULE).

%% @doc The options: name, default, type and doc of each.
-spec options() -> sysport_opts:schema().
options() -> sysport_time_opts:options().

%% @doc The base keys of {@link sysport_service} and `synchronized',
%% `offset_ms', `delay_ms', `jitter_ms', `stratum', `server', `poll_ms',
%% `last_sync', `floor' and `ceiling' (Unix seconds), `truechimers' (how
%% many servers agree now), `falsetickers' (the hosts that disagree with
%% them), `rtc' (a map), `kernel' (adjtimex: the kernel's own synchronized
%% flag, PLL offset and frequency), `rejected_reasons' (refused replies and
%% steps by reason) and `counters'.
-spec status() -> {ok, map()} | {error, term()}.
status() -> sysport_service:status(?MODULE).

%% @doc Whether the clock follows an NTP server now.
-spec synchronized() -> {ok, boolean()} | {error, term()}.
synchronized() -> call(synchronized).

%% @doc Each server with its address, state, poll and last estimate.
-spec servers() -> {ok, [map()]} | {error, term()}.
servers() -> call(servers).

%% @doc Replaces the servers (a burst to each follows); `[]' stops NTP.
-spec set_servers([sysport_time_opts:server_spec()]) -> ok | {error, {bad_server, term()} | term()}.
set_servers(Specs) -> call({set_servers, Specs}).

%% @doc Sets the clock by hand: Unix seconds (integer or float) or a UTC
%% `calendar:datetime()', from 1970 to 2262 (what the kernel's 64-bit
%% nanoseconds hold; `{error, badarg}' otherwise). Refused below the
%% floor. The RTC follows.
-spec set_time(number() | calendar:datetime()) -> ok | {error, term()}.
set_time(Time) ->
    case to_unix_ns(Time) of
        {ok, Ns} -> call({set_time, Ns});
        error -> {error, badarg}
    end.

%% @doc Reads the RTC now: `#{time, valid, flags, source}'.
-spec rtc_read() -> {ok, map()} | {error, term()}.
rtc_read() -> call(rtc_read).

%% @doc Writes the system time to the RTC, on the second's edge.
-spec rtc_write() -> {ok, map()} | {error, term()}.
rtc_write() -> call(rtc_write).

%% @doc The caller gets `{sysport_time, Event, Info}' messages.
-spec subscribe() -> ok | {error, term()}.
subscribe() -> sysport_service:subscribe(?MODULE).

%% @doc Subscribes Pid (on any node: through erpc, name your own pid), or
%% the caller with a filter (`#{}': time has no filter keys).
-spec subscribe(pid() | map() | list()) -> ok | {error, term()}.
subscribe(PidOrFilter) -> sysport_service:subscribe(?MODULE, PidOrFilter).

%% @doc Subscribes Pid with a filter.
-spec subscribe(pid(), map() | list()) -> ok | {error, term()}.
subscribe(Pid, Filter) -> sysport_service:subscribe(?MODULE, Pid, Filter).

%% @doc Stops the caller's messages.
-spec unsubscribe() -> ok | {error, term()}.
unsubscribe() -> sysport_service:unsubscribe(?MODULE).

%% @doc Stops Pid's messages.
-spec unsubscribe(pid()) -> ok | {error, term()}.
unsubscribe(Pid) -> sysport_service:unsubscribe(?MODULE, Pid).

%% @doc What the recording clock backend would have done to the clock:
%% `[#{op := step | slew | set, ns := integer(), at := integer()}]'.
-spec recorded() -> {ok, [map()]} | {error, not_recording | term()}.
recorded() -> call(recorded).

call(Request) ->
    sysport_service:call(?SERVER, Request).

%%% sysport_service

%% @private
-spec helper(map()) -> {ok, string(), [iodata()]}.
helper(Opts) ->
    {ok, "sysport_time", sysport_time_opts:helper_args(sysport_time_opts:normalize(Opts))}.

%% @private
-spec init(map(), sysport_service:ctx()) -> {ok, #st{}}.
init(Opts0, #{port := Port, subs := Subs}) ->
    Opts = sysport_time_opts:normalize(Opts0),
    St0 = #st{opts = Opts, port = Port, info = sysport_port:info(Port),
              time_file = sysport_time_opts:time_file(Opts), subs = Subs,
              sync = #{synchronized => false, spike_since => undefined,
                       last_update => undefined,
                       step_threshold => maps:get(step_threshold, Opts) * 1000000,
                       stepout => maps:get(stepout, Opts)}},
    {ok, start_servers(maps:get(servers, Opts), apply_floor(St0))}.

%% @private
-spec handle_call(term(), gen_server:from(), #st{}) ->
          {reply, term(), #st{}} | {noreply, #st{}}.
handle_call(synchronized, _From, St) ->
    {reply, {ok, maps:get(synchronized, St#st.sync)}, St};
handle_call(servers, _From, St) ->
    {reply, {ok, [server_info(K, S, St) || {K, S} <- lists:sort(maps:to_list(St#st.servers))]}, St};
handle_call({set_servers, Specs}, _From, St) ->
    case sysport_time_opts:parse_servers(Specs) of
        {ok, Servers} ->
            Opts = St#st.opts,
            {reply, ok, start_servers(Servers, (stop_servers(St))#st{opts = Opts#{servers := Servers}})};
        {error, _} = Error ->
            {reply, Error, St}
    end;
handle_call({set_time, Ns}, _From, St) when is_integer(Ns), Ns < St#st.floor * 1000000000 ->
    {reply, {error, {below_floor, St#st.floor}}, St};
handle_call({set_time, Ns}, From, St) when is_integer(Ns), Ns >= 0, Ns =< ?MAX_NS ->
    %% The helper's clock before, then the step: both without waiting.
    {noreply, async(now, {set_time_now, From, Ns}, St)};
handle_call(rtc_read, From, St) ->
    {noreply, async(rtc_read, {rtc_read, From}, St)};
handle_call(rtc_write, From, St) ->
    {noreply, async(rtc_write, {rtc_write, From}, St)};
handle_call(recorded, From, #st{port = Port, opts = #{timeout := Timeout}} = St) ->
    ok = sysport_port:forward(Port, recorded, Timeout, From),
    {noreply, St};
handle_call(_, _From, St) ->
    {reply, {error, badarg}, St}.

%% @private
-spec handle_info(term(), #st{}) -> {noreply, #st{}}.
handle_info({sysport_port, Port, {reply, Tag, Result}}, #st{port = Port} = St) ->
    {noreply, async_done(Tag, Result, St)};
handle_info({poll, Gen, Key}, #st{gen = Gen} = St) ->
    {noreply, poll(Key, St)};
handle_info({resolve, Gen, Key}, #st{gen = Gen} = St) ->
    {noreply, resolve(Key, St)};
handle_info({resolved, Gen, Key, Result}, #st{gen = Gen} = St) ->
    {noreply, resolved(Key, Result, St)};
handle_info({timer, Name}, St) ->
    {noreply, timer(Name, St#st{timers = maps:remove(Name, St#st.timers)})};
handle_info({sysport_port, Port, {event, {sntp_rejected, Reason}}}, #st{port = Port} = St) ->
    {noreply, count_rejected(Reason, St)};
handle_info({sysport_port, Port, {ready, Info}}, #st{port = Port} = St) ->
    {noreply, St#st{info = Info}};
handle_info(_, St) ->
    {noreply, St}.

%% @private
-spec terminate(term(), #st{}) -> ok.
terminate(_Reason, St) ->
    _ = store_time(St),
    ok.

%%% Sane time at start

apply_floor(#st{opts = Opts, info = Info} = St) ->
    Windows = maps:with([sane_window, time_file_window], Opts),
    Build = case maps:get(build_time, Opts) of
                helper -> maps:get(build_time, Info, 0);
                B -> B
            end,
    {FileTime, FileState} = case St#st.time_file of
                                none -> {undefined, disabled};
                                Path -> case sysport_time_floor:read_file(Path) of
                                            {ok, T} -> {T, ok};
                                            {error, R} -> {undefined, R}
                                        end
                            end,
    St1 = rtc_checked(helper(St, rtc_read, 5000), St),
    RtcTime = case St1#st.rtc of #{trusted := true, time := T1} -> T1; _ -> undefined end,
    #{floor := Floor, ceiling := Ceiling, source := Source, ignored := Ignored} =
        sysport_time_floor:compute(Build, FileTime, RtcTime, Windows),
    [logger:warning("sysport_time: ~p is more than ~b years past the build time; ignored as corrupt",
                    [I, maps:get(case I of time_file -> time_file_window; rtc -> sane_window end, Opts) div ?YEAR])
     || I <- Ignored],
    St2 = St1#st{floor = Floor, ceiling = Ceiling, floor_source = Source,
                 time_file_state = case lists:member(time_file, Ignored) of
                                       true -> corrupt;
                                       false -> FileState
                                   end},
    Now = now_ns(St2),
    case sysport_time_floor:check_clock(Now, Floor, Ceiling) of
        ok -> St2;
        {step, Ns, Why} ->
            case helper(St2, {step, Ns}) of
                ok ->
                    logger:notice("sysport_time: clock ~p (floor ~b from ~p): stepped by ~.3f s",
                                  [Why, Floor, Source, Ns / 1.0e9]),
                    Applied = #{floor => Floor, source => Source, reason => Why,
                                step => Ns / 1.0e9, step_ns => Ns},
                    notify(floor_applied, Applied, St2),
                    bump(floor_steps, St2#st{floor_applied = Applied});
                Error ->
                    logger:error("sysport_time: cannot move the clock to the floor: ~p", [Error]),
                    St2
            end
    end.

%%% Servers, queries

start_servers(Specs, #st{gen = Gen0, opts = Opts} = St) ->
    Gen = Gen0 + 1,
    Limits = limits(Opts),
    Servers = maps:from_list([{K, sysport_time_ntp:new_server(H, P, Limits)}
                              || {K, {H, P}} <- lists:zip(lists:seq(0, length(Specs) - 1), Specs)]),
    St1 = St#st{gen = Gen, servers = Servers, selected = undefined, bursts = #{}, inflight = #{},
                poll_timers = #{}},
    lists:foldl(fun resolve/2, St1, maps:keys(Servers)).

stop_servers(#st{poll_timers = T} = St) ->
    _ = [erlang:cancel_timer(R) || R <- maps:values(T)],
    St#st{poll_timers = #{}}.

limits(Opts) ->
    maps:with([poll_min, poll_max], Opts).

%% Names resolve in a process of their own (inet:getaddrs may wait on DNS
%% for seconds); the helper only ever sees numeric addresses, so its loop
%% never stalls on a resolver.
resolve(Key, #st{gen = Gen, servers = Servers} = St) ->
    #{host := Host} = maps:get(Key, Servers),
    Self = self(),
    spawn_link(fun() -> Self ! {resolved, Gen, Key, getaddrs(unicode:characters_to_list(Host))} end),
    St.

getaddrs(Host) ->
    case [A || Family <- [inet, inet6], {ok, As} <- [inet:getaddrs(Host, Family)], A <- As] of
        [] -> {error, nxdomain};
        Addrs -> {ok, lists:uniq(Addrs)}  % IPv4 first
    end.

resolved(Key, {ok, Addrs}, #st{servers = Servers, opts = Opts} = St) ->
    #{addr := Old, state := State} = S = maps:get(Key, Servers),
    %% A re-resolution after failures moves on to the next address.
    Addr = case {State, lists:dropwhile(fun(A) -> A =/= Old end, Addrs)} of
               {unreachable, [Old, Next | _]} -> Next;
               {unreachable, _} -> hd(Addrs);
               {_, [Old | _]} -> Old;
               _ -> hd(Addrs)
           end,
    %% An unreachable server stays so until it answers (add_sample).
    S1 = S#{addrs := Addrs, addr := Addr,
            state := case State of resolving -> active; _ -> State end},
    St1 = St#st{servers = Servers#{Key := S1}, unresolved = maps:remove(Key, St#st.unresolved)},
    case State of
        denied -> St1;
        _ -> poll(Key, St1#st{bursts = (St1#st.bursts)#{Key => maps:get(burst, Opts)}})
    end;
resolved(Key, {error, Reason}, #st{servers = Servers, unresolved = Unresolved} = St) ->
    #{host := Host, poll := Poll} = maps:get(Key, Servers),
    %% Said once: a device offline for days retries every minute, quietly.
    [logger:warning("sysport_time: cannot resolve ~ts: ~p (retrying)", [Host, Reason])
     || not maps:is_key(Key, Unresolved)],
    _ = erlang:send_after(min(Poll, 60000), self(), {resolve, St#st.gen, Key}),
    St#st{unresolved = Unresolved#{Key => true}}.

poll(Key, #st{servers = Servers, opts = Opts} = St) ->
    case maps:get(Key, Servers) of
        #{state := denied} ->
            St;
        #{addr := undefined} ->
            St;
        #{addr := Addr, port := Port, poll := Poll} ->
            Burst = maps:get(Key, St#st.bursts, 0),
            St1 = case maps:is_key(Key, St#st.inflight) of
                      true -> St;  % the last query is still out: skip this turn
                      false ->
                          Timeout = maps:get(query_timeout, Opts),
                          Req = {sntp, list_to_binary(inet:ntoa(Addr)), Port, Timeout},
                          async(Req, Timeout + 5000, {sntp, St#st.gen, Key},
                                St#st{inflight = (St#st.inflight)#{Key => true}})
                  end,
            {Next, Bursts} = case Burst of
                                 N when N > 1 -> {maps:get(burst_interval, Opts), (St1#st.bursts)#{Key => N - 1}};
                                 _ -> {Poll, maps:remove(Key, St1#st.bursts)}
                             end,
            schedule_poll(Key, Next, St1#st{bursts = Bursts})
    end.

schedule_poll(Key, Delay, #st{poll_timers = T} = St) ->
    _ = case maps:find(Key, T) of
            {ok, Old} -> erlang:cancel_timer(Old);
            error -> ok
        end,
    St#st{poll_timers = T#{Key => erlang:send_after(Delay, self(), {poll, St#st.gen, Key})}}.

%% Sends Request to the helper without waiting; the result continues in
%% async_done(Tag, ...).
async(Request, Tag, #st{opts = #{timeout := Timeout}} = St) ->
    async(Request, Timeout, Tag, St).

async(Request, Timeout, Tag, #st{port = Port} = St) ->
    ok = sysport_port:request(Port, Request, Timeout, Tag),
    St.

async_done({sntp, Gen, Key}, Result, #st{gen = Gen} = St) ->
    sntp_result(Key, Result, St#st{inflight = maps:remove(Key, St#st.inflight)});
async_done({sntp, _, _}, _, St) ->
    St;  % a server replaced by set_servers
async_done({rtc_read, From}, Result, St) ->
    gen_server:reply(From, Result),
    rtc_checked(Result, St);
async_done({rtc_write, From}, Result, St) ->
    gen_server:reply(From, Result),
    rtc_written(Result, St);
async_done(rtc_write, Result, St) ->
    rtc_written(Result, St);
async_done({set_time_now, From, Ns}, Now, St) ->
    Before = case Now of
                 {ok, B} -> B;
                 _ -> os:system_time(nanosecond)
             end,
    async({set, Ns}, {set_time, From, Ns - Before}, St);
async_done({set_time, From, Step}, Result, St) ->
    gen_server:reply(From, Result),
    case Result of
        ok -> after_step(Step, manual, St);
        _ -> St
    end.

%% A server whose answer puts the time below the floor or beyond the
%% ceiling is refused like one that says it has no time.
sntp_result(Key, {ok, #{t4 := T4, offset := Offset} = Sample}, #st{insane = Insane} = St) ->
    case sysport_time_floor:check_time(T4 + Offset, St#st.floor, St#st.ceiling) of
        ok ->
            sample_result(Key, Sample, St#st{insane = maps:remove(Key, Insane)});
        Why ->
            #{host := Host} = maps:get(Key, St#st.servers),
            [logger:warning("sysport_time: ~ts answered an offset of ~.1f s, ~ts: refused",
                            [Host, Offset / 1.0e9, case Why of
                                                        below_floor -> "below the floor";
                                                        beyond_window -> "beyond the sane window"
                                                    end])
             || maps:get(Key, Insane, none) =/= Why],
            sntp_result(Key, {error, Why}, St#st{insane = Insane#{Key => Why}})
    end;
sntp_result(Key, {error, clock_changed}, St) ->
    %% The exchange spanned a step: the server is not to blame.
    after_result(Key, count_rejected(clock_changed, St));
sntp_result(Key, {error, {kod, Code}}, #st{servers = Servers} = St) ->
    #{host := Host} = S0 = maps:get(Key, Servers),
    S1 = sysport_time_ntp:kod(S0, Code),
    logger:warning("sysport_time: ~ts sent kiss-o'-death ~ts", [Host, Code]),
    St1 = count_rejected({kod, Code}, St#st{servers = Servers#{Key := S1}}),
    St2 = case Code of
              <<"RATE">> -> schedule_poll(Key, maps:get(poll, S1), St1#st{bursts = maps:remove(Key, St1#st.bursts)});
              _ -> St1
          end,
    after_result(Key, St2);
sntp_result(_Key, {error, {Why, _}}, St) when Why =:= helper_exited; Why =:= helper_down ->
    St;  % the helper's trouble, not the server's
sntp_result(_Key, {error, closed}, St) ->
    St;
sntp_result(Key, {error, Reason}, #st{servers = Servers} = St) ->
    S0 = maps:get(Key, Servers),
    S1 = sysport_time_ntp:miss(S0),
    St1 = case {lists:member(Reason, ?STRAY), lists:member(Reason, ?REFUSED)} of
              {true, _} -> St;
              {_, true} -> count_rejected(Reason, St);
              _ when Reason =:= timeout -> bump(timeouts, St);
              _ -> bump(query_errors, St)  % enetunreach and the like
          end,
    St2 = St1#st{servers = Servers#{Key := S1}},
    St3 = case {maps:get(state, S0), maps:get(state, S1)} of
              {active, unreachable} ->
                  logger:warning("sysport_time: ~ts unreachable; resolving it again",
                                 [maps:get(host, S1)]),
                  resolve(Key, St2);
              _ -> St2
          end,
    after_result(Key, St3).

sample_result(Key, Sample, #st{servers = Servers, opts = Opts} = St) ->
    Now = erlang:monotonic_time(millisecond),
    S0 = maps:get(Key, Servers),
    Filtered = maps:merge(maps:with([offset, delay, root_delay, root_dispersion, stratum, leap, refid], Sample),
                          #{at => Now}),
    {Verdict, S1} = sysport_time_ntp:add_sample(S0, Filtered, maps:get(poll, S0)),
    S2 = case Verdict of
             accepted -> sysport_time_ntp:adapt_poll(S1, maps:get(offset, Sample), limits(Opts));
             held -> S1
         end,
    St1 = bump(samples, St#st{servers = Servers#{Key := S2}}),
    St2 = case Verdict of held -> bump(held, St1); accepted -> St1 end,
    after_result(Key, reschedule_if_slower(Key, S0, S2, St2)).

%% A server that slowed down (RATE, a longer poll) waits its new poll.
reschedule_if_slower(Key, #{poll := Old}, #{poll := New}, St) when New > Old ->
    case maps:is_key(Key, St#st.bursts) of
        true -> St;
        false -> schedule_poll(Key, New, St)
    end;
reschedule_if_slower(_, _, _, St) ->
    St.

%% The clock is adjusted when a result completes a burst, and for every
%% result outside one.
after_result(Key, St) ->
    case maps:is_key(Key, St#st.bursts) orelse maps:is_key(Key, St#st.inflight) of
        true -> St;
        false -> update_clock(St)
    end.

%%% The clock

update_clock(#st{servers = Servers, selected = Old, sync = Sync} = St) ->
    Now = erlang:monotonic_time(millisecond),
    St0 = agreement(sysport_time_ntp:truechimers(Servers, Now), Now, St),
    Selected = sysport_time_ntp:select(maps:with(St0#st.truechimers, Servers), Old, Now),
    St1 = St0#st{selected = Selected},
    [logger:notice("sysport_time: now following ~ts", [maps:get(host, maps:get(Selected, Servers))])
     || Selected =/= undefined, Selected =/= Old],
    case Selected of
        undefined -> St1;
        _ ->
            Est = sysport_time_ntp:estimate(maps:get(Selected, Servers), Now),
            {Action, Sync1} = sysport_time_ntp:discipline(Sync, Est, Now),
            case allowed(Action, St1) of
                ok ->
                    Acquired = not maps:get(synchronized, Sync) andalso maps:get(synchronized, Sync1),
                    St3 = adjust(Action, Est, still_synchronized(St1#st{sync = Sync1, refused_step = undefined})),
                    case Acquired of
                        true -> synchronized_now(Est, St3);
                        false -> St3
                    end;
                {refused, Why} ->
                    %% Not applied: the clock is as synchronized as it was.
                    refused_step(Why, Action, St1#st{sync = Sync1#{synchronized := maps:get(synchronized, Sync)}})
            end
    end.

%% Who agrees now; newly found falsetickers are said once.
agreement(True, Now, #st{servers = Servers, falsetickers = OldFalse} = St) ->
    Answering = [K || {K, S} <- maps:to_list(Servers), sysport_time_ntp:estimate(S, Now) =/= undefined],
    %% Without a majority nobody is newly outvoted; a falseticker that has
    %% no estimate now (samples cleared after a step) stays one until it
    %% answers again.
    False = case True of
                [] -> OldFalse;
                _ -> lists:usort((Answering -- True) ++ (OldFalse -- Answering))
            end,
    New = False -- OldFalse,
    [logger:warning("sysport_time: ~ts disagrees with ~b other servers (offset ~.3f s): not used",
                    [maps:get(host, S), length(True), maps:get(offset, sysport_time_ntp:estimate(S, Now)) / 1.0e9])
     || K <- New, S <- [maps:get(K, Servers)]],
    lists:foldl(fun(_, Acc) -> bump(falsetickers, Acc) end, St#st{truechimers = True, falsetickers = False}, New).

allowed({step, O}, #st{opts = #{panic_threshold := Panic}} = St) ->
    sysport_time_ntp:step_allowed(O, length(St#st.truechimers), St#st.ever_synchronized, Panic * 1000000000);
allowed(_, _) ->
    ok.

refused_step(Why, {step, O}, #st{refused_step = Last, opts = #{panic_threshold := Panic}} = St) ->
    [logger:warning("sysport_time: a step of ~.3f s refused: ~b server(s) agree, and after the first sync "
                    "a step over the panic threshold (~b s) needs three", [O / 1.0e9, length(St#st.truechimers), Panic])
     || Last =/= Why],
    count_rejected(Why, St#st{refused_step = Why}).

adjust(stale, _Est, St) ->
    St;
adjust(spike, #{offset := O}, St) ->
    logger:notice("sysport_time: offset ~.3f s held back as a spike", [O / 1.0e9]),
    bump(spikes, St);
adjust({step, O}, Est, St) ->
    case helper(St, {step, O}) of
        ok -> after_step(O, ntp, used(Est, St));
        Error ->
            logger:error("sysport_time: step of ~.6f s failed: ~p", [O / 1.0e9, Error]),
            St
    end;
adjust({slew, O}, Est, #st{servers = Servers, selected = Sel} = St) ->
    Poll = maps:get(poll, maps:get(Sel, Servers)),
    EstErr = min(16000000, sysport_time_ntp:distance(Est, erlang:monotonic_time(millisecond)) div 1000),
    case helper(St, {slew, O, sysport_time_ntp:time_constant(Poll), EstErr}) of
        ok ->
            notify(clock_slew, #{offset => O / 1.0e9, ns => O, server => host(St)}, St),
            lost_timer(bump(slews, used(Est, St)));
        Error ->
            logger:error("sysport_time: slew of ~.6f s failed: ~p", [O / 1.0e9, Error]),
            St
    end.

used(Est, St) ->
    St#st{used = Est, last_sync = now_ns(St) div 1000000000}.

%% Servers that agree while synchronized confirm the clock, whether or not
%% they move it: silence (or disagreement) is what loses synchronization.
still_synchronized(#st{sync = #{synchronized := true}} = St) ->
    lost_timer(St#st{last_sync = now_ns(St) div 1000000000});
still_synchronized(St) ->
    St.

%% Offsets measured before a step are wrong now; the RTC and the time file
%% learn the new time.
after_step(O, Reason, #st{servers = Servers} = St) ->
    notify(clock_step, #{offset => O / 1.0e9, ns => O, reason => Reason, server => host(St)}, St),
    St1 = St#st{servers = maps:map(fun(_, S) -> sysport_time_ntp:clear_samples(S) end, Servers)},
    St2 = store_time(bump(steps, St1)),
    St3 = write_rtc(St2),
    case Reason of
        ntp -> lost_timer(St3);
        manual -> St3
    end.

synchronized_now(Est, St0) ->
    St = St0#st{ever_synchronized = true},
    notify(sync_acquired, #{server => host(St), offset => maps:get(offset, Est) / 1.0e9,
                            stratum => maps:get(stratum, Est)}, St),
    St1 = store_time(St),
    St2 = start_timer(time_file, maps:get(time_file_interval, St#st.opts), St1),
    lost_timer(start_timer(rtc_sync, maps:get(rtc_sync_interval, St#st.opts), St2)).

lost_timer(#st{opts = Opts} = St) ->
    start_timer(sync_lost, maps:get(sync_lost_after, Opts), St).

start_timer(Name, Ms, #st{timers = T} = St) ->
    _ = case maps:find(Name, T) of
            {ok, Old} -> erlang:cancel_timer(Old);
            error -> ok
        end,
    St#st{timers = T#{Name => erlang:send_after(Ms, self(), {timer, Name})}}.

timer(sync_lost, #st{sync = Sync} = St) ->
    notify(sync_lost, #{server => host(St), last_sync => St#st.last_sync}, St),
    logger:warning("sysport_time: no usable NTP answer for ~b ms: not synchronized",
                   [maps:get(sync_lost_after, St#st.opts)]),
    cancel_timers([time_file, rtc_sync],
                  St#st{sync = Sync#{synchronized := false, spike_since := undefined}});
timer(time_file, St) ->
    start_timer(time_file, maps:get(time_file_interval, St#st.opts), store_time(St));
timer(rtc_sync, St) ->
    start_timer(rtc_sync, maps:get(rtc_sync_interval, St#st.opts), write_rtc(St)).

cancel_timers(Names, #st{timers = T} = St) ->
    _ = [erlang:cancel_timer(R) || {N, R} <- maps:to_list(T), lists:member(N, Names)],
    St#st{timers = maps:without(Names, T)}.

%%% RTC and time file

write_rtc(#st{rtc = #{state := absent}} = St) -> St;
write_rtc(St) -> async(rtc_write, rtc_write, St).

rtc_written({ok, #{time := T}}, #st{rtc = Rtc} = St) ->
    %% A written RTC holds good time again (drivers clear the invalid flag).
    bump(rtc_writes, St#st{rtc = Rtc#{written => T}});
rtc_written({error, no_rtc}, St) ->
    St;
rtc_written({error, Reason}, St) ->
    logger:warning("sysport_time: writing the RTC failed: ~p", [Reason]),
    bump(rtc_write_errors, St).

%% Records what an RTC read says, and tells subscribers when it is bad.
rtc_checked(Result, #st{opts = Opts} = St) ->
    Dev = case maps:get(rtc, Opts) of none -> none; D -> unicode:characters_to_binary(D) end,
    Rtc = case Result of
              {error, no_rtc} -> #{device => Dev, state => absent};
              {error, Reason} -> #{device => Dev, state => absent, error => Reason};
              {ok, #{valid := Valid, flags := Flags} = R} ->
                  Battery = lists:member(backup_low, Flags) orelse lists:member(backup_empty, Flags),
                  State = if not Valid -> invalid; Battery -> battery_low; true -> ok end,
                  maps:merge(maps:with([time, flags, source], R),
                             #{device => Dev, state => State, trusted => State =:= ok})
          end,
    case Rtc of
        #{state := invalid} -> notify(rtc_invalid, maps:with([device, flags], Rtc), St);
        #{state := battery_low} -> notify(rtc_battery_low, maps:with([device, flags], Rtc), St);
        _ -> ok
    end,
    St#st{rtc = Rtc}.

%% The time file never goes back: a clock below what it holds (set back
%% by hand) leaves it alone.
store_time(#st{time_file = none} = St) ->
    St;
store_time(#st{time_file = Path} = St) ->
    Now = now_ns(St) div 1000000000,
    Result = case sysport_time_floor:read_file(Path) of
                 {ok, Stored} when Stored > Now, St#st.time_file_state =/= corrupt -> ok;
                 _ -> sysport_time_floor:touch(Path, Now)
             end,
    case Result of
        ok -> St#st{time_file_state = ok};
        {error, Reason} when Reason =/= St#st.time_file_state ->
            logger:warning("sysport_time: cannot update ~ts: ~p", [Path, Reason]),
            St#st{time_file_state = Reason};
        {error, _} -> St
    end.

%%% Status

%% @private
-spec status(#st{}) -> map().
status(#st{sync = Sync, used = Used, opts = Opts} = St) ->
    Sel = case St#st.selected of undefined -> undefined; K -> maps:get(K, St#st.servers) end,
    Ms = fun(Key) -> case Used of #{Key := V} -> V / 1.0e6; _ -> undefined end end,
    #{synchronized => maps:get(synchronized, Sync),
      offset_ms => Ms(offset), delay_ms => Ms(delay), jitter_ms => Ms(jitter),
      stratum => case Used of #{stratum := S} -> S; _ -> undefined end,
      server => host(St),
      address => case Sel of #{addr := A} when A =/= undefined -> list_to_binary(inet:ntoa(A)); _ -> undefined end,
      poll_ms => case Sel of #{poll := P} -> P; _ -> undefined end,
      last_sync => St#st.last_sync, floor => St#st.floor, ceiling => St#st.ceiling,
      floor_source => St#st.floor_source,
      truechimers => length(St#st.truechimers),
      falsetickers => [maps:get(host, maps:get(K, St#st.servers)) || K <- St#st.falsetickers],
      floor_applied => St#st.floor_applied,
      rtc => St#st.rtc, clock => maps:get(clock, St#st.info, unknown),
      clock_forced => maps:get(clock_forced, Opts),
      ntp => case maps:get(servers, Opts) of [] -> disabled; _ -> enabled end,
      time_file => #{path => St#st.time_file, state => St#st.time_file_state},
      kernel => case helper(St, clock_status, 1000) of {ok, Kernel} -> Kernel; Error -> Error end,
      rejected_reasons => St#st.rejected,
      counters => (St#st.counters)#{rejected => lists:sum(maps:values(St#st.rejected))}}.

server_info(Key, S, #st{selected = Sel, falsetickers = False}) ->
    Now = erlang:monotonic_time(millisecond),
    Est = sysport_time_ntp:estimate(S, Now),
    Base = maps:with([host, port, state, reach, kod], S),
    Base#{address => case maps:get(addr, S) of undefined -> undefined; A -> list_to_binary(inet:ntoa(A)) end,
          poll => maps:get(poll, S) / 1000, selected => Key =:= Sel, spikes => maps:get(spikes, S),
          falseticker => lists:member(Key, False),
          offset => est(offset, Est), delay => est(delay, Est), jitter => est(jitter, Est),
          stratum => case Est of #{stratum := St} -> St; _ -> undefined end,
          distance => case Est of undefined -> undefined; _ -> sysport_time_ntp:distance(Est, Now) / 1.0e9 end}.

est(Key, #{} = Est) -> maps:get(Key, Est) / 1.0e9;
est(_, undefined) -> undefined.

host(#st{selected = undefined}) -> undefined;
host(#st{selected = K, servers = Servers}) -> maps:get(host, maps:get(K, Servers)).

%%% Helpers

helper(St, Request) -> helper(St, Request, 5000).
helper(#st{port = Port}, Request, Timeout) -> sysport_port:call(Port, Request, Timeout).

now_ns(St) ->
    case helper(St, now) of
        {ok, Ns} -> Ns;
        _ -> os:system_time(nanosecond)
    end.

%% Unix nanoseconds, within what the helper's int64 takes: a float is
%% compared before it is multiplied (1.0e300 * 1.0e9 does not exist).
to_unix_ns(T) when is_integer(T), T >= 0, T =< ?MAX_NS div 1000000000 -> {ok, T * 1000000000};
to_unix_ns(T) when is_float(T), T >= 0, T =< ?MAX_NS / 1.0e9 -> {ok, min(?MAX_NS, round(T * 1.0e9))};
to_unix_ns({Date, {H, M, S}} = DT) when is_integer(H), is_integer(M), is_integer(S),
                                         H >= 0, H < 24, M >= 0, M < 60, S >= 0, S < 60 ->
    try calendar:valid_date(Date) andalso calendar:datetime_to_gregorian_seconds(DT) - 62167219200 of
        Secs when is_integer(Secs) -> to_unix_ns(Secs);
        _ -> error
    catch _:_ -> error
    end;
to_unix_ns(_) -> error.

count_rejected(Reason, #st{rejected = R} = St) ->
    St#st{rejected = R#{Reason => maps:get(Reason, R, 0) + 1}}.

bump(Key, #st{counters = C} = St) ->
    St#st{counters = C#{Key => maps:get(Key, C, 0) + 1}}.

notify(Event, Info, #st{subs = Subs}) ->
    sysport_service:notify(Subs, {sysport_time, Event, Info}, fun(_) -> true end).
