/*
 * stats: the statistics side of pgsift. The event loop hands each finished statement to
 * stats_submit(), which copies it into a bounded single-producer queue and returns at once; one
 * worker thread takes events from the queue, looks the text up in its ParserCache, updates the
 * digests and histograms, writes the slow-query log and feeds the advisor's accumulators.
 *
 * Threads: stats_submit() and stats_dropped() are called only from the event loop thread (the
 * single producer). Everything else that reads results (stats_snapshot_*) may be called from the
 * event loop too and takes only short locks that the worker never holds while parsing or doing
 * I/O.
 *
 * Cost on the event loop: stats_submit copies the event into a ring (about 50 ns, no lock, no
 * allocation, no system call: the worker is woken only when the ring is 1/16 full, otherwise it
 * looks every 5 ms). So an event shows in the results a few milliseconds after it is submitted;
 * stats_sync() waits for that where it matters (tests, tools).
 *
 * Latency percentiles come from log-linear histograms with 64 buckets per power of two (each
 * bucket at most 1.56% wide, answers within 0.78% of the exact nearest-rank percentile, well
 * inside the promised 2%). Digests keep one aggregate per hour for stats_retention, so windows
 * (`--since`) are exact to the hour. The stats file format is described in stats/persist.h.
 */
#ifndef PGSIFT_STATS_H
#define PGSIFT_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "parser/parser.h"

typedef enum {
	SE_QUERY =
		0, /* simple protocol: text is the whole Query message; stmt_index picks the statement */
	SE_EXECUTE,  /* extended protocol: text is the prepared statement's text */
	SE_COPY,     /* a COPY's completion (its text as for SE_QUERY / SE_EXECUTE) */
	SE_FUNCTION, /* FunctionCall: text is "fastpath function <oid>" */
} StatsEventKind;

/* One finished statement. Strings need not be NUL-terminated; stats_submit copies them. */
typedef struct StatsEvent {
	StatsEventKind kind;
	uint16_t stmt_index; /* which statement of a multi-statement simple query (0-based) */
	bool timed_out;	     /* cancelled by pgsift's query_timeout */
	bool cancelled;	  /* cancelled by the client's CancelRequest / statement_timeout (57014) */
	char sqlstate[6]; /* "" on success, else the 5-character code, NUL-terminated */
	uint64_t rows;	  /* from CommandComplete's tag */
	uint64_t duration_ns; /* monotonic: sent to the server -> CommandComplete/ErrorResponse */
	int64_t end_wall_us;  /* CLOCK_REALTIME at completion, microseconds since the epoch */
	const char *text;
	uint32_t text_len;
	const char *db; /* the client's database name */
	const char *user;
	const char *app;	 /* application_name, may be NULL */
	const char *client_addr; /* "1.2.3.4" or "[local]" */
	uint32_t client_port;
	const char *params; /* Bind parameters as text, '\0'-separated, for sampling; may be NULL */
	uint32_t params_len;
	uint16_t n_params;
	const char *
		session_id; /* PostgreSQL-style "%lx.%x" (client start time, client number); may be NULL */
} StatsEvent;

/* Starts the worker thread. Returns 0 or -errno. */
int stats_start(const Config *cfg);
/* Stops the worker after it has drained the queue, flushes stats_file. */
void stats_stop(void);
/* Called after a reload (SIGHUP): new settings, slow log reopened. The Config must outlive use. */
void stats_reload(const Config *cfg);

/* Event loop only. Never blocks: returns false (and counts a drop) when the queue is full. */
bool stats_submit(const StatsEvent *ev);
uint64_t stats_dropped(void);

/*
 * Waits (polling every millisecond, at most timeout_ms) until the worker has processed every
 * event submitted before the call; true when it has. Blocks: for tests, tools and shutdown
 * paths, never for the event loop while it serves traffic.
 */
bool stats_sync(int timeout_ms);

/* ------------------------------------------------------------------------------------------
 * Read side (admin console, /metrics). Called from the event loop thread. Each function copies
 * what it returns under the statistics mutex, which the worker holds only while it updates the
 * in-memory digests (never while it parses, writes the slow log or writes stats_file), so the
 * wait is bounded by one digest update. The copies belong to the caller and are freed with the
 * matching *_free function. Before stats_start and after stats_stop they return empty results.
 */

