/* cmd_logs.c -- azcmagent logs: a tar.gz of the logs and a state summary for a support case, never a private key. */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "azcmagent.h"
#include "state.h"

#define LOGS_FILE_MAX	(64 << 20)	/* a larger log: its last 64 MiB */

struct logs {
	struct archive	*ar;
	char		 prefix[64];	/* the folder inside the archive */
	json_t		*files;		/* what went in, for the summary */
	json_t		*unreadable;	/* what was there but not ours to read */
	char		 error[300];
};

/* Never a key, a token key file or a temp file, whatever its name says. */
static int
logs_secret(const char *name)
{
	size_t	len = strlen(name);

	return (len >= 4 && strcmp(name + len - 4, ".key") == 0) ||
	    strstr(name, ".tmp.") != NULL || strcmp(name, ARC_SUBDIR_TOKENS) == 0;
}

static int
logs_add_data(struct logs *l, const char *name, const void *data, size_t len,
    time_t mtime)
{
	struct archive_entry	*e;
	char			 path[PATH_MAX];

	if ((e = archive_entry_new()) == NULL) {
		snprintf(l->error, sizeof(l->error), "out of memory");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", l->prefix, name);
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_mtime(e, mtime, 0);
	if (archive_write_header(l->ar, e) != ARCHIVE_OK ||
	    (len > 0 && archive_write_data(l->ar, data, len) != (la_ssize_t)len)) {
		snprintf(l->error, sizeof(l->error), "%s",
		    archive_error_string(l->ar));
		archive_entry_free(e);
		return -1;
	}
	archive_entry_free(e);
	json_array_append_new(l->files, json_string(name));
	return 0;
}

/* fd's file, its tail when it is large; fd is closed. */
static int
logs_add_fd(struct logs *l, int fd, const char *as)
{
	struct stat	 st;
	char		*buf;
	off_t		 from;
	ssize_t		 n;
	size_t		 len = 0;
	int		 rc;

	if (fstat(fd, &st) == -1) {
		close(fd);
		return 0;
	}
	from = st.st_size > LOGS_FILE_MAX ? st.st_size - LOGS_FILE_MAX : 0;
	if ((buf = malloc(st.st_size - from + 1)) == NULL) {
		close(fd);
		snprintf(l->error, sizeof(l->error), "out of memory");
		return -1;
	}
	while (len < (size_t)(st.st_size - from) &&
	    (n = pread(fd, buf + len, st.st_size - from - len, from + len)) > 0)
		len += (size_t)n;
	close(fd);
	rc = logs_add_data(l, as, buf, len, st.st_mtime);
	free(buf);
	return rc;
}

/* A regular file with one link (never through a symlink), its tail when it
 * is large. */
static int
logs_add_file(struct logs *l, const char *dir, const char *name, const char *as)
{
	struct stat	 st;
	char		 path[PATH_MAX];
	int		 fd;

	if (logs_secret(name))
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) == -1) {
		if (errno == EACCES)	/* a support case wants to know */
			json_array_append_new(l->unreadable, json_string(as));
		return 0;		/* gone, a symlink, or not ours to read */
	}
	/* One link only: arcproxy's user owns <state>/arcproxy and could link
	 * a root-only file there where fs.protected_hardlinks is off. */
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		close(fd);
		return 0;
	}
	return logs_add_fd(l, fd, as);
}

