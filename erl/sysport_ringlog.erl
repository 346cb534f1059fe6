%% @doc The ring log: an OTP logger handler keeping every record in a
%% bounded in-memory ring for fast queries, and streaming it to a
%% preallocated, checksummed ring file (the sysport_spool helper) so the
%% last moments before a crash are there after the reboot.
%%
%% The handler's log/2 runs in the logging process: it renders the message
%% to UTF-8 (never the full formatted line: formatting happens when a human
%% asks), and sends it to this server, or waits for it (sync mode), or
%% drops and counts it (drop mode), as OTP's handlers do under overload
%% (see sysport_ringlog_olp). The server numbers records (per boot), keeps
%% them in the ring (sysport_ringlog_ring) and batches them to the helper
%% (sysport_ringlog_spool). Queries run in the caller
%% (sysport_ringlog_query).
%%
%% Records are maps (sysport_ringlog_codec:record()). Attached shells get
%% each new record printed; programs use next/0,1 or get/1.
%%
%% ```
%% logger:warning("link down"),
%% {ok, [#{level := warning, msg := <<"link down">>} | _]} = sysport_ringlog:grep("link down"),
%% {ok, Errors} = sysport_ringlog:get(#{boot => previous, level => error}).
%% '''
-module(sysport_ringlog).
-behaviour(gen_server).

-export([start_link/0, start_link/1, child_spec/1, tail/0, tail/1, next/0, next/1, grep/1, grep/2,
         get/1, boots/0, save/1, attach/0, attach/1, attach/2, detach/0, detach/1, status/0,
         config/1, sync/0]).
-export([log/2, adding_handler/1, removing_handler/1, changing_config/3]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(HANDLER, ?MODULE).
-define(INFO, sysport_ringlog_context).
-define(SYNC_TIMEOUT, 5000).
-define(DROP_REPORT_MS, 1000).
-define(PRINTER_MAX_QUEUE, 10000).

-define(DEFAULTS,
        #{handler => true, level => all, formatter => sysport_ringlog_text:default_formatter(),
          metadata => [], max_record_bytes => 65535,
          ring_bytes => 1 bsl 20, ring_records => 10000,
          ring_shares => #{error => 1, warning => 1, info => 1, debug => 1},
          spool => true, spool_file => default, spool_size => 4 bsl 20, block_size => 4096,
          sync_interval => 1000, sync_bytes => 256 * 1024, sync_level => error,
          sync_mode_qlen => 10, drop_mode_qlen => 200, flush_qlen => 1000,
          burst_limit_enable => true, burst_limit_max_count => 5000, burst_limit_window_time => 1000}).
%% The burst limit is ten times OTP's default: a ring log is there to keep
%% bursts, and the kernel's boot backlog (forwarded whole by sysport_kmsg)
%% arrives as one. The queue thresholds protect the VM from floods.
%% Options that config/1 may change while running.
-define(RUNTIME, [level, formatter, metadata, max_record_bytes, ring_bytes, ring_records, ring_shares,
                  sync_interval, sync_bytes, sync_level, sync_mode_qlen, drop_mode_qlen, flush_qlen,
                  burst_limit_enable, burst_limit_max_count, burst_limit_window_time]).

-type opts() :: #{atom() => term()}.
-export_type([opts/0]).

-record(st, {opts :: opts(),
             boot :: pos_integer(),
             seq = 0 :: non_neg_integer(),
             seq_ref :: atomics:atomics_ref(), % the boot's last seq, kept across restarts
             ring :: sysport_ringlog_ring:ring(),
             olp :: sysport_ringlog_olp:olp(),
             spool :: sysport_ringlog_spool:spool(),
             printers = #{} :: #{pid() => pid()}, % owner => printer
             subs = sysport_subs:new() :: sysport_subs:subs(),
             drop_timer :: reference() | undefined}).

%%% API

%% @doc Starts the service with the app env options (see {@link start_link/1}).
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    start_link(#{}).

%% @doc Starts the service; Opts are merged over the app env `ringlog'
%% options and the defaults.
-spec start_link(opts()) -> {ok, pid()} | {error, term()}.
start_link(Opts) when is_map(Opts) ->
    case options(maps:merge(sysport_env:service_opts(ringlog), Opts)) of
        {ok, Full} -> gen_server:start_link({local, ?MODULE}, ?MODULE, Full, []);
        Error -> Error
    end.

