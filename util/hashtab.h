/* hashtab: an intrusive chained hash table, the one hash table of the code: the proxy's name maps
 * (proxy/namemap.c), the parser cache's two keys (parser/parser.c) and the statistics' digests
 * and tables (stats/digest.c). A HashNode sits inside its entry (list_entry finds the entry);
 * the caller computes the 64-bit hash, walks the chain hashtab_chain returns and compares its
 * own key, so the table knows nothing of keys, entries or how they are freed. The bucket array
 * doubles when the load passes 1; if that allocation fails the chains only get longer, which is
 * still correct. */
#ifndef PGSIFT_UTIL_HASHTAB_H
#define PGSIFT_UTIL_HASHTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct HashNode {
	struct HashNode *next;
	uint64_t hash;
} HashNode;

typedef struct HashTab {
	HashNode **buckets; /* owned */
	size_t size;	    /* a power of two */
	size_t count;
} HashTab;

/* size: the first bucket count, a power of two. False when out of memory. */
static inline bool hashtab_init(HashTab *t, size_t size)
{
	t->buckets = calloc(size, sizeof(*t->buckets));
	t->size = t->buckets ? size : 0;
	t->count = 0;
	return t->buckets != NULL;
}

/* Frees the bucket array; the entries are the caller's (free them first, hashtab_for_each_safe). */
static inline void hashtab_destroy(HashTab *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->size = t->count = 0;
}

/* Forgets every entry without touching them (after the caller freed them). */
static inline void hashtab_reset(HashTab *t)
{
	for (size_t i = 0; i < t->size; i++)
		t->buckets[i] = NULL;
	t->count = 0;
}

/* The first node of hash's chain: walk ->next and compare ->hash, then the caller's key. */
static inline HashNode *hashtab_chain(const HashTab *t, uint64_t hash)
{
	return t->buckets[hash & (t->size - 1)];
}

static inline void hashtab_grow(HashTab *t)
{
	size_t size = t->size * 2;
	HashNode **b = calloc(size, sizeof(*b));
	if (!b)
		return;
	for (size_t i = 0; i < t->size; i++) {
		for (HashNode *n = t->buckets[i], *next; n; n = next) {
			next = n->next;
			n->next = b[n->hash & (size - 1)];
			b[n->hash & (size - 1)] = n;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->size = size;
}

/* Adds n under hash (no check for an equal key: the caller looked first). */
static inline void hashtab_add(HashTab *t, HashNode *n, uint64_t hash)
{
	if (t->count + 1 > t->size)
		hashtab_grow(t);
	HashNode **slot = &t->buckets[hash & (t->size - 1)];
	n->hash = hash;
	n->next = *slot;
	*slot = n;
	t->count++;
}

/* Takes n out of its chain; n must be in t. */
static inline void hashtab_remove(HashTab *t, HashNode *n)
{
	HashNode **pp = &t->buckets[n->hash & (t->size - 1)];
	while (*pp && *pp != n)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = n->next;
		t->count--;
	}
	n->next = NULL;
}

/* Every node, in bucket order; pos may be freed in the body (tmp holds the next). A break leaves
 * only the inner loop: use a flag or a function for an early exit. */
#define hashtab_for_each_safe(pos, tmp, i, t) \
	for (i = 0; i < (t)->size; i++)       \
		for (pos = (t)->buckets[i]; pos && ((tmp = pos->next), 1); pos = tmp)

#endif
