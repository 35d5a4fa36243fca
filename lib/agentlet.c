/* agentlet.c -- the daemon every agentlet is: the common flags, its conf and agent.conf (read again on SIGHUP), daemon(), signals, the pid file, the privilege drop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "agentconf.h"
#include "agentlet.h"
#include "daemon.h"
#include "log.h"
#include "privdrop.h"

static void *
agentlet_settings(const struct agentlet *al)
{
	return (char *)al->ctx + al->ops->settings_offset;
}

static struct agentconf *
agentlet_agent(const struct agentlet *al)
{
	if (al->ops->agent_offset == AGENTLET_NO_AGENT)
		return NULL;
	return (struct agentconf *)((char *)al->ctx + al->ops->agent_offset);
}

/* Its conf into s, then agent.conf into *agent (or only checked, when the
 * agentlet reads it afresh itself); both or neither. */
static int
agentlet_conf_load(const struct agentlet *al, void *s, struct agentconf *agent,
    char *err, size_t errlen)
{
	struct agentconf	ac;

	memset(s, 0, al->ops->settings_size);
	if (al->ops->settings_load(al, s, err, errlen) == -1)
		return -1;
	if (agentconf_load(al->config_dir, &ac, err, errlen) == -1) {
		al->ops->settings_clear(s);
		return -1;
	}
	if (agent != NULL)
		*agent = ac;
	else
		agentconf_clear(&ac);
	return 0;
}

/*
 * The reload was refused; agent.conf's local controls (security controls
 * that the operator just set) still take effect when it alone reads well:
 * an error in the agentlet's own file may not keep, say,
 * incomingconnections.enabled = false from applying.
 */
static void
agentlet_reload_agent(struct agentlet *al, struct agentconf *agent)
{
	struct agentconf	ac;
	char			err[512];

	if (agent == NULL || agentconf_load(al->config_dir, &ac, err,
	    sizeof(err)) == -1) {
		al->ops->reloaded(al->ctx, 0);
		return;
	}
	log_warnx("agent.conf's local controls taken; the rest of the running "
	    "configuration stays");
	agentconf_clear(agent);
	*agent = ac;
	al->ops->reloaded(al->ctx, 1);
}

static void
agentlet_reload(struct agentlet *al)
{
	const struct agentlet_ops	*ops = al->ops;
	struct agentconf		 ac, *agent = agentlet_agent(al);
	void				*s, *cur = agentlet_settings(al);
	char				 err[512];

	if ((s = malloc(ops->settings_size)) == NULL)
		snprintf(err, sizeof(err), "out of memory");
	if (s == NULL || agentlet_conf_load(al, s, agent != NULL ? &ac : NULL,
	    err, sizeof(err)) == -1) {
		log_warnx("reload refused, keeping the running configuration: %s",
		    err);
		free(s);
		agentlet_reload_agent(al, agent);
		return;
	}
	if (ops->reload_keep != NULL)
		ops->reload_keep(al->ctx, s, cur);
	ops->settings_clear(cur);
	memcpy(cur, s, ops->settings_size);
	free(s);
	if (agent != NULL) {
		agentconf_clear(agent);
		*agent = ac;
	}
	ops->reloaded(al->ctx, 1);
}

static void
agentlet_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct agentlet	*al = arg;
	struct timeval	 grace = { al->ops->stop_grace_ms / 1000,
	    (al->ops->stop_grace_ms % 1000) * 1000 };

	(void)what;
	if (sig == SIGHUP) {
		agentlet_reload(al);
		return;
	}
	log_info("%s: stopping", strsignal(sig));
	if (al->ops->stopping != NULL)
		al->ops->stopping(al->ctx);
	event_base_loopexit(al->base, al->ops->stop_grace_ms > 0 ? &grace :
	    NULL);
}

static void
agentlet_signals(struct agentlet *al)
{
	al->sig_hup = evsignal_new(al->base, SIGHUP, agentlet_on_signal, al);
	al->sig_term = evsignal_new(al->base, SIGTERM, agentlet_on_signal, al);
	al->sig_int = evsignal_new(al->base, SIGINT, agentlet_on_signal, al);
	if (al->sig_hup == NULL || al->sig_term == NULL || al->sig_int == NULL ||
	    evsignal_add(al->sig_hup, NULL) == -1 ||
	    evsignal_add(al->sig_term, NULL) == -1 ||
	    evsignal_add(al->sig_int, NULL) == -1)
		fatalx("cannot install signal handlers");
}

