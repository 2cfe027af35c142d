/*
 * output.c: the four output formats of `pgsift suggest` (see output.h). The SQL
 * form is meant to be committed as a migration: every statement is preceded by a comment block
 * that says which statements it serves, how often and how slow they are, what it is estimated to
 * save and what it costs the table's writes.
 */
#include "stats/advisor/output.h"

#include <math.h>
#include <string.h>

static void print_num(FILE *out, double v, const char *fmt);
static void one_line(char *dst, size_t cap, const char *src);
static void sql_output(FILE *out, const Advisor *adv, const char *header);
static void json_output(FILE *out, const Advisor *adv);
static void json_suggestion(FILE *out, const Advisor *adv, const AdvSuggestion *s);
static void csv_output(FILE *out, const Advisor *adv);
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

void advisor_json_str(FILE *out, const char *s)
{
	if (!s) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (*p < 0x20)
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out);
		}
	}
	fputc('"', out);
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

static void json_suggestion(FILE *out, const Advisor *adv, const AdvSuggestion *s)
{
	size_t nst;
	const AdvStatement *stmts = advisor_statements(adv, &nst);
	char buf[4096];
	advisor_table_sql(s->table, buf, sizeof(buf));
	fputs("{\"table\": ", out);
	advisor_json_str(out, buf);
	fputs(", \"schema\": ", out);
	advisor_json_str(out, s->table->schema);
	fputs(", \"relation\": ", out);
	advisor_json_str(out, s->table->name);
	fputs(", \"index_name\": ", out);
	advisor_json_str(out, s->name);
	fputs(", \"method\": ", out);
	advisor_json_str(out, s->method);
	fputs(", \"columns\": [", out);
	for (size_t k = 0; k < s->n_keys; k++) {
		const AdvKey *key = &s->keys[k];
		fprintf(out, "%s{\"%s\": ", k ? ", " : "", key->is_expr ? "expression" : "column");
		advisor_json_str(out, key->expr);
		fprintf(out, ", \"desc\": %s, \"nulls_first\": %s, \"opclass\": ",
			key->desc ? "true" : "false", key->nulls_first ? "true" : "false");
		advisor_json_str(out, key->opclass);
		fputs("}", out);
	}
	fputs("], \"include\": [", out);
	for (size_t k = 0; k < s->n_include; k++) {
		fputs(k ? ", " : "", out);
		advisor_json_str(out, s->include[k]);
	}
	fputs("], \"where\": ", out);
	advisor_json_str(out, s->where);
	advisor_index_sql(s, false, buf, sizeof(buf));
	fputs(", \"sql\": ", out);
	advisor_json_str(out, buf);
	fprintf(out, ", \"calls\": %llu, \"total_ms\": ", (unsigned long long)s->calls);
	print_num(out, s->total_ms, "%.3f");
	fputs(", \"p95_ms\": ", out);
	print_num(out, s->p95_ms, "%.3f");
	fputs(", \"estimated_saving_pct\": ", out);
	print_num(out, s->saving_pct, "%.1f");
	fputs(", \"required_saving_pct\": ", out);
	print_num(out, s->required_saving_pct, "%.0f");
	fputs(", \"cost_before\": ", out);
	print_num(out, s->cost_before, "%.2f");
	fputs(", \"cost_after\": ", out);
	print_num(out, s->cost_after, "%.2f");
	fputs(", \"table_rows\": ", out);
	print_num(out, s->table->rows, "%.0f");
	fputs(", \"table_pages\": ", out);
	print_num(out, s->table->pages, "%.0f");
	fputs(", \"writes_per_min\": ", out);
	print_num(out, s->table->writes_per_min, "%.2f");
	fprintf(out, ", \"write_statements\": %llu, \"updated_key_columns\": [",
		(unsigned long long)s->table->write_calls);
	for (size_t k = 0; k < s->n_updated_keys; k++) {
		fputs(k ? ", " : "", out);
		advisor_json_str(out, s->updated_keys[k]);
	}
	fprintf(out, "], \"hot_blocked\": %s, \"notes\": [", s->n_updated_keys ? "true" : "false");
	for (size_t k = 0; k < s->n_notes; k++) {
		fputs(k ? ", " : "", out);
		advisor_json_str(out, s->notes[k]);
	}
	fputs("], \"statements\": [", out);
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
		fputs("}", out);
	}
	fputs("]", out);
	if (s->dropped) {
		fputs(", \"rejected_because\": ", out);
		advisor_json_str(out, s->drop_why);
	}
	fputs("}", out);
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

static void join_statements(const Advisor *adv, const AdvSuggestion *s, char *buf, size_t cap,
			    const char *sep, bool fingerprints_only)
{
	size_t nst, o = 0;
	const AdvStatement *stmts = advisor_statements(adv, &nst);
	buf[0] = '\0';
	for (size_t k = 0; k < s->n_stmts && o < cap; k++) {
		const AdvStatement *st = &stmts[s->stmts[k]];
		char line[2048];
		one_line(line, sizeof(line), st->display);
		if (fingerprints_only)
			o += (size_t)snprintf(buf + o, cap - o, "%s%016llx", k ? sep : "",
					      (unsigned long long)st->fingerprint);
		else
			o += (size_t)snprintf(buf + o, cap - o, "%s%016llx (%llu calls, %s): %s",
					      k ? sep : "", (unsigned long long)st->fingerprint,
					      (unsigned long long)st->calls, advisor_path(s, k),
					      line);
	}
}

