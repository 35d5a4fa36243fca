/* safedir.c -- directories and files that another user can change, opened without following a symlink, owner and mode set on the fd. */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safedir.h"

#define SAFEDIR_MAX_LINKS	40	/* symlinks on one path (Linux) */

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

/* safedir_make() and safedir_take(): take_only refuses a directory that
 * is there already and owned by neither root nor the one it goes to. */
static int
safedir_mkdir(int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid,
    int take_only, char *err, size_t errlen)
{
	struct stat	st;
	uid_t		owner = uid == SAFEDIR_KEEP_UID ? geteuid() : uid;
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
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		goto fail;
	}
	if (take_only && st.st_uid != 0 && st.st_uid != owner) {
		snprintf(err, errlen, "%s: owned by uid %lu, not root's or uid "
		    "%lu's: refused", name, (unsigned long)st.st_uid,
		    (unsigned long)owner);
		goto fail;
	}
	if (safedir_own(fd, &st, mode, uid, gid) == -1) {
		snprintf(err, errlen, "%s: owner or mode: %s", name,
		    strerror(errno));
		goto fail;
	}
	return fd;
 fail:
	close(fd);
	return -1;
}

int
safedir_make(int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid,
    char *err, size_t errlen)
{
	return safedir_mkdir(dirfd, name, mode, uid, gid, 0, err, errlen);
}

int
safedir_take(int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid,
    char *err, size_t errlen)
{
	return safedir_mkdir(dirfd, name, mode, uid, gid, 1, err, errlen);
}

int
safedir_trusted(int fd, char *why, size_t whylen)
{
	struct stat	sb, *st = &sb;

	if (fstat(fd, st) == -1) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st->st_mode)) {
		snprintf(why, whylen, "not a directory: refused");
		return -1;
	}
	if (st->st_uid != 0) {
		snprintf(why, whylen, "owned by uid %lu, not root: refused",
		    (unsigned long)st->st_uid);
		return -1;
	}
	if ((st->st_mode & S_ISVTX) == 0 && ((st->st_mode & S_IWOTH) ||
	    ((st->st_mode & S_IWGRP) && st->st_gid != 0))) {
		snprintf(why, whylen, "mode %04o, group %lu: writable by "
		    "another user and not sticky: refused",
		    (unsigned int)(st->st_mode & 07777),
		    (unsigned long)st->st_gid);
		return -1;
	}
	return 0;
}

/* where (the directory reached, "" for /) with name appended, or cut at
 * its last '/' for "..": the path that messages name. */
static void
safedir_step(char *where, size_t len, const char *name)
{
	char	*slash;
	size_t	 n = strlen(where);

	if (strcmp(name, "..") == 0) {
		if ((slash = strrchr(where, '/')) != NULL)
			*slash = '\0';
	} else
		snprintf(where + n, len - n, "/%s", name);
}

