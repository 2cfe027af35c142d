/*
 * stats: the worker thread and the public API of the statistics module (stats.h). The event
 * loop pushes events into the StatsQueue (stats_submit); the worker drains it, asks its private
 * ParserCache about each text (outside any lock), then takes the statistics mutex only for the
 * in-memory update of the DigestStore and the counters, and writes the slow-query log and the
 * stats file with the mutex released. Readers (console, /metrics) copy under the same mutex.
 *
 * The worker is the only thread that changes the store, so it may read it without the mutex
 * (serializing it for stats_file, for instance). RESET STATS does not clear the store under the
 * worker's feet: it swaps in an empty one under the mutex, and the worker frees the old one at
 * its next turn.
 */
#include "stats/stats.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "config/log.h"
#include "parser/shape.h"
#include "stats/digest.h"
#include "stats/fleet.h"
#include "stats/persist.h"
#include "stats/queue.h"
#include "stats/slowlog.h"
#include "stats/store_pg.h"
#include "util/json.h"

const double stats_latency_bounds_s[STATS_LATENCY_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

/* The settings the worker uses, copied out of the Config so that the Config may be freed. */
typedef struct Settings {
	int64_t slow_query_ms;
	char *slow_query_log;
	int slow_max_per_sec;
	bool log_parameters;
	char *stats_file;
	uint64_t flush_interval_ms;
	uint64_t retention_ms;
	int max_fingerprints;
	size_t parser_cache_bytes;
	int query_text_max;
	int queue_size;
	/* the fleet store (stats_dsn): NULL dsn = off */
	char *stats_dsn;
	char *stats_dsn_schema;
	char *stats_instance; /* the configured name, or the host name */
	int stats_dsn_backlog;
	int listen_port;
	int peer_id;
} Settings;

typedef struct DbCounter {
	char *name;
	uint64_t queries, errors, timeouts, total_ns;
	uint64_t store_calls_dropped; /* its calls the fleet store will never see */
} DbCounter;

/* One write a statement makes, found from its shape (or its text, until shapes exist). */
typedef struct TableWrite {
	char name[160]; /* [schema.]table; PostgreSQL names are at most 63 bytes */
	size_t len;
	StmtKind kind; /* SK_INSERT, SK_UPDATE (MERGE counts as one) or SK_DELETE */
} TableWrite;

#define MAX_TABLE_WRITES 8

static struct {
	pthread_mutex_t mu; /* store, slow ring, counters below */
	DigestStore *store;
	DigestStore *retired; /* swapped out by stats_reset, freed by the worker */
	StatsSlowRow slow[STATS_SLOW_KEEP];
	size_t slow_next, slow_n;
	DbCounter *dbs;
	size_t n_dbs;
	uint64_t queries, errors, timeouts, cancelled, slow_queries;
	uint64_t lat[STATS_LATENCY_BUCKETS + 1];
	uint64_t lat_sum_ns;
	ParserCacheStats pcs;

	_Atomic uint64_t slow_logged, slow_dropped, flushes, flush_errors, folded;
	/* events the worker is completely done with (counted, logged): what stats_sync waits for */
	_Atomic uint64_t processed;

	StatsQueue *queue;
	pthread_t thread;
	bool running;
	_Atomic bool stop;

	pthread_mutex_t settings_mu; /* pending */
	Settings pending;
	_Atomic bool reload_pending;
	/* log_parameters as last configured: whether SHOW QUERIES may show sampled values */
	_Atomic bool show_values;

	ParsedStatement *ps; /* the worker's lookup answers (owned by the worker thread) */
	size_t ps_cap;

	/* The fleet store: the accumulator is the worker's own; the counters are for readers. */
	Fleet fleet;
	bool fleet_on;
	int64_t started_us; /* stats_start: part of the instance key */
	_Atomic uint64_t store_rows_dropped, store_calls_dropped, store_backlog;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .settings_mu = PTHREAD_MUTEX_INITIALIZER};

static void settings_from_config(Settings *s, const Config *cfg);
static void settings_free(Settings *s);
/* nice value of the statistics thread (the event loop keeps the process's, 0) */
#define WORKER_NICE 10

static void *worker_main(void *arg);
static void worker_process(ParserCache *pc, const Settings *st, SlowLog *slow, StatsEvent *ev);
static void worker_flush(const Settings *st);
static int64_t now_wall_us(void);
static int64_t now_mono_ms(void);
static size_t shape_write_tables(const ParsedStatement *ps, TableWrite *out, size_t max);
static size_t text_write_tables(const ParsedStatement *ps, TableWrite *out, size_t max);
static DbCounter *db_counter(const char *name);
static void fleet_dropped_in_db(void *arg, const char *db, uint64_t calls);
static void fleet_apply(const Settings *old, const Settings *st);
static void fleet_tick(bool final);
static void fleet_stop(void);
static void fleet_event(const Settings *st, const StatsEvent *ev, const DigestEvent *de,
			const QueryShape *shape, const TableWrite *writes, size_t n_writes);
static void slow_row_free(StatsSlowRow *r);
static char *dup_or_empty(const char *s);

int stats_start(const Config *cfg)
{
	if (g.running)
		return -EALREADY;
	Settings st;
	settings_from_config(&st, cfg);
	size_t qbytes = (size_t)(st.queue_size > 0 ? st.queue_size : 65536) * 256;
	queue_free(g.queue); /* the previous run's, kept for stats_dropped() */
	g.queue = queue_new(qbytes);
	pthread_mutex_lock(&g.mu);
	for (size_t i = 0; i < g.n_dbs; i++)
		free(g.dbs[i].name);
	free(g.dbs);
	g.dbs = NULL;
	g.n_dbs = 0;
	g.queries = g.errors = g.timeouts = g.cancelled = g.slow_queries = 0;
	memset(g.lat, 0, sizeof(g.lat));
	g.lat_sum_ns = 0;
	memset(&g.pcs, 0, sizeof(g.pcs));
	pthread_mutex_unlock(&g.mu);
	atomic_store(&g.processed, 0);
	atomic_store(&g.slow_logged, 0);
	atomic_store(&g.slow_dropped, 0);
	atomic_store(&g.flushes, 0);
	atomic_store(&g.flush_errors, 0);
	atomic_store(&g.folded, 0);
	atomic_store(&g.store_rows_dropped, 0);
	atomic_store(&g.store_calls_dropped, 0);
	atomic_store(&g.store_backlog, 0);
	g.started_us = now_wall_us();
	DigestStore *store =
		digest_store_new(st.max_fingerprints > 0 ? (size_t)st.max_fingerprints : 0,
				 (int64_t)((st.retention_ms + 3599999) / 3600000));
	if (!g.queue || !store) {
		queue_free(g.queue);
		g.queue = NULL;
		digest_store_free(store);
		settings_free(&st);
		return -ENOMEM;
	}
	if (st.stats_file) {
		char err[256];
		int rc = persist_load_file(st.stats_file, store, err, sizeof(err));
		if (rc == -EINVAL) {
			char aside[4200];
			digest_store_clear(store);
			if (persist_set_aside(st.stats_file, aside, sizeof(aside)) == 0)
				log_warn(
					"stats_file %s: %s; moved aside to %s, starting with empty "
					"statistics",
					st.stats_file, err, aside);
			else
				log_warn(
					"stats_file %s: %s; could not move it aside (%s), starting "
					"with empty statistics",
					st.stats_file, err, strerror(errno));
		} else if (rc < 0 && rc != -ENOENT) {
			digest_store_clear(store);
			log_warn("stats_file %s: %s; starting with empty statistics", st.stats_file,
				 err);
		} else if (rc == 0) {
			digest_store_set_limits(store, store->max_fingerprints,
						store->retention_hours);
			log_info("stats_file %s: %zu digests loaded", st.stats_file,
				 store->digests.count);
		}
	}
	pthread_mutex_lock(&g.mu);
	g.store = store;
	pthread_mutex_unlock(&g.mu);
	atomic_store(&g.show_values, st.log_parameters);
	pthread_mutex_lock(&g.settings_mu);
	settings_free(&g.pending);
	g.pending = st;
	atomic_store(&g.reload_pending, true);
	pthread_mutex_unlock(&g.settings_mu);
	atomic_store(&g.stop, false);
	int rc = pthread_create(&g.thread, NULL, worker_main, NULL);
	if (rc) {
		pthread_mutex_lock(&g.mu);
		g.store = NULL;
		pthread_mutex_unlock(&g.mu);
		digest_store_free(store);
		queue_free(g.queue);
		g.queue = NULL;
		return -rc;
	}
	g.running = true;
	return 0;
}

void stats_stop(void)
{
	if (!g.running)
		return;
	atomic_store(&g.stop, true);
	queue_wake(g.queue);
	pthread_join(g.thread, NULL);
	g.running = false;
	pthread_mutex_lock(&g.mu);
	DigestStore *store = g.store, *retired = g.retired;
	g.store = g.retired = NULL;
	for (size_t i = 0; i < g.slow_n; i++)
		slow_row_free(&g.slow[i]);
	g.slow_n = g.slow_next = 0;
	pthread_mutex_unlock(&g.mu);
	digest_store_free(store);
	digest_store_free(retired);
	/* The queue's counters stay readable through stats_dropped() until the next start. */
	pthread_mutex_lock(&g.settings_mu);
	settings_free(&g.pending);
	pthread_mutex_unlock(&g.settings_mu);
}

void stats_reload(const Config *cfg)
{
	Settings st;
	settings_from_config(&st, cfg);
	atomic_store(&g.show_values, st.log_parameters);
	pthread_mutex_lock(&g.settings_mu);
	settings_free(&g.pending);
	g.pending = st;
	atomic_store(&g.reload_pending, true);
	pthread_mutex_unlock(&g.settings_mu);
	if (g.queue)
		queue_wake(g.queue);
}

bool stats_submit(const StatsEvent *ev)
{
	if (!g.queue)
		return false;
	return queue_push(g.queue, ev);
}

uint64_t stats_dropped(void)
{
	return g.queue ? queue_dropped(g.queue) : 0;
}

bool stats_sync(int timeout_ms)
{
	if (!g.queue)
		return true;
	uint64_t target = queue_pushed(g.queue);
	for (int waited = 0;; waited++) {
		if (atomic_load_explicit(&g.processed, memory_order_acquire) >= target)
			return true;
		if (waited >= timeout_ms)
			return false;
		usleep(1000);
	}
}

/* ---- read side ---- */

int stats_snapshot_queries(int64_t since_us, StatsQueries *out)
{
	out->rows = NULL;
	out->n = 0;
	pthread_mutex_lock(&g.mu);
	unsigned flags = atomic_load(&g.show_values) ? DIGEST_ROWS_VALUES : 0;
	int rc = g.store ? digest_store_rows(g.store, since_us, flags, out) : 0;
	pthread_mutex_unlock(&g.mu);
	return rc;
}

int stats_snapshot_slow(size_t max, StatsSlowList *out)
{
	out->rows = NULL;
	out->n = 0;
	pthread_mutex_lock(&g.mu);
	size_t n = g.slow_n;
	if (max && n > max)
		n = max;
	int rc = 0;
	if (n) {
		out->rows = calloc(n, sizeof(*out->rows));
		if (!out->rows)
			rc = -ENOMEM;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		const StatsSlowRow *src =
			&g.slow[(g.slow_next + STATS_SLOW_KEEP - 1 - i) % STATS_SLOW_KEEP];
		StatsSlowRow *r = &out->rows[i];
		*r = *src;
		r->query = strdup(src->query);
		r->database = strdup(src->database);
		r->user = strdup(src->user);
		r->application = strdup(src->application);
		r->client_addr = strdup(src->client_addr);
		out->n = i + 1;
		if (!r->query || !r->database || !r->user || !r->application || !r->client_addr)
			rc = -ENOMEM;
	}
	pthread_mutex_unlock(&g.mu);
	if (rc)
		stats_slow_free(out);
	return rc;
}

void stats_slow_free(StatsSlowList *list)
{
	for (size_t i = 0; i < list->n; i++)
		slow_row_free(&list->rows[i]);
	free(list->rows);
	list->rows = NULL;
	list->n = 0;
}

void stats_reset(void)
{
	pthread_mutex_lock(&g.mu);
	if (g.store && !g.retired) {
		DigestStore *fresh =
			digest_store_new(g.store->max_fingerprints, g.store->retention_hours);
		if (fresh) {
			g.retired = g.store;
			g.store = fresh;
		}
	}
	for (size_t i = 0; i < g.slow_n; i++)
		slow_row_free(&g.slow[i]);
	g.slow_n = g.slow_next = 0;
	pthread_mutex_unlock(&g.mu);
}

int stats_counters(StatsCounters *out)
{
	memset(out, 0, sizeof(*out));
	if (g.queue) {
		out->events_submitted = queue_pushed(g.queue);
		out->events_dropped = queue_dropped(g.queue);
	}
	out->slow_logged = atomic_load(&g.slow_logged);
	out->slow_dropped = atomic_load(&g.slow_dropped);
	out->flushes = atomic_load(&g.flushes);
	out->flush_errors = atomic_load(&g.flush_errors);
	out->folded = atomic_load(&g.folded);
	StorePgCounters spc;
	store_pg_counters(&spc);
	out->store_rows_written = spc.rows_written;
	out->store_write_errors = spc.write_errors;
	out->store_up = spc.up;
	out->store_rows_dropped = atomic_load(&g.store_rows_dropped);
	out->store_calls_dropped = atomic_load(&g.store_calls_dropped);
	out->store_backlog = atomic_load(&g.store_backlog);
	int rc = 0;
	pthread_mutex_lock(&g.mu);
	out->events_processed = atomic_load(&g.processed);
	out->queries = g.queries;
	out->errors = g.errors;
	out->timeouts = g.timeouts;
	out->cancelled = g.cancelled;
	out->slow_queries = g.slow_queries;
	out->parser_hits = g.pcs.exact_hits + g.pcs.const_hits;
	out->parser_misses = g.pcs.misses;
	out->parser_evictions = g.pcs.evictions;
	out->parser_entries = g.pcs.entries;
	out->parser_bytes = g.pcs.bytes;
	out->fingerprints = g.store ? g.store->digests.count : 0;
	uint64_t cum = 0;
	for (int i = 0; i <= STATS_LATENCY_BUCKETS; i++) {
		cum += g.lat[i];
		out->latency_cum[i] = cum;
	}
	out->latency_sum_s = (double)g.lat_sum_ns / 1e9;
	if (g.n_dbs) {
		out->dbs = calloc(g.n_dbs, sizeof(*out->dbs));
		if (!out->dbs)
			rc = -ENOMEM;
	}
	for (size_t i = 0; i < g.n_dbs && !rc; i++) {
		StatsDbCounters *d = &out->dbs[i];
		d->database = strdup(g.dbs[i].name);
		d->queries = g.dbs[i].queries;
		d->errors = g.dbs[i].errors;
		d->timeouts = g.dbs[i].timeouts;
		d->total_ms = (double)g.dbs[i].total_ns / 1e6;
		d->store_calls_dropped = g.dbs[i].store_calls_dropped;
		out->n_dbs = i + 1;
		if (!d->database)
			rc = -ENOMEM;
	}
	pthread_mutex_unlock(&g.mu);
	if (rc)
		stats_counters_free(out);
	return rc;
}

void stats_counters_free(StatsCounters *c)
{
	for (size_t i = 0; i < c->n_dbs; i++)
		free(c->dbs[i].database);
	free(c->dbs);
	c->dbs = NULL;
	c->n_dbs = 0;
}

/* ---- offline / advisor store ---- */

int stats_store_load(const char *path, StatsStore **out, char *err, size_t errlen)
{
	*out = NULL;
	DigestStore *s = digest_store_new(0, 0);
	if (!s)
		return -ENOMEM;
	int rc = persist_load_file(path, s, err, errlen);
	if (rc) {
		digest_store_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int stats_snapshot_store(StatsStore **out)
{
	*out = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = 0;
	pthread_mutex_lock(&g.mu);
	if (g.store)
		rc = persist_serialize(g.store, PERSIST_SAMPLES | PERSIST_SHAPES, now_wall_us(),
				       &buf, &len);
	pthread_mutex_unlock(&g.mu);
	if (rc)
		return rc;
	DigestStore *s = digest_store_new(0, 0);
	if (!s) {
		free(buf);
		return -ENOMEM;
	}
	if (buf) {
		char err[128];
		rc = persist_deserialize(buf, len, s, true, err, sizeof(err));
		free(buf);
		if (rc) {
			digest_store_free(s);
			return rc;
		}
	}
	s->saved_at_us = now_wall_us();
	*out = s;
	return 0;
}

void stats_store_free(StatsStore *s)
{
	digest_store_free(s);
}

int64_t stats_store_saved_at(const StatsStore *s)
{
	return s->saved_at_us;
}

size_t stats_store_foreach(StatsStore *s, int64_t since_us, StatsDigestFn fn, void *arg)
{
	size_t calls = 0;
	for (Digest *d = digest_lru_first(s);; d = digest_lru_next(s, d)) {
		if (!d) {
			if (!s->other)
				break;
			d = s->other;
		}
		DigestAgg a;
		bool ok = digest_window(d, since_us, &a);
		if (ok && a.calls) {
			StatsDigestView v = {0};
			v.fingerprint = d->fingerprint;
			v.query = d->text;
			v.database = d->db;
			v.user = d->user;
			v.kind = d->kind;
			v.is_other = d->is_other;
			v.calls = a.calls;
			v.errors = a.errors;
			v.timeouts = a.timeouts;
			v.cancelled = a.cancelled;
			v.rows = a.rows;
			v.total_ms = (double)a.total_ns / 1e6;
			v.mean_ms = v.total_ms / (double)a.calls;
			v.max_ms = (double)a.max_ns / 1e6;
			uint64_t p[3] = {hist_percentile(&a.hist, 50), hist_percentile(&a.hist, 95),
					 hist_percentile(&a.hist, 99)};
			for (int i = 0; i < 3; i++)
				p[i] = p[i] < a.min_ns ? a.min_ns :
				       p[i] > a.max_ns ? a.max_ns :
							 p[i];
			v.p50_ms = (double)p[0] / 1e6;
			v.p95_ms = (double)p[1] / 1e6;
			v.p99_ms = (double)p[2] / 1e6;
			v.first_seen_us = a.first_seen_us;
			v.last_seen_us = a.last_seen_us;
			StatsParamSample samples[DIGEST_SAMPLES];
			v.samples = samples;
			v.n_samples = digest_sample_views(d, samples);
			if (d->shape) {
				v.shape = d->shape;
			} else if (!d->is_other) {
				/* Loaded from a file: the shape is derived again from the normalized
				 * text (the parser handles $n), so the file never depends on
				 * QueryShape's layout. Valid until the next lookup: during fn. */
				if (!s->shapes) {
					s->shapes = parser_cache_new(16u << 20, 1u << 20);
					s->shapes_free = parser_cache_free;
				}
				ParsedStatement ps;
				if (s->shapes && parser_cache_lookup(s->shapes, d->text,
								     strlen(d->text), &ps, 1) >= 1)
					v.shape = ps.shape;
			}
			calls++;
			bool more = fn(arg, &v);
			digest_agg_free(&a);
			if (!more)
				break;
		} else {
			digest_agg_free(&a);
		}
		if (d == s->other)
			break;
	}
	return calls;
}

/* t's writes since since_hour (all time when since_us <= 0). */
static StatsTableView table_view(const TableStat *t, int64_t since_us, int64_t since_hour)
{
	StatsTableView v = {.table = t->name};
	if (since_us <= 0) {
		v.inserts = t->total.inserts;
		v.updates = t->total.updates;
		v.deletes = t->total.deletes;
		v.rows = t->total.rows;
		return v;
	}
	for (uint32_t i = 0; i < t->n_hours; i++) {
		if (t->hours[i].hour < since_hour)
			continue;
		v.inserts += t->hours[i].inserts;
		v.updates += t->hours[i].updates;
		v.deletes += t->hours[i].deletes;
		v.rows += t->hours[i].rows;
	}
	return v;
}

size_t stats_store_foreach_table(StatsStore *s, int64_t since_us, StatsTableFn fn, void *arg)
{
	size_t calls = 0;
	int64_t since_hour = since_us > 0 ? since_us / US_PER_HOUR : 0;
	HashNode *n, *next;
	size_t b;
	hashtab_for_each_safe(n, next, b, &s->tables)
	{
		StatsTableView v = table_view(list_entry(n, TableStat, link), since_us, since_hour);
		if (!v.inserts && !v.updates && !v.deletes)
			continue;
		calls++;
		if (!fn(arg, &v))
			return calls;
	}
	return calls;
}

/* ---- the worker ---- */

static void *worker_main(void *arg)
{
	(void)arg;
	/* The statistics yield the CPU to the traffic: on a busy machine the event loop and the
	 * PostgreSQL backends run first and this thread fills the gaps (its queue holds seconds of
	 * events). On Linux a thread has its own nice value. */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WORKER_NICE) != 0)
		log_debug("statistics thread: setpriority: %s", strerror(errno));
	Settings st = {0};
	SlowLog slow;
	slowlog_init(&slow);
	ParserCache *pc = NULL;
	int64_t next_flush = 0;
	uint64_t batch = 0;
	for (;;) {
		if (atomic_load(&g.reload_pending)) {
			pthread_mutex_lock(&g.settings_mu);
			Settings old = st;
			st = g.pending;
			memset(&g.pending, 0, sizeof(g.pending));
			atomic_store(&g.reload_pending, false);
			pthread_mutex_unlock(&g.settings_mu);
			if (!pc || old.parser_cache_bytes != st.parser_cache_bytes ||
			    old.query_text_max != st.query_text_max) {
				if (pc)
					parser_cache_free(pc);
				pc = parser_cache_new(
					st.parser_cache_bytes ? st.parser_cache_bytes : 64u << 20,
					st.query_text_max > 0 ? (size_t)st.query_text_max : 4096);
			}
			/* SIGHUP always reopens, so that logrotate can move the file away. */
			slowlog_open(&slow, st.slow_query_log, st.slow_max_per_sec);
			fleet_apply(&old, &st);
			pthread_mutex_lock(&g.mu);
			if (g.store)
				digest_store_set_limits(
					g.store,
					st.max_fingerprints > 0 ? (size_t)st.max_fingerprints : 0,
					(int64_t)((st.retention_ms + 3599999) / 3600000));
			pthread_mutex_unlock(&g.mu);
			settings_free(&old);
			next_flush = now_mono_ms() + (int64_t)(st.flush_interval_ms ?: 60000);
		}
		DigestStore *retired = NULL;
		pthread_mutex_lock(&g.mu);
		retired = g.retired;
		g.retired = NULL;
		pthread_mutex_unlock(&g.mu);
		digest_store_free(retired);

		StatsEvent ev;
		unsigned n = 0;
		bool reload_due = false;
		while (n < 4096 && queue_peek(g.queue, &ev)) {
			/* A reload applies to every event submitted after it (SIGHUP reopens the slow
			 * log: the lines after it belong in the new file). The event loop sets
			 * reload_pending before it publishes those events, and the peek read the
			 * queue's head with acquire, so this load sees the flag. */
			if (atomic_load_explicit(&g.reload_pending, memory_order_relaxed)) {
				reload_due = true;
				break;
			}
			/* without a parser cache (out of memory) events are let go, never kept */
			if (pc)
				worker_process(pc, &st, &slow, &ev);
			queue_pop(g.queue);
			/* after the slow log's write: stats_sync's callers read the file */
			atomic_fetch_add_explicit(&g.processed, 1, memory_order_release);
			n++;
		}
		if (pc && (n || batch % 64 == 0)) {
			ParserCacheStats pcs;
			parser_cache_stats(pc, &pcs);
			pthread_mutex_lock(&g.mu);
			g.pcs = pcs;
			pthread_mutex_unlock(&g.mu);
		}
		batch++;
		int64_t now = now_mono_ms();
		bool stopping = atomic_load(&g.stop);
		if (now >= next_flush || (stopping && !queue_peek(g.queue, &ev))) {
			if (st.stats_file)
				worker_flush(&st);
			if (g.fleet_on && !stopping)
				fleet_tick(false);
			next_flush = now + (int64_t)(st.flush_interval_ms ?: 60000);
		}
		if (n == 4096 || reload_due)
			continue; /* more waiting, or settings to apply first: no sleep */
		if (stopping && !queue_peek(g.queue, &ev))
			break;
		int64_t wait = next_flush - now;
		if (wait > QUEUE_POLL_MS || (!st.stats_file && !g.fleet_on))
			wait = QUEUE_POLL_MS;
		if (wait < 1)
			wait = 1;
		if (!stopping)
			queue_wait(g.queue, (int)wait);
	}
	fleet_stop();
	if (pc)
		parser_cache_free(pc);
	free(g.ps);
	g.ps = NULL;
	g.ps_cap = 0;
	slowlog_close(&slow);
	settings_free(&st);
	return NULL;
}

static void worker_flush(const Settings *st)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	/* The worker is the only writer of the store: reading it needs no lock (the pointer
	 * does, since stats_reset swaps it; a swapped-out store is freed by this thread only). */
	pthread_mutex_lock(&g.mu);
	DigestStore *store = g.store;
	pthread_mutex_unlock(&g.mu);
	int rc = persist_serialize(store, st->log_parameters ? PERSIST_SAMPLES : 0, now_wall_us(),
				   &buf, &len);
	if (rc == 0)
		rc = persist_write_file(st->stats_file, buf, len);
	free(buf);
	if (rc) {
		atomic_fetch_add(&g.flush_errors, 1);
		log_error("stats_file %s: cannot write: %s", st->stats_file, strerror(-rc));
	} else {
		atomic_fetch_add(&g.flushes, 1);
	}
}

