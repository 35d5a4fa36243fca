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

/* Another user's file read as data: whole and bounded, nothing else. */
static void
test_read(void)
{
	char	 err[256], *text;
	size_t	 len = 0;
	int	 dfd, fd;

	dfd = safedir_open(dir, err, sizeof(err));
	CU_ASSERT_FATAL(dfd != -1);
	fd = openat(dfd, "data", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_EQUAL(write(fd, "0123456789", 10), 10);
	close(fd);
	text = safedir_read(dfd, "data", 10, &len, err, sizeof(err));
	CU_ASSERT(text != NULL && strcmp(text, "0123456789") == 0 &&
	    len == 10);
	free(text);
	CU_ASSERT_PTR_NULL(safedir_read(dfd, "data", 9, &len, err,
	    sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err, "data: larger than expected, refused");
	CU_ASSERT_EQUAL(symlinkat("data", dfd, "link"), 0);
	CU_ASSERT_PTR_NULL(safedir_read(dfd, "link", 100, &len, err,
	    sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err, "link: a symbolic link, not followed");
	CU_ASSERT_EQUAL(linkat(dfd, "data", dfd, "hard", 0), 0);
	CU_ASSERT_PTR_NULL(safedir_read(dfd, "hard", 100, &len, err,
	    sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err, "hard: not a regular file with one link, "
	    "refused");
	/* A FIFO with a writer: refused at once, never read. */
	CU_ASSERT_EQUAL(mkfifoat(dfd, "fifo", 0600), 0);
	fd = openat(dfd, "fifo", O_RDWR);
	CU_ASSERT_PTR_NULL(safedir_read(dfd, "fifo", 100, &len, err,
	    sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err, "fifo: not a regular file with one link, "
	    "refused");
	close(fd);
	errno = 0;
	CU_ASSERT_PTR_NULL(safedir_read(dfd, "none", 100, &len, err,
	    sizeof(err)));
	CU_ASSERT_EQUAL(errno, ENOENT);
	unlinkat(dfd, "data", 0);
	unlinkat(dfd, "link", 0);
	unlinkat(dfd, "hard", 0);
	unlinkat(dfd, "fifo", 0);
	close(dfd);
}

/* A path under a directory another user owns: no symlink on the way. */
static void
test_open_under(void)
{
	char	err[256], path[128];
	int	dfd, fd;

	dfd = safedir_open(dir, err, sizeof(err));
	CU_ASSERT_FATAL(dfd != -1);
	CU_ASSERT_EQUAL(mkdirat(dfd, "u", 0700), 0);
	CU_ASSERT_EQUAL(mkdirat(dfd, "u/v", 0700), 0);
	CU_ASSERT_EQUAL(mkdirat(dfd, "elsewhere", 0700), 0);
	fd = safedir_open_under(dfd, "u/v", err, sizeof(err));
	CU_ASSERT(fd != -1 && fd != dfd);
	CU_ASSERT_EQUAL(mkdirat(fd, "made-in-v", 0700), 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/u/v/made-in-v", dir);
	CU_ASSERT_EQUAL(access(path, F_OK), 0);
	rmdir(path);
	fd = safedir_open_under(dfd, "u//v/", err, sizeof(err));
	CU_ASSERT(fd != -1);
	close(fd);
	CU_ASSERT_EQUAL(symlinkat("../elsewhere", dfd, "u/w"), 0);
	CU_ASSERT_EQUAL(safedir_open_under(dfd, "u/w", err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "u/w: a symbolic link, not followed");
	CU_ASSERT_EQUAL(safedir_open_under(dfd, "u/../elsewhere", err,
	    sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "u/../elsewhere: \"..\" refused");
	CU_ASSERT_EQUAL(safedir_open_under(dfd, "u/none", err, sizeof(err)),
	    -1);
	CU_ASSERT_STRING_EQUAL(err, "u/none: No such file or directory");
	unlinkat(dfd, "u/w", 0);
	unlinkat(dfd, "u/v", AT_REMOVEDIR);
	unlinkat(dfd, "u", AT_REMOVEDIR);
	unlinkat(dfd, "elsewhere", AT_REMOVEDIR);
	close(dfd);
}

/* Root hands a directory to a user: one that a third user owns is
 * refused, left as it was; root's or the user's own is taken. */
static void
test_take_refuses_another_users(void)
{
	char		 err[256], want[128];
	struct stat	 st;
	int		 dfd, fd;

	if (geteuid() != 0)
		return;
	dfd = safedir_open(dir, err, sizeof(err));
	CU_ASSERT_FATAL(dfd != -1);
	CU_ASSERT_FATAL(mkdirat(dfd, "theirs", 0700) == 0);
	CU_ASSERT_FATAL(fchownat(dfd, "theirs", 65534, 65534, 0) == 0);
	CU_ASSERT_EQUAL(safedir_take(dfd, "theirs", 0750, 1234, 1234, err,
	    sizeof(err)), -1);
	snprintf(want, sizeof(want), "theirs: owned by uid 65534, not root's "
	    "or uid 1234's: refused");
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT_EQUAL(fstatat(dfd, "theirs", &st, 0), 0);
	CU_ASSERT(st.st_uid == 65534 && (st.st_mode & 07777) == 0700);
	/* The user's own, and root's: taken, owner and mode set. */
	fd = safedir_take(dfd, "theirs", 0750, 65534, 65534, err, sizeof(err));
	CU_ASSERT(fd != -1);
	close(fd);
	CU_ASSERT_FATAL(fchownat(dfd, "theirs", 0, 0, 0) == 0);
	fd = safedir_take(dfd, "theirs", 0750, 1234, 1234, err, sizeof(err));
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT(fstat(fd, &st) == 0 && st.st_uid == 1234 &&
	    (st.st_mode & 07777) == 0750);
	close(fd);
	unlinkat(dfd, "theirs", AT_REMOVEDIR);
	close(dfd);
}

/* safedir_open_trusted(path) and its err, "" when it opened path. */
static void
trusted(const char *rel, char *err, size_t errlen)
{
	char	path[256];
	int	fd;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	err[0] = '\0';
	if ((fd = safedir_open_trusted(path, err, errlen)) != -1) {
		CU_ASSERT_STRING_EQUAL(err, "");
		close(fd);
	} else
		CU_ASSERT_STRING_NOT_EQUAL(err, "");
}

/* Every directory on the way must be one only root changes. */
static void
test_open_trusted(void)
{
	char		 err[512], want[512], path[256], cwd[256];
	struct stat	 a, b;
	int		 dfd, fd;

	if (geteuid() != 0)
		return;
	dfd = safedir_open(dir, err, sizeof(err));
	CU_ASSERT_FATAL(dfd != -1);
	CU_ASSERT_FATAL(mkdirat(dfd, "mine", 0755) == 0 &&
	    mkdirat(dfd, "mine/run", 0755) == 0 &&
	    mkdirat(dfd, "theirs", 0755) == 0 &&
	    mkdirat(dfd, "theirs/run", 0755) == 0 &&
	    mkdirat(dfd, "open", 0755) == 0 &&
	    mkdirat(dfd, "open/run", 0755) == 0 &&
	    mkdirat(dfd, "sticky", 0755) == 0 &&
	    mkdirat(dfd, "sticky/run", 0755) == 0);
	CU_ASSERT_FATAL(fchownat(dfd, "theirs", 65534, 65534, 0) == 0 &&
	    fchmodat(dfd, "open", 0777, 0) == 0 &&
	    fchmodat(dfd, "sticky", 01777, 0) == 0);
	CU_ASSERT_FATAL(symlinkat("mine", dfd, "rlink") == 0 &&
	    symlinkat("mine", dfd, "ulink") == 0 &&
	    fchownat(dfd, "ulink", 65534, 65534, AT_SYMLINK_NOFOLLOW) == 0);

	trusted("mine/run", err, sizeof(err));
	CU_ASSERT_STRING_EQUAL(err, "");
	trusted("sticky/run", err, sizeof(err));
	CU_ASSERT_STRING_EQUAL(err, "");
	trusted("theirs/run", err, sizeof(err));
	snprintf(want, sizeof(want), "%s/theirs: owned by uid 65534, not "
	    "root: refused", dir);
	CU_ASSERT_STRING_EQUAL(err, want);
	trusted("open/run", err, sizeof(err));
	snprintf(want, sizeof(want), "%s/open: mode 0777, group 0: writable by "
	    "another user and not sticky: refused", dir);
	CU_ASSERT_STRING_EQUAL(err, want);
	trusted("theirs", err, sizeof(err));	/* the last one too */
	snprintf(want, sizeof(want), "%s/theirs: owned by uid 65534, not "
	    "root: refused", dir);
	CU_ASSERT_STRING_EQUAL(err, want);

	/* Root's symlink is followed (on the way or last), another user's is
	 * not. */
	snprintf(path, sizeof(path), "%s/rlink/run", dir);
	fd = safedir_open_trusted(path, err, sizeof(err));
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT(fstat(fd, &a) == 0 && fstatat(dfd, "mine/run", &b, 0) == 0 &&
	    a.st_ino == b.st_ino);
	close(fd);
	trusted("ulink/run", err, sizeof(err));
	snprintf(want, sizeof(want), "%s/ulink: a symbolic link of uid 65534, "
	    "not root's, not followed: refused", dir);
	CU_ASSERT_STRING_EQUAL(err, want);
	trusted("rlink", err, sizeof(err));
	CU_ASSERT_STRING_EQUAL(err, "");
	trusted("ulink", err, sizeof(err));
	snprintf(want, sizeof(want), "%s/ulink: a symbolic link of uid 65534, "
	    "not root's, not followed: refused", dir);
	CU_ASSERT_STRING_EQUAL(err, want);
	trusted("mine/../mine/./run", err, sizeof(err));
	CU_ASSERT_STRING_EQUAL(err, "");
	trusted("nothing/run", err, sizeof(err));
	snprintf(want, sizeof(want), "%s/nothing: No such file or directory",
	    dir);
	CU_ASSERT_STRING_EQUAL(err, want);

	/* A relative path starts at the working directory, checked too. */
	CU_ASSERT_FATAL(getcwd(cwd, sizeof(cwd)) != NULL);
	CU_ASSERT_FATAL(chdir(dir) == 0);
	fd = safedir_open_trusted("mine/run", err, sizeof(err));
	CU_ASSERT(fd != -1);
	close(fd);
	CU_ASSERT_EQUAL(safedir_open_trusted("theirs/run", err, sizeof(err)),
	    -1);
	CU_ASSERT_FATAL(chdir(cwd) == 0);

	unlinkat(dfd, "rlink", 0);
	unlinkat(dfd, "ulink", 0);
	unlinkat(dfd, "mine/run", AT_REMOVEDIR);
	unlinkat(dfd, "theirs/run", AT_REMOVEDIR);
	unlinkat(dfd, "open/run", AT_REMOVEDIR);
	unlinkat(dfd, "sticky/run", AT_REMOVEDIR);
	unlinkat(dfd, "mine", AT_REMOVEDIR);
	unlinkat(dfd, "theirs", AT_REMOVEDIR);
	unlinkat(dfd, "open", AT_REMOVEDIR);
	unlinkat(dfd, "sticky", AT_REMOVEDIR);
	close(dfd);
}

/* What root reads or runs by path: only root can change it, all the way. */
static void
test_trusted_file(void)
{
	static const struct {
		const char	*rel;	/* under dir */
		const char	*why;	/* "" when trusted; else err's end */
	} cases[] = {
		{ "ok/ca.pem", "" },
		{ "ok/rlink", "" },			/* root's link: followed */
		{ "ok/ulink", "ulink: a symbolic link of uid 65534, not "
		    "root's, not followed: refused" },
		{ "ok/theirs.pem", "theirs.pem: owned by uid 65534, not root: "
		    "refused" },
		{ "ok/group.pem", "group.pem: mode 0664, group 100: writable "
		    "by another user: refused" },
		{ "ok/rootgroup.pem", "" },		/* group root: root's */
		{ "ok/sub", "sub: not a regular file: refused" },
		{ "ok/missing.pem", "missing.pem: No such file or directory" },
		{ "ok/tothem", "theirs: owned by uid 65534, not root: "
		    "refused" },	/* a root link into another user's dir */
		{ "theirs/ca.pem", "theirs: owned by uid 65534, not root: "
		    "refused" },
		{ "ok/", "ok/: not a file: refused" },
	};
	char		 err[512], path[256], res[256];
	size_t		 i, n, w;
	int		 dfd;

	if (geteuid() != 0)
		return;
	dfd = safedir_open(dir, err, sizeof(err));
	CU_ASSERT_FATAL(dfd != -1);
	CU_ASSERT_FATAL(mkdirat(dfd, "ok", 0755) == 0 &&
	    mkdirat(dfd, "ok/sub", 0755) == 0 &&
	    mkdirat(dfd, "theirs", 0755) == 0 &&
	    fchownat(dfd, "theirs", 65534, 65534, 0) == 0);
	for (i = 0; i < 5; i++) {
		static const char *const names[] = { "ok/ca.pem",
		    "ok/theirs.pem", "ok/group.pem", "ok/rootgroup.pem",
		    "theirs/ca.pem" };
		int fd = openat(dfd, names[i], O_WRONLY | O_CREAT, 0644);

		CU_ASSERT_FATAL(fd != -1);
		close(fd);
	}
	CU_ASSERT_FATAL(fchownat(dfd, "ok/theirs.pem", 65534, 65534, 0) == 0 &&
	    fchownat(dfd, "ok/group.pem", 0, 100, 0) == 0 &&
	    fchmodat(dfd, "ok/group.pem", 0664, 0) == 0 &&
	    fchmodat(dfd, "ok/rootgroup.pem", 0664, 0) == 0 &&
	    fchownat(dfd, "theirs/ca.pem", 0, 0, 0) == 0);
	CU_ASSERT_FATAL(symlinkat("ca.pem", dfd, "ok/rlink") == 0 &&
	    symlinkat("ca.pem", dfd, "ok/ulink") == 0 &&
	    fchownat(dfd, "ok/ulink", 65534, 65534, AT_SYMLINK_NOFOLLOW) == 0 &&
	    symlinkat("../theirs/ca.pem", dfd, "ok/tothem") == 0);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, cases[i].rel);
		err[0] = '\0';
		if (cases[i].why[0] == '\0') {
			CU_ASSERT(safedir_trusted_file(path, res, sizeof(res),
			    err, sizeof(err)) == 0);
			CU_ASSERT_STRING_EQUAL(err, "");
			continue;
		}
		CU_ASSERT(safedir_trusted_file(path, res, sizeof(res), err,
		    sizeof(err)) == -1);
		n = strlen(err);
		w = strlen(cases[i].why);
		CU_ASSERT(n >= w && strcmp(err + n - w, cases[i].why) == 0);
		if (n < w || strcmp(err + n - w, cases[i].why) != 0)
			fprintf(stderr, "%s: got \"%s\"\n", cases[i].rel, err);
	}
	/* The path a link leads to is the one to read or run. */
	snprintf(path, sizeof(path), "%s/ok/rlink", dir);
	CU_ASSERT(safedir_trusted_file(path, res, sizeof(res), err,
	    sizeof(err)) == 0);
	snprintf(path, sizeof(path), "%s/ok/ca.pem", dir);
	CU_ASSERT_STRING_EQUAL(res, path);

	unlinkat(dfd, "ok/rlink", 0);
	unlinkat(dfd, "ok/ulink", 0);
	unlinkat(dfd, "ok/tothem", 0);
	unlinkat(dfd, "ok/ca.pem", 0);
	unlinkat(dfd, "ok/theirs.pem", 0);
	unlinkat(dfd, "ok/group.pem", 0);
	unlinkat(dfd, "ok/rootgroup.pem", 0);
	unlinkat(dfd, "theirs/ca.pem", 0);
	unlinkat(dfd, "ok/sub", AT_REMOVEDIR);
	unlinkat(dfd, "ok", AT_REMOVEDIR);
	unlinkat(dfd, "theirs", AT_REMOVEDIR);
	close(dfd);
}

/* A log folder of a daemon's user, in root's directories. */
static void
test_open_in_trusted(void)
{
	char	 err[512], path[256], want[512];
	int	 dfd, fd;

	if (geteuid() != 0)
		return;
	dfd = safedir_open(dir, err, sizeof(err));
	CU_ASSERT_FATAL(dfd != -1);
	CU_ASSERT_FATAL(mkdirat(dfd, "logs", 0755) == 0 &&
	    fchownat(dfd, "logs", 65534, 65534, 0) == 0 &&
	    mkdirat(dfd, "logs/deeper", 0755) == 0 &&
	    symlinkat("logs", dfd, "loglink") == 0);
	snprintf(path, sizeof(path), "%s/logs/", dir);
	fd = safedir_open_in_trusted(path, err, sizeof(err));
	CU_ASSERT(fd != -1);	/* the folder itself may be another user's */
	if (fd != -1)
		close(fd);
	snprintf(path, sizeof(path), "%s/loglink", dir);
	CU_ASSERT_EQUAL(safedir_open_in_trusted(path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: a symbolic link, not followed", path);
	CU_ASSERT_STRING_EQUAL(err, want);
	snprintf(path, sizeof(path), "%s/logs/deeper", dir);
	CU_ASSERT_EQUAL(safedir_open_in_trusted(path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/logs: owned by uid 65534, not root: "
	    "refused", dir);
	CU_ASSERT_STRING_EQUAL(err, want);
	snprintf(path, sizeof(path), "%s/none", dir);
	CU_ASSERT_EQUAL(safedir_open_in_trusted(path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	CU_ASSERT_STRING_EQUAL(err, want);
	fd = safedir_open_in_trusted("/", err, sizeof(err));
	CU_ASSERT(fd != -1);
	if (fd != -1)
		close(fd);
	unlinkat(dfd, "loglink", 0);
	unlinkat(dfd, "logs/deeper", AT_REMOVEDIR);
	unlinkat(dfd, "logs", AT_REMOVEDIR);
	close(dfd);
}

static const struct unit_test tests[] = {
	{ "make, mode on the fd, reopen", test_make_and_reopen },
	{ "a symlinked directory is refused", test_symlinked_dir_refused },
	{ "files: no symlink, FIFO or hard link", test_open_file },
	{ "read another user's file as data", test_read },
	{ "a directory under another user's, no symlink followed",
	    test_open_under },
	{ "root takes no third user's directory",
	    test_take_refuses_another_users },
	{ "root's path: every directory only root changes", test_open_trusted },
	{ "root's file: root's, in root's directories, written by no other",
	    test_trusted_file },
	{ "a daemon's folder in root's directories", test_open_in_trusted },
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
