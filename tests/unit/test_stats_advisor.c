/*
 * test_stats_advisor: the index advisor's reasoning (stats/advisor/: statements.c, needs.c,
 * plan.c) and its output formats (stats/advisor/output.c), from statements and a hand-built catalog: no server. Each test states
 * the exact CREATE INDEX a user would get.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stats/advisor/advisor.h"
#include "stats/advisor/output.h"

/* Resolves names against the tables the test described (known = true); others are missing. */
static void test_resolve(void *arg, Advisor *adv, const char *schema, const char *name,
			 AdvResolved *out)
{
	(void)arg;
	AdvTable *t = advisor_table(adv, *schema ? schema : "public", name);
	if (t && t->known) {
		out->kind = ADV_REL_TABLE;
		out->table = t;
	} else {
		out->kind = ADV_REL_SKIP;
		snprintf(out->why, sizeof(out->why), "not in the database");
	}
}

static Advisor *new_advisor(void)
{
	AdvisorOptions o;
	advisor_options_default(&o);
	Advisor *adv = advisor_new(&o, test_resolve, NULL);
	assert_non_null(adv);
	return adv;
}

static AdvTable *table(Advisor *adv, const char *name, double rows)
{
	AdvTable *t = advisor_table(adv, "public", name);
	t->known = true;
	t->relkind = 'r';
	t->rows = rows;
	t->pages = rows / 100;
	return t;
}

static void primary_key(AdvTable *t, const char *a, const char *b)
{
	AdvIndex *pk = advisor_table_add_index(t, "pkey", "btree");
	advisor_index_add_key(pk, a, false, false, NULL);
	if (b)
		advisor_index_add_key(pk, b, false, false, NULL);
	pk->unique = pk->primary = true;
}

static AdvColumn *column(AdvTable *t, const char *name, double n_distinct)
{
	AdvColumn *c = advisor_table_add_column(t, name);
	if (n_distinct != 0) {
		c->has_stats = true;
		c->n_distinct = n_distinct;
	}
	return c;
}

static void add(Advisor *adv, const char *sql, uint64_t calls)
{
	AdvStatementIn in = {.text = sql, .calls = calls, .total_ms = -1, .p95_ms = -1};
	assert_int_equal(advisor_add_statement(adv, &in), 1);
}

/* The suggestions' CREATE INDEX statements, one per line. */
static char *plan_sql(Advisor *adv)
{
	assert_int_equal(advisor_plan(adv), 0);
	size_t n;
	const AdvSuggestion *s = advisor_suggestions(adv, &n);
	static char out[8192];
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (s[i].dropped)
			continue;
		char buf[2048];
		advisor_index_sql(&s[i], false, buf, sizeof(buf));
		strcat(out, buf);
		strcat(out, "\n");
	}
	return out;
}

static AdvTable *posts(Advisor *adv)
{
	AdvTable *t = table(adv, "posts", 100000);
	column(t, "id", -1);
	column(t, "blog_id", 1000);
	column(t, "user_id", 10);
	column(t, "created_at", -1);
	column(t, "indexed", -1);
	return t;
}

static void test_stats_advisor_equality_most_selective_first(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	posts(adv);
	add(adv, "SELECT * FROM posts WHERE user_id = $1 AND blog_id = $2", 10);
	assert_string_equal(plan_sql(adv),
			    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_posts_blog_id_user_id ON "
			    "public.posts USING btree (blog_id, user_id);\n");
	advisor_free(adv);
}

static void test_stats_advisor_equality_then_order_desc(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	posts(adv);
	add(adv, "SELECT * FROM posts WHERE user_id = $1 ORDER BY created_at DESC LIMIT 50", 10);
	assert_string_equal(plan_sql(adv),
			    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_posts_user_id_created_at "
			    "ON public.posts USING btree (user_id, created_at DESC);\n");
	advisor_free(adv);
}

static void test_stats_advisor_equality_then_one_range(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	posts(adv);
	add(adv, "SELECT * FROM posts WHERE user_id = 1 AND created_at > $1 AND blog_id < 10", 10);
	/* the range column with more distinct values, after the equality column */
	assert_string_equal(plan_sql(adv),
			    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_posts_user_id_created_at "
			    "ON public.posts USING btree (user_id, created_at);\n");
	advisor_free(adv);
}

static void test_stats_advisor_sort_only_reads_backwards(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	posts(adv);
	add(adv, "SELECT * FROM posts ORDER BY user_id DESC LIMIT 10", 10);
	/* mixed directions stay as written (either reading is as good) */
	add(adv, "SELECT * FROM posts ORDER BY blog_id DESC, created_at LIMIT 10", 10);
	add(adv, "SELECT * FROM posts ORDER BY created_at", 10); /* no LIMIT: a full sort */
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_posts_blog_id_created_at ON "
		"public.posts USING btree (blog_id DESC, created_at);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_posts_user_id ON public.posts USING "
		"btree (user_id);\n");
	advisor_free(adv);
}

static void test_stats_advisor_merges_nested_equality_sets(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	AdvTable *t = table(adv, "adv", 100000);
	column(t, "id1", -1);
	column(t, "id2", -1);
	column(t, "id3", -1);
	column(t, "val", -1);
	add(adv, "SELECT * FROM adv WHERE id1 < 0", 5);
	add(adv, "SELECT * FROM adv WHERE val = 'meh'", 5);
	add(adv, "SELECT * FROM adv WHERE id1 = 0 AND val = 'meh'", 5);
	add(adv, "SELECT * FROM adv WHERE id1 = 1 AND id2 = 2 AND val = 'meh'", 5);
	add(adv, "SELECT * FROM adv WHERE id1 = 6 AND id2 = 6 AND id3 = 6 AND val = 'meh'", 5);
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_adv_val_id1_id2_id3 ON public.adv "
		"USING btree (val, id1, id2, id3);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_adv_id1 ON public.adv USING btree "
		"(id1);\n");
	size_t n;
	const AdvSuggestion *s = advisor_suggestions(adv, &n);
	assert_int_equal(s[0].n_stmts, 4);
	assert_int_equal(s[0].calls, 20);
	advisor_free(adv);
}

static void test_stats_advisor_existing_index_serves(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	AdvTable *t = posts(adv);
	AdvIndex *ix = advisor_table_add_index(t, "posts_indexed_idx", "btree");
	advisor_index_add_key(ix, "indexed", false, false, NULL);
	ix = advisor_table_add_index(t, "posts_user_created", "btree");
	advisor_index_add_key(ix, "user_id", false, false, NULL);
	advisor_index_add_key(ix, "created_at", false, false, NULL);
	ix = advisor_table_add_index(t, "posts_blog_invalid", "btree");
	advisor_index_add_key(ix, "blog_id", false, false, NULL);
	ix->valid = false;
	add(adv, "SELECT * FROM posts WHERE indexed = 1", 10);
	add(adv, "SELECT * FROM posts WHERE user_id = 1", 10); /* prefix of the existing one */
	add(adv, "SELECT * FROM posts WHERE user_id = 1 ORDER BY created_at DESC LIMIT 5", 10);
	add(adv, "SELECT * FROM posts WHERE blog_id = 1", 10); /* only an invalid index */
	assert_string_equal(plan_sql(adv),
			    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_posts_blog_id ON "
			    "public.posts USING btree (blog_id);\n");
	advisor_free(adv);
}

