/*
 * conn: framing, buffering and forwarding for one connection. See conn.h for the contract.
 *
 * Buffer discipline: bytes [start, pos) of the read buffer have been cut into frames and either
 * dropped or queued for the peer (iov); [pos, end) are not cut yet. The buffer is compacted or
 * replaced only when no write points into it (writes_out == 0), which is also the only time
 * `start` moves. Reading stops while writes are out, which is the backpressure.
 */
#include "proxy/conn.h"

#include <assert.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/log.h"
#include "util/grow.h"

typedef struct FwdWrite {
	uv_write_t req;
	Conn *src;  /* whose buffer the bytes live in */
	IOBuf *buf; /* holds a ref until the write completes */
	struct FwdWrite *next_free;
} FwdWrite;

typedef struct OwnWrite {
	uv_write_t req;
	uv_buf_t buf;
	uint8_t data[];
} OwnWrite;

static uv_loop_t *conn_loop;
static uint64_t turn_ns;       /* CLOCK_MONOTONIC when the current callback began (conn_tick) */
static int64_t wall_offset_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC (conn_sync_wall) */
static uint32_t conn_buf_size = 16384;
static IOBuf *free_bufs; /* standard-size buffers, linked through their first bytes */
static size_t n_free_bufs;
static FwdWrite *free_writes;
static uint64_t last_trim_ms;
static size_t heap_free_after_trim; /* mallinfo2().fordblks after the last malloc_trim */

#define MAX_FREE_BUFS 1024
#define FREE_BUFS_FLOOR 32 /* kept however long the proxy is idle */
#define TRIM_EVERY_MS 1000
#define TRIM_HEAP_FREE_MIN (4u << 20) /* free heap bytes that make malloc_trim worth its walk */

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void conn_close_cb(uv_handle_t *h);
static void conn_fwd_write_cb(uv_write_t *req, int status);
static void conn_own_write_cb(uv_write_t *req, int status);
static void conn_process(Conn *c);
static void conn_update_reading(Conn *c);
static void conn_settle_buffer(Conn *c);
static void conn_maybe_finish_close(Conn *c);
static IOBuf *iobuf_get(uint32_t min_cap);
static void iobuf_unref(IOBuf *b);
static int conn_send_raw(Conn *c, const void *data, size_t len);
static bool conn_tls_pull(Conn *c);
static bool conn_tls_send_out(Conn *c);
static void conn_tls_pump(Conn *c);

/* Raw TLS records land here before they are fed to OpenSSL (read callbacks never nest). */
static uint8_t tls_raw[65536];
/* Fed and not yet decrypted bytes past which a TLS connection stops reading (backpressure). */
#define TLS_MAX_BUFFERED_IN (4 * 65536)

void conn_module_init(uv_loop_t *loop, uint32_t buf_size)
{
	conn_loop = loop;
	conn_sync_wall();
	conn_tick();
	if (buf_size >= 1024)
		conn_buf_size = buf_size;
	/*
	 * glibc raises its mmap threshold each time a large mmapped block is freed (up to 32 MB)
	 * and its trim threshold to twice that: after one burst of large blocks, later ones come
	 * from the heap and up to 64 MB of freed heap is kept for good. A fixed threshold keeps
	 * large blocks in mmap (given back when freed) and the heap trimmed at 128 KB.
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
}

void conn_module_trim(uint64_t now_ms)
{
	if (now_ms - last_trim_ms < TRIM_EVERY_MS)
		return;
	last_trim_ms = now_ms;
	/* half of the free buffers beyond the floor each time: a burst's buffers are gone a few
	 * seconds after it, and a steady churn of connections still finds some */
	size_t drop = n_free_bufs > FREE_BUFS_FLOOR ? (n_free_bufs - FREE_BUFS_FLOOR + 1) / 2 : 0;
	for (; drop > 0; drop--) {
		IOBuf *b = free_bufs;
		memcpy(&free_bufs, b->data, sizeof(IOBuf *));
		n_free_bufs--;
		free(b);
	}
	/* free memory in the middle of the heap (or of the stats worker's arena) is not given
	 * back by free(): malloc_trim does, when enough has become free since it last ran */
	struct mallinfo2 mi = mallinfo2();
	if (mi.fordblks < heap_free_after_trim)
		heap_free_after_trim = mi.fordblks;
	if (mi.fordblks - heap_free_after_trim < TRIM_HEAP_FREE_MIN)
		return;
	malloc_trim(0);
	heap_free_after_trim = mallinfo2().fordblks;
}

