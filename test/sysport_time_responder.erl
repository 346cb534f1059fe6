%% A scripted NTP server for sysport_time_SUITE: a gen_udp socket on
%% loopback answering each request the way it is told to.
%%
%% Behaviour (a map, changed at any time with set/2):
%%   skew => Ns            the server's clock is the real clock plus this
%%   anchored => true      ... the real clock as it was when the responder
%%                         started, run on by the monotonic clock: stepping
%%                         the real clock does not move the server's
%%   stratum, li, mode, version, root_dispersion (16.16 short)
%%   delay => Ms           answers Ms after the request came (a slow path)
%%   hold => Ns            says it held the request Ns longer than it did
%%                         (its transmit time is that much later)
%%   reply => normal | silent | short | wrong_origin | wrong_port
%%          | zero_rx | zero_tx | {kod, <<"RATE">>}
-module(sysport_time_responder).

-export([start/1, start/2, start/3, set/2, requests/1, port/1, stop/1]).

-define(NTP_UNIX, 2208988800).

-spec start(map()) -> {ok, pid()}.
start(Behaviour) -> start({127, 0, 0, 1}, Behaviour).

-spec start(inet:ip_address(), map()) -> {ok, pid()}.
start(Ip, Behaviour) -> start(Ip, 0, Behaviour).

-spec start(inet:ip_address(), inet:port_number(), map()) -> {ok, pid()}.
start(Ip, Port, Behaviour) ->
    Self = self(),
    Pid = spawn(fun() -> init(Self, Ip, Port, Behaviour) end),
    receive {started, Pid} -> {ok, Pid} after 5000 -> error(responder_did_not_start) end.

-spec set(pid(), map()) -> ok.
set(Pid, Behaviour) -> call(Pid, {set, Behaviour}).

%% How many requests came in.
-spec requests(pid()) -> non_neg_integer().
requests(Pid) -> call(Pid, requests).

-spec port(pid()) -> inet:port_number().
port(Pid) -> call(Pid, port).

-spec stop(pid()) -> ok.
stop(Pid) -> call(Pid, stop).

call(Pid, Msg) ->
    Ref = monitor(process, Pid),
    Pid ! {Msg, self(), Ref},
    receive
        {Ref, Reply} -> demonitor(Ref, [flush]), Reply;
        {'DOWN', Ref, _, _, Why} -> error({responder_down, Why})
    after 5000 -> error(responder_timeout)
    end.

init(Parent, Ip, Port, Behaviour) ->
    Family = case tuple_size(Ip) of 4 -> inet; 8 -> inet6 end,
    {ok, Sock} = gen_udp:open(Port, [binary, Family, {ip, Ip}, {active, true}]),
    %% The impostor: answers from a port the client did not ask.
    {ok, Other} = gen_udp:open(0, [binary, Family, {ip, Ip}, {active, false}]),
    Parent ! {started, self()},
    Anchor = os:system_time(nanosecond) - erlang:monotonic_time(nanosecond),
    loop(#{sock => Sock, other => Other, behaviour => Behaviour, requests => 0, anchor => Anchor}).

loop(#{sock := Sock, behaviour := B, requests := N} = St) ->
    receive
        {udp, Sock, Addr, Port, <<_:40/binary, Cookie:8/binary, _/binary>>} ->
            Rx = server_now(St),
            answer(maps:get(reply, B, normal), Cookie, Rx, Addr, Port, St),
            loop(St#{requests := N + 1});
        {udp, Sock, _, _, _} ->
            loop(St#{requests := N + 1});
        {{set, New}, From, Ref} ->
            From ! {Ref, ok},
            loop(St#{behaviour := New});
        {requests, From, Ref} ->
            From ! {Ref, N},
            loop(St);
        {port, From, Ref} ->
            {ok, P} = inet:port(Sock),
            From ! {Ref, P},
            loop(St);
        {stop, From, Ref} ->
            gen_udp:close(Sock),
            From ! {Ref, ok}
    end.

answer(silent, _, _, _, _, _) ->
    ok;
answer(Reply, Cookie, Rx, Addr, Port, #{sock := Sock, other := Other, behaviour := B} = St) ->
    timer:sleep(maps:get(delay, B, 0)),
    Tx = server_now(St) + maps:get(hold, B, 0),
    Packet = packet(Reply, Cookie, Rx, Tx, B),
    case Reply of
        wrong_port -> gen_udp:send(Other, Addr, Port, Packet);
        short -> gen_udp:send(Sock, Addr, Port, binary:part(Packet, 0, 40));
        _ -> gen_udp:send(Sock, Addr, Port, Packet)
    end.

packet(Reply, Cookie, Rx, Tx, B) ->
    {Stratum, RefId, Li} = case Reply of
                               {kod, Code} -> {0, Code, 3};
                               _ -> {maps:get(stratum, B, 2), <<"GPS", 0>>, maps:get(li, B, 0)}
                           end,
    Origin = case Reply of wrong_origin -> flip(Cookie); _ -> Cookie end,
    RxTs = case Reply of zero_rx -> <<0:64>>; _ -> ts(Rx) end,
    TxTs = case Reply of zero_tx -> <<0:64>>; _ -> ts(Tx) end,
    <<Li:2, (maps:get(version, B, 4)):3, (maps:get(mode, B, 4)):3, Stratum:8, 4:8, -20:8/signed,
      0:32, (maps:get(root_dispersion, B, 16#100)):32, RefId:4/binary,
      (ts(Rx - 1000000000))/binary, Origin/binary, RxTs/binary, TxTs/binary>>.

server_now(#{behaviour := B, anchor := Anchor}) ->
    Real = case B of
               #{anchored := true} -> Anchor + erlang:monotonic_time(nanosecond);
               #{} -> os:system_time(nanosecond)
           end,
    Real + maps:get(skew, B, 0).

flip(<<X:64>>) -> <<(X bxor 1):64>>.

ts(Ns) ->
    Secs = Ns div 1000000000 + ?NTP_UNIX,
    Frac = ((Ns rem 1000000000) bsl 32) div 1000000000,
    <<Secs:32, Frac:32>>.
