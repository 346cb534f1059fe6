%% @doc The U-Boot environment: the key/value store U-Boot, fwup,
%% fw_printenv/fw_setenv and Nerves.Runtime.KV share, read and written by the
%% `sysport_kv' helper exactly as those tools lay it out (see
%% ports/sysport_kv.c).
%%
%% Reads are served from the env this process last read: every write
%% re-reads the env under the fw_printenv lock before changing it (so a
%% concurrent fw_setenv is never lost) and refreshes it; `reload/0' picks up
%% a change made by another writer in between. A corrupt env (no valid
%% copy) is an error for every read until `recover/0'; nothing falls back to
%% a copy in memory.
%%
%% Subscribers get `{sysport_kv, changed, #{Key => {Old, New}}}' after each
%% change, with `undefined' for a key added or removed.
%%
%% ```
%% ok = sysport_kv:put("wifi_ssid", "lab"),
%% {ok, <<"lab">>} = sysport_kv:get("wifi_ssid"),
%% {error, not_found} = sysport_kv:get("absent"),
%% ok = sysport_kv:subscribe(),
%% ok = sysport_kv:delete("wifi_ssid"),
%% receive {sysport_kv, changed, #{<<"wifi_ssid">> := {<<"lab">>, undefined}}} -> ok end.
%% '''
-module(sysport_kv).
-behaviour(gen_server).

-export([start_link/0, start_link/1, child_spec/1, stop/0]).
-export([get/1, get_all/0, put/1, put/2, delete/1, get_active/1, get_all_active/0, put_active/2,
         firmware_status/0, validate_firmware/0, reload/0, recover/0, status/0,
         subscribe/0, subscribe/1, unsubscribe/0, unsubscribe/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-export_type([opts/0]).

-type opts() :: #{config => file:filename_all(),
                  locations => [iodata()],
                  lock_file => file:filename_all() | none,
                  lock_timeout => non_neg_integer(),
                  defaults => file:filename_all(),
                  timeout => pos_integer(),
                  port_opts => map()}.
%% `config': a fw_env.config file (default `/etc/fw_env.config').
%% `locations': fw_env.config lines given inline instead (one: a single env,
%% two: redundant).
%% With neither an existing default config file nor locations, the env is a
%% redundant pair of 128 KiB copies in `data_dir', created by the first write.
%% `lock_file': the flock file shared with fw_printenv/fw_setenv (default
%% `/var/lock/fw_printenv.lock'), `none' for no locking.
%% `lock_timeout': how long a request waits for that lock (ms).
%% `defaults': what `recover/0' writes into a corrupt env, in U-Boot's
%% `u-boot-initial-env' text format (default `/etc/u-boot-initial-env';
%% a missing file means an empty env).
%% `timeout': how long a request to the helper may take (ms).
%% `port_opts': passed to {@link sysport_port:start_link/1} (backoff...).

-define(DEFAULTS, #{config => "/etc/fw_env.config",
                    locations => [],
                    lock_file => "/var/lock/fw_printenv.lock",
                    lock_timeout => 5000,
                    defaults => "/etc/u-boot-initial-env",
                    timeout => 30000,
                    port_opts => #{}}).
-define(DEV_COPY_SIZE, 16#20000).

-type health() :: starting | ok | {error, term()}.

-record(st, {port :: pid(),
             opts :: map(),
             source :: {config, binary()} | locations | {data_dir, binary()},
             env = #{} :: sysport_kv_data:env(),
             health = starting :: health(),
             meta = #{} :: map(),
             subs = sysport_subs:new() :: sysport_subs:subs(),
             writes = 0 :: non_neg_integer(),
             last_error = none :: term()}).

%%% API

%% @doc Starts the service with the app env options (see {@link start_link/1}).
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    start_link(#{}).

%% @doc Starts the service; Opts are merged over the app env `{kv, #{...}}'
%% and the defaults.
-spec start_link(opts()) -> {ok, pid()} | {error, term()}.
start_link(Opts) when is_map(Opts) ->
    Given = maps:merge(sysport_env:service_opts(kv), Opts),
    case [K || K <- maps:keys(Given), not is_map_key(K, ?DEFAULTS)] of
        [] -> gen_server:start_link({local, ?MODULE}, ?MODULE, Given, []);
        [K | _] -> {error, {bad_option, K}}
    end.

%% @doc A child spec that starts the service under your own supervisor.
-spec child_spec(opts()) -> supervisor:child_spec().
child_spec(Opts) ->
    #{id => ?MODULE, start => {?MODULE, start_link, [Opts]}, type => worker}.

%% @doc Stops the service; `ok' also when it is not running.
-spec stop() -> ok.
stop() ->
    sysport_service:stop(?MODULE).

%% @doc The value of Key.
-spec get(unicode:chardata()) -> {ok, binary()} | {error, not_found | term()}.
get(Key) ->
    with_key(Key, fun(K) -> call({get, K}) end).

%% @doc The whole env.
-spec get_all() -> {ok, sysport_kv_data:env()} | {error, term()}.
get_all() ->
    call(get_all).

%% @doc Sets Key to Value (synced and verified before it returns).
-spec put(unicode:chardata(), unicode:chardata()) -> ok | {error, term()}.
put(Key, Value) ->
    with_key(Key, fun(K) ->
                          case sysport_kv_data:value(Key, Value) of
                              {ok, V} -> call({update, [{K, V}], []});
                              Error -> Error
                          end
                  end).

%% @doc Sets every key of Map in one write: all or nothing.
-spec put(#{unicode:chardata() => unicode:chardata()}) -> ok | {error, term()}.
put(Map) when is_map(Map) ->
    case sysport_kv_data:pairs(Map) of
        {ok, Pairs} -> call({update, Pairs, []});
        Error -> Error
    end;
put(_) ->
    {error, badarg}.

%% @doc Deletes a key, or a list of keys in one write. A list of binaries or
%% strings is a list of keys; a plain string is one key.
-spec delete(unicode:chardata() | [unicode:chardata()]) -> ok | {error, term()}.
delete(Keys) ->
    case sysport_kv_data:keys(Keys) of
        {ok, Ks} -> call({update, [], Ks});
        Error -> Error
    end.

%% @doc Key of the running firmware slot: `a.Key' when `nerves_fw_active' is `a'.
-spec get_active(unicode:chardata()) -> {ok, binary()} | {error, not_found | no_active_firmware | term()}.
get_active(Key) ->
    with_key(Key, fun(K) -> call({get_active, K}) end).

%% @doc The running slot's keys, without their prefix.
-spec get_all_active() -> {ok, sysport_kv_data:env()} | {error, no_active_firmware | term()}.
get_all_active() ->
    call(get_all_active).

%% @doc Sets Key of the running firmware slot (`a.Key' when `a' is active).
-spec put_active(unicode:chardata(), unicode:chardata()) -> ok | {error, term()}.
put_active(Key, Value) ->
    with_key(Key, fun(K) ->
                          case sysport_kv_data:value(Key, Value) of
                              {ok, V} -> call({put_active, K, V});
                              Error -> Error
                          end
                  end).

%% @doc `#{active, validated, upgrade_available, bootcount}' of the A/B scheme.
-spec firmware_status() -> {ok, map()} | {error, term()}.
firmware_status() ->
    call(firmware_status).

%% @doc Marks the running firmware good, in one write (see
%% {@link sysport_kv_data:validate_updates/1}).
-spec validate_firmware() -> ok | {error, term()}.
validate_firmware() ->
    call(validate_firmware).

%% @doc Reads the env again (after another program wrote it).
-spec reload() -> ok | {error, term()}.
reload() ->
    call(reload).

%% @doc Repairs the env: with no valid copy, writes the defaults file (or an
%% empty env) to every copy; with one bad copy, writes the good one over
%% it. Says which it did: `defaults', `repaired' or `none'.
-spec recover() -> {ok, defaults | repaired | none} | {error, term()}.
recover() ->
    call(recover).

%% @doc The helper's stats, the env's source, scheme and current copy, keys,
%% writes, subscribers and last error.
-spec status() -> {ok, map()} | {error, not_running}.
status() ->
    call(status).

%% @doc Sends the caller `{sysport_kv, changed, Changes}' after each change.
-spec subscribe() -> ok | {error, not_running}.
subscribe() ->
    call({subscribe, self()}).

%% @doc Subscribes Pid, which may be on another node: a caller through
%% erpc names its own pid (erpc runs the call in a short-lived process).
-spec subscribe(pid()) -> ok | {error, badarg | not_running}.
subscribe(Pid) when is_pid(Pid) ->
    call({subscribe, Pid});
subscribe(_) ->
    {error, badarg}.

%% @doc Stops the caller's change messages.
-spec unsubscribe() -> ok | {error, not_running}.
unsubscribe() ->
    call({unsubscribe, self()}).

%% @doc Stops Pid's messages.
-spec unsubscribe(pid()) -> ok | {error, badarg | not_running}.
unsubscribe(Pid) when is_pid(Pid) ->
    call({unsubscribe, Pid});
unsubscribe(_) ->
    {error, badarg}.

with_key(Key, Fun) ->
    case sysport_kv_data:key(Key) of
        {ok, K} -> Fun(K);
        Error -> Error
    end.

call(Request) ->
    sysport_service:call(?MODULE, Request, infinity).

%%% gen_server

%% @private
-spec init(map()) -> {ok, #st{}} | {stop, term()}.
init(Given) ->
    process_flag(trap_exit, true),
    Opts = maps:merge(?DEFAULTS, Given),
    case source(Opts, is_map_key(config, Given)) of
        {ok, Source, SourceArgs} ->
            PortOpts = maps:merge(maps:merge(#{helper => "sysport_kv"}, maps:get(port_opts, Opts)),
                                  #{owner => self(), args => SourceArgs ++ lock_args(Opts)}),
            case sysport_port:start_link(PortOpts) of
                {ok, Port} -> {ok, #st{port = Port, opts = Opts, source = Source}};
                {error, Reason} -> {stop, Reason}
            end;
        {error, Reason} ->
            {stop, Reason}
    end.

%% Where the env is: inline locations, the config file, or (on a host with
%% neither) a file-backed pair in data_dir.
source(#{locations := [_ | _] = Lines}, _) ->
    {ok, locations, [["--location=", L] || L <- Lines]};
source(#{config := Config}, Explicit) ->
    case Explicit orelse filelib:is_regular(Config) of
        true ->
            Path = unicode:characters_to_binary(Config),
            {ok, {config, Path}, [["--config=", Path]]};
        false ->
            dev_source()
    end.

dev_source() ->
    case sysport_env:ensure_data_dir() of
        {ok, Dir} ->
            Image = filename:join(Dir, "uboot-env"),
            Config = filename:join(Dir, "fw_env.config"),
            Text = io_lib:format("# Written by sysport_kv: a redundant env for a host without one.~n"
                                 "~ts 0x0 0x~.16b~n~ts 0x~.16b 0x~.16b~n",
                                 [Image, ?DEV_COPY_SIZE, Image, ?DEV_COPY_SIZE, ?DEV_COPY_SIZE]),
            case write_if_changed(Config, unicode:characters_to_binary(Text)) of
                ok -> {ok, {data_dir, Config}, [["--config=", Config], "--create"]};
                {error, Reason} -> {error, {Config, Reason}}
            end;
        Error ->
            Error
    end.

write_if_changed(Path, Bin) ->
    case file:read_file(Path) of
        {ok, Bin} -> ok;
        _ -> file:write_file(Path, Bin)
    end.

lock_args(#{lock_file := none}) ->
    ["--no-lock"];
lock_args(#{lock_file := File, lock_timeout := Ms}) ->
    [["--lock=", File], ["--lock-timeout=", integer_to_list(Ms)]].

%% @private
-spec handle_call(term(), gen_server:from(), #st{}) -> {reply, term(), #st{}}.
handle_call({get, K}, _From, St) ->
    {reply, with_env(St, fun(Env) -> lookup(K, Env) end), St};
handle_call(get_all, _From, St) ->
    {reply, with_env(St, fun(Env) -> {ok, Env} end), St};
handle_call({get_active, K}, _From, St) ->
    {reply, with_active(St, fun(Prefix, Env) -> lookup(<<Prefix/binary, K/binary>>, Env) end), St};
handle_call(get_all_active, _From, St) ->
    {reply, with_active(St, fun(Prefix, Env) -> {ok, sysport_kv_data:strip_prefix(Prefix, Env)} end), St};
handle_call(firmware_status, _From, St) ->
    {reply, with_env(St, fun sysport_kv_data:firmware_status/1), St};
handle_call({update, Puts, Deletes}, _From, St) ->
    update(Puts, Deletes, St);
handle_call({put_active, K, V}, _From, St) ->
    case with_active(St, fun(Prefix, _) -> {ok, <<Prefix/binary, K/binary>>} end) of
        {ok, Key} -> update([{Key, V}], [], St);
        Error -> {reply, Error, St}
    end;
handle_call(validate_firmware, _From, St) ->
    case with_env(St, fun sysport_kv_data:validate_updates/1) of
        {ok, Puts} -> update(Puts, [], St);
        Error -> {reply, Error, St}
    end;
handle_call(reload, _From, St) ->
    {Result, St1} = load(St),
    {reply, Result, St1};
handle_call(recover, _From, St) ->
    recover(St);
handle_call(status, _From, St) ->
    {reply, {ok, status_map(St)}, St};
handle_call({subscribe, Pid}, _From, St) ->
    {reply, ok, St#st{subs = sysport_subs:add(Pid, all, St#st.subs)}};
handle_call({unsubscribe, Pid}, _From, St) ->
    {reply, ok, St#st{subs = sysport_subs:remove(Pid, St#st.subs)}};
handle_call(_Other, _From, St) ->
    {reply, {error, badarg}, St}.

%% @private
-spec handle_cast(term(), #st{}) -> {noreply, #st{}}.
handle_cast(_Msg, St) ->
    {noreply, St}.

%% @private
-spec handle_info(term(), #st{}) -> {noreply, #st{}} | {stop, term(), #st{}}.
handle_info({sysport_port, Port, {ready, _Info}}, #st{port = Port} = St) ->
    %% After every (re)start: the env may have changed while it was down.
    {_, St1} = load(St),
    {noreply, St1};
handle_info({sysport_port, Port, _}, #st{port = Port} = St) ->
    {noreply, St};
handle_info({'DOWN', _, process, Pid, _}, St) ->
    {noreply, St#st{subs = sysport_subs:down(Pid, St#st.subs)}};
handle_info({'EXIT', Port, Reason}, #st{port = Port} = St) ->
    {stop, Reason, St};
handle_info(_Msg, St) ->
    {noreply, St}.

%% @private
-spec terminate(term(), #st{}) -> ok.
terminate(_Reason, #st{port = Port}) ->
    sysport_port:stop(Port).

%%% Reading and writing

with_env(#st{health = ok, env = Env}, Fun) -> Fun(Env);
with_env(#st{health = starting}, _) -> {error, starting};
with_env(#st{health = Error}, _) -> Error.

with_active(St, Fun) ->
    with_env(St, fun(Env) ->
                         case sysport_kv_data:active_prefix(Env) of
                             {ok, Prefix} -> Fun(Prefix, Env);
                             Error -> Error
                         end
                 end).

lookup(K, Env) ->
    case Env of
        #{K := V} -> {ok, V};
        _ -> {error, not_found}
    end.

helper(#st{port = Port, opts = #{timeout := Timeout}}, Request) ->
    sysport_port:call(Port, Request, Timeout).

%% Reads the env again: the result, and the state with it.
load(St) ->
    case helper(St, {load, version(St)}) of
        {ok, Snapshot} ->
            {ok, snapshot(Snapshot, {[], []}, St)};
        {error, {What, _} = Reason} = Error when What =:= corrupt_env; What =:= unreadable; What =:= bad_config ->
            {Error, St#st{health = Error, last_error = Reason}};
        {error, Reason} = Error when St#st.health =:= starting ->
            {Error, St#st{health = Error, last_error = Reason}};
        {error, Reason} = Error ->
            %% A passing failure (a lock held too long, the helper
            %% restarting) says nothing new about the env.
            {Error, St#st{last_error = Reason}}
    end.

update(Puts, Deletes, St) ->
    case helper(St, {update, Puts, Deletes, version(St)}) of
        {ok, Snapshot} ->
            {reply, ok, snapshot(Snapshot, {Puts, Deletes}, St)};
        {error, {Unusable, _} = Reason} = Error when Unusable =:= corrupt_env; Unusable =:= unreadable ->
            {reply, Error, St#st{health = Error, last_error = Reason}};
        {error, Reason} = Error ->
            {reply, Error, St#st{last_error = Reason}}
    end.

recover(#st{opts = #{defaults := File}} = St) ->
    Defaults = case file:read_file(File) of
                   {ok, Text} -> sysport_kv_data:parse_defaults(Text);
                   {error, _} -> []
               end,
    case helper(St, {recover, Defaults}) of
        {ok, #{action := Action} = Snapshot} ->
            case Action of
                none -> ok;
                _ -> logger:notice("sysport_kv: recovered the env (~s)", [Action])
            end,
            {reply, {ok, Action}, snapshot(Snapshot, {[], []}, St)};
        {error, Reason} = Error ->
            {reply, Error, St#st{last_error = Reason}}
    end.

%% The version of the env held here, for the helper to leave the entries
%% out of its reply when they have not changed.
version(#st{health = ok, meta = #{version := Version}}) -> Version;
version(_) -> none.

%% Takes a snapshot from the helper as the env, and tells subscribers what
%% changed. Without entries the snapshot says that the env was at our
%% version, and Change ({Puts, Deletes}) is what the helper did to it.
snapshot(#{action := Action} = Snapshot, {Puts, Deletes}, #st{env = Old, subs = Subs} = St) ->
    New = case Snapshot of
              #{env := Pairs} -> maps:from_list(Pairs);
              #{} -> maps:without(Deletes, maps:merge(Old, maps:from_list(Puts)))
          end,
    %% Comparing two whole envs costs as much as reading one: only for
    %% subscribers, and only the keys touched when those are known.
    case {sysport_subs:count(Subs), Snapshot} of
        {0, _} -> ok;
        {_, #{env := _}} -> notify(sysport_kv_data:diff(Old, New), Subs);
        {_, #{}} ->
            Keys = [K || {K, _} <- Puts] ++ Deletes,
            notify(sysport_kv_data:diff(maps:with(Keys, Old), maps:with(Keys, New)), Subs)
    end,
    Writes = case Action of none -> St#st.writes; _ -> St#st.writes + 1 end,
    St#st{env = New, health = ok, meta = maps:remove(env, Snapshot), writes = Writes}.

notify(Changes, _) when map_size(Changes) =:= 0 ->
    ok;
notify(Changes, Subs) ->
    sysport_subs:fold(fun(Pid, _, ok) -> sysport_subs:send(Pid, {sysport_kv, changed, Changes}) end, ok, Subs).

status_map(#st{} = St) ->
    Meta = maps:without([action], St#st.meta),
    maps:merge(Meta, #{helper => sysport_port:stats(St#st.port),
                       source => St#st.source,
                       state => case St#st.health of ok -> ok; starting -> starting; {error, E} -> E end,
                       keys => map_size(St#st.env),
                       writes => St#st.writes,
                       last_error => St#st.last_error,
                       subscribers => sysport_subs:count(St#st.subs),
                       remote_dropped => sysport_subs:dropped(),
                       lock_file => case maps:get(lock_file, St#st.opts) of
                                        none -> none;
                                        F -> unicode:characters_to_binary(F)
                                    end}).
