/* prepared: see prepared.h. Three small chained hash tables; names and ids are looked up per
 * Parse / Bind / Describe, so all three are O(1). */
#include "proxy/prepared.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* ---- the registry ---- */

static PreparedStmt **reg_buckets;
static size_t reg_n_buckets;
static size_t reg_count;
static uint64_t reg_next_id = 1;

static uint64_t prepared_hash(const char *q, size_t ql, const uint8_t *t, size_t tl)
{
	return XXH3_64bits_withSeed(t, tl, XXH3_64bits(q, ql));
}

static bool reg_grow(void)
{
	size_t n = reg_n_buckets ? reg_n_buckets * 2 : 256;
	PreparedStmt **b = calloc(n, sizeof(*b));
	if (!b)
		return false;
	for (size_t i = 0; i < reg_n_buckets; i++) {
		PreparedStmt *e = reg_buckets[i];
		while (e) {
			PreparedStmt *next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
			e = next;
		}
	}
	free(reg_buckets);
	reg_buckets = b;
	reg_n_buckets = n;
	return true;
}

PreparedStmt *prepared_intern(const char *query, size_t query_len, const uint8_t *types,
			      size_t types_len)
{
	if (!reg_buckets && !reg_grow())
		return NULL;
	uint64_t h = prepared_hash(query, query_len, types, types_len);
	for (PreparedStmt *e = reg_buckets[h & (reg_n_buckets - 1)]; e; e = e->next) {
		if (e->hash == h && e->query_len == query_len && e->types_len == types_len &&
		    memcmp(e->query, query, query_len) == 0 &&
		    memcmp(e->types, types, types_len) == 0) {
			e->refs++;
			return e;
		}
	}
	PreparedStmt *st = malloc(sizeof(*st) + query_len + 1 + types_len);
	if (!st)
		return NULL;
	st->hash = h;
	st->id = reg_next_id++;
	st->refs = 1;
	st->gen = 0;
	st->query = (char *)(st + 1);
	memcpy(st->query, query, query_len);
	st->query[query_len] = '\0';
	st->query_len = (uint32_t)query_len;
	st->types = (uint8_t *)st->query + query_len + 1;
	memcpy(st->types, types, types_len);
	st->types_len = (uint32_t)types_len;
	snprintf(st->server_name, sizeof(st->server_name), "PGSIFT_%llu",
		 (unsigned long long)st->id);
	st->next = reg_buckets[h & (reg_n_buckets - 1)];
	reg_buckets[h & (reg_n_buckets - 1)] = st;
	if (++reg_count > reg_n_buckets)
		(void)reg_grow(); /* a longer chain is still correct */
	return st;
}

void prepared_ref(PreparedStmt *st)
{
	st->refs++;
}

void prepared_unref(PreparedStmt *st)
{
	if (--st->refs > 0)
		return;
	PreparedStmt **pp = &reg_buckets[st->hash & (reg_n_buckets - 1)];
	while (*pp != st)
		pp = &(*pp)->next;
	*pp = st->next;
	reg_count--;
	free(st);
}

size_t prepared_count(void)
{
	return reg_count;
}

/* ---- a client's names ---- */

static void prepared_names_release(void *st)
{
	prepared_unref(st);
}

PreparedNames *prepared_names_new(void)
{
	return namemap_new(prepared_names_release);
}

void prepared_names_free(PreparedNames *m)
{
	namemap_free(m);
}

void prepared_names_clear(PreparedNames *m)
{
	namemap_clear(m);
}

bool prepared_names_put(PreparedNames *m, const char *name, PreparedStmt *st)
{
	prepared_ref(st);
	if (!namemap_put(m, name, st)) {
		prepared_unref(st);
		return false;
	}
	return true;
}

PreparedStmt *prepared_names_get(const PreparedNames *m, const char *name)
{
	return namemap_get(m, name);
}

void prepared_names_remove(PreparedNames *m, const char *name)
{
	namemap_remove(m, name);
}

size_t prepared_names_count(const PreparedNames *m)
{
	return namemap_count(m);
}

/* ---- a server's statements ---- */

typedef struct PreparedSetNode {
	struct PreparedSetNode *next;
	ListNode lru;
	uint64_t id;
	bool confirmed;	    /* ParseComplete seen */
	uint64_t shape;	    /* its result shape as this server described it, 0 if not known */
	uint32_t gen;	    /* the PreparedStmt generation its Parse was sent for */
	const void *owner;  /* the client whose Parse is pending (compared, never dereferenced) */
	uint64_t name_hash; /* and its name for the statement */
} PreparedSetNode;

void prepared_set_init(PreparedSet *s)
{
	memset(s, 0, sizeof(*s));
	list_init(&s->lru);
}

static PreparedSetNode **prepared_set_slot(PreparedSet *s, uint64_t id)
{
	PreparedSetNode **pp = &s->buckets[(id * 0x9E3779B97F4A7C15ull >> 40) & (s->n_buckets - 1)];
	while (*pp && (*pp)->id != id)
		pp = &(*pp)->next;
	return pp;
}