static void test_stats_advisor_partial_for_rare_value(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	AdvTable *t = table(adv, "jobs", 1000000);
	column(t, "id", -1);
	column(t, "created_at", -1);
	AdvColumn *c = column(t, "status", 3);
	c->n_mcv = 3;
	c->mcv = calloc(3, sizeof(char *));
	c->mcv_freq = calloc(3, sizeof(double));
	c->mcv[0] = strdup("DONE");
	c->mcv_freq[0] = 0.97;
	c->mcv[1] = strdup("QUEUED");
	c->mcv_freq[1] = 0.02;
	c->mcv[2] = strdup("PENDING");
	c->mcv_freq[2] = 0.01;
	add(adv,
	    "SELECT * FROM jobs WHERE status IN ('QUEUED','PENDING') ORDER BY created_at LIMIT 10",
	    100);
	/* common: no predicate, and no key either beside a selective column */
	add(adv, "SELECT * FROM jobs WHERE status = 'DONE' AND id = 5", 100);
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_created_at_partial ON "
		"public.jobs USING btree (created_at) WHERE status IN ('QUEUED','PENDING');\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_id ON public.jobs USING "
		"btree (id);\n");
	advisor_free(adv);
}

static void test_stats_advisor_partial_for_soft_delete(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	AdvTable *t = table(adv, "accounts", 50000);
	column(t, "id", -1);
	column(t, "email", -1);
	column(t, "org_id", 500);
	column(t, "deleted_at", -1)->null_frac = 0.9;
	add(adv, "SELECT * FROM accounts WHERE email = $1 AND deleted_at IS NULL", 100);
	add(adv, "SELECT * FROM accounts WHERE org_id = $1 AND deleted_at IS NULL", 100);
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_accounts_email_partial ON "
		"public.accounts USING btree (email) WHERE deleted_at IS NULL;\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_accounts_org_id_partial ON "
		"public.accounts USING btree (org_id) WHERE deleted_at IS NULL;\n");
	advisor_free(adv);
}

static void test_stats_advisor_expression_and_like(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	AdvTable *t = table(adv, "users", 50000);
	column(t, "id", -1);
	column(t, "email", -1);
	column(t, "name", -1);
	column(t, "code", -1)->c_collation = true;
	column(t, "bio", -1);
	add(adv, "SELECT id FROM users WHERE lower(email) = $1", 10);
	add(adv, "SELECT * FROM users WHERE name LIKE 'Jo%'", 10);
	add(adv, "SELECT * FROM users WHERE code LIKE 'AB%'", 10);
	add(adv, "SELECT * FROM users WHERE bio ILIKE '%rust%'", 10);
	add(adv, "SELECT * FROM users WHERE bio LIKE 'exact'", 10); /* no wildcard */
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_bio_trgm ON public.users USING "
		"gin "
		"(bio gin_trgm_ops);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_code ON public.users USING "
		"btree "
		"(code);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_lower_email ON public.users "
		"USING btree ((lower(email)));\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_name ON public.users USING "
		"btree "
		"(name text_pattern_ops);\n");
	size_t n;
	const AdvSuggestion *s = advisor_suggestions(adv, &n);
	assert_int_equal(n, 4);
	assert_int_equal(s[0].n_notes, 1);
	assert_string_equal(s[0].notes[0],
			    "needs the pg_trgm extension: CREATE EXTENSION pg_trgm first");
	advisor_free(adv);
}

static void test_stats_advisor_skips(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	posts(adv);
	AdvTable *small = table(adv, "small", 500);
	column(small, "id", -1);
	AdvTable *j = table(adv, "docs", 100000);
	column(j, "meta", -1)->btree_ok = false; /* json */
	add(adv, "SELECT * FROM small WHERE id = 1", 10);
	add(adv, "SELECT * FROM missing WHERE id = 1", 10);
	add(adv, "SELECT * FROM docs WHERE meta = $1", 10);
	add(adv, "SELECT * FROM posts WHERE id = 1 OR user_id = 2", 10);
	add(adv, "SELECT id, blog_id FROM posts", 10);
	assert_string_equal(plan_sql(adv), "");
	size_t n;
	const char *const *skips = advisor_skips(adv, &n);
	assert_int_equal(n, 2);
	assert_string_equal(skips[0], "missing: not in the database");
	assert_string_equal(skips[1],
			    "public.small: 500 rows, under advisor_min_table_rows (10000)");
	advisor_free(adv);
}

static void test_stats_advisor_join_to_unique_key(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	posts(adv);
	AdvTable *b = table(adv, "blogs", 20000);
	column(b, "id", -1);
	column(b, "owner", 100);
	AdvIndex *pk = advisor_table_add_index(b, "blogs_pkey", "btree");
	advisor_index_add_key(pk, "id", false, false, NULL);
	pk->unique = pk->primary = true;
	add(adv, "SELECT * FROM posts p JOIN blogs b ON b.id = p.blog_id WHERE b.owner = $1", 10);
	assert_string_equal(plan_sql(adv),
			    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_blogs_owner ON "
			    "public.blogs USING btree (owner);\n"
			    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_posts_blog_id ON "
			    "public.posts USING btree (blog_id);\n");
	advisor_free(adv);
}

/* Issue 12, class 1: a join column is a key only for the inner side of a nested loop whose other
 * side is filtered (or small), and then after the constant-equality columns. */
static void test_stats_advisor_join_column_not_first(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	AdvTable *a = table(adv, "a", 200000);
	column(a, "id", -1);
	column(a, "b_id", 5000);
	column(a, "x", 20000);
	AdvTable *b = table(adv, "b", 100000);
	column(b, "id", -1);
	column(b, "name", -1);
	AdvIndex *pk = advisor_table_add_index(b, "b_pkey", "btree");
	advisor_index_add_key(pk, "id", false, false, NULL);
	pk->unique = pk->primary = true;
	add(adv, "SELECT a.* FROM a JOIN b ON b.id = a.b_id WHERE a.x = $1", 10);
	/* b is not filtered: a is the outer side, read through x; b is probed by its key */
	assert_string_equal(plan_sql(adv), "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_a_x ON "
					   "public.a USING btree (x);\n");
	advisor_free(adv);

	adv = new_advisor();
	a = table(adv, "a", 200000);
	column(a, "id", -1);
	column(a, "b_id", 5000);
	column(a, "x", 20000);
	b = table(adv, "b", 100000);
	column(b, "id", -1);
	column(b, "name", -1);
	pk = advisor_table_add_index(b, "b_pkey", "btree");
	advisor_index_add_key(pk, "id", false, false, NULL);
	pk->unique = pk->primary = true;
	/* b filtered too: a may be the inner side, probed by x and then b_id */
	add(adv, "SELECT a.* FROM a JOIN b ON b.id = a.b_id WHERE b.name = $1 AND a.x = $2", 10);
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_a_x_b_id ON public.a USING "
		"btree (x, b_id);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_b_name ON public.b USING "
		"btree (name);\n");
	advisor_free(adv);
}

/* Issue 12, class 2: optional filters ($1 = 0 OR x = $1, x = COALESCE($1, x)) are not sargable:
 * never key columns. Under ORDER BY ... LIMIT the access path is the sort column. */
