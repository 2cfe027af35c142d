/*
 * test_parser: the parser module's behaviour as its callers rely on it — statement kinds,
 * libpg_query 15 fingerprints (checked against values published in libpg_query's own test
 * suite), normalized text, multi-statement texts, the exact query shape of more than a hundred
 * statements (every clause the index advisor reads, in the styles ORMs emit), constant positions
 * after a constants-free cache hit, LRU eviction, session commands and the hot-path keyword check.
 *
 * Shapes are compared as shape_render() text, constants shown as the bytes at their recorded
 * position, so a wrong position fails the comparison too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "parser/parser.h"
#include "parser/shape.h"

typedef struct ShapeCase {
	const char *sql;
	StmtKind kind;
	bool read_only;
	uint64_t fingerprint; /* pg_query_fingerprint, libpg_query 15-4.0.0 */
	const char *shape;    /* shape_render() with the text */
} ShapeCase;

static const ShapeCase cases[] = {
	{"SELECT * FROM posts WHERE user_id = 42 ORDER BY created_at DESC LIMIT 20", SK_SELECT,
	 true, 0x9c840ecc37b6d851ull,
	 "posts: eq(user_id=42) order(created_at DESC) select(*) limit"},
	{"SELECT id, title FROM posts WHERE user_id = $1 AND published_at IS NOT NULL ORDER BY "
	 "published_at DESC NULLS LAST LIMIT 10 OFFSET 20",
	 SK_SELECT, true, 0xc0f99198f33bdef1ull,
	 "posts: eq(user_id=$1) notnull(published_at) order(published_at DESC NULLS LAST) "
	 "select(id, title) limit"},
	{"SELECT * FROM users WHERE deleted_at IS NULL AND email = 'a@b.c'", SK_SELECT, true,
	 0xdcd37ae83928a81aull, "users: eq(email='a@b.c') isnull(deleted_at) select(*)"},
	{"SELECT * FROM jobs WHERE status IN ('QUEUED','PENDING') ORDER BY priority DESC, id",
	 SK_SELECT, true, 0x08d6393b557a3e8full,
	 "jobs: eq(status=('QUEUED','PENDING')|any) order(priority DESC, id) select(*)"},
	{"SELECT * FROM users WHERE is_active = true AND role = 'admin'", SK_SELECT, true,
	 0xa5079b8bafd8c837ull, "users: eq(is_active=true, role='admin') select(*)"},
	{"SELECT * FROM users WHERE is_active", SK_SELECT, true, 0x041441f21dc21dc8ull,
	 "users: eq(is_active|bare) select(*)"},
	{"SELECT * FROM users WHERE NOT is_active", SK_SELECT, true, 0xfdf366e6a176b566ull,
	 "users: eq(is_active|not) select(*)"},
	{"SELECT * FROM orders WHERE created_at >= '2024-01-01' AND created_at < '2024-02-01'",
	 SK_SELECT, true, 0x78f7e56e40c051d3ull,
	 "orders: range(created_at='2024-01-01', created_at='2024-02-01') select(*)"},
	{"SELECT * FROM orders WHERE total BETWEEN 10 AND 100", SK_SELECT, true,
	 0xf796ccc54cccdb17ull, "orders: range(total=(10 AND 100)) select(*)"},
	{"SELECT * FROM users WHERE email LIKE 'john%'", SK_SELECT, true, 0x2de9f13eb1b97b36ull,
	 "users: prefix(email='john%') select(*)"},
	{"SELECT * FROM users WHERE email LIKE '%@example.com'", SK_SELECT, true,
	 0x2de9f13eb1b97b36ull, "users: like(email='%@example.com') select(*)"},
	{"SELECT * FROM users WHERE email ILIKE 'john%'", SK_SELECT, true, 0xe26f4911142b3a7cull,
	 "users: iprefix(email='john%') select(*)"},
	{"SELECT * FROM users WHERE name ILIKE '%son'", SK_SELECT, true, 0xa0fe91df590b923full,
	 "users: ilike(name='%son') select(*)"},
	{"SELECT * FROM users WHERE email NOT LIKE 'x%'", SK_SELECT, true, 0x8259622fe49deeb9ull,
	 "users: select(*)"},
	{"SELECT * FROM users WHERE lower(email) = lower($1)", SK_SELECT, true,
	 0x8414c9b63db0f060ull, "users: eq(lower(email)) select(*)"},
	{"SELECT * FROM events WHERE date(created_at) = '2024-03-01'", SK_SELECT, true,
	 0xdbd9687c0f5a89aeull, "events: eq(date(created_at)='2024-03-01') select(*)"},
	{"SELECT * FROM events WHERE created_at::date = $1", SK_SELECT, true, 0x7fef8fa1edc1658bull,
	 "events: eq(created_at::date=$1) select(*)"},
	{"SELECT * FROM events WHERE payload->>'kind' = 'click'", SK_SELECT, true,
	 0x60d21ce9688efe6cull, "events: eq((payload ->> 'kind')='click') select(*)"},
	{"SELECT * FROM items WHERE id = ANY($1::int[])", SK_SELECT, true, 0xa9016ab64423ac2aull,
	 "items: eq(id=$1|any) select(*)"},
	{"SELECT * FROM items WHERE id = ANY(ARRAY[1, 2, 3])", SK_SELECT, true,
	 0x500d6a3064258ec5ull, "items: eq(id=(1, 2, 3)|any) select(*)"},
	{"SELECT * FROM items WHERE id = ANY('{1,2,3}')", SK_SELECT, true, 0xa9016ab64423ac2aull,
	 "items: eq(id='{1,2,3}'|any) select(*)"},
	{"SELECT * FROM items WHERE a = 1 OR b = 2", SK_SELECT, true, 0xe3843a3591f5266eull,
	 "items: eq(a=1|or, b=2|or) select(*)"},
	{"SELECT * FROM items WHERE (a = 1 OR a = 2) AND c > 5", SK_SELECT, true,
	 0xc3f68d0fc6607b2full, "items: eq(a=1|or, a=2|or) range(c=5) select(*)"},
	{"SELECT * FROM items WHERE a <> 1 AND b != 2", SK_SELECT, true, 0x3acce55b8e42ca87ull,
	 "items: select(*)"},
	{"SELECT * FROM items WHERE 5 < a", SK_SELECT, true, 0xed08db655e2d7239ull,
	 "items: range(a=5) select(*)"},
	{"SELECT * FROM items WHERE a IS NOT DISTINCT FROM $1", SK_SELECT, true,
	 0xab07976d1bbbea8eull, "items: eq(a=$1) select(*)"},
	{"SELECT * FROM items WHERE flag IS TRUE", SK_SELECT, true, 0x5023ee14ca7dcc06ull,
	 "items: eq(flag|istrue) select(*)"},
	{"SELECT * FROM t WHERE x = -5", SK_SELECT, true, 0x523e1fe3a3cb6111ull,
	 "t: eq(x=-5) select(*)"},
	{"SELECT * FROM t WHERE x = - 5", SK_SELECT, true, 0x523e1fe3a3cb6111ull,
	 "t: eq(x=- 5) select(*)"},
	{"SELECT count(*) FROM posts GROUP BY user_id", SK_SELECT, true, 0xb46e8dcafc1db4e7ull,
	 "posts: group(user_id)"},
	{"SELECT user_id, count(*) FROM posts GROUP BY 1 ORDER BY 2 DESC", SK_SELECT, true,
	 0xf3da44cec4eb3d0aull, "posts: group(user_id) select(user_id)"},
	{"SELECT user_id, count(*) AS n FROM posts GROUP BY user_id ORDER BY n DESC LIMIT 5",
	 SK_SELECT, true, 0xf8a19c7e3364e8acull, "posts: group(user_id) select(user_id)"},
	{"SELECT a, b FROM t ORDER BY 1", SK_SELECT, true, 0x44a9fd894830733dull,
	 "t: order(a) select(a, b)"},
	{"SELECT a, b FROM t ORDER BY 2", SK_SELECT, true, 0x44a9fd894830733dull,
	 "t: order(b) select(a, b)"},
	{"SELECT a AS x FROM t ORDER BY x", SK_SELECT, true, 0xe0387ba671f12df5ull,
	 "t: order(a) select(a)"},
	{"SELECT * FROM t ORDER BY a ASC NULLS FIRST, b DESC", SK_SELECT, true,
	 0x82e2632757e5c68eull, "t: order(a NULLS FIRST, b DESC) select(*)"},
	{"SELECT * FROM t ORDER BY lower(name) LIMIT 1", SK_SELECT, true, 0xa7644bc76f39b107ull,
	 "t: order(lower(name)) select(*) limit"},
	{"SELECT * FROM t ORDER BY a FETCH FIRST 5 ROWS ONLY", SK_SELECT, true,
	 0xf643ec58b9042b89ull, "t: order(a) select(*) limit"},
	{"SELECT * FROM t ORDER BY a LIMIT ALL", SK_SELECT, true, 0xf643ec58b9042b89ull,
	 "t: order(a) select(*)"},
	{"SELECT date_trunc('day', created_at) AS d, count(*) FROM events GROUP BY 1", SK_SELECT,
	 true, 0x75437ae3f23091a6ull,
	 "events: group(date_trunc('day', created_at)) select(created_at)"},
	{"SELECT p.id, u.name FROM posts p JOIN users u ON u.id = p.user_id WHERE u.name = 'bob'",
	 SK_SELECT, true, 0xf4491144904159b0ull,
	 "posts AS p: join(user_id=users.id) select(id); users AS u: eq(name='bob') "
	 "join(id=posts.user_id) select(name)"},
	{"SELECT * FROM posts p LEFT JOIN comments c ON c.post_id = p.id AND c.approved = true "
	 "WHERE p.id = 7",
	 SK_SELECT, true, 0xd8eb9fc7401e896bull,
	 "posts AS p: eq(id=7) join(id=comments.post_id) select(*); comments AS c: "
	 "eq(approved=true) join(post_id=posts.id) select(*)"},
	{"SELECT * FROM orders o JOIN order_items i USING (order_id) WHERE o.status = 'paid'",
	 SK_SELECT, true, 0x290329dbc0afeae1ull,
	 "orders AS o: eq(status='paid') join(order_id=order_items.order_id) select(*); "
	 "order_items AS i: join(order_id=orders.order_id) select(*)"},
	{"SELECT * FROM a NATURAL JOIN b", SK_SELECT, true, 0x6aee500f3b730a08ull,
	 "a: select(*); b: select(*)"},
	{"SELECT * FROM a, b WHERE a.id = b.a_id AND b.v > 3", SK_SELECT, true,
	 0x273040fb404d6da5ull,
	 "a: join(id=b.a_id) select(*); b: range(v=3) join(a_id=a.id) select(*)"},
	{"SELECT * FROM a JOIN b ON a.id = b.a_id JOIN c ON c.b_id = b.id WHERE c.x = 1", SK_SELECT,
	 true, 0xf710804dd02a6645ull,
	 "a: join(id=b.a_id) select(*); b: join(a_id=a.id, id=c.b_id) select(*); c: eq(x=1) "
	 "join(b_id=b.id) select(*)"},
	{"SELECT * FROM nodes n1 JOIN nodes n2 ON n2.parent_id = n1.id WHERE n1.id = 1", SK_SELECT,
	 true, 0xa55dad98cec19d5dull,
	 "nodes AS n1: eq(id=1) join(id=nodes.parent_id) select(*); nodes AS n2: "
	 "join(parent_id=nodes.id) select(*)"},
	{"SELECT name FROM users u, orders o WHERE u.id = o.user_id AND status = 'paid'", SK_SELECT,
	 true, 0x8825e543f5f60e14ull,
	 "users AS u: join(id=orders.user_id); orders AS o: join(user_id=users.id); "
	 "?(users,orders): eq(status='paid') select(name)"},
	{"SELECT id FROM users WHERE id IN (SELECT user_id FROM orders WHERE total > 100)",
	 SK_SELECT, true, 0x7e148194e37a3ccdull,
	 "users: join(id=orders.user_id) select(id); orders: range(total=100) "
	 "join(user_id=users.id|semi) select(user_id)"},
	{"SELECT * FROM posts p WHERE EXISTS (SELECT 1 FROM comments c WHERE c.post_id = p.id AND "
	 "c.spam = false)",
	 SK_SELECT, true, 0x9afdd67590cf72b5ull,
	 "posts AS p: join(id=comments.post_id) select(*); comments AS c: eq(spam=false) "
	 "join(post_id=posts.id|semi)"},
	{"SELECT id FROM orders WHERE attrs @> '{\"gift\": true}' AND tags && $1 AND "
	 "to_tsvector('english', body) @@ $2",
	 SK_SELECT, true, 0x03a594386cecc163ull,
	 "orders: search(attrs, tags, to_tsvector('english', body)) select(id)"},
	{"SELECT * FROM posts p WHERE NOT EXISTS (SELECT 1 FROM likes l WHERE l.post_id = p.id)",
	 SK_SELECT, true, 0xac256cbc5a2a4878ull,
	 "posts AS p: join(id=likes.post_id) select(*); likes AS l: join(post_id=posts.id|semi)"},
	{"SELECT (SELECT max(v) FROM b WHERE b.a_id = a.id) FROM a WHERE a.k = 1", SK_SELECT, true,
	 0x45d28d533fc14f16ull, "a: eq(k=1) join(id=b.a_id); b: join(a_id=a.id|per-row) select(v)"},
	{"SELECT * FROM (SELECT id, user_id FROM posts WHERE score > 10) s JOIN users u ON u.id = "
	 "s.user_id",
	 SK_SELECT, true, 0xa873a9591920ec1dull,
	 "posts: range(score=10) join(user_id=users.id) select(id, user_id); users AS u: "
	 "join(id=posts.user_id) select(*)"},
	{"SELECT s.user_id FROM (SELECT * FROM posts) s WHERE s.score > 3", SK_SELECT, true,
	 0xb6320200691f0c88ull, "posts: range(score=3) select(*, user_id)"},
	{"WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '7 days') "
	 "SELECT customer_id, count(*) FROM recent WHERE recent.total > 5 GROUP BY customer_id",
	 SK_SELECT, true, 0x622c946398480ac9ull,
	 "orders: range(created_at, total=5) group(customer_id) select(*, customer_id)"},
	{"WITH RECURSIVE r AS (SELECT id, parent_id FROM nodes WHERE id = 1 UNION ALL SELECT n.id, "
	 "n.parent_id FROM nodes n JOIN r ON n.parent_id = r.id) SELECT * FROM r",
	 SK_SELECT, true, 0x5e589e919e65345cull,
	 "nodes: eq(id=1) join(id=nodes.parent_id) select(id, parent_id); nodes AS n: "
	 "join(parent_id=nodes.id) select(id, parent_id)"},
	{"SELECT id FROM a WHERE x = 1 UNION SELECT id FROM b WHERE y = 2", SK_SELECT, true,
	 0xf31d817e2ac336ecull, "a: eq(x=1) select(id); b: eq(y=2) select(id)"},
	{"SELECT * FROM a CROSS JOIN LATERAL (SELECT * FROM b WHERE b.a_id = a.id ORDER BY b.ts "
	 "DESC LIMIT 3) l WHERE a.k = 'v'",
	 SK_SELECT, true, 0x30bf63c13340cedfull,
	 "a: eq(k='v') join(id=b.a_id) select(*); b: join(a_id=a.id|per-row) order(ts DESC) "
	 "select(*) "
	 "limit"},
	{"SELECT * FROM jobs WHERE queue = 'default' AND run_at <= now() ORDER BY priority DESC, "
	 "run_at LIMIT 1 FOR UPDATE SKIP LOCKED",
	 SK_SELECT, false, 0x41a042bbbcb1eecfull,
	 "jobs: eq(queue='default') range(run_at) order(priority DESC, run_at) select(*) limit"},
	{"SELECT * FROM myschema.accounts WHERE myschema.accounts.id = 5", SK_SELECT, true,
	 0x1ccbea24611ffbf6ull, "myschema.accounts: eq(id=5) select(*)"},
	{"SELECT * FROM public.accounts a WHERE a.id = 5", SK_SELECT, true, 0x495da4a5f7be5a83ull,
	 "public.accounts AS a: eq(id=5) select(*)"},
	{"SELECT \"users\".* FROM \"users\" WHERE \"users\".\"email\" = 'x' LIMIT 1", SK_SELECT,
	 true, 0xf93b803d953b51d9ull, "users: eq(email='x') select(*)"},
	{"SELECT \"Users\".\"Id\" FROM \"Users\" WHERE \"Users\".\"Email\" = $1", SK_SELECT, true,
	 0x1ec1518a78d49d75ull, "Users: eq(Email=$1) select(Id)"},
	{"SELECT 1 AS one FROM \"users\" WHERE \"users\".\"email\" = 'x' AND \"users\".\"id\" != 3 "
	 "LIMIT 1",
	 SK_SELECT, true, 0xe48dd423ef8d9f59ull, "users: eq(email='x')"},
	{"SELECT \"app_order\".\"id\" FROM \"app_order\" INNER JOIN \"app_customer\" ON "
	 "(\"app_order\".\"customer_id\" = \"app_customer\".\"id\") WHERE "
	 "(\"app_customer\".\"email\" = 'a' AND \"app_order\".\"total\" > 10.5) ORDER BY "
	 "\"app_order\".\"created\" DESC LIMIT 21",
	 SK_SELECT, true, 0xb17b1f40b468fe30ull,
	 "app_order: range(total=10.5) join(customer_id=app_customer.id) order(created DESC) "
	 "select(id) limit; app_customer: eq(email='a') join(id=app_order.customer_id)"},
	{"SELECT \"app_item\".\"id\" FROM \"app_item\" WHERE (\"app_item\".\"deleted\" IS NULL AND "
	 "UPPER(\"app_item\".\"name\"::text) LIKE UPPER('%abc%'))",
	 SK_SELECT, true, 0xb58546775c24dd72ull,
	 "app_item: isnull(deleted) like(upper(name::text)) select(id)"},
	{"SELECT users.id AS users_id, users.name AS users_name FROM users WHERE users.name = 'ed' "
	 "LIMIT 1 OFFSET 0",
	 SK_SELECT, true, 0x08692a0163e766a4ull, "users: eq(name='ed') select(id, name)"},
	{"SELECT \"public\".\"User\".\"id\", \"public\".\"User\".\"email\" FROM "
	 "\"public\".\"User\" WHERE (\"public\".\"User\".\"email\" = $1 AND 1=1) LIMIT $2 OFFSET "
	 "$3",
	 SK_SELECT, true, 0x0eaa0c6df76fd9aaull, "public.User: eq(email=$1) select(id, email)"},
	{"SELECT \"public\".\"Post\".\"id\" FROM \"public\".\"Post\" WHERE "
	 "\"public\".\"Post\".\"authorId\" IN ($1,$2,$3) OFFSET $4",
	 SK_SELECT, true, 0x3ed324bfeb391109ull,
	 "public.Post: eq(authorId=($1,$2,$3)|any) select(id)"},
	{"SELECT t0.id, t0.name FROM public.customers AS t0 WHERE (t0.region = 'EU') ORDER BY "
	 "t0.name",
	 SK_SELECT, true, 0x4184efd1f6a8f5b2ull,
	 "public.customers AS t0: eq(region='EU') order(name) select(id, name)"},
	{"/* controller:posts,action:index */ SELECT * FROM posts WHERE id = 1", SK_SELECT, true,
	 0x00c364487fc689a3ull, "posts: eq(id=1) select(*)"},
	{"SELECT * FROM posts WHERE id = 1 -- trailing", SK_SELECT, true, 0x00c364487fc689a3ull,
	 "posts: eq(id=1) select(*)"},
	{"SELECT name FROM users u JOIN orders o ON o.user_id = u.id WHERE email = 'x'", SK_SELECT,
	 true, 0xd77612701edc77ceull,
	 "users AS u: join(id=orders.user_id); orders AS o: join(user_id=users.id); "
	 "?(users,orders): eq(email='x') select(name)"},
	{"INSERT INTO users (email, name) VALUES ('a@b.c', 'A') RETURNING id", SK_INSERT, false,
	 0x18743379c5145023ull, "users: insert set(email, name) select(id)"},
	{"INSERT INTO users (email, name) VALUES ($1, $2) ON CONFLICT (email) DO UPDATE SET name = "
	 "excluded.name",
	 SK_INSERT, false, 0x47cb4ebbb0731cf2ull, "users: insert set(email, name)"},
	{"INSERT INTO archive SELECT * FROM events WHERE created_at < '2020-01-01'", SK_INSERT,
	 false, 0xadea64a2ca11cd8full,
	 "archive: insert; events: range(created_at='2020-01-01') select(*)"},
	{"INSERT INTO t VALUES (1, 2)", SK_INSERT, false, 0x7e11840ee96d5416ull, "t: insert"},
	{"UPDATE accounts SET balance = balance - 100, updated_at = now() WHERE id = 7", SK_UPDATE,
	 false, 0xbe3a87eb950db2a7ull, "accounts: update set(balance, updated_at) eq(id=7)"},
	{"UPDATE \"users\" SET \"sign_in_count\" = 3 WHERE \"users\".\"id\" = 9 RETURNING *",
	 SK_UPDATE, false, 0xb51da46f6db8510aull,
	 "users: update set(sign_in_count) eq(id=9) select(*)"},
	{"UPDATE t SET a = u.a FROM u WHERE u.id = t.u_id AND u.kind = 'x'", SK_UPDATE, false,
	 0x9ba1fedd457f6a81ull,
	 "t: update set(a) join(u_id=u.id); u: eq(kind='x') join(id=t.u_id)"},
	{"DELETE FROM sessions WHERE updated_at < now() - interval '30 days'", SK_DELETE, false,
	 0x4aed69ee3718eb7dull, "sessions: delete range(updated_at)"},
	{"DELETE FROM t USING u WHERE u.id = t.u_id AND u.flag = true", SK_DELETE, false,
	 0xe6cb18993cff09c6ull, "t: delete join(u_id=u.id); u: eq(flag=true) join(id=t.u_id)"},
	{"WITH d AS (DELETE FROM q WHERE id = 5 RETURNING *) INSERT INTO q_archive SELECT * FROM d",
	 SK_INSERT, false, 0x1f1f81b43cbdb5e2ull,
	 "q: delete eq(id=5) select(*); q_archive: insert"},
	{"MERGE INTO stock s USING deliveries d ON s.item_id = d.item_id WHEN MATCHED THEN UPDATE "
	 "SET qty = s.qty + d.qty WHEN NOT MATCHED THEN INSERT (item_id, qty) VALUES (d.item_id, "
	 "d.qty)",
	 SK_MERGE, false, 0x2be66cdd46e23979ull,
	 "stock AS s: merge set(qty, item_id) join(item_id=deliveries.item_id); deliveries AS d: "
	 "join(item_id=stock.item_id)"},
	{"SELECT * FROM t WHERE a = 1 FOR UPDATE", SK_SELECT, false, 0x7543c4615094872eull,
	 "t: eq(a=1) select(*)"},
	{"SELECT 1", SK_SELECT, true, 0x50fde20626009abaull, ""},
	{"SELECT now()", SK_SELECT, true, 0x77d30c21e4d01ffbull, ""},
	{"VALUES (1, 'a')", SK_SELECT, true, 0xc4a415ece0b3cef5ull, ""},
	{"TABLE t", SK_SELECT, true, 0xb58f9b7bcb0bbfa5ull, "t: select(*)"},
	{"SELECT * INTO new_t FROM t", SK_SELECT, false, 0x4b2c1c3559dac459ull, "t: select(*)"},
	{"EXPLAIN SELECT * FROM t", SK_UTILITY, true, 0xf4c2cc4514b7e5f0ull, "-"},
	{"EXPLAIN ANALYZE SELECT * FROM t", SK_UTILITY, false, 0xce01f3043e173b1dull, "-"},
	{"SHOW work_mem", SK_SHOW, true, 0xe1abe1f1e1a8f564ull, "-"},
	{"SET statement_timeout = 1000", SK_SET, false, 0xc943c893daafa8b8ull, "-"},
	{"RESET ALL", SK_RESET, false, 0x0e57eee906669488ull, "-"},
	{"BEGIN", SK_TRANSACTION, false, 0xb16b431979fc3e05ull, "-"},
	{"COMMIT", SK_TRANSACTION, false, 0x7bbcde9cfab6c79cull, "-"},
	{"CREATE INDEX CONCURRENTLY i ON t (a)", SK_DDL, false, 0xd7f9906c9f8aeaedull, "-"},
	{"CREATE TABLE x (a int)", SK_DDL, false, 0xee2dfaf63cd97ceaull, "-"},
	{"ALTER TABLE x ADD COLUMN b int", SK_DDL, false, 0x5262a3e1dd32c0e1ull, "-"},
	{"DROP TABLE x", SK_DDL, false, 0xfeccfe1dc7d85cd3ull, "-"},
	{"TRUNCATE t", SK_DDL, false, 0xccf747be8e4b358bull, "-"},
	{"VACUUM ANALYZE t", SK_UTILITY, false, 0xe89279715fc612beull, "-"},
	{"COPY t FROM STDIN", SK_COPY, false, 0x328d6bc85e74ee5dull, "-"},
	{"PREPARE p AS SELECT 1", SK_PREPARE, false, 0x080de42af0124f43ull, "-"},
	{"EXECUTE p", SK_EXECUTE, false, 0x44ef1d2beabd53e8ull, "-"},
	{"DEALLOCATE p", SK_DEALLOCATE, false, 0xd8a65a814fbc5f95ull, "-"},
	{"DISCARD ALL", SK_DISCARD, false, 0x164e0915432a0ff9ull, "-"},
	{"LISTEN ch", SK_LISTEN, false, 0x6e5bf26e5fc272a5ull, "-"},
	{"UNLISTEN ch", SK_UNLISTEN, false, 0x9348a760200458ffull, "-"},
	{"NOTIFY ch", SK_NOTIFY, false, 0x92f42ef7b6fa8f62ull, "-"},
	{"DO $$ BEGIN END $$", SK_UTILITY, false, 0xf936eab75b8c1b90ull, "-"},
	{"CALL proc(1)", SK_UTILITY, false, 0xcfd458ccc8c9856dull, "-"},
	{"GRANT SELECT ON t TO u", SK_DDL, false, 0x48df5818d838cba8ull, "-"},
};