static void num_text(char *buf, size_t cap, double v, const char *fmt)
{
	if (v < 0)
		buf[0] = '\0';
	else
		snprintf(buf, cap, fmt, v);
}

static void csv_output(FILE *out, const Advisor *adv)
{
	size_t n;
	const AdvSuggestion *sugg = advisor_suggestions(adv, &n);
	fputs("table,index_name,method,columns,include,where,sql,calls,total_ms,p95_ms,"
	      "estimated_saving_pct,required_saving_pct,cost_before,cost_after,table_rows,"
	      "writes_per_min,updated_key_columns,notes,statements\n",
	      out);
	for (size_t i = 0; i < n; i++) {
		const AdvSuggestion *s = &sugg[i];
		if (s->dropped)
			continue;
		char buf[8192], num[64];
		advisor_table_sql(s->table, buf, sizeof(buf));
		csv_field(out, buf);
		fputc(',', out);
		csv_field(out, s->name);
		fputc(',', out);
		csv_field(out, s->method);
		fputc(',', out);
		advisor_keys_sql(s, buf, sizeof(buf));
		csv_field(out, buf);
		fputc(',', out);
		buf[0] = '\0';
		for (size_t k = 0; k < s->n_include; k++) {
			strncat(buf, k ? " " : "", sizeof(buf) - strlen(buf) - 1);
			strncat(buf, s->include[k], sizeof(buf) - strlen(buf) - 1);
		}
		csv_field(out, buf);
		fputc(',', out);
		csv_field(out, s->where);
		fputc(',', out);
		advisor_index_sql(s, false, buf, sizeof(buf));
		csv_field(out, buf);
		fprintf(out, ",%llu,", (unsigned long long)s->calls);
		num_text(num, sizeof(num), s->total_ms, "%.3f");
		fprintf(out, "%s,", num);
		num_text(num, sizeof(num), s->p95_ms, "%.3f");
		fprintf(out, "%s,", num);
		num_text(num, sizeof(num), s->saving_pct, "%.1f");
		fprintf(out, "%s,", num);
		num_text(num, sizeof(num), s->required_saving_pct, "%.0f");
		fprintf(out, "%s,", num);
		num_text(num, sizeof(num), s->cost_before, "%.2f");
		fprintf(out, "%s,", num);
		num_text(num, sizeof(num), s->cost_after, "%.2f");
		fprintf(out, "%s,", num);
		num_text(num, sizeof(num), s->table->rows, "%.0f");
		fprintf(out, "%s,", num);
		num_text(num, sizeof(num), s->table->writes_per_min, "%.2f");
		fprintf(out, "%s,", num);
		buf[0] = '\0';
		for (size_t k = 0; k < s->n_updated_keys; k++) {
			strncat(buf, k ? " " : "", sizeof(buf) - strlen(buf) - 1);
			strncat(buf, s->updated_keys[k], sizeof(buf) - strlen(buf) - 1);
		}
		csv_field(out, buf);
		fputc(',', out);
		buf[0] = '\0';
		for (size_t k = 0; k < s->n_notes; k++) {
			strncat(buf, k ? "; " : "", sizeof(buf) - strlen(buf) - 1);
			strncat(buf, s->notes[k], sizeof(buf) - strlen(buf) - 1);
		}
		csv_field(out, buf);
		fputc(',', out);
		join_statements(adv, s, buf, sizeof(buf), "\n", false);
		csv_field(out, buf);
		fputc('\n', out);
	}
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

static void md_output(FILE *out, const Advisor *adv, const char *header)
{
	size_t n;
	const AdvSuggestion *sugg = advisor_suggestions(adv, &n);
	fprintf(out, "# pgsift index suggestions\n\n");
	if (header)
		fprintf(out, "%s\n\n", header);
	fprintf(out, "| index | table | calls | total ms | p95 ms | saving | rows | writes/min | "
		     "HOT blocked | statements | notes |\n");
	fprintf(out, "|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < n; i++) {
		const AdvSuggestion *s = &sugg[i];
		if (s->dropped)
			continue;
		char buf[8192], num[64];
		fputs("| `", out);
		advisor_index_sql(s, false, buf, sizeof(buf));
		md_cell(out, buf);
		fputs("` | ", out);
		advisor_table_sql(s->table, buf, sizeof(buf));
		md_cell(out, buf);
		fprintf(out, " | %llu | ", (unsigned long long)s->calls);
		num_text(num, sizeof(num), s->total_ms, "%.3f");
		fprintf(out, "%s | ", num);
		num_text(num, sizeof(num), s->p95_ms, "%.3f");
		fprintf(out, "%s | ", num);
		num_text(num, sizeof(num), s->saving_pct, "%.1f%%");
		fprintf(out, "%s | ", num);
		num_text(num, sizeof(num), s->table->rows, "%.0f");
		fprintf(out, "%s | ", num);
		num_text(num, sizeof(num), s->table->writes_per_min, "%.2f");
		fprintf(out, "%s | %s | ", num, s->n_updated_keys ? "yes" : "no");
		join_statements(adv, s, buf, sizeof(buf), "\n", false);
		md_cell(out, buf);
		fputs(" | ", out);
		buf[0] = '\0';
		for (size_t k = 0; k < s->n_notes; k++) {
			strncat(buf, k ? "; " : "", sizeof(buf) - strlen(buf) - 1);
			strncat(buf, s->notes[k], sizeof(buf) - strlen(buf) - 1);
		}
		md_cell(out, buf);
		fputs(" |\n", out);
	}
}
