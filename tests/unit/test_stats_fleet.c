/*
 * test_stats_fleet: the fleet store's accumulator (stats/fleet.c) without a store: rows keyed by
 * (hour, fingerprint, database, user, application), cumulative values in every batch, what is
 * collected again after a failed write and not after a successful one, past hours freed once
 * written, the backlog bound with its exact drop counts, tombstones of partly written rows, table
 * writes, and the digests' texts sent once. Also the store's DDL is built for the schema asked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats/fleet.h"
#include "stats/store_pg.h"

/* 2026-11-25 10:38:35.123456 UTC */
#define T0 1795603115123456LL
#define HOUR US_PER_HOUR
#define H0 (T0 / HOUR)

static int described;
static void describe(void *arg, char **columns, char **samples)
{
	(void)arg;
	described++;
	*columns = strdup("{\"tables\": []}");
	*samples = NULL;
}

static bool record(Fleet *f, uint64_t fp, const char *db, const char *user, const char *app,
		   uint64_t dur_ns, int64_t when_us, const char *sqlstate)
{
	DigestEvent de = {
		.fingerprint = fp,
		.db = db,
		.user = user,
		.text = "SELECT $1",
		.text_len = 9,
		.kind = SK_SELECT,
		.sqlstate = sqlstate,
		.rows = 1,
		.duration_ns = dur_ns,
		.end_wall_us = when_us,
	};
	FleetEvent fe = {.de = &de, .app = app, .describe = describe};
	return fleet_record(f, &fe);
}

static const FleetRow *batch_row(const FleetBatch *b, int64_t hour, uint64_t fp, const char *app)
{
	for (size_t i = 0; i < b->n_rows; i++)
		if (b->rows[i].hour == hour && b->rows[i].fingerprint == fp &&
		    strcmp(b->rows[i].db, "db") == 0 && strcmp(b->rows[i].app, app) == 0)
			return &b->rows[i];
	return NULL;
}

static void test_stats_fleet_keys(void **state)
{
	(void)state;
	Fleet f;
	assert_true(fleet_init(&f, 1000));
	described = 0;
	/* same digest, two applications; another database; a second hour */
	for (int i = 0; i < 5; i++)
		assert_true(record(&f, 7, "db", "u", "web", 1000 + i, T0 + i, ""));
	assert_true(record(&f, 7, "db", "u", NULL, 2000, T0, ""));
	assert_true(record(&f, 7, "db2", "u", "web", 2000, T0, "22012"));
	assert_true(record(&f, 7, "db", "u", "web", 3000, T0 + HOUR, ""));
	FleetBatch b;
	assert_true(fleet_collect(&f, T0 + 10, &b));
	assert_int_equal(b.n_rows, 4);
	const FleetRow *r = batch_row(&b, H0, 7, "web");
	assert_non_null(r);
	assert_string_equal(r->db, "db");
	assert_int_equal(r->agg.calls, 5);
	assert_int_equal(r->agg.hist.total, 5);
	assert_int_equal(r->agg.min_ns, 1000);
	assert_int_equal(r->agg.max_ns, 1004);
	assert_non_null(batch_row(&b, H0, 7, "")); /* no application_name: "" */
	assert_non_null(batch_row(&b, H0 + 1, 7, "web"));
	int errors = 0;
	for (size_t i = 0; i < b.n_rows; i++)
		if (strcmp(b.rows[i].db, "db2") == 0) {
			errors++;
			assert_int_equal(b.rows[i].agg.errors, 1);
			assert_int_equal(b.rows[i].agg.n_err, 1);
			assert_memory_equal(b.rows[i].agg.err[0].cls, "22", 2);
		}
	assert_int_equal(errors, 1);
	/* one digest text per (fingerprint, db, user): db and db2, described once each */
	assert_int_equal(b.n_queries, 2);
	assert_int_equal(described, 2);
	assert_string_equal(b.queries[0].text, "SELECT $1");
	assert_string_equal(b.queries[0].kind, "select");
	assert_string_equal(b.queries[0].columns, "{\"tables\": []}");
	fleet_batch_free(&b);
	fleet_destroy(&f);
}

