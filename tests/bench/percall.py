#!/usr/bin/python3
"""
percall: what one pgbench transaction costs through pgsift (statistics on and off) and through
Debian's PgBouncer, counted per transaction rather than as TPS (issue 15, "Cheaper than
PgBouncer per transaction").

What it does. Reuses bench.py (imported, not copied) to start a throwaway PostgreSQL 15 (initdb
as the postgres user), Debian's pgbouncer and two pgsift instances in front of it, all with the
same settings (transaction pooling, default_pool_size = 4 here), and initialises pgbench. Then,
for every target in {pgsift (track_statements = 1, its default, plus bench.py's slow log and
stats_file), pgsift with track_statements = 0, PgBouncer} and every protocol in {simple,
extended, prepared}, it runs

    pgbench -n -S -c 8 -j 2 -t N -M <mode>        (a fixed transaction count, 8 * N)

and divides by the transactions pgbench reports:

  1. CPU of the proxy: utime and stime from /proc/PID/stat (every thread) before/after -> µs
     user and µs system per transaction; pgbench's own CPU from wait4()'s rusage.
  2. Context switches (voluntary + involuntary) of every process involved: the proxy (every
     thread, /proc/PID/task/*/status), pgbench (wait4()'s rusage, all its threads) and the
     PostgreSQL backends serving the proxy's pool (the pg_stat_activity rows whose client port
     is one of the proxy's connections to PostgreSQL, read from /proc/PID/fd + /proc/net/tcp).
     A short warm-up run before each measured run fills the pool, so that the same backends
     are there before and after.
  3. Syscalls by name of the proxy: a second run of the same command with
     `strace -f -c -p PID` attached (all threads) -> calls per transaction. Skipped with a
     note when strace is missing. strace slows the proxy, which changes how much work one
     wake-up finds (epoll_wait / read counts depend on timing); the counts are those of that
     slowed run.
  4. User-space instructions of the proxy: the proxy started afresh under
     `valgrind --tool=callgrind --separate-threads=yes`, one run of N1 and one of N2 = 2*N1
     transactions per client (each in its own proxy process, stopped with SIGINT so that
     callgrind writes its files); (Ir(N2) - Ir(N1)) / (8 * (N2 - N1)) removes the start, the
     logins and the exit. Per thread (thread 1 = the event loop; for pgsift thread 2 = the
     statistics worker) and total.

PgBouncer and -M prepared: PgBouncer supports protocol-level named prepared statements in
transaction pooling from 1.21 on (max_prepared_statements); before that (Debian's 1.18) a
statement prepared on one server connection is executed on another and fails, so the cell is
"n/a". With 1.21 or later the script sets max_prepared_statements = 200 and runs it.

How to run (as root):
    cmake -B /tmp/percall-build -S . -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build /tmp/percall-build -j2 --target pgsift
    /usr/bin/python3 tests/bench/percall.py --pgsift /tmp/percall-build/pgsift --quick
    /usr/bin/python3 tests/bench/percall.py --pgsift /tmp/percall-build/pgsift \
        --txns 5000 --cg-txns 500 --out tests/bench/RESULTS-percall.md
    # a committed revision while others edit the tree: build from `git archive REV` and say so
    git archive REV | tar -x -C /tmp/percall-src && cmake -B /tmp/percall-build \
        -S /tmp/percall-src -DCMAKE_BUILD_TYPE=Release && ... --rev REV
    options: --cg-reps R (callgrind pairs per cell, median; default 3)
             --modes simple,extended  --targets pgsift,pgsift-nostats,PgBouncer
             --no-strace  --no-callgrind  --keep

The report (Markdown, /tmp/pgsift-percall.md by default) has one table per measure, rows =
target, columns = simple / extended / prepared, the exact commands, the proxies' settings and
the load average before and after. The machine's cores are shared with other work: CPU µs and
context switches are noisy; instruction counts (callgrind) are exact for the run measured.
"""

import argparse
import datetime
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (tests/bench/bench.py: PostgreSQL, the proxies, helpers)

PG_BIN = bench.PG_BIN
CLK_TCK = bench.CLK_TCK
CLIENTS = 8
JOBS = 2
POOL_SIZE = 4
MODES = ("simple", "extended", "prepared")
TARGETS = ("pgsift", "pgsift-nostats", "PgBouncer")
TARGET_TITLES = {
    "pgsift": "pgsift, track_statements = 1",
    "pgsift-nostats": "pgsift, track_statements = 0",
    "PgBouncer": "PgBouncer",
}
VALGRIND = ["valgrind", "--tool=callgrind", "--separate-threads=yes"]
log = bench.log


