/* notifywatch.h -- the hints in <run>/notify (arcnotify writes <topic> there when the cloud has news): an inotify watch that calls back when one topic's file is written, and the gap that keeps a flood of hints to one piece of work a second. */
#ifndef NOTIFYWATCH_H
#define NOTIFYWATCH_H

#include <time.h>

#define NOTIFYWATCH_DIR	"notify"	/* <run>/notify, arcnotify's */

struct event_base;
struct notifywatch;

/*
 * Watches for <run_dir>/notify/<topic> (its content is never read), and
 * calls hinted(arg) after each batch of events that names it.  NULL when
 * out of memory.  Without inotify the watch never fires and
 * notifywatch_usable() is 0, with errno from inotify_init1() kept.
 */
struct notifywatch *notifywatch_new(struct event_base *, const char *run_dir,
	    const char *topic, void (*hinted)(void *), void *arg);
int	notifywatch_usable(const struct notifywatch *);
/* Starts watching <run>/notify once it is there, tried again at each call
 * until it is: 1 when watched from now on, 0 when it already was, -1 when
 * not (not there yet, or no inotify; for root, also a run dir whose path
 * another user could change, as daemon_run_dir_open() refuses, or a
 * symlink in notify's place).  It is opened through the run dir's fd and
 * the watch put on that open directory, never on its path again. */
int	notifywatch_arm(struct notifywatch *);
const char *notifywatch_path(const struct notifywatch *); /* <run>/notify */
/* In a forked child: the inotify fd closed, nothing freed. */
void	notifywatch_close_fd(struct notifywatch *);
void	notifywatch_free(struct notifywatch *);

/* How long a hint waits so that work starts at most once per gap_ms after
 * the last start (CLOCK_MONOTONIC; zero: never started): 0, or the ms. */
long long notifywatch_wait_ms(const struct timespec *last_start,
	    long long gap_ms);

#endif
