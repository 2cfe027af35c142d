"""
test_docker_config: what can be checked of docker/ without a container engine.

- docker/pgsift.ini, as the compose file mounts it, loads with pgsift's own config loader and
  serves: pgsift is started through docker/entrypoint.sh exactly as the image starts it, with
  only the addresses and paths moved to free temporary values by flags (which override the
  file), and the rest of the file must be in effect (SHOW CONFIG), clients log in with SCRAM
  as the compose file's `app` user and reach PostgreSQL, a slow statement lands in the slow
  log and /metrics answers.
- The entrypoint's environment-only mode: DATABASE_URL becomes the upstream, and with no file
  pgsift listens on 0.0.0.0 (so it refuses trust there).
- docker/compose.yaml parses as YAML and agrees with pgsift.ini and the Dockerfile on ports,
  paths, the upstream host and the password.
- Every package in the Dockerfile's apt-get lines exists in this Debian 12's archive
  (`apt-cache show`), and the runtime stage installs the package of every shared library that
  pgsift and pg_isready need (readelf NEEDED -> dpkg -S).

Run: PGSIFT_BIN=build/pgsift /usr/bin/python3 tests/integration/test_docker_config.py
"""

import configparser
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DOCKER = os.path.join(harness.SOURCE_DIR, "docker")
INI = os.path.join(DOCKER, "pgsift.ini")
USERLIST = os.path.join(DOCKER, "userlist.txt")
COMPOSE = os.path.join(DOCKER, "compose.yaml")
DOCKERFILE = os.path.join(DOCKER, "Dockerfile")
ENTRYPOINT = os.path.join(DOCKER, "entrypoint.sh")
APP_USER, APP_PASSWORD = "app", "app"


def read_ini():
    """docker/pgsift.ini as {section: {key: value}} (PgBouncer's format: ';' comments)."""
    cp = configparser.ConfigParser(delimiters=("=",), comment_prefixes=(";", "#"),
                                   inline_comment_prefixes=(";",), interpolation=None)
    cp.optionxform = str
    with open(INI) as f:
        cp.read_file(f)
    return {s: dict(cp[s]) for s in cp.sections()}


def dockerfile_stages():
    """The Dockerfile's stages as lists of logical lines (continuations joined)."""
    with open(DOCKERFILE) as f:
        text = f.read()
    lines, cur = [], ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#") and not cur:
            continue
        if raw.endswith("\\"):
            cur += raw[:-1] + " "
            continue
        cur += raw
        if cur.strip():
            lines.append(cur.strip())
        cur = ""
    stages = []
    for line in lines:
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def apt_packages(stage):
    """Package names of the `apt-get install` commands in one stage's RUN lines."""
    pkgs = []
    for line in stage:
        if not line.upper().startswith("RUN "):
            continue
        for cmd in re.split(r"&&|;", line[4:]):
            words = cmd.split()
            if words[:2] == ["apt-get", "install"]:
                pkgs += [w for w in words[2:] if not w.startswith("-")]
    return pkgs


