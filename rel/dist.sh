# Sourced by bin/sysport's pre_start hook and its `ctl' command (POSIX sh).
#
# The distribution cookie is a file, `.erlang.cookie' (mode 0400) in the data
# dir, never a command-line argument or a world-readable file: any local user
# can read /proc/PID/cmdline, and whoever has the cookie runs code as the
# node's user. The VM and erl_call read it as $HOME/.erlang.cookie, with HOME
# pointed at the data dir for them alone.

# The data dir, chosen as sysport_env:data_dir/0 chooses it.
sysport_data_dir() {
  if [ -n "${SYSPORT_DATA_DIR:-}" ]; then
    echo "$SYSPORT_DATA_DIR"
  elif [ -d /data ] && [ -w /data ]; then
    echo /data/sysport
  elif [ -n "${XDG_STATE_HOME:-}" ]; then
    echo "$XDG_STATE_HOME/sysport"
  elif [ -n "${HOME:-}" ]; then
    echo "$HOME/.local/state/sysport"
  else
    echo /var/lib/sysport
  fi
}

# Refuses (non-zero, a message on stderr) a directory another user could
# change: as sysport_file:check_dir/2, every directory on the way must be
# owned by root or us and writable by nobody else.
sysport_safe_dir() {
  _p=$(readlink -f "$1") || return 1
  while :; do
    _uid=$(stat -c %u "$_p") && _mode=$(stat -c %a "$_p") || return 1
    if [ "$_uid" != 0 ] && [ "$_uid" != "$(id -u)" ]; then
      echo "sysport: $_p is owned by uid $_uid; refusing it for the distribution cookie" >&2
      return 1
    fi
    if [ $((0$_mode & 022)) -ne 0 ]; then
      echo "sysport: $_p is writable by other users (mode $_mode); refusing it for the distribution cookie" >&2
      return 1
    fi
    [ "$_p" = / ] && return 0
    _p=$(dirname "$_p")
  done
}

# A cookie file: ours, a regular file, readable by nobody else.
sysport_safe_cookie() {
  if [ -L "$1" ] || [ ! -f "$1" ] || [ "$(stat -c %u "$1")" != "$(id -u)" ] ||
     [ $((0$(stat -c %a "$1") & 077)) -ne 0 ]; then
    echo "sysport: $1 is not a regular file of uid $(id -u) readable only by it; refusing it as the distribution cookie" >&2
    return 1
  fi
}

# Makes the data dir (0700) and its cookie: $SYSPORT_COOKIE when set, else the
# one made at first boot, else a new one of 256 random bits. Prints the dir.
sysport_cookie_init() {
  _dir=$(sysport_data_dir)
  _file="$_dir/.erlang.cookie"
  _up=$_dir
  while [ ! -d "$_up" ]; do _up=$(dirname "$_up"); done
  sysport_safe_dir "$_up" || return 1
  (umask 077 && mkdir -p "$_dir") && chmod 0700 "$_dir" || return 1
  sysport_safe_dir "$_dir" || return 1
  if [ "$(stat -c %u "$_dir")" != "$(id -u)" ]; then
    echo "sysport: $_dir is not owned by uid $(id -u); refusing it for the distribution cookie" >&2
    return 1
  fi
  case "${SYSPORT_COOKIE:-}" in
    *[!!-~]*)
      echo "sysport: SYSPORT_COOKIE has characters other than printable ASCII without spaces; refusing it" >&2
      return 1 ;;
  esac
  if [ -n "${SYSPORT_COOKIE:-}" ] || { [ ! -e "$_file" ] && [ ! -L "$_file" ]; }; then
    _cookie=${SYSPORT_COOKIE:-$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')}
    _tmp="$_file.new.$$"
    rm -f "$_tmp"
    # noclobber: the temporary file is created, never an existing one opened.
    (umask 277 && set -C && printf '%s\n' "$_cookie" > "$_tmp") || return 1
    mv -f "$_tmp" "$_file" || return 1
    unset _cookie
  fi
  sysport_safe_cookie "$_file" || return 1
  echo "$_dir"
}

# The data dir holding the cookie, for a command talking to the node.
sysport_cookie_dir() {
  _dir=$(sysport_data_dir)
  if [ ! -f "$_dir/.erlang.cookie" ]; then
    echo "sysport: no distribution cookie in $_dir (the node makes it at its first start; set SYSPORT_DATA_DIR to the node's data dir)" >&2
    return 1
  fi
  sysport_safe_dir "$_dir" && sysport_safe_cookie "$_dir/.erlang.cookie" && echo "$_dir"
}

# erl_call with the cookie file; the node's name from bin/sysport.
sysport_erl_call() {
  _cookie_dir=$(sysport_cookie_dir) || return 1
  HOME="$_cookie_dir" "$ERTS_DIR/bin/erl_call" "$NAME_TYPE" "$NAME" -R -timeout "$RELX_RPC_TIMEOUT" "$@"
}

# bin/sysport's own rpc, used where it sources this file (its start hooks,
# where `daemon' waits for the node, and its pre_stop hook, for `stop'):
# relx's would put the cookie on erl_call's command line.
erl_rpc() {
  sysport_erl_call -a "$*"
}
