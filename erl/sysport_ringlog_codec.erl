%% @doc Log events as ring log records: what the logger handler stores
%% (runs in the logging process, so it is cheap and never raises), and the
%% record maps the API returns.
%%
%% A record's payload (the bytes kept in memory and in the spool) is a list
%% of metadata fields, then the message as UTF-8:
%% ```
%% <<Tag:8, Len:8, Value:Len/binary>> ... <<0:8>> Message/binary
%% '''
%% Tags: 1 pid, 2 mfa, 3 a domain element (repeated), 4 application,
%% 5 file, 6 line, 7 `key=value' for the extra metadata keys configured.
%% Unknown tags are skipped, so older readers survive newer writers.
-module(sysport_ringlog_codec).

-export([encode/3, decode/1, render/3, to_utf8/2, level_to_int/1, int_to_level/1]).
-export_type([record/0]).

-type record() :: #{seq := non_neg_integer(), boot := binary(), time := integer(),
                    mono := integer(), level := logger:level(), msg := binary(),
                    pid := binary() | undefined, mfa := binary() | undefined,
                    domain := [binary()], application := binary() | undefined,
                    file => binary(), line => binary(), meta => #{binary() => binary()}}.
%% `time' is the wall clock in microseconds since the epoch (logger's
%% `time'), `mono' the VM's monotonic clock in microseconds; `boot'
%% identifies the VM run that logged it.

