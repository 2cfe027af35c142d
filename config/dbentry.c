/*
 * dbentry: one [databases] value (and the --upstream URL) turned into a DbEntry, and one [users]
 * value into its overrides. A [databases] value mixes libpq's connection options with PgBouncer's
 * own keys (pool_size, pool_mode, connect_query, ...). libpq's PQconninfoParse rejects keys it
 * does not know, so PgBouncer's keys are taken out first, with libpq's quoting rules, and the
 * rest is handed to PQconninfoParse, which also understands postgresql:// URLs. For a URL,
 * PgBouncer's keys may be given as query parameters (?pool_size=5) or as key=value words after
 * the URL.
 *
 * The proxy speaks the protocol itself rather than through libpq, so of libpq's options only
 * host, hostaddr, port, dbname, user, password and sslmode mean something; any other is warned about
 * once and ignored (silently dropping, say, sslmode=require would be worse).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "config/config_internal.h"

/* A key=value word: key and the unescaped value are owned; raw points into the input. */
typedef struct ConnWord {
	char *key;
	char *value;
	const char *raw;
	size_t rawlen;
} ConnWord;

static bool conn_split(const char *s, ConnWord **words, size_t *n, char *why, size_t whylen);
static void conn_words_free(ConnWord *words, size_t n);
static bool conn_is_pgbouncer_key(const char *key);
static bool conn_is_unsupported_key(const char *key);
static bool db_set_pgbouncer(DbEntry *db, const char *key, const char *value, const char *loc,
			     char *why, size_t whylen);
static bool db_take_libpq(DbEntry *db, const char *libpq, char *why, size_t whylen,
			  const char *loc);
static bool str_append(char **buf, size_t *len, const char *s, size_t n);
static char *url_decode(const char *s, size_t n);

/* Keys of PgBouncer's [databases] lines that pgsift acts on. */
static const char *const pgbouncer_db_keys[] = {
	"pool_size", "min_pool_size", "reserve_pool",	  "max_db_connections",
	"pool_mode", "connect_query", "application_name", "client_encoding",
	"datestyle", "timezone",      "auth_user",	  NULL,
};

/* Keys PgBouncer knows there that pgsift does not implement: warned about and dropped. */
static const char *const unsupported_db_keys[] = {
	"auth_dbname",
	"auth_query",
	"max_db_client_connections",
	"reserve_pool_size",
	"server_lifetime",
	"load_balance_hosts",
	NULL,
};

static bool key_in(const char *const *list, const char *key)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(list[i], key) == 0)
			return true;
	return false;
}

