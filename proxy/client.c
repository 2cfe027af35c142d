/*
 * client: an application's connection, from the startup packet to forwarding. See client.h.
 *
 * What a client sees is what PostgreSQL would have said: an ErrorResponse with a SQLSTATE for
 * every refusal, its own BackendKeyData, and a ParameterStatus set that reflects its own startup
 * parameters whichever server it ends up on.
 */
#include "proxy/client.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/log.h"
#include <xxhash.h>

#include "parser/parser.h"
#include "proxy/admin.h"
#include "proxy/auth_md5.h"
#include "proxy/pgspell.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"
#include "proxy/scram.h"
#include "proxy/server.h"

enum { AUTH_STEP_NONE = 0, AUTH_STEP_MD5, AUTH_STEP_SASL_INIT, AUTH_STEP_SASL_FINAL };

static PktAction client_on_frame(Conn *conn, const PktHdr *hdr, const uint8_t *pkt, bool full);
static void client_on_error(Conn *conn, int status);
static void client_on_closed(Conn *conn);
static PktAction client_startup(Client *c, const PktHdr *hdr, const uint8_t *pkt);
static PktAction client_auth_frame(Client *c, const PktHdr *hdr, const uint8_t *pkt);
static PktAction client_active_frame(Client *c, const PktHdr *hdr, const uint8_t *pkt, bool full);
static PktAction client_streamed_frame(Client *c, const PktHdr *hdr, const uint8_t *pkt);
static PktAction client_login_ok(Client *c);
static bool client_apply_params(Client *c, Server *s);
static PktAction client_query_without_server(Client *c, const char *text, size_t len);
static PktAction client_extended_without_server(Client *c, const PktHdr *hdr, const uint8_t *pkt);
static void client_vsend_error(Client *c, const char *severity, const char *sqlstate,
			       const char *fmt, va_list ap);

/* Frames rewritten towards a server are built here and sent at once (conn_send copies what it
 * cannot write immediately), so one buffer serves every client of the event loop. */
static PktBuf client_out;

/* A parameter value kept in SQL form (from a client's SET), re-applied with `SET name TO value`;
 * other values are raw strings, re-applied with set_config(). */
#define SQL_VALUE_MARK '\x01'
/* In tx_params: a RESET waiting for COMMIT. */
#define RESET_MARK "\x02"

/* Reported by the server, never set by a client: not carried from one server to another. */
static const char *const server_only_params[] = { "server_version", "server_encoding",
						  "integer_datetimes", "is_superuser",
						  "in_hot_standby", NULL };

static bool is_server_only_param(const char *name)
{
	for (int i = 0; server_only_params[i]; i++)
		if (strcasecmp(server_only_params[i], name) == 0)
			return true;
	return false;
}

const char *client_state_str(ClientState st)
{
	static const char *const names[] = { "startup", "auth",   "login",  "idle",
					     "waiting", "active", "admin", "closing" };
	return st <= CL_CLOSING ? names[st] : "?";
}

void client_accept(uv_stream_t *listener, bool is_pipe)
{
	Client *c = calloc(1, sizeof(*c));
	if (!c) {
		log_error("out of memory accepting a client");
		return;
	}
	if (conn_init(&c->conn, is_pipe, c, client_on_frame, client_on_error, client_on_closed) != 0) {
		free(c);
		return;
	}
	list_node_init(&c->pool_node);
	varcache_init(&c->params);
	varcache_init(&c->startup_params);
	varcache_init(&c->tx_params);
	varcache_init(&c->reported_resets);
	list_append(&G.clients, &c->all_node);
	G.n_clients++;
	c->state = CL_STARTUP;
	c->connect_ms = c->last_active_ms = proxy_now_ms();
	c->conn.startup_phase = true;
	if (uv_accept(listener, &c->conn.h.stream) != 0) {
		client_close(c, "accept failed");
		return;
	}
	if (!is_pipe)
		uv_tcp_nodelay(&c->conn.h.tcp, 1);
	conn_peer_addr(&c->conn, c->addr, sizeof(c->addr), &c->port);
	if (is_pipe)
		snprintf(c->addr, sizeof(c->addr), "[local]");
	conn_start(&c->conn);
}

/* ---- errors ---- */

static void client_vsend_error(Client *c, const char *severity, const char *sqlstate,
			       const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	PktBuf b;
	pktbuf_init(&b);
	pq_write_error(&b, severity, sqlstate, msg, NULL, NULL);
	conn_flush(&c->conn);
	if (c->server)
		conn_flush(&c->server->conn);
	(void)conn_send_pktbuf(&c->conn, &b);
	pktbuf_free(&b);
	if (strcmp(severity, "FATAL") == 0)
		log_info("client %s:%d %s/%s: %s", c->addr, c->port, c->dbname ? c->dbname : "-",
			 c->user ? c->user : "-", msg);
}

void client_send_error(Client *c, const char *sqlstate, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	client_vsend_error(c, "ERROR", sqlstate, fmt, ap);
	va_end(ap);
}

void client_fail(Client *c, const char *sqlstate, const char *fmt, ...)
{
	if (c->state == CL_CLOSING)
		return;
	va_list ap;
	va_start(ap, fmt);
	client_vsend_error(c, "FATAL", sqlstate, fmt, ap);
	va_end(ap);
	client_close(c, "failed");
}

void client_server_lost(Client *c, const char *why)
{
	c->server = NULL;
	c->conn.peer = NULL;
	client_fail(c, "08006", "server connection lost: %s", why);
}

bool client_send(Client *c, PktBuf *b)
{
	int rc = conn_send_pktbuf(&c->conn, b);
	pktbuf_free(b);
	if (rc != 0) {
		client_close(c, "write failed");
		return false;
	}
	return true;
}

void client_close(Client *c, const char *reason)
{
	if (c->state == CL_CLOSING)
		return;
	log_debug("client %s:%d closing: %s", c->addr, c->port, reason);
	ClientState was = c->state;
	c->state = CL_CLOSING;
	if (c->server) {
		Server *s = c->server;
		pool_release(s->pool, s, true);
	}
	if (c->pool)
		pool_client_gone(c->pool, c);
	if (c->cancel_pid)
		proxy_cancel_unregister(c);
	if (c->cancel_req) {
		server_cancel_forget_requester(c->cancel_req);
		c->cancel_req = NULL;
	}
	(void)was;
	conn_close(&c->conn);
}

static void client_on_error(Conn *conn, int status)
{
	Client *c = (Client *)conn;
	if (status == UV_EPROTO && c->state == CL_STARTUP && c->conn.rbuf &&
	    pkt_is_early_terminate(c->conn.rbuf->data + c->conn.rbuf->pos,
				   c->conn.rbuf->end - c->conn.rbuf->pos)) {
		client_close(c, "client terminated before its startup packet");
		return;
	}
	if (status == UV_EPROTO) {
		client_fail(c, "08P01", "invalid message length");
		return;
	}
	if (status == UV_E2BIG) {
		client_fail(c, "08P01", "message is larger than max_packet_size (%d bytes)",
			    G.cfg->max_packet_size);
		return;
	}
	if (status == UV_ENOMEM) {
		client_fail(c, "53200", "out of memory");
		return;
	}
	client_close(c, status == UV_EOF ? "client closed the connection" : uv_strerror(status));
}

static void client_on_closed(Conn *conn)
{
	Client *c = (Client *)conn;
	list_remove(&G.clients, &c->all_node);
	G.n_clients--;
	if (c->scram)
		scram_server_free(c->scram);
	varcache_free(&c->params);
	varcache_free(&c->startup_params);
	varcache_free(&c->tx_params);
	varcache_free(&c->reported_resets);
	client_stmts_free(c->named);
	stmtmap_free(c->sql_prepared);
	stmtmap_free(c->held_cursors);
	stmtmap_free(c->shapes);
	if (c->unnamed_cmds) {
		parser_session_commands_free(c->unnamed_cmds);
		free(c->unnamed_cmds);
	}
	free(c->portal_stmt);
	free(c->bind_params);
	free(c->unnamed_text);
	free(c->user);
	free(c->dbname);
	free(c->app_name);
	free(c);
	proxy_check_shutdown();
}

/* ---- startup ---- */

static PktAction client_on_frame(Conn *conn, const PktHdr *hdr, const uint8_t *pkt, bool full)
{
	Client *c = (Client *)conn;
	c->last_active_ms = uv_now(G.loop);
	c->tx_idle_since_ms = 0;
	if (log_enabled(LL_NOISE) && !c->conn.startup_phase)
		log_msg(LL_NOISE, "client %s:%d -> '%c' len %u (state %s)", c->addr, c->port,
			hdr->type, hdr->len, client_state_str(c->state));
	/* only a logged-in client's messages may be too large to hold whole (conn.h) */
	if (!full && (c->state == CL_STARTUP || c->state == CL_AUTH || c->state == CL_ADMIN)) {
		client_fail(c, "08P01", "message too long (%u bytes)", hdr->len);
		return PA_CLOSED;
	}
	switch (c->state) {
	case CL_STARTUP:
		return client_startup(c, hdr, pkt);
	case CL_AUTH:
		return client_auth_frame(c, hdr, pkt);
	case CL_ADMIN:
		return admin_frame(c, hdr, pkt);
	case CL_LOGIN_WAIT:
	case CL_WAITING:
		return PA_WAIT;
	case CL_IDLE:
		if (hdr->type == PQ_MSG_TERMINATE) {
			client_close(c, "client terminated");
			return PA_CLOSED;
		}
		if (hdr->type == PQ_MSG_QUERY && full) {
			PktReader r;
			const char *text;
			size_t tlen;
			pkt_reader_init(&r, pkt + 5, hdr->len - 5);
			if (pkt_get_cstring(&r, &text, &tlen) &&
			    client_query_without_server(c, text, tlen) == PA_CONSUMED)
				return PA_CONSUMED;
		}
		if (full) {
			PktAction a = client_extended_without_server(c, hdr, pkt);
			if (a != PA_FORWARD)
				return a;
		}
		c->local_sync = false; /* the server's ReadyForQuery ends the group */
		if (!pool_acquire(c->pool, c))
			return PA_WAIT;
		if (!client_apply_params(c, c->server)) {
			client_fail(c, "53200", "out of memory");
			return PA_CLOSED;
		}
		c->pool->stats.bytes_received += hdr->len;
		return client_active_frame(c, hdr, pkt, full);
	case CL_ACTIVE:
		/* a cancel for its last statement is still on its way: nothing new may reach the
		 * server before it (server_cancel_for_client) */
		if (server_cancel_pending(c->server) && server_is_quiet(c->server))
			return PA_WAIT;
		c->pool->stats.bytes_received += hdr->len;
		return client_active_frame(c, hdr, pkt, full);
	case CL_CLOSING:
		return PA_CLOSED;
	}
	return PA_CONSUMED;
}