static void test_stats_fleet_dirty_and_retry(void **state)
{
	(void)state;
	Fleet f;
	assert_true(fleet_init(&f, 1000));
	assert_true(record(&f, 1, "db", "u", "a", 100, T0, ""));
	assert_true(record(&f, 2, "db", "u", "a", 100, T0, ""));
	FleetBatch b;
	assert_true(fleet_collect(&f, T0 + 1, &b));
	assert_int_equal(b.n_rows, 2);
	uint64_t gen = b.gen;
	fleet_batch_free(&b);
	fleet_ack(&f, gen, true, T0 + 2);
	assert_int_equal(f.waiting, 0);
	/* nothing changed: an empty batch (the instance row only) */
	assert_true(fleet_collect(&f, T0 + 3, &b));
	assert_int_equal(b.n_rows, 0);
	assert_int_equal(b.n_queries, 0);
	fleet_ack(&f, b.gen, true, T0 + 3);
	fleet_batch_free(&b);
	/* one row changes: only it, with its cumulative value */
	assert_true(record(&f, 1, "db", "u", "a", 100, T0 + 4, ""));
	assert_true(fleet_collect(&f, T0 + 5, &b));
	assert_int_equal(b.n_rows, 1);
	assert_int_equal(b.rows[0].fingerprint, 1);
	assert_int_equal(b.rows[0].agg.calls, 2);
	gen = b.gen;
	fleet_batch_free(&b);
	/* the write fails: collected again, newest values, more calls since */
	fleet_ack(&f, gen, false, T0 + 6);
	assert_int_equal(f.waiting, 1);
	assert_true(record(&f, 1, "db", "u", "a", 100, T0 + 7, ""));
	assert_true(fleet_collect(&f, T0 + 8, &b));
	assert_int_equal(b.n_rows, 1);
	assert_int_equal(b.rows[0].agg.calls, 3);
	gen = b.gen;
	fleet_batch_free(&b);
	/* an event while the batch is in flight: still waiting after the ack */
	assert_true(record(&f, 1, "db", "u", "a", 100, T0 + 9, ""));
	fleet_ack(&f, gen, true, T0 + 10);
	assert_int_equal(f.waiting, 1);
	assert_true(fleet_collect(&f, T0 + 11, &b));
	assert_int_equal(b.n_rows, 1);
	assert_int_equal(b.rows[0].agg.calls, 4);
	fleet_ack(&f, b.gen, true, T0 + 12);
	fleet_batch_free(&b);
	assert_int_equal(f.waiting, 0);
	assert_int_equal(f.rows_dropped, 0);
	assert_int_equal(f.calls_dropped, 0);
	fleet_destroy(&f);
}

static void test_stats_fleet_frees_written_past_hours(void **state)
{
	(void)state;
	Fleet f;
	assert_true(fleet_init(&f, 1000));
	int64_t h1 = (H0 + 1) * HOUR; /* the start of the next hour */
	assert_true(record(&f, 1, "db", "u", "a", 100, h1 - 5000000, ""));
	assert_true(record(&f, 2, "db", "u", "a", 100, h1 - 5000000, ""));
	FleetBatch b;
	assert_true(fleet_collect(&f, h1 - 4000000, &b));
	uint64_t gen = b.gen;
	fleet_batch_free(&b);
	fleet_ack(&f, gen, true, h1 - 3000000);
	assert_int_equal(f.rows.count, 2); /* the hour is still on */
	/* the next hour: a row there; the past hour's rows are written and over */
	assert_true(record(&f, 1, "db", "u", "a", 100, h1 + 1000, ""));
	assert_true(fleet_collect(&f, h1 + FLEET_GRACE_US, &b));
	assert_int_equal(b.n_rows, 1);
	assert_int_equal(f.rows.count, 1);
	assert_int_equal(f.closed_hour, H0);
	fleet_ack(&f, b.gen, true, h1 + FLEET_GRACE_US);
	fleet_batch_free(&b);
	/* a late event for the freed hour is counted as dropped, never written over */
	assert_true(record(&f, 2, "db", "u", "a", 100, h1 - 1, ""));
	assert_int_equal(f.calls_dropped, 1);
	assert_int_equal(f.rows.count, 1);
	/* a failed write keeps a past hour's row until it is written */
	assert_true(record(&f, 3, "db", "u", "a", 100, h1 + 2000, ""));
	int64_t h2 = h1 + HOUR;
	assert_true(fleet_collect(&f, h2 + FLEET_GRACE_US, &b));
	gen = b.gen;
	fleet_batch_free(&b);
	fleet_ack(&f, gen, false, h2 + FLEET_GRACE_US);
	assert_int_equal(f.rows.count, 1); /* fp 1's written row of that hour is gone */
	assert_true(fleet_collect(&f, h2 + FLEET_GRACE_US, &b));
	assert_int_equal(b.n_rows, 1);
	fleet_ack(&f, b.gen, true, h2 + FLEET_GRACE_US);
	fleet_batch_free(&b);
	assert_int_equal(f.rows.count, 0);
	fleet_destroy(&f);
}

