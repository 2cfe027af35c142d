/*
 * histogram: sparse log-linear buckets (see histogram.h for the error bound). The bucket of v is
 * found with one count-leading-zeros: the exponent picks the octave and the next HIST_SUB_BITS
 * bits below the leading one pick the sub-bucket. Buckets live in two parallel sorted arrays;
 * recording is a binary search plus, for a value never seen before, one memmove.
 */
#include "stats/histogram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool hist_reserve(Histogram *h, uint32_t need);
static uint32_t hist_find(const Histogram *h, unsigned index, bool *found);

unsigned hist_index(uint64_t v)
{
	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	unsigned e = 63 - (unsigned)__builtin_clzll(v);
	return (e - HIST_SUB_BITS + 1) * HIST_SUB +
	       (unsigned)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

uint64_t hist_bucket_low(unsigned index)
{
	if (index < 2 * HIST_SUB)
		return index;
	unsigned e = index / HIST_SUB + HIST_SUB_BITS - 1;
	uint64_t sub = index % HIST_SUB;
	return (HIST_SUB + sub) << (e - HIST_SUB_BITS);
}

uint64_t hist_bucket_width(unsigned index)
{
	if (index < 2 * HIST_SUB)
		return 1;
	unsigned e = index / HIST_SUB + HIST_SUB_BITS - 1;
	return (uint64_t)1 << (e - HIST_SUB_BITS);
}

void hist_init(Histogram *h)
{
	memset(h, 0, sizeof(*h));
}

void hist_free(Histogram *h)
{
	free(h->idx);
	free(h->cnt);
	memset(h, 0, sizeof(*h));
}

void hist_clear(Histogram *h)
{
	h->n = 0;
	h->total = 0;
}

bool hist_record(Histogram *h, uint64_t v, uint64_t count)
{
	return hist_add_bucket(h, hist_index(v), count);
}

bool hist_add_bucket(Histogram *h, unsigned index, uint64_t count)
{
	bool found;
	uint32_t pos = hist_find(h, index, &found);
	if (!found) {
		if (!hist_reserve(h, h->n + 1))
			return false;
		memmove(h->idx + pos + 1, h->idx + pos, (h->n - pos) * sizeof(*h->idx));
		memmove(h->cnt + pos + 1, h->cnt + pos, (h->n - pos) * sizeof(*h->cnt));
		h->idx[pos] = (uint16_t)index;
		h->cnt[pos] = 0;
		h->n++;
	}
	h->cnt[pos] += count;
	h->total += count;
	return true;
}

bool hist_merge(Histogram *dst, const Histogram *src)
{
	if (src->n == 0)
		return true;
	if (dst->n == 0) {
		if (!hist_reserve(dst, src->n))
			return false;
		memcpy(dst->idx, src->idx, src->n * sizeof(*src->idx));
		memcpy(dst->cnt, src->cnt, src->n * sizeof(*src->cnt));
		dst->n = src->n;
		dst->total = src->total;
		return true;
	}
	/* Merge of two sorted runs into a new array: linear, whatever the overlap. */
	uint32_t cap = dst->n + src->n;
	uint16_t *idx = malloc(cap * sizeof(*idx));
	uint64_t *cnt = malloc(cap * sizeof(*cnt));
	if (!idx || !cnt) {
		free(idx);
		free(cnt);
		return false;
	}
	uint32_t i = 0, j = 0, k = 0;
	while (i < dst->n || j < src->n) {
		if (j >= src->n || (i < dst->n && dst->idx[i] < src->idx[j])) {
			idx[k] = dst->idx[i];
			cnt[k++] = dst->cnt[i++];
		} else if (i >= dst->n || src->idx[j] < dst->idx[i]) {
			idx[k] = src->idx[j];
			cnt[k++] = src->cnt[j++];
		} else {
			idx[k] = dst->idx[i];
			cnt[k++] = dst->cnt[i++] + src->cnt[j++];
		}
	}
	free(dst->idx);
	free(dst->cnt);
	dst->idx = idx;
	dst->cnt = cnt;
	dst->n = k;
	dst->cap = cap;
	dst->total += src->total;
	return true;
}

uint64_t hist_percentile(const Histogram *h, double p)
{
	if (h->total == 0)
		return 0;
	uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->total);
	if (rank < 1)
		rank = 1;
	if (rank > h->total)
		rank = h->total;
	uint64_t cum = 0;
	for (uint32_t i = 0; i < h->n; i++) {
		cum += h->cnt[i];
		if (cum >= rank)
			return hist_bucket_low(h->idx[i]) + hist_bucket_width(h->idx[i]) / 2;
	}
	return hist_bucket_low(h->idx[h->n - 1]);
}

static bool hist_reserve(Histogram *h, uint32_t need)
{
	if (need <= h->cap)
		return true;
	uint32_t cap = h->cap ? h->cap * 2 : 8;
	while (cap < need)
		cap *= 2;
	uint16_t *idx = realloc(h->idx, cap * sizeof(*idx));
	if (!idx)
		return false;
	h->idx = idx;
	uint64_t *cnt = realloc(h->cnt, cap * sizeof(*cnt));
	if (!cnt)
		return false;
	h->cnt = cnt;
	h->cap = cap;
	return true;
}

/* Position of index in h (found) or where it would be inserted. */
static uint32_t hist_find(const Histogram *h, unsigned index, bool *found)
{
	uint32_t lo = 0, hi = h->n;
	/* Plain binary search: n is small (tens to a few hundred non-empty buckets). */
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (h->idx[mid] < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < h->n && h->idx[lo] == index;
	return lo;
}
