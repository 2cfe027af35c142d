/*
 * pool: one pool per (database, user), as in PgBouncer. It owns its server connections (in one
 * list per state) and the queue of clients waiting for one, and it is the only place that
 * assigns a server to a client and takes it back. It launches new server connections when
 * clients wait and the pool is below its size (plus its reserve for clients that waited
 * reserve_pool_timeout), within max_db_connections and max_user_connections, which pools of a
 * database or of a user share; and it keeps the "welcome" parameters (the
 * ParameterStatus set of its servers) that new clients are greeted with.
 */
#ifndef PGSIFT_POOL_H
#define PGSIFT_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "proxy/client.h"
#include "util/list.h"
#include "proxy/server.h"
#include "proxy/types.h"
#include "proxy/varcache.h"

typedef struct PoolStats {
	uint64_t xact_count;
	uint64_t query_count;
	uint64_t bytes_received;
	uint64_t bytes_sent;
	uint64_t xact_time_us;
	uint64_t query_time_us;
	uint64_t wait_time_us;
	uint64_t events_dropped; /* statements the statistics queue had no room for */
} PoolStats;

/* acc += s, field by field. */
void pool_stats_add(PoolStats *acc, const PoolStats *s);

struct Pool {
	ListNode node;	     /* in G.pools */
	char *dbname;	     /* the name clients use (owned) */
	char *user;	     /* the client-side user name (owned) */
	const DbEntry *db;   /* in the current Config; refreshed on reload */
	char *server_user;   /* the user towards PostgreSQL (owned) */
	char *server_dbname; /* the database on PostgreSQL (owned) */
	PoolMode mode;
	int size;

	List idle_servers;    /* Server.pool_node: ready, no client */
	List active_servers;  /* linked to a client */
	List used_servers;    /* being reset or cleaned before going idle */
	List login_servers;   /* connecting or logging in */
	List waiting_clients; /* Client.pool_node: need a server, FIFO */
	List active_clients;  /* logged in, linked or not */
	List login_clients;   /* authenticated, waiting for the welcome parameters */

	VarCache welcome; /* ParameterStatus set reported by this pool's servers */
	bool have_welcome;
	uint32_t welcome_pid_dummy;

	/* the secret auth_query found for this pool's user (md5 pass-through to the server) */
	char *auth_secret;

	/* secrets a client proved during SCRAM, for SCRAM pass-through to the server */
	bool have_scram_keys;
	uint8_t scram_client_key[32];
	uint8_t scram_server_key[32];

	/* the server's address, resolved once per pool and refreshed on failure */
	struct sockaddr_storage addr;
	bool have_addr;
	bool resolving;
	uv_getaddrinfo_t resolver;

	uint64_t last_connect_failed_ms;
	char last_error[256];

	PoolStats stats;
};

/* The pool for (dbname, user), created on first use. NULL (and *err set) when the database is
 * unknown or memory ran out. */
Pool *pool_get(const char *dbname, const char *user, const char **err);

/*
 * A logged-in client needs a server for its next message. Returns true with c->server linked,
 * or false with c queued (c is told through client_server_ready() later, or fails with an error
 * when query_wait_timeout passes or the server cannot be reached).
 */
bool pool_acquire(Pool *p, Client *c);

/* The client no longer needs its server (end of transaction, or disconnect). The server goes
 * back clean (reset query, rollback) or is closed when it cannot be made clean. */
void pool_release(Pool *p, Server *s, bool client_gone);

/* A client authenticated: greet it now if the welcome parameters are known, else connect. */
void pool_client_login(Pool *p, Client *c);

/* Called by server.c as a server's state changes. */
void pool_server_ready(Pool *p, Server *s); /* logged in, or reset done: goes idle / to a waiter */
void pool_server_failed(Pool *p, Server *s, const char *sqlstate, const char *msg);
void pool_server_closed(Pool *p, Server *s); /* removed from the pool's lists */

/*
 * The one place a client's or a server's state changes: it is set, and the object moves to the
 * pool list that state belongs in (appended: lists keep arrival order). A client without a pool
 * (before login, the admin console) only has its state set. Nothing else assigns ->state.
 */
void pool_change_client_state(Client *c, ClientState st);
void pool_change_server_state(Server *s, ServerState st);

/*
 * PAUSE and RESUME from the admin console: dbname NULL for every database (G.paused), else one
 * database by name. A paused database's pools hand out no server and open none; RESUME gives
 * the waiting clients the idle servers at once. False when memory ran out (nothing changed).
 */
bool pool_pause(const char *dbname, bool pause) __attribute__((warn_unused_result));
/* Whether new work for database dbname waits: PAUSE or PAUSE dbname without RESUME since. */
bool pool_is_paused(const char *dbname);

/*
 * How many more server connections pool p may open at now_ms: its size, plus reserve_pool
 * (reserve_pool_size) once its first waiting client has waited reserve_pool_timeout, less the
 * servers it has, and no more than max_db_connections and max_user_connections leave. When
 * by_limit is not NULL, *by_limit tells whether one of those two limits made the room smaller
 * than the pool's own.
 */
size_t pool_launch_room(const Pool *p, uint64_t now_ms, bool *by_limit);
/* Server connections (any state) of every pool sharing p's database, or p's server user. */
size_t pool_db_server_count(const Pool *p);
size_t pool_user_server_count(const Pool *p);

/* Periodic checks: idle and lifetime limits, wait timeouts; waiting clients get servers that
 * the reserve pool or a freed place under max_db/max_user_connections now allow. */
void pool_janitor(Pool *p, uint64_t now_ms);

/* After RESUME: waiting clients get the idle servers, and new ones are opened. */
void pool_resume_all(void);

/* Applies a new Config to every pool (sizes, modes, database entries). */
void pool_reload_all(void);

/* Closes every server connection (shutdown / KILL). */
void pool_close_servers(Pool *p);

#endif
