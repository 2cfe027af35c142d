/*
 * advisor_core: from statements to index suggestions, without I/O (see advisor_core.h).
 *
 * Each statement's shape gives, per table, one *requirement*: a set of equality columns (whose
 * order within the index is free), then a tail in a fixed order (one range column, or the ORDER
 * BY columns with their directions), an optional partial predicate, the index method. A
 * requirement is served by an index whose first keys are exactly the equality set (in any order)
 * followed by the tail (directions all as written or all reversed, since a btree reads both
 * ways). Requirements served by an existing valid index are dropped; the rest are merged: the
 * widest one on a table fixes the columns, and the requirements whose equality sets nest inside it
 * choose their order, so that one index serves the 1-, 2- and 3-column lookups through its prefix.
 */
#include "stats/advisor_core.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser/shape.h"

#define MAX_STMTS_PER_TEXT 32
#define VIEW_DEPTH 4
/* A constant filter value at or under this share of the rows makes a partial index. */
#define RARE_VALUE_FRAC 0.05
/* An existing index whose leading columns are a statement's equality columns and find at most
 * this many rows (estimated) serves it: the rest of its filters and its sort work on a handful
 * of rows (prefix_finds_few). */
#define FEW_ROWS 100
/* An equality literal matching at least this share of the rows is no key beside a selective
 * equality column (drop_weak_literals). */
#define WEAK_LITERAL_FRAC 0.25
/* IS NULL / IS NOT NULL selecting at most this share of the rows makes a partial index. */
#define RARE_NULL_FRAC 0.2
/* A null test in this share of a table's filtered calls (soft deletes) makes a partial index. */
#define PRESENT_FRAC 0.9
#define DEFAULT_EQ_SEL 0.005

typedef struct RelMap {
	char *schema, *name;
	AdvRelKind kind;
	AdvTable *table;
	char *view_sql;
	char why[128];
} RelMap;

typedef struct ReqCol {
	char *expr; /* borrowed from the statement's shape copy or the advisor's strings */
	bool is_expr;
	bool desc, nulls_first;
	const char *opclass;
	double sel;
	int rank; /* key order: RANK_EQ, then RANK_JOIN, then RANK_MULTI (each by selectivity) */
} ReqCol;

/* Equality on one value first; then join columns (a nested loop's probe: the value comes from
 * the outer row); then equality on several values (IN lists, = ANY), each a scan of its own. */
enum { RANK_EQ = 0, RANK_JOIN = 1, RANK_MULTI = 2 };

/* A table this small is read whole: the other side of a join with it is probed by index. */
#define SMALL_TABLE_ROWS 1000

typedef struct Req {
	size_t stmt;
	AdvTable *t;
	const char *method;
	ReqCol eq[ADV_MAX_KEY];
	size_t n_eq;
	ReqCol tail[ADV_MAX_KEY];
	size_t n_tail;
	bool tail_is_order;
	char *where; /* (owned) */
	const char *include[4];
	size_t n_include;
	bool assigned;
	bool dropped;
	/* only the predicate finds the rows (the key is the filtered column, for want of
	 * another): any index with the same predicate serves it */
	bool keyless;
} Req;

/* A null test seen on a table: for the "present in nearly all statements" rule. */
typedef struct NullUse {
	AdvTable *t;
	const char *col;
	bool is_null;
	uint64_t calls;
	size_t fps;
} NullUse;

/*
 * How the statements filter one column with a constant: when every filter on it in the window
 * is the same constant one (deleted_at IS NULL, starred IS TRUE, status IN ('QUEUED',
 * 'PENDING')), it is the partial predicate of the indexes the column's statements need.
 */
typedef struct ConstForm {
	AdvTable *t;
	char *col;  /* (owned) */
	char *form; /* the predicate as SQL, NULL once the column is filtered otherwise (owned) */
	bool variable; /* also filtered by a parameter, a range, a join... */
} ConstForm;

struct Advisor {
	AdvisorOptions opts;
	AdvResolveFn resolve;
	void *resolve_arg;
	ParserCache *pc;
	AdvTable **tables;
	size_t n_tables;
	RelMap *rels;
	size_t n_rels;
	AdvStatement *stmts;
	size_t n_stmts;
	Req *reqs;
	size_t n_reqs;
	AdvSuggestion *sugg;
	size_t n_sugg;
	char **skips;
	size_t n_skips;
	NullUse *nulls;
	size_t n_nulls;
	ConstForm *forms;
	size_t n_forms;
	/* filtered calls per table, parallel to tables */
	uint64_t *filtered_calls;
};

static void *grow(void *arr, size_t n, size_t size);
static char *xstrdup(const char *s);
static char *xstrndup(const char *s, size_t n);
static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void add_skip(Advisor *adv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static RelMap *resolve_rel(Advisor *adv, const char *schema, const char *name);
static char *expand_views(Advisor *adv, const char *text, size_t len);
static bool has_materialized_cte(const char *text);
static void add_one(Advisor *adv, const AdvStatementIn *in, const char *text, size_t len,
		    const ParsedStatement *ps);
static void stmt_requirements(Advisor *adv, size_t si);
static bool unique_covers(const Req *r, const AdvIndex *ix);
static bool prefix_finds_few(const Req *r, const AdvIndex *ix);
static bool req_served(const Req *r, const AdvKey *keys, size_t n_keys, const char *method,
		       const char *pred);
static void merge_requirements(Advisor *adv);
static void finish_suggestion(Advisor *adv, AdvSuggestion *s);
static int sugg_cmp(const void *a, const void *b);
static const AdvColumn *table_column(const AdvTable *t, const char *name);
static bool expr_eq(const char *a, const char *b);

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
	AdvTable **arr = grow(adv->tables, adv->n_tables, sizeof(*arr));
	AdvTable *t = calloc(1, sizeof(*t));
	if (!arr || !t) {
		free(t);
		return NULL;
	}
	adv->tables = arr;
	t->schema = xstrdup(schema);
	t->name = xstrdup(name);
	t->rows = -1;
	t->pages = -1;
	t->writes_per_min = -1;
	t->hot_update_pct = -1;
	adv->tables[adv->n_tables++] = t;
	return t;
}

AdvColumn *advisor_table_add_column(AdvTable *t, const char *name)
{
	AdvColumn *arr = grow(t->cols, t->n_cols, sizeof(*arr));
	if (!arr)
		return NULL;
	t->cols = arr;
	AdvColumn *c = &t->cols[t->n_cols++];
	memset(c, 0, sizeof(*c));
	c->name = xstrdup(name);
	c->btree_ok = true;
	return c;
}

AdvIndex *advisor_table_add_index(AdvTable *t, const char *name, const char *method)
{
	AdvIndex *arr = grow(t->indexes, t->n_indexes, sizeof(*arr));
	if (!arr)
		return NULL;
	t->indexes = arr;
	AdvIndex *ix = &t->indexes[t->n_indexes++];
	memset(ix, 0, sizeof(*ix));
	ix->name = xstrdup(name);
	ix->method = xstrdup(method);
	ix->valid = true;
	return ix;
}

