/*
 * queue: the bounded single-producer / single-consumer ring between the event loop (producer)
 * and the stats worker (consumer). Events are copied in as variable-size records (fixed fields,
 * then the strings, each NUL-terminated), so a push is a few memcpy and two atomic operations:
 * no lock, no allocation (except for a text longer than an eighth of the ring, which is copied
 * to the heap so that one huge statement cannot stall the ring). A full ring drops the event and
 * counts it. The consumer reads records in place and releases them with queue_pop().
 *
 * Waking: the consumer sleeps at most QUEUE_POLL_MS at a time (it announces its sleep in a futex
 * word). The producer pays for a futex wake only when that word is set and the ring is more than
 * 1/16 full, so the event loop makes no system call at all in the common case, and events wait
 * at most QUEUE_POLL_MS (plus the time to process those before them) to be counted.
 */
#ifndef PGSIFT_STATS_QUEUE_H
#define PGSIFT_STATS_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats/stats.h"

typedef struct StatsQueue StatsQueue;

/* The longest a consumer should sleep in queue_wait when the ring is empty. */
#define QUEUE_POLL_MS 5

/* A ring of at least bytes bytes (rounded up to a power of two, minimum 4 KiB). NULL on ENOMEM. */
StatsQueue *queue_new(size_t bytes);
/* Frees the ring and any event still in it. Only when neither side uses it any more. */
void queue_free(StatsQueue *q);

/* Producer only. Copies ev in; false (and one more drop counted) when the ring is full. */
bool queue_push(StatsQueue *q, const StatsEvent *ev);

/*
 * Consumer only. Fills ev with the oldest event, its strings pointing into the ring (and
 * NUL-terminated; text may be NULL when it was NULL in the pushed event). They stay valid until
 * queue_pop(). Returns false when the ring is empty.
 */
bool queue_peek(StatsQueue *q, StatsEvent *ev);
void queue_pop(StatsQueue *q);

/* Consumer only: sleeps until a push, a queue_wake() or timeout_ms, whichever comes first. */
void queue_wait(StatsQueue *q, int timeout_ms);
/* Any thread: wakes a sleeping consumer. */
void queue_wake(StatsQueue *q);

uint64_t queue_dropped(const StatsQueue *q);
uint64_t queue_pushed(const StatsQueue *q);
size_t queue_capacity(const StatsQueue *q);

#endif
