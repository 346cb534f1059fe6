%% @doc Where sysport_kmsg resumes after a VM restart: a small file (under
%% /run/sysport by default, a tmpfs that lives as long as the boot) holding
%% the boot id and the last kernel log seq delivered. It is only trusted when
%% /proc/sys/kernel/random/boot_id shows the same boot: seq numbers restart
%% at 0 with every boot.
%%
%% The file is rewritten in place with a fixed-width line, so one pwrite
%% replaces it whole and a crash leaves either the old or the new value.
%% @private
-module(sysport_kmsg_resume).

-export([open/1, save/2, close/1, boot_id/0]).
-export_type([handle/0]).

-define(BOOT_ID_FILE, "/proc/sys/kernel/random/boot_id").
-define(SEQ_DIGITS, 20).

-opaque handle() :: #{fd := file:io_device(), boot_id := binary()}.

%% @doc Opens (creating) the seq file. `LastSeq' is the seq to resume after,
%% or `none' when the file is new, from another boot, or unreadable (then
%% `Why' says which).
-spec open(file:filename_all()) ->
          {ok, handle(), non_neg_integer() | none, fresh | resumed | other_boot | corrupt}
        | {error, term()}.
open(Path) ->
    case boot_id() of
        {ok, BootId} ->
            case filelib:ensure_dir(Path) of
                ok -> open_file(Path, BootId);
                {error, Reason} -> {error, {Reason, unicode:characters_to_binary(Path)}}
            end;
        {error, Reason} ->
            {error, {boot_id, Reason}}
    end.

open_file(Path, BootId) ->
    case file:open(Path, [read, write, raw, binary]) of
        {ok, Fd} ->
            {LastSeq, Why} = case file:pread(Fd, 0, 128) of
                                 eof -> {none, fresh};
                                 {ok, Text} -> parse(Text, BootId);
                                 {error, _} -> {none, corrupt}
                             end,
            %% Anything but our own line goes, so later saves are whole.
            _ = Why =:= resumed orelse file:truncate(Fd),
            {ok, #{fd => Fd, boot_id => BootId}, LastSeq, Why};
        {error, Reason} ->
            {error, {Reason, unicode:characters_to_binary(Path)}}
    end.

parse(Text, BootId) ->
    [Line | _] = binary:split(Text, <<"\n">>),
    case binary:split(Line, <<" ">>) of
        [BootId, SeqText] ->
            try binary_to_integer(string:trim(SeqText, leading)) of
                Seq when Seq >= 0 -> {Seq, resumed};
                _ -> {none, corrupt}
            catch error:badarg -> {none, corrupt}
            end;
        [_OtherBoot, _] -> {none, other_boot};
        _ -> {none, corrupt}
    end.

%% @doc Records `Seq' as delivered.
-spec save(handle(), non_neg_integer()) -> ok | {error, term()}.
save(#{fd := Fd, boot_id := BootId}, Seq) ->
    file:pwrite(Fd, 0, [BootId, $\s, string:pad(integer_to_binary(Seq), ?SEQ_DIGITS, leading), $\n]).

-spec close(handle()) -> ok.
close(#{fd := Fd}) ->
    _ = file:close(Fd),
    ok.

-spec boot_id() -> {ok, binary()} | {error, file:posix()}.
boot_id() ->
    case file:read_file(?BOOT_ID_FILE) of
        {ok, Id} -> {ok, string:trim(Id)};
        {error, _} = Error -> Error
    end.
