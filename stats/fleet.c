/*
 * fleet: the accumulator behind the fleet statistics store (see fleet.h). Three hash tables
 * (util/hashtab.h): statement-hour rows, table-hour rows, digests. The cost per event is one
 * hash of the key and one aggregate update (digest_agg_record, the same code as the digests'),
 * plus one more lookup the first time a digest is seen. Everything that walks the tables
 * (collect, ack, the backlog bound) runs once per stats_flush_interval.
 */
#include "stats/fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util/grow.h"

static uint64_t row_hash(int64_t hour, uint64_t fp, const char *db, const char *user,
			 const char *app);
static uint64_t query_hash(uint64_t fp, const char *db, const char *user);
static FleetRow *row_find(const Fleet *f, uint64_t h, int64_t hour, uint64_t fp, const char *db,
			  const char *user, const char *app);
static void row_free(FleetRow *r);
static void table_free(FleetTable *t);
static void query_free(FleetQuery *q);
static void fleet_free_done(Fleet *f, int64_t now_us);
static uint64_t fleet_count_waiting(const Fleet *f);
static int drop_cmp(const void *a, const void *b);

bool fleet_init(Fleet *f, size_t backlog)
{
	memset(f, 0, sizeof(*f));
	f->backlog = backlog;
	f->closed_hour = INT64_MIN;
	if (!hashtab_init(&f->rows, 256) || !hashtab_init(&f->tables, 16) ||
	    !hashtab_init(&f->queries, 256)) {
		fleet_destroy(f);
		return false;
	}
	return true;
}

void fleet_destroy(Fleet *f)
{
	HashNode *n, *next;
	size_t i;
	if (f->rows.buckets)
		hashtab_for_each_safe(n, next, i, &f->rows)
		{
			FleetRow *r = list_entry(n, FleetRow, link);
			row_free(r);
			free(r);
		}
	if (f->tables.buckets)
		hashtab_for_each_safe(n, next, i, &f->tables)
		{
			FleetTable *t = list_entry(n, FleetTable, link);
			table_free(t);
			free(t);
		}
	if (f->queries.buckets)
		hashtab_for_each_safe(n, next, i, &f->queries)
		{
			FleetQuery *q = list_entry(n, FleetQuery, link);
			query_free(q);
			free(q);
		}
	hashtab_destroy(&f->rows);
	hashtab_destroy(&f->tables);
	hashtab_destroy(&f->queries);
}

void fleet_set_backlog(Fleet *f, size_t backlog)
{
	f->backlog = backlog;
}

bool fleet_has_query(const Fleet *f, uint64_t fingerprint, const char *db, const char *user)
{
	uint64_t h = query_hash(fingerprint, db, user);
	for (HashNode *n = hashtab_chain(&f->queries, h); n; n = n->next) {
		FleetQuery *q = list_entry(n, FleetQuery, link);
		if (n->hash == h && q->fingerprint == fingerprint && strcmp(q->db, db) == 0 &&
		    strcmp(q->user, user) == 0)
			return true;
	}
	return false;
}

/* Calls the store will never see, in all and for their database (Fleet.on_drop). */
static void fleet_count_dropped(Fleet *f, const char *db, uint64_t calls)
{
	f->calls_dropped += calls;
	if (f->on_drop && calls)
		f->on_drop(f->drop_arg, db, calls);
}

