/*
 * admin_pgbouncer: the admin commands PgBouncer has, answered as PgBouncer 1.18 answers them:
 * the same column names, order and type OIDs, checked side by side against Debian's pgbouncer by
 * tests/integration/test_admin.py, because PgBouncer's exporters and dashboards read them. SHOW
 * STATS has one column of pgsift's own after PgBouncer's (stats_events_dropped), SHOW TOTALS
 * rows of pgsift's own after PgBouncer's. The command table is in admin.c.
 */
#include "proxy/admin_internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/log.h"
#include "proxy/client.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"
#include "proxy/server.h"
#include "stats/stats.h"

void admin_show_version(PktBuf *b)
{
	static const AdminCol cols[] = {{"version", OID_TEXT}};
	AdminRow r = {.n = 0};
	admin_describe(b, cols, 1);
	admin_row_str(&r, PGSIFT_VERSION_STRING);
	admin_row_send(b, &r);
	pq_write_command_complete(b, "SHOW");
}

/* PgBouncer 1.19's SHOW PEERS: the [peers] section (pool_size: pgsift opens one connection per
 * forwarded cancel, so it shows the configured 0). */
void admin_show_peers(PktBuf *b)
{
	static const AdminCol cols[] = {{"peer_id", OID_INT4},
					{"host", OID_TEXT},
					{"port", OID_INT4},
					{"pool_size", OID_INT4}};
	admin_describe(b, cols, 4);
	for (size_t i = 0; i < G.cfg->n_peers; i++) {
		const PeerEntry *pe = &G.cfg->peers[i];
		AdminRow r = {.n = 0};
		admin_row_u64(&r, (uint64_t)pe->id);
		admin_row_str(&r, pe->host);
		admin_row_u64(&r, (uint64_t)pe->port);
		admin_row_u64(&r, 0);
		admin_row_send(b, &r);
	}
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

void admin_show_pools(PktBuf *b)
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
	admin_row_str(&r, ADMIN_DB);
	admin_row_str(&r, ADMIN_DB);
	admin_row_u64(&r, admin_count_admin_clients());
	for (int i = 0; i < 12; i++)
		admin_row_u64(&r, 0);
	admin_row_str(&r, "statement");
	admin_row_send(b, &r);

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
		admin_row_str(&r, p->dbname);
		admin_row_str(&r, p->user);
		admin_row_u64(&r, p->active_clients.count);
		/* PgBouncer counts clients waiting for their pool's first login as waiting */
		admin_row_u64(&r, p->waiting_clients.count + p->login_clients.count);
		admin_row_u64(&r, 0);
		admin_row_u64(&r, 0);
		admin_row_u64(&r, p->active_servers.count);
		admin_row_u64(&r, 0);
		admin_row_u64(&r, 0);
		admin_row_u64(&r, p->idle_servers.count);
		admin_row_u64(&r, p->used_servers.count);
		admin_row_u64(&r, 0);
		admin_row_u64(&r, p->login_servers.count);
		admin_row_u64(&r, maxwait_ms / 1000);
		admin_row_u64(&r, (maxwait_ms % 1000) * 1000);
		admin_row_str(&r, pool_mode_str(p->mode));
		admin_row_send(b, &r);
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
		admin_row_u64(r, s->xact_count);
		admin_row_u64(r, s->query_count);
		admin_row_u64(r, s->bytes_received);
		admin_row_u64(r, s->bytes_sent);
		admin_row_u64(r, s->xact_time_us);
		admin_row_u64(r, s->query_time_us);
		admin_row_u64(r, s->wait_time_us);
		return;
	}
	uint64_t up_s = (proxy_now_ms() - G.started_ms) / 1000;
	if (up_s == 0)
		up_s = 1;
	admin_row_u64(r, s->xact_count / up_s);
	admin_row_u64(r, s->query_count / up_s);
	admin_row_u64(r, s->bytes_received / up_s);
	admin_row_u64(r, s->bytes_sent / up_s);
	admin_row_u64(r, div0(s->xact_time_us, s->xact_count));
	admin_row_u64(r, div0(s->query_time_us, s->query_count));
	admin_row_u64(r, div0(s->wait_time_us, s->xact_count));
}

