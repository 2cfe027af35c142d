/*
 * test_parser_corpus: proves over thousands of generated statements that the cache's
 * constants-free key never answers differently from libpg_query. Each template is expanded with
 * many constant variations (negative numbers, floats, strings of every kind, LIKE patterns, IN
 * lists of any length, ORDER BY ordinals, comments and blanks) and looked up in one long-lived
 * cache, where variations after the first hit the constants-free key. Every answer, hit or not,
 * is compared with pg_query_fingerprint of the same text and with a fresh cache's answer (a
 * libpg_query parse): fingerprint, kind, statement count and the exact shape, constant positions
 * included, must be identical.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parser/parser.h"
#include "parser/shape.h"

#define VARIANTS 40

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

/* Statement templates: {n} number, {i} small int, {f} int or decimal, {s} string literal,
 * {p} LIKE pattern, {l} IN-list items, {o} ordinal 1-3, {w} blank or comment. */
static const char *templates[] = {
	/* pgbench */
	"SELECT abalance FROM pgbench_accounts WHERE aid = {n};",
	"UPDATE pgbench_accounts SET abalance = abalance + {n} WHERE aid = {n};",
	"UPDATE pgbench_tellers SET tbalance = tbalance + {n} WHERE tid = {n};",
	"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ({n}, {n}, {n}, {n}, "
	"CURRENT_TIMESTAMP);",
	"select abalance from pgbench_accounts where aid = {n}",
	/* simple filters */
	"SELECT * FROM posts WHERE user_id = {n} ORDER BY created_at DESC LIMIT {i}",
	"SELECT * FROM posts WHERE user_id = {n}{w}AND created_at > {s} ORDER BY created_at DESC "
	"LIMIT {i} OFFSET {i}",
	"SELECT id, title FROM posts WHERE id IN ({l})",
	"SELECT id FROM posts WHERE id NOT IN ({l}) AND user_id = {n}",
	"SELECT * FROM users WHERE email LIKE {p}",
	"SELECT * FROM users WHERE email ILIKE {p} AND active = true",
	"SELECT * FROM users WHERE lower(email) = {s}",
	"SELECT * FROM users WHERE name NOT LIKE {p}",
	"SELECT * FROM events WHERE created_at BETWEEN {s} AND {s} ORDER BY {o}",
	"SELECT * FROM events WHERE kind = {s} AND payload->>'type' = {s}",
	"SELECT * FROM events WHERE payload->>{s} = {s}",
	"SELECT date_trunc({s}, created_at), count(*) FROM events GROUP BY {o}",
	"SELECT date_trunc('day', created_at) AS d, count(*) FROM events WHERE created_at >= now() "
	"- interval {s} GROUP BY 1 ORDER BY 1",
	"SELECT a, b, c FROM t WHERE x = {n} ORDER BY {o}, {o} DESC",
	"SELECT a, b, c FROM t WHERE x = {n} GROUP BY {o}, {o}",
	"SELECT a FROM t WHERE x = {n} ORDER BY {o} NULLS FIRST LIMIT {n}",
	"SELECT * FROM t WHERE a > {n} AND a < {n}",
	"SELECT * FROM t WHERE a >= {f} AND b <= {f}",
	"SELECT * FROM t WHERE a = -{i} OR b = {n}",
	"SELECT * FROM t WHERE a - {n} > {n}",
	"SELECT * FROM t WHERE a = {n}::int AND b = {s}::text",
	"SELECT * FROM t WHERE a = {n}::numeric(10,2)",
	"SELECT {s}::varchar({i})",
	"SELECT interval '1' second({f})",
	"SELECT CAST({s} AS timestamp({i}))",
	"SELECT * FROM t WHERE a = ANY(ARRAY[{l}])",
	"SELECT * FROM t WHERE a = ANY({s}::int[])",
	"SELECT * FROM t WHERE a = ANY($1::int[]) AND b = {n}",
	"SELECT * FROM t WHERE deleted_at IS NULL AND status = {s}",
	"SELECT * FROM t WHERE deleted_at IS NOT NULL AND status IN ({l}) LIMIT {n}",
	"SELECT * FROM t WHERE flag IS TRUE AND n = {n}",
	"SELECT * FROM t WHERE x[{i}] = {n}",
	"SELECT x[{i}:{i}] FROM t",
	"SELECT {n}, {s}, {f}",
	"SELECT {n} {w}+{w} {n}",
	"SELECT {n}-{n}",
	"SELECT {n} - -{n}",
	"SELECT * FROM t WHERE a = {n} -- trailing comment",
	"/* app:web */ SELECT * FROM t WHERE a = {n}",
	"SELECT * FROM t WHERE a = {n} /* nested /* comment */ still */ AND b = {s}",
	"SELECT * FROM t WHERE a @> {s} AND b <@ {s}",
	"SELECT * FROM t WHERE a @-{n} > 0",
	"SELECT * FROM t WHERE a <-{n}",
	"SELECT * FROM t WHERE a =-{n}",
	"SELECT * FROM t WHERE a !={n}",
	"SELECT * FROM t WHERE a <> {n} AND b != {s}",
	"SELECT * FROM t WHERE a ~ {s} AND b ~* {s}",
	"SELECT * FROM t WHERE a IS DISTINCT FROM {n}",
	"SELECT * FROM t WHERE (a, b) = ({n}, {s})",
	"SELECT * FROM t WHERE (a, b) IN (({n}, {n}), ({n}, {n}))",
	"SELECT * FROM t WHERE a IN ({l}) OR b IN ({l})",
	"SELECT * FROM t WHERE a IN ({n})",
	"SELECT * FROM t WHERE a IN (SELECT b FROM u WHERE c = {n})",
	"SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.t_id = t.id AND u.kind = {s})",
	"SELECT * FROM t TABLESAMPLE SYSTEM ({f}) REPEATABLE ({n})",
	"SELECT * FROM t FETCH FIRST {i} ROWS ONLY",
	"SELECT * FROM t ORDER BY a FETCH FIRST {i} ROWS WITH TIES",
	"SELECT * FROM t LIMIT ALL OFFSET {n}",
	"SELECT sum(a) OVER (ORDER BY b ROWS BETWEEN {i} PRECEDING AND CURRENT ROW) FROM t",
	"SELECT count(*) FILTER (WHERE a > {n}) FROM t",
	"SELECT CASE WHEN a > {n} THEN {s} ELSE {s} END FROM t",
	"SELECT coalesce(a, {n}) FROM t WHERE coalesce(b, {n}) = {n}",
	"SELECT * FROM t WHERE created_at > now() - interval {s}",
	"SELECT * FROM t WHERE created_at > now() - {s}::interval",
	"SELECT * FROM t WHERE d = DATE {s}",
	"SELECT * FROM t WHERE ts AT TIME ZONE {s} > {s}",
	"SELECT * FROM t WHERE name COLLATE \"C\" = {s}",
	"SELECT {s} || {s} FROM t",
	"SELECT 1.5e{i}, .5, {f}e-3",
	"SELECT * FROM t WHERE a = {n}; ",
	"SELECT * FROM t WHERE a = {n}; SELECT {n}",
	"SELECT extract(year FROM ts) FROM t WHERE a = {n}",
	"SELECT substring(a FROM {i} FOR {i}) FROM t",
	"SELECT position({s} IN a) FROM t",
	"SELECT * FROM generate_series({n}, {n}) g",
	"SELECT * FROM t WHERE a = $1 AND b = {n} AND c = $2",
	/* joins */
	"SELECT p.*, u.name FROM posts p JOIN users u ON u.id = p.user_id WHERE p.published = true "
	"AND u.id = {n} ORDER BY p.created_at DESC LIMIT {i}",
	"SELECT o.id FROM orders o LEFT JOIN order_items i USING (order_id) WHERE o.status = {s} "
	"AND i.sku LIKE {p}",
	"SELECT * FROM a JOIN b ON a.id = b.a_id JOIN c ON c.b_id = b.id WHERE c.x = {n} AND a.y "
	"IN ({l})",
	"SELECT * FROM a, b WHERE a.id = b.a_id AND b.v > {n}",
	"SELECT * FROM a CROSS JOIN LATERAL (SELECT * FROM b WHERE b.a_id = a.id ORDER BY b.ts "
	"DESC LIMIT {i}) l WHERE a.k = {s}",
	"SELECT * FROM (SELECT id, user_id FROM posts WHERE score > {n}) s JOIN users u ON u.id = "
	"s.user_id",
	"WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval {s}) SELECT "
	"customer_id, count(*) FROM recent GROUP BY customer_id HAVING count(*) > {n}",
	"WITH RECURSIVE r AS (SELECT id, parent_id FROM nodes WHERE id = {n} UNION ALL SELECT "
	"n.id, n.parent_id FROM nodes n JOIN r ON n.parent_id = r.id) SELECT * FROM r",
	"SELECT id FROM a WHERE x = {n} UNION SELECT id FROM b WHERE y = {s} ORDER BY 1 LIMIT {i}",
	"SELECT id FROM a WHERE x = {n} INTERSECT SELECT id FROM b WHERE y = {n}",
	"SELECT * FROM a WHERE NOT EXISTS (SELECT 1 FROM b WHERE b.a_id = a.id AND b.z = {n})",
	"SELECT (SELECT max(v) FROM b WHERE b.a_id = a.id) FROM a WHERE a.k = {n}",
	"SELECT * FROM a WHERE a.x = {n} FOR UPDATE SKIP LOCKED",
	"SELECT * FROM jobs WHERE queue = {s} AND run_at <= now() ORDER BY priority DESC, run_at "
	"LIMIT {i} FOR UPDATE SKIP LOCKED",
	/* ORM styles */
	"SELECT \"users\".* FROM \"users\" WHERE \"users\".\"email\" = {s} LIMIT {i}",
	"SELECT \"users\".\"id\" FROM \"users\" WHERE \"users\".\"id\" IN ({l}) ORDER BY "
	"\"users\".\"created_at\" ASC",
	"SELECT 1 AS one FROM \"users\" WHERE \"users\".\"email\" = {s} AND \"users\".\"id\" != "
	"{n} LIMIT {i}",
	"SELECT COUNT(*) FROM \"posts\" WHERE \"posts\".\"user_id\" = $1 AND \"posts\".\"state\" = "
	"{s}",
	"INSERT INTO \"users\" (\"email\", \"created_at\", \"updated_at\") VALUES ({s}, {s}, {s}) "
	"RETURNING \"id\"",
	"UPDATE \"users\" SET \"sign_in_count\" = {n}, \"updated_at\" = {s} WHERE \"users\".\"id\" "
	"= {n}",
	"DELETE FROM \"sessions\" WHERE \"sessions\".\"updated_at\" < {s}",
	"SELECT \"app_order\".\"id\", \"app_order\".\"total\" FROM \"app_order\" INNER JOIN "
	"\"app_customer\" ON (\"app_order\".\"customer_id\" = \"app_customer\".\"id\") WHERE "
	"(\"app_customer\".\"email\" = {s} AND \"app_order\".\"total\" > {f}) ORDER BY "
	"\"app_order\".\"created\" DESC LIMIT {i}",
	"SELECT \"app_item\".\"id\" FROM \"app_item\" WHERE (\"app_item\".\"deleted\" IS NULL AND "
	"UPPER(\"app_item\".\"name\"::text) LIKE UPPER({p}))",
	"SELECT users.id AS users_id, users.name AS users_name FROM users WHERE users.name = "
	"%(name_1)s",
	"SELECT users.id AS users_id FROM users WHERE users.id = {n} LIMIT {i} OFFSET {i}",
	"SELECT \"public\".\"User\".\"id\", \"public\".\"User\".\"email\" FROM \"public\".\"User\" "
	"WHERE (\"public\".\"User\".\"email\" = $1 AND 1=1) LIMIT $2 OFFSET $3",
	"SELECT \"public\".\"Post\".\"id\" FROM \"public\".\"Post\" WHERE "
	"\"public\".\"Post\".\"authorId\" IN ({l}) OFFSET {i}",
	"SELECT t0.id, t0.name FROM public.customers AS t0 WHERE (t0.region = {s}) ORDER BY "
	"t0.name",
	"SELECT * FROM myschema.accounts WHERE myschema.accounts.id = {n}",
	/* writes */
	"INSERT INTO t (a, b) VALUES ({n}, {s})",
	"INSERT INTO t (a, b) VALUES ({n}, {s}), ({n}, {s})",
	"INSERT INTO t (a, b) VALUES ({n}, {s}) ON CONFLICT (a) DO UPDATE SET b = excluded.b",
	"INSERT INTO t (a, b) VALUES ({n}, {s}) ON CONFLICT DO NOTHING",
	"INSERT INTO t SELECT * FROM u WHERE u.x = {n}",
	"UPDATE t SET a = {n} WHERE b = {s} RETURNING *",
	"UPDATE t SET a = a + {n} FROM u WHERE u.id = t.u_id AND u.k = {s}",
	"UPDATE t SET (a, b) = ({n}, {s}) WHERE id = {n}",
	"DELETE FROM t WHERE id = {n}",
	"DELETE FROM t USING u WHERE u.id = t.u_id AND u.flag = {s}",
	"WITH d AS (DELETE FROM q WHERE id = {n} RETURNING *) INSERT INTO q_archive SELECT * FROM "
	"d",
	"MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN UPDATE SET v = u.v WHEN NOT MATCHED "
	"THEN INSERT (id, v) VALUES (u.id, {n})",
	/* strings and literals of every kind */
	"SELECT * FROM t WHERE a = {s} AND b = {s}",
	"SELECT * FROM t WHERE a = $$x{n}$$",
	"SELECT * FROM t WHERE a = $tag$ it's {n} $tag$",
	"SELECT * FROM t WHERE a = B'101' AND b = X'1F' AND c = {n}",
	"SELECT * FROM t WHERE a = N'abc' AND b = {n}",
	"SELECT * FROM t WHERE a = E'x' AND b = {n}",
	"SELECT * FROM t WHERE a = U&'\\0041' AND b = {n}",
	"SELECT {s}\n{s}",
	"SELECT {s} {s}",
	"SELECT * FROM t WHERE a = {n}abc",
	"SELECT * FROM t WHERE a = 0x{i}",
	"SELECT * FROM t WHERE a = {n}.. ",
	"SELECT * FROM t WHERE a = {n}e",
	"SELECT * FROM t WHERE a = $1abc",
	"SELECT * FROM \"\" WHERE a = {n}",
	"SELECT * FROM t WHERE a = 'unterminated",
	"SELECT * FROM t /* unterminated",
	"SELECT * FROM t WHERE a = {n} AND",
	/* utility and others */
	"SET statement_timeout = {n}",
	"SET search_path = {s}",
	"SHOW work_mem",
	"BEGIN",
	"COMMIT",
	"EXPLAIN SELECT * FROM t WHERE a = {n}",
	"VACUUM t",
	"CREATE TABLE x{i} (a int DEFAULT {n})",
	"COPY t FROM STDIN",
	"VALUES ({n}, {s}), ({n}, {s})",
	"TABLE t",
	"NOTIFY ch, {s}",
};

