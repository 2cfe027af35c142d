"""
test_reuseport: several pgsift processes on one port (so_reuseport), as PgBouncer runs them.

- Peering ([peers], peer_id): a CancelRequest lands on whichever process the kernel picks for
  the new connection; the key names the process the client is on, and the request is forwarded
  there. 200 cancels of running statements from fresh connections through the shared port:
  every one stops its own statement (57014 on the right client), and statements running on
  other connections at the same time are never cancelled.
- Online restart (-R / --takeover): a new process takes the listening sockets of the running
  one (same socket, so nothing waiting in the accept queue is lost) while the old one serves
  its clients until they leave. Both processes of a group replaced under pgbench, persistent
  and connection-per-transaction: zero failed transactions.
"""

import os
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import unittest

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

N_PROCS = 3
N_CANCELS = 200
N_VICTIMS = 8


def group_dirs(n):
    dirs = [tempfile.mkdtemp(prefix="pgsift-it-peer%d-" % (i + 1)) for i in range(n)]
    for d in dirs:
        harness.register_cleanup(lambda d=d: shutil.rmtree(d, ignore_errors=True))
    return dirs


def start_group(case, port, dirs, extra=None):
    """One pgsift per dir on port, peer_id = 1.., each in every other's [peers]."""
    peers = {str(i + 1): "host=%s port=%d" % (d, port) for i, d in enumerate(dirs)}
    procs = []
    for i, d in enumerate(dirs):
        settings = {"so_reuseport": 1, "peer_id": i + 1, "unix_socket_dir": d,
                    "pool_mode": "transaction", "default_pool_size": 20,
                    "admin_users": harness.SUPERUSER, "log_level": os.environ.get("T_LOGLEVEL", "info"),
                    "pidfile": os.path.join(d, "pgsift.pid")}
        settings.update(extra or {})
        procs.append(case.start_pgsift(settings=settings, port=port, env=socket_env(d),
                                       sections={"peers": peers}))
    return procs


def socket_env(d):
    # the harness points PGSIFT_UNIX_SOCKET_DIR (which wins over the file) at its own dir
    return {"PGSIFT_UNIX_SOCKET_DIR": d}


def cancel_packet(pid, key):
    return struct.pack("!IIII", 16, 80877102, pid, key)


