/*
 * slowlog: the slow-query log, one JSON object per line in PostgreSQL 15's jsonlog shape
 * (timestamp, user, dbname, pid, remote_host, remote_port, session_id, error_severity, message,
 * application_name) followed by pgsift's own keys (fingerprint, duration_ms, query, rows,
 * sqlstate, timed_out), so that pgBadger (`-f jsonlog`) and log shippers read it like
 * PostgreSQL's own log. Written by the stats worker only; each line is one write(2) on an
 * O_APPEND descriptor, so a concurrent logrotate never sees half a line.
 */
#ifndef PGSIFT_STATS_SLOWLOG_H
#define PGSIFT_STATS_SLOWLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct SlowLog {
	int fd;			 /* -1 when closed */
	char *path;		 /* owned; NULL = no file */
	int max_per_sec;	 /* 0 = unlimited */
	int64_t cur_sec;	 /* the second (of the statements' end time) being counted */
	int cur_count;		 /* lines written in cur_sec */
	uint64_t dropped_in_sec; /* dropped in cur_sec, reported when the second ends */
	uint64_t written;	 /* lines written since open */
	uint64_t dropped;	 /* rate-limited or failed writes since open */
	char *buf;		 /* line buffer (owned) */
	size_t cap;
} SlowLog;

/* One statement to log. Strings are NUL-terminated; NULL or "" means unknown. */
typedef struct SlowEntry {
	int64_t end_wall_us;
	const char *user;
	const char *dbname;
	int pid;
	const char *remote_host; /* "[local]" for Unix sockets (then no remote_port is written) */
	uint32_t remote_port;
	const char *session_id;
	const char *application_name;
	uint64_t duration_ns;
	const char *statement; /* goes into "message" after "statement: " and into "query" */
	size_t statement_len;
	uint64_t fingerprint;
	uint64_t rows;
	const char *sqlstate; /* "" / NULL on success: written as "00000" */
	bool timed_out;
	/* log_parameters only: the Bind values ('\0'-separated), written as PostgreSQL's
	 * "detail": "parameters: $1 = '...', ..." and the message says "execute <unnamed>:" */
	const char *params;
	uint32_t params_len;
	uint16_t n_params;
} SlowEntry;

void slowlog_init(SlowLog *log);
/* Opens (or reopens, for SIGHUP) path with O_APPEND|O_CREAT, mode 0640. NULL closes. 0/-errno. */
int slowlog_open(SlowLog *log, const char *path, int max_per_sec);
int slowlog_reopen(SlowLog *log);
void slowlog_close(SlowLog *log);

/* Returns 1 when written, 0 when dropped by max_per_sec, -errno on a write error. */
int slowlog_write(SlowLog *log, const SlowEntry *e);

/*
 * Formats the line (with the trailing newline) into *buf (grown with realloc, *cap updated);
 * returns its length, or 0 on allocation failure. Exposed for the tests.
 */
size_t slowlog_format(const SlowEntry *e, char **buf, size_t *cap);

/* "2026-11-25 10:38:35.123 UTC", PostgreSQL's log timestamp; out must hold 32 bytes. */
void slowlog_timestamp(int64_t wall_us, char *out, size_t len);

#endif
