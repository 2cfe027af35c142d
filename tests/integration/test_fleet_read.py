"""
test_fleet_read: the readers of the fleet statistics store (issue 16): `pgsift top --stats-dsn`
and `pgsift suggest --stats-dsn` over the tables that every pgsift with stats_dsn writes into
(README.md, "Fleet statistics"; the tables are created from fleet_schema.sql).

  - FleetTop: rows written by hand for 3 instances x 2 hours x 2 applications, with durations
    drawn at random (seeded) and their histograms built the way stats/histogram.c builds them.
    `pgsift top --format json` must give the exact sums of calls, errors and rows, and the exact
    p50/p95/p99 that the nearest-rank rule over the merged histograms gives (computed here again
    in Python); `--since` keeps the hours of the window only, `--database` one database,
    `--sort` and `--limit` order and cut.
  - FleetSuggest: a workload through ONE pgsift with stats_file (log_parameters on, so the file
    keeps samples); the test-only tool fleet_export writes the file's statistics into the tables
    as one instance would; `pgsift suggest --stats-dsn` must print exactly what `pgsift suggest
    --stats-file` prints (the header's input name aside), in every format.
  - Bad input: an unreachable DSN, a schema without the tables, another version, corrupt rows:
    exit status 1 and one line that says what is wrong (and which row).
"""
import json
import math
import os
import random
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FLEETDB = "fleet"

# stats/histogram.h: 64 sub-buckets per power of two
SUB_BITS = 6
SUB = 1 << SUB_BITS
HIST_MAX_INDEX = (64 - SUB_BITS + 1) * SUB


def hist_index(v):
    if v < 2 * SUB:
        return v
    e = v.bit_length() - 1
    return (e - SUB_BITS + 1) * SUB + ((v >> (e - SUB_BITS)) & (SUB - 1))


def bucket_low(i):
    if i < 2 * SUB:
        return i
    e = i // SUB + SUB_BITS - 1
    return (SUB + i % SUB) << (e - SUB_BITS)


def bucket_width(i):
    if i < 2 * SUB:
        return 1
    e = i // SUB + SUB_BITS - 1
    return 1 << (e - SUB_BITS)


def percentile_ns(hist, lo, hi, p):
    """hist_percentile (nearest rank, the bucket's midpoint), clamped to [min, max] as SHOW
    QUERIES does."""
    total = sum(hist.values())
    rank = max(1, min(total, math.ceil(p / 100.0 * total)))
    cum = 0
    for i in sorted(hist):
        cum += hist[i]
        if cum >= rank:
            v = bucket_low(i) + bucket_width(i) // 2
            return min(max(v, lo), hi)
    raise AssertionError("unreachable")


def fleet_schema_sql(schema):
    with open(os.path.join(HERE, "fleet_schema.sql")) as f:
        sql = f.read()
    return re.sub(r"\bS(?=[.;])", schema, sql)


