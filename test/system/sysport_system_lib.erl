%% @doc What the system test's checks share inside the guest: running
%% commands, waiting for the kernel, and setting up the test hardware (the
%% i2c-stub LM75, mtdram, the U-Boot env on the disk) the same way for every
%% check that needs it.
-module(sysport_system_lib).

-export([sh/1, sh_ok/1, wait_until/2, read_trimmed/1, seeded_bytes/2,
         modprobe/1, lm75/0, lm75_set_millicelsius/2, mtdram/0,
         env_text/0, env_copies/0, fw_printenv/0, test_dir/0]).

-define(ENV_TEXT, "/etc/sysport-test/uboot-env.txt").
-define(DISK, "/dev/vda").
%% fw_env.config: two copies of 8 KiB at 0x100000 and 0x102000.
-define(ENV_COPIES, [{16#100000, 16#2000}, {16#102000, 16#2000}]).
-define(LM75_ADDR, 16#48).
-define(MTDRAM_KIB, 1024).
-define(MTDRAM_ERASE_KIB, 64).

%% @doc Runs a shell command; returns its exit status and output
%% (stdout and stderr).
-spec sh(unicode:chardata()) -> {non_neg_integer(), binary()}.
sh(Cmd) ->
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", unicode:characters_to_list(Cmd)]},
                      exit_status, binary, stderr_to_stdout, hide]),
    collect(Port, []).

collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> collect(Port, [Acc | D]);
        {Port, {exit_status, S}} -> {S, iolist_to_binary(Acc)}
    end.

%% @doc Runs a command that must succeed; its output, else an error.
-spec sh_ok(unicode:chardata()) -> binary().
sh_ok(Cmd) ->
    case sh(Cmd) of
        {0, Out} -> Out;
        {S, Out} -> error({command_failed, unicode:characters_to_binary(Cmd), S, Out})
    end.

%% @doc Polls Fun every 20 ms until it returns `{ok, V}' or `true'.
-spec wait_until(fun(() -> {ok, T} | boolean() | term()), non_neg_integer()) ->
          {ok, T} | timeout.
wait_until(Fun, Ms) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    wait_until_deadline(Fun, Deadline).

wait_until_deadline(Fun, Deadline) ->
    case Fun() of
        {ok, _} = Ok -> Ok;
        true -> {ok, true};
        _ ->
            case erlang:monotonic_time(millisecond) >= Deadline of
                true -> timeout;
                false -> timer:sleep(20), wait_until_deadline(Fun, Deadline)
            end
    end.

-spec read_trimmed(file:filename_all()) -> {ok, binary()} | {error, term()}.
read_trimmed(Path) ->
    case file:read_file(Path) of
        {ok, B} -> {ok, string:trim(B)};
        Error -> Error
    end.

%% @doc N bytes that only Seed produces: a file written from a seed in one
%% boot is checked byte for byte in the next one, which gets the seed as a
%% fact.
-spec seeded_bytes(integer(), non_neg_integer()) -> binary().
seeded_bytes(Seed, N) ->
    {Bytes, _} = rand:bytes_s(N, rand:seed_s(exsss, Seed)),
    Bytes.

%% @doc `modprobe' with parameters, e.g. `"i2c-stub chip_addr=0x48"'.
-spec modprobe(unicode:chardata()) -> ok.
modprobe(ModuleAndParams) ->
    _ = sh_ok(["modprobe ", ModuleAndParams]),
    ok.

%% @doc An LM75 on the i2c-stub bus, instantiated through `new_device'
%% (idempotent: a second call finds the same chip). Returns the bus number
%% and the hwmon directory.
-spec lm75() -> #{bus := non_neg_integer(), hwmon := binary(), client := binary()}.
lm75() ->
    ok = modprobe(io_lib:format("i2c-stub chip_addr=0x~.16b", [?LM75_ADDR])),
    ok = modprobe("i2c-dev"),
    ok = modprobe("lm75"),
    Bus = stub_bus(),
    Client = iolist_to_binary(io_lib:format("/sys/bus/i2c/devices/~b-~4.16.0b", [Bus, ?LM75_ADDR])),
    case filelib:is_dir(Client) of
        true -> ok;
        false ->
            ok = file:write_file(io_lib:format("/sys/bus/i2c/devices/i2c-~b/new_device", [Bus]),
                                 io_lib:format("lm75 0x~.16b", [?LM75_ADDR]))
    end,
    case wait_until(fun() -> hwmon_of(Client) end, 5000) of
        {ok, Hwmon} -> #{bus => Bus, hwmon => Hwmon, client => Client};
        timeout -> error({no_hwmon_for, Client})
    end.

stub_bus() ->
    Adapters = filelib:wildcard("/sys/bus/i2c/devices/i2c-*"),
    Stubs = [A || A <- Adapters, read_trimmed(filename:join(A, "name")) =:= {ok, <<"SMBus stub driver">>}],
    case Stubs of
        ["/sys/bus/i2c/devices/i2c-" ++ N] -> list_to_integer(N);
        Other -> error({i2c_stub_adapters, Other})
    end.

hwmon_of(Client) ->
    case filelib:wildcard(binary_to_list(Client) ++ "/hwmon/hwmon*") of
        [Dir] ->
            case read_trimmed(filename:join(Dir, "name")) of
                {ok, <<"lm75">>} -> {ok, list_to_binary(Dir)};
                _ -> false
            end;
        _ -> false
    end.

%% @doc Writes a temperature into the stub's LM75 temperature register
%% (register 0, big-endian, 1/256 °C) with busybox i2cset. The LM75 has a
%% 0.5 °C resolution by default: use multiples of 500.
-spec lm75_set_millicelsius(non_neg_integer(), integer()) -> ok.
lm75_set_millicelsius(Bus, MilliC) ->
    <<Msb, Lsb>> = <<(MilliC * 256 div 1000):16/signed-big>>,
    %% An SMBus word goes low byte first; the LM75 sends its MSB first.
    %% -f: the lm75 driver owns the address.
    Word = Lsb bsl 8 bor Msb,
    _ = sh_ok(io_lib:format("i2cset -f -y ~b 0x~.16b 0x00 0x~4.16.0b w", [Bus, ?LM75_ADDR, Word])),
    ok.

%% @doc mtdram loaded with a known geometry; returns what the kernel says.
-spec mtdram() -> #{dev := binary(), size := pos_integer(), erasesize := pos_integer(),
                    expected_size := pos_integer(), expected_erasesize := pos_integer()}.
mtdram() ->
    ok = modprobe(io_lib:format("mtdram total_size=~b erase_size=~b", [?MTDRAM_KIB, ?MTDRAM_ERASE_KIB])),
    {ok, Mtd} = file:read_file("/proc/mtd"),
    case re:run(Mtd, "^(mtd[0-9]+): ([0-9a-f]+) ([0-9a-f]+) \"mtdram test device\"",
                [multiline, {capture, all_but_first, binary}]) of
        {match, [Name, Size, Erase]} ->
            #{dev => <<"/dev/", Name/binary>>, size => binary_to_integer(Size, 16),
              erasesize => binary_to_integer(Erase, 16),
              expected_size => ?MTDRAM_KIB * 1024, expected_erasesize => ?MTDRAM_ERASE_KIB * 1024};
        nomatch ->
            error({no_mtdram_in_proc_mtd, Mtd})
    end.

%% @doc The env the host wrote (the mkenvimage input) as a map.
-spec env_text() -> #{binary() => binary()}.
env_text() ->
    {ok, Text} = file:read_file(?ENV_TEXT),
    maps:from_list([list_to_tuple(string:split(L, "="))
                    || L <- binary:split(Text, <<"\n">>, [global, trim_all])]).

%% @doc Both redundant copies as they are on the disk: CRC validity, the
%% flags byte and the key/values.
-spec env_copies() -> [#{offset := non_neg_integer(), crc_ok := boolean(), flags := byte(),
                         vars := #{binary() => binary()}}].
env_copies() ->
    {ok, Fd} = file:open(?DISK, [read, raw, binary]),
    try
        [begin
             {ok, <<Crc:32/little, Flags, Data/binary>>} = file:pread(Fd, Offset, Size),
             #{offset => Offset, crc_ok => erlang:crc32(Data) =:= Crc, flags => Flags,
               vars => env_vars(Data)}
         end || {Offset, Size} <- ?ENV_COPIES]
    after
        file:close(Fd)
    end.

env_vars(Data) ->
    [Used | _] = binary:split(Data, <<0, 0>>),
    maps:from_list([list_to_tuple(string:split(E, "="))
                    || E <- binary:split(Used, <<0>>, [global, trim_all])]).

%% @doc What libubootenv's fw_printenv reads, through /etc/fw_env.config.
-spec fw_printenv() -> #{binary() => binary()}.
fw_printenv() ->
    Out = sh_ok("fw_printenv"),
    maps:from_list([list_to_tuple(string:split(L, "="))
                    || L <- binary:split(Out, <<"\n">>, [global, trim_all])]).

%% @doc The test's own directory on the data partition.
-spec test_dir() -> string().
test_dir() ->
    Dir = "/data/sysport-system",
    ok = filelib:ensure_dir(Dir ++ "/x"),
    Dir.
