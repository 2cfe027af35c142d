/*
 * stats_bench: what the statistics cost. Measures (1) stats_submit on the producer side, in ns
 * per event, and (2) the events per second one worker sustains with its parser cache warm,
 * for a pgbench-like mix (select by key with changing constants, the three pgbench updates, an
 * insert), with and without a slow-query log. Prints one line per figure.
 *
 *   stats_bench [events]     (default 2,000,000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "stats/stats.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *const templates[] = {
	"SELECT abalance FROM pgbench_accounts WHERE aid = %d;",
	"UPDATE pgbench_accounts SET abalance = abalance + %d WHERE aid = 17;",
	"UPDATE pgbench_tellers SET tbalance = tbalance + %d WHERE tid = 3;",
	"UPDATE pgbench_branches SET bbalance = bbalance + %d WHERE bid = 1;",
	"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (3, 1, 17, %d, "
	"CURRENT_TIMESTAMP);",
};

static void run(const char *label, Config *cfg, long events, bool extended)
{
	if (stats_start(cfg) != 0) {
		fprintf(stderr, "stats_start failed\n");
		exit(1);
	}
	char text[256];
	StatsEvent ev = {
		.kind = extended ? SE_EXECUTE : SE_QUERY,
		.rows = 1,
		.db = "bench",
		.user = "bench",
		.app = "pgbench",
		.client_addr = "127.0.0.1",
		.client_port = 40000,
	};
	/* warm the parser cache: every template seen once */
	for (int i = 0; i < 5; i++) {
		snprintf(text, sizeof(text), templates[i], 1);
		ev.text = text;
		ev.text_len = (uint32_t)strlen(text);
		stats_submit(&ev);
	}
	stats_sync(10000);

	/* producer cost: bursts that fit the queue, timed on the producer side only */
	double submit_s = 0, worker_s = 0;
	long done = 0, dropped_before = (long)stats_dropped();
	const long burst = 20000;
	while (done < events) {
		double t0 = now_s();
		for (long i = 0; i < burst; i++) {
			long k = done + i;
			int t = (int)(k % 5);
			if (extended) {
				/* the extended protocol: the text has $n, the constant is a parameter */
				snprintf(text, sizeof(text), "%s", templates[t]);
				char *p = strstr(text, "%d");
				p[0] = '$';
				p[1] = '1';
				ev.params = "42";
				ev.params_len = 3;
				ev.n_params = 1;
			} else {
				snprintf(text, sizeof(text), templates[t], (int)(k % 100000));
			}
			ev.text = text;
			ev.text_len = (uint32_t)strlen(text);
			ev.duration_ns = 100000 + (uint64_t)(k % 1000) * 1000;
			ev.end_wall_us = wall_us();
			stats_submit(&ev);
		}
		double t1 = now_s();
		stats_sync(60000);
		double t2 = now_s();
		submit_s += t1 - t0;
		worker_s += t2 - t0;
		done += burst;
	}
	long dropped = (long)stats_dropped() - dropped_before;
	StatsCounters c;
	stats_counters(&c);
	printf("%-34s submit %6.0f ns/event (incl. snprintf of the text)   worker %8.0f events/s"
	       "   dropped %ld   parser hits %llu misses %llu   slow logged %llu\n",
	       label, submit_s / (double)done * 1e9, (double)(done - dropped) / worker_s, dropped,
	       (unsigned long long)c.parser_hits, (unsigned long long)c.parser_misses,
	       (unsigned long long)c.slow_logged);
	stats_counters_free(&c);
	stats_stop();
}

/*
 * The proxy's case: statements arrive spaced out (here every ~30 us, a pgbench select through
 * the proxy), the worker keeps up and sleeps in between. Times stats_submit alone.
 */
static void run_paced(Config *cfg, long events)
{
	if (stats_start(cfg) != 0)
		exit(1);
	char text[128];
	snprintf(text, sizeof(text), templates[0], 4242);
	StatsEvent ev = {
		.kind = SE_QUERY,
		.rows = 1,
		.db = "bench",
		.user = "bench",
		.app = "pgbench",
		.client_addr = "127.0.0.1",
		.text = text,
		.text_len = (uint32_t)strlen(text),
		.duration_ns = 30000,
	};
	double *t = malloc((size_t)events * sizeof(*t));
	for (long i = 0; i < events; i++) {
		ev.end_wall_us = wall_us();
		double t0 = now_s();
		stats_submit(&ev);
		double t1 = now_s();
		t[i] = t1 - t0;
		while (now_s() - t1 < 30e-6)
			;
	}
	stats_sync(10000);
	/* median and p99: on a loaded machine the mean is mostly preemption */
	qsort(t, (size_t)events, sizeof(*t), cmp_double);
	printf("%-34s submit median %4.0f ns, p99 %5.0f ns (the call alone, clock reads "
	       "included)\n",
	       "paced, 1 event / 30 us", t[events / 2] * 1e9, t[events * 99 / 100] * 1e9);
	free(t);
	stats_stop();
}

