/*
 * test_stmtmap: a client's prepared statements by name. Names are case-sensitive (PostgreSQL's
 * statement names are), the unnamed statement "" is a name like any other, texts may contain
 * NUL bytes up to the given length, and the table keeps working as it grows. The NameMap under
 * it releases each value it owns exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/stmtmap.h"

static void test_stmtmap_put_get(void **state)
{
	StmtMap *m = stmtmap_new();
	size_t len = 99;

	(void)state;
	assert_non_null(m);
	assert_int_equal(stmtmap_count(m), 0);
	assert_null(stmtmap_get(m, "s1", &len));
	assert_int_equal(len, 99); /* untouched on a miss */
	assert_true(stmtmap_put(m, "s1", "SELECT $1", 9));
	assert_true(stmtmap_put(m, "", "SELECT 1", 8));
	assert_true(stmtmap_put(m, "S1", "SELECT 2", 8));
	assert_int_equal(stmtmap_count(m), 3);
	assert_string_equal(stmtmap_get(m, "s1", &len), "SELECT $1");
	assert_int_equal(len, 9);
	assert_string_equal(stmtmap_get(m, "", &len), "SELECT 1");
	assert_int_equal(len, 8);
	/* case matters: "S1" is another statement */
	assert_string_equal(stmtmap_get(m, "S1", NULL), "SELECT 2");
	assert_null(stmtmap_get(m, "s2", NULL));
	stmtmap_free(m);
}

static void test_stmtmap_text_is_copied_and_terminated(void **state)
{
	StmtMap *m = stmtmap_new();
	char text[] = "SELECT 1; trailing";
	size_t len;

	(void)state;
	/* only the first 8 bytes belong to the statement */
	assert_true(stmtmap_put(m, "a", text, 8));
	memset(text, 'x', sizeof(text) - 1);
	const char *t = stmtmap_get(m, "a", &len);
	assert_int_equal(len, 8);
	assert_string_equal(t, "SELECT 1");
	/* an empty text */
	assert_true(stmtmap_put(m, "empty", "", 0));
	assert_string_equal(stmtmap_get(m, "empty", &len), "");
	assert_int_equal(len, 0);
	/* embedded NUL kept, length tells */
	assert_true(stmtmap_put(m, "nul", "ab\0cd", 5));
	t = stmtmap_get(m, "nul", &len);
	assert_int_equal(len, 5);
	assert_memory_equal(t, "ab\0cd", 6);
	stmtmap_free(m);
}

static void test_stmtmap_replace(void **state)
{
	StmtMap *m = stmtmap_new();
	size_t len;

	(void)state;
	assert_true(stmtmap_put(m, "s", "SELECT 1", 8));
	assert_true(stmtmap_put(m, "t", "SELECT 3", 8));
	assert_true(stmtmap_put(m, "s", "SELECT a, b FROM t", 18));
	assert_int_equal(stmtmap_count(m), 2);
	assert_string_equal(stmtmap_get(m, "s", &len), "SELECT a, b FROM t");
	assert_int_equal(len, 18);
	assert_string_equal(stmtmap_get(m, "t", NULL), "SELECT 3");
	stmtmap_free(m);
}

static void test_stmtmap_remove(void **state)
{
	StmtMap *m = stmtmap_new();

	(void)state;
	assert_true(stmtmap_put(m, "a", "1", 1));
	assert_true(stmtmap_put(m, "b", "2", 1));
	stmtmap_remove(m, "a");
	assert_int_equal(stmtmap_count(m), 1);
	assert_null(stmtmap_get(m, "a", NULL));
	assert_string_equal(stmtmap_get(m, "b", NULL), "2");
	/* removing what is not there changes nothing */
	stmtmap_remove(m, "a");
	stmtmap_remove(m, "B");
	assert_int_equal(stmtmap_count(m), 1);
	/* a removed name can be prepared again */
	assert_true(stmtmap_put(m, "a", "3", 1));
	assert_string_equal(stmtmap_get(m, "a", NULL), "3");
	assert_int_equal(stmtmap_count(m), 2);
	stmtmap_free(m);
}

