"""
test_psql: psql, 8 processes at once on a pool of 2. Each runs a script of rounds with explicit
transactions (committed and rolled back), SET outside a transaction (application_name, TimeZone,
extra_float_digits: they must hold in every later transaction, whichever server runs it), SET LOCAL
and a SET in a rolled-back transaction (they must not), multi-statement queries (psql's \\;, one
Query message: three results, and an implicit transaction rolled back as a whole by its error),
and \\copy in and out, also inside a rolled-back transaction. Every line psql prints is compared
with the exact expected output, and stderr holds exactly the errors the script provokes.
"""

import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clientlib  # noqa: E402
import harness  # noqa: E402

ROUNDS = 8
COPY_ROWS = 50
# Zones without daylight saving time, so the offset of a fixed instant is known exactly.
ZONES = [("Asia/Tokyo", "2024-01-15 21:00:00+09"), ("Asia/Kolkata", "2024-01-15 17:30:00+05:30"),
         ("UTC", "2024-01-15 12:00:00+00"), ("Asia/Dubai", "2024-01-15 16:00:00+04"),
         ("Asia/Shanghai", "2024-01-15 20:00:00+08"),
         ("Asia/Kathmandu", "2024-01-15 17:45:00+05:45"),
         ("Pacific/Honolulu", "2024-01-15 02:00:00-10"),
         ("America/Panama", "2024-01-15 07:00:00-05")]


class Script:
    """A psql script and the exact stdout it must produce, built side by side."""

    def __init__(self):
        self.lines = []
        self.expected = []

    def add(self, sql, *out):
        self.lines.append(sql)
        self.expected.extend(out)

    def text(self):
        return "\n".join(self.lines) + "\n"


def client_script(i, infile, outfiles):
    zone, instant = ZONES[i % len(ZONES)]
    sum_float = "0.3" if i % 2 else "0.30000000000000004"
    s = Script()
    # Session state set outside any transaction.
    s.add("SET application_name = 'psql_client_%d';" % i)
    s.add("SET TimeZone = '%s';" % zone)
    if i % 2:
        s.add("SET extra_float_digits = 0;")
    for r in range(ROUNDS):
        s.add("BEGIN;")
        s.add("INSERT INTO psql_t VALUES (%d, %d, 'rolled back');" % (i, r))
        s.add("SELECT count(*) FROM psql_t WHERE client = %d AND note = 'rolled back';" % i, "1")
        s.add("ROLLBACK;")
        s.add("SELECT count(*) FROM psql_t WHERE client = %d AND note = 'rolled back';" % i, "0")
        s.add("BEGIN;")
        s.add("INSERT INTO psql_t VALUES (%d, %d, 'committed');" % (i, r))
        s.add("COMMIT;")
        s.add("SELECT count(*), sum(n) FROM psql_t WHERE client = %d AND note = 'committed';" % i,
              "%d|%d" % (r + 1, sum(range(r + 1))))
        s.add("SELECT current_setting('application_name'), timestamptz '2024-01-15 12:00:00+00',"
              " 0.1::float8 + 0.2::float8, pg_backend_pid() > 0;",
              "psql_client_%d|%s|%s|t" % (i, instant, sum_float))
        # SET LOCAL lasts until the end of its transaction; a SET rolled back never happened.
        s.add("BEGIN;")
        s.add("SET LOCAL work_mem = '%dkB';" % (1000 + i))
        s.add("SHOW work_mem;", "%dkB" % (1000 + i))
        s.add("COMMIT;")
        s.add("SHOW work_mem;", "4MB")
        s.add("BEGIN;")
        s.add("SET work_mem = '%dkB';" % (2000 + i))
        s.add("SHOW work_mem;", "%dkB" % (2000 + i))
        s.add("ROLLBACK;")
        s.add("SHOW work_mem;", "4MB")
        # Multi-statement queries: one Query message, three results; then an implicit
        # transaction whose second statement fails, taking the first one with it.
        s.add("SELECT %d \\; SELECT %d * %d \\; SELECT 'client %d round %d';" % (i, i, r, i, r),
              str(i), str(i * r), "client %d round %d" % (i, r))
        s.add("INSERT INTO psql_t VALUES (%d, %d, 'implicit') \\; SELECT 1/0;" % (i, r))
        s.add("SELECT count(*) FROM psql_t WHERE client = %d AND note = 'implicit';" % i, "0")
        # An error inside an explicit transaction, then ROLLBACK and go on.
        s.add("BEGIN;")
        s.add("SELECT 'before the error';", "before the error")
        s.add("SELECT no_such_column FROM psql_t;")
        s.add("SELECT 'ignored';")
        s.add("ROLLBACK;")
        # COPY in, COPY in a rolled-back transaction, COPY out.
        s.add("\\copy psql_t (client, n, note) FROM '%s' WITH (FORMAT csv)" % infile)
        s.add("SELECT count(*), sum(n) FROM psql_t WHERE client = %d AND note = 'copy';" % i,
              "%d|%d" % (COPY_ROWS * (r + 1), (r + 1) * sum(range(COPY_ROWS))))
        s.add("BEGIN;")
        s.add("\\copy psql_t (client, n, note) FROM '%s' WITH (FORMAT csv)" % infile)
        s.add("SELECT count(*) FROM psql_t WHERE client = %d AND note = 'copy';" % i,
              str(COPY_ROWS * (r + 2)))
        s.add("ROLLBACK;")
        s.add("SELECT count(*) FROM psql_t WHERE client = %d AND note = 'copy';" % i,
              str(COPY_ROWS * (r + 1)))
        s.add("\\copy (SELECT n, note FROM psql_t WHERE client = %d AND note = 'committed' "
              "ORDER BY n) TO '%s' WITH (FORMAT csv)" % (i, outfiles[r]))
    return s


