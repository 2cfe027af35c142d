/*
 * varcache: a small set of session parameters (name -> value), compared case-insensitively by
 * name like PostgreSQL's GUCs. A client's cache holds what it asked for (startup parameters,
 * `options -c`, SET outside a transaction); a server's holds what it reported (ParameterStatus)
 * or what pgsift set on it. The difference between the two is what pgsift sends before the
 * client's statements run on that server.
 */
#ifndef PGSIFT_VARCACHE_H
#define PGSIFT_VARCACHE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct VarParam {
	char *name;  /* owned; as first written (e.g. "DateStyle") */
	char *value; /* owned */
} VarParam;

typedef struct VarCache {
	VarParam *items; /* owned */
	size_t n;
	size_t cap;
} VarCache;

void varcache_init(VarCache *vc);
void varcache_free(VarCache *vc);
void varcache_clear(VarCache *vc);
/* Returns false on allocation failure (the cache is unchanged then). */
bool varcache_set(VarCache *vc, const char *name, const char *value)
	__attribute__((warn_unused_result));
const char *varcache_get(const VarCache *vc, const char *name);
void varcache_remove(VarCache *vc, const char *name);
bool varcache_copy(VarCache *dst, const VarCache *src) __attribute__((warn_unused_result));

#endif
