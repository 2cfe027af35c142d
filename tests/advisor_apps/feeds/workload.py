"""
feeds: the statements a feed reader's web UI, API and background workers send, with how often
(weight = calls per 1,000 requests, rounded). Written as the app's Go (sqlc/pgx: $n, optional
filters as `$1 = 0 OR ...`) and Python (SQLAlchemy/Django-style IN lists) code sends them.
`$n` placeholders; params(pools, rnd) returns the values for $1..$n.
"""
from appkit import Stmt, fetch_pools, in_list, pick

CLASSES = None  # the classes each statement exercises are on the statements


def prepare(cur):
    """Pools of ids the parameters are drawn from, weighted as the traffic is: active users are
    the ones with many entries, so they are sampled from entries."""
    return fetch_pools(cur, {
        "user": "SELECT user_id FROM entries TABLESAMPLE SYSTEM (2) REPEATABLE (1)",
        "feed": "SELECT f.id, f.user_id, f.category_id FROM feeds f WHERE f.id IN "
                "(SELECT feed_id FROM entries TABLESAMPLE SYSTEM (2) REPEATABLE (2))",
        "entry": "SELECT id, user_id, feed_id, hash FROM entries TABLESAMPLE SYSTEM (1) "
                 "REPEATABLE (3)",
        "encl_entry": "SELECT entry_id FROM enclosures TABLESAMPLE SYSTEM (3) REPEATABLE (4)",
        "token": "SELECT token FROM api_keys ORDER BY id LIMIT 500",
        "email": "SELECT email FROM users ORDER BY id LIMIT 2000",
    })


_user = pick("user")
_feed = pick("feed")
_entry = pick("entry")

WORDS = ["postgres release", "kernel bug", "climate analysis", "rust guide", "security notes",
         "football interview", "election weekly", "recipe review"]

