"""
test_tls: pgsift between TLS clients and a PostgreSQL that accepts only TLS.

The PostgreSQL here runs with ssl = on and a pg_hba.conf whose TCP lines are all `hostssl` (the
superuser by trust, everyone else by scram-sha-256), as managed services do: a plaintext login is
refused by PostgreSQL itself. The test makes its own CA with `openssl req` and signs three
certificates: pgsift's (for clients), PostgreSQL's, and a client's (CN = scramuser); a second CA
signs nothing pgsift trusts.

Covered: psql with sslmode=verify-full through pgsift with TLS on both legs (pg_stat_ssl on the
server shows the server leg, SHOW CLIENTS / SHOW SERVERS show the cipher), psycopg2, psycopg 3 and
asyncpg over TLS, pgbench over TLS on both legs, a plaintext client refused under
client_tls_sslmode = require (28000), a client that trusts another CA refused, a server leg whose
CA or mode is wrong failing with a clear error, cancel over TLS, PostgreSQL 17's direct TLS (ALPN
postgresql) accepted and refused without ALPN, bytes after SSLRequest refused, a ClientHello cut
short leaving pgsift serving others, and a certificate swapped and reloaded under pgbench load with
no failed transaction (a bad certificate file on reload keeps the old one and says why).
"""

import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (Pgsift, PgServer, SCRAM_PASSWORD, SCRAM_USER, SUPERUSER, TESTDB,  # noqa: E402
                     parse_error, read_message,
                     skip_direct, startup_packet, wait_until)

import psycopg2  # noqa: E402

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
ADMIN_PASSWORD = "adminpass"  # the console's login (auth_file); PostgreSQL never sees it


def _openssl(*args, cwd):
    subprocess.run([OPENSSL] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)


class Certs:
    """A CA, certificates it signs, and an unrelated CA, in a temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pgsift-it-tls-")
        harness.register_cleanup(lambda: shutil.rmtree(self.dir, ignore_errors=True))
        os.chmod(self.dir, 0o755)
        self.ca = self._ca("ca", "pgsift test CA")
        self.other_ca = self._ca("otherca", "some other CA")
        self.proxy = self.sign("proxy", "localhost")
        self.proxy2 = self.sign("proxy2", "localhost")  # the certificate swapped in on reload
        self.server = self.sign("server", "localhost")
        self.client = self.sign("client", SCRAM_USER, san=False)
        self.client_super = self.sign("client_super", SUPERUSER, san=False)

    def path(self, name):
        return os.path.join(self.dir, name)

    def _ca(self, name, cn):
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", name + ".key", "-out", name + ".crt", "-days", "2",
                 "-subj", "/CN=" + cn, cwd=self.dir)
        return self.path(name + ".crt")

    def sign(self, name, cn, san=True):
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn,
                 cwd=self.dir)
        ext = name + ".ext"
        with open(self.path(ext), "w") as f:
            if san:
                f.write("subjectAltName = DNS:localhost, IP:127.0.0.1\n")
            else:
                f.write("extendedKeyUsage = clientAuth\n")
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", ext,
                 cwd=self.dir)
        os.chmod(self.path(name + ".key"), 0o600)
        return self.path(name + ".crt"), self.path(name + ".key")


class TlsPgServer(PgServer):
    """PostgreSQL with ssl = on that refuses every plaintext TCP login."""

    certs = None

    def _write_conf(self):
        super()._write_conf()
        crt, key = self.certs.server
        # PostgreSQL wants its key owned by itself and private
        dst_crt = os.path.join(self.datadir, "server.crt")
        dst_key = os.path.join(self.datadir, "server.key")
        shutil.copy(crt, dst_crt)
        shutil.copy(key, dst_key)
        if os.geteuid() == 0:
            import pwd
            pw = pwd.getpwnam("postgres")
            for p in (dst_crt, dst_key):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        os.chmod(dst_key, 0o600)
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
            f.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        hba = ("local all all trust\n"
               "hostssl all %s 127.0.0.1/32 trust\n"
               "hostssl all all 127.0.0.1/32 scram-sha-256\n" % SUPERUSER)
        with open(os.path.join(self.datadir, "pg_hba.conf"), "w") as f:
            f.write(hba)


_certs = None
_pg = None


def certs():
    global _certs
    if _certs is None:
        _certs = Certs()
    return _certs


def tls_pg():
    global _pg
    if _pg is None:
        TlsPgServer.certs = certs()
        _pg = TlsPgServer()
    return _pg


def tls_settings(**over):
    c = certs()
    s = {
        "client_tls_sslmode": "require",
        "client_tls_cert_file": c.proxy[0],
        "client_tls_key_file": c.proxy[1],
        "server_tls_sslmode": "verify-full",
        "server_tls_ca_file": c.ca,
        "auth_type": "scram-sha-256",
        "admin_users": SUPERUSER,
        "log_level": "debug",
    }
    s.update(over)
    return s


def start_proxy(**over):
    server = tls_pg()
    users = {SCRAM_USER: server.scram_secret(), SUPERUSER: ADMIN_PASSWORD}
    return Pgsift(server, settings=tls_settings(**over), users=users,
                  databases={"*": "host=127.0.0.1 port=%d" % server.port})


def proxy_dsn(px, **kw):
    parts = {"host": "localhost", "port": px.port, "dbname": TESTDB, "user": SCRAM_USER,
             "password": SCRAM_PASSWORD, "sslmode": "verify-full", "sslrootcert": certs().ca,
             "connect_timeout": 10}
    parts.update(kw)
    return " ".join("%s=%s" % (k, v) for k, v in parts.items() if v is not None)


def ssl_request_socket(px, timeout=5.0):
    """A raw TCP connection that sent SSLRequest and read pgsift's one-byte answer."""
    sock = socket.create_connection((px.host, px.port), timeout=timeout)
    sock.settimeout(timeout)
    sock.sendall(struct.pack("!II", 8, 80877103))
    return sock, sock.recv(1)