static void add(char *buf, size_t cap, size_t *n, const char *s)
{
	size_t l = strlen(s);
	if (*n + l < cap) {
		memcpy(buf + *n, s, l);
		*n += l;
		buf[*n] = 0;
	}
}

static void gen_number(char *out, size_t cap)
{
	static const char *forms[] = {"%u",	    "-%u",	   "- %u",
				      "%u.5",	    "-%u.25",	   "%ue3",
				      "2147483648", "-2147483648", "99999999999999999999",
				      "%u",	    "%u",	   "0"};
	char f[64];
	snprintf(f, sizeof(f), "%s", forms[rnd(sizeof(forms) / sizeof(forms[0]))]);
	snprintf(out, cap, f, rnd(100000));
}

static void gen_string(char *out, size_t cap)
{
	static const char *forms[] = {"'abc%u'", "'it''s %u'",	 "''",	     "E'x%u'",
				      "$$v%u$$", "$q$%u$q$",	 "N'n%u'",   "'%%a%u'",
				      "'a%u%%'", "'_x%u'",	 "'\\%%%u'", "'QUEUED'",
				      "'%u'",	 "'2024-01-%u'", "'Ä%u'",    "'''%u'"};
	snprintf(out, cap, forms[rnd(sizeof(forms) / sizeof(forms[0]))], rnd(30) + 1);
}

