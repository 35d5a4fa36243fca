/* arcproxy.c -- the local forward proxy: flags, start-up, privileges, signals, reload and drain. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "accesslog.h"
#include "admin.h"
#include "config.h"
#include "daemon.h"
#include "fdlimit.h"
#include "log.h"
#include "proxy.h"
#include "route.h"
#include "safedir.h"
#include "worker.h"

#define ARCPROXY_USER	"arcproxy"

/* What the SSRF guard keeps clients from: the appliance's own APIs. */
static const uint16_t arcproxy_guarded_ports[] = {
	ARC_PORT_HIMDS, ARC_PORT_PROXY, ARC_PORT_ADMIN
};

/* Started as root, run as the arcproxy user once the sockets are bound. */
static void
drop_privileges(void)
{
	struct passwd	*pw;

	if (geteuid() != 0)
		return;
	if ((pw = getpwnam(ARCPROXY_USER)) == NULL)
		fatalx("started as root, but there is no user '%s' to run as "
		    "(create it: useradd --system --no-create-home %s)",
		    ARCPROXY_USER, ARCPROXY_USER);
	/* Its supplementary groups too: group arc reads the machine key. */
	if (initgroups(ARCPROXY_USER, pw->pw_gid) == -1 ||
	    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1)
		fatal("cannot become user %s", ARCPROXY_USER);
}

/*
 * The log lives in <state>/arcproxy, a directory the arcproxy user owns.
 * Started as root, arcproxy makes that directory and the log on their fds
 * (never through a symlink the arcproxy user planted) and hands both to
 * that user, who reopens the log on SIGHUP.
 */
