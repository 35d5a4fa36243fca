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
#define ACCESSLOG_TARGET_MAX	2048	/* a longer target is cut */

struct accesslog {
	int	refs;		/* atomic */
	int	fd;		/* O_APPEND; -1 when off */
	int	own_fd;
	int	warned;		/* atomic: a lost write was logged */
};

/* The stamp of the last second a line was written in: the lines of one
 * second after the first cost no date arithmetic. */
struct accesslog_stamp_cache {
	int			 valid;
	time_t			 sec;
	size_t			 len;
	char			 text[32];	/* as accesslog_stamp() writes it */
};

struct accesslog_writer {
	struct accesslog	*log;
	struct evbuffer		*buf;
	struct event		*timer;
	uint64_t		 errors;	/* atomic: lost writes */
	int			 timer_on;	/* timer added and not fired yet */
	struct accesslog_stamp_cache stamp;
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
	/* Named outside the state dir: as root, in a folder only root can
	 * change the way to (the folder itself may be arcproxy's). */
	if (dfd == -1 && geteuid() == 0)
		dfd = safedir_open_in_trusted(dirname(dir), why, sizeof(why));
	else if (dfd == -1 && (dfd = open(dirname(dir), O_RDONLY |
	    O_DIRECTORY | O_CLOEXEC)) == -1)
		snprintf(why, sizeof(why), "%s", strerror(errno));
	if (dfd == -1) {
		snprintf(err, errlen, "access log %s: %s", path, why);
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
	struct accesslog_writer	*w = arg;

	(void)fd;
	(void)what;
	w->timer_on = 0;
	accesslog_flush(w);
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

/* "00" to "99": two digits per division. */
static const char accesslog_pairs[201] =
    "0001020304050607080910111213141516171819"
    "2021222324252627282930313233343536373839"
    "4041424344454647484950515253545556575859"
    "6061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* v in decimal at p; returns the end. */
static char *
accesslog_u64(char *p, unsigned long long v)
{
	char		tmp[20];
	size_t		n = sizeof(tmp);
	unsigned	r;

	while (v >= 100) {
		r = (unsigned)(v % 100);
		v /= 100;
		n -= 2;
		memcpy(tmp + n, accesslog_pairs + 2 * r, 2);
	}
	if (v >= 10) {
		n -= 2;
		memcpy(tmp + n, accesslog_pairs + 2 * v, 2);
	} else
		tmp[--n] = (char)('0' + v);
	while (n < sizeof(tmp))
		*p++ = tmp[n++];
	return p;
}

static char *
accesslog_i64(char *p, long long v)
{
	if (v >= 0)
		return accesslog_u64(p, (unsigned long long)v);
	*p++ = '-';
	return accesslog_u64(p, -(unsigned long long)v);
}

/* n digits of v, zero-padded. */
static char *
accesslog_digits(char *p, unsigned v, int n)
{
	int	i;

	for (i = n - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + n;
}

static char *
accesslog_str(char *p, const char *s, size_t len)
{
	memcpy(p, s, len);
	p[len] = ' ';
	return p + len + 1;
}

/*
 * "YYYY-MM-DDTHH:MM:SS" of a UTC second (strftime's %Y-%m-%dT%H:%M:%S),
 * without gmtime_r and strftime: the civil date of a day count (Howard
 * Hinnant's days_from_civil, inverted).  Years before 1970 or past 9999
 * take the library's way; returns the stamp's end.
 */
static char *
accesslog_stamp(char *p, time_t t)
{
	struct tm	tm;
	long long	days, secs, era, doe, yoe, doy, mp, y;
	unsigned	d, mo;

	if (t < 0 || t >= 253402300800LL) {	/* 10000-01-01T00:00:00Z */
		if (gmtime_r(&t, &tm) == NULL)
			memset(&tm, 0, sizeof(tm));
		return p + strftime(p, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	}
	days = (long long)t / 86400 + 719468;	/* from 0000-03-01 */
	secs = (long long)t % 86400;
	era = days / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	mo = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	y = yoe + era * 400 + (mo <= 2);
	p = accesslog_digits(p, (unsigned)y, 4);
	*p++ = '-';
	p = accesslog_digits(p, mo, 2);
	*p++ = '-';
	p = accesslog_digits(p, d, 2);
	*p++ = 'T';
	p = accesslog_digits(p, (unsigned)(secs / 3600), 2);
	*p++ = ':';
	p = accesslog_digits(p, (unsigned)(secs / 60 % 60), 2);
	*p++ = ':';
	return accesslog_digits(p, (unsigned)(secs % 60), 2);
}

/* The stamp of t at p, from the cache when it holds t's second (cache may
 * be NULL); returns the stamp's end. */
static char *
accesslog_stamp_cached(char *p, time_t t, struct accesslog_stamp_cache *cache)
{
	if (cache == NULL)
		return accesslog_stamp(p, t);
	if (!cache->valid || cache->sec != t) {
		cache->len = (size_t)(accesslog_stamp(cache->text, t) -
		    cache->text);
		cache->sec = t;
		cache->valid = 1;
	}
	memcpy(p, cache->text, cache->len);
	return p + cache->len;
}

/*
 * The line is the one "%s.%03ldZ %s %s %.2048s %s %d %llu %llu %lld %s\n"
 * gives (the stamp as strftime's "%Y-%m-%dT%H:%M:%S" of gmtime), put
 * together by hand: printf was a tenth of the proxy's own CPU per small
 * GET.  tests/unit/accesslog_test.c holds the two to the same bytes.
 */
static void
accesslog_format_cached(struct evbuffer *out, const struct accesslog_entry *e,
    struct accesslog_stamp_cache *cache)
{
	const char		*client = e->client ? e->client : "(null)";
	const char		*method = e->method ? e->method : "(null)";
	const char		*target = e->target ? e->target : "(null)";
	const char		*route = e->route ? e->route : "(null)";
	const char		*error = e->error ? e->error : "(null)";
	size_t			 lc = strlen(client), lm = strlen(method);
	size_t			 lt = strnlen(target, ACCESSLOG_TARGET_MAX);
	size_t			 lr = strlen(route), le = strlen(error);
	struct evbuffer_iovec	 v;
	char			*p;
	long			 ms;

	/* stamp and milliseconds, 4 numbers of up to 20 bytes and a sign,
	 * the status, spaces, LF */
	if (evbuffer_reserve_space(out, 32 + 24 + lc + lm + lt + lr + le +
	    4 * 21 + 12 + 6, &v, 1) != 1)
		return;
	p = accesslog_stamp_cached(v.iov_base, e->start.tv_sec, cache);
	*p++ = '.';
	ms = (long)e->start.tv_usec / 1000;
	if (ms >= 0 && ms < 1000)
		p = accesslog_digits(p, (unsigned)ms, 3);
	else				/* not a timeval's: as printf has it */
		p += snprintf(p, 24, "%03ld", ms);
	*p++ = 'Z';
	*p++ = ' ';
	p = accesslog_str(p, client, lc);
	p = accesslog_str(p, method, lm);
	p = accesslog_str(p, target, lt);
	p = accesslog_str(p, route, lr);
	p = accesslog_i64(p, e->status);
	*p++ = ' ';
	p = accesslog_u64(p, e->bytes_up);
	*p++ = ' ';
	p = accesslog_u64(p, e->bytes_down);
	*p++ = ' ';
	p = accesslog_i64(p, e->duration_ms);
	*p++ = ' ';
	memcpy(p, error, le);
	p[le] = '\n';
	v.iov_len = (size_t)(p + le + 1 - (char *)v.iov_base);
	evbuffer_commit_space(out, &v, 1);
}

void
accesslog_format(struct evbuffer *out, const struct accesslog_entry *e)
{
	accesslog_format_cached(out, e, NULL);
}

void
accesslog_write(struct accesslog_writer *w, const struct accesslog_entry *e)
{
	struct timeval	tv = { 0, ACCESSLOG_FLUSH_MS * 1000 };

	if (w->log->fd == -1)
		return;
	accesslog_format_cached(w->buf, e, &w->stamp);
	if (evbuffer_get_length(w->buf) >= ACCESSLOG_FLUSH_BYTES)
		accesslog_flush(w);
	else if (!w->timer_on) {
		/* A flag, not evtimer_pending(): a locked call per line. */
		evtimer_add(w->timer, &tv);
		w->timer_on = 1;
	}
}
