defmodule SysportInterop.HelpersTest do
  # sysport built by Mix: its modules and helpers live in this project's
  # _build/<env>/lib/sysport, and the running services use those helpers.
  use ExUnit.Case

  @lib Path.join([Mix.Project.build_path(), "lib", "sysport"])

  test "sysport's modules are loaded from Mix's _build" do
    assert to_string(:code.lib_dir(:sysport)) == @lib
    assert String.starts_with?(to_string(:code.which(:sysport_kv)), Path.join(@lib, "ebin"))
  end

  test "every helper is in Mix's _build/<env>/lib/sysport/priv and executable" do
    priv = Path.join(@lib, "priv")
    assert to_string(:code.priv_dir(:sysport)) == priv
    helpers = SysportInterop.helpers()
    assert length(helpers) >= 6

    for helper <- helpers do
      path = Path.join(priv, helper)
      assert {:ok, %File.Stat{type: :regular, mode: mode}} = File.stat(path), "#{path} missing"
      assert Bitwise.band(mode, 0o111) == 0o111, "#{path} is not executable"
    end
  end

  test "every service runs its helper from that priv" do
    # SYSPORT_HELPER_DIR unset (test/interop/run): priv is where helpers come from.
    assert to_string(:sysport_env.helper_dir()) == to_string(:code.priv_dir(:sysport))
    services = :sysport.services()
    assert Enum.map(services, & &1.service) == [:ringlog, :kmsg, :uevent, :time, :kv, :sensors]

    for %{service: service, status: %{helper: %{helper: name, os_pid: os_pid}}} <- services do
      running = File.stat!("/proc/#{os_pid}/exe")
      built = File.stat!(Path.join(:code.priv_dir(:sysport), name))

      assert {running.major_device, running.inode} == {built.major_device, built.inode},
             "#{service} runs #{File.read_link!("/proc/#{os_pid}/exe")}, not priv/#{name}"
    end
  end
end
