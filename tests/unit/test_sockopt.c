/*
 * test_sockopt: proxy/sockopt.c on real sockets: what setsockopt leaves on a TCP socket is read
 * back with getsockopt, for the tcp_* settings of a Config loaded with defaults and then
 * changed, and for a listener (SO_REUSEPORT, TCP_DEFER_ACCEPT).
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "config/config.h"
#include "proxy/sockopt.h"

static int get_opt(uv_tcp_t *h, int level, int name)
{
	uv_os_fd_t fd;
	assert_int_equal(uv_fileno((const uv_handle_t *)h, &fd), 0);
	int v = -1;
	socklen_t len = sizeof(v);
	assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
	return v;
}

static void close_all(uv_loop_t *loop, uv_tcp_t *h)
{
	uv_close((uv_handle_t *)h, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0);
}

/* A TCP socket as libuv creates it; the options are the same on a connected one. */
static void test_sockopt_keepalive_and_timeouts(void **state)
{
	(void)state;
	char err[256];
	Config *cfg = config_load(NULL, err, sizeof(err));
	assert_non_null(cfg);
	uv_loop_t loop;
	uv_tcp_t h;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(uv_tcp_init_ex(&loop, &h, AF_INET), 0);

	/* PgBouncer's defaults: keepalive on, the kernel's idle/interval/count untouched. */
	int idle0 = get_opt(&h, IPPROTO_TCP, TCP_KEEPIDLE);
	int intvl0 = get_opt(&h, IPPROTO_TCP, TCP_KEEPINTVL);
	int cnt0 = get_opt(&h, IPPROTO_TCP, TCP_KEEPCNT);
	sockopt_apply_tcp(&h, cfg);
	assert_int_equal(get_opt(&h, SOL_SOCKET, SO_KEEPALIVE), 1);
	assert_int_equal(get_opt(&h, IPPROTO_TCP, TCP_KEEPIDLE), idle0);
	assert_int_equal(get_opt(&h, IPPROTO_TCP, TCP_KEEPINTVL), intvl0);
	assert_int_equal(get_opt(&h, IPPROTO_TCP, TCP_KEEPCNT), cnt0);
	assert_int_equal(get_opt(&h, IPPROTO_TCP, TCP_USER_TIMEOUT), 0);

	cfg->tcp_keepidle = 30;
	cfg->tcp_keepintvl = 7;
	cfg->tcp_keepcnt = 4;
	cfg->tcp_user_timeout = 2500;
	cfg->tcp_socket_buffer = 65536;
	sockopt_apply_tcp(&h, cfg);
	assert_int_equal(get_opt(&h, SOL_SOCKET, SO_KEEPALIVE), 1);
	assert_int_equal(get_opt(&h, IPPROTO_TCP, TCP_KEEPIDLE), 30);
	assert_int_equal(get_opt(&h, IPPROTO_TCP, TCP_KEEPINTVL), 7);
	assert_int_equal(get_opt(&h, IPPROTO_TCP, TCP_KEEPCNT), 4);
	assert_int_equal(get_opt(&h, IPPROTO_TCP, TCP_USER_TIMEOUT), 2500);
	/* Linux reports twice what was asked (its bookkeeping overhead) */
	assert_true(get_opt(&h, SOL_SOCKET, SO_SNDBUF) >= 65536);
	assert_true(get_opt(&h, SOL_SOCKET, SO_RCVBUF) >= 65536);

	cfg->tcp_keepalive = false;
	sockopt_apply_tcp(&h, cfg);
	assert_int_equal(get_opt(&h, SOL_SOCKET, SO_KEEPALIVE), 0);

	close_all(&loop, &h);
	config_free(cfg);
}

static void test_sockopt_listener(void **state)
{
	(void)state;
	char err[256];
	Config *cfg = config_load(NULL, err, sizeof(err));
	assert_non_null(cfg);
	uv_loop_t loop;
	uv_tcp_t h;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(uv_tcp_init_ex(&loop, &h, AF_INET), 0);
	assert_int_equal(sockopt_apply_listener(&h, cfg), 0);
	assert_int_equal(get_opt(&h, SOL_SOCKET, SO_REUSEPORT), 0);
	/* on by default, as PgBouncer on Linux; the kernel rounds 45 s to its retransmits */
	assert_true(get_opt(&h, IPPROTO_TCP, TCP_DEFER_ACCEPT) > 0);
	close_all(&loop, &h);

	cfg->so_reuseport = true;
	cfg->tcp_defer_accept = 0;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(uv_tcp_init_ex(&loop, &h, AF_INET), 0);
	assert_int_equal(sockopt_apply_listener(&h, cfg), 0);
	assert_int_equal(get_opt(&h, SOL_SOCKET, SO_REUSEPORT), 1);
	assert_int_equal(get_opt(&h, IPPROTO_TCP, TCP_DEFER_ACCEPT), 0);
	close_all(&loop, &h);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sockopt_keepalive_and_timeouts),
		cmocka_unit_test(test_sockopt_listener),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
