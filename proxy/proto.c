/*
 * proto: frame headers, field readers and message builders of the PostgreSQL v3 protocol. All
 * lengths coming from the network are validated here, before any other module trusts them.
 */
#include "proxy/proto.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static bool pktbuf_reserve(PktBuf *b, size_t more);
static void pq_write_report(PktBuf *b, uint8_t type, const char *severity, const char *sqlstate,
			    const char *message, const char *detail, const char *hint,
			    const char *file, const char *routine);

const char *pkt_status_str(PktStatus st)
{
	switch (st) {
	case PKT_OK:
		return "ok";
	case PKT_NEED_MORE:
		return "incomplete";
	case PKT_BAD_LENGTH:
		return "invalid message length";
	case PKT_TOO_BIG:
		return "message larger than max_packet_size";
	}
	return "?";
}

PktStatus pkt_read_header(const uint8_t *buf, size_t avail, uint32_t max_len, PktHdr *hdr)
{
	if (avail < 5)
		return PKT_NEED_MORE;
	uint32_t len = pkt_be32(buf + 1);
	if (len < 4 || len > INT32_MAX - 1)
		return PKT_BAD_LENGTH;
	if (max_len && len + 1 > max_len)
		return PKT_TOO_BIG;
	hdr->type = buf[0];
	hdr->len = len + 1;
	hdr->hdr_len = 5;
	hdr->code = 0;
	return PKT_OK;
}

PktStatus pkt_read_startup_header(const uint8_t *buf, size_t avail, PktHdr *hdr)
{
	if (avail < 4)
		return PKT_NEED_MORE;
	uint32_t len = pkt_be32(buf);
	if (len < PQ_STARTUP_MIN_LEN || len > PQ_STARTUP_MAX_LEN)
		return PKT_BAD_LENGTH;
	if (avail < 8)
		return PKT_NEED_MORE;
	hdr->type = 0;
	hdr->len = len;
	hdr->hdr_len = 8;
	hdr->code = pkt_be32(buf + 4);
	return PKT_OK;
}

bool pkt_is_early_terminate(const uint8_t *buf, size_t avail)
{
	static const uint8_t terminate[5] = {PQ_MSG_TERMINATE, 0, 0, 0, 4};
	if (avail < 4)
		return false;
	return memcmp(buf, terminate, avail < 5 ? avail : 5) == 0;
}

bool pkt_get_u8(PktReader *r, uint8_t *out)
{
	if (r->end - r->p < 1)
		return false;
	*out = *r->p++;
	return true;
}

bool pkt_get_u16(PktReader *r, uint16_t *out)
{
	if (r->end - r->p < 2)
		return false;
	*out = (uint16_t)((r->p[0] << 8) | r->p[1]);
	r->p += 2;
	return true;
}

bool pkt_get_u32(PktReader *r, uint32_t *out)
{
	if (r->end - r->p < 4)
		return false;
	*out = pkt_be32(r->p);
	r->p += 4;
	return true;
}

bool pkt_get_cstring(PktReader *r, const char **out, size_t *len)
{
	const uint8_t *nul = memchr(r->p, 0, (size_t)(r->end - r->p));
	if (!nul)
		return false;
	*out = (const char *)r->p;
	if (len)
		*len = (size_t)(nul - r->p);
	r->p = nul + 1;
	return true;
}

bool pkt_get_bytes(PktReader *r, size_t n, const uint8_t **out)
{
	if ((size_t)(r->end - r->p) < n)
		return false;
	*out = r->p;
	r->p += n;
	return true;
}

bool pkt_parse_error(const uint8_t *payload, size_t len, PktError *out)
{
	PktReader r;
	pkt_reader_init(&r, payload, len);
	memset(out, 0, sizeof(*out));
	for (;;) {
		uint8_t code;
		const char *val;
		if (!pkt_get_u8(&r, &code))
			return false;
		if (code == 0)
			return true;
		if (!pkt_get_cstring(&r, &val, NULL))
			return false;
		switch (code) {
		case 'V':
			out->severity = val;
			break;
		case 'S':
			if (!out->severity)
				out->severity = val;
			break;
		case 'C':
			out->sqlstate = val;
			break;
		case 'M':
			out->message = val;
			break;
		default:
			break;
		}
	}
}

