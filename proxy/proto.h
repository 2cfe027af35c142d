/*
 * proto: the PostgreSQL v3 protocol codec. Names for every message type, frame-header parsing
 * with validation, small readers for the fields pgsift inspects, and builders for the messages
 * pgsift writes itself (into a PktBuf). No socket I/O here; the connection layer feeds it bytes.
 *
 * A frame after startup is: type (1 byte), length (int32, counting itself, >= 4), payload.
 * Startup-phase frames have no type byte: length (int32, >= 8), then a 32-bit code.
 */
#ifndef PGSIFT_PROTO_H
#define PGSIFT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/types.h"

/* Frontend (client -> server) message types. */
enum {
	PQ_MSG_BIND = 'B',
	PQ_MSG_CLOSE = 'C',
	PQ_MSG_COPY_DATA = 'd',
	PQ_MSG_COPY_DONE = 'c',
	PQ_MSG_COPY_FAIL = 'f',
	PQ_MSG_DESCRIBE = 'D',
	PQ_MSG_EXECUTE = 'E',
	PQ_MSG_FLUSH = 'H',
	PQ_MSG_FUNCTION_CALL = 'F',
	PQ_MSG_PARSE = 'P',
	PQ_MSG_PASSWORD = 'p', /* also SASLInitialResponse, SASLResponse, GSSResponse */
	PQ_MSG_QUERY = 'Q',
	PQ_MSG_SYNC = 'S',
	PQ_MSG_TERMINATE = 'X',
};

/* Backend (server -> client) message types. */
enum {
	PQ_MSG_AUTH = 'R',
	PQ_MSG_BACKEND_KEY_DATA = 'K',
	PQ_MSG_BIND_COMPLETE = '2',
	PQ_MSG_CLOSE_COMPLETE = '3',
	PQ_MSG_COMMAND_COMPLETE = 'C',
	PQ_MSG_COPY_IN_RESPONSE = 'G',
	PQ_MSG_COPY_OUT_RESPONSE = 'H',
	PQ_MSG_COPY_BOTH_RESPONSE = 'W',
	PQ_MSG_DATA_ROW = 'D',
	PQ_MSG_EMPTY_QUERY_RESPONSE = 'I',
	PQ_MSG_ERROR_RESPONSE = 'E',
	PQ_MSG_FUNCTION_CALL_RESPONSE = 'V',
	PQ_MSG_NEGOTIATE_PROTOCOL_VERSION = 'v',
	PQ_MSG_NO_DATA = 'n',
	PQ_MSG_NOTICE_RESPONSE = 'N',
	PQ_MSG_NOTIFICATION_RESPONSE = 'A',
	PQ_MSG_PARAMETER_DESCRIPTION = 't',
	PQ_MSG_PARAMETER_STATUS = 'S',
	PQ_MSG_PARSE_COMPLETE = '1',
	PQ_MSG_PORTAL_SUSPENDED = 's',
	PQ_MSG_READY_FOR_QUERY = 'Z',
	PQ_MSG_ROW_DESCRIPTION = 'T',
};

/* Authentication request codes (the int32 after 'R'). */
enum {
	PQ_AUTH_OK = 0,
	PQ_AUTH_CLEARTEXT = 3,
	PQ_AUTH_MD5 = 5,
	PQ_AUTH_SASL = 10,
	PQ_AUTH_SASL_CONTINUE = 11,
	PQ_AUTH_SASL_FINAL = 12,
};

/* Startup-phase request codes. */
#define PQ_PROTOCOL_3_0 0x00030000u
#define PQ_CANCEL_REQUEST_CODE 80877102u
#define PQ_SSL_REQUEST_CODE 80877103u
#define PQ_GSSENC_REQUEST_CODE 80877104u

/* ReadyForQuery transaction states. */
enum { PQ_TX_IDLE = 'I', PQ_TX_IN_BLOCK = 'T', PQ_TX_FAILED = 'E' };

/* The smallest / largest startup packet PostgreSQL itself accepts. */
#define PQ_STARTUP_MIN_LEN 8
#define PQ_STARTUP_MAX_LEN 10000

typedef enum {
	PKT_OK = 0,	/* a header was read into *hdr */
	PKT_NEED_MORE,	/* not enough bytes for the header yet */
	PKT_BAD_LENGTH, /* the length field is impossible (< 4, or startup < 8 / > 10000) */
	PKT_TOO_BIG,	/* over max_packet_size */
} PktStatus;

