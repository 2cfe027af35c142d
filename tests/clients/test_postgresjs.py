"""
test_postgresjs: postgres.js (npm `postgres`, pinned in tests/clients/node/package-lock.json) with
its defaults (named prepared statements for every query, pipelining on busy connections), max 8
connections, 8 concurrent workers on a pool of 2: tagged-template queries with parameters of
several types, several in flight per worker; transactions with sql.begin (committed, rolled back
by an exception, an error inside, queries pipelined inside); server errors then going on. The
checks run in tests/clients/node/postgresjs.js (node:assert, exact values); this program starts
PostgreSQL and pgsift and checks each node run's exit status and summary line. Needs
tests/clients/setup-node.sh (npm ci) first.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clientlib  # noqa: E402


class PostgresJsTest(clientlib.NodeTestCase):
    SCRIPT = "postgresjs.js"
    PACKAGE = "postgres"
    TABLE = "pjs_t"

    def test_tagged_template_queries(self):
        self.assertEqual(self.node("queries"),
                         "queries: 8 workers, 640 queries ok")
        self.assertEqual(self.pg.query("SELECT client, count(*), sum(k) FROM pjs_t"
                                       " GROUP BY 1 ORDER BY 1"),
                         [(i, 20, sum(range(20))) for i in range(self.N_CLIENTS)])

    def test_transactions(self):
        self.check_transactions("transaction: 8 workers, 480 transactions ok")

    def test_errors_then_continue(self):
        self.assertEqual(self.node("errors"),
                         "errors: 8 workers, 640 queries ok")


if __name__ == "__main__":
    unittest.main()
