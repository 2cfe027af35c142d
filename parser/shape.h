/*
 * shape: what a statement does with each base table, in the form the index advisor wants it —
 * which columns it filters on and how (equality, IS NULL, range, LIKE prefix), joins on, sorts
 * and groups by, reads in the select list, and writes. The parser builds one per statement
 * (parser_cache_lookup); the stats worker keeps a copy per fingerprint and the advisor
 * accumulates column sets from it.
 *
 * A QueryShape is one flat block of memory: a header, then `n_tables` ShapeTable, then `n_cols`
 * ShapeCol, then a string pool. Nothing in it is a pointer (strings are offsets into the pool), so
 * `memcpy(dst, shape, shape->size)` or shape_copy() makes a complete, independent copy that may be
 * kept and read from any thread. The shape returned by the cache belongs to the cache (valid until
 * the next call on it); copy it to keep it.
 *
 * Positions (ShapeCol.const_pos/const_len) are byte offsets in the exact text that was given to
 * parser_cache_lookup(), so a later execution's constant can be read from that text without a parse.
 */
#ifndef PGSIFT_PARSER_SHAPE_H
#define PGSIFT_PARSER_SHAPE_H

#include <stddef.h>
#include <stdint.h>

#include "parser/parser.h"

#define SHAPE_NONE 0xffffu /* no table (unresolved column) / no peer */

typedef enum {
	SU_EQ = 0,	/* =, IN (...), = ANY(...), IS NOT DISTINCT FROM, a bare boolean column */
	SU_IS_NULL,	/* IS NULL */
	SU_IS_NOT_NULL, /* IS NOT NULL */
	SU_RANGE,	/* <, <=, >, >=, BETWEEN */
	SU_LIKE,	/* LIKE / ILIKE (SCF_PREFIX: constant prefix then a wildcard; SCF_ILIKE) */
	SU_JOIN,	/* a.x = b.y: one ShapeCol per side, each naming the other as peer */
	SU_ORDER,	/* ORDER BY (SCF_DESC, SCF_NULLS_*, SCF_LIMIT), in clause order */
	SU_GROUP,	/* GROUP BY, in clause order */
	SU_SELECT,	/* read in the select list or RETURNING ("*" for a star) */
	SU_WRITE,	/* INSERT column list, UPDATE SET list, MERGE SET / INSERT lists */
	SU_SEARCH, /* what a GIN index serves: the tsvector side of @@ (a column or to_tsvector(...)),
		    * the jsonb / array side of @>, <@, ?, ?|, ?&, && */
	SU__COUNT
} ShapeUse;

/* ShapeCol.flags */
#define SCF_EXPR 0x01	     /* name is an expression over the column, e.g. "lower(email)" */
#define SCF_DESC 0x02	     /* ORDER BY ... DESC */
#define SCF_NULLS_FIRST 0x04 /* explicit NULLS FIRST */
#define SCF_NULLS_LAST 0x08  /* explicit NULLS LAST */
#define SCF_LIMIT 0x10	     /* ORDER BY of a query with LIMIT / FETCH FIRST */
#define SCF_PREFIX 0x20	     /* LIKE pattern is a constant prefix followed by a wildcard */
#define SCF_ILIKE 0x40	     /* ILIKE rather than LIKE */
#define SCF_OR 0x80	     /* under OR or NOT: does not restrict the rows on its own */

/*
 * ShapeCol.flags2.
 * SCF2_MULTI: SU_EQ with several values (IN list, = ANY(...)): one index scan per value, so the
 * rows do not come out in the order of the next key.
 * SCF2_PERROW: SU_JOIN of the inner side of a subquery run once per outer row (LATERAL, a
 * correlated subquery outside EXISTS / IN): always a nested loop, whose probe wants it indexed.
 * SCF2_SEMI: SU_JOIN of the subquery's side of a semi-join: y of `x IN (SELECT y ...)`, s.y of
 * `EXISTS (SELECT ... FROM s WHERE s.y = x)`.
 * SCF2_BARE, SCF2_ISTRUE, SCF2_ISFALSE: SU_EQ written as `WHERE starred`, `starred IS TRUE`,
 * `starred IS FALSE`.
 * SCF2_INFIX: SU_LIKE whose pattern is an expression starting with a '%' literal.
 */
#define SCF2_MULTI 0x01
#define SCF2_PERROW 0x02
#define SCF2_SEMI 0x04
#define SCF2_BARE 0x08
#define SCF2_ISTRUE 0x10
#define SCF2_ISFALSE 0x20
#define SCF2_INFIX 0x40 /* SU_LIKE whose pattern is built as '%' || $1 || '%' (or concat) */
#define SCF2_NOT 0x80	/* SU_EQ written as NOT col (a boolean column) */

