"""
test_metrics: the Prometheus endpoint. pgsift runs with metrics_listen on a free port; after
known traffic, GET /metrics must give the exact counts (statements and errors per database, the
duration histogram, slow statements and timeouts, pool gauges), escape label values, and pass
`promtool check metrics` (Debian's prometheus package) without a single complaint.

Statement counters come from the statistics worker, which counts asynchronously: tests poll
/metrics with a deadline until the expected value shows up, never sleep.

Run: PGSIFT_BIN=build/pgsift /usr/bin/python3 tests/integration/test_metrics.py
"""

import os
import re
import socket
import subprocess
import sys
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DIRECT, SUPERUSER, TESTDB, PgsiftTestCase, wait_until  # noqa: E402

import psycopg2  # noqa: E402

PROMTOOL = "/usr/bin/promtool"
COUNT_DB = "postgres"                 # only test_exact_counts sends statements there
ODD_DB = 'metrics "odd" \\ db'        # a database name that needs label escaping
ODD_DB_LABEL = 'metrics \\"odd\\" \\\\ db'
SLOW_MS = 150
QUERY_TIMEOUT_MS = 300


def parse_metrics(text):
    """{(name, frozenset of (label, raw escaped value))): float} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        if not m:
            raise AssertionError("not an exposition line: %r" % line)
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                      m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def key(name, **labels):
    return (name, frozenset(labels.items()))


@unittest.skipIf(DIRECT, "the metrics endpoint is pgsift's (PGSIFT_DIRECT=1)")
class MetricsTest(PgsiftTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg.query('CREATE DATABASE "%s"' % ODD_DB.replace('"', '""'), dbname="postgres")
        cls.mport = harness.free_port()
        cls.px = cls.start_pgsift(settings={
            "metrics_listen": "127.0.0.1:%d" % cls.mport,
            "slow_query_ms": str(SLOW_MS),
            "query_timeout": "%dms" % QUERY_TIMEOUT_MS,
        })

        # pgsift says it is ready when its client listener is up; the metrics listener follows
        def metrics_up():
            try:
                socket.create_connection(("127.0.0.1", cls.mport), timeout=1).close()
                return True
            except OSError:
                return False
        wait_until(metrics_up, 10, "the metrics listener")

    def fetch(self, path="/metrics"):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.mport, path),
                                    timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["Content-Type"],
                             "text/plain; version=0.0.4; charset=utf-8")
            return r.read().decode()

    def wait_value(self, k, expected, what):
        """Polls /metrics until sample k equals expected; returns the parsed metrics."""
        last = {}

        def check():
            nonlocal last
            last = parse_metrics(self.fetch())
            return last if last.get(k) == expected else None
        try:
            return wait_until(check, 10, what)
        except AssertionError:
            raise AssertionError("%s: %r is %r, expected %r" % (what, k, last.get(k), expected))

    def test_exact_counts(self):
        """Statements and errors by database, and the histogram, count exactly."""
        before = parse_metrics(self.fetch())
        hist_before = before.get(key("pgsift_query_duration_seconds_count"), 0)
        conn = self.px.connect(dbname=COUNT_DB)
        try:
            for i in range(7):
                conn.cursor().execute("SELECT %d" % i)
            for _ in range(2):
                self.assertRaises(psycopg2.Error, conn.cursor().execute, "SELECT 1/0")
        finally:
            conn.close()
        m = self.wait_value(key("pgsift_queries_total", database=COUNT_DB), 9,
                            "9 statements in database %s" % COUNT_DB)
        self.assertEqual(m[key("pgsift_query_errors_total", database=COUNT_DB)], 2)
        self.assertEqual(m[key("pgsift_query_timeouts_total", database=COUNT_DB)], 0)
        self.assertGreater(m[key("pgsift_query_time_seconds_total", database=COUNT_DB)], 0)
        # the histogram: cumulative, +Inf equals _count, _count covers every database
        bounds = sorted((float(dict(k[1])["le"]), v) for k, v in m.items()
                        if k[0] == "pgsift_query_duration_seconds_bucket"
                        and dict(k[1])["le"] != "+Inf")
        self.assertEqual(len(bounds), 14)
        counts = [v for _, v in bounds]
        self.assertEqual(counts, sorted(counts))
        total = m[key("pgsift_query_duration_seconds_count")]
        self.assertEqual(m[key("pgsift_query_duration_seconds_bucket", le="+Inf")], total)
        self.assertGreaterEqual(total, hist_before + 9)
        self.assertEqual(total, sum(v for k, v in m.items() if k[0] == "pgsift_queries_total"))
        self.assertEqual(m[key("pgsift_stats_events_dropped_total")], 0)
        self.assertEqual(m[key("pgsift_stats_events_processed_total")],
                         m[key("pgsift_stats_events_submitted_total")])
        self.assertGreater(m[key("pgsift_parser_cache_hits_total")], 0)
        self.assertGreater(m[key("pgsift_parser_cache_misses_total")], 0)

    def test_slow_queries_and_timeouts(self):
        before = parse_metrics(self.fetch())
        slow0 = before.get(key("pgsift_slow_queries_total"), 0)
        conn = self.px.connect()
        try:
            conn.cursor().execute("SELECT pg_sleep(%f)" % ((SLOW_MS + 50) / 1000.0))
            self.wait_value(key("pgsift_slow_queries_total"), slow0 + 1, "one slow statement")
            with self.assertRaises(psycopg2.Error) as cm:
                conn.cursor().execute("SELECT pg_sleep(5)")
            self.assertEqual(cm.exception.pgcode, "57014")
            # the connection stays usable after pgsift's own timeout
            cur = conn.cursor()
            cur.execute("SELECT 1")
            self.assertEqual(cur.fetchall(), [(1,)])
        finally:
            conn.close()
        self.wait_value(key("pgsift_query_timeouts_total", database=TESTDB),
                        before.get(key("pgsift_query_timeouts_total", database=TESTDB), 0) + 1,
                        "one statement cancelled by query_timeout")

    def test_pool_gauges(self):
        conn = self.px.connect()
        try:
            conn.cursor().execute("SELECT 1")
            m = parse_metrics(self.fetch())
            pool = dict(database=TESTDB, user=SUPERUSER)
            self.assertEqual(m[key("pgsift_pool_clients_active", **pool)], 1)
            self.assertEqual(m[key("pgsift_pool_clients_waiting", **pool)], 0)
            self.assertEqual(m[key("pgsift_pool_servers_active", **pool)], 1)
            self.assertEqual(m[key("pgsift_pool_size", **pool)], 20)
            self.assertEqual(m[key("pgsift_client_connections", state="active")], 1)
            self.assertEqual(m[key("pgsift_server_connections", state="active")], 1)
            self.assertEqual(m[key("pgsift_up")], 1)
        finally:
            conn.close()
        # session pooling: the server goes back idle when the client leaves
        self.wait_value(key("pgsift_pool_servers_idle", database=TESTDB, user=SUPERUSER), 1,
                        "the server back idle")

    def test_label_values_are_escaped(self):
        conn = self.px.connect(dbname=ODD_DB)
        try:
            conn.cursor().execute("SELECT 1")
            conn.cursor().execute("SELECT 2")
        finally:
            conn.close()
        self.wait_value(key("pgsift_queries_total", database=ODD_DB_LABEL), 2,
                        "2 statements in the oddly named database")
        text = self.fetch()
        self.assertIn('pgsift_queries_total{database="%s"} 2\n' % ODD_DB_LABEL, text)
        self.assertIn('pgsift_pool_size{database="%s",user="%s"} 20\n' % (
            ODD_DB_LABEL, SUPERUSER), text)

    @unittest.skipUnless(os.path.exists(PROMTOOL), "promtool (Debian package prometheus) "
                         "not installed")
    def test_promtool_check_metrics(self):
        """After traffic of every kind (errors, an escaped label), promtool finds nothing."""
        conn = self.px.connect(dbname=ODD_DB)
        try:
            conn.cursor().execute("SELECT 1")
            self.assertRaises(psycopg2.Error, conn.cursor().execute, "SELECT nope")
        finally:
            conn.close()
        self.wait_value(key("pgsift_query_errors_total", database=ODD_DB_LABEL), 1,
                        "the error counted")
        text = self.fetch()
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual((r.returncode, r.stdout.decode()), (0, ""), text)
        # every family has HELP and TYPE, counters end in _total, names start with pgsift_
        types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
        helps = set(re.findall(r"^# HELP (\S+) ", text, re.M))
        self.assertEqual(set(types), helps)
        for name, typ in types.items():
            self.assertTrue(name.startswith("pgsift_"), name)
            self.assertEqual(typ == "counter", name.endswith("_total"), name)

    def test_http(self):
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen("http://127.0.0.1:%d/other" % self.mport, timeout=10)
        self.assertEqual(cm.exception.code, 404)
        # a client that sends half a request and goes away costs nothing
        s = socket.create_connection(("127.0.0.1", self.mport), timeout=5)
        s.sendall(b"GET /met")
        s.close()
        self.assertIn("pgsift_up 1\n", self.fetch())


if __name__ == "__main__":
    unittest.main(verbosity=2)
