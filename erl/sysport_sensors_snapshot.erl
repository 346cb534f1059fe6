%% @doc Pure functions over the chips the sysport_sensors helper reports:
%% their structure with units, readings put in place with each feature's
%% main `value', `limits' and `alarms'; lookups by name or label; the
%% difference between two chip lists; and the text `sensors' would print.
%%
%% ```
%% {ok, Chips} = sysport_sensors:read_all(),
%% {ok, #{features := Features}} = sysport_sensors_snapshot:find_chip(<<"lm75-i2c-1-48">>, Chips),
%% io:put_chars(sysport_sensors_snapshot:format(Chips)).
%% '''
-module(sysport_sensors_snapshot).

-export([chips/1, with_readings/2, find_chip/2, find_feature/2, diff/2, alarm_kind/1, format/1]).
-export_type([chip/0, feature/0, subfeature/0, reading/0]).

-type reading() :: float() | {error, atom()}.
-type subfeature() :: #{name := binary(), type := atom(), readable := boolean(),
                        writable := boolean(), unit := binary(), value => reading()}.
-type feature() :: #{name := binary(), label := binary(), type := atom(), unit := binary(),
                     value => reading() | undefined, limits => #{atom() => float()},
                     alarms => #{atom() => boolean()}, subfeatures := [subfeature()]}.
-type chip() :: #{name := binary(), prefix := binary(), bus := atom(), bus_nr := integer(),
                  address := integer(), adapter := binary() | undefined, path := binary(),
                  features := [feature()]}.

%% The subfeature that is a feature's reading, by feature type.
-define(MAIN, #{vid => [vid], intrusion => [alarm], beep_enable => [beep_enable],
                power => [input, average]}).
-define(LIMITS, [min, max, lcrit, crit, emergency, cap, min_hyst, max_hyst, lcrit_hyst,
                 crit_hyst, emergency_hyst, cap_hyst]).
-define(UNITLESS, [beep, beep_enable, 'div', pulses, type, alarm, fault]).

%% @doc Chips as the helper lists them, with the unit of every feature
%% and subfeature.
-spec chips([map()]) -> [chip()].
chips(Chips) ->
    [Chip#{features := [feature(F) || F <- Fs]} || #{features := Fs} = Chip <- Chips].

feature(#{type := Type, subfeatures := Subs} = F) ->
    Unit = unit(Type),
    F#{unit => Unit, subfeatures => [S#{unit => subfeature_unit(K, Unit)} || #{type := K} = S <- Subs]}.

%% @doc The chips of a reading, `[{ChipName, [Value]}]' with one value per
%% subfeature in order, put into the structure they were read from; error
%% when they do not fit it.
-spec with_readings([chip()], [{binary(), [reading()]}]) -> {ok, [chip()]} | error.
with_readings(Chips, Readings) ->
    try
        {ok, [case find_chip(Name, Chips) of
                  {ok, Chip} -> fill(Chip, Values);
                  error -> throw(mismatch)
              end || {Name, Values} <- Readings]}
    catch
        throw:mismatch -> error
    end.

fill(#{features := Fs} = Chip, Values) ->
    case lists:mapfoldl(fun fill_feature/2, Values, Fs) of
        {Filled, []} -> Chip#{features := Filled};
        _ -> throw(mismatch)
    end.

fill_feature(#{type := Type, subfeatures := Subs} = F, Values) when length(Values) >= length(Subs) ->
    {Mine, Rest} = lists:split(length(Subs), Values),
    Filled = [S#{value => V} || {S, V} <- lists:zip(Subs, Mine)],
    {F#{subfeatures := Filled, value => main_value(Type, Filled), limits => limits(Filled),
        alarms => alarms(Filled)}, Rest};
fill_feature(_, _) ->
    throw(mismatch).

main_value(Type, Subs) ->
    Wanted = maps:get(Type, ?MAIN, [input]),
    case [V || K <- Wanted, #{type := T, value := V} <- Subs, T =:= K] of
        [V | _] -> V;
        [] -> undefined
    end.

limits(Subs) ->
    maps:from_list([{K, V} || #{type := K, value := V} <- Subs, is_float(V),
                              lists:member(K, ?LIMITS)]).

alarms(Subs) ->
    maps:from_list([{K, V /= 0.0} || #{type := K, value := V} <- Subs, is_float(V),
                                     alarm_kind(K)]).

%% @doc True for the subfeature kinds the kernel raises as alarms:
%% `alarm', `fault' and every `*_alarm'.
-spec alarm_kind(atom()) -> boolean().
alarm_kind(alarm) -> true;
alarm_kind(fault) -> true;
alarm_kind(Kind) -> lists:suffix("_alarm", atom_to_list(Kind)).

unit(in) -> <<"V">>;
unit(vid) -> <<"V">>;
unit(fan) -> <<"RPM">>;
unit(temp) -> <<"°C"/utf8>>;
unit(power) -> <<"W">>;
unit(energy) -> <<"J">>;
unit(curr) -> <<"A">>;
unit(humidity) -> <<"%RH">>;
unit(_) -> <<>>.

subfeature_unit(average_interval, _) -> <<"s">>;
subfeature_unit(Kind, Unit) ->
    case lists:member(Kind, ?UNITLESS) orelse alarm_kind(Kind) of
        true -> <<>>;
        false -> Unit
    end.

%% @doc The chip named Name in Chips.
-spec find_chip(binary(), [chip()]) -> {ok, chip()} | error.
find_chip(Name, Chips) ->
    case [C || #{name := N} = C <- Chips, N =:= Name] of
        [C | _] -> {ok, C};
        [] -> error
    end.

%% @doc A feature by its name (`temp1') or its label (`CPU').
-spec find_feature(binary(), chip()) -> {ok, feature()} | error.
find_feature(Ref, #{features := Fs}) ->
    case [F || #{name := N, label := L} = F <- Fs, N =:= Ref orelse L =:= Ref] of
        [F | _] -> {ok, F};
        [] -> error
    end.

%% @doc Chips that appeared and chips that left between two lists.
-spec diff(Old :: [chip()], New :: [chip()]) -> {Added :: [chip()], Removed :: [chip()]}.
diff(Old, New) ->
    Names = fun(Cs) -> [N || #{name := N} <- Cs] end,
    {OldNames, NewNames} = {Names(Old), Names(New)},
    {[C || #{name := N} = C <- New, not lists:member(N, OldNames)],
     [C || #{name := N} = C <- Old, not lists:member(N, NewNames)]}.

%% @doc What `sensors' prints for these chips (read with values).
-spec format([chip()]) -> unicode:chardata().
format([]) ->
    "No sensors found!\n";
format(Chips) ->
    lists:join("\n", [format_chip(C) || C <- Chips]).

format_chip(#{name := Name, adapter := Adapter, features := Fs}) ->
    Width = lists:max([0 | [string:length(L) || #{label := L} <- Fs]]) + 2,
    [Name, "\n", "Adapter: ", adapter_text(Adapter), "\n",
     [format_feature(F, Width) || F <- Fs]].

adapter_text(undefined) -> "(unknown)";
adapter_text(A) -> A.

format_feature(#{label := Label, type := Type} = F, Width) ->
    Value = maps:get(value, F, undefined),
    Limits = [io_lib:format("~ts = ~ts", [limit_name(Type, K), number(Type, V)])
              || K <- ?LIMITS, V <- [maps:get(K, maps:get(limits, F, #{}), undefined)], V =/= undefined],
    Alarms = [atom_to_list(K) || {K, true} <- lists:sort(maps:to_list(maps:get(alarms, F, #{})))],
    [string:pad([Label, ":"], Width), " ", string:pad(number(Type, Value), 10, leading),
     case Limits of [] -> ""; _ -> ["  (", lists:join(", ", Limits), ")"] end,
     case Alarms of [] -> ""; _ -> ["  ", string:uppercase(lists:join(" ", Alarms))] end,
     "\n"].

number(_, undefined) -> "N/A";
number(_, {error, _}) -> "N/A";
number(intrusion, V) when V == 0 -> "OK";
number(intrusion, _) -> "ALARM";
number(temp, V) -> io_lib:format("~ts~.1f~ts", [sign(V), abs(V), unit(temp)]);
number(fan, V) -> io_lib:format("~b RPM", [round(V)]);
number(humidity, V) -> io_lib:format("~.1f ~ts", [V, unit(humidity)]);
number(Type, V) ->
    case unit(Type) of
        <<>> -> io_lib:format("~.2f", [V]);
        U -> io_lib:format("~.2f ~ts", [V, U])
    end.

sign(V) when V < 0 -> "-";
sign(_) -> "+".

limit_name(temp, min) -> "low";
limit_name(temp, max) -> "high";
limit_name(_, max_hyst) -> "hyst";
limit_name(_, K) -> string:replace(atom_to_list(K), "_", " ").
