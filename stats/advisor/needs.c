/*
 * needs.c: what one statement needs from each of its tables: the requirements (equality
 * columns, a range or sort tail, a partial predicate, the method) its shape gives.
 */
#include "stats/advisor/internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const AdvColumn *table_column(const AdvTable *t, const char *name);
static bool col_is_unique(const AdvTable *t, const char *name);
static double col_selectivity(const AdvTable *t, const char *name, bool is_expr, double nvalues);
static char *const_value(const char *s, size_t n);
static size_t split_list(const char *s, size_t n, const char **start, size_t *lens, size_t max);
static char *like_pattern(const AdvStatement *st, const ShapeCol *c);
static size_t col_table(const QueryShape *s, const ShapeCol *c, AdvTable *const *map);
static int reqcol_cmp(const void *a, const void *b);
static Req *new_req(Advisor *adv, size_t si, AdvTable *t, const char *method);
static bool col_usable(const AdvTable *t, const char *name, bool is_expr);
static bool null_present(const Advisor *adv, const AdvTable *t, const char *col, bool is_null);
static double literal_freq(const AdvStatement *st, const AdvColumn *ac, const ShapeCol *c,
			   size_t *n_values);
static char *partial_predicate(const Advisor *adv, const AdvStatement *st, const AdvTable *t,
			       const ShapeCol *c, const char *name);
static char *where_and(char *where, char *pred);
static double col_ndistinct(const AdvTable *t, const char *name);
static bool app_literal(const char *s, size_t n, bool few_values);
static char *const_form(const AdvStatement *st, const AdvTable *t, const ShapeCol *c,
			const char *name);
static ConstForm *form_find(Advisor *adv, const AdvTable *t, const char *col, bool create);
static void form_note(Advisor *adv, const AdvStatement *st, const AdvTable *t, const ShapeCol *c,
		      const char *name);
static const char *form_candidate(Advisor *adv, const AdvTable *t, const ShapeCol *c,
				  const char *name);
static bool has_multi(const Req *r);
static void drop_weak_literals(Req *r, const char *const *weak, size_t n_weak);

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
	if (n >= 2 && s[0] == '\'' && s[n - 1] == '\'')
		return advisor_unquote(s, n, '\'');
	return adv_strndup(s, n);
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
			return adv_strdup(st->params[n - 1]);
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

bool adv_reqcols_has(const ReqCol *cols, size_t n, const char *expr)
{
	for (size_t i = 0; i < n; i++)
		if (adv_expr_eq(cols[i].expr, expr))
			return true;
	return false;
}

static Req *new_req(Advisor *adv, size_t si, AdvTable *t, const char *method)
{
	Req *arr = adv_grow(adv->reqs, adv->n_reqs, sizeof(*arr));
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
			return adv_asprintf("%s IS %sNULL", q, is_null ? "" : "NOT ");
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
		return adv_asprintf("%s = %.*s", q, (int)c->const_len, span);
	return adv_asprintf("%s IN (%.*s)", q, (int)c->const_len, span);
}

/* A partial index's WHERE with one more predicate ANDed on; takes both strings. */
static char *where_and(char *where, char *pred)
{
	if (!where)
		return pred;
	char *w = adv_asprintf("%s AND %s", where, pred);
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
		return adv_asprintf("%s IS %sNULL", q, c->use == SU_IS_NULL ? "" : "NOT ");
	if (c->use != SU_EQ)
		return NULL;
	if (c->flags2 & SCF2_BARE)
		return adv_strdup(q);
	if (c->flags2 & SCF2_NOT)
		return adv_asprintf("NOT %s", q);
	if (c->flags2 & (SCF2_ISTRUE | SCF2_ISFALSE))
		return adv_asprintf("%s IS %s", q, (c->flags2 & SCF2_ISTRUE) ? "TRUE" : "FALSE");
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
		return adv_asprintf("%s IN (%.*s)", q, (int)c->const_len, span);
	return adv_asprintf("%s = %.*s", q, (int)c->const_len, span);
}

static ConstForm *form_find(Advisor *adv, const AdvTable *t, const char *col, bool create)
{
	for (size_t i = 0; i < adv->n_forms; i++)
		if (adv->forms[i].t == t && strcmp(adv->forms[i].col, col) == 0)
			return &adv->forms[i];
	if (!create)
		return NULL;
	ConstForm *arr = adv_grow(adv->forms, adv->n_forms, sizeof(*arr));
	if (!arr)
		return NULL;
	adv->forms = arr;
	ConstForm *f = &adv->forms[adv->n_forms++];
	memset(f, 0, sizeof(*f));
	f->t = (AdvTable *)t;
	f->col = adv_strdup(col);
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
				is_weak |= adv_expr_eq(r->eq[k].expr, weak[v]);
			other = !is_weak && r->eq[k].rank != RANK_MULTI;
		}
		if (!other)
			return;
		for (size_t k = 0; k < r->n_eq; k++)
			if (adv_expr_eq(r->eq[k].expr, weak[w])) {
				memmove(&r->eq[k], &r->eq[k + 1],
					(r->n_eq - k - 1) * sizeof(r->eq[0]));
				r->n_eq--;
				break;
			}
	}
}

/* A GIN requirement of statement si on t's column or expression name (opclass NULL: the
 * type's default class); false when out of memory. */
