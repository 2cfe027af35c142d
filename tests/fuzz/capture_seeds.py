"""
capture_seeds: records what real drivers send to PostgreSQL and what it answers, and writes the
wire fuzzers' seeds from it.

A recording TCP relay sits between each driver and a real PostgreSQL 15 (started by the
integration harness, trust authentication). Every recv() is one chunk, in the order it happened,
so a seed replays the conversation in the steps the driver really took: psql, pgbench
(-M simple / extended / prepared), psycopg2, psycopg 3 and asyncpg (Debian's /usr/bin/python3).

Written (see fuzz_wire.h for the formats):
    tests/fuzz/seeds/client/<name>-raw      the client's bytes from its first (startup or
                                            SSLRequest) packet on, pgsift in trust mode
    tests/fuzz/seeds/client/<name>-login    the same after the login, for the harness's own
                                            login (trust, md5, scram-sha-256, pool modes)
    tests/fuzz/seeds/server/<name>          PostgreSQL's answers, for fuzz_server with the
                                            driver's frames as its client script
    tests/fuzz/wire_scripts.h               those client scripts, as C arrays

Run it only to refresh the seeds (the outputs are committed):
    /usr/bin/python3 tests/fuzz/capture_seeds.py
"""

import os
import select
import socket
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402

SEP = b"~|~|"  # fuzz_wire.h: WIRE_SEP
PY = "/usr/bin/python3"


class Relay:
    """Accepts on 127.0.0.1, relays each connection to PostgreSQL, records the chunks."""

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.conns = []  # one list of (direction, bytes) per connection, 'c' client->server
        self.lock = threading.Lock()
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self.relay, args=(c,), daemon=True).start()

    def relay(self, c):
        s = socket.create_connection(self.target)
        events = []
        with self.lock:
            self.conns.append(events)
        peers = {c: (s, "c"), s: (c, "s")}
        try:
            while True:
                r, _, _ = select.select(list(peers), [], [], 30)
                if not r:
                    return
                for src in r:
                    data = src.recv(65536)
                    if not data:
                        return
                    dst, d = peers[src]
                    events.append((d, data))
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            c.close()
            s.close()

    def take(self):
        with self.lock:
            out, self.conns = self.conns, []
        return out


PSYCOPG2 = r"""
import psycopg2, sys
conn = psycopg2.connect(sys.argv[1])
cur = conn.cursor()
cur.execute("SELECT 1, 'one'")
cur.fetchall()
cur.execute("SELECT a, b FROM fz WHERE a = %s AND b <> %s", (2, "x"))
cur.execute("SET statement_timeout = '5s'")
cur.executemany("INSERT INTO fz VALUES (%s, %s)", [(7, "seven"), (8, "eight")])
conn.commit()
named = conn.cursor("c1")
named.execute("SELECT * FROM fz ORDER BY a")
named.fetchmany(2)
named.close()
conn.commit()
import io
cur.copy_expert("COPY fz FROM STDIN", io.StringIO("9\tnine\n10\tten\n"))
cur.copy_expert("COPY (SELECT * FROM fz LIMIT 2) TO STDOUT", io.StringIO())
try:
    cur.execute("SELECT * FROM no_such_table")
except psycopg2.Error:
    conn.rollback()
conn.autocommit = True
cur.execute("PREPARE p1 AS SELECT $1::int + 1")
cur.execute("EXECUTE p1(41)")
cur.execute("DEALLOCATE p1")
cur.execute("LISTEN chan; NOTIFY chan, 'hi'")
conn.close()
"""

