/*
 * output.c: the four output formats of `pgsift suggest` (see output.h). The SQL
 * form is meant to be committed as a migration: every statement is preceded by a comment block
 * that says which statements it serves, how often and how slow they are, what it is estimated to
 * save and what it costs the table's writes.
 */
#include "stats/advisor/output.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

static void print_num(FILE *out, double v, const char *fmt);
static void one_line(char *dst, size_t cap, const char *src);
static void sql_output(FILE *out, const Advisor *adv, const char *header);
static void json_output(FILE *out, const Advisor *adv);
static void json_suggestion(FILE *out, const Advisor *adv, const AdvSuggestion *s);
static void csv_output(FILE *out, const Advisor *adv);
static void md_cell(FILE *out, const char *s);
static void md_output(FILE *out, const Advisor *adv, const char *header);
static void csv_field(FILE *out, const char *s);

bool advisor_format_parse(const char *s, AdvFormat *out)
{
	if (strcmp(s, "sql") == 0)
		*out = ADV_FMT_SQL;
	else if (strcmp(s, "json") == 0)
		*out = ADV_FMT_JSON;
	else if (strcmp(s, "csv") == 0)
		*out = ADV_FMT_CSV;
	else if (strcmp(s, "markdown") == 0 || strcmp(s, "md") == 0)
		*out = ADV_FMT_MARKDOWN;
	else
		return false;
	return true;
}

void advisor_output(FILE *out, const Advisor *adv, AdvFormat fmt, const char *header)
{
	switch (fmt) {
	case ADV_FMT_SQL:
		sql_output(out, adv, header);
		break;
	case ADV_FMT_JSON:
		json_output(out, adv);
		break;
	case ADV_FMT_CSV:
		csv_output(out, adv);
		break;
	case ADV_FMT_MARKDOWN:
		md_output(out, adv, header);
		break;
	}
}

/* The sink of json_write_str: a stream. */
static void file_sink(void *ctx, const char *p, size_t n)
{
	fwrite(p, 1, n, ctx);
}

void advisor_json_str(FILE *out, const char *s)
{
	if (!s)
		fputs("null", out);
	else
		json_write_str(file_sink, out, s, strlen(s));
}

/* A number, or null (JSON) when unknown (< 0). */
static void print_num(FILE *out, double v, const char *fmt)
{
	if (v < 0 || isnan(v))
		fputs("null", out);
	else
		fprintf(out, fmt, v);
}

/* Collapses whitespace runs (newlines included) into one space, for comments and tables. */
static void one_line(char *dst, size_t cap, const char *src)
{
	size_t o = 0;
	bool sp = false;
	for (const char *p = src; *p && o + 1 < cap; p++) {
		if (*p == '\n' || *p == '\r' || *p == '\t' || *p == ' ') {
			sp = o > 0;
			continue;
		}
		if (sp && o + 2 < cap)
			dst[o++] = ' ';
		sp = false;
		dst[o++] = *p;
	}
	dst[o] = '\0';
}

static size_t live_count(const Advisor *adv)
{
	size_t n, live = 0;
	const AdvSuggestion *s = advisor_suggestions(adv, &n);
	for (size_t i = 0; i < n; i++)
		live += !s[i].dropped;
	return live;
}

static void fmt_ms(char *buf, size_t cap, double v)
{
	if (v < 0)
		snprintf(buf, cap, "unknown");
	else
		snprintf(buf, cap, "%.2f ms", v);
}

const char *advisor_path(const AdvSuggestion *s, size_t k)
{
	return s->paths && k < s->n_stmts && s->paths[k] ? s->paths[k] : "";
}

void advisor_writes_text(char *buf, size_t cap, const AdvSuggestion *s)
{
	const AdvTable *t = s->table;
	size_t o = 0;
	if (t->writes_per_min >= 0)
		o += (size_t)snprintf(buf, cap, "%.1f writes/min", t->writes_per_min);
	else
		o += (size_t)snprintf(buf, cap, "write rate unknown");
	if (o < cap && t->write_calls)
		o += (size_t)snprintf(buf + o, cap - o, ", %llu write statements seen",
				      (unsigned long long)t->write_calls);
	if (o < cap)
		snprintf(buf + o, cap - o, "; %s",
			 s->n_updated_keys ? "key columns are updated: no HOT updates for those" :
					     "no key column is updated (HOT updates unaffected)");
}

