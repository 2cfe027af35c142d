/*
 * hot.c: the event loop's statement checks (parser.h): parser_hot_kind() reads the first keyword
 * of a statement, parser_hot_session_hint() says whether it may change session state and is
 * worth a full parse. Both run on every statement the proxy forwards, so they only scan the text
 * (lexer.c's blank and comment skipping): no allocation, no libpg_query.
 */
#include "parser/lexer.h"
#include "parser/parser.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* The first keyword of t, ASCII lower-cased into lower (cap bytes): its length, 0 when the text
 * starts with something else or the word is too long to be one we look for. *empty is set when
 * the text holds only blanks, comments and semicolons. */
static size_t hot_first_word(const char *t, size_t len, char *lower, size_t cap, bool *empty)
{
	size_t i, w;
	*empty = false;
	if (t == NULL) {
		*empty = true;
		return 0;
	}
	i = lexer_skip_blank(t, len, 0);
	if (i >= len || t[i] == ';') {
		while (i < len && t[i] == ';')
			i = lexer_skip_blank(t, len, i + 1);
		*empty = i >= len;
		return 0;
	}
	for (w = 0; i + w < len && w < cap; w++) {
		unsigned char c = (unsigned char)t[i + w];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		else if (!(c >= 'a' && c <= 'z'))
			break;
		lower[w] = (char)c;
	}
	if (w == cap || (i + w < len && lexer_is_ident_char((unsigned char)t[i + w])))
		return 0;
	return w;
}

/* The first keywords the hot path knows, and what they are. */
static const struct {
	const char *word;
	size_t len;
	StmtKind kind;
} hot_words[] = {
	{"set", 3, SK_SET},
	{"reset", 5, SK_RESET},
	{"prepare", 7, SK_PREPARE},
	{"execute", 7, SK_EXECUTE},
	{"deallocate", 10, SK_DEALLOCATE},
	{"discard", 7, SK_DISCARD},
	{"listen", 6, SK_LISTEN},
	{"unlisten", 8, SK_UNLISTEN},
	{"begin", 5, SK_TRANSACTION},
	{"start", 5, SK_TRANSACTION},
	{"commit", 6, SK_TRANSACTION},
	{"end", 3, SK_TRANSACTION},
	{"rollback", 8, SK_TRANSACTION},
	{"abort", 5, SK_TRANSACTION},
};

static StmtKind hot_kind_of(const char *lower, size_t w)
{
	for (size_t k = 0; k < sizeof(hot_words) / sizeof(hot_words[0]); k++)
		if (hot_words[k].len == w && memcmp(hot_words[k].word, lower, w) == 0)
			return hot_words[k].kind;
	return SK_UNPARSED;
}

StmtKind parser_hot_kind(const char *t, size_t len)
{
	char lower[12];
	bool empty;
	size_t w = hot_first_word(t, len, lower, sizeof(lower), &empty);
	return empty ? SK_EMPTY : hot_kind_of(lower, w);
}

/* Whether t[0, len) holds word, ignoring ASCII case (a plain substring search, bounded by len:
 * the text need not be NUL-terminated). */
static bool has_ci(const char *t, size_t len, const char *word)
{
	size_t n = strlen(word);
	unsigned char first = (unsigned char)word[0];
	for (size_t i = 0; i + n <= len; i++) {
		unsigned char c = (unsigned char)t[i];
		if ((c | 0x20) != first) /* word is lower-case letters, digits or '_' */
			continue;
		size_t k = 1;
		while (k < n) {
			char d = t[i + k];
			if (d >= 'A' && d <= 'Z')
				d = (char)(d - 'A' + 'a');
			if (d != word[k])
				break;
			k++;
		}
		if (k == n && (c == first || (c >= 'A' && c <= 'Z')))
			return true;
	}
	return false;
}

/* Whether an underscore in t is part of a call that changes session state: set_config or one
 * of the pg_*advisory_* functions. One memchr per underscore; most statements have none or a
 * few (table names), which is what keeps this cheap enough for every statement. */
static bool has_session_call(const char *t, size_t len)
{
	const char *p = t, *end = t + len;
	while ((p = memchr(p, '_', (size_t)(end - p))) != NULL) {
		size_t at = (size_t)(p - t);
		if (at >= 3 && at + 7 <= len && has_ci(t + at - 3, 10, "set_config"))
			return true;
		if (at + 9 <= len && has_ci(p + 1, 8, "advisory"))
			return true;
		p++;
	}
	return false;
}

bool parser_hot_session_hint(const char *t, size_t len)
{
	char lower[12];
	bool empty;
	size_t w = hot_first_word(t, len, lower, sizeof(lower), &empty);
	if (empty)
		return false;
	switch (hot_kind_of(lower, w)) {
	case SK_SET:
	case SK_RESET:
	case SK_DISCARD:
	case SK_DEALLOCATE:
	case SK_PREPARE:
	case SK_LISTEN:
	case SK_UNLISTEN:
		return true;
	default:
		break;
	}
	if (w == 6 && memcmp(lower, "create", 6) == 0 && has_ci(t, len, "temp"))
		return true; /* CREATE TEMP TABLE, CREATE TABLE pg_temp.x */
	if (w == 7 && memcmp(lower, "declare", 7) == 0 && has_ci(t, len, "hold"))
		return true;
	if ((w == 5 && memcmp(lower, "close", 5) == 0) || (w == 4 && memcmp(lower, "load", 4) == 0))
		return true;
	if (has_session_call(t, len))
		return true;
	/* SELECT ... INTO TEMP: "into" is looked for only in the (rare) texts with "temp" */
	bool select = (w == 6 && memcmp(lower, "select", 6) == 0) ||
		      (w == 4 && memcmp(lower, "with", 4) == 0);
	if (select && has_ci(t, len, "temp") && has_ci(t, len, "into"))
		return true;
	/* several statements: any of them may be one of the above */
	const char *semi = memchr(t, ';', len);
	if (!semi || (size_t)(semi - t) + 1 >= len)
		return false;
	static const char *const words[] = {"set",     "reset",	 "discard", "deallocate",
					    "prepare", "listen", "create",  "declare",
					    "close",   "load",	 NULL};
	for (int i = 0; words[i]; i++)
		if (has_ci(t, len, words[i]))
			return true;
	return false;
}