static void test_stats_advisor_optional_filters(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	AdvTable *t = table(adv, "items", 300000);
	column(t, "id", -1);
	column(t, "owner_id", 3000);
	column(t, "kind", 12);
	column(t, "tag", 500);
	column(t, "label", 900);
	column(t, "created_at", -1);
	add(adv,
	    "SELECT * FROM items WHERE ($1 = 0 OR items.owner_id = $1) AND "
	    "(cardinality($2::int[]) = 0 OR items.kind = ANY($2)) AND items.tag = COALESCE($3, "
	    "items.tag) AND items.label = COALESCE(NULLIF($4, ''), items.label) "
	    "ORDER BY items.created_at DESC LIMIT 20",
	    50);
	assert_string_equal(plan_sql(adv),
			    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_items_created_at ON "
			    "public.items USING btree (created_at);\n");
	advisor_free(adv);
}

static void mcv(AdvColumn *c, const char *const *vals, const double *freqs, size_t n)
{
	c->n_mcv = n;
	c->mcv = calloc(n, sizeof(char *));
	c->mcv_freq = calloc(n, sizeof(double));
	for (size_t i = 0; i < n; i++) {
		c->mcv[i] = strdup(vals[i]);
		c->mcv_freq[i] = freqs[i];
	}
}

/* Issue 12, class 7: a constant filter every statement of an index has (deleted_at IS NULL,
 * starred IS TRUE, status IN (...)) becomes the partial index's predicate, not a key column,
 * even when the value is common; the work queue is ordered by its sort keys. */
static void test_stats_advisor_constant_filters_become_predicates(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	AdvTable *t = table(adv, "posts", 400000);
	column(t, "id", -1);
	column(t, "user_id", 5000);
	column(t, "created_at", -1);
	column(t, "deleted_at", -0.02)->null_frac = 0.98;
	column(t, "starred", 2);
	AdvIndex *pk = advisor_table_add_index(t, "posts_pkey", "btree");
	advisor_index_add_key(pk, "id", false, false, NULL);
	pk->unique = pk->primary = true;
	AdvTable *j = table(adv, "jobs", 200000);
	column(j, "id", -1);
	column(j, "priority", 10);
	column(j, "queued_at", -1);
	static const char *const st[] = {"DONE", "QUEUED", "PENDING", "FAILED"};
	static const double fr[] = {0.4, 0.3, 0.2, 0.1};
	mcv(column(j, "status", 4), st, fr, 4);
	add(adv,
	    "SELECT * FROM posts WHERE user_id = $1 AND deleted_at IS NULL ORDER BY created_at "
	    "DESC LIMIT 20",
	    1000);
	add(adv, "SELECT count(*) FROM posts WHERE user_id = $1 AND deleted_at IS NULL", 100);
	add(adv, "UPDATE posts SET starred = $1 WHERE id = $2", 500);
	add(adv,
	    "SELECT * FROM posts WHERE user_id = $1 AND starred IS TRUE ORDER BY created_at DESC "
	    "LIMIT 20",
	    300);
	add(adv,
	    "SELECT * FROM jobs WHERE status IN ('QUEUED','PENDING') ORDER BY priority DESC, "
	    "queued_at LIMIT 10",
	    200);
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_posts_user_id_created_at_partial ON "
		"public.posts USING btree (user_id, created_at DESC) WHERE deleted_at IS NULL;\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_posts_user_id_created_at_partial_2 ON "
		"public.posts USING btree (user_id, created_at DESC) WHERE starred IS TRUE;\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_priority_queued_at_partial ON "
		"public.jobs USING btree (priority DESC, queued_at) WHERE status IN "
		"('QUEUED','PENDING');\n");
	advisor_free(adv);

	/* NOT disabled is a constant filter too: the scheduler's due feeds */
	adv = new_advisor();
	AdvTable *f = table(adv, "feeds", 40000);
	column(f, "id", -1);
	column(f, "disabled", 2);
	column(f, "parsing_error_count", 5);
	column(f, "next_check_at", -1);
	add(adv,
	    "SELECT id FROM feeds WHERE NOT disabled AND parsing_error_count < $1 AND "
	    "next_check_at <= now() ORDER BY next_check_at LIMIT $2",
	    60);
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_feeds_next_check_at_partial "
		"ON public.feeds USING btree (next_check_at) WHERE NOT disabled;\n");
	advisor_free(adv);

	/* the queue again, its status also filtered by parameters elsewhere, a range beside its
	 * sort: the literal IN-list still makes the predicate, the sort wins under LIMIT */
	adv = new_advisor();
	j = table(adv, "jobs", 250000);
	column(j, "id", -1);
	column(j, "queue", 8);
	column(j, "priority", 10);
	column(j, "queued_at", -1);
	column(j, "run_at", -1);
	column(j, "locked_at", -1);
	/* as queues are: most jobs are done, the waiting ones a small share (a literal matching
	 * a quarter of the rows or more would be checked, not keyed: drop_weak_literals) */
	static const char *const st3[] = {"DONE", "QUEUED", "PENDING", "FAILED"};
	static const double fr3[] = {0.85, 0.08, 0.04, 0.03};
	mcv(column(j, "status", 4), st3, fr3, 4);
	add(adv,
	    "SELECT id FROM jobs WHERE queue = $1 AND status IN ('QUEUED', 'PENDING') AND run_at "
	    "<= now() ORDER BY priority DESC, queued_at LIMIT $2",
	    200);
	add(adv,
	    "UPDATE jobs SET status = $1 WHERE status = $2 AND locked_at < now() - $3::interval",
	    20);
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS "
		"idx_jobs_queue_priority_queued_at_partial ON public.jobs USING btree "
		"(queue, priority DESC, queued_at) WHERE status IN ('QUEUED', 'PENDING');\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_status_locked_at ON "
		"public.jobs USING btree (status, locked_at);\n");
	advisor_free(adv);

	/* the claim as workers write it (a CTE locking the rows, an UPDATE of them), a count
	 * over the same predicate (which the claim's partial index serves: no index of its
	 * own), a reaper on another, rare status */
	adv = new_advisor();
	j = table(adv, "jobs", 250000);
	column(j, "id", -1);
	column(j, "queue", 8);
	column(j, "priority", 10);
	column(j, "queued_at", -1);
	column(j, "run_at", -1);
	column(j, "locked_at", -1);
	static const char *const st2[] = {"DONE", "QUEUED", "PENDING", "RUNNING"};
	static const double fr2[] = {0.93, 0.03, 0.02, 0.02};
	mcv(column(j, "status", 4), st2, fr2, 4);
	primary_key(j, "id", NULL);
	add(adv,
	    "WITH next AS (SELECT id FROM jobs WHERE queue = $1 AND status IN ('QUEUED', "
	    "'PENDING') AND run_at <= now() ORDER BY priority DESC, queued_at LIMIT $2 FOR UPDATE "
	    "SKIP LOCKED) UPDATE jobs j SET status = 'RUNNING', locked_at = now() FROM next WHERE "
	    "j.id = next.id RETURNING j.id",
	    200);
	add(adv,
	    "SELECT queue, count(*) FROM jobs WHERE status IN ('QUEUED', 'PENDING') GROUP BY queue",
	    30);
	add(adv,
	    "UPDATE jobs SET status = 'QUEUED', locked_at = NULL WHERE status = 'RUNNING' AND "
	    "locked_at < now() - $1::interval",
	    20);
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS "
		"idx_jobs_queue_priority_queued_at_partial ON public.jobs USING btree "
		"(queue, priority DESC, queued_at) WHERE status IN ('QUEUED', 'PENDING');\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_locked_at_partial ON public.jobs "
		"USING btree (locked_at) WHERE status = 'RUNNING';\n");
	size_t n;
	const AdvSuggestion *s = advisor_suggestions(adv, &n);
	assert_int_equal(s[0].n_stmts, 2);
	assert_string_equal(
		advisor_path(&s[0], 0),
		"equality (queue), then sort (priority DESC, queued_at), partial predicate "
		"(status IN ('QUEUED', 'PENDING'))");
	assert_string_equal(advisor_path(&s[0], 1),
			    "partial predicate (status IN ('QUEUED', 'PENDING'))");
	advisor_free(adv);
}