def client_context(alpn=True):
    ctx = ssl.create_default_context(cafile=certs().ca)
    if alpn:
        ctx.set_alpn_protocols(["postgresql"])
    return ctx


def read_until_ready(sock):
    """Messages until ReadyForQuery (returns None) or an ErrorResponse (returns its fields)."""
    while True:
        m = read_message(sock)
        if m is None:
            raise AssertionError("connection closed during login")
        if m[0] == b"E":
            return parse_error(m[1])
        if m[0] == b"Z":
            return None


@skip_direct
class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.px = start_proxy()

    def test_psql_verify_full_both_legs(self):
        env = dict(os.environ, PGPASSWORD=SCRAM_PASSWORD, PGSSLMODE="verify-full",
                   PGSSLROOTCERT=certs().ca)
        r = subprocess.run([harness.PG_BIN + "/psql", "-X", "-A", "-t", "-h", "localhost", "-p",
                            str(self.px.port), "-U", SCRAM_USER, "-d", TESTDB, "-c",
                            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        # the server leg: PostgreSQL sees a TLS 1.3 connection from pgsift
        self.assertEqual(r.stdout.decode().strip(), "t|TLSv1.3")

    def test_scram_channel_binding(self):
        # libpq's channel_binding=require accepts only SCRAM-SHA-256-PLUS bound to the
        # certificate of the TLS connection it has: pgsift's own
        conn = psycopg2.connect(proxy_dsn(self.px, channel_binding="require"))
        cur = conn.cursor()
        cur.execute("SELECT current_user")
        self.assertEqual(cur.fetchone()[0], SCRAM_USER)
        conn.close()
        with self.assertRaises(psycopg2.OperationalError) as cm:
            psycopg2.connect(proxy_dsn(self.px, channel_binding="require", password="wrong"))
        self.assertIn('password authentication failed for user "%s"' % SCRAM_USER,
                      str(cm.exception))
        # without TLS there is nothing to bind to: libpq refuses
        with self.assertRaises(psycopg2.OperationalError):
            psycopg2.connect(proxy_dsn(self.px, channel_binding="require", sslmode="disable"))

    def test_show_clients_and_servers_tls_column(self):
        conn = psycopg2.connect(proxy_dsn(self.px))
        try:
            conn.cursor().execute("SELECT 1")
            admin = psycopg2.connect(proxy_dsn(self.px, dbname="pgsift", user=SUPERUSER,
                                               password=ADMIN_PASSWORD, sslmode="require"))
            admin.autocommit = True
            cur = admin.cursor()
            for cmd in ("SHOW CLIENTS", "SHOW SERVERS"):
                cur.execute(cmd)
                cols = [d[0] for d in cur.description]
                rows = [dict(zip(cols, r)) for r in cur.fetchall()]
                # every connection of this test program is TLS on both legs, the console's
                # own included
                self.assertGreaterEqual(len(rows), 1, cmd)
                for row in rows:
                    self.assertTrue(row["tls"].startswith("TLSv1.3/TLS_"), (cmd, row))
                if cmd == "SHOW CLIENTS":
                    self.assertEqual(sorted(r["user"] for r in rows), [SUPERUSER, SCRAM_USER])
            admin.close()
        finally:
            conn.close()

    def test_plaintext_client_refused_under_require(self):
        with self.assertRaises(psycopg2.OperationalError) as cm:
            psycopg2.connect(proxy_dsn(self.px, sslmode="disable"))
        self.assertIn("TLS required: connect with sslmode=require or stronger "
                      "(client_tls_sslmode = require)", str(cm.exception))

    def test_client_trusting_another_ca_refused(self):
        with self.assertRaises(psycopg2.OperationalError) as cm:
            psycopg2.connect(proxy_dsn(self.px, sslrootcert=certs().other_ca))
        self.assertIn("certificate verify failed", str(cm.exception))
        # pgsift goes on serving
        conn = psycopg2.connect(proxy_dsn(self.px))
        conn.close()

    def test_psycopg3_and_asyncpg_over_tls(self):
        script = r"""
import asyncio, ssl, sys
import psycopg, asyncpg
dsn, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with psycopg.connect(dsn) as c:
    print(c.execute("SELECT %s::int + 1", (41,)).fetchone()[0], c.pgconn.ssl_in_use)
async def main():
    ctx = ssl.create_default_context(cafile=ca)
    c = await asyncpg.connect(host="localhost", port=port, user="scramuser",
                              password="scrampass", database="testdb", ssl=ctx)
    print(await c.fetchval("SELECT $1::int * 2", 21))
    await c.close()
asyncio.run(main())
"""
        r = subprocess.run(["/usr/bin/python3", "-c", script, proxy_dsn(self.px),
                            str(self.px.port), certs().ca],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(r.stdout.decode().split("\n"), ["42 True", "42", ""])

    def test_node_drivers_over_tls(self):
        # node-postgres and postgres.js, each verifying pgsift's certificate against the CA
        node_dir = os.path.join(harness.SOURCE_DIR, "tests", "clients", "node")
        if not os.path.isdir(os.path.join(node_dir, "node_modules", "pg")):
            self.fail("the Node.js drivers are not installed: run tests/clients/setup-node.sh")
        script = r"""
const fs = require('fs');
const [port, ca] = process.argv.slice(1);
const opts = {host: 'localhost', port: +port, user: 'scramuser', password: 'scrampass',
              database: 'testdb'};
(async () => {
  const { Client } = require('pg');
  const c = new Client({...opts, ssl: {ca: fs.readFileSync(ca), servername: 'localhost'}});
  await c.connect();
  const r = await c.query('SELECT $1::int + 1 AS v', [41]);
  console.log('pg', r.rows[0].v, c.connection.stream.encrypted === true);
  await c.end();
  const postgres = require('postgres');
  const sql = postgres({...opts, username: opts.user,
                        ssl: {ca: fs.readFileSync(ca), servername: 'localhost'}});
  const rows = await sql`SELECT ${21}::int * 2 AS v`;
  console.log('postgres', rows[0].v);
  await sql.end();
})().catch(e => { console.error(e); process.exit(1); });
"""
        r = subprocess.run(["/usr/bin/node", "-e", script, str(self.px.port), certs().ca],
                           cwd=node_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(r.stdout.decode().split("\n"), ["pg 42 true", "postgres 42", ""])

    def test_pgbench_over_tls_both_legs(self):
        # each transaction asks PostgreSQL whether its own connection is encrypted
        script = ssl_check_script()
        r = subprocess.run([harness.PG_BIN + "/pgbench", "-n", "-c", "4", "-t", "50", "-f",
                            script, proxy_dsn(self.px)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        out = r.stdout.decode()
        self.assertEqual(r.returncode, 0, out + r.stderr.decode())
        self.assertIn("number of transactions actually processed: 200/200", out)
        self.assertIn("number of failed transactions: 0 (0.000%)", out)

    def test_cancel_over_tls(self):
        # the client's cancel may come in plaintext (libpq 15 sends it so); pgsift's cancel to
        # PostgreSQL goes over TLS like the server's own connection
        conn = psycopg2.connect(proxy_dsn(self.px))
        cur = conn.cursor()
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
        try:
            t = threading.Timer(0.5, conn.cancel)
            t.start()
            with self.assertRaises(psycopg2.extensions.QueryCanceledError):
                conn.cursor().execute("SELECT pg_sleep(20)")
            t.join()
            cur = conn.cursor()
            conn.rollback()
            cur.execute("SELECT 7")
            self.assertEqual(cur.fetchone()[0], 7)
            wait_until(lambda: "cancel request for backend %d sent over TLS" % backend in
                       self.px.output(), 10, "the cancel sent over TLS")
        finally:
            conn.close()

    def test_direct_tls_with_alpn(self):
        raw = socket.create_connection((self.px.host, self.px.port), timeout=5)
        sock = client_context().wrap_socket(raw, server_hostname="localhost")
        self.assertEqual(sock.selected_alpn_protocol(), "postgresql")
        sock.sendall(startup_packet({"user": SUPERUSER, "database": "pgsift"}))
        # the admin console by trust? No: auth_type is scram: expect an authentication request
        m = read_message(sock)
        self.assertEqual(m[0], b"R")
        self.assertEqual(struct.unpack("!I", m[1][:4])[0], 10)  # AuthenticationSASL
        sock.close()

    def test_direct_tls_without_alpn_refused(self):
        raw = socket.create_connection((self.px.host, self.px.port), timeout=5)
        with self.assertRaises((ssl.SSLError, ConnectionResetError, OSError)):
            sock = client_context(alpn=False).wrap_socket(raw, server_hostname="localhost")
            sock.sendall(startup_packet({"user": SCRAM_USER, "database": TESTDB}))
            if read_message(sock) is None:
                raise OSError("closed")
        conn = psycopg2.connect(proxy_dsn(self.px))
        conn.close()

    def test_unencrypted_bytes_after_ssl_request_refused(self):
        sock = socket.create_connection((self.px.host, self.px.port), timeout=5)
        sock.sendall(struct.pack("!II", 8, 80877103) + startup_packet({"user": SCRAM_USER}))
        m = read_message(sock)
        self.assertIsNotNone(m)
        self.assertEqual(m[0], b"E")
        fields = parse_error(m[1])
        self.assertEqual((fields["C"], fields["M"]),
                         ("08P01", "received unencrypted data after SSL request"))
        sock.close()

    def test_client_hello_cut_short_and_garbage(self):
        sock, answer = ssl_request_socket(self.px)
        self.assertEqual(answer, b"S")
        sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello's start
        sock.close()
        sock, answer = ssl_request_socket(self.px)
        self.assertEqual(answer, b"S")
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n" * 10)
        data = sock.recv(100)
        if data[:1] == b"\x15":  # a TLS alert may come first
            data = sock.recv(100)
        self.assertEqual(data, b"")  # closed
        sock.close()
        conn = psycopg2.connect(proxy_dsn(self.px))
        cur = conn.cursor()
        cur.execute("SELECT 1")
        self.assertEqual(cur.fetchone()[0], 1)
        conn.close()
        self.assertTrue(self.px.is_alive())


def ssl_check_script():
    """A pgbench script that fails unless the server leg is TLS."""
    path = os.path.join(certs().dir, "ssl_check.sql")
    with open(path, "w") as f:
        f.write("SELECT 1 / count(*) FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl;\n")
    return path


def peer_cert_der(px):
    sock, answer = ssl_request_socket(px)
    assert answer == b"S", answer
    ctx = client_context(alpn=False)
    tls = ctx.wrap_socket(sock, server_hostname="localhost")
    der = tls.getpeercert(binary_form=True)
    tls.close()
    return der


def der_of(pem_path):
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


@skip_direct
class TlsServerLegTest(unittest.TestCase):
    def login_error(self, px):
        with self.assertRaises(psycopg2.OperationalError) as cm:
            psycopg2.connect(proxy_dsn(px))
        return str(cm.exception)

    def test_server_leg_plaintext_refused_by_postgres(self):
        px = start_proxy(server_tls_sslmode="disable")
        try:
            err = self.login_error(px)
            self.assertIn("no encryption", err)
        finally:
            px.stop()

    def test_server_leg_wrong_ca(self):
        px = start_proxy(server_tls_ca_file=certs().other_ca)
        try:
            err = self.login_error(px)
            self.assertIn("TLS handshake failed: certificate verify failed", err)
        finally:
            px.stop()

    def test_server_without_tls_refused_when_required(self):
        # the harness's own PostgreSQL has ssl = off: it answers N to SSLRequest
        plain = harness.pg()
        px = Pgsift(plain, settings={"server_tls_sslmode": "require"})
        try:
            with self.assertRaises(psycopg2.OperationalError) as cm:
                px.connect()
            self.assertIn("server 127.0.0.1:%d does not support TLS, but sslmode is require"
                          % plain.port, str(cm.exception))
        finally:
            px.stop()
        # prefer goes on in plaintext
        px = Pgsift(plain, settings={"server_tls_sslmode": "prefer"})
        try:
            conn = px.connect()
            cur = conn.cursor()
            cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            self.assertEqual(cur.fetchone()[0], False)
            conn.close()
        finally:
            px.stop()

    def test_server_leg_prefer_and_per_database_sslmode(self):
        server = tls_pg()
        users = {SCRAM_USER: server.scram_secret()}
        px = Pgsift(server, settings=tls_settings(server_tls_sslmode="disable",
                                                   server_tls_ca_file=None), users=users,
                    databases={"*": "host=127.0.0.1 port=%d sslmode=require" % server.port})
        try:
            conn = psycopg2.connect(proxy_dsn(px))
            cur = conn.cursor()
            cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            self.assertEqual(cur.fetchone()[0], True)
            conn.close()
        finally:
            px.stop()


@skip_direct
class TlsCertAuthTest(unittest.TestCase):
    """auth_type = cert: a verified client certificate whose common name is the user name."""

    @classmethod
    def setUpClass(cls):
        cls.px = start_proxy(auth_type="cert", client_tls_sslmode="verify-full",
                             client_tls_ca_file=certs().ca)

    def connect(self, user, cert):
        kw = {"user": user, "password": None}
        if cert:
            kw.update(sslcert=cert[0], sslkey=cert[1])
        return psycopg2.connect(proxy_dsn(self.px, **kw))

    def test_certificate_logs_in(self):
        conn = self.connect(SUPERUSER, certs().client_super)
        cur = conn.cursor()
        cur.execute("SELECT current_user")
        self.assertEqual(cur.fetchone()[0], SUPERUSER)
        conn.close()

    def test_another_users_certificate_refused(self):
        with self.assertRaises(psycopg2.OperationalError) as cm:
            self.connect(SUPERUSER, certs().client)  # CN = scramuser
        self.assertIn('certificate authentication failed for user "%s"' % SUPERUSER,
                      str(cm.exception))

    def test_no_certificate_refused(self):
        with self.assertRaises(psycopg2.OperationalError):
            self.connect(SUPERUSER, None)
        self.assertTrue(self.px.is_alive())


@skip_direct
class TlsReloadTest(unittest.TestCase):
    def test_certificate_swapped_under_load(self):
        c = certs()
        work = tempfile.mkdtemp(prefix="pgsift-it-tlsreload-")
        harness.register_cleanup(lambda: shutil.rmtree(work, ignore_errors=True))
        crt, key = os.path.join(work, "live.crt"), os.path.join(work, "live.key")
        shutil.copy(c.proxy[0], crt)
        shutil.copy(c.proxy[1], key)
        px = start_proxy(client_tls_cert_file=crt, client_tls_key_file=key)
        try:
            self.assertEqual(peer_cert_der(px), der_of(c.proxy[0]))
            # -C: a new TLS connection (and handshake) for every transaction
            bench = subprocess.Popen([harness.PG_BIN + "/pgbench", "-n", "-c", "4", "-T", "4",
                                      "-C", "-f", ssl_check_script(), proxy_dsn(px)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            # new certificate and key, then RELOAD through the console
            shutil.copy(c.proxy2[0], crt)
            shutil.copy(c.proxy2[1], key)
            self.reload(px)
            wait_until(lambda: peer_cert_der(px) == der_of(c.proxy2[0]), 10,
                       "the new certificate served")
            # a bad file: the old (new) certificate stays, the log says why
            with open(crt, "w") as f:
                f.write("not a certificate\n")
            self.reload(px)
            self.assertEqual(peer_cert_der(px), der_of(c.proxy2[0]))
            wait_until(lambda: "TLS keeps its previous settings" in
                       px.output(), 10, "the bad certificate reported")
            out, err = bench.communicate(timeout=60)
            out = out.decode()
            self.assertEqual(bench.returncode, 0, out + err.decode())
            self.assertIn("number of failed transactions: 0 (0.000%)", out)
        finally:
            px.stop()

    def reload(self, px):
        admin = psycopg2.connect(proxy_dsn(px, dbname="pgsift", user=SUPERUSER,
                                           password=ADMIN_PASSWORD, sslmode="require"))
        admin.autocommit = True
        admin.cursor().execute("RELOAD")
        admin.close()


if __name__ == "__main__":
    unittest.main()
