%% sysport used from another node. Node A runs sysport (its own data_dir,
%% the helpers of `make ct', SYSPORT_TIME_CLOCK=recording); node B has no
%% sysport code at all and reaches A with erpc. The ct node itself stays
%% undistributed: it drives both peers over their standard_io connection.
%%
%% Checked: every service's API answers B; a process on B subscribes to
%% A's services and gets the very tuples a subscriber on A gets; when a
%% subscribing node dies (SIGKILL: a netsplit, as A sees it) A's services
%% drop its subscribers and keep running; subscribing a dead remote pid
%% harms nothing.
-module(sysport_dist_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([api_from_another_node/1, shell_output_on_the_calling_node/1,
         remote_subscribers_get_local_tuples/1, nodedown_drops_remote_subscribers/1,
         dead_remote_pid_subscribes_harmlessly/1, stalled_remote_subscriber_stalls_nothing/1]).
%% run on the peers
-export([start_sink/0, messages/1, await/3, io_of/4, attach_here/2, watch/1]).

-define(TIMEOUT, 10000).
-define(LO, <<"/devices/virtual/net/lo">>).

all() ->
    [api_from_another_node, shell_output_on_the_calling_node, remote_subscribers_get_local_tuples,
     nodedown_drops_remote_subscribers, dead_remote_pid_subscribes_harmlessly,
     stalled_remote_subscriber_stalls_nothing].

init_per_suite(Config) ->
    Priv = ?config(priv_dir, Config),
    DataDir = filename:join(Priv, "a_data"),
    ok = filelib:ensure_dir(filename:join(DataDir, "x")),
    %% A small env of the test's own, never the host's.
    Image = filename:join(Priv, "uboot-env"),
    EnvConfig = sysport_kv_test_lib:write_config(Priv, [{Image, 0, 16#4000}]),
    ok = sysport_kv_test_lib:mkenvimage(Image, [{<<"greeting">>, <<"hello">>}], 16#4000, []),
    {PeerA, A} = start_node("sysport_dist_a", [filename:dirname(code:which(sysport))], Priv),
    Env = [{data_dir, DataDir},
           {kmsg, #{seq_file => filename:join(Priv, "kmsg.seq")}},
           {kv, #{config => EnvConfig, lock_file => filename:join(Priv, "fw_printenv.lock"),
                  defaults => filename:join(Priv, "no-defaults")}},
           {time, #{servers => []}}],
    ok = peer:call(PeerA, application, load, [sysport]),
    [ok = peer:call(PeerA, application, set_env, [sysport, K, V]) || {K, V} <- Env],
    {ok, _} = peer:call(PeerA, application, ensure_all_started, [sysport], 60000),
    {PeerB, B} = start_node("sysport_dist_b", [], Priv),
    [{peer_a, PeerA}, {node_a, A}, {peer_b, PeerB}, {node_b, B}, {a_data_dir, DataDir} | Config].

end_per_suite(Config) ->
    [catch peer:stop(?config(P, Config)) || P <- [peer_b, peer_a]],
    ok.

%% A peer with this suite's code (for the sinks), and Paths. It inherits
%% this node's environment (SYSPORT_HELPER_DIR and the sanitizer options
%% of `make ct'); the clock stays recording whatever that says. Its log
%% goes to a file in LogDir: on the console (the standard_io connection)
%% the kernel log forwarded to logger would fill the ct output. Its
%% distribution buffers are tiny (socket buffers and +zdbbl) so that a
%% few messages to a node that stopped reading fill them.
start_node(Prefix, Paths, LogDir) ->
    SuiteDir = filename:dirname(code:which(?MODULE)),
    Name = peer:random_name(Prefix),
    Log = filename:join(LogDir, Name ++ ".log"),
    Bufs = "[{sndbuf,4096},{recbuf,4096}]",
    Args = lists:append([["-pa", P] || P <- [SuiteDir | Paths]]) ++
        ["-kernel", "logger", lists:flatten(io_lib:format("[{handler,default,logger_std_h,#{config=>#{file=>~p}}}]", [Log])),
         "-kernel", "inet_dist_listen_options", Bufs, "-kernel", "inet_dist_connect_options", Bufs,
         "+zdbbl", "1"],
    {ok, Peer, Node} = peer:start(#{name => Name, connection => standard_io,
                                    args => Args, env => [{"SYSPORT_TIME_CLOCK", "recording"}],
                                    wait_boot => 30000}),
    {Peer, Node}.

%%% Cases

