/* cloudsim.c -- the local stand-in for Azure: flags, the pki and machine-cert commands, start-up (gateway, echo, control plane), signals and shutdown. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "addr.h"
#include "control.h"
#include "daemon.h"
#include "echo.h"
#include "gateway.h"
#include "log.h"
#include "notify.h"
#include "operator.h"
#include "pki.h"
#include "registry.h"
#include "sessions.h"
#include "simconf.h"

#define CLOUDSIM_STATE_FILE	"control.json"

/* The program's one context: passed to every callback, never global. */
struct cloudsim {
	const char		*config_dir;
	const char		*state_dir;
	struct simconf		*cfg;
	struct registry		*registry;	/* the machines, from <state-dir>/control.json */
	struct event_base	*base;
	struct gateway		*gateway;
	struct echo		*echo;		/* NULL when echo.listen is "" */
	struct control		*control;	/* NULL when control.listen is "" */
	struct operator_api	*operator_api;	/* NULL when control.operator_listen is "" */
	struct event		*sig_term;
	struct event		*sig_int;
	struct event		*sig_hup;
	struct notify_conf	 notify_conf;	/* notify.cloudsim.test, relay.cloudsim.test */
	struct notify_service	*notify;	/* NULL when notify.listen is "" */
	struct sessions		*sessions;	/* NULL when notify.relay_listen is "" */
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: cloudsim [-dnv] [--config-dir DIR] [--state-dir DIR]\n"
	    "       cloudsim pki [--force] DIR\n"
	    "       cloudsim machine-cert DIR NAME\n"
	    "       cloudsim remote MACHINE PORT [--operator URL]\n"
	    "  -d  stay in the foreground and log to stderr\n"
	    "  -n  check the configuration (and the PKI it names) and exit\n"
	    "  -v  log debug messages\n"
	    "  pki           create the demo CA, gateway and service certificates in DIR\n"
	    "  machine-cert  issue DIR/NAME.crt and DIR/NAME.key, a machine's client certificate\n");
	exit(2);
}

static int
cmd_pki(int argc, char *argv[])
{
	const char	*dir = NULL;
	char		 err[512];
	int		 force = 0, kept, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0)
			force = 1;
		else if (argv[i][0] == '-' || dir != NULL)
			usage();
		else
			dir = argv[i];
	}
	if (dir == NULL)
		usage();
	if (pki_create(dir, force, &kept, err, sizeof(err)) == -1) {
		fprintf(stderr, "cloudsim pki: %s\n", err);
		return 1;
	}
	if (kept)
		printf("cloudsim pki: %s/ca.crt exists: kept the CA (--force replaces "
		    "it); gateway and services certificates are in place\n", dir);
	else
		printf("cloudsim pki: created %s: ca.crt, ca.key, gateway.crt/.key "
		    "(%s, 127.0.0.1), services.crt/.key (*.%s)\n", dir,
		    PKI_GATEWAY_NAME, PKI_SERVICES_DOMAIN);
	return 0;
}

static int
cmd_machine_cert(int argc, char *argv[])
{
	char	err[512];

	if (argc != 3)
		usage();
	if (pki_issue_machine(argv[1], argv[2], err, sizeof(err)) == -1) {
		fprintf(stderr, "cloudsim machine-cert: %s\n", err);
		return 1;
	}
	printf("cloudsim machine-cert: issued %s/%s.crt and %s/%s.key (CN=%s, "
	    "clientAuth, %d days)\n", argv[1], argv[2], argv[1], argv[2], argv[2],
	    PKI_MACHINE_DAYS);
	return 0;
}

/* -n: the file parses, and the certificates and keys it names load. */
static int
check_config(struct cloudsim *cs)
{
	SSL_CTX	*ctx;
	char	 err[512];

	if ((ctx = gateway_tls(cs->cfg, err, sizeof(err))) == NULL)
		goto fail;
	SSL_CTX_free(ctx);
	if (cs->cfg->has_echo) {
		if ((ctx = echo_tls(cs->cfg, err, sizeof(err))) == NULL)
			goto fail;
		SSL_CTX_free(ctx);
	}
	if (cs->cfg->control.has_listen &&
	    control_check(cs->cfg, err, sizeof(err)) == -1)
		goto fail;
	if (notify_conf_load(cs->cfg, &cs->notify_conf, err, sizeof(err)) == -1)
		goto fail;
	printf("cloudsim: %s: configuration OK\n", cs->cfg->path);
	return 0;
 fail:
	fprintf(stderr, "cloudsim: %s (pki_dir %s; create it with: cloudsim pki "
	    "%s)\n", err, cs->cfg->pki_dir, cs->cfg->pki_dir);
	return 1;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct cloudsim	*cs = arg;
	struct timeval	 stop_grace = { 0, 200 * 1000 };

	(void)what;
	if (sig == SIGHUP) {
		log_warnx("SIGHUP: cloudsim does not reload; restart it to read %s",
		    cs->cfg->path);
		return;
	}
	log_info("%s: stopping", strsignal(sig));
	/* HTTP/2 clients get a GOAWAY; the loop runs a moment longer to send it. */
	gateway_stop(cs->gateway);
	control_stop(cs->control);
	operator_api_stop(cs->operator_api);
	notify_service_stop(cs->notify);
	sessions_stop(cs->sessions);
	event_base_loopexit(cs->base, &stop_grace);
}

