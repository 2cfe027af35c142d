/*
 * client_session: the session state a client builds and pgsift must carry from server to server
 * in transaction pooling. Its parameters come from the startup packet and `options` (kept as
 * PostgreSQL will report them), then from SET, RESET, set_config() and DISCARD, which take effect
 * when their statement succeeds (client_statement_done) and, inside a transaction block, only
 * when it commits. client_apply_params makes a server's session match before the client's bytes
 * reach it, together with the client's SQL-level prepared statements. State that cannot be
 * restated elsewhere (temporary tables, advisory locks, cursors WITH HOLD) pins the client to
 * its server instead.
 */
#include "proxy/client_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#include "config/log.h"

#include "proxy/pgspell.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"
#include "proxy/server.h"

/* In tx_params: a RESET waiting for COMMIT. */
#define RESET_MARK "\x02"

/* Reported by the server, never set by a client: not carried from one server to another. */
static const char *const server_only_params[] = {"server_version",    "server_encoding",
						 "integer_datetimes", "is_superuser",
						 "in_hot_standby",    NULL};

bool client_is_server_only_param(const char *name)
{
	for (int i = 0; server_only_params[i]; i++)
		if (strcasecmp(server_only_params[i], name) == 0)
			return true;
	return false;
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
bool client_parse_options(Client *c, const char *opts)
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

/* Appends a double-quoted SQL identifier. */
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
	const char *have =
		ps->s->sql_prepared ? stmtmap_get(ps->s->sql_prepared, name, &have_len) : NULL;
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
	char **names;	     /* names on the server that are not the client's (owned) */
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
	ForeignNames f = {.mine = c->sql_prepared};
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

/*
 * Makes the server's session match what this client asked for: set_config() for raw values
 * that differ (it takes a value as `options -c` does), SET for values the client gave in SQL
 * form, RESET for what a previous client set and this one did not, and the client's SQL-level
 * prepared statements. Sent as one injected query ahead of the client's own bytes.
 */
bool client_apply_params(Client *c, Server *s)
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
		if (client_is_server_only_param(sp->name) || varcache_get(&c->params, sp->name)) {
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
		if (client_is_server_only_param(cp->name) || cp->value[0] == SQL_VALUE_MARK)
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
		PrepareSync ps = {s, &q, false};
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

/* The session commands of a text the hint said may have some. */
static SessionCommands *session_commands_of(const char *text, size_t len)
{
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

SessionCommands *client_parse_session(const char *text, size_t len)
{
	return parser_hot_session_hint(text, len) ? session_commands_of(text, len) : NULL;
}

SessionCommands *client_parse_session_quiet(Client *c, const char *text, size_t len)
{
	uint64_t h = XXH3_64bits(text, len);
	size_t slot = h & (sizeof(c->quiet_texts) / sizeof(c->quiet_texts[0]) - 1);
	if (len && c->quiet_texts[slot].len == len && c->quiet_texts[slot].hash == h)
		return NULL;
	if (parser_hot_session_hint(text, len))
		return session_commands_of(text, len);
	if (len <= UINT32_MAX) {
		c->quiet_texts[slot].hash = h;
		c->quiet_texts[slot].len = (uint32_t)len;
	}
	return NULL;
}

bool client_has_kind(const SessionCommands *cmds, SessionCommandKind kind)
{
	for (size_t i = 0; cmds && i < cmds->n; i++)
		if (cmds->items[i].kind == kind)
			return true;
	return false;
}

void client_free_cmds(SessionCommands *cmds)
{
	if (!cmds)
		return;
	parser_session_commands_free(cmds);
	free(cmds);
}

/* ---- session state ---- */

/* Reported through ParameterStatus: the server's report is what the client's cache keeps. */
static bool is_reported_param(const char *name)
{
	static const char *const reported[] = {"application_name",
					       "client_encoding",
					       "datestyle",
					       "intervalstyle",
					       "timezone",
					       "integer_datetimes",
					       "standard_conforming_strings",
					       "is_superuser",
					       "session_authorization",
					       "server_encoding",
					       "server_version",
					       "default_transaction_read_only",
					       "in_hot_standby",
					       NULL};
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
		c->pins &=
			(uint8_t)~PIN_ADVISORY; /* pg_advisory_unlock_all() is not undone either */
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
		prepared_names_clear(c->named);
	if (c->shapes)
		stmtmap_clear(c->shapes);
	if (c->sql_prepared)
		stmtmap_clear(c->sql_prepared);
	if (c->server) {
		prepared_set_clear(&c->server->stmts);
		if (c->server->sql_prepared)
			stmtmap_clear(c->server->sql_prepared);
	}
}

static void client_track_prepare(Client *c, Pending *p, const SessionCommand *sc)
{
	Server *s = c->server;
	char *text = NULL;
	if (p->type == PQ_MSG_QUERY && sc->stmt_offset + sc->stmt_len <= p->text_len &&
	    sc->stmt_len)
		text = strndup((const char *)s->texts + p->text_off + sc->stmt_offset,
			       sc->stmt_len);
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

/* RESET ALL, or DISCARD ALL (discard): the client's parameters go back to its startup set (the
 * reported ones are restated after the server's own ParameterStatus, reported_resets), the
 * server's to its login state; DISCARD ALL also drops prepared statements, held cursors and
 * whatever pinned the client. */
static void client_reset_all(Client *c, bool discard)
{
	Server *s = c->server;
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
	if (discard) {
		client_forget_prepared(c);
		/* temporary tables, advisory locks and cursors went with it */
		if (c->held_cursors)
			stmtmap_clear(c->held_cursors);
		client_unpin(c, PIN_ALL);
	}
}

/*
 * A session command of a statement that succeeded takes effect (client_statement_done). What a
 * SET, RESET or set_config() changes waits in tx_params inside a transaction block (applied at
 * COMMIT, dropped otherwise); the rest takes effect at once, pins through client_pin (which
 * itself waits for the transaction's end). One switch over every SessionCommandKind, so that
 * what each kind does is read in one place.
 */
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
			if (!c->in_tx && start &&
			    !varcache_set(&c->reported_resets, sc->name, start))
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
		client_reset_all(c, sc->kind == SC_DISCARD_ALL);
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
			client_apply_session(c, c->tx_params.items[i].name,
					     c->tx_params.items[i].value);
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
		if (!client_params_will_change(c) ||
		    !varcache_set(&c->params, c->reported_resets.items[i].name,
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
