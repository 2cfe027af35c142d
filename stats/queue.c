/*
 * queue: a byte ring with monotonically increasing head (written by the producer) and tail
 * (written by the consumer) positions. A record never wraps: when it does not fit before the end
 * of the ring, a padding record fills the rest and the record starts at offset 0. Records are
 * 8-byte aligned so that the fixed part can be read in place.
 *
 * Memory ordering: the producer writes a record, then publishes head with release; the consumer
 * reads head with acquire, reads the record, then publishes tail with release, and the producer
 * reads tail with acquire before reusing the space. The sleep handshake (consumer: sleeping = 1,
 * then re-read head; producer: publish head, fence, read sleeping) is sequentially consistent so
 * that one of the two always sees the other and no wake-up is lost.
 */
#include "stats/queue.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { QR_PAD = 1, QR_HEAP_TEXT = 2 };
enum { QS_TEXT = 0, QS_DB, QS_USER, QS_APP, QS_ADDR, QS_PARAMS, QS_SESSION, QS__COUNT };

/* The fixed part of a record; the strings follow it. */
typedef struct QueueRecord {
	uint32_t len; /* whole record, padding included, multiple of 8 */
	uint16_t flags;
	uint16_t stmt_index;
	uint8_t kind;
	uint8_t timed_out;
	uint8_t cancelled;
	uint8_t present; /* bit i: string i was not NULL */
	char sqlstate[6];
	uint16_t n_params;
	uint32_t client_port;
	uint32_t lens[QS__COUNT];
	uint64_t rows;
	uint64_t duration_ns;
	int64_t end_wall_us;
	char *heap_text; /* QR_HEAP_TEXT: the text, malloc'd by the producer, freed by queue_pop */
} QueueRecord;

struct StatsQueue {
	_Alignas(64) _Atomic uint64_t head;
	uint64_t tail_cache; /* producer's last view of tail */
	_Atomic uint64_t dropped;
	_Atomic uint64_t pushed;
	_Alignas(64) _Atomic uint64_t tail;
	_Alignas(64) _Atomic uint32_t sleeping; /* futex word: 1 while the consumer waits */
	uint8_t *buf;				/* the ring (owned) */
	size_t cap;				/* power of two */
};

static inline size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

StatsQueue *queue_new(size_t bytes)
{
	size_t cap = 4096;
	while (cap < bytes && cap < ((size_t)1 << 40))
		cap <<= 1;
	StatsQueue *q = aligned_alloc(64, (sizeof(*q) + 63) & ~(size_t)63);
	if (!q)
		return NULL;
	memset(q, 0, sizeof(*q));
	q->buf = aligned_alloc(64, cap);
	if (!q->buf) {
		free(q);
		return NULL;
	}
	q->cap = cap;
	return q;
}

void queue_free(StatsQueue *q)
{
	if (!q)
		return;
	StatsEvent ev;
	while (queue_peek(q, &ev))
		queue_pop(q);
	free(q->buf);
	free(q);
}

