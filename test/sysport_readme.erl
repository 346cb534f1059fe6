%% README.md's code blocks and option tables, as its tests read them.
%% Every fenced block has a tag on the line above its opening fence,
%% `<!-- test: KIND [ARGS] -->', saying which test runs it (the kinds are
%% listed in kinds/0); the option tables sit between `<!-- options: SVC -->'
%% and `<!-- /options -->' and are generated from each service's schema.
%% Shared by sysport_readme_SUITE (the blocks, on a running sysport),
%% sysport_readme_tests (the tables) and `make readme-options'.
-module(sysport_readme).

-export([path/0, blocks/1, kinds/0, untagged/1, option_table/1, tables_differ/1,
         update_tables/1, update/0]).
-export([by_file_problems/2, externals/2]).

-define(SERVICES, [ringlog, kmsg, uevent, time, kv, sensors]).

-type block() :: #{line := pos_integer(), kind := binary() | none, args := [binary()],
                   lang := binary(), text := binary()}.
-export_type([block/0]).

-spec path() -> file:filename().
path() ->
    Ebin = filename:dirname(code:which(?MODULE)),
    find_up(Ebin).

find_up("/") -> error(no_readme);
find_up(Dir) ->
    Readme = filename:join(Dir, "README.md"),
    Rebar = filename:join(Dir, "rebar.config"),
    case filelib:is_regular(Readme) andalso filelib:is_regular(Rebar) of
        true -> Readme;
        false -> find_up(filename:dirname(Dir))
    end.

-spec kinds() -> [binary()].
kinds() ->
    [<<"erlang">>, <<"erlang-remote">>, <<"erlang-config">>, <<"elixir">>,
     <<"elixir-config">>, <<"by">>, <<"from">>, <<"gleam">>, <<"lfe">>, <<"text">>].

%% @doc Every fenced block of a markdown text, with the tag above it.
-spec blocks(binary()) -> [block()].
blocks(Text) ->
    Lines = binary:split(Text, <<"\n">>, [global]),
    blocks(lists:zip(lists:seq(1, length(Lines)), Lines), none, []).

blocks([], _Prev, Acc) -> lists:reverse(Acc);
blocks([{N, <<"```", Lang/binary>>} | Rest], Prev, Acc) ->
    {Body, After} = lists:splitwith(fun({_, L}) -> not is_fence(L) end, Rest),
    {Kind, Args} = tag(Prev),
    Block = #{line => N, kind => Kind, args => Args, lang => string:trim(Lang),
              text => iolist_to_binary([[L, $\n] || {_, L} <- Body])},
    blocks(drop_fence(After), none, [Block | Acc]);
blocks([{_, L} | Rest], _Prev, Acc) ->
    blocks(Rest, L, Acc).

is_fence(<<"```", _/binary>>) -> true;
is_fence(_) -> false.

drop_fence([_ | Rest]) -> Rest;
drop_fence([]) -> [].

tag(none) -> {none, []};
tag(Line) ->
    case re:run(Line, <<"^<!-- test: ([a-z-]+)(.*?) -->\\s*$">>, [{capture, all_but_first, binary}]) of
        {match, [Kind, Args]} -> {Kind, string:lexemes(Args, " ")};
        nomatch -> {none, []}
    end.

