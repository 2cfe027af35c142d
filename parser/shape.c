/*
 * shape: builds a statement's QueryShape from libpg_query's protobuf tree, and renders shapes as
 * compact text. The builder walks SELECT (with joins, USING, subqueries in FROM and in
 * expressions, CTEs, set operations, LATERAL), INSERT, UPDATE, DELETE and MERGE. It resolves
 * aliases, follows a subquery's or CTE's output columns back to base-table columns where they
 * are plain column references, and keeps a column it cannot attribute (unqualified, several
 * tables in scope) as unresolved with its candidate tables: the catalog decides later.
 *
 * What it does not know without a catalog: which of several tables owns an unqualified column,
 * and the columns behind a `*` of a multi-table subquery. It never reads the catalog.
 */
#include "parser/shape_build.h"
#include "parser/pbwalk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser/lexer.h"
#include "util/grow.h"

#define MAX_DEPTH 128	/* deeper trees are cut (SHF_TRUNCATED): the parser allows ~1000 */
#define MAX_TABLES 1024 /* per shape */
#define MAX_COLS 4096	/* per shape */
#define REF_UNRESOLVED -1
#define REF_NONE -2

typedef struct Builder {
	const char *text; /* not owned: the looked-up text */
	size_t len;
	ShapeTable *tables; /* owned, grown */
	size_t nt, capt;
	ShapeCol *cols; /* owned, grown */
	size_t nc, capc;
	char *pool; /* owned: string pool, offset 0 is "" */
	size_t np, capp;
	ShapePins *pins; /* not owned */
	int depth;
	bool oom;
	bool truncated;
	uint16_t block;	   /* the query block being walked */
	uint16_t n_blocks; /* blocks numbered so far */
	bool next_per_row; /* the next SELECT runs once per outer row (LATERAL, scalar subquery) */
	bool next_semi;	   /* the next SELECT is the inside of EXISTS / IN (a semi-join) */
} Builder;

/* A column a subquery or CTE exposes, traced back to a base table when it is a plain column. */
typedef struct OutCol {
	const char *name; /* not owned: a string of the parse tree */
	int table;	  /* base table index or REF_NONE */
	const char *col;  /* not owned */
} OutCol;

typedef struct Outputs {
	OutCol *v; /* owned */
	size_t n, cap;
	int star_table; /* `SELECT *` over one base table: any name maps there; else REF_NONE */
	/* a set operation (UNION...): the other arms' columns, in the same order (owned); a
	 * condition on the result is a condition on every arm */
	struct Outputs *arms;
	size_t n_arms;
} Outputs;

typedef struct Cte {
	const char *name; /* not owned */
	Outputs outs;
	struct Cte *next; /* owned by the scope that declared it */
} Cte;

typedef struct Item {
	const char *refname; /* alias, or relation name: what a qualified column names */
	const char *schema;  /* base table: schema as written, NULL when none */
	bool has_alias;
	int table;    /* base table index, or REF_NONE for a subquery/function */
	Outputs outs; /* subquery/CTE: its columns (owned when own_outs) */
	bool own_outs;
} Item;

typedef struct Scope {
	struct Scope *parent;
	bool per_row; /* the top scope of a subquery run once per row of its parent's */
	bool semi;    /* the top scope of an EXISTS / IN subquery */
	Item *items;  /* owned */
	size_t n, cap;
	Cte *ctes; /* owned list */
} Scope;

typedef struct Ref {
	int table;	 /* base table index, REF_UNRESOLVED (see cand), or REF_NONE */
	uint32_t cand;	 /* unresolved: candidate tables bit mask */
	const char *col; /* not owned */
	bool outer;	 /* found outside the per-row subquery being walked */
	bool semi_outer; /* found outside the EXISTS / IN subquery being walked */
} Ref;

typedef enum { OPD_NONE, OPD_COL, OPD_EXPR, OPD_CONST } OperandKind;

typedef struct Operand {
	OperandKind kind;
	Ref ref;
	char *expr; /* OPD_EXPR: owned rendered text */
	uint8_t ck; /* OPD_CONST: ShapeConstKind */
	uint32_t cpos, clen;
	const char *sval; /* OPD_CONST of a string literal: its value (not owned) */
} Operand;

typedef struct Str {
	char *p; /* owned */
	size_t n, cap;
	bool fail;
} Str;

static void walk_select(Builder *b, const PgQuery__SelectStmt *s, Scope *parent, Outputs *out);
static void walk_stmt(Builder *b, const PgQuery__Node *n, Scope *parent, Outputs *out);
static void walk_refs(Builder *b, const ProtobufCMessage *m, Scope *sc, bool record);
static void walk_pred(Builder *b, const PgQuery__Node *n, Scope *sc, uint8_t flags);
static bool render(Builder *b, const PgQuery__Node *n, Str *s);
static void scope_free(Scope *sc);
static void outs_free(Outputs *o);

/* Public functions */

const char *shape_use_str(ShapeUse use)
{
	static const char *names[SU__COUNT] = {"eq",	 "isnull", "notnull", "range",
					       "like",	 "join",   "order",   "group",
					       "select", "set",	   "search"};
	return (unsigned)use < SU__COUNT ? names[use] : "?";
}

QueryShape *shape_copy(const QueryShape *s)
{
	QueryShape *c;
	if (s == NULL)
		return NULL;
	c = malloc(s->size);
	if (c != NULL)
		memcpy(c, s, s->size);
	return c;
}

void shape_pins_free(ShapePins *pins)
{
	free(pins->pos);
	memset(pins, 0, sizeof(*pins));
}

/* Internal: small helpers */

static bool pin_add(Builder *b, uint32_t pos)
{
	ShapePins *p = b->pins;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		uint32_t *v = realloc(p->pos, cap * sizeof(*v));
		if (v == NULL) {
			b->oom = true;
			return false;
		}
		p->pos = v;
		p->cap = cap;
	}
	p->pos[p->n++] = pos;
	return true;
}

static void str_add(Str *s, const char *p, size_t n)
{
	if (s->fail)
		return;
	if (s->n + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		while (cap < s->n + n + 1)
			cap *= 2;
		char *q = realloc(s->p, cap);
		if (q == NULL) {
			s->fail = true;
			return;
		}
		s->p = q;
		s->cap = cap;
	}
	memcpy(s->p + s->n, p, n);
	s->n += n;
	s->p[s->n] = 0;
}

static void str_cat(Str *s, const char *p)
{
	str_add(s, p, strlen(p));
}

/* Appends an identifier, double-quoted when PostgreSQL would not read it back as written. */
static void str_ident(Str *s, const char *id)
{
	bool plain = id[0] != 0 && !(id[0] >= '0' && id[0] <= '9');
	for (const char *p = id; *p && plain; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			plain = false;
	if (plain) {
		str_cat(s, id);
		return;
	}
	str_add(s, "\"", 1);
	for (const char *p = id; *p; p++) {
		if (*p == '"')
			str_add(s, "\"", 1);
		str_add(s, p, 1);
	}
	str_add(s, "\"", 1);
}

static uint32_t pool_add(Builder *b, const char *p)
{
	size_t n = strlen(p) + 1;
	if (b->np + n > b->capp) {
		size_t cap = b->capp ? b->capp * 2 : 256;
		while (cap < b->np + n)
			cap *= 2;
		char *q = realloc(b->pool, cap);
		if (q == NULL) {
			b->oom = true;
			return 0;
		}
		b->pool = q;
		b->capp = cap;
	}
	memcpy(b->pool + b->np, p, n);
	b->np += n;
	return (uint32_t)(b->np - n);
}

static const char *node_str(const PgQuery__Node *n)
{
	if (n != NULL && n->node_case == PG_QUERY__NODE__NODE_STRING && n->string != NULL &&
	    n->string->sval != NULL)
		return n->string->sval;
	return NULL;
}

/* protobuf-c gives "" for an absent string field: treat it as absent. */
static const char *nz(const char *s)
{
	return s != NULL && s[0] != 0 ? s : NULL;
}

static bool str_eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static int add_table(Builder *b, const PgQuery__RangeVar *rv)
{
	if (b->nt >= MAX_TABLES) {
		b->truncated = true;
		return REF_NONE;
	}
	if (b->nt == b->capt) {
		size_t cap = b->capt ? b->capt * 2 : 8;
		ShapeTable *t = realloc(b->tables, cap * sizeof(*t));
		if (t == NULL) {
			b->oom = true;
			return REF_NONE;
		}
		b->tables = t;
		b->capt = cap;
	}
	ShapeTable *t = &b->tables[b->nt];
	memset(t, 0, sizeof(*t));
	t->schema = pool_add(b, nz(rv->schemaname) ? rv->schemaname : "");
	t->name = pool_add(b, nz(rv->relname) ? rv->relname : "");
	t->alias = pool_add(b, rv->alias && nz(rv->alias->aliasname) ? rv->alias->aliasname : "");
	t->block = b->block;
	return (int)b->nt++;
}

/* Records one column use; returns its index, or -1 when dropped or a duplicate of an existing
 * one (then *dup is set to the existing index). */
static int add_col(Builder *b, const Ref *r, ShapeUse use, uint8_t flags, uint8_t flags2,
		   const char *name, const Operand *c, long *dup)
{
	if (r->table == REF_NONE || name == NULL)
		return -1;
	uint8_t ck = c ? c->ck : SCK_NONE;
	uint32_t cpos = c ? c->cpos : 0, clen = c ? c->clen : 0;
	for (size_t i = 0; i < b->nc; i++) {
		ShapeCol *x = &b->cols[i];
		uint16_t t = r->table < 0 ? SHAPE_NONE : (uint16_t)r->table;
		if (x->table != t || x->use != use || strcmp(b->pool + x->name, name) != 0)
			continue;
		if (use == SU_SELECT || use == SU_WRITE ||
		    (x->flags == flags && x->flags2 == flags2 && x->const_kind == ck &&
		     x->const_pos == cpos && x->const_len == clen && x->block == b->block &&
		     use != SU_JOIN)) {
			if (dup)
				*dup = (long)i;
			return -1;
		}
	}
	if (b->nc >= MAX_COLS) {
		b->truncated = true;
		return -1;
	}
	if (b->nc == b->capc) {
		size_t cap = b->capc ? b->capc * 2 : 16;
		ShapeCol *v = realloc(b->cols, cap * sizeof(*v));
		if (v == NULL) {
			b->oom = true;
			return -1;
		}
		b->cols = v;
		b->capc = cap;
	}
	ShapeCol *x = &b->cols[b->nc];
	memset(x, 0, sizeof(*x));
	x->table = r->table < 0 ? SHAPE_NONE : (uint16_t)r->table;
	x->candidates = r->table < 0 ? r->cand : 0;
	x->use = (uint8_t)use;
	x->flags = flags;
	x->name = pool_add(b, name);
	x->peer = SHAPE_NONE;
	x->const_kind = ck;
	x->const_pos = cpos;
	x->const_len = clen;
	x->flags2 = flags2;
	x->block = b->block;
	return (int)b->nc++;
}

static void outs_add(Builder *b, Outputs *o, const char *name, int table, const char *col)
{
	if (o == NULL || name == NULL)
		return;
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 8;
		OutCol *v = realloc(o->v, cap * sizeof(*v));
		if (v == NULL) {
			b->oom = true;
			return;
		}
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n].name = name;
	o->v[o->n].table = table;
	o->v[o->n].col = col;
	o->n++;
}

