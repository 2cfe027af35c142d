"""
test_pool_limits: PgBouncer's limits on server and client connections, in transaction pooling.

max_db_connections caps the server connections of a database over all its users: clients of
the other users wait and are served as servers free up (an idle server of another user's pool
is closed to make room). max_user_connections caps a user's server connections over all
databases. The reserve pool (reserve_pool, reserve_pool_timeout) gives a pool that is full one
more server, but only to a client that waited reserve_pool_timeout. max_db_client_connections
and max_user_client_connections refuse the client over the limit at login with 53300.

Backends are counted from pg_stat_activity on a direct connection, sampled while the clients
run; no test sleeps for a fixed time except inside the statements the clients run.
"""

import os
import sys
import threading
import time
import unittest

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import POOL_USER, SUPERUSER, TESTDB, skip_direct  # noqa: E402


class BackendCounter:
    """Samples the number of client backends matching `where` until stopped; keeps the max."""

    def __init__(self, pg, where, args):
        self.conn = pg.connect(dbname="postgres")
        self.sql = ("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                    "AND pid <> pg_backend_pid() AND " + where)
        self.args = args
        self.max = 0
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        cur = self.conn.cursor()
        while not self.stop_ev.is_set():
            cur.execute(self.sql, self.args)
            self.max = max(self.max, cur.fetchone()[0])
            self.stop_ev.wait(0.01)

    def stop(self):
        self.stop_ev.set()
        self.thread.join(10)
        self.conn.close()
        return self.max


def run_clients(px, who, rounds=2, hold=0.3):
    """
    One thread per (dbname, user) in `who`: each connects, then `rounds` times runs a
    transaction that holds its server for `hold` seconds. Returns the errors (empty when every
    client finished).
    """
    errors = []

    def client(dbname, user):
        try:
            conn = px.connect(dbname=dbname, user=user, autocommit=False)
            try:
                cur = conn.cursor()
                for _ in range(rounds):
                    cur.execute("SELECT pg_sleep(%s)", (hold,))
                    cur.execute("SELECT 1")
                    conn.commit()
            finally:
                conn.close()
        except Exception as e:  # reported by the test
            errors.append("%s/%s: %r" % (dbname, user, e))

    threads = [threading.Thread(target=client, args=w, daemon=True) for w in who]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if any(t.is_alive() for t in threads):
        errors.append("a client did not finish within 60 s")
    return errors


@skip_direct
class MaxDbConnectionsTest(harness.PgsiftTestCase):
    def test_two_users_share_the_database_limit(self):
        px = self.start_pgsift_for_test(settings={
            "pool_mode": "transaction", "default_pool_size": 5, "max_db_connections": 2,
            "query_wait_timeout": 30, "server_idle_timeout": 0})
        mon = BackendCounter(self.pg, "datname = %s", (TESTDB,))
        try:
            # the first user alone: 3 clients, 2 servers; its 2 servers then stay idle
            errors = run_clients(px, [(TESTDB, SUPERUSER)] * 3)
            self.assertEqual(errors, [])
            # the second user gets servers only by the idle ones of the first being closed
            errors = run_clients(px, [(TESTDB, POOL_USER)] * 3)
            self.assertEqual(errors, [])
            # both at once
            errors = run_clients(px, [(TESTDB, SUPERUSER)] * 3 + [(TESTDB, POOL_USER)] * 3)
            self.assertEqual(errors, [])
        finally:
            top = mon.stop()
        self.assertEqual(top, 2)
        self.assertLessEqual(len(self.pg.backend_pids(dbname=TESTDB)), 2)

    def test_database_line_overrides(self):
        upstream = "host=%s port=%d" % (self.pg.host, self.pg.port)
        px = self.start_pgsift_for_test(
            settings={"pool_mode": "transaction", "default_pool_size": 5,
                      "max_db_connections": 3, "query_wait_timeout": 30},
            databases={TESTDB: upstream + " max_db_connections=1"})
        mon = BackendCounter(self.pg, "datname = %s", (TESTDB,))
        try:
            errors = run_clients(px, [(TESTDB, SUPERUSER)] * 2 + [(TESTDB, POOL_USER)] * 2,
                                 rounds=1, hold=0.2)
        finally:
            top = mon.stop()
        self.assertEqual(errors, [])
        self.assertEqual(top, 1)


@skip_direct
class MaxUserConnectionsTest(harness.PgsiftTestCase):
    def test_one_user_over_two_databases(self):
        upstream = "host=%s port=%d dbname=%s" % (self.pg.host, self.pg.port, TESTDB)
        px = self.start_pgsift_for_test(
            settings={"pool_mode": "transaction", "default_pool_size": 5,
                      "max_user_connections": 2, "query_wait_timeout": 30,
                      "server_idle_timeout": 0},
            databases={"one": upstream, "two": upstream})
        mon = BackendCounter(self.pg, "usename = %s", (POOL_USER,))
        try:
            errors = run_clients(px, [("one", POOL_USER)] * 3)
            self.assertEqual(errors, [])
            errors = run_clients(px, [("two", POOL_USER)] * 3)
            self.assertEqual(errors, [])
            errors = run_clients(px, [("one", POOL_USER)] * 3 + [("two", POOL_USER)] * 3)
            self.assertEqual(errors, [])
            # another user is not limited by it
            errors = run_clients(px, [("one", SUPERUSER)] * 3, rounds=1)
            self.assertEqual(errors, [])
        finally:
            top = mon.stop()
        self.assertEqual(top, 2)


@skip_direct
class ReservePoolTest(harness.PgsiftTestCase):
    def test_reserve_after_waiting(self):
        upstream = "host=%s port=%d" % (self.pg.host, self.pg.port)
        px = self.start_pgsift_for_test(
            settings={"pool_mode": "transaction", "default_pool_size": 1,
                      "reserve_pool_timeout": 0.2, "query_wait_timeout": 30},
            databases={TESTDB: upstream + " reserve_pool=1"})
        a = px.connect(user=POOL_USER, autocommit=False)
        b = px.connect(user=POOL_USER, autocommit=False)
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        cur_a = a.cursor()
        cur_a.execute("SELECT pg_backend_pid()")
        pid_a = cur_a.fetchone()[0]
        self.assertEqual(len(self.pg.backend_pids(user=POOL_USER)), 1)
        # a holds the pool's only server: b waits reserve_pool_timeout, then gets the reserve
        start = time.monotonic()
        cur_b = b.cursor()
        cur_b.execute("SELECT pg_backend_pid()")
        waited = time.monotonic() - start
        pid_b = cur_b.fetchone()[0]
        self.assertNotEqual(pid_b, pid_a)
        self.assertGreaterEqual(waited, 0.2)
        self.assertLess(waited, 5.0)
        self.assertEqual(len(self.pg.backend_pids(user=POOL_USER)), 2)
        # the reserve is used up: a third client waits for one of the two
        c = harness.async_connect(px, 10, user=POOL_USER)
        self.addCleanup(c.close)
        cur_c = c.cursor()
        cur_c.execute("SELECT pg_backend_pid()")
        with self.assertRaises(harness.Deadline):
            harness._poll_wait(c, 1.0)
        self.assertEqual(len(self.pg.backend_pids(user=POOL_USER)), 2)
        a.commit()
        harness._poll_wait(c, 10)
        self.assertEqual(cur_c.fetchone()[0], pid_a)
        b.commit()


@skip_direct
class ClientLimitsTest(harness.PgsiftTestCase):
    def assert_refused(self, px, params, setting):
        sock, fields = harness.raw_login(px, params)
        sock.close()
        self.assertIsNotNone(fields, "%r was admitted" % (params,))
        self.assertEqual(fields["S"], "FATAL")
        self.assertEqual(fields["C"], "53300")
        self.assertEqual(fields["M"], "no more connections allowed (%s)" % setting)

    def test_max_db_client_connections(self):
        upstream = "host=%s port=%d dbname=%s" % (self.pg.host, self.pg.port, TESTDB)
        px = self.start_pgsift_for_test(
            settings={"pool_mode": "transaction", "max_db_client_connections": 2},
            databases={TESTDB: upstream, "other": upstream})
        c1 = px.connect(user=SUPERUSER)
        c2 = px.connect(user=POOL_USER)
        self.addCleanup(c2.close)
        self.assert_refused(px, {"user": POOL_USER, "database": TESTDB},
                            "max_db_client_connections")
        with self.assertRaises(psycopg2.OperationalError) as cm:
            px.connect(user=SUPERUSER)
        self.assertIn("max_db_client_connections", str(cm.exception))
        # another database is counted apart
        o = px.connect(dbname="other", user=SUPERUSER)
        o.close()
        # a client that leaves frees its place
        c1.close()
        harness.wait_until(lambda: self._admitted(px, TESTDB, SUPERUSER), 5,
                           "a place freed by a client that left")

    def test_max_user_client_connections(self):
        upstream = "host=%s port=%d dbname=%s" % (self.pg.host, self.pg.port, TESTDB)
        px = self.start_pgsift_for_test(
            settings={"pool_mode": "transaction", "max_user_client_connections": 2},
            databases={TESTDB: upstream, "other": upstream})
        c1 = px.connect(user=POOL_USER)
        c2 = px.connect(dbname="other", user=POOL_USER)
        self.addCleanup(c1.close)
        self.addCleanup(c2.close)
        self.assert_refused(px, {"user": POOL_USER, "database": "other"},
                            "max_user_client_connections")
        self.assert_refused(px, {"user": POOL_USER, "database": TESTDB},
                            "max_user_client_connections")
        # another user is counted apart
        s = px.connect(user=SUPERUSER)
        s.cursor().execute("SELECT 1")
        s.close()

    @staticmethod
    def _admitted(px, dbname, user):
        try:
            conn = px.connect(dbname=dbname, user=user)
        except psycopg2.OperationalError:
            return False
        conn.close()
        return True


if __name__ == "__main__":
    unittest.main(verbosity=2)
