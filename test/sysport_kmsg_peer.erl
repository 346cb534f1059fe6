%% For sysport_kmsg_SUITE and the kmsg bench: writing records into the real
%% kernel log, and util-linux dmesg's view of it (`--json', `-r', plain),
%% read back into terms to compare with sysport's.
-module(sysport_kmsg_peer).

-export([cmd/1, devkmsg/0, set_devkmsg/1, inject/1, oldest_seq/0, default_level/0,
         util_json/0, util_raw/0, util_plain/0, render_raw/2, render_plain/1,
         align/3, align_text/2, parse_json/1, util_level/1]).

-define(DEVKMSG_SYSCTL, "/proc/sys/kernel/printk_devkmsg").

%%% /dev/kmsg

%% kernel.printk_devkmsg: on | off | ratelimit.
-spec devkmsg() -> binary().
devkmsg() ->
    {ok, V} = file:read_file(?DEVKMSG_SYSCTL),
    string:trim(V).

-spec set_devkmsg(binary() | string()) -> ok.
set_devkmsg(Value) ->
    %% The kernel refuses the value without its newline (EINVAL).
    ok = file:write_file(?DEVKMSG_SYSCTL, [Value, $\n]).

%% Writes each record with one write(2). A record should end in "\n": the
%% kernel keeps an unterminated one open for continuation, invisible to
%% readers until the next record. Other test runs on this host may put the
%% sysctl back to `ratelimit', which drops records silently: it is set to
%% `on' before every batch.
-spec inject([iodata()]) -> ok.
inject(Records) ->
    _ = devkmsg() =:= <<"on">> orelse set_devkmsg("on"),
    {ok, Fd} = file:open("/dev/kmsg", [write, raw, binary]),
    try
        lists:foreach(fun(R) -> ok = file:write(Fd, R) end, Records)
    after
        file:close(Fd)
    end.

%% The seq of the oldest record in the kernel ring now: a fresh reader of
%% /dev/kmsg starts there. (Erlang's file reads ask for less than a whole
%% record, which /dev/kmsg refuses; dd asks for 8 KiB in one read.)
-spec oldest_seq() -> non_neg_integer().
oldest_seq() ->
    Record = cmd("dd if=/dev/kmsg bs=8192 count=1 status=none"),
    [_Pri, Seq | _] = binary:split(Record, [<<",">>, <<";">>], [global]),
    binary_to_integer(Seq).

%% The level of a record written without <N>: default_message_loglevel.
-spec default_level() -> 0..7.
default_level() ->
    {ok, Printk} = file:read_file("/proc/sys/kernel/printk"),
    [_, Default | _] = string:lexemes(Printk, " \t\n"),
    binary_to_integer(Default).

%%% util-linux dmesg

%% `dmesg --json --decode' as [#{time_usec, msg, fac, pri}] (fac and pri are
%% util-linux's names, undefined when it leaves them out).
-spec util_json() -> [map()].
util_json() ->
    case parse_json(cmd("dmesg --json --decode")) of
        #{<<"dmesg">> := Records} ->
            [#{time_usec => json_time(T), msg => M,
               fac => maps:get(<<"fac">>, R, undefined), pri => maps:get(<<"pri">>, R, undefined)}
             || #{<<"time">> := T, <<"msg">> := M} = R <- Records]
    end.

json_time(Text) ->
    [Sec, Usec] = binary:split(string:trim(Text), <<".">>),
    binary_to_integer(Sec) * 1000000 + binary_to_integer(Usec).

-spec util_raw() -> binary().
util_raw() ->
    cmd("dmesg --raw --noescape").

%% Plain dmesg escapes what a UTF-8 terminal cannot print, like sysport's
%% shell output.
-spec util_plain() -> binary().
util_plain() ->
    cmd("env LC_ALL=C.UTF-8 dmesg --color=never").

%% A command's output as the bytes it wrote (os:cmd/1 decodes UTF-8).
-spec cmd(string()) -> binary().
cmd(Command) ->
    Port = open_port({spawn, Command}, [binary, stream, exit_status, use_stdio]),
    cmd_output(Port, []).

cmd_output(Port, Acc) ->
    receive
        {Port, {data, Bytes}} -> cmd_output(Port, [Bytes | Acc]);
        {Port, {exit_status, 0}} -> iolist_to_binary(lists:reverse(Acc));
        {Port, {exit_status, Status}} -> error({command_failed, Status})
    after 30000 ->
            error(command_timeout)
    end.

-spec util_level(binary()) -> logger:level().
util_level(<<"emerg">>) -> emergency;
util_level(<<"alert">>) -> alert;
util_level(<<"crit">>) -> critical;
util_level(<<"err">>) -> error;
util_level(<<"warn">>) -> warning;
util_level(<<"notice">>) -> notice;
util_level(<<"info">>) -> info;
util_level(<<"debug">>) -> debug.

