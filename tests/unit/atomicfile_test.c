/* atomicfile_test.c -- atomic writes: content, exact mode, no temp left behind, nothing planted followed, owner on the fd, and reads with a size bound. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "unit.h"

static char dir[64];

static void
test_write_and_read(void)
{
	char		 path[128], err[256], *s;
	struct stat	 st;
	size_t		 len;
	DIR		*d;
	struct dirent	*e;
	int		 files = 0;

	snprintf(dir, sizeof(dir), "/tmp/atomicfile_test.%d", (int)getpid());
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	CU_ASSERT_EQUAL_FATAL(atomicfile_write(path, "old", 3, 0644, err, sizeof(err)), 0);
	umask(077);
	CU_ASSERT_EQUAL_FATAL(atomicfile_write(path, "{\"new\":1}", 9, 0640, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0640);	/* despite the umask */
	s = atomicfile_read(path, 1024, &len, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(len, 9);
	CU_ASSERT_STRING_EQUAL(s, "{\"new\":1}");
	free(s);
	/* A bound smaller than the file is an error, not a truncation. */
	CU_ASSERT_PTR_NULL(atomicfile_read(path, 4, &len, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "larger than expected"));
	d = opendir(dir);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			files++;
	closedir(d);
	CU_ASSERT_EQUAL(files, 1);	/* no temp file left */
	unlink(path);
}

static void
test_errors_name_the_path(void)
{
	char	err[256];

	CU_ASSERT_EQUAL(atomicfile_write("/nonexistent/dir/x", "a", 1, 0600, err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/dir/x"));
	CU_ASSERT_PTR_NULL(atomicfile_read("/nonexistent/x", 10, NULL, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/x"));
}

static void
put(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

static int
same_text(const char *path, const char *text)
{
	char	buf[64];
	int	fd = open(path, O_RDONLY);
	ssize_t	n = fd == -1 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd != -1)
		close(fd);
	if (n < 0)
		return 0;
	buf[n] = '\0';
	return strcmp(buf, text) == 0;
}

/*
 * Another user who may write the directory plants symlinks where the temp
 * file of a predictable name would go (<name>.tmp.<pid>, for the pids to
 * come): the victim they point at is never truncated nor written.
 */
static void
test_planted_temp_symlinks_not_followed(void)
{
	char		 path[128], victim[128], link[160], err[256];
	struct stat	 before, after;
	int		 i;

	snprintf(path, sizeof(path), "%s/machine.json", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	put(victim, "root's file");
	chmod(victim, 0600);
	stat(victim, &before);
	for (i = 0; i < 4; i++) {
		snprintf(link, sizeof(link), "%s.tmp.%d", path, (int)getpid() + i);
		CU_ASSERT_EQUAL_FATAL(symlink(victim, link), 0);
	}
	CU_ASSERT_EQUAL(atomicfile_write(path, "{}", 2, 0644, err, sizeof(err)), 0);
	CU_ASSERT(same_text(victim, "root's file"));
	CU_ASSERT(same_text(path, "{}"));
	stat(victim, &after);
	CU_ASSERT_EQUAL(after.st_mode, before.st_mode);
	CU_ASSERT_EQUAL(after.st_uid, before.st_uid);
	CU_ASSERT_EQUAL(after.st_size, before.st_size);
	for (i = 0; i < 4; i++) {
		snprintf(link, sizeof(link), "%s.tmp.%d", path, (int)getpid() + i);
		unlink(link);
	}
	unlink(path);
	unlink(victim);
}

/* writeat: owner and mode set on the fd, no fsync asked, a name with a '/'
 * refused, and the temp name is recognised for sweeping. */
static void
test_writeat(void)
{
	char		 path[128], err[256];
	struct stat	 st;
	long		 pid;
	int		 dfd = open(dir, O_RDONLY | O_DIRECTORY);

	CU_ASSERT_FATAL(dfd != -1);
	CU_ASSERT_EQUAL(atomicfile_writeat(dfd, "k.key", "s", 1, 0640,
	    ATOMICFILE_KEEP_UID, getegid(), ATOMICFILE_NOSYNC, err,
	    sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/k.key", dir);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0640);
	CU_ASSERT_EQUAL(st.st_gid, getegid());
	unlink(path);
	CU_ASSERT_EQUAL(atomicfile_writeat(dfd, "a/b", "s", 1, 0640,
	    ATOMICFILE_KEEP_UID, ATOMICFILE_KEEP_GID, 0, err, sizeof(err)), -1);
	/* A symlink planted at the name itself is replaced, not followed. */
	snprintf(path, sizeof(path), "%s/victim", dir);
	put(path, "v");
	CU_ASSERT_EQUAL(symlinkat(path, dfd, "state"), 0);
	CU_ASSERT_EQUAL(atomicfile_writeat(dfd, "state", "new", 3, 0644,
	    ATOMICFILE_KEEP_UID, ATOMICFILE_KEEP_GID, 0, err, sizeof(err)), 0);
	CU_ASSERT(same_text(path, "v"));
	CU_ASSERT_PTR_NULL(atomicfile_readat(dfd, "nothing", 10, NULL, err,
	    sizeof(err)));
	unlink(path);
	CU_ASSERT_EQUAL(symlinkat("state", dfd, "link"), 0);
	/* readat never follows one either. */
	CU_ASSERT_PTR_NULL(atomicfile_readat(dfd, "link", 10, NULL, err,
	    sizeof(err)));
	unlinkat(dfd, "link", 0);
	unlinkat(dfd, "state", 0);
	CU_ASSERT(atomicfile_is_temp("agent.conf.tmp.12.00ff", "agent.conf", &pid));
	CU_ASSERT_EQUAL(pid, 12);
	CU_ASSERT(atomicfile_is_temp("agent.conf.tmp.12", "agent.conf", &pid));
	CU_ASSERT(!atomicfile_is_temp("agent.conf.tmp.x", "agent.conf", &pid));
	CU_ASSERT(!atomicfile_is_temp("other.tmp.12", "agent.conf", &pid));
	close(dfd);
}

static const struct unit_test tests[] = {
	{ "write, mode and read back", test_write_and_read },
	{ "errors name the path", test_errors_name_the_path },
	{ "planted temp symlinks are not followed",
	    test_planted_temp_symlinks_not_followed },
	{ "writeat: owner, mode, names", test_writeat },
	{ NULL, NULL }
};

int
main(void)
{
	int	rc = unit_main("atomicfile", tests);

	rmdir(dir);
	return rc;
}
