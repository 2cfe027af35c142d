/* namemap: see namemap.h. The table is util/hashtab.h, keyed by the name's XXH3. */
#include "proxy/namemap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util/hashtab.h"
#include "util/list.h"

typedef struct NameNode {
	HashNode link; /* in the map's table (util/hashtab.h) */
	void *value;
	char name[];
} NameNode;

struct NameMap {
	HashTab tab;
	NameMapRelease release;
};

static uint64_t namemap_hash(const char *name)
{
	return XXH3_64bits(name, strlen(name));
}

static NameNode *namemap_find(const NameMap *m, const char *name, uint64_t h)
{
	for (HashNode *n = hashtab_chain(&m->tab, h); n; n = n->next) {
		NameNode *e = list_entry(n, NameNode, link);
		if (n->hash == h && strcmp(e->name, name) == 0)
			return e;
	}
	return NULL;
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
	if (!hashtab_init(&m->tab, 16)) {
		free(m);
		return NULL;
	}
	m->release = release;
	return m;
}

void namemap_clear(NameMap *m)
{
	HashNode *n, *next;
	size_t i;
	hashtab_for_each_safe(n, next, i, &m->tab)
	{
		NameNode *e = list_entry(n, NameNode, link);
		namemap_release(m, e->value);
		free(e);
	}
	hashtab_reset(&m->tab);
}

void namemap_free(NameMap *m)
{
	if (!m)
		return;
	namemap_clear(m);
	hashtab_destroy(&m->tab);
	free(m);
}

bool namemap_put(NameMap *m, const char *name, void *value)
{
	uint64_t h = namemap_hash(name);
	NameNode *e = namemap_find(m, name, h);
	if (e) {
		void *old = e->value;
		e->value = value;
		/* after the swap: value may share what old holds (a reference-counted statement) */
		namemap_release(m, old);
		return true;
	}
	size_t len = strlen(name);
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return false;
	memcpy(e->name, name, len + 1);
	e->value = value;
	hashtab_add(&m->tab, &e->link, h);
	return true;
}

void *namemap_get(const NameMap *m, const char *name)
{
	NameNode *e = namemap_find(m, name, namemap_hash(name));
	return e ? e->value : NULL;
}

void namemap_remove(NameMap *m, const char *name)
{
	NameNode *e = namemap_find(m, name, namemap_hash(name));
	if (!e)
		return;
	hashtab_remove(&m->tab, &e->link);
	namemap_release(m, e->value);
	free(e);
}

size_t namemap_count(const NameMap *m)
{
	return m->tab.count;
}

void namemap_foreach(const NameMap *m, void (*fn)(void *arg, const char *name, void *value),
		     void *arg)
{
	HashNode *n, *next;
	size_t i;
	hashtab_for_each_safe(n, next, i, &m->tab)
	{
		NameNode *e = list_entry(n, NameNode, link);
		fn(arg, e->name, e->value);
	}
}
