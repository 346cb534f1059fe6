%% @doc The ring log: an OTP logger handler keeping every record in a
%% bounded in-memory ring for fast queries, and streaming it to a
%% preallocated, checksummed ring file (the sysport_ringlog helper) so the
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
%% Records are maps (sysport_ringlog_codec:record()). Subscribers get
%% `{sysport_ringlog, record, Record}' for each new record (filter: `level',
%% that and more severe); attached shells get each one printed (attach/0
%% subscribes a printer); programs also use next/0,1 or get/1. The service
%% contract (options, calls, subscriptions, status) is
%% {@link sysport_service}'s; the spool helper is the ring log's own, so
%% that the ring works without it.
%%
%% ```
%% logger:warning("link down"),
%% {ok, [#{level := warning, msg := <<"link down">>} | _]} = sysport_ringlog:grep("link down"),
%% {ok, Errors} = sysport_ringlog:get(#{boot => previous, level => error}).
%% '''
-module(sysport_ringlog).
-behaviour(sysport_service).

-export([start_link/0, start_link/1, child_spec/1, stop/0, options/0, tail/0, tail/1, next/0, next/1,
         grep/1, grep/2, get/1, boots/0, save/1, attach/0, attach/1, attach/2, detach/0, detach/1,
         subscribe/0, subscribe/1, subscribe/2, unsubscribe/0, unsubscribe/1, status/0,
         config/1, sync/0]).
-export([log/2, adding_handler/1, removing_handler/1, changing_config/3]).
-export([init/2, handle_call/3, handle_info/2, terminate/2, status/1, filter/1, check/1]).

-define(HANDLER, ?MODULE).
-define(INFO, sysport_ringlog_context).
-define(SYNC_TIMEOUT, 5000).
-define(DROP_REPORT_MS, 1000).
-define(PRINTER_MAX_QUEUE, 10000).

-define(LEVELS, [emergency, alert, critical, error, warning, notice, info, debug]).
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
             subs :: sysport_subs:subs(),
             boot :: pos_integer(),
             seq = 0 :: non_neg_integer(),
             first_seq :: pos_integer(), % this run's first record
             seq_ref :: atomics:atomics_ref(), % the boot's last seq, kept across restarts
             ring :: sysport_ringlog_ring:ring(),
             olp :: sysport_ringlog_olp:olp(),
             spool :: sysport_ringlog_spool:spool(),
             %% sync/0 callers waiting for the spool helper to open the file
             sync_waiting = [] :: [gen_server:from()],
             drop_timer :: reference() | undefined}).

%%% API

%% @doc Starts the service with the app env options.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    start_link(#{}).

%% @doc Starts the service; Opts (a map or proplist, see {@link options/0})
%% are merged over the app env `{ringlog, Opts}' and the defaults.
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

%% @doc The options: name, default, type and doc of each. `config/1'
%% changes all but `handler' and the spool's while running.
-spec options() -> sysport_opts:schema().
options() ->
    Int = fun(Min) -> {int, Min, infinity} end,
    [{handler, true, boolean, <<"install the logger handler (false: the spool is still readable)">>},
     {level, all, {enum, [all, none | ?LEVELS]}, <<"the handler's level">>},
     {formatter, sysport_ringlog_text:default_formatter(), {check, fun formatter/1},
      <<"{Module, Config}: how records are shown">>},
     {metadata, [], {list, atom}, <<"extra metadata keys to keep">>},
     {max_record_bytes, 65535, Int(64), <<"the longest message kept (at most what a spool block holds)">>},
     {ring_bytes, 1 bsl 20, Int(4096), <<"the ring's size in bytes">>},
     {ring_records, 10000, Int(10), <<"the ring's size in records">>},
     {ring_shares, #{error => 1, warning => 1, info => 1, debug => 1}, {check, fun shares/1},
      <<"the ring's share per level class (error, warning, notice/info, debug)">>},
     {spool, true, boolean, <<"stream records to the spool file">>},
     {spool_file, default, {any_of, [path, {enum, [default]}]}, <<"the spool (default ringlog.spool in data_dir)">>},
     {spool_size, 4 bsl 20, Int(16384), <<"the spool file's size in bytes">>},
     {block_size, 4096, {enum, [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]}, <<"the spool's block size">>},
     {sync_interval, 1000, {int, 0, 3600000}, <<"the spool is synced at least this often (ms)">>},
     {sync_bytes, 256 * 1024, pos_integer, <<"... and after this many bytes">>},
     {sync_level, error, level, <<"... and at once for records this severe">>},
     {sync_mode_qlen, 10, non_neg_integer, <<"OTP's overload protection: loggers wait from this queue length">>},
     {drop_mode_qlen, 200, pos_integer, <<"... records are dropped from this one">>},
     {flush_qlen, 1000, pos_integer, <<"... the queue is flushed at this one">>},
     {burst_limit_enable, true, boolean, <<"limit bursts (error and worse never are)">>},
     {burst_limit_max_count, 5000, pos_integer, <<"records per burst window (ten times OTP's: the kernel's boot backlog)">>},
     {burst_limit_window_time, 1000, pos_integer, <<"the burst window (ms)">>},
     {timeout, 30000, pos_integer, <<"bound of every call (ms)">>}].

