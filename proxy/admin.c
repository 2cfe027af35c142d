/*
 * admin: the admin console. See admin.h.
 *
 * The PgBouncer-compatible answers copy PgBouncer 1.18 exactly in column names, order and type
 * OIDs (text 25, int4 23, int8 20, numeric 1700), checked side by side against Debian's
 * pgbouncer by tests/integration/test_admin.py. Like PgBouncer, the console itself shows up as
 * a pseudo database and pool (named `pgsift`) in SHOW POOLS, SHOW STATS and SHOW DATABASES.
 * What pgsift does not have (TLS, DNS cache, cancel-request lists) is rendered as PgBouncer
 * renders an idle instance: 0 or an empty string.
 *
 * RELOAD and SHUTDOWN raise the signals proxy.c already handles (SIGHUP, SIGINT), so the console
 * goes through the same path as an operator's kill(1); the answer is sent first.
 */
#include "proxy/admin.h"

#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config/log.h"
#include "proxy/client.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"
#include "proxy/server.h"
#include "stats/advisor_live.h"
#include "stats/stats.h"

#define PGSIFT_VERSION_STRING "pgsift 0.1.0"
#define ADMIN_DB "pgsift"
#define ADMIN_MAX_WORDS 4
#define ADMIN_WORD_MAX 128
#define ADMIN_MAX_COLS 32
#define ADMIN_VAL_MAX 64

enum {
	OID_BOOL = 16,
	OID_INT8 = 20,
	OID_INT4 = 23,
	OID_TEXT = 25,
	OID_FLOAT8 = 701,
	OID_NUMERIC = 1700
};

typedef struct AdminCol {
	const char *name;
	uint32_t oid;
} AdminCol;

/* One DataRow being built: values point either into buf or at strings that outlive the row. */
typedef struct AdminRow {
	const char *v[ADMIN_MAX_COLS];
	char buf[ADMIN_MAX_COLS][ADMIN_VAL_MAX];
	size_t n;
} AdminRow;

/* The command split into words: words[0] is the verb, upper-cased; the rest as written
 * (double-quoted identifiers unquoted). */
typedef struct AdminCmd {
	char words[ADMIN_MAX_WORDS][ADMIN_WORD_MAX];
	size_t n;
	bool too_many;
	char text[256]; /* the command as written, for error messages */
} AdminCmd;

/* The console's own traffic, for its pseudo database's row in SHOW STATS. */
static uint64_t admin_queries;

static bool admin_is_admin(const Client *c);
static bool admin_command(Client *c, const char *sql, PktBuf *b);
static bool admin_show_suggestions(Client *c, PktBuf *b);

/* ---- public ---- */

bool admin_login(Client *c)
{
	bool stats_only = config_list_has(G.cfg->stats_users, c->user);
	if (!admin_is_admin(c) && !stats_only) {
		client_fail(c, "28000",
			    "not allowed to use the admin console: \"%s\" is not in "
			    "admin_users or stats_users",
			    c->user);
		return false;
	}
	pool_change_client_state(c, CL_ADMIN);
	PktBuf b;
	pktbuf_init(&b);
	pq_write_auth(&b, PQ_AUTH_OK, NULL, 0);
	pq_write_parameter_status(&b, "server_version", "15.0 (" PGSIFT_VERSION_STRING ")");
	pq_write_parameter_status(&b, "client_encoding", "UTF8");
	pq_write_parameter_status(&b, "server_encoding", "UTF8");
	pq_write_parameter_status(&b, "DateStyle", "ISO, MDY");
	pq_write_parameter_status(&b, "integer_datetimes", "on");
	pq_write_parameter_status(&b, "standard_conforming_strings", "on");
	pq_write_parameter_status(&b, "application_name", c->app_name ? c->app_name : "");
	pq_write_backend_key(&b, c->cancel_pid, c->cancel_key);
	pq_write_ready(&b, PQ_TX_IDLE);
	if (!client_send(c, &b))
		return false;
	if (G.cfg->log_connections)
		log_info("client %s:%d login to the admin console as %s%s", c->addr, c->port,
			 c->user, stats_only && !admin_is_admin(c) ? " (stats_users)" : "");
	return true;
}

PktAction admin_frame(Client *c, const PktHdr *hdr, const uint8_t *pkt)
{
	if (hdr->type == PQ_MSG_TERMINATE) {
		client_close(c, "admin client terminated");
		return PA_CLOSED;
	}
	if (hdr->type != PQ_MSG_QUERY) {
		client_fail(c, "08P01",
			    "the admin console supports only the simple query protocol");
		return PA_CLOSED;
	}
	const char *sql;
	PktReader r;
	pkt_reader_init(&r, pkt + 5, hdr->len - 5);
	if (!pkt_get_cstring(&r, &sql, NULL)) {
		client_fail(c, "08P01", "invalid Query message");
		return PA_CLOSED;
	}
	PktBuf b;
	pktbuf_init(&b);
	if (!admin_command(c, sql, &b)) {
		/* SHOW SUGGESTIONS is being computed: this frame comes back at conn_resume */
		pktbuf_free(&b);
		return PA_WAIT;
	}
	admin_queries++;
	pq_write_ready(&b, PQ_TX_IDLE);
	if (pktbuf_failed(&b)) {
		pktbuf_free(&b);
		client_fail(c, "53200", "out of memory building the admin console's answer");
		return PA_CLOSED;
	}
	return client_send(c, &b) ? PA_CONSUMED : PA_CLOSED;
}

/* ---- helpers ---- */

static bool admin_is_admin(const Client *c)
{
	return config_list_has(G.cfg->admin_users, c->user);
}

static void admin_describe(PktBuf *b, const AdminCol *cols, size_t n)
{
	const char *names[ADMIN_MAX_COLS];
	uint32_t oids[ADMIN_MAX_COLS];
	for (size_t i = 0; i < n && i < ADMIN_MAX_COLS; i++) {
		names[i] = cols[i].name;
		oids[i] = cols[i].oid;
	}
	pq_write_row_description(b, names, oids, n);
}

static void row_str(AdminRow *r, const char *s)
{
	r->v[r->n++] = s;
}

static void row_fmt(AdminRow *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void row_fmt(AdminRow *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->buf[r->n], ADMIN_VAL_MAX, fmt, ap);
	va_end(ap);
	r->v[r->n] = r->buf[r->n];
	r->n++;
}

static void row_u64(AdminRow *r, uint64_t v)
{
	row_fmt(r, "%llu", (unsigned long long)v);
}

static void row_ms(AdminRow *r, double v)
{
	row_fmt(r, "%.3f", v);
}

static void row_send(PktBuf *b, AdminRow *r)
{
	pq_write_data_row(b, r->v, r->n);
	r->n = 0;
}

