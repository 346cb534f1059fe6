%% @doc The device table as sysfs shows it, read without libudev: what
%% sysport_uevent's table must equal once it is quiet. Used by
%% sysport_uevent_SUITE on the host and by the QEMU system test's guest.
-module(sysport_sysfs).

-export([devices/0]).

%% @doc Every device of /sys/bus/*/devices and /sys/class/*, by devpath:
%% DEVPATH, SUBSYSTEM and the KEY=VALUE lines of its uevent file.
-spec devices() -> #{binary() => #{binary() => binary()}}.
devices() ->
    Links = filelib:wildcard("/sys/bus/*/devices/*") ++ filelib:wildcard("/sys/class/*/*"),
    Dirs = lists:usort([resolve(L) || L <- Links]),
    maps:from_list([{list_to_binary(DevPath), device_props(Dir, DevPath)}
                    || "/sys" ++ DevPath = Dir <- Dirs,
                       filelib:is_regular(Dir ++ "/uevent"),
                       filelib:is_file(Dir ++ "/subsystem")]).

device_props(Dir, DevPath) ->
    {ok, Subsystem} = file:read_link(Dir ++ "/subsystem"),
    Lines = case file:read_file(Dir ++ "/uevent") of
                {ok, B} -> binary:split(B, <<"\n">>, [global, trim_all]);
                {error, _} -> []
            end,
    Props = maps:from_list([list_to_tuple(binary:split(L, <<"=">>)) || L <- Lines,
                                                                       binary:match(L, <<"=">>) =/= nomatch]),
    Props#{<<"DEVPATH">> => list_to_binary(DevPath),
           <<"SUBSYSTEM">> => list_to_binary(filename:basename(Subsystem))}.

resolve(Path) ->
    case file:read_link(Path) of
        {ok, Target} -> normalize(filename:join(filename:dirname(Path), Target));
        {error, _} -> Path
    end.

normalize(Path) ->
    Parts = lists:foldl(fun("..", Acc) -> tl(Acc);
                           (".", Acc) -> Acc;
                           (P, Acc) -> [P | Acc]
                        end, [], filename:split(Path)),
    filename:join(lists:reverse(Parts)).
