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

/* What one pass over a statement's words found (hot_scan). */
enum {
	HW_TEMP = 1,	      /* temp, temporary, pg_temp... */
	HW_INTO = 2,	      /* into */
	HW_HOLD = 4,	      /* hold */
	HW_CALL = 8,	      /* set_config, pg_*advisory* */
	HW_SESSION_WORD = 16, /* a word that starts a session-changing statement */
	HW_MORE = 32,	      /* a ';' with something after it: several statements */
};

/* Word characters: letters, digits, _, $, bytes >= 0x80 (as PostgreSQL's identifiers). */
static const unsigned char word_char[256] = {
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
	['_'] = 1,	   ['$'] = 1,	      [0x80 ... 0xff] = 1,
};

/* w[0, n) equals the lower-case word s, ignoring ASCII case. */
static bool word_is(const char *w, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++) {
		char c = w[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != s[i] || !s[i])
			return false;
	}
	return s[n] == 0;
}

/* One word's contribution to hot_scan's flags. Words are compared only when their length is one
 * of the words looked for, so most words cost a switch. */
static unsigned word_flags(const char *w, size_t n)
{
	unsigned f = 0;
	if (n >= 7 && (w[0] | 0x20) == 'p' && (w[1] | 0x20) == 'g' && w[2] == '_') {
		if (word_is(w, 7, "pg_temp"))
			return HW_TEMP;
		for (size_t i = 2; i + 9 <= n; i++)
			if (w[i] == '_' && word_is(w + i + 1, 8, "advisory"))
				return HW_CALL;
		return 0;
	}
	switch (n) {
	case 3:
		f = word_is(w, n, "set") ? HW_SESSION_WORD : 0;
		break;
	case 4:
		f = word_is(w, n, "temp") ? HW_TEMP :
		    word_is(w, n, "into") ? HW_INTO :
		    word_is(w, n, "hold") ? HW_HOLD :
		    word_is(w, n, "load") ? HW_SESSION_WORD :
					    0;
		break;
	case 5:
		f = word_is(w, n, "reset") || word_is(w, n, "close") ? HW_SESSION_WORD : 0;
		break;
	case 6:
		f = word_is(w, n, "listen") || word_is(w, n, "create") ? HW_SESSION_WORD : 0;
		break;
	case 7:
		f = word_is(w, n, "discard") || word_is(w, n, "prepare") ||
				    word_is(w, n, "declare") ?
			    HW_SESSION_WORD :
			    0;
		break;
	case 8:
		f = word_is(w, n, "unlisten") ? HW_SESSION_WORD : 0;
		break;
	case 9:
		f = word_is(w, n, "temporary") ? HW_TEMP : 0;
		break;
	case 10:
		f = word_is(w, n, "set_config") ? HW_CALL :
		    word_is(w, n, "deallocate") ? HW_SESSION_WORD :
						  0;
		break;
	default:
		break;
	}
	return f;
}

/*
 * One pass over t: the words that make a statement worth a full parse, and whether there is
 * more than one statement. Words inside strings and comments count too (a needless parse, never
 * a missed one); a quoted identifier is read as the word it quotes.
 */
static unsigned hot_scan(const char *t, size_t len)
{
	unsigned f = 0;
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)t[i];
		if (word_char[c]) {
			size_t j = i + 1;
			while (j < len && word_char[(unsigned char)t[j]])
				j++;
			f |= word_flags(t + i, j - i);
			i = j;
			continue;
		}
		if (c == ';' && !(f & HW_MORE) && lexer_skip_blank(t, len, i + 1) < len) {
			size_t k = i + 1;
			while (k < len && t[k] == ';')
				k = lexer_skip_blank(t, len, k + 1);
			if (k < len)
				f |= HW_MORE;
		}
		i++;
	}
	return f;
}

/* Whether t holds word (lower-case letters) as a whole word, ignoring ASCII case: its first
 * letter found with memchr, once per case, so a text without it costs two vector scans. */
static bool has_word(const char *t, size_t len, const char *word)
{
	size_t n = strlen(word);
	if (n > len)
		return false;
	const char *last = t + len - n;
	for (int up = 0; up < 2; up++) {
		char first = up ? (char)(word[0] - 'a' + 'A') : word[0];
		for (const char *p = t; p <= last; p++) {
			p = memchr(p, first, (size_t)(last - p) + 1);
			if (!p)
				break;
			if ((p == t || !word_char[(unsigned char)p[-1]]) &&
			    (p + n == t + len || !word_char[(unsigned char)p[n]]) &&
			    word_is(p, n, word))
				return true;
		}
	}
	return false;
}

/* A call that changes session state (set_config, pg_*advisory*): only words with an underscore
 * can be one, found with memchr. */
static bool has_session_call(const char *t, size_t len)
{
	const char *end = t + len;
	for (const char *p = t; p < end; p++) {
		p = memchr(p, '_', (size_t)(end - p));
		if (!p)
			return false;
		const char *a = p, *z = p;
		while (a > t && word_char[(unsigned char)a[-1]])
			a--;
		while (z < end && word_char[(unsigned char)*z])
			z++;
		if (word_flags(a, (size_t)(z - a)) & HW_CALL)
			return true;
		p = z;
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
	if ((w == 5 && memcmp(lower, "close", 5) == 0) || (w == 4 && memcmp(lower, "load", 4) == 0))
		return true;
	if (has_session_call(t, len))
		return true; /* set_config, pg_advisory_lock and kin change the session */
	if (w == 6 && memcmp(lower, "create", 6) == 0)
		return (hot_scan(t, len) & HW_TEMP) != 0; /* CREATE TEMP TABLE, pg_temp.x */
	if (w == 7 && memcmp(lower, "declare", 7) == 0)
		return (hot_scan(t, len) & HW_HOLD) != 0;
	bool select = (w == 6 && memcmp(lower, "select", 6) == 0) ||
		      (w == 4 && memcmp(lower, "with", 4) == 0);
	/* SELECT ... INTO TEMP: the whole scan only for the (rare) texts with INTO */
	if (select && has_word(t, len, "into") && (hot_scan(t, len) & HW_TEMP))
		return true;
	/* several statements: any of them may be one of the above */
	const char *semi = memchr(t, ';', len);
	if (!semi || lexer_skip_blank(t, len, (size_t)(semi - t) + 1) >= len)
		return false;
	unsigned f = hot_scan(t, len);
	return (f & HW_MORE) && (f & (HW_SESSION_WORD | HW_TEMP));
}
