/* stmtmap: see stmtmap.h. Buckets double when the load passes 1. */
#include "proxy/stmtmap.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct StmtEntry {
	struct StmtEntry *next;
	uint64_t hash;
	size_t text_len;
	char *text; /* points after name inside the same allocation */
	char name[];
} StmtEntry;

struct StmtMap {
	StmtEntry **buckets;
	size_t n_buckets; /* a power of two */
	size_t count;
};

static StmtEntry **stmtmap_slot(const StmtMap *m, const char *name, uint64_t h)
{
	StmtEntry **pp = &m->buckets[h & (m->n_buckets - 1)];
	while (*pp && ((*pp)->hash != h || strcmp((*pp)->name, name) != 0))
		pp = &(*pp)->next;
	return pp;
}

StmtMap *stmtmap_new(void)
{
	StmtMap *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->n_buckets = 16;
	m->buckets = calloc(m->n_buckets, sizeof(*m->buckets));
	if (!m->buckets) {
		free(m);
		return NULL;
	}
	return m;
}

void stmtmap_clear(StmtMap *m)
{
	for (size_t i = 0; i < m->n_buckets; i++) {
		StmtEntry *e = m->buckets[i];
		while (e) {
			StmtEntry *next = e->next;
			free(e);
			e = next;
		}
		m->buckets[i] = NULL;
	}
	m->count = 0;
}

void stmtmap_free(StmtMap *m)
{
	if (!m)
		return;
	stmtmap_clear(m);
	free(m->buckets);
	free(m);
}

static void stmtmap_grow(StmtMap *m)
{
	size_t n = m->n_buckets * 2;
	StmtEntry **b = calloc(n, sizeof(*b));
	if (!b)
		return; /* a longer chain is still correct */
	for (size_t i = 0; i < m->n_buckets; i++) {
		StmtEntry *e = m->buckets[i];
		while (e) {
			StmtEntry *next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->n_buckets = n;
}

bool stmtmap_put(StmtMap *m, const char *name, const char *text, size_t text_len)
{
	size_t name_len = strlen(name);
	uint64_t h = XXH3_64bits(name, name_len);
	StmtEntry *e = malloc(sizeof(*e) + name_len + 1 + text_len + 1);
	if (!e)
		return false;
	e->hash = h;
	memcpy(e->name, name, name_len + 1);
	e->text = e->name + name_len + 1;
	memcpy(e->text, text, text_len);
	e->text[text_len] = '\0';
	e->text_len = text_len;
	StmtEntry **pp = stmtmap_slot(m, name, h);
	if (*pp) {
		e->next = (*pp)->next;
		free(*pp);
		*pp = e;
		return true;
	}
	e->next = NULL;
	*pp = e;
	if (++m->count > m->n_buckets)
		stmtmap_grow(m);
	return true;
}

const char *stmtmap_get(const StmtMap *m, const char *name, size_t *len)
{
	StmtEntry *e = *stmtmap_slot(m, name, XXH3_64bits(name, strlen(name)));
	if (!e)
		return NULL;
	if (len)
		*len = e->text_len;
	return e->text;
}

void stmtmap_remove(StmtMap *m, const char *name)
{
	StmtEntry **pp = stmtmap_slot(m, name, XXH3_64bits(name, strlen(name)));
	if (!*pp)
		return;
	StmtEntry *e = *pp;
	*pp = e->next;
	free(e);
	m->count--;
}

size_t stmtmap_count(const StmtMap *m)
{
	return m->count;
}

void stmtmap_foreach(const StmtMap *m,
		     void (*fn)(void *arg, const char *name, const char *text, size_t len), void *arg)
{
	for (size_t i = 0; i < m->n_buckets; i++)
		for (StmtEntry *e = m->buckets[i]; e; e = e->next)
			fn(arg, e->name, e->text, e->text_len);
}
