/* accesslog.c -- the audit trail: one line per request or tunnel, buffered per worker, appended whole. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "accesslog.h"
#include "log.h"
#include "safedir.h"

#define ACCESSLOG_FLUSH_BYTES	32768
#define ACCESSLOG_FLUSH_MS	200

struct accesslog {
	int	refs;		/* atomic */
	int	fd;		/* O_APPEND; -1 when off */
	int	own_fd;
	int	warned;		/* atomic: a lost write was logged */
};

struct accesslog_writer {
	struct accesslog	*log;
	struct evbuffer		*buf;
	struct event		*timer;
	uint64_t		 errors;	/* atomic: lost writes */
};

struct accesslog *
accesslog_open(const char *path, int dirfd, uid_t uid, gid_t gid, char *err,
    size_t errlen)
{
	struct accesslog	*l;
	char			 dir[PATH_MAX], base[PATH_MAX], why[512];
	int			 dfd = dirfd;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->refs = 1;
	l->fd = -1;
	if (path == NULL)
		return l;
	if (strcmp(path, "-") == 0) {
		l->fd = STDERR_FILENO;
		return l;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(base, sizeof(base), "%s", path);
	if (dfd == -1 && (dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "access log %s: %s", path, strerror(errno));
		free(l);
		return NULL;
	}
	/* Its directory belongs to the arcproxy user: never a symlink, never
	 * a hard link, and the owner set on the fd. */
	l->fd = safedir_open_file(dfd, basename(base), O_WRONLY | O_APPEND |
	    O_CREAT, 0640, uid, gid, why, sizeof(why));
	if (dfd != dirfd)
		close(dfd);
	if (l->fd == -1) {
		snprintf(err, errlen, "access log %s: %s", path, why);
		free(l);
		return NULL;
	}
	l->own_fd = 1;
	return l;
}

struct accesslog *
accesslog_ref(struct accesslog *l)
{
	__atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
	return l;
}

void
accesslog_unref(struct accesslog *l)
{
	if (l == NULL || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (l->own_fd)
		close(l->fd);
	free(l);
}

void
accesslog_flush(struct accesslog_writer *w)
{
	size_t		 len = evbuffer_get_length(w->buf);
	unsigned char	*data;
	ssize_t		 n;

	if (len == 0)
		return;
	if (w->log->fd == -1) {
		evbuffer_drain(w->buf, len);
		return;
	}
	/* One write of whole lines: O_APPEND keeps workers' lines apart. */
	data = evbuffer_pullup(w->buf, len);
	n = write(w->log->fd, data, len);
	evbuffer_drain(w->buf, len);
	if (n >= 0 && (size_t)n == len)
		return;
	/* A full disk loses log lines, never the proxy: counted in
	 * arcproxy_accesslog_errors_total, said once per log file. */
	__atomic_add_fetch(&w->errors, 1, __ATOMIC_RELAXED);
	if (__atomic_exchange_n(&w->log->warned, 1, __ATOMIC_RELAXED))
		return;
	if (n == -1)
		log_warn("access log: lost %zu bytes of log lines (counted in "
		    "arcproxy_accesslog_errors_total; said once)", len);
	else
		log_warnx("access log: short write, %zd of %zu bytes (counted "
		    "in arcproxy_accesslog_errors_total; said once)", n, len);
}

uint64_t
accesslog_writer_errors(const struct accesslog_writer *w)
{
	return __atomic_load_n(&w->errors, __ATOMIC_RELAXED);
}

static void
accesslog_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	accesslog_flush(arg);
}

struct accesslog_writer *
accesslog_writer_new(struct event_base *base, struct accesslog *l)
{
	struct accesslog_writer	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	if ((w->buf = evbuffer_new()) == NULL ||
	    (w->timer = evtimer_new(base, accesslog_timer, w)) == NULL) {
		evbuffer_free(w->buf);
		free(w);
		return NULL;
	}
	w->log = accesslog_ref(l);
	return w;
}

void
accesslog_writer_set(struct accesslog_writer *w, struct accesslog *l)
{
	accesslog_flush(w);
	accesslog_unref(w->log);
	w->log = accesslog_ref(l);
}

void
accesslog_writer_free(struct accesslog_writer *w)
{
	if (w == NULL)
		return;
	accesslog_flush(w);
	accesslog_unref(w->log);
	evbuffer_free(w->buf);
	event_free(w->timer);
	free(w);
}

void
accesslog_format(struct evbuffer *out, const struct accesslog_entry *e)
{
	struct tm	tm;
	char		stamp[32];

	gmtime_r(&e->start.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	evbuffer_add_printf(out, "%s.%03ldZ %s %s %.2048s %s %d %llu %llu %lld %s\n",
	    stamp, (long)e->start.tv_usec / 1000, e->client, e->method, e->target,
	    e->route, e->status, (unsigned long long)e->bytes_up,
	    (unsigned long long)e->bytes_down, e->duration_ms, e->error);
}

void
accesslog_write(struct accesslog_writer *w, const struct accesslog_entry *e)
{
	struct timeval	tv = { 0, ACCESSLOG_FLUSH_MS * 1000 };

	if (w->log->fd == -1)
		return;
	accesslog_format(w->buf, e);
	if (evbuffer_get_length(w->buf) >= ACCESSLOG_FLUSH_BYTES)
		accesslog_flush(w);
	else if (!evtimer_pending(w->timer, NULL))
		evtimer_add(w->timer, &tv);
}
