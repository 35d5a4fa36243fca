/* daemon.c -- what every program of the appliance takes on its command line: -d, -n, -v, --config-dir, --state-dir, --run-dir; the pid files. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "daemon.h"
#include "safedir.h"

const char *
daemon_dir(const char *flag, const char *env, const char *def)
{
	const char	*v;

	if (flag != NULL)
		return flag;
	if ((v = getenv(env)) != NULL && v[0] != '\0')
		return v;
	return def;
}

static void
daemon_usage(const char *progname)
{
	fprintf(stderr, "usage: %s [-dnv] [--config-dir DIR] [--state-dir DIR] "
	    "[--run-dir DIR]\n"
	    "  -d  stay in the foreground and log to stderr\n"
	    "  -n  check the configuration and exit\n"
	    "  -v  log debug messages\n"
	    "  --config-dir DIR  (default /etc/arc, or ARC_CONFIG_DIR)\n"
	    "  --state-dir DIR   (default /var/lib/arc, or ARC_STATE_DIR)\n"
	    "  --run-dir DIR     (default /run/arc, or ARC_RUN_DIR)\n",
	    progname);
	exit(2);
}

void
daemon_parse_args(int argc, char *argv[], const char *progname,
    struct daemon_opts *o)
{
	static const struct option longopts[] = {
		{ "config-dir", required_argument, NULL, 'C' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "run-dir", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*config_dir = NULL, *state_dir = NULL, *run_dir = NULL;
	int		 ch;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt_long(argc, argv, "dnv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': o->foreground = 1; break;
		case 'n': o->check = 1; break;
		case 'v': o->verbose = 1; break;
		case 'C': config_dir = optarg; break;
		case 'S': state_dir = optarg; break;
		case 'R': run_dir = optarg; break;
		default: daemon_usage(progname);
		}
	}
	if (optind != argc)
		daemon_usage(progname);
	o->config_dir = daemon_dir(config_dir, "ARC_CONFIG_DIR", ARC_DIR_CONFIG);
	o->state_dir = daemon_dir(state_dir, "ARC_STATE_DIR", ARC_DIR_STATE);
	o->run_dir = daemon_dir(run_dir, "ARC_RUN_DIR", DAEMON_RUN_DIR);
}

/* A run dir that root uses: a directory of root's that no other user may
 * write to (a sticky one aside), checked on its fd; -1 with err. */
static int
daemon_run_dir_check(int fd, const char *run_dir, char *err, size_t errlen)
{
	struct stat	st;

	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", run_dir, strerror(errno));
		return -1;
	}
	if (st.st_uid != 0) {
		snprintf(err, errlen, "%s: owned by uid %lu, not root: refused",
		    run_dir, (unsigned long)st.st_uid);
		return -1;
	}
	if ((st.st_mode & S_ISVTX) == 0 && ((st.st_mode & S_IWOTH) ||
	    ((st.st_mode & S_IWGRP) && st.st_gid != 0))) {
		snprintf(err, errlen, "%s: mode %04o, group %lu: writable by "
		    "another user and not sticky: refused", run_dir,
		    (unsigned int)(st.st_mode & 07777), (unsigned long)st.st_gid);
		return -1;
	}
	return 0;
}

/* Why root could not open the run dir (name in pfd): a symlink is named as
 * such. */
