/*
 * tls: see tls.h. OpenSSL is used only through memory BIOs: rbio receives what conn.c read,
 * wbio collects what must be sent.
 */
#include "proxy/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config/log.h"

struct Tls {
	SSL *ssl;
	BIO *rbio; /* owned by ssl */
	BIO *wbio; /* owned by ssl */
	bool direct;
	char err[256];
};

static struct {
	const Config *cfg; /* whose files the contexts were built from */
	SSL_CTX *accept;   /* towards clients; NULL when client_tls_sslmode = disable */
	SSL_CTX *connect;  /* towards servers */
	/* the system's trust store is read into connect on the first verify-ca / verify-full
	 * connection without server_tls_ca_file (hundreds of certificates nobody else needs) */
	bool system_roots;
} T;

/* ALPN "postgresql" in wire form (length-prefixed). */
static const unsigned char alpn_pg[] = "\x0apostgresql";

/* PgBouncer's protocol names ("secure" = tlsv1.2,tlsv1.3; "all"/"legacy" = every version), as a
 * min and max version. */
static bool parse_protocols(const char *s, int *min, int *max, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		int min, max;
	} names[] = {
		{"secure", TLS1_2_VERSION, TLS1_3_VERSION},
		{"all", TLS1_VERSION, TLS1_3_VERSION},
		{"legacy", TLS1_VERSION, TLS1_3_VERSION},
		{"normal", TLS1_2_VERSION, TLS1_3_VERSION},
		{"tlsv1.0", TLS1_VERSION, TLS1_VERSION},
		{"tlsv1.1", TLS1_1_VERSION, TLS1_1_VERSION},
		{"tlsv1.2", TLS1_2_VERSION, TLS1_2_VERSION},
		{"tlsv1.3", TLS1_3_VERSION, TLS1_3_VERSION},
	};
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", s);
	*min = 0;
	*max = 0;
	char *save = NULL;
	for (char *w = strtok_r(buf, ",: \t", &save); w; w = strtok_r(NULL, ",: \t", &save)) {
		size_t i = 0;
		while (i < sizeof(names) / sizeof(names[0]) && strcasecmp(names[i].name, w) != 0)
			i++;
		if (i == sizeof(names) / sizeof(names[0])) {
			snprintf(err, errlen,
				 "unknown TLS protocol \"%s\" (secure, all, legacy, tlsv1.0, "
				 "tlsv1.1, tlsv1.2, tlsv1.3)",
				 w);
			return false;
		}
		if (!*min || names[i].min < *min)
			*min = names[i].min;
		if (names[i].max > *max)
			*max = names[i].max;
	}
	if (!*min) {
		*min = TLS1_2_VERSION;
		*max = TLS1_3_VERSION;
	}
	return true;
}

/* PgBouncer's cipher aliases; anything else is an OpenSSL cipher list. NULL: OpenSSL's default. */
static const char *cipher_list(const char *s)
{
	if (!s || !*s || !strcasecmp(s, "default"))
		return NULL;
	if (!strcasecmp(s, "secure") || !strcasecmp(s, "normal"))
		return "HIGH:!aNULL:!MD5";
	if (!strcasecmp(s, "fast"))
		return "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL";
	if (!strcasecmp(s, "all") || !strcasecmp(s, "legacy") || !strcasecmp(s, "compat"))
		return "ALL:!aNULL";
	return s;
}

static void openssl_reason(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char reason[200] = "";
	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	snprintf(err, errlen, "%s%s%s", what, reason[0] ? ": " : "", reason);
}

typedef struct CtxKeys {
	const char *prefix; /* "client_tls" / "server_tls", for messages */
	const char *key_file, *cert_file, *ca_file, *protocols, *ciphers, *tls13_ciphers;
} CtxKeys;

/* What both contexts share: versions, ciphers, no renegotiation nor compression, buffers given
 * back while a connection is idle (an idle TLS connection then costs a few kB, not 40). */
