defmodule SysportInterop.KvTest do
  # The U-Boot env from Elixir: binary keys and values, {:ok, _} | {:error, _}.
  use ExUnit.Case
  import SysportInterop

  setup_all do
    # Writes go to the file-backed env in the scratch data_dir, never to a
    # host's /etc/fw_env.config.
    assert {:ok, %{source: {:data_dir, config}}} = :sysport_kv.status()
    assert String.starts_with?(config, :sysport_env.data_dir())
    :ok
  end

  test "put, get, get_all, delete with UTF-8 strings" do
    key = unique("kv")
    assert :ok = :sysport_kv.put(key, "välue ✓")
    assert {:ok, "välue ✓"} = :sysport_kv.get(key)
    # chardata in, binaries out
    assert {:ok, "välue ✓"} = :sysport_kv.get(String.to_charlist(key))
    assert {:ok, env} = :sysport_kv.get_all()
    assert %{^key => "välue ✓"} = assert_binary_map(env)
    assert :ok = :sysport_kv.delete(key)
    assert {:error, :not_found} = :sysport_kv.get(key)
  end

  test "values are bytes: what is not UTF-8 comes back as it went in" do
    key = unique("kv-bytes")
    assert :ok = :sysport_kv.put(key, <<0xFF, 0x01>>)
    assert {:ok, <<0xFF, 0x01>>} = :sysport_kv.get(key)
    assert :ok = :sysport_kv.delete(key)
  end

  test "a map is written all or nothing" do
    [a, b] = [unique("kv-a"), unique("kv-b")]
    assert :ok = :sysport_kv.put(%{a => "1", b => "2"})
    assert {:ok, %{^a => "1", ^b => "2"}} = :sysport_kv.get_all()
    assert {:error, {:invalid_key, _}} = :sysport_kv.put(%{a => "changed", "bad=key" => "x"})
    assert {:ok, "1"} = :sysport_kv.get(a)
    assert :ok = :sysport_kv.delete([a, b])
    assert {:error, :not_found} = :sysport_kv.get(b)
  end

  test "bad input is {:error, _}" do
    assert {:error, {:invalid_key, _}} = :sysport_kv.put("bad=key", "v")
    assert {:error, _} = :sysport_kv.put("", "v")
    assert {:error, _} = :sysport_kv.put("k", 42)
    assert {:error, :not_found} = :sysport_kv.get("sysport-interop-absent")
  end

  test "the A/B firmware keys of the running slot" do
    assert :ok = :sysport_kv.put(%{"nerves_fw_active" => "a", "a.nerves_fw_interop" => "x"})
    assert {:ok, "x"} = :sysport_kv.get_active("nerves_fw_interop")
    assert :ok = :sysport_kv.put_active("nerves_fw_interop", "y")
    assert {:ok, "y"} = :sysport_kv.get("a.nerves_fw_interop")
    assert {:ok, active} = :sysport_kv.get_all_active()
    assert %{"nerves_fw_interop" => "y"} = assert_binary_map(active)
    assert {:ok, %{active: _}} = :sysport_kv.firmware_status()
    assert :ok = :sysport_kv.validate_firmware()
    assert :ok = :sysport_kv.delete(["nerves_fw_active", "a.nerves_fw_interop"])
    assert {:error, :no_active_firmware} = :sysport_kv.get_active("nerves_fw_interop")
  end

  test "subscribers get {:sysport_kv, :changed, changes}" do
    key = unique("kv-sub")
    assert :ok = :sysport_kv.subscribe()
    assert :ok = :sysport_kv.put(key, "new")
    assert_receive {:sysport_kv, :changed, %{^key => {:undefined, "new"}}}
    assert :ok = :sysport_kv.delete(key)
    assert_receive {:sysport_kv, :changed, %{^key => {"new", :undefined}}}
    assert :ok = :sysport_kv.unsubscribe()
    assert :ok = :sysport_kv.put(key, "unseen")
    refute_receive {:sysport_kv, _, _}, 100
    assert :ok = :sysport_kv.delete(key)
  end

  test "reload, recover and status" do
    assert :ok = :sysport_kv.put(unique("kv-valid"), "1")
    assert :ok = :sysport_kv.reload()
    # both copies valid: nothing to repair
    assert {:ok, :none} = :sysport_kv.recover()
    assert {:ok, %{keys: keys, env_state: :ok, copies: [_, _]} = status} = :sysport_kv.status()
    assert is_integer(keys) and keys > 0
    assert_helper_up(status, "sysport_kv")
  end
end
