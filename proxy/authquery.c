/*
 * authquery: see authquery.h. One libpq connection per lookup, driven by uv_poll on its socket
 * (libpq may replace the socket while connecting, e.g. when sslmode=prefer falls back to
 * plaintext, so the poll handle follows PQsocket).
 */
#include "proxy/authquery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "config/log.h"
#include "proxy/namemap.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"

typedef struct CachedSecret {
	bool found;
	char *secret; /* owned; NULL when not found */
	uint64_t expires_ms;
} CachedSecret;

typedef struct PollHandle {
	uv_poll_t poll;
	AuthLookup *owner; /* NULL once the lookup is over: the close callback only frees */
} PollHandle;

struct AuthLookup {
	PGconn *pg;
	PollHandle *ph; /* watches PQsocket(pg) */
	int fd;
	bool connected;
	bool cancelled;
	char *key; /* cache key: database, 0x1f, user (owned) */
	char *user;
	AuthLookupDone cb;
	void *arg;
	uv_timer_t *deadline; /* the whole lookup, connect and query */
};

static NameMap *cache;

static void cached_free(void *v)
{
	CachedSecret *c = v;
	if (c) {
		free(c->secret);
		free(c);
	}
}

static char *cache_key(const Pool *pool, const char *user)
{
	char *key = NULL;
	if (asprintf(&key, "%s\x1f%s", pool->dbname, user) < 0)
		return NULL;
	return key;
}

const char *authquery_user(const Pool *pool)
{
	if (pool->db && pool->db->auth_user)
		return pool->db->auth_user;
	return G.cfg->auth_user;
}

bool authquery_cached(const Pool *pool, const char *user, bool *found, const char **secret)
{
	if (!cache)
		return false;
	char *key = cache_key(pool, user);
	if (!key)
		return false;
	CachedSecret *c = namemap_get(cache, key);
	bool hit = c && c->expires_ms > proxy_now_ms();
	if (c && !hit)
		namemap_remove(cache, key);
	free(key);
	if (hit) {
		*found = c->found;
		*secret = c->secret;
	}
	return hit;
}

static void cache_put(const char *key, bool found, const char *secret)
{
	if (!cache)
		cache = namemap_new(cached_free);
	CachedSecret *c = cache ? calloc(1, sizeof(*c)) : NULL;
	if (!c)
		return;
	c->found = found;
	c->secret = secret ? strdup(secret) : NULL;
	c->expires_ms = proxy_now_ms() + AUTHQUERY_CACHE_MS;
	if ((secret && !c->secret) || !namemap_put(cache, key, c))
		cached_free(c);
}

static void poll_closed(uv_handle_t *h)
{
	free(h->data);
}

static void timer_closed(uv_handle_t *h)
{
	free(h);
}

static void lookup_free(AuthLookup *l)
{
	if (l->ph) {
		l->ph->owner = NULL;
		uv_close((uv_handle_t *)&l->ph->poll, poll_closed);
	}
	if (l->deadline)
		uv_close((uv_handle_t *)l->deadline, timer_closed);
	if (l->pg)
		PQfinish(l->pg);
	free(l->key);
	free(l->user);
	free(l);
}

/* Ends the lookup: the callback (unless cancelled), the cache, the connection. */
static void lookup_end(AuthLookup *l, bool found, const char *secret, const char *error)
{
	if (!error)
		cache_put(l->key, found, secret);
	else
		log_warn("auth_query for user \"%s\" failed: %s", l->user, error);
	if (!l->cancelled)
		l->cb(l->arg, found, secret, error);
	lookup_free(l);
}

/* libpq's message without its trailing newline. */
static void pq_error(PGconn *pg, char *buf, size_t len)
{
	snprintf(buf, len, "%s", pg ? PQerrorMessage(pg) : "out of memory");
	size_t n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
}

static void lookup_fail(AuthLookup *l, const char *what)
{
	char msg[512], pqmsg[400];
	pq_error(l->pg, pqmsg, sizeof(pqmsg));
	snprintf(msg, sizeof(msg), "%s%s%s", what, pqmsg[0] ? ": " : "", pqmsg);
	lookup_end(l, false, NULL, msg);
}

