/* pkg_unpack_fuzz.c -- libFuzzer: any bytes as a package zip through unpack_zip_fd(): an error and nothing left, or one tree of plain files and directories within the caps; never anything outside. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unpack.h"

#define FZ_MAX_BYTES	(1 << 20)
#define FZ_MAX_ENTRIES	512

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
static void	fz_bad(const char *, const char *) __attribute__((noreturn));

static int	basefd = -1;	/* the harness's directory: "parent" only */
static int	parentfd = -1;	/* what packages unpack into */

static void
fz_bad(const char *what, const char *detail)
{
	fprintf(stderr, "\n*** unpack property broken: %s%s%s\n", what,
	    detail ? ": " : "", detail ? detail : "");
	abort();
}

/* The names in dfd besides . and .., the first one in first. */
static int
fz_count(int dfd, char *first, size_t len)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd, n = 0;

	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (d = fdopendir(fd)) == NULL)
		fz_bad("cannot list a directory", strerror(errno));
	if (first != NULL)
		first[0] = '\0';
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n++ == 0 && first != NULL)
			snprintf(first, len, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

/* Only directories (0755) and regular files (0644 or 0755, one link),
 * owned by us, no more content than the cap. */
static void
fz_walk(int dfd, uint64_t *bytes, uint64_t *entries, int depth)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	int		 fd, sub;

	if (depth > 200)
		fz_bad("tree too deep", NULL);
	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (d = fdopendir(fd)) == NULL)
		fz_bad("cannot list a directory", strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			fz_bad("cannot stat an entry", de->d_name);
		if (st.st_uid != geteuid())
			fz_bad("an entry not owned by the caller", de->d_name);
		if (S_ISDIR(st.st_mode)) {
			if ((st.st_mode & 07777) != 0755)
				fz_bad("a directory not 0755", de->d_name);
			if ((sub = openat(dirfd(d), de->d_name, O_RDONLY |
			    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
				fz_bad("cannot open a directory", de->d_name);
			fz_walk(sub, bytes, entries, depth + 1);
			close(sub);
		} else if (S_ISREG(st.st_mode)) {
			if ((st.st_mode & 07777) != 0644 &&
			    (st.st_mode & 07777) != 0755)
				fz_bad("a file neither 0644 nor 0755", de->d_name);
			if (st.st_nlink != 1)
				fz_bad("a file with another link", de->d_name);
			*bytes += (uint64_t)st.st_size;
		} else
			fz_bad("neither a file nor a directory", de->d_name);
		++*entries;
	}
	closedir(d);
}

static void
fz_init(void)
{
	char		 base[256];
	const char	*tmp;

	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(base, sizeof(base), "%s/pkg_unpack_fuzz.XXXXXX", tmp);
	if (mkdtemp(base) == NULL)
		fz_bad("mkdtemp", strerror(errno));
	if ((basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    mkdirat(basefd, "parent", 0700) == -1 ||
	    (parentfd = openat(basefd, "parent", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		fz_bad("harness directories", strerror(errno));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct unpack_limits	lim = { FZ_MAX_BYTES, FZ_MAX_ENTRIES };
	char			err[512], name[256];
	uint64_t		bytes = 0, entries = 0;
	struct stat		st;
	int			fd, rc, outfd;

	if (basefd == -1)
		fz_init();
	if ((fd = memfd_create("pkg", MFD_CLOEXEC)) == -1)
		fz_bad("memfd_create", strerror(errno));
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		fz_bad("write", strerror(errno));
	err[0] = '\0';
	rc = unpack_zip_fd(fd, parentfd, "out", 0750, &lim, err, sizeof(err));
	if (lseek(fd, 0, SEEK_CUR) != 0)
		fz_bad("the package fd not back at 0", NULL);
	close(fd);
	if (fz_count(basefd, name, sizeof(name)) != 1 ||
	    strcmp(name, "parent") != 0)
		fz_bad("something created next to the parent", name);
	if (rc == -1) {
		if (err[0] == '\0')
			fz_bad("an error with no message", NULL);
		if (fz_count(parentfd, name, sizeof(name)) != 0)
			fz_bad("left behind after an error", name);
		return 0;
	}
	if (fz_count(parentfd, name, sizeof(name)) != 1 ||
	    strcmp(name, "out") != 0)
		fz_bad("not exactly the unpacked directory", name);
	if (fstatat(parentfd, "out", &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISDIR(st.st_mode) || (st.st_mode & 07777) != 0750)
		fz_bad("the unpacked directory has not its mode", NULL);
	if ((outfd = openat(parentfd, "out", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		fz_bad("cannot open the unpacked directory", strerror(errno));
	fz_walk(outfd, &bytes, &entries, 0);
	close(outfd);
	if (bytes > FZ_MAX_BYTES)
		fz_bad("more content than the cap", NULL);
	if (unpack_remove_tree(parentfd, "out", err, sizeof(err)) == -1)
		fz_bad("remove_tree", err);
	if (fz_count(parentfd, name, sizeof(name)) != 0)
		fz_bad("remove_tree left something", name);
	return 0;
}
