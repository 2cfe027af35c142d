"""
test_cancel: a CancelRequest sent to pgsift (with the BackendKeyData pgsift gave the client)
reaches the server that client is using: a running pg_sleep stops with 57014 and the connection
keeps working. A cancel with a wrong key cancels nothing.
"""

import os
import struct
import sys
import threading
import time
import unittest

import psycopg2
import psycopg2.errors

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def cancel_later(conn, fired):
    """Cancels conn's running query once the server shows it running pg_sleep."""
    def run():
        pg = harness.pg()

        def sleeping():
            return pg.query("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                            "AND query LIKE 'SELECT pg_sleep(30)%'")[0][0] > 0
        harness.wait_until(sleeping, 10, "pg_sleep to be running")
        fired.append(time.monotonic())
        conn.cancel()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def run_in_thread(conn, sql, res, key):
    """Runs sql on conn in a started thread (returned); res[key] becomes "ok" or the pgcode."""
    def run():
        try:
            conn.cursor().execute(sql)
            res[key] = "ok"
        except psycopg2.Error as e:
            res[key] = e.pgcode
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


class CancelTest(harness.PgsiftTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.px = cls.start_pgsift(use_ini=False)

    def run_cancelled_sleep(self, conn):
        fired = []
        t = cancel_later(conn, fired)
        cur = conn.cursor()
        start = time.monotonic()
        with self.assertRaises(psycopg2.errors.QueryCanceled) as cm:
            cur.execute("SELECT pg_sleep(30)")
        end = time.monotonic()
        t.join(10)
        self.assertEqual(cm.exception.pgcode, "57014")
        self.assertIn("canceling statement due to user request", str(cm.exception))
        self.assertEqual(len(fired), 1)
        self.assertLess(end - fired[0], 5.0, "the cancel took %.1f s to work" % (end - fired[0]))
        self.assertLess(end - start, 15.0)

    def test_cancel_pg_sleep(self):
        conn = self.px.connect()
        self.run_cancelled_sleep(conn)
        cur = conn.cursor()
        cur.execute("SELECT 1")
        self.assertEqual(cur.fetchall(), [(1,)])
        # and a second time on the same connection
        self.run_cancelled_sleep(conn)
        cur.execute("SELECT 2")
        self.assertEqual(cur.fetchall(), [(2,)])
        conn.close()

    def test_cancel_inside_transaction(self):
        conn = self.px.connect(autocommit=False)
        cur = conn.cursor()
        cur.execute("SELECT 1")
        self.run_cancelled_sleep(conn)
        with self.assertRaises(psycopg2.errors.InFailedSqlTransaction):
            cur.execute("SELECT 1")
        conn.rollback()
        cur.execute("SELECT 3")
        self.assertEqual(cur.fetchall(), [(3,)])
        conn.close()

    def test_cancel_reaches_only_its_own_client(self):
        # two clients sleep; cancelling one leaves the other running to its end
        a = self.px.connect()
        b = self.px.connect()
        res = {}
        tb = run_in_thread(b, "SELECT pg_sleep(1.5)", res, "b")
        self.run_cancelled_sleep(a)
        tb.join(20)
        self.assertEqual(res, {"b": "ok"})
        a.close()
        b.close()

    def test_cancel_with_wrong_key_does_nothing(self):
        conn = self.px.connect()
        res = {}
        t = run_in_thread(conn, "SELECT pg_sleep(1.5) /* wrong key */", res, "sleep")
        harness.wait_until(lambda: self.pg.query(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
            "AND query LIKE '%wrong key%' AND pid <> pg_backend_pid()")[0][0] == 1,
            10, "pg_sleep to be running")
        # A CancelRequest with a made-up key is closed without an answer and cancels nothing.
        s = harness.raw_socket(self.px)
        s.sendall(struct.pack("!IIII", 16, 80877102, 12345, 67890))
        self.assertEqual(harness.error_or_close(s), ("closed", None))
        s.close()
        t.join(20)
        self.assertEqual(res, {"sleep": "ok"})
        cur = conn.cursor()
        cur.execute("SELECT 5")
        self.assertEqual(cur.fetchall(), [(5,)])
        conn.close()

if __name__ == "__main__":
    unittest.main()