static void
daemon_run_dir_why(int pfd, const char *name, const char *run_dir, char *err,
    size_t errlen)
{
	struct stat	st;
	int		saved = errno;

	if ((saved == ELOOP || saved == ENOTDIR) &&
	    fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		snprintf(err, errlen, "%s: a symbolic link, not followed: "
		    "refused", run_dir);
	else if (saved == ENOTDIR)
		snprintf(err, errlen, "%s: not a directory: refused", run_dir);
	else
		snprintf(err, errlen, "%s: %s", run_dir, strerror(saved));
}

/* The run dir's parent, for root: every directory from / to it checked
 * (safedir_open_trusted), so that no other user can swap what the run
 * dir's path names; its last component in name.  The fd, or -1 with err. */
static int
daemon_run_dir_parent(const char *run_dir, char *name, size_t namelen,
    char *err, size_t errlen)
{
	char	 parent[PATH_MAX], why[PATH_MAX + 128], *slash;
	size_t	 len;
	int	 fd;

	len = strlen(run_dir);
	while (len > 1 && run_dir[len - 1] == '/')
		len--;
	if (len >= sizeof(parent)) {
		snprintf(err, errlen, "%s: %s", run_dir,
		    strerror(ENAMETOOLONG));
		return -1;
	}
	memcpy(parent, run_dir, len);
	parent[len] = '\0';
	if ((slash = strrchr(parent, '/')) == NULL) {
		snprintf(name, namelen, "%s", parent);
		snprintf(parent, sizeof(parent), ".");
	} else {
		snprintf(name, namelen, "%s", slash[1] != '\0' ? slash + 1 :
		    ".");
		if (slash == parent)
			slash++;
		*slash = '\0';
	}
	if ((fd = safedir_open_trusted(parent, why, sizeof(why))) == -1)
		snprintf(err, errlen, "%s: on its path %s", run_dir, why);
	return fd;
}

int
daemon_run_dir_open(const char *run_dir, char *err, size_t errlen)
{
	char	name[PATH_MAX];
	int	pfd, fd = -1, made = 0;

	if (geteuid() != 0) {
		if ((fd = open(run_dir, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) == -1)
			snprintf(err, errlen, "%s: %s", run_dir,
			    strerror(errno));
		return fd;
	}
	if ((pfd = daemon_run_dir_parent(run_dir, name, sizeof(name), err,
	    errlen)) == -1)
		return -1;
	if (mkdirat(pfd, name, 0755) == 0)
		made = 1;
	else if (errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", run_dir, strerror(errno));
		goto fail;
	}
	/* Its last component is never followed: a symlink is refused. */
	if ((fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		daemon_run_dir_why(pfd, name, run_dir, err, errlen);
		goto fail;
	}
	if (daemon_run_dir_check(fd, run_dir, err, errlen) == -1)
		goto fail;
	/* Made now: root's 0755 whatever the umask or a setgid parent. */
	if (made && (fchown(fd, 0, 0) == -1 || fchmod(fd, 0755) == -1)) {
		snprintf(err, errlen, "%s: owner or mode: %s", run_dir,
		    strerror(errno));
		goto fail;
	}
	close(pfd);
	return fd;
 fail:
	if (fd != -1)
		close(fd);
	close(pfd);
	return -1;
}

int
daemon_run_dir_make(const char *run_dir, char *err, size_t errlen)
{
	int	fd;

	if (geteuid() != 0)
		return 0;
	if ((fd = daemon_run_dir_open(run_dir, err, errlen)) == -1)
		return -1;
	close(fd);
	return 0;
}

int
daemon_pidfile_write(const char *run_dir, const char *progname, char *err,
    size_t errlen)
{
	struct stat	st;
	char		name[NAME_MAX + 1], pid[32], why[512];
	int		len, dfd, fd, rc = -1;

	snprintf(name, sizeof(name), "%s.pid", progname);
	len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if ((dfd = daemon_run_dir_open(run_dir, err, errlen)) == -1)
		return -1;
	/* Not root: a file of ours that tmpfiles.d made is rewritten in place,
	 * never through a symlink, a FIFO or a hard link. */
	if (geteuid() != 0 && (fd = openat(dfd, name, O_WRONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC)) != -1) {
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_nlink == 1 && st.st_uid == geteuid() &&
		    ftruncate(fd, 0) == 0 && write(fd, pid, (size_t)len) == len)
			rc = 0;
		else
			snprintf(why, sizeof(why), "%s: cannot rewrite it", name);
		close(fd);
	} else
		rc = atomicfile_writeat(dfd, name, pid, (size_t)len, 0644,
		    ATOMICFILE_KEEP_UID, ATOMICFILE_KEEP_GID, ATOMICFILE_NOSYNC,
		    why, sizeof(why));
	if (rc == -1)
		snprintf(err, errlen, "%s/%s", run_dir, why);
	close(dfd);
	return rc;
}

void
daemon_pidfile_remove(const char *run_dir, const char *progname)
{
	char	path[PATH_MAX];
	int	fd;

	snprintf(path, sizeof(path), "%s/%s.pid", run_dir, progname);
	if (unlink(path) == 0 || errno == ENOENT)
		return;
	/* A run dir we may not write to: empty our file instead. */
	if ((fd = open(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) != -1) {
		if (ftruncate(fd, 0) == -1) {
			/* nothing more to do: it names a dead process */
		}
		close(fd);
	}
}

long
daemon_pidfile_read(const char *run_dir, const char *progname)
{
	char	 path[PATH_MAX], err[256], *text, *end;
	long	 pid;
	int	 ok, dfd;

	if ((dfd = open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s.pid", progname);
	text = atomicfile_readat(dfd, path, 64, NULL, err, sizeof(err));
	close(dfd);
	if (text == NULL)
		return -1;
	pid = strtol(text, &end, 10);
	ok = pid > 0 && (*end == '\n' || *end == '\0');
	free(text);
	if (!ok)
		return -1;
	/* A stale file may name another program that reuses the pid. */
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if ((text = atomicfile_read(path, 64, NULL, err, sizeof(err))) == NULL)
		return -1;
	ok = strncmp(text, progname, strlen(progname)) == 0 &&
	    (text[strlen(progname)] == '\n' || text[strlen(progname)] == '\0');
	free(text);
	return ok ? pid : -1;
}
