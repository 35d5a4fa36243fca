/* cloudsim_pki_test.c -- the demo PKI: what each certificate is for, key modes, keeping a CA, machine certificates. */
#include <sys/stat.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "unit.h"

static char	dir[64];		/* the test's temporary directory */

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
fresh_dir(void)
{
	if (dir[0] != '\0')
		nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	snprintf(dir, sizeof(dir), "/tmp/cloudsim-pki-test-XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
}

static X509 *
load_cert(const char *name)
{
	char	 path[PATH_MAX];
	FILE	*f;
	X509	*x;

	snprintf(path, sizeof(path), "%s/%s.crt", dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

static int
file_mode(const char *name)
{
	char		path[PATH_MAX];
	struct stat	st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (stat(path, &st) == -1)
		return -1;
	return st.st_mode & 0777;
}

/* Does cert chain to ca.crt for purpose (X509_PURPOSE_SSL_SERVER, ...)? */
static int
verifies(X509 *cert, int purpose)
{
	X509		*ca = load_cert("ca");
	X509_STORE	*store = X509_STORE_new();
	X509_STORE_CTX	*ctx = X509_STORE_CTX_new();
	int		 ok;

	X509_STORE_add_cert(store, ca);
	X509_STORE_CTX_init(ctx, store, cert, NULL);
	X509_STORE_CTX_set_purpose(ctx, purpose);
	ok = X509_verify_cert(ctx) == 1;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(ca);
	return ok;
}

static void
test_create(void)
{
	char	 err[512];
	int	 kept = -1;
	X509	*ca, *gw, *svc;

	fresh_dir();
	CU_ASSERT_EQUAL_FATAL(pki_create(dir, 0, &kept, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(kept, 0);
	CU_ASSERT_EQUAL(file_mode("ca.key"), 0600);
	CU_ASSERT_EQUAL(file_mode("gateway.key"), 0600);
	CU_ASSERT_EQUAL(file_mode("services.key"), 0600);
	CU_ASSERT_EQUAL(file_mode("ca.crt"), 0644);
	ca = load_cert("ca");
	gw = load_cert("gateway");
	svc = load_cert("services");
	CU_ASSERT_PTR_NOT_NULL_FATAL(ca);
	CU_ASSERT_PTR_NOT_NULL_FATAL(gw);
	CU_ASSERT_PTR_NOT_NULL_FATAL(svc);
	CU_ASSERT_EQUAL(X509_check_ca(ca), 1);
	CU_ASSERT_EQUAL(X509_check_ca(gw), 0);
	CU_ASSERT_TRUE(verifies(gw, X509_PURPOSE_SSL_SERVER));
	CU_ASSERT_FALSE(verifies(gw, X509_PURPOSE_SSL_CLIENT));
	CU_ASSERT_EQUAL(X509_check_host(gw, "gw.cloudsim.test", 0, 0, NULL), 1);
	CU_ASSERT_EQUAL(X509_check_ip_asc(gw, "127.0.0.1", 0), 1);
	CU_ASSERT_NOT_EQUAL(X509_check_host(gw, "echo.cloudsim.test", 0, 0, NULL), 1);
	CU_ASSERT_TRUE(verifies(svc, X509_PURPOSE_SSL_SERVER));
	CU_ASSERT_EQUAL(X509_check_host(svc, "echo.cloudsim.test", 0, 0, NULL), 1);
	CU_ASSERT_EQUAL(X509_check_host(svc, "cloudsim.test", 0, 0, NULL), 1);
	CU_ASSERT_NOT_EQUAL(X509_check_host(svc, "a.b.cloudsim.test", 0, 0, NULL), 1);
	X509_free(ca);
	X509_free(gw);
	X509_free(svc);
}

static void
test_keeps_ca(void)
{
	char	 err[512], path[PATH_MAX];
	int	 kept = -1;
	X509	*before, *after, *forced;

	fresh_dir();
	CU_ASSERT_EQUAL_FATAL(pki_create(dir, 0, &kept, err, sizeof(err)), 0);
	before = load_cert("ca");
	/* A missing service certificate is issued again from the same CA. */
	snprintf(path, sizeof(path), "%s/services.crt", dir);
	CU_ASSERT_EQUAL(unlink(path), 0);
	CU_ASSERT_EQUAL_FATAL(pki_create(dir, 0, &kept, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(kept, 1);
	after = load_cert("ca");
	CU_ASSERT_EQUAL(X509_cmp(before, after), 0);
	CU_ASSERT_EQUAL(access(path, R_OK), 0);
	CU_ASSERT_EQUAL_FATAL(pki_create(dir, 1, &kept, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(kept, 0);
	forced = load_cert("ca");
	CU_ASSERT_NOT_EQUAL(X509_cmp(before, forced), 0);
	X509_free(before);
	X509_free(after);
	X509_free(forced);
}

static void
test_machine(void)
{
	char		 err[512], cn[64];
	int		 kept;
	X509		*m;
	time_t		 in89 = time(NULL) + 89 * 86400, in91 = time(NULL) + 91 * 86400;

	fresh_dir();
	CU_ASSERT_EQUAL_FATAL(pki_create(dir, 0, &kept, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(pki_issue_machine(dir, "m-01.example", err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(file_mode("m-01.example.key"), 0600);
	m = load_cert("m-01.example");
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_TRUE(X509_NAME_get_text_by_NID(X509_get_subject_name(m),
	    NID_commonName, cn, sizeof(cn)) > 0);
	CU_ASSERT_STRING_EQUAL(cn, "m-01.example");
	CU_ASSERT_TRUE(verifies(m, X509_PURPOSE_SSL_CLIENT));
	CU_ASSERT_FALSE(verifies(m, X509_PURPOSE_SSL_SERVER));
	CU_ASSERT_EQUAL(X509_cmp_time(X509_get0_notAfter(m), &in89), 1);
	CU_ASSERT_EQUAL(X509_cmp_time(X509_get0_notAfter(m), &in91), -1);
	X509_free(m);
}

static void
test_bad_names(void)
{
	char	err[512], sub[PATH_MAX];
	int	kept;

	fresh_dir();
	CU_ASSERT_EQUAL(pki_issue_machine(dir, "m1", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "ca.crt"));
	CU_ASSERT_EQUAL_FATAL(pki_create(dir, 0, &kept, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(pki_issue_machine(dir, "../m1", err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(pki_issue_machine(dir, "", err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(pki_issue_machine(dir, "ca", err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(pki_issue_machine(dir, ".hidden", err, sizeof(err)), -1);
	CU_ASSERT_TRUE(pki_name_ok("host_1.example-2"));
	snprintf(sub, sizeof(sub), "%s/no/such/dir", dir);
	CU_ASSERT_EQUAL(pki_create(sub, 0, &kept, err, sizeof(err)), -1);
}

static const struct unit_test tests[] = {
	{ "CA, gateway and services certificates", test_create },
	{ "an existing CA is kept unless forced", test_keeps_ca },
	{ "machine certificates", test_machine },
	{ "bad machine names and directories", test_bad_names },
	{ NULL, NULL }
};

int
main(void)
{
	int	rc = unit_main("cloudsim_pki", tests);

	if (dir[0] != '\0')
		nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return rc;
}