bool dbentry_parse(const char *name, const char *connstr, const char *loc, DbEntry *out, char *why,
		   size_t whylen)
{
	*out = (DbEntry){.port = 5432,
			 .pool_size = -1,
			 .min_pool_size = -1,
			 .reserve_pool = -1,
			 .pool_mode = -1,
			 .sslmode = -1};
	ConnWord *words = NULL;
	size_t n_words = 0, liblen = 0;
	char *libpq = NULL;

	out->name = strdup(name);
	out->conninfo = strdup(connstr);
	if (!out->name || !out->conninfo || !str_append(&libpq, &liblen, "", 0))
		goto nomem;

	const char *s = connstr;
	while (isspace((unsigned char)*s))
		s++;
	if (strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0) {
		size_t ulen = strcspn(s, " \t\r\n\f\v");
		const char *q = memchr(s, '?', ulen);
		size_t base = q ? (size_t)(q - s) : ulen;
		if (!str_append(&libpq, &liblen, s, base))
			goto nomem;
		/* Query parameters: PgBouncer's keys are taken, libpq's stay in the URL. */
		char sep = '?';
		const char *p = q ? q + 1 : s + ulen;
		while (p < s + ulen) {
			size_t plen = strcspn(p, "&");
			if (plen > (size_t)(s + ulen - p))
				plen = (size_t)(s + ulen - p);
			const char *eq = memchr(p, '=', plen);
			size_t klen = eq ? (size_t)(eq - p) : plen;
			char *key = url_decode(p, klen);
			if (!key)
				goto nomem;
			if (eq && (conn_is_pgbouncer_key(key) || conn_is_unsupported_key(key))) {
				char *val = url_decode(eq + 1, plen - klen - 1);
				bool ok = val && db_set_pgbouncer(out, key, val, loc, why, whylen);
				if (!val)
					snprintf(why, whylen, "out of memory");
				free(val);
				free(key);
				if (!ok)
					goto fail;
			} else {
				free(key);
				if (plen && (!str_append(&libpq, &liblen, &sep, 1) ||
					     !str_append(&libpq, &liblen, p, plen)))
					goto nomem;
				if (plen)
					sep = '&';
			}
			p += plen + 1;
		}
		s += ulen;
	}
	bool is_url = liblen > 0;
	if (!conn_split(s, &words, &n_words, why, whylen))
		goto fail;
	for (size_t i = 0; i < n_words; i++) {
		ConnWord *w = &words[i];
		if (conn_is_pgbouncer_key(w->key) || conn_is_unsupported_key(w->key)) {
			if (!db_set_pgbouncer(out, w->key, w->value, loc, why, whylen))
				goto fail;
		} else if (is_url) {
			snprintf(why, whylen,
				 "%s: libpq options go into the URL's query string (?%s=...)",
				 w->key, w->key);
			goto fail;
		} else {
			if ((liblen && !str_append(&libpq, &liblen, " ", 1)) ||
			    !str_append(&libpq, &liblen, w->key, strlen(w->key)) ||
			    !str_append(&libpq, &liblen, "=", 1) ||
			    !str_append(&libpq, &liblen, w->raw, w->rawlen))
				goto nomem;
		}
	}
	if (!db_take_libpq(out, libpq, why, whylen, loc))
		goto fail;
	conn_words_free(words, n_words);
	free(libpq);
	return true;
nomem:
	snprintf(why, whylen, "out of memory");
fail:
	conn_words_free(words, n_words);
	free(libpq);
	dbentry_clear(out);
	return false;
}

void dbentry_clear(DbEntry *db)
{
	free(db->name);
	free(db->host);
	free(db->dbname);
	free(db->user);
	free(db->password);
	free(db->connect_query);
	free(db->application_name);
	free(db->auth_user);
	free(db->client_encoding);
	free(db->datestyle);
	free(db->timezone);
	free(db->conninfo);
	memset(db, 0, sizeof(*db));
}

bool dbentry_parse_user(const char *value, const char *loc, const char *user, int *pool_mode,
			int *max_user_connections, char *why, size_t whylen)
{
	ConnWord *words = NULL;
	size_t n = 0;
	bool ok = false;
	*pool_mode = -1;
	*max_user_connections = -1;
	if (!conn_split(value, &words, &n, why, whylen))
		return false;
	for (size_t i = 0; i < n; i++) {
		long long v;
		if (strcmp(words[i].key, "pool_mode") == 0) {
			if (!config_parse_pool_mode(words[i].value, pool_mode)) {
				char echo[80];
				config_echo(echo, sizeof(echo), words[i].value);
				snprintf(why, whylen,
					 "pool_mode: must be session, transaction or statement "
					 "(got '%s')",
					 echo);
				goto out;
			}
		} else if (strcmp(words[i].key, "max_user_connections") == 0) {
			if (!config_parse_int(words[i].value, 0, 1000000000, &v)) {
				char echo[80];
				config_echo(echo, sizeof(echo), words[i].value);
				snprintf(why, whylen,
					 "max_user_connections: must be an integer >= 0 (got '%s')",
					 echo);
				goto out;
			}
			*max_user_connections = (int)v;
		} else {
			log_warn("%s: %s: setting %s is not supported by pgsift and is ignored",
				 loc, user, words[i].key);
		}
	}
	ok = true;
out:
	conn_words_free(words, n);
	return ok;
}