const char *pkt_status_str(PktStatus st);

typedef struct PktHdr {
	uint8_t type;	  /* 0 for startup-phase packets */
	uint32_t len;	  /* the whole frame, header included */
	uint32_t hdr_len; /* 5 for typed frames, 8 for startup-phase (length + code) */
	uint32_t code;	  /* startup-phase only: protocol version or request code */
} PktHdr;

/* Reads a typed frame header from buf. */
PktStatus pkt_read_header(const uint8_t *buf, size_t avail, uint32_t max_len, PktHdr *hdr)
	__attribute__((warn_unused_result));
/* Reads a startup-phase frame header (no type byte). */
PktStatus pkt_read_startup_header(const uint8_t *buf, size_t avail, PktHdr *hdr)
	__attribute__((warn_unused_result));
/* Whether the bytes a client sent before its startup packet are a Terminate frame (or the first
 * four bytes of one): drivers that give up early send it, and PostgreSQL closes silently. */
bool pkt_is_early_terminate(const uint8_t *buf, size_t avail);

/* A read cursor over one frame's payload. Every getter fails (returns false) past the end. */
typedef struct PktReader {
	const uint8_t *p;
	const uint8_t *end;
} PktReader;

static inline void pkt_reader_init(PktReader *r, const uint8_t *payload, size_t len)
{
	r->p = payload;
	r->end = payload + len;
}
bool pkt_get_u8(PktReader *r, uint8_t *out) __attribute__((warn_unused_result));
bool pkt_get_u16(PktReader *r, uint16_t *out) __attribute__((warn_unused_result));
bool pkt_get_u32(PktReader *r, uint32_t *out) __attribute__((warn_unused_result));
/* A NUL-terminated string inside the frame; *len excludes the NUL. */
bool pkt_get_cstring(PktReader *r, const char **out, size_t *len)
	__attribute__((warn_unused_result));
bool pkt_get_bytes(PktReader *r, size_t n, const uint8_t **out) __attribute__((warn_unused_result));

static inline uint32_t pkt_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Fields of an ErrorResponse / NoticeResponse that pgsift uses. Pointers into the frame. */
typedef struct PktError {
	const char *severity; /* 'V' (non-localized) or 'S' */
	const char *sqlstate; /* 'C' */
	const char *message;  /* 'M' */
} PktError;
bool pkt_parse_error(const uint8_t *payload, size_t len, PktError *out)
	__attribute__((warn_unused_result));

/* The row count at the end of a CommandComplete tag ("SELECT 5", "INSERT 0 5"), 0 if none. */
uint64_t pkt_command_rows(const char *tag, size_t len);

/* Values of pkt_result_shape besides a hash. */
#define PKT_SHAPE_UNKNOWN 0 /* malformed, or not looked at yet */
#define PKT_SHAPE_NO_DATA 2 /* NoData: a statement without rows */

/*
 * What a statement's RowDescription (payload after the header) says of its result as PostgreSQL
 * compares it ("cached plan must not change result type"): the columns' names, types, lengths and
 * type modifiers, hashed; not their table and column numbers, nor the format. Never 0 or 1
 * (PKT_SHAPE_UNKNOWN; 1 is left for callers) nor PKT_SHAPE_NO_DATA; 0 for a malformed payload.
 */
uint64_t pkt_result_shape(const uint8_t *payload, size_t len);

/* A growable output buffer for messages pgsift builds. Allocation failure is sticky: check
 * pktbuf_failed() once at the end instead of after every put. */
struct PktBuf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t msg_start; /* where the frame being built starts */
	bool msg_typed;	  /* whether that frame has a type byte */
	bool failed;
};

void pktbuf_init(PktBuf *b);
void pktbuf_reset(PktBuf *b);
void pktbuf_free(PktBuf *b);
static inline bool pktbuf_failed(const PktBuf *b)
{
	return b->failed;
}
/* Detaches the bytes (caller frees with free()) and resets the buffer. */
uint8_t *pktbuf_steal(PktBuf *b, size_t *len);

