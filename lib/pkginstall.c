/* pkginstall.c -- a downloaded package verified, then unpacked from the very fd that was verified: the one path extmgr and guestconfig share. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pkginstall.h"
#include "pkgverify.h"
#include "safedir.h"
#include "unpack.h"

int
pkginstall_verified(int dlfd, const char *file, const char *ca_file,
    const struct pkg_expect *exp, const void *sig, size_t siglen,
    struct pkg_statement *got, int parentfd, const char *dir, mode_t mode,
    const struct unpack_limits *lim, enum pkginstall_stage *stage, char *err,
    size_t errlen)
{
	struct pkgverify	*pv;
	struct pkg_expect	 e = *exp;
	struct stat		 st;
	int			 fd = -1, rc = -1;

	*stage = PKGINSTALL_CA;
	if ((pv = pkgverify_new(ca_file, err, errlen)) == NULL)
		return -1;
	*stage = PKGINSTALL_OPEN;
	if ((fd = safedir_open_file(dlfd, file, O_RDONLY, 0, SAFEDIR_KEEP_UID,
	    SAFEDIR_KEEP_GID, err, errlen)) == -1)
		goto done;
	if (e.size == 0) {
		if (fstat(fd, &st) == -1) {
			snprintf(err, errlen, "%s: %s", file, strerror(errno));
			goto done;
		}
		e.size = (uint64_t)st.st_size;	/* what was downloaded */
	}
	*stage = PKGINSTALL_VERIFY;
	if (pkgverify_fd(pv, fd, &e, sig != NULL ? sig : "", siglen, got,
	    err, errlen) == -1)
		goto done;
	*stage = PKGINSTALL_UNPACK;
	if (unpack_remove_tree(parentfd, dir, err, errlen) == -1 ||
	    unpack_zip_fd(fd, parentfd, dir, mode, lim, err, errlen) == -1)
		goto done;
	*stage = PKGINSTALL_DONE;
	rc = 0;
 done:
	if (fd != -1) {
		close(fd);
		unlinkat(dlfd, file, 0);
	}
	pkgverify_free(pv);
	return rc;
}