void prepared_set_clear(PreparedSet *s)
{
	for (size_t i = 0; i < s->n_buckets; i++) {
		PreparedSetNode *e = s->buckets[i];
		while (e) {
			PreparedSetNode *next = e->next;
			free(e);
			e = next;
		}
		s->buckets[i] = NULL;
	}
	s->count = 0;
	list_init(&s->lru);
}

void prepared_set_free(PreparedSet *s)
{
	prepared_set_clear(s);
	free(s->buckets);
	prepared_set_init(s);
}

int prepared_set_state(PreparedSet *s, uint64_t id)
{
	if (!s->count)
		return SS_NONE;
	PreparedSetNode *e = *prepared_set_slot(s, id);
	if (!e)
		return SS_NONE;
	list_remove(&s->lru, &e->lru);
	list_append(&s->lru, &e->lru);
	return e->confirmed ? SS_READY : SS_PENDING;
}

static PreparedSetNode *prepared_set_find(PreparedSet *s, uint64_t id)
{
	return s->count ? *prepared_set_slot(s, id) : NULL;
}

int prepared_set_state_for(PreparedSet *s, uint64_t id, const void *owner, const char *name)
{
	int st = prepared_set_state(s, id);
	if (st != SS_PENDING)
		return st;
	PreparedSetNode *e = prepared_set_find(s, id);
	if (e->owner == owner && e->name_hash == XXH3_64bits(name, strlen(name)))
		return SS_READY;
	return SS_PENDING;
}

void prepared_set_set_owner(PreparedSet *s, uint64_t id, const void *owner, const char *name)
{
	PreparedSetNode *e = prepared_set_find(s, id);
	if (!e)
		return;
	e->owner = owner;
	e->name_hash = name ? XXH3_64bits(name, strlen(name)) : 0;
}

bool prepared_set_has(PreparedSet *s, uint64_t id)
{
	return prepared_set_state(s, id) != SS_NONE;
}

void prepared_set_confirm(PreparedSet *s, uint64_t id)
{
	if (!s->count)
		return;
	PreparedSetNode *e = *prepared_set_slot(s, id);
	if (e)
		e->confirmed = true;
}

void prepared_set_unconfirm(PreparedSet *s, uint64_t id)
{
	PreparedSetNode *e = prepared_set_find(s, id);
	if (!e)
		return;
	e->confirmed = false;
	e->owner = NULL;
	e->name_hash = 0;
	e->shape = 0;
}

uint64_t prepared_set_shape(PreparedSet *s, uint64_t id)
{
	PreparedSetNode *e = prepared_set_find(s, id);
	return e && e->confirmed ? e->shape : 0;
}

void prepared_set_set_shape(PreparedSet *s, uint64_t id, uint64_t shape)
{
	PreparedSetNode *e = prepared_set_find(s, id);
	if (e)
		e->shape = shape;
}

void prepared_set_set_gen(PreparedSet *s, uint64_t id, uint32_t gen)
{
	PreparedSetNode *e = prepared_set_find(s, id);
	if (e)
		e->gen = gen;
}

uint32_t prepared_set_gen(PreparedSet *s, uint64_t id)
{
	PreparedSetNode *e = prepared_set_find(s, id);
	return e ? e->gen : 0;
}

static bool prepared_set_grow(PreparedSet *s)
{
	size_t n = s->n_buckets ? s->n_buckets * 2 : 64;
	PreparedSetNode **b = calloc(n, sizeof(*b));
	if (!b)
		return false;
	for (size_t i = 0; i < s->n_buckets; i++) {
		PreparedSetNode *e = s->buckets[i];
		while (e) {
			PreparedSetNode *next = e->next;
			size_t k = (e->id * 0x9E3779B97F4A7C15ull >> 40) & (n - 1);
			e->next = b[k];
			b[k] = e;
			e = next;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->n_buckets = n;
	return true;
}

bool prepared_set_add(PreparedSet *s, uint64_t id)
{
	if (!s->buckets && !prepared_set_grow(s))
		return false;
	if (prepared_set_has(s, id))
		return true;
	PreparedSetNode *e = malloc(sizeof(*e));
	if (!e)
		return false;
	e->id = id;
	e->confirmed = false;
	e->shape = 0;
	e->gen = 0;
	e->owner = NULL;
	e->name_hash = 0;
	PreparedSetNode **pp = prepared_set_slot(s, id);
	e->next = NULL;
	*pp = e;
	list_append(&s->lru, &e->lru);
	if (++s->count > s->n_buckets)
		(void)prepared_set_grow(s);
	return true;
}

void prepared_set_remove(PreparedSet *s, uint64_t id)
{
	if (!s->buckets)
		return;
	PreparedSetNode **pp = prepared_set_slot(s, id);
	PreparedSetNode *e = *pp;
	if (!e)
		return;
	*pp = e->next;
	list_remove(&s->lru, &e->lru);
	free(e);
	s->count--;
}

uint64_t prepared_set_pop_lru(PreparedSet *s)
{
	ListNode *n = list_first(&s->lru);
	if (!n)
		return 0;
	uint64_t id = list_entry(n, PreparedSetNode, lru)->id;
	prepared_set_remove(s, id);
	return id;
}
