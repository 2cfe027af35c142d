/*
 * statements.c: the advisor's intake: options, the catalog's tables, the statements (views
 * expanded, one per fingerprint or shape), and what a plan leaves (suggestions, skips).
 */
#include "stats/advisor/internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_key(AdvKey *k);
static void free_table(AdvTable *t);
static uint64_t fnv(uint64_t h, const void *p, size_t n);
static uint64_t shape_key(const QueryShape *s, StmtKind kind);
static void merge_into(AdvStatement *st, const AdvStatementIn *in);
static void add_one(Advisor *adv, const AdvStatementIn *in, const char *text, size_t len,
		    const ParsedStatement *ps);
static long find_word(const char *text, size_t from, const char *word);
static char *expand_views(Advisor *adv, const char *text, size_t len);
static bool has_materialized_cte(const char *text);

void advisor_options_default(AdvisorOptions *o)
{
	memset(o, 0, sizeof(*o));
	o->min_table_rows = 10000;
	o->min_calls = 1;
	o->negligible_pct = 0.01;
	o->include_min_calls = 100000;
	o->min_saving_pct = 30;
	o->write_heavy_saving_pct = 50;
	o->write_heavy_writes_per_min = 1000;
}

const AdvisorOptions *advisor_options(const Advisor *adv)
{
	return &adv->opts;
}

Advisor *advisor_new(const AdvisorOptions *opts, AdvResolveFn resolve, void *resolve_arg)
{
	Advisor *adv = calloc(1, sizeof(*adv));
	if (!adv)
		return NULL;
	adv->opts = *opts;
	adv->resolve = resolve;
	adv->resolve_arg = resolve_arg;
	adv->pc = parser_cache_new(64u << 20, 65536);
	if (!adv->pc) {
		free(adv);
		return NULL;
	}
	return adv;
}

static void free_key(AdvKey *k)
{
	free(k->expr);
	free(k->opclass);
}

static void free_table(AdvTable *t)
{
	free(t->schema);
	free(t->name);
	for (size_t i = 0; i < t->n_cols; i++) {
		AdvColumn *c = &t->cols[i];
		free(c->name);
		for (size_t j = 0; j < c->n_mcv; j++)
			free(c->mcv[j]);
		free(c->mcv);
		free(c->mcv_freq);
	}
	free(t->cols);
	for (size_t i = 0; i < t->n_indexes; i++) {
		AdvIndex *ix = &t->indexes[i];
		free(ix->name);
		free(ix->method);
		for (size_t j = 0; j < ix->n_keys; j++)
			free_key(&ix->keys[j]);
		free(ix->keys);
		free(ix->predicate);
	}
	free(t->indexes);
	for (size_t i = 0; i < t->n_updated; i++)
		free(t->updated[i]);
	free(t->updated);
	free(t);
}

void advisor_free(Advisor *adv)
{
	if (!adv)
		return;
	for (size_t i = 0; i < adv->n_sugg; i++) {
		AdvSuggestion *s = &adv->sugg[i];
		for (size_t k = 0; k < s->n_keys; k++)
			free_key(&s->keys[k]);
		for (size_t k = 0; k < s->n_include; k++)
			free(s->include[k]);
		free(s->where);
		for (size_t k = 0; s->paths && k < s->n_stmts; k++)
			free(s->paths[k]);
		free(s->paths);
		free(s->stmts);
		for (size_t k = 0; k < s->n_updated_keys; k++)
			free(s->updated_keys[k]);
		free(s->updated_keys);
		for (size_t k = 0; k < s->n_notes; k++)
			free(s->notes[k]);
		free(s->drop_why);
	}
	free(adv->sugg);
	for (size_t i = 0; i < adv->n_reqs; i++)
		free(adv->reqs[i].where);
	free(adv->reqs);
	for (size_t i = 0; i < adv->n_stmts; i++) {
		AdvStatement *st = &adv->stmts[i];
		free(st->text);
		free(st->display);
		for (size_t k = 0; k < st->n_params; k++)
			free(st->params[k]);
		free(st->params);
		free(st->shape);
	}
	free(adv->stmts);
	for (size_t i = 0; i < adv->n_rels; i++) {
		free(adv->rels[i].schema);
		free(adv->rels[i].name);
		free(adv->rels[i].view_sql);
	}
	free(adv->rels);
	for (size_t i = 0; i < adv->n_tables; i++)
		free_table(adv->tables[i]);
	free(adv->tables);
	for (size_t i = 0; i < adv->n_skips; i++)
		free(adv->skips[i]);
	free(adv->skips);
	free(adv->nulls);
	for (size_t i = 0; i < adv->n_forms; i++) {
		free(adv->forms[i].col);
		free(adv->forms[i].form);
	}
	free(adv->forms);
	free(adv->filtered_calls);
	parser_cache_free(adv->pc);
	free(adv);
}