class Proc:
    """pgsift started through docker/entrypoint.sh; ready when it says it listens."""

    def __init__(self, args, env, needle):
        self.lines = []
        self.bindir = tempfile.mkdtemp(prefix="pgsift-it-docker-bin-")
        os.symlink(os.path.abspath(harness.PGSIFT_BIN), os.path.join(self.bindir, "pgsift"))
        penv = dict(os.environ)
        for k in list(penv):
            if k.startswith("PGSIFT_") and k not in ("PGSIFT_BIN", "PGSIFT_SOURCE_DIR"):
                del penv[k]
        penv.pop("DATABASE_URL", None)
        penv.update(env)
        penv["PATH"] = self.bindir + ":" + penv.get("PATH", "/usr/bin:/bin")
        self.proc = subprocess.Popen(["/bin/sh", ENTRYPOINT] + args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=penv, close_fds=True)
        harness.register_cleanup(self.stop)
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._read, args=(needle,), daemon=True)
        self.reader.start()

    def _read(self, needle):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            if needle and needle in line:
                self.ready.set()

    def wait_ready(self, timeout=harness.READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.05):
            if self.proc.poll() is not None:
                self.reader.join(5)
                raise AssertionError("pgsift exited with %d before it was ready:\n%s" %
                                     (self.proc.returncode, self.output()))
            if time.monotonic() > deadline:
                raise AssertionError("pgsift not ready within %.0f s:\n%s" %
                                     (timeout, self.output()))

    def wait_exit(self, timeout=harness.READY_TIMEOUT):
        rc = self.proc.wait(timeout)
        self.reader.join(5)
        return rc

    def output(self):
        return "\n".join(self.lines)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(harness.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        self.reader.join(5)
        self.proc.stdout.close()
        shutil.rmtree(self.bindir, ignore_errors=True)


def free_port_pair(avoid):
    """A port p such that p and p + 1 are free (the group's metrics ports), neither avoid."""
    import socket
    for _ in range(200):
        p = harness.free_port()
        if avoid in (p, p + 1):
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no two consecutive free ports")


class DockerIniTest(unittest.TestCase):
    """docker/pgsift.ini through the image's entrypoint, against a real PostgreSQL."""

    @classmethod
    def setUpClass(cls):
        cls.pg = harness.pg()
        conn = cls.pg.connect(dbname="postgres")
        cur = conn.cursor()
        cur.execute("SET password_encryption = 'scram-sha-256'")
        cur.execute("CREATE ROLE %s LOGIN PASSWORD %%s" % APP_USER, (APP_PASSWORD,))
        cur.execute("CREATE DATABASE app OWNER %s" % APP_USER)
        conn.close()
        cls.tmp = tempfile.mkdtemp(prefix="pgsift-it-docker-")
        harness.register_cleanup(lambda: shutil.rmtree(cls.tmp, ignore_errors=True))
        cls.port = harness.free_port()
        cls.metrics_port = harness.free_port()
        cls.slow_log = os.path.join(cls.tmp, "slow.json")
        # What the compose file mounts at /etc/pgsift, /var/lib/pgsift: here moved by flags.
        args = ["--listen", "127.0.0.1:%d" % cls.port,
                "--auth-file", USERLIST,
                "--slow-log", cls.slow_log,
                "--stats-file", os.path.join(cls.tmp, "stats.bin"),
                "--metrics-listen", "127.0.0.1:%d" % cls.metrics_port,
                "--upstream", "host=%s port=%d" % (cls.pg.host, cls.pg.port)]
        cls.px = Proc(args, {"PGSIFT_CONFIG": INI, "PGSIFT_UNIX_SOCKET_DIR": cls.tmp},
                      "listening on 127.0.0.1:%d" % cls.port)
        cls.px.wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.px.stop()

    def connect(self, dbname="app"):
        return harness._connect("127.0.0.1", self.port, dbname, APP_USER, True,
                                password=APP_PASSWORD)

    def test_docker_ini_settings_in_effect(self):
        conn = self.connect(dbname="pgsift")
        cur = conn.cursor()
        cur.execute("SHOW CONFIG")
        cfg = {r[0]: r[1] for r in cur.fetchall()}
        conn.close()
        want = {"auth_type": "scram-sha-256", "pool_mode": "transaction",
                "default_pool_size": "20", "max_client_conn": "1000", "admin_users": "app"}
        for k, v in want.items():
            self.assertEqual(cfg.get(k), v, "SHOW CONFIG %s" % k)
        self.assertEqual(cfg.get("slow_query_ms"), "250")
        self.assertEqual(cfg.get("query_timeout"), "30")
        self.assertEqual(cfg.get("slow_query_log"), self.slow_log)

    def test_docker_ini_serves_app_with_scram(self):
        conn = self.connect()
        cur = conn.cursor()
        cur.execute("SELECT current_user, current_database(), 6 * 7")
        self.assertEqual(cur.fetchone(), ("app", "app", 42))
        conn.close()

    def test_docker_ini_wrong_password_refused(self):
        import psycopg2
        with self.assertRaises(psycopg2.OperationalError) as cm:
            harness._connect("127.0.0.1", self.port, "app", APP_USER, True, password="nope")
        self.assertIn("password authentication failed", str(cm.exception))

    def test_docker_ini_slow_log_and_metrics_on(self):
        conn = self.connect()
        conn.cursor().execute("SELECT pg_sleep(0.3)")
        conn.close()

        def slow_line():
            try:
                with open(self.slow_log) as f:
                    return [l for l in f if "pg_sleep" in l]
            except OSError:
                return None
        lines = harness.wait_until(slow_line, 10, "the pg_sleep(0.3) line in the slow log")
        self.assertIn('"user":"app"', lines[0].replace(" ", ""))
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port,
                                    timeout=10) as r:
            self.assertEqual(r.status, 200)
            body = r.read().decode()
        self.assertIn("pgsift_", body)


    def test_docker_group_of_processes(self):
        """PGSIFT_PROCESSES=2: two processes on one port with peering; a cancel from a fresh
        connection stops its statement whichever process it lands on; SIGTERM stops both."""
        tmp = tempfile.mkdtemp(prefix="pgsift-it-docker-group-")
        self.addCleanup(shutil.rmtree, tmp, True)
        port = harness.free_port()
        metrics = free_port_pair(port)
        args = ["--listen", "127.0.0.1:%d" % port, "--auth-file", USERLIST,
                "--slow-log", os.path.join(tmp, "slow.json"),
                "--stats-file", os.path.join(tmp, "stats.bin"),
                "--upstream", "host=%s port=%d" % (self.pg.host, self.pg.port)]
        px = Proc(args, {"PGSIFT_CONFIG": INI, "PGSIFT_UNIX_SOCKET_DIR": tmp,
                         "PGSIFT_PROCESSES": "2",
                         "PGSIFT_METRICS_LISTEN": "127.0.0.1:%d" % metrics}, None)
        self.addCleanup(px.stop)
        try:
            harness.wait_until(
                lambda: px.output().count("listening on 127.0.0.1:%d" % port) == 2,
                harness.READY_TIMEOUT, "both processes to listen")
        except AssertionError:
            self.fail("not both listening:\n" + px.output())
        for i in (0, 1):
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % (metrics + i),
                                        timeout=10) as r:
                self.assertEqual(r.status, 200)
        admin = harness._connect("127.0.0.1", port, "pgsift", APP_USER, True,
                                 password=APP_PASSWORD)
        cur = admin.cursor()
        cur.execute("SHOW PEERS")
        self.assertEqual(cur.fetchall(), [(1, os.path.join(tmp, "pgsift-1"), port, 0),
                                          (2, os.path.join(tmp, "pgsift-2"), port, 0)])
        admin.close()
        for _ in range(6):
            conn = self.connect()
            self.assertEqual(harness.cancel_while_running(conn, "SELECT pg_sleep(20)"),
                             "57014")
            conn.close()
        px.proc.send_signal(signal.SIGTERM)
        self.assertEqual(px.wait_exit(), 0, px.output())
        self.assertEqual(px.output().count("pgsift stopped"), 2, px.output())


