"""
test_pooling: session pooling. pgbench in its three protocol modes through pgsift; 200 clients on a
pool of 10 all finish while PostgreSQL never has more than 10 backends for them; and a client
killed in the middle of a transaction leaks nothing (transaction, settings, role, temporary tables,
prepared statements, LISTEN, advisory locks) to the next client of that server connection.
"""

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import POOL_USER, run_pgbench  # noqa: E402

N_CLIENTS = 200
POOL_SIZE = 10


class PgbenchModesTest(harness.PgsiftTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = run_pgbench(cls.pg, ["-i", "-q", "-s", "1"])
        if r.returncode != 0:
            raise RuntimeError("pgbench -i failed: %r" % r)
        cls.px = cls.start_pgsift(settings={"pool_mode": "session", "default_pool_size": 20})

    def run_mode(self, mode):
        r = run_pgbench(self.px, ["-n", "-M", mode, "-c", "8", "-j", "2", "-T", "5", "-S"],
                        timeout=60)
        self.assertEqual(r.returncode, 0, r)
        if r.failed is not None:
            self.assertEqual(r.failed, 0, r)
        self.assertIsNotNone(r.tps, r)
        self.assertGreater(r.tps, 0, r)
        self.assertGreater(r.processed, 0, r)
        self.assertNotIn("error", r.stderr.lower(), r)
        sys.stderr.write("pgbench -M %s -c 8 -j 2 -T 5 -S: %.0f tps\n" % (mode, r.tps))

    def test_pgbench_simple(self):
        self.run_mode("simple")

    def test_pgbench_extended(self):
        self.run_mode("extended")

    def test_pgbench_prepared(self):
        self.run_mode("prepared")


class BackendMonitor:
    """Polls pg_stat_activity from a direct connection and keeps the largest backend count."""

    def __init__(self, pg, user):
        self.conn = pg.connect()
        self.user = user
        self.max = 0
        self.max_rows = []  # the pg_stat_activity rows when the count was largest
        self.samples = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        cur = self.conn.cursor()
        while not self.stop.is_set():
            cur.execute("SELECT pid, state, backend_start, left(query, 40) "
                        "FROM pg_stat_activity WHERE usename = %s "
                        "AND backend_type = 'client backend'", (self.user,))
            rows = cur.fetchall()
            if len(rows) > self.max:
                self.max = len(rows)
                self.max_rows = rows
            self.samples += 1
            self.stop.wait(0.005)

    def finish(self):
        self.stop.set()
        self.thread.join(10)
        self.conn.close()
        return self.max


class ManyClientsTest(harness.PgsiftTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.px = cls.start_pgsift(settings={"pool_mode": "session",
                                            "default_pool_size": POOL_SIZE,
                                            "max_client_conn": 300})
        cls.pg.query("DROP TABLE IF EXISTS many_t; CREATE TABLE many_t (client int, pid int)")
        cls.pg.query("GRANT ALL ON many_t TO %s" % POOL_USER)

    def test_200_clients_on_pool_of_10(self):
        # backends of pooluser left by other tests (a killed client's statement may still be
        # running on a server that a proxy closed) would count against the pool
        harness.wait_until(lambda: self.pg.backend_pids(user=POOL_USER) == [], 20,
                           "no backend of %s before the test" % POOL_USER)
        monitor = BackendMonitor(self.pg, POOL_USER)
        results = [None] * N_CLIENTS
        go = threading.Event()

        def client(i):
            go.wait(30)
            try:
                conn = self.px.connect(user=POOL_USER, autocommit=False, connect_timeout=60)
                cur = conn.cursor()
                cur.execute("INSERT INTO many_t VALUES (%s, pg_backend_pid())", (i,))
                cur.execute("SELECT count(*) FROM many_t WHERE client = %s", (i,))
                n = cur.fetchone()[0]
                conn.commit()
                conn.autocommit = True
                cur.execute("SELECT pg_sleep(0.05)")
                conn.close()
                results[i] = n
            except Exception as e:  # recorded and asserted below
                results[i] = repr(e)
        threads = [threading.Thread(target=client, args=(i,), daemon=True)
                   for i in range(N_CLIENTS)]
        for t in threads:
            t.start()
        go.set()
        deadline = time.monotonic() + 120
        for t in threads:
            t.join(max(0, deadline - time.monotonic()))
        alive = sum(t.is_alive() for t in threads)
        most = monitor.finish()
        self.assertEqual(alive, 0, "%d clients still running after 120 s" % alive)
        failures = [(i, r) for i, r in enumerate(results) if r != 1]
        self.assertEqual(failures, [])
        self.assertEqual(self.pg.query("SELECT count(*), count(DISTINCT client) FROM many_t"),
                         [(N_CLIENTS, N_CLIENTS)])
        sys.stderr.write("200 clients: at most %d backends of %s (%d samples)\n"
                         % (most, POOL_USER, monitor.samples))
        self.assertGreater(most, 0)
        if not harness.DIRECT:
            self.assertLessEqual(most, POOL_SIZE, monitor.max_rows)
            # every client ran on one of at most POOL_SIZE server connections
            self.assertLessEqual(self.pg.query("SELECT count(DISTINCT pid) FROM many_t")[0][0],
                                 POOL_SIZE)


class KilledClientTest(harness.PgsiftTestCase):
    """Pool size 1: the next client must get the very server connection the killed one had."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg.query("DROP TABLE IF EXISTS killed_t; CREATE TABLE killed_t (x int)")
        cls.pg.query("GRANT ALL ON killed_t TO %s" % POOL_USER)
        cls.pg.query("GRANT %s TO %s" % (harness.MD5_USER, POOL_USER))
        cls.px = cls.start_pgsift(settings={"pool_mode": "session", "default_pool_size": 1,
                                            "admin_users": harness.SUPERUSER})

    def start_psql(self, script):
        cmd = [harness.PG_BIN + "/psql", "-X", "-q", "-A", "-t", "-h", self.px.host,
               "-p", str(self.px.port), "-U", POOL_USER, "-d", harness.TESTDB]
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        harness._watchdog_send("pid %d" % p.pid)
        p.stdin.write(script.encode())
        p.stdin.flush()
        return p

    def kill_psql(self, p):
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        harness._watchdog_send("unpid %d" % p.pid)
        p.stdin.close()

    def pool_backends(self, where):
        return self.pg.query("SELECT pid FROM pg_stat_activity WHERE usename = %s AND " + where,
                             (POOL_USER,))

    def kill_psql_when(self, script, where, what):
        """Runs script in psql and kills psql once a pool backend matches where (waited for up
        to 20 s as what); returns those backends' pids as rows."""
        p = self.start_psql(script)
        try:
            return harness.wait_until(lambda: self.pool_backends(where), 20, what)
        finally:
            self.kill_psql(p)

    def next_client_sees_nothing(self):
        """A new client is clean (assert_clean) and killed_t is empty; returns its server's pid."""
        conn = self.px.connect(user=POOL_USER, connect_timeout=30)
        cur = conn.cursor()
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
        self.assert_clean(conn)
        conn.close()
        self.assertEqual(self.pg.query("SELECT count(*) FROM killed_t"), [(0,)])
        return pid

    def assert_clean(self, conn):
        cur = conn.cursor()
        cur.execute("SELECT txid_current_if_assigned(), current_user, session_user, "
                    "current_setting('work_mem'), current_setting('application_name'), "
                    "(SELECT count(*) FROM pg_class WHERE relname LIKE 'killed_tmp%%' "
                    " AND relnamespace = pg_my_temp_schema()), "
                    "(SELECT count(*) FROM pg_prepared_statements), "
                    "(SELECT count(*) FROM pg_listening_channels()), "
                    "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    " AND pid = pg_backend_pid()), "
                    "(SELECT count(*) FROM pg_cursors)")
        self.assertEqual(cur.fetchall(),
                         [(None, POOL_USER, POOL_USER, "4MB", "", 0, 0, 0, 0, 0)])
        cur.execute("SELECT count(*) FROM killed_t")
        self.assertEqual(cur.fetchall(), [(0,)])

    def test_killed_in_transaction_leaks_nothing(self):
        rows = self.kill_psql_when("""
SET work_mem = '77MB';
SET application_name = 'killed';
CREATE TEMP TABLE killed_tmp1 (x int);
PREPARE killed_stmt AS SELECT 1;
LISTEN killed_channel;
SELECT pg_advisory_lock(4242);
BEGIN;
CREATE TEMP TABLE killed_tmp2 (y int);
INSERT INTO killed_t VALUES (1);
SET ROLE md5user;
DECLARE killed_cur CURSOR WITH HOLD FOR SELECT 1;
""", "state = 'idle in transaction' AND backend_xid IS NOT NULL",
            "the psql client to be idle in a transaction with an xid")
        pid = self.next_client_sees_nothing()
        if not harness.DIRECT:
            self.assertEqual(pid, rows[0][0],
                             "pool size 1: the next client must get the same server")

    def test_killed_during_running_query_leaks_nothing(self):
        # Killed while its statement still runs: the server is not clean when the client goes;
        # pgsift must either wait, cancel and reset it, or close it. Either way the next client
        # sees nothing of the killed one.
        self.kill_psql_when("""
SET work_mem = '77MB';
CREATE TEMP TABLE killed_tmp3 (x int);
BEGIN;
INSERT INTO killed_t VALUES (2);
SELECT pg_sleep(3);
""", "state = 'active' AND query LIKE 'SELECT pg_sleep(3)%%'", "pg_sleep(3) to be running")
        self.next_client_sees_nothing()

    def test_killed_during_copy_in_leaks_nothing(self):
        # Killed in the middle of COPY FROM STDIN: the server is waiting for CopyData.
        rows = self.kill_psql_when("""
SET work_mem = '77MB';
BEGIN;
INSERT INTO killed_t VALUES (3);
COPY killed_t FROM STDIN;
4
5
""", "state = 'active' AND query LIKE 'COPY killed_t FROM STDIN%%'",
            "COPY FROM STDIN to be running")
        pid = self.next_client_sees_nothing()
        sys.stderr.write("after a kill during COPY IN the next client got %s server\n"
                         % ("the same" if pid == rows[0][0] else "a new"))

    def test_parameter_status_after_reuse(self):
        # A client changes DateStyle, TimeZone, IntervalStyle and application_name and goes; the
        # next client of the same server connection is told (ParameterStatus) and gets the
        # server defaults, and its own startup parameters are applied.
        a = self.px.connect(user=POOL_USER, application_name="first")
        cur = a.cursor()
        cur.execute("SET DateStyle = 'German'; SET TimeZone = 'Asia/Tokyo'; "
                    "SET IntervalStyle = 'iso_8601'; SET application_name = 'changed'")
        cur.execute("SELECT pg_backend_pid()")
        pid_a = cur.fetchone()[0]
        a.close()
        b = self.px.connect(user=POOL_USER, application_name="second", connect_timeout=30,
                            options="-c TimeZone=UTC")
        cur = b.cursor()
        cur.execute("SELECT pg_backend_pid(), current_setting('DateStyle'), "
                    "current_setting('TimeZone'), current_setting('IntervalStyle'), "
                    "current_setting('application_name')")
        row = cur.fetchone()
        if not harness.DIRECT:
            self.assertEqual(row[0], pid_a, "pool size 1: the same server connection")
        self.assertEqual(row[1:], ("ISO, MDY", "UTC", "postgres", "second"))
        self.assertEqual([b.get_parameter_status(k) for k in
                          ("DateStyle", "TimeZone", "IntervalStyle", "application_name")],
                         ["ISO, MDY", "UTC", "postgres", "second"])
        b.close()
        # a third client with a different client_encoding
        c = self.px.connect(user=POOL_USER, client_encoding="LATIN1", connect_timeout=30)
        cur = c.cursor()
        cur.execute("SELECT current_setting('client_encoding'), current_setting('TimeZone'), "
                    "current_setting('application_name')")
        self.assertEqual(cur.fetchone(), ("LATIN1", self.server_timezone(), ""))
        self.assertEqual(c.get_parameter_status("client_encoding"), "LATIN1")
        c.close()

    def test_clients_leaving_while_waiting_for_the_server(self):
        # Pool size 1: while A holds the server, B and C wait for it; B is killed while waiting,
        # C's socket is closed abruptly. When A goes, D gets the server.
        a = self.px.connect(user=POOL_USER)
        self.addCleanup(a.close)
        a.cursor().execute("SELECT 1")
        b = self.start_psql("SELECT 'b never runs';\n")
        c = harness.raw_socket(self.px)
        c.sendall(harness.startup_packet({"user": POOL_USER, "database": harness.TESTDB}))
        c.sendall(harness.message(b"Q", b"SELECT 'c never runs'\0"))
        if not harness.DIRECT:
            harness.wait_until(lambda: self.cl_waiting() == 2, 20,
                               "B and C to wait for the server (SHOW POOLS cl_waiting = 2)",
                               interval=0.1)
        self.kill_psql(b)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()  # RST
        if not harness.DIRECT:
            # pgsift notices that waiting clients went away (they must not keep a place in the
            # queue, count against max_client_conn or hold up a SIGTERM shutdown)
            harness.wait_until(lambda: self.cl_waiting() == 0, 10,
                               "SHOW POOLS cl_waiting = 0 after both waiting clients left",
                               interval=0.1)
        a.close()
        d = self.px.connect(user=POOL_USER, connect_timeout=30)
        cur = d.cursor()
        cur.execute("SELECT pg_backend_pid(), 'd runs'")
        row = cur.fetchone()
        self.assertEqual(row[1], "d runs")
        # (D may get a new server: B's query may have been sent before B's EOF was seen, and a
        # server left busy is closed rather than reused)
        self.assert_clean(d)
        d.close()

    def test_client_gone_mid_message(self):
        # A client that dies half way through a message: whatever part pgsift already passed on
        # must not stay in the server's input (the reset query would be read as the rest of it).
        for partial in (
                # a 300-byte Query of which 60 bytes were sent
                b"Q" + struct.pack("!I", 300) + b"SELECT 'x' FROM generate_series(1, 10) --" +
                b"-" * 15,
                # a CopyData of 100 kB inside COPY FROM STDIN, cut after 4 kB
                None):
            sock, err = harness.raw_login(self.px, {"user": POOL_USER,
                                                    "database": harness.TESTDB})
            self.assertIsNone(err)
            if partial is None:
                sock.sendall(harness.message(b"Q", b"COPY killed_t FROM STDIN\0"))
                m = harness.read_message(sock)
                self.assertEqual(m[0], b"G")  # CopyInResponse
                partial = b"d" + struct.pack("!I", 100004) + b"1\n" * 2048
            sock.sendall(partial)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            conn = self.px.connect(user=POOL_USER, connect_timeout=30)
            cur = conn.cursor()
            cur.execute("SELECT 'next client'")
            self.assertEqual(cur.fetchall(), [("next client",)])
            self.assert_clean(conn)
            conn.close()

    def cl_waiting(self):
        """cl_waiting of pooluser's pool, from the admin console (SHOW POOLS)."""
        admin = self.px.connect(dbname="pgsift")
        try:
            cur = admin.cursor()
            cur.execute("SHOW POOLS")
            cols = [d[0] for d in cur.description]
            for row in cur.fetchall():
                r = dict(zip(cols, row))
                if r["database"] == harness.TESTDB and r["user"] == POOL_USER:
                    return int(r["cl_waiting"])
            return None
        finally:
            admin.close()

    def server_timezone(self):
        """The server's TimeZone for a client that sets none (postgresql.conf's)."""
        return self.pg.query("SELECT reset_val FROM pg_settings WHERE name = 'TimeZone'")[0][0]

if __name__ == "__main__":
    unittest.main()
