defmodule SysportInterop.RinglogTest do
  # The ring log from Elixir: Elixir's Logger feeds it (it is an OTP logger
  # handler), and queries return maps with UTF-8 binaries.
  use ExUnit.Case
  import SysportInterop
  require Logger

  @levels [:emergency, :alert, :critical, :error, :warning, :notice, :info, :debug]

  test "a Logger.warning shows up in grep, tail and next" do
    tag = unique("ringlog")
    text = tag <> " ünïcode ✓"
    assert {:ok, _} = :sysport_ringlog.next()
    Logger.warning(text)
    assert {:ok, synced} = :sysport_ringlog.sync()
    assert is_integer(synced)

    assert {:ok, [%{msg: ^text, level: :warning, seq: seq, boot: boot} = record]} =
             :sysport_ringlog.grep(text)

    assert_record(record)
    assert {:ok, [%{seq: ^seq}]} = :sysport_ringlog.grep(~r/^#{tag} ün.code ✓$/u, %{level: :warning})
    assert {:ok, [%{seq: ^seq, msg: ^text}]} = :sysport_ringlog.get(%{from_seq: seq, count: 1})
    assert {:ok, [%{seq: ^seq}]} = :sysport_ringlog.grep(String.to_charlist(text))
    assert {:ok, []} = :sysport_ringlog.grep(text, %{level: :error})
    assert {:ok, tail} = :sysport_ringlog.tail(50)
    assert Enum.any?(tail, &(&1.seq == seq))
    Enum.each(tail, &assert_record/1)
    assert {:ok, next} = :sysport_ringlog.next()
    assert Enum.any?(next, &(&1.seq == seq))
    assert {:ok, boots} = :sysport_ringlog.boots()
    assert %{boot: ^boot, current: true, records: n} = List.last(boots)
    assert is_integer(n)
  end

  test "save writes the records as text" do
    text = unique("ringlog-save")
    Logger.error(text)
    path = Path.join(:sysport_env.data_dir(), "saved-#{System.unique_integer([:positive])}.log")
    assert :ok = :sysport_ringlog.save(path)
    assert File.read!(path) =~ ~r/ error .*#{Regex.escape(text)}/
    File.rm!(path)
  end

  test "attach prints new records to the caller's group leader" do
    {:ok, device} = StringIO.open("")
    text = unique("ringlog-attach")
    shell = Process.group_leader()
    Process.group_leader(self(), device)

    try do
      assert :ok = :sysport_ringlog.attach(%{level: :warning})
      Logger.info(text <> " quiet")
      Logger.warning(text <> " loud")
      eventually(fn -> StringIO.contents(device) |> elem(1) =~ text <> " loud" end)
      assert :ok = :sysport_ringlog.detach()
    after
      Process.group_leader(self(), shell)
    end

    refute StringIO.contents(device) |> elem(1) =~ text <> " quiet"
  end

  test "bad options are {:error, _}; config and status" do
    assert {:error, {:bad_option, :colour}} = :sysport_ringlog.get(%{colour: :red})
    assert {:error, :badarg} = :sysport_ringlog.tail(-1)
    assert {:error, {:bad_option, :level}} = :sysport_ringlog.attach(%{level: :loud})
    assert {:error, {:not_changeable, :spool_file}} = :sysport_ringlog.config(%{spool_file: "x"})
    assert :ok = :sysport_ringlog.config(%{level: :all})
    assert {:ok, %{synced_seq: synced} = status} = :sysport_ringlog.status()
    assert is_integer(synced)
    assert_helper_up(status, "sysport_ringlog")
  end

  defp assert_record(r) do
    assert %{seq: seq, boot: boot, time: time, mono: mono, level: level, msg: msg, domain: domain} = r
    assert is_integer(seq) and is_integer(time) and is_integer(mono) and level in @levels
    assert is_binary(boot) and is_binary(msg) and String.valid?(msg)
    assert Enum.all?(domain, &is_binary/1)
    assert r.pid == :undefined or is_binary(r.pid)
  end
end