static void gen_pattern(char *out, size_t cap)
{
	static const char *forms[] = {"'abc%u%%'", "'%%abc%u'", "'%%'", "'a%u_'",
				      "'_%u'",	   "'x%u'",	"''",	"'\\%%%u'",
				      "$$%%p%u$$", "$$q%u%%$$"};
	snprintf(out, cap, forms[rnd(sizeof(forms) / sizeof(forms[0]))], rnd(50));
}

static void expand(const char *tpl, char *buf, size_t cap)
{
	size_t n = 0;
	char tmp[128];
	buf[0] = 0;
	for (const char *p = tpl; *p;) {
		if (p[0] == '{' && p[1] && p[2] == '}') {
			char k = p[1];
			tmp[0] = 0;
			switch (k) {
			case 'n':
				gen_number(tmp, sizeof(tmp));
				break;
			case 'i':
				snprintf(tmp, sizeof(tmp), "%u", rnd(20) + 1);
				break;
			case 'f':
				if (rnd(3) == 0)
					snprintf(tmp, sizeof(tmp), "%u.%u", rnd(10), rnd(10));
				else
					snprintf(tmp, sizeof(tmp), "%u", rnd(10) + 1);
				break;
			case 's':
				gen_string(tmp, sizeof(tmp));
				break;
			case 'p':
				gen_pattern(tmp, sizeof(tmp));
				break;
			case 'o':
				snprintf(tmp, sizeof(tmp), "%u", rnd(3) + 1);
				break;
			case 'w': {
				static const char *ws[] = {" ",		"  ",	   "\n",
							   " /* c */ ", " -- c\n", "\t"};
				snprintf(tmp, sizeof(tmp), "%s", ws[rnd(6)]);
				break;
			}
			case 'l': {
				unsigned items = rnd(6) + 1;
				size_t m = 0;
				for (unsigned i = 0; i < items; i++) {
					char one[64];
					if (rnd(4) == 0)
						gen_string(one, sizeof(one));
					else
						gen_number(one, sizeof(one));
					if (i)
						add(tmp, sizeof(tmp), &m, rnd(2) ? ", " : ",");
					add(tmp, sizeof(tmp), &m, one);
				}
				break;
			}
			default:
				snprintf(tmp, sizeof(tmp), "{%c}", k);
				break;
			}
			add(buf, cap, &n, tmp);
			p += 3;
		} else {
			char one[2] = {*p, 0};
			add(buf, cap, &n, one);
			p++;
		}
	}
}

