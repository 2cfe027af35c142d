/*
 * conn: one network connection (a client's or a server's) as a stream of protocol frames, in the
 * manner of PgBouncer's sbuf. It owns the libuv handle and the read buffer, cuts the bytes into
 * frames, hands each frame to its owner's callback, and forwards the frames the owner accepts to
 * the peer connection straight from the buffer they arrived in (uv_try_write first, uv_write for
 * what is left). While a forward from its buffer is in flight, a connection stops reading: a slow
 * receiver slows the sender instead of making pgsift buffer without bound.
 *
 * Idle connections hold no read buffer: buffers come from a free list when bytes arrive and go
 * back when every byte has been handled and written.
 *
 * Lifetime: conn_close() starts closing; the owner's close callback runs once the handle is
 * closed and no write still points into this connection's buffer, and only then may the owner
 * free the memory holding the Conn.
 */
#ifndef PGSIFT_CONN_H
#define PGSIFT_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "proxy/proto.h"
#include "proxy/tls.h"
#include "proxy/types.h"

typedef enum {
	PA_FORWARD = 0, /* send the frame to the peer as it is (dropped when there is no peer) */
	PA_CONSUMED,	/* the owner handled it; it is not forwarded */
	PA_WAIT,	/* stop here; the frame stays in the buffer until conn_resume() */
	PA_CLOSED,	/* the owner closed the connection; touch nothing */
} PktAction;

/*
 * Called for every frame. A frame larger than the read buffer is never held whole when
 * conn_is_streamed() says its type may pass in pieces: on_frame sees it once, with full == false
 * and pkt holding its first Conn.frame_avail bytes, and the answer applies to the whole frame
 * (PA_FORWARD: the rest is forwarded as it arrives; PA_CONSUMED: the rest is dropped; PA_WAIT:
 * the same head is delivered again after conn_resume). DataRow and CopyData are handed over as
 * soon as their header is in (the owner never looks inside them); every other type once a whole
 * buffer of its head is in, so that the owner can read its leading fields (a Query's first bytes,
 * a Bind's statement name). On a partial frame the owner must not forward bytes itself
 * (conn_forward_bytes) beyond frame_avail. Every other frame is whole (full == true).
 */
typedef PktAction (*ConnFrameFn)(Conn *c, const PktHdr *hdr, const uint8_t *pkt, bool full);
/* Called on EOF or a read/write error (status: a UV_E* code or UV_EOF). The owner decides. */
typedef void (*ConnErrorFn)(Conn *c, int status);
/* Called once the connection is fully closed; the owner may free it now. */
typedef void (*ConnClosedFn)(Conn *c);
/* Called when a TLS handshake ends: ok false says why in tls_error(c->tls); the owner closes. */
typedef void (*ConnTlsFn)(Conn *c, bool ok);
/* Called with a one-byte answer (a server's 'S' or 'N' to SSLRequest) and how many bytes came
 * after it (none may: they were not encrypted). Answers as on_frame does. */
typedef PktAction (*ConnByteFn)(Conn *c, uint8_t byte, uint32_t after);

struct IOBuf {
	uint32_t cap;
	uint32_t start; /* first byte not yet written out or dropped */
	uint32_t pos;	/* next byte to cut into frames */
	uint32_t end;	/* end of the bytes read */
	uint32_t refs;	/* the connection's own + one per write in flight pointing into data */
	uint8_t data[];
};

/* The longest frame a server may send that pgsift holds whole (conn_is_streamed: not DataRow,
 * CopyData, ErrorResponse...): longer ones close the server connection. */
#define CONN_SERVER_HELD_MAX (1u << 20)

/* A TCP or Unix-socket stream, seen as whichever of libuv's handle types a call wants. */
typedef union ConnHandle {
	uv_handle_t handle;
	uv_stream_t stream;
	uv_tcp_t tcp;
	uv_pipe_t pipe;
} ConnHandle;

#define CONN_MAX_IOV 4 /* ranges merge when contiguous; a full array is flushed */

struct Conn {
	ConnHandle h;
	bool is_pipe;
	bool is_server;	    /* frames come from a PostgreSQL server (decides what may stream) */
	bool startup_phase; /* frames have no type byte (client before StartupMessage) */
	bool reading;	    /* uv_read_start is in effect */
	bool want_read;	    /* the owner wants bytes (false while waiting for a server, etc.) */
	bool closing;
	bool handle_closed;
	bool in_process;     /* re-entrancy guard for conn_process */
	bool waiting;	     /* the owner returned PA_WAIT */
	bool stream_forward; /* the rest of a streamed frame goes to the peer */
	uint32_t
		frame_avail; /* while on_frame runs: bytes of the frame at pkt (its head if partial) */
	uint32_t fwd_from;    /* while on_frame runs: PA_FORWARD sends the frame from this offset */
	uint32_t stream_left; /* bytes of a streamed frame still to come */
	uint32_t max_packet;  /* frames over this are refused (0 = no limit) */
	uint32_t writes_out;  /* writes in flight whose bytes live in this conn's rbuf */
	IOBuf *rbuf;	      /* owned (one ref); NULL while idle */
	Conn *peer; /* where PA_FORWARD frames go; not owned: clear it before the peer is freed */
	uv_buf_t iov[CONN_MAX_IOV]; /* decided forwards not yet written, pointing into rbuf */
	int n_iov;
	uint8_t side_mask; /* iov entries whose base is an offset into side, not rbuf */
	uint8_t *side;	   /* frames pgsift rewrote, written with the forwards (owned) */
	uint32_t side_len;
	size_t side_cap;
	uint64_t bytes_in; /* counters for SHOW STATS */
	uint64_t bytes_out;
	ConnFrameFn on_frame;
	ConnErrorFn on_error;
	ConnClosedFn on_closed;
	void *owner;
	/* TLS: everything above is plaintext; tls sits between it and the socket (tls.h) */
	Tls *tls;		 /* owned; NULL for a plaintext connection */
	bool tls_handshaking;	 /* frames wait until the handshake is done */
	bool tls_dead;		 /* the peer's close_notify or an error: reported once drained */
	ConnTlsFn on_tls;	 /* the handshake ended */
	ConnTlsFn on_direct_tls; /* set: a first byte 0x16 (a TLS record) starts TLS at once */
	ConnByteFn on_byte;	 /* set: the next byte is an answer, not a frame */
};

