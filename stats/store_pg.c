/*
 * store_pg: the fleet store's writer thread (see store_pg.h). One mailbox under a mutex holds
 * the batch to write, the outcome of the last one and the settings; the thread sleeps on a
 * condition variable between batches. Every round trip to PostgreSQL goes through store_exec,
 * which sends asynchronously and waits with poll() against a deadline, so that a store that
 * accepts the connection and then stops answering costs one timeout, after which the connection
 * is dropped and the batch reported failed (fleet.c collects it again at the next flush).
 */
#include "stats/store_pg.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/log.h"
#include "util/json.h"

#ifndef PGSIFT_VERSION
#define PGSIFT_VERSION "0"
#endif

/* Every statement must answer within this (statement_timeout on the server, a deadline here). */
#define STORE_TIMEOUT_MS 10000
/* Rows per INSERT: 19 parameters each, well under the protocol's 65535. */
#define STORE_CHUNK 1000
/* Retention runs at most this often, deleting this many rows per statement. */
#define STORE_RETENTION_EVERY_US (600LL * 1000000)
#define STORE_RETENTION_BATCH 10000
#define STORE_RETENTION_MAX_ROUNDS 100

typedef struct Settings {
	char *dsn, *schema, *instance, *host;
	int pid, listen_port, peer_id;
	int64_t started_us;
	uint64_t retention_ms;
} Settings;

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool running, stop;
	Settings pending; /* new settings for the thread */
	bool settings_changed;
	FleetBatch *batch; /* the batch to write (owned) */
	uint64_t in_flight;
	bool done;
	uint64_t done_gen;
	bool done_ok;
	_Atomic uint64_t rows_written, write_errors;
	_Atomic bool up;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* The thread's own state. */
typedef struct Writer {
	Settings st;
	PGconn *conn;
	bool schema_ready;
	int64_t last_retention_us;
	char err[512];
} Writer;

static void *store_main(void *arg);
static bool store_write(Writer *w, const FleetBatch *b);
static bool store_connect(Writer *w);
static void store_disconnect(Writer *w);
static bool store_exec(Writer *w, const char *sql, int nparams, const char *const *params,
		       long long *count);
static void store_retention(Writer *w);
static void settings_copy(Settings *dst, const StorePgSettings *src);
static void settings_free(Settings *s);
static char *subst_schema(const char *tmpl, const char *schema);
static int64_t now_wall_us(void);
static void fmt_time(char *buf, size_t len, int64_t us);

int store_pg_start(const StorePgSettings *s)
{
	pthread_mutex_lock(&g.mu);
	if (g.running) {
		pthread_mutex_unlock(&g.mu);
		return -EALREADY;
	}
	settings_free(&g.pending);
	settings_copy(&g.pending, s);
	g.settings_changed = true;
	g.stop = false;
	g.done = false;
	g.in_flight = 0;
	atomic_store(&g.up, false);
	int rc = pthread_create(&g.thread, NULL, store_main, NULL);
	g.running = rc == 0;
	pthread_mutex_unlock(&g.mu);
	return -rc;
}

void store_pg_configure(const StorePgSettings *s)
{
	pthread_mutex_lock(&g.mu);
	settings_free(&g.pending);
	settings_copy(&g.pending, s);
	g.settings_changed = true;
	pthread_mutex_unlock(&g.mu);
}

void store_pg_stop(int timeout_ms)
{
	pthread_mutex_lock(&g.mu);
	if (!g.running) {
		pthread_mutex_unlock(&g.mu);
		return;
	}
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	while ((g.batch || g.in_flight) &&
	       pthread_cond_timedwait(&g.cv, &g.mu, &until) != ETIMEDOUT)
		;
	bool stuck = g.batch || g.in_flight;
	g.stop = true;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	if (stuck) {
		/* A write that is still going on is bounded by STORE_TIMEOUT_MS: let the thread
		 * finish it alone rather than make the exit wait. */
		log_warn("stats_dsn: the last statistics were not written before the timeout");
		pthread_detach(g.thread);
	} else {
		pthread_join(g.thread, NULL);
	}
	pthread_mutex_lock(&g.mu);
	g.running = false;
	if (!stuck) {
		if (g.batch) {
			fleet_batch_free(g.batch);
			free(g.batch);
			g.batch = NULL;
		}
		settings_free(&g.pending);
	}
	pthread_mutex_unlock(&g.mu);
}

