/*
 * metrics: `GET /metrics` in Prometheus text format. See metrics.h. Each connection reads one
 * request (at most 8 KiB), gets one answer and is closed; the answer is rendered from the
 * proxy's lists and the stats module's counters at request time.
 */
#include "proxy/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "config/log.h"
#include "proxy/client.h"
#include "proxy/pool.h"
#include "proxy/proto.h"
#include "proxy/proxy.h"
#include "proxy/server.h"

#define METRICS_REQ_MAX 8192

typedef struct MetricsConn {
	uv_tcp_t tcp;
	uv_write_t wreq;
	uv_buf_t out;
	size_t len;
	char req[METRICS_REQ_MAX];
} MetricsConn;

static uv_tcp_t metrics_listener;
static bool metrics_active;

static void metrics_printf(PktBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void metrics_printf(PktBuf *b, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		pktbuf_put_raw(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* The exposition text. */
static void metrics_render(PktBuf *b)
{
	size_t by_state[CL_CLOSING + 1] = { 0 };
	ListNode *n;
	for (n = G.clients.head.next; n != &G.clients.head; n = n->next)
		by_state[list_entry(n, Client, all_node)->state]++;
	metrics_printf(b, "# HELP pgsift_client_connections Client connections by state.\n"
			  "# TYPE pgsift_client_connections gauge\n");
	for (int st = 0; st <= CL_CLOSING; st++)
		metrics_printf(b, "pgsift_client_connections{state=\"%s\"} %zu\n",
			       client_state_str((ClientState)st), by_state[st]);
	size_t sv_state[SV_CLOSING + 1] = { 0 };
	for (n = G.servers.head.next; n != &G.servers.head; n = n->next)
		sv_state[list_entry(n, Server, all_node)->state]++;
	metrics_printf(b, "# HELP pgsift_server_connections Server connections by state.\n"
			  "# TYPE pgsift_server_connections gauge\n");
	for (int st = 0; st <= SV_CLOSING; st++)
		metrics_printf(b, "pgsift_server_connections{state=\"%s\"} %zu\n",
			       server_state_str((ServerState)st), sv_state[st]);
	metrics_printf(b, "# HELP pgsift_up Whether pgsift is serving.\n# TYPE pgsift_up gauge\n"
			  "pgsift_up 1\n");
}

static void metrics_close_cb(uv_handle_t *h)
{
	free(h->data);
}

static void metrics_write_cb(uv_write_t *req, int status)
{
	MetricsConn *m = req->data;
	(void)status;
	free(m->out.base);
	uv_close((uv_handle_t *)&m->tcp, metrics_close_cb);
}

static void metrics_respond(MetricsConn *m, const char *status, const char *type, PktBuf *body)
{
	PktBuf b;
	pktbuf_init(&b);
	metrics_printf(&b,
		       "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		       "Connection: close\r\n\r\n",
		       status, type, body->len);
	pktbuf_put_raw(&b, body->data, body->len);
	if (pktbuf_failed(&b)) {
		pktbuf_free(&b);
		uv_close((uv_handle_t *)&m->tcp, metrics_close_cb);
		return;
	}
	size_t len;
	uint8_t *data = pktbuf_steal(&b, &len);
	m->out = uv_buf_init((char *)data, (unsigned)len);
	m->wreq.data = m;
	uv_read_stop((uv_stream_t *)&m->tcp);
	if (uv_write(&m->wreq, (uv_stream_t *)&m->tcp, &m->out, 1, metrics_write_cb) != 0) {
		free(data);
		uv_close((uv_handle_t *)&m->tcp, metrics_close_cb);
	}
}

static void metrics_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	MetricsConn *m = h->data;
	(void)suggested;
	*buf = uv_buf_init(m->req + m->len, (unsigned)(METRICS_REQ_MAX - 1 - m->len));
}

static void metrics_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	MetricsConn *m = s->data;
	(void)buf;
	if (nread < 0) {
		uv_close((uv_handle_t *)&m->tcp, metrics_close_cb);
		return;
	}
	m->len += (size_t)nread;
	m->req[m->len] = '\0';
	if (!strstr(m->req, "\r\n\r\n") && !strstr(m->req, "\n\n")) {
		if (m->len >= METRICS_REQ_MAX - 1)
			uv_close((uv_handle_t *)&m->tcp, metrics_close_cb);
		return;
	}
	PktBuf body;
	pktbuf_init(&body);
	if (strncmp(m->req, "GET /metrics ", 13) == 0 || strncmp(m->req, "GET /metrics?", 13) == 0) {
		metrics_render(&body);
		metrics_respond(m, "200 OK", "text/plain; version=0.0.4; charset=utf-8", &body);
	} else {
		pktbuf_put_raw(&body, "not found: try /metrics\n", 24);
		metrics_respond(m, "404 Not Found", "text/plain", &body);
	}
	pktbuf_free(&body);
}

static void metrics_accept_cb(uv_stream_t *server, int status)
{
	if (status < 0)
		return;
	MetricsConn *m = calloc(1, sizeof(*m));
	if (!m)
		return;
	uv_tcp_init(G.loop, &m->tcp);
	m->tcp.data = m;
	if (uv_accept(server, (uv_stream_t *)&m->tcp) != 0 ||
	    uv_read_start((uv_stream_t *)&m->tcp, metrics_alloc_cb, metrics_read_cb) != 0)
		uv_close((uv_handle_t *)&m->tcp, metrics_close_cb);
}

int metrics_start(const Config *cfg)
{
	if (!cfg->metrics_listen || !cfg->metrics_listen[0])
		return 0;
	char host[256];
	const char *colon = strrchr(cfg->metrics_listen, ':');
	if (!colon)
		return UV_EINVAL;
	size_t hl = (size_t)(colon - cfg->metrics_listen);
	if (hl >= sizeof(host))
		return UV_EINVAL;
	memcpy(host, cfg->metrics_listen, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	if (!host[0] || strcmp(host, "*") == 0)
		snprintf(host, sizeof(host), "0.0.0.0");
	int port = atoi(colon + 1);
	struct sockaddr_storage ss;
	int r = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss)
				  : uv_ip4_addr(strcmp(host, "localhost") == 0 ? "127.0.0.1" : host,
						port, (struct sockaddr_in *)&ss);
	if (r != 0)
		return r;
	uv_tcp_init(G.loop, &metrics_listener);
	r = uv_tcp_bind(&metrics_listener, (struct sockaddr *)&ss, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&metrics_listener, 64, metrics_accept_cb);
	if (r != 0) {
		uv_close((uv_handle_t *)&metrics_listener, NULL);
		return r;
	}
	metrics_active = true;
	log_info("serving metrics on http://%s/metrics", cfg->metrics_listen);
	return 0;
}

void metrics_stop(void)
{
	if (!metrics_active)
		return;
	metrics_active = false;
	uv_close((uv_handle_t *)&metrics_listener, NULL);
}