/* Wall-clock microseconds now. */
static int64_t admin_wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A monotonic millisecond stamp as PgBouncer prints times: "2024-01-31 12:00:00 UTC". */
static void row_mono_time(AdminRow *r, uint64_t mono_ms)
{
	if (mono_ms == 0) {
		row_str(r, "");
		return;
	}
	uint64_t now = proxy_now_ms();
	int64_t wall_us = admin_wall_us() - (int64_t)(now > mono_ms ? now - mono_ms : 0) * 1000;
	time_t t = (time_t)(wall_us / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(r->buf[r->n], ADMIN_VAL_MAX, "%Y-%m-%d %H:%M:%S UTC", &tm);
	r->v[r->n] = r->buf[r->n];
	r->n++;
}

/* Wall-clock microseconds as PostgreSQL prints a timestamptz in ISO style, in UTC. */
static void row_iso_time(AdminRow *r, int64_t wall_us)
{
	if (wall_us <= 0) {
		r->v[r->n++] = NULL;
		return;
	}
	time_t t = (time_t)(wall_us / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char date[40];
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	row_fmt(r, "%s.%06lld+00", date, (long long)(wall_us % 1000000));
}

static void admin_notice(PktBuf *b, const char *message, const char *detail)
{
	pktbuf_start(b, PQ_MSG_NOTICE_RESPONSE);
	pktbuf_put_u8(b, 'S');
	pktbuf_put_cstring(b, "NOTICE");
	pktbuf_put_u8(b, 'V');
	pktbuf_put_cstring(b, "NOTICE");
	pktbuf_put_u8(b, 'C');
	pktbuf_put_cstring(b, "00000");
	pktbuf_put_u8(b, 'M');
	pktbuf_put_cstring(b, message);
	if (detail) {
		pktbuf_put_u8(b, 'D');
		pktbuf_put_cstring(b, detail);
	}
	pktbuf_put_u8(b, 0);
	pktbuf_finish(b);
}

static void admin_error(PktBuf *b, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void admin_error(PktBuf *b, const char *sqlstate, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pq_write_error(b, "ERROR", sqlstate, msg, NULL, NULL);
}

/* Splits a command into words. Returns false when it is empty. */
static bool admin_parse(const char *sql, AdminCmd *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	const char *p = sql;
	while (isspace((unsigned char)*p))
		p++;
	size_t tl = strlen(p);
	while (tl > 0 && (isspace((unsigned char)p[tl - 1]) || p[tl - 1] == ';'))
		tl--;
	if (tl >= sizeof(cmd->text))
		tl = sizeof(cmd->text) - 1;
	memcpy(cmd->text, p, tl);
	cmd->text[tl] = '\0';
	const char *s = cmd->text;
	while (*s) {
		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			break;
		if (cmd->n == ADMIN_MAX_WORDS) {
			cmd->too_many = true;
			break;
		}
		char *w = cmd->words[cmd->n++];
		size_t wl = 0;
		if (*s == '"') {
			s++;
			while (*s && !(*s == '"' && s[1] != '"')) {
				if (*s == '"')
					s++;
				if (wl < ADMIN_WORD_MAX - 1)
					w[wl++] = *s;
				s++;
			}
			if (*s == '"')
				s++;
		} else {
			while (*s && !isspace((unsigned char)*s)) {
				if (wl < ADMIN_WORD_MAX - 1)
					w[wl++] = *s;
				s++;
			}
		}
		w[wl] = '\0';
	}
	return cmd->n > 0;
}

static bool word_is(const AdminCmd *cmd, size_t i, const char *kw)
{
	return i < cmd->n && strcasecmp(cmd->words[i], kw) == 0;
}

/*
 * Whether a database name is known: a [databases] entry of that name, a pool for it, or (when
 * with_fallback) any name at all while a `*` entry would serve it.
 */
static bool admin_db_known(const char *name, bool with_fallback)
{
	for (size_t i = 0; i < G.cfg->n_dbs; i++)
		if (strcmp(G.cfg->dbs[i].name, name) == 0 ||
		    (with_fallback && strcmp(G.cfg->dbs[i].name, "*") == 0))
			return true;
	for (ListNode *n = G.pools.head.next; n != &G.pools.head; n = n->next)
		if (strcmp(list_entry(n, Pool, node)->dbname, name) == 0)
			return true;
	return false;
}

static bool is_admin_db(const char *name)
{
	return strcmp(name, "pgsift") == 0 || strcmp(name, "pgbouncer") == 0;
}

/*
 * The database names SHOW DATABASES and SHOW STATS list: every named [databases] entry, then
 * every database a pool was made for through `*`, in that order, without repeats. The array and
 * its strings are borrowed (from the Config and the pools); the caller frees only the array.
 */
static const char **admin_db_names(size_t *count)
{
	size_t cap = G.cfg->n_dbs + G.pools.count + 1, n = 0;
	const char **names = calloc(cap, sizeof(*names));
	if (!names) {
		*count = 0;
		return NULL;
	}
	for (size_t i = 0; i < G.cfg->n_dbs; i++)
		if (strcmp(G.cfg->dbs[i].name, "*") != 0)
			names[n++] = G.cfg->dbs[i].name;
	for (ListNode *ln = G.pools.head.next; ln != &G.pools.head; ln = ln->next) {
		const char *d = list_entry(ln, Pool, node)->dbname;
		bool seen = false;
		for (size_t i = 0; i < n && !seen; i++)
			seen = strcmp(names[i], d) == 0;
		if (!seen && n < cap)
			names[n++] = d;
	}
	*count = n;
	return names;
}

/* ---- SHOW commands ---- */

static void admin_show_version(PktBuf *b)
{
	static const AdminCol cols[] = {{"version", OID_TEXT}};
	AdminRow r = {.n = 0};
	admin_describe(b, cols, 1);
	row_str(&r, PGSIFT_VERSION_STRING);
	row_send(b, &r);
	pq_write_command_complete(b, "SHOW");
}

static size_t admin_count_admin_clients(void)
{
	size_t n = 0;
	for (ListNode *ln = G.clients.head.next; ln != &G.clients.head; ln = ln->next)
		if (list_entry(ln, Client, all_node)->state == CL_ADMIN)
			n++;
	return n;
}

static void admin_show_pools(PktBuf *b)
{
	static const AdminCol cols[] = {
		{"database", OID_TEXT},
		{"user", OID_TEXT},
		{"cl_active", OID_INT4},
		{"cl_waiting", OID_INT4},
		{"cl_active_cancel_req", OID_INT4},
		{"cl_waiting_cancel_req", OID_INT4},
		{"sv_active", OID_INT4},
		{"sv_active_cancel", OID_INT4},
		{"sv_being_canceled", OID_INT4},
		{"sv_idle", OID_INT4},
		{"sv_used", OID_INT4},
		{"sv_tested", OID_INT4},
		{"sv_login", OID_INT4},
		{"maxwait", OID_INT4},
		{"maxwait_us", OID_INT4},
		{"pool_mode", OID_TEXT},
	};
	admin_describe(b, cols, sizeof(cols) / sizeof(cols[0]));
	AdminRow r = {.n = 0};
	/* the console's pseudo pool, as PgBouncer shows its own */
	row_str(&r, ADMIN_DB);
	row_str(&r, ADMIN_DB);
	row_u64(&r, admin_count_admin_clients());
	for (int i = 0; i < 12; i++)
		row_u64(&r, 0);
	row_str(&r, "statement");
	row_send(b, &r);

	uint64_t now = proxy_now_ms();
	for (ListNode *n = G.pools.head.next; n != &G.pools.head; n = n->next) {
		Pool *p = list_entry(n, Pool, node);
		uint64_t maxwait_ms = 0;
		ListNode *w = list_first(&p->waiting_clients);
		if (!w)
			w = list_first(&p->login_clients);
		if (w) {
			Client *wc = list_entry(w, Client, pool_node);
			uint64_t since = wc->wait_start_ms ? wc->wait_start_ms : wc->connect_ms;
			maxwait_ms = now > since ? now - since : 0;
		}
		row_str(&r, p->dbname);
		row_str(&r, p->user);
		row_u64(&r, p->active_clients.count);
		/* PgBouncer counts clients waiting for their pool's first login as waiting */
		row_u64(&r, p->waiting_clients.count + p->login_clients.count);
		row_u64(&r, 0);
		row_u64(&r, 0);
		row_u64(&r, p->active_servers.count);
		row_u64(&r, 0);
		row_u64(&r, 0);
		row_u64(&r, p->idle_servers.count);
		row_u64(&r, p->used_servers.count);
		row_u64(&r, 0);
		row_u64(&r, p->login_servers.count);
		row_u64(&r, maxwait_ms / 1000);
		row_u64(&r, (maxwait_ms % 1000) * 1000);
		row_str(&r, pool_mode_str(p->mode));
		row_send(b, &r);
	}
	pq_write_command_complete(b, "SHOW");
}

/* Per-database sums of the pools' counters. */
static PoolStats admin_db_stats(const char *dbname)
{
	PoolStats s = {0};
	for (ListNode *n = G.pools.head.next; n != &G.pools.head; n = n->next) {
		const Pool *p = list_entry(n, Pool, node);
		if (strcmp(p->dbname, dbname) == 0)
			pool_stats_add(&s, &p->stats);
	}
	return s;
}

static uint64_t div0(uint64_t a, uint64_t b)
{
	return b ? a / b : 0;
}

typedef enum { STATS_BOTH, STATS_TOTALS_ONLY, STATS_AVERAGES_ONLY } StatsView;

/*
 * The seven totals or averages of one database. Averages are since start: rates per second for
 * counts and bytes, mean microseconds per transaction / query / waiting client for times
 * (PgBouncer averages over its last stats_period; pgsift has no such period yet).
 */
static void admin_stats_values(AdminRow *r, const PoolStats *s, bool averages)
{
	if (!averages) {
		row_u64(r, s->xact_count);
		row_u64(r, s->query_count);
		row_u64(r, s->bytes_received);
		row_u64(r, s->bytes_sent);
		row_u64(r, s->xact_time_us);
		row_u64(r, s->query_time_us);
		row_u64(r, s->wait_time_us);
		return;
	}
	uint64_t up_s = (proxy_now_ms() - G.started_ms) / 1000;
	if (up_s == 0)
		up_s = 1;
	row_u64(r, s->xact_count / up_s);
	row_u64(r, s->query_count / up_s);
	row_u64(r, s->bytes_received / up_s);
	row_u64(r, s->bytes_sent / up_s);
	row_u64(r, div0(s->xact_time_us, s->xact_count));
	row_u64(r, div0(s->query_time_us, s->query_count));
	row_u64(r, div0(s->wait_time_us, s->xact_count));
}

static void admin_show_stats(PktBuf *b, StatsView view)
{
	static const AdminCol both[] = {
		{"database", OID_TEXT},
		{"total_xact_count", OID_NUMERIC},
		{"total_query_count", OID_NUMERIC},
		{"total_received", OID_NUMERIC},
		{"total_sent", OID_NUMERIC},
		{"total_xact_time", OID_NUMERIC},
		{"total_query_time", OID_NUMERIC},
		{"total_wait_time", OID_NUMERIC},
		{"avg_xact_count", OID_NUMERIC},
		{"avg_query_count", OID_NUMERIC},
		{"avg_recv", OID_NUMERIC},
		{"avg_sent", OID_NUMERIC},
		{"avg_xact_time", OID_NUMERIC},
		{"avg_query_time", OID_NUMERIC},
		{"avg_wait_time", OID_NUMERIC},
		/* pgsift's own, after PgBouncer's columns (PgBouncer adds its new ones at the end
		 * too): the database's statements the statistics queue was too full to take */
		{"stats_events_dropped", OID_NUMERIC},
	};
	static const AdminCol one[] = {
		{"database", OID_TEXT},	      {"xact_count", OID_NUMERIC},
		{"query_count", OID_NUMERIC}, {"bytes_received", OID_NUMERIC},
		{"bytes_sent", OID_NUMERIC},  {"xact_time", OID_NUMERIC},
		{"query_time", OID_NUMERIC},  {"wait_time", OID_NUMERIC},
	};
	if (view == STATS_BOTH)
		admin_describe(b, both, sizeof(both) / sizeof(both[0]));
	else
		admin_describe(b, one, sizeof(one) / sizeof(one[0]));
	AdminRow r = {.n = 0};
	PoolStats console = {.xact_count = admin_queries, .query_count = admin_queries};
	size_t n = 0;
	const char **names = admin_db_names(&n);
	for (size_t i = 0; i <= n; i++) {
		PoolStats s = i == 0 ? console : admin_db_stats(names[i - 1]);
		row_str(&r, i == 0 ? ADMIN_DB : names[i - 1]);
		if (view != STATS_AVERAGES_ONLY)
			admin_stats_values(&r, &s, false);
		if (view != STATS_TOTALS_ONLY)
			admin_stats_values(&r, &s, true);
		if (view == STATS_BOTH)
			row_u64(&r, s.events_dropped);
		row_send(b, &r);
	}
	free(names);
	pq_write_command_complete(b, "SHOW");
}

/* SHOW TOTALS: PgBouncer's rows over every database, then pgsift's statistics counters. */
static void admin_show_totals(PktBuf *b)
{
	static const AdminCol cols[] = {{"name", OID_TEXT}, {"value", OID_NUMERIC}};
	admin_describe(b, cols, 2);
	PoolStats t = {0};
	for (ListNode *n = G.pools.head.next; n != &G.pools.head; n = n->next)
		pool_stats_add(&t, &list_entry(n, Pool, node)->stats);
	AdminRow tot = {.n = 0}, avg = {.n = 0};
	admin_stats_values(&tot, &t, false);
	admin_stats_values(&avg, &t, true);
	static const char *const names[] = {"xact_count",   "query_count", "client_bytes",
					    "server_bytes", "xact_time",   "query_time",
					    "wait_time"};
	AdminRow r = {.n = 0};
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < 7; i++) {
			row_fmt(&r, "%s_%s", pass ? "avg" : "total", names[i]);
			row_str(&r, pass ? avg.v[i] : tot.v[i]);
			row_send(b, &r);
		}
	}
	StatsCounters sc;
	if (stats_counters(&sc) == 0) {
		const struct {
			const char *name;
			uint64_t v;
		} extra[] = {
			{"stats_events_submitted", sc.events_submitted},
			{"stats_events_dropped", sc.events_dropped},
			{"stats_events_processed", sc.events_processed},
			{"stats_queries", sc.queries},
			{"stats_errors", sc.errors},
			{"stats_timeouts", sc.timeouts},
			{"stats_slow_queries", sc.slow_queries},
			{"stats_slow_dropped", sc.slow_dropped},
			{"parser_cache_hits", sc.parser_hits},
			{"parser_cache_misses", sc.parser_misses},
			{"fingerprints", sc.fingerprints},
		};
		for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
			row_str(&r, extra[i].name);
			row_u64(&r, extra[i].v);
			row_send(b, &r);
		}
		stats_counters_free(&sc);
	}
	pq_write_command_complete(b, "SHOW");
}

