/*
 * slowlog: formatting and writing of slow-query lines. The JSON is built by hand into a reused
 * buffer (no allocation per line once it has grown); strings are escaped as JSON requires
 * (quote, backslash, control characters as \uXXXX) and invalid UTF-8 is replaced by U+FFFD so
 * that every line parses whatever bytes a client sent.
 */
#include "stats/slowlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/log.h"
#include "util/json.h"

typedef struct Out {
	char **buf;
	size_t *cap;
	size_t len;
	bool oom;
} Out;

static void out_reserve(Out *o, size_t more);
static void out_raw(Out *o, const char *s, size_t n);
static void out_fmt(Out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_json_str(Out *o, const char *s, size_t n);
static void out_key_str(Out *o, const char *key, const char *s, size_t n, bool first);

void slowlog_init(SlowLog *log)
{
	memset(log, 0, sizeof(*log));
	log->fd = -1;
	log->cur_sec = INT64_MIN;
}

int slowlog_open(SlowLog *log, const char *path, int max_per_sec)
{
	log->max_per_sec = max_per_sec;
	if (log->path && path && strcmp(log->path, path) == 0)
		return slowlog_reopen(log);
	slowlog_close(log);
	if (!path || !*path)
		return 0;
	log->path = strdup(path);
	if (!log->path)
		return -ENOMEM;
	return slowlog_reopen(log);
}

int slowlog_reopen(SlowLog *log)
{
	if (!log->path)
		return 0;
	int fd = open(log->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		int err = -errno;
		log_error("slow_query_log %s: cannot open: %s", log->path, strerror(errno));
		return err;
	}
	if (log->fd >= 0)
		close(log->fd);
	log->fd = fd;
	return 0;
}

void slowlog_close(SlowLog *log)
{
	if (log->fd >= 0)
		close(log->fd);
	log->fd = -1;
	free(log->path);
	log->path = NULL;
	free(log->buf);
	log->buf = NULL;
	log->cap = 0;
}

int slowlog_write(SlowLog *log, const SlowEntry *e)
{
	int64_t sec = e->end_wall_us / 1000000;
	if (sec != log->cur_sec) {
		if (log->dropped_in_sec)
			log_warn("slow_query_log: %llu statements not written in one second "
				 "(slow_query_log_max_per_sec = %d)",
				 (unsigned long long)log->dropped_in_sec, log->max_per_sec);
		log->cur_sec = sec;
		log->cur_count = 0;
		log->dropped_in_sec = 0;
	}
	if (log->max_per_sec > 0 && log->cur_count >= log->max_per_sec) {
		log->dropped_in_sec++;
		log->dropped++;
		return 0;
	}
	if (log->fd < 0) {
		log->dropped++;
		return -EBADF;
	}
	size_t len = slowlog_format(e, &log->buf, &log->cap);
	if (!len) {
		log->dropped++;
		return -ENOMEM;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(log->fd, log->buf + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			log->dropped++;
			return -errno;
		}
		off += (size_t)w;
	}
	log->cur_count++;
	log->written++;
	return 1;
}

void slowlog_timestamp(int64_t wall_us, char *out, size_t len)
{
	time_t secs = (time_t)(wall_us / 1000000);
	unsigned ms = (unsigned)((wall_us % 1000000) / 1000) % 1000u;
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t n = strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(out + n, len - n, ".%03u UTC", ms);
}

size_t slowlog_format(const SlowEntry *e, char **buf, size_t *cap)
{
	Out o = {.buf = buf, .cap = cap};
	char ts[32];
	slowlog_timestamp(e->end_wall_us, ts, sizeof(ts));
	out_raw(&o, "{", 1);
	out_key_str(&o, "timestamp", ts, strlen(ts), true);
	out_key_str(&o, "user", e->user ? e->user : "", e->user ? strlen(e->user) : 0, false);
	out_key_str(&o, "dbname", e->dbname ? e->dbname : "", e->dbname ? strlen(e->dbname) : 0,
		    false);
	out_fmt(&o, ",\"pid\":%d", e->pid);
	if (e->remote_host && *e->remote_host) {
		out_key_str(&o, "remote_host", e->remote_host, strlen(e->remote_host), false);
		if (strcmp(e->remote_host, "[local]") != 0)
			out_fmt(&o, ",\"remote_port\":%u", e->remote_port);
	}
	if (e->session_id && *e->session_id)
		out_key_str(&o, "session_id", e->session_id, strlen(e->session_id), false);
	static const char sev[] = ",\"error_severity\":\"LOG\",\"message\":\"";
	out_raw(&o, sev, sizeof(sev) - 1);
	/* PostgreSQL: "duration: %ld.%03d ms  statement: %s" (two spaces, like
	 * log_min_duration_statement), "execute <unnamed>: " for an Execute with parameters. */
	uint64_t us = e->duration_ns / 1000;
	out_fmt(&o, "duration: %llu.%03llu ms  %s: ", (unsigned long long)(us / 1000),
		(unsigned long long)(us % 1000), e->params ? "execute <unnamed>" : "statement");
	size_t qlen = e->statement ? e->statement_len : 0;
	const char *q = e->statement ? e->statement : "";
	/* the message's statement, escaped without its surrounding quotes */
	size_t before = o.len;
	out_json_str(&o, q, qlen);
	if (!o.oom) {
		memmove(*o.buf + before, *o.buf + before + 1, o.len - before - 2);
		o.len -= 2;
	}
	out_raw(&o, "\"", 1);
	if (e->params) {
		/* "parameters: $1 = 'a', $2 = NULL" as PostgreSQL's errdetail_params writes it */
		Out d = {.buf = &(char *){NULL}, .cap = &(size_t){0}};
		const char *p = e->params, *end = e->params + e->params_len;
		out_raw(&d, "parameters: ", 12);
		for (uint16_t i = 0; i < e->n_params && p <= end; i++) {
			size_t n = strnlen(p, (size_t)(end - p));
			out_fmt(&d, "%s$%u = '", i ? ", " : "", i + 1);
			for (size_t k = 0; k < n; k++)
				out_raw(&d, p[k] == '\'' ? "''" : p + k, p[k] == '\'' ? 2 : 1);
			out_raw(&d, "'", 1);
			p += n + 1;
		}
		if (d.oom)
			o.oom = true;
		else
			out_key_str(&o, "detail", *d.buf, d.len, false);
		free(*d.buf);
	}
	const char *app = e->application_name ? e->application_name : "";
	out_key_str(&o, "application_name", app, strlen(app), false);
	out_fmt(&o, ",\"fingerprint\":\"%016llx\"", (unsigned long long)e->fingerprint);
	out_fmt(&o, ",\"duration_ms\":%llu.%06llu", (unsigned long long)(e->duration_ns / 1000000),
		(unsigned long long)(e->duration_ns % 1000000));
	out_key_str(&o, "query", q, qlen, false);
	out_fmt(&o, ",\"rows\":%llu", (unsigned long long)e->rows);
	const char *st = e->sqlstate && *e->sqlstate ? e->sqlstate : "00000";
	out_key_str(&o, "sqlstate", st, strlen(st), false);
	out_fmt(&o, ",\"timed_out\":%s}\n", e->timed_out ? "true" : "false");
	return o.oom ? 0 : o.len;
}

static void out_reserve(Out *o, size_t more)
{
	if (o->oom || o->len + more <= *o->cap)
		return;
	size_t cap = *o->cap ? *o->cap : 512;
	while (cap < o->len + more)
		cap *= 2;
	char *b = realloc(*o->buf, cap);
	if (!b) {
		o->oom = true;
		return;
	}
	*o->buf = b;
	*o->cap = cap;
}

static void out_raw(Out *o, const char *s, size_t n)
{
	out_reserve(o, n);
	if (o->oom)
		return;
	memcpy(*o->buf + o->len, s, n);
	o->len += n;
}

static void out_fmt(Out *o, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	out_raw(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void out_key_str(Out *o, const char *key, const char *s, size_t n, bool first)
{
	if (!first)
		out_raw(o, ",", 1);
	out_raw(o, "\"", 1);
	out_raw(o, key, strlen(key));
	out_raw(o, "\":", 2);
	out_json_str(o, s, n);
}

/* The sink of json_write_str: the line's buffer. */
static void out_sink(void *ctx, const char *p, size_t n)
{
	Out *o = ctx;
	if (!o->oom)
		out_raw(o, p, n);
}

static void out_json_str(Out *o, const char *s, size_t n)
{
	out_reserve(o, n + 2);
	json_write_str(out_sink, o, s, n);
}
