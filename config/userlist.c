/*
 * userlist: reads auth_file in PgBouncer's userlist.txt format. Each line is
 * `"username" "secret"`, with `""` standing for one `"` inside either field; lines starting
 * with ';' or '#' and blank lines are ignored, as is anything after the secret (PgBouncer
 * ignores it too). The secret is kept exactly as written; what it means (plain text, md5 or a
 * SCRAM secret) is for the authentication code to act on, helped by userlist_secret_kind().
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"

static char *userlist_quoted(char **pp);
static bool userlist_add(UserEntry **users, size_t *n_users, char *name, char *secret);

bool userlist_load(const char *path, UserEntry **users, size_t *n_users, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "cannot open auth_file '%s': %s", path, strerror(errno));
		return false;
	}
	char *buf = NULL, *name = NULL, *secret = NULL;
	size_t cap = 0, len = 0;
	int lineno = 0, rc;
	bool ok = false;
	while ((rc = config_read_line(f, &buf, &cap, &len)) == 1) {
		lineno++;
		char *p = buf;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == ';' || *p == '#')
			continue;
		if (*p != '"') {
			snprintf(err, errlen, "%s:%d: expected \"username\" \"password\"", path,
				 lineno);
			goto out;
		}
		name = userlist_quoted(&p);
		if (!name) {
			snprintf(err, errlen, "%s:%d: unterminated quoted user name", path, lineno);
			goto out;
		}
		if (!*name) {
			snprintf(err, errlen, "%s:%d: empty user name", path, lineno);
			goto out;
		}
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '"') {
			snprintf(err, errlen, "%s:%d: user '%s' has no quoted password", path,
				 lineno, name);
			goto out;
		}
		secret = userlist_quoted(&p);
		if (!secret) {
			snprintf(err, errlen, "%s:%d: unterminated quoted password for user '%s'",
				 path, lineno, name);
			goto out;
		}
		if (!userlist_add(users, n_users, name, secret)) {
			snprintf(err, errlen, "%s:%d: out of memory", path, lineno);
			goto out;
		}
		name = secret = NULL;
	}
	if (rc == -1) {
		snprintf(err, errlen, "cannot read auth_file '%s': %s", path, strerror(errno));
		goto out;
	}
	if (rc == -2) {
		snprintf(err, errlen, "%s:%d: %s", path, lineno + 1,
			 len ? "line too long" : "line contains a NUL byte");
		goto out;
	}
	ok = true;
out:
	free(name);
	free(secret);
	free(buf);
	fclose(f);
	return ok;
}

SecretKind userlist_secret_kind(const char *secret)
{
	if (!secret)
		return SECRET_NONE;
	if (strncmp(secret, "SCRAM-SHA-256$", 14) == 0)
		return SECRET_SCRAM;
	if (strncmp(secret, "md5", 3) == 0 && strlen(secret) == 35) {
		for (int i = 3; i < 35; i++)
			if (!isxdigit((unsigned char)secret[i]))
				return SECRET_PLAIN;
		return SECRET_MD5;
	}
	return SECRET_PLAIN;
}

/*
 * *pp points at an opening quote. Returns the unescaped contents (caller frees) and leaves
 * *pp after the closing quote, or NULL when the quote is never closed (or no memory).
 */
static char *userlist_quoted(char **pp)
{
	char *p = *pp + 1;
	char *out = malloc(strlen(p) + 1);
	if (!out)
		return NULL;
	size_t n = 0;
	for (;;) {
		if (!*p) {
			free(out);
			return NULL;
		}
		if (*p == '"') {
			if (p[1] != '"')
				break;
			p++;
		}
		out[n++] = *p++;
	}
	out[n] = '\0';
	*pp = p + 1;
	return out;
}

/* Takes ownership of name and secret on success. */
static bool userlist_add(UserEntry **users, size_t *n_users, char *name, char *secret)
{
	for (size_t i = 0; i < *n_users; i++) {
		UserEntry *u = &(*users)[i];
		if (strcmp(u->name, name) == 0) {
			free(u->secret);
			free(name);
			u->secret = secret;
			u->kind = userlist_secret_kind(secret);
			return true;
		}
	}
	UserEntry *grown = realloc(*users, (*n_users + 1) * sizeof(**users));
	if (!grown)
		return false;
	*users = grown;
	grown[*n_users] = (UserEntry){.name = name,
				      .secret = secret,
				      .kind = userlist_secret_kind(secret),
				      .pool_mode = -1,
				      .max_user_connections = -1};
	(*n_users)++;
	return true;
}