formatter({M, C}) -> is_atom(M) andalso is_map(C);
formatter(_) -> false.

shares(V) ->
    is_map(V) andalso maps:size(V) > 0 andalso
        lists:all(fun({K, S}) -> lists:member(K, [error, warning, info, debug]) andalso is_number(S) andalso S >= 0 end,
                  maps:to_list(V)) andalso lists:sum(maps:values(V)) > 0.

%% @private
%% As logger_olp requires: sync =< drop =< flush.
-spec check(map()) -> ok | {error, #{atom() => term()}}.
check(#{sync_mode_qlen := S, drop_mode_qlen := D, flush_qlen := F}) when S =< D, D =< F ->
    ok;
check(Opts) ->
    {error, maps:with([sync_mode_qlen, drop_mode_qlen, flush_qlen], Opts)}.

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

%% @doc See sysport_ringlog_query:grep/2; Opts a map or a proplist.
-spec grep(term(), map() | list()) -> {ok, [sysport_ringlog_codec:record()]} | {error, term()}.
grep(Pattern, Opts) -> with_opts(Opts, fun(Map) -> sysport_ringlog_query:grep(Pattern, Map) end).

%% @doc See sysport_ringlog_query:get/1; Opts a map or a proplist.
-spec get(map() | list()) -> {ok, [sysport_ringlog_codec:record()]} | {error, term()}.
get(Opts) -> with_opts(Opts, fun sysport_ringlog_query:get/1).

with_opts(Opts, Fun) ->
    case sysport_opts:to_map(Opts) of
        {ok, Map} -> Fun(Map);
        error -> {error, badarg}
    end.

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

%% @doc {@link attach/0} for records at `level' or more severe (a map or proplist).
-spec attach(#{level => logger:level()} | list()) -> ok | {error, term()}.
attach(Opts) -> attach(self(), Opts).

%% @doc attach/1 until Owner, which may be on another node, detaches or
%% exits. Records go to the caller's group leader: through erpc, that is
%% the calling node's (erpc gives the call the caller's group leader). The
%% printer is a subscriber: it survives a restart of the service.
-spec attach(pid(), #{level => logger:level()} | list()) -> ok | {error, term()}.
attach(Owner, Opts) when is_pid(Owner) ->
    Filter = case sysport_opts:to_map(Opts) of
                 {ok, Map} -> maps:merge(#{level => debug}, Map#{printer_for => Owner});
                 error -> Opts
             end,
    case {filter(Filter), sysport_ringlog_query:context()} of
        {{ok, _}, {ok, #{formatter := F, subs := Subs}}} ->
            Printer = case printer(Owner, Subs) of
                          {ok, P} -> P;
                          error -> spawn(sysport_ringlog_text, printer, [Owner, group_leader(), F])
                      end,
            case sysport_service:subscribe(?MODULE, Printer, Filter) of
                ok -> ok;
                Error -> Printer ! stop, Error
            end;
        {{ok, _}, _} -> {error, not_running};
        {Error, _} -> Error
    end;
attach(_, _) -> {error, badarg}.

%% @doc Stops printing to the caller's group leader.
-spec detach() -> ok | {error, term()}.
detach() -> detach(self()).

%% @doc Stops printing for Owner.
-spec detach(pid()) -> ok | {error, term()}.
detach(Owner) when is_pid(Owner) ->
    case sysport_ringlog_query:context() of
        {ok, #{subs := Subs}} ->
            case printer(Owner, Subs) of
                {ok, P} ->
                    Result = sysport_service:unsubscribe(?MODULE, P),
                    P ! stop,
                    Result;
                error ->
                    {error, not_attached}
            end;
        Error -> Error
    end;
detach(_) -> {error, badarg}.

printer(Owner, Subs) ->
    sysport_subs:fold(fun(P, {_, O}, error) when O =:= Owner -> {ok, P};
                         (_, _, Acc) -> Acc
                      end, error, Subs).

%% @doc Sends the caller `{sysport_ringlog, record, Record}' for every new record.
-spec subscribe() -> ok | {error, term()}.
subscribe() -> sysport_service:subscribe(?MODULE).

%% @doc Subscribes Pid (on any node: through erpc, name your own pid), or
%% the caller for records at `level' or more severe (a map or proplist).
-spec subscribe(pid() | map() | list()) -> ok | {error, term()}.
subscribe(PidOrFilter) -> sysport_service:subscribe(?MODULE, PidOrFilter).

%% @doc Subscribes Pid with a filter.
-spec subscribe(pid(), map() | list()) -> ok | {error, term()}.
subscribe(Pid, Filter) -> sysport_service:subscribe(?MODULE, Pid, Filter).

%% @doc Stops the caller's messages.
-spec unsubscribe() -> ok | {error, term()}.
unsubscribe() -> sysport_service:unsubscribe(?MODULE).

%% @doc Stops Pid's messages.
-spec unsubscribe(pid()) -> ok | {error, term()}.
unsubscribe(Pid) -> sysport_service:unsubscribe(?MODULE, Pid).

%% @private
%% {MaxLevel, PrinterOwner | none}; `printer_for' is attach's.
-spec filter(term()) -> {ok, {0..7, pid() | none}} | {error, term()}.
filter(Filter) ->
    case sysport_opts:to_map(Filter) of
        {ok, Map} ->
            Level = maps:get(level, Map, debug),
            Owner = maps:get(printer_for, Map, none),
            case maps:keys(maps:without([level, printer_for], Map)) of
                [] ->
                    case lists:member(Level, ?LEVELS) of
                        true -> {ok, {sysport_ringlog_codec:level_to_int(Level), Owner}};
                        false -> {error, {bad_option, level}}
                    end;
                [K | _] -> {error, {bad_option, K}}
            end;
        error -> {error, badarg}
    end.

%% @doc The base keys of {@link sysport_service} and `boot', `last_seq',
%% `ring', `spool', `synced_seq', `handler', `attached'; the drop counts
%% (`overload', `flushed', `burst'...) under `counters'.
-spec status() -> {ok, map()} | {error, term()}.
status() -> sysport_service:status(?MODULE).

%% @doc Writes and syncs everything logged so far; returns the last
%% synced sequence number.
-spec sync() -> {ok, non_neg_integer()} | {error, term()}.
sync() -> call(sync).

%% @doc Changes options while running (a map or proplist); the spool's
%% file, size and block size and `handler' are fixed until a restart.
-spec config(opts() | list()) -> ok | {error, term()}.
config(Opts0) ->
    case sysport_opts:to_map(Opts0) of
        {ok, Opts} ->
            case [K || K <- maps:keys(Opts), not lists:member(K, ?RUNTIME)] of
                [] -> call({config, Opts});
                [K | _] ->
                    {error, case lists:keymember(K, 1, options()) of
                                true -> {not_changeable, K};
                                false -> {invalid_option, ringlog, maps:with([K], Opts)}
                            end}
            end;
        error -> {error, badarg}
    end.

call(Req) ->
    sysport_service:call(?MODULE, Req).

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

%%% sysport_service

%% @private
-spec init(opts(), sysport_service:ctx()) -> {ok, #st{}} | {stop, term()}.
init(Opts0, #{subs := Subs}) ->
    process_flag(message_queue_data, off_heap),
    %% Fifty busy loggers would otherwise get fifty times this process's
    %% CPU: its queue would grow faster than its mode can tell them to
    %% wait, and overload would end in flushing everything. Its work per
    %% message is short and bounded.
    process_flag(priority, high),
    Opts = case Opts0 of
               #{spool_file := default} -> Opts0#{spool_file => filename:join(sysport_env:data_dir(), "ringlog.spool")};
               _ -> Opts0
           end,
    {Boot, SeqRef} = boot(),
    _ = ets:new(?INFO, [named_table, protected, set]),
    Seq = atomics:get(SeqRef, 1),
    Spool = sysport_ringlog_spool:start(sysport_ringlog_spool:new(Opts, Boot, Seq + 1)),
    St0 = #st{opts = Opts, subs = Subs, boot = Boot, seq_ref = SeqRef, seq = Seq, first_seq = Seq + 1,
              ring = sysport_ringlog_ring:new(Opts), olp = sysport_ringlog_olp:new(Opts), spool = Spool},
    publish(St0),
    St = store_note(boot_note(St0), St0),
    case install_handler(St) of
        ok -> {ok, schedule_retry(St)};
        {error, Reason} -> {stop, {handler, Reason}}
    end.

%% @private
-spec handle_call(term(), gen_server:from(), #st{}) -> {reply, term(), #st{}} | {noreply, #st{}}.
handle_call({'$ringlog', L, Wall, Mono, Payload}, _From, St) ->
    {reply, ok, load(L, Wall, Mono, Payload, St)};
handle_call(sync, From, #st{spool = Sp0} = St) ->
    Sp = sysport_ringlog_spool:flush(Sp0),
    case sysport_ringlog_spool:available(Sp) of
        down -> {reply, {error, spool_down}, St#st{spool = Sp}};
        opening -> {noreply, St#st{spool = Sp, sync_waiting = [From | St#st.sync_waiting]}};
        up -> {noreply, request_sync(From, St#st{spool = Sp})}
    end;
handle_call({config, Changes}, _From, St) ->
    case sysport_opts:check(ringlog, sysport_service:options(?MODULE), maps:merge(St#st.opts, Changes)) of
        {ok, Opts} ->
            case check(Opts) of
                ok -> {reply, ok, reconfigure(Opts, St)};
                {error, Bad} -> {reply, {error, {invalid_option, ringlog, Bad}}, St}
            end;
        Error -> {reply, Error, St}
    end;
handle_call(_Req, _From, St) ->
    {reply, {error, badarg}, St}.

%% @private
-spec handle_info(term(), #st{}) -> {noreply, #st{}}.
handle_info({'$ringlog', L, Wall, Mono, Payload}, St) ->
    {noreply, load(L, Wall, Mono, Payload, St)};
handle_info(spool_flush, St) ->
    {noreply, St#st{spool = sysport_ringlog_spool:flush(St#st.spool)}};
handle_info({sysport_port, _Port, {reply, {sync, From}, Result}}, #st{spool = Sp} = St) ->
    gen_server:reply(From, sysport_ringlog_spool:synced(Result, Sp)),
    {noreply, St};
handle_info({sysport_port, _Port, Msg}, #st{spool = Sp0} = St) ->
    St1 = case sysport_ringlog_spool:handle(Msg, Sp0) of
              {ok, Sp} -> St#st{spool = Sp};
              {report, Sp} -> store_note(sysport_ringlog_spool:report(Sp), St#st{spool = Sp});
              {{resend, From}, Sp} -> resend(From, St#st{spool = Sp})
          end,
    {noreply, spool_changed(sysport_ringlog_spool:available(Sp0), St1)};
handle_info(drop_report, St) ->
    {noreply, report_drops(St#st{drop_timer = undefined})};
handle_info(spool_catch_up, #st{spool = Sp0} = St) ->
    case sysport_ringlog_spool:catch_up(Sp0) of
        {resend, From, Sp} -> {noreply, resend(From, St#st{spool = Sp})};
        {wait, Sp} -> {noreply, St#st{spool = Sp}}
    end;
handle_info(spool_retry, #st{spool = Sp} = St) ->
    %% What the file lacks is sent once the helper is ready.
    {noreply, schedule_retry(spool_changed(down, St#st{spool = sysport_ringlog_spool:start(Sp)}))};
handle_info({'EXIT', Pid, _Reason}, #st{spool = Sp} = St) ->
    %% The helper's owner gave up (it never does on its own): start over.
    case sysport_ringlog_spool:port(Sp) of
        Pid ->
            Restarted = sysport_ringlog_spool:start(sysport_ringlog_spool:new(St#st.opts, St#st.boot, St#st.first_seq)),
            {noreply, schedule_retry(spool_changed(down, St#st{spool = Restarted}))};
        _ -> {noreply, St}
    end;
handle_info(_Msg, St) ->
    {noreply, St}.

request_sync(From, #st{spool = Sp, opts = #{timeout := Timeout}} = St) ->
    ok = sysport_port:request(sysport_ringlog_spool:port(Sp), sync, Timeout, {sync, From}),
    St.

%% The helper opened the file or went away: queries learn whether to ask
%% it, and sync/0 callers waiting for it get their answer.
spool_changed(Before, #st{spool = Sp, sync_waiting = Waiting} = St) ->
    case sysport_ringlog_spool:available(Sp) of
        Before -> St;
        opening -> publish(St), St;
        up ->
            publish(St),
            lists:foldr(fun request_sync/2, St#st{sync_waiting = []}, Waiting);
        down ->
            publish(St),
            [gen_server:reply(From, {error, spool_down}) || From <- Waiting],
            St#st{sync_waiting = []}
    end.

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
    notify(L, {Seq, L, Wall, Mono, Payload}, St),
    atomics:put(St#st.seq_ref, 1, Seq),
    St#st{seq = Seq, ring = Ring, spool = Spool}.

%% The record is decoded once, when someone wants it.
notify(L, {Seq, _, _, _, _} = Entry, #st{subs = Subs, boot = Boot}) ->
    case sysport_subs:count(Subs) of
        0 -> ok;
        _ ->
            Msg = {sysport_ringlog, record, sysport_ringlog_query:from_ring(Entry, sysport_ringlog_query:hex(Boot))},
            sysport_service:notify(Subs, Msg,
                                   fun(P, {Min, Owner}) ->
                                           %% A printer that cannot keep up misses records
                                           %% rather than grow without bound.
                                           L =< Min andalso (Owner =:= none orelse Seq band 255 =/= 0
                                                             orelse queue_ok(P))
                                   end)
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

%% The boot's first record; the spool's report follows once its helper
%% has read the file (sysport_ringlog_spool:report/1).
boot_note(#st{boot = Boot, spool = Sp}) ->
    Spool = case sysport_ringlog_spool:port(Sp) of
                undefined ->
                    #{file := File, error := Error} = sysport_ringlog_spool:status(Sp),
                    io_lib:format("; spool ~ts not written (~0tp)", [File, Error]);
                _ -> ""
            end,
    {notice, "ringlog: boot ~s on ~s (OTP ~s)~ts",
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

%% The helper is back, or takes records again: what the file lacks is sent
%% again from the ring. What the ring no longer holds is counted and said.
resend(From, #st{spool = Sp0, seq = Last} = St) ->
    Entries = sysport_ringlog_ring:from(From, 16#7ffffff, 7),
    Sp = lists:foldl(fun({Seq, L, Wall, Mono, Payload}, Acc) ->
                             sysport_ringlog_spool:add(Seq, L, Wall, Mono, Payload, Acc)
                     end, Sp0, Entries),
    St1 = St#st{spool = sysport_ringlog_spool:flush(Sp)},
    case Last - From + 1 - length(Entries) of
        Gone when Gone > 0 ->
            First = first_missing(From, [S || {S, _, _, _, _} <- Entries]),
            store_note({warning, "ringlog: ~b records from seq ~b on never reached the spool: the ring "
                        "dropped them while the spool helper was not taking records", [Gone, First]},
                       St1#st{spool = sysport_ringlog_spool:unspooled(Gone, First, St1#st.spool)});
        _ ->
            St1
    end.

first_missing(Seq, [Seq | Rest]) -> first_missing(Seq + 1, Rest);
first_missing(Seq, _) -> Seq.

schedule_retry(#st{spool = Sp} = St) ->
    case sysport_ringlog_spool:retry(Sp) of
        {Sp1, undefined} -> St#st{spool = Sp1};
        {Sp1, Ms} -> erlang:send_after(Ms, self(), spool_retry), St#st{spool = Sp1}
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
publish(#st{boot = Boot, opts = Opts, spool = Sp, subs = Subs}) ->
    Port = sysport_ringlog_spool:port(Sp),
    %% Queries wait for a helper opening the file, not for one that is down.
    Ask = case sysport_ringlog_spool:available(Sp) of
              down -> undefined;
              _ -> Port
          end,
    true = ets:insert(?INFO, [{boot, {Boot, sysport_ringlog_query:hex(Boot)}}, {port, Ask}, {subs, Subs},
                              {formatter, maps:get(formatter, Opts)},
                              {no_sync, [self() | [Port || is_pid(Port)]]}]).

%% A record's payload never exceeds what a spool block holds.
max_payload(#{block_size := Bs, max_record_bytes := Max}) ->
    min(Max, min(65535, (Bs - 32 - 44) band (bnot 3))).

%% @private
-spec status(#st{}) -> map().
status(#st{} = St) ->
    Sp = St#st.spool,
    Helper = case sysport_ringlog_spool:port(Sp) of
                 undefined -> none;
                 Port -> sysport_port:stats(Port)
             end,
    Counts = sysport_ringlog_olp:counts(St#st.olp),
    Attached = sysport_subs:fold(fun(_, {_, none}, N) -> N; (_, _, N) -> N + 1 end, 0, St#st.subs),
    #{helper => Helper, boot => sysport_ringlog_query:hex(St#st.boot), last_seq => St#st.seq,
      ring => sysport_ringlog_ring:stats(St#st.ring), counters => maps:without([mode], Counts),
      olp_mode => maps:get(mode, Counts),
      spool => sysport_ringlog_spool:status(Sp), synced_seq => sysport_ringlog_spool:synced_seq(Sp),
      handler => maps:get(handler, St#st.opts), attached => Attached}.

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
