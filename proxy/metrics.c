/*
 * metrics: `GET /metrics` in Prometheus text format. See metrics.h. Each connection reads one
 * request (at most 8 KiB), gets one answer and is closed; the answer is rendered from the
 * proxy's lists and the stats module's counters at request time, on the event loop: the stats
 * module copies its counters under a lock its worker holds only for one digest update, so a
 * scrape never waits on parsing or file I/O.
 */
#include "proxy/metrics.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "config/log.h"
#include "proxy/client.h"
#include "proxy/dashboard.h"
#include "proxy/http.h"
#include "proxy/pool.h"
#include "proxy/proto.h"
#include "proxy/proxy.h"
#include "proxy/takeover.h"
#include "proxy/server.h"
#include "stats/stats.h"

#define METRICS_REQ_MAX 8192	     /* a request head; more is 431 */
#define METRICS_HEAD_TIMEOUT_MS 5000 /* from accept to the end of the head; then 408 */
#define METRICS_DRAIN_MS 2000	     /* after the answer, for the client to close */
#define METRICS_CONN_MAX 64	     /* open connections; more get 503 at once */
/* The page may load nothing from elsewhere: pgsift runs where there is no internet, and an
 * injected script could not send the statistics anywhere either. */
#define METRICS_HTML_HEADERS                                                              \
	"Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "       \
	"style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; " \
	"form-action 'none'; frame-ancestors 'none'\r\n"                                  \
	"Referrer-Policy: no-referrer\r\n"

typedef struct MetricsConn {
	uv_tcp_t tcp;
	uv_timer_t timer; /* the head's deadline, then the drain's */
	uv_write_t wreq;
	uv_shutdown_t shut;
	uv_buf_t out[2]; /* the answer being written: head, body (both owned) */
	int open_handles;
	bool closing;
	bool answered;
	bool head;     /* HEAD: no body */
	DashJob *job;  /* the dashboard's job answering this connection, or NULL */
	ListNode node; /* in metrics_conns */
	size_t len;
	char req[METRICS_REQ_MAX];
} MetricsConn;

static uv_tcp_t metrics_listener;
static bool metrics_listening; /* metrics_listener is open (a takeover closes it early) */
static char metrics_name[300]; /* "metrics:" and metrics_listen, its name for a takeover */
static bool metrics_active;
static bool metrics_loopback;
static List metrics_conns; /* MetricsConn.node: every open connection */

static void metrics_respond(MetricsConn *m, int status, const char *type, const char *extra,
			    PktBuf *body);

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

/*
 * A label value escaped as the exposition format wants it (backslash, double quote and line
 * feed), cut to fit out.
 */
