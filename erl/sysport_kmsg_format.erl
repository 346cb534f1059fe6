%% @doc Kernel log records as `dmesg' prints them:
%% `[    1.234567] message', continuation lines indented under the message,
%% bytes a terminal should not interpret written as `\xNN' (as util-linux
%% does in a UTF-8 locale), an empty message as an empty line. With
%% `color => true' the timestamp is green and warnings and worse are
%% highlighted, with util-linux's colours.
%% @private
-module(sysport_kmsg_format).

-export([line/2, timestamp/1, text/1]).

-define(GREEN, "\e[32m").
-define(RESET, "\e[0m").

%% @doc One record as one line (or several, for a multi-line message),
%% ending in a newline. Valid UTF-8 whatever the message holds.
-spec line(sysport_kmsg:record(), #{color => boolean()}) -> iodata().
line(#{message := <<>>}, _Opts) ->
    "\n";
line(#{message := Message, ts_usec := Ts, level := Level}, Opts) ->
    Stamp = timestamp(Ts),
    Indent = lists:duplicate(iolist_size(Stamp), $\s),
    Text = escape(Message, Indent, []),
    case maps:get(color, Opts, false) of
        true ->
            case level_color(Level) of
                none -> [?GREEN, Stamp, ?RESET, Text, $\n];
                Color -> [?GREEN, Stamp, ?RESET, Color, Text, ?RESET, $\n]
            end;
        false ->
            [Stamp, Text, $\n]
    end.

%% @doc The message alone, escaped as in {@link line/2} (newlines kept, no
%% indent): what sysport_kmsg hands to logger.
-spec text(binary()) -> binary().
text(Message) ->
    %% Most messages are printable UTF-8: one BIF pass each proves it.
    case binary:match(Message, unprintable()) of
        nomatch ->
            case unicode:characters_to_binary(Message) of
                Message -> Message;
                _ -> iolist_to_binary(escape(Message, [], []))
            end;
        _ ->
            iolist_to_binary(escape(Message, [], []))
    end.

%% ASCII controls but whitespace, DEL, and the C1 controls in UTF-8.
unprintable() ->
    case persistent_term:get({?MODULE, unprintable}, undefined) of
        undefined ->
            Bytes = [<<C>> || C <- lists:seq(0, 16#1f) ++ [16#7f], C < $\t orelse C > $\r] ++
                [<<16#c2, C>> || C <- lists:seq(16#80, 16#9f)],
            Pattern = binary:compile_pattern(Bytes),
            persistent_term:put({?MODULE, unprintable}, Pattern),
            Pattern;
        Pattern ->
            Pattern
    end.

%% @doc `[%5d.%06d] ' of a kernel timestamp in microseconds.
-spec timestamp(non_neg_integer()) -> iodata().
timestamp(Usec) ->
    %% Not ~5b: io_lib prints asterisks when a number outgrows its field.
    Seconds = string:pad(integer_to_list(Usec div 1000000), 5, leading),
    Micros = string:pad(integer_to_list(Usec rem 1000000), 6, leading, $0),
    [$[, Seconds, $., Micros, "] "].

%% util-linux's colour scheme (emergency, which it leaves plain, as alert).
level_color(emergency) -> "\e[7m\e[31m";
level_color(alert) -> "\e[7m\e[31m";
level_color(critical) -> "\e[1m\e[31m";
level_color(error) -> "\e[31m";
level_color(warning) -> "\e[1m";
level_color(_) -> none.

%% Printable ASCII, whitespace and printable UTF-8 pass; control
%% characters, DEL, C1 controls and bytes that are not UTF-8 become \xNN. A
%% newline with more text after it is followed by the indent.
escape(<<>>, _Indent, Acc) ->
    lists:reverse(Acc);
escape(<<$\n, Rest/binary>>, Indent, Acc) when Rest =/= <<>> ->
    escape(Rest, Indent, [Indent, $\n | Acc]);
escape(<<C, Rest/binary>>, Indent, Acc) when C >= 16#20, C < 16#7f; C >= $\t, C =< $\r ->
    escape(Rest, Indent, [C | Acc]);
escape(<<C/utf8, Rest/binary>> = Bin, Indent, Acc) when C >= 16#a0 ->
    Size = byte_size(Bin) - byte_size(Rest),
    escape(Rest, Indent, [binary:part(Bin, 0, Size) | Acc]);
escape(<<C/utf8, Rest/binary>> = Bin, Indent, Acc) when C >= 16#80 ->
    Size = byte_size(Bin) - byte_size(Rest),
    escape(Rest, Indent, [hex(binary:part(Bin, 0, Size)) | Acc]);
escape(<<B, Rest/binary>>, Indent, Acc) ->
    escape(Rest, Indent, [hex(<<B>>) | Acc]).

hex(Bytes) ->
    [[$\\, $x, hex_digit(B bsr 4), hex_digit(B band 15)] || <<B>> <= Bytes].

hex_digit(N) when N < 10 -> $0 + N;
hex_digit(N) -> $a + N - 10.
