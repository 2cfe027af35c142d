/*
 * fleet_export: a test-only tool (not part of pgsift) that loads a stats file with
 * stats_store_load and prints the INSERT statements that put the same statistics into the fleet
 * statistics store's tables (README.md, "Fleet statistics"), as one instance with one
 * application would have written them. test_fleet_read.py uses it to check that `pgsift suggest
 * --stats-dsn` over those rows says exactly what `pgsift suggest --stats-file` says.
 *
 *   fleet_export STATS_FILE SCHEMA INSTANCE APPLICATION > inserts.sql
 *
 * The schema's version row and pgsift_instances are the test's business.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats/digest.h"
#include "stats/stats.h"
#include "util/json.h"

/* Writes into a growing buffer (json_write_str's sink). */
typedef struct Buf {
	char *p;
	size_t len, cap;
} Buf;

static void buf_put(void *ctx, const char *p, size_t n)
{
	Buf *b = ctx;
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p) {
			fprintf(stderr, "fleet_export: out of memory\n");
			exit(1);
		}
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(Buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

/* s as a SQL string literal (standard_conforming_strings). */
static void sql_str(const char *s)
{
	putchar('\'');
	for (; *s; s++) {
		if (*s == '\'')
			putchar('\'');
		putchar(*s);
	}
	putchar('\'');
}

/* An exact timestamptz from microseconds since the epoch. */
static void sql_ts(int64_t us)
{
	printf("(timestamptz 'epoch' + interval '1 microsecond' * %" PRId64 ")", us);
}

static void samples_json(const Digest *d, Buf *b)
{
	buf_str(b, "[");
	for (uint32_t i = 0; i < d->n_samples; i++) {
		const DigestSample *s = &d->samples[i];
		buf_str(b, i ? ", {\"text\": " : "{\"text\": ");
		if (s->text)
			json_write_str(buf_put, b, s->text, strlen(s->text));
		else
			buf_str(b, "null");
		buf_str(b, ", \"params\": ");
		if (!s->params) {
			buf_str(b, "null}");
			continue;
		}
		buf_str(b, "[");
		const char *p = s->params, *end = s->params + s->params_len;
		for (uint16_t k = 0; k < s->n_params && p < end; k++) {
			size_t n = strnlen(p, (size_t)(end - p));
			if (k)
				buf_str(b, ", ");
			json_write_str(buf_put, b, p, n);
			p += n + 1;
		}
		buf_str(b, "]}");
	}
	buf_str(b, "]");
}

static void export_digest(const Digest *d, const char *schema, const char *instance,
			  const char *app)
{
	int64_t fp = (int64_t)(d->is_other ? 0 : d->fingerprint);
	printf("INSERT INTO %s.pgsift_queries (fingerprint, database, username, kind, query, "
	       "samples, first_seen) VALUES (%" PRId64 ", ",
	       schema, fp);
	sql_str(d->db);
	putchar(',');
	sql_str(d->user);
	putchar(',');
	sql_str(stmt_kind_str(d->kind));
	putchar(',');
	sql_str(d->text);
	putchar(',');
	if (d->n_samples) {
		Buf b = {0};
		samples_json(d, &b);
		sql_str(b.p);
		free(b.p);
	} else {
		fputs("NULL", stdout);
	}
	putchar(',');
	sql_ts(d->total.first_seen_us);
	puts(");");
	for (uint32_t h = 0; h < d->n_hours; h++) {
		const DigestAgg *a = &d->hours[h].agg;
		if (!a->calls)
			continue;
		printf("INSERT INTO %s.pgsift_statements (instance, hour, fingerprint, database, "
		       "username, application, calls, errors, timeouts, cancelled, rows, total_ns, "
		       "min_ns, max_ns, first_seen, last_seen, error_classes, hist_idx, hist_cnt) "
		       "VALUES (",
		       schema);
		sql_str(instance);
		printf(", to_timestamp(%" PRId64 " * 3600), %" PRId64 ", ", d->hours[h].hour, fp);
		sql_str(d->db);
		putchar(',');
		sql_str(d->user);
		putchar(',');
		sql_str(app);
		printf(", %" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %" PRIu64
		       ", %" PRIu64 ", %" PRIu64 ", ",
		       a->calls, a->errors, a->timeouts, a->cancelled, a->rows, a->total_ns,
		       a->min_ns, a->max_ns);
		sql_ts(a->first_seen_us);
		putchar(',');
		sql_ts(a->last_seen_us);
		fputs(", '{", stdout);
		for (uint32_t k = 0; k < a->n_err; k++)
			printf("%s\"%c%c\": %" PRIu64, k ? ", " : "", a->err[k].cls[0],
			       a->err[k].cls[1], a->err[k].n);
		fputs("}', '{", stdout);
		for (uint32_t k = 0; k < a->hist.n; k++)
			printf("%s%u", k ? "," : "", a->hist.idx[k]);
		fputs("}', '{", stdout);
		for (uint32_t k = 0; k < a->hist.n; k++)
			printf("%s%" PRIu64, k ? "," : "", a->hist.cnt[k]);
		puts("}');");
	}
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: fleet_export STATS_FILE SCHEMA INSTANCE APPLICATION\n");
		return 2;
	}
	StatsStore *s = NULL;
	char err[256];
	if (stats_store_load(argv[1], &s, err, sizeof(err)) != 0) {
		fprintf(stderr, "fleet_export: %s: %s\n", argv[1], err);
		return 1;
	}
	const char *schema = argv[2], *instance = argv[3], *app = argv[4];
	puts("BEGIN;");
	for (const Digest *d = digest_lru_last(s); d; d = digest_lru_prev(s, d))
		export_digest(d, schema, instance, app);
	if (s->other)
		export_digest(s->other, schema, instance, app);
	HashNode *n, *next;
	size_t b;
	hashtab_for_each_safe(n, next, b, &s->tables)
	{
		const TableStat *t = list_entry(n, TableStat, link);
		for (uint32_t h = 0; h < t->n_hours; h++) {
			const TableHour *th = &t->hours[h];
			printf("INSERT INTO %s.pgsift_table_writes (instance, hour, table_name, "
			       "inserts, updates, deletes, rows) VALUES (",
			       schema);
			sql_str(instance);
			printf(", to_timestamp(%" PRId64 " * 3600), ", th->hour);
			sql_str(t->name);
			printf(", %" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %" PRIu64 ");\n",
			       th->inserts, th->updates, th->deletes, th->rows);
		}
	}
	puts("COMMIT;");
	stats_store_free(s);
	return 0;
}
