/*
 * test_server: server.c's queue of outstanding requests. Each request recorded with
 * server_expect is closed by the response that belongs to it (ParseComplete a Parse,
 * CommandComplete an Execute, ReadyForQuery a Query or Sync), in order, whatever the ring's
 * wrapping and growth; an error in the extended protocol drops what the server skips up to the
 * Sync; and a server with nothing outstanding at ReadyForQuery 'I' goes back to the pool.
 *
 * A real Server comes from server_launch towards a Unix socket that does not exist: its frames
 * are handed to it here (its Conn's on_frame) before the loop ever runs, and every request is
 * pgsift's own (PF_INJECTED), so nothing is forwarded anywhere.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/log.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"
#include "proxy/server.h"

typedef struct Fixture {
	uv_loop_t loop;
	Config *cfg;
	Pool *pool;
	Server *s;
	char dir[64];
} Fixture;

static int setup(void **state)
{
	Fixture *f = calloc(1, sizeof(*f));
	char path[128], err[512];
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/pgsift-test-server-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(path, sizeof(path), "%s/pgsift.ini", f->dir);
	FILE *ini = fopen(path, "w");
	if (!ini)
		return -1;
	/* nothing listens on that socket: the connect never completes before the test ends */
	fprintf(ini,
		"[pgsift]\nlog_level = fatal\ntrack_statements = 0\n"
		"[databases]\ndb = host=%s/nowhere port=1\n",
		f->dir);
	fclose(ini);
	ConfigArgs args;
	memset(&args, 0, sizeof(args));
	args.config_file = path;
	f->cfg = config_load(&args, err, sizeof(err));
	if (!f->cfg) {
		fprintf(stderr, "test_server: %s\n", err);
		return -1;
	}
	log_set_level(LL_FATAL);
	uv_loop_init(&f->loop);
	proxy_init(f->cfg, &f->loop);
	const char *why = NULL;
	f->pool = pool_get("db", "app", &why);
	if (!f->pool)
		return -1;
	f->pool->size = 0; /* no server of the pool's own: only the one launched here */
	f->s = server_launch(f->pool);
	if (!f->s)
		return -1;
	/* as after a release: pgsift's reset queries are outstanding */
	pool_change_server_state(f->s, SV_USED);
	f->s->tx_state = PQ_TX_IDLE;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fixture *f = *state;
	server_close(f->s, "test over");
	uv_run(&f->loop, UV_RUN_DEFAULT); /* close callbacks free the server */
	proxy_free_pools();
	assert_int_equal(uv_loop_close(&f->loop), 0);
	config_free(f->cfg);
	char path[128];
	snprintf(path, sizeof(path), "%s/pgsift.ini", f->dir);
	unlink(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Hands the server one backend message, as conn.c would once it is whole in the buffer. */
static void feed(Server *s, uint8_t type, const void *payload, size_t len)
{
	uint8_t frame[256];
	assert_true(len + 5 <= sizeof(frame));
	frame[0] = type;
	uint32_t n = (uint32_t)(len + 4);
	frame[1] = (uint8_t)(n >> 24);
	frame[2] = (uint8_t)(n >> 16);
	frame[3] = (uint8_t)(n >> 8);
	frame[4] = (uint8_t)n;
	if (len)
		memcpy(frame + 5, payload, len);
	PktHdr hdr = {.type = type, .len = (uint32_t)(len + 5), .hdr_len = 5};
	s->conn.frame_avail = hdr.len;
	(void)s->conn.on_frame(&s->conn, &hdr, frame, true);
}

static void feed_ready(Server *s, char tx)
{
	feed(s, PQ_MSG_READY_FOR_QUERY, &tx, 1);
}

static void expect(Server *s, uint8_t type, const char *text)
{
	Pending *p = server_expect(s, type, PF_INJECTED, text, text ? strlen(text) : 0);
	assert_non_null(p);
	assert_int_equal(p->type, type);
}

/* The i-th outstanding request, front first. */
static const Pending *at(const Server *s, uint32_t i)
{
	assert_true(i < s->q_len);
	return &s->queue[(s->q_head + i) % s->q_cap];
}

static const char *text_of(const Server *s, const Pending *p)
{
	static char buf[64];
	snprintf(buf, sizeof(buf), "%.*s", (int)p->text_len, (const char *)s->texts + p->text_off);
	return buf;
}

static void test_server_queue_extended_in_order(void **state)
{
	Fixture *f = *state;
	Server *s = f->s;
	assert_true(server_is_quiet(s));
	expect(s, PQ_MSG_PARSE, "SELECT $1");
	expect(s, PQ_MSG_BIND, NULL);
	expect(s, PQ_MSG_EXECUTE, "SELECT $1");
	expect(s, PQ_MSG_SYNC, NULL);
	assert_int_equal(s->q_len, 4);
	feed(s, PQ_MSG_PARSE_COMPLETE, NULL, 0);
	assert_int_equal(s->q_len, 3);
	assert_int_equal(at(s, 0)->type, PQ_MSG_BIND);
	feed(s, PQ_MSG_BIND_COMPLETE, NULL, 0);
	assert_int_equal(at(s, 0)->type, PQ_MSG_EXECUTE);
	/* rows do not close anything; CommandComplete closes the Execute */
	feed(s, PQ_MSG_DATA_ROW, "\0\0", 2);
	assert_int_equal(s->q_len, 2);
	feed(s, PQ_MSG_COMMAND_COMPLETE, "SELECT 1", 9);
	assert_int_equal(s->q_len, 1);
	assert_int_equal(at(s, 0)->type, PQ_MSG_SYNC);
	assert_int_equal(s->state, SV_USED);
	/* ReadyForQuery closes the Sync: nothing outstanding, idle, back to the pool */
	feed_ready(s, PQ_TX_IDLE);
	assert_true(server_is_quiet(s));
	assert_int_equal(s->state, SV_IDLE);
	assert_ptr_equal(s->list, &f->pool->idle_servers);
}

/* A simple query with several statements: each CommandComplete counts one, ReadyForQuery ends
 * it. */
static void test_server_queue_simple_query(void **state)
{
	Fixture *f = *state;
	Server *s = f->s;
	expect(s, PQ_MSG_QUERY, "BEGIN; SELECT 1");
	feed(s, PQ_MSG_COMMAND_COMPLETE, "BEGIN", 6);
	assert_int_equal(s->q_len, 1);
	assert_int_equal(at(s, 0)->stmt_index, 1);
	feed(s, PQ_MSG_COMMAND_COMPLETE, "SELECT 1", 9);
	assert_int_equal(at(s, 0)->stmt_index, 2);
	/* in a transaction: the server stays where it is */
	feed_ready(s, PQ_TX_IN_BLOCK);
	assert_true(server_is_quiet(s));
	assert_int_equal(s->tx_state, PQ_TX_IN_BLOCK);
	assert_int_equal(s->state, SV_CLOSING); /* a reset that leaves a transaction: closed */
}

/* The ring wraps and grows (16, 32, 64 entries) and keeps the order and each entry's text. */
static void test_server_queue_grows_in_order(void **state)
{
	Fixture *f = *state;
	Server *s = f->s;
	char text[32];
	for (int i = 0; i < 10; i++) {
		snprintf(text, sizeof(text), "q%d", i);
		expect(s, PQ_MSG_QUERY, text);
	}
	for (int i = 0; i < 6; i++)
		feed_ready(s, PQ_TX_IDLE);
	assert_int_equal(s->q_len, 4);
	assert_int_equal(s->q_head, 6); /* the next ones wrap around the end of the ring */
	for (int i = 10; i < 50; i++) {
		snprintf(text, sizeof(text), "q%d", i);
		expect(s, PQ_MSG_QUERY, text);
	}
	assert_int_equal(s->q_len, 44);
	assert_int_equal(s->q_cap, 64);
	for (uint32_t i = 0; i < s->q_len; i++) {
		snprintf(text, sizeof(text), "q%u", i + 6);
		assert_string_equal(text_of(s, at(s, i)), text);
	}
	for (int i = 0; i < 43; i++)
		feed_ready(s, PQ_TX_IDLE);
	assert_int_equal(s->q_len, 1);
	assert_string_equal(text_of(s, at(s, 0)), "q49");
	feed_ready(s, PQ_TX_IDLE);
	assert_true(server_is_quiet(s));
	assert_int_equal(s->state, SV_IDLE);
}

/* After an ErrorResponse in the extended protocol the server skips to the Sync: so does the
 * queue. */
static void test_server_queue_error_skips_to_sync(void **state)
{
	Fixture *f = *state;
	Server *s = f->s;
	static const char error[] = "SERROR\0C42P01\0Mrelation \"t\" does not exist\0";
	expect(s, PQ_MSG_PARSE, "SELECT * FROM t");
	expect(s, PQ_MSG_BIND, NULL);
	expect(s, PQ_MSG_EXECUTE, "SELECT * FROM t");
	expect(s, PQ_MSG_SYNC, NULL);
	feed(s, PQ_MSG_ERROR_RESPONSE, error, sizeof(error));
	assert_int_equal(s->q_len, 1);
	assert_int_equal(at(s, 0)->type, PQ_MSG_SYNC);
	assert_false(s->ext_error); /* the Sync is already on its way: nothing more is skipped */
	feed_ready(s, PQ_TX_IDLE);
	assert_true(server_is_quiet(s));
	assert_int_equal(s->state, SV_IDLE);

	/* without a Sync yet, the messages still to come are skipped until the client's Sync */
	expect(s, PQ_MSG_PARSE, "SELECT * FROM t");
	expect(s, PQ_MSG_BIND, NULL);
	feed(s, PQ_MSG_ERROR_RESPONSE, error, sizeof(error));
	assert_true(server_is_quiet(s));
	assert_true(s->ext_error);
	server_client_sync(s);
	assert_false(s->ext_error);
}

/* What a client's cancel may hit: only a request of the client's own, not pgsift's, nor an
 * answer pgsift gives itself. */
static void test_server_runs_client_request(void **state)
{
	Fixture *f = *state;
	Server *s = f->s;
	assert_false(server_runs_client_request(s));
	expect(s, PQ_MSG_QUERY, "DISCARD ALL");
	/* (answered at once when nothing is ahead of it; here it waits for the DISCARD) */
	assert_true(server_expect_local(s, PL_CLOSE_COMPLETE, NULL));
	assert_false(server_runs_client_request(s));
	assert_non_null(server_expect(s, PQ_MSG_QUERY, 0, "SELECT pg_sleep(1)", 18));
	assert_true(server_runs_client_request(s));
	assert_int_equal(s->q_len, 3);
	assert_int_equal(at(s, 1)->local, PL_CLOSE_COMPLETE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_server_queue_extended_in_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_server_queue_simple_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_queue_grows_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_queue_error_skips_to_sync, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_server_runs_client_request, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
