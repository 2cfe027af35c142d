/*
 * test_stats_core: the parts of stats/ that do not need the parser — histogram error bounds,
 * the event queue, digest aggregation, hourly windows, max_fingerprints folding, per-table
 * writes, the stats file format (round trip, truncation, corruption, atomic write) and the
 * slow-query log's lines.
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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stats/digest.h"
#include "stats/histogram.h"
#include "stats/persist.h"
#include "stats/queue.h"
#include "stats/slowlog.h"
#include "tests/unit/test_stats_json.h"

#include <xxhash.h>

/* 2026-11-25 10:38:35.123456 UTC */
#define T0 1795603115123456LL
#define HOUR US_PER_HOUR

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}
static double rng_unit(void)
{
	return (double)(rng() >> 11) / 9007199254740992.0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Exact nearest-rank percentile of a sorted array. */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double p)
{
	size_t rank = (size_t)ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

static void check_percentiles(uint64_t *v, size_t n)
{
	Histogram h;
	hist_init(&h);
	for (size_t i = 0; i < n; i++)
		assert_true(hist_record(&h, v[i], 1));
	qsort(v, n, sizeof(*v), cmp_u64);
	const double ps[] = {1, 10, 50, 75, 90, 95, 99, 99.9, 100};
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		uint64_t exact = exact_percentile(v, n, ps[i]);
		uint64_t got = hist_percentile(&h, ps[i]);
		double rel = fabs((double)got - (double)exact) / (double)exact;
		if (rel > 1.0 / 128)
			print_error("p%g: exact %llu, histogram %llu, error %.4f%%\n", ps[i],
				    (unsigned long long)exact, (unsigned long long)got, rel * 100);
		/* The promise is 2%; the bucketing gives half a bucket, 1/128 = 0.78%. */
		assert_true(rel <= 0.02);
		assert_true(rel <= 1.0 / 128);
	}
	assert_int_equal(h.total, n);
	hist_free(&h);
}

static void test_stats_hist_bucket_bounds(void **state)
{
	(void)state;
	for (int i = 0; i < 200000; i++) {
		uint64_t v = rng() >> (rng() % 64);
		unsigned idx = hist_index(v);
		assert_true(idx < HIST_MAX_INDEX);
		uint64_t low = hist_bucket_low(idx), w = hist_bucket_width(idx);
		assert_true(v >= low);
		assert_true(v - low < w);
		if (low >= 128)
			assert_true((double)w / (double)low <= 1.0 / 64);
		else
			assert_int_equal(w, 1);
	}
	assert_int_equal(hist_index(UINT64_MAX), HIST_MAX_INDEX - 1);
	assert_int_equal(hist_index(127), 127);
	assert_int_equal(hist_bucket_low(hist_index(128)), 128);
}

