-- feeds: a self-hosted feed reader (users subscribe to feeds, read entries, star them, listen to
-- podcast enclosures). Primary and unique keys only: the maintainers' secondary indexes are in
-- reference_indexes.sql.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE users (
    id              bigserial PRIMARY KEY,
    username        text NOT NULL UNIQUE,
    email           text NOT NULL UNIQUE,
    is_admin        boolean NOT NULL DEFAULT false,
    theme           text NOT NULL DEFAULT 'light',
    entries_per_page int NOT NULL DEFAULT 100,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_login_at   timestamptz
);

CREATE TABLE api_keys (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token        text NOT NULL UNIQUE,
    description  text NOT NULL,
    last_used_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, description)
);

CREATE TABLE categories (
    id       bigserial PRIMARY KEY,
    user_id  bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title    text NOT NULL,
    hide_globally boolean NOT NULL DEFAULT false,
    UNIQUE (user_id, title)
);

CREATE TABLE feeds (
    id                  bigserial PRIMARY KEY,
    user_id             bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    category_id         bigint NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
    feed_url            text NOT NULL,
    site_url            text NOT NULL,
    title               text NOT NULL,
    etag_header         text NOT NULL DEFAULT '',
    checked_at          timestamptz NOT NULL DEFAULT now(),
    next_check_at       timestamptz NOT NULL DEFAULT now(),
    parsing_error_count int NOT NULL DEFAULT 0,
    parsing_error_msg   text NOT NULL DEFAULT '',
    disabled            boolean NOT NULL DEFAULT false,
    UNIQUE (user_id, feed_url)
);

CREATE TABLE entries (
    id               bigserial PRIMARY KEY,
    user_id          bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    feed_id          bigint NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    hash             text NOT NULL,
    title            text NOT NULL,
    url              text NOT NULL,
    author           text NOT NULL DEFAULT '',
    content          text NOT NULL DEFAULT '',
    published_at     timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    changed_at       timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'unread',
    starred          boolean NOT NULL DEFAULT false,
    reading_time     int NOT NULL DEFAULT 0,
    document_vectors tsvector,
    deleted_at       timestamptz,
    UNIQUE (feed_id, hash)
);

CREATE TABLE enclosures (
    id                bigserial PRIMARY KEY,
    user_id           bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    entry_id          bigint NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    url               text NOT NULL,
    mime_type         text NOT NULL DEFAULT '',
    size              bigint NOT NULL DEFAULT 0,
    media_progression int NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, entry_id, url)
);
