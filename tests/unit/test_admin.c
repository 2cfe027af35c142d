/*
 * test_admin: the admin console's command table (admin.c). Every command is one row; a command
 * is found by its words whatever their case and only in the shapes it accepts; SHOW commands are
 * open to stats_users and every other verb needs admin_users; SHOW HELP's text is made of the
 * rows' help lines and stays what PgBouncer-style clients were shown before the table existed.
 * The answers themselves (columns, values) are checked against PgBouncer by
 * tests/integration/test_admin.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "proxy/admin_internal.h"

/* The row `sql` runs, or NULL; *verb_known says whether its verb is in the table. */
static const AdminCommand *find(const char *sql, bool *verb_known)
{
	AdminCmd cmd;
	if (!admin_parse(sql, &cmd) || cmd.too_many) {
		*verb_known = false;
		return NULL;
	}
	*verb_known = admin_find_verb(&cmd) != NULL;
	return admin_find_command(&cmd);
}

static void test_admin_rows_are_well_formed(void **state)
{
	(void)state;
	size_t n = 0;
	for (const AdminCommand *k = admin_commands; k->verb; k++, n++) {
		/* exactly one handler */
		assert_true((k->show != NULL) != (k->run != NULL));
		assert_true(k->min_words >= 1 && k->min_words <= k->max_words);
		assert_true(k->max_words <= ADMIN_MAX_WORDS);
		if (k->object)
			assert_true(k->min_words >= 2);
		/* SHOW is read-only and open to stats_users; everything else changes things */
		assert_int_equal(k->needs_admin, strcmp(k->verb, "SHOW") != 0);
		/* one row per command: no two rows with the same words */
		for (const AdminCommand *o = admin_commands; o != k; o++)
			assert_false(strcasecmp(o->verb, k->verb) == 0 &&
				     ((!o->object && !k->object) ||
				      (o->object && k->object &&
				       strcasecmp(o->object, k->object) == 0)));
		/* every row of a verb agrees on whether it needs admin_users (admin.c checks the
		 * first row of the verb before looking at the other words) */
		for (const AdminCommand *o = admin_commands; o->verb; o++)
			if (strcasecmp(o->verb, k->verb) == 0)
				assert_int_equal(o->needs_admin, k->needs_admin);
	}
	assert_int_equal(n, 23);
}

static void test_admin_find_by_words(void **state)
{
	bool known;
	(void)state;
	const AdminCommand *k = find("SHOW POOLS", &known);
	assert_non_null(k);
	assert_string_equal(k->object, "POOLS");
	assert_ptr_equal(k->show, admin_show_pools);
	/* case, blanks and a trailing semicolon do not matter */
	assert_ptr_equal(find("  show   pools ;", &known), k);
	assert_ptr_equal(find("Show Pools", &known), k);
	/* the stats family: three rows, three handlers */
	assert_ptr_equal(find("SHOW STATS", &known)->show, admin_show_stats);
	assert_ptr_equal(find("show stats_totals", &known)->show, admin_show_stats_totals);
	assert_ptr_equal(find("show stats_averages", &known)->show, admin_show_stats_averages);
	assert_ptr_equal(find("show suggestions", &known)->run, admin_show_suggestions);
	assert_ptr_equal(find("reset stats", &known)->run, admin_reset_stats);
	assert_ptr_equal(find("RELOAD;", &known)->run, admin_reload);
	assert_ptr_equal(find("SHUTDOWN", &known)->run, admin_shutdown);
}

static void test_admin_find_checks_shape(void **state)
{
	bool known;
	(void)state;
	/* PAUSE and RESUME take an optional database */
	assert_ptr_equal(find("PAUSE", &known)->run, admin_pause);
	assert_ptr_equal(find("PAUSE db1", &known)->run, admin_pause);
	assert_null(find("PAUSE db1 db2", &known));
	assert_true(known);
	assert_ptr_equal(find("resume \"My Db\"", &known)->run, admin_resume);
	/* KILL says itself what is wrong with its arguments */
	assert_ptr_equal(find("KILL", &known)->run, admin_kill);
	assert_ptr_equal(find("KILL a b", &known)->run, admin_kill);
	/* words the command does not take */
	assert_null(find("SHOW", &known));
	assert_true(known);
	assert_null(find("SHOW POOLS now", &known));
	assert_null(find("SHOW NOTHING", &known));
	assert_true(known);
	assert_null(find("RELOAD now", &known));
	assert_null(find("RESET", &known));
	assert_true(known); /* a stats_users member is told 42501, not 42601 */
	assert_null(find("RESET FOO", &known));
	/* unknown verbs */
	assert_null(find("SELECT 1", &known));
	assert_false(known);
	assert_null(find("DROP DATABASE x", &known));
	assert_false(known);
	/* more words than any command has */
	assert_null(find("SHOW a b c d e", &known));
	assert_false(known);
}

