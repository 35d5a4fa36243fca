/* cloudsim_jwt_test.c -- ES256 JWTs: base64url, the header, claims that read back, a raw r||s signature that verifies with the public key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "jwt.h"
#include "unit.h"

/* base64url (no padding) back to bytes: the length, or -1. */
static int
unb64url(const char *in, size_t len, unsigned char *out)
{
	static const char	 digits[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned long		 v = 0;
	const char		*p;
	size_t			 i;
	int			 bits = 0, n = 0;

	for (i = 0; i < len; i++) {
		if ((p = strchr(digits, in[i])) == NULL || in[i] == '\0')
			return -1;
		v = (v << 6) | (unsigned long)(p - digits);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(v >> bits);
			v &= (1UL << bits) - 1;
		}
	}
	return n;
}

static void
test_base64url(void)
{
	static const struct {
		const char	*in;
		const char	*out;
	} cases[] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "\xfb\xff", "-_8" },
	};
	char	out[16];
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL(jwt_base64url((const unsigned char *)cases[i].in,
		    strlen(cases[i].in), out), strlen(cases[i].out));
		CU_ASSERT_STRING_EQUAL(out, cases[i].out);
		CU_ASSERT_EQUAL(jwt_base64url_len(strlen(cases[i].in)),
		    strlen(cases[i].out));
	}
}

/* Verifies the raw r||s signature over header.claims with key's public half. */
static int
verifies(EVP_PKEY *key, const char *token)
{
	const char	*dot2 = strrchr(token, '.');
	unsigned char	 raw[128], der[128], *p = der;
	ECDSA_SIG	*sig;
	EVP_MD_CTX	*md;
	int		 n, derlen, ok;

	if (dot2 == NULL || (n = unb64url(dot2 + 1, strlen(dot2 + 1), raw)) != 64)
		return 0;
	sig = ECDSA_SIG_new();
	ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32, NULL));
	derlen = i2d_ECDSA_SIG(sig, &p);
	ECDSA_SIG_free(sig);
	md = EVP_MD_CTX_new();
	ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestVerify(md, der, (size_t)derlen, (const unsigned char *)token,
	    (size_t)(dot2 - token)) == 1;
	EVP_MD_CTX_free(md);
	return ok;
}

static json_t *
part(const char *token, int index)
{
	const char	*start = token, *end;
	unsigned char	 buf[1024];
	int		 n;

	while (index-- > 0)
		start = strchr(start, '.') + 1;
	end = strchr(start, '.');
	if ((n = unb64url(start, (size_t)(end - start), buf)) < 0)
		return NULL;
	return json_loadb((const char *)buf, (size_t)n, 0, NULL);
}

static void
test_sign(void)
{
	EVP_PKEY	*key = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
	json_t		*claims, *head, *back;
	char		 err[256], *token;
	int		 i;

	CU_ASSERT_TRUE(jwt_key_ok(key));
	claims = json_pack("{s:s, s:s, s:I}", "iss", "https://login.cloudsim.test/t/",
	    "aud", "https://management.azure.com/", "exp", (json_int_t)1700000000);
	/* ECDSA is randomized: every signature must verify, whatever r and s. */
	for (i = 0; i < 20; i++) {
		token = jwt_sign_es256(key, claims, err, sizeof(err));
		CU_ASSERT_PTR_NOT_NULL_FATAL(token);
		CU_ASSERT_TRUE(verifies(key, token));
		CU_ASSERT_FALSE(verifies(other, token));
		if (i == 0) {
			head = part(token, 0);
			back = part(token, 1);
			CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(head,
			    "alg")), "ES256");
			CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(head,
			    "typ")), "JWT");
			CU_ASSERT_TRUE(json_equal(back, claims));
			json_decref(head);
			json_decref(back);
			token[strlen(token) / 2] ^= 1;	/* tampered claims */
			CU_ASSERT_FALSE(verifies(key, token));
		}
		free(token);
	}
	json_decref(claims);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

static void
test_keys(void)
{
	EVP_PKEY	*p384 = EVP_EC_gen("P-384"), *rsa = EVP_RSA_gen(2048);
	json_t		*claims = json_object();
	char		 err[256];

	CU_ASSERT_FALSE(jwt_key_ok(NULL));
	CU_ASSERT_FALSE(jwt_key_ok(p384));
	CU_ASSERT_FALSE(jwt_key_ok(rsa));
	CU_ASSERT_PTR_NULL(jwt_sign_es256(rsa, claims, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "P-256"));
	json_decref(claims);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(rsa);
}

static const struct unit_test tests[] = {
	{ "base64url without padding", test_base64url },
	{ "ES256 tokens verify with the public key", test_sign },
	{ "only EC P-256 keys sign ES256", test_keys },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("cloudsim_jwt", tests);
}
