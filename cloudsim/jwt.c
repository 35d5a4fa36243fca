/* jwt.c -- JSON Web Tokens signed ES256 (RFC 7515, 7518, 7519): base64url, and ECDSA P-256 signatures as raw r||s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "jwt.h"
#include "tls.h"

#define JWT_HEADER	"{\"alg\":\"ES256\",\"typ\":\"JWT\"}"
#define JWT_COORD	32		/* bytes of r and of s for P-256 */

size_t
jwt_base64url_len(size_t len)
{
	return (len / 3) * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
}

size_t
jwt_base64url(const unsigned char *in, size_t len, char *out)
{
	static const char	 digits[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned long		 v;
	size_t			 i, n = 0;

	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 |
		    in[i + 2];
		out[n++] = digits[(v >> 18) & 63];
		out[n++] = digits[(v >> 12) & 63];
		out[n++] = digits[(v >> 6) & 63];
		out[n++] = digits[v & 63];
	}
	if (len - i == 1) {
		v = (unsigned long)in[i] << 16;
		out[n++] = digits[(v >> 18) & 63];
		out[n++] = digits[(v >> 12) & 63];
	} else if (len - i == 2) {
		v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8;
		out[n++] = digits[(v >> 18) & 63];
		out[n++] = digits[(v >> 12) & 63];
		out[n++] = digits[(v >> 6) & 63];
	}
	out[n] = '\0';
	return n;
}

int
jwt_key_ok(EVP_PKEY *key)
{
	char	group[64];
	size_t	len = 0;

	return key != NULL && EVP_PKEY_is_a(key, "EC") &&
	    EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group),
	    &len) == 1 && strcmp(group, "prime256v1") == 0;
}

/* OpenSSL's DER ECDSA-Sig-Value as JWS wants it: r and s, 32 bytes each. */
static int
jwt_raw_signature(const unsigned char *der, size_t len,
    unsigned char raw[2 * JWT_COORD])
{
	const unsigned char	*p = der;
	const BIGNUM		*r, *s;
	ECDSA_SIG		*sig;
	int			 rc = -1;

	if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)len)) == NULL)
		return -1;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, raw, JWT_COORD) == JWT_COORD &&
	    BN_bn2binpad(s, raw + JWT_COORD, JWT_COORD) == JWT_COORD)
		rc = 0;
	ECDSA_SIG_free(sig);
	return rc;
}

char *
jwt_sign_es256(EVP_PKEY *key, const json_t *claims, char *err, size_t errlen)
{
	EVP_MD_CTX	*md = NULL;
	unsigned char	 der[128], raw[2 * JWT_COORD];
	size_t		 derlen = sizeof(der), hlen, clen, n;
	char		*body = NULL, *token = NULL;

	if (!jwt_key_ok(key)) {
		snprintf(err, errlen, "ES256 needs an EC P-256 key");
		return NULL;
	}
	if ((body = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		snprintf(err, errlen, "cannot encode the claims");
		return NULL;
	}
	hlen = jwt_base64url_len(strlen(JWT_HEADER));
	clen = jwt_base64url_len(strlen(body));
	if ((token = malloc(hlen + 1 + clen + 1 +
	    jwt_base64url_len(sizeof(raw)) + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	n = jwt_base64url((const unsigned char *)JWT_HEADER, strlen(JWT_HEADER),
	    token);
	token[n++] = '.';
	n += jwt_base64url((const unsigned char *)body, strlen(body), token + n);
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &derlen, (const unsigned char *)token, n) != 1 ||
	    jwt_raw_signature(der, derlen, raw) == -1) {
		tls_error(err, errlen, "cannot sign the token", NULL);
		goto fail;
	}
	token[n++] = '.';
	jwt_base64url(raw, sizeof(raw), token + n);
	EVP_MD_CTX_free(md);
	free(body);
	return token;
 fail:
	EVP_MD_CTX_free(md);
	free(body);
	free(token);
	return NULL;
}
