/*
 * dashboard: the page and JSON endpoints on metrics_listen (see dashboard.h). The loop side
 * (dashboard_start) routes, refuses what it can refuse at once, copies the pools and queues a
 * job; the worker side renders JSON from the statistics' copies (stats_snapshot_*), parses a
 * statement's text for its tables and columns, and runs the index advisor. Jobs run in two lanes
 * of one job at a time, so the dashboard holds at most two threadpool threads however hard it
 * is polled, and what the loop does per request is bounded by the number of pools.
 */
#include "proxy/dashboard.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <openssl/crypto.h>

#include "config/config.h"
#include "config/log.h"
#include "parser/parser.h"
#include "parser/shape.h"
#include "proxy/auth_md5.h"
#include "proxy/client.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"
#include "proxy/scram.h"
#include "proxy/server.h"
#include "stats/advisor/advisor.h"
#include "stats/advisor/live.h"
#include "stats/advisor/output.h"
#include "util/json.h"

/* The page (dashboard.html), embedded by the build (proxy/CMakeLists.txt). */
extern const char dashboard_page[];
extern const size_t dashboard_page_len;

/* Rows of an /api/queries answer that carry their hourly series: keeps a 14-day answer of
 * DASH_LIMIT_MAX rows within a few MiB. */
#define DASH_HOURS_ROWS_MAX 50

typedef enum {
	DJ_PAGE = 0,
	DJ_POOLS,
	DJ_QUERIES,
	DJ_QUERY,
	DJ_SLOW,
	DJ_SUGGESTIONS,
} DashKind;

/* One pool as the loop saw it. */
typedef struct DashPool {
	char *database; /* owned */
	char *user;	/* owned */
	const char *mode;
	int size;
	size_t cl_active, cl_waiting, sv_active, sv_idle, sv_used, sv_login;
	double maxwait_s;
	uint64_t xacts, queries, wait_us;
} DashPool;

typedef struct DashLoopView {
	DashPool *pools; /* owned */
	size_t n_pools;
	size_t clients[CL_CLOSING + 1];
	size_t servers[SV_CLOSING + 1];
	bool paused;
	uint64_t uptime_s;
} DashLoopView;

struct DashJob {
	DashKind kind;
	int lane;
	bool head;
	bool need_auth;
	char query[HTTP_QUERY_MAX];
	char authorization[HTTP_AUTH_MAX];
	const Config *cfg; /* kept alive by proxy.c's config history */
	DashLoopView view; /* DJ_POOLS */
	DashReply reply;
	DashDoneFn done; /* NULL once forgotten (read and written on the loop only) */
	void *arg;
	DashJob *next; /* in its lane's waiting or done list */
};

/*
 * A lane: one thread of its own at the lowest CPU priority (nice DASH_NICE), not the libuv
 * threadpool, whose four threads also resolve the servers' names and run SHOW SUGGESTIONS.
 * Under CPU contention the dashboard then waits, not the proxy's loop. The loop appends jobs to
 * waiting and is woken through async for the done ones.
 */
typedef struct DashLane {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	DashJob *head, *tail; /* waiting, FIFO (mu) */
	size_t n_waiting;     /* (mu) */
	DashJob *done;	      /* answered, for the loop (mu) */
	bool stopping;	      /* (mu) */
	bool started;	      /* loop only */
	uv_async_t async;
	pthread_t thread;
} DashLane;

#define DASH_NICE 19

static DashLane lanes[2] = {
	{.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER},
	{.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER},
};

static bool lane_start(DashLane *l);
static void *lane_main(void *arg);
static void lane_async_cb(uv_async_t *a);
static void dash_work(DashJob *j);
static void view_copy(DashLoopView *v);
static void view_free(DashLoopView *v);
static void job_free(DashJob *j);
static void reply_text(DashReply *r, int status, const char *msg);
static bool auth_check(const Config *cfg, const char *authorization);
static void job_pools(DashJob *j, FILE *f);
static void job_queries(DashJob *j, FILE *f);
static void job_query(DashJob *j, FILE *f);
static void job_slow(DashJob *j, FILE *f);
static void job_suggestions(DashJob *j, FILE *f);
static int64_t now_wall_us(void);
static uint64_t now_mono_ms(void);
static void json_time(FILE *f, int64_t us);
static void json_num(FILE *f, double v);

bool dashboard_is_path(const char *path)
{
	return strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0 ||
	       strncmp(path, "/api/", 5) == 0;
}

DashJob *dashboard_start(const HttpRequest *req, bool loopback, DashDoneFn done, void *arg,
			 DashReply *now)
{
	memset(now, 0, sizeof(*now));
	static const struct {
		const char *path;
		DashKind kind;
	} routes[] = {
		{"/", DJ_PAGE},
		{"/index.html", DJ_PAGE},
		{"/api/pools", DJ_POOLS},
		{"/api/queries", DJ_QUERIES},
		{"/api/query", DJ_QUERY},
		{"/api/slow", DJ_SLOW},
		{"/api/suggestions", DJ_SUGGESTIONS},
	};
	int kind = -1;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(req->path, routes[i].path) == 0)
			kind = (int)routes[i].kind;
	if (kind < 0) {
		reply_text(now, 404,
			   "not found: the dashboard is /, its data /api/pools, /api/queries, "
			   "/api/query, /api/slow and /api/suggestions\n");
		return NULL;
	}
	const Config *cfg = G.cfg;
	bool has_users = cfg->dashboard_users && cfg->dashboard_users[0];
	bool need_auth = has_users || !loopback;
	if (need_auth && !has_users) {
		reply_text(now, 403,
			   "the dashboard is served on a non-loopback metrics_listen only to "
			   "dashboard_users (HTTP basic auth against auth_file)\n");
		return NULL;
	}
	if (need_auth && !req->authorization[0]) {
		reply_text(now, 401, "the dashboard needs a user of dashboard_users\n");
		return NULL;
	}
	int lane = kind == DJ_SUGGESTIONS ? 1 : 0;
	DashLane *l = &lanes[lane];
	if (!l->started && !lane_start(l)) {
		reply_text(now, 503, "the dashboard could not start its thread\n");
		return NULL;
	}
	pthread_mutex_lock(&l->mu);
	size_t waiting = l->n_waiting;
	pthread_mutex_unlock(&l->mu);
	if (waiting >= DASH_PENDING_MAX) {
		reply_text(now, 503, "the dashboard is busy: try again in a moment\n");
		return NULL;
	}
	DashJob *j = calloc(1, sizeof(*j));
	if (!j) {
		reply_text(now, 503, "out of memory\n");
		return NULL;
	}
	j->kind = (DashKind)kind;
	j->lane = lane;
	j->head = req->head;
	j->need_auth = need_auth;
	snprintf(j->query, sizeof(j->query), "%s", req->query);
	snprintf(j->authorization, sizeof(j->authorization), "%s", req->authorization);
	j->cfg = cfg;
	j->done = done;
	j->arg = arg;
	if (j->kind == DJ_POOLS)
		view_copy(&j->view);
	pthread_mutex_lock(&l->mu);
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
	l->n_waiting++;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	return j;
}

