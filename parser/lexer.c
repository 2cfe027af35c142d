/*
 * lexer: the module's own SQL tokenizer (see lexer.h). It mirrors PostgreSQL 15's scan.l for the
 * token boundaries that matter to a key (operators trimmed of a trailing + or - as PostgreSQL
 * does, numbers with the PG15 "trailing junk" rule, strings, nested comments, dollar quotes), and
 * gives up (returns false) on anything it would have to guess: backslash escapes, Unicode
 * strings, adjacent string literals (which PostgreSQL may concatenate), NUL bytes, unknown
 * characters. The event loop's first-keyword checks built on it are in hot.c.
 */
#include "parser/lexer.h"

#include <stdlib.h>
#include <string.h>

/* Longest key token we encode; longer identifiers or operators make the text keyless. */
#define LEX_MAX_TOKLEN 0xffff
/* Token indices are stored as uint16_t in cache entries (after IN lists are collapsed). */
#define LEX_MAX_TOKENS 0xfff0
/* Tokens before IN lists are collapsed: bounds the work and memory on huge texts. */
#define LEX_MAX_RAW_TOKENS (1u << 20)

static bool is_ident_start(unsigned char c);
static bool is_ident_cont(unsigned char c);
static bool is_op_char(unsigned char c);
static bool is_space(unsigned char c);
static size_t skip_comment(const char *t, size_t len, size_t i, bool *bad);
static bool lex_one(const char *t, size_t len, size_t i, LexTokType *type, size_t *end);
static bool lex_string(const char *t, size_t len, size_t i, char kind, size_t *end);
static bool lex_number(const char *t, size_t len, size_t i, size_t *end);
static bool push_tok(Lexer *lx, LexTokType type, size_t pos, size_t end);
static bool build_key(Lexer *lx, const char *t);
static bool tok_is(const char *t, const LexTok *k, LexTokType type, const char *s);

void lexer_init(Lexer *lx)
{
	memset(lx, 0, sizeof(*lx));
}

void lexer_free(Lexer *lx)
{
	free(lx->toks);
	free(lx->key);
	memset(lx, 0, sizeof(*lx));
}

bool lexer_run(Lexer *lx, const char *t, size_t len)
{
	size_t i = 0;
	lx->n = 0;
	lx->key_len = 0;
	lx->dml = false;
	lx->single = true;
	if (len > UINT32_MAX / 2)
		return false;
	while (i < len) {
		unsigned char c = (unsigned char)t[i];
		if (is_space(c)) {
			i++;
			continue;
		}
		if (c == '-' || c == '/') {
			bool bad = false;
			size_t next = skip_comment(t, len, i, &bad);
			if (bad)
				return false;
			if (next != i) {
				i = next;
				continue;
			}
		}
		LexTokType type;
		size_t end;
		if (!lex_one(t, len, i, &type, &end))
			return false;
		if (type == LT_STR && lx->n > 0 && lx->toks[lx->n - 1].type == LT_STR)
			return false; /* 'a' <newline> 'b' is one literal to PostgreSQL */
		if (!push_tok(lx, type, i, end))
			return false;
		i = end;
	}
	return build_key(lx, t);
}

long lexer_token_at(const Lexer *lx, uint32_t pos)
{
	size_t lo = 0, hi = lx->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (lx->toks[mid].pos < pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < lx->n && lx->toks[lo].pos == pos)
		return (long)lo;
	return -1;
}

long lexer_token_ending(const Lexer *lx, uint32_t end)
{
	size_t lo = 0, hi = lx->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (lx->toks[mid].pos + lx->toks[mid].len < end)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < lx->n && lx->toks[lo].pos + lx->toks[lo].len == end)
		return (long)lo;
	return -1;
}

size_t lexer_skip_blank(const char *t, size_t len, size_t i)
{
	while (i < len) {
		bool bad = false;
		size_t next = skip_comment(t, len, i, &bad);
		if (bad)
			return len;
		if (next != i)
			i = next;
		else if (is_space((unsigned char)t[i]))
			i++;
		else
			break;
	}
	return i;
}

bool lexer_next(const char *t, size_t len, size_t *pos, size_t *start, size_t *end)
{
	LexTokType type;
	size_t i = lexer_skip_blank(t, len, *pos);
	if (i >= len || !lex_one(t, len, i, &type, end))
		return false;
	*start = i;
	*pos = *end;
	return true;
}

