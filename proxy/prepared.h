/*
 * prepared: protocol-level named prepared statements that survive transaction pooling.
 *
 * A statement is known by its text and parameter types. The registry interns each distinct one
 * once (PreparedStmt, refcounted by the clients that name it) and gives it a number; on a server
 * it is prepared under pgsift's own name "PGSIFT_<number>", so clients' names never collide on
 * a shared server. Each client keeps its names for them (PreparedNames, prepared_names_*);
 * each server keeps the set of statements it has (PreparedSet, prepared_set_*), bounded by
 * max_prepared_statements with least-recently-used eviction. What a client's Parse, Bind,
 * Describe and Close do with them is in client_prepared.c.
 */
#ifndef PGSIFT_PREPARED_H
#define PGSIFT_PREPARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/list.h"
#include "proxy/namemap.h"

typedef struct PreparedStmt {
	struct PreparedStmt *next; /* hash chain */
	uint64_t id;		   /* server-side name PGSIFT_<id>; never reused */
	uint64_t hash;
	uint32_t refs; /* client names (and requests in flight) pointing at it */
	uint32_t gen;  /* bumped when its result shape was seen to change: servers
				    * that prepared an older generation prepare it anew */
	uint32_t query_len;
	uint32_t types_len;
	char *query;	      /* NUL-terminated, inside this allocation */
	uint8_t *types;	      /* Parse's parameter-type part (int16 n, n x int32) */
	char server_name[32]; /* "PGSIFT_<id>" */
} PreparedStmt;

/* The statement for (query, types), created or shared; returns it with one more reference. */
PreparedStmt *prepared_intern(const char *query, size_t query_len, const uint8_t *types,
			      size_t types_len);
void prepared_ref(PreparedStmt *st);
void prepared_unref(PreparedStmt *st);
size_t prepared_count(void);

/* A client's names -> statements: a NameMap holding one reference per name. */
typedef NameMap PreparedNames;
PreparedNames *prepared_names_new(void);
void prepared_names_free(PreparedNames *m);
/* Takes a reference of its own. False when memory ran out. */
bool prepared_names_put(PreparedNames *m, const char *name, PreparedStmt *st)
	__attribute__((warn_unused_result));
PreparedStmt *prepared_names_get(const PreparedNames *m, const char *name);
void prepared_names_remove(PreparedNames *m, const char *name);
void prepared_names_clear(PreparedNames *m);
size_t prepared_names_count(const PreparedNames *m);

/* The statements one server has prepared under pgsift's names, most recently used last. */
typedef struct PreparedSet {
	struct PreparedSetNode **buckets;
	size_t n_buckets;
	size_t count;
	List lru;
} PreparedSet;

void prepared_set_init(PreparedSet *s);
void prepared_set_free(PreparedSet *s);
/* Whether the server has it; marks it most recently used. */
bool prepared_set_has(PreparedSet *s, uint64_t id);
/* The same, telling a statement whose Parse is still in flight (SS_PENDING: it may yet be
 * skipped after an error) from one the server confirmed with ParseComplete (SS_READY). */
enum { SS_NONE = 0, SS_PENDING, SS_READY };
int prepared_set_state(PreparedSet *s, uint64_t id);
/* As prepared_set_state, but a pending statement counts as ready for the one client name that
 * sent its Parse: if that Parse is skipped after an error, PostgreSQL would fail that name's
 * Bind just the same, whereas another name relying on it would wrongly fail. */
int prepared_set_state_for(PreparedSet *s, uint64_t id, const void *owner, const char *name);
/* Who sent the pending Parse (see prepared_set_state_for). */
void prepared_set_set_owner(PreparedSet *s, uint64_t id, const void *owner, const char *name);
void prepared_set_confirm(PreparedSet *s, uint64_t id);
/* The statement's plan on this server went stale (PostgreSQL answered 0A000 "cached plan must
 * not change result type"): it counts as pending again, so that it is closed and prepared anew
 * before it is used. */
void prepared_set_unconfirm(PreparedSet *s, uint64_t id);
/* The result shape (pkt_result_shape) the server described for it: 0 while not known. */
uint64_t prepared_set_shape(PreparedSet *s, uint64_t id);
void prepared_set_set_shape(PreparedSet *s, uint64_t id, uint64_t shape);
/* The statement's generation (PreparedStmt.gen) this server prepared; a READY statement of an
 * older one is made pending again (stale after a schema change seen elsewhere). */
void prepared_set_set_gen(PreparedSet *s, uint64_t id, uint32_t gen);
uint32_t prepared_set_gen(PreparedSet *s, uint64_t id);
/* Records it as pending (the caller sends the Parse). False when memory ran out. */
bool prepared_set_add(PreparedSet *s, uint64_t id) __attribute__((warn_unused_result));
void prepared_set_remove(PreparedSet *s, uint64_t id);
/* Removes and returns the least recently used id (0 when empty). */
uint64_t prepared_set_pop_lru(PreparedSet *s);
void prepared_set_clear(PreparedSet *s);

#endif