static void outs_free(Outputs *o)
{
	for (size_t i = 0; i < o->n_arms; i++)
		free(o->arms[i].v);
	free(o->arms);
	free(o->v);
	o->arms = NULL;
	o->v = NULL;
	o->n = o->cap = o->n_arms = 0;
}

/* Adds a set operation's arm (and the arms it holds) to o's arms; takes arm's memory. */
static void outs_add_arm(Builder *b, Outputs *o, Outputs *arm)
{
	Outputs *v = realloc(o->arms, (o->n_arms + 1 + arm->n_arms) * sizeof(*v));
	if (v == NULL) {
		b->oom = true;
		outs_free(arm);
		return;
	}
	o->arms = v;
	o->arms[o->n_arms] = *arm;
	o->arms[o->n_arms].arms = NULL;
	o->arms[o->n_arms].n_arms = 0;
	o->n_arms++;
	for (size_t i = 0; i < arm->n_arms; i++)
		o->arms[o->n_arms++] = arm->arms[i];
	free(arm->arms);
	memset(arm, 0, sizeof(*arm));
}

static Item *scope_add(Builder *b, Scope *sc)
{
	if (!grow_array(&sc->items, &sc->cap, sc->n + 1, sizeof(*sc->items))) {
		b->oom = true;
		return NULL;
	}
	Item *it = &sc->items[sc->n++];
	memset(it, 0, sizeof(*it));
	it->table = REF_NONE;
	it->outs.star_table = REF_NONE;
	return it;
}

static void scope_free(Scope *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		if (sc->items[i].own_outs)
			outs_free(&sc->items[i].outs);
	free(sc->items);
	while (sc->ctes) {
		Cte *c = sc->ctes;
		sc->ctes = c->next;
		outs_free(&c->outs);
		free(c);
	}
}

static const Cte *find_cte(const Scope *sc, const char *name)
{
	for (; sc; sc = sc->parent)
		for (const Cte *c = sc->ctes; c; c = c->next)
			if (str_eq(c->name, name))
				return c;
	return NULL;
}

/* Internal: resolution */

static bool resolve_in_item(const Item *it, const char *col, Ref *r)
{
	r->col = col;
	r->cand = 0;
	if (it->table >= 0) {
		r->table = it->table;
		return true;
	}
	for (size_t i = 0; i < it->outs.n; i++) {
		if (str_eq(it->outs.v[i].name, col)) {
			r->table = it->outs.v[i].table;
			r->col = it->outs.v[i].col;
			return r->table != REF_NONE;
		}
	}
	if (it->outs.star_table >= 0) {
		r->table = it->outs.star_table;
		return true;
	}
	r->table = REF_NONE;
	return false;
}

/* Resolves a ColumnRef to a base-table column; false when it names no base table column we can
 * see (a subquery's computed column, an unknown alias...). */
static bool resolve(const Scope *sc, const PgQuery__ColumnRef *cr, Ref *r)
{
	size_t n = cr->n_fields;
	r->table = REF_NONE;
	r->cand = 0;
	r->col = NULL;
	if (n == 0)
		return false;
	const PgQuery__Node *last = cr->fields[n - 1];
	const char *col = last->node_case == PG_QUERY__NODE__NODE_A_STAR ? "*" : node_str(last);
	if (col == NULL)
		return false;
	r->outer = false;
	r->semi_outer = false;
	if (n == 1) {
		for (; sc; r->outer |= sc->per_row, r->semi_outer |= sc->semi, sc = sc->parent) {
			if (sc->n == 0)
				continue;
			if (sc->n == 1)
				return resolve_in_item(&sc->items[0], col, r);
			uint32_t cand = 0;
			int only = REF_NONE, nbase = 0;
			for (size_t i = 0; i < sc->n; i++) {
				const Item *it = &sc->items[i];
				if (it->table >= 0) {
					nbase++;
					if (it->table < 32)
						cand |= 1u << it->table;
				} else {
					for (size_t k = 0; k < it->outs.n; k++)
						if (str_eq(it->outs.v[k].name, col))
							only = (int)i;
				}
			}
			if (only != REF_NONE && nbase == 0)
				return resolve_in_item(&sc->items[only], col, r);
			if (nbase == 0)
				return false;
			r->table = REF_UNRESOLVED;
			r->cand = cand;
			r->col = col;
			return true;
		}
		return false;
	}
	const char *rel = node_str(cr->fields[n - 2]);
	const char *schema = n >= 3 ? node_str(cr->fields[n - 3]) : NULL;
	if (rel == NULL)
		return false;
	for (; sc; r->outer |= sc->per_row, r->semi_outer |= sc->semi, sc = sc->parent) {
		for (size_t i = 0; i < sc->n; i++) {
			const Item *it = &sc->items[i];
			if (!str_eq(it->refname, rel))
				continue;
			if (schema != NULL && (it->has_alias || !str_eq(it->schema, schema)))
				continue;
			return resolve_in_item(it, col, r);
		}
	}
	return false;
}

/* Internal: constants and operands */

static void const_of(Builder *b, int32_t loc, Operand *o, uint8_t ck)
{
	size_t l;
	if (loc < 0 || (size_t)loc >= b->len)
		return;
	l = lexer_literal_len(b->text, b->len, (size_t)loc);
	if (l == 0)
		return;
	o->kind = OPD_CONST;
	o->ck = ck;
	o->cpos = (uint32_t)loc;
	o->clen = (uint32_t)l;
}

/* A literal or parameter, possibly cast: its position; false for anything else. */
static bool const_node(Builder *b, const PgQuery__Node *n, Operand *o)
{
	while (n && n->node_case == PG_QUERY__NODE__NODE_TYPE_CAST && n->type_cast)
		n = n->type_cast->arg;
	if (n == NULL)
		return false;
	if (n->node_case == PG_QUERY__NODE__NODE_A_CONST && n->a_const) {
		const_of(b, n->a_const->location, o, SCK_CONST);
		if (o->kind == OPD_CONST && n->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL &&
		    n->a_const->sval)
			o->sval = n->a_const->sval->sval;
		return o->kind == OPD_CONST;
	}
	if (n->node_case == PG_QUERY__NODE__NODE_PARAM_REF && n->param_ref) {
		const_of(b, n->param_ref->location, o, SCK_PARAM);
		return o->kind == OPD_CONST;
	}
	return false;
}

/* Several literals (IN list, ARRAY[...], BETWEEN bounds): the span from first to last. */
static bool const_list(Builder *b, PgQuery__Node **items, size_t n, Operand *o)
{
	Operand first = {0}, last = {0};
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		Operand x = {0};
		if (!const_node(b, items[i], &x))
			return false;
		if (i == 0)
			first = x;
		last = x;
	}
	o->kind = OPD_CONST;
	o->ck = SCK_LIST;
	o->cpos = first.cpos;
	o->clen = last.cpos + last.clen - first.cpos;
	return last.cpos >= first.cpos;
}

/* Collects the base tables referenced under m: *table is the single one, REF_UNRESOLVED when
 * mixed or unresolved, REF_NONE when none. */
static void refs_table(const ProtobufCMessage *m, const Scope *sc, int *table, int depth);

typedef struct TableWalk {
	const Scope *sc;
	int *table;
	int depth;
} TableWalk;

static void refs_table_child(const ProtobufCMessage *child, void *arg)
{
	TableWalk *w = arg;
	refs_table(child, w->sc, w->table, w->depth + 1);
}

static void refs_table(const ProtobufCMessage *m, const Scope *sc, int *table, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	if (depth > MAX_DEPTH) {
		*table = REF_UNRESOLVED;
		return;
	}
	if (d == &pg_query__node__descriptor) {
		const PgQuery__Node *n = (const PgQuery__Node *)m;
		if (n->node_case == PG_QUERY__NODE__NODE_COLUMN_REF && n->column_ref) {
			Ref r;
			if (!resolve(sc, n->column_ref, &r) || r.table < 0)
				*table = REF_UNRESOLVED;
			else if (*table == REF_NONE)
				*table = r.table;
			else if (*table != r.table)
				*table = REF_UNRESOLVED;
			return;
		}
		if (n->node_case == PG_QUERY__NODE__NODE_SUB_LINK ||
		    n->node_case == PG_QUERY__NODE__NODE_SELECT_STMT) {
			*table = REF_UNRESOLVED;
			return;
		}
	}
	TableWalk w = {sc, table, depth};
	pbwalk_children(m, refs_table_child, &w);
}

