/* res_file.c -- the file, file_line and directory resources: tested through safe paths, set by atomic rewrite with the previous content backed up. */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "atomicfile.h"
#include "resources.h"

/* Owner, group and mode as a policy sets them (-1 / NULL: left alone). */
struct meta {
	char	*owner;
	char	*group;
	int	 mode;
};

struct file_props {
	char		*path;
	int		 present;
	char		*content;	/* exact text, or NULL */
	size_t		 content_len;
	char		*sha256;	/* lowercase hex, or NULL */
	struct meta	 meta;
};

struct line_props {
	char		*path;
	int		 present;
	char		*regex_text;
	regex_t		 regex;
	int		 compiled;
	char		*line;		/* NULL: present is audit only */
};

struct dir_props {
	char		*path;
	int		 present;
	struct meta	 meta;
};

/* What a path holds now: the parent directory's fd and the entry. */
struct target {
	int		 dirfd;
	char		 name[NAME_MAX + 1];
	struct stat	 st;		/* st_mode 0: missing */
	int		 noparent;	/* a directory on the way is missing */
};

static const char *
kind_of(mode_t m)
{
	if (S_ISREG(m))
		return "a regular file";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISLNK(m))
		return "a symlink";
	return "a special file";
}

/* -1 with a reason when the path cannot be looked at safely. */
static int
target_open(const char *path, int follow_last, struct target *t,
    struct gc_run *run)
{
	char	 err[PATH_MAX + 128];

	memset(t, 0, sizeof(*t));
	t->dirfd = -1;
	if (gc_path_open(path, follow_last, &t->dirfd, t->name,
	    sizeof(t->name), &t->st, err, sizeof(err)) == 0)
		return 0;
	if (errno == ENOENT) {
		t->noparent = 1;
		return 0;
	}
	gc_reason(run, errno == ELOOP ? "SYMLINK" : "PATH", "%s", err);
	return -1;
}

static void
target_close(struct target *t)
{
	if (t->dirfd != -1)
		close(t->dirfd);
	t->dirfd = -1;
}

/* When nothing is at the path, the verdict (1: absent as wanted, 0:
 * missing) with its reason, the target closed; -1 when something is. */
static int
target_missing(struct target *t, const char *path, int present,
    const char *kind, struct gc_run *run)
{
	if (!t->noparent && t->st.st_mode != 0)
		return -1;
	target_close(t);
	if (!present) {
		gc_reason(run, "COMPLIANT", "%s does not exist", path);
		return 1;
	}
	gc_reason(run, "MISSING", "%s does not exist, expected %s", path, kind);
	return 0;
}

static int
meta_parse(struct meta *m, const json_t *props, char *err, size_t errlen)
{
	if (gc_prop_id(props, "owner", &m->owner, err, errlen) == -1 ||
	    gc_prop_id(props, "group", &m->group, err, errlen) == -1 ||
	    gc_prop_mode(props, &m->mode, err, errlen) == -1)
		return -1;
	return 0;
}

static void
meta_free(struct meta *m)
{
	free(m->owner);
	free(m->group);
}

/* The uid and gid the policy wants (-1: any); -1 with a reason when a
 * name is unknown. */
static int
meta_ids(const struct meta *m, const char *path, long *uid, long *gid,
    struct gc_run *run)
{
	*uid = *gid = -1;
	if (m->owner != NULL && (*uid = gc_id_resolve(m->owner, 0)) == -1) {
		gc_reason(run, "OWNER", "%s: owner %s: no such user", path,
		    m->owner);
		return -1;
	}
	if (m->group != NULL && (*gid = gc_id_resolve(m->group, 1)) == -1) {
		gc_reason(run, "GROUP", "%s: group %s: no such group", path,
		    m->group);
		return -1;
	}
	return 0;
}

/* 1 when st has the owner, group and mode wanted; reasons for each that
 * differs. */
static int
meta_test(const struct meta *m, const char *path, const struct stat *st,
    struct gc_run *run)
{
	long	 uid, gid;
	int	 ok = 1;

