/* pkgverify.c -- a downloaded package checked against its catalog entry (size, SHA-256, and its publisher's CMS signature of a statement naming the package and its digest) before it is opened. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pkgstatement.h"
#include "pkgverify.h"

#define PKGVERIFY_READ_CHUNK	(64 * 1024)
#define PKGVERIFY_SHA256_LEN	32

struct pkgverify {
	X509_STORE	*store;		/* the package-signing CA(s) */
};

/* The oldest queued OpenSSL error (the cause, not its consequences), with
 * its detail, into buf; the queue is cleared.  Its reason code, or 0. */
static int
pkgverify_ssl_reason(char *buf, size_t len)
{
	const char	*data, *reason;
	unsigned long	 e;
	int		 flags;

	buf[0] = '\0';
	e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags);
	if (e == 0) {
		snprintf(buf, len, "unknown error");
		return 0;
	}
	if ((reason = ERR_reason_error_string(e)) == NULL)
		reason = "unknown error";
	if (data != NULL && (flags & ERR_TXT_STRING) && *data != '\0')
		snprintf(buf, len, "%s: %s", reason, data);
	else
		snprintf(buf, len, "%s", reason);
	ERR_clear_error();
	return ERR_GET_REASON(e);
}

struct pkgverify *
pkgverify_new(const char *ca_file, char *err, size_t errlen)
{
	struct pkgverify	*pv;
	char			 why[256];

	if ((pv = calloc(1, sizeof(*pv))) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	ERR_clear_error();
	if ((pv->store = X509_STORE_new()) == NULL) {
		pkgverify_ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "signing CA store: %s", why);
		goto fail;
	}
	if (X509_STORE_load_file(pv->store, ca_file) != 1) {
		pkgverify_ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "%s: no package-signing CA certificate: %s",
		    ca_file, why);
		goto fail;
	}
	/* OpenSSL 3.0 has no code-signing purpose, and CMS_verify would
	 * otherwise ask for S/MIME: the leaf's usage is checked by hand. */
	if (X509_STORE_set_purpose(pv->store, X509_PURPOSE_ANY) != 1) {
		pkgverify_ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "signing CA store: %s", why);
		goto fail;
	}
	/* 112-bit security for the chain: RSA >= 2048, no SHA-1. */
	X509_VERIFY_PARAM_set_auth_level(X509_STORE_get0_param(pv->store), 2);
	return pv;
fail:
	pkgverify_free(pv);
	return NULL;
}

void
pkgverify_free(struct pkgverify *pv)
{
	if (pv == NULL)
		return;
	X509_STORE_free(pv->store);
	free(pv);
}

static int
pkgverify_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int
pkgverify_unhex(const char *hex, unsigned char *out, size_t outlen)
{
	size_t	i;
	int	hi, lo;

	if (hex == NULL || strlen(hex) != 2 * outlen)
		return -1;
	for (i = 0; i < outlen; i++) {
		if ((hi = pkgverify_hexval(hex[2 * i])) == -1 ||
		    (lo = pkgverify_hexval(hex[2 * i + 1])) == -1)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* The SHA-256 of the whole file from offset 0, and how many bytes. */
static int
pkgverify_hash(int fd, unsigned char *md, uint64_t *count, char *err,
    size_t errlen)
{
	EVP_MD_CTX	*ctx;
	unsigned char	*buf = NULL;
	unsigned int	 mdlen;
	ssize_t		 n;

	*count = 0;
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    (buf = malloc(PKGVERIFY_READ_CHUNK)) == NULL) {
		snprintf(err, errlen, "sha256: out of memory");
		goto fail;
	}
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		snprintf(err, errlen, "sha256: digest unavailable");
		goto fail;
	}
	if (lseek(fd, 0, SEEK_SET) == -1) {
		snprintf(err, errlen, "package: seek: %s", strerror(errno));
		goto fail;
	}
	for (;;) {
		if ((n = read(fd, buf, PKGVERIFY_READ_CHUNK)) == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "package: read: %s",
			    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			snprintf(err, errlen, "sha256: digest failed");
			goto fail;
		}
		*count += (uint64_t)n;
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 ||
	    mdlen != PKGVERIFY_SHA256_LEN) {
		snprintf(err, errlen, "sha256: digest failed");
		goto fail;
	}
	free(buf);
	EVP_MD_CTX_free(ctx);
	return 0;
fail:
	free(buf);
	EVP_MD_CTX_free(ctx);
	return -1;
}

/* The one signer's digest is of the SHA-2 family, 256 bits or more (the
 * signature binds the content through it); its name in name. */
