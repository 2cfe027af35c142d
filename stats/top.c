/*
 * top: `pgsift top --stats-dsn URL`, the statements of every pgsift that writes into one fleet
 * statistics store, summed over the instances, most expensive first. The store is read by
 * stats_store_load_pg (store_read.c) and the rows are SHOW QUERIES's, built by digest_store_rows:
 * the same sums and the same percentiles (nearest rank over the merged histograms), so a fleet of
 * one gives what that process's SHOW QUERIES gives. This file is only the command line: the
 * options, the filter, the order and the three output formats.
 */
#include "stats/top.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stats/digest.h"
#include "stats/stats.h"
#include "util/duration.h"
#include "util/json.h"

typedef enum { TOP_TABLE, TOP_CSV, TOP_JSON } TopFormat;
typedef enum { TOP_BY_TOTAL, TOP_BY_CALLS, TOP_BY_MEAN, TOP_BY_P99, TOP_BY_ERRORS } TopSort;

typedef struct TopArgs {
	const char *config; /* -c FILE: stats_dsn and stats_dsn_schema from it */
	const char *dsn;
	const char *schema;
	const char *since;
	const char *database;
	size_t limit; /* 0: every statement */
	TopSort sort;
	TopFormat format;
} TopArgs;

#define TOP_QUERY_WIDTH 100 /* characters of the query in the table format */

const char top_usage_brief[] =
	"  pgsift top [-c FILE | --stats-dsn URL] [--stats-dsn-schema S] [--since 1h] [--limit "
	"20]\n"
	"             [--sort total|calls|mean|p99|errors] [--database D] [--format "
	"table|csv|json]\n";

static const char top_usage[] =
	"usage: pgsift top [-c FILE | --stats-dsn URL] [--stats-dsn-schema S] [--since 1h]\n"
	"                  [--limit 20]\n"
	"                  [--sort total|calls|mean|p99|errors] [--database D]\n"
	"                  [--format table|csv|json]\n"
	"The statements of every pgsift writing into the fleet statistics store (stats_dsn),\n"
	"summed over the instances, as SHOW QUERIES shows one process's. --since is exact to the\n"
	"hour (the window starts at the hour that contains now minus the duration); without it,\n"
	"every hour kept. --limit 0 prints every statement. -c FILE takes stats_dsn and\n"
	"stats_dsn_schema from a proxy's configuration file.\n";

static TopSort g_sort; /* qsort has no argument */

static int row_cmp(const void *a, const void *b);
static void print_table(const StatsQueryRow *const *rows, size_t n);
static void print_csv(const StatsQueryRow *const *rows, size_t n);
static void print_json(const StatsQueryRow *const *rows, size_t n, uint64_t instances,
		       const char *window, int64_t since_hour_us);
static void window_str(const char *since, int64_t since_hour_us, char *buf, size_t cap);
static int top_run(TopArgs *a);

int top_main(int argc, char **argv)
{
	TopArgs a = {.limit = 20, .sort = TOP_BY_TOTAL, .format = TOP_TABLE};
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
			fputs(top_usage, stdout);
			return 0;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "pgsift top: %s needs a value\n", o);
			return 2;
		}
		const char *v = argv[++i];
		if (strcmp(o, "-c") == 0 || strcmp(o, "--config") == 0) {
			a.config = v;
		} else if (strcmp(o, "--stats-dsn") == 0) {
			a.dsn = v;
		} else if (strcmp(o, "--stats-dsn-schema") == 0) {
			a.schema = v;
		} else if (strcmp(o, "--since") == 0) {
			a.since = v;
		} else if (strcmp(o, "--database") == 0) {
			a.database = v;
		} else if (strcmp(o, "--limit") == 0) {
			char *end;
			long long n = strtoll(v, &end, 10);
			if (end == v || *end || n < 0) {
				fprintf(stderr,
					"pgsift top: --limit: expected a number >= 0 (got '%s')\n",
					v);
				return 2;
			}
			a.limit = (size_t)n;
		} else if (strcmp(o, "--sort") == 0) {
			static const char *const names[] = {"total", "calls", "mean", "p99",
							    "errors"};
			size_t k = 0;
			while (k < 5 && strcmp(names[k], v) != 0)
				k++;
			if (k == 5) {
				fprintf(stderr,
					"pgsift top: --sort: expected total, calls, mean, p99 or "
					"errors (got '%s')\n",
					v);
				return 2;
			}
			a.sort = (TopSort)k;
		} else if (strcmp(o, "--format") == 0) {
			if (strcmp(v, "table") == 0)
				a.format = TOP_TABLE;
			else if (strcmp(v, "csv") == 0)
				a.format = TOP_CSV;
			else if (strcmp(v, "json") == 0)
				a.format = TOP_JSON;
			else {
				fprintf(stderr,
					"pgsift top: --format: expected table, csv or json (got "
					"'%s')\n",
					v);
				return 2;
			}
		} else {
			fprintf(stderr, "pgsift top: unknown option %s\n%s", o, top_usage);
			return 2;
		}
	}
	Config *cfg = NULL;
	if (a.config && !a.dsn) {
		char cerr[512];
		ConfigArgs ca;
		memset(&ca, 0, sizeof(ca));
		ca.config_file = a.config;
		cfg = config_load(&ca, cerr, sizeof(cerr));
		if (!cfg) {
			fprintf(stderr, "pgsift top: %s\n", cerr);
			return 2;
		}
		a.dsn = cfg->stats_dsn;
		if (!a.schema)
			a.schema = cfg->stats_dsn_schema;
	}
	int rc = top_run(&a);
	config_free(cfg);
	return rc;
}