	if (meta_ids(m, path, &uid, &gid, run) == -1)
		return 0;
	if (uid != -1 && (long)st->st_uid != uid) {
		gc_reason(run, "OWNER", "%s: owner is %ld, expected %ld (%s)",
		    path, (long)st->st_uid, uid, m->owner);
		ok = 0;
	}
	if (gid != -1 && (long)st->st_gid != gid) {
		gc_reason(run, "GROUP", "%s: group is %ld, expected %ld (%s)",
		    path, (long)st->st_gid, gid, m->group);
		ok = 0;
	}
	if (m->mode != -1 && (int)(st->st_mode & 07777) != m->mode) {
		gc_reason(run, "MODE", "%s: mode is %04o, expected %04o", path,
		    (unsigned)(st->st_mode & 07777), (unsigned)m->mode);
		ok = 0;
	}
	return ok;
}

/* Owner, group and mode set on the entry's own fd (never through a
 * symlink; a file with another hard link is refused: the link may be a
 * user's to a file of root's). */
static int
meta_set(const struct meta *m, const char *path, struct target *t,
    struct gc_run *run)
{
	struct stat	 st;
	long		 uid, gid;
	int		 fd;

	if (meta_ids(m, path, &uid, &gid, run) == -1)
		return -1;
	fd = openat(t->dirfd, t->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NOCTTY | O_NONBLOCK | (S_ISDIR(t->st.st_mode) ? O_DIRECTORY :
	    0));
	if (fd == -1 || fstat(fd, &st) == -1) {
		gc_reason(run, "PATH", "%s: %s", path, strerror(errno));
		goto fail;
	}
	if ((st.st_mode & S_IFMT) != (t->st.st_mode & S_IFMT) ||
	    st.st_ino != t->st.st_ino) {
		gc_reason(run, "PATH", "%s changed while being set", path);
		goto fail;
	}
	if (!S_ISDIR(st.st_mode) && st.st_nlink != 1) {
		gc_reason(run, "LINKS", "%s has %lu hard links: owner and mode "
		    "not changed", path, (unsigned long)st.st_nlink);
		goto fail;
	}
	if ((uid != -1 && (long)st.st_uid != uid) || (gid != -1 &&
	    (long)st.st_gid != gid)) {
		if (fchown(fd, uid == -1 ? (uid_t)-1 : (uid_t)uid, gid == -1 ?
		    (gid_t)-1 : (gid_t)gid) == -1) {
			gc_reason(run, "OWNER", "%s: chown: %s", path,
			    strerror(errno));
			goto fail;
		}
		gc_change(run, "%s: owner %ld:%ld -> %ld:%ld", path,
		    (long)st.st_uid, (long)st.st_gid, uid == -1 ?
		    (long)st.st_uid : uid, gid == -1 ? (long)st.st_gid : gid);
	}
	/* after chown, which drops set-id bits */
	if (m->mode != -1 && ((int)(st.st_mode & 07777) != m->mode ||
	    (uid != -1 && (long)st.st_uid != uid) || (gid != -1 &&
	    (long)st.st_gid != gid))) {
		if (fchmod(fd, m->mode) == -1) {
			gc_reason(run, "MODE", "%s: chmod: %s", path,
			    strerror(errno));
			goto fail;
		}
		if ((int)(st.st_mode & 07777) != m->mode)
			gc_change(run, "%s: mode %04o -> %04o", path,
			    (unsigned)(st.st_mode & 07777), (unsigned)m->mode);
	}
	close(fd);
	return 0;
fail:
	if (fd != -1)
		close(fd);
	return -1;
}

/* The whole content of the entry, read without following a symlink. */
static char *
target_read(struct target *t, const char *path, size_t *len,
    struct gc_run *run)
{
	struct stat	 st;
	char		 err[256], *buf;
	int		 fd;