/* An equality literal matching a large share of the rows is checked on the rows a selective
 * column finds, not keyed: the statement keeps its sort and shares that column's index. */
static void test_stats_advisor_weak_literals(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	AdvTable *t = table(adv, "issues", 300000);
	column(t, "id", -1);
	column(t, "assignee_id", 20000);
	column(t, "project_id", 8000);
	column(t, "updated_at", -1);
	static const char *const st[] = {"closed", "open", "in_progress"};
	static const double fr[] = {0.55, 0.31, 0.14};
	mcv(column(t, "status", 3), st, fr, 3);
	add(adv,
	    "SELECT id FROM issues WHERE assignee_id = $1 AND status IN ('open', 'in_progress') "
	    "ORDER BY updated_at DESC LIMIT 50",
	    150);
	add(adv, "SELECT id FROM issues WHERE assignee_id = $1 ORDER BY updated_at DESC LIMIT 20",
	    50);
	add(adv, "SELECT count(*) FROM issues WHERE project_id = $1 AND status = 'open'", 60);
	/* a parameter's value is unknown: a key, as before */
	add(adv, "SELECT id FROM issues WHERE project_id = $1 AND status = $2", 10);
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_issues_assignee_id_updated_at "
		"ON public.issues USING btree (assignee_id, updated_at DESC);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_issues_project_id_status ON "
		"public.issues USING btree (project_id, status);\n");
	size_t n;
	const AdvSuggestion *s = advisor_suggestions(adv, &n);
	assert_int_equal(s[0].n_stmts, 2);
	assert_int_equal(s[1].n_stmts, 2);
	advisor_free(adv);
}

/* Issue 12, class 6: statements share an index only while each keeps its access path, and the
 * hottest statement chooses first: the count on (user_id, status) goes with the hot feed's
 * (user_id, status, published_at DESC), not with the widest index of a rare statement. */
static void test_stats_advisor_merge_hottest_first(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	AdvTable *t = table(adv, "entries", 700000);
	column(t, "id", -1);
	column(t, "user_id", 5000);
	column(t, "status", 3);
	column(t, "feed_id", 20000);
	column(t, "published_at", -1);
	column(t, "changed_at", -1);
	add(adv,
	    "SELECT * FROM entries WHERE user_id = $1 AND feed_id = $2 AND status = $3 ORDER BY "
	    "changed_at DESC, published_at DESC LIMIT 10",
	    50);
	add(adv, "SELECT count(*) FROM entries WHERE user_id = $1 AND status = $2", 200);
	add(adv,
	    "SELECT * FROM entries WHERE user_id = $1 AND status = $2 ORDER BY published_at DESC "
	    "LIMIT 100",
	    5000);
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_entries_user_id_status_published_at "
		"ON "
		"public.entries USING btree (user_id, status, published_at DESC);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS "
		"idx_entries_feed_id_user_id_status_changed_at_published_at ON public.entries "
		"USING "
		"btree (feed_id, user_id, status, changed_at DESC, published_at DESC);\n");
	size_t n;
	const AdvSuggestion *s = advisor_suggestions(adv, &n);
	assert_int_equal(n, 2);
	assert_int_equal(s[0].n_stmts, 2);
	assert_int_equal(s[0].calls, 5200);
	advisor_free(adv);
}

/* Issue 12, class 5: conditions inside CTEs, subqueries, LATERAL and UNION arms belong to their
 * base tables; a condition on a MATERIALIZED CTE's output does not; a subquery's ORDER BY is its
 * own query's, not the outer one's. */
static void test_stats_advisor_nesting(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	AdvTable *o = table(adv, "orders", 500000);
	column(o, "id", -1);
	column(o, "customer_id", 50000);
	column(o, "shop_id", 200);
	column(o, "created_at", -1);
	AdvTable *r = table(adv, "returns", 100000);
	column(r, "id", -1);
	column(r, "shop_id", 200);
	column(r, "created_at", -1);
	AdvTable *e = table(adv, "events", 300000);
	column(e, "id", -1);
	column(e, "kind", 5000);
	AdvTable *k = table(adv, "couriers", 20000);
	column(k, "id", -1);
	column(k, "name", -1);
	column(k, "rank", -1);
	AdvTable *c = table(adv, "customers", 100000);
	column(c, "id", -1);
	column(c, "region", 20);
	AdvIndex *pk = advisor_table_add_index(c, "customers_pkey", "btree");
	advisor_index_add_key(pk, "id", false, false, NULL);
	pk->unique = pk->primary = true;
	add(adv,
	    "SELECT o.*, (SELECT k.name FROM couriers k ORDER BY k.rank LIMIT 1) FROM orders o "
	    "WHERE o.customer_id = $1 ORDER BY o.created_at DESC LIMIT 10",
	    100);
	add(adv,
	    "SELECT * FROM customers c CROSS JOIN LATERAL (SELECT * FROM orders o WHERE "
	    "o.customer_id = c.id ORDER BY o.created_at DESC LIMIT 3) l WHERE c.region = $1",
	    50);
	add(adv,
	    "WITH recent AS (SELECT * FROM orders WHERE orders.created_at > now() - interval '1 "
	    "day') SELECT * FROM recent WHERE recent.customer_id = $1",
	    30);
	add(adv,
	    "SELECT * FROM (SELECT id, shop_id, created_at FROM orders UNION ALL SELECT id, "
	    "shop_id, created_at FROM returns) u WHERE u.shop_id = $1",
	    40);
	add(adv, "WITH m AS MATERIALIZED (SELECT * FROM events) SELECT * FROM m WHERE m.kind = $1",
	    20);
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_customer_id_created_at ON "
		"public.orders USING btree (customer_id, created_at DESC);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_couriers_rank ON public.couriers "
		"USING "
		"btree (rank);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_customers_region ON public.customers "
		"USING btree (region);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_shop_id ON public.orders USING "
		"btree (shop_id);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_returns_shop_id ON public.returns "
		"USING "
		"btree (shop_id);\n");
	size_t n;
	const AdvSuggestion *s = advisor_suggestions(adv, &n);
	assert_int_equal(s[0].n_stmts, 3);
	advisor_free(adv);
}

/* Issue 12, class 3: x IN (SELECT y ...) and EXISTS (...) are joins, not equality on a constant:
 * the column is a key only when the other side is read first. */