static void render(const ParsedStatement *ps, const char *text, size_t len, char *buf, size_t cap)
{
	shape_render(ps->shape, text, len, buf, cap);
}

static void test_parser_corpus_const_key_agrees_with_libpg_query(void **state)
{
	(void)state;
	ParserCache *warm = parser_cache_new(64u << 20, 1024);
	size_t total = 0, compared_fp = 0;
	char text[1024], a[4096], b[4096];
	assert_non_null(warm);

	for (size_t t = 0; t < sizeof(templates) / sizeof(templates[0]); t++) {
		for (int v = 0; v < VARIANTS; v++) {
			expand(templates[t], text, sizeof(text));
			size_t len = strlen(text);
			ParsedStatement w[4], f[4];
			size_t nw = parser_cache_lookup(warm, text, len, w, 4);
			ParserCache *fresh = parser_cache_new(1u << 20, 1024);
			assert_non_null(fresh);
			size_t nf = parser_cache_lookup(fresh, text, len, f, 4);
			total++;
			if (nw != nf)
				fail_msg("statement count differs for [%s]: %zu vs %zu", text, nw,
					 nf);
			for (size_t i = 0; i < nw && i < 4; i++) {
				if (w[i].fingerprint != f[i].fingerprint ||
				    w[i].kind != f[i].kind || w[i].read_only != f[i].read_only)
					fail_msg("[%s] #%zu: cached fp %016llx kind %s, parsed fp "
						 "%016llx kind %s",
						 text, i, (unsigned long long)w[i].fingerprint,
						 stmt_kind_str(w[i].kind),
						 (unsigned long long)f[i].fingerprint,
						 stmt_kind_str(f[i].kind));
				render(&w[i], text, len, a, sizeof(a));
				render(&f[i], text, len, b, sizeof(b));
				if (strcmp(a, b) != 0)
					fail_msg("[%s] #%zu shape differs:\n cached: %s\n parsed: "
						 "%s",
						 text, i, a, b);
				if ((w[i].shape == NULL) != (f[i].shape == NULL) ||
				    (w[i].shape &&
				     (w[i].shape->size != f[i].shape->size ||
				      memcmp(w[i].shape, f[i].shape, f[i].shape->size) != 0)))
					fail_msg("[%s] #%zu shape bytes differ", text, i);
				if (w[i].stmt_offset != f[i].stmt_offset ||
				    w[i].stmt_len != f[i].stmt_len)
					fail_msg("[%s] #%zu statement bounds differ", text, i);
			}
			if (nw == 1) {
				uint64_t fp;
				if (parser_fingerprint(text, len, &fp)) {
					compared_fp++;
					if (fp != w[0].fingerprint)
						fail_msg("[%s] fingerprint %016llx, "
							 "pg_query_fingerprint %016llx",
							 text, (unsigned long long)w[0].fingerprint,
							 (unsigned long long)fp);
				} else if (w[0].kind != SK_UNPARSED) {
					fail_msg("[%s] does not parse but got kind %s", text,
						 stmt_kind_str(w[0].kind));
				}
			}
			parser_cache_free(fresh);
		}
	}
	ParserCacheStats st;
	parser_cache_stats(warm, &st);
	print_message("corpus: %zu statements, %zu fingerprints compared, %llu exact hits, %llu "
		      "constants-free hits, %llu misses\n",
		      total, compared_fp, (unsigned long long)st.exact_hits,
		      (unsigned long long)st.const_hits, (unsigned long long)st.misses);
	assert_true(total >= 5000);
	/* the key must actually be exercised: most variations are constants-only changes */
	assert_true(st.const_hits * 2 > total);
	parser_cache_free(warm);
}

