"""
issue11lib: what the issue-11 driver programs (tests/clients/test_issue11_*.py) share. Each of
their tests runs one scenario twice, first directly against PostgreSQL and then through pgsift
(transaction pooling, a pool of 2 servers), records every step's outcome (rows, or SQLSTATE and
message, or a hang) in a Trace, and asserts that the two traces are identical, and that the
direct one is what the test expects (so the scenario itself is checked against PostgreSQL).

Server hand-over is forced, not hoped for: a Steer holds the pool's servers with blocker
connections (psycopg2, asynchronous, with deadlines) and frees exactly one of them, so the
client's next transaction can only run there. `steer.only(0)` then `steer.only(1)` moves the
client from one server to the other between two of its statements. Against PostgreSQL directly,
and in session pooling, a Steer does nothing. When the client is pinned to its server (pgsift
may keep a client with a temporary table on its server), the blocker that should take that
server gets no server within STEER_TIMEOUT: the Steer gives up for that step and says so in the
log, which is not a failure (the client simply stays where its state is).

Every step has a deadline: a step that gets no answer within STEP_TIMEOUT is recorded as HANG and
the scenario stops there (its connections are shut down), so a hang fails the test instead of
blocking it.
"""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clientlib  # noqa: E402
import harness  # noqa: E402
from clientlib import DIRECT, POOL_MODE  # noqa: E402

STEP_TIMEOUT = 10.0
STEER_TIMEOUT = 3.0
POOL_SIZE = 2


class Hang(Exception):
    """A step got no answer within its deadline; the scenario stops."""


def describe_target(target):
    if isinstance(target, harness.PgServer) or DIRECT:
        return "PostgreSQL directly"
    return "pgsift (%s pooling, pool of %d)" % (POOL_MODE, POOL_SIZE)


class Trace:
    """The ordered outcomes of a scenario's steps: [(label, outcome), ...]."""

    def __init__(self, target_name):
        self.name = target_name
        self.steps = []
        self.hung = False

    def add(self, label, outcome):
        self.steps.append((label, outcome))

    def __eq__(self, other):
        return self.steps == other.steps

    def __repr__(self):
        return "\n".join("    %-44s %r" % (l, o) for l, o in self.steps)


def compare(test, direct, proxied, expected=None):
    """
    Asserts that the direct trace is `expected` (when given: a list of (label, outcome)) and
    that the trace through pgsift equals the direct one, printing both sides step by step.
    """
    if expected is not None:
        expected = [tuple(e) for e in expected]
    if expected is not None and direct.steps != expected:
        lines = ["PostgreSQL directly did not behave as this test expects (the test is wrong):"]
        for i in range(max(len(direct.steps), len(expected))):
            got = direct.steps[i] if i < len(direct.steps) else None
            want = expected[i] if i < len(expected) else None
            lines.append("  %s %r\n      expected %r" % ("  " if got == want else "!!", got, want))
        test.fail("\n".join(lines))
    if proxied.steps == direct.steps:
        return
    lines = ["%s differs from PostgreSQL directly:" % proxied.name]
    for i in range(max(len(direct.steps), len(proxied.steps))):
        d = direct.steps[i] if i < len(direct.steps) else ("(no step)", None)
        p = proxied.steps[i] if i < len(proxied.steps) else ("(no step)", None)
        mark = "   " if d == p else "!! "
        lines.append("%sstep %d %s" % (mark, i + 1, d[0] if d[0] == p[0] else
                                       "%s / %s" % (d[0], p[0])))
        if d == p:
            lines.append("        both:       %r" % (d[1],))
        else:
            lines.append("        PostgreSQL: %r" % (d[1],))
            lines.append("        pgsift:     %r" % (p[1],))
    test.fail("\n".join(lines))


