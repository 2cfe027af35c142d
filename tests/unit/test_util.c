/*
 * test_util: the building blocks in util/ that the parser, statistics and proxy share. The hash
 * table keeps every entry findable through colliding hashes and growth, removes exactly the node
 * asked for, and its iteration visits each entry once even when the body frees it; the list keeps
 * its order and count through moves and removals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/hashtab.h"
#include "util/list.h"

typedef struct Item {
	HashNode link;
	ListNode lru;
	int key;
} Item;

static Item *find(const HashTab *t, int key, uint64_t hash)
{
	for (HashNode *n = hashtab_chain(t, hash); n; n = n->next) {
		Item *it = list_entry(n, Item, link);
		if (n->hash == hash && it->key == key)
			return it;
	}
	return NULL;
}

/* Half the keys share one hash: chains with equal hashes must still tell keys apart. */
static uint64_t hash_of(int key)
{
	return key % 2 ? 0xabcdefULL : (uint64_t)key * 0x9e3779b97f4a7c15ULL;
}

static void test_hashtab_grows_and_finds(void **state)
{
	(void)state;
	HashTab t;
	assert_true(hashtab_init(&t, 4));
	Item items[100];
	for (int i = 0; i < 100; i++) {
		items[i].key = i;
		hashtab_add(&t, &items[i].link, hash_of(i));
	}
	assert_int_equal(t.count, 100);
	assert_int_equal(t.size, 128); /* doubled from 4 each time the load passed 1 */
	for (int i = 0; i < 100; i++)
		assert_ptr_equal(find(&t, i, hash_of(i)), &items[i]);
	assert_null(find(&t, 100, hash_of(100)));
	assert_null(find(&t, 101, hash_of(101))); /* a colliding hash, an absent key */

	hashtab_remove(&t, &items[51].link); /* in the middle of the colliding chain */
	hashtab_remove(&t, &items[10].link);
	assert_int_equal(t.count, 98);
	assert_null(find(&t, 51, hash_of(51)));
	assert_null(find(&t, 10, hash_of(10)));
	assert_ptr_equal(find(&t, 49, hash_of(49)), &items[49]);
	assert_ptr_equal(find(&t, 53, hash_of(53)), &items[53]);
	hashtab_destroy(&t);
	assert_null(t.buckets);
}

static void test_hashtab_for_each_frees_safely(void **state)
{
	(void)state;
	HashTab t;
	assert_true(hashtab_init(&t, 16));
	int sum = 0;
	for (int i = 1; i <= 40; i++) {
		Item *it = malloc(sizeof(*it));
		assert_non_null(it);
		it->key = i;
		hashtab_add(&t, &it->link, hash_of(i));
	}
	HashNode *n, *next;
	size_t b;
	int visits = 0;
	hashtab_for_each_safe(n, next, b, &t)
	{
		Item *it = list_entry(n, Item, link);
		sum += it->key;
		visits++;
		free(it);
	}
	assert_int_equal(visits, 40);
	assert_int_equal(sum, 40 * 41 / 2);
	hashtab_reset(&t);
	assert_int_equal(t.count, 0);
	for (size_t i = 0; i < t.size; i++)
		assert_null(t.buckets[i]);
	hashtab_destroy(&t);
}

static int keys_in_order(const List *l, int *out, int max)
{
	int n = 0;
	for (ListNode *p = list_first(l); p && n < max; p = list_next(l, p))
		out[n++] = list_entry(p, Item, lru)->key;
	return n;
}

static void test_list_order_and_moves(void **state)
{
	(void)state;
	List l;
	list_init(&l);
	assert_true(list_empty(&l));
	assert_null(list_first(&l));
	Item it[4];
	for (int i = 0; i < 4; i++) {
		it[i].key = i;
		list_append(&l, &it[i].lru);
	}
	list_move_first(&l, &it[2].lru);
	list_remove(&l, &it[0].lru);
	list_prepend(&l, &it[0].lru);
	int keys[8];
	assert_int_equal(keys_in_order(&l, keys, 8), 4);
	assert_int_equal(keys[0], 0);
	assert_int_equal(keys[1], 2);
	assert_int_equal(keys[2], 1);
	assert_int_equal(keys[3], 3);
	assert_int_equal(l.count, 4);
	assert_ptr_equal(list_last(&l), &it[3].lru);
	assert_ptr_equal(list_prev(&l, &it[3].lru), &it[1].lru);
	assert_null(list_prev(&l, &it[0].lru));
	ListNode *p, *tmp;
	list_for_each_safe(p, tmp, &l) list_remove(&l, p);
	assert_true(list_empty(&l));
	assert_int_equal(l.count, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hashtab_grows_and_finds),
		cmocka_unit_test(test_hashtab_for_each_frees_safely),
		cmocka_unit_test(test_list_order_and_moves),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
