-- feeds: the maintainers' secondary indexes (one per line; the comment names the statements it serves)
CREATE INDEX ON entries (user_id, status, published_at DESC) WHERE deleted_at IS NULL; -- unread_list, unread_counts, recent_unread_cte, today_count
CREATE INDEX ON entries (feed_id, published_at DESC) WHERE deleted_at IS NULL; -- feed_entries, category_entries, feeds_with_unread, latest_per_feed, mark_feed_read
CREATE INDEX ON entries (user_id, changed_at DESC) WHERE starred IS TRUE; -- starred_list, activity_union, user_profile
CREATE INDEX ON entries USING gin (document_vectors); -- search_fts
CREATE INDEX ON entries USING gin (title gin_trgm_ops); -- search_title_ilike
CREATE INDEX ON entries (user_id, published_at DESC) WHERE deleted_at IS NULL; -- api_entries_filter
CREATE INDEX ON entries (changed_at) WHERE status = 'removed'; -- purge_removed
CREATE INDEX ON enclosures (entry_id); -- enclosures_for_entries, enclosures_prefetch
CREATE INDEX ON feeds (category_id); -- category_entries, category_counts
CREATE INDEX ON feeds (next_check_at) WHERE NOT disabled; -- scheduler_due_feeds
CREATE INDEX ON users (lower(email)); -- login_by_email
