# Elixir calling sysport the way an Elixir user would: atoms for modules,
# strings as binaries, {:ok, _} / {:error, _} results, maps for options.
# Each service adds its own section below. Any failed match raises and the
# interop run fails.
Application.put_env(:sysport, :data_dir, System.fetch_env!("SYSPORT_INTEROP_DATA"))
{:ok, _} = Application.ensure_all_started(:sysport)

check = fn name, fun ->
  fun.()
  IO.puts("ok: elixir #{name}")
end

check.("port owner", fn ->
  helper = System.fetch_env!("SYSPORT_TESTHELPER")
  {:ok, port} = :sysport_port.start_link(%{helper: helper})
  :ok = :sysport_port.call(port, :ping)
  {:ok, %{"key" => "value"}} = :sysport_port.call(port, {:echo, %{"key" => "value"}})
  %{state: :up, restarts: 0} = :sysport_port.stats(port)
  :ok = :sysport_port.stop(port)
end)

check.("sysport.status", fn -> :ok = :sysport.status() end)

check.("kmsg", fn ->
  {:ok, records} = :sysport_kmsg.dmesg()
  true = records != []
  %{seq: seq, level: level, message: msg} = List.last(records)
  true = is_integer(seq) and is_atom(level) and is_binary(msg)
  {:ok, []} = :sysport_kmsg.dmesg(%{since_seq: seq + 1_000_000_000})
  :ok = :sysport_kmsg.subscribe()
  :ok = :sysport_kmsg.unsubscribe()
  {:ok, %{last_seq: _, missed: _}} = :sysport_kmsg.status()
  {:error, _} = :sysport_kmsg.dmesg(%{level: :not_a_level})
end)

check.("kv", fn ->
  # No fw_env.config here: a file-backed env appears in data_dir on first write.
  :ok = :sysport_kv.put("interop_key", "välue")
  {:ok, "välue"} = :sysport_kv.get("interop_key")
  :ok = :sysport_kv.put(%{"a.nerves_fw_x" => "1", "nerves_fw_active" => "a"})
  {:ok, "1"} = :sysport_kv.get_active("nerves_fw_x")
  {:ok, %{"interop_key" => "välue"}} = :sysport_kv.get_all()
  {:error, {:invalid_key, _}} = :sysport_kv.put("bad=key", "v")
  {:error, :not_found} = :sysport_kv.get("nope")
  :ok = :sysport_kv.delete("interop_key")
  {:ok, %{}} = :sysport_kv.status()
end)

check.("sensors", fn ->
  # This host may have no hwmon at all: that is {:ok, []} and a healthy service.
  {:ok, chips} = :sysport_sensors.read_all()
  true = is_list(chips)
  {:ok, %{helper: %{state: :up}}} = :sysport_sensors.status()
  :ok = :sysport_sensors.subscribe()
  {:error, _} = :sysport_sensors.read("no-such-chip", "temp1")
end)

check.("uevent", fn ->
  :ok = :sysport_uevent.settle(200)
  {:ok, props} = :sysport_uevent.get("/devices/virtual/net/lo")
  %{"INTERFACE" => "lo", "SUBSYSTEM" => "net"} = props
  {:ok, nets} = :sysport_uevent.devices(%{subsystem: "net"})
  true = Enum.any?(nets, fn {path, _} -> path == "/devices/virtual/net/lo" end)
  :ok = :sysport_uevent.subscribe(%{subsystem: "net"})
  {:error, :not_found} = :sysport_uevent.get("/devices/nope")
end)

check.("time", fn ->
  # make sets SYSPORT_TIME_CLOCK=recording: nothing here touches the host clock.
  {:ok, %{synchronized: false, floor: floor}} = :sysport_time.status()
  true = is_integer(floor)
  {:ok, false} = :sysport_time.synchronized()
  :ok = :sysport_time.subscribe()
  :ok = :sysport_time.set_servers([])
  {:ok, []} = :sysport_time.servers()
  {:error, _} = :sysport_time.set_servers(:not_a_list)
end)

check.("ringlog", fn ->
  require Logger
  Logger.warning("interop ringlog ünïcode")
  {:ok, synced} = :sysport_ringlog.sync()
  true = is_integer(synced)
  {:ok, [%{msg: "interop ringlog ünïcode", level: :warning, seq: seq, boot: boot}]} =
    :sysport_ringlog.grep("interop ringlog")
  {:ok, [%{seq: ^seq}]} = :sysport_ringlog.grep(~r/interop ring(log)?/u, %{level: :warning})
  {:ok, [_ | _]} = :sysport_ringlog.tail(5)
  {:ok, boots} = :sysport_ringlog.boots()
  %{boot: ^boot, current: true} = List.last(boots)
  {:ok, %{synced_seq: _, helper: %{state: :up}}} = :sysport_ringlog.status()
  {:error, {:bad_option, :colour}} = :sysport_ringlog.get(%{colour: :red})
  :ok = :sysport.tail(3)
end)