static void test_stats_fleet_backlog_drops_oldest(void **state)
{
	(void)state;
	Fleet f;
	assert_true(fleet_init(&f, 3));
	/* 5 rows over 3 hours, never written (the store is down): 3 calls in hour 0 */
	assert_true(record(&f, 1, "db", "u", "a", 100, T0, ""));
	assert_true(record(&f, 1, "db", "u", "a", 100, T0 + 1, ""));
	assert_true(record(&f, 2, "db", "u", "a", 100, T0 + 2, ""));
	assert_true(record(&f, 1, "db", "u", "a", 100, T0 + HOUR, ""));
	assert_true(record(&f, 2, "db", "u", "a", 100, T0 + HOUR, ""));
	assert_true(record(&f, 1, "db", "u", "a", 100, T0 + 2 * HOUR, ""));
	FleetBatch b;
	assert_true(fleet_collect(&f, T0 + 2 * HOUR + 10, &b));
	/* hour 0's two rows (3 calls) go: they were the oldest */
	assert_int_equal(f.rows_dropped, 2);
	assert_int_equal(f.calls_dropped, 3);
	assert_int_equal(b.n_rows, 3);
	assert_int_equal(b.rows_dropped, 2);
	assert_int_equal(b.calls_dropped, 3);
	for (size_t i = 0; i < b.n_rows; i++)
		assert_true(b.rows[i].hour > H0);
	fleet_ack(&f, b.gen, false, T0 + 2 * HOUR + 10);
	fleet_batch_free(&b);
	assert_int_equal(f.waiting, 3);
	/* a fourth hour while the writer is still busy with nothing: the bound holds */
	assert_true(record(&f, 9, "db", "u", "a", 100, T0 + 3 * HOUR, ""));
	fleet_enforce_backlog(&f, 0);
	assert_int_equal(f.waiting, 3);
	assert_int_equal(f.rows_dropped, 3);
	assert_int_equal(f.calls_dropped, 4);
	/* the calls seen = the calls in rows left + the calls dropped */
	uint64_t left = 0;
	assert_true(fleet_collect(&f, T0 + 3 * HOUR + 10, &b));
	for (size_t i = 0; i < b.n_rows; i++)
		left += b.rows[i].agg.calls;
	assert_int_equal(left + f.calls_dropped, 7);
	fleet_batch_free(&b);
	fleet_destroy(&f);
}

