/*
 * fuzz_parser: libFuzzer target over the parser's public entry points. Every input goes through
 * parser_hot_kind(), parser_session_commands() and parser_cache_lookup() (on a long-lived cache
 * with a small memory cap, so eviction runs too), and every shape is rendered against the text.
 *
 * It is also a differential check of the constants-free key: the input with its digits changed
 * is looked up in the long-lived cache (where it may hit the key) and in a fresh cache (always a
 * libpg_query parse); fingerprint, kind and shape must agree, or the target aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser/parser.h"
#include "parser/shape.h"

#define MAX_OUT 8

static ParserCache *cache;

static void render_all(const ParsedStatement *ps, size_t n, const char *text, size_t len)
{
	char buf[512];
	for (size_t i = 0; i < n && i < MAX_OUT; i++) {
		shape_render(ps[i].shape, text, len, buf, sizeof(buf));
		shape_render(ps[i].shape, NULL, 0, buf, sizeof(buf));
		if (ps[i].normalized == NULL || ps[i].stmt_offset + ps[i].stmt_len > len)
			abort();
	}
}

static char *render_dup(const ParsedStatement *ps, const char *text, size_t len)
{
	size_t need = shape_render(ps->shape, text, len, NULL, 0);
	char *s = malloc(need + 1);
	if (s == NULL)
		abort();
	shape_render(ps->shape, text, len, s, need + 1);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	ParsedStatement ps[MAX_OUT];
	SessionCommands sc;
	size_t n;

	if (cache == NULL)
		cache = parser_cache_new(256u << 10, 128);
	if (cache == NULL)
		abort();

	(void)parser_hot_kind(text, size);
	if (parser_session_commands(text, size, &sc))
		parser_session_commands_free(&sc);

	n = parser_cache_lookup(cache, text, size, ps, MAX_OUT);
	render_all(ps, n, text, size);
	n = parser_cache_lookup(cache, text, size, ps, MAX_OUT); /* exact hit */
	render_all(ps, n, text, size);

	/* the same text with other digits: may hit the constants-free key */
	char *v = malloc(size + 1);
	if (v == NULL)
		abort();
	memcpy(v, data, size);
	for (size_t i = 0; i < size; i++)
		if (v[i] >= '0' && v[i] <= '9')
			v[i] = (char)('0' + (v[i] - '0' + 7) % 10);
	ParsedStatement a[MAX_OUT], b[MAX_OUT];
	size_t na = parser_cache_lookup(cache, v, size, a, MAX_OUT);
	render_all(a, na, v, size);
	char *ra = na ? render_dup(&a[0], v, size) : NULL;
	uint64_t fa = na ? a[0].fingerprint : 0;
	StmtKind ka = na ? a[0].kind : SK_UNPARSED;

	ParserCache *fresh = parser_cache_new(1u << 20, 128);
	if (fresh == NULL)
		abort();
	size_t nb = parser_cache_lookup(fresh, v, size, b, MAX_OUT);
	if (na != nb)
		abort();
	if (nb) {
		char *rb = render_dup(&b[0], v, size);
		if (fa != b[0].fingerprint || ka != b[0].kind || strcmp(ra, rb) != 0) {
			fprintf(stderr,
				"constants-free key disagrees with libpg_query:\n%.*s\n%s\n%s\n",
				(int)size, v, ra, rb);
			abort();
		}
		free(rb);
	}
	free(ra);
	parser_cache_free(fresh);
	free(v);
	return 0;
}