class EntrypointEnvTest(unittest.TestCase):
    """The image without an ini file: the environment alone configures pgsift."""

    def test_entrypoint_env_only_database_url(self):
        pg = harness.pg()
        tmp = tempfile.mkdtemp(prefix="pgsift-it-docker-env-")
        self.addCleanup(shutil.rmtree, tmp, True)
        port = harness.free_port()
        px = Proc([], {"PGSIFT_CONFIG": os.path.join(tmp, "absent.ini"),
                       "DATABASE_URL": "postgresql://%s:%d" % (pg.host, pg.port),
                       "PGSIFT_LISTEN_ADDR": "127.0.0.1", "PGSIFT_LISTEN_PORT": str(port),
                       "PGSIFT_UNIX_SOCKET_DIR": tmp},
                  "listening on 127.0.0.1:%d" % port)
        self.addCleanup(px.stop)
        px.wait_ready()
        conn = harness._connect("127.0.0.1", port, harness.TESTDB, harness.SUPERUSER, True)
        cur = conn.cursor()
        cur.execute("SELECT current_database(), inet_server_port()")
        self.assertEqual(cur.fetchone(), (harness.TESTDB, pg.port))
        conn.close()

    def test_entrypoint_env_only_listens_everywhere_so_trust_is_refused(self):
        tmp = tempfile.mkdtemp(prefix="pgsift-it-docker-env-")
        self.addCleanup(shutil.rmtree, tmp, True)
        px = Proc([], {"PGSIFT_CONFIG": os.path.join(tmp, "absent.ini"),
                       "PGSIFT_UPSTREAM": "postgresql://127.0.0.1:1",
                       "PGSIFT_LISTEN_PORT": str(harness.free_port()),
                       "PGSIFT_UNIX_SOCKET_DIR": tmp}, None)
        self.addCleanup(px.stop)
        rc = px.wait_exit()
        self.assertNotEqual(rc, 0)
        self.assertIn("0.0.0.0", px.output())
        self.assertIn("trust", px.output())


