/*
 * pgspell: how PostgreSQL spells the values of the parameters it reports. A client that starts
 * with client_encoding=utf8 or DateStyle='iso, dmy' is greeted by PostgreSQL with "UTF8" and
 * "ISO, DMY"; pgsift greets clients from its pool's parameters without asking a server, so it
 * must spell them the same way (drivers compare: node-postgres and asyncpg check "UTF8").
 * Time zones are spelled as the time zone files are named (/usr/share/zoneinfo, where
 * Debian's PostgreSQL reads them).
 */
#ifndef PGSIFT_PGSPELL_H
#define PGSIFT_PGSPELL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Writes PostgreSQL's spelling of `value` for the parameter `name` into out (NUL-terminated)
 * and returns true, or returns false when pgsift does not know that parameter's spelling or
 * PostgreSQL would refuse the value (the caller then uses the value as it is). `current` is the
 * value the server has now (DateStyle keeps the half a client leaves out); when it is NULL, a
 * DateStyle that names only one half is left as it is.
 */
bool pgspell_value(const char *name, const char *value, const char *current, char *out,
		   size_t outlen) __attribute__((warn_unused_result));

#endif
