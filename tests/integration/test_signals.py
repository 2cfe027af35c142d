"""
test_signals: pgsift's signals as README.md gives them. SIGTERM stops accepting, lets the
connected clients finish, then exits 0; SIGINT exits at once; SIGHUP reloads the ini file and
the auth_file, and a bad file keeps the old configuration running and says why.
"""

import os
import signal
import sys
import unittest

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import MD5_PASSWORD, MD5_USER, SCRAM_PASSWORD, SCRAM_USER  # noqa: E402


@unittest.skipIf(harness.DIRECT, "signals are sent to pgsift (PGSIFT_DIRECT=1)")
class SignalsTest(harness.PgsiftTestCase):
    def wait_exit(self, px, timeout=10):
        harness.wait_until(lambda: px.proc.poll() is not None, timeout, "pgsift to exit")
        return px.proc.returncode

    def test_sigterm_waits_for_connected_clients(self):
        px = self.start_pgsift_for_test()
        conn = px.connect()
        self.addCleanup(conn.close)
        cur = conn.cursor()
        cur.execute("SELECT 1")
        px.proc.send_signal(signal.SIGTERM)
        # no new clients: the listener is closed (refused) or the login is refused
        harness.wait_until(lambda: not self.can_connect(px), 10,
                           "pgsift to stop accepting after SIGTERM")
        # the connected client goes on as before
        cur.execute("SELECT 'still served'")
        self.assertEqual(cur.fetchall(), [("still served",)])
        self.assertIsNone(px.proc.poll(), "pgsift exited with a client still connected")
        conn.close()
        self.assertEqual(self.wait_exit(px), 0)

    def test_sigint_exits_at_once(self):
        px = self.start_pgsift_for_test()
        conn = px.connect()
        self.addCleanup(conn.close)
        conn.cursor().execute("SELECT 1")
        px.proc.send_signal(signal.SIGINT)
        self.assertEqual(self.wait_exit(px), 0)
        with self.assertRaises(psycopg2.Error):
            conn.cursor().execute("SELECT 1")

    def test_sighup_reloads_auth_file(self):
        px = self.start_pgsift_for_test(settings={"auth_type": "md5"},
                                        users={MD5_USER: MD5_PASSWORD})
        self.assertFalse(self.can_connect(px, SCRAM_USER, SCRAM_PASSWORD))
        with open(os.path.join(px.tmp, "userlist.txt"), "a") as f:
            f.write('"%s" "%s"\n' % (SCRAM_USER, SCRAM_PASSWORD))
        px.proc.send_signal(signal.SIGHUP)
        harness.wait_until(lambda: self.can_connect(px, SCRAM_USER, SCRAM_PASSWORD), 10,
                           "the new auth_file entry to work after SIGHUP")
        self.assertTrue(self.can_connect(px, MD5_USER, MD5_PASSWORD))

    def test_bad_reload_keeps_the_old_configuration(self):
        px = self.start_pgsift_for_test(settings={"auth_type": "md5"},
                                        users={MD5_USER: MD5_PASSWORD})
        # (a connection first: the event loop runs, so this test is not about the start-up
        # window test_sighup_right_after_ready covers)
        self.assertTrue(self.can_connect(px, MD5_USER, MD5_PASSWORD))
        with open(px.ini_path) as f:
            good = f.read()
        with open(px.ini_path, "w") as f:
            f.write(good.replace("pool_mode = session", "pool_mode = no_such_mode"))
        start = len(px.lines)
        px.proc.send_signal(signal.SIGHUP)
        harness.wait_until(lambda: any("pool_mode" in l for l in px.lines[start:]), 10,
                           "a log line naming the bad key after SIGHUP")
        line = [l for l in px.lines[start:] if "pool_mode" in l][0]
        self.assertIn(px.ini_path, line)
        self.assertTrue(px.is_alive())
        self.assertTrue(self.can_connect(px, MD5_USER, MD5_PASSWORD))

    def test_sighup_right_after_ready(self):
        # Once pgsift has printed its ready line (and written its pidfile), a SIGHUP from
        # logrotate or systemd must reload it, not kill it with the signal's default action.
        for i in range(5):
            px = self.start_pgsift_for_test()
            px.proc.send_signal(signal.SIGHUP)
            self.assertTrue(self.can_connect(px), "start %d: not served after SIGHUP" % i)
            self.assertIsNone(px.proc.poll(), "start %d: pgsift died of a SIGHUP sent just "
                              "after its ready line (status %r)" % (i, px.proc.returncode))
            px.stop()

    @staticmethod
    def can_connect(px, user=harness.SUPERUSER, password=None):
        try:
            conn = px.connect(user=user, password=password, connect_timeout=5)
        except psycopg2.OperationalError:
            return False
        try:
            conn.cursor().execute("SELECT 1")
            return True
        except psycopg2.Error:
            return False
        finally:
            conn.close()


if __name__ == "__main__":
    unittest.main()
