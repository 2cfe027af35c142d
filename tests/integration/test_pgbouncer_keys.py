"""
test_pgbouncer_keys: PgBouncer settings whose effect a client can see, each against a real
PostgreSQL through pgsift started with the setting.

disable_pqexec = 1 refuses a simple-protocol Query with an ERROR (0A000, naming the setting) and
keeps the connection, in session and transaction pooling, while the extended protocol
(Parse/Bind/Execute/Sync) goes on working.

server_round_robin: with two idle servers, released A then B, PgBouncer's default (0) gives
every next transaction B, the server released last (LIFO); server_round_robin = 1 alternates
A, B, A, B (the server idle longest first).

log_stats with stats_period = 1 writes PgBouncer's "stats: N xacts/s, N queries/s, ..." line
every second, with the statements just run counted in it; log_stats = 0 writes none.

unix_socket_group gives the Unix socket that group (root only: chown to a group one is not in).
user = postgres makes a pgsift started as root run as postgres once it listens (root only).
"""

import grp
import os
import pwd
import re
import stat
import struct
import sys
import time
import unittest

import psycopg2
import psycopg2.errors

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DIRECT, SUPERUSER, TESTDB, message, raw_login, read_message  # noqa: E402


def extended_query(sock, sql):
    """Parse/Bind/Execute/Sync of an unnamed statement; returns the first column of each row."""
    sock.sendall(message(b"P", b"\0" + sql.encode() + b"\0" + struct.pack("!H", 0)) +
                 message(b"B", b"\0\0" + struct.pack("!HHH", 0, 0, 0)) +
                 message(b"E", b"\0" + struct.pack("!I", 0)) + message(b"S"))
    rows = []
    while True:
        m = read_message(sock)
        if m is None:
            raise AssertionError("connection closed during an extended query")
        mtype, payload = m
        if mtype == b"E":
            raise AssertionError("error: %r" % harness.parse_error(payload))
        if mtype == b"D":
            n = struct.unpack("!I", payload[2:6])[0]
            rows.append(payload[6:6 + n].decode())
        if mtype == b"Z":
            return rows


@unittest.skipIf(DIRECT, "pgsift's own settings")
class DisablePqexecTest(harness.PgsiftTestCase):
    def check_mode(self, mode):
        px = self.start_pgsift_for_test(settings={"disable_pqexec": "1", "pool_mode": mode})
        conn = px.connect()
        for _ in range(2):
            with self.assertRaises(psycopg2.errors.FeatureNotSupported) as cm:
                conn.cursor().execute("SELECT 1; SELECT 2")
            self.assertEqual(cm.exception.pgerror.strip(),
                             "ERROR:  the simple query protocol is disabled (disable_pqexec): "
                             "use the extended query protocol")
        self.assertEqual(conn.closed, 0)
        conn.close()
        sock, err = raw_login(px, {"user": SUPERUSER, "database": TESTDB})
        self.assertIsNone(err)
        try:
            self.assertEqual(extended_query(sock, "SELECT 41 + 1"), ["42"])
            self.assertEqual(extended_query(sock, "SELECT 'again'"), ["again"])
        finally:
            sock.close()

    def test_session_pooling(self):
        self.check_mode("session")

    def test_transaction_pooling(self):
        self.check_mode("transaction")


@unittest.skipIf(DIRECT, "pgsift's own settings")
class ServerRoundRobinTest(harness.PgsiftTestCase):
    def pids_after_two_releases(self, round_robin):
        px = self.start_pgsift_for_test(settings={
            "pool_mode": "transaction", "default_pool_size": "2",
            "server_round_robin": round_robin})
        a, b = px.connect(autocommit=False), px.connect(autocommit=False)
        pids = []
        for conn in (a, b):  # both in a transaction: two servers
            cur = conn.cursor()
            cur.execute("SELECT pg_backend_pid()")
            pids.append(cur.fetchone()[0])
        self.assertNotEqual(pids[0], pids[1])
        a.commit()  # A goes idle first,
        b.commit()  # then B
        c = px.connect()
        seen = []
        for _ in range(4):
            cur = c.cursor()
            cur.execute("SELECT pg_backend_pid()")
            seen.append(cur.fetchone()[0])
        for conn in (a, b, c):
            conn.close()
        return pids, seen

    def test_default_is_lifo(self):
        (pa, pb), seen = self.pids_after_two_releases("0")
        self.assertEqual(seen, [pb, pb, pb, pb])

    def test_round_robin(self):
        (pa, pb), seen = self.pids_after_two_releases("1")
        self.assertEqual(seen, [pa, pb, pa, pb])


@unittest.skipIf(DIRECT, "pgsift's own settings")
class LogStatsTest(harness.PgsiftTestCase):
    STATS = re.compile(r"LOG stats: (\d+) xacts/s, (\d+) queries/s, in (\d+) B/s, out (\d+) "
                       r"B/s, xact (\d+) us, query (\d+) us, wait (\d+) us$")

    def stats_lines(self, px):
        return [m for m in (self.STATS.search(line) for line in px.lines) if m]

    def test_a_line_per_period_counting_statements(self):
        px = self.start_pgsift_for_test(settings={"stats_period": "1"})
        conn = px.connect()
        # statements until a line has counted some (one falls in each 1 s window)
        def counted():
            conn.cursor().execute("SELECT 1")
            return any(int(m.group(2)) > 0 for m in self.stats_lines(px))
        harness.wait_until(counted, 10, "a stats line with queries/s > 0")
        conn.close()
        m = [m for m in self.stats_lines(px) if int(m.group(2)) > 0][0]
        self.assertGreater(int(m.group(3)), 0)  # bytes in
        self.assertGreater(int(m.group(4)), 0)  # bytes out

    def test_off(self):
        px = self.start_pgsift_for_test(settings={"stats_period": "0.2", "log_stats": "0"})
        conn = px.connect()
        started = time.monotonic()
        harness.wait_until(lambda: time.monotonic() - started > 0.7 and
                           conn.cursor().execute("SELECT 1") is None, 5, "a second")
        conn.close()
        self.assertEqual(self.stats_lines(px), [])


