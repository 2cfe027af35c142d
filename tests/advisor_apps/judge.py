"""
judge: scores an advisor's indexes against an app's reference indexes, with the planner.

Every distinct index (reference or suggested) is built once, for real; a configuration (no
secondary index, the reference set, one index alone, an advisor's set) is costed inside a
transaction that drops the indexes outside it, EXPLAINs every statement (each with a few fixed
samples of parameters, as literals) and rolls back. A statement's cost is the mean of its samples'
total costs; the weighted cost of a configuration is the sum of weight x cost.

- A reference index R serves statement s when, created alone, EXPLAIN of s uses it and s gets
  cheaper than with no secondary index (by more than 1%). R is *needed* when it serves something
  and the planner uses it for some statement with the whole reference set (an index the rest of
  the set makes redundant is not needed).
- R's job is the statement it matters most for: of the statements it serves, preferring those
  reference_indexes.sql names for it and those whose plan uses R with the whole reference set,
  the one with the largest weight x (cost with no index - cost with R alone).
- A suggestion X *finds* R when X is on R's table and, created alone, EXPLAIN uses X for R's job
  and that statement is at least as cheap as with R alone (0.1% of float tolerance), sample by
  sample: on every parameter sample where R alone is used and saves something (so an index on
  the user column does not pass for a search index that the hot user's search needs). One
  suggestion may find several reference indexes (an index that merges two jobs well).
- Suggestions that are the same index (after PostgreSQL normalizes the definition) count once.
- recall = needed reference indexes found / needed reference indexes;
  precision = suggestions that find a needed reference index / suggestions.
"""
import json
import re

import psycopg2

IMPROVE = 0.99       # R serves s when cost(R alone) < IMPROVE x cost(none)
TOLERANCE = 1.001    # X finds R when cost(X alone) <= TOLERANCE x cost(R alone)
CREATE_RE = re.compile(r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+(CONCURRENTLY\s+)?(IF\s+NOT\s+EXISTS\s+)?"
                       r"(?:(?!ON\s)\S+\s+)?ON\s+(ONLY\s+)?(.*?);?\s*$", re.I | re.S)


def index_names(plan):
    out = set()
    if isinstance(plan, dict):
        if "Index Name" in plan:
            out.add(plan["Index Name"])
        for v in plan.values():
            out |= index_names(v)
    elif isinstance(plan, list):
        for v in plan:
            out |= index_names(v)
    return out


