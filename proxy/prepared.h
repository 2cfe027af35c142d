/*
 * prepared: protocol-level named prepared statements that survive transaction pooling.
 *
 * A statement is known by its text and parameter types. The registry interns each distinct one
 * once (PreparedStmt, refcounted by the clients that name it) and gives it a number; on a server
 * it is prepared under pgsift's own name "PGSIFT_<number>", so clients' names never collide on
 * a shared server. Each server keeps the set of statements it has (ServerStmts), bounded by
 * max_prepared_statements with least-recently-used eviction.
 */
#ifndef PGSIFT_PREPARED_H
#define PGSIFT_PREPARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/list.h"
#include "proxy/namemap.h"

typedef struct PreparedStmt {
	struct PreparedStmt *next; /* hash chain */
	uint64_t id;               /* server-side name PGSIFT_<id>; never reused */
	uint64_t hash;
	uint32_t refs;             /* client names (and requests in flight) pointing at it */
	uint32_t gen;              /* bumped when its result shape was seen to change: servers
				    * that prepared an older generation prepare it anew */
	uint32_t query_len;
	uint32_t types_len;
	char *query;               /* NUL-terminated, inside this allocation */
	uint8_t *types;            /* Parse's parameter-type part (int16 n, n x int32) */
	char server_name[32];      /* "PGSIFT_<id>" */
} PreparedStmt;

/* The statement for (query, types), created or shared; returns it with one more reference. */
PreparedStmt *prepared_intern(const char *query, size_t query_len, const uint8_t *types,
			      size_t types_len);
void prepared_ref(PreparedStmt *st);
void prepared_unref(PreparedStmt *st);
size_t prepared_count(void);

/* A client's names -> statements: a NameMap holding one reference per name. */
typedef NameMap ClientStmts;
ClientStmts *client_stmts_new(void);
void client_stmts_free(ClientStmts *m);
/* Takes a reference of its own. False when memory ran out. */
bool client_stmts_put(ClientStmts *m, const char *name, PreparedStmt *st)
	__attribute__((warn_unused_result));
PreparedStmt *client_stmts_get(const ClientStmts *m, const char *name);
void client_stmts_remove(ClientStmts *m, const char *name);
void client_stmts_clear(ClientStmts *m);
size_t client_stmts_count(const ClientStmts *m);

/* The statements one server has prepared under pgsift's names, most recently used last. */
typedef struct ServerStmts {
	struct ServerStmtNode **buckets;
	size_t n_buckets;
	size_t count;
	List lru;
} ServerStmts;

void server_stmts_init(ServerStmts *s);
void server_stmts_free(ServerStmts *s);
/* Whether the server has it; marks it most recently used. */
bool server_stmts_has(ServerStmts *s, uint64_t id);
/* The same, telling a statement whose Parse is still in flight (SS_PENDING: it may yet be
 * skipped after an error) from one the server confirmed with ParseComplete (SS_READY). */
enum { SS_NONE = 0, SS_PENDING, SS_READY };
int server_stmts_state(ServerStmts *s, uint64_t id);
/* As server_stmts_state, but a pending statement counts as ready for the one client name that
 * sent its Parse: if that Parse is skipped after an error, PostgreSQL would fail that name's
 * Bind just the same, whereas another name relying on it would wrongly fail. */
int server_stmts_state_for(ServerStmts *s, uint64_t id, const void *owner, const char *name);
/* Who sent the pending Parse (see server_stmts_state_for). */
void server_stmts_set_owner(ServerStmts *s, uint64_t id, const void *owner, const char *name);
void server_stmts_confirm(ServerStmts *s, uint64_t id);
/* The statement's plan on this server went stale (PostgreSQL answered 0A000 "cached plan must
 * not change result type"): it counts as pending again, so that it is closed and prepared anew
 * before it is used. */
void server_stmts_unconfirm(ServerStmts *s, uint64_t id);
/* The result shape (pkt_result_shape) the server described for it: 0 while not known. */
uint64_t server_stmts_shape(ServerStmts *s, uint64_t id);
void server_stmts_set_shape(ServerStmts *s, uint64_t id, uint64_t shape);
/* The statement's generation (PreparedStmt.gen) this server prepared; a READY statement of an
 * older one is made pending again (stale after a schema change seen elsewhere). */
void server_stmts_set_gen(ServerStmts *s, uint64_t id, uint32_t gen);
uint32_t server_stmts_gen(ServerStmts *s, uint64_t id);
/* Records it as pending (the caller sends the Parse). False when memory ran out. */
bool server_stmts_add(ServerStmts *s, uint64_t id) __attribute__((warn_unused_result));
void server_stmts_remove(ServerStmts *s, uint64_t id);
/* Removes and returns the least recently used id (0 when empty). */
uint64_t server_stmts_pop_lru(ServerStmts *s);
void server_stmts_clear(ServerStmts *s);

#endif