static const char *metrics_label(char *out, size_t outlen, const char *s)
{
	size_t n = 0;
	for (; s && *s && n + 3 < outlen; s++) {
		if (*s == '\\' || *s == '"') {
			out[n++] = '\\';
			out[n++] = *s;
		} else if (*s == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else {
			out[n++] = *s;
		}
	}
	out[n] = '\0';
	return out;
}

static void metrics_head(PktBuf *b, const char *name, const char *type, const char *help)
{
	metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics_value(PktBuf *b, const char *name, uint64_t v)
{
	metrics_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void metrics_connections(PktBuf *b)
{
	size_t by_state[CL_CLOSING + 1] = {0};
	ListNode *n;
	for (n = G.clients.head.next; n != &G.clients.head; n = n->next)
		by_state[list_entry(n, Client, all_node)->state]++;
	metrics_head(b, "pgsift_client_connections", "gauge", "Client connections by state.");
	for (int st = 0; st <= CL_CLOSING; st++)
		metrics_printf(b, "pgsift_client_connections{state=\"%s\"} %zu\n",
			       client_state_str((ClientState)st), by_state[st]);
	size_t sv_state[SV_CLOSING + 1] = {0};
	for (n = G.servers.head.next; n != &G.servers.head; n = n->next)
		sv_state[list_entry(n, Server, all_node)->state]++;
	metrics_head(b, "pgsift_server_connections", "gauge", "Server connections by state.");
	for (int st = 0; st <= SV_CLOSING; st++)
		metrics_printf(b, "pgsift_server_connections{state=\"%s\"} %zu\n",
			       server_state_str((ServerState)st), sv_state[st]);
}

/* One gauge or counter family with a value per pool, labelled database and user. */
typedef enum {
	PM_SIZE,
	PM_CL_ACTIVE,
	PM_CL_WAITING,
	PM_SV_ACTIVE,
	PM_SV_IDLE,
	PM_SV_USED,
	PM_SV_LOGIN,
	PM_MAXWAIT,
	PM_WAIT_TOTAL,
} PoolMetric;

static void metrics_pool_value(PktBuf *b, const char *name, const Pool *p, PoolMetric m,
			       uint64_t now_ms)
{
	char db[256], user[256];
	metrics_label(db, sizeof(db), p->dbname);
	metrics_label(user, sizeof(user), p->user);
	double v = 0;
	switch (m) {
	case PM_SIZE:
		v = p->size;
		break;
	case PM_CL_ACTIVE:
		v = (double)p->active_clients.count;
		break;
	case PM_CL_WAITING:
		v = (double)(p->waiting_clients.count + p->login_clients.count);
		break;
	case PM_SV_ACTIVE:
		v = (double)p->active_servers.count;
		break;
	case PM_SV_IDLE:
		v = (double)p->idle_servers.count;
		break;
	case PM_SV_USED:
		v = (double)p->used_servers.count;
		break;
	case PM_SV_LOGIN:
		v = (double)p->login_servers.count;
		break;
	case PM_MAXWAIT: {
		ListNode *w = list_first(&p->waiting_clients);
		if (w) {
			const Client *c = list_entry(w, Client, pool_node);
			if (c->wait_start_ms && now_ms > c->wait_start_ms)
				v = (double)(now_ms - c->wait_start_ms) / 1000.0;
		}
		break;
	}
	case PM_WAIT_TOTAL:
		v = (double)p->stats.wait_time_us / 1e6;
		break;
	}
	metrics_printf(b, "%s{database=\"%s\",user=\"%s\"} %.17g\n", name, db, user, v);
}

static void metrics_pools(PktBuf *b)
{
	static const struct {
		const char *name;
		const char *type;
		const char *help;
		PoolMetric m;
	} fams[] = {
		{"pgsift_pool_size", "gauge", "Configured server connections per pool.", PM_SIZE},
		{"pgsift_pool_clients_active", "gauge",
		 "Logged-in client connections of the pool (linked to a server or not).",
		 PM_CL_ACTIVE},
		{"pgsift_pool_clients_waiting", "gauge",
		 "Client connections waiting for a server connection of the pool.", PM_CL_WAITING},
		{"pgsift_pool_servers_active", "gauge", "Server connections linked to a client.",
		 PM_SV_ACTIVE},
		{"pgsift_pool_servers_idle", "gauge", "Server connections ready for a client.",
		 PM_SV_IDLE},
		{"pgsift_pool_servers_used", "gauge",
		 "Server connections being reset before they go idle.", PM_SV_USED},
		{"pgsift_pool_servers_login", "gauge",
		 "Server connections connecting or logging in.", PM_SV_LOGIN},
		{"pgsift_pool_maxwait_seconds", "gauge",
		 "How long the oldest waiting client of the pool has waited.", PM_MAXWAIT},
		{"pgsift_pool_wait_seconds_total", "counter",
		 "Time clients spent waiting for a server connection of the pool.", PM_WAIT_TOTAL},
	};
	uint64_t now = proxy_now_ms();
	for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		metrics_head(b, fams[i].name, fams[i].type, fams[i].help);
		for (ListNode *n = G.pools.head.next; n != &G.pools.head; n = n->next)
			metrics_pool_value(b, fams[i].name, list_entry(n, Pool, node), fams[i].m,
					   now);
	}
}

/* One counter family with a sample per database: the uint64_t at field of StatsDbCounters. */
static void metrics_db_counter(PktBuf *b, const StatsCounters *sc, const char *name,
			       const char *help, size_t field)
{
	char db[256];
	metrics_head(b, name, "counter", help);
	for (size_t i = 0; i < sc->n_dbs; i++) {
		uint64_t v;
		memcpy(&v, (const char *)&sc->dbs[i] + field, sizeof(v));
		metrics_printf(b, "%s{database=\"%s\"} %llu\n", name,
			       metrics_label(db, sizeof(db), sc->dbs[i].database),
			       (unsigned long long)v);
	}
}

/* What the statistics worker counted: per database, the duration histogram, slow queries,
 * dropped events, the parser cache. */
static void metrics_stats(PktBuf *b)
{
	StatsCounters sc;
	if (stats_counters(&sc) != 0)
		return;
	char db[256];
	metrics_db_counter(b, &sc, "pgsift_queries_total",
			   "Statements completed, by the client's database.",
			   offsetof(StatsDbCounters, queries));
	metrics_db_counter(b, &sc, "pgsift_query_errors_total",
			   "Statements that ended with an ErrorResponse, by database.",
			   offsetof(StatsDbCounters, errors));
	metrics_db_counter(b, &sc, "pgsift_query_timeouts_total",
			   "Statements cancelled by query_timeout, by database.",
			   offsetof(StatsDbCounters, timeouts));
	metrics_head(b, "pgsift_query_time_seconds_total", "counter",
		     "Time statements took on the server, by database.");
	for (size_t i = 0; i < sc.n_dbs; i++)
		metrics_printf(b, "pgsift_query_time_seconds_total{database=\"%s\"} %.9g\n",
			       metrics_label(db, sizeof(db), sc.dbs[i].database),
			       sc.dbs[i].total_ms / 1000.0);

	metrics_head(
		b, "pgsift_query_duration_seconds", "histogram",
		"Statement duration, from the moment it went to the server to its completion.");
	for (int i = 0; i < STATS_LATENCY_BUCKETS; i++)
		metrics_printf(b, "pgsift_query_duration_seconds_bucket{le=\"%g\"} %llu\n",
			       stats_latency_bounds_s[i], (unsigned long long)sc.latency_cum[i]);
	metrics_printf(b, "pgsift_query_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
		       (unsigned long long)sc.latency_cum[STATS_LATENCY_BUCKETS]);
	metrics_printf(b, "pgsift_query_duration_seconds_sum %.9g\n", sc.latency_sum_s);
	metrics_printf(b, "pgsift_query_duration_seconds_count %llu\n",
		       (unsigned long long)sc.latency_cum[STATS_LATENCY_BUCKETS]);

	const struct {
		const char *name;
		const char *type;
		const char *help;
		uint64_t v;
	} one[] = {
		{"pgsift_query_cancelled_total", "counter",
		 "Statements cancelled by the client or its statement_timeout (57014).",
		 sc.cancelled},
		{"pgsift_slow_queries_total", "counter", "Statements at or over slow_query_ms.",
		 sc.slow_queries},
		{"pgsift_slow_log_written_total", "counter",
		 "Slow statements written to slow_query_log.", sc.slow_logged},
		{"pgsift_slow_log_dropped_total", "counter",
		 "Slow statements not written: over slow_query_log_max_per_sec, or a write error.",
		 sc.slow_dropped},
		{"pgsift_stats_events_submitted_total", "counter",
		 "Statement events queued for the statistics worker.", sc.events_submitted},
		{"pgsift_stats_events_dropped_total", "counter",
		 "Statement events dropped because the statistics queue was full.",
		 sc.events_dropped},
		{"pgsift_stats_events_processed_total", "counter",
		 "Statement events the statistics worker has processed.", sc.events_processed},
		{"pgsift_parser_cache_hits_total", "counter",
		 "Statement texts found in the parser cache.", sc.parser_hits},
		{"pgsift_parser_cache_misses_total", "counter",
		 "Statement texts that had to be parsed.", sc.parser_misses},
		{"pgsift_parser_cache_evictions_total", "counter",
		 "Parser cache entries evicted to stay under parser_cache_size.",
		 sc.parser_evictions},
		{"pgsift_parser_cache_entries", "gauge", "Entries in the parser cache.",
		 sc.parser_entries},
		{"pgsift_parser_cache_bytes", "gauge", "Memory held by the parser cache.",
		 sc.parser_bytes},
		{"pgsift_fingerprints", "gauge",
		 "Per-query digests in memory (the folded \"other\" row excluded).",
		 sc.fingerprints},
		{"pgsift_fingerprints_folded_total", "counter",
		 "Digests folded into the \"other\" row to stay under max_fingerprints.",
		 sc.folded},
		{"pgsift_stats_flushes_total", "counter", "Successful writes of stats_file.",
		 sc.flushes},
		{"pgsift_stats_flush_errors_total", "counter", "Failed writes of stats_file.",
		 sc.flush_errors},
		{"pgsift_stats_store_rows_written_total", "counter",
		 "Statement-hour rows written to the fleet statistics store (stats_dsn).",
		 sc.store_rows_written},
		{"pgsift_stats_store_rows_dropped_total", "counter",
		 "Statement-hour rows not kept for the fleet store: stats_dsn_backlog was full.",
		 sc.store_rows_dropped},
		{"pgsift_stats_store_calls_dropped_total", "counter",
		 "Calls the fleet store will not see: held by dropped rows, or late for their "
		 "hour.",
		 sc.store_calls_dropped},
		{"pgsift_stats_store_write_errors_total", "counter",
		 "Writes to the fleet store that failed (retried at the next flush).",
		 sc.store_write_errors},
		{"pgsift_stats_store_backlog_rows", "gauge",
		 "Statement-hour rows waiting to be written to the fleet store.", sc.store_backlog},
		{"pgsift_stats_store_up", "gauge",
		 "Whether the last write to the fleet store succeeded (0 when stats_dsn is off).",
		 sc.store_up},
	};
	for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
		metrics_head(b, one[i].name, one[i].type, one[i].help);
		metrics_value(b, one[i].name, one[i].v);
	}
	stats_counters_free(&sc);
}

/* The exposition text. */
static void metrics_render(PktBuf *b)
{
	metrics_head(b, "pgsift_up", "gauge", "Whether pgsift is serving.");
	metrics_value(b, "pgsift_up", 1);
	metrics_head(b, "pgsift_paused", "gauge", "Whether PAUSE (every database) is in effect.");
	metrics_value(b, "pgsift_paused", G.paused ? 1 : 0);
	metrics_head(b, "pgsift_uptime_seconds", "gauge", "Seconds since pgsift started.");
	metrics_value(b, "pgsift_uptime_seconds", (proxy_now_ms() - G.started_ms) / 1000);
	metrics_connections(b);
	metrics_pools(b);
	metrics_stats(b);
}

static void metrics_free_out(MetricsConn *m)
{
	for (int i = 0; i < 2; i++) {
		free(m->out[i].base);
		m->out[i].base = NULL;
	}
}

/* A connection is freed when both its handles are closed. */
static void metrics_close_cb(uv_handle_t *h)
{
	MetricsConn *m = h->data;
	if (--m->open_handles == 0) {
		list_remove(&metrics_conns, &m->node);
		metrics_free_out(m);
		free(m);
	}
}

static void metrics_close(MetricsConn *m)
{
	if (m->closing)
		return;
	m->closing = true;
	if (m->job) {
		dashboard_forget(m->job);
		m->job = NULL;
	}
	uv_close((uv_handle_t *)&m->timer, metrics_close_cb);
	uv_close((uv_handle_t *)&m->tcp, metrics_close_cb);
}

/* The deadline of the request head (slowloris), or of the drain after an answer. */
static void metrics_timer_cb(uv_timer_t *t)
{
	MetricsConn *m = t->data;
	if (m->answered) {
		metrics_close(m);
		return;
	}
	PktBuf body;
	pktbuf_init(&body);
	static const char msg[] = "the request head did not arrive in time\n";
	pktbuf_put_raw(&body, msg, sizeof(msg) - 1);
	metrics_respond(m, 408, "text/plain; charset=utf-8", NULL, &body);
	pktbuf_free(&body);
}

/* After the answer: the write side is shut and what the client still sends is read and
 * dropped until it closes (or METRICS_DRAIN_MS), so that closing with unread bytes never turns
 * into a reset that would lose the answer (a 431 or 405 to a client still sending). */
static void metrics_shutdown_cb(uv_shutdown_t *req, int status)
{
	MetricsConn *m = req->data;
	(void)status;
	if (m->closing)
		return;
	uv_timer_start(&m->timer, metrics_timer_cb, METRICS_DRAIN_MS, 0);
}

static void metrics_write_cb(uv_write_t *req, int status)
{
	MetricsConn *m = req->data;
	metrics_free_out(m);
	if (m->closing)
		return;
	m->shut.data = m;
	if (status != 0 || uv_shutdown(&m->shut, (uv_stream_t *)&m->tcp, metrics_shutdown_cb) != 0)
		metrics_close(m);
}

/*
 * Writes the answer (status line, headers, then body[0, len) unless HEAD) and starts the
 * drain. Takes body (malloc'ed, may be NULL when len is 0): it is written from where it is, so a
 * large dashboard answer is never copied on the loop. extra: more header lines, each ending in
 * CRLF, or NULL.
 */
static void metrics_respond_owned(MetricsConn *m, int status, const char *type, const char *extra,
				  char *body, size_t len)
{
	if (m->answered || m->closing) {
		free(body);
		return;
	}
	m->answered = true;
	uv_timer_stop(&m->timer);
	PktBuf b;
	pktbuf_init(&b);
	metrics_printf(&b,
		       "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		       "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
		       "%s%sConnection: close\r\n\r\n",
		       status, http_status_text(status), type, len,
		       strncmp(type, "text/html", 9) == 0 ? METRICS_HTML_HEADERS : "",
		       extra ? extra : "");
	if (pktbuf_failed(&b)) {
		pktbuf_free(&b);
		free(body);
		metrics_close(m);
		return;
	}
	size_t hlen;
	uint8_t *head = pktbuf_steal(&b, &hlen);
	m->out[0] = uv_buf_init((char *)head, (unsigned)hlen);
	m->out[1] = uv_buf_init(body, m->head || !body ? 0 : (unsigned)len);
	m->wreq.data = m;
	if (uv_write(&m->wreq, (uv_stream_t *)&m->tcp, m->out, 2, metrics_write_cb) != 0) {
		metrics_free_out(m);
		metrics_close(m);
	}
}

/* As metrics_respond_owned, from a PktBuf (copied: the small answers). */
static void metrics_respond(MetricsConn *m, int status, const char *type, const char *extra,
			    PktBuf *body)
{
	char *copy = body->len ? malloc(body->len) : NULL;
	if (body->len && (!copy || pktbuf_failed(body))) {
		free(copy);
		metrics_close(m);
		return;
	}
	if (copy)
		memcpy(copy, body->data, body->len);
	metrics_respond_owned(m, status, type, extra, copy, body->len);
}

static void metrics_respond_text(MetricsConn *m, int status, const char *text)
{
	PktBuf body;
	pktbuf_init(&body);
	pktbuf_put_raw(&body, text, strlen(text));
	metrics_respond(m, status, "text/plain; charset=utf-8",
			status == 405 ? "Allow: GET, HEAD\r\n" : NULL, &body);
	pktbuf_free(&body);
}

/* The dashboard's answer, on the loop (dashboard.h). */
static void metrics_dashboard_done(void *arg, DashReply *r)
{
	MetricsConn *m = arg;
	m->job = NULL;
	char *body = r->body;
	r->body = NULL; /* ours now */
	metrics_respond_owned(m, r->status, r->type, r->headers, body, r->len);
}

static void metrics_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	MetricsConn *m = h->data;
	(void)suggested;
	if (m->answered) /* draining: anything goes into the same scratch space */
		*buf = uv_buf_init(m->req, METRICS_REQ_MAX - 1);
	else
		*buf = uv_buf_init(m->req + m->len, (unsigned)(METRICS_REQ_MAX - 1 - m->len));
}

