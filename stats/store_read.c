/*
 * store_read: rebuilds a StatsStore from the fleet statistics store, the tables into which every
 * pgsift process with stats_dsn writes its statistics (README.md, "Fleet statistics"). It is what
 * `pgsift suggest --stats-dsn` and `pgsift top` read. One Digest per (fingerprint, database,
 * user), with the text and kind of its pgsift_queries row; one DigestHour per hour, the sum over
 * instances and applications of that hour's pgsift_statements rows (histograms added bucket by
 * bucket, so the percentiles of the fleet are exact to the bucket, as one process's are); the
 * all-time aggregate the sum of the hours read; table writes likewise. The digests are ordered
 * by last_seen, the order a process's LRU list has, so that the advisor sees them in the order it
 * sees a stats file's.
 *
 * The rows are untrusted input: every number, array and jsonb value is checked, and the first bad
 * row stops the load with an error that names it. The three tables are read in one REPEATABLE
 * READ transaction (one snapshot, whatever the writers do meanwhile), row by row (libpq's single
 * row mode), so memory grows with the digests, not with instances x hours x applications.
 * Writing the tables is the writer's business (stats.c), not this file's.
 */
#include "stats/store_read.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "stats/stats.h"

typedef struct Reader {
	PGconn *conn;
	DigestStore *store;
	char qschema[256]; /* the schema, quoted as an identifier */
	const char *schema;
	char *err;
	size_t errlen;
	int rc; /* the first failure, 0 while there is none */
} Reader;

typedef bool (*RowFn)(Reader *rd, PGresult *r, int row);

/* A JSON reader over a NUL-terminated text (jsonb's output). */
typedef struct JRead {
	const char *p;
	const char *why;
} JRead;

