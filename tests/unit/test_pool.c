/*
 * test_pool: pool.c's state changes. A client's or server's state and the pool list it is in
 * always go together, changed by pool_change_client_state / pool_change_server_state only; a
 * client that asks for a server gets an idle one (both become active) or waits in FIFO order;
 * a released server goes back idle, or to the first waiting client; PAUSE keeps servers from
 * clients until RESUME; how many servers a pool may open under pool_size, the reserve,
 * max_db_connections and max_user_connections.
 *
 * The objects are built by hand, without sockets: a Client's Conn is marked closing, so that
 * conn_resume (called when a waiting client gets its server) has nothing to read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/client.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"
#include "proxy/server.h"

typedef struct Fixture {
	Config cfg;
	DbEntry db;
	Pool *pool;
	Client clients[3];
	Server servers[3];
} Fixture;

static int setup(void **state)
{
	Fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	memset(&G, 0, sizeof(G));
	G.cfg = &f->cfg;
	list_init(&G.pools);
	list_init(&G.clients);
	list_init(&G.servers);
	/* one database in transaction pooling, of size 0: no server is ever launched, as there
	 * is no PostgreSQL here */
	f->db.name = "db";
	f->db.pool_mode = POOL_TRANSACTION;
	f->cfg.dbs = &f->db;
	f->cfg.n_dbs = 1;
	const char *err = NULL;
	f->pool = pool_get("db", "app", &err);
	if (!f->pool)
		return -1;
	for (int i = 0; i < 3; i++) {
		Client *c = &f->clients[i];
		c->pool = f->pool;
		c->conn.closing = true;
		list_node_init(&c->pool_node);
		Server *s = &f->servers[i];
		s->pool = f->pool;
		list_node_init(&s->pool_node);
		s->tx_state = PQ_TX_IDLE;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fixture *f = *state;
	for (int i = 0; i < 3; i++) {
		varcache_free(&f->clients[i].params);
		varcache_free(&f->servers[i].params);
		free(f->servers[i].queue); /* a ROLLBACK recorded by pool_release */
		free(f->servers[i].texts);
	}
	proxy_free_pools();
	if (!pool_pause(NULL, false)) /* forgets databases paused one by one */
		return -1;
	free(f);
	return 0;
}

/* Client 0 logged in without a server, server 0 idle: the usual start. */
static Client *idle_pair(Fixture *f)
{
	pool_change_server_state(&f->servers[0], SV_IDLE);
	pool_change_client_state(&f->clients[0], CL_IDLE);
	return &f->clients[0];
}

/* The n-th element of a list of clients. */
static Client *client_at(List *l, size_t n)
{
	ListNode *node = l->head.next;
	while (n-- && node != &l->head)
		node = node->next;
	return node == &l->head ? NULL : list_entry(node, Client, pool_node);
}

static void test_pool_client_state_picks_list(void **state)
{
	Fixture *f = *state;
	Pool *p = f->pool;
	Client *c = &f->clients[0];
	static const struct {
		ClientState st;
		size_t login, waiting, active;
	} steps[] = {
		{CL_STARTUP, 0, 0, 0}, {CL_AUTH, 0, 0, 0},    {CL_LOGIN_WAIT, 1, 0, 0},
		{CL_IDLE, 0, 0, 1},    {CL_WAITING, 0, 1, 0}, {CL_ACTIVE, 0, 0, 1},
		{CL_IDLE, 0, 0, 1},    {CL_CLOSING, 0, 0, 0},
	};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		pool_change_client_state(c, steps[i].st);
		assert_int_equal(c->state, steps[i].st);
		assert_int_equal(p->login_clients.count, steps[i].login);
		assert_int_equal(p->waiting_clients.count, steps[i].waiting);
		assert_int_equal(p->active_clients.count, steps[i].active);
		if (steps[i].login + steps[i].waiting + steps[i].active == 0)
			assert_null(c->list);
	}
}