static void
cloudsim_free(struct cloudsim *cs)
{
	operator_api_free(cs->operator_api);
	sessions_free(cs->sessions);
	notify_service_free(cs->notify);
	control_free(cs->control);
	echo_free(cs->echo);
	gateway_free(cs->gateway);
	if (cs->sig_term != NULL)
		event_free(cs->sig_term);
	if (cs->sig_int != NULL)
		event_free(cs->sig_int);
	if (cs->sig_hup != NULL)
		event_free(cs->sig_hup);
	if (cs->base != NULL)
		event_base_free(cs->base);
	registry_free(cs->registry);
	simconf_free(cs->cfg);
}

static void
cloudsim_start(struct cloudsim *cs)
{
	char	err[512], path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", cs->state_dir,
	    CLOUDSIM_STATE_FILE) >= (int)sizeof(path))
		fatalx("%s: path too long", cs->state_dir);
	/* Better now than a 500 at the first registration. */
	if ((cs->cfg->control.has_listen || cs->cfg->control.has_operator) &&
	    access(cs->state_dir, W_OK | X_OK) == -1)
		fatal("state dir %s (the control plane keeps %s there; "
		    "--state-dir DIR)", cs->state_dir, CLOUDSIM_STATE_FILE);
	if ((cs->registry = registry_load(path, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((cs->base = event_base_new()) == NULL)
		fatalx("cannot create an event loop");
	if ((cs->gateway = gateway_new(cs->base, cs->cfg, cs->registry, err,
	    sizeof(err))) == NULL)
		fatalx("%s", err);
	if (cs->cfg->has_echo &&
	    (cs->echo = echo_new(cs->base, cs->cfg, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if (cs->cfg->control.has_listen && (cs->control = control_new(cs->base,
	    cs->cfg, cs->registry, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if (cs->cfg->control.has_operator && (cs->operator_api =
	    operator_api_new(cs->base, cs->cfg, cs->registry, err,
	    sizeof(err))) == NULL)
		fatalx("%s", err);
	/* Notifications and remote sessions (notify.c, sessions.c). */
	if (notify_conf_load(cs->cfg, &cs->notify_conf, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (cs->notify_conf.has_listen && (cs->notify = notify_service_new(
	    cs->base, cs->cfg, &cs->notify_conf, cs->registry, err,
	    sizeof(err))) == NULL)
		fatalx("%s", err);
	if (cs->notify != NULL && cs->notify_conf.has_relay &&
	    (cs->sessions = sessions_new(cs->base, cs->cfg, &cs->notify_conf,
	    cs->registry, cs->notify, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	operator_api_sessions(cs->operator_api, cs->sessions, cs->notify);
	cs->sig_term = evsignal_new(cs->base, SIGTERM, on_signal, cs);
	cs->sig_int = evsignal_new(cs->base, SIGINT, on_signal, cs);
	cs->sig_hup = evsignal_new(cs->base, SIGHUP, on_signal, cs);
	if (cs->sig_term == NULL || cs->sig_int == NULL || cs->sig_hup == NULL ||
	    evsignal_add(cs->sig_term, NULL) == -1 ||
	    evsignal_add(cs->sig_int, NULL) == -1 ||
	    evsignal_add(cs->sig_hup, NULL) == -1)
		fatalx("cannot install signal handlers");
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config-dir", required_argument, NULL, 'C' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 }
	};
	struct cloudsim	 cs;
	const char	*config_dir = NULL, *state_dir = NULL;
	char		 err[512], gw_addr[64], echo_addr[64] = "off";
	char		 control_addr[64] = "off", operator_addr[64] = "off";
	int		 ch, foreground = 0, check = 0, verbose = 0, rc;

	if (argc >= 2 && strcmp(argv[1], "pki") == 0)
		return cmd_pki(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "machine-cert") == 0)
		return cmd_machine_cert(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "remote") == 0)
		return sessions_remote_main(argc - 1, argv + 1);
	while ((ch = getopt_long(argc, argv, "dnv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': foreground = 1; break;
		case 'n': check = 1; break;
		case 'v': verbose = 1; break;
		case 'C': config_dir = optarg; break;
		case 'S': state_dir = optarg; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	memset(&cs, 0, sizeof(cs));
	cs.config_dir = daemon_dir(config_dir, "ARC_CONFIG_DIR", ARC_DIR_CONFIG);
	cs.state_dir = daemon_dir(state_dir, "ARC_STATE_DIR", ARC_DIR_STATE);
	log_init("cloudsim", foreground || check, verbose ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_INFO);
	if ((cs.cfg = simconf_load(cs.config_dir, err, sizeof(err))) == NULL) {
		fprintf(stderr, "cloudsim: %s\n", err);
		return 1;
	}
	if (check) {
		rc = check_config(&cs);
		simconf_free(cs.cfg);
		return rc;
	}
	if (!foreground && daemon(0, 0) == -1)
		fatal("daemon");
	signal(SIGPIPE, SIG_IGN);
	cloudsim_start(&cs);
	addr_format((struct sockaddr *)&cs.cfg->gateway_listen, gw_addr,
	    sizeof(gw_addr));
	if (cs.echo != NULL)
		addr_format((struct sockaddr *)&cs.cfg->echo_listen,
		    echo_addr, sizeof(echo_addr));
	if (cs.control != NULL)
		addr_format((struct sockaddr *)&cs.cfg->control.listen,
		    control_addr, sizeof(control_addr));
	if (cs.operator_api != NULL)
		addr_format((struct sockaddr *)
		    &cs.cfg->control.operator_listen, operator_addr,
		    sizeof(operator_addr));
	log_info("gateway on %s, echo on %s, control plane on %s, operator API "
	    "on %s; config %s, pki %s, state %s", gw_addr, echo_addr,
	    control_addr, operator_addr, cs.cfg->path, cs.cfg->pki_dir,
	    cs.state_dir);
	event_base_dispatch(cs.base);
	cloudsim_free(&cs);
	log_info("stopped");
	return 0;
}