static void test_stats_hist_uniform(void **state)
{
	(void)state;
	size_t n = 100000;
	uint64_t *v = malloc(n * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = 20000 + rng() % 5000000; /* 20 us .. 5 ms in ns */
	check_percentiles(v, n);
	free(v);
}

static void test_stats_hist_lognormal(void **state)
{
	(void)state;
	size_t n = 200000;
	uint64_t *v = malloc(n * sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		/* Box-Muller: median 300 us, long tail to seconds */
		double z = sqrt(-2 * log(rng_unit() + 1e-300)) * cos(2 * M_PI * rng_unit());
		v[i] = (uint64_t)(300000.0 * exp(1.5 * z)) + 1;
	}
	check_percentiles(v, n);
	free(v);
}

static void test_stats_hist_bimodal(void **state)
{
	(void)state;
	size_t n = 10000;
	uint64_t *v = malloc(n * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = i % 10 == 0 ? 100000000 + rng() % 1000000 : 1000000 + rng() % 10000;
	check_percentiles(v, n);
	/* p95 falls in the slow mode: at least 100 ms */
	Histogram h;
	hist_init(&h);
	for (size_t i = 0; i < n; i++)
		hist_record(&h, v[i], 1);
	assert_true(hist_percentile(&h, 95) >= 99000000);
	assert_true(hist_percentile(&h, 50) <= 1020000);
	hist_free(&h);
	free(v);
}

static void test_stats_hist_merge_equals_single(void **state)
{
	(void)state;
	Histogram all, parts[24], merged;
	hist_init(&all);
	hist_init(&merged);
	for (int i = 0; i < 24; i++)
		hist_init(&parts[i]);
	for (int i = 0; i < 50000; i++) {
		uint64_t v = 1000 + rng() % 100000000;
		hist_record(&all, v, 1);
		hist_record(&parts[rng() % 24], v, 1);
	}
	for (int i = 0; i < 24; i++)
		assert_true(hist_merge(&merged, &parts[i]));
	assert_int_equal(merged.n, all.n);
	assert_int_equal(merged.total, all.total);
	assert_memory_equal(merged.idx, all.idx, all.n * sizeof(*all.idx));
	assert_memory_equal(merged.cnt, all.cnt, all.n * sizeof(*all.cnt));
	for (int i = 0; i < 24; i++)
		hist_free(&parts[i]);
	hist_free(&all);
	hist_free(&merged);
}

/* ---- queue ---- */

static StatsEvent make_event(uint64_t seq, char *text, size_t text_len)
{
	snprintf(text, text_len, "SELECT %llu /* %0*llu */", (unsigned long long)seq,
		 (int)(seq % 97), 0ULL);
	StatsEvent ev = {
		.kind = SE_QUERY,
		.stmt_index = (uint16_t)(seq % 3),
		.timed_out = seq % 5 == 0,
		.sqlstate = "57014",
		.rows = seq,
		.duration_ns = seq * 1000,
		.end_wall_us = T0 + (int64_t)seq,
		.text = text,
		.text_len = (uint32_t)strlen(text),
		.db = "bench",
		.user = "alice",
		.app = seq % 2 ? "pgbench" : NULL,
		.client_addr = "10.0.0.7",
		.client_port = 40000 + (uint32_t)(seq % 1000),
		.params = "1\0two\0",
		.params_len = 6,
		.n_params = 2,
	};
	return ev;
}

static void check_event(const StatsEvent *ev, uint64_t seq)
{
	char text[256];
	StatsEvent want = make_event(seq, text, sizeof(text));
	assert_int_equal(ev->rows, seq);
	assert_int_equal(ev->duration_ns, want.duration_ns);
	assert_int_equal(ev->end_wall_us, want.end_wall_us);
	assert_int_equal(ev->stmt_index, want.stmt_index);
	assert_int_equal(ev->timed_out, want.timed_out);
	assert_string_equal(ev->sqlstate, "57014");
	assert_int_equal(ev->text_len, want.text_len);
	assert_memory_equal(ev->text, text, want.text_len);
	assert_int_equal(ev->text[ev->text_len], '\0');
	assert_string_equal(ev->db, "bench");
	assert_string_equal(ev->user, "alice");
	if (want.app)
		assert_string_equal(ev->app, "pgbench");
	else
		assert_null(ev->app);
	assert_string_equal(ev->client_addr, "10.0.0.7");
	assert_int_equal(ev->client_port, want.client_port);
	assert_int_equal(ev->params_len, 6);
	assert_memory_equal(ev->params, "1\0two\0", 6);
	assert_int_equal(ev->n_params, 2);
	assert_null(ev->session_id);
}

static void test_stats_queue_full_drops_and_never_blocks(void **state)
{
	(void)state;
	StatsQueue *q = queue_new(4096);
	assert_non_null(q);
	char text[256];
	uint64_t accepted = 0, refused = 0;
	/* No consumer: the ring fills, then every push returns false at once. */
	for (uint64_t seq = 0; seq < 1000; seq++) {
		StatsEvent ev = make_event(seq, text, sizeof(text));
		if (queue_push(q, &ev))
			accepted++;
		else
			refused++;
	}
	assert_true(accepted > 5);
	assert_int_equal(accepted + refused, 1000);
	assert_int_equal(queue_dropped(q), refused);
	assert_int_equal(queue_pushed(q), accepted);
	/* What was accepted comes out whole and in order: the first `accepted` events. */
	StatsEvent ev;
	for (uint64_t seq = 0; seq < accepted; seq++) {
		assert_true(queue_peek(q, &ev));
		check_event(&ev, seq);
		queue_pop(q);
	}
	assert_false(queue_peek(q, &ev));
	/* Drained: room again, across the wrap of the ring. */
	for (uint64_t seq = 0; seq < 5000; seq++) {
		StatsEvent in = make_event(seq, text, sizeof(text));
		assert_true(queue_push(q, &in));
		assert_true(queue_peek(q, &ev));
		check_event(&ev, seq);
		queue_pop(q);
	}
	assert_int_equal(queue_dropped(q), refused);
	queue_free(q);
}

static void test_stats_queue_huge_text(void **state)
{
	(void)state;
	StatsQueue *q = queue_new(4096);
	size_t len = 100000;
	char *big = malloc(len);
	for (size_t i = 0; i < len; i++)
		big[i] = (char)('a' + i % 26);
	StatsEvent in = {.text = big, .text_len = (uint32_t)len, .db = "d", .user = "u"};
	assert_true(queue_push(q, &in));
	StatsEvent ev;
	assert_true(queue_peek(q, &ev));
	assert_int_equal(ev.text_len, len);
	assert_memory_equal(ev.text, big, len);
	assert_string_equal(ev.db, "d");
	assert_null(ev.app);
	queue_pop(q);
	/* left in the queue at free: freed with it (ASan checks) */
	assert_true(queue_push(q, &in));
	queue_free(q);
	free(big);
}

typedef struct ThreadArg {
	StatsQueue *q;
	uint64_t n;
	uint64_t accepted;
} ThreadArg;

static void *producer(void *arg)
{
	ThreadArg *t = arg;
	char text[256];
	for (uint64_t seq = 0; seq < t->n; seq++) {
		StatsEvent ev = make_event(seq, text, sizeof(text));
		t->accepted += queue_push(t->q, &ev);
	}
	return NULL;
}

static void test_stats_queue_two_threads(void **state)
{
	(void)state;
	ThreadArg t = {.q = queue_new(1 << 16), .n = 300000};
	pthread_t th;
	pthread_create(&th, NULL, producer, &t);
	uint64_t got = 0, last = 0;
	bool done = false;
	StatsEvent ev;
	while (!done || queue_peek(t.q, &ev)) {
		if (!queue_peek(t.q, &ev)) {
			if (pthread_tryjoin_np(th, NULL) == 0)
				done = true;
			else
				queue_wait(t.q, 10);
			continue;
		}
		/* sequence numbers only go up, and each event is intact */
		if (got)
			assert_true(ev.rows > last);
		last = ev.rows;
		check_event(&ev, ev.rows);
		queue_pop(t.q);
		got++;
	}
	assert_int_equal(got, t.accepted);
	assert_int_equal(got + queue_dropped(t.q), t.n);
	queue_free(t.q);
}

/* ---- digests ---- */

static DigestEvent dev(uint64_t fp, const char *db, const char *user, uint64_t dur_us,
		       int64_t wall_us)
{
	DigestEvent e = {
		.fingerprint = fp,
		.db = db,
		.user = user,
		.text = "SELECT * FROM t WHERE id = $1",
		.text_len = 29,
		.kind = SK_SELECT,
		.sqlstate = "",
		.rows = 1,
		.duration_ns = dur_us * 1000,
		.end_wall_us = wall_us,
	};
	return e;
}

static const StatsQueryRow *find_row(const StatsQueries *q, const char *fp, const char *db)
{
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->rows[i].fingerprint, fp) == 0 && strcmp(q->rows[i].database, db) == 0)
			return &q->rows[i];
	return NULL;
}

