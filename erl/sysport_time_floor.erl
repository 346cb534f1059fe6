%% @doc Sane time: the earliest the clock can possibly be, the latest it
%% can sanely be, and the time file that remembers it across reboots.
%%
%% The floor is the latest of: when the helper was built, the time stored
%% in the time file (its modification time, touched while synchronized:
%% an inode update, not a data block, so it costs flash next to nothing),
%% and the RTC when the RTC is trusted. The ceiling is the build time plus
%% the sane window (default 20 years): no clock reading, RTC or NTP answer
%% beyond it is believed. The time file raises the floor only up to its own,
%% shorter window past the build time (default 2 years): NTP never steps the
%% clock below the floor, so a corrupt or planted time file far ahead would
%% otherwise hold the clock there for good. A device whose firmware is
%% older than that boots at its build time until NTP answers.
%% A clock below the floor moves forward to it; a clock beyond the ceiling
%% is corrupt and moves back to the floor.
%% @private
-module(sysport_time_floor).

-include_lib("kernel/include/file.hrl").

-export([compute/4, check_clock/3, check_time/3, read_file/1, touch/2]).

-type source() :: build_time | time_file | rtc.
-type windows() :: #{sane_window := pos_integer(), time_file_window := pos_integer()}.
-export_type([source/0, windows/0]).

%% @doc The floor and the ceiling (Unix seconds) from the build time, the
%% time file's stored time and the RTC's (undefined when absent or
%% untrusted), and which of them the floor came from; candidates beyond
%% their window are reported in `ignored'.
-spec compute(integer(), integer() | undefined, integer() | undefined, windows()) ->
          #{floor := integer(), ceiling := integer(), source := source(), ignored := [source()]}.
compute(BuildTime, FileTime, RtcTime, #{sane_window := Window, time_file_window := FileWindow}) ->
    Candidates = [{T, S, Max} || {T, S, Max} <- [{FileTime, time_file, FileWindow}, {RtcTime, rtc, Window}],
                                 is_integer(T)],
    Insane = [S || {T, S, Max} <- Candidates, T > BuildTime + Max],
    {Floor, Source} = lists:max([{BuildTime, build_time} |
                                 [{T, S} || {T, S, _} <- Candidates, not lists:member(S, Insane)]]),
    #{floor => Floor, ceiling => BuildTime + Window, source => Source, ignored => Insane}.

%% @doc Where the clock (Unix nanoseconds) must go: nowhere, up to the
%% floor, or back to it from beyond the ceiling.
-spec check_clock(integer(), integer(), integer()) ->
          ok | {step, integer(), below_floor | beyond_window}.
check_clock(NowNs, Floor, Ceiling) ->
    case check_time(NowNs, Floor, Ceiling) of
        ok -> ok;
        Why -> {step, Floor * 1000000000 - NowNs, Why}
    end.

%% @doc Whether a time (Unix nanoseconds) lies between the floor and the
%% ceiling (Unix seconds).
-spec check_time(integer(), integer(), integer()) -> ok | below_floor | beyond_window.
check_time(Ns, Floor, _Ceiling) when Ns < Floor * 1000000000 -> below_floor;
check_time(Ns, _Floor, Ceiling) when Ns > Ceiling * 1000000000 -> beyond_window;
check_time(_, _, _) -> ok.

%% @doc The time stored in the time file.
-spec read_file(file:filename_all()) -> {ok, integer()} | {error, file:posix() | badarg}.
read_file(Path) ->
    case file:read_file_info(Path, [{time, posix}]) of
        {ok, #file_info{type = regular, mtime = Mtime}} -> {ok, Mtime};
        {ok, #file_info{}} -> {error, eisdir};
        {error, _} = Error -> Error
    end.

%% @doc Stores Secs in the time file, creating it (mode 0600) if needed:
%% never through a symlink, never on a file not the VM's user's.
-spec touch(file:filename_all(), integer()) -> ok | {error, term()}.
touch(Path, Secs) ->
    sysport_file:touch(Path, Secs).