/* What one side of a comparison is: a column, an expression over one table's columns, a
 * constant or parameter, or something else. */
static void operand(Builder *b, const PgQuery__Node *n, Scope *sc, Operand *o)
{
	memset(o, 0, sizeof(*o));
	o->kind = OPD_NONE;
	if (n == NULL)
		return;
	if (n->node_case == PG_QUERY__NODE__NODE_COLUMN_REF && n->column_ref) {
		if (resolve(sc, n->column_ref, &o->ref) && o->ref.table != REF_NONE &&
		    strcmp(o->ref.col, "*") != 0)
			o->kind = OPD_COL;
		return;
	}
	if (const_node(b, n, o))
		return;
	if (n->node_case == PG_QUERY__NODE__NODE_LIST && n->list) {
		const_list(b, n->list->items, n->list->n_items, o);
		return;
	}
	if (n->node_case == PG_QUERY__NODE__NODE_A_ARRAY_EXPR && n->a_array_expr) {
		const_list(b, n->a_array_expr->elements, n->a_array_expr->n_elements, o);
		return;
	}
	if (n->node_case == PG_QUERY__NODE__NODE_FUNC_CALL ||
	    n->node_case == PG_QUERY__NODE__NODE_TYPE_CAST ||
	    n->node_case == PG_QUERY__NODE__NODE_A_EXPR ||
	    n->node_case == PG_QUERY__NODE__NODE_COALESCE_EXPR) {
		int table = REF_NONE;
		refs_table(&n->base, sc, &table, 0);
		if (table < 0)
			return;
		size_t pins_before = b->pins->n;
		Str s = {0};
		if (!render(b, n, &s) || s.fail) {
			b->pins->n = pins_before;
			free(s.p);
			return;
		}
		o->kind = OPD_EXPR;
		o->ref.table = table;
		o->ref.col = NULL;
		o->expr = s.p;
	}
}

static const char *operand_name(const Operand *o)
{
	return o->kind == OPD_EXPR ? o->expr : o->ref.col;
}

static void record2(Builder *b, const Operand *o, ShapeUse use, uint8_t flags, uint8_t flags2,
		    const Operand *c)
{
	if (o->kind != OPD_COL && o->kind != OPD_EXPR)
		return;
	if (o->kind == OPD_EXPR)
		flags |= SCF_EXPR;
	add_col(b, &o->ref, use, flags, flags2, operand_name(o),
		c && c->kind == OPD_CONST ? c : NULL, NULL);
}

static void record(Builder *b, const Operand *o, ShapeUse use, uint8_t flags, const Operand *c)
{
	record2(b, o, use, flags, 0, c);
}

/*
 * a.x = b.y. When one side was found outside the per-row subquery being walked (LATERAL, a
 * correlated scalar subquery), the other side is the inner side of a nested loop: SCF2_PERROW.
 * When one side was found outside the EXISTS / IN subquery being walked, the other side is the
 * subquery's: SCF2_SEMI (flags2_l / flags2_r add to each side).
 */
static void record_join(Builder *b, const Operand *l, const Operand *r, uint8_t flags,
			uint8_t flags2_l, uint8_t flags2_r)
{
	long dl = -1, dr = -1;
	uint8_t fl = flags2_l, fr = flags2_r;
	if (l->ref.outer != r->ref.outer) {
		if (l->ref.outer)
			fr |= SCF2_PERROW;
		else
			fl |= SCF2_PERROW;
	}
	if (l->ref.semi_outer != r->ref.semi_outer) {
		if (l->ref.semi_outer)
			fr |= SCF2_SEMI;
		else
			fl |= SCF2_SEMI;
	}
	int il = add_col(b, &l->ref, SU_JOIN,
			 (uint8_t)(flags | (l->kind == OPD_EXPR ? SCF_EXPR : 0)), fl,
			 operand_name(l), NULL, &dl);
	int ir = add_col(b, &r->ref, SU_JOIN,
			 (uint8_t)(flags | (r->kind == OPD_EXPR ? SCF_EXPR : 0)), fr,
			 operand_name(r), NULL, &dr);
	if (il >= 0 && ir >= 0) {
		b->cols[il].peer = (uint16_t)ir;
		b->cols[ir].peer = (uint16_t)il;
	}
}

static bool same_table(const Operand *l, const Operand *r)
{
	return l->ref.table >= 0 && l->ref.table == r->ref.table;
}

/* LIKE pattern usable by a btree: a non-empty constant that does not start with a wildcard. */
static bool like_prefix(const char *v)
{
	if (v == NULL || v[0] == 0 || v[0] == '%' || v[0] == '_')
		return false;
	if (v[0] == '\\')
		return v[1] != 0;
	return true;
}

static const char *op_name(const PgQuery__AExpr *e)
{
	if (e->n_name == 0)
		return NULL;
	return node_str(e->name[e->n_name - 1]);
}

/* True when n reads a column of the table col belongs to: `x = COALESCE($1, x)` compares a row
 * with itself, which no index can serve. */
static bool refs_own_table(Builder *b, const PgQuery__Node *n, Scope *sc, const Operand *col)
{
	(void)b;
	int table = REF_NONE;
	if (n == NULL || col->ref.table < 0)
		return false;
	refs_table(&n->base, sc, &table, 0);
	return table == col->ref.table;
}

/* Whether n reads no column (a parameter, now(), an interval...). */
static bool column_free(const PgQuery__Node *n, Scope *sc)
{
	int table = REF_NONE;
	if (n == NULL)
		return false;
	refs_table(&n->base, sc, &table, 0);
	return table == REF_NONE;
}

/*
 * A column shifted by something that reads no column: col + x, col - x, x - col, age(col). A
 * comparison of it is a range on the column (the expression itself is often not immutable, so
 * not indexable). Replaces *o with the column when n is one.
 */
static void shifted_column(Builder *b, const PgQuery__Node *n, Scope *sc, Operand *o)
{
	const PgQuery__Node *col = NULL;
	while (n && n->node_case == PG_QUERY__NODE__NODE_TYPE_CAST && n->type_cast)
		n = n->type_cast->arg;
	if (n == NULL)
		return;
	if (n->node_case == PG_QUERY__NODE__NODE_A_EXPR && n->a_expr &&
	    n->a_expr->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP) {
		const PgQuery__AExpr *e = n->a_expr;
		const char *op = op_name(e);
		if (op == NULL || (strcmp(op, "+") != 0 && strcmp(op, "-") != 0) || !e->lexpr ||
		    !e->rexpr)
			return;
		if (e->lexpr->node_case == PG_QUERY__NODE__NODE_COLUMN_REF &&
		    column_free(e->rexpr, sc))
			col = e->lexpr;
		else if (e->rexpr->node_case == PG_QUERY__NODE__NODE_COLUMN_REF &&
			 column_free(e->lexpr, sc))
			col = e->rexpr;
	} else if (n->node_case == PG_QUERY__NODE__NODE_FUNC_CALL && n->func_call &&
		   n->func_call->n_funcname >= 1) {
		const PgQuery__FuncCall *f = n->func_call;
		const char *fn = node_str(f->funcname[f->n_funcname - 1]);
		if (!fn || strcmp(fn, "age") != 0)
			return;
		for (size_t i = 0; i < f->n_args; i++) {
			if (f->args[i]->node_case == PG_QUERY__NODE__NODE_COLUMN_REF && !col)
				col = f->args[i];
			else if (!column_free(f->args[i], sc))
				return;
		}
	}
	if (col == NULL)
		return;
	Operand c;
	operand(b, col, sc, &c);
	if (c.kind != OPD_COL)
		return;
	free(o->expr);
	*o = c;
}

/* A LIKE pattern built at run time that starts with a wildcard: '%' || $1 || '%',
 * concat('%', $1, '%'). */
static bool infix_pattern(Builder *b, const PgQuery__Node *n)
{
	while (n && n->node_case == PG_QUERY__NODE__NODE_TYPE_CAST && n->type_cast)
		n = n->type_cast->arg;
	if (n == NULL)
		return false;
	if (n->node_case == PG_QUERY__NODE__NODE_A_CONST && n->a_const &&
	    n->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL && n->a_const->sval)
		/* the shape depends on this literal: pinned for the parser cache */
		return n->a_const->sval->sval && n->a_const->sval->sval[0] == '%' &&
		       pin_add(b, (uint32_t)(n->a_const->location >= 0 ? n->a_const->location : 0));
	if (n->node_case == PG_QUERY__NODE__NODE_A_EXPR && n->a_expr &&
	    n->a_expr->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP) {
		const char *op = op_name(n->a_expr);
		return op && strcmp(op, "||") == 0 && infix_pattern(b, n->a_expr->lexpr);
	}
	if (n->node_case == PG_QUERY__NODE__NODE_FUNC_CALL && n->func_call &&
	    n->func_call->n_funcname >= 1 && n->func_call->n_args >= 1) {
		const char *fn = node_str(n->func_call->funcname[n->func_call->n_funcname - 1]);
		return fn && strcmp(fn, "concat") == 0 && infix_pattern(b, n->func_call->args[0]);
	}
	return false;
}

/* The operators a GIN index serves on its column: full-text match, and jsonb / array
 * containment, key existence and overlap (jsonb_ops and array_ops, the default classes). */
static bool is_search_op(const char *op)
{
	static const char *const ops[] = {"@@", "@>", "<@", "?", "?|", "?&", "&&"};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(op, ops[i]) == 0)
			return true;
	return false;
}