AdvKey *advisor_index_add_key(AdvIndex *ix, const char *expr, bool is_expr, bool desc,
			      const char *opclass)
{
	AdvKey *arr = grow(ix->keys, ix->n_keys, sizeof(*arr));
	if (!arr)
		return NULL;
	ix->keys = arr;
	AdvKey *k = &ix->keys[ix->n_keys++];
	memset(k, 0, sizeof(*k));
	k->expr = xstrdup(expr);
	k->is_expr = is_expr;
	k->desc = desc;
	k->nulls_first = desc;
	k->opclass = opclass && *opclass ? xstrdup(opclass) : NULL;
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
	char *display = xstrndup(in->display ? in->display : ps->normalized,
				 in->display ? strlen(in->display) : ps->normalized_len);
	if (kind == SK_UNPARSED) {
		add_skip(adv, "statement does not parse: %.80s", text);
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
	AdvStatement *arr = grow(adv->stmts, adv->n_stmts, sizeof(*arr));
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
				st->params[k] = xstrdup(in->params[k] ? in->params[k] : "");
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
	char *cur = xstrndup(text, len);
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
			RelMap *rm = resolve_rel(adv, shape_str(s, tabs[i].schema),
						 shape_str(s, tabs[i].name));
			if (!rm || rm->kind != ADV_REL_VIEW || !rm->view_sql)
				continue;
			bool dup = false;
			for (size_t k = 0; k < n_names; k++)
				dup |= strcmp(names[k], rm->name) == 0;
			if (dup)
				continue;
			char **nn = grow(names, n_names, sizeof(char *));
			if (!nn)
				break;
			names = nn;
			names[n_names++] = rm->name;
			/* the definition ends with ';' as pg_get_viewdef prints it */
			char *def = xstrdup(rm->view_sql);
			size_t dl = strlen(def);
			while (dl && (def[dl - 1] == ';' || isspace((unsigned char)def[dl - 1])))
				def[--dl] = '\0';
			char q[256];
			advisor_quote_ident(rm->name, q, sizeof(q));
			char *next = xasprintf("%s%s%s AS (%s)", ctes ? ctes : "", ctes ? ", " : "",
					       q, def);
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
			out = xasprintf("%.*s %s,%s", (int)after, cur, ctes, cur + after);
		} else {
			out = xasprintf("WITH %s %s", ctes, cur);
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

static RelMap *resolve_rel(Advisor *adv, const char *schema, const char *name)
{
	for (size_t i = 0; i < adv->n_rels; i++)
		if (strcmp(adv->rels[i].schema, schema) == 0 &&
		    strcmp(adv->rels[i].name, name) == 0)
			return &adv->rels[i];
	RelMap *arr = grow(adv->rels, adv->n_rels, sizeof(*arr));
	if (!arr)
		return NULL;
	adv->rels = arr;
	RelMap *rm = &adv->rels[adv->n_rels++];
	memset(rm, 0, sizeof(*rm));
	rm->schema = xstrdup(schema);
	rm->name = xstrdup(name);
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
		add_skip(adv, "%s%s%s: %s", schema, *schema ? "." : "", name, rm->why);
	if (rm->kind == ADV_REL_TABLE && !rm->table)
		rm->kind = ADV_REL_SKIP;
	return rm;
}

/* ------------------------------------------------------------------------------------------
 * Requirements */

static const AdvColumn *table_column(const AdvTable *t, const char *name)
{
	for (size_t i = 0; i < t->n_cols; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return &t->cols[i];
	return NULL;
}

static bool col_is_unique(const AdvTable *t, const char *name)
{
	for (size_t i = 0; i < t->n_indexes; i++) {
		const AdvIndex *ix = &t->indexes[i];
		if (ix->unique && ix->valid && !ix->predicate && ix->n_keys == 1 &&
		    !ix->keys[0].is_expr && strcmp(ix->keys[0].expr, name) == 0)
			return true;
	}
	return false;
}

/* Share of the rows one value of the column selects (nvalues values: an IN list). */
static double col_selectivity(const AdvTable *t, const char *name, bool is_expr, double nvalues)
{
	if (is_expr)
		return DEFAULT_EQ_SEL * nvalues;
	if (t->known && t->rows > 0 && col_is_unique(t, name))
		return nvalues / t->rows;
	const AdvColumn *c = table_column(t, name);
	if (!c || !c->has_stats || c->n_distinct == 0)
		return DEFAULT_EQ_SEL * nvalues;
	double nd =
		c->n_distinct > 0 ? c->n_distinct : -c->n_distinct * (t->rows > 0 ? t->rows : 1);
	if (nd < 1)
		nd = 1;
	double sel = (1 - c->null_frac) / nd * nvalues;
	return sel > 1 ? 1 : sel;
}

/* The text of a constant as written: strips quotes ('a''b' -> a'b, E'..' kept simple). */
static char *const_value(const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	if (n && (*s == 'E' || *s == 'e') && n > 1 && s[1] == '\'') {
		s++;
		n--;
	}
	if (n >= 2 && s[0] == '\'' && s[n - 1] == '\'') {
		char *out = malloc(n);
		if (!out)
			return NULL;
		size_t o = 0;
		for (size_t i = 1; i + 1 < n; i++) {
			out[o++] = s[i];
			if (s[i] == '\'' && s[i + 1] == '\'')
				i++;
		}
		out[o] = '\0';
		return out;
	}
	return xstrndup(s, n);
}

/* Splits an IN list span "'a', 'b'" at top-level commas; returns the count (<= max). */
static size_t split_list(const char *s, size_t n, const char **start, size_t *lens, size_t max)
{
	size_t count = 0, from = 0;
	bool q = false;
	int depth = 0;
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? s[i] : ',';
		if (c == '\'' && i < n)
			q = !q;
		else if (!q && c == '(')
			depth++;
		else if (!q && c == ')')
			depth--;
		else if (!q && depth == 0 && c == ',') {
			if (count < max) {
				start[count] = s + from;
				lens[count] = i - from;
			}
			count++;
			from = i + 1;
		}
	}
	return count;
}

/* The pattern of a LIKE: from the literal, or the sampled parameter; NULL when unknown. */
static char *like_pattern(const AdvStatement *st, const ShapeCol *c)
{
	if (c->const_kind == SCK_CONST)
		return const_value(st->text + c->const_pos, c->const_len);
	if (c->const_kind == SCK_PARAM && c->const_len > 1) {
		int n = atoi(st->text + c->const_pos + 1);
		if (n >= 1 && (size_t)n <= st->n_params)
			return xstrdup(st->params[n - 1]);
	}
	return NULL;
}

/* The table index a column belongs to, resolving unqualified columns with the catalog. */
static size_t col_table(const QueryShape *s, const ShapeCol *c, AdvTable *const *map)
{
	if (c->table != SHAPE_NONE)
		return c->table;
	size_t found = SHAPE_NONE, n = 0;
	const char *name = shape_str(s, c->name);
	for (size_t i = 0; i < s->n_tables && i < 32; i++) {
		if (!(c->candidates & (1u << i)))
			continue;
		if (map[i] && map[i]->known && !(c->flags & SCF_EXPR) &&
		    !table_column(map[i], name))
			continue;
		found = i;
		n++;
	}
	return n == 1 ? found : SHAPE_NONE;
}

static int reqcol_cmp(const void *a, const void *b)
{
	const ReqCol *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->sel < y->sel * 0.999)
		return -1;
	if (y->sel < x->sel * 0.999)
		return 1;
	return strcmp(x->expr, y->expr);
}

static bool reqcols_has(const ReqCol *cols, size_t n, const char *expr)
{
	for (size_t i = 0; i < n; i++)
		if (expr_eq(cols[i].expr, expr))
			return true;
	return false;
}

static Req *new_req(Advisor *adv, size_t si, AdvTable *t, const char *method)
{
	Req *arr = grow(adv->reqs, adv->n_reqs, sizeof(*arr));
	if (!arr)
		return NULL;
	adv->reqs = arr;
	Req *r = &adv->reqs[adv->n_reqs++];
	memset(r, 0, sizeof(*r));
	r->stmt = si;
	r->t = t;
	r->method = method;
	return r;
}

static bool col_usable(const AdvTable *t, const char *name, bool is_expr)
{
	if (is_expr || !t->known)
		return true;
	const AdvColumn *c = table_column(t, name);
	return c && c->btree_ok;
}

static bool null_present(const Advisor *adv, const AdvTable *t, const char *col, bool is_null)
{
	uint64_t total = 0;
	for (size_t i = 0; i < adv->n_tables; i++)
		if (adv->tables[i] == t)
			total = adv->filtered_calls[i];
	for (size_t i = 0; i < adv->n_nulls; i++) {
		const NullUse *u = &adv->nulls[i];
		if (u->t == t && u->is_null == is_null && strcmp(u->col, col) == 0)
			return u->fps >= 2 && total > 0 &&
			       (double)u->calls >= PRESENT_FRAC * (double)total;
	}
	return false;
}

/*
 * The share of the table's rows (pg_stats most_common_freqs) that c, a `= 'v'` or `IN (...)`
 * literal, matches, and in *n_values how many values it lists; -1 when it is no literal, the
 * column has no statistics, or a value is not among the most common ones.
 */
static double literal_freq(const AdvStatement *st, const AdvColumn *ac, const ShapeCol *c,
			   size_t *n_values)
{
	if ((c->const_kind != SCK_CONST && c->const_kind != SCK_LIST) || !ac || !ac->has_stats ||
	    ac->n_mcv == 0)
		return -1;
	const char *starts[16];
	size_t lens[16];
	size_t n = split_list(st->text + c->const_pos, c->const_len, starts, lens, 16);
	if (n == 0 || n > 16)
		return -1;
	double freq = 0;
	for (size_t i = 0; i < n; i++) {
		char *v = const_value(starts[i], lens[i]);
		bool found = false;
		for (size_t k = 0; v && k < ac->n_mcv; k++)
			if (strcmp(ac->mcv[k], v) == 0) {
				freq += ac->mcv_freq[k];
				found = true;
			}
		free(v);
		if (!found)
			return -1;
	}
	*n_values = n;
	return freq;
}

/*
 * The partial-index predicate a constant filter gives, or NULL: IS [NOT] NULL selecting few rows
 * (pg_stats null_frac) or present in nearly all of the table's statements; `= 'v'` / `IN (...)`
 * literals whose values are rare (most_common_freqs) in a low-cardinality column.
 */
static char *partial_predicate(const Advisor *adv, const AdvStatement *st, const AdvTable *t,
			       const ShapeCol *c, const char *name)
{
	const AdvColumn *ac = table_column(t, name);
	char q[256];
	advisor_quote_ident(name, q, sizeof(q));
	if (c->use == SU_IS_NULL || c->use == SU_IS_NOT_NULL) {
		bool is_null = c->use == SU_IS_NULL;
		bool rare = ac && ac->has_stats &&
			    (is_null ? ac->null_frac <= RARE_NULL_FRAC :
				       1 - ac->null_frac <= RARE_NULL_FRAC);
		if (rare || null_present(adv, t, name, is_null))
			return xasprintf("%s IS %sNULL", q, is_null ? "" : "NOT ");
		return NULL;
	}
	if (c->use != SU_EQ || !ac || ac->n_distinct <= 0 || ac->n_distinct > 100)
		return NULL;
	size_t n;
	double freq = literal_freq(st, ac, c, &n);
	if (freq < 0 || freq > RARE_VALUE_FRAC)
		return NULL;
	const char *span = st->text + c->const_pos;
	if (n == 1)
		return xasprintf("%s = %.*s", q, (int)c->const_len, span);
	return xasprintf("%s IN (%.*s)", q, (int)c->const_len, span);
}

/* A partial index's WHERE with one more predicate ANDed on; takes both strings. */
static char *where_and(char *where, char *pred)
{
	if (!where)
		return pred;
	char *w = xasprintf("%s AND %s", where, pred);
	free(where);
	free(pred);
	return w;
}

/* Distinct values of a column by pg_stats, or -1 when unknown. */
static double col_ndistinct(const AdvTable *t, const char *name)
{
	const AdvColumn *c = table_column(t, name);
	if (!c || !c->has_stats || c->n_distinct == 0)
		return -1;
	return c->n_distinct > 0 ? c->n_distinct : -c->n_distinct * (t->rows > 0 ? t->rows : 1);
}

/* A literal that is part of the application's SQL rather than a sampled parameter value: a
 * string (for a column of few values) or a boolean. */
static bool app_literal(const char *s, size_t n, bool few_values)
{
	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	if ((n == 4 && strncasecmp(s, "true", 4) == 0) ||
	    (n == 5 && strncasecmp(s, "false", 5) == 0))
		return true;
	return few_values && n >= 2 && s[0] == '\'';
}

/*
 * The predicate a constant filter gives, as SQL (malloc'ed), or NULL when c is not one:
 * `col IS [NOT] NULL`, `col`, `col IS TRUE`, `col IS FALSE`, `col = true`, and `col = 'v'` /
 * `col IN ('a', 'b')` on a column with at most CONST_FORM_MAX_VALUES distinct values.
 */
#define CONST_FORM_MAX_VALUES 100
static char *const_form(const AdvStatement *st, const AdvTable *t, const ShapeCol *c,
			const char *name)
{
	char q[256];
	if (c->flags & (SCF_OR | SCF_EXPR))
		return NULL;
	advisor_quote_ident(name, q, sizeof(q));
	if (c->use == SU_IS_NULL || c->use == SU_IS_NOT_NULL)
		return xasprintf("%s IS %sNULL", q, c->use == SU_IS_NULL ? "" : "NOT ");
	if (c->use != SU_EQ)
		return NULL;
	if (c->flags2 & SCF2_BARE)
		return xstrdup(q);
	if (c->flags2 & SCF2_NOT)
		return xasprintf("NOT %s", q);
	if (c->flags2 & (SCF2_ISTRUE | SCF2_ISFALSE))
		return xasprintf("%s IS %s", q, (c->flags2 & SCF2_ISTRUE) ? "TRUE" : "FALSE");
	if (c->const_kind != SCK_CONST && c->const_kind != SCK_LIST)
		return NULL;
	double nd = col_ndistinct(t, name);
	bool few = nd > 0 && nd <= CONST_FORM_MAX_VALUES;
	const char *span = st->text + c->const_pos;
	const char *starts[16];
	size_t lens[16];
	size_t n = split_list(span, c->const_len, starts, lens, 16);
	if (n == 0 || n > 16)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!app_literal(starts[i], lens[i], few))
			return NULL;
	if (c->const_kind == SCK_LIST || (c->flags2 & SCF2_MULTI))
		return xasprintf("%s IN (%.*s)", q, (int)c->const_len, span);
	return xasprintf("%s = %.*s", q, (int)c->const_len, span);
}

