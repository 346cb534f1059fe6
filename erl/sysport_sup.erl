%% @doc Top supervisor: one child per service named in the app env
%% `services' (`kv' starts module `sysport_kv' with the options in the env
%% key `kv'). Each child is a service's keeper, which restarts its service
%% (and the service its helper) with backoff, so nothing here ever sees a
%% crash loop.
%% @private
-module(sysport_sup).
-behaviour(supervisor).

-export([start_link/0, init/1, service_module/1, check_env/0]).

-define(SERVICES, [ringlog, kmsg, uevent, time, kv, sensors]).

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

%% @private
-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    Services = application:get_env(sysport, services, []),
    Children = [(service_module(S)):child_spec(#{}) || S <- Services],
    {ok, {#{strategy => one_for_one, intensity => 5, period => 60}, Children}}.

-spec service_module(atom()) -> module().
service_module(Service) ->
    list_to_atom("sysport_" ++ atom_to_list(Service)).

%% @doc The application env checked before anything starts: the
%% `services' list names known services, and each one's options are right.
-spec check_env() -> ok | {error, sysport_opts:error()}.
check_env() ->
    Services = application:get_env(sysport, services, []),
    case is_list(Services) andalso [S || S <- Services, not lists:member(S, ?SERVICES)] of
        [] -> check_services(Services);
        false -> {error, {invalid_option, sysport, #{services => Services}}};
        [Unknown | _] -> {error, {invalid_option, sysport, #{services => Unknown}}}
    end.

check_services([]) -> ok;
check_services([S | Rest]) ->
    case sysport_service:check(service_module(S), #{}) of
        {ok, _} -> check_services(Rest);
        {error, _} = Error -> Error
    end.