api_from_another_node(Config) ->
    A = ?config(node_a, Config),
    Call = fun(M, F, Args) -> from_b(Config, M, F, Args) end,
    %% B really has no sysport: the results are plain data.
    ?assertEqual(non_existing, on(peer_b, Config, code, which, [sysport_kv])),
    ?assertEqual(A, on(peer_b, Config, erpc, call, [A, erlang, node, []])),
    %% A runs what make ct built, on the recording clock.
    ?assertEqual(sysport_env:helper_dir(), Call(sysport_env, helper_dir, [])),
    ?assertEqual("recording", Call(os, getenv, ["SYSPORT_TIME_CLOCK"])),

    %% kv
    ?assertEqual({ok, <<"hello">>}, Call(sysport_kv, get, ["greeting"])),
    ?assertEqual(ok, Call(sysport_kv, put, ["dist_key", "from B"])),
    ?assertEqual(ok, Call(sysport_kv, put, [#{<<"dist_a">> => <<"1">>, "dist_b" => "2"}])),
    ?assertEqual({ok, #{<<"greeting">> => <<"hello">>, <<"dist_key">> => <<"from B">>,
                        <<"dist_a">> => <<"1">>, <<"dist_b">> => <<"2">>}},
                 Call(sysport_kv, get_all, [])),
    ?assertEqual(ok, Call(sysport_kv, delete, [[<<"dist_a">>, <<"dist_b">>]])),
    ?assertEqual({error, not_found}, Call(sysport_kv, get, ["dist_a"])),
    ?assertMatch({ok, #{helper := #{}, subscribers := 0}}, Call(sysport_kv, status, [])),

    %% kmsg: a record written to the kernel log now is in A's dmesg.
    Tag = inject_kmsg(),
    {ok, Records} = Call(sysport_kmsg, dmesg, [#{facility => user}]),
    ?assertMatch([#{level := notice, facility := user}], with_tag(Tag, Records)),
    ?assertMatch({ok, #{available := true, helper := #{}}}, Call(sysport_kmsg, status, [])),

    %% uevent
    {ok, Devices} = Call(sysport_uevent, devices, [#{subsystem => "net"}]),
    ?assertMatch(#{?LO := #{<<"INTERFACE">> := <<"lo">>}}, Devices),
    ?assertMatch({ok, #{<<"SUBSYSTEM">> := <<"net">>}}, Call(sysport_uevent, get, [?LO])),
    ?assertEqual({error, not_found}, Call(sysport_uevent, get, ["/devices/no/such/device"])),
    ?assertMatch({ok, #{helper := #{}}}, Call(sysport_uevent, status, [])),

    %% ringlog: logged on A, read from B.
    Note = unique(<<"dist ringlog note ">>),
    ok = Call(logger, notice, ["~ts", [Note]]),
    {ok, _} = Call(sysport_ringlog, sync, []),
    {ok, [#{level := notice, msg := Note}]} = Call(sysport_ringlog, grep, [Note]),
    {ok, Tail} = Call(sysport_ringlog, tail, [200]),
    ?assertMatch([#{msg := Note}], [R || #{msg := M} = R <- Tail, M =:= Note]),
    {ok, [#{seq := Seq}]} = Call(sysport_ringlog, grep, [Note]),
    ?assertMatch({ok, [#{seq := Seq, msg := Note}]},
                 Call(sysport_ringlog, get, [#{from_seq => Seq, count => 1}])),
    ?assertMatch({ok, #{last_seq := S}} when S >= Seq, Call(sysport_ringlog, status, [])),

    %% time: no servers, the recording clock.
    ?assertMatch({ok, #{ntp := disabled, clock_forced := true, helper := #{}}},
                 Call(sysport_time, status, [])),
    ?assertEqual({ok, false}, Call(sysport_time, synchronized, [])),
    ?assertEqual({ok, []}, Call(sysport_time, servers, [])),
    ?assertMatch({ok, _}, Call(sysport_time, recorded, [])),

    %% sensors (this host may have no hwmon: the answers still come)
    {ok, Chips} = Call(sysport_sensors, read_all, []),
    ?assert(is_list(Chips)),
    ?assertMatch({error, {no_such_chip, _}}, Call(sysport_sensors, read, ["no-such-chip-0", "temp1"])),
    ?assertMatch({ok, #{helper := #{}}}, Call(sysport_sensors, status, [])),

    %% the facade's data
    Services = Call(sysport, services, []),
    ?assertEqual([ringlog, kmsg, uevent, time, kv, sensors], [S || #{service := S} <- Services]),
    [?assertMatch(#{pid := P, status := #{helper := _}} when node(P) =:= A, S) || S <- Services].

%% The shell functions print where they are called from.
shell_output_on_the_calling_node(Config) ->
    A = ?config(node_a, Config),
    {ok, Text} = on(peer_b, Config, ?MODULE, io_of, [A, sysport, status, []]),
    DataDir = unicode:characters_to_binary(?config(a_data_dir, Config)),
    [?assertNotEqual(nomatch, binary:match(Text, Word), Word)
     || Word <- [<<"kmsg">>, <<"uevent">>, <<"sensors">>, <<"data_dir: ", DataDir/binary>>]],
    {ok, Kv} = on(peer_b, Config, ?MODULE, io_of, [A, sysport, kv, []]),
    ?assertNotEqual(nomatch, binary:match(Kv, <<"greeting">>)).

%% A process on B subscribes to every service of A; what it gets is what a
%% process on A subscribed the same way gets.
remote_subscribers_get_local_tuples(Config) ->
    Remote = on(peer_b, Config, ?MODULE, start_sink, []),
    Local = on(peer_a, Config, ?MODULE, start_sink, []),
    Before = subscriber_counts(Config),
    subscribe_all(Config, Remote, on(peer_b, Config)),
    subscribe_all(Config, Local, on(peer_a, Config)),
    ?assertEqual(maps:map(fun(_, N) -> N + 2 end, Before), subscriber_counts(Config)),

    %% kmsg: a record injected into the kernel log
    Tag = inject_kmsg(),
    Kmsg = same_at_both(Config, Remote, Local,
                        fun({sysport_kmsg, record, #{message := M}}) -> binary:match(M, Tag) =/= nomatch;
                           (_) -> false
                        end),
    ?assertMatch({sysport_kmsg, record, #{level := notice, facility := user, seq := _}}, Kmsg),

    %% uevent: the kernel's change event for lo
    ok = file:write_file("/sys/class/net/lo/uevent", "change"),
    Uevent = same_at_both(Config, Remote, Local,
                          fun({sysport_uevent, change, #{devpath := ?LO}}) -> true; (_) -> false end),
    ?assertMatch({sysport_uevent, change, #{devpath := ?LO, props := #{<<"ACTION">> := <<"change">>, <<"SEQNUM">> := _}}}, Uevent),

    %% kv: a change made from B
    ok = from_b(Config, sysport_kv, put, ["dist_sub", "1"]),
    ?assertEqual({sysport_kv, changed, #{<<"dist_sub">> => {undefined, <<"1">>}}},
                 same_at_both(Config, Remote, Local, fun({sysport_kv, changed, _}) -> true; (_) -> false end)),

    %% time: set by hand (recorded, not done: the host clock stays)
    Target = os:system_time(second) + 3600,
    ok = from_b(Config, sysport_time, set_time, [Target]),
    ?assertMatch({sysport_time, clock_step, #{reason := manual}},
                 same_at_both(Config, Remote, Local, fun({sysport_time, clock_step, _}) -> true; (_) -> false end)),
    {ok, Recorded} = from_b(Config, sysport_time, recorded, []),
    ?assert(lists:any(fun(#{op := set, ns := Ns}) -> Ns =:= Target * 1000000000; (_) -> false end, Recorded)),

    %% ringlog: B attached, a record logged on A is printed on B
    Note = unique(<<"dist attached note ">>),
    ok = on(peer_a, Config, logger, warning, ["~ts", [Note]]),
    Printed = await_io(Config, peer_b, Remote, Note),
    ?assertNotEqual(nomatch, binary:match(Printed, <<"warning">>)),
    ?assertEqual(Printed, await_io(Config, peer_a, Local, Note)),

    %% Unsubscribing by pid from B, and everything is back as it was.
    unsubscribe_all(Config, Remote, on(peer_b, Config)),
    unsubscribe_all(Config, Local, on(peer_a, Config)),
    ?assertEqual(Before, subscriber_counts(Config)).

%% Node C subscribes everywhere and is killed: A's services see its
%% processes go down with `noconnection', drop them, and go on.
nodedown_drops_remote_subscribers(Config) ->
    Before = subscriber_counts(Config),
    Pids = service_pids(Config),
    {PeerC, C} = start_node("sysport_dist_c", [], ?config(priv_dir, Config)),
    Sink = peer:call(PeerC, ?MODULE, start_sink, []),
    subscribe_all(Config, Sink, fun(M, F, As) -> peer:call(PeerC, M, F, As, ?TIMEOUT + 1000) end),
    ?assertEqual(maps:map(fun(_, N) -> N + 1 end, Before), subscriber_counts(Config)),
    Watcher = on(peer_a, Config, ?MODULE, watch, [Sink]),
    OsPid = peer:call(PeerC, os, getpid, []),
    "" = os:cmd("kill -9 " ++ OsPid),
    ?assertMatch({'DOWN', _, process, Sink, noconnection},
                 on(peer_a, Config, ?MODULE, await, [Watcher, fun({'DOWN', _, _, _, _}) -> true; (_) -> false end, ?TIMEOUT],
                    ?TIMEOUT + 1000)),
    ?assertEqual(Before, wait_counts(Config, Before, 50)),
    ?assertNot(lists:member(C, on(peer_a, Config, erlang, nodes, []))),
    %% Still running, the same processes, and events still flow to B.
    ?assertEqual(Pids, service_pids(Config)),
    Remote = on(peer_b, Config, ?MODULE, start_sink, []),
    ok = from_b(Config, sysport_kmsg, subscribe, [Remote, #{}]),
    Tag = inject_kmsg(),
    {sysport_kmsg, record, _} = on(peer_b, Config, ?MODULE, await,
                           [Remote, fun({sysport_kmsg, record, #{message := M}}) -> binary:match(M, Tag) =/= nomatch;
                                       (_) -> false
                                    end, ?TIMEOUT], ?TIMEOUT + 1000),
    ok = from_b(Config, sysport_kmsg, unsubscribe, [Remote]),
    ?assertEqual(Before, subscriber_counts(Config)),
    %% The peer's control process went with the node.
    ?assertNot(is_process_alive(PeerC)).

%% A pid that is dead on a live node, and one of a node that is gone.
dead_remote_pid_subscribes_harmlessly(Config) ->
    Before = subscriber_counts(Config),
    Pids = service_pids(Config),
    Dead = on(peer_b, Config, erlang, spawn, [erlang, is_atom, [x]]),
    ?assertEqual(false, on(peer_b, Config, erlang, is_process_alive, [Dead])),
    {PeerC, _} = start_node("sysport_dist_gone", [], ?config(priv_dir, Config)),
    Gone = peer:call(PeerC, ?MODULE, start_sink, []),
    ok = peer:stop(PeerC),
    Call = fun(M, F, As) -> from_b(Config, M, F, As) end,
    [subscribe_all(Config, P, on(peer_b, Config)) || P <- [Dead, Gone]],
    %% Events sent their way go nowhere.
    _ = inject_kmsg(),
    ok = file:write_file("/sys/class/net/lo/uevent", "change"),
    ok = Call(sysport_kv, put, ["dist_dead", "1"]),
    ok = on(peer_a, Config, logger, notice, ["to nobody"]),
    ?assertEqual(Before, wait_counts(Config, Before, 50)),
    ?assertEqual(Pids, service_pids(Config)),
    ?assertMatch({ok, #{<<"dist_dead">> := <<"1">>}}, Call(sysport_kv, get_all, [])).

%% Node B stops reading (SIGSTOP: a link gone quiet, before the tick
%% declares the node down) while a service keeps telling it things: the
%% service must not wait for B. The messages B cannot take are dropped; B
%% stays subscribed and hears what comes after it reads again.
stalled_remote_subscriber_stalls_nothing(Config) ->
    Sink = on(peer_b, Config, ?MODULE, start_sink, []),
    ok = from_b(Config, sysport_kv, subscribe, [Sink]),
    {ok, #{subscribers := Subscribed, counters := #{remote_dropped := Dropped0}}} = on(peer_a, Config, sysport_kv, status, []),
    OsPid = on(peer_b, Config, os, getpid, []),
    "" = os:cmd("kill -STOP " ++ OsPid),
    try
        %% About 8 KB per change message: far more than B's buffers hold.
        [?assertEqual(ok, on(peer_a, Config, sysport_kv, put, ["dist_big", binary:copy(<<($a + I rem 26)>>, 4000)]))
         || I <- lists:seq(1, 40)],
        ?assertMatch({ok, #{subscribers := Subscribed}}, on(peer_a, Config, sysport_kv, status, []))
    after
        os:cmd("kill -CONT " ++ OsPid)
    end,
    %% An erpc reply to B queues behind whatever A still has for B: once
    %% it is back, the connection is drained.
    A = ?config(node_a, Config),
    A = from_b(Config, erlang, node, []),
    ok = on(peer_a, Config, sysport_kv, put, ["dist_big", "after"]),
    {sysport_kv, changed, _} =
        on(peer_b, Config, ?MODULE, await,
           [Sink, fun({sysport_kv, changed, #{<<"dist_big">> := {_, <<"after">>}}}) -> true; (_) -> false end,
            ?TIMEOUT], ?TIMEOUT + 1000),
    Got = length([M || {sysport_kv, changed, _} = M <- on(peer_b, Config, ?MODULE, messages, [Sink])]),
    {ok, #{counters := #{remote_dropped := Dropped1}}} = on(peer_a, Config, sysport_kv, status, []),
    ct:log("B got ~b of the 41 change messages; A counted ~b dropped", [Got, Dropped1 - Dropped0]),
    %% Every message is either delivered or counted as dropped.
    ?assert(Dropped1 > Dropped0),
    ?assertEqual(41, Got + Dropped1 - Dropped0),
    ?assert(lists:member(?config(node_b, Config), on(peer_a, Config, erlang, nodes, []))),
    ok = from_b(Config, sysport_kv, unsubscribe, [Sink]).

%%% Subscribing

%% Sink subscribed to every service of A through erpc from the node Here
%% runs things on (the sink's own node, but for a sink that is gone).
subscribe_all(Config, Sink, Here) ->
    A = ?config(node_a, Config),
    Call = fun(M, F, As) -> Here(erpc, call, [A, M, F, As, ?TIMEOUT]) end,
    ok = Call(sysport_kmsg, subscribe, [Sink, #{}]),
    ok = Call(sysport_uevent, subscribe, [Sink, #{subsystem => <<"net">>}]),
    ok = Call(sysport_kv, subscribe, [Sink]),
    ok = Call(sysport_time, subscribe, [Sink]),
    ok = Call(sysport_sensors, subscribe, [Sink, #{}]),
    %% ringlog prints to the caller's group leader: the sink is one.
    ok = Here(?MODULE, attach_here, [A, Sink]).

unsubscribe_all(Config, Sink, Here) ->
    A = ?config(node_a, Config),
    Call = fun(M, F, As) -> Here(erpc, call, [A, M, F, As, ?TIMEOUT]) end,
    ok = Call(sysport_kmsg, unsubscribe, [Sink]),
    ok = Call(sysport_uevent, unsubscribe, [Sink]),
    ok = Call(sysport_kv, unsubscribe, [Sink]),
    ok = Call(sysport_time, unsubscribe, [Sink]),
    ok = Call(sysport_sensors, unsubscribe, [Sink]),
    ok = Call(sysport_ringlog, detach, [Sink]).

subscriber_counts(Config) ->
    Count = fun(Mod, Key) ->
                    {ok, #{Key := N}} = on(peer_a, Config, Mod, status, []),
                    N
            end,
    #{kmsg => Count(sysport_kmsg, subscribers), uevent => Count(sysport_uevent, subscribers),
      kv => Count(sysport_kv, subscribers), time => Count(sysport_time, subscribers),
      sensors => Count(sysport_sensors, subscribers), ringlog => Count(sysport_ringlog, attached)}.

wait_counts(Config, Want, Tries) ->
    case subscriber_counts(Config) of
        Want -> Want;
        Other when Tries =:= 0 -> Other;
        _ -> timer:sleep(100), wait_counts(Config, Want, Tries - 1)
    end.

service_pids(Config) ->
    [{S, P} || #{service := S, pid := P} <- on(peer_a, Config, sysport, services, [])].

same_at_both(Config, Remote, Local, Pred) ->
    Got = on(peer_b, Config, ?MODULE, await, [Remote, Pred, ?TIMEOUT], ?TIMEOUT + 1000),
    ?assertEqual(Got, on(peer_a, Config, ?MODULE, await, [Local, Pred, ?TIMEOUT], ?TIMEOUT + 1000)),
    Got.

await_io(Config, Peer, Sink, Text) ->
    {io, Line} = on(Peer, Config, ?MODULE, await,
                    [Sink, fun({io, B}) -> binary:match(B, Text) =/= nomatch; (_) -> false end, ?TIMEOUT],
                    ?TIMEOUT + 1000),
    Line.

%%% Calls

%% erpc from node B to node A.
from_b(Config, M, F, Args) ->
    on(peer_b, Config, erpc, call, [?config(node_a, Config), M, F, Args, ?TIMEOUT], ?TIMEOUT + 1000).

on(Peer, Config, M, F, Args) ->
    on(Peer, Config, M, F, Args, ?TIMEOUT + 1000).

%% A fun running things on Peer.
on(Peer, Config) ->
    fun(M, F, Args) -> on(Peer, Config, M, F, Args) end.

on(Peer, Config, M, F, Args, Timeout) ->
    peer:call(?config(Peer, Config), M, F, Args, Timeout).

inject_kmsg() ->
    Tag = unique(<<"sysport_dist_SUITE ">>),
    ok = file:write_file("/dev/kmsg", <<"<13>", Tag/binary, "\n">>),
    Tag.

with_tag(Tag, Records) ->
    [R || #{message := M} = R <- Records, binary:match(M, Tag) =/= nomatch].

unique(Prefix) ->
    <<Prefix/binary, (integer_to_binary(erlang:unique_integer([positive])))/binary, "-",
      (list_to_binary(os:getpid()))/binary>>.

%%% On the peers

%% A process keeping what it receives, and an I/O server too (so it can be
%% the group leader ringlog prints to): {io, Text} for what is printed.
-spec start_sink() -> pid().
start_sink() ->
    spawn(fun() -> sink([]) end).

sink(Got) ->
    receive
        {sink_messages, From, Ref} ->
            From ! {Ref, lists:reverse(Got)},
            sink(Got);
        {io_request, From, ReplyAs, Request} ->
            {Reply, Printed} = io_request(Request),
            From ! {io_reply, ReplyAs, Reply},
            sink([{io, P} || P <- Printed] ++ Got);
        Msg ->
            sink([Msg | Got])
    end.

io_request({put_chars, Enc, Chars}) ->
    {ok, [unicode:characters_to_binary(Chars, Enc)]};
io_request({put_chars, Enc, M, F, A}) ->
    io_request({put_chars, Enc, apply(M, F, A)});
io_request({requests, Requests}) ->
    lists:foldl(fun(R, {_, Acc}) -> {Reply, P} = io_request(R), {Reply, Acc ++ P} end, {ok, []}, Requests);
io_request(getopts) ->
    {[{encoding, unicode}], []};
io_request(_) ->
    {{error, enotsup}, []}.

-spec messages(pid()) -> [term()].
messages(Sink) ->
    Ref = make_ref(),
    Sink ! {sink_messages, self(), Ref},
    receive {Ref, Msgs} -> Msgs after ?TIMEOUT -> error(sink_timeout) end.

%% The first message Pred accepts, within Timeout ms.
-spec await(pid(), fun((term()) -> boolean()), non_neg_integer()) -> term().
await(Sink, Pred, Timeout) ->
    case lists:search(Pred, messages(Sink)) of
        {value, Msg} -> Msg;
        false when Timeout =< 0 -> {timeout, [{received, length(messages(Sink))}]};
        false -> timer:sleep(50), await(Sink, Pred, Timeout - 50)
    end.

%% What M:F(Args) on Node prints, called through erpc from here.
-spec io_of(node(), module(), atom(), list()) -> {ok, binary()}.
io_of(Node, M, F, Args) ->
    Sink = start_sink(),
    ok = spawn_monitor_call(Sink, fun() -> erpc:call(Node, M, F, Args, ?TIMEOUT) end),
    {ok, iolist_to_binary([B || {io, B} <- messages(Sink)])}.

%% ringlog's attach for Owner, printing to Owner (its group leader here).
-spec attach_here(node(), pid()) -> ok | {error, term()}.
attach_here(Node, Owner) ->
    spawn_monitor_call(Owner, fun() -> erpc:call(Node, sysport_ringlog, attach, [Owner, #{}], ?TIMEOUT) end).

%% Fun's result, in a process whose group leader is GroupLeader.
spawn_monitor_call(GroupLeader, Fun) ->
    Self = self(),
    {Pid, Ref} = spawn_monitor(fun() -> group_leader(GroupLeader, self()), Self ! {self(), Fun()} end),
    receive
        {Pid, Result} -> erlang:demonitor(Ref, [flush]), Result;
        {'DOWN', Ref, process, Pid, Reason} -> error({call_failed, Reason})
    end.

%% A sink that monitors Pid: its 'DOWN' shows why Pid went.
-spec watch(pid()) -> pid().
watch(Pid) ->
    spawn(fun() -> erlang:monitor(process, Pid), sink([]) end).