typedef struct StatsErrorClass {
	char cls[3]; /* SQLSTATE class, the first two characters ("23", "57"...) */
	uint64_t count;
} StatsErrorClass;

/* One row of SHOW QUERIES. */
typedef struct StatsQueryRow {
	char fingerprint[17]; /* 16 lower-case hex digits; the "other" row has 0000000000000000 */
	uint64_t fingerprint_value;
	char *query;	/* normalized text ($n for constants), cut at query_text_max; "<other>" */
	char *database; /* "*" for the other row */
	char *user;	/* "*" for the other row */
	StmtKind kind;
	bool is_other;	 /* the least recently seen digests folded together (max_fingerprints) */
	uint64_t folded; /* other row: how many digests were folded into it */
	uint64_t calls;
	uint64_t errors;    /* statements that ended with an ErrorResponse */
	uint64_t timeouts;  /* cancelled by query_timeout */
	uint64_t cancelled; /* cancelled by the client / its statement_timeout */
	uint64_t rows;
	double total_ms, mean_ms, min_ms, p50_ms, p95_ms, p99_ms, max_ms;
	int64_t first_seen_us; /* wall clock, microseconds since the epoch */
	int64_t last_seen_us;
	StatsErrorClass *error_classes; /* by class, ascending (owned by the StatsQueries) */
	size_t n_error_classes;
	/* One sampled execution (stats_sample_runnable), each NULL when there is none or it may
	 * not be shown: see DIGEST_ROWS_VALUES. */
	char *sample_query;  /* its text */
	char *sample_params; /* its parameters, n_params '\0'-terminated values */
	uint32_t sample_params_len;
	uint16_t sample_n_params;
} StatsQueryRow;

typedef struct StatsQueries {
	StatsQueryRow *rows; /* sorted by total_ms descending, then fingerprint */
	size_t n;
} StatsQueries;

/*
 * SHOW QUERIES. since_us = 0: everything since start (or RESET STATS), as loaded from stats_file
 * plus what came after. since_us > 0: only the hourly buckets from the hour that contains since_us
 * on (the window is exact to the hour: its counts are the sums of those hours' counts and its
 * percentiles come from the sum of their histograms). Returns 0 or -ENOMEM.
 */
int stats_snapshot_queries(int64_t since_us, StatsQueries *out);
void stats_queries_free(StatsQueries *q);

/* One statement of SHOW SLOW: the STATS_SLOW_KEEP most recent ones over slow_query_ms. */
#define STATS_SLOW_KEEP 100
typedef struct StatsSlowRow {
	int64_t end_wall_us;
	char fingerprint[17];
	char *query; /* as written to the slow log: normalized; with log_parameters the original
		     * text (the whole Query message for a multi-statement simple query, as
		     * PostgreSQL logs it) */
	char *database;
	char *user;
	char *application; /* "" when unknown */
	char *client_addr; /* "" when unknown */
	double duration_ms;
	uint64_t rows;
	char sqlstate[6]; /* "" on success */
	bool timed_out;
} StatsSlowRow;

typedef struct StatsSlowList {
	StatsSlowRow *rows; /* newest first */
	size_t n;
} StatsSlowList;

/* SHOW SLOW: at most max rows (0 = all kept). Returns 0 or -ENOMEM. */
int stats_snapshot_slow(size_t max, StatsSlowList *out);
void stats_slow_free(StatsSlowList *list);

/*
 * RESET STATS: forgets every digest, hourly bucket, per-table write count and the SHOW SLOW
 * list (stats_file follows at the next flush). The monotonic counters of stats_counters() are
 * not reset, because Prometheus counters must never go down.
 */
void stats_reset(void);

/* Upper bounds (seconds) of the Prometheus query-duration histogram; +Inf follows. */
#define STATS_LATENCY_BUCKETS 14
extern const double stats_latency_bounds_s[STATS_LATENCY_BUCKETS];

