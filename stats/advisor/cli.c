/*
 * cli.c: `pgsift suggest` and `pgsift indexes` (README.md, "Index suggestions"). This file is
 * the command line: it reads the statements of the window (a stats file written by the proxy,
 * the fleet statistics store that many proxies write with stats_dsn, a running proxy's SHOW
 * QUERIES, or a --queries file), hands them to the advisor (advisor.h) with
 * the catalog resolver of catalog.c, costs the suggestions with HypoPG when asked (--validate,
 * validate.c), and prints them with output.c.
 *
 * --queries FILE is a supported input of its own: one statement per line, or JSON lines
 * {"query": ..., "calls": N, "total_ms": x, "mean_ms": x, "p95_ms": x, "params": [...]}, e.g. a
 * pg_stat_statements export. `--admin URL` reads a running proxy's SHOW QUERIES over libpq: its
 * normalized text ($n for constants), calls, total and p95 time are all the advisor needs, though
 * without sampled literals it cannot see which constant a partial index would filter on.
 *
 * A stats file or a proxy holds the statements of every database; the catalog is one database's.
 * So with --dsn only the statements that ran on the DSN's database are taken (--database NAME to
 * name another, `*` for all), unless none did (a [databases] alias with another name): then all
 * of them, with a note on stderr.
 */
#include "stats/advisor/cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "stats/advisor/advisor.h"
#include "stats/advisor/catalog.h"
#include "stats/advisor/live.h"
#include "stats/advisor/output.h"
#include "stats/advisor/validate.h"
#include "stats/stats.h"
#include "util/duration.h"

typedef struct SuggestArgs {
	const char *stats_file;
	const char *stats_dsn;	      /* the fleet statistics store */
	const char *stats_dsn_schema; /* NULL: pgsift */
	const char *admin;
	const char *dsn;
	const char *since;
	const char *queries;
	const char *config;
	const char *database; /* statements of this database only; NULL: the DSN's; "*": all */
	AdvFormat format;
	bool validate;
	uint64_t min_calls;
	int64_t min_table_rows;	    /* -1: from the configuration */
	int min_saving_pct;	    /* -1: from the configuration */
	int write_heavy_saving_pct; /* -1: the default (AdvisorOptions) */
	double negligible_pct;	    /* < 0: the default (AdvisorOptions) */
} SuggestArgs;

static int suggest_main(int argc, char **argv);
static int indexes_main(int argc, char **argv);
static int load_queries_file(Advisor *adv, const char *path);
static int load_stats_file(Advisor *adv, const char *path, int64_t since_us, const char *database);
static int load_stats_dsn(Advisor *adv, const char *dsn, const char *schema, int64_t since_us,
			  const char *database);
static void add_store(Advisor *adv, StatsStore *store, int64_t since_us, const char *database);
static int load_admin(Advisor *adv, const char *url, const char *database);

static const char suggest_usage[] =
	"usage: pgsift suggest [--stats-file FILE | --stats-dsn URL [--stats-dsn-schema S] |\n"
	"                       --queries FILE | --admin URL] [--dsn URL]\n"
	"                      [--database NAME] [--since 7d] [--format sql|json|csv|markdown]\n"
	"                      [--validate]\n"
	"                      [--min-calls N] [--min-table-rows N] [--min-saving-pct N]\n"
	"                      [--write-heavy-saving-pct N] [--negligible-pct X] [-c FILE]\n";
static const char indexes_usage[] =
	"usage: pgsift indexes --dsn URL [--format sql|json|csv|markdown]\n";

int advisor_main(int argc, char **argv)
{
	if (strcmp(argv[0], "indexes") == 0)
		return indexes_main(argc, argv);
	return suggest_main(argc, argv);
}

static bool need_value(int argc, char **argv, int i)
{
	if (i + 1 >= argc) {
		fprintf(stderr, "pgsift %s: %s needs a value\n", argv[0], argv[i]);
		return false;
	}
	return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		return false;
	*out = v;
	return true;
}

/* `pgsift suggest`. One function: it reads the options and runs the one pipeline (load, catalog,
 * plan, validate, print) whose steps all read them; each step is a call of its own. */