def run(args, timeout=60):
    r = subprocess.run([harness.PGSIFT_BIN] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


class FleetBase(harness.PgsiftTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        conn = cls.pg.connect(dbname="postgres")
        cur = conn.cursor()
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (FLEETDB,))
        if not cur.fetchall():
            cur.execute("CREATE DATABASE " + FLEETDB)
        conn.close()
        cls.dsn = cls.pg.dsn(dbname=FLEETDB)

    @classmethod
    def create_schema(cls, schema, version=1):
        conn = cls.pg.connect(dbname=FLEETDB)
        cur = conn.cursor()
        cur.execute("DROP SCHEMA IF EXISTS %s CASCADE" % schema)
        cur.execute(fleet_schema_sql(schema))
        if version is not None:
            cur.execute("INSERT INTO %s.pgsift_schema_version VALUES (%%s)" % schema, (version,))
        return conn


# ------------------------------------------------------------------------------------------
# Hand-written rows

INSTANCES = ["web-1:6432:4100:1764780000", "web-2:6432:4200:1764780000",
             "batch-1:6433:900:1764781111"]
APPS = ["web", "worker"]
# (fingerprint as int64, database, user, kind, query)
DIGESTS = [
    (0x1111222233334444, "app", "alice", "SELECT", "SELECT * FROM orders WHERE id = $1"),
    (-2, "app", "bob", "UPDATE", "UPDATE orders SET note = $1 WHERE id = $2"),
    (0x0abc, "reports", "alice", "SELECT", "SELECT count(*) FROM orders WHERE day > $1"),
]


def fp_hex(fp):
    return "%016x" % (fp & 0xFFFFFFFFFFFFFFFF)


class FleetTop(FleetBase):
    SCHEMA = "fleet_top"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        now_h = int(time.time()) // 3600
        # the current hour, and one 5 hours before: --since 2h keeps only the first
        cls.hours = [now_h - 5, now_h]
        rng = random.Random(16)
        cls.rows = []  # dicts, one per pgsift_statements row
        for fp, db, user, kind, query in DIGESTS:
            for inst in INSTANCES:
                for h in cls.hours:
                    for app in APPS:
                        n = rng.randint(5, 60)
                        durs = [int(math.exp(rng.uniform(math.log(40), math.log(5e8))))
                                for _ in range(n)]
                        errs = {}
                        for _ in range(rng.randint(0, 3)):
                            cls_ = rng.choice(["23", "57", "40"])
                            errs[cls_] = errs.get(cls_, 0) + 1
                        hist = {}
                        for d in durs:
                            hist[hist_index(d)] = hist.get(hist_index(d), 0) + 1
                        base_us = h * 3600 * 1000000
                        cls.rows.append(dict(
                            instance=inst, hour=h, fp=fp, db=db, user=user, app=app,
                            calls=n, errors=sum(errs.values()), timeouts=rng.randint(0, 1),
                            rows=rng.randint(0, 1000), durs=durs, errs=errs, hist=hist,
                            first=base_us + rng.randint(0, 1000000),
                            last=base_us + rng.randint(2000000, 3599000000)))
        conn = cls.create_schema(cls.SCHEMA)
        cur = conn.cursor()
        for fp, db, user, kind, query in DIGESTS:
            cur.execute("INSERT INTO fleet_top.pgsift_queries (fingerprint, database, username, "
                        "kind, query, first_seen) VALUES (%s, %s, %s, %s, %s, now())",
                        (fp, db, user, kind, query))
        for r in cls.rows:
            idx = sorted(r["hist"])
            cur.execute(
                "INSERT INTO fleet_top.pgsift_statements VALUES (%s, to_timestamp(%s * 3600), "
                "%s, %s, %s, %s, %s, %s, %s, 0, %s, %s, %s, %s, "
                "timestamptz 'epoch' + interval '1 microsecond' * %s, "
                "timestamptz 'epoch' + interval '1 microsecond' * %s, %s, %s, %s)",
                (r["instance"], r["hour"], r["fp"], r["db"], r["user"], r["app"], r["calls"],
                 r["errors"], r["timeouts"], r["rows"], sum(r["durs"]), min(r["durs"]),
                 max(r["durs"]), r["first"], r["last"], json.dumps(r["errs"]), idx,
                 [r["hist"][i] for i in idx]))
        conn.close()

    def expected(self, since_hour=None, database=None):
        """The statements `pgsift top` must print, by (fingerprint, database, user)."""
        out = {}
        for r in self.rows:
            if since_hour is not None and r["hour"] < since_hour:
                continue
            if database is not None and r["db"] != database:
                continue
            k = (fp_hex(r["fp"]), r["db"], r["user"])
            e = out.setdefault(k, dict(calls=0, errors=0, timeouts=0, rows=0, total=0,
                                       min=None, max=0, hist={}, errs={}, first=None,
                                       last=0))
            e["calls"] += r["calls"]
            e["errors"] += r["errors"]
            e["timeouts"] += r["timeouts"]
            e["rows"] += r["rows"]
            e["total"] += sum(r["durs"])
            e["min"] = min(r["durs"]) if e["min"] is None else min(e["min"], min(r["durs"]))
            e["max"] = max(e["max"], max(r["durs"]))
            e["first"] = r["first"] if e["first"] is None else min(e["first"], r["first"])
            e["last"] = max(e["last"], r["last"])
            for i, c in r["hist"].items():
                e["hist"][i] = e["hist"].get(i, 0) + c
            for c, n in r["errs"].items():
                e["errs"][c] = e["errs"].get(c, 0) + n
        return out

    def top(self, *args):
        code, out, err = run(["top", "--stats-dsn", self.dsn, "--stats-dsn-schema", self.SCHEMA,
                              "--format", "json"] + list(args))
        self.assertEqual(code, 0, err)
        return json.loads(out)

    def ns(self, ms):
        """A printed millisecond figure back to nanoseconds (printed to the nanosecond)."""
        return round(ms * 1e6)

    def check(self, doc, want):
        got = {(s["fingerprint"], s["database"], s["user"]): s for s in doc["statements"]}
        self.assertEqual(sorted(got), sorted(want))
        for k, e in want.items():
            s = got[k]
            print("  %s %s %s: calls %d errors %d rows %d p50 %.3f p95 %.3f p99 %.3f ms" % (
                k + (s["calls"], s["errors"], s["rows"], s["p50_ms"], s["p95_ms"],
                     s["p99_ms"])))
            self.assertEqual(s["calls"], e["calls"], k)
            self.assertEqual(s["errors"], e["errors"], k)
            self.assertEqual(s["timeouts"], e["timeouts"], k)
            self.assertEqual(s["rows"], e["rows"], k)
            self.assertEqual(self.ns(s["total_ms"]), e["total"], k)
            self.assertEqual(self.ns(s["max_ms"]), e["max"], k)
            self.assertAlmostEqual(s["mean_ms"], e["total"] / 1e6 / e["calls"], places=6)
            for p in (50, 95, 99):
                self.assertEqual(self.ns(s["p%d_ms" % p]),
                                 percentile_ns(e["hist"], e["min"], e["max"], p), (k, p))
            self.assertEqual(s["first_seen_us"], e["first"], k)
            self.assertEqual(s["last_seen_us"], e["last"], k)
            self.assertEqual(s["error_classes"], e["errs"], k)
            q = [d for d in DIGESTS if fp_hex(d[0]) == k[0]][0]
            self.assertEqual(s["query"], q[4])

    def test_all_hours(self):
        doc = self.top("--limit", "0")
        self.assertEqual(doc["instances"], 3)
        self.assertEqual(doc["since_us"], 0)
        self.check(doc, self.expected())
        # SHOW QUERIES's order: total time descending
        totals = [s["total_ms"] for s in doc["statements"]]
        self.assertEqual(totals, sorted(totals, reverse=True))
        # the negative int64 is the uint64 fingerprint with the same bits
        self.assertIn("fffffffffffffffe", [s["fingerprint"] for s in doc["statements"]])

    def test_since_keeps_the_window_hours(self):
        before = (int(time.time()) - 7200) // 3600 * 3600 * 1000000
        doc = self.top("--since", "2h", "--limit", "0")
        after = (int(time.time()) - 7200) // 3600 * 3600 * 1000000
        self.assertIn(doc["since_us"], (before, after))  # an hour may begin meanwhile
        self.check(doc, self.expected(since_hour=self.hours[1]))
        doc = self.top("--since", "7h", "--limit", "0")
        self.check(doc, self.expected(since_hour=self.hours[0]))

    def test_database_filter(self):
        doc = self.top("--database", "reports", "--limit", "0")
        self.check(doc, self.expected(database="reports"))
        self.assertEqual(len(doc["statements"]), 1)
        doc = self.top("--database", "nosuch")
        self.assertEqual(doc["statements"], [])

    def test_sort_and_limit(self):
        for key, field in (("calls", "calls"), ("mean", "mean_ms"), ("p99", "p99_ms"),
                           ("errors", "errors"), ("total", "total_ms")):
            doc = self.top("--sort", key, "--limit", "0")
            vals = [s[field] for s in doc["statements"]]
            self.assertEqual(vals, sorted(vals, reverse=True), key)
            self.assertEqual(len(vals), 3)
        doc = self.top("--sort", "calls", "--limit", "2")
        self.assertEqual(len(doc["statements"]), 2)
        want = sorted(self.expected().items(), key=lambda kv: -kv[1]["calls"])[:2]
        self.assertEqual([(s["fingerprint"], s["database"], s["user"])
                          for s in doc["statements"]], [k for k, _ in want])

    def test_table_and_csv(self):
        code, out, err = run(["top", "--stats-dsn", self.dsn, "--stats-dsn-schema",
                              self.SCHEMA, "--since", "2h"])
        self.assertEqual(code, 0, err)
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^-- pgsift top: 3 instances, window: since "
                         r"\d{4}-\d\d-\d\d \d\d:00 UTC \(--since 2h\), 3 statements, by total$")
        self.assertTrue(lines[1].startswith("fingerprint "), lines[1])
        self.assertEqual(len(lines), 5)
        code, out, err = run(["top", "--stats-dsn", self.dsn, "--stats-dsn-schema",
                              self.SCHEMA, "--format", "csv", "--limit", "1"])
        self.assertEqual(code, 0, err)
        self.assertIn("3 instances", err)
        lines = out.splitlines()
        self.assertEqual(lines[0], "fingerprint,calls,errors,total_ms,mean_ms,p50_ms,p95_ms,"
                         "p99_ms,max_ms,rows,database,user,query")
        self.assertEqual(len(lines), 2)

    def test_help(self):
        code, out, _ = run(["top", "--help"])
        self.assertEqual(code, 0)
        self.assertIn("--stats-dsn URL", out)
        code, out, _ = run(["--help"])
        self.assertEqual(code, 0)
        self.assertIn("pgsift top [-c FILE | --stats-dsn URL]", out)
        code, out, _ = run(["suggest", "--help"])
        self.assertIn("--stats-dsn URL", out)
        code, _, err = run(["top", "--sort", "nope", "--stats-dsn", self.dsn])
        self.assertEqual(code, 2)
        self.assertIn("--sort", err)
        code, _, err = run(["top"])
        self.assertEqual(code, 2)
        self.assertIn("--stats-dsn (or -c FILE with stats_dsn) is required", err)