static const AdminCol socket_cols[] = {
	{"type", OID_TEXT},	    {"user", OID_TEXT},	      {"database", OID_TEXT},
	{"state", OID_TEXT},	    {"addr", OID_TEXT},	      {"port", OID_INT4},
	{"local_addr", OID_TEXT},   {"local_port", OID_INT4}, {"connect_time", OID_TEXT},
	{"request_time", OID_TEXT}, {"wait", OID_INT4},	      {"wait_us", OID_INT4},
	{"close_needed", OID_INT4}, {"ptr", OID_TEXT},	      {"link", OID_TEXT},
	{"remote_pid", OID_INT4},   {"tls", OID_TEXT},	      {"application_name", OID_TEXT},
};

/* The local end of a connection: "127.0.0.1" and the port, or "unix" and the listen port. */
static void row_local_addr(AdminRow *r, Conn *conn)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char host[64] = "unix";
	int port = G.cfg->listen_port;
	if (!conn->is_pipe && uv_tcp_getsockname(&conn->h.tcp, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&ss;
			uv_ip6_name(a6, host, sizeof(host));
			port = ntohs(a6->sin6_port);
		} else {
			const struct sockaddr_in *a4 = (const struct sockaddr_in *)&ss;
			uv_ip4_name(a4, host, sizeof(host));
			port = ntohs(a4->sin_port);
		}
	}
	row_fmt(r, "%s", host);
	row_fmt(r, "%d", port);
}

