/*
 * digest: per-(fingerprint, database, user) aggregates with hourly buckets, per-table writes and
 * the max_fingerprints folding. Chained hash tables keyed by XXH3; an intrusive LRU list (most
 * recently seen at the head) picks what to fold when the limit is reached, in O(1). Hours are kept
 * in arrays sorted by hour: statements arrive in time order, so the slot is almost always the last
 * one or a new one appended.
 */
#include "stats/digest.h"

#include "parser/shape.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static uint64_t digest_hash(uint64_t fingerprint, const char *db, const char *user);
static void store_unlink(DigestStore *s, Digest *d);
static bool store_fold_lru(DigestStore *s);
static void store_prune(DigestStore *s);
static bool agg_add(DigestAgg *a, const DigestEvent *e, unsigned bucket, bool failed);
static void sample_offer(DigestStore *s, Digest *d, const DigestEvent *e);
static char *dup_n(const char *p, size_t n);
static int row_cmp(const void *a, const void *b);
static int lru_cmp(const void *a, const void *b);

static inline int64_t hour_of(int64_t us)
{
	return us >= 0 ? us / US_PER_HOUR : -((-us + US_PER_HOUR - 1) / US_PER_HOUR);
}

DigestStore *digest_store_new(size_t max_fingerprints, int64_t retention_hours)
{
	DigestStore *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	list_init(&s->lru);
	if (!hashtab_init(&s->digests, 256) || !hashtab_init(&s->tables, 64)) {
		hashtab_destroy(&s->digests);
		hashtab_destroy(&s->tables);
		free(s);
		return NULL;
	}
	s->max_fingerprints = max_fingerprints;
	s->retention_hours = retention_hours;
	s->newest_hour = INT64_MIN;
	s->rng = 0x9e3779b97f4a7c15ULL;
	return s;
}

void digest_store_clear(DigestStore *s)
{
	HashNode *n, *next;
	size_t i;
	hashtab_for_each_safe(n, next, i, &s->digests)
	{
		digest_free(list_entry(n, Digest, link));
	}
	hashtab_reset(&s->digests);
	memset(s->recent, 0, sizeof(s->recent));
	digest_free(s->other);
	s->other = NULL;
	list_init(&s->lru);
	hashtab_for_each_safe(n, next, i, &s->tables)
	{
		TableStat *t = list_entry(n, TableStat, link);
		free(t->name);
		free(t->hours);
		free(t);
	}
	hashtab_reset(&s->tables);
	s->newest_hour = INT64_MIN;
}

void digest_store_free(DigestStore *s)
{
	if (!s)
		return;
	digest_store_clear(s);
	hashtab_destroy(&s->digests);
	hashtab_destroy(&s->tables);
	if (s->shapes && s->shapes_free)
		s->shapes_free(s->shapes);
	free(s);
}

void digest_store_set_limits(DigestStore *s, size_t max_fingerprints, int64_t retention_hours)
{
	s->max_fingerprints = max_fingerprints;
	s->retention_hours = retention_hours;
	while (s->max_fingerprints && s->digests.count > s->max_fingerprints && store_fold_lru(s))
		;
	store_prune(s);
}

void digest_agg_init(DigestAgg *a)
{
	memset(a, 0, sizeof(*a));
	hist_init(&a->hist);
}

const char *digest_agg_check(const DigestAgg *a)
{
	if (a->hist.total != a->calls)
		return "histogram does not add up to calls";
	return NULL;
}

void digest_agg_free(DigestAgg *a)
{
	free(a->err);
	hist_free(&a->hist);
	memset(a, 0, sizeof(*a));
}

Digest *digest_new(uint64_t fingerprint, const char *db, const char *user, const char *text,
		   size_t text_len)
{
	Digest *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->fingerprint = fingerprint;
	d->db = strdup(db ? db : "");
	d->user = strdup(user ? user : "");
	d->text = dup_n(text ? text : "", text ? text_len : 0);
	if (!d->db || !d->user || !d->text) {
		digest_free(d);
		return NULL;
	}
	d->link.hash = digest_hash(fingerprint, d->db, d->user);
	digest_agg_init(&d->total);
	return d;
}

