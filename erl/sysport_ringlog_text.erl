%% @doc Ring log records for humans: formatting with a logger formatter
%% (only when someone asks), boot boundaries, grep matching with context,
%% saving to a text file, and the printer behind attach.
%% @private
-module(sysport_ringlog_text).

-export([default_formatter/0, format/2, lines/3, matcher/1, grep_start/2, grep_chunk/2, grep_result/1, printer/3]).
-export_type([grep/0]).

-type matcher() :: {re, term()} | {literal, binary()}. % term(): re's compiled pattern
-export_type([matcher/0]).

-spec default_formatter() -> {module(), logger:formatter_config()}.
default_formatter() ->
    {logger_formatter, #{single_line => true, legacy_header => false,
                         template => [time, " ", level, " #", seq, " ", {pid, [pid, " "], []},
                                      {mfa, [mfa, ": "], []}, msg, "\n"]}}.

%% @doc One record as text, through Formatter. A formatter that fails
%% gives a plain line instead: showing logs must not fail.
-spec format(sysport_ringlog_codec:record(), {module(), logger:formatter_config()}) -> unicode:chardata().
format(#{level := Level, msg := Msg, time := Time} = R, {Mod, Config}) ->
    Meta0 = #{time => Time, seq => maps:get(seq, R), boot => binary_to_list(maps:get(boot, R))},
    Meta = maps:fold(fun(K, V, Acc) when is_binary(V) -> Acc#{K => unicode:characters_to_list(V)};
                        (_, _, Acc) -> Acc
                     end, Meta0, maps:with([pid, mfa, application, file, line], R)),
    Domain = [binary_to_list(D) || D <- maps:get(domain, R)],
    Event = #{level => Level, msg => {string, Msg},
              meta => case Domain of [] -> Meta; _ -> Meta#{domain => Domain} end},
    try Mod:format(Event, Config)
    catch _:_ ->
            io_lib:format("~s ~s #~b: ~ts~n", [calendar:system_time_to_rfc3339(Time, [{unit, microsecond}]),
                                              Level, maps:get(seq, R), Msg])
    end.

%% @doc Records as text, with a line wherever the boot changes (Prev: the
%% boot of the record before these, or undefined); and the last boot.
-spec lines([sysport_ringlog_codec:record()], {module(), logger:formatter_config()}, binary() | undefined) ->
          {unicode:chardata(), binary() | undefined}.
lines(Records, Formatter, Prev) ->
    lines(Records, Formatter, Prev, []).

lines([], _F, Boot, Acc) ->
    {lists:reverse(Acc), Boot};
lines([#{boot := Boot} = R | Rest], F, Prev, Acc) ->
    Acc1 = case Boot of
               Prev -> Acc;
               _ when Prev =:= undefined -> Acc;
               _ -> [io_lib:format("---- boot ~s ----~n", [Boot]) | Acc]
           end,
    lines(Rest, F, Boot, [format(R, F) | Acc1]).

%% @doc A pattern as a matcher: a compiled regex or an Elixir Regex is a
%% regex, `{re, Pattern}' compiles Pattern, any other chardata matches
%% literally.
-spec matcher(term()) -> {ok, matcher()} | {error, term()}.
matcher({re_pattern, _, _, _, _} = MP) ->
    {ok, {re, MP}};
matcher(#{re_pattern := MP}) ->
    {ok, {re, MP}};
matcher({re, Pattern}) ->
    try re:compile(Pattern, [unicode]) of
        {ok, MP} -> {ok, {re, MP}};
        {error, {Why, At}} -> {error, {bad_regex, {unicode:characters_to_binary(Why), At}}}
    catch error:badarg -> {error, bad_pattern}
    end;
matcher(Chardata) ->
    try unicode:characters_to_binary(Chardata) of
        <<>> -> {error, empty_pattern};
        B when is_binary(B) -> {ok, {literal, B}};
        _ -> {error, bad_pattern}
    catch error:badarg -> {error, bad_pattern}
    end.

%% @doc Matching records with Before and After records of context around
%% each match (as grep -B/-A), in order, each once: fed a chunk at a time
%% (grep_chunk/2), holding only the matches and Before records.
-record(grep, {matcher :: matcher(), before :: non_neg_integer(), 'after' :: non_neg_integer(),
               held = [] :: [sysport_ringlog_codec:record()], % unmatched, newest first, at most before
               left = 0 :: non_neg_integer(),                 % records still to keep after a match
               out = [] :: [sysport_ringlog_codec:record()]}).
-opaque grep() :: #grep{}.

-spec grep_start(matcher(), {non_neg_integer(), non_neg_integer()}) -> grep().
grep_start(Matcher, {Before, After}) ->
    #grep{matcher = Matcher, before = Before, 'after' = After}.

-spec grep_chunk([sysport_ringlog_codec:record()], grep()) -> grep().
grep_chunk(Records, G) ->
    lists:foldl(fun grep_one/2, G, Records).

grep_one(R, #grep{matcher = M, held = Held, out = Out} = G) ->
    case matches(R, M) of
        true -> G#grep{held = [], left = G#grep.'after', out = [R | Held ++ Out]};
        false when G#grep.left > 0 -> G#grep{left = G#grep.left - 1, out = [R | Out]};
        false when G#grep.before =:= 0 -> G;
        false -> G#grep{held = lists:sublist([R | Held], G#grep.before)}
    end.

-spec grep_result(grep()) -> [sysport_ringlog_codec:record()].
grep_result(#grep{out = Out}) -> lists:reverse(Out).

matches(#{msg := Msg}, {literal, B}) -> binary:match(Msg, B) =/= nomatch;
matches(#{msg := Msg}, {re, MP}) -> re:run(Msg, MP, [{capture, none}]) =:= match.

%% @doc The process behind attach, a subscriber of the ring log: prints
%% each record to the owner's group leader, and ends with the owner, on
%% `stop', or when its subscription ends.
-spec printer(pid(), pid(), {module(), logger:formatter_config()}) -> no_return().
printer(Owner, GroupLeader, Formatter) ->
    Ref = erlang:monitor(process, Owner),
    %% A shell set to latin1 refuses characters above 255: it gets the
    %% UTF-8 bytes as they are, as sysport's other shell functions do.
    Put = case io:getopts(GroupLeader) of
              Opts when is_list(Opts) ->
                  case proplists:get_value(encoding, Opts) of
                      latin1 -> fun(Bin) -> file:write(GroupLeader, Bin) end;
                      _ -> fun(Bin) -> io:put_chars(GroupLeader, Bin) end
                  end;
              _ -> fun(Bin) -> io:put_chars(GroupLeader, Bin) end
          end,
    print_loop(Ref, Put, Formatter).

print_loop(Ref, Put, Formatter) ->
    receive
        {sysport_ringlog, record, R} ->
            _ = (catch Put(unicode:characters_to_binary(format(R, Formatter)))),
            print_loop(Ref, Put, Formatter);
        {sysport_ringlog, subscription_ended, _} ->
            exit(normal);
        {'DOWN', Ref, process, _, _} ->
            exit(normal);
        stop ->
            exit(normal)
    end.
