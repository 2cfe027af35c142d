/*
 * pool: assignment of servers to clients for one (database, user). See pool.h.
 *
 * A server's state and the pool list it is in go together (login_servers while connecting and
 * logging in, then idle, active or used), and only pool_change_server_state() changes them;
 * likewise a client's state and its list (login_clients, waiting_clients, active_clients, or
 * none before login, on the admin console and once closing) change only in
 * pool_change_client_state(), as in PgBouncer's objects.c. Nothing else assigns ->state.
 *
 * PAUSE lives here too: pool_pause() records which databases are paused, and a paused pool
 * neither hands out servers nor opens new ones until RESUME.
 */
#include "proxy/pool.h"

#include <stdlib.h>
#include <string.h>

#include "config/log.h"
#include "proxy/cancel.h"
#include "proxy/client.h"
#include "proxy/proxy.h"
#include "proxy/server.h"

static void pool_move_server(Server *s, List *to);
static void pool_move_client(Client *c, List *to);
static void pool_link(Pool *p, Server *s, Client *c);
static size_t pool_server_count(const Pool *p);
static void pool_launch_if_needed(Pool *p);
static bool pool_evict_for(Pool *p);
static void pool_kick_neighbours(const Pool *p);
static int pool_db_limit(const Pool *p);
static int pool_user_limit(const Pool *p);
static int pool_reserve_size(const Pool *p);
static bool pool_same_db(const Pool *a, const Pool *b);
static bool pool_same_user(const Pool *a, const Pool *b);
static void pool_fail_waiters(Pool *p, const char *sqlstate, const char *msg);
static ListNode *pool_next_idle(const Pool *p);

void pool_stats_add(PoolStats *acc, const PoolStats *s)
{
	acc->xact_count += s->xact_count;
	acc->query_count += s->query_count;
	acc->bytes_received += s->bytes_received;
	acc->bytes_sent += s->bytes_sent;
	acc->xact_time_us += s->xact_time_us;
	acc->query_time_us += s->query_time_us;
	acc->wait_time_us += s->wait_time_us;
	acc->events_dropped += s->events_dropped;
}

Pool *pool_get(const char *dbname, const char *user, const char **err)
{
	ListNode *n;
	for (n = G.pools.head.next; n != &G.pools.head; n = n->next) {
		Pool *p = list_entry(n, Pool, node);
		if (strcmp(p->dbname, dbname) == 0 && strcmp(p->user, user) == 0)
			return p;
	}
	const DbEntry *db = config_find_db(G.cfg, dbname);
	if (!db) {
		*err = "no such database";
		return NULL;
	}
	Pool *p = calloc(1, sizeof(*p));
	if (!p) {
		*err = "out of memory";
		return NULL;
	}
	p->dbname = strdup(dbname);
	p->user = strdup(user);
	p->server_user = strdup(db->user ? db->user : user);
	p->server_dbname = strdup(db->dbname ? db->dbname : dbname);
	if (!p->dbname || !p->user || !p->server_user || !p->server_dbname) {
		free(p->dbname);
		free(p->user);
		free(p->server_user);
		free(p->server_dbname);
		free(p);
		*err = "out of memory";
		return NULL;
	}
	p->db = db;
	p->mode = config_pool_mode(G.cfg, db, user);
	p->size = config_pool_size(G.cfg, db);
	list_init(&p->idle_servers);
	list_init(&p->active_servers);
	list_init(&p->used_servers);
	list_init(&p->login_servers);
	list_init(&p->waiting_clients);
	list_init(&p->active_clients);
	list_init(&p->login_clients);
	varcache_init(&p->welcome);
	list_append(&G.pools, &p->node);
	log_debug("new pool %s/%s (%s, size %d)", dbname, user, pool_mode_str(p->mode), p->size);
	return p;
}

/* The pool list a client in state st belongs in: none before login, on the admin console and
 * once closing. */
static List *pool_client_list(Pool *p, ClientState st)
{
	if (!p)
		return NULL;
	switch (st) {
	case CL_LOGIN_WAIT:
		return &p->login_clients;
	case CL_WAITING:
		return &p->waiting_clients;
	case CL_IDLE:
	case CL_ACTIVE:
		return &p->active_clients;
	default:
		return NULL;
	}
}

