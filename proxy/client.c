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
#include "proxy/admin.h"
#include "proxy/auth_md5.h"
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
static PktAction client_login_ok(Client *c);
static bool client_apply_params(Client *c, Server *s);
static void client_vsend_error(Client *c, const char *severity, const char *sqlstate,
			       const char *fmt, va_list ap);

/* Reported by the server, never set by a client: not carried from one server to another. */
static const char *const server_only_params[] = { "server_version", "server_encoding",
						  "integer_datetimes", "is_superuser",
						  "session_authorization", "in_hot_standby", NULL };

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
	(void)was;
	conn_close(&c->conn);
}

static void client_on_error(Conn *conn, int status)
{
	Client *c = (Client *)conn;
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
	stmtmap_free(c->stmts);
	free(c->portal_stmt);
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
	c->last_active_ms = proxy_now_ms();
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
		if (!pool_acquire(c->pool, c))
			return PA_WAIT;
		if (!client_apply_params(c, c->server)) {
			client_fail(c, "53200", "out of memory");
			return PA_CLOSED;
		}
		return client_active_frame(c, hdr, pkt, full);
	case CL_ACTIVE:
		return client_active_frame(c, hdr, pkt, full);
	case CL_CLOSING:
		return PA_CLOSED;
	}
	return PA_CONSUMED;
}

/* Splits "-c a=b --c=d -cx=y" into parameters, as the server does with `options`. */
static bool client_parse_options(Client *c, const char *opts)
{
	char *copy = strdup(opts);
	if (!copy)
		return false;
	char *save = NULL;
	bool ok = true;
	bool expect_value = false;
	for (char *tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *kv = NULL;
		if (expect_value) {
			kv = tok;
			expect_value = false;
		} else if (strcmp(tok, "-c") == 0) {
			expect_value = true;
			continue;
		} else if (strncmp(tok, "-c", 2) == 0) {
			kv = tok + 2;
		} else if (strncmp(tok, "--", 2) == 0) {
			kv = tok + 2;
		} else {
			continue; /* other postgres switches are not session parameters */
		}
		char *eq = strchr(kv, '=');
		if (!eq)
			continue;
		*eq = '\0';
		for (char *p = kv; *p; p++)
			if (*p == '-')
				*p = '_';
		if (!varcache_set(&c->params, kv, eq + 1))
			ok = false;
	}
	free(copy);
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
				server_cancel(target->server);
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
		pq_write_negotiate_version(&b, PQ_PROTOCOL_3_0 & 0xffff, unknown, n_unknown);
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
	int rc = conn_send_pktbuf(&c->conn, &b);
	pktbuf_free(&b);
	if (rc != 0) {
		client_close(c, "write failed");
		return PA_CLOSED;
	}
	return PA_CONSUMED;
}

