/*
 * log: timestamped lines to stderr and an optional file, and to syslog when asked. One write(2)
 * per line keeps lines whole when the event loop and the stats worker log at the same time; the
 * file descriptor is swapped atomically on reopen so no lock is needed on the writing side.
 * syslog(3) is thread-safe itself; it gets the line without the timestamp and pid, which
 * syslog adds.
 */
#include "config/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {"FATAL", "ERROR", "WARNING", "LOG", "DEBUG", "NOISE"};
static const char *const level_keys[] = {"fatal", "error", "warning", "info", "debug", "noise"};

static _Atomic int log_threshold = LL_INFO;
static _Atomic int log_fd = -1;
static char log_path[4096];
static _Atomic bool log_to_syslog;
static char syslog_ident[256]; /* openlog keeps the pointer: it must outlive every line */

/* syslog's priority for each LogLevel. */
static const int syslog_priorities[] = {LOG_CRIT, LOG_ERR,   LOG_WARNING,
					LOG_INFO, LOG_DEBUG, LOG_DEBUG};

bool log_level_parse(const char *name, LogLevel *out)
{
	for (int i = 0; i <= LL_NOISE; i++) {
		if (strcasecmp(name, level_keys[i]) == 0) {
			*out = (LogLevel)i;
			return true;
		}
	}
	if (strcasecmp(name, "warn") == 0) {
		*out = LL_WARNING;
		return true;
	}
	return false;
}

const char *log_level_str(LogLevel level)
{
	return level_keys[level <= LL_NOISE ? level : LL_NOISE];
}

int log_init(LogLevel level, const char *logfile)
{
	log_threshold = level;
	if (!logfile || !*logfile) {
		log_path[0] = '\0';
		int old = atomic_exchange(&log_fd, -1);
		if (old >= 0)
			close(old);
		return 0;
	}
	snprintf(log_path, sizeof(log_path), "%s", logfile);
	return log_reopen();
}

int log_reopen(void)
{
	if (!log_path[0])
		return 0;
	int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	int old = atomic_exchange(&log_fd, fd);
	if (old >= 0)
		close(old);
	return 0;
}

bool log_syslog_facility(const char *name, int *out)
{
	static const struct {
		const char *name;
		int facility;
	} facilities[] = {
		{"auth", LOG_AUTH},	{"authpriv", LOG_AUTHPRIV}, {"daemon", LOG_DAEMON},
		{"user", LOG_USER},	{"local0", LOG_LOCAL0},	    {"local1", LOG_LOCAL1},
		{"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},	    {"local4", LOG_LOCAL4},
		{"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6},	    {"local7", LOG_LOCAL7},
	};
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++) {
		if (strcasecmp(name, facilities[i].name) == 0) {
			*out = facilities[i].facility;
			return true;
		}
	}
	return false;
}

int log_set_syslog(bool on, const char *ident, const char *facility)
{
	int fac = LOG_DAEMON;
	if (on && !log_syslog_facility(facility ? facility : "daemon", &fac))
		return -EINVAL;
	if (log_to_syslog) {
		log_to_syslog = false;
		closelog();
	}
	if (!on)
		return 0;
	snprintf(syslog_ident, sizeof(syslog_ident), "%s", ident && *ident ? ident : "pgsift");
	openlog(syslog_ident, LOG_PID | LOG_NDELAY, fac);
	log_to_syslog = true;
	return 0;
}

void log_set_level(LogLevel level)
{
	log_threshold = level;
}

bool log_enabled(LogLevel level)
{
	return (int)level <= log_threshold;
}

void log_vmsg(LogLevel level, const char *prefix, const char *fmt, va_list ap)
{
	if (!log_enabled(level))
		return;
	char line[2048];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	int n = (int)strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
	n += snprintf(line + n, sizeof(line) - n, ".%03d %d %s ", (int)(tv.tv_usec / 1000),
		      (int)getpid(), level_names[level]);
	int text = n; /* what syslog gets: the prefix and the message */
	if (n < (int)sizeof(line))
		n += snprintf(line + n, sizeof(line) - n, "%s", prefix ? prefix : "");
	if (n < (int)sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	if (log_to_syslog) {
		line[n] = '\0';
		syslog(syslog_priorities[level <= LL_NOISE ? level : LL_NOISE], "%s", line + text);
	}
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	int fd = log_fd;
	if (fd >= 0)
		w = write(fd, line, n);
	(void)w;
}

void log_msg(LogLevel level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, NULL, fmt, ap);
	va_end(ap);
}
