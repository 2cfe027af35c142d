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
#include <string.h>

#include "parser/lexer.h"
#include "parser/parser.h"

static char *dup_lower(const char *s);
static char *dup_range(const char *t, size_t from, size_t to);
static size_t arg_loc(const PgQuery__Node *n);
static size_t trim_end(const char *t, size_t from, size_t to);
static size_t extent_end(const char *t, size_t len, size_t pos, size_t stmt_end);
static bool set_command(const PgQuery__VariableSetStmt *v, const char *t, size_t stmt_end,
			SessionCommand *sc);
static bool prepare_command(const PgQuery__PrepareStmt *p, const char *t, size_t from,
			    size_t stmt_end, SessionCommand *sc);

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
	if (tree->n_stmts == 0) {
		ok = true;
		goto done;
	}
	out->items = calloc(tree->n_stmts, sizeof(SessionCommand));
	if (out->items == NULL)
		goto done;
	for (size_t i = 0; i < tree->n_stmts; i++) {
		const PgQuery__RawStmt *rs = tree->stmts[i];
		const PgQuery__Node *n = rs->stmt;
		SessionCommand *sc = &out->items[out->n++];
		size_t from = rs->stmt_location > 0 ? (size_t)rs->stmt_location : 0;
		size_t end = rs->stmt_len > 0 ? from + (size_t)rs->stmt_len : len;
		bool good = true;
		if (from > len)
			from = len;
		if (end > len)
			end = len;
		sc->kind = SC_OTHER;
		sc->stmt_offset = from;
		sc->stmt_len = end - from;
		if (n == NULL)
			continue;
		switch (n->node_case) {
		case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT:
			good = set_command(n->variable_set_stmt, z, end, sc);
			break;
		case PG_QUERY__NODE__NODE_DISCARD_STMT:
			if (n->discard_stmt->target == PG_QUERY__DISCARD_MODE__DISCARD_ALL)
				sc->kind = SC_DISCARD_ALL;
			break;
		case PG_QUERY__NODE__NODE_DEALLOCATE_STMT:
			if (n->deallocate_stmt->name == NULL || n->deallocate_stmt->name[0] == 0) {
				sc->kind = SC_DEALLOCATE_ALL;
			} else {
				sc->kind = SC_DEALLOCATE;
				good = (sc->name = strdup(n->deallocate_stmt->name)) != NULL;
			}
			break;
		case PG_QUERY__NODE__NODE_PREPARE_STMT:
			good = prepare_command(n->prepare_stmt, z, from, end, sc);
			break;
		case PG_QUERY__NODE__NODE_EXECUTE_STMT:
			sc->kind = SC_EXECUTE;
			good = (sc->name = strdup(n->execute_stmt->name ? n->execute_stmt->name :
									  "")) != NULL;
			break;
		case PG_QUERY__NODE__NODE_LISTEN_STMT:
			sc->kind = SC_LISTEN;
			good = (sc->name = strdup(n->listen_stmt->conditionname ?
							  n->listen_stmt->conditionname :
							  "")) != NULL;
			break;
		case PG_QUERY__NODE__NODE_UNLISTEN_STMT:
			sc->kind = SC_UNLISTEN;
			good = (sc->name =
					strdup(n->unlisten_stmt->conditionname &&
							       n->unlisten_stmt->conditionname[0] ?
						       n->unlisten_stmt->conditionname :
						       "*")) != NULL;
			break;
		default:
			break;
		}
		if (!good)
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
