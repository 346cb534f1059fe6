defmodule SysportInterop.PortTest do
  # sysport_port, the helper owner every service is built on, owned from
  # Elixir: calls, casts, events as messages, stats, restarts.
  use ExUnit.Case

  setup do
    helper =
      System.get_env("SYSPORT_TESTHELPER") ||
        Path.join(SysportInterop.src(), "_build/c/release/sysport_testhelper")

    assert File.regular?(helper), "#{helper}: build it with make #{helper}"
    {:ok, port} = :sysport_port.start_link(%{helper: helper, owner: self()})
    assert_receive {:sysport_port, ^port, {:ready, %{} = info}}
    on_exit(fn -> Process.alive?(port) and :sysport_port.stop(port) end)
    %{port: port, info: info}
  end

  test "calls return {:ok, _} | {:error, _} with Elixir terms round-tripped", %{port: port} do
    assert :ok = :sysport_port.call(port, :ping)
    term = %{"key" => "välue", "list" => [1, 2.5, :atom, {:tuple, "ü"}]}
    assert {:ok, ^term} = :sysport_port.call(port, {:echo, term})
    assert {:error, {:unknown_request, :no_such_request}} = :sysport_port.call(port, :no_such_request)
    assert {:error, :badarg} = :sysport_port.call(port, {:sleep, :not_a_number})
    assert {:error, :timeout} = :sysport_port.call(port, {:sleep, 2000}, 50)
  end

  test "events arrive as flat tagged tuples", %{port: port} do
    assert :ok = :sysport_port.cast(port, {:events, 2, 3})
    assert_receive {:sysport_port, ^port, {:event, {:tick, 0, "eee"}}}
    assert_receive {:sysport_port, ^port, {:event, {:tick, 1, "eee"}}}
  end

  test "stats and info are maps; a crashed helper is restarted", %{port: port, info: info} do
    assert %{"name" => _} = info |> Map.new(fn {k, v} -> {to_string(k), v} end)
    assert %{state: :up, restarts: 0, os_pid: os_pid, helper: "sysport_testhelper"} =
             :sysport_port.stats(port)

    assert {:error, {:helper_exited, _}} = :sysport_port.call(port, :crash)
    assert_receive {:sysport_port, ^port, {:exited, {:signal, _}}}
    assert_receive {:sysport_port, ^port, {:ready, _}}, 5000
    assert %{state: :up, restarts: 1, os_pid: new_pid} = :sysport_port.stats(port)
    assert new_pid != os_pid
  end

  test "a missing helper is {:error, _}, not an exception" do
    Process.flag(:trap_exit, true)

    assert {:error, {:helper_not_found, path}} =
             :sysport_port.start_link(%{helper: "sysport_no_such_helper"})

    assert is_binary(path)
  end
end