static int suggest_main(int argc, char **argv)
{
	SuggestArgs a = {.format = ADV_FMT_SQL,
			 .min_calls = 1,
			 .min_table_rows = -1,
			 .min_saving_pct = -1,
			 .write_heavy_saving_pct = -1,
			 .negligible_pct = -1};
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		uint64_t v;
		if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
			fputs(suggest_usage, stdout);
			return 0;
		} else if (strcmp(o, "--validate") == 0) {
			a.validate = true;
			continue;
		}
		if (!need_value(argc, argv, i))
			return 2;
		const char *val = argv[++i];
		if (strcmp(o, "--stats-file") == 0)
			a.stats_file = val;
		else if (strcmp(o, "--stats-dsn") == 0)
			a.stats_dsn = val;
		else if (strcmp(o, "--stats-dsn-schema") == 0)
			a.stats_dsn_schema = val;
		else if (strcmp(o, "--admin") == 0)
			a.admin = val;
		else if (strcmp(o, "--dsn") == 0)
			a.dsn = val;
		else if (strcmp(o, "--since") == 0)
			a.since = val;
		else if (strcmp(o, "--database") == 0)
			a.database = val;
		else if (strcmp(o, "--queries") == 0)
			a.queries = val;
		else if (strcmp(o, "-c") == 0 || strcmp(o, "--config") == 0)
			a.config = val;
		else if (strcmp(o, "--format") == 0) {
			if (!advisor_format_parse(val, &a.format)) {
				fprintf(stderr,
					"pgsift suggest: --format: expected sql, json, csv or "
					"markdown (got '%s')\n",
					val);
				return 2;
			}
		} else if (strcmp(o, "--min-calls") == 0) {
			if (!parse_u64(val, &a.min_calls)) {
				fprintf(stderr, "pgsift suggest: --min-calls: not a number: '%s'\n",
					val);
				return 2;
			}
		} else if (strcmp(o, "--min-table-rows") == 0) {
			if (!parse_u64(val, &v)) {
				fprintf(stderr,
					"pgsift suggest: --min-table-rows: not a number: '%s'\n",
					val);
				return 2;
			}
			a.min_table_rows = (int64_t)v;
		} else if (strcmp(o, "--min-saving-pct") == 0) {
			if (!parse_u64(val, &v) || v > 100) {
				fprintf(stderr,
					"pgsift suggest: --min-saving-pct: expected 0 to 100: "
					"'%s'\n",
					val);
				return 2;
			}
			a.min_saving_pct = (int)v;
		} else if (strcmp(o, "--negligible-pct") == 0) {
			char *end;
			double d = strtod(val, &end);
			if (end == val || *end || d < 0 || d > 100) {
				fprintf(stderr,
					"pgsift suggest: --negligible-pct: expected 0 to 100: "
					"'%s'\n",
					val);
				return 2;
			}
			a.negligible_pct = d;
		} else if (strcmp(o, "--write-heavy-saving-pct") == 0) {
			if (!parse_u64(val, &v) || v > 100) {
				fprintf(stderr,
					"pgsift suggest: --write-heavy-saving-pct: expected 0 to "
					"100: '%s'\n",
					val);
				return 2;
			}
			a.write_heavy_saving_pct = (int)v;
		} else {
			fprintf(stderr, "pgsift suggest: unknown option %s\n%s", o, suggest_usage);
			return 2;
		}
	}
	if ((a.admin && (a.stats_file || a.queries)) ||
	    (a.stats_dsn && (a.stats_file || a.queries || a.admin))) {
		fprintf(stderr, "pgsift suggest: give one of --stats-file, --stats-dsn, --queries "
				"and --admin\n");
		return 2;
	}
	if (a.stats_dsn_schema && !a.stats_dsn) {
		fprintf(stderr, "pgsift suggest: --stats-dsn-schema goes with --stats-dsn\n");
		return 2;
	}
	if (a.admin && a.since) {
		fprintf(stderr, "pgsift suggest: --since needs a stats file: SHOW QUERIES has no "
				"window\n");
		return 2;
	}
	ConfigArgs ca;
	memset(&ca, 0, sizeof(ca));
	ca.config_file = a.config;
	char err[512];
	Config *cfg = config_load(&ca, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "pgsift suggest: %s\n", err);
		return 2;
	}
	/* the configuration's: this process's stats file, else the fleet's store */
	if (!a.stats_file && !a.stats_dsn && !a.queries && !a.admin) {
		a.stats_file = cfg->stats_file;
		if (!a.stats_file && cfg->stats_dsn) {
			a.stats_dsn = cfg->stats_dsn;
			if (!a.stats_dsn_schema)
				a.stats_dsn_schema = cfg->stats_dsn_schema;
		}
	}
	if (!a.stats_file && !a.stats_dsn && !a.queries && !a.admin) {
		fprintf(stderr,
			"pgsift suggest: no input: give --stats-file FILE, --stats-dsn URL or "
			"--queries FILE (or stats_file or stats_dsn in the configuration)\n");
		config_free(cfg);
		return 2;
	}
	int64_t since_us;
	if (!duration_since_us("suggest", a.since, &since_us)) {
		config_free(cfg);
		return 2;
	}
	AdvisorOptions opts;
	advisor_options_default(&opts);
	opts.min_calls = a.min_calls;
	opts.min_table_rows =
		a.min_table_rows >= 0 ? a.min_table_rows : cfg->advisor_min_table_rows;
	opts.min_saving_pct =
		a.min_saving_pct >= 0 ? a.min_saving_pct : cfg->advisor_min_saving_pct;
	if (a.write_heavy_saving_pct >= 0)
		opts.write_heavy_saving_pct = a.write_heavy_saving_pct;
	if (a.negligible_pct >= 0)
		opts.negligible_pct = a.negligible_pct;
	/* cfg lives to the end: a.stats_file and a.stats_dsn may point into it */

	Catalog *cat = NULL;
	if (a.dsn) {
		cat = catalog_connect(a.dsn, err, sizeof(err));
		if (!cat) {
			fprintf(stderr, "pgsift suggest: --dsn: %s\n", err);
			config_free(cfg);
			return 1;
		}
		opts.trgm_installed = catalog_has_extension(cat, "pg_trgm");
	} else if (a.validate) {
		fprintf(stderr, "pgsift suggest: --validate needs --dsn\n");
		config_free(cfg);
		return 2;
	}
	bool hypopg = cat && catalog_has_extension(cat, "hypopg");
	if (a.validate && !hypopg) {
		fprintf(stderr, "pgsift suggest: --validate needs the hypopg extension in the "
				"database (CREATE EXTENSION hypopg)\n");
		catalog_free(cat);
		config_free(cfg);
		return 2;
	}
	Advisor *adv = advisor_new(&opts, cat ? catalog_resolve : NULL, cat);
	if (!adv) {
		fprintf(stderr, "pgsift suggest: out of memory\n");
		catalog_free(cat);
		config_free(cfg);
		return 1;
	}
	/* the statements of the catalog's database (see the top of the file) */
	const char *database = a.database;
	if (!database && cat)
		database = PQdb(catalog_conn(cat));
	if (database && strcmp(database, "*") == 0)
		database = NULL;
	int rc = a.queries   ? load_queries_file(adv, a.queries) :
		 a.admin     ? load_admin(adv, a.admin, database) :
		 a.stats_dsn ? load_stats_dsn(adv, a.stats_dsn, a.stats_dsn_schema, since_us,
					      database) :
			       load_stats_file(adv, a.stats_file, since_us, database);
	if (rc == 0 && advisor_plan(adv) != 0) {
		fprintf(stderr, "pgsift suggest: out of memory\n");
		rc = 1;
	}
	if (rc == 0) {
		/* statements only the planner can judge are checked whenever HypoPG is there */
		if (hypopg)
			advisor_validate(adv, cat, !a.validate);
		advisor_drop_unjudged(adv);
		size_t nst;
		advisor_statements(adv, &nst);
		char header[512], fleet[300];
		snprintf(fleet, sizeof(fleet), "the fleet statistics store (schema %s)",
			 a.stats_dsn_schema ? a.stats_dsn_schema : "pgsift");
		/* never the --admin or --stats-dsn URL: it may hold a password */
		snprintf(header, sizeof(header), "input: %s; window: %s; %zu fingerprints; %s",
			 a.queries   ? a.queries :
			 a.admin     ? "the admin console" :
			 a.stats_dsn ? fleet :
				       a.stats_file,
			 a.since ? a.since : "all", nst,
			 a.validate ? "validated with HypoPG" : "not validated");
		advisor_output(stdout, adv, a.format, header);
	}
	advisor_free(adv);
	catalog_free(cat);
	config_free(cfg);
	return rc;
}