void conn_module_cleanup(void)
{
	while (free_bufs) {
		IOBuf *b = free_bufs;
		memcpy(&free_bufs, b->data, sizeof(IOBuf *));
		free(b);
	}
	n_free_bufs = 0;
	while (free_writes) {
		FwdWrite *w = free_writes;
		free_writes = w->next_free;
		free(w);
	}
}

int conn_init(Conn *c, bool is_pipe, void *owner, ConnFrameFn on_frame, ConnErrorFn on_error,
	      ConnClosedFn on_closed)
{
	memset(c, 0, sizeof(*c));
	c->is_pipe = is_pipe;
	c->owner = owner;
	c->on_frame = on_frame;
	c->on_error = on_error;
	c->on_closed = on_closed;
	c->want_read = true;
	int r = is_pipe ? uv_pipe_init(conn_loop, &c->h.pipe, 0) :
			  uv_tcp_init(conn_loop, &c->h.tcp);
	if (r == 0)
		c->h.handle.data = c;
	return r;
}

bool conn_is_streamed(bool from_server, uint8_t type)
{
	if (!from_server)
		return true;
	switch (type) {
	case PQ_MSG_DATA_ROW:
	case PQ_MSG_COPY_DATA:
	case PQ_MSG_ERROR_RESPONSE:
	case PQ_MSG_NOTICE_RESPONSE:
	case PQ_MSG_NOTIFICATION_RESPONSE:
	case PQ_MSG_FUNCTION_CALL_RESPONSE:
		return true;
	default:
		return false;
	}
}

/* Streamed types the owner never looks into: handed over as soon as their header is in. */
static bool conn_is_header_first(bool from_server, uint8_t type)
{
	return type == PQ_MSG_COPY_DATA || (from_server && type == PQ_MSG_DATA_ROW);
}

uint32_t conn_buffer_size(void)
{
	return conn_buf_size;
}

void conn_start(Conn *c)
{
	c->want_read = true;
	conn_process(c);
}

void conn_resume(Conn *c)
{
	if (c->closing)
		return;
	c->waiting = false;
	c->want_read = true;
	conn_process(c);
}

void conn_pause(Conn *c)
{
	c->want_read = false;
	conn_update_reading(c);
}

void conn_forward_bytes(Conn *c, const uint8_t *p, size_t len)
{
	if (!len)
		return;
	if (c->n_iov > 0 && !(c->side_mask & (1u << (c->n_iov - 1)))) {
		uv_buf_t *last = &c->iov[c->n_iov - 1];
		if ((const uint8_t *)last->base + last->len == p) {
			last->len += len;
			return;
		}
	}
	if (c->n_iov == CONN_MAX_IOV)
		conn_flush(c);
	c->iov[c->n_iov].base = (char *)p;
	c->iov[c->n_iov].len = len;
	c->n_iov++;
}

void conn_forward_from(Conn *c, uint32_t off)
{
	assert(off <= c->frame_avail);
	c->fwd_from = off;
}

bool conn_forward_extra(Conn *c, const void *data, size_t len)
{
	if (!len)
		return true;
	if (!grow_array(&c->side, &c->side_cap, c->side_len + len, 1))
		return false;
	if (c->n_iov == CONN_MAX_IOV)
		conn_flush(c);
	memcpy(c->side + c->side_len, data, len);
	c->iov[c->n_iov].base = (char *)(uintptr_t)c->side_len;
	c->iov[c->n_iov].len = len;
	c->side_mask |= (uint8_t)(1u << c->n_iov);
	c->n_iov++;
	c->side_len += (uint32_t)len;
	return true;
}

static void conn_forget_forwards(Conn *c)
{
	c->n_iov = 0;
	c->side_mask = 0;
	c->side_len = 0;
}

/* What a partial write left of forwards that include pgsift's own bytes: copied and queued
 * (rare: the peer's socket buffer is full), so that the side buffer can be reused at once. */
