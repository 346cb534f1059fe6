%% A fake hwmon tree for the sensors suite and benchmark, shown to the
%% helper and to `sensors -j' alike through a private mount namespace:
%% Dir/{class,devices,bus} are bind-mounted over /sys/{class,devices,bus},
%% laid out the way the kernel lays them out, so libsensors names the chips
%% as it would on a board (lm75-i2c-1-48, coretemp-isa-0000, ...). Files
%% rewritten in Dir are what both read next.
-module(sysport_sensors_fake).

-export([tree/1, empty/1, wrapper/1, add_chip/2, remove_chip/2, write_attr/4, hwmon_dir/2,
         config/1, peer/2, parse_json/1, compare/2, subfeature_count/1]).
%% the stand-in for sysport_uevent in the hotplug case
-export([subscribe/1]).

-define(ENTER, "#!/bin/sh\n"
               "# usage: enter TREE PROGRAM ARGS... (inside unshare -m --propagation private)\n"
               "set -e\n"
               "tree=$1; shift\n"
               "for d in class devices bus; do mount --bind \"$tree/$d\" \"/sys/$d\"; done\n"
               "# attributes whose reads fail with EIO, as a sensor that does not answer:\n"
               "# this process's own memory at offset 0 (this shell becomes the program)\n"
               "if [ -f \"$tree/eio\" ]; then\n"
               "  while read -r f; do mount --bind /proc/$$/mem \"/sys/devices/$f\"; done < \"$tree/eio\"\n"
               "fi\n"
               "exec \"$@\"\n").

%% Three chips: an lm75 on i2c bus 1 (the adapter named as i2c-stub names
%% it), a virtual chip with labels, limits, alarms and two attributes that
%% cannot be read (one not a number, one failing with EIO), and a coretemp
%% with eight cores.
-spec tree(file:filename()) -> file:filename().
tree(Dir) ->
    empty(Dir),
    ok = filelib:ensure_dir(filename:join([Dir, "bus", "i2c", "x"])),
    ok = filelib:ensure_dir(filename:join([Dir, "bus", "platform", "x"])),
    Adapter = filename:join([Dir, "devices", "i2c-1"]),
    ok = filelib:ensure_dir(filename:join(Adapter, "x")),
    ok = file:write_file(filename:join(Adapter, "name"), "SMBus stub driver\n"),
    link(filename:join([Dir, "class", "i2c-adapter", "i2c-1"]), "../../devices/i2c-1"),
    add_chip(Dir, #{hwmon => "hwmon0", name => "lm75", device => {i2c, 1, 16#48},
                    attrs => [{"temp1_input", 45500}, {"temp1_max", 80000},
                              {"temp1_max_hyst", 75000}]}),
    add_chip(Dir, #{hwmon => "hwmon1", name => "fakehw", device => virtual,
                    attrs => [{"in0_input", 1234}, {"in0_label", "Vcore"}, {"in0_max", 1500},
                              {"in0_crit", 1800}, {"in0_alarm", 0},
                              {"in1_input", 3300},
                              {"fan1_input", 2000}, {"fan1_label", "CPU Fan"}, {"fan1_min", 500},
                              {"fan1_alarm", 0}, {"fan2_input", 900},
                              {"temp1_input", 27800}, {"temp1_label", "CPU"}, {"temp1_max", 80000},
                              {"temp1_crit", 105000}, {"temp1_alarm", 0}, {"temp1_crit_alarm", 0},
                              %% sysfs gives what the driver gives: here not a number
                              {"temp2_input", "not a number"}, {"temp2_max", 70000},
                              {"temp3_input", 0},   % made to fail with EIO below
                              {"curr1_input", 1500}, {"power1_average", 12500000},
                              {"humidity1_input", 45500}, {"intrusion0_alarm", 0}]}),
    add_chip(Dir, #{hwmon => "hwmon2", name => "coretemp", device => {platform, "coretemp.0"},
                    attrs => lists:append(
                               [[{T ++ "_input", 40000 + 1000 * N}, {T ++ "_label", "Core " ++ integer_to_list(N - 1)},
                                 {T ++ "_max", 84000}, {T ++ "_crit", 100000}, {T ++ "_crit_alarm", 0}]
                                || N <- lists:seq(1, 8), T <- ["temp" ++ integer_to_list(N)]])}),
    ok = file:write_file(filename:join(Dir, "eio"), "virtual/hwmon/hwmon1/temp3_input\n"),
    Dir.

%% A sysfs without a single hwmon device.
-spec empty(file:filename()) -> file:filename().
empty(Dir) ->
    [ok = filelib:ensure_dir(filename:join([Dir, D, "x"])) || D <- ["class", "devices", "bus"]],
    ok = file:write_file(filename:join(Dir, "enter"), ?ENTER),
    ok = file:change_mode(filename:join(Dir, "enter"), 8#755),
    Dir.

%% What sysport_port runs the helper under to show it the tree.
-spec wrapper(file:filename()) -> [string()].
wrapper(Dir) ->
    ["unshare", "-m", "--propagation", "private", filename:join(Dir, "enter"), Dir].

%% A hwmon class device, with its device directory and links like the
%% kernel's: class/hwmon/hwmonN -> ../../devices/<dev>/hwmon/hwmonN.
-spec add_chip(file:filename(), map()) -> ok.
add_chip(Dir, #{hwmon := Hwmon, name := Name, device := Device, attrs := Attrs}) ->
    DevRel = case Device of
                 {i2c, Bus, Addr} -> lists:flatten(io_lib:format("i2c-~b/~b-~4.16.0b", [Bus, Bus, Addr]));
                 {platform, Id} -> "platform/" ++ Id;
                 virtual -> "virtual"
             end,
    HwRel = filename:join([DevRel, "hwmon", Hwmon]),
    HwDir = filename:join([Dir, "devices", HwRel]),
    ok = filelib:ensure_dir(filename:join(HwDir, "x")),
    ok = file:write_file(filename:join(HwDir, "name"), [Name, "\n"]),
    [ok = file:write_file(filename:join(HwDir, A), [value(V), "\n"]) || {A, V} <- Attrs],
    case Device of
        virtual -> ok;
        _ ->
            Up = lists:duplicate(length(filename:split(DevRel)), ".."),
            link(filename:join(HwDir, "device"), filename:join("../../..", filename:basename(DevRel))),
            Subsystem = case Device of {i2c, _, _} -> "i2c"; _ -> "platform" end,
            link(filename:join([Dir, "devices", DevRel, "subsystem"]),
                 filename:join(Up ++ ["..", "bus", Subsystem]))
    end,
    link(filename:join([Dir, "class", "hwmon", Hwmon]), filename:join("../../devices", HwRel)).

-spec remove_chip(file:filename(), string()) -> ok.
remove_chip(Dir, Hwmon) ->
    ok = file:delete(filename:join([Dir, "class", "hwmon", Hwmon])).

%% The hwmon directory behind a class entry.
-spec hwmon_dir(file:filename(), string()) -> file:filename().
hwmon_dir(Dir, Hwmon) ->
    Class = filename:join([Dir, "class", "hwmon"]),
    {ok, Target} = file:read_link(filename:join(Class, Hwmon)),
    filename:join(Class, Target).

%% Rewrites an attribute in place, as the kernel does: the helper keeps
%% sysfs files open and re-reads them, so a new file (a rename) would go
%% unseen. The new text is written over the old before the file is cut to
%% it, so a reader sees a whole number (followed by a stray newline at
%% worst), never an empty file.
-spec write_attr(file:filename(), string(), string(), term()) -> ok.
write_attr(Dir, Hwmon, Attr, Value) ->
    Data = iolist_to_binary([value(Value), "\n"]),
    {ok, Fd} = file:open(filename:join(hwmon_dir(Dir, Hwmon), Attr), [read, write, raw, binary]),
    ok = file:pwrite(Fd, 0, Data),
    {ok, _} = file:position(Fd, byte_size(Data)),
    ok = file:truncate(Fd),
    ok = file:close(Fd).

%% A libsensors configuration: a label over the driver's, compute
%% statements (one with exp and log), an ignored feature.
-spec config(file:filename()) -> file:filename().
config(Dir) ->
    Path = filename:join(Dir, "sensors.conf"),
    ok = file:write_file(Path, "chip \"lm75-*\"\n"
                               "    label temp1 \"Board\"\n"
                               "chip \"fakehw-*\"\n"
                               "    label in1 \"+5V\"\n"
                               "    compute in1 @*2, @/2\n"
                               "    compute in0 ^@, `@\n"
                               "    ignore fan2\n"),
    Path.