static const char *admin_client_state(const Client *c)
{
	switch (c->state) {
	case CL_STARTUP:
	case CL_AUTH:
		return "login";
	case CL_LOGIN_WAIT:
	case CL_WAITING:
		return "waiting";
	default:
		return "active";
	}
}

static void admin_show_clients(PktBuf *b)
{
	admin_describe(b, socket_cols, sizeof(socket_cols) / sizeof(socket_cols[0]));
	AdminRow r = {.n = 0};
	uint64_t now = proxy_now_ms();
	for (ListNode *n = G.clients.head.next; n != &G.clients.head; n = n->next) {
		Client *c = list_entry(n, Client, all_node);
		if (c->state == CL_CLOSING || c->state == CL_STARTUP || !c->user)
			continue;
		uint64_t waited =
			c->state == CL_WAITING && c->wait_start_ms && now > c->wait_start_ms ?
				now - c->wait_start_ms :
				0;
		row_str(&r, "C");
		row_str(&r, c->user);
		row_str(&r, c->dbname ? c->dbname : "");
		row_str(&r, admin_client_state(c));
		row_str(&r, c->addr);
		row_fmt(&r, "%d", c->port);
		row_local_addr(&r, &c->conn);
		row_mono_time(&r, c->connect_ms);
		row_mono_time(&r, c->last_active_ms);
		row_u64(&r, waited / 1000);
		row_u64(&r, (waited % 1000) * 1000);
		row_u64(&r, 0);
		row_fmt(&r, "%p", (void *)c);
		if (c->server)
			row_fmt(&r, "%p", (void *)c->server);
		else
			row_str(&r, "");
		row_u64(&r, 0);
		row_str(&r, "");
		row_str(&r, c->app_name ? c->app_name : "");
		row_send(b, &r);
	}
	pq_write_command_complete(b, "SHOW");
}

static const char *admin_server_state(const Server *s)
{
	switch (s->state) {
	case SV_CONNECTING:
	case SV_LOGIN:
		return "login";
	case SV_IDLE:
		return "idle";
	case SV_ACTIVE:
		return "active";
	case SV_USED:
		return "used";
	default:
		return "closing";
	}
}

static void admin_show_servers(PktBuf *b)
{
	admin_describe(b, socket_cols, sizeof(socket_cols) / sizeof(socket_cols[0]));
	AdminRow r = {.n = 0};
	for (ListNode *n = G.servers.head.next; n != &G.servers.head; n = n->next) {
		Server *s = list_entry(n, Server, all_node);
		if (s->state == SV_CLOSING || !s->pool)
			continue;
		row_str(&r, "S");
		row_str(&r, s->pool->server_user ? s->pool->server_user : s->pool->user);
		row_str(&r, s->pool->dbname);
		row_str(&r, admin_server_state(s));
		row_str(&r, s->addr_str);
		row_fmt(&r, "%d", s->port);
		if (s->state == SV_CONNECTING) {
			row_str(&r, "");
			row_u64(&r, 0);
		} else {
			row_local_addr(&r, &s->conn);
		}
		row_mono_time(&r, s->connect_ms);
		row_mono_time(&r, s->last_used_ms ? s->last_used_ms : s->connect_ms);
		row_u64(&r, 0);
		row_u64(&r, 0);
		row_u64(&r, s->close_needed ? 1 : 0);
		row_fmt(&r, "%p", (void *)s);
		if (s->client)
			row_fmt(&r, "%p", (void *)s->client);
		else
			row_str(&r, "");
		row_u64(&r, s->be_pid);
		row_str(&r, "");
		row_str(&r, s->client && s->client->app_name ? s->client->app_name : "");
		row_send(b, &r);
	}
	pq_write_command_complete(b, "SHOW");
}