static void rd_fail(Reader *rd, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool rd_exec(Reader *rd, const char *sql, const char *what);
static bool rd_tables_exist(Reader *rd);
static bool rd_version(Reader *rd);
static bool rd_rows(Reader *rd, const char *sql, const char *param, RowFn fn);
static bool query_row(Reader *rd, PGresult *r, int row);
static bool statement_row(Reader *rd, PGresult *r, int row);
static bool table_row(Reader *rd, PGresult *r, int row);
static bool instances_count(Reader *rd, const char *since_param);
static bool col_i64(PGresult *r, int row, int col, int64_t *v);
static void first_line(const char *msg, char *buf, size_t cap);
static void hour_str(int64_t hour, char *buf, size_t cap);
static Digest *find_digest(DigestStore *s, uint64_t fp, const char *db, const char *user);
static void j_ws(JRead *j);
static bool j_lit(JRead *j, const char *lit);
static char *j_string(JRead *j, size_t *len);
static bool j_count(JRead *j, uint64_t *v);
static bool j_end(JRead *j);
static bool sample_obj(JRead *j, DigestSample *sm);

int stats_store_load_pg(const char *dsn, const char *schema, int64_t since_us, StatsStore **out,
			char *err, size_t errlen)
{
	*out = NULL;
	if (errlen)
		err[0] = '\0';
	Reader rd = {.schema = schema && *schema ? schema : "pgsift", .err = err, .errlen = errlen};
	/* defaults the connection string overrides (it is expanded in place of dbname): a host
	 * that does not answer costs 10 s, not the TCP timeout */
	const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
	const char *const values[] = {"10", "pgsift statistics reader", dsn ? dsn : "", NULL};
	rd.conn = PQconnectdbParams(keys, values, 1);
	if (PQstatus(rd.conn) != CONNECTION_OK) {
		char msg[512];
		first_line(PQerrorMessage(rd.conn), msg, sizeof(msg));
		rd_fail(&rd, -EIO, "cannot connect to the statistics store: %s", msg);
		goto out;
	}
	char *q = PQescapeIdentifier(rd.conn, rd.schema, strlen(rd.schema));
	if (!q || strlen(q) >= sizeof(rd.qschema)) {
		rd_fail(&rd, -EINVAL, "bad schema name \"%s\"", rd.schema);
		PQfreemem(q);
		goto out;
	}
	snprintf(rd.qschema, sizeof(rd.qschema), "%s", q);
	PQfreemem(q);
	rd.store = digest_store_new(0, 0);
	if (!rd.store) {
		rd_fail(&rd, -ENOMEM, "out of memory");
		goto out;
	}
	/* one snapshot for every table, whatever the writers do meanwhile */
	if (!rd_exec(&rd, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", "BEGIN") ||
	    !rd_tables_exist(&rd) || !rd_version(&rd))
		goto out;
	char since[32], sql[1024];
	snprintf(since, sizeof(since), "%" PRId64,
		 (int64_t)(since_us > 0 ? since_us / US_PER_HOUR : 0));
	const char *where = since_us > 0 ? " WHERE hour >= to_timestamp($1::bigint * 3600)" : "";
	const char *param = since_us > 0 ? since : NULL;
	snprintf(sql, sizeof(sql),
		 "SELECT fingerprint, database, username, kind, query, samples::text "
		 "FROM %s.pgsift_queries",
		 rd.qschema);
	if (!rd_rows(&rd, sql, NULL, query_row))
		goto out;
	snprintf(sql, sizeof(sql),
		 "SELECT floor(extract(epoch FROM hour) / 3600)::bigint, fingerprint, database, "
		 "username, instance, application, calls, errors, timeouts, cancelled, rows, "
		 "total_ns, min_ns, max_ns, (extract(epoch FROM first_seen) * 1000000)::bigint, "
		 "(extract(epoch FROM last_seen) * 1000000)::bigint, error_classes::text, "
		 "hist_idx::text, hist_cnt::text FROM %s.pgsift_statements%s",
		 rd.qschema, where);
	if (!rd_rows(&rd, sql, param, statement_row))
		goto out;
	snprintf(sql, sizeof(sql),
		 "SELECT floor(extract(epoch FROM hour) / 3600)::bigint, instance, table_name, "
		 "inserts, updates, deletes, rows FROM %s.pgsift_table_writes%s",
		 rd.qschema, where);
	if (!rd_rows(&rd, sql, param, table_row) || !instances_count(&rd, param))
		goto out;
	rd_exec(&rd, "COMMIT", "COMMIT");
	if (!rd.rc && !digest_store_sort_lru(rd.store))
		rd_fail(&rd, -ENOMEM, "out of memory");
out:
	PQfinish(rd.conn);
	if (rd.rc) {
		digest_store_free(rd.store);
		return rd.rc;
	}
	struct timeval tv;
	gettimeofday(&tv, NULL);
	rd.store->saved_at_us = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
	*out = rd.store;
	return 0;
}

uint64_t stats_store_instances(const StatsStore *s)
{
	return s->fleet_instances;
}

/* ---- the values read as text ---- */

bool store_read_int_array(const char *lit, int64_t **out, size_t *n, const char **why)
{
	static const char bad[] = "not a one-dimensional array of integers";
	*out = NULL;
	*n = 0;
	if (!lit || lit[0] != '{' || (lit[1] == '}' && lit[2] != '\0')) {
		*why = bad;
		return false;
	}
	const char *p = lit + 1;
	if (p[0] == '}')
		return true;
	size_t cap = 1;
	for (const char *q = p; *q; q++)
		cap += *q == ',';
	int64_t *v = malloc(cap * sizeof(*v));
	if (!v) {
		*why = "out of memory";
		return false;
	}
	size_t k = 0;
	for (;;) {
		char *end;
		errno = 0;
		long long x = strtoll(p, &end, 10);
		/* strtoll skips leading blanks, which PostgreSQL never prints: digits only */
		if (errno || end == p || (*p != '-' && (*p < '0' || *p > '9')) || k == cap)
			break;
		v[k++] = x;
		p = end;
		if (*p == ',') {
			p++;
			continue;
		}
		if (p[0] == '}' && p[1] == '\0') {
			*out = v;
			*n = k;
			return true;
		}
		break;
	}
	free(v);
	*why = bad;
	return false;
}

bool store_read_err_classes(const char *json, DigestAgg *a, const char **why)
{
	JRead j = {.p = json ? json : ""};
	j_ws(&j);
	if (*j.p != '{')
		goto bad;
	j.p++;
	j_ws(&j);
	if (*j.p == '}') {
		j.p++;
		return j_end(&j) || (*why = "trailing characters in error_classes", false);
	}
	for (;;) {
		size_t len;
		char *key = j_string(&j, &len);
		if (!key)
			goto bad;
		bool ok = len == 2;
		for (size_t i = 0; ok && i < 2; i++)
			ok = (key[i] >= '0' && key[i] <= '9') || (key[i] >= 'A' && key[i] <= 'Z');
		ErrClassCount e = {.n = 0};
		if (ok)
			memcpy(e.cls, key, 2);
		free(key);
		j_ws(&j);
		if (!ok || *j.p != ':') {
			*why = "an error class that is not a SQLSTATE class (two digits or "
			       "capitals)";
			return false;
		}
		j.p++;
		if (!j_count(&j, &e.n)) {
			*why = "an error class count that is not an integer >= 0";
			return false;
		}
		/* by hand: digest_agg_merge skips an aggregate without calls */
		uint32_t i = 0;
		while (i < a->n_err && memcmp(a->err[i].cls, e.cls, 2) < 0)
			i++;
		if (i < a->n_err && memcmp(a->err[i].cls, e.cls, 2) == 0) {
			a->err[i].n += e.n;
		} else {
			ErrClassCount *err = realloc(a->err, (a->n_err + 1) * sizeof(*err));
			if (!err) {
				*why = "out of memory";
				return false;
			}
			a->err = err;
			memmove(err + i + 1, err + i, (a->n_err - i) * sizeof(*err));
			err[i] = e;
			a->n_err++;
		}
		j_ws(&j);
		if (*j.p == ',') {
			j.p++;
			j_ws(&j);
			continue;
		}
		if (*j.p == '}') {
			j.p++;
			if (j_end(&j))
				return true;
		}
		break;
	}
bad:
	*why = "error_classes is not a JSON object of counts";
	return false;
}

bool store_read_samples(const char *json, Digest *d, const char **why)
{
	JRead j = {.p = json ? json : ""};
	j_ws(&j);
	if (j_lit(&j, "null")) {
		if (j_end(&j))
			return true;
		goto bad;
	}
	if (*j.p != '[')
		goto bad;
	j.p++;
	j_ws(&j);
	while (*j.p != ']') {
		DigestSample sm = {0};
		bool ok = sample_obj(&j, &sm);
		if (ok && d->n_samples < DIGEST_SAMPLES) {
			d->samples[d->n_samples++] = sm;
		} else {
			free(sm.text);
			free(sm.params);
		}
		if (!ok)
			goto bad;
		j_ws(&j);
		if (*j.p == ',') {
			j.p++;
			j_ws(&j);
			if (*j.p == ']')
				goto bad; /* [..., ] */
		} else if (*j.p != ']') {
			goto bad;
		}
	}
	j.p++;
	if (j_end(&j))
		return true;
bad:
	*why = "samples is not a JSON array of {\"text\": ..., \"params\": [...]}";
	return false;
}

/* ---- the tables ---- */

static void rd_fail(Reader *rd, int rc, const char *fmt, ...)
{
	if (rd->rc)
		return;
	rd->rc = rc;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rd->err, rd->errlen, fmt, ap);
	va_end(ap);
}

static bool rd_exec(Reader *rd, const char *sql, const char *what)
{
	PGresult *r = PQexec(rd->conn, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		char msg[512];
		first_line(PQerrorMessage(rd->conn), msg, sizeof(msg));
		rd_fail(rd, -EIO, "statistics store: %s: %s", what, msg);
	}
	PQclear(r);
	return !rd->rc;
}

/* The four tables the readers need, or the error that says stats_dsn is probably not set. */
static bool rd_tables_exist(Reader *rd)
{
	static const char *const tables[] = {"pgsift_schema_version", "pgsift_queries",
					     "pgsift_statements", "pgsift_table_writes"};
	char names[4][300];
	const char *params[4];
	for (int i = 0; i < 4; i++) {
		snprintf(names[i], sizeof(names[i]), "%s.%s", rd->qschema, tables[i]);
		params[i] = names[i];
	}
	PGresult *r = PQexecParams(rd->conn,
				   "SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT "
				   "NULL AND to_regclass($3) IS NOT NULL AND to_regclass($4) IS "
				   "NOT NULL",
				   4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		char msg[512];
		first_line(PQerrorMessage(rd->conn), msg, sizeof(msg));
		rd_fail(rd, -EIO, "statistics store: %s", msg);
	} else if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		/* never the DSN itself: it may hold a password */
		const char *host = PQhost(rd->conn);
		rd_fail(rd, -ENOENT,
			"no pgsift statistics in schema \"%s\" at dbname=%s host=%s port=%s: is "
			"stats_dsn set on the proxies?",
			rd->schema, PQdb(rd->conn), host && *host ? host : "(local socket)",
			PQport(rd->conn));
	}
	PQclear(r);
	return !rd->rc;
}

