/*
 * The helper runtime: one poll loop over the protocol input, a self-pipe for
 * signals, helper fds and timers, with request dispatch and {ready, Info}.
 *
 *   static const sp_call calls[] = {{"dmesg", 1, call_dmesg}, {0}};
 *   int main(int argc, char **argv) {
 *       sp_init("sysport_x");         // first: protects fd 1, installs signals
 *       ... sp_args(...), open devices (err(...)) ...
 *       sp_run(&helper);              // sends {ready, Info}, never returns
 *   }
 *
 * Frames in:  {call, Id, Request} | {cast, Request}
 *             Request = atom() | {atom(), Arg...}
 * A frame that does not decode, or one over the cap, ends the helper with
 * SP_EXIT_PROTOCOL after a {log, error, Why}.
 *
 * Requests are looked up by name in the helper's tables: a name not there
 * is answered {error, {unknown_request, Name}}, one with another number of
 * arguments {error, badarg} (a cast so refused is logged), and only a
 * request of the right name and arity reaches its handler. The ready
 * info's capabilities are the names in the tables, calls first.
 */
#ifndef SP_LOOP_H
#define SP_LOOP_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "sp_proto.h"
#include "sp_term.h"

/* Exit statuses (sysexits.h values) the Erlang owner reports. */
enum {
    SP_EXIT_OK = 0,
    SP_EXIT_USAGE = 64,    /* bad command line */
    SP_EXIT_PROTOCOL = 65, /* a frame from the VM that does not decode */
    SP_EXIT_SOFTWARE = 70, /* an internal invariant broke */
    SP_EXIT_OSERR = 71,    /* a system call the helper cannot live without failed */
    SP_EXIT_IO = 74,       /* the protocol pipe failed */
};

/* Payload cap for frames from the VM when a helper sets none. */
#define SP_DEFAULT_MAX_FRAME (1u << 20)

typedef struct sp_request {
    char name[MAXATOMLEN_UTF8];
    int argc;    /* elements after the name: 0 for a bare atom */
    sp_dec args; /* positioned at the first argument */
} sp_request;

/* What a call/cast handler returns. */
enum sp_handled {
    SP_HANDLED = 0, /* replied now, or will reply later with the id */
    SP_BADARG = 1,  /* arguments of the wrong type: the runtime replies {error, badarg} */
};

/* One request a helper serves: {name, arity, handler}. Arity counts the
 * arguments after the name (0 for a bare atom); the handler only meets
 * requests of that arity. Tables end with {0}. */
typedef struct sp_call {
    const char *name;
    int arity;
    enum sp_handled (*handle)(unsigned long long id, sp_request *req);
} sp_call;

typedef struct sp_cast {
    const char *name;
    int arity;
    enum sp_handled (*handle)(sp_request *req);
} sp_cast;

typedef struct sp_helper {
    const char *name;
    const char *version;
    size_t max_frame; /* 0: SP_DEFAULT_MAX_FRAME */
    const sp_call *calls;
    const sp_cast *casts; /* optional */
    /* The ready info's capabilities when they are not the request names
     * (the test helper's); NULL-terminated. NULL: derived from the tables. */
    const char *const *capabilities;
    /* Adds the helper's own pairs to the ready map. */
    void (*ready_info)(sp_map *m);
    void (*signal)(int signo);                /* for signals from sp_signal_watch */
    /* stdin EOF or SIGTERM/SIGINT: finish what must be finished. The runtime
     * flushes and exits 0 afterwards. */
    void (*shutdown)(void);
} sp_helper;

typedef void (*sp_fd_cb)(int fd, short revents, void *ctx);
typedef void (*sp_timer_cb)(void *ctx);

void sp_init(const char *name);
_Noreturn void sp_run(const sp_helper *h);
/* Flushes queued frames and exits with status. */
_Noreturn void sp_exit(int status);
/* Logs at error level, flushes and exits with status (fatal inside the loop). */
_Noreturn void sp_fatal(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int sp_watch(int fd, short events, sp_fd_cb cb, void *ctx);
int sp_watch_events(int fd, short events); /* change the events watched */
void sp_unwatch(int fd);
/* Stops (or resumes) reading protocol input, leaving it in the pipe. */
void sp_pause_input(int paused);

/* One-shot timer; returns an id > 0, or -1 when out of memory. */
int sp_timer_start(long long ms, sp_timer_cb cb, void *ctx);
void sp_timer_cancel(int id);
/* Monotonic milliseconds. */
long long sp_now_ms(void);

/* Routes signo to the helper's signal callback through the self-pipe. */
int sp_signal_watch(int signo);

enum sp_message { SP_MSG_INVALID, SP_MSG_CALL, SP_MSG_CAST };

/* Pure: parses one frame from the VM. *id is set for calls only. */
enum sp_message sp_parse_message(const uint8_t *frame, size_t len, unsigned long long *id, sp_request *req);

/* 0 when every argument of the request was consumed. */
int sp_request_end(const sp_request *req);

/* Pure: the ready info's capabilities, at most max of them (duplicates,
 * like a name both called and cast, once). Returns how many. */
int sp_capabilities(const sp_helper *h, const char **out, int max);

/* Parses one frame from the VM and runs its request through h's tables:
 * what the loop does with each frame (tests call it directly). */
void sp_dispatch(const sp_helper *h, const uint8_t *frame, size_t len);

#endif