void digest_free(Digest *d)
{
	if (!d)
		return;
	free(d->db);
	free(d->user);
	free(d->text);
	free(d->shape);
	digest_agg_free(&d->total);
	for (uint32_t i = 0; i < d->n_hours; i++)
		digest_agg_free(&d->hours[i].agg);
	free(d->hours);
	for (uint32_t i = 0; i < d->n_samples; i++) {
		free(d->samples[i].text);
		free(d->samples[i].params);
	}
	free(d);
}

bool digest_set_shape(Digest *d, const QueryShape *shape)
{
	free(d->shape);
	d->shape = NULL;
	if (!shape)
		return true;
	d->shape = malloc(shape->size);
	if (!d->shape)
		return false;
	memcpy(d->shape, shape, shape->size);
	return true;
}

void stats_queries_free(StatsQueries *q)
{
	for (size_t i = 0; i < q->n; i++) {
		free(q->rows[i].sample_query);
		free(q->rows[i].sample_params);
		free(q->rows[i].query);
		free(q->rows[i].database);
		free(q->rows[i].user);
		free(q->rows[i].error_classes);
	}
	free(q->rows);
	q->rows = NULL;
	q->n = 0;
}

Digest *digest_find(const DigestStore *s, uint64_t fingerprint, const char *db, const char *user)
{
	uint64_t h = digest_hash(fingerprint, db, user);
	for (HashNode *n = hashtab_chain(&s->digests, h); n; n = n->next) {
		Digest *d = list_entry(n, Digest, link);
		if (n->hash == h && d->fingerprint == fingerprint && strcmp(d->db, db) == 0 &&
		    strcmp(d->user, user) == 0)
			return d;
	}
	return NULL;
}

Digest *digest_lookup(DigestStore *s, uint64_t fingerprint, const char *db, const char *user)
{
	Digest **slot = &s->recent[fingerprint & (DIGEST_RECENT - 1)];
	Digest *d = *slot;
	if (d && d->fingerprint == fingerprint && strcmp(d->db, db) == 0 &&
	    strcmp(d->user, user) == 0)
		return d;
	d = digest_find(s, fingerprint, db, user);
	if (d)
		*slot = d;
	return d;
}

bool digest_store_insert(DigestStore *s, Digest *d)
{
	if (d->is_other) {
		if (s->other)
			return false;
		s->other = d;
		return true;
	}
	if (digest_find(s, d->fingerprint, d->db, d->user))
		return false;
	hashtab_add(&s->digests, &d->link, d->link.hash);
	list_prepend(&s->lru, &d->lru);
	return true;
}

bool digest_store_sort_lru(DigestStore *s)
{
	size_t n = s->digests.count;
	if (n < 2)
		return true;
	Digest **v = malloc(n * sizeof(*v));
	if (!v)
		return false;
	size_t i = 0;
	for (Digest *d = digest_lru_first(s); d && i < n; d = digest_lru_next(s, d))
		v[i++] = d;
	qsort(v, i, sizeof(*v), lru_cmp);
	list_init(&s->lru);
	for (size_t k = 0; k < i; k++)
		list_prepend(&s->lru, &v[k]->lru); /* the last prepended, the newest, leads */
	free(v);
	return true;
}

/* Least recently seen first. */
static int lru_cmp(const void *a, const void *b)
{
	const Digest *x = *(Digest *const *)a, *y = *(Digest *const *)b;
	if (x->total.last_seen_us != y->total.last_seen_us)
		return x->total.last_seen_us < y->total.last_seen_us ? -1 : 1;
	if (x->fingerprint != y->fingerprint)
		return x->fingerprint < y->fingerprint ? -1 : 1;
	int c = strcmp(x->db, y->db);
	return c ? c : strcmp(x->user, y->user);
}

Digest *digest_record(DigestStore *s, const DigestEvent *e)
{
	return digest_record_found(
		s, digest_find(s, e->fingerprint, e->db ? e->db : "", e->user ? e->user : ""), e);
}