/* ------------------------------------------------------------------------------------------
 * --queries FILE: a minimal JSON reader for flat objects of strings, numbers and string arrays. */

typedef struct QLine {
	char *query;
	double calls, total_ms, mean_ms, p95_ms;
	char *params[64];
	size_t n_params;
} QLine;

static const char *json_ws(const char *p)
{
	while (*p && isspace((unsigned char)*p))
		p++;
	return p;
}

/* Reads a JSON string at p (which points at '"'); returns a malloc'ed value, advances *pp. */
static char *json_string(const char **pp)
{
	const char *p = *pp;
	if (*p != '"')
		return NULL;
	p++;
	size_t cap = strlen(p) + 1, o = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	while (*p && *p != '"') {
		if (*p == '\\' && p[1]) {
			p++;
			switch (*p) {
			case 'n':
				out[o++] = '\n';
				break;
			case 't':
				out[o++] = '\t';
				break;
			case 'r':
				out[o++] = '\r';
				break;
			case 'u': {
				unsigned v = 0;
				if (sscanf(p + 1, "%4x", &v) == 1)
					p += 4;
				if (v < 0x80)
					out[o++] = (char)v;
				else if (v < 0x800) {
					out[o++] = (char)(0xc0 | (v >> 6));
					out[o++] = (char)(0x80 | (v & 0x3f));
				} else {
					out[o++] = (char)(0xe0 | (v >> 12));
					out[o++] = (char)(0x80 | ((v >> 6) & 0x3f));
					out[o++] = (char)(0x80 | (v & 0x3f));
				}
				break;
			}
			default:
				out[o++] = *p;
			}
			p++;
			continue;
		}
		out[o++] = *p++;
	}
	out[o] = '\0';
	if (*p == '"')
		p++;
	*pp = p;
	return out;
}

