defmodule SysportInterop.UeventTest do
  # Devices and uevents from Elixir: properties are maps of binaries, events
  # flat tuples, and a real uevent (a write to a sysfs uevent file) arrives.
  use ExUnit.Case
  import SysportInterop

  @lo "/devices/virtual/net/lo"

  setup_all do
    assert :ok = :sysport_uevent.settle(100, 30_000)
    :ok
  end

  test "the device table: devpaths to property maps" do
    assert {:ok, props} = :sysport_uevent.get(@lo)
    assert %{"INTERFACE" => "lo", "SUBSYSTEM" => "net", "DEVPATH" => @lo} = assert_text_map(props)
    assert {:ok, ^props} = :sysport_uevent.get("/sys" <> @lo)
    assert {:ok, ^props} = :sysport_uevent.get(String.to_charlist(@lo))
    assert {:ok, %{@lo => ^props} = nets} = :sysport_uevent.devices(%{subsystem: "net"})
    Enum.each(nets, fn {path, p} -> assert is_binary(path) and assert_text_map(p)["SUBSYSTEM"] == "net" end)
    assert {:ok, all} = :sysport_uevent.devices()
    assert map_size(all) > map_size(nets)
  end

  test "a change written to lo's uevent file arrives as {:sysport_uevent, :change, %{devpath: d, props: p}}" do
    assert :ok = :sysport_uevent.subscribe(subsystem: "net")
    assert_receive {:sysport_uevent, :coldplug_complete, %{devices: n}} when is_integer(n)
    # A synthetic uevent (Linux >= 4.13) carries our UUID and argument, so
    # another test's change of lo on this host cannot stand in for ours.
    # The kernel takes only letters and digits in an argument.
    uuid = uuid4()
    tag = Base.encode16(:crypto.strong_rand_bytes(8))
    File.write!("/sys/class/net/lo/uevent", "change #{uuid} SYSPORTTAG=#{tag}")

    assert_receive {:sysport_uevent, :change,
                    %{devpath: @lo,
                      props: %{"ACTION" => "change", "SYNTH_UUID" => ^uuid, "SYNTH_ARG_SYSPORTTAG" => ^tag} = props}},
                   5000

    assert %{"INTERFACE" => "lo", "SEQNUM" => _} = assert_text_map(props)
    assert :ok = :sysport_uevent.unsubscribe()
    File.write!("/sys/class/net/lo/uevent", "change #{uuid4()}")
    refute_receive {:sysport_uevent, :change, _}, 300
  end

  test "errors are {:error, _}; status is a map" do
    assert {:error, :not_found} = :sysport_uevent.get("/devices/sysport-interop-nope")
    assert {:error, {:bad_filter, _}} = :sysport_uevent.devices(%{colour: "red"})
    assert {:error, {:bad_filter, _}} = :sysport_uevent.subscribe(:not_a_filter)
    assert {:ok, %{coldplug: :complete, devices: n} = status} = :sysport_uevent.status()
    assert is_integer(n) and n > 0
    assert_helper_up(status, "sysport_uevent")
  end

  defp uuid4 do
    <<a::32, b::16, _::4, c::12, _::2, d::14, e::48>> = :crypto.strong_rand_bytes(16)
    <<a::32, b::16, 4::4, c::12, 2::2, d::14, e::48>>
    |> Base.encode16(case: :lower)
    |> then(fn <<a::binary-8, b::binary-4, c::binary-4, d::binary-4, e::binary-12>> ->
      Enum.join([a, b, c, d, e], "-")
    end)
  end
end
