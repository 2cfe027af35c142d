/*
 * test_stats_worker: the statistics module as the proxy uses it — stats_start / stats_submit /
 * stats_stop with the real parser behind the worker. Multi-statement events, one row for the
 * simple and extended forms of a statement, the slow-query log's exact content, the
 * log_parameters switch, the stats file across a restart and offline, a corrupt file at start,
 * RESET STATS, the counters for /metrics, and pgBadger reading the slow log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parser/shape.h"
#include "stats/stats.h"
#include "tests/unit/test_stats_json.h"

/* 2026-11-25 10:38:35.123456 UTC */
#define T0 1795603115123456LL
#define HOUR 3600000000LL
#define MS 1000000ULL

static char dir[256];
static char slow_path[512], stats_path[512];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pgsift-test-statsw-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(slow_path, sizeof(slow_path), "%s/slow.json", dir);
	snprintf(stats_path, sizeof(stats_path), "%s/stats.bin", dir);
	return 0;
}

static void clear_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[800];
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (unlink(p) < 0 && errno == EISDIR) {
			char cmd[900];
			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p);
			if (system(cmd) != 0)
				fprintf(stderr, "cannot remove %s\n", p);
		}
	}
	if (d)
		closedir(d);
}

static int teardown(void **state)
{
	(void)state;
	if (getenv("KEEP_DIR"))
		return 0;
	clear_dir();
	return rmdir(dir);
}

static int per_test_clean(void **state)
{
	(void)state;
	stats_stop();
	if (!getenv("KEEP_DIR"))
		clear_dir();
	return 0;
}

static Config base_config(void)
{
	Config c;
	memset(&c, 0, sizeof(c));
	c.slow_query_ms = -1;
	c.stats_flush_interval = 60000;
	c.stats_retention = 14ULL * 24 * 3600 * 1000;
	c.max_fingerprints = 10000;
	c.parser_cache_bytes = 8u << 20;
	c.query_text_max = 4096;
	c.stats_queue_size = 4096;
	return c;
}

static StatsEvent ev_query(const char *text, uint16_t idx, uint64_t dur_ns, int64_t wall)
{
	StatsEvent e = {
		.kind = SE_QUERY,
		.stmt_index = idx,
		.rows = 1,
		.duration_ns = dur_ns,
		.end_wall_us = wall,
		.text = text,
		.text_len = (uint32_t)strlen(text),
		.db = "shop",
		.user = "alice",
		.app = "test",
		.client_addr = "127.0.0.1",
		.client_port = 50000,
	};
	return e;
}

static const StatsQueryRow *row_by_query(const StatsQueries *q, const char *text)
{
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->rows[i].query, text) == 0)
			return &q->rows[i];
	return NULL;
}

static void print_rows(const StatsQueries *q)
{
	for (size_t i = 0; i < q->n; i++)
		print_message("  %s calls=%llu total=%.3f %s\n", q->rows[i].fingerprint,
			      (unsigned long long)q->rows[i].calls, q->rows[i].total_ms,
			      q->rows[i].query);
}

typedef struct SampleSeen {
	size_t update_samples, select_samples, one_samples;
	char update_text[128];
	char select_params[16];
	uint32_t select_params_len;
} SampleSeen;

static bool see_samples(void *arg, const StatsDigestView *d)
{
	SampleSeen *s = arg;
	if (d->kind == SK_UPDATE) {
		s->update_samples = d->n_samples;
		if (d->n_samples && d->samples[0].text)
			snprintf(s->update_text, sizeof(s->update_text), "%s", d->samples[0].text);
	} else if (strcmp(d->query, "SELECT $1") == 0) {
		s->one_samples = d->n_samples;
	} else if (d->kind == SK_SELECT) {
		s->select_samples = d->n_samples;
		if (d->n_samples && d->samples[0].params) {
			s->select_params_len = d->samples[0].params_len;
			snprintf(s->select_params, sizeof(s->select_params), "%s",
				 d->samples[0].params);
		}
	}
	return true;
}

