/* unpack_test.c -- zips made here (libarchive's writer, or by hand where it will not lie) unpacked whole, or refused by name with nothing left behind. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "unit.h"
#include "unpack.h"

static char	dir[64];	/* the test's own directory */
static char	parent[96];	/* what the packages unpack into */
static char	zippath[96];

struct zent {
	const char	*name;
	mode_t		 type;		/* AE_IFREG, AE_IFDIR, AE_IFLNK */
	mode_t		 perm;
	const char	*data;		/* content, or a symlink's target */
};

/* ents into zippath with libarchive's writer (stored or deflated). */
static int
make_zip(const struct zent *ents, size_t n, int deflate)
{
	struct archive		*a;
	struct archive_entry	*e;
	size_t			 i, len;
	int			 rc = 0;

	a = archive_write_new();
	archive_write_set_format_zip(a);
	if (!deflate)
		archive_write_set_option(a, "zip", "compression", "store");
	if (archive_write_open_filename(a, zippath) != ARCHIVE_OK)
		return -1;
	for (i = 0; i < n; i++) {
		e = archive_entry_new();
		archive_entry_set_pathname(e, ents[i].name);
		archive_entry_set_filetype(e, ents[i].type);
		archive_entry_set_perm(e, ents[i].perm);
		len = ents[i].type == AE_IFREG && ents[i].data != NULL ?
		    strlen(ents[i].data) : 0;
		if (ents[i].type == AE_IFLNK)
			archive_entry_set_symlink(e, ents[i].data);
		archive_entry_set_size(e, (la_int64_t)len);
		if (archive_write_header(a, e) != ARCHIVE_OK ||
		    (len > 0 && archive_write_data(a, ents[i].data, len) !=
		    (la_ssize_t)len))
			rc = -1;
		archive_entry_free(e);
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		rc = -1;
	archive_write_free(a);
	return rc;
}

static uint32_t
crc32_of(const unsigned char *p, size_t len)
{
	uint32_t	c = 0xffffffffu;
	int		k;

	while (len-- > 0) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
	}
	return c ^ 0xffffffffu;
}

static void
put16(unsigned char **p, unsigned v)
{
	*(*p)++ = v & 0xff;
	*(*p)++ = (v >> 8) & 0xff;
}

static void
put32(unsigned char **p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p, v >> 16);
}

/*
 * One stored entry by hand, for what libarchive's writer refuses to write:
 * any st_mode (a device node) and an uncompressed size that lies.
 */
static int
make_raw_zip(const char *name, mode_t mode, const char *data, size_t len,
    uint32_t declared)
{
	unsigned char	 buf[16384], *p = buf, *cd;
	size_t		 nlen = strlen(name);
	uint32_t	 crc = crc32_of((const unsigned char *)data, len);
	FILE		*f;

	if (len + 2 * nlen + 200 > sizeof(buf))
		return -1;
	put32(&p, 0x04034b50);
	put16(&p, 20); put16(&p, 0); put16(&p, 0);	/* stored */
	put16(&p, 0); put16(&p, 0x21);
	put32(&p, crc); put32(&p, (uint32_t)len); put32(&p, declared);
	put16(&p, (unsigned)nlen); put16(&p, 0);
	memcpy(p, name, nlen); p += nlen;
	memcpy(p, data, len); p += len;
	cd = p;
	put32(&p, 0x02014b50);
	put16(&p, 3 << 8 | 20); put16(&p, 20); put16(&p, 0); put16(&p, 0);
	put16(&p, 0); put16(&p, 0x21);
	put32(&p, crc); put32(&p, (uint32_t)len); put32(&p, declared);
	put16(&p, (unsigned)nlen); put16(&p, 0); put16(&p, 0);
	put16(&p, 0); put16(&p, 0);
	put32(&p, (uint32_t)mode << 16);
	put32(&p, 0);
	memcpy(p, name, nlen); p += nlen;
	put32(&p, 0x06054b50);
	put16(&p, 0); put16(&p, 0); put16(&p, 1); put16(&p, 1);
	put32(&p, (uint32_t)(p - cd - 12)); put32(&p, (uint32_t)(cd - buf));
	put16(&p, 0);
	if ((f = fopen(zippath, "w")) == NULL)
		return -1;
	fwrite(buf, 1, (size_t)(p - buf), f);
	fclose(f);
	return 0;
}