-define(FIELD_MAX, 255).
-define(REPLACEMENT, <<16#FFFD/utf8>>).

%%% Encoding (in the logging process)

%% @doc The payload of a log event: metadata fields, then the message
%% rendered as UTF-8 and cut to fit MaxBytes in all. Never raises.
-spec encode(logger:log_event(), pos_integer(), [atom()]) -> binary().
encode(#{msg := Msg, meta := Meta}, MaxBytes, Extra) ->
    Fields = try fields(Meta, Extra) catch _:_ -> <<0>> end,
    Room = max(16, MaxBytes - byte_size(Fields)),
    <<Fields/binary, (render(Msg, Meta, Room))/binary>>.

fields(Meta, Extra) ->
    F1 = case Meta of
             #{pid := Pid} when is_pid(Pid) -> field(1, list_to_binary(pid_to_list(Pid)));
             _ -> <<>>
         end,
    F2 = case Meta of
             #{mfa := {M, F, A}} when is_atom(M), is_atom(F), is_integer(A) ->
                 field(2, <<(atom_to_binary(M))/binary, $:, (atom_to_binary(F))/binary, $/,
                            (integer_to_binary(A))/binary>>);
             _ -> <<>>
         end,
    F3 = case Meta of
             #{domain := D} when is_list(D) -> << <<(field(3, text(E)))/binary>> || E <- lists:sublist(D, 8) >>;
             _ -> <<>>
         end,
    F4 = case Meta of
             #{application := App} when is_atom(App) -> field(4, atom_to_binary(App));
             _ -> <<>>
         end,
    F5 = case Meta of
             #{file := File} -> field(5, text(File));
             _ -> <<>>
         end,
    F6 = case Meta of
             #{line := Line} when is_integer(Line) -> field(6, integer_to_binary(Line));
             _ -> <<>>
         end,
    F7 = << <<(field(7, <<(text(K))/binary, $=, (text(V))/binary>>))/binary>>
            || K <- Extra, V <- [maps:get(K, Meta, undefined)], V =/= undefined >>,
    <<F1/binary, F2/binary, F3/binary, F4/binary, F5/binary, F6/binary, F7/binary, 0>>.

field(Tag, Value) ->
    V = cut(Value, ?FIELD_MAX),
    <<Tag, (byte_size(V)), V/binary>>.

text(A) when is_atom(A) -> atom_to_binary(A);
text(B) when is_binary(B) -> to_utf8(B, ?FIELD_MAX);
text(I) when is_integer(I) -> integer_to_binary(I);
text(L) when is_list(L) -> to_utf8(L, ?FIELD_MAX);
text(T) -> list_to_binary(io_lib:format("~0tp", [T], [{chars_limit, ?FIELD_MAX}])).

%% @doc The message of a log event as UTF-8 of at most MaxBytes (cut
%% messages end with a marker saying how long they were). Strings,
%% reports (through the event's `report_cb' or logger's default) and
%% io_lib formats are handled; a format that does not match its arguments
%% is shown as `FORMAT ERROR: Format - Args', as logger_formatter does.
-spec render(term(), logger:metadata(), pos_integer()) -> binary().
render(Msg, Meta, MaxBytes) ->
    try render_msg(Msg, Meta, MaxBytes)
    catch _:_ -> to_utf8(io_lib:format("UNRENDERABLE: ~tp", [Msg], [{chars_limit, MaxBytes}]), MaxBytes)
    end.

render_msg({string, S}, _Meta, Max) ->
    to_utf8(S, Max);
%% Single line: records are shown one a line, and a line break in a term
%% printed across lines would be joined into `key =>, value'.
render_msg({report, R}, #{report_cb := Cb}, Max) when is_function(Cb, 2) ->
    to_utf8(Cb(R, #{depth => unlimited, chars_limit => Max, single_line => true}), Max);
render_msg({report, R}, #{report_cb := Cb}, Max) when is_function(Cb, 1) ->
    {F, A} = Cb(R),
    format(F, A, Max);
render_msg({report, R}, _Meta, Max) ->
    {F, A} = logger:format_report(R),
    format(F, A, Max);
render_msg({F, A}, _Meta, Max) when is_list(A) ->
    format(F, A, Max).

format(F, A, Max) ->
    try io_lib:format(F, A, [{chars_limit, Max}]) of
        Chars -> to_utf8(Chars, Max)
    catch _:_ ->
            to_utf8(io_lib:format("FORMAT ERROR: ~tp - ~tp", [F, A], [{chars_limit, Max}]), Max)
    end.

%% @doc Any chardata (or bytes) as valid UTF-8 of at most MaxBytes: invalid
%% bytes and unencodable elements become U+FFFD, a cut message ends with
%% `...(N bytes)'.
-spec to_utf8(term(), pos_integer()) -> binary().
to_utf8(Bin, Max) when is_binary(Bin), byte_size(Bin) =< Max ->
    case unicode:characters_to_binary(Bin) of
        Good when is_binary(Good) -> Good;
        _ -> limit(repair(Bin, Max + 4, []), byte_size(Bin), Max)
    end;
to_utf8(Bin, Max) when is_binary(Bin) ->
    limit(repair(binary:part(Bin, 0, Max + 4), Max + 4, []), byte_size(Bin), Max);
to_utf8(Data, Max) ->
    case unicode:characters_to_binary(Data) of
        Good when is_binary(Good) -> limit(Good, byte_size(Good), Max);
        _ -> limit(repair(Data, Max + 4, []), unknown, Max)
    end.

%% Converts what converts, replaces the first bad element, goes on. Each
%% round consumes at least one element, and stops once enough is kept.
repair(_Data, Budget, Acc) when Budget =< 0 ->
    iolist_to_binary(lists:reverse(Acc));
repair(Data, Budget, Acc) ->
    case unicode:characters_to_binary(Data) of
        Good when is_binary(Good) -> iolist_to_binary(lists:reverse([Good | Acc]));
        {incomplete, Good, _Rest} ->
            %% A character cut off at the end: one replacement for it.
            iolist_to_binary(lists:reverse([?REPLACEMENT, Good | Acc]));
        {error, Good, Rest} ->
            Acc1 = [?REPLACEMENT, Good | Acc],
            repair(drop_first(Rest), Budget - byte_size(Good) - 3, Acc1)
    end.

drop_first(<<_, Rest/binary>>) -> Rest;
drop_first(<<>>) -> [];
drop_first([H | T]) when is_list(H); is_binary(H) ->
    case drop_first(H) of
        [] -> T;
        <<>> -> T;
        H1 -> [H1 | T]
    end;
drop_first([_ | T]) -> T;
drop_first(_) -> [].

%% Cuts at a character boundary and says how long the whole was.
limit(Bin, _Size, Max) when byte_size(Bin) =< Max ->
    Bin;
limit(Bin, Size, Max) ->
    Marker = case Size of
                 unknown -> <<"...(truncated)">>;
                 _ -> <<"...(", (integer_to_binary(Size))/binary, " bytes)">>
             end,
    <<(cut(Bin, Max - byte_size(Marker)))/binary, Marker/binary>>.

%% The longest prefix of valid UTF-8 Bin of at most Max bytes.
cut(Bin, Max) when byte_size(Bin) =< Max -> Bin;
cut(_Bin, Max) when Max =< 0 -> <<>>;
cut(Bin, Max) ->
    case binary:at(Bin, Max) of
        C when C band 16#C0 =:= 16#80 -> cut(Bin, Max - 1);
        _ -> binary:part(Bin, 0, Max)
    end.

%%% Decoding (anywhere)

%% @doc A record map from what the ring or the spool holds.
-spec decode({non_neg_integer(), binary(), integer(), integer(), 0..7, binary()}) -> record().
decode({Seq, Boot, Wall, Mono, Level, Payload}) ->
    Base = #{seq => Seq, boot => Boot, time => Wall, mono => Mono, level => int_to_level(Level),
             pid => undefined, mfa => undefined, domain => [], application => undefined},
    decode_fields(Payload, Base).

decode_fields(<<0, Msg/binary>>, R) ->
    R#{msg => Msg, domain := lists:reverse(maps:get(domain, R))};
decode_fields(<<Tag, Len, Value:Len/binary, Rest/binary>>, R) ->
    decode_fields(Rest, field_value(Tag, Value, R));
decode_fields(Other, R) ->
    %% Not a payload this codec wrote: show the bytes rather than fail.
    R#{msg => to_utf8(Other, max(16, byte_size(Other))), domain := lists:reverse(maps:get(domain, R))}.

field_value(1, V, R) -> R#{pid := V};
field_value(2, V, R) -> R#{mfa := V};
field_value(3, V, #{domain := D} = R) -> R#{domain := [V | D]};
field_value(4, V, R) -> R#{application := V};
field_value(5, V, R) -> R#{file => V};
field_value(6, V, R) -> R#{line => V};
field_value(7, V, R) ->
    {K, Val} = case binary:split(V, <<"=">>) of
                   [K0, V0] -> {K0, V0};
                   [K0] -> {K0, <<>>}
               end,
    R#{meta => maps:put(K, Val, maps:get(meta, R, #{}))};
field_value(_, _, R) -> R.

%% @doc A logger level as a syslog severity: emergency is 0, debug 7.
-spec level_to_int(logger:level()) -> 0..7.
level_to_int(emergency) -> 0;
level_to_int(alert) -> 1;
level_to_int(critical) -> 2;
level_to_int(error) -> 3;
level_to_int(warning) -> 4;
level_to_int(notice) -> 5;
level_to_int(info) -> 6;
level_to_int(debug) -> 7.

%% @doc A syslog severity as a logger level.
-spec int_to_level(0..7) -> logger:level().
int_to_level(0) -> emergency;
int_to_level(1) -> alert;
int_to_level(2) -> critical;
int_to_level(3) -> error;
int_to_level(4) -> warning;
int_to_level(5) -> notice;
int_to_level(6) -> info;
int_to_level(7) -> debug.