static void conn_flush_copy(Conn *c, Conn *dst, int first)
{
	size_t rest = 0;
	for (int i = first; i < c->n_iov; i++)
		rest += c->iov[i].len;
	uint8_t *copy = malloc(rest);
	if (!copy) {
		log_error("out of memory forwarding %zu bytes", rest);
		conn_forget_forwards(c);
		conn_close(dst);
		return;
	}
	size_t at = 0;
	for (int i = first; i < c->n_iov; i++) {
		memcpy(copy + at, c->iov[i].base, c->iov[i].len);
		at += c->iov[i].len;
	}
	conn_forget_forwards(c);
	uint64_t before = dst->bytes_out;
	if (conn_send(dst, copy, rest) != 0)
		conn_close(dst);
	dst->bytes_out = before; /* counted already */
	free(copy);
}

/* The forwards of one flush as few TLS records as possible: small pieces (a ReadyForQuery after
 * a DataRow...) are gathered into one record, as one write() gathers them without TLS; a piece
 * of a whole record or more goes as it is. */
static bool conn_tls_write_iov(Conn *dst, const uv_buf_t *iov, int n)
{
	if (n == 1)
		return tls_write(dst->tls, iov[0].base, iov[0].len);
	uint8_t rec[16384]; /* TLS's largest record */
	size_t fill = 0;
	for (int i = 0; i < n; i++) {
		const char *p = iov[i].base;
		size_t left = iov[i].len;
		if (left >= sizeof(rec)) {
			if ((fill && !tls_write(dst->tls, rec, fill)) ||
			    !tls_write(dst->tls, p, left))
				return false;
			fill = 0;
			continue;
		}
		while (left > 0) {
			size_t k = left < sizeof(rec) - fill ? left : sizeof(rec) - fill;
			memcpy(rec + fill, p, k);
			fill += k;
			p += k;
			left -= k;
			if (fill == sizeof(rec)) {
				if (!tls_write(dst->tls, rec, fill))
					return false;
				fill = 0;
			}
		}
	}
	return fill == 0 || tls_write(dst->tls, rec, fill);
}

void conn_flush(Conn *c)
{
	if (c->n_iov == 0)
		return;
	Conn *dst = c->peer;
	if (!dst || dst->closing) {
		conn_forget_forwards(c);
		return;
	}
	size_t total = 0;
	for (int i = 0; i < c->n_iov; i++) {
		if (c->side_mask & (1u << i))
			c->iov[i].base = (char *)c->side + (uintptr_t)c->iov[i].base;
		total += c->iov[i].len;
	}
	if (dst->tls) {
		/* encrypting copies the bytes: nothing keeps pointing into this buffer */
		bool ok = !dst->tls_handshaking && conn_tls_write_iov(dst, c->iov, c->n_iov);
		conn_forget_forwards(c);
		if (!ok || !conn_tls_send_out(dst))
			conn_close(dst);
		return;
	}
	int r = uv_try_write(&dst->h.stream, c->iov, (unsigned)c->n_iov);
	if (r == (int)total) {
		dst->bytes_out += total;
		conn_forget_forwards(c);
		return;
	}
	if (r < 0 && r != UV_EAGAIN) {
		/* the peer is broken; its own read side reports it */
		conn_forget_forwards(c);
		return;
	}
	size_t skip = r > 0 ? (size_t)r : 0;
	dst->bytes_out += total;
	int first = 0;
	while (skip > 0 && skip >= c->iov[first].len) {
		skip -= c->iov[first].len;
		first++;
	}
	c->iov[first].base += skip;
	c->iov[first].len -= skip;
	if (c->side_mask) {
		conn_flush_copy(c, dst, first);
		return;
	}

	FwdWrite *w = free_writes;
	if (w)
		free_writes = w->next_free;
	else
		w = malloc(sizeof(*w));
	if (!w) {
		log_error("out of memory forwarding %zu bytes", total);
		c->n_iov = 0;
		conn_close(dst);
		return;
	}
	w->src = c;
	w->buf = c->rbuf;
	w->req.data = w;
	c->rbuf->refs++;
	c->writes_out++;
	r = uv_write(&w->req, &dst->h.stream, c->iov + first, (unsigned)(c->n_iov - first),
		     conn_fwd_write_cb);
	c->n_iov = 0;
	if (r < 0) {
		c->writes_out--;
		iobuf_unref(w->buf);
		w->next_free = free_writes;
		free_writes = w;
	}
	conn_update_reading(c);
}

static void conn_fwd_write_cb(uv_write_t *req, int status)
{
	FwdWrite *w = req->data;
	conn_tick(); /* frames that waited for this write are handled now */
	Conn *src = w->src;
	(void)status; /* a failed write surfaces on the destination's read side */
	iobuf_unref(w->buf);
	w->next_free = free_writes;
	free_writes = w;
	src->writes_out--;
	if (src->writes_out > 0)
		return;
	if (src->closing)
		conn_maybe_finish_close(src);
	else
		conn_process(src);
}

