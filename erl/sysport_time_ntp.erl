%% @doc The SNTP client's policy, as pure functions over plain maps (the
%% service {@link sysport_time} does the I/O and keeps the state).
%%
%% Per server (after RFC 5905 section 10): the last 8 samples; the one with
%% the lowest round-trip delay (aged by 15 ppm) is the server's estimate, the RMS of the
%% others' offsets from it its jitter. A popcorn spike (an estimate further
%% than 3 of the last jitters, and 300 us, from the last one, within 2
%% polls of it) is held back, as ntpd does.
%% Across servers, no single one decides (RFC 5905 section 11.2.1): each
%% estimate is a correctness interval, offset plus or minus root distance;
%% the servers whose intervals share a point with those of a majority of
%% the answering servers are the truechimers (Marzullo's algorithm), the
%% others falsetickers; with three or more servers configured at least two
%% must agree. Among the truechimers the lowest root distance wins. The
%% discipline steps an offset above the step threshold when not
%% synchronized, and while synchronized only once it has persisted for
%% `stepout'; smaller offsets are slewed. Once the clock has been
%% synchronized, a step larger than the panic threshold needs three
%% truechimers. The poll interval doubles after 4 good samples in a row (an
%% offset within 4 jitters) and halves after a bad one.
%% @private
-module(sysport_time_ntp).

-export([new_server/3, add_sample/3, miss/1, kod/2, estimate/2, distance/2, truechimers/2, select/3,
         discipline/3, step_allowed/4, adapt_poll/3, clear_samples/1, time_constant/1]).
-export_type([server/0, sample/0, estimate/0, sync/0, limits/0]).

-define(FILTER, 8).
-define(SGATE, 3).
%% Offsets within 100 us are a LAN's noise: neither spikes nor a reason to
%% poll more often.
-define(NOISE, 100000).
%% Dispersion growth of an estimate with age: RFC 5905's PHI, 15 ppm.
-define(PHI_PPM, 15).
-define(UNREACHABLE_AFTER, 4).
-define(GOOD_TO_RAISE, 4).
%% RATE kiss: never poll more often than this again (ntpd's 2^17 s cap).
-define(MAX_RATE_POLL, 131072000).
%% Fewer truechimers than this cannot outvote a liar: they may step the
%% clock by more than the panic threshold only before the first sync.
-define(PANIC_QUORUM, 3).

-type sample() :: #{offset := integer(), delay := non_neg_integer(), root_delay := integer(),
                    root_dispersion := integer(), stratum := 1..15, leap := 0..2,
                    refid := binary(), at := integer()}.
%% A sample: nanoseconds, `at' in monotonic milliseconds.

-type estimate() :: #{offset := integer(), delay := non_neg_integer(), jitter := non_neg_integer(),
                      root_delay := integer(), root_dispersion := integer(),
                      stratum := 1..15, leap := 0..2, refid := binary(), at := integer()}.

-type server() :: #{host := binary(), port := inet:port_number(),
                    state := resolving | active | unreachable | denied,
                    addrs := [inet:ip_address()], addr := inet:ip_address() | undefined,
                    poll := pos_integer(), min_poll := pos_integer(),
                    reach := 0..255, misses := non_neg_integer(), good := non_neg_integer(),
                    samples := [sample()], last := estimate() | undefined,
                    spikes := non_neg_integer(), kod := binary() | undefined}.

-type limits() :: #{poll_min := pos_integer(), poll_max := pos_integer()}.

-type sync() :: #{synchronized := boolean(), spike_since := integer() | undefined,
                  last_update := integer() | undefined,
                  step_threshold := pos_integer(), stepout := non_neg_integer()}.
