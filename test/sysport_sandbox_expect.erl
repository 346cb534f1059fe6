%% What a confined helper looks like from /proc, for the CT suite
%% (sysport_sandbox_SUITE), the cross test (test/cross/check_helpers, which
%% compiles this file) and the QEMU guest (test/system).
%%
%% A helper keeps only its service's capabilities, and only those the VM
%% itself holds: CapEff = CapPrm = kept, CapInh = CapAmb = 0, and CapBnd =
%% kept too when the VM could clear the bounding set (it holds
%% CAP_SETPCAP); NoNewPrivs 1; Seccomp 2 (filter mode) with one filter.
-module(sysport_sandbox_expect).

-export([kept/1, check/3, check_autoload/1, proc_status/1, parse_status/1, cap_mask/1]).

-define(CAP_SETPCAP, 8).
-define(CAP_SYS_MODULE, 16).
-define(CAP_SYS_TIME, 25).
-define(CAP_SYSLOG, 34).

%% The capabilities each service's helper keeps: {number, name}.
-spec kept(atom()) -> [{non_neg_integer(), atom()}].
kept(kmsg) -> [{?CAP_SYSLOG, syslog}];
kept(time) -> [{?CAP_SYS_TIME, sys_time}];
kept(_) -> [].

%% Checks the helper OsPid of Service against /proc and against the
%% sandbox map of its ready info, which must name List (production,
%% sanitizer, valgrind), or, for `fallback' (a build without libcap-ng and
%% libseccomp), the same capabilities dropped by capset and no filter,
%% saying why. ok or {error, What}.
-spec check(atom(), non_neg_integer(), {map() | none, atom()}) -> ok | {error, term()}.
check(Service, OsPid, {Sandbox, fallback}) ->
    check(Service, OsPid, Sandbox, 0,
          #{seccomp => {unavailable, <<"built without libseccomp">>}, syscalls => production, caps_via => capset});
check(Service, OsPid, {Sandbox, List}) ->
    check(Service, OsPid, Sandbox, 2, #{seccomp => filter, syscalls => List}).

check(Service, OsPid, Sandbox, SeccompMode, WantFilter) ->
    Vm = proc_status(list_to_integer(os:getpid())),
    Held = [{N, Name} || {N, Name} <- kept(Service), has_cap(N, maps:get('CapPrm', Vm))],
    Mask = cap_mask([N || {N, _} <- Held]),
    Bnd = case has_cap(?CAP_SETPCAP, maps:get('CapEff', Vm)) of
              true -> Mask;
              false -> maps:get('CapBnd', Vm)
          end,
    Want = #{'CapEff' => Mask, 'CapPrm' => Mask, 'CapInh' => 0, 'CapAmb' => 0, 'CapBnd' => Bnd,
             'NoNewPrivs' => 1, 'Seccomp' => SeccompMode, 'Seccomp_filters' => SeccompMode div 2},
    Got = maps:with(maps:keys(Want), proc_status(OsPid)),
    WantMap = WantFilter#{uid => uid(Vm), caps => [Name || {_, Name} <- Held], no_new_privs => true},
    GotMap = case Sandbox of
                 #{} -> maps:with(maps:keys(WantMap), Sandbox);
                 _ -> Sandbox
             end,
    %% Seccomp_filters is in /proc since Linux 5.9: not asserted before.
    WantProc = maps:with(maps:keys(Got), Want),
    if GotMap =/= WantMap -> {error, {ready_info, Service, #{want => WantMap, got => GotMap}}};
       Got =/= WantProc -> {error, {proc_status, Service, OsPid, #{want => WantProc, got => Got}}};
       true -> ok
    end.

%% uevent's autoload process: CAP_SYS_MODULE alone (and in the bounding
%% set), no_new_privs, no filter (it runs modprobe).
-spec check_autoload(non_neg_integer()) -> ok | {error, term()}.
check_autoload(OsPid) ->
    Vm = proc_status(list_to_integer(os:getpid())),
    Mask = case has_cap(?CAP_SYS_MODULE, maps:get('CapPrm', Vm)) of
               true -> cap_mask([?CAP_SYS_MODULE]);
               false -> 0
           end,
    Want = #{'CapEff' => Mask, 'CapPrm' => Mask, 'CapInh' => 0, 'CapAmb' => 0, 'CapBnd' => Mask,
             'NoNewPrivs' => 1, 'Seccomp' => 0},
    case maps:with(maps:keys(Want), proc_status(OsPid)) of
        Want -> ok;
        Got -> {error, {autoload_proc_status, OsPid, #{want => Want, got => Got}}}
    end.

%% /proc/PID/status: capability masks as integers, counters as integers,
%% the rest as binaries; Uid as its four numbers.
-spec proc_status(non_neg_integer()) -> #{atom() => term()}.
proc_status(OsPid) ->
    {ok, Text} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/status"),
    parse_status(Text).

-spec parse_status(binary()) -> #{atom() => term()}.
parse_status(Text) ->
    maps:from_list([field(K, string:trim(V)) || Line <- binary:split(Text, <<"\n">>, [global, trim_all]),
                                                 [K, V] <- [binary:split(Line, <<":">>)]]).

field(<<"Cap", _/binary>> = K, V) -> {binary_to_atom(K), binary_to_integer(V, 16)};
field(<<"Uid">>, V) -> {'Uid', [binary_to_integer(U) || U <- binary:split(V, <<"\t">>, [global, trim_all])]};
field(K, V) when K =:= <<"NoNewPrivs">>; K =:= <<"Seccomp">>; K =:= <<"Seccomp_filters">> ->
    {binary_to_atom(K), binary_to_integer(V)};
field(K, V) -> {binary_to_atom(K), V}.

-spec cap_mask([non_neg_integer()]) -> non_neg_integer().
cap_mask(Caps) -> lists:foldl(fun(N, M) -> M bor (1 bsl N) end, 0, Caps).

has_cap(N, Mask) -> Mask band (1 bsl N) =/= 0.

%% The effective uid (the second of four).
uid(#{'Uid' := [_, Euid | _]}) -> Euid.
