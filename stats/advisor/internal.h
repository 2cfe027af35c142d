/*
 * The advisor's internals, shared by its files (see advisor.h for the library and
 * docs/ARCHITECTURE.md for how the files divide the work): statements.c takes statements in,
 * needs.c turns each into requirements on its tables, plan.c merges them into suggestions,
 * sql.c writes an index's SQL.
 *
 * Each statement's shape gives, per table, one *requirement*: a set of equality columns (whose
 * order within the index is free), then a tail in a fixed order (one range column, or the ORDER
 * BY columns with their directions), an optional partial predicate, the index method. A
 * requirement is served by an index whose first keys are exactly the equality set (in any order)
 * followed by the tail (directions all as written or all reversed, since a btree reads both
 * ways). Requirements served by an existing valid index are dropped; the rest are merged (plan.c).
 */
#ifndef PGSIFT_ADVISOR_INTERNAL_H
#define PGSIFT_ADVISOR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parser/shape.h"
#include "stats/advisor/advisor.h"

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

RelMap *adv_resolve_rel(Advisor *adv, const char *schema, const char *name);
bool adv_reqcols_has(const ReqCol *cols, size_t n, const char *expr);
void adv_stmt_requirements(Advisor *adv, size_t si);
void adv_count_null_tests(Advisor *adv, const bool *take);
bool adv_expr_eq(const char *a, const char *b);
void *adv_grow(void *arr, size_t n, size_t size);
char *adv_strdup(const char *s);
char *adv_strndup(const char *s, size_t n);
char *adv_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void adv_skip(Advisor *adv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
