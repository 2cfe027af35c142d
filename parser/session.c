/*
 * session: what SET / RESET / DISCARD / DEALLOCATE / PREPARE / EXECUTE / LISTEN / UNLISTEN
 * statements ask of a session, for the proxy to track and replay settings across pooled server
 * connections. Parsed with libpg_query; values are taken from the statement's own text (from the
 * first argument to the last), so that `SET name TO <value>` re-applies exactly what the client
 * wrote: quoted identifiers, string literals and units stay as they were.
 */
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "parser/lexer.h"
#include "parser/pbwalk.h"
#include "parser/parser.h"
#include "util/grow.h"

static char *dup_lower(const char *s);
static char *dup_range(const char *t, size_t from, size_t to);
static size_t arg_loc(const PgQuery__Node *n);
static size_t trim_end(const char *t, size_t from, size_t to);
static size_t extent_end(const char *t, size_t len, size_t pos, size_t stmt_end);
static bool set_command(const PgQuery__VariableSetStmt *v, const char *t, size_t stmt_end,
			SessionCommand *sc);
static bool prepare_command(const PgQuery__PrepareStmt *p, const char *t, size_t from,
			    size_t stmt_end, SessionCommand *sc);
/* PostgreSQL's CURSOR_OPT_HOLD (parsenodes.h): DECLARE ... WITH HOLD. */
#define CURSOR_OPT_HOLD 0x0020

typedef struct StmtCtx StmtCtx;
static bool statement_commands(const PgQuery__Node *n, StmtCtx *x);
static bool session_characteristics(const PgQuery__VariableSetStmt *v, StmtCtx *x);
static bool is_temp(const PgQuery__RangeVar *rv);
static bool into_session_temp(const PgQuery__IntoClause *into);
static void walk_calls(const ProtobufCMessage *m, StmtCtx *x, int depth);

/* Where the entries of one statement go: pushed in order, all with the statement's number. */
struct StmtCtx {
	SessionCommands *out;
	size_t cap;
	size_t stmt_no, from, end;
	const char *text; /* the whole text, NUL-terminated */
	bool oom;
};

static SessionCommand *push_command(StmtCtx *x, SessionCommandKind kind)
{
	SessionCommands *out = x->out;
	if (!grow_array(&out->items, &x->cap, out->n + 1, sizeof(*out->items))) {
		x->oom = true;
		return NULL;
	}
	SessionCommand *sc = &out->items[out->n++];
	memset(sc, 0, sizeof(*sc));
	sc->kind = kind;
	sc->stmt_no = x->stmt_no;
	sc->stmt_offset = x->from;
	sc->stmt_len = x->end - x->from;
	return sc;
}

/* A named entry (cursor, statement, GUC); false when memory ran out. */
static bool push_named(StmtCtx *x, SessionCommandKind kind, const char *name)
{
	SessionCommand *sc = push_command(x, kind);
	if (sc == NULL)
		return false;
	if ((sc->name = strdup(name ? name : "")) == NULL) {
		x->oom = true;
		return false;
	}
	return true;
}

bool parser_session_commands(const char *text, size_t len, SessionCommands *out)
{
	PgQueryProtobufParseResult pr;
	PgQuery__ParseResult *tree = NULL;
	char *z;
	bool ok = false;

	memset(out, 0, sizeof(*out));
	if (text == NULL)
		len = 0, text = "";
	if (memchr(text, 0, len) != NULL) {
		out->parse_error = true;
		return true;
	}
	z = malloc(len + 1);
	if (z == NULL)
		return false;
	memcpy(z, text, len);
	z[len] = 0;
	pr = pg_query_parse_protobuf(z);
	if (pr.error != NULL) {
		out->parse_error = true;
		ok = true;
		goto done;
	}
	tree = pg_query__parse_result__unpack(NULL, pr.parse_tree.len,
					      (const uint8_t *)pr.parse_tree.data);
	if (tree == NULL)
		goto done;
	StmtCtx x = {.out = out, .text = z};
	for (size_t i = 0; i < tree->n_stmts; i++) {
		const PgQuery__RawStmt *rs = tree->stmts[i];
		x.stmt_no = i;
		x.from = rs->stmt_location > 0 ? (size_t)rs->stmt_location : 0;
		x.end = rs->stmt_len > 0 ? x.from + (size_t)rs->stmt_len : len;
		if (x.from > len)
			x.from = len;
		if (x.end > len)
			x.end = len;
		size_t before = out->n;
		if (!statement_commands(rs->stmt, &x))
			goto done;
		if (out->n == before && push_command(&x, SC_OTHER) == NULL)
			goto done;
	}
	ok = true;
done:
	if (!ok) {
		parser_session_commands_free(out);
	}
	if (tree)
		pg_query__parse_result__free_unpacked(tree, NULL);
	pg_query_free_protobuf_parse_result(pr);
	free(z);
	return ok;
}

