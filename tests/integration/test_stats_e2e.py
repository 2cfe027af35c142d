"""
test_stats_e2e: per-query statistics end to end, as an operator reads them in the admin console
(`SHOW QUERIES`), in /metrics and across restarts.

- pgbench -S in the simple, extended and prepared protocols through pgsift in transaction
  pooling: exactly one SHOW QUERIES row for the select, whose calls equal pgbench's transaction
  count. pgsift's p50 is the server's part of the client's round trip: on the standard database
  (a select of tens of microseconds) it never exceeds pgbench's median; on a database without
  the primary key (a select of milliseconds) it agrees with the median of pgbench's own
  per-transaction latency log within 10%.
- A workload of successes, division-by-zero errors, statements cancelled by query_timeout and
  multi-statement simple queries is counted exactly: calls, errors, timeouts and rows of every
  fingerprint; the simple, extended and prepared forms of a statement share one row; a statement
  after a failing one in the same query string was never run and is not counted; RESET STATS
  empties the table.
- /metrics: pgsift_queries_total and pgsift_query_errors_total of the database equal the sums
  of calls and errors in SHOW QUERIES.
- stats_file: SIGTERM and SIGINT both write it; a restart shows the same numbers; a truncated
  file is set aside as <stats_file>.corrupt-* with a warning and pgsift starts clean.

The statistics worker counts asynchronously: every check polls with a deadline, never sleeps.

Run: PGSIFT_BIN=build/pgsift /usr/bin/python3 tests/integration/test_stats_e2e.py
"""

import glob
import io
import os
import re
import signal
import socket
import statistics
import sys
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DIRECT, SUPERUSER, TESTDB, PgsiftTestCase, wait_until  # noqa: E402

import psycopg  # noqa: E402  (psycopg 3: the extended protocol and named prepared statements)
import psycopg2  # noqa: E402  (psycopg2: the simple protocol)

PGBENCH_SELECT = "SELECT abalance FROM pgbench_accounts WHERE aid = $1"
P50_TOLERANCE = 0.10
QUERY_TIMEOUT_MS = 300
WAIT = 15  # seconds the statistics worker may take to show what was sent


def admin_conn(px):
    conn = psycopg2.connect(px.dsn(dbname="pgsift", user=SUPERUSER))
    conn.autocommit = True
    return conn


