%% The reference docs a user reaches from a shell: h(sysport_kv) in the
%% Erlang shell and h :sysport_kv in IEx read the EEP-48 chunks the
%% post-compile hook writes beside ebin (make doc-chunks).
-module(sysport_docs_tests).
-include_lib("eunit/include/eunit.hrl").

-define(SERVICES, [sysport_uevent, sysport_kmsg, sysport_time, sysport_ringlog, sysport_kv,
                   sysport_sensors]).

%% Every public module has its edoc text, not docs made up from the code.
public_modules_have_their_docs_test_() ->
    [{atom_to_list(M), fun() -> module_doc_written(M) end}
     || M <- [sysport, sysport_service, sysport_env, sysport_port | ?SERVICES]].

module_doc_written(Mod) ->
    {ok, {docs_v1, _, erlang, Format, #{<<"en">> := ModDoc}, Meta, _}} = code:get_doc(Mod),
    ?assertEqual(<<"application/erlang+html">>, Format),
    ?assertNot(maps:get(generated, Meta, false)),
    ?assertNotEqual([], ModDoc).

%% Each service's API functions are documented one by one, as h/2 shows them.
service_functions_documented_test_() ->
    [{atom_to_list(M), fun() -> functions_documented(M) end} || M <- ?SERVICES].

functions_documented(Mod) ->
    {ok, {docs_v1, _, _, _, _, _, Entries}} = code:get_doc(Mod),
    Documented = [{F, A} || {{function, F, A}, _, _, #{<<"en">> := D}, _} <- Entries, D =/= []],
    %% status/1 is the behaviour's callback, not the API; options/0 is both.
    Callbacks = sysport_service:behaviour_info(callbacks) -- [{options, 0}],
    Api = [{F, A} || F <- [start_link, child_spec, stop, status, subscribe, unsubscribe, options],
                     A <- [0, 1, 2], erlang:function_exported(Mod, F, A)] -- Callbacks,
    ?assertEqual([], Api -- Documented).

%% What the shell prints for h(sysport_kv, put) is the @doc text. The
%% renderer asks its group leader for the terminal's options, which
%% eunit's does not answer: it runs under `user' here.
shell_renders_a_function_doc_test() ->
    {ok, Docs} = code:get_doc(sysport_kv),
    Self = self(),
    Pid = spawn(fun() ->
                        group_leader(whereis(user), self()),
                        Self ! {self(), shell_docs:render(sysport_kv, put, 2, Docs)}
                end),
    Text = receive {Pid, Chars} -> unicode:characters_to_binary(Chars) after 10000 -> timeout end,
    ?assertMatch({_, _}, binary:match(Text, <<"-spec put(">>)),
    ?assertMatch({_, _}, binary:match(Text, <<"synced and verified">>)).