static ParsedStatement lookup1(ParserCache *c, const char *sql)
{
	ParsedStatement ps;
	memset(&ps, 0, sizeof(ps));
	size_t n = parser_cache_lookup(c, sql, strlen(sql), &ps, 1);
	assert_true(n >= 1);
	return ps;
}

static void render(const ParsedStatement *ps, const char *sql, char *buf, size_t cap)
{
	size_t need = shape_render(ps->shape, sql, strlen(sql), buf, cap);
	assert_true(need < cap);
}

static void test_parser_shapes(void **state)
{
	(void)state;
	ParserCache *c = parser_cache_new(8u << 20, 512);
	char buf[2048];
	int bad = 0;
	assert_non_null(c);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ParsedStatement ps = lookup1(c, cases[i].sql);
		render(&ps, cases[i].sql, buf, sizeof(buf));
		if (ps.kind != cases[i].kind || ps.read_only != cases[i].read_only ||
		    ps.fingerprint != cases[i].fingerprint || strcmp(buf, cases[i].shape) != 0) {
			print_error("[%s]\n  want %s ro=%d %016llx {%s}\n  got  %s ro=%d %016llx "
				    "{%s}\n",
				    cases[i].sql, stmt_kind_str(cases[i].kind), cases[i].read_only,
				    (unsigned long long)cases[i].fingerprint, cases[i].shape,
				    stmt_kind_str(ps.kind), ps.read_only,
				    (unsigned long long)ps.fingerprint, buf);
			bad++;
		}
	}
	assert_true(sizeof(cases) / sizeof(cases[0]) >= 80);
	assert_int_equal(bad, 0);
	parser_cache_free(c);
}

