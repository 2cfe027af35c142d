/*
 * namemap: names -> values, a small chained hash keyed by XXH3 of the name. Names are copied
 * and compared exactly (PostgreSQL's statement names are case-sensitive; "" is a name). The map
 * owns its values: release (may be NULL) is called on each one it lets go of (replaced,
 * removed, cleared, freed).
 */
#ifndef PGSIFT_NAMEMAP_H
#define PGSIFT_NAMEMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct NameMap NameMap;
typedef void (*NameMapRelease)(void *value);

NameMap *namemap_new(NameMapRelease release);
void namemap_free(NameMap *m);
/* Stores value under name, replacing (and releasing) the one there. False when memory ran out:
 * the map is unchanged and value still belongs to the caller. */
bool namemap_put(NameMap *m, const char *name, void *value) __attribute__((warn_unused_result));
void *namemap_get(const NameMap *m, const char *name);
void namemap_remove(NameMap *m, const char *name);
void namemap_clear(NameMap *m);
size_t namemap_count(const NameMap *m);
/* Calls fn for every entry, in no particular order; the map must not change meanwhile. */
void namemap_foreach(const NameMap *m, void (*fn)(void *arg, const char *name, void *value),
		     void *arg);

#endif