def show_queries(admin):
    cur = admin.cursor()
    cur.execute("SHOW QUERIES")
    names = [d.name for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def counts(rows, database=TESTDB):
    """{query: (calls, errors, timeouts, rows)} of one database's SHOW QUERIES rows."""
    out = {}
    for r in rows:
        if r["database"] != database:
            continue
        if r["query"] in out:
            raise AssertionError("two SHOW QUERIES rows for %r: %r" % (r["query"], rows))
        out[r["query"]] = (r["calls"], r["errors"], r["timeouts"], r["rows"])
    return out


def wait_counts(admin, expected, what, database=TESTDB):
    """Polls SHOW QUERIES until its counts for database equal expected; returns the rows."""
    last = []

    def done():
        last[:] = show_queries(admin)
        return counts(last, database) == expected
    try:
        wait_until(done, WAIT, what)
    except AssertionError:
        got = counts(last, database)
        diff = {q: (got.get(q), expected.get(q)) for q in set(got) | set(expected)
                if got.get(q) != expected.get(q)}
        raise AssertionError("%s: SHOW QUERIES differs (query: (got, expected)):\n%s\nall rows: "
                             "%r\nSHOW STATS: %r" % (what, "\n".join(
                                 "  %r: %r" % kv for kv in sorted(diff.items())), last,
                                 show_all(admin, "STATS")))
    return last


def show_all(admin, what):
    cur = admin.cursor()
    cur.execute("SHOW " + what)
    names = [d.name for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def pgbench_latencies_us(prefix):
    """Per-transaction latencies (µs) of every pgbench -l log file written under prefix."""
    lat = []
    for path in glob.glob(prefix + ".*"):
        with open(path) as f:
            for line in f:
                # client_id transaction_no time script_no time_epoch time_us
                lat.append(int(line.split()[2]))
    return lat


def tcp_up(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def parse_metric(text, name, database):
    m = re.search(r'^%s\{database="%s"\} (\S+)$' % (re.escape(name), re.escape(database)),
                  text, re.M)
    return float(m.group(1)) if m else None


@unittest.skipIf(DIRECT, "the statistics are pgsift's (PGSIFT_DIRECT=1)")
class StatsE2ETest(PgsiftTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = harness.scratch_dir("pgsift-it-stats-")
        cls.pg.query("""
            CREATE TABLE e2e_seven (x int); INSERT INTO e2e_seven SELECT generate_series(1, 7);
            CREATE TABLE e2e_zero (x int); INSERT INTO e2e_zero VALUES (0);
            CREATE TABLE e2e_timeout (x int); INSERT INTO e2e_timeout VALUES (1);
            CREATE TABLE e2e_multi_a (x int); INSERT INTO e2e_multi_a VALUES (1), (2);
            CREATE TABLE e2e_multi_b (x int); INSERT INTO e2e_multi_b VALUES (1), (2), (3);
            CREATE TABLE e2e_multi_c (x int);
            INSERT INTO e2e_multi_c SELECT generate_series(1, 5);
            CREATE TABLE e2e_multi_err (x int); INSERT INTO e2e_multi_err VALUES (1);
            CREATE TABLE e2e_multi_never (x int); INSERT INTO e2e_multi_never VALUES (1);
            CREATE TABLE e2e_copy (x int);
        """)

    def start(self, **settings):
        s = {"pool_mode": "transaction", "default_pool_size": "4", "admin_users": SUPERUSER,
             "query_timeout": "%dms" % QUERY_TIMEOUT_MS}
        s.update(settings)
        return self.start_pgsift_for_test(settings=s)

    # -----------------------------------------------------------------------------------------

    def run_select_modes(self, px, admin, tag, clients, seconds):
        """
        pgbench -S in the simple, extended and prepared protocols through px, one mode at a time
        after RESET STATS. Checks that SHOW QUERIES has exactly one row for the select, with
        calls and rows equal to pgbench's transaction count; returns, per mode, pgbench's median
        latency and pgsift's p50 (ms) and a printable report line.
        """
        out = []
        for mode in ("simple", "extended", "prepared"):
            admin.cursor().execute("RESET STATS")
            self.assertEqual(show_queries(admin), [])
            prefix = os.path.join(self.tmp, "%s_%s" % (tag, mode))
            r = harness.run_pgbench(px, ["-S", "-M", mode, "-c", str(clients), "-j",
                                         str(clients), "-T", str(seconds), "-n", "-l",
                                         "--log-prefix=" + prefix], timeout=120)
            self.assertEqual(r.returncode, 0, r)
            self.assertIsNotNone(r.processed, r)
            lat = pgbench_latencies_us(prefix)
            self.assertEqual(len(lat), r.processed, "pgbench's log against its own count")

            def row():
                rows = [q for q in show_queries(admin) if "pgbench_accounts" in q["query"]]
                return rows if rows and rows[0]["calls"] >= r.processed else None
            try:
                rows = wait_until(row, WAIT, "calls == %d for the select" % r.processed)
            except AssertionError:
                raise AssertionError("-M %s: %d transactions; SHOW QUERIES: %r\nSHOW STATS: %r"
                                     % (mode, r.processed, show_queries(admin),
                                        show_all(admin, "STATS")))
            self.assertEqual(len(rows), 1, "-M %s: %r" % (mode, rows))
            q = rows[0]
            # pgsift keeps the text the client sent, normalized: pgbench's script line ends in
            # a semicolon, which stays (pg_stat_statements would strip it)
            self.assertIn(q["query"], (PGBENCH_SELECT, PGBENCH_SELECT + ";"))
            self.assertEqual((q["database"], q["user"]), (TESTDB, SUPERUSER))
            self.assertEqual((q["calls"], q["errors"], q["timeouts"], q["rows"]),
                             (r.processed, 0, 0, r.processed), "-M %s" % mode)
            median_ms = statistics.median(lat) / 1000.0
            line = ("%s -M %-8s transactions %6d  tps %8.1f  pgbench median %.4f ms  "
                    "pgsift p50 %.4f ms  ratio %.3f  (pgsift p95 %.4f, pgbench p95 %.4f)"
                    % (tag, mode, r.processed, r.tps, median_ms, q["p50_ms"],
                       q["p50_ms"] / median_ms, q["p95_ms"],
                       sorted(lat)[int(len(lat) * 0.95)] / 1000.0))
            sys.stderr.write("\n[p50] " + line + "\n")
            out.append((median_ms, q["p50_ms"], line))
        return out

    def test_pgbench_select_calls_and_p50(self):
        """
        The standard pgbench database (primary key on aid): the select takes tens of
        microseconds at the server. Calls are exact; pgsift's p50 is the server's part of the
        client's round trip, so it is never more than pgbench's median (the histogram's p50 is
        within 2%). It is about 0.55-0.65 of it here: the client's leg through the proxy (two
        more socket hops and wake-ups) is as long as the select itself.
        """
        r = harness.run_pgbench(self.pg, ["-i", "-q", "-s", "1"], timeout=180)
        self.assertEqual(r.returncode, 0, r)
        px = self.start()
        admin = admin_conn(px)
        self.addCleanup(admin.close)
        results = self.run_select_modes(px, admin, "indexed", clients=4, seconds=5)
        report = "\n".join(line for _, _, line in results)
        for median_ms, p50_ms, _ in results:
            self.assertGreater(p50_ms, 0, report)
            self.assertLessEqual(p50_ms / median_ms, 1.02, report)

    def test_pgbench_select_p50_within_10_percent_without_index(self):
        """
        The same pgbench -S on a pgbench database initialized without primary keys (-I dtgv):
        each select scans pgbench_accounts and takes milliseconds at the server, so the server's
        time is the client's latency and pgsift's p50 agrees with pgbench's median within 10%
        in every protocol.
        """
        r = harness.run_pgbench(self.pg, ["-i", "-q", "-s", "1", "-I", "dtgv"], timeout=180)
        self.assertEqual(r.returncode, 0, r)
        self.addCleanup(lambda: harness.run_pgbench(self.pg, ["-i", "-q", "-s", "1"],
                                                    timeout=180))
        # no query_timeout: a scan slowed by a loaded machine must not be cancelled here
        px = self.start(query_timeout="0")
        admin = admin_conn(px)
        self.addCleanup(admin.close)
        results = self.run_select_modes(px, admin, "unindexed", clients=2, seconds=3)
        report = "\n".join(line for _, _, line in results)
        for median_ms, p50_ms, _ in results:
            self.assertGreater(median_ms, 1.0, "the scan should take milliseconds:\n" + report)
            self.assertLessEqual(abs(p50_ms / median_ms - 1.0), P50_TOLERANCE,
                                 "p50 of pgsift against pgbench's median:\n" + report)

    # -----------------------------------------------------------------------------------------

    def run_workload(self, px):
        """
        Known statements through px; returns the SHOW QUERIES counts they must produce:
        {normalized text: (calls, errors, timeouts, rows)}.
        """
        simple = px.connect()
        ext = psycopg.connect(px.dsn(), autocommit=True)
        try:
            cur = simple.cursor()
            # one statement in three forms: simple (literal), extended (unnamed), prepared
            for _ in range(3):
                cur.execute("SELECT x FROM e2e_seven WHERE x > 0")
                self.assertEqual(len(cur.fetchall()), 7)
            for _ in range(2):
                self.assertEqual(len(ext.execute("SELECT x FROM e2e_seven WHERE x > %s",
                                                 (0,)).fetchall()), 7)
            for _ in range(2):
                self.assertEqual(len(ext.execute("SELECT x FROM e2e_seven WHERE x > %s",
                                                 (0,), prepare=True).fetchall()), 7)
            # division by zero: 4 in the simple protocol, 1 in the extended one
            for _ in range(4):
                with self.assertRaises(psycopg2.errors.DivisionByZero):
                    cur.execute("SELECT 10 / x FROM e2e_zero")
            with self.assertRaises(psycopg.errors.DivisionByZero):
                ext.execute("SELECT %s / x FROM e2e_zero", (10,))
            # cancelled by query_timeout, the connection stays usable
            for _ in range(2):
                with self.assertRaises(psycopg2.errors.QueryCanceled):
                    cur.execute("SELECT pg_sleep(5) FROM e2e_timeout")
            # multi-statement simple queries: one event per statement
            for _ in range(3):
                cur.execute("SELECT x FROM e2e_multi_a; SELECT x, x FROM e2e_multi_b; "
                            "UPDATE e2e_multi_c SET x = x + 1")
            # the second statement fails: the third never runs, the first did
            with self.assertRaises(psycopg2.errors.DivisionByZero):
                cur.execute("SELECT x FROM e2e_multi_a; SELECT 1 / (x - 1) FROM e2e_multi_err; "
                            "SELECT x FROM e2e_multi_never")
        finally:
            simple.close()
            ext.close()
        return {
            "SELECT x FROM e2e_seven WHERE x > $1": (7, 0, 0, 49),
            "SELECT $1 / x FROM e2e_zero": (5, 5, 0, 0),
            "SELECT pg_sleep($1) FROM e2e_timeout": (2, 2, 2, 0),
            "SELECT x FROM e2e_multi_a": (4, 0, 0, 8),
            "SELECT x, x FROM e2e_multi_b": (3, 0, 0, 9),
            "UPDATE e2e_multi_c SET x = x + $1": (3, 0, 0, 15),
            "SELECT $1 / (x - $2) FROM e2e_multi_err": (1, 1, 0, 0),
        }

    def test_copy_function_call_and_pipeline_each_counted(self):
        """
        The other protocol paths: COPY in both directions (rows as COPY reports them),
        FunctionCall (libpq's large-object calls, psycopg2's lobject) and a pipeline, whose
        statements are timed each on its own: the second of two pipelined statements is timed
        from the end of the first, so a 0.1 s statement behind a 0.5 s one shows ~0.1 s.
        """
        px = self.start(query_timeout="0")
        admin = admin_conn(px)
        self.addCleanup(admin.close)
        conn = px.connect()
        self.addCleanup(conn.close)
        cur = conn.cursor()
        cur.copy_expert("COPY e2e_copy FROM STDIN", io.StringIO("1\n2\n3\n"))
        out = io.StringIO()
        cur.copy_expert("COPY (SELECT x FROM e2e_copy ORDER BY x) TO STDOUT", out)
        self.assertEqual(out.getvalue(), "1\n2\n3\n")
        conn.autocommit = False  # a large object lives in a transaction
        lo = conn.lobject(0, "wb")
        self.assertEqual(lo.write(b"pgsift"), 6)
        lo.close()
        conn.commit()
        # a pipeline as libpq's pipeline mode and pgbench's \\startpipeline send it: both
        # statements, each ending in Sync, in one write; the server answers the first before
        # it runs the second
        sock, err = harness.raw_login(px, {"user": SUPERUSER, "database": TESTDB}, timeout=30)
        self.addCleanup(sock.close)
        self.assertIsNone(err)
        batch = b""
        for sql in (b"SELECT pg_sleep(0.5) FROM e2e_multi_a LIMIT 1",
                    b"SELECT pg_sleep(0.1) FROM e2e_multi_b LIMIT 1"):
            batch += (harness.message(b"P", b"\0" + sql + b"\0\0\0")
                      + harness.message(b"B", b"\0\0" + b"\0\0" * 3)
                      + harness.message(b"E", b"\0\0\0\0\0") + harness.message(b"S"))
        sock.sendall(batch)
        seen = []
        while seen.count(b"Z") < 2:
            m = harness.read_message(sock)
            self.assertIsNotNone(m, seen)
            seen.append(m[0])
        self.assertEqual(seen, [b"1", b"2", b"D", b"C", b"Z"] * 2)

        def rows():
            got = {r["query"]: r for r in show_queries(admin) if r["database"] == TESTDB}
            return got if "SELECT pg_sleep($1) FROM e2e_multi_b LIMIT $2" in got else None
        got = wait_until(rows, WAIT, "the pipeline's statements in SHOW QUERIES")
        counts = {q: (r["calls"], r["errors"], r["rows"]) for q, r in got.items()}
        self.assertEqual(counts.get("COPY e2e_copy FROM STDIN"), (1, 0, 3), counts)
        self.assertEqual(counts.get("COPY (SELECT x FROM e2e_copy ORDER BY x) TO STDOUT"),
                         (1, 0, 3), counts)
        # FunctionCall: lo_creat, lo_open, lowrite, lo_close, named by their function's oid
        for oid in (957, 952, 955, 953):
            self.assertEqual(counts.get("fastpath function call %d" % oid), (1, 0, 0), counts)
        first = got["SELECT pg_sleep($1) FROM e2e_multi_a LIMIT $2"]
        second = got["SELECT pg_sleep($1) FROM e2e_multi_b LIMIT $2"]
        self.assertEqual((first["calls"], second["calls"]), (1, 1))
        self.assertGreaterEqual(first["max_ms"], 500 * 0.98)
        self.assertGreaterEqual(second["max_ms"], 100 * 0.98)
        # timed with the first it would be 600 ms or more
        self.assertLess(second["max_ms"], 500, (first, second))

    def test_errors_timeouts_and_multi_statement_counted_exactly(self):
        px = self.start()
        admin = admin_conn(px)
        self.addCleanup(admin.close)
        expected = self.run_workload(px)
        rows = wait_counts(admin, expected, "the workload's counts")
        for r in rows:
            self.assertEqual((r["database"], r["user"]), (TESTDB, SUPERUSER))
        timeout = [r for r in rows if "e2e_timeout" in r["query"]][0]
        # cancelled at query_timeout: not before it, and not long after
        self.assertGreaterEqual(timeout["p50_ms"], QUERY_TIMEOUT_MS * 0.98)
        self.assertLess(timeout["max_ms"], 5000)
        admin.cursor().execute("RESET STATS")
        self.assertEqual(show_queries(admin), [])
        # counting goes on after the reset, from zero
        c = px.connect()
        c.cursor().execute("SELECT x FROM e2e_multi_a")
        c.close()
        wait_counts(admin, {"SELECT x FROM e2e_multi_a": (1, 0, 0, 2)}, "counts after RESET")

    # -----------------------------------------------------------------------------------------

    def test_track_statements_off_counts_nothing_until_reloaded_on(self):
        """
        track_statements = 0 makes pgsift a plain pooler: SHOW QUERIES stays empty while SHOW
        STATS still counts the queries of the pool; RELOAD with track_statements = 1 counts the
        statements from then on, exactly.
        """
        px = self.start(track_statements="0")
        admin = admin_conn(px)
        self.addCleanup(admin.close)
        conn = px.connect()
        self.addCleanup(conn.close)
        cur = conn.cursor()
        for _ in range(5):
            cur.execute("SELECT x FROM e2e_seven WHERE x < 3")
            self.assertEqual(len(cur.fetchall()), 2)

        def db_queries():
            return sum(r["total_query_count"] for r in show_all(admin, "STATS")
                       if r["database"] == TESTDB)
        wait_until(lambda: db_queries() == 5, WAIT, "SHOW STATS counting 5 queries")
        self.assertEqual([r for r in show_queries(admin) if r["database"] == TESTDB], [])
        totals = {r["name"]: int(r["value"]) for r in show_all(admin, "TOTALS")}
        self.assertEqual(totals["total_query_count"], 5, totals)
        self.assertEqual(totals["stats_events_submitted"], 0, totals)

        with open(px.ini_path) as f:
            text = f.read()
        self.assertIn("track_statements = 0", text)
        with open(px.ini_path, "w") as f:
            f.write(text.replace("track_statements = 0", "track_statements = 1"))
        admin.cursor().execute("RELOAD")
        wait_until(lambda: {r["key"]: r["value"] for r in show_all(admin, "CONFIG")}
                   ["track_statements"] == "1", WAIT, "track_statements 1 after RELOAD")
        for _ in range(3):
            cur.execute("SELECT x FROM e2e_seven WHERE x < 3")
        wait_counts(admin, {"SELECT x FROM e2e_seven WHERE x < $1": (3, 0, 0, 6)},
                    "3 statements after track_statements = 1")

    def test_full_queue_drops_are_counted_per_database(self):
        """
        With the smallest statistics queue (stats_queue_size = 16, a 4 KiB ring), simple
        queries of 2,000 statements each: PostgreSQL answers all of a query's statements at
        once, so the event loop emits 2,000 events in one turn and the ring overflows. The
        statements all run; every one is either counted in SHOW QUERIES or dropped, never both,
        never lost: calls + dropped == statements sent, and the dropped count is the same in
        SHOW STATS (per database), SHOW TOTALS and /metrics.
        """
        mport = harness.free_port()
        px = self.start(stats_queue_size="16", metrics_listen="127.0.0.1:%d" % mport)
        wait_until(lambda: tcp_up(mport), 10, "the metrics listener")
        admin = admin_conn(px)
        self.addCleanup(admin.close)
        conn = px.connect()
        self.addCleanup(conn.close)
        per_query, queries = 2000, 5
        cur = conn.cursor()
        for _ in range(queries):
            cur.execute("SELECT 1 AS drop_probe;" * per_query)
            self.assertEqual(cur.fetchall(), [(1,)])
        sent = per_query * queries

        def settled():
            t = {x["name"]: int(x["value"]) for x in show_all(admin, "TOTALS")}
            # submitted counts the events the queue took; the thread has processed them all
            done = (t["stats_events_submitted"] + t["stats_events_dropped"] == sent
                    and t["stats_events_processed"] == t["stats_events_submitted"])
            return t if done else None
        try:
            totals = wait_until(settled, WAIT, "every event processed or dropped")
        except AssertionError:
            raise AssertionError("%d statements; SHOW TOTALS: %r" % (
                sent, show_all(admin, "TOTALS")))
        dropped = totals["stats_events_dropped"]
        sys.stderr.write("\n[drops] %d of %d statements' events dropped\n" % (dropped, sent))
        self.assertGreater(dropped, 0, totals)
        per_db = {x["database"]: x["stats_events_dropped"] for x in show_all(admin, "STATS")}
        self.assertEqual(per_db[TESTDB], dropped, per_db)
        self.assertEqual(sum(v for k, v in per_db.items() if k != TESTDB), 0, per_db)
        calls = [q["calls"] for q in show_queries(admin) if q["database"] == TESTDB]
        self.assertEqual(len(calls), 1 if dropped < sent else 0)
        self.assertEqual(sum(calls) + dropped, sent)
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=10) as resp:
            text = resp.read().decode()
        m = re.search(r"^pgsift_stats_events_dropped_total (\S+)$", text, re.M)
        self.assertIsNotNone(m, text)
        self.assertEqual(float(m.group(1)), dropped)

    def test_metrics_queries_total_is_the_sum_of_calls(self):
        mport = harness.free_port()
        px = self.start(metrics_listen="127.0.0.1:%d" % mport)
        wait_until(lambda: tcp_up(mport), 10, "the metrics listener")
        admin = admin_conn(px)
        self.addCleanup(admin.close)
        expected = self.run_workload(px)
        rows = wait_counts(admin, expected, "the workload's counts")
        calls = sum(r["calls"] for r in rows if r["database"] == TESTDB)
        errors = sum(r["errors"] for r in rows if r["database"] == TESTDB)
        self.assertEqual((calls, errors), (sum(v[0] for v in expected.values()),
                                           sum(v[1] for v in expected.values())))
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=10) as resp:
            text = resp.read().decode()
        self.assertEqual(parse_metric(text, "pgsift_queries_total", TESTDB), calls, text)
        self.assertEqual(parse_metric(text, "pgsift_query_errors_total", TESTDB), errors, text)

    # -----------------------------------------------------------------------------------------

    def stop_with(self, px, sig):
        """Stops px with sig once its clients are gone; asserts a clean exit."""
        px.proc.send_signal(sig)
        try:
            rc = px.proc.wait(15)
        except Exception:
            raise AssertionError("pgsift did not exit after %s:\n%s" % (sig, px.output()))
        self.assertEqual(px.sanitizer_reports(), [])
        self.assertIn(rc, (0, -sig), px.output())
        out = px.output()
        px.stop()  # reaps the reader and the temporary directory
        type(self)._proxies.remove(px)  # exit status checked here, not at tearDownClass
        return out

    def test_stats_file_survives_restart_and_corruption_is_set_aside(self):
        sdir = tempfile.mkdtemp(dir=self.tmp)
        stats_file = os.path.join(sdir, "stats.bin")
        settings = {"stats_file": stats_file}

        px = self.start(**settings)
        admin = admin_conn(px)
        expected = self.run_workload(px)
        before = wait_counts(admin, expected, "the workload's counts")
        admin.close()
        self.stop_with(px, signal.SIGTERM)
        self.assertTrue(os.path.getsize(stats_file) > 0)

        def key(rows):
            return sorted((r["fingerprint"], r["query"], r["database"], r["user"], r["calls"],
                           r["errors"], r["timeouts"], r["rows"], r["total_ms"], r["max_ms"],
                           r["first_seen"], r["last_seen"]) for r in rows)

        # after SIGTERM: the same numbers
        px = self.start(**settings)
        admin = admin_conn(px)
        after = show_queries(admin)
        self.assertEqual(key(after), key(before))
        # more traffic, then SIGINT: the file holds the sum
        expected2 = self.run_workload(px)
        expected2 = {q: tuple(a + b for a, b in zip(v, expected[q]))
                     for q, v in expected2.items()}
        before = wait_counts(admin, expected2, "the counts added to the loaded ones")
        admin.close()
        self.stop_with(px, signal.SIGINT)

        px = self.start(**settings)
        admin = admin_conn(px)
        self.assertEqual(key(show_queries(admin)), key(before))
        admin.close()
        self.stop_with(px, signal.SIGTERM)

        # a truncated file: set aside with a warning, pgsift starts clean
        size = os.path.getsize(stats_file)
        with open(stats_file, "r+b") as f:
            f.truncate(size // 2)
        with open(stats_file, "rb") as f:
            damaged = f.read()
        px = self.start(**settings)
        admin = admin_conn(px)
        self.addCleanup(admin.close)
        self.assertEqual(show_queries(admin), [])
        aside = glob.glob(stats_file + ".corrupt-*")
        self.assertEqual(len(aside), 1, os.listdir(sdir))
        with open(aside[0], "rb") as f:
            self.assertEqual(f.read(), damaged, "the damaged file is kept as it was")
        warn = [line for line in px.lines if stats_file in line and aside[0] in line]
        self.assertEqual(len(warn), 1, px.output())
        self.assertRegex(warn[0], r"(?i)warn")
        # and it counts again
        c = px.connect()
        c.cursor().execute("SELECT x FROM e2e_multi_a")
        c.close()
        wait_counts(admin, {"SELECT x FROM e2e_multi_a": (1, 0, 0, 2)}, "counts after the reset")


if __name__ == "__main__":
    unittest.main(verbosity=2)
