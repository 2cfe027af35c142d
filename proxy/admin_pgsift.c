/*
 * admin_pgsift: the admin commands pgsift has and PgBouncer has not. SHOW QUERIES (per-query
 * statistics, as pg_stat_statements keeps them), SHOW SLOW (the slow-query log's recent rows),
 * SHOW SUGGESTIONS (the index advisor, run on a worker thread) and RESET STATS. They read the
 * stats module's snapshots; the command table is in admin.c.
 */
#include "proxy/admin_internal.h"

#include <stdlib.h>
#include <string.h>

#include "config/log.h"
#include "proxy/client.h"
#include "proxy/proxy.h"
#include "stats/advisor/live.h"
#include "stats/stats.h"

/* n '\0'-terminated values as a PostgreSQL text[] literal ({"a","b\\"c"}), every element
 * quoted; NULL for no values or out of memory. */
static char *admin_array_literal(const char *buf, size_t len, uint16_t n)
{
	if (!buf || !n)
		return NULL;
	size_t cap = 2 * len + 3 * (size_t)n + 3, o = 0;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	const char *p = buf, *end = buf + len;
	s[o++] = '{';
	for (uint16_t k = 0; k < n && p < end; k++) {
		if (k)
			s[o++] = ',';
		s[o++] = '"';
		for (; p < end && *p; p++) {
			if (*p == '"' || *p == '\\')
				s[o++] = '\\';
			s[o++] = *p;
		}
		s[o++] = '"';
		p++; /* its '\0' */
	}
	s[o++] = '}';
	s[o] = '\0';
	return s;
}

void admin_show_queries(PktBuf *b)
{
	static const AdminCol cols[] = {
		{"fingerprint", OID_TEXT}, {"query", OID_TEXT},	       {"database", OID_TEXT},
		{"user", OID_TEXT},	   {"calls", OID_INT8},	       {"errors", OID_INT8},
		{"timeouts", OID_INT8},	   {"rows", OID_INT8},	       {"total_ms", OID_FLOAT8},
		{"mean_ms", OID_FLOAT8},   {"p50_ms", OID_FLOAT8},     {"p95_ms", OID_FLOAT8},
		{"p99_ms", OID_FLOAT8},	   {"max_ms", OID_FLOAT8},     {"first_seen", OID_TEXT},
		{"last_seen", OID_TEXT},   {"sample_query", OID_TEXT}, {"sample_params", OID_TEXT},
	};
	StatsQueries q;
	if (stats_snapshot_queries(0, &q) != 0) {
		admin_error(b, "53200", "out of memory copying the query statistics");
		return;
	}
	admin_describe(b, cols, sizeof(cols) / sizeof(cols[0]));
	AdminRow r = {.n = 0};
	for (size_t i = 0; i < q.n; i++) {
		const StatsQueryRow *x = &q.rows[i];
		admin_row_str(&r, x->fingerprint);
		admin_row_str(&r, x->query);
		admin_row_str(&r, x->database);
		admin_row_str(&r, x->user);
		admin_row_u64(&r, x->calls);
		admin_row_u64(&r, x->errors);
		admin_row_u64(&r, x->timeouts);
		admin_row_u64(&r, x->rows);
		admin_row_ms(&r, x->total_ms);
		admin_row_ms(&r, x->mean_ms);
		admin_row_ms(&r, x->p50_ms);
		admin_row_ms(&r, x->p95_ms);
		admin_row_ms(&r, x->p99_ms);
		admin_row_ms(&r, x->max_ms);
		admin_row_iso_time(&r, x->first_seen_us);
		admin_row_iso_time(&r, x->last_seen_us);
		admin_row_str(&r, x->sample_query);
		char *params = admin_array_literal(x->sample_params, x->sample_params_len,
						   x->sample_n_params);
		admin_row_str(&r, params);
		admin_row_send(b, &r);
		free(params);
	}
	stats_queries_free(&q);
	pq_write_command_complete(b, "SHOW");
}

void admin_show_slow(PktBuf *b)
{
	static const AdminCol cols[] = {
		{"time", OID_TEXT},
		{"fingerprint", OID_TEXT},
		{"duration_ms", OID_FLOAT8},
		{"query", OID_TEXT},
		{"database", OID_TEXT},
		{"user", OID_TEXT},
		{"application_name", OID_TEXT},
		{"client_addr", OID_TEXT},
		{"rows", OID_INT8},
		{"sqlstate", OID_TEXT},
		{"timed_out", OID_BOOL},
	};
	StatsSlowList sl;
	if (stats_snapshot_slow(0, &sl) != 0) {
		admin_error(b, "53200", "out of memory copying the slow-query list");
		return;
	}
	admin_describe(b, cols, sizeof(cols) / sizeof(cols[0]));
	AdminRow r = {.n = 0};
	for (size_t i = 0; i < sl.n; i++) {
		const StatsSlowRow *x = &sl.rows[i];
		admin_row_iso_time(&r, x->end_wall_us);
		admin_row_str(&r, x->fingerprint);
		admin_row_ms(&r, x->duration_ms);
		admin_row_str(&r, x->query);
		admin_row_str(&r, x->database);
		admin_row_str(&r, x->user);
		admin_row_str(&r, x->application);
		admin_row_str(&r, x->client_addr);
		admin_row_u64(&r, x->rows);
		admin_row_str(&r, x->sqlstate[0] ? x->sqlstate : NULL);
		admin_row_str(&r, x->timed_out ? "t" : "f");
		admin_row_send(b, &r);
	}
	stats_slow_free(&sl);
	pq_write_command_complete(b, "SHOW");
}

