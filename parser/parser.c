/*
 * parser: the fingerprint cache (see parser.h). A text is answered, in order of cost, from
 *  0. the number-skeleton table, for texts whose numbers changed (a pgbench select with another
 *     key): XXH3-128 of the text with each free run of digits (digits not touching an identifier)
 *     replaced by one byte saying whether it is an Iconst -> entry. Equal skeletons tokenize
 *     alike, so the entry's constant and pinned spans are found in this text by shifting them by
 *     the runs' length differences: no lexing at all. Texts with a '"' or a '$' (quoted
 *     identifiers hold digits that name things; $n and dollar quotes) get no skeleton;
 *  1. the exact-text table: XXH3-128 of the bytes -> entry (no lexing, no libpg_query);
 *  2. the constants-free table: XXH3-128 of the lexer's key (tokens with literals left out) ->
 *     entry, for single DML statements; the entry's shape is copied with its constant positions
 *     re-derived from this text's tokens, after checking the literals the shape depends on
 *     (ORDER BY ordinals, constants inside expressions) are the same;
 *  3. libpg_query: parse (protobuf) for kind and shape, pg_query_fingerprint per statement,
 *     pg_query_normalize per statement. The result becomes a new entry.
 * Entries live in one malloc'ed block each, on an LRU list, evicted beyond the memory cap.
 *
 * Statements are split with the parse tree's RawStmt locations, which are what
 * pg_query_split_with_parser returns, without parsing the text a second time.
 */
#include "parser/parser.h"

#include <pg_query.h>
#include <stdlib.h>
#include <string.h>
/* header-only xxhash: libpg_query exports its own XXH3 symbols, which must not be the ones we
 * call, and inlining makes the exact-text lookup cheaper */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "parser/lexer.h"
#include "parser/shape.h"
#include "parser/shape_build.h"
#include "util/grow.h"
#include "util/hashtab.h"
#include "util/list.h"

#define NO_TOK 0xffffu

typedef struct StoredStmt {
	uint64_t fingerprint;
	uint32_t normalized; /* offset in the entry block */
	uint32_t normalized_len;
	uint32_t shape; /* offset in the entry block, 0 when none */
	uint32_t stmt_offset, stmt_len;
	uint8_t kind;
	uint8_t read_only;
} StoredStmt;

/* A literal the shape depends on: tokens [tok_start, tok_end] must read the same bytes. */
typedef struct PinRec {
	uint16_t tok_start, tok_end;
	uint32_t bytes; /* offset in the entry block */
	uint32_t len;
} PinRec;

typedef struct Entry {
	ListNode lru;	     /* in cache->lru, most recently used first */
	HashNode exact_link; /* in cache->exact, hash exact.low64 */
	HashNode const_link; /* in cache->by_const when in_const, hash ckey.low64 */
	HashNode skel_link;  /* in cache->by_skel when in_skel, hash skey.low64 */
	XXH128_hash_t exact;
	XXH128_hash_t ckey;
	XXH128_hash_t skey;
	size_t text_len;
	size_t bytes; /* accounted size */
	bool in_const;
	bool in_skel;
	uint32_t n_stmts;
	uint32_t n_tokens; /* const key: tokens of the text the entry was built from */
	uint32_t n_pins;
	uint32_t pins;	 /* offset of PinRec[n_pins] */
	uint32_t remap;	 /* offset of uint16_t[2 * n_cols] token spans of the shape's constants */
	uint32_t n_runs; /* skeleton: the free digit runs of the text the entry was built from */
	uint32_t skel_data; /* offset of uint32_t runs[2 * n_runs] (pos, len), then byte spans
			     * (start, end) of the pins [2 * n_pins] and of the constants
			     * [2 * n_cols] in that text */
	StoredStmt stmts[];
} Entry;

struct ParserCache {
	size_t mem_cap, text_max;
	HashTab exact;	     /* every entry, by the hash of its text (util/hashtab.h) */
	HashTab by_const;    /* DML entries, by the hash of the constants-free key */
	HashTab by_skel;     /* DML entries, by the hash of their text's number skeleton */
	unsigned char *skel; /* the skeleton of the text being looked up */
	size_t skel_len, skel_cap;
	uint32_t *runs; /* its free digit runs: pos, len pairs */
	size_t n_runs, runs_cap;
	uint32_t *spans; /* a hit's pin and constant spans in the text being looked up */
	size_t spans_cap;
	List lru;     /* the entries, most recently used first (util/list.h) */
	Entry *loose; /* an answer too big to keep: freed on the next call */
	ParserCacheStats st;
	Lexer lx;
	char *tmp; /* NUL-terminated copies for libpg_query */
	size_t tmp_cap;
	QueryShape *scratch; /* shape patched for a constants-free hit */
	size_t scratch_cap;
};

typedef struct Blob {
	unsigned char *p;
	size_t n, cap;
	bool fail;
} Blob;