static void on_poll(uv_poll_t *h, int status, int events);

/* Watches the socket libpq uses now for the events it asked for. */
static bool watch(AuthLookup *l, int events)
{
	int fd = PQsocket(l->pg);
	if (fd < 0)
		return false;
	if (l->ph && fd != l->fd) {
		l->ph->owner = NULL;
		uv_close((uv_handle_t *)&l->ph->poll, poll_closed);
		l->ph = NULL;
	}
	if (!l->ph) {
		PollHandle *ph = calloc(1, sizeof(*ph));
		if (!ph)
			return false;
		if (uv_poll_init_socket(G.loop, &ph->poll, fd) != 0) {
			free(ph);
			return false;
		}
		ph->poll.data = ph;
		ph->owner = l;
		l->ph = ph;
		l->fd = fd;
	}
	return uv_poll_start(&l->ph->poll, events, on_poll) == 0;
}

/* The query's answer: one row (name, secret), a NULL secret or no row meaning no login. */
static void read_result(AuthLookup *l)
{
	PGresult *res;
	bool found = false, failed = false;
	char *secret = NULL, err[512] = "";
	while ((res = PQgetResult(l->pg)) != NULL) {
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_TUPLES_OK && !failed) {
			if (PQntuples(res) > 1 || PQnfields(res) < 2) {
				snprintf(err, sizeof(err),
					 "auth_query must return one row of (name, secret), got %d "
					 "rows of %d columns",
					 PQntuples(res), PQnfields(res));
				failed = true;
			} else if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 1)) {
				found = true;
				secret = strdup(PQgetvalue(res, 0, 1));
			}
		} else if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK && !failed) {
			snprintf(err, sizeof(err), "%s", PQresultErrorMessage(res));
			size_t n = strlen(err);
			while (n && err[n - 1] == '\n')
				err[--n] = '\0';
			failed = true;
		}
		PQclear(res);
	}
	if (failed)
		lookup_end(l, false, NULL, err);
	else if (found && !secret)
		lookup_end(l, false, NULL, "out of memory");
	else
		lookup_end(l, found, secret, NULL);
	free(secret);
}

static void send_query(AuthLookup *l)
{
	const char *params[1] = {l->user};
	if (PQsetnonblocking(l->pg, 1) != 0 ||
	    !PQsendQueryParams(l->pg, G.cfg->auth_query, 1, NULL, params, NULL, NULL, 0)) {
		lookup_fail(l, "could not send auth_query");
		return;
	}
	int f = PQflush(l->pg);
	if (f < 0 || !watch(l, f == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE))
		lookup_fail(l, "could not send auth_query");
}

static void step_connect(AuthLookup *l)
{
	switch (PQconnectPoll(l->pg)) {
	case PGRES_POLLING_READING:
		if (!watch(l, UV_READABLE))
			lookup_fail(l, "auth_user could not connect");
		return;
	case PGRES_POLLING_WRITING:
		if (!watch(l, UV_WRITABLE))
			lookup_fail(l, "auth_user could not connect");
		return;
	case PGRES_POLLING_OK:
		l->connected = true;
		send_query(l);
		return;
	default:
		lookup_fail(l, "auth_user could not connect");
		return;
	}
}

static void step_query(AuthLookup *l, int events)
{
	if (events & UV_WRITABLE) {
		int f = PQflush(l->pg);
		if (f < 0) {
			lookup_fail(l, "could not send auth_query");
			return;
		}
		if (f == 1)
			return; /* still writable-watched */
		if (!watch(l, UV_READABLE)) {
			lookup_fail(l, "could not send auth_query");
			return;
		}
	}
	if (!(events & UV_READABLE))
		return;
	if (!PQconsumeInput(l->pg)) {
		lookup_fail(l, "auth_query failed");
		return;
	}
	if (!PQisBusy(l->pg))
		read_result(l);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	PollHandle *ph = h->data;
	AuthLookup *l = ph->owner;
	if (!l)
		return;
	if (status < 0)
		events = UV_READABLE | UV_WRITABLE; /* libpq finds out what went wrong */
	if (!l->connected)
		step_connect(l);
	else
		step_query(l, events);
}