/*
 * One statement event on the worker: parsed (cache lookup), recorded in its digest with its
 * sample and the tables it wrote, counted per database, and written to the slow-query log. One
 * function because every step reads the lookup's answers (fingerprint, normalized text, shape),
 * which stay valid only until the next lookup, and the digest record and counters change under
 * one lock.
 */
static void worker_process(ParserCache *pc, const Settings *st, SlowLog *slow, StatsEvent *ev)
{
	ParsedStatement *ps = g.ps;
	size_t ps_cap = g.ps_cap;
	if (!ev->end_wall_us)
		ev->end_wall_us = now_wall_us();
	const char *text = ev->text ? ev->text : "";
	size_t want = (size_t)ev->stmt_index + 1;
	if (want > ps_cap) {
		size_t cap = ps_cap ? ps_cap : 8;
		while (cap < want)
			cap *= 2;
		ParsedStatement *n = realloc(ps, cap * sizeof(*n));
		if (n) {
			g.ps = ps = n;
			g.ps_cap = ps_cap = cap;
		}
		if (!ps)
			return; /* out of memory: this one is not counted */
	}
	size_t max = want < ps_cap ? want : ps_cap;
	size_t got = parser_cache_lookup(pc, text, ev->text_len, ps, max);
	size_t n_statements = got;
	if (got > max)
		got = max;
	if (got == 0) {
		/* Nothing but the empty statement: count it as the text itself. */
		ps[0] = (ParsedStatement){.fingerprint = 0, .kind = SK_EMPTY, .normalized = ""};
		got = 1;
	}
	const ParsedStatement *p = &ps[got - 1];
	bool failed = ev->sqlstate[0] && strcmp(ev->sqlstate, "00000") != 0;
	TableWrite writes[MAX_TABLE_WRITES];
	size_t n_writes = failed ? 0 : shape_write_tables(p, writes, MAX_TABLE_WRITES);

	/*
	 * A digest seen for the first time keeps the shape of its normalized text (so that the
	 * shape's constant positions point into the text the digest keeps): one more lookup per
	 * new digest only. The worker is the only thread that adds digests, so the answer of the
	 * find stays true until it records.
	 */
	uint64_t fingerprint = p->fingerprint;
	DigestEvent de = {
		.fingerprint = fingerprint,
		.db = ev->db,
		.user = ev->user,
		.text = p->normalized ? p->normalized : "",
		.text_len = p->normalized ? p->normalized_len : 0,
		.kind = p->kind,
		.sqlstate = ev->sqlstate,
		.timed_out = ev->timed_out,
		.cancelled = ev->cancelled,
		.rows = ev->rows,
		.duration_ns = ev->duration_ns,
		.end_wall_us = ev->end_wall_us,
	};
	if (ev->params) {
		de.params = ev->params;
		de.params_len = ev->params_len;
		de.n_params = ev->n_params;
	}
	/* A runnable example for the advisor (the literals of constant filters make partial
	 * indexes): a simple query's text, or an Execute's prepared statement, with its parameters
	 * when the proxy sampled them (one Bind in 64) and with an empty parameter list otherwise,
	 * which marks the text as a prepared statement's (the application's SQL, no values). Not
	 * for a multi-statement message, whose other statements are not this digest's. */
	if (ev->text && n_statements == 1 && (ev->kind == SE_QUERY || ev->kind == SE_EXECUTE)) {
		de.orig_text = ev->text;
		de.orig_len = ev->text_len;
		if (ev->kind == SE_EXECUTE && !ev->params) {
			de.params = "";
			de.params_len = 0;
			de.n_params = 0;
		}
	}
	bool is_slow = st->slow_query_ms >= 0 &&
		       ev->duration_ns >= (uint64_t)st->slow_query_ms * 1000000ULL;
	bool log_text = st->log_parameters && ev->text; /* the text as sent, else normalized */
	StatsSlowRow row = {0};
	if (is_slow) {
		row.end_wall_us = ev->end_wall_us;
		snprintf(row.fingerprint, sizeof(row.fingerprint), "%016llx",
			 (unsigned long long)fingerprint);
		row.query =
			log_text ? strndup(ev->text, ev->text_len) : strndup(de.text, de.text_len);
		row.database = dup_or_empty(ev->db);
		row.user = dup_or_empty(ev->user);
		row.application = dup_or_empty(ev->app);
		row.client_addr = dup_or_empty(ev->client_addr);
		row.duration_ms = (double)ev->duration_ns / 1e6;
		row.rows = ev->rows;
		memcpy(row.sqlstate, ev->sqlstate, sizeof(row.sqlstate));
		row.timed_out = ev->timed_out;
	}

	/*
	 * One lookup of the digest, under the lock held until it is recorded (the common case: a
	 * known digest). A digest seen for the first time keeps the shape of its normalized text
	 * (so that the shape's constant positions point into the text the digest keeps): the lock
	 * is let go for that one more parser lookup, and the lookup's answer is then for the store
	 * it came from only (RESET STATS may have swapped it; only this thread adds digests).
	 */
	char *norm_copy = NULL;
	ParsedStatement np;
	StatsSlowRow evicted = {0};
	pthread_mutex_lock(&g.mu);
	DigestStore *s = g.store;
	Digest *known =
		digest_lookup(s, fingerprint, ev->db ? ev->db : "", ev->user ? ev->user : "");
	if (!known && p->shape && de.text_len) {
		pthread_mutex_unlock(&g.mu);
		norm_copy = strndup(de.text, de.text_len);
		if (norm_copy && parser_cache_lookup(pc, norm_copy, de.text_len, &np, 1) >= 1 &&
		    np.fingerprint == fingerprint)
			de.shape = np.shape;
		de.text = norm_copy ? norm_copy : "";
		de.text_len = norm_copy ? de.text_len : 0;
		p = NULL; /* invalidated by the second lookup */
		pthread_mutex_lock(&g.mu);
		s = g.store;
	}
	const char *logged = log_text ? ev->text : de.text;
	size_t logged_len = log_text ? ev->text_len : de.text_len;
	size_t folded_before = s->folded_total;
	if (!digest_record_found(s, known, &de))
		log_debug("stats: out of memory, statement not counted");
	for (size_t i = 0; i < n_writes; i++)
		digest_record_table_write(s, writes[i].name, writes[i].len, writes[i].kind,
					  ev->rows, ev->end_wall_us);
	if (s->folded_total != folded_before)
		atomic_fetch_add(&g.folded, s->folded_total - folded_before);
	g.queries++;
	g.errors += failed;
	g.timeouts += ev->timed_out;
	g.cancelled += ev->cancelled;
	int b = 0;
	while (b < STATS_LATENCY_BUCKETS &&
	       (double)ev->duration_ns > stats_latency_bounds_s[b] * 1e9)
		b++;
	g.lat[b]++;
	g.lat_sum_ns += ev->duration_ns;
	DbCounter *dc = db_counter(ev->db ? ev->db : "");
	if (dc) {
		dc->queries++;
		dc->errors += failed;
		dc->timeouts += ev->timed_out;
		dc->total_ns += ev->duration_ns;
	}
	if (is_slow) {
		g.slow_queries++;
		if (row.query && row.database && row.user && row.application && row.client_addr) {
			if (g.slow_n == STATS_SLOW_KEEP)
				evicted = g.slow[g.slow_next];
			else
				g.slow_n++;
			g.slow[g.slow_next] = row;
			g.slow_next = (g.slow_next + 1) % STATS_SLOW_KEEP;
			row = (StatsSlowRow){0};
		}
	}
	pthread_mutex_unlock(&g.mu);
	if (g.fleet_on) /* the shape: the second lookup's for a new digest, else the first's */
		fleet_event(st, ev, &de, p ? p->shape : de.shape, writes, n_writes);
	if (is_slow) { /* only a slow statement has rows to free */
		slow_row_free(&evicted);
		slow_row_free(&row);
	}

	if (is_slow && slow->fd >= 0) {
		SlowEntry e = {
			.end_wall_us = ev->end_wall_us,
			.user = ev->user,
			.dbname = ev->db,
			.pid = (int)getpid(),
			.remote_host = ev->client_addr,
			.remote_port = ev->client_port,
			.session_id = ev->session_id,
			.application_name = ev->app,
			.duration_ns = ev->duration_ns,
			.statement = logged,
			.statement_len = logged_len,
			.fingerprint = fingerprint,
			.rows = ev->rows,
			.sqlstate = ev->sqlstate,
			.timed_out = ev->timed_out,
		};
		if (st->log_parameters && ev->params && ev->n_params) {
			e.params = ev->params;
			e.params_len = ev->params_len;
			e.n_params = ev->n_params;
		}
		int rc = slowlog_write(slow, &e);
		if (rc == 1)
			atomic_fetch_add(&g.slow_logged, 1);
		else
			atomic_fetch_add(&g.slow_dropped, 1);
	} else if (is_slow && st->slow_query_log) {
		atomic_fetch_add(&g.slow_dropped, 1); /* the file could not be opened */
	}
	free(norm_copy);
}

