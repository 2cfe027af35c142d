"""
harness: the integration-test harness of pgsift. Every tests/integration/test_*.py imports it.

What it does. Each test program gets ONE real PostgreSQL 15, started on first use: initdb into a
fresh temporary directory (as the `postgres` user when running as root), a free TCP port on
127.0.0.1 and a Unix socket in that directory, `pg_ctl -w start`, log_connections on. It creates
the roles the tests use (superuser `pgsift_test`, `md5user` with an md5 password, `scramuser`
with a scram-sha-256 password, `pooluser`) and the database `testdb`, with pg_hba.conf lines
trust / md5 / scram-sha-256 for them on both `host 127.0.0.1` and `local`. pgsift is started as a
child process on a free port (command line or a generated ini file plus userlist.txt) and is
ready when it prints `listening on 127.0.0.1:PORT`. Everything is stopped and removed at exit,
also on failure, on SIGTERM/SIGINT/SIGHUP, and (through a small watchdog process that outlives
us) when the test program is killed. When a test fails or hangs, the pgsift output and the
PostgreSQL log are printed.

How to run:
    cmake -B build -S . && cmake --build build --target pgsift
    ctest --test-dir build -R integration_test_passthrough --output-on-failure   # one program
    ctest --test-dir build -L integration --output-on-failure                    # all of them
or without ctest:
    PGSIFT_BIN=build/pgsift /usr/bin/python3 tests/integration/test_passthrough.py
    PGSIFT_BIN=build/pgsift /usr/bin/python3 tests/integration/test_passthrough.py \
        PassthroughTest.test_copy_in_10mb                                         # one test

Environment:
    PGSIFT_BIN      the pgsift binary (default: $PGSIFT_SOURCE_DIR/build/pgsift)
    PGSIFT_DIRECT=1 run the tests directly against PostgreSQL: the "proxy" address is the
                    server's own. Tests that only mean something through a proxy skip. This is
                    how the tests themselves are validated.
    PGSIFT_KEEP=1   keep the temporary directories (their paths are printed at exit)
    PGSIFT_TEST_TIMEOUT  seconds one test may take before it is declared hung (default 150)
    PGSIFT_EXTRA_ARGS    more pgsift flags for every start, e.g. "--log-level debug"

Only Debian's /usr/bin/python3, its standard library, psycopg2 and the PostgreSQL 15 tools are
used. No test sleeps for a fixed time: waits poll a condition with a deadline.
"""

import atexit
import faulthandler
import hashlib
import os
import pwd
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import psycopg2
import psycopg2.extensions

PG_BIN = "/usr/lib/postgresql/15/bin"
DIRECT = os.environ.get("PGSIFT_DIRECT", "") not in ("", "0")
KEEP = os.environ.get("PGSIFT_KEEP", "") not in ("", "0")
TEST_TIMEOUT = float(os.environ.get("PGSIFT_TEST_TIMEOUT", "150"))
SOURCE_DIR = os.environ.get(
    "PGSIFT_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
PGSIFT_BIN = os.environ.get("PGSIFT_BIN", os.path.join(SOURCE_DIR, "build", "pgsift"))

SUPERUSER = "pgsift_test"
TESTDB = "testdb"
MD5_USER, MD5_PASSWORD = "md5user", "md5pass"
SCRAM_USER, SCRAM_PASSWORD = "scramuser", "scrampass"
POOL_USER = "pooluser"

READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

skip_direct = unittest.skipIf(DIRECT, "only meaningful through pgsift (PGSIFT_DIRECT=1)")


def log(msg):
    sys.stderr.write("[harness] %s\n" % msg)
    sys.stderr.flush()


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout, what, interval=0.02):
    """Polls cond() until it returns a true value (returned) or timeout seconds pass (raises)."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def md5_secret(user, password):
    """PostgreSQL's stored md5 password: "md5" + md5(password || user)."""
    return "md5" + hashlib.md5((password + user).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Cleanup: atexit, signals, and a watchdog process that cleans up if we are killed outright.

_cleanups = []  # callables, run last-registered first
_cleanup_lock = threading.Lock()
_cleaned = False

_WATCHDOG_CODE = r"""
import os, shutil, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
pids, pgdatas, dirs = set(), [], []
for line in sys.stdin:
    cmd, _, arg = line.rstrip("\n").partition(" ")
    if cmd == "pid": pids.add(int(arg))
    elif cmd == "unpid": pids.discard(int(arg))
    elif cmd == "pgdata": pgdatas.append(arg)
    elif cmd == "dir": dirs.append(arg)
# EOF: the test program is gone. Whatever it left behind goes now.
for p in pids:
    try: os.kill(p, signal.SIGKILL)
    except OSError: pass
for d in pgdatas:
    try:
        with open(os.path.join(d, "postmaster.pid")) as f: pm = int(f.readline())
    except (OSError, ValueError): continue
    try: os.kill(pm, signal.SIGQUIT)
    except OSError: continue
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try: os.kill(pm, 0)
        except OSError: break
        time.sleep(0.05)
    else:
        try: os.kill(pm, signal.SIGKILL)
        except OSError: pass
if os.environ.get("PGSIFT_KEEP", "") in ("", "0"):
    for d in dirs: shutil.rmtree(d, ignore_errors=True)
"""

_watchdog = None


def _watchdog_send(line):
    global _watchdog
    if _watchdog is None:
        _watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG_CODE],
                                     stdin=subprocess.PIPE, start_new_session=True,
                                     close_fds=True)
    try:
        _watchdog.stdin.write((line + "\n").encode())
        _watchdog.stdin.flush()
    except OSError:
        pass


