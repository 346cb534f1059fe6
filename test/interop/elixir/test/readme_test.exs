defmodule SysportInterop.ReadmeTest do
  # README.md's Elixir examples, run where a reader runs them: in a Mix
  # project with sysport as a dependency. `elixir` blocks are evaluated in
  # README order (an `iex>` block: its prompt lines); `elixir-config`
  # blocks are read as config files and checked as sysport checks its env
  # when it starts. Which test runs each block is tagged in the README
  # (test/sysport_readme.erl reads the tags; sysport_readme_tests checks
  # that every block has one).
  use ExUnit.Case

  @readme Path.expand("../../../../README.md", __DIR__)

  # The README parser the Erlang tests use (test/sysport_readme.erl), not
  # part of the sysport app: compiled here.
  setup_all do
    src = Path.expand("../../../sysport_readme.erl", __DIR__)
    {:ok, mod, bin} = :compile.file(String.to_charlist(src), [:binary, :return_errors])
    {:module, ^mod} = :code.load_binary(mod, String.to_charlist(src), bin)
    :ok
  end

  defp blocks(kind) do
    text = File.read!(@readme)
    for b <- :sysport_readme.blocks(text), b.kind == kind, do: b
  end

  test "every elixir block runs" do
    blocks = blocks("elixir")
    assert length(blocks) >= 6

    failed =
      for %{line: line, text: text} <- blocks,
          error = run(text),
          do: {line, error}

    assert failed == []
  end

  test "every elixir-config block is a config sysport accepts" do
    blocks = blocks("elixir-config")
    assert length(blocks) >= 3
    failed = for %{line: line, text: text} <- blocks, (r = check_config(text)) != :ok, do: {line, r}
    assert failed == []
  end

  test "the checks report a failing example and a wrong config" do
    assert {%MatchError{}, _} = run("iex> {:ok, _} = :sysport_kv.get(\"readme-absent-key\")\n")
    assert run("iex> x = 1 + 1\n2\niex> 2 = x\n") == nil

    assert {:error, {:invalid_option, :kv, %{timeout: "30000"}}} =
             check_config("import Config\nconfig :sysport, kv: [timeout: \"30000\"]\n")
  end

  # nil, or what the block raised.
  defp run(text) do
    lines = String.split(text, "\n")

    source =
      if Enum.any?(lines, &String.starts_with?(&1, "iex> ")) do
        # an IEx session: what follows a prompt line without one is output
        for "iex> " <> code <- lines, do: code
      else
        lines
      end

    try do
      # IEx's helpers (h/1) as in iex
      Code.eval_string(Enum.join(["import IEx.Helpers" | source], "\n"), [], file: @readme)
      nil
    rescue
      e -> {e, __STACKTRACE__ |> Enum.take(2)}
    end
  end

  defp check_config(text) do
    path = Path.join(System.tmp_dir!(), "sysport-readme-#{System.unique_integer([:positive])}.exs")
    File.write!(path, text)
    saved = Application.get_all_env(:sysport)

    try do
      env = Config.Reader.read!(path) |> Keyword.get(:sysport, [])
      {:ok, [{:application, :sysport, app}]} = :file.consult(:code.where_is_file(~c"sysport.app"))
      for {k, _} <- Application.get_all_env(:sysport), do: Application.delete_env(:sysport, k)
      for {k, v} <- Keyword.get(app, :env, []) ++ env, do: Application.put_env(:sysport, k, v)
      :sysport_sup.check_env()
    after
      File.rm(path)
      for {k, _} <- Application.get_all_env(:sysport), do: Application.delete_env(:sysport, k)
      for {k, v} <- saved, do: Application.put_env(:sysport, k, v)
    end
  end
end