	fd = openat(t->dirfd, t->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NOCTTY | O_NONBLOCK | O_NOATIME);
	if (fd == -1 && errno == EPERM)
		fd = openat(t->dirfd, t->name, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		gc_reason(run, "READ", "%s: %s", path, strerror(errno));
		return NULL;
	}
	/* what was looked at may have been swapped for a fifo or a device */
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_ino != t->st.st_ino) {
		gc_reason(run, "READ", "%s changed while being read", path);
		close(fd);
		return NULL;
	}
	if ((buf = gc_fd_read(fd, GC_MAX_FILE, len, err, sizeof(err))) ==
	    NULL)
		gc_reason(run, "READ", "%s: %s", path, err);
	close(fd);
	return buf;
}

static void
sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char	 md[32];
	unsigned int	 n = 0;
	size_t		 i;

	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(hex + i * 2, 3, "%02x", md[i]);
}

/* Writes data over the entry (temp file and rename in its directory),
 * keeping its owner and mode unless the policy sets them; the previous
 * content backed up first. */
static int
target_write(struct target *t, const char *path, const struct meta *m,
    const char *data, size_t len, const char *old, size_t oldlen,
    const char *what, struct gc_run *run)
{
	char	 err[256], backup[NAME_MAX + 1];
	long	 uid, gid;
	mode_t	 mode;
	int	 exists = S_ISREG(t->st.st_mode);

	if (meta_ids(m, path, &uid, &gid, run) == -1)
		return -1;
	if (exists && t->st.st_nlink != 1) {
		gc_reason(run, "LINKS", "%s has %lu hard links: not rewritten",
		    path, (unsigned long)t->st.st_nlink);
		return -1;
	}
	if (uid == -1)
		uid = exists ? (long)t->st.st_uid : 0;
	if (gid == -1)
		gid = exists ? (long)t->st.st_gid : 0;
	mode = m->mode != -1 ? (mode_t)m->mode : exists ?
	    (t->st.st_mode & 07777) : 0644;
	if (exists && gc_backup(run, path, old, oldlen, backup,
	    sizeof(backup)) == -1)
		return -1;
	if (atomicfile_writeat(t->dirfd, t->name, data, len, mode, (uid_t)uid,
	    (gid_t)gid, run->ctx->nosync ? ATOMICFILE_NOSYNC : 0, err,
	    sizeof(err)) == -1) {
		gc_reason(run, "WRITE", "%s: %s", path, err);
		return -1;
	}
	if (exists)
		gc_change(run, "%s: %s, %zu bytes (was %zu; backup %s)", path,
		    what, len, oldlen, backup);
	else
		gc_change(run, "%s: created, %zu bytes, mode %04o, owner "
		    "%ld:%ld", path, len, (unsigned)mode, uid, gid);
	return 0;
}

/* ---- file ---- */

