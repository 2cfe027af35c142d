/*
 * client_frame: a logged-in client's frames on their way to its server. For each message it
 * records in the server's queue of outstanding requests what the server will answer (with the
 * statement's text for its timing and statistics event, and the session commands in it), and
 * decides whether the frame is forwarded as it is (PA_FORWARD, from the buffer it arrived in),
 * rewritten (client_prepared.c), answered by pgsift, or waits. A message too large for the read
 * buffer is decided from its head and streams behind it (client_streamed_frame).
 */
#include "proxy/client_internal.h"

#include <stdlib.h>
#include <string.h>

#include "config/log.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"
#include "proxy/server.h"

static PktAction client_streamed_frame(Client *c, const PktHdr *hdr, const uint8_t *pkt);

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
	PreparedStmt *st = c->named ? prepared_names_get(c->named, name) : NULL;
	*len = st ? st->query_len : 0;
	return st ? st->query : NULL;
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
static void client_answer_locally(Client *c, const char *tag, const char *sqlstate, const char *msg,
				  uint8_t tx_state)
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

/* PgBouncer's disable_pqexec: one Query may carry several statements (the SQL injection it
 * guards against); Parse carries one. */
static const char pqexec_refused[] =
	"the simple query protocol is disabled (disable_pqexec): use the extended query protocol";

/* What a client in transaction pooling may not do, or what pgsift answers without a server.
 * Returns PA_FORWARD when the query should go on as usual. */