static List *pool_server_list(Pool *p, ServerState st)
{
	switch (st) {
	case SV_CONNECTING:
	case SV_LOGIN:
		return &p->login_servers;
	case SV_IDLE:
		return &p->idle_servers;
	case SV_ACTIVE:
		return &p->active_servers;
	case SV_USED:
		return &p->used_servers;
	default:
		return NULL;
	}
}

void pool_change_client_state(Client *c, ClientState st)
{
	c->state = st;
	List *to = pool_client_list(c->pool, st);
	if (to != c->list)
		pool_move_client(c, to);
}

void pool_change_server_state(Server *s, ServerState st)
{
	s->state = st;
	List *to = pool_server_list(s->pool, st);
	if (to != s->list)
		pool_move_server(s, to);
}

/* A list's order is the order its members arrived in (waiting clients are served FIFO). */
static void pool_move_server(Server *s, List *to)
{
	if (s->list)
		list_remove(s->list, &s->pool_node);
	s->list = to;
	if (to)
		list_append(to, &s->pool_node);
}

static void pool_move_client(Client *c, List *to)
{
	if (c->list)
		list_remove(c->list, &c->pool_node);
	c->list = to;
	if (to)
		list_append(to, &c->pool_node);
}

static size_t pool_server_count(const Pool *p)
{
	return p->idle_servers.count + p->active_servers.count + p->used_servers.count +
	       p->login_servers.count;
}

/* The reserve a pool may open beyond its size: the database's reserve_pool, else
 * reserve_pool_size. */
static int pool_reserve_size(const Pool *p)
{
	if (p->db && p->db->reserve_pool >= 0)
		return p->db->reserve_pool;
	return G.cfg->reserve_pool_size;
}

/* Server connections allowed to this pool's database over all its pools (users): the
 * database's max_db_connections, else the global one; 0 = no limit. */
static int pool_db_limit(const Pool *p)
{
	if (p->db && p->db->max_db_connections > 0)
		return p->db->max_db_connections;
	return G.cfg->max_db_connections;
}

/* Server connections allowed to this pool's server user over all databases: its [users]
 * line's max_user_connections, else the global one; 0 = no limit. The [users] line is looked
 * up among every entry, also those without an auth_file secret (config_find_user skips them). */
static int pool_user_limit(const Pool *p)
{
	const Config *cfg = G.cfg;
	for (size_t i = 0; i < cfg->n_users; i++) {
		const UserEntry *u = &cfg->users[i];
		if (u->name && strcmp(u->name, p->server_user) == 0 && u->max_user_connections >= 0)
			return u->max_user_connections;
	}
	return cfg->max_user_connections;
}

/* Pools share max_db_connections by the database name clients use, like PgBouncer's database
 * entry, and max_user_connections by the user towards PostgreSQL. */
static bool pool_same_db(const Pool *a, const Pool *b)
{
	return strcmp(a->dbname, b->dbname) == 0;
}

static bool pool_same_user(const Pool *a, const Pool *b)
{
	return strcmp(a->server_user, b->server_user) == 0;
}

/* The servers of every pool that shares a limit with p (same: pool_same_db or pool_same_user). */
static size_t pool_shared_server_count(const Pool *p, bool (*same)(const Pool *, const Pool *))
{
	size_t n = 0;
	for (ListNode *node = G.pools.head.next; node != &G.pools.head; node = node->next) {
		const Pool *q = list_entry(node, Pool, node);
		if (same(p, q))
			n += pool_server_count(q);
	}
	return n;
}

size_t pool_db_server_count(const Pool *p)
{
	return pool_shared_server_count(p, pool_same_db);
}

size_t pool_user_server_count(const Pool *p)
{
	return pool_shared_server_count(p, pool_same_user);
}

/* room = min(room, limit - used); limit 0 is no limit. */
static size_t pool_clamp(size_t room, int limit, size_t used)
{
	if (limit <= 0)
		return room;
	size_t left = used < (size_t)limit ? (size_t)limit - used : 0;
	return left < room ? left : room;
}