int conn_send(Conn *c, const void *data, size_t len)
{
	if (c->closing)
		return UV_ECANCELED;
	if (c->tls) {
		if (c->tls_handshaking || !tls_write(c->tls, data, len))
			return UV_EPROTO;
		return conn_tls_send_out(c) ? 0 : UV_EPIPE;
	}
	return conn_send_raw(c, data, len);
}

/* Bytes to the socket as they are: uv_try_write, and a copy of what it left for uv_write (which
 * keeps the order: libuv's try_write refuses while a write is queued). */
static int conn_send_raw(Conn *c, const void *data, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
	int r = uv_try_write(&c->h.stream, &b, 1);
	if (r == (int)len) {
		c->bytes_out += len;
		return 0;
	}
	if (r < 0 && r != UV_EAGAIN)
		return r;
	size_t done = r > 0 ? (size_t)r : 0;
	OwnWrite *w = malloc(sizeof(*w) + len - done);
	if (!w)
		return UV_ENOMEM;
	memcpy(w->data, (const uint8_t *)data + done, len - done);
	w->buf = uv_buf_init((char *)w->data, (unsigned)(len - done));
	w->req.data = w;
	c->bytes_out += len;
	r = uv_write(&w->req, &c->h.stream, &w->buf, 1, conn_own_write_cb);
	if (r < 0)
		free(w);
	return r;
}

int conn_send_pktbuf(Conn *c, PktBuf *b)
{
	if (pktbuf_failed(b)) {
		pktbuf_reset(b);
		return UV_ENOMEM;
	}
	int r = b->len ? conn_send(c, b->data, b->len) : 0;
	pktbuf_reset(b);
	return r;
}

static void conn_own_write_cb(uv_write_t *req, int status)
{
	(void)status;
	free(req->data);
}

void conn_close(Conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	conn_forget_forwards(c);
	c->want_read = false;
	if (c->reading) {
		uv_read_stop(&c->h.stream);
		c->reading = false;
	}
	uv_close(&c->h.handle, conn_close_cb);
}

static void conn_close_cb(uv_handle_t *h)
{
	Conn *c = h->data;
	c->handle_closed = true;
	conn_maybe_finish_close(c);
}

static void conn_maybe_finish_close(Conn *c)
{
	if (!c->handle_closed || c->writes_out > 0)
		return;
	if (c->rbuf) {
		iobuf_unref(c->rbuf);
		c->rbuf = NULL;
	}
	free(c->side);
	c->side = NULL;
	tls_free(c->tls);
	c->tls = NULL;
	if (c->on_closed)
		c->on_closed(c);
}

void conn_peer_addr(Conn *c, char *out, size_t outlen, int *port)
{
	*port = 0;
	if (c->is_pipe) {
		snprintf(out, outlen, "unix");
		return;
	}
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) != 0) {
		snprintf(out, outlen, "?");
		return;
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		uv_ip6_name(a, out, outlen);
		*port = ntohs(a->sin6_port);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		uv_ip4_name(a, out, outlen);
		*port = ntohs(a->sin_port);
	}
}

/* ---- reading ---- */

static void conn_update_reading(Conn *c)
{
	if (c->closing || c->handle_closed)
		return;
	/* A connection whose owner is waiting (a client queued for a server) still reads while
	 * its buffer has room, so that a peer that goes away is noticed at once. */
	bool room = !c->rbuf || c->rbuf->end < c->rbuf->cap || c->rbuf->start > 0;
	if (c->tls && !c->tls_handshaking)
		room = tls_buffered_in(c->tls) < TLS_MAX_BUFFERED_IN;
	bool should =
		c->want_read && (!c->waiting || room) && c->writes_out == 0 && (!c->tls || room);
	if (should && !c->reading) {
		if (uv_read_start(&c->h.stream, conn_alloc_cb, conn_read_cb) == 0)
			c->reading = true;
	} else if (!should && c->reading) {
		uv_read_stop(&c->h.stream);
		c->reading = false;
	}
}

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	Conn *c = h->data;
	(void)suggested;
	if (c->tls) {
		*buf = uv_buf_init((char *)tls_raw, sizeof(tls_raw));
		return;
	}
	if (!c->rbuf) {
		c->rbuf = iobuf_get(conn_buf_size);
		if (!c->rbuf) {
			*buf = uv_buf_init(NULL, 0);
			return;
		}
	}
	IOBuf *b = c->rbuf;
	if (b->end == b->cap && b->start > 0 && c->writes_out == 0) {
		memmove(b->data, b->data + b->start, b->end - b->start);
		b->end -= b->start;
		b->pos -= b->start;
		b->start = 0;
	}
	*buf = uv_buf_init((char *)b->data + b->end, b->cap - b->end);
}

