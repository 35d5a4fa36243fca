/* pki.c -- the demo PKI: a CA, the gateway and service certificates, machine certificates, and the package-signing CA with its publishers, made with OpenSSL. */
#include <sys/stat.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "extreq.h"
#include "pki.h"
#include "tls.h"

#define PKI_CA_DAYS		3650
#define PKI_SERVER_DAYS		825
#define PKI_SERIAL_BITS		127

/* What one certificate is for.  The CA signs every other one. */
struct pki_profile {
	const char	*file;		/* DIR/<file>.crt and DIR/<file>.key */
	const char	*cn;		/* subject common name */
	int		 days;		/* validity from now */
	const char	*basic;		/* basicConstraints */
	const char	*key_usage;
	const char	*ext_key_usage;	/* NULL: none (the CA) */
	const char	*san;		/* subjectAltName; NULL: none */
};

static const struct pki_profile pki_ca_profile = {
	"ca", "cloudsim demo CA", PKI_CA_DAYS, "critical,CA:TRUE",
	"critical,keyCertSign,cRLSign", NULL, NULL
};

/* A machine's client certificate; file and cn are the machine's name. */
static const struct pki_profile pki_machine_profile = {
	NULL, NULL, PKI_MACHINE_DAYS, "critical,CA:FALSE",
	"critical,digitalSignature", "clientAuth", NULL
};

/* The package-signing CA: a separate trust from the TLS one (ca.crt). */
static const struct pki_profile pki_pkgsign_profile = {
	PKI_PKGSIGN_CA, "cloudsim package-signing CA", PKI_CA_DAYS,
	"critical,CA:TRUE", "critical,keyCertSign,cRLSign", NULL, NULL
};

/* A publisher's code-signing certificate; file and cn are set per name. */
static const struct pki_profile pki_publisher_profile = {
	NULL, NULL, PKI_SERVER_DAYS, "critical,CA:FALSE",
	"critical,digitalSignature", "codeSigning", NULL
};

/* The loaded CA. */
struct pki_ca {
	X509		*cert;
	EVP_PKEY	*key;
};

static const struct pki_profile pki_server_profiles[] = {
	{ "gateway", PKI_GATEWAY_NAME, PKI_SERVER_DAYS, "critical,CA:FALSE",
	  "critical,digitalSignature", "serverAuth",
	  "DNS:" PKI_GATEWAY_NAME ",IP:127.0.0.1" },
	{ "services", "*." PKI_SERVICES_DOMAIN, PKI_SERVER_DAYS,
	  "critical,CA:FALSE", "critical,digitalSignature", "serverAuth",
	  "DNS:*." PKI_SERVICES_DOMAIN ",DNS:" PKI_SERVICES_DOMAIN },
};

int
pki_name_ok(const char *name)
{
	size_t	len = strlen(name), i;

	if (len == 0 || len > 64 || name[0] == '.' || name[0] == '-')
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '.' &&
		    name[i] != '_' && name[i] != '-')
			return 0;
	return 1;
}

static int
pki_path(char *buf, size_t len, const char *dir, const char *file,
    const char *ext)
{
	int	n = snprintf(buf, len, "%s/%s.%s", dir, file, ext);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int
pki_exists(const char *path)
{
	struct stat	st;

	return stat(path, &st) == 0;
}

static int
pki_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX	 ctx;
	X509_EXTENSION	*ext;
	int		 rc;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return -1;
	rc = X509_add_ext(cert, ext, -1) == 1 ? 0 : -1;
	X509_EXTENSION_free(ext);
	return rc;
}