static Entry *analyze(ParserCache *c, const char *text, size_t len, bool keyed, bool skeleton);
static void fill_out(const Entry *e, ParsedStatement *out, size_t max, const QueryShape *patched);
static void cache_insert(ParserCache *c, Entry *e, bool with_const);
static void cache_evict(ParserCache *c, const Entry *keep);
static void cache_remove(ParserCache *c, Entry *e);
static bool const_hit(ParserCache *c, Entry *e, const char *text, size_t len, ParsedStatement *out,
		      size_t max);
static bool skel_scan(ParserCache *c, const char *t, size_t len);
static bool skel_hit(ParserCache *c, Entry *e, const char *text, size_t len, ParsedStatement *out,
		     size_t max);
static bool skel_data(ParserCache *c, const QueryShape *shape, Blob *b, Entry *hdr);
static uint32_t blob_add(Blob *b, const void *p, size_t n, size_t align);
static void skel_unlink(ParserCache *c, Entry *e);

static const char *kind_names[SK__COUNT] = {
	[SK_UNPARSED] = "unparsed", [SK_SELECT] = "select",   [SK_INSERT] = "insert",
	[SK_UPDATE] = "update",	    [SK_DELETE] = "delete",   [SK_MERGE] = "merge",
	[SK_COPY] = "copy",	    [SK_DDL] = "ddl",	      [SK_TRANSACTION] = "transaction",
	[SK_SET] = "set",	    [SK_RESET] = "reset",     [SK_SHOW] = "show",
	[SK_PREPARE] = "prepare",   [SK_EXECUTE] = "execute", [SK_DEALLOCATE] = "deallocate",
	[SK_DISCARD] = "discard",   [SK_LISTEN] = "listen",   [SK_UNLISTEN] = "unlisten",
	[SK_NOTIFY] = "notify",	    [SK_UTILITY] = "utility", [SK_EMPTY] = "empty",
};

const char *stmt_kind_str(StmtKind kind)
{
	return (unsigned)kind < SK__COUNT ? kind_names[kind] : "?";
}

ParserCache *parser_cache_new(size_t mem_cap, size_t text_max)
{
	ParserCache *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->mem_cap = mem_cap;
	c->text_max = text_max;
	list_init(&c->lru);
	if (!hashtab_init(&c->exact, 256) || !hashtab_init(&c->by_const, 256) ||
	    !hashtab_init(&c->by_skel, 256)) {
		hashtab_destroy(&c->exact);
		hashtab_destroy(&c->by_const);
		hashtab_destroy(&c->by_skel);
		free(c);
		return NULL;
	}
	lexer_init(&c->lx);
	return c;
}

void parser_cache_free(ParserCache *c)
{
	if (c == NULL)
		return;
	ListNode *n, *tmp;
	list_for_each_safe(n, tmp, &c->lru) free(list_entry(n, Entry, lru));
	free(c->loose);
	hashtab_destroy(&c->exact);
	hashtab_destroy(&c->by_const);
	hashtab_destroy(&c->by_skel);
	free(c->skel);
	free(c->runs);
	free(c->spans);
	free(c->tmp);
	free(c->scratch);
	lexer_free(&c->lx);
	free(c);
}

void parser_cache_stats(const ParserCache *c, ParserCacheStats *out)
{
	*out = c->st;
}

bool parser_fingerprint(const char *text, size_t len, uint64_t *out)
{
	char *z = malloc(len + 1);
	bool ok = false;
	if (z == NULL)
		return false;
	memcpy(z, text, len);
	z[len] = 0;
	PgQueryFingerprintResult r = pg_query_fingerprint(z);
	if (r.error == NULL) {
		*out = r.fingerprint;
		ok = true;
	}
	pg_query_free_fingerprint_result(r);
	free(z);
	return ok;
}

size_t parser_cache_lookup(ParserCache *c, const char *text, size_t len, ParsedStatement *out,
			   size_t max)
{
	XXH128_hash_t h;
	Entry *e;
	bool keyed = false;

	free(c->loose);
	c->loose = NULL;
	if (text == NULL)
		len = 0, text = "";
	bool skeleton = skel_scan(c, text, len) && c->n_runs > 0;
	XXH128_hash_t sk = {0, 0};
	if (skeleton) {
		sk = XXH3_128bits(c->skel, c->skel_len);
		for (HashNode *n = hashtab_chain(&c->by_skel, sk.low64); n; n = n->next) {
			e = list_entry(n, Entry, skel_link);
			if (XXH128_isEqual(e->skey, sk)) {
				if (skel_hit(c, e, text, len, out, max)) {
					list_move_first(&c->lru, &e->lru);
					c->st.const_hits++;
					return e->n_stmts;
				}
				break;
			}
		}
	}
	h = XXH3_128bits(text, len);
	for (HashNode *n = hashtab_chain(&c->exact, h.low64); n; n = n->next) {
		e = list_entry(n, Entry, exact_link);
		if (e->text_len == len && XXH128_isEqual(e->exact, h)) {
			list_move_first(&c->lru, &e->lru);
			c->st.exact_hits++;
			fill_out(e, out, max, NULL);
			return e->n_stmts;
		}
	}

	if (memchr(text, 0, len) == NULL && lexer_run(&c->lx, text, len) && c->lx.dml &&
	    c->lx.single) {
		XXH128_hash_t k = XXH3_128bits(c->lx.key, c->lx.key_len);
		keyed = true;
		for (HashNode *n = hashtab_chain(&c->by_const, k.low64); n; n = n->next) {
			e = list_entry(n, Entry, const_link);
			if (XXH128_isEqual(e->ckey, k)) {
				if (const_hit(c, e, text, len, out, max)) {
					list_move_first(&c->lru, &e->lru);
					c->st.const_hits++;
					return e->n_stmts;
				}
				break;
			}
		}
	}

	c->st.misses++;
	e = analyze(c, text, len, keyed, skeleton);
	if (e == NULL) {
		/* out of memory: answer without a cache entry */
		if (max > 0) {
			memset(&out[0], 0, sizeof(out[0]));
			out[0].kind = SK_UNPARSED;
			out[0].fingerprint = XXH3_64bits(text, len);
			out[0].normalized = "";
			out[0].stmt_len = len;
		}
		return 1;
	}
	e->exact = h;
	e->text_len = len;
	if (keyed && e->n_tokens)
		e->ckey = XXH3_128bits(c->lx.key, c->lx.key_len);
	if (e->n_runs)
		e->skey = sk;
	if (e->bytes > c->mem_cap) {
		c->loose = (void *)e;
	} else {
		cache_insert(c, e, keyed && e->n_tokens);
		cache_evict(c, e);
	}
	fill_out(e, out, max, NULL);
	return e->n_stmts;
}