void conn_tick(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	turn_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t conn_turn_ns(void)
{
	return turn_ns;
}

void conn_sync_wall(void)
{
	struct timespec rt, mt;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mt);
	wall_offset_ns = ((int64_t)rt.tv_sec - (int64_t)mt.tv_sec) * 1000000000 +
			 ((int64_t)rt.tv_nsec - (int64_t)mt.tv_nsec);
}

int64_t conn_turn_wall_us(void)
{
	return ((int64_t)turn_ns + wall_offset_ns) / 1000;
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	Conn *c = s->data;
	(void)buf;
	conn_tick();
	if (nread > 0 && c->tls) {
		c->bytes_in += (uint64_t)nread;
		if (!tls_feed(c->tls, tls_raw, (size_t)nread)) {
			uv_read_stop(s);
			c->reading = false;
			if (c->on_error)
				c->on_error(c, UV_ENOMEM);
			return;
		}
		conn_tls_pump(c);
		return;
	}
	if (nread > 0) {
		c->rbuf->end += (uint32_t)nread;
		c->bytes_in += (uint64_t)nread;
		conn_process(c);
		return;
	}
	if (nread == 0) {
		conn_settle_buffer(c);
		return;
	}
	if (nread == UV_ENOBUFS) {
		/* no room: conn_process moves the frame being cut to the front of the buffer */
		conn_process(c);
		return;
	}
	uv_read_stop(s);
	c->reading = false;
	c->want_read = false;
	if (c->on_error)
		c->on_error(c, (int)nread);
}

/*
 * Makes room for the first `need` bytes of the frame at pos: moves it to the front of the buffer,
 * or (only for a frame held whole that is larger than the buffer) replaces the buffer with a
 * larger one. Nothing is moved while a write points into the buffer: conn_process runs again when
 * the writes complete. False if memory ran out.
 */
static bool conn_make_room(Conn *c, uint32_t need)
{
	IOBuf *b = c->rbuf;
	if (c->writes_out > 0 || c->n_iov > 0)
		return true;
	b->start = b->pos; /* nothing points into [start, pos) any more */
	uint32_t keep = b->end - b->pos;
	if (need <= b->cap) {
		if (b->pos > 0) {
			memmove(b->data, b->data + b->pos, keep);
			b->end = keep;
			b->pos = b->start = 0;
		}
		return true;
	}
	IOBuf *nb = iobuf_get(need);
	if (!nb)
		return false;
	memcpy(nb->data, b->data + b->pos, keep);
	nb->end = keep;
	iobuf_unref(b);
	c->rbuf = nb;
	return true;
}

/* Hands a frame (or the head of one) to the owner; PA_FORWARD queues its bytes for the peer. */
static PktAction conn_deliver(Conn *c, const PktHdr *hdr, uint8_t *p, uint32_t avail, bool full)
{
	c->frame_avail = full ? hdr->len : avail;
	c->fwd_from = 0;
	PktAction a = c->on_frame(c, hdr, p, full);
	if (a == PA_FORWARD)
		conn_forward_bytes(c, p + c->fwd_from, c->frame_avail - c->fwd_from);
	return a;
}

