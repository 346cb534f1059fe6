%% @doc The options of {@link sysport_time}: defaults, validation, and the
%% helper's command line.
%%
%% ```
%% {ok, [{<<"pool.ntp.org">>, 123}, {<<"10.0.0.1">>, 1123}]} =
%%     sysport_time_opts:parse_servers(["pool.ntp.org", {"10.0.0.1", 1123}]).
%% '''
-module(sysport_time_opts).

-export([options/0, normalize/1, parse_servers/1, helper_args/1, time_file/1]).
-export_type([server_spec/0]).

-type server_spec() :: unicode:chardata() | {unicode:chardata(), inet:port_number()}.

-define(YEAR, 31556952).

%% @doc The options of sysport_time: durations in milliseconds,
%% `sane_window', `time_file_window', `panic_threshold' and `build_time'
%% in seconds. `rtc' and `time_file'
%% default to `/dev/rtc0' and a file in the data directory with the system
%% clock, to none with the recording one: a clock that is not the
%% machine's must not write the machine's RTC or time file.
-spec options() -> sysport_opts:schema().
options() ->
    Path = fun(Atoms) -> {any_of, [path, {enum, Atoms}]} end,
    [{servers, [<<"0.pool.ntp.org">>, <<"1.pool.ntp.org">>, <<"2.pool.ntp.org">>, <<"3.pool.ntp.org">>],
      {check, fun(V) -> element(1, parse_servers(V)) =:= ok end},
      <<"NTP servers: names or {Name, Port}; [] disables NTP">>},
     {clock, system, {any_of, [{enum, [system, recording]}, {check, fun recording_offset/1}]},
      <<"system; recording applies nothing and records what it would do; {recording, OffsetNs}">>},
     {rtc, default, Path([default, none]), <<"the RTC device (default /dev/rtc0 with the system clock), or none">>},
     {rtc_sysfs, default, Path([default]), <<"the RTC's sysfs directory (default /sys/class/rtc/<name>)">>},
     {rtc_local_time, false, boolean, <<"the RTC keeps local time, not UTC">>},
     {time_file, default, Path([default, none]),
      <<"a file touched while synchronized (default sysport_time.stamp in data_dir with the system clock), or none">>},
     {build_time, helper, {any_of, [integer, {enum, [helper]}]}, <<"the floor's build time (Unix s), or the helper's">>},
     {sane_window, 20 * ?YEAR, pos_integer,
      <<"a time this far past the build time is corrupt: the clock, the RTC and NTP answers beyond it are not believed (s)">>},
     {time_file_window, 2 * ?YEAR, pos_integer,
      <<"the time file raises the floor at most this far past the build time (s)">>},
     {panic_threshold, 1000, pos_integer,
      <<"after the first sync, a step larger than this needs three servers that agree (s)">>},
     {step_threshold, 400, pos_integer, <<"offsets above this step the clock, smaller ones slew it (ms)">>},
     {stepout, 300000, non_neg_integer, <<"while synchronized, how long an offset persists before a step (ms)">>},
     {burst, 4, pos_integer, <<"queries per server at start">>},
     {burst_interval, 300, pos_integer, <<"between the queries of a burst (ms)">>},
     {poll_min, 16000, pos_integer, <<"the shortest poll interval (ms)">>},
     {poll_max, 1024000, pos_integer, <<"the longest poll interval (ms)">>},
     {query_timeout, 2000, pos_integer, <<"how long an SNTP query waits (ms)">>},
     {sync_lost_after, 3600000, pos_integer, <<"no usable answer for this long and the clock is not synchronized (ms)">>},
     {time_file_interval, 60000, pos_integer, <<"how often the time file is touched while synchronized (ms)">>},
     {rtc_sync_interval, 660000, pos_integer, <<"how often the RTC is written while synchronized (ms)">>}].

recording_offset({recording, N}) -> is_integer(N);
recording_offset(_) -> false.

%% @doc Checked options made ready for use: servers as `{Host, Port}' with
%% Host a binary, the clock forced to recording by the environment (see
%% below), `rtc' and `time_file' resolved.
-spec normalize(map()) -> map().
normalize(Opts) ->
    {ok, Servers} = parse_servers(maps:get(servers, Opts)),
    machine_or_not(Opts#{servers := Servers}).

%% SYSPORT_TIME_CLOCK=recording turns a system clock into a recording one
%% (make test, make shell: hosts with a time daemon of their own), and then
%% the RTC and the time file configured for the real clock are left alone.
machine_or_not(#{clock := Clock, rtc := Rtc, time_file := File} = Opts) ->
    Forced = Clock =:= system andalso os:getenv("SYSPORT_TIME_CLOCK") =:= "recording",
    Machine = Clock =:= system andalso not Forced,
    Opts#{clock := case Forced of true -> recording; false -> Clock end,
          clock_forced => Forced,
          rtc := if Forced; Rtc =:= default, not Machine -> none;
                    Rtc =:= default -> <<"/dev/rtc0">>;
                    true -> Rtc
                 end,
          time_file := if Forced; File =:= default, not Machine -> none;
                          true -> File
                       end}.

%% @doc Server specs as `{Host, Port}' pairs (port 123 when not given).
-spec parse_servers(term()) -> {ok, [{binary(), inet:port_number()}]} | {error, {bad_server, term()}}.
parse_servers(Specs) ->
    try {ok, parse_each(Specs)}
    catch throw:Bad -> {error, {bad_server, Bad}}
    end.

%% Not a comprehension: an improper list of specs is refused, not raised.
parse_each([]) -> [];
parse_each([Spec | Rest]) -> [parse_server(Spec) | parse_each(Rest)];
parse_each(Other) -> throw(Other).

parse_server({Host, Port} = Spec) when is_integer(Port), Port > 0, Port < 65536 ->
    case (catch unicode:characters_to_binary(Host)) of
        B when is_binary(B), B =/= <<>> -> {B, Port};
        _ -> throw(Spec)
    end;
parse_server(Spec) when is_list(Spec); is_binary(Spec) ->
    parse_server({Spec, 123});
parse_server(Spec) ->
    throw(Spec).

%% @doc The helper's command line for validated options.
-spec helper_args(map()) -> [iodata()].
helper_args(Opts) ->
    Clock = case maps:get(clock, Opts) of
                system -> ["--clock=system"];
                recording -> ["--clock=recording"];
                {recording, Offset} -> ["--clock=recording", "--recording-offset=" ++ integer_to_list(Offset)]
            end,
    Rtc = case maps:get(rtc, Opts) of
              none -> ["--rtc=none"];
              Dev -> [["--rtc=", Dev]]
          end,
    Sysfs = case maps:get(rtc_sysfs, Opts) of
                default -> [];
                Dir -> [["--rtc-sysfs=", Dir]]
            end,
    Local = [ "--rtc-local" || maps:get(rtc_local_time, Opts)],
    Clock ++ Rtc ++ Sysfs ++ Local.

%% @doc Where the time file is: by default in the data directory.
-spec time_file(map()) -> binary() | none.
time_file(Opts) ->
    case maps:get(time_file, Opts) of
        none -> none;
        default -> filename:join(sysport_env:data_dir(), <<"sysport_time.stamp">>);
        Path -> unicode:characters_to_binary(Path)
    end.

