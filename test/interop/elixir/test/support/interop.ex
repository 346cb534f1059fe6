defmodule SysportInterop do
  @moduledoc """
  What the tests share: the repository they build from, unique tags for
  records they inject, and shape checks for the data sysport returns.
  """
  import ExUnit.Assertions

  @src Path.expand("../../../../..", __DIR__)

  @doc "The sysport repository this project depends on."
  def src, do: @src

  @doc "The helper programs the repository builds (ports/<name>/sysport_<name>.c)."
  def helpers do
    for c <- Path.wildcard(Path.join(@src, "ports/*/sysport_*.c")), do: Path.basename(c, ".c")
  end

  @doc "A string no other test, run or engineer on this host produces."
  def unique(what) do
    "sysport-interop-#{what}-#{System.pid()}-#{System.unique_integer([:positive])}"
  end

  @doc "A map of UTF-8 binaries to UTF-8 binaries (device properties)."
  def assert_text_map(map) do
    assert_binary_map(map)
    for {k, v} <- map, do: assert(String.valid?(v), "value #{inspect(v)} of #{k} is not UTF-8")
    map
  end

  @doc "A map of UTF-8 binaries to binaries (env values are bytes)."
  def assert_binary_map(map) do
    assert is_map(map)

    for {k, v} <- map do
      assert is_binary(k) and String.valid?(k), "key #{inspect(k)} is not a UTF-8 binary"
      assert is_binary(v), "value #{inspect(v)} of #{k} is not a binary"
    end

    map
  end

  @doc "A service's status carries its helper's sysport_port stats, up."
  def assert_helper_up(%{helper: helper}, name) do
    assert %{helper: ^name, state: :up, os_pid: os_pid, restarts: restarts, last_exit: _} = helper
    assert is_integer(os_pid) and os_pid > 0
    assert is_integer(restarts)
    helper
  end

  @doc "Polls `fun` until it returns a truthy value or `ms` pass."
  def eventually(fun, ms \\ 5000) do
    deadline = System.monotonic_time(:millisecond) + ms
    poll(fun, deadline)
  end

  defp poll(fun, deadline) do
    case fun.() do
      result when result not in [nil, false] ->
        result

      _ ->
        if System.monotonic_time(:millisecond) > deadline do
          flunk("condition not met in time")
        else
          Process.sleep(20)
          poll(fun, deadline)
        end
    end
  end
end
