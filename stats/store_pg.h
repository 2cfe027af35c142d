/*
 * store_pg: the writer thread of the fleet statistics store (stats_dsn). The statistics worker
 * hands it one FleetBatch at a time (store_pg_submit never blocks: false while the previous
 * batch is still being written) and picks up the outcome with store_pg_poll; the writer alone
 * talks to PostgreSQL over libpq, so a store that is down, slow or hung costs neither the event
 * loop nor the worker anything: the batches simply wait (bounded by fleet.c's backlog).
 *
 * Per batch: connect if needed (connect_timeout, TCP keepalives, a statement_timeout, and a
 * client-side deadline on every round trip so that a store that stops answering is given up),
 * create the schema, tables, functions and the pgsift_hourly view if missing (once per
 * connection, serialized between processes with pg_advisory_xact_lock), then one transaction:
 * pgsift_instances, pgsift_queries (ON CONFLICT DO NOTHING), pgsift_statements and
 * pgsift_table_writes (multi-row INSERT ... ON CONFLICT DO UPDATE, values as parameters).
 * Every ten minutes it also deletes, 10,000 rows per statement, the hours older than
 * stats_retention.
 */
#ifndef PGSIFT_STATS_STORE_PG_H
#define PGSIFT_STATS_STORE_PG_H

#include <stdbool.h>
#include <stdint.h>

#include "stats/fleet.h"

typedef struct StorePgSettings {
	const char *dsn;
	const char *schema;
	const char *instance; /* the key: fleet_instance_key */
	const char *host;
	int pid, listen_port, peer_id;
	int64_t started_us;
	uint64_t retention_ms;
} StorePgSettings;

/* Starts the thread (settings copied). 0 or -errno. */
int store_pg_start(const StorePgSettings *s);
/* New settings (a RELOAD): a different dsn or schema reconnects before the next batch. */
void store_pg_configure(const StorePgSettings *s);
/* Waits until the batch being written (if any) is done, at most timeout_ms, then stops the
 * thread (a write still going on is abandoned with its connection). */
void store_pg_stop(int timeout_ms);

/* Takes b (and empties *b) when the writer is idle; false (b untouched) while it is busy. */
bool store_pg_submit(FleetBatch *b);
/* The outcome of the last batch the writer finished, once: true with *gen and *ok. */
bool store_pg_poll(uint64_t *gen, bool *ok);
/* The batch being written, 0 when idle. */
uint64_t store_pg_in_flight(void);

typedef struct StorePgCounters {
	uint64_t rows_written; /* statement-hour rows upserted (committed) */
	uint64_t write_errors; /* batches that failed (connect, schema, write) */
	bool up;	       /* the last attempt succeeded */
} StorePgCounters;
void store_pg_counters(StorePgCounters *out);

/* The SQL that creates the store in schema (CREATE ... IF NOT EXISTS, the functions and the
 * view), for tests and documentation. Owned by the caller (free). */
char *store_pg_schema_sql(const char *schema);

#endif