static bool add_gin(Advisor *adv, size_t si, AdvTable *t, const char *name, bool is_expr,
		    const char *opclass)
{
	Req *g = new_req(adv, si, t, "gin");
	if (!g)
		return false;
	g->eq[0] = (ReqCol){.expr = (char *)name, .is_expr = is_expr, .opclass = opclass};
	g->n_eq = 1;
	return true;
}

/*
 * Builds the requirements one statement puts on each of its tables. One function: a pass over
 * the statement's columns per table gathers tallies (equality columns, ranges, sort, constant
 * filters, queue forms, common literals, the select list) that the decisions after it read
 * together (predicate or key, the queue's sort, the tail, INCLUDE); each rule is a helper of its
 * own above (partial_predicate, const_form, drop_weak_literals...).
 */
void adv_stmt_requirements(Advisor *adv, size_t si)
{
	AdvStatement *st = &adv->stmts[si];
	const QueryShape *s = st->shape;
	const ShapeTable *tabs = shape_tables(s);
	const ShapeCol *cols = shape_cols(s);
	AdvTable *map[64];
	int level[64];
	size_t nt = s->n_tables < 64 ? s->n_tables : 64;
	for (size_t i = 0; i < nt; i++) {
		RelMap *rm = adv_resolve_rel(adv, shape_str(s, tabs[i].schema),
					     shape_str(s, tabs[i].name));
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
			char **arr =
				have ? NULL : adv_grow(t->updated, t->n_updated, sizeof(char *));
			if (arr) {
				t->updated = arr;
				t->updated[t->n_updated++] = adv_strdup(nm);
			}
		}
		if (t->known && t->rows >= 0 && t->rows < (double)adv->opts.min_table_rows) {
			adv_skip(adv, "%s.%s: %.0f rows, under advisor_min_table_rows (%lld)",
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
				    adv_reqcols_has(r.eq, r.n_eq, name))
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
				    adv_reqcols_has(r.eq, r.n_eq, name))
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
					adv_skip(adv,
						 "%s.%s: %s cannot be indexed: to_tsvector needs "
						 "its "
						 "configuration as first argument",
						 t->schema, t->name, name);
					break;
				}
				/* jsonb / array operators on a type without a GIN class (a
				 * range's @>, a geometry's &&) want GiST, not suggested here */
				const AdvColumn *gc = is_expr ? NULL : table_column(t, name);
				if (gc && !gc->gin_ok) {
					adv_skip(
						adv,
						"%s.%s: %s is searched with an operator no default "
						"GIN operator class serves for its type (GiST may)",
						t->schema, t->name, name);
					break;
				}
				searched |= add_gin(adv, si, t, name, is_expr, NULL);
				break;
			}
			case SU_LIKE: {
				if (c->flags2 & SCF2_INFIX) {
					/* '%' || $1 || '%': a pattern with a leading wildcard */
					searched |=
						add_gin(adv, si, t, name, is_expr, "gin_trgm_ops");
					break;
				}
				char *pat = like_pattern(st, c);
				bool ilike = (c->flags & SCF_ILIKE) != 0;
				if (!pat && ilike && c->const_kind == SCK_PARAM) {
					/* ILIKE $1 with no sampled value: a case-blind search no
					 * btree serves; a pg_trgm GIN index serves any pattern */
					searched |=
						add_gin(adv, si, t, name, is_expr, "gin_trgm_ops");
					break;
				}
				if (!pat) {
					adv_skip(adv,
						 "%s.%s: %s on %s with an unknown pattern (no "
						 "sampled value)",
						 t->schema, t->name, ilike ? "ILIKE" : "LIKE",
						 name);
					break;
				}
				size_t wc = strcspn(pat, "%_");
				bool has_wild = pat[wc] != '\0';
				if (!has_wild) {
					adv_skip(adv,
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
					searched |=
						add_gin(adv, si, t, name, is_expr, "gin_trgm_ops");
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
					where = where_and(where, adv_strdup(cands[i]));
			}
			for (size_t i = 0; !keyed && i < n_cand_eq && r.n_eq < 6; i++)
				if (!adv_reqcols_has(r.eq, r.n_eq, cand_eq[i].expr))
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
				while (k < r.n_eq && !adv_expr_eq(r.eq[k].expr, queue_col[i]))
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
			if (!adv_reqcols_has(r.eq, r.n_eq, ranges[best].expr)) {
				r.tail[0] = ranges[best];
				r.tail[0].sel = 0;
				r.n_tail = 1;
			}
		} else if (n_order && order_ok && (limit || r.n_eq > 0) && !has_multi(&r)) {
			for (size_t i = 0; i < n_order && r.n_eq + r.n_tail < ADV_MAX_KEY; i++)
				if (!adv_reqcols_has(r.eq, r.n_eq, order[i].expr) &&
				    !adv_reqcols_has(r.tail, r.n_tail, order[i].expr))
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
				if (!adv_reqcols_has(r.eq, r.n_eq, sel_cols[i]) &&
				    !adv_reqcols_has(r.tail, r.n_tail, sel_cols[i]) &&
				    r.n_include < 4)
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
void adv_count_null_tests(Advisor *adv, const bool *take)
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
			RelMap *rm = adv_resolve_rel(adv, shape_str(s, tabs[i].schema),
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
					NullUse *arr =
						adv_grow(adv->nulls, adv->n_nulls, sizeof(*arr));
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