def register_cleanup(fn):
    with _cleanup_lock:
        _cleanups.append(fn)


def scratch_dir(prefix):
    """A temporary directory for the whole run: removed at exit, and by the watchdog if the
    test process is killed."""
    d = tempfile.mkdtemp(prefix=prefix)
    _watchdog_send("dir " + d)
    register_cleanup(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def run_cleanups():
    global _cleaned
    with _cleanup_lock:
        if _cleaned:
            return
        _cleaned = True
        fns = list(reversed(_cleanups))
    for fn in fns:
        try:
            fn()
        except Exception as e:  # cleanup must go on whatever one step does
            log("cleanup step failed: %r" % (e,))
    if _watchdog is not None:
        try:
            _watchdog.stdin.close()
            _watchdog.wait(timeout=30)
        except Exception:
            pass


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


atexit.register(run_cleanups)
for _sig in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


def _run(cmd, timeout, as_postgres=False, check=True, **kw):
    """subprocess.run with a timeout, output captured; as_postgres drops to the postgres user."""
    if as_postgres and os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (rc %d):\n%s\n%s" % (
            " ".join(cmd), r.returncode, r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace")))
    return r


# ---------------------------------------------------------------------------------------------
# PostgreSQL


class PgServer:
    """One PostgreSQL 15 in a temporary directory. host/port/socket_dir say where it listens."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="pgsift-it-pg-")
        _watchdog_send("dir " + self.tmp)
        self.datadir = os.path.join(self.tmp, "data")
        self.socket_dir = self.tmp
        self.logfile = os.path.join(self.tmp, "postgresql.log")
        self.host = "127.0.0.1"
        self.port = free_port()
        self.running = False
        register_cleanup(self.destroy)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
        os.chmod(self.tmp, 0o755)
        _run([PG_BIN + "/initdb", "-D", self.datadir, "-U", SUPERUSER, "--auth=trust",
              "-E", "UTF8", "--locale=C", "--no-sync"], timeout=120, as_postgres=True)
        _watchdog_send("pgdata " + self.datadir)
        self._write_conf()
        self.start()
        self._create_objects()

    def _write_conf(self):
        conf = """
port = %d
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
max_connections = 300
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_connections = on
log_disconnections = on
log_line_prefix = '%%m [%%p] %%q%%u@%%d '
log_min_messages = warning
""" % (self.port, self.socket_dir)
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
            f.write(conf)
        hba = ""
        for user, method in ((SUPERUSER, "trust"), (MD5_USER, "md5"),
                             (SCRAM_USER, "scram-sha-256"), ("all", "trust")):
            hba += "local all %s %s\n" % (user, method)
            hba += "host all %s 127.0.0.1/32 %s\n" % (user, method)
        with open(os.path.join(self.datadir, "pg_hba.conf"), "w") as f:
            f.write(hba)

    def start(self):
        _run([PG_BIN + "/pg_ctl", "-D", self.datadir, "-l", self.logfile, "-w", "-t", "60",
              "start"], timeout=90, as_postgres=True)
        self.running = True

    def stop(self, mode="fast"):
        _run([PG_BIN + "/pg_ctl", "-D", self.datadir, "-m", mode, "-w", "-t", "60", "stop"],
             timeout=90, as_postgres=True)
        self.running = False

    def restart(self, mode="fast"):
        """pg_ctl restart -m MODE; returns when the server accepts connections again."""
        _run([PG_BIN + "/pg_ctl", "-D", self.datadir, "-l", self.logfile, "-m", mode, "-w",
              "-t", "60", "restart"], timeout=120, as_postgres=True)
        self.running = True

    def destroy(self):
        if self.running:
            try:
                self.stop("fast")
            except Exception as e:
                log("pg_ctl stop -m fast failed (%r), trying immediate" % (e,))
                try:
                    self.stop("immediate")
                except Exception as e2:
                    log("pg_ctl stop -m immediate failed: %r" % (e2,))
        if KEEP:
            log("kept PostgreSQL directory %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _create_objects(self):
        conn = self.connect(dbname="postgres")
        cur = conn.cursor()
        cur.execute("CREATE DATABASE %s" % TESTDB)
        cur.execute("SET password_encryption = 'md5'")
        cur.execute("CREATE ROLE %s LOGIN" % MD5_USER)
        cur.execute("ALTER ROLE %s PASSWORD %%s" % MD5_USER, (MD5_PASSWORD,))
        cur.execute("SET password_encryption = 'scram-sha-256'")
        cur.execute("CREATE ROLE %s LOGIN" % SCRAM_USER)
        cur.execute("ALTER ROLE %s PASSWORD %%s" % SCRAM_USER, (SCRAM_PASSWORD,))
        cur.execute("CREATE ROLE %s LOGIN" % POOL_USER)
        conn.close()
        conn = self.connect()
        conn.cursor().execute("GRANT ALL ON SCHEMA public TO PUBLIC")
        conn.close()

    def dsn(self, dbname=TESTDB, user=SUPERUSER, **kw):
        return _dsn(self.host, self.port, dbname, user, **kw)

    def connect(self, dbname=TESTDB, user=SUPERUSER, autocommit=True, **kw):
        """A psycopg2 connection straight to PostgreSQL (autocommit by default)."""
        return _connect(self.host, self.port, dbname, user, autocommit, **kw)

    def query(self, sql, args=None, dbname=TESTDB):
        """Runs one statement on a fresh direct superuser connection; returns all rows."""
        conn = self.connect(dbname=dbname)
        try:
            cur = conn.cursor()
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def backend_pids(self, user=None, dbname=None):
        """pids of the client backends (optionally of one user / database), sorted."""
        sql = ("SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' "
               "AND pid <> pg_backend_pid()")
        args = []
        if user is not None:
            sql += " AND usename = %s"
            args.append(user)
        if dbname is not None:
            sql += " AND datname = %s"
            args.append(dbname)
        return sorted(r[0] for r in self.query(sql + " ORDER BY pid", args))

    def log_size(self):
        try:
            return os.path.getsize(self.logfile)
        except OSError:
            return 0

    def log_text(self, offset=0):
        """The PostgreSQL log from byte offset on."""
        try:
            with open(self.logfile, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def scram_secret(self, user=SCRAM_USER):
        return self.query("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (user,))[0][0]


def _dsn(host, port, dbname, user, **kw):
    parts = {"host": host, "port": str(port), "dbname": dbname, "user": user,
             "connect_timeout": "10"}
    for k, v in kw.items():
        if v is not None:
            parts[k] = str(v)
    return " ".join("%s='%s'" % (k, v.replace("\\", "\\\\").replace("'", "\\'"))
                    for k, v in parts.items())


def _connect(host, port, dbname, user, autocommit, **kw):
    conn = psycopg2.connect(_dsn(host, port, dbname, user, **kw))
    conn.autocommit = autocommit
    return conn


_pg = None


def pg():
    """The test program's PostgreSQL, started on first use."""
    global _pg
    if _pg is None:
        _pg = PgServer()
    return _pg


def server_backend_pids(user=None, dbname=None):
    """Client backends on the program's PostgreSQL (pg_stat_activity over a direct connection)."""
    return pg().backend_pids(user=user, dbname=dbname)


# ---------------------------------------------------------------------------------------------
# pgsift


class Pgsift:
    """
    A running pgsift (or, with PGSIFT_DIRECT=1, PostgreSQL's own address standing in for it).
    host/port/socket_dir are where clients connect. `lines` keeps all of pgsift's output.
    """

    def __init__(self, server, settings=None, databases=None, users=None, args=None,
                 use_ini=True, env=None, port=None, sections=None):
        self.server = server
        self.lines = []
        self.proc = None
        self.returncode = None
        self.killed = False
        self.host = "127.0.0.1"
        self.tmp = None
        if DIRECT:
            self.port = server.port
            self.socket_dir = server.socket_dir
            return
        # port: a given one, for processes sharing it (so_reuseport)
        self.port = port or free_port()
        self.tmp = tempfile.mkdtemp(prefix="pgsift-it-px-")
        _watchdog_send("dir " + self.tmp)
        self.socket_dir = self.tmp
        upstream = "host=%s port=%d" % (server.host, server.port)
        if use_ini:
            cmd = [PGSIFT_BIN, "-c", self._write_ini(settings or {}, databases, users, upstream,
                                                     sections)]
        else:
            cmd = [PGSIFT_BIN, "--listen", "127.0.0.1:%d" % self.port, "--upstream", upstream]
        cmd += list(args or []) + os.environ.get("PGSIFT_EXTRA_ARGS", "").split()
        penv = dict(os.environ)
        penv["PGSIFT_UNIX_SOCKET_DIR"] = self.socket_dir
        penv.update(env or {})
        self.cmd = cmd
        if not os.access(PGSIFT_BIN, os.X_OK):
            raise RuntimeError("pgsift binary %s not found (set PGSIFT_BIN)" % PGSIFT_BIN)
        register_cleanup(self.stop)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=penv, close_fds=True)
        _watchdog_send("pid %d" % self.proc.pid)
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        needle = "listening on 127.0.0.1:%d" % self.port
        deadline = time.monotonic() + READY_TIMEOUT
        while not self._ready.is_set():
            if self.proc.poll() is not None:
                self._reader.join(5)
                raise RuntimeError("pgsift exited with %d before it was ready:\n%s\ncommand: %s"
                                   % (self.proc.returncode, self.output(), " ".join(cmd)))
            if time.monotonic() >= deadline:
                out = self.output()
                self.stop()
                raise RuntimeError("pgsift did not print %r within %.0f s:\n%s" %
                                   (needle, READY_TIMEOUT, out))
            self._ready.wait(0.05)

    def _write_ini(self, settings, databases, users, upstream, sections=None):
        s = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "unix_socket_dir": self.socket_dir,
            "auth_type": "trust",
            "pool_mode": "session",
            "logfile": os.path.join(self.tmp, "pgsift.log"),
        }
        if users is not None:
            s["auth_file"] = os.path.join(self.tmp, "userlist.txt")
            with open(s["auth_file"], "w") as f:
                for name, secret in users.items():
                    f.write('"%s" "%s"\n' % (name.replace('"', '""'), secret.replace('"', '""')))
        for k, v in settings.items():
            if v is None:
                s.pop(k, None)
            else:
                s[k] = str(v)
        if databases is None:
            databases = {"*": upstream}
        text = "[pgsift]\n" + "".join("%s = %s\n" % kv for kv in s.items())
        text += "\n[databases]\n" + "".join("%s = %s\n" % kv for kv in databases.items())
        for name, entries in (sections or {}).items():  # e.g. {"peers": {"1": "host=..."}}
            text += "\n[%s]\n" % name + "".join("%s = %s\n" % kv for kv in entries.items())
        self.ini_text = text
        path = self.ini_path = os.path.join(self.tmp, "pgsift.ini")
        with open(path, "w") as f:
            f.write(text)
        return path

    def _read_output(self):
        needle = "listening on 127.0.0.1:%d" % self.port
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            if needle in line:
                self._ready.set()

    def output(self, start=0):
        return "\n".join(self.lines[start:])

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, then SIGKILL after timeout seconds. Returns the exit status."""
        if self.proc is None or self.returncode is not None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log("pgsift did not exit %.0f s after SIGTERM: SIGKILL" % timeout)
                self.killed = True
                self.proc.kill()
                self.proc.wait(30)
        self.returncode = self.proc.returncode
        _watchdog_send("unpid %d" % self.proc.pid)
        self._reader.join(10)
        self.proc.stdout.close()
        if self.tmp and not KEEP:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return self.returncode

    def sanitizer_reports(self):
        return [l for l in self.lines
                if "AddressSanitizer" in l or "LeakSanitizer" in l or "runtime error:" in l]

    def is_alive(self):
        return DIRECT or (self.proc is not None and self.proc.poll() is None)

    def dsn(self, dbname=TESTDB, user=SUPERUSER, **kw):
        return _dsn(self.host, self.port, dbname, user, **kw)

    def connect(self, dbname=TESTDB, user=SUPERUSER, autocommit=True, **kw):
        """A psycopg2 connection through pgsift (autocommit by default)."""
        return _connect(self.host, self.port, dbname, user, autocommit, **kw)


# ---------------------------------------------------------------------------------------------
# Command-line clients


def run_psql(target, script=None, args=(), dbname=TESTDB, user=SUPERUSER, password=None,
             stdin_bytes=None, timeout=60, host=None):
    """
    Runs psql against target (a Pgsift or PgServer) with `script` on stdin (or stdin_bytes).
    -X (no psqlrc), -q, -A -t (unaligned, tuples only), VERBOSITY verbose so errors carry their
    SQLSTATE. Returns (returncode, stdout, stderr) as str.
    """
    cmd = [PG_BIN + "/psql", "-X", "-q", "-A", "-t", "-v", "VERBOSITY=verbose",
           "-h", host or target.host, "-p", str(target.port), "-U", user, "-d", dbname]
    cmd += list(args)
    env = dict(os.environ)
    env.pop("PGPASSWORD", None)
    if password is not None:
        env["PGPASSWORD"] = password
    env["PGCONNECT_TIMEOUT"] = "10"
    data = stdin_bytes if stdin_bytes is not None else (script or "").encode()
    r = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=env)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def run_psql_bytes(target, args, dbname=TESTDB, user=SUPERUSER, stdin_bytes=b"", timeout=60):
    """Like run_psql but returns stdout as bytes (for COPY TO STDOUT)."""
    cmd = [PG_BIN + "/psql", "-X", "-q", "-A", "-t", "-h", target.host, "-p", str(target.port),
           "-U", user, "-d", dbname] + list(args)
    env = dict(os.environ, PGCONNECT_TIMEOUT="10")
    env.pop("PGPASSWORD", None)
    r = subprocess.run(cmd, input=stdin_bytes, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=env)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


class PgbenchResult:
    def __init__(self, rc, out, err):
        self.returncode, self.stdout, self.stderr = rc, out, err
        m = re.search(r"^tps = ([0-9.]+)", out, re.M)
        self.tps = float(m.group(1)) if m else None
        m = re.search(r"number of transactions actually processed: (\d+)", out)
        self.processed = int(m.group(1)) if m else None
        m = re.search(r"number of failed transactions: (\d+)", out)
        self.failed = int(m.group(1)) if m else None

    def __repr__(self):
        return "pgbench rc=%d\n--- stdout\n%s\n--- stderr\n%s" % (
            self.returncode, self.stdout, self.stderr[-4000:])


def pgbench_cmd(target, args, dbname=TESTDB, user=SUPERUSER):
    return [PG_BIN + "/pgbench", "-h", target.host, "-p", str(target.port), "-U", user] + \
        list(args) + [dbname]


def run_pgbench(target, args, dbname=TESTDB, user=SUPERUSER, timeout=120):
    """Runs pgbench against target; returns a PgbenchResult (tps, processed, failed)."""
    env = dict(os.environ, PGCONNECT_TIMEOUT="10")
    r = subprocess.run(pgbench_cmd(target, args, dbname, user), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, env=env)
    return PgbenchResult(r.returncode, r.stdout.decode(errors="replace"),
                         r.stderr.decode(errors="replace"))


def pgbench_init(server, timeout=120):
    """pgbench -i -s 1 on the test database (the tables pgbench -S reads)."""
    r = run_pgbench(server, ["-i", "-q", "-s", "1"], timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("pgbench -i failed: %r" % r)


def cancel_while_running(conn, sql, timeout=15):
    """Runs sql on the psycopg2 connection conn and cancels it (conn.cancel(): a CancelRequest
    on a fresh connection) once PostgreSQL shows it running. Returns "ok" or its SQLSTATE."""
    import psycopg2
    res = {}

    def run():
        try:
            conn.cursor().execute(sql)
            res["r"] = "ok"
        except psycopg2.Error as e:
            res["r"] = e.pgcode
    t = threading.Thread(target=run, daemon=True)
    t.start()
    server = pg()
    wait_until(lambda: server.query("SELECT count(*) FROM pg_stat_activity WHERE state = "
                                    "'active' AND query = %s", (sql,))[0][0] > 0,
               10, "%s to run" % sql)
    conn.cancel()
    t.join(timeout)
    return res.get("r")


def start_pgbench(target, args, dbname=TESTDB, user=SUPERUSER):
    """Starts pgbench in the background; finish with finish_pgbench(proc, timeout)."""
    env = dict(os.environ, PGCONNECT_TIMEOUT="10")
    p = subprocess.Popen(pgbench_cmd(target, args, dbname, user), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    _watchdog_send("pid %d" % p.pid)
    return p


def finish_pgbench(proc, timeout):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=30)
        raise AssertionError("pgbench did not finish within %.0f s:\n%s\n%s" % (
            timeout, out.decode(errors="replace"), err.decode(errors="replace")))
    finally:
        _watchdog_send("unpid %d" % proc.pid)
    return PgbenchResult(proc.returncode, out.decode(errors="replace"),
                         err.decode(errors="replace"))


# ---------------------------------------------------------------------------------------------
# psycopg2 with client-side deadlines (asynchronous connections)


class Deadline(Exception):
    """A client-side deadline passed: the server or proxy did not answer (a hang)."""


def _poll_wait(conn, timeout):
    deadline = time.monotonic() + timeout
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise Deadline("no answer within %.1f s" % timeout)
        if state == psycopg2.extensions.POLL_READ:
            select.select([conn.fileno()], [], [], left)
        elif state == psycopg2.extensions.POLL_WRITE:
            select.select([], [conn.fileno()], [], left)
        else:
            raise psycopg2.OperationalError("bad poll state %r" % (state,))


def async_connect(target, timeout, dbname=TESTDB, user=SUPERUSER, **kw):
    """A psycopg2 asynchronous connection; raises Deadline if not connected within timeout."""
    conn = psycopg2.connect(target.dsn(dbname=dbname, user=user, **kw), async_=1)
    try:
        _poll_wait(conn, timeout)
    except BaseException:
        conn.close()
        raise
    return conn


def async_query(conn, sql, timeout):
    """Runs sql on an asynchronous connection; returns the rows; Deadline on no answer."""
    cur = conn.cursor()
    cur.execute(sql)
    _poll_wait(conn, timeout)
    return cur.fetchall() if cur.description else []


# ---------------------------------------------------------------------------------------------
# Raw protocol v3, for malformed input and for errors psycopg2 does not expose (at connect)

PROTOCOL_V3 = 196608


def startup_packet(params, protocol=PROTOCOL_V3):
    body = struct.pack("!I", protocol)
    for k, v in params.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def message(mtype, payload=b""):
    return mtype + struct.pack("!I", len(payload) + 4) + payload


def raw_socket(target, timeout=5.0):
    s = socket.create_connection((target.host, target.port), timeout=timeout)
    s.settimeout(timeout)
    return s


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_message(sock):
    """One backend message (type, payload); None on EOF or reset; socket.timeout on a hang."""
    try:
        hdr = _recv_exact(sock, 5)
        if hdr is None:
            return None
        mtype, length = hdr[:1], struct.unpack("!I", hdr[1:])[0]
        if mtype == b"E" and length > 1 << 24 and all(32 <= c < 127 for c in hdr[1:]):
            # a protocol 2.0 ErrorResponse ("E" and a NUL-terminated text): the answer to a
            # client that asked for protocol 2.0
            text = hdr[1:]
            while not text.endswith(b"\0"):
                c = sock.recv(1)
                if not c:
                    break
                text += c
            return b"E", b"S" + b"FATAL\0M" + text.rstrip(b"\0\n") + b"\0\0"
        if length < 4 or length > 1 << 30:
            raise AssertionError("bad length %d in backend message %r" % (length, mtype))
        payload = _recv_exact(sock, length - 4)
        if payload is None:
            return None
        return mtype, payload
    except ConnectionResetError:
        return None


def parse_error(payload):
    """ErrorResponse/NoticeResponse fields: {'S': 'FATAL', 'C': '3D000', 'M': ..., ...}."""
    fields = {}
    for part in payload.split(b"\0"):
        if part:
            fields[part[:1].decode()] = part[1:].decode(errors="replace")
    return fields


def error_or_close(sock, timeout=5.0):
    """
    Reads until the peer sends an ErrorResponse or closes. Returns ("error", fields) or
    ("closed", None). Raises AssertionError when neither happens within timeout (a hang).
    After an ErrorResponse, also checks that the connection is then closed.
    """
    sock.settimeout(timeout)
    try:
        while True:
            m = read_message(sock)
            if m is None:
                return "closed", None
            if m[0] == b"E":
                fields = parse_error(m[1])
                rest = read_message(sock)
                if rest is not None:
                    raise AssertionError("connection still open after ErrorResponse %r: got %r"
                                         % (fields, rest))
                return "error", fields
    except socket.timeout:
        raise AssertionError("no ErrorResponse and no close within %.1f s (hang)" % timeout)


def raw_login(target, params, timeout=5.0):
    """
    Opens a raw connection and sends a startup packet (trust authentication only). Returns
    (sock, None) after ReadyForQuery, or (sock, fields) when the server sent an ErrorResponse.
    """
    sock = raw_socket(target, timeout)
    sock.sendall(startup_packet(params))
    while True:
        try:
            m = read_message(sock)
        except socket.timeout:
            raise AssertionError("no answer to the startup packet within %.1f s" % timeout)
        if m is None:
            raise AssertionError("connection closed during startup without an ErrorResponse")
        mtype, payload = m
        if mtype == b"E":
            return sock, parse_error(payload)
        if mtype == b"R" and struct.unpack("!I", payload[:4])[0] != 0:
            raise AssertionError("authentication requested (code %d); raw_login does trust only"
                                 % struct.unpack("!I", payload[:4])[0])
        if mtype == b"Z":
            return sock, None


def _scram_client(sock, user, password, mechanisms):
    """SCRAM-SHA-256 (no channel binding) over sock; returns like _auth_step's caller expects."""
    import base64
    import hmac
    if "SCRAM-SHA-256" not in mechanisms:
        raise AssertionError("SASL mechanisms offered: %r" % (mechanisms,))
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=,r=" + nonce
    first = ("n,," + first_bare).encode()
    sock.sendall(message(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first))
    m = read_message(sock)
    if m is None or m[0] != b"R":
        return m
    code = struct.unpack("!I", m[1][:4])[0]
    if code != 11:
        raise AssertionError("expected SASLContinue, got authentication code %d" % code)
    server_first = m[1][4:].decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    final_bare = "c=biws,r=" + attrs["r"]
    auth_msg = (first_bare + "," + server_first + "," + final_bare).encode()
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    signature = hmac.new(hashlib.sha256(client_key).digest(), auth_msg, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    final = final_bare + ",p=" + base64.b64encode(proof).decode()
    sock.sendall(message(b"p", final.encode()))
    return read_message(sock)


def raw_login_password(target, params, password, timeout=5.0):
    """
    Logs in over the raw protocol answering cleartext, md5 or SCRAM-SHA-256 requests with
    password. Returns the ErrorResponse fields, or None after ReadyForQuery (the socket is
    closed either way). Raises AssertionError on a hang or a close without ErrorResponse.
    """
    sock = raw_socket(target, timeout)
    try:
        sock.sendall(startup_packet(params))
        m = read_message(sock)
        while True:
            if m is None:
                raise AssertionError("closed during login without an ErrorResponse")
            mtype, payload = m
            if mtype == b"E":
                return parse_error(payload)
            if mtype == b"Z":
                return None
            if mtype == b"R":
                code = struct.unpack("!I", payload[:4])[0]
                if code == 3:
                    sock.sendall(message(b"p", password.encode() + b"\0"))
                elif code == 5:
                    inner = md5_secret(params["user"], password)[3:]
                    outer = hashlib.md5(inner.encode() + payload[4:8]).hexdigest()
                    sock.sendall(message(b"p", b"md5" + outer.encode() + b"\0"))
                elif code == 10:
                    mechs = [x.decode() for x in payload[4:].split(b"\0") if x]
                    m = _scram_client(sock, params["user"], password, mechs)
                    continue
                elif code not in (0, 12):
                    raise AssertionError("unsupported authentication code %d" % code)
            m = read_message(sock)
    except socket.timeout:
        raise AssertionError("no answer during login within %.1f s (hang)" % timeout)
    finally:
        sock.close()


# ---------------------------------------------------------------------------------------------
# The test case base class


class PgsiftTestCase(unittest.TestCase):
    """
    Base class of every integration test. self.pg is the program's PostgreSQL. Start pgsift
    with cls.start_pgsift(...) (stopped and checked for sanitizer reports at tearDownClass).
    A failing test prints the pgsift output and the PostgreSQL log written during the test; a
    test running over PGSIFT_TEST_TIMEOUT seconds is reported as hung and the program exits.
    """

    pg = None
    _proxies = []

    @classmethod
    def setUpClass(cls):
        cls.pg = pg()
        cls._proxies = []

    @classmethod
    def tearDownClass(cls):
        problems = []
        for p in cls._proxies:
            if p.proc is None:
                continue
            rc = p.stop()
            reports = p.sanitizer_reports()
            if reports:
                problems.append("sanitizer reports from pgsift:\n" + p.output())
            if p.killed:
                problems.append(
                    "pgsift did not exit within %.0f s of SIGTERM although every client should "
                    "be gone (a failed test may have left one open); its last lines:\n%s"
                    % (STOP_TIMEOUT, "\n".join(p.lines[-30:])))
            elif rc not in (0, -signal.SIGTERM):
                problems.append("pgsift exited with status %r at SIGTERM:\n%s"
                                % (rc, "\n".join(p.lines[-50:])))
        cls._proxies = []
        if problems:
            raise AssertionError("\n".join(problems))

    @classmethod
    def start_pgsift(cls, **kw):
        """Starts a pgsift that lives until the end of the class (see Pgsift for the options)."""
        p = Pgsift(pg(), **kw)
        cls._proxies.append(p)
        return p

    def start_pgsift_for_test(self, **kw):
        """Starts a pgsift that is stopped when the current test ends."""
        p = self.start_pgsift(**kw)
        self.addCleanup(p.stop)
        return p

    def run(self, result=None):
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        pg_off = self.pg.log_size() if self.pg else 0
        px_off = [(p, len(p.lines)) for p in type(self)._proxies]
        timer = threading.Timer(TEST_TIMEOUT, self._hung, args=(pg_off, px_off))
        timer.daemon = True
        timer.start()
        try:
            return super().run(result)
        finally:
            timer.cancel()
            if len(result.failures) + len(result.errors) > before:
                self._dump_logs(pg_off, px_off)

    def _dump_logs(self, pg_off, px_off):
        out = sys.stderr
        known = {id(p) for p, _ in px_off}
        px_off = px_off + [(p, 0) for p in type(self)._proxies if id(p) not in known]
        for p, off in px_off:
            if p.proc is None or (p.returncode is not None and off >= len(p.lines)):
                continue
            out.write("\n===== pgsift output during %s (%s) =====\n" % (self.id(),
                                                                    " ".join(p.cmd)))
            out.write(p.output(off)[-20000:] + "\n")
        if self.pg:
            out.write("\n===== PostgreSQL log during %s =====\n" % self.id())
            out.write(self.pg.log_text(pg_off)[-20000:] + "\n")
        out.write("===== end of logs =====\n")
        out.flush()

    def _hung(self, pg_off, px_off):
        sys.stderr.write("\n%s HUNG: still running after %.0f s; thread stacks:\n"
                         % (self.id(), TEST_TIMEOUT))
        faulthandler.dump_traceback(all_threads=True)
        self._dump_logs(pg_off, px_off)
        run_cleanups()
        os._exit(1)