/* The entries of one statement: what the statement itself is, then the calls inside it. */
static bool statement_commands(const PgQuery__Node *n, StmtCtx *x)
{
	SessionCommand *sc;
	if (n == NULL)
		return true;
	switch (n->node_case) {
	case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT:
		if (n->variable_set_stmt->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_MULTI)
			return session_characteristics(n->variable_set_stmt, x);
		if ((sc = push_command(x, SC_OTHER)) == NULL)
			return false;
		if (!set_command(n->variable_set_stmt, x->text, x->end, sc)) {
			x->oom = true;
			return false;
		}
		return true;
	case PG_QUERY__NODE__NODE_DISCARD_STMT:
		if (n->discard_stmt->target == PG_QUERY__DISCARD_MODE__DISCARD_ALL)
			return push_command(x, SC_DISCARD_ALL) != NULL;
		if (n->discard_stmt->target == PG_QUERY__DISCARD_MODE__DISCARD_TEMP)
			return push_command(x, SC_DISCARD_TEMP) != NULL;
		return true;
	case PG_QUERY__NODE__NODE_DEALLOCATE_STMT:
		if (n->deallocate_stmt->name == NULL || n->deallocate_stmt->name[0] == 0)
			return push_command(x, SC_DEALLOCATE_ALL) != NULL;
		return push_named(x, SC_DEALLOCATE, n->deallocate_stmt->name);
	case PG_QUERY__NODE__NODE_PREPARE_STMT:
		if ((sc = push_command(x, SC_OTHER)) == NULL)
			return false;
		if (!prepare_command(n->prepare_stmt, x->text, x->from, x->end, sc)) {
			x->oom = true;
			return false;
		}
		return true;
	case PG_QUERY__NODE__NODE_EXECUTE_STMT:
		return push_named(x, SC_EXECUTE, n->execute_stmt->name);
	case PG_QUERY__NODE__NODE_LISTEN_STMT:
		return push_named(x, SC_LISTEN, n->listen_stmt->conditionname);
	case PG_QUERY__NODE__NODE_UNLISTEN_STMT:
		return push_named(x, SC_UNLISTEN,
				  n->unlisten_stmt->conditionname &&
						  n->unlisten_stmt->conditionname[0] ?
					  n->unlisten_stmt->conditionname :
					  "*");
	case PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT:
		if ((n->declare_cursor_stmt->options & CURSOR_OPT_HOLD) &&
		    !push_named(x, SC_HOLD_CURSOR, n->declare_cursor_stmt->portalname))
			return false;
		break;
	case PG_QUERY__NODE__NODE_CLOSE_PORTAL_STMT:
		if (n->close_portal_stmt->portalname == NULL ||
		    !n->close_portal_stmt->portalname[0])
			return push_command(x, SC_CLOSE_ALL) != NULL;
		return push_named(x, SC_CLOSE, n->close_portal_stmt->portalname);
	case PG_QUERY__NODE__NODE_CREATE_STMT:
		if (is_temp(n->create_stmt->relation) &&
		    n->create_stmt->oncommit != PG_QUERY__ON_COMMIT_ACTION__ONCOMMIT_DROP &&
		    push_command(x, SC_TEMP_OBJECT) == NULL)
			return false;
		break;
	case PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT:
		if (into_session_temp(n->create_table_as_stmt->into) &&
		    push_command(x, SC_TEMP_OBJECT) == NULL)
			return false;
		break;
	case PG_QUERY__NODE__NODE_VIEW_STMT:
		if (is_temp(n->view_stmt->view) && push_command(x, SC_TEMP_OBJECT) == NULL)
			return false;
		break;
	case PG_QUERY__NODE__NODE_CREATE_SEQ_STMT:
		if (is_temp(n->create_seq_stmt->sequence) &&
		    push_command(x, SC_TEMP_OBJECT) == NULL)
			return false;
		break;
	case PG_QUERY__NODE__NODE_SELECT_STMT:
		if (into_session_temp(n->select_stmt->into_clause) &&
		    push_command(x, SC_TEMP_OBJECT) == NULL)
			return false;
		break;
	default:
		break;
	}
	walk_calls((const ProtobufCMessage *)n, x, 0);
	return !x->oom;
}

