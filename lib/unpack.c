/* unpack.c -- a package zip unpacked into a fresh directory that appears, complete, under its final name or not at all. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "unpack.h"

#define UNPACK_CHUNK		(64 * 1024)
#define UNPACK_MAX_DEPTH	128	/* components in one name */
#define UNPACK_TEMP_LEN		(sizeof(UNPACK_TEMP_PREFIX) + 16)

struct unpack {
	struct archive			*ar;
	const struct unpack_limits	*lim;
	int				 rootfd;	/* the temporary directory */
	int				 cachefd;	/* the directory cachepath, or -1 */
	char				 cachepath[PATH_MAX];
	uint64_t			 bytes;		/* content written so far */
	uint64_t			 entries;
	unsigned char			*buf;
	char				 shown[160];	/* the entry, printable */
	char				*err;
	size_t				 errlen;
};

static const struct unpack_limits unpack_defaults = {
	UNPACK_MAX_BYTES, UNPACK_MAX_ENTRIES
};

/* name, printable and bounded, for messages (archive names are hostile). */
static void
unpack_show(struct unpack *u, const char *name)
{
	size_t	i, n = sizeof(u->shown) - 4;

	for (i = 0; name[i] != '\0' && i < n; i++)
		u->shown[i] = (unsigned char)name[i] >= 0x20 &&
		    (unsigned char)name[i] < 0x7f ? name[i] : '?';
	if (name[i] != '\0') {
		memcpy(u->shown + i, "...", 3);
		i += 3;
	}
	u->shown[i] = '\0';
}