/* The next word of `options` (from *p): words are separated by blanks, and a backslash makes
 * the next character part of the word, as PostgreSQL's pg_split_opts reads them (libpq users
 * write "-c DateStyle=ISO,\\ MDY"). Returns false at the end. */
static bool client_next_option(const char **p, char *out, size_t cap)
{
	const char *s = *p;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	if (!*s)
		return false;
	size_t n = 0;
	while (*s && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') {
		if (*s == '\\' && s[1])
			s++;
		if (n + 1 < cap)
			out[n++] = *s;
		s++;
	}
	out[n] = '\0';
	*p = s;
	return true;
}

/* Splits "-c a=b --c=d -cx=y" into parameters, as the server does with `options`. */
static bool client_parse_options(Client *c, const char *opts)
{
	char *word = malloc(strlen(opts) + 1);
	if (!word)
		return false;
	bool ok = true;
	bool expect_value = false;
	for (const char *p = opts; client_next_option(&p, word, strlen(opts) + 1);) {
		char *kv = NULL;
		if (expect_value) {
			kv = word;
			expect_value = false;
		} else if (strcmp(word, "-c") == 0) {
			expect_value = true;
			continue;
		} else if (strncmp(word, "-c", 2) == 0) {
			kv = word + 2;
		} else if (strncmp(word, "--", 2) == 0) {
			kv = word + 2;
		} else {
			continue; /* other postgres switches are not session parameters */
		}
		char *eq = strchr(kv, '=');
		if (!eq)
			continue;
		*eq = '\0';
		for (char *q = kv; *q; q++)
			if (*q == '-')
				*q = '_';
		char spelled[64];
		const char *val = eq + 1;
		if (pgspell_value(kv, val, NULL, spelled, sizeof(spelled)))
			val = spelled;
		if (!varcache_set(&c->params, kv, val))
			ok = false;
	}
	free(word);
	return ok;
}