static void sql_output(FILE *out, const Advisor *adv, const char *header)
{
	size_t n, nst;
	const AdvSuggestion *sugg = advisor_suggestions(adv, &n);
	const AdvStatement *stmts = advisor_statements(adv, &nst);
	fprintf(out, "-- pgsift suggest: %zu index suggestion%s\n", live_count(adv),
		live_count(adv) == 1 ? "" : "s");
	if (header)
		fprintf(out, "-- %s\n", header);
	for (size_t i = 0; i < n; i++) {
		const AdvSuggestion *s = &sugg[i];
		char tab[600], buf[4096], tot[32], p95[32];
		advisor_table_sql(s->table, tab, sizeof(tab));
		fputs("\n", out);
		if (s->dropped) {
			advisor_index_sql(s, false, buf, sizeof(buf));
			fprintf(out, "-- rejected: %s\n--   %s\n", buf,
				s->drop_why ? s->drop_why : "");
			continue;
		}
		fmt_ms(tot, sizeof(tot), s->total_ms);
		fmt_ms(p95, sizeof(p95), s->p95_ms);
		fprintf(out, "-- %s on %s", s->name, tab);
		if (s->table->rows >= 0)
			fprintf(out, " (%.0f rows, %.0f pages)", s->table->rows,
				s->table->pages < 0 ? 0 : s->table->pages);
		fprintf(out, "\n--   serves %zu statement%s: %llu calls, total %s, p95 %s\n",
			s->n_stmts, s->n_stmts == 1 ? "" : "s", (unsigned long long)s->calls, tot,
			p95);
		if (s->saving_pct >= 0)
			fprintf(out,
				"--   estimated saving: %.0f%% (planner cost %.2f -> %.2f), needs "
				"%d%%\n",
				s->saving_pct, s->cost_before, s->cost_after,
				s->required_saving_pct);
		else
			fprintf(out,
				"--   estimated saving: not validated (run with --validate)\n");
		advisor_writes_text(buf, sizeof(buf), s);
		fprintf(out, "--   writes: %s\n", buf);
		for (size_t k = 0; k < s->n_notes; k++)
			fprintf(out, "--   note: %s\n", s->notes[k]);
		for (size_t k = 0; k < s->n_stmts; k++) {
			const AdvStatement *st = &stmts[s->stmts[k]];
			fmt_ms(tot, sizeof(tot), st->total_ms);
			fmt_ms(p95, sizeof(p95), st->p95_ms);
			one_line(buf, sizeof(buf), st->display);
			fprintf(out, "--   %016llx: %llu calls, total %s, p95 %s\n--     %s\n",
				(unsigned long long)st->fingerprint, (unsigned long long)st->calls,
				tot, p95, buf);
			fprintf(out, "--     access path: %s\n", advisor_path(s, k));
		}
		advisor_index_sql(s, false, buf, sizeof(buf));
		fprintf(out, "%s\n", buf);
	}
}

static void json_output(FILE *out, const Advisor *adv)
{
	size_t n, nskip;
	const AdvSuggestion *sugg = advisor_suggestions(adv, &n);
	const char *const *skips = advisor_skips(adv, &nskip);
	fputs("{\"suggestions\": [", out);
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		if (sugg[i].dropped)
			continue;
		fputs(first ? "\n  " : ",\n  ", out);
		first = false;
		json_suggestion(out, adv, &sugg[i]);
	}
	fputs("],\n\"rejected\": [", out);
	first = true;
	for (size_t i = 0; i < n; i++) {
		if (!sugg[i].dropped)
			continue;
		fputs(first ? "\n  " : ",\n  ", out);
		first = false;
		json_suggestion(out, adv, &sugg[i]);
	}
	fputs("],\n\"skipped\": [", out);
	for (size_t i = 0; i < nskip; i++) {
		fputs(i ? ",\n  " : "\n  ", out);
		advisor_json_str(out, skips[i]);
	}
	fputs("]}\n", out);
}

static void csv_field(FILE *out, const char *s)
{
	if (!s)
		s = "";
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			fputc('"', out);
		fputc(*p, out);
	}
	fputc('"', out);
}