static void conn_process(Conn *c)
{
	if (c->in_process || c->closing)
		return;
	c->in_process = true;
	if (c->tls && !c->tls_handshaking)
		conn_tls_pull(c);
	while (c->rbuf && !c->closing && !c->waiting && c->want_read && !c->tls_handshaking) {
		IOBuf *b = c->rbuf;
		uint8_t *p = b->data + b->pos;
		uint32_t avail = b->end - b->pos;
		if (c->on_byte) {
			if (avail == 0 && !(c->tls && conn_tls_pull(c)))
				break;
			if (avail == 0)
				continue;
			ConnByteFn fn = c->on_byte;
			c->on_byte = NULL;
			b->pos++;
			if (fn(c, p[0], avail - 1) == PA_CLOSED) {
				c->in_process = false;
				return;
			}
			continue;
		}
		if (c->startup_phase && !c->tls && c->on_direct_tls && avail > 0 && p[0] == 0x16) {
			/* a TLS ClientHello where a startup packet belongs: direct TLS */
			Tls *t = tls_new_accept(true);
			if (!t || !tls_feed(t, p, avail)) {
				tls_free(t);
				c->in_process = false;
				if (c->on_error)
					c->on_error(c, UV_ENOMEM);
				return;
			}
			b->pos = b->end;
			c->in_process = false;
			conn_settle_buffer(c);
			conn_start_tls(c, t, c->on_direct_tls);
			if (!c->closing)
				conn_tls_pump(c);
			return;
		}
		if (c->stream_left > 0) {
			uint32_t n = avail < c->stream_left ? avail : c->stream_left;
			if (n == 0 && c->tls && conn_tls_pull(c))
				continue;
			if (n == 0)
				break;
			if (c->stream_forward)
				conn_forward_bytes(c, p, n);
			b->pos += n;
			c->stream_left -= n;
			continue;
		}
		PktHdr hdr;
		PktStatus st = c->startup_phase ? pkt_read_startup_header(p, avail, &hdr) :
						  pkt_read_header(p, avail, c->max_packet, &hdr);
		if (st == PKT_NEED_MORE) {
			if (c->tls && conn_tls_pull(c))
				continue;
			break;
		}
		if (st != PKT_OK) {
			conn_flush(c); /* the good frames before the bad one still go */
			c->in_process = false;
			if (c->on_error)
				c->on_error(c, st == PKT_TOO_BIG ? UV_E2BIG : UV_EPROTO);
			return;
		}
		bool whole = avail >= hdr.len;
		/* A frame larger than the buffer whose type may stream is never held whole: the
		 * owner sees its head (a whole buffer of it, or just its header for the types it
		 * never looks into) and the rest follows it through stream_left. */
		bool header_first = conn_is_header_first(c->is_server, hdr.type);
		bool stream = !whole && !c->startup_phase &&
			      conn_is_streamed(c->is_server, hdr.type) &&
			      (header_first || hdr.len > conn_buf_size);
		if (stream && (header_first || avail >= conn_buf_size)) {
			PktAction a = conn_deliver(c, &hdr, p, avail, false);
			if (a == PA_CLOSED) {
				c->in_process = false;
				return;
			}
			if (a == PA_WAIT) {
				c->waiting = true;
				break;
			}
			c->stream_forward = a == PA_FORWARD;
			b->pos += avail;
			c->stream_left = hdr.len - avail;
			continue;
		}
		if (!whole && !stream && c->is_server && hdr.len > CONN_SERVER_HELD_MAX) {
			/* PostgreSQL's largest such frame (a RowDescription of 1664 columns, a
			 * ParameterDescription of 65535 types) stays far below the limit: a longer
			 * declared length is a broken server, not a reason to reserve gigabytes */
			conn_flush(c);
			c->in_process = false;
			if (c->on_error)
				c->on_error(c, UV_E2BIG);
			return;
		}
		if (!whole) {
			if (!conn_make_room(c, stream ? conn_buf_size : hdr.len)) {
				c->in_process = false;
				if (c->on_error)
					c->on_error(c, UV_ENOMEM);
				return;
			}
			if (c->tls && conn_tls_pull(c))
				continue;
			break;
		}
		PktAction a = conn_deliver(c, &hdr, p, avail, true);
		if (a == PA_CLOSED) {
			c->in_process = false;
			return;
		}
		if (a == PA_WAIT) {
			c->waiting = true;
			break;
		}
		/* on_frame cannot replace rbuf, but re-read it all the same */
		c->rbuf->pos += hdr.len;
	}
	conn_flush(c);
	c->in_process = false;
	if (c->closing)
		return;
	conn_settle_buffer(c);
	if (c->tls_dead && !c->waiting) {
		/* every frame before the peer's close_notify (or the error) was handled */
		c->tls_dead = false;
		c->want_read = false;
		conn_update_reading(c);
		if (c->on_error)
			c->on_error(c, UV_EOF);
		return;
	}
	conn_update_reading(c);
}