%% @doc A child spec that starts the service under your own supervisor.
-spec child_spec(opts()) -> supervisor:child_spec().
child_spec(Opts) ->
    #{id => ?MODULE, start => {?MODULE, start_link, [Opts]}, shutdown => 10000}.

%% @doc The last 20 records (continuing into the previous boot when this
%% one has fewer).
-spec tail() -> {ok, [sysport_ringlog_codec:record()]} | {error, term()}.
tail() -> tail(20).

%% @doc The last N records.
-spec tail(non_neg_integer()) -> {ok, [sysport_ringlog_codec:record()]} | {error, term()}.
tail(N) when is_integer(N), N >= 0 -> sysport_ringlog_query:tail(N);
tail(_) -> {error, badarg}.

%% @doc Records that arrived since this process last called next.
-spec next() -> {ok, [sysport_ringlog_codec:record()]} | {error, term()}.
next() -> next(infinity).

%% @doc At most N of the records that arrived since this process last called next.
-spec next(non_neg_integer() | infinity) -> {ok, [sysport_ringlog_codec:record()]} | {error, term()}.
next(N) when N =:= infinity; is_integer(N), N >= 0 -> sysport_ringlog_query:next(N);
next(_) -> {error, badarg}.

%% @doc Records of this boot whose message matches Pattern (see {@link grep/2}).
-spec grep(term()) -> {ok, [sysport_ringlog_codec:record()]} | {error, term()}.
grep(Pattern) -> grep(Pattern, #{}).

%% @doc See sysport_ringlog_query:grep/2.
-spec grep(term(), map()) -> {ok, [sysport_ringlog_codec:record()]} | {error, term()}.
grep(Pattern, Opts) -> sysport_ringlog_query:grep(Pattern, Opts).

%% @doc See sysport_ringlog_query:get/1.
-spec get(map()) -> {ok, [sysport_ringlog_codec:record()]} | {error, term()}.
get(Opts) -> sysport_ringlog_query:get(Opts).

%% @doc The boots the spool holds, then the current one, oldest first.
-spec boots() -> {ok, [map()]} | {error, term()}.
boots() -> sysport_ringlog_query:boots().

%% @doc Writes every record still available (all boots) to a text file.
-spec save(file:filename_all()) -> ok | {error, term()}.
save(Path) -> sysport_ringlog_query:save(Path).

%% @doc Prints each new record to the calling process's group leader (the
%% shell) until detach/0 or the caller exits. Option `level': the least
%% severe level printed (default debug).
-spec attach() -> ok | {error, term()}.
attach() -> attach(#{}).

%% @doc {@link attach/0} for records at `level' or more severe.
-spec attach(#{level => logger:level()}) -> ok | {error, term()}.
attach(Opts) -> attach(self(), Opts).

%% @doc attach/1 until Owner, which may be on another node, detaches or
%% exits. Records go to the caller's group leader: through erpc, that is
%% the calling node's (erpc gives the call the caller's group leader).
-spec attach(pid(), #{level => logger:level()}) -> ok | {error, term()}.
attach(Owner, Opts) when is_pid(Owner), is_map(Opts) ->
    Level = maps:get(level, Opts, debug),
    case maps:keys(maps:remove(level, Opts)) of
        [] ->
            try sysport_ringlog_codec:level_to_int(Level) of
                L -> call({attach, Owner, group_leader(), L})
            catch error:function_clause -> {error, {bad_option, level}}
            end;
        [K | _] -> {error, {bad_option, K}}
    end;
attach(_, _) -> {error, badarg}.

%% @doc Stops printing to the caller's group leader.
-spec detach() -> ok | {error, term()}.
detach() -> detach(self()).

%% @doc Stops printing for Owner.
-spec detach(pid()) -> ok | {error, term()}.
detach(Owner) when is_pid(Owner) -> call({detach, Owner});
detach(_) -> {error, badarg}.

%% @doc Ring, spool and overload counters, and the helper's stats.
-spec status() -> {ok, map()} | {error, term()}.
status() -> call(status).

%% @doc Writes and syncs everything logged so far; returns the last
%% synced sequence number.
-spec sync() -> {ok, non_neg_integer()} | {error, term()}.
sync() -> call(sync).

%% @doc Changes options while running (see ?RUNTIME); the spool's file,
%% size and block size are fixed until a restart.
-spec config(opts()) -> ok | {error, term()}.
config(Opts) when is_map(Opts) ->
    case [K || K <- maps:keys(Opts), not lists:member(K, ?RUNTIME)] of
        [] -> call({config, Opts});
        [K | _] ->
            {error, case maps:is_key(K, ?DEFAULTS) of true -> {not_changeable, K}; false -> {bad_option, K} end}
    end;
config(_) -> {error, badarg}.

call(Req) ->
    sysport_service:call(?MODULE, Req, 30000).

%%% Logger handler (log/2 runs in the logging process)

%% @private
-spec log(logger:log_event(), logger:handler_config()) -> ok.
log(#{level := Level} = Event, #{config := #{olp := Olp, server := Server, max := Max, extra := Extra,
                                            vm_start := Start}}) ->
    try sysport_ringlog_olp:caller_mode(Olp) of
        drop ->
            sysport_ringlog_olp:caller_dropped(Olp);
        Mode ->
            Wall = case Event of
                       #{meta := #{time := T}} when is_integer(T) -> T;
                       _ -> os:system_time(microsecond)
                   end,
            Msg = {'$ringlog', sysport_ringlog_codec:level_to_int(Level), Wall,
                   erlang:monotonic_time(microsecond) - Start, sysport_ringlog_codec:encode(Event, Max, Extra)},
            deliver(Mode, Server, Msg)
    catch _:_ ->
            %% OTP removes a handler whose log/2 raises: never.
            ok
    end;
