/* fuzz_file.c -- the config harnesses' scratch directory: the input written as a file the loader reads, removed at exit. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fuzz_file.h"

#define FZ_MAX_DIRS	4

static char	fz_dirs[FZ_MAX_DIRS][PATH_MAX];
static int	fz_ndirs;

static void
fz_dirs_remove(void)
{
	struct dirent	*e;
	DIR		*d;
	char		 path[PATH_MAX + 256];
	int		 i;

	for (i = 0; i < fz_ndirs; i++) {
		if ((d = opendir(fz_dirs[i])) != NULL) {
			while ((e = readdir(d)) != NULL) {
				if (strcmp(e->d_name, ".") == 0 ||
				    strcmp(e->d_name, "..") == 0)
					continue;
				snprintf(path, sizeof(path), "%s/%s", fz_dirs[i],
				    e->d_name);
				unlink(path);
			}
			closedir(d);
		}
		rmdir(fz_dirs[i]);
	}
}

const char *
fz_dir_new(const char *name)
{
	const char	*tmp = getenv("TMPDIR");
	char		*dir;

	if (fz_ndirs == FZ_MAX_DIRS)
		abort();
	dir = fz_dirs[fz_ndirs];
	snprintf(dir, PATH_MAX, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		abort();
	}
	if (fz_ndirs++ == 0)
		atexit(fz_dirs_remove);
	return dir;
}

void
fz_write(const char *dir, const char *name, const uint8_t *data, size_t len)
{
	char	path[PATH_MAX];
	ssize_t	n;
	int	fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1) {
		perror(path);
		abort();
	}
	while (len > 0) {
		if ((n = write(fd, data, len)) <= 0) {
			perror(path);
			abort();
		}
		data += n;
		len -= (size_t)n;
	}
	close(fd);
}

int
fz_has_include(const uint8_t *data, size_t len)
{
	size_t	i;

	for (i = 0; i + 8 <= len; i++)
		if (data[i] == '@' && strncasecmp((const char *)data + i,
		    "@include", 8) == 0)
			return 1;
	return 0;
}