static void test_stats_advisor_semi_joins(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	AdvTable *p = posts(adv);
	primary_key(p, "id", NULL);
	AdvTable *f = table(adv, "follows", 300000);
	column(f, "user_id", 20000);
	column(f, "followee_id", 20000);
	primary_key(f, "user_id", "followee_id");
	AdvTable *u = table(adv, "users", 50000);
	column(u, "id", -1);
	column(u, "org_id", 500);
	primary_key(u, "id", NULL);
	AdvTable *g = table(adv, "g", 100000);
	column(g, "id", -1);
	primary_key(g, "id", NULL);
	AdvTable *h = table(adv, "h", 900000);
	column(h, "g_id", 100000);
	column(h, "k", 3000);
	add(adv,
	    "SELECT * FROM posts WHERE posts.blog_id = $1 AND posts.user_id IN (SELECT "
	    "follows.user_id FROM follows)",
	    100);
	add(adv, "SELECT * FROM g WHERE EXISTS (SELECT 1 FROM h WHERE h.g_id = g.id AND h.k = $1)",
	    80);
	add(adv,
	    "SELECT * FROM posts WHERE posts.user_id IN (SELECT u.id FROM users u WHERE "
	    "u.org_id = $1)",
	    60);
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_posts_blog_id ON "
		"public.posts USING btree (blog_id);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_h_k ON public.h USING btree "
		"(k);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_posts_user_id ON "
		"public.posts USING btree (user_id);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_org_id ON "
		"public.users USING btree (org_id);\n");
	advisor_free(adv);

	/* both sides filtered: the link table inside IN is read by its own filter first (its
	 * join column is no key), and the outer table is probed by its primary key */
	adv = new_advisor();
	AdvTable *is = table(adv, "issues", 300000);
	column(is, "id", -1);
	column(is, "project_id", 8000);
	column(is, "updated_at", -1);
	primary_key(is, "id", NULL);
	AdvTable *il = table(adv, "issue_labels", 250000);
	column(il, "issue_id", 150000);
	column(il, "label_id", 64000);
	primary_key(il, "issue_id", "label_id");
	add(adv,
	    "SELECT i.id FROM issues i WHERE i.project_id = $1 AND i.id IN (SELECT il.issue_id "
	    "FROM issue_labels il WHERE il.label_id = $2) ORDER BY i.updated_at DESC LIMIT 50",
	    50);
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_issue_labels_label_id "
		"ON public.issue_labels USING btree (label_id);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_issues_project_id_updated_at "
		"ON public.issues USING btree (project_id, updated_at DESC);\n");
	advisor_free(adv);

	/* the same with EXISTS: the inside's own filter is its key, without the join column */
	adv = new_advisor();
	is = table(adv, "issues", 300000);
	column(is, "id", -1);
	column(is, "org_id", 500);
	column(is, "updated_at", -1);
	primary_key(is, "id", NULL);
	AdvTable *cm = table(adv, "comments", 900000);
	column(cm, "id", -1);
	column(cm, "issue_id", 250000);
	column(cm, "author_id", 60000);
	primary_key(cm, "id", NULL);
	add(adv,
	    "SELECT i.id FROM issues i WHERE i.org_id = $1 AND EXISTS (SELECT 1 FROM comments c "
	    "WHERE c.issue_id = i.id AND c.author_id = $2) ORDER BY i.updated_at DESC LIMIT 20",
	    30);
	assert_string_equal(plan_sql(adv),
			    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_comments_author_id "
			    "ON public.comments USING btree (author_id);\n"
			    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_issues_org_id_updated_at "
			    "ON public.issues USING btree (org_id, updated_at DESC);\n");
	advisor_free(adv);
}

/* Issue 12, class 4: = ANY($1) and IN-lists are equality for the key, but the rows of several
 * values do not come out in the order of the next key: no sort columns after them. */
static void test_stats_advisor_any_destroys_order(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	AdvTable *e = table(adv, "enclosures", 300000);
	column(e, "id", -1);
	column(e, "entry_id", 100000);
	AdvTable *t = table(adv, "entries", 700000);
	column(t, "id", -1);
	column(t, "user_id", 5000);
	column(t, "feed_id", 20000);
	column(t, "published_at", -1);
	add(adv, "SELECT * FROM enclosures WHERE entry_id = ANY($1) ORDER BY id", 100);
	add(adv,
	    "SELECT * FROM entries WHERE user_id = $1 AND feed_id IN ($2, $3, $4) ORDER BY "
	    "published_at DESC LIMIT 20",
	    50);
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_enclosures_entry_id ON "
		"public.enclosures USING btree (entry_id);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_entries_user_id_feed_id ON "
		"public.entries USING btree (user_id, feed_id);\n");
	advisor_free(adv);
}

/* Issue 12, class 10: nothing whose job a primary key or unique index already does: its columns
 * among a statement's equality columns find at most one row, whatever else is filtered. */
static void test_stats_advisor_unique_already_serves(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	AdvTable *t = table(adv, "accounts", 200000);
	column(t, "id", -1);
	column(t, "org_id", 500);
	column(t, "email", -1);
	column(t, "version", 50);
	column(t, "name", -1);
	column(t, "created_at", -1);
	column(t, "deleted_at", -0.01)->null_frac = 0.99;
	primary_key(t, "id", NULL);
	AdvIndex *uq = advisor_table_add_index(t, "accounts_org_id_email_key", "btree");
	advisor_index_add_key(uq, "org_id", false, false, NULL);
	advisor_index_add_key(uq, "email", false, false, NULL);
	uq->unique = uq->constraint = true;
	add(adv,
	    "UPDATE accounts SET name = $1, version = version + 1 WHERE id = $2 AND version = $3",
	    500);
	add(adv, "SELECT * FROM accounts WHERE email = $1 AND org_id = $2 AND deleted_at IS NULL",
	    400);
	add(adv, "SELECT * FROM accounts WHERE id = ANY($1) AND org_id = $2", 300);
	add(adv, "SELECT * FROM accounts WHERE org_id = $1 ORDER BY created_at DESC LIMIT 10", 20);
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_accounts_org_id_created_at "
		"ON public.accounts USING btree (org_id, created_at DESC);\n");
	advisor_free(adv);

	/* the inner side of a join: the outer row's value and a constant find one row through
	 * UNIQUE (project_id, number) */
	adv = new_advisor();
	AdvTable *p = table(adv, "projects", 20000);
	column(p, "id", -1);
	column(p, "org_id", 2000);
	column(p, "key", 15000);
	primary_key(p, "id", NULL);
	AdvIndex *pk = advisor_table_add_index(p, "projects_org_id_key_key", "btree");
	advisor_index_add_key(pk, "org_id", false, false, NULL);
	advisor_index_add_key(pk, "key", false, false, NULL);
	pk->unique = pk->constraint = true;
	AdvTable *is = table(adv, "issues", 300000);
	column(is, "id", -1);
	column(is, "project_id", 20000);
	column(is, "number", 2000);
	primary_key(is, "id", NULL);
	AdvIndex *num = advisor_table_add_index(is, "issues_project_id_number_key", "btree");
	advisor_index_add_key(num, "project_id", false, false, NULL);
	advisor_index_add_key(num, "number", false, false, NULL);
	num->unique = num->constraint = true;
	add(adv,
	    "SELECT i.id FROM issues i JOIN projects p ON p.id = i.project_id WHERE p.org_id = $1 "
	    "AND p.key = $2 AND i.number = $3",
	    100);
	assert_string_equal(plan_sql(adv), "");
	advisor_free(adv);
}

/* An existing index whose leading columns find a handful of rows serves the statement's other
 * filters and sort: two feeds per user through UNIQUE (user_id, feed_url) need no
 * (user_id, title); 800 per user do. */
