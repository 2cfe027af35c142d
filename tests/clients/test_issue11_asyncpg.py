"""
test_issue11_asyncpg: issue 11 §3 with asyncpg (Debian's python3-asyncpg 0.27), whose statement
cache makes every query a named prepared statement (__asyncpg_stmt_N__) run with Bind/Execute
only, on the row description it got when it prepared. Each test runs one scenario directly
against PostgreSQL and then through pgsift (transaction pooling, a pool of 2, the client moved
between the servers by issue11lib.Steer), and asserts that both give the same outcome at every
step (rows, exception class, SQLSTATE, message) and that PostgreSQL's is the one written in the
test. Every await has a 10 s deadline: a step without an answer is a HANG and fails the test.

    PGSIFT_BIN=build/pgsift /usr/bin/python3 tests/clients/test_issue11_asyncpg.py [-v] \
        [Issue11AsyncpgTest.test_stale_row_description_cached_fetch_retries]
"""

import asyncio
import os
import random
import re
import sys
import time
import unittest

import asyncpg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clientlib  # noqa: E402
import issue11lib  # noqa: E402
from issue11lib import STEP_TIMEOUT, Hang, Trace, compare  # noqa: E402

OK = "ok"
CANCEL_ROUNDS = 50


def outcome_of(v):
    if isinstance(v, list):
        return (OK, [tuple(r) if isinstance(r, asyncpg.Record) else r for r in v])
    if isinstance(v, asyncpg.Record):
        return (OK, tuple(v))
    return (OK, v)


def error_of(e):
    if isinstance(e, asyncpg.PostgresError):
        # asyncpg numbers its statements with a counter of the whole process
        return ("error", type(e).__name__, e.sqlstate,
                re.sub(r"__asyncpg_stmt_[0-9a-f]+__", "__asyncpg_stmt_N__", e.message))
    if isinstance(e, (asyncpg.InterfaceError, asyncpg.exceptions._base.InternalClientError,
                      ValueError, TypeError, UnicodeDecodeError, OverflowError)):
        return ("client error", type(e).__name__, str(e)[:200])
    if isinstance(e, asyncio.TimeoutError):
        return ("timeout",)
    return None


class AsyncRecorder:
    def __init__(self, trace):
        self.trace = trace
        self.conns = []

    async def step(self, label, fn, timeout=STEP_TIMEOUT, record=True):
        """Awaits fn() with a deadline and records (label, outcome), or only returns it."""
        t = asyncio.ensure_future(fn())
        done, _ = await asyncio.wait({t}, timeout=timeout)
        if not done:
            t.cancel()
            self.trace.add(label, ("HANG", "no answer within %.0f s" % timeout))
            self.trace.hung = True
            for c in self.conns:
                c.terminate()
            raise Hang(label)
        try:
            v = t.result()
        except Exception as e:
            o = error_of(e)
            if o is None:
                raise
        else:
            o = outcome_of(v)
        if record:
            self.trace.add(label, o)
        return o

    def note(self, label, value):
        self.trace.add(label, value)