/* Pairs that differ only in a literal but must NOT share a cache answer. */
static void test_parser_corpus_shape_sensitive_literals_miss(void **state)
{
	(void)state;
	static const char *pairs[][2] = {
		{"SELECT a, b FROM t ORDER BY 1", "SELECT a, b FROM t ORDER BY 2"},
		{"SELECT a, b FROM t GROUP BY 1", "SELECT a, b FROM t GROUP BY 2"},
		{"SELECT * FROM t WHERE name LIKE 'abc%'",
		 "SELECT * FROM t WHERE name LIKE '%abc'"},
		{"SELECT * FROM t WHERE name LIKE 'a%'", "SELECT * FROM t WHERE name LIKE '_a'"},
		{"SELECT * FROM t WHERE date_trunc('day', ts) = $1",
		 "SELECT * FROM t WHERE date_trunc('hour', ts) = $1"},
		{"SELECT * FROM t WHERE data->>'a' = 'x'",
		 "SELECT * FROM t WHERE data->>'b' = 'x'"},
		{"SELECT interval '1' second(3)", "SELECT interval '1' second(3.5)"},
		{"SELECT * FROM t WHERE a = 5", "SELECT * FROM t WHERE a = 5abc"},
		{"SELECT 'a'\n'b'", "SELECT 'a' 'b'"},
		{"SELECT * FROM t WHERE a = -5::int", "SELECT * FROM t WHERE a = 5::int"},
	};
	char a[2048], b[2048];
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		ParserCache *c = parser_cache_new(1u << 20, 256);
		ParsedStatement p0, p1;
		ParserCacheStats st;
		parser_cache_lookup(c, pairs[i][0], strlen(pairs[i][0]), &p0, 1);
		parser_cache_lookup(c, pairs[i][1], strlen(pairs[i][1]), &p1, 1);
		parser_cache_stats(c, &st);
		shape_render(p1.shape, pairs[i][1], strlen(pairs[i][1]), a, sizeof(a));
		ParserCache *f = parser_cache_new(1u << 20, 256);
		ParsedStatement q;
		parser_cache_lookup(f, pairs[i][1], strlen(pairs[i][1]), &q, 1);
		shape_render(q.shape, pairs[i][1], strlen(pairs[i][1]), b, sizeof(b));
		if (st.const_hits != 0)
			fail_msg("[%s] then [%s]: constants-free hit", pairs[i][0], pairs[i][1]);
		assert_string_equal(a, b);
		assert_int_equal(p1.fingerprint, q.fingerprint);
		parser_cache_free(c);
		parser_cache_free(f);
	}
}

