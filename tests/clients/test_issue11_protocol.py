"""
test_issue11_protocol: the issue-11 §3 cases below the drivers, compared byte for byte between
PostgreSQL directly and pgsift, in transaction pooling (pool of 2) and in session pooling:

- Terminate before the startup packet ('X' 0 0 0 4 as the first bytes): PostgreSQL (and
  PgBouncer) close the connection silently, without a byte; node-postgres's quick-disconnect
  (connect() and end() at once) writes exactly that, and crashes when an error comes back.
- The ParameterStatus messages of the start-up, for a startup packet that spells its parameters
  as a client may (client_encoding 'utf8', DateStyle 'iso, mdy', TimeZone 'utc', ...): every
  name and value exactly as PostgreSQL reports them (client_encoding 'UTF8', DateStyle
  'ISO, MDY', TimeZone 'UTC'), and those a later SET reports.

    PGSIFT_BIN=build/pgsift /usr/bin/python3 tests/clients/test_issue11_protocol.py [-v]
(the node-postgres test needs tests/clients/setup-node.sh first)
"""

import os
import socket
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clientlib  # noqa: E402
import harness  # noqa: E402
import issue11lib  # noqa: E402
from clientlib import DIRECT  # noqa: E402
from issue11lib import Trace, compare  # noqa: E402

TIMEOUT = 5.0