AdvTable *advisor_table(Advisor *adv, const char *schema, const char *name)
{
	for (size_t i = 0; i < adv->n_tables; i++)
		if (strcmp(adv->tables[i]->schema, schema) == 0 &&
		    strcmp(adv->tables[i]->name, name) == 0)
			return adv->tables[i];
	AdvTable **arr = adv_grow(adv->tables, adv->n_tables, sizeof(*arr));
	AdvTable *t = calloc(1, sizeof(*t));
	if (!arr || !t) {
		free(t);
		return NULL;
	}
	adv->tables = arr;
	t->schema = adv_strdup(schema);
	t->name = adv_strdup(name);
	t->rows = -1;
	t->pages = -1;
	t->writes_per_min = -1;
	t->hot_update_pct = -1;
	adv->tables[adv->n_tables++] = t;
	return t;
}

AdvColumn *advisor_table_add_column(AdvTable *t, const char *name)
{
	AdvColumn *arr = adv_grow(t->cols, t->n_cols, sizeof(*arr));
	if (!arr)
		return NULL;
	t->cols = arr;
	AdvColumn *c = &t->cols[t->n_cols++];
	memset(c, 0, sizeof(*c));
	c->name = adv_strdup(name);
	c->btree_ok = true;
	return c;
}

AdvIndex *advisor_table_add_index(AdvTable *t, const char *name, const char *method)
{
	AdvIndex *arr = adv_grow(t->indexes, t->n_indexes, sizeof(*arr));
	if (!arr)
		return NULL;
	t->indexes = arr;
	AdvIndex *ix = &t->indexes[t->n_indexes++];
	memset(ix, 0, sizeof(*ix));
	ix->name = adv_strdup(name);
	ix->method = adv_strdup(method);
	ix->valid = true;
	return ix;
}

AdvKey *advisor_index_add_key(AdvIndex *ix, const char *expr, bool is_expr, bool desc,
			      const char *opclass)
{
	AdvKey *arr = adv_grow(ix->keys, ix->n_keys, sizeof(*arr));
	if (!arr)
		return NULL;
	ix->keys = arr;
	AdvKey *k = &ix->keys[ix->n_keys++];
	memset(k, 0, sizeof(*k));
	k->expr = adv_strdup(expr);
	k->is_expr = is_expr;
	k->desc = desc;
	k->nulls_first = desc;
	k->opclass = opclass && *opclass ? adv_strdup(opclass) : NULL;
	return k;
}

const char **advisor_split_params(const char *buf, size_t len, uint16_t n)
{
	if (!buf || !n)
		return NULL;
	const char **v = malloc(n * sizeof(*v));
	if (!v)
		return NULL;
	const char *end = buf + len;
	for (uint16_t k = 0; k < n; k++) {
		const char *nul = memchr(buf, '\0', (size_t)(end - buf));
		if (!nul) { /* fewer values than announced: none is trusted */
			free(v);
			return NULL;
		}
		v[k] = buf;
		buf = nul + 1;
	}
	return v;
}