static void test_stats_worker_multi_statement(void **state)
{
	(void)state;
	Config c = base_config();
	assert_int_equal(stats_start(&c), 0);
	const char *multi = "SELECT 1; UPDATE items SET qty = 2 WHERE id = 3; "
			    "select * from users where name = 'bob'";
	assert_true(stats_submit(&(StatsEvent){0}) || true); /* an empty event is harmless */
	StatsEvent e;
	e = ev_query(multi, 0, 1 * MS, T0);
	assert_true(stats_submit(&e));
	e = ev_query(multi, 1, 20 * MS, T0 + 1);
	e.rows = 7;
	assert_true(stats_submit(&e));
	e = ev_query(multi, 2, 300 * MS, T0 + 2);
	e.rows = 0;
	assert_true(stats_submit(&e));
	/* the same statements alone, other constants */
	e = ev_query("UPDATE items SET qty = 9 WHERE id = 44", 0, 40 * MS, T0 + 3);
	e.rows = 1;
	assert_true(stats_submit(&e));
	e = ev_query("SELECT * FROM users WHERE name = $1", 0, 100 * MS, T0 + 4);
	e.kind = SE_EXECUTE;
	e.params = "carol";
	e.params_len = 6;
	e.n_params = 1;
	assert_true(stats_submit(&e));
	assert_true(stats_sync(10000));
	StatsQueries q;
	assert_int_equal(stats_snapshot_queries(0, &q), 0);
	print_rows(&q);
	const StatsQueryRow *upd = row_by_query(&q, "UPDATE items SET qty = $1 WHERE id = $2");
	const StatsQueryRow *sel = row_by_query(&q, "select * from users where name = $1");
	const StatsQueryRow *one = row_by_query(&q, "SELECT $1");
	assert_non_null(upd);
	assert_non_null(sel);
	assert_non_null(one);
	assert_int_equal(upd->calls, 2);
	assert_int_equal(upd->rows, 8);
	assert_true(fabs(upd->total_ms - 60.0) < 1e-9);
	assert_int_equal(upd->kind, SK_UPDATE);
	assert_int_equal(sel->calls, 2); /* simple with a literal and extended with $1: one row */
	assert_true(fabs(sel->total_ms - 400.0) < 1e-9);
	assert_int_equal(sel->kind, SK_SELECT);
	assert_int_equal(one->calls, 1);
	/* sorted by total time */
	assert_ptr_equal(&q.rows[0], sel);
	assert_ptr_equal(&q.rows[1], upd);
	/* the fingerprint is 16 hex digits */
	assert_int_equal(strlen(upd->fingerprint), 16);
	assert_int_equal(strspn(upd->fingerprint, "0123456789abcdef"), 16);
	stats_queries_free(&q);

	/* sampled executions for the advisor: a statement's own text, never a multi-statement
	 * message; an Execute's parameters */
	StatsStore *st;
	assert_int_equal(stats_snapshot_store(&st), 0);
	SampleSeen ss = {0};
	stats_store_foreach(st, 0, see_samples, &ss);
	assert_int_equal(ss.update_samples, 1);
	assert_string_equal(ss.update_text, "UPDATE items SET qty = 9 WHERE id = 44");
	assert_int_equal(ss.select_samples, 1);
	assert_int_equal(ss.select_params_len, 6);
	assert_string_equal(ss.select_params, "carol");
	assert_int_equal(ss.one_samples, 0);
	stats_store_free(st);

	StatsCounters cnt;
	assert_int_equal(stats_counters(&cnt), 0);
	assert_int_equal(cnt.events_submitted, 6);
	assert_int_equal(cnt.events_processed, 6);
	assert_int_equal(cnt.events_dropped, 0);
	stats_counters_free(&cnt);
	stats_stop();
}

