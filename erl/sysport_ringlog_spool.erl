%% @doc The ring log's side of its spool helper (sysport_ringlog): starting
%% it, batching records to it, and reading the file back.
%%
%% Records reach the helper within ?BATCH_MS of being logged (at once for
%% sync_level and above, or when a batch reaches ?BATCH_BYTES): what the
%% helper holds survives the VM being killed, since it writes and syncs
%% on stdin EOF. While the helper is down, records stay in the ring only;
%% when it is back, everything after what the file already holds is sent
%% again from the ring. A helper that stops taking records (stopped, or
%% stuck in fdatasync on a hung card) fills its backlog in sysport_port and
%% a batch is refused: the spool is then behind, sends nothing new, and
%% every ?CATCHUP_MS checks whether the helper takes records again, then
%% sends everything from the refused batch on from the ring. Records the
%% ring dropped meanwhile are counted (unspooled), and the synced seq stays
%% below the first of them for the helper's lifetime, as it does below a
%% block the helper could not write.
%%
%% Nothing waits for the helper to open the file: records stay in the ring
%% until it is ready, then everything it lacks is sent. It reads the rest
%% of the file after ready, and says what recovery found with the event
%% `recovered' (handle/2 returns `report' for the boot's spool record).
%% @private
-module(sysport_ringlog_spool).

-export([new/3, start/1, add/6, flush/1, handle/2, retry/1, set_sync/2, status/1, port/1,
         synced_seq/1, fold/5, boots/1, catch_up/1, unspooled/3, synced/2, report/1, available/1]).
-export_type([spool/0, opts/0, query/0]).

-type opts() :: #{spool := boolean(), spool_file := file:filename_all(), spool_size := pos_integer(),
                  block_size := pos_integer(), sync_interval := non_neg_integer(),
                  sync_bytes := pos_integer(), sync_level := logger:level(), atom() => term()}.

-define(BATCH_MS, 10).
-define(BATCH_BYTES, 8192).
-define(RETRY_MIN, 1000).
-define(RETRY_MAX, 60000).
-define(READ_CHUNK, 1024).
-define(CATCHUP_MS, 200).

-record(spool, {opts :: opts(),
                boot :: pos_integer(),
                port :: pid() | undefined,
                up = false :: boolean(),
                info = #{} :: map(),
                error :: term(),
                batch = [] :: iolist(),
                batch_bytes = 0 :: non_neg_integer(),
                %% the seq of the batch's first record
                first :: pos_integer() | undefined,
                %% the first record the helper refused (busy): nothing is
                %% sent until everything from it on can be
                behind :: pos_integer() | undefined,
                %% records the ring dropped before the helper took them,
                %% and the first of them since the helper started
                unspooled = 0 :: non_neg_integer(),
                gap :: pos_integer() | undefined,
                timer :: reference() | undefined,
                retry_ms = ?RETRY_MIN :: pos_integer(),
                synced_seq = 0 :: non_neg_integer(),
                %% the first record of this run of the service: the ones
                %% before it are an earlier run's, never resent from here
                from_seq :: pos_integer(),
                %% what the helper said while opening the file
                progress = #{} :: map(),
                sync_level :: 0..7}).
-opaque spool() :: #spool{}.

-spec new(opts(), pos_integer(), pos_integer()) -> spool().
new(Opts, Boot, FromSeq) ->
    #spool{opts = Opts, boot = Boot, from_seq = FromSeq,
           sync_level = sysport_ringlog_codec:level_to_int(maps:get(sync_level, Opts))}.