static void test_stats_advisor_few_rows_by_existing_prefix(void **state)
{
	(void)state;
	for (int many = 0; many < 2; many++) {
		Advisor *adv = new_advisor();
		AdvTable *t = table(adv, "feeds", 40000);
		column(t, "id", -1);
		column(t, "user_id", many ? 50 : 20000);
		column(t, "feed_url", -1);
		column(t, "title", -0.9);
		primary_key(t, "id", NULL);
		AdvIndex *uq = advisor_table_add_index(t, "feeds_user_id_feed_url_key", "btree");
		advisor_index_add_key(uq, "user_id", false, false, NULL);
		advisor_index_add_key(uq, "feed_url", false, false, NULL);
		uq->unique = uq->constraint = true;
		add(adv, "SELECT id, title FROM feeds WHERE user_id = $1 ORDER BY title", 100);
		assert_string_equal(plan_sql(adv),
				    many ? "CREATE INDEX CONCURRENTLY IF NOT EXISTS "
					   "idx_feeds_user_id_title ON public.feeds USING btree "
					   "(user_id, title);\n" :
					   "");
		advisor_free(adv);
	}
	/* a join column is no handful: the lookup runs once per outer row (every feed of the
	 * user), so the LATERAL's top-1 gets its index beside UNIQUE (feed_id, hash) */
	Advisor *adv = new_advisor();
	AdvTable *f = table(adv, "feeds", 40000);
	column(f, "id", -1);
	column(f, "user_id", 20000);
	primary_key(f, "id", NULL);
	AdvIndex *fu = advisor_table_add_index(f, "feeds_user_id_key", "btree");
	advisor_index_add_key(fu, "user_id", false, false, NULL);
	advisor_index_add_key(fu, "id", false, false, NULL);
	fu->unique = fu->constraint = true;
	AdvTable *t = table(adv, "entries", 400000);
	column(t, "id", -1);
	column(t, "feed_id", 40000);
	column(t, "hash", -1);
	column(t, "published_at", -1);
	primary_key(t, "id", NULL);
	AdvIndex *uq = advisor_table_add_index(t, "entries_feed_id_hash_key", "btree");
	advisor_index_add_key(uq, "feed_id", false, false, NULL);
	advisor_index_add_key(uq, "hash", false, false, NULL);
	uq->unique = uq->constraint = true;
	add(adv,
	    "SELECT f.id, le.published_at FROM feeds f CROSS JOIN LATERAL (SELECT e.published_at "
	    "FROM entries e WHERE e.feed_id = f.id ORDER BY e.published_at DESC LIMIT 1) le WHERE "
	    "f.user_id = $1",
	    100);
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_entries_feed_id_published_at "
		"ON public.entries USING btree (feed_id, published_at DESC);\n");
	advisor_free(adv);
}

/* Issue 12, class 9: search. tsvector @@ wants GIN on the column, to_tsvector(cfg, col) @@ an
 * expression GIN, ILIKE '%' || $1 || '%' a pg_trgm GIN (saying that the extension is needed),
 * also under ORDER BY ... LIMIT. */
static void test_stats_advisor_search(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	AdvTable *t = table(adv, "docs", 250000);
	column(t, "id", -1);
	AdvColumn *tsv = column(t, "tsv", -1);
	tsv->btree_ok = false;
	tsv->gin_ok = true;
	column(t, "body", -1);
	column(t, "title", -1);
	column(t, "created_at", -1);
	primary_key(t, "id", NULL);
	add(adv,
	    "SELECT id FROM docs WHERE tsv @@ websearch_to_tsquery('english', $1) ORDER BY id "
	    "DESC LIMIT 20",
	    300);
	add(adv,
	    "SELECT id FROM docs WHERE to_tsvector('english', body) @@ plainto_tsquery('english', "
	    "$1)",
	    200);
	add(adv,
	    "SELECT * FROM docs WHERE title ILIKE '%' || $1 || '%' ORDER BY created_at DESC LIMIT "
	    "20",
	    100);
	/* ILIKE $1 with no sampled value (SHOW QUERIES gives none): a search all the same */
	add(adv, "SELECT id FROM docs WHERE body ILIKE $1 ORDER BY id LIMIT 20", 50);
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_docs_tsv_gin ON public.docs USING gin "
		"(tsv);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_docs_to_tsvector_english_body_gin ON "
		"public.docs USING gin ((to_tsvector('english', body)));\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_docs_title_trgm ON public.docs USING "
		"gin "
		"(title gin_trgm_ops);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_docs_body_trgm ON public.docs USING "
		"gin "
		"(body gin_trgm_ops);\n");
	size_t n;
	const AdvSuggestion *s = advisor_suggestions(adv, &n);
	assert_int_equal(n, 4);
	assert_string_equal(s[2].notes[0],
			    "needs the pg_trgm extension: CREATE EXTENSION pg_trgm first");
	advisor_free(adv);

	/* jsonb containment and key existence, array overlap: GIN on the column (the default
	 * classes serve them); a range's @> wants GiST, which is not suggested */
	adv = new_advisor();
	t = table(adv, "orders", 400000);
	column(t, "id", -1);
	AdvColumn *attrs = column(t, "attrs", -1);
	attrs->btree_ok = true;
	attrs->gin_ok = true;
	column(t, "tags", -1)->gin_ok = true;
	column(t, "during", -1)->gin_ok = false;
	primary_key(t, "id", NULL);
	add(adv, "SELECT id FROM orders WHERE attrs @> '{\"gift\": true}'", 50);
	add(adv, "SELECT id FROM orders WHERE attrs ? 'coupon'", 40);
	add(adv, "SELECT id FROM orders WHERE tags && ARRAY['d']::text[]", 30);
	add(adv, "SELECT id FROM orders WHERE during @> now()", 20);
	assert_string_equal(plan_sql(adv),
			    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_attrs_gin ON "
			    "public.orders USING gin (attrs);\n"
			    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_tags_gin ON "
			    "public.orders USING gin (tags);\n");
	size_t nskip;
	const char *const *skips = advisor_skips(adv, &nskip);
	bool range_skipped = false;
	for (size_t i = 0; i < nskip; i++)
		range_skipped |= strstr(skips[i], "during is searched with an operator") != NULL;
	assert_true(range_skipped);
	advisor_free(adv);
}

/* Issue 12, class 8: range bounds that are expressions are ranges, on either side:
 * created_at < now() - $1::interval, now() - last_seen_at < $1, run_at + $1 <= now(). */
static void test_stats_advisor_expression_bounds(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	AdvTable *t = table(adv, "sessions", 400000);
	column(t, "id", -1);
	column(t, "user_id", 40000);
	column(t, "created_at", -1);
	column(t, "last_seen_at", -1);
	AdvTable *j = table(adv, "jobs", 100000);
	column(j, "id", -1);
	column(j, "run_at", -1);
	add(adv,
	    "SELECT * FROM sessions WHERE user_id = $1 AND now() - last_seen_at < $2::interval",
	    300);
	add(adv, "DELETE FROM sessions WHERE created_at < now() - $1::interval", 200);
	add(adv, "SELECT * FROM jobs WHERE run_at + $1::interval <= now()", 100);
	assert_string_equal(
		plan_sql(adv),
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_sessions_user_id_last_seen_at "
		"ON public.sessions USING btree (user_id, last_seen_at);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_sessions_created_at ON "
		"public.sessions USING btree (created_at);\n"
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_run_at ON public.jobs "
		"USING btree (run_at);\n");
	advisor_free(adv);
}

/* Issue 12, class 11: one statement, one digest. libpg_query fingerprints an empty array literal
 * and ARRAY[...] apart; the advisor groups them by pgsift's own shape, so the statement's
 * evidence (calls, time) is whole. */
