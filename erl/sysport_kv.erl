%% @doc The U-Boot environment: the key/value store U-Boot, fwup,
%% fw_printenv/fw_setenv and Nerves.Runtime.KV share, read and written by the
%% `sysport_kv' helper exactly as those tools lay it out (see
%% ports/kv/sysport_kv.c).
%%
%% Reads are served from the env this process last read: every write
%% re-reads the env under the fw_printenv lock before changing it (so a
%% concurrent fw_setenv is never lost) and refreshes it; `reload/0' picks up
%% a change made by another writer in between. A corrupt env (no valid
%% copy) is an error for every read until `recover/0'; nothing falls back to
%% a copy in memory.
%%
%% Reads (`get', `get_all', the firmware keys) are answered from memory,
%% never behind a write or the helper: the service publishes the env it
%% holds (a `persistent_term'), and a read runs in the caller, on that env,
%% without copying it and without a call, whenever the service is in step
%% with the devices (otherwise it asks the service, which answers as
%% before, or holds the read while the env is read again). A change
%% publishes the env anew, which costs a copy of it and a pass over the
%% node's processes: the env changes rarely, and is read often. Subscribers
%% get `{sysport_kv, changed, #{Key => {Old, New}}}' after each change,
%% with `undefined' for a key added or removed. The service contract
%% (options, calls, subscriptions, status) is {@link sysport_service}'s.
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
-behaviour(sysport_service).

-export([start_link/0, start_link/1, child_spec/1, stop/0, options/0]).
-export([get/1, get_all/0, put/1, put/2, delete/1, get_active/1, get_all_active/0, put_active/2,
         firmware_status/0, validate_firmware/0, reload/0, recover/0, status/0,
         subscribe/0, subscribe/1, subscribe/2, unsubscribe/0, unsubscribe/1]).
-export([helper/1, init/2, handle_call/3, handle_info/2, status/1, terminate/2]).

-define(DEV_COPY_SIZE, 16#20000).
-define(IS_READ(R), ((is_tuple(R) andalso (element(1, R) =:= get orelse element(1, R) =:= get_active))
                     orelse R =:= get_all orelse R =:= get_all_active orelse R =:= firmware_status)).
-define(DEFAULT_CONFIG, "/etc/fw_env.config").
%% The env as published: {Service, Serving, Env}, where Serving is an
%% atomics array whose element 1 is 1 while readers may answer from Env.
-define(PUBLISHED, {?MODULE, env}).

-type health() :: starting | ok | {error, term()}.

-record(st, {port :: pid(),
             subs :: sysport_subs:subs(),
             opts :: map(),
             source :: {config, binary()} | locations | {data_dir, binary()},
             %% this process, and 1 in serving while callers may read the
             %% env it published themselves
             service :: pid(),
             serving :: atomics:atomics_ref(),
             %% bytes of an env's data area (from the helper's ready info)
             room :: non_neg_integer() | undefined,
             health = starting :: health(),
             meta = #{} :: map(),
             writes = 0 :: non_neg_integer(),
             %% reads held while the env is read again after a helper restart
             held = none :: none | [{term(), gen_server:from()}],
             last_error = none :: term()}).

%%% API

%% @doc Starts the service with the app env options.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    start_link(#{}).

%% @doc Starts the service; Opts (a map or proplist, see {@link options/0})
%% are merged over the app env `{kv, Opts}' and the defaults.
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
    [{config, default, {any_of, [path, {enum, [default]}]},
      <<"a fw_env.config file; default: /etc/fw_env.config if it exists, else a redundant env in data_dir">>},
     {locations, [], {list, chardata}, <<"fw_env.config lines given inline (one: single, two: redundant)">>},
     {lock_file, "/var/lock/fw_printenv.lock", {any_of, [path, {enum, [none]}]},
      <<"the flock file shared with fw_printenv/fw_setenv, or none">>},
     {lock_timeout, 5000, non_neg_integer, <<"how long a request waits for that lock (ms)">>},
     {defaults, "/etc/u-boot-initial-env", path,
      <<"what recover/0 writes into a corrupt env (u-boot-initial-env format)">>},
     {timeout, 30000, pos_integer, <<"bound of every call, and of each request to the helper (ms)">>}].

%% @doc The value of Key.
-spec get(unicode:chardata()) -> {ok, binary()} | {error, not_found | term()}.
get(Key) ->
    with_key(Key, fun(K) -> read({get, K}) end).

%% @doc The whole env.
-spec get_all() -> {ok, sysport_kv_data:env()} | {error, term()}.
get_all() ->
    read(get_all).

%% @doc Sets Key to Value (synced and verified before it returns).
%% `{error, {invalid_key, K}}' for a key fw_printenv could not print back
%% (empty, or with `=', NUL or a newline, or starting with `#');
%% `{error, too_large}' for a pair that could not fit even an empty env,
%% `{error, no_space}' for one that does not fit beside the other keys.
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
    with_key(Key, fun(K) -> read({get_active, K}) end).

%% @doc The running slot's keys, without their prefix.
-spec get_all_active() -> {ok, sysport_kv_data:env()} | {error, no_active_firmware | term()}.
get_all_active() ->
    read(get_all_active).

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
    read(firmware_status).

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

%% @doc The base keys of {@link sysport_service} and the env's `source',
%% `scheme', `current' copy, `copies', `keys', `env_state' (`ok',
%% `starting' or the error every read gets), `last_env_error' and
%% `lock_file'; `writes' under `counters'.
-spec status() -> {ok, map()} | {error, not_running}.
status() ->
    sysport_service:status(?MODULE).

%% @doc Sends the caller `{sysport_kv, changed, Changes}' after each change.
-spec subscribe() -> ok | {error, term()}.
subscribe() ->
    sysport_service:subscribe(?MODULE).

%% @doc Subscribes Pid (on any node: through erpc, name your own pid), or
%% the caller with a filter (`#{}': kv has no filter keys).
-spec subscribe(pid() | map() | list()) -> ok | {error, term()}.
subscribe(PidOrFilter) ->
    sysport_service:subscribe(?MODULE, PidOrFilter).

%% @doc Subscribes Pid with a filter.
-spec subscribe(pid(), map() | list()) -> ok | {error, term()}.
subscribe(Pid, Filter) ->
    sysport_service:subscribe(?MODULE, Pid, Filter).

%% @doc Stops the caller's change messages.
-spec unsubscribe() -> ok | {error, term()}.
unsubscribe() ->
    sysport_service:unsubscribe(?MODULE).

%% @doc Stops Pid's messages.
-spec unsubscribe(pid()) -> ok | {error, term()}.
unsubscribe(Pid) ->
    sysport_service:unsubscribe(?MODULE, Pid).

with_key(Key, Fun) ->
    case sysport_kv_data:key(Key) of
        {ok, K} -> Fun(K);
        Error -> Error
    end.

call(Request) ->
    sysport_service:call(?MODULE, Request).

%% A read in the caller, on the published env, while the service that
%% published it runs and is in step with the devices; else a call.
read(Request) ->
    case persistent_term:get(?PUBLISHED, undefined) of
        {Service, Serving, Env} ->
            case atomics:get(Serving, 1) =:= 1 andalso is_process_alive(Service) of
                true -> read(Request, Env);
                false -> call(Request)
            end;
        undefined ->
            call(Request)
    end.

%%% sysport_service

%% @private
-spec helper(map()) -> {ok, string(), [iodata()]} | {error, term()}.
helper(Opts) ->
    case source(Opts) of
        {ok, _, SourceArgs} -> {ok, "sysport_kv", SourceArgs ++ lock_args(Opts)};
        {error, _} = Error -> Error
    end.

%% @private
-spec init(map(), sysport_service:ctx()) -> {ok, #st{}}.
init(Opts, #{port := Port, subs := Subs}) ->
    {ok, Source, _} = source(Opts),
    %% The env is read before the first call is taken; the helper's first
    %% ready needs nothing more.
    receive {sysport_port, Port, {ready, _}} -> ok after 0 -> ok end,
    St = #st{port = Port, subs = Subs, opts = Opts, source = Source, service = self(), serving = atomics:new(1, []),
             room = room(sysport_port:info(Port))},
    publish(#{}, St),
    {ok, serve(loaded(sysport_port:call(Port, {load, none}, maps:get(timeout, Opts)), St))}.

%% Where the env is: inline locations, the config file, or (on a host with
%% neither) a file-backed pair in data_dir.
source(#{locations := [_ | _] = Lines}) ->
    {ok, locations, [["--location=", L] || L <- Lines]};
source(#{config := default}) ->
    case filelib:is_regular(?DEFAULT_CONFIG) of
        true -> source(#{config => ?DEFAULT_CONFIG});
        false -> dev_source()
    end;
source(#{config := Config}) ->
    Path = unicode:characters_to_binary(Config),
    {ok, {config, Path}, [["--config=", Path]]}.

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
        %% Mode 0600, never through a symlink, never half-written.
        _ -> sysport_file:write(Path, Bin)
    end.

lock_args(#{lock_file := none}) ->
    ["--no-lock"];
lock_args(#{lock_file := File, lock_timeout := Ms}) ->
    [["--lock=", File], ["--lock-timeout=", integer_to_list(Ms)]].

%% @private
-spec handle_call(term(), gen_server:from(), #st{}) -> {reply, term(), #st{}} | {noreply, #st{}}.
handle_call(Request, From, St) when ?IS_READ(Request) ->
    case St#st.held of
        none -> {reply, with_env(St, fun(Env) -> read(Request, Env) end), St};
        Held -> {noreply, St#st{held = [{Request, From} | Held]}}
    end;
handle_call({update, Puts, Deletes}, From, St) ->
    update(Puts, Deletes, From, St);
handle_call({put_active, K, V}, From, St) ->
    case with_active(St, fun(Prefix, _) -> {ok, <<Prefix/binary, K/binary>>} end) of
        {ok, Key} -> update([{Key, V}], [], From, St);
        Error -> {reply, Error, St}
    end;
handle_call(validate_firmware, From, St) ->
    case with_env(St, fun sysport_kv_data:validate_updates/1) of
        {ok, Puts} -> update(Puts, [], From, St);
        Error -> {reply, Error, St}
    end;
handle_call(reload, From, St) ->
    {noreply, helper(St, {load, version(St)}, {load, From})};
handle_call(recover, From, #st{opts = #{defaults := File}} = St) ->
    Defaults = case file:read_file(File) of
                   {ok, Text} -> sysport_kv_data:parse_defaults(Text);
                   {error, _} -> []
               end,
    {noreply, helper(St, {recover, Defaults}, {recover, From})};
handle_call(_Other, _From, St) ->
    {reply, {error, badarg}, St}.

%% Reads are answered from memory: the published env.
read({get, K}, Env) ->
    lookup(K, Env);
read(get_all, Env) ->
    {ok, Env};
read({get_active, K}, Env) ->
    active(Env, fun(Prefix) -> lookup(<<Prefix/binary, K/binary>>, Env) end);
read(get_all_active, Env) ->
    active(Env, fun(Prefix) -> {ok, sysport_kv_data:strip_prefix(Prefix, Env)} end);
read(firmware_status, Env) ->
    sysport_kv_data:firmware_status(Env).

active(Env, Fun) ->
    case sysport_kv_data:active_prefix(Env) of
        {ok, Prefix} -> Fun(Prefix);
        Error -> Error
    end.

%% @private
-spec handle_info(term(), #st{}) -> {noreply, #st{}}.
handle_info({sysport_port, Port, {reply, {reload, _} = Tag, Result}}, #st{port = Port} = St) ->
    St1 = reply(Tag, Result, St),
    _ = [gen_server:reply(From, with_env(St1, fun(Env) -> read(Request, Env) end))
         || {Request, From} <- lists:reverse(St1#st.held)],
    {noreply, serve(St1#st{held = none})};
handle_info({sysport_port, Port, {reply, Tag, Result}}, #st{port = Port} = St) ->
    {noreply, serve(reply(Tag, Result, St))};
handle_info({sysport_port, Port, {ready, Info}}, #st{port = Port} = St) ->
    %% After a restart of the helper the env may have changed while it was
    %% down: reads wait (as long as the helper's timeout at most) for it to
    %% be read again, rather than get what may be stale.
    {noreply, serve((helper(St#st{room = room(Info)}, {load, version(St)}, {reload, none}))#st{held = []})};
handle_info(collect, St) ->
    %% A whole env read from the helper is garbage now that it is published;
    %% the state that held it was dropped when the last callback returned.
    true = erlang:garbage_collect(),
    {noreply, St};
handle_info(_Msg, St) ->
    {noreply, St}.

%% @private
-spec terminate(term(), #st{}) -> ok.
terminate(_Reason, _St) ->
    Self = self(),
    case persistent_term:get(?PUBLISHED, undefined) of
        {Self, _, _} -> _ = persistent_term:erase(?PUBLISHED), ok;
        _ -> ok
    end.

%%% Reading and writing

with_env(#st{health = ok}, Fun) -> Fun(env());
with_env(#st{health = starting}, _) -> {error, starting};
with_env(#st{health = Error}, _) -> Error.

with_active(St, Fun) ->
    with_env(St, fun(Env) -> active(Env, fun(Prefix) -> Fun(Prefix, Env) end) end).

%% The env this service published (a literal: not on its heap).
env() ->
    element(3, persistent_term:get(?PUBLISHED)).

publish(Env, #st{service = Service, serving = Serving}) ->
    persistent_term:put(?PUBLISHED, {Service, Serving, Env}).

%% Lets callers read the published env themselves while it is the env of
%% the devices as far as the service knows: healthy, and not being read
%% again after a helper restart.
serve(#st{serving = Serving, health = Health, held = Held} = St) ->
    ok = atomics:put(Serving, 1, case {Health, Held} of {ok, none} -> 1; _ -> 0 end),
    St.

lookup(K, Env) ->
    case Env of
        #{K := V} -> {ok, V};
        _ -> {error, not_found}
    end.

%% Requests go out without waiting: reads are answered meanwhile, and each
%% caller gets its own answer (or timeout) when the helper gives it.
helper(#st{port = Port, opts = #{timeout := Timeout}} = St, Request, Tag) ->
    ok = sysport_port:request(Port, Request, Timeout, Tag),
    St.

update(Puts, Deletes, From, #st{room = Room} = St) ->
    %% What could not fit even an empty env (a 10 MB value) is refused here:
    %% the helper would only say no_space, after reading the env for it.
    case is_integer(Room) andalso sysport_kv_data:data_size(Puts) > Room of
        true -> {reply, {error, too_large}, St};
        false -> {noreply, helper(St, {update, Puts, Deletes, version(St)}, {update, From, Puts, Deletes})}
    end.

%% The data area of the env the helper was configured with: its size less
%% the CRC (and the flags byte of a redundant pair).
room(#{env_size := Size, redundant := Redundant}) when Size > 0 ->
    Size - case Redundant of true -> 5; false -> 4 end;
room(_) ->
    undefined.

reply({reload, From}, Result, St) ->
    reply({load, From}, Result, St);
reply({load, From}, Result, St) ->
    St1 = serve(loaded(Result, St)),
    answer(From, case Result of {ok, _} -> ok; Error -> Error end),
    St1;
reply({update, From, Puts, Deletes}, Result, St) ->
    case Result of
        {ok, Snapshot} ->
            %% Published (and served) before the caller hears ok: a read
            %% after the put sees it.
            St1 = serve(snapshot(Snapshot, {Puts, Deletes}, St)),
            answer(From, ok),
            St1;
        {error, {Unusable, _} = Reason} = Error when Unusable =:= corrupt_env; Unusable =:= unreadable ->
            St1 = serve(St#st{health = Error, last_error = Reason}),
            answer(From, Error),
            St1;
        {error, Reason} = Error ->
            answer(From, Error),
            St#st{last_error = Reason}
    end;
reply({recover, From}, Result, St) ->
    case Result of
        {ok, #{action := Action} = Snapshot} ->
            _ = Action =:= none orelse logger:notice("sysport_kv: recovered the env (~s)", [Action]),
            St1 = serve(snapshot(Snapshot, {[], []}, St)),
            answer(From, {ok, Action}),
            St1;
        {error, Reason} = Error ->
            answer(From, Error),
            St#st{last_error = Reason}
    end.

answer(none, _) -> ok;
answer(From, Reply) -> gen_server:reply(From, Reply).

%% The result of a load, and the state with it.
loaded({ok, Snapshot}, St) ->
    snapshot(Snapshot, {[], []}, St);
loaded({error, {What, _} = Reason} = Error, St) when What =:= corrupt_env; What =:= unreadable; What =:= bad_config ->
    St#st{health = Error, last_error = Reason};
loaded({error, Reason} = Error, #st{health = starting} = St) ->
    St#st{health = Error, last_error = Reason};
loaded({error, Reason}, St) ->
    %% A passing failure (a lock held too long, the helper restarting)
    %% says nothing new about the env.
    St#st{last_error = Reason}.

%% The version of the env held here, for the helper to leave the entries
%% out of its reply when they have not changed.
version(#st{health = ok, meta = #{version := Version}}) -> Version;
version(_) -> none.

%% Takes a snapshot from the helper as the env, and tells subscribers what
%% changed. Without entries the snapshot says that the env was at our
%% version, and Change ({Puts, Deletes}) is what the helper did to it.
snapshot(#{action := Action} = Snapshot, Change, #st{subs = Subs} = St) ->
    case Snapshot of
        #{env := _} ->
            notify(publish(Snapshot, Change, St), Subs),
            self() ! collect;
        #{action := none} ->
            ok; % the env was at our version, and the change changed nothing
        #{} ->
            notify(publish(Snapshot, Change, St), Subs)
    end,
    Writes = case Action of none -> St#st.writes; _ -> St#st.writes + 1 end,
    St#st{health = ok, meta = maps:remove(env, Snapshot), writes = Writes}.

%% Publishes the env the snapshot says the devices hold, and returns what
%% changed for subscribers (nothing without them). The work is done in a
%% process of its own: replacing a persistent term copies whatever still
%% points into the old one onto the heap of each process that holds it,
%% and the new env shares most of the old one; that copy, of the whole env,
%% must not land on the service's heap.
publish(Snapshot, Change, #st{subs = Subs} = St) ->
    Subscribed = sysport_subs:count(Subs) > 0,
    Self = self(),
    {Pid, Ref} = spawn_monitor(fun() -> Self ! {published, self(), publish_env(Snapshot, Change, Subscribed, St)} end),
    receive
        {published, Pid, Changes} -> erlang:demonitor(Ref, [flush]), Changes;
        {'DOWN', Ref, process, Pid, Reason} -> exit(Reason)
    end.

publish_env(Snapshot, {Puts, Deletes}, Subscribed, St) ->
    Old = env(),
    New = case Snapshot of
              #{env := Pairs} -> maps:from_list(Pairs);
              #{} -> maps:without(Deletes, maps:merge(Old, maps:from_list(Puts)))
          end,
    publish(New, St),
    %% Comparing two whole envs costs as much as reading one: only for
    %% subscribers, and only the keys touched when those are known.
    case {Subscribed, Snapshot} of
        {false, _} -> #{};
        {true, #{env := _}} -> sysport_kv_data:diff(Old, New);
        {true, #{}} ->
            Keys = [K || {K, _} <- Puts] ++ Deletes,
            sysport_kv_data:diff(maps:with(Keys, Old), maps:with(Keys, New))
    end.

notify(Changes, _) when map_size(Changes) =:= 0 ->
    ok;
notify(Changes, Subs) ->
    sysport_service:notify(Subs, {sysport_kv, changed, Changes}, fun(_) -> true end).

%% @private
-spec status(#st{}) -> map().
status(#st{} = St) ->
    Meta = maps:without([action], St#st.meta),
    maps:merge(Meta, #{source => St#st.source,
                       env_state => case St#st.health of ok -> ok; starting -> starting; {error, E} -> E end,
                       keys => map_size(env()),
                       counters => #{writes => St#st.writes},
                       last_env_error => St#st.last_error,
                       lock_file => case maps:get(lock_file, St#st.opts) of
                                        none -> none;
                                        F -> unicode:characters_to_binary(F)
                                    end}).
