"""
test_passthrough: everything a client sends goes through pgsift (session pooling) and every answer
comes back unchanged: multi-statement simple queries, transactions, errors, COPY of 10 MB each
way, NoticeResponse, ParameterStatus, the extended protocol (pgbench -M extended), FunctionCall
(large objects), LISTEN/NOTIFY, and the Unix socket.
"""

import hashlib
import os
import select
import socket
import struct
import sys
import time
import unittest

import psycopg2
import psycopg2.errors

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import run_psql, run_psql_bytes, run_pgbench  # noqa: E402

COPY_ROWS = 100000  # rows of ~105 bytes: a little over 10 MB


class PassthroughTest(harness.PgsiftTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.px = cls.start_pgsift(use_ini=False)

    def test_multi_statement_query_returns_every_result(self):
        rc, out, err = run_psql(self.px, args=["-c", "SELECT 1; SELECT 2"])
        self.assertEqual((rc, out, err), (0, "1\n2\n", ""))

    def test_transactions_commit_and_rollback(self):
        self.pg.query("DROP TABLE IF EXISTS tx_t; CREATE TABLE tx_t (v text)")
        script = """
BEGIN;
INSERT INTO tx_t VALUES ('rolled back');
ROLLBACK;
BEGIN;
INSERT INTO tx_t VALUES ('committed');
SELECT count(*) FROM tx_t;
COMMIT;
BEGIN;
INSERT INTO tx_t VALUES ('aborted by error');
SELECT 1/0;
COMMIT;
SELECT string_agg(v, ',' ORDER BY v) FROM tx_t;
"""
        rc, out, err = run_psql(self.px, script)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "1\n" "committed\n")
        # COMMIT of a failed transaction reports ROLLBACK; psql prints it only without -q, the
        # error itself must be there.
        self.assertIn("ERROR:  22012: division by zero", err)
        self.assertEqual(self.pg.query("SELECT v FROM tx_t"), [("committed",)])

    def test_error_keeps_connection_usable(self):
        rc, out, err = run_psql(self.px, "SELECT 1/0;\nSELECT 42;\n")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "42\n")
        self.assertIn("ERROR:  22012: division by zero", err)

        conn = self.px.connect()
        cur = conn.cursor()
        with self.assertRaises(psycopg2.errors.DivisionByZero) as cm:
            cur.execute("SELECT 1/0")
        self.assertEqual(cm.exception.pgcode, "22012")
        cur.execute("SELECT 41 + 1")
        self.assertEqual(cur.fetchall(), [(42,)])
        # and inside a transaction: the transaction is aborted (25P02), ROLLBACK recovers it.
        conn.autocommit = False
        cur.execute("SELECT 1")
        with self.assertRaises(psycopg2.errors.DivisionByZero):
            cur.execute("SELECT 1/0")
        with self.assertRaises(psycopg2.errors.InFailedSqlTransaction) as cm:
            cur.execute("SELECT 2")
        self.assertEqual(cm.exception.pgcode, "25P02")
        conn.rollback()
        cur.execute("SELECT 3")
        self.assertEqual(cur.fetchall(), [(3,)])
        conn.close()

    def test_copy_in_10mb(self):
        self.pg.query("DROP TABLE IF EXISTS copy_in; CREATE TABLE copy_in (id int, payload text)")
        data = b"".join(b"%d\t%s\n" % (i, hashlib.md5(b"%d" % i).hexdigest().encode() * 3)
                        for i in range(1, COPY_ROWS + 1))
        self.assertGreater(len(data), 10 * 1000 * 1000)
        rc, out, err = run_psql_bytes(self.px, ["-c", "COPY copy_in (id, payload) FROM STDIN"],
                                      stdin_bytes=data, timeout=120)
        self.assertEqual((rc, err), (0, ""))
        rows = self.pg.query(
            "SELECT count(*), md5(string_agg(id || E'\\t' || payload || E'\\n', '' ORDER BY id)) "
            "FROM copy_in")
        self.assertEqual(rows, [(COPY_ROWS, hashlib.md5(data).hexdigest())])

    def test_copy_out_10mb(self):
        sql = ("COPY (SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, %d) g ORDER BY g)"
               " TO STDOUT" % COPY_ROWS)
        rc, out, err = run_psql_bytes(self.px, ["-c", sql], timeout=120)
        self.assertEqual((rc, err), (0, ""))
        rc, direct, err = run_psql_bytes(self.pg, ["-c", sql], timeout=120)
        self.assertEqual((rc, err), (0, ""))
        self.assertGreater(len(direct), 10 * 1000 * 1000)
        self.assertEqual(len(out), len(direct))
        self.assertEqual(hashlib.md5(out).hexdigest(), hashlib.md5(direct).hexdigest())
        expected = b"".join(b"%d\t%s\n" % (i, hashlib.md5(b"%d" % i).hexdigest().encode() * 3)
                            for i in range(1, COPY_ROWS + 1))
        self.assertEqual(hashlib.md5(out).hexdigest(), hashlib.md5(expected).hexdigest())

    def test_copy_in_error_keeps_connection_usable(self):
        self.pg.query("DROP TABLE IF EXISTS copy_bad; CREATE TABLE copy_bad (id int)")
        conn = self.px.connect()
        cur = conn.cursor()
        import io
        with self.assertRaises(psycopg2.errors.InvalidTextRepresentation) as cm:
            cur.copy_expert("COPY copy_bad FROM STDIN", io.BytesIO(b"1\n2\nnot a number\n3\n"))
        self.assertEqual(cm.exception.pgcode, "22P02")
        cur.execute("SELECT count(*) FROM copy_bad")
        self.assertEqual(cur.fetchall(), [(0,)])
        conn.close()

    def test_notice_response(self):
        conn = self.px.connect()
        cur = conn.cursor()
        cur.execute("DO $$BEGIN RAISE NOTICE 'hello %', 42; END$$")
        self.assertEqual(conn.notices, ["NOTICE:  hello 42\n"])
        conn.close()

    def test_parameter_status(self):
        conn = self.px.connect(application_name="itest_start")
        self.assertEqual(conn.get_parameter_status("application_name"), "itest_start")
        self.assertEqual(conn.get_parameter_status("server_version").split(".")[0], "15")
        self.assertEqual(conn.get_parameter_status("client_encoding"), "UTF8")
        cur = conn.cursor()
        cur.execute("SET application_name = 'pgsift_itest'")
        self.assertEqual(conn.get_parameter_status("application_name"), "pgsift_itest")
        cur.execute("SET DateStyle = 'SQL, DMY'")
        self.assertEqual(conn.get_parameter_status("DateStyle"), "SQL, DMY")
        cur.execute("SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()")
        self.assertEqual(cur.fetchall(), [("pgsift_itest",)])
        conn.close()

    def test_extended_protocol_pgbench(self):
        script = os.path.join(self.pg.tmp, "extended.sql")
        with open(script, "w") as f:
            f.write("\\set x random(1, 1000)\nSELECT :x::int + 1 AS y, 'text' || :x AS t;\n")
        for mode in ("extended", "prepared"):
            r = run_pgbench(self.px, ["-n", "-M", mode, "-f", script, "-c", "2", "-t", "100"])
            self.assertEqual(r.returncode, 0, r)
            self.assertEqual(r.processed, 200, r)
            if r.failed is not None:
                self.assertEqual(r.failed, 0, r)

    def test_extended_protocol_error_then_sync(self):
        # The extended protocol's error path, spoken raw: after an error the server skips to
        # Sync; the next Parse/Bind/Execute/Sync works on the same connection.
        sock, err = harness.raw_login(self.px, {"user": harness.SUPERUSER,
                                                "database": harness.TESTDB})
        self.assertIsNone(err)
        m = harness.message

        def extended(sql):
            sock.sendall(m(b"P", b"\0" + sql + b"\0\0\0") + m(b"B", b"\0\0" + b"\0" * 6) +
                         m(b"D", b"P\0") + m(b"E", b"\0\0\0\0\0") + m(b"S"))
            got = []
            while True:
                msg = harness.read_message(sock)
                self.assertIsNotNone(msg, "connection closed; got %r" % (got,))
                if msg[0] == b"E":
                    got.append(("E", harness.parse_error(msg[1])["C"]))
                elif msg[0] == b"D":
                    got.append(("D", msg[1]))
                else:
                    got.append(msg[0].decode())
                if msg[0] == b"Z":
                    return got
        self.assertEqual(extended(b"SELECT 1/0"), ["1", ("E", "22012"), "Z"])
        self.assertEqual(extended(b"SELECT 7"),
                         ["1", "2", "T", ("D", b"\0\x01\0\0\0\x017"), "C", "Z"])
        sock.sendall(m(b"X"))
        sock.close()

    def test_function_call_large_objects(self):
        # libpq's lo_* functions (psycopg2's lobject) use the FunctionCall ('F') message.
        data = bytes(range(256)) * 4096  # 1 MiB, every byte value
        conn = self.px.connect(autocommit=False)
        lo = conn.lobject(0, "wb")
        oid = lo.oid
        self.assertEqual(lo.write(data), len(data))
        lo.close()
        conn.commit()
        lo = conn.lobject(oid, "rb")
        self.assertEqual(lo.read(), data)
        lo.seek(1000)
        self.assertEqual(lo.read(10), data[1000:1010])
        lo.close()
        conn.commit()
        conn.close()
        self.assertEqual(self.pg.query("SELECT md5(lo_get(%s))", (oid,)),
                         [(hashlib.md5(data).hexdigest(),)])
        self.pg.query("SELECT lo_unlink(%s)", (oid,))

    def test_listen_notify(self):
        listener = self.px.connect()
        notifier = self.px.connect()
        listener.cursor().execute("LISTEN itest_chan")
        notifier.cursor().execute("NOTIFY itest_chan, 'payload 1'")
        notifier.cursor().execute("SELECT pg_notify('itest_chan', 'payload 2')")
        deadline = time.monotonic() + 10
        got = []
        while len(got) < 2 and time.monotonic() < deadline:
            select.select([listener], [], [], max(0, deadline - time.monotonic()))
            listener.poll()
            while listener.notifies:
                n = listener.notifies.pop(0)
                got.append((n.channel, n.payload))
        self.assertEqual(got, [("itest_chan", "payload 1"), ("itest_chan", "payload 2")])
        # a notification sent while the listener is busy arrives with its next answer
        notifier.cursor().execute("NOTIFY itest_chan, 'payload 3'")
        wait = harness.wait_until
        cur = listener.cursor()

        def arrived():
            cur.execute("SELECT 1")
            return listener.notifies
        wait(arrived, 10, "the third notification")
        n = listener.notifies.pop(0)
        self.assertEqual((n.channel, n.payload), ("itest_chan", "payload 3"))
        listener.close()
        notifier.close()

    def test_ssl_and_gssenc_requests_refused_then_startup(self):
        codes = [80877103]  # SSLRequest
        if not harness.DIRECT:
            codes.append(80877104)  # GSSENCRequest (PostgreSQL itself may answer G)
        for code in codes:
            s = harness.raw_socket(self.px)
            try:
                s.sendall(struct.pack("!II", 8, code))
                self.assertEqual(s.recv(1), b"N")
                s.sendall(harness.startup_packet({"user": harness.SUPERUSER,
                                                  "database": harness.TESTDB}))
                types = []
                while True:
                    m = harness.read_message(s)
                    self.assertIsNotNone(m, "closed after %r" % (types,))
                    types.append(m[0])
                    if m[0] in (b"Z", b"E"):
                        break
                self.assertEqual((types[0], types[-1]), (b"R", b"Z"), types)
                self.assertIn(b"K", types)
            finally:
                s.close()
        with self.assertRaises(psycopg2.OperationalError) as cm:
            self.px.connect(sslmode="require")
        self.assertIn("does not support SSL", str(cm.exception))

    def test_negotiate_protocol_version(self):
        # a client asking for protocol 3.5 with an unknown _pq_ option is told 3.0 and the
        # option's name, then logs in normally
        s = harness.raw_socket(self.px)
        try:
            s.sendall(harness.startup_packet(
                {"user": harness.SUPERUSER, "database": harness.TESTDB,
                 "_pq_.itest_option": "on"}, protocol=(3 << 16) | 5))
            m = harness.read_message(s)
            # PostgreSQL sends the whole newest version it speaks (3.0), as pgsift must
            self.assertEqual(m, (b"v", struct.pack("!II", 3 << 16, 1) + b"_pq_.itest_option\0"))
            types = []
            while True:
                m = harness.read_message(s)
                self.assertIsNotNone(m, "closed after %r" % (types,))
                types.append(m[0])
                if m[0] in (b"Z", b"E"):
                    break
            self.assertEqual(types[-1], b"Z", types)
            s.sendall(harness.message(b"Q", b"SELECT 'after negotiation'\0"))
            rows = []
            while True:
                m = harness.read_message(s)
                self.assertIsNotNone(m)
                if m[0] == b"D":
                    rows.append(m[1])
                if m[0] == b"Z":
                    break
            self.assertEqual(rows, [struct.pack("!HI", 1, 17) + b"after negotiation"])
        finally:
            s.close()

    def test_empty_query(self):
        s, err = harness.raw_login(self.px, {"user": harness.SUPERUSER,
                                             "database": harness.TESTDB})
        self.assertIsNone(err)
        try:
            s.sendall(harness.message(b"Q", b"\0") + harness.message(b"Q", b";\0"))
            got = []
            while got.count(b"Z") < 2:
                m = harness.read_message(s)
                self.assertIsNotNone(m, "closed after %r" % (got,))
                got.append(m[0])
            self.assertEqual(got, [b"I", b"Z", b"I", b"Z"])
        finally:
            s.close()

    def test_startup_options_and_application_name_reach_the_server(self):
        conn = self.px.connect(application_name="itest_app",
                               options="-c statement_timeout=1234 -c search_path=itest_schema")
        cur = conn.cursor()
        cur.execute("SELECT current_setting('statement_timeout'), "
                    "current_setting('search_path'), application_name "
                    "FROM pg_stat_activity WHERE pid = pg_backend_pid()")
        self.assertEqual(cur.fetchall(), [("1234ms", "itest_schema", "itest_app")])
        conn.close()

    def test_many_statements_in_one_script(self):
        script = "".join("SELECT %d;\n" % i for i in range(3000))
        rc, out, err = run_psql(self.px, script, timeout=60)
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out, "".join("%d\n" % i for i in range(3000)))

    def test_slow_reader_backpressure(self):
        # A client that stops reading a 200 MB COPY TO STDOUT: pgsift must stop reading the
        # server too (the backend ends up waiting in ClientWrite) instead of buffering the result.
        s, err = harness.raw_login(self.px, {"user": harness.SUPERUSER,
                                             "database": harness.TESTDB,
                                             "application_name": "slow_reader"})
        self.assertIsNone(err)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.sendall(harness.message(b"Q", b"COPY (SELECT repeat('x', 1000) FROM "
                                      b"generate_series(1, 200000)) TO STDOUT\0"))
            harness.wait_until(lambda: self.pg.query(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'slow_reader' "
                "AND wait_event = 'ClientWrite'")[0][0] == 1, 30,
                "the backend to wait in ClientWrite (the proxy reading no more)")
            if not harness.DIRECT:
                rss = self.px_rss_kb()
                sys.stderr.write("pgsift RSS with a stalled 200 MB COPY: %d kB\n" % rss)
                self.assertLess(rss, 100 * 1024, "pgsift RSS %d kB while a client does not "
                                "read a 200 MB result" % rss)
            total = 0
            s.settimeout(30)
            while True:
                m = harness.read_message(s)
                self.assertIsNotNone(m)
                if m[0] == b"d":
                    total += len(m[1])
                if m[0] == b"Z":
                    break
            self.assertEqual(total, 200000 * 1001)
        finally:
            s.close()

    def px_rss_kb(self):
        with open("/proc/%d/status" % self.px.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS for pgsift")

    def test_unix_socket(self):
        rc, out, err = run_psql(self.px, args=["-c", "SELECT 'via unix'"],
                                host=self.px.socket_dir)
        self.assertEqual((rc, out, err), (0, "via unix\n", ""))

    def test_large_row_and_many_rows(self):
        conn = self.px.connect()
        cur = conn.cursor()
        cur.execute("SELECT repeat('x', 5000000)")
        self.assertEqual(len(cur.fetchone()[0]), 5000000)
        cur.execute("SELECT g FROM generate_series(1, 200000) g")
        rows = cur.fetchall()
        self.assertEqual((len(rows), rows[0], rows[-1]), (200000, (1,), (200000,)))
        conn.close()


if __name__ == "__main__":
    unittest.main()