void dashboard_forget(DashJob *job)
{
	if (!job)
		return;
	job->done = NULL;
	job->arg = NULL;
	/* a job still waiting is dropped now; a running or answered one when the loop sees it */
	DashLane *l = &lanes[job->lane];
	pthread_mutex_lock(&l->mu);
	for (DashJob **pp = &l->head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
		if (*pp != job)
			continue;
		*pp = job->next;
		if (l->tail == job)
			l->tail = prev;
		l->n_waiting--;
		job_free(job);
		break;
	}
	pthread_mutex_unlock(&l->mu);
}

void dashboard_stop(void)
{
	for (int i = 0; i < 2; i++) {
		DashLane *l = &lanes[i];
		if (!l->started)
			continue;
		pthread_mutex_lock(&l->mu);
		l->stopping = true; /* the thread frees the job it runs, and ends */
		while (l->head) {
			DashJob *j = l->head;
			l->head = j->next;
			job_free(j);
		}
		l->tail = NULL;
		l->n_waiting = 0;
		while (l->done) {
			DashJob *j = l->done;
			l->done = j->next;
			job_free(j);
		}
		pthread_cond_signal(&l->cv);
		pthread_mutex_unlock(&l->mu);
		uv_close((uv_handle_t *)&l->async, NULL);
		l->started = false;
	}
}

/* ---- the lanes ---- */

static bool lane_start(DashLane *l)
{
	if (uv_async_init(G.loop, &l->async, lane_async_cb) != 0)
		return false;
	l->async.data = l;
	uv_unref((uv_handle_t *)&l->async);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	l->stopping = false;
	int rc = pthread_create(&l->thread, &attr, lane_main, l);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		uv_close((uv_handle_t *)&l->async, NULL);
		return false;
	}
	l->started = true;
	return true;
}

