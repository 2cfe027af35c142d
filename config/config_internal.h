/*
 * config_internal: what config.c, dbentry.c and userlist.c share. Not part of the API: nothing
 * outside config/ includes this file.
 */
#ifndef PGSIFT_CONFIG_INTERNAL_H
#define PGSIFT_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config/config.h"

/* A line longer than this is an error, so that `-c /dev/zero` cannot eat all memory. */
#define CONFIG_MAX_LINE (1024 * 1024)

/*
 * Reads one line into *buf (grown as needed, caller frees), without the newline or a trailing
 * '\r'. Returns 1 for a line, 0 at end of file, -1 on a read error (errno set) and -2 when the
 * line is longer than CONFIG_MAX_LINE or contains a NUL byte (*len tells which: 0 for NUL).
 */
int config_read_line(FILE *f, char **buf, size_t *cap, size_t *len);

/* Trims leading and trailing white space in place; returns the start. */
char *config_trim(char *s);

/*
 * Writes value into dst for an error message: cut to 60 characters and with non-printable
 * bytes shown as '?', so that a binary file cannot garble the terminal.
 */
void config_echo(char *dst, size_t dstlen, const char *value);

bool config_parse_pool_mode(const char *s, int *out) __attribute__((warn_unused_result));
bool config_parse_int(const char *s, long long min, long long max, long long *out)
	__attribute__((warn_unused_result));

/*
 * Parses a [databases] value (libpq key=value string or postgresql:// URL, plus PgBouncer's
 * keys) into *out, which it initialises. loc ("FILE:LINE") prefixes warnings. On failure
 * returns false with "reason" in why (the caller adds location and name) and leaves nothing
 * allocated in *out.
 */
bool dbentry_parse(const char *name, const char *connstr, const char *loc, DbEntry *out, char *why,
		   size_t whylen) __attribute__((warn_unused_result));
void dbentry_clear(DbEntry *db);

/* A [users] line: pool_mode and max_user_connections. Same failure convention. */
bool dbentry_parse_user(const char *value, const char *loc, const char *user, int *pool_mode,
			int *max_user_connections, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/*
 * Reads an auth_file in PgBouncer's userlist.txt format and appends its users to *users /
 * *n_users (a user written twice keeps the later secret). Returns false with "FILE:LINE: why"
 * in err.
 */
bool userlist_load(const char *path, UserEntry **users, size_t *n_users, char *err, size_t errlen)
	__attribute__((warn_unused_result));
SecretKind userlist_secret_kind(const char *secret);

#endif
