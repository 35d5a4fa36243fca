/* cloudsim_pki_test.c -- the demo PKI: what each certificate is for, key modes, keeping a CA, machine certificates, CSRs signed by the CA. */
#include <sys/stat.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
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

/* A PEM CSR for key with subject CN=cn (NULL: no CN); the caller frees it. */
static char *
make_csr(EVP_PKEY *key, const char *cn, EVP_PKEY *signer)
{
	X509_REQ	*req = X509_REQ_new();
	X509_NAME	*name = X509_REQ_get_subject_name(req);
	BIO		*bio = BIO_new(BIO_s_mem());
	BUF_MEM		*mem;
	char		*pem;

	X509_REQ_set_pubkey(req, key);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	    (const unsigned char *)"test", -1, -1, 0);
	if (cn != NULL)
		X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
		    (const unsigned char *)cn, -1, -1, 0);
	X509_REQ_sign(req, signer != NULL ? signer : key, EVP_sha256());
	PEM_write_bio_X509_REQ(bio, req);
	BIO_get_mem_ptr(bio, &mem);
	pem = strndup(mem->data, mem->length);
	BIO_free(bio);
	X509_REQ_free(req);
	return pem;
}

static X509_REQ *
csr(const char *pem, const char *name, char *why, size_t whylen)
{
	why[0] = '\0';
	return pki_csr_parse(pem, strlen(pem), name, why, whylen);
}

static void
test_csr_checks(void)
{
	EVP_PKEY	*key = EVP_EC_gen("P-256"), *p384 = EVP_EC_gen("P-384");
	EVP_PKEY	*p521 = EVP_EC_gen("P-521"), *other = EVP_EC_gen("P-256");
	EVP_PKEY	*rsa1024 = EVP_RSA_gen(1024);
	X509_REQ	*r;
	char		 why[256], *pem;

	CU_ASSERT_PTR_NOT_NULL_FATAL(key);
	pem = make_csr(key, "m1", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL((r = csr(pem, "m1", why, sizeof(why))));
	X509_REQ_free(r);
	CU_ASSERT_PTR_NULL(csr(pem, "m2", why, sizeof(why)));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "CN=m2"));
	pem[40] ^= 0x01;		/* a broken base64 body */
	CU_ASSERT_PTR_NULL(csr(pem, "m1", why, sizeof(why)));
	free(pem);
	CU_ASSERT_PTR_NULL(csr("hello", "m1", why, sizeof(why)));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "PEM"));
	pem = make_csr(key, NULL, NULL);
	CU_ASSERT_PTR_NULL(csr(pem, "m1", why, sizeof(why)));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "no CN"));
	free(pem);
	/* Signed by another key than the one it asks a certificate for. */
	pem = make_csr(key, "m1", other);
	CU_ASSERT_PTR_NULL(csr(pem, "m1", why, sizeof(why)));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "signature"));
	free(pem);
	pem = make_csr(p384, "m1", NULL);
	CU_ASSERT_PTR_NOT_NULL((r = csr(pem, "m1", why, sizeof(why))));
	X509_REQ_free(r);
	free(pem);
	pem = make_csr(p521, "m1", NULL);
	CU_ASSERT_PTR_NULL(csr(pem, "m1", why, sizeof(why)));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "curve"));
	free(pem);
	pem = make_csr(rsa1024, "m1", NULL);
	CU_ASSERT_PTR_NULL(csr(pem, "m1", why, sizeof(why)));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "2048"));
	free(pem);
	EVP_PKEY_free(key);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(p521);
	EVP_PKEY_free(other);
	EVP_PKEY_free(rsa1024);
}

static void
test_ca_issue(void)
{
	struct pki_ca	*ca;
	EVP_PKEY	*key = EVP_EC_gen("P-256");
	X509_REQ	*r;
	X509		*cert;
	BIO		*bio;
	char		 err[512], why[256], serial[80], again[80], cn[64], *pem, *crt;
	time_t		 not_after, now = time(NULL);
	int		 kept;

	fresh_dir();
	CU_ASSERT_PTR_NULL(pki_ca_load(dir, err, sizeof(err)));
	CU_ASSERT_EQUAL_FATAL(pki_create(dir, 0, &kept, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL((ca = pki_ca_load(dir, err, sizeof(err))));
	CU_ASSERT_TRUE(EVP_PKEY_is_a(pki_ca_key(ca), "EC"));
	pem = make_csr(key, "web-01", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL((r = csr(pem, "web-01", why, sizeof(why))));
	crt = pki_ca_issue(ca, r, "web-01", 120, serial, sizeof(serial), &not_after,
	    err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(crt);
	CU_ASSERT_TRUE(not_after >= now + 120 && not_after <= now + 122);
	bio = BIO_new_mem_buf(crt, -1);
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cert);
	CU_ASSERT_TRUE(verifies(cert, X509_PURPOSE_SSL_CLIENT));
	CU_ASSERT_FALSE(verifies(cert, X509_PURPOSE_SSL_SERVER));
	CU_ASSERT_EQUAL(EVP_PKEY_eq(X509_get0_pubkey(cert), key), 1);
	X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
	    sizeof(cn));
	CU_ASSERT_STRING_EQUAL(cn, "web-01");
	pki_serial_text(cert, again, sizeof(again));
	CU_ASSERT_STRING_EQUAL(again, serial);
	/* Valid from now, not backdated: half its life is half of lifetime. */
	CU_ASSERT_TRUE(X509_cmp_time(X509_get0_notBefore(cert), &(time_t){ now - 5 }) > 0);
	X509_free(cert);
	free(crt);
	crt = pki_ca_issue(ca, r, "web-01", 120, again, sizeof(again), &not_after,
	    err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(crt);
	CU_ASSERT_STRING_NOT_EQUAL(again, serial);
	free(crt);
	X509_REQ_free(r);
	free(pem);
	pki_ca_free(ca);
	pki_ca_free(NULL);
	EVP_PKEY_free(key);
}

static const struct unit_test tests[] = {
	{ "CA, gateway and services certificates", test_create },
	{ "an existing CA is kept unless forced", test_keeps_ca },
	{ "machine certificates", test_machine },
	{ "bad machine names and directories", test_bad_names },
	{ "machine CSRs: key, signature, CN", test_csr_checks },
	{ "the CA issues machine certificates for CSRs", test_ca_issue },
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
