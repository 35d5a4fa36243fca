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
/* As safedir_make(), for a directory that root hands to uid: one that is
 * there already and owned by neither root nor uid (geteuid() for KEEP) is
 * refused ("<name>: owned by uid N, not root's or uid M's: refused"), its
 * owner and mode left as they are. */
int	safedir_take(int dirfd, const char *name, mode_t mode, uid_t uid,
	    gid_t gid, char *err, size_t errlen);
/*
 * For root: the directory at path (a relative one from the working
 * directory), reached from / one directory at a time with openat(): every
 * directory on the way and the last must be root's and writable by no other
 * user (a group other than root's, or others) unless sticky, so that no
 * other user can change what path names.  A symlink is followed only when
 * it is root's (its directory having passed: /var/run -> /run is); one
 * that must not be followed at all (the run dir's own name) is the
 * caller's to open, O_NOFOLLOW, in the fd of its parent.  The fd, or -1
 * with err: "<dir>: <why>", naming the directory that failed; why is the
 * errno text, or ends in "refused": "owned by uid N, not root: refused",
 * "mode 0777, group 0: writable by another user and not sticky: refused",
 * "a symbolic link of uid N, not root's, not followed: refused", "not a
 * directory: refused".
 */
int	safedir_open_trusted(const char *path, char *err, size_t errlen);
/* For root: the directory at path, itself opened O_DIRECTORY|O_NOFOLLOW
 * (it may belong to a daemon's user, as a log folder does: what root
 * opens in it is opened through the fd, never followed), its parent
 * reached by safedir_open_trusted().  The fd, or -1 with err "<dir>: <why>"
 * ("<path>: a symbolic link, not followed" for the last). */
int	safedir_open_in_trusted(const char *path, char *err, size_t errlen);
/* A directory root may trust: root's, and writable by no other user unless
 * sticky (where no one else can rename what root owns); 0, or -1 with why:
 * "owned by uid N, not root: refused", "mode 0777, group 0: writable by
 * another user and not sticky: refused", "not a directory: refused". */
int	safedir_trusted(int fd, char *why, size_t whylen);
/*
 * For root: a file that only root can change, before root reads or runs it
 * by its path.  Its directory must pass safedir_open_trusted(); a symlink
 * in it is followed when it is root's (and its target checked the same
 * way); the file must be regular, root's, and writable by no other user.
 * 0 with the file's path, symlinks followed, in resolved (when not NULL),
 * or -1 with err "<path>: <why>", the path being the one that failed:
 * "not a regular file: refused", "owned by uid N, not root: refused",
 * "mode 0664, group 100: writable by another user: refused", or what
 * safedir_open_trusted() says of a directory on the way.
 */
int	safedir_trusted_file(const char *path, char *resolved, size_t len,
	    char *err, size_t errlen);
/*
 * A file that another user owns, read as data of that user: name in dirfd
 * opened as safedir_open_file() does (never through a symlink, a regular
 * file of one link, a FIFO never waited on) and read whole when it has at
 * most max bytes, also while its owner appends to it.  A NUL-terminated
 * buffer the caller frees (*len its length, when len is not NULL), or NULL
 * with err "<name>: <why>": "a symbolic link, not followed", "not a regular
 * file with one link, refused", "larger than expected, refused".
 */
char	*safedir_read(int dirfd, const char *name, size_t max, size_t *len,
	    char *err, size_t errlen);
/* The directory rel ("a/b") under dirfd, each of its components opened
 * O_DIRECTORY|O_NOFOLLOW (a symlink anywhere on the way is not followed,
 * ".." is refused): a new fd, or -1 with err "<component>: <why>". */
int	safedir_open_under(int dirfd, const char *rel, char *err,
	    size_t errlen);
/* "<dir>/<name>" in buf; -1 when it does not fit. */
int	safedir_path(char *buf, size_t len, const char *dir, const char *name);

#endif
