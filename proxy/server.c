/*
 * server: a connection to PostgreSQL, from connect through login to forwarding. See server.h.
 *
 * Response bookkeeping follows the protocol exactly: every request pgsift forwards or injects is
 * a Pending entry; each response type closes the entry it belongs to (ParseComplete a Parse,
 * CommandComplete an Execute, ReadyForQuery a Query / Sync / FunctionCall...). After an
 * ErrorResponse in the extended protocol the server skips every message up to the next Sync,
 * so those entries are dropped at once.
 */
#include "proxy/server.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/log.h"
#include "proxy/auth_md5.h"
#include "proxy/cancel.h"
#include "proxy/client.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"
#include "parser/parser.h"
#include "proxy/scram.h"
#include "proxy/sockopt.h"
#include "stats/stats.h"
#include "util/grow.h"

static PktAction server_on_frame(Conn *conn, const PktHdr *hdr, const uint8_t *pkt, bool full);
static void server_on_error(Conn *conn, int status);
static void server_on_closed(Conn *conn);
static void server_connect(Server *s);
static void server_connect_cb(uv_connect_t *req, int status);
static void server_gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res);
static TlsMode server_tls_mode(const Server *s);
static PktAction server_ssl_answer(Conn *conn, uint8_t byte, uint32_t after);
static void server_tls_done(Conn *conn, bool ok);
static void server_send_startup(Server *s);
static PktAction server_login_frame(Server *s, const PktHdr *hdr, const uint8_t *pkt);
static PktAction server_login_fail(Server *s, const char *sqlstate, const char *msg);
static PktAction server_active_frame(Server *s, const PktHdr *hdr, const uint8_t *pkt, bool full);
static PktAction server_on_parameter_status(Server *s, const Pending *p, PktAction a,
					    const uint8_t *payload, size_t len);
static void server_pop(Server *s);
static void server_emit(Server *s, Pending *p, const char *sqlstate, uint64_t rows);
static void server_at_ready(Server *s);
static void server_note_shape(Server *s, const Pending *p, uint64_t shape);
static void server_pending_name(const Server *s, const Pending *p, char *name, size_t cap);
static const char *server_password(Server *s);
static void server_free(Server *s);

const char *server_state_str(ServerState st)
{
	static const char *const names[] = {"connecting", "login", "idle",
					    "active",	  "used",  "closing"};
	return st <= SV_CLOSING ? names[st] : "?";
}

Server *server_launch(Pool *p)
{
	Server *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	const DbEntry *db = p->db;
	bool is_pipe = !db->host || db->host[0] == '/';
	if (conn_init(&s->conn, is_pipe, s, server_on_frame, server_on_error, server_on_closed) !=
	    0) {
		free(s);
		return NULL;
	}
	s->conn.is_server = true;
	s->pool = p;
	s->connect_ms = proxy_now_ms();
	s->login_deadline_ms =
		G.cfg->server_connect_timeout ? s->connect_ms + G.cfg->server_connect_timeout : 0;
	varcache_init(&s->params);
	prepared_set_init(&s->stmts);
	list_node_init(&s->pool_node);
	list_append(&G.servers, &s->all_node);
	pool_change_server_state(s, SV_CONNECTING);
	s->port = db->port ? db->port : 5432;
	snprintf(s->addr_str, sizeof(s->addr_str), "%s",
		 db->host ? db->host : "/var/run/postgresql");
	server_connect(s);
	return s;
}

static void server_connect(Server *s)
{
	const DbEntry *db = s->pool->db;
	int r;
	if (s->conn.is_pipe) {
		char path[512];
		snprintf(path, sizeof(path), "%s/.s.PGSQL.%d", s->addr_str, s->port);
		uv_pipe_connect(&s->connect_req, &s->conn.h.pipe, path, server_connect_cb);
		return;
	}
	struct sockaddr_in a4;
	struct sockaddr_in6 a6;
	if (uv_ip4_addr(db->host, s->port, &a4) == 0) {
		r = uv_tcp_connect(&s->connect_req, &s->conn.h.tcp, (struct sockaddr *)&a4,
				   server_connect_cb);
	} else if (uv_ip6_addr(db->host, s->port, &a6) == 0) {
		r = uv_tcp_connect(&s->connect_req, &s->conn.h.tcp, (struct sockaddr *)&a6,
				   server_connect_cb);
	} else {
		struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
		s->gai.data = s;
		r = uv_getaddrinfo(G.loop, &s->gai, server_gai_cb, db->host, NULL, &hints);
		s->gai_active = r == 0;
	}
	if (r != 0) {
		char msg[300];
		snprintf(msg, sizeof(msg), "could not connect to server %s:%d: %s", s->addr_str,
			 s->port, uv_strerror(r));
		pool_server_failed(s->pool, s, "08006", msg);
		server_close(s, msg);
	}
}

static void server_gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	Server *s = req->data;
	s->gai_active = false;
	if (s->free_after_gai) {
		uv_freeaddrinfo(res);
		server_free(s);
		return;
	}
	if (s->state == SV_CLOSING) {
		uv_freeaddrinfo(res);
		return;
	}
	int r = status;
	if (r == 0) {
		struct sockaddr_storage ss;
		memcpy(&ss, res->ai_addr, res->ai_addrlen);
		if (ss.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)s->port);
		else
			((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)s->port);
		r = uv_tcp_connect(&s->connect_req, &s->conn.h.tcp, (struct sockaddr *)&ss,
				   server_connect_cb);
	}
	uv_freeaddrinfo(res);
	if (r != 0) {
		char msg[300];
		snprintf(msg, sizeof(msg), "could not resolve server host \"%s\": %s", s->addr_str,
			 uv_strerror(r));
		pool_server_failed(s->pool, s, "08006", msg);
		server_close(s, msg);
	}
}

