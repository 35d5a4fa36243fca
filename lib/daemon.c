/* daemon.c -- what every program of the appliance takes on its command line: -d, -n, -v, --config-dir, --state-dir. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

static const char *
daemon_dir(const char *flag, const char *env, const char *def)
{
	const char	*v;

	if (flag != NULL)
		return flag;
	if ((v = getenv(env)) != NULL && v[0] != '\0')
		return v;
	return def;
}

static void
daemon_usage(const char *progname)
{
	fprintf(stderr, "usage: %s [-dnv] [--config-dir DIR] [--state-dir DIR]\n"
	    "  -d  stay in the foreground and log to stderr\n"
	    "  -n  check the configuration and exit\n"
	    "  -v  log debug messages\n"
	    "  --config-dir DIR  (default /etc/arc, or ARC_CONFIG_DIR)\n"
	    "  --state-dir DIR   (default /var/lib/arc, or ARC_STATE_DIR)\n",
	    progname);
	exit(2);
}

void
daemon_parse_args(int argc, char *argv[], const char *progname,
    struct daemon_opts *o)
{
	static const struct option longopts[] = {
		{ "config-dir", required_argument, NULL, 'C' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*config_dir = NULL, *state_dir = NULL;
	int		 ch;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt_long(argc, argv, "dnv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': o->foreground = 1; break;
		case 'n': o->check = 1; break;
		case 'v': o->verbose = 1; break;
		case 'C': config_dir = optarg; break;
		case 'S': state_dir = optarg; break;
		default: daemon_usage(progname);
		}
	}
	if (optind != argc)
		daemon_usage(progname);
	o->config_dir = daemon_dir(config_dir, "ARC_CONFIG_DIR", "/etc/arc");
	o->state_dir = daemon_dir(state_dir, "ARC_STATE_DIR", "/var/lib/arc");
}
