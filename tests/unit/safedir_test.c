/* safedir_test.c -- directories and files another user can change: made or opened without following a symlink, owner and mode set on the fd. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safedir.h"
#include "unit.h"

static char dir[64];

static void
test_make_and_reopen(void)
{
	char		 err[256];
	struct stat	 st;
	int		 dfd, fd, again;

	dfd = safedir_open(dir, err, sizeof(err));
	CU_ASSERT_FATAL(dfd != -1);
	umask(077);
	fd = safedir_make(dfd, "sub", 0750, SAFEDIR_KEEP_UID, getegid(), err,
	    sizeof(err));
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_EQUAL(fstat(fd, &st), 0);
	CU_ASSERT(S_ISDIR(st.st_mode));
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0750);	/* despite the umask */
	/* There already: opened again, its mode put right. */
	fchmod(fd, 0777);
	again = safedir_make(dfd, "sub", 0750, SAFEDIR_KEEP_UID,
	    SAFEDIR_KEEP_GID, err, sizeof(err));
	CU_ASSERT_FATAL(again != -1);
	CU_ASSERT_EQUAL(fstat(again, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0750);
	close(again);
	close(fd);
	unlinkat(dfd, "sub", AT_REMOVEDIR);
	close(dfd);
}

/* A symlink in place of the directory (to a victim directory) is refused:
 * the victim's owner and mode stay. */
static void
test_symlinked_dir_refused(void)
{
	char		 err[256], victim[128];
	struct stat	 before, after;
	int		 dfd;

	snprintf(victim, sizeof(victim), "%s/victim", dir);
	mkdir(victim, 0700);
	stat(victim, &before);
	dfd = safedir_open(dir, err, sizeof(err));
	CU_ASSERT_EQUAL_FATAL(symlinkat(victim, dfd, "tokens"), 0);
	CU_ASSERT_EQUAL(safedir_make(dfd, "tokens", 0755, SAFEDIR_KEEP_UID,
	    SAFEDIR_KEEP_GID, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "tokens"));
	stat(victim, &after);
	CU_ASSERT_EQUAL(after.st_mode, before.st_mode);
	CU_ASSERT_EQUAL(after.st_uid, before.st_uid);
	CU_ASSERT_EQUAL(safedir_open(dir, err, sizeof(err)) >= 0, 1);
	unlinkat(dfd, "tokens", 0);
	/* safedir_open refuses a symlink as the last component too. */
	CU_ASSERT_EQUAL(symlinkat(victim, dfd, "link"), 0);
	snprintf(victim, sizeof(victim), "%s/link", dir);
	CU_ASSERT_EQUAL(safedir_open(victim, err, sizeof(err)), -1);
	unlinkat(dfd, "link", 0);
	unlinkat(dfd, "victim", AT_REMOVEDIR);
	close(dfd);
}

/* A file: created with its mode on the fd; a symlink, a FIFO or a second
 * hard link in its place are refused and the victim is untouched. */
static void
test_open_file(void)
{
	char		 err[256], victim[128];
	struct stat	 st;
	int		 dfd, fd;

	dfd = safedir_open(dir, err, sizeof(err));
	CU_ASSERT_FATAL(dfd != -1);
	fd = safedir_open_file(dfd, "a.log", O_WRONLY | O_APPEND | O_CREAT,
	    0640, SAFEDIR_KEEP_UID, SAFEDIR_KEEP_GID, err, sizeof(err));
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_EQUAL(fstat(fd, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0640);
	close(fd);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	fd = open(victim, O_WRONLY | O_CREAT, 0600);
	CU_ASSERT_EQUAL(write(fd, "v", 1), 1);
	close(fd);
	CU_ASSERT_EQUAL(symlinkat(victim, dfd, "s.log"), 0);
	CU_ASSERT_EQUAL(safedir_open_file(dfd, "s.log", O_WRONLY | O_APPEND |
	    O_CREAT, 0640, SAFEDIR_KEEP_UID, SAFEDIR_KEEP_GID, err,
	    sizeof(err)), -1);
	CU_ASSERT_EQUAL(linkat(dfd, "victim", dfd, "h.log", 0), 0);
	CU_ASSERT_EQUAL(safedir_open_file(dfd, "h.log", O_WRONLY | O_APPEND |
	    O_CREAT, 0640, SAFEDIR_KEEP_UID, SAFEDIR_KEEP_GID, err,
	    sizeof(err)), -1);
	CU_ASSERT_EQUAL(mkfifoat(dfd, "f.log", 0600), 0);
	CU_ASSERT_EQUAL(safedir_open_file(dfd, "f.log", O_WRONLY | O_APPEND |
	    O_CREAT, 0640, SAFEDIR_KEEP_UID, SAFEDIR_KEEP_GID, err,
	    sizeof(err)), -1);
	CU_ASSERT_EQUAL(stat(victim, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
	CU_ASSERT_EQUAL(st.st_size, 1);
	unlinkat(dfd, "a.log", 0);
	unlinkat(dfd, "s.log", 0);
	unlinkat(dfd, "h.log", 0);
	unlinkat(dfd, "f.log", 0);
	unlinkat(dfd, "victim", 0);
	close(dfd);
}

static const struct unit_test tests[] = {
	{ "make, mode on the fd, reopen", test_make_and_reopen },
	{ "a symlinked directory is refused", test_symlinked_dir_refused },
	{ "files: no symlink, FIFO or hard link", test_open_file },
	{ NULL, NULL }
};

int
main(void)
{
	int	rc;

	snprintf(dir, sizeof(dir), "/tmp/safedir_test.%d", (int)getpid());
	mkdir(dir, 0700);
	rc = unit_main("safedir", tests);
	rmdir(dir);
	return rc;
}
