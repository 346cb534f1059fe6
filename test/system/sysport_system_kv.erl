%% @doc The system test's checks of sysport_kv: the U-Boot env on the virtio
%% disk where Nerves x86_64 keeps it, read and written beside libubootenv's
%% fw_printenv, and a redundant env on an MTD device (mtdram) whose writes
%% must go through erase and write, with the NOR scheme of an active and an
%% obsolete copy.
-module(sysport_system_kv).

-export([kv_env/1, kv_mtd/1]).

-import(sysport_system_lib, [all_true/1, env_copies/0, env_copies/2, fw_printenv/0, fw_printenv/1]).

-define(ENV_SIZE, 16#2000).
-define(MTD_CONFIG, "/tmp/fw_env.mtd.config").
-define(MTD_IMAGE_CONFIG, "/tmp/fw_env.mtd-image.config").
-define(MTD_IMAGE, "/tmp/mtd-env.img").
%% The flags byte of a copy on NOR (and RAM, which sysport treats alike).
-define(ACTIVE, 1).
-define(OBSOLETE, 0).

%% The env the host made reads as written; validate_firmware/0 and a put
%% of three keys each write the copy that was not current, with the next
%% flags value and a valid CRC, leaving the other copy as it was; and
%% fw_printenv (libubootenv, in the guest) reads what sysport wrote.
-spec kv_env(sysport_system_guest:ctx()) -> sysport_system_guest:result().
kv_env(_Ctx) ->
    Host = sysport_system_lib:env_text(),
    {ok, Read} = sysport_kv:get_all(),
    {ok, Firmware} = sysport_kv:firmware_status(),
    ok = sysport_kv:validate_firmware(),
    Validated = Host#{<<"a.nerves_fw_validated">> => <<"1">>, <<"upgrade_available">> => <<"0">>,
                      <<"bootcount">> => <<"0">>},
    AfterValidate = {fw_printenv(), env_copies()},
    Puts = #{<<"sysport_kv_check">> => <<"1">>, <<"wifi_country">> => <<"DE">>,
             <<"sysport_text">> => <<"κόσμε = ok"/utf8>>},
    ok = sysport_kv:put(Puts),
    Put = maps:merge(Validated, Puts),
    AfterPut = {fw_printenv(), env_copies()},
    {ok, ReadBack} = sysport_kv:get_all(),
    all_true([{reads_host_env, Read =:= Host orelse Read},
              {firmware_status, case Firmware of
                                    #{active := <<"a">>, validated := false} -> true;
                                    _ -> Firmware
                                end},
              {validate_firmware, written(copy2, 2, Validated, {copy1, 1, Host}, AfterValidate)},
              {put, written(copy1, 3, Put, {copy2, 2, Validated}, AfterPut)},
              {get_all_after_put, ReadBack =:= Put orelse ReadBack}]).

%% fw_printenv prints Vars; the copy written has Flags, a valid CRC and
%% Vars; the other one is as it was.
written(Copy, Flags, Vars, {Other, OtherFlags, OtherVars}, {Printed, [C1, C2]}) ->
    Copies = #{copy1 => C1, copy2 => C2},
    all_true([{fw_printenv, Printed =:= Vars orelse Printed},
              {Copy, copy_is(maps:get(Copy, Copies), Flags, Vars)},
              {Other, copy_is(maps:get(Other, Copies), OtherFlags, OtherVars)}]).

