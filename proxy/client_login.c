/*
 * client_login: a client from its first byte to CL_IDLE. It answers SSLRequest with 'S' and starts
 * TLS when client_tls_sslmode allows (tls.h; a ClientHello in place of the startup packet is
 * PostgreSQL 17's direct TLS, started by conn.c), GSSENCRequest with 'N', refuses plaintext
 * clients when TLS is required, hands CancelRequests to cancel.c, reads the startup packet (user,
 * database, parameters, `options`), checks the limits, authenticates (trust, plain, md5,
 * SCRAM-SHA-256 against auth_file; the SCRAM keys a client proves are kept for pass-through to
 * the server), and once the pool knows its servers' parameters, greets the client as PostgreSQL
 * would: AuthenticationOk, ParameterStatus, its own BackendKeyData, ReadyForQuery.
 */
#include "proxy/client_internal.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "config/log.h"
#include "proxy/admin.h"
#include "proxy/auth_md5.h"
#include "proxy/authquery.h"
#include "proxy/cancel.h"
#include "proxy/hba.h"
#include "proxy/pgspell.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"
#include "proxy/scram.h"
#include "proxy/server.h"

enum {
	AUTH_STEP_NONE = 0,
	AUTH_STEP_MD5,
	AUTH_STEP_PLAIN,
	AUTH_STEP_SASL_INIT,
	AUTH_STEP_SASL_FINAL
};

static PktAction client_login_ok(Client *c);
static bool client_read_startup(Client *c, const PktHdr *hdr, const uint8_t *pkt,
				const char **unknown, size_t *n_unknown, bool *ok_out);
static PktAction client_start_auth(Client *c);
static bool client_within_limits(Client *c);

void client_tls_done(Conn *conn, bool ok)
{
	Client *c = (Client *)conn;
	if (ok) {
		char desc[128];
		conn_tls_describe(conn, desc, sizeof(desc));
		log_debug("client %s:%d: TLS %s", c->addr, c->port, desc);
		return;
	}
	/* nothing can be said to the client: the failure is in the layer that would carry it */
	log_info("client %s:%d: %s", c->addr, c->port, tls_error(conn->tls));
	client_close(c, "TLS handshake failed");
}

/* SSLRequest: 'S' and a TLS handshake when client_tls_sslmode is set, else 'N'. */
static PktAction client_ssl_request(Client *c)
{
	char err[300];
	if (!tls_refresh(G.cfg, err, sizeof(err)))
		log_error("TLS keeps its previous settings: %s", err);
	if (!tls_accept_ready() || c->conn.tls) {
		if (conn_send(&c->conn, "N", 1) != 0) {
			client_close(c, "write failed");
			return PA_CLOSED;
		}
		return PA_CONSUMED;
	}
	if (conn_bytes_after_frame(&c->conn) > 0) {
		/* bytes sent before encryption could be injected by anyone on the path (the
		 * reason PostgreSQL refuses them, CVE-2021-23214) */
		client_fail(c, "08P01", "received unencrypted data after SSL request");
		return PA_CLOSED;
	}
	Tls *t = tls_new_accept(false);
	if (!t || conn_send(&c->conn, "S", 1) != 0) {
		tls_free(t);
		client_close(c, t ? "write failed" : "out of memory");
		return PA_CLOSED;
	}
	conn_start_tls(&c->conn, t, client_tls_done);
	return c->state == CL_CLOSING ? PA_CLOSED : PA_CONSUMED;
}

