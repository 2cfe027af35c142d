/*
 * digest: the in-memory statistics. A DigestStore holds one Digest per (fingerprint, database,
 * user) with an all-time aggregate and one aggregate per hour (kept for stats_retention), the
 * per-table write counts, and the "other" row into which the least recently seen digests are
 * folded once there are max_fingerprints of them. It is also the type behind the public
 * StatsStore (the offline view loaded from a stats file).
 *
 * Not thread-safe: stats.c serializes the worker's updates and the readers' copies with its
 * mutex. Nothing here parses, except the offline shape lookup (digest_store_foreach), which runs
 * on a store that belongs to one thread.
 */
#ifndef PGSIFT_STATS_DIGEST_H
#define PGSIFT_STATS_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parser/parser.h"
#include "stats/histogram.h"
#include "stats/stats.h"
#include "util/hashtab.h"
#include "util/list.h"

#define DIGEST_SAMPLES 4
#define DIGEST_RECENT 64 /* a power of two */
#define US_PER_HOUR 3600000000LL

typedef struct ErrClassCount {
	char cls[2];
	uint64_t n;
} ErrClassCount;

/* Counts over some period. Merging two periods is exact (histograms add bucket by bucket). */
typedef struct DigestAgg {
	uint64_t calls, errors, timeouts, cancelled, rows;
	uint64_t total_ns, min_ns, max_ns;
	int64_t first_seen_us, last_seen_us;
	ErrClassCount *err; /* sorted by class (owned) */
	uint32_t n_err;
	Histogram hist;
} DigestAgg;

typedef struct DigestHour {
	int64_t hour; /* end_wall_us / US_PER_HOUR */
	DigestAgg agg;
} DigestHour;

typedef struct DigestSample {
	char *text;   /* owned, may be NULL */
	char *params; /* owned, may be NULL */
	uint32_t params_len;
	uint16_t n_params;
} DigestSample;

typedef struct Digest {
	uint64_t fingerprint;
	char *db;   /* owned */
	char *user; /* owned */
	char *text; /* normalized text (owned) */
	StmtKind kind;
	bool is_other;
	uint64_t folded; /* other row: digests folded into it */
	DigestAgg total;
	DigestHour *hours; /* ascending by hour (owned) */
	uint32_t n_hours, cap_hours;
	DigestSample samples[DIGEST_SAMPLES];
	uint32_t n_samples;
	uint64_t sample_seen; /* events offered to the reservoir */
	/* The shape of the normalized text (so its ShapeCol positions point into text), a flat
	 * copy made with memcpy as parser/shape.h allows; NULL for utility statements, the other
	 * row, or text that did not parse (owned). */
	QueryShape *shape;
	HashNode link; /* in the store's digests, hash of (fingerprint, db, user) */
	ListNode lru;  /* in the store's lru, most recently seen first */
} Digest;

typedef struct TableHour {
	int64_t hour;
	uint64_t inserts, updates, deletes, rows;
} TableHour;

typedef struct TableStat {
	char *name;	 /* owned */
	TableHour total; /* hour unused */
	TableHour *hours;
	uint32_t n_hours, cap_hours;
	HashNode link; /* in the store's tables, hash of the name */
} TableStat;

typedef struct StatsStore {
	HashTab digests; /* Digest by (fingerprint, db, user); count excludes other */
	/* the digests found last, by fingerprint (direct-mapped): most statements are found
	 * again without hashing their database and user names; emptied whenever a digest goes */
	Digest *recent[DIGEST_RECENT];
	Digest *other;		 /* NULL until something is folded */
	List lru;		 /* the digests, most recently seen first (util/list.h) */
	size_t max_fingerprints; /* 0 = no limit */
	int64_t retention_hours; /* 0 = keep every hour */
	int64_t newest_hour;
	uint64_t folded_total;
	HashTab tables; /* TableStat by name */
	int64_t saved_at_us;
	uint64_t rng;	     /* sampling */
	ParserCache *shapes; /* offline shape lookup, created on first use (owned) */
	/* Frees shapes; set by whoever creates it, so that this file (and the tests of the store)
	 * does not need the parser library. */
	void (*shapes_free)(ParserCache *cache);
	/* loaded from the fleet store (stats_store_load_pg): the instances whose statement rows
	 * were read; 0 for a store from a file or the worker */
	uint64_t fleet_instances;
} DigestStore;

/* What the worker knows of one statement, after the parser cache. */
typedef struct DigestEvent {
	uint64_t fingerprint;
	const char *db;
	const char *user;
	const char *text; /* normalized */
	size_t text_len;
	StmtKind kind;
	const QueryShape *shape; /* copied when the digest is created; may be NULL */
	const char *sqlstate;	 /* "" or NULL on success */
	bool timed_out;
	bool cancelled;
	uint64_t rows;
	uint64_t duration_ns;
	int64_t end_wall_us;
	/* sampling (may be NULL) */
	const char *orig_text;
	size_t orig_len;
	const char *params;
	uint32_t params_len;
	uint16_t n_params;
} DigestEvent;