/* From the loop's start to SIGTERM; fatal only while starting. */
static void
agentlet_run(struct agentlet *al, int foreground)
{
	const struct agentlet_ops	*ops = al->ops;
	char				 err[512];

	if (!foreground && daemon(0, 0) == -1)
		fatal("daemon");
	signal(SIGPIPE, SIG_IGN);
	if ((ops->flags & AGENTLET_CURL) &&
	    curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("cannot initialise libcurl");
	if ((al->base = event_base_new()) == NULL)
		fatalx("cannot create an event loop");
	agentlet_signals(al);
	ops->start(al);
	if (daemon_pidfile_write(al->run_dir, ops->name, err,
	    sizeof(err)) == -1)
		log_warnx("pid file: %s", err);
	if (al->as != NULL && privdrop_become(al->as, err, sizeof(err)) == -1)
		fatalx("%s", err);
	ops->started(al->ctx);
	event_base_dispatch(al->base);

	ops->stop(al->ctx);
	event_free(al->sig_hup);
	event_free(al->sig_term);
	event_free(al->sig_int);
	event_base_free(al->base);
	if (ops->flags & AGENTLET_CURL)
		curl_global_cleanup();
	daemon_pidfile_remove(al->run_dir, ops->name);
	log_info("stopped");
}

/* Absolute: daemon() moves to /, and himds's realm names a full path.  -n
 * checks the configuration only: state and run dir need not exist. */
static int
agentlet_dirs(struct agentlet *al, const struct daemon_opts *o, char *err,
    size_t errlen)
{
	if ((al->config_dir = realpath(o->config_dir, NULL)) == NULL ||
	    ((al->state_dir = realpath(o->state_dir, NULL)) == NULL &&
	    (!o->check || (al->state_dir = strdup(o->state_dir)) == NULL)) ||
	    ((al->run_dir = realpath(o->run_dir, NULL)) == NULL &&
	    (!o->check || (al->run_dir = strdup(o->run_dir)) == NULL))) {
		snprintf(err, errlen, "%s: %s", al->config_dir == NULL ?
		    o->config_dir : al->state_dir == NULL ? o->state_dir :
		    o->run_dir, strerror(errno));
		return -1;
	}
	return 0;
}

int
agentlet_main(int argc, char *argv[], const struct agentlet_ops *ops,
    void *ctx)
{
	struct agentlet		 al;
	struct daemon_opts	 o;
	struct agentconf	*agent;
	char			*ctx_bytes = ctx, err[512];
	int			 rc = 1;

	daemon_parse_args(argc, argv, ops->name, &o);
	memset(&al, 0, sizeof(al));
	al.ops = ops;
	al.ctx = ctx;
	agent = agentlet_agent(&al);
	memset(agentlet_settings(&al), 0, ops->settings_size);
	if (agent != NULL)
		memset(agent, 0, sizeof(*agent));
	if (!o.check && daemon_run_dir_make(o.run_dir, err, sizeof(err)) == -1)
		goto fail;
	if (agentlet_dirs(&al, &o, err, sizeof(err)) == -1)
		goto fail;
	log_init(ops->name, o.foreground || o.check, o.verbose ?
	    LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	if (agentlet_conf_load(&al, agentlet_settings(&al), agent, err,
	    sizeof(err)) == -1)
		goto fail;
	if (ops->user != NULL && geteuid() == 0 && !o.check) {
		if (privdrop_lookup(ops->user, &al.user, err, sizeof(err)) == -1)
			goto fail;
		al.as = &al.user;
	}
	if (o.check)
		printf("%s: %s: configuration OK%s\n", ops->name,
		    *(char **)(ctx_bytes + ops->path_offset),
		    *(int *)(ctx_bytes + ops->found_offset) ? "" :
		    " (no file: the defaults)");
	else
		agentlet_run(&al, o.foreground);
	rc = 0;
 fail:
	if (rc != 0)
		fprintf(stderr, "%s: %s\n", ops->name, err);
	ops->settings_clear(agentlet_settings(&al));
	if (agent != NULL)
		agentconf_clear(agent);
	free(al.config_dir);
	free(al.state_dir);
	free(al.run_dir);
	return rc;
}
