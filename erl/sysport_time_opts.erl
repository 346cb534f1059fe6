%% @doc The options of {@link sysport_time}: defaults, validation, and the
%% helper's command line.
%%
%% ```
%% {ok, [{<<"pool.ntp.org">>, 123}, {<<"10.0.0.1">>, 1123}]} =
%%     sysport_time_opts:parse_servers(["pool.ntp.org", {"10.0.0.1", 1123}]).
%% '''
-module(sysport_time_opts).

-export([validate/1, parse_servers/1, helper_args/1, time_file/1]).
-export_type([opts/0, server_spec/0]).

-type server_spec() :: unicode:chardata() | {unicode:chardata(), inet:port_number()}.
-type opts() :: #{servers => [server_spec()],
                  clock => system | recording | {recording, integer()},
                  rtc => file:filename_all() | default | none,
                  rtc_sysfs => file:filename_all() | default,
                  rtc_local_time => boolean(),
                  time_file => file:filename_all() | default | none,
                  build_time => integer() | helper,
                  sane_window => pos_integer(),
                  step_threshold => pos_integer(),
                  stepout => non_neg_integer(),
                  burst => pos_integer(),
                  burst_interval => pos_integer(),
                  poll_min => pos_integer(),
                  poll_max => pos_integer(),
                  query_timeout => pos_integer(),
                  sync_lost_after => pos_integer(),
                  time_file_interval => pos_integer(),
                  rtc_sync_interval => pos_integer(),
                  subscribers => [pid()],
                  port => map()}.
%% `subscribers' are subscribed before anything happens, so they also hear
%% what happens at start (`floor_applied', `rtc_invalid'...).
%% Durations in milliseconds; `sane_window' and `build_time' in seconds.
%% `clock => {recording, OffsetNs}' starts the recording clock off by
%% OffsetNs. `rtc' and `time_file' default to `/dev/rtc0' and a file in the
%% data directory with the system clock, to none with the recording one: a
%% clock that is not the machine's must not write the machine's RTC or
%% time file. `port' is passed to {@link sysport_port:start_link/1}.

-define(YEAR, 31556952).
-define(DEFAULTS, #{servers => [<<"0.pool.ntp.org">>, <<"1.pool.ntp.org">>,
                                <<"2.pool.ntp.org">>, <<"3.pool.ntp.org">>],
                    clock => system, rtc => default, rtc_sysfs => default,
                    rtc_local_time => false, time_file => default, build_time => helper,
                    sane_window => 20 * ?YEAR, step_threshold => 400, stepout => 300000,
                    burst => 4, burst_interval => 300, poll_min => 16000, poll_max => 1024000,
                    query_timeout => 2000, sync_lost_after => 3600000,
                    time_file_interval => 60000, rtc_sync_interval => 660000, subscribers => [],
                    port => #{}}).

%% @doc The options merged over the defaults, checked; servers normalized
%% to `{Host, Port}' with Host a binary.
-spec validate(map()) -> {ok, map()} | {error, {bad_option, term()} | {bad_value, atom(), term()}}.
validate(Opts0) ->
    Opts = maps:merge(?DEFAULTS, Opts0),
    Bad = [K || K <- maps:keys(Opts), not maps:is_key(K, ?DEFAULTS)],
    case Bad of
        [K | _] -> {error, {bad_option, K}};
        [] ->
            case [K || {K, V} <- maps:to_list(Opts), not valid(K, V)] of
                [K | _] -> {error, {bad_value, K, maps:get(K, Opts)}};
                [] ->
                    {ok, Servers} = parse_servers(maps:get(servers, Opts)),
                    {ok, machine_or_not(Opts#{servers := Servers})}
            end
    end.

valid(servers, V) -> element(1, parse_servers(V)) =:= ok;
valid(clock, V) -> V =:= system orelse V =:= recording orelse
                       (is_tuple(V) andalso tuple_size(V) =:= 2 andalso element(1, V) =:= recording
                        andalso is_integer(element(2, V)));
valid(rtc, V) -> V =:= none orelse V =:= default orelse is_path(V);
valid(rtc_sysfs, V) -> V =:= default orelse is_path(V);
valid(time_file, V) -> V =:= default orelse V =:= none orelse is_path(V);
valid(build_time, V) -> V =:= helper orelse is_integer(V);
valid(rtc_local_time, V) -> is_boolean(V);
valid(stepout, V) -> is_integer(V) andalso V >= 0;
valid(port, V) -> is_map(V);
valid(subscribers, V) -> is_list(V) andalso lists:all(fun is_pid/1, V);
valid(_, V) -> is_integer(V) andalso V > 0.

is_path(V) ->
    case unicode:characters_to_binary(V) of
        B when is_binary(B), B =/= <<>> -> binary:match(B, <<0>>) =:= nomatch;
        _ -> false
    end.

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
parse_servers(Specs) when is_list(Specs) ->
    try {ok, [parse_server(S) || S <- Specs]}
    catch throw:Bad -> {error, {bad_server, Bad}}
    end;
parse_servers(Other) ->
    {error, {bad_server, Other}}.

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

