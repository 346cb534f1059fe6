%% @doc Sane time: the earliest the clock can possibly be, and the time
%% file that remembers it across reboots.
%%
%% The floor is the latest of: when the helper was built, the time stored
%% in the time file (its modification time, touched while synchronized:
%% an inode update, not a data block, so it costs flash next to nothing),
%% and the RTC when the RTC is trusted. A stored time or RTC more than the
%% window (default 20 years) past the build time is corrupt and ignored.
%% A clock below the floor moves forward to it; a clock more than the
%% window past the floor is corrupt and moves back to it.
%% @private
-module(sysport_time_floor).

-include_lib("kernel/include/file.hrl").

-export([compute/4, check_clock/3, read_file/1, touch/2]).

-type source() :: build_time | time_file | rtc.
-export_type([source/0]).

%% @doc The floor (Unix seconds) from the build time, the time file's
%% stored time and the RTC's (undefined when absent or untrusted), and
%% which of them it came from; candidates beyond the window are reported
%% in `ignored'.
-spec compute(integer(), integer() | undefined, integer() | undefined, pos_integer()) ->
          #{floor := integer(), source := source(), ignored := [source()]}.
compute(BuildTime, FileTime, RtcTime, Window) ->
    Candidates = [{T, S} || {T, S} <- [{FileTime, time_file}, {RtcTime, rtc}], is_integer(T)],
    Insane = [S || {T, S} <- Candidates, T > BuildTime + Window],
    {Floor, Source} = lists:max([{BuildTime, build_time} |
                                 [C || {_, S} = C <- Candidates, not lists:member(S, Insane)]]),
    #{floor => Floor, source => Source, ignored => Insane}.

%% @doc Where the clock (Unix nanoseconds) must go: nowhere, up to the
%% floor, or back to it from beyond the window.
-spec check_clock(integer(), integer(), pos_integer()) ->
          ok | {step, integer(), below_floor | beyond_window}.
check_clock(NowNs, Floor, Window) ->
    FloorNs = Floor * 1000000000,
    if
        NowNs < FloorNs -> {step, FloorNs - NowNs, below_floor};
        NowNs > FloorNs + Window * 1000000000 -> {step, FloorNs - NowNs, beyond_window};
        true -> ok
    end.

%% @doc The time stored in the time file.
-spec read_file(file:filename_all()) -> {ok, integer()} | {error, file:posix() | badarg}.
read_file(Path) ->
    case file:read_file_info(Path, [{time, posix}]) of
        {ok, #file_info{type = regular, mtime = Mtime}} -> {ok, Mtime};
        {ok, #file_info{}} -> {error, eisdir};
        {error, _} = Error -> Error
    end.

%% @doc Stores Secs in the time file, creating it if needed.
-spec touch(file:filename_all(), integer()) -> ok | {error, file:posix() | badarg}.
touch(Path, Secs) ->
    Info = #file_info{mtime = Secs, atime = Secs},
    case file:write_file_info(Path, Info, [{time, posix}]) of
        {error, enoent} ->
            case file:write_file(Path, <<>>) of
                ok -> file:write_file_info(Path, Info, [{time, posix}]);
                Error -> Error
            end;
        Result -> Result
    end.
