"""
test_stats_store: the fleet statistics store (stats_dsn): several pgsift processes write their
statistics into one PostgreSQL, which the fleet reads as one (the tables and the pgsift_hourly
view of the README's "Fleet statistics").

- One pgsift writing into a database of the test's own PostgreSQL every second: after
  pgbench -S -t N, the select's calls summed over the store's rows are exactly pgbench's
  transaction count, every row's histogram holds its calls, the application column is the
  client's application_name, a failing statement's errors are counted by SQLSTATE class, the
  digest's text and column sets are in pgsift_queries, and the view's p50/p95/p99 for the hour
  are SHOW QUERIES's, digit for digit.
- Three pgsift processes sharing one port (so_reuseport) and one store: the fleet's calls for
  the select equal pgbench's transaction count, and the p50 of the merged histograms is the
  exact p50 of every statement's duration (from the three slow-query logs) within 1%.
- A store (a PostgreSQL cluster of its own) stopped for 30 s while pgbench runs: no client
  transaction fails, pgsift's memory stays bounded, and once the store is back the fleet's calls
  are pgbench's count. With stats_dsn_backlog = 1 rows are dropped and counted in /metrics, and
  the calls in the store plus the calls counted as dropped are exactly the calls pgsift saw.

Run: PGSIFT_BIN=build/pgsift /usr/bin/python3 tests/integration/test_stats_store.py
"""

import glob
import json
import math
import os
import re
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DIRECT, SUPERUSER, TESTDB, PgsiftTestCase, wait_until  # noqa: E402

import psycopg2  # noqa: E402

PGBENCH_SELECT = "SELECT abalance FROM pgbench_accounts WHERE aid = $1"
SELECT_TEXTS = (PGBENCH_SELECT, PGBENCH_SELECT + ";")  # simple protocol: the client's text
STORE_DB = "pgsift_stats"
WAIT = 20  # seconds a write may take to show in the store (flush interval 1 s)


def admin_conn(px):
    conn = psycopg2.connect(px.dsn(dbname="pgsift", user=SUPERUSER))
    conn.autocommit = True
    return conn


