"""
test_isolation: nothing of one client reaches another in transaction pooling (issue 11).

Session-state probe: with a pool of one server, client A changes its session in a way that
PostgreSQL keeps past the transaction (SET SESSION AUTHORIZATION, set_config(..., false), SET
SESSION CHARACTERISTICS, temporary tables, session advisory locks, SQL PREPARE, WITH HOLD
cursors, plus SET / SET ROLE / LISTEN which were isolated already), then idles or leaves; client B,
same user, then runs on the same server and must see a fresh session. A, when it goes on, still
has what it set: replayable state is replayed on whichever server runs A's next transaction,
state that cannot be replayed (temp tables, advisory locks, held cursors) keeps A on its server
(pinned) until A drops it or leaves, and the server is reset before anyone else gets it.

Protocol correctness: a Terminate before the startup packet closes silently, a cancel never
reaches the client's next statement, pgsift's own re-Parse of a client's statement that fails on
the next server gives the client the server's error in the place of its Bind, and the greeting
spells reported parameters as PostgreSQL does.

PGSIFT_DIRECT=1 runs the same checks against PostgreSQL itself (where each client has a
session of its own), which is what pgsift must be indistinguishable from.
"""

import os
import socket
import struct
import sys
import time
import unittest

import psycopg2
import psycopg2.errors

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DIRECT, SUPERUSER, TESTDB  # noqa: E402
from test_transaction import Holder, RawClient, pid_of  # noqa: E402

OTHER_ROLE = "iso_bob"
DEFAULT_SEARCH_PATH = '"$user", public'


def one(cur, sql, args=None):
    cur.execute(sql, args)
    return cur.fetchone()


