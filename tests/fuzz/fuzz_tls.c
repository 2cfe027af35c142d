/*
 * fuzz_tls: libFuzzer target for pgsift's TLS server path (proxy/tls.c, the TLS parts of
 * proxy/conn.c, client_ssl_request in proxy/client_login.c): SSLRequest answered with 'S' and
 * the handshake that follows, PostgreSQL 17's direct TLS (a ClientHello, byte 0x16, where the
 * startup packet belongs, ALPN "postgresql" required), and everything that then travels inside
 * TLS (the startup packet, the login, every frame). It runs in the harness of the wire fuzzers
 * (fuzz_wire.h: the real proxy code on its own libuv loop, real Unix sockets, the scripted fake
 * PostgreSQL behind it); this file adds a client whose bytes go through OpenSSL (memory BIOs)
 * or, in the raw modes, straight from the input onto the socket as TLS records.
 *
 * pgsift's certificate and key: a throwaway P-256 key and a self-signed certificate (CN
 * fuzzuser, CA:TRUE) made once per process with OpenSSL and written to the harness's temporary
 * directory; the same pair is the CA of client_tls_ca_file and the client certificate of the
 * cert-authentication configuration. Nothing secret is stored anywhere.
 *
 * Input: [mode][cfg] segment (WIRE_SEP segment)*
 *   mode bits 0-1  0: SSLRequest, then the segments raw (TLS records, or garbage, after 'S')
 *                  1: direct TLS, the segments raw (the first byte is forced to 0x16)
 *                  2: SSLRequest, then a real OpenSSL client handshakes; the segments are
 *                     application data inside TLS
 *                  3: direct TLS with a real OpenSSL client; segments as in 2
 *        bit  2    the real client allows TLS 1.2 at most (else TLS 1.3)
 *        bits 3-4  the real client's ALPN: "postgresql", none, "http/1.1",
 *                  "http/1.1" then "postgresql"
 *        bit  5    the harness logs in inside TLS first (startup packet for fuzzuser / db, md5
 *                  and SCRAM answered); the segments follow the login. Without it the segments
 *                  are the client's plaintext from the startup packet on
 *        bit  6    the real client presents the certificate (CN fuzzuser)
 *        bit  7    a bystander: a plain client that logs in before and must still get its
 *                  "SELECT 1" answered after the input (pgsift stayed up, others unaffected)
 *   cfg  bits 0-1  pgsift's configuration (configs[] below): TLS mode, auth_type, pool mode,
 *                  protocols and ciphers
 *        bit  2    raw modes: the SSLRequest and the first segment in one write (bytes that
 *                  were not encrypted after the SSLRequest, which pgsift must refuse)
 *   Segments that are exactly one of these are commands: "!reneg" (TLS 1.2: a renegotiation
 *   ClientHello, which pgsift refuses; TLS 1.3: a KeyUpdate asking for pgsift's), "!raw"
 *   (toggles: the following segments go onto the socket as they are, in the middle of the TLS
 *   stream), "!close_notify", "!eof" (shuts the client's writing side), "!close".
 *
 * Every run ends with the client's socket closed and fuzz_wire's end of run: every connection
 * of pgsift's must be closed and freed (it aborts otherwise), and LeakSanitizer checks that
 * the Tls objects went with them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "fuzz_wire.h"
#include "proxy/auth_md5.h"
#include "proxy/scram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MODE_REAL 2
#define MODE_DIRECT 1

/* ---- pgsift's throwaway certificate and the configurations ---- */

static struct {
	bool ready;
	EVP_PKEY *key;
	X509 *cert;
	SSL_CTX *client_ctx;
	const struct Config *cfgs[4];
} S;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_tls: %s\n", what);
	ERR_print_errors_fp(stderr);
	abort();
}

static void add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ex || !X509_add_ext(x, ex, -1))
		die("X509 extension");
	X509_EXTENSION_free(ex);
}