/* A database's calls the fleet store dropped (sc->dbs is sorted by name). */
static uint64_t admin_store_dropped(const StatsCounters *sc, const char *db)
{
	for (size_t i = 0; i < sc->n_dbs; i++)
		if (strcmp(sc->dbs[i].database, db) == 0)
			return sc->dbs[i].store_calls_dropped;
	return 0;
}

static void admin_show_stats_view(PktBuf *b, StatsView view)
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
		/* and its calls the fleet statistics store (stats_dsn) will never see */
		{"stats_store_calls_dropped", OID_NUMERIC},
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
	StatsCounters sc;
	if (view != STATS_BOTH || stats_counters(&sc) != 0)
		memset(&sc, 0, sizeof(sc));
	PoolStats console = {.xact_count = admin_query_count(), .query_count = admin_query_count()};
	size_t n = 0;
	const char **names = admin_db_names(&n);
	for (size_t i = 0; i <= n; i++) {
		PoolStats s = i == 0 ? console : admin_db_stats(names[i - 1]);
		admin_row_str(&r, i == 0 ? ADMIN_DB : names[i - 1]);
		if (view != STATS_AVERAGES_ONLY)
			admin_stats_values(&r, &s, false);
		if (view != STATS_TOTALS_ONLY)
			admin_stats_values(&r, &s, true);
		if (view == STATS_BOTH) {
			admin_row_u64(&r, s.events_dropped);
			admin_row_u64(&r, i == 0 ? 0 : admin_store_dropped(&sc, names[i - 1]));
		}
		admin_row_send(b, &r);
	}
	free(names);
	stats_counters_free(&sc);
	pq_write_command_complete(b, "SHOW");
}

void admin_show_stats(PktBuf *b)
{
	admin_show_stats_view(b, STATS_BOTH);
}

void admin_show_stats_totals(PktBuf *b)
{
	admin_show_stats_view(b, STATS_TOTALS_ONLY);
}

void admin_show_stats_averages(PktBuf *b)
{
	admin_show_stats_view(b, STATS_AVERAGES_ONLY);
}

/* SHOW TOTALS: PgBouncer's rows over every database, then pgsift's statistics counters. */
void admin_show_totals(PktBuf *b)
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
			admin_row_fmt(&r, "%s_%s", pass ? "avg" : "total", names[i]);
			admin_row_str(&r, pass ? avg.v[i] : tot.v[i]);
			admin_row_send(b, &r);
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
			{"stats_store_rows_written", sc.store_rows_written},
			{"stats_store_rows_dropped", sc.store_rows_dropped},
			{"stats_store_calls_dropped", sc.store_calls_dropped},
			{"stats_store_write_errors", sc.store_write_errors},
			{"stats_store_backlog_rows", sc.store_backlog},
			{"stats_store_up", sc.store_up},
		};
		for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
			admin_row_str(&r, extra[i].name);
			admin_row_u64(&r, extra[i].v);
			admin_row_send(b, &r);
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
static void admin_row_local_addr(AdminRow *r, Conn *conn)
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
	admin_row_fmt(r, "%s", host);
	admin_row_fmt(r, "%d", port);
}

