/* guestconfig.c -- the machine configuration agentlet: flags, start-up, its directories, signals, the local controls and the notification hint. */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "agentconf.h"
#include "agentlet.h"
#include "guestconfig.h"
#include "httpc.h"
#include "log.h"
#include "machine.h"
#include "notifywatch.h"
#include "safedir.h"
#include "unpack.h"

#define GC_WAKE_GAP_MS	1000		/* notifications poll at most once a second */

/*
 * The local controls (agent.conf) win over the cloud: with
 * guestconfiguration.enabled = false or config.mode = monitor nothing is
 * evaluated nor changed, and every report says so.  A change makes every
 * assignment due now, so that the cloud hears of it.
 */
void
gc_local_controls(struct gc *gc)
{
	char			 was[sizeof(gc->disabled)];
	struct gc_assignment	*a;

	snprintf(was, sizeof(was), "%s", gc->disabled);
	if (!gc->agent.guestconfiguration_enabled)
		snprintf(gc->disabled, sizeof(gc->disabled), "disabled by local "
		    "configuration: guestconfiguration.enabled is false");
	else if (gc->agent.config_mode == AGENTCONF_MODE_MONITOR)
		snprintf(gc->disabled, sizeof(gc->disabled), "disabled by local "
		    "configuration: config.mode is monitor");
	else
		gc->disabled[0] = '\0';
	if (strcmp(was, gc->disabled) == 0)
		return;
	log_info("%s", gc->disabled[0] ? gc->disabled : "enabled by local "
	    "configuration");
	TAILQ_FOREACH(a, &gc->assignments, entry)
		a->due.tv_sec = 0;
	gc_eval_schedule(gc);
}

static int
gc_settings_read(const struct agentlet *al, void *s, char *err, size_t errlen)
{
	return gc_settings_load(al->config_dir, s, err, errlen);
}

static void
gc_settings_free(void *s)
{
	gc_settings_clear(s);
}

static void
gc_reloaded(void *arg, int ok)
{
	struct gc	*gc = arg;
	struct timeval	 tv = { 0, 0 };

	if (!ok)
		return;
	log_info("configuration reloaded from %s", gc->settings.path);
	gc_local_controls(gc);
	evtimer_add(gc->poll_timer, &tv);
}

/*
 * A write to <run>/notify/guestConfiguration is a hint to poll now; what
 * the file says is not trusted (nor read), and a flood of them polls at
 * most once a second (GC_WAKE_GAP_MS).
 */
static void
gc_on_notify(void *arg)
{
	struct gc	*gc = arg;
	struct timeval	 tv = { 0, 0 };
	long long	 ms;

	ms = notifywatch_wait_ms(&gc->poll_started, GC_WAKE_GAP_MS);
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	log_debug("notified: polling the assignments in %lld ms", ms);
	evtimer_add(gc->poll_timer, &tv);
}

static void
gc_on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct gc	*gc = arg;
	struct timeval	 tv;

	(void)fd;
	(void)what;
	if (notifywatch_arm(gc->notify) == 1)
		log_debug("watching %s for %s", notifywatch_path(gc->notify),
		    GC_NOTIFY_TOPIC);
	clock_gettime(CLOCK_MONOTONIC, &gc->poll_started);
	tv.tv_sec = gc->settings.poll_seconds;
	tv.tv_usec = 0;
	evtimer_add(gc->poll_timer, &tv);
	gc_assign_poll(gc);
}

static void
gc_on_eval(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	gc_eval_all_due(arg);
}

/*
 * <state>/guestconfig (root 0700) and what is in it, made before anything
 * is read from there; nothing is followed through a symlink.
 */
