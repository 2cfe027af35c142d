/*
 * stmtmap: a client's SQL-level prepared statements by name -> their PREPARE text, so that they
 * can be prepared again on each server its transactions run on. A NameMap whose values are
 * copies of the texts.
 */
#ifndef PGSIFT_STMTMAP_H
#define PGSIFT_STMTMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/namemap.h"

typedef NameMap StmtMap;

StmtMap *stmtmap_new(void);
void stmtmap_free(StmtMap *m);
/* Copies name and text. Returns false when memory ran out. Replaces an existing entry. */
bool stmtmap_put(StmtMap *m, const char *name, const char *text, size_t text_len)
	__attribute__((warn_unused_result));
/* The text (NUL-terminated) and its length, or NULL. */
const char *stmtmap_get(const StmtMap *m, const char *name, size_t *len);
void stmtmap_remove(StmtMap *m, const char *name);
void stmtmap_clear(StmtMap *m);
size_t stmtmap_count(const StmtMap *m);
/* Calls fn for every entry, in no particular order; the map must not change meanwhile. */
void stmtmap_foreach(const StmtMap *m,
		     void (*fn)(void *arg, const char *name, const char *text, size_t len),
		     void *arg);

#endif
