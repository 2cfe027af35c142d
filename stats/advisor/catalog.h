/*
 * catalog.h: what the advisor reads from the upstream database over libpq — relations resolved the
 * way the server resolves them (search_path, views to their definition, partitions to their
 * root), existing indexes (keys, DESC, expressions, predicate, operator classes, unique, valid),
 * table sizes, pg_stats and pg_stat_user_tables write counters. Read-only: it never changes the
 * database.
 */
#ifndef PGSIFT_ADVISOR_CATALOG_H
#define PGSIFT_ADVISOR_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "stats/advisor/advisor.h"

typedef struct Catalog Catalog;

/* Connects; NULL with a message in err on failure. */
Catalog *catalog_connect(const char *dsn, char *err, size_t errlen);
void catalog_free(Catalog *cat);
PGconn *catalog_conn(Catalog *cat);
bool catalog_has_extension(Catalog *cat, const char *name);

/* An AdvResolveFn: arg is the Catalog. */
void catalog_resolve(void *arg, Advisor *adv, const char *schema, const char *name,
		     AdvResolved *out);

/* Parses a PostgreSQL array literal ({a,"b c",NULL}) into malloc'ed strings; returns the count
 * (NULL elements are left out). *out is malloc'ed. */
size_t catalog_parse_array(const char *lit, char ***out);

/* Loads every user table that has an index (for `pgsift indexes`). Returns how many. */
size_t catalog_load_indexed_tables(Catalog *cat, Advisor *adv);
#endif