static int
pki_set_serial(X509 *cert)
{
	BIGNUM	*bn;
	int	 rc = -1;

	if ((bn = BN_new()) == NULL)
		return -1;
	/* Random and positive, as RFC 5280 asks. */
	if (BN_rand(bn, PKI_SERIAL_BITS, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL)
		rc = 0;
	BN_free(bn);
	return rc;
}

/*
 * A certificate for key under profile, with cn as its name, valid from
 * backdate seconds ago for lifetime seconds from now.  Without an issuer it
 * is self-signed (the CA).
 */
static X509 *
pki_make_cert(const struct pki_profile *p, const char *cn, EVP_PKEY *key,
    X509 *issuer, EVP_PKEY *issuer_key, long backdate, long lifetime)
{
	X509		*cert;
	X509_NAME	*name;

	if ((cert = X509_new()) == NULL)
		return NULL;
	name = X509_get_subject_name(cert);
	if (X509_set_version(cert, X509_VERSION_3) != 1 ||
	    pki_set_serial(cert) == -1 ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), -backdate) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(cert), lifetime) == NULL ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	    (const unsigned char *)"cloudsim", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) :
	    name) != 1 ||
	    X509_set_pubkey(cert, key) != 1)
		goto fail;
	if (issuer == NULL) {
		issuer = cert;
		issuer_key = key;
	}
	if (pki_add_ext(cert, issuer, NID_basic_constraints, p->basic) == -1 ||
	    pki_add_ext(cert, issuer, NID_key_usage, p->key_usage) == -1 ||
	    pki_add_ext(cert, issuer, NID_subject_key_identifier, "hash") == -1 ||
	    pki_add_ext(cert, issuer, NID_authority_key_identifier,
	    "keyid:always") == -1 ||
	    (p->ext_key_usage != NULL && pki_add_ext(cert, issuer,
	    NID_ext_key_usage, p->ext_key_usage) == -1) ||
	    (p->san != NULL && pki_add_ext(cert, issuer, NID_subject_alt_name,
	    p->san) == -1))
		goto fail;
	if (X509_sign(cert, issuer_key, EVP_sha256()) <= 0)
		goto fail;
	return cert;
 fail:
	X509_free(cert);
	return NULL;
}