static PktAction client_startup(Client *c, const PktHdr *hdr, const uint8_t *pkt)
{
	const Config *cfg = G.cfg;
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
	if (hdr->code == PQ_CANCEL_REQUEST_CODE) {
		if (hdr->len == 16) {
			Client *target = proxy_cancel_find(pkt_be32(pkt + 8), pkt_be32(pkt + 12));
			if (target && target->server) {
				log_info("cancel request for client %s:%d", target->addr, target->port);
				if (server_cancel_for_client(target->server, c))
					return PA_CONSUMED; /* closed when delivered */
			}
		}
		client_close(c, "cancel request served");
		return PA_CLOSED;
	}
	if ((hdr->code >> 16) != 3) {
		client_fail(c, "0A000", "unsupported frontend protocol %u.%u: server supports 3.0",
			    hdr->code >> 16, hdr->code & 0xffff);
		return PA_CLOSED;
	}

	/* key/value pairs, ended by an empty key */
	PktReader r;
	pkt_reader_init(&r, pkt + 8, hdr->len - 8);
	const char *unknown[16];
	size_t n_unknown = 0;
	bool ok = true;
	for (;;) {
		const char *key, *val;
		size_t klen;
		if (!pkt_get_cstring(&r, &key, &klen)) {
			client_fail(c, "08P01", "invalid startup packet layout: expected terminator as last byte");
			return PA_CLOSED;
		}
		if (klen == 0)
			break;
		if (!pkt_get_cstring(&r, &val, NULL)) {
			client_fail(c, "08P01", "invalid startup packet layout: expected terminator as last byte");
			return PA_CLOSED;
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
				client_fail(c, "08P01", "replication connections are not supported by pgsift");
				return PA_CLOSED;
			}
		} else if (strcmp(key, "options") == 0) {
			ok = ok && client_parse_options(c, val);
		} else if (strncmp(key, "_pq_.", 5) == 0) {
			if (n_unknown < 16)
				unknown[n_unknown++] = key;
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
	if (G.shutting_down) {
		client_fail(c, "57P03", "pgsift is shutting down");
		return PA_CLOSED;
	}
	if (cfg->max_client_conn > 0 && G.n_clients > (size_t)cfg->max_client_conn) {
		client_fail(c, "53300", "no more connections allowed (max_client_conn)");
		return PA_CLOSED;
	}
	c->is_admin = strcmp(c->dbname, "pgsift") == 0 || strcmp(c->dbname, "pgbouncer") == 0;
	if (!c->is_admin) {
		const char *err = NULL;
		c->pool = pool_get(c->dbname, c->user, &err);
		if (!c->pool) {
			if (strcmp(err, "no such database") == 0)
				client_fail(c, "3D000", "database \"%s\" does not exist", c->dbname);
			else
				client_fail(c, "53200", "%s", err);
			return PA_CLOSED;
		}
	}

	/* authentication */
	const UserEntry *u = config_find_user(cfg, c->user);
	const char *secret = u ? u->secret : NULL;
	PktBuf b;
	pktbuf_init(&b);
	c->state = CL_AUTH;
	switch (cfg->auth_type) {
	case AUTH_TRUST:
		pktbuf_free(&b);
		return client_login_ok(c);
	case AUTH_PLAIN:
		pq_write_auth(&b, PQ_AUTH_CLEARTEXT, NULL, 0);
		c->auth_step = AUTH_STEP_MD5; /* a PasswordMessage follows, checked as plain */
		break;
	case AUTH_MD5:
		if (!auth_md5_make_salt(c->md5_salt)) {
			pktbuf_free(&b);
			client_fail(c, "XX000", "could not generate a salt");
			return PA_CLOSED;
		}
		pq_write_auth(&b, PQ_AUTH_MD5, c->md5_salt, 4);
		c->auth_step = AUTH_STEP_MD5;
		break;
	case AUTH_SCRAM:
		if (secret && auth_md5_is_secret(secret)) {
			/* PostgreSQL too falls back to md5 for a user whose secret is md5 */
			if (!auth_md5_make_salt(c->md5_salt)) {
				pktbuf_free(&b);
				client_fail(c, "XX000", "could not generate a salt");
				return PA_CLOSED;
			}
			pq_write_auth(&b, PQ_AUTH_MD5, c->md5_salt, 4);
			c->auth_step = AUTH_STEP_MD5;
			break;
		}
		c->scram = scram_server_new(secret, c->user);
		if (!c->scram) {
			pktbuf_free(&b);
			client_fail(c, "53200", "out of memory");
			return PA_CLOSED;
		}
		pktbuf_start(&b, PQ_MSG_AUTH);
		pktbuf_put_u32(&b, PQ_AUTH_SASL);
		pktbuf_put_cstring(&b, SCRAM_MECHANISM);
		pktbuf_put_u8(&b, 0);
		pktbuf_finish(&b);
		c->auth_step = AUTH_STEP_SASL_INIT;
		break;
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

static PktAction client_auth_frame(Client *c, const PktHdr *hdr, const uint8_t *pkt)
{
	if (hdr->type != PQ_MSG_PASSWORD) {
		client_fail(c, "08P01", "expected password response, got message type %d", hdr->type);
		return PA_CLOSED;
	}
	const UserEntry *u = config_find_user(G.cfg, c->user);
	const char *secret = u ? u->secret : NULL;
	PktReader r;
	pkt_reader_init(&r, pkt + 5, hdr->len - 5);
	if (c->auth_step == AUTH_STEP_MD5) {
		const char *resp;
		if (!pkt_get_cstring(&r, &resp, NULL)) {
			client_fail(c, "08P01", "invalid password packet");
			return PA_CLOSED;
		}
		if (!secret)
			return client_auth_failed(c, "user not in auth_file");
		bool ok;
		if (G.cfg->auth_type == AUTH_PLAIN)
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
		if (strcmp(mech, SCRAM_MECHANISM) != 0) {
			client_fail(c, "08P01", "client selected an invalid SASL authentication mechanism");
			return PA_CLOSED;
		}
		const char *reply;
		size_t reply_len;
		ScramResult sr = scram_server_handle_first(c->scram, (const char *)data, len, &reply,
							   &reply_len);
		if (client_scram_reply(c, sr, PQ_AUTH_SASL_CONTINUE, reply, reply_len) == PA_CLOSED)
			return PA_CLOSED;
		c->auth_step = AUTH_STEP_SASL_FINAL;
		return PA_CONSUMED;
	}
	if (c->auth_step == AUTH_STEP_SASL_FINAL) {
		const char *reply;
		size_t reply_len;
		ScramResult sr = scram_server_handle_final(c->scram, (const char *)r.p,
							   (size_t)(r.end - r.p), &reply, &reply_len);
		if (client_scram_reply(c, sr, PQ_AUTH_SASL_FINAL, reply, reply_len) == PA_CLOSED)
			return PA_CLOSED;
		if (c->pool && !c->pool->have_scram_keys &&
		    scram_server_keys(c->scram, c->pool->scram_client_key, c->pool->scram_server_key))
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
	c->cancel_pid = proxy_random_u32();
	c->cancel_key = proxy_random_u32();
	proxy_cancel_register(c);
	if (c->is_admin) {
		if (!admin_login(c))
			return PA_CLOSED;
		return PA_CONSUMED;
	}
	c->state = CL_LOGIN_WAIT;
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
		bool use_mine = mine && mine[0] != SQL_VALUE_MARK && !is_server_only_param(w->name);
		char spelled[64];
		if (use_mine && pgspell_value(w->name, mine, w->value, spelled, sizeof(spelled)))
			mine = spelled;
		pq_write_parameter_status(&b, w->name, use_mine ? mine : w->value);
	}
	pq_write_backend_key(&b, c->cancel_pid, c->cancel_key);
	pq_write_ready(&b, PQ_TX_IDLE);
	if (!client_send(c, &b))
		return;
	c->state = CL_IDLE;
	conn_resume(&c->conn);
}

/* ---- with a server ---- */

/* Appends a single-quoted SQL literal. */
static void put_literal(PktBuf *b, const char *s)
{
	pktbuf_put_raw(b, "'", 1);
	for (; *s; s++) {
		if (*s == '\'')
			pktbuf_put_raw(b, "'", 1);
		pktbuf_put_raw(b, s, 1);
	}
	pktbuf_put_raw(b, "'", 1);
}

/*
 * Makes the server's session parameters match what this client asked for: set_config() for
 * every value that differs (it takes the value as `options -c` does), RESET for what a previous
 * client set and this one did not. Sent as one injected query ahead of the client's own bytes.
 */
static void put_ident(PktBuf *b, const char *name)
{
	pktbuf_put_raw(b, "\"", 1);
	for (const char *n = name; *n; n++) {
		if (*n == '"')
			pktbuf_put_raw(b, "\"", 1);
		pktbuf_put_raw(b, n, 1);
	}
	pktbuf_put_raw(b, "\"", 1);
}

typedef struct PrepareSync {
	Server *s;
	PktBuf *q;
	bool failed;
} PrepareSync;

/* One SQL-level prepared statement of the client: (re)created on the server when it lacks it
 * or holds another statement under that name (from another client). */
static void client_sync_sql_prepared(void *arg, const char *name, const char *text, size_t len)
{
	PrepareSync *ps = arg;
	size_t have_len;
	const char *have = ps->s->sql_prepared ? stmtmap_get(ps->s->sql_prepared, name, &have_len)
					       : NULL;
	if (have && have_len == len && memcmp(have, text, len) == 0)
		return;
	if (have) {
		pktbuf_put_raw(ps->q, "DEALLOCATE ", 11);
		put_ident(ps->q, name);
		pktbuf_put_raw(ps->q, ";", 1);
	}
	pktbuf_put_raw(ps->q, text, len);
	pktbuf_put_raw(ps->q, ";", 1);
	if (!ps->s->sql_prepared && !(ps->s->sql_prepared = stmtmap_new()))
		ps->failed = true;
	else if (!stmtmap_put(ps->s->sql_prepared, name, text, len))
		ps->failed = true;
}

typedef struct ForeignNames {
	const StmtMap *mine; /* the client's own, or NULL */
	char **names;        /* names on the server that are not the client's (owned) */
	size_t n, cap;
	bool failed;
} ForeignNames;

static void client_collect_foreign(void *arg, const char *name, const char *text, size_t len)
{
	ForeignNames *f = arg;
	(void)text;
	(void)len;
	if (f->mine && stmtmap_get(f->mine, name, NULL))
		return; /* the client's own name: client_sync_sql_prepared checks its text */
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;
		char **names = realloc(f->names, cap * sizeof(*names));
		if (!names) {
			f->failed = true;
			return;
		}
		f->names = names;
		f->cap = cap;
	}
	if (!(f->names[f->n] = strdup(name)))
		f->failed = true;
	else
		f->n++;
}

/* SQL-level prepared statements another client left on this server: DEALLOCATEd before this
 * client's transaction, so that it can neither EXECUTE them nor collide with their names. */
static bool client_drop_foreign_sql_prepared(Client *c, Server *s, PktBuf *q)
{
	ForeignNames f = { .mine = c->sql_prepared };
	stmtmap_foreach(s->sql_prepared, client_collect_foreign, &f);
	for (size_t i = 0; i < f.n; i++) {
		pktbuf_put_raw(q, "DEALLOCATE ", 11);
		put_ident(q, f.names[i]);
		pktbuf_put_raw(q, ";", 1);
		stmtmap_remove(s->sql_prepared, f.names[i]);
		free(f.names[i]);
	}
	free(f.names);
	return !f.failed;
}

/*
 * Makes the server's session match what this client asked for: set_config() for raw values
 * that differ (it takes a value as `options -c` does), SET for values the client gave in SQL
 * form, RESET for what a previous client set and this one did not, and the client's SQL-level
 * prepared statements. Sent as one injected query ahead of the client's own bytes.
 */
/* An order-independent signature of a client's parameters: equal signatures, equal sets. */
static uint64_t client_params_sig(const Client *c)
{
	uint64_t sig = 0x9E3779B97F4A7C15ull;
	for (size_t i = 0; i < c->params.n; i++) {
		const VarParam *cp = &c->params.items[i];
		uint64_t h = XXH3_64bits(cp->name, strlen(cp->name));
		sig += XXH3_64bits_withSeed(cp->value, strlen(cp->value), h);
	}
	return sig ? sig : 1;
}

static bool client_apply_params(Client *c, Server *s)
{
	Pool *p = c->pool;
	/* A server whose session was last set up for this same set of parameters, and untouched
	 * since, needs nothing: the common case in transaction pooling, where a server passes
	 * between clients of one application. */
	uint64_t sig = client_params_sig(c);
	bool sql_prepared = (c->sql_prepared && stmtmap_count(c->sql_prepared) > 0) ||
			    (s->sql_prepared && stmtmap_count(s->sql_prepared) > 0);
	if (s->applied_sig == sig && !sql_prepared)
		return true;
	PktBuf q;
	pktbuf_init(&q);
	size_t first_auth = 0; /* where the raw-value loop starts */
	for (size_t i = 0; i < c->params.n; i++)
		if (strcmp(c->params.items[i].name, "session_authorization") == 0)
			first_auth = i;
	/* first what a previous client left behind: RESET session_authorization also resets
	 * the role, so it must come before this client's own values */
	for (size_t i = 0; i < s->params.n;) {
		const VarParam *sp = &s->params.items[i];
		if (is_server_only_param(sp->name) || varcache_get(&c->params, sp->name)) {
			i++;
			continue;
		}
		const char *w = varcache_get(&p->welcome, sp->name);
		if (w && strcmp(w, sp->value) == 0) {
			i++;
			continue;
		}
		pktbuf_put_raw(&q, "RESET ", 6);
		put_ident(&q, sp->name);
		pktbuf_put_raw(&q, ";", 1);
		if (w) {
			if (!varcache_set(&s->params, sp->name, w))
				q.failed = true;
			i++;
		} else {
			varcache_remove(&s->params, sp->name);
		}
	}
	bool any_set = false;
	/* session_authorization first: setting it resets the role */
	for (size_t k = 0; k < c->params.n; k++) {
		size_t i = (k + first_auth) % c->params.n;
		const VarParam *cp = &c->params.items[i];
		if (is_server_only_param(cp->name) || cp->value[0] == SQL_VALUE_MARK)
			continue;
		const char *sv = varcache_get(&s->params, cp->name);
		if (sv && strcmp(sv, cp->value) == 0)
			continue;
		pktbuf_put_raw(&q, any_set ? ", " : "SELECT ", any_set ? 2 : 7);
		pktbuf_put_raw(&q, "pg_catalog.set_config(", 22);
		put_literal(&q, cp->name);
		pktbuf_put_raw(&q, ", ", 2);
		put_literal(&q, cp->value);
		pktbuf_put_raw(&q, ", false)", 8);
		any_set = true;
		if (!varcache_set(&s->params, cp->name, cp->value))
			q.failed = true;
	}
	if (any_set)
		pktbuf_put_raw(&q, ";", 1);
	for (size_t i = 0; i < c->params.n; i++) {
		const VarParam *cp = &c->params.items[i];
		if (cp->value[0] != SQL_VALUE_MARK)
			continue;
		const char *sv = varcache_get(&s->params, cp->name);
		if (sv && strcmp(sv, cp->value) == 0)
			continue;
		pktbuf_put_raw(&q, "SET ", 4);
		put_ident(&q, cp->name);
		pktbuf_put_raw(&q, " TO ", 4);
		pktbuf_put_raw(&q, cp->value + 1, strlen(cp->value + 1));
		pktbuf_put_raw(&q, ";", 1);
		if (!varcache_set(&s->params, cp->name, cp->value))
			q.failed = true;
	}
	if (s->sql_prepared && stmtmap_count(s->sql_prepared) > 0 && p->mode != POOL_SESSION &&
	    !client_drop_foreign_sql_prepared(c, s, &q))
		q.failed = true;
	if (c->sql_prepared && stmtmap_count(c->sql_prepared) > 0 && p->mode != POOL_SESSION) {
		PrepareSync ps = { s, &q, false };
		stmtmap_foreach(c->sql_prepared, client_sync_sql_prepared, &ps);
		if (ps.failed)
			q.failed = true;
	}
	if (q.len == 0) {
		pktbuf_free(&q);
		s->applied_sig = q.failed ? 0 : sig;
		return !q.failed;
	}
	pktbuf_put_raw(&q, "", 1);
	bool ok = !pktbuf_failed(&q) && server_send_injected(s, (const char *)q.data);
	pktbuf_free(&q);
	s->applied_sig = ok ? sig : 0;
	return ok;
}

void client_server_ready(Client *c)
{
	if (!client_apply_params(c, c->server)) {
		client_fail(c, "53200", "out of memory");
		return;
	}
	conn_resume(&c->conn);
}

static bool client_remember_unnamed(Client *c, const char *text, size_t len)
{
	if (len + 1 > c->unnamed_cap) {
		size_t cap = len + 1 < 256 ? 256 : len + 1;
		char *t = realloc(c->unnamed_text, cap);
		if (!t)
			return false;
		c->unnamed_text = t;
		c->unnamed_cap = cap;
	}
	memcpy(c->unnamed_text, text, len);
	c->unnamed_text[len] = '\0';
	return true;
}

/* Bind parameters go to the statistics (sampled values for the advisor) one Bind in this many,
 * or every time with log_parameters; copying them costs the event loop a little. */
#define BIND_SAMPLE_EVERY 64

static bool client_put_param(Client *c, const void *p, size_t n)
{
	if (n == 0)
		return true; /* nothing to copy, and bind_params may not exist yet */
	if (c->bind_params_len + n > c->bind_params_cap) {
		size_t cap = c->bind_params_cap ? c->bind_params_cap * 2 : 128;
		while (cap < c->bind_params_len + n)
			cap *= 2;
		char *b = realloc(c->bind_params, cap);
		if (!b)
			return false;
		c->bind_params = b;
		c->bind_params_cap = cap;
	}
	memcpy(c->bind_params + c->bind_params_len, p, n);
	c->bind_params_len += n;
	return true;
}

/* Keeps a Bind's parameters as text ('\0'-separated; binary ones and NULLs by name), r being
 * positioned after the statement name. Malformed input only means nothing is kept. */
static void client_keep_bind_params(Client *c, PktReader r)
{
	uint16_t nfmt, nparams;
	c->bind_params_len = 0;
	c->bind_n_params = 0;
	if (!pkt_get_u16(&r, &nfmt))
		return;
	const uint8_t *fmts;
	if (!pkt_get_bytes(&r, (size_t)nfmt * 2, &fmts) || !pkt_get_u16(&r, &nparams))
		return;
	for (uint16_t i = 0; i < nparams; i++) {
		uint32_t len;
		const uint8_t *val;
		if (!pkt_get_u32(&r, &len))
			return;
		bool binary = nfmt == 1 ? fmts[1] == 1 : (nfmt > i && fmts[2 * i + 1] == 1);
		bool ok;
		if (len == 0xffffffffu) {
			ok = client_put_param(c, "NULL", 5);
		} else {
			if (!pkt_get_bytes(&r, len, &val))
				return;
			if (binary || memchr(val, 0, len))
				ok = client_put_param(c, "(binary)", 9);
			else
				ok = client_put_param(c, val, len) && client_put_param(c, "", 1);
		}
		if (!ok)
			return;
		c->bind_n_params++;
	}
}

/* The text of the statement the unnamed portal runs, for its statistics event. */
static const char *client_portal_text(Client *c, size_t *len)
{
	const char *name = c->portal_stmt;
	if (!name || name[0] == '\0') {
		*len = c->unnamed_text ? strlen(c->unnamed_text) : 0;
		return c->unnamed_text;
	}
	PreparedStmt *st = c->named ? client_stmts_get(c->named, name) : NULL;
	*len = st ? st->query_len : 0;
	return st ? st->query : NULL;
}

static SessionCommands *client_parse_session(const char *text, size_t len)
{
	if (!parser_session_hint(text, len))
		return NULL;
	SessionCommands *cmds = calloc(1, sizeof(*cmds));
	if (!cmds)
		return NULL;
	if (!parser_session_commands(text, len, cmds) || cmds->n == 0) {
		parser_session_commands_free(cmds);
		free(cmds);
		return NULL;
	}
	return cmds;
}

static bool client_has_kind(const SessionCommands *cmds, SessionCommandKind kind)
{
	for (size_t i = 0; cmds && i < cmds->n; i++)
		if (cmds->items[i].kind == kind)
			return true;
	return false;
}

static void client_free_cmds(SessionCommands *cmds)
{
	if (!cmds)
		return;
	parser_session_commands_free(cmds);
	free(cmds);
}

/* Sends c->out (a rewritten frame) to the server, after the forwards already decided. */
static bool client_send_rewritten(Client *c)
{
	bool ok = !pktbuf_failed(&client_out) &&
		  conn_forward_extra(&c->conn, client_out.data, client_out.len);
	pktbuf_reset(&client_out);
	return ok;
}

static void client_build_parse(PktBuf *b, const char *name, const PreparedStmt *st)
{
	pktbuf_start(b, PQ_MSG_PARSE);
	pktbuf_put_cstring(b, name);
	pktbuf_put_raw(b, st->query, st->query_len + 1);
	pktbuf_put_raw(b, st->types, st->types_len);
	pktbuf_finish(b);
}

/* Injects a Close of one of pgsift's statement names (no error if the server lacks it). */
static bool client_inject_close(Client *c, Server *s, const char *server_name)
{
	PktBuf b;
	pktbuf_init(&b);
	pktbuf_start(&b, PQ_MSG_CLOSE);
	pktbuf_put_u8(&b, 'S');
	pktbuf_put_cstring(&b, server_name);
	pktbuf_finish(&b);
	conn_flush(&c->conn);
	bool ok = server_send_injected_frame(s, PQ_MSG_CLOSE, &b, 0);
	pktbuf_free(&b);
	return ok;
}

/* Room for one more statement on the server: Close the least recently used ones. */
static bool client_make_room(Client *c, Server *s)
{
	int max = G.cfg->max_prepared_statements;
	while (max > 0 && s->stmts.count >= (size_t)max) {
		uint64_t id = server_stmts_pop_lru(&s->stmts);
		if (!id)
			break;
		char name[32];
		snprintf(name, sizeof(name), "PGSIFT_%llu", (unsigned long long)id);
		if (!client_inject_close(c, s, name))
			return false;
	}
	return true;
}

/*
 * What to do before relying on st on this server. SS_READY: nothing. SS_NONE: room is made and
 * the statement recorded as pending (the caller sends a Parse). SS_PENDING: its Parse is still
 * in flight and may yet be skipped after an error, so it is not relied on: a Close (harmless
 * when the statement is absent) lets the caller's Parse recreate it whatever happened.
 */
static int client_prepare_slot(Client *c, Server *s, PreparedStmt *st, const char *name, bool *ok)
{
	int state = name ? server_stmts_state_for(&s->stmts, st->id, c, name)
			 : server_stmts_state(&s->stmts, st->id);
	if (state == SS_READY && server_stmts_gen(&s->stmts, st->id) != st->gen) {
		/* prepared before a schema change seen elsewhere changed its result */
		server_stmts_unconfirm(&s->stmts, st->id);
		state = SS_PENDING;
	}
	*ok = true;
	if (state == SS_PENDING)
		*ok = client_inject_close(c, s, st->server_name);
	else if (state == SS_NONE)
		*ok = client_make_room(c, s) && server_stmts_add(&s->stmts, st->id);
	if (state != SS_READY)
		server_stmts_set_gen(&s->stmts, st->id, st->gen);
	return state;
}

/* Makes sure the server has st prepared under pgsift's name, injecting the Parse if not. */
static bool client_ensure_prepared(Client *c, Server *s, PreparedStmt *st, const char *name)
{
	bool ok;
	if (client_prepare_slot(c, s, st, name, &ok) == SS_READY)
		return true;
	if (!ok)
		return false;
	PktBuf b;
	pktbuf_init(&b);
	client_build_parse(&b, st->server_name, st);
	conn_flush(&c->conn);
	ok = server_send_injected_frame(s, PQ_MSG_PARSE, &b, st->id);
	pktbuf_free(&b);
	return ok;
}

/*
 * A refusal in the place of a client's message that PostgreSQL would have refused with an error
 * and then skipped to Sync: pgsift sends a Parse that fails on the server, which makes the server
 * skip to Sync exactly as it would, and replaces the server's error with the refusal (flags:
 * PF_DUP_NAME with the client's name, PF_LISTEN_REFUSED, PF_RESULT_CHANGED; server.c).
 */
static PktAction client_send_failing_parse(Client *c, Server *s, uint16_t flags, const char *name)
{
	pktbuf_reset(&client_out);
	pktbuf_start(&client_out, PQ_MSG_PARSE);
	pktbuf_put_cstring(&client_out, "");
	pktbuf_put_cstring(&client_out, "pgsift: refused");
	pktbuf_put_u16(&client_out, 0);
	pktbuf_finish(&client_out);
	Pending *p = server_expect(s, PQ_MSG_PARSE, flags, NULL, 0);
	if (!p || (name && !server_expect_name(s, p, name)) || !client_send_rewritten(c))
		return PA_CLOSED;
	return PA_CONSUMED;
}

/* Parse of a named statement in transaction pooling. */
static PktAction client_parse_named(Client *c, Server *s, const char *name, const char *query,
				    size_t qlen, const uint8_t *types, size_t tlen)
{
	if (!c->named && !(c->named = client_stmts_new()))
		return PA_CLOSED;
	if (client_stmts_get(c->named, name)) /* PostgreSQL's own answer is 42P05 */
		return client_send_failing_parse(c, s, PF_DUP_NAME, name);
	if (c->shapes)
		stmtmap_remove(c->shapes, name); /* a new statement: described anew, if at all */
	PreparedStmt *st = prepared_intern(query, qlen, types, tlen);
	if (!st)
		return PA_CLOSED;
	bool ok = client_stmts_put(c->named, name, st);
	prepared_unref(st); /* the name holds it now */
	if (!ok)
		return PA_CLOSED;
	conn_flush(&c->conn);
	if (log_enabled(LL_NOISE))
		log_msg(LL_NOISE, "client %s:%d Parse %s -> %s on pid %u (%s)", c->addr, c->port, name,
			st->server_name, s->be_pid,
			server_stmts_state(&s->stmts, st->id) == SS_READY ? "has it" : "prepares");
	bool slot_ok;
	if (client_prepare_slot(c, s, st, NULL, &slot_ok) == SS_READY) {
		return server_expect_local(s, PL_PARSE_COMPLETE, name) ? PA_CONSUMED : PA_CLOSED;
	}
	if (!slot_ok)
		return PA_CLOSED;
	pktbuf_reset(&client_out);
	client_build_parse(&client_out, st->server_name, st);
	Pending *p = server_expect(s, PQ_MSG_PARSE, 0, st->query, st->query_len);
	if (!p)
		return PA_CLOSED;
	p->stmt_id = st->id;
	server_stmts_set_owner(&s->stmts, st->id, c, name);
	if (!server_expect_name(s, p, name) || !client_send_rewritten(c))
		return PA_CLOSED;
	return PA_CONSUMED;
}

/* The result shape the client was told for its statement name: 0 when it never described it,
 * SHAPE_STALE after pgsift told it the plan changed. */
#define SHAPE_STALE 1

static uint64_t client_shape_of(const Client *c, const char *name)
{
	const char *hex = c->shapes ? stmtmap_get(c->shapes, name, NULL) : NULL;
	return hex ? strtoull(hex, NULL, 16) : 0;
}

void client_note_shape(Client *c, const char *name, uint64_t shape)
{
	char hex[24];
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)shape);
	if ((!c->shapes && !(c->shapes = stmtmap_new())) ||
	    !stmtmap_put(c->shapes, name, hex, strlen(hex)))
		log_warn("out of memory keeping the result shape of statement %s", name);
}