/* Internal functions */

static void fill_out(const Entry *e, ParsedStatement *out, size_t max, const QueryShape *patched)
{
	for (size_t i = 0; i < e->n_stmts && i < max; i++) {
		const StoredStmt *s = &e->stmts[i];
		out[i].fingerprint = s->fingerprint;
		out[i].kind = (StmtKind)s->kind;
		out[i].read_only = s->read_only;
		out[i].normalized = (const char *)e + s->normalized;
		out[i].normalized_len = s->normalized_len;
		out[i].shape =
			s->shape ? (const QueryShape *)(const void *)((const char *)e + s->shape) :
				   NULL;
		if (patched)
			out[i].shape = patched;
		out[i].stmt_offset = s->stmt_offset;
		out[i].stmt_len = s->stmt_len;
	}
}

#define NO_SPAN UINT32_MAX

/*
 * The entry's statement for this text, given where its pinned literals and its shape's constants
 * are in this text (start, end pairs; NO_SPAN for a column without a constant): false when a
 * pinned literal reads differently, else the shape copied into c->scratch with this text's
 * constant positions. What a constants-free hit (tokens) and a skeleton hit (shifted spans) share.
 */
static bool hit_with_spans(ParserCache *c, const Entry *e, const char *text, size_t len,
			   const uint32_t *pin_spans, const uint32_t *col_spans,
			   ParsedStatement *out, size_t max)
{
	const PinRec *pins = (const PinRec *)(const void *)((const char *)e + e->pins);
	for (uint32_t i = 0; i < e->n_pins; i++) {
		size_t n = pin_spans[2 * i + 1] - pin_spans[2 * i];
		if (pin_spans[2 * i + 1] > len || n != pins[i].len ||
		    memcmp(text + pin_spans[2 * i], (const char *)e + pins[i].bytes, n) != 0)
			return false;
	}
	if (e->stmts[0].shape == 0) {
		fill_out(e, out, max, NULL);
	} else {
		const QueryShape *shape =
			(const QueryShape *)(const void *)((const char *)e + e->stmts[0].shape);
		if (c->scratch_cap < shape->size) {
			QueryShape *s = malloc(shape->size);
			if (s == NULL)
				return false;
			free(c->scratch);
			c->scratch = s;
			c->scratch_cap = shape->size;
		}
		memcpy(c->scratch, shape, shape->size);
		ShapeCol *cols = (ShapeCol *)(void *)shape_cols(c->scratch);
		for (uint16_t i = 0; i < c->scratch->n_cols; i++) {
			if (col_spans[2 * i] == NO_SPAN)
				continue;
			cols[i].const_pos = col_spans[2 * i];
			cols[i].const_len = col_spans[2 * i + 1] - col_spans[2 * i];
		}
		fill_out(e, out, max, c->scratch);
	}
	if (max > 0) {
		out[0].stmt_offset = 0;
		out[0].stmt_len = len;
	}
	return true;
}

/* Room for n span pairs in c->spans (never NULL for n = 0: a statement without pins or
 * constants is a hit like any other). */
static uint32_t *spans_room(ParserCache *c, size_t n)
{
	return grow_array(&c->spans, &c->spans_cap, 2 * n + 2, sizeof(uint32_t)) ? c->spans : NULL;
}

static size_t entry_cols(const Entry *e)
{
	return e->stmts[0].shape ?
		       ((const QueryShape *)(const void *)((const char *)e + e->stmts[0].shape))
			       ->n_cols :
		       0;
}

/*
 * A constants-free key matched: the pinned literals and the constants are where this text's
 * tokens (the lexer still holds them) put them.
 */
