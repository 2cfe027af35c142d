/*
 * catalog.c: reads the upstream's catalog for the advisor (see catalog.h). Every query is
 * parameterized; names are resolved by the server itself (to_regclass), so search_path, quoting
 * and case follow PostgreSQL's rules exactly.
 */
#include "stats/advisor/catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct Catalog {
	PGconn *conn;
	bool c_default_collation; /* the database's default collation is C / POSIX */
};

static bool load_table(Catalog *cat, const char *oid, AdvTable *t);
static char *unquote_ident(const char *s);

Catalog *catalog_connect(const char *dsn, char *err, size_t errlen)
{
	Catalog *cat = calloc(1, sizeof(*cat));
	if (!cat) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	cat->conn = PQconnectdb(dsn);
	if (PQstatus(cat->conn) != CONNECTION_OK) {
		snprintf(err, errlen, "%s", PQerrorMessage(cat->conn));
		size_t l = strlen(err);
		while (l && (err[l - 1] == '\n'))
			err[--l] = '\0';
		catalog_free(cat);
		return NULL;
	}
	PGresult *r = PQexec(cat->conn, "SELECT datcollate FROM pg_database "
					"WHERE datname = current_database()");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		const char *c = PQgetvalue(r, 0, 0);
		cat->c_default_collation = strcmp(c, "C") == 0 || strcmp(c, "POSIX") == 0;
	}
	PQclear(r);
	return cat;
}

void catalog_free(Catalog *cat)
{
	if (!cat)
		return;
	PQfinish(cat->conn);
	free(cat);
}

PGconn *catalog_conn(Catalog *cat)
{
	return cat->conn;
}

bool catalog_has_extension(Catalog *cat, const char *name)
{
	const char *p[1] = {name};
	PGresult *r = PQexecParams(cat->conn, "SELECT 1 FROM pg_extension WHERE extname = $1", 1,
				   NULL, p, NULL, NULL, 0);
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
	PQclear(r);
	return ok;
}

void catalog_resolve(void *arg, Advisor *adv, const char *schema, const char *name,
		     AdvResolved *out)
{
	Catalog *cat = arg;
	const char *p[2] = {schema, name};
	PGresult *r =
		PQexecParams(cat->conn,
			     "SELECT c.oid, n.nspname, c.relname, c.relkind, c.relispartition, "
			     "  CASE WHEN c.relispartition THEN pg_partition_root(c.oid) END, "
			     "  CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END "
			     "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
			     "WHERE c.oid = to_regclass(CASE WHEN $1 = '' THEN quote_ident($2) "
			     "  ELSE quote_ident($1) || '.' || quote_ident($2) END)",
			     2, NULL, p, NULL, NULL, 0);
	out->kind = ADV_REL_SKIP;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(out->why, sizeof(out->why), "catalog error: %.100s",
			 PQerrorMessage(cat->conn));
		goto out;
	}
	if (PQntuples(r) != 1) {
		snprintf(out->why, sizeof(out->why), "not in the database");
		goto out;
	}
	const char *nsp = PQgetvalue(r, 0, 1);
	char kind = PQgetvalue(r, 0, 3)[0];
	if (strcmp(nsp, "pg_catalog") == 0 || strcmp(nsp, "information_schema") == 0 ||
	    strncmp(nsp, "pg_toast", 8) == 0) {
		snprintf(out->why, sizeof(out->why), "system catalog (%s)", nsp);
		goto out;
	}
	if (kind == 'f') {
		snprintf(out->why, sizeof(out->why), "foreign table: cannot be indexed here");
		goto out;
	}
	if (kind == 'v') {
		out->kind = ADV_REL_VIEW;
		out->view_sql = strdup(PQgetvalue(r, 0, 6));
		goto out;
	}
	if (kind != 'r' && kind != 'p' && kind != 'm') {
		snprintf(out->why, sizeof(out->why), "relation kind '%c' is not indexable", kind);
		goto out;
	}
	const char *oid = PQgetvalue(r, 0, 0);
	char root[32] = "";
	if (PQgetvalue(r, 0, 4)[0] == 't' && !PQgetisnull(r, 0, 5))
		snprintf(root, sizeof(root), "%s", PQgetvalue(r, 0, 5));
	if (*root) {
		/* a partition: an index on the parent cascades to every partition */
		const char *q[1] = {root};
		PGresult *pr = PQexecParams(
			cat->conn,
			"SELECT n.nspname, c.relname FROM pg_class c "
			"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid",
			1, NULL, q, NULL, NULL, 0);
		if (PQresultStatus(pr) == PGRES_TUPLES_OK && PQntuples(pr) == 1) {
			AdvTable *t =
				advisor_table(adv, PQgetvalue(pr, 0, 0), PQgetvalue(pr, 0, 1));
			if (t && !t->known)
				load_table(cat, root, t);
			out->kind = ADV_REL_TABLE;
			out->table = t;
		}
		PQclear(pr);
		goto out;
	}
	AdvTable *t = advisor_table(adv, nsp, PQgetvalue(r, 0, 2));
	if (t && !t->known)
		load_table(cat, oid, t);
	out->kind = t ? ADV_REL_TABLE : ADV_REL_SKIP;
	out->table = t;
