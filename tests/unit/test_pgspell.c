/* test_pgspell: PostgreSQL's spelling of reported parameter values (values checked against
 * what PostgreSQL 15 reports in ParameterStatus for the same startup parameters). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "proxy/pgspell.h"

static void expect_spelling(const char *name, const char *value, const char *current,
			    const char *want)
{
	char out[64];
	bool ok = pgspell_value(name, value, current, out, sizeof(out));
	if (!want) {
		if (ok)
			fail_msg("%s=%s: expected no spelling, got \"%s\"", name, value, out);
		return;
	}
	if (!ok)
		fail_msg("%s=%s: expected \"%s\", got none", name, value, want);
	assert_string_equal(out, want);
}

static void test_pgspell_client_encoding(void **state)
{
	(void)state;
	expect_spelling("client_encoding", "utf8", NULL, "UTF8");
	expect_spelling("client_encoding", "UTF-8", NULL, "UTF8");
	expect_spelling("client_encoding", "unicode", NULL, "UTF8");
	expect_spelling("CLIENT_ENCODING", "Utf_8", NULL, "UTF8");
	expect_spelling("client_encoding", "latin1", NULL, "LATIN1");
	expect_spelling("client_encoding", "iso-8859-1", NULL, "LATIN1");
	expect_spelling("client_encoding", "ISO_8859_5", NULL, "ISO_8859_5");
	expect_spelling("client_encoding", "sql_ascii", NULL, "SQL_ASCII");
	expect_spelling("client_encoding", "windows-1252", NULL, "WIN1252");
	expect_spelling("client_encoding", "win", NULL, "WIN1251");
	expect_spelling("client_encoding", "shift_jis_2004", NULL, "SHIFT_JIS_2004");
	expect_spelling("client_encoding", "sjis", NULL, "SJIS");
	/* not an encoding: PostgreSQL refuses it; pgsift leaves it to the server */
	expect_spelling("client_encoding", "klingon", NULL, NULL);
	expect_spelling("client_encoding", "utf88888888888888888888888888888888888", NULL, NULL);
}

static void test_pgspell_datestyle(void **state)
{
	(void)state;
	expect_spelling("DateStyle", "iso, mdy", NULL, "ISO, MDY");
	expect_spelling("datestyle", "ISO,DMY", NULL, "ISO, DMY");
	expect_spelling("DateStyle", "postgres, euro", NULL, "Postgres, DMY");
	expect_spelling("DateStyle", "sql us", NULL, "SQL, MDY");
	/* one half: the other is the server's */
	expect_spelling("DateStyle", "german", "ISO, MDY", "German, DMY");
	expect_spelling("DateStyle", "german, ymd", "ISO, MDY", "German, YMD");
	expect_spelling("DateStyle", "sql", "ISO, DMY", "SQL, DMY");
	expect_spelling("DateStyle", "ymd", "Postgres, MDY", "Postgres, YMD");
	expect_spelling("DateStyle", "sql", NULL, NULL);
	expect_spelling("DateStyle", "default", "ISO, MDY", NULL);
	expect_spelling("DateStyle", "iso, bogus", NULL, NULL);
}

static void test_pgspell_other_parameters_untouched(void **state)
{
	(void)state;
	expect_spelling("application_name", "utf8", NULL, NULL);
	expect_spelling("IntervalStyle", "ISO_8601", NULL, NULL);
}

static void test_pgspell_timezone(void **state)
{
	(void)state;
	expect_spelling("TimeZone", "utc", NULL, "UTC");
	expect_spelling("timezone", "europe/paris", NULL, "Europe/Paris");
	expect_spelling("TimeZone", "AMERICA/NEW_YORK", NULL, "America/New_York");
	expect_spelling("TimeZone", "Europe/Paris", NULL, "Europe/Paris");
	expect_spelling("TimeZone", "utc", NULL, "UTC"); /* from the cache */
	expect_spelling("TimeZone", "no/such_zone", NULL, NULL);
	expect_spelling("TimeZone", "../etc/passwd", NULL, NULL);
	expect_spelling("TimeZone", "UTC+3", NULL, NULL);
	expect_spelling("TimeZone", "-05:00", NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pgspell_client_encoding),
		cmocka_unit_test(test_pgspell_datestyle),
		cmocka_unit_test(test_pgspell_other_parameters_untouched),
		cmocka_unit_test(test_pgspell_timezone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
