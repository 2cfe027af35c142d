#!/usr/bin/python3
"""
bench: pgsift side by side with PostgreSQL and Debian's PgBouncer, in one run (issue 7).

What it does. Starts a throwaway PostgreSQL 15 (initdb as the postgres user into a temporary
directory), Debian's pgbouncer and pgsift (both as the postgres user, both in front of that
PostgreSQL with the same pool mode and size), initialises pgbench, then runs every scenario
against direct PostgreSQL, PgBouncer and pgsift in turn, interleaved (A B C A B C ...) for
BENCH_ROUNDS rounds, and prints the medians and the ratios pgsift/PgBouncer and pgsift/direct.
Each cell records pgbench's TPS, p50/p99 latency computed here from pgbench's per-transaction
log (-l), and the CPU seconds the proxy process used (utime + stime from /proc/PID/stat, all
threads). Then it measures the RSS of each proxy with N idle clients logged in (a small client
in this file opens them with the v3 protocol), compares pgsift with statistics + slow log on and
off (issue 5), optionally profiles both proxies with `perf record` under the -S -M simple
32-client load, and writes everything to a Markdown file (tests/bench/RESULTS.md by default).

TLS cells (S-tls-client-32, S-tls-client-extended-32, S-tls-both-32, S-tls-both-extended-32):
a CA and a server certificate made with openssl in the temp dir; PostgreSQL runs with ssl = on
(plaintext still allowed: the plaintext cells connect with sslmode=disable, and the plaintext
pgsift says server_tls_sslmode = disable, PgBouncer 1.18's default); pgbench connects with
sslmode=require to direct PostgreSQL and to a PgBouncer and a pgsift with client_tls_sslmode =
require and server_tls_sslmode = disable ("client leg") or require ("both legs"). Before and
after the cells the run checks that the connections are TLS (psql's conninfo, a plaintext login
refused, pg_stat_ssl of the proxies' server connections) and stops otherwise.

How to run (as root; tests/bench/run.sh builds pgsift in build-bench first):
    tests/bench/run.sh                 # the default run, about 20 minutes
    tests/bench/run.sh --quick         # smoke test, about 2 minutes, writes to the temp dir
    BENCH_SECONDS=20 BENCH_ROUNDS=5 tests/bench/run.sh
    /usr/bin/python3 tests/bench/bench.py --pgsift build-bench/pgsift --only S-simple-32
    /usr/bin/python3 tests/bench/bench.py --pgsift build-bench/pgsift --skip issue5,rss \
        --only S-tls-client-32,S-tls-both-32 --no-profile --out /tmp/tls.md

What it leaves to others: it never edits pgsift's code; the hand-written analysis in the output
file (everything from the line "## Analysis" on) is kept across runs.
"""

import argparse
import atexit
import datetime
import os
import pwd
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

PG_BIN = "/usr/lib/postgresql/15/bin"
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
DB = "bench"
DBUSER = "postgres"
POOL_SIZE = 20
MAX_CLIENT_CONN = 6000
CLK_TCK = os.sysconf("SC_CLK_TCK")
ANALYSIS_MARK = "## Analysis"


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, timeout=120, as_postgres=False, check=True, env=None):
    """Runs cmd with output captured; as_postgres drops to the postgres user (initdb refuses
    root). Raises with the output when check and the command fails."""
    if as_postgres and os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       env=env)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (rc %d):\n%s%s" % (
            " ".join(cmd), r.returncode, r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace")))
    return r


def first_line(cmd):
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        return r.stdout.decode(errors="replace").strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def proc_cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def percentile(sorted_vals, p):
    """Nearest-rank percentile of an already sorted list (p in 0..100)."""
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


# ---------------------------------------------------------------------------------------------
# The three targets.

_cleanups = []


def cleanup():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # keep cleaning whatever one step does
            log("cleanup step failed: %r" % (e,))


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def check_can_run(prog, pgsift):
    """Exits unless running as root with an executable pgsift binary (initdb, PgBouncer and
    pgsift run as the postgres user)."""
    if os.geteuid() != 0:
        sys.exit("%s: run as root (initdb and the proxies run as the postgres user)" % prog)
    if not os.access(pgsift, os.X_OK):
        sys.exit("%s: pgsift binary %s not found (build it or pass --pgsift)" % (prog, pgsift))


