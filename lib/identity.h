/* identity.h -- the machine's identity: its private key (made here, never sent), the CSR for it, and the certificate's life. */
#ifndef IDENTITY_H
#define IDENTITY_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

/* A new EC P-256 key. */
EVP_PKEY	*identity_keygen(char *err, size_t errlen);
/* PEM of the key (the caller frees), for atomicfile_write() with 0600. */
char		*identity_key_pem(EVP_PKEY *, size_t *len);
EVP_PKEY	*identity_key_load(const char *path, char *err, size_t errlen);
/* A PEM private key from len bytes of memory, or NULL (OpenSSL's error queue
 * cleared). */
EVP_PKEY	*identity_key_parse(const char *pem, size_t len);
/* A PEM CSR with CN=cn, signed by key; the caller frees it. */
char		*identity_csr_pem(EVP_PKEY *, const char *cn, char *err, size_t errlen);
/* Validity of a PEM certificate (a file path or the PEM itself). */
int		 identity_cert_times(const char *pem_or_path, time_t *not_before,
		    time_t *not_after, char *err, size_t errlen);
/* Does the PEM certificate (text, never a path) belong to this key? */
int		 identity_cert_matches(const char *pem, EVP_PKEY *);
/* The same for the certificate file at path (a regular file of at most 1 MiB). */
int		 identity_cert_file_matches(const char *path, EVP_PKEY *);

#endif
