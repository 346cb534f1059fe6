%% @private
-module(sysport_app).
-behaviour(application).

-export([start/2, stop/1]).

%% Every option of every service is checked before anything starts:
%% a wrong one is the application's start error, not a crash later.
-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    case sysport_sup:check_env() of
        ok ->
            case sysport_env:ensure_data_dir() of
                {ok, _} -> sysport_sup:start_link();
                {error, _} = Error -> Error
            end;
        {error, _} = Error ->
            Error
    end.

-spec stop(term()) -> ok.
stop(_State) ->
    ok.