static void *lane_main(void *arg)
{
	DashLane *l = arg;
	/* best effort: a process may always lower its own threads' priority */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), DASH_NICE);
	pthread_mutex_lock(&l->mu);
	for (;;) {
		while (!l->head && !l->stopping)
			pthread_cond_wait(&l->cv, &l->mu);
		if (l->stopping)
			break;
		DashJob *j = l->head;
		l->head = j->next;
		if (!l->head)
			l->tail = NULL;
		l->n_waiting--;
		j->next = NULL;
		pthread_mutex_unlock(&l->mu);
		dash_work(j);
		pthread_mutex_lock(&l->mu);
		if (l->stopping) {
			job_free(j);
			break;
		}
		j->next = l->done;
		l->done = j;
		/* under mu: dashboard_stop closes async only after it has set stopping */
		uv_async_send(&l->async);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* On the loop: hands the answers to their connections. */
static void lane_async_cb(uv_async_t *a)
{
	DashLane *l = a->data;
	pthread_mutex_lock(&l->mu);
	DashJob *j = l->done;
	l->done = NULL;
	pthread_mutex_unlock(&l->mu);
	while (j) {
		DashJob *next = j->next;
		if (j->done)
			j->done(j->arg, &j->reply);
		job_free(j);
		j = next;
	}
}

static void job_free(DashJob *j)
{
	free(j->reply.body);
	view_free(&j->view);
	free(j);
}

/* What only the loop may read: pools and connections, as /metrics reads them. */
static void view_copy(DashLoopView *v)
{
	ListNode *n;
	for (n = G.clients.head.next; n != &G.clients.head; n = n->next)
		v->clients[list_entry(n, Client, all_node)->state]++;
	for (n = G.servers.head.next; n != &G.servers.head; n = n->next)
		v->servers[list_entry(n, Server, all_node)->state]++;
	v->paused = G.paused;
	uint64_t now = proxy_now_ms();
	v->uptime_s = (now - G.started_ms) / 1000;
	size_t count = 0;
	for (n = G.pools.head.next; n != &G.pools.head; n = n->next)
		count++;
	v->pools = count ? calloc(count, sizeof(*v->pools)) : NULL;
	if (!v->pools)
		return;
	for (n = G.pools.head.next; n != &G.pools.head; n = n->next) {
		const Pool *p = list_entry(n, Pool, node);
		DashPool *d = &v->pools[v->n_pools];
		d->database = strdup(p->dbname);
		d->user = strdup(p->user);
		if (!d->database || !d->user) {
			free(d->database);
			free(d->user);
			break;
		}
		d->mode = pool_mode_str(p->mode);
		d->size = p->size;
		d->cl_active = p->active_clients.count;
		d->cl_waiting = p->waiting_clients.count + p->login_clients.count;
		d->sv_active = p->active_servers.count;
		d->sv_idle = p->idle_servers.count;
		d->sv_used = p->used_servers.count;
		d->sv_login = p->login_servers.count;
		ListNode *w = list_first(&p->waiting_clients);
		if (w) {
			const Client *c = list_entry(w, Client, pool_node);
			if (c->wait_start_ms && now > c->wait_start_ms)
				d->maxwait_s = (double)(now - c->wait_start_ms) / 1000.0;
		}
		d->xacts = p->stats.xact_count;
		d->queries = p->stats.query_count;
		d->wait_us = p->stats.wait_time_us;
		v->n_pools++;
	}
}

static void view_free(DashLoopView *v)
{
	for (size_t i = 0; i < v->n_pools; i++) {
		free(v->pools[i].database);
		free(v->pools[i].user);
	}
	free(v->pools);
	v->pools = NULL;
	v->n_pools = 0;
}

static void reply_text(DashReply *r, int status, const char *msg)
{
	free(r->body);
	r->status = status;
	r->type = "text/plain; charset=utf-8";
	r->headers = status == 401 ?
			     "WWW-Authenticate: Basic realm=\"pgsift\", charset=\"UTF-8\"\r\n" :
			     NULL;
	r->body = strdup(msg);
	r->len = r->body ? strlen(r->body) : 0;
}

/* ---- the worker side: nothing below touches the loop, a connection or G ---- */

/* Answers of the statistics lane kept for DASH_CACHE_MS (lane 0 only: no lock). */
typedef struct DashCached {
	DashKind kind;
	char query[HTTP_QUERY_MAX];
	uint64_t at_ms;
	char *body;
	size_t len;
} DashCached;
static DashCached cache[8];
static size_t cache_next;

static bool cache_get(DashJob *j, uint64_t max_age_ms)
{
	uint64_t now = now_mono_ms();
	for (size_t i = 0; i < sizeof(cache) / sizeof(cache[0]); i++) {
		DashCached *c = &cache[i];
		if (!c->body || c->kind != j->kind || strcmp(c->query, j->query) != 0 ||
		    now - c->at_ms > max_age_ms)
			continue;
		char *b = malloc(c->len + 1);
		if (!b)
			return false;
		memcpy(b, c->body, c->len + 1);
		j->reply.body = b;
		j->reply.len = c->len;
		return true;
	}
	return false;
}

static void cache_put(DashJob *j)
{
	DashCached *c = &cache[cache_next++ % (sizeof(cache) / sizeof(cache[0]))];
	free(c->body);
	c->body = malloc(j->reply.len + 1);
	if (!c->body)
		return;
	memcpy(c->body, j->reply.body, j->reply.len + 1);
	c->len = j->reply.len;
	c->kind = j->kind;
	snprintf(c->query, sizeof(c->query), "%s", j->query);
	c->at_ms = now_mono_ms();
}

static void dash_work(DashJob *j)
{
	DashReply *r = &j->reply;
	if (j->need_auth && !auth_check(j->cfg, j->authorization)) {
		reply_text(r, 401,
			   "wrong user or password, or the user is not in dashboard_users\n");
		return;
	}
	if (j->kind == DJ_PAGE) {
		r->status = 200;
		r->type = "text/html; charset=utf-8";
		r->body = malloc(dashboard_page_len + 1);
		if (!r->body) {
			reply_text(r, 503, "out of memory\n");
			return;
		}
		memcpy(r->body, dashboard_page, dashboard_page_len);
		r->body[dashboard_page_len] = '\0';
		r->len = dashboard_page_len;
		return;
	}
	r->status = 200;
	r->type = "application/json";
	bool cacheable = j->kind == DJ_QUERIES || j->kind == DJ_QUERY;
	if (cacheable && cache_get(j, DASH_CACHE_MS))
		return;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		reply_text(r, 503, "out of memory\n");
		return;
	}
	switch (j->kind) {
	case DJ_POOLS:
		job_pools(j, f);
		break;
	case DJ_QUERIES:
		job_queries(j, f);
		break;
	case DJ_QUERY:
		job_query(j, f);
		break;
	case DJ_SLOW:
		job_slow(j, f);
		break;
	case DJ_SUGGESTIONS:
		job_suggestions(j, f);
		break;
	case DJ_PAGE:
		break;
	}
	fputc('\n', f);
	bool failed = ferror(f) != 0;
	fclose(f);
	if (failed || !buf) {
		free(buf);
		reply_text(r, 503, "out of memory\n");
		return;
	}
	r->body = buf;
	r->len = len;
	if (cacheable && r->status == 200)
		cache_put(j);
}

/* A parameter of the job's query string (decoded into buf), or dflt when absent or invalid. */
static const char *param(const DashJob *j, const char *name, char *buf, size_t cap,
			 const char *dflt)
{
	if (http_query_param(j->query, name, buf, cap))
		return buf;
	return dflt;
}

/* A bad parameter: 400 with a JSON error. */
static void bad_param(DashJob *j, FILE *f, const char *msg)
{
	j->reply.status = 400;
	fputs("{\"error\": ", f);
	dashboard_json_str(f, msg);
	fputc('}', f);
}