static void test_stats_worker_errors_timeouts_counters(void **state)
{
	(void)state;
	Config c = base_config();
	assert_int_equal(stats_start(&c), 0);
	/* durations 0.4 ms, 3 ms, 30 ms, 2 s; two databases */
	const uint64_t dur[] = {400000, 3 * MS, 30 * MS, 2000 * MS};
	for (int i = 0; i < 8; i++) {
		StatsEvent e = ev_query("SELECT pg_sleep(1)", 0, dur[i % 4], T0 + i);
		e.db = i < 6 ? "shop" : "crm";
		if (i == 1)
			memcpy(e.sqlstate, "22012", 6);
		if (i == 2) {
			memcpy(e.sqlstate, "57014", 6);
			e.timed_out = true;
		}
		if (i == 3) {
			memcpy(e.sqlstate, "57014", 6);
			e.cancelled = true;
		}
		if (i == 7)
			memcpy(e.sqlstate, "22P02", 6);
		assert_true(stats_submit(&e));
	}
	assert_true(stats_sync(10000));
	StatsQueries q;
	assert_int_equal(stats_snapshot_queries(0, &q), 0);
	assert_int_equal(q.n, 2); /* per (fingerprint, database, user) */
	const StatsQueryRow *shop =
		strcmp(q.rows[0].database, "shop") == 0 ? &q.rows[0] : &q.rows[1];
	assert_int_equal(shop->calls, 6);
	assert_int_equal(shop->errors, 3);
	assert_int_equal(shop->timeouts, 1);
	assert_int_equal(shop->cancelled, 1);
	assert_int_equal(shop->n_error_classes, 2);
	assert_string_equal(shop->error_classes[0].cls, "22");
	assert_int_equal(shop->error_classes[0].count, 1);
	assert_string_equal(shop->error_classes[1].cls, "57");
	assert_int_equal(shop->error_classes[1].count, 2);
	assert_true(fabs(shop->min_ms - 0.4) < 1e-9);
	assert_true(fabs(shop->max_ms - 2000) < 1e-9);
	stats_queries_free(&q);

	StatsCounters cnt;
	assert_int_equal(stats_counters(&cnt), 0);
	assert_int_equal(cnt.queries, 8);
	assert_int_equal(cnt.errors, 4);
	assert_int_equal(cnt.timeouts, 1);
	assert_int_equal(cnt.cancelled, 1);
	assert_int_equal(cnt.n_dbs, 2);
	assert_string_equal(cnt.dbs[0].database, "crm");
	assert_int_equal(cnt.dbs[0].queries, 2);
	assert_int_equal(cnt.dbs[0].errors, 1);
	assert_string_equal(cnt.dbs[1].database, "shop");
	assert_int_equal(cnt.dbs[1].queries, 6);
	assert_int_equal(cnt.dbs[1].errors, 3);
	assert_int_equal(cnt.dbs[1].timeouts, 1);
	/* Prometheus buckets: <=0.5ms: 2, <=5ms: 4, <=50ms: 6, <=2.5s: 8, +Inf: 8 */
	assert_true(stats_latency_bounds_s[0] == 0.0005);
	assert_int_equal(cnt.latency_cum[0], 2);  /* 0.0005 */
	assert_int_equal(cnt.latency_cum[1], 2);  /* 0.001 */
	assert_int_equal(cnt.latency_cum[3], 4);  /* 0.005 */
	assert_int_equal(cnt.latency_cum[6], 6);  /* 0.05 */
	assert_int_equal(cnt.latency_cum[10], 6); /* 1 */
	assert_int_equal(cnt.latency_cum[11], 8); /* 2.5 */
	assert_int_equal(cnt.latency_cum[STATS_LATENCY_BUCKETS], 8);
	assert_true(fabs(cnt.latency_sum_s - 2 * (0.0004 + 0.003 + 0.03 + 2.0)) < 1e-9);
	assert_int_equal(cnt.fingerprints, 2);
	stats_counters_free(&cnt);

	/* RESET STATS: digests and SHOW SLOW go, monotonic counters stay */
	stats_reset();
	assert_int_equal(stats_snapshot_queries(0, &q), 0);
	assert_int_equal(q.n, 0);
	stats_queries_free(&q);
	StatsEvent e = ev_query("SELECT 2", 0, MS, T0 + 10);
	assert_true(stats_submit(&e));
	assert_true(stats_sync(10000));
	assert_int_equal(stats_snapshot_queries(0, &q), 0);
	assert_int_equal(q.n, 1);
	assert_int_equal(q.rows[0].calls, 1);
	stats_queries_free(&q);
	assert_int_equal(stats_counters(&cnt), 0);
	assert_int_equal(cnt.queries, 9);
	stats_counters_free(&cnt);
	stats_stop();
}