void client_shape_known(Client *c)
{
	c->shape_retry = true;
	if (!c->shape_wait)
		return;
	c->shape_wait = false;
	conn_resume(&c->conn);
}

/*
 * Before a client's Bind of a statement it described: the rows it will get must have the shape it
 * was told. On a server where pgsift prepared the statement again after a schema change
 * (ALTER TABLE ... TYPE), PostgreSQL would raise 0A000 "cached plan must not change result
 * type"; without this check the client would decode rows of the new type by the old
 * description (asyncpg did). When this server's shape is not known yet, pgsift describes the
 * statement and the Bind waits for the answer (PA_WAIT; client_shape_known resumes it) — once per
 * statement and server. PA_FORWARD: the Bind may go.
 */
static PktAction client_check_shape(Client *c, Server *s, PreparedStmt *st, const char *name)
{
	bool retried = c->shape_retry;
	c->shape_retry = false;
	uint64_t want = client_shape_of(c, name);
	if (want == 0)
		return PA_FORWARD; /* never described: the client decodes by nothing pgsift knows */
	if (want == SHAPE_STALE)
		return client_send_failing_parse(c, s, PF_RESULT_CHANGED, NULL);
	int state = server_stmts_state_for(&s->stmts, st->id, c, name);
	uint64_t have = state == SS_READY ? server_stmts_shape(&s->stmts, st->id) : 0;
	if (have == 0) {
		if (retried)
			return PA_FORWARD; /* the Describe failed or was skipped: the Bind says why */
		if (!client_ensure_prepared(c, s, st, name))
			return PA_CLOSED;
		PktBuf b;
		pktbuf_init(&b);
		pktbuf_start(&b, PQ_MSG_DESCRIBE);
		pktbuf_put_u8(&b, 'S');
		pktbuf_put_cstring(&b, st->server_name);
		pktbuf_finish(&b);
		pktbuf_start(&b, PQ_MSG_FLUSH);
		pktbuf_finish(&b);
		conn_flush(&c->conn);
		Pending *p = server_expect(s, PQ_MSG_DESCRIBE, PF_INJECTED | PF_SHAPE_CHECK, NULL, 0);
		if (p) {
			p->stmt = st;
			prepared_ref(st);
		}
		bool ok = p && conn_send_pktbuf(&s->conn, &b) == 0;
		pktbuf_free(&b);
		if (!ok)
			return PA_CLOSED;
		c->shape_wait = true;
		return PA_WAIT;
	}
	if (have == want)
		return PA_FORWARD;
	client_note_shape(c, name, SHAPE_STALE); /* until the client prepares it again */
	st->gen++; /* the other servers' plans from before are stale too */
	return client_send_failing_parse(c, s, PF_RESULT_CHANGED, NULL);
}

