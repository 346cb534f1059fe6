%% The U-Boot env service against the real tools: images made by
%% mkenvimage, envs driven by fw_setenv (libubootenv) and read back by
%% fw_printenv, corruption, the format's corner cases and the A/B helpers.
%% Every env lives in files under this run's priv_dir, named by a
%% fw_env.config there; the host's /etc/fw_env.config is never used.
-module(sysport_kv_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").
-include_lib("kernel/include/file.hrl").

-export([all/0, groups/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).
-export([mkenvimage_single/1, mkenvimage_redundant/1, fw_setenv_300_generations/1,
         sysport_300_generations_then_fw_setenv/1,
         one_copy_bit_flip/1, one_copy_zero_tail/1, one_copy_truncated/1, both_copies_corrupt/1,
         recover_repairs_one_bad_copy/1, single_env_corrupt/1,
         duplicates_and_key_only_entries/1, missing_terminator/1, values_of_any_bytes/1,
         configured_size_differs/1, exactly_full_then_no_space/1, invalid_keys_and_values/1,
         keys_fw_printenv_cannot_print/1, too_large_refused_helper_lives/1,
         nothing_written_when_nothing_changes/1, put_map_and_delete_list/1,
         dev_host_fallback/1, subscribers_see_changes/1, ab_firmware/1, bad_config/1,
         missing_device/1, inline_locations/1, lock_timeout/1, lock_dir_missing_works_unlocked/1,
         planted_lock_symlink_not_followed/1, malformed_requests/1,
         facade_prints_sorted_table/1, valgrind_clean/1,
         current_copy_damaged_then_put/1, other_copy_damaged_then_put/1, other_copy_rewritten_then_put/1,
         reads_while_the_service_is_busy/1, readers_during_puts/1, service_heap_holds_no_env/1]).

-import(sysport_kv_test_lib, [write_config/2, mkenvimage/4, image/3, redundant_pair/3,
                              fw_printenv/1, fw_setenv/2, start/1, start/2, flip_bit/2, keys/2]).

-define(SIZE, 16#4000).

all() ->
    [{group, peers}, {group, corruption}, {group, format}, {group, service}, valgrind_clean].

groups() ->
    [{peers, [], [mkenvimage_single, mkenvimage_redundant, fw_setenv_300_generations,
                  sysport_300_generations_then_fw_setenv]},
     {corruption, [], [one_copy_bit_flip, one_copy_zero_tail, one_copy_truncated, both_copies_corrupt,
                       recover_repairs_one_bad_copy, single_env_corrupt, current_copy_damaged_then_put,
                       other_copy_damaged_then_put, other_copy_rewritten_then_put]},
     {format, [], [duplicates_and_key_only_entries, missing_terminator, values_of_any_bytes,
                   configured_size_differs, exactly_full_then_no_space, invalid_keys_and_values,
                   keys_fw_printenv_cannot_print, too_large_refused_helper_lives, nothing_written_when_nothing_changes, put_map_and_delete_list]},
     {service, [], [dev_host_fallback, subscribers_see_changes, ab_firmware, bad_config,
                    missing_device, inline_locations, lock_timeout, lock_dir_missing_works_unlocked,
                    planted_lock_symlink_not_followed, malformed_requests,
                    facade_prints_sorted_table, reads_while_the_service_is_busy, readers_during_puts,
                    service_heap_holds_no_env]}].

init_per_suite(Config) ->
    sysport_kv_test_lib:require(["mkenvimage", "fw_printenv", "fw_setenv", "flock"]),
    Config.

end_per_suite(_Config) ->
    ok.

init_per_testcase(Case, Config) ->
    sysport_kv_test_lib:init_case(Case, Config).

end_per_testcase(_Case, _Config) ->
    sysport_kv_test_lib:stop(),
    ok.

%%% Peers

%% Keys and values mkenvimage can carry: '=' in values, spaces, UTF-8,
%% bytes that are not UTF-8.
sample() ->
    [{<<"bootcmd">>, <<"run distro_bootcmd; echo a=b">>},
     {<<"nerves_fw_active">>, <<"a">>},
     {<<"a.nerves_fw_version">>, <<"1.2.3">>},
     {<<"greeting">>, <<"grüße, 世界"/utf8>>},
     {<<"raw">>, <<1, 2, 255, 254, $=, 127>>},
     {<<"empty">>, <<>>},
     {<<"with space">>, <<"  leading and trailing  ">>}].

mkenvimage_single(Config) ->
    Dir = ?config(dir, Config),
    File = filename:join(Dir, "env0"),
    ok = mkenvimage(File, sample(), ?SIZE, []),
    Cfg = write_config(Dir, [{File, 0, ?SIZE}]),
    start(Cfg),
    Expected = maps:from_list(sample()),
    ?assertEqual({ok, Expected}, sysport_kv:get_all()),
    ?assertEqual({ok, Expected}, fw_printenv(Cfg)),
    ?assertEqual({ok, <<1, 2, 255, 254, $=, 127>>}, sysport_kv:get("raw")),
    ?assertEqual({error, not_found}, sysport_kv:get("absent")),
    {ok, #{scheme := single, current := 0}} = sysport_test_lib:flat_status(sysport_kv).

mkenvimage_redundant(Config) ->
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, sample(), ?SIZE),
    start(Cfg),
    ?assertEqual({ok, maps:from_list(sample())}, sysport_kv:get_all()),
    {ok, #{scheme := incremental, flags := 1, current := 0,
           copies := [#{state := valid, kind := file}, #{state := valid}]}} = sysport_test_lib:flat_status(sysport_kv).

%% fw_setenv drives 300 generations (the flags byte wraps past 255); at a
%% sample of them sysport reads exactly what fw_printenv prints.
fw_setenv_300_generations(Config) ->
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, keys("k", 50), ?SIZE),
    start(Cfg),
    Sample = lists:seq(1, 300, 23) ++ lists:seq(250, 262) ++ [300],
    lists:foreach(
      fun(Gen) ->
              G = integer_to_binary(Gen),
              fw_setenv(Cfg, ["gen", G]),
              fw_setenv(Cfg, [<<"k_", (integer_to_binary(Gen rem 50 + 1))/binary>>, <<"v", G/binary>>]),
              case lists:member(Gen, Sample) of
                  true ->
                      ok = sysport_kv:reload(),
                      {ok, Printed} = fw_printenv(Cfg),
                      ?assertEqual({ok, Printed}, sysport_kv:get_all()),
                      ?assertEqual({ok, G}, sysport_kv:get("gen"));
                  false -> ok
              end
      end, lists:seq(1, 300)),
    %% mkenvimage starts at flags 1; 600 writes later the counter wrapped.
    {ok, #{flags := Flags}} = sysport_test_lib:flat_status(sysport_kv),
    ?assertEqual((1 + 600) rem 256, Flags).

%% sysport writes 300 generations; fw_printenv reads each sample exactly,
%% and fw_setenv carries on from sysport's last write (and sysport from its).
sysport_300_generations_then_fw_setenv(Config) ->
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, keys("k", 50), ?SIZE),
    start(Cfg),
    lists:foreach(
      fun(Gen) ->
              G = integer_to_binary(Gen),
              ok = sysport_kv:put(#{"gen" => G, <<"k_", (integer_to_binary(Gen rem 50 + 1))/binary>> => G}),
              case Gen rem 20 =:= 0 orelse (Gen >= 250 andalso Gen =< 258) of
                  true ->
                      {ok, Mine} = sysport_kv:get_all(),
                      ?assertEqual({ok, Mine}, fw_printenv(Cfg));
                  false -> ok
              end
      end, lists:seq(1, 300)),
    {ok, #{flags := Flags, writes := 300}} = sysport_test_lib:flat_status(sysport_kv),
    ?assertEqual((1 + 300) rem 256, Flags),
    fw_setenv(Cfg, ["after", "fw_setenv"]),
    {ok, Printed} = fw_printenv(Cfg),
    ?assertEqual(<<"300">>, maps:get(<<"gen">>, Printed)),
    ok = sysport_kv:reload(),
    ?assertEqual({ok, Printed}, sysport_kv:get_all()),
    ok = sysport_kv:put("gen", "301"),
    {ok, Again} = fw_printenv(Cfg),
    ?assertEqual(Printed#{<<"gen">> => <<"301">>}, Again).

%%% Corruption

%% A pair where copy 1 is current (generation 2) and copy 0 holds generation 1.
two_generations(Config) ->
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, [{<<"gen">>, <<"0">>}], ?SIZE),
    start(Cfg),
    ok = sysport_kv:put("gen", "1"),
    ok = sysport_kv:put("gen", "2"),
    {ok, #{current := 0}} = sysport_test_lib:flat_status(sysport_kv),
    {Dir, Cfg}.

%% Corrupts the current copy (copy 0) with Damage: the older copy is used,
%% and the next write replaces the damaged one.
one_copy_damaged(Config, Damage) ->
    one_copy_damaged(Config, Damage, reads_older_copy).

one_copy_damaged(Config, Damage, Peer) ->
    {Dir, Cfg} = two_generations(Config),
    Damage(filename:join(Dir, "env0")),
    ok = sysport_kv:reload(),
    ?assertEqual({ok, <<"1">>}, sysport_kv:get("gen")),
    {ok, #{current := 1, copies := [#{state := Bad}, #{state := valid}]}} = sysport_test_lib:flat_status(sysport_kv),
    ?assertNotEqual(valid, Bad),
    case Peer of
        reads_older_copy -> ?assertEqual({ok, <<"1">>}, maps_get(<<"gen">>, fw_printenv(Cfg)));
        refuses -> ?assertMatch({error, _}, fw_printenv(Cfg))
    end,
    ok = sysport_kv:put("gen", "3"),
    {ok, #{current := 0, copies := [#{state := valid}, #{state := valid}]}} = sysport_test_lib:flat_status(sysport_kv),
    ?assertEqual([valid, valid], sysport_kv_test_lib:copy_crcs(Dir, ?SIZE, redundant)),
    ?assertEqual({ok, <<"3">>}, maps_get(<<"gen">>, fw_printenv(Cfg))),
    Bad.

maps_get(K, {ok, Map}) -> {ok, maps:get(K, Map)};
maps_get(_, Error) -> Error.

one_copy_bit_flip(Config) ->
    {bad_crc, _, _} = one_copy_damaged(Config, fun(F) -> flip_bit(F, 7) end).

one_copy_zero_tail(Config) ->
    %% Everything after the first bytes of data reads back as zeros.
    {bad_crc, _, _} = one_copy_damaged(Config, fun(F) ->
                                                       {ok, B} = file:read_file(F),
                                                       ok = file:write_file(F, [binary_part(B, 0, 8),
                                                                                <<0:((?SIZE - 8) * 8)>>])
                                               end).

%% libubootenv 0.3.2 refuses to read either copy while one file is short
%% (U-Boot itself uses the good one, as sysport does); once sysport's next
%% write has restored the file, fw_printenv reads it again.
one_copy_truncated(Config) ->
    {short_read, 100} = one_copy_damaged(Config, fun(F) -> {ok, Fd} = file:open(F, [read, write]),
                                                          {ok, 100} = file:position(Fd, 100),
                                                          ok = file:truncate(Fd),
                                                          ok = file:close(Fd) end,
                                         refuses).

both_copies_corrupt(Config) ->
    {Dir, Cfg} = two_generations(Config),
    [E0, E1] = [filename:join(Dir, F) || F <- ["env0", "env1"]],
    flip_bit(E0, 100),
    flip_bit(E1, 5),
    {error, {corrupt_env, [#{copy := 0, state := {bad_crc, _, _}}, #{copy := 1, state := {bad_crc, _, _}}]}} =
        sysport_kv:reload(),
    {error, {corrupt_env, _}} = sysport_kv:get("gen"),
    {error, {corrupt_env, _}} = sysport_kv:get_all(),
    {ok, #{env_state := {corrupt_env, _}}} = sysport_test_lib:flat_status(sysport_kv),
    {ok, Before0} = file:read_file(E0),
    {ok, Before1} = file:read_file(E1),
    {error, {corrupt_env, _}} = sysport_kv:put("gen", "3"),
    ?assertEqual({ok, Before0}, file:read_file(E0)),
    ?assertEqual({ok, Before1}, file:read_file(E1)),
    {error, _} = fw_printenv(Cfg),
    ok = file:write_file(filename:join(Dir, "defaults"),
                         "# u-boot-initial-env\nbootdelay=2\nbootcmd=run x; y=z\n\nnoequals\n"),
    ?assertEqual({ok, defaults}, sysport_kv:recover()),
    Defaults = #{<<"bootdelay">> => <<"2">>, <<"bootcmd">> => <<"run x; y=z">>},
    ?assertEqual({ok, Defaults}, sysport_kv:get_all()),
    ?assertEqual({ok, Defaults}, fw_printenv(Cfg)),
    ?assertEqual([valid, valid], sysport_kv_test_lib:copy_crcs(Dir, ?SIZE, redundant)),
    ?assertEqual({ok, none}, sysport_kv:recover()).

recover_repairs_one_bad_copy(Config) ->
    {Dir, _Cfg} = two_generations(Config),
    flip_bit(filename:join(Dir, "env1"), 9),
    ok = sysport_kv:reload(),
    ?assertEqual({ok, repaired}, sysport_kv:recover()),
    ?assertEqual([valid, valid], sysport_kv_test_lib:copy_crcs(Dir, ?SIZE, redundant)),
    ?assertEqual({ok, <<"2">>}, sysport_kv:get("gen")),
    ?assertEqual({ok, none}, sysport_kv:recover()).

%% The current copy damaged behind sysport's back, and a put with no
%% reload before it: the put finds the damage as a read would (a copy
%% changed in place is compared whole, not trusted on its header), builds
%% on the older copy and writes over the damaged one, leaving both valid.
current_copy_damaged_then_put(Config) ->
    Damages = [{"a flipped bit in the entries", fun(F) -> flip_bit(F, 9) end},
               {"a flipped bit in the padding", fun(F) -> flip_bit(F, ?SIZE - 100) end},
               {"the CRC", fun(F) -> flip_bit(F, 1) end}],
    lists:foreach(
      fun({Why, Damage}) ->
              ct:log("~s", [Why]),
              {Dir, Cfg} = two_generations(Config),
              Damage(filename:join(Dir, "env0")),
              ok = sysport_kv:put("other", "x"),
              ?assertEqual({ok, #{<<"gen">> => <<"1">>, <<"other">> => <<"x">>}}, fw_printenv(Cfg)),
              ?assertEqual({ok, #{<<"gen">> => <<"1">>, <<"other">> => <<"x">>}}, sysport_kv:get_all()),
              ?assertEqual([valid, valid], sysport_kv_test_lib:copy_crcs(Dir, ?SIZE, redundant)),
              {ok, #{current := 0}} = sysport_test_lib:flat_status(sysport_kv),
              sysport_kv_test_lib:stop()
      end, Damages).

%% The older copy damaged (its header kept, or the file cut short) with no
%% reload: the put replaces that copy, as before, and keeps the current
%% one's entries.
other_copy_damaged_then_put(Config) ->
    Damages = [{"a flipped bit in the entries", fun(F) -> flip_bit(F, 9) end},
               {"the CRC", fun(F) -> flip_bit(F, 1) end},
               {"cut short", fun(F) -> {ok, Fd} = file:open(F, [read, write]),
                                       {ok, 100} = file:position(Fd, 100),
                                       ok = file:truncate(Fd),
                                       ok = file:close(Fd) end}],
    lists:foreach(
      fun({Why, Damage}) ->
              ct:log("~s", [Why]),
              {Dir, Cfg} = two_generations(Config),
              Damage(filename:join(Dir, "env1")),
              ok = sysport_kv:put("other", "x"),
              ?assertEqual({ok, #{<<"gen">> => <<"2">>, <<"other">> => <<"x">>}}, fw_printenv(Cfg)),
              ?assertEqual([valid, valid], sysport_kv_test_lib:copy_crcs(Dir, ?SIZE, redundant)),
              {ok, #{current := 1}} = sysport_test_lib:flat_status(sysport_kv),
              sysport_kv_test_lib:stop()
      end, Damages).

%% The older copy replaced by hand with a newer image (another tool's
%% write, not fw_setenv's): the put sees it is now current and builds on it.
other_copy_rewritten_then_put(Config) ->
    {Dir, Cfg} = two_generations(Config),
    {ok, #{flags := Flags}} = sysport_test_lib:flat_status(sysport_kv),
    Newer = sysport_kv_test_lib:image(<<"gen=9\0from=tool\0\0">>, ?SIZE, redundant, (Flags + 1) rem 256),
    ok = file:write_file(filename:join(Dir, "env1"), Newer),
    ok = sysport_kv:put("other", "x"),
    Expected = #{<<"gen">> => <<"9">>, <<"from">> => <<"tool">>, <<"other">> => <<"x">>},
    ?assertEqual({ok, Expected}, fw_printenv(Cfg)),
    ?assertEqual({ok, Expected}, sysport_kv:get_all()).

single_env_corrupt(Config) ->
    Dir = ?config(dir, Config),
    File = filename:join(Dir, "env0"),
    ok = mkenvimage(File, [{<<"a">>, <<"1">>}], ?SIZE, []),
    Cfg = write_config(Dir, [{File, 0, ?SIZE}]),
    start(Cfg),
    flip_bit(File, 4),
    {error, {corrupt_env, [#{state := {bad_crc, _, _}}]}} = sysport_kv:reload(),
    {error, {corrupt_env, _}} = sysport_kv:get("a"),
    %% No defaults file: an empty env.
    ?assertEqual({ok, defaults}, sysport_kv:recover()),
    ?assertEqual({ok, #{}}, sysport_kv:get_all()),
    ok = sysport_kv:put("a", "2"),
    ?assertEqual({ok, #{<<"a">> => <<"2">>}}, fw_printenv(Cfg)).

%%% Format

duplicates_and_key_only_entries(Config) ->
    Dir = ?config(dir, Config),
    File = filename:join(Dir, "env0"),
    Data = <<"a=1", 0, "keyonly", 0, "=novalue", 0, "b=2", 0, "a=3", 0, 0>>,
    ok = file:write_file(File, image(Data, ?SIZE, single)),
    Cfg = write_config(Dir, [{File, 0, ?SIZE}]),
    start(Cfg),
    Expected = #{<<"a">> => <<"3">>, <<"b">> => <<"2">>},
    ?assertEqual({ok, Expected}, sysport_kv:get_all()),
    %% fw_printenv 0.3.2 also prints the entry with an empty name, which no
    %% tool can set, get or delete; sysport skips it with the key-only one.
    ?assertEqual({ok, Expected#{<<>> => <<"novalue">>}}, fw_printenv(Cfg)),
    {ok, #{duplicates := 1, skipped := 2, unterminated := false}} = sysport_test_lib:flat_status(sysport_kv),
    %% A write leaves one entry per key.
    ok = sysport_kv:put("c", "4"),
    {ok, #{duplicates := 0, skipped := 0}} = sysport_test_lib:flat_status(sysport_kv),
    {ok, Img} = file:read_file(File),
    ?assertEqual(<<"a=3", 0, "b=2", 0, "c=4", 0, 0>>, binary_part(Img, 4, 13)).

%% The data area is full of entries with no empty string after the last.
missing_terminator(Config) ->
    Dir = ?config(dir, Config),
    File = filename:join(Dir, "env0"),
    Size = 64,
    Entry = <<"k=", (binary:copy(<<"v">>, Size - 4 - 3))/binary, 0>>,
    ok = file:write_file(File, image(Entry, Size, single)),
    ok = file:write_file(filename:join(Dir, "cut"), image(<<"a=1", 0, "b=", (binary:copy(<<"x">>, Size - 10))/binary>>,
                                                          Size, single)),
    start(write_config(Dir, [{File, 0, Size}])),
    ?assertEqual({ok, #{<<"k">> => binary:copy(<<"v">>, Size - 7)}}, sysport_kv:get_all()),
    {ok, #{unterminated := true}} = sysport_test_lib:flat_status(sysport_kv),
    sysport_kv_test_lib:stop(),
    %% The last entry cut off by the end of the area is kept.
    start(write_config(Dir, [{filename:join(Dir, "cut"), 0, Size}])),
    ?assertEqual({ok, #{<<"a">> => <<"1">>, <<"b">> => binary:copy(<<"x">>, Size - 10)}}, sysport_kv:get_all()),
    {ok, #{unterminated := true}} = sysport_test_lib:flat_status(sysport_kv).

values_of_any_bytes(Config) ->
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, [], ?SIZE),
    start(Cfg),
    Values = #{<<"eq">> => <<"a=b=c">>, <<"utf8">> => <<"ĉu vi? ☃"/utf8>>,
               <<"bytes">> => <<128, 255, 1, 10, 9>>, <<"ключ"/utf8>> => <<"значение"/utf8>>,
               <<255, 254>> => <<"non-UTF-8 key">>},
    ok = sysport_kv:put(Values),
    ok = sysport_kv:reload(),
    ?assertEqual({ok, Values}, sysport_kv:get_all()),
    %% fw_printenv prints each value's bytes as they are (one has a newline).
    {0, Out} = sysport_kv_test_lib:run("fw_printenv", ["-c", Cfg]),
    [?assertNotEqual(nomatch, binary:match(Out, <<K/binary, "=", V/binary, "\n">>)) || {K, V} <- maps:to_list(Values)],
    ?assertEqual({ok, <<"ĉu vi? ☃"/utf8>>}, sysport_kv:get(<<"utf8">>)),
    ?assertEqual({ok, <<"значение"/utf8>>}, sysport_kv:get("ключ")),
    ok = sysport_kv:put("unicode list", [16#263A, " and ", <<"bin">>]),
    ?assertEqual({ok, <<"☺ and bin"/utf8>>}, sysport_kv:get("unicode list")).

%% The config says 0x8000 but mkenvimage made 0x4000 (and the other way):
%% a CRC error naming the copy, not garbage.
configured_size_differs(Config) ->
    Dir = ?config(dir, Config),
    File = filename:join(Dir, "env0"),
    ok = mkenvimage(File, sample(), ?SIZE, []),
    ok = file:write_file(File, <<0:(?SIZE * 8)>>, [append]),
    start(write_config(Dir, [{File, 0, 2 * ?SIZE}])),
    {error, {corrupt_env, [#{copy := 0, size := 16#8000, state := {bad_crc, Stored, Computed}}]}} = sysport_kv:get_all(),
    ?assertNotEqual(Stored, Computed),
    sysport_kv_test_lib:stop(),
    start(write_config(Dir, [{File, 0, ?SIZE div 2}])),
    {error, {corrupt_env, [#{state := {bad_crc, _, _}}]}} = sysport_kv:get("bootcmd").

exactly_full_then_no_space(Config) ->
    Dir = ?config(dir, Config),
    Size = 256,
    Cfg = redundant_pair(Dir, [{<<"a">>, <<"1">>}], Size),
    start(Cfg),
    %% "a=1\0" + "k=" V "\0" + the final "\0" fill the 251-byte data area.
    Fill = binary:copy(<<"v">>, Size - 5 - 4 - 3 - 1),
    ok = sysport_kv:put("k", Fill),
    ?assertEqual({ok, #{<<"a">> => <<"1">>, <<"k">> => Fill}}, fw_printenv(Cfg)),
    {ok, Img0} = file:read_file(filename:join(Dir, "env0")),
    {ok, Img1} = file:read_file(filename:join(Dir, "env1")),
    ?assertEqual({error, no_space}, sysport_kv:put("k", <<Fill/binary, "v">>)),
    ?assertEqual({error, no_space}, sysport_kv:put("b", "")),
    ?assertEqual({ok, #{<<"a">> => <<"1">>, <<"k">> => Fill}}, sysport_kv:get_all()),
    ?assertEqual({ok, Img0}, file:read_file(filename:join(Dir, "env0"))),
    ?assertEqual({ok, Img1}, file:read_file(filename:join(Dir, "env1"))),
    %% Making room works.
    ok = sysport_kv:put(#{"k" => "short", "b" => ""}),
    ?assertEqual({ok, #{<<"a">> => <<"1">>, <<"k">> => <<"short">>, <<"b">> => <<>>}}, fw_printenv(Cfg)).

invalid_keys_and_values(Config) ->
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, [{<<"a">>, <<"1">>}], ?SIZE),
    start(Cfg),
    {ok, Img} = file:read_file(filename:join(Dir, "env1")),
    ?assertEqual({error, {invalid_key, <<>>}}, sysport_kv:put("", "v")),
    ?assertEqual({error, {invalid_key, <<"a=b">>}}, sysport_kv:put("a=b", "v")),
    ?assertEqual({error, {invalid_key, <<"a", 0>>}}, sysport_kv:put(<<"a", 0>>, "v")),
    ?assertEqual({error, {invalid_value, <<"k">>}}, sysport_kv:put("k", <<"x", 0, "y">>)),
    ?assertEqual({error, {invalid_key, 42}}, sysport_kv:put(42, "v")),
    ?assertEqual({error, {invalid_value, "k"}}, sysport_kv:put("k", [-1])),
    ?assertEqual({error, {invalid_key, <<"x=">>}}, sysport_kv:put(#{"good" => "1", "x=" => "2"})),
    ?assertEqual({error, {invalid_key, <<"=">>}}, sysport_kv:delete(["a", "="])),
    ?assertEqual({ok, #{<<"a">> => <<"1">>}}, sysport_kv:get_all()),
    ?assertEqual({ok, Img}, file:read_file(filename:join(Dir, "env1"))),
    {ok, #{writes := 0}} = sysport_test_lib:flat_status(sysport_kv).

%% fw_printenv prints one `key=value' line per key, and fw_setenv -s,
%% mkenvimage and U-Boot's env import -t read such lines back, skipping
%% those starting with `#': a key with a newline, or starting with `#',
%% would not come back as it went in. A write refuses them; an env that
%% holds one (written by another tool) can still have it deleted.
keys_fw_printenv_cannot_print(Config) ->
    Dir = ?config(dir, Config),
    Size = ?SIZE,
    A = filename:join(Dir, "env0"),
    B = filename:join(Dir, "env1"),
    Img = sysport_kv_test_lib:image(<<"a=1", 0, "two\nlines=x", 0, 0>>, Size, redundant, 1),
    ok = file:write_file(A, Img),
    ok = file:write_file(B, Img),
    Cfg = write_config(Dir, [{A, 0, Size}, {B, 0, Size}]),
    start(Cfg),
    ?assertEqual({ok, #{<<"a">> => <<"1">>, <<"two\nlines">> => <<"x">>}}, sysport_kv:get_all()),
    [?assertEqual({error, {invalid_key, K}}, sysport_kv:put(K, "v"))
     || K <- [<<"new\nline">>, <<"\n">>, <<"trailing\n">>, <<"#comment">>, <<"#">>]],
    ?assertEqual({error, {invalid_key, <<"b\nc">>}}, sysport_kv:put(#{"ok" => "1", <<"b\nc">> => "2"})),
    {ok, #{writes := 0}} = sysport_test_lib:flat_status(sysport_kv),
    ?assertEqual({ok, Img}, file:read_file(B)),
    %% Allowed: '#' after the first byte, spaces, a newline in a value.
    ok = sysport_kv:put(#{"a#b" => "1", "with space" => "2", "multi" => <<"line\none">>}),
    {0, Out} = sysport_kv_test_lib:run("fw_printenv", ["-c", Cfg]),
    ?assertEqual(<<"a=1\na#b=1\nmulti=line\none\ntwo\nlines=x\nwith space=2\n">>, Out),
    ok = sysport_kv:delete(<<"two\nlines">>),
    {0, After} = sysport_kv_test_lib:run("fw_printenv", ["-c", Cfg]),
    ?assertEqual(<<"a=1\na#b=1\nmulti=line\none\nwith space=2\n">>, After),
    ok = sysport_kv:reload(),
    ?assertEqual({ok, #{<<"a">> => <<"1">>, <<"a#b">> => <<"1">>, <<"with space">> => <<"2">>,
                        <<"multi">> => <<"line\none">>}}, sysport_kv:get_all()).

%% A put too large for the helper's frame cap (10 MB) used to make the
%% helper exit, failing every other caller with helper_exited: it is
%% refused with too_large before it is sent, as is anything that could
%% not fit even an empty env; the helper carries on, nothing written.
too_large_refused_helper_lives(Config) ->
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, [{<<"a">>, <<"1">>}], ?SIZE),
    start(Cfg),
    Pid = sysport_kv_test_lib:helper_os_pid(),
    Self = self(),
    %% Another caller's write in flight meanwhile.
    spawn_link(fun() -> Self ! {other, sysport_kv:put("other", "x")} end),
    ?assertEqual({error, too_large}, sysport_kv:put("big", binary:copy(<<"v">>, 10 bsl 20))),
    ?assertEqual({error, too_large}, sysport_kv:put(#{"a" => "2", "big" => binary:copy(<<"v">>, ?SIZE)})),
    %% The largest pair an empty env takes: "k=" V "\0" and the final "\0"
    %% in 16 KiB less 5 header bytes. One byte more can never fit...
    Room = ?SIZE - 5 - 4,
    ?assertEqual({error, too_large}, sysport_kv:put("k", binary:copy(<<"v">>, Room + 1))),
    %% ...while this one could, beside no other key.
    ?assertEqual({error, no_space}, sysport_kv:put("k", binary:copy(<<"v">>, Room))),
    receive {other, R} -> ?assertEqual(ok, R) after 10000 -> ct:fail(other_put) end,
    ?assertEqual(Pid, sysport_kv_test_lib:helper_os_pid()),
    {ok, #{helper := #{restarts := 0}, writes := 1}} = sysport_test_lib:flat_status(sysport_kv),
    ?assertEqual({ok, #{<<"a">> => <<"1">>, <<"other">> => <<"x">>}}, fw_printenv(Cfg)),
    ok = sysport_kv:delete("other"),
    ok = sysport_kv:delete("a"),
    ok = sysport_kv:put("k", binary:copy(<<"v">>, Room)),
    ?assertEqual({ok, binary:copy(<<"v">>, Room)}, sysport_kv:get("k")).

nothing_written_when_nothing_changes(Config) ->
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, [{<<"a">>, <<"1">>}], ?SIZE),
    start(Cfg),
    Files = [filename:join(Dir, F) || F <- ["env0", "env1"]],
    Before = [file:read_file(F) || F <- Files],
    ok = sysport_kv:put("a", "1"),
    ok = sysport_kv:put(#{"a" => <<"1">>}),
    ok = sysport_kv:delete("absent"),
    ok = sysport_kv:delete([]),
    ?assertEqual(Before, [file:read_file(F) || F <- Files]),
    {ok, #{writes := 0, flags := 1}} = sysport_test_lib:flat_status(sysport_kv),
    ok = sysport_kv:put("a", "2"),
    {ok, #{writes := 1, flags := 2}} = sysport_test_lib:flat_status(sysport_kv).

put_map_and_delete_list(Config) ->
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, keys("k", 5), ?SIZE),
    start(Cfg),
    ok = sysport_kv:put(#{"x" => "1", <<"y">> => <<"2">>, "k_1" => "changed"}),
    {ok, #{writes := 1, flags := 2}} = sysport_test_lib:flat_status(sysport_kv),
    ok = sysport_kv:delete([<<"k_2">>, "k_3", "x"]),
    {ok, #{writes := 2, flags := 3}} = sysport_test_lib:flat_status(sysport_kv),
    ok = sysport_kv:delete("k_4"),
    Expected = #{<<"k_1">> => <<"changed">>, <<"k_5">> => <<"value_number_5">>, <<"y">> => <<"2">>},
    ?assertEqual({ok, Expected}, sysport_kv:get_all()),
    ?assertEqual({ok, Expected}, fw_printenv(Cfg)).

%%% Service

%% No fw_env.config and no locations: a file-backed pair in data_dir,
%% empty until the first write creates it.
dev_host_fallback(Config) ->
    %% On a host with its own fw_env.config this would be the real env.
    filelib:is_regular("/etc/fw_env.config") andalso throw({skip, "this host has /etc/fw_env.config"}),
    Dir = ?config(dir, Config),
    DataDir = filename:join(Dir, "data"),
    application:set_env(sysport, data_dir, DataDir),
    try
        {ok, Pid} = sysport_kv:start_link(#{lock_file => filename:join(Dir, "lock")}),
        unlink(Pid),
        Image = filename:join(DataDir, "uboot-env"),
        Cfg = filename:join(DataDir, "fw_env.config"),
        ?assertEqual({ok, #{}}, sysport_kv:get_all()),
        ?assertEqual({error, not_found}, sysport_kv:get("x")),
        ?assertNot(filelib:is_file(Image)),
        {ok, #{env_state := ok, source := {data_dir, _}, copies := [#{state := missing}, #{state := missing}]}} =
            sysport_test_lib:flat_status(sysport_kv),
        ok = sysport_kv:put("x", "1"),
        ?assertEqual(2 * 16#20000, filelib:file_size(Image)),
        {ok, #{copies := [#{state := valid, size := 16#20000}, #{state := valid}]}} = sysport_test_lib:flat_status(sysport_kv),
        ?assertEqual({ok, #{<<"x">> => <<"1">>}}, fw_printenv(Cfg))
    after
        application:unset_env(sysport, data_dir)
    end.

subscribers_see_changes(Config) ->
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, [{<<"a">>, <<"1">>}, {<<"b">>, <<"2">>}], ?SIZE),
    start(Cfg),
    ok = sysport_kv:subscribe(),
    ok = sysport_kv:put(#{"a" => "10", "c" => "3"}),
    ?assertEqual(#{<<"a">> => {<<"1">>, <<"10">>}, <<"c">> => {undefined, <<"3">>}}, changed()),
    ok = sysport_kv:delete("b"),
    ?assertEqual(#{<<"b">> => {<<"2">>, undefined}}, changed()),
    ok = sysport_kv:put("a", "10"),
    fw_setenv(Cfg, ["d", "4"]),
    ok = sysport_kv:reload(),
    ?assertEqual(#{<<"d">> => {undefined, <<"4">>}}, changed()),
    ok = sysport_kv:unsubscribe(),
    ok = sysport_kv:put("e", "5"),
    receive {sysport_kv, changed, _} = M -> ct:fail({unexpected, M}) after 100 -> ok end.

changed() ->
    receive {sysport_kv, changed, Changes} -> Changes after 2000 -> ct:fail(no_change_message) end.

ab_firmware(Config) ->
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, [{<<"nerves_fw_active">>, <<"b">>}, {<<"a.nerves_fw_version">>, <<"1.0">>},
                               {<<"b.nerves_fw_version">>, <<"1.1">>}, {<<"b.nerves_fw_validated">>, <<"0">>},
                               {<<"upgrade_available">>, <<"1">>}, {<<"bootcount">>, <<"2">>}], ?SIZE),
    start(Cfg),
    ?assertEqual({ok, <<"1.1">>}, sysport_kv:get_active("nerves_fw_version")),
    ?assertEqual({error, not_found}, sysport_kv:get_active("nope")),
    ?assertEqual({ok, #{<<"nerves_fw_version">> => <<"1.1">>, <<"nerves_fw_validated">> => <<"0">>}},
                 sysport_kv:get_all_active()),
    ?assertEqual({ok, #{active => <<"b">>, validated => false, upgrade_available => true, bootcount => 2}},
                 sysport_kv:firmware_status()),
    ok = sysport_kv:put_active("custom", "x"),
    ?assertEqual({ok, <<"x">>}, sysport_kv:get("b.custom")),
    {ok, #{writes := W, flags := F}} = sysport_test_lib:flat_status(sysport_kv),
    ok = sysport_kv:validate_firmware(),
    {ok, #{writes := W1, flags := F1}} = sysport_test_lib:flat_status(sysport_kv),
    ?assertEqual({W + 1, (F + 1) rem 256}, {W1, F1}),  % one write
    ?assertEqual({ok, #{active => <<"b">>, validated => true, upgrade_available => false, bootcount => 0}},
                 sysport_kv:firmware_status()),
    {ok, Printed} = fw_printenv(Cfg),
    ?assertMatch(#{<<"b.nerves_fw_validated">> := <<"1">>, <<"upgrade_available">> := <<"0">>,
                   <<"bootcount">> := <<"0">>, <<"a.nerves_fw_version">> := <<"1.0">>}, Printed),
    %% Without boot counting only the slot is marked.
    ok = sysport_kv:delete(["upgrade_available", "bootcount", "b.nerves_fw_validated"]),
    ok = sysport_kv:validate_firmware(),
    {ok, Env} = sysport_kv:get_all(),
    ?assertNot(is_map_key(<<"bootcount">>, Env)),
    ?assertEqual({ok, #{active => <<"b">>, validated => true, upgrade_available => undefined,
                        bootcount => undefined}}, sysport_kv:firmware_status()),
    ok = sysport_kv:delete("nerves_fw_active"),
    ?assertEqual({error, no_active_firmware}, sysport_kv:get_active("x")),
    ?assertEqual({error, no_active_firmware}, sysport_kv:validate_firmware()),
    ?assertEqual({error, no_active_firmware}, sysport_kv:firmware_status()).

%% A config that does not parse: the service runs, says why, and the
%% helper does not restart over and over.
bad_config(Config) ->
    Dir = ?config(dir, Config),
    Cfg = filename:join(Dir, "fw_env.config"),
    ok = file:write_file(Cfg, "/dev/mmcblk0 0x100000\n"),
    start(Cfg),
    {error, {bad_config, Why}} = sysport_kv:get_all(),
    ct:pal("bad config: ~ts", [Why]),
    ?assertNotEqual(nomatch, binary:match(Why, <<"line 1">>)),
    {error, {bad_config, _}} = sysport_kv:put("a", "b"),
    timer:sleep(300),
    {ok, #{env_state := {bad_config, _}, helper := #{restarts := 0, state := up}}} = sysport_test_lib:flat_status(sysport_kv),
    sysport_kv_test_lib:stop(),
    %% An explicitly named config file that is missing is an error too, not
    %% the data_dir fallback.
    start(filename:join(Dir, "absent.config")),
    {error, {bad_config, _}} = sysport_kv:get_all().

missing_device(Config) ->
    Dir = ?config(dir, Config),
    start(write_config(Dir, [{"/dev/sysport-no-such-device", 0, ?SIZE}, {"/dev/null", 0, ?SIZE}])),
    {error, {unreadable, [#{state := {io_error, enoent}}, #{state := {layout, _}}]}} = sysport_kv:get_all(),
    {ok, #{env_state := {unreadable, _}, helper := #{restarts := 0}}} = sysport_test_lib:flat_status(sysport_kv),
    {error, {write_failed, #{copy := 1, step := layout}}} = sysport_kv:recover().

inline_locations(Config) ->
    Dir = ?config(dir, Config),
    File = filename:join(Dir, "env"),
    ok = mkenvimage(File, [{<<"a">>, <<"1">>}], 16#2000, ["-r"]),
    {ok, _} = file:copy(File, File ++ ".2"),
    ok = file:write_file(File, file_contents(File ++ ".2"), [append]),
    start(filename:join(Dir, "unused"),
          #{locations => [File ++ " 0 0x2000", [File, " -0x2000 2000"]]}),
    ?assertEqual({ok, #{<<"a">> => <<"1">>}}, sysport_kv:get_all()),
    {ok, #{source := locations, copies := [#{offset := 0}, #{offset := 16#2000}]}} = sysport_test_lib:flat_status(sysport_kv),
    ok = sysport_kv:put("b", "2"),
    Cfg = write_config(Dir, [{File, 0, 16#2000}, {File, 16#2000, 16#2000}]),
    ?assertEqual({ok, #{<<"a">> => <<"1">>, <<"b">> => <<"2">>}}, fw_printenv(Cfg)),
    ?assertEqual({error, {invalid_option, kv, #{colour => blue}}}, sysport_kv:start_link(#{colour => blue})).

file_contents(F) ->
    {ok, B} = file:read_file(F),
    B.

%% Another holder keeps the lock past lock_timeout: the write fails with
%% lock_timeout and writes nothing; once it lets go, writes go through.
lock_timeout(Config) ->
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, [{<<"a">>, <<"1">>}], ?SIZE),
    Lock = filename:join(Dir, "lock"),
    start(Cfg, #{lock_timeout => 200}),
    Holder = open_port({spawn_executable, os:find_executable("flock")},
                       [{args, ["-x", Lock, "-c", "echo held; sleep 2"]}, binary, exit_status]),
    receive {Holder, {data, <<"held\n">>}} -> ok after 5000 -> ct:fail(no_lock_holder) end,
    ?assertEqual({error, lock_timeout}, sysport_kv:put("a", "2")),
    receive {Holder, {exit_status, 0}} -> ok after 5000 -> ct:fail(holder_stuck) end,
    ok = sysport_kv:put("a", "3"),
    ?assertEqual({ok, #{<<"a">> => <<"3">>}}, fw_printenv(Cfg)),
    {ok, #{writes := 1, lock := ok}} = sysport_test_lib:flat_status(sysport_kv).

%% The lock file's directory does not exist (no /var/lock on a small
%% rootfs): writes go through unlocked, and the helper says so once.
lock_dir_missing_works_unlocked(Config) ->
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, [{<<"a">>, <<"1">>}], ?SIZE),
    sysport_test_lib:capture_logs(),
    try
        start(Cfg, #{lock_file => filename:join([Dir, "no-such-dir", "lock"])}),
        ok = sysport_kv:put("a", "2"),
        ok = sysport_kv:put("b", "3"),
        ?assertEqual({ok, #{<<"a">> => <<"2">>, <<"b">> => <<"3">>}}, fw_printenv(Cfg)),
        {ok, warning, _, _} = sysport_test_lib:wait_log("working without the lock", 5000),
        {ok, #{writes := 2, lock := enoent}} = sysport_test_lib:flat_status(sysport_kv)
    after
        sysport_test_lib:stop_capture_logs()
    end.

%% The lock sits in a world-writable directory (as /var/lock is). A local
%% user plants a symlink where the lock file goes, dangling (O_CREAT
%% through it would create a file of root's anywhere) or to a file of
%% root's: the helper opens neither, and writes go through unlocked.
planted_lock_symlink_not_followed(Config) ->
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, [{<<"a">>, <<"1">>}], ?SIZE),
    LockDir = filename:join(Dir, "var-lock"),
    ok = file:make_dir(LockDir),
    ok = file:change_mode(LockDir, 8#777),
    ok = file:change_mode(Dir, 8#755),
    Lock = filename:join(LockDir, "fw_printenv.lock"),
    Victim = filename:join(Dir, "root-only"),
    ok = file:write_file(Victim, <<"secret">>),
    ok = file:change_mode(Victim, 8#600),
    Created = filename:join(Dir, "created-by-root"),
    lists:foreach(
      fun({Target, Value}) ->
              _ = file:delete(Lock),
              as_nobody("ln -s " ++ Target ++ " " ++ Lock),
              {ok, #file_info{type = symlink, uid = Nobody}} = file:read_link_info(Lock),
              ?assertNotEqual(0, Nobody),
              start(Cfg, #{lock_file => Lock}),
              ok = sysport_kv:put("a", Value),
              {ok, #{lock := eloop}} = sysport_test_lib:flat_status(sysport_kv),
              ok = sysport_kv:stop()
      end, [{Created, "2"}, {Victim, "3"}]),
    ?assertEqual({ok, #{<<"a">> => <<"3">>}}, fw_printenv(Cfg)),
    ?assertEqual({error, enoent}, file:read_file_info(Created)),
    ?assertMatch({ok, #file_info{size = 6, mode = M}} when M band 8#777 =:= 8#600, file:read_file_info(Victim)),
    ?assertEqual({ok, <<"secret">>}, file:read_file(Victim)).

as_nobody(Cmd) ->
    {0, _} = sysport_kv_test_lib:run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                 "sh", "-c", Cmd]),
    ok.

%% The helper alone: requests of the wrong shape get errors, not crashes.
malformed_requests(Config) ->
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, [{<<"a">>, <<"1">>}], ?SIZE),
    {ok, P} = sysport_port:start_link(#{helper => "sysport_kv",
                                        args => ["--config=" ++ Cfg, "--lock=" ++ filename:join(Dir, "lock")]}),
    {error, badarg} = sysport_port:call(P, {update, not_a_list, [], none}),
    {error, badarg} = sysport_port:call(P, {update, [{1, 2}], [], none}),
    {error, badarg} = sysport_port:call(P, {update, [{<<"k">>}], [], none}),
    {error, badarg} = sysport_port:call(P, {update, [], [], {1, 2}}),
    {error, badarg} = sysport_port:call(P, {load, {0, 1, -5}}),
    {error, badarg} = sysport_port:call(P, {update, [], []}),
    {error, badarg} = sysport_port:call(P, {recover, [{<<"k">>, 1}]}),
    {error, {unknown_request, _}} = sysport_port:call(P, frobnicate),
    {ok, #{env := [{<<"a">>, <<"1">>}], version := Version}} = sysport_port:call(P, {load, none}),
    %% Holding that version, the entries are not sent again.
    {ok, #{version := Version} = Same} = sysport_port:call(P, {load, Version}),
    false = is_map_key(env, Same),
    {ok, #{version := V2} = Written} = sysport_port:call(P, {update, [{<<"b">>, <<"2">>}], [], Version}),
    false = is_map_key(env, Written),
    {ok, #{env := [{<<"a">>, <<"1">>}, {<<"b">>, <<"2">>}]}} = sysport_port:call(P, {update, [], [], Version}),
    {ok, #{version := V2}} = sysport_port:call(P, {load, V2}),
    #{restarts := 0} = sysport_port:stats(P),
    sysport_port:stop(P).

facade_prints_sorted_table(Config) ->
    Dir = ?config(dir, Config),
    start(redundant_pair(Dir, [{<<"zeta">>, <<"last">>}, {<<"alpha">>, <<"first">>},
                               {<<"bin">>, <<255, 0:0>>}], ?SIZE)),
    ct:capture_start(),
    ok = sysport:kv(),
    ct:capture_stop(),
    Out = lists:flatten(ct:capture_get()),
    ct:pal("~ts", [Out]),
    [Header, A, B, Z | _] = string:split(Out, "\n", all),
    ?assertMatch({match, _}, re:run(Header, "^key +value")),
    ?assertMatch({match, _}, re:run(A, "^alpha +first")),
    ?assertMatch({match, _}, re:run(B, "^bin +<<255>>")),
    ?assertMatch({match, _}, re:run(Z, "^zeta +last")).

%% Reads are answered in the caller from the env the service published:
%% with the service process suspended (as if busy with a long write) every
%% read still answers at once, and a stopped service still says
%% not_running.
reads_while_the_service_is_busy(Config) ->
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, [{<<"nerves_fw_active">>, <<"a">>}, {<<"a.nerves_fw_validated">>, <<"1">>},
                               {<<"k">>, <<"v">>}], ?SIZE),
    start(Cfg),
    Pid = whereis(sysport_kv),
    ok = sys:suspend(Pid),
    try
        ?assertEqual({ok, <<"v">>}, sysport_kv:get("k")),
        ?assertEqual({error, not_found}, sysport_kv:get("absent")),
        ?assertMatch({ok, #{<<"k">> := <<"v">>}}, sysport_kv:get_all()),
        ?assertEqual({ok, <<"1">>}, sysport_kv:get_active("nerves_fw_validated")),
        ?assertEqual({ok, #{<<"nerves_fw_validated">> => <<"1">>}}, sysport_kv:get_all_active()),
        ?assertMatch({ok, #{active := <<"a">>, validated := true}}, sysport_kv:firmware_status())
    after
        ok = sys:resume(Pid)
    end,
    sysport_kv_test_lib:stop(),
    ?assertEqual({error, not_running}, sysport_kv:get("k")),
    ?assertEqual({error, not_running}, sysport_kv:get_all()).

%% Twenty processes read the whole env and one key in a loop while 100 puts
%% of two keys at once run: every read sees both keys from one put (never
%% half of one), generations never go back, and the writer reads each of
%% its puts back at once.
readers_during_puts(Config) ->
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, keys("k", 200), ?SIZE),
    start(Cfg),
    ok = sysport_kv:put(#{"gen" => "0", "gen_again" => "0"}),
    Self = self(),
    Readers = [spawn_link(fun() -> reader(Self, 0, 0) end) || _ <- lists:seq(1, 20)],
    lists:foreach(fun(I) ->
                          G = integer_to_binary(I),
                          ok = sysport_kv:put(#{"gen" => G, "gen_again" => G}),
                          ?assertEqual({ok, G}, sysport_kv:get("gen"))
                  end, lists:seq(1, 100)),
    [R ! stop || R <- Readers],
    Results = [receive {R, Result} -> Result after 10000 -> ct:fail(reader_stuck) end || R <- Readers],
    ct:log("reads per reader: ~p", [Results]),
    [?assertMatch({ok, N, _} when N > 0, Result) || Result <- Results],
    ?assert(lists:any(fun({ok, _, Last}) -> Last > 0 end, Results)).

reader(Parent, Reads, Last) ->
    receive
        stop -> Parent ! {self(), {ok, Reads, Last}}
    after 0 ->
            {ok, #{<<"gen">> := G, <<"gen_again">> := G2} = Env} = sysport_kv:get_all(),
            {ok, G1} = sysport_kv:get("gen"),
            Gen = binary_to_integer(G),
            case G =:= G2 andalso map_size(Env) =:= 202 andalso Gen >= Last
                andalso binary_to_integer(G1) >= Gen of
                true -> reader(Parent, Reads + 1, Gen);
                false -> Parent ! {self(), {inconsistent, G, G2, G1, Last, map_size(Env)}}
            end
    end.

%% The service's heap holds no copy of a large env: not after it is read at
%% start, nor after a reload that brings all of it again, nor after puts.
service_heap_holds_no_env(Config) ->
    Dir = ?config(dir, Config),
    Size = 16#100000,
    Pairs = [{<<"key_", (integer_to_binary(I))/binary>>, binary:copy(<<"v">>, 100)} || I <- lists:seq(1, 5000)],
    EnvBytes = lists:sum([byte_size(K) + byte_size(V) || {K, V} <- Pairs]),
    Cfg = redundant_pair(Dir, Pairs, Size),
    start(Cfg),
    Pid = whereis(sysport_kv),
    HeapBytes = fun() ->
                        {ok, _} = sysport_kv:status(),
                        {total_heap_size, W} = process_info(Pid, total_heap_size),
                        W * erlang:system_info(wordsize)
                end,
    AtStart = HeapBytes(),
    fw_setenv(Cfg, ["key_1", "changed"]),
    ok = sysport_kv:reload(),
    {ok, <<"changed">>} = sysport_kv:get("key_1"),
    AfterReload = HeapBytes(),
    [ok = sysport_kv:put("key_2", integer_to_list(I)) || I <- lists:seq(1, 20)],
    AfterPuts = HeapBytes(),
    ct:pal("env ~b bytes; service heap ~b bytes at start, ~b after a reload, ~b after puts",
           [EnvBytes, AtStart, AfterReload, AfterPuts]),
    [?assert(B < EnvBytes div 4) || B <- [AtStart, AfterReload, AfterPuts]].

%% The release helper under valgrind through reads, writes, errors and a
%% recovery: no memory error and no leak.
valgrind_clean(Config) ->
    os:find_executable("valgrind") =:= false andalso ct:fail("valgrind not installed"),
    Dir = ?config(dir, Config),
    Cfg = redundant_pair(Dir, [{<<"a">>, <<"1">>}], 1024),
    Log = filename:join(Dir, "valgrind.log"),
    Helper = filename:join([sysport_test_lib:project_root(), "priv", "sysport_kv"]),
    Wrapper = ["valgrind", "-q", "--leak-check=full", "--errors-for-leak-kinds=definite", "--log-file=" ++ Log],
    start(Cfg, #{timeout => 60000, helper => #{program => Helper, wrapper => Wrapper, ready_timeout => 30000}}),
    ok = sysport_kv:put("b", "2"),
    ok = sysport_kv:put(#{"c" => "3", "d" => <<255>>}),
    ok = sysport_kv:delete(["a", "b"]),
    %% Fits an empty env (too_large otherwise, refused before the helper),
    %% not this one.
    {error, no_space} = sysport_kv:put("big", binary:copy(<<"x">>, 1012)),
    {error, {invalid_key, _}} = sysport_kv:put("x=y", "1"),
    OsPid = sysport_kv_test_lib:helper_os_pid(),
    [flip_bit(filename:join(Dir, F), 20) || F <- ["env0", "env1"]],
    {error, {corrupt_env, _}} = sysport_kv:reload(),
    {ok, defaults} = sysport_kv:recover(),
    ok = sysport_kv:put("e", "5"),
    sysport_kv_test_lib:stop(),
    ok = sysport_test_lib:wait_until(fun() -> not sysport_test_lib:proc_alive(OsPid) end, 30000),
    {ok, Report} = file:read_file(Log),
    ?assertEqual(<<>>, Report).