bool store_pg_submit(FleetBatch *b)
{
	pthread_mutex_lock(&g.mu);
	bool idle = g.running && !g.batch && !g.in_flight && !g.stop;
	FleetBatch *copy = idle ? malloc(sizeof(*copy)) : NULL;
	if (copy) {
		*copy = *b;
		memset(b, 0, sizeof(*b));
		g.batch = copy;
		g.in_flight = copy->gen;
		pthread_cond_broadcast(&g.cv);
	}
	pthread_mutex_unlock(&g.mu);
	return copy != NULL;
}

bool store_pg_poll(uint64_t *gen, bool *ok)
{
	pthread_mutex_lock(&g.mu);
	bool done = g.done;
	if (done) {
		*gen = g.done_gen;
		*ok = g.done_ok;
		g.done = false;
	}
	pthread_mutex_unlock(&g.mu);
	return done;
}

uint64_t store_pg_in_flight(void)
{
	pthread_mutex_lock(&g.mu);
	uint64_t gen = g.in_flight;
	pthread_mutex_unlock(&g.mu);
	return gen;
}

void store_pg_counters(StorePgCounters *out)
{
	out->rows_written = atomic_load(&g.rows_written);
	out->write_errors = atomic_load(&g.write_errors);
	out->up = atomic_load(&g.up);
}

/* ---- the thread ---- */

static void *store_main(void *arg)
{
	(void)arg;
	Writer w = {0};
	pthread_mutex_lock(&g.mu);
	for (;;) {
		while (!g.stop && !g.batch) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&g.cv, &g.mu, &until);
		}
		if (g.settings_changed) {
			bool same = w.st.dsn && g.pending.dsn &&
				    strcmp(w.st.dsn, g.pending.dsn) == 0 &&
				    strcmp(w.st.schema, g.pending.schema) == 0;
			settings_free(&w.st);
			w.st = g.pending;
			memset(&g.pending, 0, sizeof(g.pending));
			g.settings_changed = false;
			if (!same) {
				store_disconnect(&w);
				w.last_retention_us = 0;
			}
		}
		FleetBatch *b = g.batch;
		if (!b && g.stop)
			break;
		pthread_mutex_unlock(&g.mu);

		bool ok = w.st.dsn && store_write(&w, b);
		if (ok) {
			atomic_fetch_add(&g.rows_written, b->n_rows);
			atomic_store(&g.up, true);
			store_retention(&w);
		} else {
			atomic_fetch_add(&g.write_errors, 1);
			atomic_store(&g.up, false);
			log_warn(
				"stats_dsn: could not write %zu statistics rows (kept for the next "
				"flush): %s",
				b->n_rows, w.err[0] ? w.err : "not connected");
		}
		uint64_t gen = b->gen;
		fleet_batch_free(b);
		free(b);

		pthread_mutex_lock(&g.mu);
		g.batch = NULL;
		g.in_flight = 0;
		g.done = true;
		g.done_gen = gen;
		g.done_ok = ok;
		pthread_cond_broadcast(&g.cv);
	}
	pthread_mutex_unlock(&g.mu);
	store_disconnect(&w);
	settings_free(&w.st);
	return NULL;
}

/* The DDL, with @S@ for the schema (a plain identifier: config.c checks it). Concurrent CREATE
 * TABLE IF NOT EXISTS in several processes can fail on pg_type's unique index, and concurrent
 * CREATE OR REPLACE with "tuple concurrently updated": the advisory lock serializes them. */
