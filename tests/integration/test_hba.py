"""
test_hba: auth_type = hba with an auth_hba_file (PgBouncer's subset of pg_hba.conf) in front of a
real PostgreSQL. Each method (trust, reject, md5, scram-sha-256, password, peer) and address form
(CIDR, address + netmask, IPv6 that does not match an IPv4 client, the Unix socket), database and
user lists with an @file include, first match wins, and a client no line matches. Refusals carry
PostgreSQL's own words and SQLSTATE 28000.
"""

import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MD5_PASSWORD, MD5_USER, POOL_USER, SCRAM_PASSWORD, SCRAM_USER,  # noqa: E402
                     SUPERUSER, TESTDB, Pgsift, md5_secret, pg, register_cleanup,
                     skip_direct)

import psycopg2  # noqa: E402

PLAIN_PASSWORD = "plainpass"

HBA = """
# PgBouncer's pg_hba.conf subset
local   all     root                            peer
local   all     %(pool)s                        peer
local   all     all                             trust
host    all     rejectme    127.0.0.1/32        reject
host    testdb  %(md5)s     127.0.0.1/32        md5
host    testdb  %(md5)s     127.0.0.1/32        trust   # never reached: first match wins
host    testdb  %(scram)s   127.0.0.0/8         scram-sha-256
host    testdb  %(pool)s    127.0.0.1 255.255.255.255  password
host    testdb  %(super)s   ::1/128             trust   # an IPv4 client never matches
host    testdb,postgres  @incusers.txt  127.0.0.1/32  trust
host    "pgsift"  %(super)s  127.0.0.1/32       md5
""" % {"md5": MD5_USER, "scram": SCRAM_USER, "pool": POOL_USER, "super": SUPERUSER}


@skip_direct
class HbaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        server = pg()
        conn = server.connect()
        for role in ("incuser", "rejectme", "root"):
            conn.cursor().execute("DO $$ BEGIN CREATE ROLE %s LOGIN; EXCEPTION WHEN "
                                  "duplicate_object THEN NULL; END $$" % role)
        conn.close()
        users = {MD5_USER: md5_secret(MD5_USER, MD5_PASSWORD),
                 SCRAM_USER: server.scram_secret(), POOL_USER: PLAIN_PASSWORD,
                 SUPERUSER: md5_secret(SUPERUSER, "adminpass")}
        cls.px = Pgsift(server, settings={"auth_type": "hba", "admin_users": SUPERUSER,
                                          "auth_hba_file": cls.hba_file()},
                        users=users)

    @classmethod
    def hba_file(cls):
        d = tempfile.mkdtemp(prefix="pgsift-it-hba-")
        register_cleanup(lambda: shutil.rmtree(d, ignore_errors=True))
        with open(os.path.join(d, "incusers.txt"), "w") as f:
            f.write("# users allowed by the include\nincuser, otheruser\n")
        with open(os.path.join(d, "hba.conf"), "w") as f:
            f.write(HBA)
        return os.path.join(d, "hba.conf")

    def login(self, user, password=None, dbname=TESTDB, host=None):
        conn = psycopg2.connect(host=host or self.px.host, port=self.px.port, dbname=dbname,
                                user=user, password=password, connect_timeout=10)
        try:
            cur = conn.cursor()
            cur.execute("SELECT current_user")
            return cur.fetchone()[0]
        finally:
            conn.close()

    def refused(self, user, password=None, dbname=TESTDB):
        with self.assertRaises(psycopg2.OperationalError) as cm:
            self.login(user, password, dbname)
        return str(cm.exception)

    def test_md5_first_match_wins(self):
        self.assertEqual(self.login(MD5_USER, MD5_PASSWORD), MD5_USER)
        # the later trust line for the same user is never reached
        self.assertIn('password authentication failed for user "%s"' % MD5_USER,
                      self.refused(MD5_USER, "wrong"))

    def test_scram_cidr(self):
        self.assertEqual(self.login(SCRAM_USER, SCRAM_PASSWORD), SCRAM_USER)
        self.assertIn("password authentication failed", self.refused(SCRAM_USER, "wrong"))

    def test_password_with_netmask_column(self):
        self.assertEqual(self.login(POOL_USER, PLAIN_PASSWORD), POOL_USER)

    def test_reject(self):
        self.assertIn('pg_hba.conf rejects connection for host "127.0.0.1", user "rejectme", '
                      'database "testdb", no encryption', self.refused("rejectme"))

    def test_unmatched_client(self):
        # the ::1/128 line does not match an IPv4 client, and nothing else names this pair
        self.assertIn('no pg_hba.conf entry for host "127.0.0.1", user "%s", database "%s", '
                      'no encryption' % (SUPERUSER, TESTDB), self.refused(SUPERUSER))
        self.assertIn('no pg_hba.conf entry for host "127.0.0.1", user "%s", database '
                      '"postgres"' % MD5_USER, self.refused(MD5_USER, MD5_PASSWORD, "postgres"))

    def test_include_and_database_list(self):
        self.assertEqual(self.login("incuser", dbname=TESTDB), "incuser")
        self.assertEqual(self.login("incuser", dbname="postgres"), "incuser")

    def test_quoted_database_and_console(self):
        conn = psycopg2.connect(host=self.px.host, port=self.px.port, dbname="pgsift",
                                user=SUPERUSER, password="adminpass", connect_timeout=10)
        conn.autocommit = True
        conn.cursor().execute("SHOW VERSION")
        conn.close()

    def test_local_trust_and_peer(self):
        sock = self.px.socket_dir
        self.assertEqual(self.login(MD5_USER, host=sock), MD5_USER)  # local all all trust
        if os.geteuid() == 0:
            self.assertEqual(self.login("root", host=sock), "root")  # peer: we are root
        with self.assertRaises(psycopg2.OperationalError) as cm:
            self.login(POOL_USER, host=sock)
        self.assertIn('peer authentication failed for user "%s"' % POOL_USER, str(cm.exception))


if __name__ == "__main__":
    unittest.main()