# Per round: the implicit transaction's division by zero, the undefined column, and the statement
# sent in the aborted transaction. LOCATION lines are left out of the comparison.
ROUND_ERRORS = ["ERROR:  22012: division by zero",
                'ERROR:  42703: column "no_such_column" does not exist',
                "LINE 1: SELECT no_such_column FROM psql_t;",
                "               ^",
                "ERROR:  25P02: current transaction is aborted, commands ignored until end of "
                "transaction block"]


class PsqlTest(clientlib.ClientTestCase):
    N_CLIENTS = 8
    POOL_SIZE = 2

    @classmethod
    def prepare_database(cls):
        cls.pg.query("CREATE TABLE psql_t (client int NOT NULL, n int NOT NULL, note text)")

    def setUp(self):
        self.pg.query("TRUNCATE psql_t")
        self.tmp = tempfile.mkdtemp(prefix="pgsift-clients-psql-")
        self.addCleanup(harness.shutil.rmtree, self.tmp, True)

    def test_psql_8_clients_transactions_set_multistatement_copy(self):
        n = self.N_CLIENTS
        scripts, outfiles = [], []
        for i in range(n):
            infile = os.path.join(self.tmp, "in_%d.csv" % i)
            with open(infile, "w") as f:
                f.write("".join("%d,%d,copy\n" % (i, k) for k in range(COPY_ROWS)))
            outs = [os.path.join(self.tmp, "out_%d_%d.csv" % (i, r)) for r in range(ROUNDS)]
            outfiles.append(outs)
            scripts.append(client_script(i, infile, outs))

        def client(i):
            return harness.run_psql(self.px, scripts[i].text(), timeout=clientlib.CLIENT_TIMEOUT)

        with self.backends() as mon:
            results = clientlib.run_threads(client, n)
        for i, (rc, out, err) in enumerate(results):
            self.assertEqual(rc, 0, "client %d: rc %d, stderr:\n%s" % (i, rc, err))
            diff = clientlib.first_difference(out.splitlines(), scripts[i].expected)
            if diff:
                self.fail("client %d (%s): stdout differs: %s\nstderr:\n%s"
                          % (i, clientlib.mode_name(), diff, err[-2000:]))
            errors = [l for l in err.splitlines() if not re.match(r"LOCATION:  ", l)]
            self.assertEqual(errors, ROUND_ERRORS * ROUNDS, "client %d stderr" % i)
            for r in range(ROUNDS):
                with open(outfiles[i][r]) as f:
                    self.assertEqual(f.read(), "".join("%d,committed\n" % k
                                                       for k in range(r + 1)))
        self.check_backends(mon)

        rows = self.pg.query("SELECT client, note, count(*), sum(n) FROM psql_t "
                             "GROUP BY client, note ORDER BY client, note")
        want = []
        for i in range(n):
            want.append((i, "committed", ROUNDS, sum(range(ROUNDS))))
            want.append((i, "copy", ROUNDS * COPY_ROWS, ROUNDS * sum(range(COPY_ROWS))))
        self.assertEqual(rows, want)


if __name__ == "__main__":
    unittest.main()