static bool const_hit(ParserCache *c, Entry *e, const char *text, size_t len, ParsedStatement *out,
		      size_t max)
{
	const Lexer *lx = &c->lx;
	if (e->n_tokens != lx->n || e->n_stmts != 1)
		return false;
	size_t ncols = entry_cols(e);
	uint32_t *sp = spans_room(c, e->n_pins + ncols);
	if (!sp)
		return false;
	const PinRec *pins = (const PinRec *)(const void *)((const char *)e + e->pins);
	for (uint32_t i = 0; i < e->n_pins; i++) {
		const LexTok *a = &lx->toks[pins[i].tok_start], *z = &lx->toks[pins[i].tok_end];
		sp[2 * i] = a->pos;
		sp[2 * i + 1] = z->pos + z->len;
	}
	uint32_t *cs = sp + 2 * e->n_pins;
	const uint16_t *remap = (const uint16_t *)(const void *)((const char *)e + e->remap);
	for (size_t i = 0; i < ncols; i++) {
		cs[2 * i] = NO_SPAN;
		if (remap[2 * i] == NO_TOK)
			continue;
		const LexTok *a = &lx->toks[remap[2 * i]], *z = &lx->toks[remap[2 * i + 1]];
		cs[2 * i] = a->pos;
		cs[2 * i + 1] = z->pos + z->len;
	}
	return hit_with_spans(c, e, text, len, sp, cs, out, max);
}

/* Character classes of the skeleton scan; digits and identifier characters are both nonzero
 * (a run must not touch either). */
enum { SKC_OTHER = 0, SKC_IDENT = 1, SKC_DIGIT = 2, SKC_REFUSE = 3 };

static const unsigned char skel_class[256] = {
	[0] = SKC_REFUSE,	   [1] = SKC_REFUSE,
	[2] = SKC_REFUSE,	   ['"'] = SKC_REFUSE,
	['$'] = SKC_REFUSE,	   ['_'] = SKC_IDENT,
	['0' ... '9'] = SKC_DIGIT, ['A' ... 'Z'] = SKC_IDENT,
	['a' ... 'z'] = SKC_IDENT, [0x80 ... 0xff] = SKC_IDENT,
};

#define SKEL_MAX_TEXT 65536
#define SKEL_MAX_RUNS 4096

/* A free run of digits at t[i..j) becomes one byte in the skeleton: 1 for an Iconst, 2 for a
 * larger number (the constants-free key tells them apart too). False when out of memory. */
static bool skel_add_run(ParserCache *c, const char *t, size_t i, size_t j, unsigned char *out)
{
	uint64_t v = 0;
	for (size_t k = i; k < j && v <= 0x7fffffff; k++)
		v = v * 10 + (uint64_t)(t[k] - '0');
	if (!grow_array(&c->runs, &c->runs_cap, 2 * c->n_runs + 2, sizeof(uint32_t)))
		return false;
	c->runs[2 * c->n_runs] = (uint32_t)i;
	c->runs[2 * c->n_runs + 1] = (uint32_t)(j - i);
	c->n_runs++;
	*out = v > 0x7fffffff ? 2 : 1;
	return true;
}

/*
 * The number skeleton of t (see the file comment) into c->skel, its free digit runs into c->runs.
 * A free run is a run of digits with no identifier character (letter, _, byte >= 0x80) on either
 * side. False when the text has no safe skeleton. One pass that only classifies bytes; the bytes
 * between runs are copied in one piece each.
 */
static bool skel_scan(ParserCache *c, const char *t, size_t len)
{
	c->n_runs = 0;
	c->skel_len = 0;
	if (len > SKEL_MAX_TEXT || !grow_array(&c->skel, &c->skel_cap, len + 1, 1))
		return false;
	const unsigned char *u = (const unsigned char *)t;
	unsigned char *out = c->skel;
	size_t copied = 0; /* t[copied..i) is still to be copied */
	for (size_t i = 0; i < len;) {
		/* most bytes are neither digits nor refused: skip them with one test each */
		unsigned cls = skel_class[u[i]];
		if (cls < SKC_DIGIT) {
			i++;
			continue;
		}
		if (cls == SKC_REFUSE)
			return false;
		size_t j = i + 1;
		while (j < len && skel_class[u[j]] == SKC_DIGIT)
			j++;
		bool free_run = (i == 0 || skel_class[u[i - 1]] == SKC_OTHER) &&
				(j == len || skel_class[u[j]] == SKC_OTHER) &&
				c->n_runs < SKEL_MAX_RUNS;
		if (!free_run) { /* t1, 1e5, 2abc: the digits stay as they are */
			i = j;
			continue;
		}
		memcpy(out, t + copied, i - copied);
		out += i - copied;
		if (!skel_add_run(c, t, i, j, out++))
			return false;
		copied = i = j;
	}
	memcpy(out, t + copied, len - copied);
	out += len - copied;
	c->skel_len = (size_t)(out - c->skel);
	return true;
}

/* off, a byte position in the entry's text, in this text: shifted by the length differences of
 * the runs that end at or before it. */