PSYCOPG3 = r"""
import psycopg, sys
with psycopg.connect(sys.argv[1]) as conn:
    conn.execute("SELECT %s::int, %s::text", (1, "one")).fetchall()
    for i in range(3):
        conn.execute("SELECT a FROM fz WHERE a = %s", (i,), prepare=True).fetchall()
    with conn.transaction():
        conn.execute("INSERT INTO fz VALUES (%s, %s)", (11, "eleven"))
        conn.execute("SET LOCAL work_mem = '8MB'")
    with conn.pipeline():
        conn.execute("SELECT 1")
        conn.execute("SELECT %s", ("pipelined",))
        conn.execute("UPDATE fz SET b = %s WHERE a = %s", ("x", 11))
    with conn.cursor().copy("COPY fz FROM STDIN") as cp:
        cp.write_row((12, "twelve"))
    try:
        conn.execute("SELECT 1/0")
    except psycopg.Error:
        conn.rollback()
    conn.execute("DEALLOCATE ALL")
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    cur = conn.cursor(name="srv")
    try:
        cur.execute("SELECT generate_series(1, 5)")
    except psycopg.Error:
        pass
    conn.execute("SELECT pg_sleep(0)")
"""

ASYNCPG = r"""
import asyncio, asyncpg, sys
async def main():
    conn = await asyncpg.connect(sys.argv[1])
    await conn.fetch("SELECT $1::int AS x, $2::text AS y", 1, "one")
    st = await conn.prepare("SELECT a, b FROM fz WHERE a > $1")
    await st.fetch(0)
    await st.fetchrow(1)
    await conn.executemany("INSERT INTO fz VALUES ($1, $2)", [(20, "a"), (21, "b")])
    async with conn.transaction():
        await conn.execute("SET LOCAL search_path = public")
        async for r in conn.cursor("SELECT * FROM fz"):
            pass
    await conn.copy_records_to_table("fz", records=[(30, "c")])
    try:
        await conn.execute("SELECT * FROM missing")
    except asyncpg.PostgresError:
        pass
    await conn.execute("SELECT 1; SELECT 2")
    await conn.close()
asyncio.run(main())
"""

PSQL_SCRIPT = r"""
SELECT 1 AS one, 'x' AS two;
BEGIN;
INSERT INTO fz VALUES (40, 'psql');
SAVEPOINT s1;
SELECT * FROM missing_table;
ROLLBACK TO SAVEPOINT s1;
COMMIT;
SET application_name = 'psql-seed';
\copy fz from stdin
41	forty-one
\.
SELECT count(*) FROM fz \gset
SHOW server_version;
"""


def dsn(port, **kw):
    d = "host=127.0.0.1 port=%d dbname=%s user=%s sslmode=disable" % (
        port, harness.TESTDB, harness.SUPERUSER)
    for k, v in kw.items():
        d += " %s=%s" % (k, v)
    return d


def run(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120, **kw)
    if p.returncode != 0:
        sys.stderr.write("warning: %s exited %d:\n%s\n" % (cmd[:3], p.returncode,
                                                          p.stdout.decode(errors="replace")))


def drivers(port):
    """(name, callable) for every driver session to record."""
    env = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(port), PGUSER=harness.SUPERUSER,
               PGDATABASE=harness.TESTDB)
    bench = ["pgbench", "-n", "-t", "3", "-c", "1"]
    return [
        ("psql-c", lambda: run(["psql", "-X", "-c", "SELECT now(), 1 + 1"], env=env)),
        ("psql-script", lambda: run(["psql", "-X", "-v", "ON_ERROR_STOP=0"],
                                    input=PSQL_SCRIPT.encode(), env=env)),
        ("psql-ssl", lambda: run(["psql", "-X", "-c", "SELECT 1"],
                                 env=dict(env, PGSSLMODE="prefer"))),
        ("pgbench-simple", lambda: run(bench + ["-M", "simple"], env=env)),
        ("pgbench-extended", lambda: run(bench + ["-M", "extended"], env=env)),
        ("pgbench-prepared", lambda: run(bench + ["-M", "prepared"], env=env)),
        ("pgbench-select", lambda: run(bench + ["-M", "prepared", "-S"], env=env)),
        ("psycopg2", lambda: run([PY, "-c", PSYCOPG2, dsn(port)])),
        ("psycopg3", lambda: run([PY, "-c", PSYCOPG3, dsn(port)])),
        ("asyncpg", lambda: run([PY, "-c", ASYNCPG,
                                 "postgresql://%s@127.0.0.1:%d/%s?sslmode=disable" % (
                                     harness.SUPERUSER, port, harness.TESTDB)])),
    ]


