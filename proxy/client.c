/*
 * client: an application's connection, from accept to close. See client.h, and
 * client_internal.h for the files the rest of the client lives in (login, frame dispatch,
 * prepared statements, session state).
 *
 * What a client sees is what PostgreSQL would have said: an ErrorResponse with a SQLSTATE for
 * every refusal, its own BackendKeyData, and a ParameterStatus set that reflects its own startup
 * parameters whichever server it ends up on.
 */
#include "proxy/client_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config/log.h"
#include "proxy/admin.h"
#include "proxy/authquery.h"
#include "proxy/cancel.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"
#include "proxy/scram.h"
#include "proxy/server.h"

static PktAction client_on_frame(Conn *conn, const PktHdr *hdr, const uint8_t *pkt, bool full);
static void client_on_error(Conn *conn, int status);
static void client_on_closed(Conn *conn);
static void client_vsend_error(Client *c, const char *severity, const char *sqlstate,
			       const char *fmt, va_list ap);

const char *client_state_str(ClientState st)
{
	static const char *const names[] = {"startup", "auth",	 "login", "idle",
					    "waiting", "active", "admin", "closing"};
	return st <= CL_CLOSING ? names[st] : "?";
}

void client_accept(uv_stream_t *listener, bool is_pipe)
{
	Client *c = calloc(1, sizeof(*c));
	if (!c) {
		log_error("out of memory accepting a client");
		return;
	}
	if (conn_init(&c->conn, is_pipe, c, client_on_frame, client_on_error, client_on_closed) !=
	    0) {
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
	pool_change_client_state(c, CL_STARTUP);
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
	char err[300];
	if (!tls_refresh(G.cfg, err, sizeof(err)))
		log_error("TLS keeps its previous settings: %s", err);
	if (tls_accept_ready())
		c->conn.on_direct_tls = client_tls_done;
	conn_start(&c->conn);
}

/* ---- errors and notices ---- */

void client_notify_queued(Client *c)
{
	PktBuf b;
	pktbuf_init(&b);
	/* PgBouncer's words, which tools that watch for them know */
	pq_write_notice(&b,
			"No server connection available in postgres backend, client being queued",
			NULL);
	(void)client_send(c, &b);
	c->wait_notified = true;
}

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
	if (strcmp(severity, "FATAL") == 0 && G.cfg->log_pooler_errors)
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
	pool_change_client_state(c, CL_CLOSING); /* out of the pool's lists */
	if (c->server) {
		Server *s = c->server;
		pool_release(s->pool, s, true);
	}
	if (c->cancel_pid)
		cancel_unregister(c);
	if (c->cancel_req)
		cancel_forget_requester(c);
	if (c->auth_lookup) {
		authquery_cancel(c->auth_lookup);
		c->auth_lookup = NULL;
	}
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
	free(c->auth_secret);
	varcache_free(&c->params);
	varcache_free(&c->startup_params);
	varcache_free(&c->tx_params);
	varcache_free(&c->reported_resets);
	prepared_names_free(c->named);
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

/* ---- the frame dispatch ---- */

/*
 * Every frame a client sends arrives here (conn.c calls it once per frame, with the frame in
 * the read buffer; full is false for one larger than the buffer, of which pkt holds the head).
 * The client's state decides which job takes it: login (client_login.c), the admin console, or
 * forwarding (client_frame.c). A logged-in client without a server first gets one from the
 * pool (pool_acquire), unless pgsift can answer the frame itself; without one free, the frame
 * stays in the buffer (PA_WAIT) until the pool links a server (client_server_ready).
 *
 * Reads: c->state, c->server. Changes: last_active_ms, tx_idle_since_ms, local_sync, the pool's
 * byte counter; and through pool_acquire the client's state and server.
 */
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
		 * server before it (cancel.h) */
		if (cancel_is_pending(c->server) && server_is_quiet(c->server))
			return PA_WAIT;
		c->pool->stats.bytes_received += hdr->len;
		return client_active_frame(c, hdr, pkt, full);
	case CL_CLOSING:
		return PA_CLOSED;
	}
	return PA_CONSUMED;
}
