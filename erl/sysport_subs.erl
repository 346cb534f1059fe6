%% @doc Subscribers of a service: monitored pids with a filter each, kept in
%% the service's own state.
-module(sysport_subs).

-export([new/0, add/3, remove/2, down/2, fold/3, pids/1, count/1]).
-export_type([subs/0]).

-opaque subs() :: #{pid() => {reference(), term()}}.

-spec new() -> subs().
new() -> #{}.

%% @doc Adds (or re-filters) a subscriber.
-spec add(pid(), term(), subs()) -> subs().
add(Pid, Filter, Subs) ->
    case Subs of
        #{Pid := {Ref, _}} -> Subs#{Pid := {Ref, Filter}};
        _ -> Subs#{Pid => {erlang:monitor(process, Pid), Filter}}
    end.

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

-spec fold(fun((pid(), term(), Acc) -> Acc), Acc, subs()) -> Acc.
fold(Fun, Acc, Subs) ->
    maps:fold(fun(Pid, {_, Filter}, A) -> Fun(Pid, Filter, A) end, Acc, Subs).

-spec pids(subs()) -> [pid()].
pids(Subs) -> maps:keys(Subs).

-spec count(subs()) -> non_neg_integer().
count(Subs) -> map_size(Subs).