static int
unpack_remove_at(int parentfd, const char *name, int depth, char *err,
    size_t errlen)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd, removed;

	if (unlinkat(parentfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR) {
		snprintf(err, errlen, "remove %s: %s", name, strerror(errno));
		return -1;
	}
	if (depth > UNPACK_MAX_DEPTH + 2) {
		snprintf(err, errlen, "remove %s: too deep", name);
		return -1;
	}
	if ((fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "remove %s: %s", name, strerror(errno));
		return -1;
	}
	if ((d = fdopendir(fd)) == NULL) {
		snprintf(err, errlen, "remove %s: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	/* Again until a pass finds nothing: readdir need not return what
	 * follows an unlink in the same pass. */
	do {
		removed = 0;
		rewinddir(d);
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if (unpack_remove_at(dirfd(d), de->d_name, depth + 1,
			    err, errlen) == -1) {
				closedir(d);
				return -1;
			}
			removed = 1;
		}
	} while (removed);
	closedir(d);
	if (unlinkat(parentfd, name, AT_REMOVEDIR) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "remove %s: %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

int
unpack_remove_tree(int parentfd, const char *name, char *err, size_t errlen)
{
	if (name[0] == '\0' || strchr(name, '/') != NULL ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		snprintf(err, errlen, "remove '%s': not a name in the "
		    "directory", name);
		return -1;
	}
	return unpack_remove_at(parentfd, name, 0, err, errlen);
}

int
unpack_remove_stale(int parentfd, char *err, size_t errlen)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd, n = 0, again;

	if ((fd = openat(parentfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (d = fdopendir(fd)) == NULL) {
		snprintf(err, errlen, "stale unpacks: %s", strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	do {
		again = 0;
		rewinddir(d);
		while ((de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, UNPACK_TEMP_PREFIX,
			    sizeof(UNPACK_TEMP_PREFIX) - 1) != 0)
				continue;
			if (unpack_remove_at(parentfd, de->d_name, 0, err,
			    errlen) == -1) {
				closedir(d);
				return -1;
			}
			n++;
			again = 1;
			break;
		}
	} while (again);
	closedir(d);
	return n;
}

/*
 * The archive's name as a relative path of plain components in out
 * ("a/b/c"), or -1 with err filled.  Backslashes are separators; "." and
 * empty components go; an absolute name or a ".." component is refused.
 */
static int
unpack_normalize(struct unpack *u, const char *name, char *out, size_t len)
{
	const char	*p, *end;
	size_t		 clen, o = 0;
	int		 depth = 0;

	if (name[0] == '/' || name[0] == '\\') {
		snprintf(u->err, u->errlen, "entry '%s': absolute path",
		    u->shown);
		return -1;
	}
	for (p = name; *p != '\0'; p = *end != '\0' ? end + 1 : end) {
		for (end = p; *end != '\0' && *end != '/' && *end != '\\'; end++)
			;
		clen = (size_t)(end - p);
		if (clen == 0 || (clen == 1 && p[0] == '.'))
			continue;
		if (clen == 2 && p[0] == '.' && p[1] == '.') {
			snprintf(u->err, u->errlen, "entry '%s': '..' "
			    "component", u->shown);
			return -1;
		}
		if (clen > NAME_MAX || ++depth > UNPACK_MAX_DEPTH ||
		    o + clen + 2 > len) {
			snprintf(u->err, u->errlen, "entry '%s': name too long "
			    "or too deep", u->shown);
			return -1;
		}
		if (o > 0)
			out[o++] = '/';
		memcpy(out + o, p, clen);
		o += clen;
	}
	out[o] = '\0';
	return 0;
}

/*
 * The directory dir ("" is the root; "a/b" otherwise), made where missing,
 * each component opened O_DIRECTORY|O_NOFOLLOW from its parent's fd.  The
 * fd stays u's (cached for the next entry, which is usually a sibling).
 */
static int
unpack_dir(struct unpack *u, const char *dir)
{
	char	 comp[NAME_MAX + 1];
	const char *p, *end;
	size_t	 clen;
	int	 cur, next;

	if (dir[0] == '\0')
		return u->rootfd;
	if (u->cachefd != -1 && strcmp(dir, u->cachepath) == 0)
		return u->cachefd;
	cur = u->rootfd;
	for (p = dir; ; p = end + 1) {
		if ((end = strchr(p, '/')) == NULL)
			end = p + strlen(p);
		clen = (size_t)(end - p);
		memcpy(comp, p, clen);
		comp[clen] = '\0';
		if (mkdirat(cur, comp, 0700) == -1 && errno != EEXIST) {
			snprintf(u->err, u->errlen, "entry '%s': mkdir %s: %s",
			    u->shown, comp, strerror(errno));
			goto fail;
		}
		if ((next = openat(cur, comp, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) == -1) {
			snprintf(u->err, u->errlen, "entry '%s': %s: %s",
			    u->shown, comp, errno == ENOTDIR || errno == ELOOP ?
			    "not a directory" : strerror(errno));
			goto fail;
		}
		if (fchmod(next, 0755) == -1) {
			snprintf(u->err, u->errlen, "entry '%s': chmod %s: %s",
			    u->shown, comp, strerror(errno));
			close(next);
			goto fail;
		}
		if (cur != u->rootfd)
			close(cur);
		cur = next;
		if (*end == '\0')
			break;
	}
	if (u->cachefd != -1)
		close(u->cachefd);
	u->cachefd = cur;
	snprintf(u->cachepath, sizeof(u->cachepath), "%s", dir);
	return cur;
fail:
	if (cur != u->rootfd)
		close(cur);
	return -1;
}

/* The entry's content, counted as it is written. */
static int
unpack_file(struct unpack *u, struct archive_entry *e, int dirfd,
    const char *base)
{
	const unsigned char	*p;
	uint64_t		 written = 0;
	la_ssize_t		 n;
	ssize_t			 w;
	mode_t			 mode;
	int			 fd;

	if (archive_entry_size_is_set(e) && archive_entry_size(e) >= 0 &&
	    (uint64_t)archive_entry_size(e) > u->lim->max_bytes - u->bytes) {
		snprintf(u->err, u->errlen, "entry '%s': more than %llu bytes "
		    "unpacked in total", u->shown,
		    (unsigned long long)u->lim->max_bytes);
		return -1;
	}
	if ((fd = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		snprintf(u->err, u->errlen, "entry '%s': %s", u->shown,
		    errno == EEXIST ? "already in the package" :
		    strerror(errno));
		return -1;
	}
	for (;;) {
		n = archive_read_data(u->ar, u->buf, UNPACK_CHUNK);
		if (n == 0)
			break;
		if (n < 0) {
			snprintf(u->err, u->errlen, "entry '%s': %s", u->shown,
			    archive_error_string(u->ar) != NULL ?
			    archive_error_string(u->ar) : "read error");
			goto fail;
		}
		if ((uint64_t)n > u->lim->max_bytes - u->bytes) {
			snprintf(u->err, u->errlen, "entry '%s': more than %llu "
			    "bytes unpacked in total", u->shown,
			    (unsigned long long)u->lim->max_bytes);
			goto fail;
		}
		u->bytes += (uint64_t)n;
		written += (uint64_t)n;
		for (p = u->buf; n > 0; p += w, n -= w) {
			if ((w = write(fd, p, (size_t)n)) == -1) {
				if (errno == EINTR) {
					w = 0;
					continue;
				}
				snprintf(u->err, u->errlen, "entry '%s': write: "
				    "%s", u->shown, strerror(errno));
				goto fail;
			}
		}
	}
	if (archive_entry_size_is_set(e) &&
	    (archive_entry_size(e) < 0 ||
	    (uint64_t)archive_entry_size(e) != written)) {
		snprintf(u->err, u->errlen, "entry '%s': %llu bytes, its header "
		    "says %lld", u->shown, (unsigned long long)written,
		    (long long)archive_entry_size(e));
		goto fail;
	}
	mode = archive_entry_perm(e) & 0111 ? 0755 : 0644;
	if (fchmod(fd, mode) == -1) {
		snprintf(u->err, u->errlen, "entry '%s': chmod: %s", u->shown,
		    strerror(errno));
		goto fail;
	}
	if (close(fd) == -1) {
		snprintf(u->err, u->errlen, "entry '%s': close: %s", u->shown,
		    strerror(errno));
		return -1;
	}
	return 0;
fail:
	close(fd);
	return -1;
}

static const char *
unpack_type_name(mode_t type)
{
	switch (type) {
	case AE_IFLNK:
		return "symlink";
	case AE_IFCHR:
		return "character device";
	case AE_IFBLK:
		return "block device";
	case AE_IFIFO:
		return "FIFO";
	case AE_IFSOCK:
		return "socket";
	default:
		return "entry of unknown type";
	}
}

static int
unpack_entry(struct unpack *u, struct archive_entry *e)
{
	char		 path[PATH_MAX], *slash;
	const char	*name, *base;
	mode_t		 type;
	int		 dirfd;

	if ((name = archive_entry_pathname(e)) == NULL) {
		snprintf(u->err, u->errlen, "entry %llu: no name",
		    (unsigned long long)u->entries);
		return -1;
	}
	unpack_show(u, name);
	type = archive_entry_filetype(e);
	if (archive_entry_hardlink(e) != NULL) {
		snprintf(u->err, u->errlen, "entry '%s': hardlink refused "
		    "(packages hold no links)", u->shown);
		return -1;
	}
	if (type != AE_IFREG && type != AE_IFDIR) {
		snprintf(u->err, u->errlen, "entry '%s': %s refused%s",
		    u->shown, unpack_type_name(type), type == AE_IFLNK ?
		    " (packages hold no links)" : "");
		return -1;
	}
	if (archive_entry_is_encrypted(e)) {
		snprintf(u->err, u->errlen, "entry '%s': encrypted", u->shown);
		return -1;
	}
	if (unpack_normalize(u, name, path, sizeof(path)) == -1)
		return -1;
	if (type == AE_IFDIR)
		return unpack_dir(u, path) == -1 ? -1 : 0;
	if (path[0] == '\0') {
		snprintf(u->err, u->errlen, "entry '%s': a file with no name",
		    u->shown);
		return -1;
	}
	if ((slash = strrchr(path, '/')) != NULL) {
		*slash = '\0';
		base = slash + 1;
		dirfd = unpack_dir(u, path);
	} else {
		base = path;
		dirfd = u->rootfd;
	}
	if (dirfd == -1)
		return -1;
	return unpack_file(u, e, dirfd, base);
}

static int
unpack_temp_name(char *buf, size_t len)
{
	uint64_t	r;

	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -1;
	snprintf(buf, len, "%s%016llx", UNPACK_TEMP_PREFIX,
	    (unsigned long long)r);
	return 0;
}

int
unpack_zip_fd(int fd, int parentfd, const char *name, mode_t mode,
    const struct unpack_limits *lim, char *err, size_t errlen)
{
	struct unpack		 u;
	struct archive_entry	*e;
	struct stat		 st;
	char			 tmp[UNPACK_TEMP_LEN], why[256];
	int			 r, made = 0;

	memset(&u, 0, sizeof(u));
	u.lim = lim != NULL ? lim : &unpack_defaults;
	u.rootfd = u.cachefd = -1;
	u.err = err;
	u.errlen = errlen;
	if (name[0] == '\0' || strchr(name, '/') != NULL ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strncmp(name, UNPACK_TEMP_PREFIX, sizeof(UNPACK_TEMP_PREFIX) - 1)
	    == 0) {
		snprintf(err, errlen, "unpack into '%s': not a plain name",
		    name);
		return -1;
	}
	if (fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		snprintf(err, errlen, "unpack into %s: it exists", name);
		return -1;
	}
	if (lseek(fd, 0, SEEK_SET) == -1) {
		snprintf(err, errlen, "package: seek: %s", strerror(errno));
		return -1;
	}
	if ((u.buf = malloc(UNPACK_CHUNK)) == NULL ||
	    (u.ar = archive_read_new()) == NULL) {
		snprintf(err, errlen, "unpack: out of memory");
		goto fail;
	}
	/* Only the zip reader that trusts the central directory, and no
	 * outer compression: what is checked is what is written. */
	if (archive_read_support_format_zip_seekable(u.ar) != ARCHIVE_OK) {
		snprintf(err, errlen, "unpack: %s", archive_error_string(u.ar));
		goto fail;
	}
	if (unpack_temp_name(tmp, sizeof(tmp)) == -1 ||
	    mkdirat(parentfd, tmp, 0700) == -1) {
		snprintf(err, errlen, "unpack: temporary directory: %s",
		    strerror(errno));
		goto fail;
	}
	made = 1;
	if ((u.rootfd = openat(parentfd, tmp, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1 || fchmod(u.rootfd, 0700) == -1) {
		snprintf(err, errlen, "unpack: %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (archive_read_open_fd(u.ar, fd, UNPACK_CHUNK) != ARCHIVE_OK) {
		snprintf(err, errlen, "package: not a zip: %s",
		    archive_error_string(u.ar) != NULL ?
		    archive_error_string(u.ar) : "unreadable");
		goto fail;
	}
	for (;;) {
		r = archive_read_next_header(u.ar, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			snprintf(err, errlen, "package: entry %llu: %s",
			    (unsigned long long)u.entries + 1,
			    archive_error_string(u.ar) != NULL ?
			    archive_error_string(u.ar) : "unreadable");
			goto fail;
		}
		if (++u.entries > u.lim->max_entries) {
			snprintf(err, errlen, "package: more than %llu entries",
			    (unsigned long long)u.lim->max_entries);
			goto fail;
		}
		if (unpack_entry(&u, e) == -1)
			goto fail;
	}
	if (fchmod(u.rootfd, mode & 0777) == -1) {
		snprintf(err, errlen, "unpack: chmod: %s", strerror(errno));
		goto fail;
	}
	if (renameat2(parentfd, tmp, parentfd, name, RENAME_NOREPLACE) == -1 &&
	    (errno != EINVAL ||
	    renameat(parentfd, tmp, parentfd, name) == -1)) {
		snprintf(err, errlen, "unpack into %s: %s", name,
		    errno == EEXIST || errno == ENOTEMPTY ? "it exists" :
		    strerror(errno));
		goto fail;
	}
	made = 0;
	r = 0;
	goto done;
fail:
	r = -1;
done:
	if (u.cachefd != -1)
		close(u.cachefd);
	if (u.rootfd != -1)
		close(u.rootfd);
	if (u.ar != NULL)
		archive_read_free(u.ar);
	free(u.buf);
	if (made && unpack_remove_at(parentfd, tmp, 0, why, sizeof(why)) == -1 &&
	    strlen(err) + 3 < errlen)
		snprintf(err + strlen(err), errlen - strlen(err), "; %s", why);
	lseek(fd, 0, SEEK_SET);
	return r;
}
