/*
 * takeover: the online restart (`pgsift -R`, PgBouncer's -R). A running pgsift offers its
 * listening sockets on a control socket of its own (<unix_socket_dir>/.s.PGSQL.<port>.takeover,
 * mode 0600, only the same user or root may use it). A new pgsift started with --takeover
 * connects there, receives every listening socket (the clients' TCP and Unix listeners and the
 * metrics listener) as file descriptors, starts with them instead of binding, and then tells the
 * old process, which stops accepting and goes on as after SIGTERM: it serves the clients it has
 * until they leave, and exits. The sockets never close, so no connection is refused or reset
 * during the restart, with or without so_reuseport.
 *
 * The control connection stays open while the old process drains: a CancelRequest that reaches
 * the new process for a client of the old one is passed back on it, so a client still on the old
 * process can cancel its statement.
 *
 * Exchange (lines end with '\n'): new -> "TAKEOVER"; old -> "LISTENERS <n>" followed by n names
 * ("127.0.0.1:6432", "/tmp/.s.PGSQL.6432", "metrics:127.0.0.1:9127"), with the n descriptors in
 * the same message (SCM_RIGHTS); new -> "ADOPTED"; old -> "RELEASED". After that, 16-byte
 * CancelRequest packets from new to old.
 *
 * Event loop only, except takeover_fetch and takeover_finish, which the new process calls
 * before its loop runs (they block, with timeouts).
 */
#ifndef PGSIFT_PROXY_TAKEOVER_H
#define PGSIFT_PROXY_TAKEOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* The control socket's path for this configuration, or false when there is none
 * (unix_socket_dir is empty). */
bool takeover_path(const char *unix_socket_dir, int port, char *out, size_t len);

/* ---- the new process ---- */

/*
 * Asks the process on path for its listening sockets. Returns how many it gave, 0 when nothing
 * listens on path (no running pgsift: start normally), or -1 with a message in err.
 */
int takeover_fetch(const char *path, char *err, size_t errlen);
/* The descriptor of the received listener of that name (now the caller's), or -1. */
int takeover_claim(const char *name);
/*
 * Closes the received listeners nobody claimed (the new configuration no longer has them),
 * tells the old process to stop accepting and waits for it to say so. From then on, cancels
 * this process cannot resolve are passed to it (takeover_forward_cancel). Returns 0, or -1
 * with a message in err (the old process then goes on accepting too).
 */
int takeover_finish(uv_loop_t *loop, char *err, size_t errlen);

/* Whether an older process is still draining behind the control connection. */
bool takeover_has_predecessor(void);
/* Passes a CancelRequest (pid, key) to that process. */
void takeover_forward_cancel(uint32_t pid, uint32_t key);

/* ---- the running process ---- */

/* What the offering process needs from the proxy. */
typedef struct TakeoverOps {
	/* Puts the descriptors and names of every listening socket into fds/names (at most max);
	 * returns how many. */
	size_t (*collect)(int *fds, const char **names, size_t max);
	/* The new process has them: stop accepting (without removing the Unix socket file, which
	 * is the new process's now) and drain as after SIGTERM. */
	void (*release)(void);
	/* A CancelRequest the newer process passed back. */
	void (*cancel)(uint32_t pid, uint32_t key);
} TakeoverOps;

/* Offers this process's listeners on path (a stale socket file there is replaced). Returns 0
 * or a libuv error. */
int takeover_serve(uv_loop_t *loop, const char *path, const TakeoverOps *ops);
/* Stops offering (SIGTERM): the socket file is removed unless a newer process took it. */
void takeover_stop_offering(void);
/* At exit: stops offering and closes the links to older and newer processes. */
void takeover_stop(void);

#endif
