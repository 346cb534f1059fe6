%% @doc The kernel log as data: every /dev/kmsg record exactly once, to
%% subscribers and into OTP `logger', and the whole buffer on demand.
%%
%% A record is a map:
%% ```
%% #{seq := 1234, facility := kern, level := warning, ts_usec := 1234567,
%%   flags := <<"-">>, message := <<"usb 1-1: new device">>,
%%   caller => <<"T123">>, subsystem => <<"usb">>, device => <<"c189:1">>}
%% '''
%% `level' is the logger level of the kernel level (emergency..debug),
%% `facility' the util-linux name (kern, user, mail, ..., local7) or, for the
%% few numbers without one, the number. `ts_usec' is the kernel's monotonic
%% timestamp; `message' is the text with the kernel's `\xNN' escapes decoded
%% (raw bytes: usually, not always, UTF-8).
%%
%% Subscribers receive `{sysport_kmsg, record, Record}' and, when the kernel
%% ring overwrote records before they were read, `{sysport_kmsg, missed, N}'
%% with N the exact number lost (the gap in seq). The service contract
%% (options, calls, subscriptions, status) is {@link sysport_service}'s.
%%
%% Nothing twice: the service remembers the last seq it delivered and every
%% restarted helper resumes after it; across VM restarts it resumes from the
%% seq file (see {@link sysport_kmsg_resume}, one per data directory) when
%% the boot is the same.
-module(sysport_kmsg).
-behaviour(sysport_service).

-export([start_link/0, start_link/1, child_spec/1, stop/0, options/0,
         dmesg/0, dmesg/1, subscribe/0, subscribe/1, subscribe/2, unsubscribe/0, unsubscribe/1,
         status/0]).
-export([helper/1, init/2, handle_call/3, handle_info/2, terminate/2, status/1, filter/1]).

-export_type([record/0, facility/0, filter/0, dmesg_opts/0]).

-type facility() :: kern | user | mail | daemon | auth | syslog | lpr | news | uucp | cron
                  | authpriv | ftp | res0 | res1 | res2 | res3 | local0 | local1 | local2
                  | local3 | local4 | local5 | local6 | local7 | 24..255.
-type record() :: #{seq := non_neg_integer(), facility := facility(), level := logger:level(),
                    ts_usec := non_neg_integer(), flags := binary(), message := binary(),
                    caller => binary(), subsystem => binary(), device => binary()}.
-type filter() :: #{level => logger:level(), facility => facility() | [facility()]}.
%% `level': records at this level or more severe; `facility': only these.
-type dmesg_opts() :: #{since_seq => non_neg_integer(), level => logger:level(),
                        facility => facility() | [facility()], timeout => timeout()}.
%% `since_seq': records whose seq is at least this.
-define(LEVELS, [emergency, alert, critical, error, warning, notice, info, debug]).
-define(FACILITIES, [kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv,
                     ftp, res0, res1, res2, res3, local0, local1, local2, local3, local4,
                     local5, local6, local7]).

-record(st, {opts :: map(),
             port :: pid(),
             subs :: sysport_subs:subs(),
             info = #{} :: map(),
             resume :: sysport_kmsg_resume:handle() | undefined,
             resume_status :: term(),
             resumed_from :: non_neg_integer() | undefined,
             %% the last seq delivered; -1: none yet, and no resume point
             last_seq = -1 :: integer(),
             delivered = 0 :: non_neg_integer(),
             missed = 0 :: non_neg_integer(),
             rejected = 0 :: non_neg_integer(),
             out_of_order = 0 :: non_neg_integer(),
             forwarded = 0 :: non_neg_integer(),
             not_forwarded = 0 :: non_neg_integer(),
             logger_max :: 0..7 | none,
             %% records stamped before the helper started are the backlog:
             %% not subject to the burst limit
             backlog_before = 0 :: non_neg_integer(),
             window_start :: integer() | undefined,
             window_count = 0 :: non_neg_integer(),
             window_dropped = 0 :: non_neg_integer(),
             window_timer :: reference() | undefined}).

%%% API

%% @doc Starts the service with the app env options.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    start_link(#{}).

%% @doc Starts the service, registered as `sysport_kmsg'; Opts (a map or
%% proplist, see {@link options/0}) are merged over the app env `{kmsg,
%% Opts}' and the defaults.
-spec start_link(map() | list()) -> {ok, pid()} | {error, term()}.
start_link(Opts) ->
    sysport_service:start_link(?MODULE, Opts).

%% @doc A child spec that starts the service under your own supervisor.
-spec child_spec(map() | list()) -> supervisor:child_spec().
child_spec(Opts) ->
    sysport_service:child_spec(?MODULE, Opts).

%% @doc Stops the service; `ok' also when it is not running.
-spec stop() -> ok.
stop() ->
    sysport_service:stop(?MODULE).

%% @doc The options: name, default, type and doc of each.
-spec options() -> sysport_opts:schema().
options() ->
    [{device, "/dev/kmsg", path, <<"the kernel log; a regular file is read as a util-linux `dmesg -K' file">>},
     {seq_file, default, {any_of, [path, {enum, [default, none]}]},
      <<"where to resume after a VM restart in the same boot (default: kmsg.seq in data_dir), or none">>},
     {logger, true, boolean, <<"forward records to logger">>},
     {logger_level, info, level, <<"the least severe level forwarded">>},
     {logger_burst_limit, 1000, {any_of, [pos_integer, {enum, [infinity]}]},
      <<"records forwarded per window (the backlog found at start is exempt)">>},
     {logger_burst_window_ms, 1000, pos_integer, <<"the burst limit's window (ms)">>},
     {timeout, 30000, pos_integer, <<"bound of every call; dmesg's default timeout (ms)">>}].

%% @doc Every record in the kernel buffer now, oldest first.
-spec dmesg() -> {ok, [record()]} | {error, term()}.
dmesg() ->
    dmesg(#{}).

%% @doc The records that pass Opts (a map or proplist): `since_seq',
%% `level' (and more severe), `facility', and `timeout' (ms).
-spec dmesg(dmesg_opts() | list()) -> {ok, [record()]} | {error, term()}.
dmesg(Opts0) ->
    case sysport_opts:to_map(Opts0) of
        {ok, Opts} -> dmesg_map(Opts);
        error -> {error, badarg}
    end.

dmesg_map(Opts) ->
    case dmesg_request(Opts) of
        {ok, Request, Timeout} ->
            %% The helper's answer is decoded here, in the caller: the
            %% records are built once, not copied between processes.
            case call(port) of
                {ok, Port} ->
                    case sysport_port:call(Port, {dmesg, Request}, Timeout) of
                        {ok, Wire} when is_binary(Wire) -> {ok, from_wire(Wire)};
                        {error, _} = Error -> Error
                    end;
                {error, _} = Error -> Error
            end;
        {error, _} = Error ->
            Error
    end.

%% @doc Sends the caller `{sysport_kmsg, record, Record}' for every record
%% from now on, and `{sysport_kmsg, missed, N}' when records were lost.
-spec subscribe() -> ok | {error, term()}.
subscribe() ->
    sysport_service:subscribe(?MODULE).

%% @doc Subscribes Pid (on any node: through erpc, name your own pid), or
%% the caller for the records that pass Filter (`level', `facility'; a map
%% or proplist).
-spec subscribe(pid() | filter() | list()) -> ok | {error, term()}.
subscribe(PidOrFilter) ->
    sysport_service:subscribe(?MODULE, PidOrFilter).

%% @doc Subscribes Pid for the records that pass Filter.
-spec subscribe(pid(), filter() | list()) -> ok | {error, term()}.
subscribe(Pid, Filter) ->
    sysport_service:subscribe(?MODULE, Pid, Filter).

%% @doc Stops the caller's messages.
-spec unsubscribe() -> ok | {error, term()}.
unsubscribe() ->
    sysport_service:unsubscribe(?MODULE).

%% @doc Stops Pid's messages.
-spec unsubscribe(pid()) -> ok | {error, term()}.
unsubscribe(Pid) ->
    sysport_service:unsubscribe(?MODULE, Pid).

%% @doc The base keys of {@link sysport_service} and `device', `available'
%% (and `error' when not), `buffer_size' (the kernel ring's bytes),
%% `last_seq' (-1 before the first record), `seq_file', `resume' (fresh |
%% resumed | other_boot | corrupt | disabled | {error, Reason}) and
%% `resumed_after_seq'; under `counters': `delivered', `missed',
%% `rejected' (records that did not parse, or longer than the kernel's 8
%% KiB), `out_of_order' (records of a kmsg file whose seq was not above the
%% last delivered: not delivered), `forwarded' and `not_forwarded' (to
%% logger, over the burst limit).
-spec status() -> {ok, map()} | {error, term()}.
status() ->
    sysport_service:status(?MODULE).

call(Request) ->
    sysport_service:call(?MODULE, Request).

%%% sysport_service

%% @private
-spec helper(map()) -> {ok, string(), [iodata()]}.
helper(#{device := Device}) ->
    {ok, "sysport_kmsg", [["--device=", Device]]}.

%% @private
-spec init(map(), sysport_service:ctx()) -> {ok, #st{}}.
init(Opts, #{port := Port, subs := Subs}) ->
    {Resume, ResumeStatus, LastSeq} = open_resume(seq_file(Opts)),
    {ok, #st{opts = Opts, port = Port, subs = Subs, resume = Resume, resume_status = ResumeStatus,
             resumed_from = case LastSeq of -1 -> undefined; _ -> LastSeq end,
             last_seq = LastSeq,
             logger_max = case maps:get(logger, Opts) of
                              true -> level_number(maps:get(logger_level, Opts));
                              false -> none
                          end}}.

%% The seq file is per data directory: two VMs on one host (or two
%% releases) each resume from their own.
seq_file(#{seq_file := default}) -> filename:join(sysport_env:data_dir(), <<"kmsg.seq">>);
seq_file(#{seq_file := File}) -> File.

%% @private
-spec handle_call(term(), gen_server:from(), #st{}) -> {reply, term(), #st{}}.
handle_call(port, _From, St) ->
    {reply, {ok, St#st.port}, St};
handle_call(_Other, _From, St) ->
    {reply, {error, badarg}, St}.

%% @private
-spec handle_info(term(), #st{}) -> {noreply, #st{}}.
handle_info({sysport_port, Port, {event, {records, WallOffset, Wire}}}, #st{port = Port} = St) ->
    {noreply, deliver(from_wire(Wire), WallOffset, St)};
handle_info({sysport_port, Port, {event, {rejected, Reason, Excerpt}}}, #st{port = Port} = St) ->
    logger:warning("kmsg: rejected a record that does not parse (~p): ~0p", [Reason, Excerpt],
                   #{domain => [sysport, kmsg]}),
    {noreply, St#st{rejected = St#st.rejected + 1}};
handle_info({sysport_port, Port, {ready, Info}}, #st{port = Port} = St) ->
    %% A new helper: tell it where to resume. It reads nothing before this.
    case Info of
        #{available := true} ->
            ok = sysport_port:cast(Port, {follow, St#st.last_seq});
        _ ->
            logger:warning("kmsg: ~ts is not readable (~p); only status works",
                           [maps:get(device, Info, <<>>), maps:get(error, Info, unknown)],
                           #{domain => [sysport, kmsg]})
    end,
    {noreply, St#st{info = Info, backlog_before = maps:get(monotonic_usec, Info, 0)}};
handle_info(window_end, St) ->
    {noreply, end_window(St#st{window_timer = undefined})};
handle_info(_Msg, St) ->
    {noreply, St}.

%% @private
-spec terminate(term(), #st{}) -> ok.
terminate(_Reason, St) ->
    _ = end_window(St),
    close_resume(St#st.resume).

%%% Delivery

%% The helper sends a list of tuples as one external-term binary (see
%% ports/kmsg/kmsg_term.h): decoding numbers and binaries and building the maps
%% here is several times faster than decoding maps with atom keys.
from_wire(Wire) ->
    [record(T) || T <- binary_to_term(Wire)].

record({Seq, Facility, Level, Ts, Flags, Message}) ->
    #{seq => Seq, facility => facility_name(Facility), level => level_name(Level), ts_usec => Ts,
      flags => Flags, message => Message};
record({Seq, Facility, Level, Ts, Flags, Message, Caller, Subsystem, Device}) ->
    Record = record({Seq, Facility, Level, Ts, Flags, Message}),
    optional(caller, Caller, optional(subsystem, Subsystem, optional(device, Device, Record))).

optional(_Key, [], Record) -> Record;
optional(Key, Value, Record) -> Record#{Key => Value}.

%% The seq file is written before the records go out: a VM that dies in
%% between loses those records from logger rather than logging them twice.
deliver(Records0, WallOffset, #st{last_seq = Last} = St0) ->
    {Records, Behind} = in_order(Records0, Last),
    St = out_of_order(Behind, St0),
    case Records of
        [] ->
            St;
        _ ->
            #{seq := Newest} = lists:last(Records),
            St1 = save_seq(Newest, St),
            lists:foldl(fun(R, Acc) -> deliver_one(R, WallOffset, Acc) end, St1, Records)
    end.

%% Each record whose seq is above every seq delivered before it, in order;
%% and the records that are not. /dev/kmsg never goes back, but a kmsg file
%% can hold seqs out of order or repeated: those are never delivered (a
%% second time, or out of order), and the gaps counted as missed are only
%% the forward ones.
in_order(Records, Last) ->
    {Fresh, Behind, _} = lists:foldl(fun(#{seq := Seq} = R, {F, B, Max}) when Seq > Max -> {[R | F], B, Seq};
                                        (#{seq := Seq}, {F, B, Max}) -> {F, [Seq | B], Max}
                                     end, {[], [], Last}, Records),
    {lists:reverse(Fresh), lists:reverse(Behind)}.

out_of_order([], St) ->
    St;
out_of_order(Seqs, #st{out_of_order = N} = St) ->
    logger:warning("kmsg: ~b records out of order not delivered (seq ~w..., each not above "
                   "a seq delivered before it)", [length(Seqs), lists:sublist(Seqs, 5)],
                   #{domain => [sysport, kmsg]}),
    St#st{out_of_order = N + length(Seqs)}.

deliver_one(#{seq := Seq, level := Level} = Record, WallOffset, #st{last_seq = Last} = St) ->
    %% Without a resume point (the first start in this boot) the oldest
    %% record in the ring is where sysport starts: what the kernel dropped
    %% before was never sysport's to lose.
    St1 = case Seq - Last - 1 of
              Gap when Gap > 0, Last >= 0 -> missed(Gap, Last + 1, St);
              _ -> St
          end,
    notify(Record, Level, St1#st.subs),
    St2 = forward(Record, level_number(Level), WallOffset, St1),
    St2#st{last_seq = Seq, delivered = St2#st.delivered + 1}.

missed(N, FirstLost, St) ->
    logger:warning("kmsg: ~b kernel log records (seq ~b..~b) were overwritten in the kernel "
                   "ring before they could be read", [N, FirstLost, FirstLost + N - 1],
                   #{domain => [sysport, kmsg], kmsg_missed => N}),
    sysport_service:notify(St#st.subs, {?MODULE, missed, N}, fun(_) -> true end),
    St#st{missed = St#st.missed + N}.

notify(#{facility := Facility} = Record, Level, Subs) ->
    sysport_subs:count(Subs) > 0 andalso
        sysport_service:notify(Subs, {?MODULE, record, Record},
                               fun(Filter) -> matches(Filter, Level, Facility) end).

matches({MaxLevel, Facilities}, Level, Facility) ->
    level_number(Level) =< MaxLevel andalso
        (Facilities =:= all orelse lists:member(Facility, Facilities)).

%%% Logger

forward(_Record, Level, _WallOffset, #st{logger_max = Max} = St) when Max =:= none; Level > Max ->
    St;
forward(#{ts_usec := Ts} = Record, _Level, WallOffset, #st{backlog_before = Backlog} = St)
  when Ts < Backlog ->
    %% What the kernel logged before this helper started (at boot, or while
    %% the helper was down) is forwarded whole: it is not a flood.
    log(Record, WallOffset),
    St#st{forwarded = St#st.forwarded + 1};
forward(Record, _Level, WallOffset, St) ->
    case allow_burst(St) of
        {true, St1} ->
            log(Record, WallOffset),
            St1#st{forwarded = St1#st.forwarded + 1};
        {false, St1} ->
            St1#st{not_forwarded = St1#st.not_forwarded + 1}
    end.

%% The event's time is the kernel's timestamp moved to the wall clock with
%% the helper's CLOCK_REALTIME - CLOCK_MONOTONIC of the batch, as `dmesg -T'
%% does: when the record was logged, not when it was read.
log(#{level := Level, seq := Seq, facility := Facility, ts_usec := Ts, message := Message} = Record,
    WallOffset) ->
    Meta = #{domain => [kernel], kmsg_seq => Seq, kmsg_facility => Facility,
             kmsg_ts_usec => Ts, time => Ts + WallOffset},
    %% Formatters want characters: control bytes and bytes that are not
    %% UTF-8 are shown as \xNN, as dmesg shows them.
    logger:log(Level, sysport_kmsg_format:text(Message),
               case map_size(Record) of
                   6 -> Meta;
                   _ -> maps:merge(Meta, maps:with([subsystem, device], Record))
               end).

allow_burst(#st{opts = #{logger_burst_limit := infinity}} = St) ->
    {true, St};
allow_burst(#st{opts = #{logger_burst_limit := Limit, logger_burst_window_ms := Window}} = St0) ->
    Now = erlang:monotonic_time(millisecond),
    St = case St0#st.window_start of
             Start when is_integer(Start), Now - Start < Window -> St0;
             _ -> (end_window(St0))#st{window_start = Now, window_count = 0}
         end,
    case St#st.window_count < Limit of
        true ->
            {true, St#st{window_count = St#st.window_count + 1}};
        false when St#st.window_timer =:= undefined ->
            %% Report the drops when the window closes, even if the kernel
            %% goes quiet.
            TRef = erlang:send_after(max(0, St#st.window_start + Window - Now), self(), window_end),
            {false, St#st{window_dropped = 1, window_timer = TRef}};
        false ->
            {false, St#st{window_dropped = St#st.window_dropped + 1}}
    end.

end_window(#st{window_dropped = 0} = St) ->
    St;
end_window(#st{window_dropped = N, opts = Opts} = St) ->
    cancel(St#st.window_timer),
    logger:warning("kmsg: ~b kernel log records not forwarded to logger (burst limit: ~b per ~b ms)",
                   [N, maps:get(logger_burst_limit, Opts), maps:get(logger_burst_window_ms, Opts)],
                   #{domain => [sysport, kmsg]}),
    St#st{window_dropped = 0, window_timer = undefined}.

cancel(undefined) -> ok;
cancel(TRef) -> _ = erlang:cancel_timer(TRef), ok.

%%% The seq file

open_resume(none) ->
    {undefined, disabled, -1};
open_resume(Path) ->
    case sysport_kmsg_resume:open(Path) of
        {ok, Handle, none, Why} ->
            Why =:= fresh orelse
                logger:notice("kmsg: not resuming from ~ts (~p): reading the whole kernel buffer",
                              [Path, Why], #{domain => [sysport, kmsg]}),
            {Handle, Why, -1};
        {ok, Handle, Seq, resumed} ->
            {Handle, resumed, Seq};
        {error, Reason} ->
            logger:warning("kmsg: seq file ~ts unusable (~p): a VM restart will log the kernel "
                           "buffer again", [Path, Reason], #{domain => [sysport, kmsg]}),
            {undefined, {error, Reason}, -1}
    end.

save_seq(_Seq, #st{resume = undefined} = St) ->
    St;
save_seq(Seq, #st{resume = Resume} = St) ->
    case sysport_kmsg_resume:save(Resume, Seq) of
        ok ->
            St;
        {error, Reason} ->
            logger:warning("kmsg: cannot write the seq file (~p); no longer saving it",
                           [Reason], #{domain => [sysport, kmsg]}),
            close_resume(Resume),
            St#st{resume = undefined, resume_status = {error, Reason}}
    end.

close_resume(undefined) -> ok;
close_resume(Resume) -> sysport_kmsg_resume:close(Resume).

%%% Status

%% @private
-spec status(#st{}) -> map().
status(#st{opts = Opts, info = Info} = St) ->
    Base = #{device => unicode:characters_to_binary(maps:get(device, Opts)),
             available => maps:get(available, Info, false),
             last_seq => St#st.last_seq,
             counters => #{delivered => St#st.delivered, missed => St#st.missed,
                           rejected => St#st.rejected, out_of_order => St#st.out_of_order,
                           forwarded => St#st.forwarded,
                           not_forwarded => St#st.not_forwarded},
             seq_file => case seq_file(Opts) of
                             none -> none;
                             Path -> unicode:characters_to_binary(Path)
                         end,
             resume => St#st.resume_status},
    Extra = maps:with([error, buffer_size], Info),
    maps:merge(Base, case St#st.resumed_from of
                         undefined -> Extra;
                         Seq -> Extra#{resumed_after_seq => Seq}
                     end).

%%% Filters

%% @private
-spec filter(map()) -> {ok, {0..7, all | [facility()]}} | {error, term()}.
filter(Filter) ->
    compile_filter(Filter).

%% {MaxLevel, all | [Facility]}
compile_filter(Filter) ->
    try
        maps:fold(fun(level, L, {_, F}) -> {check_level(L), F};
                     (facility, F, {L, _}) -> {L, check_facilities(F)};
                     (Key, _, _) -> throw({bad_option, Key})
                  end, {7, all}, Filter)
    of
        Compiled -> {ok, Compiled}
    catch
        throw:Why -> {error, Why}
    end.

dmesg_request(Opts) ->
    {Timeout, Rest} = case maps:take(timeout, Opts) of
                          {T, R} -> {T, R};
                          error -> {sysport_service:timeout(?MODULE), Opts}
                      end,
    {Since, FilterOpts} = case maps:take(since_seq, Rest) of
                              {S, R2} -> {S, R2};
                              error -> {0, Rest}
                          end,
    if
        not (Timeout =:= infinity orelse (is_integer(Timeout) andalso Timeout >= 0)) ->
            {error, {bad_value, timeout, Timeout}};
        not (is_integer(Since) andalso Since >= 0) ->
            {error, {bad_value, since_seq, Since}};
        true ->
            case compile_filter(FilterOpts) of
                {ok, {MaxLevel, Facilities}} ->
                    Numbers = case Facilities of
                                  all -> all;
                                  _ -> list_to_binary([facility_number(F) || F <- Facilities])
                              end,
                    {ok, {Since, MaxLevel, Numbers}, Timeout};
                {error, _} = Error ->
                    Error
            end
    end.

check_level(L) ->
    case lists:member(L, ?LEVELS) of
        true -> level_number(L);
        false -> throw({bad_value, level, L})
    end.

check_facilities(F) when is_list(F), F =/= [] ->
    [check_facility(X) || X <- F];
check_facilities(F) ->
    [check_facility(F)].

%% Numbers with a name are turned into the name, as records carry it.
check_facility(F) when is_integer(F), F >= 0, F < length(?FACILITIES) -> lists:nth(F + 1, ?FACILITIES);
check_facility(F) when is_integer(F), F >= 0, F =< 255 -> F;
check_facility(F) when is_atom(F) ->
    case lists:member(F, ?FACILITIES) of
        true -> F;
        false -> throw({bad_value, facility, F})
    end;
check_facility(F) ->
    throw({bad_value, facility, F}).

facility_number(F) when is_integer(F) -> F;
facility_number(F) -> index(F, ?FACILITIES, 0).

facility_name(N) when N < 24 ->
    element(N + 1, {kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp,
                    res0, res1, res2, res3, local0, local1, local2, local3, local4, local5, local6,
                    local7});
facility_name(N) ->
    N.

level_name(N) ->
    element(N + 1, {emergency, alert, critical, error, warning, notice, info, debug}).

level_number(emergency) -> 0;
level_number(alert) -> 1;
level_number(critical) -> 2;
level_number(error) -> 3;
level_number(warning) -> 4;
level_number(notice) -> 5;
level_number(info) -> 6;
level_number(debug) -> 7.

index(X, [X | _], N) -> N;
index(X, [_ | T], N) -> index(X, T, N + 1).