static void test_stats_worker_hour_window(void **state)
{
	(void)state;
	Config c = base_config();
	assert_int_equal(stats_start(&c), 0);
	int64_t h0 = (T0 / HOUR) * HOUR;
	/* 24 hours x (hour index + 1) calls, injected through end_wall_us */
	for (int h = 0; h < 24; h++)
		for (int k = 0; k <= h; k++) {
			StatsEvent e = ev_query("SELECT * FROM t WHERE a = 1", 0, MS,
						h0 - (23 - h) * HOUR + k * 1000);
			assert_true(stats_submit(&e));
		}
	assert_true(stats_sync(10000));
	StatsQueries q;
	/* --since 7h at an hour mark: the last 7 hours, 18+19+...+24 calls */
	assert_int_equal(stats_snapshot_queries(h0 - 6 * HOUR, &q), 0);
	assert_int_equal(q.rows[0].calls, 18 + 19 + 20 + 21 + 22 + 23 + 24);
	stats_queries_free(&q);
	/* a since in the middle of an hour counts that whole hour */
	assert_int_equal(stats_snapshot_queries(h0 - 6 * HOUR + HOUR / 2, &q), 0);
	assert_int_equal(q.rows[0].calls, 18 + 19 + 20 + 21 + 22 + 23 + 24);
	stats_queries_free(&q);
	assert_int_equal(stats_snapshot_queries(0, &q), 0);
	assert_int_equal(q.rows[0].calls, 24 * 25 / 2);
	stats_queries_free(&q);
	stats_stop();
}

static size_t read_lines(const char *path, char ***out)
{
	FILE *f = fopen(path, "r");
	*out = NULL;
	if (!f)
		return 0;
	size_t n = 0;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		*out = realloc(*out, (n + 1) * sizeof(**out));
		(*out)[n++] = strdup(line);
	}
	free(line);
	fclose(f);
	return n;
}

static void free_lines(char **lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

static bool file_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return memmem(buf, n, needle, strlen(needle)) != NULL;
}