%% `sensors -j' (with this config file, or libsensors' default) in the same
%% namespace trick: {ok, Json} parsed, and what it printed on stderr.
-spec peer(file:filename(), file:filename() | default) -> {ok, list(), binary()}.
peer(Dir, Config) ->
    Err = filename:join(Dir, "peer.err"),
    ConfigArgs = case Config of default -> ""; _ -> " -c " ++ Config end,
    Cmd = lists:flatten([lists:join(" ", wrapper(Dir)), " sensors", ConfigArgs, " -j 2>", Err]),
    Out = os:cmd(Cmd),
    {ok, Stderr} = file:read_file(Err),
    {ok, parse_json(unicode:characters_to_binary(Out)), Stderr}.

%% The subset of JSON `sensors -j' prints: objects (as ordered
%% [{Key, Value}]), strings and numbers.
-spec parse_json(binary()) -> list().
parse_json(Text) ->
    {Value, Rest} = json_value(skip_ws(Text)),
    <<>> = skip_ws(Rest),
    Value.

json_value(<<"{", R/binary>>) -> json_members(skip_ws(R), []);
json_value(<<"\"", _/binary>> = R) -> json_string(R);
json_value(R) ->
    {Num, Rest} = lists:splitwith(fun(C) -> lists:member(C, "+-0123456789.eE") end, binary_to_list(R)),
    {list_to_float_or_int(Num), list_to_binary(Rest)}.

