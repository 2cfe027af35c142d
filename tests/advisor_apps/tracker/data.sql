-- tracker: data generator. psql variable :scale (1 = full size: 1.5k orgs, 60k users, 300k issues,
-- 500k comments, 250k issue labels, 250k jobs). Skew: a few big customers (org = N * random()^3)
-- own most projects and issues; 10% of issues unassigned, 4% soft-deleted, 55% closed; comments
-- 3% soft-deleted; jobs like a real queue: 96% done, 2% failed, ~1% queued or pending, some
-- running (a few stuck for hours).
SELECT setseed(0.17);
\set n_orgs     '(1500 * :scale)::int'
\set n_users    '(60000 * :scale)::int'
\set n_projects '(8000 * :scale)::int'
\set n_issues   '(300000 * :scale)::int'
\set n_comments '(500000 * :scale)::int'
\set n_ilabels  '(250000 * :scale)::int'
\set n_jobs     '(250000 * :scale)::int'

INSERT INTO orgs (slug, name, plan, created_at)
SELECT 'org-' || g, 'Org ' || g, (ARRAY['free','team','business','enterprise'])[1 + g % 4],
       now() - random() * interval '900 days'
FROM generate_series(1, :n_orgs) g;

INSERT INTO users (email, name, created_at)
SELECT 'person' || g || '@' || (ARRAY['acme.io','globex.com','initech.dev','example.org'])[1 + g % 4],
       (ARRAY['Ada','Linus','Grace','Ken','Barbara','Dennis','Margaret','Guido'])[1 + g % 8] || ' ' ||
       (ARRAY['Lovelace','Torvalds','Hopper','Thompson','Liskov','Ritchie','Hamilton','Rossum'])[1 + (g / 8) % 8] || ' ' || g,
       now() - random() * interval '900 days'
FROM generate_series(1, :n_users) g;

-- every user in one org (big orgs get most), some in two
INSERT INTO memberships (org_id, user_id, role)
SELECT 1 + floor(:n_orgs * random() ^ 2)::int, u, CASE WHEN u % 20 = 0 THEN 'admin' ELSE 'member' END
FROM generate_series(1, :n_users) u
ON CONFLICT DO NOTHING;
INSERT INTO memberships (org_id, user_id, role)
SELECT 1 + floor(:n_orgs * random())::int, u, 'guest'
FROM generate_series(1, :n_users, 5) u
ON CONFLICT DO NOTHING;

INSERT INTO projects (org_id, key, name, archived_at)
SELECT 1 + floor(:n_orgs * random() ^ 3)::int, 'P' || g, 'Project ' || g,
       CASE WHEN random() < 0.1 THEN now() - random() * interval '100 days' END
FROM generate_series(1, :n_projects) g
ON CONFLICT DO NOTHING;

CREATE TEMP TABLE proj_pick AS SELECT row_number() OVER (ORDER BY id) AS rn, id, org_id FROM projects;
CREATE UNIQUE INDEX ON proj_pick (rn);
SELECT count(*) AS n_proj FROM proj_pick \gset
CREATE TEMP TABLE member_pick AS SELECT org_id, array_agg(user_id) AS users FROM memberships GROUP BY org_id;
CREATE UNIQUE INDEX ON member_pick (org_id);

INSERT INTO issues (org_id, project_id, number, title, body, status, priority, assignee_id, reporter_id,
                    created_at, updated_at, closed_at, deleted_at)
SELECT pp.org_id, pp.id, row_number() OVER (PARTITION BY pp.id ORDER BY i.g),
       i.title, 'Steps to reproduce: ' || i.title, i.status, i.priority,
       CASE WHEN random() < 0.9 THEN mp.users[1 + floor(random() * cardinality(mp.users))::int] END,
       mp.users[1 + floor(random() * cardinality(mp.users))::int],
       i.created, i.created + random() * (now() - i.created),
       CASE WHEN i.status = 'closed' THEN i.created + random() * (now() - i.created) END,
       CASE WHEN random() < 0.04 THEN now() - random() * interval '30 days' END
