/* state.c -- the machine's local state as azcmagent sees it: identity files, machine.json and himds.json, the daemons' pid files, who may write. */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "daemon.h"
#include "safedir.h"
#include "state.h"

#define STATE_MAX_JSON	(1 << 20)

const char *const state_daemons[] = { "arcproxy", "himds", "extmgr",
	"guestconfig",
	"arcnotify",	/* incomingconnections.* end live sessions at once */
	NULL };

static const char *const state_identity[] = { STATE_MACHINE, STATE_CERT,
	STATE_KEY, NULL };

int
state_may_write(const char *dir, const char *what, char *err, size_t errlen)
{
	struct stat	st;

	if (geteuid() == 0)
		return 0;
	if (stat(dir, &st) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (st.st_uid == geteuid())
		return 0;	/* development mode: the owner runs everything */
	snprintf(err, errlen, "%s needs root (or, in development mode, the owner "
	    "of %s)", what, dir);
	return -1;
}

int
state_lock(const char *dir, char *err, size_t errlen)
{
	struct stat	st;
	int		dfd, fd;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	/* Not the dir itself: anyone who may open it may flock it, and a
	 * local user held root's config set off for good. */
	fd = openat(dfd, STATE_LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC, 0600);
	close(dfd);
	if (fd == -1) {
		snprintf(err, errlen, "%s/%s: %s", dir, STATE_LOCK_FILE,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s/%s: not a file of our own that only "
		    "we may open (remove it)", dir, STATE_LOCK_FILE);
		close(fd);
		return -1;
	}
	while (flock(fd, LOCK_EX) == -1) {
		if (errno == EINTR)
			continue;
		snprintf(err, errlen, "%s/%s: lock: %s", dir, STATE_LOCK_FILE,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

void
state_unlock(int fd)
{
	if (fd != -1)
		close(fd);	/* and with it the lock */
}

void
state_sweep_temps(const char *dir, const char *name)
{
	DIR		*d;
	struct dirent	*e;
	long		 pid;
	int		 dfd;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (!atomicfile_is_temp(e->d_name, name, &pid))
			continue;
		if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 ||
		    errno == EPERM)
			continue;	/* its writer still runs */
		unlinkat(dfd, e->d_name, 0);
	}
	closedir(d);
}

long
state_daemon_pid(const char *run_dir, const char *prog)
{
	/* lib/daemon checks /proc/<pid>/comm: a stale pid file that names
	 * another program's pid is not signalled. */
	return daemon_pidfile_read(run_dir, prog);
}

int
state_reload_daemons(const char *run_dir, char *told, size_t toldlen)
{
	size_t	used = 0;
	long	pid;
	int	i, n = 0;

	if (toldlen > 0)
		told[0] = '\0';
	for (i = 0; state_daemons[i] != NULL; i++) {
		if ((pid = state_daemon_pid(run_dir, state_daemons[i])) == -1 ||
		    kill((pid_t)pid, SIGHUP) == -1)
			continue;
		n++;
		if (used < toldlen)
			used += (size_t)snprintf(told + used, toldlen - used, "%s%s",
			    n > 1 ? ", " : "", state_daemons[i]);
	}
	return n;
}

/* When root: what himds's files and directory belong to. */
static void
state_himds_owner(uid_t *uid, gid_t *gid)
{
	struct passwd	*pw;
	struct group	*g;

	*uid = SAFEDIR_KEEP_UID;
	*gid = SAFEDIR_KEEP_GID;
	if (geteuid() != 0)
		return;
	if ((pw = getpwnam(STATE_HIMDS_USER)) != NULL)
		*uid = pw->pw_uid;
	if ((g = getgrnam(STATE_KEY_GROUP)) != NULL)
		*gid = g->gr_gid;
}

int
state_dir_of(const char *state_dir, const char *name, int create,
    const char **base, char *err, size_t errlen)
{
	const char	*slash = strchr(name, '/');
	char		 sub[NAME_MAX + 1], why[512];
	uid_t		 uid;
	gid_t		 gid;
	int		 sfd, fd;

	*base = slash != NULL ? slash + 1 : name;
	if ((sfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", state_dir, strerror(errno));
		return -1;
	}
	if (slash == NULL)
		return sfd;
	snprintf(sub, sizeof(sub), "%.*s", (int)(slash - name), name);
	if (create) {
		state_himds_owner(&uid, &gid);
		fd = safedir_make(sfd, sub, 0750, uid, gid, why, sizeof(why));
	} else if ((fd = openat(sfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		snprintf(why, sizeof(why), "%s: %s", sub, strerror(errno));
	if (fd == -1)
		snprintf(err, errlen, "%s/%s", state_dir, why);
	close(sfd);
	return fd;
}

int
state_open_file(const char *state_dir, const char *name, char *err,
    size_t errlen)
{
	struct stat	 st;
	const char	*base;
	char		 why[512];
	int		 dfd, fd;

	if ((dfd = state_dir_of(state_dir, name, 0, &base, why,
	    sizeof(why))) == -1) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(dfd);
	if (fd == -1) {
		snprintf(err, errlen, "%s/%s: %s", state_dir, name,
		    errno == ELOOP ? "a symbolic link" : strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    st.st_size > STATE_MAX_JSON) {
		snprintf(err, errlen, "%s/%s: not a regular file of one link and "
		    "at most %d bytes", state_dir, name, STATE_MAX_JSON);
		close(fd);
		return -1;
	}
	return fd;
}

int
state_open_log(const char *state_dir, const char *path, char *err,
    size_t errlen)
{
	const char	*slash = strrchr(path, '/'), *base;
	char		 own[PATH_MAX], sub[PATH_MAX], why[512];
	size_t		 len;
	int		 dfd, nfd, fd;

	len = (size_t)snprintf(own, sizeof(own), "%s/" STATE_ARCPROXY_DIR "/",
	    state_dir);
	if (slash == NULL || slash[1] == '\0') {
		snprintf(err, errlen, "%s: not a file's path", path);
		return -1;
	}
	if (strncmp(path, own, len) == 0) {
		/* arcproxy's folder: nothing there is followed. */
		if ((dfd = state_dir_of(state_dir, STATE_ARCPROXY_DIR "/-", 0,
		    &base, err, errlen)) == -1)
			return -1;
		if (slash > path + len - 1) {
			snprintf(sub, sizeof(sub), "%.*s",
			    (int)(slash - (path + len)), path + len);
			nfd = safedir_open_under(dfd, sub, why, sizeof(why));
			close(dfd);
			if ((dfd = nfd) == -1) {
				snprintf(err, errlen, "%s%s", own, why);
				return -1;
			}
		}
	} else {
		/* Where root's arcproxy.conf put it: root's choice. */
		snprintf(sub, sizeof(sub), "%.*s", (int)(slash - path), path);
		if ((dfd = open(slash == path ? "/" : sub, O_RDONLY |
		    O_DIRECTORY | O_CLOEXEC)) == -1) {
			snprintf(err, errlen, "%s: %s", sub, strerror(errno));
			return -1;
		}
	}
	fd = safedir_open_file(dfd, slash + 1, O_RDONLY, 0, SAFEDIR_KEEP_UID,
	    SAFEDIR_KEEP_GID, why, sizeof(why));
	close(dfd);
	if (fd == -1)
		snprintf(err, errlen, "%.*s%s", (int)(slash + 1 - path), path,
		    why);
	return fd;
}

int
state_json_load(const char *state_dir, const char *name, json_t **out,
    char *err, size_t errlen)
{
	json_error_t	 jerr;
	const char	*base;
	char		 path[PATH_MAX], why[512], *text;
	size_t		 len;
	int		 dfd;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/%s", state_dir, name);
	if ((dfd = state_dir_of(state_dir, name, 0, &base, why,
	    sizeof(why))) == -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	/* himds.json is himds's: a FIFO, a hard link to a root-only file
	 * (whose first token jansson's error quoted) or a huge file there
	 * is refused, never read. */
	text = safedir_read(dfd, base, STATE_MAX_JSON, &len, why, sizeof(why));
	close(dfd);
	if (text == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%.*s%s", (int)(strlen(path) -
		    strlen(base)), path, why);
		return -1;
	}
	*out = json_loadb(text, len, 0, &jerr);
	free(text);
	if (*out == NULL || !json_is_object(*out)) {
		snprintf(err, errlen, "%s:%d: %s", path, jerr.line, *out == NULL ?
		    jerr.text : "not a JSON object");
		json_decref(*out);
		*out = NULL;
		return -1;
	}
	return 1;
}

int
state_write(const char *state_dir, const char *name, const char *data,
    size_t len, int mode, char *err, size_t errlen)
{
	const char	*base;
	char		 why[512];
	uid_t		 uid = ATOMICFILE_KEEP_UID;
	gid_t		 gid = ATOMICFILE_KEEP_GID;
	int		 dfd, rc;

	if ((dfd = state_dir_of(state_dir, name, 1, &base, err, errlen)) == -1)
		return -1;
	if (base != name)	/* himds's subdirectory: himds's files */
		state_himds_owner(&uid, &gid);
	rc = atomicfile_writeat(dfd, base, data, len, (mode_t)mode, uid, gid, 0,
	    why, sizeof(why));
	if (rc == -1)
		snprintf(err, errlen, "%s/%.*s%s", state_dir,
		    (int)(base - name), name, why);
	close(dfd);
	return rc;
}

int
state_write_key(const char *state_dir, const char *pem, size_t len, char *err,
    size_t errlen)
{
	return state_write(state_dir, STATE_KEY, pem, len, 0640, err, errlen);
}

void
state_identity_files(const char *state_dir, char *out, size_t len)
{
	const char	*base;
	char		 why[512];
	size_t		 used = 0;
	int		 i, dfd;

	out[0] = '\0';
	for (i = 0; state_identity[i] != NULL; i++) {
		if ((dfd = state_dir_of(state_dir, state_identity[i], 0, &base,
		    why, sizeof(why))) == -1)
			continue;
		if (faccessat(dfd, base, F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
		    used < len)
			used += (size_t)snprintf(out + used, len - used, "%s%s",
			    used ? ", " : "", base);
		close(dfd);
	}
}

int
state_identity_remove(const char *state_dir, char *err, size_t errlen)
{
	const char	*base;
	char		 why[512];
	int		 i, dfd, rc = 0;

	for (i = 0; state_identity[i] != NULL; i++) {
		if ((dfd = state_dir_of(state_dir, state_identity[i], 0, &base,
		    why, sizeof(why))) == -1)
			continue;	/* no directory, no file */
		if (unlinkat(dfd, base, 0) == -1 && errno != ENOENT && rc == 0) {
			snprintf(err, errlen, "%s/%s: %s", state_dir,
			    state_identity[i], strerror(errno));
			rc = -1;
		}
		close(dfd);
	}
	return rc;
}

void
state_rfc3339(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

time_t
state_parse_rfc3339(const char *s)
{
	struct tm	 tm;
	const char	*p;
	int		 sign, hh, mm;
	time_t		 t;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || (p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return -1;
	if (*p == '.')				/* fractions of a second */
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	t = timegm(&tm);
	if (*p == 'Z' || *p == 'z')
		return p[1] == '\0' ? t : -1;
	if ((*p != '+' && *p != '-') || sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2 ||
	    strlen(p) != 6)
		return -1;
	sign = *p == '+' ? 1 : -1;
	return t - sign * (hh * 3600 + mm * 60);
}