/* Every file of dir whose name ends in suffix, as <as_dir>/<name>. */
static int
logs_add_dir(struct logs *l, const char *dir, const char *suffix,
    const char *as_dir)
{
	DIR		*d;
	struct dirent	*e;
	char		 as[PATH_MAX];
	size_t		 len, slen = strlen(suffix);

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		len = strlen(e->d_name);
		if (len <= slen || strcmp(e->d_name + len - slen, suffix) != 0)
			continue;
		snprintf(as, sizeof(as), "%s/%s", as_dir, e->d_name);
		if (logs_add_file(l, dir, e->d_name, as) == -1) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

/* The state files himds and connect keep, arcproxy's logs (<state>/arcproxy)
 * and the pid files (the run dir); log is the access log arcproxy writes. */
static int
logs_add_state(struct logs *l, const struct azcm *a, const char *log)
{
	static const char *const state_files[] = { STATE_MACHINE, STATE_HIMDS,
	    STATE_CERT,
	    ARC_SUBDIR_GUESTCONFIG "/" ARC_FILE_GUESTCONFIG_JSON,
	    ARC_SUBDIR_GUESTCONFIG "/changes.log", NULL };
	char		 as[PATH_MAX], dir[PATH_MAX], own[PATH_MAX], why[512];
	const char	*slash;
	size_t		 len;
	int		 i, fd;

	for (i = 0; state_files[i] != NULL; i++) {
		snprintf(as, sizeof(as), "state/%s", state_files[i]);
		if (logs_add_file(l, a->state_dir, state_files[i], as) == -1)
			return -1;
	}
	snprintf(own, sizeof(own), "%s/" STATE_ARCPROXY_DIR, a->state_dir);
	if (logs_add_dir(l, own, ".log", "logs") == -1 ||
	    logs_add_dir(l, a->run_dir, ".pid", "run") == -1)
		return -1;
	/* arcproxy's access log, when arcproxy.conf puts it elsewhere or names it otherwise. */
	if (log[0] != '\0' && (slash = strrchr(log, '/')) != NULL) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - log), log);
		len = strlen(slash + 1);
		if (strcmp(dir, own) != 0 || len < 4 ||
		    strcmp(slash + 1 + len - 4, ".log") != 0) {
			snprintf(as, sizeof(as), "logs/%.*s", NAME_MAX, slash + 1);
			if (logs_secret(slash + 1))
				return 0;
			/* In a folder below arcproxy's, nothing it put there
			 * is followed (state_open_log). */
			if ((fd = state_open_log(a->state_dir, log, why,
			    sizeof(why))) == -1) {
				if (errno == EACCES)
					json_array_append_new(l->unreadable,
					    json_string(as));
				return 0;
			}
			return logs_add_fd(l, fd, as);
		}
	}
	return 0;
}

static int
logs_add_config(struct logs *l, const struct azcm *a)
{
	static const char *const conf_files[] = { ARC_FILE_AGENT_CONF,
	    ARC_FILE_ARCPROXY_CONF, ARC_FILE_HIMDS_CONF,
	    "guestconfig.conf",
	    NULL };
	char	as[PATH_MAX];
	int	i;

	for (i = 0; conf_files[i] != NULL; i++) {
		snprintf(as, sizeof(as), "config/%s", conf_files[i]);
		if (logs_add_file(l, a->config_dir, conf_files[i], as) == -1)
			return -1;
	}
	return 0;
}

/* What the local APIs say now: arcproxy's /status, /healthz and /metrics, himds's /agentstatus. */
static int
logs_add_live(struct logs *l, const struct azcm *a, json_t *summary)
{
	static const struct {
		const char	*what;
		int		 himds;
		const char	*path;
		const char	*as;
	} live[] = {
		{ "arcproxy", 0, "/status", "live/arcproxy-status.json" },
		{ "arcproxy", 0, "/healthz", "live/arcproxy-healthz.json" },
		{ "arcproxy", 0, "/metrics", "live/arcproxy-metrics.txt" },
		{ "himds", 1, "/agentstatus", "live/himds-agentstatus.json" },
	};
	struct probe_resp	r;
	size_t			i;
	int			rc = 0;

	for (i = 0; i < sizeof(live) / sizeof(live[0]) && rc == 0; i++) {
		if (azcm_local_get(live[i].himds ? a->himds_url : a->admin_url,
		    live[i].path, live[i].himds ? "Metadata: true" : NULL, 2000,
		    &r) == -1) {
			json_object_set_new(summary, live[i].as, json_string(
			    "no answer"));
			continue;
		}
		json_object_set_new(summary, live[i].as, json_integer(r.status));
		rc = logs_add_data(l, live[i].as, r.body ? r.body : "", r.body_len,
		    time(NULL));
		probe_resp_free(&r);
	}
	return rc;
}