static void test_pool_server_state_picks_list(void **state)
{
	Fixture *f = *state;
	Pool *p = f->pool;
	Server *s = &f->servers[0];
	static const ServerState order[] = {SV_CONNECTING, SV_LOGIN, SV_IDLE,
					    SV_ACTIVE,	   SV_USED,  SV_CLOSING};
	List *want[] = {&p->login_servers,  &p->login_servers, &p->idle_servers,
			&p->active_servers, &p->used_servers,  NULL};
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		pool_change_server_state(s, order[i]);
		assert_int_equal(s->state, order[i]);
		assert_ptr_equal(s->list, want[i]);
		size_t total = p->login_servers.count + p->idle_servers.count +
			       p->active_servers.count + p->used_servers.count;
		assert_int_equal(total, want[i] ? 1 : 0);
	}
}

/* A state that belongs in the list the client is already in does not move it to the end:
 * active_clients keeps the order clients logged in. */
static void test_pool_same_list_keeps_order(void **state)
{
	Fixture *f = *state;
	Pool *p = f->pool;
	for (int i = 0; i < 3; i++)
		pool_change_client_state(&f->clients[i], CL_IDLE);
	pool_change_client_state(&f->clients[0], CL_ACTIVE);
	assert_ptr_equal(client_at(&p->active_clients, 0), &f->clients[0]);
	assert_ptr_equal(client_at(&p->active_clients, 2), &f->clients[2]);
	/* waiting is FIFO: a client that waits goes behind those already waiting */
	pool_change_client_state(&f->clients[2], CL_WAITING);
	pool_change_client_state(&f->clients[0], CL_WAITING);
	assert_ptr_equal(client_at(&p->waiting_clients, 0), &f->clients[2]);
	assert_ptr_equal(client_at(&p->waiting_clients, 1), &f->clients[0]);
}

static void test_pool_acquire_links_an_idle_server(void **state)
{
	Fixture *f = *state;
	Pool *p = f->pool;
	Client *c = idle_pair(f);
	Server *s = &f->servers[0];
	assert_true(pool_acquire(p, c));
	assert_int_equal(c->state, CL_ACTIVE);
	assert_int_equal(s->state, SV_ACTIVE);
	assert_ptr_equal(c->server, s);
	assert_ptr_equal(s->client, c);
	assert_ptr_equal(s->list, &p->active_servers);
	assert_ptr_equal(c->list, &p->active_clients);
	assert_int_equal(p->idle_servers.count, 0);

	/* the end of its transaction: the server goes back idle, the client keeps its place */
	pool_release(p, s, false);
	assert_null(c->server);
	assert_null(s->client);
	assert_int_equal(s->state, SV_IDLE);
	assert_ptr_equal(s->list, &p->idle_servers);
	assert_true(p->have_welcome);
}

static void test_pool_acquire_queues_then_serves_in_order(void **state)
{
	Fixture *f = *state;
	Pool *p = f->pool;
	Server *s = &f->servers[0];
	for (int i = 0; i < 3; i++) {
		pool_change_client_state(&f->clients[i], CL_IDLE);
		assert_false(pool_acquire(p, &f->clients[i]));
		assert_int_equal(f->clients[i].state, CL_WAITING);
		assert_true(f->clients[i].wait_start_ms > 0);
	}
	assert_int_equal(p->waiting_clients.count, 3);
	assert_int_equal(p->login_servers.count, 0); /* size 0: nothing launched */

	/* a server ready (logged in, or released) goes to the first waiter */
	pool_change_server_state(s, SV_LOGIN);
	pool_server_ready(p, s);
	assert_int_equal(s->state, SV_ACTIVE);
	assert_ptr_equal(s->client, &f->clients[0]);
	assert_int_equal(f->clients[0].state, CL_ACTIVE);
	assert_int_equal(f->clients[0].wait_start_ms, 0);
	assert_int_equal(p->waiting_clients.count, 2);

	/* released, it goes to the next one, never back to idle while clients wait */
	pool_release(p, s, false);
	assert_ptr_equal(s->client, &f->clients[1]);
	assert_int_equal(f->clients[1].state, CL_ACTIVE);
	assert_int_equal(f->clients[0].state, CL_ACTIVE); /* server.c sets CL_IDLE itself */
	assert_int_equal(p->idle_servers.count, 0);
	assert_int_equal(p->waiting_clients.count, 1);
}

