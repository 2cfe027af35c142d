#!/usr/bin/python3
"""
fleet_bench: one pgsift process against two on one port (so_reuseport + peering), side by side
with PgBouncer 1 and 2 processes and direct PostgreSQL (issue 16).

What it does. Reuses bench.py and percall.py (imported, not copied) to start a throwaway
PostgreSQL 15 (initdb as the postgres user) and pgbench data (scale 10), then starts

  - PgBouncer, 1 process;
  - PgBouncer, 2 processes sharing one TCP port (so_reuseport = 1, each its own
    unix_socket_dir; peer_id and [peers] too when the installed PgBouncer is 1.19 or later,
    which introduced peering: Debian 12's 1.18 has so_reuseport but no peering, so its group
    runs without it and the report says so);
  - pgsift, 1 process;
  - pgsift, 2 processes sharing one TCP port (so_reuseport = 1, peer_id 1 and 2, a [peers]
    section naming both by their unix_socket_dir),

all in transaction pooling with default_pool_size = 20 per process (a 2-process group has up
to 40 server connections). Then, for -M simple (and -M extended) and 32 and 500 clients
(`pgbench -n -S -j 2`), it runs every target once per round, rounds interleaved (A B C D E
A B C D E ...) so that the shared machine's drift hits all alike, and reports medians and the
ratios of the same round's cells. Direct PostgreSQL only runs the 32-client cells.

For every cell it records: pgbench's TPS and p50/p99 (from the -l log, as bench.py); for every
proxy process its CPU seconds (utime and stime from /proc/PID/stat, all threads) and the
transactions it served (total_xact_count of SHOW TOTALS on its own admin console, reached
through its own unix socket, before and after), and the clients it held half-way through the
cell (cl_active + cl_waiting of SHOW POOLS): how evenly so_reuseport spread the clients. Also
the CPU of PostgreSQL (the postmaster, its live children and its reaped children's cutime),
of pgbench (RUSAGE_CHILDREN across the cell), the machine's busy share from /proc/stat, and
the load average. CPU µs per transaction per process (= its CPU / the transactions it served)
is what predicts scaling onto more cores; TPS on this 2-core machine cannot show it, because
pgbench and PostgreSQL run on the same two cores as the proxies.

How to run (as root):
    cmake -B build-bench -S . -DCMAKE_BUILD_TYPE=Release && \
        cmake --build build-bench --target pgsift -j2
    /usr/bin/python3 tests/bench/fleet_bench.py --pgsift build-bench/pgsift      # ~12 min
    /usr/bin/python3 tests/bench/fleet_bench.py --pgsift build-bench/pgsift --quick  # ~1.5 min
    options: --seconds S (per cell, 8)  --rounds R (3)  --modes simple,extended
             --out FILE (tests/bench/RESULTS-fleet.md; /tmp/pgsift-fleet-quick.md with --quick)
             --keep (keep the temp dir)

What it leaves to others: it never edits pgsift's code; the hand-written analysis in the output
file (everything from the line "## Analysis" on) is kept across runs.
"""

import argparse
import datetime
import os
import re
import resource
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (PostgreSQL, pgbench cells, /proc helpers, report helpers)
import percall  # noqa: E402  (per-thread /proc snapshots of a proxy)

PG_BIN = bench.PG_BIN
DB = bench.DB
DBUSER = bench.DBUSER
POOL_SIZE = bench.POOL_SIZE
MAX_CLIENT_CONN = bench.MAX_CLIENT_CONN
CLK_TCK = bench.CLK_TCK
CLIENTS = (32, 500)
JOBS = 2
TARGETS = ("direct", "PgBouncer x1", "PgBouncer x2", "pgsift x1", "pgsift x2")
# A cell in which other people's work took more than this share of both cores is left out of
# the medians (reported as DISTURBED with its TPS): it measures them, not the proxies.
DISTURBED_SHARE = 0.5
# The control: 2 pgsift processes with half the pool each, so that PostgreSQL sees as many
# busy backends as behind 1 process (20) and only the proxy side differs.
CONTROL = "pgsift x2 pool 10"
log = bench.log
fmt = bench.fmt
median = bench.median
ratio = bench.ratio


# ---------------------------------------------------------------------------------------------
# /proc readers the other scripts do not have.


def proc_user_sys(pid):
    """(user, system) CPU seconds of the whole process pid, every thread."""
    s = percall.proxy_snapshot(pid)
    return s["utime"] / CLK_TCK, s["stime"] / CLK_TCK