class Issue11AsyncpgTest(issue11lib.Issue11Case):

    def run_both(self, scenario, expected=None, setup=None):
        traces = []
        for name, target in self.targets():
            if setup is not None:
                setup()
            trace = Trace(name)
            rec = AsyncRecorder(trace)
            steer = self.steer_for(target).start()

            async def connect(**kw):
                c = await asyncio.wait_for(asyncpg.connect(
                    host=target.host, port=target.port, user=clientlib.SUPERUSER,
                    database=clientlib.TESTDB, timeout=STEP_TIMEOUT, **kw), STEP_TIMEOUT)
                rec.conns.append(c)
                return c

            async def main():
                try:
                    await scenario(connect, rec, steer)
                except Hang:
                    pass
                finally:
                    for c in rec.conns:
                        if not c.is_closed():
                            try:
                                await asyncio.wait_for(c.close(), 5)
                            except Exception:
                                c.terminate()

            try:
                asyncio.run(main())
            finally:
                steer.close()
            traces.append(trace)
        compare(self, traces[0], traces[1], expected)
        return traces

    # --- re-Parse of a client's named statement fails on the next server -------------------

    def test_reparse_fails_dropped_table(self):
        q = "SELECT id FROM i11a_drop ORDER BY id"

        def setup():
            self.pg.query("DROP TABLE IF EXISTS i11a_drop; CREATE TABLE i11a_drop (id int);"
                          " INSERT INTO i11a_drop VALUES (1), (2)")

        async def scenario(connect, rec, steer):
            conn = await connect()
            steer.only(0)
            stmt = await conn.prepare(q)
            await rec.step("explicit statement fetch", lambda: stmt.fetch())
            await rec.step("cached fetch", lambda: conn.fetch(q))
            self.pg.query("DROP TABLE i11a_drop")
            steer.only(1)
            await rec.step("explicit statement after drop (other server)", lambda: stmt.fetch())
            await rec.step("next statement", lambda: conn.fetchval("SELECT $1::int + 1", 41))
            steer.only(0)
            await rec.step("cached fetch after drop", lambda: conn.fetch(q))
            await rec.step("next statement 2", lambda: conn.fetchval("SELECT $1::int + 2", 41))
            self.pg.query("CREATE TABLE i11a_drop (id int); INSERT INTO i11a_drop VALUES (3)")
            steer.only(1)
            await rec.step("explicit statement after re-create", lambda: stmt.fetch())
            await rec.step("cached fetch after re-create", lambda: conn.fetch(q))

        expected = [
            ("explicit statement fetch", (OK, [(1,), (2,)])),
            ("cached fetch", (OK, [(1,), (2,)])),
            ("explicit statement after drop (other server)",
             ("error", "UndefinedTableError", "42P01", 'relation "i11a_drop" does not exist')),
            ("next statement", (OK, 42)),
            ("cached fetch after drop",
             ("error", "UndefinedTableError", "42P01", 'relation "i11a_drop" does not exist')),
            ("next statement 2", (OK, 43)),
            ("explicit statement after re-create", (OK, [(3,)])),
            ("cached fetch after re-create", (OK, [(3,)])),
        ]
        self.run_both(scenario, expected, setup)

    def test_reparse_fails_temp_table_dropped_at_commit(self):
        q = "SELECT id FROM i11a_tmp ORDER BY id"

        async def scenario(connect, rec, steer):
            conn = await connect()
            steer.only(0)
            async with conn.transaction():
                await rec.step("create temp table on commit drop", lambda: conn.execute(
                    "CREATE TEMP TABLE i11a_tmp (id int) ON COMMIT DROP;"
                    " INSERT INTO i11a_tmp VALUES (5)"))
                await rec.step("cached fetch", lambda: conn.fetch(q))
            steer.only(1)
            await rec.step("cached fetch after commit (other server)", lambda: conn.fetch(q))
            await rec.step("next statement", lambda: conn.fetchval("SELECT $1::int + 1", 1))
            steer.only(0)
            await rec.step("cached fetch after commit (first server)", lambda: conn.fetch(q))
            await rec.step("last statement", lambda: conn.fetchval("SELECT $1::int + 2", 1))

        err = ("error", "UndefinedTableError", "42P01", 'relation "i11a_tmp" does not exist')
        expected = [
            ("create temp table on commit drop", (OK, "INSERT 0 1")),
            ("cached fetch", (OK, [(5,)])),
            ("cached fetch after commit (other server)", err),
            ("next statement", (OK, 2)),
            ("cached fetch after commit (first server)", err),
            ("last statement", (OK, 3)),
        ]
        self.run_both(scenario, expected)

    def test_temp_table_statement_keeps_working(self):
        q = "SELECT id FROM i11a_tmp_session ORDER BY id"

        async def scenario(connect, rec, steer):
            conn = await connect()
            steer.only(0)
            await rec.step("create temp table", lambda: conn.execute(
                "CREATE TEMP TABLE i11a_tmp_session (id int); INSERT INTO i11a_tmp_session"
                " VALUES (9)"))
            await rec.step("cached fetch", lambda: conn.fetch(q))
            steer.only(1)
            await rec.step("cached fetch again", lambda: conn.fetch(q))
            await rec.step("next statement", lambda: conn.fetchval("SELECT $1::int + 1", 1))
            await rec.step("cached fetch once more", lambda: conn.fetch(q))

        expected = [
            ("create temp table", (OK, "INSERT 0 1")),
            ("cached fetch", (OK, [(9,)])),
            ("cached fetch again", (OK, [(9,)])),
            ("next statement", (OK, 2)),
            ("cached fetch once more", (OK, [(9,)])),
        ]
        self.run_both(scenario, expected)

    # --- stale row description -----------------------------------------------------------

    def stale_setup(self):
        self.pg.query("DROP TABLE IF EXISTS i11a_alt; CREATE TABLE i11a_alt (id int, v int);"
                      " INSERT INTO i11a_alt VALUES (1, 10), (2, 20)")

    ALTER = "ALTER TABLE i11a_alt ALTER COLUMN v TYPE text USING 'v=' || v"
    Q = "SELECT id, v FROM i11a_alt ORDER BY id"
    NEW_ROWS = (OK, [(1, "v=10"), (2, "v=20")])
    INVALID = ("error", "InvalidCachedStatementError", "0A000",
               "cached plan must not change result type")

    def test_stale_row_description_cached_fetch_retries(self):
        # asyncpg catches InvalidCachedStatementError outside a transaction, re-prepares and
        # runs the query again: the caller gets the new rows, correctly decoded
        q = self.Q

        async def scenario(connect, rec, steer):
            conn = await connect()
            steer.only(0)
            await rec.step("cached fetch", lambda: conn.fetch(q))
            self.pg.query(self.ALTER)
            steer.only(1)
            await rec.step("cached fetch after alter (other server)", lambda: conn.fetch(q))
            await rec.step("next statement", lambda: conn.fetchval("SELECT $1::int + 1", 1))
            steer.only(0)
            await rec.step("cached fetch (first server)", lambda: conn.fetch(q))

        expected = [
            ("cached fetch", (OK, [(1, 10), (2, 20)])),
            ("cached fetch after alter (other server)", self.NEW_ROWS),
            ("next statement", (OK, 2)),
            ("cached fetch (first server)", self.NEW_ROWS),
        ]
        self.run_both(scenario, expected, self.stale_setup)

    def test_stale_row_description_explicit_statement(self):
        q = self.Q

        async def scenario(connect, rec, steer):
            conn = await connect()
            steer.only(0)
            stmt = await conn.prepare(q)
            await rec.step("statement fetch", lambda: stmt.fetch())
            self.pg.query(self.ALTER)
            steer.only(1)
            await rec.step("statement fetch after alter (other server)", lambda: stmt.fetch())
            await rec.step("next statement", lambda: conn.fetchval("SELECT $1::int + 1", 1))
            steer.only(0)
            await rec.step("statement fetch (first server)", lambda: stmt.fetch())
            await rec.step("cached fetch", lambda: conn.fetch(q))

        expected = [
            ("statement fetch", (OK, [(1, 10), (2, 20)])),
            ("statement fetch after alter (other server)", self.INVALID),
            ("next statement", (OK, 2)),
            ("statement fetch (first server)", self.INVALID),
            ("cached fetch", self.NEW_ROWS),
        ]
        self.run_both(scenario, expected, self.stale_setup)

    def test_stale_row_description_in_transaction(self):
        # inside a transaction asyncpg cannot retry: the error reaches the caller, the
        # transaction is rolled back, and the next query re-prepares
        q = self.Q

        async def scenario(connect, rec, steer):
            conn = await connect()
            steer.only(0)
            await rec.step("cached fetch", lambda: conn.fetch(q))
            self.pg.query(self.ALTER)
            steer.only(1)

            async def in_tx():
                async with conn.transaction():
                    return await conn.fetch(q)
            await rec.step("cached fetch in a transaction after alter", in_tx)
            await rec.step("in transaction after", lambda: asyncio.sleep(0, conn.is_in_transaction()))
            await rec.step("cached fetch after rollback", lambda: conn.fetch(q))

        expected = [
            ("cached fetch", (OK, [(1, 10), (2, 20)])),
            ("cached fetch in a transaction after alter", self.INVALID),
            ("in transaction after", (OK, False)),
            ("cached fetch after rollback", self.NEW_ROWS),
        ]
        self.run_both(scenario, expected, self.stale_setup)

    # --- SQL PREPARE / EXECUTE / DEALLOCATE in the extended protocol ------------------------

    def test_sql_prepare_execute_deallocate_extended(self):
        gone = ("error", "InvalidSQLStatementNameError", "26000",
                'prepared statement "__asyncpg_stmt_N__" does not exist')

        # conn.fetch() of a statement without arguments still prepares it (Parse/Describe,
        # then Bind/Execute): PREPARE, EXECUTE and DEALLOCATE all go in the extended protocol
        async def scenario(connect, rec, steer):
            conn = await connect()
            steer.only(0)
            await rec.step("PREPARE i11a_p", lambda: conn.fetch(
                "PREPARE i11a_p (int) AS SELECT $1 * 2 AS twice"))
            steer.only(1)
            await rec.step("EXECUTE i11a_p (other server)",
                           lambda: conn.fetch("EXECUTE i11a_p (21)"))
            steer.only(0)
            await rec.step("EXECUTE i11a_p (first server)",
                           lambda: conn.fetchval("EXECUTE i11a_p (5)"))
            await rec.step("EXECUTE i11a_p again (cached)",
                           lambda: conn.fetch("EXECUTE i11a_p (21)"))
            await rec.step("DEALLOCATE i11a_p", lambda: conn.fetch("DEALLOCATE i11a_p"))
            steer.only(1)
            await rec.step("EXECUTE after DEALLOCATE", lambda: conn.fetch("EXECUTE i11a_p (21)"))
            await rec.step("PREPARE i11a_q", lambda: conn.fetch(
                "PREPARE i11a_q AS SELECT 'q'::text AS t"))
            await rec.step("query 1", lambda: conn.fetchval("SELECT $1::int * 7", 6))
            steer.only(0)
            await rec.step("EXECUTE i11a_q", lambda: conn.fetchval("EXECUTE i11a_q"))
            await rec.step("DEALLOCATE ALL", lambda: conn.fetch("DEALLOCATE ALL"))
            steer.only(1)
            await rec.step("EXECUTE i11a_q after ALL", lambda: conn.fetchval("EXECUTE i11a_q"))
            # DEALLOCATE ALL also removed asyncpg's own statements on the server
            await rec.step("query 1 after ALL", lambda: conn.fetchval("SELECT $1::int * 7", 6))
            await rec.step("query 1 once more", lambda: conn.fetchval("SELECT $1::int * 7", 6))
            await rec.step("next statement", lambda: conn.fetchval("SELECT $1::int * 8", 6))

        expected = [
            ("PREPARE i11a_p", (OK, [])),
            ("EXECUTE i11a_p (other server)", (OK, [(42,)])),
            ("EXECUTE i11a_p (first server)", (OK, 10)),
            ("EXECUTE i11a_p again (cached)", (OK, [(42,)])),
            ("DEALLOCATE i11a_p", (OK, [])),
            ("EXECUTE after DEALLOCATE", ("error", "InvalidSQLStatementNameError", "26000",
                                          'prepared statement "i11a_p" does not exist')),
            ("PREPARE i11a_q", (OK, [])),
            ("query 1", (OK, 42)),
            ("EXECUTE i11a_q", (OK, "q")),
            ("DEALLOCATE ALL", (OK, [])),
            # asyncpg's cached "EXECUTE i11a_q" statement is gone from the server too, as are
            # all its statements: it does not recover from that by itself
            ("EXECUTE i11a_q after ALL", gone),
            ("query 1 after ALL", gone),
            ("query 1 once more", gone),
            ("next statement", (OK, 48)),
        ]
        self.run_both(scenario, expected)

    def test_statement_cache_eviction(self):
        # statement_cache_size=2: asyncpg closes the least recently used statements (Close
        # messages) while the client moves between servers
        n_queries, rounds = 6, 3

        async def scenario(connect, rec, steer):
            conn = await connect(statement_cache_size=2)
            for r in range(rounds):
                steer.only(r % 2)
                for k in range(n_queries):
                    await rec.step("round %d query %d" % (r, k), lambda k=k: conn.fetchval(
                        "SELECT $1::int + %d" % k, r * 100))
            await rec.step("cache size", lambda: asyncio.sleep(0, len(conn._stmt_cache)))

        expected = [("round %d query %d" % (r, k), (OK, r * 100 + k))
                    for r in range(rounds) for k in range(n_queries)]
        expected.append(("cache size", (OK, 2)))
        self.run_both(scenario, expected)

    # --- SET SESSION CHARACTERISTICS / asyncpg's isolation behaviour ---------------------

    def test_isolation_level(self):
        # asyncpg's own test_isolation_level, with the client moved between servers before
        # every transaction
        levels = {None: "read committed", "read_committed": "read committed",
                  "repeatable_read": "repeatable read", "serializable": "serializable"}
        set_sql = "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL "
        get_sql = "SHOW TRANSACTION ISOLATION LEVEL"

        async def scenario(connect, rec, steer):
            conn = await connect()
            moves = 0
            for tx_level in levels:
                for conn_level in levels:
                    label = "tx %s, session %s" % (tx_level, conn_level)
                    if conn_level:
                        await rec.step(label + ": SET", lambda: conn.execute(
                            set_sql + levels[conn_level]))
                    steer.only(moves % 2)
                    moves += 1
                    await rec.step(label + ": SHOW", lambda: conn.fetchval(get_sql))
                    steer.only(moves % 2)
                    moves += 1

                    async def in_tx():
                        async with conn.transaction(isolation=tx_level):
                            return await conn.fetchval(get_sql)
                    await rec.step(label + ": in transaction", in_tx)
                    await rec.step(label + ": reset", lambda: conn.reset())

        expected = []
        for tx_level in levels:
            for conn_level in levels:
                label = "tx %s, session %s" % (tx_level, conn_level)
                if conn_level:
                    expected.append((label + ": SET", (OK, "SET")))
                expected += [(label + ": SHOW", (OK, levels[conn_level])),
                             (label + ": in transaction", (OK, levels[tx_level or conn_level])),
                             (label + ": reset", (OK, None))]
        self.run_both(scenario, expected)

    def test_nested_isolation_level(self):
        set_sql = "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL "

        async def scenario(connect, rec, steer):
            conn = await connect()
            await rec.step("SET serializable (extended)", lambda: conn.fetch(
                set_sql + "SERIALIZABLE"))
            steer.only(1)

            async def nested(inner):
                async with conn.transaction():
                    async with conn.transaction(isolation=inner):
                        return await conn.fetchval("SHOW transaction_isolation")
            await rec.step("nested serializable", lambda: nested("serializable"))
            steer.only(0)
            await rec.step("nested read_committed", lambda: nested("read_committed"))
            steer.only(1)
            await rec.step("default_transaction_isolation",
                           lambda: conn.fetchval("SHOW default_transaction_isolation"))

        expected = [
            ("SET serializable (extended)", (OK, [])),
            ("nested serializable", (OK, "serializable")),
            ("nested read_committed", ("client error", "InterfaceError",
                                       "nested transaction has a different isolation level: "
                                       "current 'read_committed' != outer 'serializable'")),
            ("default_transaction_isolation", (OK, "serializable")),
        ]
        self.run_both(scenario, expected)

    # --- cancel ---------------------------------------------------------------------------

    def test_cancel_long_statement_timeout(self):
        # a timeout makes asyncpg send a CancelRequest; the connection goes on
        async def scenario(connect, rec, steer):
            conn = await connect()
            for r in range(3):
                steer.only(r % 2)
                t0 = time.monotonic()
                await rec.step("pg_sleep(8) with timeout=0.3 (%d)" % r,
                               lambda: conn.fetch("SELECT pg_sleep(8)", timeout=0.3))
                await rec.step("next statement (%d)" % r,
                               lambda: conn.fetchval("SELECT $1::int", r))
                rec.note("took less than 4 s (%d)" % r, time.monotonic() - t0 < 4)
                rec.note("pg_sleep(8) gone from the server (%d)" % r, self.sleep_gone())

        expected = []
        for r in range(3):
            expected += [("pg_sleep(8) with timeout=0.3 (%d)" % r, ("timeout",)),
                         ("next statement (%d)" % r, (OK, r)),
                         ("took less than 4 s (%d)" % r, True),
                         ("pg_sleep(8) gone from the server (%d)" % r, True)]
        self.run_both(scenario, expected)

    def sleep_gone(self):
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            n = self.pg.query("SELECT count(*) FROM pg_stat_activity WHERE query LIKE"
                              " 'SELECT pg_sleep(8)%' AND state = 'active'")[0][0]
            if n == 0:
                return True
            time.sleep(0.05)
        return False

    def test_cancel_task(self):
        # cancelling the task running a query makes asyncpg send a CancelRequest too
        async def scenario(connect, rec, steer):
            conn = await connect()
            for r in range(3):
                steer.only(r % 2)
                t = asyncio.ensure_future(conn.fetch("SELECT pg_sleep(8)"))
                await asyncio.sleep(0.3)
                t.cancel()
                try:
                    await t
                    rec.note("task (%d)" % r, "finished")
                except asyncio.CancelledError:
                    rec.note("task (%d)" % r, "cancelled")
                await rec.step("next statement (%d)" % r,
                               lambda: conn.fetchval("SELECT $1::int", r))
                rec.note("pg_sleep(8) gone from the server (%d)" % r, self.sleep_gone())

        expected = []
        for r in range(3):
            expected += [("task (%d)" % r, "cancelled"),
                         ("next statement (%d)" % r, (OK, r)),
                         ("pg_sleep(8) gone from the server (%d)" % r, True)]
        self.run_both(scenario, expected)

    def test_cancel_never_hits_next_statement(self):
        # statements that finish just before or just after their timeout (the next one runs
        # 30 ms, so a late cancel would catch it); asyncpg waits for
        # the cancelled query's ReadyForQuery and for the CancelRequest to be sent before the
        # next query, so on PostgreSQL the next statement is never cancelled, nor is another
        # client's statement
        async def scenario(connect, rec, steer):
            conn = await connect()
            other = await connect()
            rnd = random.Random(11)
            stop = asyncio.Event()
            other_errors, other_ok = [], [0]

            async def other_client():
                i = 0
                while not stop.is_set():
                    i += 1
                    o = await rec.step("other", lambda: other.fetchval("SELECT $1::int FROM pg_sleep(0.01)", i),
                                       record=False)
                    if o != (OK, i):
                        other_errors.append(o)
                        if other.is_closed():
                            break
                    else:
                        other_ok[0] += 1
                    await asyncio.sleep(0.002)

            ot = asyncio.ensure_future(other_client())
            first, next_errors = set(), []
            try:
                for r in range(CANCEL_ROUNDS):
                    o = await rec.step("round %d: pg_sleep(0.05)" % r, lambda: conn.fetch(
                        "SELECT pg_sleep(0.05)", timeout=rnd.uniform(0.02, 0.09)), record=False)
                    first.add(str(o[0]) if o[0] in (OK, "timeout") else str(o))
                    o = await rec.step("round %d: next" % r,
                                       lambda: conn.fetchval("SELECT $1::int FROM pg_sleep(0.03)", r), record=False)
                    if o != (OK, r):
                        next_errors.append((r, o))
                        if conn.is_closed():
                            break
            finally:
                stop.set()
                try:
                    await asyncio.wait_for(ot, STEP_TIMEOUT)
                except Exception as e:
                    other_errors.append(repr(e))
            issue11lib.harness.log("asyncpg cancel race: first statements %r" % sorted(first))
            rec.note("first statements: ok or timeout only", first <= {OK, "timeout"} or
                     sorted(first))
            rec.note("next statements that failed", next_errors)
            rec.note("other client's failures", other_errors)
            rec.note("other client ran", other_ok[0] > 0)

        expected = [("first statements: ok or timeout only", True),
                    ("next statements that failed", []),
                    ("other client's failures", []),
                    ("other client ran", True)]
        self.run_both(scenario, expected)

    # --- reported parameters --------------------------------------------------------------

    def test_reported_parameters_spelling(self):
        names = ["client_encoding", "DateStyle", "TimeZone", "IntervalStyle", "application_name",
                 "server_encoding", "standard_conforming_strings", "integer_datetimes",
                 "is_superuser", "session_authorization", "server_version"]

        async def scenario(connect, rec, steer):
            # asyncpg itself sends client_encoding 'utf-8' in its startup packet
            conn = await connect(server_settings={"DateStyle": "iso, mdy", "TimeZone": "utc",
                                                  "IntervalStyle": "iso_8601",
                                                  "application_name": "Issue11 App"})
            s = conn.get_settings()
            for n in names:
                rec.note("setting %s" % n, getattr(s, n, None))
            steer.only(1)
            await rec.step("SHOW", lambda: conn.fetchrow(
                "SELECT current_setting('client_encoding'), current_setting('DateStyle'),"
                " current_setting('TimeZone'), current_setting('IntervalStyle')"))
            await rec.step("text", lambda: conn.fetchval("SELECT $1::text", "é 🐘"))
            conn2 = await connect(server_settings={"client_encoding": "utf8"})
            rec.note("utf8 client's client_encoding", conn2.get_settings().client_encoding)
            await rec.step("utf8 client text", lambda: conn2.fetchval("SELECT $1::text", "é 🐘"))

        direct, _ = self.run_both(scenario, None)
        got = dict(direct.steps)
        for n, v in (("client_encoding", "UTF8"), ("DateStyle", "ISO, MDY"), ("TimeZone", "UTC"),
                     ("IntervalStyle", "iso_8601"), ("application_name", "Issue11 App")):
            self.assertEqual(got["setting %s" % n], v)
        self.assertEqual(got["utf8 client's client_encoding"], "UTF8")


if __name__ == "__main__":
    unittest.main()