static void test_stats_advisor_one_statement_one_digest(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	posts(adv);
	AdvStatementIn a = {
		.text = "SELECT * FROM posts WHERE user_id = $1 AND blog_id = ANY('{}')",
		.calls = 10,
		.total_ms = 5,
		.p95_ms = 1};
	AdvStatementIn b = {.text = "SELECT * FROM posts WHERE user_id = $1 AND blog_id = "
				    "ANY(ARRAY[4, 5, 6])",
			    .calls = 30,
			    .total_ms = 15,
			    .p95_ms = 2};
	AdvStatementIn c = {.text = "SELECT * FROM posts WHERE user_id = $1 AND blog_id = "
				    "ANY(ARRAY[]::int[])",
			    .calls = 20,
			    .total_ms = 10,
			    .p95_ms = 3};
	assert_int_equal(advisor_add_statement(adv, &a), 1);
	assert_int_equal(advisor_add_statement(adv, &b), 1);
	assert_int_equal(advisor_add_statement(adv, &c), 1);
	size_t n;
	const AdvStatement *st = advisor_statements(adv, &n);
	assert_int_equal(n, 1);
	assert_int_equal(st[0].calls, 60);
	assert_true(st[0].total_ms > 29.9 && st[0].total_ms < 30.1);
	assert_true(st[0].p95_ms > 2.9 && st[0].p95_ms < 3.1);
	assert_string_equal(plan_sql(adv), "CREATE INDEX CONCURRENTLY IF NOT EXISTS "
					   "idx_posts_user_id_blog_id ON public.posts USING btree "
					   "(user_id, blog_id);\n");
	const AdvSuggestion *s = advisor_suggestions(adv, &n);
	assert_int_equal(s[0].n_stmts, 1);
	assert_int_equal(s[0].calls, 60);
	advisor_free(adv);
}

/* Issue 12, class 12: the share of the window's time under which a statement is ignored is a
 * setting (--negligible-pct, 0.01%), named where it applies: a rare login is not dropped. */
static void test_stats_advisor_negligible_is_a_setting(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	posts(adv);
	AdvStatementIn heavy = {.text = "SELECT * FROM posts WHERE blog_id = $1",
				.calls = 1000,
				.total_ms = 100000,
				.p95_ms = -1};
	AdvStatementIn rare = {.text = "SELECT * FROM posts WHERE user_id = $1",
			       .calls = 2,
			       .total_ms = 50,
			       .p95_ms = -1};
	AdvStatementIn tiny = {.text = "SELECT * FROM posts WHERE created_at > $1",
			       .calls = 1,
			       .total_ms = 5,
			       .p95_ms = -1};
	advisor_add_statement(adv, &heavy);
	advisor_add_statement(adv, &rare);
	advisor_add_statement(adv, &tiny);
	assert_string_equal(plan_sql(adv),
			    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_posts_blog_id ON "
			    "public.posts USING btree (blog_id);\n"
			    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_posts_user_id ON "
			    "public.posts USING btree (user_id);\n");
	size_t n;
	const char *const *skips = advisor_skips(adv, &n);
	assert_int_equal(n, 1);
	assert_non_null(strstr(skips[0], "5.000 ms of 100055.000 ms in the window, under "
					 "--negligible-pct 0.01%"));
	advisor_free(adv);
}

static void test_stats_advisor_quoting_and_partitioned(void **state)
{
	(void)state;
	Advisor *adv = new_advisor();
	AdvTable *t = advisor_table(adv, "Bar", "Foo");
	t->known = true;
	t->relkind = 'p';
	t->rows = 100000;
	column(t, "Id", -1);
	column(t, "order", -1);
	add(adv, "SELECT * FROM \"Bar\".\"Foo\" WHERE \"Id\" = 1 AND \"order\" = 2", 10);
	assert_string_equal(plan_sql(adv),
			    "CREATE INDEX IF NOT EXISTS idx_foo_id_order ON \"Bar\".\"Foo\" USING "
			    "btree (\"Id\", \"order\");\n");
	advisor_free(adv);
}

static char *capture(Advisor *adv, AdvFormat fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	advisor_output(f, adv, fmt, NULL);
	fclose(f);
	return buf;
}

static Advisor *one_suggestion(void)
{
	Advisor *adv = new_advisor();
	AdvTable *t = posts(adv);
	t->writes_per_min = 12.5;
	AdvStatementIn in = {.text = "SELECT * FROM posts WHERE user_id = 7",
			     .calls = 40,
			     .total_ms = 80,
			     .p95_ms = 3.5};
	advisor_add_statement(adv, &in);
	AdvStatementIn up = {.text = "UPDATE posts SET user_id = $1 WHERE id = $2",
			     .calls = 2,
			     .total_ms = 0.2,
			     .p95_ms = 0.1};
	advisor_add_statement(adv, &up);
	assert_int_equal(advisor_plan(adv), 0);
	return adv;
}

static void test_stats_advisor_output_sql(void **state)
{
	(void)state;
	Advisor *adv = one_suggestion();
	char *out = capture(adv, ADV_FMT_SQL);
	size_t n;
	const AdvStatement *st = advisor_statements(adv, &n);
	char expect[4096];
	snprintf(expect, sizeof(expect),
		 "-- pgsift suggest: 2 index suggestions\n"
		 "\n"
		 "-- idx_posts_user_id on public.posts (100000 rows, 1000 pages)\n"
		 "--   serves 1 statement: 40 calls, total 80.00 ms, p95 3.50 ms\n"
		 "--   estimated saving: not validated (run with --validate)\n"
		 "--   writes: 12.5 writes/min, 2 write statements seen; key columns are updated: "
		 "no HOT updates for those\n"
		 "--   note: UPDATE statements change user_id: updates of it can no longer be HOT\n"
		 "--   %016llx: 40 calls, total 80.00 ms, p95 3.50 ms\n"
		 "--     SELECT * FROM posts WHERE user_id = $1\n"
		 "--     access path: equality (user_id)\n"
		 "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_posts_user_id ON public.posts USING "
		 "btree (user_id);\n"
		 "\n"
		 "-- idx_posts_id on public.posts (100000 rows, 1000 pages)\n"
		 "--   serves 1 statement: 2 calls, total 0.20 ms, p95 0.10 ms\n"
		 "--   estimated saving: not validated (run with --validate)\n"
		 "--   writes: 12.5 writes/min, 2 write statements seen; no key column is updated "
		 "(HOT updates unaffected)\n"
		 "--   %016llx: 2 calls, total 0.20 ms, p95 0.10 ms\n"
		 "--     UPDATE posts SET user_id = $1 WHERE id = $2\n"
		 "--     access path: equality (id)\n"
		 "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_posts_id ON public.posts USING btree "
		 "(id);\n",
		 (unsigned long long)st[0].fingerprint, (unsigned long long)st[1].fingerprint);
	assert_string_equal(out, expect);
	free(out);
	advisor_free(adv);
}