class ComposeTest(unittest.TestCase):
    """compose.yaml, pgsift.ini, userlist.txt and the Dockerfile agree with each other."""

    @classmethod
    def setUpClass(cls):
        with open(COMPOSE) as f:
            text = f.read()
        try:
            import yaml
        except ImportError:
            raise unittest.SkipTest("python3-yaml is not installed")
        cls.compose = yaml.safe_load(text)
        cls.ini = read_ini()

    def test_compose_services(self):
        svc = self.compose["services"]
        self.assertEqual(sorted(svc), ["pgsift", "postgres"])
        self.assertEqual(svc["postgres"]["image"], "postgres:15")
        self.assertEqual(svc["pgsift"]["build"], {"context": "..",
                                                   "dockerfile": "docker/Dockerfile"})
        self.assertEqual(svc["pgsift"]["depends_on"]["postgres"]["condition"],
                         "service_healthy")

    def test_compose_ports_match_ini(self):
        main = self.ini["pgsift"]
        ports = self.compose["services"]["pgsift"]["ports"]
        self.assertIn("%s:%s" % (main["listen_port"], main["listen_port"]), ports)
        mport = main["metrics_listen"].rsplit(":", 1)[1]
        self.assertIn("%s:%s" % (mport, mport), ports)
        self.assertEqual(main["listen_addr"], "0.0.0.0")
        self.assertTrue(main["metrics_listen"].startswith("0.0.0.0:"))
        with open(DOCKERFILE) as f:
            expose = re.search(r"^EXPOSE (.*)$", f.read(), re.M).group(1).split()
        self.assertEqual(sorted(expose), sorted([main["listen_port"], mport]))

    def test_compose_volumes_hold_ini_paths(self):
        main = self.ini["pgsift"]
        mounts = {}
        for v in self.compose["services"]["pgsift"]["volumes"]:
            src, dst = v.split(":")[:2]
            mounts[dst] = src
        self.assertEqual(mounts["/etc/pgsift/pgsift.ini"], "./pgsift.ini")
        self.assertEqual(mounts[main["auth_file"]], "./userlist.txt")
        data_dir = [d for d, s in mounts.items() if s == "pgsift-data"]
        self.assertEqual(len(data_dir), 1)
        for key in ("slow_query_log", "stats_file"):
            self.assertEqual(os.path.dirname(main[key]), data_dir[0], key)
        self.assertIn("pgsift-data", self.compose["volumes"])
        with open(DOCKERFILE) as f:
            df = f.read()
        self.assertIn(data_dir[0], re.search(r"^VOLUME (.*)$", df, re.M).group(1))
        with open(ENTRYPOINT) as f:
            self.assertIn("/etc/pgsift/pgsift.ini", f.read())

    def test_compose_upstream_and_password_match(self):
        env = self.compose["services"]["postgres"]["environment"]
        upstream = self.ini["databases"]["*"]
        self.assertIn("host=postgres", upstream.split())
        self.assertIn("port=5432", upstream.split())
        with open(USERLIST) as f:
            users = dict(re.findall(r'^"([^"]*)" "([^"]*)"', f.read(), re.M))
        self.assertEqual(users.get(env["POSTGRES_USER"]), env["POSTGRES_PASSWORD"])
        self.assertIn(env["POSTGRES_USER"], self.ini["pgsift"]["admin_users"].split(","))