def raise_fd_limit():
    """Hundreds of pgbench clients and 6000-client proxies need descriptors (the children
    inherit the limit): the soft limit up to 20000 where the hard one allows. Returns hard."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 20000 if hard == resource.RLIM_INFINITY else min(hard, 20000)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    return hard


def start_run():
    """Plaintext libpq connections (PostgreSQL may have ssl = on for the TLS cells, and
    libpq's default sslmode=prefer would make the plaintext cells TLS), and everything started
    is cleaned up at exit or on a signal."""
    os.environ["PGSSLMODE"] = "disable"
    atexit.register(cleanup)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _on_signal)


class Postgres:
    def __init__(self, tmp, certs=None):
        self.dir = os.path.join(tmp, "pg")
        os.mkdir(self.dir)
        os.chown(self.dir, *postgres_ids())
        self.data = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "postgresql.log")
        self.port = free_port()
        self.running = False
        run([PG_BIN + "/initdb", "-D", self.data, "-U", DBUSER, "--auth=trust", "-E", "UTF8",
             "--locale=C", "--no-sync"], as_postgres=True)
        self.conf = """listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
max_connections = 700
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
""" % (self.port, self.dir)
        if certs:
            # For the TLS cells. Plaintext stays allowed (pg_hba.conf from initdb has "host"
            # lines), and every plaintext cell connects with sslmode=disable, so the cells
            # without TLS are unchanged.
            for src, dst in ((certs["crt"], "server.crt"), (certs["key"], "server.key")):
                shutil.copy(src, os.path.join(self.data, dst))
                os.chown(os.path.join(self.data, dst), *postgres_ids())
            os.chmod(os.path.join(self.data, "server.key"), 0o600)
            self.conf += ("ssl = on\nssl_cert_file = 'server.crt'\n"
                          "ssl_key_file = 'server.key'\n")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(self.conf)
        _cleanups.append(self.stop)
        run([PG_BIN + "/pg_ctl", "-D", self.data, "-l", self.logfile, "-w", "-t", "120",
             "start"], timeout=180, as_postgres=True)
        self.running = True

    def stop(self):
        if self.running:
            run([PG_BIN + "/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"], timeout=120,
                as_postgres=True, check=False)
            self.running = False


def postgres_ids():
    pw = pwd.getpwnam("postgres")
    return pw.pw_uid, pw.pw_gid


def wait_ready(port, proc, what, timeout=30, env=None):
    """Polls a real login + SELECT 1 on 127.0.0.1:port until it works."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %d before it was ready" % (what, proc.returncode))
        r = subprocess.run([PG_BIN + "/psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(port),
                            "-U", DBUSER, "-d", DB, "-c", "SELECT 1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, env=env)
        if r.returncode == 0 and r.stdout.strip() == b"1":
            return
        last = r.stderr.decode(errors="replace").strip()
        time.sleep(0.1)
    raise RuntimeError("%s not ready on port %d: %s" % (what, port, last))


class Proxy:
    """A proxy process run as the postgres user; pid is the proxy itself (no wrapper)."""

    def __init__(self, name, cmd, port, logfile, env=None, label=None):
        self.name = name
        self.label = label or name  # the column in the report (the TLS instances share one)
        self.port = port
        self.cmd = cmd
        self.logfile = logfile
        uid, gid = postgres_ids()
        self.out = open(logfile + ".out", "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT, user=uid, group=gid,
                                     extra_groups=[], close_fds=True)
        self.pid = self.proc.pid
        _cleanups.append(self.stop)
        wait_ready(port, self.proc, name, env=env)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)
        self.out.close()

    def alive(self):
        return self.proc.poll() is None


def tls_ini(tls):
    """The lines both proxies get for a TLS target: tls = (certs, server_tls_sslmode).
    PgBouncer 1.18 and pgsift spell these keys the same."""
    certs, server_mode = tls
    return ("client_tls_sslmode = require\nclient_tls_cert_file = %s\n"
            "client_tls_key_file = %s\nserver_tls_sslmode = %s\n" % (
                certs["crt"], certs["key"], server_mode))


def tls_env(mode="require"):
    return dict(os.environ, PGSSLMODE=mode)


def pgbouncer_ini_text(d, pg_port, port, pool=POOL_SIZE, extra=""):
    """The benchmark's pgbouncer.ini for a proxy living in d (its userlist.txt is written
    there); extra: more [pgbouncer] lines (TLS, so_reuseport...)."""
    userlist = os.path.join(d, "userlist.txt")
    with open(userlist, "w") as f:
        f.write('"%s" ""\n' % DBUSER)
    return """[databases]
%s = host=127.0.0.1 port=%d dbname=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir = %s
auth_type = trust
auth_file = %s
pool_mode = transaction
default_pool_size = %d
max_client_conn = %d
log_connections = 0
log_disconnections = 0
logfile = %s
""" % (DB, pg_port, DB, port, d, userlist, pool, MAX_CLIENT_CONN,
       os.path.join(d, "pgbouncer.log")) + extra


def start_pgbouncer(tmp, pg, name="PgBouncer", tls=None, label=None):
    d = os.path.join(tmp, name)
    os.mkdir(d)
    os.chown(d, *postgres_ids())
    port = free_port()
    ini = os.path.join(d, "pgbouncer.ini")
    text = pgbouncer_ini_text(d, pg.port, port, extra=tls_ini(tls) if tls else "")
    with open(ini, "w") as f:
        f.write(text)
    os.chown(ini, *postgres_ids())
    p = Proxy(name, ["/usr/sbin/pgbouncer", ini], port, os.path.join(d, "pgbouncer"),
              env=tls_env() if tls else None, label=label)
    p.ini_text = text
    return p


def pgsift_ini_text(d, pg_port, port, stats_on=True, pool=POOL_SIZE, extra="", tls=None):
    """The benchmark's pgsift.ini for a proxy living in d: statistics, slow log and stats_file
    on (stats_on) or track_statements = 0; extra: more [pgsift] lines."""
    text = """[pgsift]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir = %s
auth_type = trust
pool_mode = transaction
default_pool_size = %d
max_client_conn = %d
log_connections = 0
log_disconnections = 0
logfile = %s
""" % (port, d, pool, MAX_CLIENT_CONN, os.path.join(d, "pgsift.log"))
    if stats_on:
        text += "slow_query_ms = 100\nslow_query_log = %s\nstats_file = %s\n" % (
            os.path.join(d, "slow.json"), os.path.join(d, "stats.bin"))
    else:
        text += "track_statements = 0\nslow_query_ms = -1\n"
    # PostgreSQL has ssl = on for the TLS cells, and pgsift's server_tls_sslmode defaults to
    # prefer (as libpq): the plaintext instances say disable so that they stay plaintext, as
    # PgBouncer 1.18 (whose default is disable) does.
    text += tls_ini(tls) if tls else "server_tls_sslmode = disable\n"
    text += extra
    return text + "\n[databases]\n%s = host=127.0.0.1 port=%d dbname=%s\n" % (DB, pg_port, DB)


def start_pgsift(tmp, pg, binary, name, stats_on, tls=None, label=None):
    d = os.path.join(tmp, name)
    os.mkdir(d)
    os.chown(d, *postgres_ids())
    port = free_port()
    ini = os.path.join(d, "pgsift.ini")
    text = pgsift_ini_text(d, pg.port, port, stats_on, tls=tls)
    with open(ini, "w") as f:
        f.write(text)
    os.chown(ini, *postgres_ids())
    p = Proxy(name, [binary, "-c", ini], port, os.path.join(d, "pgsift"),
              env=tls_env() if tls else None, label=label)
    p.ini_text = text
    return p


# ---------------------------------------------------------------------------------------------
# Scenarios and cells.


class Scenario:
    def __init__(self, key, clients, mode, script, jobs, note="", rate=None, tls=None):
        self.key = key
        # None: plaintext (sslmode=disable); "client": sslmode=require to the proxy, proxy to
        # PostgreSQL in plaintext; "both": TLS on the server leg too. Direct PostgreSQL is
        # reached with sslmode=require in both TLS kinds.
        self.tls = tls
        self.sslmode = "require" if tls else "disable"
        self.rate = rate  # pgbench -R: a fixed offered load, for CPU per transaction
        self.clients = clients
        self.mode = mode
        self.script = script  # "-S" or "tpcb"
        self.jobs = jobs
        self.note = note

    def title(self):
        s = "-S" if self.script == "-S" else "tpcb-like"
        r = ", -R %d" % self.rate if self.rate else ""
        t = {None: "", "client": ", TLS client leg", "both": ", TLS both legs"}[self.tls]
        return "%s -M %s, %d clients, -j %d%s%s" % (s, self.mode, self.clients, self.jobs, r, t)


def scenarios(big_prepared_jobs):
    out = []
    for mode in ("simple", "extended", "prepared"):
        for c in (1, 32, 500):
            # One thread per client up to 32: pgbench -M prepared prepares with a blocking
            # PQprepare, so a thread owning several clients can wait on a pool that its own
            # other clients hold. 500 clients get 8 threads (2 cores) except prepared.
            j = c if c <= 32 else (big_prepared_jobs if mode == "prepared" else 8)
            out.append(Scenario("S-%s-%d" % (mode, c), c, mode, "-S", j))
    out.append(Scenario("tpcb-simple-32", 32, "simple", "tpcb", 32))
    # The same offered load through every target (below what all of them sustain), so that
    # the proxies' CPU per transaction is compared at equal work rather than at saturation,
    # where the noise of a shared machine moves TPS by tens of percent.
    out.append(Scenario("S-simple-32-R10000", 32, "simple", "-S", 32, rate=10000))
    return out


TLS_KINDS = ("client", "both")


def tls_scenarios():
    """The TLS cells: the clients, threads, pool size and pool mode of S-simple-32 /
    S-extended-32, with sslmode=require to the target."""
    out = []
    for kind in TLS_KINDS:
        for mode in ("simple", "extended"):
            key = "S-tls-%s-32" % kind if mode == "simple" else "S-tls-%s-%s-32" % (kind, mode)
            out.append(Scenario(key, 32, mode, "-S", 32, tls=kind))
    return out


def make_certs(tmp):
    """A CA and a server certificate it signs (EC prime256v1, SAN DNS:localhost,
    IP:127.0.0.1), made with the openssl command; the key is the postgres user's, 0600
    (PostgreSQL insists, and both proxies run as postgres)."""
    d = os.path.join(tmp, "tls")
    os.mkdir(d)
    os.chmod(d, 0o755)

    def ossl(*args):
        r = subprocess.run(["openssl"] + list(args), cwd=d, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("openssl %s failed:\n%s" % (" ".join(args),
                                                           r.stdout.decode(errors="replace")))
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ossl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
         "-subj", "/CN=pgsift bench CA")
    ossl("req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr",
         "-subj", "/CN=localhost")
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName = DNS:localhost, IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext")
    certs = {"dir": d, "ca": os.path.join(d, "ca.crt"), "crt": os.path.join(d, "server.crt"),
             "key": os.path.join(d, "server.key")}
    for k in ("crt", "key"):
        os.chown(certs[k], *postgres_ids())
    os.chmod(certs["key"], 0o600)
    return certs


def pgbench_cmd(port, sc, seconds, log_prefix):
    cmd = [PG_BIN + "/pgbench", "-n", "-h", "127.0.0.1", "-p", str(port), "-U", DBUSER,
           "-c", str(sc.clients), "-j", str(sc.jobs), "-T", str(seconds), "-M", sc.mode]
    if sc.script == "-S":
        cmd.append("-S")
    if sc.rate:
        cmd += ["-R", str(sc.rate)]
    if log_prefix:
        cmd += ["-l", "--log-prefix=" + log_prefix]
    return cmd + [DB]


def read_latencies(log_dir, prefix):
    """All per-transaction latencies (ms) from pgbench's -l files prefix.PID[.N], sorted."""
    lat = []
    for name in os.listdir(log_dir):
        if not name.startswith(prefix + "."):
            continue
        path = os.path.join(log_dir, name)
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    lat.append(int(parts[2]) / 1000.0)
        os.unlink(path)
    lat.sort()
    return lat


class Cell:
    """One pgbench run: scenario x target x round."""

    def __init__(self):
        self.tps = None
        self.p50 = None
        self.p99 = None
        self.cpu = None
        self.txns = None
        self.status = "ok"
        self.error = ""


def run_cell(sc, target, seconds, work, latency_log=True):
    cell = Cell()
    prefix = "l%d" % int(time.monotonic() * 1000)
    cmd = pgbench_cmd(target.port, sc, seconds,
                      os.path.join(work, prefix) if latency_log else None)
    cpu0 = proc_cpu_seconds(target.pid) if target.pid else None
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=seconds + 90, cwd=work, env=tls_env(sc.sslmode))
        out = r.stdout.decode(errors="replace")
        err = r.stderr.decode(errors="replace")
        rc = r.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")
        err = (e.stderr or b"").decode(errors="replace")
        rc = None
    if target.pid:
        cell.cpu = proc_cpu_seconds(target.pid) - cpu0
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    if m:
        cell.tps = float(m.group(1))
    m = re.search(r"number of transactions actually processed: (\d+)", out)
    if m:
        cell.txns = int(m.group(1))
    failed = re.search(r"number of failed transactions: (\d+)", out)
    if rc is None:
        cell.status = "HUNG"
        cell.error = "pgbench did not finish within %d s (killed)" % (seconds + 90)
    elif rc != 0 or cell.tps is None or (failed and int(failed.group(1)) > 0):
        cell.status = "FAIL"
        lines = [l for l in err.splitlines() if l.strip() and "aborted" not in l.lower()]
        cell.error = (lines[0] if lines else err.strip()[:200]) or "rc %s" % rc
        if cell.tps is None and rc == 0:
            cell.error += "; no tps in pgbench's output: " + out.strip()[-300:]
    lat = read_latencies(work, prefix) if latency_log else []
    if lat:
        cell.p50 = percentile(lat, 50)
        cell.p99 = percentile(lat, 99)
    if cell.status != "ok":
        cell.tps = None
    return cell