static void md_cell(FILE *out, const char *s)
{
	for (const char *p = s ? s : ""; *p; p++) {
		if (*p == '|')
			fputs("\\|", out);
		else if (*p == '\n')
			fputs("<br>", out);
		else
			fputc(*p, out);
	}
}

/* ------------------------------------------------------------------------------------------
 * One table of a suggestion's fields, for every format: JSON has each (in this order), CSV the
 * ones marked csv (in this order), Markdown and SHOW SUGGESTIONS choose theirs by name. */

typedef enum { FV_NULL, FV_TEXT, FV_NUM, FV_INT, FV_BOOL, FV_LIST } FieldKind;

/* One field's value. text may point into buf or owned (freed by field_done). */
typedef struct FieldValue {
	FieldKind kind;
	const char *text;
	double num;
	const char *fmt; /* FV_NUM */
	unsigned long long u;
	bool flag;
	const char *const *list; /* FV_LIST */
	size_t n_list;
	const char *sep; /* FV_LIST as one text (CSV, Markdown) */
	char *owned;
	char buf[4096];
} FieldValue;

typedef void (*FieldFn)(const Advisor *adv, const AdvSuggestion *s, FieldValue *v);

/* Where a plain number field is read: a double of the suggestion or of its table. */
typedef enum { NUM_NONE, NUM_SUGG, NUM_TABLE } NumSource;

typedef struct Field {
	const char *name; /* JSON key, CSV column, the name SHOW SUGGESTIONS and Markdown use */
	bool csv;
	FieldFn get; /* NULL: a number (num_source, num_off, num_fmt) */
	/* JSON of a structured field (columns, statements); NULL: from the value */
	void (*json)(FILE *out, const Advisor *adv, const AdvSuggestion *s);
	NumSource num_source;
	size_t num_off;
	const char *num_fmt; /* < 0 is unknown: null */
} Field;

static void set_text(FieldValue *v, const char *t)
{
	v->kind = t ? FV_TEXT : FV_NULL;
	v->text = t;
}

static void set_num(FieldValue *v, double num, const char *fmt)
{
	v->kind = num < 0 || isnan(num) ? FV_NULL : FV_NUM;
	v->num = num;
	v->fmt = fmt;
}

static void set_list(FieldValue *v, char *const *list, size_t n, const char *sep)
{
	v->kind = FV_LIST;
	v->list = (const char *const *)list;
	v->n_list = n;
	v->sep = sep;
}

static void f_table(const Advisor *adv, const AdvSuggestion *s, FieldValue *v)
{
	(void)adv;
	advisor_table_sql(s->table, v->buf, sizeof(v->buf));
	set_text(v, v->buf);
}

static void f_schema(const Advisor *adv, const AdvSuggestion *s, FieldValue *v)
{
	(void)adv;
	set_text(v, s->table->schema);
}

static void f_relation(const Advisor *adv, const AdvSuggestion *s, FieldValue *v)
{
	(void)adv;
	set_text(v, s->table->name);
}

static void f_index_name(const Advisor *adv, const AdvSuggestion *s, FieldValue *v)
{
	(void)adv;
	set_text(v, s->name);
}

static void f_method(const Advisor *adv, const AdvSuggestion *s, FieldValue *v)
{
	(void)adv;
	set_text(v, s->method);
}

static void f_columns(const Advisor *adv, const AdvSuggestion *s, FieldValue *v)
{
	(void)adv;
	advisor_keys_sql(s, v->buf, sizeof(v->buf));
	set_text(v, v->buf);
}

static void json_columns(FILE *out, const Advisor *adv, const AdvSuggestion *s)
{
	(void)adv;
	fputc('[', out);
	for (size_t k = 0; k < s->n_keys; k++) {
		const AdvKey *key = &s->keys[k];
		fprintf(out, "%s{\"%s\": ", k ? ", " : "", key->is_expr ? "expression" : "column");
		advisor_json_str(out, key->expr);
		fprintf(out, ", \"desc\": %s, \"nulls_first\": %s, \"opclass\": ",
			key->desc ? "true" : "false", key->nulls_first ? "true" : "false");
		advisor_json_str(out, key->opclass);
		fputc('}', out);
	}
	fputc(']', out);
}

