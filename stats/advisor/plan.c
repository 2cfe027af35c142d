/*
 * plan.c: from requirements to suggestions: what existing indexes serve, merging the rest
 * hottest first while each statement keeps its access path, naming and costing the result.
 */
#include "stats/advisor/internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sugg_cmp(const void *a, const void *b);
static bool key_matches(const AdvKey *k, const ReqCol *c);
static bool pred_eq(const char *a, const char *b);
static bool unique_covers(const Req *r, const AdvIndex *ix);
static bool prefix_finds_few(const Req *r, const AdvIndex *ix);
static bool req_served(const Req *r, const AdvKey *keys, size_t n_keys, const char *method,
		       const char *pred);
static bool same_group(const Req *a, const Req *b);
static void key_from(AdvKey *k, const ReqCol *c);
static uint64_t req_calls(const Advisor *adv, const Req *r);
static void path_key(char *buf, size_t cap, const ReqCol *c, bool with_dir);
static char *access_path(const Req *r);
static void keys_view(const ReqCol *k, size_t n, AdvKey *out);
static bool all_served(const Advisor *adv, const size_t *members, size_t nm, const ReqCol *k,
		       size_t nk, const Req *l);
static bool try_absorb(const Advisor *adv, const size_t *members, size_t nm, ReqCol *k, size_t *nk,
		       size_t *n_eq, const Req *r, const Req *l);
static void merge_requirements(Advisor *adv);
static void sanitize_append(char *buf, size_t cap, const char *s);
static void finish_suggestion(Advisor *adv, AdvSuggestion *s);

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
			adv_skip(adv, "fingerprint %016llx: %llu calls, under --min-calls %llu",
				 (unsigned long long)st->fingerprint, (unsigned long long)st->calls,
				 (unsigned long long)adv->opts.min_calls);
			take[i] = false;
		} else if (times && total > 0 &&
			   st->total_ms * 100.0 < adv->opts.negligible_pct * total) {
			adv_skip(adv,
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
			adv_resolve_rel(adv, shape_str(s, tabs[k].schema),
					shape_str(s, tabs[k].name));
	}
	adv_count_null_tests(adv, take);
	for (size_t i = 0; i < adv->n_stmts; i++)
		if (take[i])
			adv_stmt_requirements(adv, i);
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
				adv_skip(adv,
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
	if (k->is_expr != c->is_expr || !adv_expr_eq(k->expr, c->expr))
		return false;
	const char *ko = k->opclass ? k->opclass : "";
	const char *co = c->opclass ? c->opclass : "";
	return strcmp(ko, co) == 0;
}

static bool pred_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return adv_expr_eq(a, b);
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
 * An existing btree index whose leading columns are all constant-equality columns of the
 * requirement (in any order) and find at most FEW_ROWS rows by the catalog's estimate: the
 * statement's other filters and its sort are done on those rows, and a new index would save
 * little, as `feeds (user_id, title)` would beside UNIQUE (user_id, feed_url) with two feeds
 * per user. Not for join columns: the lookup runs once per outer row, as a LATERAL's
 * `feed_id = f.id ORDER BY published_at DESC LIMIT 1` does for every feed.
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
			if (r->eq[e].rank == RANK_EQ && key_matches(&ix->keys[k], &r->eq[e]))
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
	k->expr = adv_strdup(c->expr);
	k->is_expr = c->is_expr;
	k->desc = c->desc;
	k->nulls_first = c->nulls_first;
	k->opclass = c->opclass ? adv_strdup(c->opclass) : NULL;
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
	/* a keyless requirement reads the partial index's rows: its key is a placeholder */
	if (r->n_eq && !r->keyless) {
		bool trgm =
			gin && r->eq[0].opclass && strcmp(r->eq[0].opclass, "gin_trgm_ops") == 0;
		strcat(buf, !gin ? "equality (" : trgm ? "trigram search (" : "GIN search (");
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
	return adv_strdup(buf);
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
		subset = adv_reqcols_has(k, *n_eq, r->eq[i].expr);
	if (subset && r->n_tail == 0) {
		for (size_t i = 0; i < *n_eq; i++)
			if (adv_reqcols_has(r->eq, r->n_eq, k[i].expr))
				cand[nc++] = k[i];
		for (size_t i = 0; i < *n_eq; i++)
			if (!adv_reqcols_has(r->eq, r->n_eq, k[i].expr))
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
			superset = adv_reqcols_has(r->eq, r->n_eq, k[i].expr);
		if (!superset)
			return false;
		nc = 0;
		for (size_t i = 0; i < *n_eq; i++)
			cand[nc++] = k[i];
		for (size_t i = 0; i < r->n_eq; i++)
			if (!adv_reqcols_has(cand, nc, r->eq[i].expr))
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
		AdvSuggestion *arr = adv_grow(adv->sugg, adv->n_sugg, sizeof(*arr));
		if (!arr)
			break;
		adv->sugg = arr;
		AdvSuggestion *s = &adv->sugg[adv->n_sugg++];
		memset(s, 0, sizeof(*s));
		s->table = l->t;
		snprintf(s->method, sizeof(s->method), "%s", l->method);
		s->where = l->where ? adv_strdup(l->where) : NULL;
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
					dup |= adv_expr_eq(s->keys[z].expr, r->include[q]);
				if (!dup)
					s->include[s->n_include++] = adv_strdup(r->include[q]);
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
			char **arr = adv_grow(s->updated_keys, s->n_updated_keys, sizeof(char *));
			if (!arr)
				break;
			s->updated_keys = arr;
			s->updated_keys[s->n_updated_keys++] = adv_strdup(s->table->updated[u]);
		}
	}
	if (s->n_updated_keys)
		advisor_suggestion_note(
			s, "UPDATE statements change %s: updates of it can no longer be HOT",
			s->updated_keys[0]);
	if (strcmp(s->method, "gin") == 0 && !trgm)
		advisor_suggestion_note(s, "serves full-text search (@@), jsonb and array "
					   "containment (@>, <@, &&) and key "
					   "existence (?)");
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
