/* daemon.c -- what every program of the appliance takes on its command line: -d, -n, -v, --config-dir, --state-dir. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "daemon.h"

const char *
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

int
daemon_pidfile_write(const char *state_dir, const char *progname, char *err,
    size_t errlen)
{
	char	path[PATH_MAX], pid[32];
	int	len;

	snprintf(path, sizeof(path), "%s/%s.pid", state_dir, progname);
	len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	return atomicfile_write(path, pid, (size_t)len, 0644, err, errlen);
}

void
daemon_pidfile_remove(const char *state_dir, const char *progname)
{
	char	path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s.pid", state_dir, progname);
	unlink(path);
}

long
daemon_pidfile_read(const char *state_dir, const char *progname)
{
	char	 path[PATH_MAX], err[256], *text, *end;
	long	 pid;
	int	 ok;

	snprintf(path, sizeof(path), "%s/%s.pid", state_dir, progname);
	if ((text = atomicfile_read(path, 64, NULL, err, sizeof(err))) == NULL)
		return -1;
	pid = strtol(text, &end, 10);
	ok = pid > 0 && (*end == '\n' || *end == '\0');
	free(text);
	if (!ok)
		return -1;
	/* A stale file may name another program that reuses the pid. */
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if ((text = atomicfile_read(path, 64, NULL, err, sizeof(err))) == NULL)
		return -1;
	ok = strncmp(text, progname, strlen(progname)) == 0 &&
	    (text[strlen(progname)] == '\n' || text[strlen(progname)] == '\0');
	free(text);
	return ok ? pid : -1;
}