static bool ctx_common(SSL_CTX *ctx, const CtxKeys *k, char *err, size_t errlen)
{
	int min, max;
	if (!parse_protocols(k->protocols, &min, &max, err, errlen))
		return false;
	SSL_CTX_set_min_proto_version(ctx, min);
	SSL_CTX_set_max_proto_version(ctx, max);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	const char *list = cipher_list(k->ciphers);
	if (list && SSL_CTX_set_cipher_list(ctx, list) != 1) {
		char what[300];
		snprintf(what, sizeof(what), "%s_ciphers \"%s\" selects no cipher", k->prefix,
			 k->ciphers);
		openssl_reason(err, errlen, what);
		return false;
	}
	if (k->tls13_ciphers && SSL_CTX_set_ciphersuites(ctx, k->tls13_ciphers) != 1) {
		char what[300];
		snprintf(what, sizeof(what), "%s13_ciphers \"%s\" selects no cipher suite",
			 k->prefix, k->tls13_ciphers);
		openssl_reason(err, errlen, what);
		return false;
	}
	if (k->cert_file) {
		char what[600];
		if (SSL_CTX_use_certificate_chain_file(ctx, k->cert_file) != 1) {
			snprintf(what, sizeof(what), "%s_cert_file %s", k->prefix, k->cert_file);
			openssl_reason(err, errlen, what);
			return false;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, k->key_file, SSL_FILETYPE_PEM) != 1) {
			snprintf(what, sizeof(what), "%s_key_file %s", k->prefix, k->key_file);
			openssl_reason(err, errlen, what);
			return false;
		}
		if (SSL_CTX_check_private_key(ctx) != 1) {
			snprintf(what, sizeof(what),
				 "%s_key_file %s does not match %s_cert_file %s", k->prefix,
				 k->key_file, k->prefix, k->cert_file);
			openssl_reason(err, errlen, what);
			return false;
		}
	}
	if (k->ca_file && SSL_CTX_load_verify_locations(ctx, k->ca_file, NULL) != 1) {
		char what[600];
		snprintf(what, sizeof(what), "%s_ca_file %s", k->prefix, k->ca_file);
		openssl_reason(err, errlen, what);
		return false;
	}
	return true;
}

/* ALPN: a client that offers protocols must offer "postgresql" (as PostgreSQL 17 requires); one
 * that offers none is fine unless it started TLS directly (checked after the handshake). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	unsigned char *sel;
	if (SSL_select_next_proto(&sel, outlen, alpn_pg, sizeof(alpn_pg) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static bool dh_and_groups(SSL_CTX *ctx, const Config *cfg, char *err, size_t errlen)
{
	/* OpenSSL 3 picks RFC 7919 groups for DHE itself ("auto"); "none" turns DHE off */
	SSL_CTX_set_dh_auto(ctx, strcasecmp(cfg->client_tls_dheparams, "none") != 0);
	const char *curve = cfg->client_tls_ecdhcurve;
	if (curve && *curve && strcasecmp(curve, "auto") != 0 && strcasecmp(curve, "none") != 0 &&
	    SSL_CTX_set1_groups_list(ctx, curve) != 1) {
		char what[300];
		snprintf(what, sizeof(what), "client_tls_ecdhcurve \"%s\" names no known group",
			 curve);
		openssl_reason(err, errlen, what);
		return false;
	}
	return true;
}

