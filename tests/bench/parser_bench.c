/*
 * parser_bench: nanoseconds per statement through parser_cache_lookup() for an exact-text hit,
 * a hit on the constants-free key (the text differs from the cached one only in constants), and
 * a miss (libpg_query parse, fingerprint and normalize), for statements of about 60, 170 and
 * 260 bytes. Also the hot-path parser_hot_kind(). Prints one line per measurement.
 *   parser_bench [iterations]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parser/parser.h"

#define VARIANTS 1024

static const char *templates[] = {
	"SELECT abalance FROM pgbench_accounts WHERE aid = %d AND bid = %d",
	"SELECT p.id, p.title, p.created_at FROM posts p WHERE p.user_id = %d AND p.status = "
	"'published' AND p.deleted_at IS NULL ORDER BY p.created_at DESC LIMIT 20 OFFSET %d",
	"SELECT o.id, o.total, c.email FROM orders o JOIN customers c ON c.id = "
	"o.customer_id LEFT JOIN refunds r ON r.order_id = o.id WHERE o.created_at >= "
	"'2024-01-01' AND o.status IN ('paid', 'shipped') AND o.total > %d "
	"ORDER BY o.created_at DESC LIMIT %d",
};

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 200000;
	char **texts = calloc(VARIANTS, sizeof(char *));
	ParsedStatement ps;
	volatile uint64_t sink = 0;

	if (iters <= 0 || texts == NULL)
		return 2;
	for (size_t t = 0; t < sizeof(templates) / sizeof(templates[0]); t++) {
		ParserCache *c = parser_cache_new(64u << 20, 1024);
		ParserCacheStats st0, st1;
		for (int v = 0; v < VARIANTS; v++) {
			char buf[512];
			snprintf(buf, sizeof(buf), templates[t], 1000 + v * 7919 % 90000,
				 v % 97 + 1);
			texts[v] = strdup(buf);
		}
		size_t len0 = strlen(texts[0]);

		/* exact hit */
		parser_cache_lookup(c, texts[0], len0, &ps, 1);
		parser_cache_stats(c, &st0);
		double t0 = now_ns();
		for (long i = 0; i < iters; i++) {
			parser_cache_lookup(c, texts[0], len0, &ps, 1);
			sink += ps.fingerprint;
		}
		double exact = (now_ns() - t0) / (double)iters;
		parser_cache_stats(c, &st1);
		if (st1.exact_hits - st0.exact_hits != (uint64_t)iters)
			return 1;

		/* constants-free hit: other variants, never seen as exact texts */
		st0 = st1;
		t0 = now_ns();
		for (long i = 0; i < iters; i++) {
			const char *s = texts[1 + i % (VARIANTS - 1)];
			parser_cache_lookup(c, s, strlen(s), &ps, 1);
			sink += ps.fingerprint;
		}
		double konst = (now_ns() - t0) / (double)iters;
		parser_cache_stats(c, &st1);
		if (st1.const_hits - st0.const_hits != (uint64_t)iters)
			return 1;

		/* miss: a fresh cache for each lookup (its creation is negligible next to a parse) */
		long miss_iters =
			iters / 50 > VARIANTS ? VARIANTS : (iters / 50 > 0 ? iters / 50 : 1);
		t0 = now_ns();
		for (long i = 0; i < miss_iters; i++) {
			ParserCache *m = parser_cache_new(1u << 20, 1024);
			parser_cache_lookup(m, texts[i], strlen(texts[i]), &ps, 1);
			sink += ps.fingerprint;
			parser_cache_stats(m, &st1);
			parser_cache_free(m);
			if (st1.misses != 1)
				return 1;
		}
		double miss = (now_ns() - t0) / (double)miss_iters;

		printf("%3zu-byte statement: exact hit %7.0f ns, constants-differ hit %7.0f ns, "
		       "miss "
		       "%8.0f ns\n",
		       len0, exact, konst, miss);
		parser_cache_free(c);
		for (int v = 0; v < VARIANTS; v++)
			free(texts[v]);
	}

	const char *hot = "  SET statement_timeout = 1000";
	double t0 = now_ns();
	for (long i = 0; i < iters * 10; i++)
		sink += (uint64_t)parser_hot_kind(hot, 30);
	printf("parser_hot_kind: %.1f ns\n", (now_ns() - t0) / (double)(iters * 10));
	free(texts);
	return sink == 42 ? 3 : 0;
}
