defmodule SysportInterop.KmsgTest do
  # The kernel log from Elixir: records are maps with binary text, and a
  # line written to /dev/kmsg arrives at the subscriber as a flat tuple.
  use ExUnit.Case
  import SysportInterop

  @levels [:emergency, :alert, :critical, :error, :warning, :notice, :info, :debug]

  test "dmesg returns the kernel buffer as maps" do
    assert {:ok, [_ | _] = records} = :sysport_kmsg.dmesg()

    for r <- records do
      assert %{seq: seq, level: level, facility: facility, ts_usec: ts, flags: flags, message: msg} = r
      assert is_integer(seq) and is_integer(ts) and level in @levels
      assert is_atom(facility) or is_integer(facility)
      assert is_binary(flags) and is_binary(msg)
    end

    seqs = Enum.map(records, & &1.seq)
    assert seqs == Enum.sort(seqs)
    assert {:ok, []} = :sysport_kmsg.dmesg(%{since_seq: List.last(seqs) + 1_000_000_000})
  end

  test "a line written to /dev/kmsg reaches the subscriber, dmesg and the ring log" do
    text = unique("kmsg") <> " ünïcode"
    assert :ok = :sysport_kmsg.subscribe()
    # <12>: facility user, level warning (the kernel never lets a writer claim kern)
    File.write!("/dev/kmsg", "<12>" <> text <> "\n")
    assert_receive {:sysport_kmsg, :record, %{message: ^text, level: :warning, facility: :user, seq: seq}}, 5000
    assert {:ok, [%{seq: ^seq, message: ^text} | _]} = :sysport_kmsg.dmesg(%{since_seq: seq})
    assert {:ok, selected} = :sysport_kmsg.dmesg(%{level: :warning, facility: :user})
    assert Enum.any?(selected, &(&1.message == text))
    assert :ok = :sysport_kmsg.unsubscribe()

    File.write!("/dev/kmsg", "<12>" <> text <> " again\n")
    refute_receive {:sysport_kmsg, _}, 200
    # forwarded to logger, so kept by sysport_ringlog
    assert {:ok, _} = :sysport_ringlog.sync()
    assert {:ok, [%{msg: ^text} | _]} = :sysport_ringlog.grep(text)
  end

  test "a subscription filter selects by level" do
    text = unique("kmsg-filter")
    assert :ok = :sysport_kmsg.subscribe(%{level: :error})
    File.write!("/dev/kmsg", "<14>" <> text <> " info\n")
    File.write!("/dev/kmsg", "<11>" <> text <> " error\n")
    expected = text <> " error"
    assert_receive {:sysport_kmsg, :record, %{message: ^expected, level: :error}}, 5000
    refute_received {:sysport_kmsg, :record, %{level: :info}}
    assert :ok = :sysport_kmsg.unsubscribe()
  end

  test "bad options are {:error, _}; status is a map" do
    assert {:error, _} = :sysport_kmsg.dmesg(%{level: :not_a_level})
    assert {:error, _} = :sysport_kmsg.subscribe(%{facility: :nope})
    assert {:ok, records} = :sysport_kmsg.dmesg(level: :warning)
    assert Enum.all?(records, &(&1.level in [:emergency, :alert, :critical, :error, :warning]))
    assert {:ok, %{last_seq: last, counters: %{missed: missed}, available: true} = status} =
             :sysport_kmsg.status()
    assert is_integer(last) and is_integer(missed)
    assert_helper_up(status, "sysport_kmsg")
  end
end