static bool parse_qline(const char *line, QLine *q)
{
	memset(q, 0, sizeof(*q));
	q->calls = 1;
	q->total_ms = q->mean_ms = q->p95_ms = -1;
	const char *p = json_ws(line);
	if (*p != '{') {
		q->query = strdup(line);
		return q->query != NULL;
	}
	p = json_ws(p + 1);
	while (*p && *p != '}') {
		char *key = json_string(&p);
		if (!key)
			return false;
		p = json_ws(p);
		if (*p == ':')
			p = json_ws(p + 1);
		if (*p == '"') {
			char *v = json_string(&p);
			if (strcmp(key, "query") == 0) {
				free(q->query);
				q->query = v;
			} else {
				free(v);
			}
		} else if (*p == '[') {
			p = json_ws(p + 1);
			while (*p && *p != ']') {
				char *v = NULL;
				if (*p == '"')
					v = json_string(&p);
				else {
					const char *s = p;
					while (*p && *p != ',' && *p != ']')
						p++;
					v = strndup(s, (size_t)(p - s));
				}
				if (strcmp(key, "params") == 0 && q->n_params < 64 && v)
					q->params[q->n_params++] = v;
				else
					free(v);
				p = json_ws(p);
				if (*p == ',')
					p = json_ws(p + 1);
			}
			if (*p == ']')
				p++;
		} else {
			char *end;
			double d = strtod(p, &end);
			if (end == p) { /* true/false/null */
				while (*p && *p != ',' && *p != '}')
					p++;
			} else {
				p = end;
				if (strcmp(key, "calls") == 0)
					q->calls = d;
				else if (strcmp(key, "total_ms") == 0 ||
					 strcmp(key, "total_exec_time") == 0)
					q->total_ms = d;
				else if (strcmp(key, "mean_ms") == 0 ||
					 strcmp(key, "mean_exec_time") == 0)
					q->mean_ms = d;
				else if (strcmp(key, "p95_ms") == 0)
					q->p95_ms = d;
			}
		}
		free(key);
		p = json_ws(p);
		if (*p == ',')
			p = json_ws(p + 1);
	}
	return q->query != NULL;
}