static struct accesslog *
open_access_log(const struct proxy *px, const struct config *cfg, char *err,
    size_t errlen)
{
	struct accesslog	*log;
	struct passwd		*pw;
	uid_t			 uid = SAFEDIR_KEEP_UID;
	gid_t			 gid = SAFEDIR_KEEP_GID;
	char			 own[PATH_MAX], sub[PATH_MAX], why[256];
	const char		*slash;
	size_t			 len;
	int			 sfd, dfd = -1, odfd;

	if (geteuid() == 0 && (pw = getpwnam(ARCPROXY_USER)) != NULL) {
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	len = (size_t)snprintf(own, sizeof(own), "%s/" ARC_SUBDIR_ARCPROXY "/",
	    px->state_dir);
	if (cfg->access_log != NULL && strncmp(cfg->access_log, own, len) == 0) {
		if ((sfd = open(px->state_dir, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) == -1) {
			snprintf(err, errlen, "%s: %s", px->state_dir,
			    strerror(errno));
			return NULL;
		}
		dfd = safedir_make(sfd, ARC_SUBDIR_ARCPROXY, 0750, uid, gid, why,
		    sizeof(why));
		close(sfd);
		if (dfd == -1) {
			snprintf(err, errlen, "%s/%s", px->state_dir, why);
			return NULL;
		}
		/* "sub/access.log": sub is the arcproxy user's to replace,
		 * by a symlink to where root would then make a file of its. */
		if ((slash = strrchr(cfg->access_log + len, '/')) != NULL) {
			snprintf(sub, sizeof(sub), "%.*s", (int)(slash -
			    (cfg->access_log + len)), cfg->access_log + len);
			odfd = dfd;
			dfd = safedir_open_under(odfd, sub, why, sizeof(why));
			close(odfd);
			if (dfd == -1) {
				snprintf(err, errlen, "access log: %.280s%.200s",
				    own, why);
				return NULL;
			}
		}
	}
	log = accesslog_open(cfg->access_log, dfd, uid, gid, err, errlen);
	if (dfd != -1)
		close(dfd);
	return log;
}

void
arcproxy_reload(struct proxy *px)
{
	struct config		*cfg;
	struct accesslog	*log;
	char			 err[512];
	int			 i;

	if ((cfg = config_load(px->config_dir, px->state_dir, err,
	    sizeof(err))) == NULL) {
		log_warnx("reload refused, keeping the running configuration: %s",
		    err);
		return;
	}
	if (cfg->workers != px->cfg->workers || cfg->nlisten != px->cfg->nlisten ||
	    memcmp(cfg->listen, px->cfg->listen, sizeof(cfg->listen)) != 0)
		log_warnx("listen and workers changes take effect at restart");
	if (cfg->machine_note != NULL)
		log_warnx("reload: machine identity refused: %s",
		    cfg->machine_note);
	if (cfg->proxy_note != NULL)
		log_warnx("reload: %s", cfg->proxy_note);
	if ((log = open_access_log(px, cfg, err, sizeof(err))) == NULL) {
		log_warnx("reload: %s; keeping the open access log", err);
		log = accesslog_ref(px->alog);
	}
	for (i = 0; i < px->nworkers; i++)
		worker_reload(&px->workers[i], cfg, log);
	config_unref(px->cfg);
	px->cfg = cfg;
	px->cfg_generation++;
	px->cfg_loaded = time(NULL);
	accesslog_unref(px->alog);
	px->alog = log;
	log_info("configuration reloaded from %s", cfg->path);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct proxy	*px = arg;
	int		 i;

	(void)what;
	if (sig == SIGHUP) {
		arcproxy_reload(px);
		return;
	}
	log_info("%s: draining for up to %lld ms", strsignal(sig),
	    px->cfg->limits.drain_timeout_ms);
	for (i = 0; i < px->nworkers; i++)
		worker_stop(&px->workers[i]);
	event_base_loopexit(px->base, NULL);
}

int
main(int argc, char *argv[])
{
	struct proxy		 px;
	struct daemon_opts	 o;
	char			 err[512];
	int			 i;

	daemon_parse_args(argc, argv, "arcproxy", &o);
	memset(&px, 0, sizeof(px));
	px.config_dir = o.config_dir;
	px.state_dir = o.state_dir;
	px.run_dir = o.run_dir;
	log_init("arcproxy", o.foreground || o.check, o.verbose ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_INFO);
	route_set_guarded_ports(arcproxy_guarded_ports,
	    sizeof(arcproxy_guarded_ports) / sizeof(arcproxy_guarded_ports[0]));
	if ((px.cfg = config_load(px.config_dir, px.state_dir, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "arcproxy: %s\n", err);
		return 1;
	}
	px.cfg_generation = 1;
	px.cfg_loaded = time(NULL);
	if (o.check) {
		printf("arcproxy: %s: configuration OK\n", px.cfg->path);
		config_unref(px.cfg);
		return 0;
	}
	/* Root takes no run dir that another user could change (the pid file,
	 * which root's azcmagent trusts, goes there). */
	if (daemon_run_dir_make(px.run_dir, err, sizeof(err)) == -1) {
		fprintf(stderr, "arcproxy: %s\n", err);
		config_unref(px.cfg);
		return 1;
	}
	if (!o.foreground && daemon(0, 0) == -1)
		fatal("daemon");
	signal(SIGPIPE, SIG_IGN);
	fdlimit_setup(&px);
	if (evthread_use_pthreads() == -1)
		fatalx("libevent has no thread support");
	if ((px.alog = open_access_log(&px, px.cfg, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((px.base = event_base_new()) == NULL)
		fatalx("cannot create an event loop");
	/* Before any socket listens: a SIGHUP from a client that saw the port
	 * must not find the default action (exit). */
	px.sig_hup = evsignal_new(px.base, SIGHUP, on_signal, &px);
	px.sig_term = evsignal_new(px.base, SIGTERM, on_signal, &px);
	px.sig_int = evsignal_new(px.base, SIGINT, on_signal, &px);
	if (px.sig_hup == NULL || px.sig_term == NULL || px.sig_int == NULL ||
	    evsignal_add(px.sig_hup, NULL) == -1 ||
	    evsignal_add(px.sig_term, NULL) == -1 ||
	    evsignal_add(px.sig_int, NULL) == -1)
		fatalx("cannot install signal handlers");
	px.nworkers = px.cfg->workers;
	if ((px.workers = calloc(px.nworkers, sizeof(*px.workers))) == NULL)
		fatal("calloc");
	for (i = 0; i < px.nworkers; i++)
		if (worker_init(&px.workers[i], &px, i, px.cfg, px.alog, err,
		    sizeof(err)) == -1)
			fatalx("%s", err);
	if (px.cfg->has_admin && (px.admin = admin_new(&px, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if (daemon_pidfile_write(px.run_dir, "arcproxy", err, sizeof(err)) == -1)
		log_warnx("pid file: %s", err);
	drop_privileges();
	for (i = 0; i < px.nworkers; i++)
		if (worker_start(&px.workers[i]) == -1)
			fatal("cannot start worker %d", i);
	log_info("listening with %d worker%s, config %s", px.nworkers,
	    px.nworkers == 1 ? "" : "s", px.cfg->path);
	if (px.cfg->machine_note != NULL)
		log_warnx("machine identity refused: %s", px.cfg->machine_note);
	if (px.cfg->proxy_note != NULL)
		log_warnx("%s", px.cfg->proxy_note);
	else if (px.cfg->proxy_from != NULL &&
	    strcmp(px.cfg->proxy_from, "agent.conf") != 0)
		log_info("enterprise proxy %s, from %s (agent.conf has no "
		    "proxy.url)", px.cfg->agent.proxy_url, px.cfg->proxy_from);
	if (px.cfg->gw_host[0] != '\0' && px.cfg->machine_cert == NULL)
		log_warnx("no machine certificate in %s: the gateway will carry "
		    "only the registration endpoint", px.state_dir);
	event_base_dispatch(px.base);
	for (i = 0; i < px.nworkers; i++)
		worker_join(&px.workers[i]);
	for (i = 0; i < px.nworkers; i++)
		worker_free(&px.workers[i]);
	admin_free(px.admin);
	event_free(px.sig_hup);
	event_free(px.sig_term);
	event_free(px.sig_int);
	event_base_free(px.base);
	free(px.workers);
	accesslog_unref(px.alog);
	config_unref(px.cfg);
	daemon_pidfile_remove(px.run_dir, "arcproxy");
	log_info("stopped");
	return 0;
}