bool queue_push(StatsQueue *q, const StatsEvent *ev)
{
	const char *strs[QS__COUNT] = {ev->text,	ev->db,	    ev->user,	   ev->app,
				       ev->client_addr, ev->params, ev->session_id};
	uint32_t lens[QS__COUNT] = {ev->text_len, 0, 0, 0, 0, ev->params_len, 0};
	for (int i = QS_DB; i < QS__COUNT; i++)
		if (i != QS_PARAMS && strs[i])
			lens[i] = (uint32_t)strlen(strs[i]);
	if (!strs[QS_TEXT])
		lens[QS_TEXT] = 0;
	if (!strs[QS_PARAMS])
		lens[QS_PARAMS] = 0;

	bool heap_text = lens[QS_TEXT] > q->cap / 8;
	size_t need = sizeof(QueueRecord);
	for (int i = 0; i < QS__COUNT; i++)
		if (!(i == QS_TEXT && heap_text))
			need += lens[i] + 1;
	need = align8(need);
	if (need > q->cap / 2)
		goto drop; /* even without the text, the strings are absurdly long */

	uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
	size_t off = head & (q->cap - 1);
	size_t to_end = q->cap - off;
	size_t total = need <= to_end ? need : to_end + need;
	if (head + total - q->tail_cache > q->cap) {
		q->tail_cache = atomic_load_explicit(&q->tail, memory_order_acquire);
		if (head + total - q->tail_cache > q->cap)
			goto drop;
	}
	char *text_copy = NULL;
	if (heap_text) {
		text_copy = malloc(lens[QS_TEXT] + 1);
		if (!text_copy)
			goto drop;
		memcpy(text_copy, strs[QS_TEXT], lens[QS_TEXT]);
		text_copy[lens[QS_TEXT]] = '\0';
	}
	if (need > to_end) {
		QueueRecord *pad = (QueueRecord *)(q->buf + off);
		pad->len = (uint32_t)to_end;
		pad->flags = QR_PAD;
		off = 0;
	}
	QueueRecord *r = (QueueRecord *)(q->buf + off);
	r->len = (uint32_t)need;
	r->flags = heap_text ? QR_HEAP_TEXT : 0;
	r->stmt_index = ev->stmt_index;
	r->kind = (uint8_t)ev->kind;
	r->timed_out = ev->timed_out;
	r->cancelled = ev->cancelled;
	r->present = 0;
	memcpy(r->sqlstate, ev->sqlstate, sizeof(r->sqlstate));
	r->sqlstate[5] = '\0';
	r->n_params = ev->n_params;
	r->client_port = ev->client_port;
	r->rows = ev->rows;
	r->duration_ns = ev->duration_ns;
	r->end_wall_us = ev->end_wall_us;
	r->heap_text = text_copy;
	char *p = (char *)(r + 1);
	for (int i = 0; i < QS__COUNT; i++) {
		r->lens[i] = lens[i];
		if (strs[i])
			r->present |= (uint8_t)(1u << i);
		if (i == QS_TEXT && heap_text)
			continue;
		if (lens[i])
			memcpy(p, strs[i], lens[i]);
		p[lens[i]] = '\0';
		p += lens[i] + 1;
	}
	atomic_store_explicit(&q->head, head + total, memory_order_release);
	atomic_store_explicit(&q->pushed,
			      atomic_load_explicit(&q->pushed, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	/* Wake a sleeping consumer only once the ring is filling up: a futex wake costs the event
	 * loop about 2 us, more than the rest of the push; below the mark the consumer comes back by
	 * itself within QUEUE_POLL_MS. tail_cache may be stale (it overestimates the fill): look at
	 * the real tail before deciding. */
	if (head + total - q->tail_cache > q->cap / 16) {
		q->tail_cache = atomic_load_explicit(&q->tail, memory_order_acquire);
		if (head + total - q->tail_cache > q->cap / 16) {
			atomic_thread_fence(memory_order_seq_cst);
			if (atomic_load_explicit(&q->sleeping, memory_order_relaxed))
				queue_wake(q);
		}
	}
	return true;
drop:
	/* Only the producer writes the counter: a plain load + store is enough. */
	atomic_store_explicit(&q->dropped,
			      atomic_load_explicit(&q->dropped, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	return false;
}

bool queue_peek(StatsQueue *q, StatsEvent *ev)
{
	uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&q->head, memory_order_acquire);
	for (;;) {
		if (tail == head)
			return false;
		QueueRecord *r = (QueueRecord *)(q->buf + (tail & (q->cap - 1)));
		if (!(r->flags & QR_PAD))
			break;
		tail += r->len;
		atomic_store_explicit(&q->tail, tail, memory_order_release);
	}
	QueueRecord *r = (QueueRecord *)(q->buf + (tail & (q->cap - 1)));
	memset(ev, 0, sizeof(*ev));
	ev->kind = (StatsEventKind)r->kind;
	ev->stmt_index = r->stmt_index;
	ev->timed_out = r->timed_out;
	ev->cancelled = r->cancelled;
	memcpy(ev->sqlstate, r->sqlstate, sizeof(ev->sqlstate));
	ev->rows = r->rows;
	ev->duration_ns = r->duration_ns;
	ev->end_wall_us = r->end_wall_us;
	ev->client_port = r->client_port;
	ev->n_params = r->n_params;
	const char *strs[QS__COUNT];
	const char *p = (const char *)(r + 1);
	for (int i = 0; i < QS__COUNT; i++) {
		if (i == QS_TEXT && (r->flags & QR_HEAP_TEXT)) {
			strs[i] = r->heap_text;
			continue;
		}
		strs[i] = (r->present & (1u << i)) ? p : NULL;
		p += r->lens[i] + 1;
	}
	ev->text = strs[QS_TEXT];
	ev->text_len = r->lens[QS_TEXT];
	ev->db = strs[QS_DB];
	ev->user = strs[QS_USER];
	ev->app = strs[QS_APP];
	ev->client_addr = strs[QS_ADDR];
	ev->params = strs[QS_PARAMS];
	ev->params_len = r->lens[QS_PARAMS];
	ev->session_id = strs[QS_SESSION];
	return true;
}

void queue_pop(StatsQueue *q)
{
	uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&q->head, memory_order_acquire);
	if (tail == head)
		return;
	QueueRecord *r = (QueueRecord *)(q->buf + (tail & (q->cap - 1)));
	if (r->flags & QR_HEAP_TEXT)
		free(r->heap_text);
	atomic_store_explicit(&q->tail, tail + r->len, memory_order_release);
}

void queue_wait(StatsQueue *q, int timeout_ms)
{
	atomic_store(&q->sleeping, 1);
	uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	if (atomic_load(&q->head) == tail) {
		struct timespec ts = {.tv_sec = timeout_ms / 1000,
				      .tv_nsec = (long)(timeout_ms % 1000) * 1000000L};
		syscall(SYS_futex, &q->sleeping, FUTEX_WAIT_PRIVATE, 1, &ts, NULL, 0);
	}
	atomic_store(&q->sleeping, 0);
}

void queue_wake(StatsQueue *q)
{
	atomic_store(&q->sleeping, 0);
	syscall(SYS_futex, &q->sleeping, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

uint64_t queue_dropped(const StatsQueue *q)
{
	return atomic_load_explicit(&q->dropped, memory_order_relaxed);
}

uint64_t queue_pushed(const StatsQueue *q)
{
	return atomic_load_explicit(&q->pushed, memory_order_relaxed);
}

size_t queue_capacity(const StatsQueue *q)
{
	return q->cap;
}