/* Values published in libpg_query's test/fingerprint_tests.c. */
static void test_parser_published_fingerprints(void **state)
{
	(void)state;
	static const struct {
		const char *sql;
		uint64_t fp;
	} known[] = {
		{"SELECT 1", 0x50fde20626009abaull},
		{"SELECT 2", 0x50fde20626009abaull},
		{"SELECT $1", 0x50fde20626009abaull},
		{"SELECT * FROM x WHERE y = $1", 0x4ff39426bd074231ull},
		{"SELECT * FROM x WHERE y = ANY ($1)", 0x4ff39426bd074231ull},
		{"SELECT * FROM x WHERE y IN ($1, $2, $3)", 0x4ff39426bd074231ull},
		{"SELECT * FROM x WHERE y IN ( $1::uuid )", 0x4ff39426bd074231ull},
		{"INSERT INTO test (a, b) VALUES ($1, $2)", 0x51e63b8083b48bddull},
		{"INSERT INTO test (b, a) VALUES ($1, $2)", 0x51e63b8083b48bddull},
		{"EXECUTE a123", 0x44ef1d2beabd53e8ull},
		{"DEALLOCATE a123", 0xd8a65a814fbc5f95ull},
		{"-- nothing", 0xd8d13f8b2da6c9adull},
		{"LISTEN virtual", 0x6e5bf26e5fc272a5ull},
		{"UNLISTEN *", 0x9348a760200458ffull},
		{"NOTIFY virtual", 0x92f42ef7b6fa8f62ull},
		{"SELECT * FROM t WHERE t.a IN (1, 2) AND t.b = 3", 0x346aea01be9173b6ull},
		{"SELECT * FROM t WHERE t.b = 3 AND t.a IN (1, 2)", 0x346aea01be9173b6ull},
		{"INSERT INTO films (code, title, did) VALUES ('UA502', 'Bananas', 105), ('T_601', "
		 "'Yojimbo', DEFAULT)",
		 0x459fdc70778b841eull},
		{"UPDATE x SET a = 1, b = 2, c = 3", 0xfd5c248c0e642ce4ull},
		{"UPDATE x SET z = now()", 0xa222eaabaa1e7cb1ull},
		{"SELECT DISTINCT id FROM mytable", 0x3a7e897d3710fa93ull},
		{"SELECT id FROM mytable", 0x40991573eb85c5f6ull},
		{"SELECT * FROM contacts.person WHERE id IN (1, 2, 3, 4);", 0x643d2a3c294ab8a7ull},
		{"WITH a AS (SELECT * FROM x WHERE x.y = $1 AND x.z = 1) SELECT * FROM a",
		 0x6831e38bbb3dd18cull},
		{"SAVEPOINT some_id", 0x8ebd566ea1bf947bull},
		{"START TRANSACTION READ WRITE", 0x4ca25828c835d55aull},
	};
	ParserCache *c = parser_cache_new(1u << 20, 256);
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		ParsedStatement ps = lookup1(c, known[i].sql);
		uint64_t direct = 0;
		if (ps.fingerprint != known[i].fp)
			fail_msg("[%s]: %016llx, published %016llx", known[i].sql,
				 (unsigned long long)ps.fingerprint,
				 (unsigned long long)known[i].fp);
		assert_true(parser_fingerprint(known[i].sql, strlen(known[i].sql), &direct));
		assert_int_equal(direct, known[i].fp);
	}
	parser_cache_free(c);
}