/* Bind or Describe naming a client's statement: rewritten to pgsift's name on this server. */
static PktAction client_rewrite_named(Client *c, Server *s, const PktHdr *hdr, const uint8_t *pkt,
				      const char *name, uint8_t type)
{
	PreparedStmt *st = c->named ? client_stmts_get(c->named, name) : NULL;
	if (!st) {
		/* unknown name: the server answers with PostgreSQL's own 26000 */
		return server_expect(s, type, 0, NULL, 0) ? PA_FORWARD : PA_CLOSED;
	}
	if (type == PQ_MSG_BIND) {
		PktAction a = client_check_shape(c, s, st, name);
		if (a != PA_FORWARD)
			return a;
	}
	if (!client_ensure_prepared(c, s, st, name))
		return PA_CLOSED;
	const uint8_t *name_at = (const uint8_t *)name;
	const uint8_t *after = name_at + strlen(name) + 1;
	const uint8_t *end = pkt + hdr->len;
	pktbuf_reset(&client_out);
	pktbuf_start(&client_out, hdr->type);
	pktbuf_put_raw(&client_out, pkt + 5, (size_t)(name_at - (pkt + 5)));
	pktbuf_put_cstring(&client_out, st->server_name);
	pktbuf_put_raw(&client_out, after, (size_t)(end - after));
	pktbuf_finish(&client_out);
	/* the statement and the client's name go with it: a Describe's answer is the shape the
	 * client decodes by, a 0A000 on a Bind makes the statement stale (server.c) */
	Pending *p = server_expect(s, type, 0, NULL, 0);
	if (!p || (type == PQ_MSG_DESCRIBE && !server_expect_name(s, p, name)))
		return PA_CLOSED;
	p->stmt = st;
	prepared_ref(st);
	return client_send_rewritten(c) ? PA_CONSUMED : PA_CLOSED;
}

/* SQL DEALLOCATE of a name the client prepared through the protocol (PHP PDO does this): the
 * statement lives under pgsift's name, so pgsift answers itself. */
static bool client_is_local_deallocate(Client *c, const SessionCommands *cmds)
{
	return cmds && cmds->n == 1 && cmds->items[0].kind == SC_DEALLOCATE && c->named &&
	       cmds->items[0].name && client_stmts_get(c->named, cmds->items[0].name);
}

/* Whether some server of the pool has st prepared, confirmed by its ParseComplete: the text
 * and parameter types are known to be good in this pool's database. */
static bool client_pool_knows(const Client *c, const PreparedStmt *st)
{
	const Pool *p = c->pool;
	const List *lists[] = { &p->idle_servers, &p->active_servers, &p->used_servers };
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		for (ListNode *n = lists[i]->head.next; n != &lists[i]->head; n = n->next) {
			Server *s = list_entry(n, Server, pool_node);
			if (server_stmts_state(&s->stmts, st->id) == SS_READY)
				return true;
		}
	}
	return false;
}

/* Sends one frame of pgsift's own to a client that has no server. */
static PktAction client_reply_local(Client *c, uint8_t type, bool ready)
{
	PktBuf b;
	pktbuf_init(&b);
	if (type) {
		pktbuf_start(&b, type);
		pktbuf_finish(&b);
	}
	if (ready)
		pq_write_ready(&b, PQ_TX_IDLE);
	return client_send(c, &b) ? PA_CONSUMED : PA_CLOSED;
}

/*
 * Transaction pooling, a client without a server: a Parse of a statement whose exact text and
 * parameter types some server of the pool already prepared is answered here (ParseComplete),
 * as is a Close of one of its names, and the Sync after them (ReadyForQuery): the statement is
 * prepared on a server at the client's next Bind, whose error (after a schema change) then comes
 * in the place of the Bind. A client that prepares with a blocking call while its other
 * connections hold every server (pgbench -M prepared with fewer threads than clients) goes on
 * instead of waiting for a server forever. PA_FORWARD: the frame needs a server.
 */
static PktAction client_extended_without_server(Client *c, const PktHdr *hdr, const uint8_t *pkt)
{
	if (c->pool->mode == POOL_SESSION)
		return PA_FORWARD;
	PktReader r;
	pkt_reader_init(&r, pkt + 5, hdr->len - 5);
	switch (hdr->type) {
	case PQ_MSG_PARSE: {
		const char *name, *text;
		size_t tlen;
		if (!pkt_get_cstring(&r, &name, NULL) || !name[0] ||
		    !pkt_get_cstring(&r, &text, &tlen) ||
		    (c->named && client_stmts_get(c->named, name)))
			return PA_FORWARD; /* malformed, unnamed or a duplicate: the server says */
		PreparedStmt *st = prepared_intern(text, tlen, r.p, (size_t)(r.end - r.p));
		if (!st)
			return PA_FORWARD;
		bool known = client_pool_knows(c, st);
		bool ok = !known || ((c->named || (c->named = client_stmts_new())) &&
				     client_stmts_put(c->named, name, st));
		prepared_unref(st);
		if (!known || !ok)
			return PA_FORWARD;
		if (c->shapes)
			stmtmap_remove(c->shapes, name);
		c->local_sync = true;
		return client_reply_local(c, PQ_MSG_PARSE_COMPLETE, false);
	}
	case PQ_MSG_CLOSE: {
		uint8_t what;
		const char *name;
		if (!pkt_get_u8(&r, &what) || what != 'S' || !pkt_get_cstring(&r, &name, NULL) ||
		    !name[0])
			return PA_FORWARD;
		/* the statement stays on the servers under pgsift's name */
		if (c->named)
			client_stmts_remove(c->named, name);
		if (c->shapes)
			stmtmap_remove(c->shapes, name);
		c->local_sync = true;
		return client_reply_local(c, PQ_MSG_CLOSE_COMPLETE, false);
	}
	case PQ_MSG_FLUSH:
		return c->local_sync ? PA_CONSUMED : PA_FORWARD;
	case PQ_MSG_SYNC:
		if (!c->local_sync)
			return PA_FORWARD;
		c->local_sync = false;
		return client_reply_local(c, 0, true);
	default:
		return PA_FORWARD;
	}
}

/* A message about the unnamed statement when it is a DEALLOCATE pgsift answers itself: the
 * answer goes in order with the server's; Execute's carries the name that goes. */
static PktAction client_answer_unnamed_locally(Client *c, Server *s, uint8_t local)
{
	const char *name = NULL;
	if (local == PL_EXEC_DEALLOCATE && c->unnamed_cmds && c->unnamed_cmds->n == 1)
		name = c->unnamed_cmds->items[0].name;
	conn_flush(&c->conn);
	if (!server_expect_local(s, local, name)) {
		client_fail(c, "53200", "out of memory");
		return PA_CLOSED;
	}
	return PA_CONSUMED;
}

/* Answers a simple query without a server: CommandComplete or an error, then ReadyForQuery. */
static void client_answer_locally(Client *c, const char *tag, const char *sqlstate,
				  const char *msg, uint8_t tx_state)
{
	PktBuf b;
	pktbuf_init(&b);
	if (sqlstate)
		pq_write_error(&b, "ERROR", sqlstate, msg, NULL, NULL);
	else
		pq_write_command_complete(&b, tag);
	pq_write_ready(&b, tx_state);
	conn_flush(&c->conn);
	(void)conn_send_pktbuf(&c->conn, &b);
	pktbuf_free(&b);
}

static const char listen_refused[] =
	"LISTEN is not supported in transaction pooling mode: use pool_mode = session for this "
	"database or user";

/* What a client in transaction pooling may not do, or what pgsift answers without a server.
 * Returns PA_FORWARD when the query should go on as usual. */
