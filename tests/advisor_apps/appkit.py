"""
appkit: what the application workloads of tests/advisor_apps share. An app is a folder with
schema.sql (primary and unique keys only), data.sql (a generate_series generator scaled by the
psql variable :scale), reference_indexes.sql (the maintainers' secondary indexes, one per line,
`-- stmt, stmt` naming the statements each serves) and workload.py (STATEMENTS: Stmt objects
written with $n placeholders as the app's code sends them, and prepare(cur) giving the pools of
ids their parameters are drawn from).

The same statement goes to the server two ways, as the app's drivers send it:
  - simple protocol: psycopg2 interpolates the values into the text (a Python list becomes
    ARRAY[1,2,3], an empty list '{}', as psycopg2 does for every app that passes lists);
  - extended protocol: psycopg 3 with prepare_threshold=0 (Parse of a named statement, then
    Bind/Execute with the values apart), a repeated $n staying one parameter.
PostgreSQL and pgsift are started through tests/integration/harness.py.
"""
import json
import os
import random
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
import psycopg2  # noqa: E402
import psycopg  # noqa: E402

PARAM_RE = re.compile(r"\$(\d+)")


class Stmt:
    """One statement kind of an app: name, weight (calls per 1,000 requests), the classes of
    issue 12 it exercises, the SQL with $n placeholders, and params(pools, rnd) -> tuple."""

    def __init__(self, name, weight, classes, sql, params):
        self.name, self.weight, self.classes, self.sql, self.params = \
            name, weight, classes, sql, params
        self.pyformat = PARAM_RE.sub(lambda m: "%%(p%s)s" % m.group(1), sql.replace("%", "%%"))

    def values(self, pools, rnd):
        """The parameters as the dict both drivers take for %(pN)s."""
        vals = self.params(pools, rnd)
        return {"p%d" % (i + 1): v for i, v in enumerate(vals)}


def in_list(first, last):
    """`$first, ..., $last`: an IN list as ORMs expand a Python list."""
    return ", ".join("$%d" % i for i in range(first, last + 1))


def fetch_pools(cur, queries):
    """Runs each query of the dict {pool name: SQL} and returns {pool name: its rows}: the
    values themselves for a one-column query, else the row tuples."""
    p = {}
    for name, sql in queries.items():
        cur.execute(sql)
        rows = cur.fetchall()
        p[name] = [r[0] for r in rows] if len(cur.description) == 1 else rows
    return p


def pick(name):
    """A function (pools, rnd) -> one random element of the pool name, for params lambdas."""
    return lambda p, r: r.choice(p[name])


