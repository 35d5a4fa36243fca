/* unpack.h -- a package zip unpacked into a fresh directory that appears, complete, under its final name or not at all. */
#ifndef UNPACK_H
#define UNPACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define UNPACK_MAX_BYTES	(2ULL << 30)	/* 2 GiB unpacked, in total */
#define UNPACK_MAX_ENTRIES	100000
#define UNPACK_TEMP_PREFIX	".unpack-"	/* then 16 hex digits */

struct unpack_limits {
	uint64_t	max_bytes;	/* file content written, in total */
	uint64_t	max_entries;	/* files and directories */
};

/*
 * Unpacks the zip open on fd (a regular file, read from offset 0, e.g. the
 * one pkgverify_fd() just verified) into parentfd/name, a directory that
 * must not exist.  The entries go into parentfd/.unpack-<random> (mkdirat,
 * 0700), renamed to name (renameat2 RENAME_NOREPLACE) only when every entry
 * is written, with its mode then set to mode.  On any error nothing new is
 * left in parentfd: the temporary directory is removed whole.  lim NULL
 * means the defaults above.
 *
 * Refused, with err naming the entry ("entry 'a/../b': ..."):
 *   a name that is empty, absolute, or has a ".." component; a backslash
 *     is read as a separator first (zips made by Windows tools use it), so
 *     "..\x" is refused as well; "." and empty components are dropped;
 *   any symlink or hardlink, inside the tree or not (packages have no need
 *     of them, and a link's target cannot be judged without the links it
 *     passes through);
 *   device files, FIFOs, sockets, encrypted entries;
 *   the same file twice, or a file where a directory is (O_EXCL);
 *   more than lim->max_entries entries; more than lim->max_bytes of
 *     content in total (counted as written, whatever the headers declare);
 *   an entry whose content is not the size its header declares.
 *
 * Every file is created with openat(O_CREAT|O_EXCL|O_NOFOLLOW) relative to
 * its directory's fd, every directory with mkdirat then opened
 * O_DIRECTORY|O_NOFOLLOW, one component at a time: no path built from an
 * archive name is ever opened.  Modes: a file is 0755 when the archive
 * gives it any execute bit, else 0644; a directory is 0755.  Owner: the
 * caller; the archive's owner, times, ACLs and xattrs are ignored.
 * Nothing is fsync'd: a caller that records the install in a state file
 * syncs the tree first (syncfs on parentfd) if it must survive power loss.
 * Returns 0, or -1 with err filled.
 */
int	unpack_zip_fd(int fd, int parentfd, const char *name, mode_t mode,
	    const struct unpack_limits *lim, char *err, size_t errlen);

/*
 * Removes parentfd/name and everything under it, without following any
 * symlink (a symlink inside is unlinked, never entered).  A missing name is
 * not an error.  Returns 0, or -1 with err filled.
 */
int	unpack_remove_tree(int parentfd, const char *name, char *err,
	    size_t errlen);

/*
 * Removes every ".unpack-*" directory left in parentfd by a process that
 * died mid-unpack (run it before unpacking again, e.g. at start-up, never
 * while another unpack into parentfd runs).  Returns how many were removed,
 * or -1 with err filled.
 */
int	unpack_remove_stale(int parentfd, char *err, size_t errlen);

#endif
