/*
 * test_stats_json: a small strict JSON reader for the stats tests, enough to check that a slow
 * log line is one valid JSON object and to get its keys and values back exactly. Flat objects
 * only (string, number, true, false, null values), which is what the slow log writes; anything
 * else, a raw control character in a string, bad escapes or trailing bytes make it fail.
 */
#ifndef PGSIFT_TEST_STATS_JSON_H
#define PGSIFT_TEST_STATS_JSON_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define TJ_MAX_KEYS 32

typedef struct TjObject {
	size_t n;
	char *keys[TJ_MAX_KEYS];
	char *values[TJ_MAX_KEYS]; /* strings unescaped; numbers, true, false, null as written */
	bool is_string[TJ_MAX_KEYS];
} TjObject;

static inline void tj_free(TjObject *o)
{
	for (size_t i = 0; i < o->n; i++) {
		free(o->keys[i]);
		free(o->values[i]);
	}
	o->n = 0;
}

static inline void tj_ws(const char **p)
{
	while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
		(*p)++;
}

static inline void tj_put_utf8(char **o, unsigned cp)
{
	if (cp < 0x80) {
		*(*o)++ = (char)cp;
	} else if (cp < 0x800) {
		*(*o)++ = (char)(0xc0 | (cp >> 6));
		*(*o)++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*(*o)++ = (char)(0xe0 | (cp >> 12));
		*(*o)++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*(*o)++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*(*o)++ = (char)(0xf0 | (cp >> 18));
		*(*o)++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*(*o)++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*(*o)++ = (char)(0x80 | (cp & 0x3f));
	}
}

static inline char *tj_string(const char **p)
{
	if (**p != '"')
		return NULL;
	(*p)++;
	char *out = malloc(strlen(*p) * 4 + 1), *o = out;
	while (**p != '"') {
		unsigned char c = (unsigned char)**p;
		if (c == 0 || c < 0x20) {
			free(out);
			return NULL;
		}
		if (c != '\\') {
			*o++ = (char)c;
			(*p)++;
			continue;
		}
		(*p)++;
		char e = *(*p)++;
		switch (e) {
		case '"':
			*o++ = '"';
			break;
		case '\\':
			*o++ = '\\';
			break;
		case '/':
			*o++ = '/';
			break;
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u': {
			unsigned cp = 0;
			for (int i = 0; i < 4; i++) {
				char h = *(*p)++;
				cp <<= 4;
				if (h >= '0' && h <= '9')
					cp |= (unsigned)(h - '0');
				else if (h >= 'a' && h <= 'f')
					cp |= (unsigned)(h - 'a' + 10);
				else if (h >= 'A' && h <= 'F')
					cp |= (unsigned)(h - 'A' + 10);
				else {
					free(out);
					return NULL;
				}
			}
			tj_put_utf8(&o, cp);
			break;
		}
		default:
			free(out);
			return NULL;
		}
	}
	(*p)++;
	*o = '\0';
	return out;
}

/* Parses exactly one object followed by an optional newline. */
static inline bool tj_parse(const char *text, TjObject *obj)
{
	memset(obj, 0, sizeof(*obj));
	const char *p = text;
	tj_ws(&p);
	if (*p++ != '{')
		return false;
	tj_ws(&p);
	if (*p == '}') {
		p++;
		goto end;
	}
	for (;;) {
		tj_ws(&p);
		if (obj->n == TJ_MAX_KEYS)
			goto fail;
		char *key = tj_string(&p);
		if (!key)
			goto fail;
		obj->keys[obj->n] = key;
		tj_ws(&p);
		if (*p++ != ':') {
			free(key);
			goto fail;
		}
		tj_ws(&p);
		char *val = NULL;
		bool is_str = false;
		if (*p == '"') {
			val = tj_string(&p);
			is_str = true;
		} else if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0) {
			val = strndup(p, 4);
			p += 4;
		} else if (strncmp(p, "false", 5) == 0) {
			val = strndup(p, 5);
			p += 5;
		} else {
			/* number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
			const char *s = p;
			if (*p == '-')
				p++;
			if (*p == '0')
				p++;
			else if (*p >= '1' && *p <= '9')
				while (*p >= '0' && *p <= '9')
					p++;
			else
				p = s;
			if (p != s && *p == '.') {
				p++;
				const char *d = p;
				while (*p >= '0' && *p <= '9')
					p++;
				if (p == d)
					p = s;
			}
			if (p != s && (*p == 'e' || *p == 'E')) {
				p++;
				if (*p == '+' || *p == '-')
					p++;
				while (*p >= '0' && *p <= '9')
					p++;
			}
			if (p != s)
				val = strndup(s, (size_t)(p - s));
		}
		if (!val) {
			free(key);
			goto fail;
		}
		for (size_t i = 0; i < obj->n; i++)
			if (strcmp(obj->keys[i], key) == 0) { /* duplicate key */
				free(key);
				free(val);
				goto fail;
			}
		obj->values[obj->n] = val;
		obj->is_string[obj->n] = is_str;
		obj->n++;
		tj_ws(&p);
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == '}') {
			p++;
			break;
		}
		goto fail;
	}
end:
	if (*p == '\n')
		p++;
	if (*p)
		goto fail;
	return true;
fail:
	tj_free(obj);
	return false;
}

static inline const char *tj_get(const TjObject *o, const char *key)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], key) == 0)
			return o->values[i];
	return NULL;
}

#endif