%% What `dmesg --raw --noescape' prints for a record: `<PRI>[  s.us] text',
%% continuation lines indented under the text, an empty message as an empty
%% line. PriFun(FacilityNumber, LevelNumber) gives PRI, which util-linux
%% versions print differently.
-spec render_raw(sysport_kmsg:record(), fun((integer(), 0..7) -> integer())) -> binary().
render_raw(#{message := <<>>}, _PriFun) ->
    <<"\n">>;
render_raw(#{message := Message, ts_usec := Ts, facility := Facility, level := Level}, PriFun) ->
    Prefix = iolist_to_binary(["<", integer_to_list(PriFun(facility_number(Facility), level_number(Level))),
                               ">", sysport_kmsg_format:timestamp(Ts)]),
    Indent = binary:copy(<<" ">>, byte_size(Prefix)),
    iolist_to_binary([Prefix, indent(Message, Indent), "\n"]).

indent(<<$\n, Rest/binary>>, Indent) when Rest =/= <<>> -> [$\n, Indent | indent(Rest, Indent)];
indent(<<C, Rest/binary>>, Indent) -> [C | indent(Rest, Indent)];
indent(<<>>, _) -> [].

%% What plain dmesg prints: sysport's own shell format.
-spec render_plain(sysport_kmsg:record()) -> binary().
render_plain(Record) ->
    iolist_to_binary(sysport_kmsg_format:line(Record, #{})).

facility_number(F) when is_integer(F) -> F;
facility_number(F) ->
    Names = [kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp,
             res0, res1, res2, res3, local0, local1, local2, local3, local4, local5, local6, local7],
    length(lists:takewhile(fun(N) -> N =/= F end, Names)).

level_number(L) ->
    length(lists:takewhile(fun(N) -> N =/= L end,
                           [emergency, alert, critical, error, warning, notice, info, debug])).

%%% Comparing two snapshots of a log that others append to and the ring
%%% trims

%% Ours was taken first, theirs right after: theirs may have lost records
%% at the start and gained some at the end. Finds the first of ours that
%% theirs starts with, and checks that from there every record of ours
%% matches theirs, in order. Returns {Skipped, Compared} or {mismatch, ...}.
-spec align([A], [B], fun((A, B) -> boolean())) ->
          {non_neg_integer(), non_neg_integer()} | {mismatch, term()}.
align(Ours, [First | _] = Theirs, Same) ->
    case lists:splitwith(fun(O) -> not Same(O, First) end, Ours) of
        {_, []} ->
            {mismatch, {no_common_start, First}};
        {Skipped, Common} when length(Theirs) < length(Common) ->
            {mismatch, {theirs_shorter, length(Skipped), length(Common), length(Theirs)}};
        {Skipped, Common} ->
            Pairs = lists:zip(Common, lists:sublist(Theirs, length(Common))),
            case [P || {O, T} = P <- Pairs, not Same(O, T)] of
                [] -> {length(Skipped), length(Common)};
                [Bad | _] -> {mismatch, Bad}
            end
    end;
align(_Ours, [], _Same) ->
    {mismatch, theirs_empty}.

%% The same for text: the rendering of our records from some point on must
%% be where their output starts.
-spec align_text([binary()], binary()) -> {non_neg_integer(), non_neg_integer()} | {mismatch, term()}.
align_text(Rendered, Output) ->
    align_text(Rendered, Output, 0).

align_text([], Output, _Skipped) ->
    {mismatch, {output_starts, binary:part(Output, 0, min(200, byte_size(Output)))}};
align_text([_ | Rest] = Rendered, Output, Skipped) ->
    Expected = iolist_to_binary(Rendered),
    case binary:longest_common_prefix([Expected, Output]) =:= byte_size(Expected) of
        true -> {Skipped, length(Rendered)};
        false -> align_text(Rest, Output, Skipped + 1)
    end.

%%% A JSON reader for dmesg's output: strings stay bytes (util-linux writes
%%% the message's bytes as they are), numbers stay text.

-spec parse_json(binary()) -> term().
parse_json(Bin) ->
    {Value, Rest} = value(ws(Bin)),
    <<>> = ws(Rest),
    Value.

value(<<${, R/binary>>) -> object(ws(R), #{});
value(<<$[, R/binary>>) -> array(ws(R), []);
value(<<$", R/binary>>) -> string(R, []);
value(<<"true", R/binary>>) -> {true, R};
value(<<"false", R/binary>>) -> {false, R};
value(<<"null", R/binary>>) -> {null, R};
value(Bin) -> number(Bin, 0).

object(<<$}, R/binary>>, Map) ->
    {Map, R};
object(<<$", R/binary>>, Map) ->
    {Key, R1} = string(R, []),
    <<$:, R2/binary>> = ws(R1),
    {Value, R3} = value(ws(R2)),
    case ws(R3) of
        <<$,, R4/binary>> -> object(ws(R4), Map#{Key => Value});
        <<$}, R4/binary>> -> {Map#{Key => Value}, R4}
    end.

array(<<$], R/binary>>, Acc) ->
    {lists:reverse(Acc), R};
array(Bin, Acc) ->
    {Value, R} = value(Bin),
    case ws(R) of
        <<$,, R1/binary>> -> array(ws(R1), [Value | Acc]);
        <<$], R1/binary>> -> {lists:reverse([Value | Acc]), R1}
    end.

string(<<$", R/binary>>, Acc) -> {iolist_to_binary(lists:reverse(Acc)), R};
string(<<$\\, $u, Hex:4/binary, R/binary>>, Acc) ->
    string(R, [<<(binary_to_integer(Hex, 16))/utf8>> | Acc]);
string(<<$\\, C, R/binary>>, Acc) ->
    string(R, [unescape(C) | Acc]);
string(<<C, R/binary>>, Acc) ->
    string(R, [C | Acc]).

unescape($n) -> $\n;
unescape($t) -> $\t;
unescape($r) -> $\r;
unescape($b) -> $\b;
unescape($f) -> $\f;
unescape(C) -> C.  % \" \\ \/

number(Bin, N) ->
    case Bin of
        <<_:N/binary, C, _/binary>> when C >= $0, C =< $9; C =:= $.; C =:= $-; C =:= $+; C =:= $e; C =:= $E ->
            number(Bin, N + 1);
        _ when N > 0 ->
            <<Num:N/binary, R/binary>> = Bin,
            {Num, R}
    end.

ws(<<C, R/binary>>) when C =:= $\s; C =:= $\t; C =:= $\n; C =:= $\r -> ws(R);
ws(Bin) -> Bin.
