/*
 * validate.c: costs suggestions with HypoPG (see validate.h): each suggestion's statements are
 * EXPLAINed with and without the hypothetical index, weighted by calls.
 */
#include "stats/advisor/validate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double explain_cost(PGconn *c, const AdvStatement *st, char *why, size_t whylen);
static bool exec_ok(PGconn *c, const char *sql);
static int max_param(const char *text);

void advisor_validate(Advisor *adv, Catalog *cat, bool only_planner)
{
	PGconn *c = catalog_conn(cat);
	const AdvisorOptions *o = advisor_options(adv);
	size_t n, nst;
	advisor_suggestions(adv, &n);
	const AdvStatement *stmts = advisor_statements(adv, &nst);
	for (size_t i = 0; i < n; i++) {
		AdvSuggestion *s = advisor_suggestion_mut(adv, i);
		if (only_planner && !s->needs_planner)
			continue;
		/* a technical limit is no verdict: the suggestion stays, marked with why */
		if (strcmp(s->method, "btree") != 0) {
			advisor_suggestion_note(
				s,
				"not validated: HypoPG cannot cost %s indexes; kept "
				"on the syntax's evidence",
				strcmp(s->method, "gin") == 0 ? "GIN" : s->method);
			continue;
		}
		exec_ok(c, "SELECT hypopg_reset()");
		double before = 0, after = 0;
		size_t costed = 0;
		double b[16];
		char why[300] = "";
		size_t m = s->n_stmts < 16 ? s->n_stmts : 16;
		for (size_t k = 0; k < m; k++)
			b[k] = explain_cost(c, &stmts[s->stmts[k]], why, sizeof(why));
		char sql[4096];
		advisor_index_sql(s, true, sql, sizeof(sql));
		const char *p[1] = {sql};
		PGresult *r = PQexecParams(c, "SELECT indexrelid FROM hypopg_create_index($1)", 1,
					   NULL, p, NULL, NULL, 0);
		bool created = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
		if (!created) {
			char msg[300];
			snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
			msg[strcspn(msg, "\n")] = '\0';
			advisor_suggestion_note(
				s, "not validated: HypoPG could not create it (%s); kept", msg);
			PQclear(r);
			continue;
		}
		PQclear(r);
		for (size_t k = 0; k < m; k++) {
			if (b[k] < 0)
				continue;
			double a = explain_cost(c, &stmts[s->stmts[k]], why, sizeof(why));
			if (a < 0)
				continue;
			double w = (double)stmts[s->stmts[k]].calls;
			before += b[k] * w;
			after += a * w;
			costed++;
		}
		exec_ok(c, "SELECT hypopg_reset()");
		if (!costed || before <= 0) {
			advisor_suggestion_note(s,
						"not validated: the planner could not cost the "
						"statements it serves (%s); kept",
						*why ? why : "no cost");
			continue;
		}
		s->cost_before = before / (double)s->calls;
		s->cost_after = after / (double)s->calls;
		s->saving_pct = 100.0 * (before - after) / before;
		if (s->saving_pct < 0)
			s->saving_pct = 0;
		/* an index costs every write: on a write-heavy table it must save more */
		int need = o->min_saving_pct;
		if (s->table->writes_per_min > o->write_heavy_writes_per_min) {
			need = o->write_heavy_saving_pct;
			advisor_suggestion_note(
				s,
				"write-heavy table (%.0f writes/min): needs a saving "
				"of %d%% (--write-heavy-saving-pct)",
				s->table->writes_per_min, need);
		} else if (s->table->write_calls > 0 &&
			   s->table->write_calls > s->table->select_calls) {
			need = o->write_heavy_saving_pct;
			advisor_suggestion_note(s,
						"write-heavy table (%llu write statements against "
						"%llu reads): needs a saving of %d%% "
						"(--write-heavy-saving-pct)",
						(unsigned long long)s->table->write_calls,
						(unsigned long long)s->table->select_calls, need);
		} else {
			advisor_suggestion_note(s,
						"needs a saving of %d%% (advisor_min_saving_pct, "
						"--min-saving-pct)",
						need);
		}
		s->required_saving_pct = need;
		if (s->saving_pct < need)
			advisor_suggestion_drop(s,
						"saves %.1f%% of the planner cost (%.2f -> %.2f), "
						"under %d%%",
						s->saving_pct, s->cost_before, s->cost_after, need);
	}
}