static PktAction client_query_without_server(Client *c, const char *text, size_t len)
{
	if (c->pool->mode == POOL_SESSION)
		return PA_FORWARD;
	StmtKind k = parser_hot_kind(text, len);
	if (k == SK_LISTEN) {
		client_answer_locally(c, NULL, "0A000", listen_refused, PQ_TX_IDLE);
		return PA_CONSUMED;
	}
	if (k == SK_DEALLOCATE) {
		SessionCommands *cmds = client_parse_session(text, len);
		if (client_is_local_deallocate(c, cmds)) {
			client_stmts_remove(c->named, cmds->items[0].name);
			client_free_cmds(cmds);
			client_answer_locally(c, "DEALLOCATE", NULL, NULL, PQ_TX_IDLE);
			return PA_CONSUMED;
		}
		client_free_cmds(cmds);
	}
	return PA_FORWARD;
}

/* A Bind's portal and statement names (r at its start); the unnamed portal's statement is
 * remembered for its Execute. False when the Bind is malformed: the client is closed then. */
static bool client_bind_head(Client *c, PktReader *r, const char **portal, const char **stmt)
{
	if (!pkt_get_cstring(r, portal, NULL) || !pkt_get_cstring(r, stmt, NULL)) {
		client_fail(c, "08P01", "invalid Bind message");
		return false;
	}
	if ((*portal)[0] == '\0' && (!c->portal_stmt || strcmp(c->portal_stmt, *stmt) != 0)) {
		free(c->portal_stmt);
		c->portal_stmt = strdup(*stmt);
	}
	return true;
}

static PktAction client_active_frame(Client *c, const PktHdr *hdr, const uint8_t *pkt, bool full)
{
	Server *s = c->server;
	if (!c->xact_start_ns)
		c->xact_start_ns = proxy_now_ns();
	if (s->ext_error && hdr->type != PQ_MSG_SYNC && hdr->type != PQ_MSG_TERMINATE)
		return PA_FORWARD; /* the server skips it without answering */
	if (!full) /* larger than the buffer: the rest streams behind its head */
		return client_streamed_frame(c, hdr, pkt);
	const uint8_t *payload = pkt + 5;
	size_t len = hdr->len - 5;
	bool pooled = c->pool->mode != POOL_SESSION;
	PktReader r;
	pkt_reader_init(&r, payload, len);
	PktAction a = PA_FORWARD;
	bool ok = true;

	switch (hdr->type) {
	case PQ_MSG_QUERY: {
		const char *text;
		size_t tlen;
		if (!pkt_get_cstring(&r, &text, &tlen)) {
			client_fail(c, "08P01", "invalid Query message");
			return PA_CLOSED;
		}
		SessionCommands *cmds = client_parse_session(text, tlen);
		if (pooled && client_has_kind(cmds, SC_LISTEN)) {
			client_free_cmds(cmds);
			if (!server_is_quiet(s))
				conn_flush(&s->conn);
			client_answer_locally(c, NULL, "0A000", listen_refused,
					      s->tx_state ? s->tx_state : PQ_TX_IDLE);
			return PA_CONSUMED;
		}
		if (pooled && client_is_local_deallocate(c, cmds)) {
			client_stmts_remove(c->named, cmds->items[0].name);
			client_free_cmds(cmds);
			conn_flush(&c->conn);
			return server_expect_local(s, PL_DEALLOCATE, NULL) ? PA_CONSUMED : PA_CLOSED;
		}
		/* another client's SQL-level PREPAREs on this server were DEALLOCATEd when it was
		 * linked (client_apply_params), so this client's own PREPARE cannot collide */
		Pending *p = server_expect(s, PQ_MSG_QUERY, 0, text, tlen);
		if (p)
			p->cmds = cmds;
		else
			client_free_cmds(cmds);
		ok = ok && p;
		break;
	}
	case PQ_MSG_PARSE: {
		const char *name, *text;
		size_t tlen;
		if (!pkt_get_cstring(&r, &name, NULL) || !pkt_get_cstring(&r, &text, &tlen)) {
			client_fail(c, "08P01", "invalid Parse message");
			return PA_CLOSED;
		}
		const uint8_t *types = r.p;
		size_t types_len = (size_t)(r.end - r.p);
		if (name[0] == '\0') {
			client_free_cmds(c->unnamed_cmds);
			c->unnamed_cmds = client_parse_session(text, tlen);
			if (pooled && client_has_kind(c->unnamed_cmds, SC_LISTEN)) {
				/* refused as PostgreSQL would refuse a bad Parse: the server skips
				 * to Sync, and the error it gives is replaced by the refusal */
				client_free_cmds(c->unnamed_cmds);
				c->unnamed_cmds = NULL;
				a = client_send_failing_parse(c, s, PF_LISTEN_REFUSED, NULL);
				ok = a != PA_CLOSED;
				break;
			}
			c->unnamed_local = pooled && client_is_local_deallocate(c, c->unnamed_cmds);
			if (c->unnamed_local) {
				conn_flush(&c->conn);
				ok = server_expect_local(s, PL_PARSE_COMPLETE, NULL);
				a = PA_CONSUMED;
				break;
			}
			ok = client_remember_unnamed(c, text, tlen) &&
			     server_expect(s, PQ_MSG_PARSE, 0, text, tlen);
			break;
		}
		if (pooled) {
			a = client_parse_named(c, s, name, text, tlen, types, types_len);
			ok = a != PA_CLOSED;
			break;
		}
		/* session pooling: names pass through; the text is kept for statistics */
		PreparedStmt *st = prepared_intern(text, tlen, types, types_len);
		ok = st && (c->named || (c->named = client_stmts_new())) &&
		     client_stmts_put(c->named, name, st);
		if (st)
			prepared_unref(st);
		ok = ok && server_expect(s, PQ_MSG_PARSE, 0, text, tlen);
		break;
	}
	case PQ_MSG_BIND: {
		const char *portal, *stmt;
		if (!client_bind_head(c, &r, &portal, &stmt))
			return PA_CLOSED;
		c->bind_n_params = 0;
		if (portal[0] == '\0' && G.cfg->track_statements &&
		    (G.cfg->log_parameters || c->bind_count++ % BIND_SAMPLE_EVERY == 0))
			client_keep_bind_params(c, r);
		if (pooled && stmt[0]) {
			a = client_rewrite_named(c, s, hdr, pkt, stmt, PQ_MSG_BIND);
			ok = a != PA_CLOSED;
			break;
		}
		if (!stmt[0] && c->unnamed_local)
			return client_answer_unnamed_locally(c, s, PL_BIND_COMPLETE);
		ok = server_expect(s, PQ_MSG_BIND, 0, NULL, 0);
		break;
	}
	case PQ_MSG_EXECUTE: {
		const char *portal;
		if (!pkt_get_cstring(&r, &portal, NULL)) {
			client_fail(c, "08P01", "invalid Execute message");
			return PA_CLOSED;
		}
		if (!portal[0] && c->unnamed_local && (!c->portal_stmt || !c->portal_stmt[0]))
			return client_answer_unnamed_locally(c, s, PL_EXEC_DEALLOCATE);
		size_t tlen = 0;
		const char *text = portal[0] ? NULL : client_portal_text(c, &tlen);
		Pending *p = server_expect(s, PQ_MSG_EXECUTE, 0, text, tlen);
		if (p && !portal[0] && c->bind_n_params) {
			if (!server_expect_params(s, p, c->bind_params, c->bind_params_len,
						  c->bind_n_params))
				p = NULL;
			c->bind_n_params = 0;
		}
		if (p && (!c->portal_stmt || !c->portal_stmt[0])) {
			p->cmds = c->unnamed_cmds; /* a SET run through the extended protocol */
			c->unnamed_cmds = NULL;
		} else if (p && text) {
			/* a named statement that changes session state (set_config($1, ...),
			 * pg_advisory_lock($1)...): rare enough to be parsed at each Execute */
			p->cmds = client_parse_session(text, tlen);
		}
		ok = p;
		break;
	}
	case PQ_MSG_DESCRIBE: {
		uint8_t what;
		const char *name;
		if (!pkt_get_u8(&r, &what) || !pkt_get_cstring(&r, &name, NULL)) {
			client_fail(c, "08P01", "invalid Describe message");
			return PA_CLOSED;
		}
		if (pooled && what == 'S' && name[0]) {
			a = client_rewrite_named(c, s, hdr, pkt, name, PQ_MSG_DESCRIBE);
			ok = a != PA_CLOSED;
			break;
		}
		if (!name[0] && c->unnamed_local &&
		    (what == 'S' || !c->portal_stmt || !c->portal_stmt[0]))
			return client_answer_unnamed_locally(
				c, s, what == 'S' ? PL_STATEMENT_NO_DATA : PL_NO_DATA);
		Pending *p = server_expect(s, PQ_MSG_DESCRIBE, 0, NULL, 0);
		ok = p != NULL;
		/* the unnamed portal of a client's named statement: its description is the
		 * statement's result shape the client decodes by (psycopg 3 asks this way) */
		PreparedStmt *st = pooled && what == 'P' && !name[0] && c->portal_stmt &&
						   c->portal_stmt[0] && c->named
					   ? client_stmts_get(c->named, c->portal_stmt)
					   : NULL;
		if (p && st) {
			p->stmt = st;
			prepared_ref(st);
			ok = server_expect_name(s, p, c->portal_stmt);
		}
		break;
	}
	case PQ_MSG_CLOSE: {
		uint8_t what;
		const char *name;
		if (!pkt_get_u8(&r, &what) || !pkt_get_cstring(&r, &name, NULL)) {
			client_fail(c, "08P01", "invalid Close message");
			return PA_CLOSED;
		}
		if (what == 'S' && name[0] && pooled) {
			/* the statement stays on the server under pgsift's name */
			if (c->named)
				client_stmts_remove(c->named, name);
			if (c->shapes)
				stmtmap_remove(c->shapes, name);
			conn_flush(&c->conn);
			a = server_expect_local(s, PL_CLOSE_COMPLETE, NULL) ? PA_CONSUMED : PA_CLOSED;
			ok = a != PA_CLOSED;
			break;
		}
		if (what == 'S' && name[0] && c->named)
			client_stmts_remove(c->named, name);
		ok = server_expect(s, PQ_MSG_CLOSE, 0, NULL, 0);
		break;
	}
	case PQ_MSG_SYNC:
		server_client_sync(s);
		ok = server_expect(s, PQ_MSG_SYNC, 0, NULL, 0);
		break;
	case PQ_MSG_FUNCTION_CALL: {
		uint32_t oid = 0;
		char text[64];
		if (!pkt_get_u32(&r, &oid))
			oid = 0;
		int n = snprintf(text, sizeof(text), "fastpath function call %u", oid);
		ok = server_expect(s, PQ_MSG_FUNCTION_CALL, 0, text, (size_t)n);
		break;
	}
	case PQ_MSG_TERMINATE:
		client_close(c, "client terminated");
		return PA_CLOSED;
	case PQ_MSG_FLUSH:
	case PQ_MSG_COPY_DATA:
	case PQ_MSG_COPY_DONE:
	case PQ_MSG_COPY_FAIL:
		break;
	default:
		client_fail(c, "08P01", "invalid frontend message type %d", hdr->type);
		return PA_CLOSED;
	}
	if (!ok) {
		client_fail(c, "53200", "out of memory");
		return PA_CLOSED;
	}
	return a;
}

