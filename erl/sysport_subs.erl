%% @doc Subscribers of a service: monitored pids with a filter each, kept in
%% the service's own state. A subscriber may be on another node: the
%% monitor fires (`noconnection') when that node goes, and send/2 never
%% lets a slow or partitioned node stall the service.
%%
%% ```
%% Subs = sysport_subs:add(Pid, #{level => warning}, sysport_subs:new()),
%% sysport_subs:fold(fun(P, Filter, ok) -> P ! {my_service, event}, ok end, ok, Subs),
%% Subs1 = sysport_subs:down(Pid, Subs).   % on {'DOWN', _, process, Pid, _}
%% '''
-module(sysport_subs).

-export([new/0, add/3, remove/2, down/2, fold/3, pids/1, count/1, send/2, dropped/0]).

-define(DROPPED, {?MODULE, dropped}).
-export_type([subs/0]).

-opaque subs() :: #{pid() => {reference(), term()}}.

%% @doc No subscribers.
-spec new() -> subs().
new() -> #{}.

%% @doc Adds (or re-filters) a subscriber.
-spec add(pid(), term(), subs()) -> subs().
add(Pid, Filter, Subs) ->
    case Subs of
        #{Pid := {Ref, _}} -> Subs#{Pid := {Ref, Filter}};
        _ -> Subs#{Pid => {erlang:monitor(process, Pid), Filter}}
    end.

%% @doc Removes Pid and its monitor.
-spec remove(pid(), subs()) -> subs().
remove(Pid, Subs) ->
    case maps:take(Pid, Subs) of
        {{Ref, _}, Rest} -> erlang:demonitor(Ref, [flush]), Rest;
        error -> Subs
    end.

%% @doc Handles `{'DOWN', _, process, Pid, _}' for a subscriber.
-spec down(pid(), subs()) -> subs().
down(Pid, Subs) ->
    maps:remove(Pid, Subs).

%% @doc Folds over `{Pid, Filter}'.
-spec fold(fun((pid(), term(), Acc) -> Acc), Acc, subs()) -> Acc.
fold(Fun, Acc, Subs) ->
    maps:fold(fun(Pid, {_, Filter}, A) -> Fun(Pid, Filter, A) end, Acc, Subs).

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

%% @doc The subscribed pids.
-spec pids(subs()) -> [pid()].
pids(Subs) -> maps:keys(Subs).

%% @doc How many subscribers.
-spec count(subs()) -> non_neg_integer().
count(Subs) -> map_size(Subs).