/* The effective [databases] entry of a database name: its own, else `*`. */
static const DbEntry *admin_db_entry(const char *name)
{
	return config_find_db(G.cfg, name);
}

static void admin_show_databases(PktBuf *b)
{
	static const AdminCol cols[] = {
		{"name", OID_TEXT},
		{"host", OID_TEXT},
		{"port", OID_INT4},
		{"database", OID_TEXT},
		{"force_user", OID_TEXT},
		{"pool_size", OID_INT4},
		{"min_pool_size", OID_INT4},
		{"reserve_pool", OID_INT4},
		{"pool_mode", OID_TEXT},
		{"max_connections", OID_INT4},
		{"current_connections", OID_INT4},
		{"paused", OID_INT4},
		{"disabled", OID_INT4},
	};
	admin_describe(b, cols, sizeof(cols) / sizeof(cols[0]));
	AdminRow r = {.n = 0};
	row_str(&r, ADMIN_DB);
	row_str(&r, NULL);
	row_fmt(&r, "%d", G.cfg->listen_port);
	row_str(&r, ADMIN_DB);
	row_str(&r, ADMIN_DB);
	row_fmt(&r, "2");
	row_fmt(&r, "0");
	row_fmt(&r, "0");
	row_str(&r, "statement");
	row_fmt(&r, "0");
	row_fmt(&r, "0");
	row_fmt(&r, "%d", G.paused ? 1 : 0);
	row_fmt(&r, "0");
	row_send(b, &r);

	size_t n = 0;
	const char **names = admin_db_names(&n);
	for (size_t i = 0; i < n; i++) {
		const DbEntry *db = admin_db_entry(names[i]);
		if (!db)
			continue;
		size_t current = 0;
		for (ListNode *ln = G.pools.head.next; ln != &G.pools.head; ln = ln->next) {
			const Pool *p = list_entry(ln, Pool, node);
			if (strcmp(p->dbname, names[i]) == 0)
				current += p->idle_servers.count + p->active_servers.count +
					   p->used_servers.count + p->login_servers.count;
		}
		row_str(&r, names[i]);
		row_str(&r, db->host ? db->host : "/var/run/postgresql");
		row_fmt(&r, "%d", db->port > 0 ? db->port : 5432);
		row_str(&r, db->dbname ? db->dbname : names[i]);
		row_str(&r, db->user);
		row_fmt(&r, "%d", config_pool_size(G.cfg, db));
		row_fmt(&r, "%d",
			db->min_pool_size >= 0 ? db->min_pool_size : G.cfg->min_pool_size);
		row_fmt(&r, "%d",
			db->reserve_pool >= 0 ? db->reserve_pool : G.cfg->reserve_pool_size);
		row_str(&r, db->pool_mode >= 0 ? pool_mode_str((PoolMode)db->pool_mode) : NULL);
		row_fmt(&r, "%d", db->max_db_connections);
		row_u64(&r, current);
		row_fmt(&r, "%d", pool_is_paused(names[i]) ? 1 : 0);
		row_fmt(&r, "0");
		row_send(b, &r);
	}
	free(names);
	pq_write_command_complete(b, "SHOW");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Users: auth_file and [users] entries and every user a pool was made for, sorted. */
static void admin_show_users(PktBuf *b)
{
	static const AdminCol cols[] = {{"name", OID_TEXT}, {"pool_mode", OID_TEXT}};
	admin_describe(b, cols, 2);
	size_t cap = G.cfg->n_users + G.pools.count, n = 0;
	const char **names = cap ? calloc(cap, sizeof(*names)) : NULL;
	for (size_t i = 0; names && i < G.cfg->n_users; i++)
		names[n++] = G.cfg->users[i].name;
	for (ListNode *ln = G.pools.head.next; names && ln != &G.pools.head; ln = ln->next) {
		const char *u = list_entry(ln, Pool, node)->user;
		bool seen = false;
		for (size_t i = 0; i < n && !seen; i++)
			seen = strcmp(names[i], u) == 0;
		if (!seen)
			names[n++] = u;
	}
	if (names)
		qsort(names, n, sizeof(*names), cmp_str);
	AdminRow r = {.n = 0};
	for (size_t i = 0; i < n; i++) {
		const char *mode = NULL;
		for (size_t j = 0; j < G.cfg->n_users; j++)
			if (strcmp(G.cfg->users[j].name, names[i]) == 0 &&
			    G.cfg->users[j].pool_mode >= 0)
				mode = pool_mode_str((PoolMode)G.cfg->users[j].pool_mode);
		row_str(&r, names[i]);
		row_str(&r, mode);
		row_send(b, &r);
	}
	free(names);
	pq_write_command_complete(b, "SHOW");
}

typedef struct ConfigRows {
	char **keys; /* each "key\0value\0default\0changeable\0", owned */
	size_t n, cap;
	bool failed;
} ConfigRows;

static void admin_config_visit_cb(void *arg, const char *key, const char *value, const char *dflt,
				  bool changeable)
{
	ConfigRows *cr = arg;
	if (cr->failed)
		return;
	if (cr->n == cr->cap) {
		size_t ncap = cr->cap ? cr->cap * 2 : 64;
		char **grown = realloc(cr->keys, ncap * sizeof(*grown));
		if (!grown) {
			cr->failed = true;
			return;
		}
		cr->keys = grown;
		cr->cap = ncap;
	}
	const char *ch = changeable ? "yes" : "no";
	size_t kl = strlen(key), vl = strlen(value), dl = strlen(dflt), cl = strlen(ch);
	char *e = malloc(kl + vl + dl + cl + 4);
	if (!e) {
		cr->failed = true;
		return;
	}
	memcpy(e, key, kl + 1);
	memcpy(e + kl + 1, value, vl + 1);
	memcpy(e + kl + vl + 2, dflt, dl + 1);
	memcpy(e + kl + vl + dl + 3, ch, cl + 1);
	cr->keys[cr->n++] = e;
}

static void admin_show_config(PktBuf *b)
{
	static const AdminCol cols[] = {{"key", OID_TEXT},
					{"value", OID_TEXT},
					{"default", OID_TEXT},
					{"changeable", OID_TEXT}};
	ConfigRows cr = {0};
	config_visit(G.cfg, admin_config_visit_cb, &cr);
	if (cr.failed) {
		admin_error(b, "53200", "out of memory listing the configuration");
		goto out;
	}
	qsort(cr.keys, cr.n, sizeof(*cr.keys), cmp_str);
	admin_describe(b, cols, 4);
	AdminRow r = {.n = 0};
	for (size_t i = 0; i < cr.n; i++) {
		const char *k = cr.keys[i];
		const char *v = k + strlen(k) + 1;
		const char *d = v + strlen(v) + 1;
		const char *c = d + strlen(d) + 1;
		row_str(&r, k);
		row_str(&r, v);
		row_str(&r, d);
		row_str(&r, c);
		row_send(b, &r);
	}
	pq_write_command_complete(b, "SHOW");
out:
	for (size_t i = 0; i < cr.n; i++)
		free(cr.keys[i]);
	free(cr.keys);
}

static void admin_show_lists(PktBuf *b)
{
	static const AdminCol cols[] = {{"list", OID_TEXT}, {"items", OID_INT4}};
	admin_describe(b, cols, 2);
	size_t n_dbs = 0;
	const char **names = admin_db_names(&n_dbs);
	free(names);
	size_t users = G.cfg->n_users, login = 0, used_clients = 0;
	for (ListNode *ln = G.clients.head.next; ln != &G.clients.head; ln = ln->next) {
		const Client *c = list_entry(ln, Client, all_node);
		if (c->state == CL_STARTUP || c->state == CL_AUTH || c->state == CL_LOGIN_WAIT)
			login++;
		else if (c->state != CL_CLOSING)
			used_clients++;
	}
	const struct {
		const char *name;
		size_t v;
	} rows[] = {
		{"databases", n_dbs + 1}, /* + the console's pseudo database, as in PgBouncer */
		{"users", users},
		{"pools", G.pools.count + 1},
		{"free_clients", 0},
		{"used_clients", used_clients},
		{"login_clients", login},
		{"free_servers", 0},
		{"used_servers", G.servers.count},
		{"dns_names", 0},
		{"dns_zones", 0},
		{"dns_queries", 0},
		{"dns_pending", 0},
	};
	AdminRow r = {.n = 0};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		row_str(&r, rows[i].name);
		row_u64(&r, rows[i].v);
		row_send(b, &r);
	}
	pq_write_command_complete(b, "SHOW");
}

