/* json: the one JSON string writer, for the slow-query log (stats/slowlog.c) and the advisor's
 * JSON output (stats/advisor/output.c): quotes, backslashes and control characters escaped,
 * valid UTF-8 kept as it is, each byte of invalid UTF-8 written as U+FFFD, so that every line
 * stays valid JSON whatever a client sent. The caller gives the sink (a buffer, a FILE). */
#ifndef PGSIFT_UTIL_JSON_H
#define PGSIFT_UTIL_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef void (*JsonSink)(void *ctx, const char *p, size_t n);

/* Length of the valid UTF-8 sequence of 2 to 4 bytes at s (n bytes left), 0 when it is not one
 * (overlong forms and surrogates included). */
static inline size_t json_utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* s[0, n) as a JSON string, quotes included, through put. */
static inline void json_write_str(JsonSink put, void *ctx, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	put(ctx, "\"", 1);
	size_t i = 0, run = 0; /* bytes [i - run, i) go out as they are */
	while (i < n) {
		unsigned char c = p[i];
		const char *esc = NULL;
		size_t esc_len = 2;
		char u[6] = {'\\', 'u', '0', '0', 0, 0};
		if (c >= 0x80) {
			size_t v = json_utf8_len(p + i, n - i);
			if (v) {
				i += v;
				run += v;
				continue;
			}
			esc = "\xef\xbf\xbd"; /* U+FFFD */
			esc_len = 3;
		} else if (c == '"') {
			esc = "\\\"";
		} else if (c == '\\') {
			esc = "\\\\";
		} else if (c == '\n') {
			esc = "\\n";
		} else if (c == '\r') {
			esc = "\\r";
		} else if (c == '\t') {
			esc = "\\t";
		} else if (c < 0x20 || c == 0x7f) {
			u[4] = hex[c >> 4];
			u[5] = hex[c & 15];
			esc = u;
			esc_len = 6;
		} else {
			i++;
			run++;
			continue;
		}
		if (run)
			put(ctx, s + i - run, run);
		run = 0;
		put(ctx, esc, esc_len);
		i++;
	}
	if (run)
		put(ctx, s + i - run, run);
	put(ctx, "\"", 1);
}

#endif