static bool rd_version(Reader *rd)
{
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*), min(version), max(version) FROM %s.pgsift_schema_version",
		 rd->qschema);
	PGresult *r = PQexec(rd->conn, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		char msg[512];
		first_line(PQerrorMessage(rd->conn), msg, sizeof(msg));
		rd_fail(rd, -EIO, "statistics store: %s", msg);
	} else if (strcmp(PQgetvalue(r, 0, 0), "0") == 0) {
		rd_fail(rd, -EINVAL,
			"schema \"%s\" has no row in pgsift_schema_version: not written by pgsift, "
			"or never finished",
			rd->schema);
	} else if (atoi(PQgetvalue(r, 0, 1)) != STORE_READ_VERSION ||
		   atoi(PQgetvalue(r, 0, 2)) != STORE_READ_VERSION) {
		rd_fail(rd, -EINVAL,
			"the statistics in schema \"%s\" are of version %s; this pgsift reads "
			"version %d",
			rd->schema, PQgetvalue(r, 0, 2), STORE_READ_VERSION);
	}
	PQclear(r);
	return !rd->rc;
}

/* Runs sql (with one text parameter when param is not NULL) and calls fn for each row as it
 * arrives; fn's false stops the calls (the rest of the result is drained). */
static bool rd_rows(Reader *rd, const char *sql, const char *param, RowFn fn)
{
	if (!PQsendQueryParams(rd->conn, sql, param ? 1 : 0, NULL, param ? &param : NULL, NULL,
			       NULL, 0)) {
		char msg[512];
		first_line(PQerrorMessage(rd->conn), msg, sizeof(msg));
		rd_fail(rd, -EIO, "statistics store: %s", msg);
		return false;
	}
	/* when single row mode cannot be had, the rows come in one result: read them there */
	(void)PQsetSingleRowMode(rd->conn);
	PGresult *r;
	while ((r = PQgetResult(rd->conn))) {
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK) {
			for (int i = 0; i < PQntuples(r) && !rd->rc; i++)
				fn(rd, r, i);
		} else {
			char msg[512];
			first_line(PQresultErrorMessage(r), msg, sizeof(msg));
			rd_fail(rd, -EIO, "statistics store: %s", msg);
		}
		PQclear(r);
	}
	return !rd->rc;
}