static PktAction client_auth_failed(Client *c, const char *why)
{
	log_info("client %s:%d: password authentication failed for user \"%s\": %s", c->addr,
		 c->port, c->user, why);
	client_fail(c, "28P01", "password authentication failed for user \"%s\"", c->user);
	return PA_CLOSED;
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
		if (sr == SCRAM_ERR_AUTH)
			return client_auth_failed(c, scram_server_error(c->scram));
		if (sr != SCRAM_OK) {
			client_fail(c, scram_result_sqlstate(sr), "%s", scram_server_error(c->scram));
			return PA_CLOSED;
		}
		PktBuf b;
		pktbuf_init(&b);
		pq_write_auth(&b, PQ_AUTH_SASL_CONTINUE, reply, reply_len);
		int rc = conn_send_pktbuf(&c->conn, &b);
		pktbuf_free(&b);
		if (rc != 0) {
			client_close(c, "write failed");
			return PA_CLOSED;
		}
		c->auth_step = AUTH_STEP_SASL_FINAL;
		return PA_CONSUMED;
	}
	if (c->auth_step == AUTH_STEP_SASL_FINAL) {
		const char *reply;
		size_t reply_len;
		ScramResult sr = scram_server_handle_final(c->scram, (const char *)r.p,
							   (size_t)(r.end - r.p), &reply, &reply_len);
		if (sr == SCRAM_ERR_AUTH)
			return client_auth_failed(c, scram_server_error(c->scram));
		if (sr != SCRAM_OK) {
			client_fail(c, scram_result_sqlstate(sr), "%s", scram_server_error(c->scram));
			return PA_CLOSED;
		}
		PktBuf b;
		pktbuf_init(&b);
		pq_write_auth(&b, PQ_AUTH_SASL_FINAL, reply, reply_len);
		int rc = conn_send_pktbuf(&c->conn, &b);
		pktbuf_free(&b);
		if (rc != 0) {
			client_close(c, "write failed");
			return PA_CLOSED;
		}
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
		pq_write_parameter_status(&b, w->name, mine && !is_server_only_param(w->name) ? mine : w->value);
	}
	pq_write_backend_key(&b, c->cancel_pid, c->cancel_key);
	pq_write_ready(&b, PQ_TX_IDLE);
	int rc = conn_send_pktbuf(&c->conn, &b);
	pktbuf_free(&b);
	if (rc != 0) {
		client_close(c, "write failed");
		return;
	}
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
static bool client_apply_params(Client *c, Server *s)
{
	Pool *p = c->pool;
	PktBuf q;
	pktbuf_init(&q);
	bool any_set = false;
	for (size_t i = 0; i < c->params.n; i++) {
		const VarParam *cp = &c->params.items[i];
		if (is_server_only_param(cp->name))
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
	/* values a previous client left behind */
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
		pktbuf_put_raw(&q, "\"", 1);
		for (const char *n = sp->name; *n; n++) {
			if (*n == '"')
				pktbuf_put_raw(&q, "\"", 1);
			pktbuf_put_raw(&q, n, 1);
		}
		pktbuf_put_raw(&q, "\";", 2);
		if (w) {
			if (!varcache_set(&s->params, sp->name, w))
				q.failed = true;
			i++;
		} else {
			varcache_remove(&s->params, sp->name);
		}
	}
	if (q.len == 0) {
		pktbuf_free(&q);
		return true;
	}
	pktbuf_put_raw(&q, "", 1);
	bool ok = !pktbuf_failed(&q) && server_send_injected(s, (const char *)q.data);
	pktbuf_free(&q);
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

static bool client_remember_parse(Client *c, const char *name, const char *text, size_t len)
{
	if (name[0] == '\0') {
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
	if (!c->stmts && !(c->stmts = stmtmap_new()))
		return false;
	return stmtmap_put(c->stmts, name, text, len);
}

static const char *client_stmt_text(Client *c, const char *name, size_t *len)
{
	if (!name || name[0] == '\0') {
		*len = c->unnamed_text ? strlen(c->unnamed_text) : 0;
		return c->unnamed_text;
	}
	const char *t = c->stmts ? stmtmap_get(c->stmts, name, len) : NULL;
	if (!t)
		*len = 0;
	return t;
}

static PktAction client_active_frame(Client *c, const PktHdr *hdr, const uint8_t *pkt, bool full)
{
	Server *s = c->server;
	if (!full) /* CopyData in pieces */
		return PA_FORWARD;
	const uint8_t *payload = pkt + 5;
	size_t len = hdr->len - 5;
	PktReader r;
	pkt_reader_init(&r, payload, len);
	bool ok = true;
	if (!c->xact_start_ns)
		c->xact_start_ns = proxy_now_ns();

	if (s->ext_error && hdr->type != PQ_MSG_SYNC && hdr->type != PQ_MSG_TERMINATE)
		return PA_FORWARD; /* the server skips it without answering */

	switch (hdr->type) {
	case PQ_MSG_QUERY: {
		const char *text;
		size_t tlen;
		if (!pkt_get_cstring(&r, &text, &tlen)) {
			client_fail(c, "08P01", "invalid Query message");
			return PA_CLOSED;
		}
		ok = server_expect(s, PQ_MSG_QUERY, 0, text, tlen);
		break;
	}
	case PQ_MSG_PARSE: {
		const char *name, *text;
		size_t tlen;
		if (!pkt_get_cstring(&r, &name, NULL) || !pkt_get_cstring(&r, &text, &tlen)) {
			client_fail(c, "08P01", "invalid Parse message");
			return PA_CLOSED;
		}
		ok = client_remember_parse(c, name, text, tlen) &&
		     server_expect(s, PQ_MSG_PARSE, 0, text, tlen);
		break;
	}
	case PQ_MSG_BIND: {
		const char *portal, *stmt;
		if (!pkt_get_cstring(&r, &portal, NULL) || !pkt_get_cstring(&r, &stmt, NULL)) {
			client_fail(c, "08P01", "invalid Bind message");
			return PA_CLOSED;
		}
		if (portal[0] == '\0') {
			free(c->portal_stmt);
			c->portal_stmt = strdup(stmt);
		}
		ok = server_expect(s, PQ_MSG_BIND, 0, NULL, 0);
		break;
	}
	case PQ_MSG_EXECUTE: {
		const char *portal;
		if (!pkt_get_cstring(&r, &portal, NULL)) {
			client_fail(c, "08P01", "invalid Execute message");
			return PA_CLOSED;
		}
		size_t tlen = 0;
		const char *text = client_stmt_text(c, portal[0] ? NULL : c->portal_stmt, &tlen);
		ok = server_expect(s, PQ_MSG_EXECUTE, 0, text, tlen);
		break;
	}
	case PQ_MSG_DESCRIBE:
		ok = server_expect(s, PQ_MSG_DESCRIBE, 0, NULL, 0);
		break;
	case PQ_MSG_CLOSE: {
		uint8_t what;
		const char *name;
		if (!pkt_get_u8(&r, &what) || !pkt_get_cstring(&r, &name, NULL)) {
			client_fail(c, "08P01", "invalid Close message");
			return PA_CLOSED;
		}
		if (what == 'S' && name[0] && c->stmts)
			stmtmap_remove(c->stmts, name);
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
	return PA_FORWARD;
}