/*
 * The text of a message too large to hold, for its statistics: the first query_text_max bytes
 * of its head at most. Cut mid-statement, it fingerprints as an unparsable text (one row per
 * distinct beginning), which is all pgsift can say of a statement it never holds whole.
 */
static size_t client_head_text_len(const uint8_t *text, size_t avail)
{
	size_t n = strnlen((const char *)text, avail);
	size_t max = G.cfg->query_text_max > 0 ? (size_t)G.cfg->query_text_max : 4096;
	return n < max ? n : max;
}

/* A Bind too large to hold that names a client's statement (transaction pooling): the statement
 * is made ready on this server as for any Bind, and only the head is rewritten, with pgsift's
 * name in place of the client's; the parameters stream behind it untouched. */
static PktAction client_rewrite_streamed_bind(Client *c, Server *s, const PktHdr *hdr,
					      const uint8_t *pkt, const char *portal,
					      const char *name)
{
	PreparedStmt *st = c->named ? client_stmts_get(c->named, name) : NULL;
	if (!st) /* unknown name: the server answers with PostgreSQL's own 26000 */
		return server_expect(s, PQ_MSG_BIND, 0, NULL, 0) ? PA_FORWARD : PA_CLOSED;
	if (!client_ensure_prepared(c, s, st, name))
		return PA_CLOSED;
	size_t name_len = strlen(name), new_len = strlen(st->server_name);
	uint32_t len = hdr->len - 1 - (uint32_t)name_len + (uint32_t)new_len;
	uint8_t head[5] = { PQ_MSG_BIND, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
			    (uint8_t)(len >> 8), (uint8_t)len };
	pktbuf_reset(&client_out);
	pktbuf_put_raw(&client_out, head, sizeof(head));
	pktbuf_put_raw(&client_out, portal, strlen(portal) + 1);
	pktbuf_put_raw(&client_out, st->server_name, new_len + 1);
	if (!server_expect(s, PQ_MSG_BIND, 0, NULL, 0) || !client_send_rewritten(c))
		return PA_CLOSED;
	conn_forward_from(&c->conn, (uint32_t)((const uint8_t *)name + name_len + 1 - pkt));
	return PA_FORWARD;
}

/*
 * A message larger than the read buffer (conn.h): pgsift has its head (frame_avail bytes, at
 * least a buffer) and decides for the whole message from it; the rest goes to the server as it
 * arrives, so that no message costs more than a buffer however large it is. The head holds what
 * the proxy needs: the statement name of a Parse or Bind, the beginning of a text for the
 * statistics. A text this long is not looked at for session commands: SET, RESET, PREPARE,
 * DEALLOCATE, DISCARD and LISTEN are short, and one hidden behind kilobytes of something else is
 * not tracked (as pgsift does not track one run from inside a function).
 */
static PktAction client_streamed_frame(Client *c, const PktHdr *hdr, const uint8_t *pkt)
{
	Server *s = c->server;
	if (hdr->type == PQ_MSG_COPY_DATA || hdr->type == PQ_MSG_COPY_FAIL)
		return PA_FORWARD;
	const uint8_t *payload = pkt + 5;
	size_t len = c->conn.frame_avail - 5;
	bool pooled = c->pool->mode != POOL_SESSION;
	PktReader r;
	pkt_reader_init(&r, payload, len);
	PktAction a = PA_FORWARD;
	bool ok = true;
	/* client_active_frame stamped the transaction and skipped what the server skips */
	switch (hdr->type) {
	case PQ_MSG_QUERY:
		ok = server_expect(s, PQ_MSG_QUERY, 0, (const char *)payload,
				   client_head_text_len(payload, len));
		break;
	case PQ_MSG_PARSE: {
		const char *name;
		if (!pkt_get_cstring(&r, &name, NULL)) {
			client_fail(c, "08P01", "invalid Parse message");
			return PA_CLOSED;
		}
		const char *text = (const char *)r.p;
		size_t tlen = client_head_text_len(r.p, (size_t)(r.end - r.p));
		if (name[0] == '\0') {
			client_free_cmds(c->unnamed_cmds);
			c->unnamed_cmds = NULL;
			ok = client_remember_unnamed(c, text, tlen) &&
			     server_expect(s, PQ_MSG_PARSE, 0, text, tlen);
			break;
		}
		if (pooled) {
			/* A named statement must be re-prepared, from its text, on whichever server
			 * the client gets next: one too large to hold is refused as PostgreSQL refuses
			 * a bad Parse (the server skips to Sync; its error is replaced by 54000). */
			pktbuf_reset(&client_out);
			pktbuf_start(&client_out, PQ_MSG_PARSE);
			pktbuf_put_cstring(&client_out, "");
			pktbuf_put_cstring(&client_out, "pgsift: prepared statement too long");
			pktbuf_put_u16(&client_out, 0);
			pktbuf_finish(&client_out);
			ok = server_expect(s, PQ_MSG_PARSE, PF_TOO_LONG, NULL, 0) &&
			     client_send_rewritten(c);
			a = PA_CONSUMED;
			break;
		}
		/* session pooling: the name passes through; its text is not kept (it is not held),
		 * so its executions are counted without one */
		if (c->named)
			client_stmts_remove(c->named, name);
		ok = server_expect(s, PQ_MSG_PARSE, 0, text, tlen);
		break;
	}
	case PQ_MSG_BIND: {
		const char *portal, *stmt;
		if (!client_bind_head(c, &r, &portal, &stmt))
			return PA_CLOSED;
		c->bind_n_params = 0; /* its parameters are not all here: none are sampled */
		if (pooled && stmt[0]) {
			a = client_rewrite_streamed_bind(c, s, hdr, pkt, portal, stmt);
			ok = a != PA_CLOSED;
			break;
		}
		ok = server_expect(s, PQ_MSG_BIND, 0, NULL, 0);
		break;
	}
	case PQ_MSG_FUNCTION_CALL: {
		uint32_t oid = 0;
		char text[64];
		if (!pkt_get_u32(&r, &oid))
			oid = 0;
		int n = snprintf(text, sizeof(text), "fastpath function call %u", oid);
		ok = server_expect(s, PQ_MSG_FUNCTION_CALL, 0, text, (size_t)n);
		break;
	}
	default:
		/* Describe, Execute, Close, Sync... are a name and a few bytes: one larger than the
		 * buffer is not a message a driver sends */
		client_fail(c, "08P01", "invalid frontend message type %d of %u bytes", hdr->type,
			    hdr->len);
		return PA_CLOSED;
	}
	if (!ok) {
		client_fail(c, "53200", "out of memory");
		return PA_CLOSED;
	}
	return a;
}

/* ---- session state ---- */

/* Reported through ParameterStatus: the server's report is what the client's cache keeps. */
static bool is_reported_param(const char *name)
{
	static const char *const reported[] = { "application_name", "client_encoding", "datestyle",
						"intervalstyle", "timezone", "integer_datetimes",
						"standard_conforming_strings", "is_superuser",
						"session_authorization", "server_encoding",
						"server_version", "default_transaction_read_only",
						"in_hot_standby", NULL };
	for (int i = 0; reported[i]; i++)
		if (strcasecmp(reported[i], name) == 0)
			return true;
	return false;
}

bool client_params_will_change(Client *c)
{
	if (c->startup_saved)
		return true;
	if (!varcache_copy(&c->startup_params, &c->params)) {
		varcache_clear(&c->startup_params);
		return false;
	}
	c->startup_saved = true;
	return true;
}

static const VarCache *client_startup_set(const Client *c)
{
	return c->startup_saved ? &c->startup_params : &c->params;
}

static bool client_reset_param(Client *c, const char *name)
{
	if (!client_params_will_change(c))
		return false;
	const char *start = varcache_get(&c->startup_params, name);
	if (start)
		return varcache_set(&c->params, name, start);
	varcache_remove(&c->params, name);
	return true;
}

/* A SET (value) or RESET (value NULL or RESET_MARK) took effect outside a transaction block,
 * or at its COMMIT. The server linked now has the same value, so both caches follow. */
static void client_apply_session(Client *c, const char *name, const char *value)
{
	Server *s = c->server;
	bool ok = true;
	if (s)
		s->applied_sig = 0;
	if (value && strcmp(value, RESET_MARK) != 0) {
		ok = client_params_will_change(c) && varcache_set(&c->params, name, value);
		if (s)
			ok = ok && varcache_set(&s->params, name, value);
	} else {
		/* the server went back to its own default; the client's may differ (startup) */
		ok = client_reset_param(c, name);
		if (s)
			varcache_remove(&s->params, name);
		c->params_dirty = true;
	}
	if (!ok)
		log_warn("out of memory tracking parameter %s", name);
}

/*
 * Session state that cannot be restated on another server (temporary tables, session advisory
 * locks, cursors WITH HOLD, settings pgsift could not read) keeps the client on its server until
 * the client drops it (DISCARD, pg_advisory_unlock_all(), CLOSE) or leaves; the server is then
 * reset before anyone else gets it (server.needs_reset, pool_release).
 */
static void client_pins_changed(Client *c)
{
	if (c->server)
		c->server->needs_reset = (c->pins | c->pins_pending) != 0;
}

/* Temporary tables, held cursors and settings go with a rolled-back transaction: a pin taken
 * (or dropped) in a transaction counts once it commits (client_tx_ended). Session advisory
 * locks outlive a rollback: they pin at once. */
static void client_pin(Client *c, uint8_t why)
{
	if (!c->pins && c->pool->mode != POOL_SESSION)
		log_debug("client %s:%d pinned to its server (%#x)", c->addr, c->port, why);
	c->pins_pending |= why;
	if (why & PIN_ADVISORY)
		c->pins |= why;
	client_pins_changed(c);
}