/* A server whose transaction is still open goes to used_servers for its ROLLBACK. */
static void test_pool_release_busy_transaction(void **state)
{
	Fixture *f = *state;
	Pool *p = f->pool;
	Server *s = &f->servers[0];
	assert_true(pool_acquire(p, idle_pair(f)));
	s->tx_state = PQ_TX_IN_BLOCK;
	s->conn.closing = true; /* the ROLLBACK is not sent anywhere */
	pool_release(p, s, false);
	/* the send failed (no socket): the server is closed rather than reused */
	assert_int_equal(s->state, SV_CLOSING);
	assert_null(s->list);
}

static void test_pool_pause_keeps_servers(void **state)
{
	Fixture *f = *state;
	Pool *p = f->pool;
	Client *c = idle_pair(f);
	Server *s = &f->servers[0];
	assert_true(pool_pause("db", true));
	assert_true(pool_is_paused("db"));
	assert_false(pool_is_paused("other"));
	assert_false(pool_acquire(p, c));
	assert_int_equal(c->state, CL_WAITING);
	assert_int_equal(s->state, SV_IDLE);
	/* RESUME of another database changes nothing here */
	assert_true(pool_pause("other", false));
	assert_int_equal(c->state, CL_WAITING);
	assert_true(pool_pause("db", false));
	assert_false(pool_is_paused("db"));
	assert_int_equal(c->state, CL_ACTIVE);
	assert_ptr_equal(c->server, s);

	/* PAUSE of every database */
	assert_true(pool_pause(NULL, true));
	assert_true(G.paused);
	assert_true(pool_is_paused("anything"));
	assert_true(pool_pause(NULL, false));
	assert_false(pool_is_paused("anything"));
}

/* n hand-built servers of pool p in state st. */
static void add_servers(Server *s, size_t n, Pool *p, ServerState st)
{
	for (size_t i = 0; i < n; i++) {
		s[i].pool = p;
		list_node_init(&s[i].pool_node);
		pool_change_server_state(&s[i], st);
	}
}

/* max_db_connections counts the servers of every pool (user) of a database, in any state;
 * a database's own value wins over the global one. */
static void test_pool_room_max_db_connections(void **state)
{
	Fixture *f = *state;
	Pool *a = f->pool;
	f->cfg.max_db_connections = 3;
	a->size = 2;
	const char *err = NULL;
	Pool *b = pool_get("db", "other", &err);
	assert_non_null(b);
	b->size = 2;
	assert_int_equal(pool_launch_room(b, 1000, NULL), 2);
	pool_change_server_state(&f->servers[0], SV_IDLE);
	pool_change_server_state(&f->servers[1], SV_LOGIN);
	assert_int_equal(pool_db_server_count(b), 2);
	bool by_limit = false;
	assert_int_equal(pool_launch_room(b, 1000, &by_limit), 1);
	assert_true(by_limit);
	pool_change_server_state(&f->servers[2], SV_ACTIVE);
	assert_int_equal(pool_launch_room(b, 1000, &by_limit), 0);
	assert_true(by_limit);
	/* the pool's own size is not a limit in this sense */
	assert_int_equal(pool_launch_room(a, 1000, &by_limit), 0);
	assert_false(by_limit);
	/* the [databases] line's max_db_connections overrides the global one */
	f->db.max_db_connections = 4;
	assert_int_equal(pool_launch_room(b, 1000, NULL), 1);
	f->cfg.max_db_connections = 0;
	f->db.max_db_connections = 0;
	assert_int_equal(pool_launch_room(b, 1000, NULL), 2);
	/* a closed server frees its place */
	f->cfg.max_db_connections = 3;
	pool_change_server_state(&f->servers[2], SV_CLOSING);
	assert_int_equal(pool_launch_room(b, 1000, NULL), 1);
}

