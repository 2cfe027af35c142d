/*
 * test_proto: the protocol codec. Frame headers are fed every prefix of valid frames (which must
 * say "need more" until the header is there) and impossible lengths; the field readers are run
 * against payloads that end at every byte, from heap copies of exactly that size so that the
 * sanitizer build sees any read past the end; the builders are compared byte for byte with the
 * messages PostgreSQL 15 sends (layouts from src/backend/libpq/pqformat.c, elog.c and
 * printtup.c, and the ErrorResponse below is what `SELECT 1/0` gets from PostgreSQL 15.x).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/proto.h"

/* A heap copy of exactly n bytes, so that a read past the end is a sanitizer error. */
static uint8_t *dup_exact(const void *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);
	assert_non_null(d);
	if (n)
		memcpy(d, p, n);
	return d;
}

/* ---- frame headers ---- */

static void test_proto_header_valid_every_prefix(void **state)
{
	/* Query "SELECT 1": 'Q', length 13 (4 + 9), "SELECT 1\0" */
	static const uint8_t q[] = {'Q', 0, 0, 0, 13, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0};
	PktHdr hdr;

	(void)state;
	for (size_t avail = 0; avail <= sizeof(q); avail++) {
		uint8_t *buf = dup_exact(q, avail);
		memset(&hdr, 0xaa, sizeof(hdr));
		PktStatus st = pkt_read_header(buf, avail, 0, &hdr);
		if (avail < 5) {
			assert_int_equal(st, PKT_NEED_MORE);
		} else {
			assert_int_equal(st, PKT_OK);
			assert_int_equal(hdr.type, 'Q');
			assert_int_equal(hdr.len, 14);
			assert_int_equal(hdr.hdr_len, 5);
			assert_int_equal(hdr.code, 0);
		}
		free(buf);
	}
	/* the smallest frame: Sync, length 4, no payload */
	static const uint8_t sync[] = {'S', 0, 0, 0, 4};
	assert_int_equal(pkt_read_header(sync, 5, 0, &hdr), PKT_OK);
	assert_int_equal(hdr.type, 'S');
	assert_int_equal(hdr.len, 5);
	/* a length byte order check: 0x00010203 */
	static const uint8_t big[] = {'d', 0x00, 0x01, 0x02, 0x03};
	assert_int_equal(pkt_read_header(big, 5, 0, &hdr), PKT_OK);
	assert_int_equal(hdr.len, 0x00010204);
}

static void test_proto_header_bad_length(void **state)
{
	PktHdr hdr;

	(void)state;
	for (uint8_t l = 0; l < 4; l++) {
		uint8_t f[] = {'Q', 0, 0, 0, l};
		assert_int_equal(pkt_read_header(f, 5, 0, &hdr), PKT_BAD_LENGTH);
		assert_int_equal(pkt_read_header(f, 5, 1 << 20, &hdr), PKT_BAD_LENGTH);
	}
	/* negative as int32, which PostgreSQL also refuses */
	static const uint8_t neg[] = {'Q', 0xff, 0xff, 0xff, 0xff};
	assert_int_equal(pkt_read_header(neg, 5, 0, &hdr), PKT_BAD_LENGTH);
	static const uint8_t neg2[] = {'Q', 0x80, 0, 0, 0};
	assert_int_equal(pkt_read_header(neg2, 5, 0, &hdr), PKT_BAD_LENGTH);
	assert_string_equal(pkt_status_str(PKT_BAD_LENGTH), "invalid message length");
}

static void test_proto_header_too_big(void **state)
{
	PktHdr hdr;

	(void)state;
	/* max_len counts the whole frame, type byte included: length field 99 = 100 bytes */
	static const uint8_t at_max[] = {'Q', 0, 0, 0, 99};
	assert_int_equal(pkt_read_header(at_max, 5, 100, &hdr), PKT_OK);
	assert_int_equal(hdr.len, 100);
	static const uint8_t over[] = {'Q', 0, 0, 0, 100};
	assert_int_equal(pkt_read_header(over, 5, 100, &hdr), PKT_TOO_BIG);
	/* 0 means no limit */
	static const uint8_t huge[] = {'D', 0x40, 0, 0, 0};
	assert_int_equal(pkt_read_header(huge, 5, 0, &hdr), PKT_OK);
	assert_int_equal(hdr.len, 0x40000001u);
	assert_int_equal(pkt_read_header(huge, 5, 1 << 30, &hdr), PKT_TOO_BIG);
	assert_string_equal(pkt_status_str(PKT_TOO_BIG), "message larger than max_packet_size");
	assert_string_equal(pkt_status_str(PKT_OK), "ok");
	assert_string_equal(pkt_status_str(PKT_NEED_MORE), "incomplete");
}