static void admin_show_help(PktBuf *b)
{
	admin_notice(b, "Console usage",
		     "\n\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION"
		     "\n\tSHOW LISTS"
		     "\n\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS"
		     "\n\tSHOW QUERIES|SLOW|SUGGESTIONS"
		     "\n\tRESET STATS"
		     "\n\tRELOAD"
		     "\n\tPAUSE [<db>]"
		     "\n\tRESUME [<db>]"
		     "\n\tKILL <db>"
		     "\n\tSHUTDOWN");
	pq_write_command_complete(b, "SHOW");
}

/* n '\0'-terminated values as a PostgreSQL text[] literal ({"a","b\\"c"}), every element
 * quoted; NULL for no values or out of memory. */
static char *admin_array_literal(const char *buf, size_t len, uint16_t n)
{
	if (!buf || !n)
		return NULL;
	size_t cap = 2 * len + 3 * (size_t)n + 3, o = 0;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	const char *p = buf, *end = buf + len;
	s[o++] = '{';
	for (uint16_t k = 0; k < n && p < end; k++) {
		if (k)
			s[o++] = ',';
		s[o++] = '"';
		for (; p < end && *p; p++) {
			if (*p == '"' || *p == '\\')
				s[o++] = '\\';
			s[o++] = *p;
		}
		s[o++] = '"';
		p++; /* its '\0' */
	}
	s[o++] = '}';
	s[o] = '\0';
	return s;
}

static void admin_show_queries(PktBuf *b)
{
	static const AdminCol cols[] = {
		{"fingerprint", OID_TEXT}, {"query", OID_TEXT},	       {"database", OID_TEXT},
		{"user", OID_TEXT},	   {"calls", OID_INT8},	       {"errors", OID_INT8},
		{"timeouts", OID_INT8},	   {"rows", OID_INT8},	       {"total_ms", OID_FLOAT8},
		{"mean_ms", OID_FLOAT8},   {"p50_ms", OID_FLOAT8},     {"p95_ms", OID_FLOAT8},
		{"p99_ms", OID_FLOAT8},	   {"max_ms", OID_FLOAT8},     {"first_seen", OID_TEXT},
		{"last_seen", OID_TEXT},   {"sample_query", OID_TEXT}, {"sample_params", OID_TEXT},
	};
	StatsQueries q;
	if (stats_snapshot_queries(0, &q) != 0) {
		admin_error(b, "53200", "out of memory copying the query statistics");
		return;
	}
	admin_describe(b, cols, sizeof(cols) / sizeof(cols[0]));
	AdminRow r = {.n = 0};
	for (size_t i = 0; i < q.n; i++) {
		const StatsQueryRow *x = &q.rows[i];
		row_str(&r, x->fingerprint);
		row_str(&r, x->query);
		row_str(&r, x->database);
		row_str(&r, x->user);
		row_u64(&r, x->calls);
		row_u64(&r, x->errors);
		row_u64(&r, x->timeouts);
		row_u64(&r, x->rows);
		row_ms(&r, x->total_ms);
		row_ms(&r, x->mean_ms);
		row_ms(&r, x->p50_ms);
		row_ms(&r, x->p95_ms);
		row_ms(&r, x->p99_ms);
		row_ms(&r, x->max_ms);
		row_iso_time(&r, x->first_seen_us);
		row_iso_time(&r, x->last_seen_us);
		row_str(&r, x->sample_query);
		char *params = admin_array_literal(x->sample_params, x->sample_params_len,
						   x->sample_n_params);
		row_str(&r, params);
		row_send(b, &r);
		free(params);
	}
	stats_queries_free(&q);
	pq_write_command_complete(b, "SHOW");
}

static void admin_show_slow(PktBuf *b)
{
	static const AdminCol cols[] = {
		{"time", OID_TEXT},
		{"fingerprint", OID_TEXT},
		{"duration_ms", OID_FLOAT8},
		{"query", OID_TEXT},
		{"database", OID_TEXT},
		{"user", OID_TEXT},
		{"application_name", OID_TEXT},
		{"client_addr", OID_TEXT},
		{"rows", OID_INT8},
		{"sqlstate", OID_TEXT},
		{"timed_out", OID_BOOL},
	};
	StatsSlowList sl;
	if (stats_snapshot_slow(0, &sl) != 0) {
		admin_error(b, "53200", "out of memory copying the slow-query list");
		return;
	}
	admin_describe(b, cols, sizeof(cols) / sizeof(cols[0]));
	AdminRow r = {.n = 0};
	for (size_t i = 0; i < sl.n; i++) {
		const StatsSlowRow *x = &sl.rows[i];
		row_iso_time(&r, x->end_wall_us);
		row_str(&r, x->fingerprint);
		row_ms(&r, x->duration_ms);
		row_str(&r, x->query);
		row_str(&r, x->database);
		row_str(&r, x->user);
		row_str(&r, x->application);
		row_str(&r, x->client_addr);
		row_u64(&r, x->rows);
		row_str(&r, x->sqlstate[0] ? x->sqlstate : NULL);
		row_str(&r, x->timed_out ? "t" : "f");
		row_send(b, &r);
	}
	stats_slow_free(&sl);
	pq_write_command_complete(b, "SHOW");
}

