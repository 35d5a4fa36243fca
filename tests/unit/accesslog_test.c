/* accesslog_test.c -- the access-log line: its fields in order, the UTC stamp, the target cut at 2048 bytes, the same bytes as printf's; lost writes counted. */
#include <sys/resource.h>
#include <sys/stat.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "accesslog.h"
#include "log.h"
#include "unit.h"

static char *
format(const struct accesslog_entry *e)
{
	struct evbuffer	*b = evbuffer_new();
	size_t		 len;
	char		*s;

	accesslog_format(b, e);
	len = evbuffer_get_length(b);
	s = calloc(1, len + 1);
	evbuffer_remove(b, s, len);
	evbuffer_free(b);
	return s;
}

static void
entry(struct accesslog_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->start.tv_sec = 1700000000;		/* 2023-11-14T22:13:20Z */
	e->start.tv_usec = 123999;
	e->client = "127.0.0.1:50000";
	e->method = "CONNECT";
	e->target = "management.azure.com:443";
	e->route = "gateway";
	e->status = 200;
	e->bytes_up = 1234;
	e->bytes_down = 18446744073709551615ULL;
	e->duration_ms = 42;
	e->error = "-";
}

static void
test_line(void)
{
	struct accesslog_entry	 e;
	char			*s;

	entry(&e);
	s = format(&e);
	CU_ASSERT_STRING_EQUAL(s, "2023-11-14T22:13:20.123Z 127.0.0.1:50000 "
	    "CONNECT management.azure.com:443 gateway 200 1234 "
	    "18446744073709551615 42 -\n");
	free(s);
	e.start.tv_sec = 0;
	e.start.tv_usec = 7000;
	e.method = "GET";
	e.target = "http://example.com/";
	e.route = "deny";
	e.status = 403;
	e.bytes_up = e.bytes_down = 0;
	e.duration_ms = 0;
	e.error = "route_denied";
	s = format(&e);
	CU_ASSERT_STRING_EQUAL(s, "1970-01-01T00:00:00.007Z 127.0.0.1:50000 GET "
	    "http://example.com/ deny 403 0 0 0 route_denied\n");
	free(s);
}

static void
test_long_target_cut(void)
{
	struct accesslog_entry	 e;
	char			*target, *s, *p;

	entry(&e);
	target = malloc(5001);
	memset(target, 'a', 5000);
	target[5000] = '\0';
	e.target = target;
	s = format(&e);
	/* Whatever the client sent, one line, the target at most 2048 bytes. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(p = strstr(s, "CONNECT "));
	p += strlen("CONNECT ");
	CU_ASSERT_EQUAL(strspn(p, "a"), 2048);
	CU_ASSERT_EQUAL(strncmp(p + 2048, " gateway 200 ", 13), 0);
	CU_ASSERT_PTR_EQUAL(strchr(s, '\n'), s + strlen(s) - 1);
	free(target);
	free(s);
}

/* The line as accesslog_format made it with printf, before its formatter
 * was written by hand: the reference every line must match byte for byte. */
static char *
format_printf(const struct accesslog_entry *e)
{
	struct tm	tm;
	char		stamp[32], *s;
	int		n;

	if (gmtime_r(&e->start.tv_sec, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = asprintf(&s, "%s.%03ldZ %s %s %.2048s %s %d %llu %llu %lld %s\n",
	    stamp, (long)e->start.tv_usec / 1000, e->client, e->method, e->target,
	    e->route, e->status, (unsigned long long)e->bytes_up,
	    (unsigned long long)e->bytes_down, e->duration_ms, e->error);
	return n == -1 ? NULL : s;
}

static int
same_as_printf(const struct accesslog_entry *e)
{
	char	*a = format(e), *b = format_printf(e);
	int	 same = a != NULL && b != NULL && strcmp(a, b) == 0;

	if (!same)
		fprintf(stderr, "\n  by hand: %.200s  printf:  %.200s", a, b);
	free(a);
	free(b);
	return same;
}

static void
test_same_as_printf(void)
{
	static const time_t	 times[] = {
		0, 1, 59, 60, 3599, 3600, 86399, 86400, 68169600 /* 1972-02-29 */,
		951782399, 951782400 /* 2000-02-29 */, 951868800,
		4107456000 /* 2100-02-28 */, 4107542400 /* 2100-03-01 */,
		1700000000, 2147483647, 2147483648, 253402300799 /* 9999-12-31T23:59:59 */,
		253402300800 /* 10000-01-01 */, 253402300801, 99999999999999LL, -1, -86401,
	};
	static const long	 usecs[] = { 0, 999, 1000, 7000, 123999, 999999,
		1000000, 1234567, -1, -1000, -123456 };
	static const long long	 durations[] = { 0, 1, -1, 42, LLONG_MAX, LLONG_MIN };
	static const int	 statuses[] = { 0, 200, 403, 999, -1, INT_MAX, INT_MIN };
	struct accesslog_entry	 e;
	char			*target;
	size_t			 i, lens[] = { 0, 1, 2047, 2048, 2049, 5000 };
	long long		 d;
	int			 bad = 0;

	entry(&e);
	for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		e.start.tv_sec = times[i];
		bad += !same_as_printf(&e);
	}
	/* Every day from 1970 to 2300, at a second that moves through the
	 * day, and then a day in each 97 to 9999 and past it. */
	for (d = 0; d < 120600; d++) {
		e.start.tv_sec = (time_t)(d * 86400 + (d * 7919) % 86400);
		bad += !same_as_printf(&e);
	}
	for (d = 120600; d < 2932897 + 400; d += 97) {
		e.start.tv_sec = (time_t)(d * 86400 + 86399 - d % 86400);
		bad += !same_as_printf(&e);
	}
	e.start.tv_sec = 1700000000;
	for (i = 0; i < sizeof(usecs) / sizeof(usecs[0]); i++) {
		e.start.tv_usec = usecs[i];
		bad += !same_as_printf(&e);
	}
	for (i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		e.duration_ms = durations[i];
		bad += !same_as_printf(&e);
	}
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		e.status = statuses[i];
		bad += !same_as_printf(&e);
	}
	e.bytes_up = 0;
	e.bytes_down = 18446744073709551615ULL;
	bad += !same_as_printf(&e);
	e.bytes_up = 10000000000000000000ULL;
	e.bytes_down = 9;
	bad += !same_as_printf(&e);
	target = malloc(5001);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memset(target, 'x', lens[i]);
		target[lens[i]] = '\0';
		e.target = target;
		bad += !same_as_printf(&e);
	}
	free(target);
	e.client = e.method = e.route = e.error = "";
	e.target = "";
	bad += !same_as_printf(&e);
	e.client = "[::1]:443";
	e.method = "-";
	e.target = "-";
	e.route = "-";
	e.error = "client_abort";
	bad += !same_as_printf(&e);
	CU_ASSERT_EQUAL(bad, 0);
}