STATEMENTS = [
    Stmt("unread_list", 30, ["join", "optional_filter", "constant_filter"],
         """SELECT e.id, e.title, e.url, e.published_at, e.reading_time, f.title AS feed_title, f.site_url
FROM entries e JOIN feeds f ON f.id = e.feed_id
WHERE e.user_id = $1 AND e.status = $2 AND e.deleted_at IS NULL AND ($3::bigint = 0 OR e.feed_id = $3)
ORDER BY e.published_at DESC LIMIT $4""",
         lambda p, r: (_user(p, r), r.choice(["unread"] * 4 + ["read"]),
                       0 if r.random() < 0.8 else _feed(p, r)[0], 100)),
    Stmt("unread_counts", 20, ["constant_filter"],
         """SELECT feed_id, count(*) FROM entries
WHERE user_id = $1 AND status = 'unread' AND deleted_at IS NULL GROUP BY feed_id""",
         lambda p, r: (_user(p, r),)),
    Stmt("feed_entries", 15, ["constant_filter"],
         """SELECT e.id, e.title, e.published_at, e.status, e.starred FROM entries e
WHERE e.feed_id = $1 AND e.user_id = $2 AND e.deleted_at IS NULL
ORDER BY e.published_at DESC LIMIT 50 OFFSET $3""",
         lambda p, r: (lambda f: (f[0], f[1], r.choice([0, 0, 0, 50])))(_feed(p, r))),
    Stmt("starred_list", 6, ["constant_filter"],
         """SELECT e.id, e.title, e.url, e.changed_at FROM entries e
WHERE e.user_id = $1 AND e.starred IS TRUE AND e.deleted_at IS NULL
ORDER BY e.changed_at DESC LIMIT $2""",
         lambda p, r: (_user(p, r), 50)),
    Stmt("today_count", 8, ["range_expression", "constant_filter"],
         """SELECT count(*) FROM entries
WHERE user_id = $1 AND status = 'unread' AND deleted_at IS NULL AND published_at > now() - $2::interval""",
         lambda p, r: (_user(p, r), r.choice(["1 day", "7 days"]))),
    Stmt("recent_unread_cte", 4, ["cte_materialized"],
         """WITH recent AS MATERIALIZED (
    SELECT id, feed_id, published_at FROM entries
    WHERE user_id = $1 AND status = 'unread' AND deleted_at IS NULL
    ORDER BY published_at DESC LIMIT 500)
SELECT feed_id, count(*) FROM recent WHERE published_at > now() - interval '2 days'
GROUP BY feed_id ORDER BY 2 DESC""",
         lambda p, r: (_user(p, r),)),
    Stmt("api_entries_filter", 6, ["optional_filter", "empty_array", "constant_filter"],
         """SELECT e.id, e.feed_id, e.title, e.status, e.published_at FROM entries e
WHERE e.user_id = $1 AND e.deleted_at IS NULL
  AND (cardinality($2::bigint[]) = 0 OR e.feed_id = ANY($2::bigint[]))
  AND (cardinality($3::text[]) = 0 OR e.status = ANY($3::text[]))
ORDER BY e.published_at DESC LIMIT $4""",
         lambda p, r: (_user(p, r),
                       [] if r.random() < 0.7 else [_feed(p, r)[0] for _ in range(3)],
                       [] if r.random() < 0.5 else ["unread", "read"], 100)),
    Stmt("category_entries", 6, ["semi_join", "constant_filter"],
         """SELECT e.id, e.title, e.published_at FROM entries e
WHERE e.user_id = $1 AND e.deleted_at IS NULL
  AND e.feed_id IN (SELECT f.id FROM feeds f WHERE f.category_id = $2)
ORDER BY e.published_at DESC LIMIT 50""",
         lambda p, r: (lambda f: (f[1], f[2]))(_feed(p, r))),
    Stmt("feeds_with_unread", 5, ["semi_join", "existing_index"],
         """SELECT f.id, f.title, f.site_url FROM feeds f
WHERE f.user_id = $1 AND EXISTS (
    SELECT 1 FROM entries e WHERE e.feed_id = f.id AND e.status = 'unread' AND e.deleted_at IS NULL)
ORDER BY f.title""",
         lambda p, r: (_user(p, r),)),
    Stmt("latest_per_feed", 5, ["lateral"],
         """SELECT f.id, f.title, le.title AS last_title, le.published_at
FROM feeds f
CROSS JOIN LATERAL (
    SELECT e.title, e.published_at FROM entries e
    WHERE e.feed_id = f.id AND e.deleted_at IS NULL
    ORDER BY e.published_at DESC LIMIT 1) le
WHERE f.user_id = $1
ORDER BY f.title""",
         lambda p, r: (_user(p, r),)),
    Stmt("mark_feed_read", 3, ["write", "constant_filter"],
         """UPDATE entries SET status = 'read', changed_at = now()
WHERE user_id = $1 AND feed_id = $2 AND status = 'unread' AND deleted_at IS NULL""",
         lambda p, r: (lambda f: (f[1], f[0]))(_feed(p, r))),
    Stmt("search_fts", 4, ["fts_column"],
         """SELECT e.id, e.title, ts_rank(e.document_vectors, q) AS rank
FROM entries e, plainto_tsquery('english', $2) q
WHERE e.user_id = $1 AND e.document_vectors @@ q AND e.deleted_at IS NULL
ORDER BY rank DESC LIMIT 20""",
         lambda p, r: (_user(p, r), r.choice(WORDS) if r.random() < 0.5
                       else "%s %d" % (r.choice(WORDS).split()[0], r.randint(1, 400000)))),
    Stmt("search_title_ilike", 3, ["ilike"],
         """SELECT id, title, url FROM entries
WHERE user_id = $1 AND title ILIKE $2 AND deleted_at IS NULL
ORDER BY published_at DESC LIMIT 25""",
         lambda p, r: (_user(p, r), "%" + r.choice(["#%d" % r.randint(1000, 99999), "kernel bug",
                                                       "rust guide", "#%d" % r.randint(100, 9999)]) + "%")),
    Stmt("enclosures_for_entries", 10, ["any_order"],
         """SELECT id, entry_id, url, mime_type, size, media_progression FROM enclosures
WHERE entry_id = ANY($1::bigint[]) ORDER BY id""",
         lambda p, r: ([r.choice(p["encl_entry"]) for _ in range(r.choice([5, 20, 50]))],)),
    Stmt("enclosures_prefetch", 4, ["many_params"],
         "SELECT id, entry_id, url, mime_type FROM enclosures WHERE entry_id IN (%s)" % in_list(1, 100),
         lambda p, r: tuple(r.choice(p["encl_entry"]) for _ in range(100))),
    Stmt("refresh_dedupe", 5, ["many_params", "existing_index"],
         "SELECT id, hash FROM entries WHERE feed_id = $1 AND hash IN (%s)" % in_list(2, 121),
         lambda p, r: (lambda e: (e[2],) + tuple([e[3]] + ["%032x" % r.getrandbits(128) for _ in range(119)]))(_entry(p, r))),
    Stmt("insert_entry", 5, ["write", "existing_index"],
         """INSERT INTO entries (user_id, feed_id, hash, title, url, content, published_at, status, document_vectors)
VALUES ($1, $2, $3, $4, $5, $6, now(), 'unread', to_tsvector('english', $4))
ON CONFLICT (feed_id, hash) DO NOTHING RETURNING id""",
         lambda p, r: (lambda f, h: (f[1], f[0], h, "Release notes " + h[:6], "https://example.net/n/" + h,
                                     "lorem ipsum"))(_feed(p, r), "%032x" % r.getrandbits(128))),
    Stmt("mark_entries", 8, ["write", "existing_index", "any_order"],
         """UPDATE entries SET status = $1, changed_at = now()
WHERE user_id = $2 AND id = ANY($3::bigint[])""",
         lambda p, r: (lambda e: ("read", e[1], [e[0]] + [_entry(p, r)[0] for _ in range(9)]))(_entry(p, r))),
    Stmt("entry_by_id", 12, ["join", "existing_index"],
         """SELECT e.id, e.title, e.url, e.content, e.published_at, e.status, e.starred, f.title AS feed_title
FROM entries e JOIN feeds f ON f.id = e.feed_id
WHERE e.id = $1 AND e.user_id = $2""",
         lambda p, r: (lambda e: (e[0], e[1]))(_entry(p, r))),
    Stmt("api_key_auth", 15, ["join", "existing_index"],
         """SELECT u.id, u.username, u.is_admin, u.theme FROM api_keys k JOIN users u ON u.id = k.user_id
WHERE k.token = $1""",
         lambda p, r: (r.choice(p["token"]),)),
    Stmt("login_by_email", 2, ["expression"],
         "SELECT id, username, is_admin FROM users WHERE lower(email) = lower($1)",
         lambda p, r: (r.choice(p["email"]).upper(),)),
    Stmt("user_profile", 2, ["subquery", "constant_filter"],
         """SELECT u.id, u.username,
       (SELECT count(*) FROM feeds f WHERE f.user_id = u.id) AS feeds,
       (SELECT count(*) FROM entries e WHERE e.user_id = u.id AND e.starred IS TRUE) AS starred
FROM users u WHERE u.id = $1""",
         lambda p, r: (_user(p, r),)),
    Stmt("activity_union", 3, ["union", "constant_filter"],
         """(SELECT e.id, 'starred' AS kind, e.changed_at AS at FROM entries e
  WHERE e.user_id = $1 AND e.starred IS TRUE ORDER BY e.changed_at DESC LIMIT 20)
UNION ALL
(SELECT n.entry_id, 'listened', n.updated_at FROM enclosures n
  WHERE n.user_id = $1 AND n.media_progression > 0 ORDER BY n.updated_at DESC LIMIT 20)
ORDER BY at DESC LIMIT 20""",
         lambda p, r: (_user(p, r),)),
    Stmt("category_counts", 4, ["cte"],
         """WITH c AS (SELECT id, title FROM categories WHERE user_id = $1)
SELECT c.id, c.title, (SELECT count(*) FROM feeds f WHERE f.category_id = c.id) AS feed_count
FROM c ORDER BY c.title""",
         lambda p, r: (_user(p, r),)),
    Stmt("scheduler_due_feeds", 6, ["queue", "constant_filter"],
         """SELECT id, user_id, feed_url, etag_header FROM feeds
WHERE NOT disabled AND parsing_error_count < $1 AND next_check_at <= now()
ORDER BY next_check_at LIMIT $2""",
         lambda p, r: (3, 100)),
    Stmt("update_feed_checked", 6, ["write", "existing_index"],
         """UPDATE feeds SET checked_at = now(), next_check_at = now() + $1::interval, etag_header = $2
WHERE id = $3""",
         lambda p, r: ("1 hour", "W/\"%x\"" % r.getrandbits(32), _feed(p, r)[0])),
    Stmt("purge_removed", 1, ["write", "range_expression", "subquery"],
         """DELETE FROM entries WHERE id IN (
    SELECT id FROM entries WHERE status = 'removed' AND changed_at < now() - $1::interval LIMIT 500)""",
         lambda p, r: ("60 days",)),
]

# a few statements and their reference indexes for the ctest smoke test
SMOKE = {
    "statements": ["feed_entries", "enclosures_for_entries", "category_counts", "entry_by_id"],
    "reference": ["entries (feed_id, published_at DESC) WHERE deleted_at IS NULL",
                  "enclosures (entry_id)", "feeds (category_id)"],
}
