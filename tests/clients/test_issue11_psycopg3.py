"""
test_issue11_psycopg3: issue 11 §3 with psycopg 3 (Debian's python3-psycopg 3.1.7). Each test
runs one scenario directly against PostgreSQL and then through pgsift (transaction pooling, a
pool of 2, the client moved from one server to the other between its statements by
issue11lib.Steer) and asserts that both give the same outcome at every step (rows, SQLSTATE and
message), and that PostgreSQL's is the one written in the test. A step with no answer within
10 s is a HANG and fails the test. See tests/clients/issue11lib.py.

    PGSIFT_BIN=build/pgsift /usr/bin/python3 tests/clients/test_issue11_psycopg3.py [-v] \
        [Issue11Psycopg3Test.test_reparse_fails_dropped_table]
"""

import logging
import os
import random
import sys
import threading
import time
import unittest

import psycopg
import psycopg.errors

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import issue11lib  # noqa: E402
from issue11lib import Hang, SyncRecorder, Trace, compare  # noqa: E402

logging.getLogger("psycopg").setLevel(logging.ERROR)

OK = "ok"
CANCEL_ROUNDS = 50


def outcome_of(cur):
    """A cursor after execute: its rows, or its command status when it has none."""
    if cur is None:
        return (OK, None)
    if not isinstance(cur, psycopg.Cursor):
        return (OK, cur)
    if cur.description is not None:
        return (OK, cur.fetchall())
    return (OK, cur.statusmessage)


def error_of(e):
    if isinstance(e, psycopg.Error):
        diag = e.diag
        return ("error", diag.sqlstate, diag.message_primary)
    if isinstance(e, (ValueError, TypeError)):
        # a value psycopg could not decode: what a stale row description looks like
        return ("client error", type(e).__name__)
    return None