static uint32_t skel_shift(const uint32_t *old_runs, const uint32_t *new_runs, uint32_t n,
			   uint32_t off)
{
	int64_t d = 0;
	for (uint32_t i = 0; i < n && old_runs[2 * i] + old_runs[2 * i + 1] <= off; i++)
		d += (int64_t)new_runs[2 * i + 1] - (int64_t)old_runs[2 * i + 1];
	return (uint32_t)((int64_t)off + d);
}

/* A skeleton matched: the entry's spans, shifted into this text. */
static bool skel_hit(ParserCache *c, Entry *e, const char *text, size_t len, ParsedStatement *out,
		     size_t max)
{
	if (e->n_runs != c->n_runs || e->n_stmts != 1)
		return false;
	size_t ncols = entry_cols(e), nspans = e->n_pins + ncols;
	uint32_t *sp = spans_room(c, nspans);
	if (!sp)
		return false;
	const uint32_t *old_runs = (const uint32_t *)(const void *)((const char *)e + e->skel_data);
	const uint32_t *old_spans = old_runs + 2 * e->n_runs;
	for (size_t i = 0; i < 2 * nspans; i++)
		sp[i] = old_spans[i] == NO_SPAN ?
				NO_SPAN :
				skel_shift(old_runs, c->runs, e->n_runs, old_spans[i]);
	return hit_with_spans(c, e, text, len, sp, sp + 2 * e->n_pins, out, max);
}

/* The skeleton data of a new entry (its text is the one just scanned and lexed): the runs, then
 * the byte spans of the pins and of the constants, from the token spans const_data found. */
static bool skel_data(ParserCache *c, const QueryShape *shape, Blob *b, Entry *hdr)
{
	const Lexer *lx = &c->lx;
	size_t ncols = shape ? shape->n_cols : 0;
	size_t n = 2 * c->n_runs + 2 * (hdr->n_pins + ncols);
	uint32_t *d = malloc(n * sizeof(uint32_t));
	if (!d)
		return false;
	memcpy(d, c->runs, 2 * c->n_runs * sizeof(uint32_t));
	uint32_t *sp = d + 2 * c->n_runs;
	const PinRec *pins = (const PinRec *)(const void *)(b->p + hdr->pins);
	for (uint32_t i = 0; i < hdr->n_pins; i++) {
		const LexTok *a = &lx->toks[pins[i].tok_start], *z = &lx->toks[pins[i].tok_end];
		sp[2 * i] = a->pos;
		sp[2 * i + 1] = z->pos + z->len;
	}
	uint32_t *cs = sp + 2 * hdr->n_pins;
	const uint16_t *remap = ncols ? (const uint16_t *)(const void *)(b->p + hdr->remap) : NULL;
	for (size_t i = 0; i < ncols; i++) {
		cs[2 * i] = cs[2 * i + 1] = NO_SPAN;
		if (remap[2 * i] == NO_TOK)
			continue;
		const LexTok *a = &lx->toks[remap[2 * i]], *z = &lx->toks[remap[2 * i + 1]];
		cs[2 * i] = a->pos;
		cs[2 * i + 1] = z->pos + z->len;
	}
	hdr->skel_data = blob_add(b, d, n * sizeof(uint32_t), 4);
	hdr->n_runs = (uint32_t)c->n_runs;
	free(d);
	return !b->fail;
}

static void skel_unlink(ParserCache *c, Entry *e)
{
	hashtab_remove(&c->by_skel, &e->skel_link);
	e->in_skel = false;
}

static void const_unlink(ParserCache *c, Entry *e)
{
	hashtab_remove(&c->by_const, &e->const_link);
	e->in_const = false;
}

static void cache_insert(ParserCache *c, Entry *e, bool with_const)
{
	hashtab_add(&c->exact, &e->exact_link, e->exact.low64);
	if (with_const) {
		/* a newer entry for the same key replaces the old one (whose pins did not match) */
		for (HashNode *n = hashtab_chain(&c->by_const, e->ckey.low64); n; n = n->next) {
			Entry *o = list_entry(n, Entry, const_link);
			if (XXH128_isEqual(o->ckey, e->ckey)) {
				const_unlink(c, o);
				break;
			}
		}
		hashtab_add(&c->by_const, &e->const_link, e->ckey.low64);
		e->in_const = true;
	}
	if (e->n_runs) {
		/* as above: the newest entry of a skeleton wins */
		for (HashNode *n = hashtab_chain(&c->by_skel, e->skey.low64); n; n = n->next) {
			Entry *o = list_entry(n, Entry, skel_link);
			if (XXH128_isEqual(o->skey, e->skey)) {
				skel_unlink(c, o);
				break;
			}
		}
		hashtab_add(&c->by_skel, &e->skel_link, e->skey.low64);
		e->in_skel = true;
	}
	list_prepend(&c->lru, &e->lru);
	c->st.entries++;
	c->st.bytes += e->bytes;
}

static void cache_remove(ParserCache *c, Entry *e)
{
	hashtab_remove(&c->exact, &e->exact_link);
	if (e->in_const)
		const_unlink(c, e);
	if (e->in_skel)
		skel_unlink(c, e);
	list_remove(&c->lru, &e->lru);
	c->st.entries--;
	c->st.bytes -= e->bytes;
	free(e);
}

