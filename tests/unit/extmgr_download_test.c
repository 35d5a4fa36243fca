/* extmgr_download_test.c -- lib/download without a network: a finished partial file, retries with back-off against a dead proxy, stop, and a planted symlink. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "download.h"
#include "unit.h"

static char	dir[64];
static int	dfd = -1;

static void
fresh_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/download-test-XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CU_ASSERT_FATAL(dfd != -1);
}

static void
rm_dir(void)
{
	char	cmd[128];

	close(dfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CU_ASSERT_EQUAL(system(cmd), 0);
}

static void
put(const char *name, const char *data)
{
	int	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_EQUAL(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

static void
req_init(struct download_req *r)
{
	memset(r, 0, sizeof(*r));
	r->url = "https://packages.cloudsim.test/packages/x.zip";
	/* Nothing listens on port 1: every attempt fails at once. */
	r->proxy = "http://127.0.0.1:1";
	r->backoff_ms = 10;
	r->connect_timeout_ms = 2000;
}

static void
test_finished_partial(void)
{
	struct download_req	r;
	struct download_result	res;
	struct stat		st;
	char			err[256];

	fresh_dir();
	req_init(&r);
	r.max_bytes = 3;
	put("x.zip" DOWNLOAD_PART_SUFFIX, "abc");
	CU_ASSERT_EQUAL(download_fetch(dfd, "x.zip", &r, &res, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(res.resumed_from, 3);
	CU_ASSERT_EQUAL(res.attempts, 0);
	CU_ASSERT_EQUAL(res.bytes, 3);
	CU_ASSERT_EQUAL(fstatat(dfd, "x.zip", &st, 0), 0);
	CU_ASSERT_EQUAL(st.st_size, 3);
	CU_ASSERT_EQUAL(fstatat(dfd, "x.zip" DOWNLOAD_PART_SUFFIX, &st, 0), -1);
	rm_dir();
}

static void
test_retries_then_gives_up(void)
{
	struct download_req	r;
	struct download_result	res;
	struct stat		st;
	char			err[256];

	fresh_dir();
	req_init(&r);
	r.attempts = 3;
	r.max_bytes = 20;
	/* Longer than the package can be (20 bytes): emptied. */
	put("x.zip" DOWNLOAD_PART_SUFFIX, "this is more than ten bytes, and then some more, and more, "
	    "and more and more and more and more");
	CU_ASSERT_EQUAL(download_fetch(dfd, "x.zip", &r, &res, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(res.attempts, 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "after 3 attempts"));
	CU_ASSERT_EQUAL(fstatat(dfd, "x.zip" DOWNLOAD_PART_SUFFIX, &st, 0), 0);
	CU_ASSERT_EQUAL(st.st_size, 0);
	CU_ASSERT_EQUAL(fstatat(dfd, "x.zip", &st, 0), -1);
	rm_dir();
}

static int
stop_now(void *arg)
{
	(void)arg;
	return 1;
}

static void
test_stop(void)
{
	struct download_req	r;
	struct download_result	res;
	char			err[256];
	void			*out = NULL;
	size_t			 len;

	fresh_dir();
	req_init(&r);
	r.stop = stop_now;
	CU_ASSERT_EQUAL(download_fetch(dfd, "x.zip", &r, &res, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "stopped"));
	CU_ASSERT_EQUAL(res.attempts, 0);
	CU_ASSERT_EQUAL(download_small(&r, 1024, &out, &len, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(out);
	rm_dir();
}

static void
test_symlink_refused(void)
{
	struct download_req	r;
	struct download_result	res;
	struct stat		st;
	char			err[256], target[128];

	fresh_dir();
	req_init(&r);
	r.max_bytes = 3;
	snprintf(target, sizeof(target), "%s/target", dir);
	put("target", "abc");
	CU_ASSERT_EQUAL(symlinkat(target, dfd, "x.zip" DOWNLOAD_PART_SUFFIX), 0);
	CU_ASSERT_EQUAL(download_fetch(dfd, "x.zip", &r, &res, err, sizeof(err)), -1);
	CU_ASSERT(err[0] != '\0');
	CU_ASSERT_EQUAL(fstatat(dfd, "x.zip", &st, AT_SYMLINK_NOFOLLOW), -1);
	rm_dir();
}

static const struct unit_test tests[] = {
	{ "a finished partial file needs no network", test_finished_partial },
	{ "retries with back-off, then gives up", test_retries_then_gives_up },
	{ "stop is heard before an attempt", test_stop },
	{ "a symlink planted as the partial file", test_symlink_refused },
	{ NULL, NULL }
};

int
main(void)
{
	int	rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = unit_main("extmgr_download", tests);
	curl_global_cleanup();
	return rc;
}
