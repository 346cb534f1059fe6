defmodule SysportInterop.TimeTest do
  # The time keeper from Elixir, on the recording clock: it is asked to set
  # the clock and records the change; the host clock never moves.
  use ExUnit.Case
  import SysportInterop

  setup_all do
    # Refuse to go on unless the clock is the recording one.
    assert {:ok, %{clock: :recording}} = :sysport_time.status()
    :ok
  end

  test "status, synchronized, servers" do
    assert {:ok, %{synchronized: false, floor: floor, rtc: %{} = rtc, kernel: %{}} = status} =
             :sysport_time.status()

    assert is_integer(floor)
    assert %{device: :none} = rtc
    assert_helper_up(status, "sysport_time")
    assert :sysport_time.synchronized() == {:ok, false}
    assert {:ok, []} = :sysport_time.servers()
  end

  test "set_servers takes strings and {host, port}; servers are maps" do
    # An unusual loopback port nothing answers on: no packet leaves the host.
    assert :ok = :sysport_time.set_servers([{"127.0.0.1", 45_123}])
    assert {:ok, [%{host: "127.0.0.1", state: state, reach: reach}]} = :sysport_time.servers()
    assert is_atom(state) and is_integer(reach)
    assert :ok = :sysport_time.set_servers([])
    assert {:ok, []} = :sysport_time.servers()
    assert {:error, {:bad_server, :not_a_list}} = :sysport_time.set_servers(:not_a_list)
    assert {:error, {:bad_server, {"h", 0}}} = :sysport_time.set_servers([{"h", 0}])
  end

  test "set_time is recorded, announced as {:sysport_time, :clock_step, info}, and the host clock stays" do
    assert :ok = :sysport_time.subscribe()
    before = System.os_time(:second)
    target = before + 3600
    assert :ok = :sysport_time.set_time(target)
    assert_receive {:sysport_time, :clock_step, %{reason: :manual, offset: offset}}
    assert_in_delta offset, 3600, 5
    assert {:ok, recorded} = :sysport_time.recorded()
    assert %{op: :set, ns: ns} = List.last(recorded)
    assert ns == target * 1_000_000_000
    assert_in_delta System.os_time(:second), before, 5
    assert :ok = :sysport_time.unsubscribe()
  end

  test "refusals are {:error, _}" do
    {:ok, %{floor: floor}} = :sysport_time.status()
    assert {:error, {:below_floor, ^floor}} = :sysport_time.set_time({{2000, 1, 1}, {0, 0, 0}})
    assert {:error, :badarg} = :sysport_time.set_time(:now)
    # no RTC on a host with the recording clock
    assert {:error, _} = :sysport_time.rtc_read()
    assert {:error, _} = :sysport_time.rtc_write()
  end
end