static void cache_evict(ParserCache *c, const Entry *keep)
{
	for (ListNode *last; c->st.bytes > c->mem_cap && (last = list_last(&c->lru)) != NULL;) {
		Entry *victim = list_entry(last, Entry, lru);
		if (victim == keep)
			break;
		cache_remove(c, victim);
		c->st.evictions++;
	}
}

/* Internal: building an entry */

static uint32_t blob_add(Blob *b, const void *p, size_t n, size_t align)
{
	size_t off = (b->n + align - 1) & ~(align - 1);
	if (b->fail || off + n > UINT32_MAX) {
		b->fail = true;
		return 0;
	}
	if (off + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 512;
		while (cap < off + n)
			cap *= 2;
		unsigned char *q = realloc(b->p, cap);
		if (q == NULL) {
			b->fail = true;
			return 0;
		}
		b->p = q;
		b->cap = cap;
	}
	memset(b->p + b->n, 0, off - b->n);
	if (p)
		memcpy(b->p + off, p, n);
	else
		memset(b->p + off, 0, n);
	b->n = off + n;
	return (uint32_t)off;
}

static bool ensure_tmp(ParserCache *c, size_t n)
{
	if (c->tmp_cap >= n)
		return true;
	char *t = realloc(c->tmp, n);
	if (t == NULL)
		return false;
	c->tmp = t;
	c->tmp_cap = n;
	return true;
}

/* Cut at text_max without splitting a UTF-8 sequence. */
static size_t cut_len(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

static bool has_defelem_true(PgQuery__Node **opts, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		const PgQuery__Node *o = opts[i];
		if (o && o->node_case == PG_QUERY__NODE__NODE_DEF_ELEM && o->def_elem->defname &&
		    strcmp(o->def_elem->defname, name) == 0) {
			const PgQuery__Node *a = o->def_elem->arg;
			if (a && a->node_case == PG_QUERY__NODE__NODE_A_CONST &&
			    a->a_const->val_case == PG_QUERY__A__CONST__VAL_BOOLVAL &&
			    a->a_const->boolval && !a->a_const->boolval->boolval)
				return false;
			if (a && a->node_case == PG_QUERY__NODE__NODE_STRING && a->string->sval &&
			    (strcmp(a->string->sval, "false") == 0 ||
			     strcmp(a->string->sval, "off") == 0))
				return false;
			return true;
		}
	}
	return false;
}

static bool with_writes(const PgQuery__WithClause *w)
{
	if (w == NULL)
		return false;
	for (size_t i = 0; i < w->n_ctes; i++) {
		const PgQuery__Node *n = w->ctes[i];
		if (n && n->node_case == PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR &&
		    n->common_table_expr->ctequery) {
			PgQuery__Node__NodeCase k = n->common_table_expr->ctequery->node_case;
			if (k != PG_QUERY__NODE__NODE_SELECT_STMT)
				return true;
		}
	}
	return false;
}

/* Kind of a statement node, and whether it only reads. */
static StmtKind classify(const PgQuery__Node *n, bool *read_only)
{
	static const char *ddl[] = {"rename_stmt",
				    "comment_stmt",
				    "index_stmt",
				    "view_stmt",
				    "define_stmt",
				    "truncate_stmt",
				    "rule_stmt",
				    "composite_type_stmt",
				    "reassign_owned_stmt",
				    "sec_label_stmt",
				    "import_foreign_schema_stmt"};
	*read_only = false;
	if (n == NULL)
		return SK_EMPTY;
	switch (n->node_case) {
	case PG_QUERY__NODE__NODE_SELECT_STMT: {
		const PgQuery__SelectStmt *s = n->select_stmt;
		*read_only = s->into_clause == NULL && s->n_locking_clause == 0 &&
			     !with_writes(s->with_clause);
		return SK_SELECT;
	}
	case PG_QUERY__NODE__NODE_INSERT_STMT:
		return SK_INSERT;
	case PG_QUERY__NODE__NODE_UPDATE_STMT:
		return SK_UPDATE;
	case PG_QUERY__NODE__NODE_DELETE_STMT:
		return SK_DELETE;
	case PG_QUERY__NODE__NODE_MERGE_STMT:
		return SK_MERGE;
	case PG_QUERY__NODE__NODE_COPY_STMT:
		return SK_COPY;
	case PG_QUERY__NODE__NODE_TRANSACTION_STMT:
		return SK_TRANSACTION;
	case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT: {
		PgQuery__VariableSetKind k = n->variable_set_stmt->kind;
		return (k == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET ||
			k == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL) ?
			       SK_RESET :
			       SK_SET;
	}
	case PG_QUERY__NODE__NODE_VARIABLE_SHOW_STMT:
		*read_only = true;
		return SK_SHOW;
	case PG_QUERY__NODE__NODE_PREPARE_STMT:
		return SK_PREPARE;
	case PG_QUERY__NODE__NODE_EXECUTE_STMT:
		return SK_EXECUTE;
	case PG_QUERY__NODE__NODE_DEALLOCATE_STMT:
		return SK_DEALLOCATE;
	case PG_QUERY__NODE__NODE_DISCARD_STMT:
		return SK_DISCARD;
	case PG_QUERY__NODE__NODE_LISTEN_STMT:
		return SK_LISTEN;
	case PG_QUERY__NODE__NODE_UNLISTEN_STMT:
		return SK_UNLISTEN;
	case PG_QUERY__NODE__NODE_NOTIFY_STMT:
		return SK_NOTIFY;
	case PG_QUERY__NODE__NODE_EXPLAIN_STMT:
		*read_only = !has_defelem_true(n->explain_stmt->options, n->explain_stmt->n_options,
					       "analyze");
		return SK_UTILITY;
	default:
		break;
	}
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
		&pg_query__node__descriptor, (unsigned)n->node_case);
	if (f && f->name) {
		if (!strncmp(f->name, "create", 6) || !strncmp(f->name, "alter", 5) ||
		    !strncmp(f->name, "drop", 4) || !strncmp(f->name, "grant", 5))
			return SK_DDL;
		for (size_t i = 0; i < sizeof(ddl) / sizeof(ddl[0]); i++)
			if (strcmp(f->name, ddl[i]) == 0)
				return SK_DDL;
	}
	return SK_UTILITY;
}