def show(px, what):
    conn = admin_conn(px)
    try:
        cur = conn.cursor()
        cur.execute("SHOW " + what)
        names = [d.name for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        conn.close()


def totals(px):
    return {r["name"]: int(r["value"]) for r in show(px, "TOTALS")}


def store_query(server, sql, args=None):
    conn = server.connect(dbname=STORE_DB)
    try:
        cur = conn.cursor()
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def store_calls(server, schema, fingerprint, instance_like="%"):
    """The calls the store holds (-1 while its tables do not exist yet)."""
    try:
        rows = store_query(server, "SELECT coalesce(sum(calls), 0) FROM %s.pgsift_statements "
                       "WHERE fingerprint = %%s AND instance LIKE %%s" % schema,
                           (fingerprint, instance_like))
    except (psycopg2.errors.UndefinedTable, psycopg2.errors.InvalidSchemaName):
        return -1
    return int(rows[0][0])


def signed(fp_hex):
    """SHOW QUERIES's hex fingerprint as the bigint the store keeps (same bits)."""
    v = int(fp_hex, 16)
    return v - (1 << 64) if v >= 1 << 63 else v


# stats/histogram.c, for merging the store's rows in Python
def hist_low(i):
    return i if i < 128 else (64 + i % 64) << (i // 64 - 1)


def hist_width(i):
    return 1 if i < 128 else 1 << (i // 64 - 1)


def hist_percentile(buckets, p):
    total = sum(buckets.values())
    rank = max(1, min(total, math.ceil(p / 100.0 * total)))
    cum = 0
    for i in sorted(buckets):
        cum += buckets[i]
        if cum >= rank:
            return hist_low(i) + hist_width(i) // 2
    return 0


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(pgsift_stats_store_\w+) (\d+)$", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def vmrss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@unittest.skipIf(DIRECT, "only meaningful through pgsift (PGSIFT_DIRECT=1)")
class StatsStoreTest(PgsiftTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = harness.run_pgbench(cls.pg, ["-i", "-s", "1", "-q"])
        assert r.returncode == 0, r
        cls.pg.query("CREATE DATABASE %s" % STORE_DB, dbname="postgres")

    def start_px(self, server, schema, **settings):
        s = {"stats_dsn": server.dsn(dbname=STORE_DB), "stats_dsn_schema": schema,
             "stats_flush_interval": "1", "admin_users": SUPERUSER}
        s.update(settings)
        return self.start_pgsift_for_test(settings=s)

    def select_fingerprint(self, px):
        def find():
            for r in show(px, "QUERIES"):
                if r["query"] in SELECT_TEXTS and r["database"] == TESTDB:
                    return r
            return None
        return wait_until(find, WAIT, "the pgbench select in SHOW QUERIES")

    def test_single_instance(self):
        schema = "fleet_one"
        px = self.start_px(self.pg, schema)
        n = 400
        r = harness.run_pgbench(px, ["-S", "-n", "-c", "2", "-t", str(n // 2)])
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.processed, n, r)
        # a failing statement from an application of its own: errors by class
        conn = px.connect(application_name="failer")
        cur = conn.cursor()
        for _ in range(3):
            with self.assertRaises(psycopg2.errors.DivisionByZero):
                cur.execute("SELECT 1 / 0")
        for _ in range(2):
            with self.assertRaises(psycopg2.errors.UndefinedTable):
                cur.execute("SELECT * FROM no_such_table_here")
        conn.close()

        row = self.select_fingerprint(px)
        fp = signed(row["fingerprint"])
        wait_until(lambda: store_calls(self.pg, schema, fp) == n, WAIT,
                   "the store's calls for the select to be %d" % n)

        rows = store_query(self.pg, "SELECT application, calls, hist_idx, hist_cnt, errors, "
                           "error_classes, instance FROM %s.pgsift_statements WHERE "
                           "fingerprint = %%s" % schema, (fp,))
        self.assertEqual({r[0] for r in rows}, {"pgbench"}, rows)
        for app, calls, idx, cnt, errors, classes, instance in rows:
            self.assertEqual(sum(cnt), calls, "histogram of %s" % instance)
            self.assertEqual(len(idx), len(cnt))
            self.assertEqual(idx, sorted(idx))
            self.assertEqual(errors, 0)
            self.assertEqual(classes, {})
        instance = rows[0][6]
        self.assertRegex(instance, r"^.+:%d:%d:\d+$" % (px.port, px.proc.pid))

        def failer_rows():
            got = store_query(self.pg, "SELECT sum(calls), sum(errors), jsonb_agg(error_classes) "
                              "FROM %s.pgsift_statements WHERE application = 'failer'" % schema)
            return got[0] if got[0][0] == 5 else None
        calls, errors, classes = wait_until(failer_rows, WAIT, "the failing statements")
        self.assertEqual(errors, 5)
        merged = {}
        for c in classes:
            for k, v in c.items():
                merged[k] = merged.get(k, 0) + v
        self.assertEqual(merged, {"22": 3, "42": 2})

        q = store_query(self.pg, "SELECT kind, query, columns, samples FROM %s.pgsift_queries "
                        "WHERE fingerprint = %%s AND database = %%s" % schema, (fp, TESTDB))
        self.assertEqual(len(q), 1, q)
        self.assertEqual(q[0][0], "select")  # stmt_kind_str
        self.assertIn(q[0][1], SELECT_TEXTS)
        self.assertIn("pgbench_accounts", q[0][2]["tables"])
        self.assertIn("pgbench_accounts.aid", q[0][2]["where"])
        self.assertIsNone(q[0][3])  # no samples without log_parameters

        inst = store_query(self.pg, "SELECT pid, listen_port, version FROM "
                           "%s.pgsift_instances WHERE instance = %%s" % schema, (instance,))
        self.assertEqual(inst, [(px.proc.pid, px.port, "0.1.0")])

        # The view against SHOW QUERIES (the whole run is within one hour unless it crossed one).
        view = store_query(self.pg, "SELECT calls, p50_ms, p95_ms, p99_ms, max_ms, query FROM "
                           "%s.pgsift_hourly WHERE fingerprint = %%s" % schema,
                           (row["fingerprint"],))
        if len(view) != 1:
            self.skipTest("the run crossed an hour: %r" % view)
        row = self.select_fingerprint(px)
        calls, p50, p95, p99, mx, text = view[0]
        self.assertEqual(calls, row["calls"])
        self.assertIn(text, SELECT_TEXTS)
        for name, v in (("p50_ms", p50), ("p95_ms", p95), ("p99_ms", p99), ("max_ms", mx)):
            self.assertEqual("%.3f" % v, "%.3f" % float(row[name]), name)

    def test_retention(self):
        """Hours older than stats_retention are deleted by the writer (its first run is right
        after its first successful write), in the statement and table-write tables alike."""
        schema = "fleet_ret"
        px = self.start_px(self.pg, schema)
        wait_until(lambda: store_calls(self.pg, schema, 0) >= 0, WAIT, "the store's tables")
        px.stop()
        store_query(self.pg, "INSERT INTO %s.pgsift_statements (instance, hour, fingerprint, "
                    "database, username, application, calls, errors, timeouts, cancelled, rows, "
                    "total_ns, min_ns, max_ns, first_seen, last_seen, hist_idx, hist_cnt) "
                    "SELECT 'old:1:1:1', '2020-01-01'::timestamptz + g * interval '1 hour', 1, "
                    "'db', 'u', '', 1, 0, 0, 0, 0, 5, 5, 5, now(), now(), '{5}', '{1}' "
                    "FROM generate_series(1, 30) g" % schema)
        store_query(self.pg, "INSERT INTO %s.pgsift_table_writes VALUES ('old:1:1:1', "
                    "'2020-01-01', 't', 1, 0, 0, 1)" % schema)
        self.start_px(self.pg, schema, stats_retention="7d")

        def gone():
            a = store_query(self.pg, "SELECT count(*) FROM %s.pgsift_statements WHERE "
                            "instance = 'old:1:1:1'" % schema)[0][0]
            b = store_query(self.pg, "SELECT count(*) FROM %s.pgsift_table_writes WHERE "
                            "instance = 'old:1:1:1'" % schema)[0][0]
            return a == 0 and b == 0
        wait_until(gone, WAIT, "the old hours to be deleted")

    def test_three_processes_one_port(self):
        schema = "fleet_three"
        port = harness.free_port()
        real_free_port = harness.free_port
        pxs = []
        tmp = tempfile.mkdtemp(prefix="pgsift-it-store-")
        harness.register_cleanup(lambda: __import__("shutil").rmtree(tmp, ignore_errors=True))
        try:
            harness.free_port = lambda: port
            for i in range(3):
                pxs.append(self.start_px(
                    self.pg, schema, so_reuseport="1", slow_query_ms="0",
                    slow_query_log=os.path.join(tmp, "slow%d.log" % i),
                    pidfile=os.path.join(tmp, "pgsift%d.pid" % i)))
        finally:
            harness.free_port = real_free_port
        # nine connections: the kernel spreads them over the three processes (all on one
        # process has a chance of 3 ** -8)
        r = harness.run_pgbench(pxs[0], ["-S", "-n", "-c", "9", "-t", "50"])
        self.assertEqual(r.returncode, 0, r)
        n = r.processed
        self.assertEqual(n, 450, r)
        fp_hex = None
        for px in pxs:
            for q in show(px, "QUERIES"):
                if q["query"] in SELECT_TEXTS:
                    fp_hex = q["fingerprint"]
        self.assertIsNotNone(fp_hex)
        fp = signed(fp_hex)
        wait_until(lambda: store_calls(self.pg, schema, fp) == n, WAIT,
                   "the fleet's calls for the select to be %d" % n)
        rows = store_query(self.pg, "SELECT instance, hist_idx, hist_cnt FROM "
                           "%s.pgsift_statements WHERE fingerprint = %%s" % schema, (fp,))
        self.assertGreaterEqual(len({r[0] for r in rows}), 2,
                                "so_reuseport spread the connections: %r" % rows)
        merged = {}
        for _, idx, cnt in rows:
            for i, c in zip(idx, cnt):
                merged[i] = merged.get(i, 0) + c
        self.assertEqual(sum(merged.values()), n)

        # the exact p50: every select's duration from the three slow-query logs
        def durations():
            d = []
            for path in glob.glob(os.path.join(tmp, "slow*.log")):
                with open(path) as f:
                    for line in f:
                        e = json.loads(line)
                        if e.get("fingerprint") == fp_hex:
                            d.append(float(e["duration_ms"]))
            return d if len(d) == n else None
        d = sorted(wait_until(durations, WAIT, "%d selects in the slow logs" % n))
        exact_p50_ns = d[math.ceil(0.5 * n) - 1] * 1e6
        self.assertGreater(exact_p50_ns, 0)
        fleet_p50_ns = hist_percentile(merged, 50)
        harness.log("three processes: %d calls over %d instances; fleet p50 %d ns, exact %d ns"
                    % (n, len({r[0] for r in rows}), fleet_p50_ns, exact_p50_ns))
        self.assertLessEqual(abs(fleet_p50_ns - exact_p50_ns), 0.01 * exact_p50_ns,
                             "fleet p50 %d ns, exact %d ns" % (fleet_p50_ns, exact_p50_ns))
        view = store_query(self.pg, "SELECT sum(calls), max(p50_ms) FROM %s.pgsift_hourly "
                           "WHERE fingerprint = %%s" % schema, (fp_hex,))
        self.assertEqual(view[0][0], n)
        if len(store_query(self.pg, "SELECT DISTINCT hour FROM %s.pgsift_statements" %
                           schema)) == 1:
            self.assertAlmostEqual(view[0][1], fleet_p50_ns / 1e6, places=9)

    def test_store_down(self):
        store = harness.PgServer()  # a cluster used only as the store
        store.query("CREATE DATABASE %s" % STORE_DB, dbname="postgres")
        schema = "fleet_down"
        mport, mport_tiny = harness.free_port(), harness.free_port()
        px = self.start_px(store, schema, metrics_listen="127.0.0.1:%d" % mport)
        tiny = self.start_px(store, schema, metrics_listen="127.0.0.1:%d" % mport_tiny,
                             stats_dsn_backlog="1")
        wait_until(lambda: metrics(mport).get("pgsift_stats_store_up") == 1, WAIT,
                   "the store to be up")
        bench = harness.start_pgbench(px, ["-S", "-n", "-c", "2", "-R", "100", "-T", "40"])
        time.sleep(3)
        rss_before = vmrss_kb(px.proc.pid)
        store.stop()
        down_at = time.monotonic()
        rss_max = rss_before
        # distinct statements through the tiny-backlog pgsift while the store is down
        tiny_calls = 0
        conn = tiny.connect(application_name="tiny")
        cur = conn.cursor()
        for round_ in range(3):
            for t in ("pgbench_accounts", "pgbench_branches", "pgbench_tellers",
                      "pgbench_history"):
                cur.execute("SELECT count(*) FROM %s" % t)
                tiny_calls += 1
            time.sleep(1.5)  # over a flush: the backlog bound applies between them
        conn.close()
        while time.monotonic() - down_at < 30:
            rss_max = max(rss_max, vmrss_kb(px.proc.pid))
            time.sleep(1)
        m = metrics(mport)
        self.assertEqual(m["pgsift_stats_store_up"], 0, m)
        self.assertGreater(m["pgsift_stats_store_write_errors_total"], 0, m)
        mt = metrics(mport_tiny)
        self.assertGreater(mt["pgsift_stats_store_rows_dropped_total"], 0, mt)
        self.assertGreater(mt["pgsift_stats_store_calls_dropped_total"], 0, mt)
        store.start()
        r = harness.finish_pgbench(bench, 60)
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.failed or 0, 0, r)
        harness.log("store down: %d transactions, VmRSS %d kB -> max %d kB; tiny backlog: %r"
                    % (r.processed, rss_before, rss_max, mt))
        # The rows waiting while the store was down are bounded by the distinct keys (here one
        # select, one application, one hour): 30 s of an unreachable store must not grow
        # pgsift's memory by more than the allocator's noise; 8 MB is ample.
        self.assertLess(rss_max - rss_before, 8 * 1024,
                        "VmRSS grew from %d kB to %d kB" % (rss_before, rss_max))
        row = self.select_fingerprint(px)
        fp = signed(row["fingerprint"])
        wait_until(lambda: store_calls(store, schema, fp, "%%:%d:%%" % px.port) == r.processed,
                   WAIT, "the fleet's calls to be pgbench's %d after the store came back" %
                   r.processed)
        m = metrics(mport)
        self.assertEqual(m["pgsift_stats_store_rows_dropped_total"], 0, m)
        self.assertEqual(m["pgsift_stats_store_up"], 1, m)

        # tiny backlog: what the store has plus what was counted as dropped is all of it
        def tiny_balance():
            mt = metrics(mport_tiny)
            got = store_query(store, "SELECT coalesce(sum(calls), 0) FROM %s.pgsift_statements "
                              "WHERE instance LIKE %%s" % schema, ("%%:%d:%%" % tiny.port,))
            seen = totals(tiny)["stats_queries"]
            return (int(got[0][0]) + mt["pgsift_stats_store_calls_dropped_total"] == seen and
                    mt["pgsift_stats_store_backlog_rows"] == 0)
        wait_until(tiny_balance, WAIT, "store + dropped calls == calls seen (tiny backlog)")
        dropped = store_query(store, "SELECT rows_dropped, calls_dropped FROM "
                              "%s.pgsift_instances WHERE instance LIKE %%s" % schema,
                              ("%%:%d:%%" % tiny.port,))
        self.assertGreater(dropped[0][0], 0, dropped)
        self.assertGreater(dropped[0][1], 0, dropped)
        # SHOW STATS: per database, adding up to the process's total
        per_db = {r["database"]: r["stats_store_calls_dropped"] for r in show(tiny, "STATS")}
        self.assertEqual(sum(per_db.values()),
                         metrics(mport_tiny)["pgsift_stats_store_calls_dropped_total"], per_db)
        self.assertGreater(per_db.get(harness.TESTDB, 0), 0, per_db)


if __name__ == "__main__":
    unittest.main()
