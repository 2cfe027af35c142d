/*
 * live.c: the advisor over pgsift's own statistics (see live.h). The digests of a StatsStore go
 * to the advisor with one sampled execution's literals when there is one; advisor_live_run() is
 * SHOW SUGGESTIONS's whole job, done on a libuv worker thread by the admin console: snapshot,
 * one advisor per database, rows of text.
 */
#include "stats/advisor/live.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats/advisor/output.h"
#include "stats/advisor/validate.h"

const char *const advisor_live_columns[ADV_LIVE_COLS] = {
	"database", "table",	  "index",	"statements",	  "calls",  "total_ms",
	"p95_ms",   "saving_pct", "table_rows", "writes_per_min", "reason",
};

static bool store_digest_cb(void *arg, const StatsDigestView *d);
static void live_notice(AdvLiveResult *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static bool live_rows(AdvLiveResult *r, const char *database, const Advisor *adv);

/* ---- feeding the advisor ---- */

typedef struct StoreCtx {
	Advisor *adv;
	const char *database;
	size_t added;
} StoreCtx;

size_t advisor_add_store(Advisor *adv, StatsStore *store, int64_t since_us, const char *database)
{
	StoreCtx ctx = {.adv = adv, .database = database};
	stats_store_foreach(store, since_us, store_digest_cb, &ctx);
	return ctx.added;
}

static bool store_digest_cb(void *arg, const StatsDigestView *d)
{
	StoreCtx *ctx = arg;
	if (d->is_other || !d->query)
		return true;
	if (ctx->database && (!d->database || strcmp(d->database, ctx->database) != 0))
		return true;
	/* a sampled execution gives literal values: partial indexes and LIKE patterns need them */
	const StatsParamSample *s = stats_sample_runnable(d->samples, d->n_samples);
	const char **params =
		s ? advisor_split_params(s->params, s->params_len, s->n_params) : NULL;
	AdvStatementIn in = {.text = s && s->text ? s->text : d->query,
			     .display = d->query,
			     .fingerprint = d->fingerprint,
			     .calls = d->calls,
			     .total_ms = d->total_ms,
			     .p95_ms = d->p95_ms,
			     .params = params,
			     .n_params = params ? s->n_params : 0};
	advisor_add_statement(ctx->adv, &in);
	free(params);
	ctx->added++;
	return true;
}

/* ---- the proxy's own upstream ---- */

/* Appends ` key='value'` with libpq's quoting; false when it does not fit. */
static bool conninfo_add(char *buf, size_t cap, size_t *o, const char *key, const char *value)
{
	int w = snprintf(buf + *o, cap - *o, "%s%s='", *o ? " " : "", key);
	if (w < 0 || (size_t)w >= cap - *o)
		return false;
	*o += (size_t)w;
	for (const char *p = value; *p; p++) {
		if (*o + 3 >= cap)
			return false;
		if (*p == '\'' || *p == '\\')
			buf[(*o)++] = '\\';
		buf[(*o)++] = *p;
	}
	if (*o + 2 >= cap)
		return false;
	buf[(*o)++] = '\'';
	buf[*o] = '\0';
	return true;
}

char *advisor_live_conninfo(const Config *cfg, const char *database, const char *user, char *err,
			    size_t errlen)
{
	const DbEntry *db = config_find_db(cfg, database);
	if (!db) {
		snprintf(err, errlen, "no [databases] entry (nor `*`) for database \"%s\"",
			 database);
		return NULL;
	}
	const char *u = db->user ? db->user : user;
	const char *password = db->password;
	if (!password && u) {
		const UserEntry *ue = config_find_user(cfg, u);
		if (ue && ue->kind == SECRET_PLAIN)
			password = ue->secret;
	}
	char port[16];
	snprintf(port, sizeof(port), "%d", db->port);
	char buf[2048];
	size_t o = 0;
	buf[0] = '\0';
	bool ok =
		conninfo_add(buf, sizeof(buf), &o, "host",
			     db->host ? db->host : "/var/run/postgresql") &&
		conninfo_add(buf, sizeof(buf), &o, "port", port) &&
		conninfo_add(buf, sizeof(buf), &o, "dbname", db->dbname ? db->dbname : database) &&
		(!u || conninfo_add(buf, sizeof(buf), &o, "user", u)) &&
		(!password || conninfo_add(buf, sizeof(buf), &o, "password", password)) &&
		conninfo_add(buf, sizeof(buf), &o, "connect_timeout", "10") &&
		conninfo_add(buf, sizeof(buf), &o, "application_name", "pgsift advisor");
	if (!ok) {
		snprintf(err, errlen, "the connection string for database \"%s\" is too long",
			 database);
		return NULL;
	}
	char *s = strdup(buf);
	if (!s)
		snprintf(err, errlen, "out of memory");
	return s;
}

/* ---- SHOW SUGGESTIONS ---- */

/* The databases of the snapshot, each with the user that ran most of its calls. */
typedef struct LiveDb {
	char *name;
	char *user;
	uint64_t user_calls;
} LiveDb;

typedef struct LiveDbs {
	LiveDb *v;
	size_t n, cap;
	bool oom;
} LiveDbs;

static bool live_db_cb(void *arg, const StatsDigestView *d)
{
	LiveDbs *dbs = arg;
	if (d->is_other || !d->database || !d->query)
		return true;
	for (size_t i = 0; i < dbs->n; i++) {
		LiveDb *x = &dbs->v[i];
		if (strcmp(x->name, d->database) != 0)
			continue;
		if (d->user && d->calls > x->user_calls) {
			char *u = strdup(d->user);
			if (u) {
				free(x->user);
				x->user = u;
				x->user_calls = d->calls;
			}
		}
		return true;
	}
	if (dbs->n == dbs->cap) {
		size_t cap = dbs->cap ? dbs->cap * 2 : 4;
		LiveDb *v = realloc(dbs->v, cap * sizeof(*v));
		if (!v) {
			dbs->oom = true;
			return false;
		}
		dbs->v = v;
		dbs->cap = cap;
	}
	LiveDb *x = &dbs->v[dbs->n];
	x->name = strdup(d->database);
	x->user = d->user ? strdup(d->user) : NULL;
	x->user_calls = d->calls;
	if (!x->name) {
		free(x->user);
		dbs->oom = true;
		return false;
	}
	dbs->n++;
	return true;
}

static int cmp_db(const void *a, const void *b)
{
	return strcmp(((const LiveDb *)a)->name, ((const LiveDb *)b)->name);
}

bool advisor_live_each(const Config *cfg, StatsStore *store, AdvLiveFn fn, void *arg)
{
	LiveDbs dbs = {0};
	stats_store_foreach(store, 0, live_db_cb, &dbs);
	bool ok = !dbs.oom;
	if (dbs.n > 1)
		qsort(dbs.v, dbs.n, sizeof(dbs.v[0]), cmp_db);
	for (size_t i = 0; i < dbs.n && ok; i++) {
		const LiveDb *db = &dbs.v[i];
		char err[512];
		char *conninfo = advisor_live_conninfo(cfg, db->name, db->user, err, sizeof(err));
		Catalog *cat = conninfo ? catalog_connect(conninfo, err, sizeof(err)) : NULL;
		free(conninfo);
		if (!cat) {
			ok = fn(arg, db->name, NULL, err);
			continue;
		}
		AdvisorOptions opts;
		advisor_options_default(&opts);
		opts.min_table_rows = cfg->advisor_min_table_rows;
		opts.min_saving_pct = cfg->advisor_min_saving_pct;
		opts.trgm_installed = catalog_has_extension(cat, "pg_trgm");
		Advisor *adv = advisor_new(&opts, catalog_resolve, cat);
		if (!adv || (advisor_add_store(adv, store, 0, db->name), advisor_plan(adv) != 0)) {
			ok = false;
		} else {
			/* as `pgsift suggest` without --validate: the planner is asked only
			 * about what the syntax cannot tell */
			if (catalog_has_extension(cat, "hypopg"))
				advisor_validate(adv, cat, true);
			advisor_drop_unjudged(adv);
			ok = fn(arg, db->name, adv, NULL);
		}
		advisor_free(adv);
		catalog_free(cat);
	}
	for (size_t i = 0; i < dbs.n; i++) {
		free(dbs.v[i].name);
		free(dbs.v[i].user);
	}
	free(dbs.v);
	return ok;
}

/* SHOW SUGGESTIONS' rows of one database (or its notice). */
static bool live_run_db(void *arg, const char *database, const Advisor *adv, const char *err)
{
	AdvLiveResult *out = arg;
	if (!adv) {
		live_notice(out, "database %s: cannot read the catalog: %s", database, err);
		return true;
	}
	return live_rows(out, database, adv);
}

void advisor_live_run(const Config *cfg, AdvLiveResult *out)
{
	memset(out, 0, sizeof(*out));
	StatsStore *store = NULL;
	int rc = stats_snapshot_store(&store);
	if (rc != 0) {
		out->error = strdup(rc == -ENOMEM ? "out of memory copying the statistics" :
						    "could not copy the statistics");
		return;
	}
	if (!advisor_live_each(cfg, store, live_run_db, out) && !out->error)
		out->error = strdup("out of memory");
	stats_store_free(store);
}

void advisor_live_free(AdvLiveResult *r)
{
	for (size_t i = 0; i < r->n_rows * ADV_LIVE_COLS; i++)
		free(r->cells[i]);
	free(r->cells);
	for (size_t i = 0; i < r->n_notices; i++)
		free(r->notices[i]);
	free(r->notices);
	free(r->error);
	memset(r, 0, sizeof(*r));
}

static void live_notice(AdvLiveResult *r, const char *fmt, ...)
{
	char **v = realloc(r->notices, (r->n_notices + 1) * sizeof(*v));
	if (!v)
		return;
	r->notices = v;
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) >= 0)
		r->notices[r->n_notices++] = s;
	va_end(ap);
}

