"""
tracker: the statements a SaaS issue tracker's web app, API and job workers send, with how often
(weight = calls per 1,000 requests, rounded). Written as its Go (sqlc/pgx) and Python
(SQLAlchemy/Django-style) code sends them: $n placeholders, optional filters as
`$n = '' OR col = $n`, IN lists expanded parameter by parameter, a worker claiming jobs with
FOR UPDATE SKIP LOCKED. params(pools, rnd) returns the values for $1..$n.
"""
from appkit import Stmt, fetch_pools, in_list, pick


def prepare(cur):
    """Pools of ids the parameters are drawn from, weighted as the traffic is (sampled from the
    issues, so big customers' projects and people come up most)."""
    return fetch_pools(cur, {
        "project": "SELECT i.project_id, i.org_id, p.key FROM issues i TABLESAMPLE SYSTEM (2) "
                   "REPEATABLE (1) JOIN projects p ON p.id = i.project_id",
        "issue": "SELECT id, org_id, project_id, number FROM issues TABLESAMPLE SYSTEM (2) "
                 "REPEATABLE (2)",
        "user": "SELECT assignee_id, org_id FROM issues TABLESAMPLE SYSTEM (2) REPEATABLE (3) "
                "WHERE assignee_id IS NOT NULL",
        "label": "SELECT il.label_id, l.project_id FROM issue_labels il TABLESAMPLE SYSTEM (2) "
                 "REPEATABLE (4) JOIN labels l ON l.id = il.label_id",
        "issue_label": "SELECT issue_id, label_id FROM issue_labels TABLESAMPLE SYSTEM (2) "
                       "REPEATABLE (5)",
        "slug": "SELECT slug FROM orgs ORDER BY id",
        "email": "SELECT email FROM users ORDER BY id LIMIT 3000",
        "job": "SELECT id FROM jobs WHERE status IN ('queued', 'pending', 'running')",
    })


_project = pick("project")
_issue = pick("issue")
_user = pick("user")

QUEUES = ["default"] * 3 + ["mail"] * 2 + ["webhooks", "search-index", "exports"]
TERMS = ["crash dashboard", "billing regression", "login timeout", "export broken",
         "webhook flaky", "search error", "mobile sync", "docs typo"]