static void test_stats_digest_aggregation(void **state)
{
	(void)state;
	DigestStore *s = digest_store_new(10000, 14 * 24);
	/* 10 calls of fingerprint 0xabc in db "app": durations 1..10 ms, rows 0..9 */
	for (int i = 1; i <= 10; i++) {
		DigestEvent e = dev(0xabc, "app", "alice", (uint64_t)i * 1000, T0 + i);
		e.rows = (uint64_t)i - 1;
		if (i == 3)
			e.sqlstate = "23505";
		if (i == 4)
			e.sqlstate = "23503";
		if (i == 5) {
			e.sqlstate = "57014";
			e.timed_out = true;
		}
		if (i == 6) {
			e.sqlstate = "57014";
			e.cancelled = true;
		}
		if (i == 7)
			e.sqlstate = "00000"; /* success spelled out */
		assert_non_null(digest_record(s, &e));
	}
	/* the same fingerprint for another user is another digest */
	DigestEvent other = dev(0xabc, "app", "bob", 50000, T0 + 20);
	assert_non_null(digest_record(s, &other));
	StatsQueries q;
	assert_int_equal(digest_store_rows(s, 0, 0, &q), 0);
	assert_int_equal(q.n, 2);
	/* sorted by total time: bob's 50 ms first, then alice's 55 ms... alice: 1+..+10 = 55 ms */
	assert_string_equal(q.rows[0].user, "alice");
	assert_string_equal(q.rows[1].user, "bob");
	const StatsQueryRow *r = &q.rows[0];
	assert_string_equal(r->fingerprint, "0000000000000abc");
	assert_string_equal(r->query, "SELECT * FROM t WHERE id = $1");
	assert_string_equal(r->database, "app");
	assert_int_equal(r->calls, 10);
	assert_int_equal(r->errors, 4);
	assert_int_equal(r->timeouts, 1);
	assert_int_equal(r->cancelled, 1);
	assert_int_equal(r->rows, 45);
	assert_true(fabs(r->total_ms - 55.0) < 1e-9);
	assert_true(fabs(r->mean_ms - 5.5) < 1e-9);
	assert_true(fabs(r->min_ms - 1.0) < 1e-9);
	assert_true(fabs(r->max_ms - 10.0) < 1e-9);
	/* nearest rank: p50 = 5th = 5 ms, p95 = p99 = 10th = 10 ms (within the bucket bound) */
	assert_true(fabs(r->p50_ms - 5.0) / 5.0 <= 0.02);
	assert_true(fabs(r->p95_ms - 10.0) / 10.0 <= 0.02);
	assert_true(fabs(r->p99_ms - 10.0) / 10.0 <= 0.02);
	assert_int_equal(r->first_seen_us, T0 + 1);
	assert_int_equal(r->last_seen_us, T0 + 10);
	assert_int_equal(r->n_error_classes, 2);
	assert_string_equal(r->error_classes[0].cls, "23");
	assert_int_equal(r->error_classes[0].count, 2);
	assert_string_equal(r->error_classes[1].cls, "57");
	assert_int_equal(r->error_classes[1].count, 2);
	assert_int_equal(q.rows[1].calls, 1);
	assert_int_equal(q.rows[1].errors, 0);
	stats_queries_free(&q);
	digest_store_free(s);
}

/* Which sample SHOW QUERIES shows: a prepared statement's text always (the application's SQL),
 * its parameters and simple-protocol texts (the values) only with DIGEST_ROWS_VALUES. */
static void test_stats_digest_rows_sample(void **state)
{
	(void)state;
	DigestStore *s = digest_store_new(10000, 14 * 24);
	const char *simple = "SELECT * FROM t WHERE owner = 'alice'";
	const char *prepared = "SELECT * FROM t WHERE status = 'running' AND owner = $1";
	DigestEvent a = dev(0x1, "app", "u", 1000, T0 + 1);
	a.orig_text = simple;
	a.orig_len = strlen(simple);
	assert_non_null(digest_record(s, &a));
	DigestEvent b = dev(0x2, "app", "u", 2000, T0 + 2);
	b.orig_text = prepared;
	b.orig_len = strlen(prepared);
	b.params = "bob\0";
	b.params_len = 4;
	b.n_params = 1;
	assert_non_null(digest_record(s, &b));
	/* the same statement's Executes whose parameters were not sampled (an empty list marks
	 * the text as a prepared statement's) leave the sample with values in place */
	for (int i = 0; i < 100; i++) {
		DigestEvent e = dev(0x2, "app", "u", 2000, T0 + 2);
		e.orig_text = prepared;
		e.orig_len = strlen(prepared);
		e.params = "";
		assert_non_null(digest_record(s, &e));
	}
	assert_int_equal(digest_find(s, 0x2, "app", "u")->n_samples, 1);
	/* a statement sent both ways: simple-protocol texts fill the reservoir first, then one
	 * prepared Execute comes among many more simple ones; its text stays */
	const char *both_simple = "SELECT * FROM t WHERE status = 'running' AND owner = 'carol'";
	const char *both_prepared = "SELECT * FROM t WHERE status = 'running' AND owner = $1";
	for (int i = 0; i < 300; i++) {
		DigestEvent e = dev(0x5, "app", "u", 100, T0 + 5);
		bool prep = i == 20;
		e.orig_text = prep ? both_prepared : both_simple;
		e.orig_len = strlen(e.orig_text);
		if (prep)
			e.params = "";
		assert_non_null(digest_record(s, &e));
	}
	/* a prepared statement whose parameters were never sampled still shows its text */
	const char *prepared4 = "SELECT * FROM t WHERE starred IS TRUE AND owner = $1";
	DigestEvent p4 = dev(0x4, "app", "u", 500, T0 + 4);
	p4.orig_text = prepared4;
	p4.orig_len = strlen(prepared4);
	p4.params = "";
	assert_non_null(digest_record(s, &p4));
	DigestEvent c = dev(0x3, "app", "u", 3000, T0 + 3); /* parameters of an older file */
	c.params = "7\0";
	c.params_len = 2;
	c.n_params = 1;
	assert_non_null(digest_record(s, &c));

	StatsQueries q;
	assert_int_equal(digest_store_rows(s, 0, 0, &q), 0);
	const StatsQueryRow *r1 = find_row(&q, "0000000000000001", "app"),
			    *r2 = find_row(&q, "0000000000000002", "app"),
			    *r3 = find_row(&q, "0000000000000003", "app");
	assert_null(r1->sample_query);
	assert_null(r1->sample_params);
	assert_string_equal(r2->sample_query, prepared);
	assert_null(r2->sample_params);
	assert_int_equal(r2->sample_n_params, 0);
	assert_null(r3->sample_query);
	assert_null(r3->sample_params);
	const StatsQueryRow *r4 = find_row(&q, "0000000000000004", "app");
	assert_string_equal(r4->sample_query, prepared4);
	assert_null(r4->sample_params);
	assert_string_equal(find_row(&q, "0000000000000005", "app")->sample_query, both_prepared);
	stats_queries_free(&q);

	assert_int_equal(digest_store_rows(s, 0, DIGEST_ROWS_VALUES, &q), 0);
	r1 = find_row(&q, "0000000000000001", "app");
	r2 = find_row(&q, "0000000000000002", "app");
	r3 = find_row(&q, "0000000000000003", "app");
	assert_string_equal(r1->sample_query, simple);
	assert_null(r1->sample_params);
	assert_string_equal(r2->sample_query, prepared);
	assert_int_equal(r2->sample_n_params, 1);
	assert_int_equal(r2->sample_params_len, 4);
	assert_memory_equal(r2->sample_params, "bob\0", 4);
	assert_null(r3->sample_query);
	assert_int_equal(r3->sample_n_params, 1);
	assert_memory_equal(r3->sample_params, "7\0", 2);
	stats_queries_free(&q);
	digest_store_free(s);
}

