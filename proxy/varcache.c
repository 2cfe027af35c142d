/* varcache: see varcache.h. A linear array: a session has a handful of parameters. */
#include "proxy/varcache.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static VarParam *varcache_find(const VarCache *vc, const char *name)
{
	for (size_t i = 0; i < vc->n; i++)
		if (strcasecmp(vc->items[i].name, name) == 0)
			return &vc->items[i];
	return NULL;
}

void varcache_init(VarCache *vc)
{
	memset(vc, 0, sizeof(*vc));
}

void varcache_clear(VarCache *vc)
{
	for (size_t i = 0; i < vc->n; i++) {
		free(vc->items[i].name);
		free(vc->items[i].value);
	}
	vc->n = 0;
}

void varcache_free(VarCache *vc)
{
	varcache_clear(vc);
	free(vc->items);
	varcache_init(vc);
}

bool varcache_set(VarCache *vc, const char *name, const char *value)
{
	VarParam *p = varcache_find(vc, name);
	char *v = strdup(value);
	if (!v)
		return false;
	if (p) {
		free(p->value);
		p->value = v;
		return true;
	}
	if (vc->n == vc->cap) {
		size_t cap = vc->cap ? vc->cap * 2 : 2; /* most sessions set one or two */
		VarParam *items = realloc(vc->items, cap * sizeof(*items));
		if (!items) {
			free(v);
			return false;
		}
		vc->items = items;
		vc->cap = cap;
	}
	char *n = strdup(name);
	if (!n) {
		free(v);
		return false;
	}
	vc->items[vc->n].name = n;
	vc->items[vc->n].value = v;
	vc->n++;
	return true;
}

const char *varcache_get(const VarCache *vc, const char *name)
{
	VarParam *p = varcache_find(vc, name);
	return p ? p->value : NULL;
}

void varcache_remove(VarCache *vc, const char *name)
{
	VarParam *p = varcache_find(vc, name);
	if (!p)
		return;
	free(p->name);
	free(p->value);
	*p = vc->items[--vc->n];
}

bool varcache_copy(VarCache *dst, const VarCache *src)
{
	for (size_t i = 0; i < src->n; i++)
		if (!varcache_set(dst, src->items[i].name, src->items[i].value))
			return false;
	return true;
}
