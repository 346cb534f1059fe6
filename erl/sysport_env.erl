%% @doc Where sysport keeps things: the data directory and the helpers.
%%
%% ```
%% <<"/data/sysport">> = sysport_env:data_dir(),
%% {ok, Dir} = sysport_env:ensure_data_dir().
%% '''
-module(sysport_env).

-include_lib("kernel/include/file.hrl").

-export([data_dir/0, ensure_data_dir/0, helper_dir/0, helper_path/1]).

%% @doc The data directory: app env `data_dir', else `$SYSPORT_DATA_DIR',
%% else `/data/sysport' when `/data' is writable (the Nerves convention),
%% else `$XDG_STATE_HOME/sysport' or `~/.local/state/sysport', else (no
%% `HOME') `/var/lib/sysport'.
-spec data_dir() -> binary().
data_dir() ->
    Dir = case application:get_env(sysport, data_dir) of
              {ok, D} -> D;
              undefined -> default_data_dir()
          end,
    unicode:characters_to_binary(Dir).

%% @doc The data directory, created (mode 0700) if missing, and checked:
%% it must be the VM's user's, and no other user may be able to replace it
%% or anything above it (so never under /tmp). Nothing is created under a
%% directory that fails the check.
-spec ensure_data_dir() -> {ok, binary()} | {error, {data_dir, binary(), term()}}.
ensure_data_dir() ->
    Dir = filename:absname(data_dir()),
    Existing = existing_prefix(Dir),
    Steps = [fun() -> sysport_file:check_dir(Existing, any) end,
             fun() -> make_dirs(Existing, Dir) end,
             fun() -> file:change_mode(Dir, 8#700) end,
             fun() -> sysport_file:check_dir(Dir, own) end],
    case lists:foldl(fun(Step, ok) -> Step(); (_, Error) -> Error end, ok, Steps) of
        ok -> {ok, Dir};
        {error, Reason} -> {error, {data_dir, Dir, Reason}}
    end.

existing_prefix(Dir) ->
    case filelib:is_dir(Dir) of
        true -> Dir;
        false -> existing_prefix(filename:dirname(Dir))
    end.

%% mkdir, one level at a time, from an existing (and checked) directory.
make_dirs(Dir, Dir) ->
    ok;
make_dirs(From, Dir) ->
    [Next | _] = filename:split(string:prefix(Dir, From)) -- [<<"/">>],
    Sub = filename:join(From, Next),
    case file:make_dir(Sub) of
        ok -> make_dirs(Sub, Dir);
        {error, eexist} -> make_dirs(Sub, Dir);  % made meanwhile: checked at the end
        Error -> Error
    end.

default_data_dir() ->
    case os:getenv("SYSPORT_DATA_DIR") of
        V when is_list(V), V =/= "" -> V;
        _ ->
            case writable_dir("/data") of
                true -> "/data/sysport";
                false -> filename:join(xdg_state_home(), "sysport")
            end
    end.

xdg_state_home() ->
    case {os:getenv("XDG_STATE_HOME"), os:getenv("HOME")} of
        {V, _} when is_list(V), V =/= "" -> V;
        {_, H} when is_list(H), H =/= "" -> filename:join([H, ".local", "state"]);
        %% No home (a boot script, a service): system state, never /tmp.
        _ -> "/var/lib"
    end.

writable_dir(Dir) ->
    case file:read_file_info(Dir) of
        {ok, #file_info{type = directory, access = read_write}} -> true;
        _ -> false
    end.

%% @doc Where the helper programs are: app env `helper_dir', else
%% `$SYSPORT_HELPER_DIR' (the test suite points it at sanitizer builds),
%% else the application's priv directory.
-spec helper_dir() -> file:filename_all().
helper_dir() ->
    case application:get_env(sysport, helper_dir) of
        {ok, Dir} -> Dir;
        undefined ->
            case os:getenv("SYSPORT_HELPER_DIR") of
                V when is_list(V), V =/= "" -> V;
                _ -> priv_dir()
            end
    end.

priv_dir() ->
    case code:priv_dir(sysport) of
        {error, bad_name} ->
            %% Loaded without its application (an escript, -pa): priv is
            %% beside ebin.
            filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "priv");
        Dir -> Dir
    end.

%% @doc The path of helper program Name in {@link helper_dir/0}.
-spec helper_path(file:filename_all()) -> file:filename_all().
helper_path(Name) ->
    filename:join(helper_dir(), Name).
