/*
 * stats: the statistics side of pgsift. The event loop hands each finished statement to
 * stats_submit(), which copies it into a bounded single-producer queue and returns at once; one
 * worker thread takes events from the queue, looks the text up in its ParserCache, updates the
 * digests and histograms, writes the slow-query log and feeds the advisor's accumulators.
 *
 * Threads: stats_submit() and stats_dropped() are called only from the event loop thread (the
 * single producer). Everything else that reads results (stats_snapshot_*) may be called from the
 * event loop too and takes only short locks that the worker never holds while parsing or doing
 * I/O.
 */
#ifndef PGSIFT_STATS_H
#define PGSIFT_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

typedef enum {
	SE_QUERY = 0, /* simple protocol: text is the whole Query message; stmt_index picks the statement */
	SE_EXECUTE,   /* extended protocol: text is the prepared statement's text */
	SE_COPY,      /* a COPY's completion (its text as for SE_QUERY / SE_EXECUTE) */
	SE_FUNCTION,  /* FunctionCall: text is "fastpath function <oid>" */
} StatsEventKind;

/* One finished statement. Strings need not be NUL-terminated; stats_submit copies them. */
typedef struct StatsEvent {
	StatsEventKind kind;
	uint16_t stmt_index;     /* which statement of a multi-statement simple query (0-based) */
	bool timed_out;          /* cancelled by pgsift's query_timeout */
	bool cancelled;          /* cancelled by the client's CancelRequest / statement_timeout (57014) */
	char sqlstate[6];        /* "" on success, else the 5-character code, NUL-terminated */
	uint64_t rows;           /* from CommandComplete's tag */
	uint64_t duration_ns;    /* monotonic: sent to the server -> CommandComplete/ErrorResponse */
	int64_t end_wall_us;     /* CLOCK_REALTIME at completion, microseconds since the epoch */
	const char *text;
	uint32_t text_len;
	const char *db;          /* the client's database name */
	const char *user;
	const char *app;         /* application_name, may be NULL */
	const char *client_addr; /* "1.2.3.4" or "[local]" */
	uint32_t client_port;
	const char *params;      /* Bind parameters as text, '\0'-separated, for sampling; may be NULL */
	uint32_t params_len;
	uint16_t n_params;
} StatsEvent;

/* Starts the worker thread. Returns 0 or -errno. */
int stats_start(const Config *cfg);
/* Stops the worker after it has drained the queue, flushes stats_file. */
void stats_stop(void);
/* Called after a reload (SIGHUP): new settings, slow log reopened. The Config must outlive use. */
void stats_reload(const Config *cfg);

/* Event loop only. Never blocks: returns false (and counts a drop) when the queue is full. */
bool stats_submit(const StatsEvent *ev);
uint64_t stats_dropped(void);

#endif
