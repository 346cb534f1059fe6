# bin/sysport ctl ping | eval EXPR | stop | remote_console
#
# Talks to the running node with the cookie file in its data dir: relx's own
# ping/eval/rpc/remote_console pass the cookie as a command-line argument,
# readable by every local user for as long as they run.
. "$SCRIPT_DIR/dist.sh"
case "${1:-}" in
  ping)
    if erl_rpc erlang is_alive > /dev/null 2>&1; then echo pong; exit 0; fi
    echo pang; exit 1 ;;
  eval)
    [ $# -eq 2 ] || { echo "usage: $REL_NAME ctl eval EXPR" >&2; exit 1; }
    result=$(printf '%s\n' "$2" | sysport_erl_call -e) || exit 1
    echo "$result" | sed 's/^{ok, \(.*\)}$/\1/'
    exit 0 ;;
  stop)
    erl_rpc init stop > /dev/null || exit 1
    echo ok; exit 0 ;;
  remote_console)
    cookie_dir=$(sysport_cookie_dir) || exit 1
    exec env HOME="$cookie_dir" "$BINDIR/erlexec" -remsh "$NAME" "$NAME_TYPE" "undefined@$RELX_HOSTNAME" \
      -boot "$REL_DIR/start_clean" -mode interactive -boot_var SYSTEM_LIB_DIR "$SYSTEM_LIB_DIR" \
      -hidden -dist_listen false -env HOME "${HOME:-/}" ;;
  *)
    echo "usage: $REL_NAME ctl ping | eval EXPR | stop | remote_console" >&2
    exit 1 ;;
esac