static ConstForm *form_find(Advisor *adv, const AdvTable *t, const char *col, bool create)
{
	for (size_t i = 0; i < adv->n_forms; i++)
		if (adv->forms[i].t == t && strcmp(adv->forms[i].col, col) == 0)
			return &adv->forms[i];
	if (!create)
		return NULL;
	ConstForm *arr = grow(adv->forms, adv->n_forms, sizeof(*arr));
	if (!arr)
		return NULL;
	adv->forms = arr;
	ConstForm *f = &adv->forms[adv->n_forms++];
	memset(f, 0, sizeof(*f));
	f->t = (AdvTable *)t;
	f->col = xstrdup(col);
	return f;
}

/* Records how statement st filters column c of table t (see ConstForm). */
static void form_note(Advisor *adv, const AdvStatement *st, const AdvTable *t, const ShapeCol *c,
		      const char *name)
{
	if ((c->flags & SCF_OR) || (c->flags & SCF_EXPR))
		return;
	if (c->use != SU_EQ && c->use != SU_IS_NULL && c->use != SU_IS_NOT_NULL &&
	    c->use != SU_RANGE && c->use != SU_LIKE && c->use != SU_JOIN)
		return;
	ConstForm *f = form_find(adv, t, name, true);
	if (!f || f->variable)
		return;
	char *form = const_form(st, t, c, name);
	if (!form || (f->form && strcmp(f->form, form) != 0)) {
		f->variable = true;
		free(form);
		return;
	}
	if (f->form)
		free(form);
	else
		f->form = form;
}

/* The predicate for c when it is its column's only filter in the window, else NULL. */
static const char *form_candidate(Advisor *adv, const AdvTable *t, const ShapeCol *c,
				  const char *name)
{
	if (c->flags & (SCF_OR | SCF_EXPR))
		return NULL;
	const ConstForm *f = form_find(adv, t, name, false);
	return f && !f->variable ? f->form : NULL;
}

/* Equality on several values (IN, = ANY): one index scan per value, whose rows are not in the
 * order of the keys after it, so no sort can follow. */
static bool has_multi(const Req *r)
{
	for (size_t i = 0; i < r->n_eq; i++)
		if (r->eq[i].rank == RANK_MULTI)
			return true;
	return false;
}

/*
 * Equality literals that match a large share of the rows (status IN ('open', 'in_progress'),
 * status = 'open' where half the issues are open) leave the key when another equality column
 * finds the rows: checked on the rows the index gives, they cost little, and without them the
 * statement keeps its ORDER BY and shares the index of its selective column, as
 * `assignee_id = $1 AND status IN (...) ORDER BY updated_at DESC` shares
 * (assignee_id, updated_at DESC).
 */
static void drop_weak_literals(Req *r, const char *const *weak, size_t n_weak)
{
	for (size_t w = 0; w < n_weak; w++) {
		bool other = false;
		for (size_t k = 0; k < r->n_eq && !other; k++) {
			bool is_weak = false;
			for (size_t v = 0; v < n_weak; v++)
				is_weak |= expr_eq(r->eq[k].expr, weak[v]);
			other = !is_weak && r->eq[k].rank != RANK_MULTI;
		}
		if (!other)
			return;
		for (size_t k = 0; k < r->n_eq; k++)
			if (expr_eq(r->eq[k].expr, weak[w])) {
				memmove(&r->eq[k], &r->eq[k + 1],
					(r->n_eq - k - 1) * sizeof(r->eq[0]));
				r->n_eq--;
				break;
			}
	}
}

