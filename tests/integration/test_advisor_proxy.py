"""
test_advisor_proxy: the index advisor's acceptance test through the proxy (issue 6). Each case of
../shared/advisor-cases.jsonl gets its own database on one real PostgreSQL 15; its statements are
sent THROUGH one pgsift (stats_file set), 20 times each, and the advisor reads what pgsift
counted, three ways:

  - `pgsift suggest --admin URL --dsn ...`: SHOW QUERIES of the running proxy (normalized text,
    calls, total and p95 time);
  - `pgsift suggest --stats-file FILE --dsn ...` after pgsift stopped and wrote the file (with
    sampled literals, since the file keeps samples);
  - `SHOW SUGGESTIONS` in the admin console of the running proxy: the advisor on a worker thread
    over a snapshot of the live statistics, one advisor per database, the catalog read from the
    proxy's own upstream.

Each run is compared with the case's `expected` (or `better`) indexes exactly as
test_advisor_cases.py does (table, method, key columns in order with direction, expressions,
predicate). --queries mode stays tested by test_advisor_cases.py.

Statements with constants are sent with their integer comparison constants varied (id = 1, 2,
3...), so the proxy really sees one shape with many values; strings, LIMITs and ORDER BY ordinals
stay as written (an ordinal is part of the shape, and a string constant may be the partial-index
predicate the case is about). Statements with $n parameters go through the extended protocol
(Parse/Describe/Bind/Execute with psycopg 3's libpq wrapper), with values of the types the server
infers. Statements the cases expect to fail (parse errors, missing tables) fail through the proxy
too and must give nothing.

The cases' tables are small (the supabase and pg_qualstats ones are empty or 1,000 rows), so the
runs set --min-table-rows 0 and advisor_min_table_rows = 0: the default of 10,000 would rightly
ignore them.

Prints one line per case and mode, the pass rates; fails under 95% in any mode.
"""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import unittest

import psycopg2
from psycopg import pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_advisor_cases as cases  # noqa: E402

CALLS = 20

# Parameter values by the type the server infers for $n.
PARAM_BY_OID = {
    16: "true", 20: "%d", 21: "%d", 23: "%d", 26: "%d", 700: "%d", 701: "%d", 1700: "%d",
    114: "{}", 3802: "{}", 1082: "2021-01-01", 1114: "2021-01-01 00:00:00",
    1184: "2021-01-01 00:00:00+00", 2950: "00000000-0000-0000-0000-000000000001",
}


def vary_constants(sql, i):
    """The integer constants compared with =, <, >... become constant + i, outside strings."""
    parts = sql.split("'")
    for k in range(0, len(parts), 2):
        parts[k] = re.sub(r"(<>|<=|>=|=|<|>)(\s*)(\d+)\b(?!\.)",
                          lambda m: "%s%s%d" % (m.group(1), m.group(2), int(m.group(3)) + i),
                          parts[k])
    return "'".join(parts)


def has_params(sql):
    return re.search(r"\$\d", "".join(sql.split("'")[0::2])) is not None


def send_simple(px, db, sql):
    conn = px.connect(dbname=db)
    try:
        cur = conn.cursor()
        for i in range(CALLS):
            try:
                cur.execute(vary_constants(sql, i))
                if cur.description:
                    cur.fetchall()
            except psycopg2.Error:
                pass  # the cases' failing statements fail through the proxy too
    finally:
        conn.close()


def send_extended(px, db, sql):
    pg = pq.PGconn.connect(px.dsn(dbname=db).encode())
    try:
        assert pg.status == pq.ConnStatus.OK, pg.error_message
        q = sql.encode()
        r = pg.prepare(b"", q)
        types = None
        if r.status == pq.ExecStatus.COMMAND_OK:
            d = pg.describe_prepared(b"")
            types = [d.param_type(k) for k in range(d.nparams)]
        n = max(int(x) for x in re.findall(r"\$(\d+)", sql))
        for i in range(CALLS):
            vals = []
            for k in range(n):
                fmt = PARAM_BY_OID.get(types[k], "x") if types else "1"
                vals.append((fmt % (i + 1) if "%d" in fmt else fmt).encode())
            if types is not None:
                pg.exec_prepared(b"", vals)
            else:
                pg.exec_params(q, vals)  # Parse fails again: counted as the case expects
    finally:
        pg.finish()


