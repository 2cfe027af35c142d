"""
test_issue11_pgbench: issue 11 §3, pgbench -M prepared with fewer threads than clients. pgbench
prepares its statements with a blocking PQprepare per client, so one thread that owns several
clients waits on one client's Parse while the others hold the pool's servers in their
transactions: through a pool smaller than the clients this deadlocked. With 32 clients on a pool
of 4 (transaction pooling), -j 2 and -j 1, -t 200 each, pgbench must finish (a deadline fails the
test instead of hanging), with no failed transaction, exactly 32 x 200 transactions, one
pgbench_history row each, and the balances consistent (sum of deltas = sum of each balance
column). Through pgsift only (PostgreSQL itself has no pool to deadlock on).

    PGSIFT_BIN=build/pgsift /usr/bin/python3 tests/clients/test_issue11_pgbench.py [-v]
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clientlib  # noqa: E402
import harness  # noqa: E402

CLIENTS = 32
TRANSACTIONS = 200
DEADLINE = 60


class Issue11PgbenchTest(clientlib.PgbenchTestCase):
    N_CLIENTS = CLIENTS
    POOL_SIZE = 4

    def run_prepared(self, threads, extra=()):
        history_before = self.totals()[0]
        args = ["-n", "-M", "prepared", "-c", str(CLIENTS), "-j", str(threads),
                "-t", str(TRANSACTIONS)] + list(extra)
        with self.backends() as mon:
            p = harness.start_pgbench(self.px, args)
            r = harness.finish_pgbench(p, DEADLINE)
        where = "%s, pool %d" % (clientlib.mode_name(), self.effective_pool)
        self.assertEqual(r.returncode, 0, "pgbench %s (%s): %r" % (" ".join(args), where, r))
        self.assertEqual(r.failed, 0, r)
        self.assertEqual(r.processed, CLIENTS * TRANSACTIONS, r)
        self.assertEqual(r.stderr.strip(), "", r)
        self.check_backends(mon)
        history, delta, abalance, bbalance, tbalance, _accounts = self.totals()
        self.assertEqual(history - history_before, CLIENTS * TRANSACTIONS,
                         "pgbench_history rows added vs transactions")
        self.assertEqual((abalance, bbalance, tbalance), (delta, delta, delta),
                         "sum(abalance), sum(bbalance), sum(tbalance) vs sum(delta)")
        harness.log("pgbench -M prepared -c %d -j %d -t %d (%s): %.0f tps"
                    % (CLIENTS, threads, TRANSACTIONS, where, r.tps or 0))

    def test_prepared_j2(self):
        self.run_prepared(2)

    def test_prepared_j1(self):
        self.run_prepared(1)

    def test_prepared_select_only_j1(self):
        # -S: every transaction is one prepared SELECT, so Parses and Binds interleave tightly
        history_before = self.totals()[0]
        args = ["-n", "-S", "-M", "prepared", "-c", str(CLIENTS), "-j", "1",
                "-t", str(TRANSACTIONS)]
        p = harness.start_pgbench(self.px, args)
        r = harness.finish_pgbench(p, DEADLINE)
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.failed, 0, r)
        self.assertEqual(r.processed, CLIENTS * TRANSACTIONS, r)
        self.assertEqual(self.totals()[0], history_before)


if __name__ == "__main__":
    unittest.main()