static void test_parser_normalized_text(void **state)
{
	(void)state;
	ParserCache *c = parser_cache_new(1u << 20, 40);
	ParsedStatement ps = lookup1(c, "SELECT * FROM t WHERE a = 5 AND b = 'x'");
	assert_int_equal(ps.normalized_len, 39);
	assert_string_equal(ps.normalized, "SELECT * FROM t WHERE a = $1 AND b = $2");
	/* cut at text_max (40 bytes) */
	ps = lookup1(c, "SELECT * FROM t WHERE a = 5 AND b = 'x' AND c IN (1, 2, 3)");
	assert_int_equal(ps.normalized_len, 40);
	assert_memory_equal(ps.normalized, "SELECT * FROM t WHERE a = $1 AND b = $2 ", 40);
	assert_int_equal(ps.normalized[40], 0);
	/* never in the middle of a UTF-8 character */
	ps = lookup1(c, "SELECT 'x' AS \"aééééééééééééééééééé\"");
	assert_int_equal(ps.normalized_len, 39);
	/* a text that does not parse is shown as it is */
	ps = lookup1(c, "SELEC oops");
	assert_int_equal(ps.kind, SK_UNPARSED);
	assert_string_equal(ps.normalized, "SELEC oops");
	parser_cache_free(c);
}