static void test_admin_parse_words(void **state)
{
	AdminCmd cmd;
	(void)state;
	assert_false(admin_parse("", &cmd));
	assert_false(admin_parse("  ;; ", &cmd));
	assert_true(admin_parse("KILL \"a \"\"b\"\"\" ;", &cmd));
	assert_int_equal(cmd.n, 2);
	assert_string_equal(cmd.words[0], "KILL");
	assert_string_equal(cmd.words[1], "a \"b\"");
	assert_string_equal(cmd.text, "KILL \"a \"\"b\"\"\"");
	assert_false(cmd.too_many);
	assert_true(admin_parse("a b c d e", &cmd));
	assert_true(cmd.too_many);
}

static void test_admin_help_text(void **state)
{
	char text[512];
	(void)state;
	admin_help_text(text, sizeof(text));
	/* as the console answered before the table existed, line for line */
	assert_string_equal(text,
			    "\n\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION"
			    "\n\tSHOW LISTS"
			    "\n\tSHOW PEERS"
			    "\n\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS"
			    "\n\tSHOW QUERIES|SLOW|SUGGESTIONS"
			    "\n\tRESET STATS"
			    "\n\tRELOAD"
			    "\n\tPAUSE [<db>]"
			    "\n\tRESUME [<db>]"
			    "\n\tKILL <db>"
			    "\n\tSHUTDOWN");
	/* every command's words appear in some help line */
	for (const AdminCommand *k = admin_commands; k->verb; k++)
		assert_non_null(strstr(text, k->object ? k->object : k->verb));
}

/* SHOW HELP is a NoticeResponse written by proto.c, then CommandComplete "SHOW". */
static void test_admin_help_bytes(void **state)
{
	bool known;
	PktBuf b, want;
	char text[512];
	(void)state;
	pktbuf_init(&b);
	pktbuf_init(&want);
	find("SHOW HELP", &known)->show(&b);
	admin_help_text(text, sizeof(text));
	pktbuf_start(&want, PQ_MSG_NOTICE_RESPONSE);
	pktbuf_put_u8(&want, 'S');
	pktbuf_put_cstring(&want, "NOTICE");
	pktbuf_put_u8(&want, 'V');
	pktbuf_put_cstring(&want, "NOTICE");
	pktbuf_put_u8(&want, 'C');
	pktbuf_put_cstring(&want, "00000");
	pktbuf_put_u8(&want, 'M');
	pktbuf_put_cstring(&want, "Console usage");
	pktbuf_put_u8(&want, 'D');
	pktbuf_put_cstring(&want, text);
	pktbuf_put_u8(&want, 0);
	pktbuf_finish(&want);
	pq_write_command_complete(&want, "SHOW");
	assert_false(pktbuf_failed(&b));
	assert_int_equal(b.len, want.len);
	assert_memory_equal(b.data, want.data, want.len);
	pktbuf_free(&b);
	pktbuf_free(&want);
}

/* SHOW VERSION: one text column, one row, CommandComplete. */
static void test_admin_show_version_bytes(void **state)
{
	PktBuf b, want;
	(void)state;
	pktbuf_init(&b);
	pktbuf_init(&want);
	admin_show_version(&b);
	const char *name = "version";
	uint32_t oid = OID_TEXT;
	const char *value = PGSIFT_VERSION_STRING;
	pq_write_row_description(&want, &name, &oid, 1);
	pq_write_data_row(&want, &value, 1);
	pq_write_command_complete(&want, "SHOW");
	assert_int_equal(b.len, want.len);
	assert_memory_equal(b.data, want.data, want.len);
	pktbuf_free(&b);
	pktbuf_free(&want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_admin_rows_are_well_formed),
		cmocka_unit_test(test_admin_find_by_words),
		cmocka_unit_test(test_admin_find_checks_shape),
		cmocka_unit_test(test_admin_parse_words),
		cmocka_unit_test(test_admin_help_text),
		cmocka_unit_test(test_admin_help_bytes),
		cmocka_unit_test(test_admin_show_version_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
