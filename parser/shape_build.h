/*
 * shape_build: private to parser/. Builds a QueryShape from a libpg_query protobuf parse tree.
 * Kept apart from shape.h so that only the parser .c files ever see a PgQuery* type.
 */
#ifndef PGSIFT_PARSER_SHAPE_BUILD_H
#define PGSIFT_PARSER_SHAPE_BUILD_H

#include <pg_query/pg_query.pb-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parser/shape.h"

/*
 * Positions of the literals the shape depends on beyond their being constants: the ordinal of an
 * ORDER BY 2, the 'day' of an expression date_trunc('day', created_at). A cache entry shared by
 * texts that differ only in constants must check those are the same.
 */
typedef struct ShapePins {
	uint32_t *pos; /* owned */
	size_t n, cap;
} ShapePins;

/*
 * The shape of one statement (the RawStmt's stmt node) of text, or NULL when the statement has
 * none (utility statements) or on allocation failure. The result is malloc'ed; pins gets the
 * positions of the literals the shape depends on (appended).
 */
QueryShape *shape_build(const PgQuery__Node *stmt, const char *text, size_t len, ShapePins *pins);

void shape_pins_free(ShapePins *pins);

#endif