/* A throwaway P-256 key and a self-signed certificate for it, written as PEM files. */
static void make_cert(const char *key_path, const char *cert_path)
{
	S.key = EVP_EC_gen("P-256");
	S.cert = X509_new();
	if (!S.key || !S.cert)
		die("key generation");
	X509_set_version(S.cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(S.cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(S.cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(S.cert), 3650L * 86400);
	X509_set_pubkey(S.cert, S.key);
	X509_NAME *name = X509_get_subject_name(S.cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"fuzzuser", -1,
				   -1, 0);
	X509_set_issuer_name(S.cert, name);
	add_ext(S.cert, NID_basic_constraints, "critical,CA:TRUE");
	add_ext(S.cert, NID_key_usage, "critical,digitalSignature,keyCertSign");
	add_ext(S.cert, NID_subject_key_identifier, "hash");
	add_ext(S.cert, NID_subject_alt_name, "DNS:localhost");
	if (!X509_sign(S.cert, S.key, EVP_sha256()))
		die("X509_sign");
	FILE *f = fopen(key_path, "w");
	if (!f || !PEM_write_PrivateKey(f, S.key, NULL, NULL, 0, NULL, NULL) || fclose(f) != 0)
		die("writing the key");
	f = fopen(cert_path, "w");
	if (!f || !PEM_write_X509(f, S.cert) || fclose(f) != 0)
		die("writing the certificate");
}

static void setup(void)
{
	if (S.ready)
		return;
	char key[256], crt[256], keys[2048];
	snprintf(key, sizeof(key), "%s/tls.key", wire_dir());
	snprintf(crt, sizeof(crt), "%s/tls.crt", wire_dir());
	make_cert(key, crt);
	/* no admin_users / stats_users: nothing the fuzzer sends may pause or kill the
	 * bystander's pool; default_pool_size 2: the client under test holds one server at
	 * most, the bystander gets the other */
	static const char *const variants[4] = {
		"client_tls_sslmode = prefer\nauth_type = trust\npool_mode = session\n",
		"client_tls_sslmode = require\nauth_type = md5\npool_mode = transaction\n"
		"client_tls_protocols = all\nclient_tls_ciphers = all\n"
		"client_tls_ecdhcurve = prime256v1\n",
		"client_tls_sslmode = verify-full\nauth_type = cert\npool_mode = session\n"
		"client_tls_ca_file = %s\n",
		"client_tls_sslmode = prefer\nauth_type = scram-sha-256\npool_mode = transaction\n"
		"client_tls_protocols = tlsv1.3\n"
		"client_tls13_ciphers = TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256\n",
	};
	for (int i = 0; i < 4; i++) {
		char body[1024], name[32];
		snprintf(body, sizeof(body), variants[i], crt);
		snprintf(keys, sizeof(keys),
			 "%sclient_tls_key_file = %s\nclient_tls_cert_file = %s\n"
			 "default_pool_size = 2\n",
			 body, key, crt);
		snprintf(name, sizeof(name), "tls%d", i);
		S.cfgs[i] = wire_config(name, keys);
	}
	S.client_ctx = SSL_CTX_new(TLS_client_method());
	if (!S.client_ctx)
		die("SSL_CTX_new");
	SSL_CTX_set_verify(S.client_ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(S.client_ctx, SSL_SESS_CACHE_OFF);
	S.ready = true;
}

/* ---- the client under test ---- */

static struct {
	int fd;
	Buf out;	  /* for the socket, in order: raw bytes and OpenSSL's records */
	Buf plain;	  /* decrypted, not yet looked at */
	size_t pre_len;	  /* bytes received before TLS (pgsift's answer to SSLRequest) */
	uint8_t pre0;	  /* the first of them */
	SSL *ssl;	  /* the real client, once started */
	BIO *rbio, *wbio; /* owned by ssl */
	bool hs_done;	  /* the handshake completed (at least once) */
	bool hs_failed;	  /* it failed: the client sends nothing through OpenSSL any more */
	bool login;	  /* the harness answers authentication requests */
	bool logged_in;	  /* a ReadyForQuery came back */
	ScramClient *scram;
} C;

static struct {
	unsigned long runs, handshakes, logins;
} stats;

static void tls_put_frame(uint8_t type, const void *body, size_t len, bool cstring)
{
	uint8_t hdr[5];
	uint32_t n = (uint32_t)(len + 4 + (cstring ? 1 : 0));
	size_t h = 0;
	if (type)
		hdr[h++] = type;
	hdr[h++] = (uint8_t)(n >> 24);
	hdr[h++] = (uint8_t)(n >> 16);
	hdr[h++] = (uint8_t)(n >> 8);
	hdr[h++] = (uint8_t)n;
	Buf f = {0};
	buf_add(&f, hdr, h);
	buf_add(&f, body, len);
	if (cstring)
		buf_add(&f, "", 1);
	size_t done = 0;
	if (C.ssl && C.hs_done && SSL_write_ex(C.ssl, f.p, f.len, &done) != 1)
		ERR_clear_error();
	buf_free(&f);
}

static void tls_put_startup(void)
{
	static const char body[] = "\0\3\0\0user\0fuzzuser\0database\0db\0"
				   "application_name\0fuzz_tls\0";
	tls_put_frame(0, body, sizeof(body), false); /* the final NUL ends the parameters */
}

/* The harness's side of an authentication request (fuzzuser's password is fuzzpass). */
static void tls_answer_auth(const uint8_t *payload, size_t len)
{
	if (len < 4)
		return;
	uint32_t code = (uint32_t)payload[0] << 24 | (uint32_t)payload[1] << 16 |
			(uint32_t)payload[2] << 8 | payload[3];
	switch (code) {
	case 3:
		tls_put_frame('p', "fuzzpass", 8, true);
		break;
	case 5: {
		char out[64];
		if (len >= 8 && auth_md5_response("fuzzpass", "fuzzuser", payload + 4, out))
			tls_put_frame('p', out, strlen(out), true);
		break;
	}
	case 10: { /* SASL: SCRAM-SHA-256 without channel binding, as libpq's "prefer" */
		const char *msg;
		size_t msg_len;
		scram_client_free(C.scram);
		C.scram = scram_client_new("fuzzpass");
		if (!C.scram || scram_client_first(C.scram, &msg, &msg_len) != SCRAM_OK)
			break;
		Buf b = {0};
		uint8_t n[4] = {(uint8_t)(msg_len >> 24), (uint8_t)(msg_len >> 16),
				(uint8_t)(msg_len >> 8), (uint8_t)msg_len};
		buf_add(&b, "SCRAM-SHA-256", 14);
		buf_add(&b, n, 4);
		buf_add(&b, msg, msg_len);
		tls_put_frame('p', b.p, b.len, false);
		buf_free(&b);
		break;
	}
	case 11: {
		const char *reply;
		size_t reply_len;
		if (C.scram && scram_client_handle_first(C.scram, (const char *)payload + 4,
							 len - 4, &reply, &reply_len) == SCRAM_OK)
			tls_put_frame('p', reply, reply_len, false);
		break;
	}
	}
}

/* Looks at the decrypted stream: authentication requests, the login's ReadyForQuery. */
static void tls_scan_plain(void)
{
	size_t at = 0;
	while (C.plain.len - at >= 5) {
		const uint8_t *f = C.plain.p + at;
		uint32_t len =
			(uint32_t)f[1] << 24 | (uint32_t)f[2] << 16 | (uint32_t)f[3] << 8 | f[4];
		if (len < 4 || len > (1u << 24)) {
			at = C.plain.len;
			break;
		}
		if (C.plain.len - at < 1 + (size_t)len)
			break;
		if (f[0] == 'R' && C.login && !C.logged_in)
			tls_answer_auth(f + 5, len - 4);
		else if (f[0] == 'Z' && !C.logged_in) {
			C.logged_in = true;
			stats.logins++;
		}
		at += 1 + (size_t)len;
	}
	buf_drop(&C.plain, at);
}

/* OpenSSL's side: handshake, decryption, and its records into out. */
static bool tls_drive(void)
{
	bool moved = false;
	if (!C.ssl)
		return false;
	if (!C.hs_failed && !SSL_is_init_finished(C.ssl)) {
		int r = SSL_do_handshake(C.ssl);
		if (r == 1) {
			moved = true;
			if (!C.hs_done) {
				C.hs_done = true;
				stats.handshakes++;
				if (C.login)
					tls_put_startup();
			}
		} else {
			int e = SSL_get_error(C.ssl, r);
			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
				C.hs_failed = true;
				moved = true;
			}
		}
		ERR_clear_error();
	}
	if (C.hs_done && !C.hs_failed) {
		uint8_t tmp[16384];
		size_t n = 0;
		for (;;) {
			int r = SSL_read_ex(C.ssl, tmp, sizeof(tmp), &n);
			if (r == 1) {
				buf_add(&C.plain, tmp, n);
				moved = true;
				continue;
			}
			int e = SSL_get_error(C.ssl, 0);
			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				C.hs_failed = true; /* close_notify, an alert, a bad record */
			break;
		}
		ERR_clear_error();
		tls_scan_plain();
	}
	uint8_t tmp[16384];
	size_t n = 0;
	while (BIO_read_ex(C.wbio, tmp, sizeof(tmp), &n) == 1 && n > 0) {
		buf_add(&C.out, tmp, n);
		moved = true;
	}
	return moved;
}

static void client_close(void)
{
	if (C.fd >= 0)
		close(C.fd);
	C.fd = -1;
}

/* One pass of the harness: the client's socket both ways. */
static bool client_pass(void *arg)
{
	(void)arg;
	if (C.fd < 0)
		return false;
	bool moved = false, dead = false;
	uint8_t tmp[65536];
	for (;;) {
		ssize_t n = recv(C.fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (n > 0) {
			moved = true;
			if (C.ssl) {
				if (BIO_write(C.rbio, tmp, (int)n) != n)
					abort();
			} else {
				if (C.pre_len == 0)
					C.pre0 = tmp[0];
				C.pre_len += (size_t)n;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || errno != EAGAIN)
			dead = true;
		break;
	}
	moved |= tls_drive();
	while (C.out.len) {
		ssize_t n = send(C.fd, C.out.p, C.out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf_drop(&C.out, (size_t)n);
			moved = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			dead = true;
		break;
	}
	if (dead) {
		client_close();
		moved = true;
	}
	return moved;
}

static void client_start_tls(uint8_t mode)
{
	C.ssl = SSL_new(S.client_ctx);
	C.rbio = BIO_new(BIO_s_mem());
	C.wbio = BIO_new(BIO_s_mem());
	if (!C.ssl || !C.rbio || !C.wbio)
		abort();
	BIO_set_mem_eof_return(C.rbio, -1);
	SSL_set_bio(C.ssl, C.rbio, C.wbio);
	SSL_set_connect_state(C.ssl);
	if (mode & 4)
		SSL_set_max_proto_version(C.ssl, TLS1_2_VERSION);
	static const unsigned char *const alpn[4] = {
		(const unsigned char *)"\x0apostgresql",
		NULL,
		(const unsigned char *)"\x08http/1.1",
		(const unsigned char *)"\x08http/1.1\x0apostgresql",
	};
	static const unsigned alpn_len[4] = {11, 0, 9, 20};
	int a = (mode >> 3) & 3;
	if (alpn[a])
		SSL_set_alpn_protos(C.ssl, alpn[a], alpn_len[a]);
	if (mode & 0x40) {
		SSL_use_certificate(C.ssl, S.cert);
		SSL_use_PrivateKey(C.ssl, S.key);
	}
	SSL_set_tlsext_host_name(C.ssl, "localhost");
	tls_drive(); /* the ClientHello */
}

static bool segment_is(const uint8_t *p, size_t n, const char *cmd)
{
	return n == strlen(cmd) && memcmp(p, cmd, n) == 0;
}

static void client_segment(const uint8_t *p, size_t n, bool *raw)
{
	if (segment_is(p, n, "!raw")) {
		*raw = !*raw;
	} else if (segment_is(p, n, "!reneg")) {
		if (C.ssl && C.hs_done && !C.hs_failed) {
			if (SSL_version(C.ssl) >= TLS1_3_VERSION)
				SSL_key_update(C.ssl, SSL_KEY_UPDATE_REQUESTED);
			else
				SSL_renegotiate(C.ssl);
			SSL_do_handshake(C.ssl);
			ERR_clear_error();
			tls_drive();
		}
	} else if (segment_is(p, n, "!close_notify")) {
		if (C.ssl && C.hs_done && !C.hs_failed) {
			SSL_shutdown(C.ssl);
			ERR_clear_error();
			tls_drive();
		}
	} else if (segment_is(p, n, "!eof")) {
		if (C.fd >= 0)
			shutdown(C.fd, SHUT_WR);
	} else if (segment_is(p, n, "!close")) {
		client_close();
	} else if (*raw || !C.ssl || !C.hs_done || C.hs_failed) {
		buf_add(&C.out, p, n);
	} else if (n) {
		size_t done = 0;
		if (SSL_write_ex(C.ssl, p, n, &done) != 1)
			ERR_clear_error();
		tls_drive();
	}
}

static void client_reset(void)
{
	client_close();
	SSL_free(C.ssl);
	scram_client_free(C.scram);
	buf_free(&C.out);
	buf_free(&C.plain);
	memset(&C, 0, sizeof(C));
	C.fd = -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t ssl_request[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
	if (size < 2)
		return 0;
	setup();
	uint8_t mode = data[0], cfgb = data[1];
	data += 2;
	size -= 2;
	client_reset();
	wire_custom_begin(S.cfgs[cfgb & 3], client_pass, NULL);
	bool bystander = (mode & 0x80) && wire_bystander_login();

	C.fd = wire_connect();
	C.login = (mode & 0x20) != 0;
	bool real = (mode & MODE_REAL) != 0, direct = (mode & MODE_DIRECT) != 0;
	bool raw = !real;
	bool first = true;
	if (!direct) {
		buf_add(&C.out, ssl_request, sizeof(ssl_request));
		if (real || !(cfgb & 4))
			wire_run_until_quiet();
		if (real && C.fd >= 0 && C.pre_len == 1 && C.pre0 == 'S') {
			client_start_tls(mode);
			wire_run_until_quiet();
		}
	} else if (real) {
		client_start_tls(mode);
		wire_run_until_quiet();
	}

	for (;;) {
		const uint8_t *end = memmem(data, size, WIRE_SEP, WIRE_SEP_LEN);
		size_t n = end ? (size_t)(end - data) : size;
		if (first && direct && !real && n > 0) {
			/* the first byte pgsift sees decides direct TLS */
			buf_add(&C.out, "\x16", 1);
			client_segment(data + 1, n - 1, &raw);
		} else {
			client_segment(data, n, &raw);
		}
		first = first && n == 0;
		wire_run_until_quiet();
		if (!end)
			break;
		data += n + WIRE_SEP_LEN;
		size -= n + WIRE_SEP_LEN;
	}

	if (bystander && !wire_bystander_query()) {
		fprintf(stderr,
			"fuzz_tls: the bystander's SELECT 1 got no answer after this input\n");
		abort();
	}
	client_reset();
	wire_custom_end();
	stats.runs++;
	if (getenv("PGSIFT_FUZZ_TLS_STATS") && (stats.runs & (stats.runs - 1)) == 0)
		fprintf(stderr, "fuzz_tls: %lu runs, %lu handshakes completed, %lu logins\n",
			stats.runs, stats.handshakes, stats.logins);
	return 0;
}
