/* atomicfile.c -- state written so that a crash at any moment leaves the old file or the new one, never a mix. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"

int
atomicfile_write(const char *path, const void *data, size_t len, mode_t mode,
    char *err, size_t errlen)
{
	char		 tmp[PATH_MAX], dir[PATH_MAX];
	const char	*p = data;
	ssize_t		 n;
	int		 fd, dfd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) == -1)
		goto fail;
	/* open() applies the umask: the mode must be exactly what was asked. */
	if (fchmod(fd, mode) == -1)
		goto fail_fd;
	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail_fd;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) == -1 || close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path) == -1)
		goto fail;
	snprintf(dir, sizeof(dir), "%s", path);
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		fsync(dfd);		/* the rename itself survives a crash */
		close(dfd);
	}
	return 0;
 fail_fd:
	close(fd);
 fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	unlink(tmp);
	return -1;
}

char *
atomicfile_read(const char *path, size_t max, size_t *lenp, char *err,
    size_t errlen)
{
	char	*buf;
	size_t	 len = 0;
	ssize_t	 n = 0;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((buf = malloc(max + 1)) == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	while (len <= max && (n = read(fd, buf + len, max + 1 - len)) > 0)
		len += (size_t)n;
	if (n == -1 || len > max) {
		snprintf(err, errlen, "%s: %s", path, len > max ?
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