/* Entries in parent besides . and .. */
static int
count_entries(const char *path)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* zippath into parent/out with lim: the result, err printed on refusal. */
static int
unpack(const struct unpack_limits *lim, char *err, size_t errlen)
{
	int	fd, pfd, rc;

	fd = open(zippath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	pfd = open(parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	CU_ASSERT_FATAL(fd != -1 && pfd != -1);
	err[0] = '\0';
	rc = unpack_zip_fd(fd, pfd, "out", 0755, lim, err, errlen);
	/* Always back at the start for the caller. */
	CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_CUR), 0);
	close(fd);
	close(pfd);
	if (rc == -1)
		printf("  refused: %s\n", err);
	return rc;
}

static void	clean_parent(void);

/* A refusal whose message has want in it, and nothing new in parent. */
static void
refused(const struct unpack_limits *lim, const char *want)
{
	char	err[512];

	if (unpack(lim, err, sizeof(err)) == 0) {
		CU_FAIL("unpacked what should be refused");
		clean_parent();
	}
	if (strstr(err, want) == NULL)
		printf("  expected '%s'\n", want);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
	CU_ASSERT_EQUAL(count_entries(parent), 0);
}

static void
file_is(const char *rel, const char *content, mode_t mode)
{
	char		 path[256], buf[256];
	struct stat	 st;
	ssize_t		 n;
	int		 fd;

	snprintf(path, sizeof(path), "%s/out/%s", parent, rel);
	CU_ASSERT_EQUAL_FATAL(lstat(path, &st), 0);
	CU_ASSERT(S_ISREG(st.st_mode));
	if ((st.st_mode & 07777) != mode)
		printf("  %s: mode %o, expected %o\n", rel,
		    (unsigned)(st.st_mode & 07777), (unsigned)mode);
	CU_ASSERT_EQUAL(st.st_mode & 07777, mode);
	CU_ASSERT_EQUAL(st.st_uid, geteuid());
	fd = open(path, O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	CU_ASSERT_FATAL(n >= 0);
	buf[n] = '\0';
	CU_ASSERT_STRING_EQUAL(buf, content);
}

static void
clean_parent(void)
{
	char	err[256];
	int	pfd;

	pfd = open(parent, O_RDONLY | O_DIRECTORY);
	unpack_remove_tree(pfd, "out", err, sizeof(err));
	close(pfd);
	CU_ASSERT_EQUAL(count_entries(parent), 0);
}

static const struct zent good_tree[] = {
	{ "HandlerManifest.json", AE_IFREG, 0644, "[{\"name\":\"x\"}]" },
	{ "bin/", AE_IFDIR, 0700, NULL },
	{ "bin/enable.sh", AE_IFREG, 0755, "#!/bin/sh\necho on\n" },
	{ "bin/setuid", AE_IFREG, 04777, "s" },
	{ "lib/a/b/c.txt", AE_IFREG, 0666, "deep" },
	{ "lib/a/d.txt", AE_IFREG, 0600, "d" },
	{ "./dot/./x", AE_IFREG, 0744, "x" },
	{ "win\\style.txt", AE_IFREG, 0644, "w" },
	{ "empty", AE_IFREG, 0644, "" },
};

static void
test_good_tree(void)
{
	char		 err[512], path[256];
	struct stat	 st;
	int		 deflate;

	for (deflate = 0; deflate <= 1; deflate++) {
		CU_ASSERT_EQUAL_FATAL(make_zip(good_tree, sizeof(good_tree) /
		    sizeof(good_tree[0]), deflate), 0);
		CU_ASSERT_EQUAL_FATAL(unpack(NULL, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(count_entries(parent), 1);	/* out only */
		snprintf(path, sizeof(path), "%s/out", parent);
		CU_ASSERT_EQUAL(lstat(path, &st), 0);
		CU_ASSERT_EQUAL(st.st_mode & 07777, 0755);
		file_is("HandlerManifest.json", "[{\"name\":\"x\"}]", 0644);
		file_is("bin/enable.sh", "#!/bin/sh\necho on\n", 0755);
		file_is("bin/setuid", "s", 0755);
		file_is("lib/a/b/c.txt", "deep", 0644);
		file_is("lib/a/d.txt", "d", 0644);
		file_is("dot/x", "x", 0755);
		file_is("win/style.txt", "w", 0644);
		file_is("empty", "", 0644);
		snprintf(path, sizeof(path), "%s/out/lib/a", parent);
		CU_ASSERT_EQUAL(lstat(path, &st), 0);
		CU_ASSERT(S_ISDIR(st.st_mode));
		CU_ASSERT_EQUAL(st.st_mode & 07777, 0755);
		snprintf(path, sizeof(path), "%s/out/bin", parent);
		CU_ASSERT_EQUAL(lstat(path, &st), 0);
		CU_ASSERT_EQUAL(st.st_mode & 07777, 0755);
		/* The run script really runs. */
		snprintf(path, sizeof(path), "%s/out/bin/enable.sh >/dev/null",
		    parent);
		CU_ASSERT_EQUAL(system(path), 0);
		/* Never over an existing directory. */
		CU_ASSERT_EQUAL(unpack(NULL, err, sizeof(err)), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "exists"));
		CU_ASSERT_EQUAL(count_entries(parent), 1);
		clean_parent();
	}
}

static void
test_dotdot(void)
{
	struct zent	 z[] = {
		{ "ok.txt", AE_IFREG, 0644, "fine" },
		{ "../x", AE_IFREG, 0644, "escaped" },
	};
	char		 path[128];

	CU_ASSERT_EQUAL_FATAL(make_zip(z, 2, 0), 0);
	refused(NULL, "entry '../x': '..' component");
	snprintf(path, sizeof(path), "%s/x", parent);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/x", dir);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
	/* Deeper, hidden after a normal component, and with backslashes. */
	z[1].name = "a/b/../../../y";
	CU_ASSERT_EQUAL_FATAL(make_zip(z, 2, 0), 0);
	refused(NULL, "'..' component");
	z[1].name = "a\\..\\..\\y";
	CU_ASSERT_EQUAL_FATAL(make_zip(z, 2, 1), 0);
	refused(NULL, "'..' component");
	z[1].name = "..";
	z[1].type = AE_IFDIR;
	CU_ASSERT_EQUAL_FATAL(make_zip(z, 2, 0), 0);
	refused(NULL, "'..' component");
}

static void
test_absolute(void)
{
	struct zent	 z[] = {
		{ "ok/", AE_IFDIR, 0755, NULL },
		{ NULL, AE_IFREG, 0644, "escaped" },
	};
	char		 abs[128];

	snprintf(abs, sizeof(abs), "%s/abs", dir);
	z[1].name = abs;
	CU_ASSERT_EQUAL_FATAL(make_zip(z, 2, 0), 0);
	refused(NULL, "absolute path");
	CU_ASSERT_EQUAL(access(abs, F_OK), -1);
	z[1].name = "\\windows\\abs";
	CU_ASSERT_EQUAL_FATAL(make_zip(z, 2, 0), 0);
	refused(NULL, "absolute path");
}

static void
test_links(void)
{
	struct zent	 z[] = {
		{ "ok.txt", AE_IFREG, 0644, "fine" },
		{ "link", AE_IFLNK, 0777, "../../.." },
		{ "link/etc-passwd", AE_IFREG, 0644, "pwned" },
	};

	CU_ASSERT_EQUAL_FATAL(make_zip(z, 3, 0), 0);
	refused(NULL, "entry 'link': symlink refused");
	/* Even one that stays inside. */
	z[1].data = "ok.txt";
	CU_ASSERT_EQUAL_FATAL(make_zip(z, 2, 1), 0);
	refused(NULL, "entry 'link': symlink refused");
}

static void
test_special_files(void)
{
	CU_ASSERT_EQUAL_FATAL(make_raw_zip("dev/null2", S_IFCHR | 0666, "", 0,
	    0), 0);
	refused(NULL, "entry 'dev/null2': character device refused");
	/* libarchive's zip reader makes a FIFO a regular file: that is what
	 * is written, never a FIFO. */
	CU_ASSERT_EQUAL_FATAL(make_raw_zip("fifo", S_IFIFO | 0644, "", 0, 0),
	    0);
	{
		char	err[512];

		CU_ASSERT_EQUAL(unpack(NULL, err, sizeof(err)), 0);
		file_is("fifo", "", 0644);
		clean_parent();
	}
	CU_ASSERT_EQUAL_FATAL(make_raw_zip("blk", S_IFBLK | 0644, "", 0, 0), 0);
	refused(NULL, "entry 'blk': block device refused");
	CU_ASSERT_EQUAL_FATAL(make_raw_zip("sock", S_IFSOCK | 0644, "", 0, 0),
	    0);
	refused(NULL, "entry 'sock': socket refused");
	/* A symlink written by hand, as another zip tool would. */
	CU_ASSERT_EQUAL_FATAL(make_raw_zip("l", S_IFLNK | 0777, "/etc", 4, 4),
	    0);
	refused(NULL, "entry 'l': symlink refused");
}

static void
test_too_many_entries(void)
{
	struct zent		z[12];
	struct unpack_limits	lim = { 1 << 20, 11 };
	char			names[12][8], err[512];
	int			i;

	for (i = 0; i < 12; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d", i);
		z[i].name = names[i];
		z[i].type = AE_IFREG;
		z[i].perm = 0644;
		z[i].data = "x";
	}
	CU_ASSERT_EQUAL_FATAL(make_zip(z, 12, 0), 0);
	refused(&lim, "more than 11 entries");
	/* At the limit it unpacks. */
	CU_ASSERT_EQUAL_FATAL(make_zip(z, 11, 0), 0);
	CU_ASSERT_EQUAL(unpack(&lim, err, sizeof(err)), 0);
	clean_parent();
}

static void
test_over_the_cap(void)
{
	static char		big[3001];
	struct zent		z[] = {
		{ "a", AE_IFREG, 0644, NULL },
		{ "b", AE_IFREG, 0644, NULL },
	};
	struct unpack_limits	lim = { 5000, 100 };
	char			err[512];

	memset(big, 'z', sizeof(big) - 1);
	z[0].data = z[1].data = big;
	/* 3000 + 3000 > 5000, deflated down to a few bytes each. */
	CU_ASSERT_EQUAL_FATAL(make_zip(z, 2, 1), 0);
	refused(&lim, "entry 'b': more than 5000 bytes unpacked in total");
	CU_ASSERT_EQUAL_FATAL(make_zip(z, 1, 1), 0);
	CU_ASSERT_EQUAL(unpack(&lim, err, sizeof(err)), 0);
	clean_parent();
}

static void
test_lying_size(void)
{
	static char		data[4001];
	struct unpack_limits	lim = { 1000, 100 };

	memset(data, 'q', sizeof(data) - 1);
	/* 100 bytes stored, 5 declared. */
	CU_ASSERT_EQUAL_FATAL(make_raw_zip("lie", S_IFREG | 0644, data, 100, 5),
	    0);
	refused(NULL, "entry 'lie'");
	/* 4000 stored, 10 declared, the cap 1000: counted as written. */
	CU_ASSERT_EQUAL_FATAL(make_raw_zip("bomb", S_IFREG | 0644, data, 4000,
	    10), 0);
	refused(&lim, "entry 'bomb'");
	/* Declares more than it holds. */
	CU_ASSERT_EQUAL_FATAL(make_raw_zip("short", S_IFREG | 0644, data, 10,
	    500), 0);
	refused(NULL, "entry 'short'");
	/* And the honest one unpacks. */
	CU_ASSERT_EQUAL_FATAL(make_raw_zip("honest", S_IFREG | 0644, data, 10,
	    10), 0);
	{
		char	err[512];

		CU_ASSERT_EQUAL(unpack(NULL, err, sizeof(err)), 0);
		file_is("honest", "qqqqqqqqqq", 0644);
		clean_parent();
	}
}

static void
test_duplicates_and_garbage(void)
{
	struct zent	 z[] = {
		{ "a", AE_IFREG, 0644, "one" },
		{ "a", AE_IFREG, 0644, "two" },
	};
	FILE		*f;

	CU_ASSERT_EQUAL_FATAL(make_zip(z, 2, 0), 0);
	refused(NULL, "entry 'a': already in the package");
	/* A file, then a directory under it. */
	z[1].name = "a/b";
	CU_ASSERT_EQUAL_FATAL(make_zip(z, 2, 0), 0);
	refused(NULL, "entry 'a/b': a: not a directory");
	/* Not a zip at all. */
	f = fopen(zippath, "w");
	fputs("PK\003\004 this is not a zip file at all", f);
	fclose(f);
	refused(NULL, "");
	f = fopen(zippath, "w");
	fclose(f);
	refused(NULL, "");
	/* A name that cannot be a file. */
	z[0].name = ".";
	z[0].type = AE_IFREG;
	CU_ASSERT_EQUAL_FATAL(make_zip(z, 1, 0), 0);
	refused(NULL, "a file with no name");
}

/* Left-over temporary trees go; a symlink inside is unlinked, never
 * followed, and what it points at stays. */
static void
test_remove_stale(void)
{
	char	path[1024], err[256];
	int	pfd;

	snprintf(path, sizeof(path), "%s/victim", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/victim/keep", dir);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	snprintf(path, sizeof(path), "mkdir -p %s/.unpack-0011223344556677/a/b "
	    "&& echo x >%s/.unpack-0011223344556677/a/b/f && "
	    "ln -s %s/victim %s/.unpack-0011223344556677/a/v && "
	    "mkdir %s/keepme", parent, parent, dir, parent, parent);
	CU_ASSERT_EQUAL_FATAL(system(path), 0);
	pfd = open(parent, O_RDONLY | O_DIRECTORY);
	CU_ASSERT_EQUAL(unpack_remove_stale(pfd, err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(count_entries(parent), 1);	/* keepme */
	snprintf(path, sizeof(path), "%s/victim/keep", dir);
	CU_ASSERT_EQUAL(access(path, F_OK), 0);
	/* remove_tree: the same care, and a missing name is no error. */
	CU_ASSERT_EQUAL(unpack_remove_tree(pfd, "keepme", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(unpack_remove_tree(pfd, "keepme", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(unpack_remove_tree(pfd, "../victim", err, sizeof(err)),
	    -1);
	CU_ASSERT_EQUAL(access(path, F_OK), 0);
	CU_ASSERT_EQUAL(count_entries(parent), 0);
	close(pfd);
}

static const struct unit_test tests[] = {
	{ "a good nested tree, modes masked", test_good_tree },
	{ "'..' components", test_dotdot },
	{ "absolute paths", test_absolute },
	{ "symlinks, escaping or not", test_links },
	{ "devices and sockets", test_special_files },
	{ "too many entries", test_too_many_entries },
	{ "over the size cap", test_over_the_cap },
	{ "sizes that lie", test_lying_size },
	{ "duplicates, file as directory, garbage", test_duplicates_and_garbage },
	{ "stale temporary trees, remove_tree", test_remove_stale },
	{ NULL, NULL }
};

int
main(void)
{
	char	cmd[128];
	int	rc;

	snprintf(dir, sizeof(dir), "/tmp/unpack_test.%d", (int)getpid());
	snprintf(parent, sizeof(parent), "%s/p", dir);
	snprintf(zippath, sizeof(zippath), "%s/pkg.zip", dir);
	if (mkdir(dir, 0700) == -1 || mkdir(parent, 0700) == -1)
		return 1;
	rc = unit_main("unpack", tests);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