static void free_qline(QLine *q)
{
	free(q->query);
	for (size_t i = 0; i < q->n_params; i++)
		free(q->params[i]);
}

static int load_queries_file(Advisor *adv, const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!f) {
		fprintf(stderr, "pgsift suggest: --queries %s: %s\n", path, strerror(errno));
		return 1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0;
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		const char *p = json_ws(line);
		if (!*p || strncmp(p, "--", 2) == 0)
			continue;
		QLine q;
		if (!parse_qline(line, &q)) {
			fprintf(stderr,
				"pgsift suggest: %s:%d: not a statement or a JSON object with "
				"\"query\"\n",
				path, lineno);
			free_qline(&q);
			continue;
		}
		AdvStatementIn in = {.text = q.query,
				     .calls = q.calls > 0 ? (uint64_t)q.calls : 1,
				     .total_ms = q.total_ms,
				     .p95_ms = q.p95_ms,
				     .params = (const char *const *)q.params,
				     .n_params = q.n_params};
		if (in.total_ms < 0 && q.mean_ms >= 0)
			in.total_ms = q.mean_ms * (double)in.calls;
		advisor_add_statement(adv, &in);
		free_qline(&q);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return 0;
}

static int load_stats_file(Advisor *adv, const char *path, int64_t since_us, const char *database)
{
	StatsStore *store = NULL;
	char err[256] = "";
	int rc = stats_store_load(path, &store, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "pgsift suggest: --stats-file %s: %s\n", path,
			*err ? err : strerror(-rc));
		return 1;
	}
	add_store(adv, store, since_us, database);
	stats_store_free(store);
	return 0;
}

/* The fleet's statistics (README.md, "Fleet statistics"): the same store, from many proxies. */
static int load_stats_dsn(Advisor *adv, const char *dsn, const char *schema, int64_t since_us,
			  const char *database)
{
	StatsStore *store = NULL;
	char err[1024] = "";
	int rc = stats_store_load_pg(dsn, schema, since_us, &store, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "pgsift suggest: --stats-dsn: %s\n", *err ? err : strerror(-rc));
		return 1;
	}
	add_store(adv, store, since_us, database);
	stats_store_free(store);
	return 0;
}

/* The statements of the window from a store: database's, or every database's when none ran on
 * it (see the top of the file). */
static void add_store(Advisor *adv, StatsStore *store, int64_t since_us, const char *database)
{
	if (database && advisor_add_store(adv, store, since_us, database) == 0) {
		fprintf(stderr,
			"pgsift suggest: no statement of the window ran on database \"%s\": "
			"taking every database's (--database names another)\n",
			database);
		database = NULL;
	}
	if (!database)
		advisor_add_store(adv, store, since_us, NULL);
}

/* The values of a text[] literal as SHOW QUERIES writes sample_params (every element quoted,
 * admin_array_literal) into buf, '\0'-terminated one after the other; how many, or -1 when
 * the literal is not of that form. buf has room for strlen(lit) bytes. */
static int parse_sample_params(const char *lit, char *buf)
{
	const char *p = lit;
	int n = 0;
	if (*p++ != '{')
		return -1;
	while (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			*buf++ = *p;
		}
		if (*p++ != '"')
			return -1;
		*buf++ = '\0';
		n++;
		if (*p == ',')
			p++;
		else
			break;
	}
	return *p == '}' && p[1] == '\0' && n <= UINT16_MAX ? n : -1;
}

