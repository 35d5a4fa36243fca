/* himds.c -- the identity agentlet: flags, start-up, privileges, signals, reload of its settings and of the machine identity. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "agentconf.h"
#include "api.h"
#include "challenge.h"
#include "cloud.h"
#include "daemon.h"
#include "heartbeat.h"
#include "himds.h"
#include "log.h"
#include "machine.h"
#include "privdrop.h"
#include "renew.h"
#include "safedir.h"
#include "settings.h"

#define HIMDS_MAX_KEYS		1024	/* challenge keys outstanding at most */
#define HIMDS_MAX_KEYS_PER_UID	32	/* of them for one caller */
#define HIMDS_KEY_GROUP		"arc"	/* reads machine.key (arcproxy) */

void
himds_identity_reload(struct himds *h)
{
	struct himds_machine	*m = NULL;
	char			 err[512];
	int			 rc;

	if ((rc = himds_machine_recover(h->own_dir, err, sizeof(err))) == -1)
		log_warnx("finishing an interrupted renewal: %s", err);
	else if (rc == 1)
		log_info("finished a renewal that was interrupted");
	rc = himds_machine_load(h->state_dir, &m, err, sizeof(err));
	if (rc == -1)
		log_warnx("machine identity: %s", err);
	else if (rc == 1)
		log_info("%s", err);
	else
		log_info("machine %s (%s), cloud %s", m->name, m->resource_id,
		    m->cloud_url);
	himds_machine_free(h->machine);
	h->machine = m;
	snprintf(h->machine_error, sizeof(h->machine_error), "%s",
	    m == NULL ? err : "");
	h->machine_gen++;
	himds_heartbeat_restart(h->heartbeat);
	himds_renew_schedule(h->renew);
}

static int
himds_load_config(struct himds *h, struct himds_settings *s,
    struct agentconf *ac, char *err, size_t errlen)
{
	if (himds_settings_load(h->config_dir, h->run_dir, s, err, errlen) == -1)
		return -1;
	if (agentconf_load(h->config_dir, ac, err, errlen) == -1) {
		himds_settings_clear(s);
		return -1;
	}
	return 0;
}

static void
himds_reload(struct himds *h)
{
	struct himds_settings	s;
	struct agentconf	ac;
	char			err[512];

	if (himds_load_config(h, &s, &ac, err, sizeof(err)) == -1) {
		log_warnx("reload refused, keeping the running configuration: %s",
		    err);
		return;
	}
	if (s.nlisten != h->settings.nlisten ||
	    memcmp(s.listen, h->settings.listen, sizeof(s.listen)) != 0 ||
	    strcmp(s.token_key_dir, h->settings.token_key_dir) != 0 ||
	    s.token_key_lifetime_seconds != h->settings.token_key_lifetime_seconds)
		log_warnx("listen and token_key_* changes take effect at restart");
	/* What only a restart changes stays as it runs. */
	memcpy(s.listen, h->settings.listen, sizeof(s.listen));
	memcpy(s.listen_len, h->settings.listen_len, sizeof(s.listen_len));
	s.nlisten = h->settings.nlisten;
	free(s.token_key_dir);
	s.token_key_dir = h->settings.token_key_dir;
	h->settings.token_key_dir = NULL;
	s.token_key_lifetime_seconds = h->settings.token_key_lifetime_seconds;
	himds_settings_clear(&h->settings);
	h->settings = s;
	agentconf_clear(&h->agent);
	h->agent = ac;
	log_info("configuration reloaded from %s", h->settings.path);
	himds_identity_reload(h);
}

static void
himds_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct himds	*h = arg;

	(void)what;
	if (sig == SIGHUP) {
		himds_reload(h);
		return;
	}
	log_info("%s: stopping", strsignal(sig));
	event_base_loopexit(h->base, NULL);
}

/*
 * A directory of himds's own (path's parent is root's or the operator's):
 * made if missing and opened without following a symlink, then given to
 * uid:gid (when root) and mode on its fd.  Returns the fd.
 */