/*
 * The tables a successful write statement wrote, for the advisor's write-cost estimate: the
 * shape's tables marked as the target of a write (MERGE counts as an update). Without a shape
 * (the text did not parse fully, or the shape was truncated) the target is read from the
 * normalized text instead.
 */
static size_t shape_write_tables(const ParsedStatement *ps, TableWrite *out, size_t max)
{
	if (!ps->shape)
		return text_write_tables(ps, out, max);
	const QueryShape *sh = ps->shape;
	const ShapeTable *t = shape_tables(sh);
	size_t n = 0;
	for (uint16_t i = 0; i < sh->n_tables && n < max; i++) {
		if (!t[i].write)
			continue;
		StmtKind k = (StmtKind)t[i].write;
		if (k == SK_MERGE)
			k = SK_UPDATE;
		if (k != SK_INSERT && k != SK_UPDATE && k != SK_DELETE)
			continue;
		const char *schema = shape_str(sh, t[i].schema), *name = shape_str(sh, t[i].name);
		int len = snprintf(out[n].name, sizeof(out[n].name), "%s%s%s", schema,
				   *schema ? "." : "", name);
		if (len <= 0 || (size_t)len >= sizeof(out[n].name))
			continue;
		out[n].len = (size_t)len;
		out[n].kind = k;
		n++;
	}
	return n;
}

