/* namemap: see namemap.h. Buckets double when the load passes 1. */
#include "proxy/namemap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct NameNode {
	struct NameNode *next;
	uint64_t hash;
	void *value;
	char name[];
} NameNode;

struct NameMap {
	NameNode **buckets;
	size_t n_buckets; /* a power of two */
	size_t count;
	NameMapRelease release;
};

static uint64_t namemap_hash(const char *name)
{
	return XXH3_64bits(name, strlen(name));
}

static NameNode **namemap_slot(const NameMap *m, const char *name, uint64_t h)
{
	NameNode **pp = &m->buckets[h & (m->n_buckets - 1)];
	while (*pp && ((*pp)->hash != h || strcmp((*pp)->name, name) != 0))
		pp = &(*pp)->next;
	return pp;
}

static void namemap_release(const NameMap *m, void *value)
{
	if (m->release)
		m->release(value);
}

NameMap *namemap_new(NameMapRelease release)
{
	NameMap *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->n_buckets = 16;
	m->buckets = calloc(m->n_buckets, sizeof(*m->buckets));
	if (!m->buckets) {
		free(m);
		return NULL;
	}
	m->release = release;
	return m;
}

void namemap_clear(NameMap *m)
{
	for (size_t i = 0; i < m->n_buckets; i++) {
		NameNode *e = m->buckets[i];
		while (e) {
			NameNode *next = e->next;
			namemap_release(m, e->value);
			free(e);
			e = next;
		}
		m->buckets[i] = NULL;
	}
	m->count = 0;
}

void namemap_free(NameMap *m)
{
	if (!m)
		return;
	namemap_clear(m);
	free(m->buckets);
	free(m);
}

static void namemap_grow(NameMap *m)
{
	size_t n = m->n_buckets * 2;
	NameNode **b = calloc(n, sizeof(*b));
	if (!b)
		return; /* a longer chain is still correct */
	for (size_t i = 0; i < m->n_buckets; i++) {
		NameNode *e = m->buckets[i];
		while (e) {
			NameNode *next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->n_buckets = n;
}

bool namemap_put(NameMap *m, const char *name, void *value)
{
	uint64_t h = namemap_hash(name);
	NameNode **pp = namemap_slot(m, name, h);
	if (*pp) {
		void *old = (*pp)->value;
		(*pp)->value = value;
		/* after the swap: value may share what old holds (a reference-counted statement) */
		namemap_release(m, old);
		return true;
	}
	size_t len = strlen(name);
	NameNode *e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return false;
	memcpy(e->name, name, len + 1);
	e->hash = h;
	e->value = value;
	e->next = NULL;
	*pp = e;
	if (++m->count > m->n_buckets)
		namemap_grow(m);
	return true;
}

void *namemap_get(const NameMap *m, const char *name)
{
	NameNode *e = *namemap_slot(m, name, namemap_hash(name));
	return e ? e->value : NULL;
}

void namemap_remove(NameMap *m, const char *name)
{
	NameNode **pp = namemap_slot(m, name, namemap_hash(name));
	NameNode *e = *pp;
	if (!e)
		return;
	*pp = e->next;
	namemap_release(m, e->value);
	free(e);
	m->count--;
}

size_t namemap_count(const NameMap *m)
{
	return m->count;
}

void namemap_foreach(const NameMap *m, void (*fn)(void *arg, const char *name, void *value),
		     void *arg)
{
	for (size_t i = 0; i < m->n_buckets; i++)
		for (NameNode *e = m->buckets[i]; e; e = e->next)
			fn(arg, e->name, e->value);
}