/* SHOW QUERIES' columns by number; the sample ones are -1 for an older pgsift without them. */
typedef struct QueriesCols {
	int fingerprint, query, database, calls, total_ms, p95_ms, sample_query, sample_params;
} QueriesCols;

static double ms_or_unknown(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? -1 : strtod(PQgetvalue(r, row, col), NULL);
}

static bool has_value(PGresult *r, int row, int col)
{
	return col >= 0 && !PQgetisnull(r, row, col);
}

/* One SHOW QUERIES row as the advisor's statement, with its sampled execution when it has one. */
static void admin_row_add(Advisor *adv, PGresult *r, int i, const QueriesCols *f)
{
	AdvStatementIn in = {
		.text = PQgetvalue(r, i, f->query),
		.display = PQgetvalue(r, i, f->query),
		.fingerprint = strtoull(PQgetvalue(r, i, f->fingerprint), NULL, 16),
		.calls = strtoull(PQgetvalue(r, i, f->calls), NULL, 10),
		.total_ms = ms_or_unknown(r, i, f->total_ms),
		.p95_ms = ms_or_unknown(r, i, f->p95_ms),
	};
	if (has_value(r, i, f->sample_query))
		in.text = PQgetvalue(r, i, f->sample_query);
	char *buf = NULL;
	const char **params = NULL;
	if (has_value(r, i, f->sample_params)) {
		const char *lit = PQgetvalue(r, i, f->sample_params);
		buf = malloc(strlen(lit) + 1);
		int n = buf ? parse_sample_params(lit, buf) : -1;
		params = n > 0 ? advisor_split_params(buf, strlen(lit) + 1, (uint16_t)n) : NULL;
		if (params) {
			in.params = params;
			in.n_params = (size_t)n;
		}
	}
	advisor_add_statement(adv, &in);
	free(params);
	free(buf);
}

/* Statements from a running pgsift's SHOW QUERIES. */
static int load_admin(Advisor *adv, const char *url, const char *database)
{
	PGconn *c = PQconnectdb(url);
	if (PQstatus(c) != CONNECTION_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
		msg[strcspn(msg, "\n")] = '\0';
		fprintf(stderr, "pgsift suggest: --admin: %s\n", msg);
		PQfinish(c);
		return 1;
	}
	PGresult *r = PQexec(c, "SHOW QUERIES");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
		msg[strcspn(msg, "\n")] = '\0';
		fprintf(stderr, "pgsift suggest: --admin: SHOW QUERIES: %s\n", msg);
		PQclear(r);
		PQfinish(c);
		return 1;
	}
	QueriesCols f = {.fingerprint = PQfnumber(r, "fingerprint"),
			 .query = PQfnumber(r, "query"),
			 .database = PQfnumber(r, "database"),
			 .calls = PQfnumber(r, "calls"),
			 .total_ms = PQfnumber(r, "total_ms"),
			 .p95_ms = PQfnumber(r, "p95_ms"),
			 .sample_query = PQfnumber(r, "sample_query"),
			 .sample_params = PQfnumber(r, "sample_params")};
	if (f.fingerprint < 0 || f.query < 0 || f.database < 0 || f.calls < 0 || f.total_ms < 0 ||
	    f.p95_ms < 0) {
		fprintf(stderr, "pgsift suggest: --admin: SHOW QUERIES lacks fingerprint, query, "
				"database, calls, total_ms or p95_ms: is this pgsift?\n");
		PQclear(r);
		PQfinish(c);
		return 1;
	}
	/* two passes: the database's rows, or every row when none ran on it */
	bool any = false;
	size_t taken = 0, with_text = 0;
	for (int pass = database ? 0 : 1; pass < 2 && !any; pass++) {
		if (pass == 1 && database)
			fprintf(stderr,
				"pgsift suggest: no statement ran on database \"%s\": taking every "
				"database's (--database names another)\n",
				database);
		for (int i = 0; i < PQntuples(r); i++) {
			const char *fp = PQgetvalue(r, i, f.fingerprint);
			/* the "other" row folds many statements together: no shape */
			if (strspn(fp, "0") == strlen(fp))
				continue;
			if (pass == 0 && strcmp(PQgetvalue(r, i, f.database), database) != 0)
				continue;
			if (!strtoull(PQgetvalue(r, i, f.calls), NULL, 10))
				continue;
			admin_row_add(adv, r, i, &f);
			any = true;
			taken++;
			with_text += has_value(r, i, f.sample_query);
		}
	}
	if (taken && !with_text)
		fprintf(stderr,
			"pgsift suggest: --admin: SHOW QUERIES has no sampled statement text "
			"(pgsift shows it for prepared statements, and for every statement with "
			"log_parameters = 1): constants appear as $n, and constant filters cannot "
			"become partial-index predicates\n");
	PQclear(r);
	PQfinish(c);
	return 0;
}