/* Variations that must share the entry (the point of the key). */
static void test_parser_corpus_constants_only_changes_hit(void **state)
{
	(void)state;
	static const char *texts[] = {
		"SELECT * FROM t WHERE a = 5 AND b IN (1, 2, 3) AND c LIKE 'ab%'",
		"SELECT * FROM t WHERE a = -7 AND b IN (4) AND c LIKE 'zz%'",
		"select * from t where a = 12 and b in ('x', 'y', 'z', 'w') and c like 'q%'",
		"SELECT  *  FROM t\nWHERE a = - 3 AND b IN (9,8) AND c LIKE 'Ab%' -- x",
	};
	ParserCache *c = parser_cache_new(1u << 20, 256);
	ParserCacheStats st;
	char out[512];
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		ParsedStatement p;
		parser_cache_lookup(c, texts[i], strlen(texts[i]), &p, 1);
		shape_render(p.shape, texts[i], strlen(texts[i]), out, sizeof(out));
		if (i == 3)
			assert_string_equal(out,
					    "t: eq(a=- 3, b=(9,8)|any) prefix(c='Ab%') select(*)");
	}
	parser_cache_stats(c, &st);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.const_hits, 3);
	parser_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parser_corpus_const_key_agrees_with_libpg_query),
		cmocka_unit_test(test_parser_corpus_shape_sensitive_literals_miss),
		cmocka_unit_test(test_parser_corpus_constants_only_changes_hit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
