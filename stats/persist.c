/*
 * persist: a small length-checked binary writer and reader for the stats file. The reader
 * treats the file as untrusted input: every count is checked against the bytes left, every
 * enum and histogram index against its range, and any failure rejects the whole file.
 */
#include "stats/persist.h"

#include "parser/shape.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define NULL_LEN 0xffffffffu

typedef struct Wbuf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
} Wbuf;

typedef struct Rbuf {
	const uint8_t *p;
	size_t len, off;
	bool bad;
	const char *why;
	uint32_t flags;
} Rbuf;

static void w_bytes(Wbuf *w, const void *p, size_t n);
static void w_u8(Wbuf *w, uint8_t v);
static void w_u16(Wbuf *w, uint16_t v);
static void w_u32(Wbuf *w, uint32_t v);
static void w_u64(Wbuf *w, uint64_t v);
static void w_var(Wbuf *w, uint64_t v);
static void w_str(Wbuf *w, const char *s, size_t n);
static void w_agg(Wbuf *w, const DigestAgg *a);
static void w_digest(Wbuf *w, const Digest *d, unsigned flags);
static void w_table_hour(Wbuf *w, const TableHour *t);
static uint64_t get_le(const uint8_t *p, int n);
static uint8_t r_u8(Rbuf *r);
static uint16_t r_u16(Rbuf *r);
static uint32_t r_u32(Rbuf *r);
static uint64_t r_u64(Rbuf *r);
static uint64_t r_var(Rbuf *r);
static const uint8_t *r_bytes(Rbuf *r, size_t n);
static char *r_str(Rbuf *r, size_t *len_out, bool allow_null);
static uint32_t r_count(Rbuf *r, size_t min_item);
static bool r_agg(Rbuf *r, DigestAgg *a);
static bool r_digest(Rbuf *r, DigestStore *s);
static bool r_table(Rbuf *r, DigestStore *s);
static void r_fail(Rbuf *r, const char *why);

int persist_serialize(const DigestStore *s, unsigned flags, int64_t now_us, uint8_t **out,
		      size_t *len)
{
	Wbuf w = {0};
	uint8_t header[PERSIST_HEADER] = {0};
	w_bytes(&w, header, sizeof(header));
	w_u64(&w, (uint64_t)now_us);
	w_u64(&w, (uint64_t)s->newest_hour);
	w_u64(&w, s->folded_total);
	w_u32(&w, (uint32_t)(s->digests.count + (s->other ? 1 : 0)));
	/* Least recently seen first: the reader pushes each to the front of its LRU list, so the
	 * order (and so what max_fingerprints folds next) survives a restart. */
	for (const Digest *d = digest_lru_last(s); d; d = digest_lru_prev(s, d))
		w_digest(&w, d, flags);
	if (s->other)
		w_digest(&w, s->other, flags);
	w_u32(&w, (uint32_t)s->tables.count);
	HashNode *n, *next;
	size_t b;
	hashtab_for_each_safe(n, next, b, &s->tables)
	{
		const TableStat *t = list_entry(n, TableStat, link);
		w_str(&w, t->name, strlen(t->name));
		w_table_hour(&w, &t->total);
		w_u32(&w, t->n_hours);
		for (uint32_t i = 0; i < t->n_hours; i++)
			w_table_hour(&w, &t->hours[i]);
	}
	if (w.oom) {
		free(w.p);
		return -ENOMEM;
	}
	uint64_t payload = w.len - PERSIST_HEADER;
	memcpy(w.p, PERSIST_MAGIC, 8);
	for (int i = 0; i < 4; i++)
		w.p[8 + i] = (uint8_t)(PERSIST_VERSION >> (8 * i));
	for (int i = 0; i < 4; i++)
		w.p[12 + i] = (uint8_t)(flags >> (8 * i));
	uint64_t sum = XXH3_64bits(w.p + PERSIST_HEADER, payload);
	for (int i = 0; i < 8; i++) {
		w.p[16 + i] = (uint8_t)(payload >> (8 * i));
		w.p[24 + i] = (uint8_t)(sum >> (8 * i));
	}
	*out = w.p;
	*len = w.len;
	return 0;
}