Digest *digest_record_found(DigestStore *s, Digest *d, const DigestEvent *e)
{
	const char *db = e->db ? e->db : "";
	const char *user = e->user ? e->user : "";
	int64_t hour = hour_of(e->end_wall_us);
	if (hour > s->newest_hour) {
		bool advanced = s->newest_hour != INT64_MIN;
		s->newest_hour = hour;
		if (advanced)
			store_prune(s);
	}
	if (!d) {
		if (s->max_fingerprints && s->digests.count >= s->max_fingerprints &&
		    !store_fold_lru(s))
			return NULL;
		d = digest_new(e->fingerprint, db, user, e->text, e->text_len);
		if (!d)
			return NULL;
		d->kind = e->kind;
		if (e->shape && !digest_set_shape(d, e->shape)) {
			digest_free(d);
			return NULL;
		}
		if (!digest_store_insert(s, d)) {
			digest_free(d);
			return NULL;
		}
	} else {
		list_move_first(&s->lru, &d->lru);
	}
	if (s->retention_hours && hour <= s->newest_hour - s->retention_hours)
		hour = INT64_MIN; /* older than anything kept: all-time totals only */
	unsigned bucket = hist_index(e->duration_ns);
	bool failed = e->sqlstate && e->sqlstate[0] && strcmp(e->sqlstate, "00000") != 0;
	if (hour != INT64_MIN) {
		DigestHour *slot = digest_hour_slot(d, hour);
		if (!slot || !agg_add(&slot->agg, e, bucket, failed))
			return NULL;
	}
	if (!agg_add(&d->total, e, bucket, failed))
		return NULL;
	if (e->orig_text || e->params)
		sample_offer(s, d, e);
	return d;
}

bool digest_record_table_write(DigestStore *s, const char *table, size_t len, StmtKind kind,
			       uint64_t rows, int64_t end_wall_us)
{
	if (kind != SK_INSERT && kind != SK_UPDATE && kind != SK_DELETE)
		return true;
	TableStat *t = digest_store_table(s, table, len);
	if (!t)
		return false;
	int64_t hour = hour_of(end_wall_us);
	TableHour *slots[2] = {&t->total, NULL};
	if (!s->retention_hours || s->newest_hour == INT64_MIN ||
	    hour > s->newest_hour - s->retention_hours) {
		slots[1] = digest_table_hour_slot(t, hour);
		if (!slots[1])
			return false;
	}
	for (int i = 0; i < 2; i++) {
		if (!slots[i])
			continue;
		slots[i]->inserts += kind == SK_INSERT;
		slots[i]->updates += kind == SK_UPDATE;
		slots[i]->deletes += kind == SK_DELETE;
		slots[i]->rows += rows;
	}
	return true;
}

TableStat *digest_store_table(DigestStore *s, const char *name, size_t len)
{
	uint64_t h = XXH3_64bits(name, len);
	for (HashNode *n = hashtab_chain(&s->tables, h); n; n = n->next) {
		TableStat *t = list_entry(n, TableStat, link);
		if (n->hash == h && strlen(t->name) == len && memcmp(t->name, name, len) == 0)
			return t;
	}
	TableStat *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->name = dup_n(name, len);
	if (!t->name) {
		free(t);
		return NULL;
	}
	hashtab_add(&s->tables, &t->link, h);
	return t;
}

DigestHour *digest_hour_slot(Digest *d, int64_t hour)
{
	uint32_t pos = d->n_hours;
	if (pos && d->hours[pos - 1].hour == hour)
		return &d->hours[pos - 1];
	if (pos && d->hours[pos - 1].hour > hour) {
		uint32_t lo = 0, hi = d->n_hours;
		while (lo < hi) {
			uint32_t mid = (lo + hi) / 2;
			if (d->hours[mid].hour < hour)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < d->n_hours && d->hours[lo].hour == hour)
			return &d->hours[lo];
		pos = lo;
	}
	if (d->n_hours == d->cap_hours) {
		uint32_t cap = d->cap_hours ? d->cap_hours * 2 : 4;
		DigestHour *hours = realloc(d->hours, cap * sizeof(*hours));
		if (!hours)
			return NULL;
		d->hours = hours;
		d->cap_hours = cap;
	}
	memmove(d->hours + pos + 1, d->hours + pos, (d->n_hours - pos) * sizeof(*d->hours));
	d->hours[pos].hour = hour;
	digest_agg_init(&d->hours[pos].agg);
	d->n_hours++;
	return &d->hours[pos];
}

