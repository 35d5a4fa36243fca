/* himds_challenge_test.c -- the token API's challenge keys: file and mode, single use, wrong keys, expiry, the cap, and cleaning up. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "challenge.h"
#include "unit.h"

static char dir[64];

static void
make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/himds_challenge_test.%d", (int)getpid());
	mkdir(dir, 0750);
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
	struct himds_challenge	*c = himds_challenge_new(dir, 60, 16);
	char			 path[256], err[256], secret[256];
	struct stat		 st;
	size_t			 i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	umask(077);
	CU_ASSERT_EQUAL_FATAL(himds_challenge_issue(c, 1000, path, sizeof(path),
	    err, sizeof(err)), 0);
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
	struct himds_challenge	*c = himds_challenge_new(dir, 60, 16);
	char			 path[256], other[256], err[256], secret[256];

	CU_ASSERT_EQUAL_FATAL(himds_challenge_issue(c, 1000, path, sizeof(path),
	    err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(himds_challenge_issue(c, 1000, other, sizeof(other),
	    err, sizeof(err)), 0);
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
	struct himds_challenge	*c = himds_challenge_new(dir, 60, 16);
	char			 path[256], err[256], secret[256];

	CU_ASSERT_EQUAL_FATAL(himds_challenge_issue(c, 1000, path, sizeof(path),
	    err, sizeof(err)), 0);
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
	struct himds_challenge	*c = himds_challenge_new(dir, 60, 16);
	char			 a[256], b[256], err[256], secret[256];

	CU_ASSERT_EQUAL_FATAL(himds_challenge_issue(c, 1000, a, sizeof(a), err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(himds_challenge_issue(c, 1030, b, sizeof(b), err,
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

static void
test_cap_retires_the_oldest(void)
{
	struct himds_challenge	*c = himds_challenge_new(dir, 60, 2);
	char			 p[3][256], err[256];
	int			 i;

	for (i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(himds_challenge_issue(c, 1000 + i, p[i],
		    sizeof(p[i]), err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(himds_challenge_outstanding(c), 2);
	CU_ASSERT_EQUAL(access(p[0], F_OK), -1);
	CU_ASSERT_EQUAL(access(p[1], F_OK), 0);
	CU_ASSERT_EQUAL(access(p[2], F_OK), 0);
	himds_challenge_free(c);
}

static void
test_issue_fails_without_the_dir(void)
{
	struct himds_challenge	*c = himds_challenge_new("/nonexistent/tokens",
	    60, 4);
	char			 path[256], err[256];

	CU_ASSERT_EQUAL(himds_challenge_issue(c, 1000, path, sizeof(path), err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/tokens"));
	CU_ASSERT_EQUAL(himds_challenge_outstanding(c), 0);
	himds_challenge_free(c);
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
	CU_ASSERT_EQUAL(himds_challenge_clean_dir(dir, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(files_in_dir(), 1);
	snprintf(path, sizeof(path), "%s/b.txt", dir);
	CU_ASSERT_EQUAL(access(path, F_OK), 0);
	unlink(path);
	CU_ASSERT_EQUAL(himds_challenge_clean_dir("/nonexistent/tokens", err,
	    sizeof(err)), -1);
}

static const struct unit_test tests[] = {
	{ "issue writes a 0640 key file", test_issue_writes_a_key_file },
	{ "a key is single use", test_single_use },
	{ "wrong keys are refused", test_wrong_keys },
	{ "keys expire", test_expiry },
	{ "the cap retires the oldest key", test_cap_retires_the_oldest },
	{ "issue fails without the dir", test_issue_fails_without_the_dir },
	{ "clean_dir removes old keys", test_clean_dir },
	{ NULL, NULL }
};

int
main(void)
{
	int	rc;

	make_dir();
	rc = unit_main("himds_challenge", tests);
	rmdir(dir);
	return rc;
}