static void test_stmtmap_grow_and_clear(void **state)
{
	StmtMap *m = stmtmap_new();
	char name[32], text[64];
	size_t len;

	(void)state;
	/* 5000 entries: the 16 initial buckets double many times on the way */
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "stmt_%d", i);
		int n = snprintf(text, sizeof(text), "SELECT %d FROM t WHERE id = $1", i);
		assert_true(stmtmap_put(m, name, text, (size_t)n));
		assert_int_equal(stmtmap_count(m), (size_t)i + 1);
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "stmt_%d", i);
		int n = snprintf(text, sizeof(text), "SELECT %d FROM t WHERE id = $1", i);
		assert_string_equal(stmtmap_get(m, name, &len), text);
		assert_int_equal(len, (size_t)n);
	}
	/* remove every other one; the rest stay reachable */
	for (int i = 0; i < 5000; i += 2) {
		snprintf(name, sizeof(name), "stmt_%d", i);
		stmtmap_remove(m, name);
	}
	assert_int_equal(stmtmap_count(m), 2500);
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "stmt_%d", i);
		if (i % 2 == 0) {
			assert_null(stmtmap_get(m, name, NULL));
		} else {
			snprintf(text, sizeof(text), "SELECT %d FROM t WHERE id = $1", i);
			assert_string_equal(stmtmap_get(m, name, NULL), text);
		}
	}
	stmtmap_clear(m);
	assert_int_equal(stmtmap_count(m), 0);
	assert_null(stmtmap_get(m, "stmt_1", NULL));
	assert_null(stmtmap_get(m, "stmt_4999", NULL));
	/* usable after clear */
	assert_true(stmtmap_put(m, "stmt_1", "SELECT 1", 8));
	assert_string_equal(stmtmap_get(m, "stmt_1", NULL), "SELECT 1");
	assert_int_equal(stmtmap_count(m), 1);
	stmtmap_free(m);
	stmtmap_free(NULL);
}

/* The map owns its values: each one is released exactly once, when replaced, removed,
 * cleared or freed, and never while it is still stored. */
static int released[8];

static void count_release(void *value)
{
	released[(int *)value - released]++;
}

static void test_namemap_releases_each_value_once(void **state)
{
	(void)state;
	memset(released, 0, sizeof(released));
	NameMap *m = namemap_new(count_release);
	assert_non_null(m);
	assert_true(namemap_put(m, "a", &released[0]));
	assert_true(namemap_put(m, "b", &released[1]));
	assert_true(namemap_put(m, "c", &released[2]));
	/* replacing releases the old value only */
	assert_true(namemap_put(m, "a", &released[3]));
	assert_int_equal(released[0], 1);
	assert_int_equal(released[3], 0);
	assert_ptr_equal(namemap_get(m, "a"), &released[3]);
	/* the same value again: released once, still stored (a caller holding a reference) */
	assert_true(namemap_put(m, "b", &released[1]));
	assert_int_equal(released[1], 1);
	assert_ptr_equal(namemap_get(m, "b"), &released[1]);
	namemap_remove(m, "c");
	assert_int_equal(released[2], 1);
	namemap_remove(m, "c"); /* absent: nothing */
	assert_int_equal(released[2], 1);
	assert_int_equal(namemap_count(m), 2);
	namemap_clear(m);
	assert_int_equal(namemap_count(m), 0);
	assert_int_equal(released[3], 1);
	assert_int_equal(released[1], 2);
	assert_true(namemap_put(m, "d", &released[4]));
	namemap_free(m);
	assert_int_equal(released[4], 1);
	for (int i = 5; i < 8; i++)
		assert_int_equal(released[i], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stmtmap_put_get),
		cmocka_unit_test(test_stmtmap_text_is_copied_and_terminated),
		cmocka_unit_test(test_stmtmap_replace),
		cmocka_unit_test(test_stmtmap_remove),
		cmocka_unit_test(test_stmtmap_grow_and_clear),
		cmocka_unit_test(test_namemap_releases_each_value_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
