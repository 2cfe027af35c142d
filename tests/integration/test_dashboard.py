"""
test_dashboard: the dashboard on metrics_listen (issue 17).

- DashboardTest: a workload with a slow statement (pg_sleep), a statement on a 20,000-row table
  without the index it needs, failing statements and a statement whose normalized text needs
  escaping goes through pgsift; the JSON endpoints must agree with SHOW QUERIES, SHOW SLOW and
  `pgsift suggest` exactly; then headless Chromium (Debian's `chromium`) opens the page and the
  DOM must show the same: the top statement's text and calls, one chart point per hourly bucket,
  the suggestion's SQL. Screenshots go to $PGSIFT_DASHBOARD_SCREENSHOTS when it is set (the ones
  in docs/ were made that way).
- DashboardAuthTest: dashboard_users and basic auth against auth_file (plain, md5, SCRAM); a
  non-loopback metrics_listen without dashboard_users serves no dashboard.
- DashboardLoadTest: 10,000 fingerprints: /api/queries stays within the page's limits; the
  proxy does not stall while /api/queries is loaded in a loop during pgbench (p99 with and
  without the load are printed); bad HTTP input gets a clear 4xx and nothing else notices.

Run: PGSIFT_BIN=build/pgsift /usr/bin/python3 tests/integration/test_dashboard.py -v
"""

import base64
import html.parser
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (DIRECT, MD5_PASSWORD, MD5_USER, SCRAM_PASSWORD, SCRAM_USER, SUPERUSER,  # noqa: E402
                     TESTDB, PgsiftTestCase, wait_until)

import psycopg2  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SLOW_MS = 100
CUSTOMER_CALLS = 30
SLEEP_CALLS = 2
DIV_ZERO_CALLS = 3
ODD_ALIAS = 'we"ird \\ </script><b>x</b> \u00fc\u4e2d'
WAIT = 15


def http(port, path, method="GET", headers=None, timeout=30):
    """(status, headers, body bytes) of one request."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def get_json(port, path, **kw):
    status, _, body = http(port, path, **kw)
    if status != 200:
        raise AssertionError("%s: HTTP %d %r" % (path, status, body[:500]))
    return json.loads(body)


def raw_http(port, data, timeout=10):
    """Sends data as it is and returns everything the server answers until it closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            out += b
        return out
    finally:
        s.close()


def status_of(answer):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
    return int(m.group(1)) if m else None


def wait_listening(port):
    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    wait_until(up, 10, "the metrics listener")


