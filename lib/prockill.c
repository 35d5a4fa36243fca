/* prockill.c -- what a child started killed whole at its time limit: its process group, its session, and every process carrying its environment mark (a daemon that called setsid still has it). */
#include <sys/random.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prockill.h"

#define PROCKILL_ROUNDS	20	/* /proc sweeps at most */

int
prockill_mark(const char *name, char *buf, size_t len)
{
	unsigned char	 r[16];
	size_t		 i, off;

	if (strlen(name) + 2 + 2 * sizeof(r) > len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -1;
	off = (size_t)snprintf(buf, len, "%s=", name);
	for (i = 0; i < sizeof(r); i++)
		off += (size_t)snprintf(buf + off, len - off, "%02x", r[i]);
	return 0;
}

/* What follows "(comm)" in /proc/<pid>/stat, into buf; NULL if gone.  comm
 * may hold anything, ')' too: the fields start after the last one. */
static const char *
prockill_stat(pid_t pid, char *buf, size_t len)
{
	char		 path[64], *p;
	ssize_t		 n;
	int		 fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return NULL;
	return p + 1;
}

/* pid's process group and session; -1 if gone. */
static int
prockill_ids(pid_t pid, pid_t *pgrp, pid_t *sid)
{
	char		 buf[1024];
	const char	*f;
	long		 g, s;

	/* "state ppid pgrp session" */
	if ((f = prockill_stat(pid, buf, sizeof(buf))) == NULL ||
	    sscanf(f, " %*c %*d %ld %ld", &g, &s) != 2)
		return -1;
	*pgrp = (pid_t)g;
	*sid = (pid_t)s;
	return 0;
}

int
prockill_starttime(pid_t pid, unsigned long long *start)
{
	char			 buf[1024];
	const char		*f;
	unsigned long long	 t;

	/* Field 22 (starttime); the 19 after "(comm)" are skipped. */
	if ((f = prockill_stat(pid, buf, sizeof(buf))) == NULL || sscanf(f,
	    " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
	    "%*d %*d %*d %*d %llu", &t) != 1)
		return -1;
	*start = t;
	return 0;
}

/* Whether pid's environment holds mark, as one whole variable. */
static int
prockill_marked(pid_t pid, const char *mark)
{
	char		 path[64], buf[65536];
	size_t		 have = 0, mlen = strlen(mark), i;
	ssize_t		 n;
	int		 fd;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	while (have < sizeof(buf) - 1 && (n = read(fd, buf + have,
	    sizeof(buf) - 1 - have)) > 0)
		have += (size_t)n;
	close(fd);
	buf[have] = '\0';
	for (i = 0; i + mlen <= have; i += strlen(buf + i) + 1)
		if (memcmp(buf + i, mark, mlen) == 0 && buf[i + mlen] == '\0')
			return 1;
	return 0;
}

/* The sweep of prockill_run; leader 0: by the mark only. */
static void
prockill_sweep(pid_t leader, const char *mark)
{
	DIR		*d;
	struct dirent	*de;
	pid_t		 pid, self = getpid(), pgrp, sid;
	char		*end;
	long		 v;
	int		 round, found;

	for (round = 0; round < PROCKILL_ROUNDS; round++) {
		if ((d = opendir("/proc")) == NULL)
			return;
		found = 0;
		while ((de = readdir(d)) != NULL) {
			errno = 0;
			v = strtol(de->d_name, &end, 10);
			if (*end != '\0' || v <= 1 || errno != 0)
				continue;
			pid = (pid_t)v;
			if (pid == self || pid == leader ||
			    prockill_ids(pid, &pgrp, &sid) == -1)
				continue;
			if ((leader > 0 && (pgrp == leader || sid == leader)) ||
			    (mark != NULL && prockill_marked(pid, mark))) {
				if (kill(pid, SIGKILL) == 0)
					found++;
			}
		}
		closedir(d);
		if (found == 0)
			return;
	}
}

void
prockill_run(pid_t leader, const char *mark)
{
	if (leader <= 1)
		return;		/* kill(-0) and kill(-1) are not a group */
	if (kill(-leader, SIGKILL) == -1)
		kill(leader, SIGKILL);	/* before its setsid() or setpgid() */
	prockill_sweep(leader, mark);
}

int
prockill_leftover(pid_t leader, unsigned long long start, const char *mark)
{
	unsigned long long	 now;
	pid_t			 pgrp, sid;

	if (leader > 1 && prockill_starttime(leader, &now) == 0 &&
	    now == start && prockill_ids(leader, &pgrp, &sid) == 0 &&
	    pgrp == leader) {
		prockill_run(leader, mark);
		return 1;
	}
	/* The leader is gone, or its pid is another process's now: only
	 * the mark tells the run's processes (its group's id may be reused). */
	if (mark != NULL && mark[0] != '\0')
		prockill_sweep(0, mark);
	return 0;
}
