/*
 * sockopt: setsockopt(2) for PgBouncer's tcp_* keys and so_reuseport. See sockopt.h.
 *
 * The options are set directly on the descriptor rather than through uv_tcp_keepalive(),
 * which in libuv 1.44 sets only the idle time and would tie the interval and count to the
 * kernel's defaults, where PgBouncer sets each key on its own.
 */
#include "proxy/sockopt.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "config/log.h"

/* TCP_DEFER_ACCEPT's timeout in seconds when tcp_defer_accept is on, as PgBouncer. */
#define DEFER_ACCEPT_SECONDS 45

static int sockopt_set(int fd, int level, int name, int value, const char *key)
{
	if (setsockopt(fd, level, name, &value, sizeof(value)) == 0)
		return 0;
	int err = errno;
	log_warn("could not set %s = %d on a socket: %s", key, value, strerror(err));
	return -err;
}

void sockopt_apply_tcp(uv_tcp_t *h, const Config *cfg)
{
	uv_os_fd_t fd;
	if (uv_fileno((const uv_handle_t *)h, &fd) != 0)
		return;
	(void)sockopt_set(fd, SOL_SOCKET, SO_KEEPALIVE, cfg->tcp_keepalive ? 1 : 0,
			  "tcp_keepalive");
	if (cfg->tcp_keepalive) {
		if (cfg->tcp_keepidle)
			(void)sockopt_set(fd, IPPROTO_TCP, TCP_KEEPIDLE, cfg->tcp_keepidle,
					  "tcp_keepidle");
		if (cfg->tcp_keepintvl)
			(void)sockopt_set(fd, IPPROTO_TCP, TCP_KEEPINTVL, cfg->tcp_keepintvl,
					  "tcp_keepintvl");
		if (cfg->tcp_keepcnt)
			(void)sockopt_set(fd, IPPROTO_TCP, TCP_KEEPCNT, cfg->tcp_keepcnt,
					  "tcp_keepcnt");
	}
	if (cfg->tcp_user_timeout)
		(void)sockopt_set(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, cfg->tcp_user_timeout,
				  "tcp_user_timeout");
	if (cfg->tcp_socket_buffer) {
		(void)sockopt_set(fd, SOL_SOCKET, SO_SNDBUF, cfg->tcp_socket_buffer,
				  "tcp_socket_buffer");
		(void)sockopt_set(fd, SOL_SOCKET, SO_RCVBUF, cfg->tcp_socket_buffer,
				  "tcp_socket_buffer");
	}
}

int sockopt_apply_listener(uv_tcp_t *h, const Config *cfg)
{
	uv_os_fd_t fd;
	int r = uv_fileno((const uv_handle_t *)h, &fd);
	if (r != 0)
		return r;
	if (cfg->so_reuseport) {
		r = sockopt_set(fd, SOL_SOCKET, SO_REUSEPORT, 1, "so_reuseport");
		if (r != 0)
			return r;
	}
	if (cfg->tcp_defer_accept)
		(void)sockopt_set(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, DEFER_ACCEPT_SECONDS,
				  "tcp_defer_accept");
	return 0;
}