class SessionStateTest(harness.PgsiftTestCase):
    """Pool of one server: every client's transactions run on the same backend."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.pg.connect()
        cur = d.cursor()
        cur.execute("DROP ROLE IF EXISTS %s" % OTHER_ROLE)
        cur.execute("CREATE ROLE %s" % OTHER_ROLE)
        cur.execute("GRANT %s TO %s" % (OTHER_ROLE, SUPERUSER))
        cur.execute("CREATE SCHEMA IF NOT EXISTS iso_schema")
        cur.execute("CREATE TABLE IF NOT EXISTS iso_schema.marker (v text)")
        cur.execute("GRANT USAGE ON SCHEMA iso_schema TO %s" % OTHER_ROLE)
        cur.execute("GRANT SELECT ON iso_schema.marker TO %s" % OTHER_ROLE)
        cur.execute("CREATE TABLE IF NOT EXISTS iso_rows (id int)")
        cur.execute("TRUNCATE iso_rows")
        cur.execute("INSERT INTO iso_rows SELECT generate_series(1, 10)")
        d.close()
        cls.px = cls.start_pgsift(settings={"pool_mode": "transaction",
                                            "default_pool_size": 1})

    def connect(self):
        c = self.px.connect()
        self.addCleanup(c.close)
        return c

    def fresh_session(self, cur):
        """What a client with a fresh session sees, in one row."""
        return one(cur, "SELECT current_user, session_user, current_setting('search_path'), "
                        "current_setting('transaction_isolation'), "
                        "to_regclass('pg_temp.iso_tmp') IS NULL, "
                        "(SELECT count(*) FROM pg_prepared_statements WHERE name = 'iso_p'), "
                        "(SELECT count(*) FROM pg_cursors WHERE name = 'iso_c'), "
                        "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        " AND pid = pg_backend_pid())")

    FRESH = (SUPERUSER, SUPERUSER, DEFAULT_SEARCH_PATH, "read committed", True, 0, 0, 0)

    def assert_fresh(self, cur):
        self.assertEqual(self.fresh_session(cur), self.FRESH)

    # -- replayable state: A idles, B runs on the same server, A goes on --------------------

    def test_set_session_authorization_not_seen_by_next_client(self):
        a, b = self.connect(), self.connect()
        ac, bc = a.cursor(), b.cursor()
        ac.execute("SET SESSION AUTHORIZATION %s" % OTHER_ROLE)
        self.assertEqual(one(ac, "SELECT current_user, session_user"), (OTHER_ROLE, OTHER_ROLE))
        self.assert_fresh(bc)
        # A is still bob on its next transactions
        self.assertEqual(one(ac, "SELECT current_user, session_user"), (OTHER_ROLE, OTHER_ROLE))
        ac.execute("RESET SESSION AUTHORIZATION")
        self.assertEqual(one(ac, "SELECT current_user, session_user"), (SUPERUSER, SUPERUSER))
        self.assert_fresh(bc)

    def test_set_session_authorization_then_leave(self):
        a = self.connect()
        a.cursor().execute("SET SESSION AUTHORIZATION %s" % OTHER_ROLE)
        a.close()
        self.assert_fresh(self.connect().cursor())

    def test_set_config_role_and_search_path(self):
        a, b = self.connect(), self.connect()
        ac, bc = a.cursor(), b.cursor()
        self.assertEqual(one(ac, "SELECT set_config('role', %s, false), "
                                 "set_config('search_path', 'iso_schema', false)",
                             (OTHER_ROLE,)), (OTHER_ROLE, "iso_schema"))
        self.assert_fresh(bc)
        self.assertEqual(one(ac, "SELECT current_user, current_setting('search_path'), "
                                 "count(*) FROM marker"), (OTHER_ROLE, "iso_schema", 0))
        a.close()
        self.assert_fresh(bc)

    def test_set_config_with_parameters_pins_or_replays(self):
        """set_config's value from a parameter (psycopg2 sends it inline; the extended
        protocol sends $1): A keeps it, B never sees it."""
        a, b = self.connect(), self.connect()
        ac, bc = a.cursor(), b.cursor()
        ac.execute("SELECT set_config('application.tenant', %s, false)", ("t42",))
        # a custom setting once defined on a backend reads '' after a reset, not NULL
        self.assertIn(one(bc, "SELECT current_setting('application.tenant', true)"),
                      [(None,), ("",)])
        self.assertEqual(one(ac, "SELECT current_setting('application.tenant')"), ("t42",))

    def test_set_session_characteristics(self):
        a, b = self.connect(), self.connect()
        ac, bc = a.cursor(), b.cursor()
        ac.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE, "
                   "READ ONLY")
        self.assertEqual(one(bc, "SHOW default_transaction_isolation"), ("read committed",))
        self.assertEqual(one(bc, "SHOW default_transaction_read_only"), ("off",))
        self.assertEqual(one(ac, "SELECT current_setting('transaction_isolation'), "
                                 "current_setting('transaction_read_only')"),
                         ("serializable", "on"))
        a.close()
        self.assertEqual(one(bc, "SHOW default_transaction_isolation"), ("read committed",))

    def test_sql_prepare_invisible_to_others(self):
        a, b = self.connect(), self.connect()
        ac, bc = a.cursor(), b.cursor()
        ac.execute("PREPARE iso_p AS SELECT 'mine'::text")
        with self.assertRaises(psycopg2.errors.InvalidSqlStatementName) as cm:
            bc.execute("EXECUTE iso_p")
        self.assertEqual(str(cm.exception).splitlines()[0],
                         'prepared statement "iso_p" does not exist')
        self.assert_fresh(bc)
        self.assertEqual(one(ac, "EXECUTE iso_p"), ("mine",))
        # B may prepare the same name with its own text
        bc.execute("PREPARE iso_p AS SELECT 'yours'::text")
        self.assertEqual(one(bc, "EXECUTE iso_p"), ("yours",))
        self.assertEqual(one(ac, "EXECUTE iso_p"), ("mine",))
        bc.execute("DEALLOCATE iso_p")
        a.close()
        self.assert_fresh(bc)

    def test_set_role_and_set_stay_isolated(self):
        a, b = self.connect(), self.connect()
        ac, bc = a.cursor(), b.cursor()
        ac.execute("SET ROLE %s" % OTHER_ROLE)
        ac.execute("SET search_path TO iso_schema")
        self.assert_fresh(bc)
        self.assertEqual(one(ac, "SELECT current_user, current_setting('search_path')"),
                         (OTHER_ROLE, "iso_schema"))

    # -- state that cannot be replayed: A leaves, the server is reset for B -----------------

    def test_temp_table_then_leave(self):
        a = self.connect()
        ac = a.cursor()
        ac.execute("CREATE TEMP TABLE iso_tmp (v int)")
        ac.execute("INSERT INTO iso_tmp VALUES (1), (2)")
        self.assertEqual(one(ac, "SELECT count(*) FROM iso_tmp"), (2,))
        a.close()
        self.assert_fresh(self.connect().cursor())

    def test_advisory_lock_then_leave(self):
        a = self.connect()
        self.assertEqual(one(a.cursor(), "SELECT pg_advisory_lock(4242)"), ("",))
        a.close()
        b = self.connect()
        self.assert_fresh(b.cursor())
        d = self.pg.connect()
        self.addCleanup(d.close)
        self.assertEqual(one(d.cursor(), "SELECT pg_try_advisory_lock(4242)"), (True,))

    def test_cursor_with_hold_then_leave(self):
        a = self.connect()
        a.autocommit = False
        ac = a.cursor()
        ac.execute("DECLARE iso_c CURSOR WITH HOLD FOR SELECT id FROM iso_rows ORDER BY id")
        a.commit()
        ac.execute("FETCH 2 FROM iso_c")
        self.assertEqual(ac.fetchall(), [(1,), (2,)])
        a.commit()
        a.close()
        b = self.connect()
        with self.assertRaises(psycopg2.errors.InvalidCursorName):
            b.cursor().execute("FETCH iso_c")
        self.assert_fresh(b.cursor())

    def test_listen_refused(self):
        if DIRECT:
            self.skipTest("pgsift's own refusal")
        a = self.connect()
        with self.assertRaises(psycopg2.errors.FeatureNotSupported):
            a.cursor().execute("LISTEN iso_channel")


class PinnedStateTest(harness.PgsiftTestCase):
    """Pool of two: a client whose session holds what cannot be replayed stays on its server
    while the others run on the second one, and it goes on seeing what it made."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.pg.connect()
        cur = d.cursor()
        cur.execute("CREATE TABLE IF NOT EXISTS iso_rows (id int)")
        cur.execute("TRUNCATE iso_rows")
        cur.execute("INSERT INTO iso_rows SELECT generate_series(1, 10)")
        d.close()
        cls.px = cls.start_pgsift(settings={"pool_mode": "transaction",
                                            "default_pool_size": 2})

    def connect(self):
        if DIRECT:
            self.skipTest("server hand-over happens only through pgsift")
        c = self.px.connect()
        self.addCleanup(c.close)
        return c

    def others_never_share(self, pid_a):
        """Ten transactions of other clients: none runs on A's server."""
        for _ in range(10):
            b = self.px.connect()
            bc = b.cursor()
            pid_b = one(bc, "SELECT pg_backend_pid()")[0]
            self.assertNotEqual(pid_b, pid_a, "another client ran on the pinned server")
            self.assertEqual(one(bc, "SELECT to_regclass('pg_temp.iso_tmp') IS NULL, "
                                     "(SELECT count(*) FROM pg_cursors)"), (True, 0))
            b.close()

    def test_temp_table_pins_until_dropped(self):
        a = self.connect()
        ac = a.cursor()
        ac.execute("CREATE TEMP TABLE iso_tmp (v int)")
        pid_a = one(ac, "SELECT pg_backend_pid()")[0]
        ac.execute("INSERT INTO iso_tmp VALUES (7)")
        self.others_never_share(pid_a)
        self.assertEqual(one(ac, "SELECT sum(v), pg_backend_pid() FROM iso_tmp"), (7, pid_a))
        ac.execute("DISCARD TEMP")
        # unpinned: its server serves others again
        pids = set()
        for _ in range(6):
            b = self.px.connect()
            pids.add(one(b.cursor(), "SELECT pg_backend_pid()")[0])
            b.close()
        self.assertIn(pid_a, pids)

    def test_advisory_lock_pins_until_unlocked(self):
        a = self.connect()
        ac = a.cursor()
        self.assertEqual(one(ac, "SELECT pg_advisory_lock(777)"), ("",))
        pid_a = one(ac, "SELECT pg_backend_pid()")[0]
        self.others_never_share(pid_a)
        self.assertEqual(one(ac, "SELECT pg_advisory_unlock_all(), pg_backend_pid()"),
                         ("", pid_a))

    def test_cursor_with_hold_pins_until_closed(self):
        a = self.connect()
        a.autocommit = False
        ac = a.cursor()
        ac.execute("DECLARE iso_c CURSOR WITH HOLD FOR SELECT id FROM iso_rows ORDER BY id")
        a.commit()
        pid_a = one(ac, "SELECT pg_backend_pid()")[0]
        a.commit()
        self.others_never_share(pid_a)
        ac.execute("FETCH 3 FROM iso_c")
        self.assertEqual(ac.fetchall(), [(1,), (2,), (3,)])
        ac.execute("CLOSE iso_c")
        a.commit()

    def test_set_config_from_a_parameter_pins(self):
        """set_config($1, $2, false) in the extended protocol: pgsift cannot restate what it
        cannot read, so the client keeps its server (named and unnamed statements)."""
        if DIRECT:
            self.skipTest("server hand-over happens only through pgsift")
        for name in ("", "s_cfg"):
            c = RawClient(self.px)
            self.addCleanup(c.close)
            r = c.run(c.parse(name, "SELECT set_config('application.tenant', $1, false), "
                                    "pg_backend_pid()"), c.bind(name, ["t7"]), c.execute(),
                      c.sync())
            self.assertEqual(r[:2], [("1",), ("2",)])
            pid_a = int(r[2][1][1])
            self.others_never_share(pid_a)
            r = c.run(c.query("SELECT current_setting('application.tenant'), pg_backend_pid()"))
            self.assertEqual(r[1], ("D", ["t7", str(pid_a)]))
            c.close()
            # after it left, the server it held serves others with a fresh session
            for _ in range(6):
                b = self.px.connect()
                self.assertIn(one(b.cursor(), "SELECT current_setting('application.tenant', "
                                              "true)"), [(None,), ("",)])
                b.close()

    def test_named_statement_advisory_lock_pins(self):
        if DIRECT:
            self.skipTest("server hand-over happens only through pgsift")
        c = RawClient(self.px)
        self.addCleanup(c.close)
        r = c.run(c.parse("s_lock", "SELECT pg_advisory_lock($1), pg_backend_pid()"),
                  c.bind("s_lock", [9911]), c.execute(), c.sync())
        pid_a = int(r[2][1][1])
        self.others_never_share(pid_a)
        r = c.run(c.query("SELECT pg_advisory_unlock_all(), pg_backend_pid()"))
        self.assertEqual(r[1], ("D", ["", str(pid_a)]))

    def test_transaction_advisory_lock_does_not_pin(self):
        a = self.connect()
        ac = a.cursor()
        lock, pid_a = one(ac, "SELECT pg_advisory_xact_lock(778)::text, pg_backend_pid()")
        self.assertEqual(lock, "")
        self.assertEqual(one(ac, "CREATE TEMP TABLE iso_gone (v int) ON COMMIT DROP; "
                                 "SELECT 1"), (1,))
        pids = set()
        for _ in range(6):
            b = self.px.connect()
            pids.add(one(b.cursor(), "SELECT pg_backend_pid()")[0])
            b.close()
        # a's server went back to the pool after each statement: the others get it (the last
        # released server first, as PgBouncer's server_round_robin = 0 hands them out)
        self.assertIn(pid_a, pids)


