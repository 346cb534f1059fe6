defmodule SysportInterop.IexTest do
  # An IEx session as a person uses it: `iex -S mix` in tmux, the :sysport
  # tables typed at the prompt, the terminal read back with capture-pane.
  use ExUnit.Case

  @project Path.expand("..", __DIR__)
  @start_ms 90_000
  @command_ms 30_000

  setup_all do
    # Its own data_dir (this VM's sysport keeps the one of config/runtime.exs),
    # holding the session's own tmux socket and config: removed afterwards.
    # Beside this VM's, not under /tmp: sysport refuses a data dir other
    # users could tamper with.
    data = Path.join(Path.dirname(System.fetch_env!("SYSPORT_INTEROP_DATA")), "iex-#{System.pid()}")
    File.rm_rf!(data)
    File.mkdir_p!(data)
    conf = Path.join(data, "tmux.conf")
    # dmesg prints the whole kernel buffer: keep all of it readable
    File.write!(conf, "set -g history-limit 100000\n")
    tmux = %{socket: Path.join(data, "tmux.sock"), conf: conf, prompt: 1}

    on_exit(fn ->
      tmux_cmd(tmux, ["kill-server"])
      File.rm_rf!(data)
    end)

    {_, 0} =
      tmux_cmd(tmux, [
        "new-session", "-d", "-s", "iex", "-x", "200", "-y", "50", "-c", @project,
        "-e", "MIX_ENV=#{Mix.env()}", "-e", "SYSPORT_INTEROP_DATA=#{data}",
        "-e", "SYSPORT_INTEROP_KMSG_LOGGER=false", "iex -S mix"
      ])

    wait_for(tmux, ~r/^iex\(1\)> *$/m, @start_ms)
    %{tmux: tmux, data: data, tag: "sysport-iex-#{System.pid()}-#{System.os_time(:millisecond)}"}
  end

  test "status, kv, tail and dmesg print readable tables in IEx", %{tmux: t, data: data, tag: tag} do
    {t, status} = type(t, ":sysport.status()")
    names = ["service", "state", "helper", "os pid", "restarts", "last exit", "uptime", "sandbox"]
    {header, rows} = table(status, names)
    assert_aligned(header, names, rows)

    for service <- ~w(ringlog kmsg uevent time kv sensors) do
      assert Enum.any?(rows, &(&1 =~ ~r/^#{service} +up +sysport_\w+ +\d+ +0 +none +\d+s +uid \d+, .+$/)),
             "no row for #{service} in\n#{status}"
    end

    assert status =~ ~r/^data_dir: #{data}$/m

    {t, _} = type(t, ~s[:sysport_kv.put("#{tag}", "välue ✓")])
    {t, kv} = type(t, ":sysport.kv()")
    {header, rows} = table(kv, ["key", "value"])
    assert_aligned(header, ["key", "value"], rows)
    assert Enum.any?(rows, &(&1 =~ ~r/^#{tag} +välue ✓$/u)), "no #{tag} row in\n#{kv}"
    assert kv =~ ~r/^1 keys; file-backed env in data_dir/m

    {t, _} = type(t, "require Logger", "Logger")
    {t, _} = type(t, ~s[Logger.warning("#{tag} ünïcode")])
    {t, tail} = type(t, ":sysport.tail()")
    assert tail =~ ~r/^\d{4}-\d\d-\d\dT[\d:.]+\+00:00 warning #\d+ <[\d.]+> .*#{tag} ünïcode$/mu, tail

    File.write!("/dev/kmsg", "<12>#{tag} kmsg ünïcode\n")
    {t, dmesg} = type(t, ":sysport.dmesg()")
    assert dmesg =~ ~r/^\[ *\d+\.\d{6}\] #{tag} kmsg ünïcode$/mu, "no injected line in dmesg"

    # No Erlang binaries or charlists, no BEAM error (tail and dmesg show
    # what other programs logged too: only their exact lines are checked)
    for out <- [status, kv] do
      refute out =~ ~r/<<"|\*\* \(|\[\d+(,\d+){3,}\]/, out
    end

    # the session's own records: OTP reports on one line, not joined as `key =>, value`
    refute tail =~ ~r/=>,|\*\* \(/, tail

    # sysport's reference docs, as `h` shows them (doc chunks beside ebin)
    {t, doc} = type(t, "h :sysport_kv", nil)
    assert doc =~ "The U-Boot environment", doc
    {_t, doc} = type(t, "h :sysport_kv.put/2", nil)
    assert doc =~ ~r/synced\s+and\s+verified/, doc
  end

  # Types a line at iex(N)>, waits for iex(N+1)>, checks the value IEx
  # shows (unless returns is nil: h shows none) and returns what was
  # printed before it.
  defp type(t, line, returns \\ ":ok") do
    n = t.prompt
    {_, 0} = tmux_cmd(t, ["send-keys", "-t", "iex", "-l", line])
    {_, 0} = tmux_cmd(t, ["send-keys", "-t", "iex", "Enter"])
    # h prints its last line without a newline: the prompt follows on it.
    prompt = if returns, do: ~r/^iex\(#{n + 1}\)> *$/m, else: ~r/iex\(#{n + 1}\)> *$/m
    wait_for(t, prompt, @command_ms)
    {screen, 0} = tmux_cmd(t, ["capture-pane", "-p", "-J", "-S", "-", "-t", "iex"])
    lines = screen |> String.split("\n") |> Enum.map(&String.trim_trailing/1)
    echo = "iex(#{n})> " <> line
    assert [_ | printed] = Enum.drop_while(lines, &(&1 != echo)), "no #{inspect(echo)} on screen"
    printed = Enum.take_while(printed, &(not String.starts_with?(&1, "iex(#{n + 1})>")))
    case returns do
      nil ->
        {%{t | prompt: n + 1}, Enum.join(printed, "\n")}

      _ ->
        assert List.last(printed) == returns, "#{line} did not return #{returns}:\n#{Enum.join(printed, "\n")}"
        {%{t | prompt: n + 1}, printed |> Enum.drop(-1) |> Enum.join("\n")}
    end
  end

  # The visible screen is polled (history is only read once the prompt is back).
  defp wait_for(t, pattern, ms) do
    deadline = System.monotonic_time(:millisecond) + ms
    poll(t, pattern, deadline)
  end

  defp poll(t, pattern, deadline) do
    {screen, _} = tmux_cmd(t, ["capture-pane", "-p", "-J", "-t", "iex"])

    cond do
      screen =~ pattern ->
        screen

      System.monotonic_time(:millisecond) > deadline ->
        flunk("#{inspect(pattern)} did not appear; the screen:\n#{screen}")

      true ->
        Process.sleep(50)
        poll(t, pattern, deadline)
    end
  end

  # The header line (the column names separated by 2+ spaces) and the rows after it.
  defp table(out, names) do
    lines = String.split(out, "\n")
    header_re = ~r/^#{Enum.join(names, " {2,}")}$/
    assert [header | rows] = Enum.drop_while(lines, &(not (&1 =~ header_re))), "no header in\n#{out}"
    {header, Enum.take_while(rows, &(&1 =~ ~r/^\S+  /))}
  end

  # Every cell starts in its column: under the first letter of its name.
  defp assert_aligned(header, names, rows) do
    assert rows != []
    starts = for name <- tl(names), do: elem(:binary.match(header, name), 0)

    for row <- rows, start <- starts do
      assert String.at(row, start - 1) == " " and String.at(row, start) not in [" ", nil],
             "column at #{start} not aligned:\n#{header}\n#{row}"
    end
  end

  defp tmux_cmd(t, args) do
    System.cmd("tmux", ["-S", t.socket, "-f", t.conf | args], stderr_to_stdout: true)
  end
end