TableHour *digest_table_hour_slot(TableStat *t, int64_t hour)
{
	uint32_t pos = t->n_hours;
	if (pos && t->hours[pos - 1].hour == hour)
		return &t->hours[pos - 1];
	if (pos && t->hours[pos - 1].hour > hour) {
		pos = 0;
		while (pos < t->n_hours && t->hours[pos].hour < hour)
			pos++;
		if (pos < t->n_hours && t->hours[pos].hour == hour)
			return &t->hours[pos];
	}
	if (t->n_hours == t->cap_hours) {
		uint32_t cap = t->cap_hours ? t->cap_hours * 2 : 4;
		TableHour *hours = realloc(t->hours, cap * sizeof(*hours));
		if (!hours)
			return NULL;
		t->hours = hours;
		t->cap_hours = cap;
	}
	memmove(t->hours + pos + 1, t->hours + pos, (t->n_hours - pos) * sizeof(*t->hours));
	memset(&t->hours[pos], 0, sizeof(t->hours[pos]));
	t->hours[pos].hour = hour;
	t->n_hours++;
	return &t->hours[pos];
}

bool digest_agg_merge(DigestAgg *dst, const DigestAgg *src)
{
	if (src->calls == 0)
		return true;
	if (dst->calls == 0 || src->min_ns < dst->min_ns)
		dst->min_ns = src->min_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
	if (dst->calls == 0 || src->first_seen_us < dst->first_seen_us)
		dst->first_seen_us = src->first_seen_us;
	if (src->last_seen_us > dst->last_seen_us)
		dst->last_seen_us = src->last_seen_us;
	dst->calls += src->calls;
	dst->errors += src->errors;
	dst->timeouts += src->timeouts;
	dst->cancelled += src->cancelled;
	dst->rows += src->rows;
	dst->total_ns += src->total_ns;
	for (uint32_t i = 0; i < src->n_err; i++) {
		uint32_t j = 0;
		while (j < dst->n_err && memcmp(dst->err[j].cls, src->err[i].cls, 2) < 0)
			j++;
		if (j < dst->n_err && memcmp(dst->err[j].cls, src->err[i].cls, 2) == 0) {
			dst->err[j].n += src->err[i].n;
			continue;
		}
		ErrClassCount *err = realloc(dst->err, (dst->n_err + 1) * sizeof(*err));
		if (!err)
			return false;
		dst->err = err;
		memmove(err + j + 1, err + j, (dst->n_err - j) * sizeof(*err));
		err[j] = src->err[i];
		dst->n_err++;
	}
	return hist_merge(&dst->hist, &src->hist);
}

bool digest_agg_record(DigestAgg *a, const DigestEvent *e)
{
	bool failed = e->sqlstate && e->sqlstate[0] && strcmp(e->sqlstate, "00000") != 0;
	return agg_add(a, e, hist_index(e->duration_ns), failed);
}

bool digest_window(const Digest *d, int64_t since_us, DigestAgg *out)
{
	digest_agg_init(out);
	if (since_us <= 0)
		return digest_agg_merge(out, &d->total);
	int64_t since_hour = hour_of(since_us);
	for (uint32_t i = 0; i < d->n_hours; i++)
		if (d->hours[i].hour >= since_hour && !digest_agg_merge(out, &d->hours[i].agg))
			return false;
	return true;
}

size_t digest_sample_views(const Digest *d, StatsParamSample *out)
{
	for (uint32_t i = 0; i < d->n_samples; i++)
		out[i] = (StatsParamSample){.text = d->samples[i].text,
					    .params = d->samples[i].params,
					    .params_len = d->samples[i].params_len,
					    .n_params = d->samples[i].n_params};
	return d->n_samples;
}

/* How much of an execution a sample can run: see stats_sample_runnable. */
static int sample_rank(const StatsParamSample *s)
{
	if (s->text)
		return !s->params || s->n_params ? 3 : 2;
	return s->params ? 1 : 0;
}

