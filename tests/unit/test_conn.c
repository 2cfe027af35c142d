/*
 * test_conn: the connection layer on real sockets. A "source" Conn wraps one end of a
 * socketpair (the test writes protocol bytes into the other end) and forwards to a "destination"
 * Conn on a second socketpair (the test reads what arrives at the other end). The owner callback
 * records every frame and answers by a fixed policy, so the expected frames and the expected
 * forwarded bytes are known in advance. Every message sequence is written split at every byte
 * boundary (the first k bytes, run the loop until nothing moves, then the rest) and must give the
 * same frames and the same forwarded bytes each time. The read buffer is 1024 bytes so that
 * frames larger than it are part of every run: DataRow / CopyData handed over after their header,
 * a client's Query / Parse / Bind / FunctionCall and a server's ErrorResponse after a whole buffer
 * of their head, the rest streamed behind it; the buffer never grows for them.
 *
 * "Until nothing moves" is measured, not timed: the loop is run with UV_RUN_NOWAIT until three
 * passes in a row deliver no frame, forward no byte and read nothing from the socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "proxy/conn.h"
#include "proxy/proto.h"

#define BUF_SIZE 1024

static uv_loop_t loop;

/* ---- growable byte strings ---- */

typedef struct Bytes {
	uint8_t *p;
	size_t len;
	size_t cap;
} Bytes;