/*
 * Splits a libpq-style "key=value key='quoted value'" string. Quoting and backslash escapes
 * follow libpq's conninfo rules, so that what is passed on to PQconninfoParse keeps its meaning.
 */
static bool conn_split(const char *s, ConnWord **words, size_t *n, char *why, size_t whylen)
{
	const char *p = s;
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			return true;
		const char *k = p;
		while (*p && *p != '=' && !isspace((unsigned char)*p))
			p++;
		size_t klen = (size_t)(p - k);
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '=' || klen == 0) {
			char echo[80];
			char *key = strndup(k, klen ? klen : strlen(k));
			config_echo(echo, sizeof(echo), key ? key : "");
			free(key);
			snprintf(why, whylen, "expected key=value (got '%s')", echo);
			return false;
		}
		p++;
		while (isspace((unsigned char)*p))
			p++;
		const char *raw = p;
		char *val = malloc(strlen(p) + 1);
		size_t vn = 0;
		if (!val)
			goto nomem;
		if (*p == '\'') {
			p++;
			for (;;) {
				if (!*p) {
					free(val);
					snprintf(why, whylen, "unterminated quoted value for %.*s",
						 (int)(klen > 60 ? 60 : klen), k);
					return false;
				}
				if (*p == '\'')
					break;
				if (*p == '\\' && p[1])
					p++;
				val[vn++] = *p++;
			}
			p++;
		} else {
			while (*p && !isspace((unsigned char)*p)) {
				if (*p == '\\' && p[1])
					p++;
				val[vn++] = *p++;
			}
		}
		val[vn] = '\0';
		ConnWord *grown = realloc(*words, (*n + 1) * sizeof(**words));
		char *key = strndup(k, klen);
		if (!grown || !key) {
			if (grown)
				*words = grown;
			free(key);
			free(val);
			goto nomem;
		}
		*words = grown;
		grown[(*n)++] = (ConnWord){
			.key = key, .value = val, .raw = raw, .rawlen = (size_t)(p - raw)};
	}
nomem:
	snprintf(why, whylen, "out of memory");
	return false;
}

static void conn_words_free(ConnWord *words, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(words[i].key);
		free(words[i].value);
	}
	free(words);
}

static bool conn_is_pgbouncer_key(const char *key)
{
	return key_in(pgbouncer_db_keys, key);
}

static bool conn_is_unsupported_key(const char *key)
{
	return key_in(unsupported_db_keys, key);
}

static bool set_str(char **field, const char *value)
{
	char *dup = strdup(value);
	if (!dup)
		return false;
	free(*field);
	*field = dup;
	return true;
}

static bool db_set_pgbouncer(DbEntry *db, const char *key, const char *value, const char *loc,
			     char *why, size_t whylen)
{
	char echo[80];
	long long v;
	config_echo(echo, sizeof(echo), value);
	if (conn_is_unsupported_key(key)) {
		log_warn("%s: %s: setting %s is not supported by pgsift and is ignored", loc,
			 db->name, key);
		return true;
	}
	if (strcmp(key, "pool_mode") == 0) {
		if (!config_parse_pool_mode(value, &db->pool_mode)) {
			snprintf(why, whylen,
				 "pool_mode: must be session, transaction or statement (got '%s')",
				 echo);
			return false;
		}
		return true;
	}
	struct {
		const char *key;
		int *field;
		long long min;
	} ints[] = {
		{"pool_size", &db->pool_size, 1},
		{"min_pool_size", &db->min_pool_size, 0},
		{"reserve_pool", &db->reserve_pool, 0},
		{"max_db_connections", &db->max_db_connections, 0},
	};
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		if (strcmp(key, ints[i].key) != 0)
			continue;
		if (!config_parse_int(value, ints[i].min, 1000000000, &v)) {
			snprintf(why, whylen, "%s: must be an integer >= %lld (got '%s')", key,
				 ints[i].min, echo);
			return false;
		}
		*ints[i].field = (int)v;
		return true;
	}
	char **strs[] = {&db->connect_query, &db->application_name, &db->client_encoding,
			 &db->datestyle,     &db->timezone,	    &db->auth_user};
	const char *names[] = {"connect_query", "application_name", "client_encoding",
			       "datestyle",	"timezone",	    "auth_user"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(key, names[i]) == 0) {
			if (!set_str(strs[i], value)) {
				snprintf(why, whylen, "out of memory");
				return false;
			}
			return true;
		}
	}
	snprintf(why, whylen, "%s: unknown key", key);
	return false;
}

