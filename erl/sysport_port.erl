%% @doc Owner of one helper program: opens it, waits for `{ready, Info}',
%% matches replies to callers, forwards events and logs, and restarts the
%% helper with exponential backoff when it exits.
%%
%% Every sysport service starts one of these (linked) in its init. The
%% service receives, as messages:
%% ```
%% {sysport_port, Pid, {ready, Info}}     after every (re)start
%% {sysport_port, Pid, {progress, Info}}  a helper still setting up is busy
%% {sysport_port, Pid, {event, Event}}    for each {event, Event} frame
%% {sysport_port, Pid, {exited, Status}}  when the helper goes away
%% '''
%% Callers never wait on each other: each call has an Id and its own timer,
%% and replies go out as they arrive. A caller whose helper exits gets
%% `{error, {helper_exited, Status}}' at once. A request whose frame is over
%% the helper's cap (`max_frame' in its ready info), which would make the
%% helper exit and fail every other caller, is refused here with `{error,
%% too_large}' and never sent. A service never waits on its helper: it sends requests with request/4 (the result comes back as
%% `{sysport_port, Pid, {reply, Tag, Result}}') or forward/4 (the result
%% goes straight to the service's caller).
-module(sysport_port).
-behaviour(gen_server).

-export([start_link/1, call/2, call/3, request/4, forward/4, cast/2, stats/1, info/1, stop/1,
         exit_status/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-export_type([opts/0, status/0, stats/0, sandbox/0]).

-type opts() :: #{helper := file:filename_all(),
                  args => [iodata()],
                  owner => pid(),
                  name => atom(),
                  env => [{string(), string() | false}],
                  wrapper => [file:filename_all()],
                  ready_timeout => timeout(),
                  await_ready => boolean(),
                  stop_timeout => non_neg_integer(),
                  backoff_min => pos_integer(),
                  backoff_max => pos_integer(),
                  healthy_after => non_neg_integer()}.
%% `helper' is a program name looked up in the helper directory
%% (see {@link sysport_env:helper_path/1}) or a path containing a slash.
%% `wrapper' runs the helper under another program (valgrind, strace).
%% `ready_timeout' runs from the start and from each `{progress, Info}'
%% frame: a helper that says it is busy (a long recovery) is not killed.
%% `await_ready' false: start_link returns once the helper is started,
%% without waiting for its ready (requests wait for it here).

-type status() :: {exit, non_neg_integer()} | {signal, atom() | pos_integer()}
                | ready_timeout | {protocol_error, term()} | {start_failed, term()}
                | {port_closed, term()} | none.
-type stats() :: #{helper := binary(), state := starting | up | down,
                   os_pid := non_neg_integer() | undefined,
                   starts := non_neg_integer(), restarts := non_neg_integer(),
                   last_exit := status(), uptime_ms := non_neg_integer(),
                   frames_in := non_neg_integer(), bytes_in := non_neg_integer(),
                   frames_out := non_neg_integer(), bytes_out := non_neg_integer(),
                   pending := non_neg_integer(), protocol_errors := non_neg_integer(),
                   late_replies := non_neg_integer(), too_large := non_neg_integer(),
                   backlog_bytes := non_neg_integer(), busy := non_neg_integer(),
                   next_backoff_ms := pos_integer(),
                   recent_backoffs_ms := [pos_integer()], sandbox := sandbox()}.
%% What the helper holds once set up, as its last `ready' said (`none'
%% before the first): its uid, the capabilities it kept, whether
%% no_new_privs is set, and its seccomp filter with the syscall list in
%% force (`production'; `sanitizer' in ASan builds; `valgrind' when a
%% release helper finds itself under valgrind) or why there is none.
-type sandbox() :: #{uid := non_neg_integer(), caps := [atom()], caps_via := atom(),
                     bounding_cleared := boolean(), no_new_privs := boolean(),
                     seccomp := filter | {unavailable, binary()},
                     syscalls := production | sanitizer | valgrind}
                 | none.

-type from() :: gen_server:from() | {reply_to, pid(), term()}.

-define(DEFAULTS, #{args => [], env => [], wrapper => [],
                    ready_timeout => 5000, await_ready => true, stop_timeout => 5000,
                    backoff_min => 100, backoff_max => 30000,
                    healthy_after => 60000}).
-define(RECENT_BACKOFFS, 64).
%% A helper that stops reading (SIGSTOP, stuck in fdatasync on a hung card)
%% fills its pipe and the port turns busy; frames then wait here, up to
%% this many bytes, and are retried every DRAIN_MS. Past it a request is
%% refused with {error, busy}: nothing ever blocks on the helper.
-define(MAX_BACKLOG, 1 bsl 20).
-define(DRAIN_MS, 20).
-define(LEVELS, [emergency, alert, critical, error, warning, notice, info, debug]).

-record(st, {opts :: map(),
             owner :: pid(),
             label :: binary(),
             port :: port() | undefined,
             os_pid :: non_neg_integer() | undefined,
             os_start :: binary() | undefined,
             state = starting :: starting | up | down,
             %% why the helper is being killed, reported instead of the signal
             dying :: undefined | status(),
             ready_timer :: reference() | undefined,
             info = #{} :: map(),
             pending = #{} :: #{non_neg_integer() => {from(), reference() | undefined}},
             unsent = [] :: [{non_neg_integer() | undefined, binary()}],
             next_id = 0 :: non_neg_integer(),
             backoff :: pos_integer(),
             recent_backoffs = [] :: [pos_integer()],
             up_since :: integer() | undefined,
             starts = 0 :: non_neg_integer(),
             last_exit = none :: status(),
             frames_in = 0 :: non_neg_integer(),
             bytes_in = 0 :: non_neg_integer(),
             frames_out = 0 :: non_neg_integer(),
             bytes_out = 0 :: non_neg_integer(),
             protocol_errors = 0 :: non_neg_integer(),
             late_replies = 0 :: non_neg_integer(),
             %% requests refused for a frame over the helper's cap
             too_large = 0 :: non_neg_integer(),
             %% frames waiting for a busy port, oldest first
             backlog = queue:new() :: queue:queue({non_neg_integer() | undefined, binary()}),
             backlog_bytes = 0 :: non_neg_integer(),
             drain_timer :: reference() | undefined,
             %% requests refused because the backlog was full
             busy = 0 :: non_neg_integer()}).

%%% API

%% @doc Starts the helper and returns once it has said `ready' (see
%% `await_ready').
-spec start_link(opts()) -> {ok, pid()} | {error, term()}.
start_link(#{helper := _} = Opts) ->
    Args = [maps:merge(?DEFAULTS, maps:merge(#{owner => self()}, Opts))],
    case Opts of
        #{name := Name} -> gen_server:start_link({local, Name}, ?MODULE, Args, []);
        _ -> gen_server:start_link(?MODULE, Args, [])
    end.

%% @doc {@link call/3} with a 5 s timeout.
-spec call(gen_server:server_ref(), term()) -> term().
call(Server, Request) ->
    call(Server, Request, 5000).

%% @doc Sends `Request' to the helper and returns its result, or
%% `{error, timeout | closed | {helper_exited, status()} | {helper_down, status()}}'.
-spec call(gen_server:server_ref(), term(), timeout()) -> term().
call(Server, Request, Timeout) ->
    safe_call(Server, {call, Request, Timeout}).

%% @doc Sends `Request' and returns at once: the calling process gets
%% `{sysport_port, Server, {reply, Tag, Result}}', Result as call/3 returns
%% it (`{error, timeout}' after Timeout).
-spec request(pid(), term(), timeout(), term()) -> ok.
request(Server, Request, Timeout, Tag) ->
    gen_server:cast(Server, {call, Request, Timeout, {reply_to, self(), Tag}}).

%% @doc Sends `Request' and returns at once: the result goes to From, the
%% caller of a gen_server, as call/3 would return it.
-spec forward(pid(), term(), timeout(), gen_server:from()) -> ok.
forward(Server, Request, Timeout, From) ->
    gen_server:cast(Server, {call, Request, Timeout, From}).

%% @doc Sends `Request' without waiting for the helper; `{error, busy}'
%% when a helper that stopped reading has a full backlog.
-spec cast(gen_server:server_ref(), term()) -> ok | {error, closed | busy | too_large | {helper_down, status()}}.
cast(Server, Request) ->
    safe_call(Server, {cast, Request}).

%% @doc The helper's name, state, OS pid, restarts, last exit and uptime.
-spec stats(gen_server:server_ref()) -> stats() | {error, closed}.
stats(Server) ->
    safe_call(Server, stats).

%% @doc The Info map of the helper's last `ready'.
-spec info(gen_server:server_ref()) -> map() | {error, closed}.
info(Server) ->
    safe_call(Server, info).

%% @doc Stops the helper (stdin closed, then SIGTERM) and this process.
-spec stop(gen_server:server_ref()) -> ok.
stop(Server) ->
    try gen_server:stop(Server) catch exit:_ -> ok end.

%% @doc The meaning of a port exit status: above 128 a signal killed it.
-spec exit_status(non_neg_integer()) -> status().
exit_status(N) when N > 128 -> {signal, signal_name(N - 128)};
exit_status(N) -> {exit, N}.

safe_call(Server, Msg) ->
    try gen_server:call(Server, Msg, infinity)
    catch exit:_ -> {error, closed}
    end.

%%% gen_server

%% @private
-spec init([map()]) -> {ok, #st{}} | {stop, term()}.
init([#{helper := Helper, owner := Owner, backoff_min := Min} = Opts]) ->
    process_flag(trap_exit, true),
    St0 = #st{opts = Opts, owner = Owner, backoff = Min,
              label = iolist_to_binary(filename:basename(Helper))},
    case {open(St0), Opts} of
        {{ok, St}, #{await_ready := false}} -> {ok, St};
        {{ok, St}, _} -> await_first_ready(St);
        {{error, Reason}, _} -> {stop, Reason}
    end.

%% @private
-spec handle_call(term(), gen_server:from(), #st{}) -> {reply, term(), #st{}} | {noreply, #st{}}.
handle_call({call, Request, Timeout}, From, St) ->
    {noreply, enqueue(Request, Timeout, From, St)};
handle_call({cast, Request}, _From, #st{state = State} = St) when State =/= down ->
    Msg = {cast, Request},
    case {fits(Msg, St), State} of
        {false, _} -> {reply, {error, too_large}, St#st{too_large = St#st.too_large + 1}};
        {true, up} ->
            Frame = term_to_binary(Msg),
            case backlog_full(Frame, St) of
                true -> {reply, {error, busy}, St#st{busy = St#st.busy + 1}};
                false -> {reply, ok, send(undefined, Frame, St)}
            end;
        {true, starting} -> {reply, ok, St#st{unsent = St#st.unsent ++ [{undefined, term_to_binary(Msg)}]}}
    end;
handle_call({cast, _}, _From, St) ->
    {reply, {error, {helper_down, St#st.last_exit}}, St};
handle_call(stats, _From, St) ->
    {reply, stats_map(St), St};
handle_call(info, _From, St) ->
    {reply, St#st.info, St};
handle_call(_Other, _From, St) ->
    {reply, {error, badarg}, St}.

%% @private
-spec handle_cast(term(), #st{}) -> {noreply, #st{}}.
handle_cast({call, Request, Timeout, From}, St) ->
    {noreply, enqueue(Request, Timeout, From, St)};
handle_cast(_Msg, St) ->
    {noreply, St}.

enqueue(_Request, _Timeout, From, #st{state = down} = St) ->
    reply(From, {error, {helper_down, St#st.last_exit}}),
    St;
enqueue(Request, Timeout, From, #st{state = State} = St) ->
    Msg = {call, St#st.next_id, Request},
    case fits(Msg, St) of
        true ->
            Frame = term_to_binary(Msg),
            case State =:= up andalso backlog_full(Frame, St) of
                true -> reply(From, {error, busy}), St#st{busy = St#st.busy + 1};
                false -> enqueue_frame(Frame, Timeout, From, State, St)
            end;
        false -> reply(From, {error, too_large}), St#st{too_large = St#st.too_large + 1}
    end.

enqueue_frame(Frame, Timeout, From, State, St) ->
    Id = St#st.next_id,
    TRef = case Timeout of
               infinity -> undefined;
               _ -> erlang:start_timer(Timeout, self(), {call_timeout, Id})
           end,
    St1 = St#st{next_id = Id + 1, pending = maps:put(Id, {From, TRef}, St#st.pending)},
    case State of
        up -> send(Id, Frame, St1);
        starting -> St1#st{unsent = St1#st.unsent ++ [{Id, Frame}]}
    end.

%% Whether the helper takes the frame of Msg (a term or its encoding),
%% measured without encoding it: its cap is known from its ready info
%% (frames queued before the first one are checked when it comes).
fits(Frame, #st{info = #{max_frame := Max}}) when is_binary(Frame), is_integer(Max) ->
    byte_size(Frame) =< Max;
fits(Msg, #st{info = #{max_frame := Max}}) when is_integer(Max) ->
    erlang:external_size(Msg) =< Max;
fits(_Msg, _St) -> true.

reply({reply_to, Pid, Tag}, Result) ->
    Pid ! {sysport_port, self(), {reply, Tag, Result}},
    ok;
reply(From, Result) ->
    gen_server:reply(From, Result).

%% @private
-spec handle_info(term(), #st{}) -> {noreply, #st{}} | {stop, term(), #st{}}.
handle_info({Port, {data, Bin}}, #st{port = Port, dying = undefined} = St) ->
    St1 = St#st{frames_in = St#st.frames_in + 1, bytes_in = St#st.bytes_in + byte_size(Bin)},
    try binary_to_term(Bin) of
        Term -> {noreply, frame(Term, St1)}
    catch
        error:badarg -> {noreply, protocol_error(not_a_term, St1)}
    end;
handle_info({Port, {data, _}}, #st{port = Port} = St) ->
    {noreply, St};  % the helper is being killed: its last words do not count
handle_info({Port, {exit_status, N}}, #st{port = Port} = St) ->
    {noreply, exited(exit_status(N), St)};
handle_info({'EXIT', Port, Reason}, #st{port = Port} = St) when Reason =/= normal ->
    %% The port closed without an exit status: a write to a helper that had
    %% just died fails with epipe and ends the port this way. Make sure the
    %% helper is gone, then handle it as an exit.
    reap_later(St#st.os_pid, St#st.os_start, 0),
    {noreply, exited({port_closed, Reason}, St)};
handle_info({'EXIT', Port, _}, #st{} = St) when is_port(Port) ->
    {noreply, St};
handle_info({'EXIT', Owner, Reason}, #st{owner = Owner} = St) ->
    {stop, Reason, St};
handle_info({timeout, TRef, ready_timeout}, #st{ready_timer = TRef, state = starting} = St) ->
    logger:error("~ts: no ready within ~w ms; killing it",
                 [St#st.label, maps:get(ready_timeout, St#st.opts)], meta(St)),
    {noreply, kill(ready_timeout, St)};
handle_info({timeout, _, {call_timeout, Id}}, St) ->
    case maps:take(Id, St#st.pending) of
        {{From, _}, Pending} ->
            reply(From, {error, timeout}),
            Unsent = lists:keydelete(Id, 1, St#st.unsent),
            {Waiting, Stale} = lists:partition(fun({I, _}) -> I =/= Id end, queue:to_list(St#st.backlog)),
            {noreply, St#st{pending = Pending, unsent = Unsent, backlog = queue:from_list(Waiting),
                            backlog_bytes = St#st.backlog_bytes - lists:sum([byte_size(F) || {_, F} <- Stale])}};
        error ->
            {noreply, St}
    end;
handle_info({timeout, TRef, drain}, #st{drain_timer = TRef} = St) ->
    {noreply, drain(St#st{drain_timer = undefined})};
handle_info(restart, #st{state = down} = St) ->
    case open(St) of
        {ok, St1} -> {noreply, St1};
        {error, Reason} ->
            logger:error("~ts: cannot start: ~p", [St#st.label, Reason], meta(St)),
            {noreply, schedule_restart(St#st{last_exit = {start_failed, Reason}})}
    end;
handle_info(_Msg, St) ->
    {noreply, St}.

%% @private
-spec terminate(term(), #st{}) -> ok.
terminate(_Reason, #st{port = Port, os_pid = OsPid, os_start = Start, opts = Opts}) ->
    %% EOF on stdin is the helper's signal to finish and exit; one that does
    %% not is killed after stop_timeout.
    case is_port(Port) andalso erlang:port_info(Port) =/= undefined of
        true ->
            catch port_close(Port),
            reap_later(OsPid, Start, maps:get(stop_timeout, Opts));
        false -> ok
    end,
    ok.

%%% Frames from the helper

frame({reply, Id, Result}, St) when is_integer(Id) ->
    case maps:take(Id, St#st.pending) of
        {{From, TRef}, Pending} ->
            cancel(TRef),
            reply(From, Result),
            St#st{pending = Pending};
        error ->
            St#st{late_replies = St#st.late_replies + 1}
    end;
frame({event, Event}, #st{owner = Owner} = St) ->
    Owner ! {sysport_port, self(), {event, Event}},
    St;
frame({log, Level, Msg}, St) when is_binary(Msg) ->
    Lvl = case lists:member(Level, ?LEVELS) of true -> Level; false -> notice end,
    logger:log(Lvl, "~ts: ~ts", [St#st.label, Msg], meta(St)),
    St;
frame({progress, Info}, #st{state = starting} = St) when is_map(Info) ->
    cancel(St#st.ready_timer),
    St#st.owner ! {sysport_port, self(), {progress, Info}},
    St#st{ready_timer = ready_timer(St#st.opts)};
frame({ready, Info}, #st{state = starting} = St) when is_map(Info) ->
    cancel(St#st.ready_timer),
    St#st.owner ! {sysport_port, self(), {ready, Info}},
    St1 = St#st{state = up, info = Info, ready_timer = undefined,
                up_since = erlang:monotonic_time(millisecond),
                os_start = proc_start_time(St#st.os_pid)},
    lists:foldl(fun({Id, Frame}, Acc) -> send_queued(Id, Frame, Acc) end,
                St1#st{unsent = []}, St1#st.unsent);
frame(Other, St) ->
    protocol_error({bad_frame, Other}, St).

%% A frame queued while the helper started, before its cap was known.
send_queued(Id, Frame, St) ->
    case fits(Frame, St) of
        true ->
            send(Id, Frame, St);
        false when Id =:= undefined ->
            logger:warning("~ts: a cast of ~b bytes over the helper's cap not sent",
                           [St#st.label, byte_size(Frame)], meta(St)),
            St#st{too_large = St#st.too_large + 1};
        false ->
            case maps:take(Id, St#st.pending) of
                {{From, TRef}, Pending} ->
                    cancel(TRef),
                    reply(From, {error, too_large}),
                    St#st{pending = Pending, too_large = St#st.too_large + 1};
                error ->
                    St
            end
    end.

protocol_error(Why, St) ->
    logger:error("~ts: protocol error (~0P); restarting it",
                 [St#st.label, Why, 10], meta(St)),
    kill({protocol_error, Why}, St#st{protocol_errors = St#st.protocol_errors + 1}).

%%% Starting, stopping, restarting

open(#st{opts = Opts} = St) ->
    case resolve(Opts) of
        {ok, Exe, Args} ->
            PortOpts = [{packet, 4}, binary, exit_status, use_stdio, hide,
                        {args, Args}, {env, maps:get(env, Opts)}],
            try open_port({spawn_executable, Exe}, PortOpts) of
                Port ->
                    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
                    TRef = ready_timer(Opts),
                    {ok, St#st{port = Port, os_pid = OsPid, os_start = undefined,
                               state = starting, dying = undefined, ready_timer = TRef,
                               starts = St#st.starts + 1}}
            catch
                error:Reason -> {error, {open_port, Reason, Exe}}
            end;
        {error, _} = Error ->
            Error
    end.

ready_timer(#{ready_timeout := infinity}) -> undefined;
ready_timer(#{ready_timeout := Timeout}) -> erlang:start_timer(Timeout, self(), ready_timeout).

resolve(#{helper := Helper, args := Args, wrapper := Wrapper}) ->
    Path = case filename:dirname(Helper) of
               "." -> sysport_env:helper_path(Helper);
               <<".">> -> sysport_env:helper_path(Helper);
               _ -> Helper
           end,
    ArgStrs = [unicode:characters_to_list(A) || A <- Args],
    case {Wrapper, filelib:is_regular(Path)} of
        {_, false} ->
            {error, {helper_not_found, iolist_to_binary(Path)}};
        {[], true} ->
            {ok, Path, ArgStrs};
        {[W | WArgs], true} ->
            case os:find_executable(unicode:characters_to_list(W)) of
                false -> {error, {wrapper_not_found, W}};
                WPath -> {ok, WPath, [unicode:characters_to_list(A) || A <- WArgs] ++
                                      [unicode:characters_to_list(Path) | ArgStrs]}
            end
    end.

%% init/1 waits here for the first ready (or the first failure), handling
%% the helper's log frames in the meantime.
await_first_ready(#st{port = Port} = St) ->
    receive
        {Port, {data, _}} = Data ->
            {noreply, St1} = handle_info(Data, St),
            case St1 of
                #st{state = up} -> {ok, St1};
                #st{dying = undefined} -> await_first_ready(St1);
                #st{dying = Why} -> await_first_exit(St1, Why)
            end;
        {Port, {exit_status, N}} ->
            {stop, {helper_exited, exit_status(N)}};
        {timeout, TRef, ready_timeout} when TRef =:= St#st.ready_timer ->
            await_first_exit(kill(ready_timeout, St), ready_timeout)
    end.

await_first_exit(#st{port = Port}, Why) ->
    receive {Port, {exit_status, _}} -> {stop, Why}
    after 5000 -> {stop, Why}
    end.

%% In order: straight to the port when nothing waits and it is not busy,
%% else behind what waits.
send(Id, Frame, #st{backlog_bytes = 0} = St) ->
    case port_send(Id, Frame, St) of
        busy -> wait(Id, Frame, St);
        St1 -> St1
    end;
send(Id, Frame, St) ->
    wait(Id, Frame, St).

backlog_full(Frame, #st{backlog_bytes = Bytes}) ->
    Bytes > 0 andalso Bytes + byte_size(Frame) > ?MAX_BACKLOG.

wait(Id, Frame, #st{backlog = Q, backlog_bytes = Bytes} = St) ->
    arm_drain(St#st{backlog = queue:in({Id, Frame}, Q), backlog_bytes = Bytes + byte_size(Frame)}).

arm_drain(#st{drain_timer = undefined} = St) ->
    St#st{drain_timer = erlang:start_timer(?DRAIN_MS, self(), drain)};
arm_drain(St) ->
    St.

drain(#st{port = undefined} = St) ->
    St;
drain(#st{backlog = Q, backlog_bytes = Bytes} = St) ->
    case queue:out(Q) of
        {empty, _} ->
            St;
        {{value, {Id, Frame}}, Rest} ->
            case port_send(Id, Frame, St) of
                busy -> arm_drain(St);
                St1 -> drain(St1#st{backlog = Rest, backlog_bytes = Bytes - byte_size(Frame)})
            end
    end.

%% nosuspend: a busy port (a helper not reading) must not suspend us.
port_send(Id, Frame, #st{port = Port} = St) ->
    try erlang:port_command(Port, Frame, [nosuspend]) of
        true -> St#st{frames_out = St#st.frames_out + 1,
                      bytes_out = St#st.bytes_out + byte_size(Frame)};
        false -> busy
    catch
        error:badarg ->
            %% The port closed under us; its exit_status is on its way.
            case Id =/= undefined andalso maps:take(Id, St#st.pending) of
                {{From, TRef}, Pending} ->
                    cancel(TRef),
                    reply(From, {error, closed}),
                    St#st{pending = Pending};
                _ -> St
            end
    end.

%% Kills the helper and lets its exit_status arrive through the usual path,
%% reported as Why.
kill(Why, #st{os_pid = OsPid} = St) ->
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid) ++ " 2>/dev/null"),
    St#st{dying = Why}.

exited(Status0, #st{owner = Owner, pending = Pending} = St) ->
    Status = case St#st.dying of undefined -> Status0; Why -> Why end,
    cancel(St#st.ready_timer),
    [begin cancel(TRef), reply(From, {error, {helper_exited, Status}}) end
     || {From, TRef} <- maps:values(Pending)],
    Level = case Status of {exit, 0} -> notice; _ -> warning end,
    logger:log(Level, "~ts (os pid ~w) exited: ~0p", [St#st.label, St#st.os_pid, Status], meta(St)),
    Owner ! {sysport_port, self(), {exited, Status}},
    cancel(St#st.drain_timer),
    schedule_restart(St#st{state = down, port = undefined, pending = #{}, unsent = [],
                           backlog = queue:new(), backlog_bytes = 0, drain_timer = undefined,
                           ready_timer = undefined, dying = undefined, last_exit = Status}).

schedule_restart(#st{opts = Opts, backoff = Backoff0, up_since = UpSince} = St) ->
    Min = maps:get(backoff_min, Opts),
    Max = maps:get(backoff_max, Opts),
    Healthy = UpSince =/= undefined andalso
        erlang:monotonic_time(millisecond) - UpSince >= maps:get(healthy_after, Opts),
    Delay = case Healthy of true -> Min; false -> Backoff0 end,
    erlang:send_after(Delay, self(), restart),
    Recent = lists:sublist([Delay | St#st.recent_backoffs], ?RECENT_BACKOFFS),
    St#st{backoff = min(Max, Delay * 2), up_since = undefined, recent_backoffs = Recent}.

%% After the port is closed the helper has stop_timeout ms to exit on its
%% own. The start time read from /proc guards against killing a process
%% that reused the pid.
reap_later(undefined, _, _) -> ok;
reap_later(OsPid, Start, Timeout) ->
    _ = spawn(fun() -> reap(OsPid, Start, erlang:monotonic_time(millisecond) + Timeout) end),
    ok.

reap(OsPid, Start, Deadline) ->
    case proc_start_time(OsPid) of
        Start when Start =/= undefined ->
            case erlang:monotonic_time(millisecond) >= Deadline of
                true -> os:cmd("kill -9 " ++ integer_to_list(OsPid) ++ " 2>/dev/null");
                false -> timer:sleep(20), reap(OsPid, Start, Deadline)
            end;
        _ -> ok
    end.

%% Field 22 of /proc/PID/stat: the process's start time in clock ticks.
proc_start_time(undefined) -> undefined;
proc_start_time(OsPid) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/stat") of
        {ok, Stat} ->
            [_, AfterComm] = string:split(Stat, <<")">>, trailing),
            Fields = binary:split(AfterComm, <<" ">>, [global, trim_all]),
            case length(Fields) >= 20 of
                true -> lists:nth(20, Fields);
                false -> undefined
            end;
        {error, _} -> undefined
    end.

%%% Helpers

stats_map(#st{} = St) ->
    Uptime = case St#st.up_since of
                 undefined -> 0;
                 T -> erlang:monotonic_time(millisecond) - T
             end,
    #{helper => St#st.label, state => St#st.state,
      os_pid => case St#st.state of down -> undefined; _ -> St#st.os_pid end,
      starts => St#st.starts, restarts => max(0, St#st.starts - 1),
      last_exit => St#st.last_exit, uptime_ms => Uptime,
      frames_in => St#st.frames_in, bytes_in => St#st.bytes_in,
      frames_out => St#st.frames_out, bytes_out => St#st.bytes_out,
      pending => map_size(St#st.pending), protocol_errors => St#st.protocol_errors,
      late_replies => St#st.late_replies, too_large => St#st.too_large,
      backlog_bytes => St#st.backlog_bytes, busy => St#st.busy,
      next_backoff_ms => St#st.backoff,
      recent_backoffs_ms => lists:reverse(St#st.recent_backoffs),
      sandbox => maps:get(sandbox, St#st.info, none)}.

meta(St) ->
    #{domain => [sysport, helper], sysport_helper => St#st.label, os_pid => St#st.os_pid}.

cancel(undefined) -> ok;
cancel(TRef) -> _ = erlang:cancel_timer(TRef), ok.

signal_name(1) -> sighup;
signal_name(2) -> sigint;
signal_name(3) -> sigquit;
signal_name(4) -> sigill;
signal_name(6) -> sigabrt;
signal_name(7) -> sigbus;
signal_name(8) -> sigfpe;
signal_name(9) -> sigkill;
signal_name(11) -> sigsegv;
signal_name(13) -> sigpipe;
signal_name(14) -> sigalrm;
signal_name(15) -> sigterm;
signal_name(31) -> sigsys;
signal_name(N) -> N.
