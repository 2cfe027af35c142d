/*
 * dashboard: the web dashboard on metrics_listen (issue 17). `GET /` is one self-contained page
 * (dashboard.html, embedded at build time: no external script, font or stylesheet); it reads
 * the JSON endpoints below and refreshes itself. Nothing here changes pgsift's state.
 *
 *   /api/pools        pools (clients active and waiting, servers, max wait), connection counts,
 *                     statements per second, errors, timeouts, dropped statistics events
 *   /api/queries      top statements (window=1h|24h|7d|14d|all, sort=total|calls|p99|mean|
 *                     errors, limit <= DASH_LIMIT_MAX, offset), each with its hourly series
 *   /api/query        one statement (fingerprint, database, user, window): its row, hourly
 *                     series, errors by SQLSTATE class, and the tables and columns it filters,
 *                     joins and sorts by (parsed from its normalized text)
 *   /api/slow         the latest statements over slow_query_ms (SHOW SLOW), limit
 *   /api/suggestions  the index advisor over the live statistics, as SHOW SUGGESTIONS runs it,
 *                     with the evidence and the migration `pgsift suggest --format sql` prints
 *
 * The event loop only routes, checks that a password is needed, copies the pool lists (bounded
 * by the number of pools, as /metrics does) and writes answers from the buffer they were
 * rendered in. Everything else runs on two threads of the dashboard's own at nice 19 (one for
 * the statistics, one for the advisor, which waits on libpq), never on the loop nor on the
 * libuv threadpool, with at most DASH_PENDING_MAX requests waiting per thread (503 beyond). A
 * window's statistics are copied at most once per DASH_CACHE_MS (and answers of /api/queries
 * and /api/query reused as long); the advisor's answer is kept DASH_ADVISOR_MS.
 *
 * Access: on a loopback metrics_listen with dashboard_users empty, no password. Otherwise only
 * dashboard_users, with HTTP basic auth checked against auth_file (plain, md5 or SCRAM secrets;
 * checked on the worker, since a SCRAM secret costs a PBKDF2). A non-loopback metrics_listen
 * without dashboard_users serves no dashboard (403); /metrics is unchanged.
 */
#ifndef PGSIFT_DASHBOARD_H
#define PGSIFT_DASHBOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proxy/http.h"
#include "stats/stats.h"

#define DASH_LIMIT_MAX 500
#define DASH_LIMIT_DEFAULT 20
#define DASH_PENDING_MAX 16
#define DASH_CACHE_MS 1000
#define DASH_ADVISOR_MS 30000

/* One answer. body is malloc'ed and belongs to whoever receives the reply. */
typedef struct DashReply {
	int status;
	const char *type;    /* Content-Type (static) */
	const char *headers; /* more header lines, each ending in CRLF, or NULL (static) */
	char *body;
	size_t len;
} DashReply;

typedef struct DashJob DashJob;

/* Called on the loop with the answer; takes reply->body. */
typedef void (*DashDoneFn)(void *arg, DashReply *reply);

/* Whether path is the dashboard's: "/", "/index.html" or under "/api/". */
bool dashboard_is_path(const char *path);

/*
 * Answers req (a GET or HEAD of a dashboard path). loopback: metrics_listen is a loopback
 * address. Returns NULL with *now set when the answer is known at once (404, 401, 403, 503),
 * else the job whose answer comes later through done(arg, reply) on the loop. When the
 * connection goes first, call dashboard_forget(job): done is then never called.
 */
DashJob *dashboard_start(const HttpRequest *req, bool loopback, DashDoneFn done, void *arg,
			 DashReply *now);
void dashboard_forget(DashJob *job);
/* Forgets every job (shutdown): their answers are dropped when the workers finish. */
void dashboard_stop(void);

/* ---- the JSON, exposed for the unit tests ---- */

typedef enum {
	DASH_SORT_TOTAL = 0,
	DASH_SORT_CALLS,
	DASH_SORT_P99,
	DASH_SORT_MEAN,
	DASH_SORT_ERRORS,
} DashSort;

/* "total", "calls", "p99", "mean", "errors"; false otherwise. */
bool dashboard_sort_parse(const char *s, DashSort *out) __attribute__((warn_unused_result));
/* "1h", "24h", "7d", "14d" (since = now - that) or "all" (0); false otherwise. */
bool dashboard_window_parse(const char *s, int64_t now_us, int64_t *since_us)
	__attribute__((warn_unused_result));
/* The indexes in q of its rows ordered by sort (descending, then by fingerprint, database and
 * user), from offset, at most limit of them, into idx (room for limit); returns how many. */
size_t dashboard_top(const StatsQueries *q, DashSort sort, size_t offset, size_t limit,
		     size_t *idx);
/* One statement as the JSON object the page reads; hours may be NULL (no "hours" key). */
void dashboard_json_row(FILE *f, const StatsQueryRow *r, const StatsHours *hours);
/* A JSON string (quotes included), or null for NULL. */
void dashboard_json_str(FILE *f, const char *s);

#endif
