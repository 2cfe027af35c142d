"""
test_auth: authentication on both sides of pgsift. Clients log into pgsift with md5 or
scram-sha-256 against the auth_file (plain, md5 and SCRAM secrets); pgsift logs into PostgreSQL
with md5 or scram-sha-256 (pg_hba.conf decides) using the password from the auth_file or from the
[databases] connection string. A wrong password gets 28P01 and never reaches the server; an
unknown database gets 3D000 naming it.
"""

import os
import sys
import unittest

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import MD5_PASSWORD, MD5_USER, SCRAM_PASSWORD, SCRAM_USER, TESTDB  # noqa: E402


class AuthTest(harness.PgsiftTestCase):
    def assert_login(self, px, user, password):
        """Logs in through px and checks the session really is that user on the server."""
        conn = px.connect(user=user, password=password)
        cur = conn.cursor()
        cur.execute("SELECT current_user, session_user, current_database()")
        self.assertEqual(cur.fetchall(), [(user, user, TESTDB)])
        conn.close()

    def assert_wrong_password(self, px, user):
        with self.assertRaises(psycopg2.OperationalError) as cm:
            px.connect(user=user, password="not the password")
        # psycopg2 has no SQLSTATE for a failed connection: the callers check 28P01 over the
        # raw protocol (raw_password_error).
        self.assertIn("authentication failed", str(cm.exception))

    def test_md5_client_md5_secret_server_md5(self):
        px = self.start_pgsift_for_test(settings={"auth_type": "md5"},
                               users={MD5_USER: harness.md5_secret(MD5_USER, MD5_PASSWORD)})
        self.assert_login(px, MD5_USER, MD5_PASSWORD)

    def test_md5_client_plain_secret_server_md5(self):
        px = self.start_pgsift_for_test(settings={"auth_type": "md5"}, users={MD5_USER: MD5_PASSWORD})
        self.assert_login(px, MD5_USER, MD5_PASSWORD)

    def test_scram_client_plain_secret_server_scram(self):
        px = self.start_pgsift_for_test(settings={"auth_type": "scram-sha-256"},
                               users={SCRAM_USER: SCRAM_PASSWORD})
        self.assert_login(px, SCRAM_USER, SCRAM_PASSWORD)

    def test_scram_client_scram_secret_server_password_from_databases(self):
        secret = self.pg.scram_secret(SCRAM_USER)
        self.assertTrue(secret.startswith("SCRAM-SHA-256$4096:"), secret)
        px = self.start_pgsift_for_test(
            settings={"auth_type": "scram-sha-256"}, users={SCRAM_USER: secret},
            databases={TESTDB: "host=%s port=%d dbname=%s password=%s" % (
                self.pg.host, self.pg.port, TESTDB, SCRAM_PASSWORD)})
        self.assert_login(px, SCRAM_USER, SCRAM_PASSWORD)

    def test_scram_client_md5_user_server_md5(self):
        # client side SCRAM with a plain secret, server side md5 for that user
        px = self.start_pgsift_for_test(settings={"auth_type": "scram-sha-256"},
                               users={MD5_USER: MD5_PASSWORD})
        self.assert_login(px, MD5_USER, MD5_PASSWORD)

    def test_trust_client_server_password_from_databases(self):
        px = self.start_pgsift_for_test(databases={TESTDB: "host=%s port=%d user=%s password=%s" % (
            self.pg.host, self.pg.port, MD5_USER, MD5_PASSWORD)})
        if harness.DIRECT:
            self.assert_login(px, MD5_USER, MD5_PASSWORD)
        else:
            self.assert_login(px, MD5_USER, None)

    def test_wrong_password_md5_gives_28P01(self):
        px = self.start_pgsift_for_test(settings={"auth_type": "md5"},
                               users={MD5_USER: harness.md5_secret(MD5_USER, MD5_PASSWORD)})
        self.assert_wrong_password(px, MD5_USER)
        self.assertEqual(self.raw_password_error(px, MD5_USER)["C"], "28P01")

    def test_wrong_password_scram_gives_28P01(self):
        px = self.start_pgsift_for_test(settings={"auth_type": "scram-sha-256"},
                               users={SCRAM_USER: SCRAM_PASSWORD})
        self.assert_wrong_password(px, SCRAM_USER)
        self.assertEqual(self.raw_password_error(px, SCRAM_USER)["C"], "28P01")

    @harness.skip_direct
    def test_unknown_user_gives_28P01(self):
        # a user not in auth_file fails like a wrong password (no user enumeration)
        px = self.start_pgsift_for_test(settings={"auth_type": "md5"}, users={MD5_USER: MD5_PASSWORD})
        self.assert_wrong_password(px, "nosuchuser")
        self.assertEqual(self.raw_password_error(px, "nosuchuser")["C"], "28P01")

    @harness.skip_direct
    def test_wrong_password_reaches_no_server(self):
        for auth_type, user, secret in (
                ("md5", MD5_USER, harness.md5_secret(MD5_USER, MD5_PASSWORD)),
                ("scram-sha-256", SCRAM_USER, SCRAM_PASSWORD)):
            px = self.start_pgsift_for_test(settings={"auth_type": auth_type},
                                            users={user: secret})
            # server connections of pgsift instances stopped by earlier tests may still be
            # closing
            harness.wait_until(lambda: self.pg.backend_pids(user=user) == [], 10,
                               "no backend of %s before the test" % user)
            log_off = self.pg.log_size()
            self.assert_wrong_password(px, user)
            self.assertEqual(self.raw_password_error(px, user)["C"], "28P01")
            # nothing reached the server: no connection of any kind in its log (log_connections
            # is on), and no backend of that user.
            # (the log is read before the direct connection below adds its own lines)
            log_lines = self.pg.log_text(log_off).splitlines()
            self.assertEqual([l for l in log_lines
                              if "connection received" in l or "user=%s" % user in l], [])
            self.assertEqual(self.pg.backend_pids(user=user), [])
            px.stop()

    def test_unknown_database_gives_3D000(self):
        px = self.start_pgsift_for_test(databases={TESTDB: "host=%s port=%d" % (
            self.pg.host, self.pg.port)})
        sock, err = harness.raw_login(px, {"user": harness.SUPERUSER, "database": "nosuchdb"})
        sock.close()
        self.assertIsNotNone(err, "logged in to a database that does not exist")
        self.assertEqual((err["S"], err["C"]), ("FATAL", "3D000"))
        self.assertIn('"nosuchdb"', err["M"])
        with self.assertRaises(psycopg2.OperationalError) as cm:
            px.connect(dbname="nosuchdb")
        self.assertIn("nosuchdb", str(cm.exception))
        # the configured database still works on the same pgsift
        self.assert_login(px, harness.SUPERUSER, None)

    def raw_password_error(self, px, user):
        """Logs in with a wrong password over the raw protocol; returns the ErrorResponse."""
        return harness.raw_login_password(px, {"user": user, "database": TESTDB},
                                          "not the password")


if __name__ == "__main__":
    unittest.main()
