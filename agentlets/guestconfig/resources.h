/* resources.h -- the inside of guestconfig's engine: the resource types as a table, their properties, reasons, changes and safe paths. */
#ifndef GC_RESOURCES_H
#define GC_RESOURCES_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <regex.h>

#include <jansson.h>

#include "engine.h"

#define GC_MAX_FILE	(16 * 1024 * 1024)	/* largest file read or rewritten */

/* One Test or Set of one check: where its reasons and changes go. */
struct gc_run {
	const struct gc_ctx	*ctx;
	const char		*code;		/* the type's, "FILE" */
	const char		*resource;	/* "[file]id", for the change log */
	json_t			*reasons;	/* array of {"code","phrase"} */
	json_t			*changes;	/* array of phrases; NULL in a Test */
};

/*
 * A resource type.  parse() fills p (size bytes, zeroed) from the
 * properties object, refusing a missing or bad one and any unknown key;
 * test() only reads and adds reasons (what was found against what was
 * wanted, or what was found when it holds) and returns 1 when compliant;
 * set() makes it so, recording each change with gc_change(), and returns
 * 0, or -1 with a reason.  set is NULL for an audit-only type.
 */
struct gc_type {
	const char	*name;		/* "file" */
	const char	*code;		/* "FILE" */
	size_t		 size;
	int		(*parse)(void *p, const json_t *props, char *err,
			    size_t errlen);
	void		(*free)(void *p);
	int		(*test)(const void *p, struct gc_run *);
	int		(*set)(const void *p, struct gc_run *);
};

extern const struct gc_type gc_type_file, gc_type_file_line, gc_type_directory,
    gc_type_sysctl, gc_type_user, gc_type_group, gc_type_package,
    gc_type_command_output;
const struct gc_type *gc_type_find(const char *name);

/* Reasons and changes (engine.c). */
void	gc_reason(struct gc_run *, const char *what, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	gc_change(struct gc_run *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* The previous content of path saved in ctx->backupfd; its name (or "-"
 * when there is no backup dir) in name. -1 with a reason when it fails. */
int	gc_backup(struct gc_run *, const char *path, const void *data,
	    size_t len, char *name, size_t namelen);

/* Properties (doc.c): each refuses a key not in keys (NULL-terminated). */
int	gc_props_only(const json_t *props, const char *const *keys, char *err,
	    size_t errlen);
/* A string property; NULL when absent, -1 when of the wrong type or empty. */
int	gc_prop_str(const json_t *props, const char *key, int required,
	    char **out, char *err, size_t errlen);
/* ensure: one of two words (the first is the default); *out 1 for the first. */
int	gc_prop_ensure(const json_t *props, const char *yes, const char *no,
	    int *out, char *err, size_t errlen);
/* An absolute, clean path of at most PATH_MAX. */
int	gc_prop_path(const json_t *props, char **out, char *err, size_t errlen);
/* mode "0600": *out -1 when absent. */
int	gc_prop_mode(const json_t *props, int *out, char *err, size_t errlen);
/* owner/group: a name or a number (a string or an integer) as text in
 * *out (NULL when absent); names are resolved when tested, since an earlier
 * resource may create them. */
int	gc_prop_id(const json_t *props, const char *key, char **out, char *err,
	    size_t errlen);
/* A user or group name as useradd takes it: 1 to 32 of [A-Za-z0-9_.-],
 * not starting with '-', a '$' allowed at the end. */
int	gc_valid_account_name(const char *s);
/* The uid or gid of such a text; -1 when there is no such name. */
long	gc_id_resolve(const char *text, int isgroup);
/* The string property key compiled as a POSIX extended regex (REG_NOSUB
 * and flags): at most 1024 bytes, and its {m,n} bounds multiplied
 * together at most 4096 (glibc copies a bounded repetition's tree that
 * many times: nested bounds would take the memory of the machine).  The
 * text in *text. */
int	gc_prop_regex(const json_t *props, const char *key, int flags,
	    regex_t *re, char **text, char *err, size_t errlen);
/* An integer property within [min, max]; *out = def when absent. */
int	gc_prop_int(const json_t *props, const char *key, long long min,
	    long long max, long long def, long long *out, char *err,
	    size_t errlen);

/*
 * Safe paths (gcpath.c).  gc_path_open() walks path from / with openat()
 * and O_NOFOLLOW on every component.  A symlink owned by root, in a
 * directory only root can change (safedir_trusted()), is resolved (at most
 * 40); one owned by any other user, or in a directory another user can
 * change, is refused: -1 with errno ELOOP and err naming it.  On success *dirfd is the last directory
 * (O_RDONLY|O_DIRECTORY, the caller closes it), name its entry and st that
 * entry's lstat (st->st_mode 0 when it does not exist).  -1 with errno
 * ENOENT when a directory on the way is missing.  Without follow_last a
 * symlink in the last place is the entry itself (whoever owns it): what
 * "absent" checks and removes.
 */
int	gc_path_open(const char *path, int follow_last, int *dirfd, char *name,
	    size_t namelen, struct stat *st, char *err, size_t errlen);
/* The regular file at path for reading (O_NOFOLLOW, O_NOATIME when it can);
 * -1 with errno ENOENT when missing, another errno and err otherwise. */
int	gc_file_open_read(const char *path, struct stat *st, char *err,
	    size_t errlen);
/* Reads all of fd (at most max) into a NUL-terminated buffer. */
char	*gc_fd_read(int fd, size_t max, size_t *len, char *err, size_t errlen);
/* An argv exec'd without a shell (stdin /dev/null, stdout captured up to
 * max bytes, stderr dropped unless into_output), killed after timeout_ms.
 * *status is the wait status, *timedout 1 when it was killed for time.
 * As root, argv[0] must be a file only root can change, in directories
 * only root can change (safedir_trusted_file()): else -1, "<argv[0]>: not
 * run: <why>", and nothing runs. */
int	gc_exec(char *const argv[], int timeout_ms, int into_output,
	    char **out, size_t max, int *status, int *timedout, char *err,
	    size_t errlen);

#endif
