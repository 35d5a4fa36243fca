/* handler.c -- the extension handler protocol, machine side: HandlerEnvironment.json, settings and certificates written, and one operation run as a killable process group on libevent. */
#include <sys/types.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "atomicfile.h"
#include "defaults.h"
#include "handler.h"
#include "prockill.h"
#include "safedir.h"

#define HANDLER_PATH_ENV	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:" \
				"/usr/bin:/sbin:/bin"
#define HANDLER_NO_PROXY	"localhost,127.0.0.1,::1"
#define HANDLER_IMDS		"http://localhost:" ARC_STR(ARC_PORT_HIMDS)
#define HANDLER_IDENTITY	HANDLER_IMDS "/metadata/identity/oauth2/token"
#define HANDLER_ENV_MAX		64	/* our variables plus extra_env */
#define HANDLER_RUN_ENV		"ARC_EXTMGR_RUN"	/* marks a run's processes */

struct handler_run {
	struct event_base	*base;
	struct event		*ev_exit;	/* the pidfd: the shell exited */
	struct event		*ev_timeout;	/* the operation's time limit */
	struct event		*ev_logcheck;	/* every second: the log's size */
	handler_done_cb		 cb;
	void			*arg;
	enum manifest_op	 op;
	pid_t			 pid;		/* the shell, its group's leader */
	int			 pidfd;
	int			 logfd;		/* CommandExecution.log, O_APPEND */
	off_t			 out_start;	/* where this run's output began */
	int			 timeout_seconds;
	int			 timed_out;
	struct timespec		 started;	/* CLOCK_MONOTONIC */
	char			*ext_dir;	/* for the noexec check on 126 */
	char			 mark[PROCKILL_MARK_MAX]; /* ARC_EXTMGR_RUN=<32 hex> */
	int			 runsfd;	/* job->runs_dir, or -1 */
	char			*run_name;	/* its record there while the
						   shell runs */
};

#define HANDLER_RUN_RECORD_MAX	256	/* "<pid> <start> <mark>\n" */

static void	handler_child(int, int, int, int, char **, char **)
		    __attribute__((noreturn));
static void	handler_on_exit(evutil_socket_t, short, void *);
static void	handler_on_timeout(evutil_socket_t, short, void *);
static void	handler_on_logcheck(evutil_socket_t, short, void *);

void
handler_limits_default(struct handler_limits *l)
{
	l->seconds[MANIFEST_OP_INSTALL] = 900;
	l->seconds[MANIFEST_OP_ENABLE] = 300;
	l->seconds[MANIFEST_OP_UPDATE] = 900;
	l->seconds[MANIFEST_OP_DISABLE] = 900;
	l->seconds[MANIFEST_OP_UNINSTALL] = 300;
}

/* dirfd's subdirectory name made or opened (O_NOFOLLOW), mode 0700. */
static int
handler_subdir(int dirfd, const char *name, char *err, size_t errlen)
{
	return safedir_make(dirfd, name, 0700, SAFEDIR_KEEP_UID,
	    SAFEDIR_KEEP_GID, err, errlen);
}

/* The directory at path, made 0700 in its parent when missing. */
static int
handler_dir_make(const char *path, char *err, size_t errlen)
{
	char	 parent[PATH_MAX], base[PATH_MAX];
	int	 pfd, fd;

	if ((fd = safedir_open(path, err, errlen)) != -1 || errno != ENOENT)
		return fd;
	if (snprintf(parent, sizeof(parent), "%s", path) >=
	    (int)sizeof(parent)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	snprintf(base, sizeof(base), "%s", path);
	if ((pfd = safedir_open(dirname(parent), err, errlen)) == -1)
		return -1;
	fd = handler_subdir(pfd, basename(base), err, errlen);
	close(pfd);
	return fd;
}

/* A JSON document written as name in dirfd, atomically, with mode. */
static int
handler_write_json(int dirfd, const char *name, json_t *doc, mode_t mode,
    char *err, size_t errlen)
{
	char	*text;
	int	 rc;

	if (doc == NULL || (text = json_dumps(doc, JSON_COMPACT)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	rc = atomicfile_writeat(dirfd, name, text, strlen(text), mode,
	    ATOMICFILE_KEEP_UID, ATOMICFILE_KEEP_GID, 0, err, errlen);
	free(text);
	return rc;
}

int
handler_write_environment(int extdirfd, const struct handler_paths *p,
    char *err, size_t errlen)
{
	char	 config[PATH_MAX], status[PATH_MAX], heartbeat[PATH_MAX];
	json_t	*doc = NULL;
	int	 fd, rc = -1;

	if (p->name == NULL || p->ext_dir == NULL || p->log_dir == NULL ||
	    p->ext_dir[0] != '/' || p->log_dir[0] != '/') {
		snprintf(err, errlen, "handler environment: name, absolute "
		    "ext_dir and log_dir required");
		return -1;
	}
	if (safedir_path(config, sizeof(config), p->ext_dir, "config") == -1 ||
	    safedir_path(status, sizeof(status), p->ext_dir, "status") == -1 ||
	    safedir_path(heartbeat, sizeof(heartbeat), p->ext_dir,
	    MANIFEST_HEARTBEAT_FILE) == -1) {
		snprintf(err, errlen, "%s: path too long", p->ext_dir);
		return -1;
	}
	if ((fd = handler_subdir(extdirfd, "config", err, errlen)) == -1)
		return -1;
	close(fd);
	if ((fd = handler_subdir(extdirfd, "status", err, errlen)) == -1)
		return -1;
	close(fd);
	if ((fd = handler_dir_make(p->log_dir, err, errlen)) == -1)
		return -1;
	close(fd);
	doc = json_pack("[{s:s, s:f, s:{s:s, s:s, s:s, s:s}}]",
	    "name", p->name, "version", 1.0, "handlerEnvironment",
	    "logFolder", p->log_dir, "configFolder", config,
	    "statusFolder", status, "heartbeatFile", heartbeat);
	rc = handler_write_json(extdirfd, HANDLER_ENV_FILE, doc, 0644, err,
	    errlen);
	json_decref(doc);
	return rc;
}

/* 40 uppercase hex digits. */
static int
handler_thumbprint_ok(const char *t)
{
	size_t	i;

	for (i = 0; t[i] != '\0'; i++)
		if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'A' &&
		    t[i] <= 'F')))
			return 0;
	return i == 40;
}

