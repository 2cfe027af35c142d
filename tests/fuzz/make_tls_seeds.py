"""
make_tls_seeds: writes the seeds of fuzz_tls (tests/fuzz/seeds/tls/; the input format is at the
top of tests/fuzz/fuzz_tls.c): real ClientHellos made by Python's ssl module writing to a memory
BIO (TLS 1.3 and 1.2, with and without ALPN "postgresql"), the same cut short or followed by
garbage, garbage after 'S', and for the modes with a real OpenSSL client, the frames that follow
a login (some taken from the fuzz_client seeds), renegotiation and KeyUpdate, close_notify and
records injected in the middle of the stream.

Run it only to refresh the seeds (the outputs are committed; ClientHellos are random each time):
    python3 tests/fuzz/make_tls_seeds.py
"""

import os
import ssl
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "seeds", "tls")
SEP = b"~|~|"  # fuzz_wire.h: WIRE_SEP

# mode byte (fuzz_tls.c)
RAW_SSLREQ, RAW_DIRECT, REAL_SSLREQ, REAL_DIRECT = 0, 1, 2, 3
TLS12 = 4
ALPN_NONE, ALPN_HTTP, ALPN_BOTH = 1 << 3, 2 << 3, 3 << 3
LOGIN = 0x20
CERT = 0x40
BYSTANDER = 0x80
# cfg byte: 0 prefer/trust, 1 require/md5, 2 verify-full/cert, 3 prefer/scram tls1.3 only
TOGETHER = 4