/* INSERT INTO t, UPDATE [ONLY] t, DELETE FROM [ONLY] t, read from the normalized text (which
 * the parser produced, so keywords and quoting are PostgreSQL's). */
static size_t text_write_tables(const ParsedStatement *ps, TableWrite *out, size_t max)
{
	if (max == 0 || !ps->normalized)
		return 0;
	const char *kw1, *kw2;
	switch (ps->kind) {
	case SK_INSERT:
		kw1 = "insert";
		kw2 = "into";
		break;
	case SK_UPDATE:
		kw1 = "update";
		kw2 = NULL;
		break;
	case SK_DELETE:
		kw1 = "delete";
		kw2 = "from";
		break;
	default:
		return 0;
	}
	const char *p = ps->normalized, *end = ps->normalized + ps->normalized_len;
	const char *kws[3] = {kw1, kw2, "only"};
	for (int k = 0; k < 3; k++) {
		while (p < end && isspace((unsigned char)*p))
			p++;
		if (!kws[k])
			continue;
		size_t n = strlen(kws[k]);
		if ((size_t)(end - p) > n && strncasecmp(p, kws[k], n) == 0 &&
		    isspace((unsigned char)p[n]))
			p += n;
		else if (k < 2)
			return 0; /* WITH ... INSERT and the like */
	}
	while (p < end && isspace((unsigned char)*p))
		p++;
	const char *start = p;
	while (p < end && (isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '$' ||
			   (unsigned char)*p >= 0x80))
		p++;
	size_t len = (size_t)(p - start);
	if (len == 0 || len >= sizeof(out[0].name))
		return 0;
	memcpy(out[0].name, start, len);
	out[0].name[len] = '\0';
	out[0].len = len;
	out[0].kind = ps->kind;
	return 1;
}