size_t pool_launch_room(const Pool *p, uint64_t now_ms, bool *by_limit)
{
	size_t have = pool_server_count(p);
	size_t cap = p->size > 0 ? (size_t)p->size : 0;
	/* PgBouncer's reserve: a client that waited reserve_pool_timeout lets the pool grow by
	 * reserve_pool servers, so a burst is served late rather than failed */
	int reserve = pool_reserve_size(p);
	ListNode *first = list_first(&p->waiting_clients);
	if (reserve > 0 && first) {
		const Client *c = list_entry(first, Client, pool_node);
		if (c->wait_start_ms && now_ms - c->wait_start_ms >= G.cfg->reserve_pool_timeout)
			cap += (size_t)reserve;
	}
	size_t room = cap > have ? cap - have : 0;
	size_t own = room;
	room = pool_clamp(room, pool_db_limit(p), pool_db_server_count(p));
	room = pool_clamp(room, pool_user_limit(p), pool_user_server_count(p));
	if (by_limit)
		*by_limit = room < own;
	return room;
}

/*
 * The pool has room of its own but max_db_connections or max_user_connections is reached: as
 * PgBouncer does, the server idle longest among the other pools that share the limit is closed,
 * so that this pool's clients are not kept waiting by servers nobody uses. False when there is
 * no such server (the clients wait for one to close or go idle).
 */
static bool pool_evict_for(Pool *p)
{
	bool db_full = pool_db_limit(p) > 0 && pool_db_server_count(p) >= (size_t)pool_db_limit(p);
	bool user_full =
		pool_user_limit(p) > 0 && pool_user_server_count(p) >= (size_t)pool_user_limit(p);
	Server *oldest = NULL;
	ListNode *node, *sn;
	for (node = G.pools.head.next; node != &G.pools.head; node = node->next) {
		Pool *q = list_entry(node, Pool, node);
		if (q == p)
			continue;
		/* a server of q frees a place only under every limit that is reached */
		if ((db_full && !pool_same_db(p, q)) || (user_full && !pool_same_user(p, q)))
			continue;
		for (sn = q->idle_servers.head.next; sn != &q->idle_servers.head; sn = sn->next) {
			Server *s = list_entry(sn, Server, pool_node);
			if (!oldest || s->last_used_ms < oldest->last_used_ms)
				oldest = s;
		}
	}
	if (!oldest)
		return false;
	log_debug("pool %s/%s: closing an idle server of %s/%s to stay within %s", p->dbname,
		  p->user, oldest->pool->dbname, oldest->pool->user,
		  db_full ? "max_db_connections" : "max_user_connections");
	server_close(oldest, db_full ? "max_db_connections: room for another pool" :
				       "max_user_connections: room for another pool");
	return true;
}

/* Set while pool_launch_if_needed runs, so that a server it closes (pool_evict_for) does not
 * start launches for other pools in the middle of it. */
static bool pool_launching;

/* Opens servers while clients wait and the pool has room: one per waiting client, within
 * pool_size (plus the reserve once a client waited reserve_pool_timeout), max_db_connections
 * and max_user_connections. */
static void pool_launch_if_needed(Pool *p)
{
	size_t want =
		p->waiting_clients.count + (p->login_clients.count && !p->have_welcome ? 1 : 0);
	bool was = pool_launching;
	pool_launching = true;
	while (p->login_servers.count < want) {
		bool by_limit = false;
		if (pool_launch_room(p, proxy_now_ms(), &by_limit) == 0) {
			if (by_limit && pool_evict_for(p))
				continue;
			break;
		}
		if (!server_launch(p)) {
			log_error("out of memory opening a server connection");
			break;
		}
	}
	pool_launching = was;
}

/*
 * A server of p closed: other pools of the same database or server user whose clients wait on
 * max_db_connections / max_user_connections may launch now rather than at the janitor's next
 * turn. (A server that goes idle is left to the janitor, which closes it for them through
 * pool_evict_for: the callers of pool_server_ready go on using the server.)
 */
static void pool_kick_neighbours(const Pool *p)
{
	if (pool_launching || G.shutting_down || (pool_db_limit(p) <= 0 && pool_user_limit(p) <= 0))
		return;
	ListNode *node;
	for (node = G.pools.head.next; node != &G.pools.head; node = node->next) {
		Pool *q = list_entry(node, Pool, node);
		if (q == p || list_empty(&q->waiting_clients) || pool_is_paused(q->dbname) ||
		    q->last_error[0] || (!pool_same_db(p, q) && !pool_same_user(p, q)))
			continue;
		pool_launch_if_needed(q);
	}
}