/* A context with k's files and settings (ctx_common); NULL with err set. */
static SSL_CTX *ctx_new(const SSL_METHOD *method, const CtxKeys *k, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(method);
	if (!ctx) {
		openssl_reason(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	if (!ctx_common(ctx, k, err, errlen)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static SSL_CTX *build_accept(const Config *cfg, char *err, size_t errlen)
{
	CtxKeys k = {"client_tls",
		     cfg->client_tls_key_file,
		     cfg->client_tls_cert_file,
		     cfg->client_tls_ca_file,
		     cfg->client_tls_protocols,
		     cfg->client_tls_ciphers,
		     cfg->client_tls13_ciphers};
	SSL_CTX *ctx = ctx_new(TLS_server_method(), &k, err, errlen);
	if (ctx && !dh_and_groups(ctx, cfg, err, errlen)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (!ctx)
		return NULL;
	/* verify-ca / verify-full (and auth_type = cert) need a client certificate; with only a
	 * CA a certificate is asked for and checked when the client has one */
	int verify = SSL_VERIFY_NONE;
	if (cfg->client_tls_sslmode >= TLS_VERIFY_CA || cfg->auth_type == AUTH_CERT)
		verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	else if (cfg->client_tls_ca_file)
		verify = SSL_VERIFY_PEER;
	SSL_CTX_set_verify(ctx, verify, NULL);
	if (cfg->client_tls_ca_file) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->client_tls_ca_file);
		if (names)
			SSL_CTX_set_client_CA_list(ctx, names);
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	/* no session tickets: every connection is a fresh handshake, as PostgreSQL does */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

static SSL_CTX *build_connect(const Config *cfg, char *err, size_t errlen)
{
	CtxKeys k = {"server_tls",
		     cfg->server_tls_key_file,
		     cfg->server_tls_cert_file,
		     cfg->server_tls_ca_file,
		     cfg->server_tls_protocols,
		     cfg->server_tls_ciphers,
		     cfg->server_tls13_ciphers};
	SSL_CTX *ctx = ctx_new(TLS_client_method(), &k, err, errlen);
	if (!ctx)
		return NULL;
	SSL_CTX_set_alpn_protos(ctx, alpn_pg, sizeof(alpn_pg) - 1);
	return ctx;
}

/* Whether the context towards servers is built (and its files checked) now rather than at the
 * first server that answers 'S': when TLS towards servers is required somewhere or has files.
 * A proxy that only prefers TLS to servers without it never loads OpenSSL's TLS state. */
static bool connect_needed_now(const Config *cfg)
{
	if (cfg->server_tls_sslmode >= TLS_REQUIRE || cfg->server_tls_ca_file ||
	    cfg->server_tls_cert_file ||
	    (cfg->server_tls_ciphers && strcasecmp(cfg->server_tls_ciphers, "default") != 0) ||
	    cfg->server_tls13_ciphers)
		return true;
	for (size_t i = 0; i < cfg->n_dbs; i++)
		if (cfg->dbs[i].sslmode >= TLS_REQUIRE)
			return true;
	return false;
}

bool tls_refresh(const Config *cfg, char *err, size_t errlen)
{
	if (cfg == T.cfg)
		return true;
	T.cfg = cfg;
	SSL_CTX *acc = NULL, *con = NULL;
	if (connect_needed_now(cfg) && !(con = build_connect(cfg, err, errlen)))
		return false;
	if (cfg->client_tls_sslmode != TLS_DISABLE) {
		acc = build_accept(cfg, err, errlen);
		if (!acc) {
			SSL_CTX_free(con);
			return false;
		}
	}
	SSL_CTX_free(T.accept); /* connections that use it hold their own reference */
	SSL_CTX_free(T.connect);
	T.accept = acc;
	T.connect = con; /* NULL: built by the first tls_new_connect */
	T.system_roots = cfg->server_tls_ca_file != NULL;
	return true;
}

bool tls_accept_ready(void)
{
	return T.accept != NULL;
}

void tls_module_cleanup(void)
{
	SSL_CTX_free(T.accept);
	SSL_CTX_free(T.connect);
	memset(&T, 0, sizeof(T));
}

static Tls *tls_new(SSL_CTX *ctx)
{
	if (!ctx)
		return NULL;
	Tls *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ssl = SSL_new(ctx);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (!t->ssl || !t->rbio || !t->wbio) {
		SSL_free(t->ssl);
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		free(t);
		return NULL;
	}
	/* an empty memory BIO means "no data yet", not end of file */
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	return t;
}

Tls *tls_new_accept(bool direct)
{
	Tls *t = tls_new(T.accept);
	if (!t)
		return NULL;
	t->direct = direct;
	SSL_set_accept_state(t->ssl);
	return t;
}

static bool is_ip_literal(const char *host)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

Tls *tls_new_connect(const char *host, TlsMode mode)
{
	if (!T.connect && T.cfg) {
		char err[300];
		T.connect = build_connect(T.cfg, err, sizeof(err));
		if (!T.connect) {
			log_error("TLS towards servers: %s", err);
			return NULL;
		}
	}
	if (mode >= TLS_VERIFY_CA && T.connect && !T.system_roots) {
		SSL_CTX_set_default_verify_paths(T.connect);
		T.system_roots = true;
	}
	Tls *t = tls_new(T.connect);
	if (!t)
		return NULL;
	SSL_set_connect_state(t->ssl);
	if (host && !is_ip_literal(host))
		SSL_set_tlsext_host_name(t->ssl, host);
	/* require: encryption only, as libpq does without a root certificate */
	SSL_set_verify(t->ssl, mode >= TLS_VERIFY_CA ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	if (mode == TLS_VERIFY_FULL && host) {
		/* a host name is checked against the certificate's names, an IP literal against
		 * its IP addresses */
		X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
		X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (is_ip_literal(host))
			X509_VERIFY_PARAM_set1_ip_asc(vp, host);
		else
			SSL_set1_host(t->ssl, host);
	}
	return t;
}

void tls_free(Tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl); /* frees both BIOs */
	free(t);
}

bool tls_feed(Tls *t, const void *data, size_t len)
{
	size_t done = 0;
	return BIO_write_ex(t->rbio, data, len, &done) == 1 && done == len;
}

size_t tls_buffered_in(const Tls *t)
{
	return BIO_ctrl_pending(t->rbio);
}

/* The reason of a failed call: the verification result when a certificate was refused, else
 * OpenSSL's error queue. */
static void set_error(Tls *t, const char *what)
{
	long vr = SSL_get_verify_result(t->ssl);
	if (vr != X509_V_OK) {
		snprintf(t->err, sizeof(t->err), "%s: certificate verify failed: %s", what,
			 X509_verify_cert_error_string(vr));
		ERR_clear_error();
		return;
	}
	openssl_reason(t->err, sizeof(t->err), what);
}

TlsStep tls_handshake(Tls *t)
{
	ERR_clear_error();
	int r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		const unsigned char *proto = NULL;
		unsigned int plen = 0;
		SSL_get0_alpn_selected(t->ssl, &proto, &plen);
		if (t->direct && plen == 0) {
			snprintf(t->err, sizeof(t->err),
				 "direct TLS connection without ALPN \"postgresql\"");
			return TLS_FAIL;
		}
		return TLS_DONE;
	}
	int e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return TLS_AGAIN;
	set_error(t, "TLS handshake failed");
	return TLS_FAIL;
}

ssize_t tls_read(Tls *t, void *out, size_t cap)
{
	size_t n = 0;
	ERR_clear_error();
	if (SSL_read_ex(t->ssl, out, cap, &n) == 1)
		return (ssize_t)n;
	int e = SSL_get_error(t->ssl, 0);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	if (e == SSL_ERROR_ZERO_RETURN)
		snprintf(t->err, sizeof(t->err), "peer closed the TLS connection");
	else
		set_error(t, "TLS read failed");
	return -1;
}

bool tls_has_pending(const Tls *t)
{
	return SSL_pending(t->ssl) > 0 || BIO_ctrl_pending(t->rbio) > 0;
}

bool tls_write(Tls *t, const void *data, size_t len)
{
	size_t n = 0;
	ERR_clear_error();
	if (len == 0)
		return true;
	if (SSL_write_ex(t->ssl, data, len, &n) == 1 && n == len)
		return true;
	set_error(t, "TLS write failed");
	return false;
}

size_t tls_out_len(const Tls *t)
{
	return BIO_ctrl_pending(t->wbio);
}

size_t tls_take_out(Tls *t, void *buf, size_t cap)
{
	size_t n = 0;
	if (BIO_read_ex(t->wbio, buf, cap, &n) != 1)
		return 0;
	return n;
}

const char *tls_error(const Tls *t)
{
	return t->err[0] ? t->err : "TLS error";
}

void tls_describe(const Tls *t, char *buf, size_t len)
{
	if (!t || !SSL_is_init_finished(t->ssl)) {
		if (len)
			buf[0] = '\0';
		return;
	}
	snprintf(buf, len, "%s/%s", SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl));
}

bool tls_peer_cn(const Tls *t, char *buf, size_t len)
{
	X509 *peer = SSL_get0_peer_certificate(t->ssl);
	if (!peer || SSL_get_verify_result(t->ssl) != X509_V_OK)
		return false;
	X509_NAME *name = X509_get_subject_name(peer);
	return name && X509_NAME_get_text_by_NID(name, NID_commonName, buf, (int)len) > 0;
}

bool tls_server_end_point(const Tls *t, unsigned char *out, size_t cap, size_t *len)
{
	X509 *cert = SSL_get_certificate(t->ssl);
	if (!cert)
		return false;
	/* RFC 5929: the certificate's signature hash, SHA-256 when that is MD5 or SHA-1 */
	int md_nid = NID_undef;
	if (!X509_get_signature_info(cert, &md_nid, NULL, NULL, NULL))
		return false;
	const EVP_MD *md = md_nid == NID_md5 || md_nid == NID_sha1 ? EVP_sha256() :
								     EVP_get_digestbynid(md_nid);
	unsigned int n = 0;
	if (!md || (size_t)EVP_MD_get_size(md) > cap || X509_digest(cert, md, out, &n) != 1)
		return false;
	*len = n;
	return true;
}