/* Fleet.on_drop: the worker, outside the lock (fleet_event runs after it is released). */
static void fleet_dropped_in_db(void *arg, const char *db, uint64_t calls)
{
	(void)arg;
	pthread_mutex_lock(&g.mu);
	DbCounter *dc = db_counter(db);
	if (dc)
		dc->store_calls_dropped += calls;
	pthread_mutex_unlock(&g.mu);
}

static DbCounter *db_counter(const char *name)
{
	static __thread size_t last;
	if (last < g.n_dbs && strcmp(g.dbs[last].name, name) == 0)
		return &g.dbs[last];
	size_t i = 0;
	while (i < g.n_dbs && strcmp(g.dbs[i].name, name) < 0)
		i++;
	if (i < g.n_dbs && strcmp(g.dbs[i].name, name) == 0) {
		last = i;
		return &g.dbs[i];
	}
	char *copy = strdup(name);
	DbCounter *dbs = copy ? realloc(g.dbs, (g.n_dbs + 1) * sizeof(*dbs)) : NULL;
	if (!dbs) {
		free(copy);
		return NULL;
	}
	g.dbs = dbs;
	memmove(dbs + i + 1, dbs + i, (g.n_dbs - i) * sizeof(*dbs));
	dbs[i] = (DbCounter){.name = copy};
	g.n_dbs++;
	last = i;
	return &dbs[i];
}