@unittest.skipUnless(shutil.which("apt-cache") and shutil.which("dpkg"), "needs apt and dpkg")
class DockerfilePackagesTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        with open("/etc/debian_version") as f:
            if not f.read().startswith("12"):
                raise unittest.SkipTest("the Dockerfile is for Debian 12; this is not")
        cls.stages = dockerfile_stages()

    def test_dockerfile_two_stages_on_debian12(self):
        self.assertEqual(len(self.stages), 2)
        self.assertEqual(self.stages[0][0], "FROM debian:12 AS build")
        self.assertEqual(self.stages[1][0], "FROM debian:12")
        runtime = self.stages[1]
        self.assertIn("USER pgsift", runtime)
        self.assertTrue(any(l.startswith("HEALTHCHECK ") for l in runtime))

    def test_dockerfile_packages_exist(self):
        for stage in self.stages:
            pkgs = apt_packages(stage)
            self.assertTrue(pkgs, stage[0])
            for p in pkgs:
                r = subprocess.run(["apt-cache", "show", "--no-all-versions", p],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
                self.assertEqual(r.returncode, 0, "apt-cache show %s: %s" % (
                    p, r.stderr.decode(errors="replace")))
                self.assertIn("Package: %s" % p, r.stdout.decode(errors="replace"))

    def _needed_packages(self, binary):
        """The packages shipping the shared libraries binary names as NEEDED, found through
        the paths the dynamic linker resolves them to (ldd). Sanitizer runtimes are left out:
        the image builds a Release binary, while the test may run against an ASan build."""
        r = subprocess.run(["readelf", "-d", binary], stdout=subprocess.PIPE, timeout=60,
                           check=True)
        libs = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout.decode())
        libs = [l for l in libs if not re.match(r"lib(asan|ubsan|lsan|tsan)\b", l)]
        r = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, timeout=60, check=True)
        paths = dict(re.findall(r"^\s*(\S+) => (/\S+)", r.stdout.decode(), re.M))
        pkgs = set()
        for lib in libs:
            self.assertIn(lib, paths, "ldd does not resolve %s" % lib)
            path = paths[lib]
            candidates = [path, os.path.realpath(path)]
            candidates += [c[4:] if c.startswith("/usr/") else "/usr" + c for c in candidates]
            for c in candidates:
                r = subprocess.run(["dpkg", "-S", c], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=60)
                if r.returncode == 0:
                    pkgs.add(r.stdout.decode().split(":")[0])
                    break
            else:
                self.fail("no package ships %s (%s)" % (lib, path))
        return libs, pkgs

    def test_dockerfile_runtime_has_every_needed_library(self):
        runtime = set(apt_packages(self.stages[1])) | {"libc6"}  # libc6 is in debian:12
        for binary in (harness.PGSIFT_BIN, "/usr/lib/postgresql/15/bin/pg_isready"):
            libs, pkgs = self._needed_packages(binary)
            self.assertTrue(libs)
            self.assertEqual(pkgs - runtime, set(), "%s needs %s" % (binary, sorted(pkgs)))

    def test_dockerfile_pg_isready_comes_from_build_stage_package(self):
        r = subprocess.run(["dpkg", "-S", "/usr/lib/postgresql/15/bin/pg_isready"],
                           stdout=subprocess.PIPE, timeout=60, check=True)
        self.assertIn(r.stdout.decode().split(":")[0], apt_packages(self.stages[0]))


if __name__ == "__main__":
    unittest.main()
