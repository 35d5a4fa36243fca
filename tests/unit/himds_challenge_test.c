/* himds_challenge_test.c -- the token API's challenge keys: file and mode, single use, wrong keys, expiry, the caps (per caller, never evicting a live key), and cleaning up. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "challenge.h"
#include "unit.h"

static char dir[64];
static int dir_fd = -1;	/* dir, opened as himds opens it before the keys */
static time_t retry_after;

#define UID_A	1000
#define UID_B	1001

static void
make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/himds_challenge_test.%d", (int)getpid());
	mkdir(dir, 0750);
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static int
files_in_dir(void)
{
	DIR		*d = opendir(dir);
	struct dirent	*e;
	int		 n = 0;

	while (d != NULL && (e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	if (d != NULL)
		closedir(d);
	return n;
}

static void
read_secret(const char *path, char *buf, size_t len)
{
	FILE	*f = fopen(path, "r");
	size_t	 n = 0;

	if (f != NULL) {
		n = fread(buf, 1, len - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
}

static void
test_issue_writes_a_key_file(void)
{
	struct himds_challenge	*c = himds_challenge_new(dir, dir_fd, 60, 16, 16);
	char			 path[256], err[256], secret[256];
	struct stat		 st;
	size_t			 i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	umask(077);
	CU_ASSERT_EQUAL_FATAL(himds_challenge_issue(c, 1000, UID_A, path, sizeof(path),
	    &retry_after, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(strncmp(path, dir, strlen(dir)), 0);
	CU_ASSERT_STRING_EQUAL(path + strlen(path) - 4, ".key");
	CU_ASSERT_PTR_NULL(strchr(path, '='));	/* clients split the realm on '=' */
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0640);	/* despite the umask */
	read_secret(path, secret, sizeof(secret));
	CU_ASSERT_EQUAL(strlen(secret), 64);
	for (i = 0; i < strlen(secret); i++)
		CU_ASSERT_PTR_NOT_NULL(strchr("0123456789abcdef", secret[i]));
	CU_ASSERT_EQUAL(himds_challenge_outstanding(c), 1);
	himds_challenge_free(c);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);	/* free removes it */
	CU_ASSERT_EQUAL(files_in_dir(), 0);
}

static void
test_single_use(void)
{
	struct himds_challenge	*c = himds_challenge_new(dir, dir_fd, 60, 16, 16);
	char			 path[256], other[256], err[256], secret[256];

	CU_ASSERT_EQUAL_FATAL(himds_challenge_issue(c, 1000, UID_A, path, sizeof(path),
	    &retry_after, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(himds_challenge_issue(c, 1000, UID_A, other, sizeof(other),
	    &retry_after, err, sizeof(err)), 0);
	CU_ASSERT_STRING_NOT_EQUAL(path, other);
	read_secret(path, secret, sizeof(secret));
	CU_ASSERT_EQUAL(himds_challenge_redeem(c, secret, 1010), 0);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);	/* used up */
	CU_ASSERT_EQUAL(himds_challenge_redeem(c, secret, 1011), -1);
	CU_ASSERT_EQUAL(access(other, F_OK), 0);	/* the other stays */
	CU_ASSERT_EQUAL(himds_challenge_outstanding(c), 1);
	himds_challenge_free(c);
}

static void
test_wrong_keys(void)
{
	struct himds_challenge	*c = himds_challenge_new(dir, dir_fd, 60, 16, 16);
	char			 path[256], err[256], secret[256];

	CU_ASSERT_EQUAL_FATAL(himds_challenge_issue(c, 1000, UID_A, path, sizeof(path),
	    &retry_after, err, sizeof(err)), 0);
	read_secret(path, secret, sizeof(secret));
	CU_ASSERT_EQUAL(himds_challenge_redeem(c, NULL, 1000), -1);
	CU_ASSERT_EQUAL(himds_challenge_redeem(c, "", 1000), -1);
	CU_ASSERT_EQUAL(himds_challenge_redeem(c, path, 1000), -1);
	secret[10] = secret[10] == 'a' ? 'b' : 'a';
	CU_ASSERT_EQUAL(himds_challenge_redeem(c, secret, 1000), -1);
	secret[63] = '\0';				/* a prefix is not the key */
	CU_ASSERT_EQUAL(himds_challenge_redeem(c, secret, 1000), -1);
	CU_ASSERT_EQUAL(access(path, F_OK), 0);	/* still usable */
	read_secret(path, secret, sizeof(secret));
	CU_ASSERT_EQUAL(himds_challenge_redeem(c, secret, 1000), 0);
	himds_challenge_free(c);
}

static void
test_expiry(void)
{
	struct himds_challenge	*c = himds_challenge_new(dir, dir_fd, 60, 16, 16);
	char			 a[256], b[256], err[256], secret[256];

	CU_ASSERT_EQUAL_FATAL(himds_challenge_issue(c, 1000, UID_A, a, sizeof(a), &retry_after, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(himds_challenge_issue(c, 1030, UID_A, b, sizeof(b), &retry_after, err,
	    sizeof(err)), 0);
	read_secret(a, secret, sizeof(secret));
	/* At 60 s the first is gone, even when it is presented. */
	CU_ASSERT_EQUAL(himds_challenge_redeem(c, secret, 1060), -1);
	CU_ASSERT_EQUAL(access(a, F_OK), -1);
	CU_ASSERT_EQUAL(himds_challenge_expire(c, 1089), 0);
	CU_ASSERT_EQUAL(access(b, F_OK), 0);
	CU_ASSERT_EQUAL(himds_challenge_expire(c, 1090), 1);
	CU_ASSERT_EQUAL(access(b, F_OK), -1);
	CU_ASSERT_EQUAL(himds_challenge_outstanding(c), 0);
	CU_ASSERT_EQUAL(files_in_dir(), 0);
	himds_challenge_free(c);
}

/* A flood from one caller is refused (429) and never pushes out a live key:
 * another caller still gets one, and the first caller's keys still work. */
static void
test_caps_never_evict(void)
{
	struct himds_challenge	*c = himds_challenge_new(dir, dir_fd, 60, 4, 2);
	char			 p[4][256], extra[256], err[256], secret[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(himds_challenge_issue(c, 1000, UID_A, p[0], sizeof(p[0]),
	    &retry_after, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(himds_challenge_issue(c, 1010, UID_A, p[1], sizeof(p[1]),
	    &retry_after, err, sizeof(err)), 0);
	/* Its third: refused until its oldest expires at 1060. */
	CU_ASSERT_EQUAL(himds_challenge_issue(c, 1020, UID_A, extra,
	    sizeof(extra), &retry_after, err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(retry_after, 40);
	CU_ASSERT_EQUAL(access(p[0], F_OK), 0);
	CU_ASSERT_EQUAL(himds_challenge_outstanding(c), 2);
	/* Another caller is not held up by the flood. */
	CU_ASSERT_EQUAL(himds_challenge_issue(c, 1020, UID_B, p[2], sizeof(p[2]),
	    &retry_after, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(himds_challenge_issue(c, 1021, UID_B, p[3], sizeof(p[3]),
	    &retry_after, err, sizeof(err)), 0);
	/* All four slots live: a third caller waits, nobody is evicted. */
	CU_ASSERT_EQUAL(himds_challenge_issue(c, 1030, 1002, extra, sizeof(extra),
	    &retry_after, err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(retry_after, 30);
	CU_ASSERT_EQUAL(himds_challenge_outstanding(c), 4);
	read_secret(p[0], secret, sizeof(secret));
	CU_ASSERT_EQUAL(himds_challenge_redeem(c, secret, 1059), 0);
	/* After expiry there is room again. */
	CU_ASSERT_EQUAL(himds_challenge_issue(c, 1070, UID_A, extra,
	    sizeof(extra), &retry_after, err, sizeof(err)), 0);
	himds_challenge_free(c);
}

static void
test_new_fails_without_the_dir(void)
{
	CU_ASSERT_PTR_NULL(himds_challenge_new("/nonexistent/tokens", -1, 60, 4,
	    4));
}

static void
test_clean_dir(void)
{
	static const char *const names[] = { "a.key", "b.txt", "c.key.tmp.123",
	    NULL };
	char	path[256], err[256];
	FILE	*f;
	int	i;

	for (i = 0; names[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		f = fopen(path, "w");
		fclose(f);
	}
	CU_ASSERT_EQUAL(himds_challenge_clean_dir(dir_fd, dir, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(files_in_dir(), 1);
	snprintf(path, sizeof(path), "%s/b.txt", dir);
	CU_ASSERT_EQUAL(access(path, F_OK), 0);
	unlink(path);
	CU_ASSERT_EQUAL(himds_challenge_clean_dir(-1, "/nonexistent/tokens",
	    err, sizeof(err)), -1);
}

static const struct unit_test tests[] = {
	{ "issue writes a 0640 key file", test_issue_writes_a_key_file },
	{ "a key is single use", test_single_use },
	{ "wrong keys are refused", test_wrong_keys },
	{ "keys expire", test_expiry },
	{ "the caps refuse, never evict a live key", test_caps_never_evict },
	{ "new fails without the dir", test_new_fails_without_the_dir },
	{ "clean_dir removes old keys", test_clean_dir },
	{ NULL, NULL }
};

int
main(void)
{
	int	rc;

	make_dir();
	rc = unit_main("himds_challenge", tests);
	close(dir_fd);
	rmdir(dir);
	return rc;
}
