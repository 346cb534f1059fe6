defmodule SysportInterop.SensorsTest do
  # hwmon sensors from Elixir. This host may have no hwmon at all: then the
  # chip lists are empty and the service is healthy; the shapes still hold.
  use ExUnit.Case
  import SysportInterop

  test "chips, read_all and rescan are lists of chip maps" do
    assert {:ok, chips} = :sysport_sensors.chips()
    assert {:ok, read} = :sysport_sensors.read_all()
    assert {:ok, rescanned} = :sysport_sensors.rescan()
    Enum.each(chips ++ read ++ rescanned, &assert_chip/1)
    assert length(chips) == length(read)
    assert {:ok, %{hwmon: hwmon, chips: names} = status} = :sysport_sensors.status()
    assert is_boolean(hwmon) and is_list(names)
    assert hwmon == (read != [])
    assert_helper_up(status, "sysport_sensors")

    for %{name: chip, features: [%{name: feature} | _]} <- Enum.take(read, 1) do
      assert {:ok, %{name: ^feature}} = :sysport_sensors.read(chip, feature)
    end
  end

  test "an unknown chip is {:error, _}" do
    assert {:error, {:no_such_chip, "sysport-interop-chip"}} =
             :sysport_sensors.read("sysport-interop-chip", "temp1")

    assert {:error, _} = :sysport_sensors.set("sysport-interop-chip", "temp1_max", 85.0)
    assert {:error, {:badarg, _}} = :sysport_sensors.set("chip", "temp1_max", :hot)
    assert {:error, {:badarg, _}} = :sysport_sensors.read("", "temp1")
  end

  test "thresholds are kept by {chip, feature} binaries, for chips not there yet" do
    chip = unique("chip")
    assert :ok = :sysport_sensors.set_threshold(chip, "temp1", %{above: 80.0, clear_below: 75.0})
    assert {:ok, %{{^chip, "temp1"} => %{above: 80.0, clear_below: 75.0}}} = :sysport_sensors.thresholds()
    assert {:error, {:bad_threshold, _}} = :sysport_sensors.set_threshold(chip, "temp1", %{above: :hot})
    assert :ok = :sysport_sensors.clear_threshold(chip, "temp1")
    assert {:ok, thresholds} = :sysport_sensors.thresholds()
    refute Map.has_key?(thresholds, {chip, "temp1"})
  end

  test "subscribe with a filter; bad filters are {:error, _}" do
    assert :ok = :sysport_sensors.subscribe(%{events: [:chip_added, :chip_removed]})
    assert {:ok, %{subscribers: n}} = :sysport_sensors.status()
    assert n >= 1
    assert :ok = :sysport_sensors.unsubscribe()
    assert {:error, _} = :sysport_sensors.subscribe(%{events: [:sysport_interop_nope]})
    assert {:error, _} = :sysport_sensors.subscribe(:not_a_filter)
  end

  defp assert_chip(chip) do
    assert %{name: name, prefix: prefix, bus: bus, path: path, features: features} = chip
    assert is_binary(name) and is_binary(prefix) and is_atom(bus) and is_binary(path)

    for f <- features do
      assert %{name: fname, label: label, type: type, unit: unit, subfeatures: subs} = f
      assert is_binary(fname) and is_binary(label) and is_atom(type) and is_binary(unit)
      assert Enum.all?(subs, &(is_binary(&1.name) and is_boolean(&1.readable)))
    end
  end
end