/* PgBouncer's tls column: version and cipher, empty for plaintext. */
static void admin_row_tls(AdminRow *r, const Conn *conn)
{
	char desc[128];
	conn_tls_describe(conn, desc, sizeof(desc));
	admin_row_fmt(r, "%s", desc); /* copied: desc does not outlive this call */
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

void admin_show_clients(PktBuf *b)
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
		admin_row_str(&r, "C");
		admin_row_str(&r, c->user);
		admin_row_str(&r, c->dbname ? c->dbname : "");
		admin_row_str(&r, admin_client_state(c));
		admin_row_str(&r, c->addr);
		admin_row_fmt(&r, "%d", c->port);
		admin_row_local_addr(&r, &c->conn);
		admin_row_mono_time(&r, c->connect_ms);
		admin_row_mono_time(&r, c->last_active_ms);
		admin_row_u64(&r, waited / 1000);
		admin_row_u64(&r, (waited % 1000) * 1000);
		admin_row_u64(&r, 0);
		admin_row_fmt(&r, "%p", (void *)c);
		if (c->server)
			admin_row_fmt(&r, "%p", (void *)c->server);
		else
			admin_row_str(&r, "");
		admin_row_u64(&r, 0);
		admin_row_tls(&r, &c->conn);
		admin_row_str(&r, c->app_name ? c->app_name : "");
		admin_row_send(b, &r);
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

void admin_show_servers(PktBuf *b)
{
	admin_describe(b, socket_cols, sizeof(socket_cols) / sizeof(socket_cols[0]));
	AdminRow r = {.n = 0};
	for (ListNode *n = G.servers.head.next; n != &G.servers.head; n = n->next) {
		Server *s = list_entry(n, Server, all_node);
		if (s->state == SV_CLOSING || !s->pool)
			continue;
		admin_row_str(&r, "S");
		admin_row_str(&r, s->pool->server_user ? s->pool->server_user : s->pool->user);
		admin_row_str(&r, s->pool->dbname);
		admin_row_str(&r, admin_server_state(s));
		admin_row_str(&r, s->addr_str);
		admin_row_fmt(&r, "%d", s->port);
		if (s->state == SV_CONNECTING) {
			admin_row_str(&r, "");
			admin_row_u64(&r, 0);
		} else {
			admin_row_local_addr(&r, &s->conn);
		}
		admin_row_mono_time(&r, s->connect_ms);
		admin_row_mono_time(&r, s->last_used_ms ? s->last_used_ms : s->connect_ms);
		admin_row_u64(&r, 0);
		admin_row_u64(&r, 0);
		admin_row_u64(&r, s->close_needed ? 1 : 0);
		admin_row_fmt(&r, "%p", (void *)s);
		if (s->client)
			admin_row_fmt(&r, "%p", (void *)s->client);
		else
			admin_row_str(&r, "");
		admin_row_u64(&r, s->be_pid);
		admin_row_tls(&r, &s->conn);
		admin_row_str(&r, s->client && s->client->app_name ? s->client->app_name : "");
		admin_row_send(b, &r);
	}
	pq_write_command_complete(b, "SHOW");
}

/* The effective [databases] entry of a database name: its own, else `*`. */
static const DbEntry *admin_db_entry(const char *name)
{
	return config_find_db(G.cfg, name);
}

void admin_show_databases(PktBuf *b)
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
	admin_row_str(&r, ADMIN_DB);
	admin_row_str(&r, NULL);
	admin_row_fmt(&r, "%d", G.cfg->listen_port);
	admin_row_str(&r, ADMIN_DB);
	admin_row_str(&r, ADMIN_DB);
	admin_row_fmt(&r, "2");
	admin_row_fmt(&r, "0");
	admin_row_fmt(&r, "0");
	admin_row_str(&r, "statement");
	admin_row_fmt(&r, "0");
	admin_row_fmt(&r, "0");
	admin_row_fmt(&r, "%d", G.paused ? 1 : 0);
	admin_row_fmt(&r, "0");
	admin_row_send(b, &r);

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
		admin_row_str(&r, names[i]);
		admin_row_str(&r, db->host ? db->host : "/var/run/postgresql");
		admin_row_fmt(&r, "%d", db->port > 0 ? db->port : 5432);
		admin_row_str(&r, db->dbname ? db->dbname : names[i]);
		admin_row_str(&r, db->user);
		admin_row_fmt(&r, "%d", config_pool_size(G.cfg, db));
		admin_row_fmt(&r, "%d",
			      db->min_pool_size >= 0 ? db->min_pool_size : G.cfg->min_pool_size);
		admin_row_fmt(&r, "%d",
			      db->reserve_pool >= 0 ? db->reserve_pool : G.cfg->reserve_pool_size);
		admin_row_str(&r,
			      db->pool_mode >= 0 ? pool_mode_str((PoolMode)db->pool_mode) : NULL);
		admin_row_fmt(&r, "%d", db->max_db_connections);
		admin_row_u64(&r, current);
		admin_row_fmt(&r, "%d", pool_is_paused(names[i]) ? 1 : 0);
		admin_row_fmt(&r, "0");
		admin_row_send(b, &r);
	}
	free(names);
	pq_write_command_complete(b, "SHOW");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Users: auth_file and [users] entries and every user a pool was made for, sorted. */
