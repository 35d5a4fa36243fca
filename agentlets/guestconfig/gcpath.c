/* gcpath.c -- guestconfig's safe paths (openat from / with O_NOFOLLOW, root's symlinks only) and argv run without a shell under a time limit. */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "prockill.h"
#include "resources.h"
#include "safedir.h"

#define GC_MAX_SYMLINKS	40

/* The next component of *p (skipping slashes) into comp; 0 at the end. */
static int
next_component(const char **p, char *comp, size_t len)
{
	const char	*s = *p, *e;

	while (*s == '/')
		s++;
	if (*s == '\0')
		return 0;
	for (e = s; *e != '\0' && *e != '/'; e++)
		;
	if ((size_t)(e - s) >= len)
		return -1;
	memcpy(comp, s, e - s);
	comp[e - s] = '\0';
	*p = e;
	return 1;
}

static int
open_root(char *err, size_t errlen)
{
	int	 fd;

	if ((fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		snprintf(err, errlen, "/: %s", strerror(errno));
	return fd;
}

int
gc_path_open(const char *path, int follow_last, int *dirfdp, char *name,
    size_t namelen, struct stat *st, char *err, size_t errlen)
{
	char		 rest[PATH_MAX * 2], comp[NAME_MAX + 1], link[PATH_MAX];
	char		 tmp[PATH_MAX * 2], why[160];
	const char	*p, *last;
	struct stat	 lst;
	ssize_t		 n;
	int		 dirfd, fd, r, links = 0, saved;

	*dirfdp = -1;
	if (path[0] != '/' || strlen(path) >= PATH_MAX) {
		snprintf(err, errlen, "%s: not an absolute path", path);
		errno = EINVAL;
		return -1;
	}
	if ((dirfd = open_root(err, errlen)) == -1)
		return -1;
	snprintf(rest, sizeof(rest), "%s", path);
	p = rest;
	for (;;) {
		if ((r = next_component(&p, comp, sizeof(comp))) == -1) {
			snprintf(err, errlen, "%s: component too long", path);
			errno = ENAMETOOLONG;
			goto fail;
		}
		if (r == 0) {
			/* "/" itself, or a path ending in "/.." */
			snprintf(err, errlen, "%s: names no file", path);
			errno = EINVAL;
			goto fail;
		}
		if (fstatat(dirfd, comp, &lst, AT_SYMLINK_NOFOLLOW) == -1) {
			if (errno != ENOENT) {
				snprintf(err, errlen, "%s: %s: %s", path, comp,
				    strerror(errno));
				goto fail;
			}
			memset(&lst, 0, sizeof(lst));
		}
		for (last = p; *last == '/'; last++)
			;
		/* "absent" looks at the link itself, whoever owns it */
		if (S_ISLNK(lst.st_mode) && !follow_last && *last == '\0')
			break;
		if (S_ISLNK(lst.st_mode)) {
			if (lst.st_uid != 0) {
				snprintf(err, errlen, "%s: %s is a symlink owned "
				    "by uid %ld, not followed", path, comp,
				    (long)lst.st_uid);
				errno = ELOOP;
				goto fail;
			}
			/* Root's link is root's choice only where no one
			 * else can swap it for another between the check and
			 * the readlink, or move one of root's in. */
			if (safedir_trusted(dirfd, why, sizeof(why)) == -1) {
				snprintf(err, errlen, "%s: %s is a symlink in a "
				    "directory another user can change (%s), not "
				    "followed", path, comp, why);
				errno = ELOOP;
				goto fail;
			}
			if (++links > GC_MAX_SYMLINKS) {
				snprintf(err, errlen, "%s: too many symlinks",
				    path);
				errno = ELOOP;
				goto fail;
			}
			n = readlinkat(dirfd, comp, link, sizeof(link) - 1);
			if (n <= 0) {
				snprintf(err, errlen, "%s: %s: %s", path, comp,
				    n == 0 ? "empty symlink" : strerror(errno));
				goto fail;
			}
			link[n] = '\0';
			if ((size_t)snprintf(tmp, sizeof(tmp), "%s/%s", link,
			    p) >= sizeof(tmp)) {
				snprintf(err, errlen, "%s: too long", path);
				errno = ENAMETOOLONG;
				goto fail;
			}
			memcpy(rest, tmp, sizeof(rest));
			p = rest;
			if (link[0] == '/') {
				close(dirfd);
				if ((dirfd = open_root(err, errlen)) == -1)
					return -1;
			}
			continue;
		}
		/* The last component (a symlink to "dir/" included). */
		while (*p == '/')
			p++;
		if (*p == '\0' && strcmp(comp, ".") != 0 &&
		    strcmp(comp, "..") != 0)
			break;
		if (lst.st_mode == 0) {
			snprintf(err, errlen, "%s: %s does not exist", path,
			    comp);
			errno = ENOENT;
			goto fail;
		}
		fd = openat(dirfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (fd == -1) {
			snprintf(err, errlen, "%s: %s: %s", path, comp,
			    strerror(errno));
			goto fail;
		}
		close(dirfd);
		dirfd = fd;
	}
	if (strlen(comp) >= namelen) {
		snprintf(err, errlen, "%s: name too long", path);
		errno = ENAMETOOLONG;
		goto fail;
	}
	memcpy(name, comp, strlen(comp) + 1);
	*st = lst;
	*dirfdp = dirfd;
	return 0;
fail:
	saved = errno;
	close(dirfd);
	errno = saved;
	return -1;
}

int
gc_file_open_read(const char *path, struct stat *st, char *err, size_t errlen)
{
	char	 name[NAME_MAX + 1];
	int	 dirfd, fd, saved;

	if (gc_path_open(path, 1, &dirfd, name, sizeof(name), st, err,
	    errlen) == -1)
		return -1;
	if (st->st_mode == 0) {
		close(dirfd);
		snprintf(err, errlen, "%s does not exist", path);
		errno = ENOENT;
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		close(dirfd);
		snprintf(err, errlen, "%s is not a regular file", path);
		errno = EINVAL;
		return -1;
	}
	/* O_NOATIME: an audit leaves even the access times alone. */
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK | O_NOATIME);
	if (fd == -1 && errno == EPERM)
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
		    O_NOCTTY | O_NONBLOCK);
	saved = errno;
	close(dirfd);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	if (fstat(fd, st) == -1 || !S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

char *
gc_fd_read(int fd, size_t max, size_t *lenp, char *err, size_t errlen)
{
	char	*buf = NULL, *nb;
	size_t	 len = 0, cap = 0;
	ssize_t	 n;

	for (;;) {
		if (cap - len < 4096) {
			if (cap > max) {
				snprintf(err, errlen, "larger than %zu bytes",
				    max);
				goto fail;
			}
			cap = cap ? cap * 2 : 8192;
			if ((nb = realloc(buf, cap + 1)) == NULL) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "read: %s", strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += n;
	}
	if (len > max) {
		snprintf(err, errlen, "larger than %zu bytes", max);
		goto fail;
	}
	buf[len] = '\0';
	*lenp = len;
	return buf;
fail:
	free(buf);
	return NULL;
}

static long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
gc_exec(char *const argv[], int timeout_ms, int into_output, char **outp,
    size_t max, int *status, int *timedout, char *err, size_t errlen)
{
	char				 mark[PROCKILL_MARK_MAX];
	char				*envp[] = {
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LC_ALL=C", mark, NULL
	};
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 attr;
	struct pollfd			 pfd;
	char				*out = NULL, drain[4096];
	char				 prog[PATH_MAX], why[PATH_MAX + 160];
	size_t				 len = 0;
	long long			 deadline;
	ssize_t				 n;
	pid_t				 pid;
	int				 pipefd[2], r, open_ = 1, w;

	*timedout = 0;
	*status = 0;
	*outp = NULL;
	/* Root runs only what root alone can change, by a path no one else
	 * can redirect: the file root's, every directory to it root's. */
	if (geteuid() == 0 && safedir_trusted_file(argv[0], prog, sizeof(prog),
	    why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: not run: %s", argv[0], why);
		return -1;
	}
	if (geteuid() != 0)
		snprintf(prog, sizeof(prog), "%s", argv[0]);
	/* Marks what it starts, for the time limit to find it all. */
	if (prockill_mark("ARC_GC_RUN", mark, sizeof(mark)) == -1) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return -1;
	}
	if (pipe2(pipefd, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((out = malloc(max + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	if (into_output)
		posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	else
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null",
		    O_WRONLY, 0);
	/* nothing of the daemon's (sockets, state files) reaches a policy's
	 * command: every fd above 2 is closed, once 1 is the pipe */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&attr);
	/* Its own process group, so that a timeout kills its children too;
	 * default signal dispositions and an empty mask whatever ours are. */
	posix_spawnattr_setpgroup(&attr, 0);
	{
		sigset_t	 all, none;

		sigfillset(&all);
		sigemptyset(&none);
		posix_spawnattr_setsigdefault(&attr, &all);
		posix_spawnattr_setsigmask(&attr, &none);
	}
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	r = posix_spawn(&pid, prog, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pipefd[1]);
	if (r != 0) {
		snprintf(err, errlen, "%s: %s", argv[0], strerror(r));
		close(pipefd[0]);
		free(out);
		return -1;
	}
	deadline = now_ms() + timeout_ms;
	while (open_) {
		long long	 left = deadline - now_ms();

		if (left <= 0) {
			*timedout = 1;
			prockill_run(pid, mark);
			break;
		}
		pfd.fd = pipefd[0];
		pfd.events = POLLIN;
		r = poll(&pfd, 1, left > 1000 ? 1000 : (int)left);
		if (r == -1 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		if (len < max)
			n = read(pipefd[0], out + len, max - len);
		else
			n = read(pipefd[0], drain, sizeof(drain));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			open_ = 0;
		else if (len < max)
			len += n;
	}
	close(pipefd[0]);
	/* The output is closed (or the time is up): wait for the exit, and
	 * kill it if it lingers past the limit with its stdout closed. */
	for (;;) {
		w = waitpid(pid, status, WNOHANG);
		if (w == pid)
			break;
		if (w == -1 && errno != EINTR) {
			snprintf(err, errlen, "waitpid: %s", strerror(errno));
			free(out);
			return -1;
		}
		if (now_ms() >= deadline && !*timedout) {
			*timedout = 1;
			prockill_run(pid, mark);
		}
		if (*timedout) {
			if (waitpid(pid, status, 0) == pid)
				break;
			continue;
		}
		usleep(2000);
	}
	out[len] = '\0';
	*outp = out;
	return 0;
}
