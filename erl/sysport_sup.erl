%% @doc Top supervisor: one child per service named in the app env
%% `services' (`kv' starts module `sysport_kv' with the options in the env
%% key `kv'). Services restart their helpers themselves, with backoff.
%% @private
-module(sysport_sup).
-behaviour(supervisor).

-export([start_link/0, init/1, service_module/1]).

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

%% @private
-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    Services = application:get_env(sysport, services, []),
    Children = [(service_module(S)):child_spec(sysport_env:service_opts(S)) || S <- Services],
    {ok, {#{strategy => one_for_one, intensity => 5, period => 60}, Children}}.

-spec service_module(atom()) -> module().
service_module(Service) ->
    list_to_atom("sysport_" ++ atom_to_list(Service)).