const StatsParamSample *stats_sample_runnable(const StatsParamSample *s, size_t n)
{
	const StatsParamSample *best = NULL;
	for (size_t i = 0; i < n; i++)
		if (sample_rank(&s[i]) > (best ? sample_rank(best) : 0))
			best = &s[i];
	return best;
}

/* The row's sample, as flags allow (digest_store_rows); false when out of memory. */
static bool row_set_sample(StatsQueryRow *r, const Digest *d, unsigned flags)
{
	StatsParamSample views[DIGEST_SAMPLES], shown[DIGEST_SAMPLES];
	size_t n = digest_sample_views(d, views), n_shown = 0;
	for (size_t i = 0; i < n; i++)
		/* a text with parameters is a prepared statement's: the application's SQL */
		if ((flags & DIGEST_ROWS_VALUES) || (views[i].text && views[i].params))
			shown[n_shown++] = views[i];
	const StatsParamSample *best = stats_sample_runnable(shown, n_shown);
	if (!best)
		return true;
	if (best->text && !(r->sample_query = strdup(best->text)))
		return false;
	if (best->params && (flags & DIGEST_ROWS_VALUES)) {
		r->sample_params = malloc(best->params_len ? best->params_len : 1);
		if (!r->sample_params)
			return false;
		memcpy(r->sample_params, best->params, best->params_len);
		r->sample_params_len = best->params_len;
		r->sample_n_params = best->n_params;
	}
	return true;
}