static void f_include(const Advisor *adv, const AdvSuggestion *s, FieldValue *v)
{
	(void)adv;
	set_list(v, (char *const *)s->include, s->n_include, " ");
}

static void f_where(const Advisor *adv, const AdvSuggestion *s, FieldValue *v)
{
	(void)adv;
	set_text(v, s->where);
}

static void f_sql(const Advisor *adv, const AdvSuggestion *s, FieldValue *v)
{
	(void)adv;
	advisor_index_sql(s, false, v->buf, sizeof(v->buf));
	set_text(v, v->buf);
}

static void f_required(const Advisor *adv, const AdvSuggestion *s, FieldValue *v)
{
	(void)adv;
	set_num(v, s->required_saving_pct, "%.0f"); /* an int: not a NUM_SUGG double */
}

static void f_calls(const Advisor *adv, const AdvSuggestion *s, FieldValue *v)
{
	(void)adv;
	v->kind = FV_INT;
	v->u = (unsigned long long)s->calls;
}

static void f_write_statements(const Advisor *adv, const AdvSuggestion *s, FieldValue *v)
{
	(void)adv;
	v->kind = FV_INT;
	v->u = (unsigned long long)s->table->write_calls;
}

static void f_updated_keys(const Advisor *adv, const AdvSuggestion *s, FieldValue *v)
{
	(void)adv;
	set_list(v, s->updated_keys, s->n_updated_keys, " ");
}

static void f_hot_blocked(const Advisor *adv, const AdvSuggestion *s, FieldValue *v)
{
	(void)adv;
	v->kind = FV_BOOL;
	v->flag = s->n_updated_keys > 0;
}

static void f_notes(const Advisor *adv, const AdvSuggestion *s, FieldValue *v)
{
	(void)adv;
	set_list(v, s->notes, s->n_notes, "; ");
}

/* One line per statement: "fingerprint (calls, access path): normalized text on one line". */
static void f_statements(const Advisor *adv, const AdvSuggestion *s, FieldValue *v)
{
	size_t nst, len = 1;
	const AdvStatement *stmts = advisor_statements(adv, &nst);
	for (size_t k = 0; k < s->n_stmts; k++)
		len += strlen(stmts[s->stmts[k]].display) + 64 + strlen(advisor_path(s, k));
	v->owned = malloc(len);
	set_text(v, v->owned);
	if (!v->owned)
		return;
	size_t o = 0;
	v->owned[0] = '\0';
	for (size_t k = 0; k < s->n_stmts; k++) {
		const AdvStatement *st = &stmts[s->stmts[k]];
		o += (size_t)snprintf(v->owned + o, len - o,
				      "%s%016llx (%llu calls, %s): ", k ? "\n" : "",
				      (unsigned long long)st->fingerprint,
				      (unsigned long long)st->calls, advisor_path(s, k));
		one_line(v->owned + o, len - o, st->display);
		o += strlen(v->owned + o);
	}
}

static void json_statements(FILE *out, const Advisor *adv, const AdvSuggestion *s)
{
	size_t nst;
	const AdvStatement *stmts = advisor_statements(adv, &nst);
	fputc('[', out);
	for (size_t k = 0; k < s->n_stmts; k++) {
		const AdvStatement *st = &stmts[s->stmts[k]];
		fprintf(out, "%s{\"fingerprint\": \"%016llx\", \"query\": ", k ? ", " : "",
			(unsigned long long)st->fingerprint);
		advisor_json_str(out, st->display);
		fprintf(out, ", \"calls\": %llu, \"total_ms\": ", (unsigned long long)st->calls);
		print_num(out, st->total_ms, "%.3f");
		fputs(", \"p95_ms\": ", out);
		print_num(out, st->p95_ms, "%.3f");
		fputs(", \"access_path\": ", out);
		advisor_json_str(out, advisor_path(s, k));
		fputc('}', out);
	}
	fputc(']', out);
}

/* A number read at a struct offset (of the suggestion or of its table), printed with fmt. */
#define NUM_FIELD(name_, csv_, source, type, member, fmt)         \
	{                                                         \
		.name = name_, .csv = csv_, .num_source = source, \
		.num_off = offsetof(type, member), .num_fmt = fmt \
	}