static void walk_comparison(Builder *b, const PgQuery__AExpr *e, Scope *sc, uint8_t flags)
{
	const char *op = op_name(e);
	Operand l, r;
	ShapeUse use;

	if (op == NULL)
		return;
	if (e->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP && is_search_op(op) && e->lexpr &&
	    e->rexpr) {
		/* tsvector @@ tsquery, jsonb / array containment, either way round: the side over
		 * one table's columns */
		operand(b, e->lexpr, sc, &l);
		operand(b, e->rexpr, sc, &r);
		if ((l.kind == OPD_COL || l.kind == OPD_EXPR) && r.kind != OPD_COL)
			record(b, &l, SU_SEARCH, flags, NULL);
		else if ((r.kind == OPD_COL || r.kind == OPD_EXPR) && l.kind != OPD_COL)
			record(b, &r, SU_SEARCH, flags, NULL);
		free(l.expr);
		free(r.expr);
		return;
	}
	switch (e->kind) {
	case PG_QUERY__A__EXPR__KIND__AEXPR_OP:
	case PG_QUERY__A__EXPR__KIND__AEXPR_OP_ANY:
	case PG_QUERY__A__EXPR__KIND__AEXPR_IN:
	case PG_QUERY__A__EXPR__KIND__AEXPR_NOT_DISTINCT:
		if (strcmp(op, "=") == 0)
			use = SU_EQ;
		else if (e->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP &&
			 (!strcmp(op, "<") || !strcmp(op, "<=") || !strcmp(op, ">") ||
			  !strcmp(op, ">=")))
			use = SU_RANGE;
		else
			return;
		break;
	case PG_QUERY__A__EXPR__KIND__AEXPR_LIKE:
	case PG_QUERY__A__EXPR__KIND__AEXPR_ILIKE:
		if (strcmp(op, "~~") != 0 && strcmp(op, "~~*") != 0)
			return; /* NOT LIKE */
		use = SU_LIKE;
		if (op[2] == '*')
			flags |= SCF_ILIKE;
		break;
	case PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN:
	case PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN_SYM:
		use = SU_RANGE;
		break;
	default:
		return;
	}
	if (e->lexpr == NULL || e->rexpr == NULL)
		return;
	operand(b, e->lexpr, sc, &l);
	operand(b, e->rexpr, sc, &r);
	/* now() - last_seen_at < $1, run_at + $1 <= now(): a range on the column */
	if (use == SU_RANGE && l.kind != OPD_COL)
		shifted_column(b, e->lexpr, sc, &l);
	if (use == SU_RANGE && r.kind != OPD_COL)
		shifted_column(b, e->rexpr, sc, &r);
	if (use == SU_LIKE && l.kind != OPD_CONST && r.kind == OPD_CONST && like_prefix(r.sval))
		flags |= SCF_PREFIX;
	uint8_t like2 =
		use == SU_LIKE && r.kind == OPD_NONE && infix_pattern(b, e->rexpr) ? SCF2_INFIX : 0;
	bool lc = l.kind == OPD_COL || l.kind == OPD_EXPR;
	bool rc = r.kind == OPD_COL || r.kind == OPD_EXPR;
	/* several values: IN (...), = ANY(...). Even IN (a): the parser cache shares one shape
	 * between texts that differ only in constants, so the flag cannot depend on the count */
	uint8_t flags2 = 0;
	if (use == SU_EQ && (e->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP_ANY ||
			     e->kind == PG_QUERY__A__EXPR__KIND__AEXPR_IN))
		flags2 |= SCF2_MULTI;
	if (lc && rc) {
		if (!same_table(&l, &r)) {
			if (use == SU_EQ)
				record_join(b, &l, &r, flags, 0, 0);
			else if (use == SU_RANGE) {
				record(b, &l, SU_RANGE, flags, NULL);
				record(b, &r, SU_RANGE, flags, NULL);
			}
		}
	} else if (lc) {
		/* x = COALESCE($1, x): an optional filter, compared with its own row */
		if (!(r.kind == OPD_NONE && refs_own_table(b, e->rexpr, sc, &l)))
			record2(b, &l, use, flags, (uint8_t)(flags2 | like2), &r);
	} else if (rc && use != SU_LIKE && e->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP) {
		if (!(l.kind == OPD_NONE && refs_own_table(b, e->lexpr, sc, &r)))
			record(b, &r, use, flags, &l);
	}
	free(l.expr);
	free(r.expr);
}

/*
 * A subquery in an expression. `x IN (SELECT y FROM s ...)` is a semi-join of x with s.y (when
 * y is a plain column; with anything else, x is compared with a list of values). EXISTS and IN
 * are planned as joins; any other subquery that reads the outer row runs once per row.
 */
static void walk_sublink(Builder *b, const PgQuery__SubLink *sl, Scope *sc, uint8_t flags)
{
	bool any = sl->testexpr && sl->sub_link_type == PG_QUERY__SUB_LINK_TYPE__ANY_SUBLINK;
	Outputs outs = {0};
	outs.star_table = REF_NONE;
	if (sl->testexpr && !any)
		walk_refs(b, &sl->testexpr->base, sc, false);
	if (sl->subselect) {
		bool semi = sl->sub_link_type == PG_QUERY__SUB_LINK_TYPE__EXISTS_SUBLINK ||
			    sl->sub_link_type == PG_QUERY__SUB_LINK_TYPE__ANY_SUBLINK;
		b->next_per_row = !semi;
		b->next_semi = semi;
		walk_stmt(b, sl->subselect, sc, any ? &outs : NULL);
		b->next_per_row = false;
		b->next_semi = false;
	}
	if (any) {
		Operand o, r;
		operand(b, sl->testexpr, sc, &o);
		memset(&r, 0, sizeof(r));
		if (outs.n >= 1 && outs.v[0].table >= 0 && outs.v[0].col != NULL) {
			r.kind = OPD_COL;
			r.ref.table = outs.v[0].table;
			r.ref.col = outs.v[0].col;
		}
		if ((o.kind == OPD_COL || o.kind == OPD_EXPR) && r.kind == OPD_COL &&
		    !same_table(&o, &r))
			record_join(b, &o, &r, flags, 0, SCF2_SEMI); /* r: the subquery's */
		else
			record2(b, &o, SU_EQ, flags, SCF2_MULTI, NULL);
		free(o.expr);
	}
	outs_free(&outs);
}

/* A condition that compares columns (no AND/OR): records what it does; false for other nodes. */
static bool walk_leaf(Builder *b, const PgQuery__Node *n, Scope *sc, uint8_t flags)
{
	Operand o;
	switch (n->node_case) {
	case PG_QUERY__NODE__NODE_A_EXPR:
		walk_comparison(b, n->a_expr, sc, flags);
		return true;
	case PG_QUERY__NODE__NODE_NULL_TEST:
		operand(b, n->null_test->arg, sc, &o);
		record(b, &o,
		       n->null_test->nulltesttype == PG_QUERY__NULL_TEST_TYPE__IS_NULL ?
			       SU_IS_NULL :
			       SU_IS_NOT_NULL,
		       flags, NULL);
		free(o.expr);
		return true;
	case PG_QUERY__NODE__NODE_BOOLEAN_TEST: {
		PgQuery__BoolTestType bt = n->boolean_test->booltesttype;
		operand(b, n->boolean_test->arg, sc, &o);
		record2(b, &o, SU_EQ, flags,
			bt == PG_QUERY__BOOL_TEST_TYPE__IS_TRUE	 ? SCF2_ISTRUE :
			bt == PG_QUERY__BOOL_TEST_TYPE__IS_FALSE ? SCF2_ISFALSE :
								   0,
			NULL);
		free(o.expr);
		return true;
	}
	case PG_QUERY__NODE__NODE_COLUMN_REF:
		operand(b, n, sc, &o);
		record2(b, &o, SU_EQ, flags, SCF2_BARE, NULL); /* WHERE is_active */
		return true;
	default:
		return false;
	}
}

/* Whether n (outside subqueries) reads a column of item it. */
static bool mentions_item(const ProtobufCMessage *m, const Item *it, int depth);

typedef struct MentionWalk {
	const Item *it;
	int depth;
	bool found;
} MentionWalk;

static void mentions_item_child(const ProtobufCMessage *child, void *arg)
{
	MentionWalk *w = arg;
	if (!w->found)
		w->found = mentions_item(child, w->it, w->depth + 1);
}

static bool mentions_item(const ProtobufCMessage *m, const Item *it, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	if (depth > MAX_DEPTH)
		return false;
	if (d == &pg_query__node__descriptor) {
		const PgQuery__Node *n = (const PgQuery__Node *)m;
		if (n->node_case == PG_QUERY__NODE__NODE_SUB_LINK)
			return false;
		if (n->node_case == PG_QUERY__NODE__NODE_COLUMN_REF && n->column_ref) {
			const PgQuery__ColumnRef *cr = n->column_ref;
			if (cr->n_fields >= 2)
				return str_eq(node_str(cr->fields[cr->n_fields - 2]), it->refname);
			const char *col = cr->n_fields ? node_str(cr->fields[0]) : NULL;
			for (size_t i = 0; col && i < it->outs.n; i++)
				if (str_eq(it->outs.v[i].name, col))
					return true;
			return false;
		}
	}
	MentionWalk w = {it, depth, false};
	pbwalk_children(m, mentions_item_child, &w);
	return w.found;
}

/*
 * A condition on a set operation's result (a UNION in FROM or in a CTE) is pushed into every
 * arm: after the first arm (which the item's columns name), the condition is recorded again
 * with each other arm's columns in their place.
 */
static void walk_leaf_arms(Builder *b, const PgQuery__Node *n, Scope *sc, uint8_t flags)
{
	for (size_t i = 0; i < sc->n; i++) {
		Item *it = &sc->items[i];
		if (it->outs.n_arms == 0 || !mentions_item(&n->base, it, 0))
			continue;
		Outputs saved = it->outs;
		for (size_t a = 0; a < saved.n_arms; a++) {
			it->outs = saved.arms[a];
			it->outs.arms = NULL;
			it->outs.n_arms = 0;
			walk_leaf(b, n, sc, flags);
		}
		it->outs = saved;
	}
}

