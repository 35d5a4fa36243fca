/* daemon.h -- what every program of the appliance takes on its command line: -d, -n, -v, --config-dir, --state-dir. */
#ifndef DAEMON_H
#define DAEMON_H

#include <stddef.h>

struct daemon_opts {
	const char	*config_dir;	/* --config-dir, ARC_CONFIG_DIR, /etc/arc */
	const char	*state_dir;	/* --state-dir, ARC_STATE_DIR, /var/lib/arc */
	int		 foreground;	/* -d: stay in the foreground, log to stderr */
	int		 check;		/* -n: check the configuration and exit */
	int		 verbose;	/* -v: debug logs */
};

/* <state_dir>/<progname>.pid, so that azcmagent can tell the daemon to
 * reload; written atomically. */
int	daemon_pidfile_write(const char *state_dir, const char *progname,
	    char *err, size_t errlen);
void	daemon_pidfile_remove(const char *state_dir, const char *progname);
/* The pid in <state_dir>/<progname>.pid when that process runs, else -1. */
long	daemon_pidfile_read(const char *state_dir, const char *progname);

/* The flag's value, else the environment's, else the default. */
const char *daemon_dir(const char *flag, const char *env, const char *def);

/* Parses argv; prints usage and exits 2 on anything else. */
void	daemon_parse_args(int argc, char *argv[], const char *progname,
	    struct daemon_opts *);

#endif