static int
himds_subdir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	char	parent[PATH_MAX], name[PATH_MAX], err[512];
	int	pfd, fd;

	snprintf(parent, sizeof(parent), "%s", path);
	snprintf(name, sizeof(name), "%s", path);
	if ((pfd = open(dirname(parent), O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		fatal("%s", parent);
	if ((fd = safedir_make(pfd, basename(name), mode, uid, gid, err,
	    sizeof(err))) == -1)
		fatalx("%s/%s", parent, err);
	close(pfd);
	return fd;
}

/* <state>/himds (himds:arc 0750) and the token key directory (himds:himds
 * 0750, emptied), made before the privileges go. */
static void
himds_dirs(struct himds *h, const struct privdrop_user *u)
{
	struct group	*g;
	uid_t		 uid = SAFEDIR_KEEP_UID;
	gid_t		 gid = SAFEDIR_KEEP_GID, key_gid = SAFEDIR_KEEP_GID;
	char		 err[512];
	int		 fd;

	if (u != NULL) {
		uid = u->uid;
		gid = key_gid = u->gid;
		if ((g = getgrnam(HIMDS_KEY_GROUP)) != NULL)
			key_gid = g->gr_gid;
	}
	h->own_fd = himds_subdir(h->own_dir, 0750, uid, key_gid);
	fd = himds_subdir(h->settings.token_key_dir, 0750, uid, gid);
	close(fd);
	if (himds_challenge_clean_dir(h->settings.token_key_dir, err,
	    sizeof(err)) == -1)
		fatalx("%s", err);
}

static void
himds_signals(struct himds *h)
{
	h->sig_hup = evsignal_new(h->base, SIGHUP, himds_on_signal, h);
	h->sig_term = evsignal_new(h->base, SIGTERM, himds_on_signal, h);
	h->sig_int = evsignal_new(h->base, SIGINT, himds_on_signal, h);
	if (h->sig_hup == NULL || h->sig_term == NULL || h->sig_int == NULL ||
	    evsignal_add(h->sig_hup, NULL) == -1 ||
	    evsignal_add(h->sig_term, NULL) == -1 ||
	    evsignal_add(h->sig_int, NULL) == -1)
		fatalx("cannot install signal handlers");
}

/* From the loop's start to SIGTERM; fatal only while starting. */
static void
himds_run(struct himds *h, const struct privdrop_user *as, int foreground)
{
	char	err[512];

	if (!foreground && daemon(0, 0) == -1)
		fatal("daemon");
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("cannot initialise libcurl");
	if ((h->base = event_base_new()) == NULL)
		fatalx("cannot create an event loop");
	himds_signals(h);
	himds_dirs(h, as);
	if ((h->challenge = himds_challenge_new(h->settings.token_key_dir,
	    (int)h->settings.token_key_lifetime_seconds, HIMDS_MAX_KEYS,
	    HIMDS_MAX_KEYS_PER_UID)) == NULL ||
	    (h->cloud = himds_cloud_new(h)) == NULL ||
	    (h->heartbeat = himds_heartbeat_new(h)) == NULL ||
	    (h->renew = himds_renew_new(h)) == NULL)
		fatalx("out of memory");
	if ((h->api = himds_api_new(h, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if (daemon_pidfile_write(h->run_dir, "himds", err, sizeof(err)) == -1)
		log_warnx("pid file: %s", err);
	if (as != NULL && privdrop_become(as, err, sizeof(err)) == -1)
		fatalx("%s", err);
	log_info("listening, config %s%s, state %s", h->settings.path,
	    h->settings.found ? "" : " (absent: the defaults)", h->state_dir);
	himds_identity_reload(h);
	event_base_dispatch(h->base);

	himds_api_free(h->api);
	himds_cloud_free(h->cloud);
	himds_renew_free(h->renew);
	himds_heartbeat_free(h->heartbeat);
	himds_challenge_free(h->challenge);
	himds_machine_free(h->machine);
	event_free(h->sig_hup);
	event_free(h->sig_term);
	event_free(h->sig_int);
	event_base_free(h->base);
	curl_global_cleanup();
	close(h->own_fd);
	daemon_pidfile_remove(h->run_dir, "himds");
	log_info("stopped");
}

int
main(int argc, char *argv[])
{
	struct himds		 h;
	struct daemon_opts	 o;
	struct privdrop_user	 user, *as = NULL;
	char			 err[512], *config_dir = NULL, *state_dir = NULL;
	char			*run_dir = NULL;
	int			 rc = 1;

	daemon_parse_args(argc, argv, "himds", &o);
	memset(&h, 0, sizeof(h));
	h.own_fd = -1;
	if (!o.check && daemon_run_dir_make(o.run_dir, err, sizeof(err)) == -1) {
		fprintf(stderr, "himds: %s\n", err);
		goto fail;
	}
	/* Absolute: daemon() moves to /, and the realm must name a full path.
	 * -n checks the configuration only: state and run dir need not exist. */
	if ((config_dir = realpath(o.config_dir, NULL)) == NULL ||
	    ((state_dir = realpath(o.state_dir, NULL)) == NULL &&
	    (!o.check || (state_dir = strdup(o.state_dir)) == NULL)) ||
	    ((run_dir = realpath(o.run_dir, NULL)) == NULL &&
	    (!o.check || (run_dir = strdup(o.run_dir)) == NULL))) {
		fprintf(stderr, "himds: %s: %s\n", config_dir == NULL ?
		    o.config_dir : state_dir == NULL ? o.state_dir : o.run_dir,
		    strerror(errno));
		goto fail;
	}
	if (asprintf(&h.own_dir, "%s/" HIMDS_OWN_DIR, state_dir) == -1) {
		h.own_dir = NULL;
		fprintf(stderr, "himds: out of memory\n");
		goto fail;
	}
	h.config_dir = config_dir;
	h.state_dir = state_dir;
	h.run_dir = run_dir;
	log_init("himds", o.foreground || o.check, o.verbose ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_INFO);
	if (himds_load_config(&h, &h.settings, &h.agent, err, sizeof(err)) == -1) {
		fprintf(stderr, "himds: %s\n", err);
		goto fail;
	}
	if (geteuid() == 0 && !o.check) {
		if (privdrop_lookup(HIMDS_USER, &user, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "himds: %s\n", err);
			goto fail;
		}
		as = &user;
	}
	if (o.check)
		printf("himds: %s: configuration OK%s\n", h.settings.path,
		    h.settings.found ? "" : " (no file: the defaults)");
	else
		himds_run(&h, as, o.foreground);
	rc = 0;
 fail:
	himds_settings_clear(&h.settings);
	agentconf_clear(&h.agent);
	free(config_dir);
	free(state_dir);
	free(run_dir);
	free(h.own_dir);
	return rc;
}