# ------------------------------------------------------------------------------------------
# Bad input


class FleetBadInput(FleetBase):
    def assert_fails(self, args, *needles):
        for cmd in (["top"], ["suggest"]):
            code, out, err = run(cmd + ["--stats-dsn"] + args)
            self.assertEqual(code, 1, (cmd, out, err))
            self.assertEqual(out, "")
            lines = err.strip().splitlines()
            self.assertEqual(len(lines), 1, err)
            print("  %s: %s" % (cmd[0], lines[0]))
            for n in needles:
                self.assertIn(n, lines[0])

    def test_unreachable(self):
        port = harness.free_port()
        self.assert_fails(["host=127.0.0.1 port=%d dbname=x connect_timeout=5" % port],
                          "cannot connect to the statistics store", "Connection refused")

    def test_missing_schema(self):
        self.assert_fails([self.dsn, "--stats-dsn-schema", "nosuch"],
                          'no pgsift statistics in schema "nosuch" at dbname=fleet',
                          "is stats_dsn set on the proxies?")
        self.assert_fails([self.dsn], 'no pgsift statistics in schema "pgsift"')

    def test_other_version(self):
        self.create_schema("fleet_v2", version=2).close()
        self.assert_fails([self.dsn, "--stats-dsn-schema", "fleet_v2"],
                          "version 2", "this pgsift reads version 1")

    def corrupt(self, schema, idx, cnt, calls=3, min_ns=100, max_ns=200):
        conn = self.create_schema(schema)
        cur = conn.cursor()
        cur.execute("INSERT INTO %s.pgsift_queries (fingerprint, database, username, kind, "
                    "query, first_seen) VALUES (42, 'app', 'u', 'SELECT', 'SELECT 1', now())"
                    % schema)
        cur.execute("INSERT INTO %s.pgsift_statements VALUES ('i1', date_trunc('hour', now()), "
                    "42, 'app', 'u', 'web', %%s, 0, 0, 0, 0, 300, %%s, %%s, now(), now(), '{}', "
                    "%%s, %%s)" % schema, (calls, min_ns, max_ns, idx, cnt))
        conn.close()

    def test_corrupt_rows(self):
        where = ('bad pgsift_statements row (instance "i1", hour ', "fingerprint "
                 "000000000000002a, database \"app\", user \"u\", application \"web\")")
        self.corrupt("fleet_bad1", [5, HIST_MAX_INDEX], [1, 2])
        self.assert_fails([self.dsn, "--stats-dsn-schema", "fleet_bad1"], *where,
                          "hist_idx bucket out of range")
        self.corrupt("fleet_bad2", [5, 6], [3])
        self.assert_fails([self.dsn, "--stats-dsn-schema", "fleet_bad2"], *where,
                          "not of the same length")
        self.corrupt("fleet_bad3", [5, 6], [4, -1])
        self.assert_fails([self.dsn, "--stats-dsn-schema", "fleet_bad3"], *where,
                          "negative hist_cnt")
        self.corrupt("fleet_bad4", [6, 5], [1, 2])
        self.assert_fails([self.dsn, "--stats-dsn-schema", "fleet_bad4"], *where,
                          "not in ascending order")
        self.corrupt("fleet_bad5", [5, 6], [1, 1])
        self.assert_fails([self.dsn, "--stats-dsn-schema", "fleet_bad5"], *where,
                          "histogram does not add up to calls")
        self.corrupt("fleet_bad6", [5], [-3], calls=-3)
        self.assert_fails([self.dsn, "--stats-dsn-schema", "fleet_bad6"], *where,
                          "negative or unreadable count")
        self.corrupt("fleet_bad7", [5, None], [1, 2])
        self.assert_fails([self.dsn, "--stats-dsn-schema", "fleet_bad7"], *where,
                          "hist_idx")
        conn = self.create_schema("fleet_bad8")
        conn.cursor().execute("INSERT INTO fleet_bad8.pgsift_queries (fingerprint, database, "
                              "username, kind, query, samples, first_seen) VALUES (7, 'app', "
                              "'u', 'SELECT', 'SELECT 1', '[{\"text\": 5}]', now())")
        conn.close()
        self.assert_fails([self.dsn, "--stats-dsn-schema", "fleet_bad8"],
                          'bad pgsift_queries row (fingerprint 0000000000000007, database '
                          '"app", user "u")', "samples")
        conn = self.create_schema("fleet_bad9")
        conn.cursor().execute("INSERT INTO fleet_bad9.pgsift_queries (fingerprint, database, "
                              "username, kind, query, first_seen) VALUES (7, 'app', 'u', "
                              "'SELEKT', 'SELECT 1', now())")
        conn.close()
        self.assert_fails([self.dsn, "--stats-dsn-schema", "fleet_bad9"], "unknown kind")