size_t lexer_literal_len(const char *t, size_t len, size_t pos)
{
	size_t i = pos, end;
	LexTokType type;
	if (pos >= len)
		return 0;
	if (t[i] == '-' || t[i] == '+') {
		i = lexer_skip_blank(t, len, i + 1);
		if (i < len && (t[i] == '-' || t[i] == '+'))
			return (lexer_literal_len(t, len, i) ?
					i - pos + lexer_literal_len(t, len, i) :
					0);
	}
	if (!lex_one(t, len, i, &type, &end))
		return 0;
	if (i != pos && type != LT_NUM)
		return 0;
	return end - pos;
}

/* Internal functions */

/* Character classes, one table lookup on the hot path. */
#define CC_IDSTART 0x01 /* A-Z a-z _ and bytes >= 0x80 */
#define CC_IDCONT 0x02	/* the above, digits and $ */
#define CC_OP 0x04	/* operator characters */
#define CC_SPACE 0x08	/* space \t \n \r \f */
#define CC_DIGIT 0x10

static const unsigned char cclass[256] = {
	['\t'] = CC_SPACE,
	['\n'] = CC_SPACE,
	['\r'] = CC_SPACE,
	['\f'] = CC_SPACE,
	[' '] = CC_SPACE,
	['~'] = CC_OP,
	['!'] = CC_OP,
	['@'] = CC_OP,
	['#'] = CC_OP,
	['^'] = CC_OP,
	['&'] = CC_OP,
	['|'] = CC_OP,
	['`'] = CC_OP,
	['?'] = CC_OP,
	['+'] = CC_OP,
	['-'] = CC_OP,
	['*'] = CC_OP,
	['/'] = CC_OP,
	['%'] = CC_OP,
	['<'] = CC_OP,
	['>'] = CC_OP,
	['='] = CC_OP,
	['$'] = CC_IDCONT,
	['0' ... '9'] = CC_IDCONT | CC_DIGIT,
	['A' ... 'Z'] = CC_IDSTART | CC_IDCONT,
	['a' ... 'z'] = CC_IDSTART | CC_IDCONT,
	['_'] = CC_IDSTART | CC_IDCONT,
	[0x80 ... 0xff] = CC_IDSTART | CC_IDCONT,
};

static inline bool is_ident_start(unsigned char c)
{
	return cclass[c] & CC_IDSTART;
}

static inline bool is_ident_cont(unsigned char c)
{
	return cclass[c] & CC_IDCONT;
}

static inline bool is_op_char(unsigned char c)
{
	return cclass[c] & CC_OP;
}

static inline bool is_space(unsigned char c)
{
	return cclass[c] & CC_SPACE;
}

/* Returns the position after the comment starting at i, or i when none starts there. */
static size_t skip_comment(const char *t, size_t len, size_t i, bool *bad)
{
	if (i + 1 < len && t[i] == '-' && t[i + 1] == '-') {
		while (i < len && t[i] != '\n' && t[i] != '\r')
			i++;
		return i;
	}
	if (i + 1 < len && t[i] == '/' && t[i + 1] == '*') {
		int depth = 1; /* PostgreSQL nests block comments */
		i += 2;
		while (i < len && depth > 0) {
			if (i + 1 < len && t[i] == '/' && t[i + 1] == '*') {
				depth++;
				i += 2;
			} else if (i + 1 < len && t[i] == '*' && t[i + 1] == '/') {
				depth--;
				i += 2;
			} else {
				i++;
			}
		}
		if (depth > 0)
			*bad = true;
		return i;
	}
	return i;
}

/*
 * Lexes the token at i (not a blank, not a comment): sets its type and end. False when the
 * token is one the lexer cannot vouch for. One function: one switch over the first character,
 * as PostgreSQL's scan.l has one rule set.
 */