STATEMENTS = [
    Stmt("project_board", 30, ["join", "optional_filter", "constant_filter"],
         """SELECT i.id, i.number, i.title, i.status, i.priority, i.updated_at, u.name AS assignee
FROM issues i LEFT JOIN users u ON u.id = i.assignee_id
WHERE i.project_id = $1 AND i.deleted_at IS NULL
  AND ($2::text = '' OR i.status = $2) AND ($3::bigint = 0 OR i.assignee_id = $3)
ORDER BY i.updated_at DESC LIMIT 50""",
         lambda p, r: (_project(p, r)[0], r.choice(["", "", "open", "in_progress"]),
                       0 if r.random() < 0.8 else _user(p, r)[0])),
    Stmt("my_issues", 15, ["join", "constant_filter"],
         """SELECT i.id, p.key, i.number, i.title, i.status, i.priority, i.updated_at
FROM issues i JOIN projects p ON p.id = i.project_id
WHERE i.assignee_id = $1 AND i.status IN ('open', 'in_progress') AND i.deleted_at IS NULL
ORDER BY i.updated_at DESC LIMIT 50""",
         lambda p, r: (_user(p, r)[0],)),
    Stmt("issue_by_number", 25, ["join", "existing_index"],
         """SELECT i.id, i.title, i.body, i.status, i.priority, i.assignee_id, i.created_at, p.name
FROM issues i JOIN projects p ON p.id = i.project_id
WHERE p.org_id = $1 AND p.key = $2 AND i.number = $3""",
         lambda p, r: (lambda pr: (pr[1], pr[2], r.randint(1, 200)))(_project(p, r))),
    Stmt("issue_comments", 20, ["join", "constant_filter"],
         """SELECT c.id, c.body, c.created_at, c.edited_at, u.id AS author_id, u.name, u.avatar_url
FROM comments c JOIN users u ON u.id = c.author_id
WHERE c.issue_id = $1 AND c.deleted_at IS NULL
ORDER BY c.created_at, c.id""",
         lambda p, r: (_issue(p, r)[0],)),
    Stmt("comment_counts", 10, ["any_order", "constant_filter"],
         """SELECT issue_id, count(*) FROM comments
WHERE issue_id = ANY($1::bigint[]) AND deleted_at IS NULL GROUP BY issue_id""",
         lambda p, r: ([_issue(p, r)[0] for _ in range(50)],)),
    Stmt("comments_prefetch", 4, ["many_params", "any_order"],
         "SELECT id, issue_id, author_id, created_at FROM comments WHERE issue_id IN (%s) "
         "ORDER BY issue_id, created_at" % in_list(1, 100),
         lambda p, r: tuple(_issue(p, r)[0] for _ in range(100))),
    Stmt("issues_with_label", 5, ["semi_join", "constant_filter"],
         """SELECT i.id, i.number, i.title, i.status FROM issues i
WHERE i.project_id = $1 AND i.deleted_at IS NULL
  AND i.id IN (SELECT il.issue_id FROM issue_labels il WHERE il.label_id = $2)
ORDER BY i.updated_at DESC LIMIT 50""",
         lambda p, r: (lambda l: (l[1], l[0]))(r.choice(p["label"]))),
    Stmt("commented_by_me", 3, ["semi_join"],
         """SELECT i.id, i.number, i.title FROM issues i
WHERE i.org_id = $1 AND i.deleted_at IS NULL
  AND EXISTS (SELECT 1 FROM comments c WHERE c.issue_id = i.id AND c.author_id = $2)
ORDER BY i.updated_at DESC LIMIT 20""",
         lambda p, r: (lambda u: (u[1], u[0]))(_user(p, r))),
    Stmt("claim_jobs", 20, ["queue", "cte", "write"],
         """WITH next AS (
    SELECT id FROM jobs
    WHERE queue = $1 AND status IN ('queued', 'pending') AND run_at <= now()
    ORDER BY priority DESC, queued_at LIMIT $2
    FOR UPDATE SKIP LOCKED)
UPDATE jobs j SET status = 'running', locked_by = $3, locked_at = now(), attempts = j.attempts + 1
FROM next WHERE j.id = next.id
RETURNING j.id, j.kind, j.payload""",
         lambda p, r: (r.choice(QUEUES), 5, "worker-%d" % r.randint(1, 16))),
    Stmt("complete_job", 20, ["write", "existing_index"],
         """UPDATE jobs SET status = $1, finished_at = now(), locked_by = NULL, last_error = $2
WHERE id = $3""",
         lambda p, r: (r.choice(["done"] * 9 + ["failed"]), None, r.choice(p["job"]))),
    Stmt("enqueue_job", 15, ["write"],
         """INSERT INTO jobs (queue, kind, org_id, priority, payload)
VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id""",
         lambda p, r: (r.choice(QUEUES), "notify_watchers", _issue(p, r)[1], r.choice([0, 0, 1, 5]),
                       '{"issue_id": %d}' % _issue(p, r)[0])),
    Stmt("reap_stuck_jobs", 2, ["write", "range_expression", "constant_filter"],
         """UPDATE jobs SET status = 'queued', locked_by = NULL, locked_at = NULL
WHERE status = 'running' AND locked_at < now() - $1::interval""",
         lambda p, r: ("1 hour",)),
    Stmt("queue_depth", 3, ["constant_filter"],
         """SELECT queue, count(*) FROM jobs WHERE status IN ('queued', 'pending') GROUP BY queue""",
         lambda p, r: ()),
    Stmt("admin_jobs_page", 2, ["optional_filter", "empty_array"],
         """SELECT id, queue, kind, status, attempts, queued_at, last_error FROM jobs
WHERE ($1::text = '' OR queue = $1) AND (cardinality($2::text[]) = 0 OR status = ANY($2::text[]))
ORDER BY queued_at DESC LIMIT 50""",
         lambda p, r: (r.choice(["", "", "mail"]), r.choice([[], [], ["failed"], ["queued", "running"]]))),
    Stmt("search_issues_fts", 4, ["fts_expression", "constant_filter"],
         """SELECT i.id, i.number, i.title, i.status FROM issues i
WHERE i.org_id = $1 AND i.deleted_at IS NULL
  AND to_tsvector('english', i.title) @@ websearch_to_tsquery('english', $2)
ORDER BY i.updated_at DESC LIMIT 20""",
         lambda p, r: (_project(p, r)[1], r.choice(TERMS) + " #%d" % r.randint(1, 300000)
                       if r.random() < 0.3 else r.choice(TERMS))),
    Stmt("admin_user_search", 2, ["ilike"],
         """SELECT id, name, email FROM users WHERE email ILIKE $1 ORDER BY id LIMIT 20""",
         lambda p, r: ("%" + r.choice(["person%d@" % r.randint(1, 60000), "son12", "4711", "globex.com"]) + "%",)),
    Stmt("project_overview_lateral", 4, ["lateral", "constant_filter"],
         """SELECT p.id, p.key, p.name, last.title AS last_title, last.updated_at
FROM projects p
LEFT JOIN LATERAL (
    SELECT i.title, i.updated_at FROM issues i
    WHERE i.project_id = p.id AND i.deleted_at IS NULL
    ORDER BY i.updated_at DESC LIMIT 1) last ON true
WHERE p.org_id = $1 AND p.archived_at IS NULL
ORDER BY p.key""",
         lambda p, r: (_project(p, r)[1],)),
    Stmt("inbox_union", 5, ["union", "constant_filter"],
         """(SELECT 'assigned' AS kind, i.id, i.title, i.updated_at AS at FROM issues i
  WHERE i.assignee_id = $1 AND i.deleted_at IS NULL ORDER BY i.updated_at DESC LIMIT 20)
UNION ALL
(SELECT 'reported', i.id, i.title, i.created_at FROM issues i
  WHERE i.reporter_id = $1 AND i.deleted_at IS NULL ORDER BY i.created_at DESC LIMIT 20)
ORDER BY at DESC LIMIT 20""",
         lambda p, r: (_user(p, r)[0],)),
    Stmt("org_dashboard_cte", 3, ["cte", "constant_filter"],
         """WITH open_issues AS (
    SELECT project_id, status, priority FROM issues
    WHERE org_id = $1 AND status <> 'closed' AND deleted_at IS NULL)
SELECT project_id, status, count(*), max(priority) FROM open_issues GROUP BY project_id, status""",
         lambda p, r: (_project(p, r)[1],)),
    Stmt("my_stats_cte", 3, ["cte_materialized"],
         """WITH mine AS MATERIALIZED (
    SELECT id, status, priority, updated_at FROM issues WHERE assignee_id = $1 AND deleted_at IS NULL)
SELECT status, count(*), max(priority) FROM mine
WHERE updated_at > now() - interval '30 days' GROUP BY status""",
         lambda p, r: (_user(p, r)[0],)),
    Stmt("project_list_counts", 6, ["subquery", "constant_filter"],
         """SELECT p.id, p.key, p.name,
       (SELECT count(*) FROM issues i WHERE i.project_id = p.id AND i.status = 'open'
          AND i.deleted_at IS NULL) AS open_issues
FROM projects p WHERE p.org_id = $1 AND p.archived_at IS NULL ORDER BY p.key""",
         lambda p, r: (_project(p, r)[1],)),
    Stmt("membership_check", 40, ["existing_index"],
         "SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2",
         lambda p, r: (lambda u: (u[1], u[0]))(_user(p, r))),
    Stmt("my_orgs", 8, ["join"],
         """SELECT o.id, o.slug, o.name, m.role FROM orgs o JOIN memberships m ON m.org_id = o.id
WHERE m.user_id = $1 ORDER BY o.name""",
         lambda p, r: (_user(p, r)[0],)),
    Stmt("org_by_slug", 10, ["existing_index"],
         "SELECT id, name, plan FROM orgs WHERE slug = $1",
         lambda p, r: (r.choice(p["slug"]),)),
    Stmt("add_comment", 6, ["write"],
         """INSERT INTO comments (issue_id, author_id, body) VALUES ($1, $2, $3) RETURNING id, created_at""",
         lambda p, r: (_issue(p, r)[0], _user(p, r)[0], "Still happens on the latest build.")),
    Stmt("update_issue", 6, ["write", "existing_index"],
         """UPDATE issues SET status = $1, updated_at = now() WHERE id = $2 AND org_id = $3""",
         lambda p, r: (lambda i: (r.choice(["open", "in_progress", "closed"]), i[0], i[1]))(_issue(p, r))),
    Stmt("bulk_label", 2, ["write", "many_params"],
         "INSERT INTO issue_labels (issue_id, label_id) VALUES %s ON CONFLICT DO NOTHING" %
         ", ".join("($%d, $%d)" % (2 * k + 1, 2 * k + 2) for k in range(35)),
         lambda p, r: tuple(v for _ in range(35) for v in r.choice(p["issue_label"]))),
    Stmt("user_activity", 2, [],
         """SELECT c.id, c.issue_id, c.created_at FROM comments c
WHERE c.author_id = $1 ORDER BY c.created_at DESC LIMIT 20""",
         lambda p, r: (_user(p, r)[0],)),
    Stmt("recent_org_activity", 3, ["range_expression", "constant_filter"],
         """SELECT i.id, i.number, i.title, i.updated_at FROM issues i
WHERE i.org_id = $1 AND i.deleted_at IS NULL AND i.updated_at > now() - $2::interval
ORDER BY i.updated_at DESC LIMIT 50""",
         lambda p, r: (_project(p, r)[1], r.choice(["1 day", "7 days"]))),
]