# ------------------------------------------------------------------------------------------
# The same statistics from a stats file and from the store


class FleetSuggest(FleetBase):
    SCHEMA = "fleet_cmp"

    def export_tool(self):
        tool = os.environ.get("PGSIFT_FLEET_EXPORT") or os.path.join(
            os.path.dirname(os.path.abspath(harness.PGSIFT_BIN)), "tests", "integration",
            "fleet_export")
        if not os.access(tool, os.X_OK):
            self.fail("the test tool fleet_export is not built (%s)" % tool)
        return tool

    def test_suggest_same_as_stats_file(self):
        if harness.DIRECT:
            self.skipTest("needs pgsift (PGSIFT_DIRECT=1)")
        tool = self.export_tool()
        self.pg.query("DROP TABLE IF EXISTS fleet_orders")
        self.pg.query("CREATE TABLE fleet_orders (id serial PRIMARY KEY, customer_id int, "
                      "status text, created_at timestamptz, note text)")
        self.pg.query("INSERT INTO fleet_orders (customer_id, status, created_at) SELECT "
                      "g % 5000, CASE WHEN g % 50 = 0 THEN 'pending' ELSE 'done' END, "
                      "now() - g * interval '1 minute' FROM generate_series(1, 30000) g")
        self.pg.query("ANALYZE fleet_orders")
        stats_file = os.path.join(self.pg.tmp, "fleet-read-stats.bin")
        if os.path.exists(stats_file):
            os.unlink(stats_file)
        px = self.start_pgsift_for_test(settings={"stats_file": stats_file,
                                                  "log_parameters": 1,
                                                  "admin_users": harness.SUPERUSER})
        conn = px.connect()
        cur = conn.cursor()
        for i in range(30):
            cur.execute("SELECT * FROM fleet_orders WHERE customer_id = %d" % (i * 7))
            cur.fetchall()
        for i in range(20):
            cur.execute("SELECT id FROM fleet_orders WHERE status = 'pending' "
                        "ORDER BY created_at DESC LIMIT 10")
            cur.fetchall()
        for i in range(15):
            cur.execute("UPDATE fleet_orders SET note = 'n%d' WHERE customer_id = %d" % (i, i))
        for i in range(10):
            cur.execute("SELECT count(*) FROM fleet_orders WHERE created_at > now() - "
                        "interval '%d hours' AND note IS NOT NULL" % (i + 1))
            cur.fetchall()
        try:
            cur.execute("SELECT * FROM fleet_orders WHERE nosuch = 1")
        except Exception:
            pass
        conn.close()
        # what this one process's SHOW QUERIES says, once its worker has counted everything
        admin = px.connect(dbname="pgsift")

        def show_queries():
            cur = admin.cursor()
            cur.execute("SHOW QUERIES")
            names = [d.name for d in cur.description]
            rows = [dict(zip(names, r)) for r in cur.fetchall()]
            calls = {r["query"]: r["calls"] for r in rows}
            if (calls.get("SELECT * FROM fleet_orders WHERE customer_id = $1") == 30 and
                    calls.get("SELECT * FROM fleet_orders WHERE nosuch = $1") == 1):
                return rows
            return None
        shown = harness.wait_until(show_queries, 15, "the workload in SHOW QUERIES")
        admin.close()
        px.stop()
        self.assertTrue(os.path.exists(stats_file))

        self.create_schema(self.SCHEMA).close()
        r = subprocess.run([tool, stats_file, self.SCHEMA, "test-1:6432:1:1", ""],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        sql = r.stdout.decode()
        self.assertIn("INSERT INTO fleet_cmp.pgsift_statements", sql)
        self.assertIn("INSERT INTO fleet_cmp.pgsift_table_writes", sql)
        self.assertIn('"params"', sql)  # log_parameters: samples
        conn = self.pg.connect(dbname=FLEETDB)
        conn.cursor().execute(sql)
        conn.close()

        db_dsn = self.pg.dsn()
        compared = 0
        for fmt in ("json", "sql", "csv", "markdown"):
            for extra in ([], ["--since", "1h"], ["--database", "*"]):
                base = ["suggest", "--dsn", db_dsn, "--min-table-rows", "0", "--format",
                        fmt] + extra
                c1, from_file, e1 = run(base + ["--stats-file", stats_file], timeout=120)
                c2, from_dsn, e2 = run(base + ["--stats-dsn", self.dsn, "--stats-dsn-schema",
                                               self.SCHEMA], timeout=120)
                self.assertEqual((c1, c2), (0, 0), e1 + e2)
                self.assertEqual(e1, e2)
                from_dsn = from_dsn.replace(
                    "input: the fleet statistics store (schema %s)" % self.SCHEMA,
                    "input: %s" % stats_file)
                self.assertEqual(from_dsn, from_file, (fmt, extra))
                compared += 1
        doc = json.loads(run(["suggest", "--dsn", db_dsn, "--min-table-rows", "0", "--format",
                              "json", "--stats-dsn", self.dsn, "--stats-dsn-schema",
                              self.SCHEMA])[1])
        print("  %d outputs compared; %d suggestions: %s" % (
            compared, len(doc["suggestions"]),
            ", ".join(s.get("sql", "?")[:80] for s in doc["suggestions"])))
        self.assertGreaterEqual(len(doc["suggestions"]), 1)

        # top over the same rows: one instance, the statements the proxy counted
        code, out, err = run(["top", "--stats-dsn", self.dsn, "--stats-dsn-schema", self.SCHEMA,
                              "--format", "json", "--limit", "0"])
        self.assertEqual(code, 0, err)
        doc = json.loads(out)
        self.assertEqual(doc["instances"], 1)
        # a fleet of one: what that process's SHOW QUERIES said (which shows ms to 3 places)
        got = {(s["fingerprint"], s["database"], s["user"]): s for s in doc["statements"]}
        want = {(r["fingerprint"], r["database"], r["user"]): r for r in shown}
        self.assertEqual(sorted(got), sorted(want))
        for k, r in want.items():
            s = got[k]
            for col in ("calls", "errors", "timeouts", "rows", "query"):
                self.assertEqual(s[col], r[col], (k, col))
            for col in ("total_ms", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms"):
                self.assertLessEqual(abs(s[col] - float(r[col])), 0.0011, (k, col))
        print("  top over the store = SHOW QUERIES for %d statements" % len(want))
        calls = {s["query"]: s["calls"] for s in doc["statements"]}
        self.assertEqual(calls.get("SELECT * FROM fleet_orders WHERE customer_id = $1"), 30)
        self.assertEqual(calls.get("SELECT id FROM fleet_orders WHERE status = $1 "
                                   "ORDER BY created_at DESC LIMIT $2"), 20)


if __name__ == "__main__":
    unittest.main(verbosity=2)
