"""
test_transaction: transaction pooling through pgsift, checked as a driver sees it.

Raw protocol (RawClient below: sockets and struct, the responses as readable tuples): protocol-level
named prepared statements survive a move to another server, two clients' equal names stay apart,
a duplicate Parse gets PostgreSQL's 42P05 and the rest of its Sync group is skipped, Close then
re-Parse, Describe on a server that never saw the statement, a 20-deep pipeline, the asyncpg
Parse/Describe/Flush then Bind/Execute/Sync sequence, and LRU eviction with
max_prepared_statements = 3. psycopg2: SQL PREPARE/EXECUTE/DEALLOCATE, DISCARD ALL, SET/RESET,
SET in committed and rolled-back transactions, SET LOCAL, startup options and application_name on
every server, LISTEN refused, COPY. pool_mode = statement refuses transaction blocks.

Pools are small (1 or 2 servers) so that clients share servers. To prove that a client's next
transaction runs on another server than before, other connections hold every server but one in an
open transaction (Holder), and the test checks pg_backend_pid() differs.
"""

import io
import os
import socket
import struct
import sys
import unittest

import psycopg2
import psycopg2.errors

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DIRECT, SUPERUSER, TESTDB  # noqa: E402

INT4, TEXT = 23, 25


# ---------------------------------------------------------------------------------------------
# A raw protocol v3 client


def cstr(s):
    return s.encode() + b"\0"


class RawClient:
    """
    One connection speaking the protocol by hand. Frame builders return bytes; send() sends any
    number of them at once; read_until_ready(n) returns the responses up to the n-th
    ReadyForQuery as tuples:
      ('1',) ParseComplete  ('2',) BindComplete  ('3',) CloseComplete  ('n',) NoData
      ('t', [oids]) ParameterDescription  ('T', [(name, oid)]) RowDescription
      ('D', [values as str or None]) DataRow  ('C', tag) CommandComplete
      ('E', sqlstate, message) ErrorResponse  ('Z', status) ReadyForQuery
    ParameterStatus and NoticeResponse are left out (kept in self.other).
    """

    def __init__(self, target, timeout=10.0, **params):
        p = {"user": SUPERUSER, "database": TESTDB}
        p.update(params)
        self.sock, err = harness.raw_login(target, p, timeout)
        if err is not None:
            self.sock.close()
            raise AssertionError("login failed: %r" % (err,))
        self.sock.settimeout(timeout)
        self.other = []

    def close(self):
        try:
            self.sock.sendall(harness.message(b"X"))
        except OSError:
            pass
        self.sock.close()

    # frames
    @staticmethod
    def parse(name, query, types=()):
        return harness.message(b"P", cstr(name) + cstr(query) + struct.pack(
            "!h", len(types)) + b"".join(struct.pack("!I", t) for t in types))

    @staticmethod
    def bind(stmt, params=(), portal=""):
        body = cstr(portal) + cstr(stmt) + struct.pack("!hh", 0, len(params))
        for v in params:
            if v is None:
                body += struct.pack("!i", -1)
            else:
                b = str(v).encode()
                body += struct.pack("!i", len(b)) + b
        body += struct.pack("!h", 0)
        return harness.message(b"B", body)

    @staticmethod
    def describe(kind, name):
        return harness.message(b"D", kind.encode() + cstr(name))

    @staticmethod
    def execute(portal="", max_rows=0):
        return harness.message(b"E", cstr(portal) + struct.pack("!i", max_rows))

    @staticmethod
    def close_stmt(name):
        return harness.message(b"C", b"S" + cstr(name))

    @staticmethod
    def sync():
        return harness.message(b"S")

    @staticmethod
    def flush():
        return harness.message(b"H")

    @staticmethod
    def query(sql):
        return harness.message(b"Q", cstr(sql))

    def send(self, *frames):
        self.sock.sendall(b"".join(frames))

    def read_one(self):
        """The next response as a tuple (see the class comment); AssertionError on EOF/hang."""
        while True:
            try:
                m = harness.read_message(self.sock)
            except socket.timeout:
                raise AssertionError("no answer from the proxy (hang); so far: %r" % (
                    self.other,))
            if m is None:
                raise AssertionError("connection closed")
            t = m[0].decode()
            body = m[1]
            if t in ("S", "N", "A"):
                self.other.append((t, body))
                continue
            if t in ("1", "2", "3", "n", "s", "I"):
                return (t,)
            if t == "t":
                n = struct.unpack("!h", body[:2])[0]
                return (t, list(struct.unpack("!%dI" % n, body[2:2 + 4 * n])))
            if t == "T":
                n = struct.unpack("!h", body[:2])[0]
                off, cols = 2, []
                for _ in range(n):
                    end = body.index(b"\0", off)
                    name = body[off:end].decode()
                    off = end + 1
                    _tbl, _col, oid, _sz, _mod, _fmt = struct.unpack("!IhIhih", body[off:off + 18])
                    off += 18
                    cols.append((name, oid))
                return (t, cols)
            if t == "D":
                n = struct.unpack("!h", body[:2])[0]
                off, vals = 2, []
                for _ in range(n):
                    ln = struct.unpack("!i", body[off:off + 4])[0]
                    off += 4
                    if ln < 0:
                        vals.append(None)
                    else:
                        vals.append(body[off:off + ln].decode())
                        off += ln
                return (t, vals)
            if t == "C":
                return (t, body.rstrip(b"\0").decode())
            if t == "E":
                f = harness.parse_error(body)
                return (t, f.get("C"), f.get("M"))
            if t == "Z":
                return (t, body.decode())
            return (t, body)

    def read_n(self, n):
        return [self.read_one() for _ in range(n)]

    def read_until_ready(self, n=1):
        out = []
        while n > 0:
            m = self.read_one()
            out.append(m)
            if m[0] == "Z":
                n -= 1
        return out

    def run(self, *frames, n=1):
        self.send(*frames)
        return self.read_until_ready(n)

    def pid_frames(self):
        """Frames that report the backend pid (unnamed statement) inside the current group."""
        return (self.parse("", "SELECT pg_backend_pid()"), self.bind(""), self.execute())