static const Field fields[] = {
	{.name = "table", .csv = true, .get = f_table},
	{.name = "schema", .csv = false, .get = f_schema},
	{.name = "relation", .csv = false, .get = f_relation},
	{.name = "index_name", .csv = true, .get = f_index_name},
	{.name = "method", .csv = true, .get = f_method},
	{.name = "columns", .csv = true, .get = f_columns, .json = json_columns},
	{.name = "include", .csv = true, .get = f_include},
	{.name = "where", .csv = true, .get = f_where},
	{.name = "sql", .csv = true, .get = f_sql},
	{.name = "calls", .csv = true, .get = f_calls},
	NUM_FIELD("total_ms", true, NUM_SUGG, AdvSuggestion, total_ms, "%.3f"),
	NUM_FIELD("p95_ms", true, NUM_SUGG, AdvSuggestion, p95_ms, "%.3f"),
	NUM_FIELD("estimated_saving_pct", true, NUM_SUGG, AdvSuggestion, saving_pct, "%.1f"),
	{.name = "required_saving_pct", .csv = true, .get = f_required},
	NUM_FIELD("cost_before", true, NUM_SUGG, AdvSuggestion, cost_before, "%.2f"),
	NUM_FIELD("cost_after", true, NUM_SUGG, AdvSuggestion, cost_after, "%.2f"),
	NUM_FIELD("table_rows", true, NUM_TABLE, AdvTable, rows, "%.0f"),
	NUM_FIELD("table_pages", false, NUM_TABLE, AdvTable, pages, "%.0f"),
	NUM_FIELD("writes_per_min", true, NUM_TABLE, AdvTable, writes_per_min, "%.2f"),
	{.name = "write_statements", .csv = false, .get = f_write_statements},
	{.name = "updated_key_columns", .csv = true, .get = f_updated_keys},
	{.name = "hot_blocked", .csv = false, .get = f_hot_blocked},
	{.name = "notes", .csv = true, .get = f_notes},
	{.name = "statements", .csv = true, .get = f_statements, .json = json_statements},
};
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

/* Field f's value for suggestion s. */
static void field_get(const Field *f, const Advisor *adv, const AdvSuggestion *s, FieldValue *v)
{
	if (f->get) {
		f->get(adv, s, v);
		return;
	}
	const char *base = f->num_source == NUM_TABLE ? (const char *)s->table : (const char *)s;
	double num;
	memcpy(&num, base + f->num_off, sizeof(num));
	set_num(v, num, f->num_fmt);
}