static bool param_count(const DashJob *j, const char *name, size_t dflt, size_t max, size_t *out)
{
	char buf[32];
	const char *s = param(j, name, buf, sizeof(buf), NULL);
	if (!s) {
		*out = dflt;
		return true;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return false;
	*out = (size_t)v;
	return true;
}

/* ---- /api/pools ---- */

static void job_pools(DashJob *j, FILE *f)
{
	const DashLoopView *v = &j->view;
	StatsCounters sc;
	bool have = stats_counters(&sc) == 0;
	/* statements per second between two answers at least a second apart (lane 0: no lock) */
	static uint64_t prev_ms, prev_queries;
	static double rate;
	uint64_t now = now_mono_ms();
	if (have) {
		if (prev_ms && now - prev_ms >= 1000 && sc.queries >= prev_queries)
			rate = (double)(sc.queries - prev_queries) * 1000.0 /
			       (double)(now - prev_ms);
		if (!prev_ms || now - prev_ms >= 1000) {
			prev_ms = now;
			prev_queries = sc.queries;
		}
	}
	fprintf(f, "{\"now\": ");
	json_time(f, now_wall_us());
	fprintf(f, ", \"uptime_s\": %" PRIu64 ", \"paused\": %s, \"clients\": {", v->uptime_s,
		v->paused ? "true" : "false");
	for (int st = 0; st <= CL_CLOSING; st++)
		fprintf(f, "%s\"%s\": %zu", st ? ", " : "", client_state_str((ClientState)st),
			v->clients[st]);
	fputs("}, \"servers\": {", f);
	for (int st = 0; st <= SV_CLOSING; st++)
		fprintf(f, "%s\"%s\": %zu", st ? ", " : "", server_state_str((ServerState)st),
			v->servers[st]);
	fputs("}, \"pools\": [", f);
	for (size_t i = 0; i < v->n_pools; i++) {
		const DashPool *p = &v->pools[i];
		fprintf(f, "%s{\"database\": ", i ? ", " : "");
		dashboard_json_str(f, p->database);
		fputs(", \"user\": ", f);
		dashboard_json_str(f, p->user);
		fprintf(f,
			", \"pool_mode\": \"%s\", \"pool_size\": %d, \"cl_active\": %zu, "
			"\"cl_waiting\": %zu, \"sv_active\": %zu, \"sv_idle\": %zu, \"sv_used\": "
			"%zu, "
			"\"sv_login\": %zu, \"maxwait_s\": %.3f, \"xacts\": %" PRIu64
			", \"queries\": %" PRIu64 ", \"wait_s\": %.6f}",
			p->mode, p->size, p->cl_active, p->cl_waiting, p->sv_active, p->sv_idle,
			p->sv_used, p->sv_login, p->maxwait_s, p->xacts, p->queries,
			(double)p->wait_us / 1e6);
	}
	fputs("], \"statistics\": ", f);
	if (!have) {
		fputs("null}", f);
		return;
	}
	fprintf(f,
		"{\"statements\": %" PRIu64 ", \"statements_per_s\": %.2f, \"errors\": %" PRIu64
		", \"timeouts\": %" PRIu64 ", \"cancelled\": %" PRIu64
		", \"slow_statements\": %" PRIu64 ", \"events_submitted\": %" PRIu64
		", \"events_dropped\": %" PRIu64 ", \"events_processed\": %" PRIu64
		", \"fingerprints\": %" PRIu64 ", \"fingerprints_folded\": %" PRIu64
		", \"databases\": [",
		sc.queries, rate, sc.errors, sc.timeouts, sc.cancelled, sc.slow_queries,
		sc.events_submitted, sc.events_dropped, sc.events_processed, sc.fingerprints,
		sc.folded);
	for (size_t i = 0; i < sc.n_dbs; i++) {
		fprintf(f, "%s{\"database\": ", i ? ", " : "");
		dashboard_json_str(f, sc.dbs[i].database);
		fprintf(f,
			", \"statements\": %" PRIu64 ", \"errors\": %" PRIu64
			", \"timeouts\": %" PRIu64 ", \"total_ms\": %.3f}",
			sc.dbs[i].queries, sc.dbs[i].errors, sc.dbs[i].timeouts,
			sc.dbs[i].total_ms);
	}
	fputs("]}}", f);
	stats_counters_free(&sc);
}

/* ---- /api/queries ---- */

bool dashboard_sort_parse(const char *s, DashSort *out)
{
	static const char *const names[] = {"total", "calls", "p99", "mean", "errors"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (DashSort)i;
			return true;
		}
	}
	return false;
}

bool dashboard_window_parse(const char *s, int64_t now_us, int64_t *since_us)
{
	static const struct {
		const char *name;
		int64_t seconds;
	} w[] = {{"1h", 3600}, {"24h", 86400}, {"7d", 7 * 86400}, {"14d", 14 * 86400}, {"all", 0}};
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		if (strcmp(s, w[i].name) == 0) {
			*since_us = w[i].seconds ? now_us - w[i].seconds * 1000000 : 0;
			return true;
		}
	}
	return false;
}

typedef struct TopCtx {
	const StatsQueries *q;
	DashSort sort;
} TopCtx;

static double sort_key(const StatsQueryRow *r, DashSort s)
{
	switch (s) {
	case DASH_SORT_TOTAL:
		return r->total_ms;
	case DASH_SORT_CALLS:
		return (double)r->calls;
	case DASH_SORT_P99:
		return r->p99_ms;
	case DASH_SORT_MEAN:
		return r->mean_ms;
	case DASH_SORT_ERRORS:
		return (double)r->errors;
	}
	return 0;
}

/* qsort_r's comparison: the key descending, then fingerprint, database, user ascending. */
static int top_cmp(const void *a, const void *b, void *arg)
{
	const TopCtx *ctx = arg;
	const StatsQueryRow *x = &ctx->q->rows[*(const size_t *)a];
	const StatsQueryRow *y = &ctx->q->rows[*(const size_t *)b];
	double kx = sort_key(x, ctx->sort), ky = sort_key(y, ctx->sort);
	if (kx != ky)
		return kx > ky ? -1 : 1;
	int c = strcmp(x->fingerprint, y->fingerprint);
	if (!c)
		c = strcmp(x->database, y->database);
	if (!c)
		c = strcmp(x->user, y->user);
	return c;
}