%% @doc Starts the helper (the caller traps exits). A helper that cannot
%% start (no helper binary, a file it cannot open) leaves the spool down
%% with the reason in status; retry/1 tries again later.
-spec start(spool()) -> spool().
start(#spool{opts = #{spool := false}} = Sp) ->
    Sp#spool{error = disabled};
start(#spool{opts = Opts, boot = Boot} = Sp) ->
    Args = [<<"--file=", (unicode:characters_to_binary(maps:get(spool_file, Opts)))/binary>>,
            "--boot=" ++ integer_to_list(Boot),
            "--size=" ++ integer_to_list(maps:get(spool_size, Opts)),
            "--block=" ++ integer_to_list(maps:get(block_size, Opts)) | sync_args(Sp)],
    _ = filelib:ensure_dir(maps:get(spool_file, Opts)),
    case sysport_port:start_link(#{helper => "sysport_ringlog", args => Args, await_ready => false}) of
        {ok, Port} -> Sp#spool{port = Port, progress = #{}};
        {error, Reason} -> Sp#spool{error = Reason}
    end.

sync_args(#spool{opts = Opts, sync_level = Level}) ->
    ["--sync-ms=" ++ integer_to_list(maps:get(sync_interval, Opts)),
     "--sync-bytes=" ++ integer_to_list(maps:get(sync_bytes, Opts)),
     "--sync-level=" ++ integer_to_list(Level)].

ready(Info, Sp) ->
    Sp#spool{up = true, info = Info, error = undefined, retry_ms = ?RETRY_MIN, progress = #{},
             synced_seq = max(Sp#spool.synced_seq, maps:get(boot_last_seq, Info, 0))}.

%% @doc A start that failed is retried with backoff: returns the delay, or
%% undefined when nothing needs retrying.
-spec retry(spool()) -> {spool(), non_neg_integer() | undefined}.
retry(#spool{port = undefined, error = Error, retry_ms = Ms} = Sp) when Error =/= disabled ->
    {Sp#spool{retry_ms = min(?RETRY_MAX, Ms * 2)}, Ms};
retry(Sp) ->
    {Sp, undefined}.

%% @doc Queues a record for the helper.
-spec add(pos_integer(), 0..7, integer(), integer(), binary(), spool()) -> spool().
add(_Seq, _L, _Wall, _Mono, _Payload, #spool{up = false} = Sp) ->
    Sp;
add(_Seq, _L, _Wall, _Mono, _Payload, #spool{behind = Behind} = Sp) when Behind =/= undefined ->
    Sp;
add(Seq, L, Wall, Mono, Payload, #spool{batch = Batch, batch_bytes = Bytes} = Sp) ->
    Entry = [<<Seq:64, Wall:64/signed, Mono:64/signed, L:8, (byte_size(Payload)):16>>, Payload],
    First = case Batch of [] -> Seq; _ -> Sp#spool.first end,
    Sp1 = Sp#spool{batch = [Batch | Entry], batch_bytes = Bytes + 27 + byte_size(Payload), first = First},
    if
        L =< Sp#spool.sync_level; Sp1#spool.batch_bytes >= ?BATCH_BYTES -> flush(Sp1);
        Sp#spool.timer =:= undefined ->
            Sp1#spool{timer = erlang:send_after(?BATCH_MS, self(), spool_flush)};
        true -> Sp1
    end.

%% @doc Sends the batch now.
-spec flush(spool()) -> spool().
flush(#spool{batch = []} = Sp) ->
    cancel(Sp);
flush(#spool{port = Port, batch = Batch, first = First} = Sp) ->
    Sp1 = cancel(Sp#spool{batch = [], batch_bytes = 0, first = undefined}),
    case sysport_port:cast(Port, {append, iolist_to_binary(Batch)}) of
        {error, busy} ->
            erlang:send_after(?CATCHUP_MS, self(), spool_catch_up),
            Sp1#spool{behind = First};
        _ ->
            %% Refused otherwise, the helper is gone: its restart resends.
            Sp1
    end.

%% @doc On `spool_catch_up': `{resend, FromSeq, Spool}' once the helper
%% takes records again, else `{wait, Spool}' (checked again later).
-spec catch_up(spool()) -> {resend, pos_integer(), spool()} | {wait, spool()}.
catch_up(#spool{behind = undefined} = Sp) ->
    {wait, Sp};
catch_up(#spool{port = Port, behind = From} = Sp) ->
    case sysport_port:stats(Port) of
        #{backlog_bytes := 0} ->
            {resend, From, Sp#spool{behind = undefined}};
        _ ->
            erlang:send_after(?CATCHUP_MS, self(), spool_catch_up),
            {wait, Sp}
    end.

%% @doc Counts N records that never reached the spool, the first of them
%% First.
-spec unspooled(pos_integer(), pos_integer(), spool()) -> spool().
unspooled(N, First, #spool{unspooled = U, gap = Gap} = Sp) ->
    Sp#spool{unspooled = U + N, gap = min(First, Gap), synced_seq = min(Sp#spool.synced_seq, First - 1)}.

%% @doc What the helper says it synced, as far as every record up to it is
%% on disk.
-spec synced(T, spool()) -> T when T :: {ok, non_neg_integer()} | non_neg_integer() | term().
synced({ok, Seq}, Sp) -> {ok, synced(Seq, Sp)};
synced(Seq, #spool{gap = Gap}) when is_integer(Seq), is_integer(Gap) -> min(Seq, Gap - 1);
synced(Other, _Sp) -> Other.

cancel(#spool{timer = undefined} = Sp) -> Sp;
cancel(#spool{timer = T} = Sp) ->
    _ = erlang:cancel_timer(T),
    Sp#spool{timer = undefined}.

%% @doc A message from the helper's owner. `{resend, FromSeq}' asks the
%% caller to send again everything from FromSeq on (the helper is back);
%% `report': recovery is complete, report/1 says what it found.
-spec handle(term(), spool()) -> {ok | report | {resend, pos_integer()}, spool()}.
handle({ready, Info}, Sp) ->
    Sp1 = ready(Info, Sp#spool{batch = [], batch_bytes = 0, first = undefined, behind = undefined, gap = undefined}),
    {{resend, max(Sp1#spool.synced_seq + 1, Sp1#spool.from_seq)}, cancel(Sp1)};
handle({progress, Info}, Sp) ->
    {ok, Sp#spool{progress = Info}};
handle({event, {recovered, Found}}, #spool{info = Info} = Sp) when is_map(Found) ->
    {report, Sp#spool{info = maps:merge(Info, Found#{scan_done => true})}};
handle({event, {synced, Seq}}, Sp) ->
    {ok, Sp#spool{synced_seq = synced(Seq, Sp)}};
handle({event, {io_error, Reason}}, Sp) ->
    {ok, Sp#spool{error = {io_error, Reason}}};
handle({event, {lost, Records, FirstSeq, LastSeq}}, Sp) ->
    %% The helper logged it too; the status keeps saying so.
    {ok, Sp#spool{error = {records_lost, #{records => Records, first_seq => FirstSeq, last_seq => LastSeq}}}};
handle({exited, Status}, Sp) ->
    {ok, cancel(Sp#spool{up = false, error = {helper_exited, Status}, batch = [], batch_bytes = 0,
                         first = undefined, behind = undefined})};
handle(_Other, Sp) ->
    {ok, Sp}.

-spec set_sync(opts(), spool()) -> spool().
set_sync(Opts, #spool{port = Port} = Sp) ->
    Sp1 = Sp#spool{opts = maps:merge(Sp#spool.opts, Opts),
                   sync_level = sysport_ringlog_codec:level_to_int(maps:get(sync_level, Opts))},
    case Port of
        undefined -> ok;
        _ -> _ = sysport_port:call(Port, {set_sync, maps:get(sync_interval, Opts), maps:get(sync_bytes, Opts),
                                          Sp1#spool.sync_level})
    end,
    Sp1.

-spec status(spool()) -> map().
status(#spool{opts = Opts, port = Port} = Sp) ->
    %% A helper still opening the file answers once it is ready: not asked.
    Helper = case Sp#spool.up of
                 false -> #{};
                 true -> case sysport_port:call(Port, status, 2000) of
                          {ok, S} -> S;
                          _ -> #{}
                      end
             end,
    #{enabled => maps:get(spool, Opts), up => Sp#spool.up, error => Sp#spool.error,
      file => unicode:characters_to_binary(maps:get(spool_file, Opts)),
      file_size => maps:get(file_size, Sp#spool.info, maps:get(spool_size, Opts)),
      block_size => maps:get(block_size, Sp#spool.info, maps:get(block_size, Opts)),
      synced_seq => Sp#spool.synced_seq,
      stalled => Sp#spool.behind =/= undefined,
      unspooled_records => Sp#spool.unspooled,
      write_bytes => maps:get(write_bytes, Helper, 0),
      record_bytes => maps:get(record_bytes, Helper, 0),
      syncs => maps:get(syncs, Helper, 0),
      io_errors => maps:get(io_errors, Helper, 0),
      block_retries => maps:get(block_retries, Helper, 0),
      lost_records => maps:get(lost_records, Helper, 0),
      opening => Sp#spool.progress,
      recovery => recovery(Sp)}.

%% What the helper found in the file: from ready (how it was opened), then
%% from the `recovered' event (what the whole file holds; `scan_done').
recovery(#spool{info = Info}) ->
    maps:merge(#{scan_done => false},
               maps:with([recovered, discarded_bytes, bad_records, bad_headers, lost_blocks, newer_blocks,
                          short_bytes, grown_from, foreign_bytes, created, mode_fixed, full_scan, ready_read_bytes, read_bytes,
                          scan_done], Info)).

%% @doc The spool's part of the boot's record once recovery is complete:
%% {Level, Format, Args}, warning when anything was damaged, missing or
%% not applied.
-spec report(spool()) -> {notice | warning, string(), list()}.
report(#spool{opts = Opts, info = Info} = Sp) ->
    File = unicode:characters_to_binary(maps:get(spool_file, Opts)),
    Size = maps:get(file_size, Info, maps:get(spool_size, Opts)),
    Bs = maps:get(block_size, Info, maps:get(block_size, Opts)),
    Rec = recovery(Sp),
    Get = fun(K) -> maps:get(K, Rec, 0) end,
    Damage = Get(discarded_bytes) + Get(short_bytes) + Get(lost_blocks) + Get(bad_headers) + Get(foreign_bytes)
        + Get(newer_blocks),
    %% A spool keeps the geometry it was made with: records are never
    %% thrown away for a smaller size or another block size, but the
    %% option not applied is said.
    Kept = [io_lib:format("; kept at ~b bytes (spool_size ~b: delete the file to shrink it)",
                          [Size, maps:get(spool_size, Opts)]) || Size > maps:get(spool_size, Opts)] ++
        [io_lib:format("; kept its block size ~b (block_size ~b: delete the file to change it)",
                       [Bs, maps:get(block_size, Opts)]) || Bs =/= maps:get(block_size, Opts)],
    Notes = [io_lib:format("; grown from ~b to ~b bytes", [G, Size]) || G <- [Get(grown_from)], G > 0] ++
        [io_lib:format("; it held no spool: ~b bytes of other data overwritten", [F]) || F <- [Get(foreign_bytes)], F > 0] ++
        [io_lib:format("; ~b blocks newer than the head were found after writing began (damage hid them)", [N])
         || N <- [Get(newer_blocks)], N > 0] ++ Kept,
    {case Damage + length(Kept) of 0 -> notice; _ -> warning end,
     "ringlog: spool ~ts: recovered ~b records, discarded ~b bytes, ~b bad headers, ~b lost blocks, "
     "~b bytes missing~ts",
     [File, Get(recovered), Get(discarded_bytes), Get(bad_headers), Get(lost_blocks), Get(short_bytes), Notes]}.

-spec port(spool()) -> pid() | undefined.
port(#spool{port = Port}) -> Port.

%% @doc Whether the helper takes requests: `up', `opening' (started, not
%% ready yet: requests wait for it) or `down'.
-spec available(spool()) -> up | opening | down.
available(#spool{up = true}) -> up;
available(#spool{port = Port, error = undefined}) when is_pid(Port) -> opening;
available(_) -> down.

-spec synced_seq(spool()) -> non_neg_integer().
synced_seq(#spool{synced_seq = S}) -> S.

%%% Reading the file (any process, through the helper's owner)

%% A query of one boot's records: seqs `from'..`until', levels `min'
%% and more severe; `newest' reads from `until' down; at most `count'.
-type query() :: #{boot := pos_integer(), from := non_neg_integer(), until := non_neg_integer(),
                   min := 0..7, newest := boolean(), count := pos_integer() | infinity}.

%% @doc Folds Fun over the records Query asks for, a chunk (at most
%% ?READ_CHUNK records, ascending) at a time: from the lowest seq up, or
%% for `newest' from the highest down. Fun returns `{cont, Acc}' for the
%% next chunk or `{halt, Acc}'. Records are {Seq, Wall, Mono, Level,
%% Payload}; only one chunk is in memory at a time.
-spec fold(pid(), query(), fun(([entry()], Acc) -> {cont | halt, Acc}), Acc, timeout()) ->
          {ok, Acc} | {error, term()}.
fold(Port, #{boot := Boot, from := From, until := Until, min := Min, newest := Newest, count := Count} = Q,
     Fun, Acc, Timeout) ->
    Levels = (2 bsl Min) - 1,
    Max = case Count of infinity -> ?READ_CHUNK; _ -> min(Count, ?READ_CHUNK) end,
    Req = {case Newest of true -> read_last; false -> read end, Boot, From, Until, Max, Levels},
    case From =< Until andalso Max > 0 andalso sysport_port:call(Port, Req, Timeout) of
        false -> {ok, Acc};
        {ok, {[], _}} -> {ok, Acc};
        {ok, {Records, More}} ->
            case Fun(Records, Acc) of
                {cont, Acc1} when More ->
                    Left = case Count of infinity -> infinity; _ -> Count - length(Records) end,
                    Next = case Newest of
                               true -> Q#{until := element(1, hd(Records)) - 1, count := Left};
                               false -> Q#{from := element(1, lists:last(Records)) + 1, count := Left}
                           end,
                    fold(Port, Next, Fun, Acc1, Timeout);
                {_, Acc1} -> {ok, Acc1}
            end;
        {error, _} = Error -> Error
    end.

-type entry() :: {pos_integer(), integer(), integer(), 0..7, binary()}.

%% @doc The boots the file holds, oldest first.
-spec boots(pid()) -> {ok, [map()]} | {error, term()}.
boots(Port) ->
    sysport_port:call(Port, boots, 30000).
