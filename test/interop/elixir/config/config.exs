import Config

# Nothing the tests start may change this host: the time keeper records
# clock changes instead of making them (make also exports
# SYSPORT_TIME_CLOCK=recording) and asks no NTP server. Options are
# keyword lists or maps alike.
config :sysport, time: [clock: :recording, servers: []]

# sysport_kmsg forwards the kernel log to logger, and the console would
# print it (the whole backlog at start) into test output and into the IEx
# session whose screen the tests read. sysport_ringlog keeps every record.
config :logger, backends: []