static void client_unpin(Client *c, uint8_t why)
{
	c->pins_pending &= (uint8_t)~why;
	if (why & PIN_ADVISORY)
		c->pins &= (uint8_t)~PIN_ADVISORY; /* pg_advisory_unlock_all() is not undone either */
	client_pins_changed(c);
}

const char *client_reset_value(Client *c, const Pending *p, const char *name)
{
	if (!p || !p->cmds)
		return NULL;
	/* PostgreSQL reports changed settings just before ReadyForQuery, once for the whole
	 * query: the last statement of it that touched the setting decides */
	bool reset = false;
	for (size_t i = 0; i < p->cmds->n; i++) {
		const SessionCommand *sc = &p->cmds->items[i];
		bool named = sc->name && strcasecmp(sc->name, name) == 0;
		if (sc->kind == SC_RESET_ALL || sc->kind == SC_DISCARD_ALL ||
		    (sc->kind == SC_RESET && named))
			reset = true;
		else if ((sc->kind == SC_SET || sc->kind == SC_SET_CONFIG) && named)
			reset = false;
	}
	return reset ? varcache_get(client_startup_set(c), name) : NULL;
}

void client_statement_failed(Client *c)
{
	c->tx_failed = true;
}

static void client_forget_prepared(Client *c)
{
	if (c->named)
		client_stmts_clear(c->named);
	if (c->shapes)
		stmtmap_clear(c->shapes);
	if (c->sql_prepared)
		stmtmap_clear(c->sql_prepared);
	if (c->server) {
		server_stmts_clear(&c->server->stmts);
		if (c->server->sql_prepared)
			stmtmap_clear(c->server->sql_prepared);
	}
}

static void client_track_prepare(Client *c, Pending *p, const SessionCommand *sc)
{
	Server *s = c->server;
	char *text = NULL;
	if (p->type == PQ_MSG_QUERY && sc->stmt_offset + sc->stmt_len <= p->text_len && sc->stmt_len)
		text = strndup((const char *)s->texts + p->text_off + sc->stmt_offset, sc->stmt_len);
	else if (sc->value && asprintf(&text, "PREPARE \"%s\" AS %s", sc->name, sc->value) < 0)
		text = NULL;
	if (!text)
		return;
	size_t tlen = strlen(text);
	if (!c->sql_prepared)
		c->sql_prepared = stmtmap_new();
	if (!s->sql_prepared)
		s->sql_prepared = stmtmap_new();
	if (!c->sql_prepared || !s->sql_prepared ||
	    !stmtmap_put(c->sql_prepared, sc->name, text, tlen) ||
	    !stmtmap_put(s->sql_prepared, sc->name, text, tlen))
		log_warn("out of memory tracking PREPARE %s", sc->name);
	free(text);
}

static void client_run_command(Client *c, Pending *p, const SessionCommand *sc)
{
	Server *s = c->server;
	char *sqlval;
	switch (sc->kind) {
	case SC_SET:
		if (!sc->name || !sc->value || is_reported_param(sc->name))
			return;
		if (asprintf(&sqlval, "%c%s", SQL_VALUE_MARK, sc->value) < 0)
			return;
		if (c->in_tx) {
			if (!varcache_set(&c->tx_params, sc->name, sqlval))
				log_warn("out of memory tracking SET %s", sc->name);
		} else {
			client_apply_session(c, sc->name, sqlval);
		}
		free(sqlval);
		return;
	case SC_RESET:
		if (!sc->name)
			return;
		if (is_reported_param(sc->name)) {
			/* the server went back to its own default and reported it; the client's
			 * default is its startup value, which is put back on the server next */
			const char *start = varcache_get(client_startup_set(c), sc->name);
			if (!c->in_tx && start && !varcache_set(&c->reported_resets, sc->name, start))
				log_warn("out of memory tracking RESET %s", sc->name);
			return;
		}
		if (c->in_tx) {
			if (!varcache_set(&c->tx_params, sc->name, RESET_MARK))
				log_warn("out of memory tracking RESET %s", sc->name);
		} else {
			client_apply_session(c, sc->name, NULL);
		}
		return;
	case SC_RESET_ALL:
	case SC_DISCARD_ALL:
		if (!client_params_will_change(c)) {
			log_warn("out of memory resetting parameters");
			return;
		}
		varcache_clear(&c->params);
		if (!varcache_copy(&c->params, &c->startup_params))
			log_warn("out of memory resetting parameters");
		for (size_t i = 0; i < c->startup_params.n; i++) {
			const VarParam *sp = &c->startup_params.items[i];
			if (is_reported_param(sp->name) &&
			    !varcache_set(&c->reported_resets, sp->name, sp->value))
				log_warn("out of memory resetting parameters");
		}
		if (s) {
			varcache_clear(&s->params);
			if (!varcache_copy(&s->params, &s->pool->welcome))
				s->close_needed = true;
			s->applied_sig = 0;
		}
		c->params_dirty = true;
		if (sc->kind == SC_DISCARD_ALL) {
			client_forget_prepared(c);
			/* temporary tables, advisory locks and cursors went with it */
			if (c->held_cursors)
				stmtmap_clear(c->held_cursors);
			client_unpin(c, PIN_ALL);
		}
		return;
	case SC_DEALLOCATE_ALL:
		client_forget_prepared(c);
		return;
	case SC_DEALLOCATE:
		if (sc->name && c->sql_prepared)
			stmtmap_remove(c->sql_prepared, sc->name);
		if (sc->name && s && s->sql_prepared)
			stmtmap_remove(s->sql_prepared, sc->name);
		return;
	case SC_PREPARE:
		if (sc->name && s && c->pool->mode != POOL_SESSION)
			client_track_prepare(c, p, sc);
		return;
	case SC_SET_CONFIG:
		/* a raw value, restated with set_config() as startup parameters are */
		if (!sc->name || !sc->value || is_reported_param(sc->name))
			return;
		if (c->in_tx) {
			if (!varcache_set(&c->tx_params, sc->name, sc->value))
				log_warn("out of memory tracking set_config %s", sc->name);
		} else {
			client_apply_session(c, sc->name, sc->value);
		}
		return;
	case SC_TEMP_OBJECT:
		client_pin(c, PIN_TEMP);
		return;
	case SC_DISCARD_TEMP:
		client_unpin(c, PIN_TEMP);
		return;
	case SC_ADVISORY_LOCK:
		client_pin(c, PIN_ADVISORY);
		return;
	case SC_ADVISORY_UNLOCK_ALL:
		client_unpin(c, PIN_ADVISORY);
		return;
	case SC_HOLD_CURSOR:
		if (!sc->name || (!c->held_cursors && !(c->held_cursors = stmtmap_new())) ||
		    !stmtmap_put(c->held_cursors, sc->name, "", 0))
			client_pin(c, PIN_UNTRACKED); /* out of memory: never unpinned but safe */
		client_pin(c, PIN_CURSOR);
		return;
	case SC_CLOSE:
		if (sc->name && c->held_cursors)
			stmtmap_remove(c->held_cursors, sc->name);
		if (!c->held_cursors || stmtmap_count(c->held_cursors) == 0)
			client_unpin(c, PIN_CURSOR);
		return;
	case SC_CLOSE_ALL:
		if (c->held_cursors)
			stmtmap_clear(c->held_cursors);
		client_unpin(c, PIN_CURSOR);
		return;
	case SC_UNTRACKED:
		client_pin(c, PIN_UNTRACKED);
		return;
	default:
		return;
	}
}

static bool tag_is(const char *tag, size_t len, const char *word)
{
	size_t n = strlen(word);
	return len >= n && memcmp(tag, word, n) == 0 && (len == n || tag[n] == ' ');
}

void client_statement_done(Client *c, Pending *p, const char *tag, size_t tag_len)
{
	/* the last outcome decides whether the transaction committed: "ROLLBACK" is also the tag
	 * of COMMIT in a failed transaction (and of ROLLBACK TO SAVEPOINT, which leaves the
	 * transaction open: only the outcome at its end counts) */
	c->tx_failed = tag_is(tag, tag_len, "ROLLBACK");
	if (tag_is(tag, tag_len, "BEGIN") || tag_is(tag, tag_len, "START TRANSACTION")) {
		c->in_tx = true;
		c->tx_start_ms = uv_now(G.loop);
	} else if (tag_is(tag, tag_len, "COMMIT")) {
		c->in_tx = false;
		for (size_t i = 0; i < c->tx_params.n; i++)
			client_apply_session(c, c->tx_params.items[i].name, c->tx_params.items[i].value);
		varcache_clear(&c->tx_params);
	}
	/* "ROLLBACK" is also the tag of ROLLBACK TO SAVEPOINT, which keeps the transaction and
	 * the SETs made before the savepoint: the transaction's end is read from ReadyForQuery
	 * (client_tx_ended), which drops whatever was not committed. */
	if (!p->cmds)
		return;
	size_t stmt_no = p->type == PQ_MSG_QUERY ? p->stmt_index : 0;
	for (size_t i = 0; i < p->cmds->n; i++)
		if (p->cmds->items[i].stmt_no == stmt_no)
			client_run_command(c, p, &p->cmds->items[i]);
}

void client_tx_ended(Client *c)
{
	c->in_tx = false;
	/* what the transaction pinned or unpinned holds if it committed: it ended on a success
	 * that was not a ROLLBACK (client_statement_done, client_statement_failed) */
	if (c->tx_failed)
		c->pins_pending = c->pins;
	else
		c->pins = c->pins_pending;
	c->tx_failed = false;
	client_pins_changed(c);
	varcache_clear(&c->tx_params);
	for (size_t i = 0; i < c->reported_resets.n; i++) {
		if (!client_params_will_change(c) || !varcache_set(&c->params, c->reported_resets.items[i].name,
				  c->reported_resets.items[i].value))
			log_warn("out of memory tracking RESET");
		c->params_dirty = true;
	}
	varcache_clear(&c->reported_resets);
	if (c->pool->mode != POOL_SESSION) {
		c->params_dirty = false; /* the next server gets the difference when linked */
		return;
	}
	if (c->params_dirty && c->server && server_is_quiet(c->server)) {
		c->params_dirty = false;
		if (!client_apply_params(c, c->server))
			log_warn("could not re-apply session parameters");
	}
}