int
safedir_open_trusted(const char *path, char *err, size_t errlen)
{
	struct stat	 st;
	char		 rest[PATH_MAX], next[PATH_MAX], target[PATH_MAX];
	char		 where[PATH_MAX], bad[PATH_MAX], name[NAME_MAX + 1];
	char		 why[128];
	const char	*p, *end;
	ssize_t		 n;
	int		 fd, nfd, saved, links = 0;

	if (path[0] != '/' && getcwd(where, sizeof(where)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = path[0] == '/' ? snprintf(rest, sizeof(rest), "%s", path) :
	    snprintf(rest, sizeof(rest), "%s/%s", where, path);
	if (n < 0 || (size_t)n >= sizeof(rest)) {
		snprintf(err, errlen, "%s: %s", path, strerror(ENAMETOOLONG));
		return -1;
	}
	where[0] = '\0';
	if ((fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "/: %s", strerror(errno));
		return -1;
	}
	if (safedir_trusted(fd, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "/: %s", why);
		goto fail;
	}
	for (p = rest;;) {
		p += strspn(p, "/");
		if (*p == '\0')
			return fd;
		end = strchrnul(p, '/');
		if (end - p > NAME_MAX) {
			snprintf(err, errlen, "%s: %s", path,
			    strerror(ENAMETOOLONG));
			goto fail;
		}
		memcpy(name, p, end - p);
		name[end - p] = '\0';
		p = end;
		if (strcmp(name, ".") == 0)
			continue;
		snprintf(bad, sizeof(bad), "%s", where);
		safedir_step(bad, sizeof(bad), name);
		if ((nfd = openat(fd, name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) == -1) {
			saved = errno;
			if ((saved != ELOOP && saved != ENOTDIR) ||
			    fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
			    !S_ISLNK(st.st_mode)) {
				snprintf(err, errlen, "%s: %s", bad,
				    saved == ENOTDIR ?
				    "not a directory: refused" :
				    strerror(saved));
				goto fail;
			}
			/* Root's link in a directory no one else changes:
			 * root's choice, followed. */
			if (st.st_uid != 0) {
				snprintf(err, errlen, "%s: a symbolic link of "
				    "uid %lu, not root's, not followed: "
				    "refused", bad, (unsigned long)st.st_uid);
				goto fail;
			}
			if (++links > SAFEDIR_MAX_LINKS ||
			    (n = readlinkat(fd, name, target,
			    sizeof(target) - 1)) == -1) {
				snprintf(err, errlen, "%s: %s", bad,
				    strerror(links > SAFEDIR_MAX_LINKS ? ELOOP :
				    errno));
				goto fail;
			}
			target[n] = '\0';
			n = snprintf(next, sizeof(next), "%s/%s", target, p);
			if (n < 0 || (size_t)n >= sizeof(next)) {
				snprintf(err, errlen, "%s: %s", path,
				    strerror(ENAMETOOLONG));
				goto fail;
			}
			memcpy(rest, next, (size_t)n + 1);
			p = rest;
			if (target[0] == '/') {
				close(fd);
				where[0] = '\0';
				if ((fd = open("/", O_RDONLY | O_DIRECTORY |
				    O_CLOEXEC)) == -1) {
					snprintf(err, errlen, "/: %s",
					    strerror(errno));
					return -1;
				}
			}
			continue;
		}
		close(fd);
		fd = nfd;
		snprintf(where, sizeof(where), "%s", bad);
		if (safedir_trusted(fd, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s: %s", where, why);
			goto fail;
		}
	}
 fail:
	close(fd);
	return -1;
}

int
safedir_open_in_trusted(const char *path, char *err, size_t errlen)
{
	char		 parent[PATH_MAX], why[PATH_MAX + 64];
	const char	*last;
	char		*slash;
	size_t		 n;
	int		 pfd, fd, saved;

	if ((size_t)snprintf(parent, sizeof(parent), "%s", path) >=
	    sizeof(parent)) {
		snprintf(err, errlen, "%s: %s", path, strerror(ENAMETOOLONG));
		return -1;
	}
	for (n = strlen(parent); n > 1 && parent[n - 1] == '/'; n--)
		parent[n - 1] = '\0';
	if ((slash = strrchr(parent, '/')) == NULL) {
		last = parent;
		pfd = safedir_open_trusted(".", err, errlen);
	} else if (slash[1] == '\0') {
		return safedir_open_trusted("/", err, errlen);	/* "/" */
	} else {
		*slash = '\0';
		last = slash + 1;
		pfd = safedir_open_trusted(slash == parent ? "/" : parent, err,
		    errlen);
	}
	if (pfd == -1)
		return -1;
	if ((fd = openat(pfd, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		/* why is "<last>: <why>": named by the whole path here. */
		safedir_why(pfd, last, why, sizeof(why));
		snprintf(err, errlen, "%s: %s", path, why + strlen(last) + 2);
	}
	saved = errno;		/* ENOENT: the caller may make it */
	close(pfd);
	errno = saved;
	return fd;
}

int
safedir_trusted_file(const char *path, char *resolved, size_t len, char *err,
    size_t errlen)
{
	struct stat	 st;
	char		 cur[PATH_MAX], dir[PATH_MAX], target[PATH_MAX];
	char		*slash;
	const char	*base;
	ssize_t		 n;
	int		 dfd, links = 0;

	if ((size_t)snprintf(cur, sizeof(cur), "%s", path) >= sizeof(cur)) {
		snprintf(err, errlen, "%s: %s", path, strerror(ENAMETOOLONG));
		return -1;
	}
	for (;;) {
		/* The directory (checked all the way), then the name in it. */
		if ((slash = strrchr(cur, '/')) == NULL) {
			snprintf(dir, sizeof(dir), ".");
			base = cur;
		} else {
			snprintf(dir, sizeof(dir), "%.*s", slash == cur ? 1 :
			    (int)(slash - cur), cur);
			base = slash + 1;
		}
		if (*base == '\0' || strcmp(base, ".") == 0 ||
		    strcmp(base, "..") == 0) {
			snprintf(err, errlen, "%s: not a file: refused", cur);
			return -1;
		}
		if ((dfd = safedir_open_trusted(dir, err, errlen)) == -1)
			return -1;
		if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == -1) {
			snprintf(err, errlen, "%s: %s", cur, strerror(errno));
			close(dfd);
			return -1;
		}
		if (!S_ISLNK(st.st_mode)) {
			close(dfd);
			break;
		}
		/* Root's link, in a directory only root changes: followed. */
		if (st.st_uid != 0) {
			snprintf(err, errlen, "%s: a symbolic link of uid %lu, "
			    "not root's, not followed: refused", cur,
			    (unsigned long)st.st_uid);
			close(dfd);
			return -1;
		}
		n = ++links > SAFEDIR_MAX_LINKS ? -1 :
		    readlinkat(dfd, base, target, sizeof(target) - 1);
		close(dfd);
		if (n <= 0) {
			snprintf(err, errlen, "%s: %s", cur, n == 0 ?
			    "an empty symbolic link" : strerror(links >
			    SAFEDIR_MAX_LINKS ? ELOOP : errno));
			return -1;
		}
		target[n] = '\0';
		n = target[0] == '/' ? snprintf(cur, sizeof(cur), "%s", target) :
		    snprintf(cur, sizeof(cur), "%s/%s", dir, target);
		if (n < 0 || (size_t)n >= sizeof(cur)) {
			snprintf(err, errlen, "%s: %s", path,
			    strerror(ENAMETOOLONG));
			return -1;
		}
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file: refused", cur);
		return -1;
	}
	if (st.st_uid != 0) {
		snprintf(err, errlen, "%s: owned by uid %lu, not root: refused",
		    cur, (unsigned long)st.st_uid);
		return -1;
	}
	if ((st.st_mode & S_IWOTH) || ((st.st_mode & S_IWGRP) &&
	    st.st_gid != 0)) {
		snprintf(err, errlen, "%s: mode %04o, group %lu: writable by "
		    "another user: refused", cur,
		    (unsigned int)(st.st_mode & 07777),
		    (unsigned long)st.st_gid);
		return -1;
	}
	if (resolved != NULL && (size_t)snprintf(resolved, len, "%s", cur) >=
	    len) {
		snprintf(err, errlen, "%s: %s", cur, strerror(ENAMETOOLONG));
		return -1;
	}
	return 0;
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

char *
safedir_read(int dirfd, const char *name, size_t max, size_t *lenp, char *err,
    size_t errlen)
{
	struct stat	 st;
	char		*buf;
	size_t		 len = 0;
	ssize_t		 n = 0;
	int		 fd;

	if ((fd = safedir_open_file(dirfd, name, O_RDONLY, 0, SAFEDIR_KEEP_UID,
	    SAFEDIR_KEEP_GID, err, errlen)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || (size_t)st.st_size > max) {
		snprintf(err, errlen, "%s: %s", name, st.st_size > 0 &&
		    (size_t)st.st_size > max ? "larger than expected, refused" :
		    strerror(errno));
		close(fd);
		return NULL;
	}
	if ((buf = malloc(max + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		close(fd);
		return NULL;
	}
	/* Its owner may still append to it: the bound holds as it reads. */
	while (len <= max && (n = read(fd, buf + len, max + 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (n == -1 || len > max) {
		snprintf(err, errlen, "%s: %s", name, len > max ?
		    "larger than expected, refused" : strerror(errno));
		explicit_bzero(buf, len);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

int
safedir_open_under(int dirfd, const char *rel, char *err, size_t errlen)
{
	char		 name[NAME_MAX + 1], why[NAME_MAX + 128];
	const char	*p = rel, *start, *end;
	int		 fd, nfd;

	if ((fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "%s: %s", rel, strerror(errno));
		return -1;
	}
	for (;;) {
		p += strspn(p, "/");
		if (*p == '\0')
			return fd;
		start = p;
		end = strchrnul(p, '/');
		if (end - p > NAME_MAX) {
			snprintf(err, errlen, "%s: %s", rel, strerror(ENAMETOOLONG));
			break;
		}
		memcpy(name, p, end - p);
		name[end - p] = '\0';
		p = end;
		if (strcmp(name, "..") == 0) {
			snprintf(err, errlen, "%s: \"..\" refused", rel);
			break;
		}
		if ((nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC)) == -1) {
			/* Named from rel's start: "a/b: a symbolic link..." */
			safedir_why(fd, name, why, sizeof(why));
			snprintf(err, errlen, "%.*s%s", (int)(start - rel), rel,
			    why);
			break;
		}
		close(fd);
		fd = nfd;
	}
	close(fd);
	return -1;
}