/* Builds the requirements one statement puts on each of its tables. */
static void stmt_requirements(Advisor *adv, size_t si)
{
	AdvStatement *st = &adv->stmts[si];
	const QueryShape *s = st->shape;
	const ShapeTable *tabs = shape_tables(s);
	const ShapeCol *cols = shape_cols(s);
	AdvTable *map[64];
	int level[64];
	size_t nt = s->n_tables < 64 ? s->n_tables : 64;
	for (size_t i = 0; i < nt; i++) {
		RelMap *rm =
			resolve_rel(adv, shape_str(s, tabs[i].schema), shape_str(s, tabs[i].name));
		map[i] = rm && rm->kind == ADV_REL_TABLE ? rm->table : NULL;
		level[i] = map[i] && map[i]->known && map[i]->rows >= 1 &&
					   map[i]->rows < SMALL_TABLE_ROWS ?
				   0 :
				   -1;
	}
	/*
	 * Which side of each join is the inner side of a nested loop: the tables with a filter of
	 * their own (or small) are read first (level 0); a table joined to one read before it is
	 * probed through its join column (level + 1), and so on.
	 */
	for (size_t k = 0; k < s->n_cols; k++) {
		const ShapeCol *c = &cols[k];
		size_t ti = col_table(s, c, map);
		if (ti >= nt || (c->flags & SCF_OR))
			continue;
		if (c->use == SU_EQ || c->use == SU_RANGE ||
		    (c->use == SU_LIKE && (c->flags & SCF_PREFIX)))
			level[ti] = 0;
	}
	for (bool more = true; more;) {
		more = false;
		for (size_t k = 0; k < s->n_cols; k++) {
			const ShapeCol *c = &cols[k];
			/* a per-row subquery is always the inner side: nothing reaches its outer
			 * side through it */
			if (c->use != SU_JOIN || c->peer >= s->n_cols || (c->flags & SCF_OR) ||
			    (cols[c->peer].flags2 & SCF2_PERROW))
				continue;
			size_t ti = col_table(s, c, map), pt = col_table(s, &cols[c->peer], map);
			if (ti >= nt || pt >= nt || level[pt] < 0 ||
			    (level[ti] >= 0 && level[ti] <= level[pt] + 1))
				continue;
			level[ti] = level[pt] + 1;
			more = true;
		}
	}
	for (size_t ti = 0; ti < nt; ti++) {
		AdvTable *t = map[ti];
		if (!t)
			continue;
		/* the same table twice in a statement (self join) is looked at once per mention */
		if (tabs[ti].write)
			t->write_calls += st->calls;
		else if (st->kind == SK_SELECT)
			t->select_calls += st->calls;
		for (size_t k = 0; k < s->n_cols; k++) {
			const ShapeCol *c = &cols[k];
			if (c->use != SU_WRITE || col_table(s, c, map) != ti ||
			    tabs[ti].write != SK_UPDATE)
				continue;
			const char *nm = shape_str(s, c->name);
			bool have = false;
			for (size_t u = 0; u < t->n_updated; u++)
				have |= strcmp(t->updated[u], nm) == 0;
			char **arr = have ? NULL : grow(t->updated, t->n_updated, sizeof(char *));
			if (arr) {
				t->updated = arr;
				t->updated[t->n_updated++] = xstrdup(nm);
			}
		}
		if (t->known && t->rows >= 0 && t->rows < (double)adv->opts.min_table_rows) {
			add_skip(adv, "%s.%s: %.0f rows, under advisor_min_table_rows (%lld)",
				 t->schema, t->name, t->rows, (long long)adv->opts.min_table_rows);
			continue;
		}
		Req r;
		memset(&r, 0, sizeof(r));
		char *where = NULL;
		/* constant filters that may become the predicate (see ConstForm) */
		const char *cands[ADV_MAX_KEY];
		ReqCol cand_eq[ADV_MAX_KEY];
		size_t n_cands = 0, n_cand_eq = 0;
		/* literal IN-lists, which would keep an ORDER BY ... LIMIT from the index */
		const char *queue_col[ADV_MAX_KEY];
		/* equality literals matching many rows (see drop_weak_literals) */
		const char *weak_col[ADV_MAX_KEY];
		size_t n_weak = 0;
		char *queue_form[ADV_MAX_KEY];
		size_t n_queue = 0;
		ReqCol ranges[ADV_MAX_KEY];
		size_t n_ranges = 0;
		ReqCol order[ADV_MAX_KEY];
		size_t n_order = 0;
		bool order_ok = true, limit = false;
		const char *sel_cols[8];
		size_t n_sel = 0;
		bool sel_star = false, searched = false;
		/* the ORDER BY that sorts this table's rows: the first query block (SELECT) that
		 * sorts by one of its columns; another table's column there spoils it */
		int ob = -1;
		for (size_t k = 0; k < s->n_cols && ob < 0; k++)
			if (cols[k].use == SU_ORDER && col_table(s, &cols[k], map) == ti)
				ob = cols[k].block;
		for (size_t k = 0; k < s->n_cols; k++) {
			const ShapeCol *c = &cols[k];
			size_t ct = col_table(s, c, map);
			if (c->use == SU_ORDER && c->block != ob)
				continue;
			if (c->use == SU_ORDER && ct != ti)
				order_ok = false;
			if (ct != ti)
				continue;
			const char *name = shape_str(s, c->name);
			bool is_expr = (c->flags & SCF_EXPR) != 0;
			if (c->flags & SCF_OR)
				continue;
			if (!is_expr && t->known && !table_column(t, name)) {
				if (c->use == SU_ORDER)
					order_ok = false;
				continue;
			}
			ReqCol rc = {.expr = (char *)name, .is_expr = is_expr};
			switch (c->use) {
			case SU_EQ: {
				char *pred = partial_predicate(adv, st, t, c, name);
				if (pred) {
					where = where_and(where, pred);
					break;
				}
				const char *form = form_candidate(adv, t, c, name);
				if (form && n_cands < ADV_MAX_KEY) {
					cands[n_cands++] = form;
					if (col_usable(t, name, is_expr) &&
					    n_cand_eq < ADV_MAX_KEY) {
						rc.sel = col_selectivity(t, name, is_expr, 1);
						cand_eq[n_cand_eq++] = rc;
					}
					break;
				}
				if (!col_usable(t, name, is_expr) || r.n_eq >= 6 ||
				    reqcols_has(r.eq, r.n_eq, name))
					break;
				double nv = 1;
				if (c->const_kind == SCK_LIST) {
					const char *st_[64];
					size_t ln[64];
					nv = (double)split_list(st->text + c->const_pos,
								c->const_len, st_, ln, 64);
				}
				rc.sel = col_selectivity(t, name, is_expr, nv);
				size_t n_lit;
				if (n_weak < ADV_MAX_KEY && !is_expr &&
				    literal_freq(st, table_column(t, name), c, &n_lit) >=
					    WEAK_LITERAL_FRAC)
					weak_col[n_weak++] = name;
				if (c->flags2 & SCF2_MULTI) {
					rc.rank = RANK_MULTI;
					/* status IN ('queued', 'pending'): may become the
					 * predicate of a queue (see below) */
					char *f = n_queue < ADV_MAX_KEY ?
							  const_form(st, t, c, name) :
							  NULL;
					if (f) {
						queue_col[n_queue] = name;
						queue_form[n_queue++] = f;
					}
				}
				r.eq[r.n_eq++] = rc;
				break;
			}
			case SU_IS_NULL:
			case SU_IS_NOT_NULL: {
				char *pred = partial_predicate(adv, st, t, c, name);
				const char *form = pred ? NULL : form_candidate(adv, t, c, name);
				if (pred)
					where = where_and(where, pred);
				else if (form && n_cands < ADV_MAX_KEY)
					cands[n_cands++] = form;
				break;
			}
			case SU_JOIN: {
				if (c->peer == SHAPE_NONE || c->peer >= s->n_cols || is_expr)
					break;
				const ShapeCol *pc = &cols[c->peer];
				size_t pt = col_table(s, pc, map);
				/* the inner side: the other one is read first (see level); when
				 * both have filters of their own, both may be, except the inside
				 * of EXISTS / IN, which PostgreSQL reads by its own filter and
				 * joins on the outer table's key */
				bool inner = (c->flags2 & SCF2_PERROW) ||
					     (pt < nt && pt != ti && level[pt] >= 0 &&
					      (level[ti] < 0 || level[pt] < level[ti] ||
					       (level[pt] == 0 && level[ti] == 0 &&
						!(c->flags2 & SCF2_SEMI))));
				bool self_unique =
					t->known ? col_is_unique(t, name) : strcmp(name, "id") == 0;
				if (self_unique || !inner)
					break;
				if (!col_usable(t, name, false) || r.n_eq >= 6 ||
				    reqcols_has(r.eq, r.n_eq, name))
					break;
				rc.sel = col_selectivity(t, name, false, 1);
				rc.rank = RANK_JOIN;
				r.eq[r.n_eq++] = rc;
				break;
			}
			case SU_RANGE:
				if (col_usable(t, name, is_expr) && n_ranges < ADV_MAX_KEY) {
					rc.sel = col_selectivity(t, name, is_expr, 1);
					ranges[n_ranges++] = rc;
				}
				break;
			case SU_SEARCH: {
				/* tsvector @@ query: GIN on the column, or on the expression
				 * when it is immutable (to_tsvector names its configuration) */
				if (is_expr && strncmp(name, "to_tsvector(", 12) == 0 &&
				    !strchr(name, ',')) {
					add_skip(adv,
						 "%s.%s: %s cannot be indexed: to_tsvector needs "
						 "its "
						 "configuration as first argument",
						 t->schema, t->name, name);
					break;
				}
				Req *g = new_req(adv, si, t, "gin");
				if (g) {
					g->eq[0] =
						(ReqCol){.expr = (char *)name, .is_expr = is_expr};
					g->n_eq = 1;
					searched = true;
				}
				break;
			}
			case SU_LIKE: {
				if (c->flags2 & SCF2_INFIX) {
					/* '%' || $1 || '%': a pattern with a leading wildcard */
					Req *g = new_req(adv, si, t, "gin");
					if (g) {
						g->eq[0] = (ReqCol){.expr = (char *)name,
								    .is_expr = is_expr,
								    .opclass = "gin_trgm_ops"};
						g->n_eq = 1;
						searched = true;
					}
					break;
				}
				char *pat = like_pattern(st, c);
				bool ilike = (c->flags & SCF_ILIKE) != 0;
				if (!pat && ilike && c->const_kind == SCK_PARAM) {
					/* ILIKE $1 with no sampled value: a case-blind search no
					 * btree serves; a pg_trgm GIN index serves any pattern */
					Req *g = new_req(adv, si, t, "gin");
					if (g) {
						g->eq[0] = (ReqCol){.expr = (char *)name,
								    .is_expr = is_expr,
								    .opclass = "gin_trgm_ops"};
						g->n_eq = 1;
						searched = true;
					}
					break;
				}
				if (!pat) {
					add_skip(adv,
						 "%s.%s: %s on %s with an unknown pattern (no "
						 "sampled value)",
						 t->schema, t->name, ilike ? "ILIKE" : "LIKE",
						 name);
					break;
				}
				size_t wc = strcspn(pat, "%_");
				bool has_wild = pat[wc] != '\0';
				if (!has_wild) {
					add_skip(adv,
						 "%s.%s: %s '%s' on %s has no wildcard: write = "
						 "(or lower() =) to use an index",
						 t->schema, t->name, ilike ? "ILIKE" : "LIKE", pat,
						 name);
				} else if (!ilike && wc > 0) {
					const AdvColumn *ac = table_column(t, name);
					if (col_usable(t, name, is_expr) &&
					    n_ranges < ADV_MAX_KEY) {
						rc.opclass = ac && ac->c_collation ?
								     NULL :
								     "text_pattern_ops";
						rc.sel = 1; /* a real range column goes first */
						ranges[n_ranges++] = rc;
					}
				} else {
					Req *g = new_req(adv, si, t, "gin");
					if (g) {
						g->eq[0] = (ReqCol){.expr = (char *)name,
								    .is_expr = is_expr,
								    .opclass = "gin_trgm_ops"};
						g->n_eq = 1;
						searched = true;
					}
				}
				free(pat);
				break;
			}
			case SU_ORDER:
				if (n_order < ADV_MAX_KEY && col_usable(t, name, is_expr)) {
					rc.desc = (c->flags & SCF_DESC) != 0;
					rc.nulls_first = rc.desc;
					if (c->flags & SCF_NULLS_FIRST)
						rc.nulls_first = true;
					if (c->flags & SCF_NULLS_LAST)
						rc.nulls_first = false;
					order[n_order++] = rc;
				} else {
					order_ok = false;
				}
				if (c->flags & SCF_LIMIT)
					limit = true;
				break;
			case SU_SELECT:
				if (strcmp(name, "*") == 0 || is_expr)
					sel_star = true;
				else if (n_sel < 8)
					sel_cols[n_sel++] = name;
				else
					sel_star = true;
				break;
			default:
				break;
			}
		}
		/*
		 * Constant filters of the column's only kind become the predicate when something
		 * else gives the index its keys; else the equality ones are keys as before.
		 */
		if (n_cands) {
			bool keyed = r.n_eq > 0 || n_ranges > 0 || (n_order && order_ok && limit);
			for (size_t i = 0; keyed && i < n_cands; i++) {
				bool dup = false;
				for (size_t k = 0; k < i; k++)
					dup |= strcmp(cands[k], cands[i]) == 0;
				if (!dup)
					where = where_and(where, xstrdup(cands[i]));
			}
			for (size_t i = 0; !keyed && i < n_cand_eq && r.n_eq < 6; i++)
				if (!reqcols_has(r.eq, r.n_eq, cand_eq[i].expr))
					r.eq[r.n_eq++] = cand_eq[i];
		}
		drop_weak_literals(&r, weak_col, n_weak);
		/*
		 * A work queue: status IN ('queued', 'pending') ORDER BY priority DESC, queued_at
		 * LIMIT n reads its first rows in order from (priority DESC, queued_at) WHERE status
		 * IN (...): the literal IN-list becomes the predicate rather than a key that would
		 * give the rows out of order.
		 */
		bool sortable = n_order && order_ok && limit;
		for (size_t i = 0; i < n_queue; i++) {
			if (sortable) {
				size_t k = 0;
				while (k < r.n_eq && !expr_eq(r.eq[k].expr, queue_col[i]))
					k++;
				if (k < r.n_eq) {
					memmove(&r.eq[k], &r.eq[k + 1],
						(r.n_eq - k - 1) * sizeof(r.eq[0]));
					r.n_eq--;
					where = where_and(where, queue_form[i]);
					continue;
				}
			}
			free(queue_form[i]);
		}
		/* the tail: one range column (the most distinct values), else the ORDER BY; under
		 * LIMIT a usable ORDER BY wins (the first rows in order, the range checked in the
		 * index) */
		bool use_sort = sortable && !has_multi(&r);
		if (n_ranges && !use_sort) {
			size_t best = 0;
			for (size_t i = 1; i < n_ranges; i++)
				if (ranges[i].sel < ranges[best].sel)
					best = i;
			if (!reqcols_has(r.eq, r.n_eq, ranges[best].expr)) {
				r.tail[0] = ranges[best];
				r.tail[0].sel = 0;
				r.n_tail = 1;
			}
		} else if (n_order && order_ok && (limit || r.n_eq > 0) && !has_multi(&r)) {
			for (size_t i = 0; i < n_order && r.n_eq + r.n_tail < ADV_MAX_KEY; i++)
				if (!reqcols_has(r.eq, r.n_eq, order[i].expr) &&
				    !reqcols_has(r.tail, r.n_tail, order[i].expr))
					r.tail[r.n_tail++] = order[i];
			r.tail_is_order = true;
			/* a btree reads both ways: a sort-only index on columns all DESC
			 * starts ascending; mixed directions stay as written */
			bool all_desc = r.n_tail > 0;
			for (size_t i = 0; i < r.n_tail; i++)
				all_desc &= r.tail[i].desc;
			if (r.n_eq == 0 && all_desc)
				for (size_t i = 0; i < r.n_tail; i++) {
					r.tail[i].desc = !r.tail[i].desc;
					r.tail[i].nulls_first = !r.tail[i].nulls_first;
				}
		}
		/* a search (GIN) finds the rows; an index on the sort alone would scan the table
		 * in order, filtering each row, for every search term */
		if (searched && r.n_eq == 0 && r.tail_is_order)
			r.n_tail = 0;
		if (r.n_eq == 0 && r.n_tail == 0) {
			if (!where)
				continue;
			/* a partial index still needs a key: the filtered column itself */
			const char *first = NULL;
			for (size_t k = 0; k < s->n_cols && !first; k++)
				if (col_table(s, &cols[k], map) == ti &&
				    (cols[k].use == SU_EQ || cols[k].use == SU_IS_NULL ||
				     cols[k].use == SU_IS_NOT_NULL) &&
				    !(cols[k].flags & (SCF_OR | SCF_EXPR)))
					first = shape_str(s, cols[k].name);
			if (!first) {
				free(where);
				continue;
			}
			r.eq[0] = (ReqCol){.expr = (char *)first};
			r.n_eq = 1;
			r.keyless = true;
		}
		qsort(r.eq, r.n_eq, sizeof(ReqCol), reqcol_cmp);
		if (st->kind == SK_SELECT && st->calls >= adv->opts.include_min_calls &&
		    !sel_star && n_sel > 0 && n_sel <= 3) {
			for (size_t i = 0; i < n_sel; i++)
				if (!reqcols_has(r.eq, r.n_eq, sel_cols[i]) &&
				    !reqcols_has(r.tail, r.n_tail, sel_cols[i]) && r.n_include < 4)
					r.include[r.n_include++] = sel_cols[i];
		}
		Req *nr = new_req(adv, si, t, "btree");
		if (!nr) {
			free(where);
			continue;
		}
		r.stmt = si;
		r.t = t;
		r.method = "btree";
		r.where = where;
		*nr = r;
	}
}