class Direct:
    name = "direct"
    label = "direct"
    pid = None

    def __init__(self, pg):
        self.port = pg.port


# ---------------------------------------------------------------------------------------------
# TLS checks: the TLS cells count only if their connections really are TLS.


def proxy_server_ports(pid, pg_port):
    """Local ports of the established TCP connections process pid holds to 127.0.0.1:pg_port
    (its server connections), from /proc/PID/fd and /proc/net/tcp."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            local, remote, state, inode = parts[1], parts[2], parts[3], parts[9]
            if state == "01" and int(remote.split(":")[1], 16) == pg_port and inode in inodes:
                ports.append(int(local.split(":")[1], 16))
    return sorted(ports)


def psql(port, sql, sslmode, check=True):
    return run([PG_BIN + "/psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(port), "-U", DBUSER,
                "-d", DB, "-c", sql], timeout=60, check=check, env=tls_env(sslmode))


def check_server_leg(kind, t, pg):
    """Every established connection proxy t holds to PostgreSQL has ssl = t in pg_stat_ssl
    for kind "both", ssl = f for "client"; raises otherwise. Returns a line for the report."""
    want = "t" if kind == "both" else "f"
    # A server connection the proxy opened as pgbench finished may still be logging in (not
    # yet in pg_stat_activity): look again for a few seconds.
    deadline = time.monotonic() + 10
    while True:
        ports = proxy_server_ports(t.pid, pg.port)
        rows = psql(pg.port, "SELECT a.client_port, s.ssl, coalesce(s.version, ''), "
                    "coalesce(s.cipher, '') FROM pg_stat_activity a JOIN pg_stat_ssl s "
                    "USING (pid) WHERE a.client_port IN (%s)" % (",".join(map(str, ports)) or "0"),
                    "disable").stdout.decode().split()
        rows = [r.split("|") for r in rows]
        if (ports and len(rows) == len(ports)) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if not ports:
        raise RuntimeError("TLS check (%s, %s): no server connection found" % (kind, t.label))
    bad = [r for r in rows if r[1] != want]
    if len(rows) != len(ports) or bad:
        raise RuntimeError("TLS check (%s, %s): server connections on ports %s, pg_stat_ssl "
                           "rows %s; every one should have ssl = %s" % (
                               kind, t.label, ports, rows, want))
    return "%d connections, pg_stat_ssl ssl = %s%s" % (
        len(rows), want, " (%s %s)" % (rows[0][2], rows[0][3]) if want == "t" else "")


def check_tls(kind, targets, pg, work):
    """Fails loudly unless every target of the TLS kind speaks TLS where it should. Returns
    one line per check for the report."""
    notes = []
    for t in targets:
        # 1. psql with sslmode=require reports an SSL connection (protocol and cipher).
        out = psql(t.port, "\\conninfo", "require").stdout.decode(errors="replace")
        m = re.search(r"SSL connection \(protocol: ([^,]+), cipher: ([^,]+),", out)
        if not m:
            raise RuntimeError("TLS check (%s, %s): psql sslmode=require did not report an SSL "
                               "connection:\n%s" % (kind, t.label, out))
        line = "%s: psql sslmode=require: %s %s" % (t.label, m.group(1), m.group(2))
        # 2. A proxy refuses plaintext (client_tls_sslmode = require), so pgbench's
        # connections cannot have fallen back to it.
        if t.pid:
            r = psql(t.port, "SELECT 1", "disable", check=False)
            if r.returncode == 0:
                raise RuntimeError("TLS check (%s, %s): a plaintext login was accepted" % (
                    kind, t.label))
            line += "; plaintext refused (%s)" % (
                r.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1].strip()
        # 3. pgbench itself, with the cells' sslmode=require.
        r = subprocess.run([PG_BIN + "/pgbench", "-n", "-S", "-c", "2", "-j", "2", "-t", "20",
                            "-h", "127.0.0.1", "-p", str(t.port), "-U", DBUSER, DB],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
                           cwd=work, env=tls_env("require"))
        if r.returncode != 0:
            raise RuntimeError("TLS check (%s, %s): pgbench with sslmode=require failed:\n%s" % (
                kind, t.label, r.stdout.decode(errors="replace")))
        # 4. The proxy's server connections, as PostgreSQL's pg_stat_ssl sees them: TLS for
        # "both", plaintext for "client".
        if t.pid:
            line += "; server leg: " + check_server_leg(kind, t, pg)
        log("TLS check %s: %s" % (kind, line))
        notes.append(line)
    return notes


# ---------------------------------------------------------------------------------------------
# Idle clients for the RSS measurement.


def _startup_packet():
    body = struct.pack("!I", 196608)
    for k, v in (("user", DBUSER), ("database", DB), ("application_name", "idle")):
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def idle_clients(port, n, timeout=180, in_flight=200):
    """Opens n connections to 127.0.0.1:port and logs each in (trust) until ReadyForQuery.
    Returns (sockets, number that failed); the caller closes the sockets."""
    sel = selectors.DefaultSelector()
    pkt = _startup_packet()
    ready, failed, started = [], 0, 0
    pending = {}  # socket -> bytes received so far
    deadline = time.monotonic() + timeout

    def start_one():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        pending[s] = None  # None: not yet connected
        sel.register(s, selectors.EVENT_WRITE)

    while (len(ready) + failed < n) and time.monotonic() < deadline:
        while started < n and len(pending) < in_flight:
            start_one()
            started += 1
        for key, ev in sel.select(1.0):
            s = key.fileobj
            buf = pending[s]
            try:
                if buf is None:
                    errno_ = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if errno_:
                        raise OSError(errno_, os.strerror(errno_))
                    s.sendall(pkt)
                    pending[s] = b""
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                data = s.recv(65536)
                if not data:
                    raise OSError("closed by the proxy")
                buf += data
                done = False
                while len(buf) >= 5:
                    t = buf[0:1]
                    ln = struct.unpack("!I", buf[1:5])[0]
                    if len(buf) < 1 + ln:
                        break
                    if t == b"E":
                        raise OSError("ErrorResponse: %r" % buf[5:1 + ln])
                    if t == b"Z":
                        done = True
                    buf = buf[1 + ln:]
                pending[s] = buf
                if done:
                    sel.unregister(s)
                    del pending[s]
                    ready.append(s)
            except OSError as e:
                if failed == 0:
                    log("idle client failed: %s" % e)
                failed += 1
                sel.unregister(s)
                del pending[s]
                s.close()
    for s in list(pending):
        sel.unregister(s)
        s.close()
        failed += 1
    failed += n - started
    sel.close()
    return ready, failed


def measure_rss(proxy, n):
    res = {"before_kb": proc_status_kb(proxy.pid, "VmRSS")}
    anon_before = proc_status_kb(proxy.pid, "RssAnon")
    t0 = time.monotonic()
    socks, failed = idle_clients(proxy.port, n)
    res["login_s"] = time.monotonic() - t0
    time.sleep(1.0)
    res["connected"] = len(socks)
    res["failed"] = failed
    res["with_kb"] = proc_status_kb(proxy.pid, "VmRSS")
    res["hwm_kb"] = proc_status_kb(proxy.pid, "VmHWM")
    res["anon_kb"] = proc_status_kb(proxy.pid, "RssAnon")
    res["file_kb"] = proc_status_kb(proxy.pid, "RssFile")
    res["anon_before_kb"] = anon_before
    for s in socks:
        s.close()
    return res


# ---------------------------------------------------------------------------------------------
# Profile.


def profile(proxy, sc, seconds, work):
    """perf record -g on the proxy during one -S run; returns (report text, tps) or None."""
    if not shutil.which("perf"):
        return None
    data = os.path.join(work, "perf-%s.data" % proxy.name)
    rec = subprocess.Popen(["perf", "record", "-F", "1999", "-g", "-p", str(proxy.pid),
                            "-o", data, "--", "sleep", str(max(2, seconds - 1))],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(0.3)
    cell = run_cell(sc, proxy, seconds, work, latency_log=False)
    out = rec.communicate(timeout=seconds + 60)[0].decode(errors="replace")
    if rec.returncode != 0 or not os.path.exists(data):
        return ("perf record failed: %s" % out.strip()[:500], cell.tps)
    flat = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                           "--sort", "dso,symbol", "-g", "none", "--percent-limit", "0.7"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=300)
    bydso = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                            "--sort", "dso", "-g", "none", "--percent-limit", "0.5"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=300)
    children = subprocess.run(["perf", "report", "-i", data, "--stdio", "--children",
                               "--sort", "symbol", "-g", "none", "--percent-limit", "4"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=300)

    def strip(text):
        return "\n".join(l.rstrip() for l in text.decode(errors="replace").splitlines()
                         if l.strip() and not l.startswith("#"))
    text = ("By shared object (self time):\n" + strip(bydso.stdout) +
            "\n\nBy symbol (self time, >= 0.7%):\n" + strip(flat.stdout) +
            "\n\nInclusive (children, >= 4%):\n" + strip(children.stdout))
    return text, cell.tps


SYSCALLS = ("read", "write", "writev", "recvfrom", "sendto", "recvmsg", "sendmsg",
            "epoll_wait", "epoll_ctl", "futex", "clock_gettime")


def syscall_counts(proxy, sc, seconds, work):
    """Syscalls the proxy makes per pgbench transaction during one run, counted with perf stat
    on the syscall tracepoints (cheap: counting, no sampling). Returns
    ({syscall: count per transaction, "all": every syscall}, tps)."""
    if not shutil.which("perf"):
        return None
    events = ["raw_syscalls:sys_enter"] + ["syscalls:sys_enter_" + n for n in SYSCALLS]
    out_file = os.path.join(work, "stat-%s.txt" % proxy.name)
    st = subprocess.Popen(["perf", "stat", "-x", ",", "-o", out_file, "-e", ",".join(events),
                           "-p", str(proxy.pid), "--", "sleep", str(seconds + 3)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    cell = run_cell(sc, proxy, seconds, work, latency_log=False)
    st.wait(timeout=seconds + 60)
    if st.returncode != 0 or not cell.txns or not os.path.exists(out_file):
        return None
    counts = {}
    with open(out_file) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) >= 3 and parts[0].isdigit():
                counts[parts[2].split(":")[-1].replace("sys_enter_", "")] = int(parts[0])
    per_txn = {"all": counts.get("sys_enter", 0) / cell.txns}
    for n in SYSCALLS:
        per_txn[n] = counts.get(n, 0) / cell.txns
    return per_txn, cell.tps


# ---------------------------------------------------------------------------------------------
# Output.


def fmt(v, spec="%.0f"):
    return "–" if v is None else spec % v


def machine_info():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = proc_status_kb_file("/proc/meminfo", "MemTotal")
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_gb": mem / 1024.0 / 1024.0,
            "kernel": os.uname().release}


def proc_status_kb_file(path, key):
    with open(path) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def git(*args):
    try:
        return subprocess.run(["git", "-C", SOURCE_DIR] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, timeout=30).stdout.decode().strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def summarize(results, sc, tname):
    cells = results.get((sc.key, tname), [])
    ok = [c for c in cells if c.status == "ok"]
    s = {
        "tps": median([c.tps for c in ok]),
        "p50": median([c.p50 for c in ok]),
        "p99": median([c.p99 for c in ok]),
        "cpu": median([c.cpu for c in ok]),
        "cpu_us": median([c.cpu / c.txns * 1e6 for c in ok if c.cpu is not None and c.txns]),
        "all": cells,
        "fails": [c for c in cells if c.status != "ok"],
    }
    return s


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def per_round_ratios(res, key, num, den, attr="tps"):
    """Sorted ratios num/den of the cells of the same round (the rounds are interleaved, so a
    round's ratio cancels most of the machine's drift)."""
    def val(c):
        if c.status != "ok":
            return None
        if attr == "cpu_us":
            return c.cpu / c.txns * 1e6 if c.cpu is not None and c.txns else None
        return getattr(c, attr)
    out = []
    for x, y in zip(res.get((key, num), []), res.get((key, den), [])):
        vx, vy = val(x), val(y)
        if vx is not None and vy:
            out.append(vx / vy)
    return sorted(out)


def tls_section(ctx, a):
    res = ctx["results"]
    a("## TLS")
    a("")
    a("pgbench with `sslmode=require` (PGSSLMODE) to each target; the clients, threads, pool "
      "size and pool mode of the `-S` 32-client cells above. **Client leg**: TLS from pgbench "
      "to the proxy, the proxy to PostgreSQL in plaintext. **Both legs**: TLS on the server "
      "leg too. `direct` is pgbench to PostgreSQL over TLS, the same in both. One PgBouncer and "
      "one pgsift per kind, with the settings of the Commands section plus these lines "
      "(pgsift with statistics, slow log and stats_file on):")
    a("")
    for kind in TLS_KINDS:
        if kind in ctx["tls_ini"]:
            a("```ini")
            a("; %s" % ("client leg" if kind == "client" else "both legs"))
            a(ctx["tls_ini"][kind].strip())
            a("```")
    a("")
    a("The certificate: a CA and a server certificate it signs, made with `openssl req` in the "
      "temp dir (EC prime256v1, SAN DNS:localhost, IP:127.0.0.1), used by PostgreSQL "
      "(`ssl = on`, plaintext still allowed, so the cells above stay plaintext with "
      "`sslmode=disable`) and by both proxies. PgBouncer 1.18's TLS defaults otherwise "
      "(`client_tls_protocols = secure`, ciphers `fast`), pgsift's too (`secure`, `default`).")
    a("")
    a("Each cell (PORT = PostgreSQL, or the PgBouncer / pgsift of that kind):")
    a("")
    a("```")
    for sc in ctx["tls_scenarios"]:
        a("PGSSLMODE=require " + " ".join(pgbench_cmd("PORT", sc, ctx["seconds"], "DIR/PREFIX"))
          .replace(PG_BIN + "/", "") + "   # " + sc.key)
    a("```")
    a("")
    a("Checked before the cells (the run stops otherwise): psql with sslmode=require reports "
      "an SSL connection; each proxy refuses a plaintext login; pgbench with sslmode=require "
      "runs; the proxy's server connections (found from /proc/PID/fd and /proc/net/tcp) are "
      "all `ssl = t` in PostgreSQL's pg_stat_ssl for both legs and all `ssl = f` for the "
      "client leg:")
    a("")
    for kind in TLS_KINDS:
        for line in ctx["tls_checks"].get(kind, []):
            a("- %s: %s" % ("client leg" if kind == "client" else "both legs", line))
    a("")
    a("| scenario | target | TPS | p50 ms | p99 ms | proxy CPU s | proxy µs/txn | TPS per "
      "round |")
    a("|---|---|---:|---:|---:|---:|---:|---|")
    for sc in ctx["tls_scenarios"]:
        for t in ("direct", "PgBouncer", "pgsift"):
            s = summarize(res, sc, t)
            rounds = ", ".join(fmt(c.tps) if c.status == "ok" else c.status for c in s["all"])
            a("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                sc.title(), t, fmt(s["tps"]), fmt(s["p50"], "%.3f"), fmt(s["p99"], "%.3f"),
                fmt(s["cpu"], "%.2f"), fmt(s["cpu_us"], "%.1f"), rounds))
    a("")
    fails = []
    for sc in ctx["tls_scenarios"]:
        for t in ("direct", "PgBouncer", "pgsift"):
            for c in summarize(res, sc, t)["fails"]:
                fails.append("- %s via %s: %s — %s" % (sc.title(), t, c.status, c.error))
    if fails:
        a("Failed cells (not counted in the medians):")
        a("")
        for f in sorted(set(fails)):
            a(f)
        a("")
    a("Ratios. \"per round\" is the median of the rounds' own ratios (pgsift's cell and "
      "PgBouncer's cell of the same round, run back to back) with their range; \"of medians\" "
      "divides the medians of the table above.")
    a("")
    a("| scenario | pgsift/PgBouncer TPS per round (range) | of medians | pgsift/direct TPS | "
      "pgsift/PgBouncer p50 | pgsift/PgBouncer p99 | pgsift/PgBouncer CPU µs/txn per round |")
    a("|---|---:|---:|---:|---:|---:|---:|")
    for sc in ctx["tls_scenarios"]:
        px = summarize(res, sc, "pgsift")
        pb = summarize(res, sc, "PgBouncer")
        di = summarize(res, sc, "direct")
        tr = per_round_ratios(res, sc.key, "pgsift", "PgBouncer")
        cr = per_round_ratios(res, sc.key, "pgsift", "PgBouncer", "cpu_us")
        a("| %s | **%s** (%s-%s) | %s | %s | %s | %s | %s |" % (
            sc.title(), fmt(median(tr), "%.2f"), fmt(tr[0] if tr else None, "%.2f"),
            fmt(tr[-1] if tr else None, "%.2f"), fmt(ratio(px["tps"], pb["tps"]), "%.2f"),
            fmt(ratio(px["tps"], di["tps"]), "%.2f"), fmt(ratio(px["p50"], pb["p50"]), "%.2f"),
            fmt(ratio(px["p99"], pb["p99"]), "%.2f"), fmt(median(cr), "%.2f")))
    a("")
    # What TLS costs each target, when the plaintext cells ran in the same run.
    plain = {s.key: s for s in ctx["scenarios"]}
    rows = []
    for sc in ctx["tls_scenarios"]:
        pk = "S-%s-32" % sc.mode
        if pk not in plain:
            continue
        cells = []
        for t in ("direct", "PgBouncer", "pgsift"):
            st, sp = summarize(res, sc, t), summarize(res, plain[pk], t)
            cells.append("%s (%s)" % (fmt(ratio(st["tps"], sp["tps"]), "%.2f"),
                                      fmt(None if st["cpu_us"] is None or sp["cpu_us"] is None
                                          else st["cpu_us"] - sp["cpu_us"], "%+.1f")))
        rows.append("| %s vs %s | %s |" % (sc.key, pk, " | ".join(cells)))
    if rows:
        a("TLS over plaintext in this run: TPS ratio of the medians (and the proxy's extra µs "
          "of CPU per transaction):")
        a("")
        a("| cells | direct | PgBouncer | pgsift |")
        a("|---|---:|---:|---:|")
        for r in rows:
            a(r)
        a("")


def build_report(ctx):
    L = []
    a = L.append
    a("# pgsift benchmark results")
    a("")
    a("Generated by `%s` on %s. Do not edit by hand above \"%s\": the file is rewritten on "
      "every run (the analysis section is kept)." % (ctx["command"], ctx["date"],
                                                     ANALYSIS_MARK))
    a("")
    m = ctx["machine"]
    a("- Machine: %d CPUs (%s), %.1f GB RAM, Linux %s." % (m["nproc"], m["cpu"], m["mem_gb"],
                                                          m["kernel"]))
    a("- Load average at start / end: %s / %s. **This machine is shared with other engineers' "
      "builds and tests while the benchmark runs: the numbers are noisy.** The rounds are "
      "interleaved (direct, PgBouncer, pgsift, direct, ...) so that noise hits all three "
      "alike, and medians are reported; compare ratios from one run, not absolute numbers "
      "across runs." % (ctx["load_start"], ctx["load_end"]))
    a("- Versions: %s; %s; pgsift %s (commit %s%s)." % (
        ctx["pg_version"], ctx["pgb_version"], ctx["pgsift_version"], ctx["commit"],
        ", working tree had local changes" if ctx["dirty"] else ""))
    a("- Everything runs on this one machine over TCP on 127.0.0.1: PostgreSQL, the proxy, "
      "pgbench (which uses CPU on the same 2 cores) and the latency log pgbench writes.")
    a("- %d s per cell, %d rounds; pgbench scale 10; transaction pooling, pool size %d, "
      "max_client_conn %d on both proxies; pgsift with statistics, the slow-query log "
      "(slow_query_ms = 100, to a file) and stats_file on." % (
          ctx["seconds"], ctx["rounds"], POOL_SIZE, MAX_CLIENT_CONN))
    a("")
    a("## Commands")
    a("")
    a("```")
    a("# PostgreSQL 15: initdb -U %s --auth=trust (as postgres), then postgresql.conf:" % DBUSER)
    a(ctx["pg_conf"].strip())
    a("pgbench -i -s 10 -q %s" % DB)
    a("```")
    a("")
    a("PgBouncer (`/usr/sbin/pgbouncer pgbouncer.ini`, as postgres):")
    a("```ini")
    a(ctx["pgb_ini"].strip())
    a("```")
    a("pgsift (`pgsift -c pgsift.ini`, as postgres):")
    a("```ini")
    a(ctx["px_ini"].strip())
    a("```")
    a("Each cell (PORT = PostgreSQL, PgBouncer or pgsift):")
    a("```")
    for sc in ctx["scenarios"]:
        a("PGSSLMODE=disable " + " ".join(pgbench_cmd("PORT", sc, ctx["seconds"], "DIR/PREFIX"))
          .replace(PG_BIN + "/", ""))
    a("```")
    a("p50/p99 are computed from every line of the `-l` logs (nearest rank); CPU is utime + "
      "stime of the proxy process (all threads) from /proc/PID/stat across the cell, also "
      "divided by the transactions pgbench completed (µs/txn).")
    a("")
    a("Threads: `-j` equals the client count up to 32 clients, because pgbench -M prepared "
      "prepares with a blocking PQprepare per client: a thread owning several clients can "
      "block on one client while its other clients hold the pool's servers. At 500 clients "
      "-M simple/extended use -j 8; -M prepared uses -j %d (%s)." % (
          ctx["big_prepared_jobs"], ctx["big_prepared_why"]))
    a("")
    a("## Results (medians over %d rounds)" % ctx["rounds"])
    a("")
    a("| scenario | target | TPS | p50 ms | p99 ms | proxy CPU s | proxy µs/txn | TPS per "
      "round |")
    a("|---|---|---:|---:|---:|---:|---:|---|")
    res = ctx["results"]
    for sc in ctx["scenarios"]:
        for t in ctx["target_names"]:
            s = summarize(res, sc, t)
            rounds = ", ".join(fmt(c.tps) if c.status == "ok" else c.status for c in s["all"])
            a("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                sc.title(), t, fmt(s["tps"]), fmt(s["p50"], "%.3f"), fmt(s["p99"], "%.3f"),
                fmt(s["cpu"], "%.2f"), fmt(s["cpu_us"], "%.1f"), rounds))
    a("")
    fails = []
    for sc in ctx["scenarios"]:
        for t in ctx["target_names"]:
            for c in summarize(res, sc, t)["fails"]:
                fails.append("- %s via %s: %s — %s" % (sc.title(), t, c.status, c.error))
    if fails:
        a("Failed cells (not counted in the medians):")
        a("")
        seen = set()
        for f in fails:
            if f not in seen:
                L.append(f)
                seen.add(f)
        a("")
    a("## Ratios")
    a("")
    a("| scenario | pgsift/PgBouncer TPS | pgsift/direct TPS | pgsift/PgBouncer p50 | "
      "pgsift/PgBouncer CPU µs/txn |")
    a("|---|---:|---:|---:|---:|")
    for sc in ctx["scenarios"]:
        px = summarize(res, sc, "pgsift")
        pb = summarize(res, sc, "PgBouncer")
        di = summarize(res, sc, "direct")
        a("| %s | %s | %s | %s | %s |" % (
            sc.title(), fmt(ratio(px["tps"], pb["tps"]), "%.2f"),
            fmt(ratio(px["tps"], di["tps"]), "%.2f"), fmt(ratio(px["p50"], pb["p50"]), "%.2f"),
            fmt(ratio(px["cpu_us"], pb["cpu_us"]), "%.2f")))
    a("")
    a("## Targets (issue 7)")
    a("")
    a("| target | measured | met |")
    a("|---|---|---|")
    for name, measured, met in ctx["targets"]:
        a("| %s | %s | %s |" % (name, measured, met))
    a("")
    if ctx["tls_scenarios"]:
        tls_section(ctx, a)
    a("## Statistics and slow log on vs off (issue 5)")
    a("")
    i5 = ctx["issue5"]
    if i5:
        a("`%s` through pgsift with statistics, slow log and stats_file on (the instance "
          "above) and through a second pgsift with `track_statements = 0` (no statement goes "
          "to the statistics worker, no Bind parameter is sampled), `slow_query_ms = -1` and "
          "no stats_file / slow_query_log: pgsift as a plain pooler." % i5["title"])
        a("")
        a("| pgsift | TPS | p50 ms | p99 ms | proxy µs/txn | TPS per round |")
        a("|---|---:|---:|---:|---:|---|")
        for t in ("pgsift", "pgsift-nostats"):
            s = summarize(res, i5["sc"], t)
            a("| %s | %s | %s | %s | %s | %s |" % (
                "stats + slow log ON" if t == "pgsift" else "stats and slow log OFF",
                fmt(s["tps"]), fmt(s["p50"], "%.3f"), fmt(s["p99"], "%.3f"),
                fmt(s["cpu_us"], "%.1f"),
                ", ".join(fmt(c.tps) if c.status == "ok" else c.status for c in s["all"])))
        on = summarize(res, i5["sc"], "pgsift")
        off = summarize(res, i5["sc"], "pgsift-nostats")
        # Each round runs ON then OFF back to back: the ratio within a round cancels most of
        # the machine's drift, which is larger than the cost measured here.
        pairs = sorted(c.tps / d.tps for c, d in zip(on["all"], off["all"])
                       if c.status == "ok" and d.status == "ok" and d.tps)
        a("")
        a("Ratio ON/OFF TPS: **%s** (median of the %d rounds' ON/OFF ratios; range %s-%s; "
          "ratio of the median TPS %s). Extra pgsift CPU with statistics on: %s µs per "
          "transaction." % (
              fmt(median(pairs), "%.3f"), len(pairs), fmt(pairs[0] if pairs else None, "%.3f"),
              fmt(pairs[-1] if pairs else None, "%.3f"), fmt(ratio(on["tps"], off["tps"]),
                                                             "%.3f"),
              fmt(None if on["cpu_us"] is None or off["cpu_us"] is None
                  else on["cpu_us"] - off["cpu_us"], "%.1f")))
    else:
        a("(skipped)")
    a("")
    a("## RSS with idle clients")
    a("")
    a("A freshly started instance of each proxy (same settings as above; pgsift with statistics, "
      "slow log and stats_file on) after one `SELECT 1` login; a client in bench.py opens the "
      "connections through TCP and logs each in (startup packet, trust, until ReadyForQuery), 200 at a time, then "
      "holds them idle while VmRSS is read.")
    a("")
    a("| proxy | clients logged in | failed | RSS before | RSS with clients | per client | "
      "VmHWM | RssAnon before / with | RssFile with | login time |")
    a("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in ctx["rss"]:
        per = (r["with_kb"] - r["before_kb"]) * 1024.0 / r["connected"] if r["connected"] else 0
        a("| %s | %d | %d | %.1f MB | %.1f MB | %.0f B | %.1f MB | %.1f / %.1f MB | %.1f MB | "
          "%.1f s |" % (
              name, r["connected"], r["failed"], r["before_kb"] / 1024.0,
              r["with_kb"] / 1024.0, per, r["hwm_kb"] / 1024.0, r["anon_before_kb"] / 1024.0,
              r["anon_kb"] / 1024.0, r["file_kb"] / 1024.0, r["login_s"]))
    a("")
    a("## Profile")
    a("")
    if ctx["profiles"]:
        for name, (text, tps) in ctx["profiles"]:
            a("`perf record -F 1999 -g -p PID` on %s during `%s` (%s TPS in that run):" % (
                name, ctx["profile_sc"].title(), fmt(tps)))
            a("")
            a("```")
            a(text)
            a("```")
            a("")
    else:
        a("(not run)")
        a("")
    if ctx["syscalls"]:
        a("Syscalls per transaction (`perf stat -e 'syscalls:sys_enter_*' -p PID` across one "
          "run of the same load; the client side and the server side of a proxy together):")
        a("")
        tables = ctx["syscalls"]
        a("| syscall | " + " | ".join("%s (%s TPS)" % (nm, fmt(tps)) for nm, (_, tps) in tables)
          + " |")
        a("|---|" + "---:|" * len(tables))
        for k in ("all",) + SYSCALLS:
            if any(t[k] for _, (t, _) in tables):
                a("| %s | %s |" % (k, " | ".join("%.2f" % t[k] for _, (t, _) in tables)))
        a("")
    a(ctx["analysis"].rstrip() if ctx["analysis"] else
      ANALYSIS_MARK + "\n\n(none written yet)")
    a("")
    return "\n".join(L)


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description="pgsift vs PgBouncer vs direct PostgreSQL")
    ap.add_argument("--pgsift", default=os.environ.get(
        "PGSIFT_BIN", os.path.join(SOURCE_DIR, "build-bench", "pgsift")))
    ap.add_argument("--quick", action="store_true", help="smoke test: ~2 minutes")
    ap.add_argument("--seconds", type=int, default=None, help="per cell (BENCH_SECONDS)")
    ap.add_argument("--rounds", type=int, default=None, help="BENCH_ROUNDS")
    ap.add_argument("--idle-clients", type=int, default=None, help="for RSS (default 5000)")
    ap.add_argument("--only", default=None, help="comma-separated scenario keys")
    ap.add_argument("--big-prepared-jobs", type=int, default=None,
                    help="-j for -M prepared at 500 clients")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--skip", default="", help="comma-separated: issue5 (the statistics "
                    "on/off comparison), rss (the idle-client RSS measurement)")
    ap.add_argument("--out", default=None, help="Markdown output (default "
                    "tests/bench/RESULTS.md, or the temp dir with --quick)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()

    seconds = args.seconds or int(os.environ.get("BENCH_SECONDS", "2" if args.quick else "8"))
    rounds = args.rounds or int(os.environ.get("BENCH_ROUNDS", "1" if args.quick else "3"))
    idle_n = args.idle_clients or int(os.environ.get("BENCH_IDLE_CLIENTS",
                                                     "1000" if args.quick else "5000"))
    big_prep_j = args.big_prepared_jobs or int(os.environ.get("BENCH_BIG_PREPARED_JOBS", "8"))
    check_can_run("bench.py", args.pgsift)
    # 5000 idle clients need descriptors too
    hard = raise_fd_limit()
    if min(hard, 20000) < idle_n + 200:
        log("RLIMIT_NOFILE hard limit %d is low for %d idle clients" % (hard, idle_n))

    skip = set(x for x in args.skip.split(",") if x)
    if skip - {"issue5", "rss"}:
        sys.exit("bench.py: --skip takes issue5 and/or rss")
    start_run()

    tmp = tempfile.mkdtemp(prefix="pgsift-bench-")
    os.chmod(tmp, 0o755)
    if not args.keep:
        _cleanups.insert(0, lambda: shutil.rmtree(tmp, ignore_errors=True))
    else:
        log("keeping %s" % tmp)
    work = os.path.join(tmp, "work")
    os.mkdir(work)
    out_path = args.out or (os.path.join(HERE, "RESULTS.md") if not args.quick
                            else os.path.join(tempfile.gettempdir(), "pgsift-bench-quick.md"))

    ctx = {
        "command": " ".join(["tests/bench/run.sh"] + sys.argv[1:]),
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": machine_info(),
        "load_start": loadavg(),
        "seconds": seconds,
        "rounds": rounds,
        "pg_version": first_line([PG_BIN + "/postgres", "--version"]),
        "pgb_version": first_line(["/usr/sbin/pgbouncer", "--version"]),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "big_prepared_jobs": big_prep_j,
        "big_prepared_why": os.environ.get(
            "BENCH_BIG_PREPARED_WHY",
            "the same as simple/extended: with 500 clients on 8 threads pgsift did not "
            "deadlock in trials (a cell that hangs is killed after -T + 90 s and reported as "
            "HUNG); `--big-prepared-jobs 500` gives every client its own thread, at the price "
            "of 500 pgbench threads competing for the 2 cores"),
    }
    # The binary is copied so that a rebuild during the run cannot change it, and so that
    # the postgres user can run it wherever the build directory is.
    binary = os.path.join(tmp, "pgsift-bin")
    shutil.copy2(args.pgsift, binary)
    os.chmod(binary, 0o755)
    ctx["pgsift_version"] = first_line([binary, "--version"]).replace("pgsift ", "")

    log("starting PostgreSQL 15 in %s" % tmp)
    certs = make_certs(tmp)
    pg = Postgres(tmp, certs)
    ctx["pg_conf"] = pg.conf
    run([PG_BIN + "/createdb", "-h", "127.0.0.1", "-p", str(pg.port), "-U", DBUSER, DB])
    log("pgbench -i -s 10")
    run([PG_BIN + "/pgbench", "-i", "-s", "10", "-q", "-h", "127.0.0.1", "-p", str(pg.port),
         "-U", DBUSER, DB], timeout=600)
    direct = Direct(pg)
    pgb = start_pgbouncer(tmp, pg)
    px = start_pgsift(tmp, pg, binary, "pgsift", True)
    px_off = start_pgsift(tmp, pg, binary, "pgsift-nostats", False)
    ctx["pgb_ini"] = pgb.ini_text
    ctx["px_ini"] = px.ini_text
    targets = [direct, pgb, px]
    ctx["target_names"] = [t.name for t in targets]

    scs = scenarios(big_prep_j)
    tscs = tls_scenarios()
    if args.only:
        keys = set(args.only.split(","))
        unknown = keys - set(s.key for s in scs + tscs)
        if unknown:
            sys.exit("bench.py: unknown scenario key(s) %s" % ", ".join(sorted(unknown)))
        scs = [s for s in scs if s.key in keys]
        tscs = [s for s in tscs if s.key in keys]
    ctx["scenarios"] = scs
    ctx["tls_scenarios"] = tscs
    # The TLS targets: one PgBouncer and one pgsift per TLS kind, with the settings above plus
    # the TLS keys; the report's columns stay "direct", "PgBouncer", "pgsift".
    tls_targets = {}
    ctx["tls_ini"] = {}
    ctx["tls_checks"] = {}
    for kind in TLS_KINDS:
        if not any(s.tls == kind for s in tscs):
            continue
        mode = "disable" if kind == "client" else "require"
        tb = start_pgbouncer(tmp, pg, "PgBouncer-tls-" + kind, tls=(certs, mode),
                             label="PgBouncer")
        tx = start_pgsift(tmp, pg, binary, "pgsift-tls-" + kind, True, tls=(certs, mode),
                          label="pgsift")
        tls_targets[kind] = [direct, tb, tx]
        ctx["tls_ini"][kind] = tls_ini((certs, mode))
        ctx["tls_checks"][kind] = check_tls(kind, tls_targets[kind], pg, work)
    results = {}
    ctx["results"] = results
    all_scs = scs + tscs
    total = len(all_scs) * rounds * len(targets)
    n = 0
    for sc in all_scs:
        for r in range(rounds):
            for t in (tls_targets[sc.tls] if sc.tls else targets):
                n += 1
                if t is not direct and not t.alive():
                    raise RuntimeError("%s died; see %s" % (t.name, t.logfile))
                cell = run_cell(sc, t, seconds, work)
                results.setdefault((sc.key, t.label), []).append(cell)
                log("[%d/%d] %-16s round %d %-9s tps %s p50 %s ms p99 %s ms cpu %s s %s" % (
                    n, total, sc.key, r + 1, t.name, fmt(cell.tps), fmt(cell.p50, "%.3f"),
                    fmt(cell.p99, "%.3f"), fmt(cell.cpu, "%.2f"),
                    "" if cell.status == "ok" else cell.status + ": " + cell.error))
        # The TLS proxies again, right after the scenario's cells (before server_idle_timeout
        # closes the pools they grew): every server connection is still TLS (both legs) or
        # plaintext (client leg).
        for t in (tls_targets[sc.tls] if sc.tls else []):
            if t.pid:
                line = "%s after %s: %s" % (t.label, sc.key, check_server_leg(sc.tls, t, pg))
                log("TLS check %s: %s" % (sc.tls, line))
                ctx["tls_checks"][sc.tls].append(line)

    # Issue 5: the same load with the slow log and persistence off.
    i5sc = Scenario("issue5", 32, "simple", "-S", 32)
    ctx["issue5"] = None if "issue5" in skip else {
        "sc": i5sc, "title": " ".join(pgbench_cmd("PORT", i5sc, seconds, None))
        .replace(PG_BIN + "/", "")}
    # The cost measured is a few percent, inside one round's noise: more rounds than the cells.
    for r in range(0 if "issue5" in skip else max(8, 2 * rounds)):
        for t in (px, px_off):
            cell = run_cell(i5sc, t, seconds, work)
            results.setdefault(("issue5", t.name), []).append(cell)
            log("issue5 round %d %-15s tps %s" % (r + 1, t.name, fmt(cell.tps)))

    # RSS with idle clients, on fresh processes of both proxies (same settings as above):
    # after the benchmark cells each proxy keeps the buffers 500 clients made it grow, which
    # would hide what an idle client costs.
    ctx["rss"] = []
    for p in (() if "rss" in skip else (start_pgbouncer(tmp, pg, "rss-PgBouncer"),
                                         start_pgsift(tmp, pg, binary, "rss-pgsift", True))):
        name = p.name[4:]
        log("RSS: %d idle clients through a fresh %s" % (idle_n, name))
        r = measure_rss(p, idle_n)
        ctx["rss"].append((name, r))
        log("  %s: %d logged in, %d failed, RSS %.1f -> %.1f MB" % (
            name, r["connected"], r["failed"], r["before_kb"] / 1024.0, r["with_kb"] / 1024.0))
        p.stop()

    # Profile.
    ctx["profiles"] = []
    ctx["syscalls"] = []
    ctx["profile_sc"] = Scenario("S-simple-32", 32, "simple", "-S", 32)
    if not args.no_profile:
        for p in (px, pgb):
            log("perf record on %s" % p.name)
            prof = profile(p, ctx["profile_sc"], max(seconds, 5), work)
            if prof:
                ctx["profiles"].append((p.name, prof))
        for p in (px, pgb):
            log("perf stat (syscalls) on %s" % p.name)
            sy = syscall_counts(p, ctx["profile_sc"], max(seconds, 5), work)
            if sy:
                ctx["syscalls"].append((p.name, sy))

    # Targets.
    def s(key, t):
        for sc in scs:
            if sc.key == key:
                return summarize(results, sc, t)
        return {"tps": None, "p50": None}

    def verdict(v, goal, lower_is_better=False):
        if v is None:
            return "not measured"
        return "yes" if (v <= goal if lower_is_better else v >= goal) else "**no**"
    tg = []
    r1 = ratio(s("S-simple-32", "pgsift")["tps"], s("S-simple-32", "PgBouncer")["tps"])
    tg.append(("-S -M simple, 32 clients: pgsift >= 1.10 x PgBouncer TPS",
               "%s (pgsift %s, PgBouncer %s)" % (fmt(r1, "%.2f"),
                                                 fmt(s("S-simple-32", "pgsift")["tps"]),
                                                 fmt(s("S-simple-32", "PgBouncer")["tps"])),
               verdict(r1, 1.10)))
    r2 = ratio(s("S-prepared-32", "pgsift")["tps"], s("S-extended-32", "PgBouncer")["tps"])
    tg.append(("-S -M prepared via pgsift >= 1.3 x PgBouncer -M extended (32 clients)",
               "%s (pgsift prepared %s, PgBouncer extended %s)" % (
                   fmt(r2, "%.2f"), fmt(s("S-prepared-32", "pgsift")["tps"]),
                   fmt(s("S-extended-32", "PgBouncer")["tps"])), verdict(r2, 1.3)))
    pa, pb_ = s("S-simple-1", "pgsift")["p50"], s("S-simple-1", "PgBouncer")["p50"]
    r3 = ratio(pa, pb_)
    tg.append(("1 client (-S -M simple): pgsift p50 <= PgBouncer p50",
               "%s ms vs %s ms (ratio %s)" % (fmt(pa, "%.3f"), fmt(pb_, "%.3f"),
                                              fmt(r3, "%.2f")),
               verdict(r3, 1.0, lower_is_better=True)))
    rss = dict(ctx["rss"])
    ra = rss.get("pgsift", {}).get("with_kb")
    rb = rss.get("PgBouncer", {}).get("with_kb")
    r4 = ratio(ra, rb)
    full = all(v.get("connected") == idle_n for v in rss.values())
    tg.append(("RSS with %d idle clients: pgsift <= PgBouncer" % idle_n,
               "%s MB vs %s MB (ratio %s)%s" % (
                   fmt(ra and ra / 1024.0, "%.1f"), fmt(rb and rb / 1024.0, "%.1f"),
                   fmt(r4, "%.2f"), "" if full else "; not every client logged in"),
               verdict(r4, 1.0, lower_is_better=True)))
    ctx["targets"] = tg
    ctx["load_end"] = loadavg()

    analysis = ""
    if os.path.exists(out_path):
        with open(out_path) as f:
            old = f.read()
        i = old.find("\n" + ANALYSIS_MARK)
        if i >= 0:
            analysis = old[i + 1:]
    ctx["analysis"] = analysis
    report = build_report(ctx)
    with open(out_path, "w") as f:
        f.write(report)
    # The summary on stdout: the ratio and target tables.
    i = report.find("## Ratios")
    j = report.find("## RSS with idle clients")
    print(report[report.find("## Results"):i])
    print(report[i:j])
    print("RSS:", ", ".join("%s %.1f MB" % (nm, r["with_kb"] / 1024.0) for nm, r in ctx["rss"]))
    print("\nwritten to %s" % out_path)


if __name__ == "__main__":
    main()