static void test_stats_digest_hour_windows(void **state)
{
	(void)state;
	DigestStore *s = digest_store_new(10000, 14 * 24);
	int64_t h0 = (T0 / HOUR) * HOUR; /* start of T0's hour */
	/* hour -30: 3 calls of 100 ms; hour -5: 2 of 10 ms; hour -1: 4 of 1 ms; hour 0: 1 of 5 ms */
	struct {
		int64_t hour;
		int calls;
		uint64_t us;
	} plan[] = {{-30, 3, 100000}, {-5, 2, 10000}, {-1, 4, 1000}, {0, 1, 5000}};
	for (size_t i = 0; i < 4; i++)
		for (int c = 0; c < plan[i].calls; c++) {
			/* spread inside the hour, including its first and last microsecond */
			int64_t at = h0 + plan[i].hour * HOUR + (c == 0 ? 0 : HOUR - 1 - c);
			DigestEvent e = dev(7, "db", "u", plan[i].us, at);
			assert_non_null(digest_record(s, &e));
		}
	struct {
		int64_t since;
		uint64_t calls;
		double total_ms, max_ms;
	} cases[] = {
		{0, 10, 300 + 20 + 4 + 5, 100},		   /* all time */
		{h0 - 30 * HOUR, 10, 329, 100},		   /* from the start of hour -30 */
		{h0 - 30 * HOUR + HOUR - 1, 10, 329, 100}, /* its last us: same hour */
		{h0 - 29 * HOUR, 7, 29, 10},		   /* "--since 29h" at an hour mark */
		{h0 - 5 * HOUR + 1234567, 7, 29, 10},	   /* inside hour -5 */
		{h0 - 4 * HOUR, 5, 9, 5},
		{h0, 1, 5, 5},
		{h0 + HOUR, 0, 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		StatsQueries q;
		assert_int_equal(digest_store_rows(s, cases[i].since, 0, &q), 0);
		if (cases[i].calls == 0) {
			assert_int_equal(q.n, 0);
			stats_queries_free(&q);
			continue;
		}
		assert_int_equal(q.n, 1);
		assert_int_equal(q.rows[0].calls, cases[i].calls);
		assert_true(fabs(q.rows[0].total_ms - cases[i].total_ms) < 1e-6);
		assert_true(fabs(q.rows[0].max_ms - cases[i].max_ms) < 1e-6);
		stats_queries_free(&q);
	}
	/* the window's percentiles come from its hours only: hours -1 and 0 -> p50 = 1 ms */
	StatsQueries q;
	assert_int_equal(digest_store_rows(s, h0 - HOUR, 0, &q), 0);
	assert_true(fabs(q.rows[0].p50_ms - 1.0) <= 0.02);
	assert_true(fabs(q.rows[0].p99_ms - 5.0) <= 0.1);
	assert_int_equal(q.rows[0].first_seen_us, h0 - HOUR);
	assert_int_equal(q.rows[0].last_seen_us, h0);
	stats_queries_free(&q);
	digest_store_free(s);
}

static void test_stats_digest_retention(void **state)
{
	(void)state;
	DigestStore *s = digest_store_new(10000, 24); /* keep 24 hours */
	int64_t h0 = (T0 / HOUR) * HOUR;
	DigestEvent e = dev(9, "db", "u", 1000, h0 - 30 * HOUR);
	digest_record(s, &e);
	e.end_wall_us = h0 - 23 * HOUR;
	digest_record(s, &e);
	e.end_wall_us = h0; /* newest hour moves on: hour -30 is dropped, -23 kept */
	digest_record(s, &e);
	Digest *d = digest_find(s, 9, "db", "u");
	assert_int_equal(d->n_hours, 2);
	assert_int_equal(d->hours[0].hour, h0 / HOUR - 23);
	/* an event older than the retention counts in the all-time total only */
	e.end_wall_us = h0 - 40 * HOUR;
	digest_record(s, &e);
	assert_int_equal(d->n_hours, 2);
	assert_int_equal(d->total.calls, 4);
	StatsQueries q;
	digest_store_rows(s, h0 - 100 * HOUR, 0, &q);
	assert_int_equal(q.rows[0].calls, 2);
	stats_queries_free(&q);
	digest_store_free(s);
}

static void test_stats_digest_fold_other(void **state)
{
	(void)state;
	DigestStore *s = digest_store_new(3, 0);
	for (uint64_t fp = 1; fp <= 3; fp++) {
		DigestEvent e = dev(fp, "db", "u", fp * 1000, T0 + (int64_t)fp);
		digest_record(s, &e);
	}
	DigestEvent again = dev(1, "db", "u", 1000, T0 + 10); /* 1 is now the most recent */
	digest_record(s, &again);
	DigestEvent e4 = dev(4, "db", "u", 4000, T0 + 11); /* folds 2, the least recently seen */
	digest_record(s, &e4);
	assert_int_equal(s->digests.count, 3);
	assert_null(digest_find(s, 2, "db", "u"));
	assert_non_null(digest_find(s, 1, "db", "u"));
	DigestEvent e5 = dev(5, "db", "u", 5000, T0 + 12); /* folds 3 */
	digest_record(s, &e5);
	e5.fingerprint = 2; /* 2 comes back as a new digest, folding 1 */
	digest_record(s, &e5);
	StatsQueries q;
	digest_store_rows(s, 0, 0, &q);
	assert_int_equal(q.n, 4);
	const StatsQueryRow *o = find_row(&q, "0000000000000000", "*");
	assert_non_null(o);
	assert_true(o->is_other);
	assert_string_equal(o->query, "<other>");
	assert_string_equal(o->user, "*");
	assert_int_equal(o->folded, 3);
	assert_int_equal(o->calls, 4); /* 2 once, 3 once, 1 twice */
	assert_true(fabs(o->total_ms - (2 + 3 + 1 + 1)) < 1e-9);
	assert_int_equal(s->folded_total, 3);
	const StatsQueryRow *r2 = find_row(&q, "0000000000000002", "db");
	assert_int_equal(r2->calls, 1);
	assert_true(fabs(r2->total_ms - 5) < 1e-9);
	/* windows include the other row too, from its hours */
	stats_queries_free(&q);
	digest_store_rows(s, T0, 0, &q);
	assert_int_equal(q.n, 4);
	stats_queries_free(&q);
	digest_store_free(s);
}

static void test_stats_digest_table_writes(void **state)
{
	(void)state;
	DigestStore *s = digest_store_new(0, 0);
	int64_t h0 = (T0 / HOUR) * HOUR;
	assert_true(digest_record_table_write(s, "public.orders", 13, SK_INSERT, 1, h0 - 2 * HOUR));
	assert_true(digest_record_table_write(s, "public.orders", 13, SK_INSERT, 5, h0));
	assert_true(digest_record_table_write(s, "public.orders", 13, SK_UPDATE, 3, h0));
	assert_true(digest_record_table_write(s, "public.orders", 13, SK_DELETE, 2, h0));
	assert_true(digest_record_table_write(s, "items", 5, SK_SELECT, 100, h0)); /* ignored */
	assert_int_equal(s->tables.count, 1);
	TableStat *t = digest_store_table(s, "public.orders", 13);
	assert_int_equal(t->total.inserts, 2);
	assert_int_equal(t->total.updates, 1);
	assert_int_equal(t->total.deletes, 1);
	assert_int_equal(t->total.rows, 11);
	assert_int_equal(t->n_hours, 2);
	assert_int_equal(t->hours[1].rows, 10);
	digest_store_free(s);
}

/* ---- persistence ---- */

static char tmpdir[256];

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pgsift-test-stats-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	(void)state;
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char p[600];
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	return rmdir(tmpdir);
}