typedef struct Pending {
	StoredStmt st;
	char *norm; /* owned */
	size_t norm_len;
	QueryShape *shape; /* owned */
} Pending;

/* Fingerprint and normalized text of text[off, off+n). */
static void fp_and_norm(ParserCache *c, const char *text, size_t off, size_t n, Pending *p)
{
	PgQueryFingerprintResult fr;
	PgQueryNormalizeResult nr;
	if (!ensure_tmp(c, n + 1)) {
		p->st.fingerprint = XXH3_64bits(text + off, n);
		return;
	}
	memcpy(c->tmp, text + off, n);
	c->tmp[n] = 0;
	fr = pg_query_fingerprint(c->tmp);
	p->st.fingerprint = fr.error ? XXH3_64bits(text + off, n) : fr.fingerprint;
	pg_query_free_fingerprint_result(fr);
	nr = pg_query_normalize(c->tmp);
	if (nr.error == NULL && nr.normalized_query) {
		size_t l = strlen(nr.normalized_query);
		p->norm_len = cut_len(nr.normalized_query, l, c->text_max);
		p->norm = malloc(p->norm_len + 1);
		if (p->norm) {
			memcpy(p->norm, nr.normalized_query, p->norm_len);
			p->norm[p->norm_len] = 0;
		}
	}
	pg_query_free_normalize_result(nr);
	if (p->norm == NULL) {
		size_t l = strnlen(text + off, n);
		p->norm_len = cut_len(text + off, l, c->text_max);
		p->norm = malloc(p->norm_len + 1);
		if (p->norm) {
			memcpy(p->norm, text + off, p->norm_len);
			p->norm[p->norm_len] = 0;
		} else {
			p->norm_len = 0;
		}
	}
}

/*
 * The const-key data of a single-statement entry: for each of the shape's constants the span of
 * tokens it covers, and the pinned literals. False when a position is not on token boundaries
 * (the entry then gets no constants-free key).
 */
static bool const_data(const Lexer *lx, const char *text, size_t len, const QueryShape *shape,
		       const ShapePins *pins, Blob *b, Entry *hdr)
{
	uint16_t *remap = NULL;
	PinRec *recs = NULL;
	bool ok = false;
	size_t ncols = shape ? shape->n_cols : 0;
	if (ncols) {
		remap = malloc(ncols * 2 * sizeof(uint16_t));
		if (remap == NULL)
			goto out;
		const ShapeCol *cols = shape_cols(shape);
		for (size_t i = 0; i < ncols; i++) {
			remap[2 * i] = remap[2 * i + 1] = NO_TOK;
			if (cols[i].const_kind == SCK_NONE)
				continue;
			long a = lexer_token_at(lx, cols[i].const_pos);
			long z = lexer_token_ending(lx, cols[i].const_pos + cols[i].const_len);
			if (a < 0 || z < a)
				goto out;
			remap[2 * i] = (uint16_t)a;
			remap[2 * i + 1] = (uint16_t)z;
		}
	}
	if (pins->n) {
		recs = calloc(pins->n, sizeof(*recs));
		if (recs == NULL)
			goto out;
		for (size_t i = 0; i < pins->n; i++) {
			size_t l = lexer_literal_len(text, len, pins->pos[i]);
			long a = lexer_token_at(lx, pins->pos[i]);
			long z = lexer_token_ending(lx, (uint32_t)(pins->pos[i] + l));
			if (l == 0 || a < 0 || z < a)
				goto out;
			recs[i].tok_start = (uint16_t)a;
			recs[i].tok_end = (uint16_t)z;
			recs[i].len = (uint32_t)l;
			recs[i].bytes = blob_add(b, text + pins->pos[i], l, 1);
		}
		hdr->pins = blob_add(b, recs, pins->n * sizeof(*recs), 4);
		hdr->n_pins = (uint32_t)pins->n;
	}
	if (ncols)
		hdr->remap = blob_add(b, remap, ncols * 2 * sizeof(uint16_t), 2);
	hdr->n_tokens = (uint32_t)lx->n;
	ok = !b->fail;
out:
	free(remap);
	free(recs);
	return ok;
}