/* A number as text, or NULL (SQL NULL) when it is unknown (< 0). */
/* Appends one row per live suggestion of adv; false when out of memory. */
static bool live_rows(AdvLiveResult *r, const char *database, const Advisor *adv)
{
	/* the columns from the fields every output format writes (output.c) */
	static const struct {
		int col;
		const char *field;
	} from_fields[] = {
		{ADV_LIVE_TABLE, "table"},
		{ADV_LIVE_INDEX, "sql"},
		{ADV_LIVE_STATEMENTS, "statements"},
		{ADV_LIVE_CALLS, "calls"},
		{ADV_LIVE_TOTAL_MS, "total_ms"},
		{ADV_LIVE_P95_MS, "p95_ms"},
		{ADV_LIVE_SAVING_PCT, "estimated_saving_pct"},
		{ADV_LIVE_TABLE_ROWS, "table_rows"},
		{ADV_LIVE_WRITES_PER_MIN, "writes_per_min"},
	};
	size_t n;
	const AdvSuggestion *sugg = advisor_suggestions(adv, &n);
	for (size_t i = 0; i < n; i++) {
		const AdvSuggestion *s = &sugg[i];
		if (s->dropped)
			continue;
		char **cells = realloc(r->cells, (r->n_rows + 1) * ADV_LIVE_COLS * sizeof(*cells));
		if (!cells)
			return false;
		r->cells = cells;
		char **row = cells + r->n_rows * ADV_LIVE_COLS;
		memset(row, 0, ADV_LIVE_COLS * sizeof(*row));
		r->n_rows++;
		row[ADV_LIVE_DATABASE] = strdup(database);
		for (size_t f = 0; f < sizeof(from_fields) / sizeof(from_fields[0]); f++)
			row[from_fields[f].col] = advisor_field_text(adv, s, from_fields[f].field);
		/* reason: the notes the advisor gave (why these keys), then the write cost */
		char buf[4096];
		size_t o = 0;
		buf[0] = '\0';
		for (size_t k = 0; k < s->n_notes && o < sizeof(buf); k++)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s; ", s->notes[k]);
		if (o < sizeof(buf))
			advisor_writes_text(buf + o, sizeof(buf) - o, s);
		row[ADV_LIVE_REASON] = strdup(buf);
		if (!row[ADV_LIVE_DATABASE] || !row[ADV_LIVE_TABLE] || !row[ADV_LIVE_INDEX] ||
		    !row[ADV_LIVE_STATEMENTS] || !row[ADV_LIVE_CALLS] || !row[ADV_LIVE_REASON])
			return false;
	}
	return true;
}
