/*
 * persist: the stats_file format and its atomic writing. A file whose length, magic, version,
 * flags or checksum does not match is refused as a whole (no partial load); stats.c then sets it
 * aside. Shapes are not stored in files: they are derived again by parsing the normalized text.
 *
 * Layout (version 1). u16/u32/u64 are little-endian fixed width, var is LEB128 (7 bits a byte),
 * str is u32 length + bytes (0xffffffff = NULL):
 *   header (32 bytes): "PGSIFTST", u32 version, u32 flags (PERSIST_*), u64 payload length,
 *                      u64 XXH3-64 of the payload
 *   payload: u64 saved_at_us, u64 newest_hour, u64 folded_total,
 *            u32 n_digests, digest[n] (least recently seen first, the other row last),
 *            u32 n_tables, table[n]
 *   digest:  u64 fingerprint, u8 is_other, u8 kind (StmtKind), var folded, str db, str user,
 *            str normalized text, agg all_time, u32 n_hours, { var hour, agg }[n] (ascending),
 *            [PERSIST_SHAPES: u32 size, QueryShape block], u32 n_samples,
 *            { str text, str params, u16 n_params }[n]  (n_samples = 0 without PERSIST_SAMPLES)
 *   agg:     var calls, errors, timeouts, cancelled, rows, total_ns, min_ns, max_ns,
 *            first_seen_us, last_seen_us, u32 n_err, { 2 bytes class, var count }[n],
 *            u32 n_buckets, { var index delta, var count }[n] (histogram.h buckets, ascending)
 *   table:   str name, tablehour total, u32 n_hours, tablehour[n] (ascending)
 *   tablehour: var hour, inserts, updates, deletes, rows
 * hour = wall-clock microseconds / 3,600,000,000.
 */
#ifndef PGSIFT_STATS_PERSIST_H
#define PGSIFT_STATS_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats/digest.h"

#define PERSIST_MAGIC "PGSIFTST"
#define PERSIST_VERSION 1
#define PERSIST_HEADER 32

/* Header flags: what the image holds besides the counts. */
#define PERSIST_SAMPLES 0x1 /* sampled parameters / texts (log_parameters) */
#define PERSIST_SHAPES \
	0x2 /* in-memory images only (stats_snapshot_store): QueryShape blocks,
			     * whose layout may change between versions, so files never have it */

/* The whole image of the store in *out (malloc'd, caller frees). 0 or -ENOMEM. */
int persist_serialize(const DigestStore *s, unsigned flags, int64_t now_us, uint8_t **out,
		      size_t *len);
/* Parses an image into an empty store; PERSIST_SHAPES is accepted only when allow_shapes.
 * 0, or -EINVAL with the reason in err. */
int persist_deserialize(const uint8_t *buf, size_t len, DigestStore *into, bool allow_shapes,
			char *err, size_t errlen);

/* Writes the image atomically: `<path>.tmp.<pid>` in the same directory, fsync, rename over
 * path, fsync of the directory. The temporary file never survives an error. 0 or -errno. */
int persist_write_file(const char *path, const uint8_t *buf, size_t len);
/* Reads and parses path into an empty store: 0, -ENOENT, -EINVAL (err says why) or -errno. */
int persist_load_file(const char *path, DigestStore *into, char *err, size_t errlen);
/* Renames a bad file to `<path>.corrupt-<YYYYmmddTHHMMSS>` (UTC); the new name in newpath. */
int persist_set_aside(const char *path, char *newpath, size_t len);

#endif