size_t dashboard_top(const StatsQueries *q, DashSort sort, size_t offset, size_t limit, size_t *idx)
{
	if (offset >= q->n || !limit)
		return 0;
	size_t *all = malloc(q->n * sizeof(*all));
	if (!all)
		return 0;
	for (size_t i = 0; i < q->n; i++)
		all[i] = i;
	TopCtx ctx = {q, sort};
	qsort_r(all, q->n, sizeof(*all), top_cmp, &ctx);
	size_t n = q->n - offset < limit ? q->n - offset : limit;
	memcpy(idx, all + offset, n * sizeof(*idx));
	free(all);
	return n;
}

static void json_sink(void *ctx, const char *p, size_t n)
{
	fwrite(p, 1, n, ctx);
}

void dashboard_json_str(FILE *f, const char *s)
{
	if (!s)
		fputs("null", f);
	else
		json_write_str(json_sink, f, s, strlen(s));
}

static void json_num(FILE *f, double v)
{
	if (!isfinite(v))
		fputs("null", f);
	else
		fprintf(f, "%.3f", v);
}

/* An ISO 8601 UTC time with milliseconds, or null for 0. */
static void json_time(FILE *f, int64_t us)
{
	if (us <= 0) {
		fputs("null", f);
		return;
	}
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	fprintf(f, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
		tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(us % 1000000 / 1000));
}

void dashboard_json_row(FILE *f, const StatsQueryRow *r, const StatsHours *hours)
{
	fprintf(f, "{\"fingerprint\": \"%s\", \"query\": ", r->fingerprint);
	dashboard_json_str(f, r->query);
	fputs(", \"database\": ", f);
	dashboard_json_str(f, r->database);
	fputs(", \"user\": ", f);
	dashboard_json_str(f, r->user);
	fprintf(f,
		", \"kind\": \"%s\", \"other\": %s, \"calls\": %" PRIu64 ", \"errors\": %" PRIu64
		", \"timeouts\": %" PRIu64 ", \"cancelled\": %" PRIu64 ", \"rows\": %" PRIu64,
		stmt_kind_str(r->kind), r->is_other ? "true" : "false", r->calls, r->errors,
		r->timeouts, r->cancelled, r->rows);
	const struct {
		const char *name;
		double v;
	} ms[] = {{"total_ms", r->total_ms}, {"mean_ms", r->mean_ms}, {"min_ms", r->min_ms},
		  {"p50_ms", r->p50_ms},     {"p95_ms", r->p95_ms},   {"p99_ms", r->p99_ms},
		  {"max_ms", r->max_ms}};
	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		fprintf(f, ", \"%s\": ", ms[i].name);
		json_num(f, ms[i].v);
	}
	fputs(", \"first_seen\": ", f);
	json_time(f, r->first_seen_us);
	fputs(", \"last_seen\": ", f);
	json_time(f, r->last_seen_us);
	fputs(", \"error_classes\": {", f);
	for (size_t i = 0; i < r->n_error_classes; i++) {
		fprintf(f, "%s", i ? ", " : "");
		dashboard_json_str(f, r->error_classes[i].cls);
		fprintf(f, ": %" PRIu64, r->error_classes[i].count);
	}
	fputc('}', f);
	if (hours) {
		/* one array per kept hour: [start (s since the epoch), calls, errors, mean, p50,
		 * p95, p99] (ms) */
		fputs(", \"hours\": [", f);
		for (size_t i = 0; i < hours->n; i++) {
			const StatsHourRow *h = &hours->rows[i];
			fprintf(f, "%s[%" PRId64 ", %" PRIu64 ", %" PRIu64 ", ", i ? ", " : "",
				h->hour_start_us / 1000000, h->calls, h->errors);
			json_num(f, h->mean_ms);
			fputs(", ", f);
			json_num(f, h->p50_ms);
			fputs(", ", f);
			json_num(f, h->p95_ms);
			fputs(", ", f);
			json_num(f, h->p99_ms);
			fputc(']', f);
		}
		fputc(']', f);
	}
	fputc('}', f);
}

/* The window parameter (default dflt) into *since_us and its name; false (400 written) when
 * it is not one of the page's. */
static bool window_of(DashJob *j, FILE *f, const char *dflt, int64_t now_us, int64_t *since_us,
		      const char **name)
{
	static char buf[16]; /* lane 0 only */
	*name = param(j, "window", buf, sizeof(buf), dflt);
	if (!dashboard_window_parse(*name, now_us, since_us)) {
		bad_param(j, f, "window: one of 1h, 24h, 7d, 14d, all");
		return false;
	}
	return true;
}

/*
 * The statistics of a window, copied at most once per DASH_CACHE_MS (lane 0 only: no lock):
 * with 10,000 fingerprints the copy is most of an answer's cost, and the page asks for three
 * orders of the same window at once. NULL when out of memory. Owned here.
 */
static const StatsQueries *queries_snapshot(const char *wname, int64_t since_us)
{
	static StatsQueries snap;
	static char snap_window[16];
	static uint64_t snap_at;
	static bool valid;
	uint64_t now = now_mono_ms();
	if (valid && strcmp(snap_window, wname) == 0 && now - snap_at <= DASH_CACHE_MS)
		return &snap;
	if (valid)
		stats_queries_free(&snap);
	valid = stats_snapshot_queries(since_us, &snap) == 0;
	if (!valid)
		return NULL;
	snprintf(snap_window, sizeof(snap_window), "%s", wname);
	snap_at = now;
	return &snap;
}