void pool_client_login(Pool *p, Client *c)
{
	pool_change_client_state(c, CL_LOGIN_WAIT);
	if (p->have_welcome) {
		client_welcome(c);
		return;
	}
	pool_launch_if_needed(p);
	if (p->login_servers.count == 0 && !list_empty(&p->login_clients) &&
	    pool_server_count(p) > 0) {
		/* the pool is full of servers that never logged in? cannot happen: have_welcome */
		log_warn("pool %s/%s has no welcome parameters yet", p->dbname, p->user);
	}
}

bool pool_acquire(Pool *p, Client *c)
{
	bool paused = pool_is_paused(p->dbname);
	ListNode *n = paused ? NULL : pool_next_idle(p);
	if (n) {
		pool_link(p, list_entry(n, Server, pool_node), c);
		return true;
	}
	c->wait_start_ms = proxy_now_ms();
	c->wait_notified = false;
	pool_change_client_state(c, CL_WAITING);
	if (!paused)
		pool_launch_if_needed(p);
	return false;
}

/* Databases paused one by one (PAUSE db); every database when G.paused. Owned strings. */
static char **paused_dbs;
static size_t n_paused_dbs;

bool pool_is_paused(const char *dbname)
{
	if (G.paused)
		return true;
	for (size_t i = 0; i < n_paused_dbs; i++)
		if (strcmp(paused_dbs[i], dbname) == 0)
			return true;
	return false;
}

bool pool_pause(const char *dbname, bool pause)
{
	if (!dbname) {
		G.paused = pause;
		if (!pause) {
			for (size_t i = 0; i < n_paused_dbs; i++)
				free(paused_dbs[i]);
			n_paused_dbs = 0;
			pool_resume_all();
		}
		return true;
	}
	size_t at = n_paused_dbs;
	for (size_t i = 0; i < n_paused_dbs; i++)
		if (strcmp(paused_dbs[i], dbname) == 0)
			at = i;
	if (pause && at == n_paused_dbs) {
		char **grown = realloc(paused_dbs, (n_paused_dbs + 1) * sizeof(*grown));
		char *copy = strdup(dbname);
		if (grown)
			paused_dbs = grown;
		if (!grown || !copy) {
			free(copy);
			return false;
		}
		paused_dbs[n_paused_dbs++] = copy;
	} else if (!pause && at < n_paused_dbs) {
		free(paused_dbs[at]);
		paused_dbs[at] = paused_dbs[--n_paused_dbs];
	}
	if (!pause)
		pool_resume_all();
	return true;
}

void pool_resume_all(void)
{
	ListNode *n;
	for (n = G.pools.head.next; n != &G.pools.head; n = n->next) {
		Pool *p = list_entry(n, Pool, node);
		if (pool_is_paused(p->dbname))
			continue;
		ListNode *sn;
		while (!list_empty(&p->waiting_clients) && (sn = pool_next_idle(p)))
			pool_server_ready(p, list_entry(sn, Server, pool_node));
		pool_launch_if_needed(p);
	}
}

void pool_release(Pool *p, Server *s, bool client_gone)
{
	server_unlink(s);
	if (s->state == SV_CLOSING)
		return;
	if (!server_is_quiet(s)) {
		/* a closed socket goes unnoticed while a statement runs: cancel it first, so its
		 * transaction and locks end now rather than when the statement does */
		cancel_server(s);
		server_close(s, client_gone ? "client disconnected while the server was busy" :
					      "released while the server was busy");
		return;
	}
	const Config *cfg = G.cfg;
	const char *reset_query = NULL;
	if (cfg->server_reset_query && cfg->server_reset_query[0] &&
	    (p->mode == POOL_SESSION || cfg->server_reset_query_always))
		reset_query = cfg->server_reset_query;
	/* the last client left state no other client may see (temporary tables, advisory locks,
	 * held cursors...): whatever server_reset_query says, all of it goes */
	if (s->needs_reset)
		reset_query = "DISCARD ALL";
	s->needs_reset = false;
	bool reset = reset_query != NULL;
	if (s->tx_state != PQ_TX_IDLE || reset) {
		pool_change_server_state(s, SV_USED);
		if (s->tx_state != PQ_TX_IDLE && !server_send_injected(s, "ROLLBACK")) {
			server_close(s, "could not roll back");
			return;
		}
		if (reset && !server_send_injected(s, reset_query)) {
			server_close(s, "could not reset");
			return;
		}
		if (reset) {
			/* the reset puts the session back to its login state */
			varcache_clear(&s->params);
			if (!varcache_copy(&s->params, &p->welcome))
				s->close_needed = true;
			s->applied_sig = 0;
			prepared_set_clear(&s->stmts);
			if (s->sql_prepared)
				stmtmap_clear(s->sql_prepared);
		}
		return;
	}
	pool_server_ready(p, s);
}

