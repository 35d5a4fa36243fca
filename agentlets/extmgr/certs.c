/* certs.c -- the settings certificate: extmgr's own RSA key and self-signed certificate, to which the cloud encrypts protectedSettings (never the machine identity key). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "atomicfile.h"
#include "certs.h"
#include "identity.h"

#define CERTS_DAYS	3650

static char *
certs_bio_text(BIO *b, size_t *len)
{
	char	*data, *out;
	long	 n = BIO_get_mem_data(b, &data);

	if (n <= 0 || (out = malloc((size_t)n + 1)) == NULL)
		return NULL;
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	*len = (size_t)n;
	return out;
}

static int
certs_thumbprint(X509 *x, char out[41])
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen, i;

	if (!X509_digest(x, EVP_sha1(), md, &mdlen) || mdlen != 20)
		return -1;
	for (i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02X", md[i]);
	return 0;
}

static X509 *
certs_parse(const char *pem, size_t len)
{
	BIO	*b;
	X509	*x;

	if ((b = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return NULL;
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	return x;
}

static int
certs_make(struct certs_pair *p, char *err, size_t errlen)
{
	EVP_PKEY	*key = NULL;
	X509		*x = NULL;
	X509_NAME	*n;
	BIO		*kb = NULL, *cb = NULL;
	int		 rc = -1;

	if ((key = EVP_RSA_gen(2048)) == NULL || (x = X509_new()) == NULL ||
	    (kb = BIO_new(BIO_s_mem())) == NULL ||
	    (cb = BIO_new(BIO_s_mem())) == NULL) {
		snprintf(err, errlen, "settings certificate: cannot make a key");
		goto fail;
	}
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0x7fffffff));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * CERTS_DAYS);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"extmgr-settings", -1, -1, 0);
	X509_set_issuer_name(x, n);
	if (!X509_set_pubkey(x, key) || !X509_sign(x, key, EVP_sha256()) ||
	    !PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio_X509(cb, x) ||
	    (p->key_pem = certs_bio_text(kb, &p->key_len)) == NULL ||
	    (p->cert_pem = certs_bio_text(cb, &p->cert_len)) == NULL ||
	    certs_thumbprint(x, p->thumbprint) == -1) {
		snprintf(err, errlen, "settings certificate: cannot sign it");
		goto fail;
	}
	rc = 0;
 fail:
	BIO_free(kb);
	BIO_free(cb);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

int
certs_ensure(int dirfd, struct certs_pair *p, char *err, size_t errlen)
{
	X509		*x = NULL;
	EVP_PKEY	*k = NULL;
	char		 why[256];

	memset(p, 0, sizeof(*p));
	p->key_pem = atomicfile_readat(dirfd, CERTS_KEY_FILE, 64 * 1024,
	    &p->key_len, why, sizeof(why));
	p->cert_pem = atomicfile_readat(dirfd, CERTS_CRT_FILE, 64 * 1024,
	    &p->cert_len, why, sizeof(why));
	if (p->key_pem != NULL && p->cert_pem != NULL &&
	    (x = certs_parse(p->cert_pem, p->cert_len)) != NULL &&
	    (k = identity_key_parse(p->key_pem, p->key_len)) != NULL &&
	    X509_check_private_key(x, k) == 1 &&
	    certs_thumbprint(x, p->thumbprint) == 0) {
		X509_free(x);
		EVP_PKEY_free(k);
		return 0;
	}
	X509_free(x);
	EVP_PKEY_free(k);
	certs_clear(p);
	if (certs_make(p, err, errlen) == -1)
		return -1;
	/* The key first: a crash in between leaves a pair that does not
	 * match, which is made again. */
	if (atomicfile_writeat(dirfd, CERTS_KEY_FILE, p->key_pem, p->key_len,
	    0600, ATOMICFILE_KEEP_UID, ATOMICFILE_KEEP_GID, 0, err,
	    errlen) == -1 ||
	    atomicfile_writeat(dirfd, CERTS_CRT_FILE, p->cert_pem, p->cert_len,
	    0600, ATOMICFILE_KEEP_UID, ATOMICFILE_KEEP_GID, 0, err,
	    errlen) == -1) {
		certs_clear(p);
		return -1;
	}
	return 0;
}

void
certs_clear(struct certs_pair *p)
{
	if (p->key_pem != NULL)
		OPENSSL_cleanse(p->key_pem, p->key_len);
	free(p->key_pem);
	free(p->cert_pem);
	memset(p, 0, sizeof(*p));
}
