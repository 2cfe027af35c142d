"""
run_apps: measures pgsift's index advice on the application workloads of tests/advisor_apps
(issue 12), side by side with pg_qualstats on the same statement stream.

For each app: load schema + data into a fresh database of a throwaway PostgreSQL 15 (pg_qualstats
preloaded, sample_rate 1), reset pg_qualstats, start pgsift in transaction pooling in front of it,
replay the weighted statements through pgsift with psycopg2 (simple protocol) and psycopg 3
(extended protocol) at the same time, then ask
  - pgsift suggest --admin <console> --dsn <db> --format sql
  - pgsift suggest --admin <console> --dsn <db> --format sql --validate
  - pg_qualstats_index_advisor()
and judge each answer with judge.py against reference_indexes.sql. Writes a markdown report.

    /usr/bin/python3 tests/advisor_apps/run_apps.py [--apps feeds,tracker] [--scale 1]
                     [--rounds 1] [--out FILE]
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import appkit  # noqa: E402
import judge as judgemod  # noqa: E402


def pct(a, b):
    return "-" if b == 0 else "%d%%" % round(100.0 * a / b)


def run_app(srv, app, scale, rounds, log):
    app_dir = os.path.join(HERE, app)
    mod = appkit.load_module(app_dir)
    stmts = mod.STATEMENTS
    dbname = "app_" + app
    t0 = time.monotonic()
    secs = appkit.load_app(srv, app_dir, dbname, scale)
    log("%s: loaded in %.0f s" % (app, secs))
    pool = appkit.pools(srv, dbname, mod)
    rows = appkit.table_rows(srv, dbname)
    srv.query("SELECT pg_qualstats_reset()", dbname=dbname)
    px = appkit.start_pgsift(srv)
    try:
        t1 = time.monotonic()
        rep = appkit.replay(px, dbname, stmts, pool, rounds)
        log("%s: replayed %s in %.0f s" % (app, {k: v for k, v in rep.items() if k != "error_samples"},
                                            time.monotonic() - t1))
        for e in rep["error_samples"][:10]:
            log("  error: " + e)
        calls = rep["simple"][0] + rep["extended"][0]
        appkit.wait_counted(px, dbname, calls)
        qs_doc, qs = appkit.qualstats_advice(srv, dbname)
        cmd_s, out_s, sug = appkit.pgsift_suggest(px, srv, dbname)
        cmd_v, out_v, val = appkit.pgsift_suggest(px, srv, dbname, validate=True)
    finally:
        px.stop()
    log("%s: pgsift suggest %d, --validate %d, pg_qualstats %d indexes" %
        (app, len(sug), len(val), len(qs)))
    j = judgemod.Judge(srv.dsn(dbname=dbname), stmts, pool)
    try:
        refs = appkit.read_reference(app_dir)
        j.reference(refs)
        for lst in (sug, val, qs):
            for d in lst:
                j.build(d)
        j.analyze()
        j.cache.clear()
        res = {"pgsift suggest": j.evaluate(sug), "pgsift suggest --validate": j.evaluate(val),
               "pg_qualstats": j.evaluate(qs)}
        defs = {n: j.definition(n) for n in j.phys.values()}
    finally:
        j.close()
    log("%s: judged in %.0f s (total %.0f s)" % (app, time.monotonic() - t1, time.monotonic() - t0))
    return {"app": app, "stmts": stmts, "rows": rows, "replay": rep, "res": res, "refs": refs,
            "outputs": {"pgsift suggest": (cmd_s, out_s), "pgsift suggest --validate": (cmd_v, out_v),
                        "pg_qualstats": (["SELECT pg_qualstats_index_advisor()"], qs_doc)},
            "defs": defs, "suggested": {"pgsift suggest": sug, "pgsift suggest --validate": val,
                                        "pg_qualstats": qs}}


def summary_rows(r):
    out = []
    for tool, e in r["res"].items():
        f, n = e["recall"]
        c, m = e["precision"]
        out.append("| %s | %s | %d | %d of %d (%s) | %s | %.0f | %.0f | %.0f | %.2f |" % (
            r["app"], tool, m, f, n, pct(f, n), "-" if m == 0 else "%d of %d (%s)" % (c, m, pct(c, m)),
            e["cost_none"], e["cost_mine"], e["cost_ref"], e["cost_mine"] / e["cost_ref"]))
    return out


def details(r):
    L = []
    app = r["app"]
    L.append("\n## %s\n" % app)
    L.append("Tables (rows): " + ", ".join("%s %d" % (t, n) for t, n in r["rows"] if n >= 1000))
    rep = r["replay"]
    L.append("\nReplayed through pgsift: %d calls with psycopg2 (simple protocol, %d errors), "
             "%d with psycopg 3 (extended, %d errors); %d statement kinds.\n" % (
                 rep["simple"][0], rep["simple"][1], rep["extended"][0], rep["extended"][1],
                 len(r["stmts"])))
    for e in rep["error_samples"][:5]:
        L.append("- replay error: `%s`" % e.replace("\n", " "))
    L.append("\n<details><summary>%d statement kinds (weight, classes)</summary>\n" % len(r["stmts"]))
    for st in r["stmts"]:
        L.append("- `%s` x%d: %s" % (st.name, st.weight, ", ".join(st.classes) or "-"))
    L.append("\n</details>\n")
    e0 = r["res"]["pgsift suggest"]
    needed = dict(e0["needed"])
    L.append("\n### Reference indexes\n")
    L.append("Its job (the statement a suggestion must make as cheap as the reference index does) in bold.\n")
    L.append("| reference index | serves (planner) | pgsift suggest | --validate | pg_qualstats |")
    L.append("|---|---|---|---|---|")
    for d, named in r["refs"]:
        cells = []
        for tool in r["res"]:
            f = r["res"][tool]["found"].get(d)
            cells.append("found by `%s`" % f[0][0] if f else ("**missed**" if d in needed else "-"))
        L.append("| `%s` | %s | %s |" % (d, ", ".join(("**%s**" % s) if s == e0["jobs"][d] else s
                                                   for s in needed[d]) if d in needed else
                                        "not needed (named: %s)" % ", ".join(named), " | ".join(cells)))
    for tool, e in r["res"].items():
        L.append("\n### %s: %d indexes\n" % (tool, len(e["suggestions"])))
        for d, n, hits in e["suggestions"]:
            L.append("- `%s` %s" % (d, "-> finds `%s`" % "`, `".join(hits) if hits else
                                  ("(not buildable: %s)" % e["errors"].get(d, "") if not n else
                                   "-> matches no needed reference index")))
    L.append("\n### What pgsift missed\n")
    L.append("For each needed reference index pgsift did not find: its job, the cost with the reference "
             "index alone, with no secondary index, with pgsift's closest suggestion on that table alone, "
             "and the indexes the job's plan uses with pgsift's whole set.\n")
    for tool in ("pgsift suggest", "pgsift suggest --validate"):
        e = r["res"][tool]
        L.append("\n%s:\n" % tool)
        for d, served in e["needed"]:
            if d in e["found"]:
                continue
            s, rc, best = e["closest"][d]
            nc = e["none_costs"][s][0]
            c, used = e["mine_costs"][s]
            sql = [st.sql for st in r["stmts"] if st.name == s][0]
            L.append("- `%s`, job `%s` (`%s`): reference %.1f, none %.1f; closest: %s; "
                     "whole set %.1f using %s" % (
                         d, s, " ".join(sql.split())[:300], rc, nc,
                         "`%s` %.1f%s" % (best[0], best[1], "" if best[2] else " (not used)")
                         if best else "nothing suggested on that table",
                         c, ", ".join("`%s`" % r["defs"].get(u, u) for u in sorted(used))
                         or "no secondary index"))
    return L


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--apps", default="feeds,tracker")
    ap.add_argument("--scale", default="1")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    t0 = time.monotonic()

    def log(msg):
        sys.stderr.write("[advisor_apps %4.0fs] %s\n" % (time.monotonic() - t0, msg))
        sys.stderr.flush()

    srv = appkit.start_postgres()
    runs = [run_app(srv, app, a.scale, a.rounds, log) for app in a.apps.split(",")]
    ver = srv.query("SELECT extversion FROM pg_extension WHERE extname = 'pg_qualstats'",
                    dbname="app_" + runs[0]["app"])[0][0]
    L = ["# pgsift index advice on application workloads (issue 12)\n",
         "Generated by `bash tests/advisor_apps/run.sh` (scale %s, %d round(s)); %s; pg_qualstats %s; "
         "PostgreSQL 15; pgsift built from %s. The judge, apps and rules: tests/advisor_apps/README.md.\n" % (
             a.scale, a.rounds, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), ver,
             os.environ.get("PGSIFT_BUILT_FROM", os.environ.get("PGSIFT_BIN", "?"))),
         "Commands (per app, after the replay through pgsift in transaction pooling):\n",
         "```",
         "pgsift suggest --admin \"host=127.0.0.1 port=<pgsift> dbname=pgsift user=pgsift_test\" "
         "--dsn \"host=127.0.0.1 port=<pg> dbname=app_<app> user=pgsift_test\" --format sql",
         "pgsift suggest --admin ... --dsn ... --format sql --validate",
         "psql -d app_<app> -c 'SELECT pg_qualstats_index_advisor()'   # its defaults",
         "```\n",
         "| app | advisor | indexes | recall of needed reference indexes | precision | "
         "weighted cost: none | advisor's set | reference set | advisor / reference |",
         "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        L += summary_rows(r)
    for r in runs:
        L += details(r)
    L.append("\nFull run: %.0f s.\n" % (time.monotonic() - t0))
    text = "\n".join(L) + "\n"
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