/* fingerprint, database, username, kind, query, samples */
static bool query_row(Reader *rd, PGresult *r, int row)
{
	int64_t fp;
	const char *db = PQgetvalue(r, row, 1), *user = PQgetvalue(r, row, 2);
	if (!col_i64(r, row, 0, &fp)) {
		rd_fail(rd, -EINVAL,
			"bad pgsift_queries row (database \"%s\", user \"%s\"): bad "
			"fingerprint",
			db, user);
		return false;
	}
	const char *why = NULL;
	const char *kind_s = PQgetvalue(r, row, 3);
	int kind = 0;
	while (kind < SK__COUNT && strcasecmp(stmt_kind_str((StmtKind)kind), kind_s) != 0)
		kind++;
	if (kind == SK__COUNT)
		why = "unknown kind";
	const char *text = PQgetvalue(r, row, 4);
	Digest *d = why ? NULL : digest_new((uint64_t)fp, db, user, text, strlen(text));
	if (!why && !d) {
		rd_fail(rd, -ENOMEM, "out of memory");
		return false;
	}
	if (d) {
		d->kind = (StmtKind)kind;
		/* the row max_fingerprints folds the least recently seen statements into */
		d->is_other = fp == 0 && strcmp(db, "*") == 0 && strcmp(user, "*") == 0;
		if (!PQgetisnull(r, row, 5) && !store_read_samples(PQgetvalue(r, row, 5), d, &why))
			why = why ? why : "bad samples";
	}
	if (!why && !digest_store_insert(rd->store, d))
		why = "the same digest twice";
	if (why) {
		digest_free(d);
		rd_fail(rd, -EINVAL,
			"bad pgsift_queries row (fingerprint %016" PRIx64
			", database \"%s\", user \"%s\"): %s",
			(uint64_t)fp, db, user, why);
		return false;
	}
	return true;
}

