/* daemon.h -- what every program of the appliance takes on its command line: -d, -n, -v, --config-dir, --state-dir, --run-dir; the pid files. */
#ifndef DAEMON_H
#define DAEMON_H

#include <stddef.h>

#include "defaults.h"

struct daemon_opts {
	const char	*config_dir;	/* --config-dir, ARC_CONFIG_DIR, /etc/arc */
	const char	*state_dir;	/* --state-dir, ARC_STATE_DIR, /var/lib/arc */
	const char	*run_dir;	/* --run-dir, ARC_RUN_DIR, /run/arc */
	int		 foreground;	/* -d: stay in the foreground, log to stderr */
	int		 check;		/* -n: check the configuration and exit */
	int		 verbose;	/* -v: debug logs */
};

#define DAEMON_RUN_DIR	ARC_DIR_RUN

/* The run dir, opened.  Root makes it when it is missing (root:root 0755,
 * set on the fd) and refuses one that is a symlink (never followed), not a
 * directory, not root's, or writable by another user (group other than
 * root's, or others) without the sticky bit; and one whose path another
 * user could change: every directory from / to its parent is held to the
 * same rule, a symlink on the way followed only when root's
 * (safedir_open_trusted; "<run_dir>: on its path <dir>: <why>").  What
 * root opens in the run dir goes through this fd.  Another user only opens
 * it.  The fd, or -1 with err (one line naming the dir). */
int	daemon_run_dir_open(const char *run_dir, char *err, size_t errlen);
/* daemon_run_dir_open() and close, for root; 0, or -1 with err. */
int	daemon_run_dir_make(const char *run_dir, char *err, size_t errlen);
/* <run_dir>/<progname>.pid, so that azcmagent can tell the daemon to
 * reload.  Root writes it atomically (in the run dir daemon_run_dir_open()
 * made or took, else nothing: -1 with err); another user
 * rewrites a <progname>.pid of its own that is already there (tmpfiles.d),
 * never through a symlink, or writes it in a run dir it may write to. */
int	daemon_pidfile_write(const char *run_dir, const char *progname,
	    char *err, size_t errlen);
void	daemon_pidfile_remove(const char *run_dir, const char *progname);
/* The pid in <run_dir>/<progname>.pid when that process runs, else -1. */
long	daemon_pidfile_read(const char *run_dir, const char *progname);

/* The flag's value, else the environment's, else the default. */
const char *daemon_dir(const char *flag, const char *env, const char *def);

/* Parses argv; prints usage and exits 2 on anything else. */
void	daemon_parse_args(int argc, char *argv[], const char *progname,
	    struct daemon_opts *);

#endif