/* A WHERE / ON / HAVING condition. flags carries SCF_OR under OR and NOT. */
static void walk_pred(Builder *b, const PgQuery__Node *n, Scope *sc, uint8_t flags)
{
	if (n == NULL || b->oom)
		return;
	if (++b->depth > MAX_DEPTH) {
		b->truncated = true;
		b->depth--;
		return;
	}
	switch (n->node_case) {
	case PG_QUERY__NODE__NODE_BOOL_EXPR:
		if (n->bool_expr->boolop == PG_QUERY__BOOL_EXPR_TYPE__NOT_EXPR &&
		    n->bool_expr->n_args == 1 && n->bool_expr->args[0] &&
		    n->bool_expr->args[0]->node_case == PG_QUERY__NODE__NODE_COLUMN_REF) {
			/* NOT disabled: equality of a boolean column with false */
			Operand o;
			operand(b, n->bool_expr->args[0], sc, &o);
			record2(b, &o, SU_EQ, flags, SCF2_NOT, NULL);
			break;
		}
		if (n->bool_expr->boolop != PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR)
			flags |= SCF_OR;
		for (size_t i = 0; i < n->bool_expr->n_args; i++)
			walk_pred(b, n->bool_expr->args[i], sc, flags);
		break;
	case PG_QUERY__NODE__NODE_SUB_LINK:
		walk_sublink(b, n->sub_link, sc, flags);
		break;
	default:
		if (walk_leaf(b, n, sc, flags)) {
			walk_leaf_arms(b, n, sc, flags);
			if (n->node_case == PG_QUERY__NODE__NODE_A_EXPR)
				walk_refs(b, &n->base, sc, false); /* subqueries inside */
		} else {
			walk_refs(b, &n->base, sc, false);
		}
		break;
	}
	b->depth--;
}

/*
 * Walks any subtree: records each column reference as SU_SELECT when record is set, and walks
 * every subquery it meets (SubLink, SelectStmt) in the given scope.
 */
/* walk_refs over every child of a node it does not know (pbwalk_children). */
typedef struct RefWalk {
	Builder *b;
	Scope *sc;
	bool record_refs;
} RefWalk;

static void walk_refs_child(const ProtobufCMessage *child, void *arg)
{
	RefWalk *w = arg;
	walk_refs(w->b, child, w->sc, w->record_refs);
}

static void walk_refs(Builder *b, const ProtobufCMessage *m, Scope *sc, bool record_refs)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	if (b->oom)
		return;
	if (++b->depth > MAX_DEPTH) {
		b->truncated = true;
		b->depth--;
		return;
	}
	if (d == &pg_query__node__descriptor) {
		const PgQuery__Node *n = (const PgQuery__Node *)m;
		switch (n->node_case) {
		case PG_QUERY__NODE__NODE_COLUMN_REF:
			if (record_refs) {
				Ref r;
				if (resolve(sc, n->column_ref, &r)) {
					if (strcmp(r.col, "*") == 0 && r.table == REF_UNRESOLVED) {
						/* SELECT * over several tables: each of them */
						for (size_t i = 0; i < sc->n; i++) {
							Ref one = {sc->items[i].table, 0, "*",
								   false, false};
							add_col(b, &one, SU_SELECT, 0, 0, "*", NULL,
								NULL);
						}
					} else {
						add_col(b, &r, SU_SELECT, 0, 0, r.col, NULL, NULL);
					}
				}
			}
			b->depth--;
			return;
		case PG_QUERY__NODE__NODE_SUB_LINK:
			walk_sublink(b, n->sub_link, sc, SCF_OR);
			b->depth--;
			return;
		case PG_QUERY__NODE__NODE_SELECT_STMT:
			walk_select(b, n->select_stmt, sc, NULL);
			b->depth--;
			return;
		default:
			break;
		}
	}
	RefWalk w = {b, sc, record_refs};
	pbwalk_children(m, walk_refs_child, &w);
	b->depth--;
}

/* Internal: FROM */

static void add_from(Builder *b, const PgQuery__Node *n, Scope *sc, Scope *parent,
		     const PgQuery__Node ***quals, size_t *nquals, size_t *capquals);

static void add_rangevar(Builder *b, const PgQuery__RangeVar *rv, Scope *sc, uint8_t write)
{
	Item *it;
	const Cte *cte = nz(rv->schemaname) == NULL ? find_cte(sc, rv->relname) : NULL;
	it = scope_add(b, sc);
	if (it == NULL)
		return;
	it->has_alias = rv->alias && nz(rv->alias->aliasname);
	it->refname = it->has_alias ? rv->alias->aliasname : nz(rv->relname);
	it->schema = nz(rv->schemaname);
	if (cte != NULL) {
		it->outs = cte->outs; /* borrowed from the CTE */
		it->own_outs = false;
		return;
	}
	it->table = add_table(b, rv);
	if (it->table >= 0)
		b->tables[it->table].write = write;
}

/* The side of a JOIN ... USING: its single base table, else unresolved over its tables. */
static void using_side(const Scope *sc, size_t from, size_t to, const char *col, Ref *r)
{
	r->col = col;
	r->cand = 0;
	r->table = REF_NONE;
	if (to - from == 1) {
		resolve_in_item(&sc->items[from], col, r);
		return;
	}
	for (size_t i = from; i < to; i++)
		if (sc->items[i].table >= 0 && sc->items[i].table < 32)
			r->cand |= 1u << sc->items[i].table;
	if (r->cand)
		r->table = REF_UNRESOLVED;
}

static void push_qual(Builder *b, const PgQuery__Node *q, const PgQuery__Node ***quals,
		      size_t *nquals, size_t *capquals)
{
	if (*nquals == *capquals) {
		size_t cap = *capquals ? *capquals * 2 : 4;
		const PgQuery__Node **v = realloc(*quals, cap * sizeof(*v));
		if (v == NULL) {
			b->oom = true;
			return;
		}
		*quals = v;
		*capquals = cap;
	}
	(*quals)[(*nquals)++] = q;
}

static void add_from(Builder *b, const PgQuery__Node *n, Scope *sc, Scope *parent,
		     const PgQuery__Node ***quals, size_t *nquals, size_t *capquals)
{
	if (n == NULL || b->oom)
		return;
	if (++b->depth > MAX_DEPTH) {
		b->truncated = true;
		b->depth--;
		return;
	}
	switch (n->node_case) {
	case PG_QUERY__NODE__NODE_RANGE_VAR:
		add_rangevar(b, n->range_var, sc, 0);
		break;
	case PG_QUERY__NODE__NODE_JOIN_EXPR: {
		const PgQuery__JoinExpr *j = n->join_expr;
		size_t l0 = sc->n;
		add_from(b, j->larg, sc, parent, quals, nquals, capquals);
		size_t r0 = sc->n;
		add_from(b, j->rarg, sc, parent, quals, nquals, capquals);
		size_t r1 = sc->n;
		for (size_t i = 0; i < j->n_using_clause; i++) {
			const char *col = node_str(j->using_clause[i]);
			Operand l = {0}, r = {0};
			if (col == NULL)
				continue;
			l.kind = r.kind = OPD_COL;
			using_side(sc, l0, r0, col, &l.ref);
			using_side(sc, r0, r1, col, &r.ref);
			record_join(b, &l, &r, 0, 0, 0);
		}
		if (j->quals)
			push_qual(b, j->quals, quals, nquals, capquals);
		break;
	}
	case PG_QUERY__NODE__NODE_RANGE_SUBSELECT: {
		const PgQuery__RangeSubselect *rs = n->range_subselect;
		Outputs o = {0};
		o.star_table = REF_NONE;
		/* LATERAL sees the items before it, and runs once per row of them; any subquery
		 * sees the outer query levels */
		b->next_per_row = rs->lateral;
		walk_stmt(b, rs->subquery, rs->lateral ? sc : parent, &o);
		b->next_per_row = false;
		Item *it = scope_add(b, sc);
		if (it == NULL) {
			outs_free(&o);
			break;
		}
		it->refname = rs->alias ? nz(rs->alias->aliasname) : NULL;
		it->has_alias = true;
		it->outs = o;
		it->own_outs = true;
		break;
	}
	case PG_QUERY__NODE__NODE_RANGE_FUNCTION: {
		const PgQuery__RangeFunction *rf = n->range_function;
		walk_refs(b, &n->base, rf->lateral ? sc : parent, false);
		Item *it = scope_add(b, sc);
		if (it == NULL)
			break;
		it->refname = rf->alias ? nz(rf->alias->aliasname) : NULL;
		it->has_alias = true;
		break;
	}
	default: {
		Item *it = scope_add(b, sc); /* something we do not look into still takes a name */
		(void)it;
		break;
	}
	}
	b->depth--;
}

/* Internal: WITH */

/* How many times `FROM name` (unqualified) appears under m. */
static size_t count_rangevars(const ProtobufCMessage *m, const char *name, int depth);

typedef struct RangeVarCount {
	const char *name;
	int depth;
	size_t n;
} RangeVarCount;

static void count_rangevars_child(const ProtobufCMessage *child, void *arg)
{
	RangeVarCount *w = arg;
	w->n += count_rangevars(child, w->name, w->depth + 1);
}

static size_t count_rangevars(const ProtobufCMessage *m, const char *name, int depth)
{
	if (depth > MAX_DEPTH)
		return 0;
	if (m->descriptor == &pg_query__range_var__descriptor) {
		const PgQuery__RangeVar *rv = (const PgQuery__RangeVar *)m;
		return nz(rv->schemaname) == NULL && str_eq(rv->relname, name) ? 1 : 0;
	}
	RangeVarCount w = {name, depth, 0};
	pbwalk_children(m, count_rangevars_child, &w);
	return w.n;
}

