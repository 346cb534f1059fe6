import Config

# Everything sysport writes goes to a scratch directory: test/interop/run
# makes one per run (SYSPORT_INTEROP_DATA) and removes it afterwards.
data =
  System.get_env("SYSPORT_INTEROP_DATA") ||
    Path.join(System.tmp_dir!(), "sysport-interop-#{System.pid()}")

config :sysport,
  data_dir: data,
  # The IEx session test turns forwarding off: other tests on this host
  # write to /dev/kmsg, and their lines must not push its own out of tail().
  # (the kmsg seq file is kmsg.seq in data_dir)
  kmsg: [logger: System.get_env("SYSPORT_INTEROP_KMSG_LOGGER", "true") == "true"],
  kv: [lock_file: Path.join(data, "fw_printenv.lock")]