json_members(<<"}", R/binary>>, Acc) -> {lists:reverse(Acc), R};
json_members(<<",", R/binary>>, Acc) -> json_members(skip_ws(R), Acc);
json_members(R0, Acc) ->
    {Key, R1} = json_string(R0),
    <<":", R2/binary>> = skip_ws(R1),
    {Value, R3} = json_value(skip_ws(R2)),
    json_members(skip_ws(R3), [{Key, Value} | Acc]).

json_string(<<"\"", R/binary>>) ->
    [S, Rest] = binary:split(R, <<"\"">>),
    {S, Rest}.

skip_ws(<<C, R/binary>>) when C =:= $\s; C =:= $\n; C =:= $\t; C =:= $\r -> skip_ws(R);
skip_ws(R) -> R.

list_to_float_or_int(S) ->
    try list_to_float(S) catch error:badarg -> float(list_to_integer(S)) end.

%% Every difference between what `sensors -j' printed and what sysport
%% returned, chip for chip, label for label, subfeature for subfeature;
%% [] when they agree. Values agree when they print the same with three
%% decimals (what sensors -j prints); a subfeature sensors could not read
%% (absent from its output) must be {error, _} in sysport's.
-spec compare(list(), [map()]) -> [term()].
compare(Peer, Chips) ->
    Ours = [{N, C} || #{name := N} = C <- Chips],
    names_differ(chips, [K || {K, _} <- Peer], [N || {N, _} <- Ours]) ++
        lists:append([compare_chip(N, proplists:get_value(N, Peer), C) || {N, C} <- Ours,
                      lists:keymember(N, 1, Peer)]).

compare_chip(Name, PeerChip, #{adapter := Adapter, features := Features}) ->
    [{adapter, Name, proplists:get_value(<<"Adapter">>, PeerChip), Adapter}
     || proplists:get_value(<<"Adapter">>, PeerChip) =/= Adapter] ++
        names_differ({features, Name}, [K || {K, _} <- PeerChip, K =/= <<"Adapter">>],
                     [L || #{label := L} <- Features]) ++
        lists:append([compare_feature(Name, L, proplists:get_value(L, PeerChip, []), F)
                      || #{label := L} = F <- Features]).

compare_feature(Chip, Label, PeerSubs, #{subfeatures := Subs}) ->
    Readable = [{N, V} || #{name := N, value := V} <- Subs, is_float(V)],
    names_differ({subfeatures, Chip, Label}, [K || {K, _} <- PeerSubs], [N || {N, _} <- Readable]) ++
        [{value, Chip, Label, N, P, V} || {N, V} <- Readable, P <- [proplists:get_value(N, PeerSubs)],
                                          is_float(P), abs(P - V) > 0.0005] ++
        [{unread_elsewhere, Chip, Label, N} || #{name := N, value := {error, _}} <- Subs,
                                               lists:keymember(N, 1, PeerSubs)].

names_differ(What, Theirs, Ours) ->
    case Theirs =:= Ours of
        true -> [];
        false -> [{What, {peer, Theirs}, {sysport, Ours}}]
    end.

-spec subfeature_count([map()]) -> non_neg_integer().
subfeature_count(Chips) ->
    length([S || #{features := Fs} <- Chips, #{subfeatures := Ss} <- Fs, S <- Ss]).

%% Stands in for sysport_uevent:subscribe/1: the process registered under
%% this module's name is told who subscribed with what.
-spec subscribe(map()) -> ok.
subscribe(Filter) ->
    ?MODULE ! {uevent_subscribed, self(), Filter},
    ok.

value(V) when is_integer(V) -> integer_to_list(V);
value(V) -> V.

link(Path, Target) ->
    ok = filelib:ensure_dir(Path),
    case file:make_symlink(Target, Path) of
        ok -> ok;
        {error, eexist} -> ok
    end.