def compare(case, suggestions):
    got = sorted(cases.from_json(s) for s in suggestions)
    want = sorted(cases.parse_expected(s) for s in case["expected"])
    better = sorted(cases.parse_expected(s) for s in case.get("better") or [])
    ok = got == want or (bool(case.get("better")) and got == better)
    if not ok and case["id"] == "pganalyze-depesz-eq-before-range" and len(got) == 1:
        ok = got in [[b] for b in better + want]
    return ok, got, want, better


def live_to_json(row):
    """A SHOW SUGGESTIONS row as the json format's table/method/columns/where, parsed from its
    index definition."""
    m = re.match(r"CREATE INDEX (?:CONCURRENTLY )?IF NOT EXISTS \S+ ON (.+?) USING (\w+) \((.*?)\)"
                 r"(?: INCLUDE \(.*?\))?(?: WHERE (.*))?;?$", row["index"])
    assert m, row["index"]
    table, method, cols, where = cases.parse_expected(
        "CREATE INDEX ON %s USING %s (%s)%s" % (m.group(1), m.group(2), m.group(3),
                                                " WHERE " + m.group(4) if m.group(4) else ""))
    return table, method, cols, where


class AdvisorThroughProxy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.pg()

    def run_suggest(self, args):
        cmd = [harness.PGSIFT_BIN, "suggest", "--min-table-rows", "0", "--format", "json"] + args
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def report(self, mode, results, n):
        passed = sum(1 for ok, _ in results.values() if ok)
        rate = 100.0 * passed / n
        print("advisor cases through the proxy, %s: %d/%d passed (%.1f%%)" %
              (mode, passed, n, rate))
        for cid, (ok, why) in results.items():
            if not ok:
                print("  failed %s: %s" % (cid, why))
        return rate

    def test_cases_through_proxy(self):
        all_cases = cases.load_cases()
        if harness.DIRECT:
            self.skipTest("needs pgsift (PGSIFT_DIRECT=1)")
        stats_file = os.path.join(self.srv.tmp, "advisor-stats.bin")
        px = harness.Pgsift(self.srv, settings={
            "stats_file": stats_file, "admin_users": harness.SUPERUSER,
            "advisor_min_table_rows": 0, "max_client_conn": 200})
        dbs = []
        try:
            for n, case in enumerate(all_cases):
                db = "advproxy%d" % n
                self.srv.query("CREATE DATABASE %s" % db)
                rc, out, err = harness.run_psql(self.srv, case["schema"], dbname=db,
                                                timeout=300)
                for sql in case["queries"]:
                    if has_params(sql):
                        send_extended(px, db, sql)
                    else:
                        send_simple(px, db, sql)
                dbs.append(db)
            admin = px.dsn(dbname="pgsift")
            # every statement is counted: the last database's calls show in SHOW QUERIES
            last = dbs[-1]
            want_last = CALLS * len(all_cases[-1]["queries"])

            def counted():
                c = psycopg2.connect(admin)
                c.autocommit = True
                try:
                    cur = c.cursor()
                    cur.execute("SHOW QUERIES")
                    cols = [d[0] for d in cur.description]
                    return sum(r[cols.index("calls")] for r in cur.fetchall()
                               if r[cols.index("database")] == last) >= want_last
                finally:
                    c.close()
            harness.wait_until(counted, 10, "the last case's statements in SHOW QUERIES")

            # 1. --admin: SHOW QUERIES of the running proxy
            res_admin = {}
            for case, db in zip(all_cases, dbs):
                code, out, err = self.run_suggest(["--admin", admin,
                                                   "--dsn", self.srv.dsn(dbname=db)])
                res_admin[case["id"]] = self.judge(case, code, out, err, "admin")

            # 2. SHOW SUGGESTIONS: every database at once, on a worker thread
            c = psycopg2.connect(admin)
            c.autocommit = True
            cur = c.cursor()
            cur.execute("SHOW SUGGESTIONS")
            cols = [d[0] for d in cur.description]
            self.assertEqual(cols, ["database", "table", "index", "statements", "calls",
                                    "total_ms", "p95_ms", "saving_pct", "table_rows",
                                    "writes_per_min", "reason"])
            rows = [dict(zip(cols, r)) for r in cur.fetchall()]
            notices = list(c.notices)
            # the console still answers afterwards, on the same connection
            cur.execute("SHOW VERSION")
            self.assertEqual(len(cur.fetchall()), 1)
            c.close()
            res_live = {}
            for case, db in zip(all_cases, dbs):
                mine = [live_to_json(r) for r in rows if r["database"] == db]
                ok, got, want, better = compare(case, [])
                got = sorted(mine)
                ok = got == want or (bool(case.get("better")) and got == better)
                if not ok and case["id"] == "pganalyze-depesz-eq-before-range" and \
                        len(got) == 1:
                    ok = got in [[b] for b in better + want]
                why = "got %s, want %s or %s" % (got, want, better)
                print("%s %-8s %-40s %s" % ("ok  " if ok else "FAIL", "live", case["id"],
                                             got))
                res_live[case["id"]] = (ok, why)
        finally:
            rc = px.stop()
        self.assertEqual(px.sanitizer_reports(), [])
        self.assertIn(rc, (0, -15))

        # 3. --stats-file, written when pgsift stopped
        self.assertTrue(os.path.exists(stats_file))
        res_file = {}
        for case, db in zip(all_cases, dbs):
            code, out, err = self.run_suggest(["--stats-file", stats_file,
                                               "--dsn", self.srv.dsn(dbname=db)])
            res_file[case["id"]] = self.judge(case, code, out, err, "file")

        n = len(all_cases)
        rates = [self.report("--admin", res_admin, n),
                 self.report("SHOW SUGGESTIONS", res_live, n),
                 self.report("--stats-file", res_file, n)]
        if notices:
            print("SHOW SUGGESTIONS notices: %s" % notices)
        for r in rates:
            self.assertGreaterEqual(r, 95.0)

    def test_show_suggestions_does_not_block(self):
        """
        SHOW SUGGESTIONS reads the catalog on a worker thread: while that read hangs (the
        database's upstream is a socket that accepts and never answers), other admin and
        proxied clients are served; when it fails, the waiting client gets a notice and an
        empty answer, and its connection works on. A client that leaves while its SHOW
        SUGGESTIONS is running costs nothing.
        """
        if harness.DIRECT:
            self.skipTest("needs pgsift (PGSIFT_DIRECT=1)")
        db = "advstall"
        self.srv.query("CREATE DATABASE %s" % db)
        self.srv.query("CREATE TABLE t (id int, a int)", dbname=db)
        px = harness.Pgsift(self.srv, settings={"admin_users": harness.SUPERUSER,
                                                "advisor_min_table_rows": 0})
        staller = socket.socket()
        staller.bind(("127.0.0.1", 0))
        staller.listen(8)
        accepted = []

        def accept_all():
            while True:
                try:
                    accepted.append(staller.accept()[0])
                except OSError:
                    return
        th = threading.Thread(target=accept_all, daemon=True)
        th.start()
        try:
            c = px.connect(dbname=db)
            for i in range(CALLS):
                c.cursor().execute("SELECT * FROM t WHERE a = %d" % i)
            c.close()
            # the database now reaches its upstream through the staller
            upstream = "host=%s port=%d" % (self.srv.host, self.srv.port)
            with open(px.ini_path, "w") as f:
                f.write(px.ini_text.replace(
                    "[databases]\n", "[databases]\n%s = host=127.0.0.1 port=%d\n" %
                    (db, staller.getsockname()[1])))
            admin = px.connect(dbname="pgsift")
            admin.cursor().execute("RELOAD")
            # a client that leaves while its SHOW SUGGESTIONS runs
            gone, err = harness.raw_login(px, {"user": harness.SUPERUSER, "database": "pgsift"})
            self.assertIsNone(err)
            gone.sendall(harness.message(b"Q", b"SHOW SUGGESTIONS\0"))
            harness.wait_until(lambda: len(accepted) >= 1, 30, "the first catalog read")
            gone.close()
            waiting, err = harness.raw_login(px, {"user": harness.SUPERUSER,
                                                  "database": "pgsift"})
            self.assertIsNone(err)
            waiting.sendall(harness.message(b"Q", b"SHOW SUGGESTIONS\0"))
            harness.wait_until(lambda: len(accepted) >= 2, 30, "the second catalog read")
            # both catalog reads hang: the loop still serves the console and the proxy
            cur = admin.cursor()
            cur.execute("SHOW VERSION")
            self.assertEqual(len(cur.fetchall()), 1)
            other = px.connect(dbname=harness.TESTDB)
            cur = other.cursor()
            cur.execute("SELECT 41 + 1")
            self.assertEqual(cur.fetchall(), [(42,)])
            other.close()
            waiting.settimeout(0.2)
            with self.assertRaises(socket.timeout):
                harness.read_message(waiting)
            # the upstream gives up: the waiting client gets its answer
            for s in accepted:
                s.close()
            waiting.settimeout(30)
            got = []
            while True:
                m = harness.read_message(waiting)
                self.assertIsNotNone(m)
                got.append(m)
                if m[0] == b"Z":
                    break
            kinds = [m[0] for m in got]
            self.assertEqual(kinds, [b"N", b"T", b"C", b"Z"], got)
            notice = harness.parse_error(got[0][1])
            self.assertTrue(notice["M"].startswith(
                "database advstall: cannot read the catalog: "), notice)
            self.assertEqual(got[2][1], b"SHOW\0")
            # the same connection goes on
            waiting.sendall(harness.message(b"Q", b"SHOW VERSION\0"))
            kinds = []
            while not kinds or kinds[-1] != b"Z":
                kinds.append(harness.read_message(waiting)[0])
            self.assertEqual(kinds, [b"T", b"D", b"C", b"Z"])
            waiting.close()
            admin.close()
        finally:
            staller.close()
            for s in accepted:
                s.close()
            rc = px.stop()
        self.assertEqual(px.sanitizer_reports(), [])
        self.assertIn(rc, (0, -15))

    def judge(self, case, code, out, err, mode):
        if code != 0:
            print("FAIL %-8s %-40s exit %d %s" % (mode, case["id"], code, err.strip()[:200]))
            return False, "exit %d: %s" % (code, err.strip()[:300])
        doc = json.loads(out)
        ok, got, want, better = compare(case, doc["suggestions"])
        print("%s %-8s %-40s %s" % ("ok  " if ok else "FAIL", mode, case["id"], got))
        return ok, "got %s, want %s or %s; skipped: %s" % (got, want, better,
                                                            doc.get("skipped"))


