%% @doc Subscribers of a service: an ETS table of monitored pids with a
%% filter each. The table belongs to the service's keeper (see
%% {@link sysport_service}), which adds, removes and monitors; the service
%% and anyone else read it, so subscriptions outlive a restart of the
%% service process. A subscriber may be on another node: the monitor fires
%% (`noconnection') when that node goes, and send/2 never lets a slow or
%% partitioned node stall the service.
%%
%% ```
%% Subs = sysport_subs:new(),                       % in the keeper
%% ok = sysport_subs:add(Subs, Pid, #{level => warning}),
%% sysport_subs:fold(fun(P, _Filter, ok) -> sysport_subs:send(P, {my_service, event, #{}}) end, ok, Subs).
%% '''
-module(sysport_subs).

-export([new/0, add/3, remove/2, fold/3, pids/1, count/1, send/2, dropped/0]).

-define(DROPPED, {?MODULE, dropped}).
-export_type([subs/0]).

-type subs() :: ets:tid().

%% @doc A table with no subscribers, owned by the caller.
-spec new() -> subs().
new() ->
    ets:new(?MODULE, [set, protected, {read_concurrency, true}]).

%% @doc Adds (or re-filters) a subscriber, monitored by the caller.
-spec add(subs(), pid(), term()) -> ok.
add(Subs, Pid, Filter) ->
    Ref = case ets:lookup(Subs, Pid) of
              [{_, R, _}] -> R;
              [] -> erlang:monitor(process, Pid)
          end,
    true = ets:insert(Subs, {Pid, Ref, Filter}),
    ok.

%% @doc Removes Pid and its monitor (also on its `DOWN').
-spec remove(subs(), pid()) -> ok.
remove(Subs, Pid) ->
    case ets:take(Subs, Pid) of
        [{_, Ref, _}] -> erlang:demonitor(Ref, [flush]), ok;
        [] -> ok
    end.

%% @doc Folds over `{Pid, Filter}'.
-spec fold(fun((pid(), term(), Acc) -> Acc), Acc, subs()) -> Acc.
fold(Fun, Acc, Subs) ->
    ets:foldl(fun({Pid, _, Filter}, A) -> Fun(Pid, Filter, A) end, Acc, Subs).

%% @doc The subscribed pids.
-spec pids(subs()) -> [pid()].
pids(Subs) -> [P || {P, _, _} <- ets:tab2list(Subs)].

%% @doc How many subscribers.
-spec count(subs()) -> non_neg_integer().
count(Subs) -> ets:info(Subs, size).

%% @doc Sends Msg to a subscriber. To another node it is dropped rather
%% than wait: when the connection's buffer is full (a node that stopped
%% reading, a link that went quiet before the tick notices) `!' would
%% suspend the service until the node is declared down; and a node no
%% longer connected is not dialled again (its monitor says it is gone).
%% Drops are counted in the calling service's process (see dropped/0) and
%% logged at 1, 2, 4, 8... so a stalled node cannot flood the log.
-spec send(pid(), term()) -> ok.
send(Pid, Msg) when node(Pid) =:= node() ->
    Pid ! Msg,
    ok;
send(Pid, Msg) ->
    case erlang:send(Pid, Msg, [nosuspend, noconnect]) of
        ok -> ok;
        Why -> count_drop(Pid, element(1, Msg), Why)
    end.

%% @doc Messages the calling service dropped for remote subscribers.
-spec dropped() -> non_neg_integer().
dropped() ->
    case get(?DROPPED) of
        undefined -> 0;
        N -> N
    end.

count_drop(Pid, Tag, Why) ->
    N = dropped() + 1,
    put(?DROPPED, N),
    case N band (N - 1) of
        0 -> logger:warning("~p: ~b message(s) dropped for remote subscribers so far, the last "
                            "for ~p on ~p (~p)", [Tag, N, Pid, node(Pid), Why],
                            #{domain => [sysport, subs]});
        _ -> ok
    end.

