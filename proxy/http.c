/*
 * http: request heads of the metrics_listen server, parsed and judged without any I/O (see
 * http.h). metrics.c feeds it what a connection has sent and answers whatever it decides.
 */
#include "proxy/http.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static HttpParse http_bad(HttpRequest *out, int status, const char *reason);
static bool http_decode(const char *s, size_t n, bool plus, char *out, size_t cap);
static bool http_path_ok(const char *path);
static int hex_value(int c);

HttpParse http_parse(const char *buf, size_t len, size_t max, HttpRequest *out)
{
	memset(out, 0, sizeof(*out));
	/* the end of the head: an empty line (CRLF CRLF, or LF LF from hand-typed requests) */
	size_t end = 0;
	for (size_t i = 0; i < len && i < max; i++) {
		if (buf[i] != '\n')
			continue;
		if (i >= 1 && buf[i - 1] == '\n') {
			end = i + 1;
			break;
		}
		if (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n') {
			end = i + 1;
			break;
		}
	}
	if (!end) {
		/* the request line alone tells a target that is too long early */
		const char *sp = memchr(buf, ' ', len < 32 ? len : 32);
		if (sp) {
			const char *sp2 = memchr(sp + 1, ' ', len - (size_t)(sp + 1 - buf));
			const char *nl = memchr(sp + 1, '\n', len - (size_t)(sp + 1 - buf));
			size_t tlen = (size_t)((sp2 ? sp2 : nl ? nl : buf + len) - (sp + 1));
			if (tlen >= HTTP_PATH_MAX + HTTP_QUERY_MAX)
				return http_bad(out, 414, "the request target is too long");
		}
		if (len >= max)
			return http_bad(out, 431, "the request head is too large");
		return HTTP_INCOMPLETE;
	}

	/* request line */
	const char *p = buf, *e = buf + end;
	const char *nl = memchr(p, '\n', (size_t)(e - p));
	const char *le = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
	const char *sp1 = memchr(p, ' ', (size_t)(le - p));
	if (!sp1 || sp1 == p || (size_t)(sp1 - p) >= sizeof(out->method))
		return http_bad(out, 400, "malformed request line");
	for (const char *q = p; q < sp1; q++)
		if (!isupper((unsigned char)*q))
			return http_bad(out, 400, "malformed request line");
	memcpy(out->method, p, (size_t)(sp1 - p));
	const char *target = sp1 + 1;
	const char *sp2 = memchr(target, ' ', (size_t)(le - target));
	if (!sp2 || sp2 == target)
		return http_bad(out, 400, "malformed request line");
	size_t vlen = (size_t)(le - (sp2 + 1));
	if (vlen != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		if (vlen >= 5 && memcmp(sp2 + 1, "HTTP/", 5) == 0)
			return http_bad(out, 505, "only HTTP/1.0 and HTTP/1.1 are served");
		return http_bad(out, 400, "malformed request line");
	}
	if (sp2[8] != '0' && sp2[8] != '1')
		return http_bad(out, 505, "only HTTP/1.0 and HTTP/1.1 are served");
	if (target[0] != '/')
		return http_bad(out, 400, "the request target must be a path starting with /");
	const char *qm = memchr(target, '?', (size_t)(sp2 - target));
	const char *pend = qm ? qm : sp2;
	if ((size_t)(pend - target) >= HTTP_PATH_MAX ||
	    (qm && (size_t)(sp2 - qm - 1) >= HTTP_QUERY_MAX))
		return http_bad(out, 414, "the request target is too long");
	for (const char *q = target; q < sp2; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
			return http_bad(out, 400, "the request target has characters URLs may not");
	if (!http_decode(target, (size_t)(pend - target), false, out->path, sizeof(out->path)) ||
	    !http_path_ok(out->path))
		return http_bad(out, 400, "bad path: no '..', backslash or control characters");
	if (qm)
		memcpy(out->query, qm + 1, (size_t)(sp2 - qm - 1));

	/* header lines */
	int n_headers = 0;
	for (p = nl + 1; p < e;) {
		nl = memchr(p, '\n', (size_t)(e - p));
		le = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
		if (le == p)
			break; /* the empty line */
		if (++n_headers > HTTP_MAX_HEADERS)
			return http_bad(out, 431, "too many header lines");
		const char *colon = memchr(p, ':', (size_t)(le - p));
		if (!colon || colon == p || *p == ' ' || *p == '\t')
			return http_bad(out, 400, "malformed header line");
		for (const char *q = p; q < le; q++)
			if ((unsigned char)*q < 0x20 && *q != '\t')
				return http_bad(out, 400, "control character in a header");
		if ((size_t)(colon - p) == 13 && strncasecmp(p, "authorization", 13) == 0) {
			const char *v = colon + 1;
			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = le;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if ((size_t)(ve - v) >= sizeof(out->authorization))
				return http_bad(out, 431, "the Authorization header is too long");
			memcpy(out->authorization, v, (size_t)(ve - v));
			out->authorization[ve - v] = '\0';
		}
		p = nl + 1;
	}

	if (strcmp(out->method, "HEAD") == 0)
		out->head = true;
	else if (strcmp(out->method, "GET") != 0)
		return http_bad(out, 405,
				"only GET and HEAD are served: the dashboard is read-only");
	return HTTP_OK;
}

bool http_query_param(const char *query, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);
	for (const char *p = query; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t plen = amp ? (size_t)(amp - p) : strlen(p);
		if (plen > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=')
			return http_decode(p + nlen + 1, plen - nlen - 1, true, out, cap);
		if (plen == nlen && strncmp(p, name, nlen) == 0)
			return http_decode(p, 0, true, out, cap);
		p = amp ? amp + 1 : NULL;
	}
	return false;
}

bool http_basic_auth(const char *authorization, char *user, size_t ucap, char *password,
		     size_t pcap)
{
	if (strncasecmp(authorization, "Basic ", 6) != 0)
		return false;
	const char *s = authorization + 6;
	while (*s == ' ')
		s++;
	char dec[HTTP_AUTH_MAX];
	size_t n = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (; *s && *s != '='; s++) {
		int v = isupper((unsigned char)*s) ? *s - 'A' :
			islower((unsigned char)*s) ? *s - 'a' + 26 :
			isdigit((unsigned char)*s) ? *s - '0' + 52 :
			*s == '+'		   ? 62 :
			*s == '/'		   ? 63 :
						     -1;
		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n + 1 >= sizeof(dec))
				return false;
			dec[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	while (*s == '=')
		s++;
	if (*s)
		return false;
	dec[n] = '\0';
	if (memchr(dec, '\0', n))
		return false;
	const char *colon = strchr(dec, ':');
	if (!colon || (size_t)(colon - dec) >= ucap || strlen(colon + 1) >= pcap)
		return false;
	memcpy(user, dec, (size_t)(colon - dec));
	user[colon - dec] = '\0';
	strcpy(password, colon + 1);
	return true;
}

const char *http_status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}

static HttpParse http_bad(HttpRequest *out, int status, const char *reason)
{
	out->status = status;
	out->reason = reason;
	return HTTP_BAD;
}

static int hex_value(int c)
{
	return isdigit(c)	    ? c - '0' :
	       c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 :
				      -1;
}

/* Percent-decodes s[0, n) into out (and '+' as a space when plus); false when a %XX is
 * malformed, decodes to NUL, or the text does not fit. */
static bool http_decode(const char *s, size_t n, bool plus, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return false;
			int hi = hex_value((unsigned char)s[i + 1]);
			int lo = hex_value((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return false;
			c = (char)(hi * 16 + lo);
			i += 2;
		} else if (plus && c == '+') {
			c = ' ';
		}
		if (o + 1 >= cap)
			return false;
		out[o++] = c;
	}
	out[o] = '\0';
	return true;
}

/* No `..` segment, backslash or control character. */
static bool http_path_ok(const char *path)
{
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
			return false;
	for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2) {
		bool starts = p == path || p[-1] == '/';
		bool ends = p[2] == '\0' || p[2] == '/';
		if (starts && ends)
			return false;
	}
	return true;
}