void parser_session_commands_free(SessionCommands *cmds)
{
	if (cmds == NULL)
		return;
	for (size_t i = 0; i < cmds->n; i++) {
		free(cmds->items[i].name);
		free(cmds->items[i].value);
	}
	free(cmds->items);
	cmds->items = NULL;
	cmds->n = 0;
}

/* Internal functions */

static char *dup_lower(const char *s)
{
	char *d = strdup(s ? s : "");
	for (char *p = d; p && *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return d;
}

static char *dup_range(const char *t, size_t from, size_t to)
{
	char *d = malloc(to - from + 1);
	if (d == NULL)
		return NULL;
	memcpy(d, t + from, to - from);
	d[to - from] = 0;
	return d;
}

static size_t arg_loc(const PgQuery__Node *n)
{
	if (n == NULL)
		return SIZE_MAX;
	switch (n->node_case) {
	case PG_QUERY__NODE__NODE_A_CONST:
		return n->a_const->location >= 0 ? (size_t)n->a_const->location : SIZE_MAX;
	case PG_QUERY__NODE__NODE_TYPE_CAST:
		if (n->type_cast->type_name && n->type_cast->type_name->location >= 0)
			return (size_t)n->type_cast->type_name->location; /* INTERVAL '1' HOUR */
		return n->type_cast->location >= 0 ? (size_t)n->type_cast->location : SIZE_MAX;
	default:
		return SIZE_MAX;
	}
}

/* Backs off blanks and semicolons. */
static size_t trim_end(const char *t, size_t from, size_t to)
{
	while (to > from && (t[to - 1] == ' ' || t[to - 1] == '\t' || t[to - 1] == '\n' ||
			     t[to - 1] == '\r' || t[to - 1] == '\f' || t[to - 1] == ';'))
		to--;
	return to;
}

/* End of the literal at pos; when our lexer refuses it (E'\t'...), the statement's trimmed end. */
static size_t extent_end(const char *t, size_t len, size_t pos, size_t stmt_end)
{
	size_t l = lexer_literal_len(t, len, pos);
	if (l > 0 && pos + l <= stmt_end)
		return pos + l;
	return trim_end(t, pos, stmt_end);
}

static bool set_command(const PgQuery__VariableSetStmt *v, const char *t, size_t stmt_end,
			SessionCommand *sc)
{
	size_t len = strlen(t);
	switch (v->kind) {
	case PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE: {
		size_t first = v->n_args ? arg_loc(v->args[0]) : SIZE_MAX;
		size_t last = v->n_args ? arg_loc(v->args[v->n_args - 1]) : SIZE_MAX;
		if (first == SIZE_MAX || last == SIZE_MAX || first > stmt_end || last > stmt_end)
			return true; /* SC_OTHER: nothing we can re-apply */
		/* only literals can be restated as SET name TO value: SET TIME ZONE INTERVAL '1'
		 * HOUR cannot (that syntax exists only after TIME ZONE), so it stays SC_OTHER */
		for (size_t i = 0; i < v->n_args; i++)
			if (v->args[i] == NULL ||
			    v->args[i]->node_case != PG_QUERY__NODE__NODE_A_CONST)
				return true;
		size_t end = extent_end(t, len, last, stmt_end);
		if (end < first)
			return true;
		sc->kind = v->is_local ? SC_SET_LOCAL : SC_SET;
		sc->name = dup_lower(v->name);
		sc->value = dup_range(t, first, end);
		return sc->name != NULL && sc->value != NULL;
	}
	case PG_QUERY__VARIABLE_SET_KIND__VAR_SET_DEFAULT:
		/* SET x TO DEFAULT is RESET x; SET LOCAL x TO DEFAULT lasts for the transaction */
		sc->kind = v->is_local ? SC_SET_LOCAL : SC_RESET;
		sc->name = dup_lower(v->name);
		if (v->is_local)
			return sc->name != NULL && (sc->value = strdup("DEFAULT")) != NULL;
		return sc->name != NULL;
	case PG_QUERY__VARIABLE_SET_KIND__VAR_RESET:
		sc->kind = SC_RESET;
		sc->name = dup_lower(v->name);
		return sc->name != NULL;
	case PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL:
		sc->kind = SC_RESET_ALL;
		return true;
	default:
		return true; /* SET TRANSACTION..., SET x FROM CURRENT: SC_OTHER */
	}
}

/* PREPARE name [(types)] AS statement: the statement text is what follows AS. */
static bool prepare_command(const PgQuery__PrepareStmt *p, const char *t, size_t from,
			    size_t stmt_end, SessionCommand *sc)
{
	size_t pos = from, s, e;
	int depth = 0, ntok = 0;
	sc->kind = SC_PREPARE;
	sc->name = strdup(p->name ? p->name : "");
	if (sc->name == NULL)
		return false;
	while (pos < stmt_end && lexer_next(t, stmt_end, &pos, &s, &e)) {
		ntok++;
		if (e - s == 1 && t[s] == '(')
			depth++;
		else if (e - s == 1 && t[s] == ')')
			depth--;
		else if (depth == 0 && ntok > 2 && e - s == 2 && (t[s] | 0x20) == 'a' &&
			 (t[s + 1] | 0x20) == 's') {
			size_t q = lexer_skip_blank(t, stmt_end, e);
			sc->value = dup_range(t, q, trim_end(t, q, stmt_end));
			return sc->value != NULL;
		}
	}
	sc->value = strdup("");
	return sc->value != NULL;
}

/* A relation created in the session's temporary schema: TEMP / TEMPORARY, or pg_temp.name. */
static bool is_temp(const PgQuery__RangeVar *rv)
{
	if (rv == NULL)
		return false;
	if (rv->relpersistence && rv->relpersistence[0] == 't')
		return true;
	return rv->schemaname && strcmp(rv->schemaname, "pg_temp") == 0;
}

/* CREATE TABLE AS / SELECT INTO a temporary table that outlives the transaction. */
static bool into_session_temp(const PgQuery__IntoClause *into)
{
	return into && is_temp(into->rel) &&
	       into->on_commit != PG_QUERY__ON_COMMIT_ACTION__ONCOMMIT_DROP;
}

/* SET SESSION CHARACTERISTICS AS TRANSACTION ...: the session defaults it stands for, as SETs
 * that can be restated on another server. SET TRANSACTION (this transaction only) gives none. */
static bool session_characteristics(const PgQuery__VariableSetStmt *v, StmtCtx *x)
{
	if (v->name == NULL || strcmp(v->name, "SESSION CHARACTERISTICS") != 0)
		return true;
	for (size_t i = 0; i < v->n_args; i++) {
		const PgQuery__Node *a = v->args[i];
		if (a == NULL || a->node_case != PG_QUERY__NODE__NODE_DEF_ELEM)
			continue;
		const PgQuery__DefElem *d = a->def_elem;
		const PgQuery__Node *arg = d->arg;
		if (d->defname == NULL || arg == NULL ||
		    arg->node_case != PG_QUERY__NODE__NODE_A_CONST)
			continue;
		const PgQuery__AConst *c = arg->a_const;
		char value[64];
		const char *guc;
		if (strcmp(d->defname, "transaction_isolation") == 0 &&
		    c->val_case == PG_QUERY__A__CONST__VAL_SVAL && c->sval->sval) {
			guc = "default_transaction_isolation";
			snprintf(value, sizeof(value), "'%s'", c->sval->sval);
			if (strchr(c->sval->sval, '\'') != NULL)
				continue;
		} else if ((strcmp(d->defname, "transaction_read_only") == 0 ||
			    strcmp(d->defname, "transaction_deferrable") == 0) &&
			   c->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
			guc = d->defname[12] == 'r' ? "default_transaction_read_only" :
						      "default_transaction_deferrable";
			snprintf(value, sizeof(value), "%s", c->ival->ival ? "on" : "off");
		} else {
			continue;
		}
		SessionCommand *sc = push_command(x, SC_SET);
		if (sc == NULL)
			return false;
		sc->name = strdup(guc);
		sc->value = strdup(value);
		if (sc->name == NULL || sc->value == NULL) {
			x->oom = true;
			return false;
		}
	}
	return true;
}

/* A constant string argument, or NULL. */
static const char *const_string(const PgQuery__Node *n)
{
	if (n == NULL || n->node_case != PG_QUERY__NODE__NODE_A_CONST)
		return NULL;
	const PgQuery__AConst *c = n->a_const;
	return c->val_case == PG_QUERY__A__CONST__VAL_SVAL && c->sval ? c->sval->sval : NULL;
}

/* set_config's is_local argument: 1 true, 0 false, -1 not a constant pgsift can read. */
static int const_bool(const PgQuery__Node *n)
{
	if (n == NULL || n->node_case != PG_QUERY__NODE__NODE_A_CONST)
		return -1;
	const PgQuery__AConst *c = n->a_const;
	if (c->val_case == PG_QUERY__A__CONST__VAL_BOOLVAL && c->boolval)
		return c->boolval->boolval ? 1 : 0;
	const char *s = const_string(n);
	if (s == NULL)
		return -1;
	static const char *const yes[] = {"true", "t", "on", "yes", "y", "1", NULL};
	static const char *const no[] = {"false", "f", "off", "no", "n", "0", NULL};
	for (int i = 0; yes[i]; i++)
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
	for (int i = 0; no[i]; i++)
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	return -1;
}

/* One function call inside a statement: the session-state functions give entries. */
static void call_command(const PgQuery__FuncCall *f, StmtCtx *x)
{
	if (f->n_funcname == 0 ||
	    f->funcname[f->n_funcname - 1]->node_case != PG_QUERY__NODE__NODE_STRING)
		return;
	if (f->n_funcname == 2 && (f->funcname[0]->node_case != PG_QUERY__NODE__NODE_STRING ||
				   strcmp(f->funcname[0]->string->sval, "pg_catalog") != 0))
		return;
	const char *name = f->funcname[f->n_funcname - 1]->string->sval;
	if (name == NULL)
		return;
	if (strcmp(name, "pg_advisory_lock") == 0 || strcmp(name, "pg_advisory_lock_shared") == 0 ||
	    strcmp(name, "pg_try_advisory_lock") == 0 ||
	    strcmp(name, "pg_try_advisory_lock_shared") == 0) {
		(void)push_command(x, SC_ADVISORY_LOCK);
		return;
	}
	if (strcmp(name, "pg_advisory_unlock_all") == 0) {
		(void)push_command(x, SC_ADVISORY_UNLOCK_ALL);
		return;
	}
	if (strcmp(name, "set_config") != 0 || f->n_args != 3)
		return;
	int is_local = const_bool(f->args[2]);
	if (is_local == 1)
		return; /* lasts until the end of the transaction, like SET LOCAL */
	const char *guc = const_string(f->args[0]);
	const char *value = const_string(f->args[1]);
	if (is_local < 0 || guc == NULL || value == NULL) {
		(void)push_command(x, SC_UNTRACKED);
		return;
	}
	SessionCommand *sc = push_command(x, SC_SET_CONFIG);
	if (sc == NULL)
		return;
	sc->name = dup_lower(guc);
	sc->value = strdup(value);
	if (sc->name == NULL || sc->value == NULL)
		x->oom = true;
}

/*
 * Every FuncCall anywhere in the tree, found through protobuf-c's reflection (each message knows
 * its fields), so that a call inside a CTE, a subquery or a CASE is found as well as one in the
 * select list. Depth is bounded; a tree that deep is not a statement a pooler must understand.
 */
/* The walk's state: where entries go, and how deep it is. */
typedef struct CallWalk {
	StmtCtx *x;
	int depth;
} CallWalk;

static void walk_calls_child(const ProtobufCMessage *child, void *arg)
{
	CallWalk *w = arg;
	walk_calls(child, w->x, w->depth + 1);
}

static void walk_calls(const ProtobufCMessage *m, StmtCtx *x, int depth)
{
	if (m == NULL || depth > 2000 || x->oom)
		return;
	if (m->descriptor == &pg_query__func_call__descriptor)
		call_command((const PgQuery__FuncCall *)m, x);
	CallWalk w = {x, depth};
	pbwalk_children(m, walk_calls_child, &w);
}