def frames(data):
    """Yields the type bytes of the typed frames in a stream (startup frames skipped)."""
    i = 0
    while i + 5 <= len(data):
        n = int.from_bytes(data[i + 1:i + 5], "big")
        yield data[i:i + 1]
        i += 1 + n


def split_login(events):
    """(startup chunks, chunks after the login) of the client; the login ends when the server
    sends its first ReadyForQuery."""
    before, after = [], []
    logged_in = False
    for d, data in events:
        if d == "s":
            if not logged_in and any(t == b"Z" for t in frames(data)):
                logged_in = True
            continue
        (after if logged_in else before).append(data)
    return before, after


def c_array(name, chunks):
    body = ",\n".join("\t{ %d, (const uint8_t *)\"%s\" }" % (
        len(c), "".join("\\x%02x" % b for b in c)) for c in chunks)
    return "static const WireStep %s[] = {\n%s\n};\n" % (name, body)


def main():
    pg = harness.pg()
    conn = pg.connect()
    cur = conn.cursor()
    cur.execute("CREATE TABLE fz (a int, b text)")
    cur.execute("INSERT INTO fz SELECT g, 'v' || g FROM generate_series(1, 5) g")
    conn.close()
    run(["pgbench", "-i", "-q", "-s", "1", "-h", "127.0.0.1", "-p", str(pg.port), "-U",
         harness.SUPERUSER, harness.TESTDB])
    relay = Relay(pg.port)
    out_c = os.path.join(HERE, "seeds", "client")
    out_s = os.path.join(HERE, "seeds", "server")
    os.makedirs(out_c, exist_ok=True)
    os.makedirs(out_s, exist_ok=True)
    scripts = []
    seen = set()
    for name, fn in drivers(relay.port):
        fn()
        for i, events in enumerate(relay.take()):
            c2s = [x for d, x in events if d == "c"]
            s2c = [x for d, x in events if d == "s"]
            if not c2s or not s2c:
                continue
            tag = name if i == 0 else "%s-%d" % (name, i)
            _, after = split_login(events)
            if b"".join(after) in seen:
                continue  # pgbench's first connection, the same for every -M
            seen.add(b"".join(after))
            # byte 0: config (trust, session pooling), byte 1: scripted server's behaviour
            with open(os.path.join(out_c, tag + "-raw"), "wb") as f:
                f.write(bytes([0x00, 0x00]) + SEP.join(c2s))
            for cfg, label in ((0x10, "login"), (0x15, "login-md5-tx"), (0x16, "login-scram-tx")):
                with open(os.path.join(out_c, "%s-%s" % (tag, label)), "wb") as f:
                    f.write(bytes([cfg, 0x00]) + SEP.join(after))
            # the server's answers without the SSLRequest refusal, which pgsift never asks for
            answers = [x for x in s2c if x != b"N"]
            idx = len(scripts)
            scripts.append((tag, after))
            for mode in (0, 1):  # session, transaction pooling (fuzz_wire.h)
                with open(os.path.join(out_s, "%s-%s" % (tag, ("session", "tx")[mode])),
                          "wb") as f:
                    f.write(bytes([idx, mode]) + SEP.join(answers))
    with open(os.path.join(HERE, "wire_scripts.h"), "w") as f:
        f.write("/* Generated by capture_seeds.py: each driver session's frames after its login,\n"
                " * one step per recv() as the driver sent them. fuzz_server's client scripts. */\n")
        f.write("/* generated data, kept as written: */\n/* clang-format off */\n")
        f.write("#ifndef PGSIFT_WIRE_SCRIPTS_H\n#define PGSIFT_WIRE_SCRIPTS_H\n\n")
        for i, (tag, steps) in enumerate(scripts):
            f.write("/* %s */\n" % tag)
            f.write(c_array("script_%d" % i, steps or [b""]))
        f.write("\nstatic const WireScript wire_scripts[] = {\n")
        for i, (tag, steps) in enumerate(scripts):
            f.write("\t{ \"%s\", script_%d, %d },\n" % (tag, i, max(len(steps), 1)))
        f.write("};\n\n#endif\n")
    print("%d sessions recorded" % len(scripts))


if __name__ == "__main__":
    main()
