%% @doc Files sysport creates and the directories it keeps them in, safe
%% from a local user who plants symlinks or hard links: a file is never
%% written through a symlink, is created mode 0600, and a file sysport
%% reopens must be a regular file of the VM's user with one link. A
%% directory sysport keeps its data in must be the VM's user's, reached
%% only through directories no other user can change.
%%
%% OTP's file module has no `O_NOFOLLOW' and no creation mode, so: new
%% files are created with `exclusive' (O_CREAT|O_EXCL, which never
%% follows a symlink) and made 0600 before anything is written; a whole
%% file is written in a private staging directory and renamed into place
%% (a rename replaces a symlink, it does not follow it); a file opened
%% again is checked with lstat before and fstat after the open (same
%% inode: no link was swapped in between).
%% @private
-module(sysport_file).

-include_lib("kernel/include/file.hrl").

-export([write/2, open/2, touch/2, check_dir/2, euid/0]).

-type unsafe() :: {symlink | not_regular | hard_linked | not_owner, binary()}
                | {writable_by_others | not_owner, binary()}.
-export_type([unsafe/0]).

%% Path resolution gives up after this many symlinks (Linux's limit).
-define(MAX_LINKS, 40).

%% @doc Replaces Path with Data (mode 0600, synced): never through a
%% symlink, never a half-written file. The directory must not be one
%% others can write to, unless it is sticky (as /tmp is). Data may be a
%% fun that writes to the file it is given, for data made as it is written.
-spec write(file:filename_all(), iodata() | fun((file:fd()) -> ok | {error, term()})) -> ok | {error, term()}.
write(Path, Data) ->
    Dir = filename:dirname(Path),
    case sharing(Dir) of
        unsafe -> {error, {writable_by_others, unicode:characters_to_binary(Dir)}};
        {error, _} = Error -> Error;
        _ -> staged(Dir, fun(Tmp) -> write_new(Tmp, Data) end, Path)
    end.

%% Stage: a new directory of ours (mkdir never follows a symlink; in a
%% sticky directory nobody else can replace it), made 0700 before the file
%% is created in it, so nobody else can open the file before it is
%% complete. Then the file is renamed over Path.
staged(Dir, Make, Path) ->
    Stage = filename:join(Dir, lists:flatten(io_lib:format(".sysport-~s-~b", [os:getpid(), erlang:unique_integer([positive])]))),
    case file:make_dir(Stage) of
        ok ->
            Tmp = filename:join(Stage, "new"),
            Result = case file:change_mode(Stage, 8#700) of
                         ok ->
                             case Make(Tmp) of
                                 ok -> file:rename(Tmp, Path);
                                 Error -> Error
                             end;
                         Error -> Error
                     end,
            _ = file:delete(Tmp),
            _ = file:del_dir(Stage),
            Result;
        {error, _} = Error ->
            Error
    end.

write_new(Tmp, Data) ->
    case file:open(Tmp, [write, exclusive, raw, binary]) of
        {ok, Fd} ->
            Result = case file:change_mode(Tmp, 8#600) of
                         ok ->
                             case write_data(Fd, Data) of
                                 ok -> file:datasync(Fd);
                                 Error -> Error
                             end;
                         Error -> Error
                     end,
            _ = file:close(Fd),
            Result;
        Error ->
            Error
    end.

write_data(Fd, Write) when is_function(Write, 1) -> Write(Fd);
write_data(Fd, Data) -> file:write(Fd, Data).

%% @doc Opens Path (modes as file:open/2's, raw): a new file is created
%% mode 0600 without following a symlink; an existing one must be a
%% regular file of the VM's user with a single link.
-spec open(file:filename_all(), [file:mode()]) -> {ok, file:fd()} | {error, term()}.
open(Path, Modes) ->
    case file:read_link_info(Path) of
        {error, enoent} ->
            case file:open(Path, [exclusive, raw | Modes]) of
                {ok, Fd} ->
                    case file:change_mode(Path, 8#600) of
                        ok -> {ok, Fd};
                        Error -> _ = file:close(Fd), Error
                    end;
                Error ->
                    Error
            end;
        {ok, Before} ->
            case own_file(Path, Before) of
                ok -> open_same(Path, Before, Modes);
                Error -> Error
            end;
        Error ->
            Error
    end.

open_same(Path, #file_info{inode = Ino, major_device = Dev}, Modes) ->
    case file:open(Path, [raw | Modes]) of
        {ok, Fd} ->
            case file:read_file_info(Fd) of
                {ok, #file_info{inode = Ino, major_device = Dev}} -> {ok, Fd};
                _ -> _ = file:close(Fd), {error, {symlink, unicode:characters_to_binary(Path)}}
            end;
        Error ->
            Error
    end.

own_file(Path, #file_info{type = Type, links = Links, uid = Uid}) ->
    P = unicode:characters_to_binary(Path),
    Euid = euid(),
    if
        Type =:= symlink -> {error, {symlink, P}};
        Type =/= regular -> {error, {not_regular, P}};
        Links =/= 1 -> {error, {hard_linked, P}};
        Uid =/= Euid -> {error, {not_owner, P}};
        true -> ok
    end.

%% @doc Sets the modification time of Path (creating it, mode 0600) to
%% Secs (Unix seconds): only ever on a file as open/2 would accept it.
-spec touch(file:filename_all(), integer()) -> ok | {error, term()}.
touch(Path, Secs) ->
    Check = case file:read_link_info(Path) of
                {error, enoent} ->
                    case open(Path, [write]) of
                        {ok, Fd} -> file:close(Fd);
                        Error -> Error
                    end;
                {ok, Info} -> own_file(Path, Info);
                Error -> Error
            end,
    case Check of
        ok -> file:write_file_info(Path, #file_info{mtime = Secs, atime = Secs}, [{time, posix}]);
        _ -> Check
    end.

%% @doc Whether Dir (which must exist) is safe to keep sysport's files in
%% (`own': it must also be the VM's user's) or under (`any'): it and every
%% directory above it (symlinks followed) belong to root or the VM's user
%% and no other user can write to them. `ok', or why not, naming the
%% directory at fault.
-spec check_dir(file:filename_all(), own | any) -> ok | {error, unsafe() | term()}.
check_dir(Dir, Whose) ->
    case resolve(unicode:characters_to_binary(filename:absname(Dir))) of
        {ok, Real} ->
            Prefixes = prefixes(filename:split(Real)),
            case lists:foldl(fun(P, ok) -> check_parent(P); (_, E) -> E end, ok, Prefixes) of
                ok when Whose =:= own -> check_owner(Real, euid());
                Result -> Result
            end;
        Error ->
            Error
    end.

check_parent(Dir) ->
    case file:read_file_info(Dir) of
        {ok, #file_info{mode = Mode}} when Mode band 8#022 =/= 0 -> {error, {writable_by_others, Dir}};
        {ok, #file_info{uid = Uid}} ->
            case Uid =:= 0 orelse Uid =:= euid() of
                true -> ok;
                false -> {error, {not_owner, Dir}}
            end;
        Error -> Error
    end.

check_owner(Dir, Euid) ->
    case file:read_file_info(Dir) of
        {ok, #file_info{uid = Euid}} -> ok;
        {ok, _} -> {error, {not_owner, Dir}};
        Error -> Error
    end.

prefixes([Root | Parts]) ->
    lists:reverse(element(2, lists:foldl(fun(P, {Acc, Out}) -> D = filename:join(Acc, P), {D, [D | Out]} end,
                                         {Root, [Root]}, Parts))).

%% The path with every symlink replaced by what it points to.
resolve(Path) -> resolve(filename:split(Path), [], ?MAX_LINKS).

resolve([], Done, _) ->
    {ok, filename:join(lists:reverse(Done))};
resolve(_, _, 0) ->
    {error, eloop};
resolve([Part | Rest], Done, Links) when Part =:= <<".">> ->
    resolve(Rest, Done, Links);
resolve([Part | Rest], Done, Links) when Part =:= <<"..">> ->
    resolve(Rest, case Done of [_Root] -> Done; [_ | Up] -> Up end, Links);
resolve([Part | Rest], Done, Links) ->
    Here = filename:join(lists:reverse([Part | Done])),
    case file:read_link_all(Here) of
        {ok, Target} ->
            Base = case filename:pathtype(Target) of
                       absolute -> [];
                       _ -> Done
                   end,
            resolve(filename:split(unicode:characters_to_binary(Target)) ++ Rest, Base, Links - 1);
        {error, einval} -> resolve(Rest, [Part | Done], Links);  % not a symlink
        {error, _} = Error -> Error
    end.

%% Whether others can add or replace names in Dir: not at all, only
%% their own (sticky, as /tmp), or any.
sharing(Dir) ->
    case file:read_file_info(Dir) of
        {ok, #file_info{mode = Mode}} when Mode band 8#022 =:= 0 -> private;
        {ok, #file_info{mode = Mode}} when Mode band 8#1000 =/= 0 -> sticky;
        {ok, _} -> unsafe;
        Error -> Error
    end.

%% @doc The VM's effective user id.
-spec euid() -> non_neg_integer().
euid() ->
    case persistent_term:get({?MODULE, euid}, undefined) of
        undefined ->
            {ok, Status} = file:read_file("/proc/self/status"),
            {match, [Uid]} = re:run(Status, "^Uid:\\s+\\d+\\s+(\\d+)", [multiline, {capture, all_but_first, binary}]),
            Euid = binary_to_integer(Uid),
            persistent_term:put({?MODULE, euid}, Euid),
            Euid;
        Euid ->
            Euid
    end.
