/* identity.c -- the machine's identity: its private key (made here, never sent), the CSR for it, and the certificate's life. */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

#define IDENTITY_MAX_FILE	(1 << 20)	/* a key or certificate file */

/*
 * A memory BIO with the bytes of path, when it is a regular file of at most
 * IDENTITY_MAX_FILE: opened non-blocking, since root's readers (azcmagent,
 * guestconfig) read machine.key and machine.crt in himds's folder, where a
 * FIFO in their place hung the reader for good and a device fed it without
 * end.  NULL with errno (EINVAL: not such a file).
 */
static BIO *
identity_file_bio(const char *path)
{
	struct stat	 st;
	BIO		*b = NULL;
	char		*buf;
	size_t		 len = 0;
	ssize_t		 n = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > IDENTITY_MAX_FILE) {
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	if ((buf = malloc(IDENTITY_MAX_FILE + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	while (len <= IDENTITY_MAX_FILE && (n = read(fd, buf + len,
	    IDENTITY_MAX_FILE + 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (n != -1 && len <= IDENTITY_MAX_FILE &&
	    (b = BIO_new(BIO_s_mem())) != NULL &&
	    BIO_write(b, buf, (int)len) != (int)len) {
		BIO_free(b);
		b = NULL;
	}
	explicit_bzero(buf, len);	/* a private key, maybe */
	free(buf);
	if (b == NULL && errno == 0)
		errno = EINVAL;
	return b;
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
	BIO		*b;
	EVP_PKEY	*key;

	errno = 0;
	if ((b = identity_file_bio(path)) == NULL) {
		snprintf(err, errlen, "%s: cannot read%s", path, errno == EINVAL ?
		    " (not a regular file of at most 1 MiB)" : "");
		return NULL;
	}
	key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (key == NULL)
		identity_error(path, err, errlen);
	return key;
}

EVP_PKEY *
identity_key_parse(const char *pem, size_t len)
{
	EVP_PKEY	*key;
	BIO		*b;

	if (len > INT_MAX || (b = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return NULL;
	key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	ERR_clear_error();
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
		b = identity_file_bio(pem_or_path);
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
identity_cert_file_matches(const char *path, EVP_PKEY *key)
{
	BIO	*b;
	X509	*x;
	int	 ok;

	if ((b = identity_file_bio(path)) == NULL)
		return 0;
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	if (x == NULL)
		return 0;
	ok = X509_check_private_key(x, key) == 1;
	X509_free(x);
	ERR_clear_error();
	return ok;
}

int
identity_cert_matches(const char *pem, EVP_PKEY *key)
{
	X509	*x;
	int	 ok;

	/* PEM text only: it comes from the cloud, and never names a file. */
	if (strncmp(pem, "-----BEGIN", 10) != 0 ||
	    (x = identity_cert_read(pem)) == NULL)
		return 0;
	ok = X509_check_private_key(x, key) == 1;
	X509_free(x);
	ERR_clear_error();
	return ok;
}