/*
 * The stats file for a busy week: nfp fingerprints each seen every hour for hours hours, with
 * latencies spread over two octaves. Reports the file size and how long stats_stop takes to
 * write it (the worker writes the same image every stats_flush_interval).
 */
static void run_persist(Config *cfg, int nfp, int hours, int per_hour)
{
	char path[] = "/tmp/stats_bench_file_XXXXXX";
	int fd = mkstemp(path);
	if (fd >= 0)
		close(fd);
	unlink(path);
	cfg->stats_file = path;
	if (stats_start(cfg) != 0)
		exit(1);
	int64_t now = wall_us();
	char text[128];
	StatsEvent ev = {.kind = SE_QUERY, .rows = 1, .db = "bench", .user = "bench"};
	unsigned seed = 1;
	for (int h = hours - 1; h >= 0; h--) {
		for (int f = 0; f < nfp; f++) {
			snprintf(text, sizeof(text), "SELECT c%d FROM t%d WHERE id = 5", f % 50,
				 f / 50);
			ev.text = text;
			ev.text_len = (uint32_t)strlen(text);
			for (int k = 0; k < per_hour; k++) {
				seed = seed * 1103515245 + 12345;
				ev.duration_ns = 200000 + (seed >> 8) % 600000;
				ev.end_wall_us = now - (int64_t)h * 3600000000LL + k;
				while (!stats_submit(&ev))
					stats_sync(1000);
			}
		}
	}
	stats_sync(600000);
	double t0 = now_s();
	stats_stop();
	double t1 = now_s();
	struct stat st;
	long size = stat(path, &st) == 0 ? (long)st.st_size : -1;
	printf("%-34s %d fingerprints x %d hours x %d calls: file %.1f MB, written in %.0f ms\n",
	       "stats_file", nfp, hours, per_hour, (double)size / 1e6, (t1 - t0) * 1e3);
	StatsStore *s;
	char err[128];
	t0 = now_s();
	if (stats_store_load(path, &s, err, sizeof(err)) == 0) {
		t1 = now_s();
		printf("%-34s loaded in %.0f ms\n", "stats_file", (t1 - t0) * 1e3);
		stats_store_free(s);
	}
	unlink(path);
	cfg->stats_file = NULL;
}

/*
 * `stats_bench N select`: N pgbench selects, each with its own constant, and nothing else, for
 * counting the worker's instructions per select with callgrind (--separate-threads=yes; subtract
 * a run with a smaller N to remove the start and the warm-up).
 */
static void run_selects(Config *cfg, long events)
{
	if (stats_start(cfg) != 0)
		exit(1);
	char text[128];
	StatsEvent ev = {.kind = SE_QUERY,
			 .rows = 1,
			 .db = "bench",
			 .user = "bench",
			 .app = "pgbench",
			 .client_addr = "127.0.0.1",
			 .duration_ns = 30000};
	for (long i = 0; i < events; i++) {
		snprintf(text, sizeof(text), templates[0], (int)(i % 100000) + 1);
		ev.text = text;
		ev.text_len = (uint32_t)strlen(text);
		ev.end_wall_us = wall_us();
		while (!stats_submit(&ev))
			stats_sync(1000);
	}
	stats_sync(60000);
	stats_stop();
}

int main(int argc, char **argv)
{
	long events = argc > 1 ? atol(argv[1]) : 2000000;
	bool selects_only = argc > 2 && strcmp(argv[2], "select") == 0;
	Config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.slow_query_ms = -1;
	cfg.stats_flush_interval = 60000;
	cfg.stats_retention = 14ULL * 24 * 3600 * 1000;
	cfg.max_fingerprints = 10000;
	cfg.parser_cache_bytes = 64u << 20;
	cfg.query_text_max = 4096;
	cfg.stats_queue_size = 65536;
	if (selects_only) {
		run_selects(&cfg, events);
		return 0;
	}
	run_paced(&cfg, 100000);
	run("simple, no slow log", &cfg, events, false);
	run("extended, no slow log", &cfg, events, true);
	char path[] = "/tmp/stats_bench_slow_XXXXXX";
	int fd = mkstemp(path);
	if (fd >= 0)
		close(fd);
	cfg.slow_query_log = path;
	cfg.slow_query_ms = 1; /* 1 ms: about 10% of the mix is slow */
	run("simple, slow log (10% slow)", &cfg, events, false);
	unlink(path);
	cfg.slow_query_log = NULL;
	cfg.slow_query_ms = -1;
	run_persist(&cfg, 1000, 168, 20);
	return 0;
}
