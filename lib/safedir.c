/* safedir.c -- directories and files that another user can change, opened without following a symlink, owner and mode set on the fd. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safedir.h"

int
safedir_path(char *buf, size_t len, const char *dir, const char *name)
{
	int	n = snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Why name in dirfd could not be opened: a symlink is named as such. */
static void
safedir_why(int dirfd, const char *name, char *err, size_t errlen)
{
	struct stat	st;
	int		saved = errno;

	if ((saved == ELOOP || saved == ENOTDIR) &&
	    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		snprintf(err, errlen, "%s: a symbolic link, not followed", name);
	else
		snprintf(err, errlen, "%s: %s", name, strerror(saved));
	errno = saved;
}

int
safedir_open(const char *path, char *err, size_t errlen)
{
	int	fd;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		safedir_why(AT_FDCWD, path, err, errlen);
	return fd;
}

/* Owner and mode on the fd: only what differs, so that a user who owns
 * the file already needs no privilege. */
static int
safedir_own(int fd, const struct stat *st, mode_t mode, uid_t uid, gid_t gid)
{
	if ((uid != SAFEDIR_KEEP_UID && st->st_uid != uid) ||
	    (gid != SAFEDIR_KEEP_GID && st->st_gid != gid))
		if (fchown(fd, uid, gid) == -1)
			return -1;
	if ((st->st_mode & 07777) != mode && fchmod(fd, mode) == -1)
		return -1;
	return 0;
}

int
safedir_make(int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid,
    char *err, size_t errlen)
{
	struct stat	st;
	int		fd;

	if (mkdirat(dirfd, name, mode) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", name, strerror(errno));
		return -1;
	}
	if ((fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		safedir_why(dirfd, name, err, errlen);
		return -1;
	}
	if (fstat(fd, &st) == -1 || safedir_own(fd, &st, mode, uid, gid) == -1) {
		snprintf(err, errlen, "%s: owner or mode: %s", name,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
safedir_open_file(int dirfd, const char *name, int flags, mode_t mode,
    uid_t uid, gid_t gid, char *err, size_t errlen)
{
	struct stat	st;
	int		fd;

	/* O_NONBLOCK: a FIFO planted in its place must not hang the open. */
	if ((fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC |
	    O_NOCTTY | O_NONBLOCK, mode)) == -1) {
		safedir_why(dirfd, name, err, errlen);
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		snprintf(err, errlen, "%s: not a regular file with one link, "
		    "refused", name);
		goto fail;
	}
	if ((flags & O_CREAT) && safedir_own(fd, &st, mode, uid, gid) == -1) {
		snprintf(err, errlen, "%s: owner or mode: %s", name,
		    strerror(errno));
		goto fail;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) == -1) {
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		goto fail;
	}
	return fd;
 fail:
	close(fd);
	return -1;
}