static bool lex_one(const char *t, size_t len, size_t i, LexTokType *type, size_t *end)
{
	unsigned char c = (unsigned char)t[i];
	unsigned char c1 = i + 1 < len ? (unsigned char)t[i + 1] : 0;

	if (c == '\'') {
		*type = LT_STR;
		return lex_string(t, len, i, 'q', end);
	}
	if (c1 == '\'' && (c == 'n' || c == 'N')) {
		/* N'...': PostgreSQL's lexer returns the keyword NCHAR, then the string */
		*type = LT_WORD;
		*end = i + 1;
		return true;
	}
	if (c1 == '\'' && (c == 'e' || c == 'E' || c == 'b' || c == 'B' || c == 'x' || c == 'X')) {
		*type = LT_STR;
		return lex_string(t, len, i + 1, (char)(c | 0x20), end);
	}
	if ((c == 'u' || c == 'U') && c1 == '&')
		return false; /* U&'...' and U&"...": escapes we do not decode */
	if (is_ident_start(c)) {
		size_t j = i + 1;
		while (j < len && is_ident_cont((unsigned char)t[j]))
			j++;
		*type = LT_WORD;
		*end = j;
		return true;
	}
	if (c == '"') {
		size_t j = i + 1;
		for (;;) {
			if (j >= len || t[j] == 0)
				return false;
			if (t[j] == '"') {
				if (j + 1 < len && t[j + 1] == '"') {
					j += 2;
					continue;
				}
				break;
			}
			j++;
		}
		if (j == i + 1)
			return false; /* zero-length delimited identifier */
		*type = LT_QIDENT;
		*end = j + 1;
		return true;
	}
	if (c == '$') {
		size_t j = i + 1;
		if (c1 >= '0' && c1 <= '9') {
			while (j < len && t[j] >= '0' && t[j] <= '9')
				j++;
			if (j < len && is_ident_cont((unsigned char)t[j]))
				return false; /* PG15: trailing junk after parameter */
			*type = LT_PARAM;
			*end = j;
			return true;
		}
		/* dollar quote: $tag$ ... $tag$ */
		if (j < len && is_ident_start((unsigned char)t[j])) {
			while (j < len && is_ident_cont((unsigned char)t[j]) && t[j] != '$')
				j++;
		}
		if (j >= len || t[j] != '$')
			return false;
		size_t taglen = j + 1 - i;
		size_t k = j + 1;
		for (; k + taglen <= len; k++) {
			if (t[k] == 0)
				return false;
			if (t[k] == '$' && memcmp(t + k, t + i, taglen) == 0)
				break;
		}
		if (k + taglen > len)
			return false;
		*type = LT_STR;
		*end = k + taglen;
		return true;
	}
	if ((c >= '0' && c <= '9') || (c == '.' && c1 >= '0' && c1 <= '9')) {
		*type = LT_NUM;
		return lex_number(t, len, i, end);
	}
	if (is_op_char(c)) {
		size_t j = i;
		while (j < len && is_op_char((unsigned char)t[j]))
			j++;
		size_t n = j - i;
		/* An embedded comment start ends the operator. */
		for (size_t k = i; k + 1 < j; k++) {
			if ((t[k] == '/' && t[k + 1] == '*') || (t[k] == '-' && t[k + 1] == '-')) {
				n = k - i;
				break;
			}
		}
		/* scan.l: a multi-character operator cannot end in + or - unless it holds one of
		 * ~!@#^&|`?% (so that "a=-5" means "a = -5"). */
		if (n > 1 && (t[i + n - 1] == '+' || t[i + n - 1] == '-')) {
			long ic;
			for (ic = (long)n - 2; ic >= 0; ic--)
				if (strchr("~!@#^&|`?%", t[i + ic]) != NULL)
					break;
			if (ic < 0) {
				do {
					n--;
				} while (n > 1 && (t[i + n - 1] == '+' || t[i + n - 1] == '-'));
			}
		}
		if (n == 0)
			return false;
		*type = LT_OP;
		*end = i + n;
		return true;
	}
	if (c == ':' && (c1 == ':' || c1 == '=')) {
		*type = LT_PUNCT;
		*end = i + 2;
		return true;
	}
	if (c == '.' && c1 == '.') {
		*type = LT_PUNCT;
		*end = i + 2;
		return true;
	}
	if (c == '(' || c == ')' || c == '[' || c == ']' || c == ',' || c == ';' || c == ':' ||
	    c == '.') {
		*type = LT_PUNCT;
		*end = i + 1;
		return true;
	}
	return false;
}

/*
 * A string literal whose opening quote is at i. kind: 'q' plain, 'n' national, 'e' escape,
 * 'b' bit, 'x' hex. Escape strings with a backslash are refused: an invalid escape is a parse
 * error that the constant's value alone decides.
 */
static bool lex_string(const char *t, size_t len, size_t i, char kind, size_t *end)
{
	size_t j = i + 1;
	for (;;) {
		if (j >= len || t[j] == 0)
			return false;
		if (t[j] == '\'') {
			if (j + 1 < len && t[j + 1] == '\'') {
				if (kind == 'b' || kind == 'x')
					return false;
				j += 2;
				continue;
			}
			break;
		}
		if (t[j] == '\\' && kind == 'e')
			return false;
		if (kind == 'b' && t[j] != '0' && t[j] != '1')
			return false;
		if (kind == 'x' && !((t[j] >= '0' && t[j] <= '9') ||
				     ((t[j] | 0x20) >= 'a' && (t[j] | 0x20) <= 'f')))
			return false;
		j++;
	}
	*end = j + 1;
	return true;
}