/* Writes a PEM file through a temporary name and a rename, with mode. */
static int
pki_write(const char *path, mode_t mode, X509 *cert, EVP_PKEY *key,
    char *err, size_t errlen)
{
	char	 tmp[PATH_MAX];
	FILE	*f = NULL;
	int	 fd = -1, ok;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, mode)) == -1 || fchmod(fd, mode) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	ok = cert != NULL ? PEM_write_X509(f, cert) :
	    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	if (ok != 1) {
		tls_error(err, errlen, "cannot write PEM", tmp);
		goto fail;
	}
	if (fflush(f) == EOF || fsync(fileno(f)) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (fclose(f) == EOF) {
		f = NULL;
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	f = NULL;
	if (rename(tmp, path) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	return 0;
 fail:
	if (f != NULL)
		fclose(f);
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return -1;
}

/* A new key and certificate under profile, written as DIR/<file>.{key,crt}. */
static int
pki_issue(const char *dir, const struct pki_profile *p, const char *cn,
    X509 *issuer, EVP_PKEY *issuer_key, X509 **cert_out, EVP_PKEY **key_out,
    char *err, size_t errlen)
{
	char		 crt_path[PATH_MAX], key_path[PATH_MAX];
	EVP_PKEY	*key = NULL;
	X509		*cert = NULL;

	if (pki_path(crt_path, sizeof(crt_path), dir, p->file, "crt") == -1 ||
	    pki_path(key_path, sizeof(key_path), dir, p->file, "key") == -1) {
		snprintf(err, errlen, "%s: path too long", dir);
		return -1;
	}
	if ((key = EVP_EC_gen("P-256")) == NULL) {
		tls_error(err, errlen, "cannot generate an EC P-256 key", key_path);
		goto fail;
	}
	/* An hour back: a little clock skew does not make it "not yet valid". */
	if ((cert = pki_make_cert(p, cn, key, issuer, issuer_key, 3600,
	    (long)p->days * 86400)) == NULL) {
		tls_error(err, errlen, "cannot make the certificate", crt_path);
		goto fail;
	}
	/* The key first: a certificate never exists without its key. */
	if (pki_write(key_path, 0600, NULL, key, err, errlen) == -1 ||
	    pki_write(crt_path, 0644, cert, NULL, err, errlen) == -1)
		goto fail;
	if (cert_out != NULL)
		*cert_out = cert;
	else
		X509_free(cert);
	if (key_out != NULL)
		*key_out = key;
	else
		EVP_PKEY_free(key);
	return 0;
 fail:
	X509_free(cert);
	EVP_PKEY_free(key);
	return -1;
}

/* DIR/<file>.crt and .key, which must match. */
static int
pki_load_pair(const char *dir, const char *file, X509 **cert, EVP_PKEY **key,
    char *err, size_t errlen)
{
	char	 path[PATH_MAX];
	FILE	*f;

	*cert = NULL;
	*key = NULL;
	if (pki_path(path, sizeof(path), dir, file, "crt") == -1 ||
	    (f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s/%s.crt: %s (create the PKI with: "
		    "cloudsim pki %s)", dir, file, strerror(errno), dir);
		return -1;
	}
	*cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (*cert == NULL)
		return tls_error(err, errlen, "not a PEM certificate", path);
	if (pki_path(path, sizeof(path), dir, file, "key") == -1 ||
	    (f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s/%s.key: %s", dir, file, strerror(errno));
		goto fail;
	}
	*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (*key == NULL) {
		tls_error(err, errlen, "not a PEM private key", path);
		goto fail;
	}
	if (X509_check_private_key(*cert, *key) != 1) {
		tls_error(err, errlen, "does not match its certificate", path);
		goto fail;
	}
	return 0;
 fail:
	X509_free(*cert);
	EVP_PKEY_free(*key);
	*cert = NULL;
	*key = NULL;
	return -1;
}

static int	pki_issue_publisher_with(const char *, const char *, X509 *,
		    EVP_PKEY *, X509 **, EVP_PKEY **, char *, size_t);

static int
pki_load_ca(const char *dir, X509 **cert, EVP_PKEY **key, char *err,
    size_t errlen)
{
	return pki_load_pair(dir, "ca", cert, key, err, errlen);
}

int
pki_publisher_ok(const char *name)
{
	return extreq_publisher_ok(name);
}

/* The package-signing CA and the sample publisher: kept when present
 * (unless force), the publisher issued again with a new CA. */
static int
pki_create_pkgsign(const char *dir, int force, char *err, size_t errlen)
{
	char		 path[PATH_MAX];
	X509		*ca = NULL;
	EVP_PKEY	*ca_key = NULL;
	int		 fresh = 0, rc = -1;

	if (pki_path(path, sizeof(path), dir, PKI_PKGSIGN_CA, "crt") == -1) {
		snprintf(err, errlen, "%s: path too long", dir);
		return -1;
	}
	if (!force && pki_exists(path)) {
		if (pki_load_pair(dir, PKI_PKGSIGN_CA, &ca, &ca_key, err,
		    errlen) == -1)
			return -1;
	} else if (pki_issue(dir, &pki_pkgsign_profile, pki_pkgsign_profile.cn,
	    NULL, NULL, &ca, &ca_key, err, errlen) == -1)
		return -1;
	else
		fresh = 1;
	if (pki_path(path, sizeof(path), dir, PKI_PUBLISHERS "/"
	    PKI_SAMPLE_PUBLISHER, "crt") == -1) {
		snprintf(err, errlen, "%s: path too long", dir);
		goto fail;
	}
	if ((fresh || !pki_exists(path)) && pki_issue_publisher_with(dir,
	    PKI_SAMPLE_PUBLISHER, ca, ca_key, NULL, NULL, err, errlen) == -1)
		goto fail;
	rc = 0;
 fail:
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return rc;
}

/* DIR/publishers/<name>.crt and .key, signed by the package-signing CA. */
static int
pki_issue_publisher_with(const char *dir, const char *name, X509 *ca,
    EVP_PKEY *ca_key, X509 **cert, EVP_PKEY **key, char *err, size_t errlen)
{
	struct pki_profile	 p = pki_publisher_profile;
	char			 sub[PATH_MAX], file[PATH_MAX];

	if (!pki_publisher_ok(name)) {
		snprintf(err, errlen, "publisher \"%.80s\": expected 1-%d of "
		    "[A-Za-z0-9.], like Contoso.Monitoring", name,
		    PKI_PUBLISHER_MAX);
		return -1;
	}
	if (snprintf(sub, sizeof(sub), "%s/%s", dir, PKI_PUBLISHERS) >=
	    (int)sizeof(sub) || (mkdir(sub, 0755) == -1 && errno != EEXIST)) {
		snprintf(err, errlen, "%s: %s", sub, strerror(errno));
		return -1;
	}
	snprintf(file, sizeof(file), "%s/%s", PKI_PUBLISHERS, name);
	p.file = file;
	p.cn = name;
	return pki_issue(dir, &p, name, ca, ca_key, cert, key, err, errlen);
}

int
pki_publisher(const char *dir, const char *name, int force, X509 **cert,
    EVP_PKEY **key, char *err, size_t errlen)
{
	char		 file[PATH_MAX];
	X509		*ca = NULL;
	EVP_PKEY	*ca_key = NULL;
	int		 rc = -1;

	*cert = NULL;
	*key = NULL;
	if (!pki_publisher_ok(name)) {
		snprintf(err, errlen, "publisher \"%.80s\": expected 1-%d of "
		    "[A-Za-z0-9.], like Contoso.Monitoring", name,
		    PKI_PUBLISHER_MAX);
		return -1;
	}
	if (pki_load_pair(dir, PKI_PKGSIGN_CA, &ca, &ca_key, err, errlen) == -1)
		return -1;
	snprintf(file, sizeof(file), "%s/%s", PKI_PUBLISHERS, name);
	/* One the CA did not sign (it was replaced) is issued again. */
	if (!force && pki_load_pair(dir, file, cert, key, err, errlen) == 0 &&
	    X509_verify(*cert, ca_key) == 1 && X509_check_ca(*cert) == 0) {
		rc = 0;
		goto done;
	}
	X509_free(*cert);
	EVP_PKEY_free(*key);
	*cert = NULL;
	*key = NULL;
	ERR_clear_error();
	rc = pki_issue_publisher_with(dir, name, ca, ca_key, cert, key, err,
	    errlen);
 done:
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return rc;
}

int
pki_create(const char *dir, int force, int *kept, char *err, size_t errlen)
{
	char		 path[PATH_MAX], key_path[PATH_MAX];
	X509		*ca = NULL;
	EVP_PKEY	*ca_key = NULL;
	size_t		 i;
	int		 rc = -1;

	*kept = 0;
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (pki_path(path, sizeof(path), dir, "ca", "crt") == -1) {
		snprintf(err, errlen, "%s: path too long", dir);
		return -1;
	}
	if (!force && pki_exists(path)) {
		if (pki_load_ca(dir, &ca, &ca_key, err, errlen) == -1)
			return -1;
		*kept = 1;
	} else if (pki_issue(dir, &pki_ca_profile, pki_ca_profile.cn, NULL, NULL,
	    &ca, &ca_key, err, errlen) == -1)
		return -1;
	for (i = 0; i < sizeof(pki_server_profiles) / sizeof(pki_server_profiles[0]);
	    i++) {
		const struct pki_profile *p = &pki_server_profiles[i];

		if (pki_path(path, sizeof(path), dir, p->file, "crt") == -1 ||
		    pki_path(key_path, sizeof(key_path), dir, p->file, "key") == -1) {
			snprintf(err, errlen, "%s: path too long", dir);
			goto fail;
		}
		if (*kept && pki_exists(path) && pki_exists(key_path))
			continue;
		if (pki_issue(dir, p, p->cn, ca, ca_key, NULL, NULL, err,
		    errlen) == -1)
			goto fail;
	}
	if (pki_create_pkgsign(dir, force, err, errlen) == -1)
		goto fail;
	rc = 0;
 fail:
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return rc;
}

int
pki_issue_machine(const char *dir, const char *name, char *err, size_t errlen)
{
	struct pki_profile	 p = pki_machine_profile;
	X509			*ca;
	EVP_PKEY		*ca_key;
	int			 rc;

	if (!pki_name_ok(name) || strcmp(name, "ca") == 0 ||
	    strcmp(name, "gateway") == 0 || strcmp(name, "services") == 0 ||
	    strcmp(name, PKI_PKGSIGN_CA) == 0) {
		snprintf(err, errlen, "machine name \"%s\": expected 1-64 of "
		    "[A-Za-z0-9._-], not ca, gateway, services or "
		    PKI_PKGSIGN_CA, name);
		return -1;
	}
	p.file = p.cn = name;
	if (pki_load_ca(dir, &ca, &ca_key, err, errlen) == -1)
		return -1;
	rc = pki_issue(dir, &p, name, ca, ca_key, NULL, NULL, err, errlen);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return rc;
}

struct pki_ca *
pki_ca_load(const char *dir, char *err, size_t errlen)
{
	struct pki_ca	*ca;

	if ((ca = calloc(1, sizeof(*ca))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (pki_load_ca(dir, &ca->cert, &ca->key, err, errlen) == -1) {
		free(ca);
		return NULL;
	}
	return ca;
}

void
pki_ca_free(struct pki_ca *ca)
{
	if (ca == NULL)
		return;
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	free(ca);
}

EVP_PKEY *
pki_ca_key(const struct pki_ca *ca)
{
	return ca->key;
}

void
pki_serial_text(X509 *cert, char *buf, size_t len)
{
	BIGNUM	*bn;
	char	*hex;

	buf[0] = '\0';
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL)) == NULL)
		return;
	if ((hex = BN_bn2hex(bn)) != NULL && strlen(hex) < len)
		snprintf(buf, len, "%s", hex);
	OPENSSL_free(hex);
	BN_free(bn);
}

/* Is the CSR's key one we issue certificates for? */
static int
pki_csr_key_ok(EVP_PKEY *key, char *why, size_t whylen)
{
	char	group[64];
	size_t	glen = 0;

	if (EVP_PKEY_is_a(key, "EC")) {
		if (EVP_PKEY_get_utf8_string_param(key, "group", group,
		    sizeof(group), &glen) == 1 && (strcmp(group, "prime256v1") == 0 ||
		    strcmp(group, "secp384r1") == 0))
			return 0;
		snprintf(why, whylen, "the CSR's EC key is on curve %s; expected "
		    "P-256 or P-384", glen > 0 ? group : "(unknown)");
		return -1;
	}
	if (EVP_PKEY_is_a(key, "RSA")) {
		if (EVP_PKEY_get_bits(key) >= 2048)
			return 0;
		snprintf(why, whylen, "the CSR's RSA key has %d bits; expected 2048 "
		    "or more", EVP_PKEY_get_bits(key));
		return -1;
	}
	snprintf(why, whylen, "the CSR's key is %s; expected EC (P-256, P-384) "
	    "or RSA", EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) :
	    "of an unknown type");
	return -1;
}

X509_REQ *
pki_csr_parse(const char *pem, size_t len, const char *name, char *why,
    size_t whylen)
{
	X509_REQ	*req = NULL;
	X509_NAME	*subject;
	EVP_PKEY	*key;
	BIO		*bio;
	char		 cn[256];
	int		 n;

	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (req == NULL) {
		snprintf(why, whylen, "not a PEM certificate request (-----BEGIN "
		    "CERTIFICATE REQUEST-----)");
		return NULL;
	}
	if ((key = X509_REQ_get0_pubkey(req)) == NULL) {
		snprintf(why, whylen, "the CSR has no usable public key");
		goto fail;
	}
	if (pki_csr_key_ok(key, why, whylen) == -1)
		goto fail;
	if (X509_REQ_verify(req, key) != 1) {
		snprintf(why, whylen, "the CSR's signature does not verify with "
		    "its own key");
		goto fail;
	}
	subject = X509_REQ_get_subject_name(req);
	if (X509_NAME_get_index_by_NID(subject, NID_commonName, -1) == -1) {
		snprintf(why, whylen, "the CSR's subject has no CN; expected "
		    "CN=%s", name);
		goto fail;
	}
	n = X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof(cn));
	if (n <= 0 || (size_t)n >= sizeof(cn) || strlen(cn) != (size_t)n ||
	    X509_NAME_get_index_by_NID(subject, NID_commonName,
	    X509_NAME_get_index_by_NID(subject, NID_commonName, -1)) != -1 ||
	    strcmp(cn, name) != 0) {
		snprintf(why, whylen, "the CSR's CN is \"%.64s\"; expected CN=%s "
		    "(the name being registered)", n > 0 ? cn : "", name);
		goto fail;
	}
	ERR_clear_error();
	return req;
 fail:
	ERR_clear_error();
	X509_REQ_free(req);
	return NULL;
}

char *
pki_ca_issue(struct pki_ca *ca, X509_REQ *req, const char *name, long lifetime,
    char *serial, size_t seriallen, time_t *not_after, char *err, size_t errlen)
{
	X509		*cert;
	BIO		*bio = NULL;
	BUF_MEM		*mem;
	char		*pem = NULL;
	struct tm	 tm;

	/* From now exactly: a renewal at half the lifetime is then on time. */
	if ((cert = pki_make_cert(&pki_machine_profile, name,
	    X509_REQ_get0_pubkey(req), ca->cert, ca->key, 0, lifetime)) == NULL) {
		tls_error(err, errlen, "cannot make the certificate", name);
		return NULL;
	}
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509(bio, cert) != 1 ||
	    ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) {
		tls_error(err, errlen, "cannot write the certificate", name);
		goto done;
	}
	BIO_get_mem_ptr(bio, &mem);
	if ((pem = malloc(mem->length + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	memcpy(pem, mem->data, mem->length);
	pem[mem->length] = '\0';
	pki_serial_text(cert, serial, seriallen);
	*not_after = timegm(&tm);
 done:
	BIO_free(bio);
	X509_free(cert);
	return pem;
}

SSL_CTX *
pki_server_ctx(const char *pki_dir, const char *name, char *err, size_t errlen)
{
	char	 cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX];
	SSL_CTX	*ctx;

	snprintf(cert, sizeof(cert), "%s/%s.crt", pki_dir, name);
	snprintf(key, sizeof(key), "%s/%s.key", pki_dir, name);
	snprintf(ca, sizeof(ca), "%s/ca.crt", pki_dir);
	if ((ctx = tls_server_ctx(cert, key, err, errlen)) == NULL)
		return NULL;
	if (tls_server_client_ca(ctx, ca, 0, err, errlen) == -1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int
pki_peer_identity(SSL *ssl, char *cn, size_t cnlen, char *serial,
    size_t seriallen, char *why, size_t whylen)
{
	X509	*cert;
	long	 verdict;
	int	 n;

	cn[0] = '\0';
	serial[0] = '\0';
	if ((cert = SSL_get0_peer_certificate(ssl)) == NULL) {
		snprintf(why, whylen, "no client certificate");
		return -1;
	}
	if ((verdict = SSL_get_verify_result(ssl)) != X509_V_OK) {
		snprintf(why, whylen, "client certificate refused: %s",
		    X509_verify_cert_error_string(verdict));
		return -1;
	}
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
	    NID_commonName, cn, (int)cnlen);
	if (n <= 0 || (size_t)n >= cnlen || strlen(cn) != (size_t)n) {
		cn[0] = '\0';
		snprintf(why, whylen, "client certificate without a usable CN");
		return -1;
	}
	pki_serial_text(cert, serial, seriallen);
	if (serial[0] == '\0') {
		cn[0] = '\0';
		snprintf(why, whylen, "client certificate without a usable serial "
		    "number");
		return -1;
	}
	return 0;
}