static const Field *field_named(const char *name)
{
	for (size_t i = 0; i < N_FIELDS; i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

static void field_done(FieldValue *v)
{
	free(v->owned);
	v->owned = NULL;
}

/* The value as one text (CSV, Markdown, SHOW SUGGESTIONS); NULL for no value. A number keeps
 * its field's format; a list is joined; yes / no for a flag. */
static const char *field_text(FieldValue *v, char *buf, size_t cap)
{
	switch (v->kind) {
	case FV_NULL:
		return NULL;
	case FV_TEXT:
		return v->text;
	case FV_NUM:
		snprintf(buf, cap, v->fmt, v->num);
		return buf;
	case FV_INT:
		snprintf(buf, cap, "%llu", v->u);
		return buf;
	case FV_BOOL:
		return v->flag ? "yes" : "no";
	case FV_LIST: {
		size_t o = 0;
		buf[0] = '\0';
		for (size_t k = 0; k < v->n_list && o < cap; k++)
			o += (size_t)snprintf(buf + o, cap - o, "%s%s", k ? v->sep : "",
					      v->list[k]);
		return buf;
	}
	}
	return NULL;
}

static void field_json(FILE *out, FieldValue *v)
{
	switch (v->kind) {
	case FV_NULL:
		fputs("null", out);
		break;
	case FV_TEXT:
		advisor_json_str(out, v->text);
		break;
	case FV_NUM:
		print_num(out, v->num, v->fmt);
		break;
	case FV_INT:
		fprintf(out, "%llu", v->u);
		break;
	case FV_BOOL:
		fputs(v->flag ? "true" : "false", out);
		break;
	case FV_LIST:
		fputc('[', out);
		for (size_t k = 0; k < v->n_list; k++) {
			fputs(k ? ", " : "", out);
			advisor_json_str(out, v->list[k]);
		}
		fputc(']', out);
		break;
	}
}

char *advisor_field_text(const Advisor *adv, const AdvSuggestion *s, const char *name)
{
	const Field *f = field_named(name);
	if (!f)
		return NULL;
	FieldValue v = {0};
	char buf[8192];
	field_get(f, adv, s, &v);
	const char *t = field_text(&v, buf, sizeof(buf));
	char *copy = t ? strdup(t) : NULL;
	field_done(&v);
	return copy;
}

static void json_suggestion(FILE *out, const Advisor *adv, const AdvSuggestion *s)
{
	for (size_t i = 0; i < N_FIELDS; i++) {
		const Field *f = &fields[i];
		fprintf(out, "%s\"%s\": ", i ? ", " : "{", f->name);
		if (f->json) {
			f->json(out, adv, s);
			continue;
		}
		FieldValue v = {0};
		field_get(f, adv, s, &v);
		field_json(out, &v);
		field_done(&v);
	}
	if (s->dropped) {
		fputs(", \"rejected_because\": ", out);
		advisor_json_str(out, s->drop_why);
	}
	fputc('}', out);
}

static void csv_output(FILE *out, const Advisor *adv)
{
	size_t n;
	const AdvSuggestion *sugg = advisor_suggestions(adv, &n);
	bool first = true;
	for (size_t i = 0; i < N_FIELDS; i++)
		if (fields[i].csv) {
			fprintf(out, "%s%s", first ? "" : ",", fields[i].name);
			first = false;
		}
	fputc('\n', out);
	for (size_t i = 0; i < n; i++) {
		if (sugg[i].dropped)
			continue;
		first = true;
		for (size_t k = 0; k < N_FIELDS; k++) {
			if (!fields[k].csv)
				continue;
			FieldValue v = {0};
			char buf[8192];
			field_get(&fields[k], adv, &sugg[i], &v);
			if (!first)
				fputc(',', out);
			first = false;
			csv_field(out, field_text(&v, buf, sizeof(buf)));
			field_done(&v);
		}
		fputc('\n', out);
	}
}

/* The Markdown table's columns: a field, its title, and a unit after a known value. */
static const struct {
	const char *field, *title, *unit;
	bool code;
} md_cols[] = {
	{"sql", "index", "", true},
	{"table", "table", "", false},
	{"calls", "calls", "", false},
	{"total_ms", "total ms", "", false},
	{"p95_ms", "p95 ms", "", false},
	{"estimated_saving_pct", "saving", "%", false},
	{"table_rows", "rows", "", false},
	{"writes_per_min", "writes/min", "", false},
	{"hot_blocked", "HOT blocked", "", false},
	{"statements", "statements", "", false},
	{"notes", "notes", "", false},
};

static void md_output(FILE *out, const Advisor *adv, const char *header)
{
	size_t n, nc = sizeof(md_cols) / sizeof(md_cols[0]);
	const AdvSuggestion *sugg = advisor_suggestions(adv, &n);
	fprintf(out, "# pgsift index suggestions\n\n");
	if (header)
		fprintf(out, "%s\n\n", header);
	for (size_t c = 0; c < nc; c++)
		fprintf(out, "| %s ", md_cols[c].title);
	fputs("|\n", out);
	for (size_t c = 0; c < nc; c++)
		fputs("|---", out);
	fputs("|\n", out);
	for (size_t i = 0; i < n; i++) {
		if (sugg[i].dropped)
			continue;
		for (size_t c = 0; c < nc; c++) {
			FieldValue v = {0};
			char buf[8192];
			field_get(field_named(md_cols[c].field), adv, &sugg[i], &v);
			const char *t = field_text(&v, buf, sizeof(buf));
			fputs(c ? " | " : "| ", out);
			fputs(md_cols[c].code ? "`" : "", out);
			md_cell(out, t);
			if (t)
				fputs(md_cols[c].unit, out);
			fputs(md_cols[c].code ? "`" : "", out);
			field_done(&v);
		}
		fputs(" |\n", out);
	}
}