/* The command once its arguments are checked (a's strings outlive the call). */
static int top_run(TopArgs *a_in)
{
	TopArgs a = *a_in;
	if (!a.dsn) {
		fprintf(stderr,
			"pgsift top: --stats-dsn (or -c FILE with stats_dsn) is required\n%s",
			top_usage);
		return 2;
	}
	int64_t since_us;
	if (!duration_since_us("top", a.since, &since_us))
		return 2;
	StatsStore *store = NULL;
	char err[1024] = "";
	int rc = stats_store_load_pg(a.dsn, a.schema, since_us, &store, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "pgsift top: %s\n", err);
		return 1;
	}
	StatsQueries q;
	if (digest_store_rows(store, since_us, 0, &q) != 0) {
		fprintf(stderr, "pgsift top: out of memory\n");
		stats_store_free(store);
		return 1;
	}
	const StatsQueryRow **rows = calloc(q.n ? q.n : 1, sizeof(*rows));
	if (!rows) {
		fprintf(stderr, "pgsift top: out of memory\n");
		stats_queries_free(&q);
		stats_store_free(store);
		return 1;
	}
	size_t n = 0;
	for (size_t i = 0; i < q.n; i++)
		if (!a.database || strcmp(q.rows[i].database, a.database) == 0)
			rows[n++] = &q.rows[i];
	g_sort = a.sort;
	qsort(rows, n, sizeof(*rows), row_cmp);
	size_t shown = a.limit && a.limit < n ? a.limit : n;
	int64_t since_hour_us = since_us > 0 ? since_us / US_PER_HOUR * US_PER_HOUR : 0;
	char window[128];
	window_str(a.since, since_hour_us, window, sizeof(window));
	uint64_t inst = stats_store_instances(store);
	char header[512];
	snprintf(header, sizeof(header),
		 "pgsift top: %" PRIu64 " instance%s, window: %s, %zu statement%s%s%s, by %s", inst,
		 inst == 1 ? "" : "s", window, n, n == 1 ? "" : "s",
		 a.database ? " on database " : "", a.database ? a.database : "",
		 (const char *[]){"total", "calls", "mean", "p99", "errors"}[a.sort]);
	if (a.format == TOP_TABLE) {
		printf("-- %s\n", header);
		print_table(rows, shown);
	} else if (a.format == TOP_CSV) {
		/* stdout stays pure CSV, for the tools that read it */
		fprintf(stderr, "%s\n", header);
		print_csv(rows, shown);
	} else {
		print_json(rows, shown, inst, window, since_hour_us);
	}
	free(rows);
	stats_queries_free(&q);
	stats_store_free(store);
	return 0;
}

static double sort_key(const StatsQueryRow *r)
{
	switch (g_sort) {
	case TOP_BY_CALLS:
		return (double)r->calls;
	case TOP_BY_MEAN:
		return r->mean_ms;
	case TOP_BY_P99:
		return r->p99_ms;
	case TOP_BY_ERRORS:
		return (double)r->errors;
	default:
		return r->total_ms;
	}
}

/* The key descending, then SHOW QUERIES's order (total time descending, fingerprint, database,
 * user): the same input always prints the same way. */
static int row_cmp(const void *a, const void *b)
{
	const StatsQueryRow *x = *(const StatsQueryRow *const *)a;
	const StatsQueryRow *y = *(const StatsQueryRow *const *)b;
	double kx = sort_key(x), ky = sort_key(y);
	if (kx != ky)
		return kx > ky ? -1 : 1;
	return digest_row_order(x, y);
}

static void window_str(const char *since, int64_t since_hour_us, char *buf, size_t cap)
{
	if (!since_hour_us) {
		snprintf(buf, cap, "all hours kept");
		return;
	}
	time_t t = (time_t)(since_hour_us / 1000000);
	struct tm tm;
	char when[40] = "";
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:00 UTC", &tm);
	snprintf(buf, cap, "since %s (--since %s)", when, since);
}