static void test_proto_startup_header_every_prefix(void **state)
{
	/* StartupMessage: length 41, protocol 3.0, user=bob database=db, terminator */
	static const uint8_t sm[] = {0,	  0,   0,   41,	 0,   3,   0,	0,   'u', 's',
				     'e', 'r', 0,   'b', 'o', 'b', 0,	'd', 'a', 't',
				     'a', 'b', 'a', 's', 'e', 0,   'd', 'b', 0,	  0};
	PktHdr hdr;

	(void)state;
	/* (the array is 30 bytes; the header only needs 8 and says 41 without checking the rest) */
	for (size_t avail = 0; avail <= sizeof(sm); avail++) {
		uint8_t *buf = dup_exact(sm, avail);
		PktStatus st = pkt_read_startup_header(buf, avail, &hdr);
		if (avail < 8) {
			assert_int_equal(st, PKT_NEED_MORE);
		} else {
			assert_int_equal(st, PKT_OK);
			assert_int_equal(hdr.type, 0);
			assert_int_equal(hdr.len, 41);
			assert_int_equal(hdr.hdr_len, 8);
			assert_int_equal(hdr.code, PQ_PROTOCOL_3_0);
		}
		free(buf);
	}
	/* SSLRequest and CancelRequest codes */
	static const uint8_t ssl[] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
	assert_int_equal(pkt_read_startup_header(ssl, 8, &hdr), PKT_OK);
	assert_int_equal(hdr.len, 8);
	assert_int_equal(hdr.code, PQ_SSL_REQUEST_CODE);
	static const uint8_t cancel[] = {0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e};
	assert_int_equal(pkt_read_startup_header(cancel, 8, &hdr), PKT_OK);
	assert_int_equal(hdr.len, 16);
	assert_int_equal(hdr.code, PQ_CANCEL_REQUEST_CODE);
	static const uint8_t gss[] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30};
	assert_int_equal(pkt_read_startup_header(gss, 8, &hdr), PKT_OK);
	assert_int_equal(hdr.code, PQ_GSSENC_REQUEST_CODE);
}

