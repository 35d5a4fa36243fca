/* atomicfile.c -- state written so that a crash at any moment leaves the old file or the new one, never a mix. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"

#define ATOMICFILE_RANDOM_BYTES	8

/* <name>.tmp.<pid>.<16 hex digits>: nobody can guess it in advance. */
static int
atomicfile_temp_name(const char *name, char *tmp, size_t len)
{
	unsigned char	r[ATOMICFILE_RANDOM_BYTES];
	char		hex[2 * ATOMICFILE_RANDOM_BYTES + 1];
	size_t		i;
	int		n;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -1;
	for (i = 0; i < sizeof(r); i++)
		snprintf(hex + 2 * i, 3, "%02x", r[i]);
	n = snprintf(tmp, len, "%s.tmp.%ld.%s", name, (long)getpid(), hex);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
atomicfile_writeat(int dirfd, const char *name, const void *data, size_t len,
    mode_t mode, uid_t uid, gid_t gid, int flags, char *err, size_t errlen)
{
	char		 tmp[NAME_MAX + 1];
	const char	*p = data;
	ssize_t		 n;
	int		 fd = -1;

	tmp[0] = '\0';
	if (strchr(name, '/') != NULL) {
		errno = EINVAL;
		goto fail;
	}
	if (atomicfile_temp_name(name, tmp, sizeof(tmp)) == -1) {
		tmp[0] = '\0';
		goto fail;
	}
	if ((fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		tmp[0] = '\0';	/* not ours: never unlink it */
		goto fail;
	}
	/* Owner, then mode, on the fd and before the content: the file is
	 * never readable by anyone it was not meant for. */
	if ((uid != ATOMICFILE_KEEP_UID || gid != ATOMICFILE_KEEP_GID) &&
	    fchown(fd, uid, gid) == -1)
		goto fail;
	if (fchmod(fd, mode) == -1)	/* exactly mode, whatever the umask */
		goto fail;
	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (!(flags & ATOMICFILE_NOSYNC) && fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, name) == -1)
		goto fail;
	if (!(flags & ATOMICFILE_NOSYNC))
		fsync(dirfd);		/* the rename itself survives a crash */
	return 0;
 fail:
	snprintf(err, errlen, "%s: %s", name, strerror(errno));
	if (fd != -1)
		close(fd);
	if (tmp[0] != '\0')
		unlinkat(dirfd, tmp, 0);
	return -1;
}

int
atomicfile_write(const char *path, const void *data, size_t len, mode_t mode,
    char *err, size_t errlen)
{
	char	 dir[PATH_MAX], base[PATH_MAX], why[512], *d;
	int	 dfd, rc;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	snprintf(base, sizeof(base), "%s", path);
	d = dirname(dir);
	if ((dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = atomicfile_writeat(dfd, basename(base), data, len, mode,
	    ATOMICFILE_KEEP_UID, ATOMICFILE_KEEP_GID, 0, why, sizeof(why));
	if (rc == -1)	/* name the whole path */
		snprintf(err, errlen, "%s/%s", d, why);
	close(dfd);
	return rc;
}

static char *
atomicfile_read_fd(int fd, const char *name, size_t max, size_t *lenp,
    char *err, size_t errlen)
{
	char	*buf;
	size_t	 len = 0;
	ssize_t	 n = 0;

	if ((buf = malloc(max + 1)) == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	while (len <= max && (n = read(fd, buf + len, max + 1 - len)) > 0)
		len += (size_t)n;
	if (n == -1 || len > max) {
		snprintf(err, errlen, "%s: %s", name, len > max ?
		    "larger than expected" : strerror(errno));
		free(buf);
		close(fd);
		return NULL;
	}
	close(fd);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

char *
atomicfile_read(const char *path, size_t max, size_t *lenp, char *err,
    size_t errlen)
{
	int	fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	return atomicfile_read_fd(fd, path, max, lenp, err, errlen);
}

char *
atomicfile_readat(int dirfd, const char *name, size_t max, size_t *lenp,
    char *err, size_t errlen)
{
	int	fd;

	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		return NULL;
	}
	return atomicfile_read_fd(fd, name, max, lenp, err, errlen);
}

int
atomicfile_is_temp(const char *name, const char *base, long *pid)
{
	size_t	 blen = strlen(base);
	char	*end;
	long	 p;

	if (strncmp(name, base, blen) != 0 || strncmp(name + blen, ".tmp.", 5) != 0)
		return 0;
	p = strtol(name + blen + 5, &end, 10);
	if (p <= 0 || (*end != '.' && *end != '\0'))
		return 0;
	if (pid != NULL)
		*pid = p;
	return 1;
}