/*
 * WITH: each CTE's columns, traced to base tables. PostgreSQL materializes a CTE that says
 * MATERIALIZED, is recursive, or is read more than once (unless NOT MATERIALIZED): then a
 * condition on its output is a filter on the materialized rows, not on the base table, and its
 * columns map to nothing. body is the statement that owns the WITH.
 */
static void walk_with(Builder *b, const PgQuery__WithClause *w, Scope *sc,
		      const ProtobufCMessage *body)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->n_ctes; i++) {
		const PgQuery__Node *n = w->ctes[i];
		if (n == NULL || n->node_case != PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR)
			continue;
		const PgQuery__CommonTableExpr *c = n->common_table_expr;
		Cte *cte = calloc(1, sizeof(*cte));
		if (cte == NULL) {
			b->oom = true;
			return;
		}
		cte->name = nz(c->ctename);
		cte->outs.star_table = REF_NONE;
		if (w->recursive) {
			/* a recursive CTE names itself: declare it first, with no columns */
			cte->next = sc->ctes;
			sc->ctes = cte;
			walk_stmt(b, c->ctequery, sc, &cte->outs);
		} else {
			walk_stmt(b, c->ctequery, sc, &cte->outs);
			cte->next = sc->ctes;
			sc->ctes = cte;
		}
		/* WITH x(a, b) AS (...) renames the outputs */
		for (size_t k = 0; k < c->n_aliascolnames && k < cte->outs.n; k++) {
			const char *nm = node_str(c->aliascolnames[k]);
			if (nm)
				cte->outs.v[k].name = nm;
		}
		bool materialized =
			c->ctematerialized == PG_QUERY__CTEMATERIALIZE__CTEMaterializeAlways ||
			(w->recursive && cte->name != NULL && c->ctequery != NULL &&
			 count_rangevars(&c->ctequery->base, cte->name, 0) > 0) ||
			(c->ctematerialized != PG_QUERY__CTEMATERIALIZE__CTEMaterializeNever &&
			 cte->name != NULL && body != NULL &&
			 count_rangevars(body, cte->name, 0) > 1);
		if (materialized) {
			for (size_t k = 0; k < cte->outs.n; k++)
				cte->outs.v[k].table = REF_NONE;
			cte->outs.star_table = REF_NONE;
			for (size_t a = 0; a < cte->outs.n_arms; a++) {
				for (size_t k = 0; k < cte->outs.arms[a].n; k++)
					cte->outs.arms[a].v[k].table = REF_NONE;
				cte->outs.arms[a].star_table = REF_NONE;
			}
		}
	}
}

/* Internal: SELECT */

static const PgQuery__Node *target_for(const PgQuery__SelectStmt *s, Builder *b,
				       const PgQuery__Node *n)
{
	/* ORDER BY 2 / GROUP BY 1: the select-list entry; ORDER BY alias: the aliased expression */
	if (n->node_case == PG_QUERY__NODE__NODE_A_CONST &&
	    n->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
		int32_t k = n->a_const->ival ? n->a_const->ival->ival : 0;
		pin_add(b, (uint32_t)(n->a_const->location >= 0 ? n->a_const->location : 0));
		if (k >= 1 && (size_t)k <= s->n_target_list && s->target_list[k - 1] &&
		    s->target_list[k - 1]->node_case == PG_QUERY__NODE__NODE_RES_TARGET)
			return s->target_list[k - 1]->res_target->val;
		return NULL;
	}
	if (n->node_case == PG_QUERY__NODE__NODE_A_CONST) {
		pin_add(b, (uint32_t)(n->a_const->location >= 0 ? n->a_const->location : 0));
		return NULL;
	}
	if (n->node_case == PG_QUERY__NODE__NODE_COLUMN_REF && n->column_ref->n_fields == 1) {
		const char *nm = node_str(n->column_ref->fields[0]);
		for (size_t i = 0; nm && i < s->n_target_list; i++) {
			const PgQuery__Node *t = s->target_list[i];
			if (t && t->node_case == PG_QUERY__NODE__NODE_RES_TARGET &&
			    str_eq(nz(t->res_target->name), nm))
				return t->res_target->val;
		}
	}
	return n;
}

static void walk_select(Builder *b, const PgQuery__SelectStmt *s, Scope *parent, Outputs *out)
{
	Scope sc = {0};
	const PgQuery__Node **quals = NULL;
	size_t nquals = 0, capquals = 0;

	if (s == NULL || b->oom)
		return;
	if (++b->depth > MAX_DEPTH) {
		b->truncated = true;
		b->depth--;
		return;
	}
	sc.parent = parent;
	sc.per_row = b->next_per_row;
	sc.semi = b->next_semi;
	b->next_per_row = false;
	b->next_semi = false;
	uint16_t outer_block = b->block;
	if (b->n_blocks < UINT16_MAX)
		b->n_blocks++;
	b->block = b->n_blocks;
	walk_with(b, s->with_clause, &sc, &s->base);

	if (s->op != PG_QUERY__SET_OPERATION__SETOP_NONE &&
	    s->op != PG_QUERY__SET_OPERATION__SET_OPERATION_UNDEFINED) {
		/* UNION / INTERSECT / EXCEPT: each arm on its own; the columns are the left arm's,
		 * the other arms' are kept beside them (a condition on the result reaches all) */
		walk_select(b, s->larg, &sc, out);
		Outputs arm = {0};
		arm.star_table = REF_NONE;
		walk_select(b, s->rarg, &sc, out ? &arm : NULL);
		if (out)
			outs_add_arm(b, out, &arm);
		goto out;
	}

	/* FROM first (with CTEs visible), then the conditions, which see all of it */
	Scope *fromsc = &sc;
	for (size_t i = 0; i < s->n_from_clause; i++)
		add_from(b, s->from_clause[i], fromsc, parent, &quals, &nquals, &capquals);
	for (size_t i = 0; i < nquals; i++)
		walk_pred(b, quals[i], &sc, 0);
	walk_pred(b, s->where_clause, &sc, 0);
	if (s->having_clause)
		walk_refs(b, &s->having_clause->base, &sc, false);
	for (size_t i = 0; i < s->n_values_lists; i++)
		walk_refs(b, &s->values_lists[i]->base, &sc, false);

	/* select list */
	for (size_t i = 0; i < s->n_target_list; i++) {
		const PgQuery__Node *t = s->target_list[i];
		if (t == NULL || t->node_case != PG_QUERY__NODE__NODE_RES_TARGET ||
		    !t->res_target->val)
			continue;
		const PgQuery__ResTarget *rt = t->res_target;
		walk_refs(b, &rt->val->base, &sc, true);
		if (out == NULL)
			continue;
		if (rt->val->node_case == PG_QUERY__NODE__NODE_COLUMN_REF) {
			Ref r;
			const PgQuery__ColumnRef *cr = rt->val->column_ref;
			bool ok = resolve(&sc, cr, &r);
			if (ok && strcmp(r.col, "*") == 0) {
				if (r.table >= 0)
					out->star_table = r.table;
				continue;
			}
			const char *nm =
				nz(rt->name) ? rt->name : node_str(cr->fields[cr->n_fields - 1]);
			outs_add(b, out, nm, ok && r.table >= 0 ? r.table : REF_NONE,
				 ok ? r.col : NULL);
		} else {
			outs_add(b, out, nz(rt->name), REF_NONE, NULL);
		}
	}

	/* GROUP BY */
	for (size_t i = 0; i < s->n_group_clause; i++) {
		const PgQuery__Node *g = s->group_clause[i];
		if (g == NULL)
			continue;
		const PgQuery__Node *e = target_for(s, b, g);
		Operand o;
		operand(b, e, &sc, &o);
		record(b, &o, SU_GROUP, 0, NULL);
		free(o.expr);
	}

	/* ORDER BY, and whether a LIMIT makes the first rows of that order enough */
	bool limit = s->limit_count != NULL &&
		     !(s->limit_count->node_case == PG_QUERY__NODE__NODE_A_CONST &&
		       s->limit_count->a_const->isnull);
	for (size_t i = 0; i < s->n_sort_clause; i++) {
		const PgQuery__Node *sn = s->sort_clause[i];
		if (sn == NULL || sn->node_case != PG_QUERY__NODE__NODE_SORT_BY ||
		    !sn->sort_by->node)
			continue;
		const PgQuery__SortBy *sb = sn->sort_by;
		const PgQuery__Node *e = target_for(s, b, sb->node);
		uint8_t flags = limit ? SCF_LIMIT : 0;
		if (sb->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_DESC)
			flags |= SCF_DESC;
		if (sb->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_FIRST)
			flags |= SCF_NULLS_FIRST;
		else if (sb->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_LAST)
			flags |= SCF_NULLS_LAST;
		Operand o;
		operand(b, e, &sc, &o);
		record(b, &o, SU_ORDER, flags, NULL);
		free(o.expr);
	}
out:
	free(quals);
	scope_free(&sc);
	b->block = outer_block;
	b->depth--;
}

/* Internal: writes */

static void walk_returning(Builder *b, PgQuery__Node **list, size_t n, Scope *sc)
{
	for (size_t i = 0; i < n; i++)
		if (list[i])
			walk_refs(b, &list[i]->base, sc, true);
}

static void write_targets(Builder *b, PgQuery__Node **list, size_t n, int table)
{
	Ref r = {table, 0, NULL, false, false};
	for (size_t i = 0; i < n; i++) {
		const PgQuery__Node *t = list[i];
		if (t && t->node_case == PG_QUERY__NODE__NODE_RES_TARGET && nz(t->res_target->name))
			add_col(b, &r, SU_WRITE, 0, 0, t->res_target->name, NULL, NULL);
	}
}