enum {
	ST_HOUR,
	ST_FP,
	ST_DB,
	ST_USER,
	ST_INSTANCE,
	ST_APP,
	ST_CALLS, /* calls .. max_ns: counts, then first/last seen */
	ST_ERRORS,
	ST_TIMEOUTS,
	ST_CANCELLED,
	ST_ROWS,
	ST_TOTAL,
	ST_MIN,
	ST_MAX,
	ST_FIRST,
	ST_LAST,
	ST_ERRCLS,
	ST_HIDX,
	ST_HCNT
};

/* One instance's one hour of one digest for one application, into the digest's hour. */
static bool statement_row(Reader *rd, PGresult *r, int row)
{
	int64_t hour = 0, fp = 0, v[ST_LAST + 1] = {0};
	const char *why = NULL;
	int64_t *idx = NULL, *cnt = NULL;
	size_t n_idx = 0, n_cnt = 0;
	DigestAgg a;
	digest_agg_init(&a);
	if (!col_i64(r, row, ST_HOUR, &hour) || !col_i64(r, row, ST_FP, &fp))
		why = "bad hour or fingerprint";
	for (int c = ST_CALLS; c <= ST_LAST && !why; c++)
		if (!col_i64(r, row, c, &v[c]) || (c <= ST_MAX && v[c] < 0))
			why = c <= ST_MAX ? "a negative or unreadable count" :
					    "an unreadable first_seen or last_seen";
	if (!why) {
		a.calls = (uint64_t)v[ST_CALLS];
		a.errors = (uint64_t)v[ST_ERRORS];
		a.timeouts = (uint64_t)v[ST_TIMEOUTS];
		a.cancelled = (uint64_t)v[ST_CANCELLED];
		a.rows = (uint64_t)v[ST_ROWS];
		a.total_ns = (uint64_t)v[ST_TOTAL];
		a.min_ns = (uint64_t)v[ST_MIN];
		a.max_ns = (uint64_t)v[ST_MAX];
		a.first_seen_us = v[ST_FIRST];
		a.last_seen_us = v[ST_LAST];
		if (a.calls && a.min_ns > a.max_ns)
			why = "min_ns is over max_ns";
	}
	if (!why && !store_read_err_classes(PQgetvalue(r, row, ST_ERRCLS), &a, &why))
		why = why ? why : "bad error_classes";
	if (!why && !store_read_int_array(PQgetvalue(r, row, ST_HIDX), &idx, &n_idx, &why))
		why = "hist_idx: not an array of integers";
	if (!why && !store_read_int_array(PQgetvalue(r, row, ST_HCNT), &cnt, &n_cnt, &why))
		why = "hist_cnt: not an array of integers";
	if (!why && n_idx != n_cnt)
		why = "hist_idx and hist_cnt are not of the same length";
	for (size_t i = 0; i < n_idx && !why; i++) {
		if (idx[i] < 0 || idx[i] >= HIST_MAX_INDEX)
			why = "a hist_idx bucket out of range";
		else if (i && idx[i] <= idx[i - 1])
			why = "hist_idx is not in ascending order";
		else if (cnt[i] < 0)
			why = "a negative hist_cnt";
		else if (cnt[i] && !hist_add_bucket(&a.hist, (unsigned)idx[i], (uint64_t)cnt[i]))
			why = "out of memory";
	}
	if (!why)
		why = digest_agg_check(&a);
	free(idx);
	free(cnt);
	const char *db = PQgetvalue(r, row, ST_DB), *user = PQgetvalue(r, row, ST_USER);
	if (!why) {
		Digest *d = find_digest(rd->store, (uint64_t)fp, db, user);
		if (!d) {
			/* statements whose text is not there (yet): counted, without a text */
			d = digest_new((uint64_t)fp, db, user, "", 0);
			if (d && !digest_store_insert(rd->store, d)) {
				digest_free(d);
				d = NULL;
			}
		}
		DigestHour *slot = d ? digest_hour_slot(d, hour) : NULL;
		if (!slot || !digest_agg_merge(&slot->agg, &a) || !digest_agg_merge(&d->total, &a))
			why = "out of memory";
		else if (hour > rd->store->newest_hour)
			rd->store->newest_hour = hour;
	}
	digest_agg_free(&a);
	if (why) {
		char h[40];
		hour_str(hour, h, sizeof(h));
		rd_fail(rd, strcmp(why, "out of memory") == 0 ? -ENOMEM : -EINVAL,
			"bad pgsift_statements row (instance \"%s\", hour %s, fingerprint "
			"%016" PRIx64 ", database \"%s\", user \"%s\", application \"%s\"): %s",
			PQgetvalue(r, row, ST_INSTANCE), h, (uint64_t)fp, db, user,
			PQgetvalue(r, row, ST_APP), why);
		return false;
	}
	return true;
}

