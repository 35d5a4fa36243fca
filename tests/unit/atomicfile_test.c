/* atomicfile_test.c -- atomic writes: content, exact mode, no temp left behind, and reads with a size bound. */
#include <dirent.h>
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

static const struct unit_test tests[] = {
	{ "write, mode and read back", test_write_and_read },
	{ "errors name the path", test_errors_name_the_path },
	{ NULL, NULL }
};

int
main(void)
{
	int	rc = unit_main("atomicfile", tests);

	rmdir(dir);
	return rc;
}