static void job_queries(DashJob *j, FILE *f)
{
	int64_t now_us = now_wall_us(), since_us;
	const char *wname;
	if (!window_of(j, f, "24h", now_us, &since_us, &wname))
		return;
	char sbuf[16];
	const char *sname = param(j, "sort", sbuf, sizeof(sbuf), "total");
	DashSort sort;
	if (!dashboard_sort_parse(sname, &sort)) {
		bad_param(j, f, "sort: one of total, calls, p99, mean, errors");
		return;
	}
	size_t limit, offset, with_hours;
	if (!param_count(j, "limit", DASH_LIMIT_DEFAULT, DASH_LIMIT_MAX, &limit) ||
	    !param_count(j, "offset", 0, SIZE_MAX / 2, &offset) ||
	    !param_count(j, "hours", 1, 1, &with_hours)) {
		bad_param(j, f, "limit (0 to 500), offset and hours (0 or 1) are counts");
		return;
	}
	const StatsQueries *snap = queries_snapshot(wname, since_us);
	if (!snap) {
		j->reply.status = 503;
		fputs("{\"error\": \"out of memory copying the statistics\"}", f);
		return;
	}
	const StatsQueries q = *snap;
	size_t *idx = limit ? calloc(limit, sizeof(*idx)) : NULL;
	size_t n = idx ? dashboard_top(&q, sort, offset, limit, idx) : 0;
	size_t n_hours = with_hours ? (n < DASH_HOURS_ROWS_MAX ? n : DASH_HOURS_ROWS_MAX) : 0;
	StatsDigestKey *keys = n_hours ? calloc(n_hours, sizeof(*keys)) : NULL;
	StatsHours *hours = n_hours ? calloc(n_hours, sizeof(*hours)) : NULL;
	bool have_hours = false;
	if (keys && hours) {
		for (size_t i = 0; i < n_hours; i++) {
			const StatsQueryRow *r = &q.rows[idx[i]];
			keys[i] = (StatsDigestKey){r->fingerprint_value, r->database, r->user};
		}
		have_hours = stats_snapshot_hours(keys, n_hours, since_us, hours) == 0;
	}
	fprintf(f, "{\"window\": \"%s\", \"since\": ", wname);
	json_time(f, since_us > 0 ? since_us / 3600000000LL * 3600000000LL : 0);
	fputs(", \"now\": ", f);
	json_time(f, now_us);
	static const char *const sorts[] = {"total", "calls", "p99", "mean", "errors"};
	fprintf(f,
		", \"sort\": \"%s\", \"total\": %zu, \"offset\": %zu, \"limit\": %zu, \"rows\": [",
		sorts[sort], q.n, offset, limit);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputs(",\n", f);
		dashboard_json_row(f, &q.rows[idx[i]],
				   have_hours && i < n_hours ? &hours[i] : NULL);
	}
	fputs("]}", f);
	if (have_hours)
		stats_hours_free(hours, n_hours);
	free(hours);
	free(keys);
	free(idx);
}

/* ---- /api/query ---- */

/* The tables of a shape with the columns the statement filters, joins, sorts and groups by. */
static void json_shape_tables(FILE *f, const QueryShape *s)
{
	const ShapeTable *tables = shape_tables(s);
	const ShapeCol *cols = shape_cols(s);
	fputc('[', f);
	bool first_table = true;
	for (int t = -1; t < (int)s->n_tables; t++) {
		/* t = -1: the columns no table could be told for */
		bool any = t >= 0;
		for (uint16_t c = 0; c < s->n_cols && !any; c++)
			any = cols[c].table == SHAPE_NONE;
		if (!any)
			continue;
		fprintf(f, "%s{\"table\": ", first_table ? "" : ", ");
		first_table = false;
		if (t < 0) {
			fputs("null", f);
		} else {
			char name[512];
			const char *schema = shape_str(s, tables[t].schema);
			snprintf(name, sizeof(name), "%s%s%s", schema, schema[0] ? "." : "",
				 shape_str(s, tables[t].name));
			dashboard_json_str(f, name);
		}
		/* filters (=, IS NULL, ranges, LIKE, search), joins, then ORDER BY / GROUP BY */
		static const char *const keys[] = {"filters", "joins", "sorts"};
		for (int g = 0; g < 3; g++) {
			fprintf(f, ", \"%s\": [", keys[g]);
			bool first = true;
			for (uint16_t c = 0; c < s->n_cols; c++) {
				const ShapeCol *col = &cols[c];
				if ((t < 0 && col->table != SHAPE_NONE) ||
				    (t >= 0 && col->table != (uint16_t)t))
					continue;
				int grp = col->use == SU_JOIN				? 1 :
					  col->use == SU_ORDER || col->use == SU_GROUP	? 2 :
					  col->use == SU_SELECT || col->use == SU_WRITE ? -1 :
											  0;
				if (grp != g)
					continue;
				fprintf(f, "%s{\"column\": ", first ? "" : ", ");
				first = false;
				dashboard_json_str(f, shape_str(s, col->name));
				fprintf(f, ", \"use\": \"%s\"", shape_use_str((ShapeUse)col->use));
				if (col->use == SU_ORDER)
					fprintf(f, ", \"desc\": %s",
						col->flags & SCF_DESC ? "true" : "false");
				if (col->use == SU_JOIN && col->peer != SHAPE_NONE &&
				    col->peer < s->n_cols) {
					const ShapeCol *peer = &cols[col->peer];
					char other[512];
					snprintf(other, sizeof(other), "%s.%s",
						 peer->table < s->n_tables ?
							 shape_str(s, tables[peer->table].name) :
							 "?",
						 shape_str(s, peer->name));
					fputs(", \"with\": ", f);
					dashboard_json_str(f, other);
				}
				if (col->flags & SCF_OR)
					fputs(", \"under_or\": true", f);
				fputc('}', f);
			}
			fputc(']', f);
		}
		fputc('}', f);
	}
	fputc(']', f);
}

