"""
test_smoke (ctest advisor_apps_smoke): the mechanics of the advisor_apps judge, on the feeds app
at a small scale (20k entries) and four of its statements, with exact expectations:
  - the reference set given as the "suggestions" finds every needed reference index (recall and
    precision 100%) and costs exactly what the reference costs (ratio 1.0);
  - no suggestion: recall 0 of 3, the cost of no secondary index;
  - an index no statement uses: precision 0 of 1;
  - the same index twice (another name, CONCURRENTLY IF NOT EXISTS) counts once;
  - the pipeline runs: statements through pgsift in transaction pooling with both protocols,
    `pgsift suggest` and pg_qualstats_index_advisor() answer and their indexes parse.
It does not judge the advisor's quality (tests/advisor_apps/run.sh does, not in ctest).
"""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import appkit  # noqa: E402
import judge as judgemod  # noqa: E402


class JudgeSmoke(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = appkit.start_postgres()
        cls.app_dir = os.path.join(HERE, "feeds")
        cls.mod = appkit.load_module(cls.app_dir)
        appkit.load_app(cls.srv, cls.app_dir, "smoke_feeds", "0.05")
        cls.pool = appkit.pools(cls.srv, "smoke_feeds", cls.mod)
        want = set(cls.mod.SMOKE["statements"])
        cls.stmts = [s for s in cls.mod.STATEMENTS if s.name in want]
        refs = dict(appkit.read_reference(cls.app_dir))
        cls.refs = [(d, refs[d]) for d in cls.mod.SMOKE["reference"]]

    def judge(self):
        j = judgemod.Judge(self.srv.dsn(dbname="smoke_feeds"), self.stmts, self.pool)
        self.addCleanup(j.close)
        j.reference(self.refs)
        return j

    def test_scale(self):
        rows = dict(appkit.table_rows(self.srv, "smoke_feeds"))
        self.assertEqual(rows["entries"], 20000)
        self.assertEqual(len(self.stmts), 4)

    def test_reference_as_suggestions(self):
        j = self.judge()
        res = j.evaluate(["CREATE INDEX ON " + d for d, _ in self.refs])
        print("reference as suggestions:", res["recall"], res["precision"], res["cost_none"],
              res["cost_mine"], res["cost_ref"], res["jobs"])
        self.assertEqual(res["recall"], (3, 3))
        self.assertEqual(res["precision"], (3, 3))
        self.assertEqual(res["unneeded"], [])
        self.assertEqual(res["cost_mine"], res["cost_ref"])
        self.assertLess(res["cost_ref"], res["cost_none"])
        self.assertEqual(res["jobs"]["enclosures (entry_id)"], "enclosures_for_entries")

    def test_no_suggestion(self):
        j = self.judge()
        res = j.evaluate([])
        self.assertEqual(res["recall"], (0, 3))
        self.assertEqual(res["precision"], (0, 0))
        self.assertEqual(res["found"], {})
        self.assertEqual(res["cost_mine"], res["cost_none"])

    def test_useless_and_duplicate(self):
        j = self.judge()
        res = j.evaluate(["CREATE INDEX ON public.entries USING btree (reading_time)"])
        self.assertEqual(res["recall"], (0, 3))
        self.assertEqual(res["precision"], (0, 1))
        res = j.evaluate(["CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON public.enclosures USING btree (entry_id)",
                          "CREATE INDEX ON enclosures (entry_id)"])
        self.assertEqual(res["recall"], (1, 3))
        self.assertEqual(res["precision"], (1, 1))
        self.assertEqual(list(res["found"]), ["enclosures (entry_id)"])
        # a suggestion PostgreSQL refuses counts as a wrong one
        res = j.evaluate(["CREATE INDEX ON public.entries USING gin (title gist_trgm_ops)"])
        self.assertEqual(res["precision"], (0, 1))

    def test_pipeline(self):
        self.srv.query("SELECT pg_qualstats_reset()", dbname="smoke_feeds")
        px = appkit.start_pgsift(self.srv)
        try:
            rep = appkit.replay(px, "smoke_feeds", self.stmts, self.pool, rounds=1)
            calls = sum(s.weight for s in self.stmts)
            self.assertEqual(rep["simple"], (calls, 0), rep["error_samples"])
            self.assertEqual(rep["extended"], (calls, 0), rep["error_samples"])
            appkit.wait_counted(px, "smoke_feeds", 2 * calls)
            doc, qs = appkit.qualstats_advice(self.srv, "smoke_feeds")
            self.assertIn("indexes", doc)
            cmd, out, sug = appkit.pgsift_suggest(px, self.srv, "smoke_feeds")
            for d in sug + qs:
                self.assertRegex(d, r"^CREATE (UNIQUE )?INDEX ")
        finally:
            px.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