%% `step_threshold' in nanoseconds, times in monotonic milliseconds.

%% @doc A server not yet resolved, polling at the minimum.
-spec new_server(binary(), inet:port_number(), limits()) -> server().
new_server(Host, Port, #{poll_min := Min}) ->
    #{host => Host, port => Port, state => resolving, addrs => [], addr => undefined,
      poll => Min, min_poll => Min, reach => 0, misses => 0, good => 0,
      samples => [], last => undefined, spikes => 0, kod => undefined}.

%% @doc Adds a sample. `accepted' when the server's estimate moved on to
%% a newer sample, `held' when it did not (an older sample still has the
%% lowest delay, or a popcorn spike is being held back).
-spec add_sample(server(), sample(), pos_integer()) -> {accepted | held, server()}.
add_sample(#{samples := Samples, reach := Reach} = S0, Sample, Poll) ->
    S = S0#{samples := lists:sublist([Sample | Samples], ?FILTER),
            reach := (Reach bsl 1 bor 1) band 255, misses := 0, state := active, kod := undefined},
    Best = best(maps:get(samples, S), maps:get(at, Sample)),
    Jitter = jitter(Best, maps:get(samples, S)),
    Est = Best#{jitter => Jitter},
    case maps:get(last, S) of
        #{at := LastAt} when map_get(at, Best) =< LastAt ->
            %% Use a sample once, never one older than the last used.
            {held, S};
        Last ->
            case is_spike(Best, Last, Poll) of
                true -> {held, S#{spikes := maps:get(spikes, S) + 1}};
                false -> {accepted, S#{last := Est}}
            end
    end.

%% The gate needs a jitter to go by: not before two samples.
is_spike(#{offset := O, at := At}, #{offset := LastO, at := LastAt, jitter := LastJ}, Poll) ->
    LastJ > 0 andalso abs(O - LastO) > ?SGATE * max(LastJ, ?NOISE) andalso At - LastAt < 2 * Poll;
is_spike(_, undefined, _) ->
    false.

%% The lowest delay, with each sample's age weighing in as dispersion (so
%% an old sample gives way and a real change of offset gets through).
best(Samples, Now) ->
    Rank = fun(#{delay := D, at := At}) -> D div 2 + (Now - At) * ?PHI_PPM end,
    hd(lists:sort(fun(A, B) -> Rank(A) =< Rank(B) end, Samples)).

jitter(_, [_]) -> 0;
jitter(#{offset := O}, Samples) ->
    Others = [X || #{offset := X} <- Samples],
    SumSq = lists:sum([(X - O) * (X - O) || X <- Others]),
    round(math:sqrt(SumSq / max(1, length(Others) - 1))).

%% @doc A query that got no usable answer. After 4 in a row the server is
%% unreachable (the caller re-resolves it).
-spec miss(server()) -> server().
miss(#{reach := Reach, misses := Misses, state := State} = S) ->
    N = Misses + 1,
    S#{reach := (Reach bsl 1) band 255, misses := N, good := 0,
       state := case N >= ?UNREACHABLE_AFTER andalso State =:= active of
                    true -> unreachable;
                    false -> State
                end}.

%% @doc A kiss-o'-death: DENY and RSTR end our use of the server, RATE
%% makes it poll 4 times less often from now on; other codes count as a
%% miss (RFC 5905 section 7.4).
-spec kod(server(), binary()) -> server().
kod(S, Code) when Code =:= <<"DENY">>; Code =:= <<"RSTR">> ->
    S#{state := denied, kod := Code, last := undefined, samples := []};
kod(#{poll := Poll} = S, <<"RATE">>) ->
    New = min(Poll * 4, ?MAX_RATE_POLL),
    S#{poll := New, min_poll := New, kod := <<"RATE">>};
kod(S, Code) ->
    (miss(S))#{kod := Code}.

%% @doc The server's current estimate, undefined when it has none worth
%% using (unreachable, denied, never answered).
-spec estimate(server(), integer()) -> estimate() | undefined.
estimate(#{state := active, last := #{} = Est}, _Now) -> Est;
estimate(_, _) -> undefined.

%% @doc Root distance in nanoseconds: half the round trip to the root,
%% plus the dispersions, the jitter and what the estimate's age adds.
-spec distance(estimate(), integer()) -> non_neg_integer().
distance(#{root_delay := RD, delay := D, root_dispersion := Disp, jitter := J, at := At}, Now) ->
    max(0, (RD + D) div 2 + Disp + J + max(0, Now - At) * ?PHI_PPM).  % ppm of a ms = ns

%% @doc The truechimers among Servers (the configured ones, answering or
%% not): the keys of the servers whose correctness intervals contain the
%% point most intervals share, when those are a majority of the servers
%% with an estimate and, with three or more configured, at least two. `[]'
%% when there is no such agreement: then nothing moves the clock.
-spec truechimers(#{Key => server()}, integer()) -> [Key].
truechimers(Servers, Now) ->
    Intervals = [{O - D, O + D, K} || {K, S} <- maps:to_list(Servers),
                                      (E = estimate(S, Now)) =/= undefined,
                                      O <- [maps:get(offset, E)], D <- [distance(E, Now)]],
    MinAgree = case map_size(Servers) >= 3 of true -> 2; false -> 1 end,
    %% The most shared point is always some interval's low end; the lowest
    %% such point on a tie. A handful of servers: quadratic is fine.
    Sharing = [[K || {Lo, Hi, K} <- Intervals, Lo =< P, P =< Hi] || {P, _, _} <- lists:sort(Intervals)],
    case lists:foldl(fun(Ks, Best) when length(Ks) > length(Best) -> Ks; (_, Best) -> Best end, [], Sharing) of
        Agree when 2 * length(Agree) > length(Intervals), length(Agree) >= MinAgree -> lists:sort(Agree);
        _ -> []
    end.

%% @doc The key of the server with the lowest root distance, or undefined.
-spec select(#{Key => server()}, Key | undefined, integer()) -> Key | undefined.
select(Servers, Current, Now) ->
    Ranked = lists:sort([{distance(E, Now), K} || {K, S} <- maps:to_list(Servers),
                                                  (E = estimate(S, Now)) =/= undefined]),
    case Ranked of
        [] -> undefined;
        [{Best, K} | _] ->
            %% The current choice stays unless beaten clearly: no flapping
            %% between two equally good servers.
            case lists:keyfind(Current, 2, Ranked) of
                {D, Current} when D =< Best + Best div 10 -> Current;
                _ -> K
            end
    end.

%% @doc What to do with an estimate: `{step, Ns}', `{slew, Ns}', `spike'
%% (above the threshold while synchronized: wait for it to persist) or
%% `stale' (already used).
-spec discipline(sync(), estimate(), integer()) ->
          {{step, integer()} | {slew, integer()} | spike | stale, sync()}.
discipline(#{last_update := Last} = Sync, #{at := At}, _Now) when Last =/= undefined, At =< Last ->
    {stale, Sync};
discipline(#{synchronized := false, step_threshold := T} = Sync, #{offset := O, at := At}, _Now) ->
    {adjust(O, T), Sync#{synchronized := true, spike_since := undefined, last_update := At}};
discipline(#{step_threshold := T, stepout := Out, spike_since := Since} = Sync,
           #{offset := O, at := At}, Now) when abs(O) > T ->
    case Since of
        undefined -> {spike, Sync#{spike_since := Now}};
        _ when Now - Since >= Out -> {{step, O}, Sync#{spike_since := undefined, last_update := At}};
        _ -> {spike, Sync}
    end;
discipline(Sync, #{offset := O, at := At}, _Now) ->
    {{slew, O}, Sync#{spike_since := undefined, last_update := At}}.

adjust(O, T) when abs(O) > T -> {step, O};
adjust(O, _) -> {slew, O}.

%% @doc Whether a step of Ns (nanoseconds) may be made on the word of
%% Agreeing truechimers: before the clock was ever synchronized any step
%% may (the floor and the ceiling bound it already), after that one larger
%% than PanicNs needs three.
-spec step_allowed(integer(), non_neg_integer(), boolean(), pos_integer()) -> ok | {refused, panic}.
step_allowed(Ns, Agreeing, EverSynchronized, PanicNs)
  when EverSynchronized, abs(Ns) > PanicNs, Agreeing < ?PANIC_QUORUM ->
    {refused, panic};
step_allowed(_, _, _, _) ->
    ok.

%% @doc Doubles or halves the server's poll after a sample with this
%% offset, within [its min_poll, poll_max].
-spec adapt_poll(server(), integer(), limits()) -> server().
adapt_poll(#{poll := Poll, min_poll := Min, good := Good, last := Est} = S, Offset,
           #{poll_max := Max}) ->
    Jitter = case Est of #{jitter := J} -> J; _ -> 0 end,
    case abs(Offset) =< max(4 * Jitter, ?NOISE) of
        true when Good + 1 >= ?GOOD_TO_RAISE -> S#{poll := max(Min, min(Max, Poll * 2)), good := 0};
        true -> S#{good := Good + 1};
        false -> S#{poll := max(Min, Poll div 2), good := 0}
    end.

%% @doc After a step every offset measured before it is wrong.
-spec clear_samples(server()) -> server().
clear_samples(S) ->
    S#{samples := [], last := undefined, good := 0}.

%% @doc The kernel PLL time constant for a poll interval: log2 of the poll
%% in seconds, as ntpd passes it with STA_NANO set (the kernel then
%% amortizes an offset over about 2^(2 + constant) s; without STA_NANO it
%% would add 4 itself).
-spec time_constant(pos_integer()) -> 0..10.
time_constant(PollMs) ->
    Log2 = trunc(math:log2(max(1, PollMs div 1000))),
    max(0, min(10, Log2)).