/* Moves `start` up to `pos` when nothing points into the buffer; gives an empty buffer back. */
static void conn_settle_buffer(Conn *c)
{
	IOBuf *b = c->rbuf;
	if (!b || c->writes_out > 0 || c->n_iov > 0)
		return;
	b->start = b->pos;
	if (b->start == b->end) {
		c->rbuf = NULL;
		iobuf_unref(b);
	}
}

/* ---- buffers ---- */

static IOBuf *iobuf_get(uint32_t min_cap)
{
	IOBuf *b;
	if (min_cap <= conn_buf_size && free_bufs) {
		b = free_bufs;
		memcpy(&free_bufs, b->data, sizeof(IOBuf *));
		n_free_bufs--;
	} else {
		uint32_t cap = min_cap < conn_buf_size ? conn_buf_size : min_cap;
		b = malloc(sizeof(IOBuf) + cap);
		if (!b)
			return NULL;
		b->cap = cap;
	}
	b->start = b->pos = b->end = 0;
	b->refs = 1;
	return b;
}

static void iobuf_unref(IOBuf *b)
{
	if (--b->refs > 0)
		return;
	if (b->cap == conn_buf_size && n_free_bufs < MAX_FREE_BUFS) {
		memcpy(b->data, &free_bufs, sizeof(IOBuf *));
		free_bufs = b;
		n_free_bufs++;
		return;
	}
	free(b);
}

/* ---- TLS (tls.h holds OpenSSL; this is how its bytes meet the socket and the frames) ---- */

void conn_start_tls(Conn *c, Tls *t, ConnTlsFn done)
{
	c->tls = t;
	c->tls_handshaking = true;
	c->on_tls = done;
	c->on_direct_tls = NULL;
	/* a client speaks first: its ClientHello goes out now */
	if (tls_handshake(t) == TLS_FAIL || !conn_tls_send_out(c)) {
		c->tls_handshaking = false;
		done(c, false);
		return;
	}
	conn_update_reading(c);
}

void conn_expect_byte(Conn *c, ConnByteFn fn)
{
	c->on_byte = fn;
}

uint32_t conn_bytes_after_frame(const Conn *c)
{
	const IOBuf *b = c->rbuf;
	return b ? b->end - b->pos - c->frame_avail : 0;
}

void conn_tls_describe(const Conn *c, char *buf, size_t len)
{
	tls_describe(c->tls, buf, len);
}

/* New bytes reached OpenSSL: the handshake goes on, or the plaintext is framed. */
static void conn_tls_pump(Conn *c)
{
	if (c->tls_handshaking) {
		TlsStep st = tls_handshake(c->tls);
		bool sent = conn_tls_send_out(c);
		if (st == TLS_AGAIN && sent) {
			conn_update_reading(c);
			return;
		}
		c->tls_handshaking = false;
		c->on_tls(c, st == TLS_DONE && sent);
		if (c->closing || st != TLS_DONE || !sent)
			return;
	}
	conn_process(c);
}

/* Decrypted bytes into the read buffer, as many as fit. True when any were added. A close_notify
 * or an error marks the connection dead, reported once the frames before it are handled. */
static bool conn_tls_pull(Conn *c)
{
	bool got = false;
	for (;;) {
		if (!c->rbuf) {
			if (!tls_has_pending(c->tls))
				break;
			c->rbuf = iobuf_get(conn_buf_size);
			if (!c->rbuf)
				break;
		}
		IOBuf *b = c->rbuf;
		if (b->end == b->cap && b->pos > 0 && c->writes_out == 0 && c->n_iov == 0) {
			memmove(b->data, b->data + b->pos, b->end - b->pos);
			b->end -= b->pos;
			b->start = b->pos = 0;
		}
		if (b->end == b->cap)
			break;
		ssize_t n = tls_read(c->tls, b->data + b->end, b->cap - b->end);
		if (n < 0)
			c->tls_dead = true;
		if (n <= 0)
			break;
		b->end += (uint32_t)n;
		got = true;
	}
	/* reading may have produced records of OpenSSL's own (a TLS 1.3 KeyUpdate answer) */
	if (tls_out_len(c->tls) && !conn_tls_send_out(c))
		c->tls_dead = true;
	return got;
}

/* Everything OpenSSL has encrypted, to the socket. False when the socket refused it. */
static bool conn_tls_send_out(Conn *c)
{
	uint8_t chunk[16384];
	size_t n;
	while ((n = tls_take_out(c->tls, chunk, sizeof(chunk))) > 0)
		if (conn_send_raw(c, chunk, n) != 0)
			return false;
	return true;
}
