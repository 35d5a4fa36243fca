/* extmgr.c -- the extension manager agentlet: flags, signals, the poll timer and the notify wake-up; each reconcile pass runs in a child so that the daemon stays idle and responsive. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "agentconf.h"
#include "daemon.h"
#include "log.h"
#include "settings.h"
#include "worker.h"

#define EXTMGR_NOTIFY_DIR	"notify"	/* <run>/notify, the channel's */
#define EXTMGR_NOTIFY_TOPIC	"extensions"
#define EXTMGR_RETRY_SECONDS	5	/* after a pass that found no cloud */
#define EXTMGR_WAKE_GAP_MS	1000	/* wake-ups start at most a pass a second */

struct extmgr {
	char			*config_dir;
	char			*state_dir;
	char			*run_dir;
	struct extmgr_settings	 settings;
	struct event_base	*base;
	struct event		*sig_hup, *sig_term, *sig_int, *sig_chld;
	struct event		*timer;
	struct event		*notify_ev;
	int			 notify_fd;	/* inotify, or -1 */
	int			 notify_wd;	/* the watch on <run>/notify, or -1 */
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
	char	path[PATH_MAX];

	if (x->notify_fd == -1 || x->notify_wd != -1)
		return;
	snprintf(path, sizeof(path), "%s/" EXTMGR_NOTIFY_DIR, x->run_dir);
	x->notify_wd = inotify_add_watch(x->notify_fd, path, IN_CLOSE_WRITE |
	    IN_MOVED_TO | IN_CREATE | IN_ONLYDIR | IN_DONT_FOLLOW);
	if (x->notify_wd != -1)
		log_info("watching %s for wake-ups", path);
}

/* A write to <run>/notify/extensions is a hint to poll now; its content
 * is never read. */
static void
extmgr_on_notify(evutil_socket_t fd, short what, void *arg)
{
	struct extmgr			*x = arg;
	char				 buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event	*ev;
	ssize_t				 n;
	char				*p;
	int				 wake = 0;

	(void)what;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & (IN_IGNORED | IN_DELETE_SELF))
				x->notify_wd = -1;
			if (ev->len > 0 && strcmp(ev->name,
			    EXTMGR_NOTIFY_TOPIC) == 0)
				wake = 1;
		}
	if (wake) {
		log_debug("woken by %s/" EXTMGR_NOTIFY_DIR "/"
		    EXTMGR_NOTIFY_TOPIC, x->run_dir);
		extmgr_wake(x);
	}
}

/*
 * A hint to pass now, from a file another user writes: at most one pass a
 * second however many come (the rest fold into the next one), so that a
 * flood costs a pass a second, not a pass per write.
 */
