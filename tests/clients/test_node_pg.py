"""
test_node_pg: node-postgres (npm `pg`, pinned in tests/clients/node/package-lock.json) with a Pool
of 8 clients on a pool of 2: named prepared statements (`name:`), parameterized queries of many
types, transactions (with an error inside one) and many queries issued on one client without
awaiting each. The checks run in tests/clients/node/node_pg.js (node:assert, exact values); this
program starts PostgreSQL and pgsift, runs one node process per test and checks its exit status
and summary line. Needs tests/clients/setup-node.sh (npm ci) first.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clientlib  # noqa: E402


class NodePgTest(clientlib.NodeTestCase):
    SCRIPT = "node_pg.js"
    PACKAGE = "pg"
    TABLE = "npg_t"

    def test_named_statements(self):
        self.assertEqual(self.node("named"),
                         "named: 8 clients, 640 named queries ok")
        self.assertEqual(self.pg.query("SELECT client, count(*) FROM npg_t GROUP BY 1 ORDER BY 1"),
                         [(i, 20) for i in range(self.N_CLIENTS)])

    def test_parameterized_queries(self):
        self.assertEqual(self.node("params"),
                         "params: 8 clients, 320 parameterized queries ok")

    def test_transactions(self):
        self.check_transactions("transaction: 8 clients, 480 transactions ok")

    def test_pipelined_queries(self):
        self.assertEqual(self.node("pipeline"),
                         "pipeline: 8 clients, 1200 pipelined queries ok")


if __name__ == "__main__":
    unittest.main()
