/*
 * test_stats_advisor_live: how SHOW SUGGESTIONS reaches a database's catalog
 * (advisor_live_conninfo): the [databases] entry the proxy itself would use, its forced user and
 * password, else the statements' user and a plain-text auth_file password; md5 and SCRAM secrets
 * are never sent as passwords. The rest of advisor_live (snapshot, one advisor per database,
 * rows) needs a running proxy and PostgreSQL: tests/integration/test_advisor_proxy.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "stats/advisor/live.h"

static char tmpdir[] = "/tmp/pgsift-test-live-XXXXXX";

static Config *load(const char *ini, const char *userlist)
{
	char path[512], users[512];
	snprintf(users, sizeof(users), "%s/userlist.txt", tmpdir);
	FILE *f = fopen(users, "w");
	assert_non_null(f);
	fputs(userlist, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/pgsift.ini", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "[pgsift]\nauth_type = trust\nauth_file = %s\n%s", users, ini);
	fclose(f);
	ConfigArgs args;
	memset(&args, 0, sizeof(args));
	args.config_file = path;
	char err[512] = "";
	Config *cfg = config_load(&args, err, sizeof(err));
	if (!cfg)
		fail_msg("config_load: %s", err);
	return cfg;
}

static const char users_txt[] = "\"alice\" \"secret\"\n"
				"\"bob\" \"md5e5e28e2e3cdd4f0b1bb0f4dd3b5a5e81\"\n";

static void test_stats_advisor_live_conninfo_named_entry(void **state)
{
	(void)state;
	Config *cfg = load("[databases]\n"
			   "app = host=db1 port=5433 dbname=real user=owner password=it's\n"
			   "* = host=/run/pg port=5432\n",
			   users_txt);
	char err[256] = "";
	char *ci = advisor_live_conninfo(cfg, "app", "alice", err, sizeof(err));
	assert_non_null(ci);
	/* the entry forces user and password: the statements' user does not matter */
	assert_string_equal(ci, "host='db1' port='5433' dbname='real' user='owner' "
				"password='it\\'s' connect_timeout='10' "
				"application_name='pgsift advisor'");
	free(ci);
	config_free(cfg);
}

static void test_stats_advisor_live_conninfo_fallback_and_auth_file(void **state)
{
	(void)state;
	Config *cfg = load("[databases]\n* = host=/run/pg port=5432\n", users_txt);
	char err[256] = "";
	/* `*`: the client's database name and user; alice's plain-text password */
	char *ci = advisor_live_conninfo(cfg, "shop", "alice", err, sizeof(err));
	assert_non_null(ci);
	assert_string_equal(ci, "host='/run/pg' port='5432' dbname='shop' user='alice' "
				"password='secret' connect_timeout='10' "
				"application_name='pgsift advisor'");
	free(ci);
	/* bob's md5 secret cannot log in through libpq: no password, libpq's own means apply */
	ci = advisor_live_conninfo(cfg, "shop", "bob", err, sizeof(err));
	assert_non_null(ci);
	assert_string_equal(ci, "host='/run/pg' port='5432' dbname='shop' user='bob' "
				"connect_timeout='10' application_name='pgsift advisor'");
	free(ci);
	config_free(cfg);
}

static void test_stats_advisor_live_conninfo_no_entry(void **state)
{
	(void)state;
	Config *cfg = load("[databases]\napp = host=db1\n", users_txt);
	char err[256] = "";
	assert_null(advisor_live_conninfo(cfg, "other", "alice", err, sizeof(err)));
	assert_string_equal(err, "no [databases] entry (nor `*`) for database \"other\"");
	config_free(cfg);
}

static void test_stats_advisor_live_columns(void **state)
{
	(void)state;
	/* SHOW SUGGESTIONS's columns, in the order the console sends them */
	static const char *const want[] = {"database",	 "table",	   "index",  "statements",
					   "calls",	 "total_ms",	   "p95_ms", "saving_pct",
					   "table_rows", "writes_per_min", "reason"};
	assert_int_equal(ADV_LIVE_COLS, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < ADV_LIVE_COLS; i++)
		assert_string_equal(advisor_live_columns[i], want[i]);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char p[512];
	snprintf(p, sizeof(p), "%s/pgsift.ini", tmpdir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/userlist.txt", tmpdir);
	unlink(p);
	rmdir(tmpdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_advisor_live_conninfo_named_entry),
		cmocka_unit_test(test_stats_advisor_live_conninfo_fallback_and_auth_file),
		cmocka_unit_test(test_stats_advisor_live_conninfo_no_entry),
		cmocka_unit_test(test_stats_advisor_live_columns),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