static void bytes_add(Bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		assert_non_null(b->p);
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void bytes_free(Bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* ---- the owner: records frames, answers by policy ---- */

typedef struct Frame {
	uint8_t type;
	uint32_t len;
	uint32_t code;
	bool full;
	PktAction answer;
	uint32_t buf_cap; /* the read buffer's size when the frame was delivered */
	Bytes bytes;	  /* the whole frame when full, its head (frame_avail bytes) when not */
} Frame;

typedef struct Side {
	Conn conn;
	Frame *frames;
	size_t n_frames;
	size_t cap_frames;
	int errors[8];
	int n_errors;
	int *closed_count;    /* incremented by on_closed, which also frees the Side */
	size_t *final_frames; /* on_closed stores n_frames here */
	/* policy */
	const char *consume;  /* frame types answered PA_CONSUMED */
	uint32_t consume_len; /* frames of this length are answered PA_CONSUMED too */
	long wait_at;	      /* the delivery with this index is answered PA_WAIT; -1 none */
	long pause_at;	      /* conn_pause is called during this delivery; -1 none */
	long send_at;	      /* conn_flush + conn_send(peer, send) and PA_CONSUMED here; -1 none */
	Bytes send;
	long close_at; /* conn_close and PA_CLOSED here; -1 none */
	bool close_on_error;
	const char *rewrite; /* frame types whose first REWRITE_AT bytes the owner replaces */
} Side;

/* The rewrite policy: the owner queues its own 3 bytes and forwards the frame from offset 6 on,
 * as client.c renames the statement in a Bind (conn_forward_from). */
#define REWRITE_AT 6
static const uint8_t rewrite_bytes[3] = {'<', 'r', '>'};

/* Frame types rewritten by the pairs opened from now on (like dst_sndbuf: set by a test). */
static const char *rewrite_types;

static bool policy_rewrites(const char *rewrite, uint8_t type)
{
	return type != 0 && rewrite && strchr(rewrite, type);
}

static bool policy_consumes(const char *consume, uint32_t consume_len, uint8_t type, uint32_t len)
{
	if (type != 0 && consume && strchr(consume, type))
		return true;
	return consume_len && len == consume_len;
}

static PktAction side_on_frame(Conn *c, const PktHdr *hdr, const uint8_t *pkt, bool full)
{
	Side *s = c->owner;
	long idx = (long)s->n_frames;
	if (s->n_frames == s->cap_frames) {
		s->cap_frames = s->cap_frames ? s->cap_frames * 2 : 64;
		s->frames = realloc(s->frames, s->cap_frames * sizeof(Frame));
		assert_non_null(s->frames);
	}
	Frame *f = &s->frames[s->n_frames++];
	memset(f, 0, sizeof(*f));
	f->type = hdr->type;
	f->len = hdr->len;
	f->code = hdr->code;
	f->full = full;
	/* a partial frame guarantees only its head; the sanitizer build checks we stay there */
	assert_true(full ? c->frame_avail == hdr->len : c->frame_avail < hdr->len);
	bytes_add(&f->bytes, pkt, c->frame_avail);
	f->buf_cap = c->rbuf->cap;

	PktAction a = PA_FORWARD;
	if (idx == s->wait_at) {
		a = PA_WAIT;
	} else if (idx == s->close_at) {
		conn_close(c);
		a = PA_CLOSED;
	} else if (idx == s->send_at) {
		conn_flush(c);
		assert_int_equal(conn_send(c->peer, s->send.p, s->send.len), 0);
		a = PA_CONSUMED;
	} else if (policy_consumes(s->consume, s->consume_len, hdr->type, hdr->len)) {
		a = PA_CONSUMED;
	} else if (policy_rewrites(s->rewrite, hdr->type)) {
		assert_true(conn_forward_extra(c, rewrite_bytes, sizeof(rewrite_bytes)));
		conn_forward_from(c, REWRITE_AT);
	}
	if (idx == s->pause_at)
		conn_pause(c);
	/* the client's rule: the startup packet ends the untyped phase */
	if (c->startup_phase && hdr->code == PQ_PROTOCOL_3_0 && a != PA_WAIT)
		c->startup_phase = false;
	f->answer = a;
	return a;
}

static void side_on_error(Conn *c, int status)
{
	Side *s = c->owner;
	assert_true(s->n_errors < 8);
	s->errors[s->n_errors++] = status;
	if (s->close_on_error)
		conn_close(c);
}

static void side_free(Side *s)
{
	for (size_t i = 0; i < s->n_frames; i++)
		bytes_free(&s->frames[i].bytes);
	free(s->frames);
	bytes_free(&s->send);
	free(s);
}

static void side_on_closed(Conn *c)
{
	Side *s = c->owner;
	/* like an owner unlinking client and server: the survivor stops forwarding to us */
	if (c->peer && c->peer->peer == c)
		c->peer->peer = NULL;
	(*s->closed_count)++;
	*s->final_frames = s->n_frames;
	side_free(s);
}

/* ---- a source/destination pair on two socketpairs ---- */

typedef struct Pair {
	Side *src;
	Side *dst;
	int src_fd; /* the source Conn's socket (owned by its handle) */
	int in_fd;  /* the test writes the client's / server's bytes here */
	int out_fd; /* the test reads what was forwarded here */
	int src_closed;
	int dst_closed;
	size_t src_final_frames;
	size_t dst_final_frames;
	Bytes out;	  /* everything read from out_fd */
	size_t drain_max; /* a slow receiver: at most this many bytes per drain (0: all) */
} Pair;

/* When set, the destination's send buffer is made this small, so its writes back up early. */
static int dst_sndbuf;

static Side *side_new(int *closed_count, size_t *final_frames, int fd)
{
	Side *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->wait_at = s->pause_at = s->send_at = s->close_at = -1;
	s->closed_count = closed_count;
	s->final_frames = final_frames;
	s->close_on_error = true;
	s->rewrite = rewrite_types;
	assert_int_equal(conn_init(&s->conn, true, s, side_on_frame, side_on_error, side_on_closed),
			 0);
	assert_int_equal(uv_pipe_open(&s->conn.h.pipe, fd), 0);
	return s;
}

static void pair_open(Pair *p, bool is_server)
{
	int a[2], b[2];

	memset(p, 0, sizeof(*p));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	p->src_fd = a[0];
	p->in_fd = a[1];
	p->out_fd = b[1];
	assert_int_equal(fcntl(p->in_fd, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(p->out_fd, F_SETFL, O_NONBLOCK), 0);
	if (dst_sndbuf)
		assert_int_equal(
			setsockopt(b[0], SOL_SOCKET, SO_SNDBUF, &dst_sndbuf, sizeof(dst_sndbuf)),
			0);
	p->src = side_new(&p->src_closed, &p->src_final_frames, a[0]);
	p->dst = side_new(&p->dst_closed, &p->dst_final_frames, b[0]);
	p->src->conn.is_server = is_server;
	p->dst->conn.is_server = !is_server;
	p->src->conn.peer = &p->dst->conn;
	p->dst->conn.peer = &p->src->conn;
	conn_start(&p->src->conn);
	conn_start(&p->dst->conn);
}

static int unread_bytes(int fd)
{
	int n = 0;
	assert_int_equal(ioctl(fd, FIONREAD, &n), 0);
	return n;
}

/* Reads what has arrived at out_fd; returns how many bytes. */
static size_t pair_drain(Pair *p)
{
	uint8_t buf[65536];
	size_t total = 0;
	for (;;) {
		size_t want = sizeof(buf);
		if (p->drain_max) {
			if (total >= p->drain_max)
				return total;
			want = p->drain_max - total;
		}
		ssize_t n = read(p->out_fd, buf, want);
		if (n > 0) {
			bytes_add(&p->out, buf, (size_t)n);
			total += (size_t)n;
			continue;
		}
		assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
		return total;
	}
}

/* Whether the source's socket is still open (uv_close closes the fd at once). */
static bool src_alive(const Pair *p)
{
	return !p->src_closed && !p->src->conn.closing;
}

/*
 * Runs the loop until three passes in a row change nothing. With drain false the test does not
 * read out_fd (a receiver that does not read).
 */
static void pair_pump(Pair *p, bool drain)
{
	int quiet = 0;
	for (int i = 0; i < 1000000 && quiet < 3; i++) {
		bool alive = src_alive(p);
		size_t frames = alive ? p->src->n_frames : 0;
		int unread = alive ? unread_bytes(p->src_fd) : 0;
		uv_run(&loop, UV_RUN_NOWAIT);
		size_t got = drain ? pair_drain(p) : 0;
		alive = alive && src_alive(p);
		bool moved = got > 0 || (alive && (p->src->n_frames != frames ||
						   unread_bytes(p->src_fd) != unread));
		quiet = moved ? 0 : quiet + 1;
	}
	assert_int_equal(quiet, 3);
}

/* Writes all of data into in_fd, running the loop whenever the socket is full. */
static void pair_feed(Pair *p, const uint8_t *data, size_t len, bool drain)
{
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(p->in_fd, data + off, len - off);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		assert_true(n < 0 && errno == EAGAIN);
		uv_run(&loop, UV_RUN_NOWAIT);
		if (drain)
			pair_drain(p);
	}
}

/* Closes both sides and runs the loop until both close callbacks ran. */
static void pair_close(Pair *p)
{
	if (!p->src_closed)
		conn_close(&p->src->conn);
	if (!p->dst_closed)
		conn_close(&p->dst->conn);
	for (int i = 0; i < 1000 && (p->src_closed == 0 || p->dst_closed == 0); i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(p->src_closed, 1);
	assert_int_equal(p->dst_closed, 1);
	close(p->in_fd);
	close(p->out_fd);
	bytes_free(&p->out);
}

/* ---- message sequences ---- */

typedef struct ExpFrame {
	uint8_t type;
	uint32_t len;
	uint32_t code;
	size_t off;
} ExpFrame;

/* Cuts a byte sequence into frames the way a correct reader must; returns the count. */
static size_t expect_frames(const Bytes *seq, bool startup, ExpFrame *out, size_t max)
{
	size_t n = 0, off = 0;
	while (off < seq->len) {
		assert_true(n < max);
		ExpFrame *f = &out[n++];
		f->off = off;
		if (startup) {
			f->type = 0;
			f->len = pkt_be32(seq->p + off);
			f->code = pkt_be32(seq->p + off + 4);
			if (f->code == PQ_PROTOCOL_3_0)
				startup = false;
		} else {
			f->type = seq->p[off];
			f->len = pkt_be32(seq->p + off + 1) + 1;
			f->code = 0;
		}
		off += f->len;
	}
	assert_int_equal(off, seq->len);
	return n;
}

static void put_frame(Bytes *seq, PktBuf *b)
{
	assert_false(pktbuf_failed(b));
	bytes_add(seq, b->data, b->len);
	pktbuf_reset(b);
}

/* A client's extended-protocol round, a COPY IN with CopyData larger than the read buffer, and
 * a Query larger than the read buffer. 'H' (Flush) is what the test's owner consumes. */
static void build_client_sequence(Bytes *seq, size_t copy_len, size_t big_query_len)
{
	PktBuf b;
	pktbuf_init(&b);
	pq_write_query(&b, "SELECT 1");
	put_frame(seq, &b);

	pktbuf_start(&b, PQ_MSG_PARSE);
	pktbuf_put_cstring(&b, "s1");
	pktbuf_put_cstring(&b, "SELECT $1::int");
	pktbuf_put_u16(&b, 1);
	pktbuf_put_u32(&b, 23);
	pktbuf_finish(&b);
	pktbuf_start(&b, PQ_MSG_BIND);
	pktbuf_put_cstring(&b, "");
	pktbuf_put_cstring(&b, "s1");
	pktbuf_put_u16(&b, 0);
	pktbuf_put_u16(&b, 1);
	pktbuf_put_u32(&b, 2);
	pktbuf_put_bytes(&b, "42", 2);
	pktbuf_put_u16(&b, 0);
	pktbuf_finish(&b);
	pktbuf_start(&b, PQ_MSG_DESCRIBE);
	pktbuf_put_u8(&b, 'P');
	pktbuf_put_cstring(&b, "");
	pktbuf_finish(&b);
	pktbuf_start(&b, PQ_MSG_EXECUTE);
	pktbuf_put_cstring(&b, "");
	pktbuf_put_u32(&b, 0);
	pktbuf_finish(&b);
	pktbuf_start(&b, PQ_MSG_FLUSH);
	pktbuf_finish(&b);
	pktbuf_start(&b, PQ_MSG_SYNC);
	pktbuf_finish(&b);
	put_frame(seq, &b);

	pq_write_query(&b, "COPY t FROM STDIN");
	pktbuf_start(&b, PQ_MSG_COPY_DATA);
	for (size_t i = 0; i < copy_len; i++)
		pktbuf_put_u8(&b, (uint8_t)('a' + i % 26));
	pktbuf_finish(&b);
	pktbuf_start(&b, PQ_MSG_COPY_DATA);
	pktbuf_put_bytes(&b, "1\tone\n", 6);
	pktbuf_finish(&b);
	pktbuf_start(&b, PQ_MSG_COPY_DONE);
	pktbuf_finish(&b);
	put_frame(seq, &b);

	char *sql = malloc(big_query_len + 1);
	assert_non_null(sql);
	memcpy(sql, "SELECT '", 8);
	for (size_t i = 8; i < big_query_len - 1; i++)
		sql[i] = (char)('0' + i % 10);
	sql[big_query_len - 1] = '\'';
	sql[big_query_len] = 0;
	pq_write_query(&b, sql);
	free(sql);
	pktbuf_start(&b, PQ_MSG_FLUSH);
	pktbuf_finish(&b);
	pktbuf_start(&b, PQ_MSG_TERMINATE);
	pktbuf_finish(&b);
	put_frame(seq, &b);
	pktbuf_free(&b);
}

/* A server's answer: RowDescription, many small DataRows with NoticeResponses between them
 * (consumed, so the forwards are many separate pieces), a DataRow larger than the buffer, one of
 * length 2222 that the owner consumes (its tail must be dropped), a NoticeResponse larger than
 * the buffer (consumed after its head: its tail must be dropped), CopyOut with CopyData larger
 * than the buffer, an ErrorResponse larger than the buffer (streamed after its head), a
 * RowDescription larger than the buffer (bounded by PostgreSQL, held whole: the buffer grows),
 * ReadyForQuery. */
static void build_server_sequence(Bytes *seq)
{
	PktBuf b;
	char v[4000];
	const char *names[] = {"id", "v"};
	const uint32_t oids[] = {20, 25};
	pktbuf_init(&b);

	pq_write_row_description(&b, names, oids, 2);
	for (int i = 0; i < 30; i++) {
		char id[16];
		snprintf(id, sizeof(id), "%d", i);
		const char *vals[] = {id, i % 3 == 0 ? NULL : "value"};
		pq_write_data_row(&b, vals, 2);
		if (i % 2 == 1) {
			pktbuf_start(&b, PQ_MSG_NOTICE_RESPONSE);
			pktbuf_put_u8(&b, 'S');
			pktbuf_put_cstring(&b, "NOTICE");
			pktbuf_put_u8(&b, 'M');
			pktbuf_put_cstring(&b, "row");
			pktbuf_put_u8(&b, 0);
			pktbuf_finish(&b);
		}
	}
	memset(v, 'w', 2990);
	v[2990] = 0;
	const char *big[] = {"99", v};
	pq_write_data_row(&b, big, 2);
	/* 2222 bytes in all: 1 + 4 + 2 + 2 * 4 + 3 + value */
	memset(v, 'c', 2204);
	v[2204] = 0;
	const char *consumed[] = {"100", v};
	pq_write_data_row(&b, consumed, 2);
	pq_write_command_complete(&b, "SELECT 32");
	memset(v, 'n', 1800);
	v[1800] = 0;
	pktbuf_start(&b, PQ_MSG_NOTICE_RESPONSE);
	pktbuf_put_u8(&b, 'S');
	pktbuf_put_cstring(&b, "NOTICE");
	pktbuf_put_u8(&b, 'M');
	pktbuf_put_cstring(&b, v);
	pktbuf_put_u8(&b, 0);
	pktbuf_finish(&b);

	pktbuf_start(&b, PQ_MSG_COPY_OUT_RESPONSE);
	pktbuf_put_u8(&b, 0);
	pktbuf_put_u16(&b, 1);
	pktbuf_put_u16(&b, 0);
	pktbuf_finish(&b);
	pktbuf_start(&b, PQ_MSG_COPY_DATA);
	for (int i = 0; i < 2500; i++)
		pktbuf_put_u8(&b, (uint8_t)('A' + i % 26));
	pktbuf_finish(&b);
	pktbuf_start(&b, PQ_MSG_COPY_DONE);
	pktbuf_finish(&b);
	pq_write_command_complete(&b, "COPY 1");

	memset(v, 'e', 1500);
	v[1500] = 0;
	pq_write_error(&b, "ERROR", "42P01", v, "detail", NULL);
	/* 40 columns named by 40 characters: 7 + 40 * (41 + 18) = 2367 bytes */
	const char *wide_names[40];
	uint32_t wide_oids[40];
	char wide[40][41];
	for (int i = 0; i < 40; i++) {
		memset(wide[i], 'a' + i % 26, 40);
		wide[i][0] = (char)('A' + i / 26);
		wide[i][40] = 0;
		wide_names[i] = wide[i];
		wide_oids[i] = 25;
	}
	pq_write_row_description(&b, wide_names, wide_oids, 40);
	pq_write_ready(&b, PQ_TX_IDLE);
	put_frame(seq, &b);
	pktbuf_free(&b);
}

/* ---- checks ---- */

typedef struct Expect {
	const Bytes *seq;
	ExpFrame frames[256];
	size_t n_frames;
	Bytes forwarded;
} Expect;

static void expect_init(Expect *e, const Bytes *seq, bool startup, const char *consume,
			uint32_t consume_len)
{
	memset(e, 0, sizeof(*e));
	e->seq = seq;
	e->n_frames = expect_frames(seq, startup, e->frames, 256);
	for (size_t i = 0; i < e->n_frames; i++) {
		const ExpFrame *f = &e->frames[i];
		if (policy_consumes(consume, consume_len, f->type, f->len))
			continue;
		if (policy_rewrites(rewrite_types, f->type)) {
			bytes_add(&e->forwarded, rewrite_bytes, sizeof(rewrite_bytes));
			bytes_add(&e->forwarded, seq->p + f->off + REWRITE_AT, f->len - REWRITE_AT);
		} else {
			bytes_add(&e->forwarded, seq->p + f->off, f->len);
		}
	}
}

/* The frames a Side received are exactly the expected ones, whole or (streamed) header. */
static void check_frames(const Side *s, const Expect *e, bool is_server, const char *what, size_t k)
{
	if (s->n_frames != e->n_frames)
		fail_msg("%s split at %zu: %zu frames, expected %zu", what, k, s->n_frames,
			 e->n_frames);
	for (size_t i = 0; i < e->n_frames; i++) {
		const Frame *f = &s->frames[i];
		const ExpFrame *x = &e->frames[i];
		if (f->type != x->type || f->len != x->len || f->code != x->code)
			fail_msg("%s split at %zu: frame %zu is %c/%u, expected %c/%u", what, k, i,
				 f->type ? f->type : '0', f->len, x->type ? x->type : '0', x->len);
		if (f->full) {
			assert_int_equal(f->bytes.len, x->len);
		} else {
			/* only streamed types larger than the buffer arrive in pieces: DataRow and
			 * CopyData with their header, the others with a whole buffer of their head */
			assert_true(conn_is_streamed(is_server, f->type));
			if (f->type == PQ_MSG_COPY_DATA ||
			    (is_server && f->type == PQ_MSG_DATA_ROW)) {
				assert_true(f->bytes.len >= 5);
			} else {
				assert_true(x->len > BUF_SIZE);
				assert_true(f->bytes.len >= BUF_SIZE);
			}
		}
		/* a frame in pieces never makes the buffer grow */
		if (!f->full)
			assert_int_equal(f->buf_cap, BUF_SIZE);
		assert_memory_equal(f->bytes.p, e->seq->p + x->off, f->bytes.len);
	}
}

static void check_forwarded(const Pair *p, const Expect *e, const char *what, size_t k)
{
	if (p->out.len != e->forwarded.len)
		fail_msg("%s split at %zu: %zu bytes forwarded, expected %zu", what, k, p->out.len,
			 e->forwarded.len);
	for (size_t i = 0; i < e->forwarded.len; i++)
		if (p->out.p[i] != e->forwarded.p[i])
			fail_msg("%s split at %zu: forwarded byte %zu is 0x%02x, expected 0x%02x",
				 what, k, i, p->out.p[i], e->forwarded.p[i]);
}

/* After everything was handled: no buffer held, nothing in flight, still reading. */
static void check_idle(const Pair *p, size_t in_len, size_t fwd_len)
{
	const Conn *c = &p->src->conn;
	assert_null(c->rbuf);
	assert_null(p->dst->conn.rbuf);
	assert_int_equal(c->writes_out, 0);
	assert_int_equal(c->n_iov, 0);
	assert_int_equal(c->stream_left, 0);
	assert_true(c->reading);
	assert_false(c->waiting);
	assert_int_equal(p->dst->conn.h.stream.write_queue_size, 0);
	assert_int_equal(c->bytes_in, in_len);
	assert_int_equal(p->dst->conn.bytes_out, fwd_len);
	assert_int_equal(p->src->n_errors, 0);
}

/*
 * Writes seq split at every byte boundary k in [1, len) (and whole, and byte by byte) into a
 * fresh pair and checks frames, forwarded bytes and the idle state after each.
 */
static void run_every_split(const Bytes *seq, bool is_server, bool startup, const char *consume,
			    uint32_t consume_len, const char *what, size_t step)
{
	Expect e;
	size_t runs = 0;
	expect_init(&e, seq, startup, consume, consume_len);
	for (size_t k = 0; k <= seq->len; k += (k < 64 || k + 64 > seq->len) ? 1 : step) {
		Pair p;
		pair_open(&p, is_server);
		p.src->conn.startup_phase = startup;
		p.src->consume = consume;
		p.src->consume_len = consume_len;
		if (k == seq->len) {
			/* one byte at a time */
			for (size_t i = 0; i < seq->len; i++) {
				pair_feed(&p, seq->p + i, 1, true);
				pair_pump(&p, true);
			}
		} else {
			pair_feed(&p, seq->p, k, true);
			pair_pump(&p, true);
			pair_feed(&p, seq->p + k, seq->len - k, true);
			pair_pump(&p, true);
		}
		check_frames(p.src, &e, is_server, what, k);
		runs++;
		check_forwarded(&p, &e, what, k);
		check_idle(&p, seq->len, e.forwarded.len);
		pair_close(&p);
	}
	print_message("%s: %zu bytes, %zu frames, %zu runs\n", what, seq->len, e.n_frames, runs);
	bytes_free(&e.forwarded);
}

/* ---- tests ---- */

static void run_wait_resume(const Bytes *seq, bool is_server, const char *consume,
			    uint32_t consume_len);

static void test_conn_client_sequence_every_split(void **state)
{
	Bytes seq = {0};
	(void)state;
	build_client_sequence(&seq, 2500, 5000);
	assert_true(seq.len > 7500);
	run_every_split(&seq, false, false, "H", 0, "client", 1);
	bytes_free(&seq);
}

static void test_conn_server_sequence_every_split(void **state)
{
	Bytes seq = {0};
	(void)state;
	build_server_sequence(&seq);
	run_every_split(&seq, true, false, "N", 2222, "server", 1);
	bytes_free(&seq);
}

/* A 100 KB Query: streamed through the 1 KB buffer, never held whole. Every split near the ends,
 * and every 97th byte in between (97 is prime to the buffer size, so the split lands at every
 * offset inside a buffer-sized block along the way). */
static void test_conn_huge_query_splits(void **state)
{
	Bytes seq = {0};
	(void)state;
	build_client_sequence(&seq, 100, 100000);
	assert_true(seq.len > 100000);
	run_every_split(&seq, false, false, "H", 0, "huge query", 97);
	bytes_free(&seq);
}

/*
 * Client messages larger than the buffer, each of a kind the owner must read the head of before
 * it decides: a Query, a named Parse, a Bind with a big parameter (rewritten: pgsift renames the
 * statement, so it replaces the head and forwards the rest), a FunctionCall the owner consumes
 * after its head (the rest must be dropped), a Query of exactly the buffer's size (held whole)
 * and one byte more (streamed), between small frames.
 */
static void build_big_client_sequence(Bytes *seq)
{
	PktBuf b;
	char text[4001];
	pktbuf_init(&b);
	memset(text, 'q', 3000);
	memcpy(text, "SELECT '", 8);
	memcpy(text + 2999 - 1, "'", 2);
	pq_write_query(&b, text);
	pktbuf_start(&b, PQ_MSG_PARSE);
	pktbuf_put_cstring(&b, "s1");
	memset(text, 'p', 2500);
	text[2500] = 0;
	pktbuf_put_cstring(&b, text);
	pktbuf_put_u16(&b, 1);
	pktbuf_put_u32(&b, 25);
	pktbuf_finish(&b);
	pktbuf_start(&b, PQ_MSG_BIND);
	pktbuf_put_cstring(&b, "");
	pktbuf_put_cstring(&b, "s1");
	pktbuf_put_u16(&b, 0);
	pktbuf_put_u16(&b, 1);
	pktbuf_put_u32(&b, 4000);
	for (int i = 0; i < 4000; i++)
		pktbuf_put_u8(&b, (uint8_t)('a' + i % 26));
	pktbuf_put_u16(&b, 0);
	pktbuf_finish(&b);
	pktbuf_start(&b, PQ_MSG_EXECUTE);
	pktbuf_put_cstring(&b, "");
	pktbuf_put_u32(&b, 0);
	pktbuf_finish(&b);
	pktbuf_start(&b, PQ_MSG_SYNC);
	pktbuf_finish(&b);
	pktbuf_start(&b, PQ_MSG_FUNCTION_CALL);
	pktbuf_put_u32(&b, 955); /* lo_write */
	pktbuf_put_u16(&b, 0);
	pktbuf_put_u16(&b, 1);
	pktbuf_put_u32(&b, 2000);
	for (int i = 0; i < 2000; i++)
		pktbuf_put_u8(&b, (uint8_t)i);
	pktbuf_put_u16(&b, 0);
	pktbuf_finish(&b);
	/* 1 + 4 + text + 1 = BUF_SIZE, then one byte more */
	memset(text, 'x', BUF_SIZE - 6);
	text[BUF_SIZE - 6] = 0;
	pq_write_query(&b, text);
	memset(text, 'y', BUF_SIZE - 5);
	text[BUF_SIZE - 5] = 0;
	pq_write_query(&b, text);
	pktbuf_start(&b, PQ_MSG_TERMINATE);
	pktbuf_finish(&b);
	put_frame(seq, &b);
	pktbuf_free(&b);
}

/* Every client frame larger than the buffer streams, split at every byte boundary: the owner
 * sees a whole buffer of its head once, its answer (forward, consume, rewrite the head) applies
 * to the whole frame, and the read buffer never grows. */
static void test_conn_client_frames_stream_every_split(void **state)
{
	Bytes seq = {0};
	Expect e;
	(void)state;
	build_big_client_sequence(&seq);
	expect_init(&e, &seq, false, "F", 0);
	assert_int_equal(e.n_frames, 9);
	assert_int_equal(e.frames[6].len, BUF_SIZE);
	assert_int_equal(e.frames[7].len, BUF_SIZE + 1);
	bytes_free(&e.forwarded);
	rewrite_types = "B";
	for (int pass = 0; pass < 2; pass++) {
		size_t steps[] = {1, 37};
		Pair p;
		run_every_split(&seq, false, false, "F", 0, "big client frames", steps[pass]);
		/* the frames' shapes are the same whatever the split: check one run closely */
		pair_open(&p, false);
		p.src->consume = "F";
		pair_feed(&p, seq.p, seq.len, true);
		pair_pump(&p, true);
		assert_int_equal(p.src->n_frames, 9);
		for (size_t i = 0; i < p.src->n_frames; i++) {
			const Frame *f = &p.src->frames[i];
			assert_int_equal(f->full, f->len <= BUF_SIZE);
			assert_int_equal(f->buf_cap, BUF_SIZE);
			if (!f->full)
				assert_int_equal(f->bytes.len, BUF_SIZE);
		}
		pair_close(&p);
	}
	rewrite_types = NULL;
	bytes_free(&seq);
}

/* A client whose owner waits (no server yet) on a frame larger than the buffer holds one buffer
 * of it and stops reading; the rest waits in the socket until the owner resumes. */
static void test_conn_waiting_on_big_frame_holds_one_buffer(void **state)
{
	Bytes seq = {0};
	(void)state;
	build_big_client_sequence(&seq);
	rewrite_types = "B";
	run_wait_resume(&seq, false, "F", 0);
	for (long at = 0; at < 3; at++) {
		Pair p;
		pair_open(&p, false);
		p.src->wait_at = at;
		p.src->consume = "F";
		pair_feed(&p, seq.p, seq.len, true);
		pair_pump(&p, true);
		assert_true(p.src->conn.waiting);
		assert_false(p.src->conn.reading);
		assert_int_equal(p.src->conn.rbuf->cap, BUF_SIZE);
		assert_true(unread_bytes(p.src_fd) > 0);
		conn_resume(&p.src->conn);
		pair_pump(&p, true);
		assert_int_equal(p.src->n_frames, 10);
		pair_close(&p);
	}
	rewrite_types = NULL;
	bytes_free(&seq);
}

static void test_conn_streamed_rules(void **state)
{
	(void)state;
	/* from a server: rows, copy data and the messages PostgreSQL does not bound */
	assert_true(conn_is_streamed(true, PQ_MSG_DATA_ROW));
	assert_true(conn_is_streamed(true, PQ_MSG_COPY_DATA));
	assert_true(conn_is_streamed(true, PQ_MSG_ERROR_RESPONSE));
	assert_true(conn_is_streamed(true, PQ_MSG_NOTICE_RESPONSE));
	assert_true(conn_is_streamed(true, PQ_MSG_NOTIFICATION_RESPONSE));
	assert_true(conn_is_streamed(true, PQ_MSG_FUNCTION_CALL_RESPONSE));
	/* bounded by PostgreSQL, held whole */
	assert_false(conn_is_streamed(true, PQ_MSG_ROW_DESCRIPTION));
	assert_false(conn_is_streamed(true, PQ_MSG_PARAMETER_DESCRIPTION));
	assert_false(conn_is_streamed(true, PQ_MSG_PARAMETER_STATUS));
	assert_false(conn_is_streamed(true, PQ_MSG_COMMAND_COMPLETE));
	assert_false(conn_is_streamed(true, PQ_MSG_READY_FOR_QUERY));
	assert_false(conn_is_streamed(true, PQ_MSG_AUTH));
	/* from a client: everything, so that a client never costs more than a buffer */
	assert_true(conn_is_streamed(false, PQ_MSG_DESCRIBE));
	assert_true(conn_is_streamed(false, PQ_MSG_COPY_DATA));
	assert_true(conn_is_streamed(false, PQ_MSG_QUERY));
	assert_true(conn_is_streamed(false, PQ_MSG_PARSE));
	assert_true(conn_is_streamed(false, PQ_MSG_BIND));
	assert_true(conn_is_streamed(false, PQ_MSG_FUNCTION_CALL));
	assert_int_equal(conn_buffer_size(), BUF_SIZE);
}

/* A 'D' larger than the buffer: from a client (Describe) the owner sees a whole buffer of its
 * head before deciding, from a server (DataRow) just its header; both stream, neither is held. */
static void test_conn_big_d_frame_side_decides(void **state)
{
	Bytes seq = {0};
	PktBuf b;
	(void)state;
	pktbuf_init(&b);
	pktbuf_start(&b, PQ_MSG_DESCRIBE);
	pktbuf_put_u8(&b, 'S');
	for (int i = 0; i < 3000; i++)
		pktbuf_put_u8(&b, 'n');
	pktbuf_put_u8(&b, 0);
	pktbuf_finish(&b);
	put_frame(&seq, &b);
	pktbuf_free(&b);

	for (int side = 0; side < 2; side++) {
		Pair p;
		pair_open(&p, side == 1);
		pair_feed(&p, seq.p, 1000, true);
		pair_pump(&p, true);
		pair_feed(&p, seq.p + 1000, seq.len - 1000, true);
		pair_pump(&p, true);
		assert_int_equal(p.src->n_frames, 1);
		assert_int_equal(p.src->frames[0].len, 3007);
		assert_false(p.src->frames[0].full);
		assert_int_equal(p.src->frames[0].bytes.len, side == 0 ? BUF_SIZE : 1000);
		assert_int_equal(p.src->frames[0].buf_cap, BUF_SIZE);
		assert_int_equal(p.out.len, seq.len);
		assert_memory_equal(p.out.p, seq.p, seq.len);
		check_idle(&p, seq.len, seq.len);
		pair_close(&p);
	}
	bytes_free(&seq);
}

static void build_startup_sequence(Bytes *seq)
{
	PktBuf b;
	pktbuf_init(&b);
	pktbuf_start(&b, 0);
	pktbuf_put_u32(&b, PQ_SSL_REQUEST_CODE);
	pktbuf_finish(&b);
	pktbuf_start(&b, 0);
	pktbuf_put_u32(&b, PQ_PROTOCOL_3_0);
	pktbuf_put_cstring(&b, "user");
	pktbuf_put_cstring(&b, "alice");
	pktbuf_put_cstring(&b, "database");
	pktbuf_put_cstring(&b, "app");
	pktbuf_put_cstring(&b, "application_name");
	pktbuf_put_cstring(&b, "psql");
	pktbuf_put_u8(&b, 0);
	pktbuf_finish(&b);
	/* typed frames right behind the startup packet, in the same bytes */
	pq_write_query(&b, "SELECT 1");
	pktbuf_start(&b, PQ_MSG_SYNC);
	pktbuf_finish(&b);
	put_frame(seq, &b);
	pktbuf_free(&b);
}

static void test_conn_startup_phase_every_split(void **state)
{
	Bytes seq = {0};
	Expect e;
	(void)state;
	build_startup_sequence(&seq);
	expect_init(&e, &seq, true, NULL, 0);
	assert_int_equal(e.n_frames, 4);
	assert_int_equal(e.frames[0].code, PQ_SSL_REQUEST_CODE);
	assert_int_equal(e.frames[0].len, 8);
	assert_int_equal(e.frames[1].code, PQ_PROTOCOL_3_0);
	assert_int_equal(e.frames[2].type, 'Q');
	assert_int_equal(e.frames[3].type, 'S');
	bytes_free(&e.forwarded);
	run_every_split(&seq, false, true, NULL, 0, "startup", 1);
	bytes_free(&seq);
}

/* A startup packet that is bigger than the buffer but within PostgreSQL's 10000 bytes. */
static void test_conn_startup_bigger_than_buffer(void **state)
{
	Bytes seq = {0};
	PktBuf b;
	char opt[5001];
	(void)state;
	memset(opt, 'o', 5000);
	opt[5000] = 0;
	pktbuf_init(&b);
	pktbuf_start(&b, 0);
	pktbuf_put_u32(&b, PQ_PROTOCOL_3_0);
	pktbuf_put_cstring(&b, "user");
	pktbuf_put_cstring(&b, "alice");
	pktbuf_put_cstring(&b, "options");
	pktbuf_put_cstring(&b, opt);
	pktbuf_put_u8(&b, 0);
	pktbuf_finish(&b);
	pq_write_query(&b, "SELECT 1");
	put_frame(&seq, &b);
	pktbuf_free(&b);
	run_every_split(&seq, false, true, NULL, 0, "big startup", 13);
	bytes_free(&seq);
}

/* The same bytes with an owner that closes on error, as client.c does: closed exactly once. */
static void run_malformed_closing(const uint8_t *bytes, size_t len, bool startup,
				  uint32_t max_packet)
{
	Pair p;
	pair_open(&p, false);
	p.src->conn.startup_phase = startup;
	p.src->conn.max_packet = max_packet;
	pair_feed(&p, bytes, len, true);
	pair_pump(&p, true);
	assert_int_equal(p.src_closed, 1);
	pair_close(&p);
	assert_int_equal(p.src_closed, 1);
}

/* Frames handed over before a malformed one are delivered, then on_error names the cause. */
typedef struct ErrCase {
	const uint8_t *bytes;
	size_t len;
	bool startup;
	uint32_t max_packet;
	int error;
	size_t frames;
} ErrCase;

static void check_error_case(const ErrCase *ec)
{
	Pair p;
	pair_open(&p, false);
	p.src->conn.startup_phase = ec->startup;
	p.src->conn.max_packet = ec->max_packet;
	p.src->close_on_error = false;
	pair_feed(&p, ec->bytes, ec->len, true);
	pair_pump(&p, true);
	assert_int_equal(p.src->n_errors, 1);
	assert_int_equal(p.src->errors[0], ec->error);
	assert_int_equal(p.src->n_frames, ec->frames);
	pair_close(&p);
	run_malformed_closing(ec->bytes, ec->len, ec->startup, ec->max_packet);
}

static void test_conn_malformed_frames(void **state)
{
	/* a valid Sync, then a frame whose length says 3 */
	static const uint8_t short_len[] = {'S', 0, 0, 0, 4, 'Q', 0, 0, 0, 3, 'x'};
	/* length 0 */
	static const uint8_t zero_len[] = {'Q', 0, 0, 0, 0};
	/* negative length */
	static const uint8_t neg_len[] = {'Q', 0xff, 0xff, 0xff, 0xfc};
	/* a Query of 200 bytes with max_packet 100; only its header has to arrive */
	static const uint8_t too_big[] = {'S', 0, 0, 0, 4, 'Q', 0, 0, 0, 199, 'S'};
	/* exactly max_packet (100 bytes) is fine, 101 is not */
	uint8_t at_max[100 + 101];
	memset(at_max, 'x', sizeof(at_max));
	memcpy(at_max, (const uint8_t[]){'Q', 0, 0, 0, 99}, 5);
	at_max[99] = 0;
	memcpy(at_max + 100, (const uint8_t[]){'Q', 0, 0, 0, 100}, 5);
	/* before the startup packet: an HTTP request, a too short and a too long length */
	static const uint8_t http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const uint8_t startup_short[] = {0, 0, 0, 7, 0, 3, 0};
	static const uint8_t startup_long[] = {0, 0, 0x27, 0x11, 0, 3, 0, 0};
	const ErrCase cases[] = {
		{short_len, sizeof(short_len), false, 0, UV_EPROTO, 1},
		{zero_len, sizeof(zero_len), false, 0, UV_EPROTO, 0},
		{neg_len, sizeof(neg_len), false, 0, UV_EPROTO, 0},
		{too_big, sizeof(too_big), false, 100, UV_E2BIG, 1},
		{at_max, sizeof(at_max), false, 100, UV_E2BIG, 1},
		{http, sizeof(http) - 1, true, 0, UV_EPROTO, 0},
		{startup_short, sizeof(startup_short), true, 0, UV_EPROTO, 0},
		{startup_long, sizeof(startup_long), true, 0, UV_EPROTO, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_error_case(&cases[i]);
}

/* A server frame that pgsift holds whole (RowDescription...) declaring more than
 * CONN_SERVER_HELD_MAX is refused at its header, before anything is reserved for it; one at the
 * limit waits for its bytes; a DataRow of any length streams. */
static void test_conn_server_held_frame_limit(void **state)
{
	(void)state;
	uint32_t over = CONN_SERVER_HELD_MAX + 1 - 1; /* length field: the frame minus its type */
	uint8_t huge[10] = {'n', 0, 0, 0, 4, 'T'};
	huge[6] = (uint8_t)(over >> 24);
	huge[7] = (uint8_t)(over >> 16);
	huge[8] = (uint8_t)(over >> 8);
	huge[9] = (uint8_t)over;
	Pair p;
	pair_open(&p, true);
	p.src->close_on_error = false;
	pair_feed(&p, huge, sizeof(huge), true);
	pair_pump(&p, true);
	assert_int_equal(p.src->n_errors, 1);
	assert_int_equal(p.src->errors[0], UV_E2BIG);
	assert_int_equal(p.src->n_frames, 1); /* the NoData before it */
	pair_close(&p);

	uint8_t at_limit[5] = {'T'};
	uint32_t len = CONN_SERVER_HELD_MAX - 1;
	at_limit[1] = (uint8_t)(len >> 24);
	at_limit[2] = (uint8_t)(len >> 16);
	at_limit[3] = (uint8_t)(len >> 8);
	at_limit[4] = (uint8_t)len;
	pair_open(&p, true);
	p.src->close_on_error = false;
	pair_feed(&p, at_limit, sizeof(at_limit), true);
	pair_pump(&p, true);
	assert_int_equal(p.src->n_errors, 0);
	assert_int_equal(p.src->n_frames, 0);
	pair_close(&p);

	uint8_t row[5] = {'D', 0x7f, 0xff, 0xff, 0xf0};
	pair_open(&p, true);
	p.src->close_on_error = false;
	pair_feed(&p, row, sizeof(row), true);
	pair_pump(&p, true);
	assert_int_equal(p.src->n_errors, 0);
	pair_close(&p);
}

/* EOF from the other end is reported as UV_EOF once, after every whole frame was delivered. */
static void test_conn_eof(void **state)
{
	static const uint8_t q[] = {'Q', 0, 0, 0, 5, 0, 'S', 0, 0};
	Pair p;
	(void)state;
	pair_open(&p, false);
	p.src->close_on_error = false;
	pair_feed(&p, q, sizeof(q), true);
	pair_pump(&p, true);
	assert_int_equal(p.src->n_frames, 1);
	assert_int_equal(p.src->n_errors, 0);
	shutdown(p.in_fd, SHUT_WR);
	pair_pump(&p, true);
	assert_int_equal(p.src->n_errors, 1);
	assert_int_equal(p.src->errors[0], UV_EOF);
	assert_false(p.src->conn.reading);
	assert_int_equal(p.out.len, 6);
	pair_close(&p);
}

/* PA_WAIT keeps the frame; conn_resume delivers it again, exactly once, then the rest. */
static void run_wait_resume(const Bytes *seq, bool is_server, const char *consume,
			    uint32_t consume_len)
{
	Expect e;
	expect_init(&e, seq, false, consume, consume_len);
	/* wait at every frame in turn: the small ones, the streamed CopyData, the big Query */
	for (size_t w = 0; w < e.n_frames; w++) {
		Pair p;
		pair_open(&p, is_server);
		p.src->consume = consume;
		p.src->consume_len = consume_len;
		p.src->wait_at = (long)w;
		pair_feed(&p, seq->p, seq->len, true);
		pair_pump(&p, true);
		/* stopped at frame w: nothing after it delivered, nothing of it forwarded */
		assert_int_equal(p.src->n_frames, w + 1);
		assert_int_equal(p.src->frames[w].answer, PA_WAIT);
		assert_true(p.src->conn.waiting);
		/* a waiting connection still reads while its buffer has room (so that a peer
		 * that leaves is noticed), but delivers nothing */
		size_t fwd_before = 0;
		for (size_t i = 0; i < w; i++) {
			const ExpFrame *x = &e.frames[i];
			if (policy_consumes(consume, consume_len, x->type, x->len))
				continue;
			fwd_before += x->len;
			if (policy_rewrites(rewrite_types, x->type))
				fwd_before -= REWRITE_AT - sizeof(rewrite_bytes);
		}
		assert_int_equal(p.out.len, fwd_before);
		assert_memory_equal(p.out.p, e.forwarded.p, fwd_before);

		conn_resume(&p.src->conn);
		pair_pump(&p, true);
		assert_int_equal(p.src->n_frames, e.n_frames + 1);
		/* the waited frame came twice, every other once, in order */
		for (size_t i = 0; i <= e.n_frames; i++) {
			const ExpFrame *x = &e.frames[i <= w ? i : i - 1];
			assert_int_equal(p.src->frames[i].type, x->type);
			assert_int_equal(p.src->frames[i].len, x->len);
		}
		check_forwarded(&p, &e, "wait", w);
		check_idle(&p, seq->len, e.forwarded.len);
		pair_close(&p);
	}
	bytes_free(&e.forwarded);
}

static void test_conn_wait_resume(void **state)
{
	Bytes client = {0}, server = {0};
	(void)state;
	build_client_sequence(&client, 2500, 3000);
	run_wait_resume(&client, false, "H", 0);
	build_server_sequence(&server);
	run_wait_resume(&server, true, "N", 2222);
	bytes_free(&client);
	bytes_free(&server);
}

/* conn_pause called inside on_frame: the header promises no frame is delivered until resume. */
static void test_conn_pause_stops_delivery(void **state)
{
	static const uint8_t three[] = {'S', 0, 0, 0, 4, 'H', 0, 0, 0, 4, 'S', 0, 0, 0, 4};
	Pair p;
	(void)state;
	pair_open(&p, false);
	p.src->pause_at = 0;
	pair_feed(&p, three, sizeof(three), true);
	pair_pump(&p, true);
	assert_int_equal(p.src->n_frames, 1);
	assert_false(p.src->conn.reading);
	conn_resume(&p.src->conn);
	pair_pump(&p, true);
	assert_int_equal(p.src->n_frames, 3);
	assert_int_equal(p.out.len, sizeof(three));
	pair_close(&p);
}

/*
 * Backpressure: the receiver does not read. The source must stop reading once its forwards
 * cannot be written, holding no more than one read buffer of bytes in flight; after the receiver
 * reads, every byte arrives in order.
 */
static void test_conn_backpressure(void **state)
{
	Bytes seq = {0};
	PktBuf b;
	(void)state;
	pktbuf_init(&b);
	/* 8 MB of CopyData in 8000-byte frames, each frame numbered */
	for (uint32_t i = 0; i < 1000; i++) {
		pktbuf_start(&b, PQ_MSG_COPY_DATA);
		pktbuf_put_u32(&b, i);
		for (int j = 0; j < 7996; j++)
			pktbuf_put_u8(&b, (uint8_t)(i + j));
		pktbuf_finish(&b);
		put_frame(&seq, &b);
	}
	pktbuf_free(&b);

	Pair p;
	pair_open(&p, false);
	/* write until even the source's socket is full, never reading the receiver's end */
	size_t off = 0;
	for (;;) {
		ssize_t n = write(p.in_fd, seq.p + off, seq.len - off);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		assert_true(n < 0 && errno == EAGAIN);
		size_t frames = p.src->n_frames;
		pair_pump(&p, false);
		n = write(p.in_fd, seq.p + off, seq.len - off);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (p.src->n_frames == frames)
			break; /* nothing moves any more */
	}
	assert_true(off < seq.len); /* 8 MB do not fit in the sockets' buffers */
	assert_false(p.src->conn.reading);
	assert_int_equal(p.src->conn.writes_out, 1);
	assert_true(unread_bytes(p.src_fd) > 0);
	/* what pgsift holds for this client is bounded by the read buffer, not by the input */
	assert_true(p.dst->conn.h.stream.write_queue_size > 0);
	assert_true(p.dst->conn.h.stream.write_queue_size <= BUF_SIZE);
	assert_int_equal(p.src->n_errors, 0);

	/* the receiver reads now: everything arrives, in order */
	int stuck = 0;
	while (off < seq.len || p.out.len < seq.len) {
		size_t before = p.out.len + off;
		assert_true(stuck < 100);
		ssize_t n = off < seq.len ? write(p.in_fd, seq.p + off, seq.len - off) : 0;
		if (n > 0)
			off += (size_t)n;
		uv_run(&loop, UV_RUN_NOWAIT);
		pair_drain(&p);
		if (p.out.len + off == before) {
			pair_pump(&p, true);
			stuck = p.out.len + off == before ? stuck + 1 : 0;
		} else {
			stuck = 0;
		}
	}
	pair_pump(&p, true);
	assert_int_equal(p.out.len, seq.len);
	assert_memory_equal(p.out.p, seq.p, seq.len);
	assert_int_equal(p.src->n_frames, 1000);
	for (uint32_t i = 0; i < 1000; i++) {
		assert_int_equal(p.src->frames[i].type, PQ_MSG_COPY_DATA);
		assert_int_equal(p.src->frames[i].len, 8005);
	}
	check_idle(&p, seq.len, seq.len);
	pair_close(&p);
	bytes_free(&seq);
}

/*
 * A slow receiver: the destination's send buffer is small and the test reads only a few bytes
 * per loop pass, so forwards are written in pieces (uv_try_write partial, then uv_write), often
 * with many separate pieces queued. Frames and bytes must come out as with a fast receiver.
 */
static void test_conn_slow_receiver(void **state)
{
	static const size_t drain_sizes[] = {1, 7, 100, 777, 3000};
	Bytes client = {0}, server = {0};
	Expect ec, es;
	(void)state;
	build_client_sequence(&client, 2500, 5000);
	build_server_sequence(&server);
	expect_init(&ec, &client, false, "H", 0);
	expect_init(&es, &server, false, "N", 2222);
	dst_sndbuf = 4096;
	for (size_t d = 0; d < sizeof(drain_sizes) / sizeof(drain_sizes[0]); d++) {
		for (int side = 0; side < 2; side++) {
			const Bytes *seq = side ? &server : &client;
			const Expect *e = side ? &es : &ec;
			for (size_t k = 0; k < seq->len; k += 503) {
				Pair p;
				pair_open(&p, side == 1);
				p.drain_max = drain_sizes[d];
				p.src->consume = side ? "N" : "H";
				p.src->consume_len = side ? 2222 : 0;
				pair_feed(&p, seq->p, k, true);
				pair_pump(&p, true);
				pair_feed(&p, seq->p + k, seq->len - k, true);
				pair_pump(&p, true);
				check_frames(p.src, e, side == 1,
					     side ? "slow server" : "slow client", k);
				check_forwarded(&p, e, side ? "slow server" : "slow client", k);
				check_idle(&p, seq->len, e->forwarded.len);
				pair_close(&p);
			}
		}
	}
	dst_sndbuf = 0;
	bytes_free(&ec.forwarded);
	bytes_free(&es.forwarded);
	bytes_free(&client);
	bytes_free(&server);
}

/* Fills the receiver's socket with n bytes of pgsift's own so that the next writes queue. */
static void fill_receiver(Pair *p, Bytes *expect_out, size_t n)
{
	uint8_t *junk = malloc(n);
	assert_non_null(junk);
	for (size_t i = 0; i < n; i++)
		junk[i] = (uint8_t)(i * 7);
	assert_int_equal(conn_send(&p->dst->conn, junk, n), 0);
	bytes_add(expect_out, junk, n);
	free(junk);
}

/* What the owner sends itself (after conn_flush) lands between the frames around it, also when
 * the receiver is slow and the forwards before it are still queued. */
static void test_conn_send_keeps_order(void **state)
{
	static const uint8_t frames[] = {'Q', 0,   0, 0,   6, 'a', 0, 'Q', 0,	0, 0,
					 6,   'b', 0, 'Q', 0, 0,   0, 6,   'c', 0};
	static const uint8_t own[] = {'Z', 0, 0, 0, 5, 'I'};
	(void)state;
	for (int slow = 0; slow < 2; slow++) {
		Pair p;
		Bytes want = {0};
		pair_open(&p, false);
		p.src->send_at = 1; /* the second frame is answered by pgsift itself */
		bytes_add(&p.src->send, own, sizeof(own));
		if (slow) {
			fill_receiver(&p, &want, 4 << 20);
			assert_true(p.dst->conn.h.stream.write_queue_size > 0);
		}
		bytes_add(&want, frames, 7);
		bytes_add(&want, own, sizeof(own));
		bytes_add(&want, frames + 14, 7);
		pair_feed(&p, frames, sizeof(frames), false);
		pair_pump(&p, false);
		assert_int_equal(p.src->n_frames, 3);
		pair_pump(&p, true);
		assert_int_equal(p.out.len, want.len);
		assert_memory_equal(p.out.p, want.p, want.len);
		check_idle(&p, sizeof(frames), want.len);
		bytes_free(&want);
		pair_close(&p);
	}
}

/* Closing the source while its forward is still queued on the receiver: on_closed runs once,
 * only after the write let go of the buffer (the Side is freed there; ASan checks the rest). */
static void test_conn_close_with_forward_in_flight(void **state)
{
	(void)state;
	for (int order = 0; order < 3; order++) {
		Pair p;
		Bytes frame = {0};
		PktBuf b;
		pktbuf_init(&b);
		pktbuf_start(&b, PQ_MSG_COPY_DATA);
		for (int i = 0; i < 3000; i++)
			pktbuf_put_u8(&b, (uint8_t)i);
		pktbuf_finish(&b);
		put_frame(&frame, &b);
		pktbuf_free(&b);

		Bytes junk = {0};
		pair_open(&p, false);
		fill_receiver(&p, &junk, 4 << 20);
		bytes_free(&junk);
		pair_feed(&p, frame.p, frame.len, false);
		pair_pump(&p, false);
		assert_int_equal(p.src->conn.writes_out, 1);
		assert_false(p.src->conn.reading);

		if (order == 0) {
			/* source first, then the receiver drains: the write completes */
			conn_close(&p.src->conn);
			conn_close(&p.src->conn); /* twice is harmless */
			for (int i = 0; i < 10; i++)
				uv_run(&loop, UV_RUN_NOWAIT);
			assert_int_equal(p.src_closed,
					 0); /* a write still points into its buffer */
			pair_pump(&p, true);
			assert_int_equal(p.src_closed, 1);
		} else if (order == 1) {
			/* source first, then the receiver closes: the write is cancelled */
			conn_close(&p.src->conn);
			for (int i = 0; i < 10; i++)
				uv_run(&loop, UV_RUN_NOWAIT);
			assert_int_equal(p.src_closed, 0);
			conn_close(&p.dst->conn);
			for (int i = 0; i < 10; i++)
				uv_run(&loop, UV_RUN_NOWAIT);
			assert_int_equal(p.src_closed, 1);
			assert_int_equal(p.dst_closed, 1);
		} else {
			/* receiver first: the cancelled write lets the source go on, then it closes */
			conn_close(&p.dst->conn);
			for (int i = 0; i < 10; i++)
				uv_run(&loop, UV_RUN_NOWAIT);
			assert_int_equal(p.dst_closed, 1);
			assert_int_equal(p.src->conn.writes_out, 0);
			assert_int_equal(p.src_closed, 0);
			conn_close(&p.src->conn);
			for (int i = 0; i < 10; i++)
				uv_run(&loop, UV_RUN_NOWAIT);
			assert_int_equal(p.src_closed, 1);
		}
		pair_close(&p);
		assert_int_equal(p.src_closed, 1);
		assert_int_equal(p.dst_closed, 1);
		bytes_free(&frame);
	}
}

/* The owner closes inside on_frame (PA_CLOSED): nothing more is delivered, on_closed once. */
static void test_conn_close_inside_on_frame(void **state)
{
	Bytes seq = {0};
	(void)state;
	build_server_sequence(&seq);
	for (long at = 0; at < 5; at++) {
		Pair p;
		pair_open(&p, true);
		p.src->close_at = at;
		pair_feed(&p, seq.p, seq.len, true);
		for (int i = 0; i < 50; i++) {
			uv_run(&loop, UV_RUN_NOWAIT);
			pair_drain(&p);
		}
		assert_int_equal(p.src_closed, 1);
		/* nothing delivered after the frame that closed it */
		assert_int_equal(p.src_final_frames, (size_t)at + 1);
		pair_close(&p);
	}
	bytes_free(&seq);
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	conn_module_init(&loop, BUF_SIZE);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	uv_run(&loop, UV_RUN_NOWAIT);
	conn_module_cleanup();
	assert_int_equal(uv_loop_close(&loop), 0);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conn_streamed_rules),
		cmocka_unit_test(test_conn_client_sequence_every_split),
		cmocka_unit_test(test_conn_server_sequence_every_split),
		cmocka_unit_test(test_conn_huge_query_splits),
		cmocka_unit_test(test_conn_client_frames_stream_every_split),
		cmocka_unit_test(test_conn_waiting_on_big_frame_holds_one_buffer),
		cmocka_unit_test(test_conn_big_d_frame_side_decides),
		cmocka_unit_test(test_conn_startup_phase_every_split),
		cmocka_unit_test(test_conn_startup_bigger_than_buffer),
		cmocka_unit_test(test_conn_malformed_frames),
		cmocka_unit_test(test_conn_server_held_frame_limit),
		cmocka_unit_test(test_conn_eof),
		cmocka_unit_test(test_conn_wait_resume),
		cmocka_unit_test(test_conn_pause_stops_delivery),
		cmocka_unit_test(test_conn_backpressure),
		cmocka_unit_test(test_conn_slow_receiver),
		cmocka_unit_test(test_conn_send_keeps_order),
		cmocka_unit_test(test_conn_close_with_forward_in_flight),
		cmocka_unit_test(test_conn_close_inside_on_frame),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
