/*
 * lexer: parser/'s own small SQL lexer, private to the module. It does three things libpg_query's
 * scanner would do too slowly for the cache: it cuts a text into tokens with their byte positions,
 * it builds the "constants-free key" (the tokens with every number and string literal replaced by
 * a placeholder) that lets statements differing only in constants share a cache entry, and it
 * finds the extent of the literal starting at a given position (so that the shape can give a
 * constant's length, not only its start).
 *
 * The lexer follows PostgreSQL 15's scan.l where it matters (operators, numbers, strings, dollar
 * quotes, nested comments). Whenever it meets something it is not certain to tokenize exactly as
 * PostgreSQL does, lexer_run() returns false and the text simply gets no constants-free key: a
 * cache miss is always safe, a wrong hit never is.
 */
#ifndef PGSIFT_PARSER_LEXER_H
#define PGSIFT_PARSER_LEXER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parser/parser.h"

typedef enum {
	LT_WORD,   /* keyword or unquoted identifier (ASCII lower-cased in the key) */
	LT_QIDENT, /* "quoted identifier" */
	LT_NUM,	   /* numeric literal, with a unary minus merged in after an operator */
	LT_STR,	   /* string literal of any kind (plain, E, N, B, X, dollar-quoted) */
	LT_LIST,   /* the constants of an IN (...) list, collapsed into one token */
	LT_PARAM,  /* $n */
	LT_OP,	   /* operator, as PostgreSQL's lexer cuts it */
	LT_PUNCT,  /* ( ) [ ] , ; : . :: := .. */
} LexTokType;

typedef struct LexTok {
	uint32_t pos; /* byte offset in the text */
	uint32_t len; /* bytes, up to the end of the literal (a merged "- 5" includes the blank) */
	uint8_t type; /* LexTokType */
} LexTok;

typedef struct Lexer {
	LexTok *toks; /* owned; grown as needed and reused between runs */
	size_t n, cap;
	unsigned char *key; /* owned; the constants-free key bytes of the last run */
	size_t key_len, key_cap;
	bool dml;    /* the first token is a word that starts a plain DML statement */
	bool single; /* the text holds one statement (no ';' but a trailing one) */
} Lexer;

void lexer_init(Lexer *lx);
void lexer_free(Lexer *lx);

/*
 * Tokenizes text and builds the constants-free key. Returns false (and leaves no usable key) when
 * the text has something the lexer cannot vouch for, or on allocation failure.
 */
bool lexer_run(Lexer *lx, const char *text, size_t len) __attribute__((warn_unused_result));

/* Index of the token starting exactly at pos, or -1. Needs a successful lexer_run(). */
long lexer_token_at(const Lexer *lx, uint32_t pos);
/* Index of the token ending exactly at end (pos + len), or -1. */
long lexer_token_ending(const Lexer *lx, uint32_t end);

/*
 * Length of the literal (number with an optional sign, string of any kind, $n, true/false/null,
 * or a word) starting at pos, skipping blanks between a sign and its number. 0 when nothing
 * recognizable starts there. Works without lexer_run(), on any text.
 */
size_t lexer_literal_len(const char *text, size_t len, size_t pos);

/*
 * The next token at or after *pos (blanks and comments skipped): sets *start and *end and moves
 * *pos to *end. False at the end of the text or on a token the lexer refuses.
 */
bool lexer_next(const char *text, size_t len, size_t *pos, size_t *start, size_t *end);

/* Position just after the comments and blanks starting at pos. */
size_t lexer_skip_blank(const char *text, size_t len, size_t pos);

/* Whether c may continue an identifier (letters, digits, _, $, bytes >= 0x80). */
bool lexer_is_ident_char(unsigned char c);

#endif
