"""
test_fleet: the same traffic through one pgsift (its stats file) and through three pgsift
processes on one port (so_reuseport, peering) writing into one stats_dsn store. The fleet's
view must be the one process's: the same calls per statement (`pgsift top -c FILE`, which takes
stats_dsn from a proxy's configuration) and the same index suggestions (`pgsift suggest
--stats-dsn` against `pgsift suggest --stats-file`).
"""

import json
import os
import subprocess
import sys
import unittest

import psycopg2
import psycopg2.errors

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_reuseport  # noqa: E402

STOREDB = "pgsift_fleet_e2e"


def run(args, timeout=120):
    r = subprocess.run([harness.PGSIFT_BIN] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


# (statement, how many times); each run on a connection of its own, so that through the
# shared port the kernel spreads them over the processes
WORKLOAD = (
    [("SELECT * FROM e2e_orders WHERE customer_id = %d" % (i * 7), 1) for i in range(30)] +
    [("SELECT id FROM e2e_orders WHERE status = 'pending' ORDER BY created_at DESC LIMIT 10",
      20)] +
    [("UPDATE e2e_orders SET note = 'n%d' WHERE customer_id = %d" % (i, i), 1)
     for i in range(15)] +
    [("SELECT count(*) FROM e2e_items WHERE order_id = %d" % i, 1) for i in range(25)]
)


def run_workload(px):
    for sql, times in WORKLOAD:
        conn = px.connect()
        cur = conn.cursor()
        for _ in range(times):
            cur.execute(sql)
            if cur.description:
                cur.fetchall()
        conn.close()


class FleetEndToEnd(harness.PgsiftTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        pg = cls.pg
        conn = pg.connect(dbname="postgres")
        cur = conn.cursor()
        cur.execute("DROP DATABASE IF EXISTS " + STOREDB)
        cur.execute("CREATE DATABASE " + STOREDB)
        conn.close()
        pg.query("DROP TABLE IF EXISTS e2e_items, e2e_orders")
        pg.query("CREATE TABLE e2e_orders (id serial PRIMARY KEY, customer_id int, status text, "
                 "created_at timestamptz, note text)")
        pg.query("INSERT INTO e2e_orders (customer_id, status, created_at) SELECT g % 5000, "
                 "CASE WHEN g % 50 = 0 THEN 'pending' ELSE 'done' END, now() - g * "
                 "interval '1 minute' FROM generate_series(1, 30000) g")
        pg.query("CREATE TABLE e2e_items (id serial PRIMARY KEY, order_id int, sku text)")
        pg.query("INSERT INTO e2e_items (order_id, sku) SELECT g % 20000, 'sku' || g "
                 "FROM generate_series(1, 40000) g")
        pg.query("ANALYZE e2e_orders")
        pg.query("ANALYZE e2e_items")

    def single_process_stats(self):
        stats_file = os.path.join(self.pg.tmp, "fleet-e2e-single.bin")
        if os.path.exists(stats_file):
            os.unlink(stats_file)
        px = self.start_pgsift_for_test(settings={"stats_file": stats_file,
                                                  "log_parameters": 1,
                                                  "pool_mode": "transaction",
                                                  "admin_users": harness.SUPERUSER})
        run_workload(px)
        admin = px.connect(dbname="pgsift")
        cur = admin.cursor()

        def counted():
            cur.execute("SHOW QUERIES")
            names = [d.name for d in cur.description]
            rows = [dict(zip(names, r)) for r in cur.fetchall()]
            total = sum(r["calls"] for r in rows if "e2e_" in r["query"])
            return rows if total == sum(t for _, t in WORKLOAD) else None
        rows = harness.wait_until(counted, 15, "the workload in SHOW QUERIES")
        admin.close()
        px.stop()
        calls = {r["query"]: r["calls"] for r in rows if "e2e_" in r["query"]}
        return stats_file, calls

    def fleet_stats(self):
        dsn = self.pg.dsn(dbname=STOREDB)
        dirs = test_reuseport.group_dirs(3)
        port = harness.free_port()
        procs = test_reuseport.start_group(self, port, dirs, extra={
            "stats_dsn": dsn, "stats_flush_interval": 1,
            "log_parameters": 1})
        run_workload(procs[0])
        want = sum(t for _, t in WORKLOAD)

        def written():
            try:
                rows = self.pg.query(
                    "SELECT coalesce(sum(s.calls), 0) FROM pgsift.pgsift_statements s JOIN "
                    "pgsift.pgsift_queries q USING (fingerprint, database, username) WHERE "
                    "q.query LIKE '%e2e_%'", dbname=STOREDB)
            except psycopg2.errors.UndefinedTable:
                return False  # the writer has not created its tables yet
            return rows[0][0] == want
        harness.wait_until(written, 30, "the fleet's calls in the store")
        served = self.pg.query("SELECT count(DISTINCT instance) FROM pgsift.pgsift_statements",
                               dbname=STOREDB)[0][0]
        return dsn, procs, served

    def test_fleet_view_is_the_single_process_view(self):
        if harness.DIRECT:
            self.skipTest("needs pgsift")
        stats_file, single_calls = self.single_process_stats()
        dsn, procs, served = self.fleet_stats()
        self.assertGreaterEqual(served, 2, "so_reuseport spread the connections")

        # pgsift top -c FILE: stats_dsn from the proxy's own configuration
        code, out, err = run(["top", "-c", procs[0].ini_path, "--format", "json",
                              "--limit", "0"])
        self.assertEqual(code, 0, err)
        doc = json.loads(out)
        self.assertEqual(doc["instances"], served)
        fleet_calls = {s["query"]: s["calls"] for s in doc["statements"]
                       if "e2e_" in s["query"]}
        self.assertEqual(fleet_calls, single_calls)

        # the same index suggestions
        db = self.pg.dsn()
        base = ["suggest", "--dsn", db, "--min-table-rows", "0", "--format", "json"]
        c1, from_file, e1 = run(base + ["--stats-file", stats_file])
        c2, from_dsn, e2 = run(base + ["--stats-dsn", dsn])
        self.assertEqual((c1, c2), (0, 0), e1 + e2)

        def indexes(text):
            return sorted(s["sql"] for s in json.loads(text)["suggestions"])
        got, want = indexes(from_dsn), indexes(from_file)
        print("  suggestions: %s" % "; ".join(want))
        self.assertGreaterEqual(len(want), 2)
        self.assertEqual(got, want)
        # suggest -c FILE reads the same store when the file has no stats_file
        c3, from_cfg, e3 = run(base + ["-c", procs[0].ini_path])
        self.assertEqual(c3, 0, e3)
        self.assertEqual(indexes(from_cfg), want)


if __name__ == "__main__":
    unittest.main()
