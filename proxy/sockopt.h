/*
 * sockopt: PgBouncer's low-level network settings on pgsift's TCP sockets. tcp_keepalive,
 * tcp_keepidle, tcp_keepintvl, tcp_keepcnt, tcp_user_timeout and tcp_socket_buffer go on every
 * connected socket, client or server; tcp_defer_accept and so_reuseport on the listeners. A key
 * left at 0 leaves the kernel's default alone. Unix sockets get none of them.
 */
#ifndef PGSIFT_SOCKOPT_H
#define PGSIFT_SOCKOPT_H

#include <uv.h>

#include "config/config.h"

/*
 * Applies the tcp_* keepalive, user-timeout and buffer settings of cfg to a connected (or at
 * least created) TCP socket: an accepted client's or a server connection's. A setting the
 * kernel refuses is logged as a warning and the connection goes on without it; a handle
 * without a socket yet is left alone.
 */
void sockopt_apply_tcp(uv_tcp_t *h, const Config *cfg);

/*
 * Prepares a listening socket created with uv_tcp_init_ex (so it has a descriptor) before it
 * is bound: SO_REUSEPORT when so_reuseport is on, TCP_DEFER_ACCEPT of 45 seconds when
 * tcp_defer_accept is not 0 (PgBouncer's fixed value). Returns 0 or a negative UV_E* error
 * (an SO_REUSEPORT the system does not have is an error, as in PgBouncer).
 */
int sockopt_apply_listener(uv_tcp_t *h, const Config *cfg);

#endif