@unittest.skipIf(DIRECT, "pgsift's own settings")
class QueueNoticeAndLoggingTest(harness.PgsiftTestCase):
    QUEUED = "No server connection available in postgres backend, client being queued"

    def test_query_wait_notify(self):
        px = self.start_pgsift_for_test(settings={
            "pool_mode": "transaction", "default_pool_size": "1", "query_wait_notify": "0.2"})
        a = px.connect(autocommit=False)
        a.cursor().execute("SELECT 1")  # holds the only server in its transaction
        sock, err = raw_login(px, {"user": SUPERUSER, "database": TESTDB})
        self.assertIsNone(err)
        sock.sendall(message(b"Q", b"SELECT 2\0"))
        # queued: the notice comes first, while the query waits for the server
        m = read_message(sock)
        self.assertEqual(m[0], b"N")
        self.assertEqual(harness.parse_error(m[1])["M"], self.QUEUED)
        a.commit()  # the server goes to the raw client, which gets its answer
        types = []
        while not types or types[-1] != b"Z":
            types.append(read_message(sock)[0])
        self.assertEqual(types, [b"T", b"D", b"C", b"Z"])
        # the next statement finds the server free: no notice
        sock.sendall(message(b"Q", b"SELECT 3\0"))
        types = []
        while not types or types[-1] != b"Z":
            types.append(read_message(sock)[0])
        self.assertEqual(types, [b"T", b"D", b"C", b"Z"])
        sock.close()
        a.close()

    def test_server_fast_close(self):
        line = "its server is being closed after a configuration change (server_fast_close)"
        for fast in (False, True):
            px = self.start_pgsift_for_test(settings={
                "pool_mode": "session", "admin_users": SUPERUSER,
                "server_fast_close": "1" if fast else "0"})
            conn = px.connect()
            conn.cursor().execute("SELECT 1")
            # a RELOAD that changes the database's line marks its servers for closing
            with open(px.ini_path, "a") as f:
                f.write("* = host=%s port=%d application_name=changed\n"
                        % (px.server.host, px.server.port))
            admin = px.connect(dbname="pgsift")
            admin.cursor().execute("RELOAD")
            admin.close()
            if fast:
                harness.wait_until(lambda: line in px.output(), 10, "the fast close")
                with self.assertRaises(psycopg2.OperationalError):
                    conn.cursor().execute("SELECT 2")
            else:
                cur = conn.cursor()
                cur.execute("SELECT 2")  # the session keeps its server to its end
                self.assertEqual(cur.fetchone(), (2,))
                self.assertNotIn(line, px.output())
            conn.close()
            px.stop()

    def test_log_pooler_errors(self):
        line = "no PostgreSQL user name specified in startup packet"
        for setting, logged in (("1", True), ("0", False)):
            px = self.start_pgsift_for_test(settings={"log_pooler_errors": setting})
            sock, err = raw_login(px, {"database": TESTDB})
            self.assertEqual(err["M"], line)
            sock.close()
            # once pgsift has stopped, every line it wrote is in its output
            px.stop()
            self.assertEqual(line in px.output(), logged, setting)


@unittest.skipIf(DIRECT, "pgsift's own settings")
@unittest.skipIf(os.geteuid() != 0, "needs root (another group for the socket, another user)")
class ProcessKeysTest(harness.PgsiftTestCase):
    def test_unix_socket_group(self):
        gid = grp.getgrnam("daemon").gr_gid
        px = self.start_pgsift_for_test(settings={"unix_socket_group": "daemon",
                                                  "unix_socket_mode": "0770"})
        path = os.path.join(px.socket_dir, ".s.PGSQL.%d" % px.port)
        # ready means listening on TCP; the Unix socket comes right after
        harness.wait_until(lambda: os.path.exists(path), 10, "the Unix socket")

        def owner_and_mode():
            st = os.stat(path)
            return st.st_gid, stat.S_IMODE(st.st_mode)

        # the socket file appears at bind(); its group and mode are set right after
        harness.wait_until(lambda: owner_and_mode() == (gid, 0o770), 10,
                           "the socket's group and mode")
        self.assertEqual(owner_and_mode(), (gid, 0o770))
        conn = harness._connect(px.socket_dir, px.port, TESTDB, SUPERUSER, True)
        cur = conn.cursor()
        cur.execute("SELECT 1")
        self.assertEqual(cur.fetchone(), (1,))
        conn.close()

    def test_user(self):
        pw = pwd.getpwnam("postgres")
        px = self.start_pgsift_for_test(settings={"user": "postgres"})
        conn = px.connect()
        cur = conn.cursor()
        cur.execute("SELECT 1")
        self.assertEqual(cur.fetchone(), (1,))
        conn.close()
        with open("/proc/%d/status" % px.proc.pid) as f:
            ids = {line.split(":")[0]: line.split()[1:] for line in f
                   if line.startswith(("Uid:", "Gid:"))}
        self.assertEqual(ids["Uid"], [str(pw.pw_uid)] * 4)
        self.assertEqual(ids["Gid"], [str(pw.pw_gid)] * 4)
        self.assertTrue(any("running as user postgres" in line for line in px.lines))


if __name__ == "__main__":
    unittest.main(verbosity=2)
