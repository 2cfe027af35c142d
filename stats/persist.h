/*
 * persist: the stats_file format and its atomic writing. The file is a 32-byte header (magic
 * "PGSIFTST", format version, flags, payload length, XXH3-64 of the payload) followed by the
 * payload, all integers little-endian. A file whose length, magic, version or checksum does not
 * match is refused as a whole (no partial load); stats.c then sets it aside. The payload holds
 * every digest (all-time aggregate, hourly aggregates with their histograms, normalized text,
 * kind; sampled parameters only when log_parameters is on) and the per-table writes. Shapes are
 * not stored: they are derived again by parsing the normalized text.
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
