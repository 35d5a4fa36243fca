/* atomicfile.h -- state written so that a crash at any moment leaves the old file or the new one, never a mix. */
#ifndef ATOMICFILE_H
#define ATOMICFILE_H

#include <stddef.h>
#include <sys/types.h>

#define ATOMICFILE_NOSYNC	0x1	/* tmpfs: no fsync of file or directory */
#define ATOMICFILE_KEEP_UID	((uid_t)-1)
#define ATOMICFILE_KEEP_GID	((gid_t)-1)

/*
 * Writes name in the directory dirfd whole: a temp file with a random name
 * (<name>.tmp.<pid>.<random>), created O_EXCL|O_NOFOLLOW mode 0600, given
 * its owner (uid, gid unless KEEP) and mode on the fd before a byte goes
 * in, fsynced, then renamed over name and the directory fsynced.  Nothing
 * another user planted in the directory (a symlink, a file of that name)
 * is followed or written through.
 */
int	atomicfile_writeat(int dirfd, const char *name, const void *data,
	    size_t len, mode_t mode, uid_t uid, gid_t gid, int flags, char *err,
	    size_t errlen);
/* atomicfile_writeat() in path's directory, owner unchanged. */
int	atomicfile_write(const char *path, const void *data, size_t len,
	    mode_t mode, char *err, size_t errlen);
/* Reads a whole file (at most max bytes) into a NUL-terminated buffer the
 * caller frees; NULL with err filled when it cannot. */
char	*atomicfile_read(const char *path, size_t max, size_t *len, char *err,
	    size_t errlen);
/* The same for name in dirfd, never through a symlink. */
char	*atomicfile_readat(int dirfd, const char *name, size_t max, size_t *len,
	    char *err, size_t errlen);
/* Does name look like one of atomicfile's temp files of base?  Its
 * writer's pid in *pid. */
int	atomicfile_is_temp(const char *name, const char *base, long *pid);

#endif