/* Pre-pass: which null tests appear on which table, and how many filtered calls each table has. */
static void count_null_tests(Advisor *adv, const bool *take)
{
	adv->filtered_calls = calloc(adv->n_tables + 1, sizeof(uint64_t));
	if (!adv->filtered_calls)
		return;
	for (size_t si = 0; si < adv->n_stmts; si++) {
		if (!take[si])
			continue;
		const AdvStatement *st = &adv->stmts[si];
		const QueryShape *s = st->shape;
		const ShapeTable *tabs = shape_tables(s);
		const ShapeCol *cols = shape_cols(s);
		AdvTable *map[64];
		size_t nt = s->n_tables < 64 ? s->n_tables : 64;
		for (size_t i = 0; i < nt; i++) {
			RelMap *rm = resolve_rel(adv, shape_str(s, tabs[i].schema),
						 shape_str(s, tabs[i].name));
			map[i] = rm && rm->kind == ADV_REL_TABLE ? rm->table : NULL;
		}
		for (size_t ti = 0; ti < nt; ti++) {
			if (!map[ti])
				continue;
			bool filtered = false;
			for (size_t k = 0; k < s->n_cols; k++) {
				const ShapeCol *c = &cols[k];
				if (col_table(s, c, map) != ti || (c->flags & SCF_OR))
					continue;
				if (c->use == SU_EQ || c->use == SU_RANGE || c->use == SU_IS_NULL ||
				    c->use == SU_IS_NOT_NULL || c->use == SU_LIKE ||
				    c->use == SU_JOIN)
					filtered = true;
				form_note(adv, st, map[ti], c, shape_str(s, c->name));
				if (c->use != SU_IS_NULL && c->use != SU_IS_NOT_NULL)
					continue;
				const char *nm = shape_str(s, c->name);
				NullUse *u = NULL;
				for (size_t i = 0; i < adv->n_nulls; i++)
					if (adv->nulls[i].t == map[ti] &&
					    adv->nulls[i].is_null == (c->use == SU_IS_NULL) &&
					    strcmp(adv->nulls[i].col, nm) == 0)
						u = &adv->nulls[i];
				if (!u) {
					NullUse *arr = grow(adv->nulls, adv->n_nulls, sizeof(*arr));
					if (!arr)
						continue;
					adv->nulls = arr;
					u = &adv->nulls[adv->n_nulls++];
					*u = (NullUse){.t = map[ti],
						       .col = nm,
						       .is_null = c->use == SU_IS_NULL};
				}
				u->calls += st->calls;
				u->fps++;
			}
			for (size_t i = 0; filtered && i < adv->n_tables; i++)
				if (adv->tables[i] == map[ti])
					adv->filtered_calls[i] += st->calls;
		}
	}
}