FROM (SELECT g, 1 + floor(:n_proj * random() ^ 2)::int AS rn,
             CASE WHEN random() < 0.55 THEN 'closed' WHEN random() < 0.7 THEN 'open' ELSE 'in_progress' END AS status,
             (ARRAY[0,1,2,2,2,3,3,4])[1 + floor(random() * 8)::int] AS priority,
             now() - (random() ^ 2) * interval '700 days' AS created,
             (ARRAY['Crash','Slow','Login','Export','Billing','Search','Mobile','Docs','Webhook','Import'])[1 + floor(random() * 10)::int]
             || ' ' || (ARRAY['fails','regression','timeout','broken','request','flaky','error','typo'])[1 + floor(random() * 8)::int]
             || ' in ' || (ARRAY['dashboard','api','settings','editor','sync','reports'])[1 + floor(random() * 6)::int]
             || ' #' || g AS title
      FROM generate_series(1, :n_issues) g) i
JOIN proj_pick pp ON pp.rn = i.rn
JOIN member_pick mp ON mp.org_id = pp.org_id;

INSERT INTO labels (project_id, name, color)
SELECT p.id, l, '#' || substr(md5(l), 1, 6)
FROM projects p, unnest(ARRAY['bug','feature','p1','backend','frontend','ux','security','needs-triage']) l;

INSERT INTO issue_labels (issue_id, label_id)
SELECT i.id, (SELECT min(id) FROM labels l WHERE l.project_id = i.project_id) + floor(random() ^ 2 * 8)::int
FROM issues i TABLESAMPLE BERNOULLI (85) REPEATABLE (3)
LIMIT :n_ilabels
ON CONFLICT DO NOTHING;

CREATE TEMP TABLE issue_pick AS SELECT row_number() OVER (ORDER BY id) AS rn, id, org_id, created_at FROM issues;
CREATE UNIQUE INDEX ON issue_pick (rn);
SELECT count(*) AS n_issue_pick FROM issue_pick \gset

INSERT INTO comments (issue_id, author_id, body, created_at, deleted_at)
SELECT ip.id, mp.users[1 + floor(random() * cardinality(mp.users))::int],
       'I can reproduce this on ' || (ARRAY['Chrome','Firefox','Safari','iOS','Android'])[1 + c.g % 5] || '. ' || c.g,
       ip.created_at + random() * (now() - ip.created_at),
       CASE WHEN random() < 0.03 THEN now() END
FROM (SELECT g, 1 + floor(:n_issue_pick * random() ^ 1.5)::int AS rn FROM generate_series(1, :n_comments) g) c
JOIN issue_pick ip ON ip.rn = c.rn
JOIN member_pick mp ON mp.org_id = ip.org_id;

INSERT INTO jobs (queue, kind, org_id, status, priority, attempts, payload, queued_at, run_at,
                  locked_by, locked_at, finished_at, last_error)
SELECT j.queue, j.kind, 1 + floor(:n_orgs * random() ^ 3)::int, j.status,
       (ARRAY[0,0,0,0,1,1,5,10])[1 + floor(random() * 8)::int],
       CASE WHEN j.status = 'failed' THEN 5 ELSE 1 END,
       jsonb_build_object('issue_id', j.g, 'attempt', 1),
       j.queued, j.queued + CASE WHEN j.status = 'pending' THEN interval '10 minutes' ELSE interval '0' END,
       CASE WHEN j.status IN ('running','done','failed') THEN 'worker-' || (j.g % 16) END,
       CASE WHEN j.status IN ('running','done','failed') THEN j.queued + interval '2 seconds' END,
       CASE WHEN j.status IN ('done','failed') THEN j.queued + interval '5 seconds' END,
       CASE WHEN j.status = 'failed' THEN 'timeout talking to smtp' END
FROM (SELECT g,
             (ARRAY['default','default','default','mail','mail','webhooks','search-index','exports'])[1 + floor(random() * 8)::int] AS queue,
             (ARRAY['send_email','deliver_webhook','reindex_issue','export_csv','notify_watchers'])[1 + floor(random() * 5)::int] AS kind,
             CASE WHEN g > :n_jobs - (:n_jobs / 100) THEN (ARRAY['queued','queued','pending'])[1 + g % 3]
                  WHEN g > :n_jobs - (:n_jobs / 100) - 60 THEN 'running'
                  WHEN random() < 0.02 THEN 'failed' ELSE 'done' END AS status,
             now() - (1 - g::float / :n_jobs) * interval '30 days' - interval '1 minute' AS queued
      FROM generate_series(1, :n_jobs) g) j;
-- a few workers died holding their jobs
UPDATE jobs SET locked_at = now() - interval '3 hours' WHERE status = 'running' AND id % 4 = 0;

VACUUM ANALYZE;