class PeeringCancelTest(harness.PgsiftTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.port = harness.free_port()
        cls.dirs = group_dirs(N_PROCS)
        cls.procs = start_group(cls, cls.port, cls.dirs)
        cls.target = cls.procs[0]  # host/port: the shared port

    def victim_loop(self, idx, n, results, errors):
        """n times: run a long statement, have it cancelled from a fresh connection."""
        pg = harness.pg()
        conn = self.target.connect()
        try:
            for r in range(n):
                marker = "v%d_r%d" % (idx, r)
                sql = "SELECT pg_sleep(20) /* %s */" % marker
                fired = threading.Event()

                def cancel():
                    def running():
                        return pg.query("SELECT count(*) FROM pg_stat_activity WHERE "
                                        "state = 'active' AND query = %s", (sql,))[0][0] > 0
                    harness.wait_until(running, 10, "statement %s to run" % marker)
                    conn.cancel()  # libpq: a fresh connection to the shared port
                    fired.set()
                t = threading.Thread(target=cancel, daemon=True)
                t.start()
                start = time.monotonic()
                try:
                    conn.cursor().execute(sql)
                    results.append((marker, "ok", time.monotonic() - start))
                except psycopg2.Error as e:
                    results.append((marker, e.pgcode, time.monotonic() - start))
                t.join(15)
                if not fired.is_set():
                    errors.append("%s: the cancel was never sent" % marker)
        except Exception as e:  # reported by the test
            errors.append("victim %d: %r" % (idx, e))
        finally:
            conn.close()

    def bystander_loop(self, stop, counts, errors):
        """Short statements on connections of their own: none may ever be cancelled."""
        conns = [self.target.connect() for _ in range(3)]
        try:
            while not stop.is_set():
                for c in conns:
                    try:
                        c.cursor().execute("SELECT pg_sleep(0.02)")
                        counts["ok"] += 1
                    except psycopg2.Error as e:
                        errors.append("bystander got %s: %s" % (e.pgcode, e))
                        return
        finally:
            for c in conns:
                c.close()

    def test_cancels_reach_the_process_of_their_client(self):
        per = N_CANCELS // N_VICTIMS
        results, errors, counts = [], [], {"ok": 0}
        stop = threading.Event()
        by = threading.Thread(target=self.bystander_loop, args=(stop, counts, errors),
                              daemon=True)
        by.start()
        threads = [threading.Thread(target=self.victim_loop, args=(i, per, results, errors),
                                    daemon=True) for i in range(N_VICTIMS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
        stop.set()
        by.join(30)
        self.assertEqual(errors, [])
        self.assertEqual(len(results), N_CANCELS)
        wrong = [r for r in results if r[1] != "57014"]
        self.assertEqual(wrong, [], "statements not cancelled (or cancelled wrongly)")
        slow = [r for r in results if r[2] > 10]
        self.assertEqual(slow, [])
        self.assertGreater(counts["ok"], 0)
        # the kernel spread the cancels' connections: most were forwarded to a peer
        forwarded = sum(sum("forwarded to peer" in l for l in p.lines) for p in self.procs)
        self.assertGreater(forwarded, N_CANCELS // 3)
        self.assertLess(forwarded, N_CANCELS)

    def test_cancel_keys_name_the_peer(self):
        conns = [self.target.connect() for _ in range(12)]
        try:
            peers = set()
            for c in conns:
                pid = c.get_backend_pid() & 0xffffffff
                self.assertEqual(pid >> 30, 3, "hop limit of a fresh key")
                peers.add((pid >> 16) & 0x3fff)
            self.assertTrue(peers <= {1, 2, 3}, peers)
        finally:
            for c in conns:
                c.close()

    def test_bad_keys_cancel_nothing(self):
        conn = self.target.connect()
        pid = conn.get_backend_pid() & 0xffffffff
        res = {}

        def run():
            try:
                conn.cursor().execute("SELECT pg_sleep(1.5)")
                res["r"] = "ok"
            except psycopg2.Error as e:
                res["r"] = e.pgcode
        t = threading.Thread(target=run, daemon=True)
        t.start()
        time.sleep(0.3)
        bad = [
            (pid, 12345),                               # right peer, wrong key
            ((pid & ~(0x3fff << 16)) | (77 << 16), 1),  # a peer not in [peers]
            (pid & 0x3fffffff, 5),                      # hop limit used up
        ]
        for p, k in bad:
            s = socket.create_connection(("127.0.0.1", self.port), 5)
            s.sendall(cancel_packet(p, k))
            s.settimeout(5)
            self.assertEqual(s.recv(16), b"")  # closed, nothing sent back
            s.close()
        t.join(10)
        self.assertEqual(res.get("r"), "ok")
        conn.close()

    def test_show_peers(self):
        admin = psycopg2.connect(host="127.0.0.1", port=self.port, dbname="pgbouncer",
                                 user=harness.SUPERUSER)
        admin.autocommit = True
        cur = admin.cursor()
        cur.execute("SHOW PEERS")
        got = cur.fetchall()
        admin.close()
        self.assertEqual(got, [(i + 1, d, self.port, 0) for i, d in enumerate(self.dirs)])


class RollingRestartTest(harness.PgsiftTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        harness.pgbench_init(cls.pg)

    def takeover(self, port, d, peer_id, peers):
        settings = {"so_reuseport": 1, "peer_id": peer_id, "unix_socket_dir": d,
                    "pool_mode": "transaction", "default_pool_size": 20,
                    "pidfile": os.path.join(d, "pgsift.pid")}
        return self.start_pgsift(settings=settings, port=port, sections={"peers": peers},
                                 args=["-R"], env=socket_env(d))

    def test_rolling_restart_under_pgbench(self):
        port = harness.free_port()
        dirs = group_dirs(2)
        peers = {str(i + 1): "host=%s port=%d" % (d, port) for i, d in enumerate(dirs)}
        old = start_group(self, port, dirs)
        target = old[0]
        steady = harness.start_pgbench(target, ["-S", "-c", "4", "-j", "2", "-T", "9"])
        churn = harness.start_pgbench(target, ["-S", "-C", "-c", "2", "-T", "9"])
        new = []
        for i in range(2):
            time.sleep(2.5)
            p = self.takeover(port, dirs[i], i + 1, peers)
            harness.wait_until(lambda: "took the listening sockets over" in p.output(), 10,
                               "the takeover")
            new.append(p)
        rs = harness.finish_pgbench(steady, 60)
        rc = harness.finish_pgbench(churn, 60)
        for r in (rs, rc):
            self.assertEqual(r.returncode, 0, r)
            self.assertEqual(r.failed, 0, r)
            self.assertGreater(r.processed, 0, r)
        # the old processes leave once their pgbench clients are gone, by themselves
        for p in old:
            harness.wait_until(lambda: not p.is_alive(), 30, "the old pgsift to exit")
            self.assertEqual(p.proc.returncode, 0, p.output())
            self.assertIn("a new pgsift took the listening sockets over", p.output())
        # the new ones serve on TCP and on the Unix socket the old ones did not remove
        for i, p in enumerate(new):
            self.assertTrue(os.path.exists(os.path.join(dirs[i], ".s.PGSQL.%d" % port)))
            c = psycopg2.connect(host=dirs[i], port=port, dbname=harness.TESTDB,
                                 user=harness.SUPERUSER)
            c.cursor().execute("SELECT 1")
            c.close()
        r = harness.run_pgbench(target, ["-S", "-C", "-c", "2", "-t", "50"])
        self.assertEqual((r.returncode, r.failed, r.processed), (0, 0, 100), r)

    def test_cancel_reaches_a_client_of_the_old_process(self):
        port = harness.free_port()
        d = group_dirs(1)[0]
        settings = {"unix_socket_dir": d, "pool_mode": "transaction"}
        old = self.start_pgsift(settings=settings, port=port, env=socket_env(d))
        conn = psycopg2.connect(host="127.0.0.1", port=port, dbname=harness.TESTDB,
                                user=harness.SUPERUSER)
        conn.autocommit = True
        new = self.start_pgsift(settings=settings, port=port, args=["-R"], env=socket_env(d))
        harness.wait_until(lambda: "took the listening sockets over" in new.output(), 10,
                           "takeover")
        # reaches the new process, which passes it back
        self.assertEqual(harness.cancel_while_running(conn, "SELECT pg_sleep(20)"), "57014")
        conn.close()
        harness.wait_until(lambda: not old.is_alive(), 15, "the old pgsift to exit")
        self.assertEqual(old.proc.returncode, 0)

    def test_draining_process_keeps_serving_on_its_servers(self):
        # transaction pooling after SIGTERM: the clients left keep their transactions served,
        # by the same server while nobody waits, not a new server login per transaction
        px = self.start_pgsift(settings={"pool_mode": "transaction"})
        conn = px.connect()
        cur = conn.cursor()
        cur.execute("SELECT pg_backend_pid()")
        before = cur.fetchone()[0]
        px.proc.send_signal(signal.SIGTERM)
        harness.wait_until(lambda: "SIGTERM" in px.output(), 10, "the SIGTERM line")
        pids = set()
        for _ in range(20):
            cur.execute("SELECT pg_backend_pid()")
            pids.add(cur.fetchone()[0])
        self.assertEqual(pids, {before})
        conn.close()
        harness.wait_until(lambda: not px.is_alive(), 15, "pgsift to exit")
        self.assertEqual(px.proc.returncode, 0)

    def test_takeover_without_a_running_process_starts_normally(self):
        d = group_dirs(1)[0]
        p = self.start_pgsift(settings={"unix_socket_dir": d}, args=["-R"], env=socket_env(d))
        self.assertIn("no pgsift runs at", p.output())
        c = p.connect()
        c.cursor().execute("SELECT 1")
        c.close()


if __name__ == "__main__":
    unittest.main()