bool fleet_record(Fleet *f, const FleetEvent *e)
{
	const DigestEvent *de = e->de;
	const char *db = de->db ? de->db : "", *user = de->user ? de->user : "";
	const char *app = e->app ? e->app : "";
	int64_t hour = de->end_wall_us / US_PER_HOUR;
	uint64_t h = row_hash(hour, de->fingerprint, db, user, app);
	FleetRow *r = row_find(f, h, hour, de->fingerprint, db, user, app);
	if (r && r->dead) {
		fleet_count_dropped(f, db, 1);
		return true;
	}
	if (r) { /* the common case; a known row's digest has its text already */
		if (!digest_agg_record(&r->agg, de))
			return false;
		r->version++;
		return true;
	}
	if (hour <= f->closed_hour) { /* its hour was written out and freed */
		fleet_count_dropped(f, db, 1);
		return true;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return false;
	r->hour = hour;
	r->fingerprint = de->fingerprint;
	r->db = strdup(db);
	r->user = strdup(user);
	r->app = strdup(app);
	digest_agg_init(&r->agg);
	if (!r->db || !r->user || !r->app) {
		row_free(r);
		free(r);
		return false;
	}
	hashtab_add(&f->rows, &r->link, h);
	if (!digest_agg_record(&r->agg, de))
		return false; /* an empty row (version 0) is never sent */
	r->version++;

	if (!fleet_has_query(f, de->fingerprint, db, user)) {
		FleetQuery *q = calloc(1, sizeof(*q));
		if (!q)
			return true; /* the row counted; the text comes with the next call */
		q->fingerprint = de->fingerprint;
		q->db = strdup(db);
		q->user = strdup(user);
		q->kind = stmt_kind_str(de->kind);
		q->text = strndup(de->text ? de->text : "", de->text ? de->text_len : 0);
		if (e->describe)
			e->describe(e->arg, &q->columns, &q->samples);
		q->first_seen_us = de->end_wall_us;
		if (!q->db || !q->user || !q->text) {
			query_free(q);
			free(q);
			return true;
		}
		hashtab_add(&f->queries, &q->link, query_hash(q->fingerprint, db, user));
	}
	return true;
}

bool fleet_record_table(Fleet *f, const char *table, size_t len, StmtKind kind, uint64_t rows,
			int64_t end_wall_us)
{
	if (kind != SK_INSERT && kind != SK_UPDATE && kind != SK_DELETE)
		return true;
	int64_t hour = end_wall_us / US_PER_HOUR;
	uint64_t h = XXH3_64bits_withSeed(table, len, (uint64_t)hour);
	FleetTable *t = NULL;
	for (HashNode *n = hashtab_chain(&f->tables, h); n && !t; n = n->next) {
		FleetTable *c = list_entry(n, FleetTable, link);
		if (n->hash == h && c->hour == hour && strlen(c->name) == len &&
		    memcmp(c->name, table, len) == 0)
			t = c;
	}
	if (!t) {
		if (hour <= f->closed_hour)
			return true;
		t = calloc(1, sizeof(*t));
		if (!t || !(t->name = strndup(table, len))) {
			free(t);
			return false;
		}
		t->hour = hour;
		hashtab_add(&f->tables, &t->link, h);
	}
	t->inserts += kind == SK_INSERT;
	t->updates += kind == SK_UPDATE;
	t->deletes += kind == SK_DELETE;
	t->rows += rows;
	t->version++;
	return true;
}

void fleet_enforce_backlog(Fleet *f, uint64_t gen_in_flight)
{
	uint64_t waiting = fleet_count_waiting(f);
	f->waiting = waiting;
	if (waiting <= f->backlog)
		return;
	FleetRow **cand = malloc(waiting * sizeof(*cand));
	if (!cand)
		return;
	size_t n = 0;
	HashNode *node, *next;
	size_t i;
	hashtab_for_each_safe(node, next, i, &f->rows)
	{
		FleetRow *r = list_entry(node, FleetRow, link);
		if (r->dead || r->version == r->written_version)
			continue;
		if (gen_in_flight && r->sent_gen == gen_in_flight)
			continue; /* the writer has it now */
		cand[n++] = r;
	}
	qsort(cand, n, sizeof(*cand), drop_cmp);
	uint64_t drop = waiting - f->backlog;
	for (size_t k = 0; k < n && k < drop; k++) {
		FleetRow *r = cand[k];
		f->rows_dropped++;
		fleet_count_dropped(f, r->db, r->agg.calls - r->written_calls);
		f->waiting--;
		if (r->written_calls == 0) {
			/* the store has nothing of it: a later call of the key starts afresh */
			hashtab_remove(&f->rows, &r->link);
			row_free(r);
			free(r);
		} else {
			r->dead = true;
			digest_agg_free(&r->agg);
			digest_agg_init(&r->agg);
		}
	}
	free(cand);
}

bool fleet_collect(Fleet *f, int64_t now_us, FleetBatch *out)
{
	memset(out, 0, sizeof(*out));
	fleet_free_done(f, now_us);
	fleet_enforce_backlog(f, 0);
	uint64_t gen = f->gen + 1;
	out->gen = gen;
	HashNode *node, *next;
	size_t i;
	bool ok = true;
	hashtab_for_each_safe(node, next, i, &f->rows)
	{
		FleetRow *r = list_entry(node, FleetRow, link);
		if (!ok || r->dead || r->version == r->written_version)
			continue;
		if (!grow_array(&out->rows, &out->cap_rows, out->n_rows + 1, sizeof(*out->rows))) {
			ok = false;
			continue;
		}
		FleetRow *c = &out->rows[out->n_rows];
		memset(c, 0, sizeof(*c));
		c->hour = r->hour;
		c->fingerprint = r->fingerprint;
		c->db = strdup(r->db);
		c->user = strdup(r->user);
		c->app = strdup(r->app);
		digest_agg_init(&c->agg);
		out->n_rows++;
		if (!c->db || !c->user || !c->app || !digest_agg_merge(&c->agg, &r->agg))
			ok = false;
	}
	hashtab_for_each_safe(node, next, i, &f->tables)
	{
		FleetTable *t = list_entry(node, FleetTable, link);
		if (!ok || t->version == t->written_version)
			continue;
		if (!grow_array(&out->tables, &out->cap_tables, out->n_tables + 1,
				sizeof(*out->tables))) {
			ok = false;
			continue;
		}
		FleetTable *c = &out->tables[out->n_tables];
		*c = *t;
		c->name = strdup(t->name);
		out->n_tables++;
		if (!c->name)
			ok = false;
	}
	hashtab_for_each_safe(node, next, i, &f->queries)
	{
		FleetQuery *q = list_entry(node, FleetQuery, link);
		if (!ok || q->written)
			continue;
		if (!grow_array(&out->queries, &out->cap_queries, out->n_queries + 1,
				sizeof(*out->queries))) {
			ok = false;
			continue;
		}
		FleetQuery *c = &out->queries[out->n_queries];
		*c = *q;
		c->db = strdup(q->db);
		c->user = strdup(q->user);
		c->text = strdup(q->text);
		c->columns = q->columns ? strdup(q->columns) : NULL;
		c->samples = q->samples ? strdup(q->samples) : NULL;
		out->n_queries++;
		if (!c->db || !c->user || !c->text || (q->columns && !c->columns) ||
		    (q->samples && !c->samples))
			ok = false;
	}
	if (!ok) {
		fleet_batch_free(out);
		return false;
	}
	/* Only now that the copy is whole: mark what it carries. */
	f->gen = gen;
	hashtab_for_each_safe(node, next, i, &f->rows)
	{
		FleetRow *r = list_entry(node, FleetRow, link);
		if (r->dead || r->version == r->written_version)
			continue;
		r->sent_version = r->version;
		r->sent_calls = r->agg.calls;
		r->sent_gen = gen;
	}
	hashtab_for_each_safe(node, next, i, &f->tables)
	{
		FleetTable *t = list_entry(node, FleetTable, link);
		if (t->version != t->written_version) {
			t->sent_version = t->version;
			t->sent_gen = gen;
		}
	}
	hashtab_for_each_safe(node, next, i, &f->queries)
	{
		FleetQuery *q = list_entry(node, FleetQuery, link);
		if (!q->written)
			q->sent_gen = gen;
	}
	out->rows_dropped = f->rows_dropped;
	out->calls_dropped = f->calls_dropped;
	return true;
}

void fleet_ack(Fleet *f, uint64_t gen, bool ok, int64_t now_us)
{
	HashNode *node, *next;
	size_t i;
	if (ok) {
		hashtab_for_each_safe(node, next, i, &f->rows)
		{
			FleetRow *r = list_entry(node, FleetRow, link);
			if (r->sent_gen != gen || r->dead)
				continue;
			r->written_version = r->sent_version;
			r->written_calls = r->sent_calls;
		}
		hashtab_for_each_safe(node, next, i, &f->tables)
		{
			FleetTable *t = list_entry(node, FleetTable, link);
			if (t->sent_gen == gen)
				t->written_version = t->sent_version;
		}
		hashtab_for_each_safe(node, next, i, &f->queries)
		{
			FleetQuery *q = list_entry(node, FleetQuery, link);
			if (q->sent_gen != gen || q->written)
				continue;
			/* the store has it (the text stays, for another store: fleet_unwrite) */
			q->written = true;
		}
	}
	fleet_free_done(f, now_us);
	f->waiting = fleet_count_waiting(f);
}

void fleet_unwrite(Fleet *f)
{
	HashNode *node, *next;
	size_t i;
	hashtab_for_each_safe(node, next, i, &f->rows)
	{
		FleetRow *r = list_entry(node, FleetRow, link);
		if (r->dead) { /* its calls are counted as dropped: the new store starts at none */
			hashtab_remove(&f->rows, &r->link);
			row_free(r);
			free(r);
			continue;
		}
		r->written_version = 0;
		r->written_calls = 0;
		r->sent_gen = 0;
	}
	hashtab_for_each_safe(node, next, i, &f->tables)
	{
		FleetTable *t = list_entry(node, FleetTable, link);
		t->written_version = 0;
		t->sent_gen = 0;
	}
	hashtab_for_each_safe(node, next, i, &f->queries)
	{
		FleetQuery *q = list_entry(node, FleetQuery, link);
		q->written = false;
		q->sent_gen = 0;
	}
	f->waiting = fleet_count_waiting(f);
}

void fleet_batch_free(FleetBatch *b)
{
	for (size_t i = 0; i < b->n_rows; i++)
		row_free(&b->rows[i]);
	free(b->rows);
	for (size_t i = 0; i < b->n_tables; i++)
		table_free(&b->tables[i]);
	free(b->tables);
	for (size_t i = 0; i < b->n_queries; i++)
		query_free(&b->queries[i]);
	free(b->queries);
	memset(b, 0, sizeof(*b));
}

void fleet_instance_key(char *buf, size_t len, const char *name, int port, int pid, int64_t start_s)
{
	snprintf(buf, len, "%s:%d:%d:%lld", name, port, pid, (long long)start_s);
}

/* ---- internal ---- */

/* Frees the rows (and tombstones) of hours that are over whose final values the store holds. */
static void fleet_free_done(Fleet *f, int64_t now_us)
{
	int64_t open_hour = (now_us - FLEET_GRACE_US) / US_PER_HOUR; /* hours before it are over */
	HashNode *node, *next;
	size_t i;
	hashtab_for_each_safe(node, next, i, &f->rows)
	{
		FleetRow *r = list_entry(node, FleetRow, link);
		if (r->hour >= open_hour || (!r->dead && r->version != r->written_version))
			continue;
		if (r->hour > f->closed_hour)
			f->closed_hour = r->hour;
		hashtab_remove(&f->rows, &r->link);
		row_free(r);
		free(r);
	}
	hashtab_for_each_safe(node, next, i, &f->tables)
	{
		FleetTable *t = list_entry(node, FleetTable, link);
		if (t->hour >= open_hour || t->version != t->written_version)
			continue;
		if (t->hour > f->closed_hour)
			f->closed_hour = t->hour;
		hashtab_remove(&f->tables, &t->link);
		table_free(t);
		free(t);
	}
}

static uint64_t fleet_count_waiting(const Fleet *f)
{
	uint64_t n = 0;
	HashNode *node, *next;
	size_t i;
	hashtab_for_each_safe(node, next, i, &f->rows)
	{
		FleetRow *r = list_entry(node, FleetRow, link);
		n += !r->dead && r->version != r->written_version;
	}
	return n;
}

/* Oldest hour first; within an hour, the row seen least recently. */
static int drop_cmp(const void *a, const void *b)
{
	const FleetRow *x = *(FleetRow *const *)a, *y = *(FleetRow *const *)b;
	if (x->hour != y->hour)
		return x->hour < y->hour ? -1 : 1;
	if (x->agg.last_seen_us != y->agg.last_seen_us)
		return x->agg.last_seen_us < y->agg.last_seen_us ? -1 : 1;
	return 0;
}

static uint64_t row_hash(int64_t hour, uint64_t fp, const char *db, const char *user,
			 const char *app)
{
	uint64_t h =
		XXH3_64bits_withSeed(db, strlen(db), fp ^ ((uint64_t)hour * 0x9e3779b97f4a7c15ULL));
	h = XXH3_64bits_withSeed(user, strlen(user), h);
	return XXH3_64bits_withSeed(app, strlen(app), h);
}

static uint64_t query_hash(uint64_t fp, const char *db, const char *user)
{
	uint64_t h = XXH3_64bits_withSeed(db, strlen(db), fp);
	return XXH3_64bits_withSeed(user, strlen(user), h);
}

static FleetRow *row_find(const Fleet *f, uint64_t h, int64_t hour, uint64_t fp, const char *db,
			  const char *user, const char *app)
{
	for (HashNode *n = hashtab_chain(&f->rows, h); n; n = n->next) {
		FleetRow *r = list_entry(n, FleetRow, link);
		if (n->hash == h && r->hour == hour && r->fingerprint == fp &&
		    strcmp(r->db, db) == 0 && strcmp(r->user, user) == 0 &&
		    strcmp(r->app, app) == 0)
			return r;
	}
	return NULL;
}

static void row_free(FleetRow *r)
{
	free(r->db);
	free(r->user);
	free(r->app);
	digest_agg_free(&r->agg);
	r->db = r->user = r->app = NULL;
}

static void table_free(FleetTable *t)
{
	free(t->name);
	t->name = NULL;
}

static void query_free(FleetQuery *q)
{
	free(q->db);
	free(q->user);
	free(q->text);
	free(q->columns);
	free(q->samples);
	q->db = q->user = q->text = q->columns = q->samples = NULL;
}
