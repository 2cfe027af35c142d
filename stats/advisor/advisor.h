/*
 * advisor.h: the index advisor's reasoning, with no I/O (statements.c, needs.c, plan.c, sql.c). Statements (text, calls, times) go in
 * through advisor_add_statement(); the parser gives each one's shape, and every relation it names
 * is resolved through a caller-supplied function (the libpq catalog in catalog.c, a hand-built
 * table set in the unit tests, or nothing at all when no --dsn is given). advisor_plan() then
 * turns the per-table evidence into index suggestions: equality columns first (most selective
 * first), then one range column or the ORDER BY columns with their directions; expression,
 * LIKE-prefix (text_pattern_ops), pg_trgm GIN and partial indexes; requirements an existing
 * valid index already serves are dropped and the rest merged when their keys share a prefix.
 *
 * Validation with HypoPG, reading the catalog and printing are left to validate.c, catalog.c and
 * output.c. Everything here is owned by the Advisor and freed by advisor_free().
 */
#ifndef PGSIFT_ADVISOR_ADVISOR_H
#define PGSIFT_ADVISOR_ADVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parser/parser.h"

#define ADV_MAX_KEY 8

/* What pg_stats and pg_attribute say about one column. */
typedef struct AdvColumn {
	char *name;	   /* as stored (not quoted) (owned) */
	bool has_stats;	   /* pg_stats has a row for it */
	double n_distinct; /* pg_stats: > 0 a count, < 0 a fraction of the rows */
	double null_frac;
	char **mcv; /* most_common_vals as text, unquoted (owned) */
	double *mcv_freq;
	size_t n_mcv;
	double correlation;
	bool c_collation; /* collation is C or POSIX (LIKE 'x%' can use the default opclass) */
	bool btree_ok;	  /* the type has a default btree operator class */
	bool gin_ok;	  /* and a default GIN one (tsvector, jsonb, arrays) */
} AdvColumn;

/* One key column of an index, existing or suggested. */
typedef struct AdvKey {
	char *expr;	  /* column name (unquoted) or expression text (owned) */
	bool is_expr;	  /* expr is an expression, e.g. "lower(email)" */
	bool desc;	  /* DESC */
	bool nulls_first; /* effective NULLS FIRST (the default for DESC) */
	char *opclass;	  /* non-default operator class, or NULL (owned) */
} AdvKey;

/* An existing index, from the catalog. */
typedef struct AdvIndex {
	char *name;   /* schema-qualified as regclass prints it (owned) */
	char *method; /* btree, gin, hash... (owned) */
	AdvKey *keys; /* key columns (owned) */
	size_t n_keys;
	size_t n_include;
	char *predicate; /* partial index's WHERE, or NULL (owned) */
	bool unique, primary, valid, constraint;
	int64_t size_bytes;
	int64_t scans;
} AdvIndex;

/* A table the statements use, resolved (views to base tables, partitions to their parent). */
typedef struct AdvTable {
	char *schema; /* (owned) */
	char *name;   /* (owned) */
	char relkind; /* 'r', 'p' (partitioned), 'm' (materialized view); 0 when not read */
	bool known;   /* read from a catalog: columns, indexes and sizes are real */
	double rows; /* reltuples (estimated for partitioned / never analyzed tables); < 0 unknown */
	double pages;
	AdvColumn *cols; /* (owned) */
	size_t n_cols;
	AdvIndex *indexes; /* (owned) */
	size_t n_indexes;
	double writes_per_min; /* pg_stat_user_tables since its reset; < 0 unknown */
	double hot_update_pct; /* share of updates that were HOT; < 0 unknown */
	/* Evidence from the statements. */
	uint64_t write_calls; /* INSERT/UPDATE/DELETE/MERGE statements seen */
	char **updated;	      /* columns UPDATE statements set (owned) */
	size_t n_updated;
	uint64_t select_calls; /* SELECT statements that read it, seen */
} AdvTable;

typedef struct Advisor Advisor;

typedef enum {
	ADV_REL_TABLE = 0, /* out->table is the table to use */
	ADV_REL_VIEW,	   /* out->view_sql is the view's definition: the statement is rewritten */
	ADV_REL_SKIP,	   /* out->why says why (foreign table, catalog, not found) */
} AdvRelKind;

typedef struct AdvResolved {
	AdvRelKind kind;
	AdvTable *table;
	char *view_sql; /* malloc'ed; the advisor frees it */
	char why[128];
} AdvResolved;

/* Resolves a relation as a statement names it (schema "" when not written). Called once per
 * distinct name; the answer is remembered. */
typedef void (*AdvResolveFn)(void *arg, Advisor *adv, const char *schema, const char *name,
			     AdvResolved *out);

typedef struct AdvisorOptions {
	int64_t min_table_rows;	    /* advisor_min_table_rows */
	uint64_t min_calls;	    /* --min-calls */
	double negligible_pct;	    /* --negligible-pct (0.01): fingerprints under this share (%) of
				 * the window's total time are ignored */
	bool trgm_installed;	    /* pg_trgm is installed in the database */
	uint64_t include_min_calls; /* a statement this hot with a small select list gets INCLUDE */
	/* --validate: the planner-cost saving a suggestion must bring (advisor_min_saving_pct,
	 * --min-saving-pct), and on a write-heavy table (--write-heavy-saving-pct): one with more
	 * than write_heavy_writes_per_min writes a minute (pg_stat_user_tables), or more calls of
	 * write statements on it than of statements that read it */
	int min_saving_pct;		   /* 30 */
	int write_heavy_saving_pct;	   /* 50 */
	double write_heavy_writes_per_min; /* 1000 */
} AdvisorOptions;

