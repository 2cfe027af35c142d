/* list: an intrusive doubly-linked list, as in PgBouncer's list.h. A node knows nothing of the
 * list it is in; each connection state is one list, and only its owner's functions move nodes. */
#ifndef PGSIFT_LIST_H
#define PGSIFT_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ListNode {
	struct ListNode *next;
	struct ListNode *prev;
} ListNode;

typedef struct List {
	ListNode head;
	size_t count;
} List;

static inline void list_init(List *l)
{
	l->head.next = l->head.prev = &l->head;
	l->count = 0;
}

static inline void list_node_init(ListNode *n)
{
	n->next = n->prev = n;
}

static inline bool list_empty(const List *l)
{
	return l->head.next == &l->head;
}

static inline void list_append(List *l, ListNode *n)
{
	n->prev = l->head.prev;
	n->next = &l->head;
	l->head.prev->next = n;
	l->head.prev = n;
	l->count++;
}

static inline void list_remove(List *l, ListNode *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = n;
	l->count--;
}

static inline ListNode *list_first(const List *l)
{
	return list_empty(l) ? NULL : l->head.next;
}

#define list_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define list_for_each_safe(pos, tmp, l) \
	for (pos = (l)->head.next, tmp = pos->next; pos != &(l)->head; pos = tmp, tmp = pos->next)

#endif