static void test_stats_fleet_tombstone_after_partial_write(void **state)
{
	(void)state;
	Fleet f;
	assert_true(fleet_init(&f, 1));
	assert_true(record(&f, 1, "db", "u", "a", 100, T0, ""));
	FleetBatch b;
	assert_true(fleet_collect(&f, T0 + 1, &b));
	fleet_ack(&f, b.gen, true, T0 + 1); /* the store holds 1 call of row 1 */
	fleet_batch_free(&b);
	/* the store goes down; row 1 gets 2 more calls, row 2 is newer: row 1 is dropped */
	assert_true(record(&f, 1, "db", "u", "a", 100, T0 + 2, ""));
	assert_true(record(&f, 1, "db", "u", "a", 100, T0 + 3, ""));
	assert_true(record(&f, 2, "db", "u", "a", 100, T0 + 4, ""));
	fleet_enforce_backlog(&f, 0);
	assert_int_equal(f.rows_dropped, 1);
	assert_int_equal(f.calls_dropped, 2); /* only what the store had not got */
	/* its later calls are dropped too: a fresh row would overwrite the stored one */
	assert_true(record(&f, 1, "db", "u", "a", 100, T0 + 5, ""));
	assert_int_equal(f.calls_dropped, 3);
	assert_true(fleet_collect(&f, T0 + 6, &b));
	assert_int_equal(b.n_rows, 1);
	assert_int_equal(b.rows[0].fingerprint, 2);
	fleet_ack(&f, b.gen, true, T0 + 6);
	fleet_batch_free(&b);
	/* the hour ends: the tombstone goes */
	assert_true(fleet_collect(&f, (H0 + 1) * HOUR + FLEET_GRACE_US, &b));
	fleet_batch_free(&b);
	assert_int_equal(f.rows.count, 0);
	fleet_destroy(&f);
}

static void test_stats_fleet_tables_and_queries_once(void **state)
{
	(void)state;
	Fleet f;
	assert_true(fleet_init(&f, 1000));
	assert_true(fleet_record_table(&f, "public.t", 8, SK_INSERT, 3, T0));
	assert_true(fleet_record_table(&f, "public.t", 8, SK_UPDATE, 2, T0 + 1));
	assert_true(fleet_record_table(&f, "public.t", 8, SK_SELECT, 2, T0 + 1)); /* ignored */
	assert_true(record(&f, 5, "db", "u", "a", 100, T0, ""));
	assert_true(fleet_has_query(&f, 5, "db", "u"));
	assert_false(fleet_has_query(&f, 5, "db", "other"));
	FleetBatch b;
	assert_true(fleet_collect(&f, T0 + 2, &b));
	assert_int_equal(b.n_tables, 1);
	assert_string_equal(b.tables[0].name, "public.t");
	assert_int_equal(b.tables[0].inserts, 1);
	assert_int_equal(b.tables[0].updates, 1);
	assert_int_equal(b.tables[0].rows, 5);
	assert_int_equal(b.n_queries, 1);
	fleet_ack(&f, b.gen, true, T0 + 2);
	fleet_batch_free(&b);
	assert_true(record(&f, 5, "db", "u", "a", 100, T0 + 3, ""));
	assert_true(fleet_collect(&f, T0 + 4, &b));
	assert_int_equal(b.n_queries, 0); /* written once */
	assert_int_equal(b.n_tables, 0);
	assert_int_equal(b.n_rows, 1);
	fleet_batch_free(&b);
	fleet_destroy(&f);
}

static void test_stats_fleet_instance_key_and_ddl(void **state)
{
	(void)state;
	char key[128];
	fleet_instance_key(key, sizeof(key), "web-1", 6432, 4242, 1795603115);
	assert_string_equal(key, "web-1:6432:4242:1795603115");
	char *sql = store_pg_schema_sql("fleet_x");
	assert_non_null(sql);
	assert_null(strstr(sql, "@S@"));
	assert_non_null(strstr(sql, "CREATE TABLE IF NOT EXISTS fleet_x.pgsift_statements"));
	assert_non_null(strstr(sql, "CREATE OR REPLACE VIEW fleet_x.pgsift_hourly"));
	assert_non_null(strstr(sql, "pg_advisory_xact_lock"));
	free(sql);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_fleet_keys),
		cmocka_unit_test(test_stats_fleet_dirty_and_retry),
		cmocka_unit_test(test_stats_fleet_frees_written_past_hours),
		cmocka_unit_test(test_stats_fleet_backlog_drops_oldest),
		cmocka_unit_test(test_stats_fleet_tombstone_after_partial_write),
		cmocka_unit_test(test_stats_fleet_tables_and_queries_once),
		cmocka_unit_test(test_stats_fleet_instance_key_and_ddl),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