static void test_stats_advisor_output_json_csv_markdown(void **state)
{
	(void)state;
	Advisor *adv = one_suggestion();
	size_t n;
	const AdvStatement *st = advisor_statements(adv, &n);
	char *out = capture(adv, ADV_FMT_JSON);
	char expect[8192];
	snprintf(
		expect, sizeof(expect),
		"{\"suggestions\": [\n"
		"  {\"table\": \"public.posts\", \"schema\": \"public\", \"relation\": \"posts\", "
		"\"index_name\": \"idx_posts_user_id\", \"method\": \"btree\", \"columns\": "
		"[{\"column\": \"user_id\", \"desc\": false, \"nulls_first\": false, \"opclass\": "
		"null}], \"include\": [], \"where\": null, \"sql\": \"CREATE INDEX CONCURRENTLY IF "
		"NOT EXISTS idx_posts_user_id ON public.posts USING btree (user_id);\", \"calls\": "
		"40, \"total_ms\": 80.000, \"p95_ms\": 3.500, \"estimated_saving_pct\": null, "
		"\"required_saving_pct\": null, "
		"\"cost_before\": null, \"cost_after\": null, \"table_rows\": 100000, "
		"\"table_pages\": 1000, \"writes_per_min\": 12.50, \"write_statements\": 2, "
		"\"updated_key_columns\": [\"user_id\"], \"hot_blocked\": true, \"notes\": "
		"[\"UPDATE statements change user_id: updates of it can no longer be HOT\"], "
		"\"statements\": [{\"fingerprint\": \"%016llx\", \"query\": \"SELECT * FROM posts "
		"WHERE user_id = $1\", \"calls\": 40, \"total_ms\": 80.000, \"p95_ms\": 3.500, "
		"\"access_path\": \"equality (user_id)\"}]},\n"
		"  {\"table\": \"public.posts\", \"schema\": \"public\", \"relation\": \"posts\", "
		"\"index_name\": \"idx_posts_id\", \"method\": \"btree\", \"columns\": "
		"[{\"column\": "
		"\"id\", \"desc\": false, \"nulls_first\": false, \"opclass\": null}], "
		"\"include\": "
		"[], \"where\": null, \"sql\": \"CREATE INDEX CONCURRENTLY IF NOT EXISTS "
		"idx_posts_id ON public.posts USING btree (id);\", \"calls\": 2, \"total_ms\": "
		"0.200, "
		"\"p95_ms\": 0.100, \"estimated_saving_pct\": null, \"required_saving_pct\": null, "
		"\"cost_before\": null, "
		"\"cost_after\": null, \"table_rows\": 100000, \"table_pages\": 1000, "
		"\"writes_per_min\": 12.50, \"write_statements\": 2, \"updated_key_columns\": [], "
		"\"hot_blocked\": false, \"notes\": [], \"statements\": [{\"fingerprint\": "
		"\"%016llx\", \"query\": \"UPDATE posts SET user_id = $1 WHERE id = $2\", "
		"\"calls\": "
		"2, \"total_ms\": 0.200, \"p95_ms\": 0.100, \"access_path\": \"equality "
		"(id)\"}]}],\n"
		"\"rejected\": [],\n"
		"\"skipped\": []}\n",
		(unsigned long long)st[0].fingerprint, (unsigned long long)st[1].fingerprint);
	assert_string_equal(out, expect);
	free(out);

	out = capture(adv, ADV_FMT_CSV);
	snprintf(
		expect, sizeof(expect),
		"table,index_name,method,columns,include,where,sql,calls,total_ms,p95_ms,"
		"estimated_saving_pct,required_saving_pct,cost_before,cost_after,table_rows,"
		"writes_per_min,updated_key_columns,notes,statements\n"
		"public.posts,idx_posts_user_id,btree,(user_id),,,CREATE INDEX CONCURRENTLY IF NOT "
		"EXISTS idx_posts_user_id ON public.posts USING btree "
		"(user_id);,40,80.000,3.500,,,,,"
		"100000,12.50,user_id,UPDATE statements change user_id: updates of it can no "
		"longer be HOT,\"%016llx (40 calls, equality (user_id)): SELECT * FROM posts WHERE "
		"user_id = $1\"\n"
		"public.posts,idx_posts_id,btree,(id),,,CREATE INDEX CONCURRENTLY IF NOT EXISTS "
		"idx_posts_id ON public.posts USING btree (id);,2,0.200,0.100,,,,,100000,12.50,,,"
		"\"%016llx (2 calls, equality (id)): UPDATE posts SET user_id = $1 WHERE id = "
		"$2\"\n",
		(unsigned long long)st[0].fingerprint, (unsigned long long)st[1].fingerprint);
	assert_string_equal(out, expect);
	free(out);

	out = capture(adv, ADV_FMT_MARKDOWN);
	snprintf(expect, sizeof(expect),
		 "# pgsift index suggestions\n\n"
		 "| index | table | calls | total ms | p95 ms | saving | rows | writes/min | HOT "
		 "blocked | statements | notes |\n"
		 "|---|---|---|---|---|---|---|---|---|---|---|\n"
		 "| `CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_posts_user_id ON public.posts "
		 "USING "
		 "btree (user_id);` | public.posts | 40 | 80.000 | 3.500 |  | 100000 | 12.50 | yes "
		 "| "
		 "%016llx (40 calls, equality (user_id)): SELECT * FROM posts WHERE user_id = $1 | "
		 "UPDATE statements "
		 "change user_id: updates of it can no longer be HOT |\n"
		 "| `CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_posts_id ON public.posts USING "
		 "btree "
		 "(id);` | public.posts | 2 | 0.200 | 0.100 |  | 100000 | 12.50 | no | %016llx (2 "
		 "calls, equality (id)): UPDATE posts SET user_id = $1 WHERE id = $2 |  |\n",
		 (unsigned long long)st[0].fingerprint, (unsigned long long)st[1].fingerprint);
	assert_string_equal(out, expect);
	free(out);
	advisor_free(adv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_advisor_equality_most_selective_first),
		cmocka_unit_test(test_stats_advisor_equality_then_order_desc),
		cmocka_unit_test(test_stats_advisor_equality_then_one_range),
		cmocka_unit_test(test_stats_advisor_sort_only_reads_backwards),
		cmocka_unit_test(test_stats_advisor_merges_nested_equality_sets),
		cmocka_unit_test(test_stats_advisor_existing_index_serves),
		cmocka_unit_test(test_stats_advisor_partial_for_rare_value),
		cmocka_unit_test(test_stats_advisor_partial_for_soft_delete),
		cmocka_unit_test(test_stats_advisor_expression_and_like),
		cmocka_unit_test(test_stats_advisor_skips),
		cmocka_unit_test(test_stats_advisor_join_to_unique_key),
		cmocka_unit_test(test_stats_advisor_join_column_not_first),
		cmocka_unit_test(test_stats_advisor_optional_filters),
		cmocka_unit_test(test_stats_advisor_constant_filters_become_predicates),
		cmocka_unit_test(test_stats_advisor_weak_literals),
		cmocka_unit_test(test_stats_advisor_merge_hottest_first),
		cmocka_unit_test(test_stats_advisor_nesting),
		cmocka_unit_test(test_stats_advisor_semi_joins),
		cmocka_unit_test(test_stats_advisor_any_destroys_order),
		cmocka_unit_test(test_stats_advisor_unique_already_serves),
		cmocka_unit_test(test_stats_advisor_few_rows_by_existing_prefix),
		cmocka_unit_test(test_stats_advisor_search),
		cmocka_unit_test(test_stats_advisor_expression_bounds),
		cmocka_unit_test(test_stats_advisor_one_statement_one_digest),
		cmocka_unit_test(test_stats_advisor_negligible_is_a_setting),
		cmocka_unit_test(test_stats_advisor_quoting_and_partitioned),
		cmocka_unit_test(test_stats_advisor_output_sql),
		cmocka_unit_test(test_stats_advisor_output_json_csv_markdown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