void pktbuf_start(PktBuf *b, uint8_t type); /* type 0: startup-phase frame (no type byte) */
void pktbuf_finish(PktBuf *b);
void pktbuf_put_u8(PktBuf *b, uint8_t v);
void pktbuf_put_u16(PktBuf *b, uint16_t v);
void pktbuf_put_u32(PktBuf *b, uint32_t v);
void pktbuf_put_bytes(PktBuf *b, const void *p, size_t n);
void pktbuf_put_cstring(PktBuf *b, const char *s);
void pktbuf_put_raw(PktBuf *b, const void *p, size_t n); /* outside any frame */

/* Whole messages. */
void pq_write_error(PktBuf *b, const char *severity, const char *sqlstate, const char *message,
		    const char *detail, const char *hint);
/* The same with the source fields PostgreSQL adds (F file, R routine; NULL to leave one out):
 * drivers recognize some errors by them (asyncpg retries a statement whose plan went stale
 * when the routine is RevalidateCachedQuery). */
void pq_write_error_from(PktBuf *b, const char *severity, const char *sqlstate, const char *message,
			 const char *detail, const char *hint, const char *file,
			 const char *routine);
/* A NoticeResponse (severity NOTICE, SQLSTATE 00000) with a message and an optional detail. */
void pq_write_notice(PktBuf *b, const char *message, const char *detail);
void pq_write_auth(PktBuf *b, uint32_t code, const void *data, size_t len);
void pq_write_parameter_status(PktBuf *b, const char *name, const char *value);
void pq_write_backend_key(PktBuf *b, uint32_t pid, uint32_t key);
void pq_write_ready(PktBuf *b, uint8_t tx_state);
void pq_write_query(PktBuf *b, const char *sql);
void pq_write_command_complete(PktBuf *b, const char *tag);
void pq_write_empty_query(PktBuf *b);
void pq_write_negotiate_version(PktBuf *b, uint32_t newest_version, const char *const *unknown,
				size_t n_unknown);
/* RowDescription for text columns: type oids per column (25 text, 20 int8, 701 float8...). */
void pq_write_row_description(PktBuf *b, const char *const *names, const uint32_t *type_oids,
			      size_t n);
/* DataRow: values as text, NULL pointers are SQL NULLs. */
void pq_write_data_row(PktBuf *b, const char *const *values, size_t n);
/* A message without fields: ParseComplete, BindComplete, CloseComplete, NoData, Flush... */
void pq_write_bare(PktBuf *b, uint8_t type);
/* ParameterDescription of a statement without parameters. */
void pq_write_no_parameters(PktBuf *b);
/* AuthenticationSASL offering one mechanism. */
/* AuthenticationSASL offering the mechanisms of a NULL-terminated list, best first. */
void pq_write_auth_sasl(PktBuf *b, const char *const *mechanisms);

/* What pgsift sends a server. The startup packet: protocol 3.0 and n key/value pairs
 * (keys[i], values[i]). */
void pq_write_startup(PktBuf *b, const char *const *keys, const char *const *values, size_t n);
/* PasswordMessage carrying len bytes of data, followed by a NUL when nul_terminate. */
void pq_write_password(PktBuf *b, const void *data, size_t len, bool nul_terminate);
/* SASLInitialResponse: the mechanism chosen and the client-first-message. */
void pq_write_sasl_initial(PktBuf *b, const char *mechanism, const char *msg, size_t msg_len);
/* Parse: query must hold query_len bytes and a NUL after them; types is the parameter-type part
 * as a Parse carries it (int16 n, n x int32). */
void pq_write_parse(PktBuf *b, const char *name, const char *query, size_t query_len,
		    const uint8_t *types, size_t types_len);
/* A client's frame (hdr, pkt: at least its head) again, with the C string at name (inside the
 * frame) replaced by new_name, and the length changed to match: how pgsift puts its own
 * statement name into a Bind or Describe. With rest false only the part up to the new name is
 * written, the length still counting the whole frame: the rest streams behind it. */
void pq_write_renamed(PktBuf *b, const PktHdr *hdr, const uint8_t *pkt, const char *name,
		      const char *new_name, bool rest);
/* Close and Describe of a statement ('S') or portal ('P'). */
void pq_write_close(PktBuf *b, uint8_t what, const char *name);
void pq_write_describe(PktBuf *b, uint8_t what, const char *name);

#endif
