"""
test_timeouts: every timeout of pgsift in transaction pooling, and cancel routing.

query_timeout cancels the statement (57014 naming query_timeout) and leaves both connections
usable; idle_transaction_timeout (25P03), transaction_timeout (25P04), client_idle_timeout and
query_wait_timeout end the client with an error that names the setting, and the server goes back
to the pool without the client's transaction or locks. A client's own statement_timeout from its
startup options holds on every server. A CancelRequest cancels the client's own statement and
never another client's, also when the cancelling client has no server at that moment.

Settings are in seconds (0.5 = 500 ms). Tests that are about time passing wait just past the
timeout; everything else polls with a deadline.
"""

import os
import socket
import sys
import threading
import time
import unittest

import psycopg2
import psycopg2.errors

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DIRECT  # noqa: E402
from test_transaction import Holder, RawClient, assert_moved  # noqa: E402


def wait_for_error(tc, sock, timeout=5.0):
    """Waits for the proxy to end the connection; returns (error fields, seconds waited)."""
    start = time.monotonic()
    kind, fields = harness.error_or_close(sock, timeout)
    took = time.monotonic() - start
    tc.assertEqual(kind, "error", "closed without an ErrorResponse after %.2f s" % took)
    return fields, took


def server_clean(tc, pg):
    """Polls PostgreSQL until no backend is idle in transaction and no advisory lock is held."""
    d = pg.connect()
    try:
        cur = d.cursor()

        def clean():
            cur.execute("SELECT (SELECT count(*) FROM pg_stat_activity WHERE state LIKE "
                        "'idle in transaction%%' AND pid <> pg_backend_pid()), "
                        "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory')")
            return cur.fetchone() == (0, 0)
        harness.wait_until(clean, 10, "no transaction left open and no advisory lock held")
    finally:
        d.close()


def assert_next_client_clean(tc, px):
    """A new client through px is served, in a fresh transaction, and sees no advisory lock."""
    c = px.connect()
    try:
        cur = c.cursor()
        cur.execute("SELECT now() = statement_timestamp(), "
                    "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory')")
        tc.assertEqual(cur.fetchone(), (True, 0))
    finally:
        c.close()


