"""
test_slowlog: the slow-query log as operators and their tools read it.

With slow_query_ms = 100 and slow_query_log = FILE, statements sleeping 0 ms, 150 ms and 200 ms
(each kind on its own marker table, so every line can be told apart) and one cancelled by
query_timeout:
- the file holds exactly the statements at or over the threshold, one JSON object per line with
  PostgreSQL's jsonlog keys (timestamp, user, dbname, remote_host, application_name,
  error_severity, message = "duration: N ms  statement: ...") and pgsift's (fingerprint,
  duration_ms, query, rows, sqlstate, timed_out), consistent with each other;
- constants are $n unless log_parameters = 1;
- SIGHUP reopens the file: after a logrotate-style rename, the next slow statement lands in a new
  file at the configured path;
- pgBadger (`-f jsonlog`) reads the file and reports the slow statements with their durations.

Lines are written asynchronously by the statistics worker: every check polls with a deadline.

Run: PGSIFT_BIN=build/pgsift /usr/bin/python3 tests/integration/test_slowlog.py
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DIRECT, SUPERUSER, TESTDB, PgsiftTestCase, wait_until  # noqa: E402

import psycopg  # noqa: E402  (psycopg 3: the extended protocol)
import psycopg2  # noqa: E402

SLOW_MS = 100
QUERY_TIMEOUT_MS = 400
WAIT = 15
PGBADGER = "/usr/bin/pgbadger"
APP = "slowlog_test"

JSONLOG_KEYS = ("timestamp", "user", "dbname", "remote_host", "application_name",
                "error_severity", "message")
PGSIFT_KEYS = ("fingerprint", "duration_ms", "query", "rows", "sqlstate", "timed_out")

# (marker table, seconds slept, times run); the one that does not sleep is under the threshold
# by far, so that a loaded machine does not make it slow
WORKLOAD = (("slow_fast", "0", 6), ("slow_mid", "0.15", 3), ("slow_top", "0.2", 2))
TIMED_OUT = ("slow_cancelled", "5")  # cancelled by query_timeout after QUERY_TIMEOUT_MS


def read_lines(path):
    try:
        with open(path) as f:
            return [line for line in f.read().split("\n") if line]
    except FileNotFoundError:
        return []


@unittest.skipIf(DIRECT, "the slow-query log is pgsift's (PGSIFT_DIRECT=1)")
class SlowLogTest(PgsiftTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = harness.scratch_dir("pgsift-it-slow-")
        sql = ""
        for table in [w[0] for w in WORKLOAD] + [TIMED_OUT[0], "slow_rotated", "slow_ext"]:
            sql += "CREATE TABLE %s (x int); INSERT INTO %s VALUES (1);" % (table, table)
        cls.pg.query(sql)

    def start(self, log_parameters):
        path = os.path.join(tempfile.mkdtemp(dir=self.tmp), "slow.json")
        px = self.start_pgsift_for_test(settings={
            "pool_mode": "transaction", "slow_query_ms": str(SLOW_MS), "slow_query_log": path,
            "log_parameters": "1" if log_parameters else "0",
            "query_timeout": "%dms" % QUERY_TIMEOUT_MS})
        return px, path

    def run_workload(self, px):
        conn = px.connect(application_name=APP)
        try:
            cur = conn.cursor()
            for table, secs, n in WORKLOAD:
                for _ in range(n):
                    cur.execute("SELECT pg_sleep(%s) FROM %s" % (secs, table))
            with self.assertRaises(psycopg2.errors.QueryCanceled):
                cur.execute("SELECT pg_sleep(%s) FROM %s" % (TIMED_OUT[1], TIMED_OUT[0]))
        finally:
            conn.close()

    def wait_lines(self, path, n, what):
        try:
            return wait_until(lambda: (lambda ls: ls if len(ls) >= n else None)(
                read_lines(path)), WAIT, what)
        except AssertionError:
            raise AssertionError("%s: %d lines in %s:\n%s" % (what, len(read_lines(path)), path,
                                                             "\n".join(read_lines(path))))

    def check_file(self, path, log_parameters):
        """Asserts the log holds exactly the workload's slow statements; returns the objects."""
        expected = sum(n for _, secs, n in WORKLOAD if float(secs) * 1000 >= SLOW_MS) + 1
        lines = self.wait_lines(path, expected, "%d slow lines" % expected)
        self.assertEqual(len(lines), expected, "\n".join(lines))
        objs = [json.loads(line) for line in lines]
        by_table = {}
        for o in objs:
            for k in JSONLOG_KEYS + PGSIFT_KEYS:
                self.assertIn(k, o, o)
            self.assertRegex(o["timestamp"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC$")
            self.assertEqual((o["user"], o["dbname"], o["remote_host"], o["application_name"],
                              o["error_severity"]), (SUPERUSER, TESTDB, "127.0.0.1", APP, "LOG"))
            self.assertRegex(o["fingerprint"], r"^[0-9a-f]{16}$")
            m = re.match(r"^duration: (\d+\.\d{3}) ms  statement: (.*)$", o["message"], re.S)
            self.assertIsNotNone(m, o["message"])
            self.assertAlmostEqual(float(m.group(1)), o["duration_ms"], delta=0.001)
            self.assertEqual(m.group(2), o["query"])
            self.assertGreaterEqual(o["duration_ms"], SLOW_MS)
            table = re.search(r"FROM (\w+)$", o["query"]).group(1)
            by_table.setdefault(table, []).append(o)
        want_tables = {t: n for t, secs, n in WORKLOAD if float(secs) * 1000 >= SLOW_MS}
        want_tables[TIMED_OUT[0]] = 1
        self.assertEqual({t: len(v) for t, v in by_table.items()}, want_tables)
        for table, secs, n in WORKLOAD:
            for o in by_table.get(table, []):
                text = "SELECT pg_sleep(%s) FROM %s" % (secs if log_parameters else "$1", table)
                self.assertEqual(o["query"], text)
                self.assertGreaterEqual(o["duration_ms"], float(secs) * 1000)
                self.assertEqual((o["rows"], o["sqlstate"], o["timed_out"]), (1, "00000", False))
        o = by_table[TIMED_OUT[0]][0]
        self.assertEqual(o["query"], "SELECT pg_sleep(%s) FROM %s" % (
            TIMED_OUT[1] if log_parameters else "$1", TIMED_OUT[0]))
        self.assertEqual((o["rows"], o["sqlstate"], o["timed_out"]), (0, "57014", True))
        self.assertGreaterEqual(o["duration_ms"], QUERY_TIMEOUT_MS)
        self.assertLess(o["duration_ms"], float(TIMED_OUT[1]) * 1000)
        # one fingerprint for the statement whatever the constant
        self.assertEqual(len({o["fingerprint"] for o in objs}), len(want_tables))
        return objs

    def test_slow_statements_normalized(self):
        px, path = self.start(log_parameters=False)
        self.run_workload(px)
        self.check_file(path, log_parameters=False)

    def test_slow_statements_with_parameters(self):
        px, path = self.start(log_parameters=True)
        self.run_workload(px)
        self.check_file(path, log_parameters=True)

    def test_sighup_reopens_the_file(self):
        px, path = self.start(log_parameters=False)
        self.run_workload(px)
        before = self.check_file(path, log_parameters=False)
        rotated = path + ".1"
        os.rename(path, rotated)
        mark = len(px.lines)
        px.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: any("configuration reloaded" in line for line in px.lines[mark:]),
                   10, "pgsift to log the reload")
        conn = px.connect(application_name=APP)
        conn.cursor().execute("SELECT pg_sleep(0.15) FROM slow_rotated")
        conn.close()
        new = self.wait_lines(path, 1, "the slow statement in the reopened file")
        self.assertEqual(len(new), 1, new)
        self.assertEqual(json.loads(new[0])["query"], "SELECT pg_sleep($1) FROM slow_rotated")
        self.assertEqual(len(read_lines(rotated)), len(before), "the rotated file is left alone")

    def extended_lines(self, log_parameters):
        px, path = self.start(log_parameters=log_parameters)
        conn = psycopg.connect(px.dsn(application_name=APP), autocommit=True)
        try:
            # a text parameter (str): sent in text format, as PostgreSQL would log it
            for _ in range(2):
                conn.execute("SELECT pg_sleep(%s) FROM slow_ext", ("0.15",))
            conn.execute("SELECT pg_sleep(%s) FROM slow_ext", ("0.16",), prepare=True)
            conn.execute("SELECT pg_sleep(%s) FROM slow_ext", ("0",))
        finally:
            conn.close()
        lines = self.wait_lines(path, 3, "3 slow extended-protocol lines")
        self.assertEqual(len(lines), 3, lines)
        objs = [json.loads(line) for line in lines]
        for o in objs:
            self.assertEqual((o["query"], o["rows"], o["sqlstate"], o["application_name"]),
                             ("SELECT pg_sleep($1) FROM slow_ext", 1, "00000", APP))
        return objs

    def test_extended_protocol_without_parameters(self):
        for o in self.extended_lines(log_parameters=False):
            self.assertRegex(o["message"], r"^duration: \d+\.\d{3} ms  statement: "
                             r"SELECT pg_sleep\(\$1\) FROM slow_ext$")
            self.assertNotIn("detail", o)
            self.assertNotIn("parameters", json.dumps(o))

    def test_extended_protocol_with_parameters(self):
        # log_parameters = 1: the Bind values as PostgreSQL's log_min_duration_statement logs an
        # Execute ("execute <name>: ..." and DETAIL "parameters: $1 = '...'")
        objs = self.extended_lines(log_parameters=True)
        for o in objs:
            self.assertRegex(o["message"], r"^duration: \d+\.\d{3} ms  execute [^:]+: "
                             r"SELECT pg_sleep\(\$1\) FROM slow_ext$")
        self.assertEqual([o.get("detail") for o in objs],
                         ["parameters: $1 = '0.15'"] * 2 + ["parameters: $1 = '0.16'"])

    @unittest.skipUnless(os.access(PGBADGER, os.X_OK), "pgbadger (Debian package) not installed")
    def test_pgbadger_reads_the_log(self):
        px, path = self.start(log_parameters=False)
        self.run_workload(px)
        objs = self.check_file(path, log_parameters=False)
        out = os.path.join(os.path.dirname(path), "report.json")
        r = subprocess.run([PGBADGER, "-f", "jsonlog", "-x", "json", "-o", out, "-q",
                            "--no-process-info", path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        with open(out) as f:
            report = json.load(f)
        self.check_pgbadger(report, objs)

    def check_pgbadger(self, report, objs):
        """pgBadger's counts and durations are the file's, statement by statement."""
        self.assertEqual(report["overall_stat"]["queries_number"], len(objs))
        durations = sorted((re.match(r"duration: (\d+\.\d{3}) ms", o["message"]).group(1)
                            for o in objs), key=float, reverse=True)
        (slowest,) = report["top_slowest"].values()
        # [duration ms, date, query, db, user, remote, app, ...], slowest first
        self.assertEqual(["%.3f" % float(e[0]) for e in slowest], durations)
        top = max(objs, key=lambda o: o["duration_ms"])
        self.assertEqual(top["query"], "SELECT pg_sleep($1) FROM %s" % TIMED_OUT[0])
        self.assertEqual("%.3f" % float(slowest[0][0]), durations[0])
        self.assertAlmostEqual(float(slowest[0][0]), top["duration_ms"], delta=0.001)
        self.assertIn(TIMED_OUT[0], slowest[0][2])
        self.assertEqual(slowest[0][3:7], [TESTDB, SUPERUSER, "127.0.0.1", APP])
        # per normalized statement: the count and the total duration
        (normalized,) = report["normalyzed_info"].values()
        got = {re.search(r"from (\w+)", q, re.I).group(1): (v["count"], round(v["duration"], 3))
               for q, v in normalized.items()}
        want = {}
        for o in objs:
            table = re.search(r"FROM (\w+)$", o["query"]).group(1)
            n, total = want.get(table, (0, 0.0))
            want[table] = (n + 1, total + float(re.match(r"duration: (\S+)",
                                                         o["message"]).group(1)))
        self.assertEqual(got, {t: (n, round(d, 3)) for t, (n, d) in want.items()})


if __name__ == "__main__":
    unittest.main(verbosity=2)