/* While draining (SIGTERM, a takeover), the clients still here keep being served: a server
 * that comes free goes only when nobody waits and the pool's other servers are enough for
 * the clients left. */
static bool pool_server_surplus(const Pool *p, const Server *s)
{
	size_t others = p->idle_servers.count + p->active_servers.count;
	if (others && (s->state == SV_IDLE || s->state == SV_ACTIVE))
		others--;
	return list_empty(&p->waiting_clients) && others >= p->active_clients.count;
}

void pool_server_ready(Pool *p, Server *s)
{
	if (!p->have_welcome) {
		if (!varcache_copy(&p->welcome, &s->params)) {
			log_error("out of memory keeping welcome parameters");
		} else {
			p->have_welcome = true;
		}
	}
	p->last_error[0] = '\0';
	ListNode *n, *tmp;
	list_for_each_safe(n, tmp, &p->login_clients)
	{
		client_welcome(list_entry(n, Client, pool_node)); /* now CL_IDLE, or closed */
	}
	if (s->close_needed || (G.shutting_down && pool_server_surplus(p, s))) {
		server_close(s, s->close_needed ? "marked for closing" : "shutting down");
		pool_launch_if_needed(p);
		return;
	}
	if (cancel_is_pending(s)) {
		/* a cancel meant for the last client must not hit the next one */
		pool_change_server_state(s, SV_USED);
		return;
	}
	n = pool_is_paused(p->dbname) ? NULL : list_first(&p->waiting_clients);
	if (n) {
		Client *c = list_entry(n, Client, pool_node);
		uint64_t waited = proxy_now_ms() - c->wait_start_ms;
		p->stats.wait_time_us += waited * 1000;
		c->wait_start_ms = 0;
		pool_link(p, s, c);
		client_server_ready(c);
		/* other waiters may need servers that no login is under way for */
		pool_launch_if_needed(p);
		return;
	}
	s->last_used_ms = proxy_now_ms();
	pool_change_server_state(s, SV_IDLE);
}

/*
 * The idle server to hand out next. idle_servers is in the order servers went idle: PgBouncer's
 * default takes the last one (LIFO), so that few servers carry the load, stay warm, and the rest
 * reach server_idle_timeout; server_round_robin takes the one idle longest (FIFO), spreading the
 * load evenly over every server, for a round-robin address behind the database entry.
 */
static ListNode *pool_next_idle(const Pool *p)
{
	return G.cfg->server_round_robin ? list_first(&p->idle_servers) :
					   list_last(&p->idle_servers);
}

/* Gives server s to client c: both become active. */
static void pool_link(Pool *p, Server *s, Client *c)
{
	(void)p;
	server_link(s, c);
	pool_change_server_state(s, SV_ACTIVE);
	pool_change_client_state(c, CL_ACTIVE);
}

/* Clients that cannot be served because the server is unreachable get the reason now, rather
 * than after query_wait_timeout. */
static void pool_fail_waiters(Pool *p, const char *sqlstate, const char *msg)
{
	ListNode *n, *tmp;
	list_for_each_safe(n, tmp, &p->login_clients)
	{
		Client *c = list_entry(n, Client, pool_node);
		client_fail(c, sqlstate, "%s", msg);
	}
	list_for_each_safe(n, tmp, &p->waiting_clients)
	{
		Client *c = list_entry(n, Client, pool_node);
		client_fail(c, sqlstate, "%s", msg);
	}
}

