"""
test_admin: the admin console. pgsift and Debian's PgBouncer 1.18 run side by side against the
same PostgreSQL, and every SHOW command they share must answer with the same column names, order
and type OIDs (what exporters and dashboards depend on). Then the values pgsift must get exactly
right: pools after known traffic, SHOW QUERIES after known statements, read-only access for
stats_users, PAUSE/RESUME, KILL, RELOAD, SHUTDOWN, RESET STATS, errors for unknown commands, and
Debian's prometheus-pgbouncer-exporter reading pgsift's console.

Run: PGSIFT_BIN=build/pgsift /usr/bin/python3 tests/integration/test_admin.py
"""

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DIRECT, SUPERUSER, TESTDB, PgsiftTestCase, wait_until  # noqa: E402

import psycopg2  # noqa: E402

PGBOUNCER = "/usr/sbin/pgbouncer"
EXPORTER = "/usr/bin/prometheus-pgbouncer-exporter"
ADMIN, STATS_USER = "admin", "statsuser"
STATS_DB = "postgres"  # only the tests that count statements use it

# The SHOW commands both consoles have, compared column by column.
SHARED_SHOWS = ["POOLS", "STATS", "STATS_TOTALS", "STATS_AVERAGES", "CLIENTS", "SERVERS",
                "DATABASES", "USERS", "CONFIG", "VERSION", "LISTS", "TOTALS", "HELP"]

# pgsift's own columns after PgBouncer's (PgBouncer adds its new columns at the end, so tools
# read columns by name): SHOW STATS counts per database the statements whose statistics events
# the full queue dropped.
PGSIFT_EXTRA_COLUMNS = {"STATS": [("stats_events_dropped", 1700),
                                  ("stats_store_calls_dropped", 1700)]}

QUERIES_COLUMNS = [("fingerprint", 25), ("query", 25), ("database", 25), ("user", 25),
                   ("calls", 20), ("errors", 20), ("timeouts", 20), ("rows", 20),
                   ("total_ms", 701), ("mean_ms", 701), ("p50_ms", 701), ("p95_ms", 701),
                   ("p99_ms", 701), ("max_ms", 701), ("first_seen", 25), ("last_seen", 25),
                   ("sample_query", 25), ("sample_params", 25)]


class PgBouncer:
    """Debian's pgbouncer on a free port, as the postgres user (it refuses to run as root)."""

    def __init__(self, server):
        self.tmp = tempfile.mkdtemp(prefix="pgsift-it-pgb-")
        harness._watchdog_send("dir " + self.tmp)
        self.host = "127.0.0.1"
        self.port = harness.free_port()
        users = os.path.join(self.tmp, "userlist.txt")
        with open(users, "w") as f:
            for u in (ADMIN, STATS_USER, SUPERUSER):
                f.write('"%s" ""\n' % u)
        self.ini = os.path.join(self.tmp, "pgbouncer.ini")
        with open(self.ini, "w") as f:
            f.write("[databases]\n%s = host=%s port=%d\n%s = host=%s port=%d\n" % (
                TESTDB, server.host, server.port, STATS_DB, server.host, server.port))
            f.write("[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = %d\n"
                    "unix_socket_dir =\nauth_type = trust\nauth_file = %s\n"
                    "admin_users = %s\nstats_users = %s\nlogfile = %s\n" % (
                        self.port, users, ADMIN, STATS_USER,
                        os.path.join(self.tmp, "pgbouncer.log")))
        kw = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for p in (self.tmp, users, self.ini):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            kw = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        self.proc = subprocess.Popen([PGBOUNCER, "-q", self.ini], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     close_fds=True, **kw)
        harness._watchdog_send("pid %d" % self.proc.pid)
        harness.register_cleanup(self.stop)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("pgbouncer exited with %d:\n%s" % (
                    self.proc.returncode, self.proc.stdout.read().decode(errors="replace")))
            try:
                self.admin().close()
                return True
            except psycopg2.OperationalError:
                return False
        wait_until(ready, 10, "pgbouncer to accept connections")

    def dsn(self, dbname=TESTDB, user=SUPERUSER, **kw):
        return harness._dsn(self.host, self.port, dbname, user, **kw)

    def admin(self, user=ADMIN):
        conn = psycopg2.connect(harness._dsn(self.host, self.port, "pgbouncer", user))
        conn.autocommit = True
        return conn

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        harness._watchdog_send("unpid %d" % self.proc.pid)
        shutil.rmtree(self.tmp, ignore_errors=True)