log(_Event, _Config) ->
    ok.

%% Sync mode waits for the server, except in the processes the server
%% itself waits on (itself, its helper's owner): they would deadlock.
deliver(sync, Server, Msg) ->
    case lists:member(self(), ets:lookup_element(?INFO, no_sync, 2)) of
        true -> Server ! Msg;
        false -> try gen_server:call(Server, Msg, ?SYNC_TIMEOUT) catch exit:_ -> ok end
    end,
    ok;
deliver(async, Server, Msg) ->
    Server ! Msg,
    ok.

%% @private
-spec adding_handler(logger:handler_config()) -> {ok, logger:handler_config()} | {error, term()}.
adding_handler(#{config := #{olp := _, server := _, max := _, extra := _, vm_start := _}} = Config) ->
    {ok, Config};
adding_handler(_Config) ->
    {error, {sysport_ringlog, "added by the sysport_ringlog service, not by hand"}}.

%% @private
-spec removing_handler(logger:handler_config()) -> ok.
removing_handler(_Config) -> ok.

%% Level, formatter and filters may be changed through logger; the
%% handler's own config only through config/1.
%% @private
-spec changing_config(set | update, logger:handler_config(), logger:handler_config()) ->
          {ok, logger:handler_config()}.
changing_config(_SetOrUpdate, #{config := Internal}, New) ->
    {ok, New#{config => maps:merge(Internal, maps:with([max, extra], maps:get(config, New, #{})))}}.

%%% gen_server

%% @private
-spec init(opts()) -> {ok, #st{}} | {stop, term()}.
init(Opts) ->
    process_flag(trap_exit, true),
    process_flag(message_queue_data, off_heap),
    %% Fifty busy loggers would otherwise get fifty times this process's
    %% CPU: its queue would grow faster than its mode can tell them to
    %% wait, and overload would end in flushing everything. Its work per
    %% message is short and bounded.
    process_flag(priority, high),
    {Boot, SeqRef} = boot(),
    _ = ets:new(?INFO, [named_table, protected, set]),
    Spool = sysport_ringlog_spool:start(sysport_ringlog_spool:new(Opts, Boot)),
    Seq = max(atomics:get(SeqRef, 1), sysport_ringlog_spool:boot_last_seq(Spool)),
    St0 = #st{opts = Opts, boot = Boot, seq_ref = SeqRef, seq = Seq,
              ring = sysport_ringlog_ring:new(Opts), olp = sysport_ringlog_olp:new(Opts), spool = Spool},
    publish(St0),
    St = store_note(boot_note(St0), St0),
    case install_handler(St) of
        ok -> {ok, schedule_retry(St)};
        {error, Reason} -> {stop, {handler, Reason}}
    end.

%% @private
-spec handle_call(term(), gen_server:from(), #st{}) -> {reply, term(), #st{}}.
handle_call({'$ringlog', L, Wall, Mono, Payload}, _From, St) ->
    {reply, ok, load(L, Wall, Mono, Payload, St)};
handle_call(status, _From, St) ->
    {reply, {ok, status_map(St)}, St};
handle_call(sync, _From, #st{spool = Sp0} = St) ->
    Sp = sysport_ringlog_spool:flush(Sp0),
    Reply = case sysport_ringlog_spool:port(Sp) of
                undefined -> {error, spool_down};
                Port -> sysport_port:call(Port, sync, 10000)
            end,
    {reply, Reply, St#st{spool = Sp}};
handle_call({attach, Owner, GL, Level}, _From, St) ->
    {reply, ok, attach_printer(Owner, GL, Level, St)};
handle_call({detach, Owner}, _From, #st{printers = Ps} = St) ->
    case maps:take(Owner, Ps) of
        {Printer, Rest} ->
            Printer ! stop,
            {reply, ok, St#st{printers = Rest, subs = sysport_subs:remove(Printer, St#st.subs)}};
        error ->
            {reply, {error, not_attached}, St}
    end;
handle_call({config, Changes}, _From, St) ->
    case options(maps:merge(St#st.opts, Changes)) of
        {ok, Opts} -> {reply, ok, reconfigure(Opts, St)};
        Error -> {reply, Error, St}
    end;
handle_call(_Req, _From, St) ->
    {reply, {error, badarg}, St}.

%% @private
-spec handle_cast(term(), #st{}) -> {noreply, #st{}}.
handle_cast(_Msg, St) ->
    {noreply, St}.

%% @private
-spec handle_info(term(), #st{}) -> {noreply, #st{}}.
handle_info({'$ringlog', L, Wall, Mono, Payload}, St) ->
    {noreply, load(L, Wall, Mono, Payload, St)};
handle_info(spool_flush, St) ->
    {noreply, St#st{spool = sysport_ringlog_spool:flush(St#st.spool)}};
handle_info({sysport_port, _Port, Msg}, #st{spool = Sp0} = St) ->
    case sysport_ringlog_spool:handle(Msg, Sp0) of
        {ok, Sp} -> {noreply, St#st{spool = Sp}};
        {{resend, From}, Sp} -> {noreply, resend(From, St#st{spool = Sp})}
    end;
handle_info(drop_report, St) ->
    {noreply, report_drops(St#st{drop_timer = undefined})};
handle_info(spool_retry, #st{spool = Sp} = St) ->
    St1 = St#st{spool = sysport_ringlog_spool:start(Sp)},
    publish(St1),
    {noreply, schedule_retry(resend(sysport_ringlog_spool:synced_seq(St1#st.spool) + 1, St1))};
handle_info({'EXIT', Pid, _Reason}, #st{spool = Sp} = St) ->
    %% The helper's owner gave up (it never does on its own): start over.
    case sysport_ringlog_spool:port(Sp) of
        Pid ->
            St1 = St#st{spool = sysport_ringlog_spool:start(sysport_ringlog_spool:new(St#st.opts, St#st.boot))},
            publish(St1),
            {noreply, schedule_retry(resend(sysport_ringlog_spool:synced_seq(St1#st.spool) + 1, St1))};
        _ -> {noreply, St}
    end;
handle_info({'DOWN', _, process, Pid, _}, #st{printers = Ps} = St) ->
    {noreply, St#st{subs = sysport_subs:down(Pid, St#st.subs),
                    printers = maps:filter(fun(_, P) -> P =/= Pid end, Ps)}};
handle_info(_Msg, St) ->
    {noreply, St}.

%% @private
-spec terminate(term(), #st{}) -> ok.
terminate(_Reason, #st{spool = Sp0}) ->
    _ = logger:remove_handler(?HANDLER),
    Sp = sysport_ringlog_spool:flush(Sp0),
    case sysport_ringlog_spool:port(Sp) of
        undefined -> ok;
        Port ->
            _ = sysport_port:call(Port, sync, 5000),
            sysport_port:stop(Port)
    end.

%%% Records

load(L, Wall, Mono, Payload, #st{olp = Olp0} = St) ->
    {message_queue_len, QLen} = process_info(self(), message_queue_len),
    case sysport_ringlog_olp:check(QLen, Olp0) of
        {flush, Olp1} ->
            {_, Olp} = sysport_ringlog_olp:flush_mailbox(Olp1),
            drops_pending(store(L, Wall, Mono, Payload, St#st{olp = Olp}));
        {_Mode, Olp1} ->
            case sysport_ringlog_olp:burst(L, erlang:monotonic_time(millisecond), Olp1) of
                {true, Olp} -> store(L, Wall, Mono, Payload, St#st{olp = Olp});
                {false, Olp} -> drops_pending(St#st{olp = Olp})
            end
    end.

store(L, Wall, Mono, Payload, #st{seq = Seq0} = St) ->
    Seq = Seq0 + 1,
    Ring = sysport_ringlog_ring:insert(St#st.ring, Seq, L, Wall, Mono, Payload),
    Spool = sysport_ringlog_spool:add(Seq, L, Wall, Mono, Payload, St#st.spool),
    notify(Seq, {Seq, L, Wall, Mono, Payload}, St#st.subs),
    atomics:put(St#st.seq_ref, 1, Seq),
    St#st{seq = Seq, ring = Ring, spool = Spool}.

notify(Seq, Entry, Subs) ->
    case sysport_subs:count(Subs) of
        0 -> ok;
        _ ->
            L = element(2, Entry),
            sysport_subs:fold(fun(P, Min, ok) when L =< Min ->
                                      %% A printer that cannot keep up misses records
                                      %% rather than grow without bound.
                                      case Seq band 255 =/= 0 orelse queue_ok(P) of
                                          true -> P ! {sysport_ringlog, Entry}, ok;
                                          false -> ok
                                      end;
                                 (_, _, ok) -> ok
                              end, ok, Subs)
    end.

queue_ok(P) ->
    case process_info(P, message_queue_len) of
        {message_queue_len, N} -> N < ?PRINTER_MAX_QUEUE;
        undefined -> false
    end.

%% A record the server makes itself (boot boundary, drop report).
store_note({Level, Format, Args}, St) ->
    Event = #{level => Level, msg => {Format, Args},
              meta => #{pid => self(), mfa => {?MODULE, store_note, 2}, domain => [sysport, ringlog]}},
    store(sysport_ringlog_codec:level_to_int(Level), os:system_time(microsecond),
          erlang:monotonic_time(microsecond) - vm_start(), sysport_ringlog_codec:encode(Event, max_payload(St#st.opts), []),
          St).

%% Monotonic times are kept as microseconds since the VM started.
vm_start() ->
    erlang:convert_time_unit(erlang:system_info(start_time), native, microsecond).

boot_note(#st{boot = Boot, spool = Sp}) ->
    #{file := File, error := Error, recovery := Rec} = sysport_ringlog_spool:status(Sp),
    Damage = maps:get(discarded_bytes, Rec, 0) + maps:get(short_bytes, Rec, 0) +
        maps:get(lost_blocks, Rec, 0) + maps:get(bad_headers, Rec, 0),
    Spool = case sysport_ringlog_spool:port(Sp) of
                undefined -> io_lib:format("spool ~ts not written (~0tp)", [File, Error]);
                _ -> io_lib:format("spool ~ts: recovered ~b records, discarded ~b bytes, ~b bad headers, "
                                   "~b lost blocks, ~b bytes missing",
                                   [File, maps:get(recovered, Rec), maps:get(discarded_bytes, Rec),
                                    maps:get(bad_headers, Rec), maps:get(lost_blocks, Rec),
                                    maps:get(short_bytes, Rec)])
            end,
    {case Damage of 0 -> notice; _ -> warning end, "ringlog: boot ~s on ~s (OTP ~s); ~ts",
     [sysport_ringlog_query:hex(Boot), node(), erlang:system_info(otp_release), Spool]}.

drops_pending(#st{drop_timer = undefined} = St) ->
    St#st{drop_timer = erlang:send_after(?DROP_REPORT_MS, self(), drop_report)};
drops_pending(St) ->
    St.

report_drops(#st{olp = Olp} = St) ->
    case sysport_ringlog_olp:unreported(Olp) of
        0 -> St;
        N ->
            #{overload := O, flushed := F, burst := B} = sysport_ringlog_olp:counts(Olp),
            store_note({warning, "ringlog: dropped ~b records (~b at overload, ~b flushed, ~b over the "
                        "burst limit since start)", [N, O, F, B]},
                       St#st{olp = sysport_ringlog_olp:reported(Olp)})
    end.

%% The helper is back: what the file lacks is sent again from the ring.
resend(From, #st{spool = Sp0} = St) ->
    Sp = lists:foldl(fun({Seq, L, Wall, Mono, Payload}, Acc) ->
                             sysport_ringlog_spool:add(Seq, L, Wall, Mono, Payload, Acc)
                     end, Sp0, sysport_ringlog_ring:from(From, 16#7ffffff, 7)),
    St#st{spool = sysport_ringlog_spool:flush(Sp)}.

schedule_retry(#st{spool = Sp} = St) ->
    case sysport_ringlog_spool:retry(Sp) of
        {Sp1, undefined} -> St#st{spool = Sp1};
        {Sp1, Ms} -> erlang:send_after(Ms, self(), spool_retry), St#st{spool = Sp1}
    end.

attach_printer(Owner, GL, Level, #st{printers = Ps} = St) ->
    case Ps of
        #{Owner := P} -> St#st{subs = sysport_subs:add(P, Level, St#st.subs)};
        _ ->
            Hex = sysport_ringlog_query:hex(St#st.boot),
            F = maps:get(formatter, St#st.opts),
            P = spawn_link(sysport_ringlog_text, printer, [Owner, GL, Hex, F]),
            St#st{printers = Ps#{Owner => P}, subs = sysport_subs:add(P, Level, St#st.subs)}
    end.

%%% Options, handler, status

reconfigure(Opts, #st{} = St) ->
    Spool = case maps:with([sync_interval, sync_bytes, sync_level], Opts) =:=
                 maps:with([sync_interval, sync_bytes, sync_level], St#st.opts) of
                true -> St#st.spool;
                false -> sysport_ringlog_spool:set_sync(Opts, St#st.spool)
            end,
    St1 = St#st{opts = Opts, ring = sysport_ringlog_ring:configure(St#st.ring, Opts),
                olp = sysport_ringlog_olp:configure(St#st.olp, Opts), spool = Spool},
    publish(St1),
    _ = case maps:get(handler, Opts) of
            true ->
                logger:update_handler_config(?HANDLER, #{level => maps:get(level, Opts),
                                                         formatter => maps:get(formatter, Opts),
                                                         config => handler_config(St1)});
            false -> ok
        end,
    St1.

install_handler(#st{opts = #{handler := false}}) ->
    ok;
install_handler(#st{opts = Opts} = St) ->
    _ = logger:remove_handler(?HANDLER),
    logger:add_handler(?HANDLER, ?MODULE, #{level => maps:get(level, Opts),
                                            formatter => maps:get(formatter, Opts),
                                            config => handler_config(St)}).

handler_config(#st{opts = Opts, olp = Olp}) ->
    #{olp => sysport_ringlog_olp:refs(Olp), server => self(), max => max_payload(Opts),
      extra => maps:get(metadata, Opts), vm_start => vm_start()}.

%% What queries and the handler read without asking the server.
publish(#st{boot = Boot, opts = Opts, spool = Sp}) ->
    Port = sysport_ringlog_spool:port(Sp),
    true = ets:insert(?INFO, [{boot, {Boot, sysport_ringlog_query:hex(Boot)}}, {port, Port},
                              {formatter, maps:get(formatter, Opts)},
                              {no_sync, [self() | [Port || is_pid(Port)]]}]).

%% A record's payload never exceeds what a spool block holds.
max_payload(#{block_size := Bs, max_record_bytes := Max}) ->
    min(Max, min(65535, (Bs - 32 - 44) band (bnot 3))).

status_map(#st{} = St) ->
    Sp = St#st.spool,
    Helper = case sysport_ringlog_spool:port(Sp) of
                 undefined -> undefined;
                 Port -> sysport_port:stats(Port)
             end,
    #{helper => Helper, boot => sysport_ringlog_query:hex(St#st.boot), seq => St#st.seq,
      ring => sysport_ringlog_ring:stats(St#st.ring), dropped => sysport_ringlog_olp:counts(St#st.olp),
      spool => sysport_ringlog_spool:status(Sp), synced_seq => sysport_ringlog_spool:synced_seq(Sp),
      handler => maps:get(handler, St#st.opts), attached => maps:size(St#st.printers)}.

%% One id per VM run: stable across restarts of this service, new after a
%% VM restart or a reboot; and the boot's last sequence number, so that a
%% restarted service goes on numbering where the last one stopped even
%% when the spool could not tell it.
boot() ->
    Key = {?MODULE, boot_id},
    case persistent_term:get(Key, undefined) of
        undefined ->
            Boot = {rand:uniform(1 bsl 64 - 1), atomics:new(1, [{signed, false}])},
            persistent_term:put(Key, Boot),
            Boot;
        Boot -> Boot
    end.

options(Opts) ->
    case [K || K <- maps:keys(Opts), not maps:is_key(K, ?DEFAULTS)] of
        [K | _] -> {error, {bad_option, K}};
        [] ->
            Full0 = maps:merge(?DEFAULTS, Opts),
            Full = case Full0 of
                       #{spool_file := default} ->
                           Full0#{spool_file => filename:join(sysport_env:data_dir(), "ringlog.spool")};
                       _ -> Full0
                   end,
            case [K || {K, V} <- maps:to_list(Full), not valid(K, V)] of
                [] -> olp_levels(Full);
                [K | _] -> {error, {bad_value, K, maps:get(K, Full)}}
            end
    end.

%% As logger_olp requires: sync =< drop =< flush.
olp_levels(#{sync_mode_qlen := S, drop_mode_qlen := D, flush_qlen := F} = Opts) when S =< D, D =< F ->
    {ok, Opts};
olp_levels(#{sync_mode_qlen := S, drop_mode_qlen := D, flush_qlen := F}) ->
    {error, {bad_value, olp_levels, #{sync_mode_qlen => S, drop_mode_qlen => D, flush_qlen => F}}}.

valid(handler, V) -> is_boolean(V);
valid(level, V) -> lists:member(V, [all, none, emergency, alert, critical, error, warning, notice, info, debug]);
valid(formatter, {M, C}) -> is_atom(M) andalso is_map(C);
valid(metadata, V) -> is_list(V) andalso lists:all(fun is_atom/1, V);
valid(max_record_bytes, V) -> is_integer(V) andalso V >= 64;
valid(ring_bytes, V) -> is_integer(V) andalso V >= 4096;
valid(ring_records, V) -> is_integer(V) andalso V >= 10;
valid(ring_shares, V) ->
    is_map(V) andalso maps:size(V) > 0 andalso
        lists:all(fun({K, S}) -> lists:member(K, [error, warning, info, debug]) andalso is_number(S) andalso S >= 0 end,
                  maps:to_list(V)) andalso lists:sum(maps:values(V)) > 0;
valid(spool, V) -> is_boolean(V);
valid(spool_file, V) -> is_list(V) orelse is_binary(V);
valid(spool_size, V) -> is_integer(V) andalso V >= 16384;
valid(block_size, V) -> lists:member(V, [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]);
valid(sync_interval, V) -> is_integer(V) andalso V >= 0 andalso V =< 3600000;
valid(sync_bytes, V) -> is_integer(V) andalso V > 0;
valid(sync_level, V) -> lists:member(V, [emergency, alert, critical, error, warning, notice, info, debug]);
valid(burst_limit_enable, V) -> is_boolean(V);
valid(sync_mode_qlen, V) -> is_integer(V) andalso V >= 0;
valid(_Olp, V) -> is_integer(V) andalso V > 0.