def load_module(app_dir):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "workload_" + os.path.basename(app_dir), os.path.join(app_dir, "workload.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, HERE)
    spec.loader.exec_module(mod)
    return mod


def read_reference(app_dir):
    """[(index definition after `CREATE INDEX ON `, [statement names])] from reference_indexes.sql."""
    out = []
    with open(os.path.join(app_dir, "reference_indexes.sql")) as f:
        for line in f:
            line = line.strip()
            if not line.upper().startswith("CREATE INDEX"):
                continue
            sql, _, comment = line.partition("--")
            sql = sql.strip().rstrip(";")
            m = re.match(r"CREATE INDEX ON (.*)$", sql, re.I)
            out.append((m.group(1), [s.strip() for s in comment.split(",") if s.strip()]))
    return out


def start_postgres():
    """The harness's PostgreSQL 15, restarted with pg_qualstats preloaded (sample_rate 1) and the
    memory settings a data load of a few hundred thousand rows wants."""
    srv = harness.pg()
    with open(os.path.join(srv.datadir, "postgresql.conf"), "a") as f:
        f.write("""
shared_preload_libraries = 'pg_qualstats'
pg_qualstats.sample_rate = 1
pg_qualstats.max = 5000
shared_buffers = 256MB
maintenance_work_mem = 256MB
work_mem = 16MB
max_wal_size = 4GB
checkpoint_timeout = 30min
autovacuum = off
log_min_duration_statement = -1
log_connections = off
log_disconnections = off
""")
    srv.restart()
    return srv


def psql_file(srv, dbname, path, variables=None, timeout=600):
    cmd = [harness.PG_BIN + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", srv.host,
           "-p", str(srv.port), "-U", harness.SUPERUSER, "-d", dbname, "-f", path]
    for k, v in (variables or {}).items():
        cmd += ["-v", "%s=%s" % (k, v)]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("psql -f %s failed:\n%s%s" % (path, r.stdout.decode(), r.stderr.decode()))


def load_app(srv, app_dir, dbname, scale):
    """Creates database dbname with the app's schema and data, and the extensions the tools use."""
    srv.query("DROP DATABASE IF EXISTS %s" % dbname, dbname="postgres")
    srv.query("CREATE DATABASE %s" % dbname, dbname="postgres")
    for ext in ("pg_trgm", "hypopg", "pg_qualstats"):
        srv.query("CREATE EXTENSION IF NOT EXISTS %s" % ext, dbname=dbname)
    t0 = time.monotonic()
    psql_file(srv, dbname, os.path.join(app_dir, "schema.sql"))
    psql_file(srv, dbname, os.path.join(app_dir, "data.sql"), {"scale": scale})
    return time.monotonic() - t0


def table_rows(srv, dbname):
    return srv.query("SELECT relname, reltuples::bigint FROM pg_class WHERE relkind = 'r' AND "
                     "relnamespace = 'public'::regnamespace ORDER BY reltuples DESC",
                     dbname=dbname)


def pools(srv, dbname, mod):
    conn = srv.connect(dbname=dbname)
    try:
        return mod.prepare(conn.cursor())
    finally:
        conn.close()


def schedule(stmts, rounds, seed):
    """Every statement weight x rounds times, shuffled: the order a busy app sends them in."""
    seq = [s for s in stmts for _ in range(s.weight * rounds)]
    random.Random(seed).shuffle(seq)
    return seq


def replay(px, dbname, stmts, pool, rounds, seed=1):
    """Sends the weighted statements through pgsift, once with psycopg2 (simple protocol) and
    once with psycopg 3 (extended protocol, named prepared statements), concurrently.
    Returns {"simple": (calls, errors), "extended": (calls, errors), "error_samples": [...]}."""
    result = {"error_samples": []}

    def simple():
        conn = psycopg2.connect(px.dsn(dbname=dbname))
        conn.autocommit = True
        cur = conn.cursor()
        rnd = random.Random(seed)
        calls = errors = 0
        for s in schedule(stmts, rounds, seed):
            calls += 1
            try:
                cur.execute(s.pyformat, s.values(pool, rnd))
                if cur.description:
                    cur.fetchall()
            except psycopg2.Error as e:
                errors += 1
                result["error_samples"].append("simple %s: %s" % (s.name, str(e).strip()[:200]))
        conn.close()
        result["simple"] = (calls, errors)

    def extended():
        conn = psycopg.connect(px.dsn(dbname=dbname), autocommit=True, prepare_threshold=0)
        rnd = random.Random(seed + 1)
        calls = errors = 0
        for s in schedule(stmts, rounds, seed + 1):
            calls += 1
            try:
                cur = conn.execute(s.pyformat, s.values(pool, rnd))
                if cur.description:
                    cur.fetchall()
            except psycopg.Error as e:
                errors += 1
                result["error_samples"].append("extended %s: %s" % (s.name, str(e).strip()[:200]))
        conn.close()
        result["extended"] = (calls, errors)

    threads = [threading.Thread(target=simple), threading.Thread(target=extended)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return result


def start_pgsift(srv):
    return harness.Pgsift(srv, settings={
        "pool_mode": "transaction", "admin_users": harness.SUPERUSER,
        "default_pool_size": 4, "max_client_conn": 100})


def wait_counted(px, dbname, want, timeout=30):
    """Waits until SHOW QUERIES counts `want` calls for dbname (the stats worker is behind the
    proxy by a queue)."""
    def counted():
        c = psycopg2.connect(px.dsn(dbname="pgsift"))
        c.autocommit = True
        try:
            cur = c.cursor()
            cur.execute("SHOW QUERIES")
            cols = [d[0] for d in cur.description]
            got = sum(r[cols.index("calls")] for r in cur.fetchall()
                      if r[cols.index("database")] == dbname)
            return got >= want
        finally:
            c.close()
    harness.wait_until(counted, timeout, "%d calls of %s in SHOW QUERIES" % (want, dbname), 0.2)


def parse_create_indexes(text):
    """The CREATE INDEX statements of an advisor's SQL output (comments dropped)."""
    lines = [l for l in text.splitlines() if not l.lstrip().startswith("--")]
    out = []
    for stmt in "\n".join(lines).split(";"):
        stmt = " ".join(stmt.split())
        if re.match(r"CREATE\s+(UNIQUE\s+)?INDEX\b", stmt, re.I):
            out.append(stmt)
    return out


def pgsift_suggest(px, srv, dbname, validate=False):
    """`pgsift suggest --admin ... --dsn ... --format sql [--validate]`: (command, output, indexes)."""
    cmd = [harness.PGSIFT_BIN, "suggest", "--admin", px.dsn(dbname="pgsift"),
           "--dsn", srv.dsn(dbname=dbname), "--format", "sql"] + (["--validate"] if validate else [])
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    out = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), r.returncode,
                                                   r.stderr.decode(errors="replace")))
    return cmd, out + r.stderr.decode(errors="replace"), parse_create_indexes(out)


def qualstats_advice(srv, dbname):
    """pg_qualstats_index_advisor() with its defaults: (raw json, CREATE INDEX statements)."""
    row = srv.query("SELECT pg_qualstats_index_advisor()::text", dbname=dbname)[0][0]
    doc = json.loads(row)
    return doc, [s for s in (doc.get("indexes") or [])]
