/* guestconfig.c -- the machine configuration agentlet: flags, start-up, its directories, signals, the local controls and the notification hint. */
#include <sys/inotify.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "agentconf.h"
#include "daemon.h"
#include "guestconfig.h"
#include "httpc.h"
#include "log.h"
#include "machine.h"
#include "safedir.h"
#include "unpack.h"

#define GC_NOTIFY_DIR	"notify"	/* <run>/notify, the notification agentlet's */
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
gc_load_config(struct gc *gc, struct gc_settings *s, struct agentconf *ac,
    char *err, size_t errlen)
{
	if (gc_settings_load(gc->config_dir, s, err, errlen) == -1)
		return -1;
	if (agentconf_load(gc->config_dir, ac, err, errlen) == -1) {
		gc_settings_clear(s);
		return -1;
	}
	return 0;
}

static void
gc_reload(struct gc *gc)
{
	struct gc_settings	s;
	struct agentconf	ac;
	struct timeval		tv = { 0, 0 };
	char			err[512];

	if (gc_load_config(gc, &s, &ac, err, sizeof(err)) == -1) {
		log_warnx("reload refused, keeping the running configuration: %s",
		    err);
		return;
	}
	gc_settings_clear(&gc->settings);
	gc->settings = s;
	agentconf_clear(&gc->agent);
	gc->agent = ac;
	log_info("configuration reloaded from %s", gc->settings.path);
	gc_local_controls(gc);
	evtimer_add(gc->poll_timer, &tv);
}

static void
gc_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct gc	*gc = arg;

	(void)what;
	if (sig == SIGHUP) {
		gc_reload(gc);
		return;
	}
	log_info("%s: stopping", strsignal(sig));
	event_base_loopexit(gc->base, NULL);
}

/* Starts watching <run>/notify when it is there; 0 when watched. */
static int
gc_notify_watch(struct gc *gc)
{
	char	path[PATH_MAX];

	if (gc->notify_wd != -1)
		return 0;
	if (gc->notify_fd == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/" GC_NOTIFY_DIR, gc->run_dir);
	if ((gc->notify_wd = inotify_add_watch(gc->notify_fd, path,
	    IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ONLYDIR |
	    IN_DONT_FOLLOW)) == -1)
		return -1;
	log_debug("watching %s for %s", path, GC_NOTIFY_TOPIC);
	return 0;
}

/*
 * Something happened under <run>/notify.  A write to guestConfiguration is
 * a hint to poll now; what the file says is not trusted (nor read), and a
 * flood of them polls at most once a second (GC_WAKE_GAP_MS).
 */
static void
gc_on_notify(evutil_socket_t fd, short what, void *arg)
{
	struct gc			*gc = arg;
	char				 buf[4096]
					    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event	*ev;
	struct timeval			 tv = { 0, 0 };
	struct timespec			 now;
	long long			 ms;
	ssize_t				 n;
	char				*p;
	int				 hint = 0;

	(void)what;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_IGNORED)
				gc->notify_wd = -1;
			else if (ev->len > 0 && strcmp(ev->name,
			    GC_NOTIFY_TOPIC) == 0)
				hint = 1;
		}
	if (hint) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (now.tv_sec - gc->poll_started.tv_sec) * 1000LL +
		    (now.tv_nsec - gc->poll_started.tv_nsec) / 1000000L;
		if (gc->poll_started.tv_sec != 0 && ms >= 0 &&
		    ms < GC_WAKE_GAP_MS) {
			ms = GC_WAKE_GAP_MS - ms;
			tv.tv_sec = (time_t)(ms / 1000);
			tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
		}
		log_debug("notified: polling the assignments in %lld ms",
		    (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000);
		evtimer_add(gc->poll_timer, &tv);
	}
}

static void
gc_on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct gc	*gc = arg;
	struct timeval	 tv;

	(void)fd;
	(void)what;
	gc_notify_watch(gc);
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