static const char schema_sql[] =
	"SELECT pg_advisory_xact_lock(1885823346, hashtext('@S@'));\n"
	"CREATE SCHEMA IF NOT EXISTS @S@;\n"
	"CREATE TABLE IF NOT EXISTS @S@.pgsift_schema_version (version integer NOT NULL);\n"
	"INSERT INTO @S@.pgsift_schema_version SELECT 1\n"
	"  WHERE NOT EXISTS (SELECT FROM @S@.pgsift_schema_version);\n"
	"CREATE TABLE IF NOT EXISTS @S@.pgsift_instances (\n"
	"  instance text PRIMARY KEY, host text NOT NULL, pid integer NOT NULL,\n"
	"  listen_port integer NOT NULL, peer_id integer NOT NULL, version text NOT NULL,\n"
	"  started_at timestamptz NOT NULL, last_flush timestamptz NOT NULL,\n"
	"  rows_dropped bigint NOT NULL DEFAULT 0, calls_dropped bigint NOT NULL DEFAULT 0);\n"
	"CREATE TABLE IF NOT EXISTS @S@.pgsift_queries (\n"
	"  fingerprint bigint NOT NULL, database text NOT NULL, username text NOT NULL,\n"
	"  kind text NOT NULL, query text NOT NULL, columns jsonb, samples jsonb,\n"
	"  first_seen timestamptz NOT NULL, PRIMARY KEY (fingerprint, database, username));\n"
	"CREATE TABLE IF NOT EXISTS @S@.pgsift_statements (\n"
	"  instance text NOT NULL, hour timestamptz NOT NULL, fingerprint bigint NOT NULL,\n"
	"  database text NOT NULL, username text NOT NULL, application text NOT NULL,\n"
	"  calls bigint NOT NULL, errors bigint NOT NULL, timeouts bigint NOT NULL,\n"
	"  cancelled bigint NOT NULL, rows bigint NOT NULL, total_ns bigint NOT NULL,\n"
	"  min_ns bigint NOT NULL, max_ns bigint NOT NULL, first_seen timestamptz NOT NULL,\n"
	"  last_seen timestamptz NOT NULL, error_classes jsonb NOT NULL DEFAULT '{}',\n"
	"  hist_idx integer[] NOT NULL, hist_cnt bigint[] NOT NULL,\n"
	"  PRIMARY KEY (instance, hour, fingerprint, database, username, application));\n"
	"CREATE INDEX IF NOT EXISTS pgsift_statements_hour ON @S@.pgsift_statements (hour);\n"
	"CREATE TABLE IF NOT EXISTS @S@.pgsift_table_writes (\n"
	"  instance text NOT NULL, hour timestamptz NOT NULL, table_name text NOT NULL,\n"
	"  inserts bigint NOT NULL, updates bigint NOT NULL, deletes bigint NOT NULL,\n"
	"  rows bigint NOT NULL, PRIMARY KEY (instance, hour, table_name));\n"
	/* stats/histogram.c's hist_bucket_low and hist_bucket_width (64 sub-buckets per power of
	 * two, one bucket per value below 128), in numeric so that no index overflows. */
	"CREATE OR REPLACE FUNCTION @S@.pgsift_hist_low(idx integer) RETURNS numeric\n"
	"  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS\n"
	"  $f$ SELECT CASE WHEN idx < 128 THEN idx::numeric\n"
	"              ELSE (64 + idx % 64) * 2::numeric ^ (idx / 64 - 1) END $f$;\n"
	"CREATE OR REPLACE FUNCTION @S@.pgsift_hist_width(idx integer) RETURNS numeric\n"
	"  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS\n"
	"  $f$ SELECT CASE WHEN idx < 128 THEN 1::numeric ELSE 2::numeric ^ (idx / 64 - 1) END "
	"$f$;\n"
	/* hist_percentile: nearest rank, answered with the bucket's midpoint (low + width / 2 in
	 * integers); the rank computed in float8 exactly as the C code does in double. */
	"CREATE OR REPLACE FUNCTION @S@.pgsift_hist_percentile(idx integer[], cnt bigint[],\n"
	"    p float8) RETURNS numeric LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $f$\n"
	"DECLARE total numeric := 0; rnk numeric; cum numeric := 0;\n"
	"BEGIN\n"
	"  IF idx IS NULL OR cardinality(idx) = 0 THEN RETURN 0; END IF;\n"
	"  FOR i IN 1 .. cardinality(cnt) LOOP total := total + cnt[i]; END LOOP;\n"
	"  IF total = 0 THEN RETURN 0; END IF;\n"
	"  rnk := ceil(p / 100.0::float8 * total::float8);\n"
	"  IF rnk < 1 THEN rnk := 1; END IF;\n"
	"  IF rnk > total THEN rnk := total; END IF;\n"
	"  FOR i IN 1 .. cardinality(idx) LOOP\n"
	"    cum := cum + cnt[i];\n"
	"    IF cum >= rnk THEN\n"
	"      RETURN @S@.pgsift_hist_low(idx[i]) + floor(@S@.pgsift_hist_width(idx[i]) / 2);\n"
	"    END IF;\n"
	"  END LOOP;\n"
	"  RETURN @S@.pgsift_hist_low(idx[cardinality(idx)]);\n"
	"END $f$;\n"
	/* The fleet's hours: every instance and application summed, histograms merged bucket by
	 * bucket, percentiles clamped to the merged min and max as SHOW QUERIES does. */
	"CREATE OR REPLACE VIEW @S@.pgsift_hourly AS\n"
	"WITH agg AS (\n"
	"  SELECT hour, fingerprint, database, username, sum(calls)::bigint AS calls,\n"
	"         sum(errors)::bigint AS errors, sum(timeouts)::bigint AS timeouts,\n"
	"         sum(rows)::bigint AS rows, sum(total_ns) AS total_ns, min(min_ns) AS min_ns,\n"
	"         max(max_ns) AS max_ns\n"
	"  FROM @S@.pgsift_statements GROUP BY hour, fingerprint, database, username),\n"
	"buckets AS (\n"
	"  SELECT s.hour, s.fingerprint, s.database, s.username, b.idx, sum(b.cnt) AS cnt\n"
	"  FROM @S@.pgsift_statements s\n"
	"  CROSS JOIN LATERAL unnest(s.hist_idx, s.hist_cnt) AS b(idx, cnt)\n"
	"  GROUP BY s.hour, s.fingerprint, s.database, s.username, b.idx),\n"
	"hist AS (\n"
	"  SELECT hour, fingerprint, database, username, array_agg(idx ORDER BY idx) AS idx,\n"
	"         array_agg(cnt::bigint ORDER BY idx) AS cnt\n"
	"  FROM buckets GROUP BY hour, fingerprint, database, username)\n"
	"SELECT a.hour, lpad(to_hex(a.fingerprint), 16, '0') AS fingerprint, a.database,\n"
	"       a.username, q.query, a.calls, a.errors, a.timeouts, a.rows,\n"
	"       a.total_ns::float8 / 1000000::float8 AS total_ms,\n"
	"       a.total_ns::float8 / 1000000::float8 / nullif(a.calls, 0)::float8 AS mean_ms,\n"
	"       least(greatest(@S@.pgsift_hist_percentile(h.idx, h.cnt, 50), a.min_ns),\n"
	"             a.max_ns)::float8 / 1000000::float8 AS p50_ms,\n"
	"       least(greatest(@S@.pgsift_hist_percentile(h.idx, h.cnt, 95), a.min_ns),\n"
	"             a.max_ns)::float8 / 1000000::float8 AS p95_ms,\n"
	"       least(greatest(@S@.pgsift_hist_percentile(h.idx, h.cnt, 99), a.min_ns),\n"
	"             a.max_ns)::float8 / 1000000::float8 AS p99_ms,\n"
	"       a.max_ns::float8 / 1000000::float8 AS max_ms\n"
	"FROM agg a\n"
	"JOIN hist h ON h.hour = a.hour AND h.fingerprint = a.fingerprint\n"
	"           AND h.database = a.database AND h.username = a.username\n"
	"LEFT JOIN @S@.pgsift_queries q ON q.fingerprint = a.fingerprint\n"
	"           AND q.database = a.database AND q.username = a.username;\n";