/* ------------------------------------------------------------------------------------------
 * pgsift indexes */

static bool keys_prefix(const AdvIndex *a, const AdvIndex *b)
{
	if (a->n_keys > b->n_keys || a->n_keys == 0)
		return false;
	for (size_t k = 0; k < a->n_keys; k++) {
		const AdvKey *x = &a->keys[k], *y = &b->keys[k];
		if (x->is_expr != y->is_expr || strcmp(x->expr, y->expr) != 0 ||
		    x->desc != y->desc || x->nulls_first != y->nulls_first ||
		    strcmp(x->opclass ? x->opclass : "", y->opclass ? y->opclass : "") != 0)
			return false;
	}
	return true;
}

typedef struct DropItem {
	const AdvTable *t;
	const AdvIndex *ix;
	const char *kind; /* unused, duplicate, redundant */
	char why[512];
} DropItem;

static void human_size(char *buf, size_t cap, int64_t b)
{
	if (b >= 1 << 30)
		snprintf(buf, cap, "%.1f GB", (double)b / (1 << 30));
	else if (b >= 1 << 20)
		snprintf(buf, cap, "%.1f MB", (double)b / (1 << 20));
	else
		snprintf(buf, cap, "%lld kB", (long long)(b / 1024));
}

/* `pgsift indexes`: unused, duplicate and redundant indexes as DROP statements. One function:
 * the options, the catalog read and the three checks over one table list, printed in order. */
