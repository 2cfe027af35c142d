/*
 * log: the process-wide logger. Lines go to stderr and, when `logfile` is set, to that file too,
 * each with a timestamp, the pid and the level, like PgBouncer's, and to syslog(3) when the
 * `syslog` key is on. Thread-safe (the stats worker logs too): each line is written with one
 * write(2). log_reopen() is called on SIGHUP so that
 * logrotate can move the file away.
 */
#ifndef PGSIFT_LOG_H
#define PGSIFT_LOG_H

#include <stdarg.h>
#include <stdbool.h>

typedef enum { LL_FATAL = 0, LL_ERROR, LL_WARNING, LL_INFO, LL_DEBUG, LL_NOISE } LogLevel;

/* Parses "fatal|error|warning|info|debug|noise"; false when the name is unknown. */
bool log_level_parse(const char *name, LogLevel *out) __attribute__((warn_unused_result));
const char *log_level_str(LogLevel level);

/* Sets the threshold and the optional file (NULL: stderr only). Returns 0 or -errno. */
int log_init(LogLevel level, const char *logfile);
int log_reopen(void);

/*
 * Sends every line also to syslog(3) under ident and facility (PgBouncer's syslog,
 * syslog_ident, syslog_facility: auth, authpriv, daemon, user, local0..local7), or stops when
 * on is false. Called at start and on reload. Returns 0, or -EINVAL for an unknown facility
 * (nothing changed then).
 */
int log_set_syslog(bool on, const char *ident, const char *facility);
/* The LOG_* facility for a name as above, in *out; false when the name is unknown. */
bool log_syslog_facility(const char *name, int *out) __attribute__((warn_unused_result));
void log_set_level(LogLevel level);
bool log_enabled(LogLevel level);

void log_msg(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(LogLevel level, const char *prefix, const char *fmt, va_list ap);

#define log_fatal(...) log_msg(LL_FATAL, __VA_ARGS__)
#define log_error(...) log_msg(LL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LL_INFO, __VA_ARGS__)
#define log_debug(...)                                  \
	do {                                            \
		if (log_enabled(LL_DEBUG))              \
			log_msg(LL_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
