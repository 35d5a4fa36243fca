/* log.c -- small logging for the daemons: stderr in the foreground, syslog otherwise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

/* Set once at start-up, then only read: safe to share with worker threads. */
static const char	*log_progname = "arc";
static int		 log_foreground = 1;
static enum log_level	 log_level = LOG_LEVEL_INFO;

void
log_init(const char *progname, int foreground, enum log_level level)
{
	log_progname = progname;
	log_foreground = foreground;
	log_level = level;
	if (!foreground)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

int
log_enabled(enum log_level level)
{
	return level <= log_level;
}

/*
 * msg with every control character (C0, DEL and, as UTF-8, C1) written as
 * \xNN: messages quote what others sent (a peer's close reason, a relay's
 * answer, a request line), and a line break there would forge a log line,
 * an ESC sequence reach whoever reads the log in a terminal.
 */
static void
log_escape(const char *msg, char *out, size_t len)
{
	const unsigned char	*p;
	size_t			 n = 0;

	for (p = (const unsigned char *)msg; *p != '\0' && n + 5 < len; p++) {
		if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			n += snprintf(out + n, len - n, "\\x%02x", p[1]);
			p++;
		} else if (*p < 0x20 || *p == 0x7f)
			n += snprintf(out + n, len - n, "\\x%02x", *p);
		else
			out[n++] = (char)*p;
	}
	out[n] = '\0';
}

static void
log_emit(int prio, const char *tag, const char *func, int err,
    const char *fmt, va_list ap)
{
	char		 raw[1024], msg[4 * sizeof(raw) + 1];
	struct timespec	 ts;
	struct tm	 tm;
	char		 stamp[32];
	int		 n;

	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	if (err && n >= 0 && (size_t)n < sizeof(raw))
		snprintf(raw + n, sizeof(raw) - n, ": %s", strerror(err));
	log_escape(raw, msg, sizeof(msg));
	if (!log_foreground) {
		syslog(prio, "%s: %s", func, msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	/* One fprintf per line: stdio locks the stream, so threads do not interleave. */
	fprintf(stderr, "%s.%03ldZ %s %s %s: %s\n", stamp, ts.tv_nsec / 1000000,
	    log_progname, tag, func, msg);
}

#define LOG_BODY(prio, tag, err) do {				\
	va_list ap;						\
	va_start(ap, fmt);					\
	log_emit(prio, tag, func, err, fmt, ap);		\
	va_end(ap);						\
} while (0)

void
log_warn_(const char *func, const char *fmt, ...)
{
	int	saved = errno;

	LOG_BODY(LOG_WARNING, "warn", saved);
	errno = saved;
}

void
log_warnx_(const char *func, const char *fmt, ...)
{
	LOG_BODY(LOG_WARNING, "warn", 0);
}

void
log_info_(const char *func, const char *fmt, ...)
{
	if (log_level < LOG_LEVEL_INFO)
		return;
	LOG_BODY(LOG_INFO, "info", 0);
}

void
log_debug_(const char *func, const char *fmt, ...)
{
	LOG_BODY(LOG_DEBUG, "debug", 0);
}

void
fatal_(const char *func, const char *fmt, ...)
{
	int	saved = errno;

	LOG_BODY(LOG_CRIT, "fatal", saved);
	exit(1);
}

void
fatalx_(const char *func, const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, "fatal", 0);
	exit(1);
}
