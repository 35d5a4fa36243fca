/* safedir.h -- directories and files that another user can change, opened without following a symlink, owner and mode set on the fd. */
#ifndef SAFEDIR_H
#define SAFEDIR_H

#include <stddef.h>
#include <sys/types.h>

#define SAFEDIR_KEEP_UID	((uid_t)-1)	/* leave the owner as it is */
#define SAFEDIR_KEEP_GID	((gid_t)-1)

/* The directory at path (O_DIRECTORY|O_NOFOLLOW: its last component is
 * not followed); -1 with err filled. */
int	safedir_open(const char *path, char *err, size_t errlen);
/* The subdirectory name of dirfd, made with mkdirat() when it is missing,
 * then opened O_DIRECTORY|O_NOFOLLOW; owner (uid, gid unless KEEP) and mode
 * are set on that fd.  Returns the fd, or -1 with err filled (a symlink in
 * its place is ELOOP or ENOTDIR, never followed). */
int	safedir_make(int dirfd, const char *name, mode_t mode, uid_t uid,
	    gid_t gid, char *err, size_t errlen);
/* openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode) of a regular
 * file with one link (a hard link to another file is refused); with
 * O_CREAT the owner (unless KEEP) and mode are set on the fd.  Returns the
 * fd, or -1 with err filled. */
int	safedir_open_file(int dirfd, const char *name, int flags, mode_t mode,
	    uid_t uid, gid_t gid, char *err, size_t errlen);
/* "<dir>/<name>" in buf; -1 when it does not fit. */
int	safedir_path(char *buf, size_t len, const char *dir, const char *name);

#endif