/* A file size limit makes the kernel refuse or cut the write (EFBIG), as
 * a full disk would: the lines are lost, and counted. */
static void
test_lost_write_counted(void)
{
	struct accesslog_entry	 e;
	struct accesslog	*l;
	struct accesslog_writer	*w;
	struct event_base	*base;
	struct rlimit		 old, small;
	struct stat		 st;
	char			 dir[64], path[128], err[256];
	int			 i;

	snprintf(dir, sizeof(dir), "/tmp/accesslog_test.%d", (int)getpid());
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/access.log", dir);
	base = event_base_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(l = accesslog_open(path, -1, (uid_t)-1,
	    (gid_t)-1, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL_FATAL(w = accesslog_writer_new(base, l));
	entry(&e);
	accesslog_write(w, &e);
	accesslog_flush(w);
	CU_ASSERT_EQUAL(accesslog_writer_errors(w), 0);

	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	small.rlim_cur = 300;
	small.rlim_max = old.rlim_max;
	CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &small), 0);
	for (i = 0; i < 3; i++) {		/* 3 lines: a short write */
		accesslog_write(w, &e);
		accesslog_write(w, &e);
		accesslog_flush(w);
	}
	setrlimit(RLIMIT_FSIZE, &old);
	/* The first flush comes short (the file ends at 300 bytes), the
	 * next two fail outright: three lost writes. */
	CU_ASSERT_EQUAL(accesslog_writer_errors(w), 3);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_size, 300);

	accesslog_write(w, &e);
	accesslog_flush(w);
	CU_ASSERT_EQUAL(accesslog_writer_errors(w), 3);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_size, 300 + 117);
	accesslog_writer_free(w);
	accesslog_unref(l);
	event_base_free(base);
	unlink(path);
	rmdir(dir);
}

/* Named outside the state dir, as root: the way to its folder is root's,
 * the folder (arcproxy's, say) opened without following a symlink. */
static void
test_open_outside_state(void)
{
	struct accesslog	*l;
	char			 dir[64], path[160], err[512], want[512];

	if (geteuid() != 0)
		return;
	snprintf(dir, sizeof(dir), "/tmp/accesslog_test.o%d", (int)getpid());
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/logs", dir);
	CU_ASSERT_EQUAL_FATAL(mkdir(path, 0755), 0);
	CU_ASSERT_EQUAL(chown(path, 65534, 65534), 0);
	snprintf(path, sizeof(path), "%s/link", dir);
	CU_ASSERT_EQUAL_FATAL(symlink("logs", path), 0);

	snprintf(path, sizeof(path), "%s/logs/access.log", dir);
	l = accesslog_open(path, -1, (uid_t)-1, (gid_t)-1, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(l);
	accesslog_unref(l);
	unlink(path);
	snprintf(path, sizeof(path), "%s/link/access.log", dir);
	CU_ASSERT_PTR_NULL(accesslog_open(path, -1, (uid_t)-1, (gid_t)-1, err,
	    sizeof(err)));
	snprintf(want, sizeof(want), "access log %s: %s/link: a symbolic link, "
	    "not followed", path, dir);
	CU_ASSERT_STRING_EQUAL(err, want);
	snprintf(path, sizeof(path), "%s/logs", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/link", dir);
	unlink(path);
	rmdir(dir);
}

static const struct unit_test tests[] = {
	{ "a line's fields, in order", test_line },
	{ "a long target is cut, the line stays one line", test_long_target_cut },
	{ "the same bytes as the printf format, for tricky fields", test_same_as_printf },
	{ "a failed or short write is counted", test_lost_write_counted },
	{ "outside the state dir: root's way, no symlink", test_open_outside_state },
	{ NULL, NULL }
};

int
main(void)
{
	log_init("accesslog_test", 1, LOG_LEVEL_INFO);
	return unit_main("accesslog", tests);
}