static void test_stats_worker_slow_log(void **state)
{
	(void)state;
	Config c = base_config();
	c.slow_query_ms = 100;
	c.slow_query_log = slow_path;
	c.stats_file = stats_path;
	assert_int_equal(stats_start(&c), 0);
	struct {
		const char *text;
		uint64_t dur;
	} evs[] = {
		{"SELECT * FROM orders WHERE secret = 'secret-literal-42'", 100 * MS - 1},
		{"SELECT * FROM orders WHERE secret = 'secret-literal-43'", 100 * MS},
		{"UPDATE orders SET note = 'x\"y\\\\z' WHERE id = 777", 150 * MS + 123456},
		{"SELECT 1", 5 * MS},
	};
	for (int i = 0; i < 4; i++) {
		StatsEvent e = ev_query(evs[i].text, 0, evs[i].dur, T0 + i * 1000);
		e.session_id = "6763a1b2.1f2";
		e.rows = (uint64_t)i;
		assert_true(stats_submit(&e));
	}
	assert_true(stats_sync(10000));
	char **lines;
	size_t n = read_lines(slow_path, &lines);
	assert_int_equal(n, 2); /* exactly the statements at or over the threshold */
	const char *keys[] = {
		"timestamp",   "user",	      "dbname",		"pid",	   "remote_host",
		"remote_port", "session_id",  "error_severity", "message", "application_name",
		"fingerprint", "duration_ms", "query",		"rows",	   "sqlstate",
		"timed_out"};
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	const char *want[2][16] = {
		{"2026-11-25 10:38:35.124 UTC", "alice", "shop", pid, "127.0.0.1", "50000",
		 "6763a1b2.1f2", "LOG",
		 "duration: 100.000 ms  statement: SELECT * FROM orders WHERE secret = $1", "test",
		 NULL, "100.000000", "SELECT * FROM orders WHERE secret = $1", "1", "00000",
		 "false"},
		{"2026-11-25 10:38:35.125 UTC", "alice", "shop", pid, "127.0.0.1", "50000",
		 "6763a1b2.1f2", "LOG",
		 "duration: 150.123 ms  statement: UPDATE orders SET note = $1 WHERE id = $2",
		 "test", NULL, "150.123456", "UPDATE orders SET note = $1 WHERE id = $2", "2",
		 "00000", "false"},
	};
	StatsQueries q;
	assert_int_equal(stats_snapshot_queries(0, &q), 0);
	for (size_t i = 0; i < 2; i++) {
		TjObject o;
		assert_true(tj_parse(lines[i], &o));
		assert_int_equal(o.n, 16);
		for (size_t k = 0; k < 16; k++) {
			assert_string_equal(o.keys[k], keys[k]);
			if (want[i][k])
				assert_string_equal(o.values[k], want[i][k]);
		}
		/* the fingerprint is the one SHOW QUERIES shows for that text */
		const StatsQueryRow *r = row_by_query(&q, want[i][12]);
		assert_non_null(r);
		assert_string_equal(tj_get(&o, "fingerprint"), r->fingerprint);
		tj_free(&o);
	}
	stats_queries_free(&q);
	free_lines(lines, n);

	StatsSlowList slow;
	assert_int_equal(stats_snapshot_slow(0, &slow), 0);
	assert_int_equal(slow.n, 2);
	assert_string_equal(slow.rows[0].query, "UPDATE orders SET note = $1 WHERE id = $2");
	assert_true(fabs(slow.rows[0].duration_ms - 150.123456) < 1e-9);
	assert_int_equal(slow.rows[0].rows, 2);
	assert_string_equal(slow.rows[1].query, "SELECT * FROM orders WHERE secret = $1");
	assert_string_equal(slow.rows[1].client_addr, "127.0.0.1");
	stats_slow_free(&slow);
	assert_int_equal(stats_snapshot_slow(1, &slow), 0);
	assert_int_equal(slow.n, 1);
	stats_slow_free(&slow);

	StatsCounters cnt;
	stats_counters(&cnt);
	assert_int_equal(cnt.slow_queries, 2);
	assert_int_equal(cnt.slow_logged, 2);
	assert_int_equal(cnt.slow_dropped, 0);
	stats_counters_free(&cnt);
	stats_stop();
	/* log_parameters off: no literal anywhere, neither in the slow log nor in stats_file */
	assert_false(file_contains(slow_path, "secret-literal"));
	assert_false(file_contains(stats_path, "secret-literal"));
	assert_false(file_contains(stats_path, "777"));
	assert_true(file_contains(stats_path, "SELECT * FROM orders WHERE secret = $1"));
}

static void test_stats_worker_log_parameters(void **state)
{
	(void)state;
	Config c = base_config();
	c.slow_query_ms = 0;
	c.slow_query_log = slow_path;
	c.log_parameters = true;
	assert_int_equal(stats_start(&c), 0);
	StatsEvent e = ev_query("SELECT * FROM t WHERE k = 'lit-1'", 0, 2 * MS, T0);
	assert_true(stats_submit(&e));
	e = ev_query("SELECT * FROM t WHERE k = $1", 0, 3 * MS, T0 + 1);
	e.kind = SE_EXECUTE;
	e.params = "lit-2";
	e.params_len = 6;
	e.n_params = 1;
	assert_true(stats_submit(&e));
	assert_true(stats_sync(10000));
	stats_stop();
	char **lines;
	size_t n = read_lines(slow_path, &lines);
	assert_int_equal(n, 2);
	TjObject o;
	assert_true(tj_parse(lines[0], &o));
	assert_string_equal(tj_get(&o, "query"), "SELECT * FROM t WHERE k = 'lit-1'");
	assert_string_equal(tj_get(&o, "message"),
			    "duration: 2.000 ms  statement: SELECT * FROM t WHERE k = 'lit-1'");
	assert_null(tj_get(&o, "detail"));
	tj_free(&o);
	assert_true(tj_parse(lines[1], &o));
	assert_string_equal(tj_get(&o, "message"),
			    "duration: 3.000 ms  execute <unnamed>: SELECT * FROM t WHERE k = $1");
	assert_string_equal(tj_get(&o, "detail"), "parameters: $1 = 'lit-2'");
	tj_free(&o);
	free_lines(lines, n);
}

typedef struct Seen {
	int digests;
	int with_shape;
	uint64_t calls;
	char update_query[128];
	int tables;
	uint64_t updates, inserts, rows;
	size_t samples;
} Seen;