static void
gc_events(struct gc *gc)
{
	gc->sig_hup = evsignal_new(gc->base, SIGHUP, gc_on_signal, gc);
	gc->sig_term = evsignal_new(gc->base, SIGTERM, gc_on_signal, gc);
	gc->sig_int = evsignal_new(gc->base, SIGINT, gc_on_signal, gc);
	gc->poll_timer = evtimer_new(gc->base, gc_on_poll, gc);
	gc->eval_timer = evtimer_new(gc->base, gc_on_eval, gc);
	if (gc->sig_hup == NULL || gc->sig_term == NULL || gc->sig_int == NULL ||
	    gc->poll_timer == NULL || gc->eval_timer == NULL ||
	    evsignal_add(gc->sig_hup, NULL) == -1 ||
	    evsignal_add(gc->sig_term, NULL) == -1 ||
	    evsignal_add(gc->sig_int, NULL) == -1)
		fatalx("cannot install signal handlers and timers");
	gc->notify_wd = -1;
	if ((gc->notify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		log_warn("inotify: polling every %llds only",
		    gc->settings.poll_seconds);
	else if ((gc->notify_ev = event_new(gc->base, gc->notify_fd,
	    EV_READ | EV_PERSIST, gc_on_notify, gc)) == NULL ||
	    event_add(gc->notify_ev, NULL) == -1)
		fatalx("cannot watch %s/" GC_NOTIFY_DIR, gc->run_dir);
}

/* From the loop's start to SIGTERM; fatal only while starting. */
static void
gc_run(struct gc *gc, int foreground)
{
	struct timeval	tv = { 0, 0 };
	char		err[512];

	if (!foreground && daemon(0, 0) == -1)
		fatal("daemon");
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("cannot initialise libcurl");
	if ((gc->base = event_base_new()) == NULL)
		fatalx("cannot create an event loop");
	gc_events(gc);
	gc_dirs(gc);
	if ((gc->httpc = httpc_new(gc->base)) == NULL)
		fatalx("out of memory");
	if (daemon_pidfile_write(gc->run_dir, "guestconfig", err,
	    sizeof(err)) == -1)
		log_warnx("pid file: %s", err);
	gc_assign_load(gc);
	gc_local_controls(gc);
	log_info("started, config %s%s, state %s/%s, %d assignment%s kept",
	    gc->settings.path, gc->settings.found ? "" : " (absent: the "
	    "defaults)", gc->state_dir, GC_OWN_DIR, gc->nassignments,
	    gc->nassignments == 1 ? "" : "s");
	evtimer_add(gc->poll_timer, &tv);
	gc_eval_schedule(gc);
	event_base_dispatch(gc->base);

	httpc_free(gc->httpc);
	gc_package_stop(gc);
	gc_report_stop(gc);
	gc_assign_clear(gc);
	himds_machine_free(gc->machine);
	if (gc->notify_ev != NULL)
		event_free(gc->notify_ev);
	if (gc->notify_fd != -1)
		close(gc->notify_fd);
	event_free(gc->poll_timer);
	event_free(gc->eval_timer);
	event_free(gc->sig_hup);
	event_free(gc->sig_term);
	event_free(gc->sig_int);
	event_base_free(gc->base);
	curl_global_cleanup();
	close(gc->log_fd);
	close(gc->backup_fd);
	close(gc->pkg_fd);
	close(gc->own_fd);
	daemon_pidfile_remove(gc->run_dir, "guestconfig");
	log_info("stopped");
}

int
main(int argc, char *argv[])
{
	struct gc		 gc;
	struct daemon_opts	 o;
	char			 err[512], *config_dir = NULL, *state_dir = NULL;
	char			*run_dir = NULL;
	int			 rc = 1;

	daemon_parse_args(argc, argv, "guestconfig", &o);
	memset(&gc, 0, sizeof(gc));
	TAILQ_INIT(&gc.assignments);
	gc.own_fd = gc.pkg_fd = gc.backup_fd = gc.log_fd = gc.notify_fd = -1;
	if (!o.check && daemon_run_dir_make(o.run_dir, err, sizeof(err)) == -1) {
		fprintf(stderr, "guestconfig: %s\n", err);
		goto fail;
	}
	/* Absolute: daemon() moves to /.  -n needs no state nor run dir. */
	if ((config_dir = realpath(o.config_dir, NULL)) == NULL ||
	    ((state_dir = realpath(o.state_dir, NULL)) == NULL &&
	    (!o.check || (state_dir = strdup(o.state_dir)) == NULL)) ||
	    ((run_dir = realpath(o.run_dir, NULL)) == NULL &&
	    (!o.check || (run_dir = strdup(o.run_dir)) == NULL))) {
		fprintf(stderr, "guestconfig: %s: %s\n", config_dir == NULL ?
		    o.config_dir : state_dir == NULL ? o.state_dir : o.run_dir,
		    strerror(errno));
		goto fail;
	}
	gc.config_dir = config_dir;
	gc.state_dir = state_dir;
	gc.run_dir = run_dir;
	log_init("guestconfig", o.foreground || o.check, o.verbose ?
	    LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	if (gc_load_config(&gc, &gc.settings, &gc.agent, err, sizeof(err)) == -1) {
		fprintf(stderr, "guestconfig: %s\n", err);
		goto fail;
	}
	if (o.check)
		printf("guestconfig: %s: configuration OK%s\n", gc.settings.path,
		    gc.settings.found ? "" : " (no file: the defaults)");
	else
		gc_run(&gc, o.foreground);
	rc = 0;
 fail:
	gc_settings_clear(&gc.settings);
	agentconf_clear(&gc.agent);
	free(config_dir);
	free(state_dir);
	free(run_dir);
	return rc;
}