static void walk_insert(Builder *b, const PgQuery__InsertStmt *s, Scope *parent)
{
	Scope sc = {0}, tsc = {0};
	sc.parent = parent;
	walk_with(b, s->with_clause, &sc, &s->base);
	/* the target comes first in the shape, but the SELECT part does not see it */
	tsc.parent = &sc;
	if (s->relation)
		add_rangevar(b, s->relation, &tsc, SK_INSERT);
	if (s->select_stmt)
		walk_stmt(b, s->select_stmt, &sc, NULL);
	int target = tsc.n == 1 ? tsc.items[0].table : REF_NONE;
	write_targets(b, s->cols, s->n_cols, target);
	if (s->on_conflict_clause) {
		const PgQuery__OnConflictClause *oc = s->on_conflict_clause;
		if (oc->infer)
			walk_refs(b, &oc->infer->base, &tsc, false);
		write_targets(b, oc->target_list, oc->n_target_list, target);
		if (oc->where_clause)
			walk_pred(b, oc->where_clause, &tsc, 0);
	}
	walk_returning(b, s->returning_list, s->n_returning_list, &tsc);
	scope_free(&tsc);
	scope_free(&sc);
}

/* The target of an UPDATE, DELETE or MERGE, after its WITH: false when there is none (the
 * statement then contributes nothing but its CTEs). */
static bool open_dml_target(Builder *b, Scope *sc, Scope *parent,
			    const PgQuery__WithClause *with_clause, const ProtobufCMessage *base,
			    const PgQuery__RangeVar *relation, StmtKind kind)
{
	sc->parent = parent;
	walk_with(b, with_clause, sc, base);
	if (relation == NULL)
		return false;
	add_rangevar(b, relation, sc, kind);
	return true;
}

/* FROM / USING items added to sc, then the join conditions they carried walked as predicates. */
static void walk_from_items(Builder *b, PgQuery__Node *const *items, size_t n, Scope *sc,
			    Scope *parent)
{
	const PgQuery__Node **quals = NULL;
	size_t nquals = 0, capquals = 0;
	for (size_t i = 0; i < n; i++)
		add_from(b, items[i], sc, parent, &quals, &nquals, &capquals);
	for (size_t i = 0; i < nquals; i++)
		walk_pred(b, quals[i], sc, 0);
	free(quals);
}

static void walk_update(Builder *b, const PgQuery__UpdateStmt *s, Scope *parent)
{
	Scope sc = {0};
	if (open_dml_target(b, &sc, parent, s->with_clause, &s->base, s->relation, SK_UPDATE) &&
	    sc.n == 1) {
		write_targets(b, s->target_list, s->n_target_list, sc.items[0].table);
		walk_from_items(b, s->from_clause, s->n_from_clause, &sc, parent);
		for (size_t i = 0; i < s->n_target_list; i++)
			if (s->target_list[i])
				walk_refs(b, &s->target_list[i]->base, &sc, false);
		walk_pred(b, s->where_clause, &sc, 0);
		walk_returning(b, s->returning_list, s->n_returning_list, &sc);
	}
	scope_free(&sc);
}

static void walk_delete(Builder *b, const PgQuery__DeleteStmt *s, Scope *parent)
{
	Scope sc = {0};
	if (open_dml_target(b, &sc, parent, s->with_clause, &s->base, s->relation, SK_DELETE)) {
		walk_from_items(b, s->using_clause, s->n_using_clause, &sc, parent);
		walk_pred(b, s->where_clause, &sc, 0);
		walk_returning(b, s->returning_list, s->n_returning_list, &sc);
	}
	scope_free(&sc);
}

static void walk_merge(Builder *b, const PgQuery__MergeStmt *s, Scope *parent)
{
	Scope sc = {0};
	if (open_dml_target(b, &sc, parent, s->with_clause, &s->base, s->relation, SK_MERGE)) {
		int target = sc.n == 1 ? sc.items[0].table : REF_NONE;
		walk_from_items(b, &s->source_relation, 1, &sc, parent);
		walk_pred(b, s->join_condition, &sc, 0);
		for (size_t i = 0; i < s->n_merge_when_clauses; i++) {
			const PgQuery__Node *w = s->merge_when_clauses[i];
			if (w == NULL || w->node_case != PG_QUERY__NODE__NODE_MERGE_WHEN_CLAUSE)
				continue;
			write_targets(b, w->merge_when_clause->target_list,
				      w->merge_when_clause->n_target_list, target);
			walk_refs(b, &w->base, &sc, false);
		}
	}
	scope_free(&sc);
}

static void walk_stmt(Builder *b, const PgQuery__Node *n, Scope *parent, Outputs *out)
{
	if (n == NULL || b->oom)
		return;
	if (++b->depth > MAX_DEPTH) {
		b->truncated = true;
		b->depth--;
		return;
	}
	switch (n->node_case) {
	case PG_QUERY__NODE__NODE_SELECT_STMT:
		walk_select(b, n->select_stmt, parent, out);
		break;
	case PG_QUERY__NODE__NODE_INSERT_STMT:
		walk_insert(b, n->insert_stmt, parent);
		break;
	case PG_QUERY__NODE__NODE_UPDATE_STMT:
		walk_update(b, n->update_stmt, parent);
		break;
	case PG_QUERY__NODE__NODE_DELETE_STMT:
		walk_delete(b, n->delete_stmt, parent);
		break;
	case PG_QUERY__NODE__NODE_MERGE_STMT:
		walk_merge(b, n->merge_stmt, parent);
		break;
	default:
		break;
	}
	b->depth--;
}

/* Internal: expression text */

static bool render_typename(const PgQuery__TypeName *tn, Str *s)
{
	bool first = true;
	if (tn == NULL || tn->n_typmods > 0)
		return false;
	for (size_t i = 0; i < tn->n_names; i++) {
		const char *nm = node_str(tn->names[i]);
		if (nm == NULL)
			return false;
		if (tn->n_names > 1 && i == 0 && strcmp(nm, "pg_catalog") == 0)
			continue;
		if (!first)
			str_add(s, ".", 1);
		str_ident(s, nm);
		first = false;
	}
	for (size_t i = 0; i < tn->n_array_bounds; i++)
		str_cat(s, "[]");
	return !first;
}

/*
 * Renders an expression over columns as SQL, with bare column names (the shape already says
 * which table): lower(email), created_at::date, (data ->> 'kind'). Literals are copied from the
 * text and pinned: the shape depends on their value. False for anything not handled.
 */
static bool render(Builder *b, const PgQuery__Node *n, Str *s)
{
	if (n == NULL || ++b->depth > MAX_DEPTH) {
		if (n != NULL)
			b->depth--;
		return false;
	}
	bool ok = true;
	switch (n->node_case) {
	case PG_QUERY__NODE__NODE_COLUMN_REF: {
		const PgQuery__ColumnRef *cr = n->column_ref;
		const char *nm = cr->n_fields ? node_str(cr->fields[cr->n_fields - 1]) : NULL;
		if (nm == NULL)
			ok = false;
		else
			str_ident(s, nm);
		break;
	}
	case PG_QUERY__NODE__NODE_A_CONST: {
		int32_t loc = n->a_const->location;
		size_t l = loc >= 0 ? lexer_literal_len(b->text, b->len, (size_t)loc) : 0;
		if (l == 0 || !pin_add(b, (uint32_t)loc))
			ok = false;
		else
			str_add(s, b->text + loc, l);
		break;
	}
	case PG_QUERY__NODE__NODE_TYPE_CAST: {
		const PgQuery__Node *a = n->type_cast->arg;
		bool simple = a && (a->node_case == PG_QUERY__NODE__NODE_COLUMN_REF ||
				    a->node_case == PG_QUERY__NODE__NODE_A_CONST ||
				    a->node_case == PG_QUERY__NODE__NODE_FUNC_CALL);
		if (!simple)
			str_add(s, "(", 1);
		ok = render(b, a, s);
		if (!simple)
			str_add(s, ")", 1);
		str_add(s, "::", 2);
		ok = ok && render_typename(n->type_cast->type_name, s);
		break;
	}
	case PG_QUERY__NODE__NODE_FUNC_CALL: {
		const PgQuery__FuncCall *f = n->func_call;
		if (f->n_agg_order || f->agg_filter || f->over || f->agg_distinct || f->agg_star ||
		    f->func_variadic || f->agg_within_group || f->n_funcname == 0) {
			ok = false;
			break;
		}
		for (size_t i = 0; i < f->n_funcname && ok; i++) {
			const char *nm = node_str(f->funcname[i]);
			if (nm == NULL) {
				ok = false;
				break;
			}
			if (f->n_funcname > 1 && i == 0 && strcmp(nm, "pg_catalog") == 0)
				continue;
			if (s->n > 0 && s->p[s->n - 1] != '(' && i > 0)
				str_add(s, ".", 1);
			str_ident(s, nm);
		}
		str_add(s, "(", 1);
		for (size_t i = 0; i < f->n_args && ok; i++) {
			if (i)
				str_add(s, ", ", 2);
			ok = render(b, f->args[i], s);
		}
		str_add(s, ")", 1);
		break;
	}
	case PG_QUERY__NODE__NODE_A_EXPR: {
		const PgQuery__AExpr *e = n->a_expr;
		const char *op = op_name(e);
		if (e->kind != PG_QUERY__A__EXPR__KIND__AEXPR_OP || op == NULL || e->n_name != 1 ||
		    e->rexpr == NULL) {
			ok = false;
			break;
		}
		str_add(s, "(", 1);
		if (e->lexpr) {
			ok = render(b, e->lexpr, s);
			str_add(s, " ", 1);
		}
		str_cat(s, op);
		str_add(s, " ", 1);
		ok = ok && render(b, e->rexpr, s);
		str_add(s, ")", 1);
		break;
	}
	case PG_QUERY__NODE__NODE_COALESCE_EXPR: {
		const PgQuery__CoalesceExpr *c = n->coalesce_expr;
		str_cat(s, "COALESCE(");
		for (size_t i = 0; i < c->n_args && ok; i++) {
			if (i)
				str_add(s, ", ", 2);
			ok = render(b, c->args[i], s);
		}
		str_add(s, ")", 1);
		break;
	}
	default:
		ok = false;
		break;
	}
	b->depth--;
	return ok && !s->fail;
}