static void test_parser_multi_statement(void **state)
{
	(void)state;
	const char *sql = "SELECT 1;  UPDATE x SET a = 1 WHERE id = 2; DELETE FROM y";
	ParserCache *c = parser_cache_new(1u << 20, 256);
	ParsedStatement ps[3];
	char buf[256];
	uint64_t fp;
	size_t n = parser_cache_lookup(c, sql, strlen(sql), ps, 3);
	assert_int_equal(n, 3);
	assert_int_equal(ps[0].kind, SK_SELECT);
	assert_int_equal(ps[1].kind, SK_UPDATE);
	assert_int_equal(ps[2].kind, SK_DELETE);
	assert_int_equal(ps[0].fingerprint, 0x50fde20626009abaull);
	assert_true(parser_fingerprint("UPDATE x SET a = 1 WHERE id = 2", 31, &fp));
	assert_int_equal(ps[1].fingerprint, fp);
	assert_true(parser_fingerprint("DELETE FROM y", 13, &fp));
	assert_int_equal(ps[2].fingerprint, fp);
	assert_int_equal(ps[1].stmt_offset, 11);
	assert_int_equal(ps[1].stmt_len, 31);
	assert_memory_equal(sql + ps[2].stmt_offset, "DELETE FROM y", ps[2].stmt_len);
	assert_string_equal(ps[1].normalized, "UPDATE x SET a = $1 WHERE id = $2");
	shape_render(ps[1].shape, sql, strlen(sql), buf, sizeof(buf));
	assert_string_equal(buf, "x: update set(a) eq(id=2)");
	/* fewer slots than statements: the count is still the whole */
	n = parser_cache_lookup(c, sql, strlen(sql), ps, 1);
	assert_int_equal(n, 3);
	assert_int_equal(ps[0].kind, SK_SELECT);
	ParserCacheStats st;
	parser_cache_stats(c, &st);
	assert_int_equal(st.exact_hits, 1);
	assert_int_equal(st.misses, 1);
	parser_cache_free(c);
}

static void test_parser_unparsed_and_empty(void **state)
{
	(void)state;
	ParserCache *c = parser_cache_new(1u << 20, 256);
	const char *bad = "SELEC * FRM t";
	ParsedStatement ps = lookup1(c, bad);
	assert_int_equal(ps.kind, SK_UNPARSED);
	assert_null(ps.shape);
	assert_int_equal(ps.fingerprint, XXH3_64bits(bad, strlen(bad)));
	/* stable: a second cache gives the same */
	ParserCache *c2 = parser_cache_new(1u << 20, 256);
	ParsedStatement ps2 = lookup1(c2, bad);
	assert_int_equal(ps2.fingerprint, ps.fingerprint);
	parser_cache_free(c2);

	ps = lookup1(c, "");
	assert_int_equal(ps.kind, SK_EMPTY);
	assert_int_equal(ps.fingerprint, 0xd8d13f8b2da6c9adull);
	ps = lookup1(c, "  /* only a comment */ ");
	assert_int_equal(ps.kind, SK_EMPTY);
	/* an embedded NUL: not handed to libpg_query, which would see a shorter text */
	ps.kind = SK_SELECT;
	size_t n = parser_cache_lookup(c, "SELECT 1\0DROP TABLE x", 21, &ps, 1);
	assert_int_equal(n, 1);
	assert_int_equal(ps.kind, SK_UNPARSED);
	assert_int_equal(ps.fingerprint, XXH3_64bits("SELECT 1\0DROP TABLE x", 21));
	parser_cache_free(c);
}

/* A constants-free hit must give positions inside THIS text. */
static void test_parser_const_hit_positions(void **state)
{
	(void)state;
	ParserCache *c = parser_cache_new(1u << 20, 256);
	const char *a = "SELECT * FROM jobs WHERE status = 'QUEUED' AND id IN (1, 2) AND "
			"prio > 5 ORDER BY id LIMIT 10";
	const char *b = "select * from jobs where status = 'PENDING_LONGER' and id in (100, 200, "
			"300, -4) and prio > 77 order by id limit 1";
	char buf[512];
	ParsedStatement ps = lookup1(c, a);
	render(&ps, a, buf, sizeof(buf));
	assert_string_equal(buf, "jobs: eq(status='QUEUED', id=(1, 2)|any) range(prio=5) order(id) "
				 "select(*) limit");
	ps = lookup1(c, b);
	render(&ps, b, buf, sizeof(buf));
	assert_string_equal(buf, "jobs: eq(status='PENDING_LONGER', id=(100, 200, 300, -4)|any) "
				 "range(prio=77) order(id) select(*) limit");
	const ShapeCol *cols = shape_cols(ps.shape);
	assert_int_equal(cols[0].const_kind, SCK_CONST);
	assert_int_equal(cols[0].const_pos, 34);
	assert_int_equal(cols[0].const_len, 16);
	assert_int_equal(cols[1].const_kind, SCK_LIST);
	assert_memory_equal(b + cols[1].const_pos, "100, 200, 300, -4", cols[1].const_len);
	/* without the text: positions */
	shape_render(ps.shape, NULL, 0, buf, sizeof(buf));
	assert_string_equal(buf, "jobs: eq(status@34+16, id@62+17|any) range(prio@92+2) order(id) "
				 "select(*) limit");
	ParserCacheStats st;
	parser_cache_stats(c, &st);
	assert_int_equal(st.const_hits, 1);
	assert_int_equal(st.misses, 1);
	parser_cache_free(c);
}

static void test_parser_shape_copy_is_self_contained(void **state)
{
	(void)state;
	ParserCache *c = parser_cache_new(1u << 20, 256);
	const char *sql = "SELECT u.id FROM users u JOIN orders o ON o.user_id = u.id WHERE "
			  "lower(u.email) = $1";
	char before[512], after[512];
	ParsedStatement ps = lookup1(c, sql);
	QueryShape *copy = shape_copy(ps.shape);
	assert_non_null(copy);
	assert_int_equal(copy->size, ps.shape->size);
	render(&ps, sql, before, sizeof(before));
	for (int i = 0; i < 50; i++) {
		char other[64];
		snprintf(other, sizeof(other), "SELECT x%d FROM t%d", i, i);
		lookup1(c, other);
	}
	parser_cache_free(c);
	shape_render(copy, sql, strlen(sql), after, sizeof(after));
	assert_string_equal(before, after);
	assert_string_equal(after, "users AS u: eq(lower(email)=$1) join(id=orders.user_id) "
				   "select(id); orders AS o: join(user_id=users.id)");
	const ShapeTable *t = shape_tables(copy);
	assert_string_equal(shape_str(copy, t[0].name), "users");
	assert_string_equal(shape_str(copy, t[0].alias), "u");
	assert_string_equal(shape_str(copy, t[1].schema), "");
	free(copy);
}

/*
 * The number skeleton: a text that differs from a cached one only in free digit runs is answered
 * without lexing, and the answer is exactly what a fresh parse of it gives (fingerprint,
 * normalized text, shape with this text's constant positions). Texts whose digits name things or
 * change a pinned literal or a number's class go the slower, exact way.
 */
static void expect_same_as_fresh(ParserCache *c, const char *sql)
{
	ParsedStatement got = lookup1(c, sql);
	ParserCache *fresh = parser_cache_new(8u << 20, 4096);
	ParsedStatement want = lookup1(fresh, sql);
	assert_int_equal(got.fingerprint, want.fingerprint);
	assert_int_equal(got.kind, want.kind);
	assert_string_equal(got.normalized, want.normalized);
	char a[2048] = "", b[2048] = "";
	if (want.shape) {
		assert_non_null(got.shape);
		shape_render(got.shape, sql, strlen(sql), a, sizeof(a));
		shape_render(want.shape, sql, strlen(sql), b, sizeof(b));
		if (strcmp(a, b) != 0)
			fail_msg("[%s]\n  cached: %s\n  fresh:  %s", sql, a, b);
	}
	parser_cache_free(fresh);
}