static void settings_from_config(Settings *s, const Config *cfg)
{
	memset(s, 0, sizeof(*s));
	s->slow_query_ms = cfg->slow_query_ms;
	s->slow_query_log = cfg->slow_query_log ? strdup(cfg->slow_query_log) : NULL;
	s->slow_max_per_sec = cfg->slow_query_log_max_per_sec;
	s->log_parameters = cfg->log_parameters;
	s->stats_file = cfg->stats_file ? strdup(cfg->stats_file) : NULL;
	s->flush_interval_ms = cfg->stats_flush_interval;
	s->retention_ms = cfg->stats_retention;
	s->max_fingerprints = cfg->max_fingerprints;
	s->parser_cache_bytes = cfg->parser_cache_bytes;
	s->query_text_max = cfg->query_text_max;
	s->queue_size = cfg->stats_queue_size;
	if (cfg->stats_dsn && cfg->track_statements) {
		s->stats_dsn = strdup(cfg->stats_dsn);
		s->stats_dsn_schema =
			strdup(cfg->stats_dsn_schema ? cfg->stats_dsn_schema : "pgsift");
		char host[256] = "";
		if (!cfg->stats_instance && gethostname(host, sizeof(host) - 1) != 0)
			snprintf(host, sizeof(host), "localhost");
		s->stats_instance = strdup(cfg->stats_instance ? cfg->stats_instance : host);
		s->stats_dsn_backlog = cfg->stats_dsn_backlog;
		s->listen_port = cfg->listen_port;
		s->peer_id = cfg->peer_id;
	}
}