void pool_server_failed(Pool *p, Server *s, const char *sqlstate, const char *msg)
{
	(void)s;
	log_warn("pool %s/%s: server login failed: %s", p->dbname, p->user, msg);
	snprintf(p->last_error, sizeof(p->last_error), "%s", msg);
	p->last_connect_failed_ms = proxy_now_ms();
	/* other logins still in flight may yet succeed; fail the waiters when none is left */
	if (p->login_servers.count <= 1)
		pool_fail_waiters(p, sqlstate, msg);
}

void pool_server_closed(Pool *p, Server *s)
{
	pool_change_server_state(s, SV_CLOSING);
	if (p->last_error[0] == '\0')
		pool_launch_if_needed(p); /* its waiting clients (none once the last one left) */
	pool_kick_neighbours(p);
}

void pool_janitor(Pool *p, uint64_t now)
{
	const Config *cfg = G.cfg;
	ListNode *n, *tmp;
	if (cfg->query_wait_timeout) {
		list_for_each_safe(n, tmp, &p->waiting_clients)
		{
			Client *c = list_entry(n, Client, pool_node);
			if (now - c->wait_start_ms >= cfg->query_wait_timeout) {
				log_warn("client %s:%d %s/%s: query_wait_timeout (%llu ms) passed",
					 c->addr, c->port, p->dbname, p->user,
					 (unsigned long long)cfg->query_wait_timeout);
				client_fail(c, "08P01",
					    "query_wait_timeout: no server connection "
					    "became free in time");
			}
		}
		list_for_each_safe(n, tmp, &p->login_clients)
		{
			Client *c = list_entry(n, Client, pool_node);
			if (now - c->connect_ms >= cfg->query_wait_timeout)
				client_fail(c, "08P01",
					    "query_wait_timeout: could not log in to the "
					    "server in time");
		}
	}
	list_for_each_safe(n, tmp, &p->idle_servers)
	{
		Server *s = list_entry(n, Server, pool_node);
		if (cfg->server_lifetime && now - s->connect_ms >= cfg->server_lifetime)
			server_close(s, "server_lifetime");
		else if (cfg->server_idle_timeout &&
			 now - s->last_used_ms >= cfg->server_idle_timeout)
			server_close(s, "server_idle_timeout");
	}
	list_for_each_safe(n, tmp, &p->login_servers)
	{
		Server *s = list_entry(n, Server, pool_node);
		if (s->login_deadline_ms && now >= s->login_deadline_ms) {
			pool_server_failed(p, s, "08006",
					   "server_connect_timeout: the server did not "
					   "answer in time");
			server_close(s, "server_connect_timeout");
		}
	}
	/* whoever waits without a login under way for them gets one; after a failed connect,
	 * not more often than once a second */
	if ((!list_empty(&p->waiting_clients) || !list_empty(&p->login_clients)) &&
	    (!p->last_error[0] || now - p->last_connect_failed_ms >= 1000) &&
	    !pool_is_paused(p->dbname))
		pool_launch_if_needed(p);
}

void pool_reload_all(void)
{
	ListNode *n;
	for (n = G.pools.head.next; n != &G.pools.head; n = n->next) {
		Pool *p = list_entry(n, Pool, node);
		const DbEntry *db = config_find_db(G.cfg, p->dbname);
		if (!db) {
			/* the database left the configuration: keep serving current clients with a
			 * copy-free fallback by closing idle servers; new clients are refused */
			pool_close_servers(p);
			continue;
		}
		bool changed = !p->db->conninfo || !db->conninfo ||
			       strcmp(p->db->conninfo, db->conninfo) != 0;
		p->db = db;
		p->mode = config_pool_mode(G.cfg, db, p->user);
		p->size = config_pool_size(G.cfg, db);
		if (changed)
			pool_close_servers(p);
	}
}

void pool_close_servers(Pool *p)
{
	ListNode *n, *tmp;
	list_for_each_safe(n, tmp, &p->idle_servers)
	{
		server_close(list_entry(n, Server, pool_node), "closing pool");
	}
	for (n = p->active_servers.head.next; n != &p->active_servers.head; n = n->next)
		list_entry(n, Server, pool_node)->close_needed = true;
}