def client_hello(alpn=None, tls12=False, sni="localhost"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if alpn:
        ctx.set_alpn_protocols(alpn)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def frame(t, body):
    return t + struct.pack("!I", len(body) + 4) + body


def query(sql):
    return frame(b"Q", sql.encode() + b"\0")


def startup(user="fuzzuser", db="db"):
    body = struct.pack("!I", 0x30000) + b"user\0" + user.encode() + b"\0database\0"
    body += db.encode() + b"\0\0"
    return struct.pack("!I", len(body) + 4) + body


def extended(sql):
    return (frame(b"P", b"\0" + sql.encode() + b"\0\0\0") + frame(b"B", b"\0\0\0\0\0\0\0\0")
            + frame(b"D", b"P\0") + frame(b"E", b"\0\0\0\0\0") + frame(b"S", b""))


TERMINATE = frame(b"X", b"")


def write(name, mode, cfg, segments):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(bytes([mode, cfg]) + SEP.join(segments))


def main():
    os.makedirs(OUT, exist_ok=True)
    ch13 = client_hello()
    ch13_alpn = client_hello(alpn=["postgresql"])
    ch12 = client_hello(tls12=True)
    ch12_alpn = client_hello(alpn=["postgresql"], tls12=True)
    ch_http = client_hello(alpn=["http/1.1"])

    # raw records after 'S'
    write("raw-sslreq-hello13", RAW_SSLREQ, 0, [ch13])
    write("raw-sslreq-hello12", RAW_SSLREQ, 0, [ch12])
    write("raw-sslreq-hello13-alpn-cfg3", RAW_SSLREQ, 3, [ch13_alpn])
    write("raw-sslreq-hello-cut", RAW_SSLREQ, 0, [ch13[: len(ch13) // 2]])
    write("raw-sslreq-hello-cut-header", RAW_SSLREQ, 1, [ch13[:3]])
    write("raw-sslreq-hello-split", RAW_SSLREQ, 0,
          [ch13[:5], ch13[5:40], ch13[40:]])
    write("raw-sslreq-hello-then-garbage", RAW_SSLREQ, 0,
          [ch13, b"\x17\x03\x03\x00\x10" + b"A" * 16])
    write("raw-sslreq-hello-then-alert", RAW_SSLREQ, 0, [ch13, b"\x15\x03\x03\x00\x02\x02\x28"])
    write("raw-sslreq-hello-twice", RAW_SSLREQ, 0, [ch12 + ch12])
    write("raw-sslreq-garbage", RAW_SSLREQ, 0, [b"garbage after S\n" * 4])
    write("raw-sslreq-plain-startup", RAW_SSLREQ, 0, [startup()])
    write("raw-sslreq-huge-record", RAW_SSLREQ, 0, [b"\x16\x03\x01\xff\xff" + b"\x01" * 64])
    write("raw-sslreq-together-hello", RAW_SSLREQ, TOGETHER, [ch13])
    write("raw-sslreq-together-startup", RAW_SSLREQ, TOGETHER, [startup()])
    write("raw-sslreq-eof-mid-hello", RAW_SSLREQ, 0, [ch13[:60], b"!eof"])
    write("raw-sslreq-cert-cfg2", RAW_SSLREQ, 2, [ch13])
    # raw direct TLS (the first byte is 0x16 whatever it was)
    write("raw-direct-hello13-alpn", RAW_DIRECT, 0, [ch13_alpn])
    write("raw-direct-hello12-alpn", RAW_DIRECT, 0, [ch12_alpn])
    write("raw-direct-hello-no-alpn", RAW_DIRECT, 0, [ch13])
    write("raw-direct-hello-http-alpn", RAW_DIRECT, 0, [ch_http])
    write("raw-direct-hello-cut", RAW_DIRECT, 0, [ch13_alpn[:100]])
    write("raw-direct-hello-split", RAW_DIRECT, 0,
          [ch13_alpn[:1], ch13_alpn[1:5], ch13_alpn[5:]])
    write("raw-direct-garbage", RAW_DIRECT, 0, [b"\x16garbage, not a record"])

    # a real OpenSSL client: the handshake completes, the segments travel inside TLS
    login_q = [query("SELECT 1"), extended("SELECT 2"), query("BEGIN"), query("COMMIT"),
               TERMINATE]
    write("real-sslreq-login", REAL_SSLREQ | LOGIN, 0, login_q)
    write("real-sslreq-login-bystander", REAL_SSLREQ | LOGIN | BYSTANDER, 0, login_q)
    write("real-sslreq-login12", REAL_SSLREQ | LOGIN | TLS12, 0, login_q)
    write("real-sslreq-md5", REAL_SSLREQ | LOGIN | BYSTANDER, 1, login_q)
    write("real-sslreq-md5-tls12", REAL_SSLREQ | LOGIN | TLS12, 1, login_q)
    write("real-sslreq-scram", REAL_SSLREQ | LOGIN | BYSTANDER, 3, login_q)
    write("real-sslreq-cert", REAL_SSLREQ | LOGIN | CERT, 2, login_q)
    write("real-sslreq-cert-missing", REAL_SSLREQ | LOGIN, 2, login_q)
    write("real-sslreq-cert-wrong-user", REAL_SSLREQ | CERT, 2,
          [startup(user="md5user"), query("SELECT 1")])
    write("real-sslreq-startup", REAL_SSLREQ, 0, [startup(), query("SELECT 1"), TERMINATE])
    write("real-sslreq-startup-split", REAL_SSLREQ, 0,
          [startup()[:5], startup()[5:] + query("SELECT 1")[:3], query("SELECT 1")[3:]])
    write("real-sslreq-second-sslrequest", REAL_SSLREQ, 0,
          [bytes.fromhex("0000000804d2162f"), startup(), query("SELECT 1")])
    write("real-sslreq-cancel", REAL_SSLREQ, 0,
          [struct.pack("!IIII", 16, 80877102, 4242, 1)])
    write("real-sslreq-admin", REAL_SSLREQ, 0,
          [startup(user="admin", db="pgsift"), query("SHOW CLIENTS")])
    write("real-sslreq-scram-plus", REAL_SSLREQ, 3,
          [startup(), frame(b"p", b"SCRAM-SHA-256-PLUS\0" + struct.pack("!I", 33)
                            + b"p=tls-server-end-point,,n=,r=abcd")])
    write("real-sslreq-reneg12", REAL_SSLREQ | LOGIN | TLS12 | BYSTANDER, 0,
          [query("SELECT 1"), b"!reneg", query("SELECT 2")])
    write("real-sslreq-keyupdate13", REAL_SSLREQ | LOGIN | BYSTANDER, 0,
          [query("SELECT 1"), b"!reneg", query("SELECT 2"), b"!reneg", b"!reneg"])
    write("real-sslreq-close-notify", REAL_SSLREQ | LOGIN, 0,
          [query("BEGIN"), b"!close_notify", query("SELECT 2")])
    write("real-sslreq-inject-record", REAL_SSLREQ | LOGIN | BYSTANDER, 0,
          [query("SELECT 1"), b"!raw", b"\x17\x03\x03\x00\x20" + b"\x00" * 32, b"!raw",
           query("SELECT 2")])
    write("real-sslreq-inject-hello", REAL_SSLREQ | LOGIN, 0,
          [query("SELECT 1"), b"!raw", ch13])
    write("real-sslreq-eof", REAL_SSLREQ | LOGIN, 1, [query("BEGIN"), b"!eof"])
    write("real-sslreq-close", REAL_SSLREQ | LOGIN, 0, [query("BEGIN"), b"!close"])
    write("real-sslreq-bad-frame", REAL_SSLREQ | LOGIN | BYSTANDER, 0,
          [b"Q\xff\xff\xff\xff", query("SELECT 1")])
    write("real-sslreq-copy", REAL_SSLREQ | LOGIN, 1,
          [query("COPY t FROM STDIN"), frame(b"d", b"1\tone\n"), frame(b"c", b""),
           query("COPY t TO STDOUT")])
    write("real-direct-login", REAL_DIRECT | LOGIN, 0, login_q)
    write("real-direct-login-bystander", REAL_DIRECT | LOGIN | BYSTANDER, 3, login_q)
    write("real-direct-login12", REAL_DIRECT | LOGIN | TLS12, 1, login_q)
    write("real-direct-no-alpn", REAL_DIRECT | LOGIN | ALPN_NONE, 0, login_q)
    write("real-direct-http-alpn", REAL_DIRECT | LOGIN | ALPN_HTTP, 0, login_q)
    write("real-direct-both-alpn", REAL_DIRECT | LOGIN | ALPN_BOTH, 0, login_q)
    write("real-direct-cert", REAL_DIRECT | LOGIN | CERT, 2, login_q)
    write("real-direct-startup", REAL_DIRECT, 0, [startup(), query("SELECT 1")])

    # the frames of real drivers after their login (fuzz_client's seeds), inside TLS
    client = os.path.join(HERE, "seeds", "client")
    for name in sorted(os.listdir(client)):
        if not name.endswith("-login"):
            continue
        with open(os.path.join(client, name), "rb") as f:
            data = f.read()[2:]
        with open(os.path.join(OUT, "real-sslreq-" + name), "wb") as f:
            f.write(bytes([REAL_SSLREQ | LOGIN, 0]) + data)


if __name__ == "__main__":
    main()