static bool see_digest(void *arg, const StatsDigestView *d)
{
	Seen *s = arg;
	s->digests++;
	s->calls += d->calls;
	s->with_shape += d->shape != NULL;
	if (d->kind == SK_UPDATE) {
		snprintf(s->update_query, sizeof(s->update_query), "%s", d->query);
		assert_non_null(d->shape);
		assert_true(d->shape->n_tables >= 1);
		assert_string_equal(shape_str(d->shape, shape_tables(d->shape)[0].name), "items");
	}
	s->samples += d->n_samples;
	return true;
}

static bool see_table(void *arg, const StatsTableView *t)
{
	Seen *s = arg;
	s->tables++;
	if (strcmp(t->table, "items") == 0) {
		s->updates += t->updates;
		s->inserts += t->inserts;
		s->rows += t->rows;
	}
	return true;
}

static void test_stats_worker_persist_restart_and_offline(void **state)
{
	(void)state;
	Config c = base_config();
	c.stats_file = stats_path;
	assert_int_equal(stats_start(&c), 0);
	int64_t h0 = (T0 / HOUR) * HOUR;
	for (int i = 0; i < 30; i++) {
		StatsEvent e = ev_query(i % 3 == 0 ? "UPDATE items SET qty = 1 WHERE id = 2" :
					i % 3 == 1 ? "INSERT INTO items (id, qty) VALUES (5, 6)" :
						     "SELECT qty FROM items WHERE id = 9",
					0, (uint64_t)(i + 1) * MS, h0 - (i % 10) * HOUR);
		e.rows = 2;
		assert_true(stats_submit(&e));
	}
	assert_true(stats_sync(10000));
	StatsQueries before;
	assert_int_equal(stats_snapshot_queries(0, &before), 0);
	assert_int_equal(before.n, 3);
	stats_stop(); /* flushes */
	assert_int_equal(access(stats_path, F_OK), 0);

	/* offline: no worker */
	StatsStore *st;
	char err[256];
	assert_int_equal(stats_store_load(stats_path, &st, err, sizeof(err)), 0);
	Seen seen = {0};
	assert_int_equal(stats_store_foreach(st, 0, see_digest, &seen), 3);
	assert_int_equal(seen.calls, 30);
	assert_int_equal(seen.with_shape, 3);
	assert_string_equal(seen.update_query, "UPDATE items SET qty = $1 WHERE id = $2");
	assert_int_equal(seen.samples, 0); /* log_parameters off: not in the file */
	assert_int_equal(stats_store_foreach_table(st, 0, see_table, &seen), 1);
	assert_int_equal(seen.updates, 10);
	assert_int_equal(seen.inserts, 10);
	assert_int_equal(seen.rows, 40);
	/* a window: hours -4..0 hold i % 10 in 0..4, i.e. 15 events, 5 updates and 5 inserts */
	Seen win = {0};
	stats_store_foreach(st, h0 - 4 * HOUR, see_digest, &win);
	assert_int_equal(win.calls, 15);
	stats_store_foreach_table(st, h0 - 4 * HOUR, see_table, &win);
	assert_int_equal(win.updates, 5);
	assert_int_equal(win.inserts, 5);
	stats_store_free(st);

	/* restart: the same rows */
	assert_int_equal(stats_start(&c), 0);
	StatsQueries after;
	assert_int_equal(stats_snapshot_queries(0, &after), 0);
	assert_int_equal(after.n, before.n);
	for (size_t i = 0; i < before.n; i++) {
		assert_string_equal(after.rows[i].fingerprint, before.rows[i].fingerprint);
		assert_string_equal(after.rows[i].query, before.rows[i].query);
		assert_int_equal(after.rows[i].calls, before.rows[i].calls);
		assert_true(after.rows[i].total_ms == before.rows[i].total_ms);
		assert_true(after.rows[i].p95_ms == before.rows[i].p95_ms);
		assert_int_equal(after.rows[i].first_seen_us, before.rows[i].first_seen_us);
	}
	stats_queries_free(&after);
	stats_queries_free(&before);

	/* the live copy for the advisor keeps samples and shapes */
	assert_int_equal(stats_snapshot_store(&st), 0);
	StatsEvent e = ev_query("UPDATE items SET qty = 1 WHERE id = 2", 0, MS, T0);
	stats_submit(&e);
	Seen live = {0};
	assert_int_equal(stats_store_foreach(st, 0, see_digest, &live), 3);
	assert_int_equal(live.with_shape, 3);
	stats_store_free(st);
	stats_stop();
	/* no temporary file left next to it */
	DIR *d = opendir(dir);
	struct dirent *de;
	while ((de = readdir(d)))
		assert_null(strstr(de->d_name, ".tmp"));
	closedir(d);
}

