# bin/sysport's pre_start hook (sourced before the VM starts): the cookie in
# the data dir, the data dir pinned for the VM, epmd on loopback.
. "$SCRIPT_DIR/dist.sh"
SYSPORT_DATA_DIR=$(sysport_cookie_init) || exit 1
export SYSPORT_DATA_DIR
# Only erlexec sees this HOME (its -home, where the VM reads the cookie); the
# VM gets the caller's back with -env (`daemon' runs `foreground' with hooks
# off, which inherits both).
sysport_home=${HOME:-/}
case "$sysport_home" in *[[:space:]]*) sysport_home=/ ;; esac
export ERL_AFLAGS="-env HOME $sysport_home${ERL_AFLAGS:+ $ERL_AFLAGS}"
export HOME="$SYSPORT_DATA_DIR"
unset SYSPORT_COOKIE
# The epmd the VM starts listens on loopback (an epmd already running is used
# as it is).
export ERL_EPMD_ADDRESS="${ERL_EPMD_ADDRESS:-127.0.0.1}"