void advisor_drop_unjudged(Advisor *adv)
{
	size_t n;
	advisor_suggestions(adv, &n);
	for (size_t i = 0; i < n; i++) {
		AdvSuggestion *s = advisor_suggestion_mut(adv, i);
		if (s->needs_planner && s->saving_pct < 0 && !s->dropped)
			advisor_suggestion_drop(
				s,
				"only served by statements with a MATERIALIZED CTE, which keeps "
				"outer predicates from the table; could not ask the planner (needs "
				"--dsn and hypopg)");
	}
}

static bool exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	PQclear(r);
	return ok;
}

/* The highest $n in text outside quotes. */
static int max_param(const char *text)
{
	int mx = 0;
	bool q = false;
	for (const char *p = text; *p; p++) {
		if (*p == '\'')
			q = !q;
		else if (!q && *p == '$' && isdigit((unsigned char)p[1])) {
			int n = atoi(p + 1);
			if (n > mx)
				mx = n;
		}
	}
	return mx;
}

/* Keeps the first error the server gave, on one line, in why. */
static void keep_error(PGconn *c, char *why, size_t whylen)
{
	if (*why)
		return;
	snprintf(why, whylen, "%s", PQerrorMessage(c));
	why[strcspn(why, "\n")] = '\0';
}

/*
 * The planner's total cost of a statement: with its literals, else PREPAREd and executed with
 * the sampled parameter values (custom plan), else with a generic plan (parameters without a
 * sampled value: a statement with more of them than were sampled). Returns < 0 when the server
 * refuses it (unknown column, parameter types it cannot infer...), the first error in why.
 */
static double explain_cost(PGconn *c, const AdvStatement *st, char *why, size_t whylen)
{
	int np = max_param(st->text);
	PGresult *r = NULL;
	char *sql = NULL;
	if (np == 0) {
		if (asprintf(&sql, "EXPLAIN %s", st->text) < 0)
			return -1;
		r = PQexec(c, sql);
	} else {
		PQclear(PQexec(c, "DEALLOCATE pgsift_advisor"));
		if (asprintf(&sql, "PREPARE pgsift_advisor AS %s", st->text) < 0)
			return -1;
		if (!exec_ok(c, sql)) {
			keep_error(c, why, whylen);
			free(sql);
			return -1;
		}
		free(sql);
		bool custom = st->n_params >= (size_t)np;
		exec_ok(c, custom ? "SET plan_cache_mode = force_custom_plan" :
				    "SET plan_cache_mode = force_generic_plan");
		size_t cap = 64 + (size_t)np * 8;
		for (size_t i = 0; custom && i < (size_t)np; i++)
			cap += strlen(st->params[i]) * 2 + 8;
		sql = malloc(cap);
		if (!sql)
			return -1;
		size_t o = (size_t)snprintf(sql, cap, "EXPLAIN EXECUTE pgsift_advisor(");
		for (int i = 0; i < np; i++) {
			char *lit =
				custom ? PQescapeLiteral(c, st->params[i], strlen(st->params[i])) :
					 NULL;
			o += (size_t)snprintf(sql + o, cap - o, "%s%s", i ? ", " : "",
					      lit ? lit : "NULL");
			PQfreemem(lit);
		}
		snprintf(sql + o, cap - o, ")");
		r = PQexec(c, sql);
	}
	free(sql);
	double cost = -1;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) {
		const char *line = PQgetvalue(r, 0, 0);
		const char *cp = strstr(line, "..");
		if (cp)
			cost = atof(cp + 2);
	} else {
		keep_error(c, why, whylen);
	}
	PQclear(r);
	if (np) {
		exec_ok(c, "DEALLOCATE pgsift_advisor");
		exec_ok(c, "RESET plan_cache_mode");
	}
	return cost;
}
