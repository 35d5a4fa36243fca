/* pkgverify.h -- a downloaded package checked against its catalog entry (size, SHA-256, and its publisher's CMS signature of a statement naming the package and its digest) before it is opened. */
#ifndef PKGVERIFY_H
#define PKGVERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "pkgstatement.h"

#define PKGVERIFY_SIG_MAX	(256 * 1024)	/* a larger signature is refused */

/*
 * What the catalog says of one package (extension or guest configuration):
 * who publishes it, what it is, and its file.  The signature must say the
 * same identity, so that a package signed as one type (or configuration,
 * or version) is never installed as another.
 */
struct pkg_expect {
	enum pkg_kind	 kind;
	const char	*publisher;	/* e.g. "Contoso.Monitoring" */
	const char	*name;		/* the extension's type ("CustomScript"),
					 * or the configuration's name; NULL:
					 * any, for a guest configuration only */
	const char	*version;	/* "1.0"; NULL: any, for a guest
					 * configuration only */
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
 * regular file) against exp and sig, a DER CMS SignedData whose content
 * is the package's signed statement (pkgstatement.h: its identity, and the
 * file's SHA-256 and size).  Returns 0 when every check passes, with what
 * was signed in *got (got may be NULL), else -1 with err naming the first
 * check that failed, in this order:
 *   "catalog: ..." (exp itself is not usable)
 *   "size 1234 != catalog 1235"
 *   "sha256 mismatch" (the catalog's digest)
 *   "signature: no signature" (sig empty)
 *   "signature: not a DER CMS SignedData: <reason>"
 *   "signature: old format (...)" (a detached signature of the package
 *	bytes, as before signatures named the package: refused, never taken
 *	as the publisher's word on what the package is)
 *   "signature: no signed statement in it (detached)"
 *   "signature: not a package statement: content type X"
 *   "signature: N signers, not one"
 *   "signature: digest SHA1 is not SHA-256 or stronger"
 *   "signature: no signed attributes (the content type is not signed)"
 *   "signature: not signed by the package-signing CA: <openssl reason>"
 *	(the signer's certificate chain)
 *   "signature: does not verify: <openssl reason>" (the signature itself)
 *   "signature: signer CN=X is not publisher Y"
 *   "signature: signer CN=X is not a code-signing certificate"
 *   "signature: statement: <what is wrong with it>"
 *   "signature: statement names publisher X, signed by Y"
 *   "signature: signed for another file (sha256 <hex>, N bytes)"
 *   "signature: signed as a guestconfiguration package, not an extension"
 *   "signature: signed as type A, not B" ("configuration A" for a guest
 *	configuration)
 *   "signature: signed as version 1.0, not 2.0"
 * The signature has exactly one signer.  The signer's certificate, and any
 * intermediate, may come from the signature; it must chain to a
 * certificate of ca_file at the current time (issuers must be CAs; keys
 * and signatures of at least 112 bits of security, i.e. RSA >= 2048 or
 * EC >= P-256, no SHA-1; no CRL check; no signing time needed).  The
 * signer's digest is SHA-256, -384 or -512.
 *
 * The publisher match: the signer certificate's subject has exactly one
 * commonName, and it equals exp->publisher byte for byte (case included),
 * as does the statement's publisher.  The certificate must carry
 * extendedKeyUsage codeSigning, and keyUsage digitalSignature if it has a
 * keyUsage.  Names and versions are compared byte for byte.
 *
 * The file is read through fd from offset 0, once; on return (either way)
 * fd is back at offset 0, so the caller opens the archive on the same fd
 * and unpacks exactly the bytes that were verified (the file must sit in
 * a directory only root writes, so that nobody can change it in between).
 * The file is streamed, never held in memory.
 */
int	pkgverify_fd(struct pkgverify *, int fd, const struct pkg_expect *exp,
	    const void *sig, size_t siglen, struct pkg_statement *got,
	    char *err, size_t errlen);

#endif