int advisor_plan(Advisor *adv)
{
	bool *take = calloc(adv->n_stmts + 1, sizeof(bool));
	if (!take)
		return -ENOMEM;
	double total = 0;
	bool times = adv->n_stmts > 0;
	for (size_t i = 0; i < adv->n_stmts; i++) {
		if (adv->stmts[i].total_ms < 0)
			times = false;
		else
			total += adv->stmts[i].total_ms;
	}
	for (size_t i = 0; i < adv->n_stmts; i++) {
		AdvStatement *st = &adv->stmts[i];
		take[i] = true;
		if (st->calls < adv->opts.min_calls) {
			add_skip(adv, "fingerprint %016llx: %llu calls, under --min-calls %llu",
				 (unsigned long long)st->fingerprint, (unsigned long long)st->calls,
				 (unsigned long long)adv->opts.min_calls);
			take[i] = false;
		} else if (times && total > 0 &&
			   st->total_ms * 100.0 < adv->opts.negligible_pct * total) {
			add_skip(adv,
				 "fingerprint %016llx: %.3f ms of %.3f ms in the window, under "
				 "--negligible-pct %g%%",
				 (unsigned long long)st->fingerprint, st->total_ms, total,
				 adv->opts.negligible_pct);
			take[i] = false;
		}
		/* resolve every relation now, so that the table list is complete */
		const QueryShape *s = st->shape;
		const ShapeTable *tabs = shape_tables(s);
		for (size_t k = 0; k < s->n_tables; k++)
			resolve_rel(adv, shape_str(s, tabs[k].schema), shape_str(s, tabs[k].name));
	}
	count_null_tests(adv, take);
	for (size_t i = 0; i < adv->n_stmts; i++)
		if (take[i])
			stmt_requirements(adv, i);
	free(take);
	/* drop what an existing valid index serves */
	for (size_t i = 0; i < adv->n_reqs; i++) {
		Req *r = &adv->reqs[i];
		for (size_t k = 0; k < r->t->n_indexes && !r->dropped; k++) {
			const AdvIndex *ix = &r->t->indexes[k];
			if (!ix->valid)
				continue;
			if (req_served(r, ix->keys, ix->n_keys, ix->method, ix->predicate) ||
			    unique_covers(r, ix) || prefix_finds_few(r, ix)) {
				r->dropped = true;
				add_skip(adv,
					 "%s.%s: fingerprint %016llx already served by index %s",
					 r->t->schema, r->t->name,
					 (unsigned long long)adv->stmts[r->stmt].fingerprint,
					 ix->name);
			}
		}
	}
	merge_requirements(adv);
	for (size_t i = 0; i < adv->n_sugg; i++)
		finish_suggestion(adv, &adv->sugg[i]);
	if (adv->n_sugg > 1)
		qsort(adv->sugg, adv->n_sugg, sizeof(AdvSuggestion), sugg_cmp);
	return 0;
}

/* Report order: most time served first, then most calls, then by table and name. */
static int sugg_cmp(const void *a, const void *b)
{
	const AdvSuggestion *x = a, *y = b;
	double tx = x->total_ms > 0 ? x->total_ms : 0, ty = y->total_ms > 0 ? y->total_ms : 0;
	if (tx != ty)
		return tx > ty ? -1 : 1;
	if (x->calls != y->calls)
		return x->calls > y->calls ? -1 : 1;
	int c = strcmp(x->table->schema, y->table->schema);
	if (!c)
		c = strcmp(x->table->name, y->table->name);
	return c ? c : strcmp(x->name, y->name);
}

static bool key_matches(const AdvKey *k, const ReqCol *c)
{
	if (k->is_expr != c->is_expr || !expr_eq(k->expr, c->expr))
		return false;
	const char *ko = k->opclass ? k->opclass : "";
	const char *co = c->opclass ? c->opclass : "";
	return strcmp(ko, co) == 0;
}

static bool pred_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return expr_eq(a, b);
}

/*
 * A valid unique index (primary key included) whose columns are all among the requirement's
 * equality columns finds at most one row per value: nothing more is needed, whatever else the
 * statement filters or sorts (the primary key's columns plus one more is not a new index).
 * Join columns count when the index has a constant-equality column too: the requirement has
 * them because the table is the inner side of a nested loop, whose probe (outer row's value,
 * the constant) the index answers with one row, as `issues (project_id, number)` does for
 * `projects p JOIN issues i ON i.project_id = p.id WHERE p.key = $1 AND i.number = $2`. A
 * unique index on join columns alone gives the statement no lookup of its own.
 */
static bool unique_covers(const Req *r, const AdvIndex *ix)
{
	if (!ix->unique || !ix->valid || ix->predicate || ix->n_keys == 0 ||
	    strcmp(ix->method, "btree") != 0 || strcmp(r->method, "btree") != 0)
		return false;
	bool constant = false;
	for (size_t k = 0; k < ix->n_keys; k++) {
		const ReqCol *hit = NULL;
		for (size_t e = 0; e < r->n_eq && !hit; e++)
			if (key_matches(&ix->keys[k], &r->eq[e]))
				hit = &r->eq[e];
		if (!hit)
			return false;
		constant |= hit->rank != RANK_JOIN;
	}
	return constant;
}

/*
 * An existing btree index whose leading columns are all equality columns of the requirement
 * (in any order) and find at most FEW_ROWS rows by the catalog's estimate: the statement's
 * other filters and its sort are done on those rows, and a new index would save little, as
 * `feeds (user_id, title)` would beside UNIQUE (user_id, feed_url) with two feeds per user.
 */
static bool prefix_finds_few(const Req *r, const AdvIndex *ix)
{
	if (strcmp(ix->method, "btree") != 0 || strcmp(r->method, "btree") != 0 || !r->t->known ||
	    r->t->rows <= 0 || r->keyless || ix->n_keys == 0)
		return false;
	if (ix->predicate ? !pred_eq(ix->predicate, r->where) : false)
		return false;
	double rows = r->t->rows;
	size_t k = 0;
	for (; k < ix->n_keys; k++) {
		const ReqCol *hit = NULL;
		for (size_t e = 0; e < r->n_eq && !hit; e++)
			if (r->eq[e].rank != RANK_MULTI && key_matches(&ix->keys[k], &r->eq[e]))
				hit = &r->eq[e];
		if (!hit)
			break;
		rows *= hit->sel;
	}
	return k > 0 && rows <= FEW_ROWS;
}

