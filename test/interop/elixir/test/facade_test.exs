defmodule SysportInterop.FacadeTest do
  # The :sysport shell functions print tables and return :ok; services/0
  # returns data. What they print is checked here on a StringIO; the IEx
  # session test checks the same tables in a real terminal.
  use ExUnit.Case
  import ExUnit.CaptureIO
  import SysportInterop
  require Logger

  test "services/0: every service with its status map" do
    services = :sysport.services()
    assert Enum.map(services, & &1.service) == [:ringlog, :kmsg, :uevent, :time, :kv, :sensors]

    for %{service: name, pid: pid, status: status} <- services do
      assert is_pid(pid), "#{name} has no pid"
      assert %{helper: %{state: :up}} = status
    end
  end

  test "status/0 prints one aligned row per service" do
    out = capture(fn -> :sysport.status() end)
    assert [header | rows] = String.split(out, "\n", trim: true)
    assert header =~ ~r/^service\s+state\s+helper\s+os pid\s+restarts\s+last exit\s+uptime\s+sandbox$/
    {at, _} = :binary.match(header, "state")

    for name <- ~w(ringlog kmsg uevent time kv sensors) do
      assert Enum.any?(rows, &(&1 =~ ~r/^#{name}\s+up\s+sysport_\w+\s+\d+\s+\d+\s+(none|signal \w+)\s+\d+[smh]/)),
             "no row for #{name}"
    end

    Enum.each(Enum.take(rows, 6), &assert(binary_part(&1, at, 2) == "up"))
    assert List.last(rows) == "data_dir: " <> :sysport_env.data_dir()
  end

  test "status/0 says in words how a restarted helper exited" do
    {:ok, %{helper: %{os_pid: os_pid, restarts: before}}} = :sysport_sensors.status()
    {_, 0} = System.cmd("kill", ["-KILL", "#{os_pid}"])

    eventually(fn ->
      match?({:ok, %{helper: %{state: :up, restarts: n}}} when n > before, :sysport_sensors.status())
    end)

    assert capture(fn -> :sysport.status() end) =~
             ~r/^sensors +up +sysport_sensors +\d+ +#{before + 1} +signal sigkill +\d+s +uid \d+, /m
  end

  test "dmesg/1 prints an injected kernel line like dmesg" do
    text = unique("facade-kmsg")
    :ok = :sysport_kmsg.subscribe()
    File.write!("/dev/kmsg", "<12>" <> text <> "\n")
    assert_receive {:sysport_kmsg, :record, %{message: ^text}}, 5000
    :ok = :sysport_kmsg.unsubscribe()
    out = capture(fn -> :sysport.dmesg(%{color: false, facility: :user}) end)
    assert out =~ ~r/^\[\s*\d+\.\d{6}\] #{text}$/m
  end

  test "kv/0 prints the env sorted by key" do
    key = unique("facade-kv")
    :ok = :sysport_kv.put(key, "välue ✓")
    out = capture(fn -> :sysport.kv() end)
    assert [header | _] = String.split(out, "\n")
    assert header =~ ~r/^key\s+value$/
    assert out =~ ~r/^#{key}\s+välue ✓$/mu
    assert out =~ ~r/^\d+ keys; file-backed env in data_dir/m
    :ok = :sysport_kv.delete(key)
  end

  test "tail/1 and grep/1 print a logged line" do
    text = unique("facade-log") <> " ünïcode"
    Logger.warning(text)
    {:ok, _} = :sysport_ringlog.sync()
    # the caller's module, function and arity before the message
    line = ~r/^\d{4}-\d\d-\d\dT[\d:.]+\+00:00 warning #\d+ <[\d.]+> .*FacadeTest.*: #{text}$/mu
    assert capture(fn -> :sysport.tail(5) end) =~ line
    assert capture(fn -> :sysport.grep(text) end) =~ line
  end

  test "devices, sensors, time and help print" do
    assert capture(fn -> :sysport.devices("net") end) =~ ~r/^net\s+lo\s+\/devices\/virtual\/net\/lo$/m
    assert capture(fn -> :sysport.devices() end) =~ ~r/^subsystem\s+name\s+driver\s+devpath$/m
    assert capture(fn -> :sysport.time() end) =~ ~r/^synchronized\s+no$/m
    assert capture(fn -> :sysport.help() end) =~ "sysport:status()"
    # no hwmon here: no chips, no output; with chips, their names
    {:ok, chips} = :sysport_sensors.read_all()
    out = capture(fn -> :sysport.sensors() end)
    Enum.each(chips, &assert(out =~ &1.name))
  end

  test "attach/0 and detach/0" do
    assert capture(fn -> :sysport.attach() end) =~ "ringlog: attached; sysport:detach() to stop"
    assert capture(fn -> :sysport.detach() end) == ""
  end

  defp capture(fun) do
    capture_io(fn -> assert :ok = fun.() end)
  end
end
