/* cloudsim.h -- the program's one context: what every service of the stand-in shares (config, state, listeners). */
#ifndef CLOUDSIM_H
#define CLOUDSIM_H

#include <stddef.h>

struct control;
struct echo;
struct event;
struct event_base;
struct extstore;
struct gateway;
struct guestconfig;
struct operator_api;
struct packages;
struct notify_service;
struct registry;
struct sessions;
struct simconf;

/* Passed to every service and callback, never global.  A service that needs
 * another's state reaches it here (a new one adds its pointer). */
struct cloudsim {
	const char		*config_dir;
	const char		*state_dir;
	struct simconf		*cfg;
	struct registry		*registry;	/* the machines, from <state-dir>/control.json */
	struct extstore		*extensions;	/* desired extensions, from <state-dir>/extensions.json */
	char			*packages_dir;	/* packages.dir, or <state-dir>/packages */
	struct event_base	*base;
	struct gateway		*gateway;
	struct echo		*echo;		/* NULL when echo.listen is "" */
	struct control		*control;	/* NULL when control.listen is "" */
	struct operator_api	*operator_api;	/* NULL when control.operator_listen is "" */
	struct packages		*packages;	/* NULL when packages.listen is "" */
	struct guestconfig	*guestconfig;	/* assignments, from <state-dir>/guestconfig.json */
	struct notify_service	*notify;	/* notify.c; NULL when notify.listen is "" or absent */
	struct sessions		*sessions;	/* sessions.c; NULL when notify.relay_listen is "" */
	struct event		*sig_term;
	struct event		*sig_int;
	struct event		*sig_hup;
};

/* The signing PKI a command uses: given (its --pki), else <config dir>/pki, the
 * config dir being config_dir (a --config-dir), else $ARC_CONFIG_DIR or the
 * default; the default is written into buf. */
const char	*cloudsim_pki_dir(const char *given, const char *config_dir,
		    char *buf, size_t len);

#endif
