/*
 * authquery: PgBouncer's auth_user / auth_query. A user with no auth_file line has its secret
 * (md5 or SCRAM, never a plain password) read from PostgreSQL: pgsift connects as auth_user to
 * auth_dbname (else the pool's database) with libpq, driven by the event loop (nonblocking
 * connect, send and read; no call waits), with search_path set to pg_catalog, pg_temp so that
 * auth_user's own settings cannot redirect the query, and runs auth_query with $1 = the user.
 *
 * Answers are kept for AUTHQUERY_CACHE_MS, a user that does not exist or has no valid password
 * (PgBouncer's default query turns an expired rolvaliduntil into NULL) included, so that a
 * burst of logins costs one query. A failing lookup (auth_user cannot log in, the query errs) is
 * reported as an error for the client, never as a login.
 */
#ifndef PGSIFT_AUTHQUERY_H
#define PGSIFT_AUTHQUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "proxy/types.h"

#define AUTHQUERY_CACHE_MS 30000

typedef struct AuthLookup AuthLookup;

/* The lookup ended: found false with error NULL means no such user (or no valid password);
 * error set means the lookup itself failed. secret lives until the callback returns. */
typedef void (*AuthLookupDone)(void *arg, bool found, const char *secret, const char *error);

/* The auth_user that applies to pool's database (per-database auth_user, else auth_user), or
 * NULL when there is none. */
const char *authquery_user(const Pool *pool);

/* A cached answer for (pool's database, user): true when there is one (then *found / *secret,
 * valid until the next call into this module). */
bool authquery_cached(const Pool *pool, const char *user, bool *found, const char **secret);

/* Starts a lookup; cb runs later (never from inside this call). NULL when it cannot start:
 * *error says why. */
AuthLookup *authquery_start(const Pool *pool, const char *user, AuthLookupDone cb, void *arg,
			    const char **error);

/* The client went away: cb will not run. */
void authquery_cancel(AuthLookup *l);

/* Frees the cache (at exit). */
void authquery_cleanup(void);

#endif