typedef struct StatsDbCounters {
	char *database; /* owned by the StatsCounters */
	uint64_t queries;
	uint64_t errors;
	uint64_t timeouts;
	double total_ms;
	uint64_t store_calls_dropped; /* calls the fleet store (stats_dsn) will never see */
} StatsDbCounters;

/* For /metrics and SHOW STATS. Every counter is monotonic since stats_start. */
typedef struct StatsCounters {
	uint64_t events_submitted; /* accepted by stats_submit */
	uint64_t events_dropped;   /* refused by stats_submit: queue full */
	uint64_t events_processed; /* taken from the queue by the worker */
	uint64_t queries;	   /* processed statement events */
	uint64_t errors;
	uint64_t timeouts;
	uint64_t cancelled;
	uint64_t slow_queries; /* at or over slow_query_ms */
	uint64_t slow_logged;  /* written to slow_query_log */
	uint64_t slow_dropped; /* not written: slow_query_log_max_per_sec, or a write error */
	uint64_t parser_hits;  /* ParserCacheStats exact_hits + const_hits */
	uint64_t parser_misses;
	uint64_t parser_evictions;
	uint64_t parser_entries;
	uint64_t parser_bytes;
	uint64_t fingerprints; /* digests in memory now, the other row excluded */
	uint64_t folded;       /* digests folded into "other" since start */
	uint64_t flushes;      /* stats_file writes that succeeded */
	uint64_t flush_errors;
	/* The fleet store (stats_dsn): statement-hour rows written, and not kept for it (the
	 * backlog was full) with the calls they held; failed writes; rows waiting; up = the last
	 * write succeeded. */
	uint64_t store_rows_written;
	uint64_t store_rows_dropped;
	uint64_t store_calls_dropped;
	uint64_t store_write_errors;
	uint64_t store_backlog;
	bool store_up;
	/* Query-duration histogram, Prometheus style: latency_cum[i] = statements that took
	 * <= stats_latency_bounds_s[i]; latency_cum[STATS_LATENCY_BUCKETS] = all of them (+Inf). */
	uint64_t latency_cum[STATS_LATENCY_BUCKETS + 1];
	double latency_sum_s;
	StatsDbCounters *dbs; /* per database, sorted by name (owned) */
	size_t n_dbs;
} StatsCounters;

int stats_counters(StatsCounters *out);
void stats_counters_free(StatsCounters *c);

/* ------------------------------------------------------------------------------------------
 * Offline and advisor API: a StatsStore is a self-contained copy of the digests, loaded from a
 * stats file (`pgsift suggest --stats-file FILE`, no worker needed) or copied from the running
 * worker. It is owned by one thread. Shapes are derived by parsing each digest's normalized text
 * with the parser the first time they are asked for, so the file does not depend on the layout
 * of QueryShape.
 */
typedef struct StatsStore StatsStore;

/*
 * Loads a stats file. Returns 0, -ENOENT when it does not exist, -EINVAL when it is truncated,
 * corrupt or of another version (err says which), or -errno. Nothing is renamed: only
 * stats_start sets a corrupt file aside.
 */
int stats_store_load(const char *path, StatsStore **out, char *err, size_t errlen);
/*
 * Loads the fleet statistics store: the tables in schema (NULL: "pgsift") of the PostgreSQL at
 * dsn into which every pgsift with stats_dsn writes (README.md, "Fleet statistics"). One digest
 * per (fingerprint, database, user), each hour the sum over the instances and applications of
 * that hour's rows (histograms added bucket by bucket: exact); only the hours from the one that
 * contains since_us on (0: all of them), the all-time totals their sum. Returns 0, or with err
 * set: -EIO (cannot connect: libpq's message; a query failed), -ENOENT (no such tables in the
 * schema), -EINVAL (another version of the tables, or a bad row, named), -ENOMEM.
 */
int stats_store_load_pg(const char *dsn, const char *schema, int64_t since_us, StatsStore **out,
			char *err, size_t errlen);
/* How many pgsift instances wrote the statement rows stats_store_load_pg read; 0 for a store
 * from a file or the worker. */
uint64_t stats_store_instances(const StatsStore *s);
/* A copy of the running worker's digests (serialized under the lock, rebuilt outside it). */
int stats_snapshot_store(StatsStore **out);
void stats_store_free(StatsStore *s);
/* When the file was written (wall clock, us); the time of the copy for a snapshot. */
int64_t stats_store_saved_at(const StatsStore *s);

