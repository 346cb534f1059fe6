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
%% else `$XDG_STATE_HOME/sysport' or `~/.local/state/sysport'.
-spec data_dir() -> binary().
data_dir() ->
    Dir = case application:get_env(sysport, data_dir) of
              {ok, D} -> D;
              undefined -> default_data_dir()
          end,
    unicode:characters_to_binary(Dir).

%% @doc The data directory, created (mode 0700) if missing.
-spec ensure_data_dir() -> {ok, binary()} | {error, {data_dir, binary(), file:posix()}}.
ensure_data_dir() ->
    Dir = data_dir(),
    case filelib:ensure_dir(filename:join(Dir, "x")) of
        ok ->
            _ = file:change_mode(Dir, 8#700),
            {ok, Dir};
        {error, Reason} ->
            {error, {data_dir, Dir, Reason}}
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
    case os:getenv("XDG_STATE_HOME") of
        V when is_list(V), V =/= "" -> V;
        _ ->
            Home = case os:getenv("HOME") of
                       H when is_list(H), H =/= "" -> H;
                       _ -> "/tmp"
                   end,
            filename:join([Home, ".local", "state"])
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
