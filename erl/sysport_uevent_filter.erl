%% @doc Device filters of {@link sysport_uevent}: which devices `devices/1'
%% lists and which events a subscriber gets.
%%
%% A filter is a map; a device matches when every entry does:
%% ```
%% #{subsystem => <<"net">>,             % SUBSYSTEM
%%   devtype => <<"partition">>,         % DEVTYPE
%%   driver => <<"e1000e">>,             % DRIVER
%%   devpath => <<"/devices/pci0000:00">>,  % a prefix, or a glob with * ? [...]
%%   <<"INTERFACE">> => <<"eth0">>}      % any property, by its name
%% '''
%% Values (and property names) are binaries or any `unicode:chardata()'.
-module(sysport_uevent_filter).

-export([compile/1, match/3, subsystem/1]).
-export_type([filter/0, compiled/0]).

-type filter() :: #{subsystem | devtype | driver | devpath | binary() | string() =>
                        unicode:chardata()}.
-opaque compiled() :: [{prop, binary(), binary()} | {prefix, binary()} | {glob, tuple()}].

%% @doc Checks a filter and makes it quick to match.
-spec compile(term()) -> {ok, compiled()} | {error, {bad_filter, term()}}.
compile(Filter) when is_map(Filter) ->
    try
        {ok, [entry(K, V) || {K, V} <- lists:sort(maps:to_list(Filter))]}
    catch
        throw:{bad_filter, _} = Bad -> {error, Bad}
    end;
compile(Other) ->
    {error, {bad_filter, Other}}.

%% @doc Whether a device (its devpath and properties) passes the filter.
-spec match(compiled(), binary(), #{binary() => binary()}) -> boolean().
match([], _DevPath, _Props) ->
    true;
match([{prop, Key, Value} | Rest], DevPath, Props) ->
    case Props of
        #{Key := Value} -> match(Rest, DevPath, Props);
        _ -> false
    end;
match([{prefix, Prefix} | Rest], DevPath, Props) ->
    case DevPath of
        <<Prefix:(byte_size(Prefix))/binary, _/binary>> -> match(Rest, DevPath, Props);
        _ -> false
    end;
match([{glob, Re} | Rest], DevPath, Props) ->
    case re:run(DevPath, Re, [{capture, none}]) of
        match -> match(Rest, DevPath, Props);
        nomatch -> false
    end.

%% @doc The subsystem a filter requires, if any: the table indexes it.
-spec subsystem(compiled()) -> {ok, binary()} | any.
subsystem(Compiled) ->
    case lists:keyfind(<<"SUBSYSTEM">>, 2, Compiled) of
        {prop, _, Subsystem} -> {ok, Subsystem};
        false -> any
    end.

entry(subsystem, V) -> {prop, <<"SUBSYSTEM">>, text(subsystem, V)};
entry(devtype, V) -> {prop, <<"DEVTYPE">>, text(devtype, V)};
entry(driver, V) -> {prop, <<"DRIVER">>, text(driver, V)};
entry(devpath, V) ->
    Path = text(devpath, V),
    case re:run(Path, "[*?[]", [{capture, none}]) of
        match -> {glob, glob(Path)};
        nomatch -> {prefix, Path}
    end;
entry(Key, V) when is_binary(Key); is_list(Key) ->
    case text(Key, Key) of
        <<>> -> throw({bad_filter, Key});
        Name -> {prop, Name, text(Key, V)}
    end;
entry(Key, _) ->
    throw({bad_filter, Key}).

text(Key, V) ->
    try unicode:characters_to_binary(V) of
        B when is_binary(B) -> B;
        _ -> throw({bad_filter, {Key, V}})
    catch
        error:badarg -> throw({bad_filter, {Key, V}})
    end.

%% fnmatch(3) without flags, as udev matches: * and ? also match '/'.
glob(Pattern) ->
    {ok, Re} = re:compile(["^", glob_re(Pattern), "$"]),
    Re.

glob_re(<<"*", Rest/binary>>) -> [".*" | glob_re(Rest)];
glob_re(<<"?", Rest/binary>>) -> ["." | glob_re(Rest)];
glob_re(<<"[", Rest/binary>> = All) ->
    case binary:match(Rest, <<"]">>, [{scope, {1, max(0, byte_size(Rest) - 1)}}]) of
        {End, 1} ->
            <<Class:End/binary, "]", After/binary>> = Rest,
            ["[", class(Class), "]" | glob_re(After)];
        nomatch ->
            <<_, Tail/binary>> = All,
            ["\\[" | glob_re(Tail)]
    end;
glob_re(<<C/utf8, Rest/binary>>) -> [escape(C) | glob_re(Rest)];
glob_re(<<>>) -> [].

class(<<"!", Rest/binary>>) -> ["^" | class_body(Rest)];
class(Body) -> class_body(Body).

class_body(Body) -> [case C of $\\ -> "\\\\"; $[ -> "\\["; _ -> <<C/utf8>> end || <<C/utf8>> <= Body].

escape(C) ->
    case lists:member(C, "\\^$.|+()[]{}*?") of
        true -> [$\\, C];
        false -> <<C/utf8>>
    end.