static void settings_free(Settings *s)
{
	free(s->slow_query_log);
	free(s->stats_file);
	free(s->stats_dsn);
	free(s->stats_dsn_schema);
	free(s->stats_instance);
	memset(s, 0, sizeof(*s));
}

static void slow_row_free(StatsSlowRow *r)
{
	free(r->query);
	free(r->database);
	free(r->user);
	free(r->application);
	free(r->client_addr);
	memset(r, 0, sizeof(*r));
}

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

static int64_t now_wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- hourly series (the dashboard) ---- */

/* a's percentiles clamped to its min and max, as stats_store_foreach gives them. */
static void hour_row_fill(StatsHourRow *r, int64_t hour, const DigestAgg *a)
{
	r->hour_start_us = hour * US_PER_HOUR;
	r->calls = a->calls;
	r->errors = a->errors;
	r->timeouts = a->timeouts;
	r->cancelled = a->cancelled;
	r->rows = a->rows;
	r->total_ms = (double)a->total_ns / 1e6;
	r->mean_ms = a->calls ? r->total_ms / (double)a->calls : 0;
	r->max_ms = (double)a->max_ns / 1e6;
	uint64_t p[3] = {hist_percentile(&a->hist, 50), hist_percentile(&a->hist, 95),
			 hist_percentile(&a->hist, 99)};
	for (int i = 0; i < 3; i++)
		p[i] = p[i] < a->min_ns ? a->min_ns : p[i] > a->max_ns ? a->max_ns : p[i];
	r->p50_ms = (double)p[0] / 1e6;
	r->p95_ms = (double)p[1] / 1e6;
	r->p99_ms = (double)p[2] / 1e6;
}

int stats_snapshot_hours(const StatsDigestKey *keys, size_t n, int64_t since_us, StatsHours *out)
{
	memset(out, 0, n * sizeof(*out));
	int64_t since_hour = since_us > 0 ? since_us / US_PER_HOUR : INT64_MIN;
	int rc = 0;
	pthread_mutex_lock(&g.mu);
	for (size_t k = 0; k < n && g.store && !rc; k++) {
		const Digest *d =
			digest_find(g.store, keys[k].fingerprint, keys[k].database, keys[k].user);
		if (!d)
			continue;
		out[k].found = true;
		if (!d->n_hours)
			continue;
		out[k].rows = calloc(d->n_hours, sizeof(*out[k].rows));
		if (!out[k].rows) {
			rc = -ENOMEM;
			break;
		}
		for (uint32_t i = 0; i < d->n_hours; i++)
			if (d->hours[i].hour >= since_hour && d->hours[i].agg.calls)
				hour_row_fill(&out[k].rows[out[k].n++], d->hours[i].hour,
					      &d->hours[i].agg);
	}
	pthread_mutex_unlock(&g.mu);
	if (rc)
		stats_hours_free(out, n);
	return rc;
}

void stats_hours_free(StatsHours *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(h[i].rows);
		h[i].rows = NULL;
		h[i].n = 0;
	}
}

/* ---- the fleet statistics store (stats_dsn) ---- */

static void json_file_put(void *ctx, const char *p, size_t n)
{
	fwrite(p, 1, n, ctx);
}

/*
 * The advisor's column sets of a shape, for pgsift_queries.columns: {"tables": [...], "where":
 * [...], "join": [...], "order_by": [...], "group_by": [...]}, each column "table.column" (the
 * table as the statement names it; "" when unresolved), ORDER BY columns with " DESC" when
 * descending; an empty set is left out. NULL when there is nothing to say (caller frees).
 */
