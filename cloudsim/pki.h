/* pki.h -- the demo PKI: a CA, the gateway and service certificates, machine certificates, and the package-signing CA with its publishers, made with OpenSSL. */
#ifndef PKI_H
#define PKI_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define PKI_GATEWAY_NAME	"gw.cloudsim.test"
#define PKI_SERVICES_DOMAIN	"cloudsim.test"
#define PKI_MACHINE_DAYS	90
#define PKI_PKGSIGN_CA		"pkgsign-ca"	/* DIR/pkgsign-ca.crt, .key: the package-signing CA */
#define PKI_PUBLISHERS		"publishers"	/* DIR/publishers/<name>.crt, .key */
#define PKI_SAMPLE_PUBLISHER	"Cloudsim.Samples"
#define PKI_PUBLISHER_MAX	64

/*
 * Creates dir (if needed) with ca.crt/ca.key, gateway.crt/.key,
 * services.crt/.key, pkgsign-ca.crt/.key and
 * publishers/Cloudsim.Samples.crt/.key.  An existing CA (and package-signing
 * CA) is kept unless force is set (*kept is then 1); a missing pair is issued
 * from it either way.
 * Keys are written 0600, certificates 0644, each through a rename.
 */
int	pki_create(const char *dir, int force, int *kept, char *err,
	    size_t errlen);
/* Issues dir/name.crt and dir/name.key: CN=name, clientAuth, signed by dir's CA. */
int	pki_issue_machine(const char *dir, const char *name, char *err,
	    size_t errlen);
/*
 * The publisher's code-signing certificate and key (CN=name, EKU
 * codeSigning, keyUsage digitalSignature, from DIR's package-signing CA):
 * loaded from DIR/publishers/<name>.*, or issued there when missing, not
 * signed by the current CA, or force is set.  The caller frees both.
 */
int	pki_publisher(const char *dir, const char *name, int force, X509 **cert,
	    EVP_PKEY **key, char *err, size_t errlen);
/* Is name a publisher name ([A-Za-z0-9.], 1-64, no empty dotted part)? */
int	pki_publisher_ok(const char *name);
/* Is name usable as a machine name and file name ([A-Za-z0-9._-], 1-64)? */
int	pki_name_ok(const char *name);

/* The CA of a PKI directory, loaded once to sign CSRs (and tokens). */
struct pki_ca;

struct pki_ca	*pki_ca_load(const char *dir, char *err, size_t errlen);
void		 pki_ca_free(struct pki_ca *);
EVP_PKEY	*pki_ca_key(const struct pki_ca *);
/*
 * A machine's PEM CSR: one request, signed by its own key (EC P-256 or
 * P-384, or RSA of 2048 bits or more), with CN equal to name.  NULL with
 * why (the client's mistake, in words for the client).
 */
X509_REQ	*pki_csr_parse(const char *pem, size_t len, const char *name,
		    char *why, size_t whylen);
/*
 * The machine certificate for req's key: CN=name, clientAuth, valid from
 * now for lifetime seconds.  Its PEM (the caller frees it), with its serial
 * in hex and its notAfter; NULL with err.
 */
char		*pki_ca_issue(struct pki_ca *, X509_REQ *req, const char *name,
		    long lifetime, char *serial, size_t seriallen, time_t *not_after,
		    char *err, size_t errlen);
/* A certificate's serial number in upper-case hex ("" when it has none). */
void		 pki_serial_text(X509 *, char *buf, size_t len);

/* A server context (lib/tls) from <pki_dir>/<name>.crt and .key that asks
 * clients for a certificate from <pki_dir>/ca.crt but lets them in without
 * one: see pki_peer_identity. */
SSL_CTX		*pki_server_ctx(const char *pki_dir, const char *name, char *err,
		    size_t errlen);
/* The verified client certificate's CN and serial number (hex): 0 with
 * both filled, or -1 with why. */
int		 pki_peer_identity(SSL *, char *cn, size_t cnlen, char *serial,
		    size_t seriallen, char *why, size_t whylen);

#endif
