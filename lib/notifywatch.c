/* notifywatch.c -- the hints in <run>/notify: an inotify watch that calls back when one topic's file is written, and the gap that keeps a flood of hints to one piece of work a second. */
#include <sys/inotify.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "notifywatch.h"
#include "safedir.h"

struct notifywatch {
	struct event	*ev;
	int		 fd;		/* inotify, or -1 */
	int		 wd;		/* the watch on <run>/notify, or -1 */
	char		 run_dir[PATH_MAX];
	char		 path[PATH_MAX];	/* <run>/notify */
	char		 topic[NAME_MAX + 1];
	void		(*hinted)(void *);
	void		*arg;
};

static void
notifywatch_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct notifywatch		*w = arg;
	char				 buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event	*ev;
	ssize_t				 n;
	char				*p;
	int				 hint = 0;

	(void)what;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & (IN_IGNORED | IN_DELETE_SELF))
				w->wd = -1;
			else if (ev->len > 0 && strcmp(ev->name, w->topic) == 0)
				hint = 1;
		}
	if (hint)
		w->hinted(w->arg);
}

struct notifywatch *
notifywatch_new(struct event_base *base, const char *run_dir,
    const char *topic, void (*hinted)(void *), void *arg)
{
	struct notifywatch	*w;
	int			 saved;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->wd = -1;
	w->hinted = hinted;
	w->arg = arg;
	snprintf(w->run_dir, sizeof(w->run_dir), "%s", run_dir);
	snprintf(w->path, sizeof(w->path), "%s/" NOTIFYWATCH_DIR, run_dir);
	snprintf(w->topic, sizeof(w->topic), "%s", topic);
	if ((w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
		saved = errno;
		w->fd = -1;
		errno = saved;
		return w;
	}
	if ((w->ev = event_new(base, w->fd, EV_READ | EV_PERSIST,
	    notifywatch_on_read, w)) == NULL ||
	    event_add(w->ev, NULL) == -1) {
		notifywatch_free(w);
		return NULL;
	}
	return w;
}

int
notifywatch_usable(const struct notifywatch *w)
{
	return w->fd != -1;
}

/* <run>/notify, opened: for root through the run dir reached by
 * directories no other user can change (safedir_open_trusted), and never
 * through a symlink; -1 when it is not there or not so. */
static int
notifywatch_open(const struct notifywatch *w)
{
	char	err[PATH_MAX + 128];
	int	rfd, fd;

	if (geteuid() == 0)
		rfd = safedir_open_trusted(w->run_dir, err, sizeof(err));
	else
		rfd = open(w->run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd == -1)
		return -1;
	fd = openat(rfd, NOTIFYWATCH_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	close(rfd);
	return fd;
}

int
notifywatch_arm(struct notifywatch *w)
{
	char	fdpath[64];
	int	dfd;

	if (w->wd != -1)
		return 0;
	if (w->fd == -1)
		return -1;
	if ((dfd = notifywatch_open(w)) == -1)
		return -1;
	/* The directory just opened, not its path again: /proc's link to
	 * the fd is followed to the very directory that was checked. */
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", dfd);
	w->wd = inotify_add_watch(w->fd, fdpath, IN_CLOSE_WRITE | IN_MOVED_TO |
	    IN_CREATE | IN_ONLYDIR);
	close(dfd);
	return w->wd == -1 ? -1 : 1;
}

const char *
notifywatch_path(const struct notifywatch *w)
{
	return w->path;
}

void
notifywatch_close_fd(struct notifywatch *w)
{
	if (w != NULL && w->fd != -1) {
		close(w->fd);
		w->fd = -1;
	}
}

void
notifywatch_free(struct notifywatch *w)
{
	if (w == NULL)
		return;
	if (w->ev != NULL)
		event_free(w->ev);
	if (w->fd != -1)
		close(w->fd);
	free(w);
}

long long
notifywatch_wait_ms(const struct timespec *last_start, long long gap_ms)
{
	struct timespec	now;
	long long	ms;

	if (last_start->tv_sec == 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - last_start->tv_sec) * 1000LL +
	    (now.tv_nsec - last_start->tv_nsec) / 1000000L;
	return ms >= 0 && ms < gap_ms ? gap_ms - ms : 0;
}