static void test_proto_startup_header_bad_length(void **state)
{
	PktHdr hdr;

	(void)state;
	for (uint32_t l = 0; l < 8; l++) {
		uint8_t f[8] = {0, 0, 0, (uint8_t)l, 0, 3, 0, 0};
		/* refused as soon as the length is there, without waiting for the code */
		assert_int_equal(pkt_read_startup_header(f, 4, &hdr), PKT_BAD_LENGTH);
		assert_int_equal(pkt_read_startup_header(f, 8, &hdr), PKT_BAD_LENGTH);
	}
	static const uint8_t max[] = {0, 0, 0x27, 0x10, 0, 3, 0, 0}; /* 10000 */
	assert_int_equal(pkt_read_startup_header(max, 8, &hdr), PKT_OK);
	assert_int_equal(hdr.len, 10000);
	static const uint8_t over[] = {0, 0, 0x27, 0x11, 0, 3, 0, 0}; /* 10001 */
	assert_int_equal(pkt_read_startup_header(over, 4, &hdr), PKT_BAD_LENGTH);
	assert_int_equal(pkt_read_startup_header(over, 8, &hdr), PKT_BAD_LENGTH);
	/* garbage before the startup packet: an HTTP request reads as length "GET " */
	static const uint8_t http[] = {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T'};
	assert_int_equal(pkt_read_startup_header(http, 8, &hdr), PKT_BAD_LENGTH);
	/* a typed frame sent too early: 'Q' 0 0 0 = 0x51000000 */
	static const uint8_t q[] = {'Q', 0, 0, 0, 13, 'S', 'E', 'L'};
	assert_int_equal(pkt_read_startup_header(q, 8, &hdr), PKT_BAD_LENGTH);
}

/* ---- readers ---- */

/* A Terminate before the startup packet: the whole frame and its four-byte prefix are one, any
 * other bytes (another type, a longer length, a real startup length) are not. */
static void test_proto_early_terminate(void **state)
{
	(void)state;
	const uint8_t term[5] = {'X', 0, 0, 0, 4};
	assert_true(pkt_is_early_terminate(term, 5));
	assert_true(pkt_is_early_terminate(term, 4));
	assert_false(pkt_is_early_terminate(term, 3));
	const uint8_t longer[5] = {'X', 0, 0, 0, 5};
	assert_false(pkt_is_early_terminate(longer, 5));
	const uint8_t query[5] = {'Q', 0, 0, 0, 4};
	assert_false(pkt_is_early_terminate(query, 5));
	const uint8_t startup[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
	assert_false(pkt_is_early_terminate(startup, 8));
}

/* A RowDescription payload of one column: name, table oid, column, type oid, length, modifier,
 * format. */
static size_t row_desc(uint8_t *out, const char *name, uint32_t table, uint32_t type,
		       int32_t typmod, uint16_t format)
{
	PktBuf b;
	pktbuf_init(&b);
	pktbuf_put_u16(&b, 1);
	pktbuf_put_cstring(&b, name);
	pktbuf_put_u32(&b, table);
	pktbuf_put_u16(&b, 1);
	pktbuf_put_u32(&b, type);
	pktbuf_put_u16(&b, 4);
	pktbuf_put_u32(&b, (uint32_t)typmod);
	pktbuf_put_u16(&b, format);
	size_t n = b.len;
	memcpy(out, b.data, n);
	pktbuf_free(&b);
	return n;
}

/* What PostgreSQL compares for "cached plan must not change result type" changes the shape;
 * where the rows come from and their format do not. */
static void test_proto_result_shape(void **state)
{
	(void)state;
	uint8_t a[64], b[64];
	size_t na = row_desc(a, "v", 16384, 23, -1, 0);
	uint64_t h = pkt_result_shape(a, na);
	assert_true(h > PKT_SHAPE_NO_DATA);
	size_t nb = row_desc(b, "v", 99999, 23, -1, 1);
	assert_int_equal(pkt_result_shape(b, nb), h);
	nb = row_desc(b, "v", 16384, 25, -1, 0);
	assert_true(pkt_result_shape(b, nb) != h);
	nb = row_desc(b, "w", 16384, 23, -1, 0);
	assert_true(pkt_result_shape(b, nb) != h);
	nb = row_desc(b, "v", 16384, 23, 8, 0);
	assert_true(pkt_result_shape(b, nb) != h);
	for (size_t cut = 0; cut < na; cut++)
		assert_int_equal(pkt_result_shape(a, cut), PKT_SHAPE_UNKNOWN);
}

static void test_proto_reader_every_boundary(void **state)
{
	static const uint8_t src[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};

	(void)state;
	for (size_t n = 0; n <= sizeof(src); n++) {
		uint8_t *buf = dup_exact(src, n);
		PktReader r;
		uint8_t u8;
		uint16_t u16;
		uint32_t u32;
		const uint8_t *bytes;

		pkt_reader_init(&r, buf, n);
		assert_int_equal(pkt_get_u8(&r, &u8), n >= 1);
		if (n >= 1) {
			assert_int_equal(u8, 0x01);
			assert_ptr_equal(r.p, buf + 1);
		} else {
			assert_ptr_equal(r.p, buf);
		}

		pkt_reader_init(&r, buf, n);
		u16 = 0x5555;
		assert_int_equal(pkt_get_u16(&r, &u16), n >= 2);
		assert_int_equal(u16, n >= 2 ? 0x0102 : 0x5555);
		assert_ptr_equal(r.p, buf + (n >= 2 ? 2 : 0));

		pkt_reader_init(&r, buf, n);
		u32 = 0x55555555;
		assert_int_equal(pkt_get_u32(&r, &u32), n >= 4);
		assert_int_equal(u32, n >= 4 ? 0x01020304u : 0x55555555u);
		assert_ptr_equal(r.p, buf + (n >= 4 ? 4 : 0));

		/* a u32 after a u8 needs 5 bytes */
		pkt_reader_init(&r, buf, n);
		if (n >= 1) {
			assert_true(pkt_get_u8(&r, &u8));
			assert_int_equal(pkt_get_u32(&r, &u32), n >= 5);
			if (n >= 5)
				assert_int_equal(u32, 0x02030405u);
		}

		for (size_t want = 0; want <= sizeof(src) + 1; want++) {
			pkt_reader_init(&r, buf, n);
			bytes = NULL;
			assert_int_equal(pkt_get_bytes(&r, want, &bytes), want <= n);
			if (want <= n) {
				assert_ptr_equal(bytes, buf);
				assert_ptr_equal(r.p, buf + want);
			} else {
				assert_null(bytes);
				assert_ptr_equal(r.p, buf);
			}
		}
		/* the reader at its end: everything fails, nothing moves */
		pkt_reader_init(&r, buf, n);
		assert_true(pkt_get_bytes(&r, n, &bytes));
		assert_false(pkt_get_u8(&r, &u8));
		assert_false(pkt_get_u16(&r, &u16));
		assert_false(pkt_get_u32(&r, &u32));
		assert_true(pkt_get_bytes(&r, 0, &bytes));
		assert_false(pkt_get_bytes(&r, 1, &bytes));
		assert_ptr_equal(r.p, buf + n);
		free(buf);
	}
}

static void test_proto_reader_cstring_every_boundary(void **state)
{
	/* two strings "ab" and "" then a byte */
	static const uint8_t src[] = {'a', 'b', 0, 0, 'z'};

	(void)state;
	for (size_t n = 0; n <= sizeof(src); n++) {
		uint8_t *buf = dup_exact(src, n);
		PktReader r;
		const char *s = NULL;
		size_t len = 77;
		uint8_t u8;

		pkt_reader_init(&r, buf, n);
		bool ok = pkt_get_cstring(&r, &s, &len);
		assert_int_equal(ok, n >= 3);
		if (!ok) {
			/* unterminated: nothing read, nothing moved */
			assert_ptr_equal(r.p, buf);
			assert_int_equal(len, 77);
			free(buf);
			continue;
		}
		assert_ptr_equal(s, buf);
		assert_int_equal(len, 2);
		assert_string_equal(s, "ab");
		assert_ptr_equal(r.p, buf + 3);
		ok = pkt_get_cstring(&r, &s, NULL); /* len may be NULL */
		assert_int_equal(ok, n >= 4);
		if (ok) {
			assert_string_equal(s, "");
			assert_ptr_equal(r.p, buf + 4);
			/* 'z' has no terminator */
			assert_false(pkt_get_cstring(&r, &s, &len));
			assert_int_equal(pkt_get_u8(&r, &u8), n >= 5);
		}
		free(buf);
	}
}

/* ---- ErrorResponse ---- */

/* The payload (after 'E' and the length) of PostgreSQL 15's answer to SELECT 1/0. */
static const char PG_DIV_ZERO[] = "SERROR\0VERROR\0C22012\0Mdivision by zero\0Fint.c\0L841\0"
				  "Rint4div\0";
/* sizeof includes the string literal's own NUL, which is the message's terminator */

static void test_proto_parse_error_real(void **state)
{
	PktError e;
	uint8_t *buf = dup_exact(PG_DIV_ZERO, sizeof(PG_DIV_ZERO));

	(void)state;
	assert_int_equal(sizeof(PG_DIV_ZERO), 61);
	assert_true(pkt_parse_error(buf, sizeof(PG_DIV_ZERO), &e));
	assert_string_equal(e.severity, "ERROR");
	assert_string_equal(e.sqlstate, "22012");
	assert_string_equal(e.message, "division by zero");
	/* pointers into the frame, not copies */
	assert_ptr_equal(e.sqlstate, (const char *)buf + 15);
	free(buf);
}

static void test_proto_parse_error_severity_and_missing_fields(void **state)
{
	PktError e;

	(void)state;
	/* a localized server: V (never translated) wins over S, whichever comes first */
	static const char loc[] = "SFEHLER\0VERROR\0C42P01\0MRelation existiert nicht\0";
	assert_true(pkt_parse_error((const uint8_t *)loc, sizeof(loc), &e));
	assert_string_equal(e.severity, "ERROR");
	assert_string_equal(e.message, "Relation existiert nicht");
	static const char v_first[] = "VFATAL\0SFATAL-LOC\0C57P01\0";
	assert_true(pkt_parse_error((const uint8_t *)v_first, sizeof(v_first), &e));
	assert_string_equal(e.severity, "FATAL");
	assert_string_equal(e.sqlstate, "57P01");
	assert_null(e.message);
	/* a pre-9.6 server sends only S */
	static const char s_only[] = "SNOTICE\0C00000\0Mhello\0";
	assert_true(pkt_parse_error((const uint8_t *)s_only, sizeof(s_only), &e));
	assert_string_equal(e.severity, "NOTICE");
	/* only the terminator: valid, nothing known */
	static const uint8_t empty[] = {0};
	assert_true(pkt_parse_error(empty, 1, &e));
	assert_null(e.severity);
	assert_null(e.sqlstate);
	assert_null(e.message);
}

static void test_proto_parse_error_truncated(void **state)
{
	PktError e;

	(void)state;
	/* every strict prefix of the real message is refused, and never read past */
	for (size_t n = 0; n < sizeof(PG_DIV_ZERO); n++) {
		uint8_t *buf = dup_exact(PG_DIV_ZERO, n);
		assert_false(pkt_parse_error(buf, n, &e));
		free(buf);
	}
	/* a field without its NUL at the very end */
	static const uint8_t unterminated[] = {'C', '2', '2', '0', '1', '2'};
	assert_false(pkt_parse_error(unterminated, sizeof(unterminated), &e));
	/* all fields there but no final 0 byte */
	uint8_t *buf = dup_exact(PG_DIV_ZERO, sizeof(PG_DIV_ZERO) - 1);
	assert_false(pkt_parse_error(buf, sizeof(PG_DIV_ZERO) - 1, &e));
	free(buf);
}

/* ---- CommandComplete tags ---- */

static uint64_t rows(const char *tag)
{
	/* heap copy without NUL: the function gets a length and must not look further */
	size_t n = strlen(tag);
	uint8_t *buf = dup_exact(tag, n);
	uint64_t r = pkt_command_rows((const char *)buf, n);
	free(buf);
	return r;
}

static void test_proto_command_rows(void **state)
{
	(void)state;
	assert_int_equal(rows("SELECT 5"), 5);
	assert_int_equal(rows("INSERT 0 7"), 7);
	assert_int_equal(rows("UPDATE 0"), 0);
	assert_int_equal(rows("DELETE 12345"), 12345);
	assert_int_equal(rows("COPY 10"), 10);
	assert_int_equal(rows("FETCH 100"), 100);
	assert_int_equal(rows("MERGE 3"), 3);
	assert_int_equal(rows("MOVE 2"), 2);
	assert_int_equal(rows("SELECT 18446744073709551615"), UINT64_MAX);
	assert_int_equal(rows("CREATE TABLE"), 0);
	assert_int_equal(rows("BEGIN"), 0);
	assert_int_equal(rows("SET"), 0);
	/* garbage */
	assert_int_equal(rows(""), 0);
	assert_int_equal(rows("5"), 0);
	assert_int_equal(rows("SELECT"), 0);
	assert_int_equal(rows("SELECT "), 0);
	assert_int_equal(rows("SELECT5"), 0);
	assert_int_equal(rows("SELECT 5x"), 0);
	assert_int_equal(rows("SELECT -5"), 0);
	/* the tag's length is what counts, not a NUL further on */
	assert_int_equal(pkt_command_rows("SELECT 123", 9), 12);
}

/* ---- builders ---- */

static void assert_pktbuf(PktBuf *b, const uint8_t *want, size_t want_len)
{
	assert_false(pktbuf_failed(b));
	assert_int_equal(b->len, want_len);
	assert_memory_equal(b->data, want, want_len);
	pktbuf_reset(b);
}

static void test_proto_write_error(void **state)
{
	PktBuf b;
	/* 'E', length 44: S ERROR, V ERROR, C 22012, M division by zero, 0 */
	static const uint8_t want[] = "E\0\0\0\x2c"
				      "SERROR\0VERROR\0C22012\0Mdivision by zero\0";
	static const uint8_t want_dh[] = "E\0\0\0\x31"
					 "SFATAL\0VFATAL\0C08P01\0Mbad\0Dthe detail\0Hhint\0";

	(void)state;
	pktbuf_init(&b);
	pq_write_error(&b, "ERROR", "22012", "division by zero", NULL, NULL);
	/* sizeof(want) counts the literal's NUL = the message terminator */
	assert_int_equal(sizeof(want), 45);
	assert_pktbuf(&b, want, sizeof(want));
	pq_write_error(&b, "FATAL", "08P01", "bad", "the detail", "hint");
	assert_int_equal(sizeof(want_dh), 50);
	assert_pktbuf(&b, want_dh, sizeof(want_dh));
	/* what pgsift writes, its own parser reads back */
	PktError e;
	pq_write_error(&b, "ERROR", "57014", "canceling statement due to statement timeout", NULL,
		       NULL);
	assert_true(pkt_parse_error(b.data + 5, b.len - 5, &e));
	assert_string_equal(e.severity, "ERROR");
	assert_string_equal(e.sqlstate, "57014");
	assert_string_equal(e.message, "canceling statement due to statement timeout");
	pktbuf_free(&b);
}

static void test_proto_write_auth(void **state)
{
	PktBuf b;
	static const uint8_t ok[] = {'R', 0, 0, 0, 8, 0, 0, 0, 0};
	static const uint8_t md5[] = {'R', 0, 0, 0, 12, 0, 0, 0, 5, 0xde, 0xad, 0xbe, 0xef};
	/* AuthenticationSASL: mechanism list "SCRAM-SHA-256\0" and the final empty string */
	static const uint8_t sasl[] = {'R', 0,	 0,   0,   23,	0,   0,	  0,   10,  'S', 'C', 'R',
				       'A', 'M', '-', 'S', 'H', 'A', '-', '2', '5', '6', 0,   0};
	static const uint8_t salt[] = {0xde, 0xad, 0xbe, 0xef};

	(void)state;
	pktbuf_init(&b);
	pq_write_auth(&b, PQ_AUTH_OK, NULL, 0);
	assert_pktbuf(&b, ok, sizeof(ok));
	pq_write_auth(&b, PQ_AUTH_MD5, salt, 4);
	assert_pktbuf(&b, md5, sizeof(md5));
	pq_write_auth(&b, PQ_AUTH_SASL, "SCRAM-SHA-256\0", 15);
	assert_pktbuf(&b, sasl, sizeof(sasl));
	pktbuf_free(&b);
}

/* What pgsift writes on its own besides errors: notices, bare messages, and what it sends a
 * server (startup packet, passwords, Parse/Close/Describe of its own statements). */
static void test_proto_write_own_messages(void **state)
{
	PktBuf b;
	static const uint8_t notice[] = "N\0\0\0\x2e"
					"SNOTICE\0VNOTICE\0C00000\0MConsole usage\0Dd\0";
	static const uint8_t bare[] = {'1', 0, 0, 0, 4, 'H', 0, 0, 0, 4};
	static const uint8_t nopar[] = {'t', 0, 0, 0, 6, 0, 0};
	static const uint8_t sasl[] = {'R', 0,	 0,   0,   23,	0,   0,	  0,   10,  'S', 'C', 'R',
				       'A', 'M', '-', 'S', 'H', 'A', '-', '2', '5', '6', 0,   0};
	static const uint8_t startup[] = "\0\0\0\x1c\0\x03\0\0user\0u\0database\0db\0";
	static const uint8_t pw[] = "p\0\0\0\x08pwd";
	static const uint8_t pw_raw[] = {'p', 0, 0, 0, 7, 'a', 'b', 'c'};
	static const uint8_t sasl_init[] = "p\0\0\0\x19"
					   "SCRAM-SHA-256\0\0\0\0\x03n,,";
	static const uint8_t parse[] = "P\0\0\0\x1dPGSIFT_1\0SELECT $1\0\0\x01\0\0\0\x17";
	static const uint8_t close_describe[] = "C\0\0\0\x08Ss1\0D\0\0\0\x06P\0";
	static const uint8_t types[] = {0, 1, 0, 0, 0, 23};

	(void)state;
	pktbuf_init(&b);
	pq_write_notice(&b, "Console usage", "d");
	assert_pktbuf(&b, notice, sizeof(notice));
	pq_write_bare(&b, PQ_MSG_PARSE_COMPLETE);
	pq_write_bare(&b, PQ_MSG_FLUSH);
	assert_pktbuf(&b, bare, sizeof(bare));
	pq_write_no_parameters(&b);
	assert_pktbuf(&b, nopar, sizeof(nopar));
	static const char *const one[] = {"SCRAM-SHA-256", NULL};
	pq_write_auth_sasl(&b, one);
	assert_pktbuf(&b, sasl, sizeof(sasl));
	/* over TLS both are offered, channel binding first */
	static const char *const two[] = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", NULL};
	static const uint8_t sasl2[] = "R\0\0\0\x2a\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0";
	pq_write_auth_sasl(&b, two);
	assert_pktbuf(&b, sasl2, sizeof(sasl2)); /* the literal's own NUL ends the list */
	const char *keys[] = {"user", "database"}, *values[] = {"u", "db"};
	pq_write_startup(&b, keys, values, 2);
	assert_pktbuf(&b, startup, sizeof(startup));
	pq_write_password(&b, "pwd", 3, true);
	assert_pktbuf(&b, pw, sizeof(pw));
	pq_write_password(&b, "abc", 3, false);
	assert_pktbuf(&b, pw_raw, sizeof(pw_raw));
	pq_write_sasl_initial(&b, "SCRAM-SHA-256", "n,,", 3);
	assert_pktbuf(&b, sasl_init, sizeof(sasl_init) - 1);
	pq_write_parse(&b, "PGSIFT_1", "SELECT $1", 9, types, sizeof(types));
	assert_pktbuf(&b, parse, sizeof(parse) - 1);
	pq_write_close(&b, 'S', "s1");
	pq_write_describe(&b, 'P', "");
	assert_pktbuf(&b, close_describe, sizeof(close_describe) - 1);
	pktbuf_free(&b);
}

/* A client's Bind with its statement name replaced by pgsift's, whole or only its head. */
static void test_proto_write_renamed(void **state)
{
	PktBuf b;
	/* Bind: portal "", statement "s", no formats, one parameter "42", no result formats */
	static const uint8_t bind[] = "B\0\0\0\x13\0s\0\0\0\0\x01\0\0\0\x02"
				      "42\0";
	static const uint8_t want[] = "B\0\0\0\x1a\0PGSIFT_7\0\0\0\0\x01\0\0\0\x02"
				      "42\0";
	PktHdr hdr = {.type = 'B', .len = sizeof(bind), .hdr_len = 5};

	(void)state;
	assert_int_equal(sizeof(bind), 20); /* 'B' + length 19, the literal's NUL the last byte */
	pktbuf_init(&b);
	pq_write_renamed(&b, &hdr, bind, (const char *)bind + 6, "PGSIFT_7", true);
	assert_pktbuf(&b, want, sizeof(want));
	/* the head: up to the new name, the length still that of the whole new frame */
	pq_write_renamed(&b, &hdr, bind, (const char *)bind + 6, "PGSIFT_7", false);
	assert_pktbuf(&b, want, 15);
	pktbuf_free(&b);
}

static void test_proto_write_session_messages(void **state)
{
	PktBuf b;
	static const uint8_t ps[] = "S\0\0\0\x19"
				    "client_encoding\0UTF8";
	static const uint8_t key[] = {'K', 0, 0, 0, 12, 0, 0, 0x30, 0x39, 0x12, 0x34, 0x56, 0x78};
	static const uint8_t rdy[] = {'Z', 0, 0,   0,	5, 'I', 'Z', 0, 0,
				      0,   5, 'T', 'Z', 0, 0,	0,   5, 'E'};
	static const uint8_t q[] = "Q\0\0\0\x0d"
				   "SELECT 1";
	static const uint8_t cc[] = "C\0\0\0\x0d"
				    "SELECT 1";
	static const uint8_t eq[] = {'I', 0, 0, 0, 4};
	static const uint8_t nv[] = "v\0\0\0\x1b\0\0\0\0\0\0\0\x01_pq_.something";

	(void)state;
	pktbuf_init(&b);
	pq_write_parameter_status(&b, "client_encoding", "UTF8");
	assert_pktbuf(&b, ps, sizeof(ps));
	pq_write_backend_key(&b, 12345, 0x12345678);
	assert_pktbuf(&b, key, sizeof(key));
	/* three messages back to back in one buffer */
	pq_write_ready(&b, PQ_TX_IDLE);
	pq_write_ready(&b, PQ_TX_IN_BLOCK);
	pq_write_ready(&b, PQ_TX_FAILED);
	assert_pktbuf(&b, rdy, sizeof(rdy));
	pq_write_query(&b, "SELECT 1");
	assert_pktbuf(&b, q, sizeof(q));
	pq_write_command_complete(&b, "SELECT 1");
	assert_pktbuf(&b, cc, sizeof(cc));
	pq_write_empty_query(&b);
	assert_pktbuf(&b, eq, sizeof(eq));
	const char *unknown[] = {"_pq_.something"};
	pq_write_negotiate_version(&b, 0, unknown, 1);
	assert_pktbuf(&b, nv, sizeof(nv));
	pktbuf_free(&b);
}

static void test_proto_write_rows(void **state)
{
	PktBuf b;
	/* RowDescription of `SELECT 'x'::text AS version, 1::int8 AS n` as PostgreSQL 15 sends it
	 * (table oid 0, column 0, typlen -1 / 8, typmod -1, text format) */
	static const uint8_t rd[] = {
		'T',  0,    0,	  0,	52,		    /* type, length */
		0,    2,				    /* two fields */
		'v',  'e',  'r',  's',	'i',  'o',  'n', 0, /* name */
		0,    0,    0,	  0,	0,    0,	    /* table oid, column number */
		0,    0,    0,	  25,	0xff, 0xff,	    /* text, typlen -1 */
		0xff, 0xff, 0xff, 0xff, 0,    0,	    /* typmod -1, text format */
		'n',  0,				    /* name */
		0,    0,    0,	  0,	0,    0,	    /* table oid, column number */
		0,    0,    0,	  20,	0,    8,	    /* int8, typlen 8 */
		0xff, 0xff, 0xff, 0xff, 0,    0,	    /* typmod -1, text format */
	};
	/* DataRow ('abc', NULL, ''): 3 columns, length 3 + bytes, -1, 0 */
	static const uint8_t dr[] = {'D', 0,   0,   0,	  0x15, 0,    3,    0, 0, 0, 3,
				     'a', 'b', 'c', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
	static const uint8_t dr0[] = {'D', 0, 0, 0, 6, 0, 0};
	const char *const names[] = {"version", "n"};
	const uint32_t oids[] = {25, 20};
	const char *const vals[] = {"abc", NULL, ""};

	(void)state;
	pktbuf_init(&b);
	pq_write_row_description(&b, names, oids, 2);
	assert_int_equal(sizeof(rd), 53);
	assert_pktbuf(&b, rd, sizeof(rd));
	pq_write_data_row(&b, vals, 3);
	assert_pktbuf(&b, dr, sizeof(dr));
	pq_write_data_row(&b, NULL, 0);
	assert_pktbuf(&b, dr0, sizeof(dr0));
	pktbuf_free(&b);
}

static void test_proto_pktbuf_startup_frame_and_growth(void **state)
{
	PktBuf b;
	/* StartupMessage user=bob database=db: no type byte, the length counts itself */
	static const uint8_t sm[] = {0,	  0,   0,   30,	 0,   3,   0,	0,   'u', 's',
				     'e', 'r', 0,   'b', 'o', 'b', 0,	'd', 'a', 't',
				     'a', 'b', 'a', 's', 'e', 0,   'd', 'b', 0,	  0};
	static const uint8_t ssl[] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};

	(void)state;
	pktbuf_init(&b);
	pktbuf_start(&b, 0);
	pktbuf_put_u32(&b, PQ_PROTOCOL_3_0);
	pktbuf_put_cstring(&b, "user");
	pktbuf_put_cstring(&b, "bob");
	pktbuf_put_cstring(&b, "database");
	pktbuf_put_cstring(&b, "db");
	pktbuf_put_u8(&b, 0);
	pktbuf_finish(&b);
	assert_pktbuf(&b, sm, sizeof(sm));
	PktHdr hdr;
	pktbuf_start(&b, 0);
	pktbuf_put_u32(&b, PQ_SSL_REQUEST_CODE);
	pktbuf_finish(&b);
	assert_int_equal(pkt_read_startup_header(b.data, b.len, &hdr), PKT_OK);
	assert_int_equal(hdr.code, PQ_SSL_REQUEST_CODE);
	assert_pktbuf(&b, ssl, sizeof(ssl));

	/* a typed frame after raw bytes: the length still skips only its own type byte */
	pktbuf_put_raw(&b, "N", 1);
	pq_write_ready(&b, PQ_TX_IDLE);
	static const uint8_t raw_then_z[] = {'N', 'Z', 0, 0, 0, 5, 'I'};
	assert_pktbuf(&b, raw_then_z, sizeof(raw_then_z));

	/* 100000-byte query: the buffer grows past its first 256 bytes many times */
	char *sql = malloc(100001);
	assert_non_null(sql);
	memset(sql, 'x', 100000);
	sql[100000] = 0;
	pq_write_query(&b, sql);
	assert_false(pktbuf_failed(&b));
	assert_int_equal(b.len, 100006);
	assert_int_equal(pkt_read_header(b.data, b.len, 0, &hdr), PKT_OK);
	assert_int_equal(hdr.len, 100006);
	assert_memory_equal(b.data + 5, sql, 100001);
	size_t len;
	uint8_t *stolen = pktbuf_steal(&b, &len);
	assert_int_equal(len, 100006);
	assert_int_equal(b.len, 0);
	assert_null(b.data);
	free(stolen);
	free(sql);
	pktbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proto_header_valid_every_prefix),
		cmocka_unit_test(test_proto_header_bad_length),
		cmocka_unit_test(test_proto_header_too_big),
		cmocka_unit_test(test_proto_startup_header_every_prefix),
		cmocka_unit_test(test_proto_startup_header_bad_length),
		cmocka_unit_test(test_proto_early_terminate),
		cmocka_unit_test(test_proto_result_shape),
		cmocka_unit_test(test_proto_reader_every_boundary),
		cmocka_unit_test(test_proto_reader_cstring_every_boundary),
		cmocka_unit_test(test_proto_parse_error_real),
		cmocka_unit_test(test_proto_parse_error_severity_and_missing_fields),
		cmocka_unit_test(test_proto_parse_error_truncated),
		cmocka_unit_test(test_proto_command_rows),
		cmocka_unit_test(test_proto_write_error),
		cmocka_unit_test(test_proto_write_auth),
		cmocka_unit_test(test_proto_write_own_messages),
		cmocka_unit_test(test_proto_write_renamed),
		cmocka_unit_test(test_proto_write_session_messages),
		cmocka_unit_test(test_proto_write_rows),
		cmocka_unit_test(test_proto_pktbuf_startup_frame_and_growth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