class Judge:
    def __init__(self, dsn, stmts, pool, samples=3, seed=7):
        import random
        self.conn = psycopg2.connect(dsn)
        self.conn.autocommit = True
        cur = self.conn.cursor()
        cur.execute("SET max_parallel_workers_per_gather = 0")
        # a judge owns the database's secondary indexes: an earlier judge's go first
        cur.execute("SELECT indexrelid::regclass::text FROM pg_index JOIN pg_class c ON c.oid = indexrelid "
                    "WHERE c.relname LIKE 'judge\\_ix\\_%'")
        for (name,) in cur.fetchall():
            cur.execute("DROP INDEX %s" % name)
        self.stmts = stmts
        self.samples = {}
        rnd = random.Random(seed)
        for s in stmts:
            self.samples[s.name] = [cur.mogrify(s.pyformat, s.values(pool, rnd)).decode()
                                    for _ in range(samples)]
        self.phys = {}      # normalized definition -> physical index name
        self.errors = {}    # definition -> why it could not be built
        self.cache = {}
        self.per_sample = {}  # (config, statement) -> [(cost, indexes used)] per sample
        self.n = 0

    def close(self):
        self.conn.close()

    def build(self, definition):
        """The physical index for a CREATE INDEX statement or a `table (cols)` tail; None when
        PostgreSQL refuses it (the reason is in self.errors)."""
        m = CREATE_RE.match(definition)
        tail = m.group(5) if m else definition
        unique = "UNIQUE " if m and m.group(1) else ""
        self.n += 1
        name = "judge_ix_%d" % self.n
        cur = self.conn.cursor()
        try:
            cur.execute("CREATE %sINDEX %s ON %s" % (unique, name, tail))
        except psycopg2.Error as e:
            self.errors[definition] = str(e).strip().splitlines()[0]
            return None
        cur.execute("SELECT pg_get_indexdef(%s::regclass)", (name,))
        norm = re.sub(r"INDEX \S+ ON", "INDEX ON", cur.fetchone()[0])
        if norm in self.phys:
            cur.execute("DROP INDEX %s" % name)
            return self.phys[norm]
        self.phys[norm] = name
        self.cache.clear()
        return name

    def definition(self, name):
        for norm, n in self.phys.items():
            if n == name:
                return norm.replace("CREATE INDEX ON public.", "").replace("CREATE UNIQUE INDEX ON public.", "UNIQUE ")
        return name

    def analyze(self):
        self.conn.cursor().execute("ANALYZE")

    def costs(self, config):
        """{stmt name: (mean total cost, set of index names used)} with only the physical
        indexes in config (besides primary and unique keys)."""
        key = frozenset(config)
        if key in self.cache:
            return self.cache[key]
        self.conn.autocommit = False
        cur = self.conn.cursor()
        out = {}
        try:
            for name in self.phys.values():
                if name not in key:
                    cur.execute("DROP INDEX %s" % name)
            for s in self.stmts:
                total, used, per = 0.0, set(), []
                for sql in self.samples[s.name]:
                    cur.execute("EXPLAIN (FORMAT JSON) " + sql)
                    plan = cur.fetchone()[0]
                    if isinstance(plan, str):
                        plan = json.loads(plan)
                    c, u = plan[0]["Plan"]["Total Cost"], index_names(plan)
                    total += c
                    used |= u
                    per.append((c, u))
                out[s.name] = (total / len(self.samples[s.name]), used)
                self.per_sample[(key, s.name)] = per
        finally:
            self.conn.rollback()
            self.conn.autocommit = True
        self.cache[key] = out
        return out

    def weighted(self, costs):
        return sum(s.weight * costs[s.name][0] for s in self.stmts)

    def reference(self, refs):
        """Builds the reference indexes from [(definition, [statement names])]."""
        self.ref = [(d, self.build(d)) for d, _ in refs]
        self.ref_named = {d: set(named) for d, named in refs}
        return self.ref

    def table_of(self, name):
        cur = self.conn.cursor()
        cur.execute("SELECT indrelid::regclass::text FROM pg_index WHERE indexrelid = %s::regclass",
                    (name,))
        return cur.fetchone()[0]

    def ref_used(self, name):
        """The statements whose plan uses index `name` with the whole reference set."""
        refset = self.costs([n for _, n in self.ref if n])
        return {s for s, (_, used) in refset.items() if name in used}

    def job(self, d, served):
        """R's job: the statement (of those it serves) it matters most for; see the module comment."""
        none = self.costs(())
        weight = {s.name: s.weight for s in self.stmts}
        named = self.ref_named.get(d, set())
        used = self.ref_used(dict(self.ref)[d])
        cands = ([s for s in served if s in named and s in used] or
                 [s for s in served if s in used] or
                 [s for s in served if s in named] or list(served))
        return max(sorted(cands), key=lambda s: weight[s] * (none[s][0] - served[s]))

    def does_job(self, x, r, s):
        """Whether index x alone makes statement s at least as cheap as index r alone on every
        sample where r is used and saves something, and is used itself on one of them."""
        self.costs(()), self.costs((r,)), self.costs((x,))
        none = self.per_sample[(frozenset(), s)]
        rs = self.per_sample[(frozenset((r,)), s)]
        xs = self.per_sample[(frozenset((x,)), s)]
        ks = [k for k in range(len(rs)) if r in rs[k][1] and rs[k][0] < IMPROVE * none[k][0]]
        ks = ks or list(range(len(rs)))
        return (any(x in xs[k][1] for k in ks) and
                all(xs[k][0] <= TOLERANCE * rs[k][0] + 1e-6 for k in ks))

    def serves(self, name):
        """{stmt: cost} of the statements index `name` alone serves."""
        none = self.costs(())
        alone = self.costs((name,))
        return {s: c for s, (c, used) in alone.items()
                if name in used and c < IMPROVE * none[s][0]}

    def evaluate(self, suggestions):
        """Scores a list of CREATE INDEX statements against the reference built by reference()."""
        sugg, seen = [], set()
        for d in suggestions:
            n = self.build(d)
            if n is not None and n in seen:
                continue
            seen.add(n)
            sugg.append((d, n))
        ref_names = [n for _, n in self.ref if n]
        none = self.costs(())
        refset = self.costs(ref_names)
        mine = self.costs([n for _, n in sugg if n])
        needed = []
        for d, n in self.ref:
            served = self.serves(n) if n else {}
            if served and self.ref_used(n):
                needed.append((d, n, served))
        found = {}
        hits = {}
        for d, n in sugg:
            hits[d] = []
            if not n:
                continue
            alone = self.costs((n,))
            for rd, rn, served in needed:
                if self.table_of(n) != self.table_of(rn):
                    continue
                s = self.job(rd, served)
                if self.does_job(n, rn, s):
                    found.setdefault(rd, []).append((d, s))
                    hits[d].append(rd)
        correct = sum(1 for d in hits if hits[d])
        # for each needed reference index nobody found: the same-table suggestion that comes
        # closest on its job (cost alone), to say what was suggested instead
        closest = {}
        for rd, rn, served in needed:
            if rd in found:
                continue
            s = self.job(rd, served)
            best = None
            for d, n in sugg:
                if n and self.table_of(n) == self.table_of(rn):
                    c, used = self.costs((n,))[s]
                    if best is None or c < best[1]:
                        best = (d, c, n in used)
            closest[rd] = (s, served[s], best)
        return {
            "needed": [(d, sorted(served)) for d, _, served in needed],
            "jobs": {d: self.job(d, served) for d, _, served in needed},
            "closest": closest,
            "errors": {d: self.errors.get(d, "") for d, n in sugg if not n},
            "unneeded": [d for d, n in self.ref if d not in {x for x, _, _ in needed}],
            "found": found,
            "recall": (len(found), len(needed)),
            "precision": (correct, len(sugg)),
            "suggestions": [(d, n, hits[d]) for d, n in sugg],
            "cost_none": self.weighted(none),
            "cost_ref": self.weighted(refset),
            "cost_mine": self.weighted(mine),
            "mine_costs": mine,
            "ref_costs": refset,
            "none_costs": none,
            "served_by": {d: served for d, _, served in needed},
        }