/* ---- commands that change things (admin_users only) ---- */

static void admin_pause(PktBuf *b, const AdminCmd *cmd, bool pause)
{
	const char *tag = pause ? "PAUSE" : "RESUME";
	if (cmd->n == 1) {
		log_info("admin console: %s", tag);
		if (pool_pause(NULL, pause)) /* never fails for every database */
			pq_write_command_complete(b, tag);
		return;
	}
	const char *db = cmd->words[1];
	if (is_admin_db(db)) {
		admin_error(b, "42601", "cannot %s the admin console's database",
			    pause ? "pause" : "resume");
		return;
	}
	if (!admin_db_known(db, true)) {
		admin_error(b, "3D000", "no such database: %s", db);
		return;
	}
	if (!pool_pause(db, pause)) {
		admin_error(b, "53200", "out of memory");
		return;
	}
	log_info("admin console: %s %s", tag, db);
	pq_write_command_complete(b, tag);
}

/* The first client of p that is not closing yet, waiting ones first. */
static Client *admin_first_client(Pool *p)
{
	List *lists[] = {&p->waiting_clients, &p->login_clients, &p->active_clients};
	for (size_t i = 0; i < 3; i++)
		for (ListNode *n = lists[i]->head.next; n != &lists[i]->head; n = n->next) {
			Client *c = list_entry(n, Client, pool_node);
			if (c->state != CL_CLOSING)
				return c;
		}
	return NULL;
}

/*
 * KILL db: every client of the database gets FATAL 57P01 and is closed, then the pools' server
 * connections are closed (idle ones now, the others as soon as their reset is done). Failing a client may hand its server to another waiter of the same
 * pool, so the lists are walked again from the start after each one.
 */
static void admin_kill(PktBuf *b, const AdminCmd *cmd)
{
	if (cmd->n != 2) {
		admin_error(b, "42601", "KILL needs a database name: KILL <db>");
		return;
	}
	const char *db = cmd->words[1];
	if (is_admin_db(db)) {
		admin_error(b, "42601", "cannot kill the admin console's database: %s", db);
		return;
	}
	if (!admin_db_known(db, false)) {
		admin_error(b, "3D000", "no such database: %s", db);
		return;
	}
	size_t killed = 0;
	for (ListNode *n = G.pools.head.next; n != &G.pools.head; n = n->next) {
		Pool *p = list_entry(n, Pool, node);
		if (strcmp(p->dbname, db) != 0)
			continue;
		/* marked first: a killed client's server must be closed after its reset, not reused */
		List *lists[] = {&p->idle_servers, &p->active_servers, &p->used_servers,
				 &p->login_servers};
		for (size_t i = 0; i < 4; i++)
			for (ListNode *sn = lists[i]->head.next; sn != &lists[i]->head;
			     sn = sn->next)
				list_entry(sn, Server, pool_node)->close_needed = true;
		Client *c;
		while ((c = admin_first_client(p)) != NULL) {
			client_fail(c, "57P01", "client killed by the admin console (KILL %s)", db);
			killed++;
		}
		pool_close_servers(p);
	}
	log_info("admin console: KILL %s: %zu clients closed", db, killed);
	pq_write_command_complete(b, "KILL");
}

/* ---- SHOW SUGGESTIONS ----
 *
 * The advisor reads catalogs over libpq, which blocks, so it runs on a libuv worker thread
 * (advisor_live_run over a snapshot of the statistics). Meanwhile the admin client's Query stays
 * in its buffer (admin_frame returned PA_WAIT) and nothing else it sent is handled; when the work
 * is done, conn_resume() hands the same Query to admin_frame again, which finds the finished job
 * and answers. A client that left in the meantime is looked up by pointer and cancel key (Client
 * objects are reused), not found, and its job is freed unanswered.
 */

typedef struct SuggestJob {
	uv_work_t req;
	Client *client; /* not owned: may be gone by the time the work is done */
	uint32_t cancel_pid, cancel_key;
	const Config *cfg; /* kept alive until exit by proxy.c's config history */
	AdvLiveResult result;
	bool done;
	struct SuggestJob *next;
} SuggestJob;

/* Jobs in flight, or done and waiting for their client to take the answer (owned). */
static SuggestJob *suggest_jobs;

static bool suggest_is_job_of(const SuggestJob *j, const Client *c)
{
	return j->client == c && j->cancel_pid == c->cancel_pid && j->cancel_key == c->cancel_key;
}

static void suggest_unlink(SuggestJob *job)
{
	for (SuggestJob **pp = &suggest_jobs; *pp; pp = &(*pp)->next) {
		if (*pp == job) {
			*pp = job->next;
			break;
		}
	}
	advisor_live_free(&job->result);
	free(job);
}

/* Worker thread: nothing here may touch the loop, a Client or G. */
static void suggest_work_cb(uv_work_t *req)
{
	SuggestJob *job = req->data;
	advisor_live_run(job->cfg, &job->result);
}

static void suggest_after_cb(uv_work_t *req, int status)
{
	SuggestJob *job = req->data;
	job->done = true;
	if (status != 0 && !job->result.error)
		job->result.error = strdup("cancelled");
	ListNode *n, *tmp;
	list_for_each_safe(n, tmp, &G.clients)
	{
		Client *c = list_entry(n, Client, all_node);
		if (suggest_is_job_of(job, c) && c->state == CL_ADMIN) {
			conn_resume(&c->conn);
			return;
		}
	}
	suggest_unlink(job);
}