/* One sampled execution: the original text of a simple query (with its literals, params
 * NULL), or the prepared statement's text (the application's constants as literals, $n for the
 * rest) with the parameters of an Execute (params not NULL; n_params 0 when they were not
 * sampled); files of older versions may hold parameters without text. */
typedef struct StatsParamSample {
	const char *text;   /* the original statement text or NULL */
	const char *params; /* n_params values, each '\0'-terminated, or NULL */
	uint32_t params_len;
	uint16_t n_params;
} StatsParamSample;

/* The sample the advisor runs (EXPLAIN) and reads literals from: the first with a text and
 * all its values (a simple query's, or a prepared statement's with its parameters), else the
 * first with a text, else the first with parameters (for the normalized text); NULL when
 * there is none. */
const StatsParamSample *stats_sample_runnable(const StatsParamSample *s, size_t n);

/* One digest summed over the window. Pointers are valid until the StatsStore is freed, except
 * shape (see below). */
typedef struct StatsDigestView {
	uint64_t fingerprint;
	const char *query;
	const char *database;
	const char *user;
	StmtKind kind;
	bool is_other;
	const QueryShape *shape; /* the shape of query (its ShapeCol positions point into query);
				  * NULL for utility statements, the other row, unparsable text.
				  * Valid only during the call to fn. */
	uint64_t calls, errors, timeouts, cancelled, rows;
	double total_ms, mean_ms, p50_ms, p95_ms, p99_ms, max_ms;
	int64_t first_seen_us, last_seen_us;
	const StatsParamSample
		*samples; /* in memory always; in the file only with log_parameters */
	size_t n_samples;
} StatsDigestView;

/* Return false to stop. */
typedef bool (*StatsDigestFn)(void *arg, const StatsDigestView *d);
/* Calls fn for each digest with calls in the window (since_us as for stats_snapshot_queries);
 * returns how many it was called for. */
size_t stats_store_foreach(StatsStore *s, int64_t since_us, StatsDigestFn fn, void *arg);

/* Writes per table (from the shapes of INSERT/UPDATE/DELETE/MERGE/COPY FROM) over the window. */
typedef struct StatsTableView {
	const char *table; /* as the statement names it, schema-qualified when it was */
	uint64_t inserts, updates, deletes; /* statements */
	uint64_t rows;			    /* rows those statements wrote */
} StatsTableView;
typedef bool (*StatsTableFn)(void *arg, const StatsTableView *t);
size_t stats_store_foreach_table(StatsStore *s, int64_t since_us, StatsTableFn fn, void *arg);

/* ------------------------------------------------------------------------------------------
 * Hourly series of single digests (the dashboard's latency charts). One StatsHourRow per kept
 * hourly bucket of a digest that has calls; percentiles as in SHOW QUERIES (within 0.78%).
 */
typedef struct StatsHourRow {
	int64_t hour_start_us; /* wall clock: the first microsecond of the hour */
	uint64_t calls, errors, timeouts, cancelled, rows;
	double total_ms, mean_ms, p50_ms, p95_ms, p99_ms, max_ms;
} StatsHourRow;

typedef struct StatsHours {
	StatsHourRow *rows; /* ascending by hour (owned) */
	size_t n;
	bool found; /* the digest exists */
} StatsHours;

/* Which digest: SHOW QUERIES's fingerprint, database and user. */
typedef struct StatsDigestKey {
	uint64_t fingerprint;
	const char *database;
	const char *user;
} StatsDigestKey;

/*
 * For each of the n keys, the hourly buckets from the hour that contains since_us on (0: every
 * kept hour) into out[i] (out has n elements). Takes the statistics mutex once, for the copy of
 * those digests' hours only: the cost under the lock grows with n and the hours kept, not with
 * the number of digests. Returns 0 or -ENOMEM (out freed). Free with stats_hours_free(out, n).
 */
int stats_snapshot_hours(const StatsDigestKey *keys, size_t n, int64_t since_us, StatsHours *out);
void stats_hours_free(StatsHours *h, size_t n);

#endif
