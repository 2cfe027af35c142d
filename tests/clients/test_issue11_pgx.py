"""
test_issue11_pgx: issue 11 §3 with pgx v4 (Debian's golang-github-jackc-pgx-v4-dev 4.15, whose
default statement cache prepares every query with arguments as a named statement, lrupsc_N_M,
and runs it later with Bind/Execute/Sync only). The scenarios are in tests/clients/pgx/issue11.go,
built here offline against Debian's Go packages (GO111MODULE=off GOPATH=/usr/share/gocode).
Each test runs one case directly against PostgreSQL and then through pgsift (transaction pooling,
a pool of 2): the Go program prints each step's outcome and asks this wrapper to move it between
the pool's servers (issue11lib.Steer), and the two traces must be identical and PostgreSQL's the
one written here. Each step has a 10 s deadline in Go (a HANG) and the program one here.

    apt-get install -y golang-go golang-github-jackc-pgx-v4-dev
    PGSIFT_BIN=build/pgsift /usr/bin/python3 tests/clients/test_issue11_pgx.py [-v] \
        [Issue11PgxTest.test_reparse_fails_dropped_table]
"""

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clientlib  # noqa: E402
import harness  # noqa: E402
import issue11lib  # noqa: E402
from issue11lib import STEP_TIMEOUT, Trace, compare  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
GO_SRC = os.path.join(HERE, "pgx", "issue11.go")
GOPATH = "/usr/share/gocode"
OK = "ok"
# the Go program reports its own HANGs after 10 s; this is for a program that hangs anyway
LINE_TIMEOUT = STEP_TIMEOUT + 20


def go_dsn(target):
    return "host=%s port=%d user=%s dbname=%s sslmode=disable connect_timeout=10" % (
        target.host, target.port, clientlib.SUPERUSER, clientlib.TESTDB)