static DigestStore *sample_store(void)
{
	DigestStore *s = digest_store_new(6, 14 * 24);
	int64_t h0 = (T0 / HOUR) * HOUR;
	/* 4 keys for 150 events, then 5 new keys for 50: 3 of the first ones are folded */
	for (int i = 0; i < 200; i++) {
		DigestEvent e =
			dev(i < 150 ? 0x1000 + (uint64_t)(i % 2) : 0x2000 + (uint64_t)(i % 5),
			    i < 150 ? "app" : "reports",
			    i >= 150 ? "carol" :
			    i % 3    ? "alice" :
				       "bob",
			    100 + (uint64_t)(rng() % 100000), h0 - (int64_t)(i % 7) * HOUR + i);
		e.kind = i % 5 == 0 ? SK_INSERT : SK_SELECT;
		e.sqlstate = i % 11 == 0 ? "40001" : "";
		e.timed_out = i % 13 == 0;
		e.rows = (uint64_t)i;
		char orig[64];
		snprintf(orig, sizeof(orig), "SELECT * FROM t WHERE id = %d", i);
		e.orig_text = orig;
		e.orig_len = strlen(orig);
		e.params = "42\0x\0";
		e.params_len = 5;
		e.n_params = 2;
		assert_non_null(digest_record(s, &e));
		digest_record_table_write(s, "orders", 6, SK_INSERT, 1, e.end_wall_us);
	}
	return s;
}

static void assert_same_rows(DigestStore *a, DigestStore *b, int64_t since)
{
	StatsQueries qa, qb;
	assert_int_equal(digest_store_rows(a, since, 0, &qa), 0);
	assert_int_equal(digest_store_rows(b, since, 0, &qb), 0);
	assert_int_equal(qa.n, qb.n);
	for (size_t i = 0; i < qa.n; i++) {
		const StatsQueryRow *x = &qa.rows[i], *y = &qb.rows[i];
		assert_string_equal(x->fingerprint, y->fingerprint);
		assert_string_equal(x->query, y->query);
		assert_string_equal(x->database, y->database);
		assert_string_equal(x->user, y->user);
		assert_int_equal(x->kind, y->kind);
		assert_int_equal(x->is_other, y->is_other);
		assert_int_equal(x->folded, y->folded);
		assert_int_equal(x->calls, y->calls);
		assert_int_equal(x->errors, y->errors);
		assert_int_equal(x->timeouts, y->timeouts);
		assert_int_equal(x->rows, y->rows);
		assert_true(x->total_ms == y->total_ms && x->min_ms == y->min_ms &&
			    x->max_ms == y->max_ms && x->p50_ms == y->p50_ms &&
			    x->p95_ms == y->p95_ms && x->p99_ms == y->p99_ms);
		assert_int_equal(x->first_seen_us, y->first_seen_us);
		assert_int_equal(x->last_seen_us, y->last_seen_us);
		assert_int_equal(x->n_error_classes, y->n_error_classes);
		for (size_t k = 0; k < x->n_error_classes; k++) {
			assert_string_equal(x->error_classes[k].cls, y->error_classes[k].cls);
			assert_int_equal(x->error_classes[k].count, y->error_classes[k].count);
		}
	}
	stats_queries_free(&qa);
	stats_queries_free(&qb);
}

