"""
test_auth_query: auth_user + auth_query, with the users' secrets only in PostgreSQL.

pgsift's auth_file holds only the auth user. A SCRAM user logs in end to end (pgsift checks the
client against the SCRAM secret read with auth_query and logs in to PostgreSQL with the keys the
client proved: no plain password anywhere); an md5 user likewise (its md5 secret logs the server
in). A wrong password, a user that does not exist and a role whose rolvaliduntil has passed are
refused alike. An auth user whose search_path puts a schema with its own pg_authid first gains
nothing: pgsift runs the query with search_path = pg_catalog, pg_temp. A lookup that fails
(auth_user cannot log in, the query is wrong) is a clear error, never a login.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MD5_PASSWORD, MD5_USER, SCRAM_PASSWORD, SCRAM_USER, TESTDB,  # noqa: E402
                     Pgsift, pg, skip_direct)

import psycopg2  # noqa: E402

AUTH_USER, AUTH_PASSWORD = "pgsift_auth", "authpass"
EVIL_PASSWORD = "evilpass"


def setup_roles():
    conn = pg().connect(dbname="postgres")
    cur = conn.cursor()
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (AUTH_USER,))
    if cur.fetchone():
        conn.close()
        return
    # the default auth_query reads pg_authid, which only a superuser may
    cur.execute("CREATE ROLE %s LOGIN SUPERUSER PASSWORD '%s'" % (AUTH_USER, AUTH_PASSWORD))
    cur.execute("SET password_encryption = 'scram-sha-256'")
    cur.execute("CREATE ROLE expired_user LOGIN PASSWORD 'exppass' VALID UNTIL '2001-01-01'")
    cur.execute("CREATE ROLE evil_source LOGIN PASSWORD '%s'" % EVIL_PASSWORD)
    conn.close()
    # in testdb: a schema whose pg_authid says scramuser's password is evilpass, first in the
    # auth user's search_path
    conn = pg().connect()
    cur = conn.cursor()
    cur.execute("CREATE SCHEMA evil")
    cur.execute("CREATE VIEW evil.pg_authid AS SELECT %s::name AS rolname, rolpassword, "
                "NULL::timestamptz AS rolvaliduntil, true AS rolcanlogin "
                "FROM pg_catalog.pg_authid WHERE rolname = 'evil_source'", (SCRAM_USER,))
    cur.execute("GRANT USAGE ON SCHEMA evil TO PUBLIC")
    cur.execute("ALTER ROLE %s SET search_path = evil, pg_catalog" % AUTH_USER)
    conn.close()


def start(**settings):
    s = {"auth_type": "scram-sha-256", "auth_user": AUTH_USER}
    s.update(settings)
    return Pgsift(pg(), settings=s, users={AUTH_USER: AUTH_PASSWORD})


@skip_direct
class AuthQueryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        setup_roles()
        cls.px = start()

    def login(self, px, user, password):
        conn = psycopg2.connect(host=px.host, port=px.port, dbname=TESTDB, user=user,
                                password=password, connect_timeout=10)
        try:
            cur = conn.cursor()
            cur.execute("SELECT current_user, 6 * 7")
            return cur.fetchone()
        finally:
            conn.close()

    def refused(self, px, user, password):
        with self.assertRaises(psycopg2.OperationalError) as cm:
            self.login(px, user, password)
        return str(cm.exception)

    def test_scram_end_to_end_secret_only_in_postgres(self):
        self.assertEqual(self.login(self.px, SCRAM_USER, SCRAM_PASSWORD), (SCRAM_USER, 42))
        # again: from the cache, and the pool's server is reused
        self.assertEqual(self.login(self.px, SCRAM_USER, SCRAM_PASSWORD), (SCRAM_USER, 42))

    def test_md5_user(self):
        self.assertEqual(self.login(self.px, MD5_USER, MD5_PASSWORD), (MD5_USER, 42))

    def test_wrong_password_unknown_user_expired_role(self):
        for user, password in ((SCRAM_USER, "wrong"), ("no_such_user", "x"),
                               ("expired_user", "exppass")):
            self.assertIn('password authentication failed for user "%s"' % user,
                          self.refused(self.px, user, password), user)

    def test_search_path_of_auth_user_has_no_effect(self):
        px = start(auth_query="SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL "
                              "ELSE rolpassword END FROM pg_authid WHERE rolname = $1")
        try:
            self.assertIn("password authentication failed",
                          self.refused(px, SCRAM_USER, EVIL_PASSWORD))
            self.assertEqual(self.login(px, SCRAM_USER, SCRAM_PASSWORD), (SCRAM_USER, 42))
        finally:
            px.stop()

    def test_failing_lookup_is_an_error(self):
        px = start(auth_user="no_such_auth_user")
        try:
            err = self.refused(px, SCRAM_USER, SCRAM_PASSWORD)
            self.assertIn("authentication lookup failed (auth_query): auth_user could not "
                          "connect", err)
            self.assertIn('role "no_such_auth_user" does not exist', err)
        finally:
            px.stop()
        px = start(auth_query="SELECT rolname FROM pg_catalog.pg_authid WHERE rolname = $1")
        try:
            self.assertIn("authentication lookup failed (auth_query): auth_query must return "
                          "one row of (name, secret), got 1 rows of 1 columns",
                          self.refused(px, SCRAM_USER, SCRAM_PASSWORD))
        finally:
            px.stop()
        px = start(auth_query="SELEKT $1")
        try:
            self.assertIn('authentication lookup failed (auth_query): ERROR:  syntax error at '
                          'or near "SELEKT"', self.refused(px, SCRAM_USER, SCRAM_PASSWORD))
        finally:
            px.stop()


if __name__ == "__main__":
    unittest.main()
