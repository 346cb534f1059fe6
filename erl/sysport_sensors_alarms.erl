%% @doc Alarms from readings, pure: thresholds with hysteresis set by the
%% user, and the kernel's own alarm subfeatures (`*_alarm', `fault').
%%
%% An alarm is raised once when its condition starts to hold and cleared
%% once when it stops: a threshold `#{above => 80.0, clear_below => 75.0}'
%% raises when the value goes over 80 and clears when it falls under 75,
%% whatever it does in between. A reading that failed changes nothing.
%%
%% ```
%% {ok, T} = sysport_sensors_alarms:validate(#{above => 80, clear_below => 75}),
%% ok = sysport_sensors:set_threshold(<<"coretemp-isa-0000">>, <<"Package id 0">>, T).
%% '''
-module(sysport_sensors_alarms).

-export([new/0, validate/1, evaluate/3, drop_threshold/3, drop_chips/2, active/1]).
-export_type([threshold/0, thresholds/0, state/0, event/0]).

-type threshold() :: #{above => float(), clear_below => float(),
                       below => float(), clear_above => float()}.
%% {ChipName, Feature name or label} => threshold
-type thresholds() :: #{{binary(), binary()} => threshold()}.
-type key() :: {Chip :: binary(), Feature :: binary(), {threshold, above | below} | {kernel, binary()}}.
-opaque state() :: #{key() => map()}.
-type event() :: {alarm_raised | alarm_cleared, map()}.

%% @doc No alarm raised.
-spec new() -> state().
new() -> #{}.

%% @doc A threshold spec made whole (floats, clear levels defaulting to the
%% trigger levels), or why it is refused.
-spec validate(term()) -> {ok, threshold()} | {error, {bad_threshold, term()}}.
validate(Spec) when is_map(Spec) ->
    Keys = [above, clear_below, below, clear_above],
    try
        [throw(bad) || K <- maps:keys(Spec), not lists:member(K, Keys)],
        [throw(bad) || V <- maps:values(Spec), not is_number(V)],
        F = maps:map(fun(_, V) -> float(V) end, Spec),
        Above = with_clear(F, above, clear_below),
        Below = with_clear(F, below, clear_above),
        T = maps:merge(Above, Below),
        %% a clear level needs its trigger level
        [throw(bad) || map_size(T) =:= 0 orelse maps:size(maps:without(maps:keys(T), F)) > 0],
        [throw(bad) || #{above := A, clear_below := C} <- [T], C > A],
        [throw(bad) || #{below := B, clear_above := C} <- [T], C < B],
        {ok, T}
    catch
        throw:bad -> {error, {bad_threshold, Spec}}
    end;
validate(Spec) ->
    {error, {bad_threshold, Spec}}.

with_clear(F, Level, Clear) ->
    case F of
        #{Level := L} -> #{Level => L, Clear => maps:get(Clear, F, L)};
        _ -> #{}
    end.

%% @doc The alarms that changed with these readings (chips read with
%% values, as sysport_sensors_snapshot:chips/1 gives them). Chips not in
%% the list keep their alarms as they are.
-spec evaluate([sysport_sensors_snapshot:chip()], thresholds(), state()) -> {[event()], state()}.
evaluate(Chips, Thresholds, State) ->
    {Events, State1} = lists:foldl(fun(Chip, Acc) -> chip(Chip, Thresholds, Acc) end,
                                   {[], State}, Chips),
    {lists:reverse(Events), State1}.

chip(#{name := Chip, features := Features}, Thresholds, Acc0) ->
    lists:foldl(
      fun(#{name := Name, label := Label} = F, Acc1) ->
              Acc2 = lists:foldl(fun(Sub, A) -> kernel(Chip, F, Sub, A) end, Acc1,
                                 maps:get(subfeatures, F)),
              Specs = [T || Ref <- lists:usort([Name, Label]),
                            T <- [maps:get({Chip, Ref}, Thresholds, undefined)], T =/= undefined],
              lists:foldl(fun(T, A) -> threshold(Chip, F, T, A) end, Acc2, Specs)
      end, Acc0, Features).

kernel(Chip, #{name := Feature} = F, #{name := Sub, type := Kind, value := V}, Acc)
  when is_float(V) ->
    case sysport_sensors_snapshot:alarm_kind(Kind) of
        true ->
            Info = (info(Chip, F))#{source => kernel, kind => Kind, subfeature => Sub, value => V},
            transition({Chip, Feature, {kernel, Sub}}, V /= 0.0, V == 0.0, Info, Acc);
        false -> Acc
    end;
kernel(_, _, _, Acc) ->
    Acc.

threshold(Chip, #{name := Feature} = F, T, Acc0) ->
    case maps:get(value, F, undefined) of
        V when is_float(V) ->
            Info = (info(Chip, F))#{source => threshold, value => V},
            Acc1 = case T of
                       #{above := A, clear_below := C} ->
                           transition({Chip, Feature, {threshold, above}}, V > A, V < C,
                                      Info#{kind => above, limit => A, clear => C}, Acc0);
                       _ -> Acc0
                   end,
            case T of
                #{below := B, clear_above := C2} ->
                    transition({Chip, Feature, {threshold, below}}, V < B, V > C2,
                               Info#{kind => below, limit => B, clear => C2}, Acc1);
                _ -> Acc1
            end;
        _ -> Acc0
    end.

info(Chip, #{name := Feature, label := Label}) ->
    #{chip => Chip, feature => Feature, label => Label}.

%% Raised when Raise holds and it was not; cleared when Clear holds and it was.
transition(Key, Raise, Clear, Info, {Events, State}) ->
    case {is_map_key(Key, State), Raise, Clear} of
        {false, true, _} -> {[{alarm_raised, Info} | Events], State#{Key => Info}};
        {true, _, true} -> {[{alarm_cleared, Info} | Events], maps:remove(Key, State)};
        _ -> {Events, State}
    end.

%% @doc Forgets the alarms of a threshold that was removed, returning them
%% as cleared so a subscriber never waits for a clear that cannot come.
-spec drop_threshold(binary(), binary(), state()) -> {[event()], state()}.
drop_threshold(Chip, Ref, State) ->
    drop(fun({C, _, {threshold, _}}, #{feature := F, label := L}) ->
                 C =:= Chip andalso (F =:= Ref orelse L =:= Ref);
            (_, _) -> false
         end, threshold_removed, State).

%% @doc The same for every alarm of chips that left.
-spec drop_chips([binary()], state()) -> {[event()], state()}.
drop_chips(Chips, State) ->
    drop(fun({C, _, _}, _) -> lists:member(C, Chips) end, chip_removed, State).

drop(Pred, Reason, State) ->
    Dropped = maps:filter(Pred, State),
    {[{alarm_cleared, Info#{reason => Reason}} || Info <- maps:values(Dropped)],
     maps:without(maps:keys(Dropped), State)}.

%% @doc The alarms raised now, each as its alarm_raised info.
-spec active(state()) -> [map()].
active(State) ->
    [Info || {_, Info} <- lists:sort(maps:to_list(State))].