if __name__ == "__main__":
    unittest.main(verbosity=2)


class SampledTextInShowQueries(unittest.TestCase):
    """
    SHOW QUERIES carries one sampled execution per statement (sample_query, sample_params), so
    that `pgsift suggest --admin` sees the application's constants: `status = 'running'` is a
    partial-index predicate only when the advisor reads the literal, not `$2`. Values stay out
    unless log_parameters = 1: a prepared statement's text (the application's SQL) is shown,
    its parameters and simple-protocol texts (which hold the values) are not.
    """

    REAP = ("UPDATE jobs SET status = 'queued', locked_at = NULL "
            "WHERE status = 'running' AND locked_at < now() - $1::interval")
    SIMPLE = "SELECT count(*) FROM jobs WHERE owner = 'alice-%d'"
    # run 3 times after the 64 above on the same connection: none of its Binds is among the
    # sampled ones (one in 64 per client), its text is sampled all the same
    RARE = "SELECT id FROM jobs WHERE status IN ('queued', 'pending') AND owner = $1 LIMIT 5"

    @classmethod
    def setUpClass(cls):
        cls.srv = harness.pg()
        cls.db = "advsample"
        cls.srv.query("CREATE DATABASE %s" % cls.db)
        # 50,000 jobs, 0.4% of them running: a rare value, so a partial index
        cls.srv.query(
            "CREATE TABLE jobs (id bigserial PRIMARY KEY, owner text NOT NULL, "
            "status text NOT NULL, locked_at timestamptz);"
            "INSERT INTO jobs (owner, status, locked_at) SELECT 'alice-' || (g % 500), "
            "CASE WHEN g % 250 = 0 THEN 'running' ELSE 'done' END, "
            "now() - (g % 1000) * interval '1 minute' FROM generate_series(1, 50000) g;"
            "ANALYZE jobs", dbname=cls.db)

    def run_workload(self, px):
        pg = pq.PGconn.connect(px.dsn(dbname=self.db).encode())
        try:
            self.assertEqual(pg.status, pq.ConnStatus.OK, pg.error_message)
            # every Bind sampled when log_parameters = 1, one in 64 otherwise: 64 calls
            for _ in range(64):
                r = pg.exec_params(self.REAP.encode(), [b"10 minutes"])
                self.assertEqual(r.status, pq.ExecStatus.COMMAND_OK, pg.error_message)
            for _ in range(3):
                r = pg.exec_params(self.RARE.encode(), [b"alice-1"])
                self.assertEqual(r.status, pq.ExecStatus.TUPLES_OK, pg.error_message)
        finally:
            pg.finish()
        c = px.connect(dbname=self.db)
        for i in range(5):
            c.cursor().execute(self.SIMPLE % i)
        c.close()

    def show_queries(self, px):
        c = psycopg2.connect(px.dsn(dbname="pgsift"))
        c.autocommit = True
        try:
            cur = c.cursor()
            cur.execute("SHOW QUERIES")
            cols = [d[0] for d in cur.description]
            return {r[cols.index("query")]: dict(zip(cols, r)) for r in cur.fetchall()
                    if r[cols.index("database")] == self.db}
        finally:
            c.close()

    def rows_after_workload(self, px):
        def both():
            rows = self.show_queries(px)
            calls = sorted((q.split()[0], r["calls"]) for q, r in rows.items())
            return calls == [("SELECT", 3), ("SELECT", 5), ("UPDATE", 64)]
        harness.wait_until(both, 10, "the workload's statements in SHOW QUERIES")
        rows = self.show_queries(px)
        reap = [r for q, r in rows.items() if q.startswith("UPDATE")][0]
        simple = [r for q, r in rows.items() if q.startswith("SELECT count")][0]
        rare = [r for q, r in rows.items() if q.startswith("SELECT id")][0]
        self.assertEqual(rare["sample_query"], self.RARE)
        return reap, simple, rare

    def test_default_shows_prepared_text_without_values(self):
        if harness.DIRECT:
            self.skipTest("needs pgsift (PGSIFT_DIRECT=1)")
        px = harness.Pgsift(self.srv, settings={"admin_users": harness.SUPERUSER})
        try:
            self.run_workload(px)
            reap, simple, rare = self.rows_after_workload(px)
            self.assertIsNone(rare["sample_params"])
            # the normalized text has $n for the literals too; the sample keeps them
            self.assertEqual(reap["query"],
                             "UPDATE jobs SET status = $2, locked_at = $3 WHERE status = $4 "
                             "AND locked_at < now() - $1::interval")
            self.assertEqual(reap["sample_query"], self.REAP)
            self.assertIsNone(reap["sample_params"])
            self.assertEqual(simple["query"], "SELECT count(*) FROM jobs WHERE owner = $1")
            self.assertIsNone(simple["sample_query"])
            self.assertIsNone(simple["sample_params"])
            code, out, err = self.suggest(px)
        finally:
            px.stop()
        self.assertEqual(px.sanitizer_reports(), [])
        self.assertEqual(code, 0, err)
        got = sorted(cases.from_json(s) for s in json.loads(out)["suggestions"])
        self.assertIn(cases.parse_expected(
            "CREATE INDEX ON public.jobs USING btree (locked_at) WHERE status = 'running'"), got)

    def test_log_parameters_shows_values(self):
        if harness.DIRECT:
            self.skipTest("needs pgsift (PGSIFT_DIRECT=1)")
        px = harness.Pgsift(self.srv, settings={"admin_users": harness.SUPERUSER,
                                                "log_parameters": 1})
        try:
            self.run_workload(px)
            reap, simple, rare = self.rows_after_workload(px)
            self.assertEqual(rare["sample_params"], '{"alice-1"}')
            self.assertEqual(reap["sample_query"], self.REAP)
            self.assertEqual(reap["sample_params"], '{"10 minutes"}')
            self.assertIn(simple["sample_query"], [self.SIMPLE % i for i in range(5)])
            self.assertIsNone(simple["sample_params"])
        finally:
            px.stop()
        self.assertEqual(px.sanitizer_reports(), [])

    def suggest(self, px):
        cmd = [harness.PGSIFT_BIN, "suggest", "--format", "json",
               "--admin", px.dsn(dbname="pgsift"), "--dsn", self.srv.dsn(dbname=self.db)]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        return r.returncode, r.stdout.decode(), r.stderr.decode()