typedef enum {
	SCK_NONE = 0, /* no constant (compared with another expression, or IS NULL...) */
	SCK_CONST,    /* a literal: 'QUEUED', 42, -5, true, NULL, DATE '2024-01-01' */
	SCK_LIST,     /* several literals: IN ('a','b'), ANY(ARRAY[1,2]), BETWEEN 1 AND 5: the span
		       * from the first one's start to the last one's end */
	SCK_PARAM,    /* a $n parameter */
} ShapeConstKind;

typedef struct ShapeTable {
	uint32_t schema; /* string offset: schema as written, "" when not written */
	uint32_t name;	 /* string offset: relation name (case-folded as PostgreSQL does) */
	uint32_t alias;	 /* string offset: alias, "" when none */
	uint8_t write;	 /* SK_INSERT, SK_UPDATE, SK_DELETE or SK_MERGE when this is the statement's
			  * target, else 0 */
	uint8_t pad;
	uint16_t block; /* the query block whose FROM names it */
} ShapeTable;

typedef struct ShapeCol {
	uint16_t table;	     /* index in the shape's tables, or SHAPE_NONE when unresolved */
	uint8_t use;	     /* ShapeUse */
	uint8_t flags;	     /* SCF_* */
	uint32_t name;	     /* string offset: column name, or expression text (SCF_EXPR) */
	uint32_t candidates; /* unresolved: bit i set when tables[i] may own it (first 32 tables) */
	uint16_t peer;	     /* SU_JOIN: index of the other side's ShapeCol, else SHAPE_NONE */
	uint8_t const_kind;  /* ShapeConstKind */
	uint8_t flags2;	     /* SCF2_* */
	uint32_t const_pos;  /* with const_kind: byte offset in the looked-up text */
	uint32_t const_len;  /* with const_kind: bytes */
	uint16_t block;	     /* the query block (SELECT, a set operation's arm...) it belongs to */
	uint16_t pad;
} ShapeCol;

/* QueryShape.flags */
#define SHF_TRUNCATED 0x01 /* more tables or columns than a shape holds: some were left out */

struct QueryShape {
	uint32_t size; /* bytes of the whole block, this header included */
	uint16_t n_tables;
	uint16_t n_cols;
	uint32_t strings; /* offset of the string pool from the start of the block */
	uint16_t flags;	  /* SHF_* */
	uint16_t pad;
	/* ShapeTable tables[n_tables]; ShapeCol cols[n_cols]; char strings[]; */
};

static inline const ShapeTable *shape_tables(const QueryShape *s)
{
	return (const ShapeTable *)(const void *)(s + 1);
}

static inline const ShapeCol *shape_cols(const QueryShape *s)
{
	return (const ShapeCol *)(const void *)((const char *)(s + 1) +
						(size_t)s->n_tables * sizeof(ShapeTable));
}

static inline const char *shape_str(const QueryShape *s, uint32_t off)
{
	return (const char *)s + s->strings + off;
}

const char *shape_use_str(ShapeUse use);

/* A malloc'ed copy (free with free()), or NULL when out of memory. */
QueryShape *shape_copy(const QueryShape *s);

/*
 * Compact text of the shape, one section per table in order, separated by "; ":
 *   `posts: eq(user_id=$1) range(created_at='2024-01-01') order(created_at DESC) limit`
 * Sections: `[schema.]name[ AS alias]:` then, when the table is the target of a write, its kind
 * (`insert`, `update`, `delete`, `merge`), then groups `set(...)` `eq(...)` `isnull(...)`
 * `notnull(...)` `range(...)` `prefix(...)`/`like(...)` (ILIKE: `iprefix`/`ilike`)
 * `join(col=other.col)` `order(...)` `group(...)` `select(...)`, then `limit` when a LIMIT
 * applies to the ORDER BY. Constants are shown as `=<text>` (a list as `=(<text>)`) when text
 * is given, `@pos+len` otherwise; `|or` marks a column under OR/NOT, `|any` an equality with
 * several values, `|semi` a semi-join, `|per-row` the inner side of a per-row subquery. Unresolved columns come
 * last, grouped under `?(candidate,tables):`. Writes at most cap bytes (NUL included) and returns the length the
 * whole text needs, as snprintf does.
 */
size_t shape_render(const QueryShape *s, const char *text, size_t text_len, char *buf, size_t cap);

#endif