/* A request head, once whole: /metrics here, the dashboard's paths in dashboard.c. */
static void metrics_serve(MetricsConn *m, const HttpRequest *req)
{
	m->head = req->head;
	if (strcmp(req->path, "/metrics") == 0) {
		PktBuf body;
		pktbuf_init(&body);
		metrics_render(&body);
		metrics_respond(m, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, &body);
		pktbuf_free(&body);
		return;
	}
	if (!dashboard_is_path(req->path)) {
		metrics_respond_text(m, 404, "not found: try /metrics or / (the dashboard)\n");
		return;
	}
	DashReply now;
	uv_timer_stop(&m->timer); /* the job may take a while: the head deadline is over */
	m->job = dashboard_start(req, metrics_loopback, metrics_dashboard_done, m, &now);
	if (!m->job) {
		metrics_respond_owned(m, now.status, now.type, now.headers, now.body, now.len);
	}
}

static void metrics_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	MetricsConn *m = s->data;
	(void)buf;
	if (m->closing)
		return;
	if (nread < 0) {
		/* EOF or an error: while a job runs, its answer is dropped with the connection */
		metrics_close(m);
		return;
	}
	if (m->answered || m->job || nread == 0)
		return; /* draining, or a request is being served: later bytes are not read */
	m->len += (size_t)nread;
	m->req[m->len] = '\0';
	HttpRequest req;
	switch (http_parse(m->req, m->len, METRICS_REQ_MAX - 1, &req)) {
	case HTTP_INCOMPLETE:
		return;
	case HTTP_BAD: {
		char msg[160];
		snprintf(msg, sizeof(msg), "%s\n", req.reason);
		metrics_respond_text(m, req.status, msg);
		return;
	}
	case HTTP_OK:
		metrics_serve(m, &req);
		return;
	}
}

