/* himds.c -- the identity agentlet: flags, start-up, privileges, signals, reload of its settings and of the machine identity. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentlet.h"
#include "api.h"
#include "challenge.h"
#include "cloud.h"
#include "heartbeat.h"
#include "himds.h"
#include "log.h"
#include "machine.h"
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
himds_settings_read(const struct agentlet *al, void *s, char *err,
    size_t errlen)
{
	return himds_settings_load(al->config_dir, al->run_dir, s, err, errlen);
}

static void
himds_settings_free(void *s)
{
	himds_settings_clear(s);
}

/* What only a restart changes stays as it runs. */
static void
himds_reload_keep(void *arg, void *news, void *old)
{
	struct himds_settings	*s = news, *o = old;

	(void)arg;
	if (s->nlisten != o->nlisten ||
	    memcmp(s->listen, o->listen, sizeof(s->listen)) != 0 ||
	    strcmp(s->token_key_dir, o->token_key_dir) != 0 ||
	    s->token_key_lifetime_seconds != o->token_key_lifetime_seconds)
		log_warnx("listen and token_key_* changes take effect at restart");
	memcpy(s->listen, o->listen, sizeof(s->listen));
	memcpy(s->listen_len, o->listen_len, sizeof(s->listen_len));
	s->nlisten = o->nlisten;
	free(s->token_key_dir);
	s->token_key_dir = o->token_key_dir;
	o->token_key_dir = NULL;
	s->token_key_lifetime_seconds = o->token_key_lifetime_seconds;
}

static void
himds_reloaded(void *arg, int ok)
{
	struct himds	*h = arg;

	if (!ok)
		return;
	log_info("configuration reloaded from %s", h->settings.path);
	himds_identity_reload(h);
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

/*
 * The token key directory (himds:himds 0750; <run>/tokens unless
 * himds.conf says otherwise), as himds_subdir() but, for root, its parent
 * reached through directories no other user can change (the run dir's
 * rule, safedir_open_trusted) and one there already that another user owns
 * refused: root empties it and hands it to himds.  Returns the fd.
 */
static int
himds_token_dir(const char *path, uid_t uid, gid_t gid)
{
	char	parent[PATH_MAX], name[PATH_MAX], err[PATH_MAX + 256];
	int	pfd, fd;

	snprintf(parent, sizeof(parent), "%s", path);
	snprintf(name, sizeof(name), "%s", path);
	if (geteuid() != 0) {
		if ((pfd = open(dirname(parent), O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) == -1)
			fatal("%s", parent);
	} else if ((pfd = safedir_open_trusted(dirname(parent), err,
	    sizeof(err))) == -1)
		fatalx("token_key_dir %s: on its path %s", path, err);
	if ((fd = safedir_take(pfd, basename(name), 0750, uid, gid, err,
	    sizeof(err))) == -1)
		fatalx("%s/%s", parent, err);
	close(pfd);
	return fd;
}

/* <state>/himds (himds:arc 0750) and the token key directory (himds:himds
 * 0750, emptied), made before the privileges go; the latter's fd. */
static int
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
	fd = himds_token_dir(h->settings.token_key_dir, uid, gid);
	if (himds_challenge_clean_dir(fd, h->settings.token_key_dir, err,
	    sizeof(err)) == -1)
		fatalx("%s", err);
	return fd;
}

/* In the loop, as root still: its directories and its parts. */
static void
himds_start(struct agentlet *al)
{
	struct himds	*h = al->ctx;
	char		 err[512];
	int		 tokens_fd;

	h->base = al->base;
	h->config_dir = al->config_dir;
	h->state_dir = al->state_dir;
	h->run_dir = al->run_dir;
	if (asprintf(&h->own_dir, "%s/" HIMDS_OWN_DIR, h->state_dir) == -1)
		fatalx("out of memory");
	tokens_fd = himds_dirs(h, al->as);
	if ((h->challenge = himds_challenge_new(h->settings.token_key_dir,
	    tokens_fd, (int)h->settings.token_key_lifetime_seconds,
	    HIMDS_MAX_KEYS, HIMDS_MAX_KEYS_PER_UID)) == NULL ||
	    (h->cloud = himds_cloud_new(h)) == NULL ||
	    (h->heartbeat = himds_heartbeat_new(h)) == NULL ||
	    (h->renew = himds_renew_new(h)) == NULL)
		fatalx("out of memory");
	close(tokens_fd);
	if ((h->api = himds_api_new(h, err, sizeof(err))) == NULL)
		fatalx("%s", err);
}

static void
himds_started(void *arg)
{
	struct himds	*h = arg;

	log_info("listening, config %s%s, state %s", h->settings.path,
	    h->settings.found ? "" : " (absent: the defaults)", h->state_dir);
	himds_identity_reload(h);
}

static void
himds_stopping(void *arg)
{
	struct himds	*h = arg;

	himds_api_stopping(h->api);
}

static void
himds_stop(void *arg)
{
	struct himds	*h = arg;

	himds_api_free(h->api);
	himds_cloud_free(h->cloud);
	himds_renew_free(h->renew);
	himds_heartbeat_free(h->heartbeat);
	himds_challenge_free(h->challenge);
	himds_machine_free(h->machine);
	close(h->own_fd);
	free(h->own_dir);
}

static const struct agentlet_ops himds_agentlet = {
	.name = "himds",
	.user = HIMDS_USER,
	.flags = AGENTLET_CURL,
	AGENTLET_SETTINGS(struct himds, settings),
	.agent_offset = offsetof(struct himds, agent),
	.settings_load = himds_settings_read,
	.settings_clear = himds_settings_free,
	.reload_keep = himds_reload_keep,
	.reloaded = himds_reloaded,
	.start = himds_start,
	.started = himds_started,
	.stopping = himds_stopping,
	.stop_grace_ms = 200,		/* the 503s go out */
	.stop = himds_stop,
};

int
main(int argc, char *argv[])
{
	struct himds	h;

	memset(&h, 0, sizeof(h));
	h.own_fd = -1;
	return agentlet_main(argc, argv, &himds_agentlet, &h);
}
