"""
test_restart: PostgreSQL restarted (pg_ctl restart -m fast) while 8 clients loop on short queries
through pgsift. Clients in flight get an error, none hangs (every connect and query has a
client-side deadline), and once the server is back new connections through pgsift work.
"""

import os
import sys
import threading
import unittest

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

N_CLIENTS = 8
DEADLINE = 15.0  # seconds a connect or a query may take before it counts as a hang


class Client:
    """Loops on SELECT through pgsift, reconnecting after errors, recording what happened."""

    def __init__(self, px, i):
        self.px, self.i = px, i
        self.ok = 0            # successful queries
        self.ok_after = 0      # successful queries on a connection made after the restart began
        self.errors = []       # (phase, repr) of psycopg2 errors
        self.hangs = []        # deadlines that passed
        self.restarting = threading.Event()  # set just before pg_ctl restart
        self.restarted = threading.Event()   # set when pg_ctl restart returned
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        conn = None
        conn_after_restart = False
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn_after_restart = self.restarting.is_set()
                    conn = harness.async_connect(self.px, DEADLINE,
                                                 application_name="restart%d" % self.i)
                rows = harness.async_query(conn, "SELECT %d" % self.i, DEADLINE)
                if rows != [(self.i,)]:
                    raise AssertionError("client %d got %r" % (self.i, rows))
                self.ok += 1
                if conn_after_restart:
                    self.ok_after += 1
                # pace the loop so 8 clients do not starve the 2 cores the restart needs
                self.stop.wait(0.005)
            except harness.Deadline as e:
                self.hangs.append(repr(e))
                conn = self._drop(conn)
            except psycopg2.Error as e:
                self.errors.append(("during" if self.restarting.is_set() else "before",
                                    repr(e)))
                conn = self._drop(conn)
                # the server may still be down: wait a little before trying again, without
                # spinning (the stop event ends the wait early)
                self.stop.wait(0.05)
        self._drop(conn)

    @staticmethod
    def _drop(conn):
        if conn is not None:
            try:
                conn.close()
            except psycopg2.Error:
                pass
        return None


class RestartTest(harness.PgsiftTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.px = cls.start_pgsift(settings={"pool_mode": "session", "default_pool_size": 20,
                                            "server_connect_timeout": 5,
                                            "server_login_retry": 1})

    def test_restart_under_load(self):
        clients = [Client(self.px, i) for i in range(N_CLIENTS)]
        try:
            harness.wait_until(lambda: all(c.ok >= 20 for c in clients), 30,
                               "every client to run 20 queries before the restart")
            before = [c.ok for c in clients]
            for c in clients:
                c.restarting.set()
            self.pg.restart("fast")
            for c in clients:
                c.restarted.set()
            # every client gets through again, on a connection made after the restart
            harness.wait_until(lambda: all(c.ok_after >= 20 for c in clients), 60,
                               "every client to run 20 queries after the restart")
        finally:
            for c in clients:
                c.stop.set()
            for c in clients:
                c.thread.join(2 * DEADLINE + 5)
        self.assertEqual([c.thread.is_alive() for c in clients], [False] * N_CLIENTS)
        self.assertEqual([c.hangs for c in clients], [[]] * N_CLIENTS)
        # in session pooling each client's server connection died with the server: each client
        # saw at least one error (and its queries before the restart had all worked)
        self.assertEqual([len(c.errors) > 0 for c in clients], [True] * N_CLIENTS,
                         [c.errors for c in clients])
        self.assertEqual([e for c in clients for e in c.errors if e[0] == "before"], [])
        self.assertTrue(all(b >= 20 for b in before))
        sys.stderr.write("errors seen by the clients: %r\n" % sorted(
            {e[1].split("(")[0] for c in clients for e in c.errors}))
        # a brand new client works too
        conn = self.px.connect()
        cur = conn.cursor()
        cur.execute("SELECT 'back'")
        self.assertEqual(cur.fetchall(), [("back",)])
        conn.close()

    def test_server_down_then_up(self):
        # With the server stopped, a new client gets an error, not a hang; once it is started
        # again, new clients are served.
        conn = self.px.connect()
        self.pg.stop("fast")
        try:
            cur = conn.cursor()
            with self.assertRaises(psycopg2.Error):
                harness.async_query(harness.async_connect(self.px, DEADLINE), "SELECT 1",
                                    DEADLINE)
            with self.assertRaises(psycopg2.Error):
                cur.execute("SELECT 1")
            conn.close()
        finally:
            self.pg.start()

        def served():
            try:
                c = harness.async_connect(self.px, DEADLINE)
                try:
                    return harness.async_query(c, "SELECT 'up'", DEADLINE) == [("up",)]
                finally:
                    c.close()
            except psycopg2.Error:
                return False
        harness.wait_until(served, 30, "a new client to be served after the server started")

    def test_backend_terminated(self):
        # pg_terminate_backend on one client's server: that client gets an error (57P01 or a
        # closed connection), the other client does not notice, and new clients are served.
        victim = self.px.connect(application_name="victim")
        bystander = self.px.connect(application_name="bystander")
        vcur, bcur = victim.cursor(), bystander.cursor()
        vcur.execute("SELECT 1")
        bcur.execute("SELECT 1")
        pids = self.pg.query("SELECT pid FROM pg_stat_activity WHERE application_name = "
                             "'victim'")
        self.assertEqual(len(pids), 1)
        self.assertEqual(self.pg.query("SELECT pg_terminate_backend(%s, 10000)", (pids[0][0],)),
                         [(True,)])
        with self.assertRaises(psycopg2.Error) as cm:
            vcur.execute("SELECT 1")
        self.assertIn(cm.exception.pgcode, (None, "57P01", "08006", "08003"),
                      repr(cm.exception))
        victim.close()
        bcur.execute("SELECT 'still here'")
        self.assertEqual(bcur.fetchall(), [("still here",)])
        bystander.close()
        conn = self.px.connect()
        cur = conn.cursor()
        cur.execute("SELECT 'new'")
        self.assertEqual(cur.fetchall(), [("new",)])
        conn.close()


if __name__ == "__main__":
    unittest.main()