/* hour, instance, table_name, inserts, updates, deletes, rows */
static bool table_row(Reader *rd, PGresult *r, int row)
{
	int64_t hour = 0, v[4];
	const char *why = NULL, *name = PQgetvalue(r, row, 2);
	if (!col_i64(r, row, 0, &hour))
		why = "bad hour";
	for (int i = 0; i < 4 && !why; i++)
		if (!col_i64(r, row, 3 + i, &v[i]) || v[i] < 0)
			why = "a negative or unreadable count";
	if (!why) {
		TableStat *t = digest_store_table(rd->store, name, strlen(name));
		TableHour *h = t ? digest_table_hour_slot(t, hour) : NULL;
		if (!h) {
			rd_fail(rd, -ENOMEM, "out of memory");
			return false;
		}
		TableHour *slots[2] = {h, &t->total};
		for (int i = 0; i < 2; i++) {
			slots[i]->inserts += (uint64_t)v[0];
			slots[i]->updates += (uint64_t)v[1];
			slots[i]->deletes += (uint64_t)v[2];
			slots[i]->rows += (uint64_t)v[3];
		}
		return true;
	}
	char h[40];
	hour_str(hour, h, sizeof(h));
	rd_fail(rd, -EINVAL,
		"bad pgsift_table_writes row (instance \"%s\", hour %s, table \"%s\"): %s",
		PQgetvalue(r, row, 1), h, name, why);
	return false;
}

/* How many instances wrote statement rows in the window (`pgsift top`'s header). */
static bool instances_count(Reader *rd, const char *since_param)
{
	char sql[512];
	snprintf(sql, sizeof(sql), "SELECT count(DISTINCT instance) FROM %s.pgsift_statements%s",
		 rd->qschema, since_param ? " WHERE hour >= to_timestamp($1::bigint * 3600)" : "");
	PGresult *r = PQexecParams(rd->conn, sql, since_param ? 1 : 0, NULL,
				   since_param ? &since_param : NULL, NULL, NULL, 0);
	int64_t n = 0;
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || !col_i64(r, 0, 0, &n)) {
		char msg[512];
		first_line(PQerrorMessage(rd->conn), msg, sizeof(msg));
		rd_fail(rd, -EIO, "statistics store: %s", msg);
	}
	rd->store->fleet_instances = (uint64_t)n;
	PQclear(r);
	return !rd->rc;
}

/* The digest of the key, the other row included. */
static Digest *find_digest(DigestStore *s, uint64_t fp, const char *db, const char *user)
{
	if (s->other && fp == 0 && strcmp(db, "*") == 0 && strcmp(user, "*") == 0)
		return s->other;
	return digest_find(s, fp, db, user);
}

/* A column as an int64: false when it is NULL or not a number in range. */
static bool col_i64(PGresult *r, int row, int col, int64_t *v)
{
	if (PQgetisnull(r, row, col))
		return false;
	const char *s = PQgetvalue(r, row, col);
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return false;
	*v = x;
	return true;
}

static void first_line(const char *msg, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s", msg && *msg ? msg : "unknown error");
	buf[strcspn(buf, "\n")] = '\0';
}

static void hour_str(int64_t hour, char *buf, size_t cap)
{
	time_t t = (time_t)(hour * 3600);
	struct tm tm;
	if (hour < -1000000000LL || hour > 1000000000LL || !gmtime_r(&t, &tm) ||
	    !strftime(buf, cap, "%Y-%m-%d %H:00 UTC", &tm))
		snprintf(buf, cap, "%" PRId64 " (hours since 1970)", hour);
}

/* ---- JSON ---- */

