/* grow: the one way a growable array of the code gets room (parser scopes, session commands and
 * the other push-at-the-end arrays): the capacity doubles from 4, so n pushes cost O(n). */
#ifndef PGSIFT_UTIL_GROW_H
#define PGSIFT_UTIL_GROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

/* Makes room for need elements of elem_size in *items (capacity *cap). False when out of memory,
 * with *items and *cap unchanged (the caller's array is still valid). */
static inline bool grow_array(void *items, size_t *cap, size_t need, size_t elem_size)
{
	if (need <= *cap)
		return true;
	size_t n = *cap ? *cap : 4;
	while (n < need)
		n *= 2;
	void **p = items;
	void *v = realloc(*p, n * elem_size);
	if (v == NULL)
		return false;
	*p = v;
	*cap = n;
	return true;
}

#endif
