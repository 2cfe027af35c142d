/*
 * test_varcache: the session-parameter cache. Names compare case-insensitively like PostgreSQL's
 * GUCs ("DateStyle" and "datestyle" are one parameter) and keep the spelling first written,
 * because that spelling is what pgsift sends back in ParameterStatus / SET.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/varcache.h"

static void test_varcache_set_get_case_insensitive(void **state)
{
	VarCache vc;

	(void)state;
	varcache_init(&vc);
	assert_null(varcache_get(&vc, "DateStyle"));
	assert_true(varcache_set(&vc, "DateStyle", "ISO, MDY"));
	assert_true(varcache_set(&vc, "application_name", "psql"));
	assert_int_equal(vc.n, 2);
	assert_string_equal(varcache_get(&vc, "DateStyle"), "ISO, MDY");
	assert_string_equal(varcache_get(&vc, "datestyle"), "ISO, MDY");
	assert_string_equal(varcache_get(&vc, "DATESTYLE"), "ISO, MDY");
	assert_string_equal(varcache_get(&vc, "Application_Name"), "psql");
	assert_null(varcache_get(&vc, "DateStyl"));
	assert_null(varcache_get(&vc, "TimeZone"));
	varcache_free(&vc);
	assert_int_equal(vc.n, 0);
	assert_null(vc.items);
}

static void test_varcache_replace_keeps_first_spelling(void **state)
{
	VarCache vc;

	(void)state;
	varcache_init(&vc);
	assert_true(varcache_set(&vc, "TimeZone", "UTC"));
	assert_true(varcache_set(&vc, "timezone", "Europe/Paris"));
	assert_int_equal(vc.n, 1);
	assert_string_equal(vc.items[0].name, "TimeZone");
	assert_string_equal(vc.items[0].value, "Europe/Paris");
	assert_string_equal(varcache_get(&vc, "TIMEZONE"), "Europe/Paris");
	/* an empty value is a value, not a removal */
	assert_true(varcache_set(&vc, "TimeZone", ""));
	assert_int_equal(vc.n, 1);
	assert_string_equal(varcache_get(&vc, "timezone"), "");
	varcache_free(&vc);
}

static void test_varcache_remove(void **state)
{
	VarCache vc;

	(void)state;
	varcache_init(&vc);
	assert_true(varcache_set(&vc, "a", "1"));
	assert_true(varcache_set(&vc, "b", "2"));
	assert_true(varcache_set(&vc, "c", "3"));
	varcache_remove(&vc, "B");
	assert_int_equal(vc.n, 2);
	assert_null(varcache_get(&vc, "b"));
	assert_string_equal(varcache_get(&vc, "a"), "1");
	assert_string_equal(varcache_get(&vc, "c"), "3");
	/* removing what is not there changes nothing */
	varcache_remove(&vc, "b");
	varcache_remove(&vc, "zzz");
	assert_int_equal(vc.n, 2);
	/* the last item, then the only one */
	varcache_remove(&vc, "c");
	assert_int_equal(vc.n, 1);
	assert_string_equal(varcache_get(&vc, "a"), "1");
	varcache_remove(&vc, "A");
	assert_int_equal(vc.n, 0);
	assert_null(varcache_get(&vc, "a"));
	/* usable again after becoming empty */
	assert_true(varcache_set(&vc, "b", "4"));
	assert_string_equal(varcache_get(&vc, "B"), "4");
	varcache_free(&vc);
}

static void test_varcache_grows_past_initial_capacity(void **state)
{
	VarCache vc;
	char name[32], value[32];

	(void)state;
	varcache_init(&vc);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "param_%d", i);
		snprintf(value, sizeof(value), "value %d", i);
		assert_true(varcache_set(&vc, name, value));
	}
	assert_int_equal(vc.n, 100);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "PARAM_%d", i);
		snprintf(value, sizeof(value), "value %d", i);
		assert_string_equal(varcache_get(&vc, name), value);
	}
	varcache_clear(&vc);
	assert_int_equal(vc.n, 0);
	assert_null(varcache_get(&vc, "param_0"));
	varcache_free(&vc);
}

static void test_varcache_copy(void **state)
{
	VarCache src, dst;

	(void)state;
	varcache_init(&src);
	varcache_init(&dst);
	assert_true(varcache_set(&src, "client_encoding", "UTF8"));
	assert_true(varcache_set(&src, "DateStyle", "ISO, DMY"));
	assert_true(varcache_copy(&dst, &src));
	assert_int_equal(dst.n, 2);
	assert_string_equal(varcache_get(&dst, "client_encoding"), "UTF8");
	assert_string_equal(varcache_get(&dst, "datestyle"), "ISO, DMY");
	/* a deep copy: changing the source leaves the copy alone */
	assert_true(varcache_set(&src, "DateStyle", "German"));
	varcache_remove(&src, "client_encoding");
	assert_string_equal(varcache_get(&dst, "DateStyle"), "ISO, DMY");
	assert_string_equal(varcache_get(&dst, "client_encoding"), "UTF8");
	varcache_free(&src);
	assert_string_equal(varcache_get(&dst, "DateStyle"), "ISO, DMY");

	/* into a non-empty cache: same names are replaced, others kept */
	varcache_init(&src);
	assert_true(varcache_set(&src, "DATESTYLE", "SQL"));
	assert_true(varcache_set(&src, "TimeZone", "UTC"));
	assert_true(varcache_copy(&dst, &src));
	assert_int_equal(dst.n, 3);
	assert_string_equal(varcache_get(&dst, "DateStyle"), "SQL");
	assert_string_equal(varcache_get(&dst, "client_encoding"), "UTF8");
	assert_string_equal(varcache_get(&dst, "timezone"), "UTC");
	varcache_free(&src);
	varcache_free(&dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_varcache_set_get_case_insensitive),
		cmocka_unit_test(test_varcache_replace_keeps_first_spelling),
		cmocka_unit_test(test_varcache_remove),
		cmocka_unit_test(test_varcache_grows_past_initial_capacity),
		cmocka_unit_test(test_varcache_copy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