DigestStore *digest_store_new(size_t max_fingerprints, int64_t retention_hours);
void digest_store_free(DigestStore *s);
/* Forgets everything (RESET STATS); the limits stay. */
void digest_store_clear(DigestStore *s);
void digest_store_set_limits(DigestStore *s, size_t max_fingerprints, int64_t retention_hours);

/* Counts one statement. Returns its digest, or NULL when memory ran out (nothing counted). */
Digest *digest_record(DigestStore *s, const DigestEvent *e);
/* The same, when the caller just looked the digest up in s (d: digest_find's answer, NULL when
 * there is none): one hash lookup per statement instead of two. */
Digest *digest_record_found(DigestStore *s, Digest *d, const DigestEvent *e);
/* Counts one write to a table (kind: SK_INSERT, SK_UPDATE, SK_DELETE; others ignored). */
bool digest_record_table_write(DigestStore *s, const char *table, size_t len, StmtKind kind,
			       uint64_t rows, int64_t end_wall_us);

Digest *digest_find(const DigestStore *s, uint64_t fingerprint, const char *db, const char *user);
/* digest_find through the store's recent digests (the statistics worker's lookup). */
Digest *digest_lookup(DigestStore *s, uint64_t fingerprint, const char *db, const char *user);

/* Sums a digest over [hour of since_us, ...) into out (zeroed first); since_us = 0: all time. */
bool digest_window(const Digest *d, int64_t since_us, DigestAgg *out);

void digest_agg_init(DigestAgg *a);
/* Why a read aggregate cannot be right (its histogram does not add up to its calls), or NULL.
 * The readers of the stats file and of the fleet store check every aggregate they rebuild. */
const char *digest_agg_check(const DigestAgg *a);
void digest_agg_free(DigestAgg *a);
bool digest_agg_merge(DigestAgg *dst, const DigestAgg *src);
/* Counts one statement into a, as digest_record does into a digest's hour (the fleet
 * accumulator's per-application rows, stats/fleet.c). False when memory ran out. */
bool digest_agg_record(DigestAgg *a, const DigestEvent *e);

/* Inserts a fully built digest (persistence reader); takes ownership. false if the key exists. */
bool digest_store_insert(DigestStore *s, Digest *d);
/* Orders the LRU list by last_seen_us, the most recently seen first: the order recording gives,
 * for a store rebuilt from rows that do not keep it (the fleet store's reader). Ties by
 * fingerprint, database, user. false when out of memory (the order is left as it was). */
bool digest_store_sort_lru(DigestStore *s);
/* Finds or creates the table entry (persistence reader). */
TableStat *digest_store_table(DigestStore *s, const char *name, size_t len);
/* Finds or creates the hour slot in an array sorted by hour (persistence reader). */
DigestHour *digest_hour_slot(Digest *d, int64_t hour);
TableHour *digest_table_hour_slot(TableStat *t, int64_t hour);
Digest *digest_new(uint64_t fingerprint, const char *db, const char *user, const char *text,
		   size_t text_len);
void digest_free(Digest *d);

/* Sets d's shape to a copy of shape (NULL clears). false when out of memory. */
bool digest_set_shape(Digest *d, const QueryShape *shape);

/* The digests from the most recently seen (first) to the least (last); NULL past the end. */
static inline Digest *digest_lru_first(const DigestStore *s)
{
	ListNode *n = list_first(&s->lru);
	return n ? list_entry(n, Digest, lru) : NULL;
}

static inline Digest *digest_lru_last(const DigestStore *s)
{
	ListNode *n = list_last(&s->lru);
	return n ? list_entry(n, Digest, lru) : NULL;
}

static inline Digest *digest_lru_next(const DigestStore *s, const Digest *d)
{
	ListNode *n = list_next(&s->lru, &d->lru);
	return n ? list_entry(n, Digest, lru) : NULL;
}

static inline Digest *digest_lru_prev(const DigestStore *s, const Digest *d)
{
	ListNode *n = list_prev(&s->lru, &d->lru);
	return n ? list_entry(n, Digest, lru) : NULL;
}

/* SHOW QUERIES rows from the store (stats_queries_free, defined next to it, frees them).
 * flags: DIGEST_ROWS_VALUES puts every sample in the rows (log_parameters); without it, a
 * row's sample keeps only a prepared statement's text (the application's SQL; the values are
 * in its parameters, which stay out) and simple-protocol texts, which carry values, stay out. */
enum { DIGEST_ROWS_VALUES = 1 };
int digest_store_rows(const DigestStore *s, int64_t since_us, unsigned flags, StatsQueries *out);
/* SHOW QUERIES's order of two rows: total time descending, then fingerprint, database, user. */
int digest_row_order(const StatsQueryRow *x, const StatsQueryRow *y);

/* d's samples as views (out has room for DIGEST_SAMPLES); returns how many. */
size_t digest_sample_views(const Digest *d, StatsParamSample *out);

#endif