/* Starts the job (false: wait) or, when this client's job is done, writes its answer to b. */
static bool admin_show_suggestions(Client *c, PktBuf *b)
{
	SuggestJob *job = suggest_jobs;
	while (job && !suggest_is_job_of(job, c))
		job = job->next;
	if (job && !job->done)
		return false;
	if (!job) {
		job = calloc(1, sizeof(*job));
		if (!job) {
			admin_error(b, "53200", "out of memory starting the index advisor");
			return true;
		}
		job->client = c;
		job->cancel_pid = c->cancel_pid;
		job->cancel_key = c->cancel_key;
		job->cfg = G.cfg;
		job->req.data = job;
		int rc = uv_queue_work(G.loop, &job->req, suggest_work_cb, suggest_after_cb);
		if (rc != 0) {
			free(job);
			admin_error(b, "58000", "could not start the index advisor: %s",
				    uv_strerror(rc));
			return true;
		}
		job->next = suggest_jobs;
		suggest_jobs = job;
		return false;
	}
	const AdvLiveResult *r = &job->result;
	if (r->error) {
		admin_error(b, "53200", "SHOW SUGGESTIONS: %s", r->error);
		suggest_unlink(job);
		return true;
	}
	for (size_t i = 0; i < r->n_notices; i++)
		admin_notice(b, r->notices[i], NULL);
	static const uint32_t oids[ADV_LIVE_COLS] = {
		[ADV_LIVE_DATABASE] = OID_TEXT,	    [ADV_LIVE_TABLE] = OID_TEXT,
		[ADV_LIVE_INDEX] = OID_TEXT,	    [ADV_LIVE_STATEMENTS] = OID_TEXT,
		[ADV_LIVE_CALLS] = OID_INT8,	    [ADV_LIVE_TOTAL_MS] = OID_FLOAT8,
		[ADV_LIVE_P95_MS] = OID_FLOAT8,	    [ADV_LIVE_SAVING_PCT] = OID_FLOAT8,
		[ADV_LIVE_TABLE_ROWS] = OID_FLOAT8, [ADV_LIVE_WRITES_PER_MIN] = OID_FLOAT8,
		[ADV_LIVE_REASON] = OID_TEXT,
	};
	AdminCol cols[ADV_LIVE_COLS];
	for (size_t k = 0; k < ADV_LIVE_COLS; k++)
		cols[k] = (AdminCol){advisor_live_columns[k], oids[k]};
	admin_describe(b, cols, ADV_LIVE_COLS);
	for (size_t i = 0; i < r->n_rows; i++)
		pq_write_data_row(b, (const char *const *)r->cells + i * ADV_LIVE_COLS,
				  ADV_LIVE_COLS);
	pq_write_command_complete(b, "SHOW");
	suggest_unlink(job);
	return true;
}

/* ---- dispatch ---- */

/*
 * Runs one console command, appending its answer (without ReadyForQuery) to b. Returns false
 * when the answer is not ready (SHOW SUGGESTIONS on its worker thread): nothing was appended,
 * and the caller must wait for the same command to come back.
 */
static bool admin_command(Client *c, const char *sql, PktBuf *b)
{
	AdminCmd cmd;
	if (!admin_parse(sql, &cmd)) {
		pq_write_empty_query(b);
		return true;
	}
	if (cmd.too_many) {
		admin_error(b, "42601", "unsupported admin command: %s (try SHOW HELP)", cmd.text);
		return true;
	}
	if (word_is(&cmd, 0, "SHOW")) {
		if (cmd.n != 2) {
			admin_error(b, "42601", "unsupported admin command: %s (try SHOW HELP)",
				    cmd.text);
			return true;
		}
		const char *w = cmd.words[1];
		if (strcasecmp(w, "VERSION") == 0)
			admin_show_version(b);
		else if (strcasecmp(w, "POOLS") == 0)
			admin_show_pools(b);
		else if (strcasecmp(w, "STATS") == 0)
			admin_show_stats(b, STATS_BOTH);
		else if (strcasecmp(w, "STATS_TOTALS") == 0)
			admin_show_stats(b, STATS_TOTALS_ONLY);
		else if (strcasecmp(w, "STATS_AVERAGES") == 0)
			admin_show_stats(b, STATS_AVERAGES_ONLY);
		else if (strcasecmp(w, "TOTALS") == 0)
			admin_show_totals(b);
		else if (strcasecmp(w, "CLIENTS") == 0)
			admin_show_clients(b);
		else if (strcasecmp(w, "SERVERS") == 0)
			admin_show_servers(b);
		else if (strcasecmp(w, "DATABASES") == 0)
			admin_show_databases(b);
		else if (strcasecmp(w, "USERS") == 0)
			admin_show_users(b);
		else if (strcasecmp(w, "CONFIG") == 0)
			admin_show_config(b);
		else if (strcasecmp(w, "LISTS") == 0)
			admin_show_lists(b);
		else if (strcasecmp(w, "HELP") == 0)
			admin_show_help(b);
		else if (strcasecmp(w, "QUERIES") == 0)
			admin_show_queries(b);
		else if (strcasecmp(w, "SLOW") == 0)
			admin_show_slow(b);
		else if (strcasecmp(w, "SUGGESTIONS") == 0)
			return admin_show_suggestions(c, b);
		else
			admin_error(b, "42601", "unsupported admin command: %s (try SHOW HELP)",
				    cmd.text);
		return true;
	}
	static const char *const writes[] = {"PAUSE",	 "RESUME", "RELOAD",
					     "SHUTDOWN", "KILL",   "RESET"};
	bool known_write = false;
	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
		known_write = known_write || word_is(&cmd, 0, writes[i]);
	if (!known_write) {
		admin_error(b, "42601", "unsupported admin command: %s (try SHOW HELP)", cmd.text);
		return true;
	}
	if (!admin_is_admin(c)) {
		admin_error(b, "42501", "admin access needed for %s: \"%s\" is only in stats_users",
			    cmd.words[0], c->user);
		return true;
	}
	if (word_is(&cmd, 0, "PAUSE") && cmd.n <= 2) {
		admin_pause(b, &cmd, true);
	} else if (word_is(&cmd, 0, "RESUME") && cmd.n <= 2) {
		admin_pause(b, &cmd, false);
	} else if (word_is(&cmd, 0, "KILL")) {
		admin_kill(b, &cmd);
	} else if (word_is(&cmd, 0, "RELOAD") && cmd.n == 1) {
		log_info("admin console: RELOAD by %s", c->user);
		proxy_reload();
		pq_write_command_complete(b, "RELOAD");
	} else if (word_is(&cmd, 0, "SHUTDOWN") && cmd.n == 1) {
		log_info("admin console: SHUTDOWN by %s", c->user);
		raise(SIGINT);
		pq_write_command_complete(b, "SHUTDOWN");
	} else if (word_is(&cmd, 0, "RESET") && word_is(&cmd, 1, "STATS") && cmd.n == 2) {
		stats_reset();
		log_info("admin console: RESET STATS by %s", c->user);
		pq_write_command_complete(b, "RESET");
	} else {
		admin_error(b, "42601", "unsupported admin command: %s (try SHOW HELP)", cmd.text);
	}
	return true;
}