static void test_parser_number_skeleton(void **state)
{
	(void)state;
	static const struct {
		const char *first, *second;
		int skel_hit; /* the second is a constants-free hit without a miss */
	} cases[] = {
		{"SELECT abalance FROM pgbench_accounts WHERE aid = 5;",
		 "SELECT abalance FROM pgbench_accounts WHERE aid = 123456;", 1},
		/* no column and no pinned literal: a hit all the same (psql's SELECT n;) */
		{"SELECT 5;", "SELECT 2999;", 1},
		{"UPDATE t SET v = v + 7, w = 'x 12' WHERE id = 3 AND k IN (1, 2)",
		 "UPDATE t SET v = v + 70000, w = 'x 9' WHERE id = 30 AND k IN (11, 22)", 1},
		{"SELECT * FROM t WHERE a = -5 AND b > 1.5 ORDER BY 1 LIMIT 10",
		 "SELECT * FROM t WHERE a = -55 AND b > 10.25 ORDER BY 1 LIMIT 1000", 1},
		/* an ORDER BY ordinal is pinned: another one is another statement */
		{"SELECT a, b FROM t WHERE c = 1 ORDER BY 1",
		 "SELECT a, b FROM t WHERE c = 2 ORDER BY 2", 0},
		/* past int32 a number is another class of constant */
		{"SELECT * FROM t WHERE id = 5", "SELECT * FROM t WHERE id = 99999999999", 0},
		/* digits that are part of names, and $n, are not constants */
		{"SELECT a1 FROM t2 WHERE x = 1", "SELECT a1 FROM t2 WHERE x = 23", 1},
		{"SELECT \"c 1\" FROM t WHERE x = 1", "SELECT \"c 2\" FROM t WHERE x = 1", 0},
		{"SELECT * FROM t WHERE x = $1 LIMIT 5", "SELECT * FROM t WHERE x = $1 LIMIT 6", 0},
		/* 1e5 keeps its digits: only the other constant's differ */
		{"SELECT * FROM t WHERE x = 1e5 AND y = 1",
		 "SELECT * FROM t WHERE x = 1e5 AND y = 2", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ParserCache *c = parser_cache_new(8u << 20, 4096);
		ParserCacheStats before, after;
		expect_same_as_fresh(c, cases[i].first);
		parser_cache_stats(c, &before);
		expect_same_as_fresh(c, cases[i].second);
		parser_cache_stats(c, &after);
		if (cases[i].skel_hit &&
		    (after.const_hits != before.const_hits + 1 || after.misses != before.misses))
			fail_msg("[%s] was not answered from the first's entry", cases[i].second);
		/* the first, looked up again, is answered from the cache too */
		expect_same_as_fresh(c, cases[i].first);
		parser_cache_free(c);
	}
}

static void test_parser_lru_eviction(void **state)
{
	(void)state;
	ParserCache *c = parser_cache_new(16u << 10, 256);
	ParserCacheStats st;
	char sql[128];
	for (int i = 0; i < 400; i++) {
		snprintf(sql, sizeof(sql), "SELECT a%d FROM t WHERE b = %d", i, i);
		lookup1(c, sql);
		parser_cache_stats(c, &st);
		assert_true(st.bytes <= 16u << 10);
	}
	assert_true(st.evictions > 0);
	assert_int_equal(st.entries + st.evictions, 400);
	/* the most recent one is still there, the first one is gone */
	lookup1(c, sql);
	lookup1(c, "SELECT a0 FROM t WHERE b = 0");
	parser_cache_stats(c, &st);
	/* the text has a number: its skeleton answers before its exact bytes are hashed */
	assert_int_equal(st.exact_hits, 0);
	assert_int_equal(st.const_hits, 1);
	assert_int_equal(st.misses, 401);
	/* a recently used entry survives a flood */
	ParserCache *d = parser_cache_new(16u << 10, 256);
	lookup1(d, "SELECT keep FROM t");
	for (int i = 0; i < 400; i++) {
		snprintf(sql, sizeof(sql), "SELECT a%d FROM t WHERE b = %d", i, i);
		lookup1(d, sql);
		lookup1(d, "SELECT keep FROM t");
	}
	parser_cache_stats(d, &st);
	assert_int_equal(st.exact_hits, 400);
	parser_cache_free(d);
	parser_cache_free(c);
}

static void test_parser_hot_kind(void **state)
{
	(void)state;
	static const struct {
		const char *sql;
		StmtKind kind;
	} cases_hot[] = {
		{"SET search_path = a", SK_SET},
		{"  set\tx = 1", SK_SET},
		{"/* c /* nested */ */ -- line\n RESET ALL", SK_RESET},
		{"PREPARE p AS SELECT 1", SK_PREPARE},
		{"execute p", SK_EXECUTE},
		{"DEALLOCATE ALL", SK_DEALLOCATE},
		{"DISCARD ALL", SK_DISCARD},
		{"LISTEN ch", SK_LISTEN},
		{"UNLISTEN *", SK_UNLISTEN},
		{"BEGIN", SK_TRANSACTION},
		{"start transaction", SK_TRANSACTION},
		{"COMMIT;", SK_TRANSACTION},
		{"END", SK_TRANSACTION},
		{"ROLLBACK", SK_TRANSACTION},
		{"abort", SK_TRANSACTION},
		{"SELECT 1", SK_UNPARSED},
		{"SETTINGS", SK_UNPARSED},
		{"set_config('a','b',false)", SK_UNPARSED},
		{"SET(", SK_SET},
		{"(SELECT 1)", SK_UNPARSED},
		{"", SK_EMPTY},
		{"   ", SK_EMPTY},
		{";;", SK_EMPTY},
		{"-- just a comment", SK_EMPTY},
		{"/* unterminated", SK_EMPTY},
		{"WITH x AS (SELECT 1) SELECT * FROM x", SK_UNPARSED},
		{"DEALLOCATEX", SK_UNPARSED},
	};
	for (size_t i = 0; i < sizeof(cases_hot) / sizeof(cases_hot[0]); i++) {
		StmtKind k = parser_hot_kind(cases_hot[i].sql, strlen(cases_hot[i].sql));
		if (k != cases_hot[i].kind)
			fail_msg("[%s]: %s, want %s", cases_hot[i].sql, stmt_kind_str(k),
				 stmt_kind_str(cases_hot[i].kind));
	}
	/* only len bytes are read */
	assert_int_equal(parser_hot_kind("SET x", 2), SK_UNPARSED);
	assert_int_equal(parser_hot_kind("SET", 3), SK_SET);
	assert_int_equal(parser_hot_kind(NULL, 0), SK_EMPTY);
}

static void expect_cmd(const SessionCommands *sc, size_t i, SessionCommandKind kind,
		       const char *name, const char *value)
{
	assert_true(i < sc->n);
	assert_int_equal(sc->items[i].kind, kind);
	if (name)
		assert_string_equal(sc->items[i].name, name);
	else
		assert_null(sc->items[i].name);
	if (value)
		assert_string_equal(sc->items[i].value, value);
	else
		assert_null(sc->items[i].value);
}

static SessionCommands cmds_of(const char *sql)
{
	SessionCommands sc;
	assert_true(parser_session_commands(sql, strlen(sql), &sc));
	return sc;
}

static void test_parser_session_commands(void **state)
{
	(void)state;
	static const struct {
		const char *sql;
		SessionCommandKind kind;
		const char *name, *value;
	} one[] = {
		{"SET TIME ZONE 'UTC'", SC_SET, "timezone", "'UTC'"},
		{"SET search_path = a, \"B\"", SC_SET, "search_path", "a, \"B\""},
		{"SET statement_timeout = 1000", SC_SET, "statement_timeout", "1000"},
		{"set Statement_Timeout to '10s';", SC_SET, "statement_timeout", "'10s'"},
		{"SET extra_float_digits = -3", SC_SET, "extra_float_digits", "-3"},
		{"SET SESSION work_mem TO '64MB' -- comment", SC_SET, "work_mem", "'64MB'"},
		{"SET application_name = E'it\\'s'", SC_SET, "application_name", "E'it\\'s'"},
		{"SET search_path TO \"$user\", public", SC_SET, "search_path",
		 "\"$user\", public"},
		{"SET NAMES 'UTF8'", SC_SET, "client_encoding", "'UTF8'"},
		{"SET ROLE admin", SC_SET, "role", "admin"},
		{"SET standard_conforming_strings = on", SC_SET, "standard_conforming_strings",
		 "on"},
		{"SET LOCAL statement_timeout = 5", SC_SET_LOCAL, "statement_timeout", "5"},
		{"SET x.y TO DEFAULT", SC_RESET, "x.y", NULL},
		{"SET TIME ZONE DEFAULT", SC_RESET, "timezone", NULL},
		{"RESET statement_timeout", SC_RESET, "statement_timeout", NULL},
		{"RESET ALL", SC_RESET_ALL, NULL, NULL},
		{"DISCARD ALL", SC_DISCARD_ALL, NULL, NULL},
		{"DISCARD PLANS", SC_OTHER, NULL, NULL},
		{"DEALLOCATE p1", SC_DEALLOCATE, "p1", NULL},
		{"DEALLOCATE PREPARE \"P2\"", SC_DEALLOCATE, "P2", NULL},
		{"DEALLOCATE ALL", SC_DEALLOCATE_ALL, NULL, NULL},
		{"PREPARE q (int, text) AS SELECT * FROM t WHERE a = $1 AND b = $2;", SC_PREPARE,
		 "q", "SELECT * FROM t WHERE a = $1 AND b = $2"},
		{"PREPARE \"as\" AS SELECT 1", SC_PREPARE, "as", "SELECT 1"},
		{"EXECUTE q (1, 'x')", SC_EXECUTE, "q", NULL},
		{"LISTEN jobs", SC_LISTEN, "jobs", NULL},
		{"UNLISTEN jobs", SC_UNLISTEN, "jobs", NULL},
		{"UNLISTEN *", SC_UNLISTEN, "*", NULL},
		{"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", SC_OTHER, NULL, NULL},
		{"SELECT 1", SC_OTHER, NULL, NULL},
	};
	for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
		SessionCommands sc = cmds_of(one[i].sql);
		assert_false(sc.parse_error);
		assert_int_equal(sc.n, 1);
		expect_cmd(&sc, 0, one[i].kind, one[i].name, one[i].value);
		parser_session_commands_free(&sc);
	}

	SessionCommands sc = cmds_of("SET a = 1; RESET b; DISCARD ALL");
	assert_int_equal(sc.n, 3);
	expect_cmd(&sc, 0, SC_SET, "a", "1");
	expect_cmd(&sc, 1, SC_RESET, "b", NULL);
	expect_cmd(&sc, 2, SC_DISCARD_ALL, NULL, NULL);
	parser_session_commands_free(&sc);
	assert_int_equal(sc.n, 0);

	sc = cmds_of("SET = oops");
	assert_true(sc.parse_error);
	assert_int_equal(sc.n, 0);
	parser_session_commands_free(&sc);
	sc = cmds_of("");
	assert_false(sc.parse_error);
	assert_int_equal(sc.n, 0);
	parser_session_commands_free(&sc);
}

