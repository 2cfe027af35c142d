/* list: an intrusive doubly-linked list, as in PgBouncer's list.h, the one list of the code: the
 * proxy's connection states (one list each, only their owner's functions move nodes) and the
 * least-recently-used orders of the parser cache and the statistics' digests (list_prepend on
 * use, the victim at list_last). A node knows nothing of the list it is in. */
#ifndef PGSIFT_UTIL_LIST_H
#define PGSIFT_UTIL_LIST_H

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

static inline void list_prepend(List *l, ListNode *n)
{
	n->next = l->head.next;
	n->prev = &l->head;
	l->head.next->prev = n;
	l->head.next = n;
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

static inline ListNode *list_last(const List *l)
{
	return list_empty(l) ? NULL : l->head.prev;
}

/* The node after n (towards the last), or NULL at the end. */
static inline ListNode *list_next(const List *l, const ListNode *n)
{
	return n->next == &l->head ? NULL : n->next;
}

/* The node before n (towards the first), or NULL at the start. */
static inline ListNode *list_prev(const List *l, const ListNode *n)
{
	return n->prev == &l->head ? NULL : n->prev;
}

/* Moves n, already in l, to the front. */
static inline void list_move_first(List *l, ListNode *n)
{
	list_remove(l, n);
	list_prepend(l, n);
}

#define list_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define list_for_each_safe(pos, tmp, l) \
	for (pos = (l)->head.next, tmp = pos->next; pos != &(l)->head; pos = tmp, tmp = pos->next)

#endif
