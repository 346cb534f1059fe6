%% @doc Subscribers of a service: monitored pids with a filter each, kept in
%% the service's own state.
%%
%% ```
%% Subs = sysport_subs:add(Pid, #{level => warning}, sysport_subs:new()),
%% sysport_subs:fold(fun(P, Filter, ok) -> P ! {my_service, event}, ok end, ok, Subs),
%% Subs1 = sysport_subs:down(Pid, Subs).   % on {'DOWN', _, process, Pid, _}
%% '''
-module(sysport_subs).

-export([new/0, add/3, remove/2, down/2, fold/3, pids/1, count/1]).
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

%% @doc The subscribed pids.
-spec pids(subs()) -> [pid()].
pids(Subs) -> maps:keys(Subs).

%% @doc How many subscribers.
-spec count(subs()) -> non_neg_integer().
count(Subs) -> map_size(Subs).
