/* stmtmap: see stmtmap.h. */
#include "proxy/stmtmap.h"

#include <stdlib.h>
#include <string.h>

/* A value: the text and its length in one allocation (texts may hold NUL bytes). */
typedef struct SqlText {
	size_t len;
	char text[];
} SqlText;

StmtMap *stmtmap_new(void)
{
	return namemap_new(free);
}

void stmtmap_free(StmtMap *m)
{
	namemap_free(m);
}

bool stmtmap_put(StmtMap *m, const char *name, const char *text, size_t text_len)
{
	SqlText *t = malloc(sizeof(*t) + text_len + 1);
	if (!t)
		return false;
	t->len = text_len;
	memcpy(t->text, text, text_len);
	t->text[text_len] = '\0';
	if (!namemap_put(m, name, t)) {
		free(t);
		return false;
	}
	return true;
}

const char *stmtmap_get(const StmtMap *m, const char *name, size_t *len)
{
	const SqlText *t = namemap_get(m, name);
	if (!t)
		return NULL;
	if (len)
		*len = t->len;
	return t->text;
}

void stmtmap_remove(StmtMap *m, const char *name)
{
	namemap_remove(m, name);
}

void stmtmap_clear(StmtMap *m)
{
	namemap_clear(m);
}

size_t stmtmap_count(const StmtMap *m)
{
	return namemap_count(m);
}

typedef struct ForeachText {
	void (*fn)(void *arg, const char *name, const char *text, size_t len);
	void *arg;
} ForeachText;

static void stmtmap_visit(void *arg, const char *name, void *value)
{
	const ForeachText *f = arg;
	const SqlText *t = value;
	f->fn(f->arg, name, t->text, t->len);
}

void stmtmap_foreach(const StmtMap *m,
		     void (*fn)(void *arg, const char *name, const char *text, size_t len),
		     void *arg)
{
	ForeachText f = {fn, arg};
	namemap_foreach(m, stmtmap_visit, &f);
}