@harness.skip_direct
class QueryTimeoutTest(harness.PgsiftTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.px = cls.start_pgsift(settings={"pool_mode": "transaction", "default_pool_size": 1,
                                            "query_timeout": "0.5"})

    def connect(self, **kw):
        c = self.px.connect(**kw)
        self.addCleanup(c.close)
        return c

    def test_simple_query_cancelled_and_both_connections_stay_usable(self):
        c = self.connect()
        cur = c.cursor()
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
        start = time.monotonic()
        with self.assertRaises(psycopg2.errors.QueryCanceled) as cm:
            cur.execute("SELECT pg_sleep(5)")
        took = time.monotonic() - start
        self.assertEqual(cm.exception.pgcode, "57014")
        self.assertIn("query_timeout", cm.exception.diag.message_primary)
        self.assertGreaterEqual(took, 0.45)
        self.assertLess(took, 2.0)
        cur.execute("SELECT 1")
        self.assertEqual(cur.fetchone()[0], 1)
        # pool of one: the next client gets the same server connection, working
        other = self.connect()
        oc = other.cursor()
        oc.execute("SELECT pg_backend_pid(), 'ok'::text")
        self.assertEqual(oc.fetchone(), (pid, "ok"))

    def test_extended_query_cancelled(self):
        c = RawClient(self.px)
        self.addCleanup(c.close)
        start = time.monotonic()
        r = c.run(c.parse("", "SELECT pg_sleep(5)"), c.bind(""), c.execute(), c.sync())
        took = time.monotonic() - start
        self.assertEqual(len(r), 4, r)
        self.assertEqual(r[:2], [("1",), ("2",)])
        self.assertEqual(r[2][:2], ("E", "57014"))
        self.assertIn("query_timeout", r[2][2])
        self.assertEqual(r[3], ("Z", "I"))
        self.assertLess(took, 2.0)
        self.assertEqual(c.run(c.query("SELECT 2")),
                         [("T", [("?column?", 23)]), ("D", ["2"]), ("C", "SELECT 1"), ("Z", "I")])

    def test_cancelled_inside_transaction(self):
        c = self.connect(autocommit=False)
        cur = c.cursor()
        cur.execute("SELECT 1")
        with self.assertRaises(psycopg2.errors.QueryCanceled) as cm:
            cur.execute("SELECT pg_sleep(5)")
        self.assertIn("query_timeout", cm.exception.diag.message_primary)
        c.rollback()
        cur.execute("SELECT 3")
        self.assertEqual(cur.fetchone()[0], 3)
        c.commit()

    def test_short_statements_in_a_long_transaction_not_cancelled(self):
        c = self.connect(autocommit=False)
        cur = c.cursor()
        for _ in range(4):
            cur.execute("SELECT pg_sleep(0.2)")
        c.commit()
        cur.execute("SELECT 'done'::text")
        self.assertEqual(cur.fetchone()[0], "done")
        c.commit()

    def test_extended_query_with_named_statement_cancelled(self):
        c = RawClient(self.px)
        self.addCleanup(c.close)
        self.assertEqual(c.run(c.parse("slow", "SELECT pg_sleep($1::float8)"), c.sync()),
                         [("1",), ("Z", "I")])
        start = time.monotonic()
        r = c.run(c.bind("slow", [5]), c.execute(), c.sync())
        took = time.monotonic() - start
        self.assertEqual([m[:2] for m in r], [("2",), ("E", "57014"), ("Z", "I")])
        self.assertIn("query_timeout", r[1][2])
        self.assertLess(took, 2.0)
        r = c.run(c.bind("slow", [0]), c.execute(), c.sync())
        self.assertEqual(r, [("2",), ("D", [""]), ("C", "SELECT 1"), ("Z", "I")])

    def test_pipelined_groups_timed_each_from_its_own_start(self):
        c = RawClient(self.px)
        self.addCleanup(c.close)
        frames = [c.parse("slp", "SELECT pg_sleep(0.3)")]
        for _ in range(3):
            frames += [c.bind("slp"), c.execute(), c.sync()]
        r = c.run(*frames, n=3)
        self.assertEqual(r, [("1",)] + [("2",), ("D", [""]), ("C", "SELECT 1"), ("Z", "I")] * 3)


@harness.skip_direct
class ClientEndingTimeoutsTest(harness.PgsiftTestCase):
    """Each test starts its own pgsift with one timeout and a pool of one."""

    def start(self, **settings):
        s = {"pool_mode": "transaction", "default_pool_size": 1}
        s.update(settings)
        return self.start_pgsift_for_test(settings=s)

    def raw(self, px):
        c = RawClient(px)
        self.addCleanup(c.close)
        return c

    def test_idle_transaction_timeout_raw(self):
        px = self.start(idle_transaction_timeout="0.5")
        c = self.raw(px)
        self.assertEqual(c.run(c.query("BEGIN")), [("C", "BEGIN"), ("Z", "T")])
        r = c.run(c.query("SELECT pg_advisory_xact_lock(4242)"))
        self.assertEqual(r[-1], ("Z", "T"))
        fields, took = wait_for_error(self, c.sock)
        self.assertEqual((fields["S"], fields["C"]), ("FATAL", "25P03"))
        self.assertIn("idle_transaction_timeout", fields["M"])
        self.assertGreaterEqual(took, 0.4)
        self.assertLess(took, 2.0)
        server_clean(self, self.pg)
        assert_next_client_clean(self, px)

    def test_idle_transaction_timeout_psycopg2(self):
        px = self.start(idle_transaction_timeout="0.5")
        c = px.connect(autocommit=False)
        self.addCleanup(c.close)
        cur = c.cursor()
        cur.execute("SELECT pg_advisory_xact_lock(4243)")
        time.sleep(0.8)  # the test is about idling past the timeout
        # libpq reports an unsolicited FATAL only as "server closed the connection
        # unexpectedly" (also with PostgreSQL itself); the text is checked over the raw protocol
        with self.assertRaises(psycopg2.OperationalError):
            cur.execute("SELECT 1")
        self.assertNotEqual(c.closed, 0)
        server_clean(self, self.pg)
        assert_next_client_clean(self, px)

    def test_idle_transaction_timeout_spares_busy_and_idle_clients(self):
        px = self.start(idle_transaction_timeout="0.5")
        c = px.connect(autocommit=False)
        self.addCleanup(c.close)
        cur = c.cursor()
        cur.execute("SELECT pg_sleep(1)")  # busy, not idle, for longer than the timeout
        c.commit()
        c.autocommit = True
        time.sleep(0.8)  # idle outside a transaction for longer than the timeout
        cur.execute("SELECT 'alive'::text")
        self.assertEqual(cur.fetchone()[0], "alive")

    def test_transaction_timeout_idle(self):
        px = self.start(transaction_timeout="0.8")
        c = self.raw(px)
        self.assertEqual(c.run(c.query("BEGIN")), [("C", "BEGIN"), ("Z", "T")])
        c.run(c.query("SELECT pg_advisory_xact_lock(4244)"))
        fields, took = wait_for_error(self, c.sock)
        self.assertEqual((fields["S"], fields["C"]), ("FATAL", "25P04"))
        self.assertIn("transaction_timeout", fields["M"])
        self.assertGreaterEqual(took, 0.6)
        self.assertLess(took, 2.5)
        server_clean(self, self.pg)
        assert_next_client_clean(self, px)

    def test_transaction_timeout_while_a_statement_runs(self):
        px = self.start(transaction_timeout="0.8")
        c = self.raw(px)
        self.assertEqual(c.run(c.query("BEGIN")), [("C", "BEGIN"), ("Z", "T")])
        c.run(c.query("SELECT pg_advisory_xact_lock(4245)"))
        c.send(c.query("SELECT pg_sleep(5)"))
        fields, took = wait_for_error(self, c.sock)
        self.assertEqual((fields["S"], fields["C"]), ("FATAL", "25P04"))
        self.assertLess(took, 2.5)
        # the next client is served well before the 5 s sleep would have ended
        start = time.monotonic()
        assert_next_client_clean(self, px)
        self.assertLess(time.monotonic() - start, 2.5)
        server_clean(self, self.pg)

    def test_transaction_timeout_spares_short_transactions(self):
        px = self.start(transaction_timeout="0.8")
        c = px.connect(autocommit=False)
        self.addCleanup(c.close)
        cur = c.cursor()
        for i in range(4):  # 4 transactions of 0.3 s: 1.2 s in all, none over the timeout
            cur.execute("SELECT pg_sleep(0.3), %s", (i,))
            self.assertEqual(cur.fetchone()[1], i)
            c.commit()

    def test_client_idle_timeout(self):
        px = self.start(client_idle_timeout="0.5")
        c = self.raw(px)
        self.assertEqual(c.run(c.query("SELECT 1"))[-1], ("Z", "I"))
        fields, took = wait_for_error(self, c.sock)
        self.assertEqual(fields["S"], "FATAL")
        self.assertIn("client_idle_timeout", fields["M"])
        self.assertGreaterEqual(took, 0.4)
        self.assertLess(took, 2.0)
        assert_next_client_clean(self, px)

    def test_client_idle_timeout_psycopg2(self):
        px = self.start(client_idle_timeout="0.5")
        c = px.connect()
        self.addCleanup(c.close)
        cur = c.cursor()
        cur.execute("SELECT 1")
        time.sleep(0.8)  # the test is about idling past the timeout
        with self.assertRaises(psycopg2.OperationalError):
            cur.execute("SELECT 1")
        self.assertNotEqual(c.closed, 0)

    def test_query_wait_timeout(self):
        px = self.start(query_wait_timeout="0.5")
        holder = px.connect(autocommit=False)
        self.addCleanup(holder.close)
        holder.cursor().execute("SELECT 1")  # holds the only server
        c = self.raw(px)
        start = time.monotonic()
        c.send(c.query("SELECT 'never'::text"))
        fields, took = wait_for_error(self, c.sock)
        self.assertEqual(fields["S"], "FATAL")
        self.assertIn("query_wait_timeout", fields["M"])
        self.assertGreaterEqual(time.monotonic() - start, 0.4)
        self.assertLess(took, 2.0)
        holder.commit()
        assert_next_client_clean(self, px)

    def test_query_wait_timeout_psycopg2(self):
        px = self.start(query_wait_timeout="0.5")
        holder = px.connect(autocommit=False)
        self.addCleanup(holder.close)
        holder.cursor().execute("SELECT 1")
        c = px.connect()
        self.addCleanup(c.close)
        with self.assertRaises(psycopg2.OperationalError):
            c.cursor().execute("SELECT 1")
        self.assertNotEqual(c.closed, 0)
        # psql (libpq) prints the FATAL pgsift sent
        rc, out, err = harness.run_psql(px, "SELECT 1;")
        self.assertEqual(rc, 2, err)
        self.assertIn("FATAL:  08P01: query_wait_timeout", err)
        holder.rollback()

    def test_query_wait_timeout_spares_a_client_served_in_time(self):
        px = self.start(query_wait_timeout="1")
        holder = px.connect(autocommit=False)
        self.addCleanup(holder.close)
        holder.cursor().execute("SELECT 1")
        c = self.raw(px)
        c.send(c.query("SELECT 'served'::text"))
        # the holder finishes while c waits: c is served
        holder.commit()
        r = c.read_until_ready()
        self.assertEqual(r[1:], [("D", ["served"]), ("C", "SELECT 1"), ("Z", "I")])


class OwnStatementTimeoutTest(harness.PgsiftTestCase):
    POOL = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.px = cls.start_pgsift(settings={"pool_mode": "transaction",
                                            "default_pool_size": cls.POOL})

    def test_startup_statement_timeout_on_every_server(self):
        c = self.px.connect(options="-c statement_timeout=200")
        self.addCleanup(c.close)
        cur = c.cursor()
        cur.execute("SELECT pg_backend_pid()")
        pid1 = cur.fetchone()[0]
        with self.assertRaises(psycopg2.errors.QueryCanceled) as cm:
            cur.execute("SELECT pg_sleep(1)")
        self.assertEqual(cm.exception.diag.message_primary,
                         "canceling statement due to statement timeout")
        h = Holder(self.px, pid1, self.POOL)
        self.addCleanup(h.release)
        with self.assertRaises(psycopg2.errors.QueryCanceled) as cm:
            cur.execute("SELECT pg_sleep(1)")
        self.assertEqual(cm.exception.diag.message_primary,
                         "canceling statement due to statement timeout")
        cur.execute("SHOW statement_timeout")
        self.assertEqual(cur.fetchone()[0], "200ms")
        cur.execute("SELECT pg_backend_pid()")
        assert_moved(self, pid1, cur.fetchone()[0])
        # another client on the same server is not limited by it
        other = self.px.connect()
        self.addCleanup(other.close)
        oc = other.cursor()
        oc.execute("SELECT pg_sleep(0.4), current_setting('statement_timeout')")
        self.assertEqual(oc.fetchone(), ("", "0"))


def sleeping(pg, text):
    """Whether a backend is running a statement that starts with text."""
    return pg.query("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                    "AND query LIKE %s", (text + "%",))[0][0] > 0


class BackgroundQuery:
    """Runs sql on conn in a thread; .error and .rows and .took after join()."""

    def __init__(self, conn, sql):
        self.conn, self.sql = conn, sql
        self.error, self.rows, self.took = None, None, None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        start = time.monotonic()
        try:
            cur = self.conn.cursor()
            cur.execute(self.sql)
            self.rows = cur.fetchall()
        except Exception as e:  # reported by the test
            self.error = e
        self.took = time.monotonic() - start

    def join(self, timeout):
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError("%r still running after %.0f s" % (self.sql, timeout))


class CancelTwoServersTest(harness.PgsiftTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.px = cls.start_pgsift(settings={"pool_mode": "transaction", "default_pool_size": 2})

    def test_cancel_reaches_own_statement_only(self):
        a, b = self.px.connect(), self.px.connect()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        bq = BackgroundQuery(b, "SELECT pg_sleep(2.5), 'b done'::text")
        harness.wait_until(lambda: sleeping(self.pg, "SELECT pg_sleep(2.5)"), 10, "b running")
        aq = BackgroundQuery(a, "SELECT pg_sleep(30)")
        harness.wait_until(lambda: sleeping(self.pg, "SELECT pg_sleep(30)"), 10, "a running")
        a.cancel()
        aq.join(10)
        self.assertIsInstance(aq.error, psycopg2.errors.QueryCanceled)
        self.assertEqual(aq.error.diag.message_primary, "canceling statement due to user request")
        self.assertLess(aq.took, 10)
        bq.join(10)
        self.assertIsNone(bq.error)
        self.assertEqual(bq.rows, [("", "b done")])
        cur = a.cursor()
        cur.execute("SELECT 'a again'::text")
        self.assertEqual(cur.fetchone()[0], "a again")


class CancelOneServerTest(harness.PgsiftTestCase):
    """Pool of one: the server the cancelling client used last is now another client's."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.px = cls.start_pgsift(settings={"pool_mode": "transaction", "default_pool_size": 1})

    def test_cancel_from_idle_client_hits_nobody(self):
        a, b = self.px.connect(), self.px.connect()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        ca = a.cursor()
        ca.execute("SELECT pg_backend_pid()")
        a_pid = ca.fetchone()[0]
        bq = BackgroundQuery(b, "SELECT pg_sleep(1.5), pg_backend_pid()")
        harness.wait_until(lambda: sleeping(self.pg, "SELECT pg_sleep(1.5)"), 10, "b running")
        a.cancel()
        bq.join(10)
        self.assertIsNone(bq.error, "a's cancel reached b's statement")
        self.assertEqual(len(bq.rows), 1)
        if not DIRECT:
            self.assertEqual(bq.rows[0][1], a_pid)  # b ran where a ran before
        ca.execute("SELECT 'a fine'::text")
        self.assertEqual(ca.fetchone()[0], "a fine")

    def test_cancel_while_waiting_for_a_server_hits_nobody(self):
        a, b = self.px.connect(), self.px.connect()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        bq = BackgroundQuery(b, "SELECT pg_sleep(1.5), 'b done'::text")
        harness.wait_until(lambda: sleeping(self.pg, "SELECT pg_sleep(1.5)"), 10, "b running")
        aq = BackgroundQuery(a, "SELECT 'a done'::text")  # waits for b's server
        a.cancel()
        bq.join(10)
        self.assertIsNone(bq.error, "a's cancel reached b's statement")
        self.assertEqual(bq.rows, [("", "b done")])
        aq.join(10)
        if aq.error is None:
            self.assertEqual(aq.rows, [("a done",)])
        else:
            self.assertIsInstance(aq.error, psycopg2.errors.QueryCanceled)


if __name__ == "__main__":
    unittest.main(verbosity=2)