/* Session state beyond SET: what pins a client to its server, what unpins it, and what can be
 * restated on another server. Each statement's entries carry its number. */
static void test_parser_session_state_commands(void **state)
{
	(void)state;
	static const struct {
		const char *sql;
		SessionCommandKind kind;
		const char *name, *value;
	} one[] = {
		{"CREATE TEMP TABLE t (a int)", SC_TEMP_OBJECT, NULL, NULL},
		{"create temporary table if not exists t (a int)", SC_TEMP_OBJECT, NULL, NULL},
		{"CREATE TABLE pg_temp.t (a int)", SC_TEMP_OBJECT, NULL, NULL},
		{"CREATE TEMP TABLE t AS SELECT 1", SC_TEMP_OBJECT, NULL, NULL},
		{"CREATE TEMP VIEW v AS SELECT 1", SC_TEMP_OBJECT, NULL, NULL},
		{"CREATE TEMP SEQUENCE s", SC_TEMP_OBJECT, NULL, NULL},
		{"SELECT 1 AS a INTO TEMP t", SC_TEMP_OBJECT, NULL, NULL},
		{"CREATE TEMP TABLE t (a int) ON COMMIT DROP", SC_OTHER, NULL, NULL},
		{"CREATE TABLE t (a int)", SC_OTHER, NULL, NULL},
		{"DISCARD TEMP", SC_DISCARD_TEMP, NULL, NULL},
		{"DISCARD TEMPORARY", SC_DISCARD_TEMP, NULL, NULL},
		{"SELECT pg_advisory_lock(1)", SC_ADVISORY_LOCK, NULL, NULL},
		{"select pg_catalog.pg_try_advisory_lock_shared($1, $2)", SC_ADVISORY_LOCK, NULL,
		 NULL},
		{"SELECT pg_advisory_xact_lock(1)", SC_OTHER, NULL, NULL},
		{"SELECT pg_advisory_unlock_all()", SC_ADVISORY_UNLOCK_ALL, NULL, NULL},
		{"WITH x AS (SELECT pg_advisory_lock(id) FROM jobs) SELECT 1", SC_ADVISORY_LOCK,
		 NULL, NULL},
		{"SELECT CASE WHEN $1 THEN pg_try_advisory_lock(5) END", SC_ADVISORY_LOCK, NULL,
		 NULL},
		{"SELECT myschema.pg_advisory_lock(1)", SC_OTHER, NULL, NULL},
		{"DECLARE c CURSOR WITH HOLD FOR SELECT 1", SC_HOLD_CURSOR, "c", NULL},
		{"DECLARE c CURSOR FOR SELECT 1", SC_OTHER, NULL, NULL},
		{"CLOSE c", SC_CLOSE, "c", NULL},
		{"CLOSE ALL", SC_CLOSE_ALL, NULL, NULL},
		{"SELECT set_config('search_path', 'a, b', false)", SC_SET_CONFIG, "search_path",
		 "a, b"},
		{"SELECT set_config('Role', 'it''s', 'off')", SC_SET_CONFIG, "role", "it's"},
		{"SELECT set_config('x.y', 'v', true)", SC_OTHER, NULL, NULL},
		{"SELECT set_config('x.y', $1, false)", SC_UNTRACKED, NULL, NULL},
		{"SELECT set_config($1, 'v', false)", SC_UNTRACKED, NULL, NULL},
		{"SELECT set_config('x.y', 'v', $3)", SC_UNTRACKED, NULL, NULL},
		{"SET SESSION AUTHORIZATION bob", SC_SET, "session_authorization", "bob"},
		{"RESET SESSION AUTHORIZATION", SC_RESET, "session_authorization", NULL},
	};
	for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
		SessionCommands sc = cmds_of(one[i].sql);
		if (sc.n != 1)
			fail_msg("%s: %zu entries", one[i].sql, sc.n);
		expect_cmd(&sc, 0, one[i].kind, one[i].name, one[i].value);
		assert_int_equal(sc.items[0].stmt_no, 0);
		parser_session_commands_free(&sc);
	}

	SessionCommands sc = cmds_of("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL "
				     "REPEATABLE READ, READ ONLY, NOT DEFERRABLE");
	assert_int_equal(sc.n, 3);
	expect_cmd(&sc, 0, SC_SET, "default_transaction_isolation", "'repeatable read'");
	expect_cmd(&sc, 1, SC_SET, "default_transaction_read_only", "on");
	expect_cmd(&sc, 2, SC_SET, "default_transaction_deferrable", "off");
	parser_session_commands_free(&sc);

	sc = cmds_of("SELECT 1; SELECT set_config('a.b', '1', false), pg_advisory_lock(2); "
		     "CLOSE ALL");
	assert_int_equal(sc.n, 4);
	expect_cmd(&sc, 0, SC_OTHER, NULL, NULL);
	expect_cmd(&sc, 1, SC_SET_CONFIG, "a.b", "1");
	expect_cmd(&sc, 2, SC_ADVISORY_LOCK, NULL, NULL);
	expect_cmd(&sc, 3, SC_CLOSE_ALL, NULL, NULL);
	assert_int_equal(sc.items[0].stmt_no, 0);
	assert_int_equal(sc.items[1].stmt_no, 1);
	assert_int_equal(sc.items[2].stmt_no, 1);
	assert_int_equal(sc.items[3].stmt_no, 2);
	parser_session_commands_free(&sc);
}

/* The hot-path check never misses a statement that changes session state, and leaves the
 * common statements alone. */
