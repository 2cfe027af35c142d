"""
test_psycopg2: psycopg2 (Debian's python3-psycopg2, libpq underneath, simple query protocol), 8
threads each with its own connection on a pool of 2. Transactions committed and rolled back;
server-side errors (division by zero, unique violation, aborted transaction) and going on after
them; parameters of many types round-tripped exactly; session state set outside transactions
(application_name at startup and by SET, TimeZone) holding in every later transaction and in the
ParameterStatus values the driver sees; RESET going back to the client's startup values; and
statement_timeout given at startup in options='-c statement_timeout=...' honoured for that
client only.
"""

import datetime
import decimal
import hashlib
import os
import sys
import unittest

import psycopg2
import psycopg2.errors
import psycopg2.extras

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clientlib  # noqa: E402
from clientlib import run_threads  # noqa: E402

ROUNDS = 20
# Zones without daylight saving time: (name, offset suffix of now()::text, a fixed instant in it).
ZONES = [("Asia/Tokyo", "+09", "2024-01-15 21:00:00+09"),
         ("Asia/Kolkata", "+05:30", "2024-01-15 17:30:00+05:30"),
         ("Asia/Dubai", "+04", "2024-01-15 16:00:00+04"),
         ("Asia/Shanghai", "+08", "2024-01-15 20:00:00+08"),
         ("Asia/Kathmandu", "+05:45", "2024-01-15 17:45:00+05:45"),
         ("Pacific/Honolulu", "-10", "2024-01-15 02:00:00-10"),
         ("America/Panama", "-05", "2024-01-15 07:00:00-05"),
         ("Pacific/Kiritimati", "+14", "2024-01-16 02:00:00+14")]

TZ = datetime.timezone
TD = datetime.timedelta


def sample_values(i):
    """Values of many types, different for each client i, as (SQL type, Python value)."""
    return [
        ("int4", 2147483647 - i),
        ("int4", -2147483648 + i),
        ("int8", 9223372036854775807 - i),
        ("int8", -9223372036854775808 + i),
        ("numeric", decimal.Decimal("-12345678901234567890.000000000123456789%d" % i)),
        ("numeric", decimal.Decimal("0.10")),
        ("float8", 0.1 + 0.2),
        ("bool", i % 2 == 0),
        ("text", "zażółć gęślą jaźń — 日本語 🐘 client %d \t\"'\\ end" % i),
        ("text", ""),
        ("bytea", bytes(range(256)) + bytes([i])),
        ("timestamptz", datetime.datetime(2024, 2, 29, 23, 59, 59, 123456 + i,
                                          tzinfo=TZ(TD(hours=5, minutes=30)))),
        ("date", datetime.date(1999, 12, 31) + TD(days=i)),
        ("interval", TD(days=3, seconds=7 + i, microseconds=5)),
        ("int4[]", [1, 2, None, -4, i]),
        ("text[]", ["a", "b c", None, "ü\"\\,{}", "client %d" % i]),
        ("int8[]", [[1, 2], [3, 4 + i]]),
        ("text", None),
    ]