def read_until_close(sock, timeout=TIMEOUT):
    """All bytes the peer sends until it closes: ("closed", bytes) or ("open after 5 s", bytes)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return ("closed", data)
            data += chunk
    except socket.timeout:
        return ("still open after %.0f s" % timeout, data)
    except ConnectionResetError:
        return ("reset", data)


def startup_statuses(target, params):
    """Logs in with params; returns ({name: value} of the ParameterStatus messages, sock) or
    (("error", fields), None)."""
    sock = harness.raw_socket(target, TIMEOUT)
    sock.sendall(harness.startup_packet(params))
    statuses = {}
    while True:
        m = harness.read_message(sock)
        if m is None:
            sock.close()
            return ("closed during start-up",), None
        mtype, payload = m
        if mtype == b"E":
            sock.close()
            f = harness.parse_error(payload)
            return ("error", f.get("C"), f.get("M")), None
        if mtype == b"S":
            name, value = payload.split(b"\0")[:2]
            statuses[name.decode()] = value.decode()
        if mtype == b"Z":
            return statuses, sock


def simple_query(sock, sql):
    """Runs sql; returns (ParameterStatus dict, rows as lists of str, error or None)."""
    sock.sendall(harness.message(b"Q", sql.encode() + b"\0"))
    statuses, rows, err = {}, [], None
    while True:
        m = harness.read_message(sock)
        if m is None:
            return statuses, rows, "closed"
        mtype, payload = m
        if mtype == b"S":
            name, value = payload.split(b"\0")[:2]
            statuses[name.decode()] = value.decode()
        elif mtype == b"D":
            n = struct.unpack("!H", payload[:2])[0]
            pos, row = 2, []
            for _ in range(n):
                ln = struct.unpack("!i", payload[pos:pos + 4])[0]
                pos += 4
                if ln < 0:
                    row.append(None)
                else:
                    row.append(payload[pos:pos + ln].decode(errors="replace"))
                    pos += ln
            rows.append(row)
        elif mtype == b"E":
            f = harness.parse_error(payload)
            err = (f.get("C"), f.get("M"))
        elif mtype == b"Z":
            return statuses, rows, err


STARTUP = {"user": clientlib.SUPERUSER, "database": clientlib.TESTDB,
           "client_encoding": "utf8", "DateStyle": "iso, mdy", "TimeZone": "utc",
           "IntervalStyle": "iso_8601", "application_name": "Issue11 App",
           "extra_float_digits": "3"}


class Issue11ProtocolTest(issue11lib.Issue11Case):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # the same pgsift in session pooling (unless the matrix runs directly)
        cls.px_session = cls.px if DIRECT else cls.start_pgsift(
            settings={"pool_mode": "session", "default_pool_size": 4, "max_client_conn": 100})

    def targets_all(self):
        out = [("PostgreSQL directly", self.pg)]
        if not DIRECT:
            out += [(issue11lib.describe_target(self.px), self.px),
                    ("pgsift (session pooling)", self.px_session)]
        return out

    def compare_all(self, scenario, expected):
        traces = []
        for name, target in self.targets_all():
            trace = Trace(name)
            scenario(target, trace)
            traces.append(trace)
        failures = []
        for t in traces[1:]:
            try:
                compare(self, traces[0], t, expected)
            except AssertionError as e:
                failures.append(str(e))
        if failures:
            self.fail("\n\n".join(failures))
        return traces

    # --- Terminate before the startup packet -------------------------------------------------

    def test_terminate_before_startup_closes_silently(self):
        def scenario(target, trace):
            for what, data in (("Terminate alone", b"X\0\0\0\x04"),
                               ("Terminate then the startup packet",
                                b"X\0\0\0\x04" + harness.startup_packet(
                                    {"user": clientlib.SUPERUSER, "database": clientlib.TESTDB}))):
                s = harness.raw_socket(target, TIMEOUT)
                s.sendall(data)
                trace.add(what, read_until_close(s))
                s.close()
            # nobody else noticed
            sock = harness.raw_login(target, {"user": clientlib.SUPERUSER,
                                              "database": clientlib.TESTDB})[0]
            trace.add("a client afterwards", simple_query(sock, "SELECT 41 + 1")[1:])
            sock.close()

        self.compare_all(scenario, [
            ("Terminate alone", ("closed", b"")),
            ("Terminate then the startup packet", ("closed", b"")),
            ("a client afterwards", ([["42"]], None)),
        ])

    def test_node_postgres_quick_disconnect(self):
        clientlib.require_node_modules("pg")

        def scenario(target, trace):
            env = clientlib.target_env(target, NODE_TEST_DEADLINE="60")
            for cmd in ("quick-disconnect", "connect-query"):
                rc, out, err = clientlib.run_process(
                    [clientlib.NODE, os.path.join(clientlib.NODE_DIR, "issue11.js"), cmd],
                    timeout=80, env=env, cwd=clientlib.NODE_DIR)
                trace.add("node issue11.js " + cmd, (rc, out.strip(), err.strip()[-1500:]))

        traces = self.compare_all(scenario, None)
        self.assertEqual(traces[0].steps[1][1], (0, 'connect-query: [{"v":42}]', ""))
        rc, out, err = traces[0].steps[0][1]
        self.assertEqual((rc, err), (0, ""))
        self.assertIn('"errorEvents":[]', out)
        self.assertIn('"uncaught":[]', out)

    # --- reported parameters ----------------------------------------------------------------

    def test_startup_parameter_status_spelling(self):
        def scenario(target, trace):
            statuses, sock = startup_statuses(target, STARTUP)
            if sock is None:
                trace.add("start-up", statuses)
                return
            for name in sorted(statuses):
                if name != "server_version":
                    trace.add("ParameterStatus %s" % name, statuses[name])
            known = dict(statuses)

            def simple_query(sock, sql):
                # a ParameterStatus that repeats what the client was told changes nothing for
                # it: only the ones that tell it something new are compared
                st, rows, err = globals()["simple_query"](sock, sql)
                news = {k: v for k, v in st.items() if known.get(k) != v}
                known.update(st)
                return news, rows, err
            trace.add("SHOW", simple_query(sock, "SELECT current_setting('client_encoding'),"
                                                 " current_setting('DateStyle'),"
                                                 " current_setting('TimeZone'),"
                                                 " current_setting('IntervalStyle'),"
                                                 " current_setting('extra_float_digits')"))
            trace.add("SET client_encoding = 'utf8'",
                      simple_query(sock, "SET client_encoding = 'utf8'"))
            trace.add("SET DateStyle = 'german, dmy'",
                      simple_query(sock, "SET DateStyle = 'german, dmy'"))
            trace.add("SET TimeZone = 'europe/paris'",
                      simple_query(sock, "SET TimeZone = 'europe/paris'"))
            trace.add("SET application_name", simple_query(sock, "SET application_name = 'x y'"))
            trace.add("RESET ALL", simple_query(sock, "RESET ALL"))
            trace.add("SHOW after RESET ALL", simple_query(
                sock, "SELECT current_setting('DateStyle'), current_setting('TimeZone')"))
            sock.sendall(harness.message(b"X"))
            sock.close()

        expected_pg = {
            "ParameterStatus DateStyle": "ISO, MDY",
            "ParameterStatus IntervalStyle": "iso_8601",
            "ParameterStatus TimeZone": "UTC",
            "ParameterStatus application_name": "Issue11 App",
            "ParameterStatus client_encoding": "UTF8",
            "ParameterStatus server_encoding": "UTF8",
        }
        traces = self.compare_all(scenario, None)
        got = dict(traces[0].steps)
        for k, v in expected_pg.items():
            self.assertEqual(got[k], v, k)

    def test_client_encoding_spellings(self):
        def scenario(target, trace):
            for enc in ("utf8", "UTF-8", "unicode", "Utf8", "latin1", "LATIN1", "win1252",
                        "sql_ascii"):
                statuses, sock = startup_statuses(target, {
                    "user": clientlib.SUPERUSER, "database": clientlib.TESTDB,
                    "client_encoding": enc})
                if sock is None:
                    trace.add(enc, statuses)
                    continue
                trace.add(enc, (statuses.get("client_encoding"),
                                simple_query(sock, "SHOW client_encoding")[1]))
                sock.close()

        self.compare_all(scenario, [
            ("utf8", ("UTF8", [["UTF8"]])),
            ("UTF-8", ("UTF8", [["UTF8"]])),
            ("unicode", ("UTF8", [["UTF8"]])),
            ("Utf8", ("UTF8", [["UTF8"]])),
            ("latin1", ("LATIN1", [["LATIN1"]])),
            ("LATIN1", ("LATIN1", [["LATIN1"]])),
            ("win1252", ("WIN1252", [["WIN1252"]])),
            ("sql_ascii", ("SQL_ASCII", [["SQL_ASCII"]])),
        ])


if __name__ == "__main__":
    unittest.main()