/* The first frame of a connection (and the next one after an SSLRequest). */
PktAction client_startup(Client *c, const PktHdr *hdr, const uint8_t *pkt)
{
	const Config *cfg = G.cfg;
	if (hdr->code == PQ_SSL_REQUEST_CODE && hdr->len == 8)
		return client_ssl_request(c);
	if (hdr->code == PQ_SSL_REQUEST_CODE || hdr->code == PQ_GSSENC_REQUEST_CODE) {
		if (hdr->len != 8) {
			client_fail(c, "08P01", "invalid length of encryption request");
			return PA_CLOSED;
		}
		if (conn_send(&c->conn, "N", 1) != 0) {
			client_close(c, "write failed");
			return PA_CLOSED;
		}
		return PA_CONSUMED;
	}
	if (hdr->code == PQ_CANCEL_REQUEST_CODE)
		return cancel_request(c, hdr, pkt);
	if (cfg->client_tls_sslmode >= TLS_REQUIRE && !c->conn.tls && !c->conn.is_pipe) {
		/* like PostgreSQL's hostssl: the Unix socket never needs TLS */
		client_fail(c, "28000",
			    "TLS required: connect with sslmode=require or stronger "
			    "(client_tls_sslmode = %s)",
			    tls_mode_str(cfg->client_tls_sslmode));
		return PA_CLOSED;
	}
	if ((hdr->code >> 16) != 3) {
		client_fail(c, "0A000", "unsupported frontend protocol %u.%u: server supports 3.0",
			    hdr->code >> 16, hdr->code & 0xffff);
		return PA_CLOSED;
	}

	const char *unknown[16];
	size_t n_unknown = 0;
	bool ok;
	if (!client_read_startup(c, hdr, pkt, unknown, &n_unknown, &ok))
		return PA_CLOSED;
	if (!ok) {
		client_fail(c, "53200", "out of memory");
		return PA_CLOSED;
	}
	if (!c->user || !c->user[0]) {
		client_fail(c, "28000", "no PostgreSQL user name specified in startup packet");
		return PA_CLOSED;
	}
	if (!c->dbname || !c->dbname[0]) {
		free(c->dbname);
		c->dbname = strdup(c->user);
		if (!c->dbname) {
			client_fail(c, "53200", "out of memory");
			return PA_CLOSED;
		}
	}
	if ((hdr->code & 0xffff) > 0 || n_unknown > 0) {
		PktBuf b;
		pktbuf_init(&b);
		pq_write_negotiate_version(&b, PQ_PROTOCOL_3_0, unknown, n_unknown);
		(void)conn_send_pktbuf(&c->conn, &b);
		pktbuf_free(&b);
	}
	c->conn.startup_phase = false;
	c->conn.max_packet = (uint32_t)cfg->max_packet_size;
	/* No check of G.shutting_down: draining (SIGTERM, a takeover) closes the listeners first,
	 * so a client logging in now was accepted before and is served like the others; with a
	 * takeover it is one the kernel queued on the socket both processes were accepting from. */
	if (cfg->max_client_conn > 0 && G.n_clients > (size_t)cfg->max_client_conn) {
		client_fail(c, "53300", "no more connections allowed (max_client_conn)");
		return PA_CLOSED;
	}
	c->is_admin = strcmp(c->dbname, "pgsift") == 0 || strcmp(c->dbname, "pgbouncer") == 0;
	if (!c->is_admin && !client_within_limits(c))
		return PA_CLOSED;
	if (!c->is_admin) {
		const char *err = NULL;
		c->pool = pool_get(c->dbname, c->user, &err);
		if (!c->pool) {
			if (strcmp(err, "no such database") == 0)
				client_fail(c, "3D000", "database \"%s\" does not exist",
					    c->dbname);
			else
				client_fail(c, "53200", "%s", err);
			return PA_CLOSED;
		}
	}
	return client_start_auth(c);
}

/*
 * max_db_client_connections and max_user_client_connections, as PgBouncer: the clients already
 * admitted to the database (any user) or as the user (any database), this one not counted, must
 * be fewer than the limit. Admitted means past this check: such a client has its pool. False
 * when c was refused (53300, and the caller returns).
 */
static bool client_within_limits(Client *c)
{
	const Config *cfg = G.cfg;
	if (cfg->max_db_client_connections <= 0 && cfg->max_user_client_connections <= 0)
		return true;
	size_t same_db = 0, same_user = 0;
	ListNode *n;
	for (n = G.clients.head.next; n != &G.clients.head; n = n->next) {
		const Client *o = list_entry(n, Client, all_node);
		if (o == c || !o->pool || o->is_admin || o->state == CL_CLOSING)
			continue;
		if (o->dbname && strcmp(o->dbname, c->dbname) == 0)
			same_db++;
		if (o->user && strcmp(o->user, c->user) == 0)
			same_user++;
	}
	if (cfg->max_db_client_connections > 0 &&
	    same_db >= (size_t)cfg->max_db_client_connections) {
		client_fail(c, "53300", "no more connections allowed (max_db_client_connections)");
		return false;
	}
	if (cfg->max_user_client_connections > 0 &&
	    same_user >= (size_t)cfg->max_user_client_connections) {
		client_fail(c, "53300",
			    "no more connections allowed (max_user_client_connections)");
		return false;
	}
	return true;
}