static int
pkgverify_strong_digest(CMS_ContentInfo *cms, char *name, size_t len)
{
	CMS_SignerInfo	*si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms),
			    0);
	X509_ALGOR	*dig = NULL;
	int		 nid;

	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, NULL);
	nid = dig != NULL ? OBJ_obj2nid(dig->algorithm) : NID_undef;
	snprintf(name, len, "%s", nid != NID_undef ? OBJ_nid2sn(nid) :
	    "unknown");
	return nid == NID_sha256 || nid == NID_sha384 || nid == NID_sha512;
}

/* s without its prefix, if it has it. */
static const char *
pkgverify_strip(const char *s, const char *prefix)
{
	size_t	n = strlen(prefix);

	return strncmp(s, prefix, n) == 0 ? s + n : s;
}

/* The file must be the catalog's: its size first (already checked on
 * fstat, here on what was read), then its digest. */
static int
pkgverify_check_digest(const unsigned char *got, uint64_t count,
    const unsigned char *want, uint64_t size, char *err, size_t errlen)
{
	if (count != size) {
		snprintf(err, errlen, "size %llu != catalog %llu (changed "
		    "while read)", (unsigned long long)count,
		    (unsigned long long)size);
		return -1;
	}
	if (memcmp(got, want, PKGVERIFY_SHA256_LEN) != 0) {
		snprintf(err, errlen, "sha256 mismatch");
		return -1;
	}
	return 0;
}

/* s, printable, into buf (a hostile CN goes into logs). */
static void
pkgverify_printable(const unsigned char *s, size_t len, char *buf,
    size_t buflen)
{
	size_t	i;

	if (buflen == 0)
		return;
	for (i = 0; i < len && i + 1 < buflen; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
	buf[i] = '\0';
}

/* The signer certificate: one CN equal to the publisher, code signing. */
static int
pkgverify_check_signer(X509 *x, const char *publisher, char *err,
    size_t errlen)
{
	X509_NAME	*name = X509_get_subject_name(x);
	X509_NAME_ENTRY	*ne;
	unsigned char	*cn = NULL;
	char		 shown[130];
	uint32_t	 exflags;
	int		 idx, len;

	if ((idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) < 0) {
		snprintf(err, errlen, "signature: signer has no CN, is not "
		    "publisher %s", publisher);
		return -1;
	}
	if (X509_NAME_get_index_by_NID(name, NID_commonName, idx) >= 0) {
		snprintf(err, errlen, "signature: signer has more than one CN, "
		    "is not publisher %s", publisher);
		return -1;
	}
	ne = X509_NAME_get_entry(name, idx);
	if ((len = ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(ne))) <
	    0) {
		ERR_clear_error();
		snprintf(err, errlen, "signature: signer CN is not text, is not "
		    "publisher %s", publisher);
		return -1;
	}
	pkgverify_printable(cn, (size_t)len, shown, sizeof(shown));
	if ((size_t)len != strlen(publisher) ||
	    memcmp(cn, publisher, (size_t)len) != 0) {
		snprintf(err, errlen, "signature: signer CN=%s is not "
		    "publisher %s", shown, publisher);
		OPENSSL_free(cn);
		return -1;
	}
	OPENSSL_free(cn);
	exflags = X509_get_extension_flags(x);
	if (!(exflags & EXFLAG_XKUSAGE) ||
	    !(X509_get_extended_key_usage(x) & XKU_CODE_SIGN) ||
	    ((exflags & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE))) {
		snprintf(err, errlen, "signature: signer CN=%s is not a "
		    "code-signing certificate", shown);
		return -1;
	}
	return 0;
}

/* The CMS structure of sig, before anything is verified: one signer with a
 * strong digest, over an embedded statement.  NULL with err filled. */