void advisor_options_default(AdvisorOptions *o);

Advisor *advisor_new(const AdvisorOptions *opts, AdvResolveFn resolve, void *resolve_arg);
const AdvisorOptions *advisor_options(const Advisor *adv);
void advisor_free(Advisor *adv);

/* The table with that schema and name, created (unknown, no catalog data) when new. */
AdvTable *advisor_table(Advisor *adv, const char *schema, const char *name);
/* Every table resolved so far. */
AdvTable *const *advisor_tables(const Advisor *adv, size_t *n);
/* Adds a column / an index to a table being described (by a resolver or a test). */
AdvColumn *advisor_table_add_column(AdvTable *t, const char *name);
AdvIndex *advisor_table_add_index(AdvTable *t, const char *name, const char *method);
AdvKey *advisor_index_add_key(AdvIndex *ix, const char *expr, bool is_expr, bool desc,
			      const char *opclass);

/* One statement (or several, `;`-separated) of the window. text may hold literals or $n. */
typedef struct AdvStatementIn {
	const char *text;
	const char *display;  /* normalized text to show; NULL = the parser's normalization */
	uint64_t fingerprint; /* 0 = the parser's */
	uint64_t calls;
	double total_ms;	   /* < 0 unknown */
	double p95_ms;		   /* < 0 unknown */
	const char *const *params; /* one execution's parameter values ($1..), may be NULL */
	size_t n_params;
} AdvStatementIn;

/* The n values of a sample's parameter buffer of len bytes ('\0'-terminated one after the
 * other) as an array pointing into it (free the array, not the values); NULL when there are
 * none or the buffer holds fewer. */
const char **advisor_split_params(const char *buf, size_t len, uint16_t n);

/* Returns how many statements of the text were taken. Statements with the same fingerprint are
 * added together. */
size_t advisor_add_statement(Advisor *adv, const AdvStatementIn *in);

/* A statement as the advisor keeps it. */
typedef struct AdvStatement {
	uint64_t fingerprint;
	uint64_t shape_key; /* hash of the shape without its constants: statements libpg_query
			     * fingerprints apart ('{}' and ARRAY[...]) but that need the same
			     * indexes are one statement */
	char *text;	    /* the text that was parsed (view-expanded), literals or $n (owned) */
	char *display;	    /* normalized text (owned) */
	StmtKind kind;
	uint64_t calls;
	double total_ms, p95_ms; /* < 0 unknown */
	char **params;		 /* sampled parameter values (owned), may be empty */
	size_t n_params;
	bool needs_planner; /* a MATERIALIZED CTE: only the planner can tell what reaches a table */
	QueryShape *shape;  /* of text (owned), NULL when it has none */
} AdvStatement;

/* A suggested index. */
typedef struct AdvSuggestion {
	AdvTable *table;
	char method[8];
	AdvKey keys[ADV_MAX_KEY]; /* (owned) */
	size_t n_keys;
	char *include[4]; /* (owned) */
	size_t n_include;
	char *where; /* partial predicate or NULL (owned) */
	char name[64];
	size_t *stmts; /* indexes in advisor_statements() (owned) */
	char **paths;  /* per statement (parallel to stmts): the access path this index gives it,
			* e.g. "equality (user_id), then sort (created_at DESC)" (owned) */
	size_t n_stmts;
	uint64_t calls;
	double total_ms, p95_ms; /* < 0 unknown */
	bool needs_planner;	 /* only a planner check can confirm it (see AdvStatement) */
	/* Filled by validation; saving_pct < 0 when not validated. */
	double cost_before, cost_after, saving_pct;
	int required_saving_pct; /* the saving validation asked of it; -1 when not validated */
	char **updated_keys; /* key columns UPDATE statements change: no HOT for those (owned) */
	size_t n_updated_keys;
	char *notes[6]; /* (owned) */
	size_t n_notes;
	bool dropped;	/* removed by validation */
	char *drop_why; /* (owned) */
} AdvSuggestion;

/* Builds the suggestions from everything added. Returns 0 or -ENOMEM. May be called once. */
int advisor_plan(Advisor *adv);

const AdvSuggestion *advisor_suggestions(const Advisor *adv, size_t *n);
AdvSuggestion *advisor_suggestion_mut(Advisor *adv, size_t i);
const AdvStatement *advisor_statements(const Advisor *adv, size_t *n);
/* Why statements or tables gave nothing ("public.book: 0 rows, under advisor_min_table_rows"). */
const char *const *advisor_skips(const Advisor *adv, size_t *n);

/* `CREATE INDEX [CONCURRENTLY IF NOT EXISTS name] ON table USING method (keys) ...` into buf
 * (hypo = true: the plain form HypoPG takes). Returns the length needed, as snprintf. */
size_t advisor_index_sql(const AdvSuggestion *s, bool hypo, char *buf, size_t cap);
/* The key list as `(a, b DESC)`. */
size_t advisor_keys_sql(const AdvSuggestion *s, char *buf, size_t cap);
/* quote_ident: appends ident to buf quoted when PostgreSQL would need it. */
size_t advisor_quote_ident(const char *ident, char *buf, size_t cap);
/* The inside of a quoted identifier or literal s[0..n) (starts and ends with q, doubled q read as
 * one); malloc'd, NULL when out of memory. */
char *advisor_unquote(const char *s, size_t n, char q);
/* "schema.table" with identifiers quoted as needed. */
size_t advisor_table_sql(const AdvTable *t, char *buf, size_t cap);

void advisor_suggestion_note(AdvSuggestion *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void advisor_suggestion_drop(AdvSuggestion *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
