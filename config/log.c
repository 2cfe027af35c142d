/*
 * log: timestamped lines to stderr and an optional file. One write(2) per line keeps lines
 * whole when the event loop and the stats worker log at the same time; the file descriptor is
 * swapped atomically on reopen so no lock is needed on the writing side.
 */
#include "config/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {"FATAL", "ERROR", "WARNING", "LOG", "DEBUG", "NOISE"};
static const char *const level_keys[] = {"fatal", "error", "warning", "info", "debug", "noise"};

static _Atomic int log_threshold = LL_INFO;
static _Atomic int log_fd = -1;
static char log_path[4096];

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
	n += snprintf(line + n, sizeof(line) - n, ".%03d %d %s %s", (int)(tv.tv_usec / 1000),
		      (int)getpid(), level_names[level], prefix ? prefix : "");
	if (n < (int)sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
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