static void test_parser_hot_session_hint(void **state)
{
	(void)state;
	static const char *const yes[] = {
		"SET a = 1",
		"reset all",
		"DISCARD ALL",
		"DEALLOCATE x",
		"PREPARE p AS SELECT 1",
		"LISTEN c",
		"UNLISTEN *",
		"create TEMP table t (a int)",
		"CREATE TABLE pg_temp.t (a int)",
		"declare c cursor with hold for select 1",
		"CLOSE c",
		"SELECT pg_advisory_lock(1)",
		"select PG_TRY_ADVISORY_LOCK(1)",
		"SELECT set_config('a', 'b', false)",
		"SELECT x FROM t WHERE SET_CONFIG(a,b,c)",
		"SELECT 1 INTO TEMP t",
		"SELECT 1; SET a = 2",
		"/* c */ SET a = 1",
		"SELECT pg_advisory_unlock_all()",
		"SELECT 1; UNLISTEN *",
		"SELECT 1 INTO TEMPORARY t",
		"CREATE TEMPORARY TABLE t (a int)",
		"select pg_catalog.pg_advisory_lock(1)",
		"CREATE TABLE \"pg_temp\".t (a int)",
		"SELECT 1;\n  -- next\n  DISCARD ALL",
	};
	static const char *const no[] = {
		"SELECT abalance FROM pgbench_accounts WHERE aid = 48213;",
		"UPDATE pgbench_tellers SET tbalance = tbalance + 1 WHERE tid = 3;",
		"INSERT INTO t (a) VALUES (1)",
		"BEGIN",
		"COMMIT",
		"",
		"SELECT set_conf FROM t",
		"DECLARE c CURSOR FOR SELECT 1",
		"SELECT 1; ",
		"SELECT my_advisor FROM t",
		"SELECT 1;;  ; -- only blanks after\n",
		"SELECT settings FROM t WHERE into_col = 1",
	};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!parser_hot_session_hint(yes[i], strlen(yes[i])))
			fail_msg("missed: %s", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (parser_hot_session_hint(no[i], strlen(no[i])))
			fail_msg("flagged: %s", no[i]);
	/* bounded by len: the text need not be NUL-terminated */
	const char cut[] = "SELECT set_config";
	assert_false(parser_hot_session_hint(cut, 10));
}

static char *repeat(const char *prefix, const char *unit, size_t times, const char *mid,
		    const char *unit2, const char *suffix)
{
	size_t n = strlen(prefix) + (strlen(unit) + strlen(unit2)) * times + strlen(mid) +
		   strlen(suffix) + 1;
	char *s = malloc(n), *p = s;
	assert_non_null(s);
	p = stpcpy(p, prefix);
	for (size_t i = 0; i < times; i++)
		p = stpcpy(p, unit);
	p = stpcpy(p, mid);
	for (size_t i = 0; i < times; i++)
		p = stpcpy(p, unit2);
	stpcpy(p, suffix);
	return s;
}

/* Inputs that must never crash (some found while fuzzing), with what a caller then sees. */
static void test_parser_hostile_inputs(void **state)
{
	(void)state;
	ParserCache *c = parser_cache_new(4u << 20, 128);
	ParsedStatement ps[2];
	char buf[256];

	/* nesting deeper than the parser's stack allows: unparsed, not a crash */
	char *deep = repeat("SELECT ", "f(", 20000, "1", ")", "");
	assert_int_equal(parser_cache_lookup(c, deep, strlen(deep), ps, 2), 1);
	assert_int_equal(ps[0].kind, SK_UNPARSED);
	free(deep);
	/* deep but parsable: the shape walker stops at its own depth */
	deep = repeat("SELECT * FROM t WHERE ", "f(", 1000, "a", ")", " = 1");
	assert_int_equal(parser_cache_lookup(c, deep, strlen(deep), ps, 2), 1);
	assert_int_equal(ps[0].kind, SK_SELECT);
	free(deep);

	/* nested subqueries beyond the shape walker's depth: the shape says it is cut */
	deep = repeat("SELECT * FROM ", "(SELECT * FROM ", 300, "t WHERE a = 1", ") s", "");
	assert_int_equal(parser_cache_lookup(c, deep, strlen(deep), ps, 2), 1);
	assert_int_equal(ps[0].kind, SK_SELECT);
	assert_non_null(ps[0].shape);
	assert_true(ps[0].shape->flags & SHF_TRUNCATED);
	free(deep);

	/* a 20000-item IN list, then another one: one constants-free hit */
	char *big = repeat("SELECT * FROM t WHERE id IN (0", ", 7", 20000, "", "", ")");
	char *big2 = repeat("SELECT * FROM t WHERE id IN (1", ", 8", 20000, "", ", 9", ")");
	ParserCacheStats st0, st1;
	parser_cache_lookup(c, big, strlen(big), ps, 1);
	parser_cache_stats(c, &st0);
	parser_cache_lookup(c, big2, strlen(big2), ps, 1);
	parser_cache_stats(c, &st1);
	assert_int_equal(st1.const_hits - st0.const_hits, 1);
	const ShapeCol *col = shape_cols(ps[0].shape);
	assert_int_equal(col[0].const_kind, SCK_LIST);
	assert_int_equal(col[0].const_pos, 29);
	assert_int_equal(col[0].const_len, strlen(big2) - 30);
	free(big);
	free(big2);

	/* an identifier of 100000 bytes (PostgreSQL truncates it to 63) */
	char *longid = repeat("SELECT ", "x", 100000, " FROM t", "", "");
	assert_int_equal(parser_cache_lookup(c, longid, strlen(longid), ps, 1), 1);
	assert_int_equal(ps[0].kind, SK_SELECT);
	free(longid);

	static const char *odd[] = {
		"SELECT '\xff\xfe' FROM \"\x80\"",
		"SELECT $$unterminated",
		"SELECT $a$ x $b$",
		"SELECT 'x",
		"SELECT \"x",
		"/* /* */",
		";;;",
		"SELECT $99999999999",
		"SELECT 1e",
		"SELECT 1..2",
		"\x01\x02\x03",
		"SELECT * FROM t WHERE a = U&'\\0041' UESCAPE '!'",
		"SELECT E'\\x41\\u0042' || B'1' || X'F'",
		"WITH RECURSIVE r AS (SELECT * FROM r) SELECT * FROM r",
		"SELECT * FROM t ORDER BY 99999999999999",
		"SELECT * FROM t GROUP BY -1 ORDER BY 0",
		"SET TIME ZONE INTERVAL '+02:00' HOUR TO MINUTE",
		"INSERT INTO t DEFAULT VALUES",
		"SELECT (x).y.z[1] FROM t WHERE (x).y = 1",
		"UPDATE t SET a[1] = 2, (b, c) = (SELECT 1, 2) WHERE CURRENT OF cur",
	};
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		size_t n = parser_cache_lookup(c, odd[i], strlen(odd[i]), ps, 2);
		assert_true(n >= 1);
		shape_render(ps[0].shape, odd[i], strlen(odd[i]), buf, sizeof(buf));
		(void)parser_hot_kind(odd[i], strlen(odd[i]));
		SessionCommands sc;
		assert_true(parser_session_commands(odd[i], strlen(odd[i]), &sc));
		parser_session_commands_free(&sc);
	}

	SessionCommands sc = cmds_of("SET TIME ZONE INTERVAL '+02:00' HOUR TO MINUTE");
	assert_int_equal(sc.n, 1);
	assert_int_equal(sc.items[0].kind, SC_OTHER);
	parser_session_commands_free(&sc);
	assert_true(parser_session_commands("SET a = 1\0; RESET ALL", 21, &sc));
	assert_true(sc.parse_error);
	parser_session_commands_free(&sc);
	parser_cache_free(c);
}

static void test_parser_stmt_kind_names(void **state)
{
	(void)state;
	assert_string_equal(stmt_kind_str(SK_SELECT), "select");
	assert_string_equal(stmt_kind_str(SK_UNPARSED), "unparsed");
	assert_string_equal(stmt_kind_str(SK_EMPTY), "empty");
	assert_string_equal(stmt_kind_str(SK__COUNT), "?");
	for (int k = 0; k < SK__COUNT; k++)
		assert_non_null(stmt_kind_str((StmtKind)k));
	assert_string_equal(shape_use_str(SU_IS_NOT_NULL), "notnull");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parser_shapes),
		cmocka_unit_test(test_parser_published_fingerprints),
		cmocka_unit_test(test_parser_normalized_text),
		cmocka_unit_test(test_parser_multi_statement),
		cmocka_unit_test(test_parser_unparsed_and_empty),
		cmocka_unit_test(test_parser_const_hit_positions),
		cmocka_unit_test(test_parser_number_skeleton),
		cmocka_unit_test(test_parser_shape_copy_is_self_contained),
		cmocka_unit_test(test_parser_lru_eviction),
		cmocka_unit_test(test_parser_hot_kind),
		cmocka_unit_test(test_parser_session_commands),
		cmocka_unit_test(test_parser_session_state_commands),
		cmocka_unit_test(test_parser_hot_session_hint),
		cmocka_unit_test(test_parser_hostile_inputs),
		cmocka_unit_test(test_parser_stmt_kind_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
