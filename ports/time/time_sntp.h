/*
 * SNTP exchanges over UDP, one socket each, driven by the helper's loop:
 * a request carrying a random cookie goes out, and the first reply from
 * the server's address and port that carries the cookie back ends the
 * exchange. The receive time is the kernel's (SO_TIMESTAMPNS).
 *
 * Datagrams that are not an answer to us (wrong source, short, wrong mode
 * or version, bogus origin) are counted with an event
 * {sntp_rejected, Reason} and the exchange keeps waiting; if nothing better
 * comes, the timeout reports the last such reason instead of `timeout'.
 *
 * Replies to the call id:
 *   {ok, #{offset, delay, t1..t4, stratum, leap, ...}}
 *   {error, timeout | Reason | {kod, Code} | Errno}
 * An answer that arrives after this helper stepped or set the clock since
 * the request left is {error, clock_changed}: its offset would mix the two
 * clocks.
 */
#ifndef TIME_SNTP_H
#define TIME_SNTP_H

#define TIME_SNTP_MAX_EXCHANGES 16

/* Starts an exchange with addr (a numeric IPv4 or IPv6 address) and port.
 * 0, or -errno (nothing was replied). */
int time_sntp_start(unsigned long long id, const char *addr, int port, long timeout_ms);
/* Ends every exchange without replying (shutdown). */
void time_sntp_close_all(void);

#endif
