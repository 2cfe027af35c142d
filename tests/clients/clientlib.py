"""
clientlib: what the driver-matrix programs (tests/clients/test_*.py) share on top of
tests/integration/harness.py: the pool mode they run in, starting pgsift for "N clients on a pool
of P", a monitor proving that PostgreSQL never saw more than P backends for those clients, and
running many threads or a subprocess with a deadline.

Environment (besides the harness's PGSIFT_BIN, PGSIFT_DIRECT, PGSIFT_KEEP):
    PGSIFT_POOL_MODE  transaction (default) or session. In session mode a pool as small as the
                      matrix's (2) would make clients wait for each other's whole sessions, so
                      the pool is made as large as the number of concurrent clients: session mode
                      validates the tests through pgsift, transaction mode is what they prove.

The harness is owned by the integration tests; this module only imports it.
"""

import os
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from harness import DIRECT, SUPERUSER, TESTDB, log  # noqa: E402,F401

POOL_MODE = os.environ.get("PGSIFT_POOL_MODE", "transaction") or "transaction"
if POOL_MODE not in ("transaction", "session"):
    raise SystemExit("PGSIFT_POOL_MODE must be transaction or session, not %r" % POOL_MODE)

NODE_DIR = os.path.join(HERE, "node")
NODE = "/usr/bin/node"

# Seconds one client thread or subprocess may take before the test declares it hung.
CLIENT_TIMEOUT = 90.0


def mode_name():
    """'direct', 'session' or 'transaction': what this run exercises (for messages)."""
    return "direct" if DIRECT else POOL_MODE


class BackendMonitor:
    """
    Polls pg_stat_activity over its own direct connection while the clients work and answers
    `peak`: the most client backends of the test database seen at once (its own excluded).
    A backend that was there at the start and is gone at the end is left out of every sample:
    that is a direct connection of the test closed just before, whose backend was still exiting,
    not one of the pool's. Use as a context manager around the clients' work.
    """

    def __init__(self, pg, dbname=TESTDB):
        self.pg = pg
        self.dbname = dbname
        self.samples = []
        self.peak = 0
        self.error = None
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        self._conn = self.pg.connect(dbname=self.dbname)
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)
        self._sample()
        self._conn.close()
        gone = self.samples[0] - self.samples[-1]
        self.peak = max(len(s - gone) for s in self.samples)
        return False

    def _sample(self):
        cur = self._conn.cursor()
        cur.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'"
                    " AND datname = %s AND pid <> pg_backend_pid()", (self.dbname,))
        self.samples.append(frozenset(r[0] for r in cur.fetchall()))

    def _run(self):
        try:
            while not self._stop.wait(0.01):
                self._sample()
        except Exception as e:  # reported by check_backends, never swallowed
            self.error = e


class ClientTestCase(harness.PgsiftTestCase):
    """
    Base class of a driver program. Subclasses set N_CLIENTS and POOL_SIZE (and CONNECTIONS when
    a client opens more than one connection at a time); setUpClass starts
    pgsift in PGSIFT_POOL_MODE with that pool (see the module comment for session mode) and
    self.px is where clients connect (PostgreSQL itself with PGSIFT_DIRECT=1).
    """

    N_CLIENTS = 8
    POOL_SIZE = 2
    CONNECTIONS = None  # connections open at once, when more than N_CLIENTS
    EXTRA_SETTINGS = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.prepare_database()
        conns = max(cls.N_CLIENTS, cls.CONNECTIONS or 0)
        pool = cls.POOL_SIZE if POOL_MODE == "transaction" else max(cls.POOL_SIZE, conns)
        cls.effective_pool = pool
        settings = {"pool_mode": POOL_MODE, "default_pool_size": pool,
                    "max_client_conn": max(100, 4 * conns)}
        settings.update(cls.EXTRA_SETTINGS)
        cls.px = cls.start_pgsift(settings=settings)
        log("%s: %d clients, %s" % (cls.__name__, cls.N_CLIENTS,
                                    "directly against PostgreSQL" if DIRECT else
                                    "pgsift pool_mode=%s default_pool_size=%d" % (POOL_MODE,
                                                                                  pool)))

    @classmethod
    def prepare_database(cls):
        """Hook: create the tables a program needs, directly on PostgreSQL, before pgsift."""

    def backends(self):
        """A BackendMonitor to wrap around the clients' work; check it with check_backends."""
        return BackendMonitor(self.pg)

    def check_backends(self, mon):
        """Through pgsift, PostgreSQL never had more backends than the pool for our clients."""
        if mon.error is not None:
            raise mon.error
        if DIRECT:
            return
        self.assertLessEqual(mon.peak, self.effective_pool,
                             "PostgreSQL had %d backends for a pool of %d"
                             % (mon.peak, self.effective_pool))
        self.assertGreaterEqual(mon.peak, 1)


class PgbenchTestCase(ClientTestCase):
    """
    A ClientTestCase whose tables are pgbench's own, made by `pgbench -i -s 2` directly on
    PostgreSQL; totals() reads what a run must keep consistent.
    """

    @classmethod
    def prepare_database(cls):
        r = harness.run_pgbench(cls.pg, ["-i", "-q", "-s", "2"], timeout=120)
        if r.returncode != 0:
            raise RuntimeError("pgbench -i -s 2 failed: %r" % r)

    def totals(self):
        """(rows of pgbench_history, sum(delta), sum(abalance), sum(bbalance), sum(tbalance),
        rows of pgbench_accounts), read directly on PostgreSQL."""
        return self.pg.query(
            "SELECT (SELECT count(*) FROM pgbench_history),"
            " (SELECT coalesce(sum(delta), 0) FROM pgbench_history),"
            " (SELECT sum(abalance) FROM pgbench_accounts),"
            " (SELECT sum(bbalance) FROM pgbench_branches),"
            " (SELECT sum(tbalance) FROM pgbench_tellers),"
            " (SELECT count(*) FROM pgbench_accounts)")[0]