# ---------------------------------------------------------------------------------------------
# /proc readers.


def _stat_fields(path):
    with open(path) as f:
        return f.read().rsplit(")", 1)[1].split()


def _ctx(path):
    v = n = 0
    with open(path) as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                v = int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                n = int(line.split()[1])
    return v + n


def proxy_snapshot(pid):
    """The proxy's CPU ticks (whole process, so exited threads count too) and, per thread,
    (name, utime ticks, stime ticks, context switches)."""
    f = _stat_fields("/proc/%d/stat" % pid)
    snap = {"utime": int(f[11]), "stime": int(f[12]), "threads": {}}
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s" % (pid, tid)
        try:
            tf = _stat_fields(base + "/stat")
            with open(base + "/comm") as c:
                name = c.read().strip()
            snap["threads"][int(tid)] = (name, int(tf[11]), int(tf[12]), _ctx(base + "/status"))
        except OSError:
            continue
    return snap


def backend_ctx(pids):
    out = {}
    for p in pids:
        try:
            out[p] = _ctx("/proc/%d/status" % p)
        except OSError:
            pass
    return out


def pool_backends(proxy, pg):
    """PIDs of the PostgreSQL backends connected to the proxy (its server connections)."""
    ports = bench.proxy_server_ports(proxy.pid, pg.port)
    if not ports:
        return set()
    r = bench.psql(pg.port, "SELECT pid FROM pg_stat_activity WHERE client_addr = '127.0.0.1' "
                   "AND client_port IN (%s)" % ",".join(map(str, ports)), "disable")
    return set(int(x) for x in r.stdout.decode().split())


# ---------------------------------------------------------------------------------------------
# pgbench.


def pgbench_cmd(port, mode, t):
    return [PG_BIN + "/pgbench", "-n", "-S", "-h", "127.0.0.1", "-p", str(port), "-U",
            bench.DBUSER, "-c", str(CLIENTS), "-j", str(JOBS), "-t", str(t), "-M", mode,
            bench.DB]


