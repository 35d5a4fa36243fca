/* extmgr.c -- the extension manager agentlet: flags, signals, the poll timer and the notify wake-up; each reconcile pass runs in a child so that the daemon stays idle and responsive. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "agentlet.h"
#include "log.h"
#include "notifywatch.h"
#include "settings.h"
#include "worker.h"

#define EXTMGR_NOTIFY_TOPIC	"extensions"
#define EXTMGR_RETRY_SECONDS	5	/* after a pass that found no cloud */
#define EXTMGR_WAKE_GAP_MS	1000	/* wake-ups start at most a pass a second */

struct extmgr {
	const char		*config_dir;
	const char		*state_dir;
	const char		*run_dir;
	struct extmgr_settings	 settings;
	struct event_base	*base;
	struct event		*sig_chld;
	struct event		*timer;
	struct notifywatch	*notify;	/* <run>/notify/extensions */
	pid_t			 worker;	/* the pass under way, or 0 */
	int			 again;		/* a wake-up came during it */
	struct timespec		 last_start;	/* of the last pass, CLOCK_MONOTONIC */
};

static void	extmgr_start_pass(struct extmgr *);
static void	extmgr_wake(struct extmgr *);

static void
extmgr_schedule(struct extmgr *x, long long seconds)
{
	struct timeval	tv = { (time_t)seconds, 0 };

	evtimer_add(x->timer, &tv);
}

/* Watches <run>/notify when it is there (the notification agentlet makes
 * it); tried again at every pass until it is. */
static void
extmgr_watch_notify(struct extmgr *x)
{
	if (notifywatch_arm(x->notify) == 1)
		log_info("watching %s for wake-ups", notifywatch_path(x->notify));
}

/* A write to <run>/notify/extensions is a hint to poll now. */
static void
extmgr_on_notify(void *arg)
{
	struct extmgr	*x = arg;

	log_debug("woken by %s/" EXTMGR_NOTIFY_TOPIC,
	    notifywatch_path(x->notify));
	extmgr_wake(x);
}

/*
 * A hint to pass now, from a file another user writes: at most one pass a
 * second however many come (the rest fold into the next one), so that a
 * flood costs a pass a second, not a pass per write.
 */
static void
extmgr_wake(struct extmgr *x)
{
	struct timeval	tv;
	long long	ms;

	if (x->worker != 0) {
		x->again = 1;
		return;
	}
	if ((ms = notifywatch_wait_ms(&x->last_start,
	    EXTMGR_WAKE_GAP_MS)) > 0) {
		tv.tv_sec = (time_t)(ms / 1000);
		tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
		evtimer_add(x->timer, &tv);	/* sooner than the poll */
		return;
	}
	extmgr_start_pass(x);
}

static void
extmgr_on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	extmgr_start_pass(arg);
}