static CMS_ContentInfo *
pkgverify_parse_sig(const void *sig, size_t siglen, char *err, size_t errlen)
{
	CMS_ContentInfo		*cms = NULL;
	const unsigned char	*p = sig;
	ASN1_OBJECT		*ours = NULL;
	const ASN1_OBJECT	*ctype;
	char			 why[256];

	if (sig == NULL || siglen == 0) {
		snprintf(err, errlen, "signature: no signature");
		return NULL;
	}
	if (siglen > PKGVERIFY_SIG_MAX) {
		snprintf(err, errlen, "signature: not a DER CMS SignedData: "
		    "%zu bytes, more than %d", siglen, PKGVERIFY_SIG_MAX);
		return NULL;
	}
	if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)siglen)) == NULL) {
		pkgverify_ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "signature: not a DER CMS SignedData: %s",
		    why);
		return NULL;
	}
	if (p != (const unsigned char *)sig + siglen) {
		snprintf(err, errlen, "signature: not a DER CMS SignedData: "
		    "%zu bytes after it", siglen -
		    (size_t)(p - (const unsigned char *)sig));
		goto fail;
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		snprintf(err, errlen, "signature: not a DER CMS SignedData: "
		    "content type %s", OBJ_nid2sn(OBJ_obj2nid(
		    CMS_get0_type(cms))));
		goto fail;
	}
	if ((ours = OBJ_txt2obj(PKGSTATEMENT_OID, 1)) == NULL) {
		pkgverify_ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "signature: %s", why);
		goto fail;
	}
	ctype = CMS_get0_eContentType(cms);
	if (CMS_is_detached(cms) == 1) {
		if (ctype != NULL && OBJ_obj2nid(ctype) == NID_pkcs7_data)
			snprintf(err, errlen, "signature: old format (a detached "
			    "signature of the package bytes, which does not name "
			    "the package's type and version): the publisher must "
			    "sign it again");
		else
			snprintf(err, errlen, "signature: no signed statement in "
			    "it (detached)");
		goto fail;
	}
	if (ctype == NULL || OBJ_cmp(ctype, ours) != 0) {
		if (ctype != NULL)
			OBJ_obj2txt(why, sizeof(why), ctype, 0);
		snprintf(err, errlen, "signature: not a package statement: "
		    "content type %s", ctype != NULL ? why : "none");
		goto fail;
	}
	if (sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)) != 1) {
		snprintf(err, errlen, "signature: %d signers, not one",
		    sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)));
		goto fail;
	}
	if (!pkgverify_strong_digest(cms, why, sizeof(why))) {
		snprintf(err, errlen, "signature: digest %s is not SHA-256 or "
		    "stronger", why);
		goto fail;
	}
	/* Without signed attributes the content type is not signed: text
	 * the publisher signed as something else could pass for a
	 * statement.  With them, CMS_verify checks it is the one signed. */
	if (CMS_signed_get_attr_count(sk_CMS_SignerInfo_value(
	    CMS_get0_SignerInfos(cms), 0)) <= 0) {
		snprintf(err, errlen, "signature: no signed attributes (the "
		    "content type is not signed)");
		goto fail;
	}
	ASN1_OBJECT_free(ours);
	return cms;
 fail:
	ASN1_OBJECT_free(ours);
	CMS_ContentInfo_free(cms);
	return NULL;
}

/* The statement says what the catalog says: the same publisher as the
 * signer's, this file, and exp's kind, name and version. */
static int
pkgverify_check_statement(const struct pkg_statement *st,
    const struct pkg_expect *exp, const unsigned char *want, char *err,
    size_t errlen)
{
	unsigned char	signed_md[PKGVERIFY_SHA256_LEN];
	const char	*what = pkgstatement_name_what(exp->kind);

	if (strcmp(st->publisher, exp->publisher) != 0) {
		snprintf(err, errlen, "signature: statement names publisher %s, "
		    "signed by %s", st->publisher, exp->publisher);
		return -1;
	}
	if (pkgverify_unhex(st->sha256, signed_md, sizeof(signed_md)) == -1 ||
	    memcmp(signed_md, want, sizeof(signed_md)) != 0 ||
	    st->size != exp->size) {
		snprintf(err, errlen, "signature: signed for another file "
		    "(sha256 %s, %llu bytes)", st->sha256,
		    (unsigned long long)st->size);
		return -1;
	}
	if (st->kind != exp->kind) {
		snprintf(err, errlen, "signature: signed as a%s %s package, not "
		    "a%s %s", st->kind == PKG_EXTENSION ? "n" : "",
		    pkgstatement_kind(st->kind),
		    exp->kind == PKG_EXTENSION ? "n" : "",
		    pkgstatement_kind(exp->kind));
		return -1;
	}
	if (exp->name != NULL && strcmp(st->name, exp->name) != 0) {
		snprintf(err, errlen, "signature: signed as %s %s, not %s", what,
		    st->name, exp->name);
		return -1;
	}
	if (exp->version != NULL && strcmp(st->version, exp->version) != 0) {
		snprintf(err, errlen, "signature: signed as version %s, not %s",
		    st->version, exp->version);
		return -1;
	}
	return 0;
}