static void
extmgr_wake(struct extmgr *x)
{
	struct timespec	now;
	struct timeval	tv;
	long long	ms;

	if (x->worker != 0) {
		x->again = 1;
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - x->last_start.tv_sec) * 1000LL +
	    (now.tv_nsec - x->last_start.tv_nsec) / 1000000L;
	if (x->last_start.tv_sec != 0 && ms >= 0 && ms < EXTMGR_WAKE_GAP_MS) {
		ms = EXTMGR_WAKE_GAP_MS - ms;
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
		if (x->notify_fd != -1)
			close(x->notify_fd);
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
extmgr_load(struct extmgr *x, struct extmgr_settings *s, char *err,
    size_t errlen)
{
	struct agentconf	ac;

	if (extmgr_settings_load(x->config_dir, s, err, errlen) == -1)
		return -1;
	/* agent.conf is read afresh by every pass; checked here so that a
	 * broken one is said at once. */
	if (agentconf_load(x->config_dir, &ac, err, errlen) == -1) {
		extmgr_settings_clear(s);
		return -1;
	}
	agentconf_clear(&ac);
	return 0;
}

static void
extmgr_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct extmgr		*x = arg;
	struct extmgr_settings	 s;
	char			 err[512];
	int			 status;
	pid_t			 pid;

	(void)what;
	switch (sig) {
	case SIGCHLD:
		/* Only our pass: handler.c watches its own children. */
		if (x->worker != 0 && (pid = waitpid(x->worker, &status,
		    WNOHANG)) == x->worker)
			extmgr_reaped(x, status);
		return;
	case SIGHUP:
		if (extmgr_load(x, &s, err, sizeof(err)) == -1)
			log_warnx("reload refused, keeping the running "
			    "configuration: %s", err);
		else {
			/* A pass under way keeps the settings it forked with. */
			extmgr_settings_clear(&x->settings);
			x->settings = s;
			log_info("configuration reloaded from %s",
			    x->settings.path);
		}
		extmgr_start_pass(x);
		return;
	default:
		log_info("%s: stopping", strsignal(sig));
		if (x->worker != 0) {
			kill(x->worker, SIGTERM);
			while (waitpid(x->worker, &status, 0) == -1 &&
			    errno == EINTR)
				;
			x->worker = 0;
		}
		event_base_loopexit(x->base, NULL);
	}
}

static void
extmgr_run(struct extmgr *x, int foreground)
{
	char	err[512];

	if (!foreground && daemon(0, 0) == -1)
		fatal("daemon");
	signal(SIGPIPE, SIG_IGN);
	umask(0022);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("cannot initialise libcurl");
	if ((x->base = event_base_new()) == NULL)
		fatalx("cannot create an event loop");
	x->sig_hup = evsignal_new(x->base, SIGHUP, extmgr_on_signal, x);
	x->sig_term = evsignal_new(x->base, SIGTERM, extmgr_on_signal, x);
	x->sig_int = evsignal_new(x->base, SIGINT, extmgr_on_signal, x);
	x->sig_chld = evsignal_new(x->base, SIGCHLD, extmgr_on_signal, x);
	x->timer = evtimer_new(x->base, extmgr_on_timer, x);
	if (x->sig_hup == NULL || x->sig_term == NULL || x->sig_int == NULL ||
	    x->sig_chld == NULL || x->timer == NULL ||
	    evsignal_add(x->sig_hup, NULL) == -1 ||
	    evsignal_add(x->sig_term, NULL) == -1 ||
	    evsignal_add(x->sig_int, NULL) == -1 ||
	    evsignal_add(x->sig_chld, NULL) == -1)
		fatalx("cannot install signal handlers");
	x->notify_wd = -1;
	if ((x->notify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		log_warn("inotify: polling only");
	else if ((x->notify_ev = event_new(x->base, x->notify_fd,
	    EV_READ | EV_PERSIST, extmgr_on_notify, x)) == NULL ||
	    event_add(x->notify_ev, NULL) == -1)
		fatalx("cannot watch the notify dir");
	if (daemon_pidfile_write(x->run_dir, "extmgr", err, sizeof(err)) == -1)
		log_warnx("pid file: %s", err);
	log_info("started, config %s%s, state %s/" EXTMGR_DIR ", every %lld s",
	    x->settings.path, x->settings.found ? "" : " (absent: the defaults)",
	    x->state_dir, x->settings.poll_seconds);
	extmgr_start_pass(x);
	event_base_dispatch(x->base);

	event_free(x->sig_hup);
	event_free(x->sig_term);
	event_free(x->sig_int);
	event_free(x->sig_chld);
	event_free(x->timer);
	if (x->notify_ev != NULL)
		event_free(x->notify_ev);
	if (x->notify_fd != -1)
		close(x->notify_fd);
	event_base_free(x->base);
	curl_global_cleanup();
	daemon_pidfile_remove(x->run_dir, "extmgr");
	log_info("stopped");
}

int
main(int argc, char *argv[])
{
	struct extmgr		x;
	struct daemon_opts	o;
	char			err[512];
	int			rc = 1;

	daemon_parse_args(argc, argv, "extmgr", &o);
	memset(&x, 0, sizeof(x));
	x.notify_fd = -1;
	if (!o.check && daemon_run_dir_make(o.run_dir, err, sizeof(err)) == -1) {
		fprintf(stderr, "extmgr: %s\n", err);
		goto fail;
	}
	/* Absolute: daemon() moves to /.  -n checks the configuration only. */
	if ((x.config_dir = realpath(o.config_dir, NULL)) == NULL ||
	    ((x.state_dir = realpath(o.state_dir, NULL)) == NULL &&
	    (!o.check || (x.state_dir = strdup(o.state_dir)) == NULL)) ||
	    ((x.run_dir = realpath(o.run_dir, NULL)) == NULL &&
	    (!o.check || (x.run_dir = strdup(o.run_dir)) == NULL))) {
		fprintf(stderr, "extmgr: %s: %s\n", x.config_dir == NULL ?
		    o.config_dir : x.state_dir == NULL ? o.state_dir : o.run_dir,
		    strerror(errno));
		goto fail;
	}
	log_init("extmgr", o.foreground || o.check, o.verbose ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_INFO);
	if (extmgr_load(&x, &x.settings, err, sizeof(err)) == -1) {
		fprintf(stderr, "extmgr: %s\n", err);
		goto fail;
	}
	if (o.check)
		printf("extmgr: %s: configuration OK%s\n", x.settings.path,
		    x.settings.found ? "" : " (no file: the defaults)");
	else
		extmgr_run(&x, o.foreground);
	rc = 0;
 fail:
	extmgr_settings_clear(&x.settings);
	free(x.config_dir);
	free(x.state_dir);
	free(x.run_dir);
	return rc;
}