class Issue11Psycopg3Test(issue11lib.Issue11Case):

    def run_both(self, scenario, expected=None, setup=None):
        traces = []
        for name, target in self.targets():
            if setup is not None:
                setup()
            trace = Trace(name)
            rec = SyncRecorder(trace, outcome_of, error_of)
            steer = self.steer_for(target).start()
            conns = []

            def connect(**kw):
                kw.setdefault("autocommit", True)
                c = psycopg.connect(target.dsn(), **kw)
                conns.append(c)
                rec.watch(c.pgconn.socket)
                return c

            try:
                scenario(connect, rec, steer)
            except Hang:
                pass
            finally:
                steer.close()
                for c in conns:
                    try:
                        c.close()
                    except Exception:
                        pass
            traces.append(trace)
        compare(self, traces[0], traces[1], expected)
        return traces

    # --- re-Parse of a client's named statement fails on the next server -------------------

    def test_reparse_fails_dropped_table(self):
        q = "SELECT id FROM i11_drop ORDER BY id"

        def setup():
            self.pg.query("DROP TABLE IF EXISTS i11_drop; CREATE TABLE i11_drop (id int);"
                          " INSERT INTO i11_drop VALUES (1), (2)")

        def scenario(connect, rec, steer):
            conn = connect()
            cur = conn.cursor()
            steer.only(0)
            rec.step("prepare and execute", lambda: cur.execute(q, prepare=True))
            self.pg.query("DROP TABLE i11_drop")
            steer.only(1)
            rec.step("execute after drop (other server)", lambda: cur.execute(q, prepare=True))
            rec.step("next statement", lambda: cur.execute("SELECT %s::int + 1", (41,)))
            self.pg.query("CREATE TABLE i11_drop (id int); INSERT INTO i11_drop VALUES (3)")
            steer.only(0)
            rec.step("execute after re-create", lambda: cur.execute(q, prepare=True))
            steer.only(1)
            rec.step("execute after re-create (other server)",
                     lambda: cur.execute(q, prepare=True))
            rec.step("last statement", lambda: cur.execute("SELECT %s::text", ("end",)))

        compare_expected = [
            ("prepare and execute", (OK, [(1,), (2,)])),
            ("execute after drop (other server)",
             ("error", "42P01", 'relation "i11_drop" does not exist')),
            ("next statement", (OK, [(42,)])),
            ("execute after re-create", (OK, [(3,)])),
            ("execute after re-create (other server)", (OK, [(3,)])),
            ("last statement", (OK, [("end",)])),
        ]
        self.run_both(scenario, compare_expected, setup)

    def test_reparse_fails_dropped_table_in_transaction(self):
        q = "SELECT id FROM i11_drop2 ORDER BY id"

        def setup():
            self.pg.query("DROP TABLE IF EXISTS i11_drop2; CREATE TABLE i11_drop2 (id int);"
                          " INSERT INTO i11_drop2 VALUES (7)")

        def scenario(connect, rec, steer):
            conn = connect(autocommit=False)
            cur = conn.cursor()
            steer.only(0)
            rec.step("prepare and execute", lambda: cur.execute(q, prepare=True))
            rec.step("commit", lambda: conn.commit())
            self.pg.query("DROP TABLE i11_drop2")
            steer.only(1)
            rec.step("execute after drop (other server)", lambda: cur.execute(q, prepare=True))
            rec.step("status", lambda: conn.info.transaction_status.name)
            rec.step("rollback", lambda: conn.rollback())
            rec.step("next statement", lambda: cur.execute("SELECT %s::int * 2", (21,)))
            rec.step("commit 2", lambda: conn.commit())

        expected = [
            ("prepare and execute", (OK, [(7,)])),
            ("commit", (OK, None)),
            ("execute after drop (other server)",
             ("error", "42P01", 'relation "i11_drop2" does not exist')),
            ("status", (OK, "INERROR")),
            ("rollback", (OK, None)),
            ("next statement", (OK, [(42,)])),
            ("commit 2", (OK, None)),
        ]
        self.run_both(scenario, expected, setup)

    def test_reparse_fails_in_pipeline(self):
        # the failing statement sits between others in one Sync group: the error comes in its
        # place, the rest of the group is skipped, and the connection goes on (the protocol
        # stays in step)
        q = "SELECT id FROM i11_pipe ORDER BY id"

        def setup():
            self.pg.query("DROP TABLE IF EXISTS i11_pipe; CREATE TABLE i11_pipe (id int);"
                          " INSERT INTO i11_pipe VALUES (1)")

        def pipeline(conn):
            curs = []
            outcome = []
            try:
                with conn.pipeline() as p:
                    for sql, args, prep in (("SELECT %s::int", (1,), None), (q, None, True),
                                            ("SELECT %s::int", (3,), None)):
                        c = conn.cursor()
                        c.execute(sql, args, prepare=prep)
                        curs.append(c)
                outcome.append("pipeline ok")
            except psycopg.Error as e:
                outcome.append(error_of(e))
            for c in curs:
                try:
                    outcome.append(c.fetchall())
                except psycopg.Error as e:
                    outcome.append(error_of(e) + (type(e).__name__,))
            # whether psycopg 3 queues the third statement before the error reaches it depends
            # on timing (against PostgreSQL too): the skipped ones count once
            while len(outcome) > 2 and outcome[-1] == outcome[-2] and \
                    outcome[-1][-1:] == ("ProgrammingError",):
                outcome.pop()
            return outcome

        def scenario(connect, rec, steer):
            conn = connect()
            cur = conn.cursor()
            steer.only(0)
            rec.step("prepare and execute", lambda: cur.execute(q, prepare=True))
            self.pg.query("DROP TABLE i11_pipe")
            steer.only(1)
            rec.step("pipeline after drop (other server)", lambda: pipeline(conn))
            rec.step("next statement", lambda: cur.execute("SELECT %s::int + 1", (41,)))
            rec.step("a pipeline after", lambda: pipeline_ok(conn))

        def pipeline_ok(conn):
            with conn.pipeline():
                c1 = conn.execute("SELECT %s::int", (5,))
                c2 = conn.execute("SELECT %s::text", ("six",))
            return [c1.fetchall(), c2.fetchall()]

        err = ("error", "42P01", 'relation "i11_pipe" does not exist')
        self.run_both(scenario, [
            ("prepare and execute", (OK, [(1,)])),
            ("pipeline after drop (other server)",
             (OK, [err, [(1,)], ("error", None, None, "ProgrammingError")])),
            ("next statement", (OK, [(42,)])),
            ("a pipeline after", (OK, [[(5,)], [("six",)]])),
        ], setup)

    def test_reparse_fails_temp_table_dropped_at_commit(self):
        q = "SELECT id FROM i11_tmp ORDER BY id"

        def scenario(connect, rec, steer):
            conn = connect()
            cur = conn.cursor()
            steer.only(0)
            with conn.transaction():
                rec.step("create temp table on commit drop", lambda: cur.execute(
                    "CREATE TEMP TABLE i11_tmp (id int) ON COMMIT DROP"))
                rec.step("insert", lambda: cur.execute("INSERT INTO i11_tmp VALUES (5)"))
                rec.step("prepare and execute", lambda: cur.execute(q, prepare=True))
            steer.only(1)
            rec.step("execute after commit (other server)", lambda: cur.execute(q, prepare=True))
            rec.step("next statement", lambda: cur.execute("SELECT %s::int + 1", (1,)))
            steer.only(0)
            rec.step("execute after commit (first server)", lambda: cur.execute(q, prepare=True))
            rec.step("last statement", lambda: cur.execute("SELECT %s::int + 2", (1,)))

        expected = [
            ("create temp table on commit drop", (OK, "CREATE TABLE")),
            ("insert", (OK, "INSERT 0 1")),
            ("prepare and execute", (OK, [(5,)])),
            ("execute after commit (other server)",
             ("error", "42P01", 'relation "i11_tmp" does not exist')),
            ("next statement", (OK, [(2,)])),
            ("execute after commit (first server)",
             ("error", "42P01", 'relation "i11_tmp" does not exist')),
            ("last statement", (OK, [(3,)])),
        ]
        self.run_both(scenario, expected)

    def test_temp_table_statement_keeps_working(self):
        # The temporary table lives on the server where it was made; the client's prepared
        # statement on it must keep working as it does on PostgreSQL (pgsift pins the client,
        # or its statement fails with PostgreSQL's error on a server without the table).
        q = "SELECT id FROM i11_tmp_session ORDER BY id"

        def scenario(connect, rec, steer):
            conn = connect()
            cur = conn.cursor()
            steer.only(0)
            rec.step("create temp table", lambda: cur.execute(
                "CREATE TEMP TABLE i11_tmp_session (id int)"))
            rec.step("insert", lambda: cur.execute("INSERT INTO i11_tmp_session VALUES (9)"))
            rec.step("prepare and execute", lambda: cur.execute(q, prepare=True))
            steer.only(1)
            rec.step("execute again", lambda: cur.execute(q, prepare=True))
            rec.step("next statement", lambda: cur.execute("SELECT %s::int + 1", (1,)))
            rec.step("execute once more", lambda: cur.execute(q, prepare=True))

        expected = [
            ("create temp table", (OK, "CREATE TABLE")),
            ("insert", (OK, "INSERT 0 1")),
            ("prepare and execute", (OK, [(9,)])),
            ("execute again", (OK, [(9,)])),
            ("next statement", (OK, [(2,)])),
            ("execute once more", (OK, [(9,)])),
        ]
        self.run_both(scenario, expected)

    # --- stale row description -----------------------------------------------------------

    def stale_setup(self):
        self.pg.query("DROP TABLE IF EXISTS i11_alt; CREATE TABLE i11_alt (id int, v int);"
                      " INSERT INTO i11_alt VALUES (1, 10), (2, 20)")

    def stale_scenario(self, binary):
        q = "SELECT id, v FROM i11_alt ORDER BY id"

        def scenario(connect, rec, steer):
            conn = connect()
            cur = conn.cursor()
            steer.only(0)
            rec.step("prepare and execute", lambda: cur.execute(q, prepare=True, binary=binary))
            self.pg.query("ALTER TABLE i11_alt ALTER COLUMN v TYPE text USING 'v=' || v")
            steer.only(1)
            rec.step("execute after alter (other server)",
                     lambda: cur.execute(q, prepare=True, binary=binary))
            rec.step("next statement", lambda: cur.execute("SELECT %s::int + 1", (1,)))
            steer.only(0)
            rec.step("execute after alter (first server)",
                     lambda: cur.execute(q, prepare=True, binary=binary))
            rec.step("execute unprepared", lambda: cur.execute(q, prepare=False, binary=binary))
        return scenario

    STALE_EXPECTED = [
        ("prepare and execute", (OK, [(1, 10), (2, 20)])),
        ("execute after alter (other server)",
         ("error", "0A000", "cached plan must not change result type")),
        ("next statement", (OK, [(2,)])),
        ("execute after alter (first server)",
         ("error", "0A000", "cached plan must not change result type")),
        ("execute unprepared", (OK, [(1, "v=10"), (2, "v=20")])),
    ]

    def test_stale_row_description_alter_type(self):
        self.run_both(self.stale_scenario(False), self.STALE_EXPECTED, self.stale_setup)

    def test_stale_row_description_alter_type_binary(self):
        self.run_both(self.stale_scenario(True), self.STALE_EXPECTED, self.stale_setup)

    # --- SQL PREPARE / EXECUTE / DEALLOCATE in the extended protocol ------------------------

    def test_sql_prepare_execute_deallocate_extended(self):
        # binary=True makes psycopg send even a statement without parameters with
        # PQsendQueryParams, i.e. Parse/Bind/Describe/Execute/Sync (the extended protocol)
        def scenario(connect, rec, steer):
            conn = connect()
            cur = conn.cursor()

            def ext(sql):
                return lambda: cur.execute(sql, binary=True)

            steer.only(0)
            rec.step("PREPARE i11_p", ext("PREPARE i11_p (int) AS SELECT $1 * 2"))
            steer.only(1)
            rec.step("EXECUTE i11_p (other server)", ext("EXECUTE i11_p (21)"))
            steer.only(0)
            rec.step("EXECUTE i11_p (first server)", ext("EXECUTE i11_p (5)"))
            rec.step("PREPARE i11_p again", ext("PREPARE i11_p (int) AS SELECT $1"))
            rec.step("DEALLOCATE i11_p", ext("DEALLOCATE i11_p"))
            steer.only(1)
            rec.step("EXECUTE after DEALLOCATE", ext("EXECUTE i11_p (1)"))
            rec.step("DEALLOCATE i11_p again", ext("DEALLOCATE i11_p"))
            rec.step("PREPARE i11_a", ext("PREPARE i11_a AS SELECT 'a'::text"))
            rec.step("PREPARE i11_b", ext("PREPARE i11_b AS SELECT 'b'::text"))
            steer.only(0)
            rec.step("EXECUTE i11_b", ext("EXECUTE i11_b"))
            rec.step("DEALLOCATE PREPARE i11_a", ext("DEALLOCATE PREPARE i11_a"))
            rec.step("EXECUTE i11_a after", ext("EXECUTE i11_a"))
            rec.step("DEALLOCATE ALL", ext("DEALLOCATE ALL"))
            steer.only(1)
            rec.step("EXECUTE i11_b after ALL", ext("EXECUTE i11_b"))
            rec.step("pg_prepared_statements", ext(
                "SELECT name, statement FROM pg_prepared_statements WHERE name LIKE 'i11%'"))
            rec.step("next statement", lambda: cur.execute("SELECT %s::int", (3,)))

        expected = [
            ("PREPARE i11_p", (OK, "PREPARE")),
            ("EXECUTE i11_p (other server)", (OK, [(42,)])),
            ("EXECUTE i11_p (first server)", (OK, [(10,)])),
            ("PREPARE i11_p again",
             ("error", "42P05", 'prepared statement "i11_p" already exists')),
            ("DEALLOCATE i11_p", (OK, "DEALLOCATE")),
            ("EXECUTE after DEALLOCATE",
             ("error", "26000", 'prepared statement "i11_p" does not exist')),
            ("DEALLOCATE i11_p again",
             ("error", "26000", 'prepared statement "i11_p" does not exist')),
            ("PREPARE i11_a", (OK, "PREPARE")),
            ("PREPARE i11_b", (OK, "PREPARE")),
            ("EXECUTE i11_b", (OK, [("b",)])),
            ("DEALLOCATE PREPARE i11_a", (OK, "DEALLOCATE")),
            ("EXECUTE i11_a after",
             ("error", "26000", 'prepared statement "i11_a" does not exist')),
            ("DEALLOCATE ALL", (OK, "DEALLOCATE ALL")),
            ("EXECUTE i11_b after ALL",
             ("error", "26000", 'prepared statement "i11_b" does not exist')),
            ("pg_prepared_statements", (OK, [])),
            ("next statement", (OK, [(3,)])),
        ]
        self.run_both(scenario, expected)

    def test_statement_cache_eviction_deallocates(self):
        # prepare_threshold=0 prepares every query at once; prepared_max=3 makes psycopg
        # DEALLOCATE _pg3_N (extended protocol) for the least recently used beyond 3
        n_queries, rounds = 8, 3

        def scenario(connect, rec, steer):
            conn = connect()
            conn.prepare_threshold = 0
            conn.prepared_max = 3
            cur = conn.cursor()
            for r in range(rounds):
                steer.only(r % 2)
                for k in range(n_queries):
                    rec.step("round %d query %d" % (r, k), lambda k=k: cur.execute(
                        "SELECT %%s::int + %d" % k, (r * 100,)))
            rec.step("psycopg's own count", lambda: len(conn._prepared._names))

        expected = [("round %d query %d" % (r, k), (OK, [(r * 100 + k,)]))
                    for r in range(rounds) for k in range(n_queries)]
        expected.append(("psycopg's own count", (OK, 3)))
        self.run_both(scenario, expected)

    def test_deallocate_all_after_drop(self):
        # psycopg sends DEALLOCATE ALL (extended protocol) after any DROP or ROLLBACK when it
        # has prepared statements, then prepares again under new names
        def scenario(connect, rec, steer):
            conn = connect()
            conn.prepare_threshold = 0
            cur = conn.cursor()
            steer.only(0)
            for k in range(3):
                rec.step("prepared %d" % k, lambda k=k: cur.execute("SELECT %%s::int * %d" % k,
                                                                    (10,)))
            steer.only(1)
            rec.step("drop (psycopg then deallocates all)",
                     lambda: cur.execute("DROP TABLE IF EXISTS i11_nothing"))
            rec.step("names after", lambda: len(conn._prepared._names))
            steer.only(0)
            for k in range(3):
                rec.step("again %d" % k, lambda k=k: cur.execute("SELECT %%s::int * %d" % k,
                                                                 (20,)))
            steer.only(1)
            with conn.transaction(force_rollback=True):
                rec.step("in a rolled back transaction",
                         lambda: cur.execute("SELECT %s::int * 0", (1,)))
            rec.step("after rollback", lambda: cur.execute("SELECT %s::int * 1", (5,)))
            rec.step("after rollback 2", lambda: cur.execute("SELECT %s::int * 2", (5,)))

        expected = [("prepared %d" % k, (OK, [(10 * k,)])) for k in range(3)]
        expected += [("drop (psycopg then deallocates all)", (OK, "DROP TABLE")),
                     ("names after", (OK, 0))]
        expected += [("again %d" % k, (OK, [(20 * k,)])) for k in range(3)]
        expected += [("in a rolled back transaction", (OK, [(0,)])),
                     ("after rollback", (OK, [(5,)])),
                     ("after rollback 2", (OK, [(10,)]))]
        self.run_both(scenario, expected)

    # --- SET SESSION CHARACTERISTICS ------------------------------------------------------

    def test_session_characteristics_isolation_replayed(self):
        def scenario(connect, rec, steer):
            conn = connect()
            cur = conn.cursor()
            show = "SHOW transaction_isolation"
            steer.only(0)
            rec.step("SET SESSION CHARACTERISTICS serializable", lambda: cur.execute(
                "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE"))
            steer.only(1)
            rec.step("SHOW transaction_isolation (other server)", lambda: cur.execute(show))
            rec.step("SHOW default_transaction_isolation", lambda: cur.execute(
                "SHOW default_transaction_isolation"))
            steer.only(0)
            with conn.transaction():
                rec.step("in a transaction (first server)", lambda: cur.execute(show))
            steer.only(1)
            with conn.transaction():
                rec.step("in a transaction (other server)", lambda: cur.execute(
                    "SELECT current_setting('transaction_isolation') || %s", ("!",)))
            rec.step("SET SESSION CHARACTERISTICS repeatable read (extended)", lambda: cur.execute(
                "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                binary=True))
            steer.only(0)
            rec.step("SHOW after extended SET", lambda: cur.execute(show))
            rec.step("SET SESSION CHARACTERISTICS read only", lambda: cur.execute(
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"))
            steer.only(1)
            rec.step("SHOW transaction_read_only", lambda: cur.execute(
                "SHOW transaction_read_only"))
            rec.step("write in read only", lambda: cur.execute(
                "CREATE TEMP TABLE i11_ro (id int)"))
            rec.step("RESET ALL", lambda: cur.execute("RESET ALL"))
            steer.only(0)
            rec.step("SHOW after RESET ALL", lambda: cur.execute(show))
            rec.step("read only after RESET ALL", lambda: cur.execute(
                "SHOW transaction_read_only"))
            # a transaction-local SET TRANSACTION must not stay
            with conn.transaction():
                rec.step("SET TRANSACTION serializable", lambda: cur.execute(
                    "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"))
                rec.step("SHOW inside", lambda: cur.execute(show))
            steer.only(1)
            rec.step("SHOW after that transaction", lambda: cur.execute(show))

        expected = [
            ("SET SESSION CHARACTERISTICS serializable", (OK, "SET")),
            ("SHOW transaction_isolation (other server)", (OK, [("serializable",)])),
            ("SHOW default_transaction_isolation", (OK, [("serializable",)])),
            ("in a transaction (first server)", (OK, [("serializable",)])),
            ("in a transaction (other server)", (OK, [("serializable!",)])),
            ("SET SESSION CHARACTERISTICS repeatable read (extended)", (OK, "SET")),
            ("SHOW after extended SET", (OK, [("repeatable read",)])),
            ("SET SESSION CHARACTERISTICS read only", (OK, "SET")),
            ("SHOW transaction_read_only", (OK, [("on",)])),
            ("write in read only", ("error", "25006",
                                    "cannot execute CREATE TABLE in a read-only transaction")),
            ("RESET ALL", (OK, "RESET")),
            ("SHOW after RESET ALL", (OK, [("read committed",)])),
            ("read only after RESET ALL", (OK, [("off",)])),
            ("SET TRANSACTION serializable", (OK, "SET")),
            ("SHOW inside", (OK, [("serializable",)])),
            ("SHOW after that transaction", (OK, [("read committed",)])),
        ]
        self.run_both(scenario, expected)

    # --- cancel ---------------------------------------------------------------------------

    def test_cancel_long_statement(self):
        def scenario(connect, rec, steer):
            conn = connect()
            cur = conn.cursor()
            for r in range(3):
                steer.only(r % 2)
                timer = threading.Timer(0.3, conn.cancel)
                t0 = time.monotonic()
                timer.start()
                rec.step("pg_sleep(8) cancelled after 0.3 s (%d)" % r,
                         lambda: cur.execute("SELECT pg_sleep(8)"))
                took = time.monotonic() - t0
                timer.join()
                rec.note("cancelled within 4 s (%d)" % r, took < 4.0)
                rec.step("next statement (%d)" % r, lambda: cur.execute("SELECT %s::int", (r,)))

        expected = []
        for r in range(3):
            expected += [("pg_sleep(8) cancelled after 0.3 s (%d)" % r,
                          ("error", "57014", "canceling statement due to user request")),
                         ("cancelled within 4 s (%d)" % r, True),
                         ("next statement (%d)" % r, (OK, [(r,)]))]
        self.run_both(scenario, expected)

    def test_cancel_never_hits_next_statement(self):
        # The statement finishes just before or just after the cancel arrives. conn.cancel()
        # (PQcancel) returns when the cancel was delivered, so on PostgreSQL the next statement
        # is never cancelled, and neither is anything another client runs meanwhile.
        def scenario(connect, rec, steer):
            conn = connect()
            other = connect()
            cur = conn.cursor()
            rnd = random.Random(11)
            stop = threading.Event()
            other_results = {"ok": 0, "errors": []}

            def other_client():
                c = other.cursor()
                i = 0
                while not stop.is_set():
                    i += 1
                    try:
                        c.execute("SELECT %s::int FROM pg_sleep(0.01)", (i,))
                        if c.fetchone() != (i,):
                            other_results["errors"].append("wrong row")
                        other_results["ok"] += 1
                    except psycopg.Error as e:
                        other_results["errors"].append((e.diag.sqlstate, str(e)[:120]))
                        if other.closed:
                            break
                    time.sleep(0.002)

            th = threading.Thread(target=other_client, daemon=True)
            th.start()
            first_outcomes, next_errors = set(), []
            try:
                for r in range(CANCEL_ROUNDS):
                    timer = threading.Timer(rnd.uniform(0.02, 0.09), conn.cancel)
                    timer.start()
                    try:
                        o = rec.step("round %d: pg_sleep(0.05)" % r,
                                     lambda: cur.execute("SELECT pg_sleep(0.05)"), record=False)
                    finally:
                        timer.join()
                    first_outcomes.add(o[0] if o[0] == OK else o[1:])
                    o = rec.step("round %d: next statement" % r,
                                 lambda: cur.execute("SELECT %s::int FROM pg_sleep(0.03)", (r,)), record=False)
                    if o != (OK, [(r,)]):
                        next_errors.append((r, o))
                    if conn.closed:
                        next_errors.append((r, "connection closed"))
                        break
            finally:
                stop.set()
                th.join(10)
            first_outcomes = sorted(map(str, first_outcomes))
            harness_log("cancel race: first statements %r" % first_outcomes)
            rec.note("first statements: ok or 57014 only",
                     set(first_outcomes) <= {OK, str(("57014",
                                                      "canceling statement due to user request"))}
                     or first_outcomes)
            rec.note("next statements that failed", next_errors)
            rec.note("other client's failures", other_results["errors"])
            rec.note("other client ran", other_results["ok"] > 0)

        expected = [("first statements: ok or 57014 only", True),
                    ("next statements that failed", []),
                    ("other client's failures", []),
                    ("other client ran", True)]
        self.run_both(scenario, expected)

    # --- reported parameters --------------------------------------------------------------

    def test_reported_parameters_spelling(self):
        names = ["client_encoding", "DateStyle", "TimeZone", "IntervalStyle", "application_name",
                 "server_encoding", "standard_conforming_strings", "integer_datetimes",
                 "is_superuser", "session_authorization", "default_transaction_read_only",
                 "in_hot_standby", "server_version"]

        def scenario(connect, rec, steer):
            conn = connect(client_encoding="utf8", application_name="Issue11 App",
                           options="-c DateStyle=iso,\\ mdy -c TimeZone=utc"
                                   " -c IntervalStyle=iso_8601")
            for n in names:
                rec.note("ParameterStatus %s" % n,
                         (conn.pgconn.parameter_status(n.encode()) or b"").decode())
            cur = conn.cursor()
            steer.only(1)
            rec.step("SHOW client_encoding", lambda: cur.execute("SHOW client_encoding"))
            rec.step("SHOW DateStyle, TimeZone", lambda: cur.execute(
                "SELECT current_setting('DateStyle'), current_setting('TimeZone'),"
                " current_setting('IntervalStyle')"))
            rec.step("a date", lambda: cur.execute("SELECT '2024-02-29 12:00+00'::timestamptz::text"))
            conn2 = connect(client_encoding="UTF8")
            rec.note("second client's client_encoding",
                     conn2.pgconn.parameter_status(b"client_encoding").decode())
            conn3 = connect(client_encoding="latin1")
            rec.note("latin1 client's client_encoding",
                     conn3.pgconn.parameter_status(b"client_encoding").decode())
            rec.step("latin1 text", lambda: conn3.execute("SELECT %s::text", ("é",)))

        direct, _ = self.run_both(scenario, None)
        got = dict(direct.steps)
        for n, v in (("client_encoding", "UTF8"), ("DateStyle", "ISO, MDY"), ("TimeZone", "UTC"),
                     ("IntervalStyle", "iso_8601"), ("application_name", "Issue11 App")):
            self.assertEqual(got["ParameterStatus %s" % n], v)
        self.assertEqual(got["latin1 client's client_encoding"], "LATIN1")


def harness_log(msg):
    issue11lib.harness.log(msg)


if __name__ == "__main__":
    unittest.main()