class Steer:
    """
    Forces which pool server the client's next transaction runs on (see the module comment).
    Blockers are psycopg2 asynchronous connections through the same pgsift, same user and
    database as the client, so they draw from the client's pool.
    """

    def __init__(self, target, active, n=POOL_SIZE):
        self.target = target
        self.active = active
        self.n = n
        self.conns = [None] * n
        self.held_pid = [None] * n  # the server (backend pid) blocker j holds, or None
        self.pids = [None] * n  # server k's backend pid
        self.moves = 0
        self.gave_up = 0

    def start(self):
        """Learns the pool's servers (all held at once, then all freed again)."""
        if not self.active:
            return self
        for j in range(self.n):
            self.conns[j] = harness.async_connect(self.target, STEP_TIMEOUT)
        for j in range(self.n):
            if not self._acquire(j):
                raise AssertionError("Steer: blocker %d got no server of the pool of %d within "
                                     "%.0f s at the start" % (j, self.n, STEER_TIMEOUT))
        self.pids = list(self.held_pid)
        if len(set(self.pids)) != self.n:
            raise AssertionError("Steer: blockers share servers %r" % (self.pids,))
        self.free_all()
        return self

    def _acquire(self, j):
        """Blocker j takes whichever server is free; False when none is within the deadline."""
        try:
            rows = harness.async_query(self.conns[j], "BEGIN; SELECT pg_backend_pid()",
                                       STEER_TIMEOUT)
        except harness.Deadline:
            # the server this blocker wanted is the client's (pinned): drop this blocker (pgsift
            # forgets a queued client that leaves) and open a fresh one that holds nothing
            self.conns[j].close()
            self.conns[j] = harness.async_connect(self.target, STEP_TIMEOUT)
            self.held_pid[j] = None
            return False
        self.held_pid[j] = rows[0][0]
        return True

    def _release(self, j):
        harness.async_query(self.conns[j], "COMMIT", STEP_TIMEOUT)
        self.held_pid[j] = None

    def only(self, k):
        """Leaves only server k free: the client's next transaction runs on it."""
        if not self.active:
            return True
        ok = True
        for j in range(self.n):
            if self.held_pid[j] is None:
                ok = self._acquire(j) and ok
        # a server pgsift closed (its client vanished mid-statement, say) and replaced takes
        # the place of the one it replaced
        held = [p for p in self.held_pid if p is not None]
        fresh = [p for p in held if p not in self.pids]
        for i in range(self.n):
            if self.pids[i] not in held and fresh:
                self.pids[i] = fresh.pop(0)
        for j in range(self.n):
            if self.held_pid[j] == self.pids[k]:
                self._release(j)
                break
        else:
            ok = False
        self.moves += 1
        if not ok:
            self.gave_up += 1
            harness.log("Steer.only(%d): a server stayed with the client (pinned)" % k)
        return ok

    def free_all(self):
        """Frees every server: the pool picks as it likes again."""
        if not self.active:
            return
        for j in range(self.n):
            if self.held_pid[j] is not None:
                self._release(j)

    def close(self):
        if not self.active:
            return
        for j in range(self.n):
            c = self.conns[j]
            if c is None:
                continue
            try:
                if self.held_pid[j] is not None:
                    self._release(j)
            except Exception:
                pass
            c.close()
            self.conns[j] = None


def shutdown_fd(fd):
    """Shuts a socket down by descriptor (a blocked reader in another thread wakes with EOF)."""
    try:
        s = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        s.close()


class SyncRecorder:
    """
    Runs the steps of a synchronous (psycopg 3) scenario: step(label, fn) calls fn() and records
    its outcome (outcome_of turns a result or exception into a comparable value). A watchdog
    shuts down the sockets of the registered connections when a step runs over its deadline;
    the step is then recorded as HANG and Hang is raised.
    """

    def __init__(self, trace, outcome_of, error_of):
        self.trace = trace
        self.outcome_of = outcome_of
        self.error_of = error_of
        self.fds = []

    def watch(self, fd):
        self.fds.append(fd)

    def step(self, label, fn, timeout=STEP_TIMEOUT, record=True):
        """
        Runs fn() and records (label, outcome); with record=False only returns the outcome
        (a hang is recorded either way and raises Hang).
        """
        fired = threading.Event()

        def fire():
            fired.set()
            for fd in list(self.fds):
                shutdown_fd(fd)

        timer = threading.Timer(timeout, fire)
        timer.daemon = True
        timer.start()
        t0 = time.monotonic()
        try:
            result = fn()
        except Exception as e:
            timer.cancel()
            if fired.is_set():
                self.trace.add(label, ("HANG", "no answer within %.0f s" % timeout))
                self.trace.hung = True
                raise Hang(label)
            outcome = self.error_of(e)
            if outcome is None:
                raise
            if not record:
                return outcome
            self.trace.add(label, outcome)
            return None
        timer.cancel()
        if fired.is_set():
            self.trace.add(label, ("HANG", "answered only after %.1f s" % (time.monotonic() - t0)))
            self.trace.hung = True
            raise Hang(label)
        outcome = self.outcome_of(result)
        if not record:
            return outcome
        self.trace.add(label, outcome)
        return result

    def note(self, label, value):
        """Records a value the scenario computed itself (a count, a flag)."""
        self.trace.add(label, value)


class Issue11Case(clientlib.ClientTestCase):
    """One client at a time on a pool of 2 (transaction pooling unless PGSIFT_POOL_MODE says)."""

    N_CLIENTS = 1
    POOL_SIZE = POOL_SIZE
    CONNECTIONS = 8

    def steer_for(self, target):
        active = target is self.px and not DIRECT and POOL_MODE == "transaction"
        return Steer(target, active)

    def targets(self):
        """(name, target) for PostgreSQL directly, then pgsift."""
        return [(describe_target(self.pg), self.pg), (describe_target(self.px), self.px)]