/* The startup packet's key/value pairs, ended by an empty key, into c: user, database,
 * `options`, parameters (the protocol extensions it asks for, _pq_.*, into unknown). False when
 * the client was failed; *ok false when memory ran out. */
static bool client_read_startup(Client *c, const PktHdr *hdr, const uint8_t *pkt,
				const char **unknown, size_t *n_unknown, bool *ok_out)
{
	const Config *cfg = G.cfg;
	PktReader r;
	pkt_reader_init(&r, pkt + 8, hdr->len - 8);
	bool ok = true;
	for (;;) {
		const char *key, *val;
		size_t klen;
		if (!pkt_get_cstring(&r, &key, &klen)) {
			client_fail(
				c, "08P01",
				"invalid startup packet layout: expected terminator as last byte");
			return false;
		}
		if (klen == 0)
			break;
		if (!pkt_get_cstring(&r, &val, NULL)) {
			client_fail(
				c, "08P01",
				"invalid startup packet layout: expected terminator as last byte");
			return false;
		}
		if (strcmp(key, "user") == 0) {
			free(c->user);
			c->user = strdup(val);
			ok = ok && c->user;
		} else if (strcmp(key, "database") == 0) {
			free(c->dbname);
			c->dbname = strdup(val);
			ok = ok && c->dbname;
		} else if (strcmp(key, "replication") == 0) {
			if (strcasecmp(val, "false") != 0 && strcasecmp(val, "off") != 0 &&
			    strcmp(val, "0") != 0) {
				client_fail(c, "08P01",
					    "replication connections are not supported by pgsift");
				return false;
			}
		} else if (strcmp(key, "options") == 0) {
			ok = ok && client_parse_options(c, val);
		} else if (strncmp(key, "_pq_.", 5) == 0) {
			if (*n_unknown < 16)
				unknown[(*n_unknown)++] = key;
		} else if (config_list_has(cfg->ignore_startup_parameters, key)) {
			continue;
		} else {
			if (strcmp(key, "application_name") == 0) {
				free(c->app_name);
				c->app_name = strdup(val);
			}
			/* kept as PostgreSQL will report it (utf8 -> UTF8), so that the greeting
			 * says what PostgreSQL would and servers are not set up again for it */
			char spelled[64];
			if (pgspell_value(key, val, NULL, spelled, sizeof(spelled)))
				val = spelled;
			ok = ok && varcache_set(&c->params, key, val);
		}
	}
	*ok_out = ok;
	return true;
}

/* The startup packet was accepted: the authentication exchange auth_type calls for begins (or,
 * with trust, the client is logged in at once). */
/* auth_hba_file's rules for the current Config: read again after a reload; a file that does not
 * load keeps the rules read before (and says why), and with none every client is refused. */
static const HbaRules *client_hba_rules(void)
{
	static HbaRules *rules;
	static const Config *read_for;
	const Config *cfg = G.cfg;
	if (read_for == cfg || !cfg->auth_hba_file)
		return rules;
	read_for = cfg;
	char err[512];
	HbaRules *fresh = hba_load(cfg->auth_hba_file, err, sizeof(err));
	if (!fresh) {
		log_error("auth_hba_file: %s%s", err,
			  rules ? " (the rules read before stay in use)" : "");
		return rules;
	}
	hba_free(rules);
	rules = fresh;
	return rules;
}