static void job_query(DashJob *j, FILE *f)
{
	int64_t now_us = now_wall_us(), since_us;
	const char *wname;
	if (!window_of(j, f, "all", now_us, &since_us, &wname))
		return;
	char fp[32], db[256], user[256];
	if (!http_query_param(j->query, "fingerprint", fp, sizeof(fp)) ||
	    !http_query_param(j->query, "database", db, sizeof(db)) ||
	    !http_query_param(j->query, "user", user, sizeof(user))) {
		bad_param(j, f, "fingerprint, database and user are needed");
		return;
	}
	const StatsQueries *snap = queries_snapshot(wname, since_us);
	if (!snap) {
		j->reply.status = 503;
		fputs("{\"error\": \"out of memory copying the statistics\"}", f);
		return;
	}
	const StatsQueries q = *snap;
	const StatsQueryRow *r = NULL;
	for (size_t i = 0; i < q.n && !r; i++)
		if (strcmp(q.rows[i].fingerprint, fp) == 0 && strcmp(q.rows[i].database, db) == 0 &&
		    strcmp(q.rows[i].user, user) == 0)
			r = &q.rows[i];
	if (!r) {
		j->reply.status = 404;
		fputs("{\"error\": \"no such statement in the window\"}", f);
		return;
	}
	StatsDigestKey key = {r->fingerprint_value, r->database, r->user};
	StatsHours h;
	bool have_hours = stats_snapshot_hours(&key, 1, since_us, &h) == 0;
	fprintf(f, "{\"window\": \"%s\", \"statement\": ", wname);
	dashboard_json_row(f, r, have_hours ? &h : NULL);
	/* the tables and columns, from the normalized text (the parser handles $n) */
	fputs(", \"shape\": ", f);
	ParserCache *pc = r->is_other ? NULL : parser_cache_new(4u << 20, 1u << 20);
	ParsedStatement ps;
	if (pc && parser_cache_lookup(pc, r->query, strlen(r->query), &ps, 1) >= 1 && ps.shape) {
		char text[4096];
		shape_render(ps.shape, r->query, strlen(r->query), text, sizeof(text));
		dashboard_json_str(f, text);
		fputs(", \"tables\": ", f);
		json_shape_tables(f, ps.shape);
	} else {
		fputs("null, \"tables\": []", f);
	}
	if (pc)
		parser_cache_free(pc);
	fputc('}', f);
	if (have_hours)
		stats_hours_free(&h, 1);
}

/* ---- /api/slow ---- */

static void job_slow(DashJob *j, FILE *f)
{
	size_t limit;
	if (!param_count(j, "limit", 50, STATS_SLOW_KEEP, &limit)) {
		bad_param(j, f, "limit: 0 to 100");
		return;
	}
	StatsSlowList sl;
	if (stats_snapshot_slow(limit ? limit : 1, &sl) != 0) {
		j->reply.status = 503;
		fputs("{\"error\": \"out of memory copying the statistics\"}", f);
		return;
	}
	fprintf(f, "{\"slow_query_ms\": %lld, \"rows\": [",
		(long long)(j->cfg->slow_query_ms >= 0 ? (long long)j->cfg->slow_query_ms : -1));
	for (size_t i = 0; i < sl.n && limit; i++) {
		const StatsSlowRow *s = &sl.rows[i];
		fprintf(f, "%s{\"time\": ", i ? ",\n" : "");
		json_time(f, s->end_wall_us);
		fprintf(f, ", \"fingerprint\": \"%s\", \"query\": ", s->fingerprint);
		dashboard_json_str(f, s->query);
		fputs(", \"database\": ", f);
		dashboard_json_str(f, s->database);
		fputs(", \"user\": ", f);
		dashboard_json_str(f, s->user);
		fputs(", \"application\": ", f);
		dashboard_json_str(f, s->application);
		fputs(", \"client_addr\": ", f);
		dashboard_json_str(f, s->client_addr);
		fputs(", \"duration_ms\": ", f);
		json_num(f, s->duration_ms);
		fprintf(f, ", \"rows\": %" PRIu64 ", \"sqlstate\": ", s->rows);
		dashboard_json_str(f, s->sqlstate);
		fprintf(f, ", \"timed_out\": %s}", s->timed_out ? "true" : "false");
	}
	fputs("]}", f);
	stats_slow_free(&sl);
}

/* ---- /api/suggestions ---- */

/* One suggestion's evidence: the fields every output format has (output.c), its statements. */
static void json_suggestion(FILE *f, const char *database, const Advisor *adv,
			    const AdvSuggestion *s)
{
	static const char *const fields[] = {
		"table",      "index_name",	"method", "sql",
		"calls",      "total_ms",	"p95_ms", "estimated_saving_pct",
		"table_rows", "writes_per_min", "notes"};
	fputs("{\"database\": ", f);
	dashboard_json_str(f, database);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		char *v = advisor_field_text(adv, s, fields[i]);
		fprintf(f, ", \"%s\": ", fields[i]);
		dashboard_json_str(f, v);
		free(v);
	}
	char writes[512];
	advisor_writes_text(writes, sizeof(writes), s);
	fputs(", \"writes\": ", f);
	dashboard_json_str(f, writes);
	fputs(", \"statements\": [", f);
	size_t nst;
	const AdvStatement *stmts = advisor_statements(adv, &nst);
	for (size_t k = 0; k < s->n_stmts; k++) {
		const AdvStatement *st = &stmts[s->stmts[k]];
		fprintf(f, "%s{\"fingerprint\": \"%016llx\", \"query\": ", k ? ", " : "",
			(unsigned long long)st->fingerprint);
		dashboard_json_str(f, st->display);
		fprintf(f, ", \"calls\": %" PRIu64 ", \"access_path\": ", st->calls);
		dashboard_json_str(f, advisor_path(s, k));
		fputc('}', f);
	}
	fputs("]}", f);
}

/* The advisor as SHOW SUGGESTIONS runs it (advisor_live_run), keeping what it says to print
 * the evidence and the migration. */
/* Where suggestions_render writes each database's part. */
typedef struct SugOut {
	FILE *json, *migration, *notes;
	size_t n_out, n_notes;
} SugOut;

