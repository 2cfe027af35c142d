"""
test_bad_input: malformed clients while a pgbench run goes through the same pgsift. Each
offender (random bytes, startup lengths under 8 and under 4, a startup packet without `user`, an
unsupported protocol version, a packet over max_packet_size, an unknown message type) gets an
ErrorResponse with a SQLSTATE or is closed, never left hanging; pgbench sees no failure.
"""

import os
import random
import socket
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import error_or_close, message, raw_socket, startup_packet  # noqa: E402

MAX_PACKET = 65536
PROTOCOL_ERRORS = ("08P01", "08004", "0A000")  # protocol violation, rejected, not supported


class BadInputTest(harness.PgsiftTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        harness.pgbench_init(cls.pg)
        cls.px = cls.start_pgsift(settings={"max_packet_size": MAX_PACKET,
                                            "default_pool_size": 10})

    # --- each offender returns ("error", fields) or ("closed", None); a hang fails the test

    def offend(self, data, shut_write=False):
        s = raw_socket(self.px)
        try:
            try:
                s.sendall(data)
                if shut_write:
                    s.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                return "closed", None
            return error_or_close(s)
        finally:
            s.close()

    def assert_error_or_closed(self, outcome, codes, what):
        kind, fields = outcome
        if kind == "error":
            self.assertIn(fields.get("C"), codes, "%s: %r" % (what, fields))
            self.assertIn(fields.get("S"), ("ERROR", "FATAL"), "%s: %r" % (what, fields))
        else:
            self.assertEqual(kind, "closed", what)

    def random_bytes(self, rng):
        # A first byte 0x7f..0xff makes the length field huge (> 2 GB or > 10000), so the
        # proxy has to refuse it at once rather than wait for the rest.
        return bytes([rng.randrange(0x7f, 0x100)]) + bytes(rng.randrange(256)
                                                           for _ in range(rng.randrange(20, 2000)))

    def offenders(self, rng):
        yield "random bytes", self.offend(self.random_bytes(rng)), PROTOCOL_ERRORS
        yield ("random bytes then EOF",
               self.offend(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 7))),
                           shut_write=True), PROTOCOL_ERRORS)
        for n in (0, 1, 2, 3):
            yield ("startup length %d" % n, self.offend(struct.pack("!I", n) + b"\0\0\0\0"),
                   PROTOCOL_ERRORS)
        for n in (4, 5, 7):
            yield ("startup length %d" % n,
                   self.offend(struct.pack("!I", n) + b"\0\3\0\0"[:n - 4] + b"\0" * 8),
                   PROTOCOL_ERRORS)
        yield ("startup length over 10000",
               self.offend(struct.pack("!II", 100000, harness.PROTOCOL_V3) + b"user\0x\0"),
               PROTOCOL_ERRORS + ("54000",))
        yield ("startup without user",
               self.offend(startup_packet({"database": harness.TESTDB})), ("08P01", "28000"))
        # PostgreSQL answers protocol 2.0 in protocol 2.0: an error without SQLSTATE
        yield ("protocol 2.0",
               self.offend(startup_packet({"user": harness.SUPERUSER}, protocol=2 << 16)),
               PROTOCOL_ERRORS + (None,))
        yield ("protocol 4.0",
               self.offend(startup_packet({"user": harness.SUPERUSER}, protocol=4 << 16)),
               PROTOCOL_ERRORS)
        yield ("startup packet not terminated",
               self.offend(struct.pack("!II", 20, harness.PROTOCOL_V3) + b"user\0abcdefgh"),
               PROTOCOL_ERRORS + ("28000",))

    def logged_in(self):
        sock, err = harness.raw_login(self.px, {"user": harness.SUPERUSER,
                                                "database": harness.TESTDB})
        self.assertIsNone(err)
        return sock

    def test_bad_startups_during_pgbench(self):
        bench = harness.start_pgbench(self.px, ["-n", "-S", "-c", "4", "-j", "2", "-T", "8"])
        rng = random.Random(20261125)
        rounds = 0
        seen = []
        try:
            while bench.poll() is None or rounds == 0:
                for what, outcome, codes in self.offenders(rng):
                    self.assert_error_or_closed(outcome, codes, what)
                    seen.append((what, outcome[0], outcome[1] and outcome[1].get("C")))
                rounds += 1
        finally:
            r = harness.finish_pgbench(bench, 60)
        sys.stderr.write("%d rounds of bad startups; first round: %r\n"
                         % (rounds, seen[:len(seen) // rounds]))
        self.assertEqual(r.returncode, 0, r)
        self.assertGreater(r.processed, 0, r)
        if r.failed is not None:
            self.assertEqual(r.failed, 0, r)
        # the proxy still serves normal clients
        conn = self.px.connect()
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM pgbench_branches")
        self.assertEqual(cur.fetchall(), [(1,)])
        conn.close()

    @harness.skip_direct
    def test_packet_over_max_packet_size_during_pgbench(self):
        bench = harness.start_pgbench(self.px, ["-n", "-S", "-c", "4", "-j", "2", "-T", "8"])
        rounds = 0
        try:
            while bench.poll() is None or rounds == 0:
                s = self.logged_in()
                try:
                    # a Query claiming 1 MB, with only its first bytes sent
                    try:
                        s.sendall(b"Q" + struct.pack("!I", 1 << 20) + b"SELECT ")
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    outcome = error_or_close(s)
                finally:
                    s.close()
                self.assert_error_or_closed(outcome, PROTOCOL_ERRORS + ("54000",),
                                            "Query of 1 MB over max_packet_size %d" % MAX_PACKET)
                rounds += 1
        finally:
            r = harness.finish_pgbench(bench, 60)
        self.assertEqual(r.returncode, 0, r)
        self.assertGreater(r.processed, 0, r)
        if r.failed is not None:
            self.assertEqual(r.failed, 0, r)

    def test_packet_just_under_max_packet_size_works(self):
        # A Query a little under max_packet_size goes through unchanged.
        s = self.logged_in()
        try:
            sql = b"SELECT length('" + b"x" * (MAX_PACKET - 200) + b"')\0"
            s.sendall(message(b"Q", sql))
            got = []
            while True:
                m = harness.read_message(s)
                self.assertIsNotNone(m, "closed after %r" % (got,))
                got.append(m[0])
                if m[0] == b"D":
                    self.assertEqual(m[1], struct.pack("!HI", 1, 5) + str(MAX_PACKET - 200)
                                     .encode())
                if m[0] == b"Z":
                    break
            self.assertEqual(got, [b"T", b"D", b"C", b"Z"])
        finally:
            s.close()

    def test_bad_messages_after_login(self):
        cases = [
            ("unknown message type", b"\x01" + struct.pack("!I", 4)),
            ("message length 3", b"Q" + struct.pack("!I", 3)),
            ("message length 0", b"Q" + struct.pack("!I", 0)),
            ("message length 0xffffffff", b"Q" + struct.pack("!I", 0xffffffff)),
        ]
        for what, data in cases:
            s = self.logged_in()
            try:
                try:
                    s.sendall(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                outcome = error_or_close(s)
            finally:
                s.close()
            self.assert_error_or_closed(outcome, PROTOCOL_ERRORS + ("54000",), what)
        conn = self.px.connect()
        cur = conn.cursor()
        cur.execute("SELECT 1")
        self.assertEqual(cur.fetchall(), [(1,)])
        conn.close()

    def test_random_messages_after_login_during_pgbench(self):
        # Framed messages of random types and contents after a good login: each connection
        # ends in an ErrorResponse or a close, never a hang; pgbench is not disturbed.
        rng = random.Random(4242)
        bench = harness.start_pgbench(self.px, ["-n", "-S", "-c", "4", "-j", "2", "-T", "8"])
        rounds = 0
        try:
            while bench.poll() is None or rounds == 0:
                s = self.logged_in()
                try:
                    data = b""
                    for _ in range(rng.randrange(1, 5)):
                        payload = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
                        mtype = bytes([rng.choice(b"ABEFGHIJKLMNOPRTUVWYZabcefghijklmnopqrstuvwyz"
                                                  b"0123456789\x00\xff")])
                        data += mtype + struct.pack("!I", len(payload) + 4) + payload
                    # ... then Sync and Terminate and EOF, so that messages the server
                    # accepts still end the connection (after an error in the extended
                    # protocol PostgreSQL skips everything, Terminate too, until Sync)
                    data += message(b"S") + message(b"X")
                    try:
                        s.sendall(data)
                        s.shutdown(socket.SHUT_WR)
                    except (BrokenPipeError, ConnectionResetError, OSError):
                        pass
                    s.settimeout(10)
                    try:
                        while harness.read_message(s) is not None:
                            pass
                    except socket.timeout:
                        self.fail("no close within 10 s after %r" % data[:200])
                finally:
                    s.close()
                rounds += 1
        finally:
            r = harness.finish_pgbench(bench, 60)
        sys.stderr.write("%d connections with random messages\n" % rounds)
        self.assertEqual(r.returncode, 0, r)
        self.assertGreater(r.processed, 0, r)
        if r.failed is not None:
            self.assertEqual(r.failed, 0, r)


if __name__ == "__main__":
    unittest.main()
