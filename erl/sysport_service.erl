%% @private
%% @doc What every service's API does with its gen_server. A call answers
%% `{error, not_running}' when the service is not running and
%% `{error, timeout}' when it does not answer in time, rather than exiting
%% the caller (the API contract: an expected failure is a result); a stop
%% is `ok' when the service is already stopped.
-module(sysport_service).

-export([call/3, stop/1]).

-spec call(atom(), term(), timeout()) -> term().
call(Name, Request, Timeout) ->
    try gen_server:call(Name, Request, Timeout)
    catch exit:{noproc, _} -> {error, not_running};
          exit:{timeout, _} -> {error, timeout}
    end.

-spec stop(atom()) -> ok.
stop(Name) ->
    try gen_server:stop(Name) catch exit:_ -> ok end.