int persist_deserialize(const uint8_t *buf, size_t len, DigestStore *s, bool allow_shapes,
			char *err, size_t errlen)
{
	const char *why = NULL;
	if (len < PERSIST_HEADER || memcmp(buf, PERSIST_MAGIC, 8) != 0) {
		why = len < PERSIST_HEADER ? "truncated header" : "not a pgsift stats file";
		goto bad;
	}
	if (get_le(buf + 8, 4) != PERSIST_VERSION) {
		snprintf(err, errlen, "format version %llu, this pgsift reads version %d",
			 (unsigned long long)get_le(buf + 8, 4), PERSIST_VERSION);
		return -EINVAL;
	}
	uint64_t payload = get_le(buf + 16, 8);
	if (payload != len - PERSIST_HEADER) {
		snprintf(err, errlen, "truncated: %zu bytes of payload, header says %llu",
			 len - PERSIST_HEADER, (unsigned long long)payload);
		return -EINVAL;
	}
	if (XXH3_64bits(buf + PERSIST_HEADER, payload) != get_le(buf + 24, 8)) {
		why = "checksum mismatch";
		goto bad;
	}
	uint32_t flags = (uint32_t)get_le(buf + 12, 4);
	if ((flags & ~(uint32_t)(PERSIST_SAMPLES | PERSIST_SHAPES)) ||
	    ((flags & PERSIST_SHAPES) && !allow_shapes)) {
		why = "unknown flags";
		goto bad;
	}
	Rbuf r = {.p = buf, .len = len, .off = PERSIST_HEADER, .flags = flags};
	s->saved_at_us = (int64_t)r_u64(&r);
	s->newest_hour = (int64_t)r_u64(&r);
	s->folded_total = r_u64(&r);
	uint32_t n = r_count(&r, 40);
	for (uint32_t i = 0; i < n && !r.bad; i++)
		if (!r_digest(&r, s))
			r_fail(&r, "bad digest");
	uint32_t nt = r_count(&r, 13);
	for (uint32_t i = 0; i < nt && !r.bad; i++)
		if (!r_table(&r, s))
			r_fail(&r, "bad table entry");
	if (!r.bad && r.off != r.len)
		r_fail(&r, "trailing bytes");
	if (r.bad) {
		why = r.why;
		digest_store_clear(s);
		goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen, "%s", why);
	return -EINVAL;
}

int persist_write_file(const char *path, const uint8_t *buf, size_t len)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int rc = 0;
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, buf + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto fail;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0) {
		rc = -errno;
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = -errno;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = -errno;
		goto fail;
	}
	/* The rename is durable only once the directory is synced. */
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int persist_load_file(const char *path, DigestStore *into, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int rc = -errno;
		snprintf(err, errlen, "%s", strerror(errno));
		return rc;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int rc = -errno;
		snprintf(err, errlen, "%s", strerror(errno));
		close(fd);
		return rc;
	}
	size_t len = (size_t)st.st_size;
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t n = read(fd, buf + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int rc = n < 0 ? -errno : -EINVAL;
			snprintf(err, errlen, "%s",
				 n < 0 ? strerror(errno) : "file shrank while read");
			free(buf);
			close(fd);
			return rc;
		}
		off += (size_t)n;
	}
	close(fd);
	int rc = persist_deserialize(buf, len, into, false, err, errlen);
	free(buf);
	return rc;
}

int persist_set_aside(const char *path, char *newpath, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	char stamp[32];
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	for (int i = 0; i < 100; i++) {
		if (i == 0)
			snprintf(newpath, len, "%s.corrupt-%s", path, stamp);
		else
			snprintf(newpath, len, "%s.corrupt-%s.%d", path, stamp, i);
		if (access(newpath, F_OK) == 0)
			continue;
		if (rename(path, newpath) < 0)
			return -errno;
		return 0;
	}
	return -EEXIST;
}