uint64_t pkt_command_rows(const char *tag, size_t len)
{
	size_t i = len;
	while (i > 0 && tag[i - 1] >= '0' && tag[i - 1] <= '9')
		i--;
	if (i == len || i == 0 || tag[i - 1] != ' ')
		return 0;
	uint64_t n = 0;
	for (; i < len; i++)
		n = n * 10 + (uint64_t)(tag[i] - '0');
	return n;
}

void pktbuf_init(PktBuf *b)
{
	memset(b, 0, sizeof(*b));
}

void pktbuf_reset(PktBuf *b)
{
	b->len = 0;
	b->msg_start = 0;
	b->failed = false;
}

void pktbuf_free(PktBuf *b)
{
	free(b->data);
	pktbuf_init(b);
}

uint8_t *pktbuf_steal(PktBuf *b, size_t *len)
{
	uint8_t *data = b->data;
	*len = b->len;
	pktbuf_init(b);
	return data;
}

static bool pktbuf_reserve(PktBuf *b, size_t more)
{
	if (b->failed)
		return false;
	if (b->len + more <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more)
		cap *= 2;
	uint8_t *p = realloc(b->data, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

void pktbuf_put_raw(PktBuf *b, const void *p, size_t n)
{
	if (!n || !pktbuf_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void pktbuf_put_bytes(PktBuf *b, const void *p, size_t n)
{
	pktbuf_put_raw(b, p, n);
}

void pktbuf_put_u8(PktBuf *b, uint8_t v)
{
	pktbuf_put_raw(b, &v, 1);
}

void pktbuf_put_u16(PktBuf *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	pktbuf_put_raw(b, x, 2);
}

void pktbuf_put_u32(PktBuf *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	pktbuf_put_raw(b, x, 4);
}

void pktbuf_put_cstring(PktBuf *b, const char *s)
{
	pktbuf_put_raw(b, s, strlen(s) + 1);
}

void pktbuf_start(PktBuf *b, uint8_t type)
{
	b->msg_start = b->len;
	b->msg_typed = type != 0;
	if (type)
		pktbuf_put_u8(b, type);
	pktbuf_put_u32(b, 0); /* length, patched by pktbuf_finish */
}

void pktbuf_finish(PktBuf *b)
{
	if (b->failed)
		return;
	size_t at = b->msg_start;
	/* a typed frame's length skips the type byte; a startup frame has none */
	size_t len_at = b->msg_typed ? at + 1 : at;
	uint32_t len = (uint32_t)(b->len - len_at);
	b->data[len_at] = (uint8_t)(len >> 24);
	b->data[len_at + 1] = (uint8_t)(len >> 16);
	b->data[len_at + 2] = (uint8_t)(len >> 8);
	b->data[len_at + 3] = (uint8_t)len;
}

void pq_write_error(PktBuf *b, const char *severity, const char *sqlstate, const char *message,
		    const char *detail, const char *hint)
{
	pq_write_error_from(b, severity, sqlstate, message, detail, hint, NULL, NULL);
}

void pq_write_error_from(PktBuf *b, const char *severity, const char *sqlstate, const char *message,
			 const char *detail, const char *hint, const char *file,
			 const char *routine)
{
	pq_write_report(b, PQ_MSG_ERROR_RESPONSE, severity, sqlstate, message, detail, hint, file,
			routine);
}

void pq_write_notice(PktBuf *b, const char *message, const char *detail)
{
	pq_write_report(b, PQ_MSG_NOTICE_RESPONSE, "NOTICE", "00000", message, detail, NULL, NULL,
			NULL);
}

/* An ErrorResponse or NoticeResponse (type): the fields PostgreSQL sends, NULL ones left out. */
static void pq_write_report(PktBuf *b, uint8_t type, const char *severity, const char *sqlstate,
			    const char *message, const char *detail, const char *hint,
			    const char *file, const char *routine)
{
	pktbuf_start(b, type);
	pktbuf_put_u8(b, 'S');
	pktbuf_put_cstring(b, severity);
	pktbuf_put_u8(b, 'V');
	pktbuf_put_cstring(b, severity);
	pktbuf_put_u8(b, 'C');
	pktbuf_put_cstring(b, sqlstate);
	pktbuf_put_u8(b, 'M');
	pktbuf_put_cstring(b, message);
	if (detail) {
		pktbuf_put_u8(b, 'D');
		pktbuf_put_cstring(b, detail);
	}
	if (hint) {
		pktbuf_put_u8(b, 'H');
		pktbuf_put_cstring(b, hint);
	}
	if (file) {
		pktbuf_put_u8(b, 'F');
		pktbuf_put_cstring(b, file);
	}
	if (routine) {
		pktbuf_put_u8(b, 'R');
		pktbuf_put_cstring(b, routine);
	}
	pktbuf_put_u8(b, 0);
	pktbuf_finish(b);
}

void pq_write_auth(PktBuf *b, uint32_t code, const void *data, size_t len)
{
	pktbuf_start(b, PQ_MSG_AUTH);
	pktbuf_put_u32(b, code);
	pktbuf_put_bytes(b, data, len);
	pktbuf_finish(b);
}

void pq_write_parameter_status(PktBuf *b, const char *name, const char *value)
{
	pktbuf_start(b, PQ_MSG_PARAMETER_STATUS);
	pktbuf_put_cstring(b, name);
	pktbuf_put_cstring(b, value);
	pktbuf_finish(b);
}

void pq_write_backend_key(PktBuf *b, uint32_t pid, uint32_t key)
{
	pktbuf_start(b, PQ_MSG_BACKEND_KEY_DATA);
	pktbuf_put_u32(b, pid);
	pktbuf_put_u32(b, key);
	pktbuf_finish(b);
}

void pq_write_ready(PktBuf *b, uint8_t tx_state)
{
	pktbuf_start(b, PQ_MSG_READY_FOR_QUERY);
	pktbuf_put_u8(b, tx_state);
	pktbuf_finish(b);
}

void pq_write_query(PktBuf *b, const char *sql)
{
	pktbuf_start(b, PQ_MSG_QUERY);
	pktbuf_put_cstring(b, sql);
	pktbuf_finish(b);
}

void pq_write_command_complete(PktBuf *b, const char *tag)
{
	pktbuf_start(b, PQ_MSG_COMMAND_COMPLETE);
	pktbuf_put_cstring(b, tag);
	pktbuf_finish(b);
}

void pq_write_empty_query(PktBuf *b)
{
	pktbuf_start(b, PQ_MSG_EMPTY_QUERY_RESPONSE);
	pktbuf_finish(b);
}

void pq_write_negotiate_version(PktBuf *b, uint32_t newest_version, const char *const *unknown,
				size_t n_unknown)
{
	pktbuf_start(b, PQ_MSG_NEGOTIATE_PROTOCOL_VERSION);
	pktbuf_put_u32(b, newest_version); /* the whole 3.x version, as PostgreSQL sends it */
	pktbuf_put_u32(b, (uint32_t)n_unknown);
	for (size_t i = 0; i < n_unknown; i++)
		pktbuf_put_cstring(b, unknown[i]);
	pktbuf_finish(b);
}

void pq_write_row_description(PktBuf *b, const char *const *names, const uint32_t *type_oids,
			      size_t n)
{
	pktbuf_start(b, PQ_MSG_ROW_DESCRIPTION);
	pktbuf_put_u16(b, (uint16_t)n);
	for (size_t i = 0; i < n; i++) {
		int16_t typlen = type_oids[i] == 20 || type_oids[i] == 701 ? 8 : -1;
		pktbuf_put_cstring(b, names[i]);
		pktbuf_put_u32(b, 0); /* table oid */
		pktbuf_put_u16(b, 0); /* column number */
		pktbuf_put_u32(b, type_oids[i]);
		pktbuf_put_u16(b, (uint16_t)typlen);
		pktbuf_put_u32(b, 0xffffffffu); /* typmod -1 */
		pktbuf_put_u16(b, 0);		/* text format */
	}
	pktbuf_finish(b);
}

void pq_write_data_row(PktBuf *b, const char *const *values, size_t n)
{
	pktbuf_start(b, PQ_MSG_DATA_ROW);
	pktbuf_put_u16(b, (uint16_t)n);
	for (size_t i = 0; i < n; i++) {
		if (!values[i]) {
			pktbuf_put_u32(b, 0xffffffffu);
			continue;
		}
		size_t len = strlen(values[i]);
		pktbuf_put_u32(b, (uint32_t)len);
		pktbuf_put_bytes(b, values[i], len);
	}
	pktbuf_finish(b);
}

uint64_t pkt_result_shape(const uint8_t *payload, size_t len)
{
	PktReader r;
	uint16_t n;
	pkt_reader_init(&r, payload, len);
	if (!pkt_get_u16(&r, &n))
		return PKT_SHAPE_UNKNOWN;
	uint64_t h = XXH3_64bits(&n, sizeof(n));
	for (uint16_t i = 0; i < n; i++) {
		const char *name;
		size_t name_len;
		const uint8_t *f;
		if (!pkt_get_cstring(&r, &name, &name_len) || !pkt_get_bytes(&r, 18, &f))
			return PKT_SHAPE_UNKNOWN;
		/* table oid (4), column (2) | type oid (4), length (2), modifier (4) | format (2) */
		h = XXH3_64bits_withSeed(name, name_len, h);
		h = XXH3_64bits_withSeed(f + 6, 10, h);
	}
	return h > PKT_SHAPE_NO_DATA ? h : h + 3;
}

void pq_write_bare(PktBuf *b, uint8_t type)
{
	pktbuf_start(b, type);
	pktbuf_finish(b);
}

void pq_write_no_parameters(PktBuf *b)
{
	pktbuf_start(b, PQ_MSG_PARAMETER_DESCRIPTION);
	pktbuf_put_u16(b, 0);
	pktbuf_finish(b);
}

void pq_write_auth_sasl(PktBuf *b, const char *const *mechanisms)
{
	pktbuf_start(b, PQ_MSG_AUTH);
	pktbuf_put_u32(b, PQ_AUTH_SASL);
	for (size_t i = 0; mechanisms[i]; i++)
		pktbuf_put_cstring(b, mechanisms[i]);
	pktbuf_put_u8(b, 0); /* the end of the list */
	pktbuf_finish(b);
}

void pq_write_startup(PktBuf *b, const char *const *keys, const char *const *values, size_t n)
{
	pktbuf_start(b, 0);
	pktbuf_put_u32(b, PQ_PROTOCOL_3_0);
	for (size_t i = 0; i < n; i++) {
		pktbuf_put_cstring(b, keys[i]);
		pktbuf_put_cstring(b, values[i]);
	}
	pktbuf_put_u8(b, 0);
	pktbuf_finish(b);
}

void pq_write_password(PktBuf *b, const void *data, size_t len, bool nul_terminate)
{
	pktbuf_start(b, PQ_MSG_PASSWORD);
	pktbuf_put_bytes(b, data, len);
	if (nul_terminate)
		pktbuf_put_u8(b, 0);
	pktbuf_finish(b);
}

void pq_write_sasl_initial(PktBuf *b, const char *mechanism, const char *msg, size_t msg_len)
{
	pktbuf_start(b, PQ_MSG_PASSWORD);
	pktbuf_put_cstring(b, mechanism);
	pktbuf_put_u32(b, (uint32_t)msg_len);
	pktbuf_put_bytes(b, msg, msg_len);
	pktbuf_finish(b);
}

void pq_write_parse(PktBuf *b, const char *name, const char *query, size_t query_len,
		    const uint8_t *types, size_t types_len)
{
	pktbuf_start(b, PQ_MSG_PARSE);
	pktbuf_put_cstring(b, name);
	pktbuf_put_bytes(b, query, query_len + 1);
	pktbuf_put_bytes(b, types, types_len);
	pktbuf_finish(b);
}

void pq_write_close(PktBuf *b, uint8_t what, const char *name)
{
	pktbuf_start(b, PQ_MSG_CLOSE);
	pktbuf_put_u8(b, what);
	pktbuf_put_cstring(b, name);
	pktbuf_finish(b);
}

void pq_write_describe(PktBuf *b, uint8_t what, const char *name)
{
	pktbuf_start(b, PQ_MSG_DESCRIBE);
	pktbuf_put_u8(b, what);
	pktbuf_put_cstring(b, name);
	pktbuf_finish(b);
}

void pq_write_renamed(PktBuf *b, const PktHdr *hdr, const uint8_t *pkt, const char *name,
		      const char *new_name, bool rest)
{
	const uint8_t *at = (const uint8_t *)name;
	const uint8_t *after = at + strlen(name) + 1;
	size_t new_len = strlen(new_name);
	uint32_t len = hdr->len - 1 - (uint32_t)(after - at) + (uint32_t)(new_len + 1);
	uint8_t head[5] = {hdr->type, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
			   (uint8_t)(len >> 8), (uint8_t)len};
	pktbuf_put_raw(b, head, sizeof(head));
	pktbuf_put_raw(b, pkt + hdr->hdr_len, (size_t)(at - (pkt + hdr->hdr_len)));
	pktbuf_put_raw(b, new_name, new_len + 1);
	if (rest)
		pktbuf_put_raw(b, after, (size_t)(pkt + hdr->len - after));
}