PktAction client_query_without_server(Client *c, const char *text, size_t len)
{
	if (G.cfg->disable_pqexec) {
		client_answer_locally(c, NULL, "0A000", pqexec_refused, PQ_TX_IDLE);
		return PA_CONSUMED;
	}
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
			prepared_names_remove(c->named, cmds->items[0].name);
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

/*
 * The handlers of client_active_frame, one per message type. Each records in the server's queue
 * what the server will answer and returns PA_FORWARD (the frame goes to the server as it
 * arrived), PA_CONSUMED (pgsift sent something in its place or answered it), PA_WAIT (the frame
 * stays in the buffer until client_shape_known), or PA_CLOSED: the client was failed, or memory
 * ran out (client_active_frame then fails it with 53200; failing a client twice is harmless).
 * r is positioned after the message's type and length.
 */

static PktAction client_frame_query(Client *c, Server *s, PktReader *r, bool pooled)
{
	const char *text;
	size_t tlen;
	if (!pkt_get_cstring(r, &text, &tlen)) {
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
		prepared_names_remove(c->named, cmds->items[0].name);
		client_free_cmds(cmds);
		conn_flush(&c->conn);
		return server_expect_local(s, PL_DEALLOCATE, NULL) ? PA_CONSUMED : PA_CLOSED;
	}
	/* another client's SQL-level PREPAREs on this server were DEALLOCATEd when it was
	 * linked (client_apply_params), so this client's own PREPARE cannot collide */
	Pending *p = server_expect(s, PQ_MSG_QUERY, 0, text, tlen);
	if (!p) {
		client_free_cmds(cmds);
		return PA_CLOSED;
	}
	p->cmds = cmds;
	return PA_FORWARD;
}

static PktAction client_frame_parse(Client *c, Server *s, PktReader *r, bool pooled)
{
	const char *name, *text;
	size_t tlen;
	if (!pkt_get_cstring(r, &name, NULL) || !pkt_get_cstring(r, &text, &tlen)) {
		client_fail(c, "08P01", "invalid Parse message");
		return PA_CLOSED;
	}
	const uint8_t *types = r->p;
	size_t types_len = (size_t)(r->end - r->p);
	if (name[0] == '\0') {
		client_free_cmds(c->unnamed_cmds);
		c->unnamed_cmds = client_parse_session_quiet(c, text, tlen);
		if (pooled && client_has_kind(c->unnamed_cmds, SC_LISTEN)) {
			/* refused as PostgreSQL would refuse a bad Parse: the server skips to Sync,
			 * and the error it gives is replaced by the refusal */
			client_free_cmds(c->unnamed_cmds);
			c->unnamed_cmds = NULL;
			return client_send_failing_parse(c, s, PF_LISTEN_REFUSED, NULL);
		}
		c->unnamed_local = pooled && client_is_local_deallocate(c, c->unnamed_cmds);
		if (c->unnamed_local) {
			conn_flush(&c->conn);
			return server_expect_local(s, PL_PARSE_COMPLETE, NULL) ? PA_CONSUMED :
										 PA_CLOSED;
		}
		bool ok = client_remember_unnamed(c, text, tlen) &&
			  server_expect(s, PQ_MSG_PARSE, 0, text, tlen);
		return ok ? PA_FORWARD : PA_CLOSED;
	}
	if (pooled)
		return client_parse_named(c, s, name, text, tlen, types, types_len);
	/* session pooling: names pass through; the text is kept for statistics */
	PreparedStmt *st = prepared_intern(text, tlen, types, types_len);
	bool ok = st && (c->named || (c->named = prepared_names_new())) &&
		  prepared_names_put(c->named, name, st);
	if (st)
		prepared_unref(st);
	ok = ok && server_expect(s, PQ_MSG_PARSE, 0, text, tlen);
	return ok ? PA_FORWARD : PA_CLOSED;
}

static PktAction client_frame_bind(Client *c, Server *s, const PktHdr *hdr, const uint8_t *pkt,
				   PktReader *r, bool pooled)
{
	const char *portal, *stmt;
	if (!client_bind_head(c, r, &portal, &stmt))
		return PA_CLOSED;
	c->bind_n_params = 0;
	if (portal[0] == '\0' && G.cfg->track_statements &&
	    (G.cfg->log_parameters || c->bind_count++ % BIND_SAMPLE_EVERY == 0))
		client_keep_bind_params(c, *r);
	if (pooled && stmt[0])
		return client_rewrite_named(c, s, hdr, pkt, stmt, PQ_MSG_BIND);
	if (!stmt[0] && c->unnamed_local)
		return client_answer_unnamed_locally(c, s, PL_BIND_COMPLETE);
	return server_expect(s, PQ_MSG_BIND, 0, NULL, 0) ? PA_FORWARD : PA_CLOSED;
}

/* An Execute carries its statement's text (timing and statistics), the Bind parameters sampled
 * for it, and the session commands in it, applied when it succeeds. */
static PktAction client_frame_execute(Client *c, Server *s, PktReader *r)
{
	const char *portal;
	if (!pkt_get_cstring(r, &portal, NULL)) {
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
		p->cmds = client_parse_session_quiet(c, text, tlen);
	}
	return p ? PA_FORWARD : PA_CLOSED;
}

static PktAction client_frame_describe(Client *c, Server *s, const PktHdr *hdr, const uint8_t *pkt,
				       PktReader *r, bool pooled)
{
	uint8_t what;
	const char *name;
	if (!pkt_get_u8(r, &what) || !pkt_get_cstring(r, &name, NULL)) {
		client_fail(c, "08P01", "invalid Describe message");
		return PA_CLOSED;
	}
	if (pooled && what == 'S' && name[0])
		return client_rewrite_named(c, s, hdr, pkt, name, PQ_MSG_DESCRIBE);
	if (!name[0] && c->unnamed_local && (what == 'S' || !c->portal_stmt || !c->portal_stmt[0]))
		return client_answer_unnamed_locally(
			c, s, what == 'S' ? PL_STATEMENT_NO_DATA : PL_NO_DATA);
	Pending *p = server_expect(s, PQ_MSG_DESCRIBE, 0, NULL, 0);
	bool ok = p != NULL;
	/* the unnamed portal of a client's named statement: its description is the statement's
	 * result shape the client decodes by (psycopg 3 asks this way) */
	PreparedStmt *st = pooled && what == 'P' && !name[0] && c->portal_stmt &&
					   c->portal_stmt[0] && c->named ?
				   prepared_names_get(c->named, c->portal_stmt) :
				   NULL;
	if (p && st) {
		p->stmt = st;
		prepared_ref(st);
		ok = server_expect_name(s, p, c->portal_stmt);
	}
	return ok ? PA_FORWARD : PA_CLOSED;
}

static PktAction client_frame_close(Client *c, Server *s, PktReader *r, bool pooled)
{
	uint8_t what;
	const char *name;
	if (!pkt_get_u8(r, &what) || !pkt_get_cstring(r, &name, NULL)) {
		client_fail(c, "08P01", "invalid Close message");
		return PA_CLOSED;
	}
	if (what == 'S' && name[0] && pooled) {
		/* the statement stays on the server under pgsift's name */
		if (c->named)
			prepared_names_remove(c->named, name);
		if (c->shapes)
			stmtmap_remove(c->shapes, name);
		conn_flush(&c->conn);
		return server_expect_local(s, PL_CLOSE_COMPLETE, NULL) ? PA_CONSUMED : PA_CLOSED;
	}
	if (what == 'S' && name[0] && c->named)
		prepared_names_remove(c->named, name);
	return server_expect(s, PQ_MSG_CLOSE, 0, NULL, 0) ? PA_FORWARD : PA_CLOSED;
}

/* A fastpath function call is timed as a statement named after its function's OID. */
static PktAction client_frame_function_call(Server *s, PktReader *r)
{
	uint32_t oid = 0;
	char text[64];
	if (!pkt_get_u32(r, &oid))
		oid = 0;
	int n = snprintf(text, sizeof(text), "fastpath function call %u", oid);
	return server_expect(s, PQ_MSG_FUNCTION_CALL, 0, text, (size_t)n) ? PA_FORWARD : PA_CLOSED;
}

/*
 * One frame of a client that has a server (c->server, CL_ACTIVE). Where a client's message goes
 * to its server: every request the server will answer is recorded in the server's queue
 * (server_expect: what it is, its text, when it went), which is where the statement is timed
 * and what tells the server when it is done; the frame itself is forwarded from the buffer it
 * arrived in (PA_FORWARD) unless pgsift rewrites or answers it.
 *
 * Reads: c->server (must be set), c->pool->mode, the server's ext_error (after an error in the
 * extended protocol the server skips everything up to Sync, and so does this). Changes: the
 * server's queue, c->xact_start_ns, and per message what its handler above says (the unnamed
 * statement and portal, the client's statement names, sampled Bind parameters). A frame larger
 * than the read buffer (full false) goes to client_streamed_frame. With disable_pqexec a Query
 * is refused before anything else is looked at.
 */
PktAction client_active_frame(Client *c, const PktHdr *hdr, const uint8_t *pkt, bool full)
{
	Server *s = c->server;
	if (hdr->type == PQ_MSG_QUERY && G.cfg->disable_pqexec) {
		/* answered in order when nothing is outstanding; otherwise (a Query behind a
		 * pipeline, or too large to hold) the client goes, as PgBouncer's always does */
		if (full && server_is_quiet(s)) {
			client_answer_locally(c, NULL, "0A000", pqexec_refused,
					      s->tx_state ? s->tx_state : PQ_TX_IDLE);
			return PA_CONSUMED;
		}
		client_fail(c, "08P01", "%s", pqexec_refused);
		return PA_CLOSED;
	}
	if (!c->xact_start_ns)
		c->xact_start_ns = conn_turn_ns();
	if (s->ext_error && hdr->type != PQ_MSG_SYNC && hdr->type != PQ_MSG_TERMINATE)
		return PA_FORWARD; /* the server skips it without answering */
	if (!full)		   /* larger than the buffer: the rest streams behind its head */
		return client_streamed_frame(c, hdr, pkt);
	bool pooled = c->pool->mode != POOL_SESSION;
	PktReader r;
	pkt_reader_init(&r, pkt + 5, hdr->len - 5);
	PktAction a;
	switch (hdr->type) {
	case PQ_MSG_QUERY:
		a = client_frame_query(c, s, &r, pooled);
		break;
	case PQ_MSG_PARSE:
		a = client_frame_parse(c, s, &r, pooled);
		break;
	case PQ_MSG_BIND:
		a = client_frame_bind(c, s, hdr, pkt, &r, pooled);
		break;
	case PQ_MSG_EXECUTE:
		a = client_frame_execute(c, s, &r);
		break;
	case PQ_MSG_DESCRIBE:
		a = client_frame_describe(c, s, hdr, pkt, &r, pooled);
		break;
	case PQ_MSG_CLOSE:
		a = client_frame_close(c, s, &r, pooled);
		break;
	case PQ_MSG_SYNC:
		server_client_sync(s);
		a = server_expect(s, PQ_MSG_SYNC, 0, NULL, 0) ? PA_FORWARD : PA_CLOSED;
		break;
	case PQ_MSG_FUNCTION_CALL:
		a = client_frame_function_call(s, &r);
		break;
	case PQ_MSG_TERMINATE:
		client_close(c, "client terminated");
		return PA_CLOSED;
	case PQ_MSG_FLUSH:
	case PQ_MSG_COPY_DATA:
	case PQ_MSG_COPY_DONE:
	case PQ_MSG_COPY_FAIL:
		return PA_FORWARD;
	default:
		client_fail(c, "08P01", "invalid frontend message type %d", hdr->type);
		return PA_CLOSED;
	}
	if (a == PA_CLOSED)
		client_fail(c, "53200",
			    "out of memory"); /* nothing more when a handler failed it */
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
			/* a named statement too long to hold cannot be prepared again elsewhere */
			a = client_refuse_long_parse(c, s);
			ok = a != PA_CLOSED;
			a = PA_CONSUMED;
			break;
		}
		/* session pooling: the name passes through; its text is not kept (it is not held),
		 * so its executions are counted without one */
		if (c->named)
			prepared_names_remove(c->named, name);
		ok = server_expect(s, PQ_MSG_PARSE, 0, text, tlen);
		break;
	}
	case PQ_MSG_BIND: {
		const char *portal, *stmt;
		if (!client_bind_head(c, &r, &portal, &stmt))
			return PA_CLOSED;
		c->bind_n_params = 0; /* its parameters are not all here: none are sampled */
		if (pooled && stmt[0]) {
			a = client_rewrite_streamed_bind(c, s, hdr, pkt, stmt);
			ok = a != PA_CLOSED;
			break;
		}
		ok = server_expect(s, PQ_MSG_BIND, 0, NULL, 0);
		break;
	}
	case PQ_MSG_FUNCTION_CALL:
		a = client_frame_function_call(s, &r);
		ok = a != PA_CLOSED;
		break;
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