size_t advisor_add_statement(Advisor *adv, const AdvStatementIn *in)
{
	ParsedStatement ps[MAX_STMTS_PER_TEXT];
	size_t len = strlen(in->text);
	size_t n = parser_cache_lookup(adv->pc, in->text, len, ps, MAX_STMTS_PER_TEXT);
	if (n > MAX_STMTS_PER_TEXT)
		n = MAX_STMTS_PER_TEXT;
	/* Copy the offsets out: the next lookups invalidate what the cache returned. */
	size_t off[MAX_STMTS_PER_TEXT], slen[MAX_STMTS_PER_TEXT];
	for (size_t i = 0; i < n; i++) {
		off[i] = ps[i].stmt_offset;
		slen[i] = ps[i].stmt_len;
	}
	size_t taken = 0;
	for (size_t i = 0; i < n; i++) {
		const char *t = in->text + off[i];
		size_t l = slen[i];
		if (n == 1) {
			t = in->text;
			l = len;
		}
		ParsedStatement one;
		if (parser_cache_lookup(adv->pc, t, l, &one, 1) < 1)
			continue;
		add_one(adv, in, t, l, &one);
		taken++;
	}
	return taken;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* A hash of what the shape says, constants left out (their kind, position and text). */
static uint64_t shape_key(const QueryShape *s, StmtKind kind)
{
	uint64_t h = fnv(0xcbf29ce484222325ull, &kind, sizeof(kind));
	const ShapeTable *tabs = shape_tables(s);
	const ShapeCol *cols = shape_cols(s);
	for (size_t i = 0; i < s->n_tables; i++) {
		const char *sc = shape_str(s, tabs[i].schema), *nm = shape_str(s, tabs[i].name);
		h = fnv(h, sc, strlen(sc) + 1);
		h = fnv(h, nm, strlen(nm) + 1);
		h = fnv(h, &tabs[i].write, sizeof(tabs[i].write));
		h = fnv(h, &tabs[i].block, sizeof(tabs[i].block));
	}
	for (size_t i = 0; i < s->n_cols; i++) {
		const ShapeCol *c = &cols[i];
		const char *nm = shape_str(s, c->name);
		uint8_t f[4] = {c->use, c->flags, c->flags2, 0};
		h = fnv(h, &c->table, sizeof(c->table));
		h = fnv(h, f, sizeof(f));
		h = fnv(h, &c->candidates, sizeof(c->candidates));
		h = fnv(h, &c->peer, sizeof(c->peer));
		h = fnv(h, &c->block, sizeof(c->block));
		h = fnv(h, nm, strlen(nm) + 1);
	}
	return h;
}

/* Adds one statement: resolves its relations, expands views, merges by fingerprint and by
 * shape. */
/* Another digest of a statement already known: its calls, total time (unknown stays unknown)
 * and worst p95 are added to it. */
static void merge_into(AdvStatement *st, const AdvStatementIn *in)
{
	st->calls += in->calls;
	if (in->total_ms >= 0 && st->total_ms >= 0)
		st->total_ms += in->total_ms;
	else
		st->total_ms = -1;
	if (in->p95_ms > st->p95_ms)
		st->p95_ms = in->p95_ms;
}

static void add_one(Advisor *adv, const AdvStatementIn *in, const char *text, size_t len,
		    const ParsedStatement *ps)
{
	uint64_t fp = in->fingerprint && in->fingerprint != 0 ? in->fingerprint : ps->fingerprint;
	StmtKind kind = ps->kind;
	char *display = adv_strndup(in->display ? in->display : ps->normalized,
				    in->display ? strlen(in->display) : ps->normalized_len);
	if (kind == SK_UNPARSED) {
		adv_skip(adv, "statement does not parse: %.80s", text);
		free(display);
		return;
	}
	if (!ps->shape || (kind != SK_SELECT && kind != SK_UPDATE && kind != SK_DELETE &&
			   kind != SK_INSERT && kind != SK_MERGE)) {
		free(display);
		return;
	}
	for (size_t i = 0; i < adv->n_stmts; i++) {
		AdvStatement *st = &adv->stmts[i];
		if (st->fingerprint != fp)
			continue;
		merge_into(st, in);
		free(display);
		return;
	}
	char *expanded = expand_views(adv, text, len);
	if (!expanded) {
		free(display);
		return;
	}
	ParsedStatement e;
	if (parser_cache_lookup(adv->pc, expanded, strlen(expanded), &e, 1) < 1 || !e.shape) {
		free(expanded);
		free(display);
		return;
	}
	/* one statement, one digest: the same shape (constants aside) is the same statement */
	uint64_t key = shape_key(e.shape, kind);
	for (size_t i = 0; i < adv->n_stmts; i++) {
		AdvStatement *st = &adv->stmts[i];
		if (st->shape_key != key || st->kind != kind)
			continue;
		merge_into(st, in);
		free(expanded);
		free(display);
		return;
	}
	AdvStatement *arr = adv_grow(adv->stmts, adv->n_stmts, sizeof(*arr));
	QueryShape *shape = shape_copy(e.shape);
	if (!arr || !shape) {
		free(shape);
		free(expanded);
		free(display);
		return;
	}
	adv->stmts = arr;
	AdvStatement *st = &adv->stmts[adv->n_stmts++];
	memset(st, 0, sizeof(*st));
	st->fingerprint = fp;
	st->shape_key = key;
	st->text = expanded;
	st->display = display;
	st->kind = kind;
	st->calls = in->calls;
	st->total_ms = in->total_ms;
	st->p95_ms = in->p95_ms;
	st->shape = shape;
	st->needs_planner = has_materialized_cte(expanded);
	if (in->n_params && in->params) {
		st->params = calloc(in->n_params, sizeof(char *));
		if (st->params) {
			st->n_params = in->n_params;
			for (size_t k = 0; k < in->n_params; k++)
				st->params[k] = adv_strdup(in->params[k] ? in->params[k] : "");
		}
	}
}

/* Where `name` (case-insensitive, as a whole word) starts in text at or after from, or -1. */
static long find_word(const char *text, size_t from, const char *word)
{
	size_t wl = strlen(word), tl = strlen(text);
	for (size_t i = from; i + wl <= tl; i++) {
		if (strncasecmp(text + i, word, wl) != 0)
			continue;
		bool before_ok = i == 0 || !(isalnum((unsigned char)text[i - 1]) ||
					     text[i - 1] == '_' || text[i - 1] == '"');
		char after = text[i + wl];
		bool after_ok = !(isalnum((unsigned char)after) || after == '_');
		if (before_ok && after_ok)
			return (long)i;
	}
	return -1;
}

/*
 * Rewrites a statement that reads views so that each view becomes a CTE holding its definition;
 * the parser's shape then names the base tables and columns (a view's output alias maps back to
 * its column). Qualified references (`public.v`) lose their schema so that they name the CTE.
 * Returns a malloc'ed text (a copy of text when there is no view), NULL when out of memory.
 */
static char *expand_views(Advisor *adv, const char *text, size_t len)
{
	char *cur = adv_strndup(text, len);
	for (int depth = 0; cur && depth < VIEW_DEPTH; depth++) {
		ParsedStatement ps;
		if (parser_cache_lookup(adv->pc, cur, strlen(cur), &ps, 1) < 1 || !ps.shape)
			return cur;
		const QueryShape *s = ps.shape;
		const ShapeTable *tabs = shape_tables(s);
		char *ctes = NULL;
		char **names = NULL;
		size_t n_names = 0;
		for (size_t i = 0; i < s->n_tables; i++) {
			RelMap *rm = adv_resolve_rel(adv, shape_str(s, tabs[i].schema),
						     shape_str(s, tabs[i].name));
			if (!rm || rm->kind != ADV_REL_VIEW || !rm->view_sql)
				continue;
			bool dup = false;
			for (size_t k = 0; k < n_names; k++)
				dup |= strcmp(names[k], rm->name) == 0;
			if (dup)
				continue;
			char **nn = adv_grow(names, n_names, sizeof(char *));
			if (!nn)
				break;
			names = nn;
			names[n_names++] = rm->name;
			/* the definition ends with ';' as pg_get_viewdef prints it */
			char *def = adv_strdup(rm->view_sql);
			size_t dl = strlen(def);
			while (dl && (def[dl - 1] == ';' || isspace((unsigned char)def[dl - 1])))
				def[--dl] = '\0';
			char q[256];
			advisor_quote_ident(rm->name, q, sizeof(q));
			char *next = adv_asprintf("%s%s%s AS (%s)", ctes ? ctes : "",
						  ctes ? ", " : "", q, def);
			free(def);
			free(ctes);
			ctes = next;
			/* drop the schema qualification of references to it */
			if (*rm->schema) {
				char pat[300];
				snprintf(pat, sizeof(pat), "%s.", rm->schema);
				char qs[300];
				advisor_quote_ident(rm->schema, qs, sizeof(qs));
				char qpat[310];
				snprintf(qpat, sizeof(qpat), "%s.", qs);
				const char *pats[2] = {pat, qpat};
				for (int p = 0; p < 2; p++) {
					char *hit;
					while ((hit = strcasestr(cur, pats[p])) &&
					       strncasecmp(hit + strlen(pats[p]), rm->name,
							   strlen(rm->name)) == 0) {
						memmove(hit, hit + strlen(pats[p]),
							strlen(hit + strlen(pats[p])) + 1);
					}
				}
			}
		}
		free(names);
		if (!ctes)
			return cur;
		char *out;
		long w = find_word(cur, 0, "with");
		size_t lead = 0;
		while (cur[lead] && isspace((unsigned char)cur[lead]))
			lead++;
		if (w >= 0 && (size_t)w == lead) {
			size_t after = (size_t)w + 4;
			long r = find_word(cur, after, "recursive");
			size_t p = after;
			while (cur[p] && isspace((unsigned char)cur[p]))
				p++;
			if (r >= 0 && (size_t)r == p)
				after = (size_t)r + 9;
			out = adv_asprintf("%.*s %s,%s", (int)after, cur, ctes, cur + after);
		} else {
			out = adv_asprintf("WITH %s %s", ctes, cur);
		}
		free(ctes);
		free(cur);
		cur = out;
	}
	return cur;
}

/* `AS MATERIALIZED (`: predicates outside the CTE do not reach its scan. */
static bool has_materialized_cte(const char *text)
{
	long at = 0;
	while ((at = find_word(text, (size_t)at, "materialized")) >= 0) {
		long i = at - 1;
		while (i >= 0 && isspace((unsigned char)text[i]))
			i--;
		if (i >= 1 && strncasecmp(text + i - 1, "as", 2) == 0 &&
		    (i < 2 || !isalnum((unsigned char)text[i - 2])))
			return true;
		at++;
	}
	return false;
}

RelMap *adv_resolve_rel(Advisor *adv, const char *schema, const char *name)
{
	for (size_t i = 0; i < adv->n_rels; i++)
		if (strcmp(adv->rels[i].schema, schema) == 0 &&
		    strcmp(adv->rels[i].name, name) == 0)
			return &adv->rels[i];
	RelMap *arr = adv_grow(adv->rels, adv->n_rels, sizeof(*arr));
	if (!arr)
		return NULL;
	adv->rels = arr;
	RelMap *rm = &adv->rels[adv->n_rels++];
	memset(rm, 0, sizeof(*rm));
	rm->schema = adv_strdup(schema);
	rm->name = adv_strdup(name);
	AdvResolved r;
	memset(&r, 0, sizeof(r));
	if (adv->resolve) {
		adv->resolve(adv->resolve_arg, adv, schema, name, &r);
	} else {
		r.kind = ADV_REL_TABLE;
		r.table = advisor_table(adv, *schema ? schema : "public", name);
	}
	rm->kind = r.kind;
	rm->table = r.table;
	rm->view_sql = r.view_sql;
	snprintf(rm->why, sizeof(rm->why), "%s", r.why);
	if (rm->kind == ADV_REL_SKIP)
		adv_skip(adv, "%s%s%s: %s", schema, *schema ? "." : "", name, rm->why);
	if (rm->kind == ADV_REL_TABLE && !rm->table)
		rm->kind = ADV_REL_SKIP;
	return rm;
}

const AdvSuggestion *advisor_suggestions(const Advisor *adv, size_t *n)
{
	*n = adv->n_sugg;
	return adv->sugg;
}

AdvSuggestion *advisor_suggestion_mut(Advisor *adv, size_t i)
{
	return i < adv->n_sugg ? &adv->sugg[i] : NULL;
}

const AdvStatement *advisor_statements(const Advisor *adv, size_t *n)
{
	*n = adv->n_stmts;
	return adv->stmts;
}

AdvTable *const *advisor_tables(const Advisor *adv, size_t *n)
{
	*n = adv->n_tables;
	return adv->tables;
}

const char *const *advisor_skips(const Advisor *adv, size_t *n)
{
	*n = adv->n_skips;
	return (const char *const *)adv->skips;
}

void advisor_suggestion_note(AdvSuggestion *s, const char *fmt, ...)
{
	if (s->n_notes >= sizeof(s->notes) / sizeof(s->notes[0]))
		return;
	va_list ap;
	va_start(ap, fmt);
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) >= 0)
		s->notes[s->n_notes++] = msg;
	va_end(ap);
}