/* Internal: the flat block */

QueryShape *shape_build(const PgQuery__Node *stmt, const char *text, size_t len, ShapePins *pins)
{
	Builder b = {0};
	QueryShape *s = NULL;

	if (stmt == NULL)
		return NULL;
	switch (stmt->node_case) {
	case PG_QUERY__NODE__NODE_SELECT_STMT:
	case PG_QUERY__NODE__NODE_INSERT_STMT:
	case PG_QUERY__NODE__NODE_UPDATE_STMT:
	case PG_QUERY__NODE__NODE_DELETE_STMT:
	case PG_QUERY__NODE__NODE_MERGE_STMT:
		break;
	default:
		return NULL;
	}
	b.text = text;
	b.len = len;
	b.pins = pins;
	pool_add(&b, "");
	walk_stmt(&b, stmt, NULL, NULL);
	if (b.oom)
		goto out;

	size_t hdr = sizeof(QueryShape);
	size_t tabs = b.nt * sizeof(ShapeTable), cols = b.nc * sizeof(ShapeCol);
	size_t total = hdr + tabs + cols + b.np;
	if (total > UINT32_MAX)
		goto out;
	s = malloc(total);
	if (s == NULL)
		goto out;
	memset(s, 0, hdr);
	s->size = (uint32_t)total;
	s->n_tables = (uint16_t)b.nt;
	s->n_cols = (uint16_t)b.nc;
	s->strings = (uint32_t)(hdr + tabs + cols);
	s->flags = b.truncated ? SHF_TRUNCATED : 0;
	if (tabs)
		memcpy((char *)s + hdr, b.tables, tabs);
	if (cols)
		memcpy((char *)s + hdr + tabs, b.cols, cols);
	memcpy((char *)s + s->strings, b.pool, b.np);
out:
	free(b.tables);
	free(b.cols);
	free(b.pool);
	return s;
}

/* Internal: rendering */

typedef struct Out {
	char *buf;
	size_t cap, n;
} Out;

static void out_add(Out *o, const char *p, size_t n)
{
	if (o->n < o->cap) {
		size_t room = o->cap - o->n;
		memcpy(o->buf + o->n, p, n < room ? n : room);
	}
	o->n += n;
}

static void out_cat(Out *o, const char *p)
{
	out_add(o, p, strlen(p));
}

static void out_table_name(Out *o, const QueryShape *s, uint16_t t)
{
	const ShapeTable *tb = &shape_tables(s)[t];
	if (*shape_str(s, tb->schema)) {
		out_cat(o, shape_str(s, tb->schema));
		out_add(o, ".", 1);
	}
	out_cat(o, shape_str(s, tb->name));
}

static void out_col(Out *o, const QueryShape *s, const ShapeCol *c, const char *text, size_t tlen)
{
	const ShapeCol *cols = shape_cols(s);
	char num[48];
	out_cat(o, shape_str(s, c->name));
	if (c->use == SU_JOIN && c->peer != SHAPE_NONE && c->peer < s->n_cols) {
		const ShapeCol *p = &cols[c->peer];
		out_add(o, "=", 1);
		if (p->table != SHAPE_NONE) {
			out_table_name(o, s, p->table);
			out_add(o, ".", 1);
		} else {
			out_add(o, "?.", 2);
		}
		out_cat(o, shape_str(s, p->name));
	}
	if (c->const_kind != SCK_NONE) {
		if (text != NULL && (size_t)c->const_pos + c->const_len <= tlen) {
			out_add(o, c->const_kind == SCK_LIST ? "=(" : "=",
				c->const_kind == SCK_LIST ? 2 : 1);
			out_add(o, text + c->const_pos, c->const_len);
			if (c->const_kind == SCK_LIST)
				out_add(o, ")", 1);
		} else {
			snprintf(num, sizeof(num), "@%u+%u", c->const_pos, c->const_len);
			out_cat(o, num);
		}
	}
	static const struct {
		bool second; /* in flags2 */
		uint8_t bit;
		const char *text;
	} marks[] = {
		{false, SCF_DESC, " DESC"},
		{false, SCF_NULLS_FIRST, " NULLS FIRST"},
		{false, SCF_NULLS_LAST, " NULLS LAST"},
		{false, SCF_OR, "|or"},
		{true, SCF2_MULTI, "|any"},
		{true, SCF2_SEMI, "|semi"},
		{true, SCF2_PERROW, "|per-row"},
		{true, SCF2_BARE, "|bare"},
		{true, SCF2_ISTRUE, "|istrue"},
		{true, SCF2_ISFALSE, "|isfalse"},
		{true, SCF2_INFIX, "|infix"},
		{true, SCF2_NOT, "|not"},
	};
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if ((marks[i].second ? c->flags2 : c->flags) & marks[i].bit)
			out_cat(o, marks[i].text);
}

static const char *group_name(ShapeUse use, uint8_t flags)
{
	if (use == SU_LIKE) {
		if (flags & SCF_ILIKE)
			return (flags & SCF_PREFIX) ? "iprefix" : "ilike";
		return (flags & SCF_PREFIX) ? "prefix" : "like";
	}
	return shape_use_str(use);
}

/* Renders the columns of one table (or of one unresolved candidate set) grouped by use. */
static void out_groups(Out *o, const QueryShape *s, uint16_t table, uint32_t cand, const char *text,
		       size_t tlen, bool *any)
{
	static const ShapeUse order[] = {SU_WRITE, SU_EQ,     SU_IS_NULL, SU_IS_NOT_NULL,
					 SU_RANGE, SU_SEARCH, SU_LIKE,	  SU_JOIN,
					 SU_ORDER, SU_GROUP,  SU_SELECT};
	const ShapeCol *cols = shape_cols(s);
	bool limit = false;
	for (size_t u = 0; u < sizeof(order) / sizeof(order[0]); u++) {
		/* LIKE splits into prefix/like/iprefix/ilike groups */
		for (int variant = 0; variant < (order[u] == SU_LIKE ? 4 : 1); variant++) {
			uint8_t want = (uint8_t)((variant & 1 ? SCF_PREFIX : 0) |
						 (variant & 2 ? SCF_ILIKE : 0));
			bool open = false;
			for (size_t i = 0; i < s->n_cols; i++) {
				const ShapeCol *c = &cols[i];
				if (c->use != order[u] || c->table != table ||
				    (table == SHAPE_NONE && c->candidates != cand))
					continue;
				if (order[u] == SU_LIKE &&
				    (c->flags & (SCF_PREFIX | SCF_ILIKE)) != want)
					continue;
				if (c->use == SU_ORDER && (c->flags & SCF_LIMIT))
					limit = true;
				if (!open) {
					out_cat(o, *any ? " " : ": ");
					out_cat(o, group_name(order[u], c->flags));
					out_add(o, "(", 1);
					open = true;
					*any = true;
				} else {
					out_add(o, ", ", 2);
				}
				out_col(o, s, c, text, tlen);
			}
			if (open)
				out_add(o, ")", 1);
		}
	}
	if (limit)
		out_cat(o, " limit");
}

size_t shape_render(const QueryShape *s, const char *text, size_t text_len, char *buf, size_t cap)
{
	Out o = {buf, cap, 0};
	static const char *writes[SK__COUNT] = {[SK_INSERT] = "insert",
						[SK_UPDATE] = "update",
						[SK_DELETE] = "delete",
						[SK_MERGE] = "merge"};
	if (s == NULL) {
		out_cat(&o, "-");
	} else {
		const ShapeTable *tabs = shape_tables(s);
		const ShapeCol *cols = shape_cols(s);
		for (uint16_t t = 0; t < s->n_tables; t++) {
			bool any = false;
			if (t)
				out_cat(&o, "; ");
			out_table_name(&o, s, t);
			if (*shape_str(s, tabs[t].alias)) {
				out_cat(&o, " AS ");
				out_cat(&o, shape_str(s, tabs[t].alias));
			}
			if (tabs[t].write < SK__COUNT && writes[tabs[t].write]) {
				out_cat(&o, ": ");
				out_cat(&o, writes[tabs[t].write]);
				any = true;
			}
			out_groups(&o, s, t, 0, text, text_len, &any);
		}
		/* unresolved columns, one section per candidate set, in first-seen order */
		for (size_t i = 0; i < s->n_cols; i++) {
			if (cols[i].table != SHAPE_NONE)
				continue;
			bool seen = false;
			for (size_t k = 0; k < i && !seen; k++)
				seen = cols[k].table == SHAPE_NONE &&
				       cols[k].candidates == cols[i].candidates;
			if (seen)
				continue;
			bool any = false, first = true;
			if (s->n_tables || i)
				out_cat(&o, "; ");
			out_cat(&o, "?(");
			for (uint16_t t = 0; t < s->n_tables && t < 32; t++) {
				if (!(cols[i].candidates & (1u << t)))
					continue;
				if (!first)
					out_add(&o, ",", 1);
				out_table_name(&o, s, t);
				first = false;
			}
			out_add(&o, ")", 1);
			out_groups(&o, s, SHAPE_NONE, cols[i].candidates, text, text_len, &any);
		}
	}
	if (cap > 0)
		buf[o.n < cap ? o.n : cap - 1] = 0;
	return o.n;
}