int digest_store_rows(const DigestStore *s, int64_t since_us, unsigned flags, StatsQueries *out)
{
	out->rows = NULL;
	out->n = 0;
	size_t cap = s->digests.count + 1;
	StatsQueryRow *rows = calloc(cap, sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	size_t n = 0;
	int rc = 0;
	for (Digest *d = digest_lru_first(s);; d = digest_lru_next(s, d)) {
		if (!d) {
			if (!s->other || n == cap)
				break;
			d = s->other; /* last pass: the other row */
		}
		DigestAgg a;
		if (!digest_window(d, since_us, &a)) {
			digest_agg_free(&a);
			rc = -ENOMEM;
			break;
		}
		if (a.calls == 0) {
			digest_agg_free(&a);
			if (d == s->other)
				break;
			continue;
		}
		StatsQueryRow *r = &rows[n++];
		r->fingerprint_value = d->is_other ? 0 : d->fingerprint;
		snprintf(r->fingerprint, sizeof(r->fingerprint), "%016llx",
			 (unsigned long long)r->fingerprint_value);
		r->query = strdup(d->is_other ? "<other>" : d->text);
		r->database = strdup(d->is_other ? "*" : d->db);
		r->user = strdup(d->is_other ? "*" : d->user);
		r->kind = d->kind;
		r->is_other = d->is_other;
		r->folded = d->folded;
		r->calls = a.calls;
		r->errors = a.errors;
		r->timeouts = a.timeouts;
		r->cancelled = a.cancelled;
		r->rows = a.rows;
		r->total_ms = (double)a.total_ns / 1e6;
		r->mean_ms = r->total_ms / (double)a.calls;
		r->min_ms = (double)a.min_ns / 1e6;
		r->max_ms = (double)a.max_ns / 1e6;
		/* The bucket midpoint can fall outside what was really seen: clamp to [min, max]. */
		uint64_t pv[3] = {hist_percentile(&a.hist, 50), hist_percentile(&a.hist, 95),
				  hist_percentile(&a.hist, 99)};
		for (int i = 0; i < 3; i++) {
			if (pv[i] < a.min_ns)
				pv[i] = a.min_ns;
			if (pv[i] > a.max_ns)
				pv[i] = a.max_ns;
		}
		r->p50_ms = (double)pv[0] / 1e6;
		r->p95_ms = (double)pv[1] / 1e6;
		r->p99_ms = (double)pv[2] / 1e6;
		r->first_seen_us = a.first_seen_us;
		r->last_seen_us = a.last_seen_us;
		if (a.n_err) {
			r->error_classes = calloc(a.n_err, sizeof(*r->error_classes));
			if (r->error_classes) {
				for (uint32_t i = 0; i < a.n_err; i++) {
					memcpy(r->error_classes[i].cls, a.err[i].cls, 2);
					r->error_classes[i].count = a.err[i].n;
				}
				r->n_error_classes = a.n_err;
			}
		}
		bool oom = !r->query || !r->database || !r->user ||
			   (a.n_err && !r->error_classes) ||
			   (!d->is_other && !row_set_sample(r, d, flags));
		digest_agg_free(&a);
		if (oom) {
			rc = -ENOMEM;
			break;
		}
		if (d == s->other)
			break;
	}
	out->rows = rows;
	out->n = n;
	if (rc) {
		stats_queries_free(out);
		return rc;
	}
	qsort(rows, n, sizeof(*rows), row_cmp);
	return 0;
}

static int row_cmp(const void *a, const void *b)
{
	return digest_row_order(a, b);
}

int digest_row_order(const StatsQueryRow *x, const StatsQueryRow *y)
{
	if (x->total_ms != y->total_ms)
		return x->total_ms > y->total_ms ? -1 : 1;
	if (x->fingerprint_value != y->fingerprint_value)
		return x->fingerprint_value < y->fingerprint_value ? -1 : 1;
	int c = strcmp(x->database, y->database);
	return c ? c : strcmp(x->user, y->user);
}

/* One statement into an aggregate; bucket (its duration's histogram bucket) and failed are worked
 * out once for the hour's aggregate and the total. */
static bool agg_add(DigestAgg *a, const DigestEvent *e, unsigned bucket, bool failed)
{
	if (!hist_add_bucket(&a->hist, bucket, 1))
		return false;
	if (failed) {
		uint32_t j = 0;
		while (j < a->n_err && memcmp(a->err[j].cls, e->sqlstate, 2) < 0)
			j++;
		if (j == a->n_err || memcmp(a->err[j].cls, e->sqlstate, 2) != 0) {
			ErrClassCount *err = realloc(a->err, (a->n_err + 1) * sizeof(*err));
			if (!err)
				return false;
			a->err = err;
			memmove(err + j + 1, err + j, (a->n_err - j) * sizeof(*err));
			memcpy(err[j].cls, e->sqlstate, 2);
			err[j].n = 0;
			a->n_err++;
		}
		a->err[j].n++;
		a->errors++;
	}
	if (a->calls == 0 || e->duration_ns < a->min_ns)
		a->min_ns = e->duration_ns;
	if (e->duration_ns > a->max_ns)
		a->max_ns = e->duration_ns;
	if (a->calls == 0 || e->end_wall_us < a->first_seen_us)
		a->first_seen_us = e->end_wall_us;
	if (e->end_wall_us > a->last_seen_us)
		a->last_seen_us = e->end_wall_us;
	a->calls++;
	a->timeouts += e->timed_out;
	a->cancelled += e->cancelled;
	a->rows += e->rows;
	a->total_ns += e->duration_ns;
	return true;
}

/* How many of d's samples are a prepared statement's text (the only ones SHOW QUERIES shows
 * without log_parameters: the application's SQL, no values). */
static uint32_t prepared_samples(const Digest *d)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < d->n_samples; i++)
		n += d->samples[i].text && d->samples[i].params;
	return n;
}

/*
 * Reservoir sampling: every execution has the same chance to be among the kept ones. Besides,
 * one prepared statement's text is kept once seen: an Execute whose parameters were not
 * sampled offers its text only while there is none, and the reservoir never evicts the last
 * one (the executions of a statement sent both ways would otherwise leave only simple-protocol
 * texts, which carry values).
 */