def admin_conn(target, user=ADMIN, dbname="pgsift"):
    conn = psycopg2.connect(target.dsn(dbname=dbname, user=user))
    conn.autocommit = True
    return conn


def show(conn, what):
    """(columns as [(name, type oid)], rows as dicts) of one SHOW command."""
    cur = conn.cursor()
    cur.execute("SHOW " + what)
    cols = [(d.name, d.type_code) for d in cur.description] if cur.description else None
    rows = [dict(zip([c[0] for c in cols], r)) for r in cur.fetchall()] if cols else []
    return cols, rows


def error_of(conn, sql):
    """(sqlstate, message) of the error sql raises; fails when it raises none."""
    try:
        conn.cursor().execute(sql)
    except psycopg2.Error as e:
        return e.pgcode, e.diag.message_primary
    raise AssertionError("%r did not fail" % sql)


@unittest.skipIf(DIRECT, "the admin console is pgsift's (PGSIFT_DIRECT=1)")
class AdminTest(PgsiftTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.px = cls.start_pgsift(settings={"admin_users": ADMIN, "stats_users": STATS_USER})
        cls.pgb = PgBouncer(cls.pg)

    # ---- PgBouncer compatibility ----

    def test_shared_show_columns_match_pgbouncer(self):
        """
        Every shared SHOW: PgBouncer 1.18's column names, order and type OIDs, then only the
        extra columns PGSIFT_EXTRA_COLUMNS names.
        """
        # traffic on both, so that SHOW CLIENTS / SERVERS have rows of every kind
        app_px, app_pgb = self.px.connect(), harness._connect(
            self.pgb.host, self.pgb.port, TESTDB, SUPERUSER, True)
        app_px.cursor().execute("SELECT 1")
        app_pgb.cursor().execute("SELECT 1")
        a_px, a_pgb = admin_conn(self.px), self.pgb.admin()
        try:
            for what in SHARED_SHOWS:
                with self.subTest(show=what):
                    cols_pgb, _ = show(a_pgb, what)
                    cols_px, _ = show(a_px, what)
                    extra = PGSIFT_EXTRA_COLUMNS.get(what)
                    self.assertEqual(cols_px, cols_pgb + extra if extra else cols_pgb,
                                     "SHOW %s" % what)
            for what in ("CLIENTS", "SERVERS"):
                _, rows_px = show(a_px, what)
                _, rows_pgb = show(a_pgb, what)
                self.assertTrue(rows_px and rows_pgb, what)
                self.assertEqual({r["type"] for r in rows_px}, {r["type"] for r in rows_pgb})
        finally:
            for c in (app_px, app_pgb, a_px, a_pgb):
                c.close()

    def test_show_config_keys_are_pgbouncer_names(self):
        """SHOW CONFIG is sorted by key and every PgBouncer key pgsift has keeps its name."""
        a_px, a_pgb = admin_conn(self.px), self.pgb.admin()
        try:
            _, px_rows = show(a_px, "CONFIG")
            _, pgb_rows = show(a_pgb, "CONFIG")
        finally:
            a_px.close()
            a_pgb.close()
        keys = [r["key"] for r in px_rows]
        self.assertEqual(keys, sorted(keys))
        px = {r["key"]: r for r in px_rows}
        pgb_keys = {r["key"] for r in pgb_rows}
        for k in ("listen_port", "pool_mode", "default_pool_size", "max_client_conn",
                  "admin_users", "stats_users", "query_timeout", "server_reset_query"):
            self.assertIn(k, px)
            self.assertIn(k, pgb_keys)
        self.assertEqual(px["listen_port"]["value"], str(self.px.port))
        self.assertEqual(px["admin_users"]["value"], ADMIN)
        self.assertEqual(px["pool_mode"]["value"], "session")
        for r in px_rows:
            self.assertIn(r["changeable"], ("yes", "no"))

    def test_command_tags_match_pgbouncer(self):
        """PAUSE, RESUME, RELOAD, PAUSE db, RESUME db answer with PgBouncer's command tags."""
        a_px, a_pgb = admin_conn(self.px), self.pgb.admin()
        try:
            for sql in ("PAUSE", "RESUME", "PAUSE %s" % TESTDB, "RESUME %s" % TESTDB,
                        "RELOAD", "show version;", "  Show Version ; "):
                tags = []
                for conn in (a_px, a_pgb):
                    cur = conn.cursor()
                    cur.execute(sql)
                    tags.append(cur.statusmessage)
                self.assertEqual(tags[0], tags[1], sql)
        finally:
            a_px.close()
            a_pgb.close()

    def test_stats_user_reads_but_cannot_change(self):
        """stats_users may SHOW everything and change nothing (42501), on pgsift as on PgBouncer
        (which refuses too, with its own SQLSTATE)."""
        conn = admin_conn(self.px, user=STATS_USER)
        try:
            for what in SHARED_SHOWS + ["QUERIES", "SLOW"]:
                show(conn, what)
            for sql in ("PAUSE", "RESUME", "RELOAD", "SHUTDOWN", "KILL %s" % TESTDB,
                        "RESET STATS", "PAUSE %s" % TESTDB):
                code, msg = error_of(conn, sql)
                self.assertEqual(code, "42501", sql)
                self.assertIn("admin access needed", msg)
            _, rows = show(conn, "DATABASES")
            self.assertEqual([r["paused"] for r in rows if r["name"] == "pgsift"], [0])
        finally:
            conn.close()
        pgb = self.pgb.admin(user=STATS_USER)
        try:
            show(pgb, "POOLS")
            self.assertRaises(psycopg2.Error, pgb.cursor().execute, "PAUSE")
        finally:
            pgb.close()
        # a user in neither list cannot log in to the console at all
        with self.assertRaises(psycopg2.OperationalError) as cm:
            admin_conn(self.px, user=SUPERUSER)
        self.assertIn("admin_users or stats_users", str(cm.exception))

    def test_unknown_commands(self):
        conn = admin_conn(self.px)
        try:
            for sql in ("SELECT 1", "SHOW NOTHING", "SHOW POOLS EXTRA", "FROBNICATE now",
                        "PAUSE a b c"):
                code, msg = error_of(conn, sql)
                self.assertEqual(code, "42601", sql)
                self.assertIn(sql, msg)
            code, msg = error_of(conn, "KILL no_such_db")
            self.assertEqual(code, "3D000")
            # the console stays usable after errors
            self.assertEqual(show(conn, "VERSION")[1][0]["version"][:7], "pgsift ")
        finally:
            conn.close()

    # ---- exact values ----

    def _pool(self, conn, db, user):
        rows = [r for r in show(conn, "POOLS")[1] if r["database"] == db and r["user"] == user]
        return rows[0] if rows else None

    def test_pools_and_stats_after_known_traffic(self):
        admin = admin_conn(self.px)
        app = self.px.connect(dbname=STATS_DB)
        try:
            for i in range(3):
                app.cursor().execute("SELECT %d" % i)
            pool = self._pool(admin, STATS_DB, SUPERUSER)
            self.assertEqual((pool["cl_active"], pool["cl_waiting"], pool["sv_active"],
                              pool["sv_idle"], pool["sv_used"], pool["sv_login"],
                              pool["maxwait"], pool["pool_mode"]),
                             (1, 0, 1, 0, 0, 0, 0, "session"))
            stats = [r for r in show(admin, "STATS")[1] if r["database"] == STATS_DB]
            self.assertEqual(len(stats), 1)
            self.assertEqual(stats[0]["total_query_count"], 3)
            totals = [r for r in show(admin, "STATS_TOTALS")[1] if r["database"] == STATS_DB]
            self.assertEqual(totals[0]["query_count"], 3)
            self.assertGreater(totals[0]["query_time"], 0)
            clients = [r for r in show(admin, "CLIENTS")[1] if r["database"] == STATS_DB]
            self.assertEqual(len(clients), 1)
            self.assertEqual((clients[0]["type"], clients[0]["user"], clients[0]["state"],
                              clients[0]["addr"], clients[0]["local_port"]),
                             ("C", SUPERUSER, "active", "127.0.0.1", self.px.port))
            servers = [r for r in show(admin, "SERVERS")[1] if r["database"] == STATS_DB]
            self.assertEqual(len(servers), 1)
            self.assertEqual((servers[0]["state"], servers[0]["link"], servers[0]["port"]),
                             ("active", clients[0]["ptr"], self.pg.port))
            self.assertIn(servers[0]["remote_pid"], self.pg.backend_pids(dbname=STATS_DB))
            dbs = {r["name"]: r for r in show(admin, "DATABASES")[1]}
            self.assertEqual(dbs[STATS_DB]["current_connections"], 1)
            self.assertEqual(dbs[STATS_DB]["port"], self.pg.port)
        finally:
            app.close()
        try:
            # session pooling: the server goes back idle once the client leaves
            wait_until(lambda: (lambda p: p["cl_active"] == 0 and p["sv_idle"] == 1)(
                self._pool(admin, STATS_DB, SUPERUSER)), 10, "the pool to go idle")
        finally:
            admin.close()

    def _query_row(self, conn, marker):
        rows = [r for r in show(conn, "QUERIES")[1] if marker in r["query"]]
        return rows[0] if len(rows) == 1 else None

    def test_show_queries_and_reset_stats(self):
        # the fingerprint ignores aliases and constants: the marker must be a table name
        self.pg.query("CREATE TABLE admin_marker_q (x int); INSERT INTO admin_marker_q "
                      "VALUES (7), (8), (9), (10); CREATE TABLE admin_marker_err (x int); "
                      "INSERT INTO admin_marker_err VALUES (1)")
        admin = admin_conn(self.px)
        app = self.px.connect()
        try:
            for i in (7, 8, 9):
                app.cursor().execute("SELECT x FROM admin_marker_q WHERE x = %d" % i)
            # the stats worker counts asynchronously: poll until all three arrived
            try:
                row = wait_until(lambda: (lambda r: r if r and r["calls"] == 3 else None)(
                    self._query_row(admin, "admin_marker_q")), 10, "calls == 3 in SHOW QUERIES")
            except AssertionError:
                raise AssertionError("SHOW QUERIES: %r\nSHOW TOTALS: %r" % (
                    show(admin, "QUERIES")[1], show(admin, "TOTALS")[1]))
            cur = admin.cursor()
            cur.execute("SHOW QUERIES")
            self.assertEqual([(d.name, d.type_code) for d in cur.description], QUERIES_COLUMNS)
            self.assertEqual((row["database"], row["user"], row["errors"], row["timeouts"],
                              row["rows"]), (TESTDB, SUPERUSER, 0, 0, 3))
            self.assertEqual(row["query"], "SELECT x FROM admin_marker_q WHERE x = $1")
            self.assertRegex(row["fingerprint"], r"^[0-9a-f]{16}$")
            self.assertAlmostEqual(row["mean_ms"], row["total_ms"] / 3, delta=0.002)
            self.assertLessEqual(row["p50_ms"], row["max_ms"] * 1.02 + 0.001)
            self.assertRegex(row["first_seen"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00$")
            self.assertLessEqual(row["first_seen"], row["last_seen"])
            totals = [r["total_ms"] for r in show(admin, "QUERIES")[1]]
            self.assertEqual(totals, sorted(totals, reverse=True))
            # an error is counted on its own row
            self.assertRaises(psycopg2.Error, app.cursor().execute,
                              "SELECT x / 0 FROM admin_marker_err")
            err = wait_until(lambda: self._query_row(admin, "admin_marker_err"), 10,
                             "the failed statement in SHOW QUERIES")
            self.assertEqual((err["calls"], err["errors"], err["rows"]), (1, 1, 0))

            cur.execute("RESET STATS")
            self.assertEqual(cur.statusmessage, "RESET")
            self.assertIsNone(self._query_row(admin, "admin_marker_q"))
            app.cursor().execute("SELECT x FROM admin_marker_q WHERE x = 10")
            row = wait_until(lambda: self._query_row(admin, "admin_marker_q"), 10,
                             "the statement after RESET STATS")
            self.assertEqual(row["calls"], 1)
        finally:
            app.close()
            admin.close()

    def test_pause_resume(self):
        admin = admin_conn(self.px)
        try:
            def paused():
                return {r["name"]: r["paused"] for r in show(admin, "DATABASES")[1]}
            cur = admin.cursor()
            cur.execute("pause %s;" % TESTDB)
            self.assertEqual(cur.statusmessage, "PAUSE")
            self.assertEqual(paused()[TESTDB], 1)
            self.assertEqual(paused()["pgsift"], 0)
            cur.execute("RESUME %s" % TESTDB)
            self.assertEqual(paused()[TESTDB], 0)
            cur.execute("PAUSE")
            self.assertTrue(all(v == 1 for v in paused().values()))
            cur.execute("RESUME")
            self.assertTrue(all(v == 0 for v in paused().values()))
        finally:
            admin.close()

    def test_reload_reads_the_file_again(self):
        px = self.start_pgsift(settings={"admin_users": ADMIN, "default_pool_size": "7"})
        admin = admin_conn(px)
        try:
            cfg = {r["key"]: r["value"] for r in show(admin, "CONFIG")[1]}
            self.assertEqual(cfg["default_pool_size"], "7")
            ini = os.path.join(px.tmp, "pgsift.ini")
            with open(ini) as f:
                text = f.read()
            with open(ini, "w") as f:
                f.write(text.replace("default_pool_size = 7", "default_pool_size = 9"))
            cur = admin.cursor()
            cur.execute("RELOAD")
            self.assertEqual(cur.statusmessage, "RELOAD")
            wait_until(lambda: {r["key"]: r["value"] for r in show(admin, "CONFIG")[1]}
                       ["default_pool_size"] == "9", 10, "default_pool_size 9 after RELOAD")
        finally:
            admin.close()

    def test_kill_closes_the_database_clients(self):
        px = self.start_pgsift(settings={"admin_users": ADMIN})
        admin = admin_conn(px)
        victim, err = harness.raw_login(px, {"user": SUPERUSER, "database": STATS_DB})
        other = px.connect()
        try:
            self.assertIsNone(err)
            victim.sendall(harness.message(b"Q", b"SELECT 1\0"))
            while harness.read_message(victim)[0] != b"Z":
                pass
            other.cursor().execute("SELECT 1")
            self.assertEqual(self._pool(admin, STATS_DB, SUPERUSER)["sv_active"], 1)
            cur = admin.cursor()
            cur.execute("KILL %s" % STATS_DB)
            self.assertEqual(cur.statusmessage, "KILL")
            kind, fields = harness.error_or_close(victim)
            self.assertEqual((kind, fields["S"], fields["C"]), ("error", "FATAL", "57P01"))
            self.assertIn("killed by the admin console", fields["M"])
            wait_until(lambda: (lambda p: p["cl_active"] == 0 and p["sv_active"] == 0
                                and p["sv_idle"] == 0)(self._pool(admin, STATS_DB, SUPERUSER)),
                       10, "the killed pool to be empty")
            # the other database's client is untouched
            cur2 = other.cursor()
            cur2.execute("SELECT 2")
            self.assertEqual(cur2.fetchall(), [(2,)])
            wait_until(lambda: not self.pg.backend_pids(dbname=STATS_DB), 10,
                       "the killed pool's server connection to close")
        finally:
            victim.close()
            other.close()
            admin.close()

    def test_shutdown_stops_pgsift(self):
        px = self.start_pgsift(settings={"admin_users": ADMIN})
        admin = admin_conn(px)
        try:
            cur = admin.cursor()
            cur.execute("SHUTDOWN")
            self.assertEqual(cur.statusmessage, "SHUTDOWN")
        except psycopg2.OperationalError:
            pass  # the process may be gone before the answer is read
        finally:
            admin.close()
        wait_until(lambda: px.proc.poll() is not None, 10, "pgsift to exit after SHUTDOWN")
        self.assertEqual(px.proc.returncode, 0, px.output())

    # ---- Debian's prometheus-pgbouncer-exporter ----

    def _run_exporter(self, target):
        """Runs the exporter against target's console for a scrape. Returns (exit status or
        None while running, its log, the /metrics text or None)."""
        port = harness.free_port()
        logf = tempfile.TemporaryFile()
        proc = subprocess.Popen([EXPORTER, "--host", "127.0.0.1", "--port", str(port),
                                 "--pgbouncer-host", target.host,
                                 "--pgbouncer-port", str(target.port),
                                 "--pgbouncer-user", ADMIN],
                                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
        harness._watchdog_send("pid %d" % proc.pid)
        body = None
        try:
            def up():
                if proc.poll() is not None:
                    return True
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                                timeout=5) as r:
                        return r.read().decode()
                except OSError:
                    return None
            got = wait_until(up, 20, "the exporter to serve /metrics or exit")
            body = got if isinstance(got, str) else None
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
                rc = None
            else:
                rc = proc.returncode
            harness._watchdog_send("unpid %d" % proc.pid)
            logf.seek(0)
            log = logf.read().decode(errors="replace")
            logf.close()
        return rc, log, body

    @unittest.skipUnless(os.path.exists(EXPORTER), "prometheus-pgbouncer-exporter not installed")
    def test_exporter_reads_pgsift_as_it_reads_pgbouncer(self):
        """
        Debian 12's exporter (1.7) still reads SHOW STATS' pre-1.8 column total_requests, so
        against PgBouncer 1.18 itself it dies at start with KeyError. pgsift has PgBouncer 1.18's
        columns, so the exporter must do exactly what it does against PgBouncer: the same exit
        and error, or, with an exporter that works against PgBouncer, a clean scrape.
        """
        rc_pgb, log_pgb, body_pgb = self._run_exporter(self.pgb)
        rc_px, log_px, body_px = self._run_exporter(self.px)
        last = lambda log: [l for l in log.splitlines() if l.strip()][-1]  # noqa: E731
        if body_pgb is None:
            self.assertIsNotNone(rc_px, "exporter runs against pgsift but not PgBouncer:\n"
                                 + log_px)
            self.assertEqual(rc_px, rc_pgb)
            self.assertEqual(last(log_px), last(log_pgb))
        else:
            self.assertIsNotNone(body_px, log_px)
            self.assertNotIn("Traceback", log_px)
            self.assertNotIn("ERROR", log_px)
            self.assertEqual(sorted(l.split("{")[0].split(" ")[0] for l in body_px.splitlines()
                                    if l.startswith("pgbouncer_")),
                             sorted(l.split("{")[0].split(" ")[0] for l in body_pgb.splitlines()
                                    if l.startswith("pgbouncer_")))

    @unittest.skipUnless(os.path.exists(EXPORTER), "prometheus-pgbouncer-exporter not installed")
    def test_exporter_collectors_on_pgsift(self):
        """The exporter's own collectors for SHOW POOLS, DATABASES and LISTS (the ones that work
        against PgBouncer 1.18) export pgsift's console without error, with the same metric
        families as for PgBouncer and pgsift's exact values."""
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_pgbouncer_exporter import collectors

        def scrape(target):
            conn = admin_conn(target, dbname="pgbouncer")  # the alias exporters use
            try:
                reg = CollectorRegistry()
                reg.register(collectors.PoolsCollector(connection=conn, databases=None))
                reg.register(collectors.DatabasesCollector(connection=conn, databases=None))
                reg.register(collectors.ListsCollector(connection=conn))
                return generate_latest(reg).decode()
            finally:
                conn.close()

        app = self.px.connect()
        try:
            app.cursor().execute("SELECT 1")
            px_text, pgb_text = scrape(self.px), scrape(self.pgb)
        finally:
            app.close()

        def families(text):
            return sorted({l.split()[2] for l in text.splitlines() if l.startswith("# TYPE")})
        self.assertEqual(families(px_text), families(pgb_text))
        self.assertIn('pgbouncer_active_clients{database="%s",user="%s"} 1.0' % (
            TESTDB, SUPERUSER), px_text)
        self.assertIn('pgbouncer_pool_size{database="%s"} 20.0' % TESTDB, px_text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
