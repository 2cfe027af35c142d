/*
 * histogram: a sparse log-linear latency histogram, HdrHistogram's bucketing with 64 sub-buckets
 * per power of two. Values below 128 have a bucket each; above that a bucket [low, low + w) has
 * w / low <= 1/64 (1.56%), and a percentile is answered with the bucket's midpoint, so its
 * relative error is at most 0.78% (half a bucket) — well inside the 2% the statistics promise.
 * Only non-empty buckets are stored (sorted by index), because every digest keeps one histogram
 * per hour and most queries span a few octaves only. Two histograms merge by adding their
 * buckets, so the sum of hourly histograms is exactly the histogram of the window.
 *
 * Not thread-safe; the owner serializes access.
 */
#ifndef PGSIFT_STATS_HISTOGRAM_H
#define PGSIFT_STATS_HISTOGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS)
/* Highest bucket index + 1 (values up to UINT64_MAX). */
#define HIST_MAX_INDEX ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

typedef struct Histogram {
	uint16_t *idx; /* bucket indexes, ascending (owned) */
	uint64_t *cnt; /* count per bucket (owned) */
	uint32_t n;    /* non-empty buckets */
	uint32_t cap;
	uint64_t total; /* sum of cnt */
} Histogram;

/* The bucket index of a value, and the bounds of a bucket. */
unsigned hist_index(uint64_t v);
uint64_t hist_bucket_low(unsigned index);
uint64_t hist_bucket_width(unsigned index);

void hist_init(Histogram *h);
void hist_free(Histogram *h);
void hist_clear(Histogram *h);

/* Adds count samples of value v. Returns false only when memory runs out (nothing changed). */
bool hist_record(Histogram *h, uint64_t v, uint64_t count);
/* Adds every bucket of src into dst. False on allocation failure (dst partly merged). */
bool hist_merge(Histogram *dst, const Histogram *src);
/* Adds count samples into bucket index (used by the persistence reader; indexes validated). */
bool hist_add_bucket(Histogram *dst, unsigned index, uint64_t count);

/*
 * The value at percentile p (0 < p <= 100) by the nearest-rank definition: the smallest recorded
 * value such that at least p% of the samples are <= it, answered as the midpoint of its bucket.
 * 0 for an empty histogram.
 */
uint64_t hist_percentile(const Histogram *h, double p);

#endif