static void test_stats_worker_corrupt_file_set_aside(void **state)
{
	(void)state;
	Config c = base_config();
	c.stats_file = stats_path;
	/* a good file, then truncated */
	assert_int_equal(stats_start(&c), 0);
	StatsEvent e = ev_query("SELECT 42", 0, MS, T0);
	stats_submit(&e);
	assert_true(stats_sync(10000));
	stats_stop();
	struct stat sb;
	assert_int_equal(stat(stats_path, &sb), 0);
	assert_int_equal(truncate(stats_path, sb.st_size - 3), 0);
	assert_int_equal(stats_start(&c), 0);
	StatsQueries q;
	assert_int_equal(stats_snapshot_queries(0, &q), 0);
	assert_int_equal(q.n, 0); /* started clean */
	stats_queries_free(&q);
	assert_int_equal(access(stats_path, F_OK), -1);
	int aside = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while ((de = readdir(d)))
		aside += strncmp(de->d_name, "stats.bin.corrupt-", 18) == 0;
	closedir(d);
	assert_int_equal(aside, 1);
	stats_stop(); /* writes a fresh, valid file */
	StatsStore *st;
	char err[128];
	assert_int_equal(stats_store_load(stats_path, &st, err, sizeof(err)), 0);
	stats_store_free(st);
	/* garbage */
	FILE *f = fopen(stats_path, "w");
	fputs("this is not a stats file at all, but long enough to have a header", f);
	fclose(f);
	assert_int_equal(stats_store_load(stats_path, &st, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "not a pgsift stats file");
	assert_int_equal(stats_start(&c), 0);
	assert_int_equal(access(stats_path, F_OK), -1);
	stats_stop();
}

static void test_stats_worker_queue_full_counted(void **state)
{
	(void)state;
	Config c = base_config();
	c.stats_queue_size = 1; /* the smallest ring: 4 KiB */
	assert_int_equal(stats_start(&c), 0);
	uint64_t ok = 0, attempts = 200000;
	for (uint64_t i = 0; i < attempts; i++) {
		StatsEvent e = ev_query("SELECT * FROM t WHERE id = 1", 0, MS, T0);
		ok += stats_submit(&e);
	}
	assert_true(stats_sync(20000));
	StatsCounters cnt;
	stats_counters(&cnt);
	assert_int_equal(cnt.events_submitted, ok);
	assert_int_equal(cnt.events_dropped, attempts - ok);
	assert_int_equal(stats_dropped(), attempts - ok);
	assert_int_equal(cnt.events_processed, ok);
	stats_counters_free(&cnt);
	StatsQueries q;
	stats_snapshot_queries(0, &q);
	assert_int_equal(q.rows[0].calls, ok);
	stats_queries_free(&q);
	print_message("  %llu of %llu submitted, %llu dropped\n", (unsigned long long)ok,
		      (unsigned long long)attempts, (unsigned long long)(attempts - ok));
	stats_stop();
}

static void test_stats_worker_reload_reopens_slow_log(void **state)
{
	(void)state;
	Config c = base_config();
	c.slow_query_ms = 0;
	c.slow_query_log = slow_path;
	c.slow_query_log_max_per_sec = 1;
	assert_int_equal(stats_start(&c), 0);
	for (int i = 0; i < 3; i++) {
		StatsEvent e = ev_query("SELECT 1", 0, MS, T0 + i); /* same second */
		stats_submit(&e);
	}
	assert_true(stats_sync(10000));
	char moved[600];
	snprintf(moved, sizeof(moved), "%s.1", slow_path);
	assert_int_equal(rename(slow_path, moved), 0);
	stats_reload(&c);
	StatsEvent e = ev_query("SELECT 1", 0, MS, T0 + 5000000);
	stats_submit(&e);
	assert_true(stats_sync(10000));
	StatsCounters cnt;
	stats_counters(&cnt);
	assert_int_equal(cnt.slow_logged, 2);
	assert_int_equal(cnt.slow_dropped, 2);
	stats_counters_free(&cnt);
	stats_stop();
	char **lines;
	size_t n = read_lines(moved, &lines);
	assert_int_equal(n, 1);
	free_lines(lines, n);
	n = read_lines(slow_path, &lines);
	assert_int_equal(n, 1);
	free_lines(lines, n);
}

/* pgBadger, given the slow log with -f jsonlog, reports each statement with its duration. */
static void test_stats_worker_pgbadger_reads_slow_log(void **state)
{
	(void)state;
	if (access("/usr/bin/pgbadger", X_OK) != 0)
		skip();
	Config c = base_config();
	c.slow_query_ms = 10;
	c.slow_query_log = slow_path;
	assert_int_equal(stats_start(&c), 0);
	/* 3 slow runs of the select (20, 40, 60 ms), 1 of the update (1234.5 ms), 1 fast */
	const uint64_t sel[] = {20 * MS, 40 * MS, 60 * MS};
	for (int i = 0; i < 3; i++) {
		StatsEvent e = ev_query("SELECT * FROM accounts WHERE id = 17", 0, sel[i],
					T0 + i * 1000000);
		stats_submit(&e);
	}
	StatsEvent e = ev_query("UPDATE accounts SET balance = 0 WHERE id = 3", 0, 1234500000ULL,
				T0 + 4000000);
	stats_submit(&e);
	e = ev_query("SELECT 1", 0, 1 * MS, T0 + 5000000);
	stats_submit(&e);
	assert_true(stats_sync(10000));
	stats_stop();
	char out[600], cmd[2000];
	snprintf(out, sizeof(out), "%s/badger.txt", dir);
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/pgbadger -q -f jsonlog -x text -o '%s' '%s' >'%s/badger.err' 2>&1", out,
		 slow_path, dir);
	int rc = system(cmd);
	if (rc != 0) {
		snprintf(cmd, sizeof(cmd), "cat '%s/badger.err'", dir);
		if (system(cmd) != 0)
			print_error("pgbadger failed\n");
	}
	assert_int_equal(rc, 0);
	FILE *f = fopen(out, "r");
	assert_non_null(f);
	static char report[1 << 20];
	size_t n = fread(report, 1, sizeof(report) - 1, f);
	report[n] = '\0';
	fclose(f);
	/* the totals, and each statement with its count and min/max/avg durations, as pgBadger's
	 * text report writes them ("Queries that took up the most time") */
	bool ok =
		strstr(report, "Number of queries: 4\n") &&
		strstr(report, "Total query duration: 1s354ms\n") &&
		strstr(report, "1) 1s234ms - 1 - 1s234ms/1s234ms/1s234ms - UPDATE accounts SET "
			       "balance =") &&
		strstr(report, "2) 120ms - 3 - 20ms/60ms/40ms - select * from accounts where id =");
	if (!ok)
		print_error("%s\n", report);
	assert_true(ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_stats_worker_multi_statement, per_test_clean),
		cmocka_unit_test_teardown(test_stats_worker_errors_timeouts_counters,
					  per_test_clean),
		cmocka_unit_test_teardown(test_stats_worker_hour_window, per_test_clean),
		cmocka_unit_test_teardown(test_stats_worker_slow_log, per_test_clean),
		cmocka_unit_test_teardown(test_stats_worker_log_parameters, per_test_clean),
		cmocka_unit_test_teardown(test_stats_worker_persist_restart_and_offline,
					  per_test_clean),
		cmocka_unit_test_teardown(test_stats_worker_corrupt_file_set_aside, per_test_clean),
		cmocka_unit_test_teardown(test_stats_worker_queue_full_counted, per_test_clean),
		cmocka_unit_test_teardown(test_stats_worker_reload_reopens_slow_log,
					  per_test_clean),
		cmocka_unit_test_teardown(test_stats_worker_pgbadger_reads_slow_log,
					  per_test_clean),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
