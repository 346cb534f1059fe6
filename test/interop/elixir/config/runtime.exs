import Config

# Everything sysport writes goes to a scratch directory: test/interop/run
# makes one per run (SYSPORT_INTEROP_DATA) and removes it afterwards.
data =
  System.get_env("SYSPORT_INTEROP_DATA") ||
    Path.join(System.tmp_dir!(), "sysport-interop-#{System.pid()}")

config :sysport,
  data_dir: data,
  kmsg: %{seq_file: Path.join(data, "kmsg.seq")},
  kv: %{lock_file: Path.join(data, "fw_printenv.lock")}
