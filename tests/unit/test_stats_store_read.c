/*
 * test_stats_store_read: the fleet store reader's parts that need no PostgreSQL — the parsers of
 * what it reads as text (integer array literals, error_classes' and samples' jsonb), fed good
 * and hostile input, and the store helpers it shares (digest_store_sort_lru, digest_agg_check).
 * stats_store_load_pg itself is tested against a real server by
 * tests/integration/test_fleet_read.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats/digest.h"
#include "stats/histogram.h"
#include "stats/store_read.h"

static void test_store_read_int_array_good(void **state)
{
	(void)state;
	int64_t *v;
	size_t n;
	const char *why = NULL;
	assert_true(store_read_int_array("{}", &v, &n, &why));
	assert_null(v);
	assert_int_equal(n, 0);
	assert_true(store_read_int_array("{7}", &v, &n, &why));
	assert_int_equal(n, 1);
	assert_int_equal(v[0], 7);
	free(v);
	assert_true(store_read_int_array("{1,200,-3,9223372036854775807}", &v, &n, &why));
	assert_int_equal(n, 4);
	assert_int_equal(v[0], 1);
	assert_int_equal(v[1], 200);
	assert_int_equal(v[2], -3);
	assert_int_equal(v[3], INT64_MAX);
	free(v);
	assert_null(why); /* set only when refused */
}

static void test_store_read_int_array_hostile(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",	    "{",	 "}",
		"{1",	    "{1,}",	 "{,1}",
		"{1,,2}",   "{ 1}",	 "{1 }",
		"{1}x",	    "{}x",	 "{NULL}",
		"{1,NULL}", "{{1},{2}}", "[0:1]={1,2}",
		"{1.5}",    "{\"1\"}",	 "{99999999999999999999}",
		"{+}",	    "{-}",	 "1,2",
		"{1,2}{3}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t *v = (int64_t *)&v;
		size_t n = 99;
		const char *why = NULL;
		if (store_read_int_array(bad[i], &v, &n, &why))
			fail_msg("accepted %s", bad[i]);
		assert_null(v);
		assert_int_equal(n, 0);
		assert_non_null(why);
	}
	int64_t *v;
	size_t n;
	const char *why = NULL;
	assert_false(store_read_int_array(NULL, &v, &n, &why));
}

static void test_store_read_err_classes_good(void **state)
{
	(void)state;
	DigestAgg a;
	digest_agg_init(&a);
	const char *why = NULL;
	assert_true(store_read_err_classes("{}", &a, &why));
	assert_int_equal(a.n_err, 0);
	assert_true(store_read_err_classes("{\"57\": 1, \"23\": 4}", &a, &why));
	assert_int_equal(a.n_err, 2);
	assert_memory_equal(a.err[0].cls, "23", 2); /* sorted */
	assert_int_equal(a.err[0].n, 4);
	assert_memory_equal(a.err[1].cls, "57", 2);
	assert_int_equal(a.err[1].n, 1);
	/* a second row's classes add up */
	assert_true(store_read_err_classes(" { \"23\" : 2 , \"0A\":3 } ", &a, &why));
	assert_int_equal(a.n_err, 3);
	assert_memory_equal(a.err[0].cls, "0A", 2);
	assert_int_equal(a.err[0].n, 3);
	assert_int_equal(a.err[1].n, 6);
	assert_int_equal(a.errors, 0); /* the row's errors column says that */
	assert_null(why);
	digest_agg_free(&a);
}

static void test_store_read_err_classes_hostile(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"null",
		"[]",
		"{",
		"{\"23\"}",
		"{\"23\":}",
		"{\"23\": -1}",
		"{\"23\": 1.5}",
		"{\"23\": 1e3}",
		"{\"23\": \"4\"}",
		"{\"2\": 1}",
		"{\"234\": 1}",
		"{\"a1\": 1}",
		"{\"\\\"x\": 1}",
		"{\"23\": 1,}",
		"{\"23\": 1} x",
		"{\"23\": 1",
		"{23: 1}",
		"{\"23\": 99999999999999999999}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		DigestAgg a;
		digest_agg_init(&a);
		const char *why = NULL;
		if (store_read_err_classes(bad[i], &a, &why))
			fail_msg("accepted %s", bad[i]);
		assert_non_null(why);
		digest_agg_free(&a);
	}
}