/* peer: the Unix socket's other end runs as the operating-system user of the same name. */
static bool client_peer_is_user(Client *c)
{
	uv_os_fd_t fd;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (!c->conn.is_pipe || uv_fileno(&c->conn.h.handle, &fd) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return false;
	struct passwd pw, *found = NULL;
	char buf[1024];
	return getpwuid_r(cred.uid, &pw, buf, sizeof(buf), &found) == 0 && found &&
	       strcmp(found->pw_name, c->user) == 0;
}

/* PostgreSQL's words for a refused client: host, user, database, encryption. */
static void client_hba_refuse(Client *c, bool matched)
{
	client_fail(c, "28000", "%s for host \"%s\", user \"%s\", database \"%s\", %s",
		    matched ? "pg_hba.conf rejects connection" : "no pg_hba.conf entry", c->addr,
		    c->user, c->dbname, c->conn.tls ? "SSL encryption" : "no encryption");
}

/* The method this client authenticates with: auth_type, or under auth_type = hba the first
 * matching line of auth_hba_file. False when the client was refused. */
static bool client_pick_method(Client *c, const char *secret, AuthType *method)
{
	const Config *cfg = G.cfg;
	*method = cfg->auth_type;
	if (cfg->auth_type != AUTH_HBA)
		return true;
	const HbaRules *rules = client_hba_rules();
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	bool tcp = !c->conn.is_pipe &&
		   uv_tcp_getpeername(&c->conn.h.tcp, (struct sockaddr *)&ss, &len) == 0;
	HbaClient hc = {.is_unix = c->conn.is_pipe,
			.addr = tcp ? (const struct sockaddr *)&ss : NULL,
			.tls = c->conn.tls != NULL,
			.database = c->dbname,
			.user = c->user};
	int line = 0;
	HbaMethod m = rules ? hba_match(rules, &hc, &line) : HBA_REJECT;
	switch (m) {
	case HBA_TRUST:
		*method = AUTH_TRUST;
		return true;
	case HBA_MD5:
		/* as in PostgreSQL, md5 with a SCRAM secret authenticates with SCRAM */
		*method = secret && strncmp(secret, "SCRAM-SHA-256$", 14) == 0 ? AUTH_SCRAM :
										 AUTH_MD5;
		return true;
	case HBA_SCRAM:
		*method = AUTH_SCRAM;
		return true;
	case HBA_PASSWORD:
		*method = AUTH_PLAIN;
		return true;
	case HBA_CERT:
		*method = AUTH_CERT;
		return true;
	case HBA_PEER:
		if (client_peer_is_user(c)) {
			*method = AUTH_TRUST;
			return true;
		}
		client_fail(c, "28000", "peer authentication failed for user \"%s\"", c->user);
		return false;
	case HBA_REJECT:
		break;
	}
	client_hba_refuse(c, line > 0);
	return false;
}

/* cert: a verified client certificate whose common name is the user name. */
static PktAction client_cert_login(Client *c)
{
	char cn[256];
	if (c->conn.tls && tls_peer_cn(c->conn.tls, cn, sizeof(cn)) && strcmp(cn, c->user) == 0)
		return client_login_ok(c);
	client_fail(c, "28000", "certificate authentication failed for user \"%s\"", c->user);
	return PA_CLOSED;
}

/* The secret a client's password is checked against: its auth_file line, else what auth_query
 * found. */
static const char *client_secret(const Client *c)
{
	const UserEntry *u = config_find_user(G.cfg, c->user);
	return u ? u->secret : c->auth_secret;
}

static PktAction client_continue_auth(Client *c);

/* auth_query answered (authquery.h): the exchange goes on with the secret found, or with none
 * (a user that does not exist fails like a wrong password), or the client hears why the lookup
 * failed. */
static void client_lookup_done(void *arg, bool found, const char *secret, const char *error)
{
	Client *c = arg;
	c->auth_lookup = NULL;
	if (error) {
		client_fail(c, "28000", "authentication lookup failed (auth_query): %s", error);
		return;
	}
	if (found && !(c->auth_secret = strdup(secret))) {
		client_fail(c, "53200", "out of memory");
		return;
	}
	if (client_continue_auth(c) != PA_CLOSED)
		conn_resume(&c->conn);
}

/* Users without an auth_file line, when an auth_user applies: the secret comes from auth_query
 * (cached for a while). PA_WAIT-like: the connection is paused until the answer. */
static bool client_needs_lookup(Client *c, PktAction *out)
{
	if (c->is_admin || !c->pool || config_find_user(G.cfg, c->user) || !authquery_user(c->pool))
		return false;
	bool found;
	const char *secret, *error;
	if (authquery_cached(c->pool, c->user, &found, &secret)) {
		if (found && !(c->auth_secret = strdup(secret))) {
			client_fail(c, "53200", "out of memory");
			*out = PA_CLOSED;
			return true;
		}
		return false;
	}
	c->auth_lookup = authquery_start(c->pool, c->user, client_lookup_done, c, &error);
	if (!c->auth_lookup) {
		client_fail(c, "28000", "authentication lookup failed (auth_query): %s", error);
		*out = PA_CLOSED;
		return true;
	}
	conn_pause(&c->conn);
	*out = PA_CONSUMED;
	return true;
}

static PktAction client_start_auth(Client *c)
{
	pool_change_client_state(c, CL_AUTH);
	PktAction a;
	if (client_needs_lookup(c, &a))
		return a;
	return client_continue_auth(c);
}

static PktAction client_continue_auth(Client *c)
{
	const char *secret = client_secret(c);
	if (c->auth_secret && c->pool &&
	    (!c->pool->auth_secret || strcmp(c->pool->auth_secret, c->auth_secret) != 0)) {
		/* the pool's servers log in with it (md5); a SCRAM secret only checks the client,
		 * whose proven keys then log the servers in */
		char *dup = strdup(c->auth_secret);
		if (dup) {
			free(c->pool->auth_secret);
			c->pool->auth_secret = dup;
		}
	}
	AuthType method;
	if (!client_pick_method(c, secret, &method))
		return PA_CLOSED;
	if (method == AUTH_TRUST)
		return client_login_ok(c);
	if (method == AUTH_CERT)
		return client_cert_login(c);
	/* PostgreSQL too falls back to md5 for a user whose secret is md5 */
	bool md5 = method == AUTH_MD5 ||
		   (method == AUTH_SCRAM && secret && auth_md5_is_secret(secret));
	PktBuf b;
	pktbuf_init(&b);
	if (md5) {
		if (!auth_md5_make_salt(c->md5_salt)) {
			pktbuf_free(&b);
			client_fail(c, "XX000", "could not generate a salt");
			return PA_CLOSED;
		}
		pq_write_auth(&b, PQ_AUTH_MD5, c->md5_salt, 4);
		c->auth_step = AUTH_STEP_MD5;
	} else if (method == AUTH_PLAIN) {
		pq_write_auth(&b, PQ_AUTH_CLEARTEXT, NULL, 0);
		c->auth_step = AUTH_STEP_PLAIN;
	} else {
		c->scram = scram_server_new(secret, c->user);
		if (!c->scram) {
			pktbuf_free(&b);
			client_fail(c, "53200", "out of memory");
			return PA_CLOSED;
		}
		/* over TLS, channel binding to pgsift's certificate is offered first */
		static const char *const plain[] = {SCRAM_MECHANISM, NULL};
		static const char *const both[] = {SCRAM_MECHANISM_PLUS, SCRAM_MECHANISM, NULL};
		uint8_t cb[SCRAM_CB_MAX];
		size_t cb_len = 0;
		bool plus = c->conn.tls &&
			    tls_server_end_point(c->conn.tls, cb, sizeof(cb), &cb_len) &&
			    scram_server_offer_binding(c->scram, cb, cb_len);
		pq_write_auth_sasl(&b, plus ? both : plain);
		c->auth_step = AUTH_STEP_SASL_INIT;
	}
	return client_send(c, &b) ? PA_CONSUMED : PA_CLOSED;
}

static PktAction client_auth_failed(Client *c, const char *why)
{
	log_info("client %s:%d: password authentication failed for user \"%s\": %s", c->addr,
		 c->port, c->user, why);
	client_fail(c, "28P01", "password authentication failed for user \"%s\"", c->user);
	return PA_CLOSED;
}

/* One SCRAM step's outcome: the client fails (28P01 for a wrong password, the step's own
 * SQLSTATE otherwise), or gets the server's message in an authentication request of `code`. */
static PktAction client_scram_reply(Client *c, ScramResult sr, uint32_t code, const char *reply,
				    size_t reply_len)
{
	if (sr == SCRAM_ERR_AUTH)
		return client_auth_failed(c, scram_server_error(c->scram));
	if (sr != SCRAM_OK) {
		client_fail(c, scram_result_sqlstate(sr), "%s", scram_server_error(c->scram));
		return PA_CLOSED;
	}
	PktBuf b;
	pktbuf_init(&b);
	pq_write_auth(&b, code, reply, reply_len);
	return client_send(c, &b) ? PA_CONSUMED : PA_CLOSED;
}

PktAction client_auth_frame(Client *c, const PktHdr *hdr, const uint8_t *pkt)
{
	if (hdr->type != PQ_MSG_PASSWORD) {
		client_fail(c, "08P01", "expected password response, got message type %d",
			    hdr->type);
		return PA_CLOSED;
	}
	const char *secret = client_secret(c);
	PktReader r;
	pkt_reader_init(&r, pkt + 5, hdr->len - 5);
	if (c->auth_step == AUTH_STEP_MD5 || c->auth_step == AUTH_STEP_PLAIN) {
		const char *resp;
		if (!pkt_get_cstring(&r, &resp, NULL)) {
			client_fail(c, "08P01", "invalid password packet");
			return PA_CLOSED;
		}
		if (!secret)
			return client_auth_failed(c, "user not in auth_file");
		bool ok;
		if (c->auth_step == AUTH_STEP_PLAIN)
			ok = !auth_md5_is_secret(secret) && strcmp(secret, resp) == 0;
		else
			ok = auth_md5_verify(secret, c->user, c->md5_salt, resp);
		if (!ok)
			return client_auth_failed(c, "wrong password");
		return client_login_ok(c);
	}
	if (c->auth_step == AUTH_STEP_SASL_INIT) {
		const char *mech;
		uint32_t len;
		const uint8_t *data;
		if (!pkt_get_cstring(&r, &mech, NULL) || !pkt_get_u32(&r, &len) ||
		    len == 0xffffffffu || !pkt_get_bytes(&r, len, &data)) {
			client_fail(c, "08P01", "malformed SASLInitialResponse");
			return PA_CLOSED;
		}
		if (!scram_server_choose(c->scram, mech)) {
			client_fail(c, "08P01",
				    "client selected an invalid SASL authentication mechanism");
			return PA_CLOSED;
		}
		const char *reply;
		size_t reply_len;
		ScramResult sr = scram_server_handle_first(c->scram, (const char *)data, len,
							   &reply, &reply_len);
		if (client_scram_reply(c, sr, PQ_AUTH_SASL_CONTINUE, reply, reply_len) == PA_CLOSED)
			return PA_CLOSED;
		c->auth_step = AUTH_STEP_SASL_FINAL;
		return PA_CONSUMED;
	}
	if (c->auth_step == AUTH_STEP_SASL_FINAL) {
		const char *reply;
		size_t reply_len;
		ScramResult sr = scram_server_handle_final(
			c->scram, (const char *)r.p, (size_t)(r.end - r.p), &reply, &reply_len);
		if (client_scram_reply(c, sr, PQ_AUTH_SASL_FINAL, reply, reply_len) == PA_CLOSED)
			return PA_CLOSED;
		if (c->pool && !c->pool->have_scram_keys &&
		    scram_server_keys(c->scram, c->pool->scram_client_key,
				      c->pool->scram_server_key))
			c->pool->have_scram_keys = true;
		scram_server_free(c->scram);
		c->scram = NULL;
		return client_login_ok(c);
	}
	client_fail(c, "08P01", "unexpected password message");
	return PA_CLOSED;
}

static PktAction client_login_ok(Client *c)
{
	c->auth_step = AUTH_STEP_NONE;
	c->cancel_key = proxy_random_u32();
	cancel_register(c); /* and the pid half of the key */
	if (c->is_admin) {
		if (!admin_login(c))
			return PA_CLOSED;
		return PA_CONSUMED;
	}
	if (G.cfg->log_connections)
		log_info("client %s:%d login %s/%s%s%s", c->addr, c->port, c->dbname, c->user,
			 c->app_name ? " app=" : "", c->app_name ? c->app_name : "");
	pool_client_login(c->pool, c);
	return c->state == CL_CLOSING ? PA_CLOSED : PA_CONSUMED;
}

void client_welcome(Client *c)
{
	Pool *p = c->pool;
	PktBuf b;
	pktbuf_init(&b);
	pq_write_auth(&b, PQ_AUTH_OK, NULL, 0);
	for (size_t i = 0; i < p->welcome.n; i++) {
		const VarParam *w = &p->welcome.items[i];
		const char *mine = varcache_get(&c->params, w->name);
		bool use_mine =
			mine && mine[0] != SQL_VALUE_MARK && !client_is_server_only_param(w->name);
		char spelled[64];
		if (use_mine && pgspell_value(w->name, mine, w->value, spelled, sizeof(spelled)))
			mine = spelled;
		pq_write_parameter_status(&b, w->name, use_mine ? mine : w->value);
	}
	pq_write_backend_key(&b, c->cancel_pid, c->cancel_key);
	pq_write_ready(&b, PQ_TX_IDLE);
	if (!client_send(c, &b))
		return;
	pool_change_client_state(c, CL_IDLE);
	conn_resume(&c->conn);
}