def postgres_cpu(postmaster):
    """CPU seconds of PostgreSQL: the postmaster, its live children (backends, walwriter, ...)
    and the children it has reaped (cutime + cstime). A backend that exits during a cell is
    counted whole at the end; the pooled backends live through the cell."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            f = percall._stat_fields("/proc/%s/stat" % name)
        except OSError:
            continue
        pid = int(name)
        if pid == postmaster:
            total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        elif int(f[1]) == postmaster:
            total += int(f[11]) + int(f[12])
    return total / CLK_TCK


def machine_ticks():
    """(busy, total) ticks of every CPU from /proc/stat; busy leaves out idle and iowait."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    total = sum(v[:8])  # guest time is already in user
    return total - v[3] - v[4], total


def machine_busy_over(seconds):
    """Busy share (%) of every CPU over the next seconds: taken while this script's processes
    are idle, it measures the other work on the machine."""
    b0, t0 = machine_ticks()
    time.sleep(seconds)
    b1, t1 = machine_ticks()
    return (b1 - b0) * 100.0 / max(1, t1 - t0)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------------------------------------
# The targets.


def admin(proc, sql):
    """Runs sql on one proxy process's admin console through that process's unix socket (the
    TCP port is shared by the group, so only the socket reaches a given process). Returns the
    rows as dicts (column name -> text)."""
    db = "pgbouncer" if proc.kind == "PgBouncer" else "pgsift"
    r = bench.run([PG_BIN + "/psql", "-X", "-A", "-F", "\t", "-P", "footer=off", "-h", proc.dir,
                   "-p", str(proc.port), "-U", DBUSER, "-d", db, "-c", sql], timeout=30,
                  check=False)
    if r.returncode != 0:
        raise RuntimeError("%s: %s failed: %s" % (proc.name, sql,
                                                  r.stderr.decode(errors="replace").strip()))
    lines = r.stdout.decode(errors="replace").splitlines()
    if not lines:
        return []
    head = lines[0].split("\t")
    return [dict(zip(head, ln.split("\t"))) for ln in lines[1:]]


def xact_count(proc):
    for row in admin(proc, "SHOW TOTALS"):
        if row.get("name") == "total_xact_count":
            return int(float(row["value"]))
    raise RuntimeError("%s: no total_xact_count in SHOW TOTALS" % proc.name)


def clients_held(proc):
    """cl_active + cl_waiting of the benchmark database's pools."""
    n = 0
    for row in admin(proc, "SHOW POOLS"):
        if row.get("database") == DB:
            n += int(row.get("cl_active", 0)) + int(row.get("cl_waiting", 0))
    return n


def pgbouncer_peering(version_line):
    """PgBouncer has peer_id and [peers] from 1.19 on; so_reuseport from 1.12."""
    m = re.search(r"(\d+)\.(\d+)", version_line)
    return bool(m) and (int(m.group(1)), int(m.group(2))) >= (1, 19)


def peers_lines(peers, port):
    return "".join("%d = host=%s port=%d\n" % (i, pd, port) for i, pd in peers)


def pgbouncer_ini(d, pg_port, port, peer_id, peers, pool):
    """bench.py's PgBouncer settings plus admin_users and, for a group, so_reuseport (and
    peer_id and [peers] when this PgBouncer has peering)."""
    extra = "admin_users = %s\n" % DBUSER
    if peers is not None:
        extra += "so_reuseport = 1\n"
        if peer_id:
            extra += "peer_id = %d\n\n[peers]\n" % peer_id + peers_lines(peers, port)
    return bench.pgbouncer_ini_text(d, pg_port, port, pool, extra)


def pgsift_ini(d, pg_port, port, peer_id, peers, pool):
    """bench.py's pgsift settings (statistics, slow log and stats_file on) plus admin_users
    and, for a group, so_reuseport, peer_id and [peers]."""
    extra = "admin_users = %s\n" % DBUSER
    if peers is not None:
        extra += "so_reuseport = 1\npeer_id = %d\n" % peer_id
    text = bench.pgsift_ini_text(d, pg_port, port, True, pool, extra)
    if peers is not None:
        text += "\n[peers]\n" + peers_lines(peers, port)
    return text