static int
logs_add_summary(struct logs *l, const struct azcm *a, json_t *summary)
{
	json_t	*daemons;
	char	 now[32], *text;
	long	 pid;
	int	 i, rc;

	state_rfc3339(time(NULL), now, sizeof(now));
	json_object_set_new(summary, "time", json_string(now));
	json_object_set_new(summary, "agentVersion", json_string(AZCM_VERSION));
	json_object_set_new(summary, "configDir", json_string(a->config_dir));
	json_object_set_new(summary, "stateDir", json_string(a->state_dir));
	json_object_set_new(summary, "proxyUrl", json_string(a->proxy_url));
	if (a->pc_error[0] != '\0')
		json_object_set_new(summary, "arcproxyConfError",
		    json_string(a->pc_error));
	daemons = json_object();
	for (i = 0; state_daemons[i] != NULL; i++) {
		pid = state_daemon_pid(a->run_dir, state_daemons[i]);
		json_object_set_new(daemons, state_daemons[i], pid != -1 ?
		    json_integer(pid) : json_null());
	}
	json_object_set_new(summary, "running", daemons);
	json_object_set(summary, "files", l->files);
	json_object_set(summary, "unreadable", l->unreadable);
	if ((text = json_dumps(summary, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL) {
		snprintf(l->error, sizeof(l->error), "out of memory");
		return -1;
	}
	rc = logs_add_data(l, "summary.json", text, strlen(text), time(NULL));
	free(text);
	return rc;
}

/* The folder of path, opened (dir gets its name for messages), and *base
 * the file's name in it. */
static int
logs_open_dir(const char *path, char *dir, size_t dirlen, const char **base)
{
	const char	*slash = strrchr(path, '/');

	if (slash == NULL) {
		snprintf(dir, dirlen, ".");
		*base = path;
	} else {
		snprintf(dir, dirlen, "%.*s", slash == path ? 1 : (int)(slash - path),
		    path);
		*base = slash + 1;
	}
	if (**base == '\0' || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0) {
		snprintf(dir, dirlen, "%s", path);
		errno = EISDIR;
		return -1;
	}
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Is name in dfd a regular file of the caller's (one link, not a symlink)? */
static int
logs_replaceable(int dfd, const char *name)
{
	struct stat	st;

	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode) && st.st_uid == geteuid() && st.st_nlink == 1;
}

int
cmd_logs(struct azcm *a)
{
	struct logs	 l;
	json_t		*summary = json_object(), *o, *status = NULL;
	const char	*log;
	char		 out[PATH_MAX], dir[PATH_MAX], tmp[NAME_MAX + 32], host[64];
	char		 why[400], stamp[32];
	const char	*base;
	const char	*opt = azcm_opt(a, AZCM_O_OUTPUT);
	time_t		 now = time(NULL);
	struct tm	 tm;
	int		 rc = AZCM_OK, fd = -1, dfd = -1;

	memset(&l, 0, sizeof(l));
	l.files = json_array();
	l.unreadable = json_array();
	if (a->npos != 0) {
		rc = azcm_fail(AZCM_EARGS, "logs takes no argument '%s' (use "
		    "--output FILE)", a->pos[0]);
		goto done;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "machine");
	host[sizeof(host) - 1] = '\0';
	snprintf(l.prefix, sizeof(l.prefix), "azcmagent-logs-%s", stamp);
	if (opt != NULL)
		snprintf(out, sizeof(out), "%s", opt);
	else
		snprintf(out, sizeof(out), "azcmagent-logs-%s-%s.tar.gz", stamp, host);
	/* One open of the folder, and the temp file and the rename inside it:
	 * nobody who can change the way to it (root runs this, and the
	 * operator may name /tmp) moves the second step elsewhere. */
	if ((dfd = logs_open_dir(out, dir, sizeof(dir), &base)) == -1) {
		rc = azcm_fail(AZCM_EGENERIC, "%s: %s", dir, strerror(errno));
		goto done;
	}
	if (strlen(base) > NAME_MAX - 20) {
		rc = azcm_fail(AZCM_EARGS, "%s: the file name is too long", out);
		goto done;
	}
	snprintf(tmp, sizeof(tmp), "%.*s.tmp.%ld", NAME_MAX - 20, base,
	    (long)getpid());
	/* Logs name hosts and clients: the archive is the caller's alone. */
	if ((fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		rc = azcm_fail(AZCM_EGENERIC, "%s/%s: %s", dir, tmp, strerror(errno));
		goto done;
	}
	if ((l.ar = archive_write_new()) == NULL ||
	    archive_write_add_filter_gzip(l.ar) != ARCHIVE_OK ||
	    archive_write_set_format_pax_restricted(l.ar) != ARCHIVE_OK ||
	    archive_write_open_fd(l.ar, fd) != ARCHIVE_OK) {
		snprintf(l.error, sizeof(l.error), "%s", l.ar != NULL ?
		    archive_error_string(l.ar) : "out of memory");
		goto fail;
	}
	/* The access log that root's arcproxy.conf names, never one that
	 * whatever answers on the admin port names (any local user can bind
	 * it while arcproxy is down): root would copy that file in. */
	log = a->pc.access_log;
	status = azcm_status(a);
	if (status == NULL) {
		azcm_status_why(a, why, sizeof(why));
		json_object_set_new(summary, "arcproxy", json_string(why));
	}
	if (logs_add_config(&l, a) == -1 || logs_add_state(&l, a, log) == -1 ||
	    logs_add_live(&l, a, summary) == -1 ||
	    logs_add_summary(&l, a, summary) == -1)
		goto fail;
	if (archive_write_close(l.ar) != ARCHIVE_OK) {
		snprintf(l.error, sizeof(l.error), "%s", archive_error_string(l.ar));
		goto fail;
	}
	if (fsync(fd) == -1 || close(fd) == -1) {
		fd = -1;
		snprintf(l.error, sizeof(l.error), "%s", strerror(errno));
		goto fail;
	}
	fd = -1;
	/* Over an earlier archive of the caller's, never over what another
	 * user put under that name (a symlink, a file of theirs). */
	if (renameat2(dfd, tmp, dfd, base, logs_replaceable(dfd, base) ? 0 :
	    RENAME_NOREPLACE) == -1) {
		if (errno == EEXIST)
			snprintf(l.error, sizeof(l.error), "it exists and is not "
			    "a file of yours: remove it, or name another file "
			    "with --output");
		else
			snprintf(l.error, sizeof(l.error), "rename: %s",
			    strerror(errno));
		goto fail;
	}
	if (a->json) {
		o = json_pack("{s:s}", "output", out);
		json_object_set(o, "files", l.files);
		azcm_print_json(o);
	} else
		printf("%s: %zu files\n", out, json_array_size(l.files));
	goto done;
 fail:
	rc = azcm_fail(AZCM_EGENERIC, "%s: %s", out, l.error[0] ? l.error :
	    "cannot write the archive");
	if (l.ar != NULL)
		archive_write_free(l.ar);	/* before its fd closes */
	l.ar = NULL;
	if (fd != -1)
		close(fd);
	unlinkat(dfd, tmp, 0);
 done:
	if (dfd != -1)
		close(dfd);
	if (l.ar != NULL)
		archive_write_free(l.ar);
	json_decref(status);
	json_decref(l.files);
	json_decref(l.unreadable);
	json_decref(summary);
	return rc;
}