def run_pgbench(port, mode, t, work, timeout=600):
    """Runs pgbench to the end and reaps it with wait4() for its rusage (all its threads).
    Returns dict(txns, tps, rusage, out); raises on failure."""
    cmd = pgbench_cmd(port, mode, t)
    out_path = os.path.join(work, "pgbench.out")
    with open(out_path, "wb") as outf:
        p = subprocess.Popen(cmd, stdout=outf, stderr=subprocess.STDOUT, cwd=work)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                p.returncode = -9
                raise RuntimeError("pgbench %s did not finish in %d s" % (" ".join(cmd), timeout))
            time.sleep(0.05)
        p.returncode = os.waitstatus_to_exitcode(status)
    with open(out_path) as f:
        out = f.read()
    m = re.search(r"number of transactions actually processed: (\d+)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    if p.returncode != 0 or not m or (failed and int(failed.group(1)) > 0):
        raise RuntimeError("pgbench failed (rc %d): %s\n%s" % (p.returncode, " ".join(cmd),
                                                               out[-1500:]))
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    return {"txns": int(m.group(1)), "tps": float(tps.group(1)) if tps else None, "rusage": ru}


# ---------------------------------------------------------------------------------------------
# The measures.


def measure_cpu_ctx(proxy, pg, mode, t, work):
    bench.run(pgbench_cmd(proxy.port, mode, 20), timeout=300)  # warm-up: fills the pool
    b_pids = pool_backends(proxy, pg)
    b0 = backend_ctx(b_pids)
    s0 = proxy_snapshot(proxy.pid)
    r = run_pgbench(proxy.port, mode, t, work)
    s1 = proxy_snapshot(proxy.pid)
    after_pids = pool_backends(proxy, pg) | b_pids
    b1 = backend_ctx(after_pids)
    n = float(r["txns"])
    ru = r["rusage"]
    threads = []
    for i, tid in enumerate(sorted(s1["threads"])):
        name, u1, st1, c1 = s1["threads"][tid]
        _, u0, st0, c0 = s0["threads"].get(tid, (name, 0, 0, 0))
        threads.append({"label": "thread %d (%s, tid %d)" % (i + 1, name, tid),
                        "user_us": (u1 - u0) / CLK_TCK * 1e6 / n,
                        "sys_us": (st1 - st0) / CLK_TCK * 1e6 / n,
                        "ctx": (c1 - c0) / n})
    proxy_ctx = sum(t_["ctx"] for t_ in threads)
    backends = sum(b1[p] - b0.get(p, 0) for p in b1) / n
    pgb = (ru.ru_nvcsw + ru.ru_nivcsw) / n
    res = {
        "txns": r["txns"], "tps": r["tps"],
        "user_us": (s1["utime"] - s0["utime"]) / CLK_TCK * 1e6 / n,
        "sys_us": (s1["stime"] - s0["stime"]) / CLK_TCK * 1e6 / n,
        "pgbench_cpu_us": (ru.ru_utime + ru.ru_stime) * 1e6 / n,
        "ctx_proxy": proxy_ctx, "ctx_pgbench": pgb, "ctx_backends": backends,
        "ctx_total": proxy_ctx + pgb + backends,
        "backends": "%d (%d gone before the end)" % (len(after_pids), len(after_pids) - len(b1))
                    if len(b1) != len(after_pids) else "%d" % len(after_pids),
        "threads": threads,
    }
    return res


def strace_attached(pid, strace_pid, timeout=15):
    """True once every thread of pid has strace as its tracer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ok = True
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                    tr = [l for l in f if l.startswith("TracerPid:")]
                if not tr or int(tr[0].split()[1]) != strace_pid:
                    ok = False
            except OSError:
                pass
        if ok:
            return True
        time.sleep(0.05)
    return False


def measure_syscalls(proxy, mode, t, work):
    out_file = os.path.join(work, "strace-%s-%s.txt" % (proxy.name, mode))
    st = subprocess.Popen(["strace", "-f", "-c", "-S", "calls", "-o", out_file, "-p",
                           str(proxy.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not strace_attached(proxy.pid, st.pid):
        st.send_signal(signal.SIGINT)
        st.wait(30)
        raise RuntimeError("strace did not attach to %s" % proxy.name)
    try:
        r = run_pgbench(proxy.port, mode, t, work)
    finally:
        st.send_signal(signal.SIGINT)
        err = st.communicate(timeout=60)[1].decode(errors="replace")
    counts = {}
    errors = {}
    with open(out_file) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 5 or not re.match(r"^[0-9.]+$", parts[0]):
                continue
            name = parts[-1]
            if name == "total":
                continue
            counts[name] = int(parts[3])
            errors[name] = int(parts[4]) if len(parts) == 6 else 0
    if not counts:
        raise RuntimeError("strace -c gave no counts for %s: %s" % (proxy.name, err[-500:]))
    n = float(r["txns"])
    return {"txns": r["txns"], "tps": r["tps"],
            "calls": {k: v / n for k, v in counts.items()},
            "errors": {k: v / n for k, v in errors.items()},
            "total": sum(counts.values()) / n}


def callgrind_once(kind, tmp, pg, binary, mode, t, work, seq):
    """A fresh proxy under callgrind, one pgbench run of t per client, then SIGINT.
    Returns ({thread number: Ir}, txns)."""
    d = os.path.join(tmp, "cg-%d" % seq)
    os.mkdir(d)
    os.chown(d, *bench.postgres_ids())
    orig = bench.Proxy
    orig_wait = bench.wait_ready
    # valgrind starts slowly on a loaded machine: more than bench.py's 30 s to be ready
    bench.wait_ready = lambda port, proc, what, timeout=30, env=None: orig_wait(
        port, proc, what, timeout=240, env=env)
    # start_pgsift/start_pgbouncer build the command and the same ini as for the other
    # measures; only the command gets callgrind in front.
    bench.Proxy = lambda name, cmd, port, logfile, env=None, label=None: orig(
        name, VALGRIND + ["--callgrind-out-file=%s/callgrind.out" % d] + cmd, port,
        logfile, env=env, label=label)
    try:
        name = "cg%d-%s" % (seq, kind)
        if kind == "PgBouncer":
            p = bench.start_pgbouncer(tmp, pg, name)
        else:
            p = bench.start_pgsift(tmp, pg, binary, name, kind == "pgsift")
    finally:
        bench.Proxy = orig
        bench.wait_ready = orig_wait
    try:
        r = run_pgbench(p.port, mode, t, work)
    finally:
        p.proc.send_signal(signal.SIGINT)
        try:
            p.proc.wait(180)
        except subprocess.TimeoutExpired:
            p.proc.send_signal(signal.SIGTERM)
            p.proc.wait(60)
        p.out.close()
    irs = {}
    for fn in os.listdir(d):
        m = re.match(r"callgrind\.out-(\d+)$", fn) or re.match(r"callgrind\.out$", fn)
        if not m:
            continue
        th = int(m.group(1)) if m.groups() else 1
        with open(os.path.join(d, fn)) as f:
            for line in f:
                if line.startswith("summary:") or line.startswith("totals:"):
                    irs[th] = int(line.split()[1])
    if not irs:
        raise RuntimeError("callgrind wrote nothing in %s (see %s.out)" % (d, p.logfile))
    return irs, r["txns"]


def measure_instructions(kind, tmp, pg, binary, mode, n1, work, seq, reps):
    """reps pairs of callgrind runs (N1, N2 = 2 * N1); per thread and total, the median over
    the pairs, with the total's min and max."""
    pairs = []
    for i in range(reps):
        a, ta = callgrind_once(kind, tmp, pg, binary, mode, n1, work, seq + 2 * i)
        b, tb = callgrind_once(kind, tmp, pg, binary, mode, 2 * n1, work, seq + 2 * i + 1)
        dt = float(tb - ta)
        per = {th: (b.get(th, 0) - a.get(th, 0)) / dt for th in set(a) | set(b)}
        pairs.append({"threads": per, "total": sum(per.values()), "n1": ta, "n2": tb,
                      "ir_n1": sum(a.values()), "ir_n2": sum(b.values())})
    ths = set()
    for p in pairs:
        ths |= set(p["threads"])
    totals = [p["total"] for p in pairs]
    return {"threads": {th: bench.median([p["threads"].get(th, 0.0) for p in pairs])
                        for th in ths},
            "total": bench.median(totals), "min": min(totals), "max": max(totals),
            "pairs": pairs}


def thread_label(kind, th):
    if th == 1:
        return "thread 1 (event loop)"
    if th == 2 and kind != "PgBouncer":
        return "thread 2 (statistics worker)"
    return "thread %d" % th


# ---------------------------------------------------------------------------------------------
# Report.


def build_report(ctx):
    L = []
    a = L.append
    res = ctx["results"]

    def cell(kind, mode, fn):
        r = res.get((kind, mode))
        if r is None:
            return ctx["na"].get((kind, mode), "not run")
        if isinstance(r, str):
            return r
        try:
            return fn(r)
        except (KeyError, TypeError):
            return "–"

    def table(title, fn, kinds=TARGETS):
        a(title)
        a("")
        a("| target | " + " | ".join(ctx["modes"]) + " |")
        a("|---|" + "---:|" * len(ctx["modes"]))
        for k in kinds:
            if k in ctx["targets"]:
                a("| %s | %s |" % (TARGET_TITLES[k], " | ".join(
                    cell(k, m, fn) for m in ctx["modes"])))
        a("")

    def thread_table(title, fmt):
        """One row per (target, thread of the proxy), a column per mode."""
        a(title)
        a("")
        a("| target | thread | " + " | ".join(ctx["modes"]) + " |")
        a("|---|---|" + "---:|" * len(ctx["modes"]))
        for k in TARGETS:
            labels = []
            for m in ctx["modes"]:
                r = res.get((k, m))
                for t in r["threads"] if isinstance(r, dict) else []:
                    if t["label"] not in labels:
                        labels.append(t["label"])
            for lb in labels:
                row = []
                for m in ctx["modes"]:
                    r = res.get((k, m))
                    t = [x for x in r["threads"] if x["label"] == lb] if isinstance(r, dict) else []
                    row.append(fmt(t[0]) if t else "–")
                a("| %s | %s | %s |" % (TARGET_TITLES[k], lb, " | ".join(row)))
        a("")

    a("# Per-transaction cost: pgsift (statistics on / off) and PgBouncer (issue 15)")
    a("")
    a("Written by `tests/bench/percall.py` on %s; pgsift %s (git %s%s); %s; %s." % (
        ctx["date"], ctx["pgsift_version"], ctx["commit"], ", dirty tree" if ctx["dirty"] else "",
        ctx["pgb_version"], ctx["pg_version"]))
    mi = ctx["machine"]
    a("Machine: %d cores (%s), %.1f GB RAM, Linux %s. Load average (1/5/15 min) before: %s, "
      "after: %s." % (mi["nproc"], mi["cpu"], mi["mem_gb"], mi["kernel"], ctx["load_start"],
                      ctx["load_end"]))
    a("")
    a("The %d cores are shared with other work (builds, tests, other benchmarks): CPU µs and "
      "context switches are noisy, by tens of percent from one run to the next, and TPS more "
      "so. The instruction counts come from callgrind: exact for the run measured, they move "
      "only with how much work one wake-up of the proxy finds (see section 4)." % mi["nproc"])
    a("")
    a("Command: `%s`" % ctx["command"])
    a("")
    a("Every cell: `%s` (N = %d per client, %d clients, so %d transactions), after a warm-up "
      "`-t 20` run that fills the pool (pool size %d, transaction pooling)." % (
          " ".join(pgbench_cmd("PORT", "MODE", ctx["txns"])).replace(PG_BIN + "/", ""),
          ctx["txns"], CLIENTS, CLIENTS * ctx["txns"], POOL_SIZE))
    a("")
    if ctx["na_note"]:
        a(ctx["na_note"])
        a("")

    a("## 1. Proxy CPU per transaction")
    a("")
    table("µs user + µs system (= total) of the proxy process, all threads, from "
          "/proc/PID/stat utime/stime (%d Hz ticks) before/after the run:" % CLK_TCK,
          lambda r: "%.1f + %.1f = %.1f" % (r["user_us"], r["sys_us"],
                                             r["user_us"] + r["sys_us"]))
    table("pgbench's TPS in the same run (for reference only; noisy):",
          lambda r: "%.0f" % r["tps"])
    table("pgbench's own CPU µs per transaction (user + system, from wait4's rusage):",
          lambda r: "%.1f" % r["pgbench_cpu_us"])
    thread_table("Per thread of the proxy (µs user + system):",
                 lambda t: "%.1f + %.1f" % (t["user_us"], t["sys_us"]))

    a("## 2. Context switches per transaction")
    a("")
    a("Voluntary + involuntary, before/after: the proxy (every thread, /proc/PID/task/*/status), "
      "pgbench (all threads, wait4's rusage) and the PostgreSQL backends serving the proxy's "
      "pool (pg_stat_activity rows whose client port is one of the proxy's connections to "
      "PostgreSQL; /proc/PID/status).")
    a("")
    table("Total (proxy + pgbench + backends):", lambda r: "%.2f" % r["ctx_total"])
    table("Proxy:", lambda r: "%.2f" % r["ctx_proxy"])
    table("pgbench:", lambda r: "%.2f" % r["ctx_pgbench"])
    table("PostgreSQL backends (number of backends in parentheses):",
          lambda r: "%.2f (%s)" % (r["ctx_backends"], r["backends"]))
    thread_table("Proxy, per thread:", lambda t: "%.2f" % t["ctx"])

    a("## 3. Proxy syscalls per transaction")
    a("")
    sy = ctx["syscalls"]
    if ctx["strace_note"]:
        a(ctx["strace_note"])
        a("")
    else:
        a("A second run of the same pgbench command with `strace -f -c -S calls -o FILE -p PID` "
          "attached to the proxy (every thread) for the whole run; calls / transactions. strace "
          "slows the proxy several times, so a wake-up finds more work than without it: "
          "epoll_wait and read-side counts are those of the slowed run. The few syscalls of pgbench's 8 logins "
          "are included (< 0.02 per transaction at these counts).")
        a("")
        a("| target | " + " | ".join(ctx["modes"]) + " |")
        a("|---|" + "---:|" * len(ctx["modes"]))
        for k in TARGETS:
            if k in ctx["targets"]:
                a("| %s | %s |" % (TARGET_TITLES[k], " | ".join(
                    ("%.2f" % sy[(k, m)]["total"]) if isinstance(sy.get((k, m)), dict)
                    else sy.get((k, m), ctx["na"].get((k, m), "not run")) for m in ctx["modes"])))
        a("")
        for k in TARGETS:
            names = {}
            for m in ctx["modes"]:
                r = sy.get((k, m))
                if isinstance(r, dict):
                    for nm, v in r["calls"].items():
                        names[nm] = max(names.get(nm, 0), v)
            shown = [nm for nm in sorted(names, key=lambda x: -names[x]) if names[nm] >= 0.005]
            if not shown:
                continue
            a("%s, by syscall (calls per transaction; failed calls in parentheses, e.g. "
              "EAGAIN):" % TARGET_TITLES[k])
            a("")
            a("| syscall | " + " | ".join(ctx["modes"]) + " |")
            a("|---|" + "---:|" * len(ctx["modes"]))
            for nm in shown:
                row = []
                for m in ctx["modes"]:
                    r = sy.get((k, m))
                    if not isinstance(r, dict):
                        row.append("n/a" if (k, m) in ctx["na"] else "–")
                        continue
                    v = r["calls"].get(nm, 0.0)
                    e = r["errors"].get(nm, 0.0)
                    row.append("%.2f%s" % (v, " (%.2f)" % e if e >= 0.005 else ""))
                a("| %s | %s |" % (nm, " | ".join(row)))
            a("")

    a("## 4. User-space instructions per transaction (callgrind)")
    a("")
    ins = ctx["instructions"]
    if ctx["callgrind_note"]:
        a(ctx["callgrind_note"])
        a("")
    else:
        a("The proxy started afresh under `%s --callgrind-out-file=DIR/callgrind.out <proxy> "
          "<ini>` for each of two runs, `-t %d` and `-t %d` per client (%d and %d "
          "transactions), each stopped with SIGINT; instructions (Ir) = (Ir(N2) - Ir(N1)) / "
          "(transactions(N2) - transactions(N1)), so the start, the logins, the pool's server "
          "logins and the exit cancel out. User space only (callgrind does not see the kernel). "
          "Each count is exact for its run, but runs differ by how many messages one wake-up "
          "of the proxy finds (under valgrind the threads run one at a time and many times "
          "slower): %d repetitions, the median shown, the totals' min–max in parentheses." % (
              " ".join(VALGRIND), ctx["cg_txns"], 2 * ctx["cg_txns"], CLIENTS * ctx["cg_txns"],
              2 * CLIENTS * ctx["cg_txns"], ctx["cg_reps"]))
        a("")
        a("| target | thread | " + " | ".join(ctx["modes"]) + " |")
        a("|---|---|" + "---:|" * len(ctx["modes"]))
        for k in TARGETS:
            if k not in ctx["targets"]:
                continue
            ths = set()
            for m in ctx["modes"]:
                r = ins.get((k, m))
                if isinstance(r, dict):
                    ths |= set(r["threads"])
            for th in sorted(ths):
                row = []
                for m in ctx["modes"]:
                    r = ins.get((k, m))
                    row.append("%.0f" % r["threads"][th] if isinstance(r, dict) and
                               th in r["threads"] else ("n/a" if (k, m) in ctx["na"] else "–"))
                a("| %s | %s | %s |" % (TARGET_TITLES[k], thread_label(k, th), " | ".join(row)))
            a("| %s | **total** | %s |" % (TARGET_TITLES[k], " | ".join(
                "**%.0f** (%.0f–%.0f)" % (ins[(k, m)]["total"], ins[(k, m)]["min"],
                                          ins[(k, m)]["max"])
                if isinstance(ins.get((k, m)), dict)
                else (ins.get((k, m)) or ctx["na"].get((k, m), "–")) for m in ctx["modes"])))
        a("")
        a("Raw totals (Ir over the whole process, N1 run / N2 run, per repetition):")
        a("")
        for k in TARGETS:
            for m in ctx["modes"]:
                r = ins.get((k, m))
                if isinstance(r, dict):
                    a("- %s, %s: %s" % (TARGET_TITLES[k], m, "; ".join(
                        "%d Ir / %d txns, %d Ir / %d txns -> %.0f" % (
                            p["ir_n1"], p["n1"], p["ir_n2"], p["n2"], p["total"])
                        for p in r["pairs"])))
        a("")

    a("## Settings")
    a("")
    a("pgsift (track_statements = 1: bench.py's \"statistics on\" settings; "
      "track_statements = 0 adds `track_statements = 0` and `slow_query_ms = -1` instead):")
    a("")
    a("```")
    a(ctx["px_ini"].rstrip())
    a("```")
    a("")
    a("PgBouncer:")
    a("")
    a("```")
    a(ctx["pgb_ini"].rstrip())
    a("```")
    a("")
    a("PostgreSQL (appended to initdb's postgresql.conf), pgbench -i -s %d:" % ctx["scale"])
    a("")
    a("```")
    a(ctx["pg_conf"].rstrip())
    a("```")
    a("")
    if ctx["errors"]:
        a("## Errors")
        a("")
        for e in ctx["errors"]:
            a("- " + e.replace("\n", " ")[:600])
        a("")
    return "\n".join(L)


# ---------------------------------------------------------------------------------------------


def pgbouncer_prepared_ok(version_line):
    m = re.search(r"(\d+)\.(\d+)", version_line)
    return bool(m) and (int(m.group(1)), int(m.group(2))) >= (1, 21)


def main():
    ap = argparse.ArgumentParser(description="per-transaction cost of pgsift and PgBouncer")
    ap.add_argument("--pgsift", default=os.environ.get("PGSIFT_BIN",
                                                       "/tmp/percall-build/pgsift"))
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: --txns 300 --cg-txns 25 --cg-reps 1 (under a minute)")
    ap.add_argument("--txns", type=int, default=None,
                    help="transactions per client for CPU, context switches and strace "
                    "(default 2000)")
    ap.add_argument("--cg-txns", type=int, default=None,
                    help="N1 per client for callgrind; N2 = 2 * N1 (default 250)")
    ap.add_argument("--cg-reps", type=int, default=None,
                    help="callgrind N1/N2 pairs per cell, median reported (default 3)")
    ap.add_argument("--rev", default=None, help="the git revision the pgsift binary was built "
                    "from, for the report (default: this tree's HEAD and whether it is dirty)")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--no-strace", action="store_true")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--scale", type=int, default=None, help="pgbench -i -s (default 10)")
    ap.add_argument("--out", default=None, help="Markdown report (default "
                    "/tmp/pgsift-percall.md)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    txns = args.txns or (300 if args.quick else 2000)
    cg_txns = args.cg_txns or (25 if args.quick else 250)
    cg_reps = args.cg_reps or (1 if args.quick else 3)
    scale = args.scale or (2 if args.quick else 10)
    modes = [m for m in args.modes.split(",") if m]
    kinds = [k for k in args.targets.split(",") if k]
    if set(modes) - set(MODES) or set(kinds) - set(TARGETS):
        sys.exit("percall.py: --modes takes %s, --targets %s" % (",".join(MODES),
                                                                  ",".join(TARGETS)))
    bench.check_can_run("percall.py", args.pgsift)
    out_path = args.out or os.path.join(tempfile.gettempdir(), "pgsift-percall.md")

    bench.POOL_SIZE = POOL_SIZE  # read by start_pgsift / start_pgbouncer
    bench.start_run()
    tmp = tempfile.mkdtemp(prefix="pgsift-percall-")
    os.chmod(tmp, 0o755)
    if not args.keep:
        bench._cleanups.insert(0, lambda: shutil.rmtree(tmp, ignore_errors=True))
    else:
        log("keeping %s" % tmp)
    work = os.path.join(tmp, "work")
    os.mkdir(work)

    ctx = {
        "command": " ".join(["/usr/bin/python3", "tests/bench/percall.py"] + sys.argv[1:]),
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": bench.machine_info(), "load_start": bench.loadavg(),
        "pg_version": bench.first_line([PG_BIN + "/postgres", "--version"]),
        "pgb_version": bench.first_line(["/usr/sbin/pgbouncer", "--version"]),
        "commit": bench.git("rev-parse", "--short", "HEAD"),
        "dirty": bool(bench.git("status", "--porcelain", "--untracked-files=no")),
        "txns": txns, "cg_txns": cg_txns, "cg_reps": cg_reps, "scale": scale, "modes": modes,
        "targets": kinds,
        "results": {}, "syscalls": {}, "instructions": {}, "na": {}, "na_note": "",
        "strace_note": "", "callgrind_note": "", "errors": [],
    }
    if args.rev:
        ctx["commit"], ctx["dirty"] = args.rev, False
    binary = os.path.join(tmp, "pgsift-bin")
    shutil.copy2(args.pgsift, binary)
    os.chmod(binary, 0o755)
    ctx["pgsift_version"] = bench.first_line([binary, "--version"]).replace("pgsift ", "")

    pgb_prepared = pgbouncer_prepared_ok(ctx["pgb_version"])
    if "PgBouncer" in kinds and "prepared" in modes and not pgb_prepared:
        ctx["na"][("PgBouncer", "prepared")] = "n/a"
        ctx["na_note"] = (
            "PgBouncer × prepared is n/a: %s does not support protocol-level named prepared "
            "statements in transaction pooling (that came with max_prepared_statements in "
            "1.21): pgbench -M prepared would prepare on one server connection and execute on "
            "another (\"prepared statement ... does not exist\")." % ctx["pgb_version"])
    if not shutil.which("strace") and not args.no_strace:
        ctx["strace_note"] = ("Syscalls not measured: strace is not installed "
                              "(`apt-get install -y strace`).")
    elif args.no_strace:
        ctx["strace_note"] = "Syscalls not measured (--no-strace)."
    if not shutil.which("valgrind") and not args.no_callgrind:
        ctx["callgrind_note"] = "Instructions not measured: valgrind is not installed."
    elif args.no_callgrind:
        ctx["callgrind_note"] = "Instructions not measured (--no-callgrind)."

    log("starting PostgreSQL 15 in %s" % tmp)
    pg = bench.Postgres(tmp)
    ctx["pg_conf"] = pg.conf
    bench.run([PG_BIN + "/createdb", "-h", "127.0.0.1", "-p", str(pg.port), "-U", bench.DBUSER,
               bench.DB])
    log("pgbench -i -s %d" % scale)
    bench.run([PG_BIN + "/pgbench", "-i", "-s", str(scale), "-q", "-h", "127.0.0.1", "-p",
               str(pg.port), "-U", bench.DBUSER, bench.DB], timeout=600)
    proxies = {}
    if "PgBouncer" in kinds:
        proxies["PgBouncer"] = bench.start_pgbouncer(tmp, pg)
        if pgb_prepared:
            ini = proxies["PgBouncer"].cmd[-1]
            with open(ini, "a") as f:
                f.write("max_prepared_statements = 200\n")
            proxies["PgBouncer"].proc.send_signal(signal.SIGHUP)
            time.sleep(1)
    if "pgsift" in kinds:
        proxies["pgsift"] = bench.start_pgsift(tmp, pg, binary, "pgsift", True)
    if "pgsift-nostats" in kinds:
        proxies["pgsift-nostats"] = bench.start_pgsift(tmp, pg, binary, "pgsift-nostats", False)
    ctx["pgb_ini"] = proxies["PgBouncer"].ini_text if "PgBouncer" in proxies else "(not run)"
    ctx["px_ini"] = (proxies.get("pgsift") or proxies.get("pgsift-nostats")).ini_text \
        if ("pgsift" in proxies or "pgsift-nostats" in proxies) else "(not run)"

    cells = [(k, m) for m in modes for k in kinds if (k, m) not in ctx["na"]]
    for i, (k, m) in enumerate(cells):
        p = proxies[k]
        if not p.alive():
            raise RuntimeError("%s died; see %s.out" % (k, p.logfile))
        try:
            r = measure_cpu_ctx(p, pg, m, txns, work)
            ctx["results"][(k, m)] = r
            log("[%d/%d] %-15s %-8s %6.0f tps  cpu %.1f+%.1f us  ctx proxy %.2f pgbench %.2f "
                "backends %.2f" % (i + 1, len(cells), k, m, r["tps"] or 0, r["user_us"],
                                   r["sys_us"], r["ctx_proxy"], r["ctx_pgbench"],
                                   r["ctx_backends"]))
        except Exception as e:  # one failing cell does not lose the others
            ctx["results"][(k, m)] = "failed"
            ctx["errors"].append("%s %s (CPU / context switches): %s" % (k, m, e))
            log("%s %s failed: %s" % (k, m, e))
        if not ctx["strace_note"]:
            try:
                s = measure_syscalls(p, m, txns, work)
                ctx["syscalls"][(k, m)] = s
                top = sorted(s["calls"].items(), key=lambda x: -x[1])[:4]
                log("    strace: %.2f syscalls/txn (%s)" % (s["total"], ", ".join(
                    "%s %.2f" % kv for kv in top)))
            except Exception as e:
                ctx["syscalls"][(k, m)] = "failed"
                ctx["errors"].append("%s %s (strace): %s" % (k, m, e))
                log("%s %s strace failed: %s" % (k, m, e))

    if not ctx["callgrind_note"]:
        seq = 0
        for i, (k, m) in enumerate(cells):
            seq += 2 * cg_reps
            try:
                r = measure_instructions(k, tmp, pg, binary, m, cg_txns, work, seq, cg_reps)
                ctx["instructions"][(k, m)] = r
                log("[%d/%d] callgrind %-15s %-8s %.0f Ir/txn (%.0f-%.0f; %s)" % (
                    i + 1, len(cells), k, m, r["total"], r["min"], r["max"], ", ".join(
                        "t%d %.0f" % kv for kv in sorted(r["threads"].items()))))
            except Exception as e:
                ctx["instructions"][(k, m)] = "failed"
                ctx["errors"].append("%s %s (callgrind): %s" % (k, m, e))
                log("%s %s callgrind failed: %s" % (k, m, e))

    ctx["load_end"] = bench.loadavg()
    report = build_report(ctx)
    with open(out_path, "w") as f:
        f.write(report + "\n")
    print(report)
    print("\nwritten to %s" % out_path)
    return 1 if ctx["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