char *store_pg_schema_sql(const char *schema)
{
	return subst_schema(schema_sql, schema);
}

/* A growable text buffer for the statements (grow-and-retry on snprintf). */
typedef struct Buf {
	char *p;
	size_t n, cap;
	bool oom;
} Buf;

static void buf_put(void *ctx, const char *s, size_t n)
{
	Buf *b = ctx;
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (b->n + n + 1 > cap)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void buf_str(Buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

static void buf_fmt(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_fmt(Buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		buf_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Parameter values of one statement: text kept in one arena per value (owned). */
typedef struct Params {
	char **v;
	size_t n, cap;
	bool oom;
} Params;

static void params_add(Params *p, char *v) /* takes v (NULL stays SQL NULL unless oom) */
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		char **nv = realloc(p->v, cap * sizeof(*nv));
		if (!nv) {
			p->oom = true;
			free(v);
			return;
		}
		p->v = nv;
		p->cap = cap;
	}
	p->v[p->n++] = v;
}

static void params_addf(Params *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void params_addf(Params *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL, p->oom = true;
	va_end(ap);
	params_add(p, s);
}

static void params_adds(Params *p, const char *s)
{
	char *c = s ? strdup(s) : NULL;
	if (s && !c)
		p->oom = true;
	params_add(p, c);
}

static void params_time(Params *p, int64_t us)
{
	char t[64];
	fmt_time(t, sizeof(t), us);
	params_adds(p, t);
}

static void params_reset(Params *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	p->n = 0;
}

/* One multi-row INSERT: head, then "(" row placeholders ")" per row, then tail. */
static bool store_insert(Writer *w, const char *head, const char *row_tmpl, size_t rows,
			 const char *tail, Params *p)
{
	Buf sql = {0};
	buf_str(&sql, head);
	int k = 1;
	for (size_t r = 0; r < rows; r++) {
		buf_str(&sql, r ? ",\n(" : "\n(");
		/* row_tmpl: the columns, comma-separated; in each, '$' stands for the next
		 * parameter's number ("$::bigint"); a column without one (now()) is copied */
		for (const char *t = row_tmpl; *t;) {
			const char *end = strchr(t, ',');
			size_t len = end ? (size_t)(end - t) : strlen(t);
			const char *dollar = memchr(t, '$', len);
			if (t != row_tmpl)
				buf_str(&sql, ", ");
			if (!dollar) {
				buf_put(&sql, t, len);
			} else {
				buf_put(&sql, t, (size_t)(dollar - t) + 1);
				buf_fmt(&sql, "%d", k++);
				buf_put(&sql, dollar + 1, len - (size_t)(dollar - t) - 1);
			}
			t = end ? end + 1 : t + len;
		}
		buf_str(&sql, ")");
	}
	buf_str(&sql, tail);
	bool ok = !sql.oom && !p->oom &&
		  store_exec(w, sql.p, (int)p->n, (const char *const *)p->v, NULL);
	if (sql.oom || p->oom)
		snprintf(w->err, sizeof(w->err), "out of memory");
	free(sql.p);
	params_reset(p);
	return ok;
}

static bool store_write(Writer *w, const FleetBatch *b)
{
	w->err[0] = '\0';
	if (!w->conn && !store_connect(w))
		return false;
	if (!w->schema_ready) {
		char *ddl = subst_schema(schema_sql, w->st.schema);
		Buf sql = {0};
		buf_str(&sql, "BEGIN;\n");
		buf_str(&sql, ddl ? ddl : "");
		buf_str(&sql, "COMMIT;");
		bool ok = ddl && !sql.oom && store_exec(w, sql.p, 0, NULL, NULL);
		free(ddl);
		free(sql.p);
		if (!ok) {
			if (w->conn)
				store_exec(w, "ROLLBACK", 0, NULL, NULL);
			return false;
		}
		w->schema_ready = true;
	}
	const char *S = w->st.schema;
	char head[512], tail[1024];
	Params p = {0};
	bool ok = store_exec(w, "BEGIN", 0, NULL, NULL);

	/* this instance, with what it has not been able to keep */
	if (ok) {
		params_adds(&p, w->st.instance);
		params_adds(&p, w->st.host);
		params_addf(&p, "%d", w->st.pid);
		params_addf(&p, "%d", w->st.listen_port);
		params_addf(&p, "%d", w->st.peer_id);
		params_adds(&p, PGSIFT_VERSION);
		params_time(&p, w->st.started_us);
		params_addf(&p, "%llu", (unsigned long long)b->rows_dropped);
		params_addf(&p, "%llu", (unsigned long long)b->calls_dropped);
		snprintf(head, sizeof(head),
			 "INSERT INTO %s.pgsift_instances (instance, host, pid, listen_port, "
			 "peer_id, version, started_at, last_flush, rows_dropped, calls_dropped) "
			 "VALUES",
			 S);
		snprintf(tail, sizeof(tail),
			 " ON CONFLICT (instance) DO UPDATE SET host = EXCLUDED.host, pid = "
			 "EXCLUDED.pid, listen_port = EXCLUDED.listen_port, peer_id = "
			 "EXCLUDED.peer_id, version = EXCLUDED.version, started_at = "
			 "EXCLUDED.started_at, last_flush = EXCLUDED.last_flush, rows_dropped = "
			 "EXCLUDED.rows_dropped, calls_dropped = EXCLUDED.calls_dropped");
		ok = store_insert(w, head,
				  "$::text,$::text,$::integer,$::integer,$::integer,$::text,"
				  "$::timestamptz,now(),$::bigint,$::bigint",
				  1, tail, &p);
	}

	/* the digests' texts, once */
	snprintf(head, sizeof(head),
		 "INSERT INTO %s.pgsift_queries (fingerprint, database, username, kind, query, "
		 "columns, samples, first_seen) VALUES",
		 S);
	for (size_t i = 0; ok && i < b->n_queries; i += STORE_CHUNK) {
		size_t n = b->n_queries - i < STORE_CHUNK ? b->n_queries - i : STORE_CHUNK;
		for (size_t j = i; j < i + n; j++) {
			const FleetQuery *q = &b->queries[j];
			params_addf(&p, "%lld", (long long)(int64_t)q->fingerprint);
			params_adds(&p, q->db);
			params_adds(&p, q->user);
			params_adds(&p, q->kind);
			params_adds(&p, q->text);
			params_adds(&p, q->columns);
			params_adds(&p, q->samples);
			params_time(&p, q->first_seen_us);
		}
		ok = store_insert(w, head,
				  "$::bigint,$::text,$::text,$::text,$::text,$::jsonb,$::jsonb,"
				  "$::timestamptz",
				  n, " ON CONFLICT (fingerprint, database, username) DO NOTHING",
				  &p);
	}

	/* the statement-hour rows: cumulative, so a repeated write overwrites */
	snprintf(head, sizeof(head),
		 "INSERT INTO %s.pgsift_statements (instance, hour, fingerprint, database, "
		 "username, application, calls, errors, timeouts, cancelled, rows, total_ns, "
		 "min_ns, max_ns, first_seen, last_seen, error_classes, hist_idx, hist_cnt) VALUES",
		 S);
	snprintf(
		tail, sizeof(tail),
		" ON CONFLICT (instance, hour, fingerprint, database, username, application) DO "
		"UPDATE SET calls = EXCLUDED.calls, errors = EXCLUDED.errors, timeouts = "
		"EXCLUDED.timeouts, cancelled = EXCLUDED.cancelled, rows = EXCLUDED.rows, "
		"total_ns = EXCLUDED.total_ns, min_ns = EXCLUDED.min_ns, max_ns = EXCLUDED.max_ns, "
		"first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen, error_classes "
		"= EXCLUDED.error_classes, hist_idx = EXCLUDED.hist_idx, hist_cnt = "
		"EXCLUDED.hist_cnt");
	for (size_t i = 0; ok && i < b->n_rows; i += STORE_CHUNK) {
		size_t n = b->n_rows - i < STORE_CHUNK ? b->n_rows - i : STORE_CHUNK;
		for (size_t j = i; j < i + n; j++) {
			const FleetRow *r = &b->rows[j];
			const DigestAgg *a = &r->agg;
			params_adds(&p, w->st.instance);
			params_time(&p, r->hour * US_PER_HOUR);
			params_addf(&p, "%lld", (long long)(int64_t)r->fingerprint);
			params_adds(&p, r->db);
			params_adds(&p, r->user);
			params_adds(&p, r->app);
			params_addf(&p, "%llu", (unsigned long long)a->calls);
			params_addf(&p, "%llu", (unsigned long long)a->errors);
			params_addf(&p, "%llu", (unsigned long long)a->timeouts);
			params_addf(&p, "%llu", (unsigned long long)a->cancelled);
			params_addf(&p, "%llu", (unsigned long long)a->rows);
			params_addf(&p, "%lld", (long long)(int64_t)a->total_ns);
			params_addf(&p, "%lld", (long long)(int64_t)a->min_ns);
			params_addf(&p, "%lld", (long long)(int64_t)a->max_ns);
			params_time(&p, a->first_seen_us);
			params_time(&p, a->last_seen_us);
			Buf j1 = {0}, j2 = {0}, j3 = {0};
			buf_str(&j1, "{");
			for (uint32_t e = 0; e < a->n_err; e++)
				buf_fmt(&j1, "%s\"%.2s\": %llu", e ? ", " : "", a->err[e].cls,
					(unsigned long long)a->err[e].n);
			buf_str(&j1, "}");
			buf_str(&j2, "{");
			buf_str(&j3, "{");
			for (uint32_t k = 0; k < a->hist.n; k++) {
				buf_fmt(&j2, "%s%u", k ? "," : "", (unsigned)a->hist.idx[k]);
				buf_fmt(&j3, "%s%llu", k ? "," : "",
					(unsigned long long)a->hist.cnt[k]);
			}
			buf_str(&j2, "}");
			buf_str(&j3, "}");
			if (j1.oom || j2.oom || j3.oom)
				p.oom = true;
			params_add(&p, j1.p);
			params_add(&p, j2.p);
			params_add(&p, j3.p);
		}
		ok = store_insert(w, head,
				  "$::text,$::timestamptz,$::bigint,$::text,$::text,$::text,"
				  "$::bigint,$::bigint,$::bigint,$::bigint,$::bigint,$::bigint,"
				  "$::bigint,$::bigint,$::timestamptz,$::timestamptz,$::jsonb,"
				  "$::integer[],$::bigint[]",
				  n, tail, &p);
	}

	snprintf(head, sizeof(head),
		 "INSERT INTO %s.pgsift_table_writes (instance, hour, table_name, inserts, "
		 "updates, deletes, rows) VALUES",
		 S);
	for (size_t i = 0; ok && i < b->n_tables; i += STORE_CHUNK) {
		size_t n = b->n_tables - i < STORE_CHUNK ? b->n_tables - i : STORE_CHUNK;
		for (size_t j = i; j < i + n; j++) {
			const FleetTable *t = &b->tables[j];
			params_adds(&p, w->st.instance);
			params_time(&p, t->hour * US_PER_HOUR);
			params_adds(&p, t->name);
			params_addf(&p, "%llu", (unsigned long long)t->inserts);
			params_addf(&p, "%llu", (unsigned long long)t->updates);
			params_addf(&p, "%llu", (unsigned long long)t->deletes);
			params_addf(&p, "%llu", (unsigned long long)t->rows);
		}
		ok = store_insert(
			w, head,
			"$::text,$::timestamptz,$::text,$::bigint,$::bigint,$::bigint,"
			"$::bigint",
			n,
			" ON CONFLICT (instance, hour, table_name) DO UPDATE SET inserts = "
			"EXCLUDED.inserts, updates = EXCLUDED.updates, deletes = "
			"EXCLUDED.deletes, rows = EXCLUDED.rows",
			&p);
	}
	params_reset(&p);
	free(p.v);
	if (ok)
		ok = store_exec(w, "COMMIT", 0, NULL, NULL);
	else if (w->conn)
		store_exec(w, "ROLLBACK", 0, NULL, NULL);
	return ok;
}

static bool store_connect(Writer *w)
{
	char stmt_timeout[64];
	snprintf(stmt_timeout, sizeof(stmt_timeout), "-c statement_timeout=%d", STORE_TIMEOUT_MS);
	/* ours first: the dsn (expanded in place of dbname, last) may override any of them */
	const char *keys[] = {"connect_timeout",  "keepalives",
			      "keepalives_idle",  "keepalives_interval",
			      "keepalives_count", "tcp_user_timeout",
			      "application_name", "options",
			      "dbname",		  NULL};
	const char *vals[] = {
		"5",	      "1",	 "10", "5", "3", "10000", "pgsift stats writer",
		stmt_timeout, w->st.dsn, NULL};
	w->conn = PQconnectdbParams(keys, vals, 1);
	if (!w->conn || PQstatus(w->conn) != CONNECTION_OK) {
		snprintf(w->err, sizeof(w->err), "connect: %s",
			 w->conn ? PQerrorMessage(w->conn) : "out of memory");
		char *nl = strchr(w->err, '\n');
		if (nl)
			*nl = '\0';
		store_disconnect(w);
		return false;
	}
	PQsetnonblocking(w->conn, 1);
	log_info("stats_dsn: connected to the statistics store");
	return true;
}

static void store_disconnect(Writer *w)
{
	if (w->conn)
		PQfinish(w->conn);
	w->conn = NULL;
	w->schema_ready = false;
}

/* Remaining ms to the deadline, 0 when past. */
static int ms_left(int64_t deadline_us)
{
	int64_t left = (deadline_us - now_wall_us()) / 1000;
	return left > 0 ? (int)left : 0;
}

/*
 * One round trip (possibly several statements without parameters): sent without blocking, then
 * results read as they come, with poll() against a deadline. On an error the message is in
 * w->err; on a timeout or a broken connection the connection is dropped (the next batch
 * reconnects).
 */
static bool store_exec(Writer *w, const char *sql, int nparams, const char *const *params,
		       long long *count)
{
	if (!w->conn)
		return false;
	int64_t deadline = now_wall_us() + (int64_t)STORE_TIMEOUT_MS * 1000 + 2000000;
	int sent = nparams ? PQsendQueryParams(w->conn, sql, nparams, NULL, params, NULL, NULL, 0) :
			     PQsendQuery(w->conn, sql);
	bool ok = sent == 1, broken = !ok;
	if (!ok)
		snprintf(w->err, sizeof(w->err), "%s", PQerrorMessage(w->conn));
	/* flush what did not fit in the socket buffer */
	while (ok) {
		int f = PQflush(w->conn);
		if (f == 0)
			break;
		struct pollfd pfd = {.fd = PQsocket(w->conn), .events = POLLOUT | POLLIN};
		if (f < 0 || poll(&pfd, 1, ms_left(deadline)) <= 0) {
			snprintf(w->err, sizeof(w->err), "%s",
				 f < 0 ? PQerrorMessage(w->conn) : "timeout sending to the store");
			ok = false;
			broken = true;
		}
		if (pfd.revents & POLLIN)
			PQconsumeInput(w->conn);
	}
	while (sent == 1 && !broken) {
		while (PQisBusy(w->conn)) {
			struct pollfd pfd = {.fd = PQsocket(w->conn), .events = POLLIN};
			int pr = poll(&pfd, 1, ms_left(deadline));
			if (pr <= 0 || !PQconsumeInput(w->conn)) {
				snprintf(w->err, sizeof(w->err), "%s",
					 pr <= 0 ? "no answer from the store within the timeout" :
						   PQerrorMessage(w->conn));
				ok = false;
				broken = true;
				break;
			}
		}
		if (broken)
			break;
		PGresult *res = PQgetResult(w->conn);
		if (!res)
			break;
		ExecStatusType s = PQresultStatus(res);
		if (count && s == PGRES_COMMAND_OK)
			*count = atoll(PQcmdTuples(res));
		if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && ok) {
			snprintf(w->err, sizeof(w->err), "%s", PQresultErrorMessage(res));
			ok = false;
		}
		PQclear(res);
	}
	char *nl = strchr(w->err, '\n');
	if (nl)
		*nl = '\0';
	if (broken || PQstatus(w->conn) != CONNECTION_OK)
		store_disconnect(w);
	return ok;
}

/* Deletes the hours older than stats_retention, STORE_RETENTION_BATCH rows per statement (short
 * locks, bounded WAL per statement), at most every ten minutes. */
static void store_retention(Writer *w)
{
	int64_t now = now_wall_us();
	if (!w->conn || !w->st.retention_ms ||
	    (w->last_retention_us && now - w->last_retention_us < STORE_RETENTION_EVERY_US))
		return;
	w->last_retention_us = now;
	char cutoff[64];
	fmt_time(cutoff, sizeof(cutoff), now - (int64_t)w->st.retention_ms * 1000);
	const char *tables[] = {"pgsift_statements", "pgsift_table_writes"};
	for (int t = 0; t < 2; t++) {
		char sql[512];
		snprintf(sql, sizeof(sql),
			 "DELETE FROM %s.%s WHERE ctid = ANY (ARRAY(SELECT ctid FROM %s.%s WHERE "
			 "hour < $1::timestamptz ORDER BY hour LIMIT %d))",
			 w->st.schema, tables[t], w->st.schema, tables[t], STORE_RETENTION_BATCH);
		const char *params[] = {cutoff};
		for (int round = 0; round < STORE_RETENTION_MAX_ROUNDS && w->conn; round++) {
			long long deleted = 0;
			if (!store_exec(w, sql, 1, params, &deleted)) {
				log_warn("stats_dsn: retention: %s", w->err);
				return;
			}
			if (deleted < STORE_RETENTION_BATCH)
				break;
		}
	}
}

static void settings_copy(Settings *dst, const StorePgSettings *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->dsn = src->dsn ? strdup(src->dsn) : NULL;
	dst->schema = strdup(src->schema ? src->schema : "pgsift");
	dst->instance = strdup(src->instance ? src->instance : "");
	dst->host = strdup(src->host ? src->host : "");
	dst->pid = src->pid;
	dst->listen_port = src->listen_port;
	dst->peer_id = src->peer_id;
	dst->started_us = src->started_us;
	dst->retention_ms = src->retention_ms;
}

static void settings_free(Settings *s)
{
	free(s->dsn);
	free(s->schema);
	free(s->instance);
	free(s->host);
	memset(s, 0, sizeof(*s));
}

static char *subst_schema(const char *tmpl, const char *schema)
{
	Buf b = {0};
	size_t sl = strlen(schema);
	for (const char *p = tmpl;;) {
		const char *at = strstr(p, "@S@");
		if (!at) {
			buf_str(&b, p);
			break;
		}
		buf_put(&b, p, (size_t)(at - p));
		buf_put(&b, schema, sl);
		p = at + 3;
	}
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

static int64_t now_wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* us since the epoch as a timestamptz literal in UTC, to the microsecond. */
static void fmt_time(char *buf, size_t len, int64_t us)
{
	time_t s = (time_t)(us / 1000000);
	int64_t frac = us % 1000000;
	if (frac < 0) {
		frac += 1000000;
		s--;
	}
	struct tm tm;
	gmtime_r(&s, &tm);
	snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d.%06lld+00", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)frac);
}
