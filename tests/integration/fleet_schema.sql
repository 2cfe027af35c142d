-- The fleet statistics store's tables (the contract between pgsift's writer and its readers:
-- README.md, "Fleet statistics"). S stands for the schema (stats_dsn_schema): the tests put
-- theirs in its place. This copy is the readers' test fixture; the writer's creates the same.
CREATE SCHEMA IF NOT EXISTS S;

CREATE TABLE IF NOT EXISTS S.pgsift_schema_version (version integer NOT NULL);  -- one row: 1

CREATE TABLE IF NOT EXISTS S.pgsift_instances (
  instance      text PRIMARY KEY,
  host          text NOT NULL,
  pid           integer NOT NULL,
  listen_port   integer NOT NULL,
  peer_id       integer NOT NULL,
  version       text NOT NULL,          -- pgsift's version string
  started_at    timestamptz NOT NULL,
  last_flush    timestamptz NOT NULL,   -- last successful write
  rows_dropped  bigint NOT NULL DEFAULT 0,  -- statement-hour rows not kept for the store (backlog full)
  calls_dropped bigint NOT NULL DEFAULT 0   -- the calls those rows held
);

-- One row per digest (fingerprint, database, user): its normalized text and what the advisor reads.
CREATE TABLE IF NOT EXISTS S.pgsift_queries (
  fingerprint bigint NOT NULL,  -- the uint64 fingerprint stored as int64 (same bits); SHOW QUERIES
                                -- prints lpad(to_hex(fingerprint), 16, '0')
  database    text NOT NULL,
  username    text NOT NULL,
  kind        text NOT NULL,    -- stmt_kind_str(kind) (parser/parser.h), e.g. 'SELECT'
  query       text NOT NULL,    -- normalized text ($n for constants), as in SHOW QUERIES
  columns     jsonb,            -- the advisor's column sets from the statement's shape (tables,
                                -- WHERE/JOIN/ORDER BY/GROUP BY columns); NULL when it has none
  samples     jsonb,            -- only with log_parameters = 1, like the stats file:
                                -- [{"text": "...", "params": ["v1", null, ...]}]; else NULL
  first_seen  timestamptz NOT NULL,
  PRIMARY KEY (fingerprint, database, username)
);

CREATE TABLE IF NOT EXISTS S.pgsift_statements (
  instance      text NOT NULL,
  hour          timestamptz NOT NULL,  -- the start of the hour (UTC): to_timestamp(h * 3600) with
                                       -- h = end_wall_us / 3600000000 (digest.h's DigestHour.hour)
  fingerprint   bigint NOT NULL,
  database      text NOT NULL,
  username      text NOT NULL,
  application   text NOT NULL,         -- application_name, '' when none
  calls         bigint NOT NULL,
  errors        bigint NOT NULL,
  timeouts      bigint NOT NULL,
  cancelled     bigint NOT NULL,
  rows          bigint NOT NULL,
  total_ns      bigint NOT NULL,
  min_ns        bigint NOT NULL,
  max_ns        bigint NOT NULL,
  first_seen    timestamptz NOT NULL,
  last_seen     timestamptz NOT NULL,
  error_classes jsonb NOT NULL DEFAULT '{}',  -- {"23": 4, "57": 1}: errors by SQLSTATE class
  hist_idx      integer[] NOT NULL,  -- stats/histogram.h bucket indexes of duration in ns, ascending
  hist_cnt      bigint[] NOT NULL,   -- the count of each bucket (same length)
  PRIMARY KEY (instance, hour, fingerprint, database, username, application)
);
CREATE INDEX IF NOT EXISTS pgsift_statements_hour ON S.pgsift_statements (hour);

CREATE TABLE IF NOT EXISTS S.pgsift_table_writes (   -- digest.h's TableStat per hour
  instance   text NOT NULL,
  hour       timestamptz NOT NULL,
  table_name text NOT NULL,
  inserts    bigint NOT NULL,
  updates    bigint NOT NULL,
  deletes    bigint NOT NULL,
  rows       bigint NOT NULL,
  PRIMARY KEY (instance, hour, table_name)
);
