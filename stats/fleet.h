/*
 * fleet: the statistics worker's accumulator for the fleet statistics store (stats_dsn; the
 * tables are described in the README's "Fleet statistics" and in spec/fleet-schema.md). It keeps
 * this process's CUMULATIVE aggregate per (hour, fingerprint, database, user, application), the
 * write counts per (hour, table), and one entry per digest (fingerprint, database, user) with
 * what pgsift_queries needs; and it knows which of them the store has not got yet.
 *
 * Each row carries a version (bumped by every event) and the version the store holds. At every
 * stats_flush_interval the worker calls fleet_collect, which copies every row the store lacks
 * (changed since its last successful write, or never written) into a FleetBatch for the writer
 * thread (stats/store_pg.c); the writer reports back with fleet_ack. So a failed write is simply
 * collected again at the next flush with the newest values (newest wins per key), and the rows
 * waiting for the store are bounded by the distinct keys. Past `backlog` waiting rows the oldest
 * hours are dropped (fleet_collect): counted in rows and in the calls the store will never see.
 * A dropped row that the store holds in part stays as a small tombstone until its hour is over,
 * so that later calls of its key are counted as dropped rather than written over the stored
 * value (the store's figures are cumulative: writing a fresh row would lose what it held).
 *
 * Rows of a past hour that were written after the hour ended are freed; an event that comes in
 * later for such a row (a clock step) is counted as dropped.
 *
 * Owned by the statistics worker thread; nothing here locks, does I/O or parses.
 */
#ifndef PGSIFT_STATS_FLEET_H
#define PGSIFT_STATS_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats/digest.h"
#include "util/hashtab.h"

/* Events of an hour may still be in the queue a moment after it ends: its rows are freed (and
 * later events for them counted as dropped) only this long after the hour. */
#define FLEET_GRACE_US 2000000LL

/* One statement-hour row: the accumulator's entry, and a row of a batch (a deep copy). */
typedef struct FleetRow {
	int64_t hour; /* end_wall_us / US_PER_HOUR */
	uint64_t fingerprint;
	char *db, *user, *app; /* owned; app "" when none */
	DigestAgg agg;	       /* cumulative for the hour since start */
	/* accumulator only */
	uint64_t version, sent_version, written_version;
	uint64_t sent_gen;	/* the batch that last carried it */
	uint64_t sent_calls;	/* agg.calls when it was last collected */
	uint64_t written_calls; /* agg.calls the store holds */
	bool sent_after_hour;	/* last collected after its hour had ended */
	bool dead;		/* dropped (backlog) after a partial write: a tombstone */
	HashNode link;
} FleetRow;

/* Writes to one table in one hour (digest.h's TableHour, per hour), cumulative. */
typedef struct FleetTable {
	int64_t hour;
	char *name; /* owned */
	uint64_t inserts, updates, deletes, rows;
	uint64_t version, sent_version, written_version, sent_gen;
	bool sent_after_hour;
	HashNode link;
} FleetTable;

/* One digest for pgsift_queries, written once. */
typedef struct FleetQuery {
	uint64_t fingerprint;
	char *db, *user;  /* owned */
	const char *kind; /* stmt_kind_str (static, not owned) */
	char *text;	  /* normalized (owned) */
	char *columns;	  /* jsonb text or NULL (owned) */
	char *samples;	  /* jsonb text or NULL (owned) */
	int64_t first_seen_us;
	bool written;
	uint64_t sent_gen;
	HashNode link;
} FleetQuery;

typedef struct FleetBatch {
	uint64_t gen;
	FleetRow *rows; /* copies (owned) */
	size_t n_rows, cap_rows;
	FleetTable *tables; /* copies (owned) */
	size_t n_tables, cap_tables;
	FleetQuery *queries; /* copies (owned) */
	size_t n_queries, cap_queries;
	uint64_t rows_dropped, calls_dropped; /* the accumulator's totals at collection */
} FleetBatch;

typedef struct Fleet {
	HashTab rows;	     /* FleetRow by (hour, fingerprint, db, user, app) */
	HashTab tables;	     /* FleetTable by (hour, name) */
	HashTab queries;     /* FleetQuery by (fingerprint, db, user) */
	size_t backlog;	     /* most rows waiting for the store (stats_dsn_backlog) */
	uint64_t gen;	     /* the last batch collected */
	int64_t closed_hour; /* rows of this hour and before were freed: new events dropped */
	uint64_t rows_dropped, calls_dropped;
	uint64_t waiting; /* rows the store lacks, as of the last collect / ack */
	/* told of every call dropped, with its database (SHOW STATS counts them per database);
	 * may be NULL; set after fleet_init */
	void (*on_drop)(void *arg, const char *db, uint64_t calls);
	void *drop_arg;
} Fleet;

/* What the worker knows of one statement, for the accumulator. */
typedef struct FleetEvent {
	const DigestEvent *de; /* fingerprint, db, user, text, kind, outcome, duration, time */
	const char *app;       /* NULL: "" */
	/* Called only for a digest seen for the first time: its columns and samples as jsonb
	 * text (malloc'ed, or NULL), so that the JSON is built once per digest, not per event. */
	void (*describe)(void *arg, char **columns, char **samples);
	void *arg;
} FleetEvent;

bool fleet_init(Fleet *f, size_t backlog);
void fleet_destroy(Fleet *f);
void fleet_set_backlog(Fleet *f, size_t backlog);

/* Counts one statement. False when memory ran out (then nothing is counted for the store). */
bool fleet_record(Fleet *f, const FleetEvent *e);
/* Whether the digest (fingerprint, db, user) has its pgsift_queries entry already: the worker
 * builds the columns JSON only for a new one. */
bool fleet_has_query(const Fleet *f, uint64_t fingerprint, const char *db, const char *user);
/* Counts one write to a table (kind SK_INSERT, SK_UPDATE, SK_DELETE). */
bool fleet_record_table(Fleet *f, const char *table, size_t len, StmtKind kind, uint64_t rows,
			int64_t end_wall_us);

/*
 * Drops the oldest waiting rows past the backlog, then copies everything the store lacks into
 * out (a new batch, generation f->gen + 1). now_us: the wall clock, which says which hours are
 * over. Returns false when memory ran out (out freed, nothing marked). An empty batch (n_rows,
 * n_tables and n_queries 0) needs no write.
 */
bool fleet_collect(Fleet *f, int64_t now_us, FleetBatch *out);
/* Only the backlog bound of fleet_collect (while the writer is still busy with a batch, the
 * worker does not collect but the rows waiting must stay bounded): gen_in_flight's rows are
 * kept. */
void fleet_enforce_backlog(Fleet *f, uint64_t gen_in_flight);
/* The writer's answer for batch gen: ok marks what it carried as written and frees the rows of
 * past hours it completed. now_us as for fleet_collect. */
void fleet_ack(Fleet *f, uint64_t gen, bool ok, int64_t now_us);

/* stats_dsn now names another store (a RELOAD): everything in memory is sent again. */
void fleet_unwrite(Fleet *f);

void fleet_batch_free(FleetBatch *b);

/* The instance key: "<name>:<listen_port>:<pid>:<start unix seconds>" into buf. */
void fleet_instance_key(char *buf, size_t len, const char *name, int port, int pid,
			int64_t start_s);

#endif
