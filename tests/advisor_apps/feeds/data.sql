-- feeds: data generator. psql variable :scale (1 = full size: 20k users, 40k feeds, 400k entries,
-- 200k enclosures). Skew: a few hundred power users own most feeds and entries
-- (owner = floor(N * random()^3)); entry status 15% unread / 80% read / 5% removed; 1.5% starred;
-- 8% soft-deleted; entries published over the last 365 days, most of them recent.
SELECT setseed(0.42);
\set n_users     '(20000 * :scale)::int'
\set n_feeds     '(40000 * :scale)::int'
\set n_entries   '(400000 * :scale)::int'
\set n_encl      '(200000 * :scale)::int'

INSERT INTO users (username, email, is_admin, created_at, last_login_at)
SELECT 'user' || g, 'user' || g || '@' || (ARRAY['gmail.com','fastmail.com','example.org','proton.me'])[1 + g % 4],
       g % 1000 = 1, now() - (random() * 1000) * interval '1 day',
       CASE WHEN random() < 0.7 THEN now() - random() * interval '60 days' END
FROM generate_series(1, :n_users) g;

INSERT INTO api_keys (user_id, token, description, last_used_at)
SELECT 1 + floor(:n_users * random() ^ 3)::int, md5('key' || g), 'key ' || g, now() - random() * interval '30 days'
FROM generate_series(1, (:n_users / 4)) g
ON CONFLICT DO NOTHING;

-- every user has 1-8 categories
INSERT INTO categories (user_id, title)
SELECT u, (ARRAY['All','News','Tech','Podcasts','Blogs','Science','Comics','Later'])[c]
FROM generate_series(1, :n_users) u, generate_series(1, 8) c
WHERE c <= 1 + (u % 8);

INSERT INTO feeds (user_id, category_id, feed_url, site_url, title, checked_at, next_check_at,
                   parsing_error_count, disabled)
SELECT f.u, (SELECT min(id) FROM categories c WHERE c.user_id = f.u) + (f.g % (1 + (f.u % 8))),
       'https://' || (f.g % 5000) || '.example.net/feed-' || f.g || '.xml',
       'https://' || (f.g % 5000) || '.example.net/',
       'Feed ' || f.g || ' ' || (ARRAY['daily','weekly','digest','podcast','blog','news'])[1 + f.g % 6],
       now() - random() * interval '2 hours',
       now() + (random() * 4 - 1) * interval '1 hour',
       CASE WHEN random() < 0.05 THEN 1 + floor(random() * 10)::int ELSE 0 END,
       random() < 0.03
FROM (SELECT g, 1 + floor(:n_users * random() ^ 3)::int AS u FROM generate_series(1, :n_feeds) g) f
ON CONFLICT DO NOTHING;

CREATE TEMP TABLE feed_pick AS SELECT row_number() OVER (ORDER BY id) AS rn, id, user_id FROM feeds;
CREATE UNIQUE INDEX ON feed_pick (rn);
SELECT count(*) AS n_feed_pick FROM feed_pick \gset

INSERT INTO entries (user_id, feed_id, hash, title, url, author, content, published_at, created_at,
                     changed_at, status, starred, reading_time, document_vectors, deleted_at)
SELECT fp.user_id, fp.id, md5(e.g::text), e.title, 'https://example.net/post/' || e.g, 'author ' || (e.g % 300),
       repeat('lorem ipsum ', 5), e.pub, e.pub + interval '5 minutes', e.pub + random() * interval '2 days',
       CASE WHEN e.r < 0.15 THEN 'unread' WHEN e.r < 0.95 THEN 'read' ELSE 'removed' END,
       random() < 0.015, floor(random() * 20)::int,
       to_tsvector('english', e.title),
       CASE WHEN random() < 0.08 THEN e.pub + interval '3 days' END
FROM (SELECT g, 1 + floor(:n_feed_pick * random() ^ 2)::int AS rn, random() AS r,
             now() - (random() ^ 2) * interval '365 days' AS pub,
             (ARRAY['Postgres','Rust','Election','Climate','Kernel','Football','Release','Review','Security','Recipe'])[1 + floor(random() * 10)::int]
             || ' ' || (ARRAY['update','notes','analysis','weekly','podcast','bug','guide','interview'])[1 + floor(random() * 8)::int]
             || ' #' || g AS title
      FROM generate_series(1, :n_entries) g) e
JOIN feed_pick fp ON fp.rn = e.rn;

INSERT INTO enclosures (user_id, entry_id, url, mime_type, size, media_progression)
SELECT e.user_id, e.id, 'https://cdn.example.net/media/' || e.id || '.mp3', 'audio/mpeg',
       floor(random() * 1e8)::bigint, CASE WHEN random() < 0.1 THEN floor(random() * 3600)::int ELSE 0 END
FROM entries e TABLESAMPLE BERNOULLI (50) REPEATABLE (7)
LIMIT :n_encl;

VACUUM ANALYZE;
