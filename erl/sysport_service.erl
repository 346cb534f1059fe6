%% @doc The service contract every sysport service follows, as OTP's
%% `logger_h_common' is for logger handlers: this module owns the life
%% cycle (options, start, stop, restarts with backoff, the helper's
%% `ready' and exit, terminate), bounded calls, subscriptions and the
%% common status keys; each service is a thin callback module.
%%
%% A service runs as two processes. Its keeper ({@link sysport_keeper},
%% registered `<module>_keeper', the process a supervisor sees) holds the
%% subscribers and restarts the service process (registered as the
%% module) with backoff when it dies, so one service's crash loop never
%% stops the others or the node, and a subscriber keeps its subscription
%% across the restart. When the keeper itself stops, every subscriber gets
%% `{Module, subscription_ended, #{reason => Reason}}'.
%%
%% What a user sees, in every service:
%% <ul>
%% <li>Options: a map, a proplist or a keyword list, merged over the app
%% env `{Service, Opts}' and the defaults; every key and value is checked
%% before anything starts (`options/0' of each service lists them).
%% Errors: `{error, {invalid_option, Service, #{Key => Value}}}'. The key
%% `helper' holds the helper's own options (`program', `wrapper', `env',
%% `ready_timeout', `stop_timeout', `backoff_min', `backoff_max',
%% `healthy_after'), `timeout' bounds every call (ms).</li>
%% <li>Calls: answered within the service's `timeout' whatever other
%% callers or the helper do (`{error, timeout}' then), `{error,
%% not_running}' when the service is not running.</li>
%% <li>`subscribe()', `subscribe(Pid | Filter)', `subscribe(Pid, Filter)',
%% `unsubscribe()', `unsubscribe(Pid)'; a filter is a map or a proplist;
%% messages are `{Module, Event, Data}'.</li>
%% <li>`status()': `{ok, Map}' with the base keys `service', `state'
%% (`running' | `failed'), `restarts', `last_error', `uptime_ms',
%% `timeout_ms', `subscribers', `helper' (the helper's stats, or `none')
%% and `counters' (a map of counters), beside the service's own.</li>
%% </ul>
-module(sysport_service).
-behaviour(gen_server).

-export([start_link/2, child_spec/2, stop/1, call/2, call/3, status/1, options/1, check/2,
         subscribe/1, subscribe/2, subscribe/3, unsubscribe/1, unsubscribe/2, notify/3,
         timeout/1, name/1, filter/2]).
-export([start_worker/3]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-export_type([ctx/0]).

-type ctx() :: #{port := pid() | undefined, subs := sysport_subs:subs()}.

%% The service's options (its own; `timeout' and `helper' are added here
%% unless the service defines them).
-callback options() -> sysport_opts:schema().
%% The helper to start before init/2: a program name or path, and its
%% arguments; `none' for a service without one.
-callback helper(Opts :: map()) -> {ok, file:filename_all(), [iodata()]} | none | {error, term()}.
-callback init(Opts :: map(), ctx()) -> {ok, State :: term()} | {stop, term()}.
-callback handle_call(term(), gen_server:from(), State :: term()) ->
    {reply, term(), term()} | {noreply, term()} | {stop, term(), term(), term()}.
%% Also gets `{sysport_port, Port, _}' from the helper's owner and
%% `{sysport_subs, subscribed, Pid, Filter}' / `{sysport_subs,
%% unsubscribed, Pid}' from the keeper.
-callback handle_info(term(), State :: term()) -> {noreply, term()} | {stop, term(), term()}.
-callback status(State :: term()) -> map().
%% A subscription filter (a map) checked and compiled, in the caller.
-callback filter(map()) -> {ok, term()} | {error, term()}.
%% Options that are wrong together.
-callback check(Opts :: map()) -> ok | {error, #{atom() => term()}}.
-callback terminate(term(), State :: term()) -> term().
-optional_callbacks([helper/1, filter/1, check/1, terminate/2]).

-define(MARGIN, 1000).
-define(DEFAULT_TIMEOUT, 10000).
-define(SHUTDOWN, 15000).

-record(w, {mod :: module(), port :: pid() | undefined, cb :: term()}).

%%% The API every service's functions are made of

%% @doc Checks Opts (over the app env) and starts the service's keeper,
%% which starts the service.
-spec start_link(module(), term()) -> {ok, pid()} | {error, term()}.
start_link(Mod, Opts) ->
    case check(Mod, Opts) of
        {ok, Full} -> sysport_keeper:start_link(Mod, Full);
        {error, _} = Error -> Error
    end.

%% @doc A child spec for the service under any supervisor.
-spec child_spec(module(), term()) -> supervisor:child_spec().
child_spec(Mod, Opts) ->
    #{id => Mod, start => {Mod, start_link, [Opts]}, shutdown => ?SHUTDOWN, type => worker}.

%% @doc Stops the service (its keeper); `ok' also when it is not running.
-spec stop(module()) -> ok.
stop(Mod) ->
    try gen_server:stop(sysport_keeper:name(Mod)) catch exit:_ -> ok end.

%% @doc A call to the service, bounded by its `timeout' (and a margin, so
%% that a helper's own `{error, timeout}' arrives first).
-spec call(module(), term()) -> term().
call(Mod, Request) ->
    call(Mod, Request, timeout(Mod) + ?MARGIN).

%% @doc A call with its own bound: `{error, not_running}' when the
%% service is not running, `{error, timeout}' when it does not answer in time.
-spec call(atom(), term(), timeout()) -> term().
call(Name, Request, Timeout) ->
    try gen_server:call(Name, Request, Timeout)
    catch exit:{timeout, _} -> {error, timeout};
          exit:_ -> {error, not_running}
    end.

%% @doc The service's `timeout' option (ms).
-spec timeout(module()) -> pos_integer().
timeout(Mod) ->
    persistent_term:get({?MODULE, Mod}, ?DEFAULT_TIMEOUT).

%% @doc The status: the keeper's base keys over the service's own.
-spec status(module()) -> {ok, map()} | {error, term()}.
status(Mod) ->
    case call(sysport_keeper:name(Mod), status, timeout(Mod) + ?MARGIN) of
        {ok, #{state := running} = Base} ->
            case call(Mod, '$status') of
                {ok, Own} -> {ok, maps:merge(Own, Base)};
                {error, Reason} -> {ok, Base#{helper => none, counters => #{}, status_error => Reason}}
            end;
        {ok, Base} ->
            {ok, Base#{helper => none, counters => #{}}};
        {error, _} = Error ->
            Error
    end.

%% @doc The service's options: its own and the common ones.
-spec options(module()) -> sysport_opts:schema().
options(Mod) ->
    Own = Mod:options(),
    Own ++ [O || {K, _, _, _} = O <- common(), not lists:keymember(K, 1, Own)].

common() ->
    Helper = [{program, undefined, path, <<"the helper program (a name in the helper directory, or a path)">>},
              {wrapper, [], {list, chardata}, <<"a command the helper runs under (valgrind, setpriv...)">>},
              {env, [], {list, {check, fun env_pair/1}}, <<"environment variables for the helper">>},
              {ready_timeout, 5000, pos_integer, <<"how long the helper may take to say it is ready (ms)">>},
              {stop_timeout, 5000, non_neg_integer, <<"how long the helper may take to exit on stop (ms)">>},
              {backoff_min, 100, pos_integer, <<"the first restart delay (ms), doubling">>},
              {backoff_max, 30000, pos_integer, <<"the longest restart delay (ms)">>},
              {healthy_after, 60000, non_neg_integer, <<"uptime after which the delay starts again at backoff_min (ms)">>}],
    [{timeout, ?DEFAULT_TIMEOUT, pos_integer, <<"bound of every call (ms)">>},
     {subscribers, [], {list, pid}, <<"pids subscribed (no filter) before the service starts: they hear its start too">>},
     {helper, #{}, {opts, Helper}, <<"the helper's own options, see sysport_service">>}].

env_pair({K, V}) -> is_list(K) andalso (V =:= false orelse is_list(V));
env_pair(_) -> false.

%% @doc Opts (a map, proplist or keyword list) over the app env of the
%% service, checked and merged over the defaults.
-spec check(module(), term()) -> {ok, map()} | {error, sysport_opts:error()}.
check(Mod, Opts) ->
    Name = name(Mod),
    Env = application:get_env(sysport, Name, #{}),
    case {sysport_opts:to_map(Env), sysport_opts:to_map(Opts)} of
        {{ok, E}, {ok, O}} ->
            case sysport_opts:check(Name, options(Mod), maps:merge(E, O)) of
                {ok, Full} -> check_together(Mod, Name, Full);
                Error -> Error
            end;
        {error, _} -> {error, {invalid_option, Name, #{options => Env}}};
        {_, error} -> {error, {invalid_option, Name, #{options => Opts}}}
    end.

check_together(Mod, Name, Full) ->
    case erlang:function_exported(Mod, check, 1) andalso Mod:check(Full) of
        {error, Bad} -> {error, {invalid_option, Name, Bad}};
        _ -> {ok, Full}
    end.

%% @doc The service's name: `kv' for `sysport_kv'.
-spec name(module()) -> atom().
name(Mod) ->
    case atom_to_list(Mod) of
        "sysport_" ++ Name -> list_to_atom(Name);
        _ -> Mod
    end.

%% @doc Subscribes the caller with no filter.
-spec subscribe(module()) -> ok | {error, term()}.
subscribe(Mod) ->
    subscribe(Mod, self(), #{}).

%% @doc Subscribes a pid (any node) with no filter, or the caller with a filter.
-spec subscribe(module(), pid() | map() | list()) -> ok | {error, term()}.
subscribe(Mod, Pid) when is_pid(Pid) -> subscribe(Mod, Pid, #{});
subscribe(Mod, Filter) -> subscribe(Mod, self(), Filter).

%% @doc Subscribes Pid with Filter (a map or proplist), replacing any
%% filter it had.
-spec subscribe(module(), pid(), term()) -> ok | {error, term()}.
subscribe(Mod, Pid, Filter) when is_pid(Pid) ->
    case filter(Mod, Filter) of
        {ok, Compiled} -> call(sysport_keeper:name(Mod), {subscribe, Pid, Compiled}, timeout(Mod));
        {error, _} = Error -> Error
    end;
subscribe(_, _, _) ->
    {error, badarg}.

%% @doc A subscription filter (a map or proplist) checked and compiled by
%% the service's filter/1.
-spec filter(module(), term()) -> {ok, term()} | {error, term()}.
filter(Mod, Filter) ->
    case sysport_opts:to_map(Filter) of
        {ok, Map} ->
            case erlang:function_exported(Mod, filter, 1) of
                true -> Mod:filter(Map);
                false when Map =:= #{} -> {ok, all};
                false -> {error, {bad_filter, Filter}}
            end;
        error ->
            {error, {bad_filter, Filter}}
    end.

%% @doc Ends the caller's subscription.
-spec unsubscribe(module()) -> ok | {error, term()}.
unsubscribe(Mod) ->
    unsubscribe(Mod, self()).

%% @doc Ends Pid's subscription.
-spec unsubscribe(module(), pid()) -> ok | {error, term()}.
unsubscribe(Mod, Pid) when is_pid(Pid) ->
    call(sysport_keeper:name(Mod), {unsubscribe, Pid}, timeout(Mod));
unsubscribe(_, _) ->
    {error, badarg}.

%% @doc Sends Msg to every subscriber whose filter Pass accepts
%% (`Pass(Filter)' or `Pass(Pid, Filter)').
-spec notify(sysport_subs:subs(), tuple(), fun((term()) -> boolean()) | fun((pid(), term()) -> boolean())) -> ok.
notify(Subs, Msg, Pass) when is_function(Pass, 1) ->
    notify(Subs, Msg, fun(_, Filter) -> Pass(Filter) end);
notify(Subs, Msg, Pass) ->
    sysport_subs:fold(fun(Pid, Filter, ok) ->
                              case Pass(Pid, Filter) of
                                  true -> sysport_subs:send(Pid, Msg);
                                  false -> ok
                              end
                      end, ok, Subs).

%%% The service process

%% @private
-spec start_worker(module(), map(), sysport_subs:subs()) -> {ok, pid()} | {error, term()}.
start_worker(Mod, Opts, Subs) ->
    gen_server:start_link({local, Mod}, ?MODULE, {Mod, Opts, Subs}, []).

%% @private
-spec init({module(), map(), sysport_subs:subs()}) -> {ok, #w{}} | {stop, term()}.
init({Mod, Opts, Subs}) ->
    process_flag(trap_exit, true),
    case start_helper(Mod, Opts) of
        {ok, Port} ->
            case Mod:init(Opts, #{port => Port, subs => Subs}) of
                {ok, Cb} ->
                    {ok, #w{mod = Mod, port = Port, cb = Cb}};
                {stop, Reason} ->
                    stop_helper(Port),
                    {stop, Reason}
            end;
        {error, Reason} ->
            {stop, Reason}
    end.

start_helper(Mod, Opts) ->
    case erlang:function_exported(Mod, helper, 1) andalso Mod:helper(Opts) of
        {ok, Program, Args} ->
            {ok, Given} = sysport_opts:to_map(maps:get(helper, Opts)),
            {Exe, Rest} = case maps:take(program, Given) of
                              {P, R} -> {P, R};
                              error -> {Program, Given}
                          end,
            sysport_port:start_link(Rest#{helper => Exe, args => Args, owner => self()});
        {error, _} = Error ->
            Error;
        _ ->
            {ok, undefined}
    end.

stop_helper(undefined) -> ok;
stop_helper(Port) -> sysport_port:stop(Port).

%% @private
-spec handle_call(term(), gen_server:from(), #w{}) ->
          {reply, term(), #w{}} | {noreply, #w{}} | {stop, term(), term(), #w{}}.
handle_call('$status', _From, #w{mod = Mod, port = Port, cb = Cb} = W) ->
    Own = Mod:status(Cb),
    Counters = maps:get(counters, Own, #{}),
    Helper = case Port of
                 undefined -> none;
                 _ -> sysport_port:stats(Port)
             end,
    {reply, {ok, maps:merge(#{helper => Helper}, Own#{counters => Counters#{remote_dropped => sysport_subs:dropped()}})}, W};
handle_call(Request, From, #w{mod = Mod, cb = Cb} = W) ->
    wrap(Mod:handle_call(Request, From, Cb), W).

%% @private
-spec handle_cast(term(), #w{}) -> {noreply, #w{}}.
handle_cast(_Msg, W) ->
    {noreply, W}.

%% @private
-spec handle_info(term(), #w{}) -> {noreply, #w{}} | {stop, term(), #w{}}.
handle_info({'EXIT', Port, Reason}, #w{port = Port} = W) ->
    %% The helper's owner never gives up on its own: this is a crash.
    {stop, {helper_owner_exited, Reason}, W#w{port = undefined}};
handle_info(Msg, #w{mod = Mod, cb = Cb} = W) ->
    wrap(Mod:handle_info(Msg, Cb), W).

%% @private
-spec terminate(term(), #w{}) -> ok.
terminate(Reason, #w{mod = Mod, port = Port, cb = Cb}) ->
    _ = erlang:function_exported(Mod, terminate, 2) andalso Mod:terminate(Reason, Cb),
    stop_helper(Port).

wrap({reply, Reply, Cb}, W) -> {reply, Reply, W#w{cb = Cb}};
wrap({noreply, Cb}, W) -> {noreply, W#w{cb = Cb}};
wrap({stop, Reason, Reply, Cb}, W) -> {stop, Reason, Reply, W#w{cb = Cb}};
wrap({stop, Reason, Cb}, W) -> {stop, Reason, W#w{cb = Cb}}.