/* Hands the libpq part to PQconninfoParse and keeps the options the proxy uses. */
static bool db_take_libpq(DbEntry *db, const char *libpq, char *why, size_t whylen, const char *loc)
{
	char *errmsg = NULL;
	PQconninfoOption *opts = PQconninfoParse(libpq, &errmsg);
	if (!opts) {
		if (errmsg) {
			size_t l = strlen(errmsg);
			while (l && isspace((unsigned char)errmsg[l - 1]))
				errmsg[--l] = '\0';
			snprintf(why, whylen, "%s", errmsg);
			PQfreemem(errmsg);
		} else {
			snprintf(why, whylen, "out of memory");
		}
		return false;
	}
	char *hostaddr = NULL;
	bool ok = false;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val)
			continue;
		char **field = NULL;
		if (strcmp(o->keyword, "host") == 0)
			field = &db->host;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			field = &hostaddr;
		else if (strcmp(o->keyword, "dbname") == 0)
			field = &db->dbname;
		else if (strcmp(o->keyword, "user") == 0)
			field = &db->user;
		else if (strcmp(o->keyword, "password") == 0)
			field = &db->password;
		if (field) {
			/* An empty value (postgresql://host/ has dbname "") means "not set". */
			if (*o->val && !set_str(field, o->val)) {
				snprintf(why, whylen, "out of memory");
				goto out;
			}
		} else if (strcmp(o->keyword, "port") == 0) {
			long long port;
			if (*o->val && !config_parse_int(o->val, 1, 65535, &port)) {
				char echo[80];
				config_echo(echo, sizeof(echo), o->val);
				snprintf(why, whylen,
					 "port: must be a port number between 1 and 65535 (got "
					 "'%s')",
					 echo);
				goto out;
			}
			if (*o->val) {
				db->port = (int)port;
				db->port_given = true;
			}
		} else if (strcmp(o->keyword, "sslmode") == 0) {
			TlsMode m;
			if (!tls_mode_parse(o->val, &m)) {
				snprintf(why, whylen,
					 "sslmode: must be disable, allow, prefer, require, "
					 "verify-ca or "
					 "verify-full");
				goto out;
			}
			db->sslmode = (int)m;
		} else {
			log_warn("%s: %s: connection option %s is not supported by pgsift and is "
				 "ignored",
				 loc, db->name, o->keyword);
		}
	}
	/* hostaddr is what libpq connects to when both are given; host then is only a name. */
	if (hostaddr) {
		free(db->host);
		db->host = hostaddr;
		hostaddr = NULL;
	}
	ok = true;
out:
	free(hostaddr);
	PQconninfoFree(opts);
	return ok;
}

static bool str_append(char **buf, size_t *len, const char *s, size_t n)
{
	char *grown = realloc(*buf, *len + n + 1);
	if (!grown)
		return false;
	memcpy(grown + *len, s, n);
	*len += n;
	grown[*len] = '\0';
	*buf = grown;
	return true;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decodes n bytes of a URL query component. */
static char *url_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
		    hexval((unsigned char)s[i + 2]) >= 0) {
			out[o++] = (char)(hexval((unsigned char)s[i + 1]) * 16 +
					  hexval((unsigned char)s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}