static bool sug_db(void *arg, const char *database, const Advisor *adv, const char *err)
{
	SugOut *o = arg;
	if (!adv) {
		char msg[700];
		snprintf(msg, sizeof(msg), "database %s: cannot read the catalog: %s", database,
			 err);
		fputs(o->n_notes++ ? ", " : "", o->notes);
		dashboard_json_str(o->notes, msg);
		return true;
	}
	size_t n, nst;
	const AdvSuggestion *s = advisor_suggestions(adv, &n);
	advisor_statements(adv, &nst);
	for (size_t k = 0; k < n; k++) {
		if (s[k].dropped)
			continue;
		fputs(o->n_out++ ? ",\n" : "", o->json);
		json_suggestion(o->json, database, adv, &s[k]);
	}
	char header[300];
	snprintf(header, sizeof(header),
		 "input: the dashboard; database: %s; window: all; %zu fingerprints; not validated",
		 database, nst);
	advisor_output(o->migration, adv, ADV_FMT_SQL, header);
	return true;
}

static void suggestions_render(const Config *cfg, FILE *f)
{
	StatsStore *store = NULL;
	if (stats_snapshot_store(&store) != 0) {
		fputs("{\"error\": \"could not copy the statistics\"}", f);
		return;
	}
	char *mig = NULL, *notes = NULL;
	size_t mig_len = 0, notes_len = 0;
	SugOut o = {.json = f,
		    .migration = open_memstream(&mig, &mig_len),
		    .notes = open_memstream(&notes, &notes_len)};
	fputs("{\"generated_at\": ", f);
	json_time(f, now_wall_us());
	fputs(", \"suggestions\": [", f);
	if (o.migration && o.notes)
		(void)advisor_live_each(cfg, store, sug_db, &o);
	if (o.migration)
		fclose(o.migration);
	if (o.notes)
		fclose(o.notes);
	fputs("], \"notices\": [", f);
	if (notes)
		fputs(notes, f);
	fputs("], \"migration\": ", f);
	dashboard_json_str(f, mig ? mig : "");
	fputc('}', f);
	free(mig);
	free(notes);
	stats_store_free(store);
}

static void job_suggestions(DashJob *j, FILE *f)
{
	/* the advisor reads catalogs over libpq: its answer is kept DASH_ADVISOR_MS (lane 1
	 * only: no lock) unless refresh=1 asks for a new one */
	static char *kept;
	static size_t kept_len;
	static uint64_t kept_at;
	char buf[8];
	const char *refresh = param(j, "refresh", buf, sizeof(buf), "0");
	uint64_t now = now_mono_ms();
	if (kept && strcmp(refresh, "1") != 0 && now - kept_at <= DASH_ADVISOR_MS) {
		fwrite(kept, 1, kept_len, f);
		return;
	}
	char *out = NULL;
	size_t len = 0;
	FILE *sf = open_memstream(&out, &len);
	if (!sf) {
		fputs("{\"error\": \"out of memory\"}", f);
		return;
	}
	suggestions_render(j->cfg, sf);
	fclose(sf);
	if (!out) {
		fputs("{\"error\": \"out of memory\"}", f);
		return;
	}
	fwrite(out, 1, len, f);
	free(kept);
	kept = out;
	kept_len = len;
	kept_at = now_mono_ms();
}

/* ---- basic auth ---- */

/* The last Authorization header that was right, per configuration, for a minute: a SCRAM
 * secret costs a PBKDF2 per check, and the page asks every few seconds. */
static pthread_mutex_t auth_mu = PTHREAD_MUTEX_INITIALIZER;
static char auth_ok_header[HTTP_AUTH_MAX];
static const Config *auth_ok_cfg;
static uint64_t auth_ok_at;

static bool password_matches(const UserEntry *u, const char *password)
{
	switch (u->kind) {
	case SECRET_PLAIN: {
		size_t a = strlen(u->secret), b = strlen(password);
		return a == b && CRYPTO_memcmp(u->secret, password, a) == 0;
	}
	case SECRET_MD5: {
		char md5[AUTH_MD5_LEN + 1];
		auth_md5_encrypt(password, u->name, md5);
		return strlen(u->secret) == AUTH_MD5_LEN &&
		       CRYPTO_memcmp(md5, u->secret, AUTH_MD5_LEN) == 0;
	}
	case SECRET_SCRAM: {
		ScramSecret sec;
		char built[SCRAM_SECRET_MAX];
		if (!scram_secret_parse(u->secret, &sec))
			return false;
		bool ok = scram_secret_build(password, sec.salt, sec.salt_len, sec.iterations,
					     built, sizeof(built)) &&
			  strlen(built) == strlen(u->secret) &&
			  CRYPTO_memcmp(built, u->secret, strlen(built)) == 0;
		OPENSSL_cleanse(&sec, sizeof(sec));
		OPENSSL_cleanse(built, sizeof(built));
		return ok;
	}
	case SECRET_NONE:
		break;
	}
	return false;
}

static bool auth_check(const Config *cfg, const char *authorization)
{
	uint64_t now = now_mono_ms();
	pthread_mutex_lock(&auth_mu);
	bool cached = auth_ok_cfg == cfg && now - auth_ok_at < 60000 &&
		      strcmp(auth_ok_header, authorization) == 0;
	pthread_mutex_unlock(&auth_mu);
	if (cached)
		return true;
	char user[256], password[256];
	if (!http_basic_auth(authorization, user, sizeof(user), password, sizeof(password)))
		return false;
	bool ok = false;
	if (config_list_has(cfg->dashboard_users, user)) {
		const UserEntry *u = config_find_user(cfg, user);
		ok = u && u->secret && password_matches(u, password);
	}
	OPENSSL_cleanse(password, sizeof(password));
	if (ok) {
		pthread_mutex_lock(&auth_mu);
		snprintf(auth_ok_header, sizeof(auth_ok_header), "%s", authorization);
		auth_ok_cfg = cfg;
		auth_ok_at = now;
		pthread_mutex_unlock(&auth_mu);
	}
	return ok;
}

static int64_t now_wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t now_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