static int indexes_main(int argc, char **argv)
{
	const char *dsn = NULL;
	AdvFormat fmt = ADV_FMT_SQL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			fputs(indexes_usage, stdout);
			return 0;
		}
		if (!need_value(argc, argv, i))
			return 2;
		if (strcmp(argv[i], "--dsn") == 0)
			dsn = argv[++i];
		else if (strcmp(argv[i], "--format") == 0) {
			if (!advisor_format_parse(argv[++i], &fmt)) {
				fprintf(stderr,
					"pgsift indexes: --format: expected sql, json, csv or "
					"markdown\n");
				return 2;
			}
		} else {
			fprintf(stderr, "pgsift indexes: unknown option %s\n%s", argv[i],
				indexes_usage);
			return 2;
		}
	}
	if (!dsn) {
		fprintf(stderr, "pgsift indexes: --dsn is required\n%s", indexes_usage);
		return 2;
	}
	char err[512];
	Catalog *cat = catalog_connect(dsn, err, sizeof(err));
	if (!cat) {
		fprintf(stderr, "pgsift indexes: --dsn: %s\n", err);
		return 1;
	}
	AdvisorOptions opts;
	advisor_options_default(&opts);
	Advisor *adv = advisor_new(&opts, catalog_resolve, cat);
	if (!adv) {
		catalog_free(cat);
		return 1;
	}
	catalog_load_indexed_tables(cat, adv);
	size_t nt;
	AdvTable *const *tabs = advisor_tables(adv, &nt);
	DropItem *items = NULL;
	size_t n_items = 0, cap = 0;
	for (size_t ti = 0; ti < nt; ti++) {
		const AdvTable *t = tabs[ti];
		for (size_t i = 0; i < t->n_indexes; i++) {
			const AdvIndex *ix = &t->indexes[i];
			if (!ix->valid || ix->constraint || ix->unique)
				continue;
			DropItem it = {.t = t, .ix = ix};
			/* duplicates and indexes whose keys are a prefix of a wider one's */
			for (size_t j = 0; j < t->n_indexes && !it.kind; j++) {
				const AdvIndex *o = &t->indexes[j];
				if (j == i || !o->valid || strcmp(o->method, ix->method) != 0 ||
				    strcmp(o->predicate ? o->predicate : "",
					   ix->predicate ? ix->predicate : "") != 0 ||
				    !keys_prefix(ix, o) || strcmp(ix->method, "btree") != 0)
					continue;
				bool same =
					o->n_keys == ix->n_keys && o->n_include == ix->n_include;
				/* of two identical indexes keep the one a constraint uses, else the
				 * first by name */
				if (same && !(o->constraint || o->unique) && j > i)
					continue;
				it.kind = same ? "duplicate" : "redundant";
				snprintf(it.why, sizeof(it.why), "%s %s",
					 same ? "duplicate of" : "its keys lead the wider index",
					 o->name);
			}
			if (!it.kind && ix->scans == 0) {
				it.kind = "unused";
				snprintf(it.why, sizeof(it.why),
					 "no scans since the statistics were reset");
			}
			if (!it.kind)
				continue;
			if (n_items == cap) {
				cap = cap ? cap * 2 : 8;
				DropItem *arr = realloc(items, cap * sizeof(*arr));
				if (!arr)
					break;
				items = arr;
			}
			items[n_items++] = it;
		}
	}
	if (fmt == ADV_FMT_JSON)
		fputs("{\"indexes\": [", stdout);
	else if (fmt == ADV_FMT_CSV)
		fputs("kind,index,table,size_bytes,scans,reason,sql\n", stdout);
	else if (fmt == ADV_FMT_MARKDOWN)
		fputs("| kind | index | table | size | scans | reason "
		      "|\n|---|---|---|---|---|---|\n",
		      stdout);
	else
		printf("-- pgsift indexes: %zu index%s to review\n", n_items,
		       n_items == 1 ? "" : "es");
	for (size_t i = 0; i < n_items; i++) {
		const DropItem *it = &items[i];
		char tab[600], size[32], sql[700];
		advisor_table_sql(it->t, tab, sizeof(tab));
		human_size(size, sizeof(size), it->ix->size_bytes);
		snprintf(sql, sizeof(sql), "DROP INDEX CONCURRENTLY IF EXISTS %s;", it->ix->name);
		if (fmt == ADV_FMT_JSON) {
			printf("%s\n  {\"kind\": \"%s\", \"index\": ", i ? "," : "", it->kind);
			advisor_json_str(stdout, it->ix->name);
			fputs(", \"table\": ", stdout);
			advisor_json_str(stdout, tab);
			printf(", \"size_bytes\": %lld, \"scans\": %lld, \"reason\": ",
			       (long long)it->ix->size_bytes, (long long)it->ix->scans);
			advisor_json_str(stdout, it->why);
			fputs(", \"sql\": ", stdout);
			advisor_json_str(stdout, sql);
			fputs("}", stdout);
		} else if (fmt == ADV_FMT_CSV) {
			printf("%s,%s,\"%s\",%lld,%lld,\"%s\",%s\n", it->kind, it->ix->name, tab,
			       (long long)it->ix->size_bytes, (long long)it->ix->scans, it->why,
			       sql);
		} else if (fmt == ADV_FMT_MARKDOWN) {
			printf("| %s | %s | %s | %s | %lld | %s |\n", it->kind, it->ix->name, tab,
			       size, (long long)it->ix->scans, it->why);
		} else {
			printf("\n-- %s: %s on %s, %s, %lld scans\n--   %s\n%s\n", it->kind,
			       it->ix->name, tab, size, (long long)it->ix->scans, it->why, sql);
		}
	}
	if (fmt == ADV_FMT_JSON)
		fputs("]}\n", stdout);
	free(items);
	advisor_free(adv);
	catalog_free(cat);
	return 0;
}