def show(px, what):
    conn = psycopg2.connect(px.dsn(dbname="pgsift", user=SUPERUSER))
    conn.autocommit = True
    try:
        cur = conn.cursor()
        cur.execute(what)
        names = [d.name for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        conn.close()


class DomText(html.parser.HTMLParser):
    """A tiny DOM: every element with its tag, attributes, text and children."""

    class Node:
        def __init__(self, tag, attrs, parent):
            self.tag, self.attrs, self.parent, self.kids, self.parts = tag, dict(attrs), parent, [], []

        def text(self):
            return "".join(p if isinstance(p, str) else p.text() for p in self.parts)

        def classes(self):
            return (self.attrs.get("class") or "").split()

        def walk(self):
            yield self
            for k in self.kids:
                yield from k.walk()

        def find_all(self, tag=None, cls=None, id=None):
            return [n for n in self.walk() if (tag is None or n.tag == tag) and
                    (cls is None or cls in n.classes()) and (id is None or n.attrs.get("id") == id)]

    VOID = {"meta", "link", "br", "img", "input", "hr", "col", "area", "base", "source", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.Node("#root", [], None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        n = self.Node(tag, attrs, self.cur)
        self.cur.kids.append(n)
        self.cur.parts.append(n)
        if tag not in self.VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        n = self.Node(tag, attrs, self.cur)
        self.cur.kids.append(n)
        self.cur.parts.append(n)

    def handle_endtag(self, tag):
        n = self.cur
        while n is not self.root and n.tag != tag:
            n = n.parent
        if n is not self.root:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.parts.append(data)


def parse_dom(text):
    p = DomText()
    p.feed(text)
    return p.root


class Chromium:
    """Headless Chromium on its own profile directory (removed at the end)."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="pgsift-it-chromium-")
        harness.register_cleanup(lambda: shutil.rmtree(self.profile, ignore_errors=True))

    def _run(self, args, url, budget_ms):
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-extensions", "--disable-background-networking",
               "--user-data-dir=" + self.profile, "--hide-scrollbars",
               "--virtual-time-budget=%d" % budget_ms] + args + [url]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        if r.returncode != 0:
            raise AssertionError("chromium failed (%d): %s" % (r.returncode, r.stderr.decode()[-2000:]))
        return r.stdout.decode()

    def dom(self, url, budget_ms=6000):
        return parse_dom(self._run(["--dump-dom"], url, budget_ms))

    def screenshot(self, url, path, size="1400,1000", budget_ms=6000):
        self._run(["--screenshot=" + path, "--window-size=" + size], url, budget_ms)
        return path


@unittest.skipIf(DIRECT, "the dashboard is pgsift's (PGSIFT_DIRECT=1)")
class DashboardTest(PgsiftTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        conn = cls.pg.connect()
        cur = conn.cursor()
        cur.execute("DROP TABLE IF EXISTS dash_orders")
        cur.execute("CREATE TABLE dash_orders (id bigserial PRIMARY KEY, customer_id int NOT NULL, "
                    "status text NOT NULL, total numeric NOT NULL, created_at timestamptz NOT NULL)")
        cur.execute("INSERT INTO dash_orders (customer_id, status, total, created_at) "
                    "SELECT g % 2000, CASE WHEN g % 10 = 0 THEN 'open' ELSE 'done' END, g % 97, "
                    "now() - g * interval '1 minute' FROM generate_series(1, 20000) g")
        cur.execute("ANALYZE dash_orders")
        conn.close()
        cls.mport = harness.free_port()
        cls.px = cls.start_pgsift(settings={
            "metrics_listen": "127.0.0.1:%d" % cls.mport,
            "slow_query_ms": str(SLOW_MS),
            "admin_users": SUPERUSER,
            "pool_mode": "transaction",
        })
        wait_listening(cls.mport)
        c = cls.px.connect()
        cur = c.cursor()
        for i in range(CUSTOMER_CALLS):
            cur.execute("SELECT id, total FROM dash_orders WHERE customer_id = %d" % (i * 7 + 1))
            cur.fetchall()
        for _ in range(SLEEP_CALLS):
            cur.execute("SELECT pg_sleep(0.2)")
        for _ in range(DIV_ZERO_CALLS):
            try:
                cur.execute("SELECT 1 / (id - id) FROM dash_orders WHERE id = 1")
            except psycopg2.Error:
                pass
        cur.execute('SELECT 1 AS "%s"' % ODD_ALIAS.replace('"', '""'))
        c.close()

        def counted():
            rows = show(cls.px, "SHOW QUERIES")
            calls = sum(int(r["calls"]) for r in rows if r["database"] == TESTDB)
            return calls >= CUSTOMER_CALLS + SLEEP_CALLS + DIV_ZERO_CALLS + 1
        wait_until(counted, WAIT, "the workload in SHOW QUERIES")
        cls.queries = [r for r in show(cls.px, "SHOW QUERIES") if r["database"] == TESTDB]

    def row_of(self, needle):
        rows = [r for r in self.queries if needle in r["query"]]
        self.assertEqual(len(rows), 1, "SHOW QUERIES rows with %r: %r" % (needle, rows))
        return rows[0]

    def api_rows(self, sort="total", window="all", limit=500):
        d = get_json(self.mport, "/api/queries?window=%s&sort=%s&limit=%d" % (window, sort, limit))
        return d, [r for r in d["rows"] if r["database"] == TESTDB]

    def test_queries_equal_show_queries(self):
        """Every row of /api/queries has SHOW QUERIES's text, calls, errors and percentiles."""
        d, rows = self.api_rows()
        self.assertEqual(d["window"], "all")
        by_key = {(r["fingerprint"], r["user"]): r for r in rows}
        self.assertEqual(len(by_key), len(self.queries))
        for s in self.queries:
            r = by_key[(s["fingerprint"], s["user"])]
            self.assertEqual(r["query"], s["query"])
            for k in ("calls", "errors", "timeouts", "rows"):
                self.assertEqual(r[k], int(s[k]), "%s of %s" % (k, s["query"]))
            for k in ("p50_ms", "p95_ms", "p99_ms", "total_ms", "max_ms"):
                self.assertAlmostEqual(r[k], float(s[k]), delta=0.0015, msg="%s of %s" % (k, s["query"]))
        cust = [r for r in rows if "customer_id" in r["query"]]
        self.assertEqual(len(cust), 1)
        self.assertEqual(cust[0]["calls"], CUSTOMER_CALLS)
        div = [r for r in rows if "(id - id)" in r["query"]][0]
        self.assertEqual(div["calls"], DIV_ZERO_CALLS)
        self.assertEqual(div["errors"], DIV_ZERO_CALLS)
        self.assertEqual(div["error_classes"], {"22": DIV_ZERO_CALLS})
        # sorted as asked: SHOW QUERIES's order is by total time
        self.assertEqual([r["fingerprint"] for r in rows],
                         [s["fingerprint"] for s in self.queries])
        _, by_calls = self.api_rows(sort="calls")
        self.assertEqual(by_calls[0]["fingerprint"], cust[0]["fingerprint"])
        calls = [r["calls"] for r in by_calls]
        self.assertEqual(calls, sorted(calls, reverse=True))

    def test_queries_escaping(self):
        """A normalized text with quotes, backslash, markup and non-ASCII survives JSON as it is."""
        s = self.row_of("we\"\"ird")
        _, rows = self.api_rows()
        r = [r for r in rows if r["fingerprint"] == s["fingerprint"]][0]
        self.assertEqual(r["query"], s["query"])
        self.assertIn(ODD_ALIAS.replace('"', '""'), r["query"])
        status, headers, body = http(self.mport, "/api/queries?window=all&limit=500")
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(headers["X-Content-Type-Options"], "nosniff")  # JSON is never run as HTML
        self.assertEqual([x["query"] for x in json.loads(body.decode("utf-8"))["rows"]
                          if x["fingerprint"] == s["fingerprint"]], [s["query"]])

    def test_hours_series(self):
        """Each statement carries one point per kept hourly bucket, which add up to its calls."""
        _, rows = self.api_rows()
        for r in rows:
            self.assertGreaterEqual(len(r["hours"]), 1)
            self.assertEqual(sum(h[1] for h in r["hours"]), r["calls"])
            self.assertEqual(sum(h[2] for h in r["hours"]), r["errors"])
            for h in r["hours"]:
                self.assertEqual(h[0] % 3600, 0)

    def test_windows_and_bad_parameters(self):
        for w in ("1h", "24h", "7d", "14d", "all"):
            d = get_json(self.mport, "/api/queries?window=%s" % w)
            self.assertEqual(d["window"], w)
            self.assertLessEqual(len(d["rows"]), 20)
        for q in ("window=2h", "sort=name", "limit=501", "limit=-1", "offset=x", "hours=2"):
            status, _, body = http(self.mport, "/api/queries?" + q)
            self.assertEqual(status, 400, q)
            self.assertIn("error", json.loads(body))
        status, _, _ = http(self.mport, "/api/nothing")
        self.assertEqual(status, 404)

    def test_one_statement(self):
        """/api/query: the statement, its hours, its error classes, the columns it filters by."""
        s = self.row_of("customer_id")
        q = "/api/query?fingerprint=%s&database=%s&user=%s" % (s["fingerprint"], TESTDB, SUPERUSER)
        d = get_json(self.mport, q)
        self.assertEqual(d["statement"]["query"], s["query"])
        self.assertEqual(d["statement"]["calls"], CUSTOMER_CALLS)
        self.assertEqual(len(d["statement"]["hours"]), 1)
        self.assertEqual(d["tables"], [{"table": "dash_orders",
                                        "filters": [{"column": "customer_id", "use": "eq"}],
                                        "joins": [], "sorts": []}])
        e = self.row_of("(id - id)")
        d = get_json(self.mport, "/api/query?fingerprint=%s&database=%s&user=%s" %
                     (e["fingerprint"], TESTDB, SUPERUSER))
        self.assertEqual(d["statement"]["error_classes"], {"22": DIV_ZERO_CALLS})
        status, _, _ = http(self.mport, "/api/query?fingerprint=0123456789abcdef&database=x&user=y")
        self.assertEqual(status, 404)

    def test_slow(self):
        """/api/slow is SHOW SLOW: the pg_sleep statements, newest first."""
        d = get_json(self.mport, "/api/slow")
        self.assertEqual(d["slow_query_ms"], SLOW_MS)
        slow = show(self.px, "SHOW SLOW")
        self.assertEqual(len(d["rows"]), len(slow))
        sleeps = [r for r in d["rows"] if "pg_sleep" in r["query"]]
        self.assertEqual(len(sleeps), SLEEP_CALLS)
        for r in sleeps:
            self.assertGreaterEqual(r["duration_ms"], 200)
            self.assertEqual(r["database"], TESTDB)
        self.assertEqual([r["query"] for r in d["rows"]], [r["query"] for r in slow])

    def test_pools(self):
        d = get_json(self.mport, "/api/pools")
        pools = [p for p in d["pools"] if p["database"] == TESTDB and p["user"] == SUPERUSER]
        self.assertEqual(len(pools), 1)
        self.assertEqual(pools[0]["pool_mode"], "transaction")
        st = d["statistics"]
        self.assertGreaterEqual(st["statements"], CUSTOMER_CALLS + SLEEP_CALLS + DIV_ZERO_CALLS + 1)
        self.assertEqual(st["events_dropped"], 0)
        self.assertGreaterEqual(st["errors"], DIV_ZERO_CALLS)
        self.assertEqual(d["paused"], False)

    def suggest(self, fmt):
        cmd = [harness.PGSIFT_BIN, "suggest", "--admin", self.px.dsn(dbname="pgsift"),
               "--dsn", self.pg.dsn(), "--format", fmt]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return r.stdout.decode()

    def test_suggestions_equal_pgsift_suggest(self):
        """The missing index on dash_orders(customer_id): same SQL as `pgsift suggest`."""
        d = get_json(self.mport, "/api/suggestions?refresh=1")
        want = json.loads(self.suggest("json"))
        want_sql = [s["sql"] for s in want["suggestions"]]
        got_sql = [s["sql"] for s in d["suggestions"] if s["database"] == TESTDB]
        self.assertEqual(got_sql, want_sql)
        self.assertEqual(len(got_sql), 1)
        self.assertIn("(customer_id)", got_sql[0])
        cust = self.row_of("customer_id")
        self.assertIn(cust["fingerprint"], [st["fingerprint"] for st in d["suggestions"][0]["statements"]])
        # the migration: every statement of `pgsift suggest --format sql`, comments aside
        creates = lambda text: [l for l in text.splitlines() if l.startswith("CREATE INDEX")]  # noqa: E731
        self.assertEqual(creates(d["migration"]), creates(self.suggest("sql")))

    @unittest.skipUnless(CHROMIUM, "needs Debian's chromium (scripts/install-deps.sh)")
    def test_browser(self):
        """The page in headless Chromium: the DOM shows what SHOW QUERIES and pgsift suggest say."""
        b = Chromium()
        base = "http://127.0.0.1:%d/" % self.mport
        dom = b.dom(base + "?window=24h")
        self.assertEqual(dom.find_all("body")[0].attrs.get("data-view"), "overview")
        self.assertEqual(dom.find_all(id="error"), [], "the page reported an error")
        top = dom.find_all("table", id="top-total")[0]
        rows = top.find_all("tr", cls="stmt")
        self.assertGreaterEqual(len(rows), 3)
        first = rows[0]
        want = self.queries[0]  # SHOW QUERIES is sorted by total time
        self.assertEqual(first.find_all("td", cls="query")[0].text(), want["query"])
        self.assertEqual(first.find_all("td", cls="calls")[0].text(), str(want["calls"]))
        self.assertEqual(first.attrs["data-fingerprint"], want["fingerprint"])
        # one point per hourly bucket, in each line, and one bar
        api = get_json(self.mport, "/api/queries?window=24h&sort=total&limit=10")
        for tr, r in zip(rows, api["rows"]):
            svg = tr.find_all("svg", cls="chart")[0]
            self.assertEqual(int(svg.attrs["data-points"]), len(r["hours"]))
            self.assertEqual(len(svg.find_all("circle", cls="p99")), len(r["hours"]))
            self.assertEqual(len(svg.find_all("circle", cls="p50")), len(r["hours"]))
            self.assertEqual(len(svg.find_all("rect", cls="bar")), len(r["hours"]))
        by_calls = dom.find_all("table", id="top-calls")[0].find_all("tr", cls="stmt")
        self.assertEqual(by_calls[0].find_all("td", cls="calls")[0].text(), str(CUSTOMER_CALLS))
        self.assertIn("customer_id", by_calls[0].find_all("td", cls="query")[0].text())
        odd = [tr for tr in rows if "we\"\"ird" in tr.find_all("td", cls="query")[0].text()]
        for tr in odd:  # markup in a statement is text, never elements
            self.assertEqual(tr.find_all("td", cls="query")[0].find_all("b"), [])

        # the suggestions page: the same SQL as pgsift suggest
        want_sql = [s["sql"] for s in json.loads(self.suggest("json"))["suggestions"]]
        dom = b.dom(base + "#/suggestions")
        got_sql = [p.text() for p in dom.find_all("pre", cls="sugg-sql")]
        self.assertEqual(got_sql, want_sql)
        self.assertEqual(len(dom.find_all("button", id="copy-migration")), 1)
        creates = lambda text: [l for l in text.splitlines() if l.startswith("CREATE INDEX")]  # noqa: E731
        self.assertEqual(creates(dom.find_all("pre", id="migration")[0].text()),
                         creates(self.suggest("sql")))

        # one statement's page
        cust = self.row_of("customer_id")
        url = base + "#/query?fingerprint=%s&database=%s&user=%s" % (cust["fingerprint"], TESTDB, SUPERUSER)
        dom = b.dom(url)
        self.assertEqual(dom.find_all("pre", id="stmt-text")[0].text(), cust["query"])
        self.assertEqual(int(dom.find_all("div", id="stmt-chart")[0].find_all("svg")[0].attrs["data-points"]), 1)
        self.assertIn("customer_id (eq)", dom.find_all("table", id="stmt-tables")[0].text())
        self.assertEqual([p.text() for p in dom.find_all("pre", cls="sugg-sql")], want_sql)

        # the slow statements page
        dom = b.dom(base + "#/slow")
        slow = dom.find_all("table", id="slow")[0].find_all("tr", cls="slow")
        self.assertEqual(len([tr for tr in slow if "pg_sleep" in tr.text()]), SLEEP_CALLS)

        out = os.environ.get("PGSIFT_DASHBOARD_SCREENSHOTS")
        if out:
            os.makedirs(out, exist_ok=True)
            b.screenshot(base + "?window=24h", os.path.join(out, "dashboard-overview.png"), "1400,1250")
            b.screenshot(url, os.path.join(out, "dashboard-statement.png"), "1400,1100")
            b.screenshot(base + "#/suggestions", os.path.join(out, "dashboard-suggestions.png"), "1400,900")


@unittest.skipIf(DIRECT, "the dashboard is pgsift's (PGSIFT_DIRECT=1)")
class DashboardAuthTest(PgsiftTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mport = harness.free_port()
        cls.px = cls.start_pgsift(
            settings={"metrics_listen": "127.0.0.1:%d" % cls.mport,
                      "dashboard_users": "viewer, %s, %s" % (MD5_USER, SCRAM_USER)},
            users={"viewer": "viewpass", "outsider": "outpass",
                   MD5_USER: harness.md5_secret(MD5_USER, MD5_PASSWORD),
                   SCRAM_USER: harness.pg().scram_secret(SCRAM_USER)})
        wait_listening(cls.mport)

    def basic(self, user, password):
        return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}

    def test_basic_auth(self):
        status, headers, _ = http(self.mport, "/api/pools")
        self.assertEqual(status, 401)
        self.assertIn("Basic", headers["WWW-Authenticate"])
        for user, password, want in (("viewer", "viewpass", 200), ("viewer", "wrong", 401),
                                     ("outsider", "outpass", 401), ("nobody", "x", 401),
                                     (MD5_USER, MD5_PASSWORD, 200), (MD5_USER, "md5x", 401),
                                     (SCRAM_USER, SCRAM_PASSWORD, 200), (SCRAM_USER, "no", 401)):
            status, _, _ = http(self.mport, "/api/pools", headers=self.basic(user, password))
            self.assertEqual(status, want, "%s / %s" % (user, password))
        status, _, body = http(self.mport, "/", headers=self.basic("viewer", "viewpass"))
        self.assertEqual(status, 200)
        self.assertIn(b"<title>pgsift</title>", body)
        for bad in ("Basic !!!", "Bearer x", "Basic " + base64.b64encode(b"nocolon").decode()):
            status, _, _ = http(self.mport, "/api/pools", headers={"Authorization": bad})
            self.assertEqual(status, 401, bad)
        # /metrics is Prometheus's, unchanged: no password
        status, _, body = http(self.mport, "/metrics")
        self.assertEqual(status, 200)
        self.assertIn(b"pgsift_up 1", body)

    def test_non_loopback_without_users(self):
        port = harness.free_port()
        px = self.start_pgsift_for_test(settings={"metrics_listen": "0.0.0.0:%d" % port})
        wait_listening(port)
        status, _, body = http(port, "/")
        self.assertEqual(status, 403)
        self.assertIn(b"dashboard_users", body)
        status, _, _ = http(port, "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(px.is_alive())


def p99_of(log_dir):
    """pgbench's per-transaction latencies (-l) in ms: (count, p50, p99)."""
    lat = []
    for name in os.listdir(log_dir):
        with open(os.path.join(log_dir, name)) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    lat.append(int(parts[2]) / 1000.0)
    lat.sort()
    if not lat:
        return 0, 0.0, 0.0
    return len(lat), lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]


@unittest.skipIf(DIRECT, "the dashboard is pgsift's (PGSIFT_DIRECT=1)")
class DashboardLoadTest(PgsiftTestCase):
    FINGERPRINTS = 10000
    PGBENCH_SECONDS = 10

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mport = harness.free_port()
        cls.px = cls.start_pgsift(settings={
            "metrics_listen": "127.0.0.1:%d" % cls.mport,
            "admin_users": SUPERUSER, "pool_mode": "transaction", "default_pool_size": "8",
            "max_fingerprints": "20000", "stats_queue_size": "262144", "max_client_conn": "200"})
        wait_listening(cls.mport)
        c = cls.px.connect()
        cur = c.cursor()
        for i in range(cls.FINGERPRINTS):  # one column name each: one fingerprint each
            cur.execute("SELECT c%d FROM (SELECT 1 AS c%d) s" % (i, i))
        c.close()

        def counted():
            return get_json(cls.mport, "/api/pools")["statistics"]["fingerprints"] >= cls.FINGERPRINTS
        wait_until(counted, 60, "10,000 fingerprints", interval=0.2)
        r = harness.run_pgbench(cls.pg, ["-i", "-q", "-s", "1"], timeout=300)
        assert r.returncode == 0, r

    def test_10000_fingerprints_within_limits(self):
        t0 = time.monotonic()
        status, headers, body = http(self.mport, "/api/queries?window=all&sort=calls&limit=500")
        took = time.monotonic() - t0
        self.assertEqual(status, 200)
        d = json.loads(body)
        self.assertGreaterEqual(d["total"], self.FINGERPRINTS)
        self.assertEqual(len(d["rows"]), 500)
        self.assertEqual(sum(1 for r in d["rows"] if "hours" in r), 50)
        self.assertLess(len(body), 2 << 20, "an answer over the page's 2 MiB")
        status, _, body = http(self.mport, "/api/queries?window=all")
        self.assertEqual(len(json.loads(body)["rows"]), 20)
        self.assertLess(len(body), 256 << 10)
        self.assertEqual(http(self.mport, "/api/queries?limit=501")[0], 400)
        print("\n  /api/queries, 10,000 fingerprints, limit 500: %d bytes in %.1f ms"
              % (int(headers["Content-Length"]), took * 1000))

    def pgbench_p99(self, load):
        d = tempfile.mkdtemp(prefix="pgsift-it-pgbench-")
        self.addCleanup(shutil.rmtree, d, True)
        stop = threading.Event()
        served = [0, 0.0]

        def hammer():
            i = 0
            while not stop.is_set():
                i += 1
                t0 = time.monotonic()
                # a new offset each time: every answer is computed, none comes from the cache
                status, _, body = http(self.mport, "/api/queries?window=all&limit=500&offset=%d" % (i % 97))
                served[0] += status == 200
                served[1] = max(served[1], time.monotonic() - t0)
        threads = [threading.Thread(target=hammer, daemon=True) for _ in range(2 if load else 0)]
        for t in threads:
            t.start()
        r = harness.run_pgbench(self.px, ["-S", "-c", "4", "-j", "2", "-T", str(self.PGBENCH_SECONDS),
                                          "-l", "--log-prefix=" + os.path.join(d, "lat")], timeout=120)
        stop.set()
        for t in threads:
            t.join(60)
        self.assertEqual(r.returncode, 0, r)
        n, p50, p99 = p99_of(d)
        return n, p50, p99, served[0], served[1]

    def test_no_stall_under_dashboard_load(self):
        """pgbench -S through pgsift, alone and while /api/queries (10,000 fingerprints) is
        fetched in a loop by two clients: p99 stays within pgbench's noise."""
        base = self.pgbench_p99(False)
        loaded = self.pgbench_p99(True)
        again = self.pgbench_p99(False)
        print("\n  pgbench -S -c 4, %d s: p99 %.3f ms (p50 %.3f, %d xacts) alone; %.3f ms "
              "(p50 %.3f, %d xacts) with /api/queries in a loop (%d answers, slowest %.0f ms); "
              "%.3f ms alone again" % (self.PGBENCH_SECONDS, base[2], base[1], base[0], loaded[2],
                                       loaded[1], loaded[0], loaded[3], loaded[4] * 1000, again[2]))
        self.assertGreater(loaded[3], 10, "the dashboard answered too few requests")
        # generous: two cores shared by pgbench, PostgreSQL, pgsift and the dashboard's thread
        noise = max(base[2], again[2])
        self.assertLess(loaded[2], max(3 * noise, noise + 5.0))

    def assert_unaffected(self):
        self.assertTrue(self.px.is_alive())
        status, _, body = http(self.mport, "/metrics")
        self.assertEqual(status, 200)
        c = self.px.connect()
        cur = c.cursor()
        cur.execute("SELECT 42")
        self.assertEqual(cur.fetchall(), [(42,)])
        c.close()

    def test_bad_input(self):
        """Each bad request gets its 4xx, then the port, /metrics and the proxy still serve."""
        cases = [
            (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n", 431),
            (b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(100)) + b"\r\n", 431),
            (b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\n\r\n", 414),
            (b"GET /../../etc/passwd HTTP/1.1\r\n\r\n", 400),
            (b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\n\r\n", 400),
            (b"GET /api/..%2fmetrics HTTP/1.1\r\n\r\n", 400),
            (b"GET /..\\..\\etc\\passwd HTTP/1.1\r\n\r\n", 400),
            (b"GET /%00 HTTP/1.1\r\n\r\n", 400),
            (b"POST /api/queries HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 405),
            (b"DELETE /api/queries HTTP/1.1\r\n\r\n", 405),
            (b"PUT / HTTP/1.1\r\n\r\n", 405),
            (b"BREW /pot HTTP/1.1\r\n\r\n", 405),
            (b"GET / HTTP/2.0\r\n\r\n", 505),
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400),
            (b"GET http://evil.example/ HTTP/1.1\r\n\r\n", 400),
        ]
        for data, want in cases:
            answer = raw_http(self.mport, data)
            self.assertEqual(status_of(answer), want, "%r -> %r" % (data[:60], answer[:200]))
            if want == 405:
                self.assertIn(b"Allow: GET, HEAD", answer)
        # a POST with a body that keeps coming: still a clean 405, never a reset
        s = socket.create_connection(("127.0.0.1", self.mport), timeout=10)
        s.sendall(b"POST / HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 200000)
        self.assertEqual(status_of(s.recv(4096)), 405)
        s.close()
        self.assert_unaffected()

    def test_slowloris(self):
        """Heads that trickle in get 408 after 5 s; meanwhile everything else is served."""
        socks = []
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", self.mport), timeout=15)
            s.sendall(b"GET /api/queries HTTP/1.1\r\n")
            socks.append(s)
        t0 = time.monotonic()
        for i in range(3):
            for s in socks:
                s.sendall(b"X-Slow-%d: 1\r\n" % i)
            t1 = time.monotonic()
            self.assert_unaffected()
            self.assertLess(time.monotonic() - t1, 2.0)
            time.sleep(1)
        for s in socks:
            answer = b""
            while True:
                try:
                    b = s.recv(4096)
                except (ConnectionResetError, socket.timeout):
                    break
                if not b:
                    break
                answer += b
            self.assertEqual(status_of(answer), 408, answer[:200])
            s.close()
        took = time.monotonic() - t0
        self.assertLess(took, 10)
        # too many idle connections: the 65th is told at once, then all is well again
        idle = [socket.create_connection(("127.0.0.1", self.mport), timeout=10) for _ in range(64)]
        try:
            wait_until(lambda: True, 1, "")
            answer = raw_http(self.mport, b"GET /metrics HTTP/1.1\r\n\r\n")
            self.assertEqual(status_of(answer), 503, answer[:200])
        finally:
            for s in idle:
                s.close()
        wait_until(lambda: http(self.mport, "/metrics")[0] == 200, 10, "/metrics after the flood")
        self.assert_unaffected()


if __name__ == "__main__":
    unittest.main()