static int
file_parse(void *p, const json_t *props, char *err, size_t errlen)
{
	static const char *const	 keys[] = { "path", "ensure", "content",
	    "sha256", "owner", "group", "mode", NULL };
	struct file_props		*f = p;
	json_t				*c;
	size_t				 i;

	if (gc_props_only(props, keys, err, errlen) == -1 ||
	    gc_prop_path(props, &f->path, err, errlen) == -1 ||
	    gc_prop_ensure(props, "present", "absent", &f->present, err,
	    errlen) == -1 || meta_parse(&f->meta, props, err, errlen) == -1 ||
	    gc_prop_str(props, "sha256", 0, &f->sha256, err, errlen) == -1)
		return -1;
	if ((c = json_object_get(props, "content")) != NULL) {
		if (!json_is_string(c)) {
			snprintf(err, errlen, "property content: expected a "
			    "string");
			return -1;
		}
		f->content_len = json_string_length(c);
		if ((f->content = malloc(f->content_len + 1)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		memcpy(f->content, json_string_value(c), f->content_len + 1);
	}
	if (f->content != NULL && f->sha256 != NULL) {
		snprintf(err, errlen, "content and sha256 exclude each other");
		return -1;
	}
	if (f->sha256 != NULL) {
		if (strlen(f->sha256) != 64)
			goto badsha;
		for (i = 0; i < 64; i++) {
			if (f->sha256[i] >= 'A' && f->sha256[i] <= 'F')
				f->sha256[i] += 'a' - 'A';
			if (!((f->sha256[i] >= '0' && f->sha256[i] <= '9') ||
			    (f->sha256[i] >= 'a' && f->sha256[i] <= 'f')))
				goto badsha;
		}
	}
	if (!f->present && (f->content != NULL || f->sha256 != NULL ||
	    f->meta.owner != NULL || f->meta.group != NULL ||
	    f->meta.mode != -1)) {
		snprintf(err, errlen, "ensure absent takes no content, sha256, "
		    "owner, group or mode");
		return -1;
	}
	return 0;
badsha:
	snprintf(err, errlen, "property sha256: expected 64 hex digits");
	return -1;
}

static void
file_free(void *p)
{
	struct file_props	*f = p;

	free(f->path);
	free(f->content);
	free(f->sha256);
	meta_free(&f->meta);
}

/* 1 when the content is as wanted (or the policy says nothing of it). */
static int
file_content_test(const struct file_props *f, struct target *t,
    struct gc_run *run)
{
	char	*buf, hex[65], want[65];
	size_t	 len;
	int	 ok;

	if (f->content == NULL && f->sha256 == NULL)
		return 1;
	if ((buf = target_read(t, f->path, &len, run)) == NULL)
		return 0;
	sha256_hex(buf, len, hex);
	if (f->content != NULL) {
		ok = len == f->content_len && memcmp(buf, f->content, len) == 0;
		if (!ok) {
			sha256_hex(f->content, f->content_len, want);
			gc_reason(run, "CONTENT", "%s: content is %zu bytes, "
			    "sha256 %.12s..., expected %zu bytes, sha256 "
			    "%.12s...", f->path, len, hex, f->content_len,
			    want);
		}
	} else {
		ok = strcmp(hex, f->sha256) == 0;
		if (!ok)
			gc_reason(run, "CONTENT", "%s: sha256 is %s, expected "
			    "%s", f->path, hex, f->sha256);
	}
	free(buf);
	return ok;
}

static int
file_test(const void *p, struct gc_run *run)
{
	const struct file_props	*f = p;
	struct target		 t;
	int			 ok;

	if (target_open(f->path, f->present, &t, run) == -1)
		return 0;
	if ((ok = target_missing(&t, f->path, f->present, "a file", run)) !=
	    -1)
		return ok;
	if (!f->present) {
		gc_reason(run, "PRESENT", "%s exists (%s), expected absent",
		    f->path, kind_of(t.st.st_mode));
		target_close(&t);
		return 0;
	}
	if (!S_ISREG(t.st.st_mode)) {
		gc_reason(run, "TYPE", "%s is %s, expected a regular file",
		    f->path, kind_of(t.st.st_mode));
		target_close(&t);
		return 0;
	}
	ok = meta_test(&f->meta, f->path, &t.st, run);
	if (!file_content_test(f, &t, run))
		ok = 0;
	if (ok)
		gc_reason(run, "COMPLIANT", "%s is a regular file, mode %04o, "
		    "owner %ld:%ld%s", f->path, (unsigned)(t.st.st_mode & 07777),
		    (long)t.st.st_uid, (long)t.st.st_gid, f->content != NULL ?
		    ", content as wanted" : f->sha256 != NULL ?
		    ", sha256 as wanted" : "");
	target_close(&t);
	return ok;
}

static int
file_set(const void *p, struct gc_run *run)
{
	const struct file_props	*f = p;
	struct target		 t;
	json_t			*saved = run->reasons, *scratch;
	char			*old = NULL, hex[65];
	size_t			 oldlen = 0;
	int			 rc = -1, same;

	if (target_open(f->path, f->present, &t, run) == -1)
		return -1;
	if (t.noparent) {
		gc_reason(run, "MISSING", "%s: its directory does not exist: "
		    "not created", f->path);
		goto out;
	}
	if (!f->present) {
		if (t.st.st_mode == 0) {
			rc = 0;
			goto out;
		}
		if (S_ISLNK(t.st.st_mode)) {
			/* the link goes, never what it points at */
			if (unlinkat(t.dirfd, t.name, 0) == -1) {
				gc_reason(run, "REMOVE", "%s: %s", f->path,
				    strerror(errno));
				goto out;
			}
			gc_change(run, "%s: symlink removed", f->path);
			rc = 0;
			goto out;
		}
		if (!S_ISREG(t.st.st_mode)) {
			gc_reason(run, "TYPE", "%s is %s: not removed", f->path,
			    kind_of(t.st.st_mode));
			goto out;
		}
		if ((old = target_read(&t, f->path, &oldlen, run)) == NULL)
			goto out;
		{
			char	 backup[NAME_MAX + 1];

			if (gc_backup(run, f->path, old, oldlen, backup,
			    sizeof(backup)) == -1)
				goto out;
			if (unlinkat(t.dirfd, t.name, 0) == -1) {
				gc_reason(run, "REMOVE", "%s: %s", f->path,
				    strerror(errno));
				goto out;
			}
			gc_change(run, "%s: removed (backup %s)", f->path,
			    backup);
		}
		rc = 0;
		goto out;
	}
	if (t.st.st_mode != 0 && !S_ISREG(t.st.st_mode)) {
		gc_reason(run, "TYPE", "%s is %s: not replaced", f->path,
		    kind_of(t.st.st_mode));
		goto out;
	}
	if (t.st.st_mode != 0 && (f->content != NULL || f->sha256 != NULL)) {
		if ((old = target_read(&t, f->path, &oldlen, run)) == NULL)
			goto out;
	}
	if (f->sha256 != NULL) {
		if (t.st.st_mode != 0)
			sha256_hex(old, oldlen, hex);
		if (t.st.st_mode == 0 || strcmp(hex, f->sha256) != 0) {
			gc_reason(run, "CONTENT", "%s: not written: the policy "
			    "gives only the sha256 of its content", f->path);
			if (t.st.st_mode == 0)
				goto out;
		}
	}
	same = t.st.st_mode != 0 && (f->content == NULL || (oldlen ==
	    f->content_len && memcmp(old, f->content, oldlen) == 0));
	if (!same) {
		rc = target_write(&t, f->path, &f->meta, f->content ?
		    f->content : "", f->content ? f->content_len : 0, old,
		    oldlen, "rewritten", run);
		goto out;
	}
	/* Only the owner, group or mode differ. */
	if ((scratch = json_array()) == NULL)
		goto out;
	run->reasons = scratch;
	same = meta_test(&f->meta, f->path, &t.st, run);
	run->reasons = saved;
	json_decref(scratch);
	rc = same ? 0 : meta_set(&f->meta, f->path, &t, run);
	if (rc == 0 && f->sha256 != NULL && strcmp(hex, f->sha256) != 0)
		rc = -1;
out:
	free(old);
	target_close(&t);
	return rc;
}

const struct gc_type gc_type_file = {
	"file", "FILE", sizeof(struct file_props), file_parse, file_free,
	file_test, file_set
};

/* ---- file_line ---- */

static int
line_parse(void *p, const json_t *props, char *err, size_t errlen)
{
	static const char *const	 keys[] = { "path", "ensure", "regex",
	    "line", NULL };
	struct line_props		*l = p;

	if (gc_props_only(props, keys, err, errlen) == -1 ||
	    gc_prop_path(props, &l->path, err, errlen) == -1 ||
	    gc_prop_ensure(props, "present", "absent", &l->present, err,
	    errlen) == -1 ||
	    gc_prop_str(props, "line", 0, &l->line, err, errlen) == -1 ||
	    gc_prop_regex(props, "regex", 0, &l->regex, &l->regex_text, err,
	    errlen) == -1)
		return -1;
	l->compiled = 1;
	if (l->line != NULL && (strchr(l->line, '\n') != NULL ||
	    strlen(l->line) > 4096)) {
		snprintf(err, errlen, "property line: one line of at most 4096");
		return -1;
	}
	if (l->line != NULL && !l->present) {
		snprintf(err, errlen, "ensure absent takes no line");
		return -1;
	}
	/* else a line that the regex misses would be appended at every run */
	if (l->line != NULL && regexec(&l->regex, l->line, 0, NULL, 0) != 0) {
		snprintf(err, errlen, "property line: \"%.64s\" does not match "
		    "regex", l->line);
		return -1;
	}
	return 0;
}

static void
line_free(void *p)
{
	struct line_props	*l = p;

	free(l->path);
	free(l->regex_text);
	free(l->line);
	if (l->compiled)
		regfree(&l->regex);
}

/* Calls fn on each line of buf (without its newline, NUL-terminated in
 * place and restored); stops when fn returns non-zero. */
static void
each_line(char *buf, size_t len, int (*fn)(void *, char *, size_t, size_t),
    void *arg)
{
	char	*s = buf, *e, *end = buf + len, save;
	size_t	 n = 1;

	while (s < end) {
		if ((e = memchr(s, '\n', end - s)) == NULL)
			e = end;
		save = *e;
		*e = '\0';
		if (fn(arg, s, (size_t)(s - buf), n++) != 0) {
			*e = save;
			return;
		}
		*e = save;
		s = e + 1;
	}
}

struct line_scan {
	const struct line_props	*l;
	size_t			 matched;	/* lines matching the regex */
	size_t			 wrong;		/* of those, not equal to line */
	size_t			 first_no;	/* line number of the first match */
	char			 first[160];	/* its text, cut */
	size_t			 wrong_no;
	char			 wrong_text[160];
};

static int
line_scan_one(void *arg, char *s, size_t off, size_t no)
{
	struct line_scan	*sc = arg;

	(void)off;
	if (regexec(&sc->l->regex, s, 0, NULL, 0) != 0)
		return 0;
	if (sc->matched++ == 0) {
		sc->first_no = no;
		snprintf(sc->first, sizeof(sc->first), "%s", s);
	}
	if (sc->l->line != NULL && strcmp(s, sc->l->line) != 0 &&
	    sc->wrong++ == 0) {
		sc->wrong_no = no;
		snprintf(sc->wrong_text, sizeof(sc->wrong_text), "%s", s);
	}
	return 0;
}

static int
line_test(const void *p, struct gc_run *run)
{
	const struct line_props	*l = p;
	struct line_scan	 sc;
	struct stat		 st;
	char			 err[PATH_MAX + 128], *buf;
	size_t			 len;
	int			 fd;

	if ((fd = gc_file_open_read(l->path, &st, err, sizeof(err))) == -1) {
		if (errno == ENOENT && !l->present) {
			gc_reason(run, "COMPLIANT", "%s does not exist",
			    l->path);
			return 1;
		}
		gc_reason(run, errno == ENOENT ? "MISSING" : errno == ELOOP ?
		    "SYMLINK" : "READ", "%s", err);
		return 0;
	}
	buf = gc_fd_read(fd, GC_MAX_FILE, &len, err, sizeof(err));
	close(fd);
	if (buf == NULL) {
		gc_reason(run, "READ", "%s: %s", l->path, err);
		return 0;
	}
	memset(&sc, 0, sizeof(sc));
	sc.l = l;
	each_line(buf, len, line_scan_one, &sc);
	free(buf);
	if (!l->present) {
		if (sc.matched == 0) {
			gc_reason(run, "COMPLIANT", "%s: no line matches /%s/",
			    l->path, l->regex_text);
			return 1;
		}
		gc_reason(run, "LINE", "%s: line %zu \"%s\" matches /%s/, "
		    "expected no such line", l->path, sc.first_no, sc.first,
		    l->regex_text);
		return 0;
	}
	if (sc.matched == 0) {
		if (l->line != NULL)
			gc_reason(run, "LINE", "%s: no line matches /%s/, "
			    "expected \"%s\"", l->path, l->regex_text, l->line);
		else
			gc_reason(run, "LINE", "%s: no line matches /%s/",
			    l->path, l->regex_text);
		return 0;
	}
	if (sc.wrong > 0) {
		gc_reason(run, "LINE", "%s: line %zu is \"%s\", expected \"%s\"",
		    l->path, sc.wrong_no, sc.wrong_text, l->line);
		return 0;
	}
	gc_reason(run, "COMPLIANT", "%s: line %zu is \"%s\"", l->path,
	    sc.first_no, sc.first);
	return 1;
}

struct line_edit {
	const struct line_props	*l;
	char			*out;
	size_t			 len;
	size_t			 replaced, removed;
	int			 last_kept;	/* the last line seen was written */
};

static int
line_edit_one(void *arg, char *s, size_t off, size_t no)
{
	struct line_edit	*ed = arg;
	const char		*put = s;
	size_t			 n;

	(void)off;
	(void)no;
	if (regexec(&ed->l->regex, s, 0, NULL, 0) == 0) {
		if (!ed->l->present) {
			ed->removed++;
			ed->last_kept = 0;
			return 0;
		}
		if (strcmp(s, ed->l->line) != 0)
			ed->replaced++;
		put = ed->l->line;
	}
	ed->last_kept = 1;
	n = strlen(put);
	memcpy(ed->out + ed->len, put, n);
	ed->len += n;
	ed->out[ed->len++] = '\n';
	return 0;
}

static int
line_set(const void *p, struct gc_run *run)
{
	const struct line_props	*l = p;
	struct line_edit	 ed;
	struct target		 t;
	struct meta		 keep = { NULL, NULL, -1 };
	struct line_scan	 sc;
	char			*old = NULL, what[128];
	size_t			 oldlen, cap, lines;
	int			 rc = -1;

	memset(&ed, 0, sizeof(ed));
	if (l->present && l->line == NULL) {
		gc_reason(run, "NOTSUPPORTED", "%s: no line to write: the "
		    "policy gives only a regex", l->path);
		return -1;
	}
	if (target_open(l->path, 1, &t, run) == -1)
		return -1;
	if (t.noparent || t.st.st_mode == 0) {
		rc = l->present ? -1 : 0;
		if (l->present)
			gc_reason(run, "MISSING", "%s does not exist: lines "
			    "are written only in an existing file", l->path);
		goto out;
	}
	if (!S_ISREG(t.st.st_mode)) {
		gc_reason(run, "TYPE", "%s is %s, expected a regular file",
		    l->path, kind_of(t.st.st_mode));
		goto out;
	}
	if ((old = target_read(&t, l->path, &oldlen, run)) == NULL)
		goto out;
	memset(&sc, 0, sizeof(sc));
	sc.l = l;
	each_line(old, oldlen, line_scan_one, &sc);
	/* Every line may become `line`, plus one appended. */
	lines = 2;
	for (cap = 0; cap < oldlen; cap++)
		if (old[cap] == '\n')
			lines++;
	cap = oldlen + lines * (1 + (l->line ? strlen(l->line) : 0)) + 2;
	if ((ed.out = malloc(cap)) == NULL) {
		gc_reason(run, "WRITE", "%s: out of memory", l->path);
		goto out;
	}
	ed.l = l;
	each_line(old, oldlen, line_edit_one, &ed);
	if (oldlen > 0 && old[oldlen - 1] != '\n' && ed.last_kept)
		ed.len--;	/* the last line had no newline: keep it so */
	if (l->present && sc.matched == 0) {
		if (ed.len > 0 && ed.out[ed.len - 1] != '\n')
			ed.out[ed.len++] = '\n';
		memcpy(ed.out + ed.len, l->line, strlen(l->line));
		ed.len += strlen(l->line);
		ed.out[ed.len++] = '\n';
	}
	if (ed.len == oldlen && memcmp(ed.out, old, oldlen) == 0) {
		rc = 0;
		goto out;
	}
	snprintf(what, sizeof(what), "%zu line(s) replaced, %zu removed, %d "
	    "appended", ed.replaced, ed.removed, l->present && sc.matched == 0);
	rc = target_write(&t, l->path, &keep, ed.out, ed.len, old, oldlen,
	    what, run);
out:
	free(ed.out);
	free(old);
	target_close(&t);
	return rc;
}

const struct gc_type gc_type_file_line = {
	"file_line", "FILE_LINE", sizeof(struct line_props), line_parse,
	line_free, line_test, line_set
};

/* ---- directory ---- */

static int
dir_parse(void *p, const json_t *props, char *err, size_t errlen)
{
	static const char *const	 keys[] = { "path", "ensure", "owner",
	    "group", "mode", NULL };
	struct dir_props		*d = p;

	if (gc_props_only(props, keys, err, errlen) == -1 ||
	    gc_prop_path(props, &d->path, err, errlen) == -1 ||
	    gc_prop_ensure(props, "present", "absent", &d->present, err,
	    errlen) == -1 || meta_parse(&d->meta, props, err, errlen) == -1)
		return -1;
	if (!d->present && (d->meta.owner != NULL || d->meta.group != NULL ||
	    d->meta.mode != -1)) {
		snprintf(err, errlen, "ensure absent takes no owner, group or "
		    "mode");
		return -1;
	}
	return 0;
}

static void
dir_free(void *p)
{
	struct dir_props	*d = p;

	free(d->path);
	meta_free(&d->meta);
}

static int
dir_test(const void *p, struct gc_run *run)
{
	const struct dir_props	*d = p;
	struct target		 t;
	int			 ok;

	if (target_open(d->path, d->present, &t, run) == -1)
		return 0;
	if ((ok = target_missing(&t, d->path, d->present, "a directory",
	    run)) != -1)
		return ok;
	if (!d->present || !S_ISDIR(t.st.st_mode)) {
		gc_reason(run, d->present ? "TYPE" : "PRESENT", "%s is %s, "
		    "expected %s", d->path, kind_of(t.st.st_mode), d->present ?
		    "a directory" : "absent");
		target_close(&t);
		return 0;
	}
	ok = meta_test(&d->meta, d->path, &t.st, run);
	if (ok)
		gc_reason(run, "COMPLIANT", "%s is a directory, mode %04o, "
		    "owner %ld:%ld", d->path, (unsigned)(t.st.st_mode & 07777),
		    (long)t.st.st_uid, (long)t.st.st_gid);
	target_close(&t);
	return ok;
}

static int
dir_set(const void *p, struct gc_run *run)
{
	const struct dir_props	*d = p;
	struct target		 t;
	long			 uid, gid;
	int			 rc = -1;

	if (target_open(d->path, d->present, &t, run) == -1)
		return -1;
	if (t.noparent) {
		gc_reason(run, "MISSING", "%s: its parent does not exist: not "
		    "created", d->path);
		goto out;
	}
	if (!d->present) {
		if (t.st.st_mode == 0) {
			rc = 0;
			goto out;
		}
		if (!S_ISDIR(t.st.st_mode) || unlinkat(t.dirfd, t.name,
		    AT_REMOVEDIR) == -1) {
			gc_reason(run, "REMOVE", "%s: not removed: %s", d->path,
			    S_ISDIR(t.st.st_mode) ? strerror(errno) :
			    "not a directory");
			goto out;
		}
		gc_change(run, "%s: directory removed", d->path);
		rc = 0;
		goto out;
	}
	if (t.st.st_mode == 0) {
		if (meta_ids(&d->meta, d->path, &uid, &gid, run) == -1)
			goto out;
		if (mkdirat(t.dirfd, t.name, 0700) == -1 ||
		    fstatat(t.dirfd, t.name, &t.st, AT_SYMLINK_NOFOLLOW) ==
		    -1) {
			gc_reason(run, "CREATE", "%s: %s", d->path,
			    strerror(errno));
			goto out;
		}
		gc_change(run, "%s: directory created", d->path);
		/* then owner and mode on its fd, 0755 unless set */
		if (d->meta.mode == -1) {
			struct meta	 m = d->meta;

			m.mode = 0755;
			rc = meta_set(&m, d->path, &t, run);
			goto out;
		}
	} else if (!S_ISDIR(t.st.st_mode)) {
		gc_reason(run, "TYPE", "%s is %s: not replaced", d->path,
		    kind_of(t.st.st_mode));
		goto out;
	}
	rc = meta_set(&d->meta, d->path, &t, run);
out:
	target_close(&t);
	return rc;
}

const struct gc_type gc_type_directory = {
	"directory", "DIRECTORY", sizeof(struct dir_props), dir_parse,
	dir_free, dir_test, dir_set
};
