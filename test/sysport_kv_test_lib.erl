%% Shared by the kv suites: env images made by mkenvimage or by hand (with
%% erlang:crc32, independent of the helper), fw_printenv/fw_setenv runs with
%% a config naming files in a test directory, and starting the service.
-module(sysport_kv_test_lib).
-include_lib("common_test/include/ct.hrl").

-export([require/1, init_case/2, write_config/2, mkenvimage/4, image/3, image/4, redundant_pair/3,
         fw_printenv/1, fw_setenv/2, fw_setenv_script/2, run/2, start/1, start/2, stop/0,
         copy_crcs/3, helper_os_pid/0, wait_helper_up/1, flip_bit/2, keys/2]).

-define(PORT_OPTS, #{backoff_min => 10, backoff_max => 40}).

%% Fails the suite when a peer program is missing.
-spec require([string()]) -> ok.
require(Programs) ->
    case [P || P <- Programs, os:find_executable(P) =:= false] of
        [] -> ok;
        Missing -> ct:fail("not installed (u-boot-tools, libubootenv-tool, util-linux): ~p", [Missing])
    end.

%% A test case's own directory, as {dir, Dir} in its Config.
-spec init_case(atom(), list()) -> list().
init_case(Case, Config) ->
    [{dir, dir(Config, Case)} | Config].

%% A fresh directory for one test case.
-spec dir(list(), atom()) -> string().
dir(Config, Case) ->
    D = filename:join(?config(priv_dir, Config), atom_to_list(Case)),
    _ = os:cmd("rm -rf '" ++ D ++ "'"),
    ok = filelib:ensure_dir(filename:join(D, "x")),
    D.

%% fw_env.config naming Lines ({Path, Offset, Size}); returns its path.
-spec write_config(string(), [{string(), integer(), integer()}]) -> string().
write_config(Dir, Copies) ->
    Path = filename:join(Dir, "fw_env.config"),
    Text = ["# test\n" | [io_lib:format("~s 0x~.16b 0x~.16b~n", [P, O, S]) || {P, O, S} <- Copies]],
    ok = file:write_file(Path, Text),
    Path.

%% mkenvimage of Pairs (values without newlines) into Out.
-spec mkenvimage(string(), [{binary(), binary()}], integer(), [string()]) -> ok.
mkenvimage(Out, Pairs, Size, Flags) ->
    In = Out ++ ".txt",
    ok = file:write_file(In, [[K, $=, V, $\n] || {K, V} <- Pairs]),
    {0, _} = run("mkenvimage", Flags ++ ["-s", integer_to_list(Size), "-o", Out, In]),
    ok.

%% An image of Size bytes holding Data (the raw data area), zero padded.
-spec image(binary(), pos_integer(), single) -> binary().
image(Data, Size, single) ->
    D = pad(Data, Size - 4),
    <<(erlang:crc32(D)):32/little, D/binary>>.

-spec image(binary(), pos_integer(), redundant, byte()) -> binary().
image(Data, Size, redundant, Flags) ->
    D = pad(Data, Size - 5),
    <<(erlang:crc32(D)):32/little, Flags, D/binary>>.

pad(Data, Len) when byte_size(Data) =< Len ->
    <<Data/binary, 0:((Len - byte_size(Data)) * 8)>>.

%% Two copy files made by mkenvimage -r and a config naming them; the config path.
-spec redundant_pair(string(), [{binary(), binary()}], integer()) -> string().
redundant_pair(Dir, Pairs, Size) ->
    [A, B] = [filename:join(Dir, N) || N <- ["env0", "env1"]],
    ok = mkenvimage(A, Pairs, Size, ["-r"]),
    {ok, _} = file:copy(A, B),
    write_config(Dir, [{A, 0, Size}, {B, 0, Size}]).

%% What fw_printenv prints, as a map, or {error, Output} when it fails.
-spec fw_printenv(string()) -> {ok, #{binary() => binary()}} | {error, binary()}.
fw_printenv(Cfg) ->
    case run("fw_printenv", ["-c", Cfg]) of
        {0, Out} ->
            Lines = binary:split(Out, <<"\n">>, [global, trim]),
            {ok, maps:from_list([list_to_tuple(binary:split(L, <<"=">>)) || L <- Lines])};
        {_, Out} ->
            {error, Out}
    end.

-spec fw_setenv(string(), [binary() | string()]) -> ok.
fw_setenv(Cfg, Args) ->
    {0, _} = run("fw_setenv", ["-c", Cfg | Args]),
    ok.

%% Sets several variables in one fw_setenv run (-s script: "key value" lines).
-spec fw_setenv_script(string(), [{binary(), binary()}]) -> ok.
fw_setenv_script(Cfg, Pairs) ->
    Script = Cfg ++ ".script",
    ok = file:write_file(Script, [[K, $\s, V, $\n] || {K, V} <- Pairs]),
    fw_setenv(Cfg, ["-s", Script]).

%% Runs a program without a shell: {ExitStatus, stdout bytes}.
-spec run(string(), [iodata()]) -> {non_neg_integer(), binary()}.
run(Prog, Args) ->
    Exe = os:find_executable(Prog),
    Port = open_port({spawn_executable, Exe},
                     [binary, exit_status, {args, Args}]),
    collect(Port, []).

collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> collect(Port, [Acc, D]);
        {Port, {exit_status, S}} -> {S, iolist_to_binary(Acc)}
    after 30000 -> error({timeout, Port})
    end.

%% Starts sysport_kv on a config file, with a lock file and defaults file of
%% its own in the same directory unless Opts say otherwise.
-spec start(string()) -> pid().
start(Cfg) ->
    start(Cfg, #{}).

-spec start(string(), map()) -> pid().
start(Cfg, Opts) ->
    Dir = filename:dirname(Cfg),
    Defaults = #{config => Cfg, lock_file => filename:join(Dir, "lock"),
                 defaults => filename:join(Dir, "defaults"), helper => ?PORT_OPTS},
    {ok, Pid} = sysport_kv:start_link(maps:merge(Defaults, Opts)),
    unlink(Pid),
    Pid.

-spec stop() -> ok.
stop() ->
    try sysport_kv:stop() catch exit:_ -> ok end.

%% Per copy of a file-backed pair: valid or bad, by our own CRC check.
-spec copy_crcs(string(), integer(), redundant | single) -> [valid | bad].
copy_crcs(Dir, Size, Kind) ->
    Files = case Kind of redundant -> ["env0", "env1"]; single -> ["env0"] end,
    [begin
         {ok, Bin} = file:read_file(filename:join(Dir, F)),
         Hdr = case Kind of redundant -> 5; single -> 4 end,
         case Bin of
             <<Crc:32/little, _:(Hdr - 4)/binary, Data:(Size - Hdr)/binary, _/binary>> ->
                 case erlang:crc32(Data) of Crc -> valid; _ -> bad end;
             _ -> bad
         end
     end || F <- Files].

-spec helper_os_pid() -> non_neg_integer() | undefined.
helper_os_pid() ->
    {ok, #{helper := #{os_pid := P}}} = sysport_test_lib:flat_status(sysport_kv),
    P.

%% Waits until the helper is up with more than Starts starts.
-spec wait_helper_up(non_neg_integer()) -> ok.
wait_helper_up(Starts) ->
    Up = fun() ->
                 case sysport_test_lib:flat_status(sysport_kv) of
                     {ok, #{helper := #{state := up, starts := S}}} -> S > Starts;
                     _ -> false
                 end
         end,
    case sysport_test_lib:wait_until(Up, 10000, 2) of
        ok -> ok;
        timeout ->
            {ok, #{helper := #{os_pid := P}} = St} = sysport_test_lib:flat_status(sysport_kv),
            Stat = file:read_file("/proc/" ++ integer_to_list(P) ++ "/stat"),
            ct:fail({helper_not_back, Starts, Stat, St})
    end.

-spec flip_bit(string(), non_neg_integer()) -> ok.
flip_bit(File, Offset) ->
    {ok, F} = file:open(File, [read, write, raw, binary]),
    {ok, <<B>>} = file:pread(F, Offset, 1),
    ok = file:pwrite(F, Offset, <<(B bxor 16#10)>>),
    ok = file:close(F).

%% N keys Prefix_1..Prefix_N with values.
-spec keys(string(), pos_integer()) -> [{binary(), binary()}].
keys(Prefix, N) ->
    [{iolist_to_binary([Prefix, "_", integer_to_list(I)]), iolist_to_binary(["value_number_", integer_to_list(I)])}
     || I <- lists:seq(1, N)].