def pid_of(responses):
    """The pg_backend_pid() value in a response list (the first DataRow of one int column)."""
    for m in responses:
        if m[0] == "D":
            return int(m[1][0])
    raise AssertionError("no DataRow in %r" % (responses,))


# ---------------------------------------------------------------------------------------------
# Holding servers


class Holder:
    """
    Takes all pool_size servers of the pool, each in an open transaction on its own psycopg2
    connection, then gives back every server except the one whose pid is `pid`. Until
    release(), every transaction of other clients runs on a server that is not `pid`.
    Through PGSIFT_DIRECT=1 it holds nothing.
    """

    def __init__(self, px, pid, pool_size):
        self.conns = []
        self.held_pid = None
        if DIRECT:
            return
        got = []
        for _ in range(pool_size):
            c = px.connect(autocommit=False)
            cur = c.cursor()
            cur.execute("SELECT pg_backend_pid()")
            got.append((c, cur.fetchone()[0]))
        pids = [p for _, p in got]
        if len(set(pids)) != pool_size:
            for c, _ in got:
                c.close()
            raise AssertionError("holders got servers %r: not %d different ones" % (
                pids, pool_size))
        for c, p in got:
            if p == pid:
                self.conns.append(c)
                self.held_pid = p
            else:
                c.rollback()
                c.close()
        if self.held_pid is None:
            for c in self.conns:
                c.close()
            raise AssertionError("server pid %d is not among the pool's servers %r" % (pid, pids))

    def release(self):
        for c in self.conns:
            try:
                c.rollback()
                c.close()
            except psycopg2.Error:
                pass
        self.conns = []


def assert_moved(tc, pid_before, pid_after):
    if not DIRECT:
        tc.assertNotEqual(pid_before, pid_after, "the transaction did not move to another server")


# ---------------------------------------------------------------------------------------------
# (a) raw protocol, pool of 2


