/* pkginstall.h -- a downloaded package verified, then unpacked from the very fd that was verified: the one path extmgr and guestconfig share. */
#ifndef PKGINSTALL_H
#define PKGINSTALL_H

#include <stddef.h>
#include <sys/types.h>

#include "pkgverify.h"
#include "unpack.h"

enum pkginstall_stage {
	PKGINSTALL_CA,		/* the signing CA could not be loaded */
	PKGINSTALL_OPEN,	/* the download is not there, or not a plain file */
	PKGINSTALL_VERIFY,	/* size, SHA-256 or signature: refused */
	PKGINSTALL_UNPACK,	/* an entry refused, or the disk */
	PKGINSTALL_DONE,
};

/*
 * Opens file in dlfd (O_NOFOLLOW, root's own), checks it against exp
 * (exp->size 0: the file's own size; its kind, publisher, name and version
 * are what the signature must name) and the signature sig with the CA in
 * ca_file (pkgverify_fd; what was signed in *got, got may be NULL), and
 * only then unpacks that same fd into parentfd/dir (an old dir of that
 * name removed first) with mode, within lim (NULL: unpack's defaults,
 * 2 GiB and 100000 entries).  The download is unlinked whatever happens
 * once it was opened.  Returns 0, or -1 with
 * *stage saying which step failed and err why.
 */
int	pkginstall_verified(int dlfd, const char *file, const char *ca_file,
	    const struct pkg_expect *exp, const void *sig, size_t siglen,
	    struct pkg_statement *got, int parentfd, const char *dir, mode_t mode,
	    const struct unpack_limits *lim, enum pkginstall_stage *stage,
	    char *err, size_t errlen);

#endif