static void
extmgr_start_pass(struct extmgr *x)
{
	pid_t	pid, ppid = getpid();
	int	rc;

	if (x->worker != 0) {
		x->again = 1;
		return;
	}
	extmgr_watch_notify(x);
	evtimer_del(x->timer);
	if ((pid = fork()) == -1) {
		log_warn("fork");
		extmgr_schedule(x, EXTMGR_RETRY_SECONDS);
		return;
	}
	if (pid == 0) {
		/* extmgr killed (even with SIGKILL) takes its pass with it; a
		 * handler runs on in its own group and is run again. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != ppid)
			_exit(WORKER_EXIT_FAIL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		notifywatch_close_fd(x->notify);
		rc = worker_run(x->config_dir, x->state_dir, &x->settings);
		_exit(rc);
	}
	x->worker = pid;
	x->again = 0;
	clock_gettime(CLOCK_MONOTONIC, &x->last_start);
}

static void
extmgr_reaped(struct extmgr *x, int status)
{
	long long	next = x->settings.poll_seconds;

	x->worker = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_UNREACHABLE) {
		log_info("the cloud did not answer: trying again in %d s",
		    EXTMGR_RETRY_SECONDS);
		if (next > EXTMGR_RETRY_SECONDS)
			next = EXTMGR_RETRY_SECONDS;
	} else if (WIFSIGNALED(status))
		log_warnx("the reconcile pass died of signal %d",
		    WTERMSIG(status));
	extmgr_schedule(x, next);
	if (x->again) {
		x->again = 0;
		extmgr_wake(x);
	}
}

static int
extmgr_settings_read(const struct agentlet *al, void *s, char *err,
    size_t errlen)
{
	return extmgr_settings_load(al->config_dir, s, err, errlen);
}

static void
extmgr_settings_free(void *s)
{
	extmgr_settings_clear(s);
}

/* A pass under way keeps the settings it forked with; a new one starts
 * now, even when the new reading was refused. */
static void
extmgr_reloaded(void *arg, int ok)
{
	struct extmgr	*x = arg;

	if (ok)
		log_info("configuration reloaded from %s", x->settings.path);
	extmgr_start_pass(x);
}

/* Only our pass: handler.c watches its own children. */
static void
extmgr_on_chld(evutil_socket_t sig, short what, void *arg)
{
	struct extmgr	*x = arg;
	int		 status;

	(void)sig;
	(void)what;
	if (x->worker != 0 && waitpid(x->worker, &status, WNOHANG) ==
	    x->worker)
		extmgr_reaped(x, status);
}

/* SIGTERM: the pass under way ends with the daemon. */
static void
extmgr_stopping(void *arg)
{
	struct extmgr	*x = arg;
	int		 status;

	if (x->worker != 0) {
		kill(x->worker, SIGTERM);
		while (waitpid(x->worker, &status, 0) == -1 && errno == EINTR)
			;
		x->worker = 0;
	}
}

static void
extmgr_start(struct agentlet *al)
{
	struct extmgr	*x = al->ctx;

	x->base = al->base;
	x->config_dir = al->config_dir;
	x->state_dir = al->state_dir;
	x->run_dir = al->run_dir;
	umask(0022);
	x->sig_chld = evsignal_new(x->base, SIGCHLD, extmgr_on_chld, x);
	x->timer = evtimer_new(x->base, extmgr_on_timer, x);
	if (x->sig_chld == NULL || x->timer == NULL ||
	    evsignal_add(x->sig_chld, NULL) == -1)
		fatalx("cannot install signal handlers");
	if ((x->notify = notifywatch_new(x->base, x->run_dir,
	    EXTMGR_NOTIFY_TOPIC, extmgr_on_notify, x)) == NULL)
		fatalx("cannot watch the notify dir");
	if (!notifywatch_usable(x->notify))
		log_warn("inotify: polling only");
}

static void
extmgr_started(void *arg)
{
	struct extmgr	*x = arg;

	log_info("started, config %s%s, state %s/" EXTMGR_DIR ", every %lld s",
	    x->settings.path, x->settings.found ? "" : " (absent: the defaults)",
	    x->state_dir, x->settings.poll_seconds);
	extmgr_start_pass(x);
}

static void
extmgr_stop(void *arg)
{
	struct extmgr	*x = arg;

	event_free(x->sig_chld);
	event_free(x->timer);
	notifywatch_free(x->notify);
}

/* agent.conf is read afresh by every pass; checked at start and at SIGHUP
 * so that a broken one is said at once. */
static const struct agentlet_ops extmgr_agentlet = {
	.name = "extmgr",
	.flags = AGENTLET_CURL,
	AGENTLET_SETTINGS(struct extmgr, settings),
	.agent_offset = AGENTLET_NO_AGENT,
	.settings_load = extmgr_settings_read,
	.settings_clear = extmgr_settings_free,
	.reloaded = extmgr_reloaded,
	.start = extmgr_start,
	.started = extmgr_started,
	.stopping = extmgr_stopping,
	.stop = extmgr_stop,
};

int
main(int argc, char *argv[])
{
	struct extmgr	x;

	memset(&x, 0, sizeof(x));
	return agentlet_main(argc, argv, &extmgr_agentlet, &x);
}