/*
 * libpg_query's answer for a text, as a new (not yet inserted) entry. keyed: the lexer ran on
 * this text and the entry may get a constants-free key.
 */
static Entry *analyze(ParserCache *c, const char *text, size_t len, bool keyed, bool skeleton)
{
	PgQueryProtobufParseResult pr = {0};
	PgQuery__ParseResult *tree = NULL;
	Pending *pend = NULL;
	size_t n = 0;
	Blob b = {0};
	Entry hdr;
	Entry *e = NULL;
	ShapePins pins = {0};
	bool parsed = false;

	memset(&hdr, 0, sizeof(hdr));
	if (memchr(text, 0, len) == NULL && ensure_tmp(c, len + 1)) {
		memcpy(c->tmp, text, len);
		c->tmp[len] = 0;
		pr = pg_query_parse_protobuf(c->tmp);
		if (pr.error == NULL)
			tree = pg_query__parse_result__unpack(NULL, pr.parse_tree.len,
							      (const uint8_t *)pr.parse_tree.data);
		parsed = tree != NULL;
	}
	n = parsed && tree->n_stmts > 0 ? tree->n_stmts : 1;
	pend = calloc(n, sizeof(*pend));
	if (pend == NULL)
		goto out;
	if (!parsed) {
		size_t l = strnlen(text, len);
		pend[0].st.kind = SK_UNPARSED;
		pend[0].st.fingerprint = XXH3_64bits(text, len);
		pend[0].st.stmt_len = (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len);
		pend[0].norm_len = cut_len(text, l, c->text_max);
		pend[0].norm = malloc(pend[0].norm_len + 1);
		if (pend[0].norm == NULL)
			goto out;
		memcpy(pend[0].norm, text, pend[0].norm_len);
		pend[0].norm[pend[0].norm_len] = 0;
	} else if (tree->n_stmts == 0) {
		pend[0].st.kind = SK_EMPTY;
		fp_and_norm(c, text, 0, len, &pend[0]);
		pend[0].st.stmt_len = (uint32_t)len;
	} else {
		for (size_t i = 0; i < n; i++) {
			const PgQuery__RawStmt *rs = tree->stmts[i];
			size_t off = rs->stmt_location > 0 ? (size_t)rs->stmt_location : 0;
			size_t sl = rs->stmt_len > 0 ? (size_t)rs->stmt_len :
						       len - (off < len ? off : len);
			bool ro;
			if (off > len)
				off = len;
			if (sl > len - off)
				sl = len - off;
			if (n == 1) {
				off = 0;
				sl = len;
			}
			while (n > 1 && sl > 0 &&
			       (text[off] == ' ' || text[off] == '\t' || text[off] == '\n' ||
				text[off] == '\r' || text[off] == '\f')) {
				off++; /* the blanks after the previous statement's ';' */
				sl--;
			}
			pend[i].st.kind = (uint8_t)classify(rs->stmt, &ro);
			pend[i].st.read_only = ro;
			pend[i].st.stmt_offset = (uint32_t)off;
			pend[i].st.stmt_len = (uint32_t)sl;
			fp_and_norm(c, text, off, sl, &pend[i]);
			pend[i].shape = shape_build(rs->stmt, text, len, &pins);
		}
	}

	/* one block: Entry header with its StoredStmt array, then strings, shapes, const data */
	blob_add(&b, NULL, sizeof(Entry) + n * sizeof(StoredStmt), 16);
	for (size_t i = 0; i < n; i++) {
		pend[i].st.normalized =
			blob_add(&b, pend[i].norm ? pend[i].norm : "", pend[i].norm_len + 1, 1);
		pend[i].st.normalized_len = (uint32_t)pend[i].norm_len;
		if (pend[i].shape)
			pend[i].st.shape = blob_add(&b, pend[i].shape, pend[i].shape->size, 8);
	}
	if (keyed && parsed && n == 1 && tree->n_stmts == 1 &&
	    !const_data(&c->lx, text, len, pend[0].shape, &pins, &b, &hdr))
		hdr.n_tokens = 0;
	if (hdr.n_tokens && skeleton && !skel_data(c, pend[0].shape, &b, &hdr))
		hdr.n_runs = 0;
	if (b.fail)
		goto out;
	e = (Entry *)(void *)b.p;
	b.p = NULL;
	memcpy(e, &hdr, sizeof(hdr));
	e->n_stmts = (uint32_t)n;
	for (size_t i = 0; i < n; i++)
		e->stmts[i] = pend[i].st;
	e->bytes = b.n + 64; /* malloc overhead and bucket slots, roughly */
out:
	free(b.p);
	if (pend)
		for (size_t i = 0; i < n; i++) {
			free(pend[i].norm);
			free(pend[i].shape);
		}
	free(pend);
	shape_pins_free(&pins);
	if (tree)
		pg_query__parse_result__free_unpacked(tree, NULL);
	pg_query_free_protobuf_parse_result(pr);
	return e;
}