static void metrics_accept_cb(uv_stream_t *server, int status)
{
	if (status < 0)
		return;
	MetricsConn *m = calloc(1, sizeof(*m));
	if (!m)
		return;
	uv_tcp_init(G.loop, &m->tcp);
	uv_timer_init(G.loop, &m->timer);
	m->tcp.data = m;
	m->timer.data = m;
	m->open_handles = 2;
	list_append(&metrics_conns, &m->node);
	if (uv_accept(server, (uv_stream_t *)&m->tcp) != 0) {
		metrics_close(m);
		return;
	}
	if (metrics_conns.count > METRICS_CONN_MAX) {
		/* one answer and no reading: a flood of idle connections costs nobody else */
		metrics_respond_text(m, 503, "too many connections to the metrics port\n");
		return;
	}
	if (uv_read_start((uv_stream_t *)&m->tcp, metrics_alloc_cb, metrics_read_cb) != 0) {
		metrics_close(m);
		return;
	}
	uv_timer_start(&m->timer, metrics_timer_cb, METRICS_HEAD_TIMEOUT_MS, 0);
}

/* Whether the listener's address is a loopback one (127.0.0.0/8, ::1). */
static bool metrics_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
	}
	return false;
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
	int r = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) :
				    uv_ip4_addr(strcmp(host, "localhost") == 0 ? "127.0.0.1" : host,
						port, (struct sockaddr_in *)&ss);
	if (r != 0)
		return r;
	list_init(&metrics_conns);
	uv_tcp_init(G.loop, &metrics_listener);
	snprintf(metrics_name, sizeof(metrics_name), "metrics:%s", cfg->metrics_listen);
	int fd = takeover_claim(metrics_name);
	r = fd >= 0 ? uv_tcp_open(&metrics_listener, fd) :
		      uv_tcp_bind(&metrics_listener, (struct sockaddr *)&ss, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&metrics_listener, 64, metrics_accept_cb);
	if (r != 0) {
		uv_close((uv_handle_t *)&metrics_listener, NULL);
		return r;
	}
	metrics_active = metrics_listening = true;
	metrics_loopback = metrics_is_loopback(&ss);
	log_info("serving metrics on http://%s/metrics and the dashboard on http://%s/%s",
		 cfg->metrics_listen, cfg->metrics_listen,
		 metrics_loopback || (cfg->dashboard_users && cfg->dashboard_users[0]) ?
			 "" :
			 " (off: a non-loopback address needs dashboard_users)");
	return 0;
}

bool metrics_listener_fd(int *fd, const char **name)
{
	if (!metrics_active || uv_fileno((uv_handle_t *)&metrics_listener, fd) != 0)
		return false;
	*name = metrics_name;
	return true;
}

void metrics_stop_listening(void)
{
	if (!metrics_listening)
		return;
	metrics_listening = false;
	uv_close((uv_handle_t *)&metrics_listener, NULL);
}

void metrics_stop(void)
{
	if (!metrics_active)
		return;
	metrics_active = false;
	metrics_stop_listening();
	dashboard_stop();
	ListNode *n, *tmp;
	list_for_each_safe(n, tmp, &metrics_conns)
	{
		MetricsConn *m = list_entry(n, MetricsConn, node);
		m->job = NULL; /* forgotten by dashboard_stop */
		metrics_close(m);
	}
}
