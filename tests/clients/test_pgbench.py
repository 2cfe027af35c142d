"""
test_pgbench: pgbench's default tpcb-like script (BEGIN; three UPDATEs, a SELECT and an INSERT;
END) with 32 clients on a pool of 4, for 10 s in each protocol mode: -M simple, -M extended and
-M prepared (named prepared statements, parsed once per connection). After each run: pgbench
exited 0 with "number of failed transactions: 0", every committed transaction left exactly one
row in pgbench_history, and the money adds up: sum(abalance) of pgbench_accounts, sum(bbalance) of
pgbench_branches and sum(tbalance) of pgbench_tellers all equal sum(delta) of pgbench_history.
The tables are made by `pgbench -i -s 2` directly on PostgreSQL.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clientlib  # noqa: E402
import harness  # noqa: E402

SECONDS = 10


class PgbenchTest(clientlib.PgbenchTestCase):
    N_CLIENTS = 32
    POOL_SIZE = 4

    def run_mode(self, mode):
        # one thread per client: pgbench -M prepared prepares with a blocking PQprepare, so a
        # thread that owns several clients deadlocks when the pool is smaller than the clients
        history_before = self.totals()[0]
        with self.backends() as mon:
            r = harness.run_pgbench(self.px, ["-n", "-M", mode, "-c", str(self.N_CLIENTS),
                                              "-j", str(self.N_CLIENTS), "-T", str(SECONDS)],
                                    timeout=SECONDS + 80)
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.failed, 0, r)
        self.assertIsNotNone(r.processed, r)
        self.assertGreater(r.processed, 0, r)
        self.assertEqual(r.stderr.strip(), "", r)
        self.assertIn("query mode: %s" % mode, r.stdout, r)
        self.assertIn("number of clients: %d" % self.N_CLIENTS, r.stdout, r)
        self.check_backends(mon)

        history, delta, abalance, bbalance, tbalance, accounts = self.totals()
        self.assertEqual(history - history_before, r.processed,
                         "pgbench_history rows added vs transactions pgbench counted")
        self.assertEqual(abalance, delta, "sum(abalance) vs sum(delta)")
        self.assertEqual(bbalance, delta, "sum(bbalance) vs sum(delta)")
        self.assertEqual(tbalance, delta, "sum(tbalance) vs sum(delta)")
        self.assertEqual(accounts, 200000)
        where = "direct" if clientlib.DIRECT else "%s, pool %d" % (clientlib.POOL_MODE,
                                                                   self.effective_pool)
        harness.log("pgbench -M %s -c %d -j %d -T %d (%s): %.0f tps, %d transactions"
                    % (mode, self.N_CLIENTS, self.N_CLIENTS, SECONDS, where, r.tps, r.processed))

    def test_pgbench_simple(self):
        self.run_mode("simple")

    def test_pgbench_extended(self):
        self.run_mode("extended")

    def test_pgbench_prepared(self):
        self.run_mode("prepared")


if __name__ == "__main__":
    unittest.main()