/* True when an index with these keys, method and predicate serves the requirement. */
static bool req_served(const Req *r, const AdvKey *keys, size_t n_keys, const char *method,
		       const char *pred)
{
	if (strcmp(method, r->method) != 0)
		return false;
	if (pred && !pred_eq(pred, r->where))
		return false;
	if (!pred && r->where)
		return false;
	if (r->keyless)
		return n_keys > 0;
	if (n_keys < r->n_eq + r->n_tail || r->n_eq + r->n_tail == 0)
		return false;
	/* the equality columns in any order, except that a join column never comes before a
	 * constant-equality one: the table is also read through those alone */
	bool joined = false;
	for (size_t k = 0; k < r->n_eq; k++) {
		size_t e = 0;
		while (e < r->n_eq && !key_matches(&keys[k], &r->eq[e]))
			e++;
		if (e == r->n_eq || (joined && r->eq[e].rank == RANK_EQ))
			return false;
		joined |= r->eq[e].rank == RANK_JOIN;
	}
	int rel = -1; /* all directions as written (0) or all reversed (1) */
	for (size_t j = 0; j < r->n_tail; j++) {
		const AdvKey *k = &keys[r->n_eq + j];
		if (!key_matches(k, &r->tail[j]))
			return false;
		if (!r->tail_is_order)
			continue;
		int flip = k->desc != r->tail[j].desc;
		if (k->nulls_first != r->tail[j].nulls_first ? !flip : flip)
			return false;
		if (rel >= 0 && rel != flip)
			return false;
		rel = flip;
	}
	return true;
}

static bool same_group(const Req *a, const Req *b)
{
	return a->t == b->t && strcmp(a->method, b->method) == 0 && pred_eq(a->where, b->where);
}

static void key_from(AdvKey *k, const ReqCol *c)
{
	memset(k, 0, sizeof(*k));
	k->expr = xstrdup(c->expr);
	k->is_expr = c->is_expr;
	k->desc = c->desc;
	k->nulls_first = c->nulls_first;
	k->opclass = c->opclass ? xstrdup(c->opclass) : NULL;
}

static uint64_t req_calls(const Advisor *adv, const Req *r)
{
	return adv->stmts[r->stmt].calls;
}

/* Appends a key column as SQL: `name`, `(expr)`, with DESC. */
static void path_key(char *buf, size_t cap, const ReqCol *c, bool with_dir)
{
	size_t o = strlen(buf);
	char q[256];
	if (c->is_expr)
		snprintf(q, sizeof(q), "%s", c->expr);
	else
		advisor_quote_ident(c->expr, q, sizeof(q));
	snprintf(buf + o, cap > o ? cap - o : 0, "%s%s", q, with_dir && c->desc ? " DESC" : "");
}

/*
 * The access path an index gives one requirement, in words: "equality (user_id, status), then
 * sort (published_at DESC)", "range (created_at)", "trigram search (title)", with ", partial
 * predicate (deleted_at IS NULL)". Malloc'ed.
 */
static char *access_path(const Req *r)
{
	char buf[1024] = "";
	bool gin = strcmp(r->method, "gin") == 0;
	if (r->n_eq) {
		bool trgm =
			gin && r->eq[0].opclass && strcmp(r->eq[0].opclass, "gin_trgm_ops") == 0;
		strcat(buf, !gin ? "equality (" : trgm ? "trigram search (" : "full-text search (");
		for (size_t i = 0; i < r->n_eq; i++) {
			if (i)
				strncat(buf, ", ", sizeof(buf) - strlen(buf) - 1);
			path_key(buf, sizeof(buf), &r->eq[i], false);
		}
		strncat(buf, ")", sizeof(buf) - strlen(buf) - 1);
	}
	if (r->n_tail) {
		strncat(buf, r->n_eq ? ", then " : "", sizeof(buf) - strlen(buf) - 1);
		strncat(buf, r->tail_is_order ? "sort (" : "range (",
			sizeof(buf) - strlen(buf) - 1);
		for (size_t i = 0; i < r->n_tail; i++) {
			if (i)
				strncat(buf, ", ", sizeof(buf) - strlen(buf) - 1);
			path_key(buf, sizeof(buf), &r->tail[i], r->tail_is_order);
		}
		strncat(buf, ")", sizeof(buf) - strlen(buf) - 1);
	}
	if (r->where) {
		size_t o = strlen(buf);
		snprintf(buf + o, sizeof(buf) - o, "%spartial predicate (%s)", o ? ", " : "",
			 r->where);
	}
	return xstrdup(buf);
}

/* Borrows the columns of a key list as AdvKeys (no copies: never free them). */
static void keys_view(const ReqCol *k, size_t n, AdvKey *out)
{
	for (size_t i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].expr = k[i].expr;
		out[i].is_expr = k[i].is_expr;
		out[i].desc = k[i].desc;
		out[i].nulls_first = k[i].nulls_first;
		out[i].opclass = (char *)k[i].opclass;
	}
}

/* Whether every requirement of members (indexes into adv->reqs) is served by keys k. */
static bool all_served(const Advisor *adv, const size_t *members, size_t nm, const ReqCol *k,
		       size_t nk, const Req *l)
{
	AdvKey view[ADV_MAX_KEY];
	keys_view(k, nk, view);
	for (size_t i = 0; i < nm; i++)
		if (!req_served(&adv->reqs[members[i]], view, nk, l->method, l->where))
			return false;
	return true;
}

/*
 * Keys that serve r and the index's members, found by reordering or extending k (n_eq of them
 * equality columns, then the tail): r's equality columns moved to the front, or, when k has no
 * tail yet, r's further equality columns and tail appended. False when neither keeps every
 * member's access path.
 */
static bool try_absorb(const Advisor *adv, const size_t *members, size_t nm, ReqCol *k, size_t *nk,
		       size_t *n_eq, const Req *r, const Req *l)
{
	ReqCol cand[ADV_MAX_KEY];
	size_t nc = 0;
	if (all_served(adv, members, nm, k, *nk, l))
		return true;
	bool subset = r->n_eq <= *n_eq;
	for (size_t i = 0; subset && i < r->n_eq; i++)
		subset = reqcols_has(k, *n_eq, r->eq[i].expr);
	if (subset && r->n_tail == 0) {
		for (size_t i = 0; i < *n_eq; i++)
			if (reqcols_has(r->eq, r->n_eq, k[i].expr))
				cand[nc++] = k[i];
		for (size_t i = 0; i < *n_eq; i++)
			if (!reqcols_has(r->eq, r->n_eq, k[i].expr))
				cand[nc++] = k[i];
		for (size_t i = *n_eq; i < *nk; i++)
			cand[nc++] = k[i];
		if (all_served(adv, members, nm, cand, nc, l)) {
			memcpy(k, cand, nc * sizeof(*k));
			return true;
		}
	}
	if (*nk == *n_eq && r->n_eq >= *n_eq && r->n_eq + r->n_tail <= ADV_MAX_KEY) {
		bool superset = true;
		for (size_t i = 0; superset && i < *n_eq; i++)
			superset = reqcols_has(r->eq, r->n_eq, k[i].expr);
		if (!superset)
			return false;
		nc = 0;
		for (size_t i = 0; i < *n_eq; i++)
			cand[nc++] = k[i];
		for (size_t i = 0; i < r->n_eq; i++)
			if (!reqcols_has(cand, nc, r->eq[i].expr))
				cand[nc++] = r->eq[i];
		size_t ne = nc;
		for (size_t i = 0; i < r->n_tail; i++)
			cand[nc++] = r->tail[i];
		if (all_served(adv, members, nm, cand, nc, l)) {
			memcpy(k, cand, nc * sizeof(*k));
			*nk = nc;
			*n_eq = ne;
			return true;
		}
	}
	return false;
}

/*
 * Hottest first: the unassigned requirement with the most calls fixes an index with its own
 * access path (equality columns, then its range or sort columns). Then the other requirements
 * of the same table, method and predicate join it, hottest first, as long as the index, its
 * equality columns reordered or (while it has no tail) extended, still serves every statement
 * it already serves, with its equality columns as a prefix and its own tail right after them.
 * What cannot join makes an index of its own.
 */
