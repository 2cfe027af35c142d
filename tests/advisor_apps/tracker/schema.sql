-- tracker: a multi-tenant SaaS issue tracker with a background work queue (orgs, members,
-- projects, issues, labels, comments, jobs). Primary and unique keys only: the maintainers'
-- secondary indexes are in reference_indexes.sql.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE orgs (
    id         bigserial PRIMARY KEY,
    slug       text NOT NULL UNIQUE,
    name       text NOT NULL,
    plan       text NOT NULL DEFAULT 'free',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id         bigserial PRIMARY KEY,
    email      text NOT NULL UNIQUE,
    name       text NOT NULL,
    avatar_url text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    id      bigserial PRIMARY KEY,
    org_id  bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role    text NOT NULL DEFAULT 'member',
    UNIQUE (org_id, user_id)
);

CREATE TABLE projects (
    id          bigserial PRIMARY KEY,
    org_id      bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    key         text NOT NULL,
    name        text NOT NULL,
    archived_at timestamptz,
    UNIQUE (org_id, key)
);

CREATE TABLE issues (
    id          bigserial PRIMARY KEY,
    org_id      bigint NOT NULL REFERENCES orgs(id),
    project_id  bigint NOT NULL REFERENCES projects(id),
    number      int NOT NULL,
    title       text NOT NULL,
    body        text NOT NULL DEFAULT '',
    status      text NOT NULL DEFAULT 'open',
    priority    int NOT NULL DEFAULT 2,
    assignee_id bigint REFERENCES users(id),
    reporter_id bigint NOT NULL REFERENCES users(id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    closed_at   timestamptz,
    deleted_at  timestamptz,
    UNIQUE (project_id, number)
);

CREATE TABLE labels (
    id         bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name       text NOT NULL,
    color      text NOT NULL DEFAULT '#888888',
    UNIQUE (project_id, name)
);

CREATE TABLE issue_labels (
    issue_id bigint NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    label_id bigint NOT NULL REFERENCES labels(id) ON DELETE CASCADE,
    PRIMARY KEY (issue_id, label_id)
);

CREATE TABLE comments (
    id         bigserial PRIMARY KEY,
    issue_id   bigint NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    author_id  bigint NOT NULL REFERENCES users(id),
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    edited_at  timestamptz,
    deleted_at timestamptz
);

CREATE TABLE jobs (
    id          bigserial PRIMARY KEY,
    queue       text NOT NULL DEFAULT 'default',
    kind        text NOT NULL,
    org_id      bigint,
    status      text NOT NULL DEFAULT 'queued',
    priority    int NOT NULL DEFAULT 0,
    attempts    int NOT NULL DEFAULT 0,
    payload     jsonb NOT NULL DEFAULT '{}',
    queued_at   timestamptz NOT NULL DEFAULT now(),
    run_at      timestamptz NOT NULL DEFAULT now(),
    locked_by   text,
    locked_at   timestamptz,
    finished_at timestamptz,
    last_error  text
);
