-- tracker: the maintainers' secondary indexes (one per line; the comment names the statements it serves)
CREATE INDEX ON issues (project_id, updated_at DESC) WHERE deleted_at IS NULL; -- project_board, issues_with_label, project_overview_lateral, project_list_counts
CREATE INDEX ON issues (assignee_id, updated_at DESC) WHERE deleted_at IS NULL; -- my_issues, inbox_union, my_stats_cte
CREATE INDEX ON issues (reporter_id, created_at DESC) WHERE deleted_at IS NULL; -- inbox_union
CREATE INDEX ON issues (org_id, updated_at DESC) WHERE deleted_at IS NULL; -- commented_by_me, org_dashboard_cte, recent_org_activity
CREATE INDEX ON issues USING gin (to_tsvector('english', title)); -- search_issues_fts
CREATE INDEX ON comments (issue_id, created_at) WHERE deleted_at IS NULL; -- issue_comments, comment_counts, comments_prefetch
CREATE INDEX ON comments (author_id, created_at DESC); -- commented_by_me, user_activity
CREATE INDEX ON issue_labels (label_id); -- issues_with_label
CREATE INDEX ON jobs (queue, priority DESC, queued_at) WHERE status IN ('queued', 'pending'); -- claim_jobs, queue_depth
CREATE INDEX ON jobs (locked_at) WHERE status = 'running'; -- reap_stuck_jobs
CREATE INDEX ON jobs (queued_at); -- admin_jobs_page
CREATE INDEX ON users USING gin (email gin_trgm_ops); -- admin_user_search
CREATE INDEX ON memberships (user_id); -- my_orgs