static void server_connect_cb(uv_connect_t *req, int status)
{
	Server *s = (Server *)((char *)req - offsetof(Server, connect_req));
	if (status == UV_ECANCELED || s->state == SV_CLOSING)
		return;
	if (status != 0) {
		char msg[300];
		snprintf(msg, sizeof(msg), "could not connect to server %s:%d: %s", s->addr_str,
			 s->port, uv_strerror(status));
		pool_server_failed(s->pool, s, "08006", msg);
		server_close(s, msg);
		return;
	}
	if (!s->conn.is_pipe) {
		uv_tcp_nodelay(&s->conn.h.tcp, 1);
		sockopt_apply_tcp(&s->conn.h.tcp, G.cfg); /* keepalives towards servers too */
	}
	pool_change_server_state(s, SV_LOGIN);
	TlsMode mode = server_tls_mode(s);
	/* libpq's allow tries plaintext first; like it, TLS is asked for from prefer on. There
	 * is no TLS over a Unix socket (PostgreSQL refuses it there). */
	if (mode >= TLS_PREFER && !s->conn.is_pipe) {
		char err[300];
		if (!tls_refresh(G.cfg, err, sizeof(err)))
			log_error("TLS keeps its previous settings: %s", err);
		static const uint8_t ssl_request[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
		if (conn_send(&s->conn, ssl_request, sizeof(ssl_request)) != 0) {
			pool_server_failed(s->pool, s, "08006",
					   "could not send SSLRequest to server");
			server_close(s, "SSLRequest write failed");
			return;
		}
		conn_expect_byte(&s->conn, server_ssl_answer);
		conn_start(&s->conn);
		return;
	}
	server_send_startup(s);
}

/* The database's sslmode, else server_tls_sslmode. */
static TlsMode server_tls_mode(const Server *s)
{
	int m = s->pool->db->sslmode;
	return m >= 0 ? (TlsMode)m : G.cfg->server_tls_sslmode;
}

/* The server's answer to SSLRequest: 'S' starts TLS, 'N' goes on in plaintext unless TLS is
 * required. */
static PktAction server_ssl_answer(Conn *conn, uint8_t byte, uint32_t after)
{
	Server *s = (Server *)conn;
	TlsMode mode = server_tls_mode(s);
	char msg[300];
	if (byte == 'N') {
		if (mode < TLS_REQUIRE) {
			server_send_startup(s);
			return s->state == SV_CLOSING ? PA_CLOSED : PA_CONSUMED;
		}
		snprintf(msg, sizeof(msg), "server %s:%d does not support TLS, but sslmode is %s",
			 s->addr_str, s->port, tls_mode_str(mode));
		return server_login_fail(s, "08006", msg);
	}
	if (byte != 'S')
		return server_login_fail(s, "08P01", "invalid response to SSLRequest from server");
	if (after > 0)
		/* they were not encrypted: anyone on the path could have sent them (CVE-2021-23222) */
		return server_login_fail(s, "08P01",
					 "server sent unencrypted data after its SSL response");
	Tls *t = tls_new_connect(s->pool->db->host, mode);
	if (!t)
		return server_login_fail(s, "08006", "could not start TLS towards the server");
	conn_start_tls(conn, t, server_tls_done);
	return s->state == SV_CLOSING ? PA_CLOSED : PA_CONSUMED;
}

static void server_tls_done(Conn *conn, bool ok)
{
	Server *s = (Server *)conn;
	if (ok) {
		server_send_startup(s);
		return;
	}
	char msg[400];
	snprintf(msg, sizeof(msg), "could not connect to server %s:%d: %s", s->addr_str, s->port,
		 tls_error(conn->tls));
	(void)server_login_fail(s, "08006", msg);
}

/* The StartupMessage (after TLS when there is TLS); the login goes on in server_login_frame. */
static void server_send_startup(Server *s)
{
	PktBuf b;
	pktbuf_init(&b);
	const char *keys[] = {"user", "database", "application_name"};
	const char *values[] = {s->pool->server_user, s->pool->server_dbname,
				s->pool->db->application_name};
	pq_write_startup(&b, keys, values, values[2] ? 3 : 2);
	int r = conn_send_pktbuf(&s->conn, &b);
	pktbuf_free(&b);
	if (r != 0) {
		pool_server_failed(s->pool, s, "08006", "could not send startup packet to server");
		server_close(s, "startup write failed");
		return;
	}
	conn_start(&s->conn);
}

/* ---- frames ---- */

static PktAction server_on_frame(Conn *conn, const PktHdr *hdr, const uint8_t *pkt, bool full)
{
	Server *s = (Server *)conn;
	if (log_enabled(LL_NOISE))
		log_msg(LL_NOISE, "server pid %u -> '%c' len %u (queue %u, front %c/%d)", s->be_pid,
			hdr->type, hdr->len, s->q_len,
			s->q_len ? s->queue[s->q_head].type ? s->queue[s->q_head].type : '-' : '-',
			s->q_len ? s->queue[s->q_head].local : 0);
	if (s->state == SV_LOGIN) {
		if (!full) /* a message PostgreSQL does not bound (conn.h), too large to hold */
			return hdr->type == PQ_MSG_NOTICE_RESPONSE ?
				       PA_CONSUMED :
				       server_login_fail(s, "08P01",
							 "message too long from server");
		return server_login_frame(s, hdr, pkt);
	}
	return server_active_frame(s, hdr, pkt, full);
}

static const char *server_password(Server *s)
{
	const DbEntry *db = s->pool->db;
	if (db->password)
		return db->password;
	const UserEntry *u = config_find_user(G.cfg, s->pool->server_user);
	if (u)
		return u->secret;
	/* a user known from auth_query logs in as its client did (same user, same secret) */
	return strcmp(s->pool->server_user, s->pool->user) == 0 ? s->pool->auth_secret : NULL;
}

static bool server_send_password_msg(Server *s, const void *data, size_t len, bool cstring)
{
	PktBuf b;
	pktbuf_init(&b);
	pq_write_password(&b, data, len, cstring);
	int r = conn_send_pktbuf(&s->conn, &b);
	pktbuf_free(&b);
	return r == 0;
}

static PktAction server_login_fail(Server *s, const char *sqlstate, const char *msg)
{
	pool_server_failed(s->pool, s, sqlstate, msg);
	server_close(s, msg);
	return PA_CLOSED;
}

static PktAction server_auth_request(Server *s, const uint8_t *payload, size_t len)
{
	PktReader r;
	uint32_t code;
	pkt_reader_init(&r, payload, len);
	if (!pkt_get_u32(&r, &code))
		return server_login_fail(s, "08P01", "invalid authentication request from server");
	const char *pw = server_password(s);
	switch (code) {
	case PQ_AUTH_OK:
		return PA_CONSUMED;
	case PQ_AUTH_CLEARTEXT:
		if (!pw || auth_md5_is_secret(pw) || strncmp(pw, "SCRAM-SHA-256$", 14) == 0)
			return server_login_fail(
				s, "28P01",
				"server asked for a cleartext password and pgsift has none "
				"for this user (set password in [databases] or auth_file)");
		return server_send_password_msg(s, pw, strlen(pw), true) ?
			       PA_CONSUMED :
			       server_login_fail(s, "08006", "write failed");
	case PQ_AUTH_MD5: {
		const uint8_t *salt;
		char out[64];
		if (!pkt_get_bytes(&r, 4, &salt))
			return server_login_fail(s, "08P01", "invalid md5 request from server");
		if (!pw || !auth_md5_response(pw, s->pool->server_user, salt, out))
			return server_login_fail(
				s, "28P01",
				"server asked for an md5 password and pgsift has no "
				"password or md5 secret for this user");
		return server_send_password_msg(s, out, strlen(out), true) ?
			       PA_CONSUMED :
			       server_login_fail(s, "08006", "write failed");
	}
	case PQ_AUTH_SASL: {
		bool has_scram = false;
		const char *mech;
		size_t mlen;
		while (pkt_get_cstring(&r, &mech, &mlen) && mlen > 0)
			if (strcmp(mech, SCRAM_MECHANISM) == 0)
				has_scram = true;
		if (!has_scram)
			return server_login_fail(s, "08P01",
						 "server offers no SASL mechanism pgsift supports");
		/* A second SASL request during an exchange is a protocol violation,
		 * and starting over would lose the exchange already in s->scram. */
		if (s->scram)
			return server_login_fail(s, "08P01",
						 "server restarted SASL authentication");
		ScramClient *sc = NULL;
		ScramSecret secret;
		if (pw && scram_secret_parse(pw, &secret)) {
			if (s->pool->have_scram_keys)
				sc = scram_client_new_keys(s->pool->scram_client_key,
							   s->pool->scram_server_key);
			else
				return server_login_fail(s, "28P01",
							 "server asked for SCRAM and pgsift only "
							 "has a SCRAM secret for this "
							 "user: clients must log in with SCRAM "
							 "first, or give a password");
		} else if (pw && !auth_md5_is_secret(pw)) {
			sc = scram_client_new(pw);
		} else {
			return server_login_fail(
				s, "28P01",
				"server asked for SCRAM and pgsift has no password for this user");
		}
		if (!sc)
			return server_login_fail(s, "53200", "out of memory");
		s->scram = sc;
		const char *msg;
		size_t msg_len;
		if (scram_client_first(sc, &msg, &msg_len) != SCRAM_OK)
			return server_login_fail(s, "XX000", "SCRAM failed");
		PktBuf b;
		pktbuf_init(&b);
		pq_write_sasl_initial(&b, SCRAM_MECHANISM, msg, msg_len);
		int rc = conn_send_pktbuf(&s->conn, &b);
		pktbuf_free(&b);
		return rc == 0 ? PA_CONSUMED : server_login_fail(s, "08006", "write failed");
	}
	case PQ_AUTH_SASL_CONTINUE: {
		const char *reply;
		size_t reply_len;
		if (!s->scram)
			return server_login_fail(s, "08P01",
						 "unexpected SASL continue from server");
		ScramResult sr = scram_client_handle_first(
			s->scram, (const char *)r.p, (size_t)(r.end - r.p), &reply, &reply_len);
		if (sr != SCRAM_OK)
			return server_login_fail(s, scram_result_sqlstate(sr),
						 scram_client_error(s->scram));
		return server_send_password_msg(s, reply, reply_len, false) ?
			       PA_CONSUMED :
			       server_login_fail(s, "08006", "write failed");
	}
	case PQ_AUTH_SASL_FINAL: {
		if (!s->scram)
			return server_login_fail(s, "08P01", "unexpected SASL final from server");
		ScramResult sr = scram_client_handle_final(s->scram, (const char *)r.p,
							   (size_t)(r.end - r.p));
		if (sr != SCRAM_OK)
			return server_login_fail(s, scram_result_sqlstate(sr),
						 scram_client_error(s->scram));
		scram_client_free(s->scram);
		s->scram = NULL;
		return PA_CONSUMED;
	}
	default: {
		char msg[128];
		snprintf(msg, sizeof(msg),
			 "server asked for an unsupported authentication method (%u)", code);
		return server_login_fail(s, "08P01", msg);
	}
	}
}

static void server_note_param(Server *s, const uint8_t *payload, size_t len)
{
	PktReader r;
	const char *name, *value;
	pkt_reader_init(&r, payload, len);
	if (!pkt_get_cstring(&r, &name, NULL) || !pkt_get_cstring(&r, &value, NULL))
		return;
	if (!varcache_set(&s->params, name, value))
		log_warn("out of memory keeping server parameter %s", name);
}

static PktAction server_login_frame(Server *s, const PktHdr *hdr, const uint8_t *pkt)
{
	const uint8_t *payload = pkt + hdr->hdr_len;
	size_t len = hdr->len - hdr->hdr_len;
	switch (hdr->type) {
	case PQ_MSG_AUTH:
		return server_auth_request(s, payload, len);
	case PQ_MSG_PARAMETER_STATUS:
		server_note_param(s, payload, len);
		return PA_CONSUMED;
	case PQ_MSG_BACKEND_KEY_DATA:
		if (len >= 8) {
			s->be_pid = pkt_be32(payload);
			s->be_key = pkt_be32(payload + 4);
		}
		return PA_CONSUMED;
	case PQ_MSG_ERROR_RESPONSE: {
		PktError e;
		char msg[512];
		if (!pkt_parse_error(payload, len, &e) || !e.message)
			return server_login_fail(s, "08P01", "server login failed");
		snprintf(msg, sizeof(msg), "%s", e.message);
		return server_login_fail(s, e.sqlstate ? e.sqlstate : "08P01", msg);
	}
	case PQ_MSG_READY_FOR_QUERY:
		s->tx_state = len >= 1 ? payload[0] : PQ_TX_IDLE;
		log_debug("server %s:%d pid %u logged in for %s/%s", s->addr_str, s->port,
			  s->be_pid, s->pool->dbname, s->pool->user);
		pool_server_ready(s->pool, s);
		return PA_CONSUMED;
	case PQ_MSG_NOTICE_RESPONSE:
	case PQ_MSG_NEGOTIATE_PROTOCOL_VERSION:
		return PA_CONSUMED;
	default:
		return server_login_fail(s, "08P01", "unexpected message from server during login");
	}
}

static inline Pending *server_front(Server *s)
{
	return s->q_len ? &s->queue[s->q_head] : NULL;
}

static void server_pop(Server *s)
{
	if (!s->q_len)
		return;
	Pending *p = &s->queue[s->q_head];
	if (p->stmt) {
		prepared_unref(p->stmt);
		p->stmt = NULL;
	}
	if (p->cmds) {
		parser_session_commands_free(p->cmds);
		free(p->cmds);
		p->cmds = NULL;
	}
	s->q_head = (s->q_head + 1) % s->q_cap;
	if (--s->q_len == 0) {
		s->q_head = 0;
		s->texts_len = 0;
	}
}

/* A Parse the server did not carry out (error, or skipped after one): the statement is not on
 * the server, and the client's name for it does not exist either, as in PostgreSQL. */
static void server_parse_undone(Server *s, Pending *p)
{
	if (p->type != PQ_MSG_PARSE)
		return;
	if (log_enabled(LL_NOISE))
		log_msg(LL_NOISE, "server pid %u: Parse of PGSIFT_%llu undone", s->be_pid,
			(unsigned long long)p->stmt_id);
	if (p->stmt_id)
		prepared_set_remove(&s->stmts, p->stmt_id);
	if (p->name_len && s->client && s->client->named) {
		char name[256];
		server_pending_name(s, p, name, sizeof(name));
		PreparedStmt *st = prepared_names_get(s->client->named, name);
		if (st && (st->id == p->stmt_id || !(p->flags & PF_DUP_NAME)))
			prepared_names_remove(s->client->named, name);
	}
}

/* The client's statement name a request carries (PF_DUP_NAME, Describe...), NUL-terminated. */
static void server_pending_name(const Server *s, const Pending *p, char *name, size_t cap)
{
	size_t n = p->name_len < cap - 1 ? p->name_len : cap - 1;
	memcpy(name, s->texts + p->name_off, n);
	name[n] = '\0';
}

/*
 * A statement's result shape, from the server's answer to a Describe of it: what this server's
 * plan returns, and, when the client asked, what the client now decodes rows by. pgsift's own
 * Describe (PF_SHAPE_CHECK) was made for a client waiting to Bind: it goes on now.
 */
static void server_note_shape(Server *s, const Pending *p, uint64_t shape)
{
	if (p->stmt && shape != PKT_SHAPE_UNKNOWN) {
		prepared_set_set_shape(&s->stmts, p->stmt->id, shape);
		if (!(p->flags & PF_INJECTED) && p->name_len && s->client) {
			char name[256];
			server_pending_name(s, p, name, sizeof(name));
			client_note_shape(s->client, name, shape);
		}
	}
	if ((p->flags & PF_SHAPE_CHECK) && s->client)
		client_shape_known(s->client);
}

/* Drops what the server will skip after an extended-protocol error: everything up to Sync. */
static void server_skip_to_sync(Server *s)
{
	while (s->q_len && server_front(s)->type != PQ_MSG_SYNC) {
		server_parse_undone(s, server_front(s));
		if ((server_front(s)->flags & PF_SHAPE_CHECK) && s->client)
			client_shape_known(s->client); /* unknown: the Parse failed */
		server_pop(s);
	}
	if (!s->q_len)
		s->ext_error = true;
}

static PktAction server_forward(Server *s, const Pending *p)
{
	if (!s->client || (p && (p->flags & PF_INJECTED)))
		return PA_CONSUMED;
	return PA_FORWARD;
}

/* The client's protocol-level name an extended-protocol DEALLOCATE named goes. */
static void server_local_deallocate(Server *s, Client *c, const Pending *p)
{
	char name[256];
	server_pending_name(s, p, name, sizeof(name));
	if (c->named)
		prepared_names_remove(c->named, name);
}

/* Answers, in order, the requests pgsift answers itself once they reach the queue's front. */
static void server_drain_local(Server *s)
{
	Pending *p;
	while ((p = server_front(s)) && p->local != PL_NONE) {
		Client *c = s->client;
		if (c) {
			PktBuf b;
			pktbuf_init(&b);
			switch (p->local) {
			case PL_PARSE_COMPLETE:
				pq_write_bare(&b, PQ_MSG_PARSE_COMPLETE);
				break;
			case PL_CLOSE_COMPLETE:
				pq_write_bare(&b, PQ_MSG_CLOSE_COMPLETE);
				break;
			case PL_DEALLOCATE:
				pq_write_command_complete(&b, "DEALLOCATE");
				pq_write_ready(&b, s->tx_state ? s->tx_state : PQ_TX_IDLE);
				break;
			case PL_BIND_COMPLETE:
				pq_write_bare(&b, PQ_MSG_BIND_COMPLETE);
				break;
			case PL_STATEMENT_NO_DATA:
				pq_write_no_parameters(&b);
				/* fall through */
			case PL_NO_DATA:
				pq_write_bare(&b, PQ_MSG_NO_DATA);
				break;
			case PL_EXEC_DEALLOCATE:
				/* only now: an error earlier in the pipeline skips it, as PostgreSQL
				 * would skip the DEALLOCATE */
				server_local_deallocate(s, c, p);
				pq_write_command_complete(&b, "DEALLOCATE");
				break;
			}
			conn_flush(&s->conn);
			(void)conn_send_pktbuf(&c->conn, &b);
			pktbuf_free(&b);
		}
		server_pop(s);
	}
}

/* Whether a ParameterStatus tells the client nothing new: the value is what it has. */
static bool server_client_knows_param(Client *c, const uint8_t *payload, size_t len)
{
	PktReader r;
	const char *name, *value;
	pkt_reader_init(&r, payload, len);
	if (!pkt_get_cstring(&r, &name, NULL) || !pkt_get_cstring(&r, &value, NULL))
		return false;
	const char *mine = varcache_get(&c->params, name);
	return mine && strcmp(mine, value) == 0;
}

/* Sends our own ErrorResponse in place of the server's, keeping the server's severity. */
static PktAction server_replace_error(Server *s, PktAction a, const char *sqlstate, const char *msg)
{
	if (a != PA_FORWARD)
		return a;
	PktBuf b;
	pktbuf_init(&b);
	pq_write_error(&b, "ERROR", sqlstate, msg, NULL, NULL);
	conn_flush(&s->conn);
	(void)conn_send_pktbuf(&s->client->conn, &b);
	pktbuf_free(&b);
	return PA_CONSUMED;
}

static PktAction server_on_error_response(Server *s, Pending *p, PktAction a,
					  const uint8_t *payload, size_t len)
{
	PktError e;
	const char *state = "XX000";
	/* one too large to hold is read from its head, where the SQLSTATE is (conn.h) */
	if ((pkt_parse_error(payload, len, &e) || e.sqlstate) && e.sqlstate)
		state = e.sqlstate;
	if (!p) {
		/* FATAL without a request: the server is going away (admin shutdown...) */
		s->close_needed = true;
		return a;
	}
	p->flags |= PF_ERROR;
	if (s->client && !(p->flags & PF_INJECTED))
		client_statement_failed(s->client);
	/* pgsift's own Parse of a client's statement, ahead of its Bind or Describe: the client
	 * must see why its message fails (42P01 after a DROP TABLE...), in its place; otherwise
	 * it gets a bare ReadyForQuery and a driver waiting for BindComplete hangs (pgx) */
	if ((p->flags & PF_INJECTED) && p->type == PQ_MSG_PARSE && p->stmt_id && s->client)
		a = PA_FORWARD;
	if (p->flags & PF_DUP_NAME) {
		char name[256], msg[320];
		server_pending_name(s, p, name, sizeof(name));
		snprintf(msg, sizeof(msg), "prepared statement \"%s\" already exists", name);
		a = server_replace_error(s, a, "42P05", msg);
		state = "42P05";
	} else if (p->flags & PF_TOO_LONG) {
		char msg[300];
		snprintf(msg, sizeof(msg),
			 "prepared statement too long for transaction pooling: a named statement "
			 "larger than %u bytes (pkt_buf) cannot be prepared again on another "
			 "server; "
			 "use an unnamed statement, a larger pkt_buf or pool_mode = session",
			 conn_buffer_size());
		a = server_replace_error(s, a, "54000", msg);
		state = "54000";
	} else if (p->flags & PF_RESULT_CHANGED) {
		/* as PostgreSQL words it, source fields included (asyncpg prepares again) */
		if (a == PA_FORWARD) {
			PktBuf b;
			pktbuf_init(&b);
			pq_write_error_from(&b, "ERROR", "0A000",
					    "cached plan must not change result type", NULL, NULL,
					    "plancache.c", "RevalidateCachedQuery");
			conn_flush(&s->conn);
			(void)conn_send_pktbuf(&s->client->conn, &b);
			pktbuf_free(&b);
			a = PA_CONSUMED;
		}
		state = "0A000";
	} else if (p->flags & PF_LISTEN_REFUSED) {
		a = server_replace_error(s, a, "0A000",
					 "LISTEN is not supported in transaction pooling mode: use "
					 "pool_mode = session for this database or user");
		state = "0A000";
	} else if ((p->flags & PF_TIMED_OUT) && strcmp(state, "57014") == 0) {
		char msg[200];
		snprintf(msg, sizeof(msg),
			 "canceling statement due to query_timeout (%llu ms) set in pgsift",
			 (unsigned long long)G.cfg->query_timeout);
		a = server_replace_error(s, a, "57014", msg);
	}
	/* PostgreSQL found pgsift's statement stale after a schema change: it is prepared anew
	 * before its next use, so that a client preparing the text again gets a fresh plan */
	if (strcmp(state, "0A000") == 0 && p->stmt &&
	    (p->type == PQ_MSG_BIND || p->type == PQ_MSG_DESCRIBE)) {
		prepared_set_unconfirm(&s->stmts, p->stmt->id);
		p->stmt->gen++; /* and so is every server's plan from before */
	}
	if (p->type == PQ_MSG_QUERY || p->type == PQ_MSG_EXECUTE ||
	    p->type == PQ_MSG_FUNCTION_CALL || p->type == PQ_MSG_PARSE)
		server_emit(s, p, state, 0);
	if (p->type != PQ_MSG_QUERY && p->type != PQ_MSG_FUNCTION_CALL && p->type != PQ_MSG_SYNC) {
		server_parse_undone(s, p);
		server_pop(s);
		server_skip_to_sync(s);
	}
	return a;
}

/* A ParameterStatus while the server is linked or being reset: the server's cache follows it,
 * and so does the client's, except that a RESET goes back to the client's own startup value
 * (client_reset_value), which the client is told instead. A report caused by pgsift's own SET
 * of a value the client already has is not news to the client. */
static PktAction server_on_parameter_status(Server *s, const Pending *p, PktAction a,
					    const uint8_t *payload, size_t len)
{
	server_note_param(s, payload, len);
	if (!s->client)
		return PA_CONSUMED;
	if (!(p && (p->flags & PF_INJECTED))) {
		s->applied_sig = 0;
		PktReader r;
		const char *name, *value;
		pkt_reader_init(&r, payload, len);
		if (!pkt_get_cstring(&r, &name, NULL) || !pkt_get_cstring(&r, &value, NULL))
			return PA_FORWARD;
		/* a RESET goes back to the client's own startup value, as in PostgreSQL,
		 * not to the server connection's: the client is told that one (and the
		 * server gets it before the client's next statement) */
		const char *mine = client_reset_value(s->client, p, name);
		if (!client_params_will_change(s->client) ||
		    !varcache_set(&s->client->params, name, mine ? mine : value))
			log_warn("out of memory keeping client parameter %s", name);
		if (mine && a == PA_FORWARD) {
			PktBuf b;
			pktbuf_init(&b);
			pq_write_parameter_status(&b, name, mine);
			conn_flush(&s->conn);
			(void)conn_send_pktbuf(&s->client->conn, &b);
			pktbuf_free(&b);
			return PA_CONSUMED;
		}
	} else if (server_client_knows_param(s->client, payload, len)) {
		return PA_CONSUMED; /* pgsift set what the client already has: no news */
	}
	return PA_FORWARD;
}

/*
 * A frame from a server that is logged in. Each response closes the request it belongs to in the
 * queue (server_pop): ParseComplete a Parse, BindComplete a Bind, CommandComplete an Execute,
 * ReadyForQuery a Query, Sync or FunctionCall; after an ErrorResponse in the extended protocol
 * the requests the server skips are dropped up to the Sync. Statements are timed and reported
 * here (server_emit). The frame is forwarded to the linked client unless the request was
 * pgsift's own (PF_INJECTED); pgsift's own answers (PL_*) go out in their place in the order.
 *
 * Reads and changes: the queue, tx_state, ext_error, the server's and the client's parameter
 * caches, the pool's byte counters. At ReadyForQuery with nothing outstanding, server_at_ready
 * may hand the server back to the pool: the caller must not assume s is still linked after.
 */
static PktAction server_active_frame(Server *s, const PktHdr *hdr, const uint8_t *pkt, bool full)
{
	Pending *p = server_front(s);
	const uint8_t *payload = pkt + hdr->hdr_len;
	size_t len =
		(full ? hdr->len : s->conn.frame_avail) - hdr->hdr_len; /* the head if partial */
	PktAction a = server_forward(s, p);
	if (a == PA_FORWARD)
		s->pool->stats.bytes_sent += hdr->len;

	switch (hdr->type) {
	case PQ_MSG_DATA_ROW:
	case PQ_MSG_COPY_DATA:
		return a;
	case PQ_MSG_PARSE_COMPLETE:
		if (p && p->type == PQ_MSG_PARSE && p->stmt_id)
			prepared_set_confirm(&s->stmts, p->stmt_id);
		/* fall through */
	case PQ_MSG_BIND_COMPLETE:
	case PQ_MSG_CLOSE_COMPLETE:
	case PQ_MSG_NO_DATA:
		if (p && p->type == PQ_MSG_DESCRIBE)
			server_note_shape(s, p, PKT_SHAPE_NO_DATA);
		if (p && p->type != PQ_MSG_QUERY)
			server_pop(s);
		break;
	case PQ_MSG_ROW_DESCRIPTION:
		if (p && p->type == PQ_MSG_DESCRIBE) {
			server_note_shape(s, p, pkt_result_shape(payload, len));
			server_pop(s);
		}
		break;
	case PQ_MSG_COMMAND_COMPLETE:
	case PQ_MSG_PORTAL_SUSPENDED:
	case PQ_MSG_EMPTY_QUERY_RESPONSE: {
		if (!p)
			break;
		uint64_t rows = 0;
		if (hdr->type == PQ_MSG_COMMAND_COMPLETE && len > 0) {
			size_t tl = strnlen((const char *)payload, len);
			rows = pkt_command_rows((const char *)payload, tl);
			if (s->client && !(p->flags & PF_INJECTED))
				client_statement_done(s->client, p, (const char *)payload, tl);
		}
		if (hdr->type != PQ_MSG_EMPTY_QUERY_RESPONSE)
			server_emit(s, p, NULL, rows);
		if (p->type == PQ_MSG_QUERY) {
			p->stmt_index++;
			p->stmt_start_ns = s->last_done_ns;
		} else if (p->type == PQ_MSG_EXECUTE) {
			server_pop(s);
		}
		break;
	}
	case PQ_MSG_ERROR_RESPONSE:
		a = server_on_error_response(s, p, a, payload, len);
		break;
	case PQ_MSG_FUNCTION_CALL_RESPONSE:
		if (p && p->type == PQ_MSG_FUNCTION_CALL)
			server_emit(s, p, NULL, 0);
		break;
	case PQ_MSG_COPY_IN_RESPONSE:
	case PQ_MSG_COPY_OUT_RESPONSE:
	case PQ_MSG_COPY_BOTH_RESPONSE:
		if (p)
			p->flags |= PF_COPY;
		break;
	case PQ_MSG_PARAMETER_STATUS:
		return server_on_parameter_status(s, p, a, payload, len);
	case PQ_MSG_READY_FOR_QUERY: {
		s->tx_state = len >= 1 ? payload[0] : PQ_TX_IDLE;
		if (p && (p->type == PQ_MSG_QUERY || p->type == PQ_MSG_SYNC ||
			  p->type == PQ_MSG_FUNCTION_CALL))
			server_pop(s);
		if (s->client && a == PA_FORWARD) {
			Client *c = s->client;
			if (s->tx_state == PQ_TX_IDLE && server_is_quiet(s) && c->xact_start_ns) {
				s->pool->stats.xact_count++;
				s->pool->stats.xact_time_us +=
					(conn_turn_ns() - c->xact_start_ns) / 1000;
				c->xact_start_ns = 0;
			}
			if (s->tx_state == PQ_TX_IDLE)
				client_tx_ended(s->client);
			else if (server_is_quiet(s))
				s->client->tx_idle_since_ms = uv_now(G.loop);
		}
		if (!server_is_quiet(s) && server_front(s)->local == PL_NONE)
			return a;
		/* The frame must reach the client before the server may change hands. */
		if (a == PA_FORWARD)
			conn_forward_bytes(&s->conn, pkt, hdr->len);
		conn_flush(&s->conn);
		server_drain_local(s);
		if (server_is_quiet(s))
			server_at_ready(s);
		return PA_CONSUMED;
	}
	default:
		return a;
	}
	/* pgsift's own answers that are next in line go after this frame (after one too large
	 * to hold, at the ReadyForQuery that follows it) */
	if (full && s->q_len && server_front(s)->local != PL_NONE) {
		if (a == PA_FORWARD)
			conn_forward_bytes(&s->conn, pkt, hdr->len);
		conn_flush(&s->conn);
		server_drain_local(s);
		return PA_CONSUMED;
	}
	return a;
}

/* ReadyForQuery with nothing outstanding: the only point where a server may change hands. */
static void server_at_ready(Server *s)
{
	if (s->state == SV_USED) {
		if (s->tx_state != PQ_TX_IDLE || s->close_needed) {
			server_close(s, "reset did not leave the server idle");
			return;
		}
		pool_server_ready(s->pool, s);
		return;
	}
	if (s->state != SV_ACTIVE || !s->client)
		return;
	Client *c = s->client;
	if (s->pool->mode == POOL_STATEMENT && s->tx_state != PQ_TX_IDLE) {
		client_fail(c, "08P01",
			    "transaction blocks are not allowed in statement pooling mode "
			    "(pool_mode = statement): use pool_mode = transaction");
		return;
	}
	if (s->tx_state == PQ_TX_IDLE && s->pool->mode != POOL_SESSION && !client_is_pinned(c)) {
		pool_release(s->pool, s, false);
		pool_change_client_state(c, CL_IDLE);
	}
}

static void server_emit(Server *s, Pending *p, const char *sqlstate, uint64_t rows)
{
	/* pgsift's own statements (the SETs that give a client its parameters) go in the same
	 * write as the client's next one and their answers usually come in the same read: the
	 * client's statement is timed from when it was sent, not from that answer, which would
	 * make it last 0 ns */
	if (p->flags & PF_INJECTED)
		return;
	uint64_t now = conn_turn_ns();
	uint64_t start = p->stmt_start_ns > p->sent_ns ? p->stmt_start_ns : p->sent_ns;
	if (s->last_done_ns > start)
		start = s->last_done_ns;
	s->last_done_ns = now;
	Client *c = s->client;
	s->pool->stats.query_count++;
	s->pool->stats.query_time_us += (now - start) / 1000;
	/* track_statements = 0: pgsift is a plain pooler, only SHOW STATS' counters above move */
	if (!c || !G.cfg->track_statements)
		return;
	StatsEvent ev = {0};
	ev.kind = p->type == PQ_MSG_QUERY	  ? SE_QUERY :
		  p->type == PQ_MSG_FUNCTION_CALL ? SE_FUNCTION :
						    SE_EXECUTE;
	if (p->flags & PF_COPY)
		ev.kind = SE_COPY;
	ev.stmt_index = p->stmt_index;
	if (sqlstate) {
		memcpy(ev.sqlstate, sqlstate, 5);
		ev.sqlstate[5] = '\0';
		ev.cancelled = strcmp(sqlstate, "57014") == 0 && !(p->flags & PF_TIMED_OUT);
		ev.timed_out = strcmp(sqlstate, "57014") == 0 && (p->flags & PF_TIMED_OUT);
	}
	ev.rows = rows;
	ev.duration_ns = now - start;
	ev.end_wall_us = conn_turn_wall_us();
	/* texts is NULL until a request brought one: an event without text points at "" */
	ev.text = p->text_len ? (const char *)s->texts + p->text_off : "";
	ev.text_len = p->text_len;
	if (p->n_params) {
		ev.params = (const char *)s->texts + p->params_off;
		ev.params_len = p->params_len;
		ev.n_params = p->n_params;
	}
	ev.db = c->dbname;
	ev.user = c->user;
	ev.app = c->app_name;
	ev.client_addr = c->addr;
	ev.client_port = (uint32_t)c->port;
	if (!stats_submit(&ev))
		s->pool->stats.events_dropped++;
}

static bool server_store_text(Server *s, const char *text, size_t text_len, uint32_t *off)
{
	*off = s->texts_len;
	if (!text_len)
		return true;
	if (!grow_array(&s->texts, &s->texts_cap, (size_t)s->texts_len + text_len, 1))
		return false;
	memcpy(s->texts + s->texts_len, text, text_len);
	s->texts_len += (uint32_t)text_len;
	return true;
}

Pending *server_expect(Server *s, uint8_t type, uint16_t flags, const char *text, size_t text_len)
{
	if (s->q_len == s->q_cap) {
		uint32_t cap = s->q_cap ? s->q_cap * 2 : 16;
		Pending *q = malloc(cap * sizeof(*q));
		if (!q)
			return NULL;
		for (uint32_t i = 0; i < s->q_len; i++)
			q[i] = s->queue[(s->q_head + i) % s->q_cap];
		free(s->queue);
		s->queue = q;
		s->q_cap = cap;
		s->q_head = 0;
	}
	uint32_t off;
	if (!server_store_text(s, text, text_len, &off))
		return NULL;
	Pending *p = &s->queue[(s->q_head + s->q_len) % s->q_cap];
	s->q_len++;
	memset(p, 0, sizeof(*p));
	p->type = type;
	p->flags = flags;
	p->text_off = off;
	p->text_len = (uint32_t)text_len;
	p->sent_ns = conn_turn_ns();
	return p;
}

bool server_expect_local(Server *s, uint8_t local, const char *name)
{
	/* a local ParseComplete is a Parse entry with the client's name: if the server skips past
	 * it after an error, the name is dropped as PostgreSQL would drop it */
	Pending *p = server_expect(s, local == PL_PARSE_COMPLETE ? PQ_MSG_PARSE : 0, 0, NULL, 0);
	if (!p || (name && !server_expect_name(s, p, name)))
		return false;
	p->local = local;
	if (s->q_len == 1)
		server_drain_local(s);
	return true;
}

bool server_expect_params(Server *s, Pending *p, const char *params, size_t len, uint16_t n)
{
	if (!server_store_text(s, params, len, &p->params_off))
		return false;
	p->params_len = (uint32_t)len;
	p->n_params = n;
	return true;
}

bool server_expect_name(Server *s, Pending *p, const char *name)
{
	size_t n = strlen(name);
	if (!server_store_text(s, name, n, &p->name_off))
		return false;
	p->name_len = (uint32_t)n;
	return true;
}

bool server_send_injected_frame(Server *s, uint8_t type, PktBuf *frame, uint64_t stmt_id)
{
	Pending *p = server_expect(s, type, PF_INJECTED, NULL, 0);
	if (!p)
		return false;
	p->stmt_id = stmt_id;
	return conn_send_pktbuf(&s->conn, frame) == 0;
}

void server_check_timeout(Server *s, uint64_t now_ns, uint64_t timeout_ns)
{
	/* The oldest outstanding request: in the extended protocol the server answers Parse and
	 * Bind only at Sync or Flush, so the front may be a Parse while its Execute runs. */
	Pending *p = server_front(s);
	if (!p || p->local != PL_NONE || (p->flags & PF_CANCEL_SENT))
		return;
	/* pgsift's own requests (a re-Parse before a Bind...) are not timed on their own, but
	 * they delay the client's statement behind them, whose clock runs from the front */
	bool clients = false;
	for (uint32_t i = 0; i < s->q_len && !clients; i++) {
		Pending *q = &s->queue[(s->q_head + i) % s->q_cap];
		clients = !(q->flags & PF_INJECTED) && q->local == PL_NONE;
		if (q->type == PQ_MSG_SYNC || q->type == PQ_MSG_QUERY)
			break;
	}
	if (!clients)
		return;
	uint64_t start = p->stmt_start_ns > p->sent_ns ? p->stmt_start_ns : p->sent_ns;
	if (s->last_done_ns > start)
		start = s->last_done_ns;
	if (now_ns - start < timeout_ns)
		return;
	/* After a stall, timers run before the loop reads what the server already sent: cancel
	 * only when the statement is still outstanding at the next check, after a read. */
	if (!(p->flags & PF_OVERDUE)) {
		p->flags |= PF_OVERDUE;
		return;
	}
	/* every request up to the next Sync belongs to the statement being cancelled */
	for (uint32_t i = 0; i < s->q_len; i++) {
		Pending *q = &s->queue[(s->q_head + i) % s->q_cap];
		q->flags |= PF_TIMED_OUT | PF_CANCEL_SENT;
		if (q->type == PQ_MSG_SYNC || q->type == PQ_MSG_QUERY)
			break;
	}
	log_warn("query_timeout (%llu ms): cancelling the statement on server pid %u for %s/%s",
		 (unsigned long long)(timeout_ns / 1000000), s->be_pid, s->pool->dbname,
		 s->pool->user);
	cancel_server(s);
}

bool server_runs_client_request(const Server *s)
{
	for (uint32_t i = 0; i < s->q_len; i++) {
		const Pending *q = &s->queue[(s->q_head + i) % s->q_cap];
		if (!(q->flags & PF_INJECTED) && q->local == PL_NONE)
			return true;
	}
	return false;
}

void server_client_sync(Server *s)
{
	s->ext_error = false;
}

bool server_send_injected(Server *s, const char *sql)
{
	log_debug("server pid %u: injecting: %s", s->be_pid, sql);
	PktBuf b;
	pktbuf_init(&b);
	pq_write_query(&b, sql);
	if (pktbuf_failed(&b) || !server_expect(s, PQ_MSG_QUERY, PF_INJECTED, NULL, 0)) {
		pktbuf_free(&b);
		return false;
	}
	int r = conn_send_pktbuf(&s->conn, &b);
	pktbuf_free(&b);
	return r == 0;
}

void server_link(Server *s, Client *c)
{
	s->client = c;
	c->server = s;
	s->conn.peer = &c->conn;
	c->conn.peer = &s->conn;
}

void server_unlink(Server *s)
{
	Client *c = s->client;
	if (c) {
		conn_flush(&c->conn);
		conn_flush(&s->conn);
		c->server = NULL;
		c->conn.peer = NULL;
	}
	s->client = NULL;
	s->conn.peer = NULL;
}

/* ---- closing ---- */

static void server_on_error(Conn *conn, int status)
{
	Server *s = (Server *)conn;
	char msg[256];
	if (status == UV_EOF)
		snprintf(msg, sizeof(msg), "server closed the connection unexpectedly");
	else if (status == UV_E2BIG)
		snprintf(msg, sizeof(msg), "server sent a message longer than %u bytes",
			 CONN_SERVER_HELD_MAX);
	else
		snprintf(msg, sizeof(msg), "server connection failed: %s", uv_strerror(status));
	if (s->state == SV_LOGIN || s->state == SV_CONNECTING)
		pool_server_failed(s->pool, s, "08006", msg);
	server_close(s, msg);
}

void server_close(Server *s, const char *reason)
{
	if (s->state == SV_CLOSING)
		return;
	log_debug("closing server %s:%d pid %u: %s", s->addr_str, s->port, s->be_pid, reason);
	Client *c = s->client;
	if (c) {
		server_unlink(s);
		client_server_lost(c, reason);
	}
	pool_server_closed(s->pool, s); /* SV_CLOSING */
	if (s->gai_active)
		uv_cancel((uv_req_t *)&s->gai);
	conn_close(&s->conn);
}

static void server_on_closed(Conn *conn)
{
	Server *s = (Server *)conn;
	list_remove(&G.servers, &s->all_node);
	if (s->gai_active) {
		s->free_after_gai = true;
		return;
	}
	server_free(s);
}

static void server_free(Server *s)
{
	cancel_forget_server(s);
	while (s->q_len)
		server_pop(s);
	prepared_set_free(&s->stmts);
	stmtmap_free(s->sql_prepared);
	if (s->scram)
		scram_client_free(s->scram);
	varcache_free(&s->params);
	free(s->queue);
	free(s->texts);
	free(s->password);
	free(s);
}