/* The query on one line (whitespace runs as one space), cut at TOP_QUERY_WIDTH characters. */
static void one_line(const char *q, char *buf, size_t cap)
{
	size_t o = 0, chars = 0;
	bool space = false;
	for (const unsigned char *p = (const unsigned char *)q; *p && o + 8 < cap; p++) {
		if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') {
			space = o > 0;
			continue;
		}
		bool starts_char = (*p & 0xc0) != 0x80;
		if (starts_char && chars + space >= TOP_QUERY_WIDTH) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (space) {
			buf[o++] = ' ';
			chars++;
			space = false;
		}
		buf[o++] = (char)*p;
		chars += starts_char;
	}
	buf[o] = '\0';
}

static void print_table(const StatsQueryRow *const *rows, size_t n)
{
	printf("%-16s %10s %8s %12s %10s %10s %10s %10s %10s %10s %-12s %-12s %s\n", "fingerprint",
	       "calls", "errors", "total_ms", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms",
	       "rows", "database", "user", "query");
	for (size_t i = 0; i < n; i++) {
		const StatsQueryRow *r = rows[i];
		char q[TOP_QUERY_WIDTH * 4 + 16];
		one_line(r->query, q, sizeof(q));
		printf("%-16s %10" PRIu64 " %8" PRIu64
		       " %12.3f %10.3f %10.3f %10.3f %10.3f %10.3f %10" PRIu64 " %-12s %-12s %s\n",
		       r->fingerprint, r->calls, r->errors, r->total_ms, r->mean_ms, r->p50_ms,
		       r->p95_ms, r->p99_ms, r->max_ms, r->rows, r->database, r->user, q);
	}
}

static void csv_field(const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

/* ms to the nanosecond: the store keeps nanoseconds */
#define MS "%.6f"

static void print_csv(const StatsQueryRow *const *rows, size_t n)
{
	puts("fingerprint,calls,errors,total_ms,mean_ms,p50_ms,p95_ms,p99_ms,max_ms,rows,database,"
	     "user,query");
	for (size_t i = 0; i < n; i++) {
		const StatsQueryRow *r = rows[i];
		printf("%s,%" PRIu64 ",%" PRIu64 "," MS "," MS "," MS "," MS "," MS "," MS
		       ",%" PRIu64 ",",
		       r->fingerprint, r->calls, r->errors, r->total_ms, r->mean_ms, r->p50_ms,
		       r->p95_ms, r->p99_ms, r->max_ms, r->rows);
		csv_field(r->database);
		putchar(',');
		csv_field(r->user);
		putchar(',');
		csv_field(r->query);
		putchar('\n');
	}
}

static void file_sink(void *ctx, const char *p, size_t n)
{
	fwrite(p, 1, n, ctx);
}

static void json_str(const char *s)
{
	json_write_str(file_sink, stdout, s, strlen(s));
}

static void print_json(const StatsQueryRow *const *rows, size_t n, uint64_t instances,
		       const char *window, int64_t since_hour_us)
{
	printf("{\"instances\": %" PRIu64 ", \"window\": ", instances);
	json_str(window);
	printf(", \"since_us\": %" PRId64 ", \"statements\": [", since_hour_us);
	for (size_t i = 0; i < n; i++) {
		const StatsQueryRow *r = rows[i];
		printf("%s\n  {\"fingerprint\": \"%s\", \"calls\": %" PRIu64
		       ", \"errors\": %" PRIu64 ", \"timeouts\": %" PRIu64 ", \"total_ms\": " MS
		       ", \"mean_ms\": " MS ", \"p50_ms\": " MS ", \"p95_ms\": " MS
		       ", \"p99_ms\": " MS ", \"max_ms\": " MS ", \"rows\": %" PRIu64
		       ", \"first_seen_us\": %" PRId64 ", \"last_seen_us\": %" PRId64
		       ", \"database\": ",
		       i ? "," : "", r->fingerprint, r->calls, r->errors, r->timeouts, r->total_ms,
		       r->mean_ms, r->p50_ms, r->p95_ms, r->p99_ms, r->max_ms, r->rows,
		       r->first_seen_us, r->last_seen_us);
		json_str(r->database);
		fputs(", \"user\": ", stdout);
		json_str(r->user);
		fputs(", \"query\": ", stdout);
		json_str(r->query);
		fputs(", \"error_classes\": {", stdout);
		for (size_t k = 0; k < r->n_error_classes; k++) {
			fputs(k ? ", " : "", stdout);
			json_str(r->error_classes[k].cls);
			printf(": %" PRIu64, r->error_classes[k].count);
		}
		fputs("}}", stdout);
	}
	fputs("]}\n", stdout);
}