static void sample_offer(DigestStore *s, Digest *d, const DigestEvent *e)
{
	bool prepared = e->orig_text && e->params;
	uint32_t slot;
	if (prepared && !e->n_params) {
		if (prepared_samples(d))
			return;
		slot = d->n_samples < DIGEST_SAMPLES ? d->n_samples : 0;
	} else {
		d->sample_seen++;
		if (d->n_samples < DIGEST_SAMPLES) {
			slot = d->n_samples;
		} else {
			s->rng ^= s->rng << 13;
			s->rng ^= s->rng >> 7;
			s->rng ^= s->rng << 17;
			uint64_t r = s->rng % d->sample_seen;
			if (r >= DIGEST_SAMPLES)
				return;
			slot = (uint32_t)r;
		}
		const DigestSample *old = slot < d->n_samples ? &d->samples[slot] : NULL;
		if (!prepared && old && old->text && old->params && prepared_samples(d) == 1)
			return;
	}
	DigestSample n = {0};
	if (e->orig_text)
		n.text = dup_n(e->orig_text, e->orig_len);
	if (e->params) {
		n.params = malloc(e->params_len ? e->params_len : 1);
		if (n.params)
			memcpy(n.params, e->params, e->params_len);
		n.params_len = e->params_len;
		n.n_params = e->n_params;
	}
	if ((e->orig_text && !n.text) || (e->params && !n.params)) {
		free(n.text);
		free(n.params);
		return;
	}
	if (slot < d->n_samples) {
		free(d->samples[slot].text);
		free(d->samples[slot].params);
	} else {
		d->n_samples++;
	}
	d->samples[slot] = n;
}

static bool store_fold_lru(DigestStore *s)
{
	Digest *victim = digest_lru_last(s);
	if (!victim)
		return false;
	if (!s->other) {
		s->other = digest_new(0, "*", "*", "<other>", 7);
		if (!s->other)
			return false;
		s->other->is_other = true;
		s->other->kind = SK_UNPARSED;
	}
	Digest *o = s->other;
	if (!digest_agg_merge(&o->total, &victim->total))
		return false;
	for (uint32_t i = 0; i < victim->n_hours; i++) {
		DigestHour *slot = digest_hour_slot(o, victim->hours[i].hour);
		if (!slot || !digest_agg_merge(&slot->agg, &victim->hours[i].agg))
			return false;
	}
	o->folded += 1 + victim->folded;
	s->folded_total++;
	store_unlink(s, victim);
	digest_free(victim);
	return true;
}

static void prune_digest_hours(Digest *d, int64_t keep_from)
{
	uint32_t drop = 0;
	while (drop < d->n_hours && d->hours[drop].hour < keep_from)
		digest_agg_free(&d->hours[drop++].agg);
	if (drop) {
		memmove(d->hours, d->hours + drop, (d->n_hours - drop) * sizeof(*d->hours));
		d->n_hours -= drop;
	}
}

static void prune_table_hours(TableStat *t, int64_t keep_from)
{
	uint32_t drop = 0;
	while (drop < t->n_hours && t->hours[drop].hour < keep_from)
		drop++;
	if (drop) {
		memmove(t->hours, t->hours + drop, (t->n_hours - drop) * sizeof(*t->hours));
		t->n_hours -= drop;
	}
}

/* Drops the hours that fell out of stats_retention (newest_hour moved on). */
static void store_prune(DigestStore *s)
{
	if (!s->retention_hours || s->newest_hour == INT64_MIN)
		return;
	int64_t keep_from = s->newest_hour - s->retention_hours + 1;
	HashNode *n, *next;
	size_t i;
	hashtab_for_each_safe(n, next, i, &s->digests)
	{
		prune_digest_hours(list_entry(n, Digest, link), keep_from);
	}
	if (s->other)
		prune_digest_hours(s->other, keep_from);
	hashtab_for_each_safe(n, next, i, &s->tables)
	{
		prune_table_hours(list_entry(n, TableStat, link), keep_from);
	}
}

static void store_unlink(DigestStore *s, Digest *d)
{
	memset(s->recent, 0, sizeof(s->recent)); /* d may be one of them */
	hashtab_remove(&s->digests, &d->link);
	list_remove(&s->lru, &d->lru);
}

static uint64_t digest_hash(uint64_t fingerprint, const char *db, const char *user)
{
	uint64_t h = XXH3_64bits_withSeed(db, strlen(db), fingerprint);
	return XXH3_64bits_withSeed(user, strlen(user), h);
}

static char *dup_n(const char *p, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}
