"""
test_startup_failure: pgsift cannot listen where it is told to. Whether the TCP port or the Unix
socket path is taken, it logs a FATAL line naming the address, exits 1 (not a libuv assertion,
not 134), and leaves nothing behind: no Unix socket file of its own, no pidfile, no listener,
and the other program's socket untouched. A stale socket file (left by a killed server, nobody
listening on it) is not "taken": pgsift replaces it and starts.

No PostgreSQL is needed: pgsift never gets as far as connecting to one.
"""

import os
import signal
import socket
import stat
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

RUN_TIMEOUT = 20


@unittest.skipIf(harness.DIRECT, "pgsift's own start-up (PGSIFT_DIRECT=1)")
class StartupFailureTest(unittest.TestCase):
    def setUp(self):
        self.dir = harness.scratch_dir("pgsift-it-start-")

    def pgsift(self, port, pidfile=None):
        """The command line and environment of a pgsift on 127.0.0.1:port and a Unix socket
        in self.dir (the upstream is never contacted)."""
        cmd = [harness.PGSIFT_BIN, "--listen", "127.0.0.1:%d" % port,
               "--upstream", "host=%s port=1" % self.dir]
        env = dict(os.environ, PGSIFT_UNIX_SOCKET_DIR=self.dir)
        if pidfile:
            env["PGSIFT_PIDFILE"] = pidfile
        return cmd, env

    def run_pgsift(self, port, pidfile=None):
        cmd, env = self.pgsift(port, pidfile)
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env, timeout=RUN_TIMEOUT)
        out = p.stdout.decode(errors="replace")
        for bad in ("Assertion", "AddressSanitizer", "LeakSanitizer", "runtime error:"):
            self.assertNotIn(bad, out, "pgsift's output:\n" + out)
        return p.returncode, out

    def socket_path(self, port):
        return os.path.join(self.dir, ".s.PGSQL.%d" % port)

    def assert_port_free(self, port):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", port))  # EADDRINUSE if pgsift's listener were still there

    def test_tcp_port_taken(self):
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        pidfile = os.path.join(self.dir, "pgsift.pid")

        rc, out = self.run_pgsift(port, pidfile)

        self.assertEqual(rc, 1, "pgsift's output:\n" + out)
        fatal = [l for l in out.splitlines() if "FATAL" in l]
        self.assertEqual(len(fatal), 1, out)
        self.assertIn("could not listen on 127.0.0.1:%d: address already in use" % port,
                      fatal[0])
        self.assertFalse(os.path.lexists(self.socket_path(port)),
                         "pgsift left its Unix socket behind")
        self.assertNotIn("listening on", out)
        self.assertFalse(os.path.exists(pidfile), "pgsift left a pidfile behind")
        self.assertEqual(os.listdir(self.dir), [])

    def test_unix_socket_path_taken(self):
        port = harness.free_port()
        path = self.socket_path(port)
        holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(holder.close)
        holder.bind(path)
        holder.listen(1)
        inode = os.lstat(path).st_ino

        rc, out = self.run_pgsift(port)

        self.assertEqual(rc, 1, "pgsift's output:\n" + out)
        fatal = [l for l in out.splitlines() if "FATAL" in l]
        self.assertEqual(len(fatal), 1, out)
        self.assertIn("could not listen on unix:%s: address already in use" % path, fatal[0])
        # the other program's socket is still there, still the same file, still answering
        self.assertEqual(os.lstat(path).st_ino, inode, "pgsift replaced a live socket")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.connect(path)
        # and pgsift's own TCP listener, opened before, is gone with it
        self.assert_port_free(port)
        self.assertEqual(os.listdir(self.dir), [os.path.basename(path)])

    def test_stale_socket_file_is_replaced(self):
        port = harness.free_port()
        path = self.socket_path(port)
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(path)
        stale.close()  # the file stays; nobody listens on it
        self.assertTrue(stat.S_ISSOCK(os.lstat(path).st_mode))

        cmd, env = self.pgsift(port)
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        lines = []
        deadline = time.monotonic() + RUN_TIMEOUT
        while not any("listening on unix:%s" % path in l for l in lines):
            line = proc.stdout.readline().decode(errors="replace")
            if not line or time.monotonic() > deadline:
                proc.kill()
                self.fail("pgsift did not start over a stale socket file:\n" + "".join(lines))
            lines.append(line)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.connect(path)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=RUN_TIMEOUT)
        self.assertEqual(proc.returncode, 0, "".join(lines) + out.decode(errors="replace"))
        self.assertFalse(os.path.lexists(path), "pgsift left its Unix socket behind at exit")


if __name__ == "__main__":
    unittest.main()