class NamedStatementsTest(harness.PgsiftTestCase):
    POOL = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.px = cls.start_pgsift(settings={"pool_mode": "transaction",
                                            "default_pool_size": cls.POOL})

    def client(self, **kw):
        c = RawClient(self.px, **kw)
        self.addCleanup(c.close)
        return c

    def hold(self, pid):
        h = Holder(self.px, pid, self.POOL)
        self.addCleanup(h.release)
        return h

    def test_statement_follows_client_to_another_server(self):
        c = self.client()
        r = c.run(c.parse("s_move", "SELECT $1::int * 3 AS v"), *c.pid_frames(), c.sync())
        self.assertEqual(r[0], ("1",))
        pid1 = pid_of(r)
        h = self.hold(pid1)
        r = c.run(*c.pid_frames(), c.bind("s_move", [14]), c.execute(), c.sync())
        assert_moved(self, pid1, pid_of(r))
        self.assertEqual(r[4:], [("2",), ("D", ["42"]), ("C", "SELECT 1"), ("Z", "I")])
        h.release()
        # and back on the first server, where it was parsed
        r = c.run(c.bind("s_move", [5]), c.execute(), c.sync())
        self.assertEqual(r, [("2",), ("D", ["15"]), ("C", "SELECT 1"), ("Z", "I")])

    def test_statement_in_explicit_transaction_on_another_server(self):
        c = self.client()
        r = c.run(c.parse("s_tx", "SELECT $1::text || '!' AS v"), *c.pid_frames(), c.sync())
        pid1 = pid_of(r)
        self.hold(pid1)
        r = c.run(c.query("BEGIN"))
        self.assertEqual(r, [("C", "BEGIN"), ("Z", "T")])
        r = c.run(c.bind("s_tx", ["hi"]), c.execute(), c.sync())
        self.assertEqual(r, [("2",), ("D", ["hi!"]), ("C", "SELECT 1"), ("Z", "T")])
        r = c.run(c.query("SELECT pg_backend_pid()"))
        assert_moved(self, pid1, pid_of(r))
        self.assertEqual(c.run(c.query("COMMIT")), [("C", "COMMIT"), ("Z", "I")])

    def test_two_clients_same_name_different_texts(self):
        a, b = self.client(), self.client()
        self.assertEqual(a.run(a.parse("same", "SELECT 'from a'::text AS who"), a.sync()),
                         [("1",), ("Z", "I")])
        self.assertEqual(b.run(b.parse("same", "SELECT 'from b'::text AS who"), b.sync()),
                         [("1",), ("Z", "I")])
        for _ in range(3):
            for cl, want in ((a, "from a"), (b, "from b")):
                r = cl.run(cl.bind("same"), cl.execute(), cl.sync())
                self.assertEqual(r, [("2",), ("D", [want]), ("C", "SELECT 1"), ("Z", "I")])

    def test_duplicate_parse_gets_42P05_and_group_is_skipped(self):
        c = self.client()
        self.assertEqual(c.run(c.parse("dup", "SELECT 1"), c.sync()), [("1",), ("Z", "I")])
        r = c.run(c.parse("dup", "SELECT 2"), c.bind("dup"), c.execute(), c.sync())
        self.assertEqual(r, [("E", "42P05", 'prepared statement "dup" already exists'),
                             ("Z", "I")])
        # the statement is still the first one
        r = c.run(c.bind("dup"), c.execute(), c.sync())
        self.assertEqual(r, [("2",), ("D", ["1"]), ("C", "SELECT 1"), ("Z", "I")])

    def test_duplicate_parse_in_one_group(self):
        c = self.client()
        r = c.run(c.parse("dup1", "SELECT 1"), c.parse("dup1", "SELECT 2"), c.bind("dup1"),
                  c.execute(), c.sync())
        self.assertEqual(r, [("1",), ("E", "42P05", 'prepared statement "dup1" already exists'),
                             ("Z", "I")])
        r = c.run(c.bind("dup1"), c.execute(), c.sync())
        self.assertEqual(r, [("2",), ("D", ["1"]), ("C", "SELECT 1"), ("Z", "I")])

    def test_close_then_reparse_same_name(self):
        c = self.client()
        self.assertEqual(c.run(c.parse("re", "SELECT 'one'::text"), c.sync()),
                         [("1",), ("Z", "I")])
        r = c.run(c.close_stmt("re"), c.parse("re", "SELECT 'two'::text"), c.bind("re"),
                  c.execute(), c.sync())
        self.assertEqual(r, [("3",), ("1",), ("2",), ("D", ["two"]), ("C", "SELECT 1"),
                             ("Z", "I")])
        # closed in its own group, then parsed again in the next
        self.assertEqual(c.run(c.close_stmt("re"), c.sync()), [("3",), ("Z", "I")])
        r = c.run(c.bind("re"), c.execute(), c.sync())
        self.assertEqual(r, [("E", "26000", 'prepared statement "re" does not exist'),
                             ("Z", "I")])
        r = c.run(c.parse("re", "SELECT 'three'::text"), c.bind("re"), c.execute(), c.sync())
        self.assertEqual(r, [("1",), ("2",), ("D", ["three"]), ("C", "SELECT 1"), ("Z", "I")])

    def test_failed_parse_leaves_name_free(self):
        c = self.client()
        r = c.run(c.parse("bad", "SELEC 1"), c.sync())
        self.assertEqual(r, [("E", "42601", 'syntax error at or near "SELEC"'), ("Z", "I")])
        r = c.run(c.parse("bad", "SELECT 7"), c.bind("bad"), c.execute(), c.sync())
        self.assertEqual(r, [("1",), ("2",), ("D", ["7"]), ("C", "SELECT 1"), ("Z", "I")])

    def test_describe_on_server_that_never_saw_it(self):
        c = self.client()
        r = c.run(c.parse("desc", "SELECT $1::int + 1 AS x, $2::text AS y"), *c.pid_frames(),
                  c.sync())
        pid1 = pid_of(r)
        self.hold(pid1)
        r = c.run(c.describe("S", "desc"), *c.pid_frames(), c.sync())
        self.assertEqual(r[:2], [("t", [INT4, TEXT]), ("T", [("x", INT4), ("y", TEXT)])])
        assert_moved(self, pid1, pid_of(r))
        r = c.run(c.bind("desc", [1, "z"]), c.execute(), c.sync())
        self.assertEqual(r, [("2",), ("D", ["2", "z"]), ("C", "SELECT 1"), ("Z", "I")])

    def test_unknown_statement_name(self):
        c = self.client()
        r = c.run(c.bind("nosuch"), c.execute(), c.sync())
        self.assertEqual(r, [("E", "26000", 'prepared statement "nosuch" does not exist'),
                             ("Z", "I")])
        r = c.run(c.describe("S", "nosuch"), c.sync())
        self.assertEqual(r, [("E", "26000", 'prepared statement "nosuch" does not exist'),
                             ("Z", "I")])

    def test_pipeline_of_20_sync_groups(self):
        c = self.client()
        frames = [c.parse("pipe", "SELECT 100 / $1::int AS q")]
        for i in range(20):
            frames += [c.bind("pipe", [1 if i == 0 else 0 if i == 10 else i]), c.execute(),
                       c.sync()]
        # group 10 divides by zero; everything after it still runs
        r = c.run(*frames, n=20)
        want = [("1",)]
        for i in range(20):
            d = 1 if i == 0 else i
            if i == 10:
                want += [("2",), ("E", "22012", "division by zero"), ("Z", "I")]
            else:
                want += [("2",), ("D", [str(100 // d)]), ("C", "SELECT 1"), ("Z", "I")]
        self.assertEqual(r, want)

    def test_two_pipelines_on_a_shared_pool(self):
        a, b = self.client(), self.client()
        fa = [a.parse("pp", "SELECT 'a' || $1::text")]
        fb = [b.parse("pp", "SELECT 'b' || $1::text")]
        for i in range(20):
            fa += [a.bind("pp", [i]), a.execute(), a.sync()]
            fb += [b.bind("pp", [i]), b.execute(), b.sync()]
        a.send(*fa)
        b.send(*fb)
        ra, rb = a.read_until_ready(20), b.read_until_ready(20)
        for cl, r in (("a", ra), ("b", rb)):
            want = [("1",)]
            for i in range(20):
                want += [("2",), ("D", [cl + str(i)]), ("C", "SELECT 1"), ("Z", "I")]
            self.assertEqual(r, want)

    def test_parse_describe_flush_then_bind_execute_sync(self):
        c = self.client()
        c.send(c.parse("apg", "SELECT $1::int * 2 AS doubled"), c.describe("S", "apg"), c.flush())
        self.assertEqual(c.read_n(3), [("1",), ("t", [INT4]), ("T", [("doubled", INT4)])])
        r = c.run(c.bind("apg", [21]), c.execute(), c.sync())
        self.assertEqual(r, [("2",), ("D", ["42"]), ("C", "SELECT 1"), ("Z", "I")])

    @harness.skip_direct
    def test_flush_keeps_the_server(self):
        # Parse/Describe/Flush holds the server: with both servers taken by this client and a
        # holder, the Bind/Execute/Sync must still run where the Parse ran.
        c = self.client()
        c.send(c.parse("", "SELECT pg_backend_pid()"), c.describe("S", ""), c.flush())
        self.assertEqual(c.read_n(3), [("1",), ("t", []), ("T", [("pg_backend_pid", INT4)])])
        other = self.px.connect(autocommit=False)
        self.addCleanup(other.close)
        cur = other.cursor()
        cur.execute("SELECT pg_backend_pid()")
        other_pid = cur.fetchone()[0]
        r = c.run(c.bind(""), c.execute(), c.sync())
        self.assertEqual(len(r), 4, r)
        self.assertNotEqual(pid_of(r), other_pid)
        other.rollback()

    def test_listen_through_extended_protocol_refused(self):
        c = self.client()
        r = c.run(c.parse("", "LISTEN ext_chan"), c.bind(""), c.execute(), c.sync())
        if DIRECT:
            self.assertEqual(r, [("1",), ("2",), ("C", "LISTEN"), ("Z", "I")])
            return
        self.assertEqual(len(r), 2, r)
        self.assertEqual(r[0][:2], ("E", "0A000"))
        self.assertIn("session", r[0][2])
        self.assertEqual(r[1], ("Z", "I"))


class SharedServerTest(harness.PgsiftTestCase):
    """One server for everybody: names of different clients meet on it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.px = cls.start_pgsift(settings={"pool_mode": "transaction",
                                            "default_pool_size": 1})

    def client(self):
        c = RawClient(self.px)
        self.addCleanup(c.close)
        return c

    def test_same_name_on_one_server(self):
        clients = [self.client() for _ in range(3)]
        for i, c in enumerate(clients):
            self.assertEqual(c.run(c.parse("shared", "SELECT %d AS n" % i), c.sync()),
                             [("1",), ("Z", "I")])
        for _ in range(2):
            for i, c in enumerate(clients):
                r = c.run(c.bind("shared"), c.execute(), c.sync())
                self.assertEqual(r, [("2",), ("D", [str(i)]), ("C", "SELECT 1"), ("Z", "I")])

    def test_same_text_shared_then_one_client_closes(self):
        a, b = self.client(), self.client()
        for c in (a, b):
            self.assertEqual(c.run(c.parse("st", "SELECT 'same'::text"), c.sync()),
                             [("1",), ("Z", "I")])
        self.assertEqual(a.run(a.close_stmt("st"), a.sync()), [("3",), ("Z", "I")])
        r = b.run(b.bind("st"), b.execute(), b.sync())
        self.assertEqual(r, [("2",), ("D", ["same"]), ("C", "SELECT 1"), ("Z", "I")])
        r = a.run(a.bind("st"), a.execute(), a.sync())
        self.assertEqual(r, [("E", "26000", 'prepared statement "st" does not exist'),
                             ("Z", "I")])

    def test_pdo_sql_deallocate_of_protocol_statement(self):
        c = self.client()
        self.assertEqual(c.run(c.parse("pdo_stmt_1", "SELECT 5"), c.sync()), [("1",), ("Z", "I")])
        self.assertEqual(c.run(c.query("DEALLOCATE pdo_stmt_1")),
                         [("C", "DEALLOCATE"), ("Z", "I")])
        r = c.run(c.bind("pdo_stmt_1"), c.execute(), c.sync())
        self.assertEqual(r, [("E", "26000", 'prepared statement "pdo_stmt_1" does not exist'),
                             ("Z", "I")])
        self.assertEqual(c.run(c.parse("pdo_stmt_1", "SELECT 6"), c.bind("pdo_stmt_1"),
                               c.execute(), c.sync()),
                         [("1",), ("2",), ("D", ["6"]), ("C", "SELECT 1"), ("Z", "I")])


    def test_extended_listen_leaves_no_listener_for_others(self):
        a = self.client()
        a.run(a.parse("", "LISTEN leak_chan"), a.bind(""), a.execute(), a.sync())
        if DIRECT:
            return
        b = self.px.connect()
        self.addCleanup(b.close)
        cur = b.cursor()
        cur.execute("SELECT pg_listening_channels()")
        self.assertEqual(cur.fetchall(), [])


class LruEvictionTest(harness.PgsiftTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.px = cls.start_pgsift(settings={"pool_mode": "transaction", "default_pool_size": 1,
                                            "max_prepared_statements": 3})

    def test_ten_statements_round_robin_with_room_for_three(self):
        c = RawClient(self.px)
        self.addCleanup(c.close)
        for i in range(10):
            self.assertEqual(c.run(c.parse("lru%d" % i, "SELECT %d + $1::int AS v" % (i * 100)),
                                   c.sync()), [("1",), ("Z", "I")])
        for rnd in range(3):
            for i in range(10):
                r = c.run(c.bind("lru%d" % i, [rnd]), c.execute(), c.sync())
                self.assertEqual(r, [("2",), ("D", [str(i * 100 + rnd)]), ("C", "SELECT 1"),
                                     ("Z", "I")], "statement %d round %d" % (i, rnd))
        # several in one group, more than fit
        frames = []
        for i in (9, 0, 5, 3, 7):
            frames += [c.bind("lru%d" % i, [1]), c.execute()]
        r = c.run(*frames, c.sync())
        want = []
        for i in (9, 0, 5, 3, 7):
            want += [("2",), ("D", [str(i * 100 + 1)]), ("C", "SELECT 1")]
        self.assertEqual(r, want + [("Z", "I")])
        if not DIRECT:
            r = c.run(c.query("SELECT count(*) FROM pg_prepared_statements"))
            self.assertEqual(r[1], ("D", ["3"]))


# ---------------------------------------------------------------------------------------------
# (b) psycopg2


class SessionStateTest(harness.PgsiftTestCase):
    POOL = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.px = cls.start_pgsift(settings={"pool_mode": "transaction",
                                            "default_pool_size": cls.POOL})
        d = cls.pg.connect()
        d.cursor().execute("CREATE SCHEMA IF NOT EXISTS txsch; "
                           "CREATE TABLE IF NOT EXISTS txsch.only_here (v text); "
                           "INSERT INTO txsch.only_here VALUES ('found'); "
                           "CREATE TABLE IF NOT EXISTS copy_t (id int, t text)")
        d.close()

    def connect(self, **kw):
        c = self.px.connect(**kw)
        self.addCleanup(c.close)
        return c

    def hold(self, pid):
        h = Holder(self.px, pid, self.POOL)
        self.addCleanup(h.release)
        return h

    @staticmethod
    def one(conn, sql, args=None):
        cur = conn.cursor()
        cur.execute(sql, args)
        return cur.fetchone()[0]

    def pid(self, conn):
        return self.one(conn, "SELECT pg_backend_pid()")

    def assert_work_mem_after(self, c, end, want):
        """
        Ends c's transaction with end (c.commit or c.rollback), keeps the server it ran on busy
        so that c's next statement runs on another one, and checks work_mem there.
        """
        pid1 = self.pid(c)
        end()
        self.hold(pid1)
        self.assertEqual(self.one(c, "SHOW work_mem"), want)
        assert_moved(self, pid1, self.pid(c))

    def test_sql_prepare_execute_on_another_server(self):
        c = self.connect()
        cur = c.cursor()
        cur.execute("PREPARE p_move(int) AS SELECT $1 * 10")
        # the server that ran the PREPARE may be either; the EXECUTEs below run on both
        pid1 = self.pid(c)
        h = self.hold(pid1)
        self.assertEqual(self.one(c, "EXECUTE p_move(4)"), 40)
        assert_moved(self, pid1, self.pid(c))
        h.release()
        h = self.hold(self.pid(c))
        self.assertEqual(self.one(c, "EXECUTE p_move(5)"), 50)

    def test_sql_prepare_in_multi_statement_query_moves(self):
        c = self.connect()
        cur = c.cursor()
        # one simple query, one implicit transaction, one server: the pid is where it was prepared
        cur.execute("PREPARE p_typed(int) AS SELECT $1; SELECT pg_backend_pid()")
        pid1 = cur.fetchone()[0]
        self.hold(pid1)
        cur.execute("EXECUTE p_typed(5)")
        self.assertEqual(cur.fetchone()[0], 5)
        assert_moved(self, pid1, self.pid(c))

    def test_sql_prepare_with_types_moves(self):
        c = self.connect()
        cur = c.cursor()
        cur.execute("PREPARE p_typed1(int, text) AS SELECT $1, $2")
        self.assertEqual(self.one(c, "EXECUTE p_typed1(7, 'x')"), 7)
        cur.execute("SELECT pg_backend_pid()")
        pid1 = cur.fetchone()[0]
        self.hold(pid1)
        cur.execute("EXECUTE p_typed1(8, 'y')")
        self.assertEqual(cur.fetchone(), (8, "y"))
        assert_moved(self, pid1, self.pid(c))

    def test_deallocate_then_execute_fails_26000(self):
        c = self.connect()
        cur = c.cursor()
        cur.execute("PREPARE p_gone AS SELECT 1")
        pid1 = self.pid(c)
        cur.execute("DEALLOCATE p_gone")
        self.hold(pid1)
        with self.assertRaises(psycopg2.errors.InvalidSqlStatementName) as cm:
            cur.execute("EXECUTE p_gone")
        self.assertEqual(cm.exception.pgcode, "26000")
        self.assertEqual(cm.exception.diag.message_primary,
                         'prepared statement "p_gone" does not exist')
        self.assertEqual(self.one(c, "SELECT 1"), 1)

    def test_deallocate_all(self):
        c = self.connect()
        cur = c.cursor()
        cur.execute("PREPARE p_a AS SELECT 1")
        cur.execute("PREPARE p_b AS SELECT 2")
        pid1 = self.pid(c)
        cur.execute("DEALLOCATE ALL")
        self.hold(pid1)
        for name in ("p_a", "p_b"):
            with self.assertRaises(psycopg2.errors.InvalidSqlStatementName):
                cur.execute("EXECUTE " + name)
        cur.execute("PREPARE p_a AS SELECT 'again'::text")
        self.assertEqual(self.one(c, "EXECUTE p_a"), "again")

    def test_two_clients_prepare_same_name(self):
        a, b = self.connect(), self.connect()
        a.cursor().execute("PREPARE p_same AS SELECT 'a'::text")
        b.cursor().execute("PREPARE p_same AS SELECT 'b'::text")
        for _ in range(4):
            self.assertEqual(self.one(a, "EXECUTE p_same"), "a")
            self.assertEqual(self.one(b, "EXECUTE p_same"), "b")
        # a prepares it again: its own name, PostgreSQL's own error
        with self.assertRaises(psycopg2.errors.DuplicatePreparedStatement) as cm:
            a.cursor().execute("PREPARE p_same AS SELECT 'a2'::text")
        self.assertEqual(cm.exception.pgcode, "42P05")
        self.assertEqual(self.one(a, "EXECUTE p_same"), "a")

    def test_discard_all_clears(self):
        c = self.connect()
        cur = c.cursor()
        cur.execute("PREPARE p_disc AS SELECT 1")
        cur.execute("SET work_mem = '7MB'")
        self.assertEqual(self.one(c, "SHOW work_mem"), "7MB")
        cur.execute("DISCARD ALL")
        self.assertEqual(self.one(c, "SHOW work_mem"), "4MB")
        with self.assertRaises(psycopg2.errors.InvalidSqlStatementName):
            cur.execute("EXECUTE p_disc")
        pid = self.pid(c)
        self.hold(pid)
        self.assertEqual(self.one(c, "SHOW work_mem"), "4MB")
        with self.assertRaises(psycopg2.errors.InvalidSqlStatementName):
            cur.execute("EXECUTE p_disc")

    def test_set_statement_timeout_persists_and_reset_restores(self):
        c = self.connect()
        cur = c.cursor()
        cur.execute("SET statement_timeout = '100ms'")
        pid1 = self.pid(c)
        h = self.hold(pid1)
        with self.assertRaises(psycopg2.errors.QueryCanceled) as cm:
            cur.execute("SELECT pg_sleep(0.5)")
        self.assertEqual(cm.exception.pgcode, "57014")
        self.assertEqual(cm.exception.diag.message_primary,
                         "canceling statement due to statement timeout")
        pid2 = self.pid(c)
        assert_moved(self, pid1, pid2)
        cur.execute("RESET statement_timeout")
        self.assertEqual(self.one(c, "SHOW statement_timeout"), "0")
        h.release()
        # back on the first server, which still has the SET from this client's first transaction
        self.hold(pid2)
        cur.execute("SELECT pg_sleep(0.3)")
        self.assertEqual(self.one(c, "SHOW statement_timeout"), "0")
        assert_moved(self, pid2, self.pid(c))

    def test_set_in_rolled_back_transaction_does_not_persist(self):
        c = self.connect(autocommit=False)
        cur = c.cursor()
        cur.execute("SET work_mem = '9MB'")
        self.assert_work_mem_after(c, c.rollback, "4MB")
        c.rollback()

    def test_set_in_committed_transaction_persists(self):
        c = self.connect(autocommit=False)
        cur = c.cursor()
        cur.execute("SET work_mem = '9MB'")
        self.assert_work_mem_after(c, c.commit, "9MB")
        c.commit()

    def test_set_before_rollback_to_savepoint_persists_at_commit(self):
        c = self.connect(autocommit=False)
        cur = c.cursor()
        cur.execute("SET work_mem = '13MB'")
        cur.execute("SAVEPOINT sp")
        cur.execute("SELECT 1")
        cur.execute("ROLLBACK TO SAVEPOINT sp")
        self.assert_work_mem_after(c, c.commit, "13MB")
        c.commit()

    def test_set_after_rollback_to_savepoint_discarded_by_rollback(self):
        c = self.connect(autocommit=False)
        cur = c.cursor()
        cur.execute("SAVEPOINT sp")
        cur.execute("ROLLBACK TO SAVEPOINT sp")
        cur.execute("SET work_mem = '14MB'")
        self.assert_work_mem_after(c, c.rollback, "4MB")
        c.commit()

    def test_set_local_does_not_persist(self):
        c = self.connect(autocommit=False)
        cur = c.cursor()
        cur.execute("SET LOCAL work_mem = '11MB'")
        self.assertEqual(self.one(c, "SHOW work_mem"), "11MB")
        self.assert_work_mem_after(c, c.commit, "4MB")
        c.commit()

    def test_set_local_outside_transaction_does_not_persist(self):
        c = self.connect()
        cur = c.cursor()
        cur.execute("SET LOCAL work_mem = '12MB'")  # a WARNING and no effect in PostgreSQL
        pid1 = self.pid(c)
        self.assertEqual(self.one(c, "SHOW work_mem"), "4MB")
        self.hold(pid1)
        self.assertEqual(self.one(c, "SHOW work_mem"), "4MB")
        assert_moved(self, pid1, self.pid(c))

    def test_startup_search_path_on_every_server(self):
        c = self.connect(options="-c search_path=txsch,public")
        pid1 = self.pid(c)
        self.assertEqual(self.one(c, "SHOW search_path"), "txsch,public")
        self.assertEqual(self.one(c, "SELECT v FROM only_here"), "found")
        self.hold(pid1)
        self.assertEqual(self.one(c, "SHOW search_path"), "txsch,public")
        self.assertEqual(self.one(c, "SELECT v FROM only_here"), "found")
        assert_moved(self, pid1, self.pid(c))
        # a plain client on the server that just ran it sees the default
        plain = self.connect()
        self.assertEqual(self.one(plain, "SHOW search_path"), '"$user", public')

    def test_application_name_on_every_server(self):
        c = self.connect(application_name="txapp_one")
        q = "SELECT application_name, pg_backend_pid() FROM pg_stat_activity " \
            "WHERE pid = pg_backend_pid()"
        cur = c.cursor()
        cur.execute(q)
        name, pid1 = cur.fetchone()
        self.assertEqual(name, "txapp_one")
        self.hold(pid1)
        cur.execute(q)
        name, pid2 = cur.fetchone()
        self.assertEqual(name, "txapp_one")
        assert_moved(self, pid1, pid2)
        other = self.connect(application_name="txapp_two")
        cur2 = other.cursor()
        cur2.execute(q)
        name2, pid3 = cur2.fetchone()
        self.assertEqual(name2, "txapp_two")
        if not DIRECT:
            self.assertEqual(pid3, pid2)
        self.assertEqual(c.get_parameter_status("application_name"), "txapp_one")

    def test_listen_refused_and_connection_still_works(self):
        c = self.connect()
        cur = c.cursor()
        if DIRECT:
            cur.execute("LISTEN some_chan")
            return
        with self.assertRaises(psycopg2.errors.FeatureNotSupported) as cm:
            cur.execute("LISTEN some_chan")
        self.assertEqual(cm.exception.pgcode, "0A000")
        self.assertIn("session", cm.exception.diag.message_primary)
        self.assertEqual(self.one(c, "SELECT 41 + 1"), 42)

    def test_listen_inside_transaction_refused(self):
        c = self.connect(autocommit=False)
        cur = c.cursor()
        cur.execute("SELECT 1")
        if DIRECT:
            cur.execute("LISTEN some_chan")
            c.rollback()
            return
        with self.assertRaises(psycopg2.errors.FeatureNotSupported) as cm:
            cur.execute("LISTEN some_chan")
        self.assertIn("session", cm.exception.diag.message_primary)
        c.rollback()
        self.assertEqual(self.one(c, "SELECT 2"), 2)
        c.rollback()

    def test_copy_in_and_out(self):
        c = self.connect()
        cur = c.cursor()
        cur.execute("DELETE FROM copy_t")
        cur.copy_expert("COPY copy_t FROM STDIN", io.StringIO("1\tone\n2\ttwo\n3\tthree\n"))
        self.assertEqual(cur.rowcount, 3)
        out = io.StringIO()
        cur.copy_expert("COPY (SELECT * FROM copy_t ORDER BY id) TO STDOUT", out)
        self.assertEqual(out.getvalue(), "1\tone\n2\ttwo\n3\tthree\n")
        # inside a transaction, with the other server held
        c2 = self.connect(autocommit=False)
        cur2 = c2.cursor()
        cur2.execute("SELECT pg_backend_pid()")
        cur2.copy_expert("COPY copy_t FROM STDIN", io.StringIO("4\tfour\n"))
        out = io.StringIO()
        cur2.copy_expert("COPY (SELECT count(*) FROM copy_t) TO STDOUT", out)
        self.assertEqual(out.getvalue(), "4\n")
        c2.rollback()
        out = io.StringIO()
        cur.copy_expert("COPY (SELECT count(*) FROM copy_t) TO STDOUT", out)
        self.assertEqual(out.getvalue(), "3\n")
        self.assertEqual(self.one(c, "SELECT string_agg(t, ',' ORDER BY id) FROM copy_t"),
                         "one,two,three")

    def test_copy_error_then_connection_works(self):
        c = self.connect()
        cur = c.cursor()
        with self.assertRaises(psycopg2.errors.InvalidTextRepresentation):
            cur.copy_expert("COPY copy_t FROM STDIN", io.StringIO("notanint\tx\n"))
        self.assertEqual(self.one(c, "SELECT 3"), 3)


# ---------------------------------------------------------------------------------------------
# (c) pool_mode = statement


@harness.skip_direct
class StatementModeTest(harness.PgsiftTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.px = cls.start_pgsift(settings={"pool_mode": "statement", "default_pool_size": 1})

    def test_autocommit_statements_work(self):
        c = self.px.connect()
        self.addCleanup(c.close)
        cur = c.cursor()
        for i in range(5):
            cur.execute("SELECT %s::int + 1", (i,))
            self.assertEqual(cur.fetchone()[0], i + 1)
        cur.execute("SELECT 1; SELECT 2")  # one implicit transaction
        self.assertEqual(cur.fetchone()[0], 2)
        other = self.px.connect()
        self.addCleanup(other.close)
        oc = other.cursor()
        oc.execute("SELECT 'other'::text")
        self.assertEqual(oc.fetchone()[0], "other")

    def test_transaction_block_refused_clearly(self):
        c = self.px.connect(autocommit=False)
        self.addCleanup(c.close)
        cur = c.cursor()
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute("SELECT 1")
            cur.execute("SELECT 2")
            c.commit()
        # psycopg2 shows an unsolicited FATAL only as "server closed the connection
        # unexpectedly" (also with PostgreSQL itself); psql prints pgsift's message
        self.assertIsInstance(cm.exception, psycopg2.OperationalError)
        rc, out, err = harness.run_psql(self.px, "BEGIN;\nSELECT 1;\nCOMMIT;\n")
        self.assertNotEqual(rc, 0)
        self.assertIn("statement pooling", err)
        # the server goes back clean: the next client works and no transaction is left open
        d = self.pg.connect()
        self.addCleanup(d.close)
        dc = d.cursor()

        def no_open_tx():
            dc.execute("SELECT count(*) FROM pg_stat_activity WHERE state LIKE "
                       "'idle in transaction%' AND pid <> pg_backend_pid()")
            return dc.fetchone()[0] == 0
        harness.wait_until(no_open_tx, 10, "no server left idle in transaction")
        n = self.px.connect()
        self.addCleanup(n.close)
        ncur = n.cursor()
        ncur.execute("SELECT 'next'::text, now() = statement_timestamp()")
        self.assertEqual(ncur.fetchone(), ("next", True))

    def test_raw_begin_refused(self):
        c = RawClient(self.px)
        self.addCleanup(c.close)
        c.send(c.query("BEGIN"))
        kind, fields = harness.error_or_close(c.sock)
        self.assertEqual(kind, "error")
        self.assertIn("statement pooling", fields["M"])
        self.assertEqual(fields["S"], "FATAL")


if __name__ == "__main__":
    unittest.main(verbosity=2)