void admin_show_users(PktBuf *b)
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
		admin_row_str(&r, names[i]);
		admin_row_str(&r, mode);
		admin_row_send(b, &r);
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

void admin_show_config(PktBuf *b)
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
		admin_row_str(&r, k);
		admin_row_str(&r, v);
		admin_row_str(&r, d);
		admin_row_str(&r, c);
		admin_row_send(b, &r);
	}
	pq_write_command_complete(b, "SHOW");
out:
	for (size_t i = 0; i < cr.n; i++)
		free(cr.keys[i]);
	free(cr.keys);
}

void admin_show_lists(PktBuf *b)
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
		admin_row_str(&r, rows[i].name);
		admin_row_u64(&r, rows[i].v);
		admin_row_send(b, &r);
	}
	pq_write_command_complete(b, "SHOW");
}

/* ---- commands that change things (admin_users only) ---- */

static void admin_pause_db(PktBuf *b, const AdminCmd *cmd, bool pause)
{
	const char *tag = pause ? "PAUSE" : "RESUME";
	if (cmd->n == 1) {
		log_info("admin console: %s", tag);
		if (pool_pause(NULL, pause)) /* never fails for every database */
			pq_write_command_complete(b, tag);
		return;
	}
	const char *db = cmd->words[1];
	if (admin_is_admin_db(db)) {
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

bool admin_pause(Client *c, const AdminCmd *cmd, PktBuf *b)
{
	(void)c;
	admin_pause_db(b, cmd, true);
	return true;
}

bool admin_resume(Client *c, const AdminCmd *cmd, PktBuf *b)
{
	(void)c;
	admin_pause_db(b, cmd, false);
	return true;
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
bool admin_kill(Client *requester, const AdminCmd *cmd, PktBuf *b)
{
	(void)requester;
	if (cmd->n != 2) {
		admin_error(b, "42601", "KILL needs a database name: KILL <db>");
		return true;
	}
	const char *db = cmd->words[1];
	if (admin_is_admin_db(db)) {
		admin_error(b, "42601", "cannot kill the admin console's database: %s", db);
		return true;
	}
	if (!admin_db_known(db, false)) {
		admin_error(b, "3D000", "no such database: %s", db);
		return true;
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
	return true;
}

/* RELOAD and SHUTDOWN raise the signals proxy.c already handles (SIGHUP, SIGINT), so the console
 * goes through the same path as an operator's kill(1); the answer is sent first. */
bool admin_reload(Client *c, const AdminCmd *cmd, PktBuf *b)
{
	(void)cmd;
	log_info("admin console: RELOAD by %s", c->user);
	proxy_reload();
	pq_write_command_complete(b, "RELOAD");
	return true;
}

bool admin_shutdown(Client *c, const AdminCmd *cmd, PktBuf *b)
{
	(void)cmd;
	log_info("admin console: SHUTDOWN by %s", c->user);
	raise(SIGINT);
	pq_write_command_complete(b, "SHUTDOWN");
	return true;
}