/* PG15 numbers: integer, decimal, real; a letter right after one is a syntax error. */
static bool lex_number(const char *t, size_t len, size_t i, size_t *end)
{
	size_t j = i;
	while (j < len && t[j] >= '0' && t[j] <= '9')
		j++;
	if (j < len && t[j] == '.') {
		if (j + 1 < len && t[j + 1] == '.')
			return false; /* "1..": PostgreSQL's decimalfail rule */
		j++;
		while (j < len && t[j] >= '0' && t[j] <= '9')
			j++;
	}
	if (j < len && (t[j] == 'e' || t[j] == 'E')) {
		size_t k = j + 1;
		if (k < len && (t[k] == '+' || t[k] == '-'))
			k++;
		if (!(k < len && t[k] >= '0' && t[k] <= '9'))
			return false;
		while (k < len && t[k] >= '0' && t[k] <= '9')
			k++;
		j = k;
	}
	if (j < len && (is_ident_cont((unsigned char)t[j]) || t[j] == '.'))
		return false;
	*end = j;
	return true;
}

static bool push_tok(Lexer *lx, LexTokType type, size_t pos, size_t end)
{
	if (lx->n >= LEX_MAX_RAW_TOKENS || end - pos > LEX_MAX_TOKLEN)
		return false;
	if (lx->n == lx->cap) {
		size_t cap = lx->cap ? lx->cap * 2 : 64;
		LexTok *p = realloc(lx->toks, cap * sizeof(*p));
		if (p == NULL)
			return false;
		lx->toks = p;
		lx->cap = cap;
	}
	lx->toks[lx->n].pos = (uint32_t)pos;
	lx->toks[lx->n].len = (uint32_t)(end - pos);
	lx->toks[lx->n].type = (uint8_t)type;
	lx->n++;
	return true;
}

static bool tok_is(const char *t, const LexTok *k, LexTokType type, const char *s)
{
	size_t n = strlen(s);
	if (k->type != type || k->len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[k->pos + i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != s[i])
			return false;
	}
	return true;
}

/* Is the number a PostgreSQL Iconst (digits only, fits int32)? Some grammar rules take only
 * those, so "second(3)" parses where "second(3.5)" does not: the key keeps the class. */
static char num_class(const char *t, const LexTok *k)
{
	size_t i = k->pos, end = k->pos + k->len;
	uint64_t v = 0;
	if (t[i] == '-') {
		i++;
		while (i < end && !(t[i] >= '0' && t[i] <= '9') && t[i] != '.')
			i++; /* blanks or comments between the sign and the digits */
	}
	for (; i < end; i++) {
		if (t[i] < '0' || t[i] > '9')
			return 'f';
		v = v * 10 + (uint64_t)(t[i] - '0');
		if (v > 0x7fffffff)
			return 'f';
	}
	return 'i';
}

/*
 * Second pass: merges "- <number>" after an operator (PostgreSQL folds it into one negative
 * constant, so `x = -5` and `x = 5` are the same statement), collapses the constants of an
 * IN (...) list into one token (lists of any length fingerprint the same), then encodes each
 * token into the key: its type, and its text unless it is a constant. String constants keep a
 * class of their first characters, because a LIKE pattern's shape (prefix or not) depends on it.
 * One function: the merge and the IN-list collapse look back at the tokens just encoded.
 */