class Group:
    """One target: n processes of one proxy on one TCP port (so_reuseport when n > 1). It has
    port and pid = None, so bench.run_cell runs pgbench against it and measures no CPU; the
    per-process measures are taken here."""

    def __init__(self, tmp, pg, kind, n, binary=None, peering=True, pool=POOL_SIZE):
        self.kind = kind
        self.name = "%s x%d" % (kind, n) + ("" if pool == POOL_SIZE else " pool %d" % pool)
        self.label = self.name
        self.pid = None
        self.port = bench.free_port()
        self.procs = []
        self.ini = []
        dirs = []
        for i in range(1, n + 1):
            d = os.path.join(tmp, "%s-%d-%d-%d" % (kind, n, pool, i))
            os.mkdir(d)
            os.chown(d, *bench.postgres_ids())
            dirs.append((i, d))
        peers = dirs if n > 1 else None
        for i, d in dirs:
            if kind == "PgBouncer":
                text = pgbouncer_ini(d, pg.port, self.port, i if peering else 0, peers, pool)
                ini = os.path.join(d, "pgbouncer.ini")
                cmd = ["/usr/sbin/pgbouncer", ini]
            else:
                text = pgsift_ini(d, pg.port, self.port, i, peers, pool)
                ini = os.path.join(d, "pgsift.ini")
                cmd = [binary, "-c", ini]
            with open(ini, "w") as f:
                f.write(text)
            os.chown(ini, *bench.postgres_ids())
            self.ini.append(text)
            # bench.Proxy waits for a login on the TCP port; with so_reuseport that may reach
            # an older sibling, so each process is also waited for on its own socket below.
            p = bench.Proxy("%s-%d" % (self.name, i), cmd, self.port,
                            os.path.join(d, kind.lower()))
            p.kind = kind
            p.dir = d
            self.procs.append(p)
            self.wait_own_socket(p)

    def wait_own_socket(self, p, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                xact_count(p)
                return
            except RuntimeError as e:
                if time.monotonic() > deadline or not p.alive():
                    raise RuntimeError("%s not ready on its unix socket: %s" % (p.name, e))
                time.sleep(0.1)

    def alive(self):
        return all(p.alive() for p in self.procs)


class Direct(bench.Direct):
    procs = ()
    kind = "direct"

    def alive(self):
        return True


def startup_log(targets):
    """The lines each 2-process group's logs have about peering, so_reuseport or warnings
    after start: the report shows that the [peers] configuration was taken."""
    out = []
    for t in targets:
        for p in t.procs:
            if len(t.procs) < 2:
                continue
            lines = []
            for path in (os.path.join(p.dir, t.kind.lower() + ".log"), p.logfile + ".out"):
                try:
                    with open(path, errors="replace") as f:
                        lines += [ln.rstrip() for ln in f
                                  if re.search(r"peer|reuseport|warn|error|fatal", ln, re.I)]
                except OSError:
                    pass
            if t.kind == "pgsift":
                try:
                    lines += ["SHOW PEERS: " + ", ".join("%s=%s" % kv for kv in row.items())
                              for row in admin(p, "SHOW PEERS")]
                except RuntimeError as e:
                    lines.append("SHOW PEERS failed: %s" % e)
            out.append((p.name, lines))
    return out


# ---------------------------------------------------------------------------------------------
# One cell.


def measure_cell(sc, t, seconds, work, postmaster):
    """bench.run_cell (pgbench, TPS, latencies) wrapped in the CPU, transaction and client
    counts of every process involved. Returns the bench.Cell with extra attributes."""
    x0 = [xact_count(p) for p in t.procs]
    held = [None] * len(t.procs)

    def sample():
        for k, p in enumerate(t.procs):
            try:
                held[k] = clients_held(p)
            except RuntimeError as e:
                log("SHOW POOLS on %s: %s" % (p.name, e))
    timer = threading.Timer(max(1.0, seconds / 2.0), sample)
    c0 = [proc_user_sys(p.pid) for p in t.procs]
    pg0, ch0, m0 = postgres_cpu(postmaster), children_cpu(), machine_ticks()
    timer.start()
    cell = bench.run_cell(sc, t, seconds, work)
    timer.join()
    pg1, ch1, m1 = postgres_cpu(postmaster), children_cpu(), machine_ticks()
    c1 = [proc_user_sys(p.pid) for p in t.procs]
    x1 = [xact_count(p) for p in t.procs]
    cell.user = [b[0] - a[0] for a, b in zip(c0, c1)]
    cell.sys = [b[1] - a[1] for a, b in zip(c0, c1)]
    cell.xacts = [b - a for a, b in zip(x0, x1)]
    cell.held = held
    cell.pg_cpu = pg1 - pg0
    cell.pgbench_cpu = ch1 - ch0
    cell.busy = (m1[0] - m0[0]) / float(max(1, m1[1] - m0[1]))
    # What else ran on the machine (other people's builds and tests): every busy CPU second
    # that is not the proxies', PostgreSQL's or pgbench's (this script's own psql calls and
    # the kernel's softirq work on the loopback traffic are in it too).
    cell.other_cpu = max(0.0, (m1[0] - m0[0]) / float(CLK_TCK) - cell.pg_cpu -
                         cell.pgbench_cpu - sum(cell.user) - sum(cell.sys))
    cell.wall = (m1[1] - m0[1]) / float(CLK_TCK) / os.cpu_count()
    share = cell.other_cpu / (cell.wall * os.cpu_count()) if cell.wall else 0.0
    if cell.status == "ok" and share > DISTURBED_SHARE:
        cell.status = "DISTURBED"
        cell.error = ("other work took %.0f%% of both cores (%.1f CPU s in %.1f s); TPS %s" % (
            share * 100, cell.other_cpu, cell.wall, fmt(cell.tps)))
    cell.load = bench.loadavg()
    return cell


def cpu_us(cell, k=None):
    """Proxy CPU µs per transaction: of process k per transaction it served, or of the whole
    group per transaction pgbench completed (k None)."""
    if cell.status != "ok" or not cell.user:
        return None
    if k is None:
        return (sum(cell.user) + sum(cell.sys)) / cell.txns * 1e6 if cell.txns else None
    return (cell.user[k] + cell.sys[k]) / cell.xacts[k] * 1e6 if cell.xacts[k] else None


# ---------------------------------------------------------------------------------------------
# Report.


def scenario_list(modes):
    return [bench.Scenario("S-%s-%d" % (m, c), c, m, "-S", JOBS) for m in modes for c in CLIENTS]


def targets_for(sc, targets):
    return [t for t in targets if not (t.name == "direct" and sc.clients != 32)]


def summary(res, sc, name):
    cells = res.get((sc.key, name), [])
    ok = [c for c in cells if c.status == "ok"]

    def med(fn):
        return median([fn(c) for c in ok])
    s = {"cells": cells, "ok": ok, "fails": [c for c in cells if c.status != "ok"],
         "tps": med(lambda c: c.tps), "p50": med(lambda c: c.p50), "p99": med(lambda c: c.p99),
         "cpu_us": med(lambda c: cpu_us(c)),
         "user_us": med(lambda c: sum(c.user) / c.txns * 1e6 if c.txns and c.user else None),
         "sys_us": med(lambda c: sum(c.sys) / c.txns * 1e6 if c.txns and c.sys else None),
         "pg_us": med(lambda c: c.pg_cpu / c.txns * 1e6 if c.txns else None),
         "pgbench_us": med(lambda c: c.pgbench_cpu / c.txns * 1e6 if c.txns else None),
         "busy": med(lambda c: c.busy * 100),
         "other": med(lambda c: c.other_cpu / (c.wall * os.cpu_count()) * 100
                      if c.wall else None)}
    n = len(ok[0].user) if ok and ok[0].user else 0
    s["proc_us"] = [med(lambda c, k=k: cpu_us(c, k)) for k in range(n)]
    s["proc_cpu"] = [med(lambda c, k=k: c.user[k] + c.sys[k]) for k in range(n)]
    s["xact_share"] = [med(lambda c, k=k: c.xacts[k] / float(sum(c.xacts)) * 100
                           if sum(c.xacts) else None) for k in range(n)]
    s["cpu_share"] = [med(lambda c, k=k: (c.user[k] + c.sys[k]) /
                          (sum(c.user) + sum(c.sys)) * 100
                          if sum(c.user) + sum(c.sys) else None) for k in range(n)]
    s["xact_vs_pgbench"] = med(lambda c: sum(c.xacts) / float(c.txns) if c.txns else None)
    return s


def per_round(res, key, num, den, fn=lambda c: c.tps):
    out = []
    for x, y in zip(res.get((key, num), []), res.get((key, den), [])):
        if x.status == "ok" and y.status == "ok":
            vx, vy = fn(x), fn(y)
            if vx is not None and vy:
                out.append(vx / vy)
    return sorted(out)


def build_report(ctx):
    L = []
    a = L.append
    res = ctx["results"]
    a("# pgsift fleet benchmark: 1 and 2 processes on one port (issue 16)")
    a("")
    a("Generated by `%s` on %s. Do not edit by hand above \"%s\": the file is rewritten on "
      "every run (the analysis section is kept)." % (ctx["command"], ctx["date"],
                                                     bench.ANALYSIS_MARK))
    a("")
    m = ctx["machine"]
    a("- Machine: **%d CPUs** (%s), %.1f GB RAM, Linux %s. pgbench, PostgreSQL and every "
      "proxy process share these cores: a second proxy process cannot add TPS here, it can "
      "only show what it costs. CPU per transaction per process is what predicts the "
      "scaling on more cores (see the Analysis)." % (m["nproc"], m["cpu"], m["mem_gb"],
                                                   m["kernel"]))
    a("- Load average at start / end: %s / %s (per cell in the raw table). The machine is "
      "shared with other engineers' builds and tests%s; rounds are interleaved (every target "
      "once per round) and medians reported, so compare ratios of one run." % (
          ctx["load_start"], ctx["load_end"], ctx["busy_note"]))
    a("- Versions: %s; %s; pgsift %s (commit %s%s)." % (
        ctx["pg_version"], ctx["pgb_version"], ctx["pgsift_version"], ctx["commit"],
        ", working tree had local changes" if ctx["dirty"] else ""))
    a("- %d s per cell, %d rounds, `pgbench -n -S -j %d`, scale 10, over TCP on 127.0.0.1; "
      "transaction pooling, default_pool_size = %d **per process** (so a 2-process group can "
      "hold %d server connections), max_connections = 700." % (
          ctx["seconds"], ctx["rounds"], JOBS, POOL_SIZE, 2 * POOL_SIZE))
    if CONTROL in ctx["target_names"]:
        a("- Control target **%s**: the 2 pgsift processes of \"pgsift x2\" (same settings, "
          "its own port) with default_pool_size = %d each, so that PostgreSQL has at most %d "
          "busy backends, as behind 1 process; \"pgsift x2\" / \"PgBouncer x2\" can use up "
          "to %d. On 2 cores more busy backends cost PostgreSQL CPU per transaction (more "
          "context switches), which is not the proxy's doing." % (
              CONTROL, POOL_SIZE // 2, POOL_SIZE, 2 * POOL_SIZE))
    a("- PgBouncer peering: %s" % ctx["pgb_peering_note"])
    a("")
    a("## Commands")
    a("")
    a("```")
    a("# PostgreSQL 15: initdb -U %s --auth=trust (as postgres), then postgresql.conf:" % DBUSER)
    a(ctx["pg_conf"].strip())
    a("pgbench -i -s 10 -q %s" % DB)
    for sc in ctx["scenarios"]:
        a("PGSSLMODE=disable " + " ".join(bench.pgbench_cmd("PORT", sc, ctx["seconds"],
                                                           "DIR/PREFIX"))
          .replace(PG_BIN + "/", ""))
    a("```")
    a("")
    for name in ("PgBouncer x2", "pgsift x2"):
        ini = ctx["ini"].get(name, [])
        a("%s (`%s`, as postgres; the 1-process target has the same settings without "
          "so_reuseport, peer_id and [peers]):" % (
              name, "pgbouncer DIR/pgbouncer.ini" if name.startswith("PgB") else
              "pgsift -c DIR/pgsift.ini"))
        a("")
        for k, text in enumerate(ini):
            a("```ini")
            a("; process %d" % (k + 1))
            a(text.strip())
            a("```")
        a("")
    a("What the 2-process groups logged at start about peering, so_reuseport, warnings or "
      "errors, and pgsift's `SHOW PEERS`:")
    a("")
    a("```")
    for name, lines in ctx["startup_log"]:
        a("%s: %s" % (name, "(nothing)" if not lines else ""))
        for ln in lines[:8]:
            a("    " + ln)
    a("```")
    a("")
    a("Per cell and per proxy process: CPU = utime + stime from /proc/PID/stat (all threads) "
      "across the cell; transactions served = the change of `total_xact_count` in `SHOW "
      "TOTALS` on that process's admin console, reached through its own unix socket; clients "
      "= `cl_active + cl_waiting` of `SHOW POOLS` half-way through the cell. PostgreSQL CPU = "
      "the postmaster, its live children and its reaped children (cutime + cstime); pgbench "
      "CPU = RUSAGE_CHILDREN across the cell; machine busy = non-idle share of /proc/stat.")
    a("")
    a("## Results (medians over %d rounds)" % ctx["rounds"])
    a("")
    a("| scenario | target | TPS | TPS per round | p50 ms | p99 ms | proxy µs/txn (all procs) "
      "| user / sys µs | PostgreSQL µs/txn | pgbench µs/txn | machine busy | other work |")
    a("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sc in ctx["scenarios"]:
        for t in ctx["target_names"]:
            if t == "direct" and sc.clients != 32:
                continue
            s = summary(res, sc, t)
            rounds = ", ".join(fmt(c.tps) if c.status == "ok" else c.status for c in s["cells"])
            a("| %s | %s | **%s** | %s | %s | %s | %s | %s | %s | %s | %s%% | %s%% |" % (
                sc.title(), t, fmt(s["tps"]), rounds, fmt(s["p50"], "%.3f"),
                fmt(s["p99"], "%.3f"), fmt(s["cpu_us"], "%.1f"),
                "%s / %s" % (fmt(s["user_us"], "%.1f"), fmt(s["sys_us"], "%.1f"))
                if t != "direct" else "–", fmt(s["pg_us"], "%.1f"),
                fmt(s["pgbench_us"], "%.1f"), fmt(s["busy"], "%.0f"), fmt(s["other"], "%.0f")))
    a("")
    a("\"machine busy\" is the non-idle share of both cores during the cell; \"other work\" "
      "the share of both cores that was neither a proxy, PostgreSQL nor pgbench: other "
      "people's builds and tests, plus this script's own psql calls and the part of the "
      "kernel's loopback work not charged to a measured process. (The load average is no "
      "measure of others here: 32 or 500 runnable backends and clients are counted in it.)")
    a("")
    fails = []
    for sc in ctx["scenarios"]:
        for t in ctx["target_names"]:
            for c in summary(res, sc, t)["fails"]:
                fails.append("- %s via %s: %s — %s" % (sc.title(), t, c.status, c.error))
    if fails:
        a("Failed or disturbed cells (not counted in the medians or ratios; DISTURBED = other "
          "work took more than %.0f%% of both cores during the cell):" % (DISTURBED_SHARE * 100))
        a("")
        for f in sorted(set(fails)):
            a(f)
        a("")
    a("## Ratios")
    a("")
    a("TPS ratios: the median of the rounds' own ratios (the two cells of one round ran a few "
      "seconds apart) with their range, then the ratio of the medians above.")
    a("")
    pairs = (("pgsift x2", "pgsift x1"), ("PgBouncer x2", "PgBouncer x1"),
             ("pgsift x1", "PgBouncer x1"), ("pgsift x2", "PgBouncer x2"),
             ("pgsift x1", "direct"), ("PgBouncer x1", "direct"))
    if CONTROL in ctx["target_names"]:
        pairs += ((CONTROL, "pgsift x1"), (CONTROL, "pgsift x2"))
    a("| scenario | " + " | ".join("%s / %s" % p for p in pairs) + " |")
    a("|---|" + "---:|" * len(pairs))
    for sc in ctx["scenarios"]:
        cells = []
        for num, den in pairs:
            if den == "direct" and sc.clients != 32:
                cells.append("–")
                continue
            r = per_round(res, sc.key, num, den)
            om = ratio(summary(res, sc, num)["tps"], summary(res, sc, den)["tps"])
            cells.append("**%s** (%s-%s; %s)" % (
                fmt(median(r), "%.2f"), fmt(r[0] if r else None, "%.2f"),
                fmt(r[-1] if r else None, "%.2f"), fmt(om, "%.2f")))
        a("| %s | %s |" % (sc.title(), " | ".join(cells)))
    a("")
    a("Proxy CPU µs per transaction (whole target), ratio of the same round's cells:")
    a("")
    cpairs = (("pgsift x1", "PgBouncer x1"), ("pgsift x2", "PgBouncer x2"),
              ("pgsift x2", "pgsift x1"), ("PgBouncer x2", "PgBouncer x1"))
    if CONTROL in ctx["target_names"]:
        cpairs += ((CONTROL, "pgsift x1"),)
    a("| scenario | " + " | ".join("%s / %s" % p for p in cpairs) + " |")
    a("|---|" + "---:|" * len(cpairs))
    for sc in ctx["scenarios"]:
        a("| %s | %s |" % (sc.title(), " | ".join(
            fmt(median(per_round(res, sc.key, n, d, lambda c: cpu_us(c))), "%.2f")
            for n, d in cpairs)))
    a("")
    a("## Per process: CPU per transaction and how so_reuseport spread the clients")
    a("")
    a("µs/txn here is a process's CPU divided by the transactions **it** served (its own "
      "`SHOW TOTALS`). \"xacts counted / pgbench\" checks that the admin counters add up to "
      "what pgbench completed.")
    a("")
    a("| scenario | target | process | CPU s | CPU µs/txn served | share of xacts | share of "
      "CPU | clients held per round | xacts counted / pgbench |")
    a("|---|---|---:|---:|---:|---:|---:|---|---:|")
    for sc in ctx["scenarios"]:
        for t in ctx["target_names"]:
            if t == "direct":
                continue
            s = summary(res, sc, t)
            for k in range(len(s["proc_us"])):
                held = ", ".join(fmt(c.held[k]) if c.status == "ok" and c.held[k] is not None
                                 else "?" for c in s["cells"])
                a("| %s | %s | %d | %s | %s | %s%% | %s%% | %s | %s |" % (
                    sc.title(), t, k + 1, fmt(s["proc_cpu"][k], "%.2f"),
                    fmt(s["proc_us"][k], "%.1f"), fmt(s["xact_share"][k], "%.1f"),
                    fmt(s["cpu_share"][k], "%.1f"), held,
                    fmt(s["xact_vs_pgbench"], "%.3f") if k == 0 else ""))
    a("")
    a("## What one core carries (from the medians above)")
    a("")
    a("Transactions per second that one fully used core would give to each part, = 10^6 / "
      "its CPU µs per transaction (the proxy: per process, per transaction that process "
      "served; median over processes and rounds). Measured under saturation on 2 shared "
      "cores, where every process batches more work per wake-up than on an idle core; "
      "see the Analysis for how to read them.")
    a("")
    a("| scenario | target | proxy µs/txn per process | TPS per proxy core | PostgreSQL "
      "µs/txn | TPS per PostgreSQL core | pgbench µs/txn |")
    a("|---|---|---:|---:|---:|---:|---:|")
    for sc in ctx["scenarios"]:
        for t in ctx["target_names"]:
            s = summary(res, sc, t)
            pu = median(s["proc_us"]) if s["proc_us"] else None
            a("| %s | %s | %s | %s | %s | %s | %s |" % (
                sc.title(), t, fmt(pu, "%.1f"), fmt(1e6 / pu if pu else None),
                fmt(s["pg_us"], "%.1f"), fmt(1e6 / s["pg_us"] if s["pg_us"] else None),
                fmt(s["pgbench_us"], "%.1f")))
    a("")
    a("## Raw cells")
    a("")
    a("| scenario | round | target | TPS | proxy CPU s per process (user+sys) | xacts per "
      "process | PostgreSQL CPU s | pgbench CPU s | other CPU s | busy | load |")
    a("|---|---:|---|---:|---|---|---:|---:|---:|---:|---|")
    for sc in ctx["scenarios"]:
        for r in range(ctx["rounds"]):
            for t in ctx["target_names"]:
                cells = res.get((sc.key, t), [])
                if r >= len(cells):
                    continue
                c = cells[r]
                a("| %s | %d | %s | %s | %s | %s | %.2f | %.2f | %.2f | %.0f%% | %s |" % (
                    sc.key, r + 1, t, fmt(c.tps) if c.status == "ok" else "%s (%s)" % (
                        c.status, fmt(c.tps)),
                    ", ".join("%.2f+%.2f" % (u, y) for u, y in zip(c.user, c.sys)) or "–",
                    ", ".join(str(x) for x in c.xacts) or "–", c.pg_cpu, c.pgbench_cpu,
                    c.other_cpu, c.busy * 100, c.load))
    a("")
    a(ctx["analysis"].rstrip() if ctx["analysis"] else
      bench.ANALYSIS_MARK + "\n\n(none written yet)")
    a("")
    return "\n".join(L)


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description="pgsift 1 vs 2 processes (so_reuseport), with "
                                 "PgBouncer 1 and 2 processes and direct PostgreSQL")
    ap.add_argument("--pgsift", default=os.environ.get(
        "PGSIFT_BIN", os.path.join(bench.SOURCE_DIR, "build-bench", "pgsift")))
    ap.add_argument("--quick", action="store_true", help="smoke test: 2 s per cell, 1 round")
    ap.add_argument("--seconds", type=int, default=None, help="per cell (default 8)")
    ap.add_argument("--rounds", type=int, default=None, help="default 3")
    ap.add_argument("--modes", default="simple,extended", help="pgbench -M modes, comma-separated")
    ap.add_argument("--out", default=None, help="Markdown output (default "
                    "tests/bench/RESULTS-fleet.md, or /tmp/pgsift-fleet-quick.md with --quick)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--no-control", action="store_true", help="leave out the control target "
                    "(2 pgsift processes with default_pool_size = 10 each)")
    args = ap.parse_args()

    seconds = args.seconds or (2 if args.quick else 8)
    rounds = args.rounds or (1 if args.quick else 3)
    modes = [m for m in args.modes.split(",") if m]
    if set(modes) - {"simple", "extended", "prepared"}:
        sys.exit("fleet_bench.py: --modes takes simple, extended, prepared")
    bench.check_can_run("fleet_bench.py", args.pgsift)
    bench.raise_fd_limit()
    bench.start_run()
    tmp = tempfile.mkdtemp(prefix="pgsift-fleet-")
    os.chmod(tmp, 0o755)
    if args.keep:
        log("keeping %s" % tmp)
    else:
        bench._cleanups.insert(0, lambda: shutil.rmtree(tmp, ignore_errors=True))
    work = os.path.join(tmp, "work")
    os.mkdir(work)
    out_path = args.out or (os.path.join(HERE, "RESULTS-fleet.md") if not args.quick
                            else os.path.join(tempfile.gettempdir(), "pgsift-fleet-quick.md"))

    load_start = bench.loadavg()
    quiet_start = machine_busy_over(5)
    ctx = {
        "command": " ".join(["/usr/bin/python3 tests/bench/fleet_bench.py"] + sys.argv[1:]),
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": bench.machine_info(),
        "load_start": load_start,
        "seconds": seconds,
        "rounds": rounds,
        "pg_version": bench.first_line([PG_BIN + "/postgres", "--version"]),
        "pgb_version": bench.first_line(["/usr/sbin/pgbouncer", "--version"]),
        "commit": bench.git("rev-parse", "--short", "HEAD"),
        "dirty": bool(bench.git("status", "--porcelain", "--untracked-files=no")),
    }
    binary = os.path.join(tmp, "pgsift-bin")
    shutil.copy2(args.pgsift, binary)
    os.chmod(binary, 0o755)
    ctx["pgsift_version"] = bench.first_line([binary, "--version"]).replace("pgsift ", "")
    peering = pgbouncer_peering(ctx["pgb_version"])
    ctx["pgb_peering_note"] = (
        "peer_id and [peers] set as for pgsift (PgBouncer 1.19+)." if peering else
        "%s predates peering (peer_id and [peers] came in PgBouncer 1.19), so its 2-process "
        "group runs with so_reuseport = 1 and its own unix_socket_dir per process only: a "
        "cancel request that lands on the other process is not forwarded. pgbench -S sends "
        "no cancels, so the throughput is unaffected." % ctx["pgb_version"])

    log("starting PostgreSQL 15 in %s (load average %s)" % (tmp, load_start))
    pg = bench.Postgres(tmp)
    ctx["pg_conf"] = pg.conf
    with open(os.path.join(pg.data, "postmaster.pid")) as f:
        postmaster = int(f.readline())
    bench.run([PG_BIN + "/createdb", "-h", "127.0.0.1", "-p", str(pg.port), "-U", DBUSER, DB])
    log("pgbench -i -s 10")
    bench.run([PG_BIN + "/pgbench", "-i", "-s", "10", "-q", "-h", "127.0.0.1", "-p",
               str(pg.port), "-U", DBUSER, DB], timeout=600)
    targets = [Direct(pg),
               Group(tmp, pg, "PgBouncer", 1),
               Group(tmp, pg, "PgBouncer", 2, peering=peering),
               Group(tmp, pg, "pgsift", 1, binary),
               Group(tmp, pg, "pgsift", 2, binary)]
    assert tuple(t.name for t in targets) == TARGETS
    if not args.no_control:
        targets.append(Group(tmp, pg, "pgsift", 2, binary, pool=POOL_SIZE // 2))
        assert targets[-1].name == CONTROL
    ctx["target_names"] = [t.name for t in targets]
    ctx["ini"] = {t.name: t.ini for t in targets if t.procs}
    ctx["startup_log"] = startup_log(targets)

    scs = scenario_list(modes)
    ctx["scenarios"] = scs
    results = {}
    ctx["results"] = results
    total = sum(len(targets_for(sc, targets)) for sc in scs) * rounds
    n = 0
    for sc in scs:
        # A warm-up per scenario so the first round's first target does not pay for growing
        # the pools and PostgreSQL's caches: 1 s against every target, not recorded.
        for t in targets_for(sc, targets):
            bench.run_cell(sc, t, 1, work, latency_log=False)
        for r in range(rounds):
            for t in targets_for(sc, targets):
                n += 1
                if not t.alive():
                    raise RuntimeError("%s died; see %s" % (
                        t.name, ", ".join(p.logfile for p in t.procs)))
                cell = measure_cell(sc, t, seconds, work, postmaster)
                results.setdefault((sc.key, t.name), []).append(cell)
                log("[%d/%d] %-16s round %d %-12s tps %s  proxy µs/txn %s  xacts %s  clients "
                    "%s  busy %.0f%%  load %s %s" % (
                        n, total, sc.key, r + 1, t.name, fmt(cell.tps),
                        fmt(cpu_us(cell), "%.1f"), cell.xacts, cell.held, cell.busy * 100,
                        cell.load, "" if cell.status == "ok" else cell.status + ": " + cell.error))
    ctx["load_end"] = bench.loadavg()
    # The load average counts this run's own backends and clients; the machine's busy share
    # while nothing of this run works (before the start, and after the cells with everything
    # idle) measures the others.
    quiet_end = machine_busy_over(5)
    ctx["busy_note"] = ("; both cores were %.0f%% busy with other work in the 5 s before the "
                        "run and %.0f%% in the 5 s after the cells (this run's processes "
                        "idle)%s" % (quiet_start, quiet_end,
                                     ": **other work was running**"
                                     if max(quiet_start, quiet_end) > 10 else ""))

    analysis = ""
    if os.path.exists(out_path):
        with open(out_path) as f:
            old = f.read()
        i = old.find("\n" + bench.ANALYSIS_MARK)
        if i >= 0:
            analysis = old[i + 1:]
    ctx["analysis"] = analysis
    report = build_report(ctx)
    with open(out_path, "w") as f:
        f.write(report)
    i = report.find("## Results")
    j = report.find("## Raw cells")
    print(report[i:j])
    print("written to %s" % out_path)


if __name__ == "__main__":
    main()