static void merge_requirements(Advisor *adv)
{
	size_t n = adv->n_reqs;
	size_t *members = calloc(n + 1, sizeof(size_t));
	size_t *order = calloc(n + 1, sizeof(size_t));
	if (!members || !order)
		goto out;
	/* requirements with a key of their own first (a keyless one joins any index with its
	 * predicate), hottest first; then wider; then as added */
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (size_t a = 1; a < n; a++)
		for (size_t b = a; b > 0; b--) {
			const Req *x = &adv->reqs[order[b]], *y = &adv->reqs[order[b - 1]];
			uint64_t cx = req_calls(adv, x), cy = req_calls(adv, y);
			size_t wx = x->n_eq + x->n_tail, wy = y->n_eq + y->n_tail;
			if (x->keyless != y->keyless) {
				if (x->keyless)
					break;
			} else if (cx < cy || (cx == cy && wx <= wy)) {
				break;
			}
			size_t tmp = order[b];
			order[b] = order[b - 1];
			order[b - 1] = tmp;
		}
	for (size_t o = 0; o < n; o++) {
		size_t L = order[o];
		Req *l = &adv->reqs[L];
		if (l->assigned || l->dropped)
			continue;
		ReqCol k[ADV_MAX_KEY];
		size_t nk = 0, n_eq = 0;
		for (size_t e = 0; e < l->n_eq && nk < ADV_MAX_KEY; e++)
			k[nk++] = l->eq[e];
		n_eq = nk;
		for (size_t j = 0; j < l->n_tail && nk < ADV_MAX_KEY; j++)
			k[nk++] = l->tail[j];
		size_t nm = 0;
		members[nm++] = L;
		l->assigned = true;
		/* equality-only requirements first: they can still reorder the keys, which a
		 * requirement with a tail (a range, a sort) then fixes */
		for (int pass = 0; pass < 2; pass++)
			for (bool more = true; more;) {
				more = false;
				for (size_t p = 0; p < n; p++) {
					Req *r = &adv->reqs[order[p]];
					if (r->assigned || r->dropped || !same_group(r, l) ||
					    (pass == 0 && r->n_tail > 0))
						continue;
					members[nm] = order[p];
					/* r must be served too: check it with the members */
					if (!try_absorb(adv, members, nm + 1, k, &nk, &n_eq, r, l))
						continue;
					r->assigned = true;
					nm++;
					more = true;
				}
			}
		AdvSuggestion *arr = grow(adv->sugg, adv->n_sugg, sizeof(*arr));
		if (!arr)
			break;
		adv->sugg = arr;
		AdvSuggestion *s = &adv->sugg[adv->n_sugg++];
		memset(s, 0, sizeof(*s));
		s->table = l->t;
		snprintf(s->method, sizeof(s->method), "%s", l->method);
		s->where = l->where ? xstrdup(l->where) : NULL;
		s->saving_pct = -1;
		s->cost_before = s->cost_after = -1;
		for (size_t i = 0; i < nk; i++)
			key_from(&s->keys[s->n_keys++], &k[i]);
		size_t *idx = calloc(nm + 1, sizeof(size_t));
		char **paths = calloc(nm + 1, sizeof(char *));
		size_t ni = 0;
		bool planner_only = true;
		s->required_saving_pct = -1;
		for (size_t m = 0; idx && paths && m < nm; m++) {
			Req *r = &adv->reqs[members[m]];
			planner_only &= adv->stmts[r->stmt].needs_planner;
			bool have = false;
			for (size_t q = 0; q < ni; q++)
				have |= idx[q] == r->stmt;
			if (!have) {
				paths[ni] = access_path(r);
				idx[ni++] = r->stmt;
			}
			for (size_t q = 0; q < r->n_include && s->n_include < 4; q++) {
				bool dup = false;
				for (size_t z = 0; z < s->n_include; z++)
					dup |= strcmp(s->include[z], r->include[q]) == 0;
				for (size_t z = 0; z < s->n_keys; z++)
					dup |= expr_eq(s->keys[z].expr, r->include[q]);
				if (!dup)
					s->include[s->n_include++] = xstrdup(r->include[q]);
			}
		}
		if (!idx || !paths) {
			free(idx);
			free(paths);
			idx = NULL;
			paths = NULL;
			ni = 0;
		}
		s->stmts = idx;
		s->paths = paths;
		s->n_stmts = ni;
		s->needs_planner = planner_only;
	}
out:
	free(members);
	free(order);
}

static void sanitize_append(char *buf, size_t cap, const char *s)
{
	size_t o = strlen(buf);
	bool last_us = o > 0 && buf[o - 1] == '_';
	for (; *s && o + 1 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c)) {
			buf[o++] = (char)tolower(c);
			last_us = false;
		} else if (!last_us) {
			buf[o++] = '_';
			last_us = true;
		}
	}
	while (o > 0 && buf[o - 1] == '_')
		o--;
	buf[o] = '\0';
}

static void finish_suggestion(Advisor *adv, AdvSuggestion *s)
{
	char name[200] = "idx_";
	sanitize_append(name, sizeof(name), s->table->name);
	for (size_t k = 0; k < s->n_keys; k++) {
		strncat(name, "_", sizeof(name) - strlen(name) - 1);
		sanitize_append(name, sizeof(name), s->keys[k].expr);
	}
	bool trgm = strcmp(s->method, "gin") == 0 && s->n_keys && s->keys[0].opclass &&
		    strcmp(s->keys[0].opclass, "gin_trgm_ops") == 0;
	if (trgm)
		strncat(name, "_trgm", sizeof(name) - strlen(name) - 1);
	else if (strcmp(s->method, "gin") == 0)
		strncat(name, "_gin", sizeof(name) - strlen(name) - 1);
	if (s->where)
		strncat(name, "_partial", sizeof(name) - strlen(name) - 1);
	name[63] = '\0';
	/* unique among the suggestions */
	/* copies rather than snprintf: a Debug build's -Wformat-truncation cannot see that name
	 * holds at most 63 characters here */
	char base[64];
	memcpy(base, name, sizeof(base));
	for (int n = 2;; n++) {
		bool clash = false;
		for (size_t i = 0; i < adv->n_sugg; i++)
			if (&adv->sugg[i] != s && strcmp(adv->sugg[i].name, name) == 0)
				clash = true;
		if (!clash)
			break;
		char suffix[16];
		snprintf(suffix, sizeof(suffix), "_%d", n % 1000);
		size_t sl = strlen(suffix), bl = strlen(base);
		if (bl > 63 - sl)
			bl = 63 - sl;
		memcpy(name, base, bl);
		memcpy(name + bl, suffix, sl + 1);
	}
	memcpy(s->name, name, sizeof(s->name));
	s->calls = 0;
	s->total_ms = 0;
	s->p95_ms = 0;
	for (size_t i = 0; i < s->n_stmts; i++) {
		const AdvStatement *st = &adv->stmts[s->stmts[i]];
		s->calls += st->calls;
		if (st->total_ms < 0 || s->total_ms < 0)
			s->total_ms = -1;
		else
			s->total_ms += st->total_ms;
		if (st->p95_ms < 0)
			s->p95_ms = -1;
		else if (s->p95_ms >= 0 && st->p95_ms > s->p95_ms)
			s->p95_ms = st->p95_ms;
	}
	for (size_t k = 0; k < s->n_keys; k++) {
		for (size_t u = 0; u < s->table->n_updated; u++) {
			if (!s->keys[k].is_expr &&
			    strcmp(s->keys[k].expr, s->table->updated[u]) != 0)
				continue;
			if (s->keys[k].is_expr && !strstr(s->keys[k].expr, s->table->updated[u]))
				continue;
			char **arr = grow(s->updated_keys, s->n_updated_keys, sizeof(char *));
			if (!arr)
				break;
			s->updated_keys = arr;
			s->updated_keys[s->n_updated_keys++] = xstrdup(s->table->updated[u]);
		}
	}
	if (s->n_updated_keys)
		advisor_suggestion_note(
			s, "UPDATE statements change %s: updates of it can no longer be HOT",
			s->updated_keys[0]);
	if (strcmp(s->method, "gin") == 0 && !trgm)
		advisor_suggestion_note(s, "serves full-text search (@@)");
	if (trgm)
		advisor_suggestion_note(
			s, "%s",
			adv->opts.trgm_installed ?
				"serves LIKE/ILIKE with a leading wildcard through pg_trgm" :
				"needs the pg_trgm extension: CREATE EXTENSION pg_trgm first");
	if (s->table->relkind == 'p')
		advisor_suggestion_note(s,
					"partitioned table: CREATE INDEX CONCURRENTLY is not "
					"allowed here; to avoid the lock, create it ON ONLY the "
					"parent, then CONCURRENTLY on each partition and ATTACH");
	for (size_t k = 0; k < s->n_keys; k++)
		if (s->keys[k].opclass && strcmp(s->keys[k].opclass, "text_pattern_ops") == 0) {
			advisor_suggestion_note(s,
						"text_pattern_ops because the column's collation "
						"is not C: serves LIKE 'prefix%%', not ORDER BY");
			break;
		}
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

/* ------------------------------------------------------------------------------------------
 * Helpers */

/* Compares expressions ignoring case, spaces, quotes and one level of outer parentheses. */
static bool expr_eq(const char *a, const char *b)
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

static void *grow(void *arr, size_t n, size_t size)
{
	/* capacity doubles at powers of two */
	if (n && (n & (n - 1)))
		return arr;
	size_t cap = n ? n * 2 : 4;
	return realloc(arr, cap * size);
}

static char *xstrdup(const char *s)
{
	return strdup(s ? s : "");
}

static char *xstrndup(const char *s, size_t n)
{
	return strndup(s ? s : "", n);
}

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *out = NULL;
	if (vasprintf(&out, fmt, ap) < 0)
		out = NULL;
	va_end(ap);
	return out;
}

static void add_skip(Advisor *adv, const char *fmt, ...)
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
	char **arr = grow(adv->skips, adv->n_skips, sizeof(char *));
	if (!arr) {
		free(msg);
		return;
	}
	adv->skips = arr;
	adv->skips[adv->n_skips++] = msg;
}