/* exp is one a package can be checked against. */
static int
pkgverify_check_expect(const struct pkg_expect *exp, unsigned char *want,
    char *err, size_t errlen)
{
	if (exp->kind != PKG_EXTENSION && exp->kind != PKG_GUESTCONFIG) {
		snprintf(err, errlen, "catalog: unknown kind of package");
		return -1;
	}
	if (!pkgstatement_word_ok(exp->publisher)) {
		snprintf(err, errlen, "catalog: no publisher");
		return -1;
	}
	/* An extension is always its type and version: no wildcard. */
	if ((exp->kind == PKG_EXTENSION || exp->name != NULL) &&
	    !pkgstatement_word_ok(exp->name)) {
		snprintf(err, errlen, "catalog: no %s",
		    pkgstatement_name_what(exp->kind));
		return -1;
	}
	if ((exp->kind == PKG_EXTENSION || exp->version != NULL) &&
	    !pkgstatement_word_ok(exp->version)) {
		snprintf(err, errlen, "catalog: no version");
		return -1;
	}
	if (pkgverify_unhex(exp->sha256, want, PKGVERIFY_SHA256_LEN) == -1) {
		snprintf(err, errlen, "catalog: sha256 is not 64 hex digits");
		return -1;
	}
	return 0;
}

int
pkgverify_fd(struct pkgverify *pv, int fd, const struct pkg_expect *exp,
    const void *sig, size_t siglen, struct pkg_statement *got, char *err,
    size_t errlen)
{
	CMS_ContentInfo		*cms = NULL;
	STACK_OF(X509)		*signers = NULL;
	BIO			*out = NULL;
	BUF_MEM			*text;
	struct pkg_statement	 st;
	unsigned char		 want[PKGVERIFY_SHA256_LEN];
	unsigned char		 md[PKGVERIFY_SHA256_LEN];
	char			 why[256];
	struct stat		 st_file;
	uint64_t		 count;
	int			 reason, rc = -1;

	ERR_clear_error();
	if (pkgverify_check_expect(exp, want, err, errlen) == -1)
		goto done;
	if (fstat(fd, &st_file) == -1) {
		snprintf(err, errlen, "package: %s", strerror(errno));
		goto done;
	}
	if (!S_ISREG(st_file.st_mode)) {
		snprintf(err, errlen, "package: not a regular file");
		goto done;
	}
	if ((uint64_t)st_file.st_size != exp->size) {
		snprintf(err, errlen, "size %llu != catalog %llu",
		    (unsigned long long)st_file.st_size,
		    (unsigned long long)exp->size);
		goto done;
	}
	/* The file first: a wrong file is named as such, whatever its
	 * signature.  The signature then vouches for the catalog's digest. */
	if (pkgverify_hash(fd, md, &count, err, errlen) == -1 ||
	    pkgverify_check_digest(md, count, want, exp->size, err,
	    errlen) == -1)
		goto done;

	if ((cms = pkgverify_parse_sig(sig, siglen, err, errlen)) == NULL)
		goto done;
	if ((out = BIO_new(BIO_s_mem())) == NULL) {
		pkgverify_ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "signature: %s", why);
		goto done;
	}
	if (CMS_verify(cms, NULL, pv->store, NULL, out, CMS_BINARY) != 1) {
		reason = pkgverify_ssl_reason(why, sizeof(why));
		if (reason == CMS_R_CERTIFICATE_VERIFY_ERROR)
			snprintf(err, errlen, "signature: not signed by the "
			    "package-signing CA: %s", pkgverify_strip(why,
			    "certificate verify error: Verify error: "));
		else
			snprintf(err, errlen, "signature: does not verify: %s",
			    why);
		goto done;
	}
	if ((signers = CMS_get0_signers(cms)) == NULL ||
	    sk_X509_num(signers) != 1) {
		snprintf(err, errlen, "signature: no signer certificate");
		goto done;
	}
	if (pkgverify_check_signer(sk_X509_value(signers, 0), exp->publisher,
	    err, errlen) == -1)
		goto done;
	BIO_get_mem_ptr(out, &text);
	if (pkgstatement_parse(text->data, text->length, &st, why,
	    sizeof(why)) == -1) {
		snprintf(err, errlen, "signature: %s", why);
		goto done;
	}
	if (pkgverify_check_statement(&st, exp, want, err, errlen) == -1)
		goto done;
	if (got != NULL)
		*got = st;
	rc = 0;
done:
	sk_X509_free(signers);
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	if (lseek(fd, 0, SEEK_SET) == -1 && rc == 0) {
		snprintf(err, errlen, "package: seek: %s", strerror(errno));
		rc = -1;
	}
	return rc;
}
