/*
 * client_prepared: a client's protocol-level prepared statements in transaction pooling. A
 * client's statement names are its own (Client.named); on a server, the same text and parameter
 * types live under one pgsift name (PGSIFT_<id>, prepared.h) whichever client prepared it. So a
 * Parse is answered at once when the server already has the statement, a Bind or Describe is
 * rewritten to pgsift's name after the statement is (re)prepared on the server the client has
 * now, and a Close only forgets the client's name. A server holds at most
 * max_prepared_statements of them (least recently used ones are closed). Refusals PostgreSQL
 * would make in the place of a message are sent as a Parse that fails on the server, so that
 * the server skips to Sync exactly as it would (server.c replaces its error).
 */
#include "proxy/client_internal.h"

#include <stdlib.h>
#include <string.h>

#include "config/log.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"
#include "proxy/server.h"

/* Frames rewritten towards a server are built here and sent at once (conn_send copies what it
 * cannot write immediately), so one buffer serves every client of the event loop. */
static PktBuf client_out;

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
	pq_write_parse(b, name, st->query, st->query_len, st->types, st->types_len);
}

/* Injects a Close of one of pgsift's statement names (no error if the server lacks it). */
static bool client_inject_close(Client *c, Server *s, const char *server_name)
{
	PktBuf b;
	pktbuf_init(&b);
	pq_write_close(&b, 'S', server_name);
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
		uint64_t id = prepared_set_pop_lru(&s->stmts);
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
	int state = name ? prepared_set_state_for(&s->stmts, st->id, c, name) :
			   prepared_set_state(&s->stmts, st->id);
	if (state == SS_READY && prepared_set_gen(&s->stmts, st->id) != st->gen) {
		/* prepared before a schema change seen elsewhere changed its result */
		prepared_set_unconfirm(&s->stmts, st->id);
		state = SS_PENDING;
	}
	*ok = true;
	if (state == SS_PENDING)
		*ok = client_inject_close(c, s, st->server_name);
	else if (state == SS_NONE)
		*ok = client_make_room(c, s) && prepared_set_add(&s->stmts, st->id);
	if (state != SS_READY)
		prepared_set_set_gen(&s->stmts, st->id, st->gen);
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

/* Builds a Parse of the unnamed statement whose text the server refuses as a syntax error. */
static void client_build_failing_parse(const char *text)
{
	static const uint8_t no_types[2] = {0, 0};
	pktbuf_reset(&client_out);
	pq_write_parse(&client_out, "", text, strlen(text), no_types, sizeof(no_types));
}

/*
 * A refusal in the place of a client's message that PostgreSQL would have refused with an error
 * and then skipped to Sync: pgsift sends a Parse that fails on the server, which makes the server
 * skip to Sync exactly as it would, and replaces the server's error with the refusal (flags:
 * PF_DUP_NAME with the client's name, PF_LISTEN_REFUSED, PF_RESULT_CHANGED; server.c).
 */
PktAction client_send_failing_parse(Client *c, Server *s, uint16_t flags, const char *name)
{
	client_build_failing_parse("pgsift: refused");
	Pending *p = server_expect(s, PQ_MSG_PARSE, flags, NULL, 0);
	if (!p || (name && !server_expect_name(s, p, name)) || !client_send_rewritten(c))
		return PA_CLOSED;
	return PA_CONSUMED;
}

/* A named statement must be re-prepared, from its text, on whichever server the client gets
 * next: one too large to hold is refused as PostgreSQL refuses a bad Parse (the server skips to
 * Sync; its error is replaced by 54000, server.c). PA_CLOSED when memory ran out. */
PktAction client_refuse_long_parse(Client *c, Server *s)
{
	client_build_failing_parse("pgsift: prepared statement too long");
	if (!server_expect(s, PQ_MSG_PARSE, PF_TOO_LONG, NULL, 0) || !client_send_rewritten(c))
		return PA_CLOSED;
	return PA_CONSUMED;
}

/* Parse of a named statement in transaction pooling. */
PktAction client_parse_named(Client *c, Server *s, const char *name, const char *query, size_t qlen,
			     const uint8_t *types, size_t tlen)
{
	if (!c->named && !(c->named = prepared_names_new()))
		return PA_CLOSED;
	if (prepared_names_get(c->named, name)) /* PostgreSQL's own answer is 42P05 */
		return client_send_failing_parse(c, s, PF_DUP_NAME, name);
	if (c->shapes)
		stmtmap_remove(c->shapes, name); /* a new statement: described anew, if at all */
	PreparedStmt *st = prepared_intern(query, qlen, types, tlen);
	if (!st)
		return PA_CLOSED;
	bool ok = prepared_names_put(c->named, name, st);
	prepared_unref(st); /* the name holds it now */
	if (!ok)
		return PA_CLOSED;
	conn_flush(&c->conn);
	if (log_enabled(LL_NOISE))
		log_msg(LL_NOISE, "client %s:%d Parse %s -> %s on pid %u (%s)", c->addr, c->port,
			name, st->server_name, s->be_pid,
			prepared_set_state(&s->stmts, st->id) == SS_READY ? "has it" : "prepares");
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
	prepared_set_set_owner(&s->stmts, st->id, c, name);
	if (!server_expect_name(s, p, name) || !client_send_rewritten(c))
		return PA_CLOSED;
	return PA_CONSUMED;
}

/* The result shape the client was told for its statement name: 0 when it never described it,
 * SHAPE_STALE after pgsift told it the plan changed. */
#define SHAPE_STALE 1

/* The shape is kept as its 8 bytes (the map holds bytes, NUL included). */
static uint64_t client_shape_of(const Client *c, const char *name)
{
	size_t len = 0;
	const char *bytes = c->shapes ? stmtmap_get(c->shapes, name, &len) : NULL;
	uint64_t shape = 0;
	if (bytes && len == sizeof(shape))
		memcpy(&shape, bytes, sizeof(shape));
	return shape;
}

void client_note_shape(Client *c, const char *name, uint64_t shape)
{
	if (client_shape_of(c, name) == shape)
		return; /* told again at each execution: nothing to store */
	if ((!c->shapes && !(c->shapes = stmtmap_new())) ||
	    !stmtmap_put(c->shapes, name, (const char *)&shape, sizeof(shape)))
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
	int state = prepared_set_state_for(&s->stmts, st->id, c, name);
	uint64_t have = state == SS_READY ? prepared_set_shape(&s->stmts, st->id) : 0;
	if (have == 0) {
		if (retried)
			return PA_FORWARD; /* the Describe failed or was skipped: the Bind says why */
		if (!client_ensure_prepared(c, s, st, name))
			return PA_CLOSED;
		PktBuf b;
		pktbuf_init(&b);
		pq_write_describe(&b, 'S', st->server_name);
		pq_write_bare(&b, PQ_MSG_FLUSH);
		conn_flush(&c->conn);
		Pending *p =
			server_expect(s, PQ_MSG_DESCRIBE, PF_INJECTED | PF_SHAPE_CHECK, NULL, 0);
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
PktAction client_rewrite_named(Client *c, Server *s, const PktHdr *hdr, const uint8_t *pkt,
			       const char *name, uint8_t type)
{
	PreparedStmt *st = c->named ? prepared_names_get(c->named, name) : NULL;
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
	pktbuf_reset(&client_out);
	pq_write_renamed(&client_out, hdr, pkt, name, st->server_name, true);
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
bool client_is_local_deallocate(Client *c, const SessionCommands *cmds)
{
	return cmds && cmds->n == 1 && cmds->items[0].kind == SC_DEALLOCATE && c->named &&
	       cmds->items[0].name && prepared_names_get(c->named, cmds->items[0].name);
}

/* Whether some server of the pool has st prepared, confirmed by its ParseComplete: the text
 * and parameter types are known to be good in this pool's database. */
static bool client_pool_knows(const Client *c, const PreparedStmt *st)
{
	const Pool *p = c->pool;
	const List *lists[] = {&p->idle_servers, &p->active_servers, &p->used_servers};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		for (ListNode *n = lists[i]->head.next; n != &lists[i]->head; n = n->next) {
			Server *s = list_entry(n, Server, pool_node);
			if (prepared_set_state(&s->stmts, st->id) == SS_READY)
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
	if (type)
		pq_write_bare(&b, type);
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
PktAction client_extended_without_server(Client *c, const PktHdr *hdr, const uint8_t *pkt)
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
		    (c->named && prepared_names_get(c->named, name)))
			return PA_FORWARD; /* malformed, unnamed or a duplicate: the server says */
		PreparedStmt *st = prepared_intern(text, tlen, r.p, (size_t)(r.end - r.p));
		if (!st)
			return PA_FORWARD;
		bool known = client_pool_knows(c, st);
		bool ok = !known || ((c->named || (c->named = prepared_names_new())) &&
				     prepared_names_put(c->named, name, st));
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
			prepared_names_remove(c->named, name);
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

/* A Bind too large to hold that names a client's statement (transaction pooling): the statement
 * is made ready on this server as for any Bind, and only the head is rewritten, with pgsift's
 * name in place of the client's; the parameters stream behind it untouched. */
PktAction client_rewrite_streamed_bind(Client *c, Server *s, const PktHdr *hdr, const uint8_t *pkt,
				       const char *name)
{
	PreparedStmt *st = c->named ? prepared_names_get(c->named, name) : NULL;
	if (!st) /* unknown name: the server answers with PostgreSQL's own 26000 */
		return server_expect(s, PQ_MSG_BIND, 0, NULL, 0) ? PA_FORWARD : PA_CLOSED;
	if (!client_ensure_prepared(c, s, st, name))
		return PA_CLOSED;
	pktbuf_reset(&client_out);
	pq_write_renamed(&client_out, hdr, pkt, name, st->server_name, false);
	if (!server_expect(s, PQ_MSG_BIND, 0, NULL, 0) || !client_send_rewritten(c))
		return PA_CLOSED;
	conn_forward_from(&c->conn, (uint32_t)((const uint8_t *)name + strlen(name) + 1 - pkt));
	return PA_FORWARD;
}
