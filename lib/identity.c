/* identity.c -- the machine's identity: its private key (made here, never sent), the CSR for it, and the certificate's life. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "identity.h"

static void
identity_error(const char *what, char *err, size_t errlen)
{
	char	buf[200];

	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	snprintf(err, errlen, "%s: %s", what, buf);
	ERR_clear_error();
}

/* The bytes a memory BIO holds, as a NUL-terminated string. */
static char *
identity_bio_string(BIO *b, size_t *lenp)
{
	char	*data, *s;
	long	 len = BIO_get_mem_data(b, &data);

	if (len < 0 || (s = malloc((size_t)len + 1)) == NULL)
		return NULL;
	memcpy(s, data, (size_t)len);
	s[len] = '\0';
	if (lenp != NULL)
		*lenp = (size_t)len;
	return s;
}

EVP_PKEY *
identity_keygen(char *err, size_t errlen)
{
	EVP_PKEY	*key;

	if ((key = EVP_EC_gen("P-256")) == NULL)
		identity_error("key generation", err, errlen);
	return key;
}

char *
identity_key_pem(EVP_PKEY *key, size_t *len)
{
	BIO	*b;
	char	*s = NULL;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	if (PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1)
		s = identity_bio_string(b, len);
	BIO_free(b);
	return s;
}

EVP_PKEY *
identity_key_load(const char *path, char *err, size_t errlen)
{
	FILE		*f;
	EVP_PKEY	*key;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot read", path);
		return NULL;
	}
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (key == NULL)
		identity_error(path, err, errlen);
	return key;
}

char *
identity_csr_pem(EVP_PKEY *key, const char *cn, char *err, size_t errlen)
{
	X509_REQ	*req;
	X509_NAME	*name;
	BIO		*b = NULL;
	char		*s = NULL;

	if ((req = X509_REQ_new()) == NULL)
		goto fail;
	name = X509_REQ_get_subject_name(req);
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_REQ_set_pubkey(req, key) != 1 ||
	    X509_REQ_sign(req, key, EVP_sha256()) <= 0 ||
	    (b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509_REQ(b, req) != 1)
		goto fail;
	s = identity_bio_string(b, NULL);
	BIO_free(b);
	X509_REQ_free(req);
	return s;
 fail:
	identity_error("certificate request", err, errlen);
	BIO_free(b);
	X509_REQ_free(req);
	return NULL;
}

static X509 *
identity_cert_read(const char *pem_or_path)
{
	BIO	*b;
	X509	*x;

	if (strncmp(pem_or_path, "-----BEGIN", 10) == 0)
		b = BIO_new_mem_buf(pem_or_path, -1);
	else
		b = BIO_new_file(pem_or_path, "r");
	if (b == NULL)
		return NULL;
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	return x;
}

int
identity_cert_times(const char *pem_or_path, time_t *not_before,
    time_t *not_after, char *err, size_t errlen)
{
	X509		*x;
	struct tm	 tm;

	if ((x = identity_cert_read(pem_or_path)) == NULL) {
		identity_error("certificate", err, errlen);
		return -1;
	}
	if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) != 1) {
		X509_free(x);
		snprintf(err, errlen, "certificate: bad notBefore");
		return -1;
	}
	*not_before = timegm(&tm);
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1) {
		X509_free(x);
		snprintf(err, errlen, "certificate: bad notAfter");
		return -1;
	}
	*not_after = timegm(&tm);
	X509_free(x);
	return 0;
}

int
identity_cert_matches(const char *pem, EVP_PKEY *key)
{
	X509	*x;
	int	 ok;

	if ((x = identity_cert_read(pem)) == NULL)
		return 0;
	ok = X509_check_private_key(x, key) == 1;
	X509_free(x);
	ERR_clear_error();
	return ok;
}