/* max_user_connections counts a server user's servers over every database; a [users] line's
 * value (even for a user without an auth_file line) wins over the global one. */
static void test_pool_room_max_user_connections(void **state)
{
	Fixture *f = *state;
	DbEntry dbs[2] = {f->db, f->db};
	dbs[1].name = "db2";
	f->cfg.dbs = dbs;
	f->cfg.n_dbs = 2;
	f->pool->db = &dbs[0];
	f->pool->size = 5;
	const char *err = NULL;
	Pool *b = pool_get("db2", "app", &err);
	Pool *other = pool_get("db2", "other", &err);
	assert_non_null(b);
	assert_non_null(other);
	b->size = 5;
	other->size = 5;
	f->cfg.max_user_connections = 2;
	pool_change_server_state(&f->servers[0], SV_ACTIVE);
	assert_int_equal(pool_user_server_count(b), 1);
	assert_int_equal(pool_launch_room(b, 1000, NULL), 1);
	pool_change_server_state(&f->servers[1], SV_USED);
	assert_int_equal(pool_launch_room(b, 1000, NULL), 0);
	assert_int_equal(pool_launch_room(other, 1000, NULL), 2); /* another user */
	UserEntry u = {.name = "app", .max_user_connections = 3};
	f->cfg.users = &u;
	f->cfg.n_users = 1;
	assert_int_equal(pool_launch_room(b, 1000, NULL), 1);
	u.max_user_connections = 0; /* unlimited for this user */
	assert_int_equal(pool_launch_room(b, 1000, NULL), 5);
	u.max_user_connections = -1; /* not set: the global one */
	assert_int_equal(pool_launch_room(b, 1000, NULL), 0);
	f->cfg.users = NULL;
	f->cfg.n_users = 0;
	f->cfg.dbs = &f->db;
	f->cfg.n_dbs = 1;
}

/* The reserve: once the first waiting client waited reserve_pool_timeout, reserve_pool more
 * servers than pool_size, and not before; still within max_db_connections. */
static void test_pool_room_reserve_after_timeout(void **state)
{
	Fixture *f = *state;
	Pool *p = f->pool;
	p->size = 1;
	f->cfg.reserve_pool_size = 2;
	f->cfg.reserve_pool_timeout = 200;
	f->db.reserve_pool = -1; /* the global reserve_pool_size */
	pool_change_server_state(&f->servers[0], SV_ACTIVE);
	assert_int_equal(pool_launch_room(p, 5000, NULL), 0); /* nobody waits */
	Client *c = &f->clients[0];
	c->wait_start_ms = 1000;
	pool_change_client_state(c, CL_WAITING);
	assert_int_equal(pool_launch_room(p, 1199, NULL), 0);
	assert_int_equal(pool_launch_room(p, 1200, NULL), 2);
	add_servers(&f->servers[1], 2, p, SV_LOGIN);
	assert_int_equal(pool_launch_room(p, 1300, NULL), 0);
	pool_change_server_state(&f->servers[2], SV_CLOSING);
	assert_int_equal(pool_launch_room(p, 1300, NULL), 1);
	/* the database's reserve_pool overrides reserve_pool_size */
	f->db.reserve_pool = 0;
	assert_int_equal(pool_launch_room(p, 1300, NULL), 0);
	f->db.reserve_pool = 3;
	assert_int_equal(pool_launch_room(p, 1300, NULL), 2);
	f->cfg.max_db_connections = 3;
	bool by_limit = false;
	assert_int_equal(pool_launch_room(p, 1300, &by_limit), 1);
	assert_true(by_limit);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pool_client_state_picks_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_server_state_picks_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_same_list_keeps_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_acquire_links_an_idle_server, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_acquire_queues_then_serves_in_order,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_release_busy_transaction, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_pause_keeps_servers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_room_max_db_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_room_max_user_connections, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_room_reserve_after_timeout, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
