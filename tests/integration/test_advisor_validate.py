"""
test_advisor_validate: `pgsift suggest --validate` (HypoPG) must not throw good advice away
(issue 12, class 12). A suggestion that cannot be validated for a technical reason (a statement
with more parameters than were sampled, a GIN index HypoPG cannot cost) is kept and marked with
why, and the saving required of it (advisor_min_saving_pct, and --write-heavy-saving-pct on a
write-heavy table) is printed in the evidence. Also: the evidence names, per statement, the
access path the index gives it (equality prefix, range, sort, partial predicate) in every output
format.

A real PostgreSQL 15 with hypopg and pg_trgm, statements through --queries (JSON lines).
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SCHEMA = """
CREATE EXTENSION hypopg;
CREATE EXTENSION pg_trgm;
CREATE TABLE items (id bigserial PRIMARY KEY, owner_id int NOT NULL, tag int NOT NULL,
  created_at timestamptz NOT NULL, note text);
INSERT INTO items (owner_id, tag, created_at, note)
  SELECT n % 20000, n % 997, now() - n * interval '1 minute', 'note ' || n
  FROM generate_series(1, 200000) n;
CREATE TABLE docs (id serial PRIMARY KEY, title text NOT NULL, tsv tsvector);
INSERT INTO docs (title, tsv) SELECT 'title ' || n, to_tsvector('simple', 'word' || (n % 5000))
  FROM generate_series(1, 50000) n;
ANALYZE;
"""


def suggest(dsn, lines, extra=()):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for q in lines:
            f.write(json.dumps(q) + "\n")
        path = f.name
    try:
        r = subprocess.run([harness.PGSIFT_BIN, "suggest", "--queries", path, "--dsn", dsn]
                           + list(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=300)
        return r.returncode, r.stdout.decode(), r.stderr.decode()
    finally:
        os.unlink(path)


class AdvisorValidate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.pg()
        cls.srv.query("CREATE DATABASE advvalidate")
        rc, out, err = harness.run_psql(cls.srv, SCHEMA, dbname="advvalidate", timeout=300)
        assert rc == 0, err
        cls.dsn = cls.srv.dsn(dbname="advvalidate")

    def test_more_parameters_than_sampled_is_kept(self):
        """70 parameters, 64 sampled: the suggestion stays, costed with a generic plan or
        marked as not validated, never rejected for "EXPLAIN failed"."""
        params = ["$%d" % (i + 2) for i in range(68)]
        # $70 has no type the server can infer without its value: PREPARE fails
        q = ("SELECT * FROM items WHERE owner_id = $1 AND tag IN (%s) AND ($70 IS NULL OR "
             "note <> '')" % ", ".join(params))
        code, out, err = suggest(self.dsn, [{"query": q, "calls": 500,
                                             "params": [str(i) for i in range(64)]}],
                                 ["--validate", "--format", "json"])
        self.assertEqual(code, 0, err)
        doc = json.loads(out)
        self.assertEqual([s["sql"] for s in doc["suggestions"]], [
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_items_owner_id_tag ON public.items "
            "USING btree (owner_id, tag);"], out)
        self.assertEqual(doc["rejected"], [])
        notes = doc["suggestions"][0]["notes"]
        self.assertTrue(any(n.startswith("not validated: the planner could not cost") and
                            "kept" in n for n in notes), notes)

    def test_gin_is_kept_and_marked(self):
        code, out, err = suggest(self.dsn, [
            {"query": "SELECT id FROM docs WHERE tsv @@ to_tsquery('simple', 'word42')",
             "calls": 300},
            {"query": "SELECT id FROM docs WHERE title ILIKE '%' || $1 || '%'", "calls": 200}],
            ["--validate", "--format", "json"])
        self.assertEqual(code, 0, err)
        doc = json.loads(out)
        got = {s["sql"]: s["notes"] for s in doc["suggestions"]}
        self.assertEqual(sorted(got), [
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_docs_title_trgm ON public.docs USING "
            "gin (title gin_trgm_ops);",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_docs_tsv_gin ON public.docs USING gin "
            "(tsv);"], out)
        for notes in got.values():
            self.assertIn("not validated: HypoPG cannot cost GIN indexes; kept on the "
                          "syntax's evidence", notes)
        self.assertEqual(doc["rejected"], [])

    def test_thresholds_printed_and_access_paths(self):
        """The saving asked of a suggestion is printed with the setting it comes from; each
        statement's access path is named in every format."""
        lines = [
            {"query": "SELECT * FROM items WHERE owner_id = $1 ORDER BY created_at DESC "
                      "LIMIT 20", "calls": 1000, "params": ["42"]},
            {"query": "UPDATE items SET note = $1 WHERE id = $2", "calls": 5000,
             "params": ["x", "7"]},
        ]
        code, out, err = suggest(self.dsn, lines, ["--validate", "--format", "json"])
        self.assertEqual(code, 0, err)
        doc = json.loads(out)
        self.assertEqual(len(doc["suggestions"]), 1, out)
        s = doc["suggestions"][0]
        self.assertEqual(s["sql"], "CREATE INDEX CONCURRENTLY IF NOT EXISTS "
                         "idx_items_owner_id_created_at ON public.items USING btree "
                         "(owner_id, created_at DESC);")
        # 5000 writes against 1000 reads: write-heavy, so the write-heavy threshold applies
        self.assertEqual(s["required_saving_pct"], 50)
        self.assertTrue(any("write-heavy table (5000 write statements against 1000 reads): "
                            "needs a saving of 50% (--write-heavy-saving-pct)" in n
                            for n in s["notes"]), s["notes"])
        self.assertEqual(s["statements"][0]["access_path"],
                         "equality (owner_id), then sort (created_at DESC)")
        for fmt in ("sql", "csv", "markdown"):
            code, out, err = suggest(self.dsn, lines, ["--validate", "--format", fmt])
            self.assertEqual(code, 0, err)
            self.assertIn("equality (owner_id), then sort (created_at DESC)", out, fmt)
            self.assertIn("50%", out, fmt)


if __name__ == "__main__":
    unittest.main(verbosity=2)