static void
gc_dirs(struct gc *gc)
{
	char	err[512];
	int	sfd;

	if ((sfd = safedir_open(gc->state_dir, err, sizeof(err))) == -1)
		fatalx("state dir: %s", err);
	if ((gc->own_fd = safedir_make(sfd, GC_OWN_DIR, 0700, SAFEDIR_KEEP_UID,
	    SAFEDIR_KEEP_GID, err, sizeof(err))) == -1)
		fatalx("%s/%s", gc->state_dir, err);
	close(sfd);
	if ((gc->pkg_fd = safedir_make(gc->own_fd, GC_PACKAGE_DIR, 0700,
	    SAFEDIR_KEEP_UID, SAFEDIR_KEEP_GID, err, sizeof(err))) == -1 ||
	    (gc->backup_fd = safedir_make(gc->own_fd, GC_BACKUP_DIR, 0700,
	    SAFEDIR_KEEP_UID, SAFEDIR_KEEP_GID, err, sizeof(err))) == -1 ||
	    (gc->log_fd = safedir_open_file(gc->own_fd, GC_CHANGE_LOG,
	    O_WRONLY | O_CREAT | O_APPEND, 0600, SAFEDIR_KEEP_UID,
	    SAFEDIR_KEEP_GID, err, sizeof(err))) == -1)
		fatalx("%s/%s/%s", gc->state_dir, GC_OWN_DIR, err);
	if (unpack_remove_stale(gc->pkg_fd, err, sizeof(err)) == -1)
		log_warnx("packages: %s", err);
}

/* In the loop: its timers, the notify watch, its directories. */
static void
gc_start(struct agentlet *al)
{
	struct gc	*gc = al->ctx;

	gc->base = al->base;
	gc->config_dir = al->config_dir;
	gc->state_dir = al->state_dir;
	gc->run_dir = al->run_dir;
	gc->poll_timer = evtimer_new(gc->base, gc_on_poll, gc);
	gc->eval_timer = evtimer_new(gc->base, gc_on_eval, gc);
	if (gc->poll_timer == NULL || gc->eval_timer == NULL)
		fatalx("cannot install signal handlers and timers");
	if ((gc->notify = notifywatch_new(gc->base, gc->run_dir,
	    GC_NOTIFY_TOPIC, gc_on_notify, gc)) == NULL)
		fatalx("cannot watch %s/" NOTIFYWATCH_DIR, gc->run_dir);
	if (!notifywatch_usable(gc->notify))
		log_warn("inotify: polling every %llds only",
		    gc->settings.poll_seconds);
	gc_dirs(gc);
	if ((gc->httpc = httpc_new(gc->base)) == NULL)
		fatalx("out of memory");
}

/* Privileges as they will stay: the kept assignments, then the first poll
 * ("gc_run: started" is what the tests wait for). */
static void
gc_run(void *arg)
{
	struct gc	*gc = arg;
	struct timeval	 tv = { 0, 0 };

	gc_assign_load(gc);
	gc_local_controls(gc);
	log_info("started, config %s%s, state %s/%s, %d assignment%s kept",
	    gc->settings.path, gc->settings.found ? "" : " (absent: the "
	    "defaults)", gc->state_dir, GC_OWN_DIR, gc->nassignments,
	    gc->nassignments == 1 ? "" : "s");
	evtimer_add(gc->poll_timer, &tv);
	gc_eval_schedule(gc);
}

static void
gc_stop(void *arg)
{
	struct gc	*gc = arg;

	httpc_free(gc->httpc);
	gc_package_stop(gc);
	gc_report_stop(gc);
	gc_assign_clear(gc);
	himds_machine_free(gc->machine);
	notifywatch_free(gc->notify);
	event_free(gc->poll_timer);
	event_free(gc->eval_timer);
	close(gc->log_fd);
	close(gc->backup_fd);
	close(gc->pkg_fd);
	close(gc->own_fd);
}

static const struct agentlet_ops gc_agentlet = {
	.name = "guestconfig",
	.flags = AGENTLET_CURL,
	AGENTLET_SETTINGS(struct gc, settings),
	.agent_offset = offsetof(struct gc, agent),
	.settings_load = gc_settings_read,
	.settings_clear = gc_settings_free,
	.reloaded = gc_reloaded,
	.start = gc_start,
	.started = gc_run,
	.stop = gc_stop,
};

int
main(int argc, char *argv[])
{
	struct gc	gc;

	memset(&gc, 0, sizeof(gc));
	TAILQ_INIT(&gc.assignments);
	gc.own_fd = gc.pkg_fd = gc.backup_fd = gc.log_fd = -1;
	return agentlet_main(argc, argv, &gc_agentlet, &gc);
}