bool admin_reset_stats(Client *c, const AdminCmd *cmd, PktBuf *b)
{
	(void)cmd;
	stats_reset();
	log_info("admin console: RESET STATS by %s", c->user);
	pq_write_command_complete(b, "RESET");
	return true;
}

/* ---- SHOW SUGGESTIONS ----
 *
 * The advisor reads catalogs over libpq, which blocks, so it runs on a libuv worker thread
 * (advisor_live_run over a snapshot of the statistics). Meanwhile the admin client's Query stays
 * in its buffer (admin_frame returned PA_WAIT) and nothing else it sent is handled; when the work
 * is done, conn_resume() hands the same Query to admin_frame again, which finds the finished job
 * and answers. A client that left in the meantime is looked up by pointer and cancel key (Client
 * objects are reused), not found, and its job is freed unanswered.
 */

typedef struct SuggestJob {
	uv_work_t req;
	Client *client; /* not owned: may be gone by the time the work is done */
	uint32_t cancel_pid, cancel_key;
	const Config *cfg; /* kept alive until exit by proxy.c's config history */
	AdvLiveResult result;
	bool done;
	struct SuggestJob *next;
} SuggestJob;

/* Jobs in flight, or done and waiting for their client to take the answer (owned). */
static SuggestJob *suggest_jobs;

static bool suggest_is_job_of(const SuggestJob *j, const Client *c)
{
	return j->client == c && j->cancel_pid == c->cancel_pid && j->cancel_key == c->cancel_key;
}

static void suggest_unlink(SuggestJob *job)
{
	for (SuggestJob **pp = &suggest_jobs; *pp; pp = &(*pp)->next) {
		if (*pp == job) {
			*pp = job->next;
			break;
		}
	}
	advisor_live_free(&job->result);
	free(job);
}

/* Worker thread: nothing here may touch the loop, a Client or G. */
static void suggest_work_cb(uv_work_t *req)
{
	SuggestJob *job = req->data;
	advisor_live_run(job->cfg, &job->result);
}

static void suggest_after_cb(uv_work_t *req, int status)
{
	SuggestJob *job = req->data;
	job->done = true;
	if (status != 0 && !job->result.error)
		job->result.error = strdup("cancelled");
	ListNode *n, *tmp;
	list_for_each_safe(n, tmp, &G.clients)
	{
		Client *c = list_entry(n, Client, all_node);
		if (suggest_is_job_of(job, c) && c->state == CL_ADMIN) {
			conn_resume(&c->conn);
			return;
		}
	}
	suggest_unlink(job);
}

/* Starts the job (false: wait) or, when this client's job is done, writes its answer to b. */
bool admin_show_suggestions(Client *c, const AdminCmd *cmd, PktBuf *b)
{
	(void)cmd;
	SuggestJob *job = suggest_jobs;
	while (job && !suggest_is_job_of(job, c))
		job = job->next;
	if (job && !job->done)
		return false;
	if (!job) {
		job = calloc(1, sizeof(*job));
		if (!job) {
			admin_error(b, "53200", "out of memory starting the index advisor");
			return true;
		}
		job->client = c;
		job->cancel_pid = c->cancel_pid;
		job->cancel_key = c->cancel_key;
		job->cfg = G.cfg;
		job->req.data = job;
		int rc = uv_queue_work(G.loop, &job->req, suggest_work_cb, suggest_after_cb);
		if (rc != 0) {
			free(job);
			admin_error(b, "58000", "could not start the index advisor: %s",
				    uv_strerror(rc));
			return true;
		}
		job->next = suggest_jobs;
		suggest_jobs = job;
		return false;
	}
	const AdvLiveResult *r = &job->result;
	if (r->error) {
		admin_error(b, "53200", "SHOW SUGGESTIONS: %s", r->error);
		suggest_unlink(job);
		return true;
	}
	for (size_t i = 0; i < r->n_notices; i++)
		pq_write_notice(b, r->notices[i], NULL);
	static const uint32_t oids[ADV_LIVE_COLS] = {
		[ADV_LIVE_DATABASE] = OID_TEXT,	    [ADV_LIVE_TABLE] = OID_TEXT,
		[ADV_LIVE_INDEX] = OID_TEXT,	    [ADV_LIVE_STATEMENTS] = OID_TEXT,
		[ADV_LIVE_CALLS] = OID_INT8,	    [ADV_LIVE_TOTAL_MS] = OID_FLOAT8,
		[ADV_LIVE_P95_MS] = OID_FLOAT8,	    [ADV_LIVE_SAVING_PCT] = OID_FLOAT8,
		[ADV_LIVE_TABLE_ROWS] = OID_FLOAT8, [ADV_LIVE_WRITES_PER_MIN] = OID_FLOAT8,
		[ADV_LIVE_REASON] = OID_TEXT,
	};
	AdminCol cols[ADV_LIVE_COLS];
	for (size_t k = 0; k < ADV_LIVE_COLS; k++)
		cols[k] = (AdminCol){advisor_live_columns[k], oids[k]};
	admin_describe(b, cols, ADV_LIVE_COLS);
	for (size_t i = 0; i < r->n_rows; i++)
		pq_write_data_row(b, (const char *const *)r->cells + i * ADV_LIVE_COLS,
				  ADV_LIVE_COLS);
	pq_write_command_complete(b, "SHOW");
	suggest_unlink(job);
	return true;
}
