/* accesslog_test.c -- the access-log line: its fields in order, the UTC stamp, the target cut at 2048 bytes; lost writes counted. */
#include <sys/resource.h>
#include <sys/stat.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static const struct unit_test tests[] = {
	{ "a line's fields, in order", test_line },
	{ "a long target is cut, the line stays one line", test_long_target_cut },
	{ "a failed or short write is counted", test_lost_write_counted },
	{ NULL, NULL }
};

int
main(void)
{
	log_init("accesslog_test", 1, LOG_LEVEL_INFO);
	return unit_main("accesslog", tests);
}