/* The buffer size and the free list; called once at start. */
void conn_module_init(uv_loop_t *loop, uint32_t buf_size);
void conn_module_cleanup(void);
/* Gives back what a burst left: free read buffers beyond a few, and free heap pages. Cheap;
 * called from the janitor (it acts at most once a second). */
void conn_module_trim(uint64_t now_ms);

/* Prepares c (inside its owner) for a TCP or Unix socket handle. Returns 0 or a UV_E* code. */
int conn_init(Conn *c, bool is_pipe, void *owner, ConnFrameFn on_frame, ConnErrorFn on_error,
	      ConnClosedFn on_closed);

/* Starts (or resumes) reading and processing whatever is buffered. */
void conn_start(Conn *c);
/* The owner is ready to take the frame it answered PA_WAIT for. */
void conn_resume(Conn *c);
/* Stops reading and delivering frames until conn_resume (buffered bytes stay buffered). */
void conn_pause(Conn *c);

/* Adds bytes of the frame being handled (inside the read buffer) to the forwards, for an owner
 * that must forward a frame and then act before returning (e.g. unlink after ReadyForQuery). */
void conn_forward_bytes(Conn *c, const uint8_t *p, size_t len);

/* For the frame being delivered: PA_FORWARD sends its bytes from offset off on (within the part
 * the owner has, frame_avail), the owner having queued its own replacement for the bytes before
 * it with conn_forward_extra. How a frame too large to hold (a Bind naming a statement pgsift
 * renames) is rewritten: only its head changes. */
void conn_forward_from(Conn *c, uint32_t off);

/* Adds bytes of pgsift's own (a rewritten frame, copied) to the forwards, so that they go to
 * the peer in the same write as the frames around them. False when memory ran out. */
bool conn_forward_extra(Conn *c, const void *data, size_t len) __attribute__((warn_unused_result));

/* Writes the forwards decided so far to the peer. Called before the owner writes something of
 * its own to the peer, so that order is kept. */
void conn_flush(Conn *c);

/* Writes bytes of pgsift's own to c (copied). Returns 0 or a UV_E* code. */
int conn_send(Conn *c, const void *data, size_t len);
/* Writes a PktBuf's content to c and resets the buffer. */
int conn_send_pktbuf(Conn *c, PktBuf *b);

/* Puts t (owned from now on) under c's frames and starts its handshake; done runs when it ends.
 * Bytes already read after the frame being handled are refused by the caller first
 * (conn_bytes_after_frame): they were sent before encryption began. */
void conn_start_tls(Conn *c, Tls *t, ConnTlsFn done);
/* The next byte read is handed to fn instead of being cut into frames. */
void conn_expect_byte(Conn *c, ConnByteFn fn);
/* While on_frame runs: bytes already read beyond the frame being handled. */
uint32_t conn_bytes_after_frame(const Conn *c);
/* "TLSv1.3/TLS_AES_256_GCM_SHA384" or "" (plaintext), for SHOW CLIENTS / SHOW SERVERS. */
void conn_tls_describe(const Conn *c, char *buf, size_t len);

/* Starts closing. Safe to call more than once. */
void conn_close(Conn *c);

/*
 * Whether a frame of this type, larger than the read buffer, passes through pgsift in pieces
 * (see ConnFrameFn). From a client: every type, so that what a client sends never costs more than
 * one buffer. From a server: DataRow, CopyData, and the messages whose size PostgreSQL does not
 * bound (ErrorResponse and NoticeResponse, which may quote a huge statement or a RAISE's text,
 * NotificationResponse, FunctionCallResponse); the others (RowDescription: 1664 columns at most,
 * ParameterDescription: 65535 types, ParameterStatus, authentication) are held whole.
 */
bool conn_is_streamed(bool from_server, uint8_t type);

/* The clock of the callback being run: read once when a read or a write completion begins
 * (conn_tick), so that every frame handled in it shares one reading. Statement times come
 * from it: a statement starts when the callback that forwards it begins and ends when the one
 * that reads its answer begins, which is also the time its bytes were there to read. The
 * janitor ticks too, so outside those callbacks it is never more than a second old. */
void conn_tick(void);
uint64_t conn_turn_ns(void);
/* The same moment in wall-clock microseconds, through an offset the janitor refreshes every
 * second (conn_sync_wall), so that a statement's end costs no second clock read. */
int64_t conn_turn_wall_us(void);
void conn_sync_wall(void);

/* The read buffer's size: frames larger than this stream (conn_is_streamed). */
uint32_t conn_buffer_size(void);

/* "1.2.3.4" / "::1" / "unix", and the port (0 for Unix sockets). */
void conn_peer_addr(Conn *c, char *out, size_t outlen, int *port);

#endif