class Psycopg2Test(clientlib.ClientTestCase):
    N_CLIENTS = 8
    POOL_SIZE = 2
    CONNECTIONS = 16  # test_errors_then_continue: two connections per client

    @classmethod
    def prepare_database(cls):
        cls.pg.query("CREATE TABLE pg2_t (client int NOT NULL, k int NOT NULL, note text)")
        cls.pg.query("CREATE TABLE pg2_u (id int PRIMARY KEY)")
        cls.pg.query("CREATE TABLE pg2_types (client int, i4 int4, i8 int8, n numeric, t text,"
                     " b bytea, ts timestamptz, a int4[], j jsonb)")
        cls.default_tz = cls.pg.query("SHOW TimeZone")[0][0]

    def connect(self, autocommit=False, **kw):
        conn = psycopg2.connect(self.px.dsn(**kw))
        conn.autocommit = autocommit
        self.addCleanup(conn.close)
        return conn

    def test_transactions_commit_and_rollback(self):
        self.pg.query("DELETE FROM pg2_t")

        def client(i):
            conn = self.connect()
            cur = conn.cursor()
            for r in range(ROUNDS):
                cur.execute("INSERT INTO pg2_t VALUES (%s, %s, 'commit')", (i, r))
                cur.execute("SELECT count(*) FROM pg2_t WHERE client = %s", (i,))
                self.assertEqual(cur.fetchone(), (r + 1,))
                conn.commit()
                cur.execute("INSERT INTO pg2_t VALUES (%s, %s, 'rollback') RETURNING k", (i, r))
                self.assertEqual(cur.fetchone(), (r,))
                cur.execute("SELECT count(*) FROM pg2_t WHERE client = %s", (i,))
                self.assertEqual(cur.fetchone(), (r + 2,))
                conn.rollback()
                cur.execute("SELECT count(*), sum(k) FROM pg2_t WHERE client = %s", (i,))
                self.assertEqual(cur.fetchone(), (r + 1, sum(range(r + 1))))
                conn.commit()
            return True

        with self.backends() as mon:
            run_threads(client, self.N_CLIENTS)
        self.check_backends(mon)
        self.assertEqual(self.pg.query("SELECT client, note, count(*) FROM pg2_t GROUP BY 1, 2"
                                       " ORDER BY 1, 2"),
                         [(i, "commit", ROUNDS) for i in range(self.N_CLIENTS)])

    def test_errors_then_continue(self):
        self.pg.query("DELETE FROM pg2_u")

        def client(i):
            conn = self.connect()
            auto = self.connect(autocommit=True)
            cur, acur = conn.cursor(), auto.cursor()
            for r in range(ROUNDS):
                key = i * 1000 + r
                cur.execute("INSERT INTO pg2_u VALUES (%s)", (key,))
                with self.assertRaises(psycopg2.errors.DivisionByZero) as cm:
                    cur.execute("SELECT 1 / (%s - %s)", (r, r))
                self.assertEqual(cm.exception.pgcode, "22012")
                with self.assertRaises(psycopg2.errors.InFailedSqlTransaction) as cm:
                    cur.execute("SELECT 1")
                self.assertEqual(cm.exception.pgcode, "25P02")
                conn.rollback()
                cur.execute("SELECT count(*) FROM pg2_u WHERE id = %s", (key,))
                self.assertEqual(cur.fetchone(), (0,))
                cur.execute("INSERT INTO pg2_u VALUES (%s)", (key,))
                conn.commit()
                with self.assertRaises(psycopg2.errors.UniqueViolation) as cm:
                    cur.execute("INSERT INTO pg2_u VALUES (%s)", (key,))
                self.assertEqual(cm.exception.pgcode, "23505")
                self.assertEqual(cm.exception.diag.constraint_name, "pg2_u_pkey")
                conn.rollback()
                with self.assertRaises(psycopg2.errors.UndefinedTable) as cm:
                    acur.execute("SELECT * FROM no_such_table_%d" % i)
                self.assertEqual(cm.exception.pgcode, "42P01")
                acur.execute("SELECT %s::int * 2", (key,))
                self.assertEqual(acur.fetchone(), (key * 2,))
            cur.execute("SELECT count(*), min(id), max(id) FROM pg2_u WHERE id / 1000 = %s", (i,))
            self.assertEqual(cur.fetchone(), (ROUNDS, i * 1000, i * 1000 + ROUNDS - 1))
            conn.commit()
            return True

        with self.backends() as mon:
            run_threads(client, self.N_CLIENTS)
        self.check_backends(mon)

    def test_parameter_types_round_trip(self):
        self.pg.query("DELETE FROM pg2_types")

        def client(i):
            conn = self.connect()
            cur = conn.cursor()
            values = sample_values(i)
            sql = "SELECT " + ", ".join("CAST(%%s AS %s)" % t for t, _ in values)
            doc = {"client": i, "a": [1, 2.5, None, True], "ü": "日本 🐘", "nested": {"x": ""}}
            for r in range(ROUNDS):
                cur.execute(sql, [v for _, v in values])
                row = cur.fetchone()
                for (t, want), got in zip(values, row):
                    if t == "bytea":
                        got = bytes(got)
                    self.assertEqual(got, want, "type %s" % t)
                    self.assertEqual(type(got), type(want), "type %s" % t)
                self.assertEqual(str(row[5]), "0.10")
                cur.execute("SELECT %s::json, %s::jsonb, %s::text = %s",
                            (psycopg2.extras.Json(doc), psycopg2.extras.Json(doc), values[8][1],
                             values[8][1]))
                self.assertEqual(cur.fetchone(), (doc, doc, True))
                cur.execute("INSERT INTO pg2_types VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                            (i, values[0][1], values[2][1], values[4][1], values[8][1],
                             values[10][1], values[11][1], values[14][1],
                             psycopg2.extras.Json(doc)))
                conn.commit()
            # What the server stored is what was sent: checked on the server side too.
            cur.execute("SELECT DISTINCT i4, i8, n, t, md5(b), ts, a::text, j::text"
                        " FROM pg2_types WHERE client = %s", (i,))
            self.assertEqual(cur.fetchall(), [(
                values[0][1], values[2][1], values[4][1], values[8][1],
                hashlib.md5(values[10][1]).hexdigest(), values[11][1], "{1,2,NULL,-4,%d}" % i,
                '{"a": [1, 2.5, null, true], "ü": "日本 🐘", "client": %d, "nested": {"x": ""}}'
                % i)])
            conn.commit()
            return True

        with self.backends() as mon:
            run_threads(client, self.N_CLIENTS)
        self.check_backends(mon)
        self.assertEqual(self.pg.query("SELECT count(*) FROM pg2_types"),
                         [(ROUNDS * self.N_CLIENTS,)])

    def test_session_settings_persist_across_transactions(self):
        default_tz = self.default_tz

        def client(i):
            zone, suffix, instant = ZONES[i]
            conn = self.connect(autocommit=True, application_name="startup_%d" % i)
            cur = conn.cursor()
            self.assertEqual(conn.get_parameter_status("application_name"), "startup_%d" % i)
            cur.execute("SELECT current_setting('application_name')")
            self.assertEqual(cur.fetchone(), ("startup_%d" % i,))
            # SET outside a transaction: a session setting, for every transaction after it.
            cur.execute("SET application_name = %s", ("psycopg2_client_%d" % i,))
            cur.execute("SET TimeZone = %s", (zone,))
            self.assertEqual(conn.get_parameter_status("application_name"),
                             "psycopg2_client_%d" % i)
            self.assertEqual(conn.get_parameter_status("TimeZone"), zone)
            conn.autocommit = False
            for r in range(ROUNDS):
                cur.execute("SELECT current_setting('application_name'), now()::text,"
                            " timestamptz '2024-01-15 12:00:00+00'::text, current_setting('TimeZone')")
                app, now, fixed, tz = cur.fetchone()
                self.assertEqual((app, fixed, tz), ("psycopg2_client_%d" % i, instant, zone))
                self.assertTrue(now.endswith(suffix), "now()::text %r in %s" % (now, zone))
                conn.commit() if r % 2 else conn.rollback()
                self.assertEqual(conn.get_parameter_status("TimeZone"), zone)
                self.assertEqual(conn.get_parameter_status("application_name"),
                                 "psycopg2_client_%d" % i)
            return True

        with self.backends() as mon:
            run_threads(client, self.N_CLIENTS)
        self.check_backends(mon)

    def test_reset_returns_to_startup_values(self):
        """RESET goes back to what the client's startup packet said, as on PostgreSQL itself."""
        default_tz = self.default_tz

        def client(i):
            zone = ZONES[i][0]
            conn = self.connect(autocommit=True, application_name="startup_%d" % i)
            cur = conn.cursor()
            for r in range(ROUNDS // 2):
                cur.execute("SET application_name = %s", ("psycopg2_client_%d_%d" % (i, r),))
                cur.execute("SET TimeZone = %s", (zone,))
                cur.execute("SELECT current_setting('application_name'),"
                            " current_setting('TimeZone')")
                self.assertEqual(cur.fetchone(), ("psycopg2_client_%d_%d" % (i, r), zone))
                cur.execute("RESET TimeZone")
                cur.execute("RESET application_name")
                cur.execute("SELECT current_setting('application_name'),"
                            " current_setting('TimeZone')")
                self.assertEqual(cur.fetchone(), ("startup_%d" % i, default_tz))
                self.assertEqual(conn.get_parameter_status("TimeZone"), default_tz)
                self.assertEqual(conn.get_parameter_status("application_name"),
                                 "startup_%d" % i)
            return True

        with self.backends() as mon:
            run_threads(client, self.N_CLIENTS)
        self.check_backends(mon)

    def test_statement_timeout_from_startup_options(self):
        def client(i):
            timed = i % 2 == 0
            kw = {"options": "-c statement_timeout=100"} if timed else {}
            conn = self.connect(autocommit=True, **kw)
            cur = conn.cursor()
            for r in range(3):
                cur.execute("SHOW statement_timeout")
                self.assertEqual(cur.fetchone(), ("100ms" if timed else "0",))
                if timed:
                    with self.assertRaises(psycopg2.errors.QueryCanceled) as cm:
                        cur.execute("SELECT pg_sleep(0.5)")
                    self.assertEqual(cm.exception.pgcode, "57014")
                    self.assertEqual(cm.exception.diag.message_primary,
                                     "canceling statement due to statement timeout")
                else:
                    cur.execute("SELECT pg_sleep(0.5), 'slept'")
                    self.assertEqual(cur.fetchone(), ("", "slept"))
                # in a transaction block too
                conn.autocommit = False
                cur.execute("SELECT current_setting('statement_timeout'), %s", (r,))
                self.assertEqual(cur.fetchone(), ("100ms" if timed else "0", r))
                conn.commit()
                conn.autocommit = True
            return True

        with self.backends() as mon:
            run_threads(client, self.N_CLIENTS)
        self.check_backends(mon)


if __name__ == "__main__":
    unittest.main()