void advisor_suggestion_drop(AdvSuggestion *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	free(s->drop_why);
	s->drop_why = msg;
	s->dropped = true;
}

/* ------------------------------------------------------------------------------------------
 * Helpers */

/* Compares expressions ignoring case, spaces, quotes and one level of outer parentheses. */
bool adv_expr_eq(const char *a, const char *b)
{
	char x[512], y[512];
	const char *src[2] = {a, b};
	char *dst[2] = {x, y};
	for (int i = 0; i < 2; i++) {
		size_t o = 0;
		for (const char *p = src[i]; *p && o + 1 < sizeof(x); p++)
			if (!isspace((unsigned char)*p) && *p != '"')
				dst[i][o++] = (char)tolower((unsigned char)*p);
		dst[i][o] = '\0';
		while (o >= 2 && dst[i][0] == '(' && dst[i][o - 1] == ')') {
			memmove(dst[i], dst[i] + 1, o - 2);
			o -= 2;
			dst[i][o] = '\0';
		}
	}
	return strcmp(x, y) == 0;
}

void *adv_grow(void *arr, size_t n, size_t size)
{
	/* capacity doubles at powers of two */
	if (n && (n & (n - 1)))
		return arr;
	size_t cap = n ? n * 2 : 4;
	return realloc(arr, cap * size);
}

char *adv_strdup(const char *s)
{
	return strdup(s ? s : "");
}

char *adv_strndup(const char *s, size_t n)
{
	return strndup(s ? s : "", n);
}

char *adv_asprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *out = NULL;
	if (vasprintf(&out, fmt, ap) < 0)
		out = NULL;
	va_end(ap);
	return out;
}

void adv_skip(Advisor *adv, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg)
		return;
	for (size_t i = 0; i < adv->n_skips; i++)
		if (strcmp(adv->skips[i], msg) == 0) {
			free(msg);
			return;
		}
	char **arr = adv_grow(adv->skips, adv->n_skips, sizeof(char *));
	if (!arr) {
		free(msg);
		return;
	}
	adv->skips = arr;
	adv->skips[adv->n_skips++] = msg;
}