static void test_stats_persist_round_trip(void **state)
{
	(void)state;
	DigestStore *s = sample_store();
	assert_non_null(s->other); /* 9 keys, max 6: folding happened */
	assert_int_equal(s->other->folded, 3);
	uint8_t *img;
	size_t len;
	assert_int_equal(persist_serialize(s, PERSIST_SAMPLES, T0, &img, &len), 0);
	char path[512];
	snprintf(path, sizeof(path), "%s/stats.bin", tmpdir);
	assert_int_equal(persist_write_file(path, img, len), 0);

	DigestStore *l = digest_store_new(6, 14 * 24);
	char err[256] = "";
	assert_int_equal(persist_load_file(path, l, err, sizeof(err)), 0);
	assert_int_equal(l->saved_at_us, T0);
	assert_int_equal(l->digests.count, s->digests.count);
	assert_int_equal(l->folded_total, s->folded_total);
	int64_t h0 = (T0 / HOUR) * HOUR;
	assert_same_rows(s, l, 0);
	assert_same_rows(s, l, h0 - 3 * HOUR);
	assert_same_rows(s, l, h0);
	/* LRU order survives: the same digest is folded next */
	assert_int_equal(digest_lru_last(l)->fingerprint, digest_lru_last(s)->fingerprint);
	assert_string_equal(digest_lru_last(l)->user, digest_lru_last(s)->user);
	/* samples and per-table writes */
	Digest *ds = digest_lru_first(s);
	while (ds && ds->n_samples < DIGEST_SAMPLES)
		ds = digest_lru_next(s, ds);
	assert_non_null(ds);
	Digest *dl = digest_find(l, ds->fingerprint, ds->db, ds->user);
	assert_non_null(dl);
	assert_int_equal(dl->n_samples, ds->n_samples);
	assert_int_equal(dl->n_samples, DIGEST_SAMPLES);
	for (uint32_t i = 0; i < ds->n_samples; i++) {
		assert_string_equal(dl->samples[i].text, ds->samples[i].text);
		assert_int_equal(dl->samples[i].params_len, 5);
		assert_memory_equal(dl->samples[i].params, "42\0x\0", 5);
	}
	TableStat *t = digest_store_table(l, "orders", 6);
	assert_int_equal(t->total.inserts, 200);
	assert_int_equal(t->total.rows, 200);
	assert_int_equal(t->n_hours, 7);
	/* saving the loaded store gives the same bytes */
	uint8_t *img2;
	size_t len2;
	assert_int_equal(persist_serialize(l, PERSIST_SAMPLES, T0, &img2, &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(img2, img, len);
	free(img2);
	/* without log_parameters, no sample (no literal) reaches the file */
	assert_int_equal(persist_serialize(s, 0, T0, &img2, &len2), 0);
	assert_null(memmem(img2, len2, "WHERE id = 1", 12));
	assert_null(memmem(img2, len2, "42\0x", 4));
	assert_non_null(memmem(img, len, "42\0x", 4));
	free(img2);
	free(img);
	digest_store_free(l);
	digest_store_free(s);
	unlink(path);
}

static void test_stats_persist_truncated_and_corrupt(void **state)
{
	(void)state;
	DigestStore *s = sample_store();
	uint8_t *img;
	size_t len;
	assert_int_equal(persist_serialize(s, 0, T0, &img, &len), 0);
	digest_store_free(s);
	char path[512];
	snprintf(path, sizeof(path), "%s/bad.bin", tmpdir);
	struct {
		size_t cut;  /* bytes kept */
		size_t flip; /* byte flipped, 0 = none */
		const char *why;
	} cases[] = {
		{len - 1, 0, "truncated"},	     {len / 2, 0, "truncated"},
		{10, 0, "truncated header"},	     {0, 0, "truncated header"},
		{len, len - 7, "checksum mismatch"}, {len, PERSIST_HEADER + 3, "checksum mismatch"},
		{len, 2, "not a pgsift stats file"}, {len, 8, "format version"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *copy = malloc(len);
		memcpy(copy, img, len);
		if (cases[i].flip)
			copy[cases[i].flip] ^= 0x5a;
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_int_equal(write(fd, copy, cases[i].cut), (ssize_t)cases[i].cut);
		close(fd);
		free(copy);
		DigestStore *l = digest_store_new(0, 0);
		char err[256] = "";
		assert_int_equal(persist_load_file(path, l, err, sizeof(err)), -EINVAL);
		if (strncmp(err, cases[i].why, strlen(cases[i].why)) != 0)
			print_error("case %zu: %s\n", i, err);
		assert_true(strncmp(err, cases[i].why, strlen(cases[i].why)) == 0);
		assert_int_equal(l->digests.count, 0);
		assert_null(l->other);
		digest_store_free(l);
	}
	/* set aside: the bad file is renamed, nothing is left under the old name */
	char aside[600];
	assert_int_equal(persist_set_aside(path, aside, sizeof(aside)), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(access(aside, F_OK), 0);
	assert_true(strncmp(aside, path, strlen(path)) == 0);
	assert_true(strncmp(aside + strlen(path), ".corrupt-", 9) == 0);
	assert_int_equal(strlen(aside + strlen(path) + 9), 15); /* YYYYmmddTHHMMSS */
	unlink(aside);
	DigestStore *l = digest_store_new(0, 0);
	char err[256];
	assert_int_equal(persist_load_file(path, l, err, sizeof(err)), -ENOENT);
	digest_store_free(l);
	free(img);
}

/* The reader treats the payload as hostile: with a valid checksum over damaged or cut content
 * it must refuse or load, never crash or read out of bounds (ASan run). */
static void test_stats_persist_hostile_payload(void **state)
{
	(void)state;
	DigestStore *s = sample_store();
	uint8_t *img;
	size_t len;
	assert_int_equal(persist_serialize(s, PERSIST_SAMPLES, T0, &img, &len), 0);
	digest_store_free(s);
	uint8_t *copy = malloc(len);
	int loaded = 0, refused = 0;
	for (int round = 0; round < 3000; round++) {
		memcpy(copy, img, len);
		size_t n = len;
		if (round % 3 == 0) {
			n = PERSIST_HEADER + rng() % (len - PERSIST_HEADER); /* cut, header fixed */
			uint64_t payload = n - PERSIST_HEADER;
			for (int i = 0; i < 8; i++)
				copy[16 + i] = (uint8_t)(payload >> (8 * i));
		} else {
			for (int k = 0; k < 1 + round % 4; k++)
				copy[PERSIST_HEADER + rng() % (len - PERSIST_HEADER)] ^=
					(uint8_t)(1 + rng() % 255);
		}
		uint64_t sum = XXH3_64bits(copy + PERSIST_HEADER, n - PERSIST_HEADER);
		for (int i = 0; i < 8; i++)
			copy[24 + i] = (uint8_t)(sum >> (8 * i));
		DigestStore *l = digest_store_new(6, 0);
		char err[128];
		int rc = persist_deserialize(copy, n, l, false, err, sizeof(err));
		assert_true(rc == 0 || rc == -EINVAL);
		if (rc == 0) {
			loaded++;
			StatsQueries q;
			assert_int_equal(digest_store_rows(l, 0, 0, &q), 0);
			stats_queries_free(&q);
		} else {
			refused++;
			assert_int_equal(l->digests.count, 0);
		}
		digest_store_free(l);
	}
	assert_true(refused > 1000);
	print_message("  %d damaged images refused, %d loaded\n", refused, loaded);
	free(copy);
	free(img);
}

static int count_entries(const char *dir)
{
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_stats_persist_atomic_write(void **state)
{
	(void)state;
	char path[512];
	snprintf(path, sizeof(path), "%s/atomic.bin", tmpdir);
	assert_int_equal(count_entries(tmpdir), 0);
	const uint8_t a[] = "first version", b[] = "second";
	assert_int_equal(persist_write_file(path, a, sizeof(a)), 0);
	assert_int_equal(persist_write_file(path, b, sizeof(b)), 0);
	assert_int_equal(count_entries(tmpdir), 1); /* no temporary file left behind */
	char got[64] = "";
	int fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, got, sizeof(got)), (ssize_t)sizeof(b));
	close(fd);
	assert_string_equal(got, "second");
	/* a rename that fails (the target is a directory) leaves the old state and no temp file */
	char dirpath[512];
	snprintf(dirpath, sizeof(dirpath), "%s/adir", tmpdir);
	mkdir(dirpath, 0700);
	assert_int_equal(persist_write_file(dirpath, a, sizeof(a)), -EISDIR);
	assert_int_equal(count_entries(tmpdir), 2);
	rmdir(dirpath);
	/* a directory that does not exist: an error, nothing created */
	char nodir[512];
	snprintf(nodir, sizeof(nodir), "%s/missing/x.bin", tmpdir);
	assert_int_equal(persist_write_file(nodir, a, sizeof(a)), -ENOENT);
	unlink(path);
	assert_int_equal(count_entries(tmpdir), 0);
}

/* ---- slow log ---- */

static SlowEntry slow_entry(void)
{
	SlowEntry e = {
		.end_wall_us = T0,
		.user = "alice",
		.dbname = "shop",
		.pid = 4242,
		.remote_host = "10.1.2.3",
		.remote_port = 51234,
		.application_name = "psql",
		.duration_ns = 12345678,
		.statement = "SELECT * FROM orders WHERE id = $1",
		.statement_len = 34,
		.fingerprint = 0x0123456789abcdefULL,
		.rows = 3,
		.sqlstate = "",
	};
	return e;
}

static void test_stats_slowlog_line(void **state)
{
	(void)state;
	char ts[32];
	slowlog_timestamp(T0, ts, sizeof(ts));
	assert_string_equal(ts, "2026-11-25 10:38:35.123 UTC");
	SlowEntry e = slow_entry();
	char *buf = NULL;
	size_t cap = 0;
	size_t len = slowlog_format(&e, &buf, &cap);
	assert_true(len > 0);
	assert_int_equal(buf[len - 1], '\n');
	assert_null(memchr(buf, '\n', len - 1));
	buf[len] = '\0';
	TjObject o;
	assert_true(tj_parse(buf, &o));
	const char *keys[] = {"timestamp",
			      "user",
			      "dbname",
			      "pid",
			      "remote_host",
			      "remote_port",
			      "error_severity",
			      "message",
			      "application_name",
			      "fingerprint",
			      "duration_ms",
			      "query",
			      "rows",
			      "sqlstate",
			      "timed_out"};
	const char *values[] = {
		"2026-11-25 10:38:35.123 UTC",
		"alice",
		"shop",
		"4242",
		"10.1.2.3",
		"51234",
		"LOG",
		"duration: 12.345 ms  statement: SELECT * FROM orders WHERE id = $1",
		"psql",
		"0123456789abcdef",
		"12.345678",
		"SELECT * FROM orders WHERE id = $1",
		"3",
		"00000",
		"false"};
	assert_int_equal(o.n, 15);
	for (size_t i = 0; i < 15; i++) {
		assert_string_equal(o.keys[i], keys[i]);
		assert_string_equal(o.values[i], values[i]);
	}
	assert_false(o.is_string[3]);  /* pid is a number */
	assert_false(o.is_string[10]); /* duration_ms too */
	tj_free(&o);

	/* Unix socket: no remote_port; session_id when known; error and timeout */
	e.remote_host = "[local]";
	e.session_id = "6763a1b2.1f2";
	e.sqlstate = "57014";
	e.timed_out = true;
	e.duration_ns = 1000000000;
	len = slowlog_format(&e, &buf, &cap);
	buf[len] = '\0';
	assert_true(tj_parse(buf, &o));
	assert_string_equal(tj_get(&o, "remote_host"), "[local]");
	assert_null(tj_get(&o, "remote_port"));
	assert_string_equal(tj_get(&o, "session_id"), "6763a1b2.1f2");
	assert_string_equal(tj_get(&o, "sqlstate"), "57014");
	assert_string_equal(tj_get(&o, "timed_out"), "true");
	assert_string_equal(tj_get(&o, "duration_ms"), "1000.000000");
	assert_string_equal(tj_get(&o, "message"),
			    "duration: 1000.000 ms  statement: SELECT * FROM orders WHERE id = $1");
	tj_free(&o);
	free(buf);
}

static void test_stats_slowlog_escaping(void **state)
{
	(void)state;
	SlowEntry e = slow_entry();
	/* quotes, backslash, newline, tab, a control byte, UTF-8, invalid UTF-8 */
	static const char q[] = "SELECT '\"a\\b'\n\t\x01 'h\xc3\xa9' '\xff\xc3'";
	e.statement = q;
	e.statement_len = sizeof(q) - 1;
	e.user = "we\"ird\\";
	char *buf = NULL;
	size_t cap = 0;
	size_t len = slowlog_format(&e, &buf, &cap);
	buf[len] = '\0';
	assert_null(memchr(buf, '\n', len - 1));
	TjObject o;
	assert_true(tj_parse(buf, &o));
	assert_string_equal(tj_get(&o, "query"),
			    "SELECT '\"a\\b'\n\t\x01 'h\xc3\xa9' '\xef\xbf\xbd\xef\xbf\xbd'");
	assert_string_equal(tj_get(&o, "user"), "we\"ird\\");
	assert_string_equal(tj_get(&o, "message"),
			    "duration: 12.345 ms  statement: SELECT '\"a\\b'\n\t\x01 'h\xc3\xa9' "
			    "'\xef\xbf\xbd\xef\xbf\xbd'");
	tj_free(&o);
	/* log_parameters: PostgreSQL's execute message and parameters detail */
	e = slow_entry();
	e.params = "7\0it's\0";
	e.params_len = 8;
	e.n_params = 2;
	len = slowlog_format(&e, &buf, &cap);
	buf[len] = '\0';
	assert_true(tj_parse(buf, &o));
	assert_string_equal(tj_get(&o, "message"),
			    "duration: 12.345 ms  execute <unnamed>: SELECT * "
			    "FROM orders WHERE id = $1");
	assert_string_equal(tj_get(&o, "detail"), "parameters: $1 = '7', $2 = 'it''s'");
	tj_free(&o);
	free(buf);
}

static size_t file_lines(const char *path, char lines[][1024], size_t max)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = 0;
	while (n < max && fgets(lines[n], 1024, f))
		n++;
	fclose(f);
	return n;
}

static void test_stats_slowlog_rate_limit_and_reopen(void **state)
{
	(void)state;
	char path[512], moved[512];
	snprintf(path, sizeof(path), "%s/slow.json", tmpdir);
	snprintf(moved, sizeof(moved), "%s/slow.json.1", tmpdir);
	SlowLog log;
	slowlog_init(&log);
	assert_int_equal(slowlog_open(&log, path, 2), 0);
	SlowEntry e = slow_entry();
	int results[6];
	for (int i = 0; i < 5; i++) {
		e.rows = (uint64_t)i;
		results[i] = slowlog_write(&log, &e); /* all in the same second */
	}
	e.end_wall_us = T0 + 1000000; /* next second */
	e.rows = 5;
	results[5] = slowlog_write(&log, &e);
	int want[6] = {1, 1, 0, 0, 0, 1};
	assert_memory_equal(results, want, sizeof(want));
	assert_int_equal(log.written, 3);
	assert_int_equal(log.dropped, 3);
	/* logrotate: move the file, reopen, the next line goes to a new file */
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(slowlog_reopen(&log), 0);
	e.rows = 6;
	assert_int_equal(slowlog_write(&log, &e), 1);
	slowlog_close(&log);
	static char lines[8][1024];
	assert_int_equal(file_lines(moved, lines, 8), 3);
	const char *rows[] = {"0", "1", "5"};
	for (int i = 0; i < 3; i++) {
		TjObject o;
		assert_true(tj_parse(lines[i], &o));
		assert_string_equal(tj_get(&o, "rows"), rows[i]);
		tj_free(&o);
	}
	assert_int_equal(file_lines(path, lines, 8), 1);
	TjObject o;
	assert_true(tj_parse(lines[0], &o));
	assert_string_equal(tj_get(&o, "rows"), "6");
	tj_free(&o);
	unlink(path);
	unlink(moved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_hist_bucket_bounds),
		cmocka_unit_test(test_stats_hist_uniform),
		cmocka_unit_test(test_stats_hist_lognormal),
		cmocka_unit_test(test_stats_hist_bimodal),
		cmocka_unit_test(test_stats_hist_merge_equals_single),
		cmocka_unit_test(test_stats_queue_full_drops_and_never_blocks),
		cmocka_unit_test(test_stats_queue_huge_text),
		cmocka_unit_test(test_stats_queue_two_threads),
		cmocka_unit_test(test_stats_digest_aggregation),
		cmocka_unit_test(test_stats_digest_rows_sample),
		cmocka_unit_test(test_stats_digest_hour_windows),
		cmocka_unit_test(test_stats_digest_retention),
		cmocka_unit_test(test_stats_digest_fold_other),
		cmocka_unit_test(test_stats_digest_table_writes),
		cmocka_unit_test(test_stats_persist_round_trip),
		cmocka_unit_test(test_stats_persist_truncated_and_corrupt),
		cmocka_unit_test(test_stats_persist_hostile_payload),
		cmocka_unit_test(test_stats_persist_atomic_write),
		cmocka_unit_test(test_stats_slowlog_line),
		cmocka_unit_test(test_stats_slowlog_escaping),
		cmocka_unit_test(test_stats_slowlog_rate_limit_and_reopen),
	};
	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