copy_is(#{crc_ok := true, flags := Flags, vars := Vars}, Flags, Vars) -> true;
copy_is(Copy, _, _) -> maps:remove(vars, Copy).

%% A redundant env on mtd0 (mtdram), one copy per 64 KiB erase block, as
%% fw_env.config describes NOR flash: the blocks start zeroed (no valid
%% copy), recover/0 writes both copies, each put writes the copy that is
%% not current and marks the other obsolete. A kprobe on the MTD core's
%% mtd_erase sees each write erase exactly the block it writes and nothing
%% else; what follows the env in its block survives; the flags bytes say
%% active and obsolete; a new instance reads the active copy; and
%% fw_printenv reads the same from an image of the blocks (it refuses
%% mtdram itself, whose MTD type is RAM).
-spec kv_mtd(sysport_system_guest:ctx()) -> sysport_system_guest:result().
kv_mtd(_Ctx) ->
    #{dev := Dev, erasesize := Unit} = sysport_system_lib:mtdram(),
    Tails = [sysport_system_lib:seeded_bytes(erlang:unique_integer(), Unit - ?ENV_SIZE) || _ <- [1, 2]],
    {ok, Fd} = file:open(Dev, [read, write, raw, binary]),
    [ok = file:pwrite(Fd, I * Unit, <<0:(?ENV_SIZE * 8), Tail/binary>>)
     || {I, Tail} <- lists:zip([0, 1], Tails)],
    ok = file:close(Fd),
    Copies = [{0, ?ENV_SIZE}, {Unit, ?ENV_SIZE}],
    ok = file:write_file(?MTD_CONFIG, [[Dev, io_lib:format(" 0x~.16b 0x~.16b 0x~.16b~n", [Off, ?ENV_SIZE, Unit])]
                                       || {Off, _} <- Copies]),
    ok = supervisor:terminate_child(sysport_sup, sysport_kv),
    try
        mtd_generations(Dev, Unit, Copies, Tails)
    after
        _ = catch sysport_kv:stop(),
        {ok, _} = supervisor:restart_child(sysport_sup, sysport_kv)
    end.

mtd_generations(Dev, Unit, Copies, Tails) ->
    {ok, _} = sysport_kv:start_link(#{config => ?MTD_CONFIG}),
    Corrupt = sysport_kv:get_all(),
    ok = sysport_system_lib:erase_trace_start(),
    Recovered = sysport_kv:recover(),
    RecoverErases = sysport_system_lib:erase_trace(),
    AfterRecover = env_copies(Dev, Copies),
    ok = sysport_kv:put(<<"mtd_generation">>, <<"1">>),
    Put1 = {sysport_system_lib:erase_trace(), env_copies(Dev, Copies)},
    ok = sysport_kv:put(<<"mtd_generation">>, <<"2">>),
    Put2 = {sysport_system_lib:erase_trace(), env_copies(Dev, Copies)},
    {ok, Status} = sysport_kv:status(),
    ok = sysport_kv:stop(),
    {ok, _} = sysport_kv:start_link(#{config => ?MTD_CONFIG}),
    Reread = sysport_kv:get(<<"mtd_generation">>),
    ok = sysport_kv:stop(),
    {ok, Block} = read_blocks(Dev, 2 * Unit),
    TailsKept = [binary:part(Block, I * Unit + ?ENV_SIZE, Unit - ?ENV_SIZE) || I <- [0, 1]] =:= Tails,
    Direct = sysport_system_lib:sh(["fw_printenv -c ", ?MTD_CONFIG]),
    FromImage = fw_printenv_image(Block, Unit),
    sysport_system_guest:info("kv_mtd: ~ts, erases ~0p ~0p ~0p; fw_printenv on the device: ~0p; status ~0p",
                              [Dev, RecoverErases, element(1, Put1), element(1, Put2), Direct,
                               maps:with([kinds, scheme, current, copies], Status)]),
    Gen1 = #{<<"mtd_generation">> => <<"1">>},
    Gen2 = #{<<"mtd_generation">> => <<"2">>},
    all_true([{zeroed_blocks_are_corrupt, element(1, Corrupt) =:= error orelse Corrupt},
              {recover_writes_both, Recovered =:= {ok, defaults} orelse Recovered},
              {recover_erases_each_block, RecoverErases =:= [{Unit, Unit}, {0, Unit}] orelse RecoverErases},
              {recovered_copies, flags_and_vars(AfterRecover, [{?ACTIVE, #{}}, {?OBSOLETE, #{}}])},
              {put1, generation(Put1, [{Unit, Unit}], [{?OBSOLETE, #{}}, {?ACTIVE, Gen1}])},
              {put2, generation(Put2, [{0, Unit}], [{?ACTIVE, Gen2}, {?OBSOLETE, Gen1}])},
              {new_instance_reads_active, Reread =:= {ok, <<"2">>} orelse Reread},
              {rest_of_blocks_kept, TailsKept},
              {fw_printenv_reads_image, FromImage =:= Gen2 orelse FromImage}]).

read_blocks(Dev, Bytes) ->
    {ok, Fd} = file:open(Dev, [read, raw, binary]),
    try file:pread(Fd, 0, Bytes) after file:close(Fd) end.

generation({Erases, After}, ExpectedErases, Expected) ->
    all_true([{erases, Erases =:= ExpectedErases orelse Erases},
              {copies, flags_and_vars(After, Expected)}]).

flags_and_vars(Copies, Expected) ->
    Got = [{Flags, Vars} || #{crc_ok := true, flags := Flags, vars := Vars} <- Copies],
    Got =:= Expected orelse Copies.

%% fw_printenv, given the two blocks as a file, picks the newer copy by its
%% flags (1 over 0, as active over obsolete) and prints it.
fw_printenv_image(Block, Unit) ->
    ok = file:write_file(?MTD_IMAGE, Block),
    ok = file:write_file(?MTD_IMAGE_CONFIG,
                         io_lib:format("~s 0x0 0x~.16b~n~s 0x~.16b 0x~.16b~n",
                                       [?MTD_IMAGE, ?ENV_SIZE, ?MTD_IMAGE, Unit, ?ENV_SIZE])),
    fw_printenv(?MTD_IMAGE_CONFIG).
