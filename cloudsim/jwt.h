/* jwt.h -- JSON Web Tokens signed ES256 (RFC 7515, 7518, 7519): base64url, and ECDSA P-256 signatures as raw r||s. */
#ifndef JWT_H
#define JWT_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

/* Can key sign ES256 (an EC P-256 private key)? */
int	 jwt_key_ok(EVP_PKEY *key);
/* header.claims.signature with the header {"alg":"ES256","typ":"JWT"}; the
 * caller frees it.  NULL with err. */
char	*jwt_sign_es256(EVP_PKEY *key, const json_t *claims, char *err,
	    size_t errlen);
/* base64url without padding of len bytes into out (at least
 * jwt_base64url_len(len) + 1 bytes): the text's length. */
size_t	 jwt_base64url(const unsigned char *in, size_t len, char *out);
size_t	 jwt_base64url_len(size_t len);

#endif