static char *shape_columns_json(const QueryShape *sh)
{
	if (!sh || (sh->n_tables == 0 && sh->n_cols == 0))
		return NULL;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	const ShapeTable *t = shape_tables(sh);
	const ShapeCol *c = shape_cols(sh);
	fputs("{\"tables\": [", f);
	for (uint16_t i = 0; i < sh->n_tables; i++) {
		const char *schema = shape_str(sh, t[i].schema), *name = shape_str(sh, t[i].name);
		char q[300];
		snprintf(q, sizeof(q), "%s%s%s", schema, *schema ? "." : "", name);
		fputs(i ? ", " : "", f);
		json_write_str(json_file_put, f, q, strlen(q));
	}
	fputs("]", f);
	static const struct {
		const char *key;
		unsigned uses; /* bit per ShapeUse */
	} sets[] = {
		{"where", 1u << SU_EQ | 1u << SU_IS_NULL | 1u << SU_IS_NOT_NULL | 1u << SU_RANGE |
				  1u << SU_LIKE | 1u << SU_SEARCH},
		{"join", 1u << SU_JOIN},
		{"order_by", 1u << SU_ORDER},
		{"group_by", 1u << SU_GROUP},
	};
	for (size_t k = 0; k < sizeof(sets) / sizeof(sets[0]); k++) {
		int n = 0;
		for (uint16_t i = 0; i < sh->n_cols; i++) {
			if (!(sets[k].uses & (1u << c[i].use)))
				continue;
			const char *tn = c[i].table != SHAPE_NONE && c[i].table < sh->n_tables ?
						 shape_str(sh, t[c[i].table].name) :
						 "";
			char q[600];
			snprintf(q, sizeof(q), "%s.%s%s", tn, shape_str(sh, c[i].name),
				 c[i].use == SU_ORDER && (c[i].flags & SCF_DESC) ? " DESC" : "");
			fprintf(f, n++ ? ", " : ", \"%s\": [", sets[k].key);
			json_write_str(json_file_put, f, q, strlen(q));
		}
		if (n)
			fputs("]", f);
	}
	fputs("}", f);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* [{"text": "...", "params": ["v1", ...]}] from an event (log_parameters only). */
static char *sample_json(const StatsEvent *ev)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	fputs("[{\"text\": ", f);
	json_write_str(json_file_put, f, ev->text, ev->text_len);
	if (ev->params) {
		fputs(", \"params\": [", f);
		const char *p = ev->params, *end = ev->params + ev->params_len;
		for (uint16_t i = 0; i < ev->n_params && p < end; i++) {
			size_t n = strnlen(p, (size_t)(end - p));
			fputs(i ? ", " : "", f);
			json_write_str(json_file_put, f, p, n);
			p += n + 1;
		}
		fputs("]", f);
	}
	fputs("}]", f);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* The JSON of a digest seen for the first time (fleet_record's describe callback). */
typedef struct FleetDescribe {
	const Settings *st;
	const StatsEvent *ev;
	const QueryShape *shape;
} FleetDescribe;

static void fleet_describe(void *arg, char **columns, char **samples)
{
	const FleetDescribe *d = arg;
	*columns = shape_columns_json(d->shape);
	*samples = NULL;
	if (d->st->log_parameters && d->ev->text &&
	    (d->ev->kind == SE_QUERY || d->ev->kind == SE_EXECUTE))
		*samples = sample_json(d->ev);
}

/* One statement into the fleet accumulator (worker thread, no lock: the fleet is its own). */
static void fleet_event(const Settings *st, const StatsEvent *ev, const DigestEvent *de,
			const QueryShape *shape, const TableWrite *writes, size_t n_writes)
{
	FleetDescribe d = {.st = st, .ev = ev, .shape = shape};
	FleetEvent fe = {.de = de, .app = ev->app, .describe = fleet_describe, .arg = &d};
	if (!fleet_record(&g.fleet, &fe))
		log_debug("stats: out of memory, statement not counted for stats_dsn");
	for (size_t i = 0; i < n_writes; i++)
		fleet_record_table(&g.fleet, writes[i].name, writes[i].len, writes[i].kind,
				   ev->rows, ev->end_wall_us);
}

static void fleet_store_settings(const Settings *st, StorePgSettings *out, char *key, size_t len)
{
	fleet_instance_key(key, len, st->stats_instance, st->listen_port, (int)getpid(),
			   g.started_us / 1000000);
	*out = (StorePgSettings){
		.dsn = st->stats_dsn,
		.schema = st->stats_dsn_schema,
		.instance = key,
		.host = st->stats_instance,
		.pid = (int)getpid(),
		.listen_port = st->listen_port,
		.peer_id = st->peer_id,
		.started_us = g.started_us,
		.retention_ms = st->retention_ms,
	};
	char host[256];
	if (gethostname(host, sizeof(host) - 1) == 0) {
		host[sizeof(host) - 1] = '\0';
		out->host = strdup(host); /* freed by the caller (fleet_apply) */
	} else {
		out->host = NULL;
	}
}

/* Settings applied on the worker: stats_dsn set starts the accumulator and the writer thread,
 * cleared stops them (after a last write); changed, the writer reconnects. The instance key is
 * made once per start of the store (the name, port and pid it holds do not change under a
 * reload that keeps stats_dsn on). */
static void fleet_apply(const Settings *old, const Settings *st)
{
	static char key[512];
	if (!st->stats_dsn) {
		fleet_stop();
		return;
	}
	StorePgSettings sp;
	char fresh[512];
	fleet_store_settings(st, &sp, fresh, sizeof(fresh));
	if (!g.fleet_on) {
		snprintf(key, sizeof(key), "%s", fresh);
		sp.instance = key;
		bool fleet_ok = fleet_init(&g.fleet, (size_t)st->stats_dsn_backlog);
		g.fleet.on_drop = fleet_dropped_in_db;
		if (!fleet_ok) {
			log_error("stats_dsn: out of memory; the fleet store is off");
		} else if (store_pg_start(&sp) != 0) {
			log_error("stats_dsn: cannot start the writer thread; the fleet store is "
				  "off");
			fleet_destroy(&g.fleet);
		} else {
			g.fleet_on = true;
			log_info("stats_dsn: writing statistics as instance %s every %llu ms", key,
				 (unsigned long long)st->flush_interval_ms);
		}
	} else {
		sp.instance = key;
		fleet_set_backlog(&g.fleet, (size_t)st->stats_dsn_backlog);
		if (old->stats_dsn && (strcmp(old->stats_dsn, st->stats_dsn) != 0 ||
				       strcmp(old->stats_dsn_schema, st->stats_dsn_schema) != 0)) {
			/* the new store has none of it (fleet_unwrite also forgets which batch
			 * carried what, so the answer for one in flight marks nothing) */
			fleet_unwrite(&g.fleet);
		}
		store_pg_configure(&sp);
	}
	free((char *)sp.host);
}

/* Every stats_flush_interval: the writer's answer for the last batch, then the next batch when
 * the writer is idle, or only the backlog bound while it is still busy (a slow or hung store). */
static void fleet_tick(bool final)
{
	(void) final;
	int64_t now = now_wall_us();
	uint64_t gen;
	bool ok;
	if (store_pg_poll(&gen, &ok))
		fleet_ack(&g.fleet, gen, ok, now);
	uint64_t busy = store_pg_in_flight();
	if (!busy) {
		FleetBatch b;
		if (fleet_collect(&g.fleet, now, &b) && !store_pg_submit(&b)) {
			fleet_ack(&g.fleet, b.gen, false, now);
			fleet_batch_free(&b);
		}
	} else {
		fleet_enforce_backlog(&g.fleet, busy);
	}
	atomic_store(&g.store_rows_dropped, g.fleet.rows_dropped);
	atomic_store(&g.store_calls_dropped, g.fleet.calls_dropped);
	atomic_store(&g.store_backlog, g.fleet.waiting);
}

/* The last write (waiting up to 5 s for the one in flight), then the writer stops. */
static void fleet_stop(void)
{
	if (!g.fleet_on)
		return;
	for (int i = 0; i < 500 && store_pg_in_flight(); i++)
		usleep(10000);
	fleet_tick(true);
	store_pg_stop(5000);
	fleet_destroy(&g.fleet);
	g.fleet_on = false;
}