/* One sample object ({"text": ..., "params": [...]}) into sm. */
static bool sample_obj(JRead *j, DigestSample *sm)
{
	if (*j->p != '{')
		return false;
	j->p++;
	j_ws(j);
	if (*j->p == '}') {
		j->p++;
		return true;
	}
	for (;;) {
		char *key = j_string(j, NULL);
		if (!key)
			return false;
		j_ws(j);
		bool colon = *j->p == ':';
		if (colon) {
			j->p++;
			j_ws(j);
		}
		bool is_text = strcmp(key, "text") == 0, is_params = strcmp(key, "params") == 0;
		free(key);
		if (!colon || (!is_text && !is_params))
			return false;
		if (j_lit(j, "null")) {
			/* absent */
		} else if (is_text) {
			if (sm->text || !(sm->text = j_string(j, NULL)))
				return false;
		} else {
			if (sm->params || *j->p != '[')
				return false;
			j->p++;
			j_ws(j);
			/* the values one after the other, each '\0'-terminated */
			size_t cap = strlen(j->p) + 8, len = 0;
			sm->params = malloc(cap);
			if (!sm->params)
				return false;
			while (*j->p != ']') {
				size_t vlen = 4;
				char *v = NULL;
				if (!j_lit(j, "null") && !(v = j_string(j, &vlen)))
					return false; /* neither a string nor null */
				if (len + vlen + 1 > cap || sm->n_params == UINT16_MAX) {
					free(v);
					return false;
				}
				memcpy(sm->params + len, v ? v : "NULL", vlen);
				sm->params[len + vlen] = '\0';
				len += vlen + 1;
				sm->n_params++;
				free(v);
				j_ws(j);
				if (*j->p == ',') {
					j->p++;
					j_ws(j);
					if (*j->p == ']')
						return false; /* [..., ] */
				} else if (*j->p != ']') {
					return false;
				}
			}
			j->p++;
			sm->params_len = (uint32_t)len;
		}
		j_ws(j);
		if (*j->p == ',') {
			j->p++;
			j_ws(j);
			continue;
		}
		if (*j->p == '}') {
			j->p++;
			return true;
		}
		return false;
	}
}

static void j_ws(JRead *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static bool j_lit(JRead *j, const char *lit)
{
	size_t n = strlen(lit);
	if (strncmp(j->p, lit, n) != 0)
		return false;
	j->p += n;
	return true;
}

static bool j_end(JRead *j)
{
	j_ws(j);
	return *j->p == '\0';
}

static int hex4(const char *p)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' :
			c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 :
					       -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* A JSON string at j->p, decoded to UTF-8 (malloc'd; NULL when it is not one or holds \u0000). */
static char *j_string(JRead *j, size_t *len)
{
	const char *p = j->p;
	if (*p != '"')
		return NULL;
	p++;
	char *out = malloc(strlen(p) + 1); /* decoding never makes it longer */
	if (!out)
		return NULL;
	size_t o = 0;
	while (*p != '"') {
		unsigned char c = (unsigned char)*p;
		if (c == '\0' || c < 0x20)
			goto bad;
		if (c != '\\') {
			out[o++] = *p++;
			continue;
		}
		p++;
		const char *esc = strchr("\"\\/bfnrt", *p);
		if (*p && esc) {
			out[o++] = "\"\\/\b\f\n\r\t"[esc - "\"\\/bfnrt"];
			p++;
			continue;
		}
		if (*p != 'u')
			goto bad;
		long cp = hex4(p + 1);
		p += 5;
		if (cp >= 0xd800 && cp <= 0xdbff && p[0] == '\\' && p[1] == 'u') {
			int lo = hex4(p + 2);
			if (lo >= 0xdc00 && lo <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			}
		}
		if (cp <= 0 || (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		/* at most 4 bytes for the 6 or 12 read */
		if (cp < 0x80) {
			out[o++] = (char)cp;
		} else if (cp < 0x800) {
			out[o++] = (char)(0xc0 | (cp >> 6));
			out[o++] = (char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			out[o++] = (char)(0xe0 | (cp >> 12));
			out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			out[o++] = (char)(0x80 | (cp & 0x3f));
		} else {
			out[o++] = (char)(0xf0 | (cp >> 18));
			out[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
			out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			out[o++] = (char)(0x80 | (cp & 0x3f));
		}
	}
	out[o] = '\0';
	j->p = p + 1;
	if (len)
		*len = o;
	return out;
bad:
	free(out);
	return NULL;
}

/* A non-negative integer (jsonb prints integral numerics without a fraction). */
static bool j_count(JRead *j, uint64_t *v)
{
	j_ws(j);
	if (*j->p < '0' || *j->p > '9')
		return false;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(j->p, &end, 10);
	if (errno || *end == '.' || *end == 'e' || *end == 'E')
		return false;
	j->p = end;
	*v = x;
	return true;
}
