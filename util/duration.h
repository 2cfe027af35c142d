/* duration: the command lines' `--since 7d` (pgsift suggest, pgsift top): a whole number with a
 * unit, s (or none), m/min, h, d or w, into seconds. */
#ifndef PGSIFT_UTIL_DURATION_H
#define PGSIFT_UTIL_DURATION_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 7d, 24h, 30m, 90s, 2w; a bare number is seconds. false for anything else (negative too). */
static inline bool duration_parse_s(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0)
		return false;
	int64_t mult = 1;
	if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
		mult = 1;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mult = 60;
	else if (strcmp(end, "h") == 0)
		mult = 3600;
	else if (strcmp(end, "d") == 0)
		mult = 86400;
	else if (strcmp(end, "w") == 0)
		mult = 7 * 86400;
	else
		return false;
	if (v > INT64_MAX / mult)
		return false;
	*out = (int64_t)v * mult;
	return true;
}

/* `--since D` of command cmd: *since_us = now - D in wall-clock microseconds (0, everything,
 * when D reaches before 1970; 0 when since is NULL). false, with the error on stderr, when D is
 * not a duration. */
static inline bool duration_since_us(const char *cmd, const char *since, int64_t *since_us)
{
	*since_us = 0;
	if (!since)
		return true;
	int64_t s;
	if (!duration_parse_s(since, &s)) {
		fprintf(stderr,
			"pgsift %s: --since: expected a duration such as 7d, 24h, 30m (got '%s')\n",
			cmd, since);
		return false;
	}
	int64_t us = ((int64_t)time(NULL) - s) * 1000000;
	*since_us = us > 0 ? us : 0;
	return true;
}

#endif