out:
	PQclear(r);
}

static PGresult *query1(Catalog *cat, const char *sql, const char *oid)
{
	const char *p[1] = {oid};
	PGresult *r = PQexecParams(cat->conn, sql, 1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return NULL;
	}
	return r;
}

/* Fills t from the catalog. The table's oid is given as text. One function: three queries (the
 * relation, its columns with their statistics, its indexes) fill the one AdvTable in turn. */
static bool load_table(Catalog *cat, const char *oid, AdvTable *t)
{
	PGresult *r =
		query1(cat,
		       "SELECT c.relkind, c.reltuples, c.relpages, "
		       "  CASE WHEN c.relkind = 'p' THEN (SELECT sum(greatest(l.reltuples, 0)) "
		       "    FROM pg_partition_tree(c.oid) pt JOIN pg_class l ON l.oid = pt.relid "
		       "    WHERE pt.isleaf) END, "
		       "  CASE WHEN c.relkind = 'p' THEN (SELECT sum(pg_relation_size(pt.relid)) "
		       "    FROM pg_partition_tree(c.oid) pt WHERE pt.isleaf) "
		       "    ELSE pg_relation_size(c.oid) END, "
		       "  current_setting('block_size')::int "
		       "FROM pg_class c WHERE c.oid = $1::oid",
		       oid);
	if (!r || PQntuples(r) != 1) {
		PQclear(r);
		return false;
	}
	t->known = true;
	t->relkind = PQgetvalue(r, 0, 0)[0];
	t->rows = atof(PQgetvalue(r, 0, 1));
	t->pages = atof(PQgetvalue(r, 0, 2));
	double size = atof(PQgetvalue(r, 0, 4));
	double bs = atof(PQgetvalue(r, 0, 5));
	if (t->relkind == 'p' && !PQgetisnull(r, 0, 3))
		t->rows = atof(PQgetvalue(r, 0, 3));
	if (t->rows < 0 || (t->relkind == 'p' && t->rows == 0 && size > 0)) {
		/* never analyzed: an empty relation is known to be empty, else unknown */
		t->rows = size == 0 ? 0 : -1;
	}
	if (t->pages <= 0 && bs > 0)
		t->pages = size / bs;
	PQclear(r);

	r = query1(cat,
		   "SELECT a.attname, coalesce(co.collname, ''), "
		   "  EXISTS (SELECT 1 FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod "
		   "    WHERE am.amname = 'btree' AND oc.opcdefault AND (oc.opcintype = a.atttypid "
		   "      OR oc.opcintype = ty.typbasetype "
		   "      OR (ty.typcategory = 'A' AND oc.opcintype = 'anyarray'::regtype) "
		   "      OR (ty.typtype = 'e' AND oc.opcintype = 'anyenum'::regtype) "
		   "      OR EXISTS (SELECT 1 FROM pg_cast ca WHERE ca.castsource = a.atttypid "
		   "        AND ca.casttarget = oc.opcintype AND ca.castmethod = 'b'))), "
		   "  s.n_distinct, s.null_frac, s.most_common_vals::text, "
		   "  s.most_common_freqs::text, s.correlation, s.attname IS NOT NULL, "
		   "  EXISTS (SELECT 1 FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod "
		   "    WHERE am.amname = 'gin' AND oc.opcdefault AND (oc.opcintype = a.atttypid "
		   "      OR (ty.typcategory = 'A' AND oc.opcintype = 'anyarray'::regtype))) "
		   "FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid "
		   "JOIN pg_class c ON c.oid = a.attrelid "
		   "JOIN pg_namespace n ON n.oid = c.relnamespace "
		   "LEFT JOIN pg_collation co ON co.oid = a.attcollation "
		   "LEFT JOIN LATERAL (SELECT * FROM pg_stats ps WHERE ps.schemaname = n.nspname "
		   "  AND ps.tablename = c.relname AND ps.attname = a.attname "
		   "  ORDER BY ps.inherited DESC LIMIT 1) s ON true "
		   "WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped "
		   "ORDER BY a.attnum",
		   oid);
	for (int i = 0; r && i < PQntuples(r); i++) {
		AdvColumn *c = advisor_table_add_column(t, PQgetvalue(r, i, 0));
		if (!c)
			break;
		const char *coll = PQgetvalue(r, i, 1);
		c->c_collation = strcmp(coll, "C") == 0 || strcmp(coll, "POSIX") == 0 ||
				 (strcmp(coll, "default") == 0 && cat->c_default_collation);
		c->btree_ok = PQgetvalue(r, i, 2)[0] == 't';
		c->gin_ok = PQgetvalue(r, i, 9)[0] == 't';
		c->has_stats = PQgetvalue(r, i, 8)[0] == 't';
		if (!c->has_stats)
			continue;
		c->n_distinct = atof(PQgetvalue(r, i, 3));
		c->null_frac = atof(PQgetvalue(r, i, 4));
		c->correlation = atof(PQgetvalue(r, i, 7));
		if (!PQgetisnull(r, i, 5) && !PQgetisnull(r, i, 6)) {
			char **vals = NULL, **freqs = NULL;
			size_t nv = catalog_parse_array(PQgetvalue(r, i, 5), &vals);
			size_t nf = catalog_parse_array(PQgetvalue(r, i, 6), &freqs);
			size_t n = nv < nf ? nv : nf;
			c->mcv = vals;
			c->n_mcv = n;
			c->mcv_freq = calloc(n + 1, sizeof(double));
			for (size_t k = 0; k < n && c->mcv_freq; k++)
				c->mcv_freq[k] = atof(freqs[k]);
			for (size_t k = n; k < nv; k++)
				free(vals[k]);
			for (size_t k = 0; k < nf; k++)
				free(freqs[k]);
			free(freqs);
			if (!c->mcv_freq)
				c->n_mcv = 0;
		}
	}
	PQclear(r);

	r = query1(
		cat,
		"SELECT i.indexrelid::regclass::text, am.amname, i.indnkeyatts, i.indnatts, "
		"  i.indisunique, i.indisprimary, i.indisvalid AND i.indisready, "
		"  pg_get_expr(i.indpred, i.indrelid, true), "
		"  (SELECT string_agg(pg_get_indexdef(i.indexrelid, k, true), chr(31) ORDER BY k) "
		"     FROM generate_series(1, i.indnkeyatts) k), "
		"  i.indoption::text, "
		"  (SELECT string_agg(CASE WHEN oc.opcdefault THEN '' ELSE oc.opcname END, "
		"     chr(31) ORDER BY x.ord) FROM unnest(i.indclass::oid[]) WITH ORDINALITY "
		"     x(oc, ord) JOIN pg_opclass oc ON oc.oid = x.oc), "
		"  EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = i.indexrelid), "
		"  pg_relation_size(i.indexrelid), coalesce(s.idx_scan, 0), "
		"  (SELECT string_agg(CASE WHEN a.attnum IS NULL THEN '1' ELSE '0' END, '' "
		"     ORDER BY x.ord) FROM unnest(i.indkey::int2[]) WITH ORDINALITY x(k, ord) "
		"     LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = x.k "
		"     AND x.k <> 0) "
		"FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
		"JOIN pg_am am ON am.oid = ic.relam "
		"LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = i.indexrelid "
		"WHERE i.indrelid = $1::oid ORDER BY 1",
		oid);
	for (int i = 0; r && i < PQntuples(r); i++) {
		AdvIndex *ix = advisor_table_add_index(t, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
		if (!ix)
			break;
		int nkey = atoi(PQgetvalue(r, i, 2));
		ix->n_include = (size_t)(atoi(PQgetvalue(r, i, 3)) - nkey);
		ix->unique = PQgetvalue(r, i, 4)[0] == 't';
		ix->primary = PQgetvalue(r, i, 5)[0] == 't';
		ix->valid = PQgetvalue(r, i, 6)[0] == 't';
		if (!PQgetisnull(r, i, 7))
			ix->predicate = strdup(PQgetvalue(r, i, 7));
		ix->constraint = PQgetvalue(r, i, 11)[0] == 't';
		ix->size_bytes = atoll(PQgetvalue(r, i, 12));
		ix->scans = atoll(PQgetvalue(r, i, 13));
		char *defs = strdup(PQgetvalue(r, i, 8));
		char *opcs = strdup(PQgetvalue(r, i, 10));
		const char *opts = PQgetvalue(r, i, 9);
		const char *isexpr = PQgetvalue(r, i, 14);
		char *dsave = NULL, *osave = NULL;
		char *d = defs ? strtok_r(defs, "\x1f", &dsave) : NULL;
		/* strtok would merge empty opclass fields: split by hand */
		char *o = opcs;
		for (int k = 0; k < nkey && d; k++) {
			char *onext = o ? strchr(o, '\x1f') : NULL;
			if (onext)
				*onext = '\0';
			int opt = 0;
			for (int skip = 0; skip < k && opts; skip++) {
				opts = strchr(opts, ' ');
				if (opts)
					opts++;
			}
			if (opts)
				opt = atoi(opts);
			opts = PQgetvalue(r, i, 9);
			bool expr = isexpr && (int)strlen(isexpr) > k && isexpr[k] == '1';
			char *name = expr ? strdup(d) : unquote_ident(d);
			AdvKey *key = advisor_index_add_key(ix, name ? name : d, expr,
							    (opt & 1) != 0, o && *o ? o : NULL);
			if (key)
				key->nulls_first = (opt & 2) != 0;
			free(name);
			d = strtok_r(NULL, "\x1f", &dsave);
			o = onext ? onext + 1 : NULL;
		}
		(void)osave;
		free(defs);
		free(opcs);
	}
	PQclear(r);

	r = query1(
		cat,
		"SELECT s.n_tup_ins + s.n_tup_upd + s.n_tup_del, s.n_tup_upd, s.n_tup_hot_upd, "
		"  extract(epoch FROM now() - coalesce((SELECT stats_reset FROM pg_stat_database "
		"    WHERE datname = current_database()), pg_postmaster_start_time())) / 60 "
		"FROM pg_stat_all_tables s WHERE s.relid = $1::oid",
		oid);
	if (r && PQntuples(r) == 1) {
		double writes = atof(PQgetvalue(r, 0, 0));
		double upd = atof(PQgetvalue(r, 0, 1));
		double hot = atof(PQgetvalue(r, 0, 2));
		double mins = atof(PQgetvalue(r, 0, 3));
		/* a rate over a few minutes after a restart or a bulk load says nothing */
		t->writes_per_min = mins >= 10 ? writes / mins : -1;
		t->hot_update_pct = upd > 0 ? 100.0 * hot / upd : -1;
	}
	PQclear(r);
	return true;
}

/* "Id" -> Id, plain -> plain. */
static char *unquote_ident(const char *s)
{
	size_t n = strlen(s);
	if (n < 2 || s[0] != '"' || s[n - 1] != '"')
		return strdup(s);
	return advisor_unquote(s, n, '"');
}

size_t catalog_parse_array(const char *lit, char ***out)
{
	*out = NULL;
	size_t n = 0, cap = 0;
	const char *p = lit;
	if (*p != '{')
		return 0;
	p++;
	while (*p && *p != '}') {
		char buf[4096];
		size_t o = 0;
		bool quoted = false;
		if (*p == '"') {
			quoted = true;
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1])
					p++;
				if (o + 1 < sizeof(buf))
					buf[o++] = *p;
				p++;
			}
			if (*p == '"')
				p++;
		} else {
			while (*p && *p != ',' && *p != '}') {
				if (o + 1 < sizeof(buf))
					buf[o++] = *p;
				p++;
			}
		}
		buf[o] = '\0';
		if (*p == ',')
			p++;
		if (!quoted && strcmp(buf, "NULL") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			char **arr = realloc(*out, cap * sizeof(char *));
			if (!arr)
				break;
			*out = arr;
		}
		(*out)[n++] = strdup(buf);
	}
	return n;
}

size_t catalog_load_indexed_tables(Catalog *cat, Advisor *adv)
{
	PGresult *r =
		PQexec(cat->conn,
		       "SELECT c.oid, n.nspname, c.relname FROM pg_class c "
		       "JOIN pg_namespace n ON n.oid = c.relnamespace "
		       "WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN "
		       "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
		       "AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid) "
		       "ORDER BY 2, 3");
	size_t n = 0;
	for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++) {
		AdvTable *t = advisor_table(adv, PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
		if (t && !t->known && load_table(cat, PQgetvalue(r, i, 0), t))
			n++;
	}
	PQclear(r);
	return n;
}
