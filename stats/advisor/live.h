/*
 * live.h: the index advisor over pgsift's own statistics, shared by `pgsift suggest` (a
 * stats file, or a running proxy's SHOW QUERIES) and the admin console's SHOW SUGGESTIONS (a
 * snapshot of the live statistics). It feeds the digests of a StatsStore to the advisor and,
 * for SHOW SUGGESTIONS, runs the whole advisor once per database
 * the statements ran on, reading each one's catalog over libpq from the upstream the proxy
 * itself uses for that database.
 *
 * Everything here blocks on libpq: call it from the command line or a worker thread, never from
 * the event loop.
 */
#ifndef PGSIFT_ADVISOR_LIVE_H
#define PGSIFT_ADVISOR_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "stats/advisor/advisor.h"
#include "stats/advisor/catalog.h"
#include "stats/stats.h"

/*
 * Adds the digests of store that have calls in the window (since_us as for stats_store_foreach)
 * and ran on database (NULL: every database). A digest with a sampled execution gives the advisor
 * that execution's literal text (constants matter for partial and LIKE indexes), else its
 * normalized text. Returns how many digests were added.
 */
size_t advisor_add_store(Advisor *adv, StatsStore *store, int64_t since_us, const char *database);

/*
 * A libpq connection string for the catalog of database (a client-side database name) as the
 * proxy reaches it: the [databases] entry for it (or `*`), its host, port and dbname, its user
 * or else user, its password or else user's plain-text password from auth_file (md5 and SCRAM
 * secrets cannot log in through libpq; then libpq's own means apply: trust, ~/.pgpass,
 * PGPASSWORD). Returns a malloc'ed string, or NULL when no entry serves database (err says why).
 */
char *advisor_live_conninfo(const Config *cfg, const char *database, const char *user, char *err,
			    size_t errlen);

/* SHOW SUGGESTIONS: one row per suggestion, these columns (values as text, NULL when unknown). */
enum {
	ADV_LIVE_DATABASE = 0,
	ADV_LIVE_TABLE,
	ADV_LIVE_INDEX,
	ADV_LIVE_STATEMENTS,
	ADV_LIVE_CALLS,
	ADV_LIVE_TOTAL_MS,
	ADV_LIVE_P95_MS,
	ADV_LIVE_SAVING_PCT,
	ADV_LIVE_TABLE_ROWS,
	ADV_LIVE_WRITES_PER_MIN,
	ADV_LIVE_REASON,
	ADV_LIVE_COLS
};
extern const char *const advisor_live_columns[ADV_LIVE_COLS];

typedef struct AdvLiveResult {
	char **cells; /* n_rows * ADV_LIVE_COLS values, row by row; NULL cells are SQL NULL (owned) */
	size_t n_rows;
	char **notices; /* databases that could not be advised, and why (owned) */
	size_t n_notices;
	char *error; /* set when nothing could be done (out of memory...) (owned) */
} AdvLiveResult;

/*
 * The advisor once per database of store (sorted by name), as SHOW SUGGESTIONS and the
 * dashboard run it: cfg's thresholds, the catalog read through advisor_live_conninfo, HypoPG's
 * verdict when the extension is there. fn gets each database's planned advisor (valid during
 * the call), or adv NULL and err when its catalog could not be read; fn returning false stops.
 * False when fn stopped it or memory ran out. Blocks (libpq): worker threads only.
 */
typedef bool (*AdvLiveFn)(void *arg, const char *database, const Advisor *adv, const char *err);
bool advisor_live_each(const Config *cfg, StatsStore *store, AdvLiveFn fn, void *arg);

/*
 * Runs the advisor over a snapshot of the running proxy's statistics (stats_snapshot_store),
 * one database at a time, with cfg's thresholds (advisor_min_table_rows,
 * advisor_min_saving_pct) and the catalogs read through advisor_live_conninfo. Blocks (libpq):
 * worker threads only. cfg must stay valid during the call. Free the result with
 * advisor_live_free.
 */
void advisor_live_run(const Config *cfg, AdvLiveResult *out);
void advisor_live_free(AdvLiveResult *r);

#endif