def build_go():
    go = shutil.which("go") or "/usr/bin/go"
    if not os.path.exists(go) or not os.path.isdir(os.path.join(GOPATH, "src", "github.com",
                                                                "jackc", "pgx", "v4")):
        raise RuntimeError("pgx v4 is not installed: apt-get install -y golang-go "
                           "golang-github-jackc-pgx-v4-dev (scripts/install-deps.sh)")
    out = os.path.join(harness.scratch_dir("pgsift-i11-go-"), "issue11")
    cache = os.environ.get("GOCACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.environ.get("HOME") or "/tmp",
                                                         ".cache"), "go-build")
    env = dict(os.environ, GO111MODULE="off", GOPATH=GOPATH, GOCACHE=cache, GOFLAGS="",
               GOPROXY="off", CGO_ENABLED="0")
    r = subprocess.run([go, "build", "-o", out, GO_SRC], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=env, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("go build of %s failed:\n%s" % (GO_SRC, r.stdout.decode()))
    return out


def tupled(o):
    return tuple(o) if isinstance(o, list) else o


class Issue11PgxTest(issue11lib.Issue11Case):

    @classmethod
    def setUpClass(cls):
        cls.binary = build_go()
        super().setUpClass()

    def run_case(self, name, target):
        """Runs one case of the Go program against target; returns its Trace."""
        trace = Trace(issue11lib.describe_target(target))
        steer = self.steer_for(target).start()
        p = subprocess.Popen([self.binary, name, go_dsn(target), go_dsn(self.pg)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        harness._watchdog_send("pid %d" % p.pid)
        lines = queue.Queue()
        err = []

        def reader():
            for raw in p.stdout:
                lines.put(raw.decode(errors="replace").rstrip("\n"))
            lines.put(None)

        def err_reader():
            for raw in p.stderr:
                err.append(raw.decode(errors="replace"))

        threads = [threading.Thread(target=reader, daemon=True),
                   threading.Thread(target=err_reader, daemon=True)]
        for t in threads:
            t.start()
        done = False
        try:
            while True:
                try:
                    line = lines.get(timeout=LINE_TIMEOUT)
                except queue.Empty:
                    trace.add("(the Go program)", ("HANG", "no output within %.0f s"
                                                   % LINE_TIMEOUT))
                    break
                if line is None:
                    break
                if line.startswith("STEP "):
                    label, outcome = json.loads(line[5:])
                    trace.add(label, tupled(outcome))
                elif line.startswith("STEER "):
                    steer.only(int(line[6:]))
                    p.stdin.write(b"ok\n")
                    p.stdin.flush()
                elif line == "DONE":
                    done = True
                else:
                    trace.add("(unexpected output)", line)
        finally:
            steer.close()
            if p.poll() is None:
                try:
                    p.wait(10 if done else 0.1)
                except subprocess.TimeoutExpired:
                    pass
            if p.poll() is None:
                p.kill()
                p.wait(10)
            harness._watchdog_send("unpid %d" % p.pid)
            for t in threads:
                t.join(5)
            for f in (p.stdin, p.stdout, p.stderr):
                try:
                    f.close()
                except OSError:
                    pass
        text = "".join(err)
        if text:
            harness.log("issue11 %s (%s) stderr:\n%s" % (name, trace.name, text[-3000:]))
        if not done and not trace.hung and p.returncode != 0:
            trace.add("(exit status)", (p.returncode, text[-2000:]))
        return trace

    def run_both(self, name, expected=None):
        traces = [self.run_case(name, target) for _, target in self.targets()]
        compare(self, traces[0], traces[1], expected)
        return traces

    # --- re-Parse of a client's named statement fails on the next server -------------------

    def test_reparse_fails_dropped_table(self):
        err = ("error", "42P01", 'relation "i11g_drop" does not exist')
        self.run_both("reparse_dropped_table", [
            ["prepare i11g_stmt", (OK, None)],
            ["named statement", (OK, [[1], [2]])],
            ["cached statement", (OK, [[1], [2]])],
            ["named statement after drop (other server)", err],
            ["next statement", (OK, [[42]])],
            ["cached statement after drop", err],
            ["next statement 2", (OK, [[43]])],
            ["named statement after re-create", (OK, [[3]])],
            ["cached statement after re-create", (OK, [[3]])],
            ["exec after re-create", (OK, "UPDATE 1")],
        ])

    def test_reparse_fails_in_batch(self):
        # a batch is one Sync group: the error comes in the failing statement's place and
        # pgx reports it for the rest of the batch too
        err = ["error", "42P01", 'relation "i11g_batch" does not exist']
        self.run_both("reparse_in_batch", [
            ["cached statement", (OK, [[1]])],
            ["cached statement 2", (OK, [[10]])],
            ["batch after drop (other server)", (OK, [[OK, [[10]]], err, err, err])],
            ["next statement", (OK, [[42]])],
            ["batch after re-create", (OK, [[OK, [[10]]], [OK, [[2]]], [OK, [[103]]], "closed"])],
        ])

    def test_reparse_fails_temp_table_dropped_at_commit(self):
        err = ("error", "42P01", 'relation "i11g_tmp" does not exist')
        self.run_both("reparse_temp_table_dropped_commit", [
            ["begin", (OK, "BEGIN")],
            ["create temp table on commit drop", (OK, "CREATE TABLE")],
            ["insert", (OK, "INSERT 0 1")],
            ["cached statement", (OK, [[5]])],
            ["commit", (OK, "COMMIT")],
            ["cached statement after commit (other server)", err],
            ["next statement", (OK, [[2]])],
            ["cached statement after commit (first server)", err],
            ["last statement", (OK, [[3]])],
        ])

    def test_temp_table_statement_keeps_working(self):
        self.run_both("temp_table_keeps_working", [
            ["create temp table", (OK, "CREATE TABLE")],
            ["insert", (OK, "INSERT 0 1")],
            ["cached statement", (OK, [[9]])],
            ["cached statement again", (OK, [[9]])],
            ["next statement", (OK, [[2]])],
            ["cached statement once more", (OK, [[9]])],
        ])

    # --- stale row description -----------------------------------------------------------

    def test_stale_row_description(self):
        invalid = ("error", "0A000", "cached plan must not change result type")
        new_rows = (OK, [[1, "v=10"], [2, "v=20"]])
        self.run_both("stale_row_description", [
            ["cached statement", (OK, [[1, 10], [2, 20]])],
            ["cached statement after alter (other server)", invalid],
            ["next statement", (OK, [[2]])],
            ["cached statement again (pgx re-prepares after 0A000)", new_rows],
            ["cached statement (first server)", new_rows],
        ])

    def test_stale_row_description_named_statement(self):
        invalid = ("error", "0A000", "cached plan must not change result type")
        self.run_both("stale_row_description_named", [
            ["prepare i11g_alt_stmt", (OK, None)],
            ["named statement", (OK, [[1, 10], [2, 20]])],
            ["named statement after alter (other server)", invalid],
            ["next statement", (OK, [[2]])],
            ["named statement (first server)", invalid],
        ])

    # --- SQL PREPARE / EXECUTE / DEALLOCATE ------------------------------------------------

    def test_sql_prepare_execute_deallocate_extended(self):
        self.run_both("sql_prepare_extended", [
            ["PREPARE i11g_p (extended)", (OK, "PREPARE")],
            ["EXECUTE i11g_p (extended, other server)", (OK, [["42"]])],
            ["EXECUTE i11g_p (cached named statement)", (OK, [[10]])],
            ["EXECUTE i11g_p (cached, other server)", (OK, [[10]])],
            ["DEALLOCATE i11g_p (extended)", (OK, "DEALLOCATE")],
            ["EXECUTE after DEALLOCATE",
             ("error", "26000", 'prepared statement "i11g_p" does not exist')],
            ["PREPARE i11g_q (cached named statement)", (OK, [])],
            ["EXECUTE i11g_q (simple)", (OK, [["q"]])],
            ["DEALLOCATE ALL (extended)", (OK, "DEALLOCATE ALL")],
            ["EXECUTE i11g_q after ALL",
             ("error", "26000", 'prepared statement "i11g_q" does not exist')],
            ["next statement", (OK, [[48]])],
        ])

    def test_statement_cache_eviction_deallocates(self):
        self.run_both("statement_cache_eviction", [
            ["round %d query %d" % (r, k), (OK, [[r * 100 + k]])]
            for r in range(3) for k in range(6)])

    # --- SET SESSION CHARACTERISTICS ----------------------------------------------------

    def test_session_characteristics_isolation_replayed(self):
        self.run_both("session_characteristics", [
            ["SET SESSION CHARACTERISTICS serializable", (OK, "SET")],
            ["SHOW (other server)", (OK, [["serializable"]])],
            ["in a transaction", (OK, [["serializable"]])],
            ["read committed transaction", (OK, [["read committed"]])],
            ["SET SESSION CHARACTERISTICS repeatable read (extended)", (OK, "SET")],
            ["SHOW after extended SET", (OK, [["repeatable read"]])],
            ["RESET ALL", (OK, "RESET")],
            ["SHOW after RESET ALL", (OK, [["read committed"]])],
        ])

    # --- cancel ---------------------------------------------------------------------------

    def test_cancel_request_long_statement(self):
        expected = []
        for r in range(3):
            expected += [["pg_sleep(8) cancelled after 0.3 s (%d)" % r,
                          ("error", "57014", "canceling statement due to user request")],
                         ["cancelled within 4 s (%d)" % r, ("note", True)],
                         ["next statement (%d)" % r, (OK, [[r]])]]
        self.run_both("cancel_request", expected)

    def test_context_timeout_long_statement(self):
        expected = []
        for r in range(3):
            expected += [["pg_sleep(8) with a 0.3 s context (%d)" % r, ("note", True)],
                         ["connection closed by pgx (%d)" % r, ("note", True)],
                         ["pg_sleep(8) gone from the server (%d)" % r, ("note", True)],
                         ["within 4 s (%d)" % r, ("note", True)],
                         ["other client's next statement (%d)" % r, (OK, [[r]])],
                         ["new connection's statement (%d)" % r, (OK, [[r + 1]])]]
        self.run_both("context_timeout", expected)

    def test_cancel_request_never_hits_next_statement(self):
        self.run_both("cancel_race", [
            ["first statements: ok or 57014 only", ("note", True)],
            ["next statements that failed", ("note", [])],
            ["other client's failures", ("note", [])],
        ])

    def test_context_cancel_never_hits_other_statements(self):
        self.run_both("context_race", [
            ["first statements: ok or timeout only", ("note", True)],
            ["other statements that failed", ("note", [])],
        ])

    # --- reported parameters --------------------------------------------------------------

    def test_reported_parameters_spelling(self):
        direct, _ = self.run_both("reported_parameters")
        got = dict((l, o) for l, o in direct.steps)
        for n, v in (("client_encoding", "UTF8"), ("DateStyle", "ISO, MDY"), ("TimeZone", "UTC"),
                     ("IntervalStyle", "iso_8601"), ("application_name", "Issue11 App")):
            self.assertEqual(got["ParameterStatus %s" % n], ("note", v))
        self.assertEqual(got["simple protocol with an argument"], (OK, [["é 🐘"]]))


if __name__ == "__main__":
    unittest.main()