class ProtocolTest(harness.PgsiftTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tx = cls.start_pgsift(settings={"pool_mode": "transaction",
                                            "default_pool_size": 2})
        cls.session = cls.start_pgsift(settings={"pool_mode": "session"})

    def test_terminate_before_startup_closes_silently(self):
        for px in (self.tx, self.session):
            s = harness.raw_socket(px)
            s.sendall(harness.message(b"X"))
            self.assertEqual(s.recv(100), b"", "expected a silent close")
            s.close()
            # and whatever pgsift logs, nothing else is affected
            c = px.connect()
            self.assertEqual(one(c.cursor(), "SELECT 1"), (1,))
            c.close()

    def greeting(self, target, **params):
        p = {"user": SUPERUSER, "database": TESTDB}
        p.update(params)
        sock = harness.raw_socket(target)
        sock.sendall(harness.startup_packet(p))
        got = {}
        while True:
            m = harness.read_message(sock)
            self.assertIsNotNone(m)
            if m[0] == b"S":
                k, v = m[1].split(b"\0")[:2]
                got[k.decode()] = v.decode()
            if m[0] == b"E":
                self.fail("login failed: %r" % harness.parse_error(m[1]))
            if m[0] == b"Z":
                break
        sock.sendall(harness.message(b"X"))
        sock.close()
        return got

    def test_reported_parameters_spelled_as_postgresql(self):
        cases = [dict(client_encoding="utf8"), dict(client_encoding="unicode"),
                 dict(DateStyle="iso, dmy"), dict(DateStyle="sql"),
                 dict(client_encoding="UTF-8", DateStyle="German")]
        for params in cases:
            want = self.greeting(self.pg, **params)
            for px in (self.tx, self.session):
                got = self.greeting(px, **params)
                for k in ("client_encoding", "DateStyle"):
                    self.assertEqual(got.get(k), want.get(k), "%s with %r" % (k, params))

    def test_failed_reparse_reports_the_error_in_place_of_bind(self):
        d = self.pg.connect()
        self.addCleanup(d.close)
        dc = d.cursor()
        dc.execute("DROP TABLE IF EXISTS iso_dropped")
        dc.execute("CREATE TABLE iso_dropped (v int)")
        dc.execute("INSERT INTO iso_dropped VALUES (5)")
        c = RawClient(self.tx)
        self.addCleanup(c.close)
        r = c.run(c.parse("s_drop", "SELECT v FROM iso_dropped"), c.bind("s_drop"), c.execute(),
                  c.sync())
        self.assertEqual(r, [("1",), ("2",), ("D", ["5"]), ("C", "SELECT 1"), ("Z", "I")])
        dc.execute("DROP TABLE iso_dropped")
        # several times, so that it runs on both servers: one has the statement (PostgreSQL
        # revalidates it and fails), the other needs pgsift's Parse (which fails)
        for _ in range(4):
            r = c.run(c.bind("s_drop"), c.execute(), c.sync())
            self.assertEqual(r, [("E", "42P01", 'relation "iso_dropped" does not exist'),
                                 ("Z", "I")])
            self.assertEqual(c.run(c.query("SELECT 1")), [("T", [("?column?", 23)]),
                                                          ("D", ["1"]), ("C", "SELECT 1"),
                                                          ("Z", "I")])
        dc.execute("CREATE TABLE iso_dropped (v int)")
        dc.execute("INSERT INTO iso_dropped VALUES (6)")
        for _ in range(4):
            r = c.run(c.bind("s_drop"), c.execute(), c.sync())
            self.assertEqual(r, [("2",), ("D", ["6"]), ("C", "SELECT 1"), ("Z", "I")])

    def test_sql_deallocate_prepare_execute_in_extended_protocol(self):
        c = RawClient(self.tx)
        self.addCleanup(c.close)
        self.assertEqual(c.run(c.parse("s_d", "SELECT 1"), c.sync()), [("1",), ("Z", "I")])
        # psycopg 3 evicts a statement from its cache this way
        r = c.run(c.parse("", "DEALLOCATE s_d"), c.bind(""), c.describe("P", ""), c.execute(),
                  c.sync())
        self.assertEqual(r, [("1",), ("2",), ("n",), ("C", "DEALLOCATE"), ("Z", "I")])
        r = c.run(c.bind("s_d"), c.execute(), c.sync())
        self.assertEqual(r, [("E", "26000", 'prepared statement "s_d" does not exist'),
                             ("Z", "I")])
        # the name can be used again
        self.assertEqual(c.run(c.parse("s_d", "SELECT 2"), c.bind("s_d"), c.execute(),
                               c.sync()),
                         [("1",), ("2",), ("D", ["2"]), ("C", "SELECT 1"), ("Z", "I")])
        # Describe of the statement, and a DEALLOCATE skipped after an earlier error
        r = c.run(c.parse("", "SELECT 1/0"), c.bind(""), c.execute(),
                  c.parse("", "DEALLOCATE s_d"), c.bind(""), c.execute(), c.sync())
        self.assertEqual(r, [("1",), ("E", "22012", "division by zero"), ("Z", "I")])
        r = c.run(c.parse("", "DEALLOCATE \"s_d\""), c.describe("S", ""), c.bind(""),
                  c.execute(), c.sync())
        self.assertEqual(r, [("1",), ("t", []), ("n",), ("2",), ("C", "DEALLOCATE"),
                             ("Z", "I")])
        # DEALLOCATE ALL
        self.assertEqual(c.run(c.parse("s_e", "SELECT 3"), c.sync()), [("1",), ("Z", "I")])
        r = c.run(c.parse("", "DEALLOCATE ALL"), c.bind(""), c.execute(), c.sync())
        self.assertEqual(r, [("1",), ("2",), ("C", "DEALLOCATE ALL"), ("Z", "I")])
        r = c.run(c.bind("s_e"), c.execute(), c.sync())
        self.assertEqual(r, [("E", "26000", 'prepared statement "s_e" does not exist'),
                             ("Z", "I")])
        # SQL PREPARE and EXECUTE, each on whichever server comes
        r = c.run(c.parse("", "PREPARE sq (int) AS SELECT $1 * 2"), c.bind(""), c.execute(),
                  c.sync())
        self.assertEqual(r, [("1",), ("2",), ("C", "PREPARE"), ("Z", "I")])
        for i in range(4):
            r = c.run(c.parse("", "EXECUTE sq (%d)" % i), c.bind(""), c.execute(), c.sync())
            self.assertEqual(r, [("1",), ("2",), ("D", [str(2 * i)]), ("C", "SELECT 1"),
                                 ("Z", "I")])
        r = c.run(c.parse("", "DEALLOCATE sq"), c.bind(""), c.execute(), c.sync())
        self.assertEqual(r, [("1",), ("2",), ("C", "DEALLOCATE"), ("Z", "I")])
        r = c.run(c.query("EXECUTE sq (1)"))
        self.assertEqual(r, [("E", "26000", 'prepared statement "sq" does not exist'),
                             ("Z", "I")])

    def test_changed_result_type_is_an_error_never_wrong_rows(self):
        """ALTER TABLE ... TYPE under a client's described statement: PostgreSQL answers 0A000
        on the server that has the old plan; on a server where pgsift prepares the statement
        again the client must get the same, never rows of the new type under the old
        description. Preparing the text again (asyncpg's retry) works everywhere."""
        d = self.pg.connect()
        self.addCleanup(d.close)
        dc = d.cursor()
        dc.execute("DROP TABLE IF EXISTS iso_alter")
        dc.execute("CREATE TABLE iso_alter (v int)")
        dc.execute("INSERT INTO iso_alter VALUES (7)")
        c = RawClient(self.tx)
        self.addCleanup(c.close)
        sql = "SELECT v FROM iso_alter"
        r = c.run(c.parse("s_alt", sql), c.describe("S", "s_alt"), c.bind("s_alt"), c.execute(),
                  *c.pid_frames(), c.sync())
        self.assertEqual(r[:6], [("1",), ("t", []), ("T", [("v", 23)]), ("2",), ("D", ["7"]),
                                 ("C", "SELECT 1")])
        pid1 = pid_of(r[6:])
        dc.execute("ALTER TABLE iso_alter ALTER COLUMN v TYPE text USING v::text || '!'")
        stale = [("E", "0A000", "cached plan must not change result type"), ("Z", "I")]
        # on the other server first (pgsift prepares it there), then on the first one
        h = Holder(self.tx, pid1, 2)
        for _ in range(2):
            self.assertEqual(c.run(c.bind("s_alt"), c.execute(), c.sync()), stale)
        h.release()
        for _ in range(3):
            self.assertEqual(c.run(c.bind("s_alt"), c.execute(), c.sync()), stale)
        # prepared again under a new name, on both servers
        r = c.run(c.parse("s_alt2", sql), c.describe("S", "s_alt2"), c.sync())
        self.assertEqual(r, [("1",), ("t", []), ("T", [("v", 25)]), ("Z", "I")])
        h = Holder(self.tx, pid1, 2)
        for _ in range(2):
            self.assertEqual(c.run(c.bind("s_alt2"), c.execute(), c.sync()),
                             [("2",), ("D", ["7!"]), ("C", "SELECT 1"), ("Z", "I")])
        h.release()
        for _ in range(3):
            self.assertEqual(c.run(c.bind("s_alt2"), c.execute(), c.sync()),
                             [("2",), ("D", ["7!"]), ("C", "SELECT 1"), ("Z", "I")])

    def cancel(self, target, pid, key):
        s = harness.raw_socket(target)
        s.sendall(struct.pack("!IIII", 16, 80877102, pid, key))
        self.assertEqual(s.recv(10), b"")
        s.close()

    def test_cancel_never_reaches_the_next_statement(self):
        for px in (self.tx, self.session):
            sock, err = harness.raw_login(px, {"user": SUPERUSER, "database": TESTDB})
            self.assertIsNone(err)
            sock.close()
            conn = psycopg2.connect(px.dsn())
            self.addCleanup(conn.close)
            conn.autocommit = True
            cur = conn.cursor()
            for i in range(30):
                cur.execute("SELECT pg_sleep(0.002)")
                # the statement is over: a cancel now must not hit the next one
                conn.cancel()
                cur.execute("SELECT pg_sleep(0.05), %s", (i,))
                self.assertEqual(cur.fetchone(), ("", i))


class ResetAlwaysTest(harness.PgsiftTestCase):
    """State made inside a function or a DO block is out of pgsift's sight; with
    server_reset_query_always = 1 every server is reset when it changes hands, so it cannot
    leak either (and the client's own SETs are still restated)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.px = cls.start_pgsift(settings={"pool_mode": "transaction",
                                            "default_pool_size": 1,
                                            "server_reset_query_always": 1})

    def test_state_made_in_a_do_block_does_not_leak(self):
        if DIRECT:
            self.skipTest("pgsift's reset")
        a = self.px.connect()
        self.addCleanup(a.close)
        ac = a.cursor()
        ac.execute("SET application_name = 'iso_a'")
        ac.execute("DO $$ BEGIN EXECUTE 'CREATE TEMP TABLE iso_fn (v int)'; "
                   "PERFORM set_config('search_path', 'pg_catalog', false); "
                   "PERFORM pg_advisory_lock(31337); END $$")
        b = self.px.connect()
        self.addCleanup(b.close)
        self.assertEqual(one(b.cursor(), "SELECT to_regclass('pg_temp.iso_fn') IS NULL, "
                                         "current_setting('search_path'), "
                                         "current_setting('application_name'), "
                                         "(SELECT count(*) FROM pg_locks WHERE "
                                         "locktype = 'advisory' AND pid = pg_backend_pid())"),
                         (True, DEFAULT_SEARCH_PATH, "", 0))
        self.assertEqual(one(ac, "SHOW application_name"), ("iso_a",))


class PreparedWithoutServerTest(harness.PgsiftTestCase):
    """pgbench -M prepared prepares with a blocking call per client; with fewer threads than
    clients and a pool smaller than the clients, the other clients of the thread hold every
    server in an open transaction meanwhile. pgsift answers a Parse it knows is good in the pool
    without a server, so the run completes."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        harness.pgbench_init(cls.pg)
        cls.px = cls.start_pgsift(settings={"pool_mode": "transaction",
                                            "default_pool_size": 4})

    def balances(self):
        return self.pg.query("SELECT (SELECT sum(abalance) FROM pgbench_accounts), "
                             "(SELECT sum(tbalance) FROM pgbench_tellers), "
                             "(SELECT sum(bbalance) FROM pgbench_branches), "
                             "(SELECT sum(delta) FROM pgbench_history)")[0]

    def test_pgbench_prepared_fewer_threads_than_clients(self):
        for threads in ("2", "1"):
            with self.subTest(threads=threads):
                r = harness.run_pgbench(self.px, ["-M", "prepared", "-c", "32", "-j", threads,
                                                  "-t", "30", "-n"], timeout=240)
                self.assertEqual(r.returncode, 0, r)
                self.assertEqual(r.processed, 32 * 30, r)
                self.assertEqual(r.failed, 0, r)
                # consistent: every transaction moved the same delta through all four tables
                a, t, b, h = self.balances()
                self.assertEqual((a, t, b), (h, h, h))


if __name__ == "__main__":
    unittest.main(verbosity=2)