class NodeTestCase(ClientTestCase):
    """
    A ClientTestCase whose checks run in node: SCRIPT (in tests/clients/node) needs the npm
    PACKAGE, and its clients write to TABLE (client int, k int, note text), made directly on
    PostgreSQL and emptied before each test. self.node(command) runs one command (run_node).
    """

    N_CLIENTS = 8
    POOL_SIZE = 2
    SCRIPT = None
    PACKAGE = None
    TABLE = None

    @classmethod
    def prepare_database(cls):
        require_node_modules(cls.PACKAGE)
        cls.pg.query("CREATE TABLE %s (client int NOT NULL, k int NOT NULL, note text)"
                     % cls.TABLE)

    def setUp(self):
        self.pg.query("DELETE FROM %s" % self.TABLE)

    def node(self, command):
        return run_node(self, self.SCRIPT, command)

    def check_transactions(self, summary):
        """node's "transaction" command answers summary, and TABLE holds the rows of 20 committed
        transactions per client (the rolled-back ones and those with an error left none)."""
        self.assertEqual(self.node("transaction"), summary)
        self.assertEqual(self.pg.query("SELECT note, count(*) FROM %s GROUP BY 1" % self.TABLE),
                         [("committed", 20 * self.N_CLIENTS)])


def run_threads(fn, n, timeout=CLIENT_TIMEOUT):
    """
    Runs fn(i) for i in 0..n-1, each in its own thread, all started together (a barrier), and
    returns their results in order. The first exception of any thread is raised here with the
    thread's traceback; a thread still running after timeout seconds is reported as hung.
    """
    results = [None] * n
    errors = [None] * n
    barrier = threading.Barrier(n)

    def body(i):
        try:
            barrier.wait(timeout)
            results[i] = fn(i)
        except BaseException:
            errors[i] = traceback.format_exc()

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    hung = [i for i, t in enumerate(threads) if t.is_alive()]
    failed = [(i, e) for i, e in enumerate(errors) if e is not None]
    if failed or hung:
        msg = ["%d of %d clients failed, %d hung (%s)" % (len(failed), n, len(hung), mode_name())]
        for i, e in failed[:3]:
            msg.append("--- client %d:\n%s" % (i, e))
        if hung:
            msg.append("hung clients (no answer within %.0f s): %r" % (timeout, hung))
        raise AssertionError("\n".join(msg))
    return results


def run_process(cmd, timeout=CLIENT_TIMEOUT, env=None, cwd=None, stdin_bytes=b""):
    """Runs cmd with a deadline; returns (returncode, stdout, stderr) as str."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, cwd=cwd)
    harness._watchdog_send("pid %d" % p.pid)
    try:
        out, err = p.communicate(stdin_bytes, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(timeout=30)
        raise AssertionError("%s did not finish within %.0f s:\n%s\n%s" % (
            " ".join(cmd), timeout, out.decode(errors="replace"), err.decode(errors="replace")))
    finally:
        harness._watchdog_send("unpid %d" % p.pid)
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def target_env(target, **extra):
    """The environment for a client subprocess: libpq's PG* variables pointing at target."""
    env = dict(os.environ)
    for k in ("PGPASSWORD", "PGSERVICE", "PGOPTIONS", "PGAPPNAME", "PGSSLMODE"):
        env.pop(k, None)
    env.update(PGHOST=target.host, PGPORT=str(target.port), PGUSER=SUPERUSER,
               PGDATABASE=TESTDB, PGCONNECT_TIMEOUT="10")
    env.update(extra)
    return env


def first_difference(got, want, context=3):
    """None when the lists of lines are equal, else a short text around the first difference."""
    if got == want:
        return None
    k = next((j for j, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    lo = max(0, k - context)
    return ("first difference at line %d of %d (expected %d lines)\n  got:  %r\n  want: %r"
            % (k + 1, len(got), len(want), got[lo:k + context + 1], want[lo:k + context + 1]))


def require_node_modules(*packages):
    """Fails with what to do when tests/clients/setup-node.sh has not installed the drivers."""
    for p in packages:
        if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", p)):
            raise RuntimeError("the Node.js driver %r is not installed: run tests/clients/"
                               "setup-node.sh (npm ci in tests/clients/node) first" % p)


def run_node(test, script, command, timeout=CLIENT_TIMEOUT):
    """
    Runs `node tests/clients/node/SCRIPT COMMAND` against test.px while a BackendMonitor
    watches, asserts it exited 0 and returns its one summary line. The script has its own
    deadline (NODE_TEST_DEADLINE) below ours, so a hang reports which command hung.
    """
    env = target_env(test.px, NODE_TEST_DEADLINE=str(int(timeout - 10)),
                     CHECK_SERVER_STATEMENTS="1" if DIRECT or POOL_MODE == "session" else "0")
    with test.backends() as mon:
        rc, out, err = run_process([NODE, os.path.join(NODE_DIR, script), command],
                                   timeout=timeout, env=env, cwd=NODE_DIR)
    test.assertEqual(rc, 0, "node %s %s (%s) exited %d:\n%s\n%s"
                     % (script, command, mode_name(), rc, out, err[-4000:]))
    test.assertEqual(err, "", "node %s %s wrote to stderr" % (script, command))
    test.check_backends(mon)
    lines = out.splitlines()
    test.assertEqual(len(lines), 1, out)
    return lines[0]