%% @doc Blocks with no tag, or an unknown kind: {Line, Kind}.
-spec untagged([block()]) -> [{pos_integer(), term()}].
untagged(Blocks) ->
    [{N, K} || #{line := N, kind := K} <- Blocks, not lists:member(K, kinds())].

%% @doc The markdown table of a service's options, as the README has it.
-spec option_table(atom()) -> binary().
option_table(Service) ->
    Mod = list_to_atom("sysport_" ++ atom_to_list(Service)),
    Rows = [io_lib:format("| `~ts` | `~ts` | ~ts |~n",
                          [Name, escape(io_lib:format("~0tp", [Default])), escape(Doc)])
            || #{name := Name, default := Default, doc := Doc}
                   <- sysport_opts:describe(sysport_service:options(Mod))],
    iolist_to_binary(["| option | default | |\n|---|---|---|\n" | Rows]).

escape(Chars) ->
    string:replace(unicode:characters_to_binary(Chars), <<"|">>, <<"\\|">>, all).

%% @doc The services whose table in Text is missing or not what the code
%% says, with the table it should be.
-spec tables_differ(binary()) -> [{atom(), missing | binary()}].
tables_differ(Text) ->
    lists:filtermap(fun(S) ->
                            Want = option_table(S),
                            case table_in(Text, S) of
                                {ok, Want} -> false;
                                {ok, _} -> {true, {S, Want}};
                                missing -> {true, {S, missing}}
                            end
                    end, ?SERVICES).

table_in(Text, S) ->
    Open = iolist_to_binary(["<!-- options: ", atom_to_list(S), " -->\n"]),
    case binary:split(Text, Open) of
        [_, After] ->
            case binary:split(After, <<"<!-- /options -->">>) of
                [Table, _] -> {ok, Table};
                _ -> missing
            end;
        _ -> missing
    end.

%% @doc Rewrites every option table in the file from the code.
-spec update_tables(file:filename()) -> ok.
update_tables(File) ->
    {ok, Text} = file:read_file(File),
    New = lists:foldl(fun(S, T) ->
                              Open = iolist_to_binary(["<!-- options: ", atom_to_list(S), " -->\n"]),
                              [Before, After] = binary:split(T, Open),
                              [_, Rest] = binary:split(After, <<"<!-- /options -->">>),
                              iolist_to_binary([Before, Open, option_table(S), "<!-- /options -->", Rest])
                      end, Text, ?SERVICES),
    ok = file:write_file(File, New).

%% @doc `make readme-options'.
-spec update() -> no_return().
update() ->
    ok = update_tables("README.md"),
    io:format("README.md: option tables written from the code~n"),
    halt(0).

%% @doc The command lines of a `by FILE' block that FILE does not run. A
%% line counts as run when FILE has it (spaces collapsed), or has its
%% program (the first word's basename) followed by its first argument, and
%% names every variable the line assigns (`NAME=...', `export NAME=...').
-spec by_file_problems(binary(), binary()) -> [binary()].
by_file_problems(Block, File) ->
    Script = collapse(File),
    [L || L <- command_lines(Block), not runs(L, Script)].

command_lines(Block) ->
    Joined = re:replace(Block, <<"\\\\\\n\\s*">>, <<" ">>, [global, {return, binary}]),
    [collapse(re:replace(L, <<"\\s+#\\s.*$">>, <<>>, [{return, binary}]))
     || L <- binary:split(Joined, <<"\n">>, [global]),
        string:trim(L) =/= <<>>, binary:first(string:trim(L)) =/= $#].

collapse(B) ->
    string:trim(re:replace(B, <<"[ \\t]+">>, <<" ">>, [global, {return, binary}])).

runs(Line, Script) ->
    binary:match(Script, Line) =/= nomatch orelse program_runs(Line, Script).

program_runs(Line, Script) ->
    Words = string:lexemes(Line, " "),
    Names = [N || W <- Words, {match, [N]} <- [re:run(W, <<"^([A-Za-z_][A-Za-z0-9_]*)=">>,
                                                       [{capture, all_but_first, binary}])]],
    NamesThere = lists:all(fun(N) -> binary:match(Script, N) =/= nomatch end, Names),
    Command = [W || W <- Words, W =/= <<"export">>,
                    re:run(W, <<"^[A-Za-z_][A-Za-z0-9_]*=">>) =:= nomatch],
    NamesThere andalso
        case Command of
            [] -> Names =/= [];
            [Prog] -> binary:match(Script, filename:basename(Prog)) =/= nomatch;
            [Prog, Arg | _] ->
                Re = iolist_to_binary(["(^|[\\s/\"'])", quote(filename:basename(Prog)),
                                       "[\"']?\\s+[\"']?", quote(Arg)]),
                re:run(Script, Re) =/= nomatch
        end.

quote(B) -> re:replace(B, <<"[][\\\\^$.|?*+(){}]">>, <<"\\\\&">>, [global, {return, binary}]).

%% @doc The Erlang functions a Gleam or LFE block calls: [{M, F, Arity}].
-spec externals(gleam | lfe, binary()) -> [{atom(), atom(), arity()}].
externals(gleam, Text) ->
    case re:run(Text, <<"@external\\(erlang, \"(\\w+)\", \"(\\w+)\"\\)\\s*\\n\\s*pub fn \\w+\\(([^)]*)\\)">>,
                [global, {capture, all_but_first, binary}]) of
        {match, Found} -> [{binary_to_atom(M), binary_to_atom(F), length(args(Args))} || [M, F, Args] <- Found];
        nomatch -> []
    end;
externals(lfe, Text) ->
    NoComments = re:replace(Text, <<";[^\\n]*">>, <<>>, [global, {return, list}]),
    calls(NoComments, []).

args(<<>>) -> [];
args(Args) -> [A || A <- binary:split(Args, <<",">>, [global]), string:trim(A) =/= <<>>].

%% (mod:fun arg...) calls in LFE text, the arity counted at the call's
%% own paren level.
calls([], Acc) -> lists:reverse(Acc);
calls([$( | Rest], Acc) ->
    case re:run(Rest, "^([a-z_]+):([a-z_]+)[\\s)]", [{capture, all_but_first, list}]) of
        {match, [M, F]} ->
            After = lists:nthtail(length(M) + 1 + length(F), Rest),
            calls(Rest, [{list_to_atom(M), list_to_atom(F), count_forms(After, 0)} | Acc]);
        nomatch -> calls(Rest, Acc)
    end;
calls([_ | Rest], Acc) -> calls(Rest, Acc).

%% Forms up to the closing paren of the current list.
count_forms([], N) -> N;
count_forms([$) | _], N) -> N;
count_forms([C | Rest], N) when C =:= $\s; C =:= $\n; C =:= $\t -> count_forms(Rest, N);
count_forms(Text, N) -> count_forms(skip_form(Text), N + 1).

skip_form([$( | Rest]) -> skip_list(Rest);
skip_form([$# , $" | Rest]) -> skip_string(Rest);
skip_form([$" | Rest]) -> skip_string(Rest);
skip_form([$' | Rest]) -> skip_form(Rest);
skip_form(Text) -> lists:dropwhile(fun(C) -> not lists:member(C, " \n\t()") end, Text).

skip_list([$) | Rest]) -> Rest;
skip_list([C | Rest]) when C =:= $\s; C =:= $\n; C =:= $\t -> skip_list(Rest);
skip_list([]) -> [];
skip_list(Text) -> skip_list(skip_form(Text)).

skip_string([$\\, _ | Rest]) -> skip_string(Rest);
skip_string([$" | Rest]) -> Rest;
skip_string([_ | Rest]) -> skip_string(Rest);
skip_string([]) -> [].
