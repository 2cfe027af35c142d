/*
 * store_read: the reader of the fleet statistics store (stats_store_load_pg in stats/stats.h;
 * the tables are described in README.md, "Fleet statistics"). This header is its internal side:
 * the parsers of the values it reads as text (PostgreSQL's integer array literals and the jsonb
 * of error_classes and samples), public so that the unit tests feed them bad input directly.
 * Each treats its input as untrusted and says why it refuses it; none of them crashes on it.
 */
#ifndef PGSIFT_STATS_STORE_READ_H
#define PGSIFT_STATS_STORE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats/digest.h"

/* The version of the tables this pgsift reads (pgsift_schema_version's one row). */
#define STORE_READ_VERSION 1

/*
 * A one-dimensional integer array as PostgreSQL prints it ("{1,2,3}", "{}") into *out (malloc'd,
 * NULL when empty; the caller frees) and *n. false, *why set, for anything else: NULL elements,
 * nested arrays, explicit bounds ("[0:1]={...}"), values out of int64's range, garbage.
 */
bool store_read_int_array(const char *lit, int64_t **out, size_t *n, const char **why);

/* error_classes' jsonb ({"23": 4, "57": 1}) added into a->err (kept sorted by class; a->errors
 * is not touched). Each key is a two-character SQLSTATE class, each value a count >= 0. */
bool store_read_err_classes(const char *json, DigestAgg *a, const char **why);

/* samples' jsonb ([{"text": "...", "params": ["v1", null]}, ...], as the stats file keeps them)
 * into d's samples, which must be empty: the first DIGEST_SAMPLES elements. A missing or null
 * text or params is NULL, a null value is "NULL" (as the proxy samples a NULL parameter). */
bool store_read_samples(const char *json, Digest *d, const char **why);

#endif
