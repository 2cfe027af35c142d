/*
 * sql.c: the SQL text of a suggestion (identifiers quoted as PostgreSQL needs).
 */
#include "stats/advisor/internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------
 * SQL text */

static const char *const reserved[] = {"all",	       "analyse",
				       "analyze",      "and",
				       "any",	       "array",
				       "as",	       "asc",
				       "asymmetric",   "both",
				       "case",	       "cast",
				       "check",	       "collate",
				       "column",       "constraint",
				       "create",       "current_catalog",
				       "current_date", "current_role",
				       "current_time", "current_timestamp",
				       "current_user", "default",
				       "deferrable",   "desc",
				       "distinct",     "do",
				       "else",	       "end",
				       "except",       "false",
				       "fetch",	       "for",
				       "foreign",      "from",
				       "grant",	       "group",
				       "having",       "in",
				       "initially",    "intersect",
				       "into",	       "lateral",
				       "leading",      "limit",
				       "localtime",    "localtimestamp",
				       "not",	       "null",
				       "offset",       "on",
				       "only",	       "or",
				       "order",	       "placing",
				       "primary",      "references",
				       "returning",    "select",
				       "session_user", "some",
				       "symmetric",    "table",
				       "then",	       "to",
				       "trailing",     "true",
				       "union",	       "unique",
				       "user",	       "using",
				       "variadic",     "when",
				       "where",	       "window",
				       "with",	       NULL};

/* The inside of s[0..n), which starts and ends with q, each doubled q read as one ("a""b" ->
 * a"b for identifiers, 'a''b' -> a'b for literals). */
char *advisor_unquote(const char *s, size_t n, char q)
{
	char *out = malloc(n);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 1; i + 1 < n; i++) {
		out[o++] = s[i];
		if (s[i] == q && s[i + 1] == q)
			i++;
	}
	out[o] = '\0';
	return out;
}

size_t advisor_quote_ident(const char *ident, char *buf, size_t cap)
{
	bool plain = *ident && (islower((unsigned char)ident[0]) || ident[0] == '_');
	for (const char *p = ident; plain && *p; p++)
		plain = islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_' ||
			*p == '$';
	for (size_t i = 0; plain && reserved[i]; i++)
		if (strcmp(reserved[i], ident) == 0)
			plain = false;
	if (plain)
		return (size_t)snprintf(buf, cap, "%s", ident);
	size_t o = 0;
	if (o + 1 < cap)
		buf[o] = '"';
	o++;
	for (const char *p = ident; *p; p++) {
		if (*p == '"') {
			if (o + 1 < cap)
				buf[o] = '"';
			o++;
		}
		if (o + 1 < cap)
			buf[o] = *p;
		o++;
	}
	if (o + 1 < cap)
		buf[o] = '"';
	o++;
	if (cap)
		buf[o < cap ? o : cap - 1] = '\0';
	return o;
}

size_t advisor_table_sql(const AdvTable *t, char *buf, size_t cap)
{
	char s[256], n[256];
	advisor_quote_ident(t->schema, s, sizeof(s));
	advisor_quote_ident(t->name, n, sizeof(n));
	return (size_t)snprintf(buf, cap, "%s.%s", s, n);
}

size_t advisor_keys_sql(const AdvSuggestion *s, char *buf, size_t cap)
{
	char out[2048] = "(";
	for (size_t k = 0; k < s->n_keys; k++) {
		const AdvKey *key = &s->keys[k];
		char one[600];
		if (key->is_expr)
			snprintf(one, sizeof(one), "(%s)", key->expr);
		else
			advisor_quote_ident(key->expr, one, sizeof(one));
		size_t o = strlen(out);
		snprintf(out + o, sizeof(out) - o, "%s%s%s%s%s%s", k ? ", " : "", one,
			 key->opclass ? " " : "", key->opclass ? key->opclass : "",
			 key->desc ? " DESC" : "",
			 key->desc && !key->nulls_first ? " NULLS LAST" :
			 !key->desc && key->nulls_first ? " NULLS FIRST" :
							  "");
	}
	strncat(out, ")", sizeof(out) - strlen(out) - 1);
	return (size_t)snprintf(buf, cap, "%s", out);
}

size_t advisor_index_sql(const AdvSuggestion *s, bool hypo, char *buf, size_t cap)
{
	char tab[600], keys[2048], inc[600] = "", name[200];
	advisor_table_sql(s->table, tab, sizeof(tab));
	advisor_keys_sql(s, keys, sizeof(keys));
	advisor_quote_ident(s->name, name, sizeof(name));
	if (s->n_include) {
		snprintf(inc, sizeof(inc), " INCLUDE (");
		for (size_t i = 0; i < s->n_include; i++) {
			char q[256];
			advisor_quote_ident(s->include[i], q, sizeof(q));
			size_t o = strlen(inc);
			snprintf(inc + o, sizeof(inc) - o, "%s%s", i ? ", " : "", q);
		}
		strncat(inc, ")", sizeof(inc) - strlen(inc) - 1);
	}
	if (hypo)
		return (size_t)snprintf(buf, cap, "CREATE INDEX ON %s USING %s %s%s%s%s", tab,
					s->method, keys, inc, s->where ? " WHERE " : "",
					s->where ? s->where : "");
	bool concurrently = s->table->relkind != 'p';
	return (size_t)snprintf(buf, cap,
				"CREATE INDEX %sIF NOT EXISTS %s ON %s USING %s %s%s%s%s;",
				concurrently ? "CONCURRENTLY " : "", name, tab, s->method, keys,
				inc, s->where ? " WHERE " : "", s->where ? s->where : "");
}
