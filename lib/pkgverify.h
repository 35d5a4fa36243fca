/* pkgverify.h -- a downloaded package checked against its catalog entry (size, SHA-256, detached CMS signature by its publisher) before it is opened. */
#ifndef PKGVERIFY_H
#define PKGVERIFY_H

#include <stddef.h>
#include <stdint.h>

#define PKGVERIFY_SIG_MAX	(256 * 1024)	/* a larger signature is refused */

/*
 * What the catalog says of one package (extension or guest configuration).
 * type and version are the caller's business; they are not in the
 * signature.
 */
struct pkg_expect {
	const char	*publisher;	/* e.g. "Contoso.Monitoring" */
	const char	*sha256;	/* 64 hex digits, either case */
	uint64_t	 size;		/* bytes of the package file */
};

/*
 * The trust: the package-signing CA certificates, PEM, one or more in
 * ca_file (a separate CA from the machine's TLS trust).  NULL with err
 * filled when the file cannot be read or holds no certificate.
 */
struct pkgverify	*pkgverify_new(const char *ca_file, char *err,
			    size_t errlen);
void			 pkgverify_free(struct pkgverify *);

/*
 * Verifies the package open on fd (the caller opened it O_NOFOLLOW, a
 * regular file) against exp and sig, the detached DER CMS SignedData of
 * the file's bytes.  Returns 0 when every check passes, else -1 with err
 * naming the first check that failed, in this order:
 *   "size 1234 != catalog 1235"
 *   "sha256 mismatch" (the catalog's digest; the signature is not trusted
 *	to say what the file should be)
 *   "signature: no signature" (sig empty)
 *   "signature: not a DER CMS SignedData: <reason>"
 *   "signature: digest SHA1 is not SHA-256 or stronger"
 *   "signature: not signed by the package-signing CA: <openssl reason>"
 *	(the signer's certificate chain)
 *   "signature: does not verify: <openssl reason>" (the signature itself,
 *	or it was made over other content)
 *   "signature: signer CN=X is not publisher Y"
 *   "signature: signer CN=X is not a code-signing certificate"
 * The signature must be detached (no embedded content) and have exactly
 * one signer.  The signer's certificate, and any intermediate, may come
 * from the signature; it must chain to a certificate of ca_file at the
 * current time (issuers must be CAs; keys and signatures of at least 112
 * bits of security, i.e. RSA >= 2048 or EC >= P-256, no SHA-1; no CRL
 * check; no signing time needed).  The signer's digest is SHA-256, -384
 * or -512.
 *
 * The publisher match: the signer certificate's subject has exactly one
 * commonName, and it equals exp->publisher byte for byte (case included).
 * The certificate must carry extendedKeyUsage codeSigning, and
 * keyUsage digitalSignature if it has a keyUsage.
 *
 * The file is read through fd from offset 0; on return (either way) fd is
 * back at offset 0, so the caller opens the archive on the same fd and
 * unpacks exactly the bytes that were verified.  The file is streamed, never
 * held in memory; it is read once, twice only when the signature fails
 * before its content was read (to tell a wrong file from a bad signature).
 */
int	pkgverify_fd(struct pkgverify *, int fd, const struct pkg_expect *exp,
	    const void *sig, size_t siglen, char *err, size_t errlen);

#endif