/* ---- writer ---- */

static void w_bytes(Wbuf *w, const void *p, size_t n)
{
	if (w->oom)
		return;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;
		while (cap < w->len + n)
			cap *= 2;
		uint8_t *np = realloc(w->p, cap);
		if (!np) {
			w->oom = true;
			return;
		}
		w->p = np;
		w->cap = cap;
	}
	memcpy(w->p + w->len, p, n);
	w->len += n;
}

static void w_le(Wbuf *w, uint64_t v, int n)
{
	uint8_t b[8];
	for (int i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	w_bytes(w, b, (size_t)n);
}

static void w_u8(Wbuf *w, uint8_t v)
{
	w_bytes(w, &v, 1);
}

static void w_u16(Wbuf *w, uint16_t v)
{
	w_le(w, v, 2);
}

static void w_u32(Wbuf *w, uint32_t v)
{
	w_le(w, v, 4);
}

static void w_u64(Wbuf *w, uint64_t v)
{
	w_le(w, v, 8);
}

/* LEB128: 7 bits a byte, low bits first, high bit set on every byte but the last. */
static void w_var(Wbuf *w, uint64_t v)
{
	uint8_t b[10];
	int n = 0;
	do {
		b[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			b[n] |= 0x80;
		n++;
	} while (v);
	w_bytes(w, b, (size_t)n);
}

static void w_str(Wbuf *w, const char *s, size_t n)
{
	if (!s) {
		w_u32(w, NULL_LEN);
		return;
	}
	w_u32(w, (uint32_t)n);
	w_bytes(w, s, n);
}

static void w_agg(Wbuf *w, const DigestAgg *a)
{
	w_var(w, a->calls);
	w_var(w, a->errors);
	w_var(w, a->timeouts);
	w_var(w, a->cancelled);
	w_var(w, a->rows);
	w_var(w, a->total_ns);
	w_var(w, a->min_ns);
	w_var(w, a->max_ns);
	w_var(w, (uint64_t)a->first_seen_us);
	w_var(w, (uint64_t)a->last_seen_us);
	w_u32(w, a->n_err);
	for (uint32_t i = 0; i < a->n_err; i++) {
		w_bytes(w, a->err[i].cls, 2);
		w_var(w, a->err[i].n);
	}
	/* buckets as (index delta, count) varints: 2 to 4 bytes each instead of 10 */
	w_u32(w, a->hist.n);
	unsigned prev = 0;
	for (uint32_t i = 0; i < a->hist.n; i++) {
		w_var(w, a->hist.idx[i] - prev);
		prev = a->hist.idx[i];
		w_var(w, a->hist.cnt[i]);
	}
}

static void w_digest(Wbuf *w, const Digest *d, unsigned flags)
{
	w_u64(w, d->fingerprint);
	w_u8(w, d->is_other);
	w_u8(w, (uint8_t)d->kind);
	w_var(w, d->folded);
	w_str(w, d->db, strlen(d->db));
	w_str(w, d->user, strlen(d->user));
	w_str(w, d->text, strlen(d->text));
	w_agg(w, &d->total);
	w_u32(w, d->n_hours);
	for (uint32_t i = 0; i < d->n_hours; i++) {
		w_var(w, (uint64_t)d->hours[i].hour);
		w_agg(w, &d->hours[i].agg);
	}
	if (flags & PERSIST_SHAPES) {
		w_u32(w, d->shape ? d->shape->size : 0);
		if (d->shape)
			w_bytes(w, d->shape, d->shape->size);
	}
	uint32_t ns = (flags & PERSIST_SAMPLES) ? d->n_samples : 0;
	w_u32(w, ns);
	for (uint32_t i = 0; i < ns; i++) {
		const DigestSample *sm = &d->samples[i];
		w_str(w, sm->text, sm->text ? strlen(sm->text) : 0);
		w_str(w, sm->params, sm->params_len);
		w_u16(w, sm->n_params);
	}
}

static void w_table_hour(Wbuf *w, const TableHour *t)
{
	w_var(w, (uint64_t)t->hour);
	w_var(w, t->inserts);
	w_var(w, t->updates);
	w_var(w, t->deletes);
	w_var(w, t->rows);
}

/* ---- reader ---- */

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void r_fail(Rbuf *r, const char *why)
{
	if (!r->bad)
		r->why = why;
	r->bad = true;
}

static const uint8_t *r_bytes(Rbuf *r, size_t n)
{
	if (r->bad || n > r->len - r->off) {
		r_fail(r, "truncated payload");
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

static uint8_t r_u8(Rbuf *r)
{
	const uint8_t *p = r_bytes(r, 1);
	return p ? p[0] : 0;
}

static uint16_t r_u16(Rbuf *r)
{
	const uint8_t *p = r_bytes(r, 2);
	return p ? (uint16_t)get_le(p, 2) : 0;
}

static uint32_t r_u32(Rbuf *r)
{
	const uint8_t *p = r_bytes(r, 4);
	return p ? (uint32_t)get_le(p, 4) : 0;
}

static uint64_t r_u64(Rbuf *r)
{
	const uint8_t *p = r_bytes(r, 8);
	return p ? get_le(p, 8) : 0;
}

static uint64_t r_var(Rbuf *r)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		const uint8_t *p = r_bytes(r, 1);
		if (!p)
			return 0;
		if (shift == 63 && (*p & 0x7e)) {
			r_fail(r, "number out of range");
			return 0;
		}
		v |= (uint64_t)(*p & 0x7f) << shift;
		if (!(*p & 0x80))
			return v;
	}
	r_fail(r, "number out of range");
	return 0;
}

/* A count of items of at least min_item bytes each: more than the bytes left is corruption. */
static uint32_t r_count(Rbuf *r, size_t min_item)
{
	uint32_t n = r_u32(r);
	if (!r->bad && (uint64_t)n * min_item > r->len - r->off) {
		r_fail(r, "count larger than the file");
		return 0;
	}
	return n;
}

static char *r_str(Rbuf *r, size_t *len_out, bool allow_null)
{
	uint32_t n = r_u32(r);
	if (r->bad)
		return NULL;
	if (n == NULL_LEN) {
		if (!allow_null)
			r_fail(r, "missing string");
		if (len_out)
			*len_out = 0;
		return NULL;
	}
	const uint8_t *p = r_bytes(r, n);
	if (!p)
		return NULL;
	char *s = malloc((size_t)n + 1);
	if (!s) {
		r_fail(r, "out of memory");
		return NULL;
	}
	memcpy(s, p, n);
	s[n] = '\0';
	if (len_out)
		*len_out = n;
	return s;
}

static bool r_agg(Rbuf *r, DigestAgg *a)
{
	a->calls = r_var(r);
	a->errors = r_var(r);
	a->timeouts = r_var(r);
	a->cancelled = r_var(r);
	a->rows = r_var(r);
	a->total_ns = r_var(r);
	a->min_ns = r_var(r);
	a->max_ns = r_var(r);
	a->first_seen_us = (int64_t)r_var(r);
	a->last_seen_us = (int64_t)r_var(r);
	uint32_t ne = r_count(r, 3);
	if (ne) {
		a->err = calloc(ne, sizeof(*a->err));
		if (!a->err)
			return false;
	}
	for (uint32_t i = 0; i < ne && !r->bad; i++) {
		const uint8_t *c = r_bytes(r, 2);
		if (c)
			memcpy(a->err[i].cls, c, 2);
		a->err[i].n = r_var(r);
		a->n_err++;
	}
	uint32_t nh = r_count(r, 2);
	unsigned prev = 0;
	for (uint32_t i = 0; i < nh && !r->bad; i++) {
		uint64_t delta = r_var(r);
		uint64_t cnt = r_var(r);
		uint64_t idx = prev + delta;
		if (delta >= HIST_MAX_INDEX || idx >= HIST_MAX_INDEX || (i && delta == 0)) {
			r_fail(r, "bad histogram bucket");
			return false;
		}
		prev = (unsigned)idx;
		if (!hist_add_bucket(&a->hist, (unsigned)idx, cnt))
			return false;
	}
	const char *why = r->bad ? NULL : digest_agg_check(a);
	if (why) {
		r_fail(r, why);
		return false;
	}
	return !r->bad;
}

static bool r_digest(Rbuf *r, DigestStore *s)
{
	uint64_t fp = r_u64(r);
	uint8_t is_other = r_u8(r);
	uint8_t kind = r_u8(r);
	uint64_t folded = r_var(r);
	char *db = r_str(r, NULL, false);
	char *user = r_str(r, NULL, false);
	size_t tlen = 0;
	char *text = r_str(r, &tlen, false);
	Digest *d = NULL;
	if (!r->bad && (kind >= SK__COUNT || is_other > 1))
		r_fail(r, "bad digest kind");
	if (!r->bad)
		d = digest_new(fp, db, user, text, tlen);
	free(db);
	free(user);
	free(text);
	if (!d)
		return false;
	d->is_other = is_other;
	d->kind = (StmtKind)kind;
	d->folded = folded;
	if (!r_agg(r, &d->total))
		goto fail;
	uint32_t nh = r_count(r, 13);
	for (uint32_t i = 0; i < nh; i++) {
		int64_t hour = (int64_t)r_var(r);
		if (r->bad || (d->n_hours && hour <= d->hours[d->n_hours - 1].hour))
			goto fail;
		DigestHour *slot = digest_hour_slot(d, hour);
		if (!slot || !r_agg(r, &slot->agg))
			goto fail;
	}
	if (r->flags & PERSIST_SHAPES) {
		uint32_t size = r_u32(r);
		const uint8_t *blob = size ? r_bytes(r, size) : NULL;
		QueryShape hdr;
		if (blob) {
			if (size < sizeof(hdr))
				goto fail;
			memcpy(&hdr, blob, sizeof(hdr));
			if (hdr.size != size || hdr.strings > size)
				goto fail;
			d->shape = malloc(size);
			if (!d->shape)
				goto fail;
			memcpy(d->shape, blob, size);
		}
	}
	uint32_t ns = r_count(r, 10);
	if (ns > DIGEST_SAMPLES)
		goto fail;
	for (uint32_t i = 0; i < ns; i++) {
		DigestSample *sm = &d->samples[d->n_samples++];
		sm->text = r_str(r, NULL, true);
		size_t plen = 0;
		sm->params = r_str(r, &plen, true);
		sm->params_len = (uint32_t)plen;
		sm->n_params = r_u16(r);
		if (r->bad)
			goto fail;
	}
	if (r->bad || !digest_store_insert(s, d))
		goto fail;
	return true;
fail:
	digest_free(d);
	return false;
}

static bool r_table(Rbuf *r, DigestStore *s)
{
	size_t len;
	char *name = r_str(r, &len, false);
	if (!name)
		return false;
	TableStat *t = digest_store_table(s, name, len);
	free(name);
	if (!t)
		return false;
	TableHour tot;
	tot.hour = (int64_t)r_var(r);
	tot.inserts = r_var(r);
	tot.updates = r_var(r);
	tot.deletes = r_var(r);
	tot.rows = r_var(r);
	t->total = tot;
	uint32_t nh = r_count(r, 5);
	for (uint32_t i = 0; i < nh && !r->bad; i++) {
		TableHour h;
		h.hour = (int64_t)r_var(r);
		h.inserts = r_var(r);
		h.updates = r_var(r);
		h.deletes = r_var(r);
		h.rows = r_var(r);
		if (r->bad || (t->n_hours && h.hour <= t->hours[t->n_hours - 1].hour))
			return false;
		TableHour *slot = digest_table_hour_slot(t, h.hour);
		if (!slot)
			return false;
		*slot = h;
	}
	return !r->bad;
}
