/* identity_test.c -- the machine key, its CSR, and certificate validity times. */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "identity.h"
#include "unit.h"

static void
test_key_and_csr(void)
{
	char		 err[256], *pem, *csr;
	EVP_PKEY	*key = identity_keygen(err, sizeof(err)), *back;
	BIO		*b;
	X509_REQ	*req;
	char		 cn[64];
	size_t		 len;

	CU_ASSERT_PTR_NOT_NULL_FATAL(key);
	pem = identity_key_pem(key, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pem);
	CU_ASSERT_PTR_NOT_NULL(strstr(pem, "PRIVATE KEY"));
	/* Read back from memory: the same key; text that is no key: none. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(back = identity_key_parse(pem, len));
	CU_ASSERT_EQUAL(EVP_PKEY_eq(back, key), 1);
	EVP_PKEY_free(back);
	CU_ASSERT_PTR_NULL(identity_key_parse(pem, len / 2));
	CU_ASSERT_PTR_NULL(identity_key_parse("-----BEGIN PRIVATE KEY-----\n", 28));
	csr = identity_csr_pem(key, "vm-01", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(csr);
	b = BIO_new_mem_buf(csr, -1);
	req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(req);
	/* Signed by the key it carries, and named as asked. */
	CU_ASSERT_EQUAL(X509_REQ_verify(req, key), 1);
	X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName,
	    cn, sizeof(cn));
	CU_ASSERT_STRING_EQUAL(cn, "vm-01");
	X509_REQ_free(req);
	BIO_free(b);
	free(csr);
	free(pem);
	EVP_PKEY_free(key);
}

static void
test_cert_times(void)
{
	char		 err[256], *pem = NULL;
	EVP_PKEY	*key = identity_keygen(err, sizeof(err)), *other;
	X509		*x = X509_new();
	BIO		*b = BIO_new(BIO_s_mem());
	time_t		 nb, na;
	long		 len;
	char		*data;

	/* A self-signed certificate valid for 90 days from now. */
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 90L * 86400);
	X509_set_pubkey(x, key);
	X509_sign(x, key, EVP_sha256());
	PEM_write_bio_X509(b, x);
	len = BIO_get_mem_data(b, &data);
	pem = strndup(data, (size_t)len);
	CU_ASSERT_EQUAL_FATAL(identity_cert_times(pem, &nb, &na, err, sizeof(err)), 0);
	CU_ASSERT(na - nb == 90L * 86400);
	CU_ASSERT(labs((long)(nb - time(NULL))) < 60);
	CU_ASSERT_TRUE(identity_cert_matches(pem, key));
	other = identity_keygen(err, sizeof(err));
	CU_ASSERT_FALSE(identity_cert_matches(pem, other));
	{
		/* The cloud's text never names a file: the path of this very
		 * certificate does not match. */
		char	path[] = "/tmp/identity_test.XXXXXX";
		int	fd = mkstemp(path);

		CU_ASSERT_FATAL(fd != -1);
		CU_ASSERT_EQUAL(write(fd, pem, strlen(pem)), (ssize_t)strlen(pem));
		close(fd);
		CU_ASSERT_FALSE(identity_cert_matches(path, key));
		unlink(path);
	}
	CU_ASSERT_EQUAL(identity_cert_times("-----BEGIN CERTIFICATE-----\nnot\n", &nb,
	    &na, err, sizeof(err)), -1);
	EVP_PKEY_free(other);
	free(pem);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(key);
}

/* Key and certificate files: a regular file's PEM is read; a FIFO in
 * machine.key's place (root's readers read himds's folder) is refused at
 * once, not waited on (alarm: the test fails instead of hanging), and so is
 * a device. */
static void
test_files(void)
{
	char		 err[256], path[64], *pem;
	EVP_PKEY	*key = identity_keygen(err, sizeof(err)), *back;
	time_t		 nb, na;
	size_t		 len;
	FILE		*f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(key);
	pem = identity_key_pem(key, &len);
	snprintf(path, sizeof(path), "/tmp/identity_test.%d.key", (int)getpid());
	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(path, "w"));
	fwrite(pem, 1, len, f);
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back = identity_key_load(path, err,
	    sizeof(err)));
	CU_ASSERT_EQUAL(EVP_PKEY_eq(back, key), 1);
	EVP_PKEY_free(back);
	unlink(path);
	CU_ASSERT_EQUAL_FATAL(mkfifo(path, 0640), 0);
	alarm(10);
	CU_ASSERT_PTR_NULL(identity_key_load(path, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));
	CU_ASSERT_EQUAL(identity_cert_times(path, &nb, &na, err, sizeof(err)),
	    -1);
	alarm(0);
	unlink(path);
	CU_ASSERT_PTR_NULL(identity_key_load("/dev/zero", err, sizeof(err)));
	CU_ASSERT_EQUAL(identity_cert_times("/dev/zero", &nb, &na, err,
	    sizeof(err)), -1);
	explicit_bzero(pem, len);
	free(pem);
	EVP_PKEY_free(key);
}

static const struct unit_test tests[] = {
	{ "key and CSR", test_key_and_csr },
	{ "key and certificate files", test_files },
	{ "certificate times and key match", test_cert_times },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("identity", tests);
}
