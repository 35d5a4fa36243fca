/* state.c -- the machine's local state as azcmagent sees it: identity files, machine.json and himds.json, the daemons' pid files, who may write. */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "daemon.h"
#include "state.h"

#define STATE_MAX_JSON	(1 << 20)

const char *const state_daemons[] = { "arcproxy", "himds", "extmgr",
	"guestconfig", NULL };

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
	int	fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX) == -1) {
		if (errno == EINTR)
			continue;
		snprintf(err, errlen, "%s: lock: %s", dir, strerror(errno));
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
	char		 prefix[NAME_MAX + 1], path[PATH_MAX], *end;
	size_t		 plen;
	long		 pid;

	plen = (size_t)snprintf(prefix, sizeof(prefix), "%s.tmp.", name);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, prefix, plen) != 0)
			continue;
		pid = strtol(e->d_name + plen, &end, 10);
		if (*end != '\0' || pid <= 0 || pid == (long)getpid() ||
		    kill((pid_t)pid, 0) == 0 || errno == EPERM)
			continue;	/* its writer still runs */
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

long
state_daemon_pid(const char *state_dir, const char *prog)
{
	/* lib/daemon checks /proc/<pid>/comm: a stale pid file that names
	 * another program's pid is not signalled. */
	return daemon_pidfile_read(state_dir, prog);
}

int
state_reload_daemons(const char *state_dir, char *told, size_t toldlen)
{
	size_t	used = 0;
	long	pid;
	int	i, n = 0;

	if (toldlen > 0)
		told[0] = '\0';
	for (i = 0; state_daemons[i] != NULL; i++) {
		if ((pid = state_daemon_pid(state_dir, state_daemons[i])) == -1 ||
		    kill((pid_t)pid, SIGHUP) == -1)
			continue;
		n++;
		if (used < toldlen)
			used += (size_t)snprintf(told + used, toldlen - used, "%s%s",
			    n > 1 ? ", " : "", state_daemons[i]);
	}
	return n;
}

int
state_json_load(const char *state_dir, const char *name, json_t **out,
    char *err, size_t errlen)
{
	json_error_t	 jerr;
	char		 path[PATH_MAX], *text;
	size_t		 len;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/%s", state_dir, name);
	if (access(path, F_OK) == -1 && errno == ENOENT)
		return 0;
	if ((text = atomicfile_read(path, STATE_MAX_JSON, &len, err, errlen)) == NULL)
		return -1;
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
	char	path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", state_dir, name);
	return atomicfile_write(path, data, len, (mode_t)mode, err, errlen);
}

int
state_write_key(const char *state_dir, const char *pem, size_t len, char *err,
    size_t errlen)
{
	struct group	*g;
	char		 path[PATH_MAX];

	if (state_write(state_dir, STATE_KEY, pem, len, 0640, err, errlen) == -1)
		return -1;
	if (geteuid() != 0 || (g = getgrnam(STATE_KEY_GROUP)) == NULL)
		return 0;
	/* Until this chown the file is root's alone: never more open. */
	snprintf(path, sizeof(path), "%s/%s", state_dir, STATE_KEY);
	if (chown(path, 0, g->gr_gid) == -1) {
		snprintf(err, errlen, "%s: chown root:%s: %s", path,
		    STATE_KEY_GROUP, strerror(errno));
		return -1;
	}
	return 0;
}

void
state_identity_files(const char *state_dir, char *out, size_t len)
{
	char	path[PATH_MAX];
	size_t	used = 0;
	int	i;

	out[0] = '\0';
	for (i = 0; state_identity[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/%s", state_dir, state_identity[i]);
		if (access(path, F_OK) == 0 && used < len)
			used += (size_t)snprintf(out + used, len - used, "%s%s",
			    used ? ", " : "", state_identity[i]);
	}
}

int
state_identity_remove(const char *state_dir, char *err, size_t errlen)
{
	char	path[PATH_MAX];
	int	i, rc = 0;

	for (i = 0; state_identity[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/%s", state_dir, state_identity[i]);
		if (unlink(path) == -1 && errno != ENOENT && rc == 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			rc = -1;
		}
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