/* n from "<n><suffix>" (digits only), or -1. */
static long
handler_seq_of(const char *name, const char *suffix)
{
	char	*end;
	long	 n;

	if (name[0] < '0' || name[0] > '9')
		return -1;
	errno = 0;
	n = strtol(name, &end, 10);
	if (errno != 0 || n < 0 || strcmp(end, suffix) != 0)
		return -1;
	return n;
}

/*
 * Each new sequence number from the cloud is a new config/<n>.settings and,
 * from the handler, a new status/<n>.status: in dfd, of the <n><suffix>
 * only the HANDLER_SETTINGS_KEEP highest stay (and seq's), so that the
 * cloud's reconfigurations cannot fill the disk.  unlinkat removes a
 * symlink, never what it points to (status/ is the handler's to write).
 * A few rounds only: removing while reading may skip names, and a process
 * that keeps adding names must not hold the pass.
 */
static void
handler_seq_prune(int dfd, const char *suffix, long seq)
{
	struct dirent	*e;
	DIR		*d;
	long		 keep[HANDLER_SETTINGS_KEEP], n, t;
	int		 fd, i, have = 0, again, rounds = 0;

	if ((fd = dup(dfd)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	/* The highest numbers, sorted down. */
	while ((e = readdir(d)) != NULL) {
		if ((n = handler_seq_of(e->d_name, suffix)) == -1 || n == seq)
			continue;
		for (i = 0; i < have && keep[i] > n; i++)
			;
		if (i == HANDLER_SETTINGS_KEEP)
			continue;
		if (have < HANDLER_SETTINGS_KEEP)
			have++;
		for (; i < have; i++) {
			t = keep[i];
			keep[i] = n;
			n = t;
		}
	}
	/* Again from the start: remove what is not kept. */
	do {
		again = 0;
		rewinddir(d);
		while ((e = readdir(d)) != NULL) {
			if ((n = handler_seq_of(e->d_name, suffix)) == -1 ||
			    n == seq || (have == HANDLER_SETTINGS_KEEP ?
			    n >= keep[have - 1] : 1))
				continue;
			if (unlinkat(dfd, e->d_name, 0) == 0)
				again = 1;
		}
	} while (again && ++rounds < 4);
	closedir(d);
}

/* status/<n>.status pruned as config/ is; status/ a symlink: left alone. */
static void
handler_status_prune(int extdirfd, long seq)
{
	int	sfd;

	if ((sfd = openat(extdirfd, "status", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		return;
	handler_seq_prune(sfd, ".status", seq);
	close(sfd);
}

int
handler_write_settings(int extdirfd, long seq, json_t *public_settings,
    const char *protected_b64, const char *thumbprint, char *err,
    size_t errlen)
{
	char	 name[32];
	json_t	*hs = NULL, *doc = NULL;
	int	 cfd = -1, rc = -1;

	if (seq < 0) {
		snprintf(err, errlen, "settings: sequence number %ld", seq);
		return -1;
	}
	if (public_settings != NULL && !json_is_object(public_settings)) {
		snprintf(err, errlen, "settings: publicSettings is not an "
		    "object");
		return -1;
	}
	if (protected_b64 != NULL && (thumbprint == NULL ||
	    !handler_thumbprint_ok(thumbprint))) {
		snprintf(err, errlen, "settings: protectedSettings without a "
		    "certificate thumbprint of 40 uppercase hex digits");
		return -1;
	}
	snprintf(name, sizeof(name), "%ld.settings", seq);
	if ((cfd = openat(extdirfd, "config", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "config/: %s", errno == ELOOP ||
		    errno == ENOTDIR ? "not a directory (a symbolic link is "
		    "not followed)" : strerror(errno));
		return -1;
	}
	if (public_settings != NULL)
		hs = json_pack("{s:O}", "publicSettings", public_settings);
	else
		hs = json_pack("{s:o}", "publicSettings", json_object());
	if (hs != NULL && protected_b64 != NULL &&
	    (json_object_set_new(hs, "protectedSettings",
	    json_string(protected_b64)) == -1 ||
	    json_object_set_new(hs, "protectedSettingsCertThumbprint",
	    json_string(thumbprint)) == -1)) {
		snprintf(err, errlen, "settings: out of memory");
		goto done;
	}
	if (hs != NULL)
		doc = json_pack("{s:[{s:O}]}", "runtimeSettings",
		    "handlerSettings", hs);
	if (handler_write_json(cfd, name, doc, 0600, err, errlen) == -1)
		goto done;
	handler_seq_prune(cfd, ".settings", seq);
	handler_status_prune(extdirfd, seq);
	rc = 0;
 done:
	json_decref(hs);
	json_decref(doc);
	close(cfd);
	return rc;
}

int
handler_certs_dir_open(const char *path, char *err, size_t errlen)
{
	char	why[PATH_MAX + 128];
	int	fd;

	if (path == NULL || path[0] != '/') {
		snprintf(err, errlen, "certificates dir: an absolute path "
		    "required");
		return -1;
	}
	/* Root writes private keys there: on a way only root can change,
	 * into a folder only root can change (/var/lib/waagent, say). */
	if (geteuid() != 0)
		return handler_dir_make(path, err, errlen);
	if ((fd = safedir_open_in_trusted(path, err, errlen)) == -1) {
		if (errno != ENOENT)
			return -1;
		return handler_dir_make(path, err, errlen);
	}
	if (safedir_trusted(fd, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: %s", path, why);
		close(fd);
		return -1;
	}
	return fd;
}

/* Is name in dirfd already data, mode 0600, a regular file? */
static int
handler_file_is(int dirfd, const char *name, const char *data, size_t len)
{
	struct stat	 st;
	char		 err[256];
	char		*cur;
	size_t		 curlen;
	int		 same;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(st.st_mode) || (st.st_mode & 07777) != 0600 ||
	    st.st_uid != geteuid() || (size_t)st.st_size != len)
		return 0;
	if ((cur = atomicfile_readat(dirfd, name, len, &curlen, err,
	    sizeof(err))) == NULL)
		return 0;
	same = curlen == len && memcmp(cur, data, len) == 0;
	explicit_bzero(cur, curlen);
	free(cur);
	return same;
}

int
handler_place_certificate(int certsdirfd, const char *thumbprint,
    const char *cert_pem, size_t cert_len, const char *key_pem,
    size_t key_len, char *err, size_t errlen)
{
	const char	*data[2] = { cert_pem, key_pem };
	size_t		 len[2] = { cert_len, key_len };
	const char	*ext[2] = { "crt", "prv" };
	char		 name[64];
	int		 i;

	if (thumbprint == NULL || !handler_thumbprint_ok(thumbprint)) {
		snprintf(err, errlen, "certificate thumbprint: not 40 "
		    "uppercase hex digits");
		return -1;
	}
	if (cert_pem == NULL || key_pem == NULL || cert_len == 0 ||
	    key_len == 0) {
		snprintf(err, errlen, "%s: certificate and key required",
		    thumbprint);
		return -1;
	}
	for (i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "%s.%s", thumbprint, ext[i]);
		if (handler_file_is(certsdirfd, name, data[i], len[i]))
			continue;
		if (atomicfile_writeat(certsdirfd, name, data[i], len[i],
		    0600, ATOMICFILE_KEEP_UID, ATOMICFILE_KEEP_GID, 0, err,
		    errlen) == -1)
			return -1;
	}
	return 0;
}

#define HANDLER_TREE_MAX_DEPTH	130	/* unpack allows 128 components */

/* name in dfd given S_IXUSR when it is a regular file.  Opened, not
 * chmod'ed by name: the mode changed is that of the file checked. */
static int
handler_exec_file(int dfd, const char *name, const char *shown, char *err,
    size_t errlen)
{
	struct stat	st;
	int		fd;

	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC)) == -1) {
		if (errno == ELOOP || errno == ENXIO)
			return 0;	/* a symlink or a socket: left alone */
		snprintf(err, errlen, "%s/%s: %s", shown, name,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & S_IXUSR) == 0 &&
	    fchmod(fd, (st.st_mode & 07777) | S_IXUSR) == -1) {
		snprintf(err, errlen, "%s/%s: chmod: %s", shown, name,
		    strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Every file under the directory fd (taken: closed on return). */
static int
handler_exec_tree(int fd, const char *shown, int depth, char *err,
    size_t errlen)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	char		 sub[PATH_MAX];
	int		 sfd, rc = 0;

	if (depth > HANDLER_TREE_MAX_DEPTH) {
		snprintf(err, errlen, "%s: too deep", shown);
		close(fd);
		return -1;
	}
	if ((d = fdopendir(fd)) == NULL) {
		snprintf(err, errlen, "%s: %s", shown, strerror(errno));
		close(fd);
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1)
			continue;	/* gone meanwhile */
		if (S_ISREG(st.st_mode))
			rc = handler_exec_file(dirfd(d), de->d_name, shown, err,
			    errlen);
		else if (S_ISDIR(st.st_mode)) {
			snprintf(sub, sizeof(sub), "%s/%s", shown, de->d_name);
			if ((sfd = openat(dirfd(d), de->d_name, O_RDONLY |
			    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
				snprintf(err, errlen, "%s: %s", sub,
				    strerror(errno));
				rc = -1;
			} else
				rc = handler_exec_tree(sfd, sub, depth + 1, err,
				    errlen);
		}
	}
	closedir(d);
	return rc;
}

int
handler_make_executable(int extdirfd, char *err, size_t errlen)
{
	int	fd;

	/* A descriptor of its own: readdir moves the offset. */
	if ((fd = openat(extdirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "extension dir: %s", strerror(errno));
		return -1;
	}
	return handler_exec_tree(fd, ".", 0, err, errlen);
}

/*
 * name copied from fromfd to tofd (atomically, 0600) when it is a regular
 * file of at most MANIFEST_STATUS_MAX_BYTES, never through a symlink;
 * anything else is skipped.  -1 with err only when the write fails.
 */
static int
handler_copy_file(int fromfd, int tofd, const char *name, char *err,
    size_t errlen)
{
	struct stat	 st;
	char		*buf, why[256];
	size_t		 len;
	int		 rc;

	if (fstatat(fromfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(st.st_mode) || st.st_size > MANIFEST_STATUS_MAX_BYTES)
		return 0;	/* none, or not a file we would copy */
	/* O_NOFOLLOW and capped again: it may have changed meanwhile. */
	if ((buf = atomicfile_readat(fromfd, name, MANIFEST_STATUS_MAX_BYTES,
	    &len, why, sizeof(why))) == NULL)
		return 0;
	rc = atomicfile_writeat(tofd, name, buf, len, 0600, ATOMICFILE_KEEP_UID,
	    ATOMICFILE_KEEP_GID, 0, err, errlen);
	free(buf);
	return rc;
}

int
handler_copy_status(int old_extdirfd, int new_extdirfd, char *err,
    size_t errlen)
{
	DIR		*d = NULL;
	struct dirent	*e;
	int		 ofd, nfd = -1, rc = -1;

	/* mrseq: the most recent sequence number HandlerUtil has run. */
	if (handler_copy_file(old_extdirfd, new_extdirfd, HANDLER_MRSEQ_FILE,
	    err, errlen) == -1)
		return -1;
	if ((ofd = openat(old_extdirfd, "status", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;	/* nothing reported yet */
		snprintf(err, errlen, "old status/: %s", errno == ELOOP ||
		    errno == ENOTDIR ? "not a directory (a symbolic link is "
		    "not followed)" : strerror(errno));
		return -1;
	}
	if ((d = fdopendir(ofd)) == NULL) {
		snprintf(err, errlen, "old status/: %s", strerror(errno));
		close(ofd);
		return -1;
	}
	if ((nfd = handler_subdir(new_extdirfd, "status", err, errlen)) == -1)
		goto done;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' && (e->d_name[1] == '\0' ||
		    strcmp(e->d_name, "..") == 0))
			continue;
		if (handler_copy_file(ofd, nfd, e->d_name, err, errlen) == -1)
			goto done;
	}
	rc = 0;
 done:
	if (nfd != -1)
		close(nfd);
	closedir(d);		/* closes ofd */
	return rc;
}

int
handler_check_exec(const char *dir, char *err, size_t errlen)
{
	struct statvfs	sv;

	if (statvfs(dir, &sv) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (sv.f_flag & ST_NOEXEC) {
		snprintf(err, errlen, "%s is on a filesystem mounted noexec: "
		    "extension handlers cannot run from it (remount it exec, "
		    "or move the state dir)", dir);
		return -1;
	}
	return 0;
}

/* s single-quoted for sh. */
static char *
handler_quote(const char *s)
{
	size_t	 n = 3, i;
	char	*q, *o;

	for (i = 0; s[i] != '\0'; i++)
		n += s[i] == '\'' ? 4 : 1;
	if ((q = malloc(n)) == NULL)
		return NULL;
	o = q;
	*o++ = '\'';
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else
			*o++ = s[i];
	}
	*o++ = '\'';
	*o = '\0';
	return q;
}

/*
 * The shell command for the manifest's cmd, as the VM agent runs it: its
 * first word (leading slashes dropped) made absolute under ext_dir when it
 * names a file there; otherwise cmd as written.
 */
static char *
handler_command(int extdirfd, const char *ext_dir, const char *cmd)
{
	struct stat	 st;
	const char	*rel = cmd;
	char		*word, *quoted, *out;
	size_t		 wlen;

	while (*rel == '/')
		rel++;
	wlen = strcspn(rel, " \t\n");
	if (wlen == 0 || (word = strndup(rel, wlen)) == NULL)
		return strdup(cmd);
	if (fstatat(extdirfd, word, &st, 0) == -1 || !S_ISREG(st.st_mode)) {
		free(word);
		return strdup(cmd);
	}
	free(word);
	if ((quoted = handler_quote(ext_dir)) == NULL)
		return NULL;
	if (asprintf(&out, "%s/%s", quoted, rel) == -1)
		out = NULL;
	free(quoted);
	return out;
}

static void
handler_env_free(char **env)
{
	size_t	i;

	if (env == NULL)
		return;
	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/* Appends NAME=value unless value is NULL or empty. */
static int
handler_env_add(char **env, size_t *n, const char *name, const char *value)
{
	if (value == NULL || value[0] == '\0')
		return 0;
	if (*n + 1 >= HANDLER_ENV_MAX)
		return -1;
	if (asprintf(&env[*n], "%s=%s", name, value) == -1) {
		env[*n] = NULL;
		return -1;
	}
	(*n)++;
	return 0;
}

/* The handler's whole environment: nothing of extmgr's own leaks in. */
static char **
handler_env(const struct handler_job *job, const char *mark)
{
	const struct handler_endpoints	*ep = job->endpoints;
	struct passwd			 pwbuf, *pw = NULL;
	const char			*proxy, *no_proxy, *imds, *identity;
	const char			*home = "/";
	char				**env, seq[32], pwtext[1024];
	size_t				 n = 0, i;
	int				 rc = 0;

	if ((env = calloc(HANDLER_ENV_MAX, sizeof(*env))) == NULL)
		return NULL;
	proxy = ep != NULL && ep->proxy_url != NULL ? ep->proxy_url :
	    ARC_URL_PROXY;
	no_proxy = ep != NULL && ep->no_proxy != NULL ? ep->no_proxy :
	    HANDLER_NO_PROXY;
	imds = ep != NULL && ep->imds != NULL ? ep->imds : HANDLER_IMDS;
	identity = ep != NULL && ep->identity != NULL ? ep->identity :
	    HANDLER_IDENTITY;
	/* getpwuid_r: extmgr may run handlers from a worker thread. */
	if (getpwuid_r(geteuid(), &pwbuf, pwtext, sizeof(pwtext), &pw) == 0 &&
	    pw != NULL && pw->pw_dir != NULL && pw->pw_dir[0] == '/')
		home = pw->pw_dir;
	snprintf(seq, sizeof(seq), "%ld", job->seq);
	if ((env[n] = strdup(HANDLER_PATH_ENV)) == NULL)
		goto fail;
	n++;
	rc |= handler_env_add(env, &n, "HOME", home);
	rc |= handler_env_add(env, &n, "LANG", "C.UTF-8");
	rc |= handler_env_add(env, &n, "HTTPS_PROXY", proxy);
	rc |= handler_env_add(env, &n, "HTTP_PROXY", proxy);
	rc |= handler_env_add(env, &n, "https_proxy", proxy);
	rc |= handler_env_add(env, &n, "http_proxy", proxy);
	rc |= handler_env_add(env, &n, "NO_PROXY", no_proxy);
	rc |= handler_env_add(env, &n, "no_proxy", no_proxy);
	rc |= handler_env_add(env, &n, "IMDS_ENDPOINT", imds);
	rc |= handler_env_add(env, &n, "IDENTITY_ENDPOINT", identity);
	rc |= handler_env_add(env, &n, "ConfigSequenceNumber", seq);
	if (rc == 0 && (env[n] = strdup(mark)) != NULL)
		n++;
	else
		rc = -1;
	rc |= handler_env_add(env, &n, "AZURE_GUEST_AGENT_EXTENSION_PATH",
	    job->paths->ext_dir);
	rc |= handler_env_add(env, &n, "AZURE_GUEST_AGENT_EXTENSION_VERSION",
	    job->paths->version);
	if (job->op == MANIFEST_OP_UPDATE) {
		rc |= handler_env_add(env, &n,
		    "AZURE_GUEST_AGENT_UPDATING_FROM_VERSION",
		    job->updating_from);
		/* The VM agent's update() names the version updated to so:
		 * the handler's own, but in a downgrade the installed, higher
		 * version's update runs and is told the lower one. */
		rc |= handler_env_add(env, &n, "VERSION",
		    job->update_version != NULL ? job->update_version :
		    job->paths->version);
	}
	rc |= handler_env_add(env, &n, HANDLER_CERTS_ENV,
	    job->paths->certs_dir);
	for (i = 0; rc == 0 && job->extra_env != NULL &&
	    job->extra_env[i] != NULL; i++) {
		if (strchr(job->extra_env[i], '=') == NULL ||
		    n + 1 >= HANDLER_ENV_MAX ||
		    (env[n] = strdup(job->extra_env[i])) == NULL) {
			rc = -1;
			break;
		}
		n++;
	}
	if (rc != 0)
		goto fail;
	return env;
 fail:
	handler_env_free(env);
	return NULL;
}

/* One line into the log, best effort. */
static void
handler_log_line(int logfd, const char *fmt, const char *op,
    const char *what)
{
	char		 stamp[32], line[1024];
	struct tm	 tm;
	time_t		 now = time(NULL);
	int		 n;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof(line), fmt, stamp, op, what);
	if (n > 0 && write(logfd, line, (size_t)n < sizeof(line) ?
	    (size_t)n : sizeof(line) - 1) == -1) {
		/* the log is a convenience: the run goes on */
	}
}

/*
 * The child, between fork and exec: only async-signal-safe calls.  It
 * runs nothing until the parent has recorded it (one byte on gofd): a
 * parent that dies before that leaves no handler running unrecorded.
 */
static void
handler_child(int gofd, int extdirfd, int nullfd, int logfd, char **argv,
    char **env)
{
	static const char	 msg[] = "extmgr: cannot run /bin/sh\n";
	struct sigaction	 sa;
	sigset_t		 all;
	ssize_t			 n;
	char			 go;
	int			 sig;

	setsid();	/* its own session and process group */
	while ((n = read(gofd, &go, 1)) == -1 && errno == EINTR)
		;
	if (n != 1)
		_exit(127);	/* the parent is gone, or gave up */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);	/* ignored ones too: SIGPIPE */
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	/* Above 2 first: an extmgr started with 0, 1 or 2 closed may hold
	 * these fds there, and dup2() onto itself would keep O_CLOEXEC. */
	if ((nullfd = fcntl(nullfd, F_DUPFD_CLOEXEC, 3)) == -1 ||
	    (logfd = fcntl(logfd, F_DUPFD_CLOEXEC, 3)) == -1 ||
	    fchdir(extdirfd) == -1 || dup2(nullfd, 0) == -1 ||
	    dup2(logfd, 1) == -1 || dup2(logfd, 2) == -1)
		_exit(127);
	close_range(3, ~0U, 0);
	execve("/bin/sh", argv, env);
	if (write(2, msg, sizeof(msg) - 1) == -1) {
		/* nowhere left to say it */
	}
	_exit(127);
}

static void
handler_run_free(struct handler_run *run)
{
	if (run == NULL)
		return;
	if (run->ev_exit != NULL)
		event_free(run->ev_exit);
	if (run->ev_timeout != NULL)
		event_free(run->ev_timeout);
	if (run->ev_logcheck != NULL)
		event_free(run->ev_logcheck);
	if (run->pidfd != -1)
		close(run->pidfd);
	if (run->logfd != -1)
		close(run->logfd);
	if (run->runsfd != -1)
		close(run->runsfd);
	free(run->run_name);
	free(run->ext_dir);
	free(run);
}

/*
 * The run's record in job->runs_dir, written before the shell runs anything
 * and removed once it has exited: "<pid> <starttime> <mark>\n".  A record
 * that outlives its extmgr is what handler_kill_leftovers() stops.
 */
static int
handler_record(struct handler_run *run, char *err, size_t errlen)
{
	unsigned long long	 start;
	char			 text[HANDLER_RUN_RECORD_MAX];
	int			 n;

	if (run->runsfd == -1)
		return 0;
	if (prockill_starttime(run->pid, &start) == -1) {
		snprintf(err, errlen, "/proc/%d/stat: %s", (int)run->pid,
		    strerror(errno));
		return -1;
	}
	n = snprintf(text, sizeof(text), "%d %llu %s\n", (int)run->pid, start,
	    run->mark);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		snprintf(err, errlen, "run record: too long");
		return -1;
	}
	if (atomicfile_writeat(run->runsfd, run->run_name, text, (size_t)n,
	    0600, ATOMICFILE_KEEP_UID, ATOMICFILE_KEEP_GID, 0, err,
	    errlen) == -1)
		return -1;
	return 0;
}

/* The shell is gone (reaped): its record with it. */
static void
handler_unrecord(struct handler_run *run)
{
	if (run->runsfd != -1 && run->run_name != NULL)
		unlinkat(run->runsfd, run->run_name, 0);
}

/* Kills everything the run started (lib/prockill): its group, its
 * session, and whatever carries its mark (a daemon that called setsid). */
static void
handler_kill_all(struct handler_run *run)
{
	prockill_run(run->pid, run->mark);
}

/* A record's name: the handler's (one run per handler at a time). */
static int
handler_run_name_ok(const char *name)
{
	return name != NULL && name[0] != '\0' && name[0] != '.' &&
	    strchr(name, '/') == NULL && strlen(name) < NAME_MAX - 32;
}

static int
handler_runs_open(const struct handler_job *job, struct handler_run *run,
    char *err, size_t errlen)
{
	if (!handler_run_name_ok(job->paths->name)) {
		snprintf(err, errlen, "handler: name \"%s\" cannot name its "
		    "run record", job->paths->name == NULL ? "" :
		    job->paths->name);
		return -1;
	}
	if ((run->run_name = strdup(job->paths->name)) == NULL) {
		snprintf(err, errlen, "handler: out of memory");
		return -1;
	}
	if ((run->runsfd = safedir_open(job->runs_dir, err, errlen)) == -1)
		return -1;
	return 0;
}

/* One record: "<pid> <starttime> ARC_EXTMGR_RUN=<32 hex>\n". */
static int
handler_record_parse(const char *text, pid_t *pid, unsigned long long *start,
    char *mark, size_t marklen)
{
	static const char	 hex[] = "0123456789abcdef";
	const char		*m;
	size_t			 plen = strlen(HANDLER_RUN_ENV "=");
	int			 p, used = 0;

	if (sscanf(text, "%d %llu %n", &p, start, &used) != 2 || used == 0 ||
	    p <= 1)
		return -1;
	m = text + used;
	if (strncmp(m, HANDLER_RUN_ENV "=", plen) != 0 ||
	    strspn(m + plen, hex) != 32 || strcmp(m + plen + 32, "\n") != 0 ||
	    plen + 32 >= marklen)
		return -1;
	memcpy(mark, m, plen + 32);
	mark[plen + 32] = '\0';
	*pid = (pid_t)p;
	return 0;
}

int
handler_kill_leftovers(int runsfd, void (*said)(const char *, void *),
    void *arg)
{
	struct dirent		*de;
	DIR			*d;
	unsigned long long	 start;
	char			 err[256], mark[PROCKILL_MARK_MAX], line[512];
	char			*text;
	size_t			 len;
	pid_t			 pid;
	int			 fd, n = 0;

	if ((fd = dup(runsfd)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	rewinddir(d);	/* the dup shares runsfd's offset */
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		text = atomicfile_readat(runsfd, de->d_name,
		    HANDLER_RUN_RECORD_MAX, &len, err, sizeof(err));
		if (text == NULL || handler_record_parse(text, &pid, &start,
		    mark, sizeof(mark)) == -1) {
			snprintf(line, sizeof(line), "run record %.200s: not "
			    "one (a write cut short?), removed", de->d_name);
		} else if (prockill_leftover(pid, start, mark) == 1) {
			snprintf(line, sizeof(line), "%.200s: a run left "
			    "running by an extmgr that stopped (process group "
			    "%d) killed", de->d_name, (int)pid);
			n++;
		} else {
			snprintf(line, sizeof(line), "%.200s: a run left by an "
			    "extmgr that stopped: its shell %d is gone, what "
			    "carried its mark killed", de->d_name, (int)pid);
			n++;
		}
		free(text);
		if (said != NULL)
			said(line, arg);
		unlinkat(runsfd, de->d_name, 0);
	}
	closedir(d);
	return n;
}

struct handler_run *
handler_start(struct event_base *base, const struct handler_job *job,
    handler_done_cb cb, void *arg, char *err, size_t errlen)
{
	struct handler_run	*run = NULL;
	struct timeval		 tv, logcheck_tv = { 1, 0 };
	char			*argv[4] = { "sh", "-c", NULL, NULL };
	char			**env = NULL;
	char			*cmd = NULL;
	int			 extfd = -1, logdirfd = -1, nullfd = -1;
	int			 go[2] = { -1, -1 };

	if (job == NULL || job->paths == NULL || job->command == NULL ||
	    job->command[0] == '\0' || (unsigned)job->op >= MANIFEST_OP_COUNT ||
	    job->timeout_seconds <= 0 || job->seq < 0 ||
	    job->paths->ext_dir == NULL || job->paths->log_dir == NULL) {
		snprintf(err, errlen, "handler: an incomplete job");
		return NULL;
	}
	if ((run = calloc(1, sizeof(*run))) == NULL ||
	    (run->ext_dir = strdup(job->paths->ext_dir)) == NULL) {
		snprintf(err, errlen, "handler: out of memory");
		free(run);
		return NULL;
	}
	run->base = base;
	run->cb = cb;
	run->arg = arg;
	run->op = job->op;
	run->pid = -1;
	run->pidfd = -1;
	run->logfd = -1;
	run->runsfd = -1;
	if (job->runs_dir != NULL && handler_runs_open(job, run, err,
	    errlen) == -1)
		goto fail;
	run->timeout_seconds = job->timeout_seconds;
	if (prockill_mark(HANDLER_RUN_ENV, run->mark, sizeof(run->mark)) ==
	    -1) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		goto fail;
	}
	if ((extfd = safedir_open(job->paths->ext_dir, err, errlen)) == -1)
		goto fail;
	if ((logdirfd = handler_dir_make(job->paths->log_dir, err, errlen)) ==
	    -1)
		goto fail;
	/* Kept small: cut to its end once it has grown past its cap. */
	if (handler_log_trim(logdirfd, HANDLER_LOG_MAX, err, errlen) == -1)
		goto fail;
	if ((run->logfd = safedir_open_file(logdirfd, HANDLER_LOG_FILE,
	    O_RDWR | O_CREAT | O_APPEND, 0600, SAFEDIR_KEEP_UID,
	    SAFEDIR_KEEP_GID, err, errlen)) == -1)
		goto fail;
	if ((nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "/dev/null: %s", strerror(errno));
		goto fail;
	}
	if ((cmd = handler_command(extfd, job->paths->ext_dir,
	    job->command)) == NULL || (env = handler_env(job, run->mark)) ==
	    NULL) {
		snprintf(err, errlen, "handler: out of memory or too many "
		    "environment variables");
		goto fail;
	}
	argv[2] = cmd;
	if ((run->ev_timeout = evtimer_new(base, handler_on_timeout, run)) ==
	    NULL || (run->ev_logcheck = event_new(base, -1, EV_PERSIST,
	    handler_on_logcheck, run)) == NULL) {
		snprintf(err, errlen, "handler: out of memory");
		goto fail;
	}
	handler_log_line(run->logfd, "[%s] %s: %s\n",
	    manifest_op_name(job->op), cmd);
	run->out_start = lseek(run->logfd, 0, SEEK_END);
	clock_gettime(CLOCK_MONOTONIC, &run->started);
	if (pipe2(go, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	if ((run->pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto fail;
	}
	if (run->pid == 0) {
		close(go[1]);	/* else its read would wait for itself */
		handler_child(go[0], extfd, nullfd, run->logfd, argv, env);
	}
	close(go[0]);
	go[0] = -1;
	if (handler_record(run, err, errlen) == -1)
		goto killed;
	if (write(go[1], "", 1) != 1) {
		snprintf(err, errlen, "handler: cannot start the child: %s",
		    strerror(errno));
		goto killed;
	}
	close(go[1]);
	go[1] = -1;
	if ((run->pidfd = pidfd_open(run->pid, 0)) == -1) {
		snprintf(err, errlen, "pidfd_open: %s", strerror(errno));
		goto killed;
	}
	if ((run->ev_exit = event_new(base, run->pidfd, EV_READ,
	    handler_on_exit, run)) == NULL || event_add(run->ev_exit,
	    NULL) == -1) {
		snprintf(err, errlen, "handler: cannot watch the child");
		goto killed;
	}
	tv.tv_sec = job->timeout_seconds;
	tv.tv_usec = 0;
	if (evtimer_add(run->ev_timeout, &tv) == -1 ||
	    evtimer_add(run->ev_logcheck, &logcheck_tv) == -1) {
		snprintf(err, errlen, "handler: cannot arm the time limit");
		goto killed;
	}
	close(extfd);
	close(logdirfd);
	close(nullfd);
	free(cmd);
	handler_env_free(env);
	return run;
 killed:
	handler_kill_all(run);
	while (waitpid(run->pid, NULL, 0) == -1 && errno == EINTR)
		;
	handler_unrecord(run);
 fail:
	if (go[0] != -1)
		close(go[0]);
	if (go[1] != -1)
		close(go[1]);
	if (extfd != -1)
		close(extfd);
	if (logdirfd != -1)
		close(logdirfd);
	if (nullfd != -1)
		close(nullfd);
	free(cmd);
	handler_env_free(env);
	handler_run_free(run);
	return NULL;
}

static void
handler_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct handler_run	*run = arg;

	(void)fd;
	(void)what;
	run->timed_out = 1;
	handler_kill_all(run);
	/* The pidfd says when the shell is gone. */
}

/*
 * A handler that writes without end must not fill the disk: past
 * HANDLER_LOG_RUN_MAX the log is emptied (the writers' O_APPEND goes on
 * from 0) and this run's output starts again there.
 */
static void
handler_on_logcheck(evutil_socket_t fd, short what, void *arg)
{
	struct handler_run	*run = arg;
	struct stat		 st;

	(void)fd;
	(void)what;
	if (fstat(run->logfd, &st) == -1 || st.st_size <= HANDLER_LOG_RUN_MAX)
		return;
	if (ftruncate(run->logfd, 0) == -1)
		return;
	run->out_start = 0;
	handler_log_line(run->logfd, "[%s] %s: %s\n", manifest_op_name(run->op),
	    "log emptied: the output passed " ARC_STR(HANDLER_LOG_RUN_MAX_MIB)
	    " MiB");
}

off_t
handler_log_trim(int logdirfd, off_t max, char *err, size_t errlen)
{
	struct stat	 st;
	char		*buf = NULL, *nl, mark[160];
	off_t		 from, cut = -1;
	ssize_t		 n;
	size_t		 skip = 0, marklen;
	int		 fd;

	if (fstatat(logdirfd, HANDLER_LOG_FILE, &st, AT_SYMLINK_NOFOLLOW) ==
	    -1 && errno == ENOENT)
		return 0;
	/* A regular file with one link, never through a symlink; not
	 * O_APPEND: the kept end is written at 0. */
	if ((fd = safedir_open_file(logdirfd, HANDLER_LOG_FILE, O_RDWR, 0,
	    SAFEDIR_KEEP_UID, SAFEDIR_KEEP_GID, err, errlen)) == -1)
		return -1;
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", HANDLER_LOG_FILE,
		    strerror(errno));
		goto done;
	}
	if (st.st_size <= max || st.st_size <= HANDLER_LOG_KEEP) {
		cut = 0;
		goto done;
	}
	if ((buf = malloc(HANDLER_LOG_KEEP)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", HANDLER_LOG_FILE);
		goto done;
	}
	from = st.st_size - HANDLER_LOG_KEEP;
	if ((n = pread(fd, buf, HANDLER_LOG_KEEP, from)) <= 0) {
		snprintf(err, errlen, "%s: read: %s", HANDLER_LOG_FILE,
		    n == 0 ? "short" : strerror(errno));
		goto done;
	}
	/* From the first whole line on, when there is one. */
	if ((nl = memchr(buf, '\n', (size_t)n)) != NULL && nl + 1 < buf + n)
		skip = (size_t)(nl + 1 - buf);
	marklen = (size_t)snprintf(mark, sizeof(mark), "[extmgr] log cut: "
	    "%lld bytes of earlier output removed (past %lld bytes)\n",
	    (long long)from + (long long)skip, (long long)max);
	if (pwrite(fd, mark, marklen, 0) != (ssize_t)marklen ||
	    pwrite(fd, buf + skip, (size_t)n - skip, (off_t)marklen) !=
	    n - (ssize_t)skip ||
	    ftruncate(fd, (off_t)(marklen + (size_t)n - skip)) == -1) {
		snprintf(err, errlen, "%s: cutting: %s", HANDLER_LOG_FILE,
		    strerror(errno));
		goto done;
	}
	cut = from + (off_t)skip - (off_t)marklen;
 done:
	free(buf);
	close(fd);
	return cut;
}

/*
 * The run's output from the log: its last HANDLER_OUTPUT_TAIL bytes,
 * made valid UTF-8 without NUL (a cut or bad sequence becomes '?') so that
 * it goes into a JSON report as it is.
 */
static size_t
handler_tail(struct handler_run *run, char *buf, size_t size)
{
	off_t		 end, from;
	ssize_t		 n;
	size_t		 i, len, k, need;
	unsigned char	 c;

	buf[0] = '\0';
	end = lseek(run->logfd, 0, SEEK_END);
	if (end == -1 || end <= run->out_start)
		return 0;
	from = end - run->out_start > (off_t)(size - 1) ?
	    end - (off_t)(size - 1) : run->out_start;
	/* The log is opened O_RDWR for this read (and O_APPEND for all). */
	if ((n = pread(run->logfd, buf, (size_t)(end - from), from)) <= 0) {
		buf[0] = '\0';
		return 0;
	}
	len = (size_t)n;
	for (i = 0; i < len; i++) {
		c = (unsigned char)buf[i];
		need = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 && c >= 0xc2 ? 1 :
		    (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 && c <= 0xf4 ?
		    3 : 4;
		if (c == 0 || need == 4 || i + need >= len) {
			if (c == 0 || need > 0)
				buf[i] = '?';
			continue;
		}
		for (k = 1; k <= need; k++)
			if (((unsigned char)buf[i + k] & 0xc0) != 0x80)
				break;
		if (k <= need || (c == 0xe0 &&
		    (unsigned char)buf[i + 1] < 0xa0) || (c == 0xed &&
		    (unsigned char)buf[i + 1] > 0x9f) || (c == 0xf0 &&
		    (unsigned char)buf[i + 1] < 0x90) || (c == 0xf4 &&
		    (unsigned char)buf[i + 1] > 0x8f)) {
			buf[i] = '?';
			continue;
		}
		i += need;
	}
	buf[len] = '\0';
	return len;
}

static void
handler_on_exit(evutil_socket_t fd, short what, void *arg)
{
	struct handler_run	*run = arg;
	struct handler_result	 res;
	struct timespec		 now;
	char			 out[HANDLER_OUTPUT_TAIL + 1], msg[512];
	char			 why[400];
	pid_t			 w;
	int			 status;

	(void)fd;
	(void)what;
	while ((w = waitpid(run->pid, &status, WNOHANG)) == -1 &&
	    errno == EINTR)
		;
	if (w == 0) {		/* not yet: wait again */
		event_add(run->ev_exit, NULL);
		return;
	}
	evtimer_del(run->ev_timeout);
	evtimer_del(run->ev_logcheck);
	if (w != -1)
		handler_unrecord(run);
	clock_gettime(CLOCK_MONOTONIC, &now);
	memset(&res, 0, sizeof(res));
	res.op = run->op;
	res.pid = run->pid;
	res.timeout_seconds = run->timeout_seconds;
	res.duration_ms = (now.tv_sec - run->started.tv_sec) * 1000L +
	    (now.tv_nsec - run->started.tv_nsec) / 1000000L;
	if (w == -1) {
		res.code = manifest_op_error_code(run->op);
		snprintf(msg, sizeof(msg), "waitpid: %s", strerror(errno));
	} else if (run->timed_out) {
		res.timed_out = 1;
		res.term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
		res.code = HANDLER_ERR_TIMEOUT;
		snprintf(msg, sizeof(msg), "Timeout(%d)", run->timeout_seconds);
	} else if (WIFEXITED(status)) {
		res.exited = 1;
		res.exit_status = WEXITSTATUS(status);
		res.code = res.exit_status == 0 ? 0 :
		    manifest_op_error_code(run->op);
		if (res.exit_status == 126 && handler_check_exec(run->ext_dir,
		    why, sizeof(why)) == -1)
			snprintf(msg, sizeof(msg), "exit 126: %s", why);
		else if (res.exit_status == 126)
			snprintf(msg, sizeof(msg), "exit 126: the command was "
			    "found but could not be executed");
		else if (res.exit_status == 127)
			snprintf(msg, sizeof(msg), "exit 127: command not found");
		else
			snprintf(msg, sizeof(msg), "exit %d", res.exit_status);
	} else {
		res.term_signal = WTERMSIG(status);
		res.code = manifest_op_error_code(run->op);
		snprintf(msg, sizeof(msg), "killed by signal %d (%s)",
		    res.term_signal, strsignal(res.term_signal));
	}
	res.message = msg;
	res.output_len = handler_tail(run, out, sizeof(out));
	res.output = out;
	handler_log_line(run->logfd, "[%s] %s: %s\n",
	    manifest_op_name(run->op), msg);
	if (run->cb != NULL)
		run->cb(&res, run->arg);
	handler_run_free(run);
}

void
handler_cancel(struct handler_run *run)
{
	if (run == NULL)
		return;
	handler_kill_all(run);
	/* SIGKILL cannot be caught: the shell is gone at once. */
	while (waitpid(run->pid, NULL, 0) == -1 && errno == EINTR)
		;
	handler_unrecord(run);
	handler_log_line(run->logfd, "[%s] %s: %s\n",
	    manifest_op_name(run->op), "cancelled: process group killed");
	handler_run_free(run);
}

pid_t
handler_pid(const struct handler_run *run)
{
	return run != NULL ? run->pid : -1;
}