static bool build_key(Lexer *lx, const char *t)
{
	size_t r, w = 0, n = lx->n;
	LexTok *k = lx->toks;

	for (r = 0; r < n; r++) {
		LexTok cur = k[r];
		if (cur.type == LT_OP && cur.len == 1 && t[cur.pos] == '-' && w > 0 &&
		    k[w - 1].type == LT_OP && r + 1 < n && k[r + 1].type == LT_NUM) {
			/* unary minus binds looser than ::, [ ] and . : "- 5::int" is not a constant */
			bool tight = r + 2 < n && k[r + 2].type == LT_PUNCT &&
				     (t[k[r + 2].pos] == ':' || t[k[r + 2].pos] == '[' ||
				      t[k[r + 2].pos] == '.' || t[k[r + 2].pos] == '(');
			if (!tight) {
				cur.type = LT_NUM;
				cur.len = k[r + 1].pos + k[r + 1].len - cur.pos;
				r++;
			}
		} else if (cur.type == LT_WORD && cur.len == 2 && (t[cur.pos] | 0x20) == 'i' &&
			   (t[cur.pos + 1] | 0x20) == 'n' && r + 2 < n &&
			   tok_is(t, &k[r + 1], LT_PUNCT, "(")) {
			/* IN ( c [, c]... ) with only literal constants: one LIST token */
			size_t j = r + 2, first = j, last = 0;
			bool ok = false;
			for (;;) {
				if (j < n && tok_is(t, &k[j], LT_OP, "-") && j + 1 < n &&
				    k[j + 1].type == LT_NUM)
					j++;
				if (j >= n || (k[j].type != LT_NUM && k[j].type != LT_STR))
					break;
				last = j;
				j++;
				if (j < n && tok_is(t, &k[j], LT_PUNCT, ",")) {
					j++;
					continue;
				}
				ok = j < n && tok_is(t, &k[j], LT_PUNCT, ")");
				break;
			}
			if (ok) {
				k[w++] = cur;
				k[w++] = k[r + 1];
				k[w].type = LT_LIST;
				k[w].pos = k[first].pos;
				k[w].len = k[last].pos + k[last].len - k[first].pos;
				w++;
				k[w++] = k[j];
				r = j;
				continue;
			}
		}
		k[w++] = cur;
	}
	lx->n = w;
	if (w > LEX_MAX_TOKENS)
		return false;

	/* every token takes at most 4 bytes of header plus its text: reserve once */
	size_t need = 4 * (size_t)w + 16;
	for (r = 0; r < w; r++)
		need += k[r].len;
	if (need > lx->key_cap) {
		unsigned char *nk = realloc(lx->key, need);
		if (nk == NULL)
			return false;
		lx->key = nk;
		lx->key_cap = need;
	}
	unsigned char *out = lx->key;
	for (r = 0; r < w; r++) {
		const LexTok *tk = &k[r];
		const char *s = t + tk->pos;
		*out++ = tk->type;
		switch (tk->type) {
		case LT_NUM:
			*out++ = (unsigned char)num_class(t, tk);
			break;
		case LT_LIST:
			break;
		case LT_STR: {
			/* first content byte: skip the prefix letter and the opening quote or $tag$ */
			size_t off = 0;
			if (s[0] == '$') {
				off = 1;
				while (s[off] != '$')
					off++;
				off++;
			} else {
				off = s[0] == '\'' ? 1 : 2;
			}
			size_t clen = tk->len - off; /* content plus closing quote(s) */
			unsigned char c0 = (unsigned char)s[off];
			*out++ = (unsigned char)(s[0] == '\'' ? 'q' : (s[0] | 0x20));
			if (c0 >= 0x80 || (c0 >= '0' && c0 <= '9') ||
			    ((c0 | 0x20) >= 'a' && (c0 | 0x20) <= 'z')) {
				*out++ = 'A'; /* ordinary first character: a LIKE prefix */
			} else {
				*out++ = c0;
				*out++ = clen > 1 ? (unsigned char)s[off + 1] : 0;
			}
			break;
		}
		case LT_WORD:
			*out++ = (unsigned char)(tk->len & 0xff);
			*out++ = (unsigned char)(tk->len >> 8);
			for (size_t i = 0; i < tk->len; i++) {
				unsigned char c = (unsigned char)s[i];
				*out++ = (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
			}
			break;
		default:
			*out++ = (unsigned char)(tk->len & 0xff);
			*out++ = (unsigned char)(tk->len >> 8);
			memcpy(out, s, tk->len);
			out += tk->len;
			break;
		}
		if (tk->type == LT_PUNCT && s[0] == ';' && r + 1 < w)
			lx->single = false;
	}
	lx->key_len = (size_t)(out - lx->key);
	if (w > 0 && k[0].type == LT_WORD) {
		static const char *dml[] = {"select", "insert", "update", "delete",
					    "with",   "values", "table"};
		for (size_t i = 0; i < sizeof(dml) / sizeof(dml[0]); i++)
			if (tok_is(t, &k[0], LT_WORD, dml[i]))
				lx->dml = true;
	}
	return true;
}

bool lexer_is_ident_char(unsigned char c)
{
	return is_ident_cont(c);
}
