/* notifywatch_test.c -- the hints of <run>/notify: watched once the directory is there, a write of the topic calls back and another name does not, and the gap a hint waits. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "notifywatch.h"
#include "unit.h"

static char	dir[64];
static int	hints;

static void
hinted(void *arg)
{
	(void)arg;
	hints++;
}

static void
put(const char *name)
{
	char	path[160];
	int	fd;

	snprintf(path, sizeof(path), "%s/" NOTIFYWATCH_DIR "/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT(write(fd, "1\n", 2) == 2);
	close(fd);
}

/* Runs the loop until it has nothing ready, at most a second. */
static void
spin(struct event_base *base)
{
	struct timeval	tv = { 0, 100000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void
test_topic_hints(void)
{
	struct event_base	*base;
	struct notifywatch	*w;
	char			 path[160];

	snprintf(path, sizeof(path), "%s/" NOTIFYWATCH_DIR, dir);
	CU_ASSERT_FATAL((base = event_base_new()) != NULL);
	w = notifywatch_new(base, dir, "extensions", hinted, NULL);
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT_FATAL(notifywatch_usable(w));
	CU_ASSERT_STRING_EQUAL(notifywatch_path(w), path);
	/* Not there yet: tried again later. */
	CU_ASSERT_EQUAL(notifywatch_arm(w), -1);
	CU_ASSERT_EQUAL_FATAL(mkdir(path, 0755), 0);
	CU_ASSERT_EQUAL(notifywatch_arm(w), 1);
	CU_ASSERT_EQUAL(notifywatch_arm(w), 0);

	hints = 0;
	put("guestConfiguration");
	spin(base);
	CU_ASSERT_EQUAL(hints, 0);
	put("extensions");
	put("extensions");
	spin(base);
	CU_ASSERT(hints >= 1 && hints <= 2);

	/* The directory gone and made again: watched anew. */
	snprintf(path, sizeof(path), "%s/" NOTIFYWATCH_DIR "/extensions", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/" NOTIFYWATCH_DIR "/guestConfiguration",
	    dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/" NOTIFYWATCH_DIR, dir);
	CU_ASSERT_EQUAL(rmdir(path), 0);
	spin(base);
	CU_ASSERT_EQUAL(notifywatch_arm(w), -1);
	CU_ASSERT_EQUAL_FATAL(mkdir(path, 0755), 0);
	CU_ASSERT_EQUAL(notifywatch_arm(w), 1);
	hints = 0;
	put("extensions");
	spin(base);
	CU_ASSERT_EQUAL(hints, 1);

	notifywatch_free(w);
	notifywatch_free(NULL);
	event_base_free(base);
	snprintf(path, sizeof(path), "%s/" NOTIFYWATCH_DIR "/extensions", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/" NOTIFYWATCH_DIR, dir);
	rmdir(path);
}

/* Root watches nothing that another user can swap: not <run>/notify under
 * a directory that user owns (the path could name any directory), nor a
 * symlink in notify's place. */
static void
test_root_refuses_a_path_another_user_can_change(void)
{
	struct event_base	*base;
	struct notifywatch	*w;
	char			 theirs[128], run[160], path[192], target[160];

	if (geteuid() != 0)
		return;
	snprintf(theirs, sizeof(theirs), "%s/theirs", dir);
	snprintf(run, sizeof(run), "%s/run", theirs);
	snprintf(path, sizeof(path), "%s/" NOTIFYWATCH_DIR, run);
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	CU_ASSERT_FATAL(mkdir(theirs, 0755) == 0 && mkdir(run, 0755) == 0 &&
	    mkdir(path, 0755) == 0 && mkdir(target, 0755) == 0);
	CU_ASSERT_FATAL(chown(theirs, 65534, 65534) == 0);
	CU_ASSERT_FATAL((base = event_base_new()) != NULL);
	w = notifywatch_new(base, run, "extensions", hinted, NULL);
	CU_ASSERT_FATAL(w != NULL && notifywatch_usable(w));
	CU_ASSERT_EQUAL(notifywatch_arm(w), -1);
	/* Root's all the way: watched. */
	CU_ASSERT_FATAL(chown(theirs, 0, 0) == 0);
	CU_ASSERT_EQUAL(notifywatch_arm(w), 1);
	notifywatch_free(w);

	CU_ASSERT_FATAL(rmdir(path) == 0 && symlink(target, path) == 0);
	w = notifywatch_new(base, run, "extensions", hinted, NULL);
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT_EQUAL(notifywatch_arm(w), -1);
	notifywatch_free(w);
	event_base_free(base);
	unlink(path);
	rmdir(target);
	rmdir(run);
	rmdir(theirs);
}

static void
test_wait(void)
{
	struct timespec	never = { 0, 0 }, now, long_ago;
	long long	ms;

	CU_ASSERT_EQUAL(notifywatch_wait_ms(&never, 1000), 0);
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = notifywatch_wait_ms(&now, 1000);
	CU_ASSERT(ms > 900 && ms <= 1000);
	long_ago = now;
	long_ago.tv_sec -= 2;
	CU_ASSERT_EQUAL(notifywatch_wait_ms(&long_ago, 1000), 0);
}

static const struct unit_test tests[] = {
	{ "the topic hints, another name does not", test_topic_hints },
	{ "a hint waits out the gap", test_wait },
	{ "root watches no path another user can change",
	    test_root_refuses_a_path_another_user_can_change },
	{ NULL, NULL }
};

int
main(void)
{
	int	rc;

	snprintf(dir, sizeof(dir), "/tmp/notifywatch_test.%d", (int)getpid());
	mkdir(dir, 0700);
	rc = unit_main("notifywatch", tests);
	rmdir(dir);
	return rc;
}
