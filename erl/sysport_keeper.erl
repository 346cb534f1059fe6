%% @doc The keeper of one service (see {@link sysport_service}): the
%% process a supervisor sees. It holds the service's subscribers (so they
%% outlive a restart of the service process) and starts the service
%% process, again and again with backoff when it fails: a service in a
%% crash loop is `failed' in its status and retried, and neither the
%% application's supervisor nor the node ever sees it crash.
%% @private
-module(sysport_keeper).
-behaviour(gen_server).

-export([start_link/2, name/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(BACKOFF_MIN, 250).
-define(BACKOFF_MAX, 30000).
-define(HEALTHY_AFTER, 60000).
-define(STOP_TIMEOUT, 12000).

-record(k, {mod :: module(),
            opts :: map(),
            subs :: sysport_subs:subs(),
            worker :: pid() | undefined,
            since :: integer(),
            restarts = 0 :: non_neg_integer(),
            last_error = none :: term(),
            backoff = ?BACKOFF_MIN :: pos_integer()}).

-spec start_link(module(), map()) -> {ok, pid()} | {error, term()}.
start_link(Mod, Opts) ->
    gen_server:start_link({local, name(Mod)}, ?MODULE, {Mod, Opts}, []).

%% @doc The keeper's registered name: `sysport_kv_keeper' for `sysport_kv'.
-spec name(module()) -> atom().
name(Mod) ->
    list_to_atom(atom_to_list(Mod) ++ "_keeper").

-spec init({module(), map()}) -> {ok, #k{}}.
init({Mod, Opts}) ->
    process_flag(trap_exit, true),
    persistent_term:put({sysport_service, Mod}, maps:get(timeout, Opts)),
    Subs = sysport_subs:new(),
    {ok, All} = sysport_service:filter(Mod, #{}),
    _ = [sysport_subs:add(Subs, Pid, All) || Pid <- maps:get(subscribers, Opts)],
    {ok, start(#k{mod = Mod, opts = Opts, subs = Subs, since = now_ms()})}.

start(#k{mod = Mod, opts = Opts, subs = Subs} = K) ->
    case sysport_service:start_worker(Mod, Opts, Subs) of
        {ok, Pid} -> K#k{worker = Pid, since = now_ms()};
        {error, Reason} -> failed(Reason, K)
    end.

failed(Reason, #k{mod = Mod, backoff = Backoff} = K) ->
    logger:error("~p failed: ~0tP; restarting it in ~b ms", [Mod, Reason, 20, Backoff],
                 #{domain => [sysport, service]}),
    erlang:send_after(Backoff, self(), restart),
    K#k{worker = undefined, last_error = Reason, since = now_ms(),
        backoff = min(?BACKOFF_MAX, Backoff * 2)}.

-spec handle_call(term(), gen_server:from(), #k{}) -> {reply, term(), #k{}}.
handle_call({subscribe, Pid, Filter}, _From, #k{subs = Subs} = K) ->
    ok = sysport_subs:add(Subs, Pid, Filter),
    tell(K, {sysport_subs, subscribed, Pid, Filter}),
    {reply, ok, K};
handle_call({unsubscribe, Pid}, _From, #k{subs = Subs} = K) ->
    ok = sysport_subs:remove(Subs, Pid),
    tell(K, {sysport_subs, unsubscribed, Pid}),
    {reply, ok, K};
handle_call(status, _From, #k{} = K) ->
    {reply, {ok, #{service => sysport_service:name(K#k.mod),
                   state => case K#k.worker of undefined -> failed; _ -> running end,
                   restarts => K#k.restarts, last_error => K#k.last_error,
                   uptime_ms => now_ms() - K#k.since,
                   timeout_ms => maps:get(timeout, K#k.opts),
                   subscribers => sysport_subs:count(K#k.subs)}}, K};
handle_call(_Other, _From, K) ->
    {reply, {error, badarg}, K}.

-spec handle_cast(term(), #k{}) -> {noreply, #k{}}.
handle_cast(_Msg, K) ->
    {noreply, K}.

-spec handle_info(term(), #k{}) -> {noreply, #k{}}.
handle_info({'EXIT', Pid, Reason}, #k{worker = Pid} = K) ->
    K1 = case now_ms() - K#k.since >= ?HEALTHY_AFTER of
             true -> K#k{backoff = ?BACKOFF_MIN};
             false -> K
         end,
    {noreply, failed(Reason, K1)};
handle_info(restart, #k{worker = undefined} = K) ->
    {noreply, start(K#k{restarts = K#k.restarts + 1})};
handle_info({'DOWN', _, process, Pid, _}, #k{subs = Subs} = K) ->
    ok = sysport_subs:remove(Subs, Pid),
    tell(K, {sysport_subs, unsubscribed, Pid}),
    {noreply, K};
handle_info(_Msg, K) ->
    {noreply, K}.

%% The service stops first (it may still notify); then every subscriber
%% learns that its subscription ended.
-spec terminate(term(), #k{}) -> ok.
terminate(Reason, #k{mod = Mod, worker = Worker, subs = Subs}) ->
    _ = is_pid(Worker) andalso (catch gen_server:stop(Worker, shutdown, ?STOP_TIMEOUT)),
    sysport_subs:fold(fun(Pid, _, ok) ->
                              sysport_subs:send(Pid, {Mod, subscription_ended, #{reason => Reason}})
                      end, ok, Subs).

tell(#k{worker = undefined}, _Msg) -> ok;
tell(#k{worker = Pid}, Msg) -> Pid ! Msg, ok.

now_ms() ->
    erlang:monotonic_time(millisecond).
