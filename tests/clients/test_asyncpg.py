"""
test_asyncpg: asyncpg (Debian's python3-asyncpg) with its defaults: every query goes through its
statement cache, i.e. named prepared statements (__asyncpg_stmt_N__) parsed with Parse/Describe/
Flush and run later with Bind/Execute/Sync. 8 connections at once in one event loop on a pool of
2: fetch/fetchrow/fetchval/execute/executemany with parameters of many types, a transaction
rolled back by an exception and one committed, and a server error after which the connection
goes on. Every await has a deadline (asyncio.wait_for).
"""

import asyncio
import datetime
import decimal
import json
import os
import sys
import unittest

import asyncpg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clientlib  # noqa: E402

RUNS = 20
TIMEOUT = 30.0


class Boom(Exception):
    pass


async def within(coro, what="query"):
    """Awaits coro with a deadline, so a proxy that never answers fails the test instead."""
    try:
        return await asyncio.wait_for(coro, TIMEOUT)
    except asyncio.TimeoutError:
        raise AssertionError("%s: no answer within %.0f s (%s)" % (what, TIMEOUT,
                                                                  clientlib.mode_name()))


class AsyncpgTest(clientlib.ClientTestCase):
    N_CLIENTS = 8
    POOL_SIZE = 2

    @classmethod
    def prepare_database(cls):
        cls.pg.query("CREATE TABLE apg_t (client int NOT NULL, k int NOT NULL, note text)")

    def setUp(self):
        self.pg.query("DELETE FROM apg_t")

    async def connect(self):
        conn = await within(asyncpg.connect(host=self.px.host, port=self.px.port,
                                            user=clientlib.SUPERUSER,
                                            database=clientlib.TESTDB, timeout=10),
                            "connect")
        return conn

    def run_clients(self, client):
        async def main():
            conns = await asyncio.gather(*(self.connect() for _ in range(self.N_CLIENTS)))
            try:
                return await asyncio.gather(*(client(i, c) for i, c in enumerate(conns)))
            finally:
                await asyncio.gather(*(within(c.close(), "close") for c in conns))

        with self.backends() as mon:
            results = asyncio.run(main())
        self.check_backends(mon)
        return results

    def test_statement_cache_fetch_fetchval_executemany(self):
        async def client(i, conn):
            self.assertEqual(conn._config.statement_cache_size, 100)
            for r in range(RUNS):
                rows = await within(conn.fetch(
                    "SELECT $1::int * 1000 + $2::int AS v, $3::text AS t, $4::numeric AS n,"
                    " $5::bytea AS b, $6::timestamptz AS ts, $7::int8[] AS a, $8::jsonb AS j",
                    i, r, "asyncpg ü 🐘 %d" % i, decimal.Decimal("12345678901234567890.%03d" % r),
                    bytes(range(256)), datetime.datetime(2024, 2, 29, 12, r,
                                                         tzinfo=datetime.timezone.utc),
                    [2 ** 62, -r, None], json.dumps({"client": i, "r": r})))
                self.assertEqual(len(rows), 1)
                row = rows[0]
                self.assertEqual(row["v"], i * 1000 + r)
                self.assertEqual(row["t"], "asyncpg ü 🐘 %d" % i)
                self.assertEqual(row["n"], decimal.Decimal("12345678901234567890.%03d" % r))
                self.assertEqual(row["b"], bytes(range(256)))
                self.assertEqual(row["ts"], datetime.datetime(2024, 2, 29, 12, r,
                                                              tzinfo=datetime.timezone.utc))
                self.assertEqual(row["a"], [2 ** 62, -r, None])
                self.assertEqual(json.loads(row["j"]), {"client": i, "r": r})
                self.assertEqual(await within(conn.fetchval("SELECT $1::int8 + 1", 2 ** 40 + r)),
                                 2 ** 40 + r + 1)
                row = await within(conn.fetchrow("SELECT $1::text AS a, $2::bool AS b",
                                                 "x%d" % r, r % 2 == 0))
                self.assertEqual((row["a"], row["b"]), ("x%d" % r, r % 2 == 0))
                status = await within(conn.execute("INSERT INTO apg_t VALUES ($1, $2, 'one')",
                                                   i, r))
                self.assertEqual(status, "INSERT 0 1")
            await within(conn.executemany("INSERT INTO apg_t VALUES ($1, $2, $3)",
                                          [(i, 1000 + k, "many") for k in range(50)]),
                         "executemany")
            rows = await within(conn.fetch("SELECT note, count(*), sum(k) FROM apg_t"
                                           " WHERE client = $1 GROUP BY note ORDER BY note", i))
            self.assertEqual([tuple(r) for r in rows],
                             [("many", 50, sum(range(1000, 1050))), ("one", RUNS, sum(range(RUNS)))])
            if clientlib.DIRECT or clientlib.POOL_MODE == "session":
                # The test really exercises named statements (in transaction mode the server's
                # statements are the proxy's business).
                names = await within(conn.fetch("SELECT name FROM pg_prepared_statements"))
                self.assertGreaterEqual(len(names), 5)
                self.assertTrue(all(n["name"].startswith("__asyncpg_stmt_") for n in names))
            return True

        self.assertEqual(self.run_clients(client), [True] * self.N_CLIENTS)

    def test_transactions(self):
        async def client(i, conn):
            for r in range(RUNS):
                with self.assertRaises(Boom):
                    async with conn.transaction():
                        await within(conn.execute("INSERT INTO apg_t VALUES ($1, $2, 'rb')", i, r))
                        self.assertEqual(await within(conn.fetchval(
                            "SELECT count(*) FROM apg_t WHERE client = $1 AND note = 'rb'", i)), 1)
                        raise Boom()
                async with conn.transaction():
                    await within(conn.execute("INSERT INTO apg_t VALUES ($1, $2, 'ok')", i, r))
                    self.assertTrue(conn.is_in_transaction())
                self.assertFalse(conn.is_in_transaction())
                self.assertEqual(await within(conn.fetchval(
                    "SELECT count(*) FROM apg_t WHERE client = $1", i)), r + 1)
            return True

        self.assertEqual(self.run_clients(client), [True] * self.N_CLIENTS)
        self.assertEqual(self.pg.query("SELECT client, note, count(*) FROM apg_t GROUP BY 1, 2"
                                       " ORDER BY 1"),
                         [(i, "ok", RUNS) for i in range(self.N_CLIENTS)])

    def test_error_then_continue(self):
        async def client(i, conn):
            for r in range(RUNS):
                with self.assertRaises(asyncpg.exceptions.DivisionByZeroError) as cm:
                    await within(conn.fetchval("SELECT 1 / ($1::int - $1::int)", r))
                self.assertEqual(cm.exception.sqlstate, "22012")
                with self.assertRaises(asyncpg.exceptions.UndefinedTableError) as cm:
                    await within(conn.fetch("SELECT * FROM no_such_table_%d" % r))
                self.assertEqual(cm.exception.sqlstate, "42P01")
                self.assertEqual(await within(conn.fetchval("SELECT $1::int * 3", r)), r * 3)
                # an error inside a transaction: the transaction is rolled back as a whole
                with self.assertRaises(asyncpg.exceptions.UniqueViolationError):
                    async with conn.transaction():
                        await within(conn.execute("INSERT INTO apg_t VALUES ($1, $2, 'e')", i, r))
                        await within(conn.execute(
                            "CREATE TEMP TABLE IF NOT EXISTS x (id int PRIMARY KEY);"
                            " INSERT INTO x VALUES (1), (1)"))
                self.assertFalse(conn.is_in_transaction())
                self.assertEqual(await within(conn.fetchval(
                    "SELECT count(*) FROM apg_t WHERE client = $1", i)), 0)
            return True

        self.assertEqual(self.run_clients(client), [True] * self.N_CLIENTS)


if __name__ == "__main__":
    unittest.main()