static void test_store_read_samples_good(void **state)
{
	(void)state;
	Digest *d = digest_new(1, "db", "u", "SELECT $1", 9);
	assert_non_null(d);
	const char *why = NULL;
	assert_true(store_read_samples("null", d, &why));
	assert_true(store_read_samples("[]", d, &why));
	assert_int_equal(d->n_samples, 0);
	assert_true(store_read_samples(
		"[{\"text\": \"SELECT 'caf\\u00e9 \\ud83d\\ude00\\n\\\"q\\\"'\", \"params\": null},"
		" {\"params\": [\"42\", null, \"x\\ty\"], \"text\": \"SELECT $1, $2, $3\"},"
		" {\"text\": null, \"params\": []}, {}]",
		d, &why));
	assert_null(why);
	assert_int_equal(d->n_samples, 4);
	assert_string_equal(d->samples[0].text, "SELECT 'caf\xc3\xa9 \xf0\x9f\x98\x80\n\"q\"'");
	assert_null(d->samples[0].params);
	assert_string_equal(d->samples[1].text, "SELECT $1, $2, $3");
	assert_int_equal(d->samples[1].n_params, 3);
	assert_int_equal(d->samples[1].params_len, 3 + 5 + 4);
	assert_memory_equal(d->samples[1].params, "42\0NULL\0x\ty\0", 12);
	assert_null(d->samples[2].text);
	assert_non_null(d->samples[2].params); /* a prepared statement's, values not sampled */
	assert_int_equal(d->samples[2].n_params, 0);
	assert_null(d->samples[3].text);
	assert_null(d->samples[3].params);
	digest_free(d);

	/* more than DIGEST_SAMPLES: the first ones are kept */
	d = digest_new(1, "db", "u", "x", 1);
	assert_true(store_read_samples("[{\"text\": \"1\"}, {\"text\": \"2\"}, {\"text\": \"3\"}, "
				       "{\"text\": \"4\"}, {\"text\": \"5\"}, {\"text\": \"6\"}]",
				       d, &why));
	assert_int_equal(d->n_samples, DIGEST_SAMPLES);
	assert_string_equal(d->samples[DIGEST_SAMPLES - 1].text, "4");
	digest_free(d);
}

static void test_store_read_samples_hostile(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"{}",
		"[1]",
		"[null]",
		"[{\"text\": 5}]",
		"[{\"text\": \"a\", \"text\": \"b\"}]",
		"[{\"params\": [1]}]",
		"[{\"params\": [\"a\",]}]",
		"[{\"params\": [\"a\" \"b\"]}]",
		"[{\"params\": {\"a\": 1}}]",
		"[{\"other\": \"x\"}]",
		"[{\"text\": \"\\u0000\"}]",
		"[{\"text\": \"\\ud800\"}]",
		"[{\"text\": \"\\uzzzz\"}]",
		"[{\"text\": \"\\u12\"}]",
		"[{\"text\": \"\\q\"}]",
		"[{\"text\": \"abc",
		"[{\"text\": \"a\nb\"}]",
		"[{\"text\": \"a\"}",
		"[{\"text\": \"a\"}] x",
		"[{\"text\" \"a\"}]",
		"[{\"text\": \"a\"},]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Digest *d = digest_new(1, "db", "u", "x", 1);
		const char *why = NULL;
		if (store_read_samples(bad[i], d, &why))
			fail_msg("accepted %s", bad[i]);
		assert_non_null(why);
		digest_free(d); /* what was read before the error is freed with the digest */
	}
}

static Digest *seen_at(DigestStore *s, uint64_t fp, int64_t last_seen_us)
{
	Digest *d = digest_new(fp, "db", "u", "SELECT 1", 8);
	assert_non_null(d);
	d->total.calls = 1;
	d->total.last_seen_us = last_seen_us;
	assert_true(digest_store_insert(s, d));
	return d;
}

static void test_store_read_sort_lru(void **state)
{
	(void)state;
	DigestStore *s = digest_store_new(0, 0);
	assert_non_null(s);
	assert_true(digest_store_sort_lru(s)); /* empty */
	Digest *a = seen_at(s, 1, 300), *b = seen_at(s, 2, 100), *c = seen_at(s, 3, 200),
	       *d = seen_at(s, 4, 200);
	assert_true(digest_store_sort_lru(s));
	/* the most recently seen first; ties by fingerprint, the greater first (it was "seen"
	 * last when the list is rebuilt least recent first) */
	assert_ptr_equal(digest_lru_first(s), a);
	assert_ptr_equal(digest_lru_next(s, a), d);
	assert_ptr_equal(digest_lru_next(s, d), c);
	assert_ptr_equal(digest_lru_next(s, c), b);
	assert_null(digest_lru_next(s, b));
	assert_ptr_equal(digest_lru_last(s), b);
	digest_store_free(s);
}

static void test_store_read_agg_check(void **state)
{
	(void)state;
	DigestAgg a;
	digest_agg_init(&a);
	assert_null(digest_agg_check(&a));
	a.calls = 3;
	assert_non_null(digest_agg_check(&a));
	assert_true(hist_add_bucket(&a.hist, 10, 2));
	assert_non_null(digest_agg_check(&a));
	assert_true(hist_add_bucket(&a.hist, HIST_MAX_INDEX - 1, 1));
	assert_null(digest_agg_check(&a));
	digest_agg_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_read_int_array_good),
		cmocka_unit_test(test_store_read_int_array_hostile),
		cmocka_unit_test(test_store_read_err_classes_good),
		cmocka_unit_test(test_store_read_err_classes_hostile),
		cmocka_unit_test(test_store_read_samples_good),
		cmocka_unit_test(test_store_read_samples_hostile),
		cmocka_unit_test(test_store_read_sort_lru),
		cmocka_unit_test(test_store_read_agg_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