static void on_deadline(uv_timer_t *t)
{
	AuthLookup *l = t->data;
	lookup_end(l, false, NULL, "auth_query took longer than server_connect_timeout");
}

/* libpq's sslmode for the pool's database, as towards its servers. */
static const char *libpq_sslmode(const Pool *pool)
{
	int m = pool->db && pool->db->sslmode >= 0 ? pool->db->sslmode :
						     (int)G.cfg->server_tls_sslmode;
	return tls_mode_str((TlsMode)m);
}

static void start_later(uv_timer_t *t);

AuthLookup *authquery_start(const Pool *pool, const char *user, AuthLookupDone cb, void *arg,
			    const char **error)
{
	const Config *cfg = G.cfg;
	const char *auth_user = authquery_user(pool);
	const UserEntry *au = auth_user ? config_find_user(cfg, auth_user) : NULL;
	*error = NULL;
	if (!auth_user) {
		*error = "no auth_user";
		return NULL;
	}
	/* libpq needs auth_user's password itself: a stored md5 or SCRAM secret cannot log in */
	const char *password = au && au->kind == SECRET_PLAIN ? au->secret : NULL;
	const DbEntry *db = pool->db;
	char port[16];
	snprintf(port, sizeof(port), "%d", db->port ? db->port : 5432);
	const char *dbname = cfg->auth_dbname ? cfg->auth_dbname : pool->server_dbname;
	char timeout[32];
	snprintf(timeout, sizeof(timeout), "%llu",
		 (unsigned long long)(cfg->server_connect_timeout ?
					      (cfg->server_connect_timeout + 999) / 1000 :
					      15));
	const char *keys[] = {"host",
			      "port",
			      "dbname",
			      "user",
			      "password",
			      "sslmode",
			      "sslrootcert",
			      "options",
			      "connect_timeout",
			      "application_name",
			      NULL};
	const char *vals[] = {db->host ? db->host : "/var/run/postgresql",
			      port,
			      dbname,
			      auth_user,
			      password,
			      libpq_sslmode(pool),
			      cfg->server_tls_ca_file,
			      "-c search_path=pg_catalog,pg_temp",
			      timeout,
			      "pgsift auth_query",
			      NULL};
	AuthLookup *l = calloc(1, sizeof(*l));
	if (!l) {
		*error = "out of memory";
		return NULL;
	}
	l->cb = cb;
	l->arg = arg;
	l->fd = -1;
	l->key = cache_key(pool, user);
	l->user = strdup(user);
	l->deadline = malloc(sizeof(*l->deadline));
	/* libpq skips a NULL value: the keyword is then not given */
	l->pg = PQconnectStartParams(keys, vals, 0);
	if (!l->key || !l->user || !l->deadline || !l->pg || PQstatus(l->pg) == CONNECTION_BAD) {
		*error = l->pg ? "auth_user could not connect" : "out of memory";
		free(l->deadline);
		l->deadline = NULL;
		lookup_free(l);
		return NULL;
	}
	uv_timer_init(G.loop, l->deadline);
	l->deadline->data = l;
	uint64_t ms = cfg->server_connect_timeout ? cfg->server_connect_timeout * 2 : 30000;
	uv_timer_start(l->deadline, on_deadline, ms, 0);
	/* the first poll step runs from the loop, so that cb never runs inside this call */
	uv_timer_t *kick = malloc(sizeof(*kick));
	if (!kick) {
		*error = "out of memory";
		lookup_free(l);
		return NULL;
	}
	uv_timer_init(G.loop, kick);
	kick->data = l;
	uv_timer_start(kick, start_later, 0, 0);
	return l;
}

static void start_later(uv_timer_t *t)
{
	AuthLookup *l = t->data;
	uv_close((uv_handle_t *)t, timer_closed);
	step_connect(l);
}

void authquery_cancel(AuthLookup *l)
{
	l->cancelled = true;
}

void authquery_cleanup(void)
{
	namemap_free(cache);
	cache = NULL;
}
